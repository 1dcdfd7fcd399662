/* create — createCase and createTask (API.md §6): one write transaction that checks the
 * Idempotency-Key, builds the document, numbers it, stores it (and for a task appends it to its
 * case's taskIds) and records the answer for retries. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/internal.h"
#include "doc/config.h"
#include "doc/create.h"
#include "doc/record.h"
#include "util/jtext.h"
#include "util/mem.h"

#define IDEM_KEY_MAX 255

struct create_job {
    enum doc_kind kind;
    const json_t *body;
    struct doc_ctx ctx;
    const char *client_id;
    const char *idem_key; /* NULL without the header */
    char body_hash[65];
    /* results */
    struct err e;
    bool failed;   /* e is the answer */
    char *text;    /* the document or the replayed answer */
    size_t len;
    long long version;
    /* a task built on the worker (prepare_task_txn), which the writer numbers and stores */
    bool prepared;
    struct store_record rec; /* its record, detached from its document */
    char ref[32];
};

static int fail(struct create_job *job)
{
    job->failed = true;
    return STORE_ABORT;
}

/* A task joins its case's taskIds in the same transaction (API.md §6). */
static int append_to_case(struct store_txn *t, const struct create_job *job, const char *case_id,
                          const char *task_id)
{
    int64_t version;
    return store_case_add_task(t, job->ctx.stream_id, job->ctx.account_id, case_id, task_id,
                               &version);
}

/* API.md §7's lifecycle at creation: a task whose case is Closed could never be changed, so
 * none is created in one (it was: 200, and every later update of it 409). */
static int case_open_or_fail(struct create_job *job, const struct store_record_head *h)
{
    if (strcmp(h->status_category, "closed") != 0)
        return STORE_OK;
    err_set(&job->e, ERR_CONFLICT, "caseId", "case %s is closed", h->ref_id);
    return fail(job);
}

/* A task's document built on the worker, from a read snapshot, so that the single writer only
 * numbers and stores it (the document work is most of a createTask's cost). STORE_OK when built,
 * STORE_ABORT with the answer (the case is not there, the body breaks a rule), anything else
 * when the writer is to do it all (the stream has no stored configuration yet). */
static int prepare_task_txn(struct store_txn *t, void *arg)
{
    struct create_job *job = arg;
    const char *case_id = json_string_value(json_object_get(job->body, "caseId"));
    if (!case_id)
        return STORE_NOT_FOUND; /* the writer's path answers it */
    json_t *cfg = NULL;
    int rc = api_read_stored_config(t, job->ctx.stream_id, &cfg);
    if (rc != STORE_OK)
        return rc;
    struct store_record_head h;
    rc = store_record_head(t, STORE_CASE, job->ctx.stream_id, job->ctx.account_id, case_id, &h);
    if (rc == STORE_NOT_FOUND) {
        /* records are never deleted: a case missing now was missing when the request came */
        err_set(&job->e, ERR_NOT_FOUND, "caseId", "case %s not found", case_id);
        rc = fail(job);
    }
    if (rc == STORE_OK)
        rc = case_open_or_fail(job, &h);
    if (rc != STORE_OK) {
        json_decref(cfg);
        return rc;
    }
    json_t *case_doc = json_pack("{s:s, s:s}", "_id", case_id, "refId", h.ref_id);
    job->ctx.config = cfg;
    json_t *doc = doc_create_task(job->body, case_doc, &job->ctx, &job->e);
    job->ctx.config = NULL;
    json_decref(case_doc);
    json_decref(cfg);
    if (!doc)
        return fail(job);
    doc_set_ref(doc, "TS", 0); /* numbered by the writer (put_prepared) */
    doc_record_from(doc, DOC_TASK, &job->rec);
    doc_record_detach(&job->rec); /* the document goes here (doc_record_detach) */
    json_decref(doc);
    job->prepared = true;
    return STORE_OK;
}

/* The writer's part of a prepared task: its number, written into the document's text. */
static int put_prepared(struct store_txn *t, struct create_job *job)
{
    int64_t n;
    /* the case before the counter, as every create of a task takes them (store_record_lock);
     * closed since the snapshot prepare read? */
    struct store_record_head h;
    int rc = store_record_lock(t, STORE_CASE, job->ctx.stream_id, job->ctx.account_id,
                               job->rec.case_id, &h);
    if (rc == STORE_OK)
        rc = case_open_or_fail(job, &h);
    if (rc == STORE_OK)
        rc = store_next_ref(t, job->ctx.stream_id, "TS", &n);
    if (rc != STORE_OK)
        return rc;
    snprintf(job->ref, sizeof job->ref, "TS%06lld", (long long)n);
    size_t len;
    char *text = jtext_set_string(job->rec.doc, job->rec.doc_len, "refId", job->ref, &len);
    if (!text)
        return STORE_ERROR; /* the text prepare_task_txn wrote has the member */
    struct store_record r = job->rec;
    r.doc = text;
    r.doc_len = len;
    r.ref_id = job->ref;
    r.ref_seq = n;
    rc = store_record_put(t, &r);
    job->version = r.version;
    job->text = text; /* the answer */
    job->len = len;
    if (rc == STORE_OK)
        rc = append_to_case(t, job, job->rec.case_id, job->rec.id);
    return rc;
}

static int create_txn(struct store_txn *t, void *arg)
{
    struct create_job *job = arg;
    if (job->idem_key) {
        struct store_idem prior;
        int rc = store_idem_get(t, job->client_id, job->idem_key, &prior);
        if (rc == STORE_OK && prior.created_at + STORE_IDEM_TTL_MS > job->ctx.now_ms) {
            if (strcmp(prior.body_hash, job->body_hash) != 0) {
                free(prior.body);
                err_set(&job->e, ERR_IDEMPOTENCY_CONFLICT, "Idempotency-Key", NULL);
                return fail(job);
            }
            job->text = prior.body; /* the first answer, again; nothing new is created */
            job->len = prior.body_len;
            job->version = 0;
            return STORE_ABORT;
        }
        if (rc == STORE_OK)
            free(prior.body);
        else if (rc != STORE_NOT_FOUND)
            return rc;
    }
    json_t *cfg = NULL, *case_doc = NULL, *doc = NULL;
    const char *case_id = NULL;
    if (job->prepared) /* built on the worker: a number, the put, the case's taskIds */
        return put_prepared(t, job);
    int rc = api_load_config(t, job->ctx.stream_id, &cfg);
    if (rc != STORE_OK)
        goto out;
    job->ctx.config = cfg;
    if (job->kind == DOC_TASK) {
        /* api_create checked the members: caseId is a string here, or absent */
        case_id = json_string_value(json_object_get(job->body, "caseId"));
        if (!case_id) {
            err_set(&job->e, ERR_MISSING_MEMBER, "caseId", "caseId is required");
            rc = fail(job);
            goto out;
        }
        /* the task takes the case's _id and refId (its head); the case is held first, before
         * the counter (store_record_lock) */
        struct store_record_head h;
        rc = store_record_lock(t, STORE_CASE, job->ctx.stream_id, job->ctx.account_id, case_id,
                               &h);
        if (rc == STORE_NOT_FOUND) {
            /* another tenant's case is answered exactly like a missing one (API.md §2) */
            err_set(&job->e, ERR_NOT_FOUND, "caseId", "case %s not found", case_id);
            rc = fail(job);
            goto out;
        }
        if (rc == STORE_OK)
            rc = case_open_or_fail(job, &h);
        if (rc != STORE_OK)
            goto out;
        case_doc = json_pack("{s:s, s:s}", "_id", case_id, "refId", h.ref_id);
        doc = doc_create_task(job->body, case_doc, &job->ctx, &job->e);
    } else {
        doc = doc_create_case(job->body, &job->ctx, &job->e);
    }
    if (!doc) {
        rc = fail(job);
        goto out;
    }
    int64_t n;
    const char *prefix = job->kind == DOC_CASE ? "CS" : "TS";
    rc = store_next_ref(t, job->ctx.stream_id, prefix, &n);
    if (rc != STORE_OK)
        goto out;
    doc_set_ref(doc, prefix, (long long)n);
    struct store_record r;
    doc_record_from(doc, job->kind, &r);
    rc = store_record_put(t, &r);
    job->version = r.version;
    job->text = r.doc; /* taken */
    job->len = r.doc_len;
    r.doc = NULL;
    doc_record_cleanup(&r);
    if (rc == STORE_OK && case_id)
        rc = append_to_case(t, job, case_id, json_string_value(json_object_get(doc, "_id")));
    if (rc == STORE_OK && job->idem_key) {
        struct store_idem in = {.status = 200, .body = job->text, .body_len = job->len,
                                .created_at = job->ctx.now_ms};
        memcpy(in.body_hash, job->body_hash, sizeof in.body_hash);
        rc = store_idem_put(t, job->client_id, job->idem_key, &in);
    }
out:
    json_decref(doc);
    json_decref(case_doc);
    json_decref(cfg);
    return rc;
}

/* What a replay must match (API.md §6, "the same key with a different body is 409"): the body,
 * and the endpoint and stream it was sent to. Hashed from the body alone, the same key and body
 * sent to another stream of the app replayed the first stream's record as if created there. */
static void request_hash(const struct http_request *req, enum doc_kind kind, char out[65])
{
    const char *endpoint = kind == DOC_CASE ? "createCase" : "createTask";
    const char *stream = req->params[0];
    size_t head = strlen(endpoint) + 1 + strlen(stream) + 1;
    char *text = xmalloc(head + req->body_len + 1); /* snprintf ends the head with a NUL */
    snprintf(text, head + 1, "%s\n%s\n", endpoint, stream);
    if (req->body_len)
        memcpy(text + head, req->body, req->body_len);
    auth_sha256_hex(text, head + req->body_len, out);
    free(text);
}

static bool idem_key_valid(const char *k)
{
    size_t n = strlen(k);
    if (n == 0 || n > IDEM_KEY_MAX)
        return false;
    for (size_t i = 0; i < n; i++)
        if (k[i] < 0x21 || k[i] > 0x7e)
            return false;
    return true;
}

/* One createCase/createTask call, on the heap when its answer comes after the handler returns. */
struct create_call {
    struct create_job job;
    json_t *body;
    struct auth_identity id;
    struct http_request *req;
    int rc; /* the write's, for create_finish */
};

static void create_call_free(struct create_call *call)
{
    free(call->job.text);
    doc_record_cleanup(&call->job.rec);
    json_decref(call->body);
    auth_identity_cleanup(&call->id);
    free(call);
}

/* The answer from the write's status, into rep; frees the call. */
static void create_reply(struct create_call *call, struct http_reply *rep, int rc)
{
    struct create_job *job = &call->job;
    /* a failed commit answers 503 even when the job had decided (see store_write); so does a
     * job that decided nothing */
    bool stored = rc == STORE_OK || rc == STORE_ABORT;
    if (stored && job->failed) {
        http_reply_err(rep, &job->e);
    } else if (stored && job->text) {
        api_reply_doc(rep, job->text, job->len, job->version); /* takes text */
        job->text = NULL;
        if (job->version == 0) /* a replayed answer: the record may have moved on since */
            rep->etag[0] = '\0';
    } else {
        api_reply_store_error(rep);
    }
    create_call_free(call);
}

static int create_txn_call(struct store_txn *t, void *arg)
{
    return create_txn(t, &((struct create_call *)arg)->job);
}

/* store_write_then's answer to a deferred create: the commit is durable, or it failed. */
static void create_committed(int rc, void *arg)
{
    struct create_call *call = arg;
    call->rc = rc;
    http_answer(call->req);
}

/* A deferred create's reply, on the thread that sends it (http_defer). */
static void create_finish(struct http_request *req, struct http_reply *rep, void *arg)
{
    (void)req;
    struct create_call *call = arg;
    create_reply(call, rep, call->rc);
}

void api_create(struct http_request *req, struct http_reply *rep, enum doc_kind kind)
{
    struct create_call *call = xcalloc(1, sizeof *call);
    if (api_auth_or_reply(req, rep, false, &call->id)) {
        free(call);
        return;
    }
    call->req = req;
    call->body = api_body_or_reply(req, rep, false);
    if (!call->body) {
        create_call_free(call);
        return;
    }
    struct create_job *job = &call->job;
    *job = (struct create_job){.kind = kind, .body = call->body,
                               .client_id = call->id.app.client_id};
    if (doc_check_members(call->body, kind, true, &api_cfg.limits, &job->e)) {
        http_reply_err(rep, &job->e);
        create_call_free(call);
        return;
    }
    api_doc_ctx(&call->id, req->params[0], &job->ctx);
    job->idem_key = http_header(req, "Idempotency-Key");
    if (job->idem_key) {
        if (http_header_count(req, "Idempotency-Key") > 1) {
            /* as accountId: a proxy or a retry that kept the other one would make a second
             * record of what the key is there to make once */
            http_reply_error(rep, ERR_BAD_REQUEST, "Idempotency-Key",
                             "send one Idempotency-Key header, not several");
            create_call_free(call);
            return;
        }
        if (!idem_key_valid(job->idem_key)) {
            http_reply_error(rep, ERR_INVALID_VALUE, "Idempotency-Key",
                             "Idempotency-Key must be 1 to %d visible ASCII characters",
                             IDEM_KEY_MAX);
            create_call_free(call);
            return;
        }
        request_hash(req, kind, job->body_hash);
    }
    int rc = STORE_OK;
    /* without an Idempotency-Key (whose check comes first, in the writer) a task is built here */
    if (kind == DOC_TASK && !job->idem_key) {
        rc = store_read(api_cfg.store, prepare_task_txn, job);
        if (rc != STORE_OK && !job->failed) { /* the writer does it all */
            doc_record_cleanup(&job->rec);
            job->prepared = false;
            rc = STORE_OK;
        }
        if (job->prepared) { /* the writer needs the record only: the body goes here too */
            json_decref(call->body);
            call->body = NULL;
            job->body = NULL;
        }
    }
    if (rc != STORE_OK) {
        create_reply(call, rep, rc); /* decided from reads: settled before it goes out */
    } else if (http_can_defer(req)) {
        /* the worker does not wait for the commit (see update.c) */
        http_defer(req, create_finish, call);
        store_write_then(api_cfg.store, create_txn_call, call, create_committed);
    } else {
        create_reply(call, rep, store_write(api_cfg.store, create_txn, job));
    }
}

void api_create_case(struct http_request *req, struct http_reply *rep)
{
    api_create(req, rep, DOC_CASE);
}

void api_create_task(struct http_request *req, struct http_reply *rep)
{
    api_create(req, rep, DOC_TASK);
}
