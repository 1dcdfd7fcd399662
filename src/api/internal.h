/* internal — what the api/ handlers share: the context and the ..._or_reply guards
 * (STYLE.md §3): each returns the typed value or writes the 4xx/5xx itself. */
#ifndef CASEMGR_API_INTERNAL_H
#define CASEMGR_API_INTERNAL_H

#include <jansson.h>
#include <stdbool.h>

#include "api/api.h"
#include "doc/apply.h"

extern struct api_config api_cfg;

/* Authenticates and authorises req for the stream in its path (API.md §2, in the spec's order:
 * 401, scope, stream, account). account_required: the accountId header must be present (400);
 * it may never be sent twice (400: a proxy could have checked the other one).
 * 0 with *id filled (release with auth_identity_cleanup; detached from the app's document when
 * the request may be answered later, see auth_identity_detach), or -1 with the reply written
 * (or, on a thread that must not wait, with the request sent to a worker to run again: a jti
 * to record, see http_run_on_worker). */
int api_auth_or_reply(struct http_request *req, struct http_reply *rep, bool account_required,
                      struct auth_identity *id);
/* Parses the body as a JSON object within the limits; empty_ok treats an empty body as {}.
 * The object (caller decrefs), or NULL with the reply written. */
json_t *api_body_or_reply(struct http_request *req, struct http_reply *rep, bool empty_ok);
/* Fills ctx for a write by id (actor from the token's sub, else the app). */
void api_doc_ctx(const struct auth_identity *id, const char *stream_id, struct doc_ctx *ctx);
/* Answers a store failure: 503 for the database, nothing else. */
void api_reply_store_error(struct http_reply *rep);
/* Answers a document (JSON text, taken) with its ETag. */
void api_reply_doc(struct http_reply *rep, char *text, size_t len, long long version);

/* The stream's configuration document, seeded with the defaults when the stream has none yet
 * (API.md §4). Caller decrefs *cfg. A store status. */
int api_load_config(struct store_txn *t, const char *stream_id, json_t **cfg);
/* The same for a read transaction: a stream without one gets the defaults, not stored. */
int api_read_config(struct store_txn *t, const char *stream_id, json_t **cfg);
/* The stream's stored configuration only: NOT_FOUND when it has none yet (the defaults
 * api_read_config answers then have template ids of their own, new each time). */
int api_read_stored_config(struct store_txn *t, const char *stream_id, json_t **cfg);

#define API_LIMIT_DEFAULT 50
#define API_LIMIT_MAX 500
/* How long a list (getCases, getTasks) may read on an HTTP I/O thread, in µs, before it stops
 * there and starts over on a worker (http_run_on_worker): its thread's other connections wait
 * meanwhile. 1,000; tests set it. */
extern int64_t api_list_io_budget_us;
/* The most bytes of documents (or activities) a page holds; past it the request is refused (400,
 * field limit) instead of built: each can be up to the body limit (1 MiB) and an activity holds a
 * change's old and new values, so 500 of them were half a gigabyte built in memory at once. */
#define API_PAGE_BYTES_MAX (16u << 20)
/* The largest skip: the largest integer a JSON client holds exactly (2^53 - 1), and small enough
 * that page = skip/limit + 1 (API.md §8) never overflows. */
#define API_SKIP_MAX 9007199254740991LL
/* Whether v is a whole number: an integer, or a real without a fraction however large (1e16, or
 * an integer literal of 21 digits, read as a real), so that one out of range is refused as
 * out of range (invalid_value), not as of the wrong type. */
bool api_is_whole(const json_t *v);
/* Reads skip (0..API_SKIP_MAX, default 0) and limit (1..API_LIMIT_MAX, default 50) of a list body
 * that may carry nothing else. 0, or -1 with the 400 written. */
int api_page_or_reply(const json_t *body, struct http_reply *rep, int64_t *skip, int64_t *limit);
/* Checks skip and limit members only (for bodies that carry more); 0 or -1 with *e. */
int api_page_read(const json_t *body, int64_t *skip, int64_t *limit, struct err *e);
/* {"results", "page", "limit", "hasMore", "totalPages", "totalResults"} (API.md §8); takes
 * results. */
json_t *api_page_json(json_t *results, int64_t skip, int64_t limit, int64_t total);

/* Creates a case or task (API.md §6) with Idempotency-Key support. */
void api_create(struct http_request *req, struct http_reply *rep, enum doc_kind kind);

void api_create_case(struct http_request *req, struct http_reply *rep);
void api_create_task(struct http_request *req, struct http_reply *rep);
void api_update_case(struct http_request *req, struct http_reply *rep);
void api_update_task(struct http_request *req, struct http_reply *rep);
void api_get_activities(struct http_request *req, struct http_reply *rep);
/* What api_query_decode allocated besides the query itself: the lower-cased searchText and name
 * (heap or NULL; the caller frees both, on error too). */
struct api_query_owned {
    char *search, *name;
    json_t *values; /* customFields values' other forms (a datetime's instant, a real's old text) */
};
void api_query_owned_free(struct api_query_owned *own);
/* Decodes a getCases/getTasks body (API.md §8) into q: every member checked, priority and status
 * names resolved against cfg, mycase/mytask taken from id->sub. q and own must be zeroed, q's
 * kind, stream_id, account_id and now_ms set; q's strings borrow from body, cfg and own.
 * 0, or -1 with *e. Exposed for the fuzz harness (tests/fuzz/fuzz_query.c). */
int api_query_decode(const json_t *body, enum doc_kind kind, const json_t *cfg,
                     const struct auth_identity *id, struct store_query *q,
                     struct api_query_owned *own, struct err *e);

void api_get_cases(struct http_request *req, struct http_reply *rep);
void api_get_tasks(struct http_request *req, struct http_reply *rep);

#endif
