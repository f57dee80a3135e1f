#!/usr/bin/python3
"""Tests the project's unit runner (tests/unit/runner) through selftest.c's program.

    check_runner.py PATH-TO-unit-runner-selftest

Most of selftest.c's tests fail on purpose; this script checks that each gets the verdict
and the output that criterion/criterion.h promises, that the counts and the exit status add
up, and that --filter, --list and bad arguments behave.
"""

import re
import subprocess
import sys
import unittest

PROGRAM = None

EXPECTED = {
    "checks::pass_when_they_hold": "PASS",
    "checks::evaluate_their_operands_once": "PASS",
    "checks::a_failed_assert_ends_the_test": "FAIL",
    "checks::a_failed_expect_goes_on": "FAIL",
    "checks::a_failure_in_a_helper_thread_fails_the_test": "FAIL",
    "fixtures::run_around_the_body_even_after_a_failure": "FAIL",
    "isolation::first_sees_fresh_state": "PASS",
    "isolation::second_sees_fresh_state": "PASS",
    "outcomes::a_crash_is_reported": "CRASH",
    "outcomes::an_expected_signal_passes": "PASS",
    "outcomes::an_expected_signal_that_never_comes_fails": "FAIL",
    "outcomes::an_expected_exit_code_passes": "PASS",
    "outcomes::an_unexpected_exit_fails": "FAIL",
    "outcomes::a_disabled_test_is_skipped": "SKIP",
    "outcomes::a_test_can_skip_itself": "SKIP",
    "outcomes::a_test_past_its_timeout_is_stopped": "CRASH",
}


def run(*args):
    return subprocess.run([PROGRAM, *args], capture_output=True, text=True, timeout=120)


def sections(out):
    """Maps 'suite::name' to (verdict, reason, the output printed under it)."""
    found = {}
    current = None
    for line in out.splitlines():
        m = re.match(r"\[(PASS|FAIL|CRASH|SKIP)\] (\S+?::\w+)(.*)$", line)
        if m:
            current = m.group(2)
            found[current] = (m.group(1), m.group(3), [])
        elif line.startswith("[====]"):
            current = None
        elif current:
            found[current][2].append(line)
    return {k: (v, why, "\n".join(lines)) for k, (v, why, lines) in found.items()}


class Runner(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.p = run("--jobs", "2", "--verbose")
        cls.found = sections(cls.p.stdout)

    def test_every_test_gets_its_verdict(self):
        got = {name: verdict for name, (verdict, _, _) in self.found.items()}
        self.assertEqual(got, EXPECTED, self.p.stdout)

    def test_counts_and_exit_status_add_up(self):
        self.assertEqual(self.p.returncode, 1, "a failed test fails the run")
        m = re.search(r"^\[====\] Synthesis: Tested: (\d+) \| Passing: (\d+) \| Failing: (\d+) "
                      r"\| Crashing: (\d+) \| Skipped: (\d+)$", self.p.stdout, re.M)
        self.assertIsNotNone(m, self.p.stdout)
        values = list(EXPECTED.values())
        tested = len(values) - values.count("SKIP")
        self.assertEqual([int(x) for x in m.groups()],
                         [tested, values.count("PASS"),
                          values.count("FAIL") + values.count("CRASH"), values.count("CRASH"),
                          values.count("SKIP")])

    def output(self, name):
        return self.found[name][2]

    def test_an_assert_ends_the_test_and_an_expect_does_not(self):
        out = self.output("checks::a_failed_assert_ends_the_test")
        self.assertIn("assertion failed: 1 == 2: one is not 2", out)
        self.assertIn("selftest.c:", out, "a failure names its file and line")
        self.assertNotIn("REACHED AFTER A FAILED ASSERT", out)
        out = self.output("checks::a_failed_expect_goes_on")
        self.assertIn('expected: strcmp("a", "b") == 0: letters differ', out)
        self.assertIn("REACHED AFTER A FAILED EXPECT", out)

    def test_a_failure_in_another_thread_is_counted_without_ending_the_test(self):
        out = self.output("checks::a_failure_in_a_helper_thread_fails_the_test")
        self.assertIn("in a helper thread", out)
        self.assertIn("THREAD WENT ON", out)
        self.assertIn("MAIN WENT ON", out)

    def test_inits_and_finis_run_in_order_around_a_failed_body(self):
        out = self.output("fixtures::run_around_the_body_even_after_a_failure")
        order = re.findall(r"^ORDER (\S+)$", out, re.M)
        self.assertEqual(order, ["suite-init", "test-init", "body", "test-fini", "suite-fini"])
        self.assertIn("failing on purpose", out)

    def test_crashes_timeouts_signals_and_exits_are_told_apart(self):
        # (by SIGSEGV, or SIGABRT where AddressSanitizer catches it first)
        self.assertIn("crashed by signal", self.found["outcomes::a_crash_is_reported"][1])
        self.assertIn("timed out after 1 s",
                      self.found["outcomes::a_test_past_its_timeout_is_stopped"][1])
        self.assertIn("expected to die by signal",
                      self.found["outcomes::an_expected_signal_that_never_comes_fails"][1])
        self.assertIn("exited 0 before the test ended",
                      self.found["outcomes::an_unexpected_exit_fails"][1])
        self.assertIn("nothing to do here", self.output("outcomes::a_test_can_skip_itself"))
        self.assertNotIn("must not run", self.output("outcomes::a_disabled_test_is_skipped"))

    def test_passing_tests_are_quiet_unless_verbose(self):
        p = run("--filter", "isolation/*")
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertNotIn("[PASS]", p.stdout)
        self.assertIn("Tested: 2 | Passing: 2 | Failing: 0", p.stdout)

    def test_filter_and_list(self):
        p = run("--list", "--filter=outcomes/an_expected_*")
        self.assertEqual(p.returncode, 0)
        self.assertEqual(p.stdout.split(), ["outcomes/an_expected_exit_code_passes",
                                            "outcomes/an_expected_signal_passes",
                                            "outcomes/an_expected_signal_that_never_comes_fails"])
        p = run("-j1", "--filter", "checks/a_failed_*")
        self.assertEqual(p.returncode, 1)
        self.assertIn("Tested: 2 | Passing: 0 | Failing: 2", p.stdout)

    def test_bad_arguments_are_refused(self):
        for args in (["--jobs", "0"], ["--jobs", "x"], ["--frobnicate"]):
            p = run(*args)
            self.assertEqual(p.returncode, 2, args)
            self.assertTrue(p.stderr.strip(), "%s: says why" % args)


if __name__ == "__main__":
    PROGRAM = sys.argv.pop(1)
    unittest.main(verbosity=2)
