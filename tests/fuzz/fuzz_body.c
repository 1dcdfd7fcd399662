/* fuzz_body — the request-body path of createCase, createTask, updateCase and updateTask
 * (API.md §6, §7): doc_parse_body → doc_check_members → doc_create_* / doc_update against the
 * stored documents of the fixture, then what the handlers do with a successful write (activity,
 * record columns, serialisation). The input is the raw request body. */
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

/* What a handler does after a write: the record it stores must serialise and reparse. */
static void store_like(const json_t *doc, enum doc_kind kind)
{
    struct store_record r;
    memset(&r, 0, sizeof r);
    doc_record_from(doc, kind, &r);
    json_t *back = r.doc ? json_loadb(r.doc, r.doc_len, 0, NULL) : NULL;
    if (!back) {
        fprintf(stderr, "fuzz_body: a written document does not serialise to JSON\n");
        abort();
    }
    json_decref(back);
    doc_record_cleanup(&r);
}

static void update(const json_t *stored, enum doc_kind kind, const json_t *patch,
                   const struct doc_ctx *ctx)
{
    struct err e;
    if (doc_check_members(patch, kind, false, &e) != 0)
        return;
    json_t *doc = json_deep_copy(stored), *changes = NULL, *before = NULL;
    if (doc_update(doc, kind, patch, ctx, &changes, &before, &e) == 0) {
        if (!json_is_array(changes) || !before) {
            fprintf(stderr, "fuzz_body: doc_update succeeded without changes or before\n");
            abort();
        }
        if (json_array_size(changes) > 0) {
            json_t *activity = doc_activity(doc, kind, changes, ctx);
            char *text = json_dumps(activity, JSON_COMPACT);
            if (!text)
                abort();
            free(text);
            json_decref(activity);
            store_like(doc, kind);
            struct store_record prev;
            memset(&prev, 0, sizeof prev);
            doc_record_columns(before, kind, &prev);
            doc_record_cleanup(&prev);
        }
    }
    json_decref(changes);
    json_decref(before);
    json_decref(doc);
}

static void create(enum doc_kind kind, const json_t *body, const struct fuzz_fixture *fx)
{
    struct err e;
    if (doc_check_members(body, kind, true, &e) != 0)
        return;
    json_t *doc = kind == DOC_CASE ? doc_create_case(body, &fx->ctx, &e)
                                   : doc_create_task(body, fx->case_doc, &fx->ctx, &e);
    if (!doc)
        return;
    doc_set_ref(doc, kind == DOC_CASE ? "CS" : "TS", 2);
    store_like(doc, kind);
    json_decref(doc);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const struct fuzz_fixture *fx = fuzz_fixture();
    struct err e;
    json_t *body = doc_parse_body((const char *)data, size, &doc_default_limits, &e);
    if (!body)
        return 0;
    update(fx->task_doc, DOC_TASK, body, &fx->ctx);
    update(fx->case_doc, DOC_CASE, body, &fx->ctx);
    create(DOC_CASE, body, fx);
    create(DOC_TASK, body, fx);
    json_decref(body);
    return 0;
}
