#include <criterion/criterion.h>
#include <errno.h>
#include <json-c/json.h>
#include <lmdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

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
    struct pk_encode_ctx ctx = {.type = "location", .tst = tst, .tst_member = true};
    cr_assert_eq(sink_init_mem(buf, 64), 0);
    cr_assert_eq(pk_encode(buf, o, &ctx), 0);
    json_object_put(o);
    return (struct store_record){.kind = OT_LOCATION,
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
    struct pk_value v;
    double d = 0;
    cr_assert_eq(pk_find(it->data, it->len, it->tst, "location", "lat", &v), 1);
    pk_to_double(&v, &d);
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
    struct pk_encode_ctx ctx = {.type = "location", .tst = tst, .tst_member = true};
    sink_init_mem(buf, 64);
    cr_assert_eq(pk_encode(buf, o, &ctx), 0);
    json_object_put(o);
    free(doc);
    return (struct store_record){.kind = OT_LOCATION,
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
        struct pk_value v;
        cr_assert_eq(pk_find(item.data, item.len, item.tst, "location", "pad", &v), 1);
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
    char names[8][2 * OT_NAME_MAX + 2];
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

static enum store_result put_event(enum ot_kind kind, int64_t tst, const char *doc)
{
    struct json_object *o = json_tokener_parse(doc);
    struct sink buf;
    struct pk_encode_ctx ctx = {.type = ot_kind_name(kind), .tst = tst};
    enum store_result res;
    sink_init_mem(&buf, 64);
    cr_assert_eq(pk_encode(&buf, o, &ctx), 0);
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

static size_t count_events(enum ot_kind kind)
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
    cr_expect_eq(put_event(OT_TRANSITION, 100, "{\"event\":\"enter\",\"desc\":\"A\"}"),
                 STORE_STORED);
    cr_expect_eq(put_event(OT_TRANSITION, 100, "{\"event\":\"enter\",\"desc\":\"A\"}"),
                 STORE_DUPLICATE);
    cr_expect_eq(put_event(OT_TRANSITION, 100, "{\"event\":\"leave\",\"desc\":\"B\"}"),
                 STORE_STORED, "another event in the same second is kept");
    cr_expect_eq(count_events(OT_TRANSITION), 2);
    /* latest only */
    cr_expect_eq(put_event(OT_CARD, 1, "{\"name\":\"Jane\"}"), STORE_STORED);
    cr_expect_eq(put_event(OT_CARD, 2, "{\"name\":\"Jane D.\"}"), STORE_STORED);
    cr_expect_eq(put_event(OT_CARD, 3, "{\"name\":\"Jane D.\"}"), STORE_DUPLICATE);
    cr_expect_eq(count_events(OT_CARD), 1);
    /* waypoints by identity (their tst) */
    cr_expect_eq(put_event(OT_WAYPOINT, 7, "{\"desc\":\"Home\",\"rad\":50}"), STORE_STORED);
    cr_expect_eq(put_event(OT_WAYPOINT, 7, "{\"desc\":\"Home\",\"rad\":80}"), STORE_STORED);
    cr_expect_eq(put_event(OT_WAYPOINT, 8, "{\"desc\":\"Work\"}"), STORE_STORED);
    cr_expect_eq(count_events(OT_WAYPOINT), 2);
    cr_expect_eq(count_events(OT_LOCATION), 0, "events never mix with points");
}

Test(store, keeps_encryption_keys)
{
    unsigned char secret[OT_SECRET_MAX];
    cr_expect_eq(store_key_get(st, "jane", "phone", secret), 0);
    cr_assert_eq(store_key_set(st, "jane", "phone", (const unsigned char *)"s3cret", 6), 0);
    cr_assert_eq(store_key_get(st, "jane", "phone", secret), 6);
    cr_expect_eq(memcmp(secret, "s3cret", 6), 0);
    struct ot_keyring kr = store_keyring(st);
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
    put_event(OT_CARD, 1, "{\"name\":\"Jane\"}");
    put_event(OT_TRANSITION, 5, "{\"event\":\"enter\"}");
    struct store_removed r;
    cr_assert_eq(store_delete_device(st, "jane", "phone", true, &r), 0);
    cr_expect_eq(r.points, 3000);
    cr_expect_eq(r.events, 2);
    cr_expect_eq(count_events(OT_CARD), 1, "a dry run keeps everything");
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
