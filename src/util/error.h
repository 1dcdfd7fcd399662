/* error — the one error catalogue of API.md §10: a stable reason word and HTTP status per code,
 * and the error value lower layers fill in for the API layer to answer. */
#ifndef CASEMGR_UTIL_ERROR_H
#define CASEMGR_UTIL_ERROR_H

#include <stddef.h>

/* Stable machine words of the error envelope, each with its HTTP status. */
enum err_code {
    ERR_BAD_REQUEST,
    ERR_INVALID_JSON,
    ERR_INVALID_TYPE,
    ERR_UNKNOWN_MEMBER,
    ERR_MISSING_MEMBER,
    ERR_INVALID_VALUE,
    ERR_READ_ONLY,
    ERR_NESTING_TOO_DEEP,
    ERR_STRING_TOO_LONG,
    ERR_ARRAY_TOO_LONG,
    ERR_INVALID_UTF8,
    ERR_MISSING_HEADER,
    ERR_UNAUTHORIZED,
    ERR_MISSING_SCOPE,
    ERR_STREAM_NOT_ALLOWED,
    ERR_ACCOUNT_MISMATCH,
    ERR_NOT_FOUND,
    ERR_METHOD_NOT_ALLOWED,
    ERR_IDEMPOTENCY_CONFLICT,
    ERR_CONFLICT,
    ERR_PRECONDITION_FAILED,
    ERR_BODY_TOO_LARGE,
    ERR_URI_TOO_LONG,
    ERR_UNSUPPORTED_MEDIA_TYPE,
    ERR_HEADERS_TOO_LARGE,
    ERR_INTERNAL,
    ERR_UNAVAILABLE,
    ERR_COUNT
};

/* An error with the member at fault (field "" for none) and a human sentence. */
struct err {
    enum err_code code;
    char field[64];
    char msg[512];
};

/* HTTP status, reason word and default sentence of a code (static strings). */
unsigned err_status(enum err_code code);
const char *err_reason(enum err_code code);
const char *err_message(enum err_code code);
/* Fills e; field may be NULL; fmt NULL uses the default sentence. Returns -1 (for "return err_set(...)"). */
int err_set(struct err *e, enum err_code code, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* A body's unknown members, to be named together (API.md §7: "400 naming them", so that a client
 * with several typos learns of all of them at once). The names are borrowed from the body. */
#define ERR_UNKNOWN_NAMED 8
struct err_unknown {
    size_t count;
    const char *names[ERR_UNKNOWN_NAMED]; /* the first ones */
};
void err_unknown_add(struct err_unknown *u, const char *name);
/* With any gathered: ERR_UNKNOWN_MEMBER with the first as the field and the message "unknown
 * member(s) a, b[ and n more] <where>"; returns -1. Without: 0, e untouched. */
int err_unknown_set(const struct err_unknown *u, struct err *e, const char *where);

#endif
