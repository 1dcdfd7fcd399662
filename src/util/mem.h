/* mem — allocation that never returns NULL: out of memory aborts in one place (STYLE.md §7). */
#ifndef CASEMGR_UTIL_MEM_H
#define CASEMGR_UTIL_MEM_H

#include <stddef.h>

/* Each returns usable memory or aborts the process with a message on stderr. */
void *xmalloc(size_t n);
void *xcalloc(size_t count, size_t n);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
/* Copies the n strings *fields[i] point to (NULL ones stay NULL) into one new block and points
 * them at their copies; returns the block (free() it), so whatever held them can go. */
char *xstrpack(const char **const *fields, size_t n);

/* realloc that returns NULL (p left as it was) when memory cannot be had: only for a size a
 * client chooses (a request body), which is refused with an answer instead of an abort. */
void *mem_try_realloc(void *p, size_t n);

/* Gives the allocator's free memory back to the system when it holds more than keep bytes of it
 * (TCMalloc keeps what it freed: the pages of 20 concurrent 15 MB answers kept the server at
 * 740 MB for good). Cheap when there is little: call it once a second. Without TCMalloc (the
 * sanitizer builds) it does nothing: those allocators return memory themselves. */
void mem_release_idle(size_t keep);

/* Writes a message to stderr and aborts; used by the wrappers and by libraries' OOM hooks. */
_Noreturn void mem_oom(void);

#endif
