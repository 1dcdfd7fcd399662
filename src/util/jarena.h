/* jarena — a per-thread arena for the JSON values of one short piece of work.
 *
 * An update parses its stored document, applies the patch, builds the activity and serialises
 * both: hundreds of small allocations, each freed again before the work returns (a small
 * updateTask made 431 on its I/O thread, counted with a uprobe on the allocator's malloc; 44 with
 * the arena). Inside a scope (jarena_begin .. jarena_end) jansson's allocations (main.c installs
 * jarena_malloc and jarena_free) are taken from the thread's arena, frees of its blocks do
 * nothing, and the end of the scope takes them all back at once.
 *
 * Text jansson allocates for its caller (json_dumps) comes from the arena too inside a scope:
 * it must not go to free(). Code that may run in a scope writes into a buffer of its own
 * (json_dumpb; util/scalar).
 *
 * The rule: a value allocated inside a scope must be gone by its end. Nothing made inside may be
 * kept (in a cache, in a reply, in a value from outside the scope); anything that makes values to
 * keep runs paused (jarena_pause). Sanitizer builds poison an ended scope's memory, so a value
 * used after it is reported.
 *
 * Values from outside a scope may be used and freed inside it, and a block of an arena may be
 * freed by any thread (it is a no-op). A scope that outgrows its arena, or a thread that found
 * none free, allocates from the heap as without one. Scopes nest: an inner one ends with the
 * outermost. */
#ifndef CASEMGR_UTIL_JARENA_H
#define CASEMGR_UTIL_JARENA_H

#include <stdbool.h>
#include <stddef.h>

/* Each thread's arena, and how many threads may hold one at once (32 MiB of address space,
 * reserved once; the pages are only touched as scopes use them). */
#define JARENA_BYTES ((size_t)256 * 1024)
#define JARENA_THREADS 128

/* The allocation functions for json_set_alloc_funcs. */
void *jarena_malloc(size_t n);
void jarena_free(void *p);

void jarena_begin(void);
void jarena_end(void);

/* Allocations go to the heap until jarena_restore(the value returned); returns the state to give
 * back. For values made inside a scope that outlive it (a cache filled on a miss). */
bool jarena_pause(void);
void jarena_restore(bool paused);

/* Bytes the calling thread's current scope has taken from its arena (for tests). */
size_t jarena_used(void);

#endif
