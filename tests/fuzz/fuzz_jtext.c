/* fuzz_jtext — jtext (util/jtext.h) against jansson, the library it must agree with byte for
 * byte. The input is read by jtext_parse and by json_loadb(0): both refuse it or both give
 * values that are json_equal and that jansson writes to the same text. Every value read is
 * written by jtext_dump and by json_dumps(JSON_COMPACT): the same bytes or both NULL, but for
 * real numbers, which jtext writes in the fewest digits that read back as the value (then the
 * text reads back as the same value and is no longer than jansson's). The input
 * is also read as any value (JSON_DECODE_ANY), so that scalars and strings of every kind reach
 * the writer. */
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

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
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
