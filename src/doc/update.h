/* update — the partial update of API.md §7 (the seed's Update Task and its case twin) and the
 * activity it leaves. */
#ifndef CASEMGR_DOC_UPDATE_H
#define CASEMGR_DOC_UPDATE_H

#include <jansson.h>
#include <stdbool.h>

#include "doc/apply.h"

/* Applies patch to doc (the stored document, changed in place): members checked against the
 * table, read-only echoes compared, RW members applied, managed members recomputed when anything
 * changed. *changes receives a new array of {field, old, new} for every member that changed
 * (empty when nothing did; caller decrefs). before, when not NULL, receives the document as it
 * was (caller decrefs). 0, or -1 with *e and doc unusable. */
int doc_update(json_t *doc, enum doc_kind kind, const json_t *patch, const struct doc_ctx *ctx,
               json_t **changes, json_t **before, struct err *e);
/* The activity document of a change (API.md §7): {_id, recordId, refId, kind, actor, createdAt,
 * changes}. Appends its _id to doc's activityIds. Caller decrefs. */
json_t *doc_activity(json_t *doc, enum doc_kind kind, json_t *changes, const struct doc_ctx *ctx);

#endif
