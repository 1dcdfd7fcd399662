/* log — diagnostic lines on stderr (the access log on stdout is ops/accesslog). */
#ifndef CASEMGR_UTIL_LOG_H
#define CASEMGR_UTIL_LOG_H

/* printf-style; one line, prefixed with the time and level. Thread-safe (one write per line). */
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
