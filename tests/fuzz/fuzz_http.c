/* fuzz_http — the part of the HTTP request path that is ours, before a handler runs: routing a
 * method and path over api_routes() (http_route_match, with the id segments it captures), and
 * the string helpers requests meet: id_valid_segment (X-Request-Id, path ids), time_parse_iso
 * (dates in bodies and queries) and text_lower (name search). The input is "METHOD\nPATH" and
 * optionally "\nMORE..."; every line also goes through the helpers, and each helper's answer is
 * checked against what its header promises. */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "http/router.h"
#include "util/id.h"
#include "util/text.h"
#include "util/time.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fail(const char *what, const char *s, size_t n)
{
    fprintf(stderr, "fuzz_http: %s: \"%.*s\"\n", what, (int)n, s);
    abort();
}

/* id.h: 1..128 bytes of [A-Za-z0-9._-]. */
static bool segment_ok(const char *s, size_t n)
{
    if (n == 0 || n > 128)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-", s[i]) ||
            s[i] == '\0')
            return false;
    return true;
}

/* On a match the path must be the route's pattern with its {} replaced by the captured ids. */
static void check_match(const struct http_route *r, const char *method, const char *path,
                        const struct http_request *req)
{
    /* HEAD is served wherever GET is (RFC 9110 §9.1) */
    bool head_of_get = r->method && strcmp(r->method, "GET") == 0 && strcmp(method, "HEAD") == 0;
    if (r->method && strcmp(r->method, method) != 0 && !head_of_get)
        fail("matched a route of another method", path, strlen(path));
    char rebuilt[4096];
    size_t o = 0;
    int k = 0;
    for (const char *p = r->pattern; *p && o < sizeof rebuilt - 200;) {
        if (p[0] == '{' && p[1] == '}') {
            if (k == 2 || !req->params[k] || !segment_ok(req->params[k], strlen(req->params[k])))
                fail("bad captured id", path, strlen(path));
            o += (size_t)snprintf(rebuilt + o, sizeof rebuilt - o, "%s", req->params[k++]);
            p += 2;
        } else {
            rebuilt[o++] = *p++;
        }
    }
    rebuilt[o] = '\0';
    if (strcmp(rebuilt, path) != 0)
        fail("matched path differs from pattern + ids", path, strlen(path));
}

static void route(const char *method, const char *path)
{
    size_t n;
    const struct http_route *table = api_routes(&n), *r = NULL;
    struct http_request req;
    memset(&req, 0, sizeof req);
    size_t len = strlen(path);
    char *scratch = malloc(len + 1); /* exactly what router.h asks for: overflows show */
    if (!scratch)
        abort();
    enum http_match m = http_route_match(table, n, method, path, &req, scratch, &r);
    if (m == HTTP_MATCH_OK) {
        check_match(r, method, path, &req);
    } else if (m == HTTP_MATCH_METHOD) {
        if (!r || !r->method || strcmp(r->method, method) == 0)
            fail("METHOD answer for a route of this method", path, len);
    } else if (m != HTTP_MATCH_NOT_FOUND) {
        fail("unknown match result", path, len);
    } else {
        /* the 404's hint: fixed text and route names, cut to its buffer */
        char hint[128];
        memset(hint, 'x', sizeof hint);
        http_route_hint(table, n, path, hint, sizeof hint);
        if (!memchr(hint, '\0', sizeof hint) || (hint[0] && strncmp(hint, "; ", 2) != 0))
            fail("a 404 hint that is not one", path, len);
    }
    free(scratch);
}

static void iso(const char *s)
{
    int64_t ms;
    if (time_parse_iso(s, &ms) != 0)
        return;
    int64_t up = 0; /* a lower bound: rounded up past the millisecond, at most by one */
    if (time_parse_iso_ceil(s, &up) != 0 || up < ms || up > ms + 1)
        fail("time_parse_iso_ceil is not time_parse_iso rounded up", s, strlen(s));
    /* years 0000..9999 with a zone of at most ±23:59 and a leap second: within a day of the
     * format's range */
    if (ms < -62167219200000LL - 86400000LL * 2 || ms > 253402300799999LL + 86400000LL * 2)
        fail("time_parse_iso out of range", s, strlen(s));
    if (ms < -62167219200000LL || ms > 253402300799999LL)
        return;
    char out[TIME_ISO_LEN], again[TIME_ISO_LEN];
    int64_t back = 0;
    time_format_iso(ms, out);
    if (strlen(out) != TIME_ISO_LEN - 1 || time_parse_iso(out, &back) != 0 || back != ms)
        fail("time_format_iso does not round-trip", out, strlen(out));
    time_format_iso(back, again);
    if (strcmp(out, again) != 0)
        fail("time_format_iso is not stable", out, strlen(out));
}

static void lower(const char *s, size_t n)
{
    char *once = text_lower(s, n);
    /* text.h: ASCII letters always fold; the result never exceeds twice the input */
    size_t m = 0;
    while (m < 2 * n + 1 && once[m])
        m++;
    for (size_t i = 0; i < m; i++)
        if (once[i] >= 'A' && once[i] <= 'Z')
            fail("text_lower left an ASCII capital", s, n);
    char *twice = text_lower(once, m);
    if (strcmp(once, twice) != 0)
        fail("text_lower is not idempotent", s, n);
    free(twice);
    free(once);
}

static void helpers(const char *s, size_t n)
{
    if (id_valid_segment(s, n) != segment_ok(s, n))
        fail("id_valid_segment disagrees with id.h", s, n);
    lower(s, n);
    char *z = malloc(n + 1);
    if (!z)
        abort();
    memcpy(z, s, n);
    z[n] = '\0';
    iso(z);
    free(z);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    if (!text)
        abort();
    memcpy(text, data, size);
    text[size] = '\0';
    helpers(text, size);
    /* lines: method, path, more helper input */
    char *lines[8];
    size_t nlines = 0;
    for (char *p = text; nlines < 8;) {
        lines[nlines++] = p;
        char *nl = memchr(p, '\n', size - (size_t)(p - text));
        if (!nl)
            break;
        *nl = '\0';
        p = nl + 1;
    }
    for (size_t i = 0; i < nlines; i++)
        helpers(lines[i], strlen(lines[i]));
    if (nlines >= 2)
        route(lines[0], lines[1]);
    else
        route("POST", lines[0]);
    free(text);
    return 0;
}
