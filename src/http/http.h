/* http — the request and reply a handler sees, independent of the HTTP library, plus the error
 * catalogue of API.md §10. Handlers are plain functions of (request, reply), so unit tests drive
 * them with an in-memory request. */
#ifndef CASEMGR_HTTP_HTTP_H
#define CASEMGR_HTTP_HTTP_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define HTTP_REQUEST_ID_MAX 129

#include "util/error.h"


struct http_reply;

struct http_request {
    const char *method;
    const char *path;
    const char *body; /* not NUL-terminated; may be NULL when body_len is 0 */
    size_t body_len;
    char request_id[HTTP_REQUEST_ID_MAX];
    /* header lookup, case-insensitive; NULL when absent */
    const char *(*header_fn)(void *ctx, const char *name);
    unsigned (*header_count_fn)(void *ctx, const char *name); /* how many times it was sent */
    const char *(*header_list_fn)(void *ctx, const char *name); /* every line of it, joined */
    void *header_ctx;
    /* path parameters captured by the router ({} segments, in order) */
    const char *params[2];
    /* filled by handlers for the access log: who called, on which stream */
    char client_id[64];
    char stream_id[129];
    /* Set by whoever runs the handler when it may answer after returning (http_defer); NULL
     * when it must answer before. */
    void (*answer_fn)(struct http_request *req);
    /* http_defer's: what builds the reply once it is answered */
    void (*finish_fn)(struct http_request *req, struct http_reply *rep, void *arg);
    void *finish_arg;
    bool deferred;
    /* Set by whoever runs the handler: it runs on an I/O thread, which must not wait on a
     * commit or the network (http_can_wait). */
    bool on_io;
    bool to_worker; /* http_run_on_worker was called */
};

struct http_reply {
    unsigned status;
    char *body; /* owned: free() */
    size_t body_len;
    const char *content_type; /* static string */
    char etag[48];            /* without quotes; empty for none */
    const char *allow;        /* static "Allow" header value (405), or NULL */
    const char *accept_encoding; /* static "Accept-Encoding" header value (415), or NULL */
    bool close;               /* close the connection after this reply */
};

/* Value of a request header (case-insensitive name), or NULL; the first when sent twice. It
 * comes without trailing whitespace and stays valid until the request is complete, also after
 * a deferred answer (a write may keep it until its commit). */
const char *http_header(const struct http_request *r, const char *name);
/* A list-valued header (RFC 9110 §5.3): all its field lines joined with ", ", as one line
 * would carry them (a proxy may split If-Match: "1", "2" into two); valid as http_header's. */
const char *http_header_list(const struct http_request *r, const char *name);
/* How many times the request carries a header (0 when the request cannot tell). */
unsigned http_header_count(const struct http_request *r, const char *name);

/* Whether the handler may answer after it returns (http_defer). */
bool http_can_defer(const struct http_request *r);
/* Whether the handler may wait on something slow (a commit, the network): not on an I/O thread
 * (see http_route.defers). */
bool http_can_wait(const struct http_request *r);
/* Called by a handler on a thread that must not wait, that needs to, instead of replying: it
 * returns at once, having replied nothing, deferred nothing and changed nothing, and the server
 * runs it again, from the start, on a worker that may wait. */
void http_run_on_worker(struct http_request *r);
/* Called by a handler that will answer after it returns (only when http_can_defer): the request
 * stays valid until http_answer, and the reply is built by finish(r, reply, arg) after that, on
 * the thread that sends it (so the thread that answers, e.g. a store's, does little). */
void http_defer(struct http_request *r,
                void (*finish)(struct http_request *r, struct http_reply *rep, void *arg),
                void *arg);
/* A deferred request can be answered: its finish runs and the reply is sent. From any thread,
 * once; r is not the caller's from here on. */
void http_answer(struct http_request *r);
/* Runs a deferred request's finish, once http_answer was called (whoever sends the reply). */
void http_finish(struct http_request *r, struct http_reply *rep);

/* Sets a JSON reply; takes ownership of doc (decref'd). */
void http_reply_json(struct http_reply *rep, unsigned status, json_t *doc);
/* Sets a JSON reply from text already serialised; takes ownership of body (free()). */
void http_reply_json_text(struct http_reply *rep, unsigned status, char *body, size_t len);
/* Sets a plain reply with a static content type; copies text. */
void http_reply_text(struct http_reply *rep, unsigned status, const char *content_type,
                     const char *text, size_t len);
/* Sets the error envelope {"errors":[{msg, code, reason, field?}]} for err; field may be NULL;
 * fmt NULL uses the catalogue's sentence. Replaces any body set before. */
void http_reply_error(struct http_reply *rep, enum err_code err, const char *field,
                      const char *fmt, ...) __attribute__((format(printf, 4, 5)));
/* Sets the error envelope for an error a lower layer filled in. */
void http_reply_err(struct http_reply *rep, const struct err *e);
/* Frees the body; leaves rep reusable. */
void http_reply_cleanup(struct http_reply *rep);

#endif
