/* guard — authentication, authorisation and body decoding shared by every endpoint. */
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/internal.h"
#include "doc/config.h"
#include "ops/metrics.h"
#include "util/mem.h"
#include "util/scalar.h"
#include "util/time.h"

struct api_config api_cfg;

void api_init(const struct api_config *cfg)
{
    api_cfg = *cfg;
}

void api_reply_store_error(struct http_reply *rep)
{
    metrics_db_error();
    http_reply_error(rep, ERR_UNAVAILABLE, NULL, "the database is unavailable; retry later");
}

void api_handler_done(void)
{
    store_read_end(api_cfg.store);
}

uint64_t api_settle_ticket(void)
{
    return store_settle_ticket(api_cfg.store);
}

void api_settle_reply(struct http_reply *rep, uint64_t ticket)
{
    if (store_settle_wait(api_cfg.store, ticket) == STORE_OK)
        return;
    rep->etag[0] = '\0';
    api_reply_store_error(rep);
}

void api_reply_doc(struct http_reply *rep, char *text, size_t len, long long version)
{
    http_reply_json_text(rep, 200, text, len);
    snprintf(rep->etag, sizeof rep->etag, "%lld", version);
}

int api_auth_or_reply(struct http_request *req, struct http_reply *rep, bool account_required,
                      struct auth_identity *id)
{
    const char *stream = req->params[0];
    snprintf(req->stream_id, sizeof req->stream_id, "%s", stream ? stream : "");
    const char *token = http_header(req, "auth");
    if (!token || !*token) {
        http_reply_error(rep, ERR_UNAUTHORIZED, NULL, "the auth header with a JWT is required");
        return -1;
    }
    if (http_header_count(req, "auth") > 1) { /* a proxy and casemgr could disagree on which */
        http_reply_error(rep, ERR_UNAUTHORIZED, NULL, "send one auth header, not several");
        return -1;
    }
    const char *why = "authentication failed";
    enum auth_result r = auth_authenticate(api_cfg.store, &api_cfg.keys, &api_cfg.policy, token,
                                           http_can_wait(req), id, &why);
    if (r == AUTH_MUST_WAIT) {
        http_run_on_worker(req); /* the handler runs again there, from the start */
        return -1;
    }
    if (r == AUTH_UNAVAILABLE) {
        api_reply_store_error(rep);
        return -1;
    }
    if (r != AUTH_OK) {
        http_reply_error(rep, ERR_UNAUTHORIZED, NULL, "%s", why);
        return -1;
    }
    snprintf(req->client_id, sizeof req->client_id, "%s", id->app.client_id);
    /* API.md §2: scope, then stream, then account */
    const char *account = http_header(req, "accountId");
    if (!auth_app_has_scope(&id->app, AUTH_SCOPE)) {
        http_reply_error(rep, ERR_MISSING_SCOPE, NULL, NULL);
    } else if (!stream || !auth_app_has_stream(&id->app, stream)) {
        http_reply_error(rep, ERR_STREAM_NOT_ALLOWED, NULL, NULL);
    } else if (account && http_header_count(req, "accountId") > 1) {
        /* like auth: a proxy that checked one and casemgr could disagree on the tenant */
        http_reply_error(rep, ERR_BAD_REQUEST, "accountId",
                         "send one accountId header, not several");
    } else if (account && strcmp(account, id->app.account_id) != 0) {
        http_reply_error(rep, ERR_ACCOUNT_MISMATCH, NULL, NULL);
    } else if (!account && account_required) {
        http_reply_error(rep, ERR_MISSING_HEADER, "accountId", "the accountId header is required");
    } else {
        if (http_can_defer(req))
            auth_identity_detach(id); /* a later answer may release it on another thread */
        return 0;
    }
    auth_identity_cleanup(id);
    return -1;
}

json_t *api_body_or_reply(struct http_request *req, struct http_reply *rep, bool empty_ok)
{
    const char *text = req->body;
    size_t len = req->body_len;
    doc_skip_bom(&text, &len); /* a body of a byte order mark alone is empty too */
    if (len == 0 && empty_ok)
        return json_object();
    struct err e;
    json_t *body = doc_parse_body(req->body, req->body_len, &api_cfg.limits, &e);
    if (!body)
        http_reply_err(rep, &e);
    return body;
}

void api_doc_ctx(const struct auth_identity *id, const char *stream_id, struct doc_ctx *ctx)
{
    memset(ctx, 0, sizeof *ctx);
    ctx->stream_id = stream_id;
    ctx->account_id = id->app.account_id;
    ctx->org_id = id->app.org_id;
    ctx->now_ms = time_now_ms();
    ctx->limits = &api_cfg.limits;
    if (id->sub) {
        ctx->actor.id = id->sub;
        ctx->actor.name = id->user_name ? id->user_name : "";
    } else {
        ctx->actor.id = id->app.client_id;
        ctx->actor.name = id->app.name;
    }
    ctx->actor.prof_image = "";
}

/* Parsed configurations this thread saw last, keyed by stream. One is used again while the
 * catalog's version (store_catalog_version) is the one it was read at, without reading it;
 * otherwise its stored text is read and compared: the text is cheap to read, parsing it on every
 * write is not, and an administrator's change (another process) is seen at once because the
 * version, or the text, differs. */
#define CONFIG_CACHE 8
struct config_cache {
    struct {
        char *stream_id;
        char *text;
        json_t *cfg;
        int64_t version; /* the catalog's, when the text was read */
        bool versioned;  /* the version is known */
    } slot[CONFIG_CACHE];
    unsigned next;
};

static pthread_key_t config_cache_key;
static pthread_once_t config_cache_once = PTHREAD_ONCE_INIT;

/* Runs when a thread that used the cache ends (the store's writer thread, at store_close). */
static void config_cache_free(void *p)
{
    struct config_cache *c = p;
    for (int i = 0; i < CONFIG_CACHE; i++) {
        free(c->slot[i].stream_id);
        free(c->slot[i].text);
        json_decref(c->slot[i].cfg);
    }
    free(c);
}

static void config_cache_init(void)
{
    pthread_key_create(&config_cache_key, config_cache_free);
}

static struct config_cache *config_cache(void)
{
    pthread_once(&config_cache_once, config_cache_init);
    struct config_cache *c = pthread_getspecific(config_cache_key);
    if (!c) {
        c = xcalloc(1, sizeof *c);
        pthread_setspecific(config_cache_key, c);
    }
    return c;
}

/* The parsed configuration of stream_id whose stored text is text (taken), kept at the catalog's
 * version *version (NULL: not known). */
static json_t *config_cached(const char *stream_id, char *text, const int64_t *version)
{
    struct config_cache *c = config_cache();
    for (int i = 0; i < CONFIG_CACHE; i++) {
        if (c->slot[i].stream_id && strcmp(c->slot[i].stream_id, stream_id) == 0 &&
            strcmp(c->slot[i].text, text) == 0) {
            free(text);
            if (version) {
                c->slot[i].versioned = true;
                c->slot[i].version = *version;
            }
            return json_incref(c->slot[i].cfg);
        }
    }
    json_t *cfg = json_loads(text, 0, NULL);
    if (!cfg) {
        free(text);
        return NULL;
    }
    unsigned i = c->next++ % CONFIG_CACHE;
    free(c->slot[i].stream_id);
    free(c->slot[i].text);
    json_decref(c->slot[i].cfg);
    c->slot[i].stream_id = xstrdup(stream_id);
    c->slot[i].text = text; /* taken */
    c->slot[i].cfg = json_incref(cfg);
    c->slot[i].versioned = version != NULL;
    c->slot[i].version = version ? *version : 0;
    return cfg;
}

/* The configuration of stream_id read at the catalog's version, or NULL. */
static json_t *config_at(const char *stream_id, int64_t version)
{
    struct config_cache *c = config_cache();
    for (int i = 0; i < CONFIG_CACHE; i++) {
        if (c->slot[i].versioned && c->slot[i].version == version &&
            strcmp(c->slot[i].stream_id, stream_id) == 0)
            return json_incref(c->slot[i].cfg);
    }
    return NULL;
}

/* The stored configuration of stream_id: the one parsed before, while the catalog's version is
 * the one it was read at, or read (STORE_NOT_FOUND: none is stored). */
static int config_read(struct store_txn *t, const char *stream_id, json_t **cfg)
{
    int64_t version;
    int rc = store_catalog_version(t, &version);
    if (rc != STORE_OK && rc != STORE_NOT_FOUND)
        return rc;
    bool versioned = rc == STORE_OK;
    if (versioned && (*cfg = config_at(stream_id, version)) != NULL)
        return STORE_OK;
    char *text = NULL;
    rc = store_stream_get(t, stream_id, &text);
    if (rc != STORE_OK)
        return rc;
    *cfg = config_cached(stream_id, text, versioned ? &version : NULL);
    return *cfg ? STORE_OK : STORE_ERROR;
}

/* config_read, or the default configuration when none is stored (stored too, with seed). */
static int config_get(struct store_txn *t, const char *stream_id, bool seed, json_t **cfg)
{
    int rc = config_read(t, stream_id, cfg);
    if (rc != STORE_NOT_FOUND)
        return rc;
    *cfg = config_default();
    if (!seed)
        return STORE_OK;
    char *dump = json_dumps(*cfg, JSON_COMPACT);
    rc = store_stream_put(t, stream_id, dump);
    free(dump);
    return rc;
}

int api_load_config(struct store_txn *t, const char *stream_id, json_t **cfg)
{
    return config_get(t, stream_id, true, cfg);
}

int api_read_config(struct store_txn *t, const char *stream_id, json_t **cfg)
{
    return config_get(t, stream_id, false, cfg);
}

int api_read_stored_config(struct store_txn *t, const char *stream_id, json_t **cfg)
{
    return config_read(t, stream_id, cfg);
}

bool api_is_whole(const json_t *v)
{
    json_int_t n;
    double x = json_is_real(v) ? json_real_value(v) : 0.5;
    return scalar_whole(v, &n) || (isfinite(x) && floor(x) == x);
}

int api_page_read(const json_t *body, int64_t *skip, int64_t *limit, struct err *e)
{
    const json_t *s = json_object_get(body, "skip"), *l = json_object_get(body, "limit");
    *skip = 0;
    *limit = API_LIMIT_DEFAULT;
    json_int_t n;
    if (s && !json_is_null(s)) {
        if (!api_is_whole(s))
            return err_set(e, ERR_INVALID_TYPE, "skip", "skip must be an integer");
        if (!scalar_whole(s, &n) || n < 0 || n > API_SKIP_MAX)
            return err_set(e, ERR_INVALID_VALUE, "skip", "skip must be 0 to %lld", API_SKIP_MAX);
        *skip = n;
    }
    if (l && !json_is_null(l)) {
        if (!api_is_whole(l))
            return err_set(e, ERR_INVALID_TYPE, "limit", "limit must be an integer");
        if (!scalar_whole(l, &n) || n < 1 || n > API_LIMIT_MAX)
            return err_set(e, ERR_INVALID_VALUE, "limit", "limit must be 1 to %d", API_LIMIT_MAX);
        *limit = n;
    }
    return 0;
}

int api_page_or_reply(const json_t *body, struct http_reply *rep, int64_t *skip, int64_t *limit)
{
    struct err e;
    const char *k;
    const json_t *v;
    json_object_foreach((json_t *)body, k, v)
    {
        if (strcmp(k, "skip") != 0 && strcmp(k, "limit") != 0) {
            http_reply_error(rep, ERR_UNKNOWN_MEMBER, k, "unknown member %s", k);
            return -1;
        }
    }
    if (api_page_read(body, skip, limit, &e) == 0)
        return 0;
    http_reply_err(rep, &e);
    return -1;
}

json_t *api_page_json(json_t *results, int64_t skip, int64_t limit, int64_t total)
{
    int64_t pages = (total + limit - 1) / limit;
    return json_pack("{s:o, s:I, s:I, s:b, s:I, s:I}", "results", results, "page",
                     (json_int_t)(skip / limit) + 1, "limit", (json_int_t)limit, "hasMore",
                     skip + (int64_t)json_array_size(results) < total, "totalPages",
                     (json_int_t)pages, "totalResults", (json_int_t)total);
}
