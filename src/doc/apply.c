#include "doc/apply.h"

#include <ctype.h>
#include <math.h>
#include <string.h>

#include "doc/config.h"
#include "util/mem.h"
#include "util/text.h"
#include "util/time.h"

/* Epoch ms accepted for dates: years 1970..9999. */
#define DUE_MAX_MS 253402300799999LL

int doc_parse_due_date(const json_t *v, const char *member, int64_t *ms, struct err *e)
{
    /* *ms is written on success only; the explicit -1s let analysers, which cannot see err_set's
     * return value from this file, tell the failure paths from success */
    if (json_is_string(v)) {
        int64_t t;
        if (time_parse_iso(json_string_value(v), &t) != 0) {
            err_set(e, ERR_INVALID_VALUE, member,
                    "%s must be epoch milliseconds or an ISO-8601 date-time", member);
            return -1;
        }
        if (t < 0 || t > DUE_MAX_MS) {
            err_set(e, ERR_INVALID_VALUE, member, "%s must be from 1970 to 9999", member);
            return -1;
        }
        *ms = t;
        return 0;
    }
    double d = json_number_value(v);
    if (!json_is_number(v) || !isfinite(d) || d < 0 || d > (double)DUE_MAX_MS || floor(d) != d) {
        err_set(e, ERR_INVALID_VALUE, member,
                "%s must be a whole number of epoch milliseconds (1970..9999)", member);
        return -1;
    }
    *ms = (int64_t)d;
    return 0;
}

int doc_parse_instant(const json_t *v, int64_t *ms)
{
    int64_t t = 0;
    bool ok = false;
    if (json_is_string(v)) {
        ok = time_parse_iso(json_string_value(v), &t) == 0;
    } else if (json_is_number(v)) {
        double d = json_number_value(v);
        ok = isfinite(d) && floor(d) == d && d >= (double)TIME_ISO_MIN_MS &&
             d <= (double)TIME_ISO_MAX_MS;
        if (ok)
            t = (int64_t)d;
    }
    if (!ok || t < TIME_ISO_MIN_MS || t > TIME_ISO_MAX_MS) /* an offset may cross the range */
        return -1;
    *ms = t;
    return 0;
}

bool doc_is_unresolved(const json_t *doc)
{
    const char *cat =
        json_string_value(json_object_get(json_object_get(doc, "status"), "statusCategory"));
    return cat && (strcmp(cat, "open") == 0 || strcmp(cat, "inProgress") == 0);
}

void doc_refresh_breach(json_t *doc, int64_t now_ms)
{
    json_t *due = json_object_get(doc, "dueDate");
    bool breached = json_is_integer(due) && json_integer_value(due) < now_ms &&
                    doc_is_unresolved(doc);
    json_object_set_new(doc, "isBreached", json_boolean(breached));
}

/* The cleared value of a member (API.md §7: string → "", array → [], object → {}). */
static json_t *cleared(enum doc_type t)
{
    switch (t) {
    case DOC_STRING:
        return json_string("");
    case DOC_ARRAY:
        return json_array();
    case DOC_OBJECT:
        return json_object();
    case DOC_BOOL:
        return json_false();
    case DOC_NUMBER:
    case DOC_ANY:
        break;
    }
    return json_null();
}

json_t *doc_own_member(json_t *obj, const char *key)
{
    json_t *v = json_object_get(obj, key);
    if (v && v->refcount > 1) {
        v = json_copy(v);
        json_object_set_new(obj, key, v);
    }
    return v;
}

/* Field f of doc, made doc's own (doc_own_member) with the array that holds it, for a change of
 * its selectedValue. */
static json_t *own_field(json_t *doc, json_t *f)
{
    json_t *fields = doc_own_member(doc, "fields");
    for (size_t i = 0; i < json_array_size(fields); i++) {
        if (json_array_get(fields, i) != f)
            continue;
        if (f->refcount > 1) {
            f = json_copy(f);
            json_array_set_new(fields, i, f);
        }
        return f;
    }
    return f; /* not an element of fields: nothing shares it */
}

static json_t *find_field(json_t *fields, const json_t *given)
{
    const char *id = json_string_value(json_object_get(given, "_id"));
    const char *name = json_string_value(json_object_get(json_object_get(given, "metaData"), "name"));
    if (!name)
        name = json_string_value(json_object_get(given, "name"));
    size_t i;
    json_t *f;
    if (id) {
        json_array_foreach(fields, i, f)
        {
            const char *fid = json_string_value(json_object_get(f, "_id"));
            if (fid && strcmp(fid, id) == 0)
                return f;
        }
    }
    if (name) {
        json_array_foreach(fields, i, f)
        {
            const char *fname =
                json_string_value(json_object_get(json_object_get(f, "metaData"), "name"));
            if (fname && strcmp(fname, name) == 0)
                return f;
        }
    }
    return NULL;
}

static bool is_empty_value(const json_t *v)
{
    return !v || json_is_null(v) || (json_is_string(v) && json_string_length(v) == 0);
}

/* Checks a selectedValue against the field's dataType and returns the value to store. */
static json_t *field_value(const json_t *field, const json_t *v, struct err *e)
{
    const char *type = json_string_value(json_object_get(field, "dataType"));
    const char *label = json_string_value(json_object_get(field, "displayName"));
    if (!type)
        type = "string";
    if (!label)
        label = "?";
    if (is_empty_value(v)) {
        if (json_is_true(json_object_get(field, "required"))) {
            err_set(e, ERR_INVALID_VALUE, "fields", "field %s is required and cannot be emptied",
                    label);
            return NULL;
        }
        return strcmp(type, "number") == 0 || strcmp(type, "boolean") == 0 ? json_null()
                                                                           : json_string("");
    }
    if (strcmp(type, "datetime") == 0) {
        /* any ISO-8601 date-time of years 0000-9999 (a date of birth, a contract's start), or
         * whole epoch milliseconds of those years: dueDate's 1970 floor is its own */
        int64_t ms;
        if (doc_parse_instant(v, &ms) == 0) {
            char iso[TIME_ISO_LEN];
            time_format_iso(ms, iso);
            return json_string(iso);
        }
        err_set(e, ERR_INVALID_VALUE, "fields",
                "field %s needs an ISO-8601 date-time (years 0000 to 9999) or epoch "
                "milliseconds",
                label);
        return NULL;
    }
    /* any other dataType holds a string: input, textarea, and string (streams seeded before) */
    const char *want =
        strcmp(type, "number") == 0 || strcmp(type, "boolean") == 0 ? type : "string";
    bool ok = strcmp(want, "number") == 0    ? json_is_number(v)
              : strcmp(want, "boolean") == 0 ? json_is_boolean(v)
                                             : json_is_string(v);
    if (!ok) {
        err_set(e, ERR_INVALID_TYPE, "fields", "field %s needs a %s value", label, want);
        return NULL;
    }
    return json_deep_copy(v);
}

json_t *doc_template_fields(const json_t *tmpl)
{
    json_t *fields = json_deep_copy(json_object_get(tmpl, "fields"));
    size_t i;
    json_t *f;
    json_array_foreach(fields, i, f)
    {
        const char *type = json_string_value(json_object_get(f, "dataType"));
        bool scalar = type && (strcmp(type, "number") == 0 || strcmp(type, "boolean") == 0);
        json_object_set_new(f, "selectedValue", scalar ? json_null() : json_string(""));
    }
    return fields;
}

int doc_check_required_fields(const json_t *doc, struct err *e)
{
    size_t i;
    const json_t *f;
    json_array_foreach(json_object_get(doc, "fields"), i, f)
    {
        if (json_is_true(json_object_get(f, "required")) &&
            is_empty_value(json_object_get(f, "selectedValue")))
            return err_set(e, ERR_MISSING_MEMBER, "fields", "field %s is required",
                           json_string_value(json_object_get(f, "displayName")));
    }
    return 0;
}

/* A record moved to template tmpl takes its fields, in its order: a field of the same name keeps
 * its value when the new field's dataType accepts it, any other starts empty. (It kept the old
 * template's fields: a required field of the new one was missing, and its fields could not be
 * set.) The system fields follow name, desc and dueDate again (doc_sync_mirrors). */
static void follow_template(json_t *doc, const json_t *tmpl)
{
    json_t *fields = doc_template_fields(tmpl), *old = json_object_get(doc, "fields");
    size_t i;
    json_t *f;
    json_array_foreach(fields, i, f)
    {
        const json_t *was = find_field(old, f);
        if (!was || is_empty_value(json_object_get(was, "selectedValue")))
            continue;
        struct err ignored;
        json_t *val = field_value(f, json_object_get(was, "selectedValue"), &ignored);
        if (val)
            json_object_set_new(f, "selectedValue", val);
    }
    json_object_set_new(doc, "fields", fields);
}

#define SAME_EXACT 9007199254740992LL /* 2^53: integers a double holds exactly up to here */

/* NOLINTNEXTLINE(misc-no-recursion): one level per container of a parsed body (depth-limited) */
bool doc_same_value(const json_t *a, const json_t *b)
{
    if (a == b)
        return true;
    if (!a || !b)
        return false;
    if (json_is_number(a) && json_is_number(b)) {
        if (json_is_integer(a) == json_is_integer(b))
            return json_is_integer(a) ? json_integer_value(a) == json_integer_value(b)
                                      : json_real_value(a) == json_real_value(b);
        /* an integer and a real: the same only where a double holds the integer exactly (past
         * 2^53, 9007199254740993 and 9007199254740992.0 would compare equal as doubles) */
        json_int_t i = json_integer_value(json_is_integer(a) ? a : b);
        double d = json_real_value(json_is_integer(a) ? b : a);
        return i >= -SAME_EXACT && i <= SAME_EXACT && (double)i == d;
    }
    if (json_is_array(a) && json_is_array(b)) {
        if (json_array_size(a) != json_array_size(b))
            return false;
        for (size_t i = 0; i < json_array_size(a); i++)
            if (!doc_same_value(json_array_get(a, i), json_array_get(b, i)))
                return false;
        return true;
    }
    if (json_is_object(a) && json_is_object(b)) {
        if (json_object_size(a) != json_object_size(b))
            return false;
        const char *k;
        const json_t *v;
        json_object_foreach((json_t *)a, k, v)
        {
            if (!doc_same_value(v, json_object_get(b, k)))
                return false;
        }
        return true;
    }
    return json_equal(a, b);
}

/* Mirrors of system fields: Title ↔ name, Description ↔ desc, Due Date ↔ dueDate. */
static const struct {
    const char *field, *member;
} mirrors[] = {{"title", "name"}, {"description", "desc"}, {"dueDate", "dueDate"}};

static int apply_fields(json_t *doc, const json_t *v, const json_t *body, size_t max_name,
                        struct err *e)
{
    size_t i;
    const json_t *given;
    json_array_foreach(v, i, given)
    {
        json_t *f = find_field(json_object_get(doc, "fields"), given);
        if (!f)
            return err_set(e, ERR_INVALID_VALUE, "fields",
                           "fields[%zu] names no field of this record (by _id or metaData.name)",
                           i);
        const json_t *sel = json_object_get(given, "selectedValue");
        if (!sel) {
            /* no value: the field is left as it is (an element that echoes its definition), but
             * a member the field does not have is a typo (selectedvalue), not silence: it had
             * cleared the stored value */
            const char *k;
            const json_t *x;
            json_object_foreach((json_t *)given, k, x)
            {
                if (!json_object_get(f, k))
                    return err_set(e, ERR_UNKNOWN_MEMBER, "fields",
                                   "fields[%zu] has an unknown member %s (the value is "
                                   "selectedValue)",
                                   i, k);
            }
            continue;
        }
        json_t *val = field_value(f, sel, e);
        if (!val)
            return -1;
        if (doc_same_value(json_object_get(f, "selectedValue"), val)) {
            json_decref(val); /* 5.0 for a stored 5 changes nothing */
            val = json_object_get(f, "selectedValue"); /* borrowed, as below */
        } else {
            f = own_field(doc, f);
            json_object_set_new(f, "selectedValue", val);
        }
        /* a system field set here moves its member too, unless the body sets the member */
        const char *fname = json_string_value(json_object_get(json_object_get(f, "metaData"), "name"));
        for (size_t k = 0; fname && k < sizeof mirrors / sizeof mirrors[0]; k++) {
            if (strcmp(fname, mirrors[k].field) != 0 || json_object_get(body, mirrors[k].member))
                continue;
            if (strcmp(mirrors[k].member, "dueDate") == 0) {
                int64_t ms;
                if (json_string_length(val) == 0)
                    json_object_del(doc, "dueDate");
                else if (doc_parse_due_date(val, "fields", &ms, e) == 0)
                    json_object_set_new(doc, "dueDate", json_integer(ms));
                else /* a date-time field may hold years dueDate may not */
                    return err_set(e, ERR_INVALID_VALUE, "fields",
                                   "the Due Date field (dueDate) must be from 1970 to 9999");
            } else if (json_is_string(val)) {
                if (strcmp(mirrors[k].member, "name") == 0 && json_string_length(val) > max_name)
                    return err_set(e, ERR_STRING_TOO_LONG, "fields",
                                   "Title is longer than %zu bytes", max_name);
                json_object_set(doc, mirrors[k].member, val);
            }
        }
    }
    return 0;
}

/* currAssignee's names of the user (the vendor's {aId, name, agentId}, or {_id, name}) are
 * strings or null. {"_id": 5} was stored as an agent's assignment that the filters, which look
 * for a string, took for none. */
static int assignee_check(const json_t *v, struct err *e)
{
    static const char *const names[] = {"_id", "agentId", "aId", "name"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        const json_t *x = json_object_get(v, names[i]);
        if (x && !json_is_null(x) && !json_is_string(x))
            return err_set(e, ERR_INVALID_TYPE, "currAssignee", "currAssignee.%s must be a string",
                           names[i]);
    }
    return 0;
}

int doc_apply_member(json_t *doc, enum doc_kind kind, const struct doc_member *m, const json_t *v,
                     const json_t *body, const struct doc_ctx *ctx, struct err *e)
{
    const char *name = m->name;
    if (strcmp(name, "status") == 0 || strcmp(name, "priority") == 0) {
        if (json_is_null(v)) /* a record always has a status and priority */
            return err_set(e, ERR_INVALID_VALUE, name, "%s cannot be cleared", name);
        const json_t *found = name[0] == 's' ? config_resolve_status(ctx->config, v, e)
                                             : config_resolve_priority(ctx->config, v, e);
        if (!found)
            return -1;
        json_object_set_new(doc, name, json_deep_copy(found));
        return 0;
    }
    if (strcmp(name, "caseTmp") == 0 || strcmp(name, "taskTmp") == 0) {
        const char *target = kind == DOC_CASE ? "caseTmp" : "taskTmp";
        /* a task's caseTmp is its taskTmp (the seed's name); taskTmp wins when both are given */
        if (kind == DOC_TASK && strcmp(name, "caseTmp") == 0 && json_object_get(body, "taskTmp"))
            return 0;
        if (json_is_null(v))
            return err_set(e, ERR_INVALID_VALUE, name, "%s cannot be cleared", name);
        const json_t *tmpl =
            config_template_or_err(ctx->config, kind, json_string_value(v), name, e);
        if (!tmpl)
            return -1;
        if (!json_equal(json_object_get(doc, target), v))
            follow_template(doc, tmpl);
        json_object_set_new(doc, target, json_deep_copy(v));
        return 0;
    }
    if (strcmp(name, "dueDate") == 0) {
        if (json_is_null(v)) {
            json_object_del(doc, "dueDate");
            return 0;
        }
        int64_t ms;
        if (doc_parse_due_date(v, name, &ms, e))
            return -1;
        json_object_set_new(doc, "dueDate", json_integer(ms));
        return 0;
    }
    if (strcmp(name, "name") == 0 && json_string_length(v) == 0)
        return err_set(e, ERR_INVALID_VALUE, name, "name cannot be empty");
    if (strcmp(name, "fields") == 0) {
        if (json_is_null(v)) /* the Title field is required: fields cannot be emptied */
            return err_set(e, ERR_INVALID_VALUE, name, "fields cannot be cleared");
        return apply_fields(doc, v, body,
                            (ctx->limits ? ctx->limits : &doc_default_limits)->max_name, e);
    }
    size_t max_array = (ctx->limits ? ctx->limits : &doc_default_limits)->max_array;
    if (json_array_size(v) > max_array) /* taskIds, changed (doc_check_limits let it through) */
        return err_set(e, ERR_ARRAY_TOO_LONG, name, "an array in %s has more than %zu elements",
                       name, max_array);
    if (strcmp(name, "currAssignee") == 0) {
        /* a value stored before the check, echoed back, is not refused */
        const json_t *stored = json_object_get(doc, name);
        if (!(stored && doc_same_value(stored, v)) && assignee_check(v, e))
            return -1;
        /* API.md §7: a non-empty object sets "agent", {} or null "unassigned" */
        bool empty = json_is_null(v) || json_object_size(v) == 0;
        if (!json_object_get(body, "assigneeType"))
            json_object_set_new(doc, "assigneeType", json_string(empty ? "unassigned" : "agent"));
    }
    json_object_set_new(doc, name, json_is_null(v) ? cleared(m->type) : json_deep_copy(v));
    return 0;
}

/* One member of a body. An echo of the stored value changes nothing (and may name an inactive
 * status); currAssignee sets assigneeType even when it is unchanged. */
static int apply_one(json_t *doc, enum doc_kind kind, const char *k, const json_t *v,
                     const json_t *body, const struct doc_ctx *ctx, struct err *e)
{
    const struct doc_member *m = doc_member_find(k, kind);
    if (!m || m->access != DOC_RW)
        return 0;
    const json_t *stored = json_object_get(doc, k);
    if (stored && doc_same_value(stored, v) && strcmp(k, "currAssignee") != 0)
        return 0;
    return doc_apply_member(doc, kind, m, v, body, ctx, e);
}

static bool is_template_key(const char *k)
{
    return strcmp(k, "caseTmp") == 0 || strcmp(k, "taskTmp") == 0;
}

int doc_apply_body(json_t *doc, enum doc_kind kind, const json_t *body, const struct doc_ctx *ctx,
                   struct err *e)
{
    /* the template first: its fields are the ones a fields member of the same body sets (a
     * task's taskTmp wins over its caseTmp: doc_apply_member) */
    json_t *fields_before = json_incref(json_object_get(doc, "fields"));
    int rc = 0;
    static const char *const templates[] = {"caseTmp", "taskTmp"};
    for (size_t i = 0; rc == 0 && i < sizeof templates / sizeof templates[0]; i++) {
        const json_t *v = json_object_get(body, templates[i]);
        if (v)
            rc = apply_one(doc, kind, templates[i], v, body, ctx, e);
    }
    const char *k;
    const json_t *v;
    json_object_foreach((json_t *)body, k, v)
    {
        if (rc != 0)
            break;
        /* the old template's fields, echoed with a new template (a whole document sent back):
         * the record took the new one's, with the values of the same names (follow_template);
         * applied, a field only the old one had was refused */
        if (is_template_key(k) || (strcmp(k, "fields") == 0 &&
                                   json_object_get(doc, "fields") != fields_before &&
                                   doc_same_value(fields_before, v)))
            continue;
        rc = apply_one(doc, kind, k, v, body, ctx, e);
    }
    json_decref(fields_before);
    return rc;
}

/* The mirrors' fields (doc_sync_mirrors): the first system field of each name gets its value,
 * unless it holds an equal one. One walk of the fields for the three: a walk for each looked up
 * ~30 members a small update. The array is fetched again at each step: own_field may replace
 * it with the document's own copy, whose elements are at the same places. Takes the values. */
struct mirror {
    const char *field;
    json_t *value;
};

static void set_field_values(json_t *doc, struct mirror *m, size_t n)
{
    size_t left = n;
    for (size_t i = 0; left > 0 && i < json_array_size(json_object_get(doc, "fields")); i++) {
        json_t *f = json_array_get(json_object_get(doc, "fields"), i);
        const char *fname = json_string_value(json_object_get(json_object_get(f, "metaData"), "name"));
        const char *type = json_string_value(json_object_get(f, "type"));
        if (!fname || !type || strcmp(type, "system") != 0)
            continue;
        for (size_t j = 0; j < n; j++) {
            if (!m[j].field || strcmp(fname, m[j].field) != 0)
                continue;
            if (!json_equal(json_object_get(f, "selectedValue"), m[j].value))
                json_object_set(own_field(doc, f), "selectedValue", m[j].value);
            m[j].field = NULL; /* the first of its name only */
            left--;
            break;
        }
    }
    for (size_t j = 0; j < n; j++)
        json_decref(m[j].value);
}

/* Member key of doc set to the string s, unless it holds that string already (its value, and its
 * stored text, then stay as they are: jtext_dump_known). */
static void set_string(json_t *doc, const char *key, const char *s)
{
    const char *was = json_string_value(json_object_get(doc, key));
    if (!was || strcmp(was, s) != 0)
        json_object_set_new(doc, key, json_string(s));
}

void doc_sync_mirrors(json_t *doc)
{
    const json_t *name = json_object_get(doc, "name");
    char *lname = text_lower(json_string_value(name) ? json_string_value(name) : "",
                             json_string_length(name));
    set_string(doc, "lname", lname);
    free(lname);
    json_t *due = json_object_get(doc, "dueDate");
    char eta[TIME_ISO_LEN] = "";
    if (json_is_integer(due))
        time_format_iso(json_integer_value(due), eta);
    set_string(doc, "ETA", eta);
    struct mirror m[] = {
        {"title", json_incref(json_object_get(doc, "name"))},
        {"description", json_incref(json_object_get(doc, "desc"))},
        {"dueDate", json_string(eta)},
    };
    set_field_values(doc, m, sizeof m / sizeof m[0]);
}

void doc_finish_write(json_t *doc, const struct doc_ctx *ctx)
{
    doc_sync_mirrors(doc);
    doc_stamp_write(doc, ctx);
}

void doc_stamp_write(json_t *doc, const struct doc_ctx *ctx)
{
    char iso[TIME_ISO_LEN];
    time_format_iso(ctx->now_ms, iso);
    json_object_set_new(doc, "updatedAt", json_string(iso));
    json_object_set_new(doc, "timestampValue", json_integer(ctx->now_ms));
    /* as json_pack("{s:s, s:s, s:s}") made it, without reading a format at every write */
    json_t *by = json_object();
    json_object_set_new_nocheck(by, "_id", json_string(ctx->actor.id));
    json_object_set_new_nocheck(by, "name", json_string(ctx->actor.name ? ctx->actor.name : ""));
    json_object_set_new_nocheck(by, "profImage",
                                json_string(ctx->actor.prof_image ? ctx->actor.prof_image : ""));
    json_object_set_new(doc, "updatedBy", by);
    doc_refresh_breach(doc, doc_ctx_clock(ctx));
}
