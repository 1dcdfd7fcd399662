/* jtext — JSON text to and from jansson values, fast, for the documents casemgr stores.
 *
 * jtext_dump(v, &len) writes the bytes json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY) writes,
 * but for real numbers (below), in a fraction of the time. jansson 2.14 guards every object and
 * array it writes against cycles by formatting the container's address with snprintf into a key
 * of a hash table of "parents", and hands every token to a callback that appends it to a growing
 * buffer; for a 3 KB task document that is most of the cost of an update (bench/README.md).
 * Documents here are trees our own code built, so a depth bound replaces the cycle check.
 *
 * Real numbers are rare in documents. Each is written in jansson's notation (%g with its
 * fix-ups: 1.0, 1e300) in the shortest of 15, 16 and 17 significant digits that reads back as
 * the same double (scalar_real_text), where jansson always writes 17: 19.99, not
 * 19.989999999999998.
 *
 * jtext_parse(text, len) returns what json_loadb(text, len, 0, NULL) returns, several times
 * faster, for the stored documents every update, create and projection reads back: jansson's
 * reader goes through a character stream one byte at a time. The fast path takes compact or
 * spaced JSON with the escapes jtext_dump and other writers use; anything it does not handle
 * exactly as jansson would (a syntax error, an integer out of range, a duplicate member, a \u0000,
 * very deep nesting) is handed to json_loadb itself, so the answer, error included, is always
 * jansson's. */
#ifndef CASEMGR_UTIL_JTEXT_H
#define CASEMGR_UTIL_JTEXT_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#define JTEXT_MAX_DEPTH 1024

/* The text (heap, NUL-terminated; free() it) and its length in *len when len is not NULL.
 * NULL where json_dumps fails too (a string that is not valid UTF-8), and for nesting deeper than
 * JTEXT_MAX_DEPTH, which json_dumps would write: documents here are far shallower (request
 * bodies are refused past a small depth), and the bound is what stands in for jansson's cycle
 * check. */
char *jtext_dump(const json_t *v, size_t *len);

/* The value json_loadb(text, len, 0, NULL) returns (a new reference, or NULL). */
json_t *jtext_parse(const char *text, size_t len);

/* jtext_parse's fast path alone: the value json_loadb(text, len, 0, NULL) returns where the fast
 * path takes the text (an object or array it reads through), else NULL, jansson not asked. What
 * it takes has no duplicate member, so json_loadb's JSON_REJECT_DUPLICATES and JSON_DECODE_ANY
 * would not change the answer either: request bodies (doc_parse_body) try it first and leave
 * everything else, errors and their messages included, to jansson. */
json_t *jtext_parse_fast(const char *text, size_t len);

/* ---- texts written once, copied after ----
 *
 * An update reads a stored document, changes a few of its members and writes it back whole, then
 * writes an activity holding the changed members' old and new values: most of those bytes were
 * text a moment before. A jtext_known holds values with their text as jtext_dump writes it.
 * jtext_parse_known notes the top-level members of the object it reads (and the objects and
 * arrays right inside them) whose text is that already (compact, without escapes or real
 * numbers: what jtext_dump wrote), and
 * jtext_dump_known copies a noted value's text instead of writing it again, and may note the
 * top-level members of what it writes.
 *
 * A value is known by its address: while noted it must neither change nor be freed. (A
 * document's members are replaced, never changed in place, while something else holds them: an
 * update holds every member it read in a snapshot while it applies the patch, so what it changes
 * in place is copied first, and then replaces activityIds whole: doc/update.c.) */
#define JTEXT_KNOWN_MAX 128
struct jtext_known {
    size_t n;
    struct jtext_text {
        const json_t *v;
        const char *text; /* not NUL-terminated */
        size_t len;
    } at[JTEXT_KNOWN_MAX];
};

/* jtext_parse(text, len), noting in k (emptied first) the top-level members of the object read,
 * and the objects and arrays right inside them, whose text is as jtext_dump writes it; text must
 * outlive k's use. Noting is for the fast path: a text it leaves to jansson notes nothing. */
json_t *jtext_parse_known(const char *text, size_t len, struct jtext_known *k);

/* jtext_dump(v, len), with the text of every value noted in k copied where such a value comes at
 * depth use_depth (v is at depth 0, its members at 1), or is an object or array one deeper. With
 * keep, v's top-level members are noted in k after what it held, with their text in the buffer
 * returned, which must then outlive k's use; past JTEXT_KNOWN_MAX values k notes no more. */
char *jtext_dump_known(const json_t *v, size_t *len, struct jtext_known *k, int use_depth,
                       bool keep);

/* A copy of the object text with the boolean value of its top-level member key set to value
 * (heap, NUL-terminated, its length in *out_len), without reading the rest into values; NULL
 * when text is not an object with such a member holding true or false. For isBreached, which
 * list queries recompute on every read (API.md §8). */
char *jtext_set_bool(const char *text, size_t len, const char *key, bool value, size_t *out_len);

/* A copy of the object text with the string value of its top-level member key replaced by str
 * (heap, NUL-terminated, its length in *out_len): the text json_dumps would write after
 * json_object_set. NULL when text is not an object with such a string member, or str is not
 * valid UTF-8. For a task's refId, numbered by the writer after the document was built. */
char *jtext_set_string(const char *text, size_t len, const char *key, const char *str,
                       size_t *out_len);

/* A copy of the object text with the n strings strs appended in order to the array that is its
 * top-level member key (heap, NUL-terminated, its length in *out_len): the text json_dumps
 * would write after json_array_append of each (n 0: a copy). NULL when text is not an object
 * with such an array member, or a string is not valid UTF-8. For a case's taskIds, which grow
 * with every task (API.md §6). */
char *jtext_append_strings(const char *text, size_t len, const char *key,
                           const char *const *strs, size_t n, size_t *out_len);

#endif
