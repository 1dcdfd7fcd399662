/* Unit tests for util/scalar: the text a scalar is matched by, and whole numbers. */
#include <criterion/criterion.h>

#include "util/scalar.h"

Test(scalar, text_of_an_integral_real_is_the_integer)
{
    char buf[SCALAR_BUF];
    json_t *three = json_integer(3), *three_real = json_real(3.0), *half = json_real(2.5);
    cr_expect_str_eq(scalar_text(three, buf), "3");
    cr_expect_str_eq(scalar_text(three_real, buf), "3");
    cr_expect_str_eq(scalar_text(half, buf), "2.5");
    json_t *big = json_real(9007199254740992.0);
    cr_expect_str_eq(scalar_text(big, buf), "9007199254740992");
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
