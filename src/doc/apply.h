/* apply — setting members of a case or task document under the rules of API.md §7, shared by
 * create (API.md §6) and update, and the server-managed members recomputed on every write. */
#ifndef CASEMGR_DOC_APPLY_H
#define CASEMGR_DOC_APPLY_H

#include <jansson.h>
#include <stdint.h>

#include "doc/schema.h"
#include "util/error.h"

/* Who acts: {_id, name, profImage} of createdBy/updatedBy (API.md §5). */
struct doc_actor {
    const char *id;
    const char *name;
    const char *prof_image;
};

/* What a write knows besides the body: tenant, the stream's configuration, actor, clock. */
struct doc_ctx {
    const char *stream_id;
    const char *account_id;
    const char *org_id;
    const json_t *config; /* doc/config.h document */
    struct doc_actor actor;
    int64_t now_ms; /* the write's time (updatedAt): never before the version it follows */
    /* the clock, where now_ms was raised past it (0: now_ms is): isBreached is due < clock, as
     * every read computes it */
    int64_t clock_ms;
    const struct doc_limits *limits; /* NULL: doc_default_limits */
};

/* The time isBreached is computed for. */
static inline int64_t doc_ctx_clock(const struct doc_ctx *ctx)
{
    return ctx->clock_ms ? ctx->clock_ms : ctx->now_ms;
}

/* Sets member m of doc to v (v already passed doc_check_members): null clears, status/priority
 * resolve against the configuration, dueDate parses, fields set selectedValues, currAssignee
 * sets assigneeType unless the body sets it (body is the whole patch). 0 or -1 with *e. */
int doc_apply_member(json_t *doc, enum doc_kind kind, const struct doc_member *m, const json_t *v,
                     const json_t *body, const struct doc_ctx *ctx, struct err *e);
/* Applies every RW member of body in order (read-only, managed and input members are skipped:
 * the caller checks those). 0 or -1 with *e; doc may be partly changed on error. */
int doc_apply_body(json_t *doc, enum doc_kind kind, const json_t *body, const struct doc_ctx *ctx,
                   struct err *e);
/* JSON equality with numbers compared by value: 5 and 5.0 are the same (a whole number written as
 * a float, as Python writes them, echoed back is no change), as json_equal does not say. */
bool doc_same_value(const json_t *a, const json_t *b);
/* A template's fields with empty selectedValues (null for number and boolean), in its order. */
json_t *doc_template_fields(const json_t *tmpl);
/* 0, or -1 with *e naming the first required field of doc whose selectedValue is empty. */
int doc_check_required_fields(const json_t *doc, struct err *e);
/* Recomputes what follows from other members: lname from name, ETA from dueDate, and the
 * Title/Description/Due Date fields' selectedValues from name, desc, dueDate. */
void doc_sync_mirrors(json_t *doc);
/* Member key of obj, made obj's own before it is changed in place: a value something else holds
 * too (doc_update's snapshot of the document before the patch holds every member's value) is
 * replaced by a shallow copy. The member's value, or NULL when obj has none. */
json_t *doc_own_member(json_t *obj, const char *key);
/* Recomputes the managed members after a write: doc_sync_mirrors, then doc_stamp_write. */
void doc_finish_write(json_t *doc, const struct doc_ctx *ctx);
/* updatedAt, timestampValue, updatedBy and isBreached for a write at ctx's time: doc_finish_write
 * for a document whose mirrors are in step already (doc_update syncs them before its diff). */
void doc_stamp_write(json_t *doc, const struct doc_ctx *ctx);
/* Recomputes isBreached for now_ms (API.md §5: unresolved and due in the past); on every read. */
void doc_refresh_breach(json_t *doc, int64_t now_ms);
/* True when the document's status category is open or inProgress. */
bool doc_is_unresolved(const json_t *doc);
/* Parses a dueDate value (epoch ms number or ISO-8601 string) into ms; 0 or -1 with *e. */
int doc_parse_due_date(const json_t *v, const char *member, int64_t *ms, struct err *e);
/* The instant a datetime field's value v names: an ISO-8601 date-time (time_parse_iso) or whole
 * epoch milliseconds, of years 0000 to 9999. 0 with *ms, or -1. */
int doc_parse_instant(const json_t *v, int64_t *ms);

#endif
