#include "auth/jwt.h"

#include "util/b64.h"
#include "util/mem.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

/* The algorithm is pinned by the app, never taken from the token (DESIGN.md §3). */
static const struct {
    const char *name;   /* JWS "alg" */
    const char *digest; /* OpenSSL digest under HMAC */
} jwt_algs[] = {
    [JWT_HS256] = {"HS256", "SHA256"},
    [JWT_HS384] = {"HS384", "SHA384"},
    [JWT_HS512] = {"HS512", "SHA512"},
};

#define JWT_ALG_COUNT (sizeof jwt_algs / sizeof jwt_algs[0])

/* One dot-separated part of a compact token. */
struct jwt_part {
    const char *text;
    size_t len;
};

/* The refusals of a JSON segment, so header and payload share one decoder. */
struct jwt_segment {
    const char *bad_base64;
    const char *not_object;
    const char *duplicate;
    const char *bad_number; /* a number past what a claim can hold (1e400, 2^64) */
};

static const struct jwt_segment jwt_header_segment = {
    "malformed jwt: the header is not base64url",
    "malformed jwt: the header is not a JSON object",
    "malformed jwt: the header has a duplicate member",
    "malformed jwt: the header has a number out of range",
};

static const struct jwt_segment jwt_payload_segment = {
    "malformed jwt: the payload is not base64url",
    "malformed jwt: the payload is not a JSON object",
    "malformed jwt: the payload has a duplicate claim",
    "malformed jwt: the payload has a number out of range",
};

/* The time claims, read into struct jwt_times by their index. */
enum { JWT_EXP, JWT_NBF, JWT_IAT, JWT_TIME_COUNT };

static const struct {
    const char *name;
    const char *not_number;
} jwt_time_claims[JWT_TIME_COUNT] = {
    [JWT_EXP] = {"exp", "error verifying the jwt: the \"exp\" claim is not a number"},
    [JWT_NBF] = {"nbf", "error verifying the jwt: the \"nbf\" claim is not a number"},
    [JWT_IAT] = {"iat", "error verifying the jwt: the \"iat\" claim is not a number"},
};

/* Times compare as doubles: a claim may be a JSON real, and no claim value can overflow them. */
struct jwt_times {
    bool has[JWT_TIME_COUNT];
    double at[JWT_TIME_COUNT];
};

static int jwt_refuse(const char **why, const char *sentence)
{
    *why = sentence;
    return -1;
}

int jwt_alg_parse(const char *name, enum jwt_alg *out)
{
    if (!name)
        return -1;
    for (size_t i = 0; i < JWT_ALG_COUNT; i++) {
        if (strcmp(name, jwt_algs[i].name) == 0) {
            *out = (enum jwt_alg)i;
            return 0;
        }
    }
    return -1;
}

const char *jwt_alg_name(enum jwt_alg alg)
{
    if ((size_t)alg >= JWT_ALG_COUNT)
        return NULL;
    return jwt_algs[alg].name;
}

/* HMAC of data under the algorithm's digest into mac (JWT_SIG_MAX bytes); 0, or -1. */
static int jwt_hmac(enum jwt_alg alg, const unsigned char *key, size_t keylen,
                    const unsigned char *data, size_t n, unsigned char *mac, size_t *maclen)
{
    /* An empty secret would let anyone sign; API.md §2 secrets are at least 32 bytes. */
    if ((size_t)alg >= JWT_ALG_COUNT || keylen == 0)
        return -1;
    if (!EVP_Q_mac(NULL, "HMAC", NULL, jwt_algs[alg].digest, NULL, key, keylen, data, n, mac,
                   JWT_SIG_MAX, maclen))
        return -1;
    return 0;
}

/* ---------------------------------------------------------------- parsing */

/* Splits token into exactly three non-empty parts; 0, or -1. */
static int jwt_split(const char *token, size_t len, struct jwt_part parts[3])
{
    const char *p = token, *end = token + len;

    for (int i = 0; i < 2; i++) {
        const char *dot = memchr(p, '.', (size_t)(end - p));
        if (!dot || dot == p)
            return -1;
        parts[i] = (struct jwt_part){p, (size_t)(dot - p)};
        p = dot + 1;
    }
    parts[2] = (struct jwt_part){p, (size_t)(end - p)};
    if (parts[2].len == 0 || memchr(p, '.', parts[2].len))
        return -1;
    return 0;
}

/* Decodes a base64url JSON object with no duplicate members into *out (a new reference). */
static int jwt_decode_object(const struct jwt_part *part, const struct jwt_segment *seg,
                             json_t **out, const char **why)
{
    unsigned char *buf = xmalloc(part->len * 3 / 4 + 1);
    size_t n;
    json_error_t err;
    json_t *obj = NULL;
    int rc = -1;

    if (b64url_decode(part->text, part->len, buf, &n) < 0) {
        *why = seg->bad_base64;
        goto out;
    }
    obj = json_loadb((const char *)buf, n, JSON_REJECT_DUPLICATES, &err);
    if (!obj) {
        enum json_error_code code = json_error_code(&err);
        *why = code == json_error_duplicate_key    ? seg->duplicate
               : code == json_error_numeric_overflow ? seg->bad_number
                                                     : seg->not_object;
        goto out;
    }
    if (!json_is_object(obj)) {
        json_decref(obj);
        *why = seg->not_object;
        goto out;
    }
    *out = obj;
    rc = 0;
out:
    free(buf);
    return rc;
}

/* RFC 7515 §4.1: alg is required; typ, when present, names the JWT media type; crit lists
   extensions we do not understand, so the token must be refused. */
static int jwt_check_header(const json_t *header, const char **why)
{
    const json_t *typ = json_object_get(header, "typ");

    if (!json_is_string(json_object_get(header, "alg")))
        return jwt_refuse(why, "malformed jwt: the header has no string \"alg\"");
    if (typ && (!json_is_string(typ) || strcasecmp(json_string_value(typ), "JWT") != 0))
        return jwt_refuse(why, "malformed jwt: the header \"typ\" is not \"JWT\"");
    if (json_object_get(header, "crit"))
        return jwt_refuse(why, "malformed jwt: the header \"crit\" is not supported");
    return 0;
}

static int jwt_decode_signature(const struct jwt_part *part, struct jwt *t, const char **why)
{
    unsigned char sig[JWT_SIG_MAX + 1]; /* b64url_decode's n * 3 / 4 + 1 for n = 86 */

    /* 86 characters, the encoding of 64 bytes, decode to at most 64 bytes. */
    if (part->len > b64url_encoded_len(JWT_SIG_MAX))
        return jwt_refuse(why, "malformed jwt: the signature is too long");
    if (b64url_decode(part->text, part->len, sig, &t->sig_len) < 0)
        return jwt_refuse(why, "malformed jwt: the signature is not base64url");
    memcpy(t->sig, sig, t->sig_len);
    return 0;
}

int jwt_parse(const char *token, size_t len, struct jwt *out, const char **why)
{
    struct jwt t = {0};
    struct jwt_part parts[3];

    *out = (struct jwt){0};
    if (len > JWT_MAX_LEN)
        return jwt_refuse(why, "malformed jwt: the token is too long");
    if (len > 7 && strncasecmp(token, "Bearer ", 7) == 0) /* the Authorization header's habit */
        return jwt_refuse(why, "malformed jwt: the auth header takes the token alone, without "
                               "\"Bearer \"");
    if (jwt_split(token, len, parts) < 0)
        return jwt_refuse(why, "malformed jwt: expected three non-empty parts separated by dots");
    if (jwt_decode_object(&parts[0], &jwt_header_segment, &t.header, why) < 0)
        goto fail;
    if (jwt_check_header(t.header, why) < 0)
        goto fail;
    if (jwt_decode_object(&parts[1], &jwt_payload_segment, &t.payload, why) < 0)
        goto fail;
    if (jwt_decode_signature(&parts[2], &t, why) < 0)
        goto fail;
    t.token = token;
    t.signing_len = parts[0].len + 1 + parts[1].len;
    *out = t;
    return 0;
fail:
    jwt_cleanup(&t);
    return -1;
}

/* The payload member name when it is a non-empty string, else NULL. */
static const char *jwt_claim_string(const struct jwt *t, const char *name)
{
    const json_t *v = json_object_get(t->payload, name);

    if (!json_is_string(v) || json_string_length(v) == 0)
        return NULL;
    return json_string_value(v);
}

const char *jwt_app_id(const struct jwt *t)
{
    return jwt_claim_string(t, "appId");
}

const char *jwt_sub(const struct jwt *t)
{
    return jwt_claim_string(t, "sub");
}

const char *jwt_jti(const struct jwt *t)
{
    return jwt_claim_string(t, "jti");
}

/* ---------------------------------------------------------------- verification */

static int jwt_check_alg(const struct jwt *t, enum jwt_alg alg, const char **why)
{
    const char *want = jwt_alg_name(alg);
    const char *got = json_string_value(json_object_get(t->header, "alg"));

    /* Exact match: "none", "None", "hs256" and any other algorithm are all refused. */
    if (!want || !got || strcmp(want, got) != 0)
        return jwt_refuse(why, "error verifying the jwt: the algorithm is not the app's");
    return 0;
}

static int jwt_check_signature(const struct jwt *t, enum jwt_alg alg, const unsigned char *key,
                               size_t keylen, const char **why)
{
    const unsigned char *signing = (const unsigned char *)t->token;
    unsigned char mac[JWT_SIG_MAX];
    size_t maclen;

    if (jwt_hmac(alg, key, keylen, signing, t->signing_len, mac, &maclen) < 0)
        return jwt_refuse(why, "error verifying the jwt: the signature cannot be checked");
    /* The length is public (it follows from alg); the bytes are compared in constant time. */
    if (t->sig_len != maclen || CRYPTO_memcmp(mac, t->sig, maclen) != 0)
        return jwt_refuse(why, "error verifying the jwt: the signature does not match");
    return 0;
}

static int jwt_read_times(const json_t *payload, struct jwt_times *tm, const char **why)
{
    for (size_t i = 0; i < JWT_TIME_COUNT; i++) {
        const json_t *v = json_object_get(payload, jwt_time_claims[i].name);
        tm->has[i] = v != NULL;
        tm->at[i] = 0;
        if (!v)
            continue;
        if (!json_is_number(v))
            return jwt_refuse(why, jwt_time_claims[i].not_number);
        tm->at[i] = json_number_value(v);
    }
    return 0;
}

/* API.md §2, --enforce-jti: a jti, and a lifetime of at most one hour stated by exp and iat. */
static int jwt_check_jti(const struct jwt *t, const struct jwt_times *tm, const char **why)
{
    if (!jwt_jti(t))
        return jwt_refuse(why, "error verifying the jwt: the \"jti\" claim is required");
    if (!tm->has[JWT_EXP] || !tm->has[JWT_IAT] ||
        tm->at[JWT_EXP] - tm->at[JWT_IAT] > JWT_JTI_MAX_LIFETIME)
        return jwt_refuse(why, JWT_MSG_JTI_LIFETIME);
    return 0;
}

/* API.md §2: exp and nbf enforced with leeway; without exp, iat is required and bounds the age. */
static int jwt_check_times(const struct jwt_times *tm, const struct jwt_policy *p, const char **why)
{
    double now = (double)p->now, leeway = (double)p->leeway, max_age = (double)p->max_age;

    if (tm->has[JWT_EXP] && now > tm->at[JWT_EXP] + leeway)
        return jwt_refuse(why, "error verifying the jwt: the token is expired");
    if (tm->has[JWT_NBF] && now + leeway < tm->at[JWT_NBF])
        return jwt_refuse(why, "error verifying the jwt: the token is not valid yet");
    if (tm->has[JWT_IAT] && tm->at[JWT_IAT] > now + leeway)
        return jwt_refuse(why, "error verifying the jwt: the token is issued in the future");
    if (tm->has[JWT_EXP])
        return 0;
    if (!tm->has[JWT_IAT])
        return jwt_refuse(why, "error verifying the jwt: a token without \"exp\" needs \"iat\"");
    if (now - tm->at[JWT_IAT] > max_age + leeway)
        return jwt_refuse(why, "error verifying the jwt: the token is older than the maximum age");
    return 0;
}

static int jwt_check_claims(const struct jwt *t, const struct jwt_policy *p, const char **why)
{
    struct jwt_times tm;

    if (jwt_read_times(t->payload, &tm, why) < 0)
        return -1;
    if (!jwt_app_id(t))
        return jwt_refuse(why, "error verifying the jwt: the \"appId\" claim is required");
    if (json_object_get(t->payload, "sub") && !jwt_sub(t))
        return jwt_refuse(why,
                          "error verifying the jwt: the \"sub\" claim must be a non-empty string");
    if (p->enforce_jti && jwt_check_jti(t, &tm, why) < 0)
        return -1;
    return jwt_check_times(&tm, p, why);
}

int jwt_verify(const struct jwt *t, const unsigned char *key, size_t keylen,
               const struct jwt_policy *p, const char **why)
{
    if (jwt_check_alg(t, p->alg, why) < 0)
        return -1;
    if (jwt_check_signature(t, p->alg, key, keylen, why) < 0)
        return -1;
    return jwt_check_claims(t, p, why);
}

int jwt_verify_claims(const struct jwt *t, const struct jwt_policy *p, const char **why)
{
    if (jwt_check_alg(t, p->alg, why) < 0)
        return -1;
    return jwt_check_claims(t, p, why);
}

void jwt_cleanup(struct jwt *t)
{
    json_decref(t->header);
    json_decref(t->payload);
    *t = (struct jwt){0};
}

/* ---------------------------------------------------------------- signing */

char *jwt_sign(enum jwt_alg alg, const unsigned char *key, size_t keylen, const json_t *payload)
{
    char header[64];
    int hlen;
    size_t plen, cap, n, maclen;
    char *body = NULL, *token = NULL;
    unsigned char mac[JWT_SIG_MAX];

    if (!json_is_object(payload) || !jwt_alg_name(alg) || keylen == 0)
        return NULL;
    hlen = snprintf(header, sizeof header, "{\"alg\":\"%s\",\"typ\":\"JWT\"}", jwt_alg_name(alg));
    plen = json_dumpb(payload, NULL, 0, JSON_COMPACT);
    body = xmalloc(plen);
    if (plen == 0 || json_dumpb(payload, body, plen, JSON_COMPACT) != plen)
        goto out;
    cap = b64url_encoded_len((size_t)hlen) + 1 + b64url_encoded_len(plen) + 1 +
          b64url_encoded_len(JWT_SIG_MAX) + 1;
    token = xmalloc(cap);
    n = b64url_encode((const unsigned char *)header, (size_t)hlen, token);
    token[n++] = '.';
    n += b64url_encode((const unsigned char *)body, plen, token + n);
    if (jwt_hmac(alg, key, keylen, (const unsigned char *)token, n, mac, &maclen) < 0) {
        free(token);
        token = NULL;
        goto out;
    }
    token[n++] = '.';
    b64url_encode(mac, maclen, token + n);
out:
    free(body);
    return token;
}
