/* casemgr — the case-management server and its administration commands (API.md §9). */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <sys/resource.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "admin/cli.h"
#include "api/api.h"
#include "http/server.h"
#include "ops/accesslog.h"
#include "ops/health.h"
#include "ops/metrics.h"
#include "util/jarena.h"
#include "util/log.h"
#include "util/mem.h"

/* --max-name's largest value on PostgreSQL: it indexes a name whole, lower-cased (records_name),
 * and refuses an index entry past ~2.7 KB; lower-casing can make a name half as long again
 * (U+023A, 2 bytes, becomes U+2C65, 3), and the entry also holds the tenant's ids */
#define MAX_NAME_LIMIT 1536
/* --body-limit's largest value: a body is held whole and parsed into a tree several times its
 * size, and the default limits of a member (64 KiB strings, 10,000 elements) fill far less */
#define BODY_LIMIT_MAX (256u << 20)
#define HEADER_LIMIT_MIN 1024
#define HEADER_LIMIT_MAX 65536

#define ACCESSLOG_STOP_MS 1000 /* how long a stop waits for stdout to take the queued lines */

struct serve_opts {
    char host[256];
    unsigned port;
    const char *db, *key_file;
    unsigned threads, workers;
    size_t body_limit, header_limit, max_depth, max_string, max_array, max_name;
    unsigned idle_timeout, max_connections, drain_timeout, checkpoint_pages;
    long max_token_age;
    bool durability_normal, access_log, help;
};

static void serve_usage(FILE *out)
{
    fputs(
        "usage: casemgr serve [options]\n"
        "  --listen HOST:PORT      address to serve on (default 127.0.0.1:8080; port 0 = any)\n"
        "  --db URL                sqlite:PATH (default sqlite:./data/casemgr.db, or CASEMGR_DB),\n"
        "                          or postgres://USER@HOST:PORT/DB (see docs/operations.md)\n"
        "  --key-file PATH         app-secret key (default <sqlite path>.key, for PostgreSQL\n"
        "                          ./data/casemgr.key; or CASEMGR_KEY_FILE)\n"
        "  --threads N             I/O threads (default: number of cores; at most 1024)\n"
        "  --workers N             threads running requests that wait on the database (64, at\n"
        "                          most 4096);\n"
        "                          2 x --threads of them run at once, and those waiting on\n"
        "                          the database do not count\n"
        "  --durability full|normal\n"
        "                          full (default): a 2xx to a write means it is on disk (fsync per\n"
        "                          commit). normal: faster; a power loss or OS crash may lose the\n"
        "                          last acknowledged writes (a process crash loses nothing).\n"
        "  --body-limit BYTES      largest request body (default 1048576, at most 268435456;\n"
        "                          413 beyond)\n"
        "  --header-limit BYTES    largest request line + headers (default 16384, 1024 to 65536;\n"
        "                          431 beyond)\n"
        "  --max-depth N           deepest JSON nesting (default 32)\n"
        "  --max-string BYTES      longest JSON string (default 65536)\n"
        "  --max-array N           longest JSON array (default 10000)\n"
        "  --max-name BYTES        longest name of a case or task, and Title field (default 1024,\n"
        "                          at most 1536 on PostgreSQL, which indexes names whole)\n"
        "  --idle-timeout SECONDS  close connections idle or trickling a request this long (30;\n"
        "                          at most 86400)\n"
        "  --max-connections N     connections at once (default 1024, at most 65536)\n"
        "  --max-token-age SECONDS oldest iat accepted for tokens without exp (default 3600;\n"
        "                          with the 60 s leeway of exp and nbf)\n"
        "  --access-log on|off     one JSON line per request on stdout (default on)\n"
        "  --drain-timeout SECONDS on SIGTERM or SIGINT, how long requests in flight may take to\n"
        "                          finish (default 30, 0 to 3600); past it the server exits 1\n"
        "                          without them\n"
        "  --checkpoint-pages N    SQLite: pages written to the WAL after a checkpoint's copy\n"
        "                          that start the next (default 8000, at most 65536); fewer keep\n"
        "                          the WAL small, more cost less\n"
        "a count or time past its most is taken as that most; a limit past it is refused\n",
        out);
}

static int parse_listen(const char *s, struct serve_opts *o)
{
    const char *colon = strrchr(s, ':');
    if (!colon)
        return -1;
    const char *h = s;
    size_t hlen = (size_t)(colon - s);
    if (hlen >= 2 && h[0] == '[' && h[hlen - 1] == ']') {
        h++;
        hlen -= 2;
    }
    if (hlen == 0 || hlen >= sizeof o->host)
        return -1;
    memcpy(o->host, h, hlen);
    o->host[hlen] = '\0';
    char *end = NULL;
    unsigned long port = strtoul(colon + 1, &end, 10);
    if (!colon[1] || *end || port > 65535)
        return -1;
    o->port = (unsigned)port;
    return 0;
}

enum { O_LISTEN = 256, O_DB, O_KEY, O_DUR, O_THREADS, O_WORKERS, O_BODY, O_HEADER, O_DEPTH,
       O_STRING, O_ARRAY, O_NAME, O_IDLE, O_CONNS, O_AGE, O_LOG, O_DRAIN, O_CKPT, O_HELP };

static const struct option serve_longopts[] = {
    {"listen", required_argument, NULL, O_LISTEN},
    {"db", required_argument, NULL, O_DB},
    {"key-file", required_argument, NULL, O_KEY},
    {"threads", required_argument, NULL, O_THREADS},
    {"workers", required_argument, NULL, O_WORKERS},
    {"durability", required_argument, NULL, O_DUR},
    {"body-limit", required_argument, NULL, O_BODY},
    {"header-limit", required_argument, NULL, O_HEADER},
    {"max-depth", required_argument, NULL, O_DEPTH},
    {"max-string", required_argument, NULL, O_STRING},
    {"max-array", required_argument, NULL, O_ARRAY},
    {"max-name", required_argument, NULL, O_NAME},
    {"idle-timeout", required_argument, NULL, O_IDLE},
    {"max-connections", required_argument, NULL, O_CONNS},
    {"max-token-age", required_argument, NULL, O_AGE},
    {"access-log", required_argument, NULL, O_LOG},
    {"drain-timeout", required_argument, NULL, O_DRAIN},
    {"checkpoint-pages", required_argument, NULL, O_CKPT},
    {"help", no_argument, NULL, O_HELP},
    {NULL, 0, NULL, 0},
};

/* The numeric options: whole numbers from min; past max a count (threads, connections, a
 * timeout) is taken as max, a limit is refused. --header-limit's bounds: below 1 KiB a request
 * line and a token do not fit; MHD's per-connection pool is twice it and more, and past a size
 * every connection failed ("Error allocating memory"). */
static const struct num_opt {
    int id;
    unsigned long long min, max;
    bool clamp;
} num_opts[] = {
    {O_THREADS, 1, 1024, true},
    {O_WORKERS, 1, 4096, true},
    {O_BODY, 1, BODY_LIMIT_MAX, false},
    {O_HEADER, HEADER_LIMIT_MIN, HEADER_LIMIT_MAX, false},
    {O_DEPTH, 1, 1ULL << 40, false},
    {O_STRING, 1, 1ULL << 40, false},
    {O_ARRAY, 1, 1ULL << 40, false},
    {O_NAME, 1, 1ULL << 40, false},
    {O_IDLE, 1, 86400, true},
    {O_CONNS, 1, 65536, true},
    {O_AGE, 1, 1ULL << 40, false},
    {O_DRAIN, 0, 3600, true},
    {O_CKPT, 1, 65536, true},
};

static const char *option_name(int id)
{
    for (const struct option *lo = serve_longopts; lo->name; lo++)
        if (lo->val == id)
            return lo->name;
    return "?";
}

/* Reads the value of numeric option id into *out; -1 with a message naming the option. */
static int parse_number(int id, const char *s, unsigned long long *out)
{
    const struct num_opt *n = NULL;
    for (size_t i = 0; i < sizeof num_opts / sizeof num_opts[0]; i++)
        if (num_opts[i].id == id)
            n = &num_opts[i];
    if (!n)
        return -1;
    char *end = NULL;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    bool whole = *s >= '0' && *s <= '9' && !*end && errno == 0;
    if (whole && v >= n->min && (v <= n->max || n->clamp)) {
        *out = v > n->max ? n->max : v;
        return 0;
    }
    if (n->clamp)
        fprintf(stderr, "casemgr: serve --%s %s: must be a whole number of at least %llu (more than "
                        "%llu is taken as %llu)\n", option_name(id), s, n->min, n->max, n->max);
    else
        fprintf(stderr, "casemgr: serve --%s %s: must be a whole number from %llu to %llu\n",
                option_name(id), s, n->min, n->max);
    return -1;
}

/* One option and its value into o; -1 with a message naming the option. */
static int serve_option(int c, const char *arg, struct serve_opts *o)
{
    unsigned long long v = 0;
    switch (c) {
    case O_LISTEN:
        if (parse_listen(arg, o) == 0)
            return 0;
        fprintf(stderr, "casemgr: serve --listen %s: expected HOST:PORT (PORT 0-65535, [ADDR]:PORT "
                        "for IPv6)\n", arg);
        return -1;
    case O_DB: o->db = arg; return 0;
    case O_KEY: o->key_file = arg; return 0;
    case O_DUR:
        if (strcmp(arg, "full") != 0 && strcmp(arg, "normal") != 0) {
            fprintf(stderr, "casemgr: serve --durability %s: expected full or normal\n", arg);
            return -1;
        }
        o->durability_normal = strcmp(arg, "normal") == 0;
        return 0;
    case O_LOG:
        if (strcmp(arg, "on") != 0 && strcmp(arg, "off") != 0) {
            fprintf(stderr, "casemgr: serve --access-log %s: expected on or off\n", arg);
            return -1;
        }
        o->access_log = strcmp(arg, "on") == 0;
        return 0;
    case O_HELP: o->help = true; return 0;
    default: break;
    }
    if (parse_number(c, arg, &v) != 0)
        return -1;
    switch (c) {
    case O_THREADS: o->threads = (unsigned)v; break;
    case O_WORKERS: o->workers = (unsigned)v; break;
    case O_BODY: o->body_limit = (size_t)v; break;
    case O_HEADER: o->header_limit = (size_t)v; break;
    case O_DEPTH: o->max_depth = (size_t)v; break;
    case O_STRING: o->max_string = (size_t)v; break;
    case O_ARRAY: o->max_array = (size_t)v; break;
    case O_NAME: o->max_name = (size_t)v; break;
    case O_IDLE: o->idle_timeout = (unsigned)v; break;
    case O_CONNS: o->max_connections = (unsigned)v; break;
    case O_AGE: o->max_token_age = (long)v; break;
    case O_DRAIN: o->drain_timeout = (unsigned)v; break;
    case O_CKPT: o->checkpoint_pages = (unsigned)v; break;
    default: return -1;
    }
    return 0;
}

/* serve's options into o; -1 with a message on stderr naming what is wrong (the whole usage
 * said nothing of which option or why). */
static int parse_serve(int argc, char **argv, struct serve_opts *o)
{
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    *o = (struct serve_opts){
        .host = "127.0.0.1", .port = 8080, .threads = cores > 0 ? (unsigned)cores : 2, .workers = 64,
        .body_limit = 1 << 20, .header_limit = 16384, .max_depth = 32, .max_string = 65536,
        .max_array = 10000, .max_name = 1024, .idle_timeout = 30, .max_connections = 1024,
        .max_token_age = 3600, .drain_timeout = 30,
        .access_log = true,
    };
    optind = 1;
    opterr = 0; /* the messages are ours, naming the option */
    int c;
    /* NOLINTNEXTLINE(concurrency-mt-unsafe): options are parsed before any thread starts */
    while ((c = getopt_long(argc, argv, "h", serve_longopts, NULL)) != -1) {
        if (c == 'h')
            c = O_HELP; /* -h, as on every other command */
        if (c == '?') {
            if (optopt >= O_LISTEN)
                fprintf(stderr, "casemgr: serve --%s needs a value\n", option_name(optopt));
            else
                fprintf(stderr, "casemgr: serve: unknown option %s\n", argv[optind - 1]);
            return -1;
        }
        if (serve_option(c, optarg, o) != 0)
            return -1;
    }
    if (optind < argc) {
        fprintf(stderr, "casemgr: serve: unexpected argument %s\n", argv[optind]);
        return -1;
    }
    return 0;
}

static void on_complete(const struct http_request *req, const char *route, unsigned status,
                        size_t bytes, int64_t micros)
{
    metrics_request(route, status, micros);
    accesslog_write(req, status, bytes, micros);
}

/* Descriptors a server needs besides its client connections: a database connection for each
 * worker and I/O thread and the store's own threads (SQLite opens the database and its WAL for
 * each: two), libmicrohttpd's epoll and event descriptors of each I/O thread (two), and a margin
 * for the listening socket, the key file, stdio and the like. */
static unsigned long descriptors_reserved(const struct serve_opts *o, bool sqlite)
{
    unsigned long conns = (unsigned long)o->workers + o->threads + 4;
    return (sqlite ? 2 * conns : conns) + 2ul * o->threads + 64;
}

/* Raises the open-file limit to its hard limit, and lowers --max-connections to what the limit
 * leaves beside the database connections. At the limit, accepted connections took the
 * descriptors the workers' database connections needed: every client, of every tenant, was
 * answered 503 "the database is unavailable" (or accept stopped). 0, or -1 when not even a few
 * connections fit. */
static int fit_descriptors(struct serve_opts *o, bool sqlite)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return 0;
    if (rl.rlim_cur < rl.rlim_max) {
        struct rlimit raised = {rl.rlim_max, rl.rlim_max};
        if (setrlimit(RLIMIT_NOFILE, &raised) == 0)
            rl = raised;
    }
    unsigned long reserved = descriptors_reserved(o, sqlite);
    if (rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur >= reserved + o->max_connections)
        return 0;
    if (rl.rlim_cur < reserved + 16) {
        log_error("the open-file limit (%lu) leaves no room for connections beside the %lu "
                  "descriptors --workers %u and --threads %u need: raise it (ulimit -n, "
                  "LimitNOFILE=) or lower --workers or --threads",
                  (unsigned long)rl.rlim_cur, reserved, o->workers, o->threads);
        return -1;
    }
    unsigned fit = (unsigned)(rl.rlim_cur - reserved);
    log_error("--max-connections %u lowered to %u: the open-file limit is %lu (ulimit -n, "
              "LimitNOFILE=), %lu of it kept for database connections",
              o->max_connections, fit, (unsigned long)rl.rlim_cur, reserved);
    o->max_connections = fit;
    return 0;
}

/* http_server_config.worker_idle: a worker idle a while gives back its connection. */
static void worker_idle(void *store)
{
    store_release_idle(store);
}

static int serve(int argc, char **argv)
{
    struct serve_opts o;
    if (parse_serve(argc, argv, &o) != 0) {
        fputs("casemgr: serve --help lists the options\n", stderr);
        return 2;
    }
    if (o.help) {
        serve_usage(stdout); /* asked for: on stdout, and no error */
        return 0;
    }
    const char *db_url = cli_db_url(o.db);
    if (o.max_name > MAX_NAME_LIMIT && strncmp(db_url, "postgres", 8) == 0) {
        fprintf(stderr, "casemgr: --max-name is at most %d bytes on PostgreSQL (it indexes names "
                        "whole)\n", MAX_NAME_LIMIT);
        return 2;
    }
    /* Signals are taken by sigwait in this thread only, and blocked before any other thread
     * starts (the store's writer, syncer and checkpointer first), so each inherits the mask and
     * none takes them by their default action: a SIGHUP during the drain went to the writer and
     * ended the process; one that comes then, or a second SIGTERM, now waits unread. SIGHUP's
     * default action ended the process at once, without a drain, when a terminal closed or a log
     * rotator sent it; it is logged and ignored (the access log is stdout: no file to reopen). */
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    char *key_path = cli_key_path(o.key_file, db_url);
    struct api_config cfg = {
        .policy = {.leeway = 60, .max_age = o.max_token_age},
        .limits = {.max_depth = o.max_depth, .max_string = o.max_string,
                   .max_array = o.max_array, .max_name = o.max_name},
    };
    char *err = NULL;
    struct store_options so = {.durability = o.durability_normal ? STORE_DURABILITY_NORMAL
                                                                  : STORE_DURABILITY_FULL,
                               .connections = o.workers + 2,
                               .checkpoint_pages = o.checkpoint_pages};
    cfg.store = store_open(db_url, &so, &err);
    if (!cfg.store) {
        log_error("cannot open the database: %s", err ? err : "?");
        free(err);
        free(key_path);
        return 1;
    }
    if (auth_keyring_open(key_path, cfg.store, &cfg.keys, &err) != 0) {
        log_error("key file %s: %s", key_path, err);
        free(err);
        free(key_path);
        store_close(cfg.store);
        return 1;
    }
    free(key_path);
    api_init(&cfg);
    health_init(cfg.store);
    accesslog_enable(o.access_log);
    if (o.access_log)
        accesslog_start(); /* after the signal mask: its thread inherits it */

    (void)signal(SIGPIPE, SIG_IGN); /* cannot fail with a valid signal number */
    if (fit_descriptors(&o, store_path(cfg.store) != NULL) != 0) {
        (void)accesslog_stop(ACCESSLOG_STOP_MS);
        store_close(cfg.store);
        return 1;
    }

    size_t nroutes;
    const struct http_route *routes = api_routes(&nroutes);
    struct http_server_config hc = {
        .host = o.host, .port = (uint16_t)o.port, .threads = o.threads, .workers = o.workers,
        .body_limit = o.body_limit, .header_limit = o.header_limit,
        .idle_timeout = o.idle_timeout, .max_connections = o.max_connections,
        .routes = routes, .route_count = nroutes, .on_complete = on_complete,
        .settle_ticket = api_settle_ticket, .settle = api_settle_reply,
        .handler_done = api_handler_done,
        .defer_on_io = store_io_safe(cfg.store),
        .worker_idle = worker_idle, .worker_idle_arg = cfg.store,
    };
    struct http_server *srv = http_server_start(&hc, &err);
    if (!srv) {
        log_error("%s:%u: %s", o.host, o.port, err ? err : "?");
        free(err);
        (void)accesslog_stop(ACCESSLOG_STOP_MS);
        store_close(cfg.store);
        return 1;
    }
    bool v6 = strchr(o.host, ':') != NULL;
    fprintf(stderr, "casemgr: listening on %s%s%s:%u\n", v6 ? "[" : "", o.host, v6 ? "]" : "",
            http_server_port(srv));
    fflush(stderr);
    int sig = 0;
    while (sigwait(&sigs, &sig) != 0 || sig == SIGHUP) {
        if (sig == SIGHUP)
            log_info("signal %d (SIGHUP): ignored; SIGTERM or SIGINT drains and stops", sig);
        sig = 0;
    }
    log_info("signal %d: draining requests in flight", sig);
    int left = http_server_drain(srv, (int)o.drain_timeout * 1000);
    if (left > 0) {
        /* like a crash to them: none was answered, and what was acknowledged is on disk */
        log_error("%d request%s still in flight after the %u s drain (--drain-timeout): exiting "
                  "without them", left, left == 1 ? "" : "s", o.drain_timeout);
        (void)accesslog_stop(ACCESSLOG_STOP_MS);
        (void)fflush(stdout);
        (void)fflush(stderr);
        _exit(1);
    }
    (void)accesslog_stop(ACCESSLOG_STOP_MS);
    store_close(cfg.store);
    log_info("stopped");
    return 0;
}

int main(int argc, char **argv)
{
    json_set_alloc_funcs(jarena_malloc, jarena_free); /* the heap outside a scope */
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        /* asked for: on stdout, as every command's --help; none given: an error, on stderr */
        fputs("usage: casemgr serve|app|token|stream|template|status|priority ... "
              "(--help on any of them; see README.md)\n",
              argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (strcmp(argv[1], "serve") == 0)
        return serve(argc - 1, argv + 1);
    if (cli_is_command(argv[1]))
        return cli_main(argc - 1, argv + 1);
    fprintf(stderr, "casemgr: unknown command %s\n", argv[1]);
    return 2;
}
