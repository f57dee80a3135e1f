#include <criterion/criterion.h>
#include <errno.h>
#include <sched.h>
#include <json-c/json.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "helpers.h"
#include "ingest.h"
#include "store.h"
#include "writer.h"

static char dir[256];
static struct store *st;
static struct writer *wr;
static struct ingest *in;

/* What the committed hook saw; it runs on committing producer threads, so it only records
 * (atomically) and the test's main thread asserts. */
#define COMMITS_SEEN_MAX 4096
static size_t hook_records;
static size_t hook_calls;
static size_t commit_sizes[COMMITS_SEEN_MAX]; /* records of each commit, in commit order */
/* When set, the first commit holds its hook until this many batches are queued behind it. */
static uint64_t hold_first_commit_for;

static void count_hook(void *arg, const struct store_record *recs, const enum store_result *results,
                       size_t n)
{
    (void)arg;
    (void)recs;
    size_t call = __atomic_fetch_add(&hook_calls, 1, __ATOMIC_SEQ_CST);
    if (call < COMMITS_SEEN_MAX)
        commit_sizes[call] = n;
    for (size_t i = 0; i < n; i++)
        if (results[i] == STORE_STORED)
            __atomic_add_fetch(&hook_records, 1, __ATOMIC_SEQ_CST);
    if (call == 0 && hold_first_commit_for) {
        /* The writer's lock is free while the hook runs: producers queue up behind us. */
        struct writer_stats ws;
        for (writer_get_stats(wr, &ws); ws.queued < hold_first_commit_for;
             writer_get_stats(wr, &ws))
            sched_yield();
    }
}

static void setup(void)
{
    tmpdir_make(dir, sizeof(dir));
    cr_assert_eq(store_open(dir, NULL, &st), 0);
    cr_assert_eq(writer_new(st, &wr), 0);
    writer_set_committed_hook(wr, count_hook, NULL);
    cr_assert_eq(ingest_new(wr, (struct owntracks_keyring){0}, 0, &in), 0);
    hook_records = hook_calls = 0;
    hold_first_commit_for = 0;
}

static void teardown(void)
{
    ingest_free(in);
    writer_free(wr);
    store_close(st);
    tmpdir_remove(dir);
}

TestSuite(writer, .init = setup, .fini = teardown);

#define THREADS    8
#define PER_THREAD 2000
#define PER_BATCH  10

/* One producer: its messages, in batches of `batch`; what went wrong is kept for the main
 * thread to assert on (criterion's asserts belong to the test's thread). */
struct producer {
    pthread_t thread;
    long id;
    int messages, batch;
    int64_t first_tst;
    unsigned not_accepted, failed_commits;
    int first_error;
};

static void *produce(void *arg)
{
    struct producer *p = arg;
    struct ingest_batch b;
    char topic[64], payload[160];
    if (ingest_batch_init(&b) != 0) {
        p->failed_commits++;
        p->first_error = -ENOMEM;
        return NULL;
    }
    snprintf(topic, sizeof(topic), "owntracks/user%ld/phone", p->id);
    for (int i = 0; i < p->messages; i++) {
        int n = snprintf(payload, sizeof(payload),
                         "{\"_type\":\"location\",\"lat\":1.5,\"lon\":2.5,\"tst\":%lld}",
                         (long long)(p->first_tst + i));
        if (ingest_mqtt(in, &b, topic, strlen(topic), payload, (size_t)n, 1) != OWNTRACKS_ACCEPT)
            p->not_accepted++;
        if (b.n == (size_t)p->batch || i == p->messages - 1) {
            int rc = ingest_commit(in, &b, NULL);
            if (rc && !p->failed_commits++)
                p->first_error = rc;
        }
    }
    ingest_batch_free(&b);
    return NULL;
}

static void start(struct producer *p, long id, int messages, int batch, int64_t first_tst)
{
    *p = (struct producer){.id = id, .messages = messages, .batch = batch, .first_tst = first_tst};
    cr_assert_eq(pthread_create(&p->thread, NULL, produce, p), 0);
}

static void join_and_check(struct producer *p)
{
    cr_assert_eq(pthread_join(p->thread, NULL), 0);
    cr_expect_eq(p->not_accepted, 0, "producer %ld: every message was accepted", p->id);
    cr_expect_eq(p->failed_commits, 0, "producer %ld: every commit worked (first error %d)", p->id,
                 p->first_error);
}

Test(writer, stores_everything_many_producers_submit)
{
    struct producer p[THREADS];
    for (long i = 0; i < THREADS; i++)
        start(&p[i], i, PER_THREAD, PER_BATCH, 1000);
    for (int i = 0; i < THREADS; i++)
        join_and_check(&p[i]);
    struct store_stats s;
    cr_assert_eq(store_stats(st, &s), 0);
    cr_expect_eq(s.points, THREADS * PER_THREAD);
    cr_expect_eq(hook_records, THREADS * PER_THREAD, "the hook saw every stored record");
    struct writer_stats ws;
    writer_get_stats(wr, &ws);
    cr_expect_eq(ws.records, THREADS * PER_THREAD);
    cr_expect_eq(ws.commits, hook_calls, "the hook ran once per commit");
    cr_expect_eq(ws.queued, 0, "nothing is left waiting");
    const struct ingest_counters *c = ingest_counters(in);
    cr_expect_eq(atomic_load(&c->stored), THREADS * PER_THREAD);
}

/* Group commit, made to happen rather than hoped for: the first commit is held (in its hook,
 * after the store committed, before its producer is woken) until every other producer has
 * queued its batch. The next commit must then carry all of them at once. */
Test(writer, one_commit_carries_every_batch_that_queued_during_the_previous)
{
    struct producer first, p[THREADS];
    hold_first_commit_for = THREADS;
    start(&first, THREADS, PER_BATCH, PER_BATCH, 1000);
    /* The others start only once the first commit is in its hook: the first producer's
     * batch is then the only one in it. */
    while (!__atomic_load_n(&hook_calls, __ATOMIC_SEQ_CST))
        sched_yield();
    for (long i = 0; i < THREADS; i++)
        start(&p[i], i, PER_BATCH, PER_BATCH, 2000);
    join_and_check(&first);
    for (int i = 0; i < THREADS; i++)
        join_and_check(&p[i]);

    struct writer_stats ws;
    writer_get_stats(wr, &ws);
    cr_assert_eq(hook_calls, 2, "two commits for %d batches (%zu)", THREADS + 1, hook_calls);
    cr_expect_eq(commit_sizes[0], PER_BATCH, "the first commit held one batch");
    cr_expect_eq(commit_sizes[1], THREADS * PER_BATCH,
                 "the second commit carried all %d batches that queued meanwhile", THREADS);
    cr_expect_eq(ws.commits, 2);
    cr_expect_eq(ws.records, (THREADS + 1) * PER_BATCH);
    struct store_stats s;
    cr_assert_eq(store_stats(st, &s), 0);
    cr_expect_eq(s.points, (THREADS + 1) * PER_BATCH);
}

Test(writer, reports_duplicates_and_rejections)
{
    struct ingest_batch b;
    const char *topic = "owntracks/jane/phone";
    const char *good = "{\"_type\":\"location\",\"lat\":1,\"lon\":2,\"tst\":100}";
    const char *bad = "{\"_type\":\"location\",\"lat\":100,\"lon\":2,\"tst\":100}";
    enum store_result res[3];
    ingest_batch_init(&b);
    cr_expect_eq(ingest_mqtt(in, &b, topic, strlen(topic), good, strlen(good), 1),
                 OWNTRACKS_ACCEPT);
    cr_expect_eq(ingest_mqtt(in, &b, topic, strlen(topic), good, strlen(good), 1),
                 OWNTRACKS_ACCEPT);
    cr_expect_eq(ingest_mqtt(in, &b, topic, strlen(topic), bad, strlen(bad), 1), OWNTRACKS_REJECT);
    cr_expect_eq(ingest_mqtt(in, &b, topic, strlen(topic), "", 0, 1), OWNTRACKS_IGNORE);
    cr_assert_eq(b.n, 2);
    cr_assert_eq(ingest_commit(in, &b, res), 0);
    cr_expect_eq(res[0], STORE_STORED);
    cr_expect_eq(res[1], STORE_DUPLICATE);
    const struct ingest_counters *c = ingest_counters(in);
    cr_expect_eq(atomic_load(&c->received), 4);
    cr_expect_eq(atomic_load(&c->stored), 1);
    cr_expect_eq(atomic_load(&c->duplicate), 1);
    cr_expect_eq(atomic_load(&c->rejected), 1);
    cr_expect_eq(atomic_load(&c->ignored), 1);
    ingest_batch_free(&b);
}
