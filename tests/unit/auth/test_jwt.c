/* Unit tests for auth/jwt. Tokens are built by hand from literal JSON with OpenSSL's own base64
   and HMAC(), independently of jwt_sign and util/b64, so a symmetric sign/verify bug cannot hide.
 */
#include <criterion/criterion.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/jwt.h"
#include "util/mem.h"

#define KEY "k7Q2vX9mL4pR8sT1wY6zA3bC5dE0fG2h" /* 32 bytes, like a clientSecret */
#define NOW 1700000000LL
#define HS256 "{\"alg\":\"HS256\",\"typ\":\"JWT\"}"
#define HS384 "{\"alg\":\"HS384\",\"typ\":\"JWT\"}"
#define HS512 "{\"alg\":\"HS512\",\"typ\":\"JWT\"}"
#define JTI_LIFETIME "error verifying the jwt: if \"jti\" claim \"exp\" must be <= 1 hour(s)"

/* ---------------------------------------------------------------- building tokens by hand */

__attribute__((format(printf, 1, 2))) static char *t_fmt(const char *fmt, ...)
{
    va_list ap;
    int n;
    char *s;

    va_start(ap, fmt);
    n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    cr_assert_geq(n, 0);
    s = xmalloc((size_t)n + 1);
    va_start(ap, fmt);
    vsnprintf(s, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return s;
}

/* base64url through OpenSSL's standard base64: swap the two letters, drop the padding. */
static char *t_b64(const void *data, size_t n)
{
    char *out = xmalloc(4 * ((n + 2) / 3) + 1);
    int len = EVP_EncodeBlock((unsigned char *)out, data, (int)n);

    while (len > 0 && out[len - 1] == '=')
        out[--len] = '\0';
    for (int i = 0; i < len; i++) {
        if (out[i] == '+')
            out[i] = '-';
        else if (out[i] == '/')
            out[i] = '_';
    }
    return out;
}

/* "b64(header).b64(payload)", the signing input. */
static char *t_signing_input(const char *header, const char *payload)
{
    char *h = t_b64(header, strlen(header)), *p = t_b64(payload, strlen(payload));
    char *s = t_fmt("%s.%s", h, p);

    free(h);
    free(p);
    return s;
}

static size_t t_hmac(const char *digest, const char *key, const char *data, unsigned char *mac)
{
    unsigned int len = 0;

    cr_assert_not_null(HMAC(EVP_get_digestbyname(digest), key, (int)strlen(key),
                            (const unsigned char *)data, strlen(data), mac, &len));
    return len;
}

/* A token whose signature part is exactly sig[0..n). */
static char *t_token_sig(const char *header, const char *payload, const unsigned char *sig,
                         size_t n)
{
    char *signing = t_signing_input(header, payload), *s = t_b64(sig, n);
    char *token = t_fmt("%s.%s", signing, s);

    free(signing);
    free(s);
    return token;
}

/* A correctly signed token for any header (the digest is chosen apart from the header's alg). */
static char *t_token_key(const char *digest, const char *key, const char *header,
                         const char *payload)
{
    char *signing = t_signing_input(header, payload);
    unsigned char mac[EVP_MAX_MD_SIZE];
    size_t n = t_hmac(digest, key, signing, mac);
    char *token = t_token_sig(header, payload, mac, n);

    free(signing);
    return token;
}

static char *t_token(const char *digest, const char *header, const char *payload)
{
    return t_token_key(digest, KEY, header, payload);
}

/* An HS256 token with KEY over the formatted payload. */
__attribute__((format(printf, 1, 2))) static char *t_claims(const char *fmt, ...)
{
    va_list ap;
    int n;
    char *payload, *token;

    va_start(ap, fmt);
    n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    cr_assert_gt(n, 0);
    payload = xmalloc((size_t)n + 1);
    va_start(ap, fmt);
    vsnprintf(payload, (size_t)n + 1, fmt, ap);
    va_end(ap);
    token = t_token("SHA256", HS256, payload);
    free(payload);
    return token;
}

/* ---------------------------------------------------------------- checking */

static struct jwt_policy policy(enum jwt_alg alg)
{
    return (struct jwt_policy){.alg = alg, .now = NOW, .leeway = 60, .max_age = 3600};
}

static struct jwt_policy jti_policy(void)
{
    struct jwt_policy p = policy(JWT_HS256);
    p.enforce_jti = true;
    return p;
}

static int t_check_key(const char *token, const char *key, const struct jwt_policy *p,
                       const char **why)
{
    struct jwt t;
    int rc;

    *why = NULL;
    if (jwt_parse(token, strlen(token), &t, why) < 0) {
        cr_assert_null(t.header);
        cr_assert_null(t.payload);
        return -1;
    }
    rc = jwt_verify(&t, (const unsigned char *)key, strlen(key), p, why);
    jwt_cleanup(&t);
    return rc;
}

/* Each expect_* takes ownership of token. */
static void expect_ok(char *token, const struct jwt_policy *p)
{
    const char *why = NULL;

    cr_assert_eq(t_check_key(token, KEY, p, &why), 0, "refused %s: %s", token, why);
    free(token);
}

/* Refused, for a reason whose sentence contains word. */
static void expect_refused(char *token, const struct jwt_policy *p, const char *word)
{
    const char *why = NULL;

    cr_assert_eq(t_check_key(token, KEY, p, &why), -1, "accepted %s", token);
    cr_assert_not_null(why);
    cr_assert_not_null(strstr(why, word), "refused for \"%s\", expected \"%s\"", why, word);
    free(token);
}

/* Refused by jwt_parse itself, before any key is looked at. */
static void expect_parse_refused_n(char *token, size_t len, const char *word)
{
    struct jwt t;
    const char *why = NULL;

    cr_assert_eq(jwt_parse(token, len, &t, &why), -1, "parsed %s", token);
    cr_assert_not_null(why);
    cr_assert_not_null(strstr(why, word), "refused for \"%s\", expected \"%s\"", why, word);
    cr_assert_null(t.header);
    cr_assert_null(t.payload);
    jwt_cleanup(&t);
    free(token);
}

static void expect_parse_refused(char *token, const char *word)
{
    expect_parse_refused_n(token, strlen(token), word);
}

#define APP "\"appId\":\"cs-1\""

/* ---------------------------------------------------------------- algorithms */

Test(jwt, alg_names)
{
    enum jwt_alg alg;

    cr_assert_eq(jwt_alg_parse("HS256", &alg), 0);
    cr_assert_eq(alg, JWT_HS256);
    cr_assert_eq(jwt_alg_parse("HS384", &alg), 0);
    cr_assert_eq(alg, JWT_HS384);
    cr_assert_eq(jwt_alg_parse("HS512", &alg), 0);
    cr_assert_eq(alg, JWT_HS512);
    cr_assert_str_eq(jwt_alg_name(JWT_HS256), "HS256");
    cr_assert_str_eq(jwt_alg_name(JWT_HS384), "HS384");
    cr_assert_str_eq(jwt_alg_name(JWT_HS512), "HS512");
    cr_assert_null(jwt_alg_name((enum jwt_alg)3));
    static const char *bad[] = {"hs256", "none", "None", "RS256", "HS256 ", "", "HS25", "HS1024"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        cr_assert_eq(jwt_alg_parse(bad[i], &alg), -1, "accepted %s", bad[i]);
    cr_assert_eq(jwt_alg_parse(NULL, &alg), -1);
}

Test(jwt, valid_hs256_hs384_hs512)
{
    static const char *payload = "{" APP ",\"sub\":\"u-7\",\"iat\":1700000000,\"exp\":1700000600}";
    struct jwt_policy p256 = policy(JWT_HS256), p384 = policy(JWT_HS384), p512 = policy(JWT_HS512);

    expect_ok(t_token("SHA256", HS256, payload), &p256);
    expect_ok(t_token("SHA384", HS384, payload), &p384);
    expect_ok(t_token("SHA512", HS512, payload), &p512);
}

Test(jwt, parse_fills_the_struct)
{
    char *token = t_claims("{" APP ",\"sub\":\"u-7\",\"jti\":\"j-1\",\"iat\":%lld}", NOW);
    struct jwt t;
    const char *why = NULL;

    cr_assert_eq(jwt_parse(token, strlen(token), &t, &why), 0, "%s", why);
    cr_assert_eq(t.token, token);
    cr_assert_eq(t.signing_len, (size_t)(strrchr(token, '.') - token));
    cr_assert_eq(t.sig_len, 32);
    cr_assert_str_eq(jwt_app_id(&t), "cs-1");
    cr_assert_str_eq(jwt_sub(&t), "u-7");
    cr_assert_str_eq(jwt_jti(&t), "j-1");
    cr_assert_str_eq(json_string_value(json_object_get(t.header, "alg")), "HS256");
    jwt_cleanup(&t);
    cr_assert_null(t.header);
    jwt_cleanup(&t);
    free(token);
}

Test(jwt, claim_accessors_want_non_empty_strings)
{
    char *token = t_claims("{\"appId\":\"\",\"sub\":7,\"jti\":null,\"iat\":%lld}", NOW);
    struct jwt t;
    const char *why = NULL;

    cr_assert_eq(jwt_parse(token, strlen(token), &t, &why), 0, "%s", why);
    cr_assert_null(jwt_app_id(&t));
    cr_assert_null(jwt_sub(&t));
    cr_assert_null(jwt_jti(&t));
    jwt_cleanup(&t);
    free(token);
}

Test(jwt, parse_borrows_only_len_bytes)
{
    char *token = t_claims("{" APP ",\"iat\":%lld}", NOW);
    char *longer = t_fmt("%sGARBAGE.x.y", token);
    struct jwt_policy p = policy(JWT_HS256);
    struct jwt t;
    const char *why = NULL;

    cr_assert_eq(jwt_parse(longer, strlen(token), &t, &why), 0, "%s", why);
    cr_assert_eq(jwt_verify(&t, (const unsigned char *)KEY, strlen(KEY), &p, &why), 0, "%s", why);
    jwt_cleanup(&t);
    free(longer);
    free(token);
}

Test(jwt, known_vector_from_rfc_style_example)
{
    /* The widely published HS256 example (secret "your-256-bit-secret"). Its signature checks;
       it is then refused only because it has no appId, which proves the HMAC matched. */
    static const char token[] =
        "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9."
        "eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIiwiaWF0IjoxNTE2MjM5MDIyfQ."
        "SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c";
    struct jwt_policy p = policy(JWT_HS256);
    const char *why = NULL;

    p.now = 1516239022;
    cr_assert_eq(t_check_key(token, "your-256-bit-secret", &p, &why), -1);
    cr_assert_str_eq(why, "error verifying the jwt: the \"appId\" claim is required");
    cr_assert_eq(t_check_key(token, "your-256-bit-secreT", &p, &why), -1);
    cr_assert_not_null(strstr(why, "signature does not match"), "%s", why);
}

/* ---------------------------------------------------------------- algorithm pinning */

Test(jwt, alg_must_equal_the_apps)
{
    static const char *payload = "{" APP ",\"iat\":1700000000}";
    struct jwt_policy p256 = policy(JWT_HS256), p512 = policy(JWT_HS512);

    /* Correctly signed under its own alg, but the app is pinned to another. */
    expect_refused(t_token("SHA384", HS384, payload), &p256, "algorithm");
    expect_refused(t_token("SHA512", HS512, payload), &p256, "algorithm");
    expect_refused(t_token("SHA256", HS256, payload), &p512, "algorithm");
}

Test(jwt, alg_none_with_empty_signature_refused_at_parse)
{
    char *signing = t_signing_input("{\"alg\":\"none\",\"typ\":\"JWT\"}", "{" APP "}");

    expect_parse_refused(t_fmt("%s.", signing), "three non-empty parts");
    expect_parse_refused(t_fmt("%s", signing), "three non-empty parts");
    free(signing);
}

Test(jwt, alg_spellings_refused_even_when_signed)
{
    static const char *headers[] = {
        "{\"alg\":\"none\",\"typ\":\"JWT\"}",
        "{\"alg\":\"None\",\"typ\":\"JWT\"}",
        "{\"alg\":\"NONE\"}",
        "{\"alg\":\"hs256\",\"typ\":\"JWT\"}",
        "{\"alg\":\"RS256\",\"typ\":\"JWT\"}",
        "{\"alg\":\"HS256 \",\"typ\":\"JWT\"}",
        "{\"alg\":\"\",\"typ\":\"JWT\"}",
    };
    struct jwt_policy p = policy(JWT_HS256);

    for (size_t i = 0; i < sizeof headers / sizeof headers[0]; i++)
        expect_refused(t_token("SHA256", headers[i], "{" APP ",\"iat\":1700000000}"), &p,
                       "algorithm");
}

/* ---------------------------------------------------------------- signature */

Test(jwt, tampered_payload_refused)
{
    char *good = t_claims("{\"appId\":\"cs-1\",\"iat\":%lld}", NOW);
    static const char *forged = "{\"appId\":\"cs-2\",\"iat\":1700000000}";
    char *evil = t_b64(forged, strlen(forged));
    char *dot1 = strchr(good, '.'), *dot2 = strrchr(good, '.');
    struct jwt_policy p = policy(JWT_HS256);

    *dot1 = '\0';
    expect_refused(t_fmt("%s.%s%s", good, evil, dot2), &p, "signature does not match");
    free(evil);
    free(good);
}

Test(jwt, flipped_signature_byte_refused)
{
    static const char *payload = "{" APP ",\"iat\":1700000000}";
    char *signing = t_signing_input(HS256, payload);
    unsigned char mac[EVP_MAX_MD_SIZE];
    size_t n = t_hmac("SHA256", KEY, signing, mac);
    struct jwt_policy p = policy(JWT_HS256);

    for (size_t i = 0; i < n; i += 31) {
        mac[i] ^= 0x01;
        expect_refused(t_token_sig(HS256, payload, mac, n), &p, "signature does not match");
        mac[i] ^= 0x01;
    }
    expect_ok(t_token_sig(HS256, payload, mac, n), &p);
    free(signing);
}

Test(jwt, wrong_key_refused)
{
    struct jwt_policy p = policy(JWT_HS256);

    expect_refused(t_token_key("SHA256", KEY "x", HS256, "{" APP ",\"iat\":1700000000}"), &p,
                   "signature does not match");
    expect_refused(t_token_key("SHA256", "k7Q2vX9mL4pR8sT1wY6zA3bC5dE0fG2H", HS256,
                               "{" APP ",\"iat\":1700000000}"),
                   &p, "signature does not match");
}

Test(jwt, truncated_signature_refused)
{
    static const char *payload = "{" APP ",\"iat\":1700000000}";
    char *signing = t_signing_input(HS256, payload);
    unsigned char mac[EVP_MAX_MD_SIZE];
    size_t n = t_hmac("SHA256", KEY, signing, mac);
    struct jwt_policy p = policy(JWT_HS256);

    expect_refused(t_token_sig(HS256, payload, mac, n - 1), &p, "signature does not match");
    expect_refused(t_token_sig(HS256, payload, mac, 16), &p, "signature does not match");
    expect_refused(t_token_sig(HS256, payload, mac, 1), &p, "signature does not match");
    free(signing);
}

Test(jwt, padded_signature_refused)
{
    static const char *payload = "{" APP ",\"iat\":1700000000}";
    char *signing = t_signing_input(HS256, payload);
    unsigned char mac[EVP_MAX_MD_SIZE] = {0};
    size_t n = t_hmac("SHA256", KEY, signing, mac);
    struct jwt_policy p = policy(JWT_HS256);

    mac[n] = 0x00;
    expect_refused(t_token_sig(HS256, payload, mac, n + 1), &p, "signature does not match");
    mac[n] = 0xa5;
    expect_refused(t_token_sig(HS256, payload, mac, n + 1), &p, "signature does not match");
    free(signing);
}

Test(jwt, hs256_signature_under_hs512_header_refused)
{
    /* A 32-byte HS256 MAC presented to an HS512 app must not be compared as a prefix. */
    static const char *payload = "{" APP ",\"iat\":1700000000}";
    char *signing = t_signing_input(HS512, payload);
    unsigned char mac[EVP_MAX_MD_SIZE];
    size_t n = t_hmac("SHA512", KEY, signing, mac);
    struct jwt_policy p = policy(JWT_HS512);

    cr_assert_eq(n, 64);
    expect_refused(t_token_sig(HS512, payload, mac, 32), &p, "signature does not match");
    expect_ok(t_token_sig(HS512, payload, mac, 64), &p);
    free(signing);
}

Test(jwt, signature_longer_than_64_bytes_refused_at_parse)
{
    unsigned char sig[65] = {0};
    char *signing = t_signing_input(HS256, "{" APP "}");
    char *s = t_b64(sig, sizeof sig);

    expect_parse_refused(t_fmt("%s.%s", signing, s), "signature is too long");
    free(s);
    free(signing);
}

Test(jwt, empty_key_refused)
{
    char *token = t_claims("{" APP ",\"iat\":%lld}", NOW);
    struct jwt_policy p = policy(JWT_HS256);
    struct jwt t;
    const char *why = NULL;

    cr_assert_eq(jwt_parse(token, strlen(token), &t, &why), 0);
    cr_assert_eq(jwt_verify(&t, (const unsigned char *)"", 0, &p, &why), -1);
    cr_assert_not_null(why);
    jwt_cleanup(&t);
    free(token);
}

/* ---------------------------------------------------------------- time claims */

Test(jwt, exp_with_leeway)
{
    struct jwt_policy p = policy(JWT_HS256);

    expect_ok(t_claims("{" APP ",\"exp\":%lld}", NOW + 600), &p);
    expect_ok(t_claims("{" APP ",\"exp\":%lld}", NOW), &p);
    expect_ok(t_claims("{" APP ",\"exp\":%lld}", NOW - 30), &p);
    expect_ok(t_claims("{" APP ",\"exp\":%lld}", NOW - 60), &p);
    expect_refused(t_claims("{" APP ",\"exp\":%lld}", NOW - 61), &p, "expired");
    expect_refused(t_claims("{" APP ",\"exp\":%lld}", NOW - 86400), &p, "expired");
    p.leeway = 0;
    expect_refused(t_claims("{" APP ",\"exp\":%lld}", NOW - 1), &p, "expired");
}

Test(jwt, nbf_with_leeway)
{
    struct jwt_policy p = policy(JWT_HS256);

    expect_ok(t_claims("{" APP ",\"iat\":%lld,\"nbf\":%lld}", NOW, NOW - 10), &p);
    expect_ok(t_claims("{" APP ",\"iat\":%lld,\"nbf\":%lld}", NOW, NOW + 30), &p);
    expect_ok(t_claims("{" APP ",\"iat\":%lld,\"nbf\":%lld}", NOW, NOW + 60), &p);
    expect_refused(t_claims("{" APP ",\"iat\":%lld,\"nbf\":%lld}", NOW, NOW + 61), &p,
                   "not valid yet");
    expect_refused(t_claims("{" APP ",\"exp\":%lld,\"nbf\":%lld}", NOW + 9000, NOW + 3600), &p,
                   "not valid yet");
}

Test(jwt, no_exp_needs_fresh_iat)
{
    struct jwt_policy p = policy(JWT_HS256);

    expect_ok(t_claims("{" APP ",\"iat\":%lld}", NOW - 10), &p);
    expect_ok(t_claims("{" APP ",\"iat\":%lld}", NOW - 3600 - 60), &p);
    expect_refused(t_claims("{" APP ",\"iat\":%lld}", NOW - 3600 - 61), &p, "maximum age");
    expect_refused(t_claims("{" APP ",\"iat\":%lld}", NOW - 86400 * 365), &p, "maximum age");
    expect_refused(t_claims("{" APP "}"), &p, "needs \"iat\"");
    expect_refused(t_claims("{" APP ",\"nbf\":%lld}", NOW), &p, "needs \"iat\"");
    p.max_age = 300;
    expect_refused(t_claims("{" APP ",\"iat\":%lld}", NOW - 361), &p, "maximum age");
}

Test(jwt, exp_does_not_need_iat_and_bounds_no_age)
{
    struct jwt_policy p = policy(JWT_HS256);

    expect_ok(t_claims("{" APP ",\"exp\":%lld}", NOW + 600), &p);
    /* Without --enforce-jti a long-lived token with exp is the issuer's choice. */
    expect_ok(t_claims("{" APP ",\"iat\":%lld,\"exp\":%lld}", NOW - 86400, NOW + 86400), &p);
}

Test(jwt, iat_in_the_future_refused)
{
    struct jwt_policy p = policy(JWT_HS256);

    expect_ok(t_claims("{" APP ",\"iat\":%lld}", NOW + 60), &p);
    expect_refused(t_claims("{" APP ",\"iat\":%lld}", NOW + 61), &p, "future");
    expect_refused(t_claims("{" APP ",\"iat\":%lld}", NOW + 86400 * 365), &p, "future");
    expect_refused(t_claims("{" APP ",\"iat\":%lld,\"exp\":%lld}", NOW + 86400, NOW + 90000), &p,
                   "future");
}

Test(jwt, time_claims_must_be_numbers)
{
    struct jwt_policy p = policy(JWT_HS256);

    expect_refused(t_claims("{" APP ",\"exp\":\"%lld\"}", NOW + 600), &p,
                   "\"exp\" claim is not a number");
    expect_refused(t_claims("{" APP ",\"iat\":%lld,\"exp\":null}", NOW), &p,
                   "\"exp\" claim is not a number");
    expect_refused(t_claims("{" APP ",\"iat\":%lld,\"exp\":true}", NOW), &p,
                   "\"exp\" claim is not a number");
    expect_refused(t_claims("{" APP ",\"iat\":%lld,\"nbf\":\"0\"}", NOW), &p,
                   "\"nbf\" claim is not a number");
    expect_refused(t_claims("{" APP ",\"iat\":[%lld]}", NOW), &p, "\"iat\" claim is not a number");
    expect_refused(t_claims("{" APP ",\"iat\":{}}"), &p, "\"iat\" claim is not a number");
}

Test(jwt, time_claims_may_be_reals)
{
    struct jwt_policy p = policy(JWT_HS256);

    expect_ok(t_claims("{" APP ",\"exp\":%lld.5}", NOW + 600), &p);
    expect_ok(t_claims("{" APP ",\"iat\":%lld.25}", NOW - 10), &p);
    expect_ok(t_claims("{" APP ",\"iat\":1.7e9}"), &p);
    expect_refused(t_claims("{" APP ",\"exp\":%lld.5}", NOW - 62), &p, "expired");
    expect_ok(t_claims("{" APP ",\"exp\":1e300}"), &p);
    expect_refused(t_claims("{" APP ",\"exp\":-1e300}"), &p, "expired");
}

Test(jwt, huge_integer_times_do_not_overflow)
{
    struct jwt_policy p = policy(JWT_HS256);

    expect_ok(t_claims("{" APP ",\"exp\":9223372036854775807}"), &p);
    expect_refused(t_claims("{" APP ",\"exp\":-9223372036854775807}"), &p, "expired");
    expect_refused(t_claims("{" APP ",\"iat\":9223372036854775807}"), &p, "future");
    expect_refused(t_claims("{" APP ",\"iat\":-9223372036854775807}"), &p, "maximum age");
    expect_refused(t_claims("{" APP ",\"iat\":1,\"nbf\":9223372036854775807,\"exp\":%lld}", NOW),
                   &p, "not valid yet");
}

/* ---------------------------------------------------------------- identity claims */

Test(jwt, app_id_required)
{
    struct jwt_policy p = policy(JWT_HS256);

    expect_refused(t_claims("{\"sub\":\"u-7\",\"iat\":%lld}", NOW), &p, "\"appId\"");
    expect_refused(t_claims("{\"appId\":\"\",\"iat\":%lld}", NOW), &p, "\"appId\"");
    expect_refused(t_claims("{\"appId\":7,\"iat\":%lld}", NOW), &p, "\"appId\"");
    expect_refused(t_claims("{\"appId\":null,\"iat\":%lld}", NOW), &p, "\"appId\"");
    expect_refused(t_claims("{\"appid\":\"cs-1\",\"iat\":%lld}", NOW), &p, "\"appId\"");
}

Test(jwt, sub_optional_but_a_string_when_present)
{
    struct jwt_policy p = policy(JWT_HS256);

    expect_ok(t_claims("{" APP ",\"iat\":%lld}", NOW), &p);
    expect_ok(t_claims("{" APP ",\"sub\":\"u-7\",\"iat\":%lld}", NOW), &p);
    expect_refused(t_claims("{" APP ",\"sub\":\"\",\"iat\":%lld}", NOW), &p, "\"sub\"");
    expect_refused(t_claims("{" APP ",\"sub\":42,\"iat\":%lld}", NOW), &p, "\"sub\"");
    expect_refused(t_claims("{" APP ",\"sub\":null,\"iat\":%lld}", NOW), &p, "\"sub\"");
}

Test(jwt, duplicate_claim_refused)
{
    expect_parse_refused(t_claims("{\"appId\":\"cs-1\",\"appId\":\"cs-2\",\"iat\":%lld}", NOW),
                         "duplicate");
    expect_parse_refused(t_claims("{" APP ",\"exp\":%lld,\"exp\":%lld}", NOW - 3600, NOW + 600),
                         "duplicate");
}

Test(jwt, duplicate_header_member_refused)
{
    expect_parse_refused(t_token("SHA256", "{\"alg\":\"HS256\",\"alg\":\"none\"}", "{" APP "}"),
                         "duplicate");
}

/* ---------------------------------------------------------------- --enforce-jti */

Test(jwt, enforce_jti_accepts_one_hour)
{
    struct jwt_policy p = jti_policy();

    expect_ok(t_claims("{" APP ",\"jti\":\"j-1\",\"iat\":%lld,\"exp\":%lld}", NOW, NOW + 3600), &p);
    expect_ok(t_claims("{" APP ",\"jti\":\"j-1\",\"iat\":%lld,\"exp\":%lld}", NOW, NOW + 60), &p);
}

Test(jwt, enforce_jti_requires_jti)
{
    struct jwt_policy p = jti_policy();
    struct jwt_policy lax = policy(JWT_HS256);

    expect_refused(t_claims("{" APP ",\"iat\":%lld,\"exp\":%lld}", NOW, NOW + 600), &p,
                   "\"jti\" claim is required");
    expect_refused(t_claims("{" APP ",\"jti\":\"\",\"iat\":%lld,\"exp\":%lld}", NOW, NOW + 600), &p,
                   "\"jti\" claim is required");
    expect_refused(t_claims("{" APP ",\"jti\":5,\"iat\":%lld,\"exp\":%lld}", NOW, NOW + 600), &p,
                   "\"jti\" claim is required");
    expect_ok(t_claims("{" APP ",\"iat\":%lld,\"exp\":%lld}", NOW, NOW + 600), &lax);
}

/* The vendor's exact sentence, for each way the lifetime can be unbounded or too long. */
static void expect_jti_lifetime(char *token)
{
    struct jwt_policy p = jti_policy();
    const char *why = NULL;

    cr_assert_eq(t_check_key(token, KEY, &p, &why), -1, "accepted %s", token);
    cr_assert_str_eq(why, JTI_LIFETIME);
    free(token);
}

Test(jwt, enforce_jti_lifetime_vendor_message)
{
    expect_jti_lifetime(
        t_claims("{" APP ",\"jti\":\"j-1\",\"iat\":%lld,\"exp\":%lld}", NOW, NOW + 3601));
    expect_jti_lifetime(
        t_claims("{" APP ",\"jti\":\"j-1\",\"iat\":%lld,\"exp\":%lld}", NOW, NOW + 86400));
    expect_jti_lifetime(t_claims("{" APP ",\"jti\":\"j-1\",\"iat\":%lld}", NOW));
    expect_jti_lifetime(t_claims("{" APP ",\"jti\":\"j-1\",\"exp\":%lld}", NOW + 600));
    expect_jti_lifetime(t_claims("{" APP ",\"jti\":\"j-1\"}"));
    cr_assert_str_eq(JWT_MSG_JTI_LIFETIME, JTI_LIFETIME);
    cr_assert_str_eq(JWT_MSG_REPLAY, "error verifying the jwt: possibly a replay");
}

Test(jwt, enforce_jti_still_checks_expiry)
{
    struct jwt_policy p = jti_policy();

    expect_refused(
        t_claims("{" APP ",\"jti\":\"j-1\",\"iat\":%lld,\"exp\":%lld}", NOW - 4000, NOW - 400), &p,
        "expired");
}

/* ---------------------------------------------------------------- shape */

Test(jwt, token_length_limit)
{
    /* Grow a padding claim until the token is exactly JWT_MAX_LEN, then one byte over. */
    struct jwt_policy p = policy(JWT_HS256);
    bool hit_max = false, hit_over = false;
    char *pad = xmalloc(JWT_MAX_LEN + 1);

    for (size_t n = 6000; n < 6200 && !(hit_max && hit_over); n++) {
        char *token;
        size_t len;

        memset(pad, 'x', n);
        pad[n] = '\0';
        token = t_claims("{" APP ",\"iat\":%lld,\"pad\":\"%s\"}", NOW, pad);
        len = strlen(token);
        if (len == JWT_MAX_LEN) {
            hit_max = true;
            expect_ok(token, &p);
        } else if (len == JWT_MAX_LEN + 1) {
            hit_over = true;
            expect_parse_refused(token, "too long");
        } else {
            free(token);
        }
    }
    cr_assert(hit_max && hit_over);
    free(pad);
}

Test(jwt, oversized_token_refused_before_decoding)
{
    char *junk = xmalloc(20001);

    memset(junk, 'a', 20000);
    junk[20000] = '\0';
    junk[100] = junk[200] = '.';
    expect_parse_refused(junk, "too long");
}

Test(jwt, payload_not_json_refused)
{
    static const char *payloads[] = {"not json", "{\"appId\":\"cs-1\"", "{}x", "{'a':1}", ""};

    for (size_t i = 0; i < sizeof payloads / sizeof payloads[0]; i++) {
        char *token = t_token("SHA256", HS256, payloads[i]);
        if (payloads[i][0] == '\0')
            expect_parse_refused(token, "three non-empty parts");
        else
            expect_parse_refused(token, "payload is not a JSON object");
    }
}

Test(jwt, payload_not_an_object_refused)
{
    static const char *payloads[] = {"[1]", "\"cs-1\"", "42", "null", "[{\"appId\":\"cs-1\"}]"};

    for (size_t i = 0; i < sizeof payloads / sizeof payloads[0]; i++)
        expect_parse_refused(t_token("SHA256", HS256, payloads[i]), "payload is not a JSON object");
}

Test(jwt, number_out_of_range_named)
{
    /* jansson refuses a number past int64 or double: the payload is still an object */
    static const char *payloads[] = {"{" APP ",\"exp\":99999999999999999999999999}",
                                     "{" APP ",\"exp\":1e400}"};

    for (size_t i = 0; i < sizeof payloads / sizeof payloads[0]; i++)
        expect_parse_refused(t_token("SHA256", HS256, payloads[i]),
                             "payload has a number out of range");
    expect_parse_refused(t_token("SHA256", "{\"alg\":\"HS256\",\"x\":1e999}", "{" APP "}"),
                         "header has a number out of range");
}

Test(jwt, bearer_prefix_named)
{
    /* an auth header sent the way Authorization is: the message says what is wrong */
    char *token = t_claims("{" APP ",\"iat\":%lld}", NOW);
    expect_parse_refused(t_fmt("Bearer %s", token), "without \"Bearer \"");
    expect_parse_refused(t_fmt("bearer %s", token), "without \"Bearer \"");
    free(token);
}

Test(jwt, header_not_an_object_refused)
{
    static const char *headers[] = {"[\"HS256\"]", "\"HS256\"", "HS256", "{\"alg\":\"HS256\"",
                                    "null"};

    for (size_t i = 0; i < sizeof headers / sizeof headers[0]; i++)
        expect_parse_refused(t_token("SHA256", headers[i], "{" APP "}"),
                             "header is not a JSON object");
}

Test(jwt, header_members)
{
    struct jwt_policy p = policy(JWT_HS256);
    static const char *payload = "{" APP ",\"iat\":1700000000}";

    expect_ok(t_token("SHA256", "{\"alg\":\"HS256\"}", payload), &p);
    expect_ok(t_token("SHA256", "{\"typ\":\"jwt\",\"alg\":\"HS256\"}", payload), &p);
    expect_ok(t_token("SHA256", "{\"alg\":\"HS256\",\"typ\":\"Jwt\",\"kid\":\"k1\"}", payload), &p);
    expect_parse_refused(t_token("SHA256", "{\"typ\":\"JWT\"}", payload), "\"alg\"");
    expect_parse_refused(t_token("SHA256", "{\"alg\":256}", payload), "\"alg\"");
    expect_parse_refused(t_token("SHA256", "{\"alg\":null}", payload), "\"alg\"");
    expect_parse_refused(t_token("SHA256", "{\"alg\":\"HS256\",\"typ\":\"JWS\"}", payload),
                         "\"typ\"");
    expect_parse_refused(t_token("SHA256", "{\"alg\":\"HS256\",\"typ\":\"JWT \"}", payload),
                         "\"typ\"");
    expect_parse_refused(t_token("SHA256", "{\"alg\":\"HS256\",\"typ\":1}", payload), "\"typ\"");
    expect_parse_refused(
        t_token("SHA256", "{\"alg\":\"HS256\",\"crit\":[\"exp\"],\"exp\":1}", payload), "\"crit\"");
    expect_parse_refused(t_token("SHA256", "{\"alg\":\"HS256\",\"crit\":[]}", payload), "\"crit\"");
}

Test(jwt, two_and_four_segments_refused)
{
    char *token = t_claims("{" APP ",\"iat\":%lld}", NOW);
    char *signing = t_signing_input(HS256, "{" APP "}");

    expect_parse_refused(t_fmt("%s", signing), "three non-empty parts");
    expect_parse_refused(t_fmt("%s.", token), "three non-empty parts");
    expect_parse_refused(t_fmt("%s.e30", token), "three non-empty parts");
    expect_parse_refused(t_fmt("%s.e30.e30", token), "three non-empty parts");
    free(signing);
    free(token);
}

Test(jwt, empty_parts_refused)
{
    static const char *tokens[] = {"",          ".",         "..",       "...",
                                   ".e30.c2ln", "e30..c2ln", "e30.e30.", "e30"};

    for (size_t i = 0; i < sizeof tokens / sizeof tokens[0]; i++)
        expect_parse_refused(xstrdup(tokens[i]), "three non-empty parts");
}

Test(jwt, bad_base64url_refused)
{
    char *token = t_claims("{" APP ",\"iat\":%lld}", NOW);
    char *dot1 = strchr(token, '.'), *dot2 = strrchr(token, '.');
    char *h = xstrndup(token, (size_t)(dot1 - token));
    char *pl = xstrndup(dot1 + 1, (size_t)(dot2 - dot1 - 1));
    const char *s = dot2 + 1;

    expect_parse_refused(t_fmt("%s=.%s.%s", h, pl, s), "header is not base64url");
    expect_parse_refused(t_fmt("%s.%s+.%s", h, pl, s), "payload is not base64url");
    expect_parse_refused(t_fmt("%s.%s.%s=", h, pl, s), "signature is not base64url");
    expect_parse_refused(t_fmt("%s.%s.%s/", h, pl, s), "signature is not base64url");
    expect_parse_refused(t_fmt("%s.%s.%s ", h, pl, s), "signature is not base64url");
    expect_parse_refused(t_fmt("%s.%s.%sAA", h, pl, s), "signature is not base64url");
    expect_parse_refused(t_fmt(" %s.%s.%s", h, pl, s), "header is not base64url");
    free(h);
    free(pl);
    free(token);
}

Test(jwt, embedded_nul_refused)
{
    char *token = t_claims("{" APP ",\"iat\":%lld}", NOW);
    size_t len = strlen(token);

    token[len - 3] = '\0';
    expect_parse_refused_n(token, len, "signature is not base64url");
}

/* ---------------------------------------------------------------- signing */

Test(jwt, sign_matches_hand_built_token)
{
    json_t *payload =
        json_pack("{s:s, s:s, s:I}", "appId", "cs-1", "sub", "u-7", "iat", (json_int_t)NOW);
    static const char *literal = "{\"appId\":\"cs-1\",\"sub\":\"u-7\",\"iat\":1700000000}";
    static const struct {
        enum jwt_alg alg;
        const char *digest, *header;
    } cases[] = {
        {JWT_HS256, "SHA256", HS256}, {JWT_HS384, "SHA384", HS384}, {JWT_HS512, "SHA512", HS512}};

    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *signed_token =
            jwt_sign(cases[i].alg, (const unsigned char *)KEY, strlen(KEY), payload);
        char *hand = t_token(cases[i].digest, cases[i].header, literal);
        struct jwt_policy p = policy(cases[i].alg);

        cr_assert_not_null(signed_token);
        cr_assert_str_eq(signed_token, hand);
        expect_ok(signed_token, &p);
        free(hand);
    }
    cr_assert_eq(payload->refcount, 1, "payload must not be stolen");
    json_decref(payload);
}

Test(jwt, sign_refuses_empty_key_and_non_objects)
{
    json_t *obj = json_pack("{s:s}", "appId", "cs-1"), *arr = json_array();

    cr_assert_null(jwt_sign(JWT_HS256, (const unsigned char *)"", 0, obj));
    cr_assert_null(jwt_sign(JWT_HS256, (const unsigned char *)KEY, strlen(KEY), arr));
    cr_assert_null(jwt_sign((enum jwt_alg)7, (const unsigned char *)KEY, strlen(KEY), obj));
    json_decref(obj);
    json_decref(arr);
}

Test(jwt, cleanup_safe_on_zeroed_struct)
{
    struct jwt t = {0};

    jwt_cleanup(&t);
    jwt_cleanup(&t);
    cr_assert_null(t.header);
}
