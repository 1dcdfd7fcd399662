/* metrics — Prometheus counters of API.md §11: requests by endpoint and status, a latency
 * histogram, database errors, lists run again on a worker, open connections; rendered by
 * GET /metrics. */
#ifndef CASEMGR_OPS_METRICS_H
#define CASEMGR_OPS_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "http/http.h"

/* Counts one finished request; route NULL counts as "unmatched". Thread-safe. */
void metrics_request(const char *route, unsigned status, int64_t micros);
/* Counts one database failure. Thread-safe. */
void metrics_db_error(void);
/* Counts one list stopped on an I/O thread past its deadline, to run again on a worker.
 * Thread-safe. */
void metrics_list_rerun(void);
/* Renders the exposition text into a heap string (free()), length in *len. */
char *metrics_render(size_t *len);
/* GET /metrics. */
void metrics_handler(struct http_request *req, struct http_reply *rep);

#endif
