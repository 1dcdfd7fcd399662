/* api — the Case Management endpoints (API.md): the route table and the shared context the
 * handlers run with. Each handler decodes, calls the doc and store layers, encodes. */
#ifndef CASEMGR_API_API_H
#define CASEMGR_API_API_H

#include <stddef.h>

#include "auth/apps.h"
#include "doc/schema.h"
#include "http/router.h"
#include "store/store.h"

#define API_BASE "/caseManagement/api/public/analytics/"

struct api_config {
    struct store *store;
    struct auth_keyring keys;
    struct auth_policy policy;
    struct doc_limits limits;
};

/* Sets the context every handler uses (copied); call before serving. */
void api_init(const struct api_config *cfg);
/* The route table: API endpoints plus /healthz, /readyz, /metrics. */
const struct http_route *api_routes(size_t *n);
/* Before a handler's reply goes out (http_server_config.settle_ticket and settle): the ticket
 * of what the handler read, taken on its thread (store_settle_ticket), then a wait until that is
 * durable (store_settle_wait), on a thread that may wait; a 503 instead when it cannot be. */
uint64_t api_settle_ticket(void);
void api_settle_reply(struct http_reply *rep, uint64_t ticket);
/* After each handler (http_server_config.handler_done): ends the read snapshot the request's
 * authentication kept open for the handler's reads (store_read_keep) if they did not end it. */
void api_handler_done(void);

#endif
