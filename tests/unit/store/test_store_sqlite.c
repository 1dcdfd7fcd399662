/* Unit tests for store over the SQLite backend: migrations, transactions (commit, rollback on
 * abort), tenant isolation of records (API.md §2), counters (§3), apps, streams, idempotency keys,
 * jtis, and concurrent writers on their own connections. Each test gets a fresh database in its
 * own temporary directory. */
#include <criterion/criterion.h>

#include <dirent.h>
#include <pthread.h>
#include <semaphore.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "store/backend.h"
#include "store/ridhint.h"
#include "store/store.h"
#include "util/mem.h"
#include "util/time.h"
#include "util/wait.h"

static char dir[64];
static char db_path[128];
static struct store *st;

static const struct store_options fast_opts = {.durability = STORE_DURABILITY_NORMAL,
                                               .busy_timeout_ms = 10000};

static void url_of(char *out, size_t size)
{
    snprintf(out, size, "sqlite:%s", db_path);
}

static void setup(void)
{
    snprintf(dir, sizeof dir, "/tmp/casemgr-store-XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
    snprintf(db_path, sizeof db_path, "%s/x.db", dir);
    char url[160], *err = NULL;
    url_of(url, sizeof url);
    st = store_open(url, &fast_opts, &err);
    cr_assert_not_null(st, "store_open: %s", err ? err : "?");
}

static void teardown(void)
{
    store_close(st);
    st = NULL;
    DIR *d = opendir(dir);
    if (d) {
        struct dirent *ent;
        while ((ent = readdir(d)) != NULL) {
            if (strcmp(ent->d_name, ".") == 0 || strcmp(ent->d_name, "..") == 0)
                continue;
            char path[512];
            snprintf(path, sizeof path, "%s/%s", dir, ent->d_name);
            unlink(path);
        }
        closedir(d);
    }
    rmdir(dir);
}

TestSuite(store_sqlite, .init = setup, .fini = teardown, .timeout = 60);

/* One integer from the database file, read with a private connection. */
static long long query_int(const char *path, const char *sql)
{
    sqlite3 *db = NULL;
    cr_assert_eq(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    sqlite3_stmt *q = NULL;
    cr_assert_eq(sqlite3_prepare_v2(db, sql, -1, &q, NULL), SQLITE_OK, "%s", sqlite3_errmsg(db));
    cr_assert_eq(sqlite3_step(q), SQLITE_ROW, "%s", sql);
    long long v = sqlite3_column_int64(q, 0);
    sqlite3_finalize(q);
    sqlite3_close(db);
    return v;
}

static void exec_on(const char *path, const char *sql)
{
    sqlite3 *db = NULL;
    cr_assert_eq(sqlite3_open(path, &db), SQLITE_OK);
    cr_assert_eq(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK, "%s", sqlite3_errmsg(db));
    sqlite3_close(db);
}

/* ---- records ---- */

static struct store_record record(enum store_kind kind, const char *id, const char *stream,
                                  const char *account, const char *ref, const char *doc)
{
    struct store_record r = {
        .kind = kind,
        .id = id,
        .stream_id = stream,
        .account_id = account,
        .ref_id = ref,
        .case_id = kind == STORE_TASK ? "ci-1" : NULL,
        .name_lower = "task testing",
        .status_name = "Open",
        .status_category = "open",
        .priority_name = "Medium",
        .priority_score = 10,
        .assignee = NULL,
        .created_at = 1749032280725LL,
        .updated_at = 1749032280725LL,
        .has_due_date = true,
        .due_date = 1749932280725LL,
        .doc = (char *)doc,
        .doc_len = strlen(doc),
    };
    return r;
}

static int put_cb(struct store_txn *t, void *arg)
{
    return store_record_put(t, arg);
}

struct get_arg {
    enum store_kind kind;
    const char *stream, *account, *id;
    struct store_record out;
};

static int get_cb(struct store_txn *t, void *arg)
{
    struct get_arg *a = arg;
    return store_record_get(t, a->kind, a->stream, a->account, a->id, &a->out);
}

/* Reads a record; on OK *doc is the heap document (caller frees). */
static int get_record(enum store_kind kind, const char *stream, const char *account, const char *id,
                      char **doc, int64_t *version)
{
    struct get_arg a = {.kind = kind, .stream = stream, .account = account, .id = id};
    int rc = store_read(st, get_cb, &a);
    if (rc == STORE_OK) {
        cr_assert_not_null(a.out.doc);
        cr_assert_eq(strlen(a.out.doc), a.out.doc_len);
        *doc = a.out.doc;
        *version = a.out.version;
    }
    return rc;
}

static void expect_doc(enum store_kind kind, const char *stream, const char *account,
                       const char *id, const char *want_doc, int64_t want_version)
{
    char *doc = NULL;
    int64_t version = 0;
    cr_assert_eq(get_record(kind, stream, account, id, &doc, &version), STORE_OK, "%s", id);
    cr_assert_str_eq(doc, want_doc);
    cr_assert_eq(version, want_version);
    free(doc);
}

static void expect_absent(enum store_kind kind, const char *stream, const char *account,
                          const char *id)
{
    char *doc = NULL;
    int64_t version = 0;
    cr_assert_eq(get_record(kind, stream, account, id, &doc, &version), STORE_NOT_FOUND,
                 "%s visible to kind %d stream %s account %s", id, kind, stream, account);
}

Test(store_sqlite, open_creates_and_migrates)
{
    long long v = query_int(db_path, "PRAGMA user_version");
    cr_assert_geq(v, 1, "no migration ran");
    cr_assert_eq(query_int(db_path, "SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND"
                                    " name IN ('apps','streams','counters','records',"
                                    "'idempotency','jti')"),
                 6);
    cr_assert_str_eq(store_path(st), db_path);
    cr_assert(store_ready(st));
}

Test(store_sqlite, journal_is_wal)
{
    sqlite3 *db = NULL;
    cr_assert_eq(sqlite3_open_v2(db_path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    sqlite3_stmt *q = NULL;
    cr_assert_eq(sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &q, NULL), SQLITE_OK);
    cr_assert_eq(sqlite3_step(q), SQLITE_ROW);
    cr_assert_str_eq((const char *)sqlite3_column_text(q, 0), "wal");
    sqlite3_finalize(q);
    sqlite3_close(db);
}

/* SQLite's memory counts cost a process-wide mutex on every allocation: the store turns them off
 * before SQLite initialises (setup opened it first in this process), so they stay at zero. */
Test(store_sqlite, memory_is_not_counted)
{
    struct store_record r = record(STORE_CASE, "ci-1", "st-1", "acc-1", "CS000001", "{\"a\":1}");
    cr_assert_eq(store_write(st, put_cb, &r), STORE_OK);
    expect_doc(STORE_CASE, "st-1", "acc-1", "ci-1", "{\"a\":1}", 1);
    sqlite3_int64 used = -1, peak = -1;
    cr_assert_eq(sqlite3_status64(SQLITE_STATUS_MEMORY_USED, &used, &peak, 0), SQLITE_OK);
    cr_assert_eq(used, 0, "SQLite counted %lld bytes", (long long)used);
    cr_assert_eq(peak, 0);
}

Test(store_sqlite, reopen_keeps_schema_and_data)
{
    long long v = query_int(db_path, "PRAGMA user_version");
    struct store_record r = record(STORE_CASE, "ci-1", "st-1", "acc-1", "CS000001", "{\"a\":1}");
    cr_assert_eq(store_write(st, put_cb, &r), STORE_OK);

    /* a second store on the same file, open at the same time, then the first closed */
    char url[160], *err = NULL;
    url_of(url, sizeof url);
    struct store *second = store_open(url, &fast_opts, &err);
    cr_assert_not_null(second, "%s", err ? err : "?");
    cr_assert_eq(query_int(db_path, "PRAGMA user_version"), v, "a reopen re-ran migrations");
    store_close(st);
    st = second;
    expect_doc(STORE_CASE, "st-1", "acc-1", "ci-1", "{\"a\":1}", 1);
}

/* ---- the catalog's version ---- */

static int catalog_cb(struct store_txn *t, void *arg)
{
    return store_catalog_version(t, arg);
}

static int64_t catalog_of(struct store *s)
{
    int64_t v = 0;
    cr_assert_eq(store_read(s, catalog_cb, &v), STORE_OK);
    return v;
}

struct catalog_put {
    const char *what, *id, *json;
};

static int catalog_put_cb(struct store_txn *t, void *arg)
{
    const struct catalog_put *p = arg;
    return strcmp(p->what, "app") == 0 ? store_app_put(t, p->id, "acc-1", p->json)
                                       : store_stream_put(t, p->id, p->json);
}

static int catalog_put_then_abort_cb(struct store_txn *t, void *arg)
{
    int rc = catalog_put_cb(t, arg);
    return rc == STORE_OK ? STORE_ABORT : rc;
}

/* Every write of an app or of a stream's configuration, by this store or by another one on the
 * same file (another process), gives the catalog another version; records do not, nor do
 * reads. A write rolled back leaves the version it found. */
Test(store_sqlite, the_catalog_version_changes_with_every_app_and_configuration_written)
{
    char url[160], *err = NULL;
    url_of(url, sizeof url);
    struct store *other = store_open(url, &fast_opts, &err);
    cr_assert_not_null(other, "store_open: %s", err ? err : "?");
    int64_t v0 = catalog_of(st);
    cr_expect_eq(catalog_of(other), v0, "one file, one version");

    struct store_record r = record(STORE_TASK, "ti-1", "st-1", "acc-1", "TS000001", "{}");
    cr_assert_eq(store_write(st, put_cb, &r), STORE_OK);
    cr_expect_eq(catalog_of(st), v0, "a record is not the catalog");

    const struct catalog_put puts[] = {
        {"app", "cl-1", "{\"clientId\":\"cl-1\"}"},         /* insert */
        {"app", "cl-1", "{\"clientId\":\"cl-1\",\"x\":1}"}, /* update */
        {"stream", "st-1", "{\"statuses\":[]}"},            /* insert */
        {"stream", "st-1", "{\"statuses\":[],\"x\":1}"},    /* update */
    };
    int64_t seen[5] = {v0};
    for (size_t i = 0; i < sizeof puts / sizeof puts[0]; i++) {
        /* by turns, from either store: the other one sees it at once */
        struct store *by = i % 2 ? other : st, *reader = i % 2 ? st : other;
        cr_assert_eq(store_write(by, catalog_put_cb, (void *)&puts[i]), STORE_OK);
        seen[i + 1] = catalog_of(reader);
        for (size_t j = 0; j <= i; j++)
            cr_expect_neq(seen[i + 1], seen[j], "write %zu left version %zu", i, j);
        cr_expect_eq(catalog_of(by), seen[i + 1]);
    }
    exec_on(db_path, "DELETE FROM apps");
    cr_expect_neq(catalog_of(st), seen[4], "a deleted app");
    exec_on(db_path, "DELETE FROM streams");
    int64_t last = catalog_of(other);
    cr_expect_neq(last, seen[4], "a deleted configuration");
    const struct catalog_put again = {"app", "cl-2", "{}"};
    cr_expect_eq(store_write(st, catalog_put_then_abort_cb, (void *)&again), STORE_ABORT);
    cr_expect_eq(catalog_of(st), last, "a rolled-back write");
    store_close(other);
}

Test(store_sqlite, two_stores_on_one_thread_keep_their_own_files)
{
    /* Each store has its own connection per thread: alternating must not mix them up. */
    char other_path[160], url[180], *err = NULL;
    snprintf(other_path, sizeof other_path, "%s/y.db", dir);
    snprintf(url, sizeof url, "sqlite:%s", other_path);
    struct store *other = store_open(url, &fast_opts, &err);
    cr_assert_not_null(other, "%s", err ? err : "?");

    struct store_record a = record(STORE_CASE, "ci-a", "st-1", "acc-1", "CS000001", "{}");
    struct store_record b = record(STORE_CASE, "ci-b", "st-1", "acc-1", "CS000001", "{}");
    cr_assert_eq(store_write(st, put_cb, &a), STORE_OK);
    cr_assert_eq(store_write(other, put_cb, &b), STORE_OK);
    cr_assert_eq(store_write(st, put_cb, &a), STORE_OK);
    cr_assert_eq(a.version, 2);
    store_close(other);

    cr_assert_eq(query_int(db_path, "SELECT count(*) FROM records WHERE id = 'ci-a'"), 1);
    cr_assert_eq(query_int(db_path, "SELECT count(*) FROM records WHERE id = 'ci-b'"), 0);
    cr_assert_eq(query_int(other_path, "SELECT count(*) FROM records WHERE id = 'ci-b'"), 1);
    cr_assert_eq(query_int(other_path, "SELECT count(*) FROM records WHERE id = 'ci-a'"), 0);
    /* the first store still works after the second closed */
    expect_doc(STORE_CASE, "st-1", "acc-1", "ci-a", "{}", 2);
}

Test(store_sqlite, reopen_after_close_on_the_same_thread)
{
    struct store_record a = record(STORE_CASE, "ci-a", "st-1", "acc-1", "CS000001", "{}");
    cr_assert_eq(store_write(st, put_cb, &a), STORE_OK);
    store_close(st);
    char url[160], *err = NULL;
    url_of(url, sizeof url);
    for (int i = 0; i < 5; i++) { /* a new store may land at the old address */
        st = store_open(url, &fast_opts, &err);
        cr_assert_not_null(st, "%s", err ? err : "?");
        expect_doc(STORE_CASE, "st-1", "acc-1", "ci-a", "{}", (int64_t)i + 1);
        cr_assert_eq(store_write(st, put_cb, &a), STORE_OK);
        store_close(st);
    }
    st = store_open(url, &fast_opts, &err);
    cr_assert_not_null(st);
}

Test(store_sqlite, open_accepts_url_forms)
{
    char url[200], *err = NULL;
    snprintf(url, sizeof url, "sqlite://%s", db_path); /* sqlite:///abs/path */
    struct store *a = store_open(url, &fast_opts, &err);
    cr_assert_not_null(a, "%s: %s", url, err ? err : "?");
    cr_assert_str_eq(store_path(a), db_path);
    store_close(a);
    struct store *b = store_open(db_path, &fast_opts, &err); /* a bare path */
    cr_assert_not_null(b, "%s", err ? err : "?");
    store_close(b);
}

Test(store_sqlite, open_refuses_bad_urls)
{
    static const char *const bad[] = {"sqlite:", "", "postgres://u@h/db", "postgresql://h/db"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char *err = NULL;
        struct store *s = store_open(bad[i], &fast_opts, &err);
        cr_assert_null(s, "opened \"%s\"", bad[i]);
        cr_assert_not_null(err, "no message for \"%s\"", bad[i]);
        cr_assert_neq(err[0], '\0');
        free(err);
    }
}

Test(store_sqlite, open_refuses_a_file_that_is_not_a_database)
{
    char path[160], url[180];
    snprintf(path, sizeof path, "%s/not.db", dir);
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f);
    for (int i = 0; i < 200; i++)
        fputs("this is a text file, not an SQLite database\n", f);
    fclose(f);
    snprintf(url, sizeof url, "sqlite:%s", path);
    char *err = NULL;
    struct store *s = store_open(url, &fast_opts, &err);
    cr_assert_null(s);
    cr_assert_not_null(err);
    cr_assert_neq(err[0], '\0');
    free(err);
}

Test(store_sqlite, open_sets_err_even_when_it_was_not_null)
{
    /* BUG: store/store_sqlite.c store_sqlite_open reads *err ("if (!*err)") before writing it.
     * store.h only says store_open "sets *err" on failure, so a caller may pass an uninitialised
     * (or reused) pointer: opening a file that is not a database then returns NULL and leaves *err
     * as it was, so the caller frees a pointer it does not own. Assign *err = NULL on entry. */
    char path[160], url[180];
    snprintf(path, sizeof path, "%s/not.db", dir);
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f);
    for (int i = 0; i < 200; i++)
        fputs("this is a text file, not an SQLite database\n", f);
    fclose(f);
    snprintf(url, sizeof url, "sqlite:%s", path);
    static char stale[] = "stale message from an earlier call";
    char *err = stale;
    struct store *s = store_open(url, &fast_opts, &err);
    cr_assert_null(s);
    cr_assert_neq(err, stale, "*err was not set");
    cr_assert_not_null(err);
    free(err);
}

Test(store_sqlite, open_refuses_a_missing_directory)
{
    char url[200], *err = NULL;
    snprintf(url, sizeof url, "sqlite:%s/no/such/dir/x.db", dir);
    struct store *s = store_open(url, &fast_opts, &err);
    cr_assert_null(s);
    cr_assert_not_null(err);
    free(err);
}

Test(store_sqlite, open_refuses_a_newer_schema)
{
    long long v = query_int(db_path, "PRAGMA user_version");
    char sql[64];
    snprintf(sql, sizeof sql, "PRAGMA user_version=%lld", v + 1);
    exec_on(db_path, sql);
    char url[160], *err = NULL;
    url_of(url, sizeof url);
    struct store *s = store_open(url, &fast_opts, &err);
    cr_assert_null(s, "opened a database from a newer casemgr");
    cr_assert_not_null(err);
    cr_assert_not_null(strstr(err, "newer"), "%s", err);
    free(err);
}

Test(store_sqlite, open_refuses_a_negative_schema_version)
{
    /* user_version is any 32-bit integer: a negative one once indexed migrations[] with it */
    exec_on(db_path, "PRAGMA user_version=-1");
    char url[160], *err = NULL;
    url_of(url, sizeof url);
    struct store *s = store_open(url, &fast_opts, &err);
    cr_assert_null(s, "opened a database with schema version -1");
    cr_assert_not_null(err);
    cr_assert_not_null(strstr(err, "invalid (negative) schema version"), "%s", err);
    free(err);
}

Test(store_sqlite, record_put_get_round_trip)
{
    const char *doc1 = "{\"_id\":\"ti-1\",\"name\":\"Task Testing\",\"desc\":\"caf\xc3\xa9\"}";
    struct store_record r = record(STORE_TASK, "ti-1", "st-1", "acc-1", "TS000001", doc1);
    r.version = 99;
    cr_assert_eq(store_write(st, put_cb, &r), STORE_OK);
    cr_assert_eq(r.version, 1, "a new record is version 1");

    struct get_arg a = {.kind = STORE_TASK, .stream = "st-1", .account = "acc-1", .id = "ti-1"};
    memset(&a.out, 0x5a, sizeof a.out);
    cr_assert_eq(store_read(st, get_cb, &a), STORE_OK);
    cr_assert_str_eq(a.out.doc, doc1);
    cr_assert_eq(a.out.doc_len, strlen(doc1));
    cr_assert_eq(a.out.version, 1);
    cr_assert_eq(a.out.kind, STORE_TASK);
    cr_assert_null(a.out.id, "store.h: the other strings are NULL");
    cr_assert_null(a.out.stream_id);
    cr_assert_null(a.out.account_id);
    free(a.out.doc);

    const char *doc2 = "{\"_id\":\"ti-1\",\"name\":\"Renamed\"}";
    r = record(STORE_TASK, "ti-1", "st-1", "acc-1", "TS000001", doc2);
    cr_assert_eq(store_write(st, put_cb, &r), STORE_OK);
    cr_assert_eq(r.version, 2, "an update bumps the version");
    expect_doc(STORE_TASK, "st-1", "acc-1", "ti-1", doc2, 2);

    cr_assert_eq(store_write(st, put_cb, &r), STORE_OK);
    cr_assert_eq(r.version, 3);
}

Test(store_sqlite, record_columns_are_stored)
{
    struct store_record r = record(STORE_TASK, "ti-1", "st-1", "acc-1", "TS000001", "{}");
    r.assignee = "u-agent";
    r.has_due_date = false;
    cr_assert_eq(store_write(st, put_cb, &r), STORE_OK);
    cr_assert_eq(query_int(db_path, "SELECT count(*) FROM records WHERE id = 'ti-1' AND kind = 1"
                                    " AND stream_id = 'st-1' AND account_id = 'acc-1' AND"
                                    " ref_id = 'TS000001' AND case_id = 'ci-1' AND"
                                    " name_lower = 'task testing' AND status_name = 'Open' AND"
                                    " status_category = 'open' AND priority_name = 'Medium' AND"
                                    " priority_score = 10 AND assignee = 'u-agent' AND"
                                    " created_at = 1749032280725 AND due_date IS NULL"),
                 1);

    /* an update moves the query columns with the document */
    r.status_name = "Closed";
    r.status_category = "closed";
    r.has_due_date = true;
    r.due_date = 42;
    r.updated_at = 1749032290000LL;
    cr_assert_eq(store_write(st, put_cb, &r), STORE_OK);
    cr_assert_eq(query_int(db_path, "SELECT count(*) FROM records r JOIN record_docs d"
                                    " ON d.rid = r.rowid WHERE id = 'ti-1' AND"
                                    " status_name = 'Closed' AND status_category = 'closed' AND"
                                    " due_date = 42 AND d.updated_at = 1749032290000 AND"
                                    " created_at = 1749032280725"),
                 1);
}

Test(store_sqlite, record_get_of_unknown_id_is_not_found)
{
    expect_absent(STORE_CASE, "st-1", "acc-1", "ci-nope");
}

Test(store_sqlite, record_tenant_isolation_on_get)
{
    struct store_record r = record(STORE_CASE, "ci-1", "st-1", "acc-1", "CS000001", "{\"x\":1}");
    cr_assert_eq(store_write(st, put_cb, &r), STORE_OK);
    expect_doc(STORE_CASE, "st-1", "acc-1", "ci-1", "{\"x\":1}", 1);
    expect_absent(STORE_CASE, "st-2", "acc-1", "ci-1");
    expect_absent(STORE_CASE, "st-1", "acc-2", "ci-1");
    expect_absent(STORE_TASK, "st-1", "acc-1", "ci-1");
    expect_absent(STORE_CASE, "ST-1", "acc-1", "ci-1");
    expect_absent(STORE_CASE, "st-1", "acc-1", "CI-1");
}

/* Puts r and gives the rowid it was stored at. */
static int64_t put_rowid(struct store_record r)
{
    cr_assert_eq(store_write(st, put_cb, &r), STORE_OK, "%s", r.id);
    char sql[128];
    snprintf(sql, sizeof sql, "SELECT rowid FROM records WHERE id = '%s'", r.id);
    return query_int(db_path, sql);
}

static void plant(const char *id, int64_t rid)
{
    ridhint_put(store_sqlite_rids(st), id, strlen(id), rid);
}

static int64_t hint_of(const char *id)
{
    return ridhint_get(store_sqlite_rids(st), id, strlen(id));
}

/* A read by id goes to the row its hint names (store/ridhint.h) and must still be that id's,
 * that tenant's and that kind's: a wrong hint (planted here) reads what no hint would. */
Test(store_sqlite, record_get_is_not_misled_by_a_wrong_rowid_hint)
{
    int64_t ra = put_rowid(record(STORE_CASE, "ci-1", "st-1", "acc-1", "CS000001", "{\"a\":1}"));
    int64_t rb = put_rowid(record(STORE_CASE, "ci-9", "st-2", "acc-2", "CS000001", "{\"b\":1}"));
    int64_t rc = put_rowid(record(STORE_TASK, "ti-1", "st-1", "acc-1", "TS000001", "{\"c\":1}"));
    /* each id hinted at another tenant's or kind's row */
    plant("ci-9", ra);
    plant("ci-1", rb);
    plant("ti-1", ra);
    expect_doc(STORE_CASE, "st-2", "acc-2", "ci-9", "{\"b\":1}", 1);
    expect_doc(STORE_CASE, "st-1", "acc-1", "ci-1", "{\"a\":1}", 1);
    expect_doc(STORE_TASK, "st-1", "acc-1", "ti-1", "{\"c\":1}", 1);
    /* the reads put the right rowids back */
    cr_expect_eq(hint_of("ci-9"), rb);
    cr_expect_eq(hint_of("ci-1"), ra);
    cr_expect_eq(hint_of("ti-1"), rc);
    /* a hint at the right row under the wrong tenant or kind finds nothing, as before */
    expect_absent(STORE_CASE, "st-1", "acc-1", "ci-9");
    expect_absent(STORE_CASE, "st-2", "acc-1", "ci-9");
    expect_absent(STORE_TASK, "st-2", "acc-2", "ci-9");
    plant("ci-9", ra); /* and at another tenant's row */
    expect_absent(STORE_CASE, "st-1", "acc-1", "ci-9");
    /* a hint at no row at all, and an unknown id hinted at a row */
    plant("ci-1", 1000000);
    expect_doc(STORE_CASE, "st-1", "acc-1", "ci-1", "{\"a\":1}", 1);
    plant("ci-nope", ra);
    expect_absent(STORE_CASE, "st-1", "acc-1", "ci-nope");
    /* hinted at the same tenant's and kind's other record */
    plant("ci-1", put_rowid(record(STORE_CASE, "ci-2", "st-1", "acc-1", "CS000002", "{\"d\":1}")));
    expect_doc(STORE_CASE, "st-1", "acc-1", "ci-1", "{\"a\":1}", 1);
}

Test(store_sqlite, rowid_hints_are_filled_when_a_store_opens)
{
    int64_t rid = put_rowid(record(STORE_CASE, "ci-1", "st-1", "acc-1", "CS000001", "{}"));
    cr_expect_eq(hint_of("ci-1"), 0, "a write alone leaves no hint");
    store_close(st);
    char url[160];
    url_of(url, sizeof url);
    char *err = NULL;
    st = store_open(url, &fast_opts, &err);
    cr_assert_not_null(st, "%s", err ? err : "");
    cr_expect_eq(hint_of("ci-1"), rid);
    cr_expect_eq(hint_of("ci-2"), 0);
}

Test(store_sqlite, record_put_under_another_tenant_conflicts_and_changes_nothing)
{
    struct store_record r = record(STORE_CASE, "ci-1", "st-1", "acc-1", "CS000001", "{\"v\":1}");
    cr_assert_eq(store_write(st, put_cb, &r), STORE_OK);

    struct store_record other_stream =
        record(STORE_CASE, "ci-1", "st-2", "acc-1", "CS000001", "{\"hijack\":1}");
    cr_assert_eq(store_write(st, put_cb, &other_stream), STORE_CONFLICT);
    struct store_record other_account =
        record(STORE_CASE, "ci-1", "st-1", "acc-2", "CS000001", "{\"hijack\":2}");
    cr_assert_eq(store_write(st, put_cb, &other_account), STORE_CONFLICT);
    struct store_record other_kind =
        record(STORE_TASK, "ci-1", "st-1", "acc-1", "TS000001", "{\"hijack\":3}");
    cr_assert_eq(store_write(st, put_cb, &other_kind), STORE_CONFLICT);

    expect_doc(STORE_CASE, "st-1", "acc-1", "ci-1", "{\"v\":1}", 1);
    expect_absent(STORE_CASE, "st-2", "acc-1", "ci-1");
    expect_absent(STORE_CASE, "st-1", "acc-2", "ci-1");
    expect_absent(STORE_TASK, "st-1", "acc-1", "ci-1");
    cr_assert_eq(query_int(db_path, "SELECT count(*) FROM records"), 1);
}

Test(store_sqlite, record_ref_id_is_unique_per_stream_and_kind)
{
    struct store_record a = record(STORE_CASE, "ci-1", "st-1", "acc-1", "CS000001", "{}");
    struct store_record b = record(STORE_CASE, "ci-2", "st-1", "acc-1", "CS000001", "{}");
    struct store_record c = record(STORE_CASE, "ci-3", "st-2", "acc-1", "CS000001", "{}");
    struct store_record d = record(STORE_TASK, "ti-1", "st-1", "acc-1", "CS000001", "{}");
    cr_assert_eq(store_write(st, put_cb, &a), STORE_OK);
    cr_assert_eq(store_write(st, put_cb, &b), STORE_CONFLICT);
    cr_assert_eq(store_write(st, put_cb, &c), STORE_OK, "another stream has its own refs");
    cr_assert_eq(store_write(st, put_cb, &d), STORE_OK, "tasks have their own refs");
    expect_absent(STORE_CASE, "st-1", "acc-1", "ci-2");
}

/* ---- name search (API.md §8) ---- */

static void count_doc(const char *doc, size_t len, void *arg)
{
    (void)doc;
    (void)len;
    (*(int *)arg)++;
}

struct search_arg {
    struct store_query q;
    int found;
    int64_t total;
};

static int search_cb(struct store_txn *t, void *arg)
{
    struct search_arg *a = arg;
    return store_query(t, &a->q, count_doc, &a->found, &a->total);
}

/* How many cases of st-1/acc-1 a searchText (search) or name filter (!search) finds. */
static int search_count(const char *text, bool search)
{
    struct search_arg *a = xcalloc(1, sizeof *a);
    a->q.kind = STORE_CASE;
    a->q.stream_id = "st-1";
    a->q.account_id = "acc-1";
    a->q.limit = 500;
    if (search)
        a->q.search = text;
    else
        a->q.name = text;
    cr_assert_eq(store_read(st, search_cb, a), STORE_OK, "%s", text);
    cr_assert_eq(a->total, a->found);
    int n = a->found;
    free(a);
    return n;
}

Test(store_sqlite, search_finds_substrings_of_any_length_and_script)
{
    const char *names[] = {"naïve café question", "printer on fire", "a*b? [x] chars", "ïï"};
    const char *ids[] = {"ci-1", "ci-2", "ci-3", "ci-4"};
    const char *refs[] = {"CS000001", "CS000002", "CS000003", "CS000004"};
    for (int i = 0; i < 4; i++) {
        struct store_record r = record(STORE_CASE, ids[i], "st-1", "acc-1", refs[i], "{}");
        r.name_lower = names[i];
        cr_assert_eq(store_write(st, put_cb, &r), STORE_OK);
    }
    struct store_record other = record(STORE_CASE, "ci-9", "st-1", "acc-2", "CS000009", "{}");
    other.name_lower = "naïve café question";
    cr_assert_eq(store_write(st, put_cb, &other), STORE_OK);
    static const struct {
        const char *text;
        int found;
    } cases[] = {
        /* two characters in three bytes: SQLite's trigram index alone finds nothing */
        {"aï", 1}, {"ïv", 1}, {"é ", 1}, {"ïï", 1},
        /* one character, three characters and more, ASCII */
        {"ï", 2}, {"é", 1}, {"aïv", 1}, {"naïve café", 1}, {"fire", 1}, {"on", 2}, {"o", 2},
        /* GLOB's own characters are plain text */
        {"*", 1}, {"a*b?", 1}, {"[x]", 1}, {"?", 1}, {"ï*", 0},
        {"absent", 0}, {"ïx", 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        cr_expect_eq(search_count(cases[i].text, true), cases[i].found, "searchText \"%s\"",
                     cases[i].text);
        cr_expect_eq(search_count(cases[i].text, false), cases[i].found, "name \"%s\"",
                     cases[i].text);
    }
    /* searchText also matches a refId exactly, whatever the name */
    cr_expect_eq(search_count("cs000002", true), 1);
    cr_expect_eq(search_count("cs000002", false), 0);
}

/* Migration 5: the triggers queue name changes in fts_pending and the writer moves them into
 * the name index (record_names since migration 6) before each COMMIT. Concurrent writers (so
 * groups hold several writes), some rolled back to their savepoint, and renames: the index must
 * answer as the rows say. */
struct fts_writer {
    int thread;
    int committed;
};

static int put_or_abort_cb(struct store_txn *t, void *arg)
{
    struct store_record *r = arg;
    int rc = store_record_put(t, r);
    return rc != STORE_OK ? rc : r->priority_score == 0 ? STORE_ABORT : STORE_OK;
}

static void *fts_writer_main(void *arg)
{
    struct fts_writer *w = arg;
    for (int i = 0; i < 25; i++) {
        char id[32], ref[32], name[64];
        snprintf(id, sizeof id, "ci-%d-%d", w->thread, i);
        snprintf(ref, sizeof ref, "CS%03d%03d", w->thread, i);
        snprintf(name, sizeof name, "zebra %s", i % 5 == 4 ? "rolledback" : "kept");
        struct store_record r = record(STORE_CASE, id, "st-1", "acc-1", ref, "{}");
        r.name_lower = name;
        r.priority_score = i % 5 == 4 ? 0 : 10; /* 0: the callback aborts after the put */
        int rc = store_write(st, put_or_abort_cb, &r);
        if (rc == STORE_OK)
            w->committed++;
    }
    return NULL;
}

static int rename_cb(struct store_txn *t, void *arg)
{
    struct store_record *r = arg;
    struct store_record prev = *r;
    prev.name_lower = "zebra kept";
    prev.version = 0;
    return store_record_update(t, r, &prev);
}

/* Waits (up to 5 s) for the writer, idle, to move the queued name changes into the name index
 * (migration 10: after FTS_IDLE_MS). */
static void wait_names_applied(void)
{
    for (int i = 0; i < 500 && query_int(db_path, "SELECT count(*) FROM fts_pending") > 0; i++) {
        struct timespec pause = {.tv_nsec = 10 * 1000 * 1000};
        nanosleep(&pause, NULL);
    }
    cr_assert_eq(query_int(db_path, "SELECT count(*) FROM fts_pending"), 0,
                 "the idle writer left name changes queued");
}

Test(store_sqlite, name_index_follows_puts_renames_and_rollbacks)
{
    pthread_t th[8];
    struct fts_writer w[8] = {0};
    for (int i = 0; i < 8; i++) {
        w[i].thread = i;
        cr_assert_eq(pthread_create(&th[i], NULL, fts_writer_main, &w[i]), 0);
    }
    int committed = 0;
    for (int i = 0; i < 8; i++) {
        pthread_join(th[i], NULL);
        committed += w[i].committed;
    }
    cr_assert_eq(committed, 8 * 20, "every write but the aborted ones committed");
    cr_expect_eq(search_count("zebra", true), 160);
    cr_expect_eq(search_count("rolledback", true), 0, "a rolled-back write left its name");
    /* rename two of them */
    for (int i = 0; i < 2; i++) {
        char id[32], ref[32];
        snprintf(id, sizeof id, "ci-%d-0", i);
        snprintf(ref, sizeof ref, "CS%03d000", i);
        struct store_record r = record(STORE_CASE, id, "st-1", "acc-1", ref, "{}");
        r.name_lower = "okapi renamed";
        cr_assert_eq(store_write(st, rename_cb, &r), STORE_OK);
    }
    /* answered from the queue of name changes, then from the index once they are applied */
    for (int applied = 0; applied < 2; applied++) {
        cr_expect_eq(search_count("okapi", true), 2, "applied %d", applied);
        cr_expect_eq(search_count("zebra kept", true), 158, "the old names are gone (%d)", applied);
        cr_expect_eq(search_count("zebra", false), 158, "applied %d", applied);
        cr_expect_eq(search_count("rolledback", true), 0, "applied %d", applied);
        if (!applied)
            wait_names_applied();
    }
    /* FTS5's own check of the index (contentless since migration 6: of its structure) */
    exec_on(db_path, "INSERT INTO record_names (record_names, rank) VALUES ('integrity-check', 1)");
}

/* The name index is merged by the writer a step at a time after each batch of names it applies
 * (migration 15, FTS_MERGE_PAGES), FTS5's automerge being off: fifteen batches later its segments
 * are still few, and every name is found. Without the steps they would pile up until FTS5 merged
 * a whole level at once (at 16 segments). */
Test(store_sqlite, name_index_is_merged_a_step_after_each_batch_of_names)
{
    cr_assert_eq(query_int(db_path, "SELECT v FROM record_names_config WHERE k = 'automerge'"), 0,
                 "FTS5's automerge is off (migration 15)");
    cr_assert_eq(query_int(db_path, "SELECT v FROM record_names_config WHERE k = 'crisismerge'"),
                 64, "a level is merged at once only past 64 segments (migration 16)");
    static const char *const words[] = {"walrus", "okapi", "heron", "bison",
                                        "tapir",  "lemur", "gecko", "otter"};
    enum { N = 15 * 128 }; /* 15 batches (FTS_BATCH): one write a group */
    for (int i = 0; i < N; i++) {
        char id[32], ref[32], name[64];
        snprintf(id, sizeof id, "ci-%d", i);
        snprintf(ref, sizeof ref, "CS%06d", i + 1);
        snprintf(name, sizeof name, "%s case %d", words[i % 8], i);
        struct store_record r = record(STORE_CASE, id, "st-1", "acc-1", ref, "{}");
        r.name_lower = name;
        cr_assert_eq(store_write(st, put_cb, &r), STORE_OK);
    }
    wait_names_applied();
    long long segments = query_int(db_path, "SELECT count(DISTINCT segid) FROM record_names_idx");
    cr_assert_leq(segments, 8, "%lld segments after 15 batches", segments);
    /* "case 123": 123 and 1230-1239 */
    cr_expect_eq(search_count("case 123", true), 11);
    cr_expect_eq(search_count("otter case 1919", true), 1);
    exec_on(db_path, "INSERT INTO record_names (record_names, rank) VALUES ('integrity-check', 1)");
}

/* Back to schema 20: no catalog version (migration 21). */
#define UNDO_MIGRATION_21                                                                      \
    "DROP TRIGGER apps_catalog_INSERT; DROP TRIGGER apps_catalog_UPDATE;"                      \
    "DROP TRIGGER apps_catalog_DELETE; DROP TRIGGER streams_catalog_INSERT;"                   \
    "DROP TRIGGER streams_catalog_UPDATE; DROP TRIGGER streams_catalog_DELETE;"                \
    "DROP TABLE catalog_version;"

/* Back to schema 19: version and updated_at in the records row alone, record_updates kept by
 * triggers on records (migration 20). */
#define UNDO_MIGRATION_20                                                                      \
    "DROP TRIGGER record_docs_updates_insert; DROP TRIGGER record_docs_updates_update;"        \
    "ALTER TABLE records ADD COLUMN updated_at INTEGER NOT NULL DEFAULT 0;"                     \
    "UPDATE records SET updated_at = (SELECT updated_at FROM record_docs"                      \
    "  WHERE rid = records.rowid), version = version + (SELECT doc_version FROM record_docs"   \
    "  WHERE rid = records.rowid);"                                                            \
    "CREATE TABLE record_docs_19 (rid INTEGER PRIMARY KEY, doc TEXT NOT NULL, acts TEXT);"     \
    "INSERT INTO record_docs_19 SELECT rid, doc, acts FROM record_docs;"                       \
    "DROP TABLE record_docs; ALTER TABLE record_docs_19 RENAME TO record_docs;"                \
    "CREATE TRIGGER records_updates_insert AFTER INSERT ON records BEGIN"                      \
    "  INSERT INTO record_scopes (stream_id, account_id, kind)"                                \
    "    VALUES (new.stream_id, new.account_id, new.kind) ON CONFLICT DO NOTHING;"             \
    "  INSERT INTO record_updates VALUES ((SELECT scope FROM record_scopes"                    \
    "    WHERE stream_id = new.stream_id AND account_id = new.account_id AND kind = new.kind)," \
    "    new.updated_at, new.id, new.rowid) ON CONFLICT DO UPDATE SET rid = excluded.rid; END;" \
    "CREATE TRIGGER records_updates_update AFTER UPDATE OF updated_at ON records"              \
    "  WHEN new.updated_at IS NOT old.updated_at BEGIN"                                        \
    "  INSERT INTO record_updates VALUES ((SELECT scope FROM record_scopes"                    \
    "    WHERE stream_id = new.stream_id AND account_id = new.account_id AND kind = new.kind)," \
    "    new.updated_at, new.id, new.rowid) ON CONFLICT DO UPDATE SET rid = excluded.rid; END;"

/* Back to schema 18: no record_updates, the index on updated_at (migration 19). */
#define UNDO_MIGRATION_19                                                                      \
    "DROP TRIGGER records_updates_insert; DROP TRIGGER records_updates_update;"                \
    "DROP TABLE record_updates;"                                                               \
    "CREATE INDEX records_updated ON records (stream_id, account_id, kind, updated_at, id);"

/* A database written before migration 5 (names indexed by triggers into records_fts at once):
 * opened again, it is migrated (to record_names too) and its names, old and new, are found. */
Test(store_sqlite, migration_5_keeps_the_name_index_of_an_older_database)
{
    struct store_record a = record(STORE_CASE, "ci-old", "st-1", "acc-1", "CS000001", "{}");
    a.name_lower = "walrus before";
    cr_assert_eq(store_write(st, put_cb, &a), STORE_OK);
    long long latest = query_int(db_path, "PRAGMA user_version");
    store_close(st);
    st = NULL;
    /* back to schema 4: records_fts and the triggers of migration 3, no fts_pending, nothing
     * of the later migrations */
    exec_on(db_path,
            UNDO_MIGRATION_21 UNDO_MIGRATION_20 UNDO_MIGRATION_19
            "DROP TRIGGER records_assignee_insert; DROP TRIGGER records_assignee_update;"
            "DROP TABLE record_assignee_counts;"
            "DROP TRIGGER records_created_insert; DROP TABLE record_created_buckets;"
            "DROP TRIGGER records_names_insert; DROP TRIGGER records_names_update;"
            "DROP TABLE record_names; DROP TABLE record_scopes;"
            "DROP TRIGGER records_status_insert; DROP TRIGGER records_status_update;"
            "DROP TABLE record_status_counts;"
            "DROP TABLE fts_pending;"
            "ALTER TABLE record_docs DROP COLUMN acts;"
            "CREATE INDEX activities_record ON activities (record_id, seq);"
            "CREATE VIRTUAL TABLE records_fts USING fts5 (name_lower, content = 'records',"
            "  content_rowid = 'rowid', tokenize = 'trigram case_sensitive 1');"
            "INSERT INTO records_fts (records_fts) VALUES ('rebuild');"
            "CREATE TRIGGER records_fts_insert AFTER INSERT ON records BEGIN"
            "  INSERT INTO records_fts (rowid, name_lower) VALUES (new.rowid, new.name_lower); END;"
            "CREATE TRIGGER records_fts_update AFTER UPDATE OF name_lower ON records"
            "  WHEN old.name_lower IS NOT new.name_lower BEGIN"
            "  INSERT INTO records_fts (records_fts, rowid, name_lower)"
            "    VALUES ('delete', old.rowid, old.name_lower);"
            "  INSERT INTO records_fts (rowid, name_lower) VALUES (new.rowid, new.name_lower); END;"
            "INSERT INTO records (id, kind, stream_id, account_id, ref_id, name_lower, created_at,"
            "  updated_at, version, doc) VALUES ('ci-raw', 0, 'st-1', 'acc-1', 'CS000002',"
            "  'walrus raw', 1, 1, 1, '');"
            "INSERT INTO record_docs (rid, doc) VALUES (last_insert_rowid(), '{}');"
            "PRAGMA user_version = 4;");
    cr_assert_eq(query_int(db_path, "SELECT count(*) FROM records_fts WHERE records_fts MATCH"
                                    " '\"walrus\"'"),
                 2, "schema 4 indexed both");
    char url[160], *err = NULL;
    url_of(url, sizeof url);
    st = store_open(url, &fast_opts, &err);
    cr_assert_not_null(st, "reopen: %s", err ? err : "?");
    cr_expect_eq(query_int(db_path, "PRAGMA user_version"), latest);
    struct store_record b = record(STORE_CASE, "ci-new", "st-1", "acc-1", "CS000003", "{}");
    b.name_lower = "walrus after";
    cr_assert_eq(store_write(st, put_cb, &b), STORE_OK);
    cr_expect_eq(search_count("walrus", true), 3);
    cr_expect_eq(search_count("after", true), 1);
    exec_on(db_path, "INSERT INTO record_names (record_names, rank) VALUES ('integrity-check', 1)");
}

/* A search's pages, under every sort, must be what sorting the matches gives: the store picks
 * how to find them (walk the sort's index, or read the name index's matches and sort them) by
 * how deep the page is, and both ways must agree. */
#define PAGED 480

static struct paged {
    char id[16], ref[16], name[48], doc[48];
    int64_t created, updated, due;
    bool has_due;
    int score;
} paged[PAGED];
static enum store_sort paged_sort;
static bool paged_desc;

static int paged_cmp(const void *pa, const void *pb)
{
    const struct paged *a = pa, *b = pb;
    int c = 0;
    switch (paged_sort) {
    case STORE_SORT_CREATED:
        c = (a->created > b->created) - (a->created < b->created);
        break;
    case STORE_SORT_UPDATED:
        c = (a->updated > b->updated) - (a->updated < b->updated);
        break;
    case STORE_SORT_DUE:
        /* records without a dueDate come last either way (API.md §8) */
        if (a->has_due != b->has_due)
            return a->has_due ? -1 : 1;
        c = (a->due > b->due) - (a->due < b->due);
        break;
    case STORE_SORT_PRIORITY:
        c = (a->score > b->score) - (a->score < b->score);
        break;
    case STORE_SORT_NAME:
        c = strcmp(a->name, b->name);
        break;
    case STORE_SORT_REF:
        c = strcmp(a->ref, b->ref);
        break;
    }
    /* ties in dueDate, priority and name by refId (migration 14), then by _id */
    bool by_ref = paged_sort == STORE_SORT_DUE || paged_sort == STORE_SORT_PRIORITY ||
                  paged_sort == STORE_SORT_NAME;
    if (c == 0 && by_ref)
        c = strcmp(a->ref, b->ref);
    if (c == 0)
        c = strcmp(a->id, b->id);
    return paged_desc ? -c : c;
}

/* A page of a list query, as the _id of each document in it. */
struct id_page {
    struct store_query q;
    char ids[64][24];
    int found;
    int64_t total;
};

static void id_page_doc(const char *doc, size_t len, void *arg)
{
    struct id_page *a = arg;
    const char *id = strstr(doc, "\"_id\":\"");
    cr_assert_not_null(id, "%.*s", (int)len, doc);
    cr_assert_lt(a->found, 64);
    id += 7;
    snprintf(a->ids[a->found++], sizeof a->ids[0], "%.*s", (int)strcspn(id, "\""), id);
}

static int id_page_cb(struct store_txn *t, void *arg)
{
    struct id_page *a = arg;
    return store_query(t, &a->q, id_page_doc, a, &a->total);
}

/* Checks the page of q against want, the ids of all n records q matches, in q's order: its
 * total, its length and its ids. */
static void expect_page(const struct store_query *q, const char *const *want, int64_t n,
                        const char *what)
{
    struct id_page *a = xcalloc(1, sizeof *a);
    a->q = *q;
    cr_assert_eq(store_read(st, id_page_cb, a), STORE_OK, "%s", what);
    cr_assert_eq(a->total, n, "%s", what);
    int64_t left = n - q->skip;
    int64_t expect = left < 0 ? 0 : left < q->limit ? left : q->limit;
    cr_assert_eq(a->found, expect, "%s skip %lld limit %lld", what, (long long)q->skip,
                 (long long)q->limit);
    for (int k = 0; k < a->found; k++)
        cr_assert_str_eq(a->ids[k], want[q->skip + k], "%s skip %lld limit %lld: row %d", what,
                         (long long)q->skip, (long long)q->limit, k);
    free(a);
}

Test(store_sqlite, search_pages_are_the_matches_sorted_whichever_way_they_are_found)
{
    for (int i = 0; i < PAGED; i++) {
        struct paged *p = &paged[i];
        int n = (i * 131) % PAGED;
        snprintf(p->id, sizeof p->id, "ti-%03d", n);
        snprintf(p->ref, sizeof p->ref, "TS%06d", i);
        snprintf(p->name, sizeof p->name, i % 12 ? "plain %d" : "a quokka %d", (i * 7) % 50);
        /* from n, not from p->id: gcc -O1 under ASan takes the two for overlapping (-Wrestrict) */
        snprintf(p->doc, sizeof p->doc, "{\"_id\":\"ti-%03d\"}", n);
        p->created = 1000 + (i * 37) % 60; /* four records per instant: ties go by _id */
        p->updated = 5000 - (i * 11) % 90;
        p->has_due = i % 5 != 0;
        p->due = p->has_due ? 9000 + (i * 13) % 70 : 0;
        p->score = i % 4;
        struct store_record r = record(STORE_TASK, p->id, "st-1", "acc-1", p->ref, p->doc);
        r.name_lower = p->name;
        r.created_at = p->created;
        r.updated_at = p->updated;
        r.has_due_date = p->has_due;
        r.due_date = p->due;
        r.priority_score = p->score;
        r.ref_seq = i;
        cr_assert_eq(store_write(st, put_cb, &r), STORE_OK);
    }
    /* the same word in another account's tasks and in this account's cases */
    for (int i = 0; i < 30; i++) {
        char id[16], ref[16];
        snprintf(id, sizeof id, "tx-%03d", i);
        snprintf(ref, sizeof ref, "TS9%05d", i); /* refIds are unique per stream */
        struct store_record r = record(STORE_TASK, id, "st-1", "acc-2", ref, "{}");
        r.name_lower = "another quokka";
        cr_assert_eq(store_write(st, put_cb, &r), STORE_OK);
        snprintf(id, sizeof id, "ci-%03d", i);
        snprintf(ref, sizeof ref, "CS%06d", i);
        r = record(STORE_CASE, id, "st-1", "acc-1", ref, "{}");
        r.name_lower = "a case quokka";
        cr_assert_eq(store_write(st, put_cb, &r), STORE_OK);
    }
    static struct paged match[PAGED];
    static const char *want[PAGED];
    int nmatch = 0;
    for (int i = 0; i < PAGED; i++)
        if (strstr(paged[i].name, "quokka"))
            match[nmatch++] = paged[i];
    static const int64_t skips[] = {0, 3, 10, 25, 39, 40, 45}, limits[] = {1, 7, 50};
    for (int sort = STORE_SORT_CREATED; sort <= STORE_SORT_REF; sort++) {
        for (int desc = 0; desc < 2; desc++) {
            paged_sort = (enum store_sort)sort;
            paged_desc = desc;
            qsort(match, (size_t)nmatch, sizeof match[0], paged_cmp);
            for (int i = 0; i < nmatch; i++)
                want[i] = match[i].id;
            char what[48]; /* two ints of up to 11 characters and the words */
            snprintf(what, sizeof what, "sort %d desc %d", sort, desc);
            for (size_t s = 0; s < sizeof skips / sizeof skips[0]; s++)
                for (size_t l = 0; l < sizeof limits / sizeof limits[0]; l++)
                    expect_page(&(struct store_query){.kind = STORE_TASK,
                                                      .stream_id = "st-1",
                                                      .account_id = "acc-1",
                                                      .search = "quokka",
                                                      .sort = paged_sort,
                                                      .descending = desc,
                                                      .skip = skips[s],
                                                      .limit = limits[l]},
                                want, nmatch, what);
        }
    }
}

/* Pages in updatedAt order come from record_updates (migration 19), where an update adds the
 * record's new place and the writer's sweep deletes the old ones later: whatever the table holds
 * between sweeps, every page must be the records sorted by their updatedAt now, each once, and
 * the sweep must keep the table near one entry a record. Writes here move records forward (by a
 * put or an update), keep their updatedAt, and move them back to a time they had (a put), in both
 * tenants. */
#define MOVED 200
#define MOVED_OTHER 20
#define MOVES 1500

static struct moved {
    char id[16], ref[16], doc[48];
    int64_t updated, before;
    const char *assignee;
    bool quokka; /* in the name, of one record in 20: few enough that the matches drive the page */
} moved[MOVED];

static int moved_cmp(const void *pa, const void *pb)
{
    const struct moved *a = pa, *b = pb;
    int c = (a->updated > b->updated) - (a->updated < b->updated);
    if (c == 0)
        c = strcmp(a->id, b->id);
    return paged_desc ? -c : c;
}

static void put_moved(struct moved *m, const char *account)
{
    struct store_record r = record(STORE_TASK, m->id, "st-1", account, m->ref, m->doc);
    r.updated_at = m->updated;
    r.assignee = m->assignee;
    r.name_lower = m->quokka ? "a quokka task" : "task testing";
    cr_assert_eq(store_write(st, put_cb, &r), STORE_OK);
}

struct doc_update_arg {
    struct store_record r, prev; /* prev.version: the version the update expects */
};

static int doc_update_cb(struct store_txn *t, void *arg)
{
    struct doc_update_arg *a = arg;
    return store_record_update(t, &a->r, &a->prev);
}

/* m moved by an update instead of a put: of the document's row alone when its assignee stays
 * (migration 20) */
static void update_moved(const struct moved *m, const char *account, const char *was_assignee)
{
    struct doc_update_arg u = {.r = record(STORE_TASK, m->id, "st-1", account, m->ref, m->doc)};
    u.r.updated_at = m->updated;
    u.r.assignee = m->assignee;
    u.r.name_lower = m->quokka ? "a quokka task" : "task testing";
    u.prev = u.r;
    u.prev.updated_at = m->before;
    u.prev.assignee = was_assignee;
    cr_assert_eq(store_write(st, doc_update_cb, &u), STORE_OK);
}

static void expect_updated_pages(void)
{
    static const int64_t skips[] = {0, 1, 7, 50, 99, 190, 199, 200};
    static const int64_t limits[] = {1, 13, 50};
    static struct moved want[MOVED];
    static const char *want_ids[MOVED];
    /* filtered 1: by assignee, walking the order; 2: by name, the few matches probing theirs;
     * 3: a case's tasks (all of acc-1's: record() puts them in ci-1), sorted as rows */
    for (int filtered = 0; filtered < 4; filtered++) {
        for (int desc = 0; desc < 2; desc++) {
            int n = 0;
            for (int i = 0; i < MOVED; i++)
                if (filtered == 0 || filtered == 3 ||
                    (filtered == 1 && moved[i].assignee && strcmp(moved[i].assignee, "u-1") == 0) ||
                    (filtered == 2 && moved[i].quokka))
                    want[n++] = moved[i];
            paged_desc = desc;
            qsort(want, (size_t)n, sizeof want[0], moved_cmp);
            for (int i = 0; i < n; i++)
                want_ids[i] = want[i].id;
            char what[48]; /* two ints of up to 11 characters and the words */
            snprintf(what, sizeof what, "filtered %d desc %d", filtered, desc);
            for (size_t s = 0; s < sizeof skips / sizeof skips[0]; s++)
                for (size_t l = 0; l < sizeof limits / sizeof limits[0]; l++)
                    expect_page(&(struct store_query){.kind = STORE_TASK,
                                                      .stream_id = "st-1",
                                                      .account_id = "acc-1",
                                                      .assignee = filtered == 1 ? "u-1" : NULL,
                                                      .name = filtered == 2 ? "quokka" : NULL,
                                                      .case_id = filtered == 3 ? "ci-1" : NULL,
                                                      .sort = STORE_SORT_UPDATED,
                                                      .descending = desc,
                                                      .skip = skips[s],
                                                      .limit = limits[l]},
                                want_ids, n, what);
        }
    }
}

Test(store_sqlite, pages_in_updated_order_follow_every_move_and_the_sweep_keeps_one_place_each)
{
    static struct moved other[MOVED_OTHER];
    for (int i = 0; i < MOVED; i++) {
        struct moved *m = &moved[i];
        snprintf(m->id, sizeof m->id, "ti-%03d", (i * 37) % MOVED);
        snprintf(m->ref, sizeof m->ref, "TS%06d", i);
        snprintf(m->doc, sizeof m->doc, "{\"_id\":\"ti-%03d\"}", (i * 37) % MOVED);
        m->updated = m->before = 1000 + (i * 7) % 60; /* ties go by _id */
        m->quokka = i % 20 == 0;
        put_moved(m, "acc-1");
    }
    for (int i = 0; i < MOVED_OTHER; i++) {
        struct moved *m = &other[i];
        snprintf(m->id, sizeof m->id, "tx-%03d", i);
        snprintf(m->ref, sizeof m->ref, "TS9%05d", i);
        snprintf(m->doc, sizeof m->doc, "{\"_id\":\"tx-%03d\"}", i);
        m->updated = m->before = 5000 + i;
        put_moved(m, "acc-2");
    }
    expect_updated_pages();
    uint32_t x = 12345;
    for (int w = 0; w < MOVES; w++) {
        x = x * 1103515245u + 12345u;
        bool mine = (x >> 8) % 10 != 0;
        struct moved *m = mine ? &moved[(x >> 12) % MOVED] : &other[(x >> 12) % MOVED_OTHER];
        int64_t now = m->updated;
        switch ((x >> 20) % 4) {
        case 0:
        case 1:
            now = 2000 + w; /* forward */
            break;
        case 2:
            now = m->before; /* back to the time it had before its last move */
            break;
        default: /* the same time: only the assignee moves */
            break;
        }
        m->before = m->updated;
        m->updated = now;
        const char *was = m->assignee;
        m->assignee = (x >> 24) % 2 ? "u-1" : NULL;
        if ((x >> 20) % 4 == 0) /* forward by an update: the row only when the assignee moves */
            update_moved(m, mine ? "acc-1" : "acc-2", was);
        else
            put_moved(m, mine ? "acc-1" : "acc-2");
        if (w == MOVES / 3)
            expect_updated_pages(); /* halfway through a round of the sweep */
    }
    expect_updated_pages();
    /* each record has exactly one entry that is its place */
    cr_expect_eq(query_int(db_path, "SELECT count(*) FROM records r JOIN record_docs d"
                                    " ON d.rid = r.rowid WHERE (SELECT count(*) FROM"
                                    " record_updates u WHERE u.rid = r.rowid AND u.updated_at ="
                                    " d.updated_at AND u.id = r.id) <> 1"),
                 0);
    /* and the stale ones are swept: MOVES writes left at most a round's worth (updates_sweep) */
    long long entries = query_int(db_path, "SELECT count(*) FROM record_updates");
    cr_expect_leq(entries, 2 * (MOVED + MOVED_OTHER) + 512, "%lld entries", entries);
    cr_expect_geq(entries, MOVED + MOVED_OTHER);
}

/* ti-000, ti-001 and ti-002 of acc-1, updated at 300, 200 and 100 (moved[0..2]). */
static void put_three_moved(void)
{
    for (int i = 0; i < 3; i++) {
        struct moved *m = &moved[i];
        snprintf(m->id, sizeof m->id, "ti-%03d", i);
        snprintf(m->ref, sizeof m->ref, "TS%06d", i);
        snprintf(m->doc, sizeof m->doc, "{\"_id\":\"ti-%03d\"}", i);
        m->updated = 300 - i * 100;
        put_moved(m, "acc-1");
    }
}

/* Closes the store, runs sql on its file (back to an older schema) and opens it again, which
 * migrates it. */
static void reopen_after(const char *sql)
{
    store_close(st);
    st = NULL;
    exec_on(db_path, sql);
    char url[160], *err = NULL;
    url_of(url, sizeof url);
    st = store_open(url, &fast_opts, &err);
    cr_assert_not_null(st, "store_open: %s", err ? err : "?");
}

/* acc-1's tasks, newest updatedAt first, are the three ids given. */
static void expect_moved_newest_first(const char *first, const char *second, const char *third)
{
    struct id_page *a = xcalloc(1, sizeof *a);
    a->q = (struct store_query){.kind = STORE_TASK,
                                .stream_id = "st-1",
                                .account_id = "acc-1",
                                .sort = STORE_SORT_UPDATED,
                                .descending = true,
                                .limit = 10};
    cr_assert_eq(store_read(st, id_page_cb, a), STORE_OK);
    cr_assert_eq(a->found, 3);
    cr_expect_str_eq(a->ids[0], first);
    cr_expect_str_eq(a->ids[1], second);
    cr_expect_str_eq(a->ids[2], third);
    free(a);
}

/* A database of schema 18 (an index on updated_at) that has records: migration 19 gives each
 * record its place in record_updates and drops the index; pages in updatedAt order and later
 * updates work on it. */
Test(store_sqlite, migration_19_places_the_records_of_an_older_database)
{
    put_three_moved();
    reopen_after(UNDO_MIGRATION_21 UNDO_MIGRATION_20 UNDO_MIGRATION_19 "PRAGMA user_version = 18;");
    cr_expect_eq(query_int(db_path, "SELECT count(*) FROM sqlite_schema WHERE name ="
                                    " 'records_updated'"),
                 0);
    cr_expect_eq(query_int(db_path, "SELECT count(*) FROM record_updates"), 3);
    moved[2].updated = 400;
    put_moved(&moved[2], "acc-1");
    expect_moved_newest_first("ti-002", "ti-000", "ti-001");
}

/* A database of schema 19 (version and updated_at in the records row alone): migration 20 keeps
 * each record's version (records.version, and doc_version 0) and its place in updatedAt order,
 * drops records.updated_at, and later updates move records in that order (the triggers on
 * record_docs). */
Test(store_sqlite, migration_20_keeps_the_versions_and_updated_order_of_an_older_database)
{
    put_three_moved();
    put_moved(&moved[0], "acc-1"); /* puts over it: version 3 */
    put_moved(&moved[0], "acc-1");
    reopen_after(UNDO_MIGRATION_21 UNDO_MIGRATION_20 "PRAGMA user_version = 19;");
    cr_expect_eq(query_int(db_path, "SELECT version FROM records WHERE id = 'ti-000'"), 3);
    cr_expect_eq(query_int(db_path, "SELECT count(*) FROM pragma_table_info('records')"
                                    " WHERE name = 'updated_at'"),
                 0);
    cr_expect_eq(query_int(db_path, "SELECT sum(doc_version) FROM record_docs"), 0);
    cr_expect_eq(query_int(db_path, "SELECT d.updated_at FROM records r JOIN record_docs d"
                                    " ON d.rid = r.rowid WHERE r.id = 'ti-001'"),
                 200);
    expect_doc(STORE_TASK, "st-1", "acc-1", "ti-000", moved[0].doc, 3);
    expect_doc(STORE_TASK, "st-1", "acc-1", "ti-001", moved[1].doc, 1);
    /* an update of ti-002's document alone moves it first */
    struct doc_update_arg u = {.r = record(STORE_TASK, "ti-002", "st-1", "acc-1", "TS000002",
                                           "{\"_id\":\"ti-002\",\"desc\":\"later\"}")};
    u.prev = record(STORE_TASK, "ti-002", "st-1", "acc-1", "TS000002", moved[2].doc);
    u.r.updated_at = 400;
    u.prev.updated_at = moved[2].updated;
    u.prev.version = 1;
    cr_assert_eq(store_write(st, doc_update_cb, &u), STORE_OK);
    cr_expect_eq(u.r.version, 2);
    expect_moved_newest_first("ti-002", "ti-000", "ti-001");
}

/* A search sorted by createdAt is answered from its matches kept in memory (matchcache.h) as
 * long as the tenant's names generation stands: every commit that adds or renames one of the
 * tenant's names must be seen by the next search, other tenants' names must not count, and a
 * write that leaves the names alone keeps the generation. */
/* The ids of acc-1's tasks a search (or name filter) finds, newest first, joined by spaces. */
static char *kept_search(const char *text, bool search)
{
    struct id_page *a = xcalloc(1, sizeof *a);
    a->q = (struct store_query){.kind = STORE_TASK, .stream_id = "st-1", .account_id = "acc-1",
                                .search = search ? text : NULL, .name = search ? NULL : text,
                                .sort = STORE_SORT_CREATED, .descending = true, .limit = 16};
    cr_assert_eq(store_read(st, id_page_cb, a), STORE_OK, "%s", text);
    cr_assert_eq(a->total, a->found, "%s", text);
    char *out = xcalloc(16, 8);
    for (int i = 0; i < a->found; i++)
        snprintf(out + strlen(out), 8, "%s%s", i ? " " : "", a->ids[i]);
    free(a);
    return out;
}

static void put_task(const char *id, const char *account, const char *ref, const char *name,
                     int64_t created)
{
    char doc[64];
    snprintf(doc, sizeof doc, "{\"_id\":\"%s\"}", id);
    struct store_record r = record(STORE_TASK, id, "st-1", account, ref, doc);
    r.name_lower = name;
    r.created_at = created;
    cr_assert_eq(store_write(st, put_cb, &r), STORE_OK);
}

#define EXPECT_KEPT(text, search, want)                                                        \
    do {                                                                                       \
        char *got_ = kept_search(text, search);                                                \
        cr_expect_str_eq(got_, want, "%s (%s)", text, search ? "searchText" : "name");         \
        free(got_);                                                                            \
    } while (0)

static long long names_gen(const char *account)
{
    char sql[160];
    snprintf(sql, sizeof sql, "SELECT names_gen FROM record_scopes WHERE stream_id = 'st-1' AND"
                              " account_id = '%s' AND kind = 1", account);
    return query_int(db_path, sql);
}

Test(store_sqlite, a_kept_search_follows_its_tenants_names)
{
    put_task("ti-01", "acc-1", "TS000001", "okapi one", 100);
    put_task("ti-02", "acc-1", "TS000002", "two okapis", 200);
    put_task("ti-03", "acc-1", "TS000003", "no match", 300);
    put_task("tx-01", "acc-2", "TS000004", "okapi elsewhere", 400);
    EXPECT_KEPT("okapi", true, "ti-02 ti-01");
    EXPECT_KEPT("okapi", true, "ti-02 ti-01"); /* again, from the kept list */
    EXPECT_KEPT("okapi", false, "ti-02 ti-01");
    /* searchText matches a refId too; the name filter does not */
    EXPECT_KEPT("ts000003", true, "ti-03");
    EXPECT_KEPT("ts000003", false, "");

    /* a write that changes no name keeps the generation, and the answers */
    long long gen = names_gen("acc-1");
    struct store_record same = record(STORE_TASK, "ti-01", "st-1", "acc-1", "TS000001",
                                      "{\"_id\":\"ti-01\"}");
    same.name_lower = "okapi one";
    same.created_at = 100;
    same.status_category = "closed";
    cr_assert_eq(store_write(st, put_cb, &same), STORE_OK);
    cr_expect_eq(names_gen("acc-1"), gen, "a write without a new name raised the generation");
    EXPECT_KEPT("okapi", true, "ti-02 ti-01");

    /* a new match, a renamed one, and one in the other account */
    put_task("ti-04", "acc-1", "TS000005", "okapi four", 50);
    EXPECT_KEPT("okapi", true, "ti-02 ti-01 ti-04");
    EXPECT_KEPT("okapi", false, "ti-02 ti-01 ti-04");
    put_task("ti-02", "acc-1", "TS000002", "renamed", 200);
    EXPECT_KEPT("okapi", true, "ti-01 ti-04");
    EXPECT_KEPT("okapi", false, "ti-01 ti-04");
    gen = names_gen("acc-1");
    put_task("tx-02", "acc-2", "TS000006", "okapi too", 500);
    cr_expect_eq(names_gen("acc-1"), gen, "another account's name raised this one's generation");
    EXPECT_KEPT("okapi", true, "ti-01 ti-04");
    /* the record a searchText's refId names comes and goes with the tenant's writes too */
    EXPECT_KEPT("ts000007", true, "");
    put_task("ti-07", "acc-1", "TS000007", "plain", 700);
    EXPECT_KEPT("ts000007", true, "ti-07");
}

/* Past store_options.match_list_max matches, a search's list is kept without its rowids and its
 * pages are found by walking the sort index: the same answers either way. */
Test(store_sqlite, a_search_with_too_many_matches_to_keep_is_walked)
{
    store_close(st);
    char url[160], *err = NULL;
    url_of(url, sizeof url);
    struct store_options opts = fast_opts;
    opts.match_list_max = 3;
    st = store_open(url, &opts, &err);
    cr_assert_not_null(st, "store_open: %s", err ? err : "?");
    put_task("ti-01", "acc-1", "TS000001", "okapi one", 100);
    put_task("ti-02", "acc-1", "TS000002", "two okapis", 200);
    put_task("ti-03", "acc-1", "TS000003", "okapi three", 300);
    EXPECT_KEPT("okapi", true, "ti-03 ti-02 ti-01");
    put_task("ti-04", "acc-1", "TS000004", "okapi four", 50);
    for (int i = 0; i < 2; i++) /* the first finds 4 matches, the second that they are many */
        EXPECT_KEPT("okapi", true, "ti-03 ti-02 ti-01 ti-04");
    put_task("ti-03", "acc-1", "TS000003", "renamed", 300);
    EXPECT_KEPT("okapi", true, "ti-02 ti-01 ti-04");
}

/* A searchText and a name together: one goes through temp.name_matches, the other through the
 * name index directly; the refId alternative belongs to the searchText only. */
Test(store_sqlite, a_search_and_a_name_filter_combine_with_and)
{
    const char *names[] = {"quokka and wombat", "quokka alone", "wombat alone", "neither"};
    const char *refs[] = {"CS000001", "CS000002", "CS000003", "CS000004"};
    const char *ids[] = {"ci-1", "ci-2", "ci-3", "ci-4"};
    for (int i = 0; i < 4; i++) {
        struct store_record r = record(STORE_CASE, ids[i], "st-1", "acc-1", refs[i], "{}");
        r.name_lower = names[i];
        cr_assert_eq(store_write(st, put_cb, &r), STORE_OK);
    }
    static const struct {
        const char *search, *name;
        int found;
    } cases[] = {
        {"quokka", "wombat", 1},   {"wombat", "quokka", 1},   {"quokka", "alone", 1},
        {"cs000003", "wombat", 1}, {"cs000003", "quokka", 0}, {"quokka", "cs000001", 0},
        {"qu", "wombat", 1},       {"quokka", "wo", 1},       {"absent", "quokka", 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct search_arg *a = xcalloc(1, sizeof *a);
        a->q = (struct store_query){.kind = STORE_CASE,
                                    .stream_id = "st-1",
                                    .account_id = "acc-1",
                                    .search = cases[i].search,
                                    .name = cases[i].name,
                                    .limit = 50};
        cr_assert_eq(store_read(st, search_cb, a), STORE_OK);
        cr_expect_eq(a->total, cases[i].found, "searchText %s, name %s", cases[i].search,
                     cases[i].name);
        cr_expect_eq(a->found, cases[i].found);
        free(a);
    }
}

static int update_cb(struct store_txn *t, void *arg)
{
    struct store_record *r = arg;
    struct store_record prev = *r;
    prev.name_lower = "the old name";
    prev.version = 0;
    return store_record_update(t, r, &prev);
}

Test(store_sqlite, a_renamed_record_is_found_by_its_new_name_only)
{
    struct store_record r = record(STORE_CASE, "ci-1", "st-1", "acc-1", "CS000001", "{}");
    r.name_lower = "the old name";
    cr_assert_eq(store_write(st, put_cb, &r), STORE_OK);
    struct store_record same = record(STORE_CASE, "ci-2", "st-1", "acc-2", "CS000002", "{}");
    same.name_lower = "the old name";
    cr_assert_eq(store_write(st, put_cb, &same), STORE_OK);
    cr_expect_eq(search_count("old name", true), 1);
    /* the old name in the index, the new one queued: the index's entry no longer counts */
    wait_names_applied();
    r.name_lower = "a new name";
    cr_assert_eq(store_write(st, update_cb, &r), STORE_OK);
    cr_expect_eq(search_count("old name", true), 0, "the old name left the index");
    cr_expect_eq(search_count("old name", false), 0);
    cr_expect_eq(search_count("new name", true), 1);
    /* a put over an existing id renames too */
    r.name_lower = "the third name";
    cr_assert_eq(store_write(st, put_cb, &r), STORE_OK);
    cr_expect_eq(search_count("new name", true), 0);
    cr_expect_eq(search_count("third", false), 1);
    wait_names_applied();
    cr_expect_eq(search_count("old name", true), 0);
    cr_expect_eq(search_count("new name", false), 0);
    cr_expect_eq(search_count("third", true), 1);
    cr_expect_eq(query_int(db_path, "SELECT count(*) FROM record_names WHERE record_names"
                                    " MATCH '\"old name\"'"),
                 1, "the other account's record keeps its entry");
}

/* n cases of st-1/acc-1, ci-<i>, named "gecko <i>" for every tenth and "plain <i>" else */
static int put_many_cb(struct store_txn *t, void *arg)
{
    int n = *(int *)arg;
    for (int i = 0; i < n; i++) {
        char id[32], ref[32], name[32];
        snprintf(id, sizeof id, "ci-%d", i);
        snprintf(ref, sizeof ref, "CS%06d", i);
        snprintf(name, sizeof name, "%s %d", i % 10 ? "plain" : "gecko", i);
        struct store_record r = record(STORE_CASE, id, "st-1", "acc-1", ref, "{}");
        r.name_lower = name;
        int rc = store_record_put(t, &r);
        if (rc != STORE_OK)
            return rc;
    }
    return STORE_OK;
}

static int late_query(const char *search, const char *name, int64_t deadline_us, int *found,
                      int64_t *total)
{
    struct search_arg *a = xcalloc(1, sizeof *a);
    a->q = (struct store_query){.kind = STORE_CASE, .stream_id = "st-1", .account_id = "acc-1",
                                .search = search, .name = name, .limit = 500,
                                .deadline_us = deadline_us};
    int rc = store_read(st, search_cb, a);
    *found = a->found;
    *total = a->total;
    free(a);
    return rc;
}

Test(store_sqlite, a_query_past_its_deadline_stops_late_and_the_next_runs_whole)
{
    int n = 3000; /* listed 500 a page */
    cr_assert_eq(store_write(st, put_many_cb, &n), STORE_OK);
    wait_names_applied();
    /* a scan of every name (one character), a search through the name index (its matches go
     * to a temporary table, written in the read's transaction), and a plain page */
    static const struct {
        const char *search, *name;
        int64_t total;
    } queries[] = {{NULL, " ", 3000}, {"plain", NULL, 2700}, {NULL, NULL, 3000}};
    for (size_t i = 0; i < sizeof queries / sizeof queries[0]; i++) {
        const char *search = queries[i].search, *name = queries[i].name;
        int found;
        int64_t total;
        /* the deadline has passed at SQLite's first look at the clock */
        cr_expect_eq(late_query(search, name, time_mono_us(), &found, &total), STORE_LATE,
                     "query %zu", i);
        cr_expect_lt(found, 500, "query %zu: stopped before its page was whole", i);
        cr_expect_eq(late_query(search, name, 0, &found, &total), STORE_OK, "query %zu", i);
        cr_expect_eq(found, 500, "query %zu", i);
        cr_expect_eq(total, queries[i].total, "query %zu", i);
        cr_expect_eq(late_query(search, name, time_mono_us() + 60 * 1000000LL, &found, &total),
                     STORE_OK, "query %zu: a deadline not reached", i);
        cr_expect_eq(found, 500, "query %zu", i);
        cr_expect_eq(total, queries[i].total, "query %zu", i);
    }
}

/* A group of writes that brings the queue of name changes to FTS_BATCH (128) moves it into
 * the name index in the same commit, however busy the writer. */
Test(store_sqlite, a_full_batch_of_name_changes_is_applied_with_its_commit)
{
    int n = 200;
    cr_assert_eq(store_write(st, put_many_cb, &n), STORE_OK);
    cr_expect_eq(query_int(db_path, "SELECT count(*) FROM fts_pending"), 0);
    cr_expect_eq(query_int(db_path, "SELECT count(*) FROM record_names WHERE record_names"
                                    " MATCH 'gecko'"),
                 20);
    cr_expect_eq(search_count("gecko", true), 20);
}

/* The total of a list filtered on statuses, priorities and assignees alone comes from counts
 * the triggers keep (migrations 7 and 8): it must stay the number of matching records through
 * inserts, updates and puts that move records between statuses, priorities and assignees, NULL
 * ones included. */
#define STATUSED 60

static const char *const categories[] = {"open", "inProgress", "resolved", "closed", NULL};
static const char *const status_names[] = {"Open", "Doing", "Done", NULL};
static const char *const priority_names[] = {"Critical", "High", NULL};
static const char *const assignees[] = {"u-1", "u-2", "u-3", NULL};

static struct store_record statused[STATUSED];

static bool in_list(const char *v, const struct store_strings *l)
{
    for (size_t i = 0; i < l->n; i++)
        if (v && strcmp(v, l->v[i]) == 0)
            return true;
    return false;
}

static int64_t statused_matching(const struct store_query *q)
{
    int64_t n = 0;
    for (int i = 0; i < STATUSED; i++) {
        const struct store_record *r = &statused[i];
        const char *cat = r->status_category;
        if (q->unresolved && !(cat && (!strcmp(cat, "open") || !strcmp(cat, "inProgress"))))
            continue;
        if (q->priorities.n && !in_list(r->priority_name, &q->priorities))
            continue;
        if (q->statuses.n && !in_list(r->status_name, &q->statuses))
            continue;
        if (q->unassigned && r->assignee)
            continue;
        if (q->assignee && !(r->assignee && strcmp(q->assignee, r->assignee) == 0))
            continue;
        if (q->agents.n && !in_list(r->assignee, &q->agents))
            continue;
        n++;
    }
    return n;
}

static int update_columns_cb(struct store_txn *t, void *arg)
{
    struct store_record *pair = arg; /* the new columns, then the old */
    return store_record_update(t, &pair[0], &pair[1]);
}

static void expect_status_totals(const char *when)
{
    static const char *const prio_sets[][2] = {
        {NULL, NULL}, {"Critical", NULL}, {"Critical", "High"}};
    static const char *const status_sets[][2] = {{NULL, NULL}, {"Open", NULL}, {"Open", "Done"}};
    /* by assignee: none, mytask, unassigned, agents[] */
    for (int who = 0; who < 4; who++)
        for (int u = 0; u < 2; u++)
            for (int p = 0; p < 3; p++)
                for (int s = 0; s < 3; s++) {
                    struct id_page *a = xcalloc(1, sizeof *a);
                    a->q = (struct store_query){.kind = STORE_TASK,
                                                .stream_id = "st-1",
                                                .account_id = "acc-1",
                                                .unresolved = u,
                                                .unassigned = who == 2,
                                                .assignee = who == 1 ? "u-2" : NULL,
                                                .limit = 1};
                    if (who == 3) {
                        a->q.agents.v[a->q.agents.n++] = "u-1";
                        a->q.agents.v[a->q.agents.n++] = "u-3";
                    }
                    for (int k = 0; k < 2 && prio_sets[p][k]; k++)
                        a->q.priorities.v[a->q.priorities.n++] = prio_sets[p][k];
                    for (int k = 0; k < 2 && status_sets[s][k]; k++)
                        a->q.statuses.v[a->q.statuses.n++] = status_sets[s][k];
                    cr_assert_eq(store_read(st, id_page_cb, a), STORE_OK);
                    cr_expect_eq(a->total, statused_matching(&a->q),
                                 "%s: assignees %d, unresolved %d, priorities %zu, statuses %zu",
                                 when, who, u, a->q.priorities.n, a->q.statuses.n);
                    free(a);
                }
}

Test(store_sqlite, status_priority_and_assignee_totals_follow_every_change)
{
    static char ids[STATUSED][16], refs[STATUSED][16];
    for (int i = 0; i < STATUSED; i++) {
        snprintf(ids[i], sizeof ids[i], "ti-%03d", i);
        snprintf(refs[i], sizeof refs[i], "TS%06d", i);
        statused[i] = record(STORE_TASK, ids[i], "st-1", "acc-1", refs[i], "{\"_id\":\"ti-\"}");
        statused[i].status_category = categories[i % 5];
        statused[i].status_name = status_names[i % 4];
        statused[i].priority_name = priority_names[i % 3];
        statused[i].assignee = assignees[i % 4 ^ (i / 20)];
        cr_assert_eq(store_write(st, put_cb, &statused[i]), STORE_OK);
    }
    /* another tenant's and another kind's records count elsewhere */
    struct store_record other = record(STORE_TASK, "tx-1", "st-1", "acc-2", "TS900001", "{}");
    cr_assert_eq(store_write(st, put_cb, &other), STORE_OK);
    other = record(STORE_CASE, "ci-1", "st-1", "acc-1", "CS000001", "{}");
    cr_assert_eq(store_write(st, put_cb, &other), STORE_OK);
    expect_status_totals("inserted");

    for (int i = 0; i < STATUSED; i += 3) {
        struct store_record pair[2] = {statused[i], statused[i]};
        if (i % 5 != 0) { /* every fifth changes its assignee alone */
            pair[0].status_category = categories[(i / 3 + 1) % 5];
            pair[0].status_name = status_names[(i / 3 + 2) % 4];
            if (i % 2)
                pair[0].priority_name = priority_names[(i / 3 + 1) % 3];
        }
        if (i % 5 < 2)
            pair[0].assignee = assignees[(i / 3 + 3) % 4];
        cr_assert_eq(store_write(st, update_columns_cb, pair), STORE_OK);
        statused[i] = pair[0];
    }
    expect_status_totals("updated");

    for (int i = 1; i < STATUSED; i += 4) {
        statused[i].priority_name = priority_names[(i + 1) % 3];
        statused[i].status_category = NULL;
        statused[i].assignee = assignees[(i + 2) % 4];
        cr_assert_eq(store_write(st, put_cb, &statused[i]), STORE_OK);
    }
    expect_status_totals("put again");
}

/* ---- deep pages in creation order ----
 * A page of a tenant's list sorted by createdAt with a deep skip is placed by the counts of
 * record_created_buckets (buckets of 2^24 ms): it must be the page an OFFSET from the start
 * gives, whichever way it is found: the bucket the skip falls in (at its first row, inside it,
 * past several), or buckets of one record each, whose walk stops early (CREATED_WALK_RATIO). */
#define BUCKET_WIDTH (INT64_C(1) << 24) /* CREATED_SHIFT in store_sqlite.c */
#define CREATED_MAX 1400

/* Records of one tenant and kind: buckets of `per` records from bucket `first`, every `stride`
 * buckets; `ties` records share each creation time, the first and second of a bucket on its
 * edges. */
struct created_run {
    int64_t first;
    int buckets, stride, per, ties;
};

struct created_set {
    const char *account;
    enum store_kind kind;
    int n;
    struct created_rec {
        char id[24], ref[24], doc[48];
        int64_t created;
    } rec[CREATED_MAX];
};

static int created_serial; /* ids and refIds of every set, unique in the stream */

static int64_t created_time(int64_t bucket, int instant)
{
    int64_t within = instant == 0 ? 0 : instant == 1 ? BUCKET_WIDTH - 1 : instant * 12345;
    return bucket * BUCKET_WIDTH + within;
}

static void created_fill(struct created_set *set, const char *account, enum store_kind kind,
                         const struct created_run *runs, size_t nruns)
{
    memset(set, 0, sizeof *set);
    set->account = account;
    set->kind = kind;
    for (size_t r = 0; r < nruns; r++)
        for (int b = 0; b < runs[r].buckets; b++)
            for (int k = 0; k < runs[r].per; k++) {
                cr_assert_lt(set->n, CREATED_MAX);
                struct created_rec *c = &set->rec[set->n++];
                int serial = created_serial++;
                cr_assert_lt(serial, 10000);
                /* ids in another order than creation times (7919 is prime to 10,000, so they
                 * stay distinct): the tie-break is seen */
                const char *prefix = kind == STORE_TASK ? "tc" : "cc";
                int n = (serial * 7919) % 10000;
                snprintf(c->id, sizeof c->id, "%s-%04d", prefix, n);
                /* from prefix and n, not from c->id: gcc takes the two for overlapping */
                snprintf(c->doc, sizeof c->doc, "{\"_id\":\"%s-%04d\"}", prefix, n);
                snprintf(c->ref, sizeof c->ref, "%s%06d", kind == STORE_TASK ? "TS" : "CS", serial);
                c->created =
                    created_time(runs[r].first + (int64_t)b * runs[r].stride, k / runs[r].ties);
            }
}

/* Puts records [from, to) of set. */
static void created_put_range(const struct created_set *set, int from, int to)
{
    for (int i = from; i < to; i++) {
        const struct created_rec *c = &set->rec[i];
        struct store_record r = record(set->kind, c->id, "st-1", set->account, c->ref, c->doc);
        r.created_at = r.updated_at = c->created;
        cr_assert_eq(store_write(st, put_cb, &r), STORE_OK, "%s", c->id);
    }
}

static void created_put(const struct created_set *set)
{
    created_put_range(set, 0, set->n);
}

static bool created_desc;

static int created_cmp(const void *pa, const void *pb)
{
    const struct created_rec *a = pa, *b = pb;
    int c = (a->created > b->created) - (a->created < b->created);
    if (c == 0)
        c = strcmp(a->id, b->id);
    return created_desc ? -c : c;
}

/* Asserts that the page at skip is sorted[skip + shift ...] (shift 0: the right page). */
static void expect_created_page(const struct created_set *set, const struct created_rec *sorted,
                                int64_t skip, int64_t limit, int64_t shift)
{
    struct id_page *a = xcalloc(1, sizeof *a);
    a->q = (struct store_query){.kind = set->kind,
                                .stream_id = "st-1",
                                .account_id = set->account,
                                .sort = STORE_SORT_CREATED,
                                .descending = created_desc,
                                .skip = skip,
                                .limit = limit};
    cr_assert_eq(store_read(st, id_page_cb, a), STORE_OK);
    cr_assert_eq(a->total, set->n);
    int64_t from = skip + shift;
    int64_t want = from >= set->n ? 0 : set->n - from < limit ? set->n - from : limit;
    cr_assert_eq(a->found, want, "%s kind %d desc %d skip %lld limit %lld", set->account, set->kind,
                 created_desc, (long long)skip, (long long)limit);
    for (int k = 0; k < a->found; k++)
        cr_assert_str_eq(a->ids[k], sorted[from + k].id,
                         "%s kind %d desc %d skip %lld limit %lld: row %d", set->account, set->kind,
                         created_desc, (long long)skip, (long long)limit, k);
    free(a);
}

static int64_t bucket_of(int64_t created)
{
    return created >= 0 ? created / BUCKET_WIDTH : -((-created - 1) / BUCKET_WIDTH) - 1;
}

/* Every page of set, both ways: a sweep of skips, and each skip at a bucket's first row and
 * either side of it, up to past the end. */
static void expect_created_pages(const struct created_set *set, int step)
{
    struct created_rec *sorted = xmalloc(sizeof set->rec);
    for (int desc = 0; desc < 2; desc++) {
        created_desc = desc;
        memcpy(sorted, set->rec, sizeof set->rec);
        qsort(sorted, (size_t)set->n, sizeof sorted[0], created_cmp);
        for (int64_t skip = 0; skip < set->n + 3; skip += step)
            expect_created_page(set, sorted, skip, skip % 3 ? 50 : 7, 0);
        for (int i = 1; i < set->n; i++) {
            if (bucket_of(sorted[i].created) == bucket_of(sorted[i - 1].created))
                continue;
            for (int d = -1; d <= 1; d++)
                expect_created_page(set, sorted, i + d, 50, 0);
        }
        expect_created_page(set, sorted, set->n > 50 ? set->n - 50 : 0, 50, 0);
        expect_created_page(set, sorted, set->n - 1, 50, 0);
        expect_created_page(set, sorted, set->n, 50, 0);
    }
    free(sorted);
}

/* record_created_buckets holds what counting records by bucket gives, and nothing else. */
static void expect_buckets_counted(const char *when)
{
    static const char counted[] = "SELECT stream_id, account_id, kind, created_at >> 24, count(*)"
                                  " FROM records GROUP BY 1, 2, 3, 4";
    static const char kept[] = "SELECT stream_id, account_id, kind, bucket, n"
                               " FROM record_created_buckets";
    char sql[512];
    snprintf(sql, sizeof sql,
             "SELECT (SELECT count(*) FROM (%s EXCEPT %s))"
             " + (SELECT count(*) FROM (%s EXCEPT %s))",
             counted, kept, kept, counted);
    cr_expect_eq(query_int(db_path, sql), 0, "%s: the bucket counts differ from the records", when);
}

/* A tenant with a few records in each of many buckets, runs of equal times and buckets of one
 * record at both ends (negative times, before 1970, at the old end). */
static const struct created_run mixed_runs[] = {
    {-30, 60, 1, 1, 1}, {100, 40, 3, 25, 5}, {300, 1, 1, 100, 100},
    {400, 3, 1, 7, 1},  {500, 40, 2, 1, 1},
};
/* A tenant with one record a bucket: the walk stops before the skip's bucket. */
static const struct created_run sparse_runs[] = {{0, 1300, 1, 1, 1}};
/* The same buckets for another kind: counted apart. */
static const struct created_run case_runs[] = {{100, 10, 3, 2, 1}};

static struct created_set mixed, sparse, cases;

Test(store_sqlite, deep_pages_in_creation_order_are_those_of_an_offset)
{
    created_fill(&mixed, "acc-1", STORE_TASK, mixed_runs, sizeof mixed_runs / sizeof mixed_runs[0]);
    created_fill(&sparse, "acc-2", STORE_TASK, sparse_runs,
                 sizeof sparse_runs / sizeof sparse_runs[0]);
    created_fill(&cases, "acc-1", STORE_CASE, case_runs, sizeof case_runs / sizeof case_runs[0]);
    created_put(&mixed);
    created_put(&sparse);
    created_put(&cases);
    /* a put of an existing id replaces the record: it is not counted again */
    created_put(&cases);
    expect_buckets_counted("inserted");
    expect_created_pages(&mixed, 7);
    expect_created_pages(&sparse, 13);
    expect_created_pages(&cases, 1);

    /* the counts, not an OFFSET from the start, place a deep page: one more in the newest
     * bucket moves every deep page newest first by a row; shallow pages stay */
    exec_on(db_path, "UPDATE record_created_buckets SET n = n + 1 WHERE account_id = 'acc-1'"
                     " AND kind = 1 AND bucket = (SELECT max(bucket) FROM record_created_buckets"
                     " WHERE account_id = 'acc-1' AND kind = 1)");
    created_desc = true;
    struct created_rec *sorted = xmalloc(sizeof mixed.rec);
    memcpy(sorted, mixed.rec, sizeof mixed.rec);
    qsort(sorted, (size_t)mixed.n, sizeof sorted[0], created_cmp);
    expect_created_page(&mixed, sorted, 1100, 50, -1);
    expect_created_page(&mixed, sorted, 500, 50, 0);
    free(sorted);
}

/* ---- transactions ---- */

/* What a write callback saw; checked by the test after store_write returns, because write
 * callbacks may run on the store's writer thread, where a failing cr_assert cannot unwind. */
struct probe {
    struct store_record *r;
    int put_rc, get_rc;
    int64_t get_version;
    int result; /* what the callback returns */
};

static int put_then_return_cb(struct store_txn *t, void *arg)
{
    struct probe *p = arg;
    p->put_rc = store_record_put(t, p->r);
    return p->result;
}

static int put_then_read_cb(struct store_txn *t, void *arg)
{
    struct probe *p = arg;
    p->put_rc = store_record_put(t, p->r);
    struct store_record out = {0};
    p->get_rc = store_record_get(t, p->r->kind, p->r->stream_id, p->r->account_id, p->r->id, &out);
    p->get_version = out.version;
    free(out.doc);
    return STORE_OK;
}

/* ---- activities (API.md §7) ---- */

struct act_update {
    struct store_record *r;
    const char *doc; /* the activity's, or NULL for an update without one */
    int result;      /* what the callback returns after the update */
};

static int update_with_activity_cb(struct store_txn *t, void *arg)
{
    struct act_update *u = arg;
    struct store_activity a = {.id = "ac-x", .stream_id = u->r->stream_id,
                               .account_id = u->r->account_id, .record_id = u->r->id,
                               .created_at = 1, .doc = u->doc};
    struct store_record prev = *u->r;
    prev.version = 0;
    u->r->activity = u->doc ? &a : NULL;
    int rc = store_record_update(t, u->r, &prev);
    u->r->activity = NULL;
    return rc == STORE_OK ? u->result : rc;
}

static void update_with_activity(struct store_record *r, const char *doc, int result)
{
    struct act_update u = {.r = r, .doc = doc, .result = result};
    cr_assert_eq(store_write(st, update_with_activity_cb, &u), result);
}

struct act_list {
    const char *account, *id;
    int64_t skip, limit, total;
    char docs[256]; /* the listed documents, each followed by a space */
};

static void collect_activity(const char *json, void *arg)
{
    struct act_list *l = arg;
    size_t n = strlen(l->docs);
    snprintf(l->docs + n, sizeof l->docs - n, "%s ", json);
}

static int act_list_cb(struct store_txn *t, void *arg)
{
    struct act_list *l = arg;
    return store_activity_list(t, "st-1", l->account, l->id, l->skip, l->limit, collect_activity,
                               l, &l->total);
}

/* The documents of a record's activities skip..skip+limit-1 (newest first), and their total. */
static void expect_activities(const char *account, const char *id, int64_t skip, int64_t limit,
                              const char *want_docs, int64_t want_total)
{
    struct act_list l = {.account = account, .id = id, .skip = skip, .limit = limit};
    cr_assert_eq(store_read(st, act_list_cb, &l), STORE_OK);
    cr_expect_str_eq(l.docs, want_docs, "%s skip %lld limit %lld", id, (long long)skip,
                     (long long)limit);
    cr_expect_eq(l.total, want_total, "%s", id);
}

Test(store_sqlite, activities_are_written_with_their_update_and_listed_newest_first)
{
    struct store_record r1 = record(STORE_TASK, "ti-1", "st-1", "acc-1", "TS000001", "{}");
    struct store_record r2 = record(STORE_TASK, "ti-2", "st-1", "acc-1", "TS000002", "{}");
    cr_assert_eq(store_write(st, put_cb, &r1), STORE_OK);
    cr_assert_eq(store_write(st, put_cb, &r2), STORE_OK);
    expect_activities("acc-1", "ti-1", 0, 50, "", 0);

    /* two records' activities interleaved, an update without one, and one rolled back */
    update_with_activity(&r1, "1", STORE_OK);
    update_with_activity(&r2, "a", STORE_OK);
    update_with_activity(&r1, "2", STORE_OK);
    update_with_activity(&r1, NULL, STORE_OK);
    update_with_activity(&r1, "rolled-back", STORE_ABORT);
    update_with_activity(&r2, "b", STORE_OK);
    update_with_activity(&r1, "3", STORE_OK);
    update_with_activity(&r1, "4", STORE_OK);

    expect_activities("acc-1", "ti-1", 0, 50, "4 3 2 1 ", 4);
    expect_activities("acc-1", "ti-1", 1, 2, "3 2 ", 4);
    expect_activities("acc-1", "ti-1", 3, 50, "1 ", 4);
    expect_activities("acc-1", "ti-1", 4, 50, "", 4);
    expect_activities("acc-1", "ti-1", 9000000000000LL, 50, "", 4);
    expect_activities("acc-1", "ti-1", 0, 0, "", 4);
    expect_activities("acc-1", "ti-2", 0, 50, "b a ", 2);
    expect_activities("acc-2", "ti-1", 0, 50, "", 0); /* another tenant's record: none */
    expect_activities("acc-1", "ti-9", 0, 50, "", 0);
    cr_expect_eq(query_int(db_path, "SELECT count(*) FROM activities"), 6,
                 "the rolled-back update's activity was rolled back with it");
    /* migration 12: no index of activities by record to write */
    cr_expect_eq(query_int(db_path, "SELECT count(*) FROM sqlite_schema WHERE tbl_name ="
                                    " 'activities' AND type = 'index'"),
                 0);

    /* a put (the bulk load's and creation's write) keeps the list */
    r1.doc = "{\"v\":2}";
    r1.doc_len = strlen(r1.doc);
    cr_assert_eq(store_write(st, put_cb, &r1), STORE_OK);
    expect_activities("acc-1", "ti-1", 0, 2, "4 3 ", 4);

    /* a listed activity that is not there is an error, not a short page */
    exec_on(db_path, "DELETE FROM activities WHERE doc = '3'");
    struct act_list l = {.account = "acc-1", .id = "ti-1", .limit = 50};
    cr_expect_eq(store_read(st, act_list_cb, &l), STORE_ERROR);
}

/* An activity as updates write them: a change of desc names the fields array twice. */
static char *big_activity(int n)
{
    size_t cap = 64 + (size_t)n * 120, len = 0;
    char *text = malloc(cap);
    cr_assert_not_null(text);
    len += (size_t)snprintf(text, cap, "{\"_id\":\"ac-%d\",\"changes\":[", n);
    for (int i = 0; i < n; i++)
        len += (size_t)snprintf(text + len, cap - len,
                                "%s{\"field\":\"fields\",\"displayName\":\"Field %d\","
                                "\"isEnabled\":true,\"selectedValue\":\"value %d\"}",
                                i ? "," : "", i % 7, i);
    snprintf(text + len, cap - len, "]}");
    return text;
}

struct act_texts {
    const char *account, *id;
    char *texts[4];
    int n;
    int64_t total;
};

static void keep_activity(const char *json, void *arg)
{
    struct act_texts *l = arg;
    cr_assert_lt(l->n, 4);
    l->texts[l->n++] = strdup(json);
}

static int act_texts_cb(struct store_txn *t, void *arg)
{
    struct act_texts *l = arg;
    return store_activity_list(t, "st-1", l->account, l->id, 0, 50, keep_activity, l, &l->total);
}

static void act_texts_free(struct act_texts *l)
{
    for (int i = 0; i < l->n; i++)
        free(l->texts[i]);
    l->n = 0;
}

/* Activities are stored LZ4-compressed when that makes them smaller (store_sqlite.c,
 * activity_pack), as text otherwise, and listed as they were written either way; a damaged one
 * is an error, never a crash or another text. */
Test(store_sqlite, activities_are_stored_compressed_and_listed_as_written)
{
    struct store_record r = record(STORE_TASK, "ti-1", "st-1", "acc-1", "TS000001", "{}");
    cr_assert_eq(store_write(st, put_cb, &r), STORE_OK);
    char *big = big_activity(40), *bigger = big_activity(3000);
    update_with_activity(&r, big, STORE_OK);
    update_with_activity(&r, "{}", STORE_OK);
    update_with_activity(&r, bigger, STORE_OK);

    struct act_texts l = {.account = "acc-1", .id = "ti-1"};
    cr_assert_eq(store_read(st, act_texts_cb, &l), STORE_OK);
    cr_assert_eq(l.n, 3);
    cr_expect_str_eq(l.texts[0], bigger);
    cr_expect_str_eq(l.texts[1], "{}");
    cr_expect_str_eq(l.texts[2], big);
    act_texts_free(&l);

    cr_expect_eq(query_int(db_path, "SELECT count(*) FROM activities WHERE typeof(doc) = 'blob'"),
                 2, "the two large ones, compressed");
    long long first = query_int(db_path, "SELECT length(doc) FROM activities ORDER BY seq LIMIT 1");
    cr_expect_lt(first * 2, (long long)strlen(big), "%lld of %zu bytes", first, strlen(big));
    cr_expect_eq(query_int(db_path, "SELECT count(*) FROM activities WHERE doc = '{}'"), 1,
                 "the small one, as text");

    /* damaged: another format, a length past the limit, a truncated block, a wrong length, no
     * block (|| makes text: cast back) */
#define LAST " WHERE seq = (SELECT max(seq) FROM activities)"
    static const char *const damage[] = {
        "UPDATE activities SET doc = CAST(X'02' || substr(doc, 2) AS BLOB)" LAST,
        "UPDATE activities SET doc = CAST(X'01FFFFFF7F' || substr(doc, 6) AS BLOB)" LAST,
        "UPDATE activities SET doc = substr(doc, 1, length(doc) / 2)" LAST,
        "UPDATE activities SET doc = CAST(X'0110000000' || substr(doc, 6) AS BLOB)" LAST,
        "UPDATE activities SET doc = X'0100'" LAST,
    };
    exec_on(db_path, "CREATE TABLE kept AS SELECT doc FROM activities" LAST);
    for (size_t i = 0; i < sizeof damage / sizeof damage[0]; i++) {
        exec_on(db_path, damage[i]);
        struct act_texts bad = {.account = "acc-1", .id = "ti-1"};
        cr_expect_eq(store_read(st, act_texts_cb, &bad), STORE_ERROR, "damage %zu", i);
        act_texts_free(&bad);
        exec_on(db_path, "UPDATE activities SET doc = (SELECT doc FROM kept)" LAST);
    }
#undef LAST
    cr_assert_eq(store_read(st, act_texts_cb, &l), STORE_OK, "restored");
    cr_expect_str_eq(l.texts[0], bigger);
    act_texts_free(&l);
    free(big);
    free(bigger);
}

/* A migration that fails leaves the file as it was and says why. */
Test(store_sqlite, a_failed_migration_names_its_cause)
{
    long long latest = query_int(db_path, "PRAGMA user_version");
    store_close(st);
    st = NULL;
    exec_on(db_path, "PRAGMA user_version = 11;"); /* but record_docs has migration 12's column */
    char url[160], *err = NULL;
    url_of(url, sizeof url);
    cr_assert_null(store_open(url, &fast_opts, &err));
    cr_assert_not_null(err);
    cr_expect_not_null(strstr(err, "duplicate column name: acts"), "%s", err);
    free(err);
    cr_expect_eq(query_int(db_path, "PRAGMA user_version"), 11);
    char back[64];
    snprintf(back, sizeof back, "PRAGMA user_version = %lld;", latest);
    exec_on(db_path, back);
    st = store_open(url, &fast_opts, &err);
    cr_assert_not_null(st, "store_open: %s", err ? err : "?");
}

/* A database of schema 11 (activities found by an index on record_id) with activities in it:
 * migration 12 lists each record's in the order they were written. */
Test(store_sqlite, migration_12_lists_the_activities_of_an_older_database)
{
    struct store_record r1 = record(STORE_TASK, "ti-1", "st-1", "acc-1", "TS000001", "{}");
    struct store_record r2 = record(STORE_TASK, "ti-2", "st-1", "acc-1", "TS000002", "{}");
    struct store_record r3 = record(STORE_TASK, "ti-3", "st-1", "acc-1", "TS000003", "{}");
    cr_assert_eq(store_write(st, put_cb, &r1), STORE_OK);
    cr_assert_eq(store_write(st, put_cb, &r2), STORE_OK);
    cr_assert_eq(store_write(st, put_cb, &r3), STORE_OK);
    /* back to schema 11: no list, the index; rows inserted out of seq order */
    reopen_after(UNDO_MIGRATION_21 UNDO_MIGRATION_20 UNDO_MIGRATION_19
                 "ALTER TABLE record_docs DROP COLUMN acts;"
                 "CREATE INDEX activities_record ON activities (record_id, seq);"
                 "INSERT INTO activities VALUES (30, 'ac-3', 'st-1', 'acc-1', 'ti-1', 3, 'c');"
                 "INSERT INTO activities VALUES (10, 'ac-1', 'st-1', 'acc-1', 'ti-1', 1, 'a');"
                 "INSERT INTO activities VALUES (15, 'ac-x', 'st-1', 'acc-1', 'ti-2', 1, 'x');"
                 "INSERT INTO activities VALUES (20, 'ac-2', 'st-1', 'acc-1', 'ti-1', 2, 'b');"
                 "INSERT INTO activities VALUES (25, 'ac-y', 'st-1', 'acc-1', 'ti-2', 2, 'y');"
                 "PRAGMA user_version = 11;");

    expect_activities("acc-1", "ti-1", 0, 50, "c b a ", 3);
    expect_activities("acc-1", "ti-2", 0, 1, "y ", 2);
    expect_activities("acc-1", "ti-3", 0, 50, "", 0);
    cr_expect_eq(query_int(db_path, "SELECT count(*) FROM sqlite_schema WHERE name ="
                                    " 'activities_record'"),
                 0);
    /* and new ones follow them */
    update_with_activity(&r1, "d", STORE_OK);
    expect_activities("acc-1", "ti-1", 0, 2, "d c ", 4);
}

Test(store_sqlite, abort_rolls_back)
{
    struct store_record r = record(STORE_CASE, "ci-1", "st-1", "acc-1", "CS000001", "{}");
    struct probe p = {.r = &r, .result = STORE_ABORT};
    cr_assert_eq(store_write(st, put_then_return_cb, &p), STORE_ABORT);
    cr_assert_eq(p.put_rc, STORE_OK);
    expect_absent(STORE_CASE, "st-1", "acc-1", "ci-1");
    cr_assert_eq(query_int(db_path, "SELECT count(*) FROM records"), 0);

    struct store_record r2 = record(STORE_CASE, "ci-2", "st-1", "acc-1", "CS000002", "{}");
    struct probe p2 = {.r = &r2, .result = STORE_ERROR};
    cr_assert_eq(store_write(st, put_then_return_cb, &p2), STORE_ERROR);
    cr_assert_eq(p2.put_rc, STORE_OK);
    expect_absent(STORE_CASE, "st-1", "acc-1", "ci-2");

    struct store_record r3 = record(STORE_CASE, "ci-3", "st-1", "acc-1", "CS000003", "{}");
    struct probe p3 = {.r = &r3, .result = STORE_NOT_FOUND};
    cr_assert_eq(store_write(st, put_then_return_cb, &p3), STORE_NOT_FOUND);
    expect_absent(STORE_CASE, "st-1", "acc-1", "ci-3");
}

Test(store_sqlite, abort_of_an_update_keeps_the_old_version)
{
    struct store_record r = record(STORE_CASE, "ci-1", "st-1", "acc-1", "CS000001", "{\"v\":1}");
    cr_assert_eq(store_write(st, put_cb, &r), STORE_OK);
    struct store_record u = record(STORE_CASE, "ci-1", "st-1", "acc-1", "CS000001", "{\"v\":2}");
    struct probe p = {.r = &u, .result = STORE_ABORT};
    cr_assert_eq(store_write(st, put_then_return_cb, &p), STORE_ABORT);
    cr_assert_eq(p.put_rc, STORE_OK);
    expect_doc(STORE_CASE, "st-1", "acc-1", "ci-1", "{\"v\":1}", 1);
    cr_assert_eq(store_write(st, put_cb, &u), STORE_OK);
    cr_assert_eq(u.version, 2, "the aborted update did not consume a version");
}

Test(store_sqlite, write_sees_its_own_writes_and_commits)
{
    struct store_record r = record(STORE_CASE, "ci-1", "st-1", "acc-1", "CS000001", "{}");
    struct probe p = {.r = &r};
    cr_assert_eq(store_write(st, put_then_read_cb, &p), STORE_OK);
    cr_assert_eq(p.put_rc, STORE_OK);
    cr_assert_eq(p.get_rc, STORE_OK, "a transaction sees its own write");
    cr_assert_eq(p.get_version, 1);
    expect_doc(STORE_CASE, "st-1", "acc-1", "ci-1", "{}", 1);
}

static int return_arg_cb(struct store_txn *t, void *arg)
{
    (void)t;
    return *(int *)arg;
}

Test(store_sqlite, read_and_write_return_the_callbacks_status)
{
    static const int statuses[] = {STORE_OK, STORE_NOT_FOUND, STORE_CONFLICT, STORE_ERROR,
                                   STORE_ABORT};
    for (size_t i = 0; i < sizeof statuses / sizeof statuses[0]; i++) {
        int s = statuses[i];
        cr_assert_eq(store_read(st, return_arg_cb, &s), s);
        cr_assert_eq(store_write(st, return_arg_cb, &s), s);
    }
    /* and the connection is usable after every one of them */
    struct store_record r = record(STORE_CASE, "ci-1", "st-1", "acc-1", "CS000001", "{}");
    cr_assert_eq(store_write(st, put_cb, &r), STORE_OK);
}

/* ---- counters ---- */

struct ref_arg {
    const char *stream;
    const char *kind;
    int64_t value;
};

static int next_ref_cb(struct store_txn *t, void *arg)
{
    struct ref_arg *a = arg;
    return store_next_ref(t, a->stream, a->kind, &a->value);
}

static int next_ref_abort_cb(struct store_txn *t, void *arg)
{
    int rc = next_ref_cb(t, arg);
    return rc == STORE_OK ? STORE_ABORT : rc;
}

static int64_t next_ref(const char *stream, const char *kind)
{
    struct ref_arg a = {.stream = stream, .kind = kind, .value = -1};
    cr_assert_eq(store_write(st, next_ref_cb, &a), STORE_OK);
    return a.value;
}

Test(store_sqlite, next_ref_counts_per_stream_and_kind)
{
    cr_assert_eq(next_ref("st-1", "CS"), 1);
    cr_assert_eq(next_ref("st-1", "CS"), 2);
    cr_assert_eq(next_ref("st-1", "TS"), 1);
    cr_assert_eq(next_ref("st-2", "CS"), 1);
    cr_assert_eq(next_ref("st-1", "CS"), 3);
    cr_assert_eq(next_ref("st-1", "TS"), 2);
    cr_assert_eq(next_ref("st-2", "TS"), 1);
    cr_assert_eq(next_ref("st-2", "CS"), 2);
    cr_assert_eq(next_ref("st-1", "TS"), 3);
}

Test(store_sqlite, next_ref_twice_in_one_transaction)
{
    cr_assert_eq(next_ref("st-1", "CS"), 1);
    struct ref_arg a = {.stream = "st-1", .kind = "CS"};
    cr_assert_eq(store_write(st, next_ref_abort_cb, &a), STORE_ABORT);
    cr_assert_eq(a.value, 2);
    cr_assert_eq(next_ref("st-1", "CS"), 2, "an aborted transaction's number is not consumed");
}

/* ---- apps and streams ---- */

struct kv_arg {
    const char *key;
    const char *account;
    const char *json;
    char *out;
};

static int app_put_cb(struct store_txn *t, void *arg)
{
    struct kv_arg *a = arg;
    return store_app_put(t, a->key, a->account, a->json);
}

static int app_get_cb(struct store_txn *t, void *arg)
{
    struct kv_arg *a = arg;
    return store_app_get(t, a->key, &a->out);
}

static int stream_put_cb(struct store_txn *t, void *arg)
{
    struct kv_arg *a = arg;
    return store_stream_put(t, a->key, a->json);
}

static int stream_get_cb(struct store_txn *t, void *arg)
{
    struct kv_arg *a = arg;
    return store_stream_get(t, a->key, &a->out);
}

struct collected {
    char *docs[8];
    size_t n;
};

static void collect(const char *json, void *arg)
{
    struct collected *c = arg;
    cr_assert_lt(c->n, 8);
    c->docs[c->n++] = xstrdup(json);
}

static int app_each_cb(struct store_txn *t, void *arg)
{
    return store_app_each(t, collect, arg);
}

static void put_app(const char *id, const char *account, const char *json)
{
    struct kv_arg a = {.key = id, .account = account, .json = json};
    cr_assert_eq(store_write(st, app_put_cb, &a), STORE_OK);
}

static void sleep_ms(long ms)
{
    struct timespec ts = {.tv_sec = 0, .tv_nsec = ms * 1000000L};
    nanosleep(&ts, NULL);
}

Test(store_sqlite, app_put_get)
{
    put_app("cs-1", "acc-1", "{\"clientId\":\"cs-1\"}");
    struct kv_arg a = {.key = "cs-1"};
    cr_assert_eq(store_read(st, app_get_cb, &a), STORE_OK);
    cr_assert_str_eq(a.out, "{\"clientId\":\"cs-1\"}");
    free(a.out);

    put_app("cs-1", "acc-1", "{\"clientId\":\"cs-1\",\"revoked\":true}");
    a.out = NULL;
    cr_assert_eq(store_read(st, app_get_cb, &a), STORE_OK);
    cr_assert_str_eq(a.out, "{\"clientId\":\"cs-1\",\"revoked\":true}");
    free(a.out);

    struct kv_arg missing = {.key = "cs-2"};
    cr_assert_eq(store_read(st, app_get_cb, &missing), STORE_NOT_FOUND);
    cr_assert_null(missing.out);
}

Test(store_sqlite, app_each_is_oldest_first)
{
    struct collected none = {0};
    cr_assert_eq(store_read(st, app_each_cb, &none), STORE_OK);
    cr_assert_eq(none.n, 0);

    put_app("cs-b", "acc-1", "{\"n\":\"b\"}");
    sleep_ms(3);
    put_app("cs-a", "acc-1", "{\"n\":\"a\"}");
    sleep_ms(3);
    put_app("cs-c", "acc-2", "{\"n\":\"c\"}");
    sleep_ms(3);
    put_app("cs-b", "acc-1", "{\"n\":\"b2\"}"); /* an update keeps its place */

    struct collected c = {0};
    cr_assert_eq(store_read(st, app_each_cb, &c), STORE_OK);
    cr_assert_eq(c.n, 3);
    cr_assert_str_eq(c.docs[0], "{\"n\":\"b2\"}");
    cr_assert_str_eq(c.docs[1], "{\"n\":\"a\"}");
    cr_assert_str_eq(c.docs[2], "{\"n\":\"c\"}");
    for (size_t i = 0; i < c.n; i++)
        free(c.docs[i]);
}

Test(store_sqlite, stream_put_get)
{
    struct kv_arg p = {.key = "st-1", .json = "{\"statuses\":[]}"};
    cr_assert_eq(store_write(st, stream_put_cb, &p), STORE_OK);
    struct kv_arg g = {.key = "st-1"};
    cr_assert_eq(store_read(st, stream_get_cb, &g), STORE_OK);
    cr_assert_str_eq(g.out, "{\"statuses\":[]}");
    free(g.out);

    p.json = "{\"statuses\":[{\"name\":\"Open\"}]}";
    cr_assert_eq(store_write(st, stream_put_cb, &p), STORE_OK);
    g.out = NULL;
    cr_assert_eq(store_read(st, stream_get_cb, &g), STORE_OK);
    cr_assert_str_eq(g.out, "{\"statuses\":[{\"name\":\"Open\"}]}");
    free(g.out);

    struct kv_arg other = {.key = "st-2"};
    cr_assert_eq(store_read(st, stream_get_cb, &other), STORE_NOT_FOUND);
}

/* ---- idempotency keys ---- */

struct idem_arg {
    const char *client, *key;
    struct store_idem in, out;
};

static int idem_put_cb(struct store_txn *t, void *arg)
{
    struct idem_arg *a = arg;
    return store_idem_put(t, a->client, a->key, &a->in);
}

static int idem_get_cb(struct store_txn *t, void *arg)
{
    struct idem_arg *a = arg;
    return store_idem_get(t, a->client, a->key, &a->out);
}

Test(store_sqlite, idempotency_put_get)
{
    static const char body[] = "{\"_id\":\"ci-1\",\"bin\":\"\x01\"}";
    struct idem_arg a = {.client = "cs-1", .key = "key-1"};
    snprintf(a.in.body_hash, sizeof a.in.body_hash, "%064d", 7);
    a.in.status = 200;
    a.in.body = (char *)body;
    a.in.body_len = sizeof body - 1;
    a.in.created_at = 1749032280725LL;
    cr_assert_eq(store_write(st, idem_put_cb, &a), STORE_OK);

    cr_assert_eq(store_read(st, idem_get_cb, &a), STORE_OK);
    cr_assert_str_eq(a.out.body_hash, a.in.body_hash);
    cr_assert_eq(a.out.status, 200);
    cr_assert_eq(a.out.body_len, sizeof body - 1);
    cr_assert_eq(memcmp(a.out.body, body, sizeof body - 1), 0);
    cr_assert_eq(a.out.created_at, 1749032280725LL);
    free(a.out.body);

    struct idem_arg other_client = {.client = "cs-2", .key = "key-1"};
    cr_assert_eq(store_read(st, idem_get_cb, &other_client), STORE_NOT_FOUND);
    struct idem_arg other_key = {.client = "cs-1", .key = "key-2"};
    cr_assert_eq(store_read(st, idem_get_cb, &other_key), STORE_NOT_FOUND);
}

static void idem_put_at(const char *key, int64_t at)
{
    struct idem_arg a = {.client = "cs-purge", .key = key};
    strcpy(a.in.body_hash, "h");
    a.in.status = 200;
    a.in.body = (char *)"{}";
    a.in.body_len = 2;
    a.in.created_at = at;
    cr_assert_eq(store_write(st, idem_put_cb, &a), STORE_OK, "put %s", key);
}

static int idem_found(const char *key)
{
    struct idem_arg a = {.client = "cs-purge", .key = key};
    int rc = store_read(st, idem_get_cb, &a);
    if (rc == STORE_OK)
        free(a.out.body);
    return rc;
}

Test(store_sqlite, idempotency_keys_past_their_day_are_purged)
{
    /* each key kept a copy of its answer, and none was ever deleted */
    const int64_t t0 = 1749032280725LL, hour = 3600000;
    idem_put_at("first", t0); /* a purge (nothing to delete), at t0 */
    /* put with old times: no purge runs for them (their time is before the last purge's) */
    idem_put_at("old-1", t0 - 30 * hour);
    idem_put_at("old-2", t0 - 25 * hour);
    idem_put_at("young", t0 - 23 * hour + 5000);
    /* within a second of the last purge: none, though old-1 and old-2 are past their day */
    idem_put_at("soon", t0 + 500);
    cr_expect_eq(idem_found("old-1"), STORE_OK, "purged again within a second");
    cr_expect_eq(idem_found("old-2"), STORE_OK);
    /* a second later: the keys older than a day go, the others stay */
    idem_put_at("later", t0 + 1500);
    cr_expect_eq(idem_found("old-1"), STORE_NOT_FOUND);
    cr_expect_eq(idem_found("old-2"), STORE_NOT_FOUND);
    cr_expect_eq(idem_found("young"), STORE_OK);
    cr_expect_eq(idem_found("first"), STORE_OK);
    cr_expect_eq(idem_found("soon"), STORE_OK);
    cr_expect_eq(idem_found("later"), STORE_OK);
}

Test(store_sqlite, idempotency_body_with_nul_bytes)
{
    static const char body[] = "a\0b\0c";
    struct idem_arg a = {.client = "cs-1", .key = "k"};
    strcpy(a.in.body_hash, "h");
    a.in.status = 201;
    a.in.body = (char *)body;
    a.in.body_len = 5;
    cr_assert_eq(store_write(st, idem_put_cb, &a), STORE_OK);
    cr_assert_eq(store_read(st, idem_get_cb, &a), STORE_OK);
    cr_assert_eq(a.out.body_len, 5);
    cr_assert_eq(memcmp(a.out.body, body, 5), 0);
    free(a.out.body);
}

Test(store_sqlite, idempotency_empty_body)
{
    /* BUG: store/store_sqlite.c sqlite_idem_get passes sqlite3_column_blob() to xstrndup;
     * SQLite returns NULL for a zero-length blob, so memcpy(p, NULL, 0) runs (undefined
     * behaviour: UBSan "null pointer passed as argument 2"). Fails under `make test-asan`
     * (-fno-sanitize-recover) or with UBSAN_OPTIONS=halt_on_error=1; low impact, a stored
     * response body is rarely empty. Fix: n ? blob : "". */
    struct idem_arg a = {.client = "cs-1", .key = "k"};
    strcpy(a.in.body_hash, "h");
    a.in.status = 204;
    a.in.body = (char *)"";
    a.in.body_len = 0;
    cr_assert_eq(store_write(st, idem_put_cb, &a), STORE_OK);
    cr_assert_eq(store_read(st, idem_get_cb, &a), STORE_OK);
    cr_assert_eq(a.out.status, 204);
    cr_assert_eq(a.out.body_len, 0);
    cr_assert_not_null(a.out.body);
    cr_assert_str_eq(a.out.body, "");
    free(a.out.body);
}

Test(store_sqlite, idempotency_put_replaces)
{
    struct idem_arg a = {.client = "cs-1", .key = "k"};
    strcpy(a.in.body_hash, "h1");
    a.in.status = 200;
    a.in.body = (char *)"{\"v\":1}";
    a.in.body_len = strlen(a.in.body);
    cr_assert_eq(store_write(st, idem_put_cb, &a), STORE_OK);
    strcpy(a.in.body_hash, "h2");
    a.in.body = (char *)"{\"v\":2}";
    cr_assert_eq(store_write(st, idem_put_cb, &a), STORE_OK);
    cr_assert_eq(store_read(st, idem_get_cb, &a), STORE_OK);
    cr_assert_str_eq(a.out.body_hash, "h2");
    cr_assert_str_eq(a.out.body, "{\"v\":2}");
    free(a.out.body);
}

/* ---- jti ---- */

struct jti_arg {
    const char *client, *jti;
    int64_t exp;
};

static int jti_cb(struct store_txn *t, void *arg)
{
    struct jti_arg *a = arg;
    return store_jti_use(t, a->client, a->jti, a->exp);
}

static int jti_use(const char *client, const char *jti, int64_t exp)
{
    struct jti_arg a = {.client = client, .jti = jti, .exp = exp};
    return store_write(st, jti_cb, &a);
}

Test(store_sqlite, jti_replay_is_conflict_per_client)
{
    int64_t exp = time_now_ms() / 1000 + 3600;
    cr_assert_eq(jti_use("cs-1", "j-1", exp), STORE_OK);
    cr_assert_eq(jti_use("cs-1", "j-1", exp), STORE_CONFLICT, "a replayed jti");
    cr_assert_eq(jti_use("cs-2", "j-1", exp), STORE_OK, "another client's jti space");
    cr_assert_eq(jti_use("cs-1", "j-2", exp), STORE_OK);
    cr_assert_eq(jti_use("cs-2", "j-1", exp), STORE_CONFLICT);
}

Test(store_sqlite, jti_replay_is_conflict_even_when_a_purge_deleted_rows)
{
    /* The purge of expired jtis runs in the same call: its deleted rows must not be taken for
     * the insert's. */
    int64_t now = time_now_ms() / 1000;
    cr_assert_eq(jti_use("cs-1", "live", now + 3600), STORE_OK);
    cr_assert_eq(jti_use("cs-9", "old", now - 3600), STORE_OK);
    cr_assert_eq(jti_use("cs-1", "live", now + 3600), STORE_CONFLICT);
}

Test(store_sqlite, jti_expired_long_ago_is_purged)
{
    int64_t now = time_now_ms() / 1000;
    cr_assert_eq(jti_use("cs-1", "j", now - 3600), STORE_OK);
    cr_assert_eq(jti_use("cs-1", "other", now + 60), STORE_OK);
    cr_assert_eq(query_int(db_path, "SELECT count(*) FROM jti WHERE jti = 'j'"), 0);
}

/* ---- concurrency ---- */

enum { THREADS = 8, PER_THREAD = 200 };

struct worker {
    struct store *s;
    int64_t values[PER_THREAD];
    int failures;
};

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    for (int i = 0; i < PER_THREAD; i++) {
        struct ref_arg a = {.stream = "st-busy", .kind = "CS", .value = -1};
        if (store_write(w->s, next_ref_cb, &a) != STORE_OK)
            w->failures++;
        w->values[i] = a.value;
    }
    return NULL;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

static void run_concurrent_counters(struct store *s)
{
    static struct worker workers[THREADS];
    pthread_t tids[THREADS];
    for (int i = 0; i < THREADS; i++) {
        workers[i] = (struct worker){.s = s};
        cr_assert_eq(pthread_create(&tids[i], NULL, worker_main, &workers[i]), 0);
    }
    for (int i = 0; i < THREADS; i++)
        pthread_join(tids[i], NULL);

    static int64_t all[THREADS * PER_THREAD];
    size_t n = 0;
    for (int i = 0; i < THREADS; i++) {
        cr_assert_eq(workers[i].failures, 0, "thread %d: %d failed transactions", i,
                     workers[i].failures);
        for (int j = 1; j < PER_THREAD; j++)
            cr_assert_gt(workers[i].values[j], workers[i].values[j - 1], "thread %d went back", i);
        memcpy(all + n, workers[i].values, sizeof workers[i].values);
        n += PER_THREAD;
    }
    qsort(all, n, sizeof all[0], cmp_i64);
    for (size_t i = 0; i < n; i++)
        cr_assert_eq(all[i], (int64_t)i + 1, "values are not 1..%d: position %zu holds %lld",
                     THREADS * PER_THREAD, i, (long long)all[i]);
    cr_assert_eq(query_int(db_path, "SELECT value FROM counters WHERE stream_id = 'st-busy'"),
                 THREADS * PER_THREAD);
}

/* A write that takes a number and stores a record, then commits or aborts. */
struct mixed_job {
    struct ref_arg ref;
    struct store_record rec;
    int put_rc;
    int result;
};

static int mixed_cb(struct store_txn *t, void *arg)
{
    struct mixed_job *j = arg;
    int rc = store_next_ref(t, j->ref.stream, j->ref.kind, &j->ref.value);
    if (rc != STORE_OK)
        return rc;
    j->put_rc = store_record_put(t, &j->rec);
    return j->put_rc != STORE_OK ? j->put_rc : j->result;
}

struct mixed_worker {
    struct store *s;
    int idx;
    int64_t committed[PER_THREAD];
    int ncommitted;
    int failures; /* unexpected store_write results */
    int mismatch; /* reads on this thread that disagree with what the write answered */
};

static void *mixed_main(void *arg)
{
    struct mixed_worker *w = arg;
    for (int i = 0; i < PER_THREAD; i++) {
        char id[32], ref[32];
        snprintf(id, sizeof id, "ci-%d-%d", w->idx, i);
        snprintf(ref, sizeof ref, "R%d-%d", w->idx, i);
        struct mixed_job j = {
            .ref = {.stream = "st-mixed", .kind = "CS", .value = -1},
            .rec = record(STORE_CASE, id, "st-mixed", "acc-1", ref, "{}"),
            .result = (w->idx + i) % 3 == 0 ? STORE_ABORT : STORE_OK,
        };
        int rc = store_write(w->s, mixed_cb, &j);
        if (rc != j.result) {
            w->failures++;
            continue;
        }
        if (rc == STORE_OK)
            w->committed[w->ncommitted++] = j.ref.value;
        /* read-your-writes on this thread's own connection */
        struct get_arg g = {.kind = STORE_CASE, .stream = "st-mixed", .account = "acc-1", .id = id};
        int got = store_read(w->s, get_cb, &g);
        if (got == STORE_OK)
            free(g.out.doc);
        if (got != (rc == STORE_OK ? STORE_OK : STORE_NOT_FOUND))
            w->mismatch++;
    }
    return NULL;
}

Test(store_sqlite, concurrent_commits_and_aborts_do_not_mix)
{
    /* Writes from many threads may share one transaction: an aborted one must take back only
     * its own changes (record and counter bump), and every committed one must be visible. */
    static struct mixed_worker workers[THREADS];
    pthread_t tids[THREADS];
    for (int i = 0; i < THREADS; i++) {
        workers[i] = (struct mixed_worker){.s = st, .idx = i};
        cr_assert_eq(pthread_create(&tids[i], NULL, mixed_main, &workers[i]), 0);
    }
    for (int i = 0; i < THREADS; i++)
        pthread_join(tids[i], NULL);

    static int64_t all[THREADS * PER_THREAD];
    size_t n = 0;
    for (int i = 0; i < THREADS; i++) {
        cr_assert_eq(workers[i].failures, 0, "thread %d: %d writes answered wrongly", i,
                     workers[i].failures);
        cr_assert_eq(workers[i].mismatch, 0, "thread %d: %d reads disagree with the write", i,
                     workers[i].mismatch);
        memcpy(all + n, workers[i].committed, sizeof all[0] * (size_t)workers[i].ncommitted);
        n += (size_t)workers[i].ncommitted;
    }
    cr_assert_gt(n, 0);
    cr_assert_lt(n, THREADS * PER_THREAD);
    qsort(all, n, sizeof all[0], cmp_i64);
    for (size_t i = 0; i < n; i++)
        cr_assert_eq(all[i], (int64_t)i + 1, "committed numbers are not 1..%zu: [%zu] = %lld", n, i,
                     (long long)all[i]);
    cr_assert_eq(query_int(db_path, "SELECT count(*) FROM records"), (long long)n);
    cr_assert_eq(query_int(db_path, "SELECT value FROM counters WHERE stream_id = 'st-mixed'"),
                 (long long)n);
}

Test(store_sqlite, concurrent_next_ref_is_distinct_and_complete)
{
    run_concurrent_counters(st);
    cr_assert_eq(next_ref("st-busy", "CS"), THREADS * PER_THREAD + 1);
}

Test(store_sqlite, concurrent_next_ref_with_full_durability)
{
    char url[160], *err = NULL;
    url_of(url, sizeof url);
    const struct store_options full = {.durability = STORE_DURABILITY_FULL, .busy_timeout_ms = 0};
    struct store *s = store_open(url, &full, &err);
    cr_assert_not_null(s, "%s", err ? err : "?");
    run_concurrent_counters(s);
    store_close(s);
}

/* ---- bulk loading (store_bulk_begin/end) ---- */

/* The records table's indexes and triggers, as one string of their names and SQL. */
static char *records_schema(void)
{
    sqlite3 *db = NULL;
    cr_assert_eq(sqlite3_open_v2(db_path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    sqlite3_stmt *q = NULL;
    cr_assert_eq(sqlite3_prepare_v2(db, "SELECT group_concat(name || ':' || sql, ';') FROM"
                                        " (SELECT name, sql FROM sqlite_schema WHERE"
                                        " tbl_name IN ('records', 'record_docs')"
                                        " AND sql IS NOT NULL ORDER BY name)",
                                    -1, &q, NULL),
                 SQLITE_OK);
    cr_assert_eq(sqlite3_step(q), SQLITE_ROW);
    char *out = xstrdup((const char *)sqlite3_column_text(q, 0));
    sqlite3_finalize(q);
    sqlite3_close(db);
    return out;
}

struct count_arg {
    struct store_query q;
    int64_t total;
};

static void ignore_doc(const char *doc, size_t len, void *arg)
{
    (void)doc;
    (void)len;
    (void)arg;
}

static int count_cb(struct store_txn *t, void *arg)
{
    struct count_arg *a = arg;
    return store_query(t, &a->q, ignore_doc, NULL, &a->total);
}

static int64_t count_matching(const char *name, bool unresolved)
{
    struct count_arg a = {.q = {.kind = STORE_TASK, .stream_id = "st-1", .account_id = "acc-1",
                                .name = name, .unresolved = unresolved, .limit = 50}};
    cr_assert_eq(store_read(st, count_cb, &a), STORE_OK);
    return a.total;
}

Test(store_sqlite, bulk_load_rebuilds_what_it_dropped)
{
    char *before = records_schema();
    struct store_record r = record(STORE_TASK, "ti-0", "st-1", "acc-1", "TS000000", "{}");
    r.name_lower = "written before the load";
    cr_assert_eq(store_write(st, put_cb, &r), STORE_OK);
    /* a search made before the load, whose matches the store keeps (matchcache.h) */
    cr_assert_eq(count_matching("quokka", false), 0);

    cr_assert_eq(store_bulk_begin(st), STORE_OK);
    cr_assert_eq(query_int(db_path, "SELECT count(*) FROM sqlite_schema WHERE"
                                    " tbl_name IN ('records', 'record_docs')"
                                    " AND type IN ('index', 'trigger') AND sql IS NOT NULL"),
                 0, "secondary indexes and triggers are dropped while loading");
    for (int i = 1; i <= 300; i++) {
        char id[32], ref[32];
        snprintf(id, sizeof id, "ti-%d", i);
        snprintf(ref, sizeof ref, "TS%06d", i);
        r = record(STORE_TASK, id, "st-1", "acc-1", ref, "{}");
        r.name_lower = i % 3 == 0 ? "quokka in the name" : "an ordinary name";
        r.status_category = i % 2 ? "open" : "closed";
        r.assignee = i % 4 == 0 ? "u-bulk" : NULL;
        cr_assert_eq(store_write(st, put_cb, &r), STORE_OK);
    }
    cr_assert_eq(store_bulk_end(st), STORE_OK);

    char *after = records_schema();
    cr_assert_str_eq(after, before, "the same indexes and triggers, with the same SQL");
    cr_assert_eq(query_int(db_path, "SELECT count(*) FROM sqlite_schema WHERE"
                                    " name = 'bulk_load'"),
                 0);
    cr_assert_eq(query_int(db_path, "SELECT n FROM record_counts WHERE stream_id = 'st-1'"
                                    " AND account_id = 'acc-1' AND kind = 1"),
                 301, "the per-tenant count");
    cr_assert_eq(count_matching("quokka", false), 100, "the name index covers loaded rows");
    cr_assert_eq(count_matching("before the", false), 1, "and the rows from before");
    cr_assert_eq(count_matching(NULL, true), 151);
    struct count_arg mine = {.q = {.kind = STORE_TASK, .stream_id = "st-1", .account_id = "acc-1",
                                   .assignee = "u-bulk", .unresolved = true, .limit = 50}};
    cr_assert_eq(store_read(st, count_cb, &mine), STORE_OK);
    cr_assert_eq(mine.total, 0, "u-bulk's tasks are the closed ones (every fourth)");
    mine.q.unresolved = false;
    cr_assert_eq(store_read(st, count_cb, &mine), STORE_OK);
    cr_assert_eq(mine.total, 75, "the counts per assignee cover loaded rows");
    cr_assert_eq(query_int(db_path, "SELECT count(*) FROM records r JOIN record_docs d"
                                    " ON d.rid = r.rowid JOIN record_updates u"
                                    " ON u.rid = r.rowid AND u.updated_at = d.updated_at"
                                    " AND u.id = r.id"),
                 301, "every record, loaded or not, has its place in updatedAt order");
    sqlite3 *db = NULL;
    cr_assert_eq(sqlite3_open_v2(db_path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    sqlite3_stmt *q = NULL;
    cr_assert_eq(sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &q, NULL), SQLITE_OK);
    cr_assert_eq(sqlite3_step(q), SQLITE_ROW);
    cr_assert_str_eq((const char *)sqlite3_column_text(q, 0), "ok");
    sqlite3_finalize(q);
    sqlite3_close(db);
    /* the name index passes FTS5's own check (an error otherwise) */
    exec_on(db_path, "INSERT INTO record_names (record_names, rank) VALUES ('integrity-check', 1)");
    cr_assert_eq(query_int(db_path, "SELECT count(*) FROM record_names_config"
                                    " WHERE k NOT IN ('version', 'automerge', 'crisismerge')"),
                 0, "the name index's settings for the fill are gone");
    cr_assert_eq(query_int(db_path, "SELECT v FROM record_names_config WHERE k = 'automerge'"), 0,
                 "the writer merges the name index, not FTS5 (migration 15)");

    /* the triggers are back: a later write keeps the name index and the count */
    r = record(STORE_TASK, "ti-301", "st-1", "acc-1", "TS000301", "{}");
    r.name_lower = "quokka again";
    cr_assert_eq(store_write(st, put_cb, &r), STORE_OK);
    cr_assert_eq(count_matching("quokka", false), 101);
    cr_assert_eq(query_int(db_path, "SELECT n FROM record_counts WHERE kind = 1"), 302);
    cr_assert_eq(query_int(db_path, "SELECT count(*) FROM record_updates"), 302);
    free(before);
    free(after);
}

/* The loader drops the trigger that counts records by creation time; store_bulk_end counts them
 * again, the records from before the load included, and the trigger counts from then on. */
Test(store_sqlite, bulk_load_counts_records_by_creation_time)
{
    created_fill(&mixed, "acc-1", STORE_TASK, mixed_runs, sizeof mixed_runs / sizeof mixed_runs[0]);
    created_fill(&sparse, "acc-2", STORE_TASK, sparse_runs,
                 sizeof sparse_runs / sizeof sparse_runs[0]);
    created_put_range(&mixed, 0, 100);
    cr_assert_eq(store_bulk_begin(st), STORE_OK);
    created_put_range(&mixed, 100, mixed.n - 1);
    created_put(&sparse);
    cr_assert_eq(store_bulk_end(st), STORE_OK);
    expect_buckets_counted("after the load");
    created_put_range(&mixed, mixed.n - 1, mixed.n);
    expect_buckets_counted("a write after the load");
    expect_created_pages(&mixed, 11);
    expect_created_pages(&sparse, 29);
}

Test(store_sqlite, an_interrupted_bulk_load_refuses_to_open)
{
    cr_assert_eq(store_bulk_begin(st), STORE_OK);
    store_close(st);
    st = NULL;
    char url[160], *err = NULL;
    url_of(url, sizeof url);
    struct store *s = store_open(url, &fast_opts, &err);
    cr_assert_null(s, "opened a database whose indexes are missing");
    cr_assert_not_null(err);
    cr_assert_not_null(strstr(err, "bulk load"), "%s", err);
    free(err);
}

/* ---- what store_bulk_end leaves: WAL mode, synced commits as configured ----
 * A VFS over the default one that counts the syncs of WAL files, so that a test can tell
 * synchronous=FULL (a commit syncs the WAL) from NORMAL (it does not) on the store's own
 * writer connection. */

struct counting_file {
    sqlite3_file base;
    bool wal;
    sqlite3_file *real; /* follows this struct in the same allocation */
};

static sqlite3_vfs *real_vfs;
static sqlite3_vfs counting_vfs;
static sqlite3_io_methods counting_io;
static atomic_int wal_syncs;

#define REAL(f) (((struct counting_file *)(f))->real)

static int c_close(sqlite3_file *f)
{
    return REAL(f)->pMethods->xClose(REAL(f));
}
static int c_read(sqlite3_file *f, void *b, int n, sqlite3_int64 o)
{
    return REAL(f)->pMethods->xRead(REAL(f), b, n, o);
}
static int c_write(sqlite3_file *f, const void *b, int n, sqlite3_int64 o)
{
    return REAL(f)->pMethods->xWrite(REAL(f), b, n, o);
}
static int c_truncate(sqlite3_file *f, sqlite3_int64 size)
{
    return REAL(f)->pMethods->xTruncate(REAL(f), size);
}
static int c_sync(sqlite3_file *f, int flags)
{
    if (((struct counting_file *)f)->wal)
        atomic_fetch_add(&wal_syncs, 1);
    return REAL(f)->pMethods->xSync(REAL(f), flags);
}
static int c_size(sqlite3_file *f, sqlite3_int64 *size)
{
    return REAL(f)->pMethods->xFileSize(REAL(f), size);
}
static int c_lock(sqlite3_file *f, int l)
{
    return REAL(f)->pMethods->xLock(REAL(f), l);
}
static int c_unlock(sqlite3_file *f, int l)
{
    return REAL(f)->pMethods->xUnlock(REAL(f), l);
}
static int c_check(sqlite3_file *f, int *out)
{
    return REAL(f)->pMethods->xCheckReservedLock(REAL(f), out);
}
static int c_fcntl(sqlite3_file *f, int op, void *arg)
{
    return REAL(f)->pMethods->xFileControl(REAL(f), op, arg);
}
static int c_sector(sqlite3_file *f)
{
    return REAL(f)->pMethods->xSectorSize(REAL(f));
}
static int c_caps(sqlite3_file *f)
{
    return REAL(f)->pMethods->xDeviceCharacteristics(REAL(f));
}
static int c_shm_map(sqlite3_file *f, int pg, int pgsz, int extend, void volatile **p)
{
    return REAL(f)->pMethods->xShmMap(REAL(f), pg, pgsz, extend, p);
}
static int c_shm_lock(sqlite3_file *f, int offset, int n, int flags)
{
    return REAL(f)->pMethods->xShmLock(REAL(f), offset, n, flags);
}
static void c_shm_barrier(sqlite3_file *f)
{
    REAL(f)->pMethods->xShmBarrier(REAL(f));
}
static int c_shm_unmap(sqlite3_file *f, int del)
{
    return REAL(f)->pMethods->xShmUnmap(REAL(f), del);
}

static int c_open(sqlite3_vfs *vfs, const char *name, sqlite3_file *f, int flags, int *out)
{
    (void)vfs;
    struct counting_file *cf = (struct counting_file *)f;
    cf->real = (sqlite3_file *)(cf + 1);
    int rc = real_vfs->xOpen(real_vfs, name, cf->real, flags, out);
    cf->wal = (flags & SQLITE_OPEN_WAL) != 0;
    cf->base.pMethods = rc == SQLITE_OK && cf->real->pMethods ? &counting_io : NULL;
    return rc;
}

/* Makes the counting VFS the default (until counting_vfs_remove). */
static void counting_vfs_install(void)
{
    real_vfs = sqlite3_vfs_find(NULL);
    counting_vfs = *real_vfs;
    counting_vfs.zName = "counting";
    counting_vfs.szOsFile = (int)sizeof(struct counting_file) + real_vfs->szOsFile;
    counting_vfs.xOpen = c_open;
    counting_io = (sqlite3_io_methods){
        .iVersion = 2, .xClose = c_close, .xRead = c_read, .xWrite = c_write,
        .xTruncate = c_truncate, .xSync = c_sync, .xFileSize = c_size, .xLock = c_lock,
        .xUnlock = c_unlock, .xCheckReservedLock = c_check, .xFileControl = c_fcntl,
        .xSectorSize = c_sector, .xDeviceCharacteristics = c_caps, .xShmMap = c_shm_map,
        .xShmLock = c_shm_lock, .xShmBarrier = c_shm_barrier, .xShmUnmap = c_shm_unmap};
    cr_assert_eq(sqlite3_vfs_register(&counting_vfs, 1), SQLITE_OK);
}

static void counting_vfs_remove(void)
{
    sqlite3_vfs_unregister(&counting_vfs);
}

static char *query_text(const char *path, const char *sql)
{
    sqlite3 *db = NULL;
    cr_assert_eq(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    sqlite3_stmt *q = NULL;
    cr_assert_eq(sqlite3_prepare_v2(db, sql, -1, &q, NULL), SQLITE_OK, "%s", sqlite3_errmsg(db));
    cr_assert_eq(sqlite3_step(q), SQLITE_ROW, "%s", sql);
    char *v = xstrdup((const char *)sqlite3_column_text(q, 0));
    sqlite3_finalize(q);
    sqlite3_close(db);
    return v;
}

/* The syncer's syncs of the WAL (durability full) count too: they are not SQLite's. */
static void count_syncer_sync(void)
{
    atomic_fetch_add(&wal_syncs, 1);
}

/* How many of this process's descriptors are of a -wal file that was deleted. */
static int deleted_wals_open(void)
{
    int n = 0;
    DIR *d = opendir("/proc/self/fd");
    cr_assert_not_null(d);
    struct dirent *ent;
    while ((ent = readdir(d)) != NULL) {
        char link[300], target[512];
        snprintf(link, sizeof link, "/proc/self/fd/%s", ent->d_name);
        ssize_t len = readlink(link, target, sizeof target - 1);
        if (len <= 0)
            continue;
        target[len] = '\0';
        if (strstr(target, "-wal (deleted)"))
            n++;
    }
    closedir(d);
    return n;
}

/* Loads 50 tasks in bulk mode into a store opened with durability d, then checks what
 * store_bulk_end left and how many WAL syncs a write costs afterwards. */
static int wal_syncs_after_bulk(enum store_durability d)
{
    store_close(st);
    counting_vfs_install();
    store_sqlite_before_sync = count_syncer_sync;
    char url[160], *err = NULL;
    url_of(url, sizeof url);
    const struct store_options opt = {.durability = d, .busy_timeout_ms = 10000};
    st = store_open(url, &opt, &err);
    cr_assert_not_null(st, "%s", err ? err : "?");
    cr_assert_eq(store_bulk_begin(st), STORE_OK);
    for (int i = 1; i <= 50; i++) {
        char id[32], ref[32];
        snprintf(id, sizeof id, "ti-%d", i);
        snprintf(ref, sizeof ref, "TS%06d", i);
        struct store_record r = record(STORE_TASK, id, "st-1", "acc-1", ref, "{}");
        cr_assert_eq(store_write(st, put_cb, &r), STORE_OK);
    }
    char wal[160], journal[160];
    snprintf(wal, sizeof wal, "%s-wal", db_path);
    snprintf(journal, sizeof journal, "%s-journal", db_path);
    cr_assert_neq(access(wal, F_OK), 0, "the load writes the database without a WAL");
    cr_assert_neq(access(journal, F_OK), 0, "nor a journal on disk");
    cr_assert_eq(store_bulk_end(st), STORE_OK);

    char *mode = query_text(db_path, "PRAGMA journal_mode");
    cr_assert_str_eq(mode, "wal", "store_bulk_end goes back to WAL");
    free(mode);
    cr_assert_neq(access(journal, F_OK), 0, "no rollback journal is left");
    cr_assert_eq(query_int(db_path, "SELECT count(*) FROM sqlite_schema WHERE"
                                    " name = 'bulk_load'"),
                 0);
    cr_assert_eq(count_matching(NULL, false), 50, "a new read connection works");

    /* the first commit into the emptied WAL syncs its header whatever the setting: count the
     * second */
    struct store_record r = record(STORE_TASK, "ti-51", "st-1", "acc-1", "TS000051", "{}");
    cr_assert_eq(store_write(st, put_cb, &r), STORE_OK);
    atomic_store(&wal_syncs, 0);
    r = record(STORE_TASK, "ti-52", "st-1", "acc-1", "TS000052", "{}");
    cr_assert_eq(store_write(st, put_cb, &r), STORE_OK);
    int syncs = atomic_load(&wal_syncs);
    store_sqlite_before_sync = NULL;
    /* the syncer synced the WAL bulk_end made, not the one bulk_begin deleted */
    cr_assert_eq(deleted_wals_open(), 0);

    /* and a server opens it, with what was written */
    store_close(st);
    st = store_open(url, &fast_opts, &err);
    counting_vfs_remove();
    cr_assert_not_null(st, "%s", err ? err : "?");
    cr_assert_eq(count_matching(NULL, false), 52);
    return syncs;
}

Test(store_sqlite, bulk_end_leaves_wal_with_full_durability)
{
    cr_assert_gt(wal_syncs_after_bulk(STORE_DURABILITY_FULL), 0, "a commit syncs the WAL");
}

Test(store_sqlite, bulk_end_leaves_wal_with_normal_durability)
{
    cr_assert_eq(wal_syncs_after_bulk(STORE_DURABILITY_NORMAL), 0, "a commit does not sync");
}

Test(store_sqlite, reads_wait_for_the_end_of_a_bulk_load)
{
    cr_assert_eq(store_bulk_begin(st), STORE_OK);
    struct store_record r = record(STORE_TASK, "ti-1", "st-1", "acc-1", "TS000001", "{}");
    cr_assert_eq(store_write(st, put_cb, &r), STORE_OK);
    sqlite3 *db = NULL;
    cr_assert_eq(sqlite3_open_v2(db_path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    cr_assert_neq(sqlite3_exec(db, "SELECT count(*) FROM records", NULL, NULL, NULL), SQLITE_OK,
                  "another connection cannot read a database being loaded");
    sqlite3_close(db);
    cr_assert_eq(store_bulk_end(st), STORE_OK);
    cr_assert_eq(query_int(db_path, "SELECT count(*) FROM records"), 1);
}

/* ---- durability full: the syncer (store_sqlite.c, at the top) ---- */

static sem_t sync_entered, sync_release;
static atomic_bool hold_syncs;

/* store_sqlite_before_sync: holds the syncer before its sync while hold_syncs is set. */
static void held_sync(void)
{
    if (!atomic_load(&hold_syncs))
        return;
    sem_post(&sync_entered);
    while (sem_wait(&sync_release) != 0)
        ;
}

/* From here the syncer stops before each sync (held_sync) until release_syncs. */
static void hold_syncs_begin(void)
{
    sem_init(&sync_entered, 0, 0);
    sem_init(&sync_release, 0, 0);
    atomic_store(&hold_syncs, true);
    store_sqlite_before_sync = held_sync;
}

static void release_syncs(void)
{
    atomic_store(&hold_syncs, false);
    sem_post(&sync_release);
}

static void hold_syncs_end(void)
{
    store_sqlite_before_sync = NULL;
    sem_destroy(&sync_entered);
    sem_destroy(&sync_release);
}

static int wait_sem(sem_t *sem, int seconds)
{
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += seconds;
    return sem_timedwait(sem, &until);
}

/* Reopens the store with durability full: commits are synced by the syncer. */
static void reopen_full(void)
{
    store_close(st);
    char url[160], *err = NULL;
    url_of(url, sizeof url);
    const struct store_options full = {.durability = STORE_DURABILITY_FULL,
                                       .busy_timeout_ms = 10000};
    st = store_open(url, &full, &err);
    cr_assert_not_null(st, "%s", err ? err : "?");
}

struct bg_op {
    pthread_t thread;
    atomic_bool read_done, done;
    int read_rc, rc;
    bool ticket_only; /* bg_read_settle_main takes the ticket instead of settling */
    uint64_t ticket;
};

static void *bg_write_main(void *arg)
{
    struct bg_op *op = arg;
    struct store_record r = record(STORE_TASK, "ti-held", "st-1", "acc-1", "TS000001", "{}");
    op->rc = store_write(st, put_cb, &r);
    atomic_store(&op->done, true);
    return NULL;
}

/* Reads the record the held write wrote, then settles, on this thread (or only takes the
 * ticket of what it read, for another thread to wait on). */
static void *bg_read_settle_main(void *arg)
{
    struct bg_op *op = arg;
    char *doc = NULL;
    int64_t version = 0;
    op->read_rc = get_record(STORE_TASK, "st-1", "acc-1", "ti-held", &doc, &version);
    free(doc);
    if (op->ticket_only) {
        op->ticket = store_settle_ticket(st);
        atomic_store(&op->read_done, true);
        return NULL;
    }
    atomic_store(&op->read_done, true);
    op->rc = store_settle(st);
    atomic_store(&op->done, true);
    return NULL;
}

static void wait_flag(atomic_bool *flag)
{
    for (int i = 0; i < 5000 && !atomic_load(flag); i++)
        sleep_ms(1);
    cr_assert(atomic_load(flag));
}

Test(store_sqlite, a_write_is_answered_after_its_sync_and_an_answer_from_reading_it_waits_too)
{
    cr_assert_eq(store_settle(st), STORE_OK, "durability normal: nothing to wait for");
    reopen_full();
    hold_syncs_begin();

    struct bg_op w = {0}, r = {0};
    pthread_create(&w.thread, NULL, bg_write_main, &w);
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += 5;
    cr_assert_eq(sem_timedwait(&sync_entered, &until), 0, "the syncer syncs the write's commit");
    sleep_ms(50);
    cr_assert_not(atomic_load(&w.done), "the write is not answered before its sync");

    /* committed, so visible; an answer built from that read waits for the same sync */
    pthread_create(&r.thread, NULL, bg_read_settle_main, &r);
    wait_flag(&r.read_done);
    cr_assert_eq(r.read_rc, STORE_OK, "a commit is visible before its sync ends");
    sleep_ms(50);
    cr_assert_not(atomic_load(&r.done), "store_settle waits for the sync of what was read");
    cr_assert_not(atomic_load(&w.done));

    release_syncs();
    pthread_join(w.thread, NULL);
    pthread_join(r.thread, NULL);
    cr_assert_eq(w.rc, STORE_OK);
    cr_assert_eq(r.rc, STORE_OK);

    /* this thread read nothing unsynced: no wait; after a read of synced data, none either */
    cr_assert_eq(store_settle(st), STORE_OK);
    expect_doc(STORE_TASK, "st-1", "acc-1", "ti-held", "{}", 1);
    cr_assert_eq(store_settle(st), STORE_OK);
    hold_syncs_end();
}

/* The same settle in two steps, as a reply read on an HTTP I/O thread and settled on a worker:
 * the ticket names the unsynced commit the reading thread saw, and another thread waits on it. */
static void *bg_settle_wait_main(void *arg)
{
    struct bg_op *op = arg;
    op->rc = store_settle_wait(st, op->ticket);
    atomic_store(&op->done, true);
    return NULL;
}

Test(store_sqlite, a_ticket_taken_where_an_unsynced_commit_was_read_is_waited_on_elsewhere)
{
    reopen_full();
    hold_syncs_begin();

    struct bg_op w = {0}, r = {.ticket_only = true};
    pthread_create(&w.thread, NULL, bg_write_main, &w);
    cr_assert_eq(wait_sem(&sync_entered, 5), 0, "the syncer syncs the write's commit");
    pthread_create(&r.thread, NULL, bg_read_settle_main, &r);
    pthread_join(r.thread, NULL);
    cr_assert_eq(r.read_rc, STORE_OK, "a commit is visible before its sync ends");
    cr_assert_neq(r.ticket, 0, "the reader saw a commit not synced yet");
    cr_assert_eq(store_settle_ticket(st), 0, "this thread read nothing");

    pthread_create(&r.thread, NULL, bg_settle_wait_main, &r); /* another thread waits on it */
    sleep_ms(50);
    cr_assert_not(atomic_load(&r.done), "store_settle_wait waits for the sync of the ticket");

    release_syncs();
    pthread_join(w.thread, NULL);
    pthread_join(r.thread, NULL);
    cr_assert_eq(w.rc, STORE_OK);
    cr_assert_eq(r.rc, STORE_OK);

    /* synced now: a read of it leaves no ticket, and no ticket is no wait */
    expect_doc(STORE_TASK, "st-1", "acc-1", "ti-held", "{}", 1);
    cr_assert_eq(store_settle_ticket(st), 0);
    cr_assert_eq(store_settle_wait(st, 0), STORE_OK);
    hold_syncs_end();
}

/* store_write_then: the caller does not wait; then gets the result where store_write returns */
struct then_arg {
    sem_t done;
    int rc;
    pthread_t thread;
    struct store_record r;
};

static int then_put_cb(struct store_txn *t, void *arg)
{
    return store_record_put(t, &((struct then_arg *)arg)->r);
}

static int abort_then_cb(struct store_txn *t, void *arg)
{
    (void)t;
    (void)arg;
    return STORE_ABORT;
}

static void then_cb(int rc, void *arg)
{
    struct then_arg *a = arg;
    a->rc = rc;
    a->thread = pthread_self();
    sem_post(&a->done);
}

/* Puts task id ("{}") with store_write_then and waits for its answer: STORE_OK, then the
 * document readable; returns the thread that answered. */
static pthread_t put_then_and_wait(const char *id)
{
    struct then_arg a = {.rc = -1, .r = record(STORE_TASK, id, "st-1", "acc-1", "TS000001", "{}")};
    sem_init(&a.done, 0, 0);
    store_write_then(st, then_put_cb, &a, then_cb);
    cr_assert_eq(wait_sem(&a.done, 5), 0);
    cr_assert_eq(a.rc, STORE_OK);
    expect_doc(STORE_TASK, "st-1", "acc-1", id, "{}", 1);
    sem_destroy(&a.done);
    return a.thread;
}

Test(store_sqlite, a_write_then_is_answered_on_another_thread_once_its_commit_is_synced)
{
    reopen_full();
    hold_syncs_begin();
    struct then_arg a = {.rc = -1, .r = record(STORE_TASK, "ti-then", "st-1", "acc-1",
                                                "TS000001", "{\"a\":1}")};
    sem_init(&a.done, 0, 0);
    store_write_then(st, then_put_cb, &a, then_cb); /* returns without waiting for the commit */
    cr_assert_eq(wait_sem(&sync_entered, 5), 0, "the syncer syncs the write's commit");
    sleep_ms(50);
    cr_assert_neq(sem_trywait(&a.done), 0, "then is not called before the sync");
    release_syncs();
    cr_assert_eq(wait_sem(&a.done, 5), 0, "then is called once the WAL is synced");
    cr_assert_eq(a.rc, STORE_OK);
    cr_assert_not(pthread_equal(a.thread, pthread_self()), "then runs on the store's thread");
    expect_doc(STORE_TASK, "st-1", "acc-1", "ti-then", "{\"a\":1}", 1);

    /* a write that decides not to gives then its status, as store_write would return it */
    struct then_arg b = {.rc = -1};
    sem_init(&b.done, 0, 0);
    store_write_then(st, abort_then_cb, &b, then_cb);
    cr_assert_eq(wait_sem(&b.done, 5), 0);
    cr_assert_eq(b.rc, STORE_ABORT);
    hold_syncs_end();
    sem_destroy(&a.done);
    sem_destroy(&b.done);
}

Test(store_sqlite, a_write_then_without_a_syncer_is_answered_after_its_commit)
{
    /* durability normal: the writer answers once the group committed */
    cr_assert_not(pthread_equal(put_then_and_wait("ti-then"), pthread_self()));
}

/* store_read_keep: app cs-1's text as a read sees it, and a write of it from another thread, so
 * that this thread's kept snapshot is not ended by the write */
static char *app_text(int (*read)(struct store *, store_txn_fn, void *))
{
    struct kv_arg a = {.key = "cs-1"};
    cr_assert_eq(read(st, app_get_cb, &a), STORE_OK);
    return a.out;
}

static void expect_app(int (*read)(struct store *, store_txn_fn, void *), const char *want)
{
    char *text = app_text(read);
    cr_assert_str_eq(text, want);
    free(text);
}

struct app_writer {
    const char *json;
    int rc;
};

static void *app_writer_main(void *arg)
{
    struct app_writer *w = arg;
    struct kv_arg a = {.key = "cs-1", .account = "acc-1", .json = w->json};
    w->rc = store_write(st, app_put_cb, &a);
    return NULL;
}

static void put_app_elsewhere(const char *json)
{
    struct app_writer w = {.json = json, .rc = -1};
    pthread_t th;
    cr_assert_eq(pthread_create(&th, NULL, app_writer_main, &w), 0);
    pthread_join(th, NULL);
    cr_assert_eq(w.rc, STORE_OK);
}

Test(store_sqlite, a_kept_read_is_the_snapshot_of_the_next_read_on_its_thread_and_no_later_one)
{
    put_app("cs-1", "acc-1", "{\"v\":1}");
    expect_app(store_read_keep, "{\"v\":1}");
    put_app_elsewhere("{\"v\":2}");
    expect_app(store_read, "{\"v\":1}"); /* in the kept snapshot, which it ends */
    expect_app(store_read, "{\"v\":2}");

    /* store_read_end ends it without a read; again, with nothing kept, it does nothing */
    expect_app(store_read_keep, "{\"v\":2}");
    put_app_elsewhere("{\"v\":3}");
    store_read_end(st);
    store_read_end(st);
    expect_app(store_read, "{\"v\":3}");

    /* a kept read followed by another kept read: one snapshot, still kept after the second */
    expect_app(store_read_keep, "{\"v\":3}");
    put_app_elsewhere("{\"v\":4}");
    expect_app(store_read_keep, "{\"v\":3}");
    expect_app(store_read, "{\"v\":3}");
    expect_app(store_read, "{\"v\":4}");

    /* a read that fails keeps nothing */
    struct kv_arg missing = {.key = "cs-2"};
    cr_assert_eq(store_read_keep(st, app_get_cb, &missing), STORE_NOT_FOUND);
    put_app_elsewhere("{\"v\":5}");
    expect_app(store_read, "{\"v\":5}");

    /* a write on this thread ends it first: the reads after the write see it */
    expect_app(store_read_keep, "{\"v\":5}");
    put_app("cs-1", "acc-1", "{\"v\":6}");
    expect_app(store_read, "{\"v\":6}");

    /* and so does a write_then */
    expect_app(store_read_keep, "{\"v\":6}");
    put_then_and_wait("ti-kept");
}

/* util/wait: a thread says so before it waits on a commit or a sync, so its pool can run another */
struct wait_counts {
    int enters, leaves;
};

static void wait_counted_enter(void *arg)
{
    ((struct wait_counts *)arg)->enters++;
}

static void wait_counted_leave(void *arg)
{
    ((struct wait_counts *)arg)->leaves++;
}

Test(store_sqlite, waits_for_a_commit_or_a_sync_are_announced)
{
    reopen_full();
    struct wait_counts n = {0};
    const struct wait_hooks h = {.enter = wait_counted_enter, .leave = wait_counted_leave,
                                 .arg = &n};
    wait_hooks_set(&h);
    struct store_record r = record(STORE_TASK, "ti-w", "st-1", "acc-1", "TS000002", "{}");
    cr_assert_eq(store_write(st, put_cb, &r), STORE_OK);
    cr_expect_eq(n.enters, 1, "a write waits for its commit");
    cr_expect_eq(n.leaves, 1);
    expect_doc(STORE_TASK, "st-1", "acc-1", "ti-w", "{}", 1);
    cr_expect_eq(n.enters, 1, "a read does not wait");
    cr_assert_eq(store_settle(st), STORE_OK);
    cr_expect_eq(n.enters, 1, "what it read is synced: no wait");

    /* a read of a commit whose sync is held waits in store_settle */
    hold_syncs_begin();
    struct bg_op w = {0};
    pthread_create(&w.thread, NULL, bg_write_main, &w);
    cr_assert_eq(wait_sem(&sync_entered, 5), 0);
    char *doc = NULL;
    int64_t version = 0;
    cr_assert_eq(get_record(STORE_TASK, "st-1", "acc-1", "ti-held", &doc, &version), STORE_OK);
    free(doc);
    release_syncs();
    cr_assert_eq(store_settle(st), STORE_OK);
    cr_expect_eq(n.enters, 2, "settle waited for the sync");
    cr_expect_eq(n.leaves, 2);
    pthread_join(w.thread, NULL);
    wait_hooks_set(NULL);
    hold_syncs_end();
}

/* ---- a case's taskIds (migration 13) ---- */

struct add_task_arg {
    const char *account, *case_id, *task_id;
    int64_t version;
};

static int add_task_cb(struct store_txn *t, void *arg)
{
    struct add_task_arg *a = arg;
    return store_case_add_task(t, "st-1", a->account, a->case_id, a->task_id, &a->version);
}

static int add_task(const char *account, const char *case_id, const char *task_id,
                    int64_t *version)
{
    struct add_task_arg a = {.account = account, .case_id = case_id, .task_id = task_id};
    int rc = store_write(st, add_task_cb, &a);
    *version = a.version;
    return rc;
}

struct listed_arg {
    struct store_query q;
    char *docs; /* the listed documents, one a line */
    int64_t total;
};

static void list_doc(const char *doc, size_t len, void *arg)
{
    struct listed_arg *a = arg;
    size_t had = a->docs ? strlen(a->docs) : 0;
    a->docs = xrealloc(a->docs, had + len + 2);
    memcpy(a->docs + had, doc, len);
    a->docs[had + len] = '\n';
    a->docs[had + len + 1] = '\0';
}

static int list_cb(struct store_txn *t, void *arg)
{
    struct listed_arg *a = arg;
    return store_query(t, &a->q, list_doc, a, &a->total);
}

/* The documents of st-1/acc-1's cases, sorted by createdAt (heap); those whose name has
 * search in it when search is not NULL (read through the matches kept in memory). */
static char *listed_cases(const char *search)
{
    struct listed_arg a = {.q = {.kind = STORE_CASE, .stream_id = "st-1", .account_id = "acc-1",
                                 .limit = 50, .sort = STORE_SORT_CREATED, .search = search}};
    cr_assert_eq(store_read(st, list_cb, &a), STORE_OK);
    return a.docs ? a.docs : xstrdup("");
}

Test(store_sqlite, tasks_added_to_a_case_are_in_its_document_as_read_and_listed)
{
    struct store_record c = record(STORE_CASE, "ci-1", "st-1", "acc-1", "CS000001",
                                   "{\"_id\":\"ci-1\",\"taskIds\":[\"ti-0\"],\"x\":1}");
    cr_assert_eq(store_write(st, put_cb, &c), STORE_OK);
    int64_t version = 0;
    cr_assert_eq(add_task("acc-1", "ci-1", "ti-1", &version), STORE_OK);
    cr_expect_eq(version, 2);
    cr_assert_eq(add_task("acc-1", "ci-1", "ti-2", &version), STORE_OK);
    cr_expect_eq(version, 3);
    const char *want = "{\"_id\":\"ci-1\",\"taskIds\":[\"ti-0\",\"ti-1\",\"ti-2\"],\"x\":1}";
    expect_doc(STORE_CASE, "st-1", "acc-1", "ci-1", want, 3);
    for (int i = 0; i < 2; i++) {
        char *listed = listed_cases(i ? "testing" : NULL);
        cr_expect_str_eq(listed, "{\"_id\":\"ci-1\",\"taskIds\":[\"ti-0\",\"ti-1\",\"ti-2\"],\"x\":1}\n");
        free(listed);
    }
    /* the stored document was not written again: the ids are rows of their own */
    cr_expect_eq(query_int(db_path, "SELECT count(*) FROM case_task_adds"), 2);
    cr_expect_eq(query_int(db_path, "SELECT count(*) FROM record_docs WHERE doc LIKE '%ti-1%'"),
                 0);

    /* another tenant's case is not there for it */
    cr_expect_eq(add_task("acc-2", "ci-1", "ti-x", &version), STORE_NOT_FOUND);
    cr_expect_eq(add_task("acc-1", "ci-none", "ti-x", &version), STORE_NOT_FOUND);
    expect_doc(STORE_CASE, "st-1", "acc-1", "ci-1", want, 3);

    /* a write of the whole document (what updateCase read, with the ids) takes them in */
    struct store_record u = record(STORE_CASE, "ci-1", "st-1", "acc-1", "CS000001", want);
    cr_assert_eq(store_write(st, update_cb, &u), STORE_OK);
    cr_expect_eq(query_int(db_path, "SELECT count(*) FROM case_task_adds"), 0);
    expect_doc(STORE_CASE, "st-1", "acc-1", "ci-1", want, 4);
    cr_assert_eq(add_task("acc-1", "ci-1", "ti-3", &version), STORE_OK);
    expect_doc(STORE_CASE, "st-1", "acc-1", "ci-1",
               "{\"_id\":\"ci-1\",\"taskIds\":[\"ti-0\",\"ti-1\",\"ti-2\",\"ti-3\"],\"x\":1}", 5);

    /* a document without taskIds gets the member */
    struct store_record bare = record(STORE_CASE, "ci-2", "st-1", "acc-1", "CS000002", "{\"a\":1}");
    cr_assert_eq(store_write(st, put_cb, &bare), STORE_OK);
    cr_assert_eq(add_task("acc-1", "ci-2", "ti-9", &version), STORE_OK);
    expect_doc(STORE_CASE, "st-1", "acc-1", "ci-2", "{\"a\":1,\"taskIds\":[\"ti-9\"]}", 2);
}

/* An update that changes no column list queries read writes the document alone (migration 20):
 * the records row keeps its version, and the record's version is the row's plus the document's.
 * A task added to a case raises the row's part; a stale update is still refused, and whatever it
 * wrote first (a column of the row) is taken back. */
Test(store_sqlite, an_update_of_the_document_alone_leaves_the_records_row_as_it_was)
{
    struct store_record c = record(STORE_CASE, "ci-1", "st-1", "acc-1", "CS000001", "{\"v\":1}");
    cr_assert_eq(store_write(st, put_cb, &c), STORE_OK);
    cr_assert_eq(c.version, 1);
    struct doc_update_arg u = {.r = c, .prev = c};
    u.r.doc = "{\"v\":2}";
    u.r.doc_len = strlen(u.r.doc);
    u.r.updated_at = c.updated_at + 1000;
    cr_assert_eq(store_write(st, doc_update_cb, &u), STORE_OK);
    cr_expect_eq(u.r.version, 2);
    expect_doc(STORE_CASE, "st-1", "acc-1", "ci-1", "{\"v\":2}", 2);
    cr_expect_eq(query_int(db_path, "SELECT version FROM records WHERE id = 'ci-1'"), 1,
                 "the row was written");
    cr_expect_eq(query_int(db_path, "SELECT d.updated_at - 1749032280725 FROM records r"
                                    " JOIN record_docs d ON d.rid = r.rowid WHERE r.id = 'ci-1'"),
                 1000);

    int64_t version = 0;
    cr_assert_eq(add_task("acc-1", "ci-1", "ti-1", &version), STORE_OK);
    cr_expect_eq(version, 3);

    /* expecting version 2, with a new status: refused, the status left as it was */
    u.prev = u.r;
    u.r.doc = "{\"v\":3}";
    u.r.doc_len = strlen(u.r.doc);
    u.r.status_name = "Closed";
    u.r.status_category = "closed";
    cr_assert_eq(store_write(st, doc_update_cb, &u), STORE_CONFLICT);
    cr_expect_eq(query_int(db_path, "SELECT count(*) FROM records WHERE id = 'ci-1'"
                                    " AND status_name = 'Open'"),
                 1);
    expect_doc(STORE_CASE, "st-1", "acc-1", "ci-1", "{\"v\":2,\"taskIds\":[\"ti-1\"]}", 3);

    u.prev.version = 3;
    cr_assert_eq(store_write(st, doc_update_cb, &u), STORE_OK);
    cr_expect_eq(u.r.version, 4);
    expect_doc(STORE_CASE, "st-1", "acc-1", "ci-1", "{\"v\":3}", 4);
    cr_expect_eq(query_int(db_path, "SELECT count(*) FROM records WHERE id = 'ci-1'"
                                    " AND status_name = 'Closed' AND version = 2"),
                 1);

    /* a put over the record raises the row's part */
    struct store_record again = record(STORE_CASE, "ci-1", "st-1", "acc-1", "CS000001", "{}");
    cr_assert_eq(store_write(st, put_cb, &again), STORE_OK);
    cr_expect_eq(again.version, 5);
    expect_doc(STORE_CASE, "st-1", "acc-1", "ci-1", "{}", 5);
}

/* Opens the test's database again, durable (the syncer and checkpointer run), checkpointing
 * every checkpoint_pages pages of WAL. */
static void reopen_durable(unsigned checkpoint_pages)
{
    store_close(st);
    char url[160], *err = NULL;
    url_of(url, sizeof url);
    const struct store_options opt = {.durability = STORE_DURABILITY_FULL,
                                      .busy_timeout_ms = 10000,
                                      .checkpoint_pages = checkpoint_pages};
    st = store_open(url, &opt, &err);
    cr_assert_not_null(st, "%s", err ? err : "?");
}

/* Writes task number n (ti-n, TSn) of stream st-1 with doc. */
static void put_task_number(int n, const char *doc)
{
    char id[32], ref[32];
    snprintf(id, sizeof id, "ti-%d", n);
    snprintf(ref, sizeof ref, "TS%06d", n);
    struct store_record r = record(STORE_TASK, id, "st-1", "acc-1", ref, doc);
    cr_assert_eq(store_write(st, put_cb, &r), STORE_OK);
}

/* The checkpoint that starts a large WAL over holds the writer off while it waits for the reads
 * still using the WAL. SQLite's wait was a second: one list query reading that long held every
 * write off with it. Now it gives up after a few milliseconds and tries again later. */
Test(store_sqlite, a_long_read_holds_writes_off_only_briefly_when_the_wal_is_to_start_over)
{
    int was = store_sqlite_restart_frames;
    store_sqlite_restart_frames = 64; /* every checkpoint is then to start the WAL over */
    reopen_durable(200);              /* and they come often */
    store_sqlite_restart_frames = was;
    int n = 0;
    for (; n < 5; n++)
        put_task_number(n, "{}");
    /* a read of what the WAL holds, kept open while the writes go on */
    sqlite3 *rd = NULL;
    cr_assert_eq(sqlite3_open_v2(db_path, &rd, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    cr_assert_eq(sqlite3_exec(rd, "BEGIN; SELECT count(*) FROM records;", NULL, NULL, NULL),
                 SQLITE_OK);
    int64_t start = time_mono_us(), worst = 0;
    while (time_mono_us() - start < 2500000) {
        int64_t t0 = time_mono_us();
        put_task_number(n++, "{}");
        int64_t took = (time_mono_us() - t0) / 1000;
        worst = took > worst ? took : worst;
    }
    char wal[160];
    snprintf(wal, sizeof wal, "%s-wal", db_path);
    struct stat sb;
    cr_assert_eq(stat(wal, &sb), 0);
    /* far past the 200 pages that wake the checkpointer, with the read still in the WAL */
    cr_assert_gt(sb.st_size, 2200L * 4096, "the WAL grew to %lld bytes (%d writes)",
                 (long long)sb.st_size, n);
    cr_assert_eq(sqlite3_exec(rd, "COMMIT", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(rd);
    /* SQLite's wait held it a second (1,121 ms); here 41-122 ms, with the syncs */
    cr_assert_lt(worst, 700, "a write waited %lld ms behind the read", (long long)worst);
}

/* store_sqlite_before_writeback: counts the writeback thread's calls of sync_file_range. */
static atomic_int writebacks;

static void count_writeback(void)
{
    atomic_fetch_add(&writebacks, 1);
}

/* Writes tasks of doc (numbered from *n on) until the writeback count passes `past`, for at most
 * 20 s; the count then. */
static int write_until_writeback(const char *doc, int *n, int past)
{
    int64_t start = time_mono_us();
    while (atomic_load(&writebacks) <= past && time_mono_us() - start < 20000000)
        put_task_number((*n)++, doc);
    if (atomic_load(&writebacks) <= past) /* the last write's checkpoint may be on its way */
        nanosleep(&(struct timespec){.tv_nsec = 100 * 1000000L}, NULL);
    return atomic_load(&writebacks);
}

/* The pages checkpoints copy into the database file are handed to the disk as they go, by the
 * writeback thread, not left for one large sync when a checkpoint at last copies the whole WAL;
 * with no checkpoint for a while it sleeps. */
Test(store_sqlite, checkpointed_pages_are_written_back_while_checkpoints_run_and_not_after)
{
    store_sqlite_before_writeback = count_writeback;
    reopen_durable(2000);
    cr_assert_eq(atomic_load(&writebacks), 0, "no checkpoint yet, no writeback");
    /* documents of a few pages each, past the 2,000 pages of WAL that wake the checkpointer */
    size_t doc_len = 3 * 4096;
    char *doc = xmalloc(doc_len + 1);
    memset(doc, 'x', doc_len);
    doc[0] = '"';
    doc[doc_len - 1] = '"';
    doc[doc_len] = '\0';
    int n = 0;
    int written = write_until_writeback(doc, &n, 0);
    cr_assert_gt(written, 0, "no writeback after %d writes", n);
    /* idle: the thread runs on for WRITEBACK_IDLE_TICKS, then sleeps; no call without a
     * checkpoint (the last one follows the writer's idle commit of the queued names, FTS_IDLE_MS
     * after the last write: a second leaves room for it on a slow machine) */
    nanosleep(&(struct timespec){.tv_sec = 1}, NULL);
    int settled = atomic_load(&writebacks);
    nanosleep(&(struct timespec){.tv_nsec = 300 * 1000000L}, NULL);
    cr_assert_eq(atomic_load(&writebacks), settled, "writeback without a checkpoint");
    /* and it wakes again once checkpoints do */
    cr_assert_gt(write_until_writeback(doc, &n, settled), settled, "asleep through checkpoints");
    free(doc);
    store_sqlite_before_writeback = NULL;
}

/* store_sqlite_after_checkpoint: what each checkpoint found and copied, the first CKPT_SEEN, and
 * how many times the WAL had started over by then (wal_restarts). */
#define CKPT_SEEN 64
static int ckpt_log[CKPT_SEEN], ckpt_done[CKPT_SEEN], ckpt_restarts[CKPT_SEEN];
static atomic_int ckpt_seen, wal_restarts;

static void note_checkpoint(int log, int copied)
{
    int i = atomic_load(&ckpt_seen);
    if (i >= CKPT_SEEN)
        return;
    ckpt_log[i] = log;
    ckpt_done[i] = copied;
    ckpt_restarts[i] = atomic_load(&wal_restarts);
    atomic_store(&ckpt_seen, i + 1);
}

/* The WAL header's checkpoint sequence number, which SQLite raises each time it starts the WAL
 * over (bytes 12-15, big-endian); -1 before there is a WAL. */
static int64_t wal_sequence(void)
{
    char path[160];
    snprintf(path, sizeof path, "%s-wal", db_path);
    FILE *f = fopen(path, "rb");
    unsigned char h[16];
    size_t got = f ? fread(h, 1, sizeof h, f) : 0;
    if (f)
        fclose(f);
    if (got < sizeof h)
        return -1;
    return (int64_t)h[12] << 24 | h[13] << 16 | h[14] << 8 | h[15];
}

/* A checkpoint runs once the WAL has grown by checkpoint_pages (store_options) past what the one
 * before copied, so that a page written again in between is copied once. It used to run
 * after every commit once the WAL held that many pages in all, which it always did: each
 * checkpoint then copied one commit's pages. A checkpoint that copied the whole WAL lets the next
 * write start it over, and then all of it is new: the test reads the WAL's header after each
 * write to tell (comparing with the copy before alone failed now and then under load,
 * "checkpoint 1 copied 315, after 318", after a restart). */
Test(store_sqlite, a_checkpoint_waits_until_the_wal_has_grown_by_its_count_since_the_last)
{
    atomic_store(&ckpt_seen, 0);
    atomic_store(&wal_restarts, 0);
    store_sqlite_after_checkpoint = note_checkpoint;
    reopen_durable(300);
    int64_t start = time_mono_us(), sequence = -1;
    for (int n = 0; atomic_load(&ckpt_seen) < 4 && time_mono_us() - start < 20000000; n++) {
        put_task_number(n, "{}");
        /* noted long before the next checkpoint: that needs 300 pages more, many writes */
        int64_t now = wal_sequence();
        if (sequence >= 0 && now != sequence)
            atomic_fetch_add(&wal_restarts, 1);
        sequence = now;
    }
    store_close(st); /* no checkpoint runs after this */
    st = NULL;
    store_sqlite_after_checkpoint = NULL;
    int seen = atomic_load(&ckpt_seen);
    cr_assert_geq(seen, 4, "%d checkpoints in 20 s", seen);
    for (int i = 0; i < seen; i++) {
        bool over = i == 0 || ckpt_restarts[i] != ckpt_restarts[i - 1];
        int copied_before = over ? 0 : ckpt_done[i - 1];
        cr_assert_gt(ckpt_done[i], copied_before, "checkpoint %d copied %d, after %d", i,
                     ckpt_done[i], copied_before);
        cr_expect_geq(ckpt_log[i] - copied_before, 300, "checkpoint %d ran with %d pages new", i,
                      ckpt_log[i] - copied_before);
    }
}

/* store_record_update with prev->version: the version the document must still have. */
struct expect_update {
    struct store_record r;
    int64_t expect;
    const char *old_name; /* the name the row holds, when r renames it */
};

static int update_expecting_cb(struct store_txn *t, void *arg)
{
    struct expect_update *u = arg;
    struct store_record prev = u->r;
    prev.version = u->expect;
    if (u->old_name)
        prev.name_lower = u->old_name;
    return store_record_update(t, &u->r, &prev);
}

struct head_arg {
    enum store_kind kind;
    const char *stream, *account, *id;
    struct store_record_head h;
};

static int head_cb(struct store_txn *t, void *arg)
{
    struct head_arg *a = arg;
    return store_record_head(t, a->kind, a->stream, a->account, a->id, &a->h);
}

/* The writer's look-ups by id go to the hinted rowid first as reads do: an update (of the
 * document alone, and of the records row too) and a record's head, with each id hinted at
 * another tenant's or kind's row or at none, change and read their own record only. */
Test(store_sqlite, updates_and_heads_are_not_misled_by_a_wrong_rowid_hint)
{
    int64_t ra = put_rowid(record(STORE_TASK, "ti-1", "st-1", "acc-1", "TS000001", "{\"a\":1}"));
    int64_t rb = put_rowid(record(STORE_TASK, "ti-9", "st-2", "acc-2", "TS000001", "{\"b\":1}"));
    int64_t rc = put_rowid(record(STORE_CASE, "ci-1", "st-1", "acc-1", "CS000001", "{\"c\":1}"));

    plant("ti-1", rb);
    struct expect_update u = {
        .r = record(STORE_TASK, "ti-1", "st-1", "acc-1", "TS000001", "{\"a\":2}"), .expect = 1};
    cr_assert_eq(store_write(st, update_expecting_cb, &u), STORE_OK);
    cr_expect_eq(hint_of("ti-1"), ra, "the update put the right rowid back");
    plant("ti-1", rc); /* a case's row: another kind */
    u.r = record(STORE_TASK, "ti-1", "st-1", "acc-1", "TS000001", "{\"a\":3}");
    u.old_name = u.r.name_lower;
    u.r.name_lower = "renamed";
    u.expect = 2;
    cr_assert_eq(store_write(st, update_expecting_cb, &u), STORE_OK);
    plant("ti-1", 1000000);
    u.r = record(STORE_TASK, "ti-1", "st-1", "acc-1", "TS000001", "{\"a\":4}");
    u.old_name = NULL;
    u.expect = 3;
    cr_assert_eq(store_write(st, update_expecting_cb, &u), STORE_OK);
    /* the same tenant's and kind's other task */
    int64_t rd = put_rowid(record(STORE_TASK, "ti-2", "st-1", "acc-1", "TS000002", "{\"d\":1}"));
    plant("ti-1", rd);
    u.r = record(STORE_TASK, "ti-1", "st-1", "acc-1", "TS000001", "{\"a\":5}");
    u.expect = 4;
    cr_assert_eq(store_write(st, update_expecting_cb, &u), STORE_OK);
    expect_doc(STORE_TASK, "st-1", "acc-1", "ti-1", "{\"a\":5}", 5);
    expect_doc(STORE_TASK, "st-1", "acc-1", "ti-2", "{\"d\":1}", 1);
    expect_doc(STORE_TASK, "st-2", "acc-2", "ti-9", "{\"b\":1}", 1);
    cr_expect_eq(query_int(db_path, "SELECT count(*) FROM records WHERE name_lower = 'renamed'"),
                 1);
    cr_expect_eq(query_int(db_path, "SELECT count(*) FROM records WHERE id = 'ti-1' AND"
                                    " name_lower = 'renamed'"),
                 1);

    /* another tenant's update of an id hinted at its own row: not found, nothing changed */
    plant("ti-1", ra);
    u.r = record(STORE_TASK, "ti-1", "st-2", "acc-2", "TS000001", "{\"hijack\":1}");
    u.expect = 0;
    cr_assert_eq(store_write(st, update_expecting_cb, &u), STORE_NOT_FOUND);
    expect_doc(STORE_TASK, "st-1", "acc-1", "ti-1", "{\"a\":5}", 5);

    plant("ci-1", ra);
    struct head_arg h = {.kind = STORE_CASE, .stream = "st-1", .account = "acc-1", .id = "ci-1"};
    cr_assert_eq(store_read(st, head_cb, &h), STORE_OK);
    cr_expect_str_eq(h.h.ref_id, "CS000001");
    cr_expect_eq(hint_of("ci-1"), rc);
    plant("ti-9", rc);
    h = (struct head_arg){.kind = STORE_TASK, .stream = "st-2", .account = "acc-2", .id = "ti-9"};
    cr_assert_eq(store_read(st, head_cb, &h), STORE_OK);
    cr_expect_str_eq(h.h.ref_id, "TS000001");
    plant("ti-9", rb);
    h = (struct head_arg){.kind = STORE_TASK, .stream = "st-1", .account = "acc-1", .id = "ti-9"};
    cr_expect_eq(store_read(st, head_cb, &h), STORE_NOT_FOUND);
    plant("ti-1", rd);
    h = (struct head_arg){.kind = STORE_TASK, .stream = "st-1", .account = "acc-1", .id = "ti-1"};
    cr_assert_eq(store_read(st, head_cb, &h), STORE_OK);
    cr_expect_str_eq(h.h.ref_id, "TS000001");
}

/* An update that names the version it read writes only while the record still has it, and its
 * answer carries the next; one that names none writes whatever the version. Each kind of update
 * has a statement of its own (ST_DOC_UPDATE_IF and ST_DOC_UPDATE). */
Test(store_sqlite, an_update_expecting_a_version_writes_only_while_the_record_has_it)
{
    struct store_record r = record(STORE_TASK, "ti-1", "st-1", "acc-1", "TS000001", "{\"a\":1}");
    cr_assert_eq(store_write(st, put_cb, &r), STORE_OK);
    expect_doc(STORE_TASK, "st-1", "acc-1", "ti-1", "{\"a\":1}", 1);

    struct expect_update u = {.r = record(STORE_TASK, "ti-1", "st-1", "acc-1", "TS000001",
                                          "{\"a\":2}"),
                              .expect = 1};
    cr_assert_eq(store_write(st, update_expecting_cb, &u), STORE_OK);
    cr_assert_eq(u.r.version, 2);
    expect_doc(STORE_TASK, "st-1", "acc-1", "ti-1", "{\"a\":2}", 2);

    /* written after version 1 was read, and 2 came between: refused, nothing changed */
    u.r = record(STORE_TASK, "ti-1", "st-1", "acc-1", "TS000001", "{\"a\":3}");
    u.expect = 1;
    cr_assert_eq(store_write(st, update_expecting_cb, &u), STORE_CONFLICT);
    expect_doc(STORE_TASK, "st-1", "acc-1", "ti-1", "{\"a\":2}", 2);

    /* a version ahead of the record's is no match either */
    u.r = record(STORE_TASK, "ti-1", "st-1", "acc-1", "TS000001", "{\"a\":4}");
    u.expect = 7;
    cr_assert_eq(store_write(st, update_expecting_cb, &u), STORE_CONFLICT);
    expect_doc(STORE_TASK, "st-1", "acc-1", "ti-1", "{\"a\":2}", 2);

    /* no expectation: written over version 2 */
    u.r = record(STORE_TASK, "ti-1", "st-1", "acc-1", "TS000001", "{\"a\":5}");
    u.expect = 0;
    cr_assert_eq(store_write(st, update_expecting_cb, &u), STORE_OK);
    cr_assert_eq(u.r.version, 3);
    expect_doc(STORE_TASK, "st-1", "acc-1", "ti-1", "{\"a\":5}", 3);

    /* an update that changes a column of the records row too: one more, as any update */
    u.r = record(STORE_TASK, "ti-1", "st-1", "acc-1", "TS000001", "{\"a\":6}");
    u.old_name = u.r.name_lower;
    u.r.name_lower = "renamed";
    u.expect = 3;
    cr_assert_eq(store_write(st, update_expecting_cb, &u), STORE_OK);
    cr_assert_eq(u.r.version, 4);
    expect_doc(STORE_TASK, "st-1", "acc-1", "ti-1", "{\"a\":6}", 4);

    /* a put over the record raises the row's part (migration 20): the version an update
     * expects is the sum of the two parts */
    struct store_record again = record(STORE_TASK, "ti-1", "st-1", "acc-1", "TS000001",
                                       "{\"a\":7}");
    cr_assert_eq(store_write(st, put_cb, &again), STORE_OK);
    cr_assert_eq(again.version, 5);
    u.r = record(STORE_TASK, "ti-1", "st-1", "acc-1", "TS000001", "{\"a\":8}");
    u.old_name = NULL;
    u.expect = 4;
    cr_assert_eq(store_write(st, update_expecting_cb, &u), STORE_CONFLICT);
    u.expect = 5;
    cr_assert_eq(store_write(st, update_expecting_cb, &u), STORE_OK);
    cr_assert_eq(u.r.version, 6);
    expect_doc(STORE_TASK, "st-1", "acc-1", "ti-1", "{\"a\":8}", 6);
}
