/* scalar — the one text form a JSON scalar is indexed and matched by (channel, queues and
 * custom field values in list queries), so what is stored and what is asked compare equal. */
#ifndef CASEMGR_UTIL_SCALAR_H
#define CASEMGR_UTIL_SCALAR_H

#include <jansson.h>
#include <stdbool.h>

#define SCALAR_BUF 32

/* Strings as they are (borrowed from v), integers in decimal, numbers with a fraction as
 * documents show them (scalar_real_text: 19.99, not 19.989999999999998, so the number 19.99 and
 * the text "19.99" match), whole ones as integers (3 and 3.0 match; past 2^53 in %.17g, so 1e16
 * matches 10000000000000000), booleans "true"/"false" (written to buf).
 * NULL for null, arrays and objects. */
const char *scalar_text(const json_t *v, char buf[SCALAR_BUF]);

/* The text casemgr before 2026-11-30 stored for the same value where it differs from
 * scalar_text's: the %.17g of a number with a fraction (19.989999999999998), for v such a real
 * or a string that is scalar_text's form of one ("19.99"). Into buf and true; false when there
 * is none. Queries match it too, so values stored then are still found. */
bool scalar_legacy_text(const json_t *v, char buf[SCALAR_BUF]);

/* d as jansson writes a real (1.0, 1e300, 2.5e-5: %g notation) in the shortest of 15, 16 and
 * 17 significant digits that reads back as d: how documents show real numbers (util/jtext). */
void scalar_real_text(double d, char buf[SCALAR_BUF]);

/* v as a whole number into *out: an integer, or a real with no fraction below 2^53 in size (10.0
 * from a client that writes every number as a float). False for anything else. */
bool scalar_whole(const json_t *v, json_int_t *out);

#endif
