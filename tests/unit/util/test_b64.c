/* Unit tests for util/b64: RFC 4648 §5 vectors, round trips, and every refusal. */
#include <criterion/criterion.h>

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "util/b64.h"
#include "util/mem.h"

/* Decodes text (NUL-terminated) into an exactly sized heap buffer so ASan sees any overrun. */
static int decode_str(const char *text, unsigned char **out, size_t *outlen)
{
    size_t n = strlen(text);
    *out = xmalloc(n * 3 / 4 + 1);
    return b64url_decode(text, n, *out, outlen);
}

static void expect_refused(const char *text, size_t n)
{
    unsigned char *out = xmalloc(n * 3 / 4 + 1);
    size_t outlen = 12345;

    cr_assert_eq(b64url_decode(text, n, out, &outlen), -1, "accepted \"%.*s\"", (int)n, text);
    free(out);
}

Test(b64, rfc4648_vectors)
{
    static const struct {
        const char *plain;
        const char *encoded;
    } vectors[] = {
        {"", ""},           {"f", "Zg"},          {"fo", "Zm8"},          {"foo", "Zm9v"},
        {"foob", "Zm9vYg"}, {"fooba", "Zm9vYmE"}, {"foobar", "Zm9vYmFy"},
    };

    for (size_t i = 0; i < sizeof vectors / sizeof vectors[0]; i++) {
        size_t n = strlen(vectors[i].plain);
        char *enc = xmalloc(b64url_encoded_len(n) + 1);
        unsigned char *dec;
        size_t declen;

        cr_assert_eq(b64url_encode((const unsigned char *)vectors[i].plain, n, enc),
                     strlen(vectors[i].encoded));
        cr_assert_str_eq(enc, vectors[i].encoded);
        cr_assert_eq(decode_str(vectors[i].encoded, &dec, &declen), 0);
        cr_assert_eq(declen, n);
        cr_assert_eq(memcmp(dec, vectors[i].plain, n), 0);
        free(enc);
        free(dec);
    }
}

Test(b64, url_alphabet_not_standard)
{
    /* Standard base64 of fb ff is "+/8="; base64url is "-_8" with no padding. */
    static const unsigned char bytes[] = {0xfb, 0xff};
    char enc[8];
    unsigned char *dec;
    size_t declen;

    cr_assert_eq(b64url_encode(bytes, 2, enc), 3);
    cr_assert_str_eq(enc, "-_8");
    cr_assert_eq(decode_str("-_8", &dec, &declen), 0);
    cr_assert_eq(declen, 2);
    cr_assert_eq(memcmp(dec, bytes, 2), 0);
    free(dec);
}

Test(b64, encoded_len)
{
    static const size_t want[] = {0, 2, 3, 4, 6, 7, 8, 10};

    for (size_t n = 0; n < sizeof want / sizeof want[0]; n++)
        cr_assert_eq(b64url_encoded_len(n), want[n], "n=%zu", n);
    cr_assert_eq(b64url_encoded_len(64), 86);
}

Test(b64, round_trip_lengths_0_to_70)
{
    unsigned char in[70];
    uint32_t seed = 2463534242u;

    for (size_t n = 0; n <= sizeof in; n++) {
        char *enc = xmalloc(b64url_encoded_len(n) + 1);
        unsigned char *dec;
        size_t enclen, declen = 0;

        for (size_t i = 0; i < n; i++) {
            seed ^= seed << 13;
            seed ^= seed >> 17;
            seed ^= seed << 5;
            in[i] = (unsigned char)seed;
        }
        enclen = b64url_encode(in, n, enc);
        cr_assert_eq(enclen, b64url_encoded_len(n), "n=%zu", n);
        cr_assert_eq(strlen(enc), enclen);
        cr_assert_neq(enclen % 4, 1);
        cr_assert_null(strpbrk(enc, "=+/"), "n=%zu: %s", n, enc);
        dec = xmalloc(enclen * 3 / 4 + 1);
        cr_assert_eq(b64url_decode(enc, enclen, dec, &declen), 0, "n=%zu", n);
        cr_assert_eq(declen, n);
        cr_assert_eq(memcmp(dec, in, n), 0, "n=%zu", n);
        free(enc);
        free(dec);
    }
}

Test(b64, round_trip_every_byte_value)
{
    unsigned char in[256], *dec;
    char enc[345];
    size_t declen;

    for (size_t i = 0; i < sizeof in; i++)
        in[i] = (unsigned char)i;
    cr_assert_eq(b64url_encode(in, sizeof in, enc), 342);
    cr_assert_eq(decode_str(enc, &dec, &declen), 0);
    cr_assert_eq(declen, sizeof in);
    cr_assert_eq(memcmp(dec, in, sizeof in), 0);
    free(dec);
}

Test(b64, refuses_padding)
{
    expect_refused("Zg==", 4);
    expect_refused("Zm8=", 4);
    expect_refused("Zg=", 3);
    expect_refused("Zm9v====", 8);
}

Test(b64, refuses_standard_alphabet)
{
    expect_refused("+/8", 3);
    expect_refused("Zm9+", 4);
    expect_refused("Zm9/", 4);
}

Test(b64, refuses_whitespace)
{
    expect_refused("Zm9v\n", 5);
    expect_refused(" Zm9v", 5);
    expect_refused("Zm9v Yg", 7);
    expect_refused("Zm9v\tYmFy", 9);
    expect_refused("Zm9vYmFy\r\n", 10);
}

Test(b64, refuses_non_alphabet_bytes)
{
    expect_refused("Zm\0v", 4);
    expect_refused("Zm9v.", 5);
    expect_refused("\xc3\xa9Zm", 4);
    expect_refused("Zm9\x80", 4);
    expect_refused("Zm9v!", 5);
}

Test(b64, refuses_impossible_lengths)
{
    expect_refused("Z", 1);
    expect_refused("Zm9vY", 5);
    expect_refused("Zm9vYmFyZ", 9);
}

Test(b64, refuses_non_canonical_trailing_bits)
{
    unsigned char *dec;
    size_t declen;

    /* "Zg" is the one encoding of "f"; "Zh".."Zv" carry the same byte with stray low bits. */
    expect_refused("Zh", 2);
    expect_refused("Zv", 2);
    /* "Zm8" is the one encoding of "fo"; "Zm9" sets one of the two spare bits. */
    expect_refused("Zm9", 3);
    expect_refused("Zm_", 3);
    cr_assert_eq(decode_str("Zg", &dec, &declen), 0);
    free(dec);
}

Test(b64, empty_input_decodes_to_nothing)
{
    unsigned char out[1];
    size_t outlen = 99;

    cr_assert_eq(b64url_decode("", 0, out, &outlen), 0);
    cr_assert_eq(outlen, 0);
}
