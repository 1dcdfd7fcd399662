/* server — the HTTP/1.1 listener (libmicrohttpd thread pool) with casemgr's transport rules
 * (API.md §1): limits, framing checks MHD lets through, request ids, draining on shutdown. */
#ifndef CASEMGR_HTTP_SERVER_H
#define CASEMGR_HTTP_SERVER_H

#include <stdbool.h>
#include <stdint.h>

#include "http/router.h"

struct http_server;

/* Called once per finished request (also for transport rejections): access log and metrics. */
typedef void (*http_complete_fn)(const struct http_request *req, const char *route_name,
                                 unsigned status, size_t bytes, int64_t micros);

struct http_server_config {
    const char *host; /* numeric address or name, e.g. "127.0.0.1" or "::1" */
    uint16_t port;    /* 0 picks a free port (see http_server_port) */
    unsigned threads;        /* I/O threads (MHD's pool) */
    unsigned workers;        /* threads that run handlers which may block; 0 runs them on I/O;
                              * at most 2 x threads of them run at once (see server.c) */
    int64_t run_wait_us;     /* how long a queued request waits for a running worker before
                              * it wakes another past that limit; 0: 2 ms */
    bool defer_on_io;        /* routes that defer run on the I/O thread (http_route.defers):
                              * for a store whose reads are local and whose writes are queued */
    size_t body_limit;       /* bytes; 413 beyond, decided from Content-Length before reading */
    size_t header_limit;     /* bytes of request line + headers; 431 (414 for the URI) beyond */
    unsigned idle_timeout;   /* seconds a connection may sit idle or trickle a request */
    unsigned max_connections;
    const struct http_route *routes;
    size_t route_count;
    http_complete_fn on_complete;
    /* After a handler that may block (not a fast route) replied without deferring: the ticket
     * of what it read, taken on the thread that ran it (0: nothing to wait for), then settle,
     * which may wait, on a thread that may (a worker, unless there are none), before the reply
     * is sent; settle may replace the reply. NULL: neither. */
    uint64_t (*settle_ticket)(void);
    void (*settle)(struct http_reply *rep, uint64_t ticket);
    /* Called on the handler's thread when a handler returns (before settle_ticket), whether it
     * replied, deferred or handed the request to a worker; NULL: nothing. */
    void (*handler_done)(void);
    /* Called on a worker that has waited idle WORKER_IDLE_MS (once, until it works again), to
     * give back what it holds (its database connection); NULL: nothing. */
    void (*worker_idle)(void *arg);
    void *worker_idle_arg;
};

/* Starts listening and serving; NULL with *err (heap) on failure. */
struct http_server *http_server_start(const struct http_server_config *cfg, char **err);
/* The bound port (useful after port 0). */
uint16_t http_server_port(const struct http_server *srv);
/* Stops accepting, lets requests in flight finish (at most timeout_ms), then stops and frees:
 * true. When some are still in flight at the deadline it stops nothing and returns their
 * number: stopping the daemon would close their connections and free their requests while a
 * worker still runs their handler (waiting on a database that does not answer, say), and
 * joining that worker could wait for ever; the caller ends the process instead. */
int http_server_drain(struct http_server *srv, int timeout_ms);
/* Connections open now, across the process. */
unsigned http_open_connections(void);
/* Whether an I/O thread with mine of the total open connections, among threads I/O threads,
 * holds no more than a quarter over its share, and one (http_route.spread). */
bool http_io_share_ok(unsigned mine, unsigned total, unsigned threads);

#endif
