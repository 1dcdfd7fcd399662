/* store_pg — the PostgreSQL backend (libpq): many stateless casemgr processes on one database
 * (DESIGN.md §4, docs/operations.md).
 *
 * Connections: one per calling thread (like the SQLite readers), opened on first use, every
 * statement prepared once on it. A connection found lost (the server went away, a network error,
 * an administrator's shutdown) fails the call in progress with STORE_ERROR and is re-opened on a
 * later call, after a back-off that grows to RECONNECT_MAX_MS; a transaction never survives the
 * loss, so nothing is acknowledged that was not committed.
 *
 * Writes: store_write runs the callback on the calling thread in a READ COMMITTED transaction in
 * which every read that precedes a write locks what it read: a record (SELECT ... FOR UPDATE), the
 * case a task update checks (FOR SHARE), an idempotency key (a transaction-scoped advisory lock),
 * an app (FOR UPDATE); a stream configuration is checked optimistically (its row version) when it
 * is written back; store_record_update with an expected version is a compare-and-set that
 * PostgreSQL re-checks against the newest committed row. So read-modify-write is atomic across
 * processes, and no callback is ever run
 * twice (a callback's side effects on its arg are not repeatable). Counters, idempotency keys and
 * the jti replay set are rows (INSERT ... ON CONFLICT). Reads run in a REPEATABLE READ READ ONLY
 * snapshot, so a page and its total agree.
 *
 * Query semantics equal the SQLite backend's (API.md §8): the same filters, orders and ties
 * (text columns use COLLATE "C", byte order), name search as a case-sensitive substring (LIKE on
 * a pg_trgm GIN index), and the multi-valued members (channel, queues, custom-field values:
 * store_record.values) as a text[] column matched with && on a GIN index. */
#include "store/backend.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <libpq-fe.h>
#include <openssl/evp.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/log.h"
#include "util/mem.h"
#include "util/scalar.h"
#include "util/time.h"
#include "util/wait.h"

#define TXT "text COLLATE \"C\""

/* pg_key (below) in SQL, for migrations that key stored values: the same text for the same value
 * (PG_KEY_MAX 1024, PG_KEY_MARK chr(28), SHA-256 of the UTF-8 bytes in lower-case hex) */
#define PG_KEY_FUNCTION                                                                            \
    "CREATE OR REPLACE FUNCTION casemgr_key(a text) RETURNS text LANGUAGE sql IMMUTABLE STRICT"   \
    "  AS $$ SELECT CASE WHEN octet_length(a) > 1024 OR left(a, 1) = chr(28)"                     \
    "  THEN chr(28) || encode(sha256(convert_to(a, 'UTF8')), 'hex') ELSE a END $$;"

/* Schema versions, applied in order under an advisory lock (several processes may start at
 * once); casemgr_schema.version records how many have run. Never edit a shipped entry: append. */
static const char *const migrations[] = {
    /* 1: the logical schema of SQLite's versions 1-3: apps, streams, counters, records with
     * their query columns, a trigram index of names, the multi-valued members, per-tenant
     * counts, idempotency keys, seen jtis, activities. Documents are json (kept verbatim: the
     * API answers them byte for byte, member order included; jsonb would reorder). */
    "CREATE EXTENSION IF NOT EXISTS pg_trgm;"
    "CREATE TABLE apps (client_id " TXT " PRIMARY KEY, account_id " TXT " NOT NULL,"
    "  created_at bigint NOT NULL, doc json NOT NULL);"
    "CREATE TABLE streams (stream_id " TXT " PRIMARY KEY, doc json NOT NULL);"
    "CREATE TABLE counters (stream_id " TXT " NOT NULL, kind " TXT " NOT NULL,"
    "  value bigint NOT NULL, PRIMARY KEY (stream_id, kind));"
    "CREATE TABLE records (id " TXT " PRIMARY KEY, kind integer NOT NULL,"
    "  stream_id " TXT " NOT NULL, account_id " TXT " NOT NULL, ref_id " TXT " NOT NULL,"
    "  case_id " TXT ", name_lower " TXT " NOT NULL, status_name " TXT ","
    "  status_category " TXT ", priority_name " TXT ", priority_score integer,"
    "  assignee " TXT ", source " TXT ", ref_seq bigint NOT NULL, breached boolean NOT NULL,"
    "  created_at bigint NOT NULL, updated_at bigint NOT NULL, due_date bigint,"
    "  version bigint NOT NULL, facets text[] COLLATE \"C\" NOT NULL, doc json NOT NULL);"
    "CREATE UNIQUE INDEX records_ref ON records (stream_id, kind, ref_id);"
    "CREATE INDEX records_created ON records (stream_id, account_id, kind, created_at, id);"
    "CREATE INDEX records_updated ON records (stream_id, account_id, kind, updated_at, id);"
    "CREATE INDEX records_due ON records (stream_id, account_id, kind, due_date, id);"
    "CREATE INDEX records_due_desc ON records (stream_id, account_id, kind,"
    "  due_date DESC NULLS LAST, id DESC);"
    "CREATE INDEX records_priority ON records (stream_id, account_id, kind, priority_score, id);"
    "CREATE INDEX records_name ON records (stream_id, account_id, kind, name_lower, id);"
    "CREATE INDEX records_ref_seq ON records (stream_id, account_id, kind, ref_seq, id);"
    "CREATE INDEX records_assignee ON records (stream_id, account_id, kind, assignee, created_at);"
    "CREATE INDEX records_status ON records (stream_id, account_id, kind, status_category,"
    "  priority_name, due_date);"
    "CREATE INDEX records_case ON records (case_id) WHERE case_id IS NOT NULL;"
    "CREATE INDEX records_name_trgm ON records USING gin (name_lower gin_trgm_ops);"
    "CREATE INDEX records_facets ON records USING gin (facets);"
    "CREATE TABLE record_counts (stream_id " TXT " NOT NULL, account_id " TXT " NOT NULL,"
    "  kind integer NOT NULL, n bigint NOT NULL, PRIMARY KEY (stream_id, account_id, kind));"
    "CREATE FUNCTION casemgr_records_count() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN"
    "  INSERT INTO record_counts (stream_id, account_id, kind, n)"
    "  VALUES (NEW.stream_id, NEW.account_id, NEW.kind, 1)"
    "  ON CONFLICT (stream_id, account_id, kind) DO UPDATE SET n = record_counts.n + 1;"
    "  RETURN NULL; END $$;"
    "CREATE TRIGGER records_count AFTER INSERT ON records"
    "  FOR EACH ROW EXECUTE FUNCTION casemgr_records_count();"
    "CREATE TABLE idempotency (client_id " TXT " NOT NULL, key " TXT " NOT NULL,"
    "  body_hash text NOT NULL, status integer NOT NULL, body text NOT NULL,"
    "  created_at bigint NOT NULL, PRIMARY KEY (client_id, key));"
    "CREATE TABLE jti (client_id " TXT " NOT NULL, jti " TXT " NOT NULL, exp bigint NOT NULL,"
    "  PRIMARY KEY (client_id, jti));"
    "CREATE INDEX jti_exp ON jti (exp);"
    "CREATE TABLE activities (seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,"
    "  id " TXT " NOT NULL, stream_id " TXT " NOT NULL, account_id " TXT " NOT NULL,"
    "  record_id " TXT " NOT NULL, created_at bigint NOT NULL, doc json NOT NULL);"
    "CREATE INDEX activities_record ON activities (record_id, seq);",
    /* 2: the dueDate indexes carry the status category and priority, so that "unresolved,
     * Critical, by dueDate" filters the index entries it walks (an index-only scan of the
     * page's ids, pg_query) instead of fetching the row of each */
    "DROP INDEX records_due;"
    "CREATE INDEX records_due ON records (stream_id, account_id, kind, due_date, id)"
    "  INCLUDE (status_category, priority_name);"
    "DROP INDEX records_due_desc;"
    "CREATE INDEX records_due_desc ON records (stream_id, account_id, kind,"
    "  due_date DESC NULLS LAST, id DESC) INCLUDE (status_category, priority_name);",
    /* 3: each tenant's records counted by creation time in buckets of 2^24 ms, as in the SQLite
     * backend (its migration 11): a page deep in creation order starts at the bucket its skip
     * falls in (created_start) instead of stepping over every index entry before it. created_at
     * never changes and records are never deleted, so a trigger on insert keeps the counts; the
     * counted row is the one record_counts' trigger already holds for the transaction's tenant,
     * so concurrent creates of one tenant wait no more than they did. */
    "CREATE TABLE record_created_buckets (stream_id " TXT " NOT NULL, account_id " TXT
    "  NOT NULL, kind integer NOT NULL, bucket bigint NOT NULL, n bigint NOT NULL,"
    "  PRIMARY KEY (stream_id, account_id, kind, bucket));"
    "INSERT INTO record_created_buckets SELECT stream_id, account_id, kind, created_at >> 24,"
    "  count(*) FROM records GROUP BY stream_id, account_id, kind, created_at >> 24;"
    "CREATE FUNCTION casemgr_records_created() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN"
    "  INSERT INTO record_created_buckets (stream_id, account_id, kind, bucket, n)"
    "  VALUES (NEW.stream_id, NEW.account_id, NEW.kind, NEW.created_at >> 24, 1)"
    "  ON CONFLICT (stream_id, account_id, kind, bucket)"
    "  DO UPDATE SET n = record_created_buckets.n + 1;"
    "  RETURN NULL; END $$;"
    "CREATE TRIGGER records_created AFTER INSERT ON records"
    "  FOR EACH ROW EXECUTE FUNCTION casemgr_records_created();",
    /* 4: ties in dueDate, priority and name in refId order, then id, as in the SQLite backend
     * (its migration 14): a create's entry in these indexes then goes at the end of its run of
     * equal keys instead of at a random place among them */
    "DROP INDEX records_due;"
    "CREATE INDEX records_due ON records (stream_id, account_id, kind, due_date, ref_seq, id)"
    "  INCLUDE (status_category, priority_name);"
    "DROP INDEX records_due_desc;"
    "CREATE INDEX records_due_desc ON records (stream_id, account_id, kind,"
    "  due_date DESC NULLS LAST, ref_seq DESC, id DESC) INCLUDE (status_category, priority_name);"
    "DROP INDEX records_priority;"
    "CREATE INDEX records_priority ON records (stream_id, account_id, kind, priority_score,"
    "  ref_seq, id);"
    "DROP INDEX records_name;"
    "CREATE INDEX records_name ON records (stream_id, account_id, kind, name_lower, ref_seq, id);",
    /* 5: a currAssignee without an _id names its user by agentId, as the vendor's documents do
     * (doc_record_columns), as in the SQLite backend (its migration 17); keyed as pg_key keys it.
     * (Changed before any release: as first written it stored the agentId as it was, and a long
     * one failed the migration on the index's size limit; migration 6 keys what it stored.) */
    PG_KEY_FUNCTION
    "UPDATE records SET assignee = casemgr_key(doc->'currAssignee'->>'agentId')"
    "  WHERE assignee IS NULL AND json_typeof(doc->'currAssignee'->'agentId') = 'string'"
    "  AND doc->'currAssignee'->>'agentId' <> '';",
    /* 6: values stored as they were before pg_key: an assignee, a facet or a jti past PG_KEY_MAX
     * bytes (up to the index's limit) or starting with PG_KEY_MARK is keyed as new ones are, so
     * the queries, which key what they look for, find it; a key already (the mark and 64 hex
     * digits) is left as it is */
    PG_KEY_FUNCTION
    "CREATE FUNCTION casemgr_rekey(a text) RETURNS text LANGUAGE sql IMMUTABLE STRICT AS $$"
    "  SELECT CASE WHEN a ~ ('^' || chr(28) || '[0-9a-f]{64}$') THEN a ELSE casemgr_key(a) END"
    "  $$;"
    "UPDATE records SET assignee = casemgr_rekey(assignee)"
    "  WHERE octet_length(assignee) > 1024 OR left(assignee, 1) = chr(28);"
    "UPDATE records SET facets = ARRAY(SELECT casemgr_rekey(f) FROM unnest(facets)"
    "  WITH ORDINALITY AS u(f, i) ORDER BY i)"
    "  WHERE EXISTS (SELECT 1 FROM unnest(facets) f WHERE octet_length(f) > 1024);"
    "UPDATE jti SET jti = casemgr_rekey(jti) WHERE octet_length(jti) > 1024"
    "  OR left(jti, 1) = chr(28);"
    "DROP FUNCTION casemgr_rekey(text);",
    /* 7: idempotency keys by age, for the purge of expired ones (pg_idem_put) */
    "CREATE INDEX IF NOT EXISTS idempotency_created ON idempotency (created_at);",
    /* 8: the catalog's version (pg_catalog_version), as SQLite's migration 21: a random value
     * that every statement writing apps or streams replaces, in whatever process it runs. A
     * request's authentication and configuration read it, one statement, instead of the app and
     * the configuration, two, while it is unchanged. Random, not counted: a database put back
     * from a dump does not take another's version. It runs again as a whole on a database
     * already migrated (as 5 to 7 do: a schema version set back by an older process). */
    "CREATE TABLE IF NOT EXISTS catalog_version (v bigint NOT NULL);"
    "INSERT INTO catalog_version SELECT (random() * 9.2e18)::bigint"
    "  WHERE NOT EXISTS (SELECT 1 FROM catalog_version);"
    "CREATE OR REPLACE FUNCTION casemgr_catalog_changed() RETURNS trigger LANGUAGE plpgsql AS $$"
    "  BEGIN UPDATE catalog_version SET v = (random() * 9.2e18)::bigint; RETURN NULL; END $$;"
    "DROP TRIGGER IF EXISTS apps_catalog ON apps;"
    "CREATE TRIGGER apps_catalog AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON apps"
    "  FOR EACH STATEMENT EXECUTE FUNCTION casemgr_catalog_changed();"
    "DROP TRIGGER IF EXISTS streams_catalog ON streams;"
    "CREATE TRIGGER streams_catalog AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON streams"
    "  FOR EACH STATEMENT EXECUTE FUNCTION casemgr_catalog_changed();",
};
#define MIGRATION_COUNT ((int)(sizeof migrations / sizeof migrations[0]))
#define MIGRATION_LOCK 0x63617365 /* pg_advisory_lock key while migrating ("case") */

/* Parameter types, so a statement may leave a parameter unused. */
#define OID_BOOL 16
#define OID_INT8 20
#define OID_TEXT 25
#define OID_JSON 114
#define OID_TEXT_ARRAY 1009

enum stmt_id {
    ST_BEGIN_WRITE,
    ST_BEGIN_READ,
    ST_COMMIT,
    ST_ROLLBACK,
    ST_PING,
    ST_APP_PUT,
    ST_APP_GET,
    ST_APP_GET_LOCK,
    ST_APP_EACH,
    ST_STREAM_GET,
    ST_CATALOG_VERSION,
    ST_STREAM_INSERT,
    ST_STREAM_UPSERT,
    ST_STREAM_REPLACE,
    ST_REF_NEXT,
    ST_RECORD_PUT,
    ST_RECORD_UPDATE,
    ST_RECORD_SET_DOC,
    ST_RECORD_GET,
    ST_RECORD_GET_LOCK,
    ST_RECORD_HEAD,
    ST_RECORD_HEAD_SHARE,
    ST_RECORD_LOCK,
    ST_IDEM_LOCK,
    ST_IDEM_GET,
    ST_IDEM_PUT,
    ST_ACTIVITY_PUT,
    ST_ACTIVITY_LIST,
    ST_ACTIVITY_COUNT,
    ST_JTI_USE,
    ST_JTI_PURGE,
    ST_IDEM_PURGE,
    ST_CREATED_ASC,
    ST_CREATED_DESC,
    ST_COUNT
};

struct stmt_def {
    const char *sql;
    int nparams;
    const char *types; /* one letter per parameter: t text, i int8, b bool, j json, a text[] */
};

static const struct stmt_def stmts[ST_COUNT] = {
    [ST_BEGIN_WRITE] = {"BEGIN ISOLATION LEVEL READ COMMITTED, READ WRITE", 0, ""},
    [ST_BEGIN_READ] = {"BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY", 0, ""},
    [ST_COMMIT] = {"COMMIT", 0, ""},
    [ST_ROLLBACK] = {"ROLLBACK", 0, ""},
    [ST_PING] = {"SELECT 1", 0, ""},
    [ST_APP_PUT] = {"INSERT INTO apps (client_id, account_id, created_at, doc)"
                    " VALUES ($1, $2, $3, $4) ON CONFLICT (client_id) DO UPDATE"
                    " SET account_id = EXCLUDED.account_id, doc = EXCLUDED.doc",
                    4, "ttij"},
    [ST_APP_GET] = {"SELECT doc FROM apps WHERE client_id = $1", 1, "t"},
    [ST_APP_GET_LOCK] = {"SELECT doc FROM apps WHERE client_id = $1 FOR UPDATE", 1, "t"},
    [ST_APP_EACH] = {"SELECT doc FROM apps ORDER BY created_at, client_id", 0, ""},
    [ST_STREAM_GET] = {"SELECT doc, xmin::text FROM streams WHERE stream_id = $1", 1, "t"},
    [ST_CATALOG_VERSION] = {"SELECT v FROM catalog_version", 0, ""},
    [ST_STREAM_INSERT] = {"INSERT INTO streams (stream_id, doc) VALUES ($1, $2)"
                          " ON CONFLICT (stream_id) DO NOTHING RETURNING xmin::text",
                          2, "tj"},
    [ST_STREAM_UPSERT] = {"INSERT INTO streams (stream_id, doc) VALUES ($1, $2)"
                          " ON CONFLICT (stream_id) DO UPDATE SET doc = EXCLUDED.doc"
                          " RETURNING xmin::text",
                          2, "tj"},
    [ST_STREAM_REPLACE] = {"UPDATE streams SET doc = $2 WHERE stream_id = $1 AND xmin::text = $3"
                           " RETURNING xmin::text",
                           3, "tjt"},
    [ST_REF_NEXT] = {"INSERT INTO counters (stream_id, kind, value) VALUES ($1, $2, 1)"
                     " ON CONFLICT (stream_id, kind) DO UPDATE SET value = counters.value + 1"
                     " RETURNING value",
                     2, "tt"},
    [ST_RECORD_PUT] =
        {"INSERT INTO records (id, kind, stream_id, account_id, ref_id, case_id, name_lower,"
         " status_name, status_category, priority_name, priority_score, assignee, created_at,"
         " updated_at, due_date, version, doc, source, ref_seq, breached, facets) VALUES ($1, $2,"
         " $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, 1, $16, $17, $18, $19, $20)"
         " ON CONFLICT (id) DO UPDATE SET name_lower = $7, status_name = $8,"
         " status_category = $9, priority_name = $10, priority_score = $11, assignee = $12,"
         " updated_at = $14, due_date = $15, version = records.version + 1, doc = $16,"
         " source = $17, breached = $19, facets = $20"
         " WHERE records.stream_id = $3 AND records.account_id = $4 AND records.kind = $2"
         " RETURNING version",
         20, "tittttttttitiiijtiba"},
    /* Every column is written: on PostgreSQL an update writes a new row version and (updated_at
     * being indexed) new entries in every index whatever the SET list, so writing only the
     * changed columns, as the SQLite backend does, would save nothing here. */
    [ST_RECORD_UPDATE] =
        {"UPDATE records SET doc = $1, version = version + 1, updated_at = $2, breached = $3,"
         " name_lower = $4, status_name = $5, status_category = $6, priority_name = $7,"
         " priority_score = $8, assignee = $9, due_date = $10, source = $11, facets = $12"
         " WHERE id = $13 AND stream_id = $14 AND account_id = $15 AND kind = $16"
         " AND ($17 = 0 OR version = $17) RETURNING version",
         17, "jibttttititatttii"},
    [ST_RECORD_SET_DOC] = {"UPDATE records SET doc = $1, version = version + 1"
                           " WHERE id = $2 AND kind = $3 AND stream_id = $4 AND account_id = $5"
                           " RETURNING version",
                           5, "jtitt"},
    [ST_RECORD_GET] = {"SELECT doc, version FROM records"
                       " WHERE id = $1 AND kind = $2 AND stream_id = $3 AND account_id = $4",
                       4, "titt"},
    [ST_RECORD_GET_LOCK] = {"SELECT doc, version FROM records"
                            " WHERE id = $1 AND kind = $2 AND stream_id = $3 AND account_id = $4"
                            " FOR UPDATE",
                            4, "titt"},
    [ST_RECORD_HEAD] = {"SELECT ref_id, status_category FROM records"
                        " WHERE id = $1 AND kind = $2 AND stream_id = $3 AND account_id = $4",
                        4, "titt"},
    [ST_RECORD_HEAD_SHARE] = {"SELECT ref_id, status_category FROM records"
                              " WHERE id = $1 AND kind = $2 AND stream_id = $3 AND account_id = $4"
                              " FOR SHARE",
                              4, "titt"},
    [ST_RECORD_LOCK] = {"SELECT ref_id, status_category FROM records"
                        " WHERE id = $1 AND kind = $2 AND stream_id = $3 AND account_id = $4"
                        " FOR UPDATE",
                        4, "titt"},
    [ST_IDEM_LOCK] = {"SELECT pg_advisory_xact_lock(hashtextextended($1 || chr(31) || $2, 0))", 2,
                      "tt"},
    [ST_IDEM_GET] = {"SELECT body_hash, status, body, created_at FROM idempotency"
                     " WHERE client_id = $1 AND key = $2",
                     2, "tt"},
    [ST_IDEM_PUT] = {"INSERT INTO idempotency (client_id, key, body_hash, status, body,"
                     " created_at) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (client_id, key)"
                     " DO UPDATE SET body_hash = $3, status = $4, body = $5, created_at = $6",
                     6, "tttiti"},
    [ST_ACTIVITY_PUT] = {"INSERT INTO activities (id, stream_id, account_id, record_id,"
                         " created_at, doc) VALUES ($1, $2, $3, $4, $5, $6)",
                         6, "ttttij"},
    [ST_ACTIVITY_LIST] = {"SELECT doc FROM activities WHERE record_id = $1 AND stream_id = $2"
                          " AND account_id = $3 ORDER BY seq DESC LIMIT $5 OFFSET $4",
                          5, "tttii"},
    [ST_ACTIVITY_COUNT] = {"SELECT count(*) FROM activities WHERE record_id = $1"
                           " AND stream_id = $2 AND account_id = $3",
                           3, "ttt"},
    /* A jti expired before the cutoff counts as purged (the SQLite backend deletes it first). */
    [ST_JTI_USE] = {"INSERT INTO jti (client_id, jti, exp) VALUES ($1, $2, $3)"
                    " ON CONFLICT (client_id, jti) DO UPDATE SET exp = EXCLUDED.exp"
                    " WHERE jti.exp < $4 RETURNING 1",
                    4, "ttii"},
    /* never waits: rows another transaction holds are left for a later purge */
    [ST_JTI_PURGE] = {"DELETE FROM jti WHERE ctid = ANY (ARRAY (SELECT ctid FROM jti"
                      " WHERE exp < $1 LIMIT 1000 FOR UPDATE SKIP LOCKED))",
                      1, "i"},
    [ST_IDEM_PURGE] = {"DELETE FROM idempotency WHERE ctid = ANY (ARRAY (SELECT ctid FROM"
                       " idempotency WHERE created_at < $1 LIMIT 1000 FOR UPDATE SKIP LOCKED))",
                       1, "i"},
    /* created_start: from the sort's start, the first of the tenant's buckets by creation time
     * that holds row $4 (counting from 0), or the $5 + 1st; and the rows before it */
    [ST_CREATED_ASC] = {"SELECT bucket, upto - n FROM (SELECT bucket, n, sum(n) OVER w AS upto,"
                        " row_number() OVER w AS k FROM record_created_buckets"
                        " WHERE stream_id = $1 AND account_id = $2 AND kind = $3"
                        " WINDOW w AS (ORDER BY bucket ROWS UNBOUNDED PRECEDING)) s"
                        " WHERE upto > $4 OR k > $5 ORDER BY bucket LIMIT 1",
                        5, "ttiii"},
    [ST_CREATED_DESC] = {"SELECT bucket, upto - n FROM (SELECT bucket, n, sum(n) OVER w AS upto,"
                         " row_number() OVER w AS k FROM record_created_buckets"
                         " WHERE stream_id = $1 AND account_id = $2 AND kind = $3"
                         " WINDOW w AS (ORDER BY bucket DESC ROWS UNBOUNDED PRECEDING)) s"
                         " WHERE upto > $4 OR k > $5 ORDER BY bucket DESC LIMIT 1",
                         5, "ttiii"},
};

#define QUERY_CACHE 32        /* prepared list queries kept per connection, by SQL text */
#define RECONNECT_MIN_MS 50   /* first back-off after a failed connect */
#define RECONNECT_MAX_MS 1000 /* back-off ceiling: the server is retried at least every second */
#define JTI_PURGE_EVERY_MS 60000
#define LOCK_TIMEOUT_MS 10000 /* when store_options.busy_timeout_ms is 0 */

struct pg_conn {
    PGconn *db; /* NULL while lost */
    int64_t retry_at_ms;
    int64_t failed_at_ms;
    int backoff_ms;
    bool in_txn;
    struct {
        char *sql;
        char name[16];
    } queries[QUERY_CACHE];
    unsigned next_query;
    unsigned query_seq;
    struct pg_conn *next;
};

struct pg_store {
    struct store base;
    char *url;
    struct store_options opt;
    uint64_t generation; /* distinguishes this store from a later one at the address */
    _Atomic int64_t reconnected_at_ms; /* last time any connection came back */
    _Atomic int64_t jti_purged_at_ms;
    _Atomic int64_t idem_purged_at_ms; /* pg_idem_put */
    pthread_mutex_t mu; /* guards conns */
    struct pg_conn *conns;
};

struct pg_txn {
    struct store_txn base;
    struct pg_conn *conn;
    bool write;
    bool failed; /* a statement failed: the transaction cannot commit */
    /* the stream configuration read in this transaction, checked when it is written back */
    char *stream_id;
    bool stream_found;
    char stream_xmin[24];
};

static atomic_uint_fast64_t next_generation = 1;
static _Thread_local struct {
    uint64_t generation;
    struct pg_conn *conn;
} tls_conn;

static const struct store_ops pg_ops;

/* ---- connections ---- */

/* Logs what: msg on one line (libpq's messages span lines: "...\n\tThis probably means..."). */
static void log_pg(const char *what, const char *msg)
{
    char line[512];
    size_t n = 0;
    for (const char *p = msg ? msg : "?"; *p && n < sizeof line - 1; p++) {
        bool space = *p == '\n' || *p == '\t' || *p == '\r';
        if (space && (n == 0 || line[n - 1] == ' '))
            continue;
        line[n++] = (char)(space ? ' ' : *p);
    }
    while (n && line[n - 1] == ' ')
        n--;
    line[n] = '\0';
    log_error("postgres: %s: %s", what, line);
}

static bool lost(PGconn *db, const PGresult *res)
{
    if (!db || PQstatus(db) == CONNECTION_BAD)
        return true;
    const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    /* connection exceptions, and the server shutting down or restarting */
    return !res || (state && (strncmp(state, "08", 2) == 0 || strcmp(state, "57P01") == 0 ||
                              strcmp(state, "57P02") == 0 || strcmp(state, "57P03") == 0));
}

static void conn_drop(struct pg_conn *c)
{
    if (c->db)
        PQfinish(c->db);
    c->db = NULL;
    c->in_txn = false;
    for (int i = 0; i < QUERY_CACHE; i++) {
        free(c->queries[i].sql);
        c->queries[i].sql = NULL;
    }
}

/* Marks c lost: the next use reconnects after the back-off. */
static void conn_lost(struct pg_conn *c)
{
    if (c->db)
        log_pg("connection lost", PQerrorMessage(c->db));
    conn_drop(c);
    int64_t now = time_now_ms();
    c->failed_at_ms = now;
    c->retry_at_ms = now; /* the first reconnect is immediate: the server may be back already */
    c->backoff_ms = 0;
}

static void conn_free(struct pg_conn *c)
{
    conn_drop(c);
    free(c);
}

static void type_oids(const char *types, Oid *oids)
{
    for (int i = 0; types[i]; i++) {
        switch (types[i]) {
        case 'i':
            oids[i] = OID_INT8;
            break;
        case 'b':
            oids[i] = OID_BOOL;
            break;
        case 'j':
            oids[i] = OID_JSON;
            break;
        case 'a':
            oids[i] = OID_TEXT_ARRAY;
            break;
        default:
            oids[i] = OID_TEXT;
            break;
        }
    }
}

/* Opens a session and prepares every fixed statement on it. */
/* The server's NOTICEs ("relation ... already exists, skipping") are expected chatter; libpq would
 * print each on stderr. */
static void quiet_notice(void *arg, const char *message)
{
    (void)arg;
    (void)message;
}

#define IDLE_TXN_TIMEOUT_MS 2000 /* see session_open */

static PGconn *session_open(struct pg_store *s, bool prepare, char **err)
{
    /* Defaults the URL may override (it comes last): a dead or unreachable server is noticed
     * in seconds, not after the kernel's TCP timeouts (minutes), so requests answer 503 and
     * /readyz fails promptly, and the connection is re-opened (to a new primary after a
     * failover). */
    static const char *const keys[] = {
        "connect_timeout",     "tcp_user_timeout", "keepalives_idle",
        "keepalives_interval", "keepalives_count", "fallback_application_name",
        "client_encoding",     "dbname",           NULL};
    const char *vals[] = {"3", "10000", "10", "5", "3", "casemgr", "UTF8", s->url, NULL};
    PGconn *db = PQconnectdbParams(keys, vals, 1);
    if (!db)
        mem_oom();
    if (PQstatus(db) != CONNECTION_OK)
        goto fail;
    PQsetNoticeProcessor(db, quiet_notice, NULL);
    char set[256];
    int lock_ms = s->opt.busy_timeout_ms > 0 ? s->opt.busy_timeout_ms : LOCK_TIMEOUT_MS;
    /* --durability=normal: a crash of the database server may lose the last acknowledged
     * commits (never corrupts); full waits for the WAL flush (and the synchronous standbys). */
    /* A process that stops inside a transaction (frozen, paused, cut off by the network while
     * its socket stays open) must not keep its row locks: every other process's writes of those
     * rows (a case's tasks, a stream's refId counter) failed at lock_timeout, attempt after
     * attempt, until the server's TCP keepalive (two hours by default) ended its session.
     * casemgr never waits between the statements of a transaction, so IDLE_TXN_TIMEOUT_MS ends
     * such a session; the server's keepalives on the session's socket end one whose peer is
     * gone. */
    snprintf(set, sizeof set,
             "SET lock_timeout = %d; SET synchronous_commit = %s; SET TIME ZONE 'UTC'; "
             "SET idle_in_transaction_session_timeout = %d; SET tcp_keepalives_idle = 10; "
             "SET tcp_keepalives_interval = 5; SET tcp_keepalives_count = 3",
             lock_ms, s->opt.durability == STORE_DURABILITY_NORMAL ? "off" : "on",
             IDLE_TXN_TIMEOUT_MS);
    PGresult *res = PQexec(db, set);
    bool ok = PQresultStatus(res) == PGRES_COMMAND_OK;
    PQclear(res);
    if (!ok)
        goto fail;
    for (int i = 0; prepare && i < ST_COUNT; i++) {
        Oid oids[32];
        if (strlen(stmts[i].types) != (size_t)stmts[i].nparams)
            abort(); /* a statement table entry is wrong: a programming error */
        type_oids(stmts[i].types, oids);
        char name[16];
        snprintf(name, sizeof name, "s%d", i);
        res = PQprepare(db, name, stmts[i].sql, stmts[i].nparams, oids);
        ok = PQresultStatus(res) == PGRES_COMMAND_OK;
        PQclear(res);
        if (!ok)
            goto fail;
    }
    return db;
fail:
    if (err)
        *err = xstrdup(PQerrorMessage(db));
    PQfinish(db);
    return NULL;
}

/* (Re)connects c unless its back-off runs; true when c has a session. */
static bool conn_ensure(struct pg_store *s, struct pg_conn *c)
{
    if (c->db)
        return true;
    int64_t now = time_now_ms();
    /* another connection came back since this one failed: the server is up, try at once */
    bool server_back = atomic_load(&s->reconnected_at_ms) >= c->failed_at_ms;
    if (now < c->retry_at_ms && !server_back)
        return false;
    char *err = NULL;
    c->db = session_open(s, true, &err);
    if (!c->db) {
        if (c->backoff_ms == 0 || server_back)
            log_pg("cannot connect", err);
        free(err);
        c->backoff_ms = c->backoff_ms ? c->backoff_ms * 2 : RECONNECT_MIN_MS;
        if (c->backoff_ms > RECONNECT_MAX_MS)
            c->backoff_ms = RECONNECT_MAX_MS;
        c->failed_at_ms = now;
        c->retry_at_ms = now + c->backoff_ms;
        return false;
    }
    if (c->backoff_ms)
        log_info("postgres: reconnected");
    c->backoff_ms = 0;
    atomic_store(&s->reconnected_at_ms, now);
    return true;
}

/* This thread's connection to s (created on first use; it may be lost: see conn_ensure). */
static struct pg_conn *conn_get(struct pg_store *s)
{
    if (tls_conn.generation == s->generation && tls_conn.conn)
        return tls_conn.conn;
    struct pg_conn *c = xcalloc(1, sizeof *c);
    pthread_mutex_lock(&s->mu);
    c->next = s->conns;
    s->conns = c;
    pthread_mutex_unlock(&s->mu);
    tls_conn.generation = s->generation;
    tls_conn.conn = c;
    return c;
}

/* ---- open, migrate, close ---- */

static int exec_simple(PGconn *db, const char *sql, char **err)
{
    PGresult *res = PQexec(db, sql);
    ExecStatusType st = PQresultStatus(res);
    int rc = st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK ? 0 : -1;
    if (rc && err && !*err)
        *err = xstrdup(PQresultErrorMessage(res));
    PQclear(res);
    return rc;
}

static int migrate(PGconn *db, bool keep, char **err)
{
    char sql[128];
    snprintf(sql, sizeof sql, "SELECT pg_advisory_lock(%d)", MIGRATION_LOCK);
    if (exec_simple(db, sql, err))
        return -1;
    int rc = -1, version = 0;
    if (!keep && exec_simple(db, "CREATE TABLE IF NOT EXISTS casemgr_schema (version integer "
                                 "NOT NULL)",
                             err))
        goto out;
    PGresult *res = PQexec(db, "SELECT version FROM casemgr_schema");
    if (keep && PQresultStatus(res) != PGRES_TUPLES_OK) { /* no schema at all */
        PQclear(res);
        *err = schema_too_old(0, MIGRATION_COUNT);
        goto out;
    }
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        *err = xstrdup(PQresultErrorMessage(res));
        PQclear(res);
        goto out;
    }
    bool fresh = PQntuples(res) == 0;
    if (!fresh) {
        const char *text = PQgetvalue(res, 0, 0);
        char *end;
        errno = 0;
        long parsed = strtol(text, &end, 10);
        bool ok = end != text && !*end && !errno && parsed >= 0 && parsed <= INT_MAX;
        version = ok ? (int)parsed : -1;
    }
    PQclear(res);
    if (version > MIGRATION_COUNT) {
        *err = xstrdup("the database was written by a newer casemgr (schema version too high)");
        goto out;
    }
    if (version < 0) { /* the loop below would index migrations[] with it */
        *err = xstrdup("the database has an invalid (negative) schema version");
        goto out;
    }
    if (keep && version < MIGRATION_COUNT) {
        *err = schema_too_old(version, MIGRATION_COUNT);
        goto out;
    }
    if (fresh && exec_simple(db, "INSERT INTO casemgr_schema VALUES (0)", err))
        goto out;
    for (int v = version; v < MIGRATION_COUNT; v++) {
        snprintf(sql, sizeof sql, "UPDATE casemgr_schema SET version = %d", v + 1);
        if (exec_simple(db, "BEGIN", err))
            goto out;
        if (exec_simple(db, migrations[v], err) || exec_simple(db, sql, err) ||
            exec_simple(db, "COMMIT", err)) {
            exec_simple(db, "ROLLBACK", NULL);
            goto out;
        }
    }
    if (version > 0 && version < MIGRATION_COUNT)
        log_info("database schema migrated from version %d to %d", version, MIGRATION_COUNT);
    rc = 0;
out:
    snprintf(sql, sizeof sql, "SELECT pg_advisory_unlock(%d)", MIGRATION_LOCK);
    exec_simple(db, sql, NULL);
    return rc;
}

/* Says so at start when PostgreSQL has fewer connections free than this process may open: each
 * thread keeps the connection it opened, so past max_connections the threads that got none
 * answer 503 while those that have one sit idle, under load and after it (docs/operations.md
 * §5 sizes max_connections). */
static void warn_connections(PGconn *db, unsigned want)
{
    PGresult *res = PQexec(db, "SELECT current_setting('max_connections')::int"
                               " - current_setting('superuser_reserved_connections')::int"
                               " - (SELECT count(*) FROM pg_stat_activity"
                               "    WHERE backend_type = 'client backend')::int");
    if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1) {
        long free_now = strtol(PQgetvalue(res, 0, 0), NULL, 10) + 1; /* this session's own */
        if (free_now < (long)want)
            log_error("postgres: the server has %ld connections free and this process may open "
                      "%u (--workers + 2): requests will answer 503 when it runs short; raise "
                      "max_connections or lower --workers (docs/operations.md §5)",
                      free_now, want);
    }
    PQclear(res);
}

struct store *store_pg_open(const char *url, const struct store_options *opt, char **err)
{
    *err = NULL;
    struct pg_store *s = xcalloc(1, sizeof *s);
    s->base.ops = &pg_ops;
    s->url = xstrdup(url);
    s->opt = *opt;
    s->generation = atomic_fetch_add(&next_generation, 1);
    pthread_mutex_init(&s->mu, NULL);
    /* migrate on a private session before any statement is prepared against the schema */
    PGconn *db = session_open(s, false, err);
    if (!db)
        goto fail;
    int rc = migrate(db, opt->keep_schema, err);
    if (rc == 0 && opt->connections)
        warn_connections(db, opt->connections);
    PQfinish(db);
    if (rc)
        goto fail;
    if (!conn_ensure(s, conn_get(s))) {
        *err = xstrdup("cannot prepare the statements on a new connection");
        goto fail;
    }
    return &s->base;
fail:
    if (*err) { /* libpq's messages end with a newline */
        size_t n = strlen(*err);
        while (n && ((*err)[n - 1] == '\n' || (*err)[n - 1] == ' '))
            (*err)[--n] = '\0';
    }
    for (struct pg_conn *c = s->conns, *next; c; c = next) {
        next = c->next;
        conn_free(c);
    }
    if (tls_conn.generation == s->generation)
        tls_conn.conn = NULL;
    pthread_mutex_destroy(&s->mu);
    free(s->url);
    free(s);
    return NULL;
}

static void pg_close(struct store *base)
{
    struct pg_store *s = (struct pg_store *)base;
    for (struct pg_conn *c = s->conns, *next; c; c = next) {
        next = c->next;
        conn_free(c);
    }
    if (tls_conn.generation == s->generation)
        tls_conn.conn = NULL;
    pthread_mutex_destroy(&s->mu);
    free(s->url);
    free(s);
}

static const char *pg_path(const struct store *base)
{
    (void)base;
    return NULL;
}

/* ---- statements ---- */

static struct pg_store *txn_store(struct pg_txn *t)
{
    return (struct pg_store *)t->base.store;
}

/* Checks a statement's result: STORE_OK when it ran, else records the failure (a lost
 * connection is dropped) and returns STORE_CONFLICT for a unique violation, else STORE_ERROR. */
static int check(struct pg_txn *t, PGresult *res, const char *what)
{
    ExecStatusType st = PQresultStatus(res);
    if (res && (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK))
        return STORE_OK;
    t->failed = true;
    const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    if (state && strcmp(state, "23505") == 0)
        return STORE_CONFLICT; /* the transaction is aborted all the same: the caller stops */
    if (lost(t->conn->db, res)) {
        conn_lost(t->conn);
        return STORE_ERROR;
    }
    log_pg(what, res ? PQresultErrorMessage(res) : "no result");
    return STORE_ERROR;
}

/* Runs fixed statement id with text parameters v; NULL (with *rc set) unless it succeeded. */
static PGresult *run(struct pg_txn *t, enum stmt_id id, const char *const *v, int *rc)
{
    if (t->failed || !t->conn->db) {
        *rc = STORE_ERROR;
        return NULL;
    }
    char name[16];
    snprintf(name, sizeof name, "s%d", (int)id);
    PGresult *res = PQexecPrepared(t->conn->db, name, stmts[id].nparams, v, NULL, NULL, 0);
    *rc = check(t, res, stmts[id].sql);
    if (*rc == STORE_OK)
        return res;
    PQclear(res);
    return NULL;
}

/* Runs prepared statement name with n text parameters v, a row at a time (libpq's single-row
 * mode): each(res, row, arg) sees every row, and the rows of a page of large documents are not
 * all held at once (API_PAGE_BYTES_MAX bounds what a page keeps). Every result is read before
 * the first failure is checked, so the connection is left idle. */
static int run_rows(struct pg_txn *t, const char *name, int n, const char *const *v,
                    void (*each)(const PGresult *res, int row, void *arg), void *arg)
{
    if (t->failed || !t->conn->db)
        return STORE_ERROR;
    PGconn *db = t->conn->db;
    if (!PQsendQueryPrepared(db, name, n, v, NULL, NULL, 0))
        return check(t, NULL, name);
    PQsetSingleRowMode(db); /* if refused, the rows arrive in one result, read the same way */
    PGresult *res, *failed = NULL;
    while ((res = PQgetResult(db)) != NULL) {
        ExecStatusType st = PQresultStatus(res);
        if (!failed && (st == PGRES_SINGLE_TUPLE || st == PGRES_TUPLES_OK)) {
            for (int i = 0; i < PQntuples(res); i++)
                each(res, i, arg);
            PQclear(res);
        } else if (!failed) {
            failed = res;
        } else {
            PQclear(res);
        }
    }
    if (!failed)
        return STORE_OK;
    int rc = check(t, failed, name);
    PQclear(failed);
    return rc;
}

/* Runs a statement that returns nothing the caller needs. */
static int run_done(struct pg_txn *t, enum stmt_id id, const char *const *v)
{
    int rc;
    PQclear(run(t, id, v, &rc));
    return rc;
}

struct num {
    char s[24];
};

static struct num num(int64_t v)
{
    struct num n;
    snprintf(n.s, sizeof n.s, "%lld", (long long)v);
    return n;
}

static int64_t get_i64(const PGresult *res, int row, int col)
{
    return strtoll(PQgetvalue(res, row, col), NULL, 10);
}

/* A transaction-control statement on the session outside any pg_txn bookkeeping. */
static bool control(struct pg_conn *c, enum stmt_id id)
{
    if (!c->db)
        return false;
    char name[16];
    snprintf(name, sizeof name, "s%d", (int)id);
    PGresult *res = PQexecPrepared(c->db, name, 0, NULL, NULL, NULL, 0);
    bool ok = PQresultStatus(res) == PGRES_COMMAND_OK || PQresultStatus(res) == PGRES_TUPLES_OK;
    /* COMMIT of a transaction that failed answers ROLLBACK */
    if (ok && id == ST_COMMIT && strcmp(PQcmdStatus(res), "COMMIT") != 0)
        ok = false;
    if (!ok) {
        if (lost(c->db, res))
            conn_lost(c);
        else
            log_pg(stmts[id].sql, PQresultErrorMessage(res));
    }
    PQclear(res);
    return ok;
}

/* Begins a transaction on this thread's connection, reconnecting once when the session turns
 * out to be stale (the server restarted since its last use): nothing has run yet, so that is
 * safe. */
static struct pg_conn *begin(struct pg_store *s, enum stmt_id id)
{
    struct pg_conn *c = conn_get(s);
    if (c->in_txn) {
        log_error("postgres: a transaction is already open on this thread");
        return NULL;
    }
    for (int attempt = 0; attempt < 2; attempt++) {
        if (!conn_ensure(s, c))
            return NULL;
        if (control(c, id)) {
            c->in_txn = true;
            return c;
        }
        if (c->db)
            return NULL; /* the server refused, the session is fine: no retry */
    }
    return NULL;
}

static int run_txn_waiting(struct store *base, bool write, store_txn_fn fn, void *arg);

/* A transaction is round trips to the server: the thread counts as waiting (util/wait). */
static int run_txn(struct store *base, bool write, store_txn_fn fn, void *arg)
{
    wait_enter();
    int rc = run_txn_waiting(base, write, fn, arg);
    wait_leave();
    return rc;
}

static int run_txn_waiting(struct store *base, bool write, store_txn_fn fn, void *arg)
{
    struct pg_store *s = (struct pg_store *)base;
    struct pg_conn *c = begin(s, write ? ST_BEGIN_WRITE : ST_BEGIN_READ);
    if (!c)
        return STORE_ERROR;
    struct pg_txn t = {.base = {.store = base}, .conn = c, .write = write};
    int rc = fn(&t.base, arg);
    if (rc == STORE_OK && t.failed)
        rc = STORE_ERROR; /* a statement failed and the callback went on: nothing commits */
    if (rc == STORE_OK) {
        if (!control(c, ST_COMMIT))
            rc = STORE_ERROR; /* not acknowledged: a lost COMMIT may or may not have landed */
    } else if (c->db) {
        control(c, ST_ROLLBACK);
    }
    c->in_txn = false;
    free(t.stream_id);
    return rc;
}

static int pg_write(struct store *base, store_txn_fn fn, void *arg)
{
    return run_txn(base, true, fn, arg);
}

static int pg_read(struct store *base, store_txn_fn fn, void *arg)
{
    return run_txn(base, false, fn, arg);
}

/* An idle worker's connection, closed. Each thread keeps the connection it opened; with more
 * threads than the server has connections free, the threads without one answered 503 while
 * those holding one sat idle, during the load and after it (idle workers wait on a stack: the
 * one that failed last is taken next). Released after a while idle, the slots go to the
 * threads that work. The next use connects at once. */
static void pg_release_idle(struct store *base)
{
    struct pg_store *s = (struct pg_store *)base;
    if (tls_conn.generation != s->generation || !tls_conn.conn)
        return;
    struct pg_conn *c = tls_conn.conn;
    if (!c->db || c->in_txn)
        return;
    conn_drop(c);
    c->retry_at_ms = c->failed_at_ms = 0;
    c->backoff_ms = 0;
}

#define READY_PING_MS 2000 /* how long /readyz waits for SELECT 1 */

/* SELECT 1 on c, answered within READY_PING_MS: libpq's own call has no deadline, and a server
 * that stopped answering while its host still acknowledges TCP (SIGSTOP, a hung VM) held the
 * probe until it answered, for ever. Past the deadline the connection is dropped (its answer
 * could come at any later time) and the next use connects afresh (connect_timeout bounds it). */
static bool ping_within(struct pg_conn *c, int budget_ms, bool *timed_out)
{
    char name[16];
    snprintf(name, sizeof name, "s%d", (int)ST_PING);
    if (!PQsendQueryPrepared(c->db, name, 0, NULL, NULL, NULL, 0)) {
        conn_lost(c);
        return false;
    }
    int64_t deadline = time_mono_us() + (int64_t)budget_ms * 1000;
    while (PQisBusy(c->db)) {
        int64_t left_ms = (deadline - time_mono_us()) / 1000;
        struct pollfd p = {.fd = PQsocket(c->db), .events = POLLIN};
        int n = left_ms > 0 ? poll(&p, 1, (int)left_ms) : 0;
        if (n == 0 || (n < 0 && errno != EINTR)) {
            log_error("postgres: SELECT 1 not answered within %d ms: the connection is dropped",
                      budget_ms);
            conn_drop(c); /* as conn_lost, which would log libpq's message: empty here */
            c->failed_at_ms = c->retry_at_ms = time_now_ms();
            c->backoff_ms = 0;
            *timed_out = true;
            return false;
        }
        if (n > 0 && !PQconsumeInput(c->db)) {
            conn_lost(c);
            return false;
        }
    }
    bool ok = true;
    PGresult *res;
    while ((res = PQgetResult(c->db)) != NULL) {
        ok = ok && PQresultStatus(res) == PGRES_TUPLES_OK;
        if (PQresultStatus(res) != PGRES_TUPLES_OK && lost(c->db, res)) {
            PQclear(res);
            conn_lost(c);
            return false;
        }
        PQclear(res);
    }
    return ok;
}

static bool pg_ready(struct store *base)
{
    struct pg_store *s = (struct pg_store *)base;
    struct pg_conn *c = conn_get(s);
    if (c->in_txn)
        return true; /* this thread is inside a transaction that is running */
    /* a second try on a new connection when the first was found lost (a restarted server),
     * not when the server did not answer in time */
    bool timed_out = false;
    for (int attempt = 0; attempt < 2 && !timed_out; attempt++) {
        if (!conn_ensure(s, c))
            return false;
        if (ping_within(c, READY_PING_MS, &timed_out))
            return true;
        if (c->db)
            return false;
    }
    return false;
}

static struct pg_txn *pg_txn_of(struct store_txn *t)
{
    return (struct pg_txn *)t;
}

/* Runs a one-row, one-column text query; OK with a heap copy, NOT_FOUND, or an error. */
static int get_text(struct pg_txn *t, enum stmt_id id, const char *const *v, char **out)
{
    int rc;
    PGresult *res = run(t, id, v, &rc);
    if (!res)
        return rc;
    if (PQntuples(res) == 0) {
        rc = STORE_NOT_FOUND;
    } else {
        *out = xstrdup(PQgetvalue(res, 0, 0));
        rc = STORE_OK;
    }
    PQclear(res);
    return rc;
}

/* ---- apps, streams, counters ---- */

static int pg_app_put(struct store_txn *tb, const char *client_id, const char *account_id,
                      const char *json)
{
    struct num now = num(time_now_ms());
    const char *v[] = {client_id, account_id, now.s, json};
    return run_done(pg_txn_of(tb), ST_APP_PUT, v);
}

static int pg_app_get(struct store_txn *tb, const char *client_id, char **json)
{
    struct pg_txn *t = pg_txn_of(tb);
    const char *v[] = {client_id};
    /* a write reads an app to change it (revoke): hold it until the commit */
    return get_text(t, t->write ? ST_APP_GET_LOCK : ST_APP_GET, v, json);
}

static int pg_app_each(struct store_txn *tb, void (*fn)(const char *json, void *arg), void *arg)
{
    int rc;
    PGresult *res = run(pg_txn_of(tb), ST_APP_EACH, NULL, &rc);
    if (!res)
        return rc;
    for (int i = 0; i < PQntuples(res); i++)
        fn(PQgetvalue(res, i, 0), arg);
    PQclear(res);
    return STORE_OK;
}

static void remember_stream(struct pg_txn *t, const char *stream_id, bool found, const char *xmin)
{
    if (!t->stream_id || strcmp(t->stream_id, stream_id) != 0) {
        free(t->stream_id);
        t->stream_id = xstrdup(stream_id);
    }
    t->stream_found = found;
    snprintf(t->stream_xmin, sizeof t->stream_xmin, "%s", xmin ? xmin : "");
}

static int pg_stream_get(struct store_txn *tb, const char *stream_id, char **json)
{
    struct pg_txn *t = pg_txn_of(tb);
    const char *v[] = {stream_id};
    int rc;
    PGresult *res = run(t, ST_STREAM_GET, v, &rc);
    if (!res)
        return rc;
    bool found = PQntuples(res) > 0;
    if (found)
        *json = xstrdup(PQgetvalue(res, 0, 0));
    if (t->write)
        remember_stream(t, stream_id, found, found ? PQgetvalue(res, 0, 1) : NULL);
    PQclear(res);
    return found ? STORE_OK : STORE_NOT_FOUND;
}

/* A write transaction's answer is NOT_FOUND (read the documents): a configuration it takes
 * from the cache is not remembered as read (remember_stream), and its write would not be
 * checked against a concurrent one (pg_stream_put). */
static int pg_catalog_version(struct store_txn *tb, int64_t *v)
{
    struct pg_txn *t = pg_txn_of(tb);
    if (t->write)
        return STORE_NOT_FOUND;
    int rc;
    PGresult *res = run(t, ST_CATALOG_VERSION, NULL, &rc);
    if (!res)
        return rc;
    if (PQntuples(res) == 1)
        *v = get_i64(res, 0, 0);
    else
        rc = STORE_ERROR; /* the migration's row is never deleted */
    PQclear(res);
    return rc;
}

/* A configuration read in this transaction is written back only if no other transaction
 * changed it since (its row version): an edit is never lost to a concurrent one, yet writers
 * that only read the configuration never wait on each other. A first configuration (the seed)
 * loses to one written concurrently, as if it had come first. */
static int pg_stream_put(struct store_txn *tb, const char *stream_id, const char *json)
{
    struct pg_txn *t = pg_txn_of(tb);
    bool read = t->stream_id && strcmp(t->stream_id, stream_id) == 0;
    const char *v[] = {stream_id, json, t->stream_xmin};
    enum stmt_id id = !read             ? ST_STREAM_UPSERT
                      : t->stream_found ? ST_STREAM_REPLACE
                                        : ST_STREAM_INSERT;
    int rc;
    PGresult *res = run(t, id, v, &rc);
    if (!res)
        return rc;
    if (PQntuples(res) > 0) {
        remember_stream(t, stream_id, true, PQgetvalue(res, 0, 0));
    } else if (id == ST_STREAM_REPLACE) {
        rc = STORE_CONFLICT; /* changed since this transaction read it: the caller reads again
                              * (an error line here was printed by changes that then landed) */
    }
    PQclear(res);
    return rc;
}

static int pg_next_ref(struct store_txn *tb, const char *stream_id, const char *kind, int64_t *out)
{
    const char *v[] = {stream_id, kind};
    int rc;
    PGresult *res = run(pg_txn_of(tb), ST_REF_NEXT, v, &rc);
    if (!res)
        return rc;
    *out = get_i64(res, 0, 0);
    PQclear(res);
    return STORE_OK;
}

/* ---- the multi-valued members (API.md §8 channel, queues, customFields) ----
 * A record's values (store_record.values: "key\x1dvalue\x1e"...) are kept as one text[] column
 * of "key\x1dvalue" elements; a filter asks for the same elements and matches with && (array
 * overlap) on a GIN index. Neither part of an entry holds a separator byte (doc/record.c leaves
 * such values out), so an element names one key and one value. */

struct sbuf {
    char *p;
    size_t len, cap;
};

static void sb_add(struct sbuf *b, const char *s, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        b->cap = (b->len + n + 1) * 2;
        b->p = xrealloc(b->p, b->cap);
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static void sb_str(struct sbuf *b, const char *s)
{
    sb_add(b, s, strlen(s));
}

/* Appends one quoted element, the concatenation of a, b and c[0..n), to a text[] literal that
 * b opened with "{". */
static void array_add(struct sbuf *out, const char *a, const char *b, const char *c, size_t n)
{
    sb_str(out, out->len > 1 ? ",\"" : "\"");
    const char *parts[] = {a, b};
    for (int i = 0; i < 3; i++) {
        const char *p = i < 2 ? parts[i] : c;
        size_t len = i < 2 ? (p ? strlen(p) : 0) : n;
        for (size_t j = 0; j < len; j++) {
            if (p[j] == '"' || p[j] == '\\')
                sb_add(out, "\\", 1);
            sb_add(out, p + j, 1);
        }
    }
    sb_add(out, "\"", 1);
}

/* PostgreSQL refuses an index entry over ~2.7 KB (a third of a b-tree page; a GIN item the same):
 * a write with a longer value in an indexed column (an assignee id, a channel, a queue, a custom
 * field's value; a jti) failed whole, 503. A value past PG_KEY_MAX bytes is stored and looked up
 * by its SHA-256 instead (PG_KEY_MARK and 64 hex digits), in the column and in a query's values
 * alike, so equality finds it as before. The documents keep the values as they are. */
#define PG_KEY_MAX 1024
#define PG_KEY_MARK '\x1c' /* never the first byte of a value that is stored as it is */
#define PG_KEY_HASHED 66    /* the mark, 64 hex digits, NUL */

/* s (n bytes) as indexed: itself, or in out (PG_KEY_HASHED bytes) its hash. NULL stays NULL.
 * PG_KEY_FUNCTION is the same in SQL, for migrations: change both together. */
static const char *pg_key(const char *s, size_t n, char out[PG_KEY_HASHED])
{
    if (!s || (n <= PG_KEY_MAX && s[0] != PG_KEY_MARK))
        return s;
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    if (!EVP_Digest(s, n, md, &len, EVP_sha256(), NULL) || len != 32)
        mem_oom(); /* only an allocation inside OpenSSL can fail here */
    out[0] = PG_KEY_MARK;
    for (size_t i = 0; i < 32; i++)
        snprintf(out + 1 + 2 * i, 3, "%02x", md[i]);
    return out;
}

/* pg_key of key and value joined (a values element: key ends in \x1d), into a text[] literal */
static void array_add_key(struct sbuf *out, const char *key, const char *v, size_t n)
{
    size_t k = key ? strlen(key) : 0;
    if (k + n <= PG_KEY_MAX && (k ? key[0] : n ? v[0] : 0) != PG_KEY_MARK) {
        array_add(out, key, NULL, v, n);
        return;
    }
    char *joined = xmalloc(k + n + 1), hashed[PG_KEY_HASHED];
    memcpy(joined, key ? key : "", k);
    memcpy(joined + k, v, n);
    const char *h = pg_key(joined, k + n, hashed);
    array_add(out, NULL, NULL, h, strlen(h));
    free(joined);
}

/* r's values as a text[] literal (heap). */
static char *values_array(const struct store_record *r)
{
    struct sbuf b = {0};
    sb_str(&b, "{");
    const char *p = r->values, *end = r->values ? r->values + r->values_len : NULL;
    while (p && p < end) {
        const char *stop = memchr(p, '\x1e', (size_t)(end - p));
        if (!stop)
            break;
        if (memchr(p, '\x1d', (size_t)(stop - p)))
            array_add_key(&b, NULL, p, (size_t)(stop - p));
        p = stop + 1;
    }
    sb_str(&b, "}");
    return b.p;
}

/* ---- records ---- */

static int pg_record_put(struct store_txn *tb, struct store_record *r)
{
    struct pg_txn *t = pg_txn_of(tb);
    struct num kind = num(r->kind), score = num(r->priority_score), created = num(r->created_at),
               updated = num(r->updated_at), due = num(r->due_date), seq = num(r->ref_seq);
    char *facets = values_array(r), assignee[PG_KEY_HASHED];
    const char *v[] = {r->id,
                       kind.s,
                       r->stream_id,
                       r->account_id,
                       r->ref_id,
                       r->case_id,
                       r->name_lower,
                       r->status_name,
                       r->status_category,
                       r->priority_name,
                       score.s,
                       pg_key(r->assignee, r->assignee ? strlen(r->assignee) : 0, assignee),
                       created.s,
                       updated.s,
                       r->has_due_date ? due.s : NULL,
                       r->doc,
                       r->source,
                       seq.s,
                       r->breached ? "true" : "false",
                       facets};
    int rc;
    PGresult *res = run(t, ST_RECORD_PUT, v, &rc);
    free(facets);
    if (!res)
        return rc;
    if (PQntuples(res) == 1) {
        r->version = get_i64(res, 0, 0);
        rc = STORE_OK;
    } else {
        rc = STORE_CONFLICT; /* the id exists under another tenant or kind */
    }
    PQclear(res);
    return rc;
}

static int pg_activity_put(struct store_txn *tb, const struct store_activity *a)
{
    struct num created = num(a->created_at);
    const char *v[] = {a->id, a->stream_id, a->account_id, a->record_id, created.s, a->doc};
    return run_done(pg_txn_of(tb), ST_ACTIVITY_PUT, v);
}

static int pg_record_update(struct store_txn *tb, struct store_record *r,
                            const struct store_record *prev)
{
    struct pg_txn *t = pg_txn_of(tb);
    struct num kind = num(r->kind), score = num(r->priority_score), updated = num(r->updated_at),
               due = num(r->due_date), expect = num(prev->version);
    char *facets = values_array(r), assignee[PG_KEY_HASHED];
    const char *v[] = {r->doc,
                       updated.s,
                       r->breached ? "true" : "false",
                       r->name_lower,
                       r->status_name,
                       r->status_category,
                       r->priority_name,
                       score.s,
                       pg_key(r->assignee, r->assignee ? strlen(r->assignee) : 0, assignee),
                       r->has_due_date ? due.s : NULL,
                       r->source,
                       facets,
                       r->id,
                       r->stream_id,
                       r->account_id,
                       kind.s,
                       expect.s};
    int rc;
    PGresult *res = run(t, ST_RECORD_UPDATE, v, &rc);
    free(facets);
    if (!res)
        return rc;
    if (PQntuples(res) == 1) {
        r->version = get_i64(res, 0, 0);
        rc = STORE_OK;
    } else {
        /* records are never deleted: with an expected version, no row means it moved on (under
         * READ COMMITTED the WHERE is checked again on the newest committed row) */
        rc = prev->version ? STORE_CONFLICT : STORE_NOT_FOUND;
    }
    PQclear(res);
    if (rc == STORE_OK && r->activity)
        rc = pg_activity_put(tb, r->activity);
    return rc;
}

static int pg_record_set_doc(struct store_txn *tb, enum store_kind kind, const char *stream_id,
                             const char *account_id, const char *id, const char *doc,
                             size_t len, int64_t *version)
{
    (void)len; /* the text is NUL-terminated; libpq sends it as such */
    struct pg_txn *t = pg_txn_of(tb);
    struct num k = num(kind);
    const char *v[] = {doc, id, k.s, stream_id, account_id};
    int rc;
    PGresult *res = run(t, ST_RECORD_SET_DOC, v, &rc);
    if (!res)
        return rc;
    if (PQntuples(res) == 1) {
        *version = get_i64(res, 0, 0);
        rc = STORE_OK;
    } else {
        rc = STORE_NOT_FOUND;
    }
    PQclear(res);
    return rc;
}

static int pg_record_get(struct store_txn *tb, enum store_kind kind, const char *stream_id,
                         const char *account_id, const char *id, struct store_record *r)
{
    struct pg_txn *t = pg_txn_of(tb);
    struct num k = num(kind);
    const char *v[] = {id, k.s, stream_id, account_id};
    int rc;
    /* in a write, the record is read to be changed: lock it until the commit, so concurrent
     * read-modify-writes of one record (through any process) apply one after the other */
    PGresult *res = run(t, t->write ? ST_RECORD_GET_LOCK : ST_RECORD_GET, v, &rc);
    if (!res)
        return rc;
    if (PQntuples(res) == 0) {
        rc = STORE_NOT_FOUND;
    } else {
        memset(r, 0, sizeof *r);
        r->kind = kind;
        r->doc_len = (size_t)PQgetlength(res, 0, 0);
        r->doc = xstrndup(PQgetvalue(res, 0, 0), r->doc_len);
        r->version = get_i64(res, 0, 1);
        rc = STORE_OK;
    }
    PQclear(res);
    return rc;
}

/* A record's head by statement st (ST_RECORD_HEAD, _SHARE or ST_RECORD_LOCK: ref_id and
 * status_category of the record, locked or not); NOT_FOUND when the tenant has no such record. */
static int head_by(struct pg_txn *t, enum stmt_id st, enum store_kind kind, const char *stream_id,
                   const char *account_id, const char *id, struct store_record_head *h)
{
    struct num k = num(kind);
    const char *v[] = {id, k.s, stream_id, account_id};
    int rc;
    PGresult *res = run(t, st, v, &rc);
    if (!res)
        return rc;
    if (PQntuples(res) == 0) {
        rc = STORE_NOT_FOUND;
    } else {
        snprintf(h->ref_id, sizeof h->ref_id, "%s", PQgetvalue(res, 0, 0));
        snprintf(h->status_category, sizeof h->status_category, "%s", PQgetvalue(res, 0, 1));
        rc = STORE_OK;
    }
    PQclear(res);
    return rc;
}

static int pg_record_head(struct store_txn *tb, enum store_kind kind, const char *stream_id,
                          const char *account_id, const char *id, struct store_record_head *h)
{
    struct pg_txn *t = pg_txn_of(tb);
    /* a write decides by these columns (is the case closed?): they must hold until it commits */
    return head_by(t, t->write ? ST_RECORD_HEAD_SHARE : ST_RECORD_HEAD, kind, stream_id,
                   account_id, id, h);
}

static int pg_record_lock(struct store_txn *tb, enum store_kind kind, const char *stream_id,
                          const char *account_id, const char *id, struct store_record_head *h)
{
    return head_by(pg_txn_of(tb), ST_RECORD_LOCK, kind, stream_id, account_id, id, h);
}

/* ---- idempotency keys, jtis, activities ---- */

static int pg_idem_get(struct store_txn *tb, const char *client_id, const char *key,
                       struct store_idem *out)
{
    struct pg_txn *t = pg_txn_of(tb);
    const char *v[] = {client_id, key};
    /* in a write, a second request with the key waits here until the first commits, then sees
     * its answer (READ COMMITTED: the next statement's snapshot includes it) */
    int rc = t->write ? run_done(t, ST_IDEM_LOCK, v) : STORE_OK;
    if (rc != STORE_OK)
        return rc;
    PGresult *res = run(t, ST_IDEM_GET, v, &rc);
    if (!res)
        return rc;
    if (PQntuples(res) == 0) {
        rc = STORE_NOT_FOUND;
    } else {
        snprintf(out->body_hash, sizeof out->body_hash, "%s", PQgetvalue(res, 0, 0));
        out->status = (int)get_i64(res, 0, 1);
        out->body_len = (size_t)PQgetlength(res, 0, 2);
        out->body = xstrndup(PQgetvalue(res, 0, 2), out->body_len);
        out->created_at = get_i64(res, 0, 3);
        rc = STORE_OK;
    }
    PQclear(res);
    return rc;
}

static int pg_idem_put(struct store_txn *tb, const char *client_id, const char *key,
                       const struct store_idem *in)
{
    struct num status = num(in->status), created = num(in->created_at);
    char *body = xstrndup(in->body, in->body_len);
    const char *v[] = {client_id, key, in->body_hash, status.s, body, created.s};
    struct pg_txn *t = pg_txn_of(tb);
    int rc = run_done(t, ST_IDEM_PUT, v);
    free(body);
    /* expired keys go now and then, after the insert, as jtis do (pg_jti_use) */
    struct pg_store *s = txn_store(t);
    int64_t last = atomic_load(&s->idem_purged_at_ms);
    if (rc == STORE_OK && in->created_at - last > STORE_IDEM_PURGE_EVERY_MS &&
        atomic_compare_exchange_strong(&s->idem_purged_at_ms, &last, in->created_at)) {
        struct num cutoff = num(in->created_at - STORE_IDEM_TTL_MS);
        const char *pv[] = {cutoff.s};
        rc = run_done(t, ST_IDEM_PURGE, pv);
    }
    return rc;
}

static int pg_jti_use(struct store_txn *tb, const char *client_id, const char *jti, int64_t exp)
{
    struct pg_txn *t = pg_txn_of(tb);
    int64_t now = time_now_ms();
    struct num e = num(exp), cutoff = num(now / 1000 - 120);
    char hashed[PG_KEY_HASHED];
    const char *v[] = {client_id, pg_key(jti, strlen(jti), hashed), e.s, cutoff.s};
    int rc;
    PGresult *res = run(t, ST_JTI_USE, v, &rc);
    if (!res)
        return rc;
    rc = PQntuples(res) == 1 ? STORE_OK : STORE_CONFLICT;
    PQclear(res);
    /* expired entries go now and then, after the insert (so this never waits on a purge) */
    struct pg_store *s = txn_store(t);
    int64_t last = atomic_load(&s->jti_purged_at_ms);
    if (rc == STORE_OK && now - last > JTI_PURGE_EVERY_MS &&
        atomic_compare_exchange_strong(&s->jti_purged_at_ms, &last, now)) {
        const char *pv[] = {cutoff.s};
        rc = run_done(t, ST_JTI_PURGE, pv);
    }
    return rc;
}

struct activity_rows {
    void (*fn)(const char *json, void *arg);
    void *arg;
};

static void activity_row(const PGresult *res, int row, void *arg)
{
    struct activity_rows *rows = arg;
    rows->fn(PQgetvalue(res, row, 0), rows->arg);
}

static int pg_activity_list(struct store_txn *tb, const char *stream_id, const char *account_id,
                            const char *record_id, int64_t skip, int64_t limit,
                            void (*fn)(const char *json, void *arg), void *arg, int64_t *total)
{
    struct pg_txn *t = pg_txn_of(tb);
    struct num s = num(skip), l = num(limit);
    const char *v[] = {record_id, stream_id, account_id, s.s, l.s};
    int rc;
    PGresult *res = run(t, ST_ACTIVITY_COUNT, v, &rc);
    if (!res)
        return rc;
    *total = get_i64(res, 0, 0);
    PQclear(res);
    struct activity_rows rows = {fn, arg};
    char name[16];
    snprintf(name, sizeof name, "s%d", (int)ST_ACTIVITY_LIST);
    return run_rows(t, name, stmts[ST_ACTIVITY_LIST].nparams, v, activity_row, &rows);
}

/* ---- list queries (API.md §8) ----
 * The SQL is assembled from the fixed fragments below; every value from the request is a bound
 * parameter, never text of the statement. $1 is "now" (isBreached); the WHERE clause's
 * parameters follow, so the count and the page statements share them. A list of values is one
 * text[] parameter (= ANY, &&), so the statement's text depends only on which filters are
 * given, and a few shapes cover every query (prepared once per connection, cached by text). */

#define QUERY_PARAMS_MAX 256

struct qbuild {
    struct sbuf sql;
    char *values[QUERY_PARAMS_MAX]; /* heap, text form */
    char types[QUERY_PARAMS_MAX + 1];
    int n; /* parameters so far, $1 (now) included */
    bool overflow;
};

static void qb_sql(struct qbuild *b, const char *frag)
{
    sb_str(&b->sql, frag);
}

/* Appends $n for a new parameter of type ('t', 'i', 'a') taking value (heap). */
static void qb_param(struct qbuild *b, char type, char *value)
{
    if (b->n >= QUERY_PARAMS_MAX) {
        b->overflow = true;
        free(value);
        return;
    }
    char ref[16];
    snprintf(ref, sizeof ref, "$%d", b->n + 1);
    qb_sql(b, ref);
    b->values[b->n] = value;
    b->types[b->n++] = type;
    b->types[b->n] = '\0';
}

static void qb_text(struct qbuild *b, const char *v)
{
    qb_param(b, 't', xstrdup(v));
}

static void qb_int(struct qbuild *b, int64_t v)
{
    qb_param(b, 'i', xstrdup(num(v).s));
}

/* A list of values as one text[] parameter, each prefixed by key (a values key and \x1d), as
 * indexed (pg_key) when key is not NULL. */
static void qb_strings(struct qbuild *b, const struct store_strings *l, const char *key)
{
    struct sbuf a = {0};
    sb_str(&a, "{");
    for (size_t i = 0; i < l->n; i++) {
        if (key)
            array_add_key(&a, key, l->v[i], strlen(l->v[i]));
        else
            array_add(&a, NULL, NULL, l->v[i], strlen(l->v[i]));
    }
    sb_str(&a, "}");
    qb_param(b, 'a', a.p);
}

/* A LIKE pattern matching text that contains s (escaping LIKE's own characters). */
static void qb_contains(struct qbuild *b, const char *s)
{
    struct sbuf p = {0};
    sb_str(&p, "%");
    for (; *s; s++) {
        if (*s == '%' || *s == '_' || *s == '\\')
            sb_add(&p, "\\", 1);
        sb_add(&p, s, 1);
    }
    sb_str(&p, "%");
    qb_param(b, 't', p.p);
}

/* One custom-field condition: its values as values elements, in the stored text form. */
static void qb_field(struct qbuild *b, const struct store_field_filter *ff)
{
    struct sbuf key = {0}, a = {0};
    sb_str(&key, ff->by_name ? "n\x1f" : "f\x1f");
    sb_str(&key, ff->field);
    sb_str(&key, "\x1d");
    sb_str(&a, "{");
    for (size_t i = 0; i < ff->n; i++) {
        char buf[SCALAR_BUF];
        const char *v = scalar_text(ff->values[i], buf);
        if (!v)
            v = "";
        array_add_key(&a, key.p, v, strlen(v));
    }
    sb_str(&a, "}");
    free(key.p);
    qb_param(b, 'a', a.p);
}

static void qb_where(struct qbuild *b, const struct store_query *q)
{
    qb_sql(b, " WHERE r.stream_id = ");
    qb_text(b, q->stream_id);
    qb_sql(b, " AND r.account_id = ");
    qb_text(b, q->account_id);
    qb_sql(b, " AND r.kind = ");
    qb_int(b, q->kind);
    if (q->search) {
        /* API.md §8: a substring of the name, or exactly the refId. A text too long for a refId
         * is not compared with one: cut to the buffer, it could end inside a UTF-8 sequence,
         * which PostgreSQL refuses as a parameter (503 for a search of 62 'a' and an 'é'). */
        char upper[64];
        size_t n = strlen(q->search);
        qb_sql(b, " AND (r.name_lower LIKE ");
        qb_contains(b, q->search);
        if (n < sizeof upper) {
            for (size_t i = 0; i <= n; i++)
                upper[i] = (char)toupper((unsigned char)q->search[i]);
            qb_sql(b, " OR r.ref_id = ");
            qb_text(b, upper);
        }
        qb_sql(b, ")");
    }
    if (q->name) {
        qb_sql(b, " AND r.name_lower LIKE ");
        qb_contains(b, q->name);
    }
    if (q->unresolved)
        qb_sql(b, " AND r.status_category IN ('open', 'inProgress')");
    if (q->unassigned)
        qb_sql(b, " AND r.assignee IS NULL");
    if (q->assignee) {
        char hashed[PG_KEY_HASHED];
        qb_sql(b, " AND r.assignee = ");
        qb_text(b, pg_key(q->assignee, strlen(q->assignee), hashed));
    }
    if (q->priorities.n) {
        qb_sql(b, " AND r.priority_name = ANY (");
        qb_strings(b, &q->priorities, NULL);
        qb_sql(b, ")");
    }
    if (q->statuses.n) {
        qb_sql(b, " AND r.status_name = ANY (");
        qb_strings(b, &q->statuses, NULL);
        qb_sql(b, ")");
    }
    if (q->channels.n) {
        /* the vendor's sample filters channel ["rtm"], a source */
        qb_sql(b, " AND (r.source = ANY (");
        qb_strings(b, &q->channels, NULL);
        qb_sql(b, ") OR r.facets && ");
        qb_strings(b, &q->channels, "ch\x1d");
        qb_sql(b, ")");
    }
    if (q->queues.n) {
        qb_sql(b, " AND r.facets && ");
        qb_strings(b, &q->queues, "qu\x1d");
    }
    if (q->agents.n) {
        qb_sql(b, " AND r.assignee = ANY (");
        qb_strings(b, &q->agents, ""); /* as indexed, like the column */
        qb_sql(b, ")");
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
        qb_sql(b, " AND (false");
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
        qb_sql(b, " AND r.facets && ");
        qb_field(b, &q->fields[f]);
    }
}

static const char *order_by(const struct store_query *q)
{
    /* NULL dueDates last in both directions, as in the SQLite backend */
    static const char *const asc[] = {
        [STORE_SORT_CREATED] = " ORDER BY r.created_at ASC, r.id ASC",
        [STORE_SORT_UPDATED] = " ORDER BY r.updated_at ASC, r.id ASC",
        [STORE_SORT_DUE] = " ORDER BY r.due_date ASC NULLS LAST, r.ref_seq ASC, r.id ASC",
        [STORE_SORT_PRIORITY] = " ORDER BY r.priority_score ASC, r.ref_seq ASC, r.id ASC",
        [STORE_SORT_NAME] = " ORDER BY r.name_lower ASC, r.ref_seq ASC, r.id ASC",
        [STORE_SORT_REF] = " ORDER BY r.ref_seq ASC, r.id ASC",
    };
    static const char *const desc[] = {
        [STORE_SORT_CREATED] = " ORDER BY r.created_at DESC, r.id DESC",
        [STORE_SORT_UPDATED] = " ORDER BY r.updated_at DESC, r.id DESC",
        [STORE_SORT_DUE] = " ORDER BY r.due_date DESC NULLS LAST, r.ref_seq DESC, r.id DESC",
        [STORE_SORT_PRIORITY] = " ORDER BY r.priority_score DESC, r.ref_seq DESC, r.id DESC",
        [STORE_SORT_NAME] = " ORDER BY r.name_lower DESC, r.ref_seq DESC, r.id DESC",
        [STORE_SORT_REF] = " ORDER BY r.ref_seq DESC, r.id DESC",
    };
    return q->descending ? desc[q->sort] : asc[q->sort];
}

static void qb_order(struct qbuild *b, const struct store_query *q)
{
    qb_sql(b, order_by(q));
}

static void qb_free(struct qbuild *b)
{
    for (int i = 0; i < b->n; i++)
        free(b->values[i]);
    free(b->sql.p);
}

/* The name of a prepared statement for sql on this connection (prepared now when new), or NULL
 * after a failure (recorded in t). */
static const char *query_stmt(struct pg_txn *t, const char *sql, const char *types)
{
    struct pg_conn *c = t->conn;
    for (int i = 0; i < QUERY_CACHE; i++)
        if (c->queries[i].sql && strcmp(c->queries[i].sql, sql) == 0)
            return c->queries[i].name;
    unsigned slot = c->next_query++ % QUERY_CACHE;
    if (c->queries[slot].sql) {
        char dealloc[32];
        snprintf(dealloc, sizeof dealloc, "DEALLOCATE %s", c->queries[slot].name);
        PQclear(PQexec(c->db, dealloc));
        free(c->queries[slot].sql);
        c->queries[slot].sql = NULL;
    }
    Oid oids[QUERY_PARAMS_MAX];
    type_oids(types, oids);
    char name[16];
    snprintf(name, sizeof name, "q%u", c->query_seq++);
    PGresult *res = PQprepare(c->db, name, sql, (int)strlen(types), oids);
    int rc = check(t, res, "prepare list query");
    PQclear(res);
    if (rc != STORE_OK)
        return NULL;
    c->queries[slot].sql = xstrdup(sql);
    memcpy(c->queries[slot].name, name, sizeof name);
    return c->queries[slot].name;
}

/* Runs sql (a list query) with b's parameters. */
static PGresult *query_run(struct pg_txn *t, const char *sql, const struct qbuild *b, int *rc)
{
    *rc = STORE_ERROR;
    if (t->failed || !t->conn->db)
        return NULL;
    const char *name = query_stmt(t, sql, b->types);
    if (!name)
        return NULL;
    PGresult *res =
        PQexecPrepared(t->conn->db, name, b->n, (const char *const *)b->values, NULL, NULL, 0);
    *rc = check(t, res, "list query");
    if (*rc == STORE_OK)
        return res;
    PQclear(res);
    return NULL;
}

static bool only_tenant(const struct store_query *q)
{
    return !q->search && !q->name && !q->unresolved && !q->unassigned && !q->assignee &&
           !q->priorities.n && !q->statuses.n && !q->channels.n && !q->queues.n && !q->agents.n &&
           !q->has_created_from && !q->has_created_to && !q->has_due && !q->eta_filter &&
           !q->case_id && !q->nfields;
}

static int query_total(struct pg_txn *t, const struct store_query *q, const struct qbuild *where,
                       int64_t *total)
{
    /* the tenant's whole count is kept by a trigger: counting a million rows would be slow */
    bool fast = only_tenant(q);
    struct sbuf sql = {0};
    sb_str(&sql, fast ? "SELECT coalesce((SELECT n FROM record_counts r"
                      : "SELECT count(*) FROM records r");
    sb_str(&sql, where->sql.p);
    if (fast)
        sb_str(&sql, "), 0)");
    int rc;
    PGresult *res = query_run(t, sql.p, where, &rc);
    free(sql.p);
    if (!res)
        return rc;
    *total = get_i64(res, 0, 0);
    PQclear(res);
    return STORE_OK;
}

#define PAGE_BY_ID 500   /* rows skipped from which pg_query chooses the page on ids first */
#define CREATED_SHIFT 24 /* the buckets of record_created_buckets (migration 3) */
#define CREATED_WIDTH (INT64_C(1) << CREATED_SHIFT)
#define CREATED_SKIP_MIN 1000 /* below, stepping over the skipped entries costs little */
#define CREATED_WALK_RATIO 8  /* buckets read at most per row skipped: see the SQLite backend */

static bool created_pays(const struct store_query *q)
{
    return only_tenant(q) && q->sort == STORE_SORT_CREATED && q->skip >= CREATED_SKIP_MIN;
}

/* For a page of q in creation order (created_pays): counts the tenant's rows before it bucket by
 * bucket from the sort's start, then adds to b a bound on created_at at the start of the bucket
 * the page falls in (or of the first bucket left uncounted, when the walk stops early), and sets
 * *offset to the rest of the skip. The page is the same: the rows the bound leaves out are
 * exactly those of the buckets counted. Without a bucket to start from, b and *offset stay. */
static int created_start(struct pg_txn *t, const struct store_query *q, struct qbuild *b,
                         int64_t *offset)
{
    struct num kind = num(q->kind), skip = num(q->skip), walk = num(q->skip / CREATED_WALK_RATIO);
    const char *v[] = {q->stream_id, q->account_id, kind.s, skip.s, walk.s};
    int rc;
    PGresult *res = run(t, q->descending ? ST_CREATED_DESC : ST_CREATED_ASC, v, &rc);
    if (!res)
        return rc;
    if (PQntuples(res) == 1) {
        int64_t first = get_i64(res, 0, 0) * CREATED_WIDTH; /* |bucket| <= 2^39: in range */
        if (q->descending) {
            qb_sql(b, " AND r.created_at <= ");
            qb_int(b, first + (CREATED_WIDTH - 1));
        } else {
            qb_sql(b, " AND r.created_at >= ");
            qb_int(b, first);
        }
        *offset = q->skip - get_i64(res, 0, 1);
    }
    PQclear(res);
    return STORE_OK;
}

/* Emits a listed document (store_emit_listed). */
struct listed_rows {
    void (*fn)(const char *doc, size_t len, void *arg);
    void *arg;
};

static void listed_row(const PGresult *res, int row, void *arg)
{
    struct listed_rows *rows = arg;
    const char *doc = PQgetvalue(res, row, 0);
    size_t len = (size_t)PQgetlength(res, row, 0);
    bool stored = PQgetvalue(res, row, 1)[0] == 't', now = PQgetvalue(res, row, 2)[0] == 't';
    store_emit_listed(doc, len, stored, now, rows->fn, rows->arg);
}

static int pg_query(struct store_txn *tb, const struct store_query *q,
                    void (*fn)(const char *doc, size_t len, void *arg), void *arg, int64_t *total)
{
    struct pg_txn *t = pg_txn_of(tb);
    struct qbuild b = {0};
    b.values[b.n] = xstrdup(num(q->now_ms).s); /* $1, used by the page statement only */
    b.types[b.n++] = 'i';
    qb_where(&b, q);
    int rc = STORE_ERROR;
    if (b.overflow) {
        log_error("postgres: query too large");
        goto out;
    }
    rc = query_total(t, q, &b, total);
    if (rc != STORE_OK || *total <= q->skip)
        goto out;
    int64_t offset = q->skip;
    if (created_pays(q) && (rc = created_start(t, q, &b, &offset)) != STORE_OK)
        goto out;
    qb_order(&b, q);
    qb_sql(&b, " LIMIT ");
    qb_int(&b, q->limit);
    qb_sql(&b, " OFFSET ");
    qb_int(&b, offset);
    /* Past PAGE_BY_ID rows skipped, the page is chosen on ids alone, so that an index holding
     * the sort order and the ids answers the inner query (an index-only scan once the table is
     * vacuumed): the skip then passes over index entries, where fetching each skipped row read
     * its document too. Only the page's rows are read, and put in order again. Nearer the top
     * the direct query costs less (a quarter fewer first pages a second). */
    struct sbuf sql = {0};
    sb_str(&sql, "SELECT r.doc, r.breached, coalesce(r.status_category IN ('open', 'inProgress')"
                 " AND r.due_date < $1, false) FROM ");
    if (offset >= PAGE_BY_ID) {
        sb_str(&sql, "(SELECT r.id FROM records r");
        sb_str(&sql, b.sql.p);
        sb_str(&sql, ") p JOIN records r ON r.id = p.id");
        sb_str(&sql, order_by(q));
    } else {
        sb_str(&sql, "records r");
        sb_str(&sql, b.sql.p);
    }
    /* a row at a time: a page of large documents is not all in memory at once */
    const char *name = t->failed || !t->conn->db ? NULL : query_stmt(t, sql.p, b.types);
    free(sql.p);
    if (!name) {
        rc = STORE_ERROR;
        goto out;
    }
    struct listed_rows rows = {fn, arg};
    rc = run_rows(t, name, b.n, (const char *const *)b.values, listed_row, &rows);
out:
    qb_free(&b);
    return rc;
}

static const struct store_ops pg_ops = {
    .name = "postgres",
    .close = pg_close,
    .ready = pg_ready,
    .release_idle = pg_release_idle,
    .path = pg_path,
    .write = pg_write,
    .read = pg_read,
    .app_put = pg_app_put,
    .app_get = pg_app_get,
    .app_each = pg_app_each,
    .stream_put = pg_stream_put,
    .stream_get = pg_stream_get,
    .catalog_version = pg_catalog_version,
    .next_ref = pg_next_ref,
    .record_put = pg_record_put,
    .record_update = pg_record_update,
    .record_set_doc = pg_record_set_doc,
    .record_get = pg_record_get,
    .record_head = pg_record_head,
    .record_lock = pg_record_lock,
    .query = pg_query,
    .idem_get = pg_idem_get,
    .idem_put = pg_idem_put,
    .activity_list = pg_activity_list,
    .jti_use = pg_jti_use,
};
