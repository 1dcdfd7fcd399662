/* query — getCases and getTasks (API.md §8): the body decoded into a store_query (every member
 * checked, names resolved against the stream's configuration), run in the database, and the
 * stored documents streamed into the page without being parsed again. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/internal.h"
#include "doc/apply.h"
#include "doc/config.h"
#include "ops/metrics.h"
#include "util/jarena.h"
#include "util/jtext.h"
#include "util/mem.h"
#include "util/scalar.h"
#include "util/text.h"
#include "util/time.h"

#define DAY_MS 86400000LL

enum qtype { Q_INT, Q_STRING, Q_BOOL, Q_STRINGS, Q_OBJECTS, Q_SORT };

/* The members a list body may carry (API.md §8); anything else is refused by name. */
static const struct {
    const char *name;
    enum qtype type;
    unsigned kinds;
} query_members[] = {
    {"skip", Q_INT, DOC_CASE | DOC_TASK},
    {"limit", Q_INT, DOC_CASE | DOC_TASK},
    {"searchText", Q_STRING, DOC_CASE | DOC_TASK},
    {"name", Q_STRING, DOC_CASE | DOC_TASK},
    {"unresolved", Q_BOOL, DOC_CASE | DOC_TASK},
    {"unassigned", Q_BOOL, DOC_CASE | DOC_TASK},
    {"mycase", Q_BOOL, DOC_CASE | DOC_TASK},
    {"mytask", Q_BOOL, DOC_CASE | DOC_TASK},
    {"priority", Q_STRINGS, DOC_CASE | DOC_TASK},
    {"status", Q_STRINGS, DOC_CASE | DOC_TASK},
    {"channel", Q_STRINGS, DOC_CASE | DOC_TASK},
    {"queues", Q_STRINGS, DOC_CASE | DOC_TASK},
    {"agents", Q_STRINGS, DOC_CASE | DOC_TASK},
    {"startDate", Q_STRING, DOC_CASE | DOC_TASK},
    {"endDate", Q_STRING, DOC_CASE | DOC_TASK},
    {"dueDate", Q_STRING, DOC_CASE | DOC_TASK},
    {"ETAlist", Q_STRINGS, DOC_CASE | DOC_TASK},
    {"caseId", Q_STRING, DOC_TASK},
    {"selectedColumns", Q_STRINGS, DOC_CASE | DOC_TASK},
    {"sortBy", Q_SORT, DOC_CASE | DOC_TASK},
    {"customFields", Q_OBJECTS, DOC_CASE | DOC_TASK},
};

static const char *const qtype_names[] = {
    [Q_INT] = "an integer",          [Q_STRING] = "a string",
    [Q_BOOL] = "a boolean",          [Q_STRINGS] = "an array of strings",
    [Q_OBJECTS] = "an array of objects", [Q_SORT] = "an object such as {\"createdAt\": \"desc\"}",
};

static bool has_qtype(const json_t *v, enum qtype t)
{
    size_t i;
    const json_t *x;
    switch (t) {
    case Q_INT:
        return api_is_whole(v); /* its range: api_page_read */
    case Q_STRING:
        return json_is_string(v);
    case Q_BOOL:
        return json_is_boolean(v);
    case Q_SORT:
        return json_is_object(v) || json_is_string(v);
    case Q_STRINGS:
    case Q_OBJECTS:
        if (!json_is_array(v))
            return false;
        json_array_foreach(v, i, x) if (t == Q_STRINGS ? !json_is_string(x) : !json_is_object(x))
            return false;
        return true;
    }
    return false;
}

/* The index of query member k of a kind's queries, or the table's size if there is none. */
static size_t query_member(const char *k, enum doc_kind kind)
{
    size_t i = 0, n = sizeof query_members / sizeof query_members[0];
    while (i < n && !(strcmp(query_members[i].name, k) == 0 && (query_members[i].kinds & kind)))
        i++;
    return i;
}

/* Unknown members (all named) and wrong types: 400 naming the member. */
static int check_members(const json_t *body, enum doc_kind kind, struct err *e)
{
    const char *k;
    const json_t *v;
    size_t n = sizeof query_members / sizeof query_members[0];
    struct err_unknown unknown = {0};
    json_object_foreach((json_t *)body, k, v)
    {
        if (query_member(k, kind) == n)
            err_unknown_add(&unknown, k);
    }
    if (err_unknown_set(&unknown, e,
                        kind == DOC_CASE ? "in a getCases query" : "in a getTasks query"))
        return -1;
    json_object_foreach((json_t *)body, k, v)
    {
        size_t i = query_member(k, kind);
        if (!json_is_null(v) && !has_qtype(v, query_members[i].type))
            return err_set(e, ERR_INVALID_TYPE, k, "%s must be %s", k,
                           qtype_names[query_members[i].type]);
        if (json_is_array(v) && json_array_size(v) > STORE_LIST_MAX)
            return err_set(e, ERR_ARRAY_TOO_LONG, k, "%s takes at most %d values", k,
                           STORE_LIST_MAX);
    }
    return 0;
}

/* A non-empty string member, or NULL ("" and null mean "no filter"). */
static const char *string_of(const json_t *body, const char *k)
{
    const char *s = json_string_value(json_object_get(body, k));
    return s && *s ? s : NULL;
}

static char *lower_copy(const char *s)
{
    return text_lower(s, strlen(s)); /* the same folding as lname */
}

/* priority[] / status[]: names matched as API.md §4, stored as the stream's own names. */
/* The names a status[] or priority[] filter means, as the stream's own spelling: each given name
 * resolves to every one of member's entries it matches (names a casemgr before the Unicode
 * matching stored twice, Über and über, are both meant: the records of the second were found by
 * neither). */
static int resolve_names(const json_t *body, const char *k, const json_t *cfg, const char *member,
                         struct store_strings *out, struct err *e)
{
    size_t i;
    const json_t *x;
    json_array_foreach(json_object_get(body, k), i, x)
    {
        const json_t *found[STORE_LIST_MAX];
        size_t room = STORE_LIST_MAX - out->n;
        size_t n = config_all_by_name(cfg, member, json_string_value(x), found, room);
        if (n == 0)
            return err_set(e, ERR_INVALID_VALUE, k, "%s %s is not one of this stream's", k,
                           json_string_value(x));
        if (n > room)
            return err_set(e, ERR_ARRAY_TOO_LONG, k, "%s names more than %d of this stream's", k,
                           STORE_LIST_MAX);
        for (size_t j = 0; j < n; j++)
            out->v[out->n++] = json_string_value(json_object_get(found[j], "name"));
    }
    return 0;
}

static void strings_of(const json_t *body, const char *k, struct store_strings *out)
{
    size_t i;
    const json_t *x;
    json_array_foreach(json_object_get(body, k), i, x) out->v[out->n++] = json_string_value(x);
}

/* What a date member of the body is: an instant (dueDate's day), or an inclusive bound. */
enum date_use { DATE_AT, DATE_FROM, DATE_TO };

/* An ISO-8601 member of the body. A lower bound rounds up past the millisecond (truncated,
 * 13:35:05.0521Z took in a record created at 13:35:05.052Z); an upper bound that is a date
 * alone takes in the whole day. */
static int date_of(const json_t *body, const char *k, enum date_use use, bool *has, int64_t *ms,
                   struct err *e)
{
    const char *s = string_of(body, k);
    if (!s)
        return 0;
    if ((use == DATE_FROM ? time_parse_iso_ceil(s, ms) : time_parse_iso(s, ms)) != 0)
        return err_set(e, ERR_INVALID_VALUE, k, "%s must be an ISO-8601 date or date-time", k);
    if (use == DATE_TO && strlen(s) == 10)
        *ms += DAY_MS - 1;
    *has = true;
    return 0;
}

/* ETAlist buckets relative to now (UTC days, weeks from Monday): disjoint, so OR-ing them never
 * counts a record twice. */
static int eta_buckets(const json_t *body, int64_t now, struct store_query *q, struct err *e)
{
    const json_t *etas = json_object_get(body, "ETAlist");
    if (json_array_size(etas) == 0)
        return 0;
    int64_t today = now >= 0 ? now / DAY_MS * DAY_MS : 0;
    int64_t tomorrow = today + DAY_MS, after_tomorrow = today + 2 * DAY_MS;
    int64_t weekday = (today / DAY_MS + 3) % 7; /* 1970-01-01 was a Thursday; Monday = 0 */
    int64_t week_end = today + (7 - weekday) * DAY_MS;
    if (week_end < after_tomorrow)
        week_end = after_tomorrow;
    const struct {
        const char *name;
        int64_t from, to;
    } buckets[] = {
        {"overdue", INT64_MIN, now},           {"today", now, tomorrow},
        {"tomorrow", tomorrow, after_tomorrow}, {"thisWeek", after_tomorrow, week_end},
        {"later", week_end, INT64_MAX},
    };
    _Static_assert(sizeof buckets / sizeof buckets[0] <= sizeof q->eta / sizeof q->eta[0],
                   "every bucket fits in q->eta");
    q->eta_filter = true;
    unsigned taken = 0; /* buckets already in q->eta: a repeated name adds nothing */
    size_t i;
    const json_t *x;
    json_array_foreach(etas, i, x)
    {
        const char *name = json_string_value(x);
        if (strcmp(name, "none") == 0) {
            q->eta_none = true;
            continue;
        }
        size_t b = 0, n = sizeof buckets / sizeof buckets[0];
        while (b < n && strcmp(buckets[b].name, name) != 0)
            b++;
        if (b == n)
            return err_set(e, ERR_INVALID_VALUE, "ETAlist",
                           "ETAlist values are overdue, today, tomorrow, thisWeek, later, none");
        /* each bucket once: repeated names filled the array, and buckets named after that were
         * dropped (["overdue" x6, "later"] matched no later task) */
        if (taken & (1u << b))
            continue;
        taken |= 1u << b;
        q->eta[q->neta++] = (struct store_range){buckets[b].from, buckets[b].to};
    }
    return 0;
}

static int sort_of(const json_t *body, struct store_query *q, struct err *e)
{
    static const struct {
        const char *name;
        enum store_sort sort;
    } sorts[] = {
        {"createdAt", STORE_SORT_CREATED}, {"createdDate", STORE_SORT_CREATED},
        {"updatedAt", STORE_SORT_UPDATED}, {"dueDate", STORE_SORT_DUE},
        {"priority", STORE_SORT_PRIORITY}, {"name", STORE_SORT_NAME},
        {"refId", STORE_SORT_REF},
    };
    q->sort = STORE_SORT_CREATED;
    q->descending = true;
    const json_t *v = json_object_get(body, "sortBy");
    const char *member = json_string_value(v);
    const json_t *dir = NULL;
    if (json_is_object(v)) {
        if (json_object_size(v) == 0)
            return 0;
        if (json_object_size(v) != 1)
            return err_set(e, ERR_INVALID_VALUE, "sortBy", "sortBy names one member");
        void *it = json_object_iter((json_t *)v);
        member = json_object_iter_key(it);
        dir = json_object_iter_value(it);
    }
    /* "sortBy": "" is no sort; {"": ...} names a member, which no sort has */
    if (!member || (!*member && !dir))
        return 0;
    size_t i = 0, n = sizeof sorts / sizeof sorts[0];
    while (i < n && strcmp(sorts[i].name, member) != 0)
        i++;
    if (i == n)
        return err_set(e, ERR_INVALID_VALUE, "sortBy",
                       "sortBy takes createdAt, updatedAt, dueDate, priority, name or refId");
    q->sort = sorts[i].sort;
    if (dir) {
        const char *d = json_string_value(dir);
        json_int_t sign = 0;
        bool whole = scalar_whole(dir, &sign);
        if ((d && strcasecmp(d, "asc") == 0) || (whole && sign == 1))
            q->descending = false;
        else if (!((d && strcasecmp(d, "desc") == 0) || (whole && sign == -1)))
            return err_set(e, ERR_INVALID_VALUE, "sortBy", "a sort direction is asc or desc");
    }
    return 0;
}

/* A string value the query keeps (own->values) for as long as it runs. */
static const json_t *owned_string(struct api_query_owned *own, const char *text)
{
    if (!own->values)
        own->values = json_array();
    json_t *s = json_string(text);
    json_array_append_new(own->values, s);
    return s;
}

/* A datetime field holds its value as the server writes it (2025-06-04T10:18:00.000Z): a value
 * that parses as a date-time (another ISO-8601 form, epoch milliseconds) is also compared as
 * that instant, as written when it was stored (else the very value a client had stored found
 * nothing). The value as given still matches as text: a field of that name may be a text or a
 * number in another template. Returns the instant's text (kept in own), or NULL when x names
 * none or is written that way already. */
static const json_t *as_instant(const json_t *x, struct api_query_owned *own)
{
    int64_t ms;
    if (doc_parse_instant(x, &ms) != 0)
        return NULL;
    char iso[TIME_ISO_LEN];
    time_format_iso(ms, iso);
    if (json_is_string(x) && strcmp(json_string_value(x), iso) == 0)
        return NULL;
    return owned_string(own, iso);
}

/* A real number (or its text) as casemgr stored it before it wrote reals in their shortest
 * form (scalar_legacy_text): values stored then are found as well. NULL when it has none. */
static const json_t *as_legacy_real(const json_t *x, struct api_query_owned *own)
{
    char text[SCALAR_BUF];
    if (!scalar_legacy_text(x, text))
        return NULL;
    return owned_string(own, text);
}

void api_query_owned_free(struct api_query_owned *own)
{
    free(own->search);
    free(own->name);
    json_decref(own->values);
}

static int custom_fields_of(const json_t *body, enum doc_kind kind, const json_t *cfg,
                            struct store_query *q, struct api_query_owned *own, struct err *e)
{
    const json_t *conds = json_object_get(body, "customFields"); /* at most STORE_LIST_MAX */
    size_t i, total = 0;
    const json_t *c;
    json_array_foreach(conds, i, c)
    {
        struct store_field_filter *f = &q->fields[q->nfields++];
        const char *id = string_of(c, "_id"), *name = string_of(c, "name");
        const json_t *value = json_object_get(c, "value");
        f->by_name = id == NULL;
        f->field = id ? id : name;
        if (!f->field || !value || json_is_null(value))
            return err_set(e, ERR_INVALID_VALUE, "customFields",
                           "each customFields element needs _id or name, and value");
        const json_t *values = json_is_array(value) ? value : NULL;
        size_t n = values ? json_array_size(values) : 1;
        if (n == 0 || n > STORE_LIST_MAX)
            return err_set(e, ERR_INVALID_VALUE, "customFields", "value lists 1 to %d values",
                           STORE_LIST_MAX);
        total += n;
        if (total > STORE_FIELD_VALUES_MAX)
            return err_set(e, ERR_ARRAY_TOO_LONG, "customFields",
                           "customFields carry at most %d values in all", STORE_FIELD_VALUES_MAX);
        bool instant = config_field_is_datetime(cfg, kind, f->by_name, f->field);
        for (size_t k = 0; k < n; k++) {
            const json_t *x = values ? json_array_get(values, k) : value;
            if (!json_is_string(x) && !json_is_number(x) && !json_is_boolean(x))
                return err_set(e, ERR_INVALID_TYPE, "customFields",
                               "customFields values are strings, numbers or booleans");
            f->values[f->n++] = x;
            const json_t *also = instant ? as_instant(x, own) : NULL;
            if (!also)
                also = as_legacy_real(x, own);
            if (also)
                f->values[f->n++] = also;
        }
    }
    return 0;
}

static int selected_columns(const json_t *body, enum doc_kind kind, struct err *e)
{
    size_t i;
    const json_t *x;
    json_array_foreach(json_object_get(body, "selectedColumns"), i, x)
    {
        const struct doc_member *m = doc_member_find(json_string_value(x), kind);
        if (!m || !doc_member_in_doc(m, kind))
            return err_set(e, ERR_INVALID_VALUE, "selectedColumns",
                           "%s is not a member of the document", json_string_value(x));
    }
    return 0;
}

int api_query_decode(const json_t *body, enum doc_kind kind, const json_t *cfg,
                     const struct auth_identity *id, struct store_query *q,
                     struct api_query_owned *own, struct err *e)
{
    if (check_members(body, kind, e) || api_page_read(body, &q->skip, &q->limit, e))
        return -1;
    const char *search = string_of(body, "searchText"), *name = string_of(body, "name");
    own->search = search ? lower_copy(search) : NULL;
    own->name = name ? lower_copy(name) : NULL;
    q->search = own->search;
    q->name = own->name;
    q->unresolved = json_is_true(json_object_get(body, "unresolved"));
    q->unassigned = json_is_true(json_object_get(body, "unassigned"));
    if (json_is_true(json_object_get(body, "mycase")) ||
        json_is_true(json_object_get(body, "mytask")))
        q->assignee = id->sub ? id->sub : ""; /* no user in the token: nothing is "mine" */
    if (resolve_names(body, "priority", cfg, "priorities", &q->priorities, e) ||
        resolve_names(body, "status", cfg, "statuses", &q->statuses, e))
        return -1;
    strings_of(body, "channel", &q->channels);
    strings_of(body, "queues", &q->queues);
    strings_of(body, "agents", &q->agents);
    bool has_day = false;
    int64_t day = 0;
    if (date_of(body, "startDate", DATE_FROM, &q->has_created_from, &q->created_from, e) ||
        date_of(body, "endDate", DATE_TO, &q->has_created_to, &q->created_to, e) ||
        date_of(body, "dueDate", DATE_AT, &has_day, &day, e))
        return -1;
    if (has_day) { /* records due on that UTC day */
        int64_t start = day >= 0 ? day / DAY_MS * DAY_MS : (day - DAY_MS + 1) / DAY_MS * DAY_MS;
        q->has_due = true;
        q->due = (struct store_range){start, start + DAY_MS};
    }
    q->case_id = string_of(body, "caseId");
    return eta_buckets(body, q->now_ms, q, e) || sort_of(body, q, e) ||
                   custom_fields_of(body, kind, cfg, q, own, e) || selected_columns(body, kind, e)
               ? -1
               : 0;
}

/* The page under construction: documents appended as they come from the store. */
struct page {
    char *buf;
    size_t len, cap;
    size_t count;
    const json_t *columns; /* selectedColumns, or NULL for whole documents */
    bool too_big;          /* past API_PAGE_BYTES_MAX: the rest is not kept */
};

static void page_put(struct page *p, const char *s, size_t n)
{
    if (p->len + n + 1 > p->cap) {
        p->cap = (p->len + n + 1) * 2;
        p->buf = xrealloc(p->buf, p->cap);
    }
    memcpy(p->buf + p->len, s, n);
    p->len += n;
    p->buf[p->len] = '\0';
}

/* Whether n more bytes keep the page within API_PAGE_BYTES_MAX; else it is marked too big. The
 * first item always fits: a document (or activity) past the budget alone is listed one a page
 * (a --body-limit past 16 MiB allows one), where refusing it would refuse every page with it. */
static bool page_fits(struct page *p, size_t n)
{
    if (p->count > 0 && p->len + n > API_PAGE_BYTES_MAX)
        p->too_big = true;
    return !p->too_big;
}

static void page_add(const char *doc, size_t len, void *arg)
{
    struct page *p = arg;
    if (p->too_big)
        return;
    if (!p->columns) {
        if (!page_fits(p, len))
            return;
        if (p->count++)
            page_put(p, ",", 1);
        page_put(p, doc, len);
        return;
    }
    /* API.md §8: _id plus only the selected members. The row's values are made in the thread's
     * arena (util/jarena) and gone before it returns; its text is the heap's. */
    jarena_begin();
    json_t *d = jtext_parse(doc, len);
    json_t *out = json_object();
    json_object_set(out, "_id", json_object_get(d, "_id"));
    size_t i;
    const json_t *c;
    json_array_foreach(p->columns, i, c)
    {
        json_t *v = json_object_get(d, json_string_value(c));
        if (v)
            json_object_set(out, json_string_value(c), v);
    }
    size_t text_len = 0;
    char *text = jtext_dump(out, &text_len);
    if (!text)
        mem_oom();
    if (page_fits(p, text_len)) { /* the selected members' size, not the document's */
        if (p->count++)
            page_put(p, ",", 1);
        page_put(p, text, text_len);
    }
    free(text);
    json_decref(out);
    json_decref(d);
    jarena_end();
}

struct query_job {
    enum doc_kind kind;
    const json_t *body;
    const struct auth_identity *id;
    struct store_query q;
    struct api_query_owned own;
    struct page page;
    struct err e;
    bool failed;
    int64_t total;
};

static int query_txn(struct store_txn *t, void *arg)
{
    struct query_job *job = arg;
    json_t *cfg = NULL;
    int rc = api_read_config(t, job->q.stream_id, &cfg);
    if (rc != STORE_OK)
        return rc;
    if (api_query_decode(job->body, job->kind, cfg, job->id, &job->q, &job->own, &job->e)) {
        json_decref(cfg);
        job->failed = true;
        return STORE_ABORT;
    }
    const json_t *cols = json_object_get(job->body, "selectedColumns");
    job->page.columns = json_array_size(cols) ? cols : NULL;
    rc = store_query(t, &job->q, page_add, &job->page, &job->total);
    json_decref(cfg);
    return rc;
}

int64_t api_list_io_budget_us = 1000;

/* A list on SQLite runs on the I/O thread (http_route.defers; spread: not on one that holds
 * more than its share of the connections, README "How it runs"): handing it to a worker cost a
 * wake-up and a switch of thread and cache a request. Side by side on 2 cores (200,000 tasks),
 * first pages of 50 at 32 connections: the server's CPU a request 0.077-0.088 -> 0.067-0.075 ms
 * (8 pairs, before spread), req/s -2 to +10 % (3 pairs, with it). A list that reads for
 * longer than api_list_io_budget_us (a search scanning many names, a page of large documents, a
 * thread the scheduler set aside) stops and runs again on a worker, from the start. */
static void list(struct http_request *req, struct http_reply *rep, enum doc_kind kind)
{
    struct auth_identity id;
    if (api_auth_or_reply(req, rep, true, &id))
        return;
    json_t *body = api_body_or_reply(req, rep, true); /* API.md §1: empty means {} here */
    if (!body)
        goto out;
    struct query_job *job = xcalloc(1, sizeof *job);
    job->kind = kind;
    job->body = body;
    job->id = &id;
    job->q.kind = kind == DOC_CASE ? STORE_CASE : STORE_TASK;
    job->q.stream_id = req->params[0];
    job->q.account_id = id.app.account_id;
    job->q.now_ms = time_now_ms();
    if (!http_can_wait(req))
        job->q.deadline_us = time_mono_us() + api_list_io_budget_us;
    page_put(&job->page, "{\"results\":[", 12);
    int rc = store_read(api_cfg.store, query_txn, job);
    if (rc == STORE_LATE) {
        metrics_list_rerun();
        http_run_on_worker(req); /* replies nothing: the handler runs again there */
    } else if (job->failed) {
        http_reply_err(rep, &job->e);
    } else if (rc != STORE_OK) {
        api_reply_store_error(rep);
    } else if (job->page.too_big) {
        http_reply_error(rep, ERR_INVALID_VALUE, "limit",
                         "the page would hold more than %u MiB of documents: ask for fewer "
                         "(limit)", API_PAGE_BYTES_MAX >> 20);
    } else {
        int64_t limit = job->q.limit, skip = job->q.skip, total = job->total;
        char tail[256];
        int n = snprintf(tail, sizeof tail,
                         "],\"page\":%lld,\"limit\":%lld,\"hasMore\":%s,\"totalPages\":%lld,"
                         "\"totalResults\":%lld}",
                         (long long)(skip / limit) + 1, (long long)limit,
                         skip + (int64_t)job->page.count < total ? "true" : "false",
                         (long long)((total + limit - 1) / limit), (long long)total);
        page_put(&job->page, tail, (size_t)n);
        http_reply_json_text(rep, 200, job->page.buf, job->page.len); /* takes buf */
        job->page.buf = NULL;
    }
    free(job->page.buf);
    api_query_owned_free(&job->own);
    free(job);
out:
    json_decref(body);
    auth_identity_cleanup(&id);
}

void api_get_cases(struct http_request *req, struct http_reply *rep)
{
    list(req, rep, DOC_CASE);
}

void api_get_tasks(struct http_request *req, struct http_reply *rep)
{
    list(req, rep, DOC_TASK);
}
