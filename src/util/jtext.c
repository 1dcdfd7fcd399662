/* jtext — see jtext.h. */
#include "util/jtext.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "util/mem.h"
#include "util/scalar.h"
#include "util/text.h"

struct out {
    char *p;
    size_t len, cap;
    bool failed;
    /* jtext_dump_known: the texts to copy at depth use_depth, and where the next look-up starts
     * (a document's members come back in the order they were read) */
    const struct jtext_known *use;
    int use_depth;
    size_t hint;
    /* with keep: each top-level member and where its text starts and ends in p */
    struct kept {
        const json_t *v;
        size_t from, to;
    } *kept;
    size_t nkept;
};

static void __attribute__((noinline)) grow(struct out *o, size_t more)
{
    size_t cap = o->cap ? o->cap : 1024;
    while (cap < o->len + more)
        cap *= 2;
    o->p = xrealloc(o->p, cap);
    o->cap = cap;
}

/* Called for every piece written: the test stays inline, the growth does not. */
static inline void reserve(struct out *o, size_t more)
{
    if (!o->p || o->len + more > o->cap)
        grow(o, more);
}

static void put(struct out *o, const char *s, size_t n)
{
    reserve(o, n);
    memcpy(o->p + o->len, s, n);
    o->len += n;
}

static void put_char(struct out *o, char c)
{
    reserve(o, 1);
    o->p[o->len++] = c;
}

/* Length of the valid UTF-8 sequence at s (at most n bytes), 0 when it is not valid UTF-8. */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
    uint32_t cp;
    return text_utf8_decode(s, n, &cp);
}

/* How many bytes from s on are plain: printable ASCII other than '"' and '\\', which a JSON
 * string holds as they are. Eight bytes at a time: a byte below 0x20, a quote, a backslash or a
 * high bit flags the word's high bits, and the lowest flag is exact (a subtraction borrows
 * upwards only, from a byte that is flagged itself), so it names the byte that stops the run.
 * The last word of a short run is padded with quotes, which stop it at the end. Inlined: called
 * ~320 times a small update, mostly for under two words, it spent a quarter of its instructions
 * saving registers and loading its constants; with the byte loop that found the stopping byte
 * before, read_string, put_string and this cost 42,300 instructions a small update, now 36,400
 * (callgrind). */
#if __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "plain_run reads words little-endian"
#endif
static inline __attribute__((always_inline)) size_t plain_run(const unsigned char *s,
                                                             const unsigned char *end)
{
    const uint64_t ones = 0x0101010101010101u, highs = 0x8080808080808080u;
    const unsigned char *p = s;
    for (;;) {
        size_t left = (size_t)(end - p);
        uint64_t x = ones * '"';
        if (left >= sizeof x) {
            memcpy(&x, p, sizeof x);
        } else if (left > 0) {
            /* byte i of the word (little-endian) becomes p[i], without a call to memcpy */
            for (size_t i = 0; i < left; i++)
                x ^= (uint64_t)(p[i] ^ '"') << (8 * i);
        } else {
            return (size_t)(p - s);
        }
        uint64_t q = x ^ (ones * '"'), b = x ^ (ones * '\\');
        uint64_t stop = ((x - ones * 0x20) & ~x) | ((q - ones) & ~q) | ((b - ones) & ~b) | x;
        stop &= highs;
        if (stop)
            return (size_t)(p - s) + ((size_t)__builtin_ctzll(stop) >> 3);
        p += sizeof x;
    }
}

/* A JSON string: the escapes jansson writes (\" \\ \b \f \n \r \t, \u00XX in upper case for
 * the other control characters), everything else as it is, UTF-8 checked. */
static __attribute__((noinline)) void put_string_any(struct out *o, const char *str, size_t n)
{
    static const char hex[] = "0123456789ABCDEF";
    const unsigned char *s = (const unsigned char *)str, *end = s + n, *run = s;
    reserve(o, n + 2);
    o->p[o->len++] = '"';
    while (s < end) {
        s += plain_run(s, end);
        if (s >= end)
            break;
        unsigned c = *s;
        if (c >= 0x80) {
            size_t k = utf8_seq(s, (size_t)(end - s));
            if (k == 0) {
                o->failed = true;
                return;
            }
            s += k;
            continue;
        }
        put(o, (const char *)run, (size_t)(s - run));
        char esc[6] = {'\\', 0};
        size_t k = 2;
        switch (c) {
        case '"': esc[1] = '"'; break;
        case '\\': esc[1] = '\\'; break;
        case '\b': esc[1] = 'b'; break;
        case '\f': esc[1] = 'f'; break;
        case '\n': esc[1] = 'n'; break;
        case '\r': esc[1] = 'r'; break;
        case '\t': esc[1] = 't'; break;
        default:
            esc[1] = 'u';
            esc[2] = '0';
            esc[3] = '0';
            esc[4] = hex[c >> 4];
            esc[5] = hex[c & 15];
            k = 6;
        }
        put(o, esc, k);
        run = ++s;
    }
    put(o, (const char *)run, (size_t)(s - run));
    put_char(o, '"');
}

/* put_string_any for a string of plain bytes only, inlined (~110 a small update): one reserve
 * and one copy. */
static inline __attribute__((always_inline)) void put_string(struct out *o, const char *str,
                                                             size_t n)
{
    if (plain_run((const unsigned char *)str, (const unsigned char *)str + n) != n) {
        put_string_any(o, str, n);
        return;
    }
    reserve(o, n + 2);
    o->p[o->len] = '"';
    memcpy(o->p + o->len + 1, str, n);
    o->p[o->len + 1 + n] = '"';
    o->len += n + 2;
}

static void put_integer(struct out *o, json_int_t v)
{
    char buf[24], *e = buf + sizeof buf, *p = e;
    uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
    do {
        *--p = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (v < 0)
        *--p = '-';
    put(o, p, (size_t)(e - p));
}

/* The noted text of v, or NULL: every note once, from where the last look-up ended. */
static const struct jtext_text *known_text(struct out *o, const json_t *v)
{
    const struct jtext_known *k = o->use;
    size_t at = o->hint < k->n ? o->hint : 0;
    for (size_t i = 0; i < k->n; i++, at = at + 1 < k->n ? at + 1 : 0) {
        if (k->at[at].v == v) {
            o->hint = at + 1;
            return &k->at[at];
        }
    }
    return NULL;
}

/* NOLINTNEXTLINE(misc-no-recursion): one level per container, stopped past JTEXT_MAX_DEPTH */
static void put_value(struct out *o, const json_t *v, int depth)
{
    if (o->failed)
        return;
    if (depth > JTEXT_MAX_DEPTH) {
        o->failed = true;
        return;
    }
    /* at use_depth, and the containers one deeper (a few elements of an array changed) */
    if (o->use && (depth == o->use_depth ||
                   (depth == o->use_depth + 1 && (json_is_object(v) || json_is_array(v))))) {
        const struct jtext_text *t = known_text(o, v);
        if (t) {
            put(o, t->text, t->len);
            return;
        }
    }
    switch (json_typeof(v)) {
    case JSON_OBJECT: {
        put_char(o, '{');
        bool first = true;
        for (void *it = json_object_iter((json_t *)v); it && !o->failed;
             it = json_object_iter_next((json_t *)v, it)) {
            if (!first)
                put_char(o, ',');
            first = false;
            put_string(o, json_object_iter_key(it), json_object_iter_key_len(it));
            put_char(o, ':');
            const json_t *m = json_object_iter_value(it);
            size_t from = o->len;
            put_value(o, m, depth + 1);
            if (depth == 0 && o->kept && o->nkept < JTEXT_KNOWN_MAX)
                o->kept[o->nkept++] = (struct kept){.v = m, .from = from, .to = o->len};
        }
        put_char(o, '}');
        break;
    }
    case JSON_ARRAY: {
        put_char(o, '[');
        for (size_t i = 0, n = json_array_size(v); i < n && !o->failed; i++) {
            if (i)
                put_char(o, ',');
            put_value(o, json_array_get(v, i), depth + 1);
        }
        put_char(o, ']');
        break;
    }
    case JSON_STRING:
        put_string(o, json_string_value(v), json_string_length(v));
        break;
    case JSON_INTEGER:
        put_integer(o, json_integer_value(v));
        break;
    case JSON_REAL: {
        /* as JSON.stringify writes it, in jansson's notation: 19.99, where jansson's own 17
         * digits gave 19.989999999999998 */
        char text[SCALAR_BUF];
        scalar_real_text(json_real_value(v), text);
        put(o, text, strlen(text));
        break;
    }
    case JSON_TRUE:
        put(o, "true", 4);
        break;
    case JSON_FALSE:
        put(o, "false", 5);
        break;
    case JSON_NULL:
        put(o, "null", 4);
        break;
    }
}

static char *dump(struct out *o, const json_t *v, size_t *len)
{
    if (!v)
        return NULL;
    put_value(o, v, 0);
    if (o->failed) {
        free(o->p);
        return NULL;
    }
    put_char(o, '\0');
    if (len)
        *len = o->len - 1;
    return o->p;
}

char *jtext_dump(const json_t *v, size_t *len)
{
    struct out o = {0};
    return dump(&o, v, len);
}

char *jtext_dump_known(const json_t *v, size_t *len, struct jtext_known *k, int use_depth,
                       bool keep)
{
    struct kept kept[JTEXT_KNOWN_MAX];
    struct out o = {.use = k->n ? k : NULL, .use_depth = use_depth, .kept = keep ? kept : NULL};
    char *text = dump(&o, v, len);
    /* noted once written: the buffer moved while it grew */
    for (size_t i = 0; text && i < o.nkept && k->n < JTEXT_KNOWN_MAX; i++) {
        const struct kept *m = &o.kept[i]; /* the first o.nkept are set */
        k->at[k->n++] = (struct jtext_text){.v = m->v, .text = text + m->from,
                                            .len = m->to - m->from};
    }
    return text;
}

/* ---- reading ---- */

struct in {
    const unsigned char *p, *end;
    char *buf; /* unescaped strings; never longer than the text they come from */
    size_t cap;
    /* jtext_parse_known: where the values read are noted (note_end), and whether the value
     * being read is, so far, text as jtext_dump writes it (no space, escape or real number) */
    struct jtext_known *note;
    bool plain;
};

/* Between any two tokens: ~550 times a small update, almost always at a byte past ' ', which
 * the first test settles. Inlined with that test, its instructions a small update 7,000 -> ~2,000
 * (callgrind). */
static inline __attribute__((always_inline)) void skip_space(struct in *in)
{
    if (in->p < in->end && *in->p > ' ')
        return;
    const unsigned char *from = in->p;
    while (in->p < in->end && (*in->p == ' ' || *in->p == '\n' || *in->p == '\r' || *in->p == '\t'))
        in->p++;
    if (in->p != from)
        in->plain = false;
}

static int hex4(const unsigned char *s)
{
    int v = 0;
    for (int i = 0; i < 4; i++) {
        unsigned c = s[i];
        int d = c >= '0' && c <= '9'   ? (int)(c - '0')
                : c >= 'a' && c <= 'f' ? (int)(c - 'a' + 10)
                : c >= 'A' && c <= 'F' ? (int)(c - 'A' + 10)
                                       : -1;
        if (d < 0)
            return -1;
        v = v * 16 + d;
    }
    return v;
}

/* The escapes of a string from s (just past a backslash-free prefix) to its closing quote,
 * written into in->buf after the n bytes already there. false: not for the fast path. */
static bool read_escaped(struct in *in, const unsigned char *s, size_t n, size_t *len)
{
    char *b = in->buf;
    while (s < in->end) {
        unsigned c = *s;
        if (c == '"') {
            in->p = s + 1;
            *len = n;
            return true;
        }
        if (c < 0x20)
            return false;
        if (c >= 0x80) {
            size_t k = utf8_seq(s, (size_t)(in->end - s));
            if (k == 0)
                return false;
            memcpy(b + n, s, k);
            n += k;
            s += k;
            continue;
        }
        if (c != '\\') {
            b[n++] = (char)c;
            s++;
            continue;
        }
        if (++s >= in->end)
            return false;
        switch (*s) {
        case '"': b[n++] = '"'; break;
        case '\\': b[n++] = '\\'; break;
        case '/': b[n++] = '/'; break;
        case 'b': b[n++] = '\b'; break;
        case 'f': b[n++] = '\f'; break;
        case 'n': b[n++] = '\n'; break;
        case 'r': b[n++] = '\r'; break;
        case 't': b[n++] = '\t'; break;
        case 'u': {
            int cp = in->end - s > 4 ? hex4(s + 1) : -1;
            if (cp <= 0 || (cp >= 0xDC00 && cp <= 0xDFFF)) /* NUL, a lone low surrogate */
                return false;
            s += 4;
            if (cp >= 0xD800 && cp <= 0xDBFF) { /* a pair, or jansson's error */
                int lo = in->end - s > 6 && s[1] == '\\' && s[2] == 'u' ? hex4(s + 3) : -1;
                if (lo < 0xDC00 || lo > 0xDFFF)
                    return false;
                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                s += 6;
            }
            n += text_utf8_encode((uint32_t)cp, b + n);
            break;
        }
        default: return false;
        }
        s++;
    }
    return false;
}

/* A string after its opening quote: its bytes at *out (into the text, or in->buf when it had
 * escapes) and their number at *len. */
static __attribute__((noinline)) bool read_string_any(struct in *in, const char **out,
                                                      size_t *len)
{
    const unsigned char *s = in->p, *start = s;
    while (s < in->end) {
        s += plain_run(s, in->end);
        if (s >= in->end)
            break;
        unsigned c = *s;
        if (c == '"') {
            *out = (const char *)start;
            *len = (size_t)(s - start);
            in->p = s + 1;
            return true;
        }
        if (c == '\\') {
            in->plain = false; /* jtext_dump may escape it another way */
            break;
        }
        if (c < 0x20)
            return false;
        if (c >= 0x80) {
            size_t k = utf8_seq(s, (size_t)(in->end - s));
            if (k == 0)
                return false;
            s += k;
        } else {
            s++;
        }
    }
    if (s >= in->end)
        return false;
    size_t need = (size_t)(in->end - start);
    if (!in->buf || need > in->cap) {
        in->buf = xrealloc(in->buf, need);
        in->cap = need;
    }
    size_t n = (size_t)(s - start);
    memcpy(in->buf, start, n);
    *out = in->buf;
    return read_escaped(in, s, n, len);
}

/* read_string_any for a string of plain bytes only (keys, ids, most values), inlined: ~220 of
 * them a small update, whose calls spent a quarter of their instructions saving registers and
 * loading plain_run's constants. Anything else is read again by read_string_any. */
static inline __attribute__((always_inline)) bool read_string(struct in *in, const char **out,
                                                              size_t *len)
{
    const unsigned char *s = in->p;
    size_t n = plain_run(s, in->end);
    if (n < (size_t)(in->end - s) && s[n] == '"') {
        *out = (const char *)s;
        *len = n;
        in->p = s + n + 1;
        return true;
    }
    return read_string_any(in, out, len);
}

/* A number: integers here, real numbers by jansson (its strtod and locale handling). */
static json_t *read_number(struct in *in)
{
    const unsigned char *s = in->p, *start = s;
    bool real = false;
    if (s < in->end && *s == '-')
        s++;
    if (s >= in->end || *s < '0' || *s > '9')
        return NULL;
    if (*s == '0' && s + 1 < in->end && s[1] >= '0' && s[1] <= '9')
        return NULL; /* a leading zero: jansson's error */
    while (s < in->end && *s >= '0' && *s <= '9')
        s++;
    while (s < in->end && (*s == '.' || *s == 'e' || *s == 'E' || *s == '+' || *s == '-' ||
                           (*s >= '0' && *s <= '9'))) {
        real = true;
        s++;
    }
    size_t n = (size_t)(s - start);
    in->p = s;
    if (real || (n == 2 && start[0] == '-' && start[1] == '0'))
        in->plain = false; /* jtext_dump writes a real in its fewest digits, -0 as 0 */
    if (real) /* the whole lexeme; jansson validates it */
        return json_loadb((const char *)start, n, JSON_DECODE_ANY, NULL);
    if (n > 20)
        return NULL;
    /* accumulate negatively so that INT64_MIN fits; overflow is jansson's error */
    bool neg = *start == '-';
    int64_t v = 0;
    for (const unsigned char *d = start + neg; d < s; d++) {
        int digit = *d - '0';
        if (v < (INT64_MIN + digit) / 10)
            return NULL;
        v = v * 10 - digit;
    }
    if (!neg && v == INT64_MIN)
        return NULL;
    return json_integer(neg ? v : -v);
}

static json_t *read_value(struct in *in, int depth);

/* jtext_parse_known notes the top-level members, and the objects and arrays inside them (whose
 * text is copied when a few of their siblings changed, as a record's fields do). Before a value
 * is read in a container at depth: whether its container's text is plain so far. */
static bool note_start(struct in *in, int depth)
{
    bool outer = in->plain;
    if (depth <= 1)
        in->plain = true;
    return outer;
}

/* After value v, read from from, was added to its container at depth. */
static void note_end(struct in *in, int depth, bool outer, const json_t *v,
                     const unsigned char *from)
{
    struct jtext_known *k = in->note;
    if (k && in->plain && k->n < JTEXT_KNOWN_MAX &&
        (depth == 0 || (depth == 1 && (json_is_object(v) || json_is_array(v)))))
        k->at[k->n++] = (struct jtext_text){.v = v, .text = (const char *)from,
                                            .len = (size_t)(in->p - from)};
    if (depth == 1)
        in->plain = outer && in->plain;
}

/* NOLINTBEGIN(misc-no-recursion): one level per container, stopped past JTEXT_MAX_DEPTH */
static json_t *read_object(struct in *in, int depth)
{
    json_t *obj = json_object();
    skip_space(in);
    if (in->p < in->end && *in->p == '}') {
        in->p++;
        return obj;
    }
    char *owned = NULL; /* a key that had escapes: in->buf is reused by the value */
    for (;;) {
        if (in->p >= in->end || *in->p != '"')
            break;
        in->p++;
        const char *key;
        size_t klen;
        if (!read_string(in, &key, &klen))
            break;
        if (key == in->buf)
            key = owned = xstrndup(key, klen);
        skip_space(in);
        if (in->p >= in->end || *in->p != ':')
            break;
        in->p++;
        skip_space(in);
        const unsigned char *from = in->p;
        bool outer = note_start(in, depth);
        json_t *v = read_value(in, depth + 1);
        if (!v)
            break;
        size_t before = json_object_size(obj);
        /* a duplicate member does not grow the object: jansson's business (last one wins) */
        if (json_object_setn_new_nocheck(obj, key, klen, v) || json_object_size(obj) != before + 1)
            break;
        note_end(in, depth, outer, v, from);
        free(owned);
        owned = NULL;
        skip_space(in);
        if (in->p < in->end && *in->p == ',') {
            in->p++;
            skip_space(in);
            continue;
        }
        if (in->p < in->end && *in->p == '}') {
            in->p++;
            return obj;
        }
        break;
    }
    free(owned);
    json_decref(obj);
    return NULL;
}

static json_t *read_array(struct in *in, int depth)
{
    json_t *arr = json_array();
    skip_space(in);
    if (in->p < in->end && *in->p == ']') {
        in->p++;
        return arr;
    }
    for (;;) {
        const unsigned char *from = in->p;
        bool outer = note_start(in, depth);
        json_t *v = read_value(in, depth + 1);
        if (!v || json_array_append_new(arr, v))
            break;
        note_end(in, depth, outer, v, from);
        skip_space(in);
        if (in->p < in->end && *in->p == ',') {
            in->p++;
            skip_space(in);
            continue;
        }
        if (in->p < in->end && *in->p == ']') {
            in->p++;
            return arr;
        }
        break;
    }
    json_decref(arr);
    return NULL;
}

static bool literal(struct in *in, const char *word, size_t n)
{
    if ((size_t)(in->end - in->p) < n || memcmp(in->p, word, n) != 0)
        return false;
    in->p += n;
    return true;
}

static json_t *read_value(struct in *in, int depth)
{
    if (depth > JTEXT_MAX_DEPTH || in->p >= in->end)
        return NULL;
    switch (*in->p) {
    case '{':
        in->p++;
        return read_object(in, depth);
    case '[':
        in->p++;
        return read_array(in, depth);
    case '"': {
        in->p++;
        const char *s;
        size_t n;
        return read_string(in, &s, &n) ? json_stringn_nocheck(s, n) : NULL;
    }
    case 't': return literal(in, "true", 4) ? json_true() : NULL;
    case 'f': return literal(in, "false", 5) ? json_false() : NULL;
    case 'n': return literal(in, "null", 4) ? json_null() : NULL;
    default: return read_number(in);
    }
}

/* NOLINTEND(misc-no-recursion) */

static json_t *parse_fast(const char *text, size_t len, struct jtext_known *note)
{
    struct in in = {.p = (const unsigned char *)text, .end = (const unsigned char *)text + len,
                    .note = note};
    skip_space(&in);
    json_t *v = NULL;
    if (in.p < in.end && (*in.p == '{' || *in.p == '['))
        v = read_value(&in, 0);
    skip_space(&in);
    free(in.buf);
    if (v && in.p == in.end)
        return v;
    json_decref(v);
    return NULL;
}

json_t *jtext_parse_fast(const char *text, size_t len)
{
    return parse_fast(text, len, NULL);
}

json_t *jtext_parse(const char *text, size_t len)
{
    json_t *v = parse_fast(text, len, NULL);
    /* not for the fast path: jansson's own answer, its error included */
    return v ? v : json_loadb(text, len, 0, NULL);
}

json_t *jtext_parse_known(const char *text, size_t len, struct jtext_known *k)
{
    k->n = 0;
    json_t *v = parse_fast(text, len, k);
    if (v)
        return v;
    k->n = 0; /* what was noted went with the fast path's values */
    return json_loadb(text, len, 0, NULL);
}

/* ---- one boolean member, in place ---- */

/* Past the string starting at s (its opening quote), or NULL when it does not end. A quote
 * ends it unless an odd number of backslashes comes right before it (each escape is a backslash
 * and one character); memchr finds the quotes. A case's document is mostly strings, and the
 * writer finds its taskIds at every createTask of the case: 92,000 instructions a createTask
 * with the byte loop this replaces, 39,000 with memchr (100 tasks a case). */
static const char *skip_string(const char *s, const char *end)
{
    const char *from = s + 1;
    for (;;) {
        const char *q = memchr(from, '"', (size_t)(end - from));
        if (!q)
            return NULL;
        const char *b = q;
        while (b > s + 1 && b[-1] == '\\')
            b--;
        if ((q - b) % 2 == 0)
            return q + 1;
        from = q + 1;
    }
}

static const char *skip_ws_text(const char *s, const char *end)
{
    while (s < end && (*s == ' ' || *s == '\n' || *s == '\r' || *s == '\t'))
        s++;
    return s;
}

/* Where the value of the top-level member key of the object text starts (past the colon and
 * blanks), or NULL when text is not an object or has no such member. Member names are compared
 * as written, so a name spelled with escapes is not found (the callers then fall back to parsing
 * the whole text). */
static const char *member_value(const char *text, size_t len, const char *key)
{
    const char *s = skip_ws_text(text, text + len), *end = text + len;
    size_t klen = strlen(key);
    if (s >= end || *s != '{')
        return NULL;
    int depth = 0;
    bool key_next = false; /* at depth 1, the next string is a member name */
    while (s < end) {
        char c = *s;
        if (c == '"') {
            const char *after = skip_string(s, end);
            if (!after)
                return NULL;
            if (depth == 1 && key_next && (size_t)(after - s) == klen + 2 &&
                memcmp(s + 1, key, klen) == 0) {
                const char *v = skip_ws_text(after, end);
                if (v >= end || *v != ':')
                    return NULL;
                return skip_ws_text(v + 1, end);
            }
            key_next = false;
            s = after;
            continue;
        }
        if (c == '{' || c == '[') {
            depth++;
            key_next = depth == 1;
        } else if (c == '}' || c == ']') {
            if (--depth <= 0)
                return NULL; /* the top-level object ended without the member */
        } else if (c == ',') {
            key_next = depth == 1;
        }
        s++;
    }
    return NULL;
}

/* text[0..head) + mid[0..n) + text[head + skip..len), heap and NUL-terminated. */
static char *splice(const char *text, size_t len, size_t head, size_t skip, const char *mid,
                    size_t n, size_t *out_len)
{
    size_t tail = len - head - skip;
    char *out = xmalloc(head + n + tail + 1);
    memcpy(out, text, head);
    memcpy(out + head, mid, n);
    memcpy(out + head + n, text + head + skip, tail);
    out[head + n + tail] = '\0';
    if (out_len)
        *out_len = head + n + tail;
    return out;
}

/* splice with str written as a JSON string for the middle; NULL when str is not valid UTF-8. */
static char *splice_string(const char *text, size_t len, size_t head, size_t skip,
                           const char *str, size_t *out_len)
{
    struct out o = {0};
    put_string(&o, str, strlen(str));
    if (o.failed) {
        free(o.p);
        return NULL;
    }
    char *out = splice(text, len, head, skip, o.p, o.len, out_len);
    free(o.p);
    return out;
}

char *jtext_set_bool(const char *text, size_t len, const char *key, bool value, size_t *out_len)
{
    const char *v = member_value(text, len, key), *end = text + len;
    if (!v)
        return NULL;
    size_t avail = (size_t)(end - v), old = 0;
    if (avail >= 4 && memcmp(v, "true", 4) == 0)
        old = 4;
    else if (avail >= 5 && memcmp(v, "false", 5) == 0)
        old = 5;
    else
        return NULL;
    return splice(text, len, (size_t)(v - text), old, value ? "true" : "false", value ? 4 : 5,
                  out_len);
}

char *jtext_set_string(const char *text, size_t len, const char *key, const char *str,
                       size_t *out_len)
{
    const char *v = member_value(text, len, key), *end = text + len;
    if (!v || *v != '"')
        return NULL;
    const char *after = skip_string(v, end);
    if (!after)
        return NULL;
    return splice_string(text, len, (size_t)(v - text), (size_t)(after - v), str,
                         out_len);
}

char *jtext_append_strings(const char *text, size_t len, const char *key,
                           const char *const *strs, size_t n, size_t *out_len)
{
    const char *v = member_value(text, len, key), *end = text + len;
    if (!v || *v != '[')
        return NULL;
    /* the array's closing bracket, and whether anything comes before it */
    const char *s = v + 1;
    bool empty = true;
    int depth = 1;
    while (s < end) {
        char c = *s;
        if (c == '"') {
            s = skip_string(s, end);
            if (!s)
                return NULL;
            empty = false;
            continue;
        }
        if (c == '[' || c == '{') {
            depth++;
        } else if (c == ']' || c == '}') {
            if (--depth == 0)
                break;
        }
        if (c != ' ' && c != '\n' && c != '\r' && c != '\t')
            empty = false;
        s++;
    }
    if (s >= end || *s != ']')
        return NULL;
    struct out o = {0};
    for (size_t i = 0; i < n && !o.failed; i++) {
        if (i > 0 || !empty)
            put_char(&o, ',');
        put_string(&o, strs[i], strlen(strs[i]));
    }
    if (o.failed) {
        free(o.p);
        return NULL;
    }
    char *out = splice(text, len, (size_t)(s - text), 0, o.p ? o.p : "", o.len, out_len);
    free(o.p);
    return out;
}
