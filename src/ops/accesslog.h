/* accesslog — one JSON line per request on stdout (API.md §11); never tokens or secrets. */
#ifndef CASEMGR_OPS_ACCESSLOG_H
#define CASEMGR_OPS_ACCESSLOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "http/http.h"

/* Turns the log on or off (on by default). */
void accesslog_enable(bool on);
/* Starts the thread that writes the log to stdout (once, before the server serves). Without it
 * each line is written by the calling thread. */
void accesslog_start(void);
/* Writes what is queued and stops that thread (after the drain), waiting at most timeout_ms for
 * stdout to take it; false (and a message) when it did not, the thread then left as it is. */
bool accesslog_stop(int timeout_ms);
/* The line for a finished request: time, requestId, method, path, status, bytes, micros,
 * clientId, streamId. Queued whole for the writing thread (lines never interleave, and a stdout
 * nobody reads never holds up a request: past ACCESSLOG_QUEUE_BYTES waiting, lines are dropped
 * and counted, and the count is logged once stdout moves again). */
void accesslog_write(const struct http_request *req, unsigned status, size_t bytes,
                     int64_t micros);

#define ACCESSLOG_QUEUE_BYTES (1u << 20)

#endif
