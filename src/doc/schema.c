/* schema — the table below is the seed's request-body table plus the document members of
 * API.md §5; validation, null handling and the tests are all driven by it. */
#include "doc/schema.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "util/jtext.h"
#include "util/mem.h"

#define BOTH (DOC_CASE | DOC_TASK)
#define IN DOC_F_IN_DOC

static const struct doc_member members[] = {
    /* name, type, element, access, kinds, flags */
    {"_id", DOC_STRING, DOC_ANY, DOC_RO, BOTH, IN},
    {"caseId", DOC_STRING, DOC_ANY, DOC_RO, DOC_TASK, IN}, /* create input, then read-only */
    {"caseRefId", DOC_STRING, DOC_ANY, DOC_RO, DOC_TASK, IN},
    {"caseTmp", DOC_STRING, DOC_ANY, DOC_RW, BOTH, IN}, /* a task's caseTmp is its taskTmp */
    {"taskTmp", DOC_STRING, DOC_ANY, DOC_RW, DOC_TASK, IN},
    {"name", DOC_STRING, DOC_ANY, DOC_RW, BOTH, IN | DOC_F_NO_CLEAR | DOC_F_NAME},
    {"lname", DOC_STRING, DOC_ANY, DOC_MANAGED, BOTH, IN},
    {"desc", DOC_STRING, DOC_ANY, DOC_RW, BOTH, IN},
    {"tags", DOC_ARRAY, DOC_STRING, DOC_RW, BOTH, IN},
    {"userInfo", DOC_OBJECT, DOC_ANY, DOC_RW, BOTH, IN},
    {"sessIds", DOC_ARRAY, DOC_STRING, DOC_RW, BOTH, IN},
    {"accountId", DOC_STRING, DOC_ANY, DOC_RO, BOTH, IN},
    {"iId", DOC_STRING, DOC_ANY, DOC_RO, BOTH, IN},
    {"lid", DOC_STRING, DOC_ANY, DOC_RO, BOTH, 0}, /* the seed's name for iId */
    {"orgId", DOC_STRING, DOC_ANY, DOC_RO, BOTH, IN},
    {"convIds", DOC_ARRAY, DOC_STRING, DOC_RW, BOTH, IN},
    {"status", DOC_OBJECT, DOC_ANY, DOC_RW, BOTH, IN},
    {"source", DOC_STRING, DOC_ANY, DOC_RW, BOTH, IN},
    {"language", DOC_STRING, DOC_ANY, DOC_RW, BOTH, IN},
    {"conversationType", DOC_STRING, DOC_ANY, DOC_RO, BOTH, IN},
    {"fields", DOC_ARRAY, DOC_OBJECT, DOC_RW, BOTH, IN},
    {"participants", DOC_ARRAY, DOC_ANY, DOC_RW, BOTH, IN},
    {"priority", DOC_OBJECT, DOC_ANY, DOC_RW, BOTH, IN},
    {"refId", DOC_STRING, DOC_ANY, DOC_RO, BOTH, IN},
    {"assigneeType", DOC_STRING, DOC_ANY, DOC_RW, BOTH, IN},
    {"isCustTsk", DOC_BOOL, DOC_ANY, DOC_RW, DOC_TASK, IN},
    {"isActive", DOC_BOOL, DOC_ANY, DOC_RW, BOTH, IN},
    /* members of a case's document; a task accepts them because the seed's table lists them */
    {"taskIds", DOC_ARRAY, DOC_STRING, DOC_RW, BOTH, IN | DOC_F_CASE_DOC},
    {"supportCustomTasks", DOC_BOOL, DOC_ANY, DOC_RW, BOTH, IN | DOC_F_CASE_DOC},
    {"tasks", DOC_ARRAY, DOC_ANY, DOC_MANAGED, DOC_CASE, IN},
    {"attachments", DOC_ARRAY, DOC_ANY, DOC_RW, BOTH, IN},
    {"feedback", DOC_ARRAY, DOC_ANY, DOC_RW, BOTH, IN},
    {"createdBy", DOC_OBJECT, DOC_ANY, DOC_RO, BOTH, IN},
    {"updatedBy", DOC_OBJECT, DOC_ANY, DOC_MANAGED, BOTH, IN},
    {"timestampValue", DOC_NUMBER, DOC_ANY, DOC_MANAGED, BOTH, IN},
    {"activityIds", DOC_ARRAY, DOC_STRING, DOC_MANAGED, BOTH, IN},
    {"commentIds", DOC_ARRAY, DOC_STRING, DOC_RW, BOTH, IN},
    {"resolutionCmts", DOC_ARRAY, DOC_ANY, DOC_RW, BOTH, IN},
    {"dueDate", DOC_NUMBER, DOC_ANY, DOC_RW, BOTH, IN | DOC_F_DATE},
    {"isBreached", DOC_BOOL, DOC_ANY, DOC_MANAGED, BOTH, IN},
    {"queues", DOC_ARRAY, DOC_ANY, DOC_RW, BOTH, IN},
    {"channel", DOC_ARRAY, DOC_STRING, DOC_RW, BOTH, IN},
    {"createdAt", DOC_STRING, DOC_ANY, DOC_RO, BOTH, IN},
    {"updatedAt", DOC_STRING, DOC_ANY, DOC_MANAGED, BOTH, IN},
    {"currAssignee", DOC_OBJECT, DOC_ANY, DOC_RW, BOTH, IN},
    {"ETA", DOC_STRING, DOC_ANY, DOC_MANAGED, BOTH, IN},
    /* createCase folds these into userInfo (API.md §6) */
    {"emailId", DOC_STRING, DOC_ANY, DOC_INPUT, DOC_CASE, 0},
    {"phoneNumber", DOC_STRING, DOC_ANY, DOC_INPUT, DOC_CASE, 0},
};

const struct doc_limits doc_default_limits = {
    .max_depth = 32,
    .max_string = 65536,
    .max_array = 10000,
    .max_name = 1024,
};

const struct doc_member *doc_members(size_t *n)
{
    *n = sizeof members / sizeof members[0];
    return members;
}

/* doc_member_find's index: each member's position + 1 at a hash of its name, open addressing
 * (0: an empty slot). Every body member and every stored member is looked up here, ~40 times a
 * small update: the scan of the table it replaces (first letters compared before strcmp) was
 * 2.1 % of that update's instructions, the index is 1.0 % (callgrind). */
#define INDEX_SLOTS 128
#define NAME_MAX_LEN 32 /* longer than any member's name: such a name is none */
#define MEMBER_COUNT (sizeof members / sizeof members[0])
_Static_assert(MEMBER_COUNT <= INDEX_SLOTS / 2, "the index stays at most half full");
static unsigned char member_index[INDEX_SLOTS];
static pthread_once_t index_once = PTHREAD_ONCE_INIT;

/* FNV-1a of name's first NAME_MAX_LEN + 1 bytes at most, and their number at *len. */
static unsigned name_hash(const char *name, size_t *len)
{
    unsigned h = 2166136261u;
    size_t n = 0;
    while (n <= NAME_MAX_LEN && name[n])
        h = (h ^ (unsigned char)name[n++]) * 16777619u;
    *len = n;
    return h;
}

static void index_build(void)
{
    for (size_t i = 0; i < MEMBER_COUNT; i++) {
        size_t len;
        unsigned slot = name_hash(members[i].name, &len) & (INDEX_SLOTS - 1);
        while (member_index[slot])
            slot = (slot + 1) & (INDEX_SLOTS - 1);
        member_index[slot] = (unsigned char)(i + 1);
    }
}

const struct doc_member *doc_member_find(const char *name, enum doc_kind kind)
{
    pthread_once(&index_once, index_build);
    size_t len;
    unsigned slot = name_hash(name, &len) & (INDEX_SLOTS - 1);
    if (len > NAME_MAX_LEN)
        return NULL;
    for (unsigned i; (i = member_index[slot]) != 0; slot = (slot + 1) & (INDEX_SLOTS - 1)) {
        const struct doc_member *m = &members[i - 1];
        if (strcmp(m->name, name) == 0) /* names are unique */
            return (m->kinds & kind) ? m : NULL;
    }
    return NULL;
}

bool doc_member_in_doc(const struct doc_member *m, enum doc_kind kind)
{
    return (m->flags & DOC_F_IN_DOC) && !(kind == DOC_TASK && (m->flags & DOC_F_CASE_DOC));
}

const char *doc_type_name(enum doc_type t)
{
    static const char *const names[] = {
        [DOC_STRING] = "string", [DOC_NUMBER] = "number", [DOC_BOOL] = "boolean",
        [DOC_OBJECT] = "object", [DOC_ARRAY] = "array",   [DOC_ANY] = "any",
    };
    return names[t];
}

static bool has_type(const json_t *v, enum doc_type t)
{
    switch (t) {
    case DOC_STRING:
        return json_is_string(v);
    case DOC_NUMBER:
        return json_is_number(v);
    case DOC_BOOL:
        return json_is_boolean(v);
    case DOC_OBJECT:
        return json_is_object(v);
    case DOC_ARRAY:
        return json_is_array(v);
    case DOC_ANY:
        return true;
    }
    return false;
}

/* The id lists the server itself lengthens past the array limit: a record's activityIds (one an
 * update) and a case's taskIds (one a createTask). A whole document echoed back carries them, and
 * was refused (400) once a record had more than 10,000 updates. activityIds is managed (ignored);
 * a changed taskIds is held to the limit when applied (doc_apply_member). */
static bool server_grown(const char *member)
{
    return member && (strcmp(member, "activityIds") == 0 || strcmp(member, "taskIds") == 0);
}

/* NOLINTNEXTLINE(misc-no-recursion): one level per container, stopped past lim->max_depth */
static int check_value(const json_t *v, size_t depth, const struct doc_limits *lim,
                       const char *member, struct err *e)
{
    /* depth counts containers, as jansson does: the top object is level 1 */
    if ((json_is_array(v) || json_is_object(v)) && depth > lim->max_depth)
        return err_set(e, ERR_NESTING_TOO_DEEP, NULL, "the body is nested deeper than %zu levels",
                       lim->max_depth);
    if (json_is_string(v)) {
        if (json_string_length(v) > lim->max_string)
            return err_set(e, ERR_STRING_TOO_LONG, member, "a string in %s is longer than %zu bytes",
                           member ? member : "the body", lim->max_string);
    } else if (json_is_array(v)) {
        if (json_array_size(v) > lim->max_array && !(depth == 2 && server_grown(member)))
            return err_set(e, ERR_ARRAY_TOO_LONG, member,
                           "an array in %s has more than %zu elements",
                           member ? member : "the body", lim->max_array);
        size_t i;
        const json_t *x;
        json_array_foreach(v, i, x) if (check_value(x, depth + 1, lim, member, e)) return -1;
    } else if (json_is_object(v)) {
        const char *k;
        const json_t *x;
        json_object_foreach((json_t *)v, k, x)
        {
            if (strlen(k) > lim->max_string)
                return err_set(e, ERR_STRING_TOO_LONG, NULL, "a member name is too long");
            if (check_value(x, depth + 1, lim, depth == 1 ? k : member, e))
                return -1;
        }
    }
    return 0;
}

int doc_check_limits(const json_t *v, const struct doc_limits *lim, struct err *e)
{
    return check_value(v, 1, lim, NULL, e);
}

/* The end of the number token at p (JSON's grammar, loosely: the parser judges it), and whether
 * it is an integer of more than 18 digits (past what jansson keeps in a json_int_t). */
static const char *number_end(const char *p, const char *end, bool *big_int)
{
    const char *q = p + (*p == '-');
    size_t digits = 0;
    while (q < end && *q >= '0' && *q <= '9') {
        q++;
        digits++;
    }
    *big_int = digits > 18 && (q == end || (*q != '.' && *q != 'e' && *q != 'E'));
    while (q < end && ((*q >= '0' && *q <= '9') || *q == '.' || *q == 'e' || *q == 'E' ||
                       *q == '+' || *q == '-'))
        q++;
    return q;
}

/* body with ".0" after every integer literal too large for jansson's integers, outside strings;
 * NULL when there is none. JSON puts no bound on numbers: such a member is then a real number,
 * and gets the error of a wrongly typed value (or is accepted where a number is), where jansson
 * refused the whole body as invalid JSON. */
static char *widen_big_ints(const char *body, size_t len, size_t *out_len)
{
    char *out = NULL;
    size_t n = 0, widened = 0;
    const char *p = body, *end = body + len, *copied = body;
    bool in_string = false;
    while (p < end) {
        if (in_string) {
            if (*p == '\\' && p + 1 < end)
                p++;
            else if (*p == '"')
                in_string = false;
            p++;
        } else if (*p == '"') {
            in_string = true;
            p++;
        } else if (*p == '-' || (*p >= '0' && *p <= '9')) {
            bool big = false;
            const char *q = number_end(p, end, &big);
            if (big) {
                if (!out)
                    out = xmalloc(len + len / 2 + 3); /* ".0" after a token of 19+ bytes */
                memcpy(out + n, copied, (size_t)(q - copied));
                n += (size_t)(q - copied);
                out[n++] = '.';
                out[n++] = '0';
                copied = q;
                widened++;
            }
            p = q;
        } else {
            p++;
        }
    }
    if (!widened)
        return NULL;
    memcpy(out + n, copied, (size_t)(end - copied));
    *out_len = n + (size_t)(end - copied);
    return out;
}

void doc_skip_bom(const char **body, size_t *len)
{
    if (*len >= 3 && memcmp(*body, "\xEF\xBB\xBF", 3) == 0) {
        *body += 3;
        *len -= 3;
    }
}

json_t *doc_parse_body(const char *body, size_t len, const struct doc_limits *lim, struct err *e)
{
    doc_skip_bom(&body, &len);
    if (len == 0) {
        err_set(e, ERR_INVALID_JSON, NULL, "the body is empty; a JSON object is required");
        return NULL;
    }
    json_error_t je;
    /* jansson reads a byte at a time through a stream: the fast reader first, jansson for what
     * it leaves (a duplicate member, a number past an integer, anything refused) */
    json_t *v = jtext_parse_fast(body, len);
    if (!v)
        v = json_loadb(body, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &je);
    if (!v && json_error_code(&je) == json_error_numeric_overflow) {
        size_t wide_len = 0;
        char *wide = widen_big_ints(body, len, &wide_len);
        if (wide) {
            v = json_loadb(wide, wide_len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &je);
            free(wide);
        }
    }
    if (!v) {
        enum json_error_code code = json_error_code(&je);
        if (code == json_error_invalid_utf8)
            err_set(e, ERR_INVALID_UTF8, NULL, "the body is not valid UTF-8");
        else if (code == json_error_stack_overflow)
            err_set(e, ERR_NESTING_TOO_DEEP, NULL, "the body is nested deeper than %zu levels",
                    lim->max_depth);
        else if (code == json_error_duplicate_key)
            err_set(e, ERR_INVALID_JSON, NULL, "the body has a duplicate member: %s", je.text);
        else if (code == json_error_null_character || code == json_error_null_byte_in_key)
            /* valid JSON, but a NUL would cut the text short wherever it is used */
            err_set(e, ERR_INVALID_VALUE, NULL,
                    "the body has a NUL character (\\u0000) in a string, which is not accepted "
                    "(position %d)", je.position);
        else if (code == json_error_numeric_overflow)
            err_set(e, ERR_INVALID_VALUE, NULL,
                    "the body has a number past the range of a double (position %d)",
                    je.position);
        else
            err_set(e, ERR_INVALID_JSON, NULL, "the body is not valid JSON: %s at position %d",
                    je.text, je.position);
        return NULL;
    }
    if (doc_check_limits(v, lim, e) != 0) {
        json_decref(v);
        return NULL;
    }
    if (!json_is_object(v)) {
        err_set(e, ERR_INVALID_TYPE, NULL, "the body must be a JSON object");
        json_decref(v);
        return NULL;
    }
    return v;
}

static int check_member(const struct doc_member *m, const json_t *v,
                        const struct doc_limits *lim, struct err *e)
{
    if (json_is_null(v)) {
        if (m->flags & DOC_F_NO_CLEAR)
            return err_set(e, ERR_INVALID_VALUE, m->name, "%s cannot be cleared", m->name);
        return 0;
    }
    bool ok = has_type(v, m->type) || ((m->flags & DOC_F_DATE) && json_is_string(v));
    if (!ok)
        return err_set(e, ERR_INVALID_TYPE, m->name, "%s must be %s %s%s", m->name,
                       m->type == DOC_ARRAY || m->type == DOC_OBJECT ? "an" : "a",
                       doc_type_name(m->type),
                       (m->flags & DOC_F_DATE) ? " (epoch milliseconds) or an ISO-8601 string" : "");
    if (m->type == DOC_ARRAY && m->elem != DOC_ANY) {
        size_t i;
        const json_t *x;
        json_array_foreach(v, i, x)
        {
            if (!has_type(x, m->elem))
                return err_set(e, ERR_INVALID_TYPE, m->name, "%s must be an array of %ss (element %zu is not)",
                               m->name, doc_type_name(m->elem), i);
        }
    }
    if ((m->flags & DOC_F_NAME) && json_string_length(v) > lim->max_name)
        return err_set(e, ERR_STRING_TOO_LONG, m->name, "%s is longer than %zu bytes", m->name,
                       lim->max_name);
    return 0;
}

int doc_check_members(const json_t *body, enum doc_kind kind, bool create,
                      const struct doc_limits *lim, struct err *e)
{
    if (!lim)
        lim = &doc_default_limits;
    const char *k;
    const json_t *v;
    struct err_unknown unknown = {0};
    json_object_foreach((json_t *)body, k, v)
    {
        const struct doc_member *m = doc_member_find(k, kind);
        if (!m || (m->access == DOC_INPUT && !create))
            err_unknown_add(&unknown, k);
    }
    if (unknown.count > 0) {
        char where[32];
        snprintf(where, sizeof where, "in a %s %s body", kind == DOC_CASE ? "case" : "task",
                 create ? "create" : "update");
        return err_unknown_set(&unknown, e, where);
    }
    json_object_foreach((json_t *)body, k, v)
    {
        const struct doc_member *m = doc_member_find(k, kind); /* none unknown by now */
        if (m && check_member(m, v, lim, e))
            return -1;
    }
    return 0;
}
