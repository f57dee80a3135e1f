#include "query.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fmt_internal.h"
#include "geo.h"
#include "log.h"
#include "pack.h"
#include "wl.h"
#include "wtime.h"

/* ---------------------------------------------------------------- last positions */

/* The device's card, copied out (the card's read transaction is closed on return). */
struct card {
    uint8_t *data;
    size_t len;
    int64_t tst;
};

static int read_card(struct store *s, uint32_t id, struct card *c)
{
    struct store_iter *it;
    struct store_item item;
    int rc = store_iter_events(s, id, OWNTRACKS_CARD, 0, WTIME_MAX, 0, &it);

    c->data = NULL;
    c->len = 0;
    if (rc)
        return rc;
    rc = store_iter_next(it, &item);
    if (rc == 1) {
        c->data = malloc(item.len);
        if (c->data) {
            memcpy(c->data, item.data, item.len);
            c->len = item.len;
            c->tst = item.tst;
            rc = 0;
        } else {
            rc = -ENOMEM;
        }
    }
    store_iter_close(it);
    return rc;
}

/* Members of the location that the transport owns: never echoed from the payload. */
static bool transport_member(const char *key, size_t len)
{
    return (len == 5 && memcmp(key, "topic", 5) == 0) ||
           (len == 8 && memcmp(key, "username", 8) == 0) ||
           (len == 6 && memcmp(key, "device", 6) == 0);
}

struct last_ctx {
    const struct store_device *dev;
    const struct store_item *loc;
    const struct card *card;
    bool no_blobs; /* live events leave out image and face */
    const struct fmt_place *place;
};

_Static_assert(WTIME_ISO_SIZE >= WTIME_DISP_SIZE, "write_named's buffer holds either time");

/* The place members of the location (all, or only `only`); returns how many were written. */
static int write_place(struct sink *out, const struct last_ctx *c, const char *only, uint64_t have,
                       bool comma)
{
    struct fmt_fix fix;
    double lat, lon;
    if (fmt_read_fix(c->loc->tst, c->loc->data, c->loc->len, &fix) != 0 ||
        !pack_to_double(&fix.lat, &lat) || !pack_to_double(&fix.lon, &lon))
        return 0;
    return c->place->write(c->place->arg, lat, lon, only, have, comma, out);
}

/* Writes member `name` of the assembled object; returns 1 written, 0 absent, <0 error. */
static int write_named(struct sink *out, const struct last_ctx *c, const char *name, bool comma)
{
    struct pack_value v;
    char buf[WTIME_ISO_SIZE]; /* an ISO or a display time, the longer of the two */
    const char *str = NULL;

    if (strcmp(name, "topic") == 0)
        str = c->dev->topic[0] ? c->dev->topic : NULL;
    else if (strcmp(name, "username") == 0)
        str = c->dev->user;
    else if (strcmp(name, "device") == 0)
        str = c->dev->device;
    else if (strcmp(name, "isotst") == 0)
        wtime_iso(c->loc->tst, buf), str = buf;
    else if (strcmp(name, "disptst") == 0)
        wtime_disp(c->loc->tst, buf), str = buf;
    if (str) {
        if (comma)
            sink_putc(out, ',');
        sink_json_string(out, name, strlen(name));
        sink_putc(out, ':');
        sink_json_string(out, str, strlen(str));
        return 1;
    }
    int rc = pack_find(c->loc->data, c->loc->len, c->loc->tst, "location", name, &v);
    if (rc == 0 && c->card && c->card->data &&
        (strcmp(name, "name") == 0 || strcmp(name, "face") == 0 || strcmp(name, "tid") == 0))
        rc = pack_find(c->card->data, c->card->len, c->card->tst, "card", name, &v);
    if (rc == 0 && c->place && c->place->write)
        return write_place(out, c, name, 0, comma);
    if (rc <= 0)
        return rc;
    if (comma)
        sink_putc(out, ',');
    sink_json_string(out, name, strlen(name));
    sink_putc(out, ':');
    pack_write_value_json(out, &v, c->loc->tst);
    return 1;
}

/* Writes ,"name":"value" for a string member of a card (none longer than max). Returns 0, or
 * <0 for a damaged card. */
static int write_card_string(struct sink *out, const void *card, size_t len, int64_t tst,
                             const char *name, size_t max)
{
    struct pack_value v;
    int rc = pack_find(card, len, tst, "card", name, &v);
    if (rc <= 0)
        return rc;
    if (v.type == PACK_STRING && v.len <= max) {
        sink_putc(out, ',');
        sink_json_string(out, name, strlen(name));
        sink_putc(out, ':');
        sink_json_string(out, v.str, v.len);
    }
    return 0;
}

static int write_last_object(struct sink *out, const struct last_ctx *c,
                             const struct query_last_filter *f)
{
    static const char *const computed[] = {"topic", "username", "device", "isotst", "disptst"};
    struct pack_reader r;
    struct pack_value v;
    const char *key;
    size_t keylen;
    int rc, n = 0;

    sink_putc(out, '{');
    if (f->nfields) {
        for (size_t i = 0; i < f->nfields; i++) {
            rc = write_named(out, c, f->fields[i], n > 0);
            if (rc < 0)
                return rc;
            n += rc;
        }
        sink_putc(out, '}');
        return 0;
    }
    bool has_tid = false;
    uint64_t have = 0;
    rc = pack_open(&r, c->loc->data, c->loc->len, c->loc->tst, "location");
    while (rc == 0 && (rc = pack_next(&r, &key, &keylen, &v)) == 1) {
        rc = 0;
        if (r.key_index >= 0 && r.key_index < 64)
            have |= (uint64_t)1 << r.key_index;
        if (transport_member(key, keylen) || r.key_index == PACK_KEY_ISOTST ||
            r.key_index == PACK_KEY_DISPTST ||
            (c->no_blobs && (r.key_index == PACK_KEY_IMAGE || r.key_index == PACK_KEY_FACE)))
            continue;
        has_tid |= r.key_index == PACK_KEY_TID;
        if (n++)
            sink_putc(out, ',');
        sink_json_string(out, key, keylen);
        sink_putc(out, ':');
        pack_write_value_json(out, &v, c->loc->tst);
    }
    if (rc < 0)
        return rc;
    for (size_t i = 0; i < WL_ARRAY_LEN(computed); i++)
        n += write_named(out, c, computed[i], n > 0);
    /* The card names the device on maps; its tid only if the location has none. */
    if (c->card && c->card->data) {
        const char *card_fields[] = {"name", "face", "tid"};
        for (size_t i = 0; i < 3; i++) {
            if ((i == 2 && has_tid) || (i == 1 && c->no_blobs))
                continue;
            rc = write_card_string(out, c->card->data, c->card->len, c->card->tst, card_fields[i],
                                   SIZE_MAX);
            if (rc < 0)
                return rc;
        }
    }
    if (c->place && c->place->write)
        write_place(out, c, NULL, have, true);
    sink_putc(out, '}');
    return 0;
}

/* Reads the newest visible point of a device and its card, and calls fn with them. */
static int with_last(struct store *s, const struct store_device *d,
                     int (*fn)(void *arg, const struct store_device *d,
                               const struct store_item *loc, const struct card *card),
                     void *arg)
{
    struct card card;
    struct store_iter *it;
    struct store_item loc;
    int rc = read_card(s, d->id, &card);

    if (rc)
        return rc;
    rc = store_iter_points(s, d->id, 0, WTIME_MAX, STORE_ITER_REVERSE, &it);
    if (rc == 0) {
        rc = store_iter_next(it, &loc);
        rc = rc == 1 ? fn(arg, d, &loc, &card) : rc;
        store_iter_close(it);
    }
    free(card.data);
    return rc;
}

struct each_ctx {
    const struct query_last_filter *f;
    struct sink buf;
    int (*cb)(void *arg, const char *json, size_t len);
    void *arg;
};

static int emit_last(void *arg, const struct store_device *d, const struct store_item *loc,
                     const struct card *card)
{
    struct each_ctx *e = arg;
    struct last_ctx c = {.dev = d, .loc = loc, .card = card, .place = &e->f->place};
    e->buf.len = 0;
    int rc = write_last_object(&e->buf, &c, e->f);
    if (rc == 0 && e->buf.err)
        rc = e->buf.err;
    return rc ? rc : e->cb(e->arg, e->buf.buf, e->buf.len);
}

int query_last_each(struct store *s, const struct query_last_filter *f,
                    int (*cb)(void *arg, const char *json, size_t len), void *arg)
{
    struct store_device *devs;
    size_t ndevs;
    struct each_ctx e = {.f = f, .cb = cb, .arg = arg};
    int rc = store_devices(s, f->user, f->device, &devs, &ndevs);

    if (rc == 0 && (rc = sink_init_mem(&e.buf, 1024)) == 0) {
        for (size_t i = 0; i < ndevs && rc == 0; i++) {
            if (!devs[i].points ||
                (f->visible && !f->visible(f->visible_arg, f->viewer, devs[i].user)))
                continue;
            rc = with_last(s, &devs[i], emit_last, &e);
        }
        sink_free(&e.buf);
    }
    free(devs);
    return rc;
}

struct array_ctx {
    struct sink *out;
    size_t n;
};

static int append_element(void *arg, const char *json, size_t len)
{
    struct array_ctx *a = arg;
    sink_puts(a->out, a->n++ ? ",\n" : "\n");
    sink_put(a->out, json, len);
    return a->out->err;
}

int query_last_json(struct store *s, const struct query_last_filter *f, struct sink *out)
{
    struct array_ctx a = {.out = out};
    sink_putc(out, '[');
    int rc = query_last_each(s, f, append_element, &a);
    sink_puts(out, a.n ? "\n]\n" : "]\n");
    return rc < 0 ? rc : 0;
}

int query_event_json(const char *user, const char *device, const char *topic, int64_t tst,
                     const void *data, size_t len, struct sink *out)
{
    struct store_device d = {0};
    struct store_item loc = {.tst = tst, .kind = OWNTRACKS_LOCATION, .data = data, .len = len};
    struct query_last_filter f = {0};

    snprintf(d.user, sizeof(d.user), "%s", user);
    snprintf(d.device, sizeof(d.device), "%s", device);
    snprintf(d.topic, sizeof(d.topic), "%s", topic ? topic : "");
    struct last_ctx c = {.dev = &d, .loc = &loc, .no_blobs = true};
    return write_last_object(out, &c, &f);
}

int query_card_event_json(const char *user, const char *device, int64_t tst, const void *data,
                          size_t len, struct sink *out)
{
    static const char *const members[] = {"name", "tid"};
    enum { LABEL_MAX = 256 }; /* bytes: a label for a map; longer ones stay out of the event */

    sink_puts(out, "{\"_type\":\"card\",\"username\":");
    sink_json_string(out, user, strlen(user));
    sink_puts(out, ",\"device\":");
    sink_json_string(out, device, strlen(device));
    sink_puts(out, ",\"tst\":");
    sink_put_i64(out, tst);
    for (size_t i = 0; i < WL_ARRAY_LEN(members); i++) {
        int rc = write_card_string(out, data, len, tst, members[i], LABEL_MAX);
        if (rc < 0)
            return rc;
    }
    sink_putc(out, '}');
    return 0;
}

/* ---------------------------------------------------------------- HTTP-mode friends */

struct friends_ctx {
    struct sink *out;
    size_t n;
};

/* A tid for a device: its location's, its card's, or (as the apps do) the last two
 * characters of its name. */
static void friend_tid(const struct store_device *d, const struct store_item *loc,
                       const struct card *card, struct sink *out)
{
    struct pack_value v;
    if (pack_find(loc->data, loc->len, loc->tst, "location", "tid", &v) == 1 &&
        v.type == PACK_STRING && v.len) {
        sink_json_string(out, v.str, v.len);
        return;
    }
    if (card->data && pack_find(card->data, card->len, card->tst, "card", "tid", &v) == 1 &&
        v.type == PACK_STRING && v.len) {
        sink_json_string(out, v.str, v.len);
        return;
    }
    size_t n = strlen(d->device);
    sink_json_string(out, d->device + (n > 2 ? n - 2 : 0), n > 2 ? 2 : n);
}

static int emit_friend(void *arg, const struct store_device *d, const struct store_item *loc,
                       const struct card *card)
{
    static const char *const keep[] = {"lat", "lon", "vel", "alt", "cog", "acc", "vac"};
    struct friends_ctx *fc = arg;
    struct sink *out = fc->out;
    struct pack_value name, face, v;

    if (card->data && pack_find(card->data, card->len, card->tst, "card", "name", &name) == 1 &&
        pack_find(card->data, card->len, card->tst, "card", "face", &face) == 1 &&
        name.type == PACK_STRING && face.type == PACK_STRING) {
        sink_puts(out,
                  fc->n++ ? ",\n{\"_type\":\"card\",\"tid\":" : "\n{\"_type\":\"card\",\"tid\":");
        friend_tid(d, loc, card, out);
        sink_puts(out, ",\"name\":");
        sink_json_string(out, name.str, name.len);
        sink_puts(out, ",\"face\":");
        sink_json_string(out, face.str, face.len);
        sink_putc(out, '}');
    }
    sink_puts(out, fc->n++ ? ",\n{\"_type\":\"location\",\"tid\":"
                           : "\n{\"_type\":\"location\",\"tid\":");
    friend_tid(d, loc, card, out);
    for (size_t i = 0; i < WL_ARRAY_LEN(keep); i++) {
        if (pack_find(loc->data, loc->len, loc->tst, "location", keep[i], &v) == 1 &&
            (v.type == PACK_INT || v.type == PACK_DECIMAL)) {
            sink_puts(out, ",\"");
            sink_puts(out, keep[i]);
            sink_puts(out, "\":");
            pack_write_number(out, &v);
        }
    }
    sink_puts(out, ",\"tst\":");
    sink_put_i64(out, loc->tst);
    sink_puts(out, ",\"topic\":");
    if (d->topic[0]) {
        sink_json_string(out, d->topic, strlen(d->topic));
    } else {
        char topic[2 * OWNTRACKS_NAME_MAX + 16];
        int n = snprintf(topic, sizeof(topic), "owntracks/%s/%s", d->user, d->device);
        sink_json_string(out, topic, (size_t)n);
    }
    sink_putc(out, '}');
    return out->err;
}

int query_friends_json(struct store *s, const char *user, const char *device,
                       query_visible_fn visible, void *visible_arg, struct sink *out)
{
    struct store_device *devs;
    size_t ndevs;
    struct friends_ctx fc = {.out = out};
    int rc = store_devices(s, NULL, NULL, &devs, &ndevs);

    sink_putc(out, '[');
    for (size_t i = 0; i < ndevs && rc == 0; i++) {
        const struct store_device *d = &devs[i];
        if (!d->points || (strcmp(d->user, user) == 0 && strcmp(d->device, device) == 0))
            continue;
        if (visible && !visible(visible_arg, user, d->user))
            continue;
        rc = with_last(s, d, emit_friend, &fc);
    }
    sink_puts(out, fc.n ? "\n]" : "]");
    free(devs);
    return rc < 0 ? rc : 0;
}

/* ---------------------------------------------------------------- months */

int query_months_json(struct store *s, const char *user, const char *device, struct sink *out)
{
    struct store_device d;
    struct store_item item;
    int64_t from = 0;
    size_t n = 0;
    int rc = store_get_device(s, user, device, &d);

    sink_putc(out, '[');
    /* One point a month: after each, the next read starts at the first second of the next
     * month, so a year of half a million points costs a dozen reads, not a scan of them all. */
    while (rc == 0 && from <= WTIME_MAX) {
        struct store_iter *it;
        if ((rc = store_iter_points(s, d.id, from, WTIME_MAX, 0, &it)))
            break;
        rc = store_iter_next(it, &item);
        int64_t tst = item.tst;
        store_iter_close(it);
        if (rc != 1)
            break;
        rc = 0;
        int64_t y;
        unsigned m, day;
        wtime_to_civil(tst / 86400, &y, &m, &day);
        char buf[16];
        int len = snprintf(buf, sizeof(buf), "%04lld-%02u", (long long)y, m);
        sink_puts(out, n++ ? "," : "");
        sink_json_string(out, buf, (size_t)len);
        from = 86400 * (m == 12 ? wtime_from_civil(y + 1, 1, 1) : wtime_from_civil(y, m + 1, 1));
    }
    sink_putc(out, ']');
    return rc == -ENOENT ? 0 : rc;
}

/* ---------------------------------------------------------------- statistics */

struct device_stats {
    uint64_t points;
    int64_t first, last;
    double metres;
    uint64_t days;
};

/* The position of a stored point; false and NaN (which the geometry leaves out) when it has
 * none that decodes. */
static bool point_position(const struct store_item *it, double *lat, double *lon)
{
    struct fmt_fix fix;
    if (fmt_read_fix(it->tst, it->data, it->len, &fix) != 0 || !pack_to_double(&fix.lat, lat) ||
        !pack_to_double(&fix.lon, lon)) {
        *lat = *lon = NAN;
        return false;
    }
    return true;
}

static int device_stats(struct store *s, const struct store_device *d, int64_t from, int64_t to,
                        int max_acc, struct device_stats *st)
{
    struct store_iter *it;
    struct store_item item;
    int64_t last_day = -1;
    struct geo_path path = GEO_PATH_INIT;
    int rc = store_iter_points(s, d->id, from, to, 0, &it);

    memset(st, 0, sizeof(*st));
    if (rc)
        return rc;
    while ((rc = store_iter_next(it, &item)) == 1) {
        struct geo_fix fix = {.tst = item.tst, .acc = NAN};
        struct pack_value acc;
        if (!st->points)
            st->first = item.tst;
        st->last = item.tst;
        st->points++;
        int64_t day = item.tst / 86400;
        if (day != last_day) {
            st->days++;
            last_day = day;
        }
        if (!point_position(&item, &fix.lat, &fix.lon))
            continue; /* no need to look for its accuracy */
        if (pack_find(item.data, item.len, item.tst, "location", "acc", &acc) != 1 ||
            !pack_to_double(&acc, &fix.acc))
            fix.acc = NAN;
        geo_path_add(&path, &fix, max_acc);
    }
    store_iter_close(it);
    st->metres = path.metres;
    return rc < 0 ? rc : 0;
}

int query_stats_json(struct store *s, const char *user, const char *device, int64_t from,
                     int64_t to, int max_acc, query_visible_fn visible, void *visible_arg,
                     const char *viewer, struct sink *out)
{
    struct store_device *devs;
    size_t ndevs;
    struct store_stats ss;
    uint64_t total = 0;
    char a[WTIME_ISO_SIZE], b[WTIME_ISO_SIZE];
    int rc = store_devices(s, user, device, &devs, &ndevs);

    sink_puts(out, "{\"devices\":[");
    for (size_t i = 0, n = 0; i < ndevs && rc == 0; i++) {
        const struct store_device *d = &devs[i];
        struct device_stats st;
        if (visible && !visible(visible_arg, viewer, d->user))
            continue;
        if ((rc = device_stats(s, d, from, to, max_acc, &st)))
            break;
        total += st.points;
        sink_puts(out, n++ ? ",\n{\"user\":" : "\n{\"user\":");
        sink_json_string(out, d->user, strlen(d->user));
        sink_puts(out, ",\"device\":");
        sink_json_string(out, d->device, strlen(d->device));
        sink_printf(out, ",\"points\":%llu", (unsigned long long)st.points);
        if (st.points) {
            wtime_iso(st.first, a);
            wtime_iso(st.last, b);
            sink_printf(out,
                        ",\"first\":%lld,\"last\":%lld,\"first_iso\":\"%s\","
                        "\"last_iso\":\"%s\"",
                        (long long)st.first, (long long)st.last, a, b);
        }
        sink_printf(out, ",\"distance_m\":%.0f,\"days\":%llu}", st.metres,
                    (unsigned long long)st.days);
    }
    free(devs);
    if (rc)
        return rc;
    if ((rc = store_stats(s, &ss)))
        return rc;
    sink_printf(out,
                "\n],\"points\":%llu,\"store\":{\"file_bytes\":%llu,\"points\":%llu,"
                "\"bytes_per_point\":%.1f,\"map_bytes\":%llu,\"used_bytes\":%llu,"
                "\"map_use\":%.3f}}\n",
                (unsigned long long)total, (unsigned long long)ss.file_bytes,
                (unsigned long long)ss.points,
                ss.points ? (double)ss.file_bytes / (double)ss.points : 0.0,
                (unsigned long long)ss.map_bytes, (unsigned long long)ss.used_bytes,
                ss.map_bytes ? (double)ss.used_bytes / (double)ss.map_bytes : 0.0);
    return 0;
}

/* ---------------------------------------------------------------- tracks */

struct query_track {
    struct store_iter *it;
    struct fmt_writer fmt;
    struct sink *out;
    uint64_t skipped;
    bool done;
    bool thinned;   /* only the tsts in keep are written */
    uint32_t *keep; /* ascending */
    size_t nkeep, next_keep;
    uint64_t limit, taken; /* at most `limit` points (0: no limit); how many so far */
    char where[2 * OWNTRACKS_NAME_MAX + 2];
};

/*
 * With a limit, the newest `limit` points: walk back that far to find the first one
 * (*start) and note the newest (*newest), so that the export covers what this walk saw and
 * not what arrives after it. Points that arrive late inside that stretch can still make it
 * longer than `limit`: the export also counts what it writes (query_track_fill).
 */
static int limit_start(struct store *s, uint32_t id, int64_t from, int64_t to, uint64_t limit,
                       int64_t *start, int64_t *newest)
{
    struct store_iter *it;
    struct store_item item;
    uint64_t n = 0;
    int rc = store_iter_points(s, id, from, to, STORE_ITER_REVERSE, &it);

    if (rc)
        return rc;
    while (n < limit && (rc = store_iter_next(it, &item)) == 1) {
        if (n == 0)
            *newest = item.tst;
        *start = item.tst;
        n++;
    }
    store_iter_close(it);
    return rc < 0 ? rc : 0;
}

/* ---------------------------------------------------------------- thinning */

enum thin_pass { THIN_COUNT, THIN_AVERAGE, THIN_CHOOSE };

/* One pass over the store's points in [from, to], each handed to the pass's step. */
static int thin_pass(struct store *s, uint32_t id, int64_t from, int64_t to, struct geo_thin *t,
                     enum thin_pass pass)
{
    struct store_iter *it;
    struct store_item item;
    int rc = store_iter_points(s, id, from, to, 0, &it);

    if (rc)
        return rc;
    while ((rc = store_iter_next(it, &item)) == 1) {
        double lat = NAN, lon = NAN;
        if (pass != THIN_COUNT)
            point_position(&item, &lat, &lon);
        switch (pass) {
        case THIN_COUNT: geo_thin_count(t, (uint32_t)item.tst); break;
        case THIN_AVERAGE: geo_thin_average(t, lat, lon); break;
        case THIN_CHOOSE: geo_thin_choose(t, (uint32_t)item.tst, lat, lon); break;
        }
    }
    store_iter_close(it);
    return rc < 0 ? rc : 0;
}

/*
 * Thins the points in [from, to] to at most max (Largest-Triangle-Three-Buckets, geo.h) in up
 * to three passes over the store. The later passes end at the newest point the count saw, so
 * that the points a phone reports meanwhile do not shift the buckets; late points and deletes
 * still can, and geo_thin stays bounded whatever they do.
 */
static int thin(struct store *s, uint32_t id, int64_t from, int64_t to, uint32_t max,
                uint32_t **keep, size_t *nkeep, uint64_t *in_range)
{
    struct geo_thin t;
    int rc = geo_thin_init(&t, max);

    *keep = NULL;
    *nkeep = 0;
    if (rc)
        return rc;
    rc = thin_pass(s, id, from, to, &t, THIN_COUNT);
    if (rc == 0 && geo_thin_needed(&t)) {
        to = t.counted_last;
        if ((rc = geo_thin_begin_averages(&t)) == 0 &&
            (rc = thin_pass(s, id, from, to, &t, THIN_AVERAGE)) == 0) {
            geo_thin_begin_choice(&t);
            rc = thin_pass(s, id, from, to, &t, THIN_CHOOSE);
        }
    }
    *in_range = t.counted;
    if (rc == 0)
        geo_thin_take(&t, keep, nkeep);
    geo_thin_free(&t);
    return rc;
}

int query_plan_export(struct store *s, const char *user, const char *device,
                      const struct query_range *range, struct query_plan *plan)
{
    int rc;

    memset(plan, 0, sizeof(*plan));
    if (range->max_points &&
        (range->max_points < QUERY_THIN_MIN || range->max_points > QUERY_THIN_MAX))
        return -EINVAL;
    snprintf(plan->user, sizeof(plan->user), "%s", user);
    snprintf(plan->device, sizeof(plan->device), "%s", device);
    plan->from = range->from;
    plan->to = range->to;
    plan->limit = range->limit;
    rc = store_get_device(s, user, device, &plan->dev);
    if (rc == -ENOENT)
        return 0; /* nothing to read, nothing thinned */
    if (rc)
        return rc;
    plan->found = true;
    plan->thinned = range->max_points > 0;
    if (plan->limit > 0 && (rc = limit_start(s, plan->dev.id, plan->from, plan->to, plan->limit,
                                             &plan->from, &plan->to)))
        return rc;
    if (plan->thinned && (rc = thin(s, plan->dev.id, plan->from, plan->to, range->max_points,
                                    &plan->keep, &plan->nkeep, &plan->in_range)))
        return rc;
    return 0;
}

void query_plan_free(struct query_plan *plan)
{
    free(plan->keep);
    plan->keep = NULL;
    plan->nkeep = 0;
}

int query_track_open(struct store *s, struct query_plan *plan, enum fmt_kind kind,
                     const struct fmt_options *opt, struct sink *out, struct query_track **qt)
{
    struct query_track *t = calloc(1, sizeof(*t));
    int rc;

    if (!t)
        return -ENOMEM;
    if (plan->found &&
        (rc = store_iter_points(s, plan->dev.id, plan->from, plan->to, 0, &t->it)) != 0) {
        free(t);
        return rc;
    }
    t->limit = plan->limit;
    t->thinned = plan->thinned;
    t->keep = plan->keep;
    t->nkeep = plan->nkeep;
    plan->keep = NULL;
    plan->nkeep = 0;
    snprintf(t->where, sizeof(t->where), "%s/%s", plan->user, plan->device);
    t->out = out;
    struct fmt_options o = opt ? *opt : (struct fmt_options){0};
    o.user = o.user ? o.user : plan->user;
    o.device = o.device ? o.device : plan->device;
    if (plan->thinned) { /* a thinned track says how many points the range holds */
        o.in_range = plan->in_range;
        o.in_range_known = true;
    }
    fmt_begin(&t->fmt, kind, out, &o);
    *qt = t;
    return 0;
}

int query_track_fill(struct query_track *t, struct sink *out, size_t want)
{
    struct store_item item;
    int rc;

    t->out = out;
    t->fmt.sink = out;
    if (t->done)
        return 0;
    while (t->out->len < want) {
        /* Bounded by what was decided at open, not by what the store holds by now. */
        bool complete = !t->it || /* no such device: an empty track */
                        (t->thinned && t->next_keep == t->nkeep) ||
                        (t->limit && t->taken == t->limit);
        rc = complete ? 0 : store_iter_next(t->it, &item);
        if (rc < 0)
            return rc;
        if (rc == 0) {
            fmt_end(&t->fmt);
            t->done = true;
            return 0;
        }
        if (t->thinned) { /* only the chosen points (both lists ascend) */
            while (t->next_keep < t->nkeep && t->keep[t->next_keep] < item.tst)
                t->next_keep++;
            if (t->next_keep == t->nkeep || t->keep[t->next_keep] != item.tst)
                continue;
            t->next_keep++;
        }
        t->taken++;
        if (fmt_point(&t->fmt, item.tst, item.data, item.len) != 0) {
            if (t->skipped++ == 0)
                wl_log(WL_LOG_ERROR, "query", "%s: point at tst %lld does not decode; skipped",
                       t->where, (long long)item.tst);
        }
        if (t->out->err)
            return t->out->err;
    }
    if (t->it)
        store_iter_pause(t->it);
    return 1;
}

uint64_t query_track_skipped(const struct query_track *t)
{
    return t->skipped;
}

void query_track_close(struct query_track *t)
{
    if (!t)
        return;
    store_iter_close(t->it);
    free(t->keep);
    free(t);
}
