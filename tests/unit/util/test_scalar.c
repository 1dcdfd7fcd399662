/* Unit tests for util/scalar: the text a scalar is matched by, and whole numbers. */
#include <criterion/criterion.h>

#include "util/scalar.h"

#include <stdlib.h>

Test(scalar, text_of_an_integral_real_is_the_integer)
{
    char buf[SCALAR_BUF];
    json_t *three = json_integer(3), *three_real = json_real(3.0), *half = json_real(2.5);
    cr_expect_str_eq(scalar_text(three, buf), "3");
    cr_expect_str_eq(scalar_text(three_real, buf), "3");
    cr_expect_str_eq(scalar_text(half, buf), "2.5");
    json_t *big = json_real(9007199254740992.0);
    cr_expect_str_eq(scalar_text(big, buf), "9007199254740992"); /* %.17g past 2^53 */
    json_decref(big);
    cr_expect_null(scalar_text(json_null(), buf));
    json_decref(three);
    json_decref(three_real);
    json_decref(half);
}

/* A client that writes every number as a float sends limit 10.0: that is 10. */
Test(scalar, whole_numbers_integers_and_reals_without_a_fraction)
{
    static const struct {
        const char *json;
        bool whole;
        json_int_t value;
    } cases[] = {
        {"[10]", true, 10},         {"[10.0]", true, 10},        {"[-1.0]", true, -1},
        {"[0.0]", true, 0},         {"[1e2]", true, 100},        {"[10.5]", false, 0},
        {"[1e300]", false, 0},      {"[9007199254740991.0]", true, 9007199254740991LL},
        {"[9007199254740992.0]", false, 0}, /* 2^53: where scalar_text writes %.17g */
        {"[\"10\"]", false, 0},     {"[true]", false, 0},        {"[null]", false, 0},
        {"[-9007199254740994.0]", false, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        json_t *a = json_loads(cases[i].json, 0, NULL);
        cr_assert_not_null(a, "%s", cases[i].json);
        json_int_t n = -7;
        cr_expect_eq(scalar_whole(json_array_get(a, 0), &n), cases[i].whole, "%s", cases[i].json);
        if (cases[i].whole)
            cr_expect_eq(n, cases[i].value, "%s", cases[i].json);
        json_decref(a);
    }
}

/* A number with a fraction is written as documents show it, in the fewest of 15-17 digits that
 * read back as it, in jansson's notation (2.5e-5): the number 19.99 and the text "19.99" match.
 * It was %.17g, 19.989999999999998, which the text never matched while 0.5 and "0.5" did. */
Test(scalar, a_real_in_its_shortest_text)
{
    static const struct {
        double d;
        const char *text, *legacy; /* legacy: what was stored before, NULL when the same */
    } cases[] = {
        {19.99, "19.99", "19.989999999999998"},
        {0.1, "0.1", "0.10000000000000001"},
        {0.1 + 0.2, "0.30000000000000004", NULL},
        {2.5e-5, "2.5e-5", "2.5000000000000001e-05"},
        {0.5, "0.5", NULL},
        {-3.25, "-3.25", NULL},
        {1.0 / 3.0, "0.3333333333333333", "0.33333333333333331"},
        {-19.99, "-19.99", "-19.989999999999998"},
        {1e-5, "1e-5", "1.0000000000000001e-05"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char buf[SCALAR_BUF], old[SCALAR_BUF];
        json_t *v = json_real(cases[i].d);
        cr_expect_str_eq(scalar_text(v, buf), cases[i].text);
        cr_expect_eq(strtod(buf, NULL), cases[i].d, "%s reads back", buf);
        cr_expect_eq(scalar_legacy_text(v, old), cases[i].legacy != NULL, "%s", cases[i].text);
        if (cases[i].legacy)
            cr_expect_str_eq(old, cases[i].legacy);
        /* the text as a string value has the same legacy form: "19.99" found 19.99 stored then */
        json_t *s = json_string(cases[i].text);
        cr_expect_eq(scalar_legacy_text(s, old), cases[i].legacy != NULL, "\"%s\"", cases[i].text);
        if (cases[i].legacy)
            cr_expect_str_eq(old, cases[i].legacy);
        json_decref(s);
        json_decref(v);
    }
    /* whole numbers past 2^53 as before, so the integer they equal still matches: 1e16 from a
     * client that writes floats, and 10000000000000000 */
    static const struct {
        const char *json, *text;
    } whole[] = {{"[1e16]", "10000000000000000"}, {"[10000000000000000]", "10000000000000000"},
                 {"[9007199254740992.0]", "9007199254740992"}, {"[1e300]", "1.0000000000000001e+300"},
                 {"[-1.5e300]", "-1.5000000000000001e+300"}};
    for (size_t i = 0; i < sizeof whole / sizeof whole[0]; i++) {
        json_t *a = json_loads(whole[i].json, 0, NULL);
        char buf[SCALAR_BUF], old[SCALAR_BUF];
        cr_expect_str_eq(scalar_text(json_array_get(a, 0), buf), whole[i].text, "%s", whole[i].json);
        cr_expect_not(scalar_legacy_text(json_array_get(a, 0), old), "%s", whole[i].json);
        json_decref(a);
    }
    /* no legacy form: integers, integral reals, other texts, texts not in the shortest form */
    static const char *none[] = {"[5]", "[5.0]", "[\"5\"]", "[\"19.990\"]", "[\"abc\"]", "[\"\"]",
                                 "[true]", "[\"1e400\"]", "[\"19.99 \"]"};
    for (size_t i = 0; i < sizeof none / sizeof none[0]; i++) {
        json_t *a = json_loads(none[i], 0, NULL);
        char old[SCALAR_BUF];
        cr_expect_not(scalar_legacy_text(json_array_get(a, 0), old), "%s", none[i]);
        json_decref(a);
    }
}
