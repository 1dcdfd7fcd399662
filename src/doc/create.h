/* create — building a new case or task document from a create body (API.md §6). */
#ifndef CASEMGR_DOC_CREATE_H
#define CASEMGR_DOC_CREATE_H

#include <jansson.h>

#include "doc/apply.h"

/* Validates body (members, required ones, userInfo, template, read-only echoes) and builds the
 * whole case document with its defaults and a fresh _id; refId is set by doc_set_ref once the
 * store has numbered it. Returns the document (caller decrefs) or NULL with *e. */
json_t *doc_create_case(const json_t *body, const struct doc_ctx *ctx, struct err *e);
/* Same for a task of case_doc (the case, already found in the same stream and account). */
json_t *doc_create_task(const json_t *body, const json_t *case_doc, const struct doc_ctx *ctx,
                        struct err *e);
/* Sets refId ("CS000001", "TS000042", ...) from a per-stream counter value. */
void doc_set_ref(json_t *doc, const char *prefix, long long n);

#endif
