#include <criterion/criterion.h>
#include <string.h>

#include "tally.h"
#include "wl.h"

Test(tally, counts_each_reason_until_full_then_the_rest_as_other)
{
    struct tally_entry entries[3];
    struct tally t;
    const char *seen[] = {"a", "b", "a", "c", "d", "a", "e", "b"};
    tally_init(&t, entries, WL_ARRAY_LEN(entries));
    for (size_t i = 0; i < WL_ARRAY_LEN(seen); i++)
        tally_add(&t, seen[i]);
    cr_assert_eq(t.n, 3, "three distinct reasons fit");
    cr_expect_str_eq(entries[0].text, "a");
    cr_expect_eq(entries[0].count, 3);
    cr_expect_str_eq(entries[1].text, "b");
    cr_expect_eq(entries[1].count, 2, "a reason already counted is counted on when full");
    cr_expect_str_eq(entries[2].text, "c");
    cr_expect_eq(entries[2].count, 1);
    cr_expect_eq(t.other, 2, "d and e came when all entries were taken");
}

Test(tally, counts_a_long_reason_by_its_first_bytes)
{
    struct tally_entry entries[4];
    struct tally t;
    char a[OWNTRACKS_REASON_MAX + 40], b[OWNTRACKS_REASON_MAX + 40];
    memset(a, 'x', sizeof(a) - 1);
    a[sizeof(a) - 1] = '\0';
    memcpy(b, a, sizeof(b));
    b[sizeof(b) - 2] = 'y'; /* differs only past what an entry keeps */
    tally_init(&t, entries, WL_ARRAY_LEN(entries));
    tally_add(&t, a);
    tally_add(&t, b);
    cr_assert_eq(t.n, 1);
    cr_expect_eq(entries[0].count, 2);
    cr_expect_eq(strlen(entries[0].text), OWNTRACKS_REASON_MAX - 1);
}

Test(tally, groups_away_the_numbers_of_a_reason)
{
    char out[64];
    tally_group("lat 91 out of range", out, sizeof(out));
    cr_expect_str_eq(out, "lat N out of range");
    tally_group("tst -12.5e3 before 1970, acc 0.5", out, sizeof(out));
    cr_expect_str_eq(out, "tst N before N, acc N");
    tally_group("v2 is odd", out, sizeof(out));
    cr_expect_str_eq(out, "vN is odd");
    tally_group("a long reason that does not fit", out, 8);
    cr_expect_str_eq(out, "a long", "cut to fit (a byte to spare), NUL-terminated");
}
