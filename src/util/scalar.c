#include "util/scalar.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void scalar_real_text(double d, char buf[SCALAR_BUF])
{
    json_t *real = json_real(d);
    buf[0] = '\0';
    /* into a buffer of ours: json_dumps's text comes from jansson's allocator, which inside an
     * arena scope (util/jarena) is not the heap free() gives back to */
    char t[SCALAR_BUF];
    for (int digits = 15; digits <= 17 && real; digits++) {
        size_t n = json_dumpb(real, t, sizeof t - 1,
                              JSON_COMPACT | JSON_ENCODE_ANY | JSON_REAL_PRECISION(digits));
        if (n == 0 || n >= sizeof t)
            continue;
        t[n] = '\0';
        if (strtod(t, NULL) == d && (!buf[0] || n < strlen(buf)))
            memcpy(buf, t, n + 1);
    }
    json_decref(real);
    if (!buf[0]) /* jansson refused (no memory, not finite) */
        snprintf(buf, SCALAR_BUF, "%.17g", d);
}

const char *scalar_text(const json_t *v, char buf[SCALAR_BUF])
{
    if (json_is_string(v))
        return json_string_value(v);
    if (json_is_boolean(v))
        return json_is_true(v) ? "true" : "false";
    if (!json_is_number(v))
        return NULL;
    json_int_t n;
    double d = json_is_real(v) ? json_real_value(v) : 0;
    if (scalar_whole(v, &n))
        snprintf(buf, SCALAR_BUF, "%lld", (long long)n);
    else if (d == floor(d)) /* whole, past 2^53: as before, so 1e16 matches 10000000000000000 */
        snprintf(buf, SCALAR_BUF, "%.17g", d);
    else
        scalar_real_text(d, buf);
    return buf;
}

bool scalar_legacy_text(const json_t *v, char buf[SCALAR_BUF])
{
    double d;
    char now[SCALAR_BUF];
    if (json_is_real(v)) {
        d = json_real_value(v);
    } else if (json_is_string(v) && strlen(json_string_value(v)) < SCALAR_BUF) {
        const char *s = json_string_value(v);
        char *end = NULL;
        d = strtod(s, &end);
        if (end == s || *end || !isfinite(d))
            return false;
        scalar_real_text(d, now);
        if (strcmp(now, s) != 0)
            return false; /* not a number as scalar_text writes one */
    } else {
        return false;
    }
    if (d == floor(d))
        return false; /* whole: written then as now */
    scalar_real_text(d, now);
    snprintf(buf, SCALAR_BUF, "%.17g", d);
    return strcmp(now, buf) != 0;
}

bool scalar_whole(const json_t *v, json_int_t *out)
{
    if (json_is_integer(v)) {
        *out = json_integer_value(v);
        return true;
    }
    if (!json_is_real(v))
        return false;
    double d = json_real_value(v);
    if (d != floor(d) || fabs(d) >= 9007199254740992.0) /* past 2^53 not every integer is exact */
        return false;
    *out = (json_int_t)d;
    return true;
}
