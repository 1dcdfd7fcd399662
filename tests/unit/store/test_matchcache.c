/* matchcache: lists kept by key and generation, newest generation wins, bytes and slots bounded
 * with the least recently used out first, lists held by a reader outlive their eviction, and a
 * list one caller is reading is waited for by the others rather than read again. */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <time.h>

#include "store/matchcache.h"
#include "util/mem.h"

static struct match_list *list_of(int64_t scope, int64_t gen, const char *text, size_t n)
{
    struct match_list *l = match_list_new(scope, gen, MATCH_SEARCH, text, 0);
    for (size_t i = 0; i < n; i++)
        match_list_push(l, (int64_t)(n - i)); /* grows past the first capacity */
    return l;
}

Test(matchcache, a_put_list_is_found_by_its_key_and_generation_only)
{
    struct match_cache *mc = match_cache_new(1 << 20);
    cr_assert_null(match_cache_get(mc, 1, 7, MATCH_SEARCH, "okapi"), "an empty cache");
    match_cache_put(mc, list_of(1, 7, "okapi", 100));
    const struct match_list *l = match_cache_get(mc, 1, 7, MATCH_SEARCH, "okapi");
    cr_assert_not_null(l);
    cr_expect_eq(l->n, 100);
    cr_expect_eq(l->rids[0], 100);
    cr_expect_eq(l->rids[99], 1);
    match_cache_release(mc, l);
    /* another generation, tenant, text or kind of match is another list; each miss made the
     * caller the reader of that list, which it gives up here */
    cr_expect_null(match_cache_get(mc, 1, 8, MATCH_SEARCH, "okapi"));
    match_cache_abandon(mc, 1, 8, MATCH_SEARCH, "okapi");
    cr_expect_null(match_cache_get(mc, 2, 7, MATCH_SEARCH, "okapi"));
    match_cache_abandon(mc, 2, 7, MATCH_SEARCH, "okapi");
    cr_expect_null(match_cache_get(mc, 1, 7, MATCH_SEARCH, "okap"));
    match_cache_abandon(mc, 1, 7, MATCH_SEARCH, "okap");
    cr_expect_null(match_cache_get(mc, 1, 7, MATCH_NAME, "okapi"));
    match_cache_abandon(mc, 1, 7, MATCH_NAME, "okapi");
    match_cache_free(mc);
}

Test(matchcache, a_later_generation_replaces_an_earlier_one_and_not_the_reverse)
{
    struct match_cache *mc = match_cache_new(1 << 20);
    match_cache_put(mc, list_of(1, 5, "okapi", 3));
    match_cache_put(mc, list_of(1, 6, "okapi", 4));
    cr_expect_null(match_cache_get(mc, 1, 5, MATCH_SEARCH, "okapi"), "the older one stayed");
    match_cache_abandon(mc, 1, 5, MATCH_SEARCH, "okapi");
    /* a reader of an older snapshot puts what it read: the newer list stays */
    match_cache_put(mc, list_of(1, 5, "okapi", 3));
    const struct match_list *l = match_cache_get(mc, 1, 6, MATCH_SEARCH, "okapi");
    cr_assert_not_null(l, "the newer list was replaced by an older one");
    cr_expect_eq(l->n, 4);
    match_cache_release(mc, l);
    match_cache_free(mc);
}

Test(matchcache, bytes_are_bounded_least_recently_used_out_first)
{
    /* room for 4 lists of 1,000 rowids (8,000 bytes each); a list may take a quarter */
    struct match_cache *mc = match_cache_new(32000);
    char text[16];
    for (int i = 0; i < 4; i++) {
        snprintf(text, sizeof text, "word%d", i);
        match_cache_put(mc, list_of(1, 1, text, 1000));
    }
    const struct match_list *l = match_cache_get(mc, 1, 1, MATCH_SEARCH, "word0");
    cr_assert_not_null(l);
    match_cache_release(mc, l); /* word0 is now the most recently used: word1 goes first */
    match_cache_put(mc, list_of(1, 1, "word4", 1000));
    cr_expect_null(match_cache_get(mc, 1, 1, MATCH_SEARCH, "word1"));
    match_cache_abandon(mc, 1, 1, MATCH_SEARCH, "word1");
    for (int i = 0; i < 5; i++) {
        if (i == 1)
            continue;
        snprintf(text, sizeof text, "word%d", i);
        l = match_cache_get(mc, 1, 1, MATCH_SEARCH, text);
        cr_expect_not_null(l, "%s", text);
        match_cache_release(mc, l);
    }
    /* a list larger than a quarter of the cache is not kept */
    match_cache_put(mc, list_of(1, 1, "huge", 1001));
    cr_expect_null(match_cache_get(mc, 1, 1, MATCH_SEARCH, "huge"));
    match_cache_abandon(mc, 1, 1, MATCH_SEARCH, "huge");
    match_cache_free(mc);
}

Test(matchcache, slots_are_bounded_and_a_held_list_outlives_its_eviction)
{
    struct match_cache *mc = match_cache_new(1 << 20);
    match_cache_put(mc, list_of(1, 1, "first", 10));
    const struct match_list *held = match_cache_get(mc, 1, 1, MATCH_SEARCH, "first");
    cr_assert_not_null(held);
    char text[16];
    for (int i = 0; i < 200; i++) { /* more lists than slots: "first" is evicted */
        snprintf(text, sizeof text, "w%d", i);
        match_cache_put(mc, list_of(1, 1, text, 1));
    }
    cr_expect_null(match_cache_get(mc, 1, 1, MATCH_SEARCH, "w0"), "the oldest stayed");
    match_cache_abandon(mc, 1, 1, MATCH_SEARCH, "w0");
    cr_expect_eq(held->n, 10); /* still readable (ASan: not freed) */
    cr_expect_eq(held->rids[9], 1);
    match_cache_release(mc, held);
    const struct match_list *last = match_cache_get(mc, 1, 1, MATCH_SEARCH, "w199");
    cr_expect_not_null(last);
    match_cache_release(mc, last);
    match_cache_free(mc);
}

Test(matchcache, a_count_only_list_is_kept_without_rowids)
{
    struct match_cache *mc = match_cache_new(1 << 20);
    match_cache_put(mc, match_list_count_only(1, 1, MATCH_NAME, "many", 5000000));
    const struct match_list *l = match_cache_get(mc, 1, 1, MATCH_NAME, "many");
    cr_assert_not_null(l);
    cr_expect_null(l->rids);
    cr_expect_eq(l->n, 5000000);
    match_cache_release(mc, l);
    match_cache_free(mc);
}

Test(matchcache, a_null_cache_keeps_nothing)
{
    cr_assert_null(match_cache_new(0));
    cr_expect_null(match_cache_get(NULL, 1, 1, MATCH_SEARCH, "okapi"));
    match_cache_put(NULL, list_of(1, 1, "okapi", 3)); /* freed (ASan: no leak) */
    match_cache_abandon(NULL, 1, 1, MATCH_SEARCH, "okapi");
    match_cache_release(NULL, NULL);
    match_cache_free(NULL);
}

/* Eight callers ask for the same list at once: one reads it, the others wait and get it. */
struct asker {
    struct match_cache *mc;
    atomic_int *reads;
    size_t n;
};

static void *ask(void *arg)
{
    struct asker *a = arg;
    const struct match_list *l = match_cache_get(a->mc, 1, 1, MATCH_SEARCH, "okapi");
    if (!l) {
        atomic_fetch_add(a->reads, 1);
        struct timespec pause = {.tv_nsec = 50 * 1000 * 1000}; /* a slow read of the index */
        nanosleep(&pause, NULL);
        match_cache_put(a->mc, list_of(1, 1, "okapi", 42));
        l = match_cache_get(a->mc, 1, 1, MATCH_SEARCH, "okapi");
    }
    a->n = l ? l->n : 0;
    match_cache_release(a->mc, l);
    return NULL;
}

Test(matchcache, callers_wait_for_the_one_reading_a_list)
{
    struct match_cache *mc = match_cache_new(1 << 20);
    atomic_int reads = 0;
    pthread_t threads[8];
    struct asker askers[8];
    for (int i = 0; i < 8; i++) {
        askers[i] = (struct asker){.mc = mc, .reads = &reads};
        cr_assert_eq(pthread_create(&threads[i], NULL, ask, &askers[i]), 0);
    }
    for (int i = 0; i < 8; i++) {
        pthread_join(threads[i], NULL);
        cr_expect_eq(askers[i].n, 42, "asker %d", i);
    }
    cr_expect_eq(atomic_load(&reads), 1, "the list was read %d times", atomic_load(&reads));
    match_cache_free(mc);
}

/* A reader that gives up hands the reading to one of the waiting callers. */
Test(matchcache, an_abandoned_read_passes_to_a_waiting_caller)
{
    struct match_cache *mc = match_cache_new(1 << 20);
    cr_assert_null(match_cache_get(mc, 1, 1, MATCH_SEARCH, "okapi")); /* this thread reads */
    atomic_int reads = 0;
    struct asker waiting = {.mc = mc, .reads = &reads};
    pthread_t b;
    cr_assert_eq(pthread_create(&b, NULL, ask, &waiting), 0);
    struct timespec pause = {.tv_nsec = 50 * 1000 * 1000};
    nanosleep(&pause, NULL);
    cr_expect_eq(atomic_load(&reads), 0, "a second read began while the first was going on");
    match_cache_abandon(mc, 1, 1, MATCH_SEARCH, "okapi");
    pthread_join(b, NULL);
    cr_expect_eq(waiting.n, 42);
    cr_expect_eq(atomic_load(&reads), 1);
    match_cache_free(mc);
}

/* A caller that must not wait is told the list is being read, at once, and claims nothing; once
 * it is put it gets it; with no one reading it reads it itself. */
Test(matchcache, a_caller_that_must_not_wait_is_told_another_reads_the_list)
{
    struct match_cache *mc = match_cache_new(1 << 20);
    bool busy = true;
    cr_assert_null(match_cache_get_now(mc, 1, 1, MATCH_SEARCH, "okapi", &busy));
    cr_expect_not(busy, "no one reads it: this caller is to");
    bool busy2 = false;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    cr_expect_null(match_cache_get_now(mc, 1, 1, MATCH_SEARCH, "okapi", &busy2));
    clock_gettime(CLOCK_MONOTONIC, &t1);
    cr_expect(busy2, "the first caller reads it");
    long waited_ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
    cr_expect_lt(waited_ms, 100, "it did not wait (%ld ms)", waited_ms);
    match_cache_put(mc, list_of(1, 1, "okapi", 42));
    const struct match_list *l = match_cache_get_now(mc, 1, 1, MATCH_SEARCH, "okapi", &busy2);
    cr_assert_not_null(l);
    cr_expect_not(busy2);
    cr_expect_eq(l->n, 42);
    match_cache_release(mc, l);
    match_cache_free(mc);
}
