/* store_threads — the SQLite store's threads under ThreadSanitizer (`make check-tsan`).
 *
 * The Criterion unit tests cannot run under TSan (Criterion's runner maps an arena at addresses
 * TSan reserves), so this plain program does what their concurrency tests do, with TSan
 * watching: many threads write at once (the writer thread groups them into one commit, aborts
 * among them), update one shared record with compare-and-set (conflicts), read on their own
 * connections, and query (searches too, through the matches the store keeps); the main thread
 * reads too and checks the store is ready. Two rounds, with the store closed and opened again
 * between them, so thread-local connections of a closed store are never reused; the first with
 * durability full (the syncer thread answers the writes), the second normal. Exits 1 with a
 * message when an answer is wrong. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "store/store.h"

enum { THREADS = 8, PER_THREAD = 60, ROUNDS = 2 };

static const char *const STREAM = "st-tsan", *const ACCOUNT = "acc-tsan";

struct worker {
    struct store *s;
    int round, idx;
    int wrong; /* answers that disagree with what the thread did */
};

static struct store_record record_of(const char *id, const char *ref, const char *doc)
{
    return (struct store_record){
        .kind = STORE_CASE,
        .id = id,
        .stream_id = STREAM,
        .account_id = ACCOUNT,
        .ref_id = ref,
        .name_lower = "tsan",
        .status_name = "Open",
        .status_category = "open",
        .priority_name = "Medium",
        .priority_score = 10,
        .created_at = 1,
        .updated_at = 1,
        .doc = (char *)doc,
        .doc_len = strlen(doc),
    };
}

struct put_job {
    struct store_record rec;
    int result; /* what the callback answers after its writes: STORE_OK or STORE_ABORT */
};

static int put_cb(struct store_txn *t, void *arg)
{
    struct put_job *j = arg;
    int64_t n;
    int rc = store_next_ref(t, STREAM, "CS", &n);
    if (rc == STORE_OK)
        rc = store_record_put(t, &j->rec);
    return rc == STORE_OK ? j->result : rc;
}

struct get_job {
    const char *id;
    struct store_record out;
};

static int get_cb(struct store_txn *t, void *arg)
{
    struct get_job *g = arg;
    return store_record_get(t, STORE_CASE, STREAM, ACCOUNT, g->id, &g->out);
}

/* Reads the shared record, then writes it back one version up if nobody else did meanwhile. */
static int bump_cb(struct store_txn *t, void *arg)
{
    struct store_record *prev = arg;
    struct store_record r = *prev;
    r.updated_at++;
    return store_record_update(t, &r, prev);
}

static void ignore_doc(const char *doc, size_t len, void *arg)
{
    (void)doc;
    (void)len;
    (*(int *)arg)++;
}

/* The first page, and the same with a searchText every record matches: answered from the
 * matches the store keeps between queries (matchcache.h), which the writes keep changing. Both
 * in one snapshot, so the totals must agree. */
static int query_cb(struct store_txn *t, void *arg)
{
    struct store_query q = {
        .kind = STORE_CASE, .stream_id = STREAM, .account_id = ACCOUNT, .limit = 10};
    int64_t total, found;
    int rc = store_query(t, &q, ignore_doc, arg, &total);
    q.search = "tsan";
    if (rc == STORE_OK)
        rc = store_query(t, &q, ignore_doc, arg, &found);
    return rc == STORE_OK && found != total ? STORE_ERROR : rc;
}

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    for (int i = 0; i < PER_THREAD; i++) {
        char id[48], ref[48];
        snprintf(id, sizeof id, "ci-%d-%d-%d", w->round, w->idx, i);
        snprintf(ref, sizeof ref, "R%d-%d-%d", w->round, w->idx, i);
        struct put_job j = {record_of(id, ref, "{}"), (w->idx + i) % 3 ? STORE_OK : STORE_ABORT};
        int rc = store_write(w->s, put_cb, &j);
        struct get_job g = {.id = id};
        int got = store_read(w->s, get_cb, &g);
        free(g.out.doc);
        if (rc != j.result || got != (rc == STORE_OK ? STORE_OK : STORE_NOT_FOUND))
            w->wrong++;

        struct get_job shared = {.id = "ci-shared"};
        if (store_read(w->s, get_cb, &shared) != STORE_OK) {
            w->wrong++;
            continue;
        }
        free(shared.out.doc);
        struct store_record prev = record_of("ci-shared", "SHARED", "{}");
        prev.version = shared.out.version;
        rc = store_write(w->s, bump_cb, &prev);
        if (rc != STORE_OK && rc != STORE_CONFLICT)
            w->wrong++;
        int seen = 0;
        if (i % 10 == 0 && store_read(w->s, query_cb, &seen) != STORE_OK)
            w->wrong++;
        if (store_settle(w->s) != STORE_OK) /* what it read is durable before it "answers" */
            w->wrong++;
    }
    return NULL;
}

static int run_round(const char *url, int round)
{
    char *err = NULL;
    /* round 0 with the syncer (durability full), round 1 without */
    struct store_options opt = {.durability = round == 0 ? STORE_DURABILITY_FULL
                                                         : STORE_DURABILITY_NORMAL,
                                .busy_timeout_ms = 5000};
    struct store *s = store_open(url, &opt, &err);
    if (!s) {
        fprintf(stderr, "store-threads: cannot open %s: %s\n", url, err ? err : "?");
        free(err);
        return -1;
    }
    struct put_job shared = {record_of("ci-shared", "SHARED", "{}"), STORE_OK};
    int wrong = store_write(s, put_cb, &shared) != STORE_OK;
    static struct worker workers[THREADS];
    pthread_t tids[THREADS];
    int started = 0;
    for (int i = 0; i < THREADS; i++) {
        workers[i] = (struct worker){.s = s, .round = round, .idx = i};
        if (pthread_create(&tids[i], NULL, worker_main, &workers[i]) != 0)
            break;
        started++;
    }
    for (int i = 0; i < 20; i++) { /* the main thread reads meanwhile, on its own connection */
        struct get_job g = {.id = "ci-shared"};
        wrong += store_read(s, get_cb, &g) != STORE_OK || !store_ready(s);
        free(g.out.doc);
    }
    for (int i = 0; i < started; i++) {
        pthread_join(tids[i], NULL);
        wrong += workers[i].wrong;
    }
    store_close(s);
    if (started < THREADS || wrong) {
        fprintf(stderr, "store-threads: round %d: %d of %d threads, %d wrong answers\n", round,
                started, THREADS, wrong);
        return -1;
    }
    return 0;
}

int main(void)
{
    char dir[] = "/tmp/casemgr-store-threads-XXXXXX";
    if (!mkdtemp(dir)) {
        perror("store-threads: mkdtemp");
        return 1;
    }
    char url[96], path[96];
    snprintf(url, sizeof url, "sqlite:%s/t.db", dir);
    int rc = 0;
    for (int round = 0; round < ROUNDS && rc == 0; round++)
        rc = run_round(url, round);
    const char *suffixes[] = {"t.db", "t.db-wal", "t.db-shm", "t.db.key"};
    for (size_t i = 0; i < sizeof suffixes / sizeof suffixes[0]; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, suffixes[i]);
        unlink(path);
    }
    rmdir(dir);
    if (rc == 0)
        printf("store-threads: %d rounds of %d threads x %d writes: ok\n", ROUNDS, THREADS,
               PER_THREAD);
    return rc ? 1 : 0;
}
