/* Unit tests for util/id: the shapes of API.md §3 (UUID v4, prefix + 7-4-4-4-12), uniqueness,
 * and the path-segment rule for ids that users and streams bring. */
#include <criterion/criterion.h>

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "util/id.h"
#include "util/mem.h"

static bool is_lower_hex(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
}

static int hex_value(char c)
{
    return c <= '9' ? c - '0' : c - 'a' + 10;
}

/* True when s is hex groups of the given lengths joined by '-', and nothing more. */
static bool has_groups(const char *s, const size_t *groups, size_t ngroups)
{
    for (size_t g = 0; g < ngroups; g++) {
        for (size_t i = 0; i < groups[g]; i++, s++)
            if (!is_lower_hex(*s))
                return false;
        if (g + 1 < ngroups && *s++ != '-')
            return false;
    }
    return *s == '\0';
}

static bool is_uuid_v4(const char *s)
{
    static const size_t groups[] = {8, 4, 4, 4, 12};
    return has_groups(s, groups, 5) && s[14] == '4' && strchr("89ab", s[19]) != NULL;
}

/* The vendor's shape after the prefix: a v4 UUID without its first hex digit. */
static bool is_short_uuid_v4(const char *s)
{
    static const size_t groups[] = {7, 4, 4, 4, 12};
    return has_groups(s, groups, 5) && s[13] == '4' && strchr("89ab", s[18]) != NULL;
}

static int cmp_ids(const void *a, const void *b)
{
    return strcmp(a, b);
}

Test(util_id, uuid_is_v4_lower_hex_8_4_4_4_12)
{
    for (int i = 0; i < 1000; i++) {
        char u[37];
        memset(u, 'X', sizeof u);
        id_uuid(u);
        cr_assert_eq(strlen(u), 36, "length of %s", u);
        cr_assert(is_uuid_v4(u), "not a v4 UUID: %s", u);
    }
}

Test(util_id, uuid_random_nibbles_take_every_value)
{
    /* Each free nibble position must show all 16 values over 4000 draws, and the variant nibble
     * all of 8, 9, a, b: a constant or biased position means the randomness is not used. */
    unsigned seen[36] = {0};
    for (int i = 0; i < 4000; i++) {
        char u[37];
        id_uuid(u);
        for (int p = 0; p < 36; p++)
            if (is_lower_hex(u[p]))
                seen[p] |= 1u << hex_value(u[p]);
    }
    for (int p = 0; p < 36; p++) {
        if (p == 8 || p == 13 || p == 18 || p == 23)
            continue;
        if (p == 14)
            cr_assert_eq(seen[p], 1u << 4, "version nibble");
        else if (p == 19)
            cr_assert_eq(seen[p], 0xf00u, "variant nibble takes 8..b: %#x", seen[p]);
        else
            cr_assert_eq(seen[p], 0xffffu, "position %d saw only %#x", p, seen[p]);
    }
}

Test(util_id, new_is_prefix_plus_7_4_4_4_12)
{
    static const char *const prefixes[] = {"ci-", "ti-", "sts-", "pr-", "fd-",
                                           "qu-", "ac-", "ctm-", "ttm-"};
    for (size_t p = 0; p < sizeof prefixes / sizeof prefixes[0]; p++) {
        for (int i = 0; i < 200; i++) {
            char id[ID_MAX];
            id_new(prefixes[p], id);
            size_t plen = strlen(prefixes[p]);
            cr_assert_eq(strncmp(id, prefixes[p], plen), 0, "%s lacks prefix %s", id, prefixes[p]);
            cr_assert_eq(strlen(id), plen + 35, "length of %s", id);
            cr_assert(is_short_uuid_v4(id + plen), "not prefix + 7-4-4-4-12 v4: %s", id);
        }
    }
}

Test(util_id, new_with_empty_prefix_and_longest_prefix_that_fits)
{
    char id[ID_MAX];
    id_new("", id);
    cr_assert(is_short_uuid_v4(id), "%s", id);

    /* ID_MAX promises room for prefix + UUID + NUL: 12 prefix bytes + 35 + NUL = 48. */
    id_new("abcdefghijk-", id);
    cr_assert_eq(strlen(id), 47);
    cr_assert(is_short_uuid_v4(id + 12), "%s", id);
}

Test(util_id, ids_are_valid_segments)
{
    char u[37], id[ID_MAX];
    id_uuid(u);
    id_new("ti-", id);
    cr_assert(id_valid_segment(u, strlen(u)));
    cr_assert(id_valid_segment(id, strlen(id)));
}

Test(util_id, hundred_thousand_ids_are_distinct)
{
    enum { N = 100000 };
    char(*ids)[ID_MAX] = xmalloc(sizeof *ids * N);
    for (size_t i = 0; i < N; i++)
        id_new("ti-", ids[i]);
    qsort(ids, N, sizeof *ids, cmp_ids);
    for (size_t i = 1; i < N; i++)
        cr_assert_str_neq(ids[i - 1], ids[i], "duplicate id %s", ids[i]);
    free(ids);
}

Test(util_id, hundred_thousand_uuids_are_distinct)
{
    enum { N = 100000 };
    char(*ids)[37] = xmalloc(sizeof *ids * N);
    for (size_t i = 0; i < N; i++)
        id_uuid(ids[i]);
    qsort(ids, N, sizeof *ids, cmp_ids);
    for (size_t i = 1; i < N; i++)
        cr_assert_str_neq(ids[i - 1], ids[i], "duplicate uuid %s", ids[i]);
    free(ids);
}

Test(util_id, random_fills_the_whole_buffer)
{
    /* 64 bytes all zero after id_random has probability 2^-512. */
    unsigned char buf[64] = {0};
    id_random(buf, sizeof buf);
    size_t zero = 0;
    for (size_t i = 0; i < sizeof buf; i++)
        zero += buf[i] == 0;
    cr_assert_lt(zero, 16, "%zu of 64 bytes are zero", zero);
    id_random(buf, 0); /* no bytes asked, nothing written, no hang */
}

Test(util_id, segment_length_1_to_128)
{
    char s[200];
    memset(s, 'a', sizeof s);
    cr_assert_not(id_valid_segment("", 0), "empty");
    cr_assert(id_valid_segment(s, 1));
    cr_assert(id_valid_segment(s, 128));
    cr_assert_not(id_valid_segment(s, 129));
    cr_assert_not(id_valid_segment(s, 200));
}

Test(util_id, segment_accepts_exactly_alnum_dot_underscore_dash)
{
    for (int c = 0; c < 256; c++) {
        char s[3] = {'a', (char)c, 'b'};
        bool allowed = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                       c == '.' || c == '_' || c == '-';
        cr_assert_eq(id_valid_segment(s, 3), allowed, "byte 0x%02x", c);
        cr_assert_eq(id_valid_segment(s + 1, 1), allowed, "byte 0x%02x alone", c);
    }
}

Test(util_id, segment_refusals)
{
    static const char *const bad[] = {
        "st-1/updateTask",
        "a%2Fb",
        "%00",
        "a b",
        "a\tb",
        "caf\xc3\xa9",
        "\xe2\x80\x8b",
        "\xff",
        "a+b",
        "a:b",
        "a?b",
        "a#b",
        "a\\b",
        "~a",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        cr_assert_not(id_valid_segment(bad[i], strlen(bad[i])), "accepted \"%s\"", bad[i]);

    cr_assert_not(id_valid_segment("ab\0cd", 5), "embedded NUL");
}

Test(util_id, segment_reads_only_len_bytes)
{
    cr_assert(id_valid_segment("abc/def", 3));
    cr_assert(id_valid_segment("u-fd371c0a-3168-5a02-83dd-f4ba5597abcd", 38));
    cr_assert(id_valid_segment("..", 2)); /* the rule is a character set; ".." is in it */
    char *exact = xmalloc(5);             /* no NUL: ASan catches a read past len */
    memcpy(exact, "st-12", 5);
    cr_assert(id_valid_segment(exact, 5));
    free(exact);
}
