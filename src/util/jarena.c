#include "util/jarena.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>

#include "util/mem.h"

#if defined(__SANITIZE_ADDRESS__)
#define JARENA_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define JARENA_ASAN 1
#endif
#endif
#ifdef JARENA_ASAN
#include <sanitizer/asan_interface.h>
#define POISON(p, n) ASAN_POISON_MEMORY_REGION(p, n)
#define UNPOISON(p, n) ASAN_UNPOISON_MEMORY_REGION(p, n)
#else
#define POISON(p, n) ((void)(p), (void)(n))
#define UNPOISON(p, n) ((void)(p), (void)(n))
#endif

#define ALIGN 16 /* malloc's: jansson keeps doubles and pointers in its blocks */

/* Every thread's arena is a slot of one region, so that any thread tells an arena's block from a
 * heap one by its address alone. */
static _Atomic(char *) region;
static pthread_once_t region_once = PTHREAD_ONCE_INIT;
static pthread_key_t slot_key;
static pthread_mutex_t slots_mu = PTHREAD_MUTEX_INITIALIZER;
static int slots_made;                 /* slots handed out at least once */
static int free_slots[JARENA_THREADS]; /* given back by threads that ended */
static int free_count;

struct arena {
    char *base; /* NULL: none yet, or none was free (then none_left) */
    size_t used;
    int depth;
    bool paused, none_left;
};
static _Thread_local struct arena me;

/* The key's destructor: arg is the ended thread's arena. */
static void slot_release(void *arg)
{
    char *r = atomic_load_explicit(&region, memory_order_acquire);
    int slot = (int)(((char *)arg - r) / (ptrdiff_t)JARENA_BYTES);
    pthread_mutex_lock(&slots_mu);
    free_slots[free_count++] = slot;
    pthread_mutex_unlock(&slots_mu);
}

static void region_map(void)
{
    void *p = mmap(NULL, JARENA_BYTES * JARENA_THREADS, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED || pthread_key_create(&slot_key, slot_release) != 0)
        return; /* no arenas: the heap, as without them */
    POISON(p, JARENA_BYTES * JARENA_THREADS);
    atomic_store_explicit(&region, p, memory_order_release);
}

/* The calling thread's slot, taken on its first scope and given back when it ends. */
static void slot_claim(void)
{
    pthread_once(&region_once, region_map);
    char *r = atomic_load_explicit(&region, memory_order_acquire);
    if (!r) {
        me.none_left = true;
        return;
    }
    int slot = -1;
    pthread_mutex_lock(&slots_mu);
    if (free_count > 0)
        slot = free_slots[--free_count];
    else if (slots_made < JARENA_THREADS)
        slot = slots_made++;
    pthread_mutex_unlock(&slots_mu);
    char *base = slot < 0 ? NULL : r + (size_t)slot * JARENA_BYTES;
    if (!base || pthread_setspecific(slot_key, base) != 0) {
        if (base)
            slot_release(base);
        me.none_left = true;
        return;
    }
    me.base = base;
}

void *jarena_malloc(size_t n)
{
    if (me.depth > 0 && !me.paused && me.base) {
        size_t need = (n + ALIGN - 1) & ~(size_t)(ALIGN - 1);
        if (need >= n && need <= JARENA_BYTES - me.used) {
            char *p = me.base + me.used;
            me.used += need;
            UNPOISON(p, n);
            return p;
        }
    }
    return xmalloc(n);
}

void jarena_free(void *p)
{
    char *r = atomic_load_explicit(&region, memory_order_acquire);
    /* as addresses: p may be any block, and C orders pointers within one object only */
    if (r && (uintptr_t)p - (uintptr_t)r < JARENA_BYTES * JARENA_THREADS)
        return; /* taken back when its scope ends */
    free(p);
}

void jarena_begin(void)
{
    if (me.depth++ > 0)
        return;
    if (!me.base && !me.none_left)
        slot_claim();
    me.used = 0;
    me.paused = false;
}

void jarena_end(void)
{
    if (me.depth == 0 || --me.depth > 0)
        return;
    if (me.base)
        POISON(me.base, me.used);
    me.used = 0;
    me.paused = false;
}

bool jarena_pause(void)
{
    bool was = me.paused;
    me.paused = true;
    return was;
}

void jarena_restore(bool paused)
{
    me.paused = paused;
}

size_t jarena_used(void)
{
    return me.depth > 0 ? me.used : 0;
}
