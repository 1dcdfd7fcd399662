/* pagecache: a truncation is passed on to SQLite's cache whenever a page could be at or past its
 * point (pages past it are then gone) and skipped otherwise, a page parked at the lock-byte page
 * number by a b-tree split no longer makes every later truncation walk the cache once it has
 * left, and a database written through it stays whole. */
#include <criterion/criterion.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "store/pagecache.h"

#define PARK (0x40000000u / 4096 + 1) /* SQLite's parking place for 4 KiB pages */

static sqlite3_pcache_methods2 m;

static void setup(void)
{
    cr_assert_eq(pagecache_install(), 0, "SQLite was initialised before the test");
    cr_assert_eq(sqlite3_config(SQLITE_CONFIG_GETPCACHE2, &m), SQLITE_OK);
    cr_assert_eq(sqlite3_initialize(), SQLITE_OK); /* which initialises the cache too */
}

TestSuite(pagecache, .init = setup);

static void put(sqlite3_pcache *c, unsigned key)
{
    sqlite3_pcache_page *p = m.xFetch(c, key, 2);
    cr_assert_not_null(p, "page %u", key);
    m.xUnpin(c, p, 0);
}

static bool cached(sqlite3_pcache *c, unsigned key)
{
    sqlite3_pcache_page *p = m.xFetch(c, key, 0);
    if (p)
        m.xUnpin(c, p, 0);
    return p != NULL;
}

static void move(sqlite3_pcache *c, unsigned from, unsigned to)
{
    sqlite3_pcache_page *p = m.xFetch(c, from, 0);
    cr_assert_not_null(p, "page %u", from);
    m.xRekey(c, p, from, to);
    m.xUnpin(c, p, 0);
}

/* Truncates at limit and says whether the truncation was passed on. */
static bool truncated(sqlite3_pcache *c, unsigned limit)
{
    struct pagecache_counts before = pagecache_counts();
    m.xTruncate(c, limit);
    struct pagecache_counts after = pagecache_counts();
    cr_assert_eq(after.passed - before.passed + after.skipped - before.skipped, 1);
    return after.passed > before.passed;
}

Test(pagecache, truncations_are_passed_on_exactly_when_a_page_could_be_dropped)
{
    sqlite3_pcache *c = m.xCreate(4096, 64, 1);
    cr_assert_not_null(c);
    m.xCachesize(c, 1000);
    for (unsigned k = 1; k <= 100; k++)
        put(c, k);
    cr_expect_not(truncated(c, 101), "nothing is at 101 or past it");
    cr_expect_eq(m.xPagecount(c), 100);
    cr_expect(truncated(c, 50));
    cr_expect(cached(c, 49));
    cr_expect_not(cached(c, 50));
    cr_expect_not(cached(c, 100));
    cr_expect_eq(m.xPagecount(c), 49);

    /* a split's swap: 10 parks, 20 takes 10's number, the parked page takes 20's */
    move(c, 10, PARK);
    move(c, 20, 10);
    move(c, PARK, 20);
    cr_expect_not(cached(c, PARK));
    cr_expect_not(truncated(c, 50), "the parked page left: nothing past 49");
    cr_expect_eq(m.xPagecount(c), 49);

    /* a page still parked is past any smaller limit: it goes */
    move(c, 5, PARK);
    cr_expect(truncated(c, 50));
    cr_expect_not(cached(c, PARK));
    cr_expect(cached(c, 49));
    cr_expect_not(truncated(c, 50), "and once it went, the next is skipped again");

    /* a page moved or fetched past the bound raises it */
    move(c, 30, 700);
    put(c, 900);
    cr_expect(truncated(c, 800));
    cr_expect(cached(c, 700));
    cr_expect_not(cached(c, 900));
    cr_expect(truncated(c, 600));
    cr_expect_not(cached(c, 700));
    cr_expect_not(truncated(c, 600));
    cr_expect(truncated(c, 0));
    cr_expect_eq(m.xPagecount(c), 0);
    m.xDestroy(c);
}

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
    cr_assert_eq(sqlite3_step(q), SQLITE_ROW, "%s", sql);
    long long v = sqlite3_column_int64(q, 0);
    sqlite3_finalize(q);
    return v;
}

Test(pagecache, a_database_with_splits_rollbacks_and_reused_pages_stays_whole)
{
    char dir[64] = "/tmp/casemgr-pagecache-XXXXXX", path[128], wal[160];
    cr_assert_not_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/p.db", dir);
    sqlite3 *db = NULL;
    cr_assert_eq(sqlite3_open(path, &db), SQLITE_OK);
    exec(db, "PRAGMA journal_mode=WAL; PRAGMA cache_size=200;"
             " CREATE TABLE t (id INTEGER PRIMARY KEY, k BLOB, v BLOB); CREATE INDEX t_k ON t (k)");
    exec(db, "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 3000)"
             " INSERT INTO t SELECT i, randomblob(40), randomblob(300) FROM n");
    /* free pages in the middle of the file: later splits take them, out of order, and swap */
    exec(db, "DELETE FROM t WHERE id % 3 <> 0");
    struct pagecache_counts before = pagecache_counts();
    for (int i = 0; i < 200; i++) {
        exec(db, "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 20)"
                 " INSERT INTO t (k, v) SELECT randomblob(40), randomblob(300) FROM n");
        if (i % 25 == 0) /* grown and rolled back: pages past the end must leave the cache */
            exec(db, "BEGIN; INSERT INTO t (k, v) SELECT randomblob(40), randomblob(3000) FROM t"
                     " LIMIT 200; ROLLBACK");
    }
    struct pagecache_counts after = pagecache_counts();
    cr_expect_gt(after.parks - before.parks, 10, "%zu pages parked: no split swapped pages",
                 after.parks - before.parks);
    cr_expect_gt(after.skipped - before.skipped, 100, "%zu skipped",
                 after.skipped - before.skipped);
    cr_expect_gt(after.passed - before.passed, 0, "the rollbacks' truncations were skipped");
    cr_expect_eq(query_int(db, "SELECT count(*) FROM t"), 1000 + 200 * 20);
    sqlite3_stmt *q = NULL;
    cr_assert_eq(sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &q, NULL), SQLITE_OK);
    cr_assert_eq(sqlite3_step(q), SQLITE_ROW);
    cr_expect_str_eq((const char *)sqlite3_column_text(q, 0), "ok");
    sqlite3_finalize(q);
    sqlite3_close(db);
    snprintf(wal, sizeof wal, "%s-wal", path);
    unlink(wal);
    snprintf(wal, sizeof wal, "%s-shm", path);
    unlink(wal);
    unlink(path);
    rmdir(dir);
}
