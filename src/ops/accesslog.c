#include "ops/accesslog.h"

#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "util/time.h"

static atomic_bool enabled = true;

void accesslog_enable(bool on)
{
    atomic_store(&enabled, on);
}

/* Appends s as JSON string content; bytes outside printable ASCII become \u00XX so the line is
 * valid JSON whatever a client put in the path. Returns the new length (bounded by cap). */
static size_t put_escaped(char *buf, size_t len, size_t cap, const char *s)
{
    static const char hex[] = "0123456789abcdef";
    for (; s && *s && len + 7 < cap; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') {
            buf[len++] = '\\';
            buf[len++] = (char)c;
        } else if (c < 0x20 || c >= 0x7f) {
            buf[len++] = '\\';
            buf[len++] = 'u';
            buf[len++] = '0';
            buf[len++] = '0';
            buf[len++] = hex[c >> 4];
            buf[len++] = hex[c & 15];
        } else {
            buf[len++] = (char)c;
        }
    }
    return len;
}

static size_t put_field(char *buf, size_t len, size_t cap, const char *name, const char *value)
{
    int n = snprintf(buf + len, cap - len, ",\"%s\":\"", name);
    if (n < 0 || (size_t)n >= cap - len)
        return len;
    len = put_escaped(buf, len + (size_t)n, cap, value);
    if (len + 1 < cap)
        buf[len++] = '"';
    return len;
}

void accesslog_write(const struct http_request *req, unsigned status, size_t bytes,
                     int64_t micros)
{
    if (!atomic_load(&enabled))
        return;
    char line[2048];
    char now[TIME_ISO_LEN];
    time_format_iso(time_now_ms(), now);
    size_t cap = sizeof line - 2;
    size_t len = (size_t)snprintf(line, cap, "{\"time\":\"%s\"", now);
    len = put_field(line, len, cap, "requestId", req->request_id);
    len = put_field(line, len, cap, "method", req->method);
    /* the path only: a query string could carry anything */
    char path[1024];
    snprintf(path, sizeof path, "%s", req->path ? req->path : "");
    char *q = strchr(path, '?');
    if (q)
        *q = '\0';
    len = put_field(line, len, cap, "path", path);
    int n = snprintf(line + len, cap - len, ",\"status\":%u,\"bytes\":%zu,\"micros\":%lld", status,
                     bytes, (long long)micros);
    if (n > 0 && (size_t)n < cap - len)
        len += (size_t)n;
    len = put_field(line, len, cap, "clientId", req->client_id);
    len = put_field(line, len, cap, "streamId", req->stream_id);
    line[len++] = '}';
    line[len++] = '\n';
    ssize_t w = write(STDOUT_FILENO, line, len);
    (void)w;
}
