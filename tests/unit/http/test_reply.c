/* Unit tests for http/reply: the error envelope of API.md §10
 * ({"errors":[{"msg","code","reason","field"?}]}, code = the HTTP status) and the JSON helpers. */
#include <criterion/criterion.h>

#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "http/http.h"
#include "util/mem.h"

#define JSON_TYPE "application/json; charset=utf-8"

/* Parses the reply body as exactly one JSON value; fails the test otherwise. */
static json_t *body_json(const struct http_reply *rep)
{
    cr_assert_not_null(rep->body);
    cr_assert_eq(strlen(rep->body), rep->body_len, "body_len disagrees with the body");
    json_error_t je;
    json_t *v = json_loadb(rep->body, rep->body_len, JSON_REJECT_DUPLICATES, &je);
    cr_assert_not_null(v, "reply body is not JSON (%s): %s", je.text, rep->body);
    return v;
}

/* Checks the envelope shape and returns the single error object (borrowed from *doc). */
static json_t *the_error(const struct http_reply *rep, json_t **doc)
{
    *doc = body_json(rep);
    cr_assert(json_is_object(*doc));
    cr_assert_eq(json_object_size(*doc), 1, "envelope has extra members: %s", rep->body);
    json_t *errors = json_object_get(*doc, "errors");
    cr_assert(json_is_array(errors), "no errors array: %s", rep->body);
    cr_assert_eq(json_array_size(errors), 1);
    json_t *e = json_array_get(errors, 0);
    cr_assert(json_is_object(e));
    cr_assert(json_is_string(json_object_get(e, "msg")), "%s", rep->body);
    cr_assert(json_is_integer(json_object_get(e, "code")), "code must be a number: %s", rep->body);
    cr_assert(json_is_string(json_object_get(e, "reason")), "%s", rep->body);
    cr_assert_eq(json_integer_value(json_object_get(e, "code")), rep->status);
    cr_assert_str_eq(rep->content_type, JSON_TYPE);
    return e;
}

static const char *str_member(json_t *o, const char *name)
{
    return json_string_value(json_object_get(o, name));
}

static const char *fake_headers(void *ctx, const char *name)
{
    (void)ctx;
    return strcasecmp(name, "accountId") == 0 ? "acc-1" : NULL;
}

Test(http_reply, error_with_field_and_format)
{
    struct http_reply rep = {0};
    http_reply_error(&rep, ERR_INVALID_TYPE, "tags", "%s must be %s", "tags", "an array");
    cr_assert_eq(rep.status, 400);
    json_t *doc;
    json_t *e = the_error(&rep, &doc);
    cr_assert_str_eq(str_member(e, "msg"), "tags must be an array");
    cr_assert_str_eq(str_member(e, "reason"), "invalid_type");
    cr_assert_str_eq(str_member(e, "field"), "tags");
    cr_assert_eq(json_object_size(e), 4);
    json_decref(doc);
    http_reply_cleanup(&rep);
}

Test(http_reply, error_without_field_has_no_field_member)
{
    struct http_reply rep = {0};
    http_reply_error(&rep, ERR_NOT_FOUND, NULL, NULL);
    cr_assert_eq(rep.status, 404);
    json_t *doc;
    json_t *e = the_error(&rep, &doc);
    cr_assert_null(json_object_get(e, "field"));
    cr_assert_str_eq(str_member(e, "msg"), err_message(ERR_NOT_FOUND));
    cr_assert_str_eq(str_member(e, "reason"), "not_found");
    cr_assert_eq(json_object_size(e), 3);
    json_decref(doc);
    http_reply_cleanup(&rep);
}

Test(http_reply, every_code_answers_its_status_reason_and_message)
{
    for (int c = 0; c < ERR_COUNT; c++) {
        struct http_reply rep = {0};
        http_reply_error(&rep, (enum err_code)c, NULL, NULL);
        cr_assert_eq(rep.status, err_status((enum err_code)c), "code %d", c);
        json_t *doc;
        json_t *e = the_error(&rep, &doc);
        cr_assert_str_eq(str_member(e, "reason"), err_reason((enum err_code)c));
        cr_assert_str_eq(str_member(e, "msg"), err_message((enum err_code)c));
        json_decref(doc);
        http_reply_cleanup(&rep);
    }
}

Test(http_reply, error_replaces_an_earlier_body_and_clears_etag)
{
    struct http_reply rep = {0};
    http_reply_json(&rep, 200, json_pack("{s:s}", "_id", "ti-1"));
    strcpy(rep.etag, "v7");
    http_reply_error(&rep, ERR_CONFLICT, NULL, "case %s is closed", "CS000123");
    cr_assert_eq(rep.status, 409);
    cr_assert_str_eq(rep.etag, "");
    json_t *doc;
    json_t *e = the_error(&rep, &doc);
    cr_assert_str_eq(str_member(e, "msg"), "case CS000123 is closed");
    json_decref(doc);
    http_reply_cleanup(&rep); /* LeakSanitizer reports the first body if it was not freed */
}

Test(http_reply, field_with_invalid_utf8_does_not_crash)
{
    struct http_reply rep = {0};
    http_reply_error(&rep, ERR_UNKNOWN_MEMBER, "bad\xff\xfe", "unknown member");
    cr_assert_eq(rep.status, 400);
    json_t *doc;
    json_t *e = the_error(&rep, &doc);
    /* The header promises the field is left out rather than sent as invalid JSON. */
    json_t *field = json_object_get(e, "field");
    cr_assert(field == NULL || json_is_string(field));
    json_decref(doc);
    http_reply_cleanup(&rep);
}

Test(http_reply, message_with_invalid_utf8_falls_back_to_the_catalogue)
{
    struct http_reply rep = {0};
    http_reply_error(&rep, ERR_UNKNOWN_MEMBER, "x", "unknown member %s", "\xc3\x28");
    json_t *doc;
    json_t *e = the_error(&rep, &doc);
    cr_assert_str_eq(str_member(e, "msg"), err_message(ERR_UNKNOWN_MEMBER));
    cr_assert_str_eq(str_member(e, "field"), "x");
    json_decref(doc);
    http_reply_cleanup(&rep);
}

Test(http_reply, long_multibyte_message_stays_valid_json)
{
    /* 700 two-byte characters: truncation at the message buffer can split one. */
    char text[1402];
    for (int i = 0; i < 700; i++)
        memcpy(text + 2 * i, "\xc3\xa9", 2);
    text[1400] = '\0';
    for (int shift = 0; shift < 2; shift++) {
        struct http_reply rep = {0};
        http_reply_error(&rep, ERR_INVALID_VALUE, "name", "%.*s%s", shift, "x", text);
        json_t *doc;
        json_t *e = the_error(&rep, &doc);
        cr_assert_gt(strlen(str_member(e, "msg")), 0);
        json_decref(doc);
        http_reply_cleanup(&rep);
    }
}

Test(http_reply, err_struct_maps_to_the_envelope)
{
    struct err e;
    err_set(&e, ERR_STRING_TOO_LONG, "name", "name is longer than %d bytes", 1024);
    struct http_reply rep = {0};
    http_reply_err(&rep, &e);
    cr_assert_eq(rep.status, 400);
    json_t *doc;
    json_t *o = the_error(&rep, &doc);
    cr_assert_str_eq(str_member(o, "reason"), "string_too_long");
    cr_assert_str_eq(str_member(o, "field"), "name");
    cr_assert_str_eq(str_member(o, "msg"), "name is longer than 1024 bytes");
    json_decref(doc);
    http_reply_cleanup(&rep);

    err_set(&e, ERR_UNAVAILABLE, NULL, NULL);
    http_reply_err(&rep, &e);
    cr_assert_eq(rep.status, 503);
    o = the_error(&rep, &doc);
    cr_assert_null(json_object_get(o, "field"));
    cr_assert_str_eq(str_member(o, "msg"), err_message(ERR_UNAVAILABLE));
    json_decref(doc);
    http_reply_cleanup(&rep);
}

Test(http_reply, err_message_with_percent_is_not_reformatted)
{
    struct err e;
    err_set(&e, ERR_UNKNOWN_MEMBER, "%s%n", "unknown member %s", "%s%n");
    struct http_reply rep = {0};
    http_reply_err(&rep, &e);
    json_t *doc;
    json_t *o = the_error(&rep, &doc);
    cr_assert_str_eq(str_member(o, "msg"), "unknown member %s%n");
    cr_assert_str_eq(str_member(o, "field"), "%s%n");
    json_decref(doc);
    http_reply_cleanup(&rep);
}

Test(http_reply, json_takes_the_document)
{
    struct http_reply rep = {0};
    json_t *d =
        json_pack("{s:s, s:i, s:[s,s], s:{}}", "_id", "ti-1", "n", 5, "tags", "a", "b", "userInfo");
    http_reply_json(&rep, 200, d); /* owns d now: LeakSanitizer catches a missing decref */
    cr_assert_eq(rep.status, 200);
    cr_assert_str_eq(rep.content_type, JSON_TYPE);
    json_t *back = body_json(&rep);
    cr_assert_str_eq(str_member(back, "_id"), "ti-1");
    cr_assert_eq(json_integer_value(json_object_get(back, "n")), 5);
    cr_assert_eq(json_array_size(json_object_get(back, "tags")), 2);
    cr_assert_null(strchr(rep.body, '\n'), "one compact value");
    json_decref(back);
    http_reply_cleanup(&rep);
}

Test(http_reply, json_keeps_unicode)
{
    struct http_reply rep = {0};
    http_reply_json(&rep, 201, json_pack("{s:s}", "name", "caf\xc3\xa9 \xe2\x82\xac"));
    cr_assert_eq(rep.status, 201);
    json_t *back = body_json(&rep);
    cr_assert_str_eq(str_member(back, "name"), "caf\xc3\xa9 \xe2\x82\xac");
    json_decref(back);
    http_reply_cleanup(&rep);
}

Test(http_reply, json_text_takes_the_buffer)
{
    struct http_reply rep = {0};
    http_reply_json(&rep, 200, json_object());
    char *text = xstrdup("{\"a\":1}");
    http_reply_json_text(&rep, 202, text, strlen(text)); /* frees the earlier body */
    cr_assert_eq(rep.status, 202);
    cr_assert_eq(rep.body, text);
    cr_assert_eq(rep.body_len, 7);
    cr_assert_str_eq(rep.content_type, JSON_TYPE);
    http_reply_cleanup(&rep);
}

Test(http_reply, text_copies)
{
    struct http_reply rep = {0};
    char src[] = "ok\nmore";
    http_reply_text(&rep, 200, "text/plain; version=0.0.4", src, 2);
    src[0] = 'X';
    cr_assert_eq(rep.status, 200);
    cr_assert_eq(rep.body_len, 2);
    cr_assert_str_eq(rep.body, "ok");
    cr_assert_str_eq(rep.content_type, "text/plain; version=0.0.4");
    http_reply_cleanup(&rep);
}

Test(http_reply, cleanup_is_idempotent_and_leaves_reply_reusable)
{
    struct http_reply rep = {0};
    http_reply_cleanup(&rep);
    http_reply_error(&rep, ERR_INTERNAL, NULL, NULL);
    http_reply_cleanup(&rep);
    cr_assert_null(rep.body);
    cr_assert_eq(rep.body_len, 0);
    http_reply_cleanup(&rep);
    http_reply_error(&rep, ERR_BAD_REQUEST, NULL, NULL);
    cr_assert_eq(rep.status, 400);
    http_reply_cleanup(&rep);
}

Test(http_reply, header_lookup)
{
    struct http_request req = {0};
    cr_assert_null(http_header(&req, "accountId"), "no header function: no headers");
    req.header_fn = fake_headers;
    cr_assert_str_eq(http_header(&req, "accountid"), "acc-1");
    cr_assert_null(http_header(&req, "auth"));
}
