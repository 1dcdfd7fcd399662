#include "util/scalar.h"

#include <math.h>
#include <stdio.h>

const char *scalar_text(const json_t *v, char buf[SCALAR_BUF])
{
    if (json_is_string(v))
        return json_string_value(v);
    if (json_is_boolean(v))
        return json_is_true(v) ? "true" : "false";
    if (!json_is_number(v))
        return NULL;
    json_int_t n;
    if (scalar_whole(v, &n))
        snprintf(buf, SCALAR_BUF, "%lld", (long long)n);
    else
        snprintf(buf, SCALAR_BUF, "%.17g", json_real_value(v));
    return buf;
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
