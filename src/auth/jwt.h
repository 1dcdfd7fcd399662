/* jwt — compact JWS tokens signed with HMAC (HS256/384/512): parse, verify against an app's
   pinned algorithm and secret (API.md §2), and sign for the CLI and tests. */
#ifndef CASEMGR_AUTH_JWT_H
#define CASEMGR_AUTH_JWT_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Longest token accepted, in bytes; anything longer is refused before decoding. */
#define JWT_MAX_LEN 8192
/* Largest signature (HS512) in bytes. */
#define JWT_SIG_MAX 64
/* With enforce_jti, the longest allowed exp - iat, in seconds (the vendor's "1 hour(s)"). */
#define JWT_JTI_MAX_LIFETIME 3600

/* The vendor's exact refusals under --enforce-jti (API.md §2); the replay check is the caller's. */
#define JWT_MSG_JTI_LIFETIME                                                                       \
    "error verifying the jwt: if \"jti\" claim \"exp\" must be <= 1 hour(s)"
#define JWT_MSG_REPLAY "error verifying the jwt: possibly a replay"

enum jwt_alg { JWT_HS256, JWT_HS384, JWT_HS512 };

/* A parsed but NOT yet verified token. */
struct jwt {
    json_t *header;     /* owned */
    json_t *payload;    /* owned */
    const char *token;  /* borrowed from the caller of jwt_parse */
    size_t signing_len; /* token[0..signing_len) is "header.payload", the signed text */
    unsigned char sig[JWT_SIG_MAX];
    size_t sig_len;
};

/* What a token must satisfy besides its signature; set by the server per app. */
struct jwt_policy {
    enum jwt_alg alg; /* pinned by the app; the header's alg must equal its name */
    int64_t now;      /* seconds since the epoch */
    int64_t leeway;   /* seconds of clock skew allowed on exp, nbf and iat */
    int64_t max_age;  /* seconds; a token without exp must have iat no older */
    bool enforce_jti; /* require jti, exp and iat with exp - iat <= 1 hour */
};

/* Sets *out to the algorithm named exactly name ("HS256", "HS384", "HS512"); 0, or -1. */
int jwt_alg_parse(const char *name, enum jwt_alg *out);
/* The JWS name of alg ("HS256"...), a static string; NULL if alg is out of range. */
const char *jwt_alg_name(enum jwt_alg alg);

/* Splits token[0..len) and decodes its header, payload and signature into *out, which borrows
   token. Refuses a token longer than JWT_MAX_LEN, other than 3 non-empty parts (so alg "none"
   with an empty signature), bad base64url, a header or payload that is not a JSON object or has
   duplicate members, a header without a string "alg", with "typ" other than "JWT" (any case) or
   with "crit", and a signature longer than JWT_SIG_MAX. Returns 0 (release with jwt_cleanup),
   or -1 with *why a static sentence and nothing to clean up. */
int jwt_parse(const char *token, size_t len, struct jwt *out, const char **why);
/* The payload's "appId" when a non-empty string, else NULL; borrowed from t. */
const char *jwt_app_id(const struct jwt *t);
/* The payload's "sub" when a non-empty string, else NULL; borrowed from t. */
const char *jwt_sub(const struct jwt *t);
/* The payload's "jti" when a non-empty string, else NULL; borrowed from t. */
const char *jwt_jti(const struct jwt *t);
/* Checks t's alg equals p->alg, its signature against HMAC(key[0..keylen)) in constant time
   over the full length, then its claims: exp, nbf, iat numbers within p->leeway, iat when exp
   is absent no older than p->max_age, a non-empty string appId, a non-empty string sub when
   present, and with p->enforce_jti a jti and exp - iat <= JWT_JTI_MAX_LIFETIME. An empty key is
   refused. Returns 0, or -1 with *why a static sentence. Replay of jti is the caller's check. */
int jwt_verify(const struct jwt *t, const unsigned char *key, size_t keylen,
               const struct jwt_policy *p, const char **why);
/* jwt_verify without the signature: the alg and the claims only. For a token whose signature
   the caller verified before with the same key (auth's cache of verified tokens). */
int jwt_verify_claims(const struct jwt *t, const struct jwt_policy *p, const char **why);
/* Frees the header and payload and zeroes *t; safe on a zeroed or cleaned-up struct. */
void jwt_cleanup(struct jwt *t);
/* Signs payload (not stolen) under header {"alg":...,"typ":"JWT"} with key[0..keylen). Returns
   the compact token as a heap string (free()), or NULL if payload is not an object or the key
   is empty. */
char *jwt_sign(enum jwt_alg alg, const unsigned char *key, size_t keylen, const json_t *payload);

#endif
