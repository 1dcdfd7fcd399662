/* fuzz_query — getCases and getTasks (API.md §8): the body decoded by api_query_decode into a
 * store_query, run by store_query against a temporary SQLite database holding a few cases and
 * tasks of the fixture's stream, so every SQL fragment a filter adds is prepared and bound. The
 * input is the raw request body (empty means {} as in the handler); each input runs as a
 * getCases and as a getTasks body. A refused body must answer the error envelope; a decoded one
 * must return the page its skip and limit promise, with page numbers as API.md §8 states. */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "api/internal.h"
#include "doc/record.h"
#include "doc/schema.h"
#include "fixture.h"
#include "store/store.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct store *st;
static char dir[64];

/* Cases and tasks with different statuses, priorities, channels, queues, assignees, due dates
 * (past, today, later, none for tasks) and custom field values. */
static const char *const seed_cases[] = {
    "{\"caseTmp\":\"" FUZZ_CASE_TMP "\",\"name\":\"Printer Broken\",\"desc\":\"jams\","
    "\"userInfo\":{\"name\":\"Ann\",\"_id\":\"u-ann\"},\"source\":\"email\",\"dueDate\":1749000000000,"
    "\"channel\":[\"email\"],\"queues\":[{\"_id\":\"q-1\",\"name\":\"L1\"}],"
    "\"currAssignee\":{\"_id\":\"u-agent-7\",\"name\":\"Seven\"},"
    "\"fields\":[{\"name\":\"severity\",\"selectedValue\":\"high\"},"
    "{\"name\":\"count\",\"selectedValue\":3},{\"name\":\"vip\",\"selectedValue\":true}]}",
    "{\"caseTmp\":\"" FUZZ_CASE_TMP "\",\"name\":\"ÉCOLE Ωmega\",\"desc\":\"unicode\","
    "\"userInfo\":{\"name\":\"Bo\",\"_id\":\"u-bo\"},\"source\":\"chat\",\"dueDate\":\"2025-06-04T18:00:00Z\","
    "\"status\":{\"name\":\"In-Progress\"},\"priority\":{\"name\":\"High\"},"
    "\"channel\":[\"chat\",\"web\"],\"queues\":[\"L2\"],"
    "\"fields\":[{\"name\":\"seenAt\",\"selectedValue\":\"2025-06-01T00:00:00Z\"}]}",
    "{\"caseTmp\":\"" FUZZ_CASE_TMP_REQ "\",\"name\":\"Refund 100%_off\",\"desc\":\"\","
    "\"userInfo\":{\"name\":\"Cy\",\"_id\":\"u-cy\"},\"source\":\"phone\",\"dueDate\":1800000000000,"
    "\"status\":{\"name\":\"Closed\"},\"priority\":{\"name\":\"Low\"},"
    "\"fields\":[{\"name\":\"ticket\",\"selectedValue\":\"T-1\"}]}",
    "{\"caseTmp\":\"" FUZZ_CASE_TMP "\",\"name\":\"overdue\",\"desc\":\"d\","
    "\"userInfo\":{\"name\":\"Di\",\"_id\":\"u-di\"},\"source\":\"email\",\"dueDate\":1000,"
    "\"status\":{\"name\":\"Resolved\"},\"priority\":{\"name\":\"Critical\"},"
    "\"currAssignee\":{\"_id\":\"u-other\"}}",
};

static const char *const seed_tasks[] = { /* the caseId is added in front */
    "{\"caseRefId\":\"CS000001\",\"taskTmp\":\"" FUZZ_TASK_TMP "\","
    "\"userInfo\":{\"name\":\"Ann\",\"_id\":\"u-ann\"},\"source\":\"email\",\"name\":\"Call back\","
    "\"dueDate\":1749040000000,\"currAssignee\":{\"_id\":\"u-agent-7\"},"
    "\"fields\":[{\"name\":\"step\",\"selectedValue\":\"one\"}]}",
    "{\"caseRefId\":\"CS000001\",\"taskTmp\":\"" FUZZ_TASK_TMP "\","
    "\"userInfo\":{\"name\":\"Ann\",\"_id\":\"u-ann\"},\"source\":\"chat\",\"name\":\"No due date\","
    "\"status\":{\"name\":\"On-Hold\"},\"channel\":[\"chat\"]}",
    "{\"caseRefId\":\"CS000001\",\"taskTmp\":\"" FUZZ_TASK_TMP "\","
    "\"userInfo\":{\"name\":\"Ann\",\"_id\":\"u-ann\"},\"source\":\"web\",\"name\":\"Tomorrow\","
    "\"dueDate\":\"2025-06-05T09:00:00Z\",\"priority\":{\"name\":\"Medium\"}}",
};

struct seed {
    json_t *docs[16];
    size_t n;
    enum doc_kind kinds[16];
};

static int put_txn(struct store_txn *t, void *arg)
{
    struct seed *s = arg;
    for (size_t i = 0; i < s->n; i++) {
        struct store_record r;
        memset(&r, 0, sizeof r);
        doc_record_from(s->docs[i], s->kinds[i], &r);
        r.stream_id = FUZZ_STREAM;
        r.account_id = FUZZ_ACCOUNT;
        int rc = store_record_put(t, &r);
        doc_record_cleanup(&r);
        if (rc != STORE_OK)
            return rc;
    }
    return STORE_OK;
}

static void remove_dir(void)
{
    if (st)
        store_close(st);
    st = NULL;
    DIR *d = opendir(dir);
    if (!d)
        return;
    struct dirent *ent;
    while ((ent = readdir(d)) != NULL) {
        char path[512];
        snprintf(path, sizeof path, "%s/%s", dir, ent->d_name);
        if (ent->d_name[0] != '.')
            unlink(path);
    }
    closedir(d);
    rmdir(dir);
}

static void open_store(void)
{
    const struct fuzz_fixture *fx = fuzz_fixture();
    snprintf(dir, sizeof dir, "/tmp/casemgr-fuzz-XXXXXX");
    if (!mkdtemp(dir))
        abort();
    atexit(remove_dir);
    char url[128], *err = NULL;
    snprintf(url, sizeof url, "sqlite:%s/fuzz.db", dir);
    const struct store_options opt = {.durability = STORE_DURABILITY_NORMAL,
                                      .busy_timeout_ms = 5000};
    st = store_open(url, &opt, &err);
    if (!st) {
        fprintf(stderr, "fuzz_query: store_open: %s\n", err ? err : "?");
        abort();
    }
    struct seed s = {.n = 0};
    s.docs[s.n] = json_deep_copy(fx->case_doc);
    s.kinds[s.n++] = DOC_CASE;
    s.docs[s.n] = json_deep_copy(fx->task_doc);
    s.kinds[s.n++] = DOC_TASK;
    for (size_t i = 0; i < sizeof seed_cases / sizeof seed_cases[0]; i++) {
        s.docs[s.n] = fuzz_create(DOC_CASE, seed_cases[i], (long long)i + 2);
        s.kinds[s.n++] = DOC_CASE;
    }
    const char *case_id = json_string_value(json_object_get(fx->case_doc, "_id"));
    for (size_t i = 0; i < sizeof seed_tasks / sizeof seed_tasks[0]; i++) {
        char body[1024];
        snprintf(body, sizeof body, "{\"caseId\":\"%s\",%s", case_id, seed_tasks[i] + 1);
        s.docs[s.n] = fuzz_create(DOC_TASK, body, (long long)i + 2);
        s.kinds[s.n++] = DOC_TASK;
    }
    int rc = store_write(st, put_txn, &s);
    for (size_t i = 0; i < s.n; i++)
        json_decref(s.docs[i]);
    if (rc != STORE_OK) {
        fprintf(stderr, "fuzz_query: seeding failed (%d)\n", rc);
        abort();
    }
}

struct job {
    const json_t *body;
    enum doc_kind kind;
    struct store_query q;
    struct api_query_owned own;
    struct err e;
    bool decoded;
    size_t count;
    int64_t total;
};

static void on_doc(const char *doc, size_t len, void *arg)
{
    struct job *job = arg;
    json_t *d = json_loadb(doc, len, 0, NULL);
    if (!json_is_object(d)) {
        fprintf(stderr, "fuzz_query: a result is not a JSON object: %.*s\n", (int)len, doc);
        abort();
    }
    json_decref(d);
    job->count++;
}

static int query_txn(struct store_txn *t, void *arg)
{
    struct job *job = arg;
    const struct fuzz_fixture *fx = fuzz_fixture();
    const struct auth_identity id = {.sub = "u-agent-7"};
    if (api_query_decode(job->body, job->kind, fx->config, &id, &job->q, &job->own, &job->e))
        return STORE_ABORT;
    job->decoded = true;
    return store_query(t, &job->q, on_doc, job, &job->total);
}

/* The page numbers of the answer (API.md §8: page = skip/limit + 1), computed as the handlers
 * compute them. */
static void page(const struct job *job)
{
    int64_t skip = job->q.skip, limit = job->q.limit, total = job->total;
    json_t *results = json_array();
    for (size_t i = 0; i < job->count; i++)
        json_array_append_new(results, json_object());
    json_t *p = api_page_json(results, skip, limit, total);
    json_int_t n = json_integer_value(json_object_get(p, "page"));
    json_int_t pages = json_integer_value(json_object_get(p, "totalPages"));
    bool more = json_is_true(json_object_get(p, "hasMore"));
    if (n != skip / limit + 1 || n < 1 || pages < 0 || pages * limit < total ||
        more != (skip + (int64_t)job->count < total)) {
        char *text = json_dumps(p, JSON_COMPACT);
        fprintf(stderr, "fuzz_query: bad page numbers %s (skip %lld, limit %lld)\n", text,
                (long long)skip, (long long)limit);
        abort();
    }
    json_decref(p);
}

static void run(const json_t *body, enum doc_kind kind)
{
    struct job job;
    memset(&job, 0, sizeof job);
    job.body = body;
    job.kind = kind;
    job.q.kind = kind == DOC_CASE ? STORE_CASE : STORE_TASK;
    job.q.stream_id = FUZZ_STREAM;
    job.q.account_id = FUZZ_ACCOUNT;
    job.q.now_ms = FUZZ_NOW_MS;
    int rc = store_read(st, query_txn, &job);
    if (!job.decoded)
        fuzz_check_refusal(&job.e);
    if (job.decoded) {
        if (rc != STORE_OK) {
            fprintf(stderr, "fuzz_query: store_query failed (%d) on a decoded body\n", rc);
            abort();
        }
        /* API.md §8: a page holds min(limit, total - skip) results */
        int64_t left = job.total > job.q.skip ? job.total - job.q.skip : 0;
        int64_t want = left < job.q.limit ? left : job.q.limit;
        if ((int64_t)job.count != want) {
            fprintf(stderr, "fuzz_query: %zu results, expected %lld (total %lld, skip %lld, "
                            "limit %lld)\n",
                    job.count, (long long)want, (long long)job.total, (long long)job.q.skip,
                    (long long)job.q.limit);
            abort();
        }
        page(&job);
    }
    api_query_owned_free(&job.own);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!st)
        open_store();
    struct err e;
    json_t *body = size == 0 ? json_object()
                             : doc_parse_body((const char *)data, size, &doc_default_limits, &e);
    if (!body) {
        fuzz_check_refusal(&e);
        return 0;
    }
    run(body, DOC_CASE);
    run(body, DOC_TASK);
    json_decref(body);
    return 0;
}
