/* text — Unicode-aware lower-casing of UTF-8, for lname and for name search. */
#ifndef CASEMGR_UTIL_TEXT_H
#define CASEMGR_UTIL_TEXT_H

#include <stddef.h>
#include <stdint.h>

/* Returns a heap copy of s[0..len) with every letter lower-cased by its Unicode simple mapping
 * (towlower in the C.UTF-8 locale): "ÉCOLE Ωmega" → "école ωmega". Bytes that are not valid
 * UTF-8 are copied unchanged. Never fails (aborts on OOM). */
char *text_lower(const char *s, size_t len);

/* Decodes the UTF-8 sequence at s (n bytes left) into *cp; returns its length, 0 when it is not
 * valid UTF-8 (overlong, a surrogate, above U+10FFFF, a missing continuation byte). */
size_t text_utf8_decode(const unsigned char *s, size_t n, uint32_t *cp);
/* Writes code point cp (at most U+10FFFF) as UTF-8 at out (4 bytes of room); returns the length. */
size_t text_utf8_encode(uint32_t cp, char *out);

#endif
