#include "util/error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static const struct {
    unsigned status;
    const char *reason;
    const char *msg;
} catalogue[ERR_COUNT] = {
    [ERR_BAD_REQUEST] = {400, "bad_request", "the request is malformed"},
    [ERR_INVALID_JSON] = {400, "invalid_json", "the body is not valid JSON"},
    [ERR_INVALID_TYPE] = {400, "invalid_type", "a member has the wrong type"},
    [ERR_UNKNOWN_MEMBER] = {400, "unknown_member", "the body has an unknown member"},
    [ERR_MISSING_MEMBER] = {400, "missing_member", "a required member is missing"},
    [ERR_INVALID_VALUE] = {400, "invalid_value", "a member has an invalid value"},
    [ERR_READ_ONLY] = {400, "read_only", "a read-only member cannot be changed"},
    [ERR_NESTING_TOO_DEEP] = {400, "nesting_too_deep", "the body is nested too deeply"},
    [ERR_STRING_TOO_LONG] = {400, "string_too_long", "a string is too long"},
    [ERR_ARRAY_TOO_LONG] = {400, "array_too_long", "an array has too many elements"},
    [ERR_INVALID_UTF8] = {400, "invalid_utf8", "the body is not valid UTF-8"},
    [ERR_MISSING_HEADER] = {400, "missing_header", "a required header is missing"},
    [ERR_UNAUTHORIZED] = {401, "unauthorized", "authentication failed"},
    [ERR_MISSING_SCOPE] = {403, "missing_scope",
                                "the app does not have the scope Case Management Configuration"},
    [ERR_STREAM_NOT_ALLOWED] = {403, "stream_not_allowed",
                                     "the app is not associated with this stream"},
    [ERR_ACCOUNT_MISMATCH] = {403, "account_mismatch",
                                   "the accountId header does not match the app's account"},
    [ERR_NOT_FOUND] = {404, "not_found", "not found"},
    [ERR_METHOD_NOT_ALLOWED] = {405, "method_not_allowed", "only POST is allowed here"},
    [ERR_IDEMPOTENCY_CONFLICT] = {409, "idempotency_conflict",
                                   "this Idempotency-Key was used with a different body, endpoint "
                                   "or stream"},
    [ERR_CONFLICT] = {409, "conflict", "the request conflicts with the record's state"},
    [ERR_PRECONDITION_FAILED] = {412, "precondition_failed",
                                      "If-Match does not match the current ETag"},
    [ERR_BODY_TOO_LARGE] = {413, "body_too_large", "the body is too large"},
    [ERR_URI_TOO_LONG] = {414, "uri_too_long", "the request URI is too long"},
    [ERR_UNSUPPORTED_MEDIA_TYPE] = {415, "unsupported_media_type",
                                         "Content-Type must be application/json"},
    [ERR_HEADERS_TOO_LARGE] = {431, "headers_too_large", "the request headers are too large"},
    [ERR_INTERNAL] = {500, "internal", "internal error"},
    [ERR_UNAVAILABLE] = {503, "unavailable", "the service is unavailable, retry later"},
};

unsigned err_status(enum err_code code)
{
    return catalogue[code].status;
}

const char *err_reason(enum err_code code)
{
    return catalogue[code].reason;
}

const char *err_message(enum err_code code)
{
    return catalogue[code].msg;
}

int err_set(struct err *e, enum err_code code, const char *field, const char *fmt, ...)
{
    e->code = code;
    snprintf(e->field, sizeof e->field, "%s", field ? field : "");
    if (fmt) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(e->msg, sizeof e->msg, fmt, ap);
        va_end(ap);
    } else {
        snprintf(e->msg, sizeof e->msg, "%s", catalogue[code].msg);
    }
    return -1;
}

void err_unknown_add(struct err_unknown *u, const char *name)
{
    if (u->count < ERR_UNKNOWN_NAMED)
        u->names[u->count] = name;
    u->count++;
}

int err_unknown_set(const struct err_unknown *u, struct err *e, const char *where)
{
    if (u->count == 0)
        return 0;
    err_set(e, ERR_UNKNOWN_MEMBER, u->names[0], NULL);
    char *msg = e->msg;
    size_t len = (size_t)snprintf(msg, sizeof e->msg, "unknown member%s ", u->count > 1 ? "s" : "");
    /* names while they fit, with room kept for " and N more" and where; the first always (cut to
     * the room if it must be): a long name must not push the rest of the sentence out */
    size_t room = sizeof e->msg - 1 - strlen(" and 18446744073709551615 more ") - strlen(where);
    size_t named = u->count, listed = 0;
    if (named > ERR_UNKNOWN_NAMED)
        named = ERR_UNKNOWN_NAMED;
    for (size_t i = 0; i < named; i++) {
        const char *sep = i ? ", " : "";
        size_t need = strlen(sep) + strlen(u->names[i]);
        if (len + need > room && i > 0)
            break;
        size_t take = len + need > room ? room - len - strlen(sep) : strlen(u->names[i]);
        len += (size_t)snprintf(msg + len, sizeof e->msg - len, "%s%.*s", sep, (int)take,
                                u->names[i]);
        listed++;
    }
    if (u->count > listed)
        len += (size_t)snprintf(msg + len, sizeof e->msg - len, " and %zu more", u->count - listed);
    snprintf(msg + len, sizeof e->msg - len, " %s", where);
    return -1;
}
