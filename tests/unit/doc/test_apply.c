/* Unit tests for doc/apply (API.md §3, §5, §7): dueDate parsing, setting one member or a whole
 * body (null clears, status/priority resolution, fields, currAssignee), and the server-managed
 * members every write recomputes. Documents are built by hand here so create is not involved. */
#include <criterion/criterion.h>

#include <stdio.h>
#include <string.h>

#include "doc/apply.h"
#include "doc/config.h"

#define NOW 1749032280725LL /* 2025-06-04T10:18:00.725Z */
#define NOW_ISO "2025-06-04T10:18:00.725Z"
#define DAY 86400000LL

static json_t *cfg;
static struct doc_ctx ctx;

static void setup(void)
{
    cfg = config_default();
    struct err e;
    const char *specs[] = {"Amount:number", "Paid:checkbox", "Order Id:input:required",
                           "Follow Up:datetime"};
    cr_assert_not_null(config_add_template(cfg, DOC_CASE, "ctm-refund", "Refund", specs, 4, &e),
                       "%s", e.msg);
    memset(&ctx, 0, sizeof ctx);
    ctx.stream_id = "st-6a1c2f3e-1b2c-4d5e-8f90-123456789abc";
    ctx.account_id = "acc-1";
    ctx.org_id = "o-1";
    ctx.config = cfg;
    ctx.actor.id = "u-agent-7";
    ctx.actor.name = "Agent Seven";
    ctx.actor.prof_image = "https://img/7.png";
    ctx.now_ms = NOW;
}

static void teardown(void)
{
    json_decref(cfg);
    cfg = NULL;
}

TestSuite(doc_apply, .init = setup, .fini = teardown);

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

static const struct doc_member *member(const char *name, enum doc_kind kind)
{
    const struct doc_member *m = doc_member_find(name, kind);
    cr_assert_not_null(m, "no member %s", name);
    return m;
}

/* A minimal stored case of the Refund template: Title/Description/Due Date + custom fields. */
static json_t *make_case(void)
{
    const json_t *tmpl = config_template(cfg, DOC_CASE, "ctm-refund");
    json_t *fields = json_deep_copy(json_object_get(tmpl, "fields"));
    size_t i;
    json_t *f;
    json_array_foreach(fields, i, f) json_object_set_new(f, "selectedValue", json_string(""));
    json_t *doc = json_pack(
        "{s:s, s:s, s:s, s:s, s:s, s:[s], s:{s:s, s:s}, s:s, s:s, s:s, s:O, s:s, s:o, s:O, s:s,"
        " s:b, s:I, s:b, s:{}, s:s}",
        "_id", "ci-1234567-89ab-4cde-8f01-23456789abcd", "caseTmp", "ctm-refund", "name",
        "Printer Broken", "lname", "printer broken", "desc", "It jams", "tags", "hw", "userInfo",
        "_id", "u-1", "name", "Ann", "accountId", "acc-1", "iId", ctx.stream_id, "refId",
        "CS000007", "status", config_status_by_name(cfg, "Open"), "source", "email", "fields",
        fields, "priority", config_priority_by_name(cfg, "Medium"), "assigneeType", "unassigned",
        "isActive", 1, "dueDate", (json_int_t)(NOW + DAY), "isBreached", 0, "currAssignee",
        "ETA", "");
    cr_assert_not_null(doc);
    return doc;
}

static json_t *field_named(json_t *doc, const char *name)
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

/* Applies {"<name>": <value text>} with doc_apply_member; returns its result. */
static int apply_one(json_t *doc, const char *name, const char *value, struct err *e)
{
    char text[1024];
    snprintf(text, sizeof text, "{\"%s\": %s}", name, value);
    json_t *body = obj(text);
    int rc = doc_apply_member(doc, DOC_CASE, member(name, DOC_CASE), json_object_get(body, name),
                              body, &ctx, e);
    json_decref(body);
    return rc;
}

/* ---------------------------------------------------------------- doc_parse_due_date */

static int parse(const char *text, int64_t *ms, struct err *e)
{
    json_t *v = json_loads(text, JSON_DECODE_ANY, NULL);
    cr_assert_not_null(v, "bad test JSON %s", text);
    int rc = doc_parse_due_date(v, "dueDate", ms, e);
    json_decref(v);
    return rc;
}

Test(doc_apply, due_date_accepts_ms_and_iso)
{
    static const struct {
        const char *text;
        int64_t ms;
    } ok[] = {
        {"1749032280725", 1749032280725LL},
        {"0", 0},
        {"1749032280725.0", 1749032280725LL},
        {"253402300799999", 253402300799999LL}, /* 9999-12-31T23:59:59.999Z */
        {"\"2025-06-04T10:18:00.725Z\"", 1749032280725LL},
        {"\"2025-06-04T12:18:00.725+02:00\"", 1749032280725LL},
        {"\"2025-06-04\"", 1748995200000LL},
        {"\"2025-06-04T10:18:00Z\"", 1749032280000LL},
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        int64_t ms = -7;
        struct err e = {0};
        cr_expect_eq(parse(ok[i].text, &ms, &e), 0, "%s refused: %s", ok[i].text, e.msg);
        cr_expect_eq(ms, ok[i].ms, "%s gave %lld", ok[i].text, (long long)ms);
    }
}

Test(doc_apply, due_date_refusals)
{
    const char *bad[] = {"-1",           "1.5",           "253402300800000", "1e300",
                         "\"tomorrow\"", "\"2025-02-30\"", "\"\"",           "\"2025-06-04T25:00Z\"",
                         "\"1749032280725\""};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int64_t ms = 0;
        struct err e = {0};
        cr_expect_eq(parse(bad[i], &ms, &e), -1, "%s accepted as %lld", bad[i], (long long)ms);
        cr_expect_eq(e.code, ERR_INVALID_VALUE, "%s", bad[i]);
        cr_expect_str_eq(e.field, "dueDate", "%s", bad[i]);
        cr_expect(strstr(e.msg, "dueDate"), "message: %s", e.msg);
    }
}

/* The header promises to parse "an epoch ms number or ISO-8601 string"; anything else is not a
 * dueDate value. */
Test(doc_apply, due_date_refuses_non_date_types)
{
    /* Regression (fixed in 3c52b28): every non-string was read with json_number_value, so
     * true, {}, [] and null parsed as 0 ms (1970-01-01). */
    const char *bad[] = {"true", "{}", "[]", "null"};
    for (size_t i = 0; i < 4; i++) {
        int64_t ms = 42;
        struct err e = {0};
        cr_expect_eq(parse(bad[i], &ms, &e), -1, "%s accepted as %lld", bad[i], (long long)ms);
    }
}

/* ---------------------------------------------------------------- null clears (API.md §7) */

Test(doc_apply, null_clears_by_type)
{
    json_t *doc = make_case();
    struct err e = {0};
    cr_assert_eq(apply_one(doc, "desc", "null", &e), 0, "%s", e.msg);
    cr_expect_str_eq(str_of(doc, "desc"), "");
    cr_assert_eq(apply_one(doc, "tags", "null", &e), 0, "%s", e.msg);
    cr_expect(json_is_array(json_object_get(doc, "tags")));
    cr_expect_eq(json_array_size(json_object_get(doc, "tags")), 0);
    cr_assert_eq(apply_one(doc, "userInfo", "null", &e), 0, "%s", e.msg);
    cr_expect(json_is_object(json_object_get(doc, "userInfo")));
    cr_expect_eq(json_object_size(json_object_get(doc, "userInfo")), 0);
    cr_assert_eq(apply_one(doc, "dueDate", "null", &e), 0, "%s", e.msg);
    cr_expect_null(json_object_get(doc, "dueDate"), "dueDate must be absent after null");
    json_decref(doc);
}

Test(doc_apply, status_priority_name_template_cannot_be_cleared)
{
    json_t *doc = make_case();
    const char *names[] = {"status", "priority", "name", "caseTmp"};
    for (size_t i = 0; i < 4; i++) {
        struct err e = {0};
        cr_expect_eq(apply_one(doc, names[i], "null", &e), -1, "%s cleared", names[i]);
        cr_expect_eq(e.code, ERR_INVALID_VALUE, "%s", names[i]);
        cr_expect_str_eq(e.field, names[i]);
    }
    struct err e = {0};
    cr_expect_eq(apply_one(doc, "name", "\"\"", &e), -1, "name emptied");
    cr_expect_str_eq(str_of(doc, "name"), "Printer Broken");
    json_decref(doc);
}

/* ---------------------------------------------------------------- status, priority */

Test(doc_apply, status_resolves_to_stream_object)
{
    json_t *doc = make_case();
    struct err e = {0};
    cr_assert_eq(apply_one(doc, "status", "{\"name\":\"in progress\"}", &e), 0, "%s", e.msg);
    cr_expect(json_equal(json_object_get(doc, "status"), config_status_by_name(cfg, "In-Progress")),
              "the stored status is the stream's full object");
    cr_assert_eq(apply_one(doc, "priority",
                           "{\"_id\":\"pr-foreign\",\"name\":\"HIGH\",\"color\":\"#fff\"}", &e),
                 0, "%s", e.msg);
    cr_expect(json_equal(json_object_get(doc, "priority"), config_priority_by_name(cfg, "High")));
    json_decref(doc);
}

Test(doc_apply, unknown_status_refused_and_unchanged)
{
    json_t *doc = make_case();
    struct err e = {0};
    cr_expect_eq(apply_one(doc, "status", "{\"name\":\"Parked\"}", &e), -1);
    cr_expect_eq(e.code, ERR_INVALID_VALUE);
    cr_expect_str_eq(e.field, "status");
    cr_expect(strstr(e.msg, "In-Progress"), "message: %s", e.msg);
    cr_expect_str_eq(str_of(json_object_get(doc, "status"), "name"), "Open");
    json_decref(doc);
}

/* ---------------------------------------------------------------- dueDate */

Test(doc_apply, due_date_iso_stored_as_ms)
{
    json_t *doc = make_case();
    struct err e = {0};
    cr_assert_eq(apply_one(doc, "dueDate", "\"2025-06-04T10:18:00.725Z\"", &e), 0, "%s", e.msg);
    cr_expect(json_is_integer(json_object_get(doc, "dueDate")));
    cr_expect_eq(json_integer_value(json_object_get(doc, "dueDate")), NOW);
    cr_expect_eq(apply_one(doc, "dueDate", "\"soon\"", &e), -1);
    cr_expect_str_eq(e.field, "dueDate");
    cr_expect_eq(json_integer_value(json_object_get(doc, "dueDate")), NOW);
    json_decref(doc);
}

/* ---------------------------------------------------------------- fields */

Test(doc_apply, field_by_id_and_by_metadata_name)
{
    json_t *doc = make_case();
    struct err e = {0};
    char text[256];
    snprintf(text, sizeof text, "[{\"_id\":\"%s\",\"selectedValue\":\"Toner everywhere\"}]",
             str_of(field_named(doc, "description"), "_id"));
    cr_assert_eq(apply_one(doc, "fields", text, &e), 0, "%s", e.msg);
    cr_expect_str_eq(str_of(field_named(doc, "description"), "selectedValue"), "Toner everywhere");
    cr_expect_str_eq(str_of(doc, "desc"), "Toner everywhere", "Description moves desc");

    cr_assert_eq(apply_one(doc, "fields",
                           "[{\"metaData\":{\"name\":\"Order Id\"},\"selectedValue\":\"A-17\"}]",
                           &e),
                 0, "%s", e.msg);
    cr_expect_str_eq(str_of(field_named(doc, "Order Id"), "selectedValue"), "A-17");
    json_decref(doc);
}

Test(doc_apply, title_field_moves_name_unless_body_sets_it)
{
    json_t *doc = make_case();
    struct err e = {0};
    cr_assert_eq(apply_one(doc, "fields",
                           "[{\"metaData\":{\"name\":\"title\"},\"selectedValue\":\"Scanner\"}]",
                           &e),
                 0, "%s", e.msg);
    cr_expect_str_eq(str_of(doc, "name"), "Scanner");

    json_t *body = obj("{\"name\":\"From Body\",\"fields\":[{\"metaData\":{\"name\":\"title\"},"
                       "\"selectedValue\":\"From Field\"}]}");
    cr_assert_eq(doc_apply_body(doc, DOC_CASE, body, &ctx, &e), 0, "%s", e.msg);
    cr_expect_str_eq(str_of(doc, "name"), "From Body");
    json_decref(body);
    json_decref(doc);
}

Test(doc_apply, datetime_field_checked_and_moves_due_date)
{
    json_t *doc = make_case();
    struct err e = {0};
    cr_assert_eq(apply_one(doc, "fields",
                           "[{\"metaData\":{\"name\":\"dueDate\"},"
                           "\"selectedValue\":\"2025-06-04T10:18:00.725Z\"}]",
                           &e),
                 0, "%s", e.msg);
    cr_expect_eq(json_integer_value(json_object_get(doc, "dueDate")), NOW);
    cr_expect_str_eq(str_of(field_named(doc, "dueDate"), "selectedValue"), NOW_ISO);

    memset(&e, 0, sizeof e);
    cr_expect_eq(apply_one(doc, "fields",
                           "[{\"metaData\":{\"name\":\"Follow Up\"},\"selectedValue\":\"next week\"}]",
                           &e),
                 -1);
    cr_expect_eq(e.code, ERR_INVALID_VALUE);
    cr_expect_str_eq(e.field, "fields");
    json_decref(doc);
}

Test(doc_apply, datetime_field_takes_years_0000_to_9999)
{
    /* a date of birth or a contract's start: dueDate's 1970 floor was applied to every date */
    json_t *doc = make_case();
    struct err e = {0};
    const char *good[][2] = {{"\"1965-03-01\"", "1965-03-01T00:00:00.000Z"},
                             {"\"1969-12-31T23:59:59Z\"", "1969-12-31T23:59:59.000Z"},
                             {"\"0000-01-01T00:00:00Z\"", "0000-01-01T00:00:00.000Z"},
                             {"-1", "1969-12-31T23:59:59.999Z"},
                             {"\"9999-12-31T23:59:59.999Z\"", "9999-12-31T23:59:59.999Z"}};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        char text[160];
        snprintf(text, sizeof text, "[{\"metaData\":{\"name\":\"Follow Up\"},\"selectedValue\":%s}]",
                 good[i][0]);
        cr_expect_eq(apply_one(doc, "fields", text, &e), 0, "%s: %s", good[i][0], e.msg);
        cr_expect_str_eq(str_of(field_named(doc, "Follow Up"), "selectedValue"), good[i][1]);
    }
    const char *bad[] = {"\"0000-01-01T00:00:00+01:00\"", "\"10000-01-01\"", "1e300", "0.5"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char text[160];
        snprintf(text, sizeof text, "[{\"metaData\":{\"name\":\"Follow Up\"},\"selectedValue\":%s}]",
                 bad[i]);
        memset(&e, 0, sizeof e);
        cr_expect_eq(apply_one(doc, "fields", text, &e), -1, "%s", bad[i]);
        cr_expect_eq(e.code, ERR_INVALID_VALUE, "%s", bad[i]);
    }
    /* the Due Date field still holds dueDate's range, and says which */
    memset(&e, 0, sizeof e);
    cr_expect_eq(apply_one(doc, "fields",
                           "[{\"metaData\":{\"name\":\"dueDate\"},\"selectedValue\":\"1965-03-01\"}]",
                           &e),
                 -1);
    cr_expect(strstr(e.msg, "from 1970 to 9999") != NULL, "%s", e.msg);
    memset(&e, 0, sizeof e);
    cr_expect_eq(apply_one(doc, "dueDate", "\"1969-12-31T23:59:59.999Z\"", &e), -1);
    cr_expect_str_eq(e.msg, "dueDate must be from 1970 to 9999");
    json_decref(doc);
}

Test(doc_apply, field_without_selected_value_is_left_as_it_is)
{
    /* an element naming a field without selectedValue (its definition echoed, or a typo) had
     * cleared the stored value */
    json_t *doc = make_case();
    struct err e = {0};
    cr_assert_eq(apply_one(doc, "fields",
                           "[{\"metaData\":{\"name\":\"Amount\"},\"selectedValue\":42}]", &e),
                 0, "%s", e.msg);
    json_t *def = json_deep_copy(field_named(doc, "Amount"));
    json_object_del(def, "selectedValue");
    json_t *list = json_pack("[o]", def);
    char *text = json_dumps(list, 0);
    cr_assert_eq(apply_one(doc, "fields", text, &e), 0, "%s", e.msg);
    cr_expect_eq(json_integer_value(json_object_get(field_named(doc, "Amount"), "selectedValue")), 42);
    free(text);
    json_decref(list);
    memset(&e, 0, sizeof e);
    cr_expect_eq(apply_one(doc, "fields",
                           "[{\"metaData\":{\"name\":\"Amount\"},\"selectedvalue\":43}]", &e),
                 -1);
    cr_expect_eq(e.code, ERR_UNKNOWN_MEMBER);
    cr_expect(strstr(e.msg, "selectedvalue") != NULL, "%s", e.msg);
    cr_expect_eq(json_integer_value(json_object_get(field_named(doc, "Amount"), "selectedValue")), 42);
    json_decref(doc);
}

Test(doc_apply, field_data_types)
{
    json_t *doc = make_case();
    struct err e = {0};
    cr_assert_eq(apply_one(doc, "fields",
                           "[{\"metaData\":{\"name\":\"Amount\"},\"selectedValue\":12.5},"
                           "{\"metaData\":{\"name\":\"Paid\"},\"selectedValue\":true}]",
                           &e),
                 0, "%s", e.msg);
    cr_expect(json_real_value(json_object_get(field_named(doc, "Amount"), "selectedValue")) == 12.5);
    cr_expect(json_is_true(json_object_get(field_named(doc, "Paid"), "selectedValue")));

    const char *bad[] = {"[{\"metaData\":{\"name\":\"Amount\"},\"selectedValue\":\"12\"}]",
                         "[{\"metaData\":{\"name\":\"Paid\"},\"selectedValue\":\"yes\"}]",
                         "[{\"metaData\":{\"name\":\"Order Id\"},\"selectedValue\":7}]"};
    for (size_t i = 0; i < 3; i++) {
        memset(&e, 0, sizeof e);
        cr_expect_eq(apply_one(doc, "fields", bad[i], &e), -1, "%s", bad[i]);
        cr_expect_eq(e.code, ERR_INVALID_TYPE, "%s", bad[i]);
        cr_expect_str_eq(e.field, "fields");
    }
    cr_expect(json_real_value(json_object_get(field_named(doc, "Amount"), "selectedValue")) == 12.5);
    json_decref(doc);
}

Test(doc_apply, required_field_cannot_be_emptied)
{
    json_t *doc = make_case();
    const char *bad[] = {"[{\"metaData\":{\"name\":\"title\"},\"selectedValue\":\"\"}]",
                         "[{\"metaData\":{\"name\":\"Order Id\"},\"selectedValue\":null}]"};
    for (size_t i = 0; i < 2; i++) {
        struct err e = {0};
        cr_expect_eq(apply_one(doc, "fields", bad[i], &e), -1, "%s", bad[i]);
        cr_expect_eq(e.code, ERR_INVALID_VALUE);
        cr_expect_str_eq(e.field, "fields");
    }
    cr_expect_str_eq(str_of(doc, "name"), "Printer Broken");
    /* an optional number field empties to null */
    struct err e = {0};
    cr_expect_eq(apply_one(doc, "fields",
                           "[{\"metaData\":{\"name\":\"Amount\"},\"selectedValue\":\"\"}]", &e),
                 0, "%s", e.msg);
    cr_expect(json_is_null(json_object_get(field_named(doc, "Amount"), "selectedValue")));
    json_decref(doc);
}

Test(doc_apply, unknown_field_refused)
{
    json_t *doc = make_case();
    const char *bad[] = {"[{\"_id\":\"fd-nope\",\"selectedValue\":\"x\"}]",
                         "[{\"metaData\":{\"name\":\"Colour\"},\"selectedValue\":\"x\"}]",
                         "[{\"selectedValue\":\"x\"}]"};
    for (size_t i = 0; i < 3; i++) {
        struct err e = {0};
        cr_expect_eq(apply_one(doc, "fields", bad[i], &e), -1, "%s", bad[i]);
        cr_expect_eq(e.code, ERR_INVALID_VALUE);
        cr_expect_str_eq(e.field, "fields");
    }
    json_decref(doc);
}

/* ---------------------------------------------------------------- currAssignee */

Test(doc_apply, curr_assignee_sets_assignee_type)
{
    json_t *doc = make_case();
    struct err e = {0};
    cr_assert_eq(apply_one(doc, "currAssignee", "{\"_id\":\"u-9\",\"name\":\"Bo\"}", &e), 0);
    cr_expect_str_eq(str_of(doc, "assigneeType"), "agent");
    cr_expect_str_eq(str_of(json_object_get(doc, "currAssignee"), "_id"), "u-9");
    cr_assert_eq(apply_one(doc, "currAssignee", "{}", &e), 0);
    cr_expect_str_eq(str_of(doc, "assigneeType"), "unassigned");
    cr_assert_eq(apply_one(doc, "currAssignee", "{\"_id\":\"u-9\"}", &e), 0);
    cr_assert_eq(apply_one(doc, "currAssignee", "null", &e), 0);
    cr_expect_str_eq(str_of(doc, "assigneeType"), "unassigned");
    cr_expect_eq(json_object_size(json_object_get(doc, "currAssignee")), 0);
    json_decref(doc);
}

Test(doc_apply, body_assignee_type_wins_in_either_order)
{
    const char *bodies[] = {"{\"currAssignee\":{\"_id\":\"qu-1\"},\"assigneeType\":\"queue\"}",
                            "{\"assigneeType\":\"queue\",\"currAssignee\":{\"_id\":\"qu-1\"}}"};
    for (size_t i = 0; i < 2; i++) {
        json_t *doc = make_case();
        json_t *body = obj(bodies[i]);
        struct err e = {0};
        cr_assert_eq(doc_apply_body(doc, DOC_CASE, body, &ctx, &e), 0, "%s", e.msg);
        cr_expect_str_eq(str_of(doc, "assigneeType"), "queue", "%s", bodies[i]);
        json_decref(body);
        json_decref(doc);
    }
}

/* ---------------------------------------------------------------- doc_apply_body */

Test(doc_apply, body_skips_echo_of_stored_value)
{
    json_t *doc = make_case();
    struct err e = {0};
    /* the stored status has since been deactivated: echoing it back must still be accepted */
    const json_t *arch = config_add_status(cfg, "Archived", "closed", false, &e);
    cr_assert_not_null(arch);
    json_object_set_new(doc, "status", json_deep_copy(arch));
    json_t *body = json_pack("{s:O, s:s}", "status", json_object_get(doc, "status"), "desc", "new");
    cr_assert_eq(doc_apply_body(doc, DOC_CASE, body, &ctx, &e), 0, "%s", e.msg);
    cr_expect_str_eq(str_of(doc, "desc"), "new");
    cr_expect_str_eq(str_of(json_object_get(doc, "status"), "name"), "Archived");
    /* choosing it anew is refused */
    cr_expect_eq(apply_one(doc, "status", "{\"name\":\"Archived\"}", &e), -1);
    json_decref(body);
    json_decref(doc);
}

Test(doc_apply, body_ignores_read_only_and_managed)
{
    json_t *doc = make_case();
    json_t *body = obj("{\"_id\":\"ci-other\",\"refId\":\"CS999999\",\"lname\":\"zzz\","
                       "\"ETA\":\"x\",\"isBreached\":true,\"tags\":[\"a\",\"b\"]}");
    struct err e = {0};
    cr_assert_eq(doc_apply_body(doc, DOC_CASE, body, &ctx, &e), 0, "%s", e.msg);
    cr_expect_str_eq(str_of(doc, "_id"), "ci-1234567-89ab-4cde-8f01-23456789abcd");
    cr_expect_str_eq(str_of(doc, "refId"), "CS000007");
    cr_expect_str_eq(str_of(doc, "lname"), "printer broken");
    cr_expect_str_eq(str_of(doc, "ETA"), "");
    cr_expect(json_is_false(json_object_get(doc, "isBreached")));
    cr_expect_eq(json_array_size(json_object_get(doc, "tags")), 2);
    json_decref(body);
    json_decref(doc);
}

Test(doc_apply, task_case_tmp_sets_task_tmp)
{
    const char *ttm =
        json_string_value(json_object_get(json_array_get(json_object_get(cfg, "taskTemplates"), 0),
                                          "_id"));
    struct err e = {0};
    cr_assert_not_null(config_add_template(cfg, DOC_TASK, "ttm-second", "Second", NULL, 0, &e));
    json_t *doc = json_pack("{s:s, s:s, s:s}", "_id", "ti-1", "taskTmp", ttm, "name", "T");
    json_t *body = obj("{\"caseTmp\":\"ttm-second\"}");
    cr_assert_eq(doc_apply_body(doc, DOC_TASK, body, &ctx, &e), 0, "%s", e.msg);
    cr_expect_str_eq(str_of(doc, "taskTmp"), "ttm-second");
    cr_expect_null(json_object_get(doc, "caseTmp"), "a task has no caseTmp member");
    json_decref(body);

    body = obj("{\"caseTmp\":\"ctm-refund\"}");
    memset(&e, 0, sizeof e);
    cr_expect_eq(doc_apply_body(doc, DOC_TASK, body, &ctx, &e), -1, "a case template on a task");
    cr_expect_eq(e.code, ERR_INVALID_VALUE);
    cr_expect_str_eq(e.field, "caseTmp");
    json_decref(body);
    json_decref(doc);
}

/* ---------------------------------------------------------------- doc_finish_write */

Test(doc_apply, finish_write_managed_members)
{
    json_t *doc = make_case();
    json_object_set_new(doc, "name", json_string("ÄBC Printer"));
    doc_finish_write(doc, &ctx);
    cr_expect_str_eq(str_of(doc, "lname"), "äbc printer", "Unicode lower-casing");
    cr_expect_str_eq(str_of(doc, "updatedAt"), NOW_ISO);
    cr_expect(json_is_integer(json_object_get(doc, "timestampValue")));
    cr_expect_eq(json_integer_value(json_object_get(doc, "timestampValue")), NOW);
    json_t *want = obj("{\"_id\":\"u-agent-7\",\"name\":\"Agent Seven\","
                       "\"profImage\":\"https://img/7.png\"}");
    cr_expect(json_equal(json_object_get(doc, "updatedBy"), want));
    json_decref(want);
    cr_expect_str_eq(str_of(doc, "ETA"), "2025-06-05T10:18:00.725Z");
    cr_expect(json_is_false(json_object_get(doc, "isBreached")));
    cr_expect_str_eq(str_of(field_named(doc, "title"), "selectedValue"), "ÄBC Printer");
    cr_expect_str_eq(str_of(field_named(doc, "description"), "selectedValue"), "It jams");
    cr_expect_str_eq(str_of(field_named(doc, "dueDate"), "selectedValue"),
                     "2025-06-05T10:18:00.725Z");
    json_decref(doc);
}

Test(doc_apply, finish_write_without_due_date)
{
    json_t *doc = make_case();
    json_object_del(doc, "dueDate");
    json_object_set_new(doc, "ETA", json_string("stale"));
    doc_finish_write(doc, &ctx);
    cr_expect_str_eq(str_of(doc, "ETA"), "");
    cr_expect_str_eq(str_of(field_named(doc, "dueDate"), "selectedValue"), "");
    cr_expect(json_is_false(json_object_get(doc, "isBreached")));
    json_decref(doc);
}

Test(doc_apply, finish_write_actor_without_name)
{
    json_t *doc = make_case();
    struct doc_ctx c = ctx;
    c.actor.name = NULL;
    c.actor.prof_image = NULL;
    doc_finish_write(doc, &c);
    json_t *want = obj("{\"_id\":\"u-agent-7\",\"name\":\"\",\"profImage\":\"\"}");
    cr_expect(json_equal(json_object_get(doc, "updatedBy"), want));
    json_decref(want);
    json_decref(doc);
}

Test(doc_apply, breach_follows_due_date_and_status)
{
    json_t *doc = make_case();
    json_object_set_new(doc, "dueDate", json_integer(NOW - 1));
    doc_finish_write(doc, &ctx);
    cr_expect(json_is_true(json_object_get(doc, "isBreached")), "open and overdue");
    cr_expect(doc_is_unresolved(doc));

    json_object_set_new(doc, "status", json_deep_copy(config_status_by_name(cfg, "On-Hold")));
    doc_refresh_breach(doc, NOW);
    cr_expect(json_is_true(json_object_get(doc, "isBreached")), "inProgress counts as unresolved");

    json_object_set_new(doc, "status", json_deep_copy(config_status_by_name(cfg, "Resolved")));
    cr_expect_not(doc_is_unresolved(doc));
    doc_refresh_breach(doc, NOW);
    cr_expect(json_is_false(json_object_get(doc, "isBreached")), "resolved is never breached");

    json_object_set_new(doc, "status", json_deep_copy(config_status_by_name(cfg, "Open")));
    doc_refresh_breach(doc, NOW - 2);
    cr_expect(json_is_false(json_object_get(doc, "isBreached")), "not yet due");
    json_object_del(doc, "dueDate");
    doc_refresh_breach(doc, NOW);
    cr_expect(json_is_false(json_object_get(doc, "isBreached")), "no dueDate");
    json_decref(doc);
}

Test(doc_apply, same_value_compares_numbers_by_value_and_exactly)
{
    /* 5.0 echoed for a stored 5 is no change; past 2^53 a double does not hold every integer, so
     * an integer and a real there are never taken for one another (9007199254740993 was) */
    json_t *i5 = json_integer(5), *r5 = json_real(5.0), *r55 = json_real(5.5);
    cr_expect(doc_same_value(i5, r5));
    cr_expect(doc_same_value(r5, i5));
    cr_expect_not(doc_same_value(i5, r55));
    json_t *big = json_integer(9007199254740993LL), *bigr = json_real(9007199254740992.0);
    cr_expect_not(doc_same_value(big, bigr));
    cr_expect_not(doc_same_value(bigr, big));
    json_t *edge = json_integer(9007199254740992LL);
    cr_expect(doc_same_value(edge, bigr), "2^53 itself is exact");
    json_t *a = json_pack("{s:[i, {s:f}], s:s}", "x", 1, "y", 2.0, "z", "t");
    json_t *b = json_pack("{s:s, s:[f, {s:i}]}", "z", "t", "x", 1.0, "y", 2);
    cr_expect(doc_same_value(a, b), "nested, keys in another order");
    json_object_set_new(b, "w", json_null());
    cr_expect_not(doc_same_value(a, b), "a member more");
    json_decref(i5);
    json_decref(r5);
    json_decref(r55);
    json_decref(big);
    json_decref(bigr);
    json_decref(edge);
    json_decref(a);
    json_decref(b);
}

Test(doc_apply, mirrors_go_to_the_first_system_field_of_each_name)
{
    /* a custom field of a mirror's name, and a field whose type is no string, are passed by;
     * a second system field of the name keeps its value */
    json_t *doc = obj("{\"name\":\"Printer\",\"desc\":\"Jams\",\"dueDate\":1749032280725,"
                      "\"fields\":["
                      "{\"metaData\":{\"name\":\"title\"},\"type\":\"custom\",\"selectedValue\":\"c\"},"
                      "{\"metaData\":{\"name\":\"description\"},\"type\":7,\"selectedValue\":\"t\"},"
                      "{\"metaData\":{\"name\":\"dueDate\"},\"type\":\"system\",\"selectedValue\":\"\"},"
                      "{\"metaData\":{\"name\":\"title\"},\"type\":\"system\",\"selectedValue\":\"\"},"
                      "{\"metaData\":{\"name\":\"title\"},\"type\":\"system\",\"selectedValue\":\"2\"},"
                      "{\"metaData\":{\"name\":\"description\"},\"type\":\"system\"}]}");
    doc_sync_mirrors(doc);
    const json_t *fields = json_object_get(doc, "fields");
    const char *want[] = {"c", "t", "2025-06-04T10:18:00.725Z", "Printer", "2", "Jams"};
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
        cr_expect_str_eq(str_of(json_array_get(fields, i), "selectedValue"), want[i], "field %zu",
                         i);
    cr_expect_str_eq(str_of(doc, "lname"), "printer");
    cr_expect_str_eq(str_of(doc, "ETA"), "2025-06-04T10:18:00.725Z");
    json_decref(doc);
}
