/* server — libmicrohttpd glue. MHD parses HTTP; this file adds what API.md §1 asks beyond it:
 * framing errors MHD 0.9.75 lets through (differing Content-Lengths, Content-Length with
 * Transfer-Encoding, a Transfer-Encoding other than one chunked, no Host), the body limit before
 * reading (and a body buffer that grows as the bytes come), the header limit, a deadline on
 * receiving a whole request (MHD's own timeout restarts on every byte, so a trickling client
 * would never be closed), %00 and %2F in the path kept as they are, absolute-form targets routed
 * on their path, coded bodies refused (415), header values without trailing whitespace, request
 * ids, an access-log line for every request a handler took (its client gone or not) and a drain
 * on shutdown.
 *
 * MHD's few I/O threads never wait on a commit or the network: a request whose route may block
 * is handed to a pool of worker threads while its connection is suspended; the worker runs the
 * handler, keeps the reply and resumes the connection, and MHD sends it. So many requests can
 * wait on one group commit at once while the I/O threads keep serving others. A handler that
 * writes may also answer later (http_defer): the worker goes on to the next request, and
 * whichever comes second, the handler's return or its http_answer (from the store's syncer),
 * resumes the connection; the reply is then built on the I/O thread (http_finish). With
 * defer_on_io, a route that defers runs on the I/O thread itself (run_on_io): its reads are
 * local and short, its write is queued, and whatever would wait goes to a worker after all. */
#include "http/server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <microhttpd.h>
#include <netdb.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "util/id.h"
#include "util/log.h"
#include "util/mem.h"
#include "util/time.h"
#include "util/wait.h"

#define LINGER_MAX 256
#define WORKER_IDLE_MS 10000 /* a worker idle this long gives back its database connection */
#define RUN_WAIT_US 2000 /* run_wait_us's default */
#define LINGER_US 2000000 /* how long an answered socket's input is still read and dropped */
#define BODY_FIRST_CAP 65536 /* a body's first buffer, whatever its Content-Length says */

/* A connection's progress, for the receive deadline: watched by the reaper thread. */
struct conn_entry {
    int fd;
    bool receiving;       /* waiting for (the rest of) a request */
    int64_t phase_start;  /* monotonic us when receiving began */
    struct conn_entry *prev, *next;
};

struct http_server {
    struct MHD_Daemon *daemon;
    struct http_server_config cfg;
    uint16_t port;
    atomic_int in_flight;
    atomic_bool draining;
    pthread_mutex_t conns_mu; /* guards the conn list and shutdown() of its sockets */
    struct conn_entry *conns;
    pthread_t reaper;
    pthread_mutex_t reaper_mu;
    pthread_cond_t reaper_cv;
    bool reaper_stop;
    bool reaper_started;
    /* lingering closes: sockets answered before their body was read (413 and framing errors)
     * are kept open a moment, their input read and dropped, so the client reads the answer
     * instead of a reset (closing a socket with unread input sends RST) */
    struct lingering {
        int fd; /* our dup of MHD's socket */
        int64_t deadline;
    } lingering[LINGER_MAX];
    unsigned nlingering; /* guarded by reaper_mu */
    /* the worker pool; idle workers wait on a stack, so the one that went idle last takes the
     * next request: under a light load a few workers do the work with their database
     * connection's page cache and their malloc arena warm, instead of every request going to
     * the worker that has waited longest (measured: getTasks unresolved + Critical on a million
     * tasks, 30-60 ms a request in turn over 64 cold workers) */
    struct worker *workers;
    unsigned nworkers;
    pthread_mutex_t jobs_mu;
    struct worker *idle; /* the stack of waiting workers, guarded by jobs_mu */
    /* Workers running a request and not waiting on the database (util/wait), guarded by jobs_mu.
     * A queued request wakes an idle worker only while fewer than running_max run (2 x the I/O
     * threads), or when it has waited run_wait_us: otherwise a running worker takes it when it
     * is done. Waking one idle worker per request put a dozen on two cores at once after every
     * group commit, each with cold caches (updateTask: 46 of the 64 workers ran in 5 s).
     * Measured on 2 cores (20,000 tasks, 32 connections, alternating runs): caps of 2, 4 and 8
     * all helped, 2 and 4 most; with 4, updateTask -12 to -16 % CPU a request and +5 to +11 %
     * req/s, updates and getTasks together -25 to -50 % CPU and +20 to +80 % req/s. */
    unsigned running, running_max;
    int64_t run_wait_us;
    struct req_state *jobs_head, *jobs_tail;
    bool jobs_stop;
};

struct worker {
    struct http_server *srv;
    pthread_t thread;
    pthread_cond_t cv;
    bool woken; /* popped from the idle stack by wake_worker (or stopping) */
    struct worker *next_idle;
};

/* Per-request state, MHD's con_cls. */
struct req_state {
    struct http_request req;
    struct MHD_Connection *conn;
    struct conn_entry *entry;
    const struct http_route *route;
    char *body;
    size_t body_len, body_cap;
    bool queued;      /* a reply was queued already (rejected before the body) */
    bool replied;     /* a worker finished: reply holds the answer */
    bool settle;      /* an I/O thread ran the handler: the worker only settles its reply */
    uint64_t ticket;  /* then what it read (cfg.settle_ticket, taken on the I/O thread) */
    atomic_int unanswered; /* a deferred reply: the worker's return and http_answer, to come */
    bool linger;      /* answered before its body was read: close lingering */
    struct http_reply reply;
    struct req_state *next_job; /* worker queue link */
    int64_t queued_us;          /* when it was queued for a worker */
    bool overflow;    /* chunked body went past the limit */
    bool no_memory;   /* the body's buffer could not grow: answer 503 once it ends */
    size_t declared;  /* Content-Length, 0 when none (chunked) */
    unsigned status;
    size_t bytes;
    int64_t start_us;
    char *scratch;
    struct trimmed *trimmed; /* header values handed out without trailing whitespace */
};

struct trimmed {
    struct trimmed *next;
    char text[];
};

static atomic_uint open_connections;
/* The connections of this I/O thread: MHD tells a thread of the pool of those it accepted, and
 * of their end (on_connection). */
static _Thread_local unsigned thread_connections;

unsigned http_open_connections(void)
{
    return atomic_load(&open_connections);
}

static const char *mhd_header(void *ctx, const char *name)
{
    return MHD_lookup_connection_value((struct MHD_Connection *)ctx, MHD_HEADER_KIND, name);
}

/* A header's value for handlers, without the whitespace that may end it (RFC 9110 §5.5: not
 * part of the value; MHD drops only what precedes it): `accountId: acc-1 ` was refused as
 * another account and `auth: <jwt> ` as a bad token. Such a value is copied, trimmed, into a
 * list freed with the request. */
static const char *request_header(void *ctx, const char *name)
{
    struct req_state *st = ctx;
    const char *v = mhd_header(st->conn, name);
    size_t n = v ? strlen(v) : 0;
    if (n == 0 || (v[n - 1] != ' ' && v[n - 1] != '\t'))
        return v;
    while (n > 0 && (v[n - 1] == ' ' || v[n - 1] == '\t'))
        n--;
    struct trimmed *t = xmalloc(sizeof *t + n + 1);
    memcpy(t->text, v, n);
    t->text[n] = '\0';
    t->next = st->trimmed;
    st->trimmed = t;
    return t->text;
}

struct header_count {
    const char *name;
    unsigned n;
};

static enum MHD_Result count_header(void *cls, enum MHD_ValueKind kind, const char *key,
                                    const char *value)
{
    (void)kind;
    (void)value;
    struct header_count *c = cls;
    if (strcasecmp(key, c->name) == 0)
        c->n++;
    return MHD_YES;
}

static unsigned request_header_count(void *ctx, const char *name)
{
    struct header_count c = {.name = name};
    MHD_get_connection_values(((struct req_state *)ctx)->conn, MHD_HEADER_KIND, count_header, &c);
    return c.n;
}

struct header_join {
    const char *name;
    char *text; /* heap */
    size_t len;
};

static enum MHD_Result join_header(void *cls, enum MHD_ValueKind kind, const char *key,
                                   const char *value)
{
    (void)kind;
    struct header_join *j = cls;
    if (strcasecmp(key, j->name) != 0 || !value)
        return MHD_YES;
    size_t n = strlen(value);
    while (n > 0 && (value[n - 1] == ' ' || value[n - 1] == '\t'))
        n--;
    j->text = xrealloc(j->text, j->len + 2 + n + 1);
    if (j->len) {
        memcpy(j->text + j->len, ", ", 2);
        j->len += 2;
    }
    memcpy(j->text + j->len, value, n);
    j->len += n;
    j->text[j->len] = '\0';
    return MHD_YES;
}

static const char *request_header_list(void *ctx, const char *name)
{
    struct req_state *st = ctx;
    const char *first = request_header(st, name); /* the usual case: none, or one line */
    if (!first || request_header_count(st, name) <= 1)
        return first;
    struct header_join j = {.name = name};
    MHD_get_connection_values(st->conn, MHD_HEADER_KIND, join_header, &j);
    struct trimmed *t = xmalloc(sizeof *t + j.len + 1);
    memcpy(t->text, j.text, j.len + 1);
    free(j.text);
    t->next = st->trimmed;
    st->trimmed = t;
    return t->text;
}

/* Request id: the client's when sane (API.md §10), else process-unique and unguessable. */
static void assign_request_id(struct req_state *st)
{
    const char *given = mhd_header(st->conn, "X-Request-Id");
    size_t n = given ? strlen(given) : 0;
    while (n > 0 && (given[n - 1] == ' ' || given[n - 1] == '\t'))
        n--; /* not part of the value, as for request_header */
    if (given && id_valid_segment(given, n)) {
        snprintf(st->req.request_id, sizeof st->req.request_id, "%.*s", (int)n, given);
        return;
    }
    static _Thread_local uint64_t seed, counter;
    if (seed == 0)
        id_random(&seed, sizeof seed);
    counter++;
    snprintf(st->req.request_id, sizeof st->req.request_id, "%016llx%08llx",
             (unsigned long long)seed, (unsigned long long)counter);
}

static void set_receiving(struct http_server *srv, struct conn_entry *e, bool receiving)
{
    if (!e)
        return;
    pthread_mutex_lock(&srv->conns_mu);
    e->receiving = receiving;
    e->phase_start = time_mono_us();
    pthread_mutex_unlock(&srv->conns_mu);
}

static enum MHD_Result queue_reply(struct req_state *st, struct http_server *srv,
                                   struct http_reply *rep)
{
    struct MHD_Response *resp = MHD_create_response_from_buffer(
        rep->body_len, rep->body ? rep->body : (void *)"", rep->body ? MHD_RESPMEM_MUST_FREE
                                                                      : MHD_RESPMEM_PERSISTENT);
    if (!resp) {
        http_reply_cleanup(rep);
        return MHD_NO;
    }
    rep->body = NULL; /* MHD frees it now */
    if (rep->content_type)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, rep->content_type);
    MHD_add_response_header(resp, "X-Request-Id", st->req.request_id);
    if (rep->etag[0]) {
        char quoted[sizeof rep->etag + 2];
        snprintf(quoted, sizeof quoted, "\"%s\"", rep->etag);
        MHD_add_response_header(resp, MHD_HTTP_HEADER_ETAG, quoted);
    }
    if (rep->allow)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, rep->allow);
    if (rep->accept_encoding)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_ACCEPT_ENCODING, rep->accept_encoding);
    if (rep->close || atomic_load(&srv->draining))
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONNECTION, "close");
    st->status = rep->status;
    /* the access log's bytes are the body sent: none to HEAD (MHD sends the head alone) */
    st->bytes = st->req.method && strcmp(st->req.method, "HEAD") == 0 ? 0 : rep->body_len;
    st->queued = true;
    enum MHD_Result r = MHD_queue_response(st->conn, rep->status, resp);
    MHD_destroy_response(resp);
    return r;
}

static enum MHD_Result reject(struct req_state *st, struct http_server *srv, enum err_code err,
                              const char *msg)
{
    struct http_reply rep = {0};
    if (msg)
        http_reply_error(&rep, err, NULL, "%s", msg);
    else
        http_reply_error(&rep, err, NULL, NULL);
    rep.close = true; /* the rest of what the client sent cannot be trusted or is unread */
    st->linger = true;
    return queue_reply(st, srv, &rep);
}

struct header_scan {
    int content_lengths;
    bool lengths_differ;
    const char *first_length;
    int transfer_encodings;
    bool chunked; /* the one Transfer-Encoding is exactly chunked */
    bool host;
    size_t bytes;
};

static enum MHD_Result scan_header(void *cls, enum MHD_ValueKind kind, const char *key,
                                   const char *value)
{
    (void)kind;
    struct header_scan *h = cls;
    h->bytes += strlen(key) + (value ? strlen(value) : 0) + 4;
    if (strcasecmp(key, "Content-Length") == 0) {
        if (h->content_lengths++ == 0)
            h->first_length = value;
        else if (!value || !h->first_length || strcmp(value, h->first_length) != 0)
            h->lengths_differ = true;
    } else if (strcasecmp(key, "Transfer-Encoding") == 0) {
        h->transfer_encodings++;
        /* the value as MHD compares it to decide it reads chunks (a trailing space is kept) */
        h->chunked = value && strcasecmp(value, "chunked") == 0;
    } else if (strcasecmp(key, "Host") == 0) {
        h->host = true;
    }
    return MHD_YES;
}

static enum MHD_Result count_argument(void *cls, enum MHD_ValueKind kind, const char *key,
                                     const char *value)
{
    (void)kind;
    *(size_t *)cls += strlen(key) + (value ? strlen(value) : 0) + 2;
    return MHD_YES;
}

static int hex_digit(char c)
{
    return c >= '0' && c <= '9'   ? c - '0'
           : c >= 'a' && c <= 'f' ? c - 'a' + 10
           : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                  : -1;
}

/* The unescaping of the path and its arguments (%HH), as MHD's own but for %00 and %2F (any
 * case), which are kept as they are. %00 decoded ended the C string there, so
 * ".../updateTask/<id>%00junk" reached that task and ".../getTasks%00x" the endpoint; %2F
 * decoded became a '/' the router split on, so "/caseManagement%2Fapi%2F...%2FupdateTask%2F<id>"
 * was served. Kept, the '%' is a character no route or id takes: 404 (API.md §3). */
static size_t unescape_keeping_nul(void *cls, struct MHD_Connection *conn, char *s)
{
    (void)cls;
    (void)conn;
    char *w = s;
    for (const char *r = s; *r;) {
        int hi = r[0] == '%' ? hex_digit(r[1]) : -1, lo = hi >= 0 ? hex_digit(r[2]) : -1;
        int c = lo >= 0 ? hi * 16 + lo : -1;
        if (c > 0 && c != '/') {
            *w++ = (char)c;
            r += 3;
        } else {
            *w++ = *r++;
        }
    }
    *w = '\0';
    return (size_t)(w - s);
}

/* The path of a request target: an absolute-form target (http://host:port/path, what a client
 * sends to a proxy) is routed on its path, as RFC 9112 §3.2.2 says a server MUST accept it; it
 * answered 404. The scheme is http or https in any case; no path is "/". */
static const char *target_path(const char *url)
{
    size_t n = strncasecmp(url, "http://", 7) == 0    ? 7
               : strncasecmp(url, "https://", 8) == 0 ? 8
                                                       : 0;
    if (n == 0)
        return url;
    const char *slash = strchr(url + n, '/');
    return slash ? slash : "/";
}

#define BODY_LIMIT_MSG 96

/* The 413's message: it said "the body is too large", not what the limit is. */
static const char *body_limit_msg(const struct http_server *srv, char buf[BODY_LIMIT_MSG])
{
    snprintf(buf, BODY_LIMIT_MSG, "the body is larger than %zu bytes (--body-limit)",
             srv->cfg.body_limit);
    return buf;
}

/* First call for a request: every check that can be made from the request line and headers.
 * Returns true when a reply was queued (the request is rejected). */
static bool check_head(struct req_state *st, struct http_server *srv, const char *url,
                       const char *version, enum MHD_Result *result)
{
    struct header_scan h = {0};
    MHD_get_connection_values(st->conn, MHD_HEADER_KIND, scan_header, &h);
    /* MHD hands over the path without its query string: count the arguments toward the URI */
    size_t uri = strlen(url);
    MHD_get_connection_values(st->conn, MHD_GET_ARGUMENT_KIND, count_argument, &uri);
    const char *why = NULL;
    enum err_code err = ERR_BAD_REQUEST;
    if (uri > srv->cfg.header_limit) {
        err = ERR_URI_TOO_LONG;
    } else if (h.bytes + uri > srv->cfg.header_limit) {
        err = ERR_HEADERS_TOO_LARGE;
    } else if (h.lengths_differ) {
        why = "conflicting Content-Length headers";
    } else if (h.content_lengths && h.transfer_encodings) {
        why = "Content-Length together with Transfer-Encoding";
    } else if (h.transfer_encodings && (h.transfer_encodings > 1 || !h.chunked)) {
        /* MHD reads a body of any other coding (gzip; gzip, chunked) until the connection
         * closes: the request hung until the idle timeout. RFC 9112 §6.3: a body whose coding
         * does not end in chunked has no length; this server decodes no other coding. */
        why = "Transfer-Encoding must be exactly one chunked";
    } else if (!h.host && strcmp(version, MHD_HTTP_VERSION_1_1) == 0) {
        why = "an HTTP/1.1 request must carry a Host header";
    } else if (h.content_lengths) {
        char *end = NULL;
        errno = 0;
        unsigned long long n = strtoull(h.first_length, &end, 10);
        if (end == h.first_length || *end != '\0' || errno)
            why = "invalid Content-Length";
        else if (n > srv->cfg.body_limit)
            err = ERR_BODY_TOO_LARGE;
        else
            st->declared = (size_t)n; /* nothing allocated until the bytes come (body_reserve) */
    }
    if (err == ERR_BAD_REQUEST && !why)
        return false;
    if (err == ERR_BODY_TOO_LARGE) {
        char limit[BODY_LIMIT_MSG];
        *result = reject(st, srv, err, body_limit_msg(srv, limit));
        return true;
    }
    *result = reject(st, srv, err, why);
    return true;
}

/* Room for n more bytes of body. The buffer grows as the bytes arrive, doubling, never past the
 * Content-Length or the body limit: a request declaring a large body costs nothing until it is
 * sent (check_head allocated the declared size, and Content-Length 60000000000 under
 * --body-limit 2^40 aborted the process). -1 when memory cannot be had: the size is the
 * client's choice, so it is refused (503), not an abort. */
static int body_reserve(struct req_state *st, size_t limit, size_t n)
{
    size_t need = st->body_len + n;
    if (need <= st->body_cap)
        return 0;
    size_t cap = st->body_cap ? st->body_cap * 2 : BODY_FIRST_CAP;
    if (st->declared && cap > st->declared)
        cap = st->declared;
    if (cap > limit)
        cap = limit;
    if (cap < need)
        cap = need;
    char *p = mem_try_realloc(st->body, cap + 1);
    if (!p)
        return -1;
    st->body = p;
    st->body_cap = cap;
    return 0;
}

/* Whether one Content-Encoding value names a coding other than identity (a list, any case). */
static enum MHD_Result find_coding(void *cls, enum MHD_ValueKind kind, const char *key,
                                   const char *value)
{
    (void)kind;
    if (strcasecmp(key, MHD_HTTP_HEADER_CONTENT_ENCODING) != 0 || !value)
        return MHD_YES;
    for (const char *p = value; *p;) {
        p += strspn(p, " \t,");
        size_t n = strcspn(p, " \t,");
        if (n > 0 && (n != strlen("identity") || strncasecmp(p, "identity", n) != 0)) {
            *(bool *)cls = true;
            return MHD_NO;
        }
        p += n;
    }
    return MHD_YES;
}

/* Resolves the route and the checks that need no handler; false with rep set when answered. */
static bool route_request(struct req_state *st, struct http_server *srv, const char *url,
                          const char *method, struct http_reply *rep)
{
    st->scratch = xmalloc(strlen(url) + 1);
    enum http_match m = http_route_match(srv->cfg.routes, srv->cfg.route_count, method, url,
                                         &st->req, st->scratch, &st->route);
    if (m == HTTP_MATCH_METHOD) {
        rep->allow = strcmp(st->route->method, "GET") == 0 ? "GET, HEAD" : st->route->method;
        http_reply_error(rep, ERR_METHOD_NOT_ALLOWED, NULL, "this path takes %s only", rep->allow);
        st->route = NULL;
        return false;
    }
    if (m == HTTP_MATCH_NOT_FOUND) {
        char hint[128];
        http_route_hint(srv->cfg.routes, srv->cfg.route_count, url, hint, sizeof hint);
        http_reply_error(rep, ERR_NOT_FOUND, NULL, "no such endpoint%s", hint);
        return false;
    }
    bool coded = false;
    if (st->body_len > 0 && st->route->json_body) /* the GET routes read no body */
        MHD_get_connection_values(st->conn, MHD_HEADER_KIND, find_coding, &coded);
    if (coded) {
        /* RFC 9110 §8.4, RFC 7694 §3: no coding is decoded here. The body was applied as it
         * came, so gzip'd JSON answered 400 invalid_json and plain JSON labelled gzip was
         * taken. */
        http_reply_error(rep, ERR_UNSUPPORTED_MEDIA_TYPE, "Content-Encoding",
                         "a request body must not be content-encoded (identity only)");
        rep->accept_encoding = "identity";
        return false;
    }
    if (st->route->json_body) {
        /* API.md §1: application/json with any parameters, case-insensitive */
        const char *ct = mhd_header(st->conn, MHD_HTTP_HEADER_CONTENT_TYPE);
        size_t n = strlen("application/json");
        if (!ct || strncasecmp(ct, "application/json", n) != 0 ||
            (ct[n] != '\0' && ct[n] != ';' && ct[n] != ' ' && ct[n] != '\t')) {
            http_reply_error(rep, ERR_UNSUPPORTED_MEDIA_TYPE, NULL, NULL);
            return false;
        }
    }
    st->req.body = st->body;
    st->req.body_len = st->body_len;
    return true;
}

/* The reply is complete: MHD sends it. st belongs to MHD again from here: it may be freed at
 * any moment. */
static void resume_replied(struct req_state *st)
{
    st->replied = true;
    MHD_resume_connection(st->conn);
}

/* http_answer, and the worker once a deferring handler returned: the second of the two sends
 * the reply (so neither can free the request under the other). */
static void answer_deferred(struct http_request *req)
{
    struct req_state *st = (struct req_state *)((char *)req - offsetof(struct req_state, req));
    if (atomic_fetch_sub(&st->unanswered, 1) == 1)
        resume_replied(st);
}

/* A reply decided on this thread, from what this thread read: waits until that is durable. */
static void settle_here(struct http_server *srv, struct http_reply *rep)
{
    if (srv->cfg.settle_ticket)
        srv->cfg.settle(rep, srv->cfg.settle_ticket());
}

/* Under jobs_mu: wakes the idle worker on top of the stack for the oldest queued request, when
 * fewer than running_max run or it has waited too long (a worker can block where util/wait does
 * not see it: a page read from disk). */
static void wake_worker(struct http_server *srv)
{
    struct worker *w = srv->idle;
    if (!w || !srv->jobs_head)
        return;
    if (srv->running >= srv->running_max &&
        time_mono_us() - srv->jobs_head->queued_us < srv->run_wait_us)
        return;
    srv->idle = w->next_idle;
    w->woken = true;
    srv->running++;
    pthread_cond_signal(&w->cv);
}

/* util/wait hooks of a worker: while it waits on the database another may run. */
static void worker_waits(void *arg)
{
    struct http_server *srv = arg;
    pthread_mutex_lock(&srv->jobs_mu);
    srv->running--;
    wake_worker(srv);
    pthread_mutex_unlock(&srv->jobs_mu);
}

static void worker_runs(void *arg)
{
    struct http_server *srv = arg;
    pthread_mutex_lock(&srv->jobs_mu);
    srv->running++;
    pthread_mutex_unlock(&srv->jobs_mu);
}

/* Runs st's handler into rep, its stderr lines naming the request (log_request), then
 * cfg.handler_done on this thread. */
static void run_handler(struct req_state *st, struct http_server *srv, struct http_reply *rep)
{
    log_request(st->req.request_id);
    st->route->handler(&st->req, rep);
    if (srv->cfg.handler_done)
        srv->cfg.handler_done();
    log_request(NULL);
}

static void *worker_main(void *arg)
{
    pthread_setname_np(pthread_self(), "cm-worker"); /* for top -H, perf, gdb */
    struct worker *w = arg;
    struct http_server *srv = w->srv;
    const struct wait_hooks hooks = {.enter = worker_waits, .leave = worker_runs, .arg = srv};
    wait_hooks_set(&hooks);
    pthread_mutex_lock(&srv->jobs_mu);
    srv->running++;
    for (;;) {
        while (!srv->jobs_head && !srv->jobs_stop) {
            w->woken = false;
            w->next_idle = srv->idle;
            srv->idle = w;
            srv->running--;
            bool released = !srv->cfg.worker_idle;
            struct timespec until;
            clock_gettime(CLOCK_REALTIME, &until); /* the condition variable's clock */
            until.tv_sec += WORKER_IDLE_MS / 1000;
            while (!w->woken && !srv->jobs_stop) {
                if (released) {
                    pthread_cond_wait(&w->cv, &srv->jobs_mu);
                } else if (pthread_cond_timedwait(&w->cv, &srv->jobs_mu, &until) == ETIMEDOUT) {
                    /* still on the idle stack: a job may pop it meanwhile (woken) */
                    pthread_mutex_unlock(&srv->jobs_mu);
                    srv->cfg.worker_idle(srv->cfg.worker_idle_arg);
                    pthread_mutex_lock(&srv->jobs_mu);
                    released = true;
                }
            }
        }
        struct req_state *st = srv->jobs_head;
        if (!st)
            break;
        srv->jobs_head = st->next_job;
        if (!srv->jobs_head)
            srv->jobs_tail = NULL;
        pthread_mutex_unlock(&srv->jobs_mu);
        if (st->settle) {
            srv->cfg.settle(&st->reply, st->ticket);
            resume_replied(st);
        } else {
            run_handler(st, srv, &st->reply);
            if (st->req.deferred) {
                /* answered already, or to be answered by http_answer on another thread: a
                 * write answered after its commit is durable needs no settle */
                answer_deferred(&st->req);
            } else {
                settle_here(srv, &st->reply);
                resume_replied(st);
            }
        }
        pthread_mutex_lock(&srv->jobs_mu);
    }
    pthread_mutex_unlock(&srv->jobs_mu);
    wait_hooks_set(NULL);
    return NULL;
}

/* Queues a suspended connection's request for a worker. */
static void queue_job(struct req_state *st, struct http_server *srv)
{
    st->queued_us = time_mono_us();
    pthread_mutex_lock(&srv->jobs_mu);
    st->next_job = NULL;
    if (srv->jobs_tail)
        srv->jobs_tail->next_job = st;
    else
        srv->jobs_head = st;
    srv->jobs_tail = st;
    wake_worker(srv); /* or a running worker takes it when it is done */
    pthread_mutex_unlock(&srv->jobs_mu);
}

/* Suspends the connection until its handler answers (a worker's or a deferred answer). */
static void suspend_for_answer(struct req_state *st)
{
    MHD_suspend_connection(st->conn);
    st->req.answer_fn = answer_deferred; /* the handler may answer later */
    atomic_store(&st->unanswered, 2);
}

/* A route that defers, run here on the I/O thread (cfg.defer_on_io). Handing each update to a
 * worker cost a wake-up and a switch of thread and cache per request for a handler that only
 * reads a few pages and queues its write. Side by side on 2 cores (100,000 tasks, 32
 * connections, durable small-body updates, 7 pairs): the CPU of I/O thread and worker together
 * 0.061-0.073 ms an update instead of 0.068-0.092 (lower in every pair), req/s -8 to +12 %
 * (median +3 %); createTask +4 and +8 %, large-body updates +8 %. What would make it wait goes
 * to a worker after all: a handler that asks (http_run_on_worker: a jti to record), and a reply
 * decided from reads that saw a commit not yet synced, whose settle waits for that sync (the
 * ticket is taken here: what a thread read is known to that thread only).
 * A page the handler reads from disk (a cold cache) holds up this thread's other connections
 * for that read. */
static enum MHD_Result run_on_io(struct req_state *st, struct http_server *srv)
{
    /* the connection is suspended once the handler returned, and only when the answer is to
     * come from elsewhere: a deferred answer cannot resume it before (it needs the handler's
     * return too, answer_deferred). A reply made here goes out at once; suspending and resuming
     * for it cost two epoll_ctl, a write and a turn of the I/O thread's loop. */
    st->req.answer_fn = answer_deferred; /* the handler may answer later */
    atomic_store(&st->unanswered, 2);
    st->req.on_io = true;
    run_handler(st, srv, &st->reply);
    st->req.on_io = false;
    if (st->req.to_worker) {
        st->req.to_worker = false;
        MHD_suspend_connection(st->conn);
        queue_job(st, srv);
    } else if (st->req.deferred) {
        MHD_suspend_connection(st->conn);
        answer_deferred(&st->req);
    } else if (srv->cfg.settle_ticket && (st->ticket = srv->cfg.settle_ticket()) != 0) {
        st->settle = true;
        MHD_suspend_connection(st->conn);
        queue_job(st, srv);
    } else {
        return queue_reply(st, srv, &st->reply);
    }
    return MHD_YES;
}

/* Whether this I/O thread holds no more than its share of the open connections. Each thread of
 * MHD's pool accepts connections for itself, whichever is first, and keeps them: wrk's 8
 * connections all went to one of 2 threads in some runs. A list run on that thread then left the
 * other core idle (getTasks -14 to -26 % a second in those runs, the server's CPU at one core);
 * on a worker, both cores share the work. */
bool http_io_share_ok(unsigned mine, unsigned total, unsigned threads)
{
    if (threads == 0)
        threads = 1;
    return (unsigned long long)mine * threads * 4 <= (unsigned long long)total * 5 + 4ull * threads;
}

static bool io_share_ok(const struct http_server *srv)
{
    return http_io_share_ok(thread_connections, atomic_load(&open_connections), srv->cfg.threads);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version,
                                  const char *upload_data, size_t *upload_data_size,
                                  void **con_cls)
{
    struct http_server *srv = cls;
    struct req_state *st = *con_cls;
    if (!st) {
        st = xcalloc(1, sizeof *st);
        *con_cls = st;
        st->conn = conn;
        st->start_us = time_mono_us();
        st->req.method = method;
        st->req.path = target_path(url);
        st->req.header_fn = request_header;
        st->req.header_count_fn = request_header_count;
        st->req.header_list_fn = request_header_list;
        st->req.header_ctx = st;
        const union MHD_ConnectionInfo *ci =
            MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
        st->entry = ci ? ci->socket_context : NULL;
        atomic_fetch_add(&srv->in_flight, 1);
        assign_request_id(st);
        enum MHD_Result r;
        if (check_head(st, srv, url, version, &r))
            return r;
        return MHD_YES;
    }
    if (st->queued)
        return MHD_YES; /* rejected before the body; MHD closes the connection */
    if (st->replied) { /* resumed after a worker ran the handler */
        http_finish(&st->req, &st->reply); /* a deferred reply is built here */
        return queue_reply(st, srv, &st->reply);
    }
    if (*upload_data_size > 0) {
        size_t n = *upload_data_size;
        *upload_data_size = 0;
        if (st->overflow || st->no_memory)
            return MHD_YES; /* dropped: the answer is decided */
        if (st->body_len + n > srv->cfg.body_limit) {
            st->overflow = true; /* chunked body past the limit: answer 413 once it ends */
            return MHD_YES;
        }
        if (body_reserve(st, srv->cfg.body_limit, n) != 0) {
            /* MHD 0.9.75 queues no reply before the body has ended: the rest is dropped, and the
             * receive deadline (idle_timeout) bounds how long that takes */
            log_error("http: no memory for a body past %zu bytes: answered 503", st->body_len);
            st->no_memory = true;
            free(st->body);
            st->body = NULL;
            st->body_len = st->body_cap = 0;
            return MHD_YES;
        }
        memcpy(st->body + st->body_len, upload_data, n);
        st->body_len += n;
        return MHD_YES;
    }
    set_receiving(srv, st->entry, false);
    if (st->overflow) {
        char limit[BODY_LIMIT_MSG];
        return reject(st, srv, ERR_BODY_TOO_LARGE, body_limit_msg(srv, limit));
    }
    if (st->no_memory)
        return reject(st, srv, ERR_UNAVAILABLE,
                      "not enough memory for a body this large now; retry later");
    if (st->body)
        st->body[st->body_len] = '\0';
    struct http_reply rep = {0};
    if (!route_request(st, srv, st->req.path, method, &rep))
        return queue_reply(st, srv, &rep);
    if (st->route->fast || srv->nworkers == 0) {
        run_handler(st, srv, &rep);
        if (!st->route->fast)
            settle_here(srv, &rep);
        return queue_reply(st, srv, &rep);
    }
    if (st->route->defers && srv->cfg.defer_on_io && (!st->route->spread || io_share_ok(srv)))
        return run_on_io(st, srv);
    suspend_for_answer(st);
    queue_job(st, srv);
    return MHD_YES;
}

/* Keeps a duplicate of fd for the reaper to drain: when MHD closes its own descriptor the socket
 * stays open (with FIN sent after the answer) until the reaper closes ours. */
static void linger_close(struct http_server *srv, int fd)
{
    int dup_fd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
    if (dup_fd < 0)
        return;
    pthread_mutex_lock(&srv->reaper_mu);
    if (srv->nlingering < LINGER_MAX) {
        srv->lingering[srv->nlingering].fd = dup_fd;
        srv->lingering[srv->nlingering].deadline = time_mono_us() + LINGER_US;
        srv->nlingering++;
        dup_fd = -1;
        pthread_cond_signal(&srv->reaper_cv);
    }
    pthread_mutex_unlock(&srv->reaper_mu);
    if (dup_fd >= 0)
        close(dup_fd); /* too many at once: close now */
}

/* Reads and drops what lingering sockets received; closes those done. Under reaper_mu. */
static void drain_lingering(struct http_server *srv, bool all)
{
    char scratch[16384];
    int64_t now = time_mono_us();
    for (unsigned i = 0; i < srv->nlingering;) {
        struct lingering *l = &srv->lingering[i];
        bool done = all || now > l->deadline;
        for (int reads = 0; !done && reads < 64; reads++) {
            ssize_t n = recv(l->fd, scratch, sizeof scratch, MSG_DONTWAIT);
            if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR))
                done = true; /* the client closed too */
            if (n < 0)
                break;
        }
        if (done) {
            close(l->fd);
            *l = srv->lingering[--srv->nlingering];
        } else {
            i++;
        }
    }
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    (void)conn;
    struct http_server *srv = cls;
    struct req_state *st = *con_cls;
    if (!st)
        return;
    *con_cls = NULL;
    /* bytes are those sent: an answer queued when the client was gone (reset, timed out) never
     * was, and its line said the whole body */
    if (toe != MHD_REQUEST_TERMINATED_COMPLETED_OK)
        st->bytes = 0;
    if (st->replied && !st->queued) {
        /* The client left while its handler ran: MHD saw the socket closed once the connection
         * resumed, before on_request could send the answer. The reply is built all the same
         * (a deferred handler's finish frees what it holds) and the request logged and counted
         * with the status it would have been answered with; nothing was sent. Nothing else
         * touches st now: whoever resumed the connection was done with it. */
        http_finish(&st->req, &st->reply);
        st->status = st->reply.status;
        st->bytes = 0;
    }
    if (srv->cfg.on_complete) {
        /* status 0: no answer went out, the request never came whole (its client went silent
         * past the receive deadline, or left); it was neither logged nor counted, so a slow
         * client's attack showed nowhere. A request refused before its handler (405, 413, 414,
         * 431, framing) on an endpoint's path is counted under that endpoint, not with the
         * unknown paths. */
        const struct http_route *r = st->route;
        if (!r && st->req.path)
            r = http_route_for_path(srv->cfg.routes, srv->cfg.route_count, st->req.path);
        srv->cfg.on_complete(&st->req, r ? r->name : NULL, st->status, st->bytes,
                             time_mono_us() - st->start_us);
    }
    set_receiving(srv, st->entry, true); /* keep-alive: the next request's deadline starts now */
    if (st->linger && st->entry && st->entry->fd >= 0)
        linger_close(srv, st->entry->fd);
    atomic_fetch_sub(&srv->in_flight, 1);
    http_reply_cleanup(&st->reply);
    free(st->body);
    free(st->scratch);
    while (st->trimmed) {
        struct trimmed *t = st->trimmed;
        st->trimmed = t->next;
        free(t);
    }
    free(st);
}

static void on_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
                          enum MHD_ConnectionNotificationCode toe)
{
    struct http_server *srv = cls;
    if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
        atomic_fetch_add(&open_connections, 1);
        thread_connections++;
        const union MHD_ConnectionInfo *ci =
            MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
        struct conn_entry *e = xcalloc(1, sizeof *e);
        e->fd = ci ? ci->connect_fd : -1;
        e->receiving = true;
        e->phase_start = time_mono_us();
        pthread_mutex_lock(&srv->conns_mu);
        e->next = srv->conns;
        if (srv->conns)
            srv->conns->prev = e;
        srv->conns = e;
        pthread_mutex_unlock(&srv->conns_mu);
        *socket_context = e;
    } else if (toe == MHD_CONNECTION_NOTIFY_CLOSED) {
        atomic_fetch_sub(&open_connections, 1);
        if (thread_connections > 0) /* a daemon stopping may close them from another thread */
            thread_connections--;
        struct conn_entry *e = *socket_context;
        if (!e)
            return;
        pthread_mutex_lock(&srv->conns_mu);
        if (e->prev)
            e->prev->next = e->next;
        else
            srv->conns = e->next;
        if (e->next)
            e->next->prev = e->prev;
        pthread_mutex_unlock(&srv->conns_mu);
        free(e);
        *socket_context = NULL;
    }
}

/* Closes connections that have been receiving one request for longer than the idle timeout,
 * however many bytes they trickled (slowloris). shutdown() under conns_mu: MHD removes the
 * entry (NOTIFY_CLOSED) before it closes the fd, so the fd cannot have been reused. */
#define MEM_KEEP_FREE (64u << 20) /* free heap kept for the next requests (mem_release_idle) */

static void *reaper_main(void *arg)
{
    pthread_setname_np(pthread_self(), "cm-reaper"); /* for top -H, perf, gdb */
    struct http_server *srv = arg;
    int64_t released_at = 0;
    pthread_mutex_lock(&srv->reaper_mu);
    while (!srv->reaper_stop) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        if (srv->nlingering) { /* drain promptly while sockets linger */
            ts.tv_nsec += 20L * 1000 * 1000;
            if (ts.tv_nsec >= 1000000000) {
                ts.tv_sec++;
                ts.tv_nsec -= 1000000000;
            }
        } else {
            ts.tv_sec += 1;
        }
        pthread_cond_timedwait(&srv->reaper_cv, &srv->reaper_mu, &ts);
        drain_lingering(srv, srv->reaper_stop);
        if (srv->reaper_stop)
            break;
        int64_t limit = (int64_t)srv->cfg.idle_timeout * 1000000;
        int64_t now = time_mono_us();
        if (now - released_at >= 1000000) {
            mem_release_idle(MEM_KEEP_FREE);
            released_at = now;
        }
        pthread_mutex_lock(&srv->conns_mu);
        for (struct conn_entry *e = srv->conns; e; e = e->next) {
            if (e->receiving && e->fd >= 0 && now - e->phase_start > limit) {
                shutdown(e->fd, SHUT_RDWR);
                e->receiving = false;
            }
        }
        pthread_mutex_unlock(&srv->conns_mu);
    }
    pthread_mutex_unlock(&srv->reaper_mu);
    return NULL;
}

static char bind_error[128]; /* why MHD could not bind (set while a daemon starts) */

__attribute__((format(printf, 2, 0))) static void mhd_log(void *cls, const char *fmt, va_list ap)
{
    (void)cls;
    char msg[512];
    vsnprintf(msg, sizeof msg, fmt, ap);
    size_t n = strlen(msg);
    while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
        msg[--n] = '\0';
    /* MHD names the port it was given, 0 (the address comes in MHD_OPTION_SOCK_ADDR): the
     * reason goes into http_server_start's own message, which names the address */
    static const char bind_failed[] = "Failed to bind to port ";
    if (strncmp(msg, bind_failed, sizeof bind_failed - 1) == 0) {
        const char *why = strstr(msg, ": ");
        snprintf(bind_error, sizeof bind_error, "%.100s", why ? why + 2 : msg);
        return;
    }
    log_info("http: %s", msg);
}

static int resolve(const char *host, uint16_t port, struct sockaddr_storage *out, bool *v6)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_PASSIVE};
    struct addrinfo *res = NULL;
    char portstr[8];
    snprintf(portstr, sizeof portstr, "%u", port);
    if (getaddrinfo(host, portstr, &hints, &res) != 0 || !res)
        return -1;
    memcpy(out, res->ai_addr, res->ai_addrlen);
    *v6 = res->ai_family == AF_INET6;
    freeaddrinfo(res);
    return 0;
}

/* Stops the reaper thread, if it runs; it closes what still lingers. */
static void stop_reaper(struct http_server *srv)
{
    if (!srv->reaper_started)
        return;
    pthread_mutex_lock(&srv->reaper_mu);
    srv->reaper_stop = true;
    pthread_cond_signal(&srv->reaper_cv);
    pthread_mutex_unlock(&srv->reaper_mu);
    pthread_join(srv->reaper, NULL);
    srv->reaper_started = false;
}

/* Stops the worker pool (the daemon is stopped, or never ran: no job can come) and frees what
 * http_server_start set up except srv itself. */
static void stop_workers_and_free(struct http_server *srv)
{
    pthread_mutex_lock(&srv->jobs_mu);
    srv->jobs_stop = true; /* the queue is empty: nothing is in flight any more */
    for (unsigned i = 0; i < srv->nworkers; i++)
        pthread_cond_signal(&srv->workers[i].cv);
    pthread_mutex_unlock(&srv->jobs_mu);
    for (unsigned i = 0; i < srv->nworkers; i++) {
        pthread_join(srv->workers[i].thread, NULL);
        pthread_cond_destroy(&srv->workers[i].cv);
    }
    free(srv->workers);
    pthread_mutex_destroy(&srv->jobs_mu);
    pthread_cond_destroy(&srv->reaper_cv);
    pthread_mutex_destroy(&srv->reaper_mu);
    pthread_mutex_destroy(&srv->conns_mu);
}

struct http_server *http_server_start(const struct http_server_config *cfg, char **err)
{
    struct sockaddr_storage addr;
    bool v6 = false;
    if (resolve(cfg->host, cfg->port, &addr, &v6) != 0) {
        *err = xstrdup("cannot resolve the listen address");
        return NULL;
    }
    struct http_server *srv = xcalloc(1, sizeof *srv);
    srv->cfg = *cfg;
    pthread_mutex_init(&srv->conns_mu, NULL);
    pthread_mutex_init(&srv->reaper_mu, NULL);
    pthread_cond_init(&srv->reaper_cv, NULL);
    pthread_mutex_init(&srv->jobs_mu, NULL);
    /* The pool and the reaper exist before the daemon: MHD's threads answer requests from the
     * moment it starts, and read nworkers without a lock. */
    srv->workers = xcalloc(cfg->workers ? cfg->workers : 1, sizeof *srv->workers);
    srv->running_max = 2 * (cfg->threads ? cfg->threads : 1);
    srv->run_wait_us = cfg->run_wait_us > 0 ? cfg->run_wait_us : RUN_WAIT_US;
    for (unsigned i = 0; i < cfg->workers; i++) {
        struct worker *w = &srv->workers[i];
        w->srv = srv;
        pthread_cond_init(&w->cv, NULL);
        if (pthread_create(&w->thread, NULL, worker_main, w) != 0) {
            pthread_cond_destroy(&w->cv);
            break;
        }
        srv->nworkers++;
    }
    if (pthread_create(&srv->reaper, NULL, reaper_main, srv) != 0) {
        *err = xstrdup("cannot start the connection reaper thread");
        goto fail;
    }
    srv->reaper_started = true;
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME |
                     MHD_USE_ERROR_LOG | (v6 ? MHD_USE_IPv6 : 0);
    /* The connection pool must hold the request line and headers; keep room above the limit so
     * check_head answers 431 itself for anything up to the pool size. */
    size_t pool = cfg->header_limit * 2 + 16384;
    /* No MHD_OPTION_LISTENING_ADDRESS_REUSE: its 1 is SO_REUSEPORT on Linux, with which a second
     * server started on the same address listened too and the two shared the traffic. MHD sets
     * SO_REUSEADDR by default, which is what a restart needs while the old connections are in
     * TIME_WAIT (08-ops tests both). */
    bind_error[0] = '\0';
    srv->daemon = MHD_start_daemon(
        flags, 0, NULL, NULL, on_request, srv, MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL,
        MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&addr,
        MHD_OPTION_THREAD_POOL_SIZE, (unsigned int)(cfg->threads ? cfg->threads : 1),
        MHD_OPTION_CONNECTION_LIMIT, (unsigned int)cfg->max_connections,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)cfg->idle_timeout,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, pool, MHD_OPTION_NOTIFY_COMPLETED, on_completed, srv,
        MHD_OPTION_NOTIFY_CONNECTION, on_connection, srv, MHD_OPTION_UNESCAPE_CALLBACK,
        unescape_keeping_nul, NULL, MHD_OPTION_END);
    if (!srv->daemon) {
        char why[192];
        snprintf(why, sizeof why, "cannot listen: %s",
                 bind_error[0] ? bind_error : "address in use or not available?");
        *err = xstrdup(why);
        goto fail;
    }
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(srv->daemon, MHD_DAEMON_INFO_BIND_PORT);
    srv->port = di ? di->port : cfg->port;
    return srv;
fail:
    stop_reaper(srv);
    stop_workers_and_free(srv);
    free(srv);
    return NULL;
}

uint16_t http_server_port(const struct http_server *srv)
{
    return srv->port;
}

int http_server_drain(struct http_server *srv, int timeout_ms)
{
    atomic_store(&srv->draining, true);
    /* MHD's threads still use the listening socket after quiescing (each takes it out of its
     * epoll set in its own time, and aborts if that fails): its manual says to close it only
     * after MHD_stop_daemon. shutdown() stops listening now, so new clients are refused. */
    MHD_socket lsock = MHD_quiesce_daemon(srv->daemon);
    if (lsock != MHD_INVALID_SOCKET)
        shutdown(lsock, SHUT_RDWR);
    int64_t deadline = time_mono_us() + (int64_t)timeout_ms * 1000;
    while (atomic_load(&srv->in_flight) > 0 && time_mono_us() < deadline) {
        struct timespec ts = {0, 10L * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    int left = atomic_load(&srv->in_flight);
    if (left > 0)
        return left;
    stop_reaper(srv);
    MHD_stop_daemon(srv->daemon);
    if (lsock != MHD_INVALID_SOCKET)
        close(lsock);
    stop_workers_and_free(srv);
    free(srv);
    return 0;
}
