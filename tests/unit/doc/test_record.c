/* Unit tests for doc/record: the indexed columns of a document, and a record detached from it. */
#include <criterion/criterion.h>

#include <string.h>

#include "doc/record.h"

static json_t *task_doc(void)
{
    json_t *doc = json_pack(
        "{s:s, s:s, s:s, s:s, s:s, s:s, s:{s:s, s:s}, s:{s:s, s:i}, s:{s:s}, s:s, s:s, s:I}",
        "_id", "ti-1", "iId", "st-1", "accountId", "acc-1", "refId", "TS000042", "caseId",
        "ci-7", "lname", "printer jam", "status", "name", "Open", "statusCategory", "open",
        "priority", "name", "High", "score", 3, "currAssignee", "_id", "u-9", "source", "email",
        "createdAt", "2025-06-04T10:18:00.725Z", "timestampValue", (json_int_t)1749032280725);
    cr_assert_not_null(doc);
    return doc;
}

Test(doc_record, columns_come_from_the_document)
{
    json_t *doc = task_doc();
    struct store_record r;
    doc_record_columns(doc, DOC_TASK, &r);
    cr_expect_str_eq(r.id, "ti-1");
    cr_expect_str_eq(r.case_id, "ci-7");
    cr_expect_str_eq(r.status_category, "open");
    cr_expect_eq(r.priority_score, 3);
    cr_expect_str_eq(r.assignee, "u-9");
    cr_expect_eq(r.ref_seq, 42);
    cr_expect_eq(r.created_at, 1749032280725LL);
    cr_expect_null(r.doc);
    doc_record_cleanup(&r);
    json_decref(doc);
}

/* The vendor's documents name the assigned user by agentId, with no _id: {aId, name, agentId}.
 * An _id wins; empty strings and other types name nobody. */
Test(doc_record, the_assignee_is_the_id_else_the_agent_id)
{
    static const struct {
        const char *assignee, *want;
    } cases[] = {
        {"{\"aId\":\"a-1\",\"name\":\"Ann\",\"agentId\":\"u-8\"}", "u-8"},
        {"{\"_id\":\"u-9\",\"agentId\":\"u-8\"}", "u-9"},
        {"{\"_id\":\"\",\"agentId\":\"u-8\"}", "u-8"},
        {"{\"agentId\":\"\"}", NULL},
        {"{\"agentId\":8}", NULL},
        {"{\"name\":\"Ann\"}", NULL},
        {"{}", NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        json_t *doc = task_doc();
        json_object_set_new(doc, "currAssignee", json_loads(cases[i].assignee, 0, NULL));
        struct store_record r;
        doc_record_columns(doc, DOC_TASK, &r);
        if (cases[i].want)
            cr_expect_str_eq(r.assignee, cases[i].want, "%s", cases[i].assignee);
        else
            cr_expect_null(r.assignee, "%s", cases[i].assignee);
        doc_record_cleanup(&r);
        json_decref(doc);
    }
}

Test(doc_record, a_detached_record_outlives_its_document)
{
    json_t *doc = task_doc();
    struct store_record r;
    doc_record_from(doc, DOC_TASK, &r);
    const char *in_doc = r.name_lower;
    doc_record_detach(&r);
    cr_expect_neq(r.name_lower, in_doc, "the column is a copy");
    json_decref(doc); /* its strings are freed: the record's must not be them (ASan) */
    cr_expect_str_eq(r.id, "ti-1");
    cr_expect_str_eq(r.stream_id, "st-1");
    cr_expect_str_eq(r.account_id, "acc-1");
    cr_expect_str_eq(r.ref_id, "TS000042");
    cr_expect_str_eq(r.case_id, "ci-7");
    cr_expect_str_eq(r.name_lower, "printer jam");
    cr_expect_str_eq(r.status_name, "Open");
    cr_expect_str_eq(r.status_category, "open");
    cr_expect_str_eq(r.priority_name, "High");
    cr_expect_str_eq(r.assignee, "u-9");
    cr_expect_str_eq(r.source, "email");
    cr_expect_not_null(r.doc, "the text stays");
    cr_expect_not_null(strstr(r.doc, "\"printer jam\""));

    /* a case has no caseId and no assignee here: absent columns stay absent */
    json_t *c = json_pack("{s:s, s:s, s:s}", "_id", "ci-7", "iId", "st-1", "accountId", "acc-1");
    struct store_record cr;
    doc_record_columns(c, DOC_CASE, &cr);
    doc_record_detach(&cr);
    doc_record_detach(&cr); /* again: the first copies are replaced, not leaked (ASan) */
    json_decref(c);
    cr_expect_str_eq(cr.id, "ci-7");
    cr_expect_null(cr.case_id);
    cr_expect_null(cr.assignee);
    cr_expect_null(cr.status_name);
    doc_record_cleanup(&cr);
    doc_record_cleanup(&r);
}

/* The multi-valued members a filter matches, in one string (store.h: key, \x1f and a second key
 * when there is one, \x1d, the value, \x1e): channels, queues by id and by name, and each custom
 * field's value by the field's id and by its name. A value or second key holding a separator is
 * left out. */
Test(doc_record, values_list_channels_queues_and_custom_fields)
{
    json_t *doc = task_doc();
    json_object_set_new(doc, "channel", json_pack("[s, s]", "email", "chat"));
    json_object_set_new(doc, "queues",
                        json_pack("[s, {s:s, s:s}]", "q-1", "_id", "q-2", "name", "Billing"));
    json_object_set_new(
        doc, "fields",
        json_pack("[{s:s, s:s, s:s, s:{s:s}}, {s:s, s:s, s:i, s:{s:s}},"
                  " {s:s, s:s, s:s}, {s:s, s:s, s:s, s:{s:s}}]",
                  "_id", "cf-1", "type", "custom", "selectedValue", "gold", "metaData", "name",
                  "Tier", "_id", "cf-2", "type", "custom", "selectedValue", 12, "metaData", "name",
                  "Seats", "_id", "sf-1", "type", "system", "selectedValue", "ignored", "_id",
                  "cf-3", "type", "custom", "selectedValue", "a\x1e" "b", "metaData", "name",
                  "Broken"));
    struct store_record r;
    doc_record_columns(doc, DOC_TASK, &r);
    static const char want[] = "ch\x1d" "email\x1e"
                               "ch\x1d" "chat\x1e"
                               "qu\x1d" "q-1\x1e"
                               "qu\x1d" "q-2\x1e"
                               "qu\x1d" "Billing\x1e"
                               "f\x1f" "cf-1\x1d" "gold\x1e"
                               "n\x1f" "Tier\x1d" "gold\x1e"
                               "f\x1f" "cf-2\x1d" "12\x1e"
                               "n\x1f" "Seats\x1d" "12\x1e";
    cr_assert_eq(r.values_len, sizeof want - 1, "%zu bytes", r.values_len);
    cr_assert(memcmp(r.values, want, sizeof want - 1) == 0, "%.*s", (int)r.values_len, r.values);
    cr_assert_eq(r.values[r.values_len], '\0');
    doc_record_cleanup(&r);
    json_decref(doc);
}
