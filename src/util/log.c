#include "util/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <unistd.h>

#include "util/time.h"

static _Thread_local const char *current_request;

void log_request(const char *request_id)
{
    current_request = request_id;
}

__attribute__((format(printf, 2, 0))) static void log_line(const char *level, const char *fmt,
                                                          va_list ap)
{
    char line[2048];
    char now[TIME_ISO_LEN];
    time_format_iso(time_now_ms(), now);
    int n = current_request ? snprintf(line, sizeof line, "%s casemgr %s: request %.128s: ", now,
                                       level, current_request)
                            : snprintf(line, sizeof line, "%s casemgr %s: ", now, level);
    int m = vsnprintf(line + n, sizeof line - (size_t)n - 1, fmt, ap);
    size_t len = (size_t)n + (m < 0 ? 0 : (size_t)m);
    if (len > sizeof line - 2)
        len = sizeof line - 2;
    while (len > (size_t)n && (line[len - 1] == '\n' || line[len - 1] == '\r'))
        len--; /* libpq's messages end with a newline */
    /* one message, one line: a control character from a client (a %0A in a request target
     * that libmicrohttpd's message quotes) made a line of its own that read as the server's
     * ("casemgr error: sqlite: ..."); each becomes a '?' (a tab, libpq's, a space) */
    for (size_t i = (size_t)n; i < len; i++) {
        unsigned char c = (unsigned char)line[i];
        if (c == '\t' || (c == '\n' && i + 1 < len && line[i + 1] == '\t'))
            line[i] = ' ';
        else if (c < 0x20 || c == 0x7f)
            line[i] = '?';
    }
    line[len++] = '\n';
    ssize_t w = write(STDERR_FILENO, line, len);
    (void)w;
}

void log_info(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    log_line("info", fmt, ap);
    va_end(ap);
}

void log_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    log_line("error", fmt, ap);
    va_end(ap);
}
