/* Unit tests for util/jtext: the same bytes as json_dumps(JSON_COMPACT | JSON_ENCODE_ANY) for
 * hand-picked edge cases and for thousands of random documents, and the same refusals; but for
 * real numbers, which jtext writes in the fewest digits that read back as the same value. */
#include <criterion/criterion.h>

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "util/jtext.h"

static bool has_real(const json_t *v)
{
    size_t i;
    const char *k;
    const json_t *x;
    if (json_is_real(v))
        return true;
    if (json_is_array(v))
        json_array_foreach(v, i, x) if (has_real(x)) return true;
    if (json_is_object(v))
        json_object_foreach((json_t *)v, k, x) if (has_real(x)) return true;
    return false;
}

/* text with every number that has a fraction or an exponent cut out, in place (outside strings) */
static char *without_reals(char *text)
{
    char *w = text;
    bool in_string = false;
    for (char *r = text; *r;) {
        if (in_string) {
            if (*r == '\\' && r[1]) {
                *w++ = *r++;
            } else if (*r == '"') {
                in_string = false;
            }
            *w++ = *r++;
        } else if (*r == '"') {
            in_string = true;
            *w++ = *r++;
        } else if (*r == '-' || (*r >= '0' && *r <= '9')) {
            char *end = r + strspn(r, "-+0123456789.eE");
            if (strcspn(r, ".eE") < (size_t)(end - r))
                r = end; /* a real: dropped */
            else
                while (r < end)
                    *w++ = *r++;
        } else {
            *w++ = *r++;
        }
    }
    *w = '\0';
    return text;
}

/* jansson's bytes; with real numbers in it, the same value read back and no longer than
 * jansson's 17 digits (the hand-picked reals' exact text is checked in real_numbers) */
static void expect_same(const json_t *v)
{
    char *want = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
    size_t len = 12345;
    char *got = jtext_dump(v, &len);
    if (!want) {
        cr_assert_null(got, "jansson refused, jtext wrote %s", got);
        return;
    }
    cr_assert_not_null(got, "jtext refused what jansson wrote: %s", want);
    if (has_real(v)) {
        cr_assert_eq(len, strlen(got));
        cr_assert_leq(len, strlen(want), "got %s\nwant at most the length of %s", got, want);
        /* read back as jansson's own text reads (jansson reads no NUL in a key: then the two
         * texts are compared with the reals cut out) */
        json_t *back = json_loads(got, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
        json_t *ref = json_loads(want, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
        if (ref)
            cr_assert(json_equal(back, ref), "%s does not read back as %s", got, want);
        else
            cr_assert_eq(strcmp(without_reals(got), without_reals(want)), 0, "%s\n%s", got, want);
        json_decref(back);
        json_decref(ref);
    } else {
        cr_assert_eq(len, strlen(want), "length %zu, want %zu (%s)", len, strlen(want), want);
        cr_assert_eq(memcmp(got, want, len + 1), 0, "got  %s\nwant %s", got, want);
    }
    free(want);
    free(got);
}

static void expect_text_same(const char *json)
{
    json_error_t e;
    json_t *v = json_loads(json, JSON_DECODE_ANY | JSON_ALLOW_NUL, &e);
    cr_assert_not_null(v, "fixture %s: %s", json, e.text);
    expect_same(v);
    json_decref(v);
}

Test(jtext, scalars_and_containers)
{
    static const char *const cases[] = {
        "null", "true", "false", "0", "-1", "9223372036854775807", "-9223372036854775808",
        "1.0", "-0.0", "0.1", "1e300", "1e20", "1.5e-7", "123456.789", "\"\"", "[]", "{}",
        "[[],{},[[]],{\"a\":{}}]", "{\"b\":1,\"a\":2,\"c\":[1,2.5,\"x\",null,true,false]}",
        "{\"\":\"\",\"k\":\"v\"}",
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        expect_text_same(cases[i]);
}

/* As JSON.stringify writes them, in jansson's notation (1.0, 1e300): 19.99 was 19.989999999999998 */
Test(jtext, real_numbers_in_the_fewest_digits)
{
    static const char *const cases[][2] = {
        {"19.99", "19.99"},    {"0.1", "0.1"},         {"1.0", "1.0"},
        {"-0.0", "-0.0"},      {"1e300", "1e300"},     {"1.5e-7", "1.5e-7"},
        {"123456.789", "123456.789"},                  {"0.30000000000000004", "0.30000000000000004"},
        {"2.5e-5", "2.5e-5"},  {"1e20", "1e20"},       {"[0.1,{\"a\":19.99}]", "[0.1,{\"a\":19.99}]"},
        {"0.3333333333333333", "0.3333333333333333"},  {"5e-324", "4.94065645841247e-324"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        json_t *v = json_loads(cases[i][0], JSON_DECODE_ANY, NULL);
        cr_assert_not_null(v, "%s", cases[i][0]);
        char *got = jtext_dump(v, NULL);
        cr_expect_str_eq(got, cases[i][1]);
        free(got);
        json_decref(v);
    }
}

Test(jtext, string_escapes)
{
    static const char *const cases[] = {
        "\"\\\"\\\\\\/\\b\\f\\n\\r\\t\"", "\"\\u0001\\u001f\\u007f\\u0000x\"",
        "\"caf\\u00e9 \\u20ac \\ud83d\\ude00 \\u2028\"", "\"/path/to\"",
        "{\"k\\u0001\\\"ey\":\"\\u00ff\"}",
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        expect_text_same(cases[i]);
}

Test(jtext, invalid_utf8_is_refused_like_jansson)
{
    static const char *const bad[] = {
        "\x80", "\xc0\xaf", "\xc1\xbf", "\xe0\x80\xaf", "\xed\xa0\x80", "\xf4\x90\x80\x80",
        "\xf5\x80\x80\x80", "\xe2\x82", "ok\xff", "\xc3",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        json_t *v = json_pack("{s:o}", "k", json_stringn_nocheck(bad[i], strlen(bad[i])));
        cr_assert_null(jtext_dump(v, NULL), "case %zu accepted", i);
        expect_same(v);
        json_decref(v);
    }
    /* the valid neighbours of those refusals */
    static const char *const good[] = {"\xc2\x80", "\xe0\xa0\x80", "\xed\x9f\xbf",
                                       "\xf0\x90\x80\x80", "\xf4\x8f\xbf\xbf"};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        json_t *v = json_stringn_nocheck(good[i], strlen(good[i]));
        expect_same(v);
        json_decref(v);
    }
}

Test(jtext, depth_bound)
{
    json_t *root = json_array(), *at = root;
    for (int i = 0; i < JTEXT_MAX_DEPTH; i++) {
        json_t *next = json_array();
        json_array_append_new(at, next);
        at = next;
    }
    char *text = jtext_dump(root, NULL);
    cr_assert_not_null(text, "%d levels are allowed", JTEXT_MAX_DEPTH);
    free(text);
    json_array_append_new(at, json_array());
    cr_assert_null(jtext_dump(root, NULL));
    json_decref(root);
    cr_assert_null(jtext_dump(NULL, NULL));
}

/* ---- random documents (xorshift64*, fixed seed: a failure is reproducible) ---- */

static uint64_t state = 0x2545F4914F6CDD1DULL;

static uint64_t rnd(void)
{
    state ^= state >> 12;
    state ^= state << 25;
    state ^= state >> 27;
    return state * 2685821657736338717ULL;
}

static json_t *random_string(void)
{
    static const char *const pieces[] = {"a", "Z", " ", "\"", "\\", "/", "\n", "\t", "\x01",
                                         "\x1f", "\x7f", "\xc3\xa9", "\xe2\x82\xac",
                                         "\xf0\x9f\x98\x80", "task", "0"};
    char buf[64];
    size_t n = 0, parts = rnd() % 8;
    for (size_t i = 0; i < parts; i++) {
        const char *p = pieces[rnd() % (sizeof pieces / sizeof pieces[0])];
        size_t k = strlen(p);
        if (n + k >= sizeof buf)
            break;
        memcpy(buf + n, p, k);
        n += k;
    }
    if (rnd() % 16 == 0 && n + 1 < sizeof buf)
        buf[n++] = '\0'; /* an embedded NUL */
    return json_stringn(buf, n);
}

static json_t *random_value(int depth)
{
    switch (rnd() % (depth > 4 ? 5 : 7)) {
    case 0:
        return random_string();
    case 1:
        return json_integer((json_int_t)(rnd() % 2 ? rnd() : rnd() % 1000) *
                            (rnd() % 2 ? 1 : -1));
    case 2:
        return json_real((double)(int64_t)rnd() / (double)(1 + rnd() % 1000000));
    case 3:
        return rnd() % 2 ? json_true() : json_false();
    case 4:
        return json_null();
    case 5: {
        json_t *a = json_array();
        for (uint64_t i = 0, n = rnd() % 6; i < n; i++)
            json_array_append_new(a, random_value(depth + 1));
        return a;
    }
    default: {
        json_t *o = json_object();
        for (uint64_t i = 0, n = rnd() % 6; i < n; i++) {
            json_t *k = random_string();
            json_object_setn_new(o, json_string_value(k), json_string_length(k),
                                 random_value(depth + 1));
            json_decref(k);
        }
        return o;
    }
    }
}

Test(jtext, random_documents_match_jansson)
{
    for (int i = 0; i < 5000; i++) {
        json_t *v = random_value(0);
        expect_same(v);
        json_decref(v);
    }
}

/* ---- jtext_parse: json_loadb(text, len, 0, NULL)'s answer, always ---- */

/* jtext_parse_fast: nothing, or what the strict reader of request bodies (doc_parse_body) would
 * answer, in the same bytes. */
static void expect_fast_same(const char *text, size_t len)
{
    json_t *fast = jtext_parse_fast(text, len);
    if (!fast)
        return;
    json_t *want = json_loadb(text, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, NULL);
    cr_assert_not_null(want, "jtext_parse_fast took %.*s, which jansson refuses", (int)len, text);
    char *a = json_dumps(fast, JSON_COMPACT), *b = json_dumps(want, JSON_COMPACT);
    cr_assert(a && b);
    cr_assert_str_eq(a, b, "different values for %.*s", (int)len, text);
    free(a);
    free(b);
    json_decref(fast);
    json_decref(want);
}

static void expect_parse_same(const char *text, size_t len)
{
    json_t *want = json_loadb(text, len, 0, NULL);
    json_t *got = jtext_parse(text, len);
    if (!want) {
        cr_assert_null(got, "jansson refused %.*s, jtext_parse did not", (int)len, text);
        return;
    }
    cr_assert_not_null(got, "jtext_parse refused %.*s", (int)len, text);
    cr_assert(json_equal(got, want), "different values for %.*s", (int)len, text);
    expect_fast_same(text, len);
    /* member order and number types too: the texts written back are the same bytes */
    char *a = json_dumps(got, JSON_COMPACT), *b = json_dumps(want, JSON_COMPACT);
    cr_assert(a && b);
    cr_assert_str_eq(a, b);
    free(a);
    free(b);
    json_decref(got);
    json_decref(want);
}

static void expect_parse_str(const char *text)
{
    expect_parse_same(text, strlen(text));
}

Test(jtext, parse_edge_cases)
{
    static const char *const cases[] = {
        "{}", "[]", " \t\r\n{ \"a\" : [ 1 , 2 ] , \"b\" : { } } \n", "[true,false,null]",
        "[0,-0,1,-1,9223372036854775807,-9223372036854775808]", "[9223372036854775808]",
        "[-9223372036854775809]", "[99999999999999999999999]", "[1.5,-0.0,1e5,1E-5,2.5e+3]",
        "[1e400]", "[-1e400]", "[1e-400]", "[01]", "[1.]", "[.5]", "[1e]", "[-]", "[1-2]",
        "[\"\\\"\\\\\\/\\b\\f\\n\\r\\t\"]", "[\"\\u00e9\\u20AC\\ud83d\\ude00\"]",
        "[\"\\ud83d\"]", "[\"\\ude00\"]", "[\"\\ud83dx\"]", "[\"\\u0000\"]", "[\"\\x\"]",
        "[\"\\u12\"]", "[\"raw\ttab\"]", "[\"caf\xc3\xa9\"]", "[\"bad\xc3\"]", "[\"\xed\xa0\x80\"]",
        "{\"a\":1,\"a\":2}", "{\"a\\u0062\":1,\"ab\":2}", "{\"k\\n\":\"v\\n\",\"x\":\"\\t\"}",
        "{\"a\":1,}", "[1,]", "{\"a\" 1}", "{\"a\":}", "{1:2}", "[1 2]", "[1]x", "[1] [2]", "",
        "   ", "1", "\"s\"", "null", "[tru]", "[nul]", "[falsey]", "{\"a\":[{\"b\":[]}]}",
        "[\"unterminated", "{\"a\":1", "[",
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        expect_parse_str(cases[i]);
    /* a NUL byte inside the text, and text that is not NUL-terminated at len */
    expect_parse_same("[\"a\0b\"]", 7);
    expect_parse_same("[1,2]garbage", 5);
}

/* Strings are scanned eight bytes at a time while the bytes need no escape: every special byte
 * (and a multi-byte character) at every position of strings around that width, both ways. */
Test(jtext, special_bytes_at_every_position)
{
    /* the bytes that stop a plain run, and plain ones next to them in the byte order (" "
     * and "!" above the controls, "#" above the quote, "[" and "]" beside the backslash),
     * which must not stop it */
    static const char *const specials[] = {"\"", "\\", "\n", "\x01", "\x1f", "\x7f", " ", "!",
                                           "#", "[", "]", "\x7f\x20\x1f\"",
                                           "\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x98\x80",
                                           "\xc3", "\xff"};
    char buf[64];
    for (size_t len = 0; len <= 40; len++) {
        for (size_t at = 0; at <= len; at++) {
            for (size_t k = 0; k < sizeof specials / sizeof specials[0]; k++) {
                size_t sl = strlen(specials[k]);
                memset(buf, 'a', len);
                memcpy(buf + at, specials[k], sl);
                memset(buf + at + sl, 'b', len - at);
                size_t n = len + sl;
                json_t *v = json_stringn_nocheck(buf, n); /* invalid UTF-8 too: both refuse */
                expect_same(v);
                json_decref(v);
                /* and as JSON text: the raw bytes inside quotes */
                char text[80];
                text[0] = '[';
                text[1] = '"';
                memcpy(text + 2, buf, n);
                memcpy(text + 2 + n, "\"]", 3);
                expect_parse_same(text, n + 4);
            }
        }
    }
}

/* The fast path takes request bodies as clients write them, and leaves to jansson what it must
 * refuse or read its own way: a duplicate member (refused in a body), an integer past 64 bits
 * (doc_parse_body reads it as a real), a NUL, a scalar at the top, anything malformed. */
Test(jtext, parse_fast_takes_bodies_and_leaves_the_rest)
{
    static const char *const taken[] = {
        "{\"desc\":\"bench update refund invoice 42\"}",
        "{\"status\":{\"name\":\"Open\"},\"tags\":[\"vip-1\",\"b2b-7\"],\"currAssignee\":"
        "{\"_id\":\"u-agent-3\",\"name\":\"Agent 3\"},\"fields\":[{\"name\":\"description\","
        "\"selectedValue\":\"caf\u00e9 \\\"x\\\"\"}],\"dueDate\":1796105117181,\"score\":1.5}",
        " \r\n{ \"skip\" : 0 , \"limit\" : 50 } ",
        "[]",
    };
    for (size_t i = 0; i < sizeof taken / sizeof taken[0]; i++) {
        json_t *v = jtext_parse_fast(taken[i], strlen(taken[i]));
        cr_assert_not_null(v, "left %s", taken[i]);
        json_decref(v);
        expect_parse_str(taken[i]);
    }
    static const char *const left[] = {
        "{\"a\":1,\"a\":2}", "{\"a\":{\"b\":1,\"b\":1}}", "{\"a\":1,\"\\u0061\":2}",
        "{\"a\":12345678901234567890}", "{\"a\":\"x\\u0000y\"}", "42", "\"s\"", "null",
        "{\"a\":1,}", "{\"a\":\"\xff\"}", "", "{} {}",
    };
    for (size_t i = 0; i < sizeof left / sizeof left[0]; i++)
        cr_expect_null(jtext_parse_fast(left[i], strlen(left[i])), "took %s", left[i]);
}

Test(jtext, parse_deep_nesting)
{
    for (int depth = 1000; depth <= 2100; depth += 50) {
        char *text = malloc((size_t)depth * 2 + 1);
        memset(text, '[', (size_t)depth);
        memset(text + depth, ']', (size_t)depth);
        text[depth * 2] = '\0';
        expect_parse_str(text);
        free(text);
    }
}

Test(jtext, parse_random_documents)
{
    for (int i = 0; i < 5000; i++) {
        json_t *v = json_pack("{s:o}", "doc", random_value(0));
        char *text = jtext_dump(v, NULL);
        cr_assert_not_null(text);
        expect_parse_str(text);
        /* the same document spaced out by jansson's indenting writer, and cut short */
        char *spaced = json_dumps(v, JSON_INDENT(2));
        expect_parse_str(spaced);
        /* read by the fast path as the compact text is ("key": value was left to jansson) */
        json_t *a = jtext_parse_fast(text, strlen(text));
        json_t *b = jtext_parse_fast(spaced, strlen(spaced));
        cr_assert((a == NULL) == (b == NULL), "one path for %s, another for %s", text, spaced);
        json_decref(a);
        json_decref(b);
        expect_parse_same(spaced, strlen(spaced) / 2);
        free(spaced);
        free(text);
        json_decref(v);
    }
}

/* ---- jtext_set_bool ---- */

/* What a text edit of text answered (got, its length len) against want (NULL: refused). */
static void expect_edit(const char *text, char *got, size_t len, const char *want)
{
    if (!want) {
        cr_assert_null(got, "edited %s: %s", text, got);
        return;
    }
    cr_assert_not_null(got, "nothing edited in %s", text);
    cr_assert_str_eq(got, want);
    cr_assert_eq(len, strlen(want));
    free(got);
}

static void expect_set(const char *text, bool value, const char *want)
{
    size_t len = 999;
    char *got = jtext_set_bool(text, strlen(text), "isBreached", value, &len);
    expect_edit(text, got, len, want);
}

Test(jtext, set_bool_sets_the_top_level_member_only)
{
    expect_set("{\"a\":1,\"isBreached\":false,\"b\":2}", true, "{\"a\":1,\"isBreached\":true,\"b\":2}");
    expect_set("{\"isBreached\":true}", false, "{\"isBreached\":false}");
    expect_set("{\"isBreached\":true}", true, "{\"isBreached\":true}");
    expect_set(" { \"isBreached\" :  false } ", true, " { \"isBreached\" :  true } ");
    /* nested members, names inside strings, escaped quotes and arrays are not it */
    expect_set("{\"o\":{\"isBreached\":false},\"isBreached\":false}", true,
               "{\"o\":{\"isBreached\":false},\"isBreached\":true}");
    expect_set("{\"s\":\"\\\"isBreached\\\":false\",\"isBreached\":false}", true,
               "{\"s\":\"\\\"isBreached\\\":false\",\"isBreached\":true}");
    expect_set("{\"a\":[{\"isBreached\":false},\"isBreached\"],\"isBreached\":false}", true,
               "{\"a\":[{\"isBreached\":false},\"isBreached\"],\"isBreached\":true}");
    expect_set("{\"k\":\"isBreached\",\"isBreached\":false}", true,
               "{\"k\":\"isBreached\",\"isBreached\":true}");
    /* refusals: no such member, not a boolean, not an object, broken text */
    expect_set("{\"o\":{\"isBreached\":false}}", true, NULL);
    expect_set("{\"isBreached\":null}", true, NULL);
    expect_set("{\"isBreached\":\"false\"}", true, NULL);
    expect_set("[{\"isBreached\":false}]", true, NULL);
    expect_set("{\"isBreached", true, NULL);
    expect_set("", true, NULL);
    expect_set("{\"isBreachedX\":false}", true, NULL);
}

Test(jtext, set_bool_agrees_with_parse_and_dump_on_random_documents)
{
    for (int i = 0; i < 2000; i++) {
        json_t *v = json_pack("{s:o, s:b, s:o}", "x", random_value(0), "isBreached", i % 2,
                              "y", random_value(0));
        char *text = jtext_dump(v, NULL);
        cr_assert_not_null(text);
        size_t len = 0;
        char *got = jtext_set_bool(text, strlen(text), "isBreached", i % 3 == 0, &len);
        json_object_set_new(v, "isBreached", json_boolean(i % 3 == 0));
        char *want = jtext_dump(v, NULL);
        cr_assert_not_null(got);
        cr_assert_str_eq(got, want);
        free(got);
        free(want);
        free(text);
        json_decref(v);
    }
}

/* ---- jtext_append_strings ---- */

static void expect_append(const char *text, const char *str, const char *want)
{
    size_t len = 999;
    char *got = jtext_append_strings(text, strlen(text), "taskIds", &str, 1, &len);
    expect_edit(text, got, len, want);
}

Test(jtext, append_string_to_the_top_level_array_only)
{
    expect_append("{\"taskIds\":[]}", "ti-1", "{\"taskIds\":[\"ti-1\"]}");
    expect_append("{\"a\":1,\"taskIds\":[\"ti-1\"],\"b\":[]}", "ti-2",
                  "{\"a\":1,\"taskIds\":[\"ti-1\",\"ti-2\"],\"b\":[]}");
    expect_append("{ \"taskIds\" : [ ] }", "x", "{ \"taskIds\" : [ \"x\"] }");
    expect_append("{\"taskIds\":[[],{\"k\":\"]\"},\"a]\\\"b\"]}", "q\"\\\n",
                  "{\"taskIds\":[[],{\"k\":\"]\"},\"a]\\\"b\",\"q\\\"\\\\\\n\"]}");
    /* nested members and names inside strings are not it */
    expect_append("{\"o\":{\"taskIds\":[]},\"taskIds\":[]}", "t",
                  "{\"o\":{\"taskIds\":[]},\"taskIds\":[\"t\"]}");
    expect_append("{\"s\":\"\\\"taskIds\\\":[]\",\"taskIds\":[1]}", "t",
                  "{\"s\":\"\\\"taskIds\\\":[]\",\"taskIds\":[1,\"t\"]}");
    /* refusals: no such member, not an array, not an object, broken text, bad UTF-8 */
    expect_append("{\"o\":{\"taskIds\":[]}}", "t", NULL);
    expect_append("{\"taskIds\":{}}", "t", NULL);
    expect_append("{\"taskIds\":\"[]\"}", "t", NULL);
    expect_append("[{\"taskIds\":[]}]", "t", NULL);
    expect_append("{\"taskIds\":[\"a\"", "t", NULL);
    expect_append("{\"taskIds\":[", "t", NULL);
    expect_append("", "t", NULL);
    expect_append("{\"taskIds\":[]}", "bad\xc3", NULL);
}

/* Several at once (a case's tasks added since its document was written): in order, with the
 * commas an append of each would write; none is a copy; one bad string refuses them all. */
Test(jtext, append_strings_appends_each_in_order)
{
    const char *three[] = {"ti-1", "ti-2", "q\""};
    size_t len = 0;
    char *out = jtext_append_strings("{\"taskIds\":[],\"x\":1}", 20, "taskIds", three, 3, &len);
    cr_assert_not_null(out);
    cr_expect_str_eq(out, "{\"taskIds\":[\"ti-1\",\"ti-2\",\"q\\\"\"],\"x\":1}");
    cr_expect_eq(len, strlen(out));
    free(out);
    out = jtext_append_strings("{\"taskIds\":[\"a\"]}", 17, "taskIds", three, 2, &len);
    cr_expect_str_eq(out, "{\"taskIds\":[\"a\",\"ti-1\",\"ti-2\"]}");
    free(out);
    out = jtext_append_strings("{\"taskIds\":[\"a\"]}", 17, "taskIds", three, 0, &len);
    cr_expect_str_eq(out, "{\"taskIds\":[\"a\"]}");
    free(out);
    const char *bad[] = {"ok", "bad\xc3"};
    cr_expect_null(jtext_append_strings("{\"taskIds\":[]}", 14, "taskIds", bad, 2, &len));
}

Test(jtext, append_string_agrees_with_parse_and_dump_on_random_documents)
{
    for (int i = 0; i < 2000; i++) {
        json_t *ids = json_array();
        for (int k = 0; k < i % 4; k++)
            json_array_append_new(ids, random_value(1));
        json_t *v = json_pack("{s:o, s:o, s:o}", "x", random_value(0), "taskIds", ids, "y",
                              random_value(0));
        char *text = jtext_dump(v, NULL);
        cr_assert_not_null(text);
        json_t *s = random_string();
        size_t len = 0;
        const char *one = json_string_value(s);
        char *got = jtext_append_strings(text, strlen(text), "taskIds", &one, 1, &len);
        if (!json_string_value(s) || strlen(json_string_value(s)) != json_string_length(s)) {
            /* an embedded NUL: the C string is shorter, which is what gets appended */
            json_t *cut = json_string(json_string_value(s));
            json_decref(s);
            s = cut;
        }
        json_array_append(ids, s);
        char *want = jtext_dump(v, NULL);
        cr_assert_not_null(got, "nothing appended in %s", text);
        cr_assert_str_eq(got, want);
        cr_assert_eq(len, strlen(want));
        free(got);
        free(want);
        free(text);
        json_decref(s);
        json_decref(v);
    }
}

/* ---- jtext_set_string ---- */

static void expect_set_string(const char *text, const char *str, const char *want)
{
    size_t len = 999;
    char *got = jtext_set_string(text, strlen(text), "refId", str, &len);
    expect_edit(text, got, len, want);
}

Test(jtext, set_string_replaces_the_top_level_string_only)
{
    expect_set_string("{\"refId\":\"TS000000\"}", "TS000042", "{\"refId\":\"TS000042\"}");
    expect_set_string("{\"a\":{\"refId\":\"x\"},\"refId\":\"TS000000\",\"b\":\"refId\"}",
                      "TS1234567", "{\"a\":{\"refId\":\"x\"},\"refId\":\"TS1234567\",\"b\":\"refId\"}");
    expect_set_string("{\"refId\":\"a\\\"b\\\\\"}", "q\"\n",
                      "{\"refId\":\"q\\\"\\n\"}");
    expect_set_string("{ \"refId\" : \"\" , \"x\":1}", "é", "{ \"refId\" : \"é\" , \"x\":1}");
    /* strings before it that end in runs of backslashes: an escaped quote, then a real one */
    expect_set_string("{\"a\":\"\\\"refId\\\\\\\"\",\"b\":\"\\\\\",\"refId\":\"x\"}", "y",
                      "{\"a\":\"\\\"refId\\\\\\\"\",\"b\":\"\\\\\",\"refId\":\"y\"}");
    expect_set_string("{\"a\":\"\\\\\\\",\"refId\":\"x\"}", "y", NULL); /* one string, unended */
    /* refusals: no such member, not a string, not an object, broken text, bad UTF-8 */
    expect_set_string("{\"o\":{\"refId\":\"x\"}}", "t", NULL);
    expect_set_string("{\"refId\":7}", "t", NULL);
    expect_set_string("{\"refId\":null}", "t", NULL);
    expect_set_string("[{\"refId\":\"x\"}]", "t", NULL);
    expect_set_string("{\"refId\":\"x", "t", NULL);
    expect_set_string("{\"refId\":\"x\"}", "bad\xc3", NULL);
}

Test(jtext, set_string_agrees_with_parse_and_dump_on_random_documents)
{
    for (int i = 0; i < 2000; i++) {
        json_t *old = random_string();
        json_t *v = json_pack("{s:o, s:o, s:o}", "x", random_value(0), "refId", old, "y",
                              random_value(0));
        char *text = jtext_dump(v, NULL);
        cr_assert_not_null(text);
        json_t *s = random_string();
        json_t *c = json_string(json_string_value(s)); /* what a C string can carry */
        size_t len = 0;
        char *got = jtext_set_string(text, strlen(text), "refId", json_string_value(c), &len);
        json_object_set(v, "refId", c);
        char *want = jtext_dump(v, NULL);
        cr_assert_not_null(got, "nothing set in %s", text);
        cr_assert_str_eq(got, want);
        cr_assert_eq(len, strlen(want));
        free(got);
        free(want);
        free(text);
        json_decref(s);
        json_decref(c);
        json_decref(v);
    }
}

/* ---- jtext_parse_known, jtext_dump_known: texts copied where they were written before ---- */

static const struct jtext_text *noted(const struct jtext_known *k, const json_t *v)
{
    for (size_t i = 0; i < k->n; i++)
        if (k->at[i].v == v)
            return &k->at[i];
    return NULL;
}

/* A member is noted only when its text is jtext_dump's own: no space (but before it), escape,
 * real or -0; so is an object or array inside a member. */
Test(jtext, parse_known_notes_members_written_as_jtext_writes_them)
{
    static const char text[] = "{\"a\":\"x\",\"b\":{\"c\":[1,-2,\"\xc3\xa9\"]},\"d\":1.5,"
                               "\"e\":\"q\\\"x\",\"f\":-0,\"g\": 1,\"h\":true,\"i\":{\"j\":2.5,"
                               "\"k\":1},\"l\":[1, 2],\"m\":null,\"n\":\"\\/\"}";
    struct jtext_known k;
    json_t *v = jtext_parse_known(text, strlen(text), &k);
    cr_assert_not_null(v);
    static const char *const plain[] = {"a", "b", "g", "h", "m"};
    static const char *const not_plain[] = {"d", "e", "f", "i", "l", "n"};
    cr_assert_eq(k.n, sizeof plain / sizeof plain[0] + 1);
    const json_t *inner = json_object_get(json_object_get(v, "b"), "c");
    cr_assert_not_null(noted(&k, inner), "b.c not noted");
    cr_assert_eq(noted(&k, inner)->len, strlen("[1,-2,\"\xc3\xa9\"]"));
    for (size_t i = 0; i < sizeof plain / sizeof plain[0]; i++) {
        const json_t *m = json_object_get(v, plain[i]);
        const struct jtext_text *t = noted(&k, m);
        cr_assert_not_null(t, "%s not noted", plain[i]);
        char *want = jtext_dump(m, NULL);
        cr_assert_eq(t->len, strlen(want));
        cr_assert_eq(memcmp(t->text, want, t->len), 0, "%s: %.*s", plain[i], (int)t->len, t->text);
        cr_assert(t->text > text && t->text + t->len < text + sizeof text, "into the text read");
        free(want);
    }
    for (size_t i = 0; i < sizeof not_plain / sizeof not_plain[0]; i++)
        cr_expect_null(noted(&k, json_object_get(v, not_plain[i])), "%s noted", not_plain[i]);
    json_decref(v);
    /* left to jansson (a duplicate member): nothing noted */
    static const char dup[] = "{\"a\":\"x\",\"a\":\"y\"}";
    v = jtext_parse_known(dup, strlen(dup), &k);
    cr_assert_not_null(v);
    cr_expect_eq(k.n, 0);
    json_decref(v);
}

/* A noted value's text is what gets written, and only at the depth asked for: with another text
 * noted for a value, that text shows where the value comes at that depth. */
Test(jtext, dump_known_copies_noted_texts_at_their_depth)
{
    json_t *s = json_string("real"), *doc = json_pack("{s:O, s:[O], s:{s:O}}", "a", s, "b", s,
                                                       "c", "d", s);
    struct jtext_known k = {.n = 1, .at = {{.v = s, .text = "\"noted\"", .len = 7}}};
    char *d1 = jtext_dump_known(doc, NULL, &k, 1, false);
    cr_assert_str_eq(d1, "{\"a\":\"noted\",\"b\":[\"real\"],\"c\":{\"d\":\"real\"}}");
    char *d2 = jtext_dump_known(doc, NULL, &k, 2, false);
    cr_assert_str_eq(d2, "{\"a\":\"real\",\"b\":[\"noted\"],\"c\":{\"d\":\"noted\"}}");
    /* keep notes the top-level members, with their text in what was written */
    size_t len;
    char *d3 = jtext_dump_known(doc, &len, &k, 1, true);
    cr_assert_eq(len, strlen(d3));
    cr_assert_eq(k.n, 4);
    for (size_t i = 1; i < k.n; i++)
        cr_assert(k.at[i].text > d3 && k.at[i].text + k.at[i].len < d3 + len);
    cr_assert_eq(k.at[1].v, s);
    cr_assert_eq(memcmp(k.at[1].text, "\"noted\"", 7), 0);
    cr_assert_eq(memcmp(k.at[2].text, "[\"real\"]", 8), 0);
    cr_assert_eq(memcmp(k.at[3].text, "{\"d\":\"real\"}", 12), 0);
    free(d1);
    free(d2);
    free(d3);
    json_decref(doc);
    json_decref(s);
}

/* An update's texts: a stored document read with its members noted, changed as doc_update
 * changes one (members replaced, added, removed; a copy, the document before, keeping the old
 * ones), written back with the noted texts and noting its own, then an activity of old and new
 * values written with both: the same bytes as jtext_dump's, whichever writer made the text read
 * (jtext_dump, jansson's 17-digit reals, jansson's spaced indent). */
Test(jtext, dump_known_writes_what_dump_writes)
{
    for (int i = 0; i < 3000; i++) {
        json_t *orig = json_object();
        for (int m = 0, n = 1 + (int)(rnd() % 40); m < n; m++) {
            char key[16];
            snprintf(key, sizeof key, "m%d", m);
            json_object_set_new(orig, key, random_value(1));
        }
        char *text = i % 3 == 0   ? jtext_dump(orig, NULL)
                     : i % 3 == 1 ? json_dumps(orig, JSON_COMPACT)
                                  : json_dumps(orig, JSON_INDENT(1));
        cr_assert_not_null(text);
        struct jtext_known k;
        json_t *doc = jtext_parse_known(text, strlen(text), &k);
        if (!doc) { /* a NUL in a string: not for the reader of stored documents */
            free(text);
            json_decref(orig);
            continue;
        }
        json_t *before = json_copy(doc);
        /* change it: replace, remove, add members */
        const char *key;
        json_t *val;
        void *tmp;
        json_object_foreach_safe(doc, tmp, key, val)
        {
            uint64_t r = rnd() % 8;
            if (r == 0) {
                json_object_set_new(doc, key, random_value(1));
            } else if (r == 1) {
                json_object_del(doc, key);
            } else if (r == 2 && json_array_size(val) > 0) { /* one element of a copy changed */
                json_t *c = json_copy(val);
                json_array_set_new(c, rnd() % json_array_size(c), random_value(2));
                json_object_set_new(doc, key, c);
            } else if (r == 3 && json_is_object(val)) { /* one member of a copy set */
                json_t *c = json_copy(val);
                json_object_set_new(c, rnd() % 2 ? "x" : "y", random_value(2));
                json_object_set_new(doc, key, c);
            }
        }
        if (rnd() % 2)
            json_object_set_new(doc, "added", random_value(1));
        size_t len1 = 0, len2 = 0;
        char *want = jtext_dump(doc, &len1);
        char *got = jtext_dump_known(doc, &len2, &k, 1, true);
        if (!want) {
            cr_assert_null(got);
        } else {
            cr_assert_not_null(got);
            cr_assert_eq(len1, len2);
            cr_assert_str_eq(got, want);
            /* the changes, as doc/update.c's diff lists them */
            json_t *changes = json_array();
            json_object_foreach(doc, key, val)
            {
                json_t *old = json_object_get(before, key);
                if (old != val)
                    json_array_append_new(changes, json_pack("{s:s, s:O, s:O}", "field", key,
                                                             "old", old ? old : json_null(),
                                                             "new", val));
            }
            json_t *act = json_pack("{s:s, s:o}", "_id", "ac-1", "changes", changes);
            char *wa = jtext_dump(act, NULL), *ga = jtext_dump_known(act, NULL, &k, 3, false);
            cr_assert_str_eq(ga, wa);
            free(wa);
            free(ga);
            json_decref(act);
        }
        free(want);
        free(got);
        json_decref(before);
        json_decref(doc);
        free(text);
        json_decref(orig);
    }
}
