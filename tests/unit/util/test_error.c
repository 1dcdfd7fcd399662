/* Unit tests for util/error: the catalogue of API.md §10 (status, stable reason word, sentence per
 * code) and err_set. */
#include <criterion/criterion.h>

#include <stdbool.h>
#include <string.h>

#include "util/error.h"

static bool is_reason_word(const char *s)
{
    if (!(s[0] >= 'a' && s[0] <= 'z'))
        return false;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '_'))
            return false;
    return true;
}

Test(util_error, every_code_has_a_4xx_or_5xx_status)
{
    for (int c = 0; c < ERR_COUNT; c++) {
        unsigned st = err_status((enum err_code)c);
        cr_assert(st >= 400 && st <= 599, "code %d has status %u", c, st);
    }
}

Test(util_error, every_code_has_a_unique_reason_word)
{
    for (int c = 0; c < ERR_COUNT; c++) {
        const char *r = err_reason((enum err_code)c);
        cr_assert_not_null(r, "code %d has no reason", c);
        cr_assert(is_reason_word(r), "code %d reason \"%s\" is not a snake_case word", c, r);
        for (int d = 0; d < c; d++)
            cr_assert_str_neq(err_reason((enum err_code)d), r, "codes %d and %d share \"%s\"", d, c,
                              r);
    }
}

Test(util_error, every_code_has_a_message)
{
    for (int c = 0; c < ERR_COUNT; c++) {
        const char *m = err_message((enum err_code)c);
        cr_assert_not_null(m, "code %d has no message", c);
        cr_assert_gt(strlen(m), 3, "code %d message \"%s\"", c, m);
        cr_assert_lt(strlen(m), 200, "code %d message is %zu bytes", c, strlen(m));
    }
}

Test(util_error, statuses_named_by_the_spec)
{
    /* API.md §1, §2, §6, §7: the status each refusal must carry. */
    static const struct {
        enum err_code code;
        unsigned status;
        const char *reason;
    } want[] = {
        {ERR_BAD_REQUEST, 400, "bad_request"},
        {ERR_INVALID_JSON, 400, "invalid_json"},
        {ERR_INVALID_TYPE, 400, "invalid_type"},
        {ERR_UNKNOWN_MEMBER, 400, "unknown_member"},
        {ERR_MISSING_MEMBER, 400, NULL},
        {ERR_INVALID_VALUE, 400, NULL},
        {ERR_READ_ONLY, 400, NULL},
        {ERR_NESTING_TOO_DEEP, 400, NULL},
        {ERR_STRING_TOO_LONG, 400, NULL},
        {ERR_ARRAY_TOO_LONG, 400, NULL},
        {ERR_INVALID_UTF8, 400, NULL},
        {ERR_MISSING_HEADER, 400, NULL},
        {ERR_UNAUTHORIZED, 401, NULL},
        {ERR_MISSING_SCOPE, 403, NULL},
        {ERR_STREAM_NOT_ALLOWED, 403, NULL},
        {ERR_ACCOUNT_MISMATCH, 403, NULL},
        {ERR_NOT_FOUND, 404, "not_found"},
        {ERR_METHOD_NOT_ALLOWED, 405, NULL},
        {ERR_IDEMPOTENCY_CONFLICT, 409, NULL},
        {ERR_CONFLICT, 409, NULL},
        {ERR_PRECONDITION_FAILED, 412, NULL},
        {ERR_BODY_TOO_LARGE, 413, NULL},
        {ERR_URI_TOO_LONG, 414, NULL},
        {ERR_UNSUPPORTED_MEDIA_TYPE, 415, NULL},
        {ERR_HEADERS_TOO_LARGE, 431, NULL},
        {ERR_INTERNAL, 500, "internal"},
        {ERR_UNAVAILABLE, 503, NULL},
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        cr_assert_eq(err_status(want[i].code), want[i].status, "%s", err_reason(want[i].code));
        if (want[i].reason)
            cr_assert_str_eq(err_reason(want[i].code), want[i].reason);
    }
}

Test(util_error, scope_message_names_the_vendor_scope)
{
    /* API.md §2: the scope is shown as "Case Management Configuration". */
    cr_assert_not_null(strstr(err_message(ERR_MISSING_SCOPE), "Case Management Configuration"));
}

Test(util_error, set_formats_and_returns_minus_one)
{
    struct err e;
    memset(&e, 0x5a, sizeof e);
    int rc = err_set(&e, ERR_INVALID_TYPE, "tags", "%s must be %s %d", "tags", "an array", 7);
    cr_assert_eq(rc, -1);
    cr_assert_eq(e.code, ERR_INVALID_TYPE);
    cr_assert_str_eq(e.field, "tags");
    cr_assert_str_eq(e.msg, "tags must be an array 7");
}

Test(util_error, set_without_field_or_format)
{
    struct err e;
    memset(&e, 0x5a, sizeof e);
    cr_assert_eq(err_set(&e, ERR_NOT_FOUND, NULL, NULL), -1);
    cr_assert_eq(e.code, ERR_NOT_FOUND);
    cr_assert_str_eq(e.field, "");
    cr_assert_str_eq(e.msg, err_message(ERR_NOT_FOUND));
}

Test(util_error, set_overwrites_a_previous_error)
{
    struct err e;
    err_set(&e, ERR_INVALID_TYPE, "name", "first");
    err_set(&e, ERR_INTERNAL, NULL, NULL);
    cr_assert_eq(e.code, ERR_INTERNAL);
    cr_assert_str_eq(e.field, "");
    cr_assert_str_eq(e.msg, err_message(ERR_INTERNAL));
}

Test(util_error, set_truncates_long_field_and_message)
{
    char field[300], text[2000];
    memset(field, 'f', sizeof field - 1);
    field[sizeof field - 1] = '\0';
    memset(text, 'm', sizeof text - 1);
    text[sizeof text - 1] = '\0';
    struct err e;
    err_set(&e, ERR_UNKNOWN_MEMBER, field, "%s", text);
    cr_assert_eq(strlen(e.field), sizeof e.field - 1);
    cr_assert_eq(strncmp(e.field, field, sizeof e.field - 1), 0);
    cr_assert_eq(strlen(e.msg), sizeof e.msg - 1);
    cr_assert_eq(strncmp(e.msg, text, sizeof e.msg - 1), 0);
}

Test(util_error, set_keeps_percent_in_field_literal)
{
    struct err e;
    err_set(&e, ERR_UNKNOWN_MEMBER, "%s%n%x", "unknown member %s", "%s%n%x");
    cr_assert_str_eq(e.field, "%s%n%x");
    cr_assert_str_eq(e.msg, "unknown member %s%n%x");
}

Test(util_error, unknown_members_are_named_together)
{
    struct err e = {.code = ERR_INTERNAL};
    struct err_unknown u = {0};
    cr_assert_eq(err_unknown_set(&u, &e, "in x"), 0, "none gathered: no error");
    cr_assert_eq(e.code, ERR_INTERNAL, "e untouched");
    err_unknown_add(&u, "a");
    cr_assert_eq(err_unknown_set(&u, &e, "in x"), -1);
    cr_assert_eq(e.code, ERR_UNKNOWN_MEMBER);
    cr_assert_str_eq(e.field, "a");
    cr_assert_str_eq(e.msg, "unknown member a in x");
    err_unknown_add(&u, "b");
    err_unknown_set(&u, &e, "in x");
    cr_assert_str_eq(e.msg, "unknown members a, b in x");
    static const char *const more[] = {"c", "d", "e", "f", "g", "h", "i", "j"};
    for (size_t i = 0; i < sizeof more / sizeof more[0]; i++)
        err_unknown_add(&u, more[i]);
    err_unknown_set(&u, &e, "in x");
    cr_assert_str_eq(e.msg, "unknown members a, b, c, d, e, f, g, h and 2 more in x");
}

Test(util_error, unknown_members_with_long_names_keep_the_rest_of_the_sentence)
{
    char name[300];
    memset(name, 'n', sizeof name - 1);
    name[sizeof name - 1] = '\0';
    struct err e;
    struct err_unknown u = {0};
    for (int i = 0; i < 5; i++)
        err_unknown_add(&u, name);
    err_unknown_set(&u, &e, "in x");
    cr_assert_lt(strlen(e.msg), sizeof e.msg - 1, "%s", e.msg);
    cr_assert_eq(strncmp(e.msg, "unknown members nnn", 19), 0);
    cr_assert_not_null(strstr(e.msg, "n and 4 more in x"), "the count and where stay: %s", e.msg);
    cr_assert_eq(strlen(e.field), sizeof e.field - 1);

    /* one name longer than the message: cut, the sentence still ends */
    char huge[2000];
    memset(huge, 'h', sizeof huge - 1);
    huge[sizeof huge - 1] = '\0';
    struct err_unknown one = {0};
    err_unknown_add(&one, huge);
    err_unknown_add(&one, "b");
    err_unknown_set(&one, &e, "in a task update body");
    size_t n = strlen(e.msg);
    const char *end = " and 1 more in a task update body";
    cr_assert_str_eq(e.msg + n - strlen(end), end, "%s", e.msg);
}
