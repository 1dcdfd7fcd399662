/* scalar — the one text form a JSON scalar is indexed and matched by (channel, queues and
 * custom field values in list queries), so what is stored and what is asked compare equal. */
#ifndef CASEMGR_UTIL_SCALAR_H
#define CASEMGR_UTIL_SCALAR_H

#include <jansson.h>
#include <stdbool.h>

#define SCALAR_BUF 32

/* Strings as they are (borrowed from v), integers in decimal, other numbers as %.17g (an
 * integral one as an integer, so 3 and 3.0 match), booleans "true"/"false" (written to buf).
 * NULL for null, arrays and objects. */
const char *scalar_text(const json_t *v, char buf[SCALAR_BUF]);

/* v as a whole number into *out: an integer, or a real with no fraction below 2^53 in size (10.0
 * from a client that writes every number as a float). False for anything else. */
bool scalar_whole(const json_t *v, json_int_t *out);

#endif
