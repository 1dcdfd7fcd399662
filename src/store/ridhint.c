/* ridhint — see ridhint.h. */
#include "store/ridhint.h"

#include <stdatomic.h>
#include <stdlib.h>

#include "util/mem.h"

#define RID_BITS 40
#define RID_MASK ((UINT64_C(1) << RID_BITS) - 1)

struct ridhint {
    uint64_t mask;           /* slots - 1 */
    _Atomic uint64_t *slots; /* (tag << RID_BITS) | rid, or 0 */
};

/* FNV-1a over the id, then a finaliser (splitmix64's) so that the low bits (the slot) and the
 * high bits (the tag) both depend on every byte. */
static uint64_t hash(const char *id, size_t len)
{
    uint64_t h = UINT64_C(0xcbf29ce484222325);
    for (size_t i = 0; i < len; i++) {
        h ^= (unsigned char)id[i];
        h *= UINT64_C(0x100000001b3);
    }
    h ^= h >> 30;
    h *= UINT64_C(0xbf58476d1ce4e5b9);
    h ^= h >> 27;
    h *= UINT64_C(0x94d049bb133111eb);
    h ^= h >> 31;
    return h;
}

struct ridhint *ridhint_new(unsigned bits)
{
    if (bits < 10)
        bits = 10;
    if (bits > 26)
        bits = 26;
    struct ridhint *h = xmalloc(sizeof *h);
    size_t n = (size_t)1 << bits;
    h->mask = n - 1;
    h->slots = xcalloc(n, sizeof *h->slots); /* zero: no hint */
    return h;
}

void ridhint_free(struct ridhint *h)
{
    if (!h)
        return;
    free((void *)h->slots);
    free(h);
}

size_t ridhint_slots(const struct ridhint *h)
{
    return (size_t)h->mask + 1;
}

void ridhint_put(struct ridhint *h, const char *id, size_t id_len, int64_t rid)
{
    if (rid <= 0 || (uint64_t)rid > RID_MASK)
        return;
    uint64_t k = hash(id, id_len);
    uint64_t word = (k & ~RID_MASK) | (uint64_t)rid;
    atomic_store_explicit(&h->slots[k & h->mask], word, memory_order_relaxed);
}

int64_t ridhint_get(const struct ridhint *h, const char *id, size_t id_len)
{
    uint64_t k = hash(id, id_len);
    uint64_t word = atomic_load_explicit(&h->slots[k & h->mask], memory_order_relaxed);
    if ((word & ~RID_MASK) != (k & ~RID_MASK))
        return 0;
    return (int64_t)(word & RID_MASK);
}
