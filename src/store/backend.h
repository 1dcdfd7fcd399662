/* backend — what a storage backend implements; only store.c and the backends include this. */
#ifndef CASEMGR_STORE_BACKEND_H
#define CASEMGR_STORE_BACKEND_H

#include "store/store.h"

struct store_ops {
    const char *name;
    /* reads are the process's own file reads and write_then only queues the write: a handler
     * that reads a little and queues its write may run on an I/O thread (store_io_safe) */
    bool io_safe;
    void (*close)(struct store *s);
    bool (*ready)(struct store *s);
    const char *(*path)(const struct store *s);
    int (*write)(struct store *s, store_txn_fn fn, void *arg);
    /* NULL: store_write_then runs write and calls then itself */
    void (*write_then)(struct store *s, store_txn_fn fn, void *arg,
                       void (*then)(int rc, void *arg));
    int (*read)(struct store *s, store_txn_fn fn, void *arg);
    /* optional (NULL: read, and nothing to end): store_read_keep, store_read_end */
    int (*read_keep)(struct store *s, store_txn_fn fn, void *arg);
    void (*read_end)(struct store *s);
    int (*app_put)(struct store_txn *t, const char *client_id, const char *account_id,
                   const char *json);
    int (*app_get)(struct store_txn *t, const char *client_id, char **json);
    int (*app_each)(struct store_txn *t, void (*fn)(const char *json, void *arg), void *arg);
    int (*stream_put)(struct store_txn *t, const char *stream_id, const char *json);
    int (*stream_get)(struct store_txn *t, const char *stream_id, char **json);
    int (*catalog_version)(struct store_txn *t, int64_t *v); /* optional: store_catalog_version */
    int (*next_ref)(struct store_txn *t, const char *stream_id, const char *kind, int64_t *out);
    int (*record_put)(struct store_txn *t, struct store_record *r);
    int (*record_update)(struct store_txn *t, struct store_record *r,
                         const struct store_record *prev);
    int (*case_add_task)(struct store_txn *t, const char *stream_id, const char *account_id,
                         const char *case_id, const char *task_id, int64_t *version);
    int (*record_set_doc)(struct store_txn *t, enum store_kind kind, const char *stream_id,
                          const char *account_id, const char *id, const char *doc, size_t len,
                          int64_t *version);
    int (*record_get)(struct store_txn *t, enum store_kind kind, const char *stream_id,
                      const char *account_id, const char *id, struct store_record *r);
    int (*record_head)(struct store_txn *t, enum store_kind kind, const char *stream_id,
                       const char *account_id, const char *id, struct store_record_head *h);
    /* optional (NULL: no lock to take, as with one writer; record_head reads the head):
     * store_record_lock */
    int (*record_lock)(struct store_txn *t, enum store_kind kind, const char *stream_id,
                       const char *account_id, const char *id, struct store_record_head *h);
    int (*query)(struct store_txn *t, const struct store_query *q,
                 void (*fn)(const char *doc, size_t len, void *arg), void *arg, int64_t *total);
    int (*idem_get)(struct store_txn *t, const char *client_id, const char *key,
                    struct store_idem *out);
    int (*idem_put)(struct store_txn *t, const char *client_id, const char *key,
                    const struct store_idem *in);
    int (*activity_list)(struct store_txn *t, const char *stream_id, const char *account_id,
                         const char *record_id, int64_t skip, int64_t limit,
                         void (*fn)(const char *json, void *arg), void *arg, int64_t *total);
    int (*jti_use)(struct store_txn *t, const char *client_id, const char *jti, int64_t exp);
    int (*bulk)(struct store *s, bool begin); /* NULL: no bulk mode, loading works as is */
    /* optional: the calling thread, idle a while, gives back what it holds (its connection) */
    void (*release_idle)(struct store *s);
    /* NULL: reads see only durable commits (store_settle_ticket is 0) */
    uint64_t (*settle_ticket)(struct store *s);
    int (*settle_wait)(struct store *s, uint64_t ticket);
};

/* Every backend's store and txn begin with these, so store.c can dispatch. */
struct store {
    const struct store_ops *ops;
};
struct store_txn {
    struct store *store;
};

/* The SQLite backend: path is a filesystem path. */
struct store *store_sqlite_open(const char *path, const struct store_options *opt, char **err);
/* Tests only: the WAL's size in pages past which the SQLite checkpointer starts it over (65536),
 * read when a store is opened (and when store_bulk_end starts its checkpointer again). */
extern int store_sqlite_restart_frames;
/* Tests only: when set, the SQLite checkpointer calls it after each checkpoint with the WAL's
 * size and the pages copied from it (both -1 when it could not run), as sqlite3_wal_checkpoint_v2
 * gives them. */
extern void (*store_sqlite_after_checkpoint)(int log, int copied);
/* Tests only: when set, the SQLite syncer calls it before each sync of the WAL. */
extern void (*store_sqlite_before_sync)(void);
/* Tests only: when set, the SQLite writeback thread calls it before each sync_file_range of the
 * database file (it makes one at most every millisecond while checkpoints run). */
extern void (*store_sqlite_before_writeback)(void);
/* Tests only: a SQLite store's rowid hints (store/ridhint.h), to plant wrong ones. */
struct ridhint *store_sqlite_rids(struct store *s);
/* The PostgreSQL backend: url is a libpq connection URI (postgres://... or postgresql://...). */
struct store *store_pg_open(const char *url, const struct store_options *opt, char **err);

/* A copy of a case's document text (heap, *out_len) with ids appended to its taskIds: in the
 * text as it is (jtext_append_strings) without parsing a document that grows with every task;
 * one jtext cannot place them in (no such array, a member name spelled with escapes) is parsed
 * and written again. NULL when the text is not a JSON object. */
char *store_task_ids_append(const char *doc, size_t len, const char *const *ids, size_t n,
                           size_t *out_len);

/* Hands fn a listed document with isBreached as of now (API.md §8): doc itself when that did
 * not change since the write (stored), else a copy with the one member set. */
/* The message (heap) refusing a schema older than this casemgr's (store_options.keep_schema). */
char *schema_too_old(int version, int current);
void store_emit_listed(const char *doc, size_t len, bool stored, bool now,
                       void (*fn)(const char *doc, size_t len, void *arg), void *arg);

#endif
