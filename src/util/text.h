/* text — Unicode-aware lower-casing of UTF-8, for lname and for name search. */
#ifndef CASEMGR_UTIL_TEXT_H
#define CASEMGR_UTIL_TEXT_H

#include <stddef.h>

/* Returns a heap copy of s[0..len) with every letter lower-cased by its Unicode simple mapping
 * (towlower in the C.UTF-8 locale): "ÉCOLE Ωmega" → "école ωmega". Bytes that are not valid
 * UTF-8 are copied unchanged. Never fails (aborts on OOM). */
char *text_lower(const char *s, size_t len);

#endif
