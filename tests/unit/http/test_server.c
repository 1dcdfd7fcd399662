/* Unit tests for http/server: how many workers run handlers at once. At most 2 x the I/O threads
 * run; a worker that announces a wait (util/wait) does not count; a queued request wakes another
 * worker past the limit once it has waited run_wait_us. A real server on a loopback port, with a
 * route whose handler sleeps, and one client thread per request. */
#include <criterion/criterion.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
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
    {"POST", "/slow", "slow", slow_handler, false, false},
};

struct client {
    pthread_t thread;
    uint16_t port;
    long delay_ms; /* before it connects */
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
    if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        if (fd >= 0)
            close(fd);
        return NULL;
    }
    const char req[] = "POST /slow HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n";
    char buf[512];
    ssize_t n = -1;
    if (write(fd, req, sizeof req - 1) == (ssize_t)(sizeof req - 1))
        n = read(fd, buf, sizeof buf - 1);
    if (n > 12) {
        buf[n] = '\0';
        sscanf(buf, "HTTP/1.1 %d", &c->status);
    }
    close(fd);
    return NULL;
}

/* Serves CLIENTS requests at once with one I/O thread (2 workers may run) and returns how many
 * handlers ran at the same time, at most. */
static int most_at_once(bool announced, int64_t run_wait_us)
{
    atomic_store(&now_running, 0);
    atomic_store(&most_running, 0);
    atomic_store(&announce, announced);
    struct http_server_config cfg = {
        .host = "127.0.0.1",
        .threads = 1,
        .workers = 8,
        .run_wait_us = run_wait_us,
        .body_limit = 1024,
        .header_limit = 8192,
        .idle_timeout = 30,
        .max_connections = 64,
        .routes = routes,
        .route_count = 1,
    };
    char *err = NULL;
    struct http_server *srv = http_server_start(&cfg, &err);
    cr_assert_not_null(srv, "%s", err ? err : "?");
    struct client c[CLIENTS];
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
