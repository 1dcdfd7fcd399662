/* ridhint: a rowid put under an id is got back under that id only, slots shared by two ids keep
 * the later one (the other gets no hint, never the wrong one, short of a 24-bit tag collision),
 * rowids out of range are not kept, and threads putting and getting at once see only rowids
 * that were put. */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "store/ridhint.h"

static void put(struct ridhint *h, const char *id, int64_t rid)
{
    ridhint_put(h, id, strlen(id), rid);
}

static int64_t get(const struct ridhint *h, const char *id)
{
    return ridhint_get(h, id, strlen(id));
}

Test(ridhint, a_rowid_is_got_back_under_its_id_only)
{
    struct ridhint *h = ridhint_new(16);
    cr_expect_eq(get(h, "ti-1"), 0, "an empty table hints nothing");
    put(h, "ti-1", 42);
    cr_expect_eq(get(h, "ti-1"), 42);
    cr_expect_eq(get(h, "ti-2"), 0);
    cr_expect_eq(get(h, "ti-"), 0, "a prefix is another id");
    cr_expect_eq(ridhint_get(h, "ti-1x", 4), 42, "the length given is the id");
    put(h, "ti-1", 43);
    cr_expect_eq(get(h, "ti-1"), 43, "the last rowid put wins");
    ridhint_free(h);
}

Test(ridhint, rowids_out_of_range_are_not_kept)
{
    struct ridhint *h = ridhint_new(16);
    put(h, "a", 0);
    put(h, "b", -5);
    put(h, "c", (int64_t)1 << 40);
    put(h, "d", ((int64_t)1 << 40) - 1);
    cr_expect_eq(get(h, "a"), 0);
    cr_expect_eq(get(h, "b"), 0);
    cr_expect_eq(get(h, "c"), 0);
    cr_expect_eq(get(h, "d"), ((int64_t)1 << 40) - 1, "the largest rowid kept");
    ridhint_free(h);
}

Test(ridhint, sizes_are_clamped)
{
    struct ridhint *h = ridhint_new(0);
    cr_expect_eq(ridhint_slots(h), 1024);
    ridhint_free(h);
    h = ridhint_new(40);
    cr_expect_eq(ridhint_slots(h), (size_t)1 << 26);
    ridhint_free(h);
    ridhint_free(NULL);
}

/* Far more ids than slots: each id's hint is its own rowid or none, and the table still holds
 * about as many hints as it has slots. */
Test(ridhint, ids_sharing_a_slot_get_their_own_rowid_or_none)
{
    struct ridhint *h = ridhint_new(10);
    enum { N = 20000 };
    char id[32];
    for (int i = 1; i <= N; i++) {
        snprintf(id, sizeof id, "ti-%d", i);
        put(h, id, i);
    }
    int hits = 0;
    for (int i = 1; i <= N; i++) {
        snprintf(id, sizeof id, "ti-%d", i);
        int64_t rid = get(h, id);
        cr_assert(rid == 0 || rid == i, "%s hinted at %lld", id, (long long)rid);
        hits += rid == i;
    }
    cr_expect_gt(hits, 900, "%d hints kept in 1024 slots", hits);
    cr_expect_leq(hits, 1024);
    ridhint_free(h);
}

struct racer {
    struct ridhint *h;
    bool wrong;
};

static void *race(void *arg)
{
    struct racer *r = arg;
    char id[32];
    for (int round = 0; round < 50; round++) {
        for (int i = 1; i <= 2000; i++) {
            snprintf(id, sizeof id, "id-%d", (i * 7 + round) % 3000);
            int n = (i * 7 + round) % 3000;
            put(r->h, id, n + 1);
            int64_t rid = get(r->h, id);
            if (rid != 0 && rid != n + 1)
                r->wrong = true;
        }
    }
    return NULL;
}

Test(ridhint, threads_see_only_rowids_put_under_the_id)
{
    struct ridhint *h = ridhint_new(10);
    pthread_t t[4];
    struct racer r[4];
    for (int i = 0; i < 4; i++) {
        r[i] = (struct racer){.h = h};
        cr_assert_eq(pthread_create(&t[i], NULL, race, &r[i]), 0);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(t[i], NULL);
        cr_expect_not(r[i].wrong, "thread %d got another id's rowid", i);
    }
    ridhint_free(h);
}
