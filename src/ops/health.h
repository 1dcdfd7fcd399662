/* health — GET /healthz (the process is up) and GET /readyz (the database answers). */
#ifndef CASEMGR_OPS_HEALTH_H
#define CASEMGR_OPS_HEALTH_H

#include "http/http.h"
#include "store/store.h"

/* The store /readyz asks; set once at start-up. */
void health_init(struct store *s);
void health_live_handler(struct http_request *req, struct http_reply *rep);
void health_ready_handler(struct http_request *req, struct http_reply *rep);

#endif
