/* fuzz_jtext — jtext (util/jtext.h) against jansson, the library it must agree with byte for
 * byte. The input is read by jtext_parse and by json_loadb(0): both refuse it or both give
 * values that are json_equal and that jansson writes to the same text. Every value read is
 * written by jtext_dump and by json_dumps(JSON_COMPACT): the same bytes or both NULL, but for
 * real numbers, which jtext writes in the fewest digits that read back as the value (then the
 * text reads back as the same value and is no longer than jansson's). The input
 * is also read as any value (JSON_DECODE_ANY), so that scalars and strings of every kind reach
 * the writer.
 *
 * What jtext_parse_fast takes, json_loadb(JSON_REJECT_DUPLICATES | JSON_DECODE_ANY) reads as the
 * same value (request bodies: doc_parse_body). jtext_parse_known reads what jtext_parse reads,
 * every text it notes is jtext_dump's text of its value, and jtext_dump_known writes jtext_dump's
 * bytes: for the value read, for it with its first member replaced and another added (as an
 * update changes a document, a copy keeping the old members), and for an activity naming the old
 * and new values of those members. */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "util/jtext.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fail(const char *what, const uint8_t *data, size_t size)
{
    fprintf(stderr, "fuzz_jtext: %s for input %.*s\n", what, (int)(size > 400 ? 400 : size),
            (const char *)data);
    abort();
}

/* NOLINTNEXTLINE(misc-no-recursion): the parsers bound the depth */
static int depth_of(const json_t *v)
{
    int d = 0;
    if (json_is_array(v)) {
        for (size_t i = 0; i < json_array_size(v); i++) {
            int k = depth_of(json_array_get(v, i));
            d = k > d ? k : d;
        }
        return d + 1;
    }
    if (json_is_object(v)) {
        const char *key;
        json_t *m;
        json_object_foreach((json_t *)v, key, m)
        {
            int k = depth_of(m);
            d = k > d ? k : d;
        }
        return d + 1;
    }
    return 0;
}

/* NOLINTNEXTLINE(misc-no-recursion): the parsers bound the depth */
static bool has_real(const json_t *v)
{
    if (json_is_real(v))
        return true;
    for (size_t i = 0; json_is_array(v) && i < json_array_size(v); i++)
        if (has_real(json_array_get(v, i)))
            return true;
    const char *key;
    json_t *m;
    if (json_is_object(v))
        json_object_foreach((json_t *)v, key, m) if (has_real(m)) return true;
    return false;
}

static void same_text(const json_t *v, const uint8_t *data, size_t size)
{
    char *want = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
    size_t len = 0;
    char *got = jtext_dump(v, &len);
    if (want && !got && depth_of(v) > JTEXT_MAX_DEPTH + 1) { /* jtext's documented bound */
        free(want);
        return;
    }
    if (!want != !got)
        fail(want ? "jtext_dump refused what json_dumps wrote" : "jtext_dump wrote what json_dumps refused",
             data, size);
    if (want && has_real(v)) {
        json_t *back = json_loads(got, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
        if (!back || !json_equal(back, v) || len > strlen(want))
            fail("jtext_dump's real numbers do not read back as the values", data, size);
        json_decref(back);
    } else if (want && (len != strlen(want) || memcmp(got, want, len + 1) != 0)) {
        fail("jtext_dump and json_dumps differ", data, size);
    }
    free(want);
    free(got);
}

/* jtext_dump_known's text of v (the caller frees it: with keep, k's new notes point into it),
 * checked against jtext_dump's. */
static char *same_dump(const json_t *v, struct jtext_known *k, int depth, bool keep,
                       const uint8_t *data, size_t size)
{
    size_t la = 0, lb = 0;
    char *a = jtext_dump(v, &la), *b = jtext_dump_known(v, &lb, k, depth, keep);
    if (!a != !b || (a && (la != lb || memcmp(a, b, la + 1) != 0)))
        fail("jtext_dump_known and jtext_dump differ", data, size);
    free(a);
    return b;
}

/* jtext_parse_fast against the strict reader; jtext_parse_known's notes and jtext_dump_known. */
static void known_texts(const char *text, size_t size)
{
    const uint8_t *data = (const uint8_t *)text;
    json_t *fast = jtext_parse_fast(text, size);
    if (fast) {
        json_t *strict = json_loadb(text, size, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, NULL);
        char *a = json_dumps(fast, JSON_COMPACT), *b = strict ? json_dumps(strict, JSON_COMPACT)
                                                             : NULL;
        if (!b || !a || strcmp(a, b) != 0)
            fail("jtext_parse_fast took what the strict reader reads otherwise", data, size);
        free(a);
        free(b);
        json_decref(strict);
        json_decref(fast);
    }
    struct jtext_known k;
    json_t *v = jtext_parse_known(text, size, &k);
    if (!v)
        return;
    for (size_t i = 0; i < k.n; i++) {
        size_t len = 0;
        char *t = jtext_dump(k.at[i].v, &len);
        if (!t || len != k.at[i].len || memcmp(t, k.at[i].text, len) != 0)
            fail("jtext_parse_known noted a text jtext_dump does not write", data, size);
        free(t);
    }
    free(same_dump(v, &k, 1, false, data, size));
    if (json_is_object(v) && json_object_size(v) > 0) {
        json_t *before = json_copy(v);
        const char *first = json_object_iter_key(json_object_iter(v));
        json_object_set_new(v, first, json_pack("[s, O]", "new", json_object_get(before, first)));
        json_object_set_new(v, "fuzz-added", json_string("x"));
        char *doc = same_dump(v, &k, 1, true, data, size);
        json_t *act = json_pack("{s:[{s:O, s:O}, {s:n, s:O}]}", "changes", "old",
                                json_object_get(before, first), "new", json_object_get(v, first),
                                "old", "new", json_object_get(v, "fuzz-added"));
        free(same_dump(act, &k, 3, false, data, size));
        free(doc);
        json_decref(act);
        json_decref(before);
    }
    json_decref(v);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    known_texts((const char *)data, size);

    const char *text = (const char *)data;
    json_t *want = json_loadb(text, size, 0, NULL);
    json_t *got = jtext_parse(text, size);
    if (!want != !got)
        fail(want ? "jtext_parse refused what json_loadb read" : "jtext_parse read what json_loadb refused",
             data, size);
    if (want) {
        if (!json_equal(want, got))
            fail("jtext_parse and json_loadb read different values", data, size);
        char *a = json_dumps(want, JSON_COMPACT), *b = json_dumps(got, JSON_COMPACT);
        if (!a != !b || (a && strcmp(a, b) != 0))
            fail("jtext_parse kept another member order or number type", data, size);
        free(a);
        free(b);
        same_text(got, data, size);
    }
    json_decref(want);
    json_decref(got);

    json_t *any = json_loadb(text, size, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
    if (any)
        same_text(any, data, size);
    json_decref(any);
    return 0;
}
