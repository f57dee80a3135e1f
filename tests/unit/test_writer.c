#include <criterion/criterion.h>
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

static size_t hook_records;

static void count_hook(void *arg, const struct store_record *recs, const enum store_result *results,
                       size_t n)
{
    (void)arg;
    (void)recs;
    for (size_t i = 0; i < n; i++)
        if (results[i] == STORE_STORED)
            __atomic_add_fetch(&hook_records, 1, __ATOMIC_SEQ_CST);
}

static void setup(void)
{
    tmpdir_make(dir, sizeof(dir));
    cr_assert_eq(store_open(dir, NULL, &st), 0);
    cr_assert_eq(writer_new(st, &wr), 0);
    writer_set_committed_hook(wr, count_hook, NULL);
    cr_assert_eq(ingest_new(wr, (struct ot_keyring){0}, 0, &in), 0);
    hook_records = 0;
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

static void *producer(void *arg)
{
    long id = (long)arg;
    struct ingest_batch b;
    char topic[64], payload[160];
    ingest_batch_init(&b);
    snprintf(topic, sizeof(topic), "owntracks/user%ld/phone", id);
    for (int i = 0; i < PER_THREAD; i++) {
        int n = snprintf(payload, sizeof(payload),
                         "{\"_type\":\"location\",\"lat\":1.5,\"lon\":2.5,\"tst\":%d}", 1000 + i);
        ingest_mqtt(in, &b, topic, strlen(topic), payload, (size_t)n, 1);
        if (b.n == 10 || i == PER_THREAD - 1)
            cr_assert_eq(ingest_commit(in, &b, NULL), 0);
    }
    ingest_batch_free(&b);
    return NULL;
}

Test(writer, commits_many_producers_in_shared_transactions)
{
    pthread_t t[THREADS];
    for (long i = 0; i < THREADS; i++)
        pthread_create(&t[i], NULL, producer, (void *)i);
    for (int i = 0; i < THREADS; i++)
        pthread_join(t[i], NULL);
    struct store_stats s;
    cr_assert_eq(store_stats(st, &s), 0);
    cr_expect_eq(s.points, THREADS * PER_THREAD);
    cr_expect_eq(hook_records, THREADS * PER_THREAD, "the hook saw every stored record");
    struct writer_stats ws;
    writer_get_stats(wr, &ws);
    cr_expect_eq(ws.records, THREADS * PER_THREAD);
    cr_expect_lt(ws.commits, THREADS * PER_THREAD / 10,
                 "producers shared transactions (%llu commits)", (unsigned long long)ws.commits);
    const struct ingest_counters *c = ingest_counters(in);
    cr_expect_eq(atomic_load(&c->stored), THREADS * PER_THREAD);
}

Test(writer, reports_duplicates_and_rejections)
{
    struct ingest_batch b;
    const char *topic = "owntracks/jane/phone";
    const char *good = "{\"_type\":\"location\",\"lat\":1,\"lon\":2,\"tst\":100}";
    const char *bad = "{\"_type\":\"location\",\"lat\":100,\"lon\":2,\"tst\":100}";
    enum store_result res[3];
    ingest_batch_init(&b);
    cr_expect_eq(ingest_mqtt(in, &b, topic, strlen(topic), good, strlen(good), 1), OT_ACCEPT);
    cr_expect_eq(ingest_mqtt(in, &b, topic, strlen(topic), good, strlen(good), 1), OT_ACCEPT);
    cr_expect_eq(ingest_mqtt(in, &b, topic, strlen(topic), bad, strlen(bad), 1), OT_REJECT);
    cr_expect_eq(ingest_mqtt(in, &b, topic, strlen(topic), "", 0, 1), OT_IGNORE);
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
