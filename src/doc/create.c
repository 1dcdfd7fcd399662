#include "doc/create.h"

#include <stdio.h>
#include <string.h>

#include "doc/config.h"
#include "util/id.h"
#include "util/time.h"

static const char *const case_required[] = {"caseTmp", "name", "desc", "userInfo", "source",
                                            "dueDate"};
static const char *const task_required[] = {"caseId", "caseRefId", "userInfo", "source"};

static int check_required(const json_t *body, const char *const *names, size_t n, struct err *e)
{
    for (size_t i = 0; i < n; i++) {
        const json_t *v = json_object_get(body, names[i]);
        if (!v || json_is_null(v))
            return err_set(e, ERR_MISSING_MEMBER, names[i], "%s is required", names[i]);
    }
    return 0;
}

static bool non_empty_string(const json_t *obj, const char *key)
{
    const json_t *v = json_object_get(obj, key);
    return json_is_string(v) && json_string_length(v) > 0;
}

/* API.md §6: userInfo needs name and one of _id, emailId, phoneNumber. */
static int check_user_info(const json_t *ui, struct err *e)
{
    if (!non_empty_string(ui, "name"))
        return err_set(e, ERR_INVALID_VALUE, "userInfo", "userInfo.name is required");
    if (!non_empty_string(ui, "_id") && !non_empty_string(ui, "emailId") &&
        !non_empty_string(ui, "phoneNumber"))
        return err_set(e, ERR_INVALID_VALUE, "userInfo",
                       "userInfo needs at least one of _id, emailId, phoneNumber");
    return 0;
}

/* Read-only members at creation: an echo of the value the server will set is fine; anything
 * else would place the record under another tenant and is refused (API.md §7). */
static int check_read_only(const json_t *body, const json_t *doc, struct err *e)
{
    const char *k;
    const json_t *v;
    json_object_foreach((json_t *)body, k, v)
    {
        const struct doc_member *m = doc_member_find(k, DOC_CASE | DOC_TASK);
        if (!m || m->access != DOC_RO)
            continue;
        const json_t *stored = json_object_get(doc, strcmp(k, "lid") == 0 ? "iId" : k);
        if (!stored || !json_equal(stored, v))
            return err_set(e, ERR_READ_ONLY, k, "%s is read-only", k);
    }
    return 0;
}

static json_t *actor_json(const struct doc_actor *a)
{
    return json_pack("{s:s, s:s, s:s}", "_id", a->id, "name", a->name ? a->name : "",
                     "profImage", a->prof_image ? a->prof_image : "");
}

static json_t *skeleton(enum doc_kind kind, const struct doc_ctx *ctx, const json_t *tmpl,
                        const json_t *case_doc, const char *name)
{
    json_t *doc = json_object();
    char id[ID_MAX];
    id_new(kind == DOC_CASE ? "ci-" : "ti-", id);
    json_object_set_new(doc, "_id", json_string(id));
    if (kind == DOC_TASK) {
        json_object_set(doc, "caseId", json_object_get(case_doc, "_id"));
        json_object_set(doc, "caseRefId", json_object_get(case_doc, "refId"));
        json_object_set(doc, "taskTmp", json_object_get(tmpl, "_id"));
    } else {
        json_object_set(doc, "caseTmp", json_object_get(tmpl, "_id"));
    }
    char iso[TIME_ISO_LEN];
    time_format_iso(ctx->now_ms, iso);
    json_t *rest = json_pack(
        "{s:s, s:s, s:s, s:[], s:{}, s:[], s:s, s:s, s:s, s:[], s:O, s:s, s:s, s:s, s:o, s:[],"
        " s:O, s:s, s:s}",
        "name", name, "lname", "", "desc", "", "tags", "userInfo", "sessIds", "accountId",
        ctx->account_id, "iId", ctx->stream_id, "orgId", ctx->org_id ? ctx->org_id : "",
        "convIds", "status", config_status_by_name(ctx->config, "Open"), "source", "",
        "language", "en", "conversationType", kind == DOC_CASE ? "CASE" : "TASK", "fields",
        doc_template_fields(tmpl), "participants", "priority",
        config_priority_by_name(ctx->config, "Medium"), "refId", "", "assigneeType",
        "unassigned");
    json_object_update(doc, rest);
    json_decref(rest);
    if (kind == DOC_TASK) {
        json_object_set_new(doc, "isCustTsk", json_false());
        json_object_set_new(doc, "isActive", json_true());
    } else {
        json_object_set_new(doc, "isActive", json_true());
        json_object_set_new(doc, "taskIds", json_array());
        json_object_set_new(doc, "supportCustomTasks", json_false());
        json_object_set_new(doc, "tasks", json_array());
    }
    rest = json_pack("{s:[], s:[], s:o, s:o, s:I, s:[], s:[], s:[]}", "attachments", "feedback",
                     "createdBy", actor_json(&ctx->actor), "updatedBy", actor_json(&ctx->actor),
                     "timestampValue", (json_int_t)ctx->now_ms, "activityIds", "commentIds",
                     "resolutionCmts");
    json_object_update(doc, rest);
    json_decref(rest);
    /* dueDate is absent until set; it is placed here when the body carries one */
    rest = json_pack("{s:b, s:[], s:[], s:s, s:s, s:{}, s:s}", "isBreached", 0, "queues",
                     "channel", "createdAt", iso, "updatedAt", iso, "currAssignee", "ETA", "");
    json_object_update(doc, rest);
    json_decref(rest);
    return doc;
}

/* Applies the body, checks what depends on the built document, and finishes it. */
static json_t *finish(json_t *doc, enum doc_kind kind, const json_t *body,
                      const struct doc_ctx *ctx, struct err *e)
{
    const json_t *due = json_object_get(body, "dueDate");
    if (due && !json_is_null(due)) {
        int64_t ms;
        if (doc_parse_due_date(due, "dueDate", &ms, e))
            goto fail;
        /* keep the vendor's member order: dueDate before isBreached */
        json_t *tail = json_object();
        const char *moved[] = {"isBreached", "queues", "channel", "createdAt", "updatedAt",
                               "currAssignee", "ETA"};
        for (size_t i = 0; i < sizeof moved / sizeof moved[0]; i++) {
            json_object_set(tail, moved[i], json_object_get(doc, moved[i]));
            json_object_del(doc, moved[i]);
        }
        json_object_set_new(doc, "dueDate", json_integer(ms));
        json_object_update(doc, tail);
        json_decref(tail);
    }
    if (check_read_only(body, doc, e) || doc_apply_body(doc, kind, body, ctx, e))
        goto fail;
    doc_finish_write(doc, ctx);
    if (doc_check_required_fields(doc, e))
        goto fail;
    return doc;
fail:
    json_decref(doc);
    return NULL;
}

json_t *doc_create_case(const json_t *body, const struct doc_ctx *ctx, struct err *e)
{
    if (doc_check_members(body, DOC_CASE, true, ctx->limits, e) ||
        check_required(body, case_required, sizeof case_required / sizeof case_required[0], e))
        return NULL;
    if (json_string_length(json_object_get(body, "name")) == 0) {
        err_set(e, ERR_INVALID_VALUE, "name", "name cannot be empty");
        return NULL;
    }
    const json_t *tmpl = config_template_or_err(
        ctx->config, DOC_CASE, json_string_value(json_object_get(body, "caseTmp")), "caseTmp", e);
    if (!tmpl)
        return NULL;
    /* API.md §6: createCase folds top-level emailId/phoneNumber into userInfo */
    json_t *patched = json_deep_copy(body);
    json_t *ui = json_object_get(patched, "userInfo");
    const char *fold[] = {"emailId", "phoneNumber"};
    for (size_t i = 0; i < 2; i++) {
        json_t *v = json_object_get(patched, fold[i]);
        if (v && !json_is_null(v) && !json_object_get(ui, fold[i]))
            json_object_set(ui, fold[i], v);
        json_object_del(patched, fold[i]);
    }
    json_t *doc = NULL;
    if (check_user_info(ui, e) == 0) {
        doc = skeleton(DOC_CASE, ctx, tmpl, NULL, "");
        doc = finish(doc, DOC_CASE, patched, ctx, e);
    }
    json_decref(patched);
    return doc;
}

json_t *doc_create_task(const json_t *body, const json_t *case_doc, const struct doc_ctx *ctx,
                        struct err *e)
{
    if (doc_check_members(body, DOC_TASK, true, ctx->limits, e) ||
        check_required(body, task_required, sizeof task_required / sizeof task_required[0], e))
        return NULL;
    if (!json_equal(json_object_get(body, "caseRefId"), json_object_get(case_doc, "refId"))) {
        err_set(e, ERR_INVALID_VALUE, "caseRefId", "caseRefId does not match case %s (%s)",
                json_string_value(json_object_get(case_doc, "_id")),
                json_string_value(json_object_get(case_doc, "refId")));
        return NULL;
    }
    /* the seed calls a task's template caseTmp; taskTmp wins when both are given */
    const char *tmpl_id = json_string_value(json_object_get(body, "taskTmp"));
    if (!tmpl_id)
        tmpl_id = json_string_value(json_object_get(body, "caseTmp"));
    if (!tmpl_id) {
        err_set(e, ERR_MISSING_MEMBER, "taskTmp", "taskTmp is required");
        return NULL;
    }
    const json_t *tmpl = config_template_or_err(ctx->config, DOC_TASK, tmpl_id, "taskTmp", e);
    if (!tmpl || check_user_info(json_object_get(body, "userInfo"), e))
        return NULL;
    const char *name = json_string_value(json_object_get(tmpl, "name"));
    json_t *doc = skeleton(DOC_TASK, ctx, tmpl, case_doc, name ? name : "");
    return finish(doc, DOC_TASK, body, ctx, e);
}

void doc_set_ref(json_t *doc, const char *prefix, long long n)
{
    char ref[32];
    snprintf(ref, sizeof ref, "%s%06lld", prefix, n);
    json_object_set_new(doc, "refId", json_string(ref));
}
