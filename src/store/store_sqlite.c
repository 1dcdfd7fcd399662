/* store_sqlite — the embedded backend: one SQLite file in WAL mode, statements prepared once
 * per connection.
 *
 * Reads run on the calling thread's own connection (WAL readers never block the writer).
 * Writes go to one writer thread with its own connection, which commits them in groups: it takes
 * every write queued so far, runs each inside BEGIN IMMEDIATE under its own SAVEPOINT (so one
 * write's failure rolls back only that write), then COMMITs once, and each caller is woken with
 * its result only once the commit is durable; a failed commit fails every write of the group.
 *
 * With --durability full the COMMIT itself does not sync (the writer's connection runs
 * synchronous=NORMAL): a syncer thread fdatasyncs the WAL for every group committed so far and
 * only then wakes their callers, while the writer already runs the next group (one group at
 * most ahead of the sync, PIPELINE_DEPTH). A group's commit is visible to readers before it is
 * durable, so an answer built from a read waits for the sync too: a read notes the newest commit
 * it may have seen, and store_settle, called before the answer, waits until that is synced.
 *
 * Checkpoints (copying the WAL back into the database file, with their own fsyncs) would stall
 * the writer if it ran them on commit, as SQLite does by default; a checkpointer thread runs them
 * instead, PASSIVE, when the WAL has grown by CHECKPOINT_FRAMES since the last one. A writeback
 * thread starts the disk writes of the pages they copy within a millisecond (writeback_main). */
#include "store/backend.h"
#include "store/matchcache.h"
#include "store/pagecache.h"
#include "store/ridhint.h"
#include "store/walbuf.h"

#include <lz4.h>
#include <pthread.h>
#include <semaphore.h>
#include <sqlite3.h>
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <fcntl.h>
#include <unistd.h>

#include "util/log.h"
#include "util/mem.h"
#include "util/scalar.h"
#include "util/time.h"
#include "util/wait.h"

/* Schema versions, applied in order; PRAGMA user_version records how many have run.
 * Never edit a shipped entry: append a new one (DESIGN.md §4, migrations in place). */
/* migration 21: a write of table's rows (event INSERT, UPDATE or DELETE) changes the catalog's
 * version */
#define CATALOG_TRIGGER(table, event)                                                          \
    "CREATE TRIGGER " table "_catalog_" event " AFTER " event " ON " table                    \
    " BEGIN UPDATE catalog_version SET v = random(); END;"

static const char *const migrations[] = {
    /* 1: apps, stream configuration, counters, records, idempotency keys, seen jtis */
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
    "CREATE INDEX jti_exp ON jti (exp);",
    /* 2: activities, one per successful change of a record (API.md §7) */
    "CREATE TABLE activities (seq INTEGER PRIMARY KEY, id TEXT NOT NULL,"
    "  stream_id TEXT NOT NULL, account_id TEXT NOT NULL, record_id TEXT NOT NULL,"
    "  created_at INTEGER NOT NULL, doc TEXT NOT NULL);"
    "CREATE INDEX activities_record ON activities (record_id, seq);",
    /* 3: what list queries filter and sort on (API.md §8): more columns and indexes, a trigram
     * index of names for substring search, the multi-valued members (channel, queues, custom
     * field values) in a side table, and per-tenant counts for the unfiltered total. All are
     * kept by triggers from the row and its document, and back-filled here. */
    "ALTER TABLE records ADD COLUMN source TEXT;"
    "ALTER TABLE records ADD COLUMN ref_seq INTEGER;"
    "ALTER TABLE records ADD COLUMN breached INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE records ADD COLUMN due_asc INTEGER"
    "  GENERATED ALWAYS AS (coalesce(due_date, 9223372036854775807)) VIRTUAL;"
    "UPDATE records SET source = json_extract(doc, '$.source'),"
    "  ref_seq = CAST(substr(ref_id, 3) AS INTEGER),"
    "  breached = coalesce(json_extract(doc, '$.isBreached'), 0);"
    "CREATE INDEX records_updated ON records (stream_id, account_id, kind, updated_at, id);"
    "CREATE INDEX records_due ON records (stream_id, account_id, kind, due_date, id);"
    "CREATE INDEX records_due_asc ON records (stream_id, account_id, kind, due_asc, id);"
    "CREATE INDEX records_priority ON records (stream_id, account_id, kind, priority_score, id);"
    "CREATE INDEX records_name ON records (stream_id, account_id, kind, name_lower, id);"
    "CREATE INDEX records_ref_seq ON records (stream_id, account_id, kind, ref_seq, id);"
    "CREATE INDEX records_assignee ON records (stream_id, account_id, kind, assignee, created_at,"
    "  id);"
    "CREATE INDEX records_status ON records (stream_id, account_id, kind, status_category,"
    "  priority_name, due_date);"
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
    "CREATE TABLE record_values (rid INTEGER NOT NULL, k TEXT NOT NULL, v TEXT NOT NULL);"
    "CREATE INDEX record_values_kv ON record_values (k, v, rid);"
    "CREATE INDEX record_values_rid ON record_values (rid);"
    /* back-fill of the values the application writes from now on (store_record.values) */
    "INSERT INTO record_values (rid, k, v)"
    "  SELECT r.rowid, 'ch', j.value FROM records r, json_each(r.doc, '$.channel') j"
    "    WHERE j.type = 'text'"
    "  UNION ALL SELECT r.rowid, 'qu', j.value FROM records r, json_each(r.doc, '$.queues') j"
    "    WHERE j.type = 'text'"
    "  UNION ALL SELECT r.rowid, 'qu', json_extract(j.value, '$._id')"
    "    FROM records r, json_each(r.doc, '$.queues') j"
    "    WHERE j.type = 'object' AND json_type(j.value, '$._id') = 'text'"
    "  UNION ALL SELECT r.rowid, 'qu', json_extract(j.value, '$.name')"
    "    FROM records r, json_each(r.doc, '$.queues') j"
    "    WHERE j.type = 'object' AND json_type(j.value, '$.name') = 'text'"
    "  UNION ALL SELECT r.rowid, k.p || char(31) || json_extract(j.value, k.path),"
    "    CASE json_type(j.value, '$.selectedValue') WHEN 'true' THEN 'true'"
    "      WHEN 'false' THEN 'false'"
    "      ELSE CAST(json_extract(j.value, '$.selectedValue') AS TEXT) END"
    "    FROM records r, json_each(r.doc, '$.fields') j,"
    "      (SELECT 'f' AS p, '$._id' AS path UNION ALL SELECT 'n', '$.metaData.name') k"
    "    WHERE json_extract(j.value, '$.type') = 'custom'"
    "    AND json_type(j.value, k.path) = 'text'"
    "    AND json_type(j.value, '$.selectedValue') IN ('text', 'integer', 'real', 'true', 'false');"
    "CREATE TABLE record_counts (stream_id TEXT NOT NULL, account_id TEXT NOT NULL,"
    "  kind INTEGER NOT NULL, n INTEGER NOT NULL, PRIMARY KEY (stream_id, account_id, kind))"
    "  WITHOUT ROWID;"
    "INSERT INTO record_counts SELECT stream_id, account_id, kind, count(*) FROM records"
    "  GROUP BY stream_id, account_id, kind;"
    "CREATE TRIGGER records_count AFTER INSERT ON records BEGIN"
    "  INSERT INTO record_counts (stream_id, account_id, kind, n)"
    "  VALUES (new.stream_id, new.account_id, new.kind, 1)"
    "  ON CONFLICT (stream_id, account_id, kind) DO UPDATE SET n = n + 1; END;",
    /* 4: documents in a table of their own. A records row is then a few hundred bytes instead
     * of kilobytes, so the scans and joins list queries make read a tenth of the pages.
     * records.doc stays (SQLite could only drop it by rewriting the table) and is left empty. */
    "CREATE TABLE record_docs (rid INTEGER PRIMARY KEY, doc TEXT NOT NULL);"
    "INSERT INTO record_docs SELECT rowid, doc FROM records;"
    "UPDATE records SET doc = '';",
    /* 5: the name index is written once per group of writes instead of once per write. FTS5
     * flushes what it holds in memory into a new segment at every savepoint, and the writer runs
     * each write of a group in a savepoint of its own: a createTask cost ~300k instructions in
     * FTS5 alone. The triggers now queue the changes in fts_pending, an ordinary table (so a
     * write rolled back to its savepoint takes its rows back with it), and the writer moves them
     * into records_fts in one statement before each COMMIT (fts_apply). */
    "CREATE TABLE fts_pending (seq INTEGER PRIMARY KEY, rid INTEGER NOT NULL,"
    "  del INTEGER NOT NULL, name TEXT NOT NULL);"
    "DROP TRIGGER IF EXISTS records_fts_insert;"
    "DROP TRIGGER IF EXISTS records_fts_update;"
    "CREATE TRIGGER records_fts_insert AFTER INSERT ON records BEGIN"
    "  INSERT INTO fts_pending (rid, del, name) VALUES (new.rowid, 0, new.name_lower); END;"
    "CREATE TRIGGER records_fts_update AFTER UPDATE OF name_lower ON records"
    "  WHEN old.name_lower IS NOT new.name_lower BEGIN"
    "  INSERT INTO fts_pending (rid, del, name) VALUES (old.rowid, 1, old.name_lower);"
    "  INSERT INTO fts_pending (rid, del, name) VALUES (new.rowid, 0, new.name_lower); END;",
    /* 6: the name index keyed by tenant. records_fts held every tenant's names under the records
     * rowid, so a search read each match's row to learn whose it was: 10,000 random row reads
     * for a word in 1 % of a million names, twice (count and page). record_names holds the same
     * trigrams under (scope << 40) + rowid, where record_scopes numbers each (stream, account,
     * kind): one tenant's matches are one rowid range, which FTS5 seeks to and counts without
     * reading a row. It is contentless (the names stay in records; 'delete' is handed the old
     * name), and it bounds records' rowids to 2^40. The triggers queue changes in fts_pending
     * under the new rowids, and fts_apply moves them into record_names (migration 5). */
    "CREATE TABLE record_scopes (scope INTEGER PRIMARY KEY, stream_id TEXT NOT NULL,"
    "  account_id TEXT NOT NULL, kind INTEGER NOT NULL, UNIQUE (stream_id, account_id, kind));"
    "INSERT INTO record_scopes (stream_id, account_id, kind)"
    "  SELECT stream_id, account_id, kind FROM records GROUP BY stream_id, account_id, kind;"
    "DROP TRIGGER records_fts_insert;"
    "DROP TRIGGER records_fts_update;"
    "DROP TABLE records_fts;"
    "DELETE FROM fts_pending;"
    "CREATE VIRTUAL TABLE record_names USING fts5 (name_lower, content = '',"
    "  tokenize = 'trigram case_sensitive 1');"
    "INSERT INTO record_names (rowid, name_lower)"
    "  SELECT (s.scope << 40) + r.rowid, r.name_lower FROM records r JOIN record_scopes s"
    "    ON s.stream_id = r.stream_id AND s.account_id = r.account_id AND s.kind = r.kind;"
    /* one segment instead of the dozens a large INSERT leaves: a phrase is then read from one
     * doclist per trigram (for a word in 1 % of a million names, 1.3 ms of CPU instead of 2.5) */
    "INSERT INTO record_names (record_names) VALUES ('optimize');"
    "CREATE TRIGGER records_names_insert AFTER INSERT ON records BEGIN"
    "  INSERT INTO record_scopes (stream_id, account_id, kind)"
    "    VALUES (new.stream_id, new.account_id, new.kind) ON CONFLICT DO NOTHING;"
    "  INSERT INTO fts_pending (rid, del, name) VALUES (((SELECT scope FROM record_scopes"
    "    WHERE stream_id = new.stream_id AND account_id = new.account_id AND kind = new.kind)"
    "    << 40) + new.rowid, 0, new.name_lower); END;"
    "CREATE TRIGGER records_names_update AFTER UPDATE OF name_lower ON records"
    "  WHEN old.name_lower IS NOT new.name_lower BEGIN"
    "  INSERT INTO fts_pending (rid, del, name) VALUES (((SELECT scope FROM record_scopes"
    "    WHERE stream_id = old.stream_id AND account_id = old.account_id AND kind = old.kind)"
    "    << 40) + old.rowid, 1, old.name_lower);"
    "  INSERT INTO fts_pending (rid, del, name) VALUES (((SELECT scope FROM record_scopes"
    "    WHERE stream_id = new.stream_id AND account_id = new.account_id AND kind = new.kind)"
    "    << 40) + new.rowid, 0, new.name_lower); END;",
    /* 7: counts per tenant, kind, status and priority. The total of a list filtered on nothing
     * but unresolved, priority[] and status[] (the agents' "open, critical first") is then a
     * sum over a few rows, where counting walked every matching index entry: 65,000 for the
     * unresolved Critical tasks of a million. A NULL column stays NULL, so the list query's
     * own WHERE clause picks the groups its rows are in; the triggers find a group with IS. */
    "CREATE TABLE record_status_counts (stream_id TEXT NOT NULL, account_id TEXT NOT NULL,"
    "  kind INTEGER NOT NULL, status_category TEXT, status_name TEXT, priority_name TEXT,"
    "  n INTEGER NOT NULL);"
    "CREATE INDEX record_status_counts_group ON record_status_counts (stream_id, account_id,"
    "  kind, status_category, status_name, priority_name);"
    "INSERT INTO record_status_counts SELECT stream_id, account_id, kind, status_category,"
    "  status_name, priority_name, count(*) FROM records"
    "  GROUP BY stream_id, account_id, kind, status_category, status_name, priority_name;"
    "CREATE TRIGGER records_status_insert AFTER INSERT ON records BEGIN"
    "  INSERT INTO record_status_counts SELECT new.stream_id, new.account_id, new.kind,"
    "    new.status_category, new.status_name, new.priority_name, 0 WHERE NOT EXISTS"
    "    (SELECT 1 FROM record_status_counts WHERE stream_id = new.stream_id"
    "    AND account_id = new.account_id AND kind = new.kind"
    "    AND status_category IS new.status_category AND status_name IS new.status_name"
    "    AND priority_name IS new.priority_name);"
    "  UPDATE record_status_counts SET n = n + 1 WHERE stream_id = new.stream_id"
    "    AND account_id = new.account_id AND kind = new.kind"
    "    AND status_category IS new.status_category AND status_name IS new.status_name"
    "    AND priority_name IS new.priority_name; END;"
    "CREATE TRIGGER records_status_update AFTER UPDATE OF status_category, status_name,"
    "  priority_name ON records WHEN old.status_category IS NOT new.status_category"
    "  OR old.status_name IS NOT new.status_name OR old.priority_name IS NOT new.priority_name"
    "  BEGIN"
    "  UPDATE record_status_counts SET n = n - 1 WHERE stream_id = old.stream_id"
    "    AND account_id = old.account_id AND kind = old.kind"
    "    AND status_category IS old.status_category AND status_name IS old.status_name"
    "    AND priority_name IS old.priority_name;"
    "  INSERT INTO record_status_counts SELECT new.stream_id, new.account_id, new.kind,"
    "    new.status_category, new.status_name, new.priority_name, 0 WHERE NOT EXISTS"
    "    (SELECT 1 FROM record_status_counts WHERE stream_id = new.stream_id"
    "    AND account_id = new.account_id AND kind = new.kind"
    "    AND status_category IS new.status_category AND status_name IS new.status_name"
    "    AND priority_name IS new.priority_name);"
    "  UPDATE record_status_counts SET n = n + 1 WHERE stream_id = new.stream_id"
    "    AND account_id = new.account_id AND kind = new.kind"
    "    AND status_category IS new.status_category AND status_name IS new.status_name"
    "    AND priority_name IS new.priority_name; END;",
    /* 8: the counts of migration 7 per assignee as well, so that the totals of "my tasks"
     * (mytask, mycase), agents[] and unassigned, alone or with the status filters, are sums over
     * a few groups: counting the 20,000 tasks of one agent among a million read 20,000 index
     * entries (1.3 ms of CPU). A table of its own, keyed by assignee first, so that the status
     * filters alone still sum migration 7's few groups (with the assignee in them, "unresolved
     * Critical" summed 2,000 of 4,000 groups for 200 agents). And the dueDate indexes carry the
     * status category and priority after the row id, so that "unresolved, Critical, by dueDate"
     * filters index entries as it walks them, where it read the row of each (12 % of its
     * entries match, so 400 rows for a page of 50). */
    "CREATE TABLE record_assignee_counts (stream_id TEXT NOT NULL, account_id TEXT NOT NULL,"
    "  kind INTEGER NOT NULL, assignee TEXT, status_category TEXT, status_name TEXT,"
    "  priority_name TEXT, n INTEGER NOT NULL);"
    "CREATE INDEX record_assignee_counts_group ON record_assignee_counts (stream_id,"
    "  account_id, kind, assignee, status_category, status_name, priority_name);"
    "INSERT INTO record_assignee_counts SELECT stream_id, account_id, kind, assignee,"
    "  status_category, status_name, priority_name, count(*) FROM records"
    "  GROUP BY stream_id, account_id, kind, assignee, status_category, status_name,"
    "  priority_name;"
    /* migration 7's triggers again, a look-up less each: the group's count is raised, and
     * the group made only when no row changed (changes() counts the trigger's own statements) */
    "DROP TRIGGER records_status_insert;"
    "DROP TRIGGER records_status_update;"
    "CREATE TRIGGER records_status_insert AFTER INSERT ON records BEGIN"
    "  UPDATE record_status_counts SET n = n + 1 WHERE stream_id = new.stream_id"
    "    AND account_id = new.account_id AND kind = new.kind"
    "    AND status_category IS new.status_category AND status_name IS new.status_name"
    "    AND priority_name IS new.priority_name;"
    "  INSERT INTO record_status_counts SELECT new.stream_id, new.account_id, new.kind,"
    "    new.status_category, new.status_name, new.priority_name, 1"
    "    WHERE changes() = 0; END;"
    "CREATE TRIGGER records_status_update AFTER UPDATE OF status_category, status_name,"
    "  priority_name ON records WHEN old.status_category IS NOT new.status_category"
    "  OR old.status_name IS NOT new.status_name OR old.priority_name IS NOT new.priority_name"
    "  BEGIN"
    "  UPDATE record_status_counts SET n = n - 1 WHERE stream_id = old.stream_id"
    "    AND account_id = old.account_id AND kind = old.kind"
    "    AND status_category IS old.status_category AND status_name IS old.status_name"
    "    AND priority_name IS old.priority_name;"
    "  UPDATE record_status_counts SET n = n + 1 WHERE stream_id = new.stream_id"
    "    AND account_id = new.account_id AND kind = new.kind"
    "    AND status_category IS new.status_category AND status_name IS new.status_name"
    "    AND priority_name IS new.priority_name;"
    "  INSERT INTO record_status_counts SELECT new.stream_id, new.account_id, new.kind,"
    "    new.status_category, new.status_name, new.priority_name, 1"
    "    WHERE changes() = 0; END;"
    "CREATE TRIGGER records_assignee_insert AFTER INSERT ON records BEGIN"
    "  UPDATE record_assignee_counts SET n = n + 1 WHERE stream_id = new.stream_id"
    "    AND account_id = new.account_id AND kind = new.kind AND assignee IS new.assignee"
    "    AND status_category IS new.status_category AND status_name IS new.status_name"
    "    AND priority_name IS new.priority_name;"
    "  INSERT INTO record_assignee_counts SELECT new.stream_id, new.account_id, new.kind,"
    "    new.assignee, new.status_category, new.status_name, new.priority_name, 1"
    "    WHERE changes() = 0; END;"
    "CREATE TRIGGER records_assignee_update AFTER UPDATE OF assignee, status_category,"
    "  status_name, priority_name ON records WHEN old.assignee IS NOT new.assignee"
    "  OR old.status_category IS NOT new.status_category OR old.status_name IS NOT"
    "  new.status_name OR old.priority_name IS NOT new.priority_name BEGIN"
    "  UPDATE record_assignee_counts SET n = n - 1 WHERE stream_id = old.stream_id"
    "    AND account_id = old.account_id AND kind = old.kind AND assignee IS old.assignee"
    "    AND status_category IS old.status_category AND status_name IS old.status_name"
    "    AND priority_name IS old.priority_name;"
    "  UPDATE record_assignee_counts SET n = n + 1 WHERE stream_id = new.stream_id"
    "    AND account_id = new.account_id AND kind = new.kind AND assignee IS new.assignee"
    "    AND status_category IS new.status_category AND status_name IS new.status_name"
    "    AND priority_name IS new.priority_name;"
    "  INSERT INTO record_assignee_counts SELECT new.stream_id, new.account_id, new.kind,"
    "    new.assignee, new.status_category, new.status_name, new.priority_name, 1"
    "    WHERE changes() = 0; END;"
    "DROP INDEX records_due;"
    "CREATE INDEX records_due ON records (stream_id, account_id, kind, due_date, id,"
    "  status_category, priority_name);"
    "DROP INDEX records_due_asc;"
    "CREATE INDEX records_due_asc ON records (stream_id, account_id, kind, due_asc, id,"
    "  status_category, priority_name);",
    /* 9: a generation of each tenant's names, raised by every commit that changes one of them
     * (by fts_apply; since migration 10 by the triggers) and by a bulk load, so that a search's
     * matches kept in memory (matchcache.h) are known to be still what the name index holds */
    "ALTER TABLE record_scopes ADD COLUMN names_gen INTEGER NOT NULL DEFAULT 0;",
    /* 10: the name index written once per batch of changes, not once per group of writes
     * (migration 5): FTS5 wrote a segment of a few names at each COMMIT and merged segments
     * again and again, 140,000 instructions a createTask. The writer applies fts_pending when it
     * holds FTS_BATCH changes, or when the writer has been idle for FTS_IDLE_MS; until then
     * searches read the queued names too (fill_matches), by rowid through fts_pending_rid.
     * The names generation (migration 9) is raised by the triggers, with each change queued. */
    "CREATE INDEX fts_pending_rid ON fts_pending (rid, seq);"
    "DROP TRIGGER records_names_insert;"
    "DROP TRIGGER records_names_update;"
    "CREATE TRIGGER records_names_insert AFTER INSERT ON records BEGIN"
    "  INSERT INTO record_scopes (stream_id, account_id, kind)"
    "    VALUES (new.stream_id, new.account_id, new.kind) ON CONFLICT DO NOTHING;"
    "  UPDATE record_scopes SET names_gen = names_gen + 1 WHERE stream_id = new.stream_id"
    "    AND account_id = new.account_id AND kind = new.kind;"
    "  INSERT INTO fts_pending (rid, del, name) VALUES (((SELECT scope FROM record_scopes"
    "    WHERE stream_id = new.stream_id AND account_id = new.account_id"
    "    AND kind = new.kind) << 40) + new.rowid, 0, new.name_lower); END;"
    "CREATE TRIGGER records_names_update AFTER UPDATE OF name_lower ON records"
    "  WHEN old.name_lower IS NOT new.name_lower BEGIN"
    "  UPDATE record_scopes SET names_gen = names_gen + 1 WHERE stream_id = new.stream_id"
    "    AND account_id = new.account_id AND kind = new.kind;"
    "  INSERT INTO fts_pending (rid, del, name) VALUES (((SELECT scope FROM record_scopes"
    "    WHERE stream_id = new.stream_id AND account_id = new.account_id"
    "    AND kind = new.kind) << 40) + old.rowid, 1, old.name_lower);"
    "  INSERT INTO fts_pending (rid, del, name) VALUES (((SELECT scope FROM record_scopes"
    "    WHERE stream_id = new.stream_id AND account_id = new.account_id"
    "    AND kind = new.kind) << 40) + new.rowid, 0, new.name_lower); END;",
    /* 11: record_created_buckets: the tenant's records counted by creation time, in buckets of
     * 2^24 ms (4.7 hours; CREATED_SHIFT), so that a page deep in creation order is found without
     * stepping through every index entry before it (see created_start). created_at is set when a
     * record is inserted and never changes (a managed member; no UPDATE writes it) and records
     * are never deleted, so a trigger on insert keeps the counts. The shift is an arithmetic one:
     * a bucket is created_at divided by 2^24, rounded down, for times before 1970 too. */
    "CREATE TABLE record_created_buckets (stream_id TEXT NOT NULL, account_id TEXT NOT NULL,"
    "  kind INTEGER NOT NULL, bucket INTEGER NOT NULL, n INTEGER NOT NULL,"
    "  PRIMARY KEY (stream_id, account_id, kind, bucket)) WITHOUT ROWID;"
    "INSERT INTO record_created_buckets SELECT stream_id, account_id, kind, created_at >> 24,"
    "  count(*) FROM records GROUP BY stream_id, account_id, kind, created_at >> 24;"
    "CREATE TRIGGER records_created_insert AFTER INSERT ON records BEGIN"
    "  INSERT INTO record_created_buckets (stream_id, account_id, kind, bucket, n)"
    "  VALUES (new.stream_id, new.account_id, new.kind, new.created_at >> 24, 1)"
    "  ON CONFLICT (stream_id, account_id, kind, bucket) DO UPDATE SET n = n + 1; END;",
    /* 12: a record's activities are listed from record_docs.acts, their seqs oldest first, each
     * followed by a comma, appended by the update that writes them (sqlite_record_update). The
     * index on (record_id, seq) it replaces cost every update a write to a page of its own,
     * picked at random by the record's id (a fifth of the WAL an update wrote); the row of
     * record_docs is written by the update anyway. */
    "ALTER TABLE record_docs ADD COLUMN acts TEXT;"
    "UPDATE record_docs SET acts = (SELECT group_concat(seq || ',', '') FROM (SELECT a.seq"
    "  FROM records r JOIN activities a ON a.record_id = r.id WHERE r.rowid = record_docs.rid"
    "  ORDER BY a.seq)) WHERE rid IN (SELECT r.rowid FROM records r"
    "  WHERE r.id IN (SELECT record_id FROM activities));"
    "DROP INDEX activities_record;",
    /* 13: the ids of a case's tasks created since its document was last written, in order
     * (store_case_add_task). A createTask wrote its case's whole document again to append one id
     * to taskIds: a page and its overflow pages per create, growing with the case (at 25,000
     * tasks a 1 MB document, ~250 pages of WAL per create, on the single writer). The readers of a
     * case's document append these to its taskIds (with_task_adds); a write of the whole document
     * takes them in and clears them. */
    "CREATE TABLE IF NOT EXISTS case_task_adds (rid INTEGER NOT NULL,"
    "  seq INTEGER NOT NULL, task_id TEXT NOT NULL,"
    "  PRIMARY KEY (rid, seq)) WITHOUT ROWID;",
    /* 14: ties in dueDate, priority and name (the norm: most tasks have no dueDate, a stream has
     * a few priorities, templates name many tasks alike) are in refId order, then id. Ordered by
     * the random id, each createTask wrote a leaf picked at random in each of these four indexes
     * (the new entry fell among thousands of equal keys); by ref_seq, which grows with every
     * create, three of them append to a leaf the group's other creates write anyway. */
    "DROP INDEX records_due;"
    "CREATE INDEX records_due ON records (stream_id, account_id, kind, due_date, ref_seq, id,"
    "  status_category, priority_name);"
    "DROP INDEX records_due_asc;"
    "CREATE INDEX records_due_asc ON records (stream_id, account_id, kind, due_asc, ref_seq, id,"
    "  status_category, priority_name);"
    "DROP INDEX records_priority;"
    "CREATE INDEX records_priority ON records (stream_id, account_id, kind, priority_score,"
    "  ref_seq, id);"
    "DROP INDEX records_name;"
    "CREATE INDEX records_name ON records (stream_id, account_id, kind, name_lower, ref_seq, id);",
    /* 15: the name index's segments are merged by the writer, FTS_MERGE_PAGES pages after each
     * batch of names (fts_apply), not by FTS5's automerge, which now and then merged a whole
     * level inside one group's commit (10-20 ms, ~1 % of batches; createTask p99 16 ms) */
    "INSERT INTO record_names (record_names, rank) VALUES ('automerge', 0);",
    /* 16: FTS5 merges a level at once when it holds crisismerge segments (16). A bulk load leaves
     * the name index in one large segment; the first merge that takes it in goes on, 32 pages a
     * batch, for tens of batches, while the new batches' segments pile up behind it: at 16 that
     * merge was finished at once, inside one group's commit (~125 ms at 100,000 names: createTask
     * p99 118-125 ms over the first 2 s after a start on a bulk-loaded database). At 64 the steps
     * finish it first: the worst batch 28 ms, that p99 22-26 ms; later seconds are unchanged. */
    "INSERT INTO record_names (record_names, rank) VALUES ('crisismerge', 64);",
    /* 17: a currAssignee without an _id names its user by agentId, as the vendor's documents do
     * (doc_record_columns): such records were unassigned to the filters and counts */
    "UPDATE records SET assignee = (SELECT json_extract(d.doc, '$.currAssignee.agentId')"
    "  FROM record_docs d WHERE d.rid = records.rowid)"
    "  WHERE assignee IS NULL AND (SELECT CASE WHEN json_valid(d.doc) THEN"
    "    json_type(d.doc, '$.currAssignee.agentId') = 'text' AND"
    "    json_extract(d.doc, '$.currAssignee.agentId') <> '' END"
    "    FROM record_docs d WHERE d.rid = records.rowid);",
    /* 18: idempotency keys by age, for the purge of expired ones (sqlite_idem_put) */
    "CREATE INDEX IF NOT EXISTS idempotency_created ON idempotency (created_at);",
    /* 19: the updatedAt order is kept in record_updates, where an update adds its record's new
     * place and leaves the old one for a sweep (updates_sweep), instead of the index
     * records_updated, which moved the record's entry: a delete on a leaf picked at random by the
     * record's last updatedAt, a page of WAL (and of checkpoint) per update of its own. The new
     * place is at the end of the tenant's range, on a page the group's other writes share.
     * An entry is the record's place while the record still has that updated_at (sqlite_query
     * joins on it). A record that goes back to an updated_at it had (a put) takes its old entry
     * over, with its rowid: by an upsert, since a trigger's INSERT OR REPLACE takes the conflict
     * policy of the statement that fired it, and a put is an upsert itself. */
    "CREATE TABLE record_updates (scope INTEGER NOT NULL, updated_at INTEGER NOT NULL,"
    "  id TEXT NOT NULL, rid INTEGER NOT NULL, PRIMARY KEY (scope, updated_at, id)) WITHOUT ROWID;"
    "INSERT OR IGNORE INTO record_scopes (stream_id, account_id, kind)"
    "  SELECT stream_id, account_id, kind FROM records GROUP BY stream_id, account_id, kind;"
    "INSERT INTO record_updates SELECT s.scope, r.updated_at, r.id, r.rowid"
    "  FROM records r JOIN record_scopes s ON s.stream_id = r.stream_id"
    "  AND s.account_id = r.account_id AND s.kind = r.kind"
    "  ORDER BY s.scope, r.updated_at, r.id;" /* in key order: each page filled once */
    "CREATE TRIGGER records_updates_insert AFTER INSERT ON records BEGIN"
    "  INSERT INTO record_scopes (stream_id, account_id, kind)"
    "    VALUES (new.stream_id, new.account_id, new.kind) ON CONFLICT DO NOTHING;"
    "  INSERT INTO record_updates VALUES ((SELECT scope FROM record_scopes"
    "    WHERE stream_id = new.stream_id AND account_id = new.account_id AND kind = new.kind),"
    "    new.updated_at, new.id, new.rowid) ON CONFLICT DO UPDATE SET rid = excluded.rid; END;"
    "CREATE TRIGGER records_updates_update AFTER UPDATE OF updated_at ON records"
    "  WHEN new.updated_at IS NOT old.updated_at BEGIN"
    "  INSERT INTO record_updates VALUES ((SELECT scope FROM record_scopes"
    "    WHERE stream_id = new.stream_id AND account_id = new.account_id AND kind = new.kind),"
    "    new.updated_at, new.id, new.rowid) ON CONFLICT DO UPDATE SET rid = excluded.rid; END;"
    "DROP INDEX records_updated;",
    /* 20: what every update changes lives next to the document, which it writes anyway: the
     * updatedAt in record_docs.updated_at, and the version as records.version + doc_version,
     * where an update raises doc_version and a write of the row alone (a case's new task,
     * migration 13; a put) raises records.version. An update that changes none of the columns
     * list queries read (a desc, a comment) then leaves its records row as it was: the row was
     * rewritten only for version and updated_at, a page of WAL (and of checkpoint) of its own,
     * picked at random by the record (a third of an update's WAL). Both go first in the row, so
     * that reading them never walks a large document's overflow pages. records.updated_at is
     * dropped, so that nothing reads a value no write keeps. record_updates is kept by triggers
     * on record_docs now; its entries are still a record's place while record_docs has their
     * updated_at (sqlite_query, updates_sweep). */
    "CREATE TABLE record_docs_v20 (rid INTEGER PRIMARY KEY, doc_version INTEGER NOT NULL,"
    "  updated_at INTEGER NOT NULL, doc TEXT NOT NULL, acts TEXT);"
    "INSERT INTO record_docs_v20 (rid, doc_version, updated_at, doc, acts)"
    "  SELECT d.rid, 0, r.updated_at, d.doc, d.acts FROM record_docs d"
    "  JOIN records r ON r.rowid = d.rid ORDER BY d.rid;"
    "DROP TABLE record_docs;"
    "ALTER TABLE record_docs_v20 RENAME TO record_docs;"
    /* IF EXISTS: an interrupted bulk load dropped them (it is refused once migrated) */
    "DROP TRIGGER IF EXISTS records_updates_insert;"
    "DROP TRIGGER IF EXISTS records_updates_update;"
    "ALTER TABLE records DROP COLUMN updated_at;"
    /* the records row is written first (its rowid is the document's rid), and its insert
     * makes the tenant's scope (records_names_insert) */
    "CREATE TRIGGER record_docs_updates_insert AFTER INSERT ON record_docs BEGIN"
    "  INSERT INTO record_updates SELECT s.scope, new.updated_at, r.id, new.rid"
    "    FROM records r JOIN record_scopes s ON s.stream_id = r.stream_id"
    "    AND s.account_id = r.account_id AND s.kind = r.kind WHERE r.rowid = new.rid"
    "    ON CONFLICT DO UPDATE SET rid = excluded.rid; END;"
    "CREATE TRIGGER record_docs_updates_update AFTER UPDATE OF updated_at ON record_docs"
    "  WHEN new.updated_at IS NOT old.updated_at BEGIN"
    "  INSERT INTO record_updates SELECT s.scope, new.updated_at, r.id, new.rid"
    "    FROM records r JOIN record_scopes s ON s.stream_id = r.stream_id"
    "    AND s.account_id = r.account_id AND s.kind = r.kind WHERE r.rowid = new.rid"
    "    ON CONFLICT DO UPDATE SET rid = excluded.rid; END;",
    /* 21: the catalog's version (sqlite_catalog_version): a random value that every write of an
     * app or a stream's configuration replaces, by these triggers, in whatever process it runs.
     * A request's authentication and configuration read it, one row on one page, and use what
     * they parsed before while it is unchanged: they read the app's and the configuration's text
     * (five pages, the configuration's overflow among them) and compared it with what they had
     * parsed, on every request, because a reader's page cache starts empty at every snapshot
     * that follows a commit. Random, not counted: a database put back from a copy, whose count
     * may have come round to the same number, does not take another's version. */
    "CREATE TABLE catalog_version (v INTEGER NOT NULL);"
    "INSERT INTO catalog_version VALUES (random());"
    CATALOG_TRIGGER("apps", "INSERT") CATALOG_TRIGGER("apps", "UPDATE")
    CATALOG_TRIGGER("apps", "DELETE") CATALOG_TRIGGER("streams", "INSERT")
    CATALOG_TRIGGER("streams", "UPDATE") CATALOG_TRIGGER("streams", "DELETE"),
};
#define MIGRATION_COUNT ((int)(sizeof migrations / sizeof migrations[0]))

/* The records rowids (record_names rowid - lo) of one tenant's names, record_names rowids lo to
 * hi, that contain a text: phrase, its trigrams as an FTS5 phrase, and text itself. Names in
 * fts_pending are matched there (migration 10): the last change queued for a record is always the
 * insertion of its current name, and what the index holds for such a record may be its old name.
 * instr, not GLOB: a GLOB pattern is refused past 50,000 bytes (SQLITE_MAX_LIKE_PATTERN_LENGTH),
 * which a search of 64 KiB, or of 16,667 escaped '*', passed: 503 "pattern too complex". */
#define NAMES_MATCHING(phrase, lo, hi, text)                                                   \
    "SELECT rowid - " lo " FROM record_names WHERE record_names MATCH " phrase                 \
    " AND rowid BETWEEN " lo " AND " hi " AND rowid NOT IN (SELECT rid FROM fts_pending"       \
    " WHERE rid BETWEEN " lo " AND " hi ") UNION ALL SELECT p.rid - " lo " FROM fts_pending p" \
    " WHERE p.rid BETWEEN " lo " AND " hi " AND p.del = 0 AND instr(p.name, " text ") > 0"    \
    " AND p.seq = (SELECT max(seq) FROM fts_pending WHERE rid = p.rid)"

enum stmt_id {
    ST_BEGIN_IMMEDIATE,
    ST_BEGIN,
    ST_COMMIT,
    ST_ROLLBACK,
    ST_APP_PUT,
    ST_APP_GET,
    ST_APP_EACH,
    ST_STREAM_PUT,
    ST_STREAM_GET,
    ST_CATALOG_VERSION,
    ST_REF_BUMP,
    ST_REF_GET,
    ST_RECORD_PUT,
    ST_RECORD_GET,
    ST_RECORD_GET_AT,
    ST_RECORD_HEAD_AT,
    ST_RECORD_BUMP,
    ST_CASE_ADD,
    ST_CASE_ADDS,
    ST_CASE_ADDS_CLEAR,
    ST_DOC_PUT,
    ST_RECORD_HEAD,
    ST_IDEM_GET,
    ST_IDEM_PUT,
    ST_VALUES_DELETE,
    ST_VALUES_INSERT,
    ST_ACTIVITY_PUT,
    ST_ACTIVITY_SEQS,
    ST_ACTIVITY_GET,
    ST_DOC_UPDATE,
    ST_DOC_UPDATE_IF,
    ST_DOC_SET,
    ST_JTI_PURGE,
    ST_IDEM_PURGE,
    ST_JTI_INSERT,
    ST_SCOPE_GET,
    ST_MATCHES_CLEAR,
    ST_MATCHES_NAMES,
    ST_MATCHES_REF,
    ST_MATCHES_TOTAL,
    ST_MATCHES_ORDER,
    ST_PAGE_ROW,
    ST_SAVEPOINT,
    ST_RELEASE,
    ST_FTS_PENDING,
    ST_FTS_APPLY,
    ST_FTS_CLEAR,
    ST_FTS_MERGE,
    ST_ROLLBACK_TO,
    ST_CREATED_ASC,
    ST_CREATED_DESC,
    ST_SWEEP_END,
    ST_SWEEP,
    ST_COUNT
};

/* Pages of merging (FTS5's 'merge' command) after each batch of names is applied (migration 15):
 * the merges FTS5's automerge made a whole level at a time, inside one group's commit, in steps
 * of bounded size. A batch of 128 names writes a few pages a level, so this keeps ahead of the
 * levels of millions of names (if it did not, FTS5 still merges a level at once past 16
 * segments, as before). Side by side (createTask, 100,000 tasks, 3 pairs): a batch's p99
 * 10.3 -> ~3.5 ms, the requests' p99 16.8-17.1 -> 9.8-10.1 ms; req/s +1, -6, -1.5 %, the
 * writer's CPU +3 to +9 % (more merging in all: FTS5 merges less eagerly itself). */
#define FTS_MERGE_PAGES "32"

/* ST_DOC_UPDATE and ST_DOC_UPDATE_IF: the one write of a record's document */
#define DOC_UPDATE                                                                                 \
    "UPDATE record_docs SET doc_version = doc_version + 1, updated_at = ?2, doc = ?3,"            \
    " acts = CASE WHEN ?4 IS NULL THEN acts ELSE coalesce(acts, '') || ?4 END WHERE rid = ?1"

static const char *const stmt_sql[ST_COUNT] = {
    [ST_BEGIN_IMMEDIATE] = "BEGIN IMMEDIATE",
    [ST_BEGIN] = "BEGIN",
    [ST_COMMIT] = "COMMIT",
    [ST_ROLLBACK] = "ROLLBACK",
    [ST_APP_PUT] = "INSERT INTO apps (client_id, account_id, created_at, doc) VALUES (?1, ?2, ?3, ?4)"
                   " ON CONFLICT (client_id) DO UPDATE SET account_id = ?2, doc = ?4",
    [ST_APP_GET] = "SELECT doc FROM apps WHERE client_id = ?1",
    [ST_APP_EACH] = "SELECT doc FROM apps ORDER BY created_at, client_id",
    [ST_STREAM_PUT] = "INSERT INTO streams (stream_id, doc) VALUES (?1, ?2)"
                      " ON CONFLICT (stream_id) DO UPDATE SET doc = ?2",
    [ST_STREAM_GET] = "SELECT doc FROM streams WHERE stream_id = ?1",
    [ST_CATALOG_VERSION] = "SELECT v FROM catalog_version",
    [ST_REF_BUMP] = "INSERT INTO counters (stream_id, kind, value) VALUES (?1, ?2, 1)"
                    " ON CONFLICT (stream_id, kind) DO UPDATE SET value = value + 1",
    [ST_REF_GET] = "SELECT value FROM counters WHERE stream_id = ?1 AND kind = ?2",
    [ST_RECORD_PUT] =
        "INSERT INTO records (id, kind, stream_id, account_id, ref_id, case_id, name_lower,"
        " status_name, status_category, priority_name, priority_score, assignee, created_at,"
        " due_date, version, doc, source, ref_seq, breached) VALUES (?1, ?2, ?3, ?4,"
        " ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?15, 1, '', ?17, ?18, ?19)"
        " ON CONFLICT (id) DO UPDATE SET name_lower = ?7, status_name = ?8, status_category = ?9,"
        " priority_name = ?10, priority_score = ?11, assignee = ?12,"
        " due_date = ?15, version = version + 1, source = ?17, breached = ?19"
        " WHERE stream_id = ?3 AND account_id = ?4 AND kind = ?2"
        " RETURNING version + coalesce((SELECT doc_version FROM record_docs"
        " WHERE rid = records.rowid), 0), rowid",
    [ST_RECORD_GET] = "SELECT d.doc, r.version + d.doc_version, r.rowid FROM records r"
                      " JOIN record_docs d ON d.rid = r.rowid WHERE r.id = ?1 AND r.kind = ?2"
                      " AND r.stream_id = ?3 AND r.account_id = ?4",
    /* ST_RECORD_GET at the rowid a hint gave (store/ridhint): the row must still be the id's */
    [ST_RECORD_GET_AT] = "SELECT d.doc, r.version + d.doc_version, r.rowid FROM records r"
                         " JOIN record_docs d ON d.rid = r.rowid WHERE r.rowid = ?5"
                         " AND r.id = ?1 AND r.kind = ?2 AND r.stream_id = ?3"
                         " AND r.account_id = ?4",
    [ST_CASE_ADD] = "INSERT INTO case_task_adds (rid, seq, task_id) VALUES (?1, coalesce((SELECT"
                    " max(seq) FROM case_task_adds WHERE rid = ?1), 0) + 1, ?2)",
    [ST_CASE_ADDS] = "SELECT task_id FROM case_task_adds WHERE rid = ?1 ORDER BY seq",
    [ST_CASE_ADDS_CLEAR] = "DELETE FROM case_task_adds WHERE rid = ?1",
    [ST_RECORD_BUMP] = "UPDATE records SET version = version + 1"
                       " WHERE id = ?1 AND kind = ?2 AND stream_id = ?3 AND account_id = ?4"
                       " RETURNING version + (SELECT doc_version FROM record_docs"
                       " WHERE rid = records.rowid), rowid",
    [ST_DOC_PUT] = "INSERT INTO record_docs (rid, doc_version, updated_at, doc)"
                   " VALUES (?1, 0, ?3, ?2) ON CONFLICT (rid) DO UPDATE SET doc = ?2,"
                   " updated_at = ?3",
    [ST_DOC_SET] = "UPDATE record_docs SET doc = ?2 WHERE rid = ?1", /* its updatedAt kept */
    [ST_RECORD_HEAD] = "SELECT ref_id, status_category, rowid FROM records"
                       " WHERE id = ?1 AND kind = ?2 AND stream_id = ?3 AND account_id = ?4",
    [ST_RECORD_HEAD_AT] = "SELECT ref_id, status_category, rowid FROM records WHERE rowid = ?5"
                          " AND id = ?1 AND kind = ?2 AND stream_id = ?3 AND account_id = ?4",
    [ST_IDEM_GET] = "SELECT body_hash, status, body, created_at FROM idempotency"
                    " WHERE client_id = ?1 AND key = ?2",
    [ST_IDEM_PUT] = "INSERT INTO idempotency (client_id, key, body_hash, status, body, created_at)"
                    " VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (client_id, key) DO UPDATE SET"
                    " body_hash = ?3, status = ?4, body = ?5, created_at = ?6",
    [ST_VALUES_DELETE] = "DELETE FROM record_values WHERE rid = ?1",
    [ST_VALUES_INSERT] = "INSERT INTO record_values (rid, k, v) VALUES (?1, ?2, ?3)",
    [ST_ACTIVITY_PUT] = "INSERT INTO activities (id, stream_id, account_id, record_id, created_at,"
                         " doc) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    [ST_ACTIVITY_SEQS] = "SELECT d.acts FROM records r JOIN record_docs d ON d.rid = r.rowid"
                         " WHERE r.id = ?1 AND r.stream_id = ?2 AND r.account_id = ?3",
    [ST_ACTIVITY_GET] = "SELECT doc FROM activities WHERE seq = ?1",
    /* an update's document, with its activity's seq (?4) appended to the list (migration 12);
     * the document's part of the version (migration 20) comes back */
    [ST_DOC_UPDATE] = DOC_UPDATE " RETURNING doc_version",
    /* the same when the version is still ?5: the new one is then known, and the statement needs
     * no RETURNING, which buffers its rows in a table of its own (the writer's samples in
     * update_doc under durable small updates 24.5 -> 22.2 %, opening that table 2.0 -> 0.5 %) */
    [ST_DOC_UPDATE_IF] = DOC_UPDATE " AND doc_version = ?5",
    [ST_JTI_PURGE] = "DELETE FROM jti WHERE exp < ?1",
    [ST_IDEM_PURGE] = "DELETE FROM idempotency WHERE (client_id, key) IN (SELECT client_id, key"
                      " FROM idempotency WHERE created_at < ?1 LIMIT 1000)",
    [ST_SAVEPOINT] = "SAVEPOINT job",
    [ST_FTS_PENDING] = "SELECT count(*) FROM fts_pending",
    /* FTS5's special column: 'delete' with the old name removes an entry, NULL inserts one */
    [ST_FTS_APPLY] = "INSERT INTO record_names (record_names, rowid, name_lower)"
                     " SELECT CASE del WHEN 1 THEN 'delete' END, rid, name FROM fts_pending"
                     " ORDER BY seq",
    [ST_FTS_CLEAR] = "DELETE FROM fts_pending",
    [ST_FTS_MERGE] = "INSERT INTO record_names (record_names, rank)"
                     " VALUES ('merge', " FTS_MERGE_PAGES ")",
    [ST_RELEASE] = "RELEASE job",
    [ST_ROLLBACK_TO] = "ROLLBACK TO job",
    [ST_JTI_INSERT] = "INSERT INTO jti (client_id, jti, exp) VALUES (?1, ?2, ?3)"
                      " ON CONFLICT DO NOTHING",
    [ST_SCOPE_GET] = "SELECT scope, names_gen FROM record_scopes WHERE stream_id = ?1"
                     " AND account_id = ?2 AND kind = ?3",
    /* a query's name search, found once in the name index into the connection's table
     * name_matches (see fill_matches) */
    [ST_MATCHES_CLEAR] = "DELETE FROM temp.name_matches",
    [ST_MATCHES_NAMES] = "INSERT INTO temp.name_matches (rid) " NAMES_MATCHING("?1", "?2", "?3",
                                                                                 "?4"),
    [ST_MATCHES_REF] = "INSERT OR IGNORE INTO temp.name_matches (rid) SELECT rowid FROM records"
                       " WHERE ref_id = ?1 AND stream_id = ?2 AND kind = ?3 AND account_id = ?4",
    [ST_MATCHES_TOTAL] = "SELECT (SELECT count(*) FROM temp.name_matches), (SELECT n FROM"
                         " record_counts WHERE stream_id = ?1 AND account_id = ?2 AND kind = ?3)",
    /* the matches in the order matchcache.h keeps them; the tenant's test is the refId's */
    [ST_MATCHES_ORDER] = "SELECT r.rowid FROM temp.name_matches m CROSS JOIN records r"
                         " ON r.rowid = m.rid WHERE r.stream_id = ?1 AND r.account_id = ?2"
                         " AND r.kind = ?3 ORDER BY r.created_at DESC, r.id DESC",
    /* one row of a page by rowid, with what the page query reads (see sqlite_query) */
    [ST_PAGE_ROW] = "SELECT d.doc, x.breached, (x.status_category IN ('open', 'inProgress')"
                    " AND x.due_date < ?1), x.rowid, x.kind FROM records x JOIN record_docs d"
                    " ON d.rid = x.rowid WHERE x.rowid = ?2",
    /* the tenant's counts by creation time, oldest or newest first (see created_start) */
    [ST_CREATED_ASC] = "SELECT bucket, n FROM record_created_buckets WHERE stream_id = ?1"
                       " AND account_id = ?2 AND kind = ?3 ORDER BY bucket",
    [ST_CREATED_DESC] = "SELECT bucket, n FROM record_created_buckets WHERE stream_id = ?1"
                        " AND account_id = ?2 AND kind = ?3 ORDER BY bucket DESC",
    /* the sweep of record_updates (see updates_sweep): the last entry of the next stretch, and
     * the stretch's entries that are no longer their record's place */
    [ST_SWEEP_END] = "SELECT scope, updated_at, id FROM record_updates"
                     " WHERE (scope, updated_at, id) > (?1, ?2, ?3)"
                     " ORDER BY scope, updated_at, id LIMIT 1 OFFSET ?4",
    [ST_SWEEP] = "DELETE FROM record_updates WHERE (scope, updated_at, id) > (?1, ?2, ?3)"
                 " AND (scope, updated_at, id) <= (?4, ?5, ?6) AND NOT EXISTS (SELECT 1"
                 " FROM record_docs d WHERE d.rid = record_updates.rid"
                 " AND d.updated_at = record_updates.updated_at)",
};

#define QUERY_CACHE 32 /* prepared list queries kept per connection, by SQL text */

#define MATCH_CACHE_BYTES (32u << 20) /* searches' matches kept in memory (matchcache.h) */

struct sqlite_conn {
    sqlite3 *db;
    sqlite3_stmt *stmt[ST_COUNT];
    struct {
        char *sql;
        sqlite3_stmt *st;
    } queries[QUERY_CACHE];
    unsigned next_query;
    pthread_t owner;
    int64_t idem_purged_at_ms; /* the last purge of expired idempotency keys (sqlite_idem_put) */
    /* the writer's sweep of record_updates (updates_sweep): where it is, and the writes since */
    int64_t sweep_scope, sweep_at;
    char *sweep_id;
    unsigned sweep_due;
    bool kept; /* a read transaction left open by store_read_keep (run_txn) */
    int64_t deadline_us; /* of the query running (sqlite_query), 0: none */
    bool late;           /* it ran past that deadline: SQLite stopped it */
    LZ4_stream_t *lz4;   /* activity_pack's state, made at its first activity */
    struct sqlite_conn *next;
};

/* A write waiting for the writer thread: on its caller's stack, which waits on done, or (then
 * set, sqlite_write_then) on the heap, answered by a call of then. */
struct write_job {
    store_txn_fn fn;
    void *arg;
    int rc;
    sem_t done;
    void (*then)(int rc, void *arg);
    struct write_job *next;
};

#define GROUP_MAX 512          /* writes committed together at most */
/* WAL pages past what the last checkpoint copied that wake the checkpointer (32 MiB). A
 * checkpoint copies each page once however many times the WAL holds it: the pages most writes
 * touch (the last leaf of each growing table and index, the counts) go to the database file once
 * a checkpoint, and it syncs the WAL once before it copies. This was 2,000 pages of WAL in all,
 * which, once the WAL was that large (always, but for a moment after it starts over), woke the
 * checkpointer after every commit: each checkpoint copied one group's pages, after a sync of its
 * own. Side by side, 100,000 tasks, 3 pairs: createTask disk writes 92 -> 71 KB a create, req/s
 * +17 to +34 %; durable small updates +3 to +6 %, p99 as before. 16,000 was no better for creates
 * and raised the updates' p99 (60-71 ms before the RESTART's sync below, 15-16 after). */
#define CHECKPOINT_FRAMES 8000
/* Past this size (256 MiB) a checkpoint also starts the WAL over. It holds the writer off while it
 * waits for the reads still using the WAL, at most RESTART_BUSY_MS, then gives up until the WAL
 * has grown by RESTART_RETRY_FRAMES: with SQLite's wait of a second, one list query reading for
 * that long held every write off with it. */
#define WAL_RESTART_FRAMES 65536
#define RESTART_BUSY_MS 20
#define RESTART_RETRY_FRAMES 1024
#define PIPELINE_DEPTH 2 /* groups committed and not yet synced, at most, before the writer waits */

void (*store_sqlite_before_sync)(void); /* backend.h: tests only */
void (*store_sqlite_before_writeback)(void); /* backend.h: tests only */
int store_sqlite_restart_frames = WAL_RESTART_FRAMES; /* backend.h: tests only */
void (*store_sqlite_after_checkpoint)(int log, int copied); /* backend.h: tests only */

struct sqlite_store {
    struct store base;
    char *path;
    struct store_options opt;
    pthread_t writer;
    bool writer_running;
    pthread_mutex_t queue_mu;
    pthread_cond_t queue_cv;
    struct write_job *queue_head, *queue_tail;
    bool stopping;
    struct sqlite_conn *wconn; /* the writer thread's connection */
    /* the checkpointer: copies the WAL back into the database off the writer's path */
    pthread_t checkpointer;
    sqlite3 *cdb;
    pthread_mutex_t ckpt_mu;
    pthread_cond_t ckpt_cv;
    bool ckpt_wanted, ckpt_stop;
    int restart_frames; /* store_sqlite_restart_frames when the checkpointer started */
    int checkpoint_frames; /* opt.checkpoint_pages, or CHECKPOINT_FRAMES */
    /* the WAL's size at the last commit (the writer's WAL hook) and the pages of it the last
     * checkpoint had copied when it ended (checkpoint_due) */
    atomic_int wal_frames, ckpt_copied;
    /* the writeback thread (writeback_main), started and stopped with the checkpointer */
    pthread_t writeback;
    bool wb_running, wb_stop;
    pthread_mutex_t wb_mu;
    pthread_cond_t wb_cv;         /* a checkpoint while it sleeps, or stop */
    atomic_bool wb_asleep;        /* it waits on wb_cv for a checkpoint */
    atomic_uint_fast64_t ckpt_runs; /* checkpoints run, counted by the checkpointer */
    int db_fd; /* our own read-only descriptor of the database file, for sync_file_range */
    bool ckpt_running; /* false in bulk mode: the writer's connection has the database alone */
    uint64_t generation; /* distinguishes this store from a later one at the same address */
    int busy_ms, ckpt_busy_ms; /* how long busy_retry waits (connections, checkpointer) */
    pthread_mutex_t mu;  /* guards conns */
    struct sqlite_conn *conns;
    struct match_cache *matches; /* searches' matches, kept between queries */
    struct ridhint *rids;        /* where records are, by id: for reads by id (ridhint.h) */
    /* the syncer (durability full): syncs the WAL for the groups the writer committed, then wakes
     * their callers. Commits are numbered: committing counts COMMITs begun, synced is the number
     * of the newest synced and attempted of the newest whose sync has ended (failed or not). */
    bool pipelined;       /* durability full, and not in bulk mode */
    int wal_fd;           /* our own descriptor of the -wal file, for fdatasync */
    uint64_t id;          /* this store, for the thread-local horizons of reads */
    pthread_t syncer;
    bool syncer_running;
    pthread_mutex_t sync_mu;
    pthread_cond_t sync_cv;   /* work for the syncer, or stop */
    pthread_cond_t synced_cv; /* a sync ended */
    struct write_job *sync_head, *sync_tail; /* the jobs of committed groups, in commit order */
    uint64_t sync_seq;        /* the number of the newest group queued for the syncer */
    unsigned unsynced;        /* groups queued or being synced */
    bool sync_stop;
    atomic_uint_fast64_t committing, synced;
    /* a sync failed (mark_broken): the kernel may have dropped what it was to write, and a later
     * sync of the same file can succeed without it, so nothing written since can be trusted */
    atomic_bool broken;
    uint64_t attempted; /* guarded by sync_mu */
};

struct sqlite_txn {
    struct store_txn base;
    struct sqlite_conn *conn;
};

static void *writer_main(void *arg);
static void sync_destroy(struct sqlite_store *s);
static void mark_broken(struct sqlite_store *s, const char *what);
static int start_checkpointer(struct sqlite_store *s, char **err);
static void stop_checkpointer(struct sqlite_store *s);
static int start_syncer(struct sqlite_store *s, char **err);
static void stop_syncer(struct sqlite_store *s);

static atomic_uint_fast64_t next_generation = 1;
static _Thread_local struct {
    uint64_t generation;
    struct sqlite_conn *conn;
} tls_conn;
/* The newest commit this thread's reads may have seen, of which store (sqlite_settle_ticket). */
static _Thread_local struct {
    uint64_t store_id;
    uint64_t seq;
} tls_horizon;

static const struct store_ops sqlite_ops;

static int exec_sql(sqlite3 *db, const char *sql)
{
    char *msg = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK) {
        log_error("sqlite: %s", msg ? msg : sqlite3_errmsg(db));
        sqlite3_free(msg);
        return -1;
    }
    return 0;
}

static void conn_free(struct sqlite_conn *c)
{
    for (int i = 0; i < ST_COUNT; i++)
        sqlite3_finalize(c->stmt[i]);
    for (int i = 0; i < QUERY_CACHE; i++) {
        sqlite3_finalize(c->queries[i].st);
        free(c->queries[i].sql);
    }
    sqlite3_close(c->db);
    free(c->sweep_id);
    free(c->lz4);
    free(c);
}

/* Page cache per connection: the writer keeps the pages a group of writes touches; the many
 * readers (one per worker thread) stay small and lean on the OS page cache they share. The
 * writer's was 32 MiB; 16 MiB took the server's peak RSS under the update bench from 89-91 to
 * 67-76 MB (the limit is 100) at the same throughput: the pages it then misses are in the OS page
 * cache (writer reads per small update 9.6 -> 12.7 KB, 100,000 tasks). */
#define WRITER_CACHE "PRAGMA cache_size=-16384" /* 16 MiB */
#define READER_CACHE "PRAGMA cache_size=-1024"  /* 1 MiB */

/* A busy handler (arg: the budget in ms) that tries again every 100 µs for the first 20 ms,
 * then every millisecond. SQLite's own (sqlite3_busy_timeout) sleeps up to 100 ms between tries,
 * so the writer, held off by a checkpoint that restarts the WAL for a few milliseconds, slept
 * tens: the tail of the durable-update bench (p99 232 ms at 7,100 updates a second). */
static int busy_retry(void *arg, int tries)
{
    const int *budget_ms = arg;
    int64_t waited_us = tries < 200 ? (int64_t)tries * 100 : 20000 + (int64_t)(tries - 200) * 1000;
    if (waited_us >= (int64_t)*budget_ms * 1000)
        return 0;
    struct timespec pause = {.tv_nsec = tries < 200 ? 100000 : 1000000};
    nanosleep(&pause, NULL);
    return 1;
}

static const char *durability_sync(const struct sqlite_store *s)
{
    return s->opt.durability == STORE_DURABILITY_NORMAL ? "PRAGMA synchronous=NORMAL"
                                                        : "PRAGMA synchronous=FULL";
}

static struct sqlite_conn *conn_open(struct sqlite_store *s, bool writer, char **err)
{
    struct sqlite_conn *c = xcalloc(1, sizeof *c);
    int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX;
    if (sqlite3_open_v2(s->path, &c->db, flags, NULL) != SQLITE_OK) {
        if (err)
            *err = xstrdup(c->db ? sqlite3_errmsg(c->db) : "cannot open database");
        goto fail;
    }
    sqlite3_busy_handler(c->db, busy_retry, &s->busy_ms);
    /* DESIGN.md §4: WAL; synchronous=FULL makes a 2xx mean "on disk" (the writer's commits are
     * synced by the syncer instead while it runs: start_syncer) */
    const char *sync = durability_sync(s);
    /* savepoint and statement journals in memory: on disk they cost a write per page */
    if (exec_sql(c->db, "PRAGMA journal_mode=WAL") || exec_sql(c->db, sync) ||
        exec_sql(c->db, "PRAGMA foreign_keys=ON") || exec_sql(c->db, "PRAGMA temp_store=MEMORY") ||
        exec_sql(c->db, writer ? WRITER_CACHE : READER_CACHE) ||
        exec_sql(c->db, "CREATE TEMP TABLE name_matches (rid INTEGER PRIMARY KEY)")) {
        if (err)
            *err = xstrdup(sqlite3_errmsg(c->db));
        goto fail;
    }
    for (int i = 0; i < ST_COUNT; i++) {
        if (sqlite3_prepare_v3(c->db, stmt_sql[i], -1, SQLITE_PREPARE_PERSISTENT, &c->stmt[i],
                               NULL) != SQLITE_OK) {
            if (err)
                *err = xstrdup(sqlite3_errmsg(c->db));
            goto fail;
        }
    }
    c->owner = pthread_self();
    return c;
fail:
    conn_free(c);
    return NULL;
}

/* This thread's connection to s if it has one, else NULL. */
static struct sqlite_conn *conn_find(struct sqlite_store *s)
{
    if (tls_conn.generation == s->generation && tls_conn.conn)
        return tls_conn.conn;
    pthread_t self = pthread_self();
    pthread_mutex_lock(&s->mu);
    struct sqlite_conn *c = s->conns;
    while (c && !pthread_equal(c->owner, self))
        c = c->next;
    pthread_mutex_unlock(&s->mu);
    return c;
}

/* This thread's connection to s, opened on first use. */
static struct sqlite_conn *conn_get(struct sqlite_store *s)
{
    if (tls_conn.generation == s->generation && tls_conn.conn)
        return tls_conn.conn;
    struct sqlite_conn *c = conn_find(s);
    if (!c) {
        char *err = NULL;
        c = conn_open(s, false, &err);
        if (!c) {
            log_error("sqlite: cannot open %s: %s", s->path, err ? err : "?");
            free(err);
            return NULL;
        }
        pthread_mutex_lock(&s->mu);
        c->next = s->conns;
        s->conns = c;
        pthread_mutex_unlock(&s->mu);
    }
    tls_conn.generation = s->generation;
    tls_conn.conn = c;
    return c;
}

static int user_version(sqlite3 *db)
{
    sqlite3_stmt *st;
    int version = 0;
    if (sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL) == SQLITE_OK) {
        if (sqlite3_step(st) == SQLITE_ROW)
            version = sqlite3_column_int(st, 0);
        sqlite3_finalize(st);
    }
    return version;
}

/* Brings the schema to MIGRATION_COUNT, one migration a transaction. The version is read again
 * inside each one's write lock: processes starting together on one database (serve and app
 * create, two servers after an upgrade) each ran the migrations they had read as missing, and
 * one died on "table apps already exists" or "duplicate column name". */
static int migrate(sqlite3 *db, bool keep, char **err)
{
    int from = user_version(db), version = from;
    while (version != MIGRATION_COUNT) {
        if (version > MIGRATION_COUNT) {
            *err = xstrdup("the database was written by a newer casemgr (schema version too high)");
            return -1;
        }
        if (version < 0) { /* migrations[] would be indexed with it */
            *err = xstrdup("the database has an invalid (negative) schema version");
            return -1;
        }
        if (keep) {
            *err = schema_too_old(version, MIGRATION_COUNT);
            return -1;
        }
        if (exec_sql(db, "BEGIN IMMEDIATE"))
            goto fail;
        int now = user_version(db); /* under the write lock */
        if (now != version) {       /* another process migrated meanwhile */
            exec_sql(db, "ROLLBACK");
            version = now;
            continue;
        }
        char pragma[64];
        snprintf(pragma, sizeof pragma, "PRAGMA user_version=%d", version + 1);
        if (exec_sql(db, migrations[version]) || exec_sql(db, pragma)) {
            *err = xstrdup(sqlite3_errmsg(db)); /* before the ROLLBACK replaces it */
            exec_sql(db, "ROLLBACK");
            return -1;
        }
        if (exec_sql(db, "COMMIT"))
            goto fail;
        version++;
    }
    if (from > 0 && from < MIGRATION_COUNT)
        log_info("database schema migrated from version %d to %d", from, MIGRATION_COUNT);
    return 0;
fail:
    *err = xstrdup(sqlite3_errmsg(db));
    return -1;
}

/* True when the table store_bulk_begin creates is there (see bulk_begin_txn). */
static bool bulk_load_pending(sqlite3 *db)
{
    sqlite3_stmt *st;
    bool found = false;
    if (sqlite3_prepare_v2(db, "SELECT 1 FROM sqlite_schema WHERE type = 'table'"
                               " AND name = 'bulk_load'", -1, &st, NULL) == SQLITE_OK) {
        found = sqlite3_step(st) == SQLITE_ROW;
        sqlite3_finalize(st);
    }
    return found;
}

/* Once a process, before SQLite initialises. Debian's SQLite counts memory by default: every
 * allocation and free of every connection then takes one process-wide mutex (6 % of the writer's
 * profile under createTask, and the readers contend for it too). Nothing here reads the counts or
 * sets a heap limit. Side by side (100,000 tasks, 5 pairs each): the writer's CPU a create -6 to
 * -16 % (creates a second +1 to +9 %), an update 0 to -14 %. A process that opened SQLite before
 * (a test's own connection) keeps counting: sqlite3_config then refuses, harmlessly. */
static void sqlite_configure(void)
{
    sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
    /* truncations of a page cache that cannot drop a page are skipped (pagecache.h) */
    if (pagecache_install() != 0)
        log_info("sqlite: page cache wrapper not installed (SQLite was initialised before)");
    /* a commit's WAL frames in one write (walbuf.h); without it SQLite's own VFS serves */
    if (walbuf_install() != 0)
        log_error("sqlite: cannot register the WAL-gathering VFS; writing frames one by one");
}

/* Why path did not open, naming it: SQLite says only "unable to open database file", and the
 * usual cause, a directory not made yet (./data before `make run`), is worth naming. */
static char *open_error(const char *path, sqlite3 *db)
{
    const char *msg = db ? sqlite3_errmsg(db) : "cannot open database";
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash)
        *(slash == dir ? slash + 1 : slash) = '\0';
    else
        snprintf(dir, sizeof dir, ".");
    bool no_dir = access(dir, F_OK) != 0;
    size_t n = strlen(path) + strlen(dir) + strlen(msg) + 64;
    char *out = xmalloc(n);
    if (no_dir)
        snprintf(out, n, "%s: %s (the directory %s does not exist)", path, msg, dir);
    else
        snprintf(out, n, "%s: %s", path, msg);
    return out;
}

/* PRAGMA journal_mode=WAL on a connection with a busy timeout. Turning a new database to WAL
 * reads its header (a shared lock) and then needs it alone; with two processes doing so at once
 * SQLite answers one of them SQLITE_BUSY at once, without the busy handler (waiting could
 * deadlock), and it did not start: "cannot open the database: database is locked" (9 of 240
 * processes, four starting together on a new file). It is tried again, for up to 10 s. */
static int to_wal(sqlite3 *db)
{
    for (int tries = 0;; tries++) {
        if (sqlite3_exec(db, "PRAGMA journal_mode=WAL", NULL, NULL, NULL) == SQLITE_OK)
            return 0;
        if ((sqlite3_errcode(db) & 0xff) != SQLITE_BUSY || tries == 1000)
            return exec_sql(db, "PRAGMA journal_mode=WAL"); /* logs why */
        struct timespec pause = {.tv_nsec = 10000000}; /* 10 ms */
        nanosleep(&pause, NULL);
    }
}

#define RIDHINT_BITS 20 /* 2^20 slots of 8 bytes, touched as they are used */

/* Fills the rowid hints from the id index, for up to half the slots: a record's first read then
 * goes to its row as directly as later ones do. Without them it only goes slower. */
static void ridhint_fill(sqlite3 *db, struct ridhint *h)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db, "SELECT id, rowid FROM records", -1, &st, NULL) != SQLITE_OK)
        return;
    size_t max = ridhint_slots(h) / 2;
    for (size_t n = 0; n < max && sqlite3_step(st) == SQLITE_ROW; n++)
        ridhint_put(h, (const char *)sqlite3_column_text(st, 0),
                    (size_t)sqlite3_column_bytes(st, 0), sqlite3_column_int64(st, 1));
    sqlite3_finalize(st);
}

struct store *store_sqlite_open(const char *path, const struct store_options *opt, char **err)
{
    static pthread_once_t configured = PTHREAD_ONCE_INIT;
    pthread_once(&configured, sqlite_configure);
    *err = NULL;
    struct sqlite_store *s = xcalloc(1, sizeof *s);
    s->base.ops = &sqlite_ops;
    s->path = xstrdup(path);
    s->opt = *opt;
    s->busy_ms = opt->busy_timeout_ms > 0 ? opt->busy_timeout_ms : 5000;
    s->ckpt_busy_ms = RESTART_BUSY_MS; /* only a RESTART checkpoint waits */
    s->generation = atomic_fetch_add(&next_generation, 1);
    s->id = s->generation;
    s->wal_fd = -1;
    s->db_fd = -1;
    pthread_mutex_init(&s->mu, NULL);
    pthread_mutex_init(&s->sync_mu, NULL);
    pthread_cond_init(&s->sync_cv, NULL);
    pthread_cond_init(&s->synced_cv, NULL);
    s->matches = match_cache_new(MATCH_CACHE_BYTES);
    s->rids = ridhint_new(RIDHINT_BITS);

    /* Migrate on a private connection before any statement is prepared against the schema. */
    sqlite3 *db = NULL;
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) != SQLITE_OK) {
        *err = open_error(path, db);
        sqlite3_close(db);
        goto fail;
    }
    sqlite3_busy_timeout(db, 10000);
    if (to_wal(db) || migrate(db, opt->keep_schema, err)) {
        if (!*err)
            *err = xstrdup(sqlite3_errmsg(db));
        sqlite3_close(db);
        goto fail;
    }
    if (bulk_load_pending(db)) {
        *err = xstrdup("a bulk load into this database was interrupted (table bulk_load): its"
                       " indexes are missing; load it again into a new file");
        sqlite3_close(db);
        goto fail;
    }
    ridhint_fill(db, s->rids);
    sqlite3_close(db);
    /* never closed before every connection of the store is: closing a descriptor of a file lets
     * go of every POSIX lock this process holds on it, SQLite's included */
    s->db_fd = open(path, O_RDONLY | O_CLOEXEC);
    if (s->db_fd < 0) {
        char why[128];
        log_error("sqlite: cannot open %s for writeback: %s", path, /* it only goes slower */
                  strerror_r(errno, why, sizeof why));
    }
    if (!conn_get(s)) {
        *err = xstrdup("cannot open a connection to the database");
        goto fail;
    }
    s->wconn = conn_open(s, true, err);
    if (!s->wconn)
        goto fail;
    if (start_syncer(s, err) != 0) {
        conn_free(s->wconn);
        goto fail;
    }
    if (start_checkpointer(s, err) != 0) {
        stop_syncer(s);
        conn_free(s->wconn);
        goto fail;
    }
    pthread_mutex_init(&s->queue_mu, NULL);
    pthread_cond_init(&s->queue_cv, NULL);
    s->writer_running = pthread_create(&s->writer, NULL, writer_main, s) == 0;
    if (!s->writer_running) {
        *err = xstrdup("cannot start the writer thread");
        pthread_cond_destroy(&s->queue_cv);
        pthread_mutex_destroy(&s->queue_mu);
        stop_checkpointer(s);
        stop_syncer(s);
        conn_free(s->wconn);
        goto fail;
    }
    return &s->base;
fail:
    for (struct sqlite_conn *c = s->conns, *next; c; c = next) {
        next = c->next;
        conn_free(c);
    }
    if (tls_conn.generation == s->generation)
        tls_conn.conn = NULL;
    if (s->db_fd >= 0)
        close(s->db_fd); /* after every connection: see store_sqlite_open */
    sync_destroy(s);
    pthread_mutex_destroy(&s->mu);
    match_cache_free(s->matches);
    ridhint_free(s->rids);
    free(s->path);
    free(s);
    return NULL;
}

static void sqlite_close(struct store *base)
{
    struct sqlite_store *s = (struct sqlite_store *)base;
    pthread_mutex_lock(&s->queue_mu);
    s->stopping = true; /* the writer finishes what is queued, then exits */
    pthread_cond_signal(&s->queue_cv);
    pthread_mutex_unlock(&s->queue_mu);
    if (s->writer_running)
        pthread_join(s->writer, NULL);
    pthread_cond_destroy(&s->queue_cv);
    pthread_mutex_destroy(&s->queue_mu);
    if (atomic_load(&s->broken)) {
        /* the last connection to close would checkpoint frames that may not be on disk */
        if (s->ckpt_running)
            sqlite3_db_config(s->cdb, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1, NULL);
        sqlite3_db_config(s->wconn->db, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1, NULL);
        for (struct sqlite_conn *c = s->conns; c; c = c->next)
            sqlite3_db_config(c->db, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1, NULL);
    }
    stop_syncer(s); /* after the writer: what it committed last is synced and answered */
    stop_checkpointer(s);
    conn_free(s->wconn);
    struct sqlite_conn *c = s->conns;
    while (c) {
        struct sqlite_conn *next = c->next;
        conn_free(c);
        c = next;
    }
    if (tls_conn.generation == s->generation)
        tls_conn.conn = NULL;
    if (s->db_fd >= 0)
        close(s->db_fd); /* after every connection: see store_sqlite_open */
    sync_destroy(s);
    pthread_mutex_destroy(&s->mu);
    match_cache_free(s->matches);
    ridhint_free(s->rids);
    free(s->path);
    free(s);
}

static const char *sqlite_path(const struct store *base)
{
    return ((const struct sqlite_store *)base)->path;
}

/* Steps a statement with no result rows; resets it. */
static int step_done(struct sqlite_conn *c, sqlite3_stmt *st)
{
    int rc = sqlite3_step(st);
    if (rc != SQLITE_DONE && rc != SQLITE_ROW) {
        if (!c->late)
            log_error("sqlite: %s", sqlite3_errmsg(c->db));
        sqlite3_reset(st);
        return rc == SQLITE_CONSTRAINT ? STORE_CONFLICT : STORE_ERROR;
    }
    sqlite3_reset(st);
    return STORE_OK;
}

static void note_horizon(struct sqlite_store *s)
{
    uint64_t seq = atomic_load(&s->committing);
    if (tls_horizon.store_id != s->id) {
        tls_horizon.store_id = s->id;
        tls_horizon.seq = 0;
    }
    if (seq > tls_horizon.seq)
        tls_horizon.seq = seq;
}

/* A read transaction on the calling thread's connection, or in the one store_read_keep left
 * open there; keep leaves this one open when fn succeeds. Beginning and ending a read transaction
 * (SQLite's read lock on the WAL, taken with fcntl, and the page cache it empties when the WAL
 * moved) was ~2 % of the server's CPU under durable small updates, for the app's row that every
 * request's authentication reads before its handler reads again. */
static int run_txn(struct store *base, bool keep, store_txn_fn fn, void *arg)
{
    struct sqlite_store *s = (struct sqlite_store *)base;
    struct sqlite_conn *c = conn_get(s);
    if (!c)
        return STORE_ERROR;
    bool kept = c->kept;
    c->kept = false;
    if (!kept && step_done(c, c->stmt[ST_BEGIN]) != STORE_OK)
        return STORE_ERROR;
    struct sqlite_txn t = {.base = {.store = base}, .conn = c};
    int rc = fn(&t.base, arg);
    /* fn read a snapshot taken after every commit it sees began, and committing counts a commit
     * before it begins: what this read saw is synced once committing is, as of now */
    note_horizon(s);
    if (rc == STORE_OK) {
        if (keep && !sqlite3_get_autocommit(c->db)) {
            c->kept = true;
            return STORE_OK;
        }
        if (step_done(c, c->stmt[ST_COMMIT]) == STORE_OK)
            return STORE_OK;
        rc = STORE_ERROR;
    }
    if (!sqlite3_get_autocommit(c->db))
        step_done(c, c->stmt[ST_ROLLBACK]);
    return rc;
}

/* Ends the read transaction store_read_keep left open on this thread's connection to s. */
static void read_end(struct sqlite_store *s)
{
    struct sqlite_conn *c = conn_find(s);
    if (!c || !c->kept)
        return;
    c->kept = false;
    if (!sqlite3_get_autocommit(c->db) && step_done(c, c->stmt[ST_COMMIT]) != STORE_OK &&
        !sqlite3_get_autocommit(c->db))
        step_done(c, c->stmt[ST_ROLLBACK]);
}

/* Queues a job for the writer; false when the store is closing. */
static bool enqueue(struct sqlite_store *s, struct write_job *job)
{
    pthread_mutex_lock(&s->queue_mu);
    if (s->stopping) {
        pthread_mutex_unlock(&s->queue_mu);
        return false;
    }
    if (s->queue_tail)
        s->queue_tail->next = job;
    else
        s->queue_head = job;
    s->queue_tail = job;
    pthread_cond_signal(&s->queue_cv);
    pthread_mutex_unlock(&s->queue_mu);
    return true;
}

static int sqlite_write(struct store *base, store_txn_fn fn, void *arg)
{
    read_end((struct sqlite_store *)base); /* the reads after this write must see it */
    struct write_job job = {.fn = fn, .arg = arg, .rc = STORE_ERROR};
    sem_init(&job.done, 0, 0);
    if (enqueue((struct sqlite_store *)base, &job)) {
        wait_enter();
        while (sem_wait(&job.done) != 0)
            ; /* EINTR */
        wait_leave();
    }
    sem_destroy(&job.done);
    return job.rc;
}

/* The caller does not wait: the syncer (or the writer) calls then once the commit is durable or
 * failed, as it would wake a waiting caller. */
static void sqlite_write_then(struct store *base, store_txn_fn fn, void *arg,
                              void (*then)(int rc, void *arg))
{
    read_end((struct sqlite_store *)base);
    struct write_job *job = xmalloc(sizeof *job);
    *job = (struct write_job){.fn = fn, .arg = arg, .rc = STORE_ERROR, .then = then};
    if (!enqueue((struct sqlite_store *)base, job)) {
        free(job);
        then(STORE_ERROR, arg);
    }
}

/* Whether the WAL has grown by checkpoint_frames pages past what the last checkpoint copied. A
 * WAL smaller than that count has started over since (SQLite writes it from its start again once
 * a checkpoint has copied all of it): all of it is new. */
static bool checkpoint_due(struct sqlite_store *s)
{
    int frames = atomic_load(&s->wal_frames), copied = atomic_load(&s->ckpt_copied);
    if (frames < copied)
        copied = 0;
    return frames - copied >= s->checkpoint_frames;
}

/* Called by SQLite on the writer's connection after each commit with the WAL's size. */
static int wal_grew(void *arg, sqlite3 *db, const char *name, int frames)
{
    (void)db;
    (void)name;
    struct sqlite_store *s = arg;
    atomic_store(&s->wal_frames, frames);
    if (checkpoint_due(s)) {
        pthread_mutex_lock(&s->ckpt_mu);
        s->ckpt_wanted = true;
        pthread_cond_signal(&s->ckpt_cv);
        pthread_mutex_unlock(&s->ckpt_mu);
    }
    return SQLITE_OK;
}

/* The writeback thread. Under constant writes a checkpoint can seldom copy the whole WAL (a read
 * still uses its end), and SQLite syncs the database file only after one that did: until then
 * the pages checkpoints copied stay dirty in the page cache, then go to the disk at once, tens
 * of megabytes, in front of the syncer's small syncs of the WAL. While checkpoints run, this
 * thread asks the kernel every WRITEBACK_TICK_US to start writing what they left dirty
 * (sync_file_range, SYNC_FILE_RANGE_WRITE: it waits for no write and syncs nothing, so
 * durability is as before: SQLite's own sync of the database still comes before the WAL starts
 * over). On the checkpointer, or on the syncer, that call delayed them (the syncer's p99 doubled).
 * Side by side (100,000 tasks, durable small updates, 17 pairs, 14 of them with a prototype of
 * this thread): p99 lower in 16 (median 6.5 ms, was 7.9), req/s -16 to +28 % (median +6 %);
 * creates and large-body updates unchanged within the noise (3 and 4 pairs, -9 to +9 %). Its own
 * CPU (0.007 ms an update) is mostly writeback the kernel's flusher threads did before. After
 * WRITEBACK_IDLE_TICKS without a checkpoint it sleeps until the next one. */
#define WRITEBACK_TICK_US 1000
#define WRITEBACK_IDLE_TICKS 100

static void *writeback_main(void *arg)
{
    pthread_setname_np(pthread_self(), "cm-writeback"); /* for top -H, perf, gdb */
    struct sqlite_store *s = arg;
    uint64_t seen = atomic_load(&s->ckpt_runs);
    int idle = 0;
    bool reported = false;
    pthread_mutex_lock(&s->wb_mu);
    while (!s->wb_stop) {
        if (atomic_load(&s->ckpt_runs) != seen) {
            seen = atomic_load(&s->ckpt_runs);
            idle = 0;
            pthread_mutex_unlock(&s->wb_mu);
            if (store_sqlite_before_writeback)
                store_sqlite_before_writeback();
            if (sync_file_range(s->db_fd, 0, 0, SYNC_FILE_RANGE_WRITE) != 0 && errno != EINTR &&
                !reported) {
                reported = true; /* once: it would say so every millisecond */
                char why[128];
                log_error("sqlite: sync_file_range of %s: %s", s->path,
                          strerror_r(errno, why, sizeof why));
            }
            pthread_mutex_lock(&s->wb_mu);
        } else if (++idle > WRITEBACK_IDLE_TICKS) {
            /* writeback_kick signals once it sees wb_asleep, or this sees its count: both are
             * sequentially consistent, so one of the two does */
            atomic_store(&s->wb_asleep, true);
            if (atomic_load(&s->ckpt_runs) == seen && !s->wb_stop)
                pthread_cond_wait(&s->wb_cv, &s->wb_mu);
            atomic_store(&s->wb_asleep, false);
            idle = 0;
            continue;
        }
        struct timespec until;
        clock_gettime(CLOCK_MONOTONIC, &until);
        until.tv_nsec += WRITEBACK_TICK_US * 1000L;
        if (until.tv_nsec >= 1000000000L) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&s->wb_cv, &s->wb_mu, &until); /* woken early by stop only */
    }
    pthread_mutex_unlock(&s->wb_mu);
    return NULL;
}

/* The checkpointer, after each checkpoint: one more for the writeback thread to follow. */
static void writeback_kick(struct sqlite_store *s)
{
    atomic_fetch_add(&s->ckpt_runs, 1);
    if (atomic_load(&s->wb_asleep)) {
        pthread_mutex_lock(&s->wb_mu);
        pthread_cond_signal(&s->wb_cv);
        pthread_mutex_unlock(&s->wb_mu);
    }
}

static void start_writeback(struct sqlite_store *s)
{
    s->wb_running = false;
    if (s->db_fd < 0)
        return;
    s->wb_stop = false;
    atomic_store(&s->wb_asleep, false);
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&s->wb_cv, &attr);
    pthread_condattr_destroy(&attr);
    pthread_mutex_init(&s->wb_mu, NULL);
    if (pthread_create(&s->writeback, NULL, writeback_main, s) != 0) {
        log_error("sqlite: cannot start the writeback thread"); /* it only goes slower */
        pthread_cond_destroy(&s->wb_cv);
        pthread_mutex_destroy(&s->wb_mu);
        return;
    }
    s->wb_running = true;
}

static void stop_writeback(struct sqlite_store *s)
{
    if (!s->wb_running)
        return;
    s->wb_running = false;
    pthread_mutex_lock(&s->wb_mu);
    s->wb_stop = true;
    pthread_cond_signal(&s->wb_cv);
    pthread_mutex_unlock(&s->wb_mu);
    pthread_join(s->writeback, NULL);
    pthread_cond_destroy(&s->wb_cv);
    pthread_mutex_destroy(&s->wb_mu);
}

static void *checkpointer_main(void *arg)
{
    pthread_setname_np(pthread_self(), "cm-checkpoint"); /* for top -H, perf, gdb */
    struct sqlite_store *s = arg;
    int restart_at = s->restart_frames; /* the WAL's size that calls for a RESTART */
    pthread_mutex_lock(&s->ckpt_mu);
    while (!s->ckpt_stop) {
        if (!s->ckpt_wanted) {
            pthread_cond_wait(&s->ckpt_cv, &s->ckpt_mu);
            continue;
        }
        s->ckpt_wanted = false;
        /* commits during the last checkpoint asked for another, counting from the copy before */
        if (!checkpoint_due(s))
            continue;
        pthread_mutex_unlock(&s->ckpt_mu);
        /* PASSIVE never waits for the writer, but under constant writes the WAL would never start
         * over; past WAL_RESTART_FRAMES a RESTART checkpoint (it briefly holds the writer off)
         * bounds it: the next commit writes the WAL from its start again, over the old frames.
         * Not TRUNCATE: cutting a 256 MiB file to nothing took ~90 ms, all of it with the writer
         * held off (the durable-update bench's p99 was that stall). */
        int log = 0, done = 0;
        int rc = atomic_load(&s->broken)
                     ? SQLITE_BUSY /* nothing more goes into the database file (mark_broken) */
                     : sqlite3_wal_checkpoint_v2(s->cdb, NULL, SQLITE_CHECKPOINT_PASSIVE, &log,
                                                 &done);
        if (rc == SQLITE_OK && log > restart_at) {
            int size = log;
            /* A PASSIVE checkpoint syncs the database file only when it copied the whole WAL,
             * which under constant writes it seldom does; the RESTART does, holding the writer
             * off meanwhile. What the checkpoints since the last such sync copied is synced
             * first, here, while writes go on: the writer waited 95-111 ms (every restart, with
             * checkpoints 16,000 pages apart), and 14 ms with this sync before. */
            if (s->db_fd >= 0 && fdatasync(s->db_fd) != 0 && errno != EINTR)
                mark_broken(s, "a sync of the database file"); /* and no checkpoint from here */
            else
                rc = sqlite3_wal_checkpoint_v2(s->cdb, NULL, SQLITE_CHECKPOINT_RESTART, &log,
                                               &done);
            restart_at = rc == SQLITE_BUSY ? size + RESTART_RETRY_FRAMES : s->restart_frames;
        }
        if (done >= 0)
            atomic_store(&s->ckpt_copied, done);
        if (store_sqlite_after_checkpoint)
            store_sqlite_after_checkpoint(log, done);
        if (rc != SQLITE_OK && rc != SQLITE_BUSY)
            log_error("sqlite: checkpoint: %s", sqlite3_errmsg(s->cdb));
        if (rc != SQLITE_OK && sqlite3_extended_errcode(s->cdb) == SQLITE_IOERR_FSYNC)
            mark_broken(s, "a sync in a checkpoint");
        writeback_kick(s);
        pthread_mutex_lock(&s->ckpt_mu);
    }
    pthread_mutex_unlock(&s->ckpt_mu);
    return NULL;
}

static int start_checkpointer(struct sqlite_store *s, char **err)
{
    s->ckpt_wanted = s->ckpt_stop = false; /* again after store_bulk_end */
    s->restart_frames = store_sqlite_restart_frames;
    s->checkpoint_frames = s->opt.checkpoint_pages > 0 && s->opt.checkpoint_pages <= INT_MAX
                               ? (int)s->opt.checkpoint_pages
                               : CHECKPOINT_FRAMES;
    atomic_store(&s->wal_frames, 0);
    atomic_store(&s->ckpt_copied, 0);
    pthread_mutex_init(&s->ckpt_mu, NULL);
    pthread_cond_init(&s->ckpt_cv, NULL);
    if (sqlite3_open_v2(s->path, &s->cdb, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL) !=
            SQLITE_OK ||
        exec_sql(s->cdb, durability_sync(s)) ||
        pthread_create(&s->checkpointer, NULL, checkpointer_main, s) != 0) {
        *err = xstrdup("cannot start the checkpointer");
        sqlite3_close(s->cdb);
        pthread_cond_destroy(&s->ckpt_cv);
        pthread_mutex_destroy(&s->ckpt_mu);
        return -1;
    }
    sqlite3_busy_handler(s->cdb, busy_retry, &s->ckpt_busy_ms);
    sqlite3_wal_hook(s->wconn->db, wal_grew, s);
    s->ckpt_running = true;
    start_writeback(s);
    return 0;
}

static void stop_checkpointer(struct sqlite_store *s)
{
    if (!s->ckpt_running)
        return;
    s->ckpt_running = false;
    pthread_mutex_lock(&s->ckpt_mu);
    s->ckpt_stop = true;
    pthread_cond_signal(&s->ckpt_cv);
    pthread_mutex_unlock(&s->ckpt_mu);
    pthread_join(s->checkpointer, NULL);
    stop_writeback(s); /* after the checkpointer: nothing kicks it any more */
    sqlite3_close(s->cdb); /* the last connection to close checkpoints what is left */
    pthread_cond_destroy(&s->ckpt_cv);
    pthread_mutex_destroy(&s->ckpt_mu);
}

/* Whether the group's transaction is still open. After an I/O error or a failed allocation in
 * any statement (SAVEPOINT included) SQLite may roll the whole transaction back by itself; a
 * SAVEPOINT run then would open a transaction of its own, which its RELEASE would commit alone,
 * in the middle of a group that is going to fail. */
static bool txn_open(struct sqlite_conn *c)
{
    return !sqlite3_get_autocommit(c->db);
}

/* Name changes queued before the writer applies them (migration 10). Applying 1,024 took
 * 10-14 ms inside one group's commit, every third of a second under the createTask bench: that
 * group's writes and all queued behind it waited (createTask p99 34-36 ms at 100,000 tasks). 128
 * at a time cost the same CPU and throughput and took p99 to 21-23 ms. */
#define FTS_BATCH 128
#define FTS_IDLE_MS 200  /* or how long the writer waits idle before it does */

/* Moves the name changes queued in fts_pending into the name index (migrations 5 and 10) once
 * there are at least min of them. */
static bool fts_apply(struct sqlite_conn *c, int min)
{
    sqlite3_stmt *st = c->stmt[ST_FTS_PENDING];
    int rc = sqlite3_step(st);
    int64_t queued = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : -1;
    sqlite3_reset(st);
    if (queued < 0) {
        log_error("sqlite: %s", sqlite3_errmsg(c->db));
        return false;
    }
    if (queued == 0 || queued < min)
        return true;
    return step_done(c, c->stmt[ST_FTS_APPLY]) == STORE_OK &&
           step_done(c, c->stmt[ST_FTS_CLEAR]) == STORE_OK &&
           step_done(c, c->stmt[ST_FTS_MERGE]) == STORE_OK;
}

/* record_updates (migration 19) holds each record's place in updatedAt order and the places
 * its updates left. The writer sweeps it in key order, SWEEP_SPAN entries every SWEEP_EVERY
 * writes, deleting those whose record has moved on, and starts over when it reaches the end. At
 * most one entry goes stale a write, so the stale ones are at most the writes of one round, and a
 * tenant's n records have at most n / (1 - SWEEP_EVERY / SWEEP_SPAN) entries: 2n. Each entry
 * looked at costs a look-up of its document's updatedAt by rowid (~1 us; migration 20); the
 * entries deleted are next to each other, a few pages in all. */
#define SWEEP_EVERY 256
#define SWEEP_SPAN 512

/* Deletes the stale entries of record_updates's next stretch, inside the writer's transaction,
 * once the writes since the last stretch (n more now) reach SWEEP_EVERY. */
static bool updates_sweep(struct sqlite_conn *c, unsigned n)
{
    c->sweep_due += n;
    if (c->sweep_due < SWEEP_EVERY)
        return true;
    c->sweep_due = 0;
    const char *from = c->sweep_id ? c->sweep_id : "";
    /* scopes start at 1: (0, 0, '') is before every entry */
    sqlite3_stmt *st = c->stmt[ST_SWEEP_END];
    sqlite3_bind_int64(st, 1, c->sweep_scope);
    sqlite3_bind_int64(st, 2, c->sweep_at);
    sqlite3_bind_text(st, 3, from, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 4, SWEEP_SPAN - 1);
    int rc = sqlite3_step(st);
    int64_t end_scope = INT64_MAX, end_at = INT64_MAX; /* past the last entry: to the end */
    char *end_id = NULL;
    if (rc == SQLITE_ROW) {
        end_scope = sqlite3_column_int64(st, 0);
        end_at = sqlite3_column_int64(st, 1);
        end_id = xstrdup((const char *)sqlite3_column_text(st, 2));
    } else if (rc != SQLITE_DONE) {
        log_error("sqlite: %s", sqlite3_errmsg(c->db));
    }
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return false;
    st = c->stmt[ST_SWEEP];
    sqlite3_bind_int64(st, 1, c->sweep_scope);
    sqlite3_bind_int64(st, 2, c->sweep_at);
    sqlite3_bind_text(st, 3, from, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 4, end_scope);
    sqlite3_bind_int64(st, 5, end_at);
    sqlite3_bind_text(st, 6, end_id ? end_id : "", -1, SQLITE_STATIC);
    bool ok = step_done(c, st) == STORE_OK;
    sqlite3_clear_bindings(st);
    /* the next stretch starts after this one, or at the first entry again */
    free(c->sweep_id);
    c->sweep_id = end_id;
    c->sweep_scope = end_id ? end_scope : 0;
    c->sweep_at = end_id ? end_at : 0;
    return ok;
}

/* Applies whatever name changes are queued, in a transaction of its own: when the writer is
 * idle, or stops. True when there were none, or once they are committed. */
static bool fts_apply_all(struct sqlite_conn *c)
{
    if (step_done(c, c->stmt[ST_BEGIN_IMMEDIATE]) != STORE_OK)
        return false;
    bool committed = fts_apply(c, 1) && step_done(c, c->stmt[ST_COMMIT]) == STORE_OK;
    if (!committed && txn_open(c))
        step_done(c, c->stmt[ST_ROLLBACK]);
    return committed;
}

/* Gives a job its result: wakes its caller, or calls its then (and frees it). */
static void job_answer(struct write_job *j)
{
    if (!j->then) {
        sem_post(&j->done);
        return;
    }
    j->then(j->rc, j->arg);
    free(j);
}

/* Hands a group to the syncer, which answers its callers once the WAL is synced. A group that
 * did not commit goes too, already failed, so that the syncs end in commit order. */
static void to_syncer(struct sqlite_store *s, struct write_job *group, uint64_t seq, bool committed)
{
    struct write_job *last = group;
    for (struct write_job *j = group; j; j = j->next) {
        /* every result of the group came from its transaction (see commit_group) */
        if (!committed)
            j->rc = STORE_ERROR;
        last = j;
    }
    pthread_mutex_lock(&s->sync_mu);
    if (s->sync_tail)
        s->sync_tail->next = group;
    else
        s->sync_head = group;
    s->sync_tail = last;
    s->sync_seq = seq;
    s->unsynced++;
    pthread_cond_signal(&s->sync_cv);
    pthread_mutex_unlock(&s->sync_mu);
}

/* Runs one group of writes in one transaction (see the comment at the top). */
static void commit_group(struct sqlite_store *s, struct write_job *group)
{
    struct sqlite_conn *c = s->wconn;
    bool began = !atomic_load(&s->broken) && step_done(c, c->stmt[ST_BEGIN_IMMEDIATE]) == STORE_OK;
    struct sqlite_txn t = {.base = {.store = &s->base}, .conn = c};
    for (struct write_job *j = group; j; j = j->next) {
        if (began && !txn_open(c))
            began = false;
        if (!began || step_done(c, c->stmt[ST_SAVEPOINT]) != STORE_OK) {
            j->rc = STORE_ERROR;
            continue;
        }
        j->rc = j->fn(&t.base, j->arg);
        if (j->rc != STORE_OK && step_done(c, c->stmt[ST_ROLLBACK_TO]) != STORE_OK)
            began = false; /* cannot undo this write alone: fail the group */
        if (step_done(c, c->stmt[ST_RELEASE]) != STORE_OK)
            began = false;
    }
    /* numbered before the COMMIT: a read that sees it waits for its sync (note_horizon) */
    uint64_t seq = s->pipelined ? atomic_fetch_add(&s->committing, 1) + 1 : 0;
    unsigned jobs = 0;
    for (struct write_job *j = group; j; j = j->next)
        jobs++;
    bool committed = began && txn_open(c) && fts_apply(c, FTS_BATCH) && updates_sweep(c, jobs) &&
                     step_done(c, c->stmt[ST_COMMIT]) == STORE_OK;
    if (began && !committed && sqlite3_extended_errcode(c->db) == SQLITE_IOERR_FSYNC)
        mark_broken(s, "a sync at a commit"); /* the syncer is not running: the commit syncs */
    if (!committed && txn_open(c))
        step_done(c, c->stmt[ST_ROLLBACK]);
    if (seq) {
        to_syncer(s, group, seq, committed);
        return;
    }
    for (struct write_job *j = group; j;) {
        struct write_job *next = j->next; /* j may vanish once posted */
        /* Every result of the group came from its transaction, including a job's decision to
         * write nothing (an Idempotency-Key replay, a 404, a conflict) made after reading what
         * earlier jobs wrote: if the transaction did not commit, none of them stands. */
        if (!committed)
            j->rc = STORE_ERROR;
        job_answer(j);
        j = next;
    }
}

/* When the writer's wait for work is over: FTS_IDLE_MS from now. */
static struct timespec idle_deadline(void)
{
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    t.tv_nsec += (long)FTS_IDLE_MS * 1000000L;
    t.tv_sec += t.tv_nsec / 1000000000L;
    t.tv_nsec %= 1000000000L;
    return t;
}

/* Under queue_mu (released while waiting): until fewer than PIPELINE_DEPTH groups await
 * their sync. Meanwhile writes queue up and make the next group larger. */
static void wait_pipeline(struct sqlite_store *s)
{
    pthread_mutex_lock(&s->sync_mu);
    bool full = s->unsynced >= PIPELINE_DEPTH;
    pthread_mutex_unlock(&s->sync_mu);
    if (!full)
        return;
    pthread_mutex_unlock(&s->queue_mu);
    pthread_mutex_lock(&s->sync_mu);
    while (s->unsynced >= PIPELINE_DEPTH)
        pthread_cond_wait(&s->synced_cv, &s->sync_mu);
    pthread_mutex_unlock(&s->sync_mu);
    pthread_mutex_lock(&s->queue_mu);
}

/* After a failed sync (the WAL's, or one inside a checkpoint or a commit) the kernel may have
 * dropped the pages it could not write and reports that once: a later sync of the file succeeds
 * without them. Writing on would build on frames that may not be on disk, and checkpoints would
 * copy them into the database (a review helper's test on a failing device: acknowledged records
 * unreadable, the database malformed). So, as PostgreSQL stops at a failed fsync, from here every
 * write is refused (503), and every read too (its snapshot holds what was not synced:
 * store_settle), no checkpoint runs, /readyz is not ready, and closing does not checkpoint: a
 * restart recovers the database from what is on disk, which holds every write answered 200. */
static void mark_broken(struct sqlite_store *s, const char *what)
{
    if (!atomic_exchange(&s->broken, true))
        log_error("sqlite: %s failed: every write is refused (503) until casemgr is restarted, "
                  "which recovers the database from what is on disk",
                  what);
}

/* Syncs the WAL for every group queued so far, records it, and wakes their callers. */
static void *syncer_main(void *arg)
{
    pthread_setname_np(pthread_self(), "cm-syncer"); /* for top -H, perf, gdb */
    struct sqlite_store *s = arg;
    pthread_mutex_lock(&s->sync_mu);
    for (;;) {
        while (!s->sync_head && !s->sync_stop)
            pthread_cond_wait(&s->sync_cv, &s->sync_mu);
        struct write_job *jobs = s->sync_head;
        if (!jobs)
            break; /* stopping, and nothing left */
        uint64_t seq = s->sync_seq;
        unsigned groups = s->unsynced;
        s->sync_head = s->sync_tail = NULL;
        pthread_mutex_unlock(&s->sync_mu);
        if (store_sqlite_before_sync)
            store_sqlite_before_sync();
        int rc;
        while ((rc = fdatasync(s->wal_fd)) != 0 && errno == EINTR)
            ;
        if (rc != 0) {
            char why[128];
            log_error("sqlite: fdatasync of the WAL: %s", strerror_r(errno, why, sizeof why));
            mark_broken(s, "a sync of the WAL");
        }
        if (atomic_load(&s->broken))
            rc = -1; /* a sync after a failed one proves nothing (mark_broken) */
        pthread_mutex_lock(&s->sync_mu);
        s->attempted = seq;
        if (rc == 0)
            atomic_store(&s->synced, seq);
        s->unsynced -= groups;
        pthread_cond_broadcast(&s->synced_cv);
        pthread_mutex_unlock(&s->sync_mu);
        for (struct write_job *j = jobs, *next; j; j = next) {
            next = j->next; /* j may vanish once posted */
            if (rc != 0)
                j->rc = STORE_ERROR; /* committed, but not known to be on disk */
            job_answer(j);
        }
        pthread_mutex_lock(&s->sync_mu);
    }
    pthread_mutex_unlock(&s->sync_mu);
    return NULL;
}

/* "what path: " and errno's text, on the heap. */
static char *errno_message(const char *what, const char *path)
{
    char m[512];
    snprintf(m, sizeof m, "%s %s: %m", what, path);
    return xstrdup(m);
}

/* Opens the -wal file SQLite made (any connection in WAL mode has) for the syncer, and syncs
 * its directory: SQLite syncs it at a new WAL's first sync, which its commits no longer make. */
static int open_wal(struct sqlite_store *s, char **err)
{
    size_t n = strlen(s->path);
    char *wal = xmalloc(n + 5);
    memcpy(wal, s->path, n);
    memcpy(wal + n, "-wal", 5);
    s->wal_fd = open(wal, O_RDWR | O_CLOEXEC);
    free(wal);
    if (s->wal_fd < 0) {
        *err = errno_message("cannot open the WAL of", s->path);
        return -1;
    }
    char *dir = xstrdup(s->path);
    char *slash = strrchr(dir, '/');
    if (slash)
        slash[slash == dir ? 1 : 0] = '\0';
    int dfd = open(slash ? dir : ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    free(dir);
    if (dfd < 0 || fsync(dfd) != 0) {
        *err = errno_message("cannot sync the directory of", s->path);
        if (dfd >= 0)
            close(dfd);
        close(s->wal_fd);
        s->wal_fd = -1;
        return -1;
    }
    close(dfd);
    return 0;
}

/* Starts the syncer (durability full; nothing to do for normal), with the writer stopped. From
 * here the writer's commits do not sync: the syncer does. */
static int start_syncer(struct sqlite_store *s, char **err)
{
    if (s->opt.durability == STORE_DURABILITY_NORMAL)
        return 0;
    if (open_wal(s, err) != 0)
        return -1;
    pthread_mutex_lock(&s->sync_mu);
    s->sync_stop = false;
    s->syncer_running = pthread_create(&s->syncer, NULL, syncer_main, s) == 0;
    pthread_mutex_unlock(&s->sync_mu);
    if (!s->syncer_running || exec_sql(s->wconn->db, "PRAGMA synchronous=NORMAL")) {
        *err = xstrdup("cannot start the syncer");
        stop_syncer(s); /* closes the WAL's descriptor when the thread ran */
        if (s->wal_fd >= 0)
            close(s->wal_fd);
        s->wal_fd = -1;
        return -1;
    }
    s->pipelined = true;
    return 0;
}

/* Syncs and answers what is left and stops the syncer, with the writer stopped; its commits
 * sync again (synchronous=FULL). */
static void stop_syncer(struct sqlite_store *s)
{
    s->pipelined = false;
    pthread_mutex_lock(&s->sync_mu);
    bool running = s->syncer_running;
    s->sync_stop = true;
    pthread_cond_signal(&s->sync_cv);
    pthread_mutex_unlock(&s->sync_mu);
    if (!running)
        return;
    pthread_join(s->syncer, NULL);
    pthread_mutex_lock(&s->sync_mu);
    s->syncer_running = false;
    pthread_cond_broadcast(&s->synced_cv); /* a settle waiting for a number never counted */
    pthread_mutex_unlock(&s->sync_mu);
    close(s->wal_fd);
    s->wal_fd = -1;
    exec_sql(s->wconn->db, durability_sync(s)); /* a failure shows at the next commit */
}

static void sync_destroy(struct sqlite_store *s)
{
    pthread_cond_destroy(&s->synced_cv);
    pthread_cond_destroy(&s->sync_cv);
    pthread_mutex_destroy(&s->sync_mu);
}

static void *writer_main(void *arg)
{
    pthread_setname_np(pthread_self(), "cm-writer"); /* for top -H, perf, gdb */
    struct sqlite_store *s = arg;
    bool names_queued = true; /* fts_pending may hold changes: any group may have queued some */
    pthread_mutex_lock(&s->queue_mu);
    for (;;) {
        while (!s->queue_head && !s->stopping) {
            if (!names_queued) {
                pthread_cond_wait(&s->queue_cv, &s->queue_mu);
                continue;
            }
            struct timespec until = idle_deadline();
            if (pthread_cond_timedwait(&s->queue_cv, &s->queue_mu, &until) == ETIMEDOUT &&
                !s->queue_head && !s->stopping) {
                pthread_mutex_unlock(&s->queue_mu);
                if (!atomic_load(&s->broken)) /* on failure, the next group's commit tries again */
                    fts_apply_all(s->wconn);
                names_queued = false;
                pthread_mutex_lock(&s->queue_mu);
            }
        }
        if (!s->queue_head && s->stopping)
            break;
        if (s->pipelined)
            wait_pipeline(s); /* the group after next waits for the sync of the one before */
        struct write_job *group = s->queue_head, *last = group;
        for (int n = 1; n < GROUP_MAX && last->next; n++)
            last = last->next;
        s->queue_head = last->next;
        if (!s->queue_head)
            s->queue_tail = NULL;
        last->next = NULL;
        pthread_mutex_unlock(&s->queue_mu);
        commit_group(s, group);
        names_queued = true;
        pthread_mutex_lock(&s->queue_mu);
    }
    pthread_mutex_unlock(&s->queue_mu);
    if (names_queued && !atomic_load(&s->broken))
        fts_apply_all(s->wconn); /* a closed database keeps no queue */
    return NULL;
}

static int sqlite_read(struct store *base, store_txn_fn fn, void *arg)
{
    return run_txn(base, false, fn, arg);
}

static int sqlite_read_keep(struct store *base, store_txn_fn fn, void *arg)
{
    return run_txn(base, true, fn, arg);
}

static void sqlite_read_end(struct store *base)
{
    read_end((struct sqlite_store *)base);
}

/* The newest commit this thread's reads may have seen, unless it is synced already (see the
 * top); the thread's reads are forgotten. */
static uint64_t sqlite_settle_ticket(struct store *base)
{
    struct sqlite_store *s = (struct sqlite_store *)base;
    if (tls_horizon.store_id != s->id)
        return 0;
    uint64_t want = tls_horizon.seq;
    tls_horizon.seq = 0;
    return atomic_load(&s->synced) >= want ? 0 : want;
}

/* Waits until commit number want is synced. */
static int sqlite_settle_wait(struct store *base, uint64_t want)
{
    struct sqlite_store *s = (struct sqlite_store *)base;
    if (atomic_load(&s->synced) >= want)
        return STORE_OK;
    wait_enter();
    pthread_mutex_lock(&s->sync_mu);
    /* every number counted has its group queued for the syncer by now or soon (to_syncer) */
    while (s->attempted < want && s->syncer_running)
        pthread_cond_wait(&s->synced_cv, &s->sync_mu);
    bool ok = atomic_load(&s->synced) >= want;
    pthread_mutex_unlock(&s->sync_mu);
    wait_leave();
    return ok ? STORE_OK : STORE_ERROR;
}

static bool sqlite_ready(struct store *base)
{
    struct sqlite_store *s = (struct sqlite_store *)base;
    if (atomic_load(&s->broken))
        return false; /* writes are refused until a restart (mark_broken) */
    struct sqlite_conn *c = conn_get(s);
    return c && exec_sql(c->db, "SELECT count(*) FROM sqlite_schema") == 0;
}

static struct sqlite_conn *txn_conn(struct store_txn *t)
{
    return ((struct sqlite_txn *)t)->conn;
}

static void bind_text(sqlite3_stmt *st, int i, const char *v)
{
    if (v)
        sqlite3_bind_text(st, i, v, -1, SQLITE_STATIC);
    else
        sqlite3_bind_null(st, i);
}

/* Runs a one-column text query bound to (a, b); OK with a heap copy, NOT_FOUND, or ERROR. */
static int get_text(struct store_txn *t, enum stmt_id id, const char *a, const char *b, char **out)
{
    struct sqlite_conn *c = txn_conn(t);
    sqlite3_stmt *st = c->stmt[id];
    bind_text(st, 1, a);
    if (b)
        bind_text(st, 2, b);
    int rc = sqlite3_step(st);
    int status;
    if (rc == SQLITE_ROW) {
        const char *v = (const char *)sqlite3_column_text(st, 0);
        *out = xstrdup(v ? v : "");
        status = STORE_OK;
    } else if (rc == SQLITE_DONE) {
        status = STORE_NOT_FOUND;
    } else {
        log_error("sqlite: %s", sqlite3_errmsg(c->db));
        status = STORE_ERROR;
    }
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return status;
}

static int sqlite_app_put(struct store_txn *t, const char *client_id, const char *account_id,
                          const char *json)
{
    struct sqlite_conn *c = txn_conn(t);
    sqlite3_stmt *st = c->stmt[ST_APP_PUT];
    bind_text(st, 1, client_id);
    bind_text(st, 2, account_id);
    sqlite3_bind_int64(st, 3, time_now_ms());
    bind_text(st, 4, json);
    return step_done(c, st);
}

static int sqlite_app_get(struct store_txn *t, const char *client_id, char **json)
{
    return get_text(t, ST_APP_GET, client_id, NULL, json);
}

static int sqlite_app_each(struct store_txn *t, void (*fn)(const char *json, void *arg), void *arg)
{
    struct sqlite_conn *c = txn_conn(t);
    sqlite3_stmt *st = c->stmt[ST_APP_EACH];
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW)
        fn((const char *)sqlite3_column_text(st, 0), arg);
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? STORE_OK : STORE_ERROR;
}

static int sqlite_stream_put(struct store_txn *t, const char *stream_id, const char *json)
{
    struct sqlite_conn *c = txn_conn(t);
    sqlite3_stmt *st = c->stmt[ST_STREAM_PUT];
    bind_text(st, 1, stream_id);
    bind_text(st, 2, json);
    return step_done(c, st);
}

static int sqlite_stream_get(struct store_txn *t, const char *stream_id, char **json)
{
    return get_text(t, ST_STREAM_GET, stream_id, NULL, json);
}

static int sqlite_catalog_version(struct store_txn *t, int64_t *v)
{
    struct sqlite_conn *c = txn_conn(t);
    sqlite3_stmt *st = c->stmt[ST_CATALOG_VERSION];
    int rc = sqlite3_step(st);
    int status = STORE_OK;
    if (rc == SQLITE_ROW) {
        *v = sqlite3_column_int64(st, 0);
    } else {
        if (rc != SQLITE_DONE)
            log_error("sqlite: catalog version: %s", sqlite3_errmsg(c->db));
        status = STORE_ERROR; /* the migration's row is never deleted */
    }
    sqlite3_reset(st);
    return status;
}

static int sqlite_next_ref(struct store_txn *t, const char *stream_id, const char *kind,
                           int64_t *out)
{
    struct sqlite_conn *c = txn_conn(t);
    sqlite3_stmt *st = c->stmt[ST_REF_BUMP];
    bind_text(st, 1, stream_id);
    bind_text(st, 2, kind);
    int rc = step_done(c, st);
    if (rc != STORE_OK)
        return rc;
    char *v = NULL;
    rc = get_text(t, ST_REF_GET, stream_id, kind, &v);
    if (rc == STORE_OK)
        *out = strtoll(v, NULL, 10);
    free(v);
    return rc == STORE_NOT_FOUND ? STORE_ERROR : rc;
}

/* A case's document text with the ids of the tasks added to the case since it was written
 * (migration 13) appended to its taskIds, in the order they were added: *out (heap, *out_len),
 * or NULL when there are none (the text as it is). */
static int with_task_adds(struct sqlite_conn *c, int64_t rid, const char *doc, size_t len,
                          char **out, size_t *out_len)
{
    *out = NULL;
    sqlite3_stmt *st = c->stmt[ST_CASE_ADDS];
    sqlite3_bind_int64(st, 1, rid);
    char **ids = NULL;
    size_t n = 0, cap = 0;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (n == cap) {
            cap = cap ? cap * 2 : 16;
            ids = xrealloc(ids, cap * sizeof *ids);
        }
        ids[n++] = xstrdup((const char *)sqlite3_column_text(st, 0));
    }
    sqlite3_reset(st);
    int status = rc == SQLITE_DONE ? STORE_OK : STORE_ERROR;
    if (status != STORE_OK)
        log_error("sqlite: a case's added tasks: %s", sqlite3_errmsg(c->db));
    if (status == STORE_OK && n > 0) {
        *out = store_task_ids_append(doc, len, (const char *const *)ids, n, out_len);
        if (!*out) {
            log_error("sqlite: a case's document does not take its added tasks");
            status = STORE_ERROR;
        }
    }
    for (size_t i = 0; i < n; i++)
        free(ids[i]);
    free(ids);
    return status;
}

static int clear_task_adds(struct sqlite_conn *c, int64_t rid)
{
    sqlite3_stmt *st = c->stmt[ST_CASE_ADDS_CLEAR];
    sqlite3_bind_int64(st, 1, rid);
    return step_done(c, st);
}

/* A put's document, with its updatedAt; or (whole) the document alone, of a record that has one. */
static int write_doc(struct sqlite_conn *c, int64_t rid, const struct store_record *r, bool whole)
{
    sqlite3_stmt *st = c->stmt[whole ? ST_DOC_SET : ST_DOC_PUT];
    sqlite3_bind_int64(st, 1, rid);
    sqlite3_bind_text(st, 2, r->doc, (int)r->doc_len, SQLITE_STATIC);
    if (!whole)
        sqlite3_bind_int64(st, 3, r->updated_at);
    int rc = step_done(c, st);
    sqlite3_clear_bindings(st);
    if (rc == STORE_OK && whole && sqlite3_changes(c->db) != 1) {
        log_error("sqlite: record %lld has no document", (long long)rid);
        rc = STORE_ERROR;
    }
    return rc;
}

/* Activities are stored compressed, as a BLOB: ACT_LZ4, the text's length (4 bytes, little-endian)
 * and the text as one LZ4 block. An activity names each changed member's old and new value, and a
 * change of name, desc or dueDate names the whole fields array twice (API.md §7): 3 KB of text,
 * a page of WAL per update and most of what a busy database grows by. LZ4 makes it ~1 KB in ~1 µs
 * (zstd's level 1: 0.7 KB in ~5 µs), three to a page. Measured side by side on the update bench
 * (100,000 tasks, 10 pairs): the checkpointer's CPU -6 to -16 %, updates a second +4 % (median;
 * -5 to +16 %). Activities written as TEXT, before, are read as they are; so is one that LZ4
 * would not make smaller. PostgreSQL compresses such values itself (TOAST, past 2 KB). */
#define ACT_LZ4 1
#define ACT_HEAD 5
#define ACT_TEXT_MAX (64 << 20) /* past this a stored length is damage, not an activity */
/* LZ4's acceleration: on the last 20,000 activities of the update bench (desc changes, 3,059
 * bytes of text each), 1 made 984 bytes in 2.33 us, 2 makes 1,021 in 1.61 us, 3 1,081 in 1.30,
 * 8 1,470 in 1.15. The writer compresses every activity, and every write waits for the writer:
 * 2 takes 0.7 us off each for 4 % more bytes. */
#define ACT_ACCELERATION 2

/* The stored form of an activity's text: a BLOB (malloc'd, *n bytes), or NULL to store the text.
 * Compressed with c's LZ4 state, made once and reset for each text (LZ4_resetStream_fast), so
 * the text is one block that needs no other: LZ4_compress_default made its 16 KiB state anew
 * for every activity (LZ4_initStream's memset: a small update's instructions -3.4 %, callgrind,
 * which counts a memset's bytes; req/s side by side, creates and updates: within the noise). */
static unsigned char *activity_pack(struct sqlite_conn *c, const char *text, size_t len, int *n)
{
    int bound = len <= ACT_TEXT_MAX ? LZ4_compressBound((int)len) : 0;
    if (bound <= 0)
        return NULL;
    if (!c->lz4) {
        LZ4_stream_t *lz4 = xmalloc(sizeof *lz4);
        if (!LZ4_initStream(lz4, sizeof *lz4)) { /* misaligned: malloc's never is */
            free(lz4);
            return NULL;
        }
        c->lz4 = lz4;
    }
    unsigned char *out = xmalloc(ACT_HEAD + (size_t)bound);
    LZ4_resetStream_fast(c->lz4);
    int z = LZ4_compress_fast_continue(c->lz4, text, (char *)out + ACT_HEAD, (int)len, bound,
                                       ACT_ACCELERATION);
    if (z <= 0 || (size_t)z + ACT_HEAD >= len) {
        free(out);
        return NULL;
    }
    out[0] = ACT_LZ4;
    for (int i = 0; i < 4; i++)
        out[1 + i] = (unsigned char)(len >> (8 * i));
    *n = ACT_HEAD + z;
    return out;
}

/* An activity's text from its stored form (see activity_pack): malloc'd and NUL-terminated, or
 * NULL when the BLOB is not one activity_pack wrote. */
static char *activity_unpack(const unsigned char *blob, size_t n)
{
    if (n < ACT_HEAD || blob[0] != ACT_LZ4)
        return NULL;
    size_t len = 0;
    for (int i = 0; i < 4; i++)
        len |= (size_t)blob[1 + i] << (8 * i);
    if (len > ACT_TEXT_MAX || n - ACT_HEAD > (size_t)INT32_MAX)
        return NULL;
    char *text = xmalloc(len + 1);
    int got = LZ4_decompress_safe((const char *)blob + ACT_HEAD, text, (int)(n - ACT_HEAD),
                                  (int)len);
    if (got < 0 || (size_t)got != len) {
        free(text);
        return NULL;
    }
    text[len] = '\0';
    return text;
}

/* Writes the activity of an update; its seq, followed by a comma, into seq (*len bytes). */
static int write_activity(struct sqlite_conn *c, const struct store_activity *a, char seq[32],
                          int *len)
{
    sqlite3_stmt *st = c->stmt[ST_ACTIVITY_PUT];
    bind_text(st, 1, a->id);
    bind_text(st, 2, a->stream_id);
    bind_text(st, 3, a->account_id);
    bind_text(st, 4, a->record_id);
    sqlite3_bind_int64(st, 5, a->created_at);
    int packed_len;
    unsigned char *packed = activity_pack(c, a->doc, strlen(a->doc), &packed_len);
    if (packed)
        sqlite3_bind_blob(st, 6, packed, packed_len, free);
    else
        bind_text(st, 6, a->doc);
    int rc = step_done(c, st);
    sqlite3_clear_bindings(st);
    if (rc == STORE_OK)
        *len = snprintf(seq, 32, "%lld,", (long long)sqlite3_last_insert_rowid(c->db));
    return rc;
}

/* Replaces the record_values rows of record rid with r's values (see store.h). */
static int write_values(struct sqlite_conn *c, int64_t rid, const struct store_record *r,
                        bool fresh)
{
    if (!fresh) {
        sqlite3_stmt *del = c->stmt[ST_VALUES_DELETE];
        sqlite3_bind_int64(del, 1, rid);
        if (step_done(c, del) != STORE_OK)
            return STORE_ERROR;
    }
    sqlite3_stmt *ins = c->stmt[ST_VALUES_INSERT];
    const char *p = r->values, *end = r->values ? r->values + r->values_len : NULL;
    while (p && p < end) {
        const char *sep = memchr(p, '\x1d', (size_t)(end - p));
        const char *stop = sep ? memchr(sep, '\x1e', (size_t)(end - sep)) : NULL;
        if (!stop)
            break;
        sqlite3_bind_int64(ins, 1, rid);
        sqlite3_bind_text(ins, 2, p, (int)(sep - p), SQLITE_STATIC);
        sqlite3_bind_text(ins, 3, sep + 1, (int)(stop - sep - 1), SQLITE_STATIC);
        if (step_done(c, ins) != STORE_OK)
            return STORE_ERROR;
        p = stop + 1;
    }
    return STORE_OK;
}

static int sqlite_record_put(struct store_txn *t, struct store_record *r)
{
    struct sqlite_conn *c = txn_conn(t);
    sqlite3_stmt *st = c->stmt[ST_RECORD_PUT];
    bind_text(st, 1, r->id);
    sqlite3_bind_int(st, 2, (int)r->kind);
    bind_text(st, 3, r->stream_id);
    bind_text(st, 4, r->account_id);
    bind_text(st, 5, r->ref_id);
    bind_text(st, 6, r->case_id);
    bind_text(st, 7, r->name_lower);
    bind_text(st, 8, r->status_name);
    bind_text(st, 9, r->status_category);
    bind_text(st, 10, r->priority_name);
    sqlite3_bind_int(st, 11, r->priority_score);
    bind_text(st, 12, r->assignee);
    sqlite3_bind_int64(st, 13, r->created_at);
    if (r->has_due_date)
        sqlite3_bind_int64(st, 15, r->due_date);
    else
        sqlite3_bind_null(st, 15);
    sqlite3_bind_text(st, 16, r->doc, (int)r->doc_len, SQLITE_STATIC);
    bind_text(st, 17, r->source);
    sqlite3_bind_int64(st, 18, r->ref_seq);
    sqlite3_bind_int(st, 19, r->breached ? 1 : 0);
    int rc = sqlite3_step(st);
    int status;
    int64_t rid = 0;
    if (rc == SQLITE_ROW) {
        r->version = sqlite3_column_int64(st, 0);
        rid = sqlite3_column_int64(st, 1);
        status = STORE_OK;
    } else if (rc == SQLITE_DONE) {
        status = STORE_CONFLICT; /* the id exists under another tenant or kind */
    } else {
        log_error("sqlite: record put: %s", sqlite3_errmsg(c->db));
        status = rc == SQLITE_CONSTRAINT ? STORE_CONFLICT : STORE_ERROR;
    }
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    if (status == STORE_OK)
        status = write_doc(c, rid, r, false);
    if (status == STORE_OK)
        status = write_values(c, rid, r, r->version == 1);
    return status;
}

/* Raises a record's version (*version) and finds its rowid (*rid); NOT_FOUND when the tenant
 * has no such record. */
static int bump_version(struct sqlite_conn *c, enum store_kind kind, const char *stream_id,
                        const char *account_id, const char *id, int64_t *version, int64_t *rid)
{
    sqlite3_stmt *st = c->stmt[ST_RECORD_BUMP];
    bind_text(st, 1, id);
    sqlite3_bind_int(st, 2, (int)kind);
    bind_text(st, 3, stream_id);
    bind_text(st, 4, account_id);
    int rc = sqlite3_step(st);
    int status = rc == SQLITE_ROW ? STORE_OK : rc == SQLITE_DONE ? STORE_NOT_FOUND : STORE_ERROR;
    if (rc == SQLITE_ROW) {
        *version = sqlite3_column_int64(st, 0);
        *rid = sqlite3_column_int64(st, 1);
    } else if (rc != SQLITE_DONE) {
        log_error("sqlite: record version: %s", sqlite3_errmsg(c->db));
    }
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return status;
}

static int sqlite_record_set_doc(struct store_txn *t, enum store_kind kind, const char *stream_id,
                                 const char *account_id, const char *id, const char *doc,
                                 size_t len, int64_t *version)
{
    struct sqlite_conn *c = txn_conn(t);
    int64_t rid = 0;
    int rc = bump_version(c, kind, stream_id, account_id, id, version, &rid);
    if (rc != STORE_OK)
        return rc;
    struct store_record r = {.doc = (char *)doc, .doc_len = len};
    rc = write_doc(c, rid, &r, true);
    /* the whole document: a case's added tasks are in it (migration 13) */
    return rc == STORE_OK && kind == STORE_CASE ? clear_task_adds(c, rid) : rc;
}

/* A task joins its case's taskIds (migration 13): a row of case_task_adds and the case's
 * version raised, not its document written again. */
static int sqlite_case_add_task(struct store_txn *t, const char *stream_id,
                                const char *account_id, const char *case_id,
                                const char *task_id, int64_t *version)
{
    struct sqlite_conn *c = txn_conn(t);
    int64_t rid = 0;
    int rc = bump_version(c, STORE_CASE, stream_id, account_id, case_id, version, &rid);
    if (rc != STORE_OK)
        return rc;
    sqlite3_stmt *st = c->stmt[ST_CASE_ADD];
    sqlite3_bind_int64(st, 1, rid);
    bind_text(st, 2, task_id);
    rc = step_done(c, st);
    sqlite3_clear_bindings(st);
    return rc;
}

static bool same(const char *a, const char *b)
{
    return a == b || (a && b && strcmp(a, b) == 0);
}

static sqlite3_stmt *query_stmt(struct sqlite_conn *c, const char *sql);

/* Writes an update's document, its updatedAt and its activity's seq (seq NULL: none) when the
 * version is still expect (0: whatever it is), and sets r->version: row_version (records.version)
 * plus the document's (migration 20). */
static int update_doc(struct sqlite_conn *c, int64_t rid, struct store_record *r, const char *seq,
                      int seq_len, int64_t row_version, int64_t expect)
{
    sqlite3_stmt *st = c->stmt[expect ? ST_DOC_UPDATE_IF : ST_DOC_UPDATE];
    sqlite3_bind_int64(st, 1, rid);
    sqlite3_bind_int64(st, 2, r->updated_at);
    sqlite3_bind_text(st, 3, r->doc, (int)r->doc_len, SQLITE_STATIC);
    if (seq)
        sqlite3_bind_text(st, 4, seq, seq_len, SQLITE_STATIC);
    if (expect)
        sqlite3_bind_int64(st, 5, expect - row_version);
    int rc = sqlite3_step(st);
    int status = STORE_ERROR;
    if (rc == SQLITE_ROW && !expect) {
        r->version = row_version + sqlite3_column_int64(st, 0);
        status = STORE_OK;
    } else if (rc == SQLITE_DONE && expect && sqlite3_changes(c->db) == 1) {
        r->version = expect + 1; /* the document's part went up by one */
        status = STORE_OK;
    } else if (rc == SQLITE_DONE && expect) {
        status = STORE_CONFLICT; /* another write came first */
    } else if (rc == SQLITE_DONE) {
        log_error("sqlite: record %lld has no document", (long long)rid);
    } else {
        log_error("sqlite: document update: %s", sqlite3_errmsg(c->db));
    }
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return status;
}

/* Appends ", piece" to the SET list set (of size 512; the pieces are constants, under 300 bytes
 * in all). */
static void set_column(char *set, const char *piece)
{
    size_t n = strlen(set);
    snprintf(set + n, 512 - n, ", %s", piece);
}

/* Steps a look-up of one record by id (?1 id, ?2 kind, ?3 stream, ?4 account): at, the same
 * look-up at the rowid the id was last seen at (?5, store/ridhint), first when there is a hint;
 * when that finds no row (a wrong hint, or no such record of this tenant and kind), by, which
 * walks the id index and decides. Returns sqlite3_step's code and the statement stepped, which
 * the caller resets (and clears). */
static int step_by_id(struct store_txn *t, sqlite3_stmt *at, sqlite3_stmt *by, enum store_kind kind,
                      const char *stream_id, const char *account_id, const char *id,
                      sqlite3_stmt **stepped)
{
    struct ridhint *rids = ((struct sqlite_store *)t->store)->rids;
    int64_t rid = ridhint_get(rids, id, strlen(id));
    sqlite3_stmt *st = rid ? at : by;
    int rc;
    for (;;) {
        bind_text(st, 1, id);
        sqlite3_bind_int(st, 2, (int)kind);
        bind_text(st, 3, stream_id);
        bind_text(st, 4, account_id);
        if (rid)
            sqlite3_bind_int64(st, 5, rid);
        rc = sqlite3_step(st);
        if (rc != SQLITE_DONE || !rid)
            break;
        sqlite3_reset(st);
        sqlite3_clear_bindings(st);
        rid = 0;
        st = by;
    }
    *stepped = st;
    return rc;
}

/* Keeps the rowid a look-up by id found (step_by_id). */
static void hint_rid(struct store_txn *t, const char *id, int64_t rid)
{
    ridhint_put(((struct sqlite_store *)t->store)->rids, id, strlen(id), rid);
}

/* Binds an update's columns (?3-?11, those its SET list names) and its record (?12-?15). */
static void bind_update(sqlite3_stmt *st, const struct store_record *r)
{
    if (sqlite3_bind_parameter_index(st, "?3"))
        sqlite3_bind_int(st, 3, r->breached ? 1 : 0);
    if (sqlite3_bind_parameter_index(st, "?4"))
        bind_text(st, 4, r->name_lower);
    if (sqlite3_bind_parameter_index(st, "?5")) {
        bind_text(st, 5, r->status_name);
        bind_text(st, 6, r->status_category);
    }
    if (sqlite3_bind_parameter_index(st, "?7")) {
        bind_text(st, 7, r->priority_name);
        sqlite3_bind_int(st, 8, r->priority_score);
    }
    if (sqlite3_bind_parameter_index(st, "?9"))
        bind_text(st, 9, r->assignee);
    if (sqlite3_bind_parameter_index(st, "?10")) {
        if (r->has_due_date)
            sqlite3_bind_int64(st, 10, r->due_date);
        else
            sqlite3_bind_null(st, 10);
    }
    if (sqlite3_bind_parameter_index(st, "?11"))
        bind_text(st, 11, r->source);
    bind_text(st, 12, r->id);
    bind_text(st, 13, r->stream_id);
    bind_text(st, 14, r->account_id);
    sqlite3_bind_int(st, 15, (int)r->kind);
}

static int sqlite_record_update(struct store_txn *t, struct store_record *r,
                                const struct store_record *prev)
{
    struct sqlite_conn *c = txn_conn(t);
    /* The records row is written only when a column list queries read changes (migration 20);
     * else it is only read, for its rowid and its part of the version. prev holds the columns as
     * stored (they are made from the stored document, as the row was). Parameter numbers are
     * fixed; only the SET list varies (a few shapes, cached). */
    char set[512] = "";
    if (r->breached != prev->breached)
        set_column(set, "breached = ?3");
    if (!same(r->name_lower, prev->name_lower))
        set_column(set, "name_lower = ?4");
    if (!same(r->status_name, prev->status_name) ||
        !same(r->status_category, prev->status_category))
        set_column(set, "status_name = ?5, status_category = ?6");
    if (!same(r->priority_name, prev->priority_name) ||
        r->priority_score != prev->priority_score)
        set_column(set, "priority_name = ?7, priority_score = ?8");
    if (!same(r->assignee, prev->assignee))
        set_column(set, "assignee = ?9");
    if (r->has_due_date != prev->has_due_date || r->due_date != prev->due_date)
        set_column(set, "due_date = ?10");
    if (!same(r->source, prev->source))
        set_column(set, "source = ?11");
    /* at the rowid the id was last seen at first (?16, as step_by_id does) */
    static const char where[] = " WHERE id = ?12 AND stream_id = ?13 AND account_id = ?14"
                                " AND kind = ?15";
    static const char where_at[] = " WHERE rowid = ?16 AND id = ?12 AND stream_id = ?13"
                                   " AND account_id = ?14 AND kind = ?15";
    int64_t at = ridhint_get(((struct sqlite_store *)t->store)->rids, r->id, strlen(r->id));
    sqlite3_stmt *st;
    int rc;
    for (;;) {
        char sql[1024];
        if (set[0])
            snprintf(sql, sizeof sql, "UPDATE records SET%s%s RETURNING version, rowid", set + 1,
                     at ? where_at : where);
        else
            snprintf(sql, sizeof sql, "SELECT version, rowid FROM records%s",
                     at ? where_at : where);
        st = query_stmt(c, sql);
        if (!st)
            return STORE_ERROR;
        bind_update(st, r);
        if (at)
            sqlite3_bind_int64(st, 16, at);
        rc = sqlite3_step(st);
        if (rc != SQLITE_DONE || !at)
            break;
        sqlite3_reset(st); /* no row there: nothing was changed */
        sqlite3_clear_bindings(st);
        at = 0;
    }
    int status = rc == SQLITE_ROW ? STORE_OK : rc == SQLITE_DONE ? STORE_NOT_FOUND : STORE_ERROR;
    int64_t row_version = 0, rid = 0;
    if (rc == SQLITE_ROW) {
        row_version = sqlite3_column_int64(st, 0);
        rid = sqlite3_column_int64(st, 1);
        hint_rid(t, r->id, rid);
    } else if (rc != SQLITE_DONE) {
        log_error("sqlite: record update: %s", sqlite3_errmsg(c->db));
    }
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    /* A conflict found at the document leaves the row changed: the write's SAVEPOINT takes it
     * back (commit_group), with the activity. */
    char seq[32];
    int seq_len = 0;
    if (status == STORE_OK && r->activity)
        status = write_activity(c, r->activity, seq, &seq_len);
    if (status == STORE_OK)
        status = update_doc(c, rid, r, r->activity ? seq : NULL, seq_len, row_version,
                            prev->version);
    if (status == STORE_OK && r->kind == STORE_CASE)
        status = clear_task_adds(c, rid); /* the document written has them (migration 13) */
    bool same_values = r->values_len == prev->values_len &&
                       (r->values_len == 0 || memcmp(r->values, prev->values, r->values_len) == 0);
    if (status == STORE_OK && !same_values)
        status = write_values(c, rid, r, false);
    return status;
}

struct ridhint *store_sqlite_rids(struct store *base)
{
    return ((struct sqlite_store *)base)->rids;
}

static int sqlite_record_get(struct store_txn *t, enum store_kind kind, const char *stream_id,
                             const char *account_id, const char *id, struct store_record *r)
{
    struct sqlite_conn *c = txn_conn(t);
    sqlite3_stmt *st;
    int rc = step_by_id(t, c->stmt[ST_RECORD_GET_AT], c->stmt[ST_RECORD_GET], kind, stream_id,
                        account_id, id, &st);
    int status;
    int64_t rid = 0;
    if (rc == SQLITE_ROW) {
        memset(r, 0, sizeof *r);
        r->kind = kind;
        int n = sqlite3_column_bytes(st, 0);
        r->doc = xstrndup((const char *)sqlite3_column_text(st, 0), (size_t)n);
        r->doc_len = (size_t)n;
        r->version = sqlite3_column_int64(st, 1);
        rid = sqlite3_column_int64(st, 2);
        hint_rid(t, id, rid);
        status = STORE_OK;
    } else if (rc == SQLITE_DONE) {
        status = STORE_NOT_FOUND;
    } else {
        log_error("sqlite: record get: %s", sqlite3_errmsg(c->db));
        status = STORE_ERROR;
    }
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    if (status == STORE_OK && kind == STORE_CASE) {
        char *with = NULL;
        size_t with_len = 0;
        status = with_task_adds(c, rid, r->doc, r->doc_len, &with, &with_len);
        if (with || status != STORE_OK) { /* the case's added tasks in, or no document */
            free(r->doc);
            r->doc = with;
            r->doc_len = with_len;
        }
    }
    return status;
}

static int sqlite_record_head(struct store_txn *t, enum store_kind kind, const char *stream_id,
                              const char *account_id, const char *id,
                              struct store_record_head *h)
{
    struct sqlite_conn *c = txn_conn(t);
    sqlite3_stmt *st;
    int rc = step_by_id(t, c->stmt[ST_RECORD_HEAD_AT], c->stmt[ST_RECORD_HEAD], kind, stream_id,
                        account_id, id, &st);
    int status = rc == SQLITE_ROW ? STORE_OK : rc == SQLITE_DONE ? STORE_NOT_FOUND : STORE_ERROR;
    if (rc == SQLITE_ROW) {
        hint_rid(t, id, sqlite3_column_int64(st, 2));
        const unsigned char *ref = sqlite3_column_text(st, 0);
        const unsigned char *cat = sqlite3_column_text(st, 1);
        snprintf(h->ref_id, sizeof h->ref_id, "%s", ref ? (const char *)ref : "");
        snprintf(h->status_category, sizeof h->status_category, "%s",
                 cat ? (const char *)cat : "");
    }
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return status;
}

static int sqlite_idem_get(struct store_txn *t, const char *client_id, const char *key,
                           struct store_idem *out)
{
    struct sqlite_conn *c = txn_conn(t);
    sqlite3_stmt *st = c->stmt[ST_IDEM_GET];
    bind_text(st, 1, client_id);
    bind_text(st, 2, key);
    int rc = sqlite3_step(st);
    int status;
    if (rc == SQLITE_ROW) {
        snprintf(out->body_hash, sizeof out->body_hash, "%s", sqlite3_column_text(st, 0));
        out->status = sqlite3_column_int(st, 1);
        int n = sqlite3_column_bytes(st, 2);
        const void *blob = sqlite3_column_blob(st, 2); /* NULL when empty */
        out->body = xstrndup(n > 0 ? blob : "", (size_t)n);
        out->body_len = (size_t)n;
        out->created_at = sqlite3_column_int64(st, 3);
        status = STORE_OK;
    } else if (rc == SQLITE_DONE) {
        status = STORE_NOT_FOUND;
    } else {
        status = STORE_ERROR;
    }
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return status;
}

static int sqlite_idem_put(struct store_txn *t, const char *client_id, const char *key,
                           const struct store_idem *in)
{
    struct sqlite_conn *c = txn_conn(t);
    /* expired keys go now and then, a batch at a time (a write's connection is the writer's) */
    if (in->created_at - c->idem_purged_at_ms > STORE_IDEM_PURGE_EVERY_MS) {
        c->idem_purged_at_ms = in->created_at;
        sqlite3_stmt *purge = c->stmt[ST_IDEM_PURGE];
        sqlite3_bind_int64(purge, 1, in->created_at - STORE_IDEM_TTL_MS);
        int rc = step_done(c, purge);
        if (rc != STORE_OK)
            return rc;
    }
    sqlite3_stmt *st = c->stmt[ST_IDEM_PUT];
    bind_text(st, 1, client_id);
    bind_text(st, 2, key);
    bind_text(st, 3, in->body_hash);
    sqlite3_bind_int(st, 4, in->status);
    sqlite3_bind_blob(st, 5, in->body, (int)in->body_len, SQLITE_STATIC);
    sqlite3_bind_int64(st, 6, in->created_at);
    int rc = step_done(c, st);
    sqlite3_clear_bindings(st);
    return rc;
}

static int sqlite_jti_use(struct store_txn *t, const char *client_id, const char *jti, int64_t exp)
{
    struct sqlite_conn *c = txn_conn(t);
    sqlite3_stmt *purge = c->stmt[ST_JTI_PURGE];
    sqlite3_bind_int64(purge, 1, time_now_ms() / 1000 - 120);
    int rc = step_done(c, purge);
    if (rc != STORE_OK)
        return rc;
    sqlite3_stmt *st = c->stmt[ST_JTI_INSERT];
    bind_text(st, 1, client_id);
    bind_text(st, 2, jti);
    sqlite3_bind_int64(st, 3, exp);
    rc = step_done(c, st);
    sqlite3_clear_bindings(st);
    if (rc != STORE_OK)
        return rc;
    return sqlite3_changes(c->db) == 1 ? STORE_OK : STORE_CONFLICT;
}

static int cmp_seq(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* The seqs of record_docs.acts ("12,57,"), oldest first; *n of them (a heap array, or NULL). */
static int64_t *parse_seqs(const char *text, size_t *n)
{
    *n = 0;
    if (!text || !*text)
        return NULL;
    size_t cap = 1;
    for (const char *p = text; *p; p++)
        cap += *p == ',';
    int64_t *seqs = xmalloc(cap * sizeof *seqs);
    bool sorted = true;
    for (const char *p = text; *p && *n < cap;) {
        char *end;
        long long v = strtoll(p, &end, 10);
        if (end != p) {
            sorted = sorted && (*n == 0 || seqs[*n - 1] < v);
            seqs[(*n)++] = v;
        }
        p = *end ? end + 1 : end;
    }
    /* appended in commit order, so ascending; the migration's group_concat kept the order of
     * its subquery, which SQLite does not promise */
    if (!sorted)
        qsort(seqs, *n, sizeof *seqs, cmp_seq);
    return seqs;
}

static void bind_record_scope(sqlite3_stmt *st, const char *record_id, const char *stream_id,
                              const char *account_id)
{
    bind_text(st, 1, record_id);
    bind_text(st, 2, stream_id);
    bind_text(st, 3, account_id);
}

static int sqlite_activity_list(struct store_txn *t, const char *stream_id,
                                const char *account_id, const char *record_id, int64_t skip,
                                int64_t limit, void (*fn)(const char *json, void *arg), void *arg,
                                int64_t *total)
{
    struct sqlite_conn *c = txn_conn(t);
    sqlite3_stmt *st = c->stmt[ST_ACTIVITY_SEQS];
    bind_record_scope(st, record_id, stream_id, account_id);
    int rc = sqlite3_step(st);
    size_t n = 0;
    int64_t *seqs = rc == SQLITE_ROW ? parse_seqs((const char *)sqlite3_column_text(st, 0), &n)
                                     : NULL;
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return STORE_ERROR;
    *total = (int64_t)n;
    int status = STORE_OK;
    st = c->stmt[ST_ACTIVITY_GET];
    int64_t first = skip > 0 ? skip : 0;
    for (int64_t i = first; seqs && status == STORE_OK && i < (int64_t)n && i - skip < limit; i++) {
        sqlite3_bind_int64(st, 1, seqs[n - 1 - (size_t)i]); /* newest first */
        rc = sqlite3_step(st);
        if (rc == SQLITE_ROW && sqlite3_column_type(st, 0) == SQLITE_BLOB) {
            const unsigned char *blob = sqlite3_column_blob(st, 0);
            char *text = activity_unpack(blob, (size_t)sqlite3_column_bytes(st, 0));
            if (text) {
                fn(text, arg);
                free(text);
            } else {
                log_error("sqlite: activities: activity %lld is damaged",
                          (long long)seqs[n - 1 - (size_t)i]);
                status = STORE_ERROR;
            }
        } else if (rc == SQLITE_ROW) {
            fn((const char *)sqlite3_column_text(st, 0), arg); /* written before ACT_LZ4 */
        } else {
            /* a listed activity is written in the transaction that lists it, never deleted */
            log_error("sqlite: activities: a listed one is missing: %s", sqlite3_errmsg(c->db));
            status = STORE_ERROR;
        }
        sqlite3_reset(st);
    }
    free(seqs);
    return status;
}

/* ---- list queries (API.md §8) ----
 * The SQL is assembled from the fixed fragments below; every value from the request is a bound
 * parameter, never text of the statement. Parameter ?1 is "now" (isBreached); the WHERE clause's
 * parameters follow, numbered, so the count and the page statements share them. */

#define QUERY_SQL_MAX 65536
#define QUERY_PARAMS_MAX 2048 /* above what api/query.c can decode: 5 lists x 100 (channel twice), 500 field values, 100 field keys */

struct qparam {
    enum { QP_TEXT, QP_INT, QP_JSON } type;
    const char *text;
    int64_t i;
    const json_t *json;
};

struct qbuild {
    char sql[QUERY_SQL_MAX];
    size_t len;
    struct qparam params[QUERY_PARAMS_MAX];
    int n; /* parameters so far; ?1 is reserved for now */
    struct qstring *strings; /* derived parameter text (GLOB patterns, field keys), heap */
    bool overflow;
};

static void qb_sql(struct qbuild *b, const char *frag)
{
    size_t n = strlen(frag);
    if (b->len + n + 1 > sizeof b->sql) {
        b->overflow = true;
        return;
    }
    memcpy(b->sql + b->len, frag, n + 1);
    b->len += n;
}

/* A new parameter, which the SQL names ref ("?N", in 16 bytes). */
static struct qparam *qb_param_as(struct qbuild *b, char *ref)
{
    if (b->n + 2 > QUERY_PARAMS_MAX) {
        b->overflow = true;
        snprintf(ref, 16, "?1");
        return &b->params[0];
    }
    snprintf(ref, 16, "?%d", b->n + 2);
    return &b->params[b->n++];
}

/* A new parameter, named here. */
static struct qparam *qb_param(struct qbuild *b)
{
    char ref[16];
    struct qparam *p = qb_param_as(b, ref);
    qb_sql(b, ref);
    return p;
}

static void qb_text(struct qbuild *b, const char *v)
{
    struct qparam *p = qb_param(b);
    p->type = QP_TEXT;
    p->text = v;
}

static void qb_int(struct qbuild *b, int64_t v)
{
    struct qparam *p = qb_param(b);
    p->type = QP_INT;
    p->i = v;
}

struct qstring {
    struct qstring *next;
    char text[];
};

/* A heap string of n bytes + NUL kept with the statement's parameters (freed by qb_free). */
static char *qb_alloc(struct qbuild *b, size_t n)
{
    struct qstring *q = xmalloc(sizeof *q + n + 1);
    q->next = b->strings;
    b->strings = q;
    q->text[n] = '\0';
    return q->text;
}

static void qb_free(struct qbuild *b)
{
    for (struct qstring *q = b->strings, *next; q; q = next) {
        next = q->next;
        free(q);
    }
    b->strings = NULL;
}

/* a + mid + z, kept with the statement's parameters. */
static const char *qb_string(struct qbuild *b, const char *a, const char *mid, const char *z)
{
    size_t n = strlen(a) + strlen(mid) + strlen(z);
    char *out = qb_alloc(b, n);
    snprintf(out, n + 1, "%s%s%s", a, mid, z);
    return out;
}

/* An FTS5 phrase matching text: with the trigram tokenizer, the text's trigrams at consecutive
 * positions, which is "contains text" for texts of three characters or more (fts_usable). The
 * index answers it from positions alone, where a GLOB also reads every candidate's name back
 * from the records table (7 times slower for a word in 1 % of a million names). */
static void fts_phrase(const char *text, char *out) /* out: strlen(text) * 2 + 3 bytes */
{
    size_t o = 0;
    out[o++] = '"';
    for (const char *p = text; *p; p++) {
        if (*p == '"')
            out[o++] = '"';
        out[o++] = *p;
    }
    out[o++] = '"';
    out[o] = '\0';
}

static const char *qb_phrase(struct qbuild *b, const char *text)
{
    char *out = qb_alloc(b, strlen(text) * 2 + 2);
    fts_phrase(text, out);
    return out;
}

static void qb_list(struct qbuild *b, const struct store_strings *l)
{
    qb_sql(b, "(");
    for (size_t i = 0; i < l->n; i++) {
        if (i)
            qb_sql(b, ", ");
        qb_text(b, l->v[i]);
    }
    qb_sql(b, ")");
}

/* True when the trigram index can answer a search for text: a text of three characters or
 * more, whose trigrams make a phrase. A shorter one has no trigram (and FTS5's GLOB, which falls
 * back to a scan for runs under three bytes, finds nothing for "fé": two characters, three
 * bytes). Short texts, and those with GLOB's special characters, are matched on the rows (instr). */
static bool fts_usable(const char *text)
{
    size_t chars = 0;
    for (const unsigned char *p = (const unsigned char *)text; *p; p++) {
        if (*p == '*' || *p == '?' || *p == '[')
            return false;
        if ((*p & 0xC0) != 0x80)
            chars++;
    }
    return chars >= 3;
}

/* How a query with a name search runs, decided before its WHERE clause is built. */
struct qplan {
    bool scoped;                /* the tenant has a scope: */
    int64_t scope, names_gen;   /* which, and its names generation (migration 9) */
    int64_t names_lo, names_hi; /* the tenant's rowids in record_names (migration 6) */
    enum { MATCHED_NONE, MATCHED_SEARCH, MATCHED_NAME } matched; /* what temp.name_matches holds */
    bool walk; /* walk the sort order's index and probe the matches, rather than read each
                * match's row and sort them */
};

/* The tenant's records whose name contains text, as records rowids (NAMES_MATCHING). */
static void qb_names(struct qbuild *b, const char *text, const struct qplan *p)
{
    char lo[16], hi[16], phrase[16], name[16]; /* each named more than once */
    *qb_param_as(b, lo) = (struct qparam){.type = QP_INT, .i = p->names_lo};
    *qb_param_as(b, hi) = (struct qparam){.type = QP_INT, .i = p->names_hi};
    *qb_param_as(b, phrase) = (struct qparam){.type = QP_TEXT, .text = qb_phrase(b, text)};
    *qb_param_as(b, name) = (struct qparam){.type = QP_TEXT, .text = text};
    char sql[sizeof NAMES_MATCHING("", "", "", "") + 160]; /* 10 names of up to 15 bytes */
    snprintf(sql, sizeof sql, NAMES_MATCHING("%3$s", "%1$s", "%2$s", "%4$s"), lo, hi, phrase, name);
    qb_sql(b, sql);
}

/* The refId a searchText would be (API.md §8: or exactly the refId); refIds are upper-case. */
static void ref_of(const char *text, char *out) /* out: strlen(text) + 1 bytes */
{
    size_t i = 0;
    for (; text[i]; i++)
        out[i] = (char)toupper((unsigned char)text[i]);
    out[i] = '\0';
}

static const char *qb_upper(struct qbuild *b, const char *text)
{
    char *upper = qb_alloc(b, strlen(text));
    ref_of(text, upper);
    return upper;
}

/* Unless the plan walks the sort index, the few rows the name index finds drive the query. */
static bool names_drive(const struct store_query *q, const struct qplan *plan)
{
    bool fts_search = q->search && fts_usable(q->search);
    bool fts_name = q->name && fts_usable(q->name);
    return (fts_search || fts_name) && !plan->walk;
}

static void qb_where(struct qbuild *b, const struct store_query *q, const struct qplan *plan)
{
    bool fts_name = q->name && fts_usable(q->name);
    /* the unary + keeps SQLite from walking the whole tenant's index instead and probing each
     * row */
    const char *plus = names_drive(q, plan) ? "+" : "";
    char frag[64];
    snprintf(frag, sizeof frag, " WHERE %sr.stream_id = ", plus);
    qb_sql(b, frag);
    qb_text(b, q->stream_id);
    snprintf(frag, sizeof frag, " AND %sr.account_id = ", plus);
    qb_sql(b, frag);
    qb_text(b, q->account_id);
    snprintf(frag, sizeof frag, " AND %sr.kind = ", plus);
    qb_sql(b, frag);
    qb_int(b, q->kind);
    if (q->search) {
        /* API.md §8: a substring of the name, or exactly the refId */
        if (plan->matched == MATCHED_SEARCH) {
            qb_sql(b, " AND r.rowid IN temp.name_matches"); /* the refId's row included */
        } else {
            qb_sql(b, " AND (instr(r.name_lower, ");
            qb_text(b, q->search);
            qb_sql(b, ") > 0 OR r.ref_id = ");
            qb_text(b, qb_upper(b, q->search));
            qb_sql(b, ")");
        }
    }
    if (q->name) {
        if (plan->matched == MATCHED_NAME) {
            qb_sql(b, " AND r.rowid IN temp.name_matches");
        } else if (fts_name) {
            qb_sql(b, " AND r.rowid IN (");
            qb_names(b, q->name, plan);
            qb_sql(b, ")");
        } else {
            qb_sql(b, " AND instr(r.name_lower, ");
            qb_text(b, q->name);
            qb_sql(b, ") > 0");
        }
    }
    if (q->unresolved)
        qb_sql(b, " AND r.status_category IN ('open', 'inProgress')");
    if (q->unassigned)
        qb_sql(b, " AND r.assignee IS NULL");
    if (q->assignee) {
        qb_sql(b, " AND r.assignee = ");
        qb_text(b, q->assignee);
    }
    if (q->priorities.n) {
        qb_sql(b, " AND r.priority_name IN ");
        qb_list(b, &q->priorities);
    }
    if (q->statuses.n) {
        qb_sql(b, " AND r.status_name IN ");
        qb_list(b, &q->statuses);
    }
    if (q->channels.n) {
        /* the vendor's sample filters channel ["rtm"], a source */
        qb_sql(b, " AND (r.source IN ");
        qb_list(b, &q->channels);
        qb_sql(b, " OR r.rowid IN (SELECT rid FROM record_values WHERE k = 'ch' AND v IN ");
        qb_list(b, &q->channels);
        qb_sql(b, "))");
    }
    if (q->queues.n) {
        qb_sql(b, " AND r.rowid IN (SELECT rid FROM record_values WHERE k = 'qu' AND v IN ");
        qb_list(b, &q->queues);
        qb_sql(b, ")");
    }
    if (q->agents.n) {
        qb_sql(b, " AND r.assignee IN ");
        qb_list(b, &q->agents);
    }
    if (q->has_created_from) {
        qb_sql(b, " AND r.created_at >= ");
        qb_int(b, q->created_from);
    }
    if (q->has_created_to) {
        qb_sql(b, " AND r.created_at <= ");
        qb_int(b, q->created_to);
    }
    if (q->has_due) {
        qb_sql(b, " AND r.due_date >= ");
        qb_int(b, q->due.from);
        qb_sql(b, " AND r.due_date < ");
        qb_int(b, q->due.to);
    }
    if (q->eta_filter) {
        qb_sql(b, " AND (0");
        for (size_t i = 0; i < q->neta; i++) {
            qb_sql(b, " OR (r.due_date >= ");
            qb_int(b, q->eta[i].from);
            qb_sql(b, " AND r.due_date < ");
            qb_int(b, q->eta[i].to);
            qb_sql(b, ")");
        }
        if (q->eta_none)
            qb_sql(b, " OR r.due_date IS NULL");
        qb_sql(b, ")");
    }
    if (q->case_id) {
        qb_sql(b, " AND r.case_id = ");
        qb_text(b, q->case_id);
    }
    for (size_t f = 0; f < q->nfields; f++) {
        const struct store_field_filter *ff = &q->fields[f];
        qb_sql(b, " AND r.rowid IN (SELECT rid FROM record_values WHERE k = ");
        qb_text(b, qb_string(b, ff->by_name ? "n\x1f" : "f\x1f", ff->field, ""));
        qb_sql(b, " AND v IN (");
        for (size_t i = 0; i < ff->n; i++) {
            if (i)
                qb_sql(b, ", ");
            struct qparam *p = qb_param(b);
            p->type = QP_JSON;
            p->json = ff->values[i];
        }
        qb_sql(b, "))");
    }
}

/* The page in updatedAt order is read from record_updates (migration 19), joined to the records
 * whose document still has the entry's updatedAt (migration 20): where each entry is still its
 * record's place. This is that order on u. */
static void qb_order_updates(struct qbuild *b, const struct store_query *q)
{
    qb_sql(b, q->descending ? " ORDER BY u.updated_at DESC, u.id DESC"
                            : " ORDER BY u.updated_at ASC, u.id ASC");
}

static void qb_order(struct qbuild *b, const struct store_query *q)
{
    /* ties in dueDate, priority and name by refId (migration 14); no dueDate sorts last, in
     * both directions: due_asc puts it past every date, and NULL is the least of due_date */
    static const char *const asc[] = {
        [STORE_SORT_CREATED] = " ORDER BY r.created_at ASC, r.id ASC",
        [STORE_SORT_DUE] = " ORDER BY r.due_asc ASC, r.ref_seq ASC, r.id ASC",
        [STORE_SORT_PRIORITY] = " ORDER BY r.priority_score ASC, r.ref_seq ASC, r.id ASC",
        [STORE_SORT_NAME] = " ORDER BY r.name_lower ASC, r.ref_seq ASC, r.id ASC",
        [STORE_SORT_REF] = " ORDER BY r.ref_seq ASC, r.id ASC",
    };
    static const char *const desc[] = {
        [STORE_SORT_CREATED] = " ORDER BY r.created_at DESC, r.id DESC",
        [STORE_SORT_DUE] = " ORDER BY r.due_date DESC, r.ref_seq DESC, r.id DESC",
        [STORE_SORT_PRIORITY] = " ORDER BY r.priority_score DESC, r.ref_seq DESC, r.id DESC",
        [STORE_SORT_NAME] = " ORDER BY r.name_lower DESC, r.ref_seq DESC, r.id DESC",
        [STORE_SORT_REF] = " ORDER BY r.ref_seq DESC, r.id DESC",
    };
    if (q->sort == STORE_SORT_UPDATED) { /* a case's tasks, or a tenant that never had a record */
        qb_sql(b, q->descending ? " ORDER BY (SELECT updated_at FROM record_docs"
                                  " WHERE rid = r.rowid) DESC, r.id DESC"
                                : " ORDER BY (SELECT updated_at FROM record_docs"
                                  " WHERE rid = r.rowid) ASC, r.id ASC");
        return;
    }
    qb_sql(b, q->descending ? desc[q->sort] : asc[q->sort]);
}

/* Logs why a query's statement failed, unless it was stopped at its deadline (sqlite_query). */
static void query_error(struct sqlite_conn *c)
{
    if (!c->late)
        log_error("sqlite: query: %s", sqlite3_errmsg(c->db));
}

/* A prepared statement for sql from this connection's cache (or prepared now). */
static sqlite3_stmt *query_stmt(struct sqlite_conn *c, const char *sql)
{
    for (int i = 0; i < QUERY_CACHE; i++) {
        if (c->queries[i].sql && strcmp(c->queries[i].sql, sql) == 0) {
            sqlite3_reset(c->queries[i].st);
            sqlite3_clear_bindings(c->queries[i].st);
            return c->queries[i].st;
        }
    }
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v3(c->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &st, NULL) != SQLITE_OK) {
        query_error(c);
        return NULL;
    }
    unsigned slot = c->next_query++ % QUERY_CACHE;
    sqlite3_finalize(c->queries[slot].st);
    free(c->queries[slot].sql);
    c->queries[slot].sql = xstrdup(sql);
    c->queries[slot].st = st;
    return st;
}

static void bind_params(sqlite3_stmt *st, const struct qbuild *b)
{
    for (int i = 0; i < b->n; i++) {
        const struct qparam *p = &b->params[i];
        int at = i + 2;
        if (p->type == QP_TEXT) {
            bind_text(st, at, p->text);
        } else if (p->type == QP_INT) {
            sqlite3_bind_int64(st, at, p->i);
        } else {
            char buf[SCALAR_BUF]; /* the form record values are stored in */
            const char *text = scalar_text(p->json, buf);
            sqlite3_bind_text(st, at, text ? text : "", -1, SQLITE_TRANSIENT);
        }
    }
}

/* True when q filters on something besides its tenant, searchText and name. */
static bool other_filters(const struct store_query *q)
{
    return q->unresolved || q->unassigned || q->assignee || q->priorities.n || q->statuses.n ||
           q->channels.n || q->queues.n || q->agents.n || q->has_created_from ||
           q->has_created_to || q->has_due || q->eta_filter || q->case_id || q->nfields;
}

static bool only_tenant(const struct store_query *q)
{
    return !q->search && !q->name && !other_filters(q);
}

/* True when q filters on nothing but statuses, priorities and assignees, which
 * record_assignee_counts counts (migration 8). */
static bool only_groups(const struct store_query *q)
{
    return !q->search && !q->name && !q->channels.n && !q->queues.n && !q->has_created_from &&
           !q->has_created_to && !q->has_due && !q->eta_filter && !q->case_id && !q->nfields;
}

/* True when q filters on nothing but statuses and priorities, which record_status_counts
 * counts in fewer groups (migration 7). */
static bool only_status(const struct store_query *q)
{
    return only_groups(q) && !q->unassigned && !q->assignee && !q->agents.n;
}

#define NAMES_SHIFT 40 /* record_names rowids: (scope << 40) + records rowid (migration 6) */

/* The tenant's range of rowids in record_names; an empty one for a tenant without records. */
static int names_scope(struct sqlite_conn *c, const struct store_query *q, struct qplan *p)
{
    sqlite3_stmt *st = c->stmt[ST_SCOPE_GET];
    bind_text(st, 1, q->stream_id);
    bind_text(st, 2, q->account_id);
    sqlite3_bind_int(st, 3, (int)q->kind);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        p->scoped = true;
        p->scope = sqlite3_column_int64(st, 0);
        p->names_gen = sqlite3_column_int64(st, 1);
        p->names_lo = p->scope << NAMES_SHIFT;
        p->names_hi = p->names_lo + ((INT64_C(1) << NAMES_SHIFT) - 1);
    }
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? STORE_OK : STORE_ERROR;
}

static int step_matches(struct sqlite_conn *c, sqlite3_stmt *st)
{
    int rc = sqlite3_step(st);
    if (rc != SQLITE_DONE)
        query_error(c);
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return rc == SQLITE_DONE ? STORE_OK : STORE_ERROR;
}

/* Empties temp.name_matches: before a query fills it, and after, to keep its memory small. */
static int clear_matches(struct sqlite_conn *c)
{
    return step_matches(c, c->stmt[ST_MATCHES_CLEAR]);
}

/* Fills temp.name_matches with the rowids of the tenant's records whose name contains text, and
 * for a searchText the record whose refId it is: the name index is then read once per query,
 * where the count and the page would each read it (for a word in 1 % of a million names, 2.5
 * ms of CPU each time), and the page can probe the table by rowid. */
static int fill_matches(struct sqlite_conn *c, const struct store_query *q, const struct qplan *p)
{
    const char *text = p->matched == MATCHED_SEARCH ? q->search : q->name;
    char *phrase = xmalloc(strlen(text) * 2 + 3);
    fts_phrase(text, phrase);
    sqlite3_stmt *st = c->stmt[ST_MATCHES_NAMES];
    bind_text(st, 1, phrase);
    sqlite3_bind_int64(st, 2, p->names_lo);
    sqlite3_bind_int64(st, 3, p->names_hi);
    bind_text(st, 4, text);
    int rc = clear_matches(c);
    if (rc == STORE_OK)
        rc = step_matches(c, st);
    else
        sqlite3_clear_bindings(st);
    free(phrase);
    if (rc != STORE_OK || p->matched != MATCHED_SEARCH)
        return rc;
    char *ref = xmalloc(strlen(text) + 1);
    ref_of(text, ref);
    st = c->stmt[ST_MATCHES_REF];
    bind_text(st, 1, ref);
    bind_text(st, 2, q->stream_id);
    sqlite3_bind_int(st, 3, (int)q->kind);
    bind_text(st, 4, q->account_id);
    rc = step_matches(c, st);
    free(ref);
    return rc;
}

/* The number of matches in temp.name_matches, and the tenant's count. */
static int matches_total(struct sqlite_conn *c, const struct store_query *q, int64_t *total,
                         int64_t *tenant)
{
    sqlite3_stmt *st = c->stmt[ST_MATCHES_TOTAL];
    bind_text(st, 1, q->stream_id);
    bind_text(st, 2, q->account_id);
    sqlite3_bind_int(st, 3, (int)q->kind);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        *total = sqlite3_column_int64(st, 0);
        *tenant = sqlite3_column_int64(st, 1);
    } else {
        query_error(c);
    }
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return rc == SQLITE_ROW ? STORE_OK : STORE_ERROR;
}

/* Index entries a walk in sort order may pass per match before reading every match's row and
 * sorting them costs less. Measured on 1,000,000 tasks with 10,202 matches: a walk costs about
 * 0.1 us an entry (an index step and a probe of temp.name_matches), reading the matches and
 * sorting them 17-20 ms in all, so the two meet near 20 entries a match. */
#define WALK_PER_MATCH 16

/* Whether walking the sort index pays for a page of skip + limit out of total matches spread
 * over the tenant's n rows: the walk passes about (skip + limit) * n / total entries. */
static bool walk_pays(const struct store_query *q, int64_t total, int64_t n)
{
    if (total <= 0)
        return false;
    double passed = (double)(q->skip + q->limit) * (double)n / (double)total;
    return passed <= WALK_PER_MATCH * (double)total;
}

/* A case's tasks are found by its index. Without statistics SQLite took the tenant's prefix of
 * another index for the better one and read the row of every entry to test its case: 230 ms to
 * count, and as long to list, a case's 130 tasks among 200,000. A statement SQLite cannot run
 * on it fails to prepare: every query with a caseId tests r.case_id = ?, which the index (partial:
 * case_id IS NOT NULL) serves. */
#define BY_CASE " INDEXED BY records_case"

static int query_total(struct sqlite_conn *c, const struct store_query *q,
                       const struct qbuild *where, int64_t *total)
{
    /* the tenant's whole count, and its counts per status, priority and assignee, are kept by
     * triggers: counting a million rows, or the tenth of them that are open, would be slow; the
     * WHERE clause reads the same columns of the counts tables as of records */
    bool fast = only_tenant(q) || only_groups(q);
    const char *head = only_tenant(q)   ? "SELECT coalesce((SELECT n FROM record_counts r"
                       : only_status(q) ? "SELECT coalesce((SELECT sum(n) FROM"
                                          " record_status_counts r"
                       : only_groups(q) ? "SELECT coalesce((SELECT sum(n) FROM"
                                          " record_assignee_counts r"
                       : q->case_id     ? "SELECT count(*) FROM records r" BY_CASE
                                        : "SELECT count(*) FROM records r";
    size_t size = strlen(head) + where->len + 8;
    char *sql = xmalloc(size);
    snprintf(sql, size, "%s%s%s", head, where->sql, fast ? "), 0)" : "");
    sqlite3_stmt *st = query_stmt(c, sql);
    free(sql);
    if (!st)
        return STORE_ERROR;
    bind_params(st, where);
    int rc = sqlite3_step(st);
    *total = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return rc == SQLITE_ROW ? STORE_OK : STORE_ERROR;
}

/* Deep pages in creation order. An OFFSET steps through every index entry it skips: for skip
 * 100,000 of a tenant's million tasks, 4 ms. record_created_buckets counts the tenant's records
 * per bucket of creation time, so the rows before a page can be counted a bucket at a time from
 * the sort's start, and the page read from the start of the bucket it falls in, with the rest of
 * the skip as its OFFSET. On 1,000,000 tasks over a year (114 an hour), a bucket costs ~70 ns to
 * count and an entry ~35 ns to step over; for skip 100,000 (walk + page, in us) widths of 2^22
 * ms gave 54 + 5, 2^23 27 + 9, 2^24 14 + 17, 2^25 7 + 17, 2^26 4 + 43, and for skip 1,000 5,
 * 8, 15, 15, 16 (against 32 for the plain OFFSET). 2^24 (4.7 hours) keeps both small, and the
 * walk to the middle of a year under 1,000 buckets (120 us). Changing it takes a migration
 * that recounts the table. */
#define CREATED_SHIFT 24
#define SQL_NUMBER_(n) #n
#define SQL_NUMBER(n) SQL_NUMBER_(n) /* a macro's value as text of a statement */
/* a record's bucket in SQL, as the trigger computes it */
#define CREATED_BUCKET "created_at >> " SQL_NUMBER(CREATED_SHIFT)
#define CREATED_WIDTH (INT64_C(1) << CREATED_SHIFT)
/* Below this skip the OFFSET costs under ~40 us: nothing to win. */
#define CREATED_SKIP_MIN 1000
/* A bucket costs about two entries, so a tenant whose buckets hold one record or two gains
 * nothing from counting them: the walk stops after skip / CREATED_WALK_RATIO buckets and the
 * OFFSET steps over the rest, which costs at most about a tenth more than the OFFSET alone. */
#define CREATED_WALK_RATIO 8

static bool created_pays(const struct store_query *q)
{
    return only_tenant(q) && q->sort == STORE_SORT_CREATED && q->skip >= CREATED_SKIP_MIN;
}

/* For a page of q in creation order (created_pays): counts the tenant's rows before it bucket by
 * bucket from the sort's start, then adds to tail a bound on created_at at the start of the
 * bucket the page falls in (or of the first bucket left uncounted, when the walk stops early),
 * and sets *offset to the rest of the skip. The page is the same: the rows the bound leaves out
 * are exactly those of the buckets counted, and those it keeps come in the same order. Without
 * a bucket to start from (the counts short of the skip), tail and *offset are left alone. */
static int created_start(struct sqlite_conn *c, const struct store_query *q, struct qbuild *tail,
                         int64_t *offset)
{
    sqlite3_stmt *st = c->stmt[q->descending ? ST_CREATED_DESC : ST_CREATED_ASC];
    bind_text(st, 1, q->stream_id);
    bind_text(st, 2, q->account_id);
    sqlite3_bind_int(st, 3, (int)q->kind);
    int64_t before = 0, walked = 0, bucket = 0;
    const int64_t walk_max = q->skip / CREATED_WALK_RATIO;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        int64_t n = sqlite3_column_int64(st, 1);
        if (before + n > q->skip || walked++ == walk_max) {
            bucket = sqlite3_column_int64(st, 0);
            break;
        }
        before += n;
    }
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        query_error(c);
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    if (rc != SQLITE_ROW)
        return rc == SQLITE_DONE ? STORE_OK : STORE_ERROR;
    /* bucket * CREATED_WIDTH stays in range: |bucket| <= 2^(63 - CREATED_SHIFT) */
    int64_t first = bucket * CREATED_WIDTH;
    if (q->descending) {
        qb_sql(tail, " AND r.created_at <= ");
        qb_int(tail, first + (CREATED_WIDTH - 1));
    } else {
        qb_sql(tail, " AND r.created_at >= ");
        qb_int(tail, first);
    }
    *offset = q->skip - before;
    return STORE_OK;
}

/* Emits a listed document (store_emit_listed); a case's with its tasks added since it was
 * written (migration 13). STORE_ERROR when those cannot be read. */
static int emit(struct sqlite_conn *c, sqlite3_stmt *st,
                void (*fn)(const char *, size_t, void *), void *arg)
{
    const char *doc = (const char *)sqlite3_column_text(st, 0);
    size_t len = (size_t)sqlite3_column_bytes(st, 0);
    bool stored = sqlite3_column_int(st, 1) != 0, now = sqlite3_column_int(st, 2) != 0;
    if (sqlite3_column_int(st, 4) != STORE_CASE) {
        store_emit_listed(doc, len, stored, now, fn, arg);
        return STORE_OK;
    }
    char *with = NULL;
    size_t with_len = 0;
    int rc = with_task_adds(c, sqlite3_column_int64(st, 3), doc, len, &with, &with_len);
    if (rc == STORE_OK)
        store_emit_listed(with ? with : doc, with ? with_len : len, stored, now, fn, arg);
    free(with);
    return rc;
}

/* True when q's page can be cut from the tenant's matches in createdAt order (matchcache.h):
 * one name search and nothing else to filter on, sorted by createdAt either way. */
static bool from_match_list(const struct store_query *q, const struct qplan *p)
{
    return p->matched && p->scoped && !other_filters(q) && !(q->search && q->name) &&
           q->sort == STORE_SORT_CREATED;
}

/* Matches kept in createdAt order at most (store_options.match_list_max): reading each match's
 * row to sort them costs about 4 us a match on a cold cache, where the sort index's walk
 * (sqlite_query) costs about 0.1 us an entry for a page near the top; past this many the list is
 * kept without its rowids, and every query of it takes the walk. */
#define MATCH_LIST_MAX 200000

/* The tenant's matches of q's search (already in temp.name_matches, n of them) in createdAt
 * order, in a new list. */
static int read_match_list(struct sqlite_conn *c, const struct store_query *q,
                           const struct qplan *p, int64_t n, struct match_list **out)
{
    bool search = p->matched == MATCHED_SEARCH;
    struct match_list *l =
        match_list_new(p->scope, p->names_gen, search ? MATCH_SEARCH : MATCH_NAME,
                       search ? q->search : q->name, (size_t)n);
    sqlite3_stmt *st = c->stmt[ST_MATCHES_ORDER];
    bind_text(st, 1, q->stream_id);
    bind_text(st, 2, q->account_id);
    sqlite3_bind_int(st, 3, (int)q->kind);
    int step;
    while ((step = sqlite3_step(st)) == SQLITE_ROW)
        match_list_push(l, sqlite3_column_int64(st, 0));
    if (step != SQLITE_DONE)
        query_error(c);
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    if (step != SQLITE_DONE) {
        match_list_free(l);
        return STORE_ERROR;
    }
    *out = l;
    return STORE_OK;
}

/* Emits rows [q->skip, q->skip + q->limit) of list l in q's direction, each read by rowid. */
static int emit_from_list(struct sqlite_conn *c, const struct store_query *q,
                          const struct match_list *l,
                          void (*fn)(const char *doc, size_t len, void *arg), void *arg)
{
    sqlite3_stmt *st = c->stmt[ST_PAGE_ROW];
    sqlite3_bind_int64(st, 1, q->now_ms);
    int rc = STORE_OK;
    for (int64_t i = q->skip; i < q->skip + q->limit && i < (int64_t)l->n && rc == STORE_OK;
         i++) {
        size_t at = q->descending ? (size_t)i : l->n - 1 - (size_t)i;
        sqlite3_bind_int64(st, 2, l->rids[at]);
        if (sqlite3_step(st) == SQLITE_ROW) {
            rc = emit(c, st, fn, arg);
        } else {
            /* every rowid listed is in this snapshot: the list is of its names generation */
            if (!c->late)
                log_error("sqlite: query: a listed row is missing: %s", sqlite3_errmsg(c->db));
            rc = STORE_ERROR;
        }
        sqlite3_reset(st);
    }
    sqlite3_clear_bindings(st);
    return rc;
}

#define NOT_LISTED 1 /* query_match_list: the matches are too many to keep; walk instead */

/* A search's page and total from its matches in createdAt order: kept from an earlier query of
 * the same names generation, or read now and kept. NOT_LISTED when there are too many matches
 * to keep in order (temp.name_matches may hold them then). */
static int query_match_list(struct sqlite_conn *c, struct sqlite_store *s,
                            const struct store_query *q, const struct qplan *p,
                            void (*fn)(const char *doc, size_t len, void *arg), void *arg,
                            int64_t *total)
{
    struct match_cache *mc = s->matches;
    enum match_what what = p->matched == MATCHED_SEARCH ? MATCH_SEARCH : MATCH_NAME;
    const char *text = what == MATCH_SEARCH ? q->search : q->name;
    /* a query with a deadline (on an I/O thread) does not wait for another reading the list:
     * it stops as if late, and runs again where it may wait */
    bool busy = false;
    const struct match_list *kept =
        c->deadline_us ? match_cache_get_now(mc, p->scope, p->names_gen, what, text, &busy)
                       : match_cache_get(mc, p->scope, p->names_gen, what, text);
    if (busy) {
        c->late = true;
        return STORE_LATE;
    }
    if (kept) {
        int rc = NOT_LISTED;
        if (kept->rids) {
            *total = (int64_t)kept->n;
            rc = emit_from_list(c, q, kept, fn, arg);
        }
        match_cache_release(mc, kept);
        return rc;
    }
    int64_t n = 0, tenant = 0;
    int rc = fill_matches(c, q, p);
    if (rc == STORE_OK)
        rc = matches_total(c, q, &n, &tenant);
    long max = s->opt.match_list_max ? s->opt.match_list_max : MATCH_LIST_MAX;
    if (rc == STORE_OK && n > max) {
        match_cache_put(mc, match_list_count_only(p->scope, p->names_gen, what, text, (size_t)n));
        return NOT_LISTED;
    }
    struct match_list *read = NULL;
    if (rc == STORE_OK)
        rc = read_match_list(c, q, p, n, &read);
    if (rc != STORE_OK) {
        match_cache_abandon(mc, p->scope, p->names_gen, what, text);
        return rc;
    }
    *total = (int64_t)read->n;
    rc = emit_from_list(c, q, read, fn, arg);
    match_cache_put(mc, read);
    return rc;
}

/* SQLite's progress handler while a query with a deadline runs: non-zero stops the statement
 * running (SQLITE_INTERRUPT) once the deadline has passed. */
static int query_late(void *arg)
{
    struct sqlite_conn *c = arg;
    if (time_mono_us() <= c->deadline_us)
        return 0;
    c->late = true;
    return 1;
}

/* How many of SQLite's virtual machine steps between two looks at the clock (~25 ns each): a few
 * microseconds of a query's work. */
#define QUERY_LATE_STEPS 2000

static int sqlite_query(struct store_txn *t, const struct store_query *q,
                        void (*fn)(const char *doc, size_t len, void *arg), void *arg,
                        int64_t *total)
{
    struct sqlite_conn *c = txn_conn(t);
    if (q->deadline_us) {
        c->deadline_us = q->deadline_us;
        c->late = false;
        sqlite3_progress_handler(c->db, QUERY_LATE_STEPS, query_late, c);
    }
    struct qplan plan = {0};
    struct qbuild *where = NULL;
    int rc = STORE_OK;
    bool counted = false;
    /* the searchText's matches (or else the name's) go to temp.name_matches; a name search that
     * is the only filter is then counted there, and its page planned on the count */
    if (q->search && fts_usable(q->search))
        plan.matched = MATCHED_SEARCH;
    else if (q->name && fts_usable(q->name))
        plan.matched = MATCHED_NAME;
    if (plan.matched || (q->name && fts_usable(q->name))) {
        rc = names_scope(c, q, &plan);
        if (rc == STORE_OK && from_match_list(q, &plan)) {
            struct sqlite_store *s = (struct sqlite_store *)t->store;
            rc = query_match_list(c, s, q, &plan, fn, arg, total);
            if (rc != NOT_LISTED)
                goto out;
            rc = STORE_OK;
        }
        if (rc == STORE_OK && plan.matched)
            rc = fill_matches(c, q, &plan);
        if (rc != STORE_OK)
            goto out;
    }
    if (plan.matched && !other_filters(q) && !(q->search && q->name)) {
        int64_t tenant = 0;
        rc = matches_total(c, q, total, &tenant);
        if (rc != STORE_OK || *total <= q->skip)
            goto out;
        plan.walk = walk_pays(q, *total, tenant);
        counted = true;
    }
    where = xcalloc(1, sizeof *where);
    qb_where(where, q, &plan);
    rc = STORE_ERROR;
    if (where->overflow) {
        log_error("sqlite: query too large");
        goto out;
    }
    rc = counted ? STORE_OK : query_total(c, q, where, total);
    if (rc != STORE_OK || *total <= q->skip)
        goto out;
    struct qbuild tail = {.n = where->n};
    int64_t offset = q->skip;
    if (created_pays(q) && (rc = created_start(c, q, &tail, &offset)) != STORE_OK)
        goto out;
    /* every tenant with records has a scope (migration 19 gave them one); without one the sort
     * falls back to reading the rows and sorting them */
    if (q->sort == STORE_SORT_UPDATED && !plan.scoped) {
        rc = names_scope(c, q, &plan);
        if (rc != STORE_OK)
            goto out;
    }
    /* A case's tasks (a few, found by records_case) are sorted as rows: walking the tenant's
     * order for them probed every entry (300 ms for a case of 130 of 200,000 tasks) */
    bool updates = q->sort == STORE_SORT_UPDATED && plan.scoped && !q->case_id;
    if (updates) {
        qb_sql(&tail, " AND u.scope = ");
        qb_int(&tail, plan.scope);
        qb_order_updates(&tail, q);
    } else {
        qb_order(&tail, q);
    }
    qb_sql(&tail, " LIMIT ");
    qb_int(&tail, q->limit);
    qb_sql(&tail, " OFFSET ");
    qb_int(&tail, offset);
    /* The page is chosen on rowids alone, so that an index which orders the rows and holds
     * every column the filters read covers the inner query: the rows a deep skip passes over
     * then cost an index step each, never a look-up of the row. Only the page's rows are read
     * back, with their documents. */
    static const char head[] = "SELECT d.doc, x.breached, (x.status_category IN ('open',"
                               " 'inProgress') AND x.due_date < ?1), x.rowid, x.kind FROM (SELECT"
                               " r.rowid AS rid FROM ";
    static const char from_records[] = "records r";
    static const char from_case[] = "records r" BY_CASE;
    /* in updatedAt order: the tenant's entries walked in order, each probing its row and its
     * document's updatedAt (migration 20), or the few rows an index finds for a narrow filter,
     * each probing its updatedAt and then its entry, or (CROSS JOIN: records first) the name
     * index's few matches, the same way */
    static const char from_updates[] = "record_updates u JOIN records r ON r.rowid = u.rid"
                                       " AND r.id = u.id JOIN record_docs ud ON ud.rid = u.rid"
                                       " AND ud.updated_at = u.updated_at";
    static const char from_matches[] = "records r CROSS JOIN record_docs ud ON ud.rid = r.rowid"
                                       " CROSS JOIN record_updates u ON u.rid = r.rowid"
                                       " AND u.updated_at = ud.updated_at AND u.id = r.id";
    /* the whole tenant: its scope says whose an entry is, so only the updatedAt is probed (r is
     * the document here; its rowid is the record's), and the WHERE keeps none of the tenant's
     * tests (their parameters stay numbered, unused) */
    static const char from_updates_all[] = "record_updates u JOIN record_docs r ON r.rid = u.rid"
                                           " AND r.updated_at = u.updated_at";
    static const char where_all[] = " WHERE 1";
    static const char foot[] = ") p JOIN records x ON x.rowid = p.rid JOIN record_docs d"
                               " ON d.rid = p.rid";
    bool all = updates && only_tenant(q);
    const char *from = q->case_id              ? from_case /* never in updatedAt's walk */
                       : !updates              ? from_records
                       : all                   ? from_updates_all
                       : names_drive(q, &plan) ? from_matches
                                               : from_updates;
    const char *wsql = all ? where_all : where->sql;
    size_t size = sizeof head + strlen(from) + strlen(wsql) + tail.len + sizeof foot;
    char *sql = xmalloc(size);
    snprintf(sql, size, "%s%s%s%s%s", head, from, wsql, tail.sql, foot);
    sqlite3_stmt *st = query_stmt(c, sql);
    free(sql);
    rc = STORE_ERROR;
    if (!st)
        goto out;
    sqlite3_bind_int64(st, 1, q->now_ms);
    bind_params(st, where);
    for (int i = where->n; i < tail.n; i++)
        sqlite3_bind_int64(st, i + 2, tail.params[i].i);
    int step;
    int emitted = STORE_OK;
    while (emitted == STORE_OK && (step = sqlite3_step(st)) == SQLITE_ROW)
        emitted = emit(c, st, fn, arg);
    rc = emitted == STORE_OK && step == SQLITE_DONE ? STORE_OK : STORE_ERROR;
    if (rc != STORE_OK)
        query_error(c);
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
out:
    if (q->deadline_us) {
        sqlite3_progress_handler(c->db, 0, NULL, NULL); /* the clean-up below runs to its end */
        c->deadline_us = 0;
        if (c->late)
            rc = STORE_LATE;
    }
    if (plan.matched && clear_matches(c) != STORE_OK)
        rc = STORE_ERROR;
    c->late = false;
    if (where)
        qb_free(where);
    free(where);
    return rc;
}


/* ---- bulk loading (store.h) ----
 * The definitions of the secondary indexes and triggers of records and record_docs are kept in
 * the table bulk_load while they are dropped, so that store_bulk_end recreates exactly what the
 * migrations made, and a database left half-loaded is recognised when it is opened. The primary
 * key stays (puts are upserts on it), and so do record_values' indexes: rewriting a record's
 * values finds them by rid, and both indexes grow at their ends anyway.
 *
 * In between, the writer's connection has the database to itself, without the WAL: in WAL mode
 * every page of the load was written twice, to the WAL and again by a checkpoint into the database
 * (5.5 GB each way for a million tasks), and the checkpointer thread took CPU time from the
 * writer. Nothing another connection could see needs protecting, since a load that does not end
 * leaves bulk_load behind: the other connections are closed, the writer's takes an exclusive
 * lock, keeps its rollback journal in memory (so one write's SAVEPOINT still rolls back) and does
 * not sync. store_bulk_end syncs all of it before it drops bulk_load, and leaves the database in
 * WAL mode, checkpointed, as store_open makes it. The page cache stays the writer's (16 MiB): a
 * 1 GiB one made 200,000 tasks slower (16 s instead of 11 s), the kernel zeroing pages for it. */

#define BULK_OBJECTS                                                                           \
    "FROM sqlite_schema WHERE type IN ('index', 'trigger') AND sql IS NOT NULL"                \
    " AND tbl_name IN ('records', 'record_docs')"

static int bulk_begin_sql(sqlite3 *db)
{
    if (exec_sql(db, "CREATE TABLE bulk_load (seq INTEGER PRIMARY KEY, type TEXT NOT NULL,"
                     " name TEXT NOT NULL, sql TEXT NOT NULL);"
                     "INSERT INTO bulk_load (type, name, sql) SELECT type, name, sql " BULK_OBJECTS
                     " ORDER BY type, name"))
        return STORE_ERROR;
    /* the DROPs run once the statement listing them is done: SQLite refuses to drop what an
     * active statement of the same connection reads */
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db,
                           "SELECT group_concat(format('DROP %s \"%w\";', type, name), '')"
                           " FROM (SELECT type, name FROM bulk_load ORDER BY seq)",
                           -1, &st, NULL) != SQLITE_OK)
        return STORE_ERROR;
    char *drops = sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0)
                      ? xstrdup((const char *)sqlite3_column_text(st, 0))
                      : NULL;
    sqlite3_finalize(st);
    int rc = drops && exec_sql(db, drops) == 0 ? STORE_OK : STORE_ERROR;
    free(drops);
    return rc;
}

/* The tenants' scopes and the trigram index of every name (migration 6), filled before the
 * secondary indexes come back. The INSERT reads records without an ORDER BY; once records_name
 * exists that read is a scan of the (smaller) index, in name order, and FTS5 writes out its
 * pending terms each time a rowid comes out lower than the one before: a segment per row, merged
 * again and again (with the index of migration 3, 4.9 s instead of 0.9 s for 200,000 tasks). In
 * rowid order it only flushes when its pending data outgrow 'hashsize' (1 MiB), raised to 64 MiB
 * for the fill (fewer segments: 0.9 s to 0.5 s) and put back afterwards, so the database holds
 * the configuration the migrations made. */
#define BULK_FTS_HASHSIZE "67108864"

static int bulk_names_fill(sqlite3 *db)
{
    /* queued changes (migration 5) would be applied again on top of the fill; every tenant's
     * names are new (migration 9) */
    return exec_sql(db, "DELETE FROM fts_pending;"
                        "INSERT OR IGNORE INTO record_scopes (stream_id, account_id, kind)"
                        "  SELECT stream_id, account_id, kind FROM records"
                        "  GROUP BY stream_id, account_id, kind;"
                        "UPDATE record_scopes SET names_gen = names_gen + 1;"
                        "INSERT INTO record_names (record_names) VALUES ('delete-all');"
                        "INSERT INTO record_names (record_names, rank)"
                        "  VALUES ('hashsize', " BULK_FTS_HASHSIZE ");"
                        "INSERT INTO record_names (rowid, name_lower)"
                        "  SELECT (s.scope << 40) + r.rowid, r.name_lower"
                        "  FROM records r JOIN record_scopes s ON s.stream_id = r.stream_id"
                        "  AND s.account_id = r.account_id AND s.kind = r.kind;"
                        "INSERT INTO record_names (record_names, rank) VALUES ('hashsize', 1048576);"
                        "DELETE FROM record_names_config WHERE k = 'hashsize';"
                        "INSERT INTO record_names (record_names) VALUES ('optimize');");
}

static int bulk_end_sql(sqlite3 *db)
{
    if (bulk_names_fill(db))
        return STORE_ERROR;
    /* indexes first ('index' < 'trigger'), then the triggers that keep the rest from now on */
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db, "SELECT group_concat(sql || ';', '') FROM"
                               " (SELECT sql FROM bulk_load ORDER BY seq)",
                           -1, &st, NULL) != SQLITE_OK)
        return STORE_ERROR;
    char *creates = sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0)
                        ? xstrdup((const char *)sqlite3_column_text(st, 0))
                        : NULL;
    sqlite3_finalize(st);
    int rc = creates && exec_sql(db, creates) == 0 ? STORE_OK : STORE_ERROR;
    free(creates);
    /* what the dropped triggers did not do: the counts per tenant, per status and priority, and
     * per bucket of creation time, and the places in updatedAt order (the scopes and the name
     * index: above) */
    if (rc == STORE_OK &&
        exec_sql(db, "DELETE FROM record_created_buckets;"
                     "INSERT INTO record_created_buckets SELECT stream_id, account_id, kind,"
                     "  " CREATED_BUCKET ", count(*) FROM records"
                     "  GROUP BY stream_id, account_id, kind, " CREATED_BUCKET ";"
                     "DELETE FROM record_status_counts;"
                     "INSERT INTO record_status_counts SELECT stream_id, account_id, kind,"
                     "  status_category, status_name, priority_name, count(*) FROM records"
                     "  GROUP BY stream_id, account_id, kind, status_category, status_name,"
                     "  priority_name;"
                     "DELETE FROM record_assignee_counts;"
                     "INSERT INTO record_assignee_counts SELECT stream_id, account_id, kind,"
                     "  assignee, status_category, status_name, priority_name, count(*)"
                     "  FROM records GROUP BY stream_id, account_id, kind, assignee,"
                     "  status_category, status_name, priority_name;"
                     "DELETE FROM record_counts;"
                     "INSERT INTO record_counts SELECT stream_id, account_id, kind, count(*)"
                     "  FROM records GROUP BY stream_id, account_id, kind;"
                     "DELETE FROM record_updates;"
                     "INSERT INTO record_updates SELECT s.scope, d.updated_at, r.id, r.rowid"
                     "  FROM records r JOIN record_docs d ON d.rid = r.rowid"
                     "  JOIN record_scopes s ON s.stream_id = r.stream_id"
                     "  AND s.account_id = r.account_id AND s.kind = r.kind"
                     "  ORDER BY s.scope, d.updated_at, r.id;"))
        rc = STORE_ERROR;
    return rc;
}

/* Runs fn in one transaction of db; STORE_OK once committed. */
static int bulk_txn(sqlite3 *db, int (*fn)(sqlite3 *db))
{
    if (exec_sql(db, "BEGIN IMMEDIATE"))
        return STORE_ERROR;
    int rc = fn(db);
    if (rc == STORE_OK && exec_sql(db, "COMMIT"))
        rc = STORE_ERROR;
    if (rc != STORE_OK && !sqlite3_get_autocommit(db))
        exec_sql(db, "ROLLBACK");
    return rc;
}

/* Sets the journal mode; -1 when SQLite kept another (it answers with the mode in force). */
static int journal_mode(sqlite3 *db, const char *mode)
{
    char sql[64];
    snprintf(sql, sizeof sql, "PRAGMA journal_mode=%s", mode);
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
        return -1;
    bool ok = sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0) &&
              strcasecmp((const char *)sqlite3_column_text(st, 0), mode) == 0;
    if (!ok)
        log_error("sqlite: journal_mode=%s refused: %s", mode, sqlite3_errmsg(db));
    sqlite3_finalize(st);
    return ok ? 0 : -1;
}

/* Stops the writer thread once it has run what is queued; its connection is then the caller's. */
static void writer_pause(struct sqlite_store *s)
{
    pthread_mutex_lock(&s->queue_mu);
    s->stopping = true;
    pthread_cond_signal(&s->queue_cv);
    pthread_mutex_unlock(&s->queue_mu);
    if (s->writer_running)
        pthread_join(s->writer, NULL);
    s->writer_running = false;
}

static int writer_resume(struct sqlite_store *s)
{
    pthread_mutex_lock(&s->queue_mu);
    s->stopping = false;
    pthread_mutex_unlock(&s->queue_mu);
    s->writer_running = pthread_create(&s->writer, NULL, writer_main, s) == 0;
    return s->writer_running ? 0 : -1;
}

/* Closes every thread's read connection (reopened on the next read, after store_bulk_end):
 * a connection in WAL mode, even idle, keeps the writer's from leaving it. */
static void readers_close(struct sqlite_store *s)
{
    pthread_mutex_lock(&s->mu);
    for (struct sqlite_conn *c = s->conns, *next; c; c = next) {
        next = c->next;
        conn_free(c);
    }
    s->conns = NULL;
    s->generation = atomic_fetch_add(&next_generation, 1); /* forgets every thread's cached one */
    pthread_mutex_unlock(&s->mu);
}

static int bulk_enter(struct sqlite_store *s)
{
    sqlite3 *db = s->wconn->db;
    stop_checkpointer(s);
    readers_close(s);
    /* leaving WAL checkpoints it into the database and syncs: bulk_load is on disk before any
     * record the load writes */
    if (bulk_txn(db, bulk_begin_sql) != STORE_OK || journal_mode(db, "MEMORY") ||
        exec_sql(db, "PRAGMA locking_mode=EXCLUSIVE; PRAGMA synchronous=OFF"))
        return STORE_ERROR;
    return STORE_OK;
}

static int bulk_drop(sqlite3 *db)
{
    return exec_sql(db, "DROP TABLE bulk_load") ? STORE_ERROR : STORE_OK;
}

/* How the indexes are sorted. CREATE INDEX sorts every row's key; with temp_store=MEMORY (the
 * connection's setting) SQLite's sorter keeps its runs in memory and never uses helper threads,
 * and the seven indexes whose order is not the load's took ~2 s each for 1,000,000 tasks. With
 * its runs in temporary files (deleted when the sort ends) and one helper thread per core it takes
 * ~1 s each. */
static int bulk_sort_setup(sqlite3 *db)
{
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    char sql[96];
    snprintf(sql, sizeof sql, "PRAGMA temp_store=FILE; PRAGMA threads=%ld",
             cores < 1 ? 1 : cores > 8 ? 8 : cores);
    return exec_sql(db, sql);
}

static int bulk_leave(struct sqlite_store *s)
{
    sqlite3 *db = s->wconn->db;
    /* the indexes, with a commit that syncs the database file: all the load wrote is on disk
     * before bulk_load goes (its DROP would otherwise reach the disk ahead of pages it vouches
     * for) */
    if (exec_sql(db, "PRAGMA synchronous=FULL") || bulk_sort_setup(db) ||
        bulk_txn(db, bulk_end_sql) != STORE_OK)
        return STORE_ERROR;
    const char *sync = durability_sync(s);
    /* back to how conn_open left it, then the DROP through the WAL, checkpointed and synced */
    if (exec_sql(db, "PRAGMA temp_store=MEMORY; PRAGMA threads=0") ||
        exec_sql(db, "PRAGMA locking_mode=NORMAL") || journal_mode(db, "WAL") ||
        exec_sql(db, sync) || bulk_txn(db, bulk_drop) != STORE_OK ||
        sqlite3_wal_checkpoint_v2(db, NULL, SQLITE_CHECKPOINT_TRUNCATE, NULL, NULL) != SQLITE_OK)
        return STORE_ERROR;
    char *err = NULL;
    if (start_checkpointer(s, &err) != 0) {
        log_error("sqlite: %s", err);
        free(err);
        return STORE_ERROR;
    }
    return STORE_OK;
}

static int sqlite_bulk(struct store *base, bool begin)
{
    struct sqlite_store *s = (struct sqlite_store *)base;
    writer_pause(s);
    /* bulk mode has no WAL (and syncs nothing until it ends): its groups are answered at their
     * COMMIT; leaving it makes a new WAL, which the syncer opens */
    int rc;
    if (begin) {
        stop_syncer(s);
        rc = bulk_enter(s);
    } else {
        char *err = NULL;
        rc = bulk_leave(s);
        if (rc == STORE_OK && start_syncer(s, &err) != 0) {
            log_error("sqlite: %s", err);
            free(err);
            rc = STORE_ERROR;
        }
    }
    if (writer_resume(s) != 0)
        rc = STORE_ERROR;
    return rc;
}

static const struct store_ops sqlite_ops = {
    .name = "sqlite",
    .io_safe = true,
    .close = sqlite_close,
    .ready = sqlite_ready,
    .path = sqlite_path,
    .write = sqlite_write,
    .write_then = sqlite_write_then,
    .read = sqlite_read,
    .read_keep = sqlite_read_keep,
    .read_end = sqlite_read_end,
    .app_put = sqlite_app_put,
    .app_get = sqlite_app_get,
    .app_each = sqlite_app_each,
    .stream_put = sqlite_stream_put,
    .stream_get = sqlite_stream_get,
    .catalog_version = sqlite_catalog_version,
    .next_ref = sqlite_next_ref,
    .record_put = sqlite_record_put,
    .record_update = sqlite_record_update,
    .record_set_doc = sqlite_record_set_doc,
    .case_add_task = sqlite_case_add_task,
    .record_get = sqlite_record_get,
    .record_head = sqlite_record_head,
    .query = sqlite_query,
    .idem_get = sqlite_idem_get,
    .idem_put = sqlite_idem_put,
    .activity_list = sqlite_activity_list,
    .jti_use = sqlite_jti_use,
    .bulk = sqlite_bulk,
    .settle_ticket = sqlite_settle_ticket,
    .settle_wait = sqlite_settle_wait,
};
