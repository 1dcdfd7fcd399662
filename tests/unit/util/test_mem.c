/* Unit tests for util/mem: xstrpack. */
#include <criterion/criterion.h>

#include <stdlib.h>
#include <string.h>

#include "util/mem.h"

Test(mem, xstrpack_copies_each_string_and_leaves_null_ones)
{
    char a[] = "alpha", c[] = "";
    const char *fa = a, *fb = NULL, *fc = c;
    const char **const fields[] = {&fa, &fb, &fc};
    char *block = xstrpack(fields, 3);
    cr_expect_neq(fa, a, "a copy");
    cr_expect_str_eq(fa, "alpha");
    cr_expect_null(fb);
    cr_expect_str_eq(fc, "");
    cr_expect_eq(fa, block, "the copies are the block's");
    cr_expect_eq(fc, block + strlen("alpha") + 1);
    memset(a, 'x', strlen(a)); /* the originals may go */
    cr_expect_str_eq(fa, "alpha");
    free(block);

    const char *none = NULL;
    const char **const empty[] = {&none};
    block = xstrpack(empty, 1); /* nothing to copy: still a block to free */
    cr_expect_not_null(block);
    cr_expect_null(none);
    free(block);
}
