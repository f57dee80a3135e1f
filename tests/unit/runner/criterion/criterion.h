/* criterion/criterion.h (the project's unit runner) - the part of criterion's API that the
 * unit tests use, so that the same test files build and run where Debian ships no criterion
 * (armhf). tests/meson.build puts this directory on the include path only when it chooses
 * this runner (-Dunit_runner=builtin, or auto without criterion); elsewhere the tests include
 * the real <criterion/criterion.h>.
 *
 * What it keeps of criterion's behaviour, because the tests rely on it:
 *   - Test(suite, name, .init = f, .fini = g, ...) and TestSuite(suite, ...) with criterion's
 *     option names (.init, .fini, .disabled, .description, .timeout, .signal, .exit_code);
 *     the suite's .init runs before the test's and its .fini after the test's; for the
 *     other options the test's, when set, override the suite's.
 *   - Each test runs in a process of its own (fork), so a crash, a leak of static state or an
 *     exit() ends that test only; .init runs before the body and .fini after it, also after
 *     a failed cr_assert.
 *   - cr_assert_* ends the test at the first failure; cr_expect_* records it and goes on.
 *     Operands are evaluated once, as written ((a) == (b)), and the message is optional:
 *     a printf format and its arguments.
 *   - The command line: --jobs N (-jN) tests at once, --filter GLOB on "suite/name",
 *     --list, --verbose; the exit status is 0 only when every test that ran passed.
 * What it leaves out: theories, parameterized tests, the new cr_assert(eq(...)) API, output
 * redirection helpers, and reports in other formats.
 *
 * Threads: a test body may start threads. A failed check in any of them fails the test;
 * cr_assert_* ends the test only in the test's own thread (it cannot jump out of another
 * thread's stack), so another thread records the failure and goes on.
 */
#ifndef WL_UNIT_RUNNER_CRITERION_H
#define WL_UNIT_RUNNER_CRITERION_H

#include <stdbool.h>
#include <stddef.h>
#include <string.h>

/* An optional message is passed as the string literal "" glued to the caller's format, so
 * "no message" is the empty format: legal C, which -Wformat only warns about. */
#pragma GCC diagnostic ignored "-Wformat-zero-length"

/* Criterion's test and suite options, by their names. */
struct criterion_test_extra_data {
    int unused_; /* so that an empty option list still initialises something */
    void (*init)(void);
    void (*fini)(void);
    bool disabled;
    const char *description;
    double timeout; /* seconds; 0 for none */
    int signal;     /* the test passes only if it dies by this signal */
    int exit_code;  /* the test passes only if it exits with this status */
};

struct wlu_test {
    const char *suite;
    const char *name;
    void (*body)(void);
    struct criterion_test_extra_data options;
    int line;
    const char *file;
};

struct wlu_suite {
    const char *name;
    struct criterion_test_extra_data options;
};

/* Called by the constructors that Test and TestSuite define; the tables they add to live
 * until the process ends. */
void wlu_register_test(const struct wlu_test *test);
void wlu_register_suite(const struct wlu_suite *suite);

/* Records a failed check at file:line: what is the text of the check, fmt the caller's message
 * (may be empty). If fatal and called from the test's thread, ends the test (after .fini). */
void wlu_failed(bool fatal, const char *file, int line, const char *what, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
/* Ends the test as skipped, with a message. */
void wlu_skip(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
/* A line in the test's output, as criterion's cr_log does. */
void wlu_log(const char *level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define WLU_CAT_(a, b) a##b
#define WLU_CAT(a, b)  WLU_CAT_(a, b)

#define Test(suite_, name_, ...)                                                                   \
    static void WLU_CAT(wlu_body_, WLU_CAT(suite_, WLU_CAT(_, name_)))(void);                      \
    static const struct wlu_test WLU_CAT(wlu_test_, WLU_CAT(suite_, WLU_CAT(_, name_))) = {        \
        .suite = #suite_,                                                                          \
        .name = #name_,                                                                            \
        .body = WLU_CAT(wlu_body_, WLU_CAT(suite_, WLU_CAT(_, name_))),                            \
        .options = {.unused_ = 0, __VA_ARGS__},                                                    \
        .line = __LINE__,                                                                          \
        .file = __FILE__};                                                                         \
    __attribute__((constructor)) static void WLU_CAT(wlu_reg_,                                     \
                                                     WLU_CAT(suite_, WLU_CAT(_, name_)))(void)     \
    {                                                                                              \
        wlu_register_test(&WLU_CAT(wlu_test_, WLU_CAT(suite_, WLU_CAT(_, name_))));                \
    }                                                                                              \
    static void WLU_CAT(wlu_body_, WLU_CAT(suite_, WLU_CAT(_, name_)))(void)

#define TestSuite(suite_, ...)                                                                     \
    static const struct wlu_suite WLU_CAT(wlu_suite_, suite_) = {                                  \
        .name = #suite_, .options = {.unused_ = 0, __VA_ARGS__}};                                  \
    __attribute__((constructor)) static void WLU_CAT(wlu_suite_reg_, suite_)(void)                 \
    {                                                                                              \
        wlu_register_suite(&WLU_CAT(wlu_suite_, suite_));                                          \
    }                                                                                              \
    extern int wlu_suite_declared_

/* One check: cond is evaluated once; the message, if any, only on failure. */
#define WLU_CHECK(fatal, cond, what, ...)                                                          \
    do {                                                                                           \
        if (!(cond))                                                                               \
            wlu_failed((fatal), __FILE__, __LINE__, (what), "" __VA_ARGS__);                       \
    } while (0)

#define cr_assert(cond, ...)     WLU_CHECK(true, (cond), #cond, __VA_ARGS__)
#define cr_expect(cond, ...)     WLU_CHECK(false, (cond), #cond, __VA_ARGS__)
#define cr_assert_not(cond, ...) WLU_CHECK(true, !(cond), "!(" #cond ")", __VA_ARGS__)
#define cr_expect_not(cond, ...) WLU_CHECK(false, !(cond), "!(" #cond ")", __VA_ARGS__)
#define cr_assert_fail(...)      wlu_failed(true, __FILE__, __LINE__, "cr_assert_fail", "" __VA_ARGS__)
#define cr_expect_fail(...)      wlu_failed(false, __FILE__, __LINE__, "cr_expect_fail", "" __VA_ARGS__)
#define cr_skip_test(...)        wlu_skip("" __VA_ARGS__)

#define WLU_OP(fatal, op, a, b, ...) WLU_CHECK(fatal, (a)op(b), #a " " #op " " #b, __VA_ARGS__)
#define cr_assert_eq(a, b, ...)      WLU_OP(true, ==, a, b, __VA_ARGS__)
#define cr_expect_eq(a, b, ...)      WLU_OP(false, ==, a, b, __VA_ARGS__)
#define cr_assert_neq(a, b, ...)     WLU_OP(true, !=, a, b, __VA_ARGS__)
#define cr_expect_neq(a, b, ...)     WLU_OP(false, !=, a, b, __VA_ARGS__)
#define cr_assert_lt(a, b, ...)      WLU_OP(true, <, a, b, __VA_ARGS__)
#define cr_expect_lt(a, b, ...)      WLU_OP(false, <, a, b, __VA_ARGS__)
#define cr_assert_leq(a, b, ...)     WLU_OP(true, <=, a, b, __VA_ARGS__)
#define cr_expect_leq(a, b, ...)     WLU_OP(false, <=, a, b, __VA_ARGS__)
#define cr_assert_gt(a, b, ...)      WLU_OP(true, >, a, b, __VA_ARGS__)
#define cr_expect_gt(a, b, ...)      WLU_OP(false, >, a, b, __VA_ARGS__)
#define cr_assert_geq(a, b, ...)     WLU_OP(true, >=, a, b, __VA_ARGS__)
#define cr_expect_geq(a, b, ...)     WLU_OP(false, >=, a, b, __VA_ARGS__)

#define cr_assert_null(p, ...)     WLU_CHECK(true, (p) == NULL, #p " == NULL", __VA_ARGS__)
#define cr_expect_null(p, ...)     WLU_CHECK(false, (p) == NULL, #p " == NULL", __VA_ARGS__)
#define cr_assert_not_null(p, ...) WLU_CHECK(true, (p) != NULL, #p " != NULL", __VA_ARGS__)
#define cr_expect_not_null(p, ...) WLU_CHECK(false, (p) != NULL, #p " != NULL", __VA_ARGS__)

/* As in criterion: |a - b| <= epsilon, written without fabs so that no libm is needed. */
#define WLU_NEAR(a, b, eps) ((a) - (b) <= (eps) && (b) - (a) <= (eps))
#define cr_assert_float_eq(a, b, eps, ...)                                                         \
    WLU_CHECK(true, WLU_NEAR(a, b, eps), #a " == " #b " (within " #eps ")", __VA_ARGS__)
#define cr_expect_float_eq(a, b, eps, ...)                                                         \
    WLU_CHECK(false, WLU_NEAR(a, b, eps), #a " == " #b " (within " #eps ")", __VA_ARGS__)
#define cr_assert_float_neq(a, b, eps, ...)                                                        \
    WLU_CHECK(true, !WLU_NEAR(a, b, eps), #a " != " #b " (within " #eps ")", __VA_ARGS__)
#define cr_expect_float_neq(a, b, eps, ...)                                                        \
    WLU_CHECK(false, !WLU_NEAR(a, b, eps), #a " != " #b " (within " #eps ")", __VA_ARGS__)

#define WLU_STR(fatal, op, a, b, ...)                                                              \
    WLU_CHECK(fatal, strcmp((a), (b)) op 0, "strcmp(" #a ", " #b ") " #op " 0", __VA_ARGS__)
#define cr_assert_str_eq(a, b, ...)  WLU_STR(true, ==, a, b, __VA_ARGS__)
#define cr_expect_str_eq(a, b, ...)  WLU_STR(false, ==, a, b, __VA_ARGS__)
#define cr_assert_str_neq(a, b, ...) WLU_STR(true, !=, a, b, __VA_ARGS__)
#define cr_expect_str_neq(a, b, ...) WLU_STR(false, !=, a, b, __VA_ARGS__)
#define cr_assert_str_lt(a, b, ...)  WLU_STR(true, <, a, b, __VA_ARGS__)
#define cr_expect_str_lt(a, b, ...)  WLU_STR(false, <, a, b, __VA_ARGS__)
#define cr_assert_str_gt(a, b, ...)  WLU_STR(true, >, a, b, __VA_ARGS__)
#define cr_expect_str_gt(a, b, ...)  WLU_STR(false, >, a, b, __VA_ARGS__)
#define cr_assert_str_empty(s, ...)  WLU_CHECK(true, (s)[0] == '\0', #s " is empty", __VA_ARGS__)
#define cr_expect_str_empty(s, ...)  WLU_CHECK(false, (s)[0] == '\0', #s " is empty", __VA_ARGS__)
#define cr_assert_str_not_empty(s, ...)                                                            \
    WLU_CHECK(true, (s)[0] != '\0', #s " is not empty", __VA_ARGS__)
#define cr_expect_str_not_empty(s, ...)                                                            \
    WLU_CHECK(false, (s)[0] != '\0', #s " is not empty", __VA_ARGS__)

#define cr_assert_arr_eq(a, b, size, ...)                                                          \
    WLU_CHECK(true, memcmp((a), (b), (size)) == 0, #a " and " #b " are equal", __VA_ARGS__)
#define cr_expect_arr_eq(a, b, size, ...)                                                          \
    WLU_CHECK(false, memcmp((a), (b), (size)) == 0, #a " and " #b " are equal", __VA_ARGS__)
#define cr_assert_arr_neq(a, b, size, ...)                                                         \
    WLU_CHECK(true, memcmp((a), (b), (size)) != 0, #a " and " #b " differ", __VA_ARGS__)
#define cr_expect_arr_neq(a, b, size, ...)                                                         \
    WLU_CHECK(false, memcmp((a), (b), (size)) != 0, #a " and " #b " differ", __VA_ARGS__)

#define cr_log_info(...)  wlu_log("INFO", __VA_ARGS__)
#define cr_log_warn(...)  wlu_log("WARN", __VA_ARGS__)
#define cr_log_error(...) wlu_log("ERR", __VA_ARGS__)

#endif
