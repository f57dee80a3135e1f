/* Events derived at ingest (store.h, "events"; store_events.c): battery hysteresis, the
 * phone's transitions, the timeline's stays and trips, silences, and the webhooks' outbox;
 * and the pieces the outlets share (event.h, webhook_sign). */
#include <criterion/criterion.h>
#include <errno.h>
#include <json-c/json.h>
#include <lmdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "event.h"
#include "helpers.h"
#include "pack.h"
#include "store.h"
#include "tlread.h"
#include "webhook.h"
#include "wl.h"
#include "wtime.h"

static char dir[256];
static struct store *st;

/* What the hook saw. */
#define HOOKED_MAX 256
static struct store_event hooked[HOOKED_MAX];
static size_t nhooked;

static void on_event(void *arg, const struct store_event *ev)
{
    (void)arg;
    cr_assert(nhooked < HOOKED_MAX);
    hooked[nhooked++] = *ev;
}

static void setup(void)
{
    static struct store_user_settings utc;
    tmpdir_make(dir, sizeof(dir));
    snprintf(utc.zone, sizeof(utc.zone), "UTC");
    tl_settings_default(&utc.tl);
    struct store_options opt = {.timeline = &utc, .battery_low = 20};
    cr_assert_eq(store_open(dir, &opt, &st), 0);
    nhooked = 0;
    store_set_event_hook(st, on_event, NULL);
}

static void teardown(void)
{
    store_close(st);
    tmpdir_remove(dir);
}

TestSuite(store_events, .init = setup, .fini = teardown);

#define T0 1714694400 /* 2024-05-03 */

/* Writes one message (JSON text) of a kind for user/device, alone in a batch. */
static enum store_result write_doc(const char *user, const char *device, const char *type,
                                   int64_t tst, const char *json)
{
    struct json_object *o = json_tokener_parse(json);
    cr_assert(o, "test JSON parses: %s", json);
    struct pack_encode_ctx ctx = {.type = type, .tst = tst, .tst_member = true};
    struct sink buf;
    cr_assert_eq(sink_init_mem(&buf, 128), 0);
    cr_assert_eq(pack_encode(&buf, o, &ctx), 0);
    json_object_put(o);
    struct store_record r = {.kind = owntracks_kind_from_name(type),
                             .user = user,
                             .device = device,
                             .tst = tst,
                             .data = buf.buf,
                             .len = buf.len,
                             .received = tst};
    enum store_result res;
    cr_assert_eq(store_write_batch(st, &r, 1, &res), 0);
    sink_free(&buf);
    return res;
}

static void fix(const char *device, int64_t tst, double lat, double lon, int batt)
{
    char doc[256];
    if (batt >= 0)
        snprintf(doc, sizeof(doc),
                 "{\"_type\":\"location\",\"lat\":%.6f,\"lon\":%.6f,\"acc\":10,\"batt\":%d,"
                 "\"tst\":%lld}",
                 lat, lon, batt, (long long)tst);
    else
        snprintf(doc, sizeof(doc),
                 "{\"_type\":\"location\",\"lat\":%.6f,\"lon\":%.6f,\"acc\":10,\"tst\":%lld}", lat,
                 lon, (long long)tst);
    write_doc("jane", device, "location", tst, doc);
}

static size_t count_kind(enum store_event_kind kind)
{
    size_t n = 0;
    for (size_t i = 0; i < nhooked; i++)
        n += hooked[i].kind == kind;
    return n;
}

struct read_ctx {
    struct store_event v[HOOKED_MAX];
    size_t n;
};

static int collect(void *arg, const struct store_event *ev)
{
    struct read_ctx *c = arg;
    cr_assert(c->n < HOOKED_MAX);
    c->v[c->n++] = *ev;
    return 0;
}

static void read_events(const char *device, unsigned kinds, struct read_ctx *c)
{
    struct store_device d;
    c->n = 0;
    cr_assert_eq(store_get_device(st, "jane", device, &d), 0);
    cr_assert_eq(store_events_read(st, &d, 0, WTIME_MAX, kinds, collect, c), 0);
}

Test(store_events, battery_low_once_per_crossing)
{
    /* Falls below 20 at 19; 18 and the rise to 22 and 24 are the same crossing (re-armed only
     * at 25); 19 again after 25 is a second one; 10 and 30 are not. */
    const int batt[] = {50, 19, 18, 22, 24, 25, 19, 10, 30};
    for (size_t i = 0; i < WL_ARRAY_LEN(batt); i++)
        fix("phone", T0 + (int64_t)i * 60, 48.85, 2.35, batt[i]);
    cr_assert_eq(count_kind(STORE_EV_BATTERY_LOW), 2, "two crossings, two events (got %zu)",
                 count_kind(STORE_EV_BATTERY_LOW));
    /* A late fix with a low battery says nothing about the battery now. */
    fix("phone", T0 + 30, 48.85, 2.35, 3);
    cr_assert_eq(count_kind(STORE_EV_BATTERY_LOW), 2, "a late fix makes no battery event");
    /* A fix without batt changes nothing either. */
    fix("phone", T0 + 3600, 48.85, 2.35, -1);
    fix("phone", T0 + 3660, 48.85, 2.35, 15);
    cr_assert_eq(count_kind(STORE_EV_BATTERY_LOW), 3, "the fall after 30 is a crossing");

    struct read_ctx c;
    read_events("phone", STORE_EVENT_KIND_BIT(STORE_EV_BATTERY_LOW), &c);
    cr_assert_eq(c.n, 3, "the events are stored: %zu", c.n);
    cr_assert_eq(c.v[0].tst, T0 + 60);
    cr_assert_eq(c.v[1].tst, T0 + 6 * 60);
    cr_assert(strstr(c.v[0].fields, "\"batt\":19"), "fields: %s", c.v[0].fields);
    cr_assert(c.v[0].seq < c.v[1].seq && c.v[1].seq < c.v[2].seq, "ids grow in commit order");
}

Test(store_events, a_transition_is_an_event_once)
{
    const char *doc = "{\"_type\":\"transition\",\"event\":\"enter\",\"desc\":\"Home\","
                      "\"t\":\"c\",\"lat\":48.85,\"lon\":2.35,\"acc\":10,\"tst\":1714694400,"
                      "\"wtst\":1714600000}";
    cr_assert_eq(write_doc("jane", "phone", "transition", T0, doc), STORE_STORED);
    cr_assert_eq(write_doc("jane", "phone", "transition", T0, doc), STORE_DUPLICATE);
    cr_assert_eq(count_kind(STORE_EV_TRANSITION), 1, "a redelivered transition is no new event");
    const struct store_event *e = &hooked[0];
    cr_assert(strstr(e->fields, "\"event\":\"enter\"") && strstr(e->fields, "\"desc\":\"Home\""),
              "fields: %s", e->fields);

    /* As JSON, as every outlet shows it. */
    struct sink out;
    cr_assert_eq(sink_init_mem(&out, 256), 0);
    event_json(&out, e);
    sink_putc(&out, 0);
    struct json_object *o = json_tokener_parse(out.buf);
    cr_assert(o, "event_json is JSON: %s", out.buf);
    struct json_object *v;
    cr_assert(json_object_object_get_ex(o, "_type", &v) &&
              strcmp(json_object_get_string(v), "event") == 0);
    cr_assert(json_object_object_get_ex(o, "kind", &v) &&
              strcmp(json_object_get_string(v), "transition") == 0);
    cr_assert(json_object_object_get_ex(o, "id", &v) && json_object_get_int64(v) == e->seq);
    cr_assert(json_object_object_get_ex(o, "desc", &v) &&
              strcmp(json_object_get_string(v), "Home") == 0);
    json_object_put(o);
    sink_free(&out);
}

Test(store_events, stays_and_trips_of_the_timeline)
{
    /* 30 min at A, 20 min walking 2 km north, 30 min at B: a stay, a trip, a stay. */
    const double m = 1.0 / 111195.0;
    int64_t t = T0;
    for (; t < T0 + 1800; t += 60)
        fix("phone", t, 48.85, 2.35, -1);
    for (int i = 1; i <= 40; i++, t += 30)
        fix("phone", t, 48.85 + i * 50 * m, 2.35, -1);
    for (int64_t end = t + 1800; t < end; t += 60)
        fix("phone", t, 48.85 + 2000 * m, 2.35, -1);

    cr_assert_geq(count_kind(STORE_EV_STAY_STARTED), 2, "both stays started");
    cr_assert_geq(count_kind(STORE_EV_STAY_ENDED), 1, "the first stay ended");
    cr_assert_geq(count_kind(STORE_EV_TRIP_ENDED), 1, "the walk ended");
    /* In time order: the first stay ends before the trip ends, which is before B's stay. */
    size_t stay_end = SIZE_MAX, trip_end = SIZE_MAX, second_stay = SIZE_MAX;
    for (size_t i = 0; i < nhooked; i++) {
        if (hooked[i].kind == STORE_EV_STAY_ENDED && stay_end == SIZE_MAX)
            stay_end = i;
        if (hooked[i].kind == STORE_EV_TRIP_ENDED && trip_end == SIZE_MAX)
            trip_end = i;
        if (hooked[i].kind == STORE_EV_STAY_STARTED && i > stay_end)
            second_stay = i;
    }
    cr_assert(stay_end < trip_end && trip_end <= second_stay, "order: %zu %zu %zu", stay_end,
              trip_end, second_stay);
    cr_assert(strstr(hooked[trip_end].fields, "\"distance_m\":"), "a trip says how far: %s",
              hooked[trip_end].fields);

    /* The hook saw exactly what is stored. */
    struct read_ctx c;
    read_events("phone", 0, &c);
    cr_assert_eq(c.n, nhooked, "stored %zu, hooked %zu", c.n, nhooked);
}

Test(store_events, only_a_store_with_a_hook_derives_events)
{
    store_set_event_hook(st, NULL, NULL); /* an import, `wherelog import` */
    fix("phone", T0, 48.85, 2.35, 50);
    fix("phone", T0 + 60, 48.85, 2.35, 5);
    store_set_event_hook(st, on_event, NULL);
    struct read_ctx c;
    read_events("phone", 0, &c);
    cr_assert_eq(c.n, 0, "history imported is not news");

    /* With the timeline deferred (timeline-ingest off), the battery still speaks. */
    store_set_timeline_deferred(st, true);
    fix("phone", T0 + 120, 48.85, 2.35, 50);
    fix("phone", T0 + 180, 48.85, 2.35, 5);
    store_set_timeline_deferred(st, false);
    cr_assert_eq(count_kind(STORE_EV_BATTERY_LOW), 1);
}

Test(store_events, silence_once_until_the_device_speaks)
{
    unsigned found;
    fix("phone", T0, 48.85, 2.35, -1);
    fix("tablet", T0, 48.85, 2.35, -1);
    cr_assert_eq(store_events_check_silence(st, T0 + 100, 3600, &found), 0);
    cr_assert_eq(found, 0, "not silent yet");
    cr_assert_eq(store_events_check_silence(st, T0 + 7200, 3600, &found), 0);
    cr_assert_eq(found, 2, "both devices are silent");
    cr_assert_eq(store_events_check_silence(st, T0 + 9000, 3600, &found), 0);
    cr_assert_eq(found, 0, "once per silence");
    fix("phone", T0 + 9100, 48.85, 2.35, -1);
    cr_assert_eq(store_events_check_silence(st, T0 + 9100 + 7200, 3600, &found), 0);
    cr_assert_eq(found, 1, "the phone spoke, then fell silent again: one more");
    cr_assert_eq(count_kind(STORE_EV_SILENT), 3);
}

static uint32_t add_webhook(const char *user, const char *url, unsigned kinds)
{
    struct store_webhook w = {.kinds = kinds};
    uint32_t id;
    snprintf(w.user, sizeof(w.user), "%s", user);
    snprintf(w.url, sizeof(w.url), "%s", url);
    memcpy(w.secret, "k", 1);
    w.secret_len = 1;
    cr_assert_eq(store_webhook_add(st, &w, &id), 0);
    return id;
}

Test(store_events, the_outbox_holds_each_event_per_webhook_in_order)
{
    uint32_t battery =
        add_webhook("jane", "http://127.0.0.1:1/a", STORE_EVENT_KIND_BIT(STORE_EV_BATTERY_LOW));
    uint32_t all = add_webhook("jane", "http://127.0.0.1:1/b", 0);
    add_webhook("bob", "http://127.0.0.1:1/c", 0);
    struct store_webhook bad = {.user = "jane", .url = "ftp://x"};
    cr_assert_eq(store_webhook_add(st, &bad, NULL), -EINVAL, "only http(s) URLs");

    /* Two crossings on each of two devices. */
    const int batt[] = {50, 10, 50, 10};
    for (size_t i = 0; i < WL_ARRAY_LEN(batt); i++) {
        fix("phone", T0 + (int64_t)i * 60, 48.85, 2.35, batt[i]);
        fix("watch", T0 + (int64_t)i * 60, 48.85, 2.35, batt[i]);
    }
    cr_assert_eq(count_kind(STORE_EV_BATTERY_LOW), 4);

    struct store_delivery heads[16];
    long n = store_outbox_heads(st, heads, 16, 1);
    cr_assert_eq(n, 4, "a head per (webhook, device): %ld", n);
    for (long i = 0; i < n; i++) {
        cr_assert(heads[i].webhook == battery || heads[i].webhook == all, "not bob's");
        cr_assert_eq(heads[i].ev.kind, STORE_EV_BATTERY_LOW);
        cr_assert_str_eq(heads[i].ev.user, "jane");
        cr_assert(strcmp(heads[i].ev.device, "phone") == 0 ||
                  strcmp(heads[i].ev.device, "watch") == 0);
    }
    /* The head of (battery, phone) is its first event; delivering it shows the second. */
    uint32_t first = heads[0].ev.seq;
    int64_t first_tst = heads[0].ev.tst;
    const struct store_delivery *done[] = {&heads[0]};
    cr_assert_eq(store_outbox_done(st, done, 1), 0);
    long m = store_outbox_heads(st, heads, 16, 1);
    cr_assert_eq(m, 4);
    cr_assert_gt(heads[0].ev.seq, first, "the next event of that device comes next");
    cr_assert_gt(heads[0].ev.tst, first_tst);

    /* Several of a group, in order. */
    m = store_outbox_heads(st, heads, 16, 8);
    cr_assert_eq(m, 7, "all the records: %ld", m);
    for (long i = 1; i < m; i++)
        if (heads[i].webhook == heads[i - 1].webhook && heads[i].device == heads[i - 1].device)
            cr_assert_gt(heads[i].ev.seq, heads[i - 1].ev.seq, "a group's in event order");
    cr_assert_eq(store_outbox_heads(st, heads, 3, 8), 3, "at most max");

    /* Deleting a webhook takes its records with it. */
    cr_assert_eq(store_webhook_delete(st, "bob", all), -ENOENT, "not bob's webhook");
    cr_assert_eq(store_webhook_delete(st, "jane", all), 0);
    m = store_outbox_heads(st, heads, 16, 1);
    cr_assert_eq(m, 2, "only the battery webhook's records are left: %ld", m);

    /* The bounds: by count, then by age. */
    uint64_t dropped, left;
    cr_assert_eq(store_outbox_trim(st, T0, 0, 2, &dropped, &left), 0);
    cr_assert_eq(dropped, 1, "3 records, at most 2: %llu", (unsigned long long)dropped);
    cr_assert_eq(left, 2);
    cr_assert_eq(store_outbox_trim(st, time(NULL) + 3600, 60, 0, &dropped, &left), 0);
    cr_assert_eq(dropped, 2, "older than a minute, an hour from now");
    cr_assert_eq(left, 0);
    cr_assert_eq(store_outbox_heads(st, heads, 16, 1), 0);
}

/* ---------------------------------------------------------------- places */

#define PLAT  48.85
#define PLON  2.35
#define NORTH (1.0 / 111195.08) /* degrees of latitude in a metre (geo.h's sphere) */

static uint32_t add_place(const char *name, double lat, double lon, double radius)
{
    struct store_place p = {.lat = lat, .lon = lon, .radius_m = radius, .created = T0};
    snprintf(p.user, sizeof(p.user), "jane");
    snprintf(p.name, sizeof(p.name), "%s", name);
    cr_assert_eq(store_place_add(st, &p), 0, "place %s added", name);
    return p.id;
}

/* A fix of jane's phone `metres` north of (PLAT, PLON) with this accuracy (< 0: none). */
static void fix_at(int64_t tst, double metres, double acc)
{
    char doc[256];
    double lat = PLAT + metres * NORTH;
    if (acc >= 0)
        snprintf(doc, sizeof(doc),
                 "{\"_type\":\"location\",\"lat\":%.7f,\"lon\":%.6f,\"acc\":%.0f,\"tst\":%lld}",
                 lat, PLON, acc, (long long)tst);
    else
        snprintf(doc, sizeof(doc),
                 "{\"_type\":\"location\",\"lat\":%.7f,\"lon\":%.6f,\"tst\":%lld}", lat, PLON,
                 (long long)tst);
    write_doc("jane", "phone", "location", tst, doc);
}

/* The place events the hook saw, as "+ID" (entered) and "-ID" (left), in order. */
static const char *place_moves(char *buf, size_t size)
{
    size_t n = 0;
    buf[0] = 0;
    for (size_t i = 0; i < nhooked && n < size; i++) {
        const struct store_event *e = &hooked[i];
        if (e->kind != STORE_EV_PLACE_ENTERED && e->kind != STORE_EV_PLACE_LEFT)
            continue;
        const char *id = strstr(e->fields, "\"place\":");
        cr_assert(id, "a place event names its place: %s", e->fields);
        int w = snprintf(buf + n, size - n, "%s%c%ld", n ? " " : "",
                         e->kind == STORE_EV_PLACE_ENTERED ? '+' : '-', strtol(id + 8, NULL, 10));
        cr_assert(w > 0 && (size_t)w < size - n);
        n += (size_t)w;
    }
    return buf;
}

#define cr_assert_moves(want, why)                                                                 \
    do {                                                                                           \
        char moves_[256];                                                                          \
        cr_assert_str_eq(place_moves(moves_, sizeof(moves_)), want, "%s", why);                    \
    } while (0)

/* The fields of the last place event as a JSON object (caller puts it). */
static struct json_object *last_place_fields(void)
{
    for (size_t i = nhooked; i-- > 0;) {
        if (hooked[i].kind != STORE_EV_PLACE_ENTERED && hooked[i].kind != STORE_EV_PLACE_LEFT)
            continue;
        char doc[STORE_EVENT_FIELDS_MAX + 2];
        snprintf(doc, sizeof(doc), "{%s}", hooked[i].fields);
        struct json_object *o = json_tokener_parse(doc);
        cr_assert(o, "fields are JSON members: %s", hooked[i].fields);
        return o;
    }
    cr_assert_fail("no place event");
    return NULL;
}

static const char *member_string(struct json_object *o, const char *name)
{
    struct json_object *v;
    return json_object_object_get_ex(o, name, &v) ? json_object_get_string(v) : NULL;
}

Test(store_events, a_place_is_entered_and_left)
{
    uint32_t home = add_place("Home", PLAT, PLON, 100);
    fix_at(T0, 300, 10);
    cr_assert_moves("", "300 m away is not in a 100 m place");
    fix_at(T0 + 60, 20, 10);
    char want[64];
    snprintf(want, sizeof(want), "+%u", home);
    cr_assert_moves(want, "20 m from the centre enters");
    struct json_object *o = last_place_fields(), *v;
    cr_assert_str_eq(member_string(o, "name"), "Home");
    cr_assert(json_object_object_get_ex(o, "lat", &v) && json_object_object_get_ex(o, "lon", &v));
    cr_assert(json_object_object_get_ex(o, "acc", &v) && json_object_get_int(v) == 10);
    json_object_put(o);

    fix_at(T0 + 120, 130, 10);
    cr_assert_moves(want, "130 m is within radius + 50 m: still there");
    fix_at(T0 + 180, 160, 10);
    snprintf(want, sizeof(want), "+%u -%u", home, home);
    cr_assert_moves(want, "160 m is beyond radius + 50 m: left");

    struct read_ctx c;
    read_events("phone",
                STORE_EVENT_KIND_BIT(STORE_EV_PLACE_ENTERED) |
                    STORE_EVENT_KIND_BIT(STORE_EV_PLACE_LEFT),
                &c);
    cr_assert_eq(c.n, 2, "both are stored: %zu", c.n);
    cr_assert_eq(c.v[0].kind, STORE_EV_PLACE_ENTERED);
    cr_assert_eq(c.v[1].kind, STORE_EV_PLACE_LEFT);
    cr_assert(strstr(c.v[1].fields, "\"name\":\"Home\""), "%s", c.v[1].fields);
    cr_assert_eq(c.v[1].tst, T0 + 180, "at the fix's time");
}

Test(store_events, a_fix_jittering_on_the_border_does_not_flap)
{
    uint32_t home = add_place("Home", PLAT, PLON, 100);
    fix_at(T0, 110, 10);
    cr_assert_moves("", "just outside: not entered");
    /* Across the border and back, twenty times: in at 95 m, out to 110 and 140 m. */
    const double jitter[] = {95, 110, 140, 98, 120, 105, 90, 145};
    for (int i = 0; i < 20; i++)
        fix_at(T0 + 60 + i * 60, jitter[i % WL_ARRAY_LEN(jitter)], 10);
    char want[64];
    snprintf(want, sizeof(want), "+%u", home);
    cr_assert_moves(want, "one entry, no flapping");
    /* A fix as uncertain as it is far: beyond radius + 50 m but within radius + acc. */
    fix_at(T0 + 3600, 170, 80);
    cr_assert_moves(want, "170 m with acc 80 may still be inside");
    fix_at(T0 + 3660, 170, 10);
    snprintf(want, sizeof(want), "+%u -%u", home, home);
    cr_assert_moves(want, "170 m with acc 10 is outside");
}

Test(store_events, a_fix_of_bad_accuracy_neither_enters_nor_leaves)
{
    uint32_t home = add_place("Home", PLAT, PLON, 100);
    fix_at(T0, 0, 500);
    cr_assert_moves("", "acc 500 m (worse than the timeline's 200 m) enters nothing");
    fix_at(T0 + 60, 0, -1);
    char want[64];
    snprintf(want, sizeof(want), "+%u", home);
    cr_assert_moves(want, "an unknown accuracy counts");
    fix_at(T0 + 120, 2000, 300);
    cr_assert_moves(want, "acc 300 m 2 km away leaves nothing");
    fix_at(T0 + 180, 2000, 200);
    snprintf(want, sizeof(want), "+%u -%u", home, home);
    cr_assert_moves(want, "acc 200 m is good enough");
}

Test(store_events, of_overlapping_places_the_nearest_relative_to_its_radius)
{
    uint32_t town = add_place("Town", PLAT, PLON, 1000);
    uint32_t cafe = add_place("Café \"Le Nord\"", PLAT + 300 * NORTH, PLON, 50);
    fix_at(T0, 290, 10); /* 29 % of Town's radius, 20 % of the café's */
    char want[64];
    snprintf(want, sizeof(want), "+%u", cafe);
    cr_assert_moves(want, "the café, though Town holds the fix too");
    struct json_object *o = last_place_fields();
    cr_assert_str_eq(member_string(o, "name"), "Café \"Le Nord\"", "the name, escaped");
    json_object_put(o);
    fix_at(T0 + 60, 100, 10);
    snprintf(want, sizeof(want), "+%u -%u +%u", cafe, cafe, town);
    cr_assert_moves(want, "out of the café and in Town at one fix: left, then entered");
    size_t at_fix = 0;
    for (size_t i = 0; i < nhooked; i++)
        at_fix +=
            (hooked[i].kind == STORE_EV_PLACE_ENTERED || hooked[i].kind == STORE_EV_PLACE_LEFT) &&
            hooked[i].tst == T0 + 60;
    cr_assert_eq(at_fix, 2, "both at that fix");
    fix_at(T0 + 120, 300, 10);
    cr_assert_moves(want, "in Town, the café is not entered");
}

Test(store_events, a_place_added_changed_or_deleted_counts_from_the_next_fix)
{
    fix_at(T0, 0, 10);
    uint32_t home = add_place("Home", PLAT, PLON, 100);
    cr_assert_moves("", "adding a place makes no event by itself");
    fix_at(T0 + 60, 0, 10);
    char want[128];
    snprintf(want, sizeof(want), "+%u", home);
    cr_assert_moves(want, "a place added between two fixes is entered at the second");

    /* Renamed and moved 120 m north: the fix at the old centre is within the new radius +
     * 50 m, so the device is still there; its leaving names the place as it is now. */
    struct store_place p;
    cr_assert_eq(store_place_get(st, home, &p), 0);
    snprintf(p.name, sizeof(p.name), "House");
    p.lat = PLAT + 120 * NORTH;
    cr_assert_eq(store_place_update(st, &p), 0);
    fix_at(T0 + 120, 0, 10);
    cr_assert_moves(want, "still within the moved place's band");
    p.lat = PLAT + 1000 * NORTH;
    cr_assert_eq(store_place_update(st, &p), 0);
    fix_at(T0 + 180, 0, 10);
    snprintf(want, sizeof(want), "+%u -%u", home, home);
    cr_assert_moves(want, "a place moved away is left at the next fix");
    struct json_object *o = last_place_fields();
    cr_assert_str_eq(member_string(o, "name"), "House");
    json_object_put(o);

    /* Deleted while the device is in it: the next usable fix leaves it, with the name it had
     * when entered; there, another place is entered. */
    uint32_t work = add_place("Work", PLAT, PLON, 100);
    fix_at(T0 + 240, 0, 10);
    cr_assert_eq(store_place_delete(st, work), 0);
    uint32_t yard = add_place("Yard", PLAT, PLON, 200);
    fix_at(T0 + 300, 0, 500);
    snprintf(want, sizeof(want), "+%u -%u +%u", home, home, work);
    cr_assert_moves(want, "a fix of bad accuracy decides nothing, even for a deleted place");
    fix_at(T0 + 360, 0, 10);
    snprintf(want, sizeof(want), "+%u -%u +%u -%u +%u", home, home, work, work, yard);
    cr_assert_moves(want, "the deleted place is left, the one there entered");
    const struct store_event *left = NULL;
    for (size_t i = 0; i < nhooked; i++)
        if (hooked[i].kind == STORE_EV_PLACE_LEFT)
            left = &hooked[i];
    cr_assert(left);
    cr_assert(strstr(left->fields, "\"name\":\"Work\"") && strstr(left->fields, "\"deleted\":true"),
              "the deleted place's name and that it is gone: %s", left->fields);
}

Test(store_events, late_fixes_say_nothing_of_the_place)
{
    uint32_t home = add_place("Home", PLAT, PLON, 100);
    add_place("Work", PLAT + 3000 * NORTH, PLON, 100);
    fix_at(T0 + 600, 0, 10);
    fix_at(T0 + 300, 3000, 10);
    fix_at(T0 + 300 + 1, 2000, 10);
    char want[64];
    snprintf(want, sizeof(want), "+%u", home);
    cr_assert_moves(want, "fixes older than the newest leave and enter nothing");
}

Test(store_events, the_place_survives_reopening_the_store)
{
    uint32_t home = add_place("Home", PLAT, PLON, 100);
    fix_at(T0, 0, 10);
    store_close(st);
    struct store_options opt = {.battery_low = 20};
    cr_assert_eq(store_open(dir, &opt, &st), 0);
    store_set_event_hook(st, on_event, NULL);
    nhooked = 0;

    struct store_device d;
    uint32_t id;
    char name[STORE_PLACE_NAME_MAX + 1];
    cr_assert_eq(store_get_device(st, "jane", "phone", &d), 0);
    cr_assert_eq(store_event_place(st, &d, &id, name), 0);
    cr_assert_eq(id, home);
    cr_assert_str_eq(name, "Home");

    fix_at(T0 + 60, 10, 10);
    cr_assert_moves("", "still at home after reopening: no new entry");
    fix_at(T0 + 120, 500, 10);
    char want[64];
    snprintf(want, sizeof(want), "-%u", home);
    cr_assert_moves(want, "left, as remembered");
    cr_assert_eq(store_event_place(st, &d, &id, name), 0);
    cr_assert_eq(id, 0);
    cr_assert_str_eq(name, "");
}

Test(store_events, a_state_from_before_places_is_in_no_place)
{
    uint32_t home = add_place("Home", PLAT, PLON, 100);
    fix_at(T0, 5000, 10);
    struct store_device d;
    cr_assert_eq(store_get_device(st, "jane", "phone", &d), 0);
    store_close(st);

    /* The state as a build before places wrote it: flags and the newest fix. */
    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi evstate;
    uint8_t key[4] = {(uint8_t)(d.id >> 24), (uint8_t)(d.id >> 16), (uint8_t)(d.id >> 8),
                      (uint8_t)d.id};
    uint8_t val[5] = {0, (uint8_t)T0, (uint8_t)(T0 >> 8), (uint8_t)(T0 >> 16), (uint8_t)(T0 >> 24)};
    MDB_val k = {4, key}, v = {5, val};
    cr_assert_eq(mdb_env_create(&env), 0);
    mdb_env_set_maxdbs(env, 64);
    cr_assert_eq(mdb_env_open(env, dir, 0, 0600), 0);
    cr_assert_eq(mdb_txn_begin(env, NULL, 0, &txn), 0);
    cr_assert_eq(mdb_dbi_open(txn, "evstate", 0, &evstate), 0);
    cr_assert_eq(mdb_put(txn, evstate, &k, &v, 0), 0);
    cr_assert_eq(mdb_txn_commit(txn), 0);
    mdb_env_close(env);

    struct store_options opt = {.battery_low = 20};
    cr_assert_eq(store_open(dir, &opt, &st), 0);
    store_set_event_hook(st, on_event, NULL);
    nhooked = 0;
    fix_at(T0 + 60, 0, 10);
    char want[64];
    snprintf(want, sizeof(want), "+%u", home);
    cr_assert_moves(want, "an old state reads as no place: the fix enters");
}

Test(store_events, a_long_place_name_fits_the_fields)
{
    char name[STORE_PLACE_NAME_MAX + 1];
    for (size_t i = 0; i < STORE_PLACE_NAME_MAX; i++)
        name[i] = i % 2 ? '"' : '\\'; /* each escaped: twice as long */
    name[STORE_PLACE_NAME_MAX] = 0;
    add_place(name, PLAT, PLON, 100);
    fix_at(T0, 0, 10);
    struct json_object *o = last_place_fields();
    cr_assert_str_eq(member_string(o, "name"), name, "the name whole");
    json_object_put(o);
}

/* The timeline of jane/phone from T0 on, as tlread streams it in pieces of `step` bytes more
 * than it holds; caller frees. */
static char *timeline_in_pieces(enum tlread_format format, size_t step)
{
    struct zone *z;
    struct tlread *t;
    struct sink doc;
    struct tlread_request rq = {.user = "jane",
                                .device = "phone",
                                .from = T0,
                                .to = T0 + 86400,
                                .format = format,
                                .now = T0 + 86400};
    cr_assert_eq(zone_open("UTC", &z), 0);
    cr_assert_eq(sink_init_mem(&doc, 64), 0);
    cr_assert_eq(tlread_timeline_open(st, &rq, z, &doc, &t), 0);
    int rc;
    while ((rc = tlread_fill(t, &doc, doc.len + step)) == 1)
        ;
    cr_assert_eq(rc, 0, "the timeline streams to its end");
    tlread_close(t);
    zone_unref(z);
    sink_putc(&doc, '\0');
    return doc.buf;
}

Test(store_events, the_timeline_lists_the_events_of_its_range_in_pieces)
{
    /* 29 low batteries in the range (more than a window of TLREAD_EVENT_BATCH), one before it */
    fix("phone", T0 - 120, 48.85, 2.29, 90);
    fix("phone", T0 - 60, 48.85, 2.29, 10);
    for (int i = 0; i < 60; i++)
        fix("phone", T0 + 60 * i, 48.85, 2.29, i % 2 ? 90 : 10);
    struct read_ctx *want = calloc(1, sizeof(*want));
    struct store_device d;
    cr_assert_eq(store_get_device(st, "jane", "phone", &d), 0);
    cr_assert_eq(store_events_read(st, &d, T0, T0 + 86400, 0, collect, want), 0);
    cr_assert_geq(want->n, 29);

    static const size_t steps[] = {1, 100, 1 << 20};
    for (size_t k = 0; k < sizeof(steps) / sizeof(steps[0]); k++) {
        char *json = timeline_in_pieces(TLREAD_JSON, steps[k]);
        struct json_object *o = json_tokener_parse(json), *events, *v;
        cr_assert(o, "the JSON timeline parses (step %zu): %s", steps[k], json);
        cr_assert(json_object_object_get_ex(o, "events", &events));
        cr_assert_eq(json_object_array_length(events), want->n, "every event of the range, once");
        for (size_t i = 0; i < want->n; i++) {
            struct json_object *e = json_object_array_get_idx(events, i);
            cr_assert(json_object_object_get_ex(e, "id", &v));
            cr_assert_eq((uint32_t)json_object_get_int64(v), want->v[i].seq, "in time order");
            cr_assert(json_object_object_get_ex(e, "tst_iso", &v));
            char iso[TLREAD_ISO_SIZE];
            tlread_iso(want->v[i].tst, 0, iso);
            cr_assert_str_eq(json_object_get_string(v), iso);
        }
        json_object_put(o);
        free(json);

        char *text = timeline_in_pieces(TLREAD_TEXT, steps[k]);
        size_t lines = 0;
        for (const char *p = text;
             (p = strstr(p, "        event  battery_low  10 % (below 20 %)\n")); p++)
            lines++;
        cr_assert_eq(lines, count_kind(STORE_EV_BATTERY_LOW) - 1, "%s", text);
        cr_assert(strstr(text, "00:02        event  battery_low  10 %"), "%s", text);
        free(text);
    }
    free(want);
}

Test(store_events, kinds_parse_and_names)
{
    unsigned set;
    cr_assert_eq(store_event_kinds_parse("stay_started,battery_low", &set), 0);
    cr_assert_eq(set, STORE_EVENT_KIND_BIT(STORE_EV_STAY_STARTED) |
                          STORE_EVENT_KIND_BIT(STORE_EV_BATTERY_LOW));
    cr_assert_eq(store_event_kinds_parse("stay", &set), -EINVAL);
    cr_assert_eq(store_event_kinds_parse("battery_low,", &set), 0);
    for (int k = 1; k < STORE_EV_KIND_END; k++) {
        const char *name = store_event_kind_name((enum store_event_kind)k);
        cr_assert(name);
        cr_assert_eq((int)store_event_kind_from_name(name, strlen(name)), k);
    }
    cr_assert_null(store_event_kind_name(STORE_EV_KIND_END));
}

Test(store_events, topics)
{
    char buf[64];
    cr_assert_eq(event_topic(buf, sizeof(buf), "wherelog/event/USER/DEVICE", "jane", "phone"), 0);
    cr_assert_str_eq(buf, "wherelog/event/jane/phone");
    cr_assert_eq(event_topic(buf, sizeof(buf), "x/DEVICE/USER", "USER", "DEVICE"), 0);
    cr_assert_str_eq(buf, "x/DEVICE/USER", "names are not replaced again");
    cr_assert_eq(event_topic(buf, 8, "wherelog/event/USER", "jane", "phone"), -ENAMETOOLONG);
}

Test(webhook, signature_is_hmac_sha256_of_timestamp_dot_body)
{
    /* Computed with Python's hmac module: an implementation other than libsodium's. */
    char sig[72];
    webhook_sign((const uint8_t *)"Jefe", 4, 1700000000, "{\"a\":1}", 7, sig);
    cr_assert_str_eq(sig,
                     "sha256=fa5f6481efc59da48b19c9dc10196c9953e5651f8304b3a318b6b87d70272e0a");
}
