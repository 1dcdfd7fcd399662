/* router — matches a method and path against a static route table (STYLE.md §4). */
#ifndef CASEMGR_HTTP_ROUTER_H
#define CASEMGR_HTTP_ROUTER_H

#include "http/http.h"

typedef void (*http_handler)(struct http_request *req, struct http_reply *rep);

/* One route: pattern segments separated by '/', "{}" captures one id segment (1..128 bytes of
 * [A-Za-z0-9._-], else the path does not match). method NULL matches any method. */
struct http_route {
    const char *method;
    const char *pattern;
    const char *name; /* metrics label, e.g. "updateTask" */
    http_handler handler;
    bool json_body; /* requires a JSON Content-Type (415 otherwise) */
    bool fast;      /* never blocks: runs on the I/O thread, not a worker */
    /* Reads a little and queues its write, answering after the commit (http_defer), or reads
     * a little and replies: with http_server_config.defer_on_io it runs on the I/O thread
     * instead of being handed to a worker (its connection suspended while an answer comes from
     * elsewhere). It must not wait otherwise (http_can_wait: it asks for a worker with
     * http_run_on_worker where it would, or where its reads turn out long). */
    bool defers;
    /* With defers: runs on the I/O thread only while that thread holds no more than about its
     * share of the open connections, and on a worker otherwise (http/server.c, io_share_ok). */
    bool spread;
};

enum http_match { HTTP_MATCH_OK, HTTP_MATCH_NOT_FOUND, HTTP_MATCH_METHOD };

/* Finds the route for (method, path). On OK sets *route and req->params (pointing into
 * scratch, which must hold strlen(path)+1 bytes). METHOD when the path matches only with another
 * method: *route is then that route (its method is what Allow names). */
enum http_match http_route_match(const struct http_route *table, size_t n, const char *method,
                                 const char *path, struct http_request *req, char *scratch,
                                 const struct http_route **route);

/* The route whose pattern path matches, whatever the method; NULL for none. */
const struct http_route *http_route_for_path(const struct http_route *table, size_t n,
                                             const char *path);

/* For a path no route of table matches, what would make it one, as "; drop the trailing /" (a
 * trailing slash, a missing id, a doubled slash, an endpoint's name in another case) into buf,
 * or "" when none. */
void http_route_hint(const struct http_route *table, size_t n, const char *path, char *buf,
                     size_t cap);

#endif
