/* Unit tests for doc/create (API.md §5, §6): required members, userInfo rules and folding,
 * templates, defaults, the member order of a new document, tasks of a case, and refIds. */
#include <criterion/criterion.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "doc/config.h"
#include "doc/create.h"

#define NOW 1749032280725LL /* 2025-06-04T10:18:00.725Z */
#define NOW_ISO "2025-06-04T10:18:00.725Z"
#define DUE 1749118680725LL /* NOW + 1 day */
#define DUE_ISO "2025-06-05T10:18:00.725Z"
#define STREAM "st-6a1c2f3e-1b2c-4d5e-8f90-123456789abc"

static json_t *cfg;
static struct doc_ctx ctx;
static char ctm[64], ttm[64];

static void setup(void)
{
    cfg = config_default();
    memset(&ctx, 0, sizeof ctx);
    ctx.stream_id = STREAM;
    ctx.account_id = "acc-1";
    ctx.org_id = "o-1";
    ctx.config = cfg;
    ctx.actor.id = "u-agent";
    ctx.actor.name = "Agent";
    ctx.actor.prof_image = "";
    ctx.now_ms = NOW;
    snprintf(ctm, sizeof ctm, "%s",
             json_string_value(json_object_get(
                 json_array_get(json_object_get(cfg, "caseTemplates"), 0), "_id")));
    snprintf(ttm, sizeof ttm, "%s",
             json_string_value(json_object_get(
                 json_array_get(json_object_get(cfg, "taskTemplates"), 0), "_id")));
}

static void teardown(void)
{
    json_decref(cfg);
    cfg = NULL;
}

TestSuite(doc_create, .init = setup, .fini = teardown);

static json_t *obj(const char *text)
{
    json_error_t je;
    json_t *v = json_loads(text, 0, &je);
    cr_assert_not_null(v, "bad test JSON %s: %s", text, je.text);
    return v;
}

static const char *str_of(const json_t *o, const char *key)
{
    return json_string_value(json_object_get(o, key));
}

/* The body of the vendor's createCase sample, reduced to what is required. */
static json_t *case_body(void)
{
    json_t *b = json_pack("{s:s, s:s, s:s, s:{s:s, s:s}, s:s, s:I}", "caseTmp", ctm, "name",
                          "Printer Broken", "desc", "It jams", "userInfo", "name", "Ann", "_id",
                          "u-1", "source", "email", "dueDate", (json_int_t)DUE);
    cr_assert_not_null(b);
    return b;
}

static json_t *create_case_ok(const json_t *body)
{
    struct err e = {0};
    json_t *doc = doc_create_case(body, &ctx, &e);
    cr_assert_not_null(doc, "createCase refused: %s (%s)", e.msg, e.field);
    return doc;
}

static json_t *stored_case(void)
{
    json_t *body = case_body();
    json_t *doc = create_case_ok(body);
    doc_set_ref(doc, "CS", 12);
    json_decref(body);
    return doc;
}

static json_t *task_body(const json_t *case_doc)
{
    json_t *b = json_pack("{s:O, s:O, s:s, s:{s:s, s:s}, s:s}", "caseId",
                          json_object_get(case_doc, "_id"), "caseRefId",
                          json_object_get(case_doc, "refId"), "taskTmp", ttm, "userInfo", "name",
                          "Ann", "emailId", "ann@example.com", "source", "email");
    cr_assert_not_null(b);
    return b;
}

static json_t *field_named(const json_t *doc, const char *name)
{
    size_t i;
    json_t *f;
    json_array_foreach(json_object_get(doc, "fields"), i, f)
    {
        if (strcmp(str_of(json_object_get(f, "metaData"), "name"), name) == 0)
            return f;
    }
    cr_assert_fail("no field %s", name);
    return NULL;
}

/* ---------------------------------------------------------------- required members */

Test(doc_create, case_required_members_each_missing)
{
    const char *required[] = {"caseTmp", "name", "desc", "userInfo", "source", "dueDate"};
    for (size_t i = 0; i < 6; i++) {
        for (int as_null = 0; as_null < 2; as_null++) {
            json_t *body = case_body();
            if (as_null)
                json_object_set_new(body, required[i], json_null());
            else
                json_object_del(body, required[i]);
            struct err e = {0};
            json_t *doc = doc_create_case(body, &ctx, &e);
            cr_expect_null(doc, "created without %s", required[i]);
            json_decref(doc);
            /* name: null is refused by the schema (it cannot be cleared) */
            if (!(as_null && strcmp(required[i], "name") == 0))
                cr_expect_eq(e.code, ERR_MISSING_MEMBER, "%s (null=%d)", required[i], as_null);
            cr_expect_str_eq(e.field, required[i]);
            json_decref(body);
        }
    }
}

Test(doc_create, task_required_members_each_missing)
{
    json_t *c = stored_case();
    const char *required[] = {"caseId", "caseRefId", "userInfo", "source", "taskTmp"};
    for (size_t i = 0; i < 5; i++) {
        json_t *body = task_body(c);
        json_object_del(body, required[i]);
        struct err e = {0};
        json_t *doc = doc_create_task(body, c, &ctx, &e);
        cr_expect_null(doc, "created without %s", required[i]);
        json_decref(doc);
        cr_expect_eq(e.code, ERR_MISSING_MEMBER, "%s", required[i]);
        cr_expect_str_eq(e.field, required[i]);
        json_decref(body);
    }
    json_decref(c);
}

Test(doc_create, unknown_member_and_wrong_type)
{
    json_t *body = case_body();
    json_object_set_new(body, "priorty", json_string("High"));
    struct err e = {0};
    cr_expect_null(doc_create_case(body, &ctx, &e));
    cr_expect_eq(e.code, ERR_UNKNOWN_MEMBER);
    cr_expect_str_eq(e.field, "priorty");
    json_object_del(body, "priorty");
    json_object_set_new(body, "tags", json_string("hw"));
    memset(&e, 0, sizeof e);
    cr_expect_null(doc_create_case(body, &ctx, &e));
    cr_expect_eq(e.code, ERR_INVALID_TYPE);
    cr_expect_str_eq(e.field, "tags");
    json_decref(body);
}

/* ---------------------------------------------------------------- userInfo */

Test(doc_create, user_info_rules)
{
    const char *bad[] = {"{\"_id\":\"u-1\"}", "{\"name\":\"\",\"_id\":\"u-1\"}",
                         "{\"name\":\"Ann\"}", "{\"name\":\"Ann\",\"_id\":\"\"}",
                         "{\"name\":\"Ann\",\"emailId\":7}"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        json_t *body = case_body();
        json_object_set_new(body, "userInfo", obj(bad[i]));
        struct err e = {0};
        json_t *doc = doc_create_case(body, &ctx, &e);
        cr_expect_null(doc, "userInfo %s accepted", bad[i]);
        json_decref(doc);
        cr_expect_eq(e.code, ERR_INVALID_VALUE, "%s", bad[i]);
        cr_expect_str_eq(e.field, "userInfo");
        json_decref(body);
    }
    const char *good[] = {"{\"name\":\"Ann\",\"emailId\":\"a@b.c\"}",
                          "{\"name\":\"Ann\",\"phoneNumber\":\"+4930123\"}"};
    for (size_t i = 0; i < 2; i++) {
        json_t *body = case_body();
        json_object_set_new(body, "userInfo", obj(good[i]));
        json_t *doc = create_case_ok(body);
        cr_expect(json_equal(json_object_get(doc, "userInfo"), json_object_get(body, "userInfo")));
        json_decref(doc);
        json_decref(body);
    }
}

Test(doc_create, top_level_contact_folded_into_user_info)
{
    json_t *body = case_body();
    json_object_set_new(body, "userInfo", obj("{\"name\":\"Ann\"}"));
    json_object_set_new(body, "emailId", json_string("ann@example.com"));
    json_object_set_new(body, "phoneNumber", json_string("+4930123"));
    json_t *doc = create_case_ok(body);
    const json_t *ui = json_object_get(doc, "userInfo");
    cr_expect_str_eq(str_of(ui, "emailId"), "ann@example.com");
    cr_expect_str_eq(str_of(ui, "phoneNumber"), "+4930123");
    cr_expect_null(json_object_get(doc, "emailId"), "emailId is not a document member");
    cr_expect_null(json_object_get(doc, "phoneNumber"));
    cr_expect_null(json_object_get(json_object_get(body, "userInfo"), "emailId"),
                   "the caller's body was modified");
    json_decref(doc);

    /* userInfo's own emailId wins */
    json_object_set_new(body, "userInfo", obj("{\"name\":\"Ann\",\"emailId\":\"own@x.y\"}"));
    doc = create_case_ok(body);
    cr_expect_str_eq(str_of(json_object_get(doc, "userInfo"), "emailId"), "own@x.y");
    json_decref(doc);
    json_decref(body);
}

Test(doc_create, task_user_info_rules)
{
    json_t *c = stored_case();
    json_t *body = task_body(c);
    json_object_set_new(body, "userInfo", obj("{\"name\":\"Ann\"}"));
    struct err e = {0};
    cr_expect_null(doc_create_task(body, c, &ctx, &e));
    cr_expect_eq(e.code, ERR_INVALID_VALUE);
    cr_expect_str_eq(e.field, "userInfo");
    /* top-level emailId is a createCase convenience only */
    json_object_set_new(body, "emailId", json_string("a@b.c"));
    memset(&e, 0, sizeof e);
    cr_expect_null(doc_create_task(body, c, &ctx, &e));
    cr_expect_eq(e.code, ERR_UNKNOWN_MEMBER);
    json_decref(body);
    json_decref(c);
}

/* ---------------------------------------------------------------- templates */

Test(doc_create, unknown_or_wrong_kind_template)
{
    const char *bad[] = {"ctm-nope", ttm};
    for (size_t i = 0; i < 2; i++) {
        json_t *body = case_body();
        json_object_set_new(body, "caseTmp", json_string(bad[i]));
        struct err e = {0};
        cr_expect_null(doc_create_case(body, &ctx, &e), "%s", bad[i]);
        cr_expect_eq(e.code, ERR_INVALID_VALUE);
        cr_expect_str_eq(e.field, "caseTmp");
        json_decref(body);
    }
    json_t *c = stored_case();
    json_t *body = task_body(c);
    json_object_set_new(body, "taskTmp", json_string(ctm));
    struct err e = {0};
    cr_expect_null(doc_create_task(body, c, &ctx, &e));
    cr_expect_eq(e.code, ERR_INVALID_VALUE);
    cr_expect_str_eq(e.field, "taskTmp");
    json_decref(body);
    json_decref(c);
}

Test(doc_create, custom_template_fields_and_required_custom_field)
{
    struct err e = {0};
    const char *specs[] = {"Order Id:input:required", "Amount:number"};
    cr_assert_not_null(config_add_template(cfg, DOC_CASE, "ctm-refund", "Refund", specs, 2, &e));
    json_t *body = case_body();
    json_object_set_new(body, "caseTmp", json_string("ctm-refund"));
    memset(&e, 0, sizeof e);
    cr_expect_null(doc_create_case(body, &ctx, &e), "a required custom field was left empty");
    cr_expect_eq(e.code, ERR_MISSING_MEMBER);
    cr_expect_str_eq(e.field, "fields");

    json_object_set_new(body, "fields",
                        obj("[{\"metaData\":{\"name\":\"Order Id\"},\"selectedValue\":\"A-17\"}]"));
    json_t *doc = create_case_ok(body);
    cr_expect_str_eq(str_of(doc, "caseTmp"), "ctm-refund");
    cr_expect_eq(json_array_size(json_object_get(doc, "fields")), 5);
    cr_expect_str_eq(str_of(field_named(doc, "Order Id"), "selectedValue"), "A-17");
    cr_expect(json_is_null(json_object_get(field_named(doc, "Amount"), "selectedValue")),
              "a number field starts as null");
    json_decref(doc);
    json_decref(body);
}

/* ---------------------------------------------------------------- defaults */

Test(doc_create, case_defaults)
{
    json_t *body = case_body();
    json_t *doc = create_case_ok(body);
    const char *id = str_of(doc, "_id");
    cr_expect(id && strncmp(id, "ci-", 3) == 0 && strlen(id) == 38, "id %s", id);
    cr_expect_str_eq(str_of(doc, "caseTmp"), ctm);
    cr_expect_str_eq(str_of(doc, "name"), "Printer Broken");
    cr_expect_str_eq(str_of(doc, "lname"), "printer broken");
    cr_expect_str_eq(str_of(doc, "desc"), "It jams");
    cr_expect(json_equal(json_object_get(doc, "status"), config_status_by_name(cfg, "Open")));
    cr_expect(json_equal(json_object_get(doc, "priority"), config_priority_by_name(cfg, "Medium")));
    cr_expect_str_eq(str_of(doc, "assigneeType"), "unassigned");
    cr_expect(json_is_object(json_object_get(doc, "currAssignee")));
    cr_expect_eq(json_object_size(json_object_get(doc, "currAssignee")), 0);
    cr_expect_str_eq(str_of(doc, "language"), "en");
    cr_expect(json_is_true(json_object_get(doc, "isActive")));
    cr_expect_str_eq(str_of(doc, "conversationType"), "CASE");
    cr_expect_str_eq(str_of(doc, "iId"), STREAM);
    cr_expect_str_eq(str_of(doc, "accountId"), "acc-1");
    cr_expect_str_eq(str_of(doc, "orgId"), "o-1");
    cr_expect_str_eq(str_of(doc, "source"), "email");
    cr_expect_str_eq(str_of(doc, "refId"), "");
    cr_expect_str_eq(str_of(doc, "createdAt"), NOW_ISO);
    cr_expect_str_eq(str_of(doc, "updatedAt"), NOW_ISO);
    cr_expect_eq(json_integer_value(json_object_get(doc, "timestampValue")), NOW);
    cr_expect_eq(json_integer_value(json_object_get(doc, "dueDate")), DUE);
    cr_expect_str_eq(str_of(doc, "ETA"), DUE_ISO);
    cr_expect(json_is_false(json_object_get(doc, "isBreached")));
    cr_expect(json_is_false(json_object_get(doc, "supportCustomTasks")));
    json_t *actor = obj("{\"_id\":\"u-agent\",\"name\":\"Agent\",\"profImage\":\"\"}");
    cr_expect(json_equal(json_object_get(doc, "createdBy"), actor));
    cr_expect(json_equal(json_object_get(doc, "updatedBy"), actor));
    json_decref(actor);
    const char *arrays[] = {"sessIds",     "convIds",  "participants", "attachments",
                            "feedback",    "activityIds", "commentIds", "resolutionCmts",
                            "queues",      "channel",  "taskIds",      "tasks"};
    for (size_t i = 0; i < sizeof arrays / sizeof arrays[0]; i++) {
        const json_t *a = json_object_get(doc, arrays[i]);
        cr_expect(json_is_array(a) && json_array_size(a) == 0, "%s is not []", arrays[i]);
    }
    cr_expect_str_eq(str_of(field_named(doc, "title"), "selectedValue"), "Printer Broken");
    cr_expect_str_eq(str_of(field_named(doc, "description"), "selectedValue"), "It jams");
    cr_expect_str_eq(str_of(field_named(doc, "dueDate"), "selectedValue"), DUE_ISO);
    json_decref(doc);
    json_decref(body);
}

Test(doc_create, update_members_at_creation)
{
    json_t *body = case_body();
    json_t *more = json_pack("{s:{s:s}, s:{s:s}, s:[s], s:s, s:{s:s}}", "priority", "name",
                             "high", "status", "name", "in progress", "tags", "vip", "language",
                             "de", "currAssignee", "_id", "u-9");
    json_object_update(body, more);
    json_decref(more);
    json_object_set_new(body, "dueDate", json_string("2025-06-05T10:18:00.725Z"));
    json_t *doc = create_case_ok(body);
    cr_expect_str_eq(str_of(json_object_get(doc, "priority"), "name"), "High");
    cr_expect_str_eq(str_of(json_object_get(doc, "status"), "name"), "In-Progress");
    cr_expect_str_eq(json_string_value(json_array_get(json_object_get(doc, "tags"), 0)), "vip");
    cr_expect_str_eq(str_of(doc, "language"), "de");
    cr_expect_str_eq(str_of(doc, "assigneeType"), "agent");
    cr_expect(json_is_integer(json_object_get(doc, "dueDate")), "an ISO dueDate is stored as ms");
    cr_expect_eq(json_integer_value(json_object_get(doc, "dueDate")), DUE);
    json_decref(doc);

    json_object_set_new(body, "status", obj("{\"name\":\"Parked\"}"));
    struct err e = {0};
    cr_expect_null(doc_create_case(body, &ctx, &e));
    cr_expect_str_eq(e.field, "status");
    json_object_set_new(body, "status", obj("{\"name\":\"Open\"}"));
    json_object_set_new(body, "dueDate", json_string("next friday"));
    memset(&e, 0, sizeof e);
    cr_expect_null(doc_create_case(body, &ctx, &e));
    cr_expect_eq(e.code, ERR_INVALID_VALUE);
    cr_expect_str_eq(e.field, "dueDate");
    json_decref(body);
}

Test(doc_create, read_only_members_at_creation)
{
    json_t *body = case_body();
    json_object_set_new(body, "accountId", json_string("acc-1"));
    json_object_set_new(body, "iId", json_string(STREAM));
    json_object_set_new(body, "conversationType", json_string("CASE"));
    json_t *doc = create_case_ok(body);
    json_decref(doc);
    const char *moves[] = {"accountId", "iId", "lid", "_id", "orgId"};
    for (size_t i = 0; i < 5; i++) {
        json_t *b = case_body();
        json_object_set_new(b, moves[i], json_string("someone-else"));
        struct err e = {0};
        cr_expect_null(doc_create_case(b, &ctx, &e), "%s", moves[i]);
        cr_expect_eq(e.code, ERR_READ_ONLY, "%s", moves[i]);
        cr_expect_str_eq(e.field, moves[i]);
        json_decref(b);
    }
    json_decref(body);
}

/* API.md §5: the member order of the vendor's documents. */
static const char *const doc_order[] = {
    "_id",          "caseId",         "caseRefId",     "taskTmp",       "name",
    "lname",        "desc",           "tags",          "userInfo",      "sessIds",
    "accountId",    "iId",            "orgId",         "convIds",       "status",
    "source",       "language",       "conversationType", "fields",     "participants",
    "priority",     "refId",          "assigneeType",  "isCustTsk",     "isActive",
    "attachments",  "feedback",       "createdBy",     "updatedBy",     "timestampValue",
    "activityIds",  "commentIds",     "resolutionCmts", "dueDate",      "isBreached",
    "queues",       "channel",        "createdAt",     "updatedAt",     "currAssignee",
    "ETA"};

static size_t order_index(const char *key)
{
    for (size_t i = 0; i < sizeof doc_order / sizeof doc_order[0]; i++)
        if (strcmp(doc_order[i], key) == 0)
            return i;
    return (size_t)-1;
}

Test(doc_create, case_member_order)
{
    json_t *body = case_body();
    json_t *doc = create_case_ok(body);
    void *it = json_object_iter(doc);
    cr_assert_str_eq(json_object_iter_key(it), "_id", "the document starts with _id");
    /* the members a case shares with a task keep the task's order */
    size_t last = 0;
    for (; it; it = json_object_iter_next(doc, it)) {
        const char *k = json_object_iter_key(it);
        size_t at = order_index(k);
        if (at == (size_t)-1)
            continue;
        cr_expect_geq(at, last, "%s is out of order", k);
        last = at;
    }
    cr_expect_eq(last, order_index("ETA"), "ETA is last of the shared members");
    json_decref(doc);
    json_decref(body);
}

Test(doc_create, task_member_order_and_defaults)
{
    json_t *c = stored_case();
    json_t *body = task_body(c);
    struct err e = {0};
    json_t *t = doc_create_task(body, c, &ctx, &e);
    cr_assert_not_null(t, "%s", e.msg);
    size_t i = 0;
    const char *k;
    json_t *v;
    json_object_foreach(t, k, v)
    {
        if (strcmp(k, "dueDate") == 0 || i >= sizeof doc_order / sizeof doc_order[0])
            continue; /* no dueDate given: absent */
        if (strcmp(doc_order[i], "dueDate") == 0)
            i++;
        cr_expect_str_eq(k, doc_order[i], "member %zu", i);
        i++;
    }
    cr_expect_eq(i, sizeof doc_order / sizeof doc_order[0], "member count");
    const char *id = str_of(t, "_id");
    cr_expect(id && strncmp(id, "ti-", 3) == 0 && strlen(id) == 38, "id %s", id);
    cr_expect_str_eq(str_of(t, "caseId"), str_of(c, "_id"));
    cr_expect_str_eq(str_of(t, "caseRefId"), "CS000012");
    cr_expect_str_eq(str_of(t, "taskTmp"), ttm);
    cr_expect_str_eq(str_of(t, "name"), "Default Task", "a task's name defaults to its template's");
    cr_expect_str_eq(str_of(t, "desc"), "");
    cr_expect_str_eq(str_of(t, "conversationType"), "TASK");
    cr_expect(json_is_false(json_object_get(t, "isCustTsk")));
    cr_expect_null(json_object_get(t, "dueDate"));
    cr_expect_str_eq(str_of(t, "ETA"), "");
    cr_expect_null(json_object_get(t, "taskIds"), "taskIds is a case member");
    cr_expect_null(json_object_get(t, "caseTmp"));
    json_decref(t);
    json_decref(body);
    json_decref(c);
}

/* ---------------------------------------------------------------- tasks */

Test(doc_create, task_case_ref_must_match)
{
    json_t *c = stored_case();
    json_t *body = task_body(c);
    json_object_set_new(body, "caseRefId", json_string("CS000013"));
    struct err e = {0};
    cr_expect_null(doc_create_task(body, c, &ctx, &e));
    cr_expect_eq(e.code, ERR_INVALID_VALUE);
    cr_expect_str_eq(e.field, "caseRefId");
    cr_expect(strstr(e.msg, "CS000012"), "message: %s", e.msg);
    json_decref(body);
    json_decref(c);
}

Test(doc_create, task_with_case_tmp_and_name)
{
    json_t *c = stored_case();
    json_t *body = task_body(c);
    json_object_del(body, "taskTmp");
    json_object_set_new(body, "caseTmp", json_string(ttm));
    json_object_set_new(body, "name", json_string("Call Ann back"));
    struct err e = {0};
    json_t *t = doc_create_task(body, c, &ctx, &e);
    cr_assert_not_null(t, "%s", e.msg);
    cr_expect_str_eq(str_of(t, "taskTmp"), ttm, "the seed's caseTmp names the task template");
    cr_expect_str_eq(str_of(t, "name"), "Call Ann back");
    cr_expect_str_eq(str_of(t, "lname"), "call ann back");
    json_decref(t);
    json_decref(body);
    json_decref(c);
}

Test(doc_create, task_tmp_wins_over_case_tmp)
{
    /* Regression (fixed in 3c52b28): create picked the template from taskTmp and built the
     * fields from it, then doc_apply_body applied "caseTmp" as the task's taskTmp, so the document
     * named one template and carried another's fields. */
    struct err e = {0};
    const char *specs[] = {"Callback At:datetime"};
    cr_assert_not_null(config_add_template(cfg, DOC_TASK, "ttm-second", "Second", specs, 1, &e));
    json_t *c = stored_case();
    json_t *body = task_body(c);
    json_object_set_new(body, "caseTmp", json_string("ttm-second"));
    memset(&e, 0, sizeof e);
    json_t *t = doc_create_task(body, c, &ctx, &e);
    cr_assert_not_null(t, "%s", e.msg);
    cr_expect_str_eq(str_of(t, "taskTmp"), ttm);
    cr_expect_eq(json_array_size(json_object_get(t, "fields")), 3);
    cr_expect_str_eq(str_of(t, "name"), "Default Task");
    json_decref(t);
    /* with taskTmp given, a caseTmp that is no task template (a case's) is ignored */
    json_object_set_new(body, "caseTmp", json_string(ctm));
    memset(&e, 0, sizeof e);
    t = doc_create_task(body, c, &ctx, &e);
    cr_expect_not_null(t, "refused: %s (%s)", e.msg, e.field);
    cr_expect_str_eq(str_of(t, "taskTmp"), ttm);
    json_decref(t);
    json_decref(body);
    json_decref(c);
}

Test(doc_create, task_inactive_template_refused)
{
    json_object_set_new(
        json_array_get(json_object_get(cfg, "taskTemplates"), 0), "isActive", json_false());
    json_t *c = stored_case();
    json_t *body = task_body(c);
    struct err e = {0};
    cr_expect_null(doc_create_task(body, c, &ctx, &e));
    cr_expect_eq(e.code, ERR_INVALID_VALUE);
    cr_expect_str_eq(e.field, "taskTmp");
    json_decref(body);
    json_decref(c);
}

/* ---------------------------------------------------------------- refId */

Test(doc_create, set_ref)
{
    static const struct {
        const char *prefix;
        long long n;
        const char *want;
    } cases[] = {{"CS", 1, "CS000001"},
                 {"TS", 42, "TS000042"},
                 {"CS", 999999, "CS999999"},
                 {"CS", 1000000, "CS1000000"},
                 {"TS", 12345678, "TS12345678"}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        json_t *doc = json_pack("{s:s, s:s}", "_id", "ci-1", "refId", "");
        doc_set_ref(doc, cases[i].prefix, cases[i].n);
        cr_expect_str_eq(str_of(doc, "refId"), cases[i].want);
        cr_expect_str_eq(json_object_iter_key(json_object_iter(doc)), "_id");
        json_decref(doc);
    }
}
