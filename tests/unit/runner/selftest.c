/* selftest.c - tests of the unit runner itself, most of which must fail in a given way:
 * check_runner.py runs this program and compares each verdict and output with what the
 * runner promises (criterion/criterion.h). Built only against the project's runner. */
#include <criterion/criterion.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

Test(checks, pass_when_they_hold)
{
    const char *s = "abc";
    double third = 1.0 / 3.0;
    cr_assert(1 + 1 == 2);
    cr_expect_not(0);
    cr_assert_eq(2 + 2, 4, "with a message %d", 4);
    cr_expect_neq(1, 2);
    cr_expect_lt(1, 2);
    cr_expect_leq(2, 2);
    cr_expect_gt(3, 2);
    cr_expect_geq(3, 3);
    cr_assert_null(NULL);
    cr_assert_not_null(s);
    cr_assert_str_eq(s, "abc");
    cr_expect_str_neq(s, "abd");
    cr_expect_str_empty("");
    cr_expect_str_not_empty(s);
    cr_expect_float_eq(third * 3.0, 1.0, 1e-12);
    cr_expect_float_neq(third, 0.34, 1e-6);
    cr_expect_arr_eq(s, "abc", 3);
}

static int calls;

static int count_call(void)
{
    return ++calls;
}

Test(checks, evaluate_their_operands_once)
{
    cr_assert_eq(count_call(), 1);
    cr_assert_eq(calls, 1, "the operand was evaluated %d times", calls);
}

Test(checks, a_failed_assert_ends_the_test)
{
    cr_assert_eq(1, 2, "one is not %d", 2);
    printf("REACHED AFTER A FAILED ASSERT\n");
}

Test(checks, a_failed_expect_goes_on)
{
    cr_expect_str_eq("a", "b", "letters %s", "differ");
    printf("REACHED AFTER A FAILED EXPECT\n");
}

static void *fail_in_a_thread(void *arg)
{
    (void)arg;
    cr_assert_eq(1, 2, "in a helper thread");
    printf("THREAD WENT ON\n");
    return NULL;
}

Test(checks, a_failure_in_a_helper_thread_fails_the_test)
{
    pthread_t thread;
    cr_assert_eq(pthread_create(&thread, NULL, fail_in_a_thread, NULL), 0);
    pthread_join(thread, NULL);
    printf("MAIN WENT ON\n");
}

static void suite_init(void)
{
    printf("ORDER suite-init\n");
}

static void suite_fini(void)
{
    printf("ORDER suite-fini\n");
}

static void test_init(void)
{
    printf("ORDER test-init\n");
}

static void test_fini(void)
{
    printf("ORDER test-fini\n");
}

TestSuite(fixtures, .init = suite_init, .fini = suite_fini);

Test(fixtures, run_around_the_body_even_after_a_failure, .init = test_init, .fini = test_fini)
{
    printf("ORDER body\n");
    cr_assert_fail("failing on purpose");
    printf("ORDER after-failure\n");
}

static int state;

Test(isolation, first_sees_fresh_state)
{
    cr_assert_eq(state++, 0, "each test runs in a fresh process");
}

Test(isolation, second_sees_fresh_state)
{
    cr_assert_eq(state++, 0, "each test runs in a fresh process");
}

Test(outcomes, a_crash_is_reported)
{
    raise(SIGSEGV);
}

Test(outcomes, an_expected_signal_passes, .signal = SIGABRT)
{
    abort();
}

Test(outcomes, an_expected_signal_that_never_comes_fails, .signal = SIGABRT)
{
}

Test(outcomes, an_expected_exit_code_passes, .exit_code = 3)
{
    exit(3);
}

Test(outcomes, an_unexpected_exit_fails)
{
    exit(0);
}

Test(outcomes, a_disabled_test_is_skipped, .disabled = true)
{
    cr_assert_fail("a disabled test must not run");
}

Test(outcomes, a_test_can_skip_itself)
{
    cr_skip_test("nothing to do here");
    cr_assert_fail("a skipped test stops where it skips");
}

Test(outcomes, a_test_past_its_timeout_is_stopped, .timeout = 1)
{
    for (;;)
        pause();
}
