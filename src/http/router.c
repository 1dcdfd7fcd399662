#include "http/router.h"

#include <string.h>

#include "util/id.h"

/* Matches path against pattern; captures {} segments into params (copied into scratch). */
static bool path_matches(const char *pattern, const char *path, const char **params, char *scratch)
{
    int captured = 0;
    const char *p = pattern, *s = path;
    while (*p && *s) {
        if (p[0] == '{' && p[1] == '}') {
            const char *end = strchr(s, '/');
            size_t len = end ? (size_t)(end - s) : strlen(s);
            if (!id_valid_segment(s, len) || captured == 2)
                return false;
            memcpy(scratch, s, len);
            scratch[len] = '\0';
            params[captured++] = scratch;
            scratch += len + 1;
            s += len;
            p += 2;
            continue;
        }
        if (*p != *s)
            return false;
        p++;
        s++;
    }
    return *p == '\0' && *s == '\0';
}

enum http_match http_route_match(const struct http_route *table, size_t n, const char *method,
                                 const char *path, struct http_request *req, char *scratch,
                                 const struct http_route **route)
{
    enum http_match result = HTTP_MATCH_NOT_FOUND;
    for (size_t i = 0; i < n; i++) {
        const char *params[2] = {NULL, NULL};
        if (!path_matches(table[i].pattern, path, params, scratch))
            continue;
        /* HEAD wherever GET is served (RFC 9110 §9.1; MHD sends the head alone): a monitor
         * probing /healthz with HEAD was answered 405 */
        bool head_of_get = table[i].method && strcmp(table[i].method, "GET") == 0 &&
                           strcmp(method, "HEAD") == 0;
        if (table[i].method && strcmp(table[i].method, method) != 0 && !head_of_get) {
            result = HTTP_MATCH_METHOD;
            *route = &table[i];
            continue;
        }
        req->params[0] = params[0];
        req->params[1] = params[1];
        *route = &table[i];
        return HTTP_MATCH_OK;
    }
    return result;
}
