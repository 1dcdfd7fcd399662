/* Unit tests for auth/apps (API.md §2): the server key file, app documents and their derived
 * secrets, scope and stream checks, and auth_authenticate against a temporary SQLite store
 * with tokens from jwt_sign. Each test has its own temporary directory. */
#include <criterion/criterion.h>

#include <dirent.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "auth/apps.h"
#include "store/store.h"
#include "util/time.h"

#define ACCOUNT "acc-1"
#define STREAM "st-6a1c2f3e-1b2c-4d5e-8f90-123456789abc"

static char dir[64];

static void rm_dir(void)
{
    DIR *d = opendir(dir);
    if (d) {
        struct dirent *ent;
        while ((ent = readdir(d)) != NULL) {
            if (strcmp(ent->d_name, ".") == 0 || strcmp(ent->d_name, "..") == 0)
                continue;
            char path[512];
            snprintf(path, sizeof path, "%s/%s", dir, ent->d_name);
            unlink(path);
        }
        closedir(d);
    }
    rmdir(dir);
}

static void setup(void)
{
    snprintf(dir, sizeof dir, "/tmp/casemgr-apps-XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
}

static void teardown(void)
{
    rm_dir();
}

TestSuite(auth_apps, .init = setup, .fini = teardown, .timeout = 30);

static void path_in(char *out, size_t size, const char *name)
{
    snprintf(out, size, "%s/%s", dir, name);
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f);
    fputs(text, f);
    fclose(f);
}

static void key_of(struct auth_keyring *k, unsigned char fill)
{
    memset(k->key, fill, sizeof k->key);
}

/* ---------------------------------------------------------------- key file */

Test(auth_apps, keyring_created_0600_and_read_back)
{
    char path[128];
    path_in(path, sizeof path, "server.key");
    struct auth_keyring a, b;
    char *err = NULL;
    cr_assert_eq(auth_keyring_load(path, true, &a, &err), 0, "%s", err ? err : "");
    struct stat sb;
    cr_assert_eq(stat(path, &sb), 0);
    cr_expect_eq(sb.st_mode & 0777, 0600, "mode %o", (unsigned)(sb.st_mode & 0777));

    char text[128] = {0};
    FILE *f = fopen(path, "r");
    cr_assert_not_null(f);
    size_t n = fread(text, 1, sizeof text - 1, f);
    fclose(f);
    cr_expect(n == 64 || (n == 65 && text[64] == '\n'), "file holds %zu bytes", n);
    char hex[65];
    for (size_t i = 0; i < 32; i++)
        snprintf(hex + 2 * i, 3, "%02x", a.key[i]);
    cr_expect_eq(strncmp(text, hex, 64), 0, "the file is not the key in hex: %.64s", text);

    cr_assert_eq(auth_keyring_load(path, true, &b, &err), 0, "%s", err ? err : "");
    cr_expect_eq(memcmp(a.key, b.key, sizeof a.key), 0, "a second load created a new key");
    cr_assert_eq(auth_keyring_load(path, false, &b, &err), 0, "%s", err ? err : "");
    cr_expect_eq(memcmp(a.key, b.key, sizeof a.key), 0);
    static const unsigned char zero[32];
    cr_expect_neq(memcmp(a.key, zero, sizeof zero), 0, "the key is not random");
}

Test(auth_apps, keyring_reads_a_given_file)
{
    char path[128];
    path_in(path, sizeof path, "given.key");
    write_file(path, "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\n");
    struct auth_keyring k;
    char *err = NULL;
    cr_assert_eq(auth_keyring_load(path, true, &k, &err), 0, "%s", err ? err : "");
    for (unsigned i = 0; i < 32; i++)
        cr_expect_eq(k.key[i], i);
}

Test(auth_apps, keyring_missing_without_create_fails)
{
    char path[128];
    path_in(path, sizeof path, "absent.key");
    struct auth_keyring k;
    char *err = NULL;
    cr_expect_eq(auth_keyring_load(path, false, &k, &err), -1);
    cr_expect_not_null(err);
    free(err);
    cr_expect_neq(access(path, F_OK), 0, "create=false created the file");
}

Test(auth_apps, keyring_refuses_malformed_files)
{
    const char *bad[] = {"",
                         "not a key\n",
                         "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1\n",
                         "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f00\n",
                         "g00102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\n"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char path[128];
        snprintf(path, sizeof path, "%s/bad%zu.key", dir, i);
        write_file(path, bad[i]);
        struct auth_keyring k;
        char *err = NULL;
        cr_expect_eq(auth_keyring_load(path, true, &k, &err), -1, "file %zu accepted", i);
        cr_expect_not_null(err);
        free(err);
    }
}

/* ---------------------------------------------------------------- app documents */

static json_t *new_app(const struct auth_keyring *k, bool enforce_jti, char secret[44])
{
    json_t *streams = json_pack("[s]", STREAM);
    json_t *scopes = json_pack("[s]", AUTH_SCOPE);
    json_t *doc = auth_app_new(k, ACCOUNT, "o-1", "Helpdesk", streams, scopes, JWT_HS256,
                               enforce_jti, secret);
    json_decref(streams);
    json_decref(scopes);
    cr_assert_not_null(doc);
    return doc;
}

static bool all_strings_differ(const json_t *v, const char *secret)
{
    if (json_is_string(v))
        return strstr(json_string_value(v), secret) == NULL;
    const char *k;
    const json_t *x;
    size_t i;
    if (json_is_object(v))
        json_object_foreach((json_t *)v, k, x) if (!all_strings_differ(x, secret)) return false;
    if (json_is_array(v))
        json_array_foreach(v, i, x) if (!all_strings_differ(x, secret)) return false;
    return true;
}

Test(auth_apps, new_app_document_and_secret)
{
    struct auth_keyring k;
    key_of(&k, 7);
    char secret[AUTH_SECRET_LEN + 1];
    json_t *doc = new_app(&k, false, secret);
    cr_expect_eq(strlen(secret), 43);
    for (size_t i = 0; i < 43; i++) {
        char c = secret[i];
        cr_expect((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                      c == '-' || c == '_',
                  "secret char %c is not base64url", c);
    }
    const char *cid = json_string_value(json_object_get(doc, "clientId"));
    cr_assert_not_null(cid);
    cr_expect_eq(strncmp(cid, "cs-", 3), 0);
    cr_expect_eq(strlen(cid), 3 + 36, "cs- + a full UUID: %s", cid);
    cr_expect(cid[11] == '-' && cid[16] == '-' && cid[17] == '4' && cid[21] == '-' &&
                  cid[26] == '-',
              "%s", cid);
    cr_expect_str_eq(json_string_value(json_object_get(doc, "accountId")), ACCOUNT);
    cr_expect_str_eq(json_string_value(json_object_get(doc, "orgId")), "o-1");
    cr_expect_str_eq(json_string_value(json_object_get(doc, "alg")), "HS256");
    cr_expect(json_is_false(json_object_get(doc, "revoked")));
    /* the database never holds the secret */
    cr_expect_null(json_object_get(doc, "clientSecret"));
    cr_expect_null(json_object_get(doc, "secret"));
    cr_expect(all_strings_differ(doc, secret), "the secret is stored in the document");

    char again[AUTH_SECRET_LEN + 1];
    cr_assert_eq(auth_app_secret(&k, doc, again), 0);
    cr_expect_str_eq(again, secret, "the secret is recomputed from key, clientId and salt");

    struct auth_keyring other;
    key_of(&other, 8);
    cr_assert_eq(auth_app_secret(&other, doc, again), 0);
    cr_expect_str_neq(again, secret, "another server key gives another secret");

    json_object_set_new(doc, "salt", json_string("00000000000000000000000000000000"));
    cr_assert_eq(auth_app_secret(&k, doc, again), 0);
    cr_expect_str_neq(again, secret, "the salt is part of the secret");
    json_object_del(doc, "salt");
    cr_expect_eq(auth_app_secret(&k, doc, again), -1);
    json_decref(doc);
}

Test(auth_apps, two_apps_differ)
{
    struct auth_keyring k;
    key_of(&k, 7);
    char s1[AUTH_SECRET_LEN + 1], s2[AUTH_SECRET_LEN + 1];
    json_t *a = new_app(&k, false, s1), *b = new_app(&k, false, s2);
    cr_expect_str_neq(json_string_value(json_object_get(a, "clientId")),
                      json_string_value(json_object_get(b, "clientId")));
    cr_expect_str_neq(s1, s2);
    json_decref(a);
    json_decref(b);
}

Test(auth_apps, parse_and_checks)
{
    struct auth_keyring k;
    key_of(&k, 7);
    char secret[AUTH_SECRET_LEN + 1];
    json_t *doc = new_app(&k, true, secret);
    char *text = json_dumps(doc, 0);
    struct auth_app app;
    cr_assert_eq(auth_app_parse(text, &app), 0);
    cr_expect_str_eq(app.client_id, json_string_value(json_object_get(doc, "clientId")));
    cr_expect_str_eq(app.account_id, ACCOUNT);
    cr_expect_str_eq(app.org_id, "o-1");
    cr_expect_str_eq(app.name, "Helpdesk");
    cr_expect_eq(app.alg, JWT_HS256);
    cr_expect(app.enforce_jti);
    cr_expect_not(app.revoked);
    cr_expect(auth_app_has_scope(&app, AUTH_SCOPE));
    cr_expect_not(auth_app_has_scope(&app, "caseManagementAdmin"));
    cr_expect(auth_app_has_stream(&app, STREAM));
    cr_expect_not(auth_app_has_stream(&app, "st-other"));
    cr_expect_not(auth_app_has_stream(&app, ""));
    auth_app_cleanup(&app);
    free(text);

    /* orgId and name are optional */
    cr_assert_eq(auth_app_parse("{\"clientId\":\"cs-1\",\"accountId\":\"a\",\"alg\":\"HS512\"}",
                                &app),
                 0);
    cr_expect_str_eq(app.org_id, "");
    cr_expect_str_eq(app.name, "");
    cr_expect_eq(app.alg, JWT_HS512);
    cr_expect_not(auth_app_has_scope(&app, AUTH_SCOPE), "no scopes member");
    auth_app_cleanup(&app);

    const char *bad[] = {"not json", "[]", "{\"accountId\":\"a\",\"alg\":\"HS256\"}",
                         "{\"clientId\":\"cs-1\",\"alg\":\"HS256\"}",
                         "{\"clientId\":\"cs-1\",\"accountId\":\"a\"}",
                         "{\"clientId\":\"cs-1\",\"accountId\":\"a\",\"alg\":\"none\"}"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        cr_expect_eq(auth_app_parse(bad[i], &app), -1, "%s", bad[i]);
        cr_expect_null(app.doc);
    }
    json_decref(doc);
}

Test(auth_apps, sha256_known_vectors)
{
    char out[65];
    auth_sha256_hex("abc", 3, out);
    cr_expect_str_eq(out, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    auth_sha256_hex("", 0, out);
    cr_expect_str_eq(out, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

/* ---------------------------------------------------------------- auth_authenticate */

static struct store *st;
static struct auth_keyring keys;
static const struct auth_policy policy = {.leeway = 60, .max_age = 3600};

static int put_app_txn(struct store_txn *t, void *arg)
{
    json_t *doc = arg;
    char *text = json_dumps(doc, JSON_COMPACT);
    int rc = store_app_put(t, json_string_value(json_object_get(doc, "clientId")),
                           json_string_value(json_object_get(doc, "accountId")), text);
    free(text);
    return rc;
}

static void open_store(void)
{
    char url[160], *err = NULL;
    snprintf(url, sizeof url, "sqlite:%s/auth.db", dir);
    const struct store_options opt = {.durability = STORE_DURABILITY_NORMAL,
                                      .busy_timeout_ms = 5000};
    st = store_open(url, &opt, &err);
    cr_assert_not_null(st, "store_open: %s", err ? err : "?");
    key_of(&keys, 42);
}

static json_t *stored_app(bool enforce_jti, char secret[AUTH_SECRET_LEN + 1])
{
    json_t *doc = new_app(&keys, enforce_jti, secret);
    cr_assert_eq(store_write(st, put_app_txn, doc), STORE_OK);
    return doc;
}

/* A token for app_id signed with secret; extra is merged into the payload. */
static char *token(const char *app_id, const char *secret, const char *extra_json)
{
    int64_t now = time_now_ms() / 1000;
    json_t *p = json_pack("{s:I, s:I}", "iat", (json_int_t)now, "exp", (json_int_t)(now + 600));
    if (app_id)
        json_object_set_new(p, "appId", json_string(app_id));
    if (extra_json) {
        json_t *x = json_loads(extra_json, 0, NULL);
        cr_assert_not_null(x);
        json_object_update(p, x);
        json_decref(x);
    }
    char *t = jwt_sign(JWT_HS256, (const unsigned char *)secret, strlen(secret), p);
    json_decref(p);
    cr_assert_not_null(t);
    return t;
}

static enum auth_result authenticate(const char *tok, struct auth_identity *id, const char **why)
{
    *why = NULL;
    return auth_authenticate(st, &keys, &policy, tok, true, id, why);
}

/* tok authenticates; what says why it should. */
static void expect_ok(const char *tok, const char *what)
{
    struct auth_identity id;
    const char *why;
    cr_assert_eq(authenticate(tok, &id, &why), AUTH_OK, "%s: %s", what, why ? why : "");
    auth_identity_cleanup(&id);
}

/* tok is refused because its app is revoked. */
static void expect_revoked(const char *tok, const char *what)
{
    struct auth_identity id;
    const char *why;
    cr_expect_eq(authenticate(tok, &id, &why), AUTH_DENIED, "%s", what);
    cr_expect(why && strstr(why, "revoked"), "%s: why: %s", what, why ? why : "(null)");
}

Test(auth_apps, authenticate_ok)
{
    open_store();
    char secret[AUTH_SECRET_LEN + 1];
    json_t *doc = stored_app(false, secret);
    const char *cid = json_string_value(json_object_get(doc, "clientId"));
    char *tok = token(cid, secret, "{\"sub\":\"u-agent-7\",\"name\":\"Agent Seven\"}");
    struct auth_identity id;
    const char *why;
    cr_assert_eq(authenticate(tok, &id, &why), AUTH_OK, "%s", why ? why : "");
    cr_expect_str_eq(id.app.client_id, cid);
    cr_expect_str_eq(id.app.account_id, ACCOUNT);
    cr_expect_str_eq(id.sub, "u-agent-7");
    cr_expect_str_eq(id.user_name, "Agent Seven");
    auth_identity_cleanup(&id);
    free(tok);

    /* without sub the identity is the app alone */
    tok = token(cid, secret, NULL);
    cr_assert_eq(authenticate(tok, &id, &why), AUTH_OK, "%s", why ? why : "");
    cr_expect_null(id.sub);
    cr_expect_null(id.user_name);
    auth_identity_cleanup(&id);
    free(tok);
    json_decref(doc);
    store_close(st);
}

/* A detached identity keeps its strings without the app's document, which this thread's cache of
 * verified tokens still holds (its reference count is the cache's only). */
static void *cleanup_elsewhere(void *arg)
{
    auth_identity_cleanup(arg);
    return NULL;
}

Test(auth_apps, a_detached_identity_needs_no_app_document)
{
    open_store();
    char secret[AUTH_SECRET_LEN + 1];
    json_t *doc = stored_app(false, secret);
    const char *cid = json_string_value(json_object_get(doc, "clientId"));
    char *tok = token(cid, secret, "{\"sub\":\"u-agent-7\"}");
    struct auth_identity id;
    const char *why;
    cr_assert_eq(authenticate(tok, &id, &why), AUTH_OK, "%s", why ? why : "");
    json_t *app_doc = id.app.doc;
    size_t refs = app_doc->refcount;
    cr_assert_gt(refs, 1, "the cache holds the document too");
    const char *name_in_doc = id.app.name;
    auth_identity_detach(&id);
    cr_expect_null(id.app.doc);
    cr_expect_eq(app_doc->refcount, refs - 1, "the identity's reference is released here");
    cr_expect_neq(id.app.name, name_in_doc, "the strings are copies");
    cr_expect_str_eq(id.app.client_id, cid);
    cr_expect_str_eq(id.app.account_id, ACCOUNT);
    cr_expect_str_eq(id.app.name, json_string_value(json_object_get(doc, "name")));
    cr_expect_str_eq(id.sub, "u-agent-7");
    auth_identity_detach(&id); /* again: no leak, the same strings (ASan) */
    cr_expect_str_eq(id.app.client_id, cid);
    pthread_t t;
    cr_assert_eq(pthread_create(&t, NULL, cleanup_elsewhere, &id), 0);
    pthread_join(t, NULL);
    cr_expect_eq(app_doc->refcount, refs - 1, "another thread's cleanup leaves it alone");
    /* the same token again: served from the cache, whose document is still whole */
    cr_assert_eq(authenticate(tok, &id, &why), AUTH_OK, "%s", why ? why : "");
    cr_expect_eq(id.app.doc, app_doc);
    auth_identity_cleanup(&id);
    free(tok);
    json_decref(doc);
    store_close(st);
}

Test(auth_apps, authenticate_refusals)
{
    open_store();
    char secret[AUTH_SECRET_LEN + 1];
    json_t *doc = stored_app(false, secret);
    const char *cid = json_string_value(json_object_get(doc, "clientId"));
    struct auth_identity id;
    const char *why;

    char *tok = token("cs-00000000-0000-4000-8000-000000000000", secret, NULL);
    cr_expect_eq(authenticate(tok, &id, &why), AUTH_DENIED, "unknown app");
    cr_expect(why && strstr(why, "unknown app"), "why: %s", why ? why : "(null)");
    cr_expect_null(id.app.doc, "a refused identity holds nothing");
    free(tok);

    tok = token(cid, "a-different-secret-of-forty-three-characters", NULL);
    cr_expect_eq(authenticate(tok, &id, &why), AUTH_DENIED, "wrong secret");
    cr_expect_not_null(why);
    cr_expect_null(id.app.doc);
    free(tok);

    tok = token(NULL, secret, "{\"sub\":\"u-1\"}");
    cr_expect_eq(authenticate(tok, &id, &why), AUTH_DENIED, "no appId");
    cr_expect(why && strstr(why, "appId"), "why: %s", why ? why : "(null)");
    free(tok);

    cr_expect_eq(authenticate("not.a.jwt", &id, &why), AUTH_DENIED);
    cr_expect_eq(authenticate("", &id, &why), AUTH_DENIED);

    /* expired long ago */
    tok = token(cid, secret, "{\"iat\":1000,\"exp\":2000}");
    cr_expect_eq(authenticate(tok, &id, &why), AUTH_DENIED, "expired");
    free(tok);
    json_decref(doc);
    store_close(st);
}

Test(auth_apps, authenticate_revoked_app)
{
    open_store();
    char secret[AUTH_SECRET_LEN + 1];
    json_t *doc = stored_app(false, secret);
    const char *cid = json_string_value(json_object_get(doc, "clientId"));
    char *tok = token(cid, secret, NULL);
    expect_ok(tok, "verified");

    json_object_set_new(doc, "revoked", json_true());
    cr_assert_eq(store_write(st, put_app_txn, doc), STORE_OK);
    expect_revoked(tok, "a revoked app's token");
    free(tok);
    json_decref(doc);
    store_close(st);
}

Test(auth_apps, authenticate_other_server_key)
{
    open_store();
    char secret[AUTH_SECRET_LEN + 1];
    json_t *doc = stored_app(false, secret);
    const char *cid = json_string_value(json_object_get(doc, "clientId"));
    char *tok = token(cid, secret, NULL);
    key_of(&keys, 43); /* the database moved to a server with another key file */
    struct auth_identity id;
    const char *why;
    cr_expect_eq(authenticate(tok, &id, &why), AUTH_DENIED);
    free(tok);
    json_decref(doc);
    store_close(st);
}

Test(auth_apps, authenticate_jti_replay)
{
    open_store();
    char secret[AUTH_SECRET_LEN + 1];
    json_t *doc = stored_app(true, secret);
    const char *cid = json_string_value(json_object_get(doc, "clientId"));
    struct auth_identity id;
    const char *why;

    char *tok = token(cid, secret, "{\"jti\":\"j-1\"}");
    cr_assert_eq(authenticate(tok, &id, &why), AUTH_OK, "%s", why ? why : "");
    auth_identity_cleanup(&id);
    cr_expect_eq(authenticate(tok, &id, &why), AUTH_DENIED, "a replayed jti");
    cr_expect_str_eq(why, JWT_MSG_REPLAY);
    free(tok);

    tok = token(cid, secret, "{\"jti\":\"j-2\"}");
    cr_expect_eq(authenticate(tok, &id, &why), AUTH_OK, "a fresh jti: %s", why ? why : "");
    auth_identity_cleanup(&id);
    free(tok);

    tok = token(cid, secret, NULL);
    cr_expect_eq(authenticate(tok, &id, &why), AUTH_DENIED, "enforce_jti without jti");
    free(tok);

    int64_t now = time_now_ms() / 1000;
    char extra[128];
    snprintf(extra, sizeof extra, "{\"jti\":\"j-3\",\"iat\":%lld,\"exp\":%lld}", (long long)now,
             (long long)(now + 3601));
    tok = token(cid, secret, extra);
    cr_expect_eq(authenticate(tok, &id, &why), AUTH_DENIED);
    cr_expect_str_eq(why, JWT_MSG_JTI_LIFETIME);
    free(tok);
    json_decref(doc);
    store_close(st);
}

/* A caller that must not wait (an HTTP I/O thread) is told to ask again where it may, before
 * the jti is recorded: asking again then uses it once, as if the first call had not been. */
Test(auth_apps, a_jti_to_record_is_left_to_a_caller_that_may_wait)
{
    open_store();
    char secret[AUTH_SECRET_LEN + 1];
    json_t *doc = stored_app(true, secret);
    const char *cid = json_string_value(json_object_get(doc, "clientId"));
    struct auth_identity id;
    const char *why = NULL;
    char *tok = token(cid, secret, "{\"jti\":\"j-w\"}");
    for (int i = 0; i < 2; i++) /* the second time from the cache of verified tokens */
        cr_expect_eq(auth_authenticate(st, &keys, &policy, tok, false, &id, &why), AUTH_MUST_WAIT,
                     "try %d", i);
    cr_expect_eq(authenticate(tok, &id, &why), AUTH_OK, "the jti was not used: %s",
                 why ? why : "");
    auth_identity_cleanup(&id);
    cr_expect_eq(auth_authenticate(st, &keys, &policy, tok, false, &id, &why), AUTH_MUST_WAIT,
                 "a replay is found where it may wait");
    cr_expect_eq(authenticate(tok, &id, &why), AUTH_DENIED, "a replayed jti");
    free(tok);

    tok = token(cid, secret, NULL); /* refused without waiting: nothing to record */
    cr_expect_eq(auth_authenticate(st, &keys, &policy, tok, false, &id, &why), AUTH_DENIED);
    free(tok);
    json_decref(doc);

    doc = stored_app(false, secret); /* an app that does not enforce jti never needs to wait */
    cid = json_string_value(json_object_get(doc, "clientId"));
    tok = token(cid, secret, "{\"jti\":\"j-w\"}");
    cr_expect_eq(auth_authenticate(st, &keys, &policy, tok, false, &id, &why), AUTH_OK, "%s",
                 why ? why : "");
    auth_identity_cleanup(&id);
    free(tok);
    json_decref(doc);
    store_close(st);
}

Test(auth_apps, jti_is_not_recorded_without_enforcement)
{
    open_store();
    char secret[AUTH_SECRET_LEN + 1];
    json_t *doc = stored_app(false, secret);
    const char *cid = json_string_value(json_object_get(doc, "clientId"));
    char *tok = token(cid, secret, "{\"jti\":\"j-1\"}");
    struct auth_identity id;
    const char *why;
    for (int i = 0; i < 2; i++) {
        cr_expect_eq(authenticate(tok, &id, &why), AUTH_OK, "try %d: %s", i, why ? why : "");
        auth_identity_cleanup(&id);
    }
    free(tok);
    json_decref(doc);
    store_close(st);
}

/* The cache of verified tokens (apps.c): a hit must decide exactly as a full check would. */

Test(auth_apps, cached_token_is_checked_again_against_the_server_key)
{
    open_store();
    char secret[AUTH_SECRET_LEN + 1];
    json_t *doc = stored_app(false, secret);
    const char *cid = json_string_value(json_object_get(doc, "clientId"));
    char *tok = token(cid, secret, NULL);
    struct auth_identity id;
    const char *why;
    for (int i = 0; i < 2; i++) { /* the second is a hit */
        cr_assert_eq(authenticate(tok, &id, &why), AUTH_OK, "try %d: %s", i, why ? why : "");
        cr_expect_str_eq(id.app.client_id, cid);
        auth_identity_cleanup(&id);
    }
    key_of(&keys, 43);
    cr_expect_eq(authenticate(tok, &id, &why), AUTH_DENIED, "another server key");
    free(tok);
    json_decref(doc);
    store_close(st);
}

Test(auth_apps, cached_token_sees_a_rotated_secret)
{
    open_store();
    char secret[AUTH_SECRET_LEN + 1];
    json_t *doc = stored_app(false, secret);
    const char *cid = json_string_value(json_object_get(doc, "clientId"));
    char *tok = token(cid, secret, NULL);
    struct auth_identity id;
    const char *why;
    cr_assert_eq(authenticate(tok, &id, &why), AUTH_OK, "%s", why ? why : "");
    auth_identity_cleanup(&id);
    /* a new salt is a new secret: the token signed with the old one no longer verifies */
    json_object_set_new(doc, "salt", json_string("00112233445566778899aabbccddeeff"));
    cr_assert_eq(store_write(st, put_app_txn, doc), STORE_OK);
    cr_expect_eq(authenticate(tok, &id, &why), AUTH_DENIED, "the old secret's token");
    cr_expect(why && strstr(why, "signature"), "why: %s", why ? why : "(null)");
    free(tok);
    json_decref(doc);
    store_close(st);
}

/* SQL on the test's database, by a connection of its own (another process, as it were), after
 * the snapshot the last authentication kept is ended, as the request's handler would. */
static void sql_on_db(const char *sql)
{
    store_read_end(st);
    char path[128];
    path_in(path, sizeof path, "auth.db");
    sqlite3 *db = NULL;
    cr_assert_eq(sqlite3_open(path, &db), SQLITE_OK);
    cr_assert_eq(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK, "%s", sqlite3_errmsg(db));
    sqlite3_close(db);
}

/* A cached token's app is read again when the catalog's version changed, and only then: an
 * app revoked behind the version's back (its trigger dropped) is still the app the token was
 * verified against, until the version moves. */
Test(auth_apps, a_cached_token_reads_its_app_again_only_when_the_catalog_changed)
{
    open_store();
    char secret[AUTH_SECRET_LEN + 1];
    json_t *doc = stored_app(false, secret);
    const char *cid = json_string_value(json_object_get(doc, "clientId"));
    char *tok = token(cid, secret, NULL);
    expect_ok(tok, "verified");
    sql_on_db("DROP TRIGGER apps_catalog_UPDATE;"
              "UPDATE apps SET doc = json_set(doc, '$.revoked', json('true'));");
    expect_ok(tok, "the version did not move");
    sql_on_db("UPDATE catalog_version SET v = v + 1;");
    expect_revoked(tok, "read again");
    free(tok);
    json_decref(doc);
    store_close(st);
}

/* An app revoked by another process (the admin command, its own connection) refuses the
 * token this process verified and cached, on the next request. */
Test(auth_apps, an_app_revoked_by_another_process_refuses_its_cached_token)
{
    open_store();
    char secret[AUTH_SECRET_LEN + 1];
    json_t *doc = stored_app(false, secret);
    const char *cid = json_string_value(json_object_get(doc, "clientId"));
    char *tok = token(cid, secret, NULL);
    expect_ok(tok, "verified");
    expect_ok(tok, "a hit");
    sql_on_db("UPDATE apps SET doc = json_set(doc, '$.revoked', json('true'));");
    expect_revoked(tok, "revoked elsewhere");
    free(tok);
    json_decref(doc);
    store_close(st);
}

Test(auth_apps, cached_token_expires)
{
    open_store();
    char secret[AUTH_SECRET_LEN + 1];
    json_t *doc = stored_app(false, secret);
    const char *cid = json_string_value(json_object_get(doc, "clientId"));
    int64_t now = time_now_ms() / 1000;
    char extra[96];
    snprintf(extra, sizeof extra, "{\"iat\":%lld,\"exp\":%lld}", (long long)now,
             (long long)(now + 1));
    char *tok = token(cid, secret, extra);
    const struct auth_policy strict = {.leeway = 0, .max_age = 3600};
    struct auth_identity id;
    const char *why = NULL;
    cr_assert_eq(auth_authenticate(st, &keys, &strict, tok, true, &id, &why), AUTH_OK, "%s",
                 why ? why : "");
    auth_identity_cleanup(&id);
    while (time_now_ms() / 1000 <= now + 1)
        usleep(50 * 1000);
    why = NULL;
    cr_expect_eq(auth_authenticate(st, &keys, &strict, tok, true, &id, &why), AUTH_DENIED,
                 "expired since it was verified");
    cr_expect(why && strstr(why, "expired"), "why: %s", why ? why : "(null)");
    free(tok);
    json_decref(doc);
    store_close(st);
}

Test(auth_apps, cached_token_with_another_signature_is_refused)
{
    open_store();
    char secret[AUTH_SECRET_LEN + 1];
    json_t *doc = stored_app(false, secret);
    const char *cid = json_string_value(json_object_get(doc, "clientId"));
    char *tok = token(cid, secret, "{\"sub\":\"u-1\"}");
    struct auth_identity id;
    const char *why;
    cr_assert_eq(authenticate(tok, &id, &why), AUTH_OK, "%s", why ? why : "");
    auth_identity_cleanup(&id);
    /* same header and claims, one signature character changed */
    size_t n = strlen(tok);
    tok[n - 2] = tok[n - 2] == 'A' ? 'B' : 'A';
    cr_expect_eq(authenticate(tok, &id, &why), AUTH_DENIED, "a forged signature");
    cr_expect_null(id.app.doc);
    free(tok);
    json_decref(doc);
    store_close(st);
}

Test(auth_apps, more_tokens_than_the_cache_holds)
{
    open_store();
    char secret[AUTH_SECRET_LEN + 1];
    json_t *doc = stored_app(false, secret);
    const char *cid = json_string_value(json_object_get(doc, "clientId"));
    char *toks[20];
    for (int i = 0; i < 20; i++) {
        char extra[64];
        snprintf(extra, sizeof extra, "{\"sub\":\"u-%d\"}", i);
        toks[i] = token(cid, secret, extra);
    }
    struct auth_identity id;
    const char *why;
    for (int round = 0; round < 3; round++) {
        for (int i = 0; i < 20; i++) {
            int k = round == 1 ? 19 - i : i;
            cr_assert_eq(authenticate(toks[k], &id, &why), AUTH_OK, "%s", why ? why : "");
            char want[16];
            snprintf(want, sizeof want, "u-%d", k);
            cr_expect_str_eq(id.sub, want);
            auth_identity_cleanup(&id);
        }
    }
    for (int i = 0; i < 20; i++)
        free(toks[i]);
    json_decref(doc);
    store_close(st);
}
