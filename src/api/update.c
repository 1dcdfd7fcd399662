/* update — updateCase/{id} and updateTask/{id} (API.md §7, the seed endpoint), and
 * getActivities/{id}: read-modify-write of one document in one write transaction, answered only
 * after the commit. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/internal.h"
#include "doc/record.h"
#include "doc/update.h"

struct update_job {
    enum doc_kind kind;
    const char *id;
    const json_t *patch;
    struct doc_ctx ctx;
    const char *if_match;
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
static int case_closed(struct store_txn *t, const struct update_job *job, const json_t *task,
                       char ref[32], bool *closed)
{
    *closed = false;
    const char *case_id = json_string_value(json_object_get(task, "caseId"));
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

static int store_change(struct store_txn *t, struct update_job *job, json_t *doc, json_t *changes,
                        const json_t *before)
{
    json_t *activity = doc_activity(doc, job->kind, changes, &job->ctx);
    char *text = json_dumps(activity, JSON_COMPACT);
    struct store_activity a = {
        .id = json_string_value(json_object_get(activity, "_id")),
        .stream_id = job->ctx.stream_id,
        .account_id = job->ctx.account_id,
        .record_id = job->id,
        .created_at = job->ctx.now_ms,
        .doc = text,
    };
    int rc = store_activity_put(t, &a);
    free(text);
    json_decref(activity);
    if (rc != STORE_OK)
        return rc;
    struct store_record r, prev;
    doc_record_from(doc, job->kind, &r);
    doc_record_columns(before, job->kind, &prev);
    rc = store_record_update(t, &r, &prev);
    job->version = r.version;
    job->text = r.doc;
    job->len = r.doc_len;
    return rc;
}

static int update_txn(struct store_txn *t, void *arg)
{
    struct update_job *job = arg;
    json_t *cfg = NULL, *doc = NULL, *changes = NULL, *before = NULL;
    struct store_record r;
    int rc = store_record_get(t, job->kind == DOC_CASE ? STORE_CASE : STORE_TASK,
                              job->ctx.stream_id, job->ctx.account_id, job->id, &r);
    if (rc == STORE_NOT_FOUND) {
        err_set(&job->e, ERR_NOT_FOUND, NULL, "%s %s not found",
                job->kind == DOC_CASE ? "case" : "task", job->id);
        return fail(job);
    }
    if (rc != STORE_OK)
        return rc;
    job->version = r.version;
    doc = json_loadb(r.doc, r.doc_len, 0, NULL);
    doc_record_cleanup(&r);
    if (!doc)
        return STORE_ERROR;
    if (job->if_match && !if_match_ok(job->if_match, job->version)) {
        err_set(&job->e, ERR_PRECONDITION_FAILED, NULL,
                "If-Match does not match the current ETag \"%lld\"; nothing was changed",
                job->version);
        rc = fail(job);
        goto out;
    }
    rc = api_load_config(t, job->ctx.stream_id, &cfg);
    if (rc != STORE_OK)
        goto out;
    job->ctx.config = cfg;
    if (doc_update(doc, job->kind, job->patch, &job->ctx, &changes, &before, &job->e)) {
        rc = fail(job);
        goto out;
    }
    if (json_array_size(changes) == 0) {
        /* API.md §7: nothing changed, nothing written; the answer is the document as it is */
        job->text = json_dumps(doc, JSON_COMPACT);
        job->len = strlen(job->text);
        rc = STORE_ABORT;
        goto out;
    }
    if (job->kind == DOC_TASK) {
        char ref[32] = "";
        bool closed;
        rc = case_closed(t, job, doc, ref, &closed);
        if (rc != STORE_OK)
            goto out;
        if (closed) {
            err_set(&job->e, ERR_CONFLICT, NULL, "case %s is closed", ref);
            rc = fail(job);
            goto out;
        }
    }
    rc = store_change(t, job, doc, changes, before);
out:
    json_decref(before);
    json_decref(changes);
    json_decref(doc);
    json_decref(cfg);
    return rc;
}

static void update(struct http_request *req, struct http_reply *rep, enum doc_kind kind)
{
    struct auth_identity id;
    if (api_auth_or_reply(req, rep, true, &id))
        return;
    json_t *patch = api_body_or_reply(req, rep, false);
    if (!patch)
        goto out;
    struct update_job job = {.kind = kind, .id = req->params[1], .patch = patch,
                             .if_match = http_header(req, "If-Match")};
    api_doc_ctx(&id, req->params[0], &job.ctx);
    int rc = store_write(api_cfg.store, update_txn, &job);
    if (job.failed) {
        http_reply_err(rep, &job.e);
    } else if ((rc == STORE_OK || rc == STORE_ABORT) && job.text) {
        api_reply_doc(rep, job.text, job.len, job.version); /* takes text */
        job.text = NULL;
    } else {
        api_reply_store_error(rep);
    }
    free(job.text);
out:
    json_decref(patch);
    auth_identity_cleanup(&id);
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
    bool found;
};

static void collect(const char *json, void *arg)
{
    json_t *a = json_loads(json, 0, NULL);
    if (a)
        json_array_append_new(arg, a);
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
                               collect, job->results, &job->total);
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
    else
        http_reply_json(rep, 200, api_page_json(json_incref(job.results), job.skip, job.limit,
                                                job.total));
    json_decref(job.results);
out:
    json_decref(body);
    auth_identity_cleanup(&id);
}
