#include "doc/record.h"

#include <stdlib.h>
#include <string.h>

#include "util/mem.h"
#include "util/time.h"

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
    const char *assignee = str(json_object_get(doc, "currAssignee"), "_id");
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
}

void doc_record_from(const json_t *doc, enum doc_kind kind, struct store_record *r)
{
    doc_record_columns(doc, kind, r);
    r->doc = json_dumps(doc, JSON_COMPACT);
    if (!r->doc)
        mem_oom();
    r->doc_len = strlen(r->doc);
}

void doc_record_cleanup(struct store_record *r)
{
    free(r->doc);
    r->doc = NULL;
}
