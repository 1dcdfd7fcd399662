/* time — the clock and the two timestamp forms of API.md §3: epoch milliseconds and ISO-8601 UTC. */
#ifndef CASEMGR_UTIL_TIME_H
#define CASEMGR_UTIL_TIME_H

#include <stdint.h>

#define TIME_ISO_LEN 25 /* "2025-06-04T10:18:00.725Z" + NUL */
#define TIME_ISO_MIN_MS (-62167219200000LL) /* 0000-01-01T00:00:00.000Z */
#define TIME_ISO_MAX_MS 253402300799999LL    /* 9999-12-31T23:59:59.999Z */

/* Wall-clock milliseconds since the epoch. */
int64_t time_now_ms(void);
/* Monotonic microseconds, for durations. */
int64_t time_mono_us(void);
/* Formats ms as "YYYY-MM-DDTHH:MM:SS.mmmZ"; years 0..9999 only (others print clamped). */
void time_format_iso(int64_t ms, char out[TIME_ISO_LEN]);
/* Parses ISO-8601: "YYYY-MM-DD", or that + "THH:MM[:SS[.fraction]]" + "Z" or "±HH:MM" (a date-time
 * without zone is read as UTC). Returns 0 and *ms, or -1 when s is not such a valid instant. */
int time_parse_iso(const char *s, int64_t *ms);
/* time_parse_iso, rounding up past the millisecond (12:00:00.0001Z is 12:00:00.001Z): for a
 * lower bound, which then takes in no earlier instant. */
int time_parse_iso_ceil(const char *s, int64_t *ms);
/* Days since 1970-01-01 of a proleptic Gregorian date. */
int64_t time_days_from_civil(int64_t y, unsigned m, unsigned d);

#endif
