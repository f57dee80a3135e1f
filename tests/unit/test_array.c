#include <criterion/criterion.h>
#include <stdint.h>
#include <stdlib.h>

#include "array.h"

Test(array, doubles_from_the_first_capacity_until_need_fits)
{
    size_t cap = 0;
    int *v = array_reserve(NULL, &cap, 1, sizeof(*v), 16);
    cr_assert_not_null(v);
    cr_expect_eq(cap, 16);
    int *same = array_reserve(v, &cap, 16, sizeof(*v), 16);
    cr_expect_eq(same, v, "an array that holds need is returned as it is");
    cr_expect_eq(cap, 16);
    v = array_reserve(v, &cap, 17, sizeof(*v), 16);
    cr_assert_not_null(v);
    cr_expect_eq(cap, 32);
    v = array_reserve(v, &cap, 100, sizeof(*v), 16);
    cr_assert_not_null(v);
    cr_expect_eq(cap, 128);
    v[127] = 1; /* all of it is there (the sanitizer build checks) */
    free(v);
}

Test(array, allocates_an_empty_array_even_for_no_elements)
{
    size_t cap = 0;
    char *v = array_reserve(NULL, &cap, 0, 1, 8);
    cr_assert_not_null(v, "NULL means out of memory, never \"nothing needed\"");
    cr_expect_eq(cap, 8);
    free(v);
}

Test(array, refuses_a_size_that_would_overflow_and_keeps_the_array)
{
    size_t cap = 0;
    uint64_t *v = array_reserve(NULL, &cap, 4, sizeof(*v), 4);
    cr_assert_not_null(v);
    v[3] = 42;
    cr_expect_null(array_reserve(v, &cap, SIZE_MAX / 4, sizeof(*v), 4));
    cr_expect_null(array_reserve(v, &cap, SIZE_MAX, 1, 4));
    cr_expect_eq(cap, 4, "the capacity is unchanged");
    cr_expect_eq(v[3], 42, "the array is still the caller's");
    free(v);
}
