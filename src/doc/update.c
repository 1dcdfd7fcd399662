#include "doc/update.h"

#include <stdlib.h>
#include <string.h>

#include "util/id.h"
#include "util/mem.h"
#include "util/time.h"

/* createdAt echoed as the same instant written another way (a client that parses dates and
 * writes them again: "+00:00" for "Z", microseconds): equal. */
static bool same_instant(const char *k, const json_t *stored, const json_t *v)
{
    int64_t a, b;
    return strcmp(k, "createdAt") == 0 && json_is_string(stored) && json_is_string(v) &&
           time_parse_iso(json_string_value(stored), &a) == 0 &&
           time_parse_iso(json_string_value(v), &b) == 0 && a == b;
}

/* API.md §7: an echoed read-only member must equal the stored one. */
static int check_read_only(const json_t *doc, enum doc_kind kind, const json_t *patch,
                           struct err *e)
{
    const char *k;
    const json_t *v;
    json_object_foreach((json_t *)patch, k, v)
    {
        const struct doc_member *m = doc_member_find(k, kind);
        if (!m || m->access != DOC_RO)
            continue;
        const json_t *stored = json_object_get(doc, strcmp(k, "lid") == 0 ? "iId" : k);
        if (!stored || !(doc_same_value(stored, v) || same_instant(k, stored, v)))
            return err_set(e, ERR_READ_ONLY, k, "%s is read-only and differs from the stored value",
                           k);
    }
    return 0;
}

/* The document's members as they were before the patch: each key (copied: a member removed
 * takes its key with it) and its value, held (incref'd), in the document's order. Members are
 * replaced whole, and what is changed in place (a field's selectedValue, by a fields patch and
 * by the Title/Description/Due Date mirrors; activityIds) is first made the document's own
 * (doc_own_member sees the value held here too), so the values keep the old ones. It replaces a
 * shallow copy of the document (json_copy): a hash table of ~40 members built and dropped at
 * every update, 14,700 instructions a small update, where this is ~3,000. */
struct snap_member {
    const char *key;
    json_t *value;
    bool paired; /* diff found the member in the document after the patch */
};
struct snapshot {
    size_t n;
    struct snap_member *m; /* and the keys after the n members, in the same allocation */
};

static void snapshot_take(json_t *doc, struct snapshot *s)
{
    size_t n = 0, bytes = 0;
    for (void *it = json_object_iter(doc); it; it = json_object_iter_next(doc, it)) {
        n++;
        bytes += json_object_iter_key_len(it) + 1;
    }
    s->n = n;
    s->m = xmalloc(n * sizeof *s->m + bytes + 1);
    char *keys = (char *)(s->m + n);
    size_t i = 0;
    for (void *it = json_object_iter(doc); it; it = json_object_iter_next(doc, it), i++) {
        size_t len = json_object_iter_key_len(it);
        memcpy(keys, json_object_iter_key(it), len + 1);
        s->m[i].key = keys;
        s->m[i].value = json_incref(json_object_iter_value(it));
        s->m[i].paired = false;
        keys += len + 1;
    }
}

static json_t *snapshot_get(const struct snapshot *s, const char *key)
{
    for (size_t i = 0; i < s->n; i++)
        if (strcmp(s->m[i].key, key) == 0)
            return s->m[i].value;
    return NULL;
}

/* The snapshot as a document of its own (doc_update's before), sharing its values. */
static json_t *snapshot_object(const struct snapshot *s)
{
    json_t *o = json_object();
    for (size_t i = 0; i < s->n; i++)
        json_object_set_nocheck(o, s->m[i].key, s->m[i].value);
    return o;
}

static void snapshot_release(struct snapshot *s)
{
    for (size_t i = 0; i < s->n; i++)
        json_decref(s->m[i].value);
    free(s->m);
    s->m = NULL;
    s->n = 0;
}

/* {"field": k, "old": old, "new": now}, sharing old and now. Built member by member: json_pack
 * reads its format anew at every call, ~2,500 instructions a change of which most were that. */
static json_t *change_entry(const char *k, json_t *old, json_t *now)
{
    json_t *c = json_object();
    json_object_set_new_nocheck(c, "field", json_string(k));
    json_object_set_nocheck(c, "old", old);
    json_object_set_nocheck(c, "new", now);
    return c;
}

/* The snapshot's member named key, searched from *next on (where the document's order has it)
 * and then before it; *next moves past a member found ahead. */
static struct snap_member *snapshot_pair(struct snapshot *s, const char *key, size_t *next)
{
    for (size_t i = *next; i < s->n; i++) {
        if (strcmp(s->m[i].key, key) == 0) {
            *next = i + 1;
            return &s->m[i];
        }
    }
    for (size_t i = 0; i < *next; i++)
        if (strcmp(s->m[i].key, key) == 0)
            return &s->m[i];
    return NULL;
}

/* Changes of every non-managed member, in the document's order, then members removed. The
 * snapshot holds the document's members in the same order, values replaced in place, members
 * removed gone from between them and members added after them: each member's old value is
 * found by walking the snapshot along with the document (a key compared, where a look-up by key
 * either way cost ~80 look-ups of ~170 instructions a small update), and the members removed
 * are those the walk never paired. */
static json_t *diff(struct snapshot *before, const json_t *after, enum doc_kind kind)
{
    json_t *changes = json_array();
    size_t next = 0, paired = 0;
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)after, k, v)
    {
        struct snap_member *was = snapshot_pair(before, k, &next);
        json_t *old = NULL;
        if (was) {
            was->paired = true;
            paired++;
            old = was->value;
        }
        if (old && doc_same_value(old, v))
            continue; /* most members, the very value: asked first, before the member table */
        const struct doc_member *m = doc_member_find(k, kind);
        if (m && m->access == DOC_MANAGED)
            continue;
        json_array_append_new(changes, change_entry(k, old ? old : json_null(), v));
    }
    for (size_t i = 0; paired < before->n && i < before->n; i++) {
        if (!before->m[i].paired)
            json_array_append_new(changes,
                                  change_entry(before->m[i].key, before->m[i].value, json_null()));
    }
    return changes;
}

/* The old values come from a snapshot of the document's members (struct snapshot); before,
 * when asked for, is made from it. */
int doc_update(json_t *doc, enum doc_kind kind, const json_t *patch, const struct doc_ctx *ctx,
               json_t **changes, json_t **before_out, struct err *e)
{
    *changes = NULL;
    if (before_out)
        *before_out = NULL;
    if (doc_check_members(patch, kind, false, ctx->limits, e) ||
        check_read_only(doc, kind, patch, e))
        return -1;
    struct snapshot before;
    snapshot_take(doc, &before);
    if (doc_apply_body(doc, kind, patch, ctx, e)) {
        snapshot_release(&before);
        return -1;
    }
    doc_sync_mirrors(doc); /* so the activity names the fields that moved with name, desc, dueDate */
    const char *tmpl = kind == DOC_CASE ? "caseTmp" : "taskTmp";
    const json_t *was = snapshot_get(&before, tmpl), *now = json_object_get(doc, tmpl);
    if (was != now && !(was && now && json_equal(was, now)) && doc_check_required_fields(doc, e)) {
        /* another template: its required fields need values, from the record or the body */
        snapshot_release(&before);
        return -1;
    }
    *changes = diff(&before, doc, kind);
    if (before_out)
        *before_out = snapshot_object(&before);
    snapshot_release(&before);
    if (json_array_size(*changes) > 0)
        doc_stamp_write(doc, ctx); /* the mirrors are in step: synced above */
    else
        doc_refresh_breach(doc, doc_ctx_clock(ctx));
    return 0;
}

json_t *doc_activity(json_t *doc, enum doc_kind kind, json_t *changes, const struct doc_ctx *ctx)
{
    char id[ID_MAX], iso[TIME_ISO_LEN];
    id_new("ac-", id);
    time_format_iso(ctx->now_ms, iso);
    /* a new array, never the one read changed in place: the document is written with the text
     * it was read with for every value it still holds (jtext_dump_known), and nothing else (the
     * copy before the patch did once) holds this one now to make doc_own_member copy it */
    const json_t *ids = json_object_get(doc, "activityIds");
    if (json_is_array(ids)) {
        json_t *more = json_copy((json_t *)ids);
        json_array_append_new(more, json_string(id));
        json_object_set_new(doc, "activityIds", more);
    }
    /* member by member, in this order, as json_pack("{s:s, s:O, s:O, s:s, s:{s:s, s:s, s:s},
     * s:s, s:I, s:O}") made it, without reading a format at every call (10,800 instructions a
     * small update, now ~3,000) */
    json_t *record_id = json_object_get(doc, "_id"), *ref_id = json_object_get(doc, "refId");
    if (!record_id || !ref_id)
        return NULL; /* as json_pack's O of NULL */
    json_t *a = json_object(), *actor = json_object();
    json_object_set_new_nocheck(a, "_id", json_string(id));
    json_object_set_nocheck(a, "recordId", record_id);
    json_object_set_nocheck(a, "refId", ref_id);
    json_object_set_new_nocheck(a, "kind", json_string(kind == DOC_CASE ? "case" : "task"));
    json_object_set_new_nocheck(actor, "_id", json_string(ctx->actor.id));
    json_object_set_new_nocheck(actor, "name", json_string(ctx->actor.name ? ctx->actor.name : ""));
    json_object_set_new_nocheck(actor, "profImage",
                                json_string(ctx->actor.prof_image ? ctx->actor.prof_image : ""));
    json_object_set_new_nocheck(a, "actor", actor);
    json_object_set_new_nocheck(a, "createdAt", json_string(iso));
    json_object_set_new_nocheck(a, "timestampValue", json_integer(ctx->now_ms));
    json_object_set_nocheck(a, "changes", changes);
    return a;
}
