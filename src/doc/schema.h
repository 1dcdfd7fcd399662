/* schema — the member table of a case and a task (the seed's table as data, DESIGN.md §2) and
 * the checks every create and update body goes through: limits, unknown members, types. */
#ifndef CASEMGR_DOC_SCHEMA_H
#define CASEMGR_DOC_SCHEMA_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "util/error.h"

enum doc_kind { DOC_CASE = 1, DOC_TASK = 2 };

enum doc_type { DOC_STRING, DOC_NUMBER, DOC_BOOL, DOC_OBJECT, DOC_ARRAY, DOC_ANY };

enum doc_access {
    DOC_RW,      /* the client sets it */
    DOC_RO,      /* read-only: an equal value is ignored, a different one refused (API.md §7) */
    DOC_MANAGED, /* server-computed: type-checked, then ignored */
    DOC_INPUT,   /* given at creation only (caseId, caseRefId, caseTmp of a case, emailId...) */
};

/* Flags of a member. */
enum {
    DOC_F_DATE = 1 << 0,     /* number of epoch ms, or an ISO-8601 string */
    DOC_F_NO_CLEAR = 1 << 1, /* null is refused (name) */
    DOC_F_IN_DOC = 1 << 2,   /* part of the returned document (not only an accepted input) */
    DOC_F_CASE_DOC = 1 << 3, /* with DOC_F_IN_DOC: in a case's document only */
    DOC_F_NAME = 1 << 4,     /* a string of at most doc_limits.max_name bytes (name) */
};

struct doc_member {
    const char *name;
    enum doc_type type;
    enum doc_type elem; /* arrays: element type (DOC_ANY for any) */
    enum doc_access access;
    unsigned kinds; /* DOC_CASE | DOC_TASK: documents that accept it */
    unsigned flags;
};

/* Limits on any body (API.md §7), each a setting. */
struct doc_limits {
    size_t max_depth;
    size_t max_string;
    size_t max_array;
    size_t max_name; /* a record's name (and its Title field) */
};

extern const struct doc_limits doc_default_limits;

/* The member named name for a kind, or NULL. */
const struct doc_member *doc_member_find(const char *name, enum doc_kind kind);
/* True when m is a member of the document of kind (what selectedColumns may name). */
bool doc_member_in_doc(const struct doc_member *m, enum doc_kind kind);
/* Every member, for table-driven code and tests; *n receives the count. */
const struct doc_member *doc_members(size_t *n);
/* "string", "number", ... for messages. */
const char *doc_type_name(enum doc_type t);

/* Parses a request body into a JSON object, checking UTF-8, duplicates, depth, string and array
 * limits. Returns the object (caller decrefs) or NULL with *e filled. An empty body is refused. */
/* Past a UTF-8 byte order mark at the start of body, if there is one (RFC 8259 §8.1 lets a
 * parser ignore it; some clients and editors write one): *body and *len move past it. */
void doc_skip_bom(const char **body, size_t *len);

json_t *doc_parse_body(const char *body, size_t len, const struct doc_limits *lim, struct err *e);
/* Checks depth, string and array limits of an already parsed value; 0 or -1 with *e. */
int doc_check_limits(const json_t *v, const struct doc_limits *lim, struct err *e);
/* Checks every member of body against the table for kind: known (every unknown one named), right
 * type (null allowed where it clears), right element types, name length (lim->max_name; NULL:
 * doc_default_limits). create selects the create rules (DOC_INPUT members allowed). Returns 0 or
 * -1 with *e naming the member. */
int doc_check_members(const json_t *body, enum doc_kind kind, bool create,
                      const struct doc_limits *lim, struct err *e);

#endif
