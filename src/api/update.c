/* update — updateCase/{id} and updateTask/{id} (API.md §7, the seed endpoint), and
 * getActivities/{id}: read-modify-write of one document in one write transaction, answered only
 * after the commit. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/internal.h"
#include "doc/record.h"
#include "doc/update.h"
#include "util/jarena.h"
#include "util/jtext.h"
#include "util/mem.h"
#include "util/time.h"

struct update_job {
    enum doc_kind kind;
    const char *id;
    const json_t *patch;
    struct doc_ctx ctx;
    const char *if_match;
    /* what prepare decided */
    json_t *doc, *changes, *activity;
    struct store_record rec, prev; /* with their own copies of the columns (detached) */
    char *activity_text, *activity_id;
    /* the answer */
    struct err e;
    bool failed;
    char *text;
    size_t len;
    long long version;
};

static int fail(struct update_job *job)
{
    job->failed = true;
    return STORE_ABORT;
}

static void job_reset(struct update_job *job)
{
    json_decref(job->doc);
    json_decref(job->changes);
    json_decref(job->activity);
    doc_record_cleanup(&job->rec);
    doc_record_cleanup(&job->prev);
    free(job->activity_text);
    free(job->activity_id);
    free(job->text);
    job->doc = job->changes = job->activity = NULL;
    job->activity_text = job->activity_id = job->text = NULL;
    job->failed = false;
}

/* If-Match: "*", or a list of (weak or strong) ETags one of which is the current version. */
static bool if_match_ok(const char *header, long long version)
{
    char want[32];
    snprintf(want, sizeof want, "\"%lld\"", version);
    size_t wlen = strlen(want);
    for (const char *p = header; *p;) {
        while (*p == ' ' || *p == '\t' || *p == ',')
            p++;
        if (*p == '*')
            return true;
        if (strncmp(p, "W/", 2) == 0)
            p += 2;
        if (strncmp(p, want, wlen) == 0 && (p[wlen] == '\0' || p[wlen] == ',' || p[wlen] == ' '))
            return true;
        while (*p && *p != ',')
            p++;
    }
    return false;
}

/* API.md §7 lifecycle: whether the case a task belongs to is closed (from its indexed
 * columns: the case document may be large). */
static int case_closed(struct store_txn *t, const struct update_job *job, char ref[32],
                       bool *closed)
{
    *closed = false;
    const char *case_id = job->rec.case_id;
    if (!case_id)
        return STORE_OK;
    struct store_record_head h;
    int rc = store_record_head(t, STORE_CASE, job->ctx.stream_id, job->ctx.account_id, case_id,
                               &h);
    if (rc == STORE_NOT_FOUND)
        return STORE_OK;
    if (rc != STORE_OK)
        return rc;
    *closed = strcmp(h.status_category, "closed") == 0;
    memcpy(ref, h.ref_id, sizeof h.ref_id);
    return STORE_OK;
}

/* prepare's work, in its arena scope: every document it makes is gone when prepare returns.
 * The stored text r is kept to the end: the texts the document is written back with, and the
 * activity, copy its members' text where they are unchanged (known). */
static int prepare_docs(struct store_txn *t, struct update_job *job, bool seed_config,
                        struct store_record *r, struct jtext_known *known)
{
    int rc = store_record_get(t, job->kind == DOC_CASE ? STORE_CASE : STORE_TASK,
                              job->ctx.stream_id, job->ctx.account_id, job->id, r);
    if (rc == STORE_NOT_FOUND) {
        err_set(&job->e, ERR_NOT_FOUND, NULL, "%s %s not found",
                job->kind == DOC_CASE ? "case" : "task", job->id);
        return fail(job);
    }
    if (rc != STORE_OK)
        return rc;
    job->version = r->version;
    job->doc = jtext_parse_known(r->doc, r->doc_len, known);
    if (!job->doc)
        return STORE_ERROR;
    if (job->if_match && !if_match_ok(job->if_match, job->version)) {
        err_set(&job->e, ERR_PRECONDITION_FAILED, NULL,
                "If-Match does not match the current ETag \"%lld\"; nothing was changed",
                job->version);
        return fail(job);
    }
    /* the write's time: now, when it is prepared (again after a conflict), and never before the
     * version it follows. The request's arrival time, kept, gave a later version an earlier
     * updatedAt (and its activity an earlier createdAt) when writes to one record raced. */
    /* isBreached stays the clock's (clock_ms): raised with now_ms, a write after one from a
     * clock ahead (another process's) answered a breach no read saw */
    job->ctx.now_ms = job->ctx.clock_ms = time_now_ms();
    const json_t *last = json_object_get(job->doc, "timestampValue");
    if (json_is_integer(last) && json_integer_value(last) > job->ctx.now_ms)
        job->ctx.now_ms = json_integer_value(last);
    json_t *cfg = NULL;
    bool paused = jarena_pause(); /* the configuration is cached: made on the heap */
    rc = seed_config ? api_load_config(t, job->ctx.stream_id, &cfg)
                     : api_read_config(t, job->ctx.stream_id, &cfg);
    jarena_restore(paused);
    if (rc != STORE_OK)
        return rc;
    job->ctx.config = cfg;
    /* the stored columns, from the document as it is stored (doc_update changes it in place),
     * detached from it: the write compares the new ones with them */
    doc_record_columns(job->doc, job->kind, &job->prev);
    doc_record_detach(&job->prev);
    rc = doc_update(job->doc, job->kind, job->patch, &job->ctx, &job->changes, NULL, &job->e);
    job->ctx.config = NULL;
    json_decref(cfg);
    if (rc != 0)
        return fail(job);
    if (json_array_size(job->changes) == 0) {
        /* API.md §7: nothing changed, nothing written; the answer is the document as it is */
        job->text = jtext_dump_known(job->doc, &job->len, known, 1, false);
        if (!job->text)
            mem_oom();
        return STORE_ABORT;
    }
    job->activity = doc_activity(job->doc, job->kind, job->changes, &job->ctx);
    /* the document first: the activity's new values are its members ({changes: [{old, new}]}) */
    doc_record_from_known(job->doc, job->kind, known, &job->rec);
    job->activity_text = jtext_dump_known(job->activity, NULL, known, 3, false);
    if (!job->activity_text)
        mem_oom();
    job->activity_id = xstrdup(json_string_value(json_object_get(job->activity, "_id")));
    doc_record_detach(&job->rec);
    return STORE_OK;
}

/* Reads the record and decides everything: the error, the unchanged document, or the new
 * document with its activity, ready to write. STORE_OK when there is something to write.
 * The write needs the texts and columns only (detached; the answer's text is the heap's): the
 * documents are freed here on every path, by the thread that built them while they are in its
 * cache (freeing them after the commit, elsewhere, cost more than building them), and they are
 * made in the thread's arena (util/jarena): 431 allocations a small update on its thread, 44. */
static int prepare(struct store_txn *t, struct update_job *job, bool seed_config)
{
    jarena_begin();
    struct store_record r = {0};
    struct jtext_known known;
    int rc = prepare_docs(t, job, seed_config, &r, &known);
    doc_record_cleanup(&r);
    json_decref(job->doc);
    json_decref(job->changes);
    json_decref(job->activity);
    job->doc = job->changes = job->activity = NULL;
    jarena_end();
    return rc;
}

/* Writes what prepare decided. With expect_version, the record must still be at the version
 * prepare read (STORE_CONFLICT otherwise: another write came between). The record is written
 * before its case is checked: locks are taken a record, then its case (docs/operations.md §4),
 * as update_txn's prepare takes them. Checking the case first, while a wholly-in-the-writer
 * update of the same task held the task and asked for the case, deadlocked on PostgreSQL with a
 * case update queued between them (a 503 after a second). A closed case rolls the write back. */
static int commit(struct store_txn *t, struct update_job *job, bool expect_version)
{
    struct store_activity a = {
        .id = job->activity_id,
        .stream_id = job->ctx.stream_id,
        .account_id = job->ctx.account_id,
        .record_id = job->id,
        .created_at = job->ctx.now_ms,
        .doc = job->activity_text,
    };
    job->prev.version = expect_version ? job->version : 0;
    job->rec.activity = &a;
    int rc = store_record_update(t, &job->rec, &job->prev);
    job->rec.activity = NULL;
    if (rc != STORE_OK)
        return rc;
    if (job->kind == DOC_TASK) {
        char ref[32] = "";
        bool closed;
        rc = case_closed(t, job, ref, &closed);
        if (rc != STORE_OK)
            return rc;
        if (closed) {
            err_set(&job->e, ERR_CONFLICT, NULL, "case %s is closed", ref);
            return fail(job);
        }
    }
    job->version = job->rec.version;
    job->text = job->rec.doc; /* taken */
    job->len = job->rec.doc_len;
    job->rec.doc = NULL;
    return STORE_OK;
}

static int prepare_txn(struct store_txn *t, void *arg)
{
    return prepare(t, arg, false);
}

static int commit_txn(struct store_txn *t, void *arg)
{
    return commit(t, arg, true);
}

/* The whole read-modify-write in the writer's transaction: always succeeds against writers. */
static int update_txn(struct store_txn *t, void *arg)
{
    int rc = prepare(t, arg, true);
    return rc == STORE_OK ? commit(t, arg, false) : rc;
}

#define OPTIMISTIC_TRIES 3

/* API.md §7: the read-modify-write is atomic. The document work (parse, rules, serialise) runs
 * here on the worker with a read snapshot, and the writer only checks the version is unchanged
 * and writes, so the single writer stays free for SQL. A record that keeps changing under us
 * (OPTIMISTIC_TRIES times) is updated wholly inside the writer instead, which always succeeds. */
static int run_update(struct update_job *job)
{
    for (int attempt = 0; attempt < OPTIMISTIC_TRIES; attempt++) {
        job_reset(job);
        int rc = store_read(api_cfg.store, prepare_txn, job);
        if (rc != STORE_OK)
            return rc;
        rc = store_write(api_cfg.store, commit_txn, job);
        if (rc != STORE_CONFLICT)
            return rc;
    }
    job_reset(job);
    return store_write(api_cfg.store, update_txn, job);
}

/* One updateCase/updateTask call, on the heap when its answer comes after the handler returns. */
struct update_call {
    struct update_job job;
    json_t *patch;
    struct auth_identity id;
    struct http_request *req;
    bool in_writer; /* committing with update_txn (after a conflict) */
    int rc;         /* the write's, for update_finish */
};

/* The answer from run_update's status, into rep; frees the call. */
static void update_reply(struct update_call *call, struct http_reply *rep, int rc)
{
    struct update_job *job = &call->job;
    /* a failed commit answers 503 even when the job had decided (see store_write); so does a
     * job that decided nothing */
    bool stored = rc == STORE_OK || rc == STORE_ABORT;
    if (stored && job->failed) {
        http_reply_err(rep, &job->e);
    } else if (stored && job->text) {
        api_reply_doc(rep, job->text, job->len, job->version); /* takes text */
        job->text = NULL;
    } else {
        api_reply_store_error(rep);
    }
    job_reset(job);
    json_decref(call->patch);
    auth_identity_cleanup(&call->id);
    free(call);
}

static int update_txn_call(struct store_txn *t, void *arg)
{
    return update_txn(t, &((struct update_call *)arg)->job);
}

static int commit_txn_call(struct store_txn *t, void *arg)
{
    return commit_txn(t, &((struct update_call *)arg)->job);
}

/* store_write_then's answer to a deferred update: the commit is durable, or it failed. A record
 * changed since prepare read it is updated wholly in the writer, as run_update does at last. */
static void update_committed(int rc, void *arg)
{
    struct update_call *call = arg;
    if (rc == STORE_CONFLICT && !call->in_writer) {
        call->in_writer = true;
        job_reset(&call->job);
        store_write_then(api_cfg.store, update_txn_call, call, update_committed);
        return;
    }
    call->rc = rc;
    http_answer(call->req);
}

/* A deferred update's reply, on the thread that sends it (http_defer). */
static void update_finish(struct http_request *req, struct http_reply *rep, void *arg)
{
    (void)req;
    struct update_call *call = arg;
    update_reply(call, rep, call->rc);
}

static void update(struct http_request *req, struct http_reply *rep, enum doc_kind kind)
{
    struct update_call *call = xcalloc(1, sizeof *call);
    if (api_auth_or_reply(req, rep, true, &call->id)) {
        free(call);
        return;
    }
    call->patch = api_body_or_reply(req, rep, false);
    if (!call->patch) {
        auth_identity_cleanup(&call->id);
        free(call);
        return;
    }
    call->req = req;
    struct update_job *job = &call->job;
    *job = (struct update_job){.kind = kind, .id = req->params[1], .patch = call->patch,
                               .if_match = http_header_list(req, "If-Match")};
    api_doc_ctx(&call->id, req->params[0], &job->ctx);
    if (!http_can_defer(req)) {
        update_reply(call, rep, run_update(job));
        return;
    }
    /* The worker does not wait for the commit: it prepares, queues the write and is free for
     * the next request; the answer goes out from update_committed once the commit is durable. */
    int rc = store_read(api_cfg.store, prepare_txn, job);
    if (rc != STORE_OK) {
        update_reply(call, rep, rc); /* decided from reads: settled before it goes out */
        return;
    }
    http_defer(req, update_finish, call);
    store_write_then(api_cfg.store, commit_txn_call, call, update_committed);
}

void api_update_case(struct http_request *req, struct http_reply *rep)
{
    update(req, rep, DOC_CASE);
}

void api_update_task(struct http_request *req, struct http_reply *rep)
{
    update(req, rep, DOC_TASK);
}

/* ---- getActivities/{id} ---- */

struct activities_job {
    const char *stream_id, *account_id, *id;
    int64_t skip, limit, total;
    json_t *results;
    size_t bytes;  /* of the activities' text so far */
    bool too_big;  /* past API_PAGE_BYTES_MAX: the rest is not kept */
    bool found;
};

static void collect(const char *json, void *arg)
{
    struct activities_job *job = arg;
    size_t n = strlen(json);
    /* the first always fits: one past the budget alone is listed one a page (query.c page_fits) */
    if (job->too_big || (job->bytes > 0 && job->bytes + n > API_PAGE_BYTES_MAX)) {
        job->too_big = true;
        return;
    }
    job->bytes += n;
    json_t *a = json_loads(json, 0, NULL);
    if (a)
        json_array_append_new(job->results, a);
}

static int activities_txn(struct store_txn *t, void *arg)
{
    struct activities_job *job = arg;
    enum store_kind kind = strncmp(job->id, "ci-", 3) == 0 ? STORE_CASE : STORE_TASK;
    struct store_record r;
    int rc = store_record_get(t, kind, job->stream_id, job->account_id, job->id, &r);
    if (rc != STORE_OK)
        return rc;
    doc_record_cleanup(&r);
    job->found = true;
    return store_activity_list(t, job->stream_id, job->account_id, job->id, job->skip, job->limit,
                               collect, job, &job->total);
}

void api_get_activities(struct http_request *req, struct http_reply *rep)
{
    struct auth_identity id;
    if (api_auth_or_reply(req, rep, true, &id))
        return;
    json_t *body = api_body_or_reply(req, rep, true);
    struct activities_job job = {.stream_id = req->params[0], .account_id = id.app.account_id,
                                 .id = req->params[1]};
    if (!body || api_page_or_reply(body, rep, &job.skip, &job.limit))
        goto out;
    job.results = json_array();
    int rc = store_read(api_cfg.store, activities_txn, &job);
    if (rc == STORE_NOT_FOUND)
        http_reply_error(rep, ERR_NOT_FOUND, NULL, "record %s not found", job.id);
    else if (rc != STORE_OK)
        api_reply_store_error(rep);
    else if (job.too_big)
        http_reply_error(rep, ERR_INVALID_VALUE, "limit",
                         "the page would hold more than %u MiB of activities: ask for fewer "
                         "(limit)", API_PAGE_BYTES_MAX >> 20);
    else
        http_reply_json(rep, 200, api_page_json(json_incref(job.results), job.skip, job.limit,
                                                job.total));
    json_decref(job.results);
out:
    json_decref(body);
    auth_identity_cleanup(&id);
}
