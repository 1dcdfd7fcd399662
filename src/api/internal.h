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
 * 401, scope, stream, account). account_required: the accountId header must be present (400).
 * 0 with *id filled (release with auth_identity_cleanup), or -1 with the reply written. */
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

/* Creates a case or task (API.md §6) with Idempotency-Key support. */
void api_create(struct http_request *req, struct http_reply *rep, enum doc_kind kind);

void api_create_case(struct http_request *req, struct http_reply *rep);
void api_create_task(struct http_request *req, struct http_reply *rep);

#endif
