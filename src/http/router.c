#include "http/router.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util/id.h"
#include "util/mem.h"

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

const struct http_route *http_route_for_path(const struct http_route *table, size_t n,
                                             const char *candidate)
{
    char *scratch = xmalloc(strlen(candidate) + 1);
    const char *params[2];
    const struct http_route *found = NULL;
    for (size_t i = 0; i < n && !found; i++)
        if (path_matches(table[i].pattern, candidate, params, scratch))
            found = &table[i];
    free(scratch);
    return found;
}

void http_route_hint(const struct http_route *table, size_t n, const char *path, char *buf,
                     size_t cap)
{
    buf[0] = '\0';
    size_t len = strlen(path);
    char *p = xmalloc(len + 3);
    memcpy(p, path, len + 1);
    if (len > 1 && p[len - 1] == '/') {
        p[--len] = '\0';
        if (http_route_for_path(table, n, p)) {
            snprintf(buf, cap, "; drop the trailing /");
            goto out;
        }
    }
    memcpy(p + len, "/x", 3); /* an id where the path ends */
    const struct http_route *r = http_route_for_path(table, n, p);
    p[len] = '\0';
    if (r) {
        snprintf(buf, cap, "; %s takes an id: .../%s/{id}", r->name, r->name);
        goto out;
    }
    char *w = p;
    for (const char *q = p; *q; q++) /* one slash of each run */
        if (!(q[0] == '/' && q[1] == '/'))
            *w++ = *q;
    *w = '\0';
    if (strcmp(p, path) != 0 && http_route_for_path(table, n, p)) {
        snprintf(buf, cap, "; the path has an empty segment (//)");
        goto out;
    }
    /* an endpoint's name in another case: getcases */
    for (char *seg = p; *seg; seg++) {
        if (*seg != '/')
            continue;
        size_t k = strcspn(seg + 1, "/");
        for (size_t i = 0; i < n; i++) {
            const char *name = table[i].name;
            if (k != strlen(name) || strncasecmp(seg + 1, name, k) != 0 ||
                strncmp(seg + 1, name, k) == 0)
                continue;
            char saved[64];
            if (k >= sizeof saved)
                continue;
            memcpy(saved, seg + 1, k);
            memcpy(seg + 1, name, k);
            bool found = http_route_for_path(table, n, p) != NULL;
            memcpy(seg + 1, saved, k);
            if (found) {
                snprintf(buf, cap, "; endpoint names are case-sensitive: %s", name);
                goto out;
            }
        }
    }
out:
    free(p);
}
