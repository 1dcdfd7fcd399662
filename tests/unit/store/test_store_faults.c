/* Unit tests for the SQLite writer's group commit under failed allocations: SQLite's allocator
 * is wrapped so that the n-th allocation of the writer thread fails, for every n in turn, while
 * three writes share one group. Whatever fails, each write's answer must match what is stored:
 * STORE_OK exactly when its record is there, and a decision taken on another write of the
 * group (here STORE_ABORT, like an Idempotency-Key replay) only when that write committed. */
#include <criterion/criterion.h>

#include <dirent.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "store/store.h"

static char dir[64];
static struct store *st;

/* ---- the failing allocator ---- */

static sqlite3_mem_methods real_mem;
static atomic_int countdown;   /* > 0: that many allocations from now, the last fails */
static pthread_t armed_thread; /* only this thread's allocations count */
static atomic_int failed;      /* allocations failed so far */

static bool fail_now(void)
{
    if (atomic_load(&countdown) <= 0 || !pthread_equal(pthread_self(), armed_thread))
        return false;
    if (atomic_fetch_sub(&countdown, 1) != 1)
        return false;
    atomic_fetch_add(&failed, 1);
    return true;
}

static void *faulty_malloc(int n)
{
    return fail_now() ? NULL : real_mem.xMalloc(n);
}

static void *faulty_realloc(void *p, int n)
{
    return fail_now() ? NULL : real_mem.xRealloc(p, n);
}

static void install_allocator(void)
{
    cr_assert_eq(sqlite3_shutdown(), SQLITE_OK);
    cr_assert_eq(sqlite3_config(SQLITE_CONFIG_GETMALLOC, &real_mem), SQLITE_OK);
    sqlite3_mem_methods m = real_mem;
    m.xMalloc = faulty_malloc;
    m.xRealloc = faulty_realloc;
    cr_assert_eq(sqlite3_config(SQLITE_CONFIG_MALLOC, &m), SQLITE_OK);
    cr_assert_eq(sqlite3_initialize(), SQLITE_OK);
}

static void setup(void)
{
    install_allocator();
    snprintf(dir, sizeof dir, "/tmp/casemgr-faults-XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
    char url[128], *err = NULL;
    snprintf(url, sizeof url, "sqlite:%s/x.db", dir);
    const struct store_options opt = {.durability = STORE_DURABILITY_NORMAL,
                                      .busy_timeout_ms = 10000};
    st = store_open(url, &opt, &err);
    cr_assert_not_null(st, "store_open: %s", err ? err : "?");
}

static void teardown(void)
{
    store_close(st);
    DIR *d = opendir(dir);
    if (d) {
        struct dirent *ent;
        while ((ent = readdir(d)) != NULL) {
            char path[512];
            snprintf(path, sizeof path, "%s/%s", dir, ent->d_name);
            if (ent->d_name[0] != '.')
                unlink(path);
        }
        closedir(d);
    }
    rmdir(dir);
}

TestSuite(store_faults, .init = setup, .fini = teardown, .timeout = 120);

/* ---- three writes in one group ---- */

static void sleep_ms(long ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static struct store_record record(const char *id, const char *ref)
{
    return (struct store_record){
        .kind = STORE_CASE,
        .id = id,
        .stream_id = "st-f",
        .account_id = "acc-f",
        .ref_id = ref,
        .name_lower = "n",
        .status_name = "Open",
        .status_category = "open",
        .created_at = 1,
        .updated_at = 1,
        .doc = "{}",
        .doc_len = 2,
    };
}

/* The four writes of a trial, queued in this order. */
enum role { HOLD, WRITE_A, DECIDE_ON_A, WRITE_C, ROLES };

struct job {
    enum role role;
    int trial; /* also: the writer's allocation that fails, counted after a is written */
    int rc;
};

static int job_cb(struct store_txn *t, void *arg)
{
    struct job *j = arg;
    char id[32], ref[32];
    switch (j->role) {
    case HOLD: /* keeps the writer busy while the others queue up: they form one group */
        sleep_ms(30);
        return STORE_OK;
    case WRITE_A: /* writes a, then the writer's allocations start counting down */
        snprintf(id, sizeof id, "ci-a-%d", j->trial);
        snprintf(ref, sizeof ref, "A%d", j->trial);
        struct store_record a = record(id, ref);
        int put = store_record_put(t, &a);
        armed_thread = pthread_self();
        atomic_store(&countdown, j->trial);
        return put;
    case DECIDE_ON_A: { /* like an Idempotency-Key replay: aborts when it finds a */
        snprintf(id, sizeof id, "ci-a-%d", j->trial);
        struct store_record r;
        int rc = store_record_get(t, STORE_CASE, "st-f", "acc-f", id, &r);
        if (rc == STORE_OK)
            free(r.doc);
        return rc == STORE_OK ? STORE_ABORT : rc == STORE_NOT_FOUND ? STORE_OK : rc;
    }
    default: /* WRITE_C */
        snprintf(id, sizeof id, "ci-c-%d", j->trial);
        snprintf(ref, sizeof ref, "C%d", j->trial);
        struct store_record c = record(id, ref);
        return store_record_put(t, &c);
    }
}

static void *job_main(void *arg)
{
    struct job *j = arg;
    j->rc = store_write(st, job_cb, j);
    return NULL;
}

static int get_cb(struct store_txn *t, void *arg)
{
    struct store_record r;
    int rc = store_record_get(t, STORE_CASE, "st-f", "acc-f", arg, &r);
    if (rc == STORE_OK)
        free(r.doc);
    return rc;
}

static bool stored(const char *what, int trial)
{
    char id[32];
    snprintf(id, sizeof id, "ci-%s-%d", what, trial);
    int rc;
    while ((rc = store_read(st, get_cb, id)) == STORE_ERROR)
        ; /* a read that failed on its own is no answer */
    cr_assert(rc == STORE_OK || rc == STORE_NOT_FOUND);
    return rc == STORE_OK;
}

Test(store_faults, a_group_hit_by_a_failed_allocation_answers_what_it_stored)
{
    int failing_trials = 0;
    for (int trial = 1; trial <= 120; trial++) {
        struct job jobs[ROLES];
        pthread_t tids[ROLES];
        for (int i = 0; i < ROLES; i++) {
            jobs[i] = (struct job){.role = (enum role)i, .trial = trial};
            cr_assert_eq(pthread_create(&tids[i], NULL, job_main, &jobs[i]), 0);
            sleep_ms(i == HOLD ? 10 : 3); /* queued in this order */
        }
        for (int i = 0; i < ROLES; i++)
            pthread_join(tids[i], NULL);
        int fails = atomic_exchange(&failed, 0);
        atomic_store(&countdown, 0);
        failing_trials += fails > 0;
        bool a = stored("a", trial), c = stored("c", trial);
        cr_assert_eq(jobs[WRITE_A].rc == STORE_OK, a, "trial %d: a %s but its write answered %d",
                     trial, a ? "stored" : "absent", jobs[WRITE_A].rc);
        cr_assert_eq(jobs[WRITE_C].rc == STORE_OK, c, "trial %d: c %s but its write answered %d",
                     trial, c ? "stored" : "absent", jobs[WRITE_C].rc);
        if (jobs[DECIDE_ON_A].rc == STORE_ABORT)
            cr_assert(a, "trial %d: decided on a, which did not commit", trial);
        else
            cr_assert(jobs[DECIDE_ON_A].rc == STORE_OK || jobs[DECIDE_ON_A].rc == STORE_ERROR,
                      "trial %d: %d", trial, jobs[DECIDE_ON_A].rc);
    }
    cr_assert_gt(failing_trials, 10, "only %d trials had an allocation fail", failing_trials);
}
