#include "ops/health.h"

#include <string.h>

#include "ops/metrics.h"

static struct store *health_store;

void health_init(struct store *s)
{
    health_store = s;
}

void health_live_handler(struct http_request *req, struct http_reply *rep)
{
    (void)req;
    static const char body[] = "{\"status\":\"ok\"}";
    http_reply_text(rep, 200, "application/json; charset=utf-8", body, strlen(body));
}

void health_ready_handler(struct http_request *req, struct http_reply *rep)
{
    (void)req;
    if (!health_store || !store_ready(health_store)) {
        metrics_db_error();
        http_reply_error(rep, ERR_UNAVAILABLE, NULL, "the database is not reachable");
        return;
    }
    static const char body[] = "{\"status\":\"ready\"}";
    http_reply_text(rep, 200, "application/json; charset=utf-8", body, strlen(body));
}
