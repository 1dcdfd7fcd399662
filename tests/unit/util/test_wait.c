/* Unit tests for util/wait: per-thread hooks around waits. */
#include <criterion/criterion.h>

#include <pthread.h>

#include "util/wait.h"

struct counts {
    int enters, leaves;
};

static void count_enter(void *arg)
{
    ((struct counts *)arg)->enters++;
}

static void count_leave(void *arg)
{
    ((struct counts *)arg)->leaves++;
}

static void *wait_elsewhere(void *arg)
{
    (void)arg;
    wait_enter(); /* this thread has no hooks */
    wait_leave();
    return NULL;
}

Test(wait, hooks_are_the_calling_threads)
{
    struct counts c = {0};
    const struct wait_hooks h = {.enter = count_enter, .leave = count_leave, .arg = &c};
    wait_enter(); /* none yet: nothing happens */
    wait_leave();
    wait_hooks_set(&h);
    wait_enter();
    cr_expect_eq(c.enters, 1);
    cr_expect_eq(c.leaves, 0);
    wait_leave();
    cr_expect_eq(c.leaves, 1);
    pthread_t t;
    cr_assert_eq(pthread_create(&t, NULL, wait_elsewhere, NULL), 0);
    pthread_join(t, NULL);
    cr_expect_eq(c.enters, 1, "another thread's waits are not this thread's");
    wait_hooks_set(NULL);
    wait_enter();
    cr_expect_eq(c.enters, 1);
}
