#include <criterion/criterion.h>
#include <errno.h>
#include <json-c/json.h>
#include <lmdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "helpers.h"
#include "pack.h"
#include "store.h"
#include "wl.h"
#include "wtime.h"

static char dir[256];
static struct store *st;

static void setup(void)
{
    tmpdir_make(dir, sizeof(dir));
    cr_assert_eq(store_open(dir, NULL, &st), 0);
}

static void teardown(void)
{
    store_close(st);
    tmpdir_remove(dir);
}

/* A packed location at tst with the given latitude. Caller frees *buf. */
static struct store_record location(const char *user, const char *device, int64_t tst, double lat,
                                    struct sink *buf)
{
    char doc[256];
    snprintf(doc, sizeof(doc), "{\"_type\":\"location\",\"lat\":%.6f,\"lon\":2.5,\"tst\":%lld}",
             lat, (long long)tst);
    struct json_object *o = json_tokener_parse(doc);
    struct pack_encode_ctx ctx = {.type = "location", .tst = tst, .tst_member = true};
    cr_assert_eq(sink_init_mem(buf, 64), 0);
    cr_assert_eq(pack_encode(buf, o, &ctx), 0);
    json_object_put(o);
    return (struct store_record){.kind = OWNTRACKS_LOCATION,
                                 .user = user,
                                 .device = device,
                                 .tst = tst,
                                 .data = buf->buf,
                                 .len = buf->len,
                                 .received = tst + 1,
                                 .topic = "owntracks/u/d"};
}

static enum store_result put_one(const char *user, const char *device, int64_t tst, double lat)
{
    struct sink buf;
    enum store_result res;
    struct store_record r = location(user, device, tst, lat, &buf);
    cr_assert_eq(store_write_batch(st, &r, 1, &res), 0);
    sink_free(&buf);
    return res;
}

static double lat_of(const struct store_item *it)
{
    struct pack_value v;
    double d = 0;
    cr_assert_eq(pack_find(it->data, it->len, it->tst, "location", "lat", &v), 1);
    pack_to_double(&v, &d);
    return d;
}

static uint32_t device_id(const char *user, const char *device)
{
    struct store_device d;
    cr_assert_eq(store_get_device(st, user, device, &d), 0, "device %s/%s exists", user, device);
    return d.id;
}

TestSuite(store, .init = setup, .fini = teardown);

Test(store, keeps_one_point_per_timestamp)
{
    cr_expect_eq(put_one("jane", "phone", 1000, 1.0), STORE_STORED);
    cr_expect_eq(put_one("jane", "phone", 1000, 1.0), STORE_DUPLICATE, "a redelivery");
    cr_expect_eq(put_one("jane", "phone", 1000, 2.0), STORE_DUPLICATE, "first one wins");

    /* Duplicates inside one batch too. */
    struct sink a, b;
    struct store_record recs[2] = {location("jane", "phone", 2000, 3.0, &a),
                                   location("jane", "phone", 2000, 3.0, &b)};
    enum store_result res[2];
    cr_assert_eq(store_write_batch(st, recs, 2, res), 0);
    cr_expect_eq(res[0], STORE_STORED);
    cr_expect_eq(res[1], STORE_DUPLICATE);
    sink_free(&a);
    sink_free(&b);

    struct store_device d;
    cr_assert_eq(store_get_device(st, "jane", "phone", &d), 0);
    cr_expect_eq(d.points, 2);
    struct store_stats stats;
    cr_assert_eq(store_stats(st, &stats), 0);
    cr_expect_eq(stats.points, 2);
}

Test(store, scans_a_time_range_in_order_with_inclusive_bounds)
{
    int64_t order[] = {500, 100, 400, 200, 300}; /* arrival order is not time order */
    for (size_t i = 0; i < 5; i++)
        put_one("jane", "phone", order[i], (double)order[i] / 10);
    put_one("jane", "tablet", 250, 0); /* another device in between must not leak in */
    put_one("ann", "phone", 250, 0);

    struct store_iter *it;
    struct store_item item;
    int64_t seen[8];
    size_t n = 0;
    cr_assert_eq(store_iter_points(st, device_id("jane", "phone"), 200, 400, 0, &it), 0);
    while (store_iter_next(it, &item) == 1)
        seen[n++] = item.tst;
    store_iter_close(it);
    cr_assert_eq(n, 3);
    cr_expect_eq(seen[0], 200);
    cr_expect_eq(seen[1], 300);
    cr_expect_eq(seen[2], 400);

    n = 0;
    cr_assert_eq(
        store_iter_points(st, device_id("jane", "phone"), 0, WTIME_MAX, STORE_ITER_REVERSE, &it),
        0);
    while (store_iter_next(it, &item) == 1) {
        seen[n++] = item.tst;
        cr_expect_eq(lat_of(&item), (double)item.tst / 10, "payload belongs to its key");
    }
    store_iter_close(it);
    cr_assert_eq(n, 5);
    cr_expect_eq(seen[0], 500);
    cr_expect_eq(seen[4], 100);

    cr_assert_eq(store_iter_points(st, device_id("jane", "phone"), 401, 499, 0, &it), 0);
    cr_expect_eq(store_iter_next(it, &item), 0, "empty range");
    store_iter_close(it);
    cr_assert_eq(store_iter_points(st, device_id("jane", "phone"), 300, 200, 0, &it), 0);
    cr_expect_eq(store_iter_next(it, &item), 0, "inverted range");
    store_iter_close(it);
}

Test(store, last_position_never_moves_backwards)
{
    put_one("jane", "phone", 5000, 50);
    put_one("jane", "phone", 4000, 40); /* late */
    struct store_device d;
    cr_assert_eq(store_get_device(st, "jane", "phone", &d), 0);
    cr_expect_eq(d.last_tst, 5000);
    cr_expect_eq(d.first_tst, 4000);
    struct store_iter *it;
    struct store_item item;
    cr_assert_eq(store_iter_points(st, d.id, 0, WTIME_MAX, STORE_ITER_REVERSE, &it), 0);
    cr_assert_eq(store_iter_next(it, &item), 1);
    cr_expect_eq(item.tst, 5000, "newest point is the last position");
    store_iter_close(it);
}

static void write_many(const char *user, const char *device, int64_t first, size_t n)
{
    const size_t batch = 500;
    struct sink *bufs = calloc(batch, sizeof(*bufs));
    struct store_record *recs = calloc(batch, sizeof(*recs));
    enum store_result *res = calloc(batch, sizeof(*res));
    for (size_t done = 0; done < n;) {
        size_t k = n - done < batch ? n - done : batch;
        for (size_t i = 0; i < k; i++)
            recs[i] = location(user, device, first + (int64_t)(done + i), 45.0, &bufs[i]);
        cr_assert_eq(store_write_batch(st, recs, k, res), 0);
        for (size_t i = 0; i < k; i++) {
            cr_expect_eq(res[i], STORE_STORED);
            sink_free(&bufs[i]);
        }
        done += k;
    }
    free(bufs);
    free(recs);
    free(res);
}

Test(store, iterates_across_transaction_chunks_and_pauses)
{
    const size_t n = 3 * STORE_ITER_CHUNK + 17;
    write_many("jane", "phone", 1000, n);
    struct store_iter *it;
    struct store_item item;
    size_t count = 0;
    int64_t expect = 1000;
    cr_assert_eq(store_iter_points(st, device_id("jane", "phone"), 0, WTIME_MAX, 0, &it), 0);
    while (store_iter_next(it, &item) == 1) {
        cr_assert_eq(item.tst, expect++, "no point skipped or repeated at a chunk boundary");
        if (++count % 1000 == 0)
            store_iter_pause(it);
    }
    store_iter_close(it);
    cr_expect_eq(count, n);

    /* Backwards, with pauses, too. */
    count = 0;
    expect = 1000 + (int64_t)n - 1;
    cr_assert_eq(
        store_iter_points(st, device_id("jane", "phone"), 0, WTIME_MAX, STORE_ITER_REVERSE, &it),
        0);
    while (store_iter_next(it, &item) == 1) {
        cr_assert_eq(item.tst, expect--);
        if (++count % 777 == 0)
            store_iter_pause(it);
    }
    store_iter_close(it);
    cr_expect_eq(count, n);
}

/* A location whose payload carries `pad` bytes of padding, to make chunk boundaries move. */
static struct store_record padded(int64_t tst, size_t pad, struct sink *buf)
{
    char *doc = malloc(pad + 128);
    int n = snprintf(doc, pad + 128,
                     "{\"_type\":\"location\",\"lat\":1,\"lon\":2,\"tst\":%lld,"
                     "\"pad\":\"",
                     (long long)tst);
    memset(doc + n, 'x', pad);
    strcpy(doc + n + pad, "\"}");
    struct json_object *o = json_tokener_parse(doc);
    struct pack_encode_ctx ctx = {.type = "location", .tst = tst, .tst_member = true};
    sink_init_mem(buf, 64);
    cr_assert_eq(pack_encode(buf, o, &ctx), 0);
    json_object_put(o);
    free(doc);
    return (struct store_record){.kind = OWNTRACKS_LOCATION,
                                 .user = "jane",
                                 .device = "phone",
                                 .tst = tst,
                                 .data = buf->buf,
                                 .len = buf->len,
                                 .received = 1};
}

Test(store, keeps_points_sorted_and_unique_whatever_the_arrival_order)
{
    enum { N = 6000 };
    /* Points in random order, one per commit: each would replay the timeline from a checkpoint
     * (test_store_timeline covers that); here only the chunks are under test. */
    store_set_timeline_deferred(st, true);
    static int64_t order[2 * N];
    static bool want[N];
    srand(42);
    for (int i = 0; i < N; i++)
        order[i] = i;
    for (int i = 0; i < N; i++) /* each time twice: redeliveries */
        order[N + i] = rand() % N;
    for (int i = 2 * N - 1; i > 0; i--) { /* shuffle */
        int j = rand() % (i + 1);
        int64_t t = order[i];
        order[i] = order[j];
        order[j] = t;
    }
    size_t stored = 0;
    for (int i = 0; i < 2 * N; i++) {
        int64_t tst = 100000 + order[i] * 7;
        /* mostly small points, some that fill much of a chunk, a few bigger than one */
        size_t pad = order[i] % 97 == 0 ? 9000 : order[i] % 13 == 0 ? 1500 : order[i] % 5;
        struct sink buf;
        enum store_result res;
        struct store_record r = padded(tst, pad, &buf);
        cr_assert_eq(store_write_batch(st, &r, 1, &res), 0);
        if (res == STORE_STORED) {
            cr_assert_not(want[order[i]], "tst %lld stored twice", (long long)tst);
            want[order[i]] = true;
            stored++;
        }
        sink_free(&buf);
        put_one("jane", "tablet", tst, 0); /* another device interleaved */
    }
    cr_expect_eq(stored, N);

    struct store_iter *it;
    struct store_item item;
    int64_t expect = 100000;
    size_t n = 0;
    cr_assert_eq(store_iter_points(st, device_id("jane", "phone"), 0, WTIME_MAX, 0, &it), 0);
    while (store_iter_next(it, &item) == 1) {
        cr_assert_eq(item.tst, expect, "point %zu", n);
        struct pack_value v;
        cr_assert_eq(pack_find(item.data, item.len, item.tst, "location", "pad", &v), 1);
        expect += 7;
        n++;
    }
    store_iter_close(it);
    cr_expect_eq(n, N);

    /* Ranges that start and end inside chunks, both directions. */
    for (int64_t from = 100000; from < 100000 + 7 * N; from += 1337) {
        int64_t to = from + 2500;
        size_t fwd = 0, rev = 0;
        int64_t prev = -1;
        cr_assert_eq(store_iter_points(st, device_id("jane", "phone"), from, to, 0, &it), 0);
        while (store_iter_next(it, &item) == 1) {
            cr_assert(item.tst >= from && item.tst <= to && item.tst > prev);
            prev = item.tst;
            fwd++;
        }
        store_iter_close(it);
        prev = INT64_MAX;
        cr_assert_eq(
            store_iter_points(st, device_id("jane", "phone"), from, to, STORE_ITER_REVERSE, &it),
            0);
        while (store_iter_next(it, &item) == 1) {
            cr_assert(item.tst >= from && item.tst <= to && item.tst < prev);
            prev = item.tst;
            rev++;
        }
        store_iter_close(it);
        size_t expected = 0;
        for (int64_t t = from; t <= to; t++)
            expected += t >= 100000 && (t - 100000) % 7 == 0 && (t - 100000) / 7 < N;
        cr_expect_eq(fwd, expected, "range %lld..%lld forward", (long long)from, (long long)to);
        cr_expect_eq(rev, expected, "range %lld..%lld backward", (long long)from, (long long)to);
    }
    struct store_stats stats;
    cr_assert_eq(store_stats(st, &stats), 0);
    cr_expect_eq(stats.points, 2 * N);
    cr_expect_lt(stats.chunks, stats.points / 4, "points share chunks (%llu chunks)",
                 (unsigned long long)stats.chunks);
}

Test(store, grows_the_map_instead_of_failing_when_full)
{
    store_close(st);
    tmpdir_remove(dir);
    tmpdir_make(dir, sizeof(dir));
    struct store_options opt = {.initial_map = 256 << 10}; /* 256 KiB: full after ~2000 points */
    cr_assert_eq(store_open(dir, &opt, &st), 0);
    write_many("jane", "phone", 1000, 40000);
    struct store_stats stats;
    cr_assert_eq(store_stats(st, &stats), 0);
    cr_expect_gt(stats.map_resizes, 0, "the map grew");
    cr_expect_eq(stats.points, 40000);
    cr_expect_gt(stats.map_bytes, (uint64_t)256 << 10);

    /* Reopening with the default size works and keeps everything. */
    store_close(st);
    cr_assert_eq(store_open(dir, NULL, &st), 0);
    cr_assert_eq(store_stats(st, &stats), 0);
    cr_expect_eq(stats.points, 40000);
}

struct collected {
    char names[8][2 * OWNTRACKS_NAME_MAX + 2];
    size_t n;
};

static int collect_user(void *arg, const char *user)
{
    struct collected *cc = arg;
    snprintf(cc->names[cc->n++], sizeof(cc->names[0]), "%s", user);
    return 0;
}

static int collect_dev(void *arg, const struct store_device *d)
{
    struct collected *cc = arg;
    snprintf(cc->names[cc->n++], sizeof(cc->names[0]), "%s/%s", d->user, d->device);
    return 0;
}

Test(store, lists_users_and_devices_without_the_history)
{
    put_one("jane", "phone", 1, 0);
    put_one("jane", "tablet", 1, 0);
    put_one("ann", "watch", 1, 0);
    put_one("janet", "car", 1, 0); /* "jane" is a prefix of "janet": must not mix */

    struct collected c = {0};
    cr_assert_eq(store_list_users(st, collect_user, &c), 0);
    cr_assert_eq(c.n, 3);
    cr_expect_str_eq(c.names[0], "ann");
    cr_expect_str_eq(c.names[1], "jane");
    cr_expect_str_eq(c.names[2], "janet");
    c.n = 0;
    cr_assert_eq(store_list_devices(st, "jane", collect_dev, &c), 0);
    cr_assert_eq(c.n, 2);
    cr_expect_str_eq(c.names[0], "jane/phone");
    cr_expect_str_eq(c.names[1], "jane/tablet");
    c.n = 0;
    cr_assert_eq(store_list_devices(st, "nobody", collect_dev, &c), 0);
    cr_expect_eq(c.n, 0);
    struct store_device d;
    cr_expect_eq(store_get_device(st, "jane", "nope", &d), -ENOENT);
    cr_assert_eq(store_get_device(st, "jane", "phone", &d), 0);
    cr_expect_str_eq(d.topic, "owntracks/u/d");
    cr_expect_eq(d.last_seen, 2);
}

static enum store_result put_event(enum owntracks_kind kind, int64_t tst, const char *doc)
{
    struct json_object *o = json_tokener_parse(doc);
    struct sink buf;
    struct pack_encode_ctx ctx = {.type = owntracks_kind_name(kind), .tst = tst};
    enum store_result res;
    sink_init_mem(&buf, 64);
    cr_assert_eq(pack_encode(&buf, o, &ctx), 0);
    struct store_record r = {.kind = kind,
                             .user = "jane",
                             .device = "phone",
                             .tst = tst,
                             .data = buf.buf,
                             .len = buf.len,
                             .received = tst};
    cr_assert_eq(store_write_batch(st, &r, 1, &res), 0);
    sink_free(&buf);
    json_object_put(o);
    return res;
}

static size_t count_events(enum owntracks_kind kind)
{
    struct store_iter *it;
    struct store_item item;
    size_t n = 0;
    cr_assert_eq(store_iter_events(st, device_id("jane", "phone"), kind, 0, WTIME_MAX, 0, &it), 0);
    while (store_iter_next(it, &item) == 1) {
        cr_expect_eq(item.kind, kind);
        n++;
    }
    store_iter_close(it);
    return n;
}

Test(store, keeps_events_by_their_nature)
{
    /* histories: one entry per distinct message */
    cr_expect_eq(put_event(OWNTRACKS_TRANSITION, 100, "{\"event\":\"enter\",\"desc\":\"A\"}"),
                 STORE_STORED);
    cr_expect_eq(put_event(OWNTRACKS_TRANSITION, 100, "{\"event\":\"enter\",\"desc\":\"A\"}"),
                 STORE_DUPLICATE);
    cr_expect_eq(put_event(OWNTRACKS_TRANSITION, 100, "{\"event\":\"leave\",\"desc\":\"B\"}"),
                 STORE_STORED, "another event in the same second is kept");
    cr_expect_eq(count_events(OWNTRACKS_TRANSITION), 2);
    /* latest only */
    cr_expect_eq(put_event(OWNTRACKS_CARD, 1, "{\"name\":\"Jane\"}"), STORE_STORED);
    cr_expect_eq(put_event(OWNTRACKS_CARD, 2, "{\"name\":\"Jane D.\"}"), STORE_STORED);
    cr_expect_eq(put_event(OWNTRACKS_CARD, 3, "{\"name\":\"Jane D.\"}"), STORE_DUPLICATE);
    cr_expect_eq(count_events(OWNTRACKS_CARD), 1);
    /* waypoints by identity (their tst) */
    cr_expect_eq(put_event(OWNTRACKS_WAYPOINT, 7, "{\"desc\":\"Home\",\"rad\":50}"), STORE_STORED);
    cr_expect_eq(put_event(OWNTRACKS_WAYPOINT, 7, "{\"desc\":\"Home\",\"rad\":80}"), STORE_STORED);
    cr_expect_eq(put_event(OWNTRACKS_WAYPOINT, 8, "{\"desc\":\"Work\"}"), STORE_STORED);
    cr_expect_eq(count_events(OWNTRACKS_WAYPOINT), 2);
    cr_expect_eq(count_events(OWNTRACKS_LOCATION), 0, "events never mix with points");
}

Test(store, keeps_encryption_keys)
{
    unsigned char secret[OWNTRACKS_SECRET_MAX];
    cr_expect_eq(store_key_get(st, "jane", "phone", secret), 0);
    cr_assert_eq(store_key_set(st, "jane", "phone", (const unsigned char *)"s3cret", 6), 0);
    cr_assert_eq(store_key_get(st, "jane", "phone", secret), 6);
    cr_expect_eq(memcmp(secret, "s3cret", 6), 0);
    struct owntracks_keyring kr = store_keyring(st);
    cr_expect_eq(kr.lookup(kr.arg, "jane", "phone", secret), 6);
    cr_expect_eq(store_key_set(st, "jane", "phone", (const unsigned char *)"", 0), -EINVAL);
    cr_assert_eq(store_key_delete(st, "jane", "phone"), 0);
    cr_expect_eq(store_key_get(st, "jane", "phone", secret), 0);
    cr_expect_eq(store_key_delete(st, "jane", "phone"), -ENOENT);
}

Test(store, refuses_a_store_of_another_schema_version)
{
    store_close(st);
    st = NULL;
    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi meta;
    uint8_t v99[4] = {99, 0, 0, 0};
    mdb_env_create(&env);
    mdb_env_set_maxdbs(env, 8);
    cr_assert_eq(mdb_env_open(env, dir, 0, 0600), 0);
    mdb_txn_begin(env, NULL, 0, &txn);
    cr_assert_eq(mdb_dbi_open(txn, "meta", 0, &meta), 0);
    MDB_val k = {6, "schema"}, v = {4, v99};
    cr_assert_eq(mdb_put(txn, meta, &k, &v, 0), 0);
    mdb_txn_commit(txn);
    mdb_env_close(env);
    cr_expect_eq(store_open(dir, NULL, &st), WL_ESCHEMA);
    st = NULL;
}

Test(store, refuses_to_adopt_a_foreign_lmdb_environment)
{
    store_close(st);
    st = NULL;
    char other[300];
    snprintf(other, sizeof(other), "%s/other", dir);
    mkdir(other, 0700);
    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi main_db;
    mdb_env_create(&env);
    cr_assert_eq(mdb_env_open(env, other, 0, 0600), 0);
    mdb_txn_begin(env, NULL, 0, &txn);
    mdb_dbi_open(txn, NULL, 0, &main_db);
    MDB_val k = {5, "ghash"}, v = {2, "{}"};
    mdb_put(txn, main_db, &k, &v, 0);
    mdb_txn_commit(txn);
    mdb_env_close(env);
    cr_expect_eq(store_open(other, NULL, &st), WL_ESCHEMA);
    st = NULL;
}

Test(store, read_only_open_needs_an_existing_store)
{
    char missing[300];
    struct store *ro;
    struct store_options opt = {.read_only = true};
    snprintf(missing, sizeof(missing), "%s/none", dir);
    cr_expect_eq(store_open(missing, &opt, &ro), -ENOENT);
    cr_assert_eq(store_open(dir, &opt, &ro), 0);
    struct sink buf;
    enum store_result res;
    struct store_record r = location("a", "b", 1, 0, &buf);
    cr_expect_eq(store_write_batch(ro, &r, 1, &res), -EROFS);
    sink_free(&buf);
    store_close(ro);
}

Test(store, gives_each_store_a_stable_client_id)
{
    char id[64];
    snprintf(id, sizeof(id), "%s", store_client_id(st));
    cr_expect_eq(strncmp(id, "wherelog-", 9), 0);
    store_close(st);
    cr_assert_eq(store_open(dir, NULL, &st), 0);
    cr_expect_str_eq(store_client_id(st), id);
}

static size_t visible_points(const char *user, const char *device, int64_t from, int64_t to,
                             unsigned flags)
{
    struct store_iter *it;
    struct store_item item;
    size_t n = 0;
    cr_assert_eq(store_iter_points(st, device_id(user, device), from, to, flags, &it), 0);
    while (store_iter_next(it, &item) == 1)
        n++;
    store_iter_close(it);
    return n;
}

Test(store, deletes_a_range_across_chunks)
{
    write_many("jane", "phone", 1000, 20000); /* many chunks */
    put_one("jane", "tablet", 5000, 1);
    uint64_t removed;
    cr_assert_eq(store_delete_points(st, "jane", "phone", 5000, 14999, true, &removed), 0);
    cr_expect_eq(removed, 10000, "a dry run counts");
    cr_expect_eq(visible_points("jane", "phone", 0, WTIME_MAX, 0), 20000, "and changes nothing");
    cr_assert_eq(store_delete_points(st, "jane", "phone", 5000, 14999, false, &removed), 0);
    cr_expect_eq(removed, 10000);
    cr_expect_eq(visible_points("jane", "phone", 0, WTIME_MAX, 0), 10000);
    cr_expect_eq(visible_points("jane", "phone", 4999, 15000, 0), 2, "the edges stay");
    struct store_device d;
    cr_assert_eq(store_get_device(st, "jane", "phone", &d), 0);
    cr_expect_eq(d.points, 10000);
    cr_expect_eq(d.first_tst, 1000);
    cr_expect_eq(d.last_tst, 20999);
    cr_assert_eq(store_delete_points(st, "jane", "phone", 15000, WTIME_MAX, false, &removed), 0);
    cr_assert_eq(store_get_device(st, "jane", "phone", &d), 0);
    cr_expect_eq(d.last_tst, 4999, "the last position moves back when the newest go");
    cr_expect_eq(visible_points("jane", "tablet", 0, WTIME_MAX, 0), 1, "other devices untouched");
    struct store_check_counts cc;
    cr_assert_eq(store_check(st, NULL, NULL, &cc), 0);
    cr_expect_eq(cc.problems, 0);
    cr_expect_eq(cc.points, 4000 + 1);
}

Test(store, deletes_a_device_with_its_events)
{
    write_many("jane", "phone", 1000, 3000);
    put_event(OWNTRACKS_CARD, 1, "{\"name\":\"Jane\"}");
    put_event(OWNTRACKS_TRANSITION, 5, "{\"event\":\"enter\"}");
    struct store_removed r;
    cr_assert_eq(store_delete_device(st, "jane", "phone", true, &r), 0);
    cr_expect_eq(r.points, 3000);
    cr_expect_eq(r.events, 2);
    cr_expect_eq(count_events(OWNTRACKS_CARD), 1, "a dry run keeps everything");
    cr_assert_eq(store_delete_device(st, "jane", "phone", false, &r), 0);
    struct store_device d;
    cr_expect_eq(store_get_device(st, "jane", "phone", &d), -ENOENT);
    struct store_stats stats;
    cr_assert_eq(store_stats(st, &stats), 0);
    cr_expect_eq(stats.points, 0);
    cr_expect_eq(stats.chunks, 0);
    cr_expect_eq(stats.events, 0);
    cr_expect_eq(store_delete_device(st, "jane", "phone", false, &r), 0, "twice is harmless");
    put_one("jane", "phone", 42, 1); /* the name can be used again */
    cr_expect_eq(visible_points("jane", "phone", 0, WTIME_MAX, 0), 1);
}

Test(store, hides_and_shows_points)
{
    write_many("jane", "phone", 1000, 500);
    cr_assert_eq(store_set_hidden(st, "jane", "phone", 1499, true), 0);
    cr_assert_eq(store_set_hidden(st, "jane", "phone", 1200, true), 0);
    cr_expect_eq(store_set_hidden(st, "jane", "phone", 99, true), -ENOENT);
    cr_expect_eq(visible_points("jane", "phone", 0, WTIME_MAX, 0), 498);
    cr_expect_eq(visible_points("jane", "phone", 0, WTIME_MAX, STORE_ITER_WITH_HIDDEN), 500);
    struct store_iter *it;
    struct store_item item;
    cr_assert_eq(
        store_iter_points(st, device_id("jane", "phone"), 0, WTIME_MAX, STORE_ITER_REVERSE, &it),
        0);
    cr_assert_eq(store_iter_next(it, &item), 1);
    cr_expect_eq(item.tst, 1498, "a hidden newest point is not the last position");
    store_iter_close(it);
    cr_assert_eq(store_set_hidden(st, "jane", "phone", 1499, false), 0);
    cr_expect_eq(visible_points("jane", "phone", 0, WTIME_MAX, 0), 499);
}

static void count_problem(void *arg, const char *what)
{
    (*(int *)arg)++;
    (void)what;
}

Test(store, copies_and_checks)
{
    write_many("jane", "phone", 1000, 5000);
    char file[300], dirc[300];
    snprintf(file, sizeof(file), "%s/backup.mdb", dir);
    snprintf(dirc, sizeof(dirc), "%s/compacted", dir);
    cr_assert_eq(store_copy(st, file, STORE_COPY_FILE), 0);
    cr_expect_eq(store_copy(st, file, STORE_COPY_FILE), -EEXIST, "never overwrites");
    cr_assert_eq(store_copy(st, dirc, STORE_COPY_DIR), 0);
    struct store *copy;
    cr_assert_eq(store_open(dirc, NULL, &copy), 0);
    int problems = 0;
    struct store_check_counts cc;
    cr_assert_eq(store_check(copy, count_problem, &problems, &cc), 0);
    cr_expect_eq(problems, 0);
    cr_expect_eq(cc.points, 5000);
    store_close(copy);
}

/* ------------------------------------------------------------------ map size */

#define MiB (1ull << 20)

/* Sizes from the policy hold their promises: whole multiples of STORE_MAP_ALIGN, largest
 * first, each smaller than the one before, from hi down to lo. */
static void expect_ladder(const uint64_t *sizes, size_t n, uint64_t hi, uint64_t lo)
{
    cr_assert_gt(n, 0, "some size to try");
    cr_assert_leq(n, STORE_MAP_TRIES);
    cr_expect_eq(sizes[0], hi, "first try %llu MiB (want %llu MiB)",
                 (unsigned long long)(sizes[0] / MiB), (unsigned long long)(hi / MiB));
    cr_expect_eq(sizes[n - 1], lo, "last try %llu KiB (want %llu KiB)",
                 (unsigned long long)(sizes[n - 1] >> 10), (unsigned long long)(lo >> 10));
    for (size_t i = 0; i < n; i++) {
        cr_expect_eq(sizes[i] % STORE_MAP_ALIGN, 0, "size %zu is aligned", i);
        if (i)
            cr_expect_lt(sizes[i], sizes[i - 1], "size %zu is smaller than the one before", i);
    }
}

Test(store_map, keeps_a_spare_for_the_rest_of_the_process)
{
    cr_expect_eq(store_map_ceiling(0), 0);
    cr_expect_eq(store_map_ceiling(STORE_MAP_SPARE_MIN), 0, "nothing left after the spare");
    cr_expect_eq(store_map_ceiling(100 * MiB), 100 * MiB - STORE_MAP_SPARE_MIN);
    cr_expect_eq(store_map_ceiling(3072 * MiB), 3072 * MiB - 192 * MiB,
                 "a sixteenth of a 32-bit board's address space");
    cr_expect_eq(store_map_ceiling(100 * MiB + 1000) % STORE_MAP_ALIGN, 0, "rounded down");
    cr_expect_gt(store_map_ceiling(UINT64_MAX), (uint64_t)1 << 40,
                 "no limit: no ceiling to speak of");
}

Test(store_map, opens_with_twice_the_file_within_the_ceiling)
{
    uint64_t sizes[STORE_MAP_TRIES];
    size_t n = store_map_open_sizes(0, 0, UINT64_MAX, sizes);
    expect_ladder(sizes, n, STORE_MAP_MIN, STORE_MAP_ALIGN);
    n = store_map_open_sizes(100 * MiB, 0, UINT64_MAX, sizes);
    expect_ladder(sizes, n, 200 * MiB, 100 * MiB);
    n = store_map_open_sizes(0, 256 << 10, UINT64_MAX, sizes);
    expect_ladder(sizes, n, 256 << 10, STORE_MAP_ALIGN);
    /* 264 MiB of room: a ceiling of 200 MiB (the room less STORE_MAP_SPARE_MIN) */
    n = store_map_open_sizes(0, 0, 264 * MiB, sizes);
    expect_ladder(sizes, n, STORE_MAP_MIN, STORE_MAP_ALIGN);
    n = store_map_open_sizes(90 * MiB, 0, 264 * MiB, sizes);
    expect_ladder(sizes, n, 180 * MiB, 90 * MiB);
    n = store_map_open_sizes(90 * MiB + 5, 0, 264 * MiB, sizes);
    expect_ladder(sizes, n, 180 * MiB, 90 * MiB + STORE_MAP_ALIGN);
}

Test(store_map, reopens_any_store_that_fits_the_room)
{
    uint64_t sizes[STORE_MAP_TRIES];
    /* More than half the room: twice the file does not fit, the ceiling does */
    size_t n = store_map_open_sizes(150 * MiB, 0, 264 * MiB, sizes);
    expect_ladder(sizes, n, 200 * MiB, 150 * MiB);
    /* Past the ceiling but within the room: the file alone (reads, and deleting) */
    n = store_map_open_sizes(220 * MiB, 0, 264 * MiB, sizes);
    expect_ladder(sizes, n, 220 * MiB, 220 * MiB);
    cr_expect_eq(n, 1);
    cr_expect_eq(store_map_open_sizes(265 * MiB, 0, 264 * MiB, sizes), 0,
                 "a store larger than the room cannot be mapped");
    cr_expect_eq(store_map_open_sizes(0, 0, 0, sizes), 0, "no room at all");
}

Test(store_map, grows_by_doubling_then_by_what_is_left)
{
    uint64_t sizes[STORE_MAP_TRIES];
    size_t n = store_map_grow_sizes(64 * MiB, UINT64_MAX, sizes);
    expect_ladder(sizes, n, 128 * MiB, 64 * MiB + STORE_MAP_ALIGN);
    cr_expect_eq(sizes[1], 96 * MiB, "then halfway");
    cr_expect_eq(n, STORE_MAP_TRIES, "as many tries as allowed");
    /* The case of the crash: 128 MiB under a limit that leaves a ceiling of 200 MiB */
    n = store_map_grow_sizes(128 * MiB, 264 * MiB, sizes);
    expect_ladder(sizes, n, 200 * MiB, 128 * MiB + STORE_MAP_ALIGN);
    cr_expect_eq(store_map_grow_sizes(200 * MiB, 264 * MiB, sizes), 0, "at the ceiling: full");
    cr_expect_eq(store_map_grow_sizes(220 * MiB, 264 * MiB, sizes), 0,
                 "opened past the ceiling: full");
    n = store_map_grow_sizes(200 * MiB - STORE_MAP_ALIGN, 264 * MiB, sizes);
    expect_ladder(sizes, n, 200 * MiB, 200 * MiB);
}

static uint64_t room_of(const char *maps_text, uint64_t limit, unsigned long ino)
{
    FILE *f = fmemopen((void *)maps_text, strlen(maps_text), "r");
    cr_assert_not_null(f);
    uint64_t room = store_map_room(f, limit, 8, 2, ino);
    fclose(f);
    return room;
}

Test(store_map, measures_the_room_from_the_address_space_map)
{
    char long_path[700];
    memset(long_path, 'p', sizeof(long_path) - 1);
    long_path[sizeof(long_path) - 1] = '\0';
    char maps[4096];
    /* A 32-bit layout: program, heap, the store's map (8:2 inode 99), libraries, stack, and
     * the kernel's vectors page above it. */
    snprintf(maps, sizeof(maps),
             "00400000-00500000 r-xp 00000000 08:02 17  /usr/bin/wherelog\n"
             "00600000-00700000 rw-p 00000000 00:00 0   [heap]\n"
             "40000000-50000000 r--s 00000000 08:02 99  /var/lib/wherelog/data.mdb\n"
             "60000000-60100000 r-xp 00000000 08:02 18  /usr/lib/%s\n"
             "b0000000-b0100000 rw-p 00000000 00:00 0\n"
             "bf000000-bf100000 rw-p 00000000 00:00 0   [stack]\n"
             "ffff0000-ffff1000 r-xp 00000000 00:00 0   [vectors]\n",
             long_path);
    uint64_t mapped = 5 * MiB + 4096;            /* everything but the store's map */
    uint64_t hole = 0x60000000ull - 0x700000ull; /* heap to libraries, the store's map freed */
    cr_expect_eq(room_of(maps, UINT64_MAX, 99), hole, "the largest hole below the stack");
    cr_expect_eq(room_of(maps, UINT64_MAX, 98), 0xb0000000ull - 0x60100000ull,
                 "another file's map is not ours to free");
    cr_expect_eq(room_of(maps, 300 * MiB, 99), 300 * MiB - mapped,
                 "the limit, less what is mapped");
    cr_expect_eq(room_of(maps, 2 * MiB, 99), 0, "a limit already exceeded leaves nothing");
    cr_expect_eq(room_of("", UINT64_MAX, 0), 0, "nothing known: no room claimed");
}

/* Under an address-space limit (RLIMIT_AS, what `ulimit -v` sets): these tests run the store
 * in a child process, which reports by its exit status what did not hold (0: all did). */

#if defined(__SANITIZE_ADDRESS__)
#define UNDER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define UNDER_ASAN 1
#endif
#endif

/* AddressSanitizer reserves terabytes of address space for its shadow memory, so nothing runs
 * under an address-space limit there: these tests run in the normal build (CI runs both). */
static void skip_under_asan(void)
{
#ifdef UNDER_ASAN
    cr_skip_test("AddressSanitizer cannot run under an address-space limit (RLIMIT_AS): "
                 "this test runs in the normal build");
#endif
}

#define CARD_FACE  (512u << 10) /* a card's face: eight of them make a 4 MiB batch */
#define CARD_BATCH 8

/* Address space this process has mapped (VmSize). */
static uint64_t vm_size(void)
{
    char line[256];
    unsigned long long kib = 0;
    FILE *f = fopen("/proc/self/status", "re");
    while (f && fgets(line, sizeof(line), f))
        if (sscanf(line, "VmSize: %llu kB", &kib) == 1)
            break;
    if (f)
        fclose(f);
    return (uint64_t)kib << 10;
}

/* Lets this process map `room` bytes more than it has now. */
static int limit_address_space(uint64_t room)
{
    struct rlimit rl = {.rlim_cur = vm_size() + room, .rlim_max = vm_size() + room};
    return setrlimit(RLIMIT_AS, &rl);
}

/* Can this process still map the spare the store promises to leave it (STORE_MAP_SPARE_MIN)? */
static bool spare_is_free(void)
{
    void *p = mmap(NULL, STORE_MAP_SPARE_MIN, PROT_NONE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED)
        return false;
    munmap(p, STORE_MAP_SPARE_MIN);
    return true;
}

/* A packed card with a big face (caller frees buf), in a child: no criterion asserts. */
static int big_card(struct sink *buf)
{
    char *doc = malloc(CARD_FACE + 64);
    if (!doc)
        return -ENOMEM;
    int n = snprintf(doc, 64, "{\"_type\":\"card\",\"name\":\"Jane\",\"face\":\"");
    memset(doc + n, 'A', CARD_FACE);
    memcpy(doc + n + CARD_FACE, "\"}", 3);
    struct json_object *o = json_tokener_parse(doc);
    free(doc);
    struct pack_encode_ctx ctx = {.type = "card"};
    int rc = o && sink_init_mem(buf, CARD_FACE + 256) == 0 ? pack_encode(buf, o, &ctx) : -EINVAL;
    json_object_put(o);
    return rc;
}

/* Stores the card for devices first..first+n-1 ("d0", "d1"...) of user jane, in one batch. */
static int put_cards(struct store *s, const struct sink *card, unsigned first, unsigned n)
{
    struct store_record recs[CARD_BATCH];
    enum store_result res[CARD_BATCH];
    char names[CARD_BATCH][16];
    for (unsigned i = 0; i < n && i < CARD_BATCH; i++) {
        snprintf(names[i], sizeof(names[i]), "d%u", first + i);
        recs[i] = (struct store_record){.kind = OWNTRACKS_CARD,
                                        .user = "jane",
                                        .device = names[i],
                                        .data = card->buf,
                                        .len = card->len,
                                        .received = 1};
    }
    return store_write_batch(s, recs, n < CARD_BATCH ? n : CARD_BATCH, res);
}

static size_t jane_devices(struct store *s)
{
    struct store_device *devs;
    size_t n = 0;
    if (store_devices(s, "jane", NULL, &devs, &n) != 0)
        return (size_t)-1;
    free(devs);
    return n;
}

/* Runs child(arg) in a child process whose stderr goes to `log` (if not NULL); returns its
 * exit status, or fails the test if it crashed. */
static int in_child(int (*child)(void *), void *arg, const char *log)
{
    fflush(NULL);
    pid_t pid = fork();
    cr_assert_geq(pid, 0, "fork");
    if (pid == 0) {
        if (log) {
            int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
            if (fd >= 0)
                dup2(fd, 2);
        }
        _exit(child(arg));
    }
    int status;
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    cr_assert(WIFEXITED(status), "the child ended by signal %d instead of returning an error",
              WIFSIGNALED(status) ? WTERMSIG(status) : 0);
    return WEXITSTATUS(status);
}

/* Runs child(arg) like in_child with its stderr kept in the store directory, closing the
 * store first (the child opens its own), and fails the test with that log if the child's
 * checks failed. The log is returned in text (at most size - 1 bytes) for later messages. */
static void in_logged_child(int (*child)(void *), void *arg, char *text, size_t size)
{
    char log[300];
    snprintf(log, sizeof(log), "%s/child.log", dir);
    store_close(st);
    st = NULL;
    int code = in_child(child, arg, log);
    text[0] = '\0';
    FILE *f = fopen(log, "re");
    if (f) {
        text[fread(text, 1, size - 1, f)] = '\0';
        fclose(f);
    }
    cr_assert_eq(code, 0, "check %d failed in the child; its log:\n%s", code, text);
}

struct fill_result {
    unsigned stored;  /* cards stored before the map was full */
    uint64_t map_max; /* the largest map the child could have */
};

/* Fills the store with cards under a limit until the map is full, then checks that reads go
 * on and that deleting makes room again. Returns 0 or the number of the check that failed. */
static int fill_child(void *arg)
{
    struct fill_result *out = arg;
    struct store *s;
    struct sink card;
    struct store_stats ss;
    int rc = 0;

    if (big_card(&card) || limit_address_space(160 * MiB) || store_open(dir, NULL, &s))
        return 2;
    unsigned stored = 0;
    while (stored < 1000 && (rc = put_cards(s, &card, stored, CARD_BATCH)) == 0)
        stored += CARD_BATCH;
    fprintf(stderr, "%u cards (%u MiB) stored, then: %s\n", stored, stored / 2, wl_strerror(rc));
    if (rc != WL_EMAPFULL)
        return 3;
    if (!store_map_full(s) || store_stats(s, &ss) || !ss.map_full)
        return 4;
    if (ss.map_resizes < 1 || ss.map_bytes > ss.map_max_bytes || ss.map_max_bytes > 160 * MiB)
        return 5;
    if (!spare_is_free())
        return 11; /* the map left the rest of the process its spare */
    if (jane_devices(s) != stored)
        return 6; /* reads go on */
    struct store_iter *it;
    struct store_item item;
    struct store_device d;
    if (store_get_device(s, "jane", "d0", &d) ||
        store_iter_events(s, d.id, OWNTRACKS_CARD, 0, WTIME_MAX, 0, &it))
        return 7;
    rc = store_iter_next(it, &item) == 1 && item.len == card.len;
    store_iter_close(it);
    if (!rc)
        return 7;
    if (put_cards(s, &card, stored, CARD_BATCH) != WL_EMAPFULL || !store_map_full(s))
        return 8; /* still full, still no crash */
    struct store_removed removed;
    char name[16];
    for (unsigned i = 0; i < 2 * CARD_BATCH; i++) {
        snprintf(name, sizeof(name), "d%u", i);
        if (store_delete_device(s, "jane", name, false, &removed) || !removed.device)
            return 9;
    }
    if (put_cards(s, &card, stored, CARD_BATCH) != 0 || store_map_full(s))
        return 10; /* deleting made room */
    store_stats(s, &ss);
    out->stored = stored;
    out->map_max = ss.map_max_bytes;
    store_close(s);
    sink_free(&card);
    return 0;
}

/* Memory the child writes its results into and the parent reads. */
static void *shared_result(size_t size)
{
    void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    cr_assert_neq(p, MAP_FAILED);
    memset(p, 0, size);
    return p;
}

static void expect_clean(struct store *s, uint64_t events)
{
    int problems = 0;
    struct store_check_counts cc;
    cr_assert_eq(store_check(s, count_problem, &problems, &cc), 0);
    cr_expect_eq(problems, 0, "the store checks clean");
    cr_expect_eq(cc.events, events, "%llu cards kept (want %llu)", (unsigned long long)cc.events,
                 (unsigned long long)events);
}

Test(store_map, a_full_map_refuses_writes_keeps_reads_and_loses_nothing, .init = setup,
     .fini = teardown)
{
    skip_under_asan();
    store_close(st); /* the child opens it: an LMDB environment does not survive fork */
    st = NULL;
    struct fill_result *res = shared_result(sizeof(*res));
    int code = in_child(fill_child, res, NULL);
    cr_assert_eq(code, 0, "check %d failed in the child under a 160 MiB limit (see above)", code);
    cr_expect_geq(res->stored, 8 * CARD_BATCH, "the map grew past its first 64 MiB");
    /* Without the limit everything committed is there, and the cards written after the
     * deletion too. */
    cr_assert_eq(store_open(dir, NULL, &st), 0);
    cr_expect_eq(jane_devices(st), res->stored - CARD_BATCH);
    expect_clean(st, res->stored - CARD_BATCH);
    munmap(res, sizeof(*res));
}

struct reopen_job {
    uint64_t file;  /* data.mdb's size */
    uint64_t room;  /* what the child may map more */
    int open_rc;    /* store_open's answer */
    uint64_t map;   /* the map it got */
    size_t devices; /* what it read */
};

static int reopen_child(void *arg)
{
    struct reopen_job *job = arg;
    struct store *s;
    struct store_stats ss;

    if (limit_address_space(job->room))
        return 2;
    job->open_rc = store_open(dir, NULL, &s);
    if (job->open_rc)
        return 0;
    job->devices = jane_devices(s);
    if (store_stats(s, &ss) == 0)
        job->map = ss.map_bytes;
    store_close(s);
    return 0;
}

Test(store_map, reopens_a_store_larger_than_half_of_what_it_can_map, .init = setup,
     .fini = teardown)
{
    skip_under_asan();
    struct sink card;
    cr_assert_eq(big_card(&card), 0);
    for (unsigned i = 0; i < 96 * MiB / CARD_FACE; i += CARD_BATCH)
        cr_assert_eq(put_cards(st, &card, i, CARD_BATCH), 0);
    sink_free(&card);
    store_close(st);
    st = NULL;

    struct stat fst;
    char path[300];
    snprintf(path, sizeof(path), "%s/data.mdb", dir);
    cr_assert_eq(stat(path, &fst), 0);
    struct reopen_job *job = shared_result(sizeof(*job));
    /* Room for the file and 48 MiB more: not for twice the file, as store_open asked. */
    job->file = (uint64_t)fst.st_size;
    job->room = job->file + 48 * MiB;
    cr_assert_eq(in_child(reopen_child, job, NULL), 0);
    cr_expect_eq(job->open_rc, 0, "opens a %llu MiB store with %llu MiB of room: %s",
                 (unsigned long long)(job->file / MiB), (unsigned long long)(job->room / MiB),
                 wl_strerror(job->open_rc));
    cr_expect_geq(job->map, job->file, "the whole file is mapped");
    cr_expect_eq(job->devices, 96 * MiB / CARD_FACE, "and read");

    /* With room for half the file, it says why it cannot, and does not crash. */
    job->room = job->file / 2;
    cr_assert_eq(in_child(reopen_child, job, NULL), 0);
    cr_expect_eq(job->open_rc, WL_EMAPFULL, "%s", wl_strerror(job->open_rc));
    munmap(job, sizeof(*job));
}

struct refused_job {
    int write_rc; /* the write that ended the fill */
    unsigned stored;
};

/*
 * Makes the room look larger than it is: a second mapping of data.mdb counts as the store's
 * own map (free once it is remapped) but is not LMDB's to unmap, so the first sizes tried are
 * refused by the system and must be undone. Being larger than the spare, it also makes the
 * sizes that the system accepts leave less than the spare: they are given up too.
 */
static int refused_child(void *arg)
{
    struct refused_job *job = arg;
    struct store *s;
    struct sink card;
    char path[300];

    if (big_card(&card) || limit_address_space(200 * MiB) || store_open(dir, NULL, &s))
        return 2;
    snprintf(path, sizeof(path), "%s/data.mdb", dir);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0 || mmap(NULL, 96 * MiB, PROT_READ, MAP_SHARED, fd, 0) == MAP_FAILED)
        return 3;
    close(fd);
    int rc;
    unsigned stored = 0;
    while (stored < 1000 && (rc = put_cards(s, &card, stored, CARD_BATCH)) == 0)
        stored += CARD_BATCH;
    job->write_rc = rc;
    job->stored = stored;
    if (rc == 0 || jane_devices(s) != stored)
        return 4; /* full in the end, and still readable */
    store_close(s);
    sink_free(&card);
    return 0;
}

Test(store_map, undoes_a_map_size_the_system_refuses, .init = setup, .fini = teardown)
{
    skip_under_asan();
    struct refused_job *job = shared_result(sizeof(*job));
    char text[16384];
    in_logged_child(refused_child, job, text, sizeof(text));
    cr_expect_eq(job->write_rc, WL_EMAPFULL, "%s; the child's log:\n%s", wl_strerror(job->write_rc),
                 text);
    cr_expect_not_null(strstr(text, "the system refused a map"), "a size was refused:\n%s", text);
    cr_assert_eq(store_open(dir, NULL, &st), 0);
    cr_expect_eq(jane_devices(st), job->stored, "everything committed is there");
    expect_clean(st, job->stored);
    munmap(job, sizeof(*job));
}

struct hog_job {
    unsigned stored; /* cards committed before the address space ran out */
    int starved_rc;  /* the write made with no address space left */
    unsigned after;  /* cards committed once it was given back */
};

struct hog {
    void **mapped, **allocated; /* lists through the pieces' first words */
};

/* Takes all the address space this process has left, in 1 MiB maps, then what malloc's heap
 * still has free (from 1 MiB down to 4 KiB pieces), so that the next allocation of a page or
 * more fails as it would at the edge. */
static void hog_address_space(struct hog *h)
{
    *h = (struct hog){0};
    for (;;) {
        void **p = mmap(NULL, MiB, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (p == MAP_FAILED)
            break;
        *p = h->mapped;
        h->mapped = p;
    }
    for (size_t piece = MiB; piece >= 4096; piece /= 2) {
        void **p;
        while ((p = malloc(piece))) {
            *p = h->allocated;
            h->allocated = p;
        }
    }
}

static void give_back(struct hog *h)
{
    for (void **p = h->mapped, **next; p; p = next) {
        next = *p;
        munmap(p, MiB);
    }
    for (void **p = h->allocated, **next; p; p = next) {
        next = *p;
        free(p);
    }
}

/* Writes a card, then eight with no address space left at all (malloc and LMDB get ENOMEM),
 * then again once it is given back. Returns 0 or the number of the check that failed. */
static int starved_child(void *arg)
{
    struct hog_job *job = arg;
    struct store *s;
    struct sink card;

    if (big_card(&card) || limit_address_space(160 * MiB) || store_open(dir, NULL, &s))
        return 2;
    /* One card first: what its write leaves in malloc's heap is less than eight need. */
    if (put_cards(s, &card, 0, 1))
        return 3;
    job->stored = 1;
    struct hog hog;
    hog_address_space(&hog);
    job->starved_rc = put_cards(s, &card, job->stored, CARD_BATCH);
    give_back(&hog);
    if (job->starved_rc == 0)
        return 4; /* the hog did not take the room a batch of cards needs */
    if (jane_devices(s) != job->stored)
        return 5; /* reads go on, and the failed write left nothing */
    for (unsigned i = 0; i < CARD_BATCH; i++)
        if (put_cards(s, &card, job->stored + job->after, 1) == 0)
            job->after++;
    if (job->after != CARD_BATCH)
        return 6; /* writing again once there is room */
    store_close(s);
    sink_free(&card);
    return 0;
}

Test(store_map, a_write_without_memory_fails_cleanly_and_loses_nothing, .init = setup,
     .fini = teardown)
{
    skip_under_asan();
    struct hog_job *job = shared_result(sizeof(*job));
    char text[16384];
    in_logged_child(starved_child, job, text, sizeof(text));
    cr_expect(job->starved_rc == -ENOMEM || job->starved_rc == WL_EMAPFULL,
              "out of memory or map full, not: %s", wl_strerror(job->starved_rc));
    cr_assert_eq(store_open(dir, NULL, &st), 0);
    cr_expect_eq(jane_devices(st), job->stored + job->after, "everything committed is there");
    expect_clean(st, job->stored + job->after);
    munmap(job, sizeof(*job));
}
