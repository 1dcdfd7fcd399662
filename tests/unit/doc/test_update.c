/* Unit tests for doc/update (API.md §7): member and type checks, read-only echoes, the changes
 * list, no-op updates, managed members, and the activity a change leaves. The stored documents
 * come from doc_create_case/doc_create_task, as they do in the server. */
#include <criterion/criterion.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "doc/config.h"
#include "doc/create.h"
#include "doc/update.h"
#include "util/time.h"

#define T0 1749032280725LL /* 2025-06-04T10:18:00.725Z: creation */
#define T1 (T0 + 60000)    /* the update */
#define T1_ISO "2025-06-04T10:19:00.725Z"

static json_t *cfg;
static struct doc_ctx ctx;

static void setup(void)
{
    cfg = config_default();
    memset(&ctx, 0, sizeof ctx);
    ctx.stream_id = "st-6a1c2f3e-1b2c-4d5e-8f90-123456789abc";
    ctx.account_id = "acc-1";
    ctx.org_id = "o-1";
    ctx.config = cfg;
    ctx.actor.id = "u-creator";
    ctx.actor.name = "Creator";
    ctx.actor.prof_image = "";
    ctx.now_ms = T0;
}

static void teardown(void)
{
    json_decref(cfg);
    cfg = NULL;
}

TestSuite(doc_update, .init = setup, .fini = teardown);

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

static const char *case_tmp(void)
{
    return str_of(json_array_get(json_object_get(cfg, "caseTemplates"), 0), "_id");
}

/* A stored case CS000001 created at T0; the context then moves to T1 and another actor. */
static json_t *stored_case(void)
{
    char text[512];
    snprintf(text, sizeof text,
             "{\"caseTmp\":\"%s\",\"name\":\"Printer Broken\",\"desc\":\"It jams\","
             "\"userInfo\":{\"name\":\"Ann\",\"_id\":\"u-1\"},\"source\":\"email\","
             "\"dueDate\":%lld,\"tags\":[\"hw\"]}",
             case_tmp(), T0 + 86400000LL);
    json_t *body = obj(text);
    struct err e = {0};
    json_t *doc = doc_create_case(body, &ctx, &e);
    cr_assert_not_null(doc, "create: %s", e.msg);
    doc_set_ref(doc, "CS", 1);
    json_decref(body);
    ctx.now_ms = T1;
    ctx.actor.id = "u-editor";
    ctx.actor.name = "Editor";
    return doc;
}

/* Runs doc_update of patch (JSON text) on doc; returns its result, *changes set. */
static int update(json_t *doc, const char *patch_text, json_t **changes, struct err *e)
{
    json_t *patch = obj(patch_text);
    int rc = doc_update(doc, DOC_CASE, patch, &ctx, changes, NULL, e);
    json_decref(patch);
    return rc;
}

static const json_t *change_of(const json_t *changes, const char *field)
{
    size_t i;
    const json_t *c;
    json_array_foreach(changes, i, c) if (strcmp(str_of(c, "field"), field) == 0) return c;
    return NULL;
}

/* ---------------------------------------------------------------- refusals */

Test(doc_update, unknown_member_named)
{
    json_t *doc = stored_case();
    const char *bad[] = {"{\"descr\":\"typo\"}", "{\"emailId\":\"a@b.c\"}",
                         "{\"caseId\":\"ci-x\"}", "{\"isCustTsk\":true}"};
    const char *names[] = {"descr", "emailId", "caseId", "isCustTsk"};
    for (size_t i = 0; i < 4; i++) {
        json_t *changes = (json_t *)1;
        struct err e = {0};
        cr_expect_eq(update(doc, bad[i], &changes, &e), -1, "%s", bad[i]);
        cr_expect_null(changes);
        cr_expect_eq(e.code, ERR_UNKNOWN_MEMBER, "%s", bad[i]);
        cr_expect_str_eq(e.field, names[i]);
        cr_expect(strstr(e.msg, names[i]), "message: %s", e.msg);
    }
    json_decref(doc);
}

Test(doc_update, wrong_type_named_with_expected_type)
{
    json_t *doc = stored_case();
    static const struct {
        const char *patch, *member, *type;
    } bad[] = {{"{\"tags\":\"hw\"}", "tags", "array"},
               {"{\"tags\":[1]}", "tags", "string"},
               {"{\"userInfo\":[]}", "userInfo", "object"},
               {"{\"isActive\":\"yes\"}", "isActive", "boolean"},
               {"{\"dueDate\":true}", "dueDate", "number"},
               {"{\"name\":7}", "name", "string"}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        json_t *changes = NULL;
        struct err e = {0};
        cr_expect_eq(update(doc, bad[i].patch, &changes, &e), -1, "%s", bad[i].patch);
        cr_expect_eq(e.code, ERR_INVALID_TYPE, "%s", bad[i].patch);
        cr_expect_str_eq(e.field, bad[i].member);
        cr_expect(strstr(e.msg, bad[i].type), "message: %s", e.msg);
    }
    cr_expect_str_eq(json_string_value(json_array_get(json_object_get(doc, "tags"), 0)), "hw");
    json_decref(doc);
}

Test(doc_update, name_cannot_be_cleared)
{
    json_t *doc = stored_case();
    json_t *changes = NULL;
    struct err e = {0};
    cr_expect_eq(update(doc, "{\"name\":null}", &changes, &e), -1);
    cr_expect_eq(e.code, ERR_INVALID_VALUE);
    cr_expect_str_eq(e.field, "name");
    json_decref(doc);
}

Test(doc_update, read_only_echo_equal_is_accepted)
{
    json_t *doc = stored_case();
    json_t *patch = json_pack("{s:O, s:O, s:O, s:O, s:O, s:O, s:O, s:O, s:O}", "_id",
                              json_object_get(doc, "_id"), "iId", json_object_get(doc, "iId"),
                              "lid", json_object_get(doc, "iId"), "accountId",
                              json_object_get(doc, "accountId"), "orgId",
                              json_object_get(doc, "orgId"), "refId", json_object_get(doc, "refId"),
                              "conversationType", json_object_get(doc, "conversationType"),
                              "createdAt", json_object_get(doc, "createdAt"), "createdBy",
                              json_object_get(doc, "createdBy"));
    json_t *changes = NULL;
    struct err e = {0};
    cr_expect_eq(doc_update(doc, DOC_CASE, patch, &ctx, &changes, NULL, &e), 0, "%s", e.msg);
    cr_expect_eq(json_array_size(changes), 0);
    json_decref(changes);
    json_decref(patch);
    json_decref(doc);
}

Test(doc_update, read_only_different_is_refused_by_name)
{
    json_t *doc = stored_case();
    const char *members[] = {"_id", "iId", "lid", "accountId", "orgId", "refId",
                             "conversationType", "createdAt"};
    for (size_t i = 0; i < sizeof members / sizeof members[0]; i++) {
        char text[128];
        snprintf(text, sizeof text, "{\"desc\":\"changed\",\"%s\":\"other\"}", members[i]);
        json_t *changes = NULL;
        struct err e = {0};
        cr_expect_eq(update(doc, text, &changes, &e), -1, "%s", members[i]);
        cr_expect_eq(e.code, ERR_READ_ONLY, "%s", members[i]);
        cr_expect_str_eq(e.field, members[i]);
        cr_expect(strstr(e.msg, members[i]), "message: %s", e.msg);
    }
    json_t *changes = NULL;
    struct err e = {0};
    cr_expect_eq(update(doc, "{\"createdBy\":{\"_id\":\"u-x\"}}", &changes, &e), -1);
    cr_expect_eq(e.code, ERR_READ_ONLY);
    cr_expect_eq(update(doc, "{\"_id\":null}", &changes, &e), -1, "null is not the stored _id");
    cr_expect_eq(e.code, ERR_READ_ONLY);
    cr_expect_str_eq(str_of(doc, "desc"), "It jams", "a refused update changed the document");
    json_decref(doc);
}

/* A client that parses createdAt and writes it again sends the same instant in another form. */
Test(doc_update, read_only_created_at_is_compared_as_an_instant)
{
    json_t *doc = stored_case();
    const char *stored = str_of(doc, "createdAt");
    int64_t ms;
    cr_assert_eq(time_parse_iso(stored, &ms), 0, "%s", stored);
    char plus[64], micro[64], other[TIME_ISO_LEN], body[160];
    snprintf(plus, sizeof plus, "%.23s+00:00", stored);  /* 2025-06-04T10:18:00.725+00:00 */
    snprintf(micro, sizeof micro, "%.23s000Z", stored);  /* microseconds */
    time_format_iso(ms + 1, other);
    const char *same[] = {plus, micro};
    for (size_t i = 0; i < 2; i++) {
        snprintf(body, sizeof body, "{\"createdAt\":\"%s\"}", same[i]);
        json_t *changes = NULL;
        struct err e = {0};
        cr_expect_eq(update(doc, body, &changes, &e), 0, "%s: %s", same[i], e.msg);
        cr_expect_eq(json_array_size(changes), 0);
        json_decref(changes);
    }
    cr_expect_str_eq(str_of(doc, "createdAt"), stored, "the stored text stays");
    snprintf(body, sizeof body, "{\"createdAt\":\"%s\"}", other);
    json_t *changes = NULL;
    struct err e = {0};
    cr_expect_eq(update(doc, body, &changes, &e), -1, "a millisecond later is another instant");
    cr_expect_eq(e.code, ERR_READ_ONLY);
    json_decref(doc);
}

/* ---------------------------------------------------------------- no-ops */

Test(doc_update, empty_patch_is_a_noop)
{
    json_t *doc = stored_case();
    json_t *before = json_deep_copy(doc);
    json_t *changes = NULL;
    struct err e = {0};
    cr_assert_eq(update(doc, "{}", &changes, &e), 0, "%s", e.msg);
    cr_assert(json_is_array(changes));
    cr_expect_eq(json_array_size(changes), 0);
    cr_expect(json_equal(doc, before), "a no-op must not touch updatedAt/updatedBy");
    json_decref(changes);
    json_decref(before);
    json_decref(doc);
}

Test(doc_update, whole_document_echo_is_a_noop)
{
    json_t *doc = stored_case();
    json_t *patch = json_deep_copy(doc);
    /* a client echoing an old copy also sends stale managed members */
    json_object_set_new(patch, "updatedAt", json_string("2000-01-01T00:00:00.000Z"));
    json_object_set_new(patch, "lname", json_string("whatever"));
    json_object_set_new(patch, "status", json_pack("{s:s}", "name", "open"));
    json_object_set_new(patch, "dueDate",
                        json_string("2025-06-05T10:18:00.725Z")); /* same instant, ISO */
    json_t *before = json_deep_copy(doc);
    json_t *changes = NULL;
    struct err e = {0};
    cr_assert_eq(doc_update(doc, DOC_CASE, patch, &ctx, &changes, NULL, &e), 0, "%s", e.msg);
    char *dump = json_dumps(changes, 0);
    cr_expect_eq(json_array_size(changes), 0, "changes: %s", dump);
    free(dump);
    cr_expect_str_eq(str_of(doc, "updatedAt"), str_of(before, "updatedAt"));
    cr_expect_str_eq(str_of(doc, "lname"), "printer broken");
    json_decref(changes);
    json_decref(before);
    json_decref(patch);
    json_decref(doc);
}

Test(doc_update, echo_of_a_currassignee_stored_before_its_type_check)
{
    /* {"_id": 5} is refused now, but a record may hold one from before: echoing it is no change */
    json_t *doc = stored_case();
    json_object_set_new(doc, "currAssignee", json_pack("{s:i}", "_id", 5));
    json_object_set_new(doc, "assigneeType", json_string("agent"));
    json_t *changes = NULL;
    struct err e = {0};
    cr_assert_eq(update(doc, "{\"currAssignee\":{\"_id\":5},\"desc\":\"echoed\"}", &changes, &e), 0,
                 "%s", e.msg);
    cr_expect_not_null(change_of(changes, "desc"));
    cr_expect_null(change_of(changes, "currAssignee"));
    json_decref(changes);
    changes = NULL;
    cr_expect_eq(update(doc, "{\"currAssignee\":{\"_id\":6}}", &changes, &e), -1);
    cr_expect_eq(e.code, ERR_INVALID_TYPE);
    json_decref(changes);
    json_decref(doc);
}

/* ---------------------------------------------------------------- changes */

Test(doc_update, changes_list_old_and_new)
{
    json_t *doc = stored_case();
    json_t *old_priority = json_deep_copy(json_object_get(doc, "priority"));
    json_t *changes = NULL;
    struct err e = {0};
    cr_assert_eq(update(doc, "{\"priority\":{\"name\":\"high\"},\"desc\":\"Toner\"}", &changes, &e),
                 0, "%s", e.msg);
    /* in the document's order: desc, then the Description field that mirrors it, then priority */
    cr_assert_eq(json_array_size(changes), 3);
    cr_expect_str_eq(str_of(json_array_get(changes, 0), "field"), "desc");
    cr_expect_str_eq(str_of(json_array_get(changes, 1), "field"), "fields");
    cr_expect_str_eq(str_of(json_array_get(changes, 2), "field"), "priority");
    const json_t *d = change_of(changes, "desc");
    cr_expect_str_eq(str_of(d, "old"), "It jams");
    cr_expect_str_eq(str_of(d, "new"), "Toner");
    const json_t *p = change_of(changes, "priority");
    cr_expect(json_equal(json_object_get(p, "old"), old_priority));
    cr_expect(json_equal(json_object_get(p, "new"), config_priority_by_name(cfg, "High")));
    cr_expect(json_equal(json_object_get(doc, "priority"), config_priority_by_name(cfg, "High")));
    json_decref(old_priority);
    json_decref(changes);
    json_decref(doc);
}

Test(doc_update, write_recomputes_managed_members)
{
    json_t *doc = stored_case();
    json_t *changes = NULL;
    struct err e = {0};
    cr_assert_eq(update(doc, "{\"name\":\"Scanner Broken\",\"lname\":\"ignored\","
                             "\"isBreached\":true,\"ETA\":\"x\"}",
                        &changes, &e),
                 0, "%s", e.msg);
    cr_expect_eq(json_array_size(changes), 2, "name and the Title field that mirrors it");
    cr_expect_str_eq(str_of(doc, "lname"), "scanner broken");
    cr_expect_str_eq(str_of(doc, "updatedAt"), T1_ISO);
    cr_expect_eq(json_integer_value(json_object_get(doc, "timestampValue")), T1);
    cr_expect_str_eq(str_of(json_object_get(doc, "updatedBy"), "_id"), "u-editor");
    cr_expect_str_eq(str_of(json_object_get(doc, "createdBy"), "_id"), "u-creator");
    cr_expect_str_eq(str_of(doc, "ETA"), "2025-06-05T10:18:00.725Z");
    cr_expect(json_is_false(json_object_get(doc, "isBreached")));
    const json_t *title = json_array_get(json_object_get(doc, "fields"), 0);
    cr_expect_str_eq(str_of(title, "selectedValue"), "Scanner Broken");
    json_decref(changes);
    json_decref(doc);
}

/* A write after one from a clock ahead keeps its updatedAt after the stored one (now_ms raised)
 * but says isBreached for the clock (clock_ms), as every read does: it answered a breach no
 * read or overdue filter saw. */
Test(doc_update, is_breached_for_the_clock_not_the_raised_write_time)
{
    json_t *doc = stored_case(); /* due T0 + 1 day */
    json_t *changes = NULL;
    struct err e = {0};
    ctx.now_ms = T0 + 2 * 86400000LL; /* the stored version's time, ahead of the clock */
    ctx.clock_ms = T0 + 3600000LL;
    cr_assert_eq(update(doc, "{\"name\":\"Scanner Broken\"}", &changes, &e), 0, "%s", e.msg);
    cr_expect_eq(json_integer_value(json_object_get(doc, "timestampValue")), T0 + 2 * 86400000LL);
    cr_expect(json_is_false(json_object_get(doc, "isBreached")), "not due yet by the clock");
    json_decref(changes);
    changes = NULL;
    ctx.clock_ms = T0 + 2 * 86400000LL; /* and once the clock is past the due date */
    cr_assert_eq(update(doc, "{}", &changes, &e), 0, "%s", e.msg);
    cr_expect(json_is_true(json_object_get(doc, "isBreached")));
    ctx.clock_ms = 0;
    json_decref(changes);
    json_decref(doc);
}

Test(doc_update, due_date_cleared)
{
    json_t *doc = stored_case();
    json_t *changes = NULL;
    struct err e = {0};
    cr_assert_eq(update(doc, "{\"dueDate\":null}", &changes, &e), 0, "%s", e.msg);
    cr_assert_eq(json_array_size(changes), 2, "dueDate and the Due Date field");
    const json_t *c = change_of(changes, "dueDate");
    cr_assert_not_null(c);
    cr_expect_eq(json_integer_value(json_object_get(c, "old")), T0 + 86400000LL);
    cr_expect(json_is_null(json_object_get(c, "new")));
    cr_expect_null(json_object_get(doc, "dueDate"));
    cr_expect_str_eq(str_of(doc, "ETA"), "");
    json_decref(changes);
    json_decref(doc);
}

Test(doc_update, due_date_in_past_breaches)
{
    json_t *doc = stored_case();
    json_t *changes = NULL;
    struct err e = {0};
    cr_assert_eq(update(doc, "{\"dueDate\":\"2025-06-01T00:00:00Z\"}", &changes, &e), 0, "%s",
                 e.msg);
    cr_expect(json_is_true(json_object_get(doc, "isBreached")));
    cr_expect_str_eq(str_of(doc, "ETA"), "2025-06-01T00:00:00.000Z");
    json_decref(changes);
    changes = NULL;
    cr_assert_eq(update(doc, "{\"status\":{\"name\":\"Resolved\"}}", &changes, &e), 0, "%s",
                 e.msg);
    cr_expect(json_is_false(json_object_get(doc, "isBreached")));
    json_decref(changes);
    json_decref(doc);
}

Test(doc_update, failed_apply_leaves_no_changes)
{
    json_t *doc = stored_case();
    json_t *changes = (json_t *)1;
    struct err e = {0};
    cr_expect_eq(update(doc, "{\"desc\":\"x\",\"status\":{\"name\":\"Parked\"}}", &changes, &e), -1);
    cr_expect_null(changes);
    cr_expect_eq(e.code, ERR_INVALID_VALUE);
    cr_expect_str_eq(e.field, "status");
    json_decref(doc);
}

Test(doc_update, task_update_and_task_members)
{
    json_t *c = stored_case();
    ctx.now_ms = T0;
    char text[512];
    snprintf(text, sizeof text,
             "{\"caseId\":\"%s\",\"caseRefId\":\"CS000001\",\"taskTmp\":\"%s\","
             "\"userInfo\":{\"name\":\"Ann\",\"_id\":\"u-1\"},\"source\":\"email\"}",
             str_of(c, "_id"),
             str_of(json_array_get(json_object_get(cfg, "taskTemplates"), 0), "_id"));
    json_t *body = obj(text);
    struct err e = {0};
    json_t *task = doc_create_task(body, c, &ctx, &e);
    cr_assert_not_null(task, "%s", e.msg);
    json_decref(body);

    /* caseId and caseRefId are read-only on a task: equal echo fine, a move refused */
    snprintf(text, sizeof text, "{\"caseId\":\"%s\",\"isCustTsk\":true}", str_of(c, "_id"));
    json_t *patch = obj(text);
    json_t *changes = NULL;
    cr_assert_eq(doc_update(task, DOC_TASK, patch, &ctx, &changes, NULL, &e), 0, "%s", e.msg);
    cr_expect_eq(json_array_size(changes), 1);
    cr_expect(json_is_true(json_object_get(task, "isCustTsk")));
    json_decref(changes);
    json_decref(patch);
    patch = obj("{\"caseRefId\":\"CS000002\"}");
    memset(&e, 0, sizeof e);
    cr_expect_eq(doc_update(task, DOC_TASK, patch, &ctx, &changes, NULL, &e), -1);
    cr_expect_eq(e.code, ERR_READ_ONLY);
    cr_expect_str_eq(e.field, "caseRefId");
    json_decref(patch);
    json_decref(task);
    json_decref(c);
}

/* The selectedValue of the system field metaData.name of doc. */
static const char *field_value_of(const json_t *doc, const char *name)
{
    size_t i;
    const json_t *f;
    json_array_foreach(json_object_get(doc, "fields"), i, f)
    {
        if (strcmp(str_of(json_object_get(f, "metaData"), "name"), name) == 0)
            return str_of(f, "selectedValue");
    }
    return NULL;
}

/* The document before the patch shares members with the document (a shallow copy): what the
 * update changes in place (field values, through the mirrors and a fields patch; activityIds)
 * must be copied first, or the old values and the activity's "old" would be the new ones. */
Test(doc_update, the_document_before_keeps_the_old_field_values)
{
    static const char *const patches[] = {
        "{\"desc\":\"Toner\"}",
        "{\"fields\":[{\"metaData\":{\"name\":\"description\"},\"selectedValue\":\"Toner\"},"
        "{\"metaData\":{\"name\":\"description\"},\"selectedValue\":\"Toner\"}]}",
        "{\"desc\":\"Toner\",\"name\":\"Scanner Broken\"}",
    };
    for (size_t k = 0; k < sizeof patches / sizeof patches[0]; k++) {
        json_t *doc = stored_case();
        json_t *patch = obj(patches[k]), *changes = NULL, *before = NULL;
        struct err e = {0};
        cr_assert_eq(doc_update(doc, DOC_CASE, patch, &ctx, &changes, &before, &e), 0, "%s",
                     e.msg);
        cr_expect_str_eq(field_value_of(doc, "description"), "Toner", "%s", patches[k]);
        cr_expect_str_eq(field_value_of(before, "description"), "It jams", "%s", patches[k]);
        cr_expect_str_eq(field_value_of(before, "title"), "Printer Broken", "%s", patches[k]);
        const json_t *c = change_of(changes, "fields");
        cr_assert_not_null(c, "%s", patches[k]);
        json_t *old = json_pack("{s:O}", "fields", json_object_get(c, "old"));
        cr_expect_str_eq(field_value_of(old, "description"), "It jams", "%s", patches[k]);
        json_decref(old);
        cr_expect(json_equal(json_object_get(c, "new"), json_object_get(doc, "fields")));
        /* the activity's id goes to the document only */
        json_t *a = doc_activity(doc, DOC_CASE, changes, &ctx);
        cr_expect_eq(json_array_size(json_object_get(doc, "activityIds")), 1);
        cr_expect_eq(json_array_size(json_object_get(before, "activityIds")), 0, "%s",
                     patches[k]);
        json_decref(a);
        json_decref(before);
        json_decref(changes);
        json_decref(patch);
        json_decref(doc);
    }
}

/* The changes list as a look-up of every member in the other document finds it (doc_update's
 * diff walks the two in step while their keys agree): after's members in order, managed ones
 * left out, then members before has and after lacks. */
static json_t *changes_by_lookup(const json_t *before, const json_t *after, enum doc_kind kind)
{
    json_t *changes = json_array();
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)after, k, v)
    {
        const struct doc_member *m = doc_member_find(k, kind);
        json_t *old = json_object_get(before, k);
        if ((m && m->access == DOC_MANAGED) || (old && doc_same_value(old, v)))
            continue;
        json_array_append_new(changes, json_pack("{s:s, s:O, s:O}", "field", k, "old",
                                                 old ? old : json_null(), "new", v));
    }
    json_object_foreach((json_t *)before, k, v)
    {
        if (!json_object_get(after, k))
            json_array_append_new(changes, json_pack("{s:s, s:O, s:n}", "field", k, "old", v,
                                                     "new"));
    }
    return changes;
}

Test(doc_update, changes_pair_members_added_removed_and_replaced)
{
    /* members replaced in place, removed (dueDate cleared) before others change, and added
     * (members a created case lacks) after the document's own */
    static const char *const patches[] = {
        "{\"desc\":\"Toner\"}",
        "{\"priority\":{\"name\":\"high\"},\"desc\":\"Toner\"}",
        "{\"dueDate\":null}",
        "{\"dueDate\":null,\"desc\":\"x\",\"tags\":[\"a\",\"b\"],\"name\":\"Scanner\"}",
        "{\"currAssignee\":{\"_id\":\"u-9\",\"name\":\"Bo\"}}",
        "{\"queues\":[\"q-1\"],\"channel\":[\"voice\"],\"desc\":\"y\"}",
        "{\"queues\":[\"q-1\"],\"dueDate\":null,\"source\":\"chat\"}",
        "{\"status\":{\"name\":\"Resolved\"},\"tags\":[]}",
        "{}",
    };
    for (size_t k = 0; k < sizeof patches / sizeof patches[0]; k++) {
        json_t *doc = stored_case();
        json_t *patch = obj(patches[k]), *changes = NULL, *before = NULL;
        struct err e = {0};
        cr_assert_eq(doc_update(doc, DOC_CASE, patch, &ctx, &changes, &before, &e), 0, "%s: %s",
                     patches[k], e.msg);
        json_t *want = changes_by_lookup(before, doc, DOC_CASE);
        char *got_text = json_dumps(changes, JSON_COMPACT);
        char *want_text = json_dumps(want, JSON_COMPACT);
        cr_expect_str_eq(got_text, want_text, "%s", patches[k]);
        cr_expect_eq(json_array_size(changes) == 0, k == sizeof patches / sizeof patches[0] - 1,
                     "%s", patches[k]);
        free(got_text);
        free(want_text);
        json_decref(want);
        json_decref(before);
        json_decref(changes);
        json_decref(patch);
        json_decref(doc);
    }
}

Test(doc_update, changes_pair_a_member_removed_and_added_again)
{
    /* a task's Due Date field is optional: the first entry empties it, which removes dueDate,
     * and the second sets it again, which adds dueDate after every other member */
    json_t *c = stored_case();
    char text[512];
    snprintf(text, sizeof text,
             "{\"caseId\":\"%s\",\"caseRefId\":\"CS000001\",\"taskTmp\":\"%s\","
             "\"userInfo\":{\"name\":\"Ann\",\"_id\":\"u-1\"},\"source\":\"email\","
             "\"dueDate\":%lld}",
             str_of(c, "_id"),
             str_of(json_array_get(json_object_get(cfg, "taskTemplates"), 0), "_id"),
             T0 + 86400000LL);
    json_t *body = obj(text);
    struct err e = {0};
    json_t *task = doc_create_task(body, c, &ctx, &e);
    cr_assert_not_null(task, "%s", e.msg);
    json_t *patch = obj("{\"fields\":[{\"metaData\":{\"name\":\"dueDate\"},"
                        "\"selectedValue\":\"\"},{\"metaData\":{\"name\":\"dueDate\"},"
                        "\"selectedValue\":\"2025-07-01T00:00:00.000Z\"}],\"desc\":\"z\"}");
    json_t *changes = NULL, *before = NULL;
    cr_assert_eq(doc_update(task, DOC_TASK, patch, &ctx, &changes, &before, &e), 0, "%s", e.msg);
    const char *last = NULL, *k;
    json_t *v;
    json_object_foreach(task, k, v) last = k;
    cr_assert_str_eq(last, "dueDate", "the case this test is for: dueDate added again, last");
    json_t *want = changes_by_lookup(before, task, DOC_TASK);
    char *got_text = json_dumps(changes, JSON_COMPACT), *want_text = json_dumps(want, JSON_COMPACT);
    cr_expect_str_eq(got_text, want_text);
    cr_expect_not_null(change_of(changes, "dueDate"));
    free(got_text);
    free(want_text);
    json_decref(want);
    json_decref(before);
    json_decref(changes);
    json_decref(patch);
    json_decref(body);
    json_decref(task);
    json_decref(c);
}

/* The mirrors are synced once an update (doc_update, before its diff; doc_stamp_write after),
 * and lname and ETA are replaced only when their text changes: an unchanged one stays the very
 * value the document before holds, whose stored text an update copies (jtext_dump_known). */
Test(doc_update, unchanged_mirrors_keep_their_values)
{
    json_t *doc = stored_case();
    json_t *patch = obj("{\"desc\":\"Toner\"}"), *changes = NULL, *before = NULL;
    struct err e = {0};
    cr_assert_eq(doc_update(doc, DOC_CASE, patch, &ctx, &changes, &before, &e), 0, "%s", e.msg);
    cr_expect_eq(json_object_get(doc, "lname"), json_object_get(before, "lname"));
    cr_expect_eq(json_object_get(doc, "ETA"), json_object_get(before, "ETA"));
    cr_expect_str_eq(str_of(doc, "updatedAt"), T1_ISO);
    json_decref(patch);
    json_decref(changes);
    json_decref(before);
    /* a name and a dueDate that change move them */
    patch = obj("{\"name\":\"Scanner\",\"dueDate\":0}");
    cr_assert_eq(doc_update(doc, DOC_CASE, patch, &ctx, &changes, &before, &e), 0, "%s", e.msg);
    cr_expect_str_eq(str_of(doc, "lname"), "scanner");
    cr_expect_str_eq(str_of(doc, "ETA"), "1970-01-01T00:00:00.000Z");
    cr_expect_str_eq(field_value_of(doc, "dueDate"), "1970-01-01T00:00:00.000Z");
    cr_expect_str_eq(str_of(before, "lname"), "printer broken");
    json_decref(patch);
    json_decref(changes);
    json_decref(before);
    json_decref(doc);
}

/* ---------------------------------------------------------------- activity */

Test(doc_update, activity_records_the_change)
{
    json_t *doc = stored_case();
    json_t *changes = NULL;
    struct err e = {0};
    cr_assert_eq(update(doc, "{\"desc\":\"Toner\"}", &changes, &e), 0, "%s", e.msg);
    json_t *stored_ids = json_incref(json_object_get(doc, "activityIds"));
    json_t *a = doc_activity(doc, DOC_CASE, changes, &ctx);
    cr_assert_not_null(a);
    /* a new array: the one read may be written back as the text it was read from */
    cr_expect_neq(json_object_get(doc, "activityIds"), stored_ids);
    cr_expect_eq(json_array_size(stored_ids), 0);
    json_decref(stored_ids);
    const char *id = str_of(a, "_id");
    cr_assert_not_null(id);
    cr_expect_eq(strncmp(id, "ac-", 3), 0, "id %s", id);
    cr_expect_eq(strlen(id), 3 + 35, "id %s is not 7-4-4-4-12", id);
    const json_t *ids = json_object_get(doc, "activityIds");
    cr_assert_eq(json_array_size(ids), 1);
    cr_expect_str_eq(json_string_value(json_array_get(ids, 0)), id);
    cr_expect_str_eq(str_of(a, "recordId"), str_of(doc, "_id"));
    cr_expect_str_eq(str_of(a, "refId"), "CS000001");
    cr_expect_str_eq(str_of(a, "kind"), "case");
    cr_expect_str_eq(str_of(json_object_get(a, "actor"), "_id"), "u-editor");
    cr_expect_str_eq(str_of(json_object_get(a, "actor"), "name"), "Editor");
    cr_expect_str_eq(str_of(a, "createdAt"), T1_ISO);
    cr_expect(json_equal(json_object_get(a, "changes"), changes));
    /* the members in the order clients have seen them (their text is stored as it is made) */
    json_t *want = json_pack("{s:s, s:O, s:O, s:s, s:{s:s, s:s, s:s}, s:s, s:I, s:O}", "_id", id,
                             "recordId", json_object_get(doc, "_id"), "refId",
                             json_object_get(doc, "refId"), "kind", "case", "actor", "_id",
                             "u-editor", "name", "Editor", "profImage", "", "createdAt", T1_ISO,
                             "timestampValue", (json_int_t)T1, "changes", changes);
    char *got_text = json_dumps(a, JSON_COMPACT), *want_text = json_dumps(want, JSON_COMPACT);
    cr_expect_str_eq(got_text, want_text);
    free(got_text);
    free(want_text);
    json_decref(want);
    /* and a change's members: field, old, new */
    char *change_text = json_dumps(json_array_get(changes, 0), JSON_COMPACT);
    cr_expect_str_eq(change_text, "{\"field\":\"desc\",\"old\":\"It jams\",\"new\":\"Toner\"}");
    free(change_text);

    json_t *b = doc_activity(doc, DOC_CASE, changes, &ctx);
    cr_expect_str_neq(str_of(b, "_id"), id, "activity ids are fresh");
    cr_expect_eq(json_array_size(json_object_get(doc, "activityIds")), 2);
    json_decref(b);
    json_decref(a);
    json_decref(changes);
    json_decref(doc);
}
