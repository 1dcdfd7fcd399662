/* id — random identifiers in the vendor's shapes (API.md §3), from the OS CSPRNG. */
#ifndef CASEMGR_UTIL_ID_H
#define CASEMGR_UTIL_ID_H

#include <stdbool.h>
#include <stddef.h>

#define ID_MAX 48 /* room for any prefix we use + 36-char UUID + NUL */

/* Fills buf with n bytes from getrandom(2); aborts if the kernel cannot supply them. */
void id_random(void *buf, size_t n);
/* Writes a lower-case version-4 UUID (8-4-4-4-12) into out[37]. */
void id_uuid(char out[37]);
/* Writes prefix + a v4 UUID with its first hex digit dropped (7-4-4-4-12), e.g. "ti-73acd32-…". */
void id_new(const char *prefix, char out[ID_MAX]);
/* True when s is 1..128 bytes of [A-Za-z0-9._-] — the ids users and streams bring. */
bool id_valid_segment(const char *s, size_t len);

#endif
