#include "doc/record.h"

#include <stdlib.h>
#include <string.h>

#include "util/jtext.h"
#include "util/mem.h"
#include "util/scalar.h"
#include "util/time.h"

struct values {
    char *buf;
    size_t len, cap;
};

/* Appends one entry; one with a separator byte in it could not be told apart, so it is left out
 * (such a value cannot be filtered on). */
static void put_value(struct values *vs, const char *k1, const char *k2, const char *v)
{
    if (!v || strpbrk(v, "\x1d\x1e") || (k2 && strpbrk(k2, "\x1d\x1e\x1f")))
        return;
    size_t n1 = strlen(k1), n2 = k2 ? strlen(k2) : 0, nv = strlen(v);
    size_t need = n1 + (k2 ? n2 + 1 : 0) + nv + 3; /* with a NUL after, as snprintf left */
    if (!vs->buf || vs->len + need > vs->cap) {
        vs->cap = (vs->len + need) * 2;
        vs->buf = xrealloc(vs->buf, vs->cap);
    }
    /* k1, then \x1f and k2, \x1d, v, \x1e: by hand, as snprintf's "%s" cost 1 % of an update's
     * I/O thread */
    char *o = vs->buf + vs->len;
    memcpy(o, k1, n1);
    o += n1;
    if (k2) {
        *o++ = '\x1f';
        memcpy(o, k2, n2);
        o += n2;
    }
    *o++ = '\x1d';
    memcpy(o, v, nv);
    o += nv;
    *o++ = '\x1e';
    *o = '\0';
    vs->len = (size_t)(o - vs->buf);
}

static void record_values(const json_t *doc, struct values *vs)
{
    size_t i;
    const json_t *x;
    json_array_foreach(json_object_get(doc, "channel"), i, x)
        put_value(vs, "ch", NULL, json_string_value(x));
    json_array_foreach(json_object_get(doc, "queues"), i, x)
    {
        if (json_is_string(x)) {
            put_value(vs, "qu", NULL, json_string_value(x));
        } else {
            put_value(vs, "qu", NULL, json_string_value(json_object_get(x, "_id")));
            put_value(vs, "qu", NULL, json_string_value(json_object_get(x, "name")));
        }
    }
    json_array_foreach(json_object_get(doc, "fields"), i, x)
    {
        const char *type = json_string_value(json_object_get(x, "type"));
        if (!type || strcmp(type, "custom") != 0)
            continue;
        char buf[SCALAR_BUF];
        const char *v = scalar_text(json_object_get(x, "selectedValue"), buf);
        put_value(vs, "f", json_string_value(json_object_get(x, "_id")), v);
        put_value(vs, "n", json_string_value(json_object_get(json_object_get(x, "metaData"), "name")),
                  v);
    }
}

static const char *str(const json_t *doc, const char *key)
{
    return json_string_value(json_object_get(doc, key));
}

void doc_record_columns(const json_t *doc, enum doc_kind kind, struct store_record *r)
{
    memset(r, 0, sizeof *r);
    r->kind = kind == DOC_CASE ? STORE_CASE : STORE_TASK;
    r->id = str(doc, "_id");
    r->stream_id = str(doc, "iId");
    r->account_id = str(doc, "accountId");
    r->ref_id = str(doc, "refId");
    r->case_id = kind == DOC_TASK ? str(doc, "caseId") : NULL;
    r->name_lower = str(doc, "lname");
    const json_t *status = json_object_get(doc, "status");
    r->status_name = str(status, "name");
    r->status_category = str(status, "statusCategory");
    const json_t *priority = json_object_get(doc, "priority");
    r->priority_name = str(priority, "name");
    r->priority_score = (int)json_integer_value(json_object_get(priority, "score"));
    /* the assigned user: currAssignee's _id, else its agentId (the vendor's own documents carry
     * {aId, name, agentId} and no _id) */
    const json_t *assigned = json_object_get(doc, "currAssignee");
    const char *assignee = str(assigned, "_id");
    if (!assignee || !*assignee)
        assignee = str(assigned, "agentId");
    r->assignee = assignee && *assignee ? assignee : NULL;
    r->source = str(doc, "source");
    r->ref_seq = r->ref_id && strlen(r->ref_id) > 2 ? strtoll(r->ref_id + 2, NULL, 10) : 0;
    r->breached = json_is_true(json_object_get(doc, "isBreached"));
    int64_t ms = 0;
    const char *created = str(doc, "createdAt");
    r->created_at = created && time_parse_iso(created, &ms) == 0 ? ms : 0;
    r->updated_at = json_integer_value(json_object_get(doc, "timestampValue"));
    const json_t *due = json_object_get(doc, "dueDate");
    r->has_due_date = json_is_integer(due);
    r->due_date = json_integer_value(due);
    struct values vs = {0};
    record_values(doc, &vs);
    r->values = vs.buf ? vs.buf : xstrdup("");
    r->values_len = vs.len;
}

void doc_record_from(const json_t *doc, enum doc_kind kind, struct store_record *r)
{
    doc_record_columns(doc, kind, r);
    r->doc = jtext_dump(doc, &r->doc_len);
    if (!r->doc)
        mem_oom();
}

void doc_record_from_known(const json_t *doc, enum doc_kind kind, struct jtext_known *known,
                           struct store_record *r)
{
    doc_record_columns(doc, kind, r);
    r->doc = jtext_dump_known(doc, &r->doc_len, known, 1, true);
    if (!r->doc)
        mem_oom();
}

void doc_record_detach(struct store_record *r)
{
    const char **const borrowed[] = {&r->id,          &r->stream_id,       &r->account_id,
                                     &r->ref_id,      &r->case_id,         &r->name_lower,
                                     &r->status_name, &r->status_category, &r->priority_name,
                                     &r->assignee,    &r->source};
    char *old = r->strings; /* what a detached record's point into */
    r->strings = xstrpack(borrowed, sizeof borrowed / sizeof *borrowed);
    free(old);
}

void doc_record_cleanup(struct store_record *r)
{
    free(r->doc);
    free((char *)r->values);
    free(r->strings);
    r->doc = NULL;
    r->values = NULL;
    r->strings = NULL;
}
