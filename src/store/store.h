/* store — durable storage behind one interface (DESIGN.md §4): SQLite or PostgreSQL.
 *
 * Every operation runs inside a transaction that store_read/store_write opens and hands to a
 * callback: reads on the calling thread's own connection, writes possibly on another thread (the
 * backend may group writes into one commit), so a write callback must touch only its arg.
 * store_write returns only after the commit is durable (or failed), so a handler that answers
 * after it never acknowledges a lost write; an answer from reads alone waits in store_settle.
 * Every record lookup is keyed by stream and account as well as id (tenant isolation). */
#ifndef CASEMGR_STORE_STORE_H
#define CASEMGR_STORE_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

/* Results of every store call: "absent" is never confused with "failed". */
enum store_status {
    STORE_OK = 0,
    STORE_NOT_FOUND = 1,
    STORE_CONFLICT = 2, /* a unique key exists already (replayed jti, idempotency key, id) */
    STORE_ERROR = 3,    /* the database failed; the transaction is rolled back */
    STORE_ABORT = 4,    /* the callback chose to roll back; not a database failure */
    STORE_LATE = 5,     /* a query ran past its deadline and was stopped (store_query) */
};

enum store_kind { STORE_CASE = 0, STORE_TASK = 1 };

enum store_durability { STORE_DURABILITY_FULL, STORE_DURABILITY_NORMAL };

struct store_options {
    enum store_durability durability;
    int busy_timeout_ms;
    /* SQLite: how many matches of a name search are kept in memory between queries, in
     * createdAt order (matchcache.h); 0 is the default, 200,000 */
    long match_list_max;
    /* an older schema is refused instead of migrated: commands that only read (or change what
     * is there) must not upgrade a database an older server is still using */
    bool keep_schema;
    /* PostgreSQL: how many connections this process may open (serve: workers + 2: the workers,
     * the main thread, one to spare; the I/O threads open none), to warn at start when the
     * server has fewer free; 0: do not check */
    unsigned connections;
    /* SQLite: WAL pages written past what the last checkpoint copied that start the next one;
     * 0 is the default, 8,000 (store_sqlite.c, CHECKPOINT_FRAMES) */
    unsigned checkpoint_pages;
};

struct store;     /* one database, shared by all threads */
struct store_txn; /* an open transaction on one thread's connection */

struct store_activity;

/* A stored case or task: the document plus the columns queries filter and sort on.
 * Strings are borrowed by store_record_put; store_record_get fills doc with a heap copy. */
struct store_record {
    enum store_kind kind;
    const char *id;
    const char *stream_id;
    const char *account_id;
    const char *ref_id;
    const char *case_id; /* tasks: their case; NULL for cases */
    const char *name_lower;
    const char *status_name;
    const char *status_category;
    const char *priority_name;
    int priority_score;
    const char *assignee; /* currAssignee._id or .agentId, NULL when unassigned */
    const char *source;
    int64_t ref_seq; /* the number in refId, for sorting past 999999 */
    bool breached;   /* isBreached as written */
    /* The multi-valued members list queries filter on, as entries key '\x1d' value '\x1e':
     * channel values (key "ch"), queue ids and names ("qu"), custom field values by field _id
     * ("f\x1f<_id>") and by metaData.name ("n\x1f<name>"), values in scalar_text form. */
    const char *values;
    size_t values_len;
    int64_t created_at;   /* ms */
    int64_t updated_at;   /* ms */
    bool has_due_date;
    int64_t due_date; /* ms */
    int64_t version;  /* bumped by every put; the ETag */
    char *strings;    /* NULL, or the owned copies the strings above point into */
    char *doc;        /* JSON text */
    size_t doc_len;
    /* store_record_update only: the activity recording this change (API.md §7), written in the
     * same call, or NULL */
    const struct store_activity *activity;
};

/* A stored response to an Idempotency-Key; body owned (free()) when returned by get. */
struct store_idem {
    char body_hash[65];
    int status;
    char *body;
    size_t body_len;
    int64_t created_at;
};

typedef int (*store_txn_fn)(struct store_txn *txn, void *arg);

/* Opens (creating and migrating) the database named by url ("sqlite:PATH", a bare path, or a
 * PostgreSQL URI "postgres://..." / "postgresql://...").
 * Returns NULL and sets *err (heap string, caller frees) on failure. */
struct store *store_open(const char *url, const struct store_options *opt, char **err);
/* Closes every thread's connection; no transaction may be running. */
void store_close(struct store *s);
/* True when the database answers a trivial query now. */
bool store_ready(struct store *s);
/* Called by a thread that has been idle a while: PostgreSQL closes its connection (the next use
 * opens one), so the server's connection slots go to the threads that work. */
void store_release_idle(struct store *s);
/* Whether reads are local file reads and store_write_then only queues the write (SQLite; not
 * PostgreSQL, whose every call is a round trip): then a handler that reads a little and queues
 * its write can run on an HTTP I/O thread without holding up its other connections. */
bool store_io_safe(const struct store *s);
/* Filesystem path of a SQLite database, NULL for other backends (borrowed). */
const char *store_path(const struct store *s);

/* Runs fn in a read-write transaction on this thread's connection; commits when fn returns
 * STORE_OK and the commit is durable, else rolls back. Returns fn's status, or STORE_ERROR when
 * the database failed (begin, commit) whatever fn returned: fn may share its transaction with
 * other writes (group commit) and have decided on what they wrote, so when that transaction
 * does not commit, neither fn's writes nor its decisions (an abort, a conflict) stand. */
int store_write(struct store *s, store_txn_fn fn, void *arg);
/* store_write without waiting: then(rc, arg) gets what store_write would have returned, once
 * the commit is durable or failed, on another thread (or on this one before store_write_then
 * returns). The caller's thread is free meanwhile; arg and what fn touches must outlive then. */
void store_write_then(struct store *s, store_txn_fn fn, void *arg,
                      void (*then)(int rc, void *arg));
/* Runs fn in a read-only snapshot; returns fn's status or STORE_ERROR. */
int store_read(struct store *s, store_txn_fn fn, void *arg);
/* store_read whose snapshot stays open on this thread when fn returns STORE_OK, for the thread's
 * next store_read to run in (which then ends it): two reads that follow each other, a request's
 * authentication and then its handler's, take one snapshot instead of two. store_read_end ends
 * it when no read came; a store_write or store_write_then on this thread ends it first, so that
 * the reads after a write see it. A backend without it (PostgreSQL) reads as store_read. */
int store_read_keep(struct store *s, store_txn_fn fn, void *arg);
/* Ends this thread's snapshot kept by store_read_keep, if any (cheap when there is none). */
void store_read_end(struct store *s);
/* Before an answer built from this thread's reads: waits until every commit they may have seen
 * is durable (a backend may show a commit to readers before its sync ends). STORE_OK, or
 * STORE_ERROR when such a commit's sync failed. Forgets those reads either way. */
int store_settle(struct store *s);
/* store_settle in two steps, for an answer sent from another thread than the one that read:
 * the ticket, taken on the thread that read, names the newest commit its reads may have seen
 * that was not durable yet (0: none; the thread's reads are forgotten); store_settle_wait, on
 * any thread, waits until that commit is durable (STORE_OK at once for 0). */
uint64_t store_settle_ticket(struct store *s);
int store_settle_wait(struct store *s, uint64_t ticket);

/* Apps: the app document (JSON text, see auth/apps.h). get returns a heap copy in *json. */
int store_app_put(struct store_txn *t, const char *client_id, const char *account_id,
                  const char *json);
int store_app_get(struct store_txn *t, const char *client_id, char **json);
/* Calls fn for every app document, oldest first. */
int store_app_each(struct store_txn *t, void (*fn)(const char *json, void *arg), void *arg);

/* Stream configuration document (statuses, priorities, templates) as JSON text. */
int store_stream_put(struct store_txn *t, const char *stream_id, const char *json);
int store_stream_get(struct store_txn *t, const char *stream_id, char **json);
/* The catalog's version: a value that changes, in every process's snapshot, whenever an app or
 * a stream's configuration is written, by any process, and that a snapshot with the same value
 * holds the same apps and configurations in. What was read from them in such a snapshot can be
 * used again while it is unchanged, without reading them. STORE_OK; STORE_NOT_FOUND when the
 * backend keeps none (read the documents); STORE_ERROR. */
int store_catalog_version(struct store_txn *t, int64_t *v);

/* Next value of a per-stream counter (kind is "CS" or "TS"); starts at 1, never reused. */
int store_next_ref(struct store_txn *t, const char *stream_id, const char *kind, int64_t *out);

/* Inserts or replaces a record (matched by id), its values included; sets r->version to the
 * stored version. */
int store_record_put(struct store_txn *t, struct store_record *r);
/* Updates an existing record of the same tenant and kind, writing only the indexed columns that
 * differ from prev (the same record's columns before the change): an index whose columns did not
 * change is not rewritten (nor the values, when they are the same). When prev->version is not
 * 0 the record must still be at that version (compare-and-set): CONFLICT otherwise. Sets
 * r->version. NOT_FOUND when no such record exists. r->activity, when set, is appended to the
 * record's activities with it. */
int store_record_update(struct store_txn *t, struct store_record *r,
                        const struct store_record *prev);
/* Replaces the document of an existing record of that tenant and kind, for a change that moves
 * none of its indexed columns or values (a case's taskIds): the row keeps its columns, the
 * version is bumped and returned in *version. NOT_FOUND when no such record exists. */
int store_record_set_doc(struct store_txn *t, enum store_kind kind, const char *stream_id,
                         const char *account_id, const char *id, const char *doc, size_t len,
                         int64_t *version);
/* A task joins the taskIds of a case (API.md §6): the id is appended to the case's document
 * as every reader sees it, and the case's version raised (*version). NOT_FOUND when the tenant
 * has no such case. */
int store_case_add_task(struct store_txn *t, const char *stream_id, const char *account_id,
                        const char *case_id, const char *task_id, int64_t *version);
/* Loads a record by kind + stream + account + id; a record of another tenant is NOT_FOUND.
 * On OK, r->doc is a heap string the caller frees; the other strings are NULL. */
int store_record_get(struct store_txn *t, enum store_kind kind, const char *stream_id,
                     const char *account_id, const char *id, struct store_record *r);

/* The few columns of a record that rules about other records need, without its document. */
struct store_record_head {
    char ref_id[32];
    char status_category[32];
};
/* Loads a record's head by kind + stream + account + id; NOT_FOUND like store_record_get. */
int store_record_head(struct store_txn *t, enum store_kind kind, const char *stream_id,
                      const char *account_id, const char *id, struct store_record_head *h);
/* In a write transaction: holds the record until the commit, for writes that take it and the
 * stream's reference counter (a createTask: the counter, then its case's taskIds), and reads its
 * head into *h. Taking the case first, always, keeps concurrent creates into one case from
 * waiting on each other in opposite orders (PostgreSQL: a row lock FOR UPDATE, which reads the
 * head in the same round trip; a backend with one writer only reads it). NOT_FOUND like
 * store_record_get. */
int store_record_lock(struct store_txn *t, enum store_kind kind, const char *stream_id,
                      const char *account_id, const char *id, struct store_record_head *h);

/* A list query (API.md §8) as the API decoded it: every filter is optional, filters combine with
 * AND, the values of one filter with OR. Strings are borrowed. */
enum store_sort {
    STORE_SORT_CREATED,
    STORE_SORT_UPDATED,
    STORE_SORT_DUE,
    STORE_SORT_PRIORITY,
    STORE_SORT_NAME,
    STORE_SORT_REF
};

#define STORE_LIST_MAX 100     /* values in one list filter */
#define STORE_FIELD_VALUES_MAX 500 /* values across all customFields conditions */

struct store_strings {
    const char *v[STORE_LIST_MAX];
    size_t n;
};

/* One custom-field condition: the field (by _id or by metaData.name) holds one of values. */
struct store_field_filter {
    bool by_name;
    const char *field;
    /* scalars: string, number, boolean; a datetime field's value also as the instant it names,
     * a real number's also as it was stored before (scalar_legacy_text; api/query.c): at most
     * one more each, so twice the list */
    const json_t *values[2 * STORE_LIST_MAX];
    size_t n;
};

/* A range of due dates [from, to) in ms; the ETA buckets are a list of these. */
struct store_range {
    int64_t from, to;
};

struct store_query {
    enum store_kind kind;
    const char *stream_id;
    const char *account_id;
    const char *search;   /* lower-case substring of the name, or an exact refId; NULL = none */
    const char *name;     /* lower-case substring of the name; NULL = none */
    bool unresolved;      /* statusCategory open or inProgress */
    bool unassigned;      /* no currAssignee */
    const char *assignee; /* mycase/mytask: assigned to this user; NULL = no filter */
    struct store_strings priorities, statuses; /* the stream's own names */
    struct store_strings channels, queues, agents;
    bool has_created_from, has_created_to;
    int64_t created_from, created_to; /* inclusive, ms */
    bool has_due;
    struct store_range due; /* dueDate: that UTC day */
    struct store_range eta[6];
    size_t neta;
    bool eta_none;    /* ETAlist "none": no dueDate */
    bool eta_filter;  /* ETAlist given and not empty */
    const char *case_id;
    struct store_field_filter fields[STORE_LIST_MAX];
    size_t nfields;
    enum store_sort sort;
    bool descending;
    int64_t skip, limit;
    int64_t now_ms; /* for isBreached */
    /* time_mono_us past which the query stops with STORE_LATE, having called fn for some
     * results or none (the caller drops them); 0: none. SQLite checks it every few thousand
     * steps of its own; PostgreSQL ignores it. */
    int64_t deadline_us;
};

/* Runs q: calls fn with each result's document text (isBreached as of now_ms), in order, and
 * sets *total to the number of records matching the filters (ignoring skip and limit). */
int store_query(struct store_txn *t, const struct store_query *q,
                void (*fn)(const char *doc, size_t len, void *arg), void *arg, int64_t *total);

/* How long a key holds its answer (API.md §6: 24 h). */
#define STORE_IDEM_TTL_MS (24LL * 3600 * 1000)
/* Idempotency keys, per app. get: NOT_FOUND or OK with *out filled (out->body heap). put also
 * deletes, once a STORE_IDEM_PURGE_EVERY_MS of in->created_at (per writer), up to 1,000 keys
 * older than STORE_IDEM_TTL_MS: each held a copy of its answer, and none went. So up to 1,000
 * keyed creates a second a writer are kept up with, a few milliseconds a second at most. */
#define STORE_IDEM_PURGE_EVERY_MS 1000
int store_idem_get(struct store_txn *t, const char *client_id, const char *key,
                   struct store_idem *out);
int store_idem_put(struct store_txn *t, const char *client_id, const char *key,
                   const struct store_idem *in);

/* An activity (API.md §7): one successful change of a record, newest first when listed. */
struct store_activity {
    const char *id;
    const char *stream_id;
    const char *account_id;
    const char *record_id;
    int64_t created_at; /* ms */
    const char *doc;    /* JSON text */
};

/* Lists a record's activities newest first: calls fn for each of rows skip..skip+limit-1 with
 * the JSON text, and sets *total to the record's activity count. */
int store_activity_list(struct store_txn *t, const char *stream_id, const char *account_id,
                        const char *record_id, int64_t skip, int64_t limit,
                        void (*fn)(const char *json, void *arg), void *arg, int64_t *total);

/* Records a token id as used until exp (seconds); CONFLICT when it was used already. */
int store_jti_use(struct store_txn *t, const char *client_id, const char *jti, int64_t exp);

/* Bulk loading, for the benchmark's seeder (bench/seed.c) filling a new database: between
 * store_bulk_begin and store_bulk_end the record tables carry no secondary index and no trigger,
 * so each store_record_put only appends; store_bulk_end rebuilds them from their saved
 * definitions, with the name index and the per-tenant counts.
 * Nothing but store_record_put and store_next_ref may run in between, and no other process may
 * use the database; a database whose load was interrupted refuses to open. On SQLite the writer
 * holds the database alone in between, without the WAL and without syncing (writes are not
 * durable until store_bulk_end returns, which syncs them and leaves the database in WAL mode as
 * store_open makes it). Backends without a bulk mode (PostgreSQL) do nothing and return
 * STORE_OK. */
int store_bulk_begin(struct store *s);
int store_bulk_end(struct store *s);

#endif
