/* Migration in place (DESIGN.md §4): a database file written by the first schema, with a case
 * and a task in it (or many tasks), opened by this casemgr. The schema below is the first version
 * as it was released, kept here verbatim as a fixture: the test must not follow later edits of the
 * code. */
#include <criterion/criterion.h>

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "store/store.h"

static const char *const schema_v1 =
    "CREATE TABLE apps (client_id TEXT PRIMARY KEY, account_id TEXT NOT NULL,"
    "  created_at INTEGER NOT NULL, doc TEXT NOT NULL);"
    "CREATE TABLE streams (stream_id TEXT PRIMARY KEY, doc TEXT NOT NULL);"
    "CREATE TABLE counters (stream_id TEXT NOT NULL, kind TEXT NOT NULL, value INTEGER NOT NULL,"
    "  PRIMARY KEY (stream_id, kind)) WITHOUT ROWID;"
    "CREATE TABLE records (id TEXT PRIMARY KEY, kind INTEGER NOT NULL,"
    "  stream_id TEXT NOT NULL, account_id TEXT NOT NULL, ref_id TEXT NOT NULL, case_id TEXT,"
    "  name_lower TEXT NOT NULL, status_name TEXT, status_category TEXT, priority_name TEXT,"
    "  priority_score INTEGER, assignee TEXT, created_at INTEGER NOT NULL,"
    "  updated_at INTEGER NOT NULL, due_date INTEGER, version INTEGER NOT NULL, doc TEXT NOT NULL);"
    "CREATE UNIQUE INDEX records_ref ON records (stream_id, kind, ref_id);"
    "CREATE INDEX records_created ON records (stream_id, account_id, kind, created_at, id);"
    "CREATE INDEX records_case ON records (case_id) WHERE case_id IS NOT NULL;"
    "CREATE TABLE idempotency (client_id TEXT NOT NULL, key TEXT NOT NULL,"
    "  body_hash TEXT NOT NULL, status INTEGER NOT NULL, body BLOB NOT NULL,"
    "  created_at INTEGER NOT NULL, PRIMARY KEY (client_id, key)) WITHOUT ROWID;"
    "CREATE TABLE jti (client_id TEXT NOT NULL, jti TEXT NOT NULL, exp INTEGER NOT NULL,"
    "  PRIMARY KEY (client_id, jti)) WITHOUT ROWID;"
    "CREATE INDEX jti_exp ON jti (exp);"
    "PRAGMA user_version = 1;";

static const char *const rows_v1 =
    "INSERT INTO records VALUES ('ci-1', 0, 'st-1', 'acc-1', 'CS000001', NULL, 'printer on fire',"
    "  'Open', 'open', 'High', 13, NULL, 1000, 2000, 5000, 1,"
    "  '{\"_id\":\"ci-1\",\"name\":\"Printer on fire\",\"refId\":\"CS000001\",\"source\":\"rtm\","
    "   \"channel\":[\"chat\"],\"queues\":[{\"_id\":\"qu-1\",\"name\":\"Billing\"}],"
    "   \"status\":{\"name\":\"Open\",\"statusCategory\":\"open\"},\"isBreached\":false,"
    "   \"fields\":[{\"_id\":\"fd-9\",\"type\":\"custom\",\"metaData\":{\"name\":\"sev\"},"
    "   \"selectedValue\":3},{\"_id\":\"fd-1\",\"type\":\"system\",\"metaData\":{\"name\":"
    "   \"title\"},\"selectedValue\":\"Printer on fire\"}]}');"
    "INSERT INTO records VALUES ('ti-1', 1, 'st-1', 'acc-1', 'TS000001', 'ci-1', 'call facilities',"
    "  'Open', 'open', 'Medium', 10, 'u-7', 1500, 2500, NULL, 3,"
    "  '{\"_id\":\"ti-1\",\"name\":\"Call facilities\",\"refId\":\"TS000001\",\"source\":\"email\","
    "   \"channel\":[],\"queues\":[\"qu-2\"],\"fields\":[]}');";

static char dir[64], path[128];

/* A database file of the first schema with rows in it, in a directory of its own (dir, path),
 * opened by this casemgr: it is migrated in place. */
static struct store *open_first_version(const char *rows)
{
    snprintf(dir, sizeof dir, "/tmp/casemgr-migrate-XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/v1.db", dir);
    sqlite3 *db;
    cr_assert_eq(sqlite3_open(path, &db), SQLITE_OK);
    cr_assert_eq(sqlite3_exec(db, schema_v1, NULL, NULL, NULL), SQLITE_OK);
    cr_assert_eq(sqlite3_exec(db, rows, NULL, NULL, NULL), SQLITE_OK, "%s", sqlite3_errmsg(db));
    sqlite3_close(db);
    char url[160], *err = NULL;
    snprintf(url, sizeof url, "sqlite:%s", path);
    struct store_options opt = {.durability = STORE_DURABILITY_NORMAL};
    struct store *s = store_open(url, &opt, &err);
    cr_assert_not_null(s, "%s", err ? err : "?");
    return s;
}

static void remove_dir(void)
{
    char cmd[200];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    cr_expect_eq(system(cmd), 0);
}

static void collect(const char *doc, size_t len, void *arg)
{
    (void)doc;
    (void)len;
    (*(int *)arg)++;
}

struct query_arg {
    struct store_query q;
    int found;
    int64_t total;
};

static int query_cb(struct store_txn *t, void *arg)
{
    struct query_arg *a = arg;
    return store_query(t, &a->q, collect, &a->found, &a->total);
}

static int count(struct store *s, void (*filter)(struct store_query *q), enum store_kind kind)
{
    struct query_arg *a = calloc(1, sizeof *a);
    a->q.kind = kind;
    a->q.stream_id = "st-1";
    a->q.account_id = "acc-1";
    a->q.limit = 50;
    filter(&a->q);
    cr_assert_eq(store_read(s, query_cb, a), STORE_OK);
    int n = a->found;
    cr_assert_eq(a->total, n);
    free(a);
    return n;
}

static void no_filter(struct store_query *q)
{
    (void)q;
}

static void by_chat(struct store_query *q)
{
    q->channels.v[q->channels.n++] = "chat";
}

static void by_billing(struct store_query *q)
{
    q->queues.v[q->queues.n++] = "Billing";
}

static void by_search(struct store_query *q)
{
    q->search = "fire";
}

static json_t *three;

static void by_severity(struct store_query *q)
{
    q->fields[0].by_name = true;
    q->fields[0].field = "sev";
    q->fields[0].values[0] = three;
    q->fields[0].n = 1;
    q->nfields = 1;
}

Test(store_migrate, a_first_version_file_is_migrated_in_place)
{
    struct store *s = open_first_version(rows_v1);

    /* what the later versions added was back-filled from the old rows */
    three = json_integer(3);
    cr_expect_eq(count(s, no_filter, STORE_CASE), 1, "the per-tenant count");
    cr_expect_eq(count(s, no_filter, STORE_TASK), 1);
    cr_expect_eq(count(s, by_chat, STORE_CASE), 1, "channel values");
    cr_expect_eq(count(s, by_chat, STORE_TASK), 0);
    cr_expect_eq(count(s, by_billing, STORE_CASE), 1, "queue names");
    cr_expect_eq(count(s, by_search, STORE_CASE), 1, "the name search index");
    cr_expect_eq(count(s, by_search, STORE_TASK), 0, "keyed by tenant and kind");
    cr_expect_eq(count(s, by_severity, STORE_CASE), 1, "custom field values");
    json_decref(three);
    store_close(s);

    sqlite3 *db;
    cr_assert_eq(sqlite3_open(path, &db), SQLITE_OK);
    sqlite3_stmt *st;
    /* version 6 replaced the name index of version 3 */
    cr_assert_eq(sqlite3_prepare_v2(db, "SELECT group_concat(name, ' ') FROM (SELECT name FROM"
                                        " sqlite_schema WHERE name GLOB 'records_fts*' OR name ="
                                        " 'record_names' OR name GLOB 'records_names_*'"
                                        " ORDER BY name)",
                                    -1, &st, NULL),
                 SQLITE_OK);
    cr_assert_eq(sqlite3_step(st), SQLITE_ROW);
    cr_expect_str_eq((const char *)sqlite3_column_text(st, 0),
                     "record_names records_names_insert records_names_update");
    sqlite3_finalize(st);
    cr_assert_eq(sqlite3_prepare_v2(db, "SELECT ref_seq, source FROM records WHERE id = 'ti-1'",
                                    -1, &st, NULL),
                 SQLITE_OK);
    cr_assert_eq(sqlite3_step(st), SQLITE_ROW);
    cr_expect_eq(sqlite3_column_int(st, 0), 1);
    cr_expect_str_eq((const char *)sqlite3_column_text(st, 1), "email");
    sqlite3_finalize(st);
    sqlite3_close(db);
    remove_dir();
}

/* Many tasks of the first schema, created at times spread over buckets of 2^24 ms (the later
 * record_created_buckets): a few in each of 300 buckets, and 40 more in each of the oldest 20,
 * some at equal times, some before 1970; ids in another order than the times. */
#define OLD_TASKS 1500

static int64_t old_created(int i)
{
    return (int64_t)((i * 37) % (i < 700 ? 300 : 20) - 50) * (INT64_C(1) << 24) + (i % 7) * 1000;
}

static void old_id(int i, char *out, size_t size)
{
    snprintf(out, size, "tm-%04d", (i * 7919) % 10000);
}

static const char *const rows_old_tasks =
    "WITH RECURSIVE s(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM s WHERE i < 1499)"
    " INSERT INTO records SELECT printf('tm-%04d', (i * 7919) % 10000), 1, 'st-1', 'acc-1',"
    "  printf('TS%06d', i), 'ci-1', 'old task', 'Open', 'open', 'Medium', 10, NULL,"
    "  ((i * 37) % CASE WHEN i < 700 THEN 300 ELSE 20 END - 50) * 16777216 + (i % 7) * 1000,"
    "  0, NULL, 1,"
    "  printf('{\"_id\":\"tm-%04d\"}', (i * 7919) % 10000) FROM s;";

struct old_task {
    char id[16];
    int64_t created;
};

static bool old_desc;

static int old_cmp(const void *pa, const void *pb)
{
    const struct old_task *a = pa, *b = pb;
    int c = (a->created > b->created) - (a->created < b->created);
    if (c == 0)
        c = strcmp(a->id, b->id);
    return old_desc ? -c : c;
}

struct old_page {
    struct store_query q;
    char ids[50][16];
    int found;
    int64_t total;
};

static void old_doc(const char *doc, size_t len, void *arg)
{
    struct old_page *a = arg;
    const char *id = strstr(doc, "tm-");
    cr_assert_not_null(id, "%.*s", (int)len, doc);
    cr_assert_lt(a->found, 50);
    snprintf(a->ids[a->found++], sizeof a->ids[0], "%.7s", id);
}

static int old_page_cb(struct store_txn *t, void *arg)
{
    struct old_page *a = arg;
    return store_query(t, &a->q, old_doc, a, &a->total);
}

Test(store_migrate, deep_pages_of_a_first_version_file_follow_the_back_filled_counts)
{
    struct store *s = open_first_version(rows_old_tasks);

    static struct old_task sorted[OLD_TASKS];
    for (old_desc = false;; old_desc = true) {
        for (int i = 0; i < OLD_TASKS; i++) {
            old_id(i, sorted[i].id, sizeof sorted[i].id);
            sorted[i].created = old_created(i);
        }
        qsort(sorted, OLD_TASKS, sizeof sorted[0], old_cmp);
        for (int64_t skip = 0; skip <= OLD_TASKS; skip += 17) {
            struct old_page *a = calloc(1, sizeof *a);
            a->q = (struct store_query){.kind = STORE_TASK,
                                        .stream_id = "st-1",
                                        .account_id = "acc-1",
                                        .sort = STORE_SORT_CREATED,
                                        .descending = old_desc,
                                        .skip = skip,
                                        .limit = 50};
            cr_assert_eq(store_read(s, old_page_cb, a), STORE_OK);
            cr_assert_eq(a->total, OLD_TASKS);
            int64_t want = OLD_TASKS - skip < 50 ? OLD_TASKS - skip : 50;
            cr_assert_eq(a->found, want, "desc %d skip %lld", old_desc, (long long)skip);
            for (int k = 0; k < a->found; k++)
                cr_assert_str_eq(a->ids[k], sorted[skip + k].id, "desc %d skip %lld: row %d",
                                 old_desc, (long long)skip, k);
            free(a);
        }
        if (old_desc)
            break;
    }
    store_close(s);

    /* the counts came from the old rows: one row a bucket, none empty */
    sqlite3 *db;
    cr_assert_eq(sqlite3_open(path, &db), SQLITE_OK);
    sqlite3_stmt *st;
    cr_assert_eq(sqlite3_prepare_v2(db,
                                    "SELECT count(*), sum(n), min(n) > 0 FROM"
                                    " record_created_buckets WHERE kind = 1",
                                    -1, &st, NULL),
                 SQLITE_OK);
    cr_assert_eq(sqlite3_step(st), SQLITE_ROW);
    cr_expect_eq(sqlite3_column_int(st, 0), 300);
    cr_expect_eq(sqlite3_column_int(st, 1), OLD_TASKS);
    cr_expect_eq(sqlite3_column_int(st, 2), 1);
    sqlite3_finalize(st);
    sqlite3_close(db);
    remove_dir();
}

/* The same tasks: one name, one priority, no dueDate, ids in another order than their refIds.
 * Since migration 14 a sort by dueDate, priority or name gives ties in refId order (then id),
 * in the sort's direction, on a migrated file too: on pages deep in the run of ties as well. */
Test(store_migrate, ties_of_a_first_version_file_are_in_reference_order)
{
    struct store *s = open_first_version(rows_old_tasks);

    static const enum store_sort sorts[] = {STORE_SORT_DUE, STORE_SORT_PRIORITY, STORE_SORT_NAME};
    for (size_t k = 0; k < sizeof sorts / sizeof sorts[0]; k++)
        for (int desc = 0; desc < 2; desc++)
            for (int64_t skip = 0; skip < OLD_TASKS; skip += 725) {
                struct old_page *a = calloc(1, sizeof *a);
                a->q = (struct store_query){.kind = STORE_TASK,
                                            .stream_id = "st-1",
                                            .account_id = "acc-1",
                                            .sort = sorts[k],
                                            .descending = desc,
                                            .skip = skip,
                                            .limit = 50};
                cr_assert_eq(store_read(s, old_page_cb, a), STORE_OK);
                cr_assert_eq(a->found, 50);
                for (int j = 0; j < a->found; j++) {
                    int64_t i = desc ? OLD_TASKS - 1 - (skip + j) : skip + j; /* TS%06d of i */
                    char id[16];
                    old_id((int)i, id, sizeof id);
                    cr_assert_str_eq(a->ids[j], id, "sort %d desc %d skip %lld: row %d",
                                     (int)sorts[k], desc, (long long)skip, j);
                }
                free(a);
            }
    store_close(s);
    remove_dir();
}

/* Tasks whose currAssignee has no _id: the vendor's shape names the user by agentId. Since
 * migration 17 the assignee filters find them, and the other tasks are as they were: one with an
 * empty agentId, one with an agentId that is not a string, and ti-1, assigned by _id. (A stored
 * text that is not JSON stops earlier migrations already, so none is here.) */
static const char *const rows_agent_ids =
    "INSERT INTO records VALUES ('ti-2', 1, 'st-1', 'acc-1', 'TS000002', 'ci-1', 'by agent id',"
    "  'Open', 'open', 'Medium', 10, NULL, 1600, 2600, NULL, 1,"
    "  '{\"_id\":\"ti-2\",\"currAssignee\":{\"aId\":\"a-1\",\"name\":\"Ann\",\"agentId\":\"u-8\"}}');"
    "INSERT INTO records VALUES ('ti-3', 1, 'st-1', 'acc-1', 'TS000003', 'ci-1', 'empty agent',"
    "  'Open', 'open', 'Medium', 10, NULL, 1700, 2700, NULL, 1,"
    "  '{\"_id\":\"ti-3\",\"currAssignee\":{\"agentId\":\"\"}}');"
    "INSERT INTO records VALUES ('ti-4', 1, 'st-1', 'acc-1', 'TS000004', 'ci-1', 'numeric agent',"
    "  'Open', 'open', 'Medium', 10, NULL, 1800, 2800, NULL, 1,"
    "  '{\"_id\":\"ti-4\",\"currAssignee\":{\"agentId\":8}}');";

static void by_u8(struct store_query *q)
{
    q->assignee = "u-8";
}

static void by_agents(struct store_query *q)
{
    q->agents.v[q->agents.n++] = "u-8";
    q->agents.v[q->agents.n++] = "u-7";
}

static void unassigned(struct store_query *q)
{
    q->unassigned = true;
}

Test(store_migrate, an_assignee_named_by_agent_id_is_found_after_migration)
{
    char *rows = malloc(strlen(rows_v1) + strlen(rows_agent_ids) + 1);
    strcpy(rows, rows_v1);
    strcat(rows, rows_agent_ids);
    struct store *s = open_first_version(rows);
    free(rows);
    cr_expect_eq(count(s, by_u8, STORE_TASK), 1, "mytask of u-8");
    cr_expect_eq(count(s, by_agents, STORE_TASK), 2, "agents u-8 and u-7 (ti-1, by _id)");
    cr_expect_eq(count(s, unassigned, STORE_TASK), 2, "ti-3 and ti-4 stay unassigned");
    store_close(s);
    remove_dir();
}
