/* fuzz_jwt — token verification (API.md §2): jwt_parse, then jwt_verify under every pinned
 * algorithm with and without --enforce-jti, against a fixed key and clock. The input is the auth
 * header's value. A mutated token almost never carries a valid HMAC, so the harness also
 * re-signs the input's "header.payload" with the key and verifies that token too: the claim
 * checks behind the signature then see fuzzed headers and payloads. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "auth/jwt.h"
#include "util/b64.h"

#define FUZZ_KEY "fuzz-key-0123456789abcdef0123456" /* 32 bytes, like an app secret */
#define FUZZ_NOW 1750000000                          /* 2025-06-15T15:06:40Z */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const unsigned char *key = (const unsigned char *)FUZZ_KEY;

static void verify_all(const struct jwt *t)
{
    for (int alg = JWT_HS256; alg <= JWT_HS512; alg++) {
        for (int jti = 0; jti < 2; jti++) {
            const struct jwt_policy p = {.alg = (enum jwt_alg)alg, .now = FUZZ_NOW, .leeway = 60,
                                         .max_age = 3600, .enforce_jti = jti};
            const char *why = NULL;
            int rc = jwt_verify(t, key, strlen(FUZZ_KEY), &p, &why);
            /* API.md §2: an accepted token names its app and, with enforce_jti, its jti */
            if (rc == 0 && (!jwt_app_id(t) || (jti && !jwt_jti(t)))) {
                fprintf(stderr, "fuzz_jwt: accepted without appId/jti\n");
                abort();
            }
            if (rc != 0 && (!why || !*why)) {
                fprintf(stderr, "fuzz_jwt: refused without a reason\n");
                abort();
            }
        }
    }
    /* the accessors on any parsed token */
    (void)jwt_sub(t);
}

static void check(const char *token, size_t len)
{
    struct jwt t;
    const char *why = NULL;
    if (jwt_parse(token, len, &t, &why) != 0) {
        if (!why || !*why) {
            fprintf(stderr, "fuzz_jwt: parse refused without a reason\n");
            abort();
        }
        return;
    }
    verify_all(&t);
    jwt_cleanup(&t);
}

/* token[0..len) with its signature replaced by the right one for the header's alg (HS256 when
 * it names none of ours); NULL when the input has no two dots. */
static char *resign(const char *token, size_t len, size_t *out_len)
{
    const char *dot1 = memchr(token, '.', len);
    const char *dot2 = dot1 ? memchr(dot1 + 1, '.', len - (size_t)(dot1 + 1 - token)) : NULL;
    if (!dot2)
        return NULL;
    size_t signing = (size_t)(dot2 - token);
    const EVP_MD *md = EVP_sha256();
    struct jwt t;
    const char *why;
    if (jwt_parse(token, len, &t, &why) == 0) {
        const char *alg = json_string_value(json_object_get(t.header, "alg"));
        if (alg && strcmp(alg, "HS384") == 0)
            md = EVP_sha384();
        else if (alg && strcmp(alg, "HS512") == 0)
            md = EVP_sha512();
        jwt_cleanup(&t);
    }
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned maclen = 0;
    if (!HMAC(md, key, (int)strlen(FUZZ_KEY), (const unsigned char *)token, signing, mac, &maclen))
        abort();
    char *out = malloc(signing + 1 + b64url_encoded_len(maclen) + 1);
    if (!out)
        abort();
    memcpy(out, token, signing);
    out[signing] = '.';
    *out_len = signing + 1 + b64url_encode(mac, maclen, out + signing + 1);
    return out;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    check((const char *)data, size);
    size_t n;
    char *signed_token = resign((const char *)data, size, &n);
    if (signed_token) {
        /* exactly n bytes: the parser must not read the NUL b64url_encode wrote */
        char *exact = malloc(n ? n : 1);
        if (!exact)
            abort();
        memcpy(exact, signed_token, n);
        free(signed_token);
        check(exact, n);
        free(exact);
    }
    return 0;
}
