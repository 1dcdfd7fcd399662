#include "auth/apps.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/crypto.h>
#include <openssl/sha.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/b64.h"
#include "util/id.h"
#include "util/mem.h"
#include "util/time.h"

static void to_hex(const unsigned char *in, size_t n, char *out)
{
    static const char hex[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = hex[in[i] >> 4];
        out[2 * i + 1] = hex[in[i] & 15];
    }
    out[2 * n] = '\0';
}

static int from_hex(const char *in, unsigned char *out, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned v = 0;
        for (int k = 0; k < 2; k++) {
            char c = in[2 * i + k];
            unsigned d = c >= '0' && c <= '9'   ? (unsigned)(c - '0')
                         : c >= 'a' && c <= 'f' ? (unsigned)(c - 'a' + 10)
                                                : 16;
            if (d == 16)
                return -1;
            v = v * 16 + d;
        }
        out[i] = (unsigned char)v;
    }
    return 0;
}

void auth_sha256_hex(const void *data, size_t len, char out[65])
{
    unsigned char md[SHA256_DIGEST_LENGTH];
    SHA256(data, len, md);
    to_hex(md, sizeof md, out);
}

static int read_key(const char *path, struct auth_keyring *out, char **err)
{
    char buf[130] = {0};
    FILE *f = fopen(path, "r");
    if (!f) {
        *err = xstrdup("cannot read the key file");
        return -1;
    }
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    (void)fclose(f); /* opened for reading: a failed close loses nothing */
    while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
        buf[--n] = '\0';
    if (n != 64 || from_hex(buf, out->key, sizeof out->key) != 0) {
        *err = xstrdup("the key file must hold 64 hex digits");
        return -1;
    }
    return 0;
}

/* Syncs the directory holding path, so that a new name in it survives a crash. */
static void sync_dir_of(const char *path)
{
    char *dir = xstrdup(path);
    char *slash = strrchr(dir, '/');
    if (slash == dir)
        slash[1] = '\0';
    else if (slash)
        *slash = '\0';
    int fd = open(slash ? dir : ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        (void)fsync(fd); /* best effort: the key itself is synced */
        close(fd);
    }
    free(dir);
}

int auth_keyring_load(const char *path, bool create, struct auth_keyring *out, char **err)
{
    if (access(path, F_OK) == 0 || !create)
        return read_key(path, out, err);
    /* The key is written whole to a file of its own and then linked into place, so that the
     * name appears with its 64 digits: a process starting at the same moment read the file
     * another had created but not yet written ("must hold 64 hex digits"). link(), unlike
     * rename(), never replaces a key another process linked first. */
    char tmp[PATH_MAX];
    unsigned char r[8];
    char rhex[17];
    id_random(r, sizeof r);
    to_hex(r, sizeof r, rhex);
    if (snprintf(tmp, sizeof tmp, "%s.%s.tmp", path, rhex) >= (int)sizeof tmp) {
        *err = xstrdup("the key file's path is too long");
        return -1;
    }
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) {
        char msg[PATH_MAX + 64];
        /* %m, unlike strerror, is thread-safe */
        snprintf(msg, sizeof msg, "cannot create the key file %s: %m", path);
        *err = xstrdup(msg);
        return -1;
    }
    char hex[66];
    id_random(out->key, sizeof out->key);
    to_hex(out->key, sizeof out->key, hex);
    hex[64] = '\n';
    bool ok = write(fd, hex, 65) == 65 && fsync(fd) == 0;
    close(fd);
    if (!ok) {
        unlink(tmp);
        *err = xstrdup("cannot write the key file");
        return -1;
    }
    int linked = link(tmp, path);
    int link_errno = errno;
    unlink(tmp);
    if (linked != 0 && link_errno == EEXIST) /* another process made it first: use that one */
        return read_key(path, out, err);
    if (linked != 0) {
        char msg[PATH_MAX + 64];
        errno = link_errno;
        snprintf(msg, sizeof msg, "cannot create the key file %s: %m", path);
        *err = xstrdup(msg);
        return -1;
    }
    sync_dir_of(path);
    return 0;
}

static void count_app(const char *json, void *arg)
{
    (void)json;
    ++*(size_t *)arg;
}

static int count_apps_txn(struct store_txn *t, void *arg)
{
    return store_app_each(t, count_app, arg);
}

int auth_keyring_open(const char *path, struct store *s, struct auth_keyring *out, char **err)
{
    if (access(path, F_OK) == 0)
        return read_key(path, out, err);
    size_t apps = 0;
    if (store_read(s, count_apps_txn, &apps) != STORE_OK) {
        *err = xstrdup("cannot read the apps from the database");
        return -1;
    }
    if (apps > 0) {
        char msg[512];
        snprintf(msg, sizeof msg,
                 "missing, and the database holds %zu app%s whose secrets derive from it: restore "
                 "the key file, or name it with --key-file (a new key would answer every app 401)",
                 apps, apps == 1 ? "" : "s");
        *err = xstrdup(msg);
        return -1;
    }
    return auth_keyring_load(path, true, out, err);
}

void auth_app_cleanup(struct auth_app *app)
{
    json_decref(app->doc);
    free(app->strings);
    memset(app, 0, sizeof *app);
}

int auth_app_parse(const char *json, struct auth_app *out)
{
    memset(out, 0, sizeof *out);
    out->doc = json_loads(json, 0, NULL);
    if (!json_is_object(out->doc))
        goto fail;
    out->client_id = json_string_value(json_object_get(out->doc, "clientId"));
    out->account_id = json_string_value(json_object_get(out->doc, "accountId"));
    out->org_id = json_string_value(json_object_get(out->doc, "orgId"));
    out->name = json_string_value(json_object_get(out->doc, "name"));
    out->enforce_jti = json_is_true(json_object_get(out->doc, "enforceJti"));
    out->revoked = json_is_true(json_object_get(out->doc, "revoked"));
    const char *alg = json_string_value(json_object_get(out->doc, "alg"));
    if (!out->client_id || !out->account_id || !alg || jwt_alg_parse(alg, &out->alg) != 0)
        goto fail;
    if (!out->org_id)
        out->org_id = "";
    if (!out->name)
        out->name = "";
    return 0;
fail:
    auth_app_cleanup(out);
    return -1;
}

static bool array_has(const json_t *arr, const char *s)
{
    size_t i;
    const json_t *x;
    json_array_foreach(arr, i, x)
    {
        const char *v = json_string_value(x);
        if (v && strcmp(v, s) == 0)
            return true;
    }
    return false;
}

bool auth_app_has_scope(const struct auth_app *app, const char *scope)
{
    return array_has(json_object_get(app->doc, "scopes"), scope);
}

bool auth_app_has_stream(const struct auth_app *app, const char *stream_id)
{
    return array_has(json_object_get(app->doc, "streams"), stream_id);
}

static int derive_secret(const struct auth_keyring *keys, const char *client_id, const char *salt,
                         char secret[AUTH_SECRET_LEN + 1])
{
    char msg[512];
    int n = snprintf(msg, sizeof msg, "casemgr app secret v1|%s|%s", client_id, salt);
    if (n < 0 || (size_t)n >= sizeof msg)
        return -1;
    unsigned char mac[32];
    unsigned int maclen = 0;
    if (!HMAC(EVP_sha256(), keys->key, sizeof keys->key, (const unsigned char *)msg, (size_t)n,
              mac, &maclen) ||
        maclen != sizeof mac)
        return -1;
    b64url_encode(mac, sizeof mac, secret);
    return 0;
}

int auth_app_secret(const struct auth_keyring *keys, const json_t *app_doc,
                    char secret[AUTH_SECRET_LEN + 1])
{
    const char *client_id = json_string_value(json_object_get(app_doc, "clientId"));
    const char *salt = json_string_value(json_object_get(app_doc, "salt"));
    if (!client_id || !salt)
        return -1;
    return derive_secret(keys, client_id, salt, secret);
}

json_t *auth_app_new(const struct auth_keyring *keys, const char *account_id, const char *org_id,
                     const char *name, const json_t *streams, const json_t *scopes,
                     enum jwt_alg alg, bool enforce_jti, char secret[AUTH_SECRET_LEN + 1])
{
    char uuid[37], client_id[48], salt[33];
    unsigned char salt_bytes[16];
    id_uuid(uuid);
    snprintf(client_id, sizeof client_id, "cs-%s", uuid);
    id_random(salt_bytes, sizeof salt_bytes);
    to_hex(salt_bytes, sizeof salt_bytes, salt);
    char created[TIME_ISO_LEN];
    time_format_iso(time_now_ms(), created);
    json_t *doc = json_pack("{s:s, s:s, s:s, s:s, s:O, s:O, s:s, s:b, s:s, s:s, s:b}",
                            "clientId", client_id, "name", name ? name : "", "accountId",
                            account_id, "orgId", org_id ? org_id : "", "streams", streams,
                            "scopes", scopes, "alg", jwt_alg_name(alg), "enforceJti",
                            enforce_jti, "salt", salt, "createdAt", created, "revoked", 0);
    if (!doc || derive_secret(keys, client_id, salt, secret) != 0) {
        json_decref(doc);
        return NULL;
    }
    return doc;
}

void auth_identity_detach(struct auth_identity *id)
{
    struct auth_app *a = &id->app;
    const char **const borrowed[] = {&a->client_id, &a->account_id, &a->org_id, &a->name};
    char *old = a->strings; /* what a detached identity's point into */
    a->strings = xstrpack(borrowed, sizeof borrowed / sizeof *borrowed);
    free(old);
    json_decref(a->doc);
    a->doc = NULL; /* scope and stream checks are behind: they need it */
}

void auth_identity_cleanup(struct auth_identity *id)
{
    auth_app_cleanup(&id->app);
    free(id->sub);
    free(id->user_name);
    memset(id, 0, sizeof *id);
}

struct load_app {
    const char *client_id;
    const int64_t *known; /* the catalog's version the caller read the app at, or NULL */
    char *json;           /* NULL when unchanged */
    int64_t version;      /* the catalog's, if versioned */
    bool versioned, unchanged;
};

/* The app's text, or that it is unchanged: the catalog's version is still *known. */
static int load_app_txn(struct store_txn *t, void *arg)
{
    struct load_app *a = arg;
    int rc = store_catalog_version(t, &a->version);
    if (rc != STORE_OK && rc != STORE_NOT_FOUND)
        return rc;
    a->versioned = rc == STORE_OK;
    if (a->versioned && a->known && *a->known == a->version) {
        a->unchanged = true;
        return STORE_OK;
    }
    return store_app_get(t, a->client_id, &a->json);
}

int auth_app_read(struct store *s, const char *client_id, char **json)
{
    struct load_app load = {.client_id = client_id};
    int rc = store_read(s, load_app_txn, &load);
    *json = rc == STORE_OK ? load.json : NULL;
    if (rc != STORE_OK)
        free(load.json);
    return rc;
}

struct use_jti {
    const char *client_id, *jti;
    int64_t exp;
};

static int use_jti_txn(struct store_txn *t, void *arg)
{
    struct use_jti *u = arg;
    return store_jti_use(t, u->client_id, u->jti, u->exp);
}

/* Tokens this thread verified last, each with the stored app document it was verified
 * against. The same token bytes checked against the same app text verify the same way (the
 * signature depends only on them and on the server key), so a hit skips decoding the token,
 * parsing the app and both HMACs: ~70 % of the cost of authenticating a request. A hit still
 * reads the catalog's version (store_catalog_version), and the app when the version changed (a
 * revocation or a rotated secret changes its text: the cache misses), checks the alg and the
 * time claims against the clock, and the jti against replays. Tokens are compared in constant
 * time, so timing tells nothing about a cached token's bytes. */
#define VERIFIED_CACHE 8
struct verified_cache {
    struct verified {
        char *token; /* NUL-terminated; t.token points here */
        size_t token_len;
        char *app_json;
        unsigned char key[sizeof ((struct auth_keyring *)0)->key]; /* the server key used */
        struct jwt t;
        struct auth_app app;
        int64_t version; /* the catalog's, when app_json was read (or found unchanged) */
        bool versioned;  /* the version is known */
    } slot[VERIFIED_CACHE];
    unsigned next;
};

static pthread_key_t verified_key;
static pthread_once_t verified_once = PTHREAD_ONCE_INIT;

static void verified_clear(struct verified *v)
{
    free(v->token);
    free(v->app_json);
    jwt_cleanup(&v->t);
    auth_app_cleanup(&v->app);
    memset(v, 0, sizeof *v);
}

/* Runs when a thread that authenticated requests ends. */
static void verified_free(void *p)
{
    struct verified_cache *c = p;
    for (int i = 0; i < VERIFIED_CACHE; i++)
        verified_clear(&c->slot[i]);
    free(c);
}

static void verified_init(void)
{
    pthread_key_create(&verified_key, verified_free);
}

static struct verified_cache *verified_cache(void)
{
    pthread_once(&verified_once, verified_init);
    struct verified_cache *c = pthread_getspecific(verified_key);
    if (!c) {
        c = xcalloc(1, sizeof *c);
        pthread_setspecific(verified_key, c);
    }
    return c;
}

static struct verified *verified_find(struct verified_cache *c, const char *token, size_t len)
{
    for (int i = 0; i < VERIFIED_CACHE; i++) {
        struct verified *v = &c->slot[i];
        if (v->token && v->token_len == len && CRYPTO_memcmp(v->token, token, len) == 0)
            return v;
    }
    return NULL;
}

/* Keeps a verified token: in v (the token's entry, when the app text changed) or a new slot.
 * Takes *parsed (zeroed) and app_json; shares app's document. Returns the entry. */
static struct verified *verified_put(struct verified_cache *c, struct verified *v,
                                     const char *token, size_t len, struct jwt *parsed,
                                     char *app_json, const struct auth_app *app,
                                     const struct auth_keyring *keys)
{
    if (!v) {
        v = &c->slot[c->next++ % VERIFIED_CACHE];
        verified_clear(v);
        v->token = xmalloc(len + 1);
        memcpy(v->token, token, len + 1);
        v->token_len = len;
        v->t = *parsed;
        v->t.token = v->token;
        *parsed = (struct jwt){0};
    }
    free(v->app_json);
    auth_app_cleanup(&v->app);
    v->app_json = app_json;
    v->app = *app;
    json_incref(v->app.doc);
    memcpy(v->key, keys->key, sizeof v->key);
    return v;
}

enum auth_result auth_authenticate(struct store *s, const struct auth_keyring *keys,
                                   const struct auth_policy *policy, const char *token,
                                   bool may_wait, struct auth_identity *out, const char **why)
{
    memset(out, 0, sizeof *out);
    size_t len = strlen(token);
    struct verified_cache *cache = verified_cache();
    struct verified *v = verified_find(cache, token, len);
    struct jwt parsed = {0};
    if (!v && jwt_parse(token, len, &parsed, why) != 0)
        return AUTH_DENIED;
    const struct jwt *t = v ? &v->t : &parsed;
    enum auth_result result = AUTH_DENIED;
    const char *app_id = jwt_app_id(t);
    if (!app_id) {
        *why = "error verifying the jwt: appId is required";
        goto out;
    }
    struct load_app load = {.client_id = app_id, .known = v && v->versioned ? &v->version : NULL};
    int rc = store_read_keep(s, load_app_txn, &load); /* the handler's reads follow */
    if (rc == STORE_NOT_FOUND) {
        *why = "error verifying the jwt: unknown app";
        goto out;
    }
    if (rc != STORE_OK) {
        free(load.json);
        result = AUTH_UNAVAILABLE;
        goto out;
    }
    struct jwt_policy p = {.now = time_now_ms() / 1000,
                           .leeway = policy->leeway,
                           .max_age = policy->max_age};
    /* unchanged: the app is still the text v was verified against */
    if (v && (load.unchanged || strcmp(load.json, v->app_json) == 0) &&
        CRYPTO_memcmp(v->key, keys->key, sizeof v->key) == 0) {
        /* verified before against this very app text: the signature holds */
        free(load.json);
        v->versioned = load.versioned;
        v->version = load.version;
        out->app = v->app;
        json_incref(out->app.doc);
        p.alg = out->app.alg;
        p.enforce_jti = out->app.enforce_jti;
        if (jwt_verify_claims(t, &p, why) != 0)
            goto out;
    } else {
        char *app_json = v && load.unchanged ? xstrdup(v->app_json) : load.json;
        rc = auth_app_parse(app_json, &out->app);
        if (rc != 0 || out->app.revoked) {
            free(app_json);
            *why = "error verifying the jwt: the app is revoked or invalid";
            goto out;
        }
        char secret[AUTH_SECRET_LEN + 1];
        if (auth_app_secret(keys, out->app.doc, secret) != 0) {
            free(app_json);
            *why = "error verifying the jwt: the app has no usable secret";
            goto out;
        }
        p.alg = out->app.alg;
        p.enforce_jti = out->app.enforce_jti;
        rc = jwt_verify(t, (const unsigned char *)secret, AUTH_SECRET_LEN, &p, why);
        OPENSSL_cleanse(secret, sizeof secret);
        if (rc != 0) {
            free(app_json);
            goto out;
        }
        /* the entry takes app_json, and the parsed token (t moves with it) */
        v = verified_put(cache, v, token, len, &parsed, app_json, &out->app, keys);
        v->versioned = load.versioned;
        v->version = load.version;
        t = &v->t;
    }
    const char *jti = jwt_jti(t);
    if (out->app.enforce_jti && jti && !may_wait) {
        result = AUTH_MUST_WAIT;
        goto out;
    }
    if (out->app.enforce_jti && jti) {
        json_t *exp = json_object_get(t->payload, "exp");
        struct use_jti u = {.client_id = out->app.client_id,
                            .jti = jti,
                            .exp = json_is_number(exp) ? (int64_t)json_number_value(exp)
                                                       : p.now + policy->max_age};
        rc = store_write(s, use_jti_txn, &u);
        if (rc == STORE_CONFLICT) {
            *why = JWT_MSG_REPLAY;
            goto out;
        }
        if (rc != STORE_OK) {
            result = AUTH_UNAVAILABLE;
            goto out;
        }
    }
    const char *sub = jwt_sub(t);
    out->sub = sub ? xstrdup(sub) : NULL;
    const char *uname = json_string_value(json_object_get(t->payload, "name"));
    out->user_name = uname ? xstrdup(uname) : NULL;
    result = AUTH_OK;
out:
    jwt_cleanup(&parsed);
    if (result != AUTH_OK)
        auth_identity_cleanup(out);
    return result;
}
