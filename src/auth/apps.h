/* apps — registered client apps (API.md §2): their documents, their secrets, and turning a
 * request's `auth` token into an authenticated identity.
 *
 * Secrets are never stored. An app's clientSecret is HMAC-SHA256(server key, clientId, salt),
 * base64url; the database keeps only the salt, the server key lives in a separate 0600 key file.
 * A stolen database file alone therefore yields no working secret, while the server can still
 * recompute the HMAC key each token is checked with. */
#ifndef CASEMGR_AUTH_APPS_H
#define CASEMGR_AUTH_APPS_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "auth/jwt.h"
#include "store/store.h"

#define AUTH_SECRET_LEN 43 /* base64url of 32 bytes */
#define AUTH_SCOPE "caseManagement"

struct auth_keyring {
    unsigned char key[32];
};

/* An app as stored: doc owns the strings the other members point into (or strings, once
 * detached from it). */
struct auth_app {
    json_t *doc;
    char *strings;
    const char *client_id;
    const char *account_id;
    const char *org_id; /* "" when none */
    const char *name;
    enum jwt_alg alg;
    bool enforce_jti;
    bool revoked;
};

struct auth_policy {
    int64_t leeway;  /* seconds */
    int64_t max_age; /* seconds, for tokens without exp */
};

/* Who a request acts as: the app and, when the token names one, the user (sub). */
struct auth_identity {
    struct auth_app app;
    char *sub;       /* heap or NULL */
    char *user_name; /* heap or NULL: the token's "name" claim */
};

/* AUTH_MUST_WAIT: the token is good so far but using its jti needs a write the caller said it
 * cannot wait for (may_wait false); nothing was written, ask again where waiting is allowed. */
enum auth_result { AUTH_OK, AUTH_DENIED, AUTH_UNAVAILABLE, AUTH_MUST_WAIT };

/* Reads the server key from path, creating it (0600, random) when create is set and it is
 * missing. 0, or -1 with *err (heap). */
int auth_keyring_load(const char *path, bool create, struct auth_keyring *out, char **err);
/* As auth_keyring_load with create, for a command that serves or registers apps on store s: a
 * missing key file is made only while s holds no app. Every app's secret derives from the key,
 * so a new one would leave them all answered 401 (a restore without the key file, or a --key-file
 * or working directory other than the one the apps were made with): refused with *err instead. */
int auth_keyring_open(const char *path, struct store *s, struct auth_keyring *out, char **err);

/* Parses an app document; 0 or -1 when it is not one. Release with auth_app_cleanup. */
int auth_app_parse(const char *json, struct auth_app *out);
/* The stored document (JSON text) of app client_id, in one read transaction: STORE_OK with *json
 * (free it), else the store's code (STORE_NOT_FOUND: no such app) and *json NULL. */
int auth_app_read(struct store *s, const char *client_id, char **json);
void auth_app_cleanup(struct auth_app *app);
bool auth_app_has_scope(const struct auth_app *app, const char *scope);
bool auth_app_has_stream(const struct auth_app *app, const char *stream_id);

/* A new app document with a fresh clientId and salt (caller decrefs); its secret goes to
 * secret[AUTH_SECRET_LEN + 1]. streams and scopes are arrays of strings (not stolen). */
json_t *auth_app_new(const struct auth_keyring *keys, const char *account_id, const char *org_id,
                     const char *name, const json_t *streams, const json_t *scopes,
                     enum jwt_alg alg, bool enforce_jti, char secret[AUTH_SECRET_LEN + 1]);
/* The clientSecret of an app document (recomputed from the key and its salt). */
int auth_app_secret(const struct auth_keyring *keys, const json_t *app_doc,
                    char secret[AUTH_SECRET_LEN + 1]);

/* Verifies token (API.md §2: signature with the app's pinned algorithm, claims, revocation,
 * jti replay through the store). AUTH_DENIED sets *why (static); AUTH_UNAVAILABLE means the
 * database failed; AUTH_MUST_WAIT (only when may_wait is false) that the jti must be recorded,
 * a write to wait for. On AUTH_OK release out with auth_identity_cleanup. The app is read with
 * store_read_keep: the caller's next read on this thread runs in that snapshot, and the caller
 * ends it with store_read_end if none comes. */
enum auth_result auth_authenticate(struct store *s, const struct auth_keyring *keys,
                                   const struct auth_policy *policy, const char *token,
                                   bool may_wait, struct auth_identity *out, const char **why);
void auth_identity_cleanup(struct auth_identity *id);
/* Copies the strings id->app points into out of the app's document and releases the document:
 * the identity can then be used and cleaned up on other threads (the document is shared with
 * this thread's cache of verified tokens, and its reference count is not for two threads). */
void auth_identity_detach(struct auth_identity *id);

/* SHA-256 of data as 64 lower-case hex digits + NUL (idempotency body fingerprints). */
void auth_sha256_hex(const void *data, size_t len, char out[65]);

#endif
