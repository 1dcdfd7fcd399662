/* Unit tests for util/jarena: a thread's scope takes its JSON values from its arena and gives them
 * back at its end; paused, overgrown and threadless allocations come from the heap. */
#include <criterion/criterion.h>

#include <jansson.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "util/jarena.h"
#include "util/jtext.h"

#if defined(__SANITIZE_ADDRESS__)
#define TEST_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define TEST_ASAN 1
#endif
#endif
#ifdef TEST_ASAN
#include <sanitizer/asan_interface.h>
#endif

Test(jarena, a_scope_takes_from_the_arena_and_the_next_scope_reuses_it)
{
    jarena_begin();
    cr_expect_eq(jarena_used(), 0);
    char *a = jarena_malloc(10);
    char *b = jarena_malloc(100);
    cr_assert_not_null(a);
    cr_assert_not_null(b);
    cr_expect_eq((uintptr_t)a % 16, 0, "aligned as malloc's");
    cr_expect_eq((uintptr_t)b % 16, 0);
    cr_expect_eq(b, a + 16, "one after the other");
    cr_expect_eq(jarena_used(), 16 + 112);
    memset(a, 'x', 10);
    memset(b, 'y', 100);
    jarena_free(b); /* nothing: the scope's end takes it back */
    cr_expect_eq(jarena_used(), 16 + 112);
    jarena_end();
    cr_expect_eq(jarena_used(), 0, "outside a scope");
#ifdef TEST_ASAN
    cr_expect(__asan_address_is_poisoned(a), "an ended scope's memory is poisoned");
    cr_expect(__asan_address_is_poisoned(b + 99));
#endif
    jarena_begin();
    char *c = jarena_malloc(10);
    cr_expect_eq(c, a, "the next scope starts the arena over");
#ifdef TEST_ASAN
    cr_expect_not(__asan_address_is_poisoned(c + 9));
    cr_expect(__asan_address_is_poisoned(c + 10), "past the block: still poisoned");
#endif
    jarena_end();
}

Test(jarena, outside_a_scope_and_paused_allocations_come_from_the_heap)
{
    char *before = jarena_malloc(32); /* no scope */
    strcpy(before, "from the heap");
    jarena_begin();
    bool was = jarena_pause();
    cr_expect_not(was);
    char *kept = jarena_malloc(64);
    cr_expect_eq(jarena_used(), 0, "paused: nothing from the arena");
    jarena_restore(was);
    char *inside = jarena_malloc(64);
    cr_expect_eq(jarena_used(), 64);
    jarena_free(before); /* a heap block freed inside a scope is freed (ASan: no leak) */
    jarena_free(inside);
    jarena_end();
    strcpy(kept, "outlives the scope");
    cr_expect_str_eq(kept, "outlives the scope");
    jarena_free(kept);
}

Test(jarena, scopes_nest_and_end_with_the_outermost)
{
    jarena_begin();
    char *outer = jarena_malloc(16);
    jarena_begin();
    char *inner = jarena_malloc(16);
    cr_expect_eq(inner, outer + 16);
    jarena_end();
    cr_expect_eq(jarena_used(), 32, "the inner end gives nothing back");
    strcpy(outer, "still mine");
    cr_expect_str_eq(outer, "still mine");
    jarena_end();
    cr_expect_eq(jarena_used(), 0);
    jarena_end(); /* one too many: nothing */
    cr_expect_eq(jarena_used(), 0);
}

Test(jarena, a_scope_past_its_arena_goes_on_from_the_heap)
{
    jarena_begin();
    char *small = jarena_malloc(100);
    char *big = jarena_malloc(JARENA_BYTES); /* does not fit beside small */
    cr_assert_not_null(big);
    cr_expect_eq(jarena_used(), 112, "the big block is not the arena's");
    memset(big, 1, JARENA_BYTES);
    char *after = jarena_malloc(8);
    cr_expect_eq(after, small + 112, "what still fits comes from the arena");
    jarena_free(big); /* a heap block: freed (ASan: no leak) */
    jarena_end();
}

static void *block_of_a_new_thread(void *arg)
{
    (void)arg;
    jarena_begin();
    char *p = jarena_malloc(24);
    jarena_end();
    return p;
}

static void *free_elsewhere(void *arg)
{
    jarena_free(arg); /* another thread's arena block: nothing */
    return NULL;
}

Test(jarena, threads_have_arenas_of_their_own_and_any_thread_may_free_a_block)
{
    jarena_begin();
    char *mine = jarena_malloc(24);
    pthread_t t;
    void *theirs = NULL;
    cr_assert_eq(pthread_create(&t, NULL, block_of_a_new_thread, NULL), 0);
    pthread_join(t, &theirs);
    cr_assert_not_null(theirs);
    cr_expect_neq((char *)theirs, mine);
    cr_expect(labs((char *)theirs - mine) >= JARENA_BYTES, "in another slot");
    cr_assert_eq(pthread_create(&t, NULL, free_elsewhere, mine), 0);
    pthread_join(t, NULL);
    jarena_end();
}

static void *used_after_one_block(void *arg)
{
    (void)arg;
    jarena_begin();
    (void)jarena_malloc(8);
    size_t used = jarena_used();
    jarena_end();
    return (void *)used;
}

Test(jarena, a_thread_that_ends_gives_its_arena_back)
{
    /* more threads one after another than there are arenas: each still gets one */
    for (int i = 0; i < JARENA_THREADS * 2; i++) {
        pthread_t t;
        void *used = NULL;
        cr_assert_eq(pthread_create(&t, NULL, used_after_one_block, NULL), 0);
        pthread_join(t, &used);
        cr_assert_eq((size_t)used, 16, "thread %d had no arena", i);
    }
}

Test(jarena, json_values_made_in_a_scope_come_from_it_and_go_with_it)
{
    json_set_alloc_funcs(jarena_malloc, jarena_free);
    json_t *outside = json_pack("{s:s}", "name", "made on the heap");
    static const char text[] = "{\"_id\":\"t-1\",\"tags\":[\"a\",\"b\"],\"fields\":[{\"k\":1.5}]}";
    for (int round = 0; round < 3; round++) {
        jarena_begin();
        json_t *d = jtext_parse(text, sizeof text - 1);
        cr_assert_not_null(d);
        cr_expect_gt(jarena_used(), 0, "the parse took from the arena");
        json_object_set(d, "from_outside", json_object_get(outside, "name"));
        size_t len = 0;
        char *out = jtext_dump(d, &len);
        cr_assert_not_null(out);
        cr_expect_eq(strncmp(out, "{\"_id\":\"t-1\"", 12), 0, "%s", out);
        free(out); /* jtext's text is the heap's */
        json_decref(d);
        jarena_end();
    }
    /* the value shared with the scope's document is whole after three scopes */
    cr_expect_str_eq(json_string_value(json_object_get(outside, "name")), "made on the heap");
    json_decref(outside);
    json_set_alloc_funcs(malloc, free);
}
