/* matchcache — the records a name search matched, in createdAt order, kept between queries.
 *
 * A substring search of the names (API.md §8 searchText, name) reads every match out of the
 * trigram index to count them: 2.3 ms of CPU for a word in 1 % of a million names, on every
 * page of the same search. A list here holds a tenant's matches of one text as records rowids
 * sorted by (createdAt, _id) descending, which never change once a record exists; it is valid
 * for as long as the tenant's names generation (record_scopes.names_gen, raised by every
 * commit that changes one of the tenant's names) is the one it was built at. Thread-safe: one
 * cache serves every reader of a store; lists are immutable once put, and reference-counted. */
#ifndef CASEMGR_STORE_MATCHCACHE_H
#define CASEMGR_STORE_MATCHCACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* What a list matched: searchText also matches the record whose refId the text is. */
enum match_what { MATCH_SEARCH, MATCH_NAME };

struct match_list {
    int64_t scope, gen; /* the tenant (record_scopes.scope) and its names generation */
    enum match_what what;
    char *text;
    size_t n, cap;
    int64_t *rids; /* records rowids, createdAt then _id descending */
    int refs;      /* guarded by the cache's lock */
};

struct match_cache;

/* A cache holding lists of up to max_bytes of rowids in all; NULL when max_bytes is 0. */
struct match_cache *match_cache_new(size_t max_bytes);
/* Frees the cache and the lists no reader holds; NULL is a no-op. */
void match_cache_free(struct match_cache *mc);
/* The list for (scope, what, text) built at generation gen, held for the caller until
 * match_cache_release. NULL when there is none: the caller is then to read the list and
 * match_cache_put it, or call match_cache_abandon if it cannot. A list another caller is
 * reading already is waited for (up to a second), not read twice: a burst of the same search
 * on a cold cache would otherwise read it once per worker. */
const struct match_list *match_cache_get(struct match_cache *mc, int64_t scope, int64_t gen,
                                         enum match_what what, const char *text);
/* match_cache_get for a caller that must not wait (an HTTP I/O thread): when another caller is
 * reading the list, NULL at once with *busy set, and nothing for this caller to read or put;
 * otherwise as match_cache_get, with *busy false. */
const struct match_list *match_cache_get_now(struct match_cache *mc, int64_t scope, int64_t gen,
                                             enum match_what what, const char *text, bool *busy);
/* The caller of match_cache_get cannot read the list: another waiting caller will. */
void match_cache_abandon(struct match_cache *mc, int64_t scope, int64_t gen, enum match_what what,
                         const char *text);
/* A new list to fill (rids has room for cap entries, n = 0); the caller owns it. */
struct match_list *match_list_new(int64_t scope, int64_t gen, enum match_what what,
                                  const char *text, size_t cap);
/* A list of n matches without their rowids (rids NULL), for a search with too many to keep:
 * the readers of the list learn that they are to find the matches themselves. */
struct match_list *match_list_count_only(int64_t scope, int64_t gen, enum match_what what,
                                         const char *text, size_t n);
/* Appends rid, growing the list as needed. */
void match_list_push(struct match_list *l, int64_t rid);
/* Frees a list the caller owns (one match_list_new made and nobody put). */
void match_list_free(struct match_list *l);
/* Takes ownership of l and keeps it unless it is too large for the cache or a list of a later
 * generation for the same key is there; l is freed otherwise (also when mc is NULL). Wakes the
 * callers waiting for it. */
void match_cache_put(struct match_cache *mc, struct match_list *l);
/* Lets go of a list match_cache_get returned; NULL is a no-op. */
void match_cache_release(struct match_cache *mc, const struct match_list *l);

#endif
