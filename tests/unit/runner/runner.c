/* runner.c - the unit runner's registry and main(): each test in a process of its own, up to
 * --jobs at once; criterion/criterion.h is the contract. */
#include "criterion/criterion.h"

#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <limits.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

/* The registry is filled by constructors before main() runs, so it cannot be passed down: it
 * is the one mutable global of the runner process, read only after main() starts. A test
 * program has tens of tests; the tables grow as needed. */
static struct registry {
    const struct wlu_test **tests;
    size_t tests_len, tests_cap;
    const struct wlu_suite **suites;
    size_t suites_len, suites_cap;
    bool out_of_memory;
} registry;

/* The state of the test running in this (child) process. Only the child writes it: the
 * failure count atomically, since a test's threads may fail checks too. */
static struct current {
    atomic_int failures;
    pthread_t thread;
    jmp_buf abort_test;
} current;

/* What a child reports on its result pipe before it exits; nothing at all means the test
 * left by exit() or a signal, which the wait status then tells. */
enum { RESULT_PASSED = 'P', RESULT_FAILED = 'F', RESULT_SKIPPED = 'S' };

static int result_fd = -1; /* the child's end of its result pipe */

static void *grow(void *v, size_t *cap, size_t size)
{
    size_t n = *cap ? *cap * 2 : 64;
    void *bigger = realloc(v, n * size);
    if (bigger)
        *cap = n;
    return bigger;
}

void wlu_register_test(const struct wlu_test *test)
{
    if (registry.tests_len == registry.tests_cap) {
        void *v = grow(registry.tests, &registry.tests_cap, sizeof(*registry.tests));
        if (!v) {
            registry.out_of_memory = true;
            return;
        }
        registry.tests = v;
    }
    registry.tests[registry.tests_len++] = test;
}

void wlu_register_suite(const struct wlu_suite *suite)
{
    if (registry.suites_len == registry.suites_cap) {
        void *v = grow(registry.suites, &registry.suites_cap, sizeof(*registry.suites));
        if (!v) {
            registry.out_of_memory = true;
            return;
        }
        registry.suites = v;
    }
    registry.suites[registry.suites_len++] = suite;
}

static void report_result(char result)
{
    if (result_fd >= 0) {
        ssize_t n = write(result_fd, &result, 1);
        (void)n; /* if the parent is gone, nobody reads it anyway */
    }
}

void wlu_failed(bool fatal, const char *file, int line, const char *what, const char *fmt, ...)
{
    char message[1024] = "";
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(message, sizeof(message), fmt, ap);
    va_end(ap);
    fprintf(stderr, "[----] %s:%d: %s: %s%s%s\n", file, line,
            fatal ? "assertion failed" : "expected", what, message[0] ? ": " : "", message);
    fflush(stderr);
    atomic_fetch_add(&current.failures, 1);
    if (fatal && pthread_equal(pthread_self(), current.thread))
        longjmp(current.abort_test, 1);
}

void wlu_skip(const char *fmt, ...)
{
    char message[1024] = "";
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(message, sizeof(message), fmt, ap);
    va_end(ap);
    fprintf(stderr, "[SKIP] %s\n", message);
    fflush(NULL);
    report_result(RESULT_SKIPPED);
    _exit(0);
}

void wlu_log(const char *level, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "[%s] ", level);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

static const struct wlu_suite *find_suite(const char *name)
{
    for (size_t i = 0; i < registry.suites_len; i++)
        if (strcmp(registry.suites[i]->name, name) == 0)
            return registry.suites[i];
    return NULL;
}

/* A test's options with its suite's filled in where the test sets none. */
static struct criterion_test_extra_data options_of(const struct wlu_test *t)
{
    struct criterion_test_extra_data o = t->options;
    const struct wlu_suite *s = find_suite(t->suite);
    if (s) {
        o.disabled = o.disabled || s->options.disabled;
        if (o.timeout <= 0)
            o.timeout = s->options.timeout;
        if (!o.signal)
            o.signal = s->options.signal;
        if (!o.exit_code)
            o.exit_code = s->options.exit_code;
    }
    return o;
}

/* Runs in the child: the suite's .init, the test's .init, the body, then the test's and the
 * suite's .fini, each of the last two also after a fatal failure before it. */
static _Noreturn void run_test(const struct wlu_test *t, int timeout)
{
    const struct wlu_suite *s = find_suite(t->suite);
    /* volatile: read again after a longjmp back here */
    void (*volatile suite_init)(void) = s ? s->options.init : NULL;
    void (*volatile suite_fini)(void) = s ? s->options.fini : NULL;

    current.thread = pthread_self();
    if (timeout > 0)
        alarm((unsigned)timeout);
    if (setjmp(current.abort_test) == 0) {
        if (suite_init)
            suite_init();
        if (t->options.init)
            t->options.init();
        t->body();
    }
    if (setjmp(current.abort_test) == 0 && t->options.fini)
        t->options.fini();
    if (setjmp(current.abort_test) == 0 && suite_fini)
        suite_fini();
    fflush(NULL);
    report_result(atomic_load(&current.failures) ? RESULT_FAILED : RESULT_PASSED);
    _exit(0);
}

struct running {
    pid_t pid;
    const struct wlu_test *test;
    int output_fd; /* a temporary file with the child's stdout and stderr */
    int result_fd; /* the parent's end of the child's result pipe, non-blocking */
};

struct tally {
    int passed, failed, crashed, skipped;
};

static int start(const struct wlu_test *t, const struct criterion_test_extra_data *o,
                 struct running *slot, const struct running *others, size_t others_len)
{
    char path[] = "/tmp/wherelog-unit-XXXXXX";
    const char *tmp = getenv("TMPDIR");
    char tmp_path[PATH_MAX];
    int pipe_fds[2];
    int out;

    if (tmp && tmp[0] &&
        snprintf(tmp_path, sizeof(tmp_path), "%s/wherelog-unit-XXXXXX", tmp) <
            (int)sizeof(tmp_path))
        out = mkstemp(tmp_path);
    else
        out = mkstemp(path);
    if (out < 0)
        return -errno;
    unlink(tmp && tmp[0] ? tmp_path : path);
    if (pipe(pipe_fds) != 0) {
        int err = -errno;
        close(out);
        return err;
    }
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        int err = -errno;
        close(out);
        close(pipe_fds[0]);
        close(pipe_fds[1]);
        return err;
    }
    if (pid == 0) {
        for (size_t i = 0; i < others_len; i++) {
            if (others[i].pid > 0) {
                close(others[i].output_fd);
                close(others[i].result_fd);
            }
        }
        close(pipe_fds[0]);
        result_fd = pipe_fds[1];
        dup2(out, STDOUT_FILENO);
        dup2(out, STDERR_FILENO);
        close(out);
        run_test(t, o->timeout > 0 ? (int)(o->timeout + 0.999) : 0);
    }
    close(pipe_fds[1]);
    fcntl(pipe_fds[0], F_SETFL, O_NONBLOCK);
    *slot = (struct running){.pid = pid, .test = t, .output_fd = out, .result_fd = pipe_fds[0]};
    return 0;
}

static void print_output(int fd)
{
    char buf[4096];
    ssize_t n;
    fflush(stdout);
    lseek(fd, 0, SEEK_SET);
    while ((n = read(fd, buf, sizeof(buf))) > 0)
        if (fwrite(buf, 1, (size_t)n, stdout) != (size_t)n)
            break;
}

/* Judges a finished child by what it reported and how it ended, prints the verdict (with the
 * test's output unless it passed quietly) and counts it. */
static void finish(struct running *r, int status, bool verbose, struct tally *tally)
{
    const struct wlu_test *t = r->test;
    struct criterion_test_extra_data o = options_of(t);
    char result = 0;
    char why[160] = "";
    const char *verdict;

    if (read(r->result_fd, &result, 1) != 1)
        result = 0;
    if (result == RESULT_SKIPPED) {
        verdict = "SKIP";
        tally->skipped++;
    } else if (o.signal) {
        bool ok = WIFSIGNALED(status) && WTERMSIG(status) == o.signal;
        if (!ok)
            snprintf(why, sizeof(why), ": expected to die by signal %d (%s)", o.signal,
                     strsignal(o.signal));
        verdict = ok ? "PASS" : "FAIL";
        ok ? tally->passed++ : tally->failed++;
    } else if (WIFSIGNALED(status)) {
        int sig = WTERMSIG(status);
        if (sig == SIGALRM && o.timeout > 0)
            snprintf(why, sizeof(why), ": timed out after %g s", o.timeout);
        else
            snprintf(why, sizeof(why), ": crashed by signal %d (%s)", sig, strsignal(sig));
        verdict = "CRASH";
        tally->crashed++;
    } else if (o.exit_code) {
        bool ok = WEXITSTATUS(status) == o.exit_code && result != RESULT_FAILED;
        if (!ok)
            snprintf(why, sizeof(why), ": exited %d, expected %d", WEXITSTATUS(status),
                     o.exit_code);
        verdict = ok ? "PASS" : "FAIL";
        ok ? tally->passed++ : tally->failed++;
    } else if (result == RESULT_PASSED && WEXITSTATUS(status) == 0) {
        verdict = "PASS";
        tally->passed++;
    } else {
        if (result != RESULT_FAILED)
            snprintf(why, sizeof(why), ": exited %d before the test ended", WEXITSTATUS(status));
        verdict = "FAIL";
        tally->failed++;
    }
    bool quiet = strcmp(verdict, "PASS") == 0 && !verbose;
    if (!quiet) {
        printf("[%s] %s::%s%s\n", verdict, t->suite, t->name, why);
        print_output(r->output_fd);
    }
    close(r->output_fd);
    close(r->result_fd);
    r->pid = 0;
}

static int by_suite_and_name(const void *a, const void *b)
{
    const struct wlu_test *x = *(const struct wlu_test *const *)a;
    const struct wlu_test *y = *(const struct wlu_test *const *)b;
    int c = strcmp(x->suite, y->suite);
    return c ? c : strcmp(x->name, y->name);
}

static int usage(const char *prog, int status)
{
    fprintf(status ? stderr : stdout,
            "usage: %s [--jobs N] [--filter SUITE/NAME-GLOB] [--list] [--verbose]\n"
            "Runs this program's unit tests, each in a process of its own (see\n"
            "tests/unit/runner/criterion/criterion.h).\n",
            prog);
    return status;
}

static bool parse_jobs(const char *s, long *jobs)
{
    char *end;
    errno = 0;
    *jobs = strtol(s, &end, 10);
    return errno == 0 && *s && !*end && *jobs >= 1 && *jobs <= 256;
}

int main(int argc, char **argv)
{
    long jobs = sysconf(_SC_NPROCESSORS_ONLN);
    const char *filter = NULL;
    bool list = false, verbose = false;

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if ((strcmp(a, "--jobs") == 0 || strcmp(a, "-j") == 0) && i + 1 < argc) {
            if (!parse_jobs(argv[++i], &jobs))
                return fprintf(stderr, "%s: bad --jobs %s\n", argv[0], argv[i]), 2;
        } else if (strncmp(a, "--jobs=", 7) == 0 || (strncmp(a, "-j", 2) == 0 && a[2])) {
            const char *v = a[1] == 'j' ? a + 2 : a + 7;
            if (!parse_jobs(v, &jobs))
                return fprintf(stderr, "%s: bad --jobs %s\n", argv[0], v), 2;
        } else if (strcmp(a, "--filter") == 0 && i + 1 < argc) {
            filter = argv[++i];
        } else if (strncmp(a, "--filter=", 9) == 0) {
            filter = a + 9;
        } else if (strcmp(a, "--list") == 0 || strcmp(a, "-l") == 0) {
            list = true;
        } else if (strcmp(a, "--verbose") == 0) {
            verbose = true;
        } else if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            return usage(argv[0], 0);
        } else {
            fprintf(stderr, "%s: unknown argument %s\n", argv[0], a);
            return usage(argv[0], 2);
        }
    }
    if (jobs < 1)
        jobs = 1;
    if (registry.out_of_memory) {
        fprintf(stderr, "%s: out of memory while registering the tests\n", argv[0]);
        return 1;
    }
    if (registry.tests_len)
        qsort(registry.tests, registry.tests_len, sizeof(*registry.tests), by_suite_and_name);

    struct running *running = calloc((size_t)jobs, sizeof(*running));
    if (!running) {
        fprintf(stderr, "%s: out of memory\n", argv[0]);
        return 1;
    }
    struct tally tally = {0};
    size_t next = 0, busy = 0;
    int status = 0;
    while (next < registry.tests_len || busy > 0) {
        while (busy < (size_t)jobs && next < registry.tests_len) {
            const struct wlu_test *t = registry.tests[next++];
            char full[512];
            snprintf(full, sizeof(full), "%s/%s", t->suite, t->name);
            if (filter && fnmatch(filter, full, 0) != 0)
                continue;
            if (list) {
                printf("%s\n", full);
                continue;
            }
            struct criterion_test_extra_data o = options_of(t);
            if (o.disabled) {
                printf("[SKIP] %s::%s: disabled\n", t->suite, t->name);
                tally.skipped++;
                continue;
            }
            size_t slot = 0;
            while (running[slot].pid > 0)
                slot++;
            int err = start(t, &o, &running[slot], running, (size_t)jobs);
            if (err) {
                fprintf(stderr, "%s: cannot start %s: %s\n", argv[0], full, strerror(-err));
                free(running);
                return 1;
            }
            busy++;
        }
        if (busy == 0)
            break;
        pid_t pid = waitpid(-1, &status, 0);
        if (pid < 0) {
            if (errno == EINTR)
                continue;
            fprintf(stderr, "%s: waitpid: %s\n", argv[0], strerror(errno));
            free(running);
            return 1;
        }
        for (size_t i = 0; i < (size_t)jobs; i++) {
            if (running[i].pid == pid) {
                finish(&running[i], status, verbose, &tally);
                busy--;
                break;
            }
        }
    }
    free(running);
    if (list)
        return 0;
    int tested = tally.passed + tally.failed + tally.crashed;
    printf(
        "[====] Synthesis: Tested: %d | Passing: %d | Failing: %d | Crashing: %d | Skipped: %d\n",
        tested, tally.passed, tally.failed + tally.crashed, tally.crashed, tally.skipped);
    fflush(stdout);
    return tally.failed + tally.crashed ? 1 : 0;
}
