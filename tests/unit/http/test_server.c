/* Unit tests for http/server: how many workers run handlers at once. At most 2 x the I/O threads
 * run; a worker that announces a wait (util/wait) does not count; a queued request wakes another
 * worker past the limit once it has waited run_wait_us. A real server on a loopback port, with a
 * route whose handler sleeps, and one client thread per request. Then where a route that defers
 * runs (defer_on_io): on the I/O thread, or on a worker when it asks or its reply must wait for
 * the sync of what it read (settled with the ticket taken where it read); and that every run of
 * a handler is followed by handler_done on its thread. */
#include <criterion/criterion.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "http/server.h"
#include "util/wait.h"

#define CLIENTS 6

static atomic_int now_running, most_running;
static atomic_bool announce; /* the handler says it waits (as the store does) */

static void sleep_ms(long ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static void slow_handler(struct http_request *req, struct http_reply *rep)
{
    (void)req;
    int n = atomic_fetch_add(&now_running, 1) + 1;
    int most = atomic_load(&most_running);
    while (n > most && !atomic_compare_exchange_weak(&most_running, &most, n))
        ;
    if (atomic_load(&announce))
        wait_enter();
    sleep_ms(400); /* long enough for all six to overlap, also on a busy machine */
    if (atomic_load(&announce))
        wait_leave();
    atomic_fetch_sub(&now_running, 1);
    http_reply_text(rep, 200, "text/plain", "ok", 2);
}

static const struct http_route routes[] = {
    {"POST", "/slow", "slow", slow_handler, false, false, false, false},
};

struct client {
    pthread_t thread;
    uint16_t port;
    long delay_ms;    /* before it connects */
    const char *path; /* NULL: /slow */
    int status;
};

/* One POST /slow on its own connection; the status line's code, or -1. */
static void *client_main(void *arg)
{
    struct client *c = arg;
    c->status = -1;
    sleep_ms(c->delay_ms);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(c->port)};
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    struct timeval tv = {.tv_sec = 20}; /* a reply that never comes fails the test, not hangs it */
    if (fd >= 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        if (fd >= 0)
            close(fd);
        return NULL;
    }
    char req[256];
    int len = snprintf(req, sizeof req, "POST %s HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n",
                       c->path ? c->path : "/slow");
    char buf[512];
    ssize_t n = -1;
    if (write(fd, req, (size_t)len) == (ssize_t)len)
        n = read(fd, buf, sizeof buf - 1);
    if (n > 12) {
        buf[n] = '\0';
        sscanf(buf, "HTTP/1.1 %d", &c->status);
    }
    close(fd);
    return NULL;
}

/* Starts a server on a free loopback port with one I/O thread and the test's limits, and what
 * cfg sets beyond them. */
static struct http_server *start(struct http_server_config *cfg)
{
    cfg->host = "127.0.0.1";
    cfg->threads = 1;
    cfg->body_limit = 1024;
    cfg->header_limit = 8192;
    cfg->idle_timeout = 30;
    cfg->max_connections = 64;
    char *err = NULL;
    struct http_server *srv = http_server_start(cfg, &err);
    cr_assert_not_null(srv, "%s", err ? err : "?");
    return srv;
}

/* Serves CLIENTS requests at once with one I/O thread (2 workers may run) and returns how many
 * handlers ran at the same time, at most. */
static int most_at_once(bool announced, int64_t run_wait_us)
{
    atomic_store(&now_running, 0);
    atomic_store(&most_running, 0);
    atomic_store(&announce, announced);
    struct http_server_config cfg = {.workers = 8, .run_wait_us = run_wait_us, .routes = routes,
                                     .route_count = 1};
    struct http_server *srv = start(&cfg);
    struct client c[CLIENTS] = {0};
    for (int i = 0; i < CLIENTS; i++) {
        c[i].port = http_server_port(srv);
        c[i].delay_ms = i < 2 ? 0 : 10L * i; /* two at once, then one every 10 ms */
        cr_assert_eq(pthread_create(&c[i].thread, NULL, client_main, &c[i]), 0);
    }
    for (int i = 0; i < CLIENTS; i++) {
        pthread_join(c[i].thread, NULL);
        cr_expect_eq(c[i].status, 200, "request %d", i);
    }
    http_server_drain(srv, 5000);
    return atomic_load(&most_running);
}

TestSuite(http_server, .timeout = 60);

Test(http_server, at_most_twice_the_io_threads_run_handlers_at_once)
{
    /* a queued request waits for a running worker (a minute before it would wake another) */
    cr_expect_eq(most_at_once(false, 60 * 1000000LL), 2);
}

Test(http_server, a_worker_waiting_on_the_database_does_not_count)
{
    cr_expect_eq(most_at_once(true, 60 * 1000000LL), CLIENTS);
}

Test(http_server, a_request_queued_too_long_wakes_another_worker)
{
    /* run_wait_us of 1 ms: each request after the first two is queued 10 ms after the one
     * before, which has waited long enough by then (the handlers sleep 400 ms) */
    int most = most_at_once(false, 1000);
    cr_expect_gt(most, 2, "no request went past the limit (%d at once)", most);
}

/* ---- routes that defer, with defer_on_io ---- */

/* Where each part of the last request ran: 1 on an MHD I/O thread, 2 on a worker (0: not run,
 * -1: elsewhere). */
static atomic_int ran_first, ran_again, settled_on;
static atomic_int handler_runs;
static atomic_ullong settled_ticket;
static atomic_ullong reads_see; /* the ticket a handler's reads leave on its thread */
static _Thread_local uint64_t thread_reads; /* as the store keeps what a thread read */
static pthread_t answerer;
static atomic_bool answerer_started;
/* handler_done: its calls, and those that came on the thread of a handler that had returned
 * (what a handler leaves on its thread, such as a kept read, is ended there) */
static atomic_int dones, dones_after_handler;
static _Thread_local bool handler_left;

static int where(void)
{
    char name[16] = "";
    pthread_getname_np(pthread_self(), name, sizeof name);
    if (strcmp(name, "cm-worker") == 0)
        return 2;
    return strncmp(name, "MHD-", 4) == 0 ? 1 : -1;
}

static void *answer_later(void *arg)
{
    sleep_ms(20); /* after the handler returned, as a commit's answer comes */
    http_answer(arg);
    return NULL;
}

static void deferred_finish(struct http_request *req, struct http_reply *rep, void *arg)
{
    (void)req;
    (void)arg;
    http_reply_text(rep, 201, "text/plain", "done", 4);
}

/* Asks for a worker the first time when it cannot wait; then answers after it returns. */
static void deferring_handler(struct http_request *req, struct http_reply *rep)
{
    (void)rep;
    atomic_fetch_add(&handler_runs, 1);
    handler_left = true;
    atomic_store(atomic_load(&ran_first) ? &ran_again : &ran_first, where());
    if (strcmp(req->path, "/asks") == 0 && !http_can_wait(req)) {
        http_run_on_worker(req);
        return;
    }
    cr_assert(http_can_defer(req));
    http_defer(req, deferred_finish, NULL);
    cr_assert_eq(pthread_create(&answerer, NULL, answer_later, req), 0);
    atomic_store(&answerer_started, true);
}

/* Replies at once from its reads, as a write refused from them does. */
static void replying_handler(struct http_request *req, struct http_reply *rep)
{
    (void)req;
    atomic_fetch_add(&handler_runs, 1);
    handler_left = true;
    atomic_store(&ran_first, where());
    thread_reads = atomic_load(&reads_see);
    http_reply_text(rep, 404, "text/plain", "no", 2);
}

static uint64_t take_ticket(void)
{
    uint64_t t = thread_reads;
    thread_reads = 0;
    return t;
}

static void handler_done(void)
{
    atomic_fetch_add(&dones, 1);
    if (handler_left)
        atomic_fetch_add(&dones_after_handler, 1);
    handler_left = false;
}

static void settle(struct http_reply *rep, uint64_t ticket)
{
    (void)rep;
    atomic_store(&settled_on, where());
    atomic_store(&settled_ticket, ticket);
}

static const struct http_route deferring_routes[] = {
    {"POST", "/defers", "defers", deferring_handler, false, false, true, false},
    {"POST", "/asks", "asks", deferring_handler, false, false, true, false},
    {"POST", "/replies", "replies", replying_handler, false, false, true, false},
    {"POST", "/replies-on-worker", "replies", replying_handler, false, false, false, false},
    {"POST", "/spreads", "spreads", replying_handler, false, false, true, true},
};

/* One request to path on a server with defer_on_io as given, the handler's reads leaving
 * ticket; its status. */
static int request_deferring(const char *path, bool defer_on_io, uint64_t ticket)
{
    atomic_store(&ran_first, 0);
    atomic_store(&ran_again, 0);
    atomic_store(&settled_on, 0);
    atomic_store(&settled_ticket, 0);
    atomic_store(&handler_runs, 0);
    atomic_store(&reads_see, ticket);
    atomic_store(&answerer_started, false);
    atomic_store(&dones, 0);
    atomic_store(&dones_after_handler, 0);
    struct http_server_config cfg = {
        .workers = 2,
        .defer_on_io = defer_on_io,
        .routes = deferring_routes,
        .route_count = sizeof deferring_routes / sizeof deferring_routes[0],
        .settle_ticket = take_ticket,
        .settle = settle,
        .handler_done = handler_done,
    };
    struct http_server *srv = start(&cfg);
    struct client c = {.port = http_server_port(srv), .path = path};
    client_main(&c);
    if (atomic_load(&answerer_started))
        pthread_join(answerer, NULL);
    http_server_drain(srv, 5000);
    /* every run of the handler, wherever it ran and however it answered, is followed by
     * handler_done on its thread */
    cr_expect_eq(atomic_load(&dones), atomic_load(&handler_runs));
    cr_expect_eq(atomic_load(&dones_after_handler), atomic_load(&handler_runs));
    return c.status;
}

Test(http_server, a_route_that_defers_runs_on_the_io_thread_with_defer_on_io)
{
    cr_expect_eq(request_deferring("/defers", true, 0), 201);
    cr_expect_eq(atomic_load(&ran_first), 1, "ran on an I/O thread");
    cr_expect_eq(atomic_load(&handler_runs), 1);
    cr_expect_eq(atomic_load(&settled_on), 0, "a deferred answer needs no settle");
}

Test(http_server, a_route_that_defers_runs_on_a_worker_without_defer_on_io)
{
    cr_expect_eq(request_deferring("/defers", false, 0), 201);
    cr_expect_eq(atomic_load(&ran_first), 2, "ran on a worker");
    cr_expect_eq(atomic_load(&handler_runs), 1);
}

Test(http_server, a_handler_that_asks_runs_again_on_a_worker)
{
    cr_expect_eq(request_deferring("/asks", true, 0), 201);
    cr_expect_eq(atomic_load(&handler_runs), 2);
    cr_expect_eq(atomic_load(&ran_first), 1, "first on the I/O thread");
    cr_expect_eq(atomic_load(&ran_again), 2, "then on a worker");
}

/* The ticket of what the handler read is taken on the I/O thread, where it read (a worker's
 * own would be empty), and settled on a worker, which may wait. */
Test(http_server, a_reply_from_unsynced_reads_on_the_io_thread_is_settled_on_a_worker)
{
    cr_expect_eq(request_deferring("/replies", true, 42), 404);
    cr_expect_eq(atomic_load(&ran_first), 1, "the handler ran on the I/O thread");
    cr_expect_eq(atomic_load(&settled_on), 2, "settled on a worker");
    cr_expect_eq(atomic_load(&settled_ticket), 42, "with the I/O thread's ticket");
}

Test(http_server, a_reply_from_synced_reads_on_the_io_thread_goes_out_at_once)
{
    cr_expect_eq(request_deferring("/replies", true, 0), 404);
    cr_expect_eq(atomic_load(&ran_first), 1);
    cr_expect_eq(atomic_load(&settled_on), 0, "nothing to wait for: no worker, no settle");
}

/* the only connection is this I/O thread's share: a spread route runs there */
Test(http_server, a_spread_route_runs_on_an_io_thread_holding_its_share_of_the_connections)
{
    cr_expect_eq(request_deferring("/spreads", true, 0), 404);
    cr_expect_eq(atomic_load(&ran_first), 1, "ran on the I/O thread");
}

Test(http_server, a_reply_on_a_worker_is_settled_there)
{
    cr_expect_eq(request_deferring("/replies-on-worker", true, 7), 404);
    cr_expect_eq(atomic_load(&ran_first), 2);
    cr_expect_eq(atomic_load(&settled_on), 2);
    cr_expect_eq(atomic_load(&settled_ticket), 7);
}

/* http_route.spread: a thread holding more than a quarter over its share of the connections (and
 * one) hands the route to a worker, so that the other I/O threads' cores take part. */
Test(http_server, an_io_thread_holds_its_share_of_the_connections_with_a_quarter_and_one_over)
{
    cr_expect(http_io_share_ok(1, 1, 1), "the only thread holds them all");
    cr_expect(http_io_share_ok(4, 8, 2));
    cr_expect(http_io_share_ok(6, 8, 2), "8 / 2 + a quarter + 1");
    cr_expect_not(http_io_share_ok(7, 8, 2));
    cr_expect_not(http_io_share_ok(8, 8, 2), "wrk's 8 connections on one of 2 threads");
    cr_expect(http_io_share_ok(21, 32, 2));
    cr_expect_not(http_io_share_ok(22, 32, 2));
    cr_expect(http_io_share_ok(1, 1, 4), "one connection anywhere");
    cr_expect(http_io_share_ok(2, 2, 0), "no thread count: one thread");
}
