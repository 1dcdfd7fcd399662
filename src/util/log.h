/* log — diagnostic lines on stderr (the access log on stdout is ops/accesslog). */
#ifndef CASEMGR_UTIL_LOG_H
#define CASEMGR_UTIL_LOG_H

/* printf-style; one line, prefixed with the time and level. Thread-safe (one write per line). */
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* The request the calling thread works for (borrowed; NULL: none): its lines name it, so an
 * error detail can be found from the request id a client was answered with (API.md §10).
 * Set around a handler's run, cleared after. */
void log_request(const char *request_id);

#endif
