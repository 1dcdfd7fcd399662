/* accesslog — one JSON line per request on stdout (API.md §11); never tokens or secrets. */
#ifndef CASEMGR_OPS_ACCESSLOG_H
#define CASEMGR_OPS_ACCESSLOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "http/http.h"

/* Turns the log on or off (on by default). */
void accesslog_enable(bool on);
/* Writes the line for a finished request: time, requestId, method, path, status, bytes, micros,
 * clientId, streamId. One write(2) per line, so lines from threads never interleave. */
void accesslog_write(const struct http_request *req, unsigned status, size_t bytes,
                     int64_t micros);

#endif
