/* Unit tests for the api/ handlers (API.md §2, §6, §7), in-process (STYLE.md §13): an in-memory
 * request routed through api_routes() like the server does, a temporary SQLite database, a
 * server key, an app stored with its stream's default configuration, and tokens from jwt_sign. */
#include <criterion/criterion.h>

#include <dirent.h>
#include <semaphore.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "api/api.h"
#include "api/internal.h"
#include "auth/apps.h"
#include "auth/jwt.h"
#include "doc/config.h"
#include "http/http.h"
#include "http/router.h"
#include "ops/metrics.h"
#include "store/store.h"
#include "util/jarena.h"
#include "util/time.h"

#define ACCOUNT "acc-1"
#define STREAM "st-6a1c2f3e-1b2c-4d5e-8f90-123456789abc"
#define OTHER_STREAM "st-00000000-1111-4222-8333-444444444444"

static char dir[64];
static struct store *st;
static json_t *app_doc, *stream_cfg;
static char secret[AUTH_SECRET_LEN + 1];
static char auth_token[1024];
static char ctm[64], ttm[64];

/* Answers given after the handler returns (http_defer), as the server's workers allow. */
static sem_t answered;
static bool deferral_off; /* a test's: handlers must answer before they return */
static bool last_deferred; /* whether the last request's handler answered later */
static bool on_io;         /* a test's: handlers run as on an HTTP I/O thread (http_can_wait) */

/* ---------------------------------------------------------------- fixture */

static int put_app_txn(struct store_txn *t, void *arg)
{
    json_t *doc = arg;
    char *text = json_dumps(doc, JSON_COMPACT);
    int rc = store_app_put(t, json_string_value(json_object_get(doc, "clientId")),
                           json_string_value(json_object_get(doc, "accountId")), text);
    free(text);
    return rc;
}

static int put_stream_txn(struct store_txn *t, void *arg)
{
    char *text = json_dumps(arg, JSON_COMPACT);
    int rc = store_stream_put(t, STREAM, text);
    free(text);
    return rc;
}

/* A new stored app of ACCOUNT on streams (JSON text) with scopes; its secret to out. */
static json_t *add_app(const char *streams_json, const char *scopes_json,
                       char out[AUTH_SECRET_LEN + 1])
{
    json_t *streams = json_loads(streams_json, 0, NULL), *scopes = json_loads(scopes_json, 0, NULL);
    cr_assert(streams && scopes);
    json_t *doc = auth_app_new(&api_cfg.keys, ACCOUNT, "o-1", "Helpdesk", streams, scopes,
                               JWT_HS256, false, out);
    json_decref(streams);
    json_decref(scopes);
    cr_assert_not_null(doc);
    cr_assert_eq(store_write(st, put_app_txn, doc), STORE_OK);
    return doc;
}

static void sign_token(const json_t *app, const char *key, char out[1024])
{
    int64_t now = time_now_ms() / 1000;
    json_t *p = json_pack("{s:O, s:s, s:s, s:I, s:I}", "appId", json_object_get(app, "clientId"),
                          "sub", "u-agent-7", "name", "Agent Seven", "iat", (json_int_t)now,
                          "exp", (json_int_t)(now + 600));
    char *t = jwt_sign(JWT_HS256, (const unsigned char *)key, strlen(key), p);
    json_decref(p);
    cr_assert_not_null(t);
    cr_assert_lt(strlen(t), 1024);
    snprintf(out, 1024, "%s", t);
    free(t);
}

static void setup(void)
{
    /* the server's allocation functions (main.c): updates run their documents in an arena scope,
     * and a value that outlived it would be reported under the sanitizers */
    json_set_alloc_funcs(jarena_malloc, jarena_free);
    snprintf(dir, sizeof dir, "/tmp/casemgr-api-XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
    char url[160], *err = NULL;
    snprintf(url, sizeof url, "sqlite:%s/api.db", dir);
    const struct store_options opt = {.durability = STORE_DURABILITY_NORMAL,
                                      .busy_timeout_ms = 5000};
    st = store_open(url, &opt, &err);
    cr_assert_not_null(st, "store_open: %s", err ? err : "?");
    sem_init(&answered, 0, 0);
    deferral_off = false;
    struct api_config cfg = {.store = st,
                             .policy = {.leeway = 60, .max_age = 3600},
                             .limits = doc_default_limits};
    memset(cfg.keys.key, 0x5a, sizeof cfg.keys.key);
    api_init(&cfg);

    app_doc = add_app("[\"" STREAM "\"]", "[\"" AUTH_SCOPE "\"]", secret);
    stream_cfg = config_default();
    cr_assert_eq(store_write(st, put_stream_txn, stream_cfg), STORE_OK);
    snprintf(ctm, sizeof ctm, "%s",
             json_string_value(json_object_get(
                 json_array_get(json_object_get(stream_cfg, "caseTemplates"), 0), "_id")));
    snprintf(ttm, sizeof ttm, "%s",
             json_string_value(json_object_get(
                 json_array_get(json_object_get(stream_cfg, "taskTemplates"), 0), "_id")));
    sign_token(app_doc, secret, auth_token);
}

static void teardown(void)
{
    store_close(st);
    st = NULL;
    sem_destroy(&answered);
    json_decref(app_doc);
    json_decref(stream_cfg);
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

TestSuite(api_handlers, .init = setup, .fini = teardown, .timeout = 30);

/* ---------------------------------------------------------------- in-memory requests */

struct header {
    const char *name, *value;
};

/* Case-insensitive lookup in a table ended by a NULL name (API.md §1). */
static const char *header_lookup(void *ctx, const char *name)
{
    for (const struct header *h = ctx; h && h->name; h++)
        if (strcasecmp(h->name, name) == 0)
            return h->value;
    return NULL;
}

static void answer_later(struct http_request *req)
{
    (void)req;
    sem_post(&answered);
}

/* A request on its way: the handler ran, its answer may still be to come (post_end). */
struct pending {
    struct http_request req;
    char path[512], scratch[512];
};

/* Routes a POST of body to API_BASE + suffix and runs its handler. */
static void post_begin(struct pending *p, const char *suffix, const char *body,
                       const struct header *headers, struct http_reply *rep)
{
    snprintf(p->path, sizeof p->path, "%s%s", API_BASE, suffix);
    memset(&p->req, 0, sizeof p->req);
    memset(rep, 0, sizeof *rep);
    size_t n;
    const struct http_route *routes = api_routes(&n), *route = NULL;
    cr_assert_eq(http_route_match(routes, n, "POST", p->path, &p->req, p->scratch, &route),
                 HTTP_MATCH_OK, "no route for %s", p->path);
    p->req.method = "POST";
    p->req.path = p->path;
    p->req.body = body;
    p->req.body_len = body ? strlen(body) : 0;
    p->req.header_fn = header_lookup;
    p->req.header_ctx = (void *)headers;
    p->req.answer_fn = deferral_off ? NULL : answer_later;
    p->req.on_io = on_io;
    snprintf(p->req.request_id, sizeof p->req.request_id, "test");
    route->handler(&p->req, rep);
}

/* Waits for a deferred answer and builds it, as the server does; returns the status. */
static unsigned post_end(struct pending *p, struct http_reply *rep)
{
    last_deferred = p->req.deferred;
    if (p->req.deferred) {
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += 10;
        cr_assert_eq(sem_timedwait(&answered, &until), 0, "a deferred request is answered");
        http_finish(&p->req, rep);
    }
    cr_assert_neq(rep->status, 0, "the handler wrote no reply");
    return rep->status;
}

/* POSTs body to API_BASE + suffix through the route table; the reply is rep's (cleanup). */
static unsigned post(const char *suffix, const char *body, const struct header *headers,
                     struct http_reply *rep)
{
    struct pending p;
    post_begin(&p, suffix, body, headers, rep);
    return post_end(&p, rep);
}

static json_t *reply_json(const struct http_reply *rep)
{
    json_error_t je;
    json_t *v = json_loadb(rep->body, rep->body_len, 0, &je);
    cr_assert_not_null(v, "reply is not JSON (%s): %.*s", je.text, (int)rep->body_len, rep->body);
    return v;
}

static const char *str_of(const json_t *o, const char *key)
{
    return json_string_value(json_object_get(o, key));
}

static const char *reason_of(const json_t *err_doc)
{
    return str_of(json_array_get(json_object_get(err_doc, "errors"), 0), "reason");
}

/* Expects an error reply with status and reason. */
static void expect_error(const struct http_reply *rep, unsigned status, const char *reason)
{
    cr_expect_eq(rep->status, status, "status %u, want %u: %.*s", rep->status, status,
                 (int)rep->body_len, rep->body);
    json_t *doc = reply_json(rep);
    const json_t *e0 = json_array_get(json_object_get(doc, "errors"), 0);
    cr_expect_str_eq(reason_of(doc), reason);
    cr_expect_eq(json_integer_value(json_object_get(e0, "code")), status);
    cr_expect(json_is_string(json_object_get(e0, "msg")));
    json_decref(doc);
}

static char *fmt(const char *f, ...) __attribute__((format(printf, 1, 2)));
static char *fmt(const char *f, ...)
{
    static char buf[4][2048];
    static int next;
    char *out = buf[next++ % 4];
    va_list ap;
    va_start(ap, f);
    vsnprintf(out, sizeof buf[0], f, ap);
    va_end(ap);
    return out;
}

static const char *case_body(const char *name)
{
    return fmt("{\"caseTmp\":\"%s\",\"name\":\"%s\",\"desc\":\"It jams\","
               "\"userInfo\":{\"name\":\"Ann\",\"emailId\":\"ann@example.com\"},"
               "\"source\":\"email\",\"dueDate\":1893456000000}",
               ctm, name);
}

/* Creates a case; returns its document (caller decrefs). */
static json_t *create_case(const char *name)
{
    const struct header h[] = {{"auth", auth_token}, {NULL, NULL}};
    struct http_reply rep;
    cr_assert_eq(post(STREAM "/createCase", case_body(name), h, &rep), 200, "%.*s",
                 (int)rep.body_len, rep.body);
    json_t *doc = reply_json(&rep);
    http_reply_cleanup(&rep);
    return doc;
}

/* A task of case c on the task template tmpl. */
static json_t *create_task_on(const json_t *c, const char *tmpl)
{
    const struct header h[] = {{"auth", auth_token}, {NULL, NULL}};
    struct http_reply rep;
    const char *body = fmt("{\"caseId\":\"%s\",\"caseRefId\":\"%s\",\"taskTmp\":\"%s\","
                           "\"userInfo\":{\"name\":\"Ann\",\"_id\":\"u-1\"},\"source\":\"email\"}",
                           str_of(c, "_id"), str_of(c, "refId"), tmpl);
    cr_assert_eq(post(STREAM "/createTask", body, h, &rep), 200, "%.*s", (int)rep.body_len,
                 rep.body);
    json_t *doc = reply_json(&rep);
    http_reply_cleanup(&rep);
    return doc;
}

static json_t *create_task(const json_t *c)
{
    return create_task_on(c, ttm);
}

/* POSTs an update with the accountId header (and If-Match when given). */
static unsigned update(const char *what, const char *id, const char *body, const char *if_match,
                       struct http_reply *rep)
{
    const struct header h[] = {{"Auth", auth_token},
                               {"accountid", ACCOUNT},
                               {"If-Match", if_match},
                               {NULL, NULL}};
    const struct header *use = h;
    struct header without[3] = {h[0], h[1], {NULL, NULL}};
    if (!if_match)
        use = without;
    return post(fmt(STREAM "/%s/%s", what, id), body, use, rep);
}

/* ---------------------------------------------------------------- createCase */

Test(api_handlers, create_case_ok)
{
    const struct header h[] = {{"auth", auth_token}, {"X-Timezone-Offset", "-120"}, {NULL, NULL}};
    struct http_reply rep;
    cr_assert_eq(post(STREAM "/createCase", case_body("Printer Broken"), h, &rep), 200, "%.*s",
                 (int)rep.body_len, rep.body);
    cr_expect_str_eq(rep.content_type, "application/json; charset=utf-8");
    cr_expect_str_eq(rep.etag, "1");
    json_t *doc = reply_json(&rep);
    cr_expect_eq(strncmp(str_of(doc, "_id"), "ci-", 3), 0);
    cr_expect_str_eq(str_of(doc, "refId"), "CS000001");
    cr_expect_str_eq(str_of(doc, "iId"), STREAM);
    cr_expect_str_eq(str_of(doc, "accountId"), ACCOUNT);
    cr_expect_str_eq(str_of(doc, "orgId"), "o-1");
    cr_expect_str_eq(str_of(doc, "name"), "Printer Broken");
    cr_expect_str_eq(str_of(doc, "conversationType"), "CASE");
    cr_expect_str_eq(str_of(json_object_get(doc, "status"), "name"), "Open");
    cr_expect_str_eq(str_of(json_object_get(doc, "createdBy"), "_id"), "u-agent-7");
    cr_expect_str_eq(str_of(json_object_get(doc, "createdBy"), "name"), "Agent Seven");
    cr_expect_str_eq(str_of(doc, "ETA"), "2030-01-01T00:00:00.000Z");
    json_decref(doc);
    http_reply_cleanup(&rep);
    cr_expect_null(rep.body, "http_reply_cleanup frees the body");

    doc = create_case("Second");
    cr_expect_str_eq(str_of(doc, "refId"), "CS000002");
    json_decref(doc);
}

Test(api_handlers, create_case_refusals)
{
    const struct header h[] = {{"auth", auth_token}, {NULL, NULL}};
    struct http_reply rep;
    post(STREAM "/createCase", "{\"name\":\"x\"}", h, &rep);
    expect_error(&rep, 400, "missing_member");
    http_reply_cleanup(&rep);
    post(STREAM "/createCase", "{\"name\":", h, &rep);
    expect_error(&rep, 400, "invalid_json");
    http_reply_cleanup(&rep);
    post(STREAM "/createCase", "", h, &rep);
    expect_error(&rep, 400, "invalid_json");
    http_reply_cleanup(&rep);
    post(STREAM "/createCase",
         "{\"caseTmp\":\"ctm-nope\",\"name\":\"x\",\"desc\":\"\",\"userInfo\":{\"name\":\"Ann\","
         "\"_id\":\"u-1\"},\"source\":\"email\",\"dueDate\":1893456000000}",
         h, &rep);
    expect_error(&rep, 400, "invalid_value");
    http_reply_cleanup(&rep);
}

/* ---------------------------------------------------------------- authentication (API.md §2) */

Test(api_handlers, missing_or_bad_auth_is_401)
{
    struct http_reply rep;
    const struct header none[] = {{"accountId", ACCOUNT}, {NULL, NULL}};
    post(STREAM "/createCase", case_body("x"), none, &rep);
    expect_error(&rep, 401, "unauthorized");
    http_reply_cleanup(&rep);

    const struct header empty[] = {{"auth", ""}, {NULL, NULL}};
    post(STREAM "/createCase", case_body("x"), empty, &rep);
    expect_error(&rep, 401, "unauthorized");
    http_reply_cleanup(&rep);

    char forged[1024];
    sign_token(app_doc, "not-the-secret-but-long-enough-for-hmac-key", forged);
    const struct header bad[] = {{"auth", forged}, {NULL, NULL}};
    post(STREAM "/createCase", case_body("x"), bad, &rep);
    expect_error(&rep, 401, "unauthorized");
    http_reply_cleanup(&rep);

    const struct header junk[] = {{"auth", "a.b.c"}, {NULL, NULL}};
    post(fmt(STREAM "/updateTask/%s", "ti-1"), "{}", junk, &rep);
    expect_error(&rep, 401, "unauthorized");
    http_reply_cleanup(&rep);
}

Test(api_handlers, wrong_stream_is_403)
{
    const struct header h[] = {{"auth", auth_token}, {NULL, NULL}};
    struct http_reply rep;
    post(OTHER_STREAM "/createCase", case_body("x"), h, &rep);
    expect_error(&rep, 403, "stream_not_allowed");
    http_reply_cleanup(&rep);
}

Test(api_handlers, scope_and_account_checks)
{
    char other_secret[AUTH_SECRET_LEN + 1], tok[1024];
    json_t *noscope = add_app("[\"" STREAM "\"]", "[]", other_secret);
    sign_token(noscope, other_secret, tok);
    const struct header h1[] = {{"auth", tok}, {NULL, NULL}};
    struct http_reply rep;
    post(STREAM "/createCase", case_body("x"), h1, &rep);
    expect_error(&rep, 403, "missing_scope");
    http_reply_cleanup(&rep);
    json_decref(noscope);

    const struct header h2[] = {{"auth", auth_token}, {"ACCOUNTID", "acc-2"}, {NULL, NULL}};
    post(STREAM "/createCase", case_body("x"), h2, &rep);
    expect_error(&rep, 403, "account_mismatch");
    http_reply_cleanup(&rep);

    /* updates require the accountId header (API.md §1 table) */
    json_t *c = create_case("x");
    const struct header h3[] = {{"auth", auth_token}, {NULL, NULL}};
    post(fmt(STREAM "/updateCase/%s", str_of(c, "_id")), "{}", h3, &rep);
    expect_error(&rep, 400, "missing_header");
    http_reply_cleanup(&rep);
    json_decref(c);
}

/* ---------------------------------------------------------------- createTask */

Test(api_handlers, create_task_unknown_case_is_404)
{
    const struct header h[] = {{"auth", auth_token}, {NULL, NULL}};
    struct http_reply rep;
    const char *body = fmt("{\"caseId\":\"ci-0000000-0000-4000-8000-000000000000\","
                           "\"caseRefId\":\"CS000001\",\"taskTmp\":\"%s\","
                           "\"userInfo\":{\"name\":\"Ann\",\"_id\":\"u-1\"},\"source\":\"email\"}",
                           ttm);
    post(STREAM "/createTask", body, h, &rep);
    expect_error(&rep, 404, "not_found");
    http_reply_cleanup(&rep);
}

Test(api_handlers, create_task_joins_case)
{
    json_t *c = create_case("Printer Broken");
    json_t *t = create_task(c);
    cr_expect_str_eq(str_of(t, "refId"), "TS000001");
    cr_expect_str_eq(str_of(t, "caseId"), str_of(c, "_id"));
    cr_expect_str_eq(str_of(t, "conversationType"), "TASK");

    /* a no-op update answers the stored case: its taskIds holds the task */
    struct http_reply rep;
    cr_assert_eq(update("updateCase", str_of(c, "_id"), "{}", NULL, &rep), 200, "%.*s",
                 (int)rep.body_len, rep.body);
    json_t *stored = reply_json(&rep);
    const json_t *ids = json_object_get(stored, "taskIds");
    cr_assert_eq(json_array_size(ids), 1);
    cr_expect_str_eq(json_string_value(json_array_get(ids, 0)), str_of(t, "_id"));
    cr_expect_str_eq(rep.etag, "2", "appending the task wrote the case once");
    json_decref(stored);
    http_reply_cleanup(&rep);
    json_decref(t);
    json_decref(c);
}

/* ---------------------------------------------------------------- updateTask */

/* The document's selectedValue of a field by name, or NULL. */
static const json_t *field_value(const json_t *doc, const char *name)
{
    size_t i;
    const json_t *f;
    json_array_foreach(json_object_get(doc, "fields"), i, f)
    {
        if (strcmp(str_of(json_object_get(f, "metaData"), "name"), name) == 0)
            return json_object_get(f, "selectedValue");
    }
    return NULL;
}

/* Stores a task template "Refund" with a number field "amount"; its id to out. */
static void add_number_template(char out[64])
{
    struct err e = {0};
    const char *const spec[] = {"amount:number"};
    const json_t *tmpl = config_add_template(stream_cfg, DOC_TASK, NULL, "Refund", spec, 1, &e);
    cr_assert_not_null(tmpl, "%s", e.msg);
    snprintf(out, 64, "%s", str_of(tmpl, "_id"));
    cr_assert_eq(store_write(st, put_stream_txn, stream_cfg), STORE_OK);
}

Test(api_handlers, an_update_writes_and_keeps_a_real_number)
{
    /* an update's documents are made in an arena scope (util/jarena): writing a real took its
     * text from json_dumps, jansson's allocation, and gave it to free() (an abort) */
    char tmpl_id[64];
    add_number_template(tmpl_id);
    json_t *c = create_case("Refund asked");
    json_t *t = create_task_on(c, tmpl_id);
    struct http_reply rep;
    const char *id = str_of(t, "_id");
    cr_assert_eq(update("updateTask", id,
                        "{\"fields\":[{\"metaData\":{\"name\":\"amount\"},"
                        "\"selectedValue\":12.75}]}",
                        NULL, &rep),
                 200, "%.*s", (int)rep.body_len, rep.body);
    json_t *d1 = reply_json(&rep);
    http_reply_cleanup(&rep);
    cr_expect(json_is_real(field_value(d1, "amount")));
    cr_expect_float_eq(json_real_value(field_value(d1, "amount")), 12.75, 1e-9);
    /* the stored real read again and written again by another update */
    cr_assert_eq(update("updateTask", id, "{\"desc\":\"Pay back 12.75\"}", NULL, &rep), 200, "%.*s",
                 (int)rep.body_len, rep.body);
    json_t *d2 = reply_json(&rep);
    http_reply_cleanup(&rep);
    cr_expect_str_eq(str_of(d2, "desc"), "Pay back 12.75");
    cr_expect_float_eq(json_real_value(field_value(d2, "amount")), 12.75, 1e-9);
    json_decref(d2);
    json_decref(d1);
    json_decref(t);
    json_decref(c);
}

Test(api_handlers, update_task_then_noop_keeps_etag)
{
    json_t *c = create_case("Printer Broken");
    json_t *t = create_task(c);
    const char *id = str_of(t, "_id");
    struct http_reply rep;
    cr_assert_eq(update("updateTask", id, "{\"desc\":\"Call Ann\"}", NULL, &rep), 200, "%.*s",
                 (int)rep.body_len, rep.body);
    cr_expect_str_eq(rep.etag, "2");
    json_t *d1 = reply_json(&rep);
    cr_expect_str_eq(str_of(d1, "desc"), "Call Ann");
    cr_expect_eq(json_array_size(json_object_get(d1, "activityIds")), 1);
    cr_expect_str_eq(str_of(json_object_get(d1, "updatedBy"), "_id"), "u-agent-7");
    http_reply_cleanup(&rep);

    cr_assert_eq(update("updateTask", id, "{\"desc\":\"Call Ann\"}", NULL, &rep), 200);
    cr_expect_str_eq(rep.etag, "2", "a no-op update writes nothing");
    json_t *d2 = reply_json(&rep);
    cr_expect_str_eq(str_of(d2, "updatedAt"), str_of(d1, "updatedAt"));
    cr_expect_eq(json_array_size(json_object_get(d2, "activityIds")), 1);
    http_reply_cleanup(&rep);

    /* refusals of the update itself */
    update("updateTask", id, "{\"descr\":\"typo\"}", NULL, &rep);
    expect_error(&rep, 400, "unknown_member");
    http_reply_cleanup(&rep);
    update("updateTask", id, "{\"caseId\":\"ci-other\"}", NULL, &rep);
    expect_error(&rep, 400, "read_only");
    http_reply_cleanup(&rep);
    update("updateTask", id, "[1]", NULL, &rep);
    expect_error(&rep, 400, "invalid_type");
    http_reply_cleanup(&rep);
    update("updateTask", "ti-0000000-0000-4000-8000-000000000000", "{\"desc\":\"x\"}", NULL, &rep);
    expect_error(&rep, 404, "not_found");
    http_reply_cleanup(&rep);
    /* a case id is not a task */
    update("updateTask", str_of(c, "_id"), "{\"desc\":\"x\"}", NULL, &rep);
    expect_error(&rep, 404, "not_found");
    http_reply_cleanup(&rep);

    json_decref(d1);
    json_decref(d2);
    json_decref(t);
    json_decref(c);
}

Test(api_handlers, stale_if_match_is_412)
{
    json_t *c = create_case("Printer Broken");
    json_t *t = create_task(c);
    const char *id = str_of(t, "_id");
    struct http_reply rep;
    cr_assert_eq(update("updateTask", id, "{\"desc\":\"one\"}", "\"1\"", &rep), 200, "%.*s",
                 (int)rep.body_len, rep.body);
    cr_expect_str_eq(rep.etag, "2");
    http_reply_cleanup(&rep);

    update("updateTask", id, "{\"desc\":\"two\"}", "\"1\"", &rep);
    expect_error(&rep, 412, "precondition_failed");
    http_reply_cleanup(&rep);
    cr_assert_eq(update("updateTask", id, "{}", NULL, &rep), 200);
    json_t *now = reply_json(&rep);
    cr_expect_str_eq(str_of(now, "desc"), "one", "a 412 changed the record");
    cr_expect_str_eq(rep.etag, "2");
    json_decref(now);
    http_reply_cleanup(&rep);

    cr_expect_eq(update("updateTask", id, "{\"desc\":\"three\"}", "W/\"2\"", &rep), 200);
    cr_expect_str_eq(rep.etag, "3");
    http_reply_cleanup(&rep);
    cr_expect_eq(update("updateTask", id, "{\"desc\":\"four\"}", "\"9\", \"3\"", &rep), 200);
    http_reply_cleanup(&rep);
    cr_expect_eq(update("updateTask", id, "{\"desc\":\"five\"}", "*", &rep), 200);
    http_reply_cleanup(&rep);
    json_decref(t);
    json_decref(c);
}

Test(api_handlers, task_of_closed_case_is_409)
{
    json_t *c = create_case("Printer Broken");
    json_t *t = create_task(c);
    struct http_reply rep;
    cr_assert_eq(update("updateCase", str_of(c, "_id"), "{\"status\":{\"name\":\"closed\"}}", NULL,
                        &rep),
                 200, "%.*s", (int)rep.body_len, rep.body);
    http_reply_cleanup(&rep);
    update("updateTask", str_of(t, "_id"), "{\"desc\":\"late\"}", NULL, &rep);
    expect_error(&rep, 409, "conflict");
    json_t *e = reply_json(&rep);
    const char *msg = str_of(json_array_get(json_object_get(e, "errors"), 0), "msg");
    cr_expect(msg && strstr(msg, "case CS000001 is closed"), "msg: %s", msg ? msg : "(null)");
    json_decref(e);
    http_reply_cleanup(&rep);
    /* changing nothing is still answered */
    cr_expect_eq(update("updateTask", str_of(t, "_id"), "{}", NULL, &rep), 200);
    http_reply_cleanup(&rep);
    json_decref(t);
    json_decref(c);
}

/* ---------------------------------------------------------------- answered later */

Test(api_handlers, writes_are_answered_after_the_handler_returns_and_reads_at_once)
{
    json_t *c = create_case("Printer Broken");
    cr_expect(last_deferred, "createCase is answered once its commit is durable");
    json_t *t = create_task(c);
    cr_expect(last_deferred, "createTask too");
    const char *id = str_of(t, "_id");
    struct http_reply rep;
    cr_assert_eq(update("updateTask", id, "{\"desc\":\"Call Ann\"}", NULL, &rep), 200);
    cr_expect(last_deferred, "an update that writes");
    cr_expect_str_eq(rep.etag, "2");
    http_reply_cleanup(&rep);
    cr_assert_eq(update("updateTask", id, "{\"desc\":\"Call Ann\"}", NULL, &rep), 200);
    cr_expect_not(last_deferred, "nothing to write: answered from the read");
    http_reply_cleanup(&rep);
    update("updateTask", "ti-0000000-0000-4000-8000-000000000000", "{\"desc\":\"x\"}", NULL,
           &rep);
    expect_error(&rep, 404, "not_found");
    cr_expect_not(last_deferred);
    http_reply_cleanup(&rep);

    /* where the caller cannot wait for a later answer, the handler waits for the commit */
    deferral_off = true;
    cr_assert_eq(update("updateTask", id, "{\"desc\":\"Call Bob\"}", NULL, &rep), 200);
    cr_expect_not(last_deferred);
    cr_expect_str_eq(rep.etag, "3");
    json_t *d = reply_json(&rep);
    cr_expect_str_eq(str_of(d, "desc"), "Call Bob");
    json_decref(d);
    http_reply_cleanup(&rep);
    json_t *t2 = create_task(c);
    cr_expect_not(last_deferred);
    cr_expect_str_eq(str_of(t2, "refId"), "TS000002");
    json_decref(t2);
    json_decref(t);
    json_decref(c);
}

/* A write that holds the writer until released, then writes task id's document as it is (a new
 * version), as a concurrent update would. */
struct blocker {
    const char *id;
    sem_t entered, release, done;
    int rc;
};

static int blocker_txn(struct store_txn *t, void *arg)
{
    struct blocker *b = arg;
    sem_post(&b->entered);
    while (sem_wait(&b->release) != 0)
        ;
    struct store_record r;
    int rc = store_record_get(t, STORE_TASK, STREAM, ACCOUNT, b->id, &r);
    if (rc != STORE_OK)
        return rc;
    int64_t version;
    rc = store_record_set_doc(t, STORE_TASK, STREAM, ACCOUNT, b->id, r.doc, r.doc_len, &version);
    free(r.doc);
    return rc;
}

static void blocker_done(int rc, void *arg)
{
    struct blocker *b = arg;
    b->rc = rc;
    sem_post(&b->done);
}

Test(api_handlers, an_update_whose_record_changed_before_its_commit_is_made_again_on_top)
{
    json_t *c = create_case("Printer Broken");
    json_t *t = create_task(c);
    struct blocker b = {.id = str_of(t, "_id"), .rc = -1};
    sem_init(&b.entered, 0, 0);
    sem_init(&b.release, 0, 0);
    sem_init(&b.done, 0, 0);
    store_write_then(st, blocker_txn, &b, blocker_done);
    while (sem_wait(&b.entered) != 0)
        ;
    /* the update reads version 1 and queues its commit behind the blocker */
    const struct header h[] = {{"Auth", auth_token}, {"accountid", ACCOUNT}, {NULL, NULL}};
    struct pending p;
    struct http_reply rep;
    post_begin(&p, fmt(STREAM "/updateTask/%s", b.id), "{\"desc\":\"Call Ann\"}", h, &rep);
    cr_assert(p.req.deferred);
    sem_post(&b.release); /* version 2 is committed first */
    cr_assert_eq(post_end(&p, &rep), 200, "%.*s", (int)rep.body_len, rep.body);
    cr_expect_str_eq(rep.etag, "3", "made again on version 2");
    json_t *d = reply_json(&rep);
    cr_expect_str_eq(str_of(d, "desc"), "Call Ann");
    json_decref(d);
    http_reply_cleanup(&rep);
    while (sem_wait(&b.done) != 0)
        ;
    cr_expect_eq(b.rc, STORE_OK);
    sem_destroy(&b.entered);
    sem_destroy(&b.release);
    sem_destroy(&b.done);
    json_decref(t);
    json_decref(c);
}

/* ---------------------------------------------------------------- getActivities */

Test(api_handlers, get_activities_paging)
{
    json_t *c = create_case("Printer Broken");
    json_t *t = create_task(c);
    const char *id = str_of(t, "_id");
    const char *descs[] = {"one", "two", "three"};
    struct http_reply rep;
    for (size_t i = 0; i < 3; i++) {
        cr_assert_eq(update("updateTask", id, fmt("{\"desc\":\"%s\"}", descs[i]), NULL, &rep),
                     200);
        http_reply_cleanup(&rep);
    }
    const struct header h[] = {{"auth", auth_token}, {"accountId", ACCOUNT}, {NULL, NULL}};
    cr_assert_eq(post(fmt(STREAM "/getActivities/%s", id), "{\"limit\":2}", h, &rep), 200, "%.*s",
                 (int)rep.body_len, rep.body);
    json_t *p1 = reply_json(&rep);
    http_reply_cleanup(&rep);
    const json_t *r1 = json_object_get(p1, "results");
    cr_assert_eq(json_array_size(r1), 2);
    cr_expect_eq(json_integer_value(json_object_get(p1, "totalResults")), 3);
    cr_expect_eq(json_integer_value(json_object_get(p1, "totalPages")), 2);
    cr_expect_eq(json_integer_value(json_object_get(p1, "page")), 1);
    cr_expect_eq(json_integer_value(json_object_get(p1, "limit")), 2);
    cr_expect(json_is_true(json_object_get(p1, "hasMore")));
    /* newest first */
    const json_t *newest = json_array_get(r1, 0);
    cr_expect_str_eq(str_of(newest, "recordId"), id);
    const json_t *ch = json_array_get(json_object_get(newest, "changes"), 0);
    cr_expect_str_eq(str_of(ch, "field"), "desc");
    cr_expect_str_eq(str_of(ch, "old"), "two");
    cr_expect_str_eq(str_of(ch, "new"), "three");
    cr_expect_eq(strncmp(str_of(newest, "_id"), "ac-", 3), 0);

    cr_assert_eq(post(fmt(STREAM "/getActivities/%s", id), "{\"skip\":2,\"limit\":2}", h, &rep),
                 200);
    json_t *p2 = reply_json(&rep);
    http_reply_cleanup(&rep);
    cr_assert_eq(json_array_size(json_object_get(p2, "results")), 1);
    cr_expect_eq(json_integer_value(json_object_get(p2, "page")), 2);
    cr_expect(json_is_false(json_object_get(p2, "hasMore")));
    const json_t *oldest = json_array_get(json_object_get(p2, "results"), 0);
    cr_expect_str_eq(str_of(json_array_get(json_object_get(oldest, "changes"), 0), "new"), "one");

    /* an empty body is {} for this list */
    cr_assert_eq(post(fmt(STREAM "/getActivities/%s", id), NULL, h, &rep), 200);
    json_t *all = reply_json(&rep);
    cr_expect_eq(json_array_size(json_object_get(all, "results")), 3);
    json_decref(all);
    http_reply_cleanup(&rep);

    post(fmt(STREAM "/getActivities/%s", id), "{\"page\":2}", h, &rep);
    expect_error(&rep, 400, "unknown_member");
    http_reply_cleanup(&rep);
    post(fmt(STREAM "/getActivities/%s", id), "{\"limit\":0}", h, &rep);
    expect_error(&rep, 400, "invalid_value");
    http_reply_cleanup(&rep);
    post(STREAM "/getActivities/ti-0000000-0000-4000-8000-000000000000", "{}", h, &rep);
    expect_error(&rep, 404, "not_found");
    http_reply_cleanup(&rep);

    json_decref(p1);
    json_decref(p2);
    json_decref(t);
    json_decref(c);
}

/* API.md §8: page = skip/limit + 1. A skip up to API_SKIP_MAX is answered (an empty page); a
 * larger one is refused, so the page number cannot overflow (skip 9223372036854775807 with
 * limit 1 was signed overflow in the page number; tests/fuzz/fuzz_query.c's page check reports
 * it under UBSan). */
Test(api_handlers, list_skip_bounds)
{
    json_t *c = create_case("Printer Broken");
    const char *id = str_of(c, "_id");
    const struct header h[] = {{"auth", auth_token}, {"accountId", ACCOUNT}, {NULL, NULL}};
    struct http_reply rep;
    char activities[256];
    snprintf(activities, sizeof activities, STREAM "/getActivities/%s", id);
    const char *lists[] = {STREAM "/getCases", STREAM "/getTasks", activities};
    for (size_t i = 0; i < sizeof lists / sizeof lists[0]; i++) {
        cr_assert_eq(post(lists[i], fmt("{\"skip\":%lld,\"limit\":1}", API_SKIP_MAX), h, &rep),
                     200, "%s: %.*s", lists[i], (int)rep.body_len, rep.body);
        json_t *p = reply_json(&rep);
        http_reply_cleanup(&rep);
        cr_expect_eq(json_integer_value(json_object_get(p, "page")), API_SKIP_MAX + 1);
        cr_expect_eq(json_array_size(json_object_get(p, "results")), 0);
        cr_expect(json_is_false(json_object_get(p, "hasMore")));
        json_decref(p);
        static const char *const refused[] = {"{\"skip\":9007199254740992}",
                                              "{\"skip\":9223372036854775807,\"limit\":1}",
                                              "{\"skip\":-1}"};
        for (size_t k = 0; k < sizeof refused / sizeof refused[0]; k++) {
            post(lists[i], refused[k], h, &rep);
            expect_error(&rep, 400, "invalid_value");
            http_reply_cleanup(&rep);
        }
    }
    json_decref(c);
}

/* API.md §8 selectedColumns: _id and the selected members of each row, as the whole document has
 * them. Each row is parsed and written in an arena scope of its own (util/jarena), a real number
 * among its values. */
Test(api_handlers, selected_columns_give_the_selected_members_of_each_row)
{
    char tmpl_id[64];
    add_number_template(tmpl_id);
    json_t *c = create_case("Refunds");
    struct http_reply rep;
    for (int i = 0; i < 3; i++) {
        json_t *t = create_task_on(c, tmpl_id);
        cr_assert_eq(update("updateTask", str_of(t, "_id"),
                            fmt("{\"fields\":[{\"metaData\":{\"name\":\"amount\"},"
                                "\"selectedValue\":%d.25}]}",
                                i),
                            NULL, &rep),
                     200, "%.*s", (int)rep.body_len, rep.body);
        http_reply_cleanup(&rep);
        json_decref(t);
    }
    const struct header h[] = {{"auth", auth_token}, {"accountId", ACCOUNT}, {NULL, NULL}};
    const char *filter = fmt("\"caseId\":\"%s\"", str_of(c, "_id"));
    cr_assert_eq(post(STREAM "/getTasks", fmt("{%s}", filter), h, &rep), 200);
    json_t *whole = reply_json(&rep);
    http_reply_cleanup(&rep);
    cr_assert_eq(post(STREAM "/getTasks",
                      fmt("{%s,\"selectedColumns\":[\"name\",\"fields\"]}", filter), h, &rep),
                 200, "%.*s", (int)rep.body_len, rep.body);
    json_t *picked = reply_json(&rep);
    http_reply_cleanup(&rep);
    const json_t *all = json_object_get(whole, "results");
    const json_t *some = json_object_get(picked, "results");
    cr_assert_eq(json_array_size(all), 3);
    cr_assert_eq(json_array_size(some), 3);
    for (size_t i = 0; i < 3; i++) {
        const json_t *w = json_array_get(all, i), *p = json_array_get(some, i);
        cr_expect_eq(json_object_size(p), 3, "_id, name and fields only");
        cr_expect_str_eq(str_of(p, "_id"), str_of(w, "_id"));
        cr_expect(json_equal(json_object_get(p, "name"), json_object_get(w, "name")));
        cr_expect(json_equal(json_object_get(p, "fields"), json_object_get(w, "fields")));
        cr_expect(json_is_real(field_value(p, "amount")));
    }
    json_decref(picked);
    json_decref(whole);
    json_decref(c);
}

/* casemgr_list_reruns_total in the /metrics text */
static unsigned long long list_reruns(void)
{
    size_t len;
    char *text = metrics_render(&len);
    const char *at = strstr(text, "\ncasemgr_list_reruns_total ");
    cr_assert_not_null(at);
    unsigned long long n = strtoull(at + strlen("\ncasemgr_list_reruns_total "), NULL, 10);
    free(text);
    return n;
}

/* A list on an I/O thread replies there, unless it reads past api_list_io_budget_us: then it
 * replies nothing, changes nothing and asks for a worker, where it runs again without a limit. */
Test(api_handlers, a_list_that_reads_too_long_on_an_io_thread_runs_again_on_a_worker)
{
    json_t *c = create_case("Printer Broken");
    for (int i = 0; i < 80; i++)
        json_decref(create_task(c));
    json_decref(c);
    const struct header h[] = {{"auth", auth_token}, {"accountId", ACCOUNT}, {NULL, NULL}};
    const char *lists[] = {STREAM "/getTasks", STREAM "/getCases"};
    const size_t want[] = {80, 1};
    for (size_t i = 0; i < sizeof lists / sizeof lists[0]; i++) {
        struct pending p;
        struct http_reply rep;
        on_io = true;
        api_list_io_budget_us = 60 * 1000000LL;
        post_begin(&p, lists[i], "{\"limit\":100}", h, &rep);
        cr_expect_not(p.req.to_worker, "%s: within its budget", lists[i]);
        cr_assert_eq(post_end(&p, &rep), 200, "%s", lists[i]);
        cr_expect_not(last_deferred);
        json_t *page = reply_json(&rep);
        http_reply_cleanup(&rep);
        cr_expect_eq(json_array_size(json_object_get(page, "results")), want[i], "%s", lists[i]);
        json_decref(page);

        api_list_io_budget_us = 0; /* past it at the first look at the clock */
        unsigned long long reruns = list_reruns();
        post_begin(&p, lists[i], "{\"limit\":100}", h, &rep);
        if (want[i] == 80) { /* a page of one reads too little to be stopped */
            cr_expect(p.req.to_worker, "%s: stopped, a worker asked for", lists[i]);
            cr_expect_eq(rep.status, 0, "%s: nothing replied", lists[i]);
            cr_expect_not(p.req.deferred);
            cr_expect_eq(list_reruns(), reruns + 1, "%s: counted in /metrics", lists[i]);
        }
        http_reply_cleanup(&rep);

        on_io = false; /* on the worker, the same budget is no limit */
        cr_assert_eq(post(lists[i], "{\"limit\":100}", h, &rep), 200, "%s", lists[i]);
        page = reply_json(&rep);
        http_reply_cleanup(&rep);
        cr_expect_eq(json_array_size(json_object_get(page, "results")), want[i], "%s", lists[i]);
        json_decref(page);
    }
    api_list_io_budget_us = 1000;
}

/* ---------------------------------------------------------------- Idempotency-Key (API.md §6) */

static int read_config_txn(struct store_txn *t, void *arg)
{
    return api_read_config(t, STREAM, arg);
}

static int read_stored_config_txn(struct store_txn *t, void *arg)
{
    return api_read_stored_config(t, STREAM, arg);
}

/* SQL on the test's database by a connection of its own (another process, as it were). */
static void sql_on_db(const char *sql)
{
    char path[128];
    snprintf(path, sizeof path, "%s/api.db", dir);
    sqlite3 *db = NULL;
    cr_assert_eq(sqlite3_open(path, &db), SQLITE_OK);
    cr_assert_eq(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK, "%s", sqlite3_errmsg(db));
    sqlite3_close(db);
}

/* A stream's parsed configuration is used again while the catalog's version is the one it was
 * read at, without reading its text, and read again when the version moved: a change made
 * behind the version's back (its trigger dropped) is not seen until then; one made by another
 * process through the trigger is seen at once. The same for the stored configuration that a
 * createTask reads on its worker. */
Test(api_handlers, a_configuration_is_read_again_only_when_the_catalog_changed)
{
    json_t *first = NULL, *again = NULL, *stored = NULL, *moved = NULL, *changed = NULL;
    cr_assert_eq(store_read(st, read_config_txn, &first), STORE_OK);
    sql_on_db("DROP TRIGGER streams_catalog_UPDATE;"
              "UPDATE streams SET doc = json_set(doc, '$.marker', 1);");
    cr_assert_eq(store_read(st, read_config_txn, &again), STORE_OK);
    cr_expect_eq(again, first, "the version did not move: the same parsed configuration");
    cr_expect_null(json_object_get(again, "marker"));
    cr_assert_eq(store_read(st, read_stored_config_txn, &stored), STORE_OK);
    cr_expect_eq(stored, first, "the stored configuration, the same");
    sql_on_db("UPDATE catalog_version SET v = v + 1;");
    cr_assert_eq(store_read(st, read_config_txn, &moved), STORE_OK);
    cr_expect_eq(json_integer_value(json_object_get(moved, "marker")), 1, "read again");
    sql_on_db("CREATE TRIGGER streams_catalog_UPDATE AFTER UPDATE ON streams"
              " BEGIN UPDATE catalog_version SET v = random(); END;"
              "UPDATE streams SET doc = json_set(doc, '$.marker', 2);");
    cr_assert_eq(store_read(st, read_config_txn, &changed), STORE_OK);
    cr_expect_eq(json_integer_value(json_object_get(changed, "marker")), 2, "seen at once");
    json_decref(first);
    json_decref(again);
    json_decref(stored);
    json_decref(moved);
    json_decref(changed);
}

Test(api_handlers, idempotent_create_case)
{
    const struct header h[] = {{"auth", auth_token}, {"Idempotency-Key", "k-123"}, {NULL, NULL}};
    const char *body = case_body("Printer Broken");
    char first[8192];
    struct http_reply rep;
    cr_assert_eq(post(STREAM "/createCase", body, h, &rep), 200, "%.*s", (int)rep.body_len,
                 rep.body);
    cr_assert_lt(rep.body_len, sizeof first);
    memcpy(first, rep.body, rep.body_len);
    size_t first_len = rep.body_len;
    http_reply_cleanup(&rep);

    cr_assert_eq(post(STREAM "/createCase", body, h, &rep), 200, "%.*s", (int)rep.body_len,
                 rep.body);
    cr_expect_eq(rep.body_len, first_len);
    cr_expect_eq(memcmp(rep.body, first, first_len < rep.body_len ? first_len : rep.body_len), 0,
                 "the retry got another body");
    http_reply_cleanup(&rep);

    /* nothing new was created: the next case is CS000002 */
    json_t *next = create_case("Another");
    cr_expect_str_eq(str_of(next, "refId"), "CS000002");
    json_decref(next);

    post(STREAM "/createCase", case_body("Different"), h, &rep);
    expect_error(&rep, 409, "idempotency_conflict");
    http_reply_cleanup(&rep);
}

Test(api_handlers, status_filter_means_every_status_of_that_name)
{
    /* an older casemgr stored Über and über as two statuses: status:["über"] resolved to the
     * first alone, and the records of the second were found by no filter */
    json_t *cfg = config_default();
    struct err e = {0};
    const json_t *upper = config_add_status(cfg, "Über", "open", true, &e);
    cr_assert_not_null(upper, "%s", e.msg);
    json_t *lower = json_deep_copy(upper);
    json_object_set_new(lower, "name", json_string("über"));
    json_object_set_new(lower, "_id", json_string("sts-older"));
    json_array_append_new(json_object_get(cfg, "statuses"), lower);
    json_t *body = json_loads("{\"status\":[\"über\",\"Open\"]}", 0, NULL);
    struct store_query q = {.kind = STORE_TASK, .stream_id = "st-x", .account_id = "a"};
    struct api_query_owned own = {0};
    const struct auth_identity id = {.sub = "u-1"};
    cr_assert_eq(api_query_decode(body, DOC_TASK, cfg, &id, &q, &own, &e), 0, "%s", e.msg);
    cr_assert_eq(q.statuses.n, 3);
    cr_expect_str_eq(q.statuses.v[0], "Über");
    cr_expect_str_eq(q.statuses.v[1], "über");
    cr_expect_str_eq(q.statuses.v[2], "Open");
    api_query_owned_free(&own);
    json_decref(body);
    json_decref(cfg);
}

Test(api_handlers, a_real_filter_value_also_matches_its_text_of_before)
{
    /* reals were stored as %.17g (19.989999999999998) before they were written as JSON.stringify
     * writes them: a filter asks for both, so values stored then are still found */
    json_t *cfg = config_default();
    json_t *body = json_loads("{\"customFields\":[{\"name\":\"sev\",\"value\":[19.99,\"19.99\",0.5,"
                              "\"x\",7]}]}",
                              0, NULL);
    struct store_query q = {.kind = STORE_TASK, .stream_id = "st-x", .account_id = "a"};
    struct api_query_owned own = {0};
    const struct auth_identity id = {.sub = "u-1"};
    struct err e = {0};
    cr_assert_eq(api_query_decode(body, DOC_TASK, cfg, &id, &q, &own, &e), 0, "%s", e.msg);
    cr_assert_eq(q.nfields, 1);
    const struct store_field_filter *f = &q.fields[0];
    cr_assert_eq(f->n, 7, "19.99 and \"19.99\" with their old text; 0.5, \"x\" and 7 alone");
    cr_expect(json_is_real(f->values[0]));
    cr_expect_str_eq(json_string_value(f->values[1]), "19.989999999999998");
    cr_expect_str_eq(json_string_value(f->values[2]), "19.99");
    cr_expect_str_eq(json_string_value(f->values[3]), "19.989999999999998");
    cr_expect(json_is_real(f->values[4]));
    cr_expect_str_eq(json_string_value(f->values[5]), "x");
    cr_expect(json_is_integer(f->values[6]));
    api_query_owned_free(&own);
    json_decref(body);
    json_decref(cfg);
}
