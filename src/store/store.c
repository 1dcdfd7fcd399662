/* store — dispatch to the backend named by the database URL. */
#include "store/backend.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/jtext.h"
#include "util/mem.h"

struct store *store_open(const char *url, const struct store_options *opt, char **err)
{
    *err = NULL;
    if (strncmp(url, "postgres://", 11) == 0 || strncmp(url, "postgresql://", 13) == 0)
        return store_pg_open(url, opt, err);
    /* a URL of another scheme is no SQLite path: mysql://x was opened as the file "mysql://x"
     * and failed later, at its key file (RFC 3986 §3.1: a scheme is a letter, then letters,
     * digits, '+', '-' and '.') */
    size_t scheme = strspn(url, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+-.");
    if (scheme > 0 && isalpha((unsigned char)url[0]) && strncmp(url + scheme, "://", 3) == 0 &&
        strncmp(url, "sqlite:", 7) != 0) {
        *err = xstrdup("unsupported database URL scheme: use sqlite:PATH, postgres:// or "
                       "postgresql://");
        return NULL;
    }
    const char *path = strncmp(url, "sqlite:", 7) == 0 ? url + 7 : url;
    if (strncmp(path, "//", 2) == 0)
        path += 2; /* sqlite:///abs/path */
    if (*path == '\0') {
        *err = xstrdup("empty SQLite database path");
        return NULL;
    }
    return store_sqlite_open(path, opt, err);
}

void store_close(struct store *s)
{
    if (s)
        s->ops->close(s);
}

bool store_ready(struct store *s)
{
    return s->ops->ready(s);
}

const char *store_path(const struct store *s)
{
    return s->ops->path(s);
}

void store_release_idle(struct store *s)
{
    if (s->ops->release_idle)
        s->ops->release_idle(s);
}

bool store_io_safe(const struct store *s)
{
    return s->ops->io_safe;
}

int store_write(struct store *s, store_txn_fn fn, void *arg)
{
    return s->ops->write(s, fn, arg);
}

void store_write_then(struct store *s, store_txn_fn fn, void *arg,
                      void (*then)(int rc, void *arg))
{
    if (s->ops->write_then)
        s->ops->write_then(s, fn, arg, then);
    else
        then(s->ops->write(s, fn, arg), arg);
}

int store_read(struct store *s, store_txn_fn fn, void *arg)
{
    return s->ops->read(s, fn, arg);
}

int store_read_keep(struct store *s, store_txn_fn fn, void *arg)
{
    return s->ops->read_keep ? s->ops->read_keep(s, fn, arg) : s->ops->read(s, fn, arg);
}

void store_read_end(struct store *s)
{
    if (s->ops->read_end)
        s->ops->read_end(s);
}

int store_settle(struct store *s)
{
    return store_settle_wait(s, store_settle_ticket(s));
}

uint64_t store_settle_ticket(struct store *s)
{
    return s->ops->settle_ticket ? s->ops->settle_ticket(s) : 0;
}

int store_settle_wait(struct store *s, uint64_t ticket)
{
    return ticket && s->ops->settle_wait ? s->ops->settle_wait(s, ticket) : STORE_OK;
}

int store_app_put(struct store_txn *t, const char *client_id, const char *account_id,
                  const char *json)
{
    return t->store->ops->app_put(t, client_id, account_id, json);
}

int store_app_get(struct store_txn *t, const char *client_id, char **json)
{
    return t->store->ops->app_get(t, client_id, json);
}

int store_app_each(struct store_txn *t, void (*fn)(const char *json, void *arg), void *arg)
{
    return t->store->ops->app_each(t, fn, arg);
}

int store_stream_put(struct store_txn *t, const char *stream_id, const char *json)
{
    return t->store->ops->stream_put(t, stream_id, json);
}

int store_stream_get(struct store_txn *t, const char *stream_id, char **json)
{
    return t->store->ops->stream_get(t, stream_id, json);
}

int store_catalog_version(struct store_txn *t, int64_t *v)
{
    return t->store->ops->catalog_version ? t->store->ops->catalog_version(t, v) : STORE_NOT_FOUND;
}

int store_next_ref(struct store_txn *t, const char *stream_id, const char *kind, int64_t *out)
{
    return t->store->ops->next_ref(t, stream_id, kind, out);
}

int store_record_put(struct store_txn *t, struct store_record *r)
{
    return t->store->ops->record_put(t, r);
}

int store_record_update(struct store_txn *t, struct store_record *r,
                        const struct store_record *prev)
{
    return t->store->ops->record_update(t, r, prev);
}

int store_record_set_doc(struct store_txn *t, enum store_kind kind, const char *stream_id,
                         const char *account_id, const char *id, const char *doc, size_t len,
                         int64_t *version)
{
    return t->store->ops->record_set_doc(t, kind, stream_id, account_id, id, doc, len, version);
}

int store_record_get(struct store_txn *t, enum store_kind kind, const char *stream_id,
                     const char *account_id, const char *id, struct store_record *r)
{
    return t->store->ops->record_get(t, kind, stream_id, account_id, id, r);
}

char *store_task_ids_append(const char *doc, size_t len, const char *const *ids, size_t n,
                           size_t *out_len)
{
    char *text = jtext_append_strings(doc, len, "taskIds", ids, n, out_len);
    if (text)
        return text;
    json_t *d = jtext_parse(doc, len);
    json_t *arr = json_object_get(d, "taskIds");
    if (d && !json_is_array(arr)) {
        arr = json_array();
        json_object_set_new(d, "taskIds", arr);
    }
    for (size_t i = 0; d && i < n; i++)
        json_array_append_new(arr, json_string(ids[i]));
    text = d ? jtext_dump(d, out_len) : NULL;
    json_decref(d);
    return text;
}

/* A backend without its own way: the case's document read (and locked, on PostgreSQL), the id
 * appended and the document written again. No indexed column of the case changes. */
static int case_add_task_by_doc(struct store_txn *t, const char *stream_id,
                                const char *account_id, const char *case_id,
                                const char *task_id, int64_t *version)
{
    struct store_record cr;
    int rc = store_record_get(t, STORE_CASE, stream_id, account_id, case_id, &cr);
    if (rc != STORE_OK)
        return rc;
    size_t len;
    char *text = store_task_ids_append(cr.doc, cr.doc_len, &task_id, 1, &len);
    free(cr.doc);
    if (!text)
        return STORE_ERROR;
    rc = store_record_set_doc(t, STORE_CASE, stream_id, account_id, case_id, text, len, version);
    free(text);
    return rc;
}

int store_case_add_task(struct store_txn *t, const char *stream_id, const char *account_id,
                        const char *case_id, const char *task_id, int64_t *version)
{
    if (t->store->ops->case_add_task)
        return t->store->ops->case_add_task(t, stream_id, account_id, case_id, task_id, version);
    return case_add_task_by_doc(t, stream_id, account_id, case_id, task_id, version);
}

int store_record_head(struct store_txn *t, enum store_kind kind, const char *stream_id,
                      const char *account_id, const char *id, struct store_record_head *h)
{
    return t->store->ops->record_head(t, kind, stream_id, account_id, id, h);
}

int store_record_lock(struct store_txn *t, enum store_kind kind, const char *stream_id,
                      const char *account_id, const char *id, struct store_record_head *h)
{
    if (!t->store->ops->record_lock)
        return t->store->ops->record_head(t, kind, stream_id, account_id, id, h);
    return t->store->ops->record_lock(t, kind, stream_id, account_id, id, h);
}

int store_query(struct store_txn *t, const struct store_query *q,
                void (*fn)(const char *doc, size_t len, void *arg), void *arg, int64_t *total)
{
    return t->store->ops->query(t, q, fn, arg, total);
}

int store_idem_get(struct store_txn *t, const char *client_id, const char *key,
                   struct store_idem *out)
{
    return t->store->ops->idem_get(t, client_id, key, out);
}

int store_idem_put(struct store_txn *t, const char *client_id, const char *key,
                   const struct store_idem *in)
{
    return t->store->ops->idem_put(t, client_id, key, in);
}

int store_jti_use(struct store_txn *t, const char *client_id, const char *jti, int64_t exp)
{
    return t->store->ops->jti_use(t, client_id, jti, exp);
}

int store_activity_list(struct store_txn *t, const char *stream_id, const char *account_id,
                        const char *record_id, int64_t skip, int64_t limit,
                        void (*fn)(const char *json, void *arg), void *arg, int64_t *total)
{
    return t->store->ops->activity_list(t, stream_id, account_id, record_id, skip, limit, fn, arg,
                                        total);
}

int store_bulk_begin(struct store *s)
{
    return s->ops->bulk ? s->ops->bulk(s, true) : STORE_OK;
}

int store_bulk_end(struct store *s)
{
    return s->ops->bulk ? s->ops->bulk(s, false) : STORE_OK;
}

char *schema_too_old(int version, int current)
{
    char msg[256];
    if (version == 0)
        return xstrdup("the database holds no casemgr schema yet: commands that only read do not "
                       "create one (start serve, or add an app, on it first)");
    snprintf(msg, sizeof msg,
             "the database's schema is version %d, older than this casemgr's %d: commands that "
             "only read do not upgrade it (stop older servers, then start this version's serve "
             "on it)",
             version, current);
    return xstrdup(msg);
}

void store_emit_listed(const char *doc, size_t len, bool stored, bool now,
                       void (*fn)(const char *doc, size_t len, void *arg), void *arg)
{
    if (stored == now) {
        fn(doc, len, arg);
        return;
    }
    /* the one member, set in the text: reading 50 documents into values and writing them
     * again cost more than the rest of a list query */
    size_t text_len = 0;
    char *text = jtext_set_bool(doc, len, "isBreached", now, &text_len);
    if (!text) {
        json_t *d = jtext_parse(doc, len);
        if (!d) {
            fn(doc, len, arg);
            return;
        }
        json_object_set_new(d, "isBreached", json_boolean(now));
        text = jtext_dump(d, &text_len);
        json_decref(d);
        if (!text)
            mem_oom();
    }
    fn(text, text_len, arg);
    free(text);
}
