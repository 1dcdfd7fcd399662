#include "admin/cli.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <jansson.h>
#include <openssl/crypto.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "auth/apps.h"
#include "doc/config.h"
#include "store/store.h"
#include "util/id.h"
#include "util/mem.h"
#include "util/time.h"

#define DEFAULT_DB "sqlite:./data/casemgr.db"
#define MAX_LIST 64
#define ACCOUNT_MAX 256      /* bytes of an account id or a scope */
#define TTL_MAX 315360000L   /* ten years, the longest --ttl */
#define CONFIG_RETRIES 20    /* a configuration change refused as concurrent, tried again */

const char *cli_db_url(const char *given)
{
    if (given)
        return given;
    const char *env = getenv("CASEMGR_DB");
    return env && *env ? env : DEFAULT_DB;
}

/* The file of a SQLite database URL (sqlite:PATH, sqlite:///PATH or a bare path, as store_open
 * reads them), or NULL for PostgreSQL. */
static const char *sqlite_file(const char *db_url)
{
    if (strncmp(db_url, "postgres", 8) == 0)
        return NULL;
    const char *path = strncmp(db_url, "sqlite:", 7) == 0 ? db_url + 7 : db_url;
    return strncmp(path, "//", 2) == 0 ? path + 2 : path;
}

char *cli_key_path(const char *given, const char *db_url)
{
    if (given)
        return xstrdup(given);
    const char *env = getenv("CASEMGR_KEY_FILE");
    if (env && *env)
        return xstrdup(env);
    const char *path = sqlite_file(db_url);
    if (!path)
        return xstrdup("./data/casemgr.key");
    size_t n = strlen(path) + sizeof ".key";
    char *out = xmalloc(n);
    snprintf(out, n, "%s.key", path);
    return out;
}

/* The options of every subcommand, collected by one parser; which one takes which is in
 * option_table. */
enum opt_id { O_DB = 256, O_KEY, O_ACCOUNT, O_STREAM, O_SCOPE, O_ORG, O_NAME, O_ALG, O_JTI,
              O_CID, O_CSECRET, O_SUB, O_TTL, O_KIND, O_ID, O_FIELD, O_CATEGORY, O_INACTIVE,
              O_SCORE, O_COLOR, O_OFFLINE, O_HELP, O_END };
#define OPT_COUNT (O_END - O_DB)

static const struct option longopts[] = {
    {"db", required_argument, NULL, O_DB},
    {"key-file", required_argument, NULL, O_KEY},
    {"account", required_argument, NULL, O_ACCOUNT},
    {"stream", required_argument, NULL, O_STREAM},
    {"scope", required_argument, NULL, O_SCOPE},
    {"org", required_argument, NULL, O_ORG},
    {"name", required_argument, NULL, O_NAME},
    {"alg", required_argument, NULL, O_ALG},
    {"enforce-jti", no_argument, NULL, O_JTI},
    {"offline", no_argument, NULL, O_OFFLINE},
    {"client-id", required_argument, NULL, O_CID},
    {"client-secret", required_argument, NULL, O_CSECRET},
    {"sub", required_argument, NULL, O_SUB},
    {"ttl", required_argument, NULL, O_TTL},
    {"kind", required_argument, NULL, O_KIND},
    {"id", required_argument, NULL, O_ID},
    {"field", required_argument, NULL, O_FIELD},
    {"category", required_argument, NULL, O_CATEGORY},
    {"inactive", no_argument, NULL, O_INACTIVE},
    {"score", required_argument, NULL, O_SCORE},
    {"color", required_argument, NULL, O_COLOR},
    {"help", no_argument, NULL, O_HELP},
    {NULL, 0, NULL, 0},
};

static const char *opt_name(int id)
{
    for (const struct option *o = longopts; o->name; o++)
        if (o->val == id)
            return o->name;
    return "?";
}

struct opts {
    unsigned count[OPT_COUNT]; /* how often each option was given */
    const char *db, *key_file, *account, *org, *name, *alg, *client_id, *client_secret, *sub,
        *kind, *id, *category, *color, *stream;
    const char *streams[MAX_LIST], *scopes[MAX_LIST], *fields[MAX_LIST];
    size_t nstreams, nscopes, nfields;
    long ttl, score;
    bool enforce_jti, inactive, offline, help;
    char **args; /* positional */
    int nargs;
};

/* The usage text on out; rc back. */
static int usage(FILE *out, int rc)
{
    fputs("usage:\n"
          "  casemgr app create --account ID --stream st-... [--stream ...] [--scope S]...\n"
          "                     [--org o-...] [--name NAME] [--alg HS256|HS384|HS512] [--enforce-jti]\n"
          "  casemgr app list | app revoke CLIENT_ID\n"
          "  casemgr token --client-id ID --client-secret SECRET [--sub USER] [--ttl SECONDS]\n"
          "                [--alg HS256|HS384|HS512] [--offline]\n"
          "                --ttl: 0 (no exp) to 315360000, default 3600\n"
          "                signs with the app's algorithm once the database knows the app and\n"
          "                secret; --offline: no database, --alg or HS256, nothing checked\n"
          "  casemgr stream show --stream st-...\n"
          "  casemgr template add --stream st-... --kind case|task [--id ID] --name NAME\n"
          "                       [--field name:type[:required]]...\n"
          "  casemgr status add --stream st-... --name NAME --category "
          "open|inProgress|resolved|closed [--inactive]\n"
          "  casemgr priority add --stream st-... --name NAME --score 1..15 [--color #RRGGBB] "
          "[--inactive]\n"
          "every subcommand takes --db URL (or CASEMGR_DB) and --key-file PATH (or "
          "CASEMGR_KEY_FILE)\n",
          out);
    return rc;
}

/* Options into o; -2 after saying what is wrong with one on stderr, -1 when getopt did (an
 * unknown option, a missing value: the usage follows). */
static int list_full(const char *what)
{
    fprintf(stderr, "casemgr: at most %d %s options\n", MAX_LIST, what);
    return -2;
}

static int parse(int argc, char **argv, struct opts *o)
{
    memset(o, 0, sizeof *o);
    o->ttl = 3600;
    o->score = -1;
    optind = 1;
    int c;
    /* NOLINTNEXTLINE(concurrency-mt-unsafe): the CLI parses options before any thread starts */
    while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        char *end = NULL;
        if (c >= O_DB && c < O_END)
            o->count[c - O_DB]++;
        switch (c) {
        case O_DB: o->db = optarg; break;
        case O_KEY: o->key_file = optarg; break;
        case O_ACCOUNT: o->account = optarg; break;
        case O_STREAM:
            if (o->nstreams == MAX_LIST)
                return list_full("--stream");
            o->streams[o->nstreams++] = optarg;
            o->stream = optarg;
            break;
        case O_SCOPE:
            if (o->nscopes == MAX_LIST)
                return list_full("--scope");
            o->scopes[o->nscopes++] = optarg;
            break;
        case O_ORG: o->org = optarg; break;
        case O_NAME: o->name = optarg; break;
        case O_ALG: o->alg = optarg; break;
        case O_OFFLINE: o->offline = true; break;
        case O_JTI: o->enforce_jti = true; break;
        case O_CID: o->client_id = optarg; break;
        case O_CSECRET: o->client_secret = optarg; break;
        case O_SUB: o->sub = optarg; break;
        case O_TTL:
            errno = 0;
            o->ttl = strtol(optarg, &end, 10);
            /* past TTL_MAX, iat + ttl would not be a time (or overflow) */
            if (*end || end == optarg || errno || o->ttl < 0 || o->ttl > TTL_MAX) {
                fprintf(stderr, "casemgr: --ttl %s: must be whole seconds from 0 (no expiry) to %ld\n",
                        optarg, TTL_MAX);
                return -2;
            }
            break;
        case O_KIND: o->kind = optarg; break;
        case O_ID: o->id = optarg; break;
        case O_FIELD:
            if (o->nfields == MAX_LIST)
                return list_full("--field");
            o->fields[o->nfields++] = optarg;
            break;
        case O_CATEGORY: o->category = optarg; break;
        case O_INACTIVE: o->inactive = true; break;
        case O_SCORE:
            errno = 0;
            o->score = strtol(optarg, &end, 10);
            if (*end || end == optarg || errno || o->score < 0 || o->score > INT_MAX) {
                /* past INT_MAX the cast wrapped: 4294967301 was score 5 */
                fprintf(stderr, "casemgr: --score %s: must be a whole number (1 to 15)\n", optarg);
                return -2;
            }
            break;
        case O_COLOR: o->color = optarg; break;
        case 'h':
        case O_HELP: o->help = true; break;
        default: return -1;
        }
    }
    o->args = argv + optind;
    o->nargs = argc - optind;
    return 0;
}

static void print_json(const json_t *v)
{
    char *s = json_dumps(v, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    if (s) {
        puts(s);
        free(s);
    }
}

static struct store *open_store_as(const struct opts *o, bool keep_schema)
{
    struct store_options so = {.durability = STORE_DURABILITY_FULL, .keep_schema = keep_schema};
    char *err = NULL;
    struct store *s = store_open(cli_db_url(o->db), &so, &err);
    if (!s) {
        fprintf(stderr, "casemgr: cannot open the database: %s\n", err ? err : "?");
        free(err);
    }
    return s;
}

static struct store *open_store(const struct opts *o)
{
    return open_store_as(o, false);
}

/* The store of a command that only reads, or changes what must be there already: a mistyped
 * SQLite path is an error, not a new empty database (app list printed [] and left one), and an
 * older schema is not upgraded under the older server that may be using it (an app list
 * migrated it, and that server's next writes missed what the migrations index). */
static struct store *existing_store(const struct opts *o)
{
    const char *file = sqlite_file(cli_db_url(o->db));
    if (file && access(file, F_OK) != 0) {
        fprintf(stderr, "casemgr: no database at %s\n", file);
        return NULL;
    }
    return open_store_as(o, true);
}

/* The key file. With s (a command that registers apps) one is made when there is none and s
 * holds no app yet (auth_keyring_open); without s it must exist. */
static int load_keys(const struct opts *o, struct store *s, struct auth_keyring *keys)
{
    char *path = cli_key_path(o->key_file, cli_db_url(o->db));
    char *err = NULL;
    int rc = s ? auth_keyring_open(path, s, keys, &err) : auth_keyring_load(path, false, keys, &err);
    if (rc != 0)
        fprintf(stderr, "casemgr: key file %s: %s\n", path, err ? err : "?");
    free(err);
    free(path);
    return rc;
}

/* ---- app ---- */

struct app_txn {
    json_t *doc;
    const char *const *streams;
    size_t nstreams;
};

static int seed_stream(struct store_txn *t, const char *stream_id)
{
    char *existing = NULL;
    int rc = store_stream_get(t, stream_id, &existing);
    free(existing);
    if (rc != STORE_NOT_FOUND)
        return rc;
    json_t *cfg = config_default();
    char *text = json_dumps(cfg, JSON_COMPACT);
    rc = store_stream_put(t, stream_id, text);
    free(text);
    json_decref(cfg);
    return rc;
}

static int app_create_txn(struct store_txn *t, void *arg)
{
    struct app_txn *a = arg;
    char *text = json_dumps(a->doc, JSON_COMPACT);
    int rc = store_app_put(t, json_string_value(json_object_get(a->doc, "clientId")),
                           json_string_value(json_object_get(a->doc, "accountId")), text);
    free(text);
    /* API.md §4: a stream first associated with an app gets the default configuration */
    for (size_t i = 0; rc == STORE_OK && i < a->nstreams; i++)
        rc = seed_stream(t, a->streams[i]);
    return rc;
}

/* An account id: 1-ACCOUNT_MAX bytes of visible ASCII, which a header carries as it is (HTTP
 * trims spaces around a value and has no place for control bytes). */
static bool header_value_ok(const char *v)
{
    size_t n = strlen(v);
    if (n == 0 || n > ACCOUNT_MAX)
        return false;
    for (size_t i = 0; i < n; i++) {
        if (v[i] < 0x21 || v[i] > 0x7e)
            return false;
    }
    return true;
}

/* Drops repeated strings from v[0..n), keeping the first of each; the new count. */
static size_t unique(const char **v, size_t n)
{
    size_t kept = 0;
    for (size_t i = 0; i < n; i++) {
        size_t j = 0;
        while (j < kept && strcmp(v[j], v[i]) != 0)
            j++;
        if (j == kept)
            v[kept++] = v[i];
    }
    return kept;
}

static int app_create(struct opts *o)
{
    if (!o->account || !*o->account || o->nstreams == 0) {
        fputs("casemgr: app create needs --account and at least one --stream\n", stderr);
        return 2;
    }
    if (!header_value_ok(o->account)) {
        /* a client sends it as the accountId header, which cannot carry such a value */
        fprintf(stderr, "casemgr: --account must be 1-%d visible ASCII characters (it is sent as "
                        "the accountId header)\n", ACCOUNT_MAX);
        return 2;
    }
    for (size_t i = 0; i < o->nstreams; i++) {
        if (!id_valid_segment(o->streams[i], strlen(o->streams[i]))) {
            fprintf(stderr, "casemgr: invalid stream id %s\n", o->streams[i]);
            return 2;
        }
    }
    for (size_t i = 0; i < o->nscopes; i++) {
        /* compared with the scope an endpoint needs, never sent: any UTF-8 text but none (one
         * not UTF-8 was dropped, and the app stored with no scope at all) */
        json_t *utf8 = json_string(o->scopes[i]);
        json_decref(utf8);
        if (!*o->scopes[i] || strlen(o->scopes[i]) > ACCOUNT_MAX || !utf8) {
            fprintf(stderr, "casemgr: a --scope must be 1-%d bytes of UTF-8\n", ACCOUNT_MAX);
            return 2;
        }
    }
    o->nstreams = unique(o->streams, o->nstreams);
    o->nscopes = unique(o->scopes, o->nscopes);
    enum jwt_alg alg = JWT_HS256;
    if (o->alg && jwt_alg_parse(o->alg, &alg) != 0) {
        fputs("casemgr: --alg must be HS256, HS384 or HS512\n", stderr);
        return 2;
    }
    json_t *streams = json_array(), *scopes = json_array();
    for (size_t i = 0; i < o->nstreams; i++)
        json_array_append_new(streams, json_string(o->streams[i]));
    for (size_t i = 0; i < o->nscopes; i++)
        json_array_append_new(scopes, json_string(o->scopes[i]));
    if (o->nscopes == 0)
        json_array_append_new(scopes, json_string(AUTH_SCOPE));
    int status = 1;
    struct auth_keyring keys;
    struct store *s = NULL;
    json_t *doc = NULL;
    if (!(s = open_store(o)) || load_keys(o, s, &keys) != 0)
        goto out;
    char secret[AUTH_SECRET_LEN + 1];
    doc = auth_app_new(&keys, o->account, o->org, o->name, streams, scopes, alg, o->enforce_jti,
                       secret);
    if (!doc) {
        fputs("casemgr: cannot create the app (invalid strings?)\n", stderr);
        goto out;
    }
    struct app_txn a = {.doc = doc, .streams = o->streams, .nstreams = o->nstreams};
    if (store_write(s, app_create_txn, &a) != STORE_OK) {
        fputs("casemgr: cannot store the app\n", stderr);
        goto out;
    }
    json_t *shown = json_pack("{s:O, s:s, s:O, s:O, s:O, s:O, s:O, s:O, s:O}", "clientId",
                              json_object_get(doc, "clientId"), "clientSecret", secret,
                              "accountId", json_object_get(doc, "accountId"), "streams", streams,
                              "scopes", scopes, "orgId", json_object_get(doc, "orgId"), "name",
                              json_object_get(doc, "name"), "alg", json_object_get(doc, "alg"),
                              "enforceJti", json_object_get(doc, "enforceJti"));
    print_json(shown);
    json_decref(shown);
    status = 0;
out:
    json_decref(doc);
    json_decref(streams);
    json_decref(scopes);
    store_close(s);
    return status;
}

static void collect_app(const char *json, void *arg)
{
    json_t *doc = json_loads(json, 0, NULL);
    if (!doc)
        return;
    json_object_del(doc, "salt");
    json_array_append_new(arg, doc);
}

static int app_list_txn(struct store_txn *t, void *arg)
{
    return store_app_each(t, collect_app, arg);
}

struct revoke {
    const char *client_id;
};

static int app_revoke_txn(struct store_txn *t, void *arg)
{
    struct revoke *r = arg;
    char *text = NULL;
    int rc = store_app_get(t, r->client_id, &text);
    if (rc != STORE_OK)
        return rc;
    json_t *doc = json_loads(text, 0, NULL);
    free(text);
    if (!doc)
        return STORE_ERROR;
    json_object_set_new(doc, "revoked", json_true());
    text = json_dumps(doc, JSON_COMPACT);
    rc = store_app_put(t, r->client_id, json_string_value(json_object_get(doc, "accountId")),
                       text);
    free(text);
    json_decref(doc);
    return rc;
}

static int app_cmd(struct opts *o)
{
    const char *verb = o->nargs > 0 ? o->args[0] : "";
    if (strcmp(verb, "create") == 0 && o->nargs == 1)
        return app_create(o);
    if (strcmp(verb, "list") == 0 && o->nargs == 1) {
        struct store *s = existing_store(o);
        if (!s)
            return 1;
        json_t *apps = json_array();
        int rc = store_read(s, app_list_txn, apps);
        if (rc == STORE_OK)
            print_json(apps);
        json_decref(apps);
        store_close(s);
        return rc == STORE_OK ? 0 : 1;
    }
    if (strcmp(verb, "revoke") == 0 && o->nargs == 2) {
        struct store *s = existing_store(o);
        if (!s)
            return 1;
        struct revoke r = {.client_id = o->args[1]};
        int rc = store_write(s, app_revoke_txn, &r);
        store_close(s);
        if (rc == STORE_NOT_FOUND)
            fprintf(stderr, "casemgr: no app %s\n", o->args[1]);
        else if (rc == STORE_OK)
            printf("{\"clientId\":\"%s\",\"revoked\":true}\n", o->args[1]);
        return rc == STORE_OK ? 0 : 1;
    }
    return usage(stderr, 2);
}

/* ---- token ---- */

/* The algorithm the app pins, after checking in the database (API.md §9: every subcommand works
 * on the server's database) that the app exists, is not revoked and that the secret is its own:
 * a token signed HS256 for an app set up with --alg HS512, or with a mistyped secret, was printed
 * and then refused by the server with a bare 401. 0, or 1 with the reason on stderr. */
static int token_alg(const struct opts *o, enum jwt_alg *alg)
{
    /* it only reads: a mistyped path must not leave a new database behind (nor a key file:
     * load_keys without a store) */
    const char *file = sqlite_file(cli_db_url(o->db));
    if (file && access(file, F_OK) != 0) {
        fprintf(stderr, "casemgr: no database at %s (--offline signs without one)\n", file);
        return 1;
    }
    struct store *s = open_store_as(o, true);
    if (!s)
        return 1;
    char *text = NULL;
    int rc = auth_app_read(s, o->client_id, &text);
    store_close(s);
    if (rc == STORE_NOT_FOUND) {
        fprintf(stderr, "casemgr: no app %s in the database\n", o->client_id);
        return 1;
    }
    struct auth_app app;
    if (rc != STORE_OK || auth_app_parse(text, &app) != 0) {
        fprintf(stderr, "casemgr: cannot read app %s from the database\n", o->client_id);
        free(text);
        return 1;
    }
    free(text);
    struct auth_keyring keys;
    char secret[AUTH_SECRET_LEN + 1];
    int bad = 0;
    if (load_keys(o, NULL, &keys) != 0 || auth_app_secret(&keys, app.doc, secret) != 0) {
        fprintf(stderr, "casemgr: cannot derive the secret of app %s\n", o->client_id);
        bad = 1;
    } else if (strlen(o->client_secret) != strlen(secret) ||
               CRYPTO_memcmp(o->client_secret, secret, strlen(secret)) != 0) {
        fprintf(stderr, "casemgr: that is not the client secret of app %s\n", o->client_id);
        bad = 1;
    } else if (app.revoked) {
        fprintf(stderr, "casemgr: app %s is revoked\n", o->client_id);
        bad = 1;
    } else if (app.enforce_jti && (o->ttl <= 0 || o->ttl > JWT_JTI_MAX_LIFETIME)) {
        /* the server would refuse every such token */
        fprintf(stderr, "casemgr: app %s enforces jti: its tokens need --ttl 1 to %d\n",
                o->client_id, JWT_JTI_MAX_LIFETIME);
        bad = 1;
    } else if (o->alg && jwt_alg_parse(o->alg, alg) == 0 && *alg != app.alg) {
        fprintf(stderr, "casemgr: app %s signs with %s, not %s\n", o->client_id,
                jwt_alg_name(app.alg), o->alg);
        bad = 1;
    }
    *alg = app.alg;
    OPENSSL_cleanse(secret, sizeof secret);
    auth_app_cleanup(&app);
    return bad;
}

static int token_cmd(struct opts *o)
{
    if (!o->client_id || !o->client_secret) {
        fputs("casemgr: token needs --client-id and --client-secret (app create printed them)\n",
              stderr);
        return 2;
    }
    if (o->sub && !*o->sub) {
        /* the server refuses a token whose sub is empty */
        fputs("casemgr: --sub must not be empty (leave it out to act as the app)\n", stderr);
        return 2;
    }
    enum jwt_alg alg = JWT_HS256;
    if (o->alg && jwt_alg_parse(o->alg, &alg) != 0) {
        fprintf(stderr, "casemgr: --alg %s: is HS256, HS384 or HS512\n", o->alg);
        return 2;
    }
    if (!o->offline && token_alg(o, &alg) != 0)
        return 1;
    int64_t now = time_now_ms() / 1000;
    char jti[ID_MAX];
    id_new("jti-", jti);
    json_t *payload = json_pack("{s:s, s:I, s:s}", "appId", o->client_id, "iat", (json_int_t)now,
                                "jti", jti);
    json_t *sub = o->sub ? json_string(o->sub) : NULL;
    if (!payload || (o->sub && !sub)) {
        /* a claim that is not UTF-8 was left out: a token acting as the app, not the user */
        fputs("casemgr: --client-id and --sub must be UTF-8\n", stderr);
        json_decref(payload);
        json_decref(sub);
        return 2;
    }
    if (o->ttl > 0)
        json_object_set_new(payload, "exp", json_integer(now + o->ttl));
    if (sub)
        json_object_set_new(payload, "sub", sub);
    char *token = jwt_sign(alg, (const unsigned char *)o->client_secret,
                           strlen(o->client_secret), payload);
    json_decref(payload);
    if (!token) {
        fputs("casemgr: cannot sign the token\n", stderr);
        return 1;
    }
    puts(token);
    free(token);
    return 0;
}

/* ---- stream configuration ---- */

struct config_edit {
    struct opts *o;
    const char *what; /* "show", "template", "status", "priority" */
    json_t *result;
    struct err e;
    bool failed;
};

static int config_edit_txn(struct store_txn *t, void *arg)
{
    struct config_edit *ed = arg;
    struct opts *o = ed->o;
    char *text = NULL;
    int rc = store_stream_get(t, o->stream, &text);
    if (rc == STORE_NOT_FOUND && strcmp(ed->what, "show") == 0) {
        /* defaults made up here would show ids that no stream has */
        err_set(&ed->e, ERR_NOT_FOUND, "stream",
                "stream %s has no configuration yet: it gets one when an app is first associated "
                "with it, or by template, status or priority add",
                o->stream);
        ed->failed = true;
        return STORE_ABORT;
    }
    json_t *cfg = rc == STORE_OK ? json_loads(text, 0, NULL)
                  : rc == STORE_NOT_FOUND ? config_default()
                                          : NULL;
    free(text);
    if (!cfg)
        return STORE_ERROR;
    const json_t *made = NULL;
    if (strcmp(ed->what, "show") == 0) {
        ed->result = cfg;
        return STORE_ABORT;
    } else if (strcmp(ed->what, "template") == 0) {
        enum doc_kind kind = strcmp(o->kind, "case") == 0 ? DOC_CASE : DOC_TASK;
        made = config_add_template(cfg, kind, o->id, o->name, o->fields, o->nfields, &ed->e);
    } else if (strcmp(ed->what, "status") == 0) {
        made = config_add_status(cfg, o->name, o->category, !o->inactive, &ed->e);
    } else {
        made = config_add_priority(cfg, o->name, (int)o->score, o->color, !o->inactive, &ed->e);
    }
    if (!made) {
        ed->failed = true;
        json_decref(cfg);
        return STORE_ABORT;
    }
    ed->result = json_incref((json_t *)made);
    text = json_dumps(cfg, JSON_COMPACT);
    rc = store_stream_put(t, o->stream, text);
    free(text);
    json_decref(cfg);
    return rc;
}

static int config_cmd(struct opts *o, const char *what)
{
    const char *verb = o->nargs > 0 ? o->args[0] : "";
    bool show = strcmp(what, "show") == 0;
    if ((show && strcmp(verb, "show") != 0) || (!show && strcmp(verb, "add") != 0) ||
        o->nargs != 1)
        return usage(stderr, 2);
    if (!o->stream) {
        fprintf(stderr, "casemgr: %s %s needs --stream st-...\n", show ? "stream" : what, verb);
        return 2;
    }
    if (!id_valid_segment(o->stream, strlen(o->stream))) {
        /* a stream the API could never route to (API.md §3), as app create refuses it */
        fprintf(stderr, "casemgr: invalid stream id %s\n", o->stream);
        return 2;
    }
    const char *missing = NULL;
    if (!show && !o->name)
        missing = "--name";
    else if (strcmp(what, "template") == 0 && !o->kind)
        missing = "--kind case|task";
    else if (strcmp(what, "status") == 0 && !o->category)
        missing = "--category open|inProgress|resolved|closed";
    else if (strcmp(what, "priority") == 0 && o->score < 0)
        missing = "--score 1..15";
    if (missing) {
        fprintf(stderr, "casemgr: %s add needs %s\n", what, missing);
        return 2;
    }
    if (strcmp(what, "template") == 0 && strcmp(o->kind, "case") != 0 &&
        strcmp(o->kind, "task") != 0) {
        fprintf(stderr, "casemgr: --kind %s: is case or task\n", o->kind);
        return 2;
    }
    struct store *s = show ? existing_store(o) : open_store(o);
    if (!s)
        return 1;
    struct config_edit ed = {.o = o, .what = what};
    int rc = store_write(s, config_edit_txn, &ed);
    /* PostgreSQL: another process changed the configuration since this one read it (nothing was
     * overwritten); read it again and make the change on top */
    for (int tries = 0; rc == STORE_CONFLICT && !ed.failed && tries < CONFIG_RETRIES; tries++) {
        json_decref(ed.result);
        ed = (struct config_edit){.o = o, .what = what};
        rc = store_write(s, config_edit_txn, &ed);
    }
    store_close(s);
    if (ed.failed) {
        fprintf(stderr, "casemgr: %s\n", ed.e.msg);
        json_decref(ed.result);
        return 1;
    }
    if ((rc == STORE_OK || rc == STORE_ABORT) && ed.result) {
        print_json(ed.result);
        json_decref(ed.result);
        return 0;
    }
    json_decref(ed.result);
    fputs(rc == STORE_CONFLICT ? "casemgr: the configuration kept changing under this change; "
                                 "nothing was changed: try again\n"
                               : "casemgr: the database failed\n",
          stderr);
    return 1;
}

static const char *const commands[] = {"app", "token", "stream", "template", "status", "priority"};

int cli_is_command(const char *name)
{
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (strcmp(commands[i], name) == 0)
            return 1;
    return 0;
}

/* The options each subcommand takes (--db, --key-file and --help: all of them), and those it
 * takes more than once. An option a subcommand does not use was accepted and ignored:
 * `status add --stream a --stream b` changed b alone, and --score on status add went unseen. */
static const struct {
    const char *cmd, *verb;
    int takes[10];
    int many[3];
} option_table[] = {
    {"app", "create", {O_ACCOUNT, O_STREAM, O_SCOPE, O_ORG, O_NAME, O_ALG, O_JTI}, {O_STREAM, O_SCOPE}},
    {"app", "list", {0}, {0}},
    {"app", "revoke", {0}, {0}},
    {"token", NULL, {O_CID, O_CSECRET, O_SUB, O_TTL, O_ALG, O_OFFLINE}, {0}},
    {"stream", "show", {O_STREAM}, {0}},
    {"template", "add", {O_STREAM, O_KIND, O_ID, O_NAME, O_FIELD}, {O_FIELD}},
    {"status", "add", {O_STREAM, O_NAME, O_CATEGORY, O_INACTIVE}, {0}},
    {"priority", "add", {O_STREAM, O_NAME, O_SCORE, O_COLOR, O_INACTIVE}, {0}},
};

static bool in_list(const int *list, size_t n, int id)
{
    for (size_t i = 0; i < n && list[i]; i++)
        if (list[i] == id)
            return true;
    return false;
}

/* 0, or 2 after naming an option cmd does not take, or takes once and was given more often.
 * A verb the table does not know passes: the subcommand's own usage answers it. */
static int check_options(const struct opts *o, const char *cmd)
{
    const char *verb = o->nargs > 0 ? o->args[0] : "";
    for (size_t t = 0; t < sizeof option_table / sizeof option_table[0]; t++) {
        if (strcmp(option_table[t].cmd, cmd) != 0 ||
            (option_table[t].verb && strcmp(option_table[t].verb, verb) != 0))
            continue;
        const char *what = option_table[t].verb ? verb : "";
        for (int id = O_DB; id < O_END; id++) {
            unsigned n = o->count[id - O_DB];
            if (n == 0 || id == O_HELP)
                continue;
            bool common = id == O_DB || id == O_KEY;
            size_t nt = sizeof option_table[t].takes / sizeof option_table[t].takes[0];
            size_t nm = sizeof option_table[t].many / sizeof option_table[t].many[0];
            if (!common && !in_list(option_table[t].takes, nt, id)) {
                fprintf(stderr, "casemgr: %s%s%s takes no --%s\n", cmd, *what ? " " : "", what,
                        opt_name(id));
                return 2;
            }
            if (n > 1 && !in_list(option_table[t].many, nm, id)) {
                fprintf(stderr, "casemgr: %s%s%s takes one --%s, not %u\n", cmd,
                        *what ? " " : "", what, opt_name(id), n);
                return 2;
            }
        }
        return 0;
    }
    return 0;
}

int cli_main(int argc, char **argv)
{
    struct opts o;
    int parsed = parse(argc, argv, &o);
    if (parsed != 0)
        return parsed == -2 ? 2 : usage(stderr, 2);
    if (o.help)
        return usage(stdout, 0); /* asked for: on stdout, and no error */
    const char *cmd = argv[0];
    if (check_options(&o, cmd) != 0)
        return 2;
    if (strcmp(cmd, "app") == 0)
        return app_cmd(&o);
    if (strcmp(cmd, "token") == 0)
        return token_cmd(&o);
    if (strcmp(cmd, "stream") == 0)
        return config_cmd(&o, "show");
    return config_cmd(&o, cmd);
}
