/* pagecache — see pagecache.h. The parking place is btree.c's pgnoTemp in balance_nonroot,
 * (PENDING_BYTE / page size) + 1, with SQLite's default PENDING_BYTE of 0x40000000. */
#include "store/pagecache.h"

#include <sqlite3.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>

#define PENDING_BYTE 0x40000000u

struct cache {
    sqlite3_pcache *inner;
    unsigned max;  /* no page above this is cached, the parking place aside */
    unsigned park; /* the parking place for this page size */
    bool parked;   /* a page may be at the parking place */
};

static sqlite3_pcache_methods2 inner;
static atomic_size_t passed, skipped, parks;

static int pc_init(void *arg)
{
    (void)arg;
    return inner.xInit(inner.pArg);
}

static void pc_shutdown(void *arg)
{
    (void)arg;
    if (inner.xShutdown)
        inner.xShutdown(inner.pArg);
}

/* Runs inside sqlite3_step: a query's temporary tables and an update's RETURNING rows each get
 * a cache of their own (one per update). So a failed allocation is SQLite's out-of-memory error
 * for that statement, as its own allocations are, not mem_oom's abort. Ours comes first, so a
 * fault injected at the cache's creation hits it (43-sqlite-faults). */
static sqlite3_pcache *pc_create(int page_size, int extra, int purgeable)
{
    struct cache *c = malloc(sizeof *c);
    if (!c)
        return NULL;
    sqlite3_pcache *in = inner.xCreate(page_size, extra, purgeable);
    if (!in) {
        free(c);
        return NULL;
    }
    *c = (struct cache){.inner = in, .park = PENDING_BYTE / (unsigned)page_size + 1};
    return (sqlite3_pcache *)c;
}

static void pc_cachesize(sqlite3_pcache *p, int n)
{
    inner.xCachesize(((struct cache *)p)->inner, n);
}

static int pc_pagecount(sqlite3_pcache *p)
{
    return inner.xPagecount(((struct cache *)p)->inner);
}

static void seen(struct cache *c, unsigned key)
{
    if (key == c->park)
        c->parked = true;
    else if (key > c->max)
        c->max = key;
}

static sqlite3_pcache_page *pc_fetch(sqlite3_pcache *p, unsigned key, int create)
{
    struct cache *c = (struct cache *)p;
    sqlite3_pcache_page *page = inner.xFetch(c->inner, key, create);
    if (page)
        seen(c, key);
    return page;
}

static void pc_unpin(sqlite3_pcache *p, sqlite3_pcache_page *page, int discard)
{
    inner.xUnpin(((struct cache *)p)->inner, page, discard);
}

static void pc_rekey(sqlite3_pcache *p, sqlite3_pcache_page *page, unsigned old_key,
                     unsigned new_key)
{
    struct cache *c = (struct cache *)p;
    inner.xRekey(c->inner, page, old_key, new_key);
    /* one page at a time parks (SQLite drops whatever holds a key before moving a page to it) */
    if (old_key == c->park)
        c->parked = false;
    if (new_key == c->park)
        atomic_fetch_add_explicit(&parks, 1, memory_order_relaxed);
    seen(c, new_key);
}

static void pc_truncate(sqlite3_pcache *p, unsigned limit)
{
    struct cache *c = (struct cache *)p;
    if (c->max < limit && !(c->parked && c->park >= limit)) {
        atomic_fetch_add_explicit(&skipped, 1, memory_order_relaxed);
        return; /* nothing cached at limit or past it */
    }
    atomic_fetch_add_explicit(&passed, 1, memory_order_relaxed);
    inner.xTruncate(c->inner, limit);
    if (c->max >= limit)
        c->max = limit ? limit - 1 : 0;
    if (c->park >= limit)
        c->parked = false;
}

static void pc_destroy(sqlite3_pcache *p)
{
    struct cache *c = (struct cache *)p;
    inner.xDestroy(c->inner);
    free(c);
}

static void pc_shrink(sqlite3_pcache *p)
{
    inner.xShrink(((struct cache *)p)->inner);
}

int pagecache_install(void)
{
    static const sqlite3_pcache_methods2 wrapper = {
        .iVersion = 2, .xInit = pc_init, .xShutdown = pc_shutdown, .xCreate = pc_create,
        .xCachesize = pc_cachesize, .xPagecount = pc_pagecount, .xFetch = pc_fetch,
        .xUnpin = pc_unpin, .xRekey = pc_rekey, .xTruncate = pc_truncate,
        .xDestroy = pc_destroy, .xShrink = pc_shrink};
    sqlite3_pcache_methods2 current;
    if (sqlite3_config(SQLITE_CONFIG_GETPCACHE2, &current) != SQLITE_OK)
        return -1;
    if (current.xCreate == pc_create)
        return 0; /* installed already */
    inner = current;
    return sqlite3_config(SQLITE_CONFIG_PCACHE2, &wrapper) == SQLITE_OK ? 0 : -1;
}

struct pagecache_counts pagecache_counts(void)
{
    return (struct pagecache_counts){
        .passed = atomic_load_explicit(&passed, memory_order_relaxed),
        .skipped = atomic_load_explicit(&skipped, memory_order_relaxed),
        .parks = atomic_load_explicit(&parks, memory_order_relaxed)};
}
