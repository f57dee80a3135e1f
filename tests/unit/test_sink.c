#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sink.h"

/* Writes s as a JSON string through a memory sink of initial capacity cap; returns the text. */
static char *json_string(const char *s, size_t n, size_t cap)
{
    struct sink out;
    cr_assert_eq(sink_init_mem(&out, cap), 0);
    sink_json_string(&out, s, n);
    sink_putc(&out, '\0');
    cr_assert_eq(out.err, 0);
    char *text = strdup(out.buf);
    sink_free(&out);
    return text;
}

Test(sink, json_strings_are_escaped_short_or_long_with_room_or_without)
{
    static const struct {
        const char *in;
        size_t len;
        const char *want;
    } cases[] = {
        {"", 0, "\"\""},
        {"p0", 2, "\"p0\""},
        {"a\"b", 3, "\"a\\\"b\""},
        {"back\\slash", 10, "\"back\\\\slash\""},
        {"tab\there\n", 9, "\"tab\\there\\n\""},
        {"nul\0x", 5, "\"nul\\u0000x\""},
        {"\x1f\b\f\r", 4, "\"\\u001f\\b\\f\\r\""},
        {"caf\xc3\xa9 / \xe2\x82\xac", 11, "\"caf\xc3\xa9 / \xe2\x82\xac\""},
        {"sixteen chars ok", 16, "\"sixteen chars ok\""},
        {"seventeen chars \"", 17, "\"seventeen chars \\\"\""},
        {"a longer string that takes the general path", 43,
         "\"a longer string that takes the general path\""},
    };
    /* capacity 1 forces the growing path; 256 leaves room for the inline one */
    for (size_t cap = 1; cap <= 256; cap += 255) {
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
            char *got = json_string(cases[i].in, cases[i].len, cap);
            cr_expect_str_eq(got, cases[i].want, "case %zu, capacity %zu", i, cap);
            free(got);
        }
    }
}

Test(sink, fd_sink_flushes_a_string_that_does_not_fit)
{
    char path[] = "/tmp/wherelog-test-sinkXXXXXX";
    int fd = mkstemp(path);
    struct sink out;
    cr_assert_geq(fd, 0);
    unlink(path);
    cr_assert_eq(sink_init_fd(&out, fd, 8), 0);
    sink_json_string(&out, "abc\"def", 7);
    sink_json_string(&out, "0123456789", 10);
    cr_assert_eq(sink_flush(&out), 0);
    char buf[64] = {0};
    cr_assert_eq(pread(fd, buf, sizeof(buf) - 1, 0), 22);
    cr_expect_str_eq(buf, "\"abc\\\"def\"\"0123456789\"");
    sink_free(&out);
    close(fd);
}
