/* fuzz_body — the request-body path of createCase, createTask, updateCase and updateTask
 * (API.md §6, §7): doc_parse_body → doc_check_members → doc_create_* / doc_update against the
 * stored documents of the fixture (an open case, a closed one with a required field, a task), then
 * what the handlers do with the outcome: the error envelope of a refusal, or the activity, record
 * columns and stored text of a write, which must read back equal and to which the same patch
 * applied again changes nothing. The input is the raw request body. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "doc/create.h"
#include "doc/record.h"
#include "doc/schema.h"
#include "doc/update.h"
#include "fixture.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void die(const char *what)
{
    fprintf(stderr, "fuzz_body: %s\n", what);
    abort();
}

/* What a handler stores after a write: the record's text, which must parse back to the document
 * (the next update of the record starts from that text, not from doc). A new reference. */
static json_t *store_like(const json_t *doc, enum doc_kind kind)
{
    struct store_record r;
    memset(&r, 0, sizeof r);
    doc_record_from(doc, kind, &r);
    json_t *back = r.doc ? json_loadb(r.doc, r.doc_len, 0, NULL) : NULL;
    doc_record_cleanup(&r);
    if (!back)
        die("a written document does not serialise to JSON");
    if (!json_equal(back, doc))
        die("a written document reads back different");
    return back;
}

/* API.md §7: the same patch sent again to the record it produced changes nothing (a retried
 * update leaves no second activity). */
static void update_again(json_t *stored, enum doc_kind kind, const json_t *patch,
                         const struct doc_ctx *ctx)
{
    struct err e;
    json_t *changes = NULL;
    if (doc_update(stored, kind, patch, ctx, &changes, NULL, &e) != 0)
        die("a patch that applied once is refused the second time");
    if (json_array_size(changes) != 0) {
        char *text = json_dumps(changes, JSON_COMPACT);
        fprintf(stderr, "fuzz_body: the same patch changed the record again: %s\n", text);
        abort();
    }
    json_decref(changes);
}

/* updateCase/updateTask (api/update.c prepare and commit) against a copy of stored. */
static void update(const json_t *stored, enum doc_kind kind, const json_t *patch,
                   const struct doc_ctx *ctx)
{
    struct err e;
    json_t *doc = json_deep_copy(stored), *changes = NULL, *before = NULL;
    if (doc_update(doc, kind, patch, ctx, &changes, &before, &e) != 0) {
        fuzz_check_refusal(&e);
        goto out;
    }
    if (!json_is_array(changes) || !before)
        die("doc_update succeeded without changes or before");
    if (json_array_size(changes) == 0) {
        char *text = json_dumps(doc, JSON_COMPACT); /* the answer: the document as it is */
        if (!text)
            die("an unchanged document does not serialise");
        free(text);
        goto out;
    }
    json_t *activity = doc_activity(doc, kind, changes, ctx);
    char *text = json_dumps(activity, JSON_COMPACT);
    if (!text)
        die("an activity does not serialise");
    free(text);
    json_decref(activity);
    struct store_record prev;
    memset(&prev, 0, sizeof prev);
    doc_record_columns(before, kind, &prev);
    doc_record_cleanup(&prev);
    json_t *written = store_like(doc, kind);
    update_again(written, kind, patch, ctx);
    json_decref(written);
out:
    json_decref(changes);
    json_decref(before);
    json_decref(doc);
}

/* createCase/createTask (api/create.c): members checked, then the document built. */
static void create(enum doc_kind kind, const json_t *body, const struct fuzz_fixture *fx)
{
    struct err e;
    json_t *doc = NULL;
    if (doc_check_members(body, kind, true, NULL, &e) == 0)
        doc = kind == DOC_CASE ? doc_create_case(body, &fx->ctx, &e)
                               : doc_create_task(body, fx->case_doc, &fx->ctx, &e);
    if (!doc) {
        fuzz_check_refusal(&e);
        return;
    }
    doc_set_ref(doc, kind == DOC_CASE ? "CS" : "TS", 2);
    json_decref(store_like(doc, kind));
    json_decref(doc);
}

/* A closed case of the template with a required field: updates meet "required" and the
 * closed-status rules there. */
static const json_t *closed_case(void)
{
    static json_t *doc;
    if (!doc)
        doc = fuzz_create(DOC_CASE,
                          "{\"caseTmp\":\"" FUZZ_CASE_TMP_REQ "\",\"name\":\"Refund\","
                          "\"desc\":\"\",\"userInfo\":{\"name\":\"Cy\",\"_id\":\"u-cy\"},"
                          "\"source\":\"phone\",\"dueDate\":1000,\"status\":{\"name\":\"Closed\"},"
                          "\"fields\":[{\"name\":\"ticket\",\"selectedValue\":\"T-1\"}]}",
                          3);
    return doc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const struct fuzz_fixture *fx = fuzz_fixture();
    struct err e;
    json_t *body = doc_parse_body((const char *)data, size, &doc_default_limits, &e);
    if (!body) {
        fuzz_check_refusal(&e);
        return 0;
    }
    update(fx->task_doc, DOC_TASK, body, &fx->ctx);
    update(fx->case_doc, DOC_CASE, body, &fx->ctx);
    update(closed_case(), DOC_CASE, body, &fx->ctx);
    create(DOC_CASE, body, fx);
    create(DOC_TASK, body, fx);
    json_decref(body);
    return 0;
}
