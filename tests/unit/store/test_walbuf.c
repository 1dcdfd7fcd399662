/* walbuf: a commit's WAL frames reach the file in few writes, every byte of a commit is in the
 * file when the commit returns (a copy of the files taken then recovers it, checksums and all),
 * another connection reads what was committed, and the paths where SQLite writes the WAL out of
 * order (a transaction that spills pages, rewrites them and then commits or rolls back) leave the
 * same file a write-through VFS would. */
#include <criterion/criterion.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store/walbuf.h"

#define PAGE 4096
#define FRAME (24 + PAGE)

static char dir[64], db_path[128];

static void setup(void)
{
    cr_assert_eq(walbuf_install(), 0);
    cr_assert_str_eq(sqlite3_vfs_find(NULL)->zName, "casemgr-walbuf", "not the default VFS");
    snprintf(dir, sizeof dir, "/tmp/casemgr-walbuf-XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
    snprintf(db_path, sizeof db_path, "%s/w.db", dir);
}

static void teardown(void)
{
    const char *suffixes[] = {"", "-wal", "-shm"};
    for (size_t i = 0; i < sizeof suffixes / sizeof *suffixes; i++) {
        char path[160];
        snprintf(path, sizeof path, "%s%s", db_path, suffixes[i]);
        unlink(path);
    }
    rmdir(dir);
}

TestSuite(walbuf, .init = setup, .fini = teardown);

static void exec(sqlite3 *db, const char *sql)
{
    char *msg = NULL;
    cr_assert_eq(sqlite3_exec(db, sql, NULL, NULL, &msg), SQLITE_OK, "%s: %s", sql,
                 msg ? msg : "?");
}

static long long query_int(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *q = NULL;
    cr_assert_eq(sqlite3_prepare_v2(db, sql, -1, &q, NULL), SQLITE_OK, "%s", sqlite3_errmsg(db));
    cr_assert_eq(sqlite3_step(q), SQLITE_ROW, "%s: %s", sql, sqlite3_errmsg(db));
    long long v = sqlite3_column_int64(q, 0);
    sqlite3_finalize(q);
    return v;
}

static sqlite3 *open_db(const char *path)
{
    sqlite3 *db = NULL;
    cr_assert_eq(sqlite3_open(path, &db), SQLITE_OK);
    exec(db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA wal_autocheckpoint=0");
    return db;
}

static off_t file_size(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0 ? sb.st_size : -1;
}

/* After every commit: the frames SQLite reports in the WAL are in the file already. */
static int frames_in_file(void *arg, sqlite3 *db, const char *name, int frames)
{
    (void)db;
    (void)name;
    char wal[160];
    snprintf(wal, sizeof wal, "%s-wal", db_path);
    off_t want = 32 + (off_t)frames * FRAME;
    cr_assert_geq(file_size(wal), want, "a commit returned with %lld of %lld WAL bytes written",
                  (long long)file_size(wal), (long long)want);
    (*(int *)arg)++;
    return SQLITE_OK;
}

/* Copies the database and its WAL as they are in the file system now (what a crash leaves, with
 * the OS up) and counts the rows of t in the copy, which SQLite recovers from the WAL. */
static long long rows_after_crash(void)
{
    char copy[160], cmd[1024];
    snprintf(copy, sizeof copy, "%s/copy.db", dir);
    snprintf(cmd, sizeof cmd, "cp %s %s && cp %s-wal %s-wal", db_path, copy, db_path, copy);
    cr_assert_eq(system(cmd), 0);
    sqlite3 *db = NULL;
    cr_assert_eq(sqlite3_open(copy, &db), SQLITE_OK);
    sqlite3_stmt *q = NULL;
    cr_assert_eq(sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &q, NULL), SQLITE_OK);
    cr_assert_eq(sqlite3_step(q), SQLITE_ROW);
    cr_assert_str_eq((const char *)sqlite3_column_text(q, 0), "ok");
    sqlite3_finalize(q);
    long long n = query_int(db, "SELECT count(*) FROM t");
    sqlite3_close(db);
    unlink(copy);
    snprintf(cmd, sizeof cmd, "%s-wal", copy);
    unlink(cmd);
    return n;
}

Test(walbuf, a_commit_is_gathered_into_few_writes_and_is_whole_in_the_file_when_it_returns)
{
    sqlite3 *db = open_db(db_path);
    sqlite3 *reader = open_db(db_path);
    exec(db, "CREATE TABLE t (id INTEGER PRIMARY KEY, v BLOB)");
    int commits = 0;
    sqlite3_wal_hook(db, frames_in_file, &commits);
    struct walbuf_counts before = walbuf_counts();
    /* 300 rows of 2,000 bytes: ~150 pages, a commit of ~620 KB, past one write's 128 KB */
    exec(db, "BEGIN; WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 300)"
             " INSERT INTO t SELECT i, randomblob(2000) FROM n; COMMIT");
    struct walbuf_counts after = walbuf_counts();
    size_t in = after.writes_in - before.writes_in, out = after.writes_out - before.writes_out;
    cr_expect_geq(in, 300, "SQLite wrote %zu times", in);
    cr_expect_leq(out, in / 20, "%zu writes in, %zu out", in, out);
    cr_expect_geq(out, 5, "%zu writes out: 620 KB go out in pieces under 128 KB", out);
    cr_expect_eq(commits, 1);
    cr_expect_eq(query_int(reader, "SELECT count(*) FROM t"), 300);

    /* small commits, one and a few pages, each whole when it returns */
    for (int i = 0; i < 50; i++) {
        char sql[200];
        snprintf(sql, sizeof sql, "UPDATE t SET v = randomblob(%d) WHERE id %% 97 = %d",
                 i % 2 ? 10 : 1500, i % 97);
        exec(db, sql);
    }
    cr_expect_eq(commits, 51);
    const char *changed = "SELECT count(*) FROM t WHERE length(v) IN (10, 1500)";
    cr_expect_eq(query_int(reader, changed), query_int(db, changed));
    cr_expect_gt(query_int(reader, changed), 100);
    cr_expect_eq(rows_after_crash(), 300);
    sqlite3_close(reader);
    sqlite3_close(db);
}

Test(walbuf, a_transaction_that_spills_and_rewrites_pages_commits_and_rolls_back_as_written)
{
    sqlite3 *db = open_db(db_path);
    sqlite3 *reader = open_db(db_path);
    /* a cache of 10 pages: a transaction touching more spills frames into the WAL before its
     * commit, and writing a spilled page again rewrites its frame in place, after which SQLite
     * rewrites the checksums of the frames behind it at commit (walRewriteChecksums) */
    exec(db, "PRAGMA cache_size=10; CREATE TABLE t (id INTEGER PRIMARY KEY, v BLOB)");
    int commits = 0;
    sqlite3_wal_hook(db, frames_in_file, &commits);
    exec(db, "BEGIN; WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 200)"
             " INSERT INTO t SELECT i, randomblob(1500) FROM n;"
             " UPDATE t SET v = randomblob(1400) WHERE id % 3 = 0;"
             " UPDATE t SET v = randomblob(1300) WHERE id % 5 = 0; COMMIT");
    cr_expect_eq(query_int(reader, "SELECT count(*) FROM t"), 200);
    cr_expect_eq(query_int(reader, "SELECT count(*) FROM t WHERE length(v) = 1300"), 40);
    cr_expect_eq(rows_after_crash(), 200);

    /* rolled back after spilling: the frames written past the last commit are not part of the
     * database, and the next commit writes over them */
    exec(db, "BEGIN; WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 200)"
             " INSERT INTO t SELECT 1000 + i, randomblob(1500) FROM n; ROLLBACK");
    cr_expect_eq(query_int(reader, "SELECT count(*) FROM t"), 200);
    exec(db, "INSERT INTO t VALUES (5000, randomblob(100))");
    cr_expect_eq(query_int(reader, "SELECT count(*) FROM t"), 201);
    cr_expect_eq(rows_after_crash(), 201);

    /* checkpointed and the WAL restarted from its start: still read as written */
    cr_assert_eq(sqlite3_wal_checkpoint_v2(db, NULL, SQLITE_CHECKPOINT_TRUNCATE, NULL, NULL),
                 SQLITE_OK);
    exec(db, "INSERT INTO t VALUES (5001, randomblob(3000))");
    cr_expect_eq(query_int(reader, "SELECT count(*) FROM t"), 202);
    cr_expect_eq(rows_after_crash(), 202);
    sqlite3_close(reader);
    sqlite3_close(db);
}
