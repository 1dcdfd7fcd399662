/* matchcache — see matchcache.h. A small table of slots, least recently used out first; a
 * list's reference count includes the cache's own while it sits in a slot. */
#include "store/matchcache.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "util/mem.h"

#define SLOTS 64     /* lists kept at most */
#define WAIT_MS 1000 /* how long a caller waits for another's reading of the same list */

/* A list some caller is reading (match_cache_get returned NULL to it). */
struct pending {
    int64_t scope, gen;
    enum match_what what;
    char *text;
    struct pending *next;
};

struct slot {
    struct match_list *list;
    uint64_t used; /* the cache's tick when last got or put */
};

struct match_cache {
    pthread_mutex_t mu;
    pthread_cond_t done; /* a pending list was put or abandoned */
    struct pending *pending;
    size_t max_bytes, bytes;
    uint64_t tick;
    struct slot slots[SLOTS];
};

static size_t list_bytes(const struct match_list *l)
{
    return l->rids ? l->n * sizeof l->rids[0] : 0;
}

void match_list_free(struct match_list *l)
{
    free(l->rids);
    free(l->text);
    free(l);
}

/* Drops one reference (mc->mu held); the last frees the list. */
static void unref(struct match_list *l)
{
    if (--l->refs == 0)
        match_list_free(l);
}

struct match_cache *match_cache_new(size_t max_bytes)
{
    if (max_bytes == 0)
        return NULL;
    struct match_cache *mc = xcalloc(1, sizeof *mc);
    pthread_mutex_init(&mc->mu, NULL);
    pthread_cond_init(&mc->done, NULL);
    mc->max_bytes = max_bytes;
    return mc;
}

void match_cache_free(struct match_cache *mc)
{
    if (!mc)
        return;
    for (int i = 0; i < SLOTS; i++)
        if (mc->slots[i].list)
            unref(mc->slots[i].list);
    while (mc->pending) { /* left by a caller that neither put nor abandoned: a bug */
        struct pending *next = mc->pending->next;
        free(mc->pending->text);
        free(mc->pending);
        mc->pending = next;
    }
    pthread_cond_destroy(&mc->done);
    pthread_mutex_destroy(&mc->mu);
    free(mc);
}

static bool same_key(const struct match_list *l, int64_t scope, enum match_what what,
                     const char *text)
{
    return l->scope == scope && l->what == what && strcmp(l->text, text) == 0;
}

/* The kept list for the key at gen, with a reference for the caller (mc->mu held). */
static struct match_list *find(struct match_cache *mc, int64_t scope, int64_t gen,
                               enum match_what what, const char *text)
{
    for (int i = 0; i < SLOTS; i++) {
        struct match_list *l = mc->slots[i].list;
        if (l && l->gen == gen && same_key(l, scope, what, text)) {
            l->refs++;
            mc->slots[i].used = ++mc->tick;
            return l;
        }
    }
    return NULL;
}

/* Where the pending entry for the key at gen is linked, or where to link one (mc->mu held). */
static struct pending **pending_at(struct match_cache *mc, int64_t scope, int64_t gen,
                                   enum match_what what, const char *text)
{
    struct pending **at = &mc->pending;
    while (*at && !((*at)->scope == scope && (*at)->gen == gen && (*at)->what == what &&
                    strcmp((*at)->text, text) == 0))
        at = &(*at)->next;
    return at;
}

/* Removes the key's pending entry, if any, and wakes the waiters (mc->mu held). */
static void pending_done(struct match_cache *mc, int64_t scope, int64_t gen, enum match_what what,
                         const char *text)
{
    struct pending **at = pending_at(mc, scope, gen, what, text);
    if (!*at)
        return;
    struct pending *p = *at;
    *at = p->next;
    free(p->text);
    free(p);
    pthread_cond_broadcast(&mc->done);
}

/* match_cache_get, or with may_wait false match_cache_get_now. */
static const struct match_list *get(struct match_cache *mc, int64_t scope, int64_t gen,
                                    enum match_what what, const char *text, bool may_wait,
                                    bool *busy)
{
    *busy = false;
    if (!mc)
        return NULL;
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += WAIT_MS / 1000;
    pthread_mutex_lock(&mc->mu);
    struct match_list *found;
    int waited = 0;
    while (!(found = find(mc, scope, gen, what, text)) && *pending_at(mc, scope, gen, what, text) &&
           waited != ETIMEDOUT) {
        if (!may_wait) {
            *busy = true;
            pthread_mutex_unlock(&mc->mu);
            return NULL;
        }
        waited = pthread_cond_timedwait(&mc->done, &mc->mu, &until);
    }
    if (!found && !*pending_at(mc, scope, gen, what, text)) {
        struct pending *p = xcalloc(1, sizeof *p);
        *p = (struct pending){
            .scope = scope, .gen = gen, .what = what, .text = xstrdup(text), .next = mc->pending};
        mc->pending = p;
    }
    pthread_mutex_unlock(&mc->mu);
    return found;
}

const struct match_list *match_cache_get(struct match_cache *mc, int64_t scope, int64_t gen,
                                         enum match_what what, const char *text)
{
    bool busy;
    return get(mc, scope, gen, what, text, true, &busy);
}

const struct match_list *match_cache_get_now(struct match_cache *mc, int64_t scope, int64_t gen,
                                             enum match_what what, const char *text, bool *busy)
{
    return get(mc, scope, gen, what, text, false, busy);
}

void match_cache_abandon(struct match_cache *mc, int64_t scope, int64_t gen, enum match_what what,
                         const char *text)
{
    if (!mc)
        return;
    pthread_mutex_lock(&mc->mu);
    pending_done(mc, scope, gen, what, text);
    pthread_mutex_unlock(&mc->mu);
}

struct match_list *match_list_new(int64_t scope, int64_t gen, enum match_what what,
                                  const char *text, size_t cap)
{
    struct match_list *l = xcalloc(1, sizeof *l);
    l->scope = scope;
    l->gen = gen;
    l->what = what;
    l->text = xstrdup(text);
    l->cap = cap ? cap : 64;
    l->rids = xmalloc(l->cap * sizeof l->rids[0]);
    l->refs = 1;
    return l;
}

struct match_list *match_list_count_only(int64_t scope, int64_t gen, enum match_what what,
                                         const char *text, size_t n)
{
    struct match_list *l = match_list_new(scope, gen, what, text, 0);
    free(l->rids);
    l->rids = NULL;
    l->n = n;
    l->cap = 0;
    return l;
}

void match_list_push(struct match_list *l, int64_t rid)
{
    if (l->n == l->cap) {
        l->cap = l->cap ? 2 * l->cap : 64;
        l->rids = xrealloc(l->rids, l->cap * sizeof l->rids[0]);
    }
    l->rids[l->n++] = rid;
}

/* Empties slot i (mc->mu held). */
static void evict(struct match_cache *mc, int i)
{
    mc->bytes -= list_bytes(mc->slots[i].list);
    unref(mc->slots[i].list);
    mc->slots[i].list = NULL;
}

void match_cache_put(struct match_cache *mc, struct match_list *l)
{
    if (!mc) {
        match_list_free(l);
        return;
    }
    pthread_mutex_lock(&mc->mu);
    pending_done(mc, l->scope, l->gen, l->what, l->text);
    if (list_bytes(l) > mc->max_bytes / 4) {
        pthread_mutex_unlock(&mc->mu);
        match_list_free(l);
        return;
    }
    for (int i = 0; i < SLOTS; i++) {
        struct match_list *old = mc->slots[i].list;
        if (old && same_key(old, l->scope, l->what, l->text)) {
            if (old->gen >= l->gen) { /* as new or newer: a reader of an older snapshot built l */
                pthread_mutex_unlock(&mc->mu);
                match_list_free(l);
                return;
            }
            evict(mc, i);
        }
    }
    for (;;) {
        int free_slot = -1, oldest = -1;
        for (int i = 0; i < SLOTS; i++) {
            if (!mc->slots[i].list)
                free_slot = free_slot < 0 ? i : free_slot;
            else if (oldest < 0 || mc->slots[i].used < mc->slots[oldest].used)
                oldest = i;
        }
        if (free_slot >= 0 && mc->bytes + list_bytes(l) <= mc->max_bytes) {
            mc->slots[free_slot] = (struct slot){.list = l, .used = ++mc->tick};
            mc->bytes += list_bytes(l);
            break;
        }
        if (oldest < 0) { /* not reached: l fits in an empty cache */
            match_list_free(l);
            break;
        }
        evict(mc, oldest);
    }
    pthread_mutex_unlock(&mc->mu);
}

void match_cache_release(struct match_cache *mc, const struct match_list *l)
{
    if (!mc || !l)
        return;
    pthread_mutex_lock(&mc->mu);
    unref((struct match_list *)l);
    pthread_mutex_unlock(&mc->mu);
}
