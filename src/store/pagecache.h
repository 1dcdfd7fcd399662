/* pagecache — SQLite's own page cache, with the truncations that cannot drop a page skipped.
 *
 * At the end of every transaction SQLite truncates its page cache at the database's size (no page
 * past the end may stay cached). Its cache (pcache1) skips the work when no page it ever held
 * lies past that point, and otherwise walks every hash bucket in the range; past the hash's size
 * it walks the whole cache. When a b-tree split hands out new pages in an order it then sorts,
 * SQLite parks a page for a moment at the page number that holds the lock byte (1 GiB in: page
 * 262,145 of 4 KiB), which sits past the end of any smaller database. From then on pcache1
 * believes a page may lie past the end, and the next commit walks all of the writer's ~4,000
 * cached pages, one by one, to find none: 5.7 % of the writer's CPU under createTask (100,000
 * tasks, 560 MB). This wrapper keeps its own bound on the page numbers in each cache, leaving the
 * parking place out while no page is parked there, and passes a truncation on only when a page
 * could be at or past the point. Everything else goes straight to pcache1. */
#ifndef CASEMGR_STORE_PAGECACHE_H
#define CASEMGR_STORE_PAGECACHE_H

#include <stddef.h>

/* Installs the wrapper over the default page cache. Must run before SQLite initialises (like
 * sqlite3_config); 0, or -1 if SQLite refused (it then keeps its own cache). */
int pagecache_install(void);

/* Truncations passed on to pcache1 and skipped, and pages parked, so far in this process (for
 * tests and figures). */
struct pagecache_counts {
    size_t passed, skipped, parks;
};
struct pagecache_counts pagecache_counts(void);

#endif
