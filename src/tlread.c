#include "tlread.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <json-c/json.h>

#include "event.h"
#include "fmt_internal.h"
#include "log.h"
#include "pack.h"
#include "query.h"
#include "wl.h"
#include "wtime.h"

/* A window's callback returns this to stop the store's read: the batch is full. */
#define TLREAD_STOP 1

static const char *const en_dash = "\xe2\x80\x93";

/* ---------------------------------------------------------------- pieces */

void tlread_iso(int64_t t, int32_t offset, char buf[TLREAD_ISO_SIZE])
{
    int32_t a = offset < 0 ? -offset : offset;
    unsigned h = (unsigned)(a / 3600 % 100), m = (unsigned)(a / 60 % 60);
    wtime_iso(t + offset, buf); /* YYYY-MM-DDTHH:MM:SSZ, the Z replaced by the offset */
    char *o = buf + WTIME_ISO_LEN - 1;
    *o++ = offset < 0 ? '-' : '+';
    *o++ = (char)('0' + h / 10);
    *o++ = (char)('0' + h % 10);
    *o++ = ':';
    *o++ = (char)('0' + m / 10);
    *o++ = (char)('0' + m % 10);
    *o = '\0';
}

static int32_t offset_at(const struct zone *z, int64_t t)
{
    return z ? zone_offset(z, t) : 0;
}

/* A number with `decimals` (0..6) fixed decimals, or null when not finite: written with integer
 * arithmetic, since printf's floating point was most of the time a year of days took. */
static void put_fixed(struct sink *out, double v, int decimals)
{
    static const int64_t scale[] = {1, 10, 100, 1000, 10000, 100000, 1000000};
    if (!isfinite(v)) {
        sink_puts(out, "null");
        return;
    }
    if (fabs(v) >= 1e12) { /* beyond what a distance or a position can be: printf's way */
        sink_printf(out, "%.*f", decimals, v);
        return;
    }
    int64_t n = llround(v * (double)scale[decimals]);
    if (n < 0) {
        sink_putc(out, '-');
        n = -n;
    }
    sink_put_i64(out, n / scale[decimals]);
    if (decimals) {
        char frac[8];
        int64_t f = n % scale[decimals];
        for (int i = decimals - 1; i >= 0; i--, f /= 10)
            frac[i] = (char)('0' + f % 10);
        sink_putc(out, '.');
        sink_put(out, frac, (size_t)decimals);
    }
}

/* ,"name":N for an integer. */
static void put_int(struct sink *out, const char *key, int64_t v)
{
    sink_puts(out, key);
    sink_put_i64(out, v);
}

/* ,"name":{"lat":..,"lon":..}, or null without a usable position. */
static void put_place(struct sink *out, const char *name, double lat, double lon)
{
    sink_printf(out, ",\"%s\":", name);
    if (!isfinite(lat) || !isfinite(lon)) {
        sink_puts(out, "null");
        return;
    }
    sink_puts(out, "{\"lat\":");
    put_fixed(out, lat, 6);
    sink_puts(out, ",\"lon\":");
    put_fixed(out, lon, 6);
    sink_putc(out, '}');
}

void tlread_segment_json(struct sink *out, const struct tl_segment *seg, bool open,
                         const struct zone *z)
{
    tlread_segment_json_at(out, seg, open, z, NULL);
}

void tlread_segment_json_at(struct sink *out, const struct tl_segment *seg, bool open,
                            const struct zone *z, const struct places_name *place)
{
    char a[TLREAD_ISO_SIZE], b[TLREAD_ISO_SIZE];
    int64_t duration = seg->end - seg->start;

    tlread_iso(seg->start, offset_at(z, seg->start), a);
    tlread_iso(seg->end, offset_at(z, seg->end), b);
    sink_printf(out,
                "{\"type\":\"%s\",\"open\":%s,\"start\":%lld,\"end\":%lld,\"isostart\":\"%s\","
                "\"isoend\":\"%s\",\"duration\":%lld,\"points\":%u",
                tl_kind_name(seg->kind), open ? "true" : "false", (long long)seg->start,
                (long long)seg->end, a, b, (long long)duration, (unsigned)seg->points);
    switch (seg->kind) {
    case TL_STAY:
        sink_puts(out, ",\"lat\":");
        put_fixed(out, seg->lat, 6);
        sink_puts(out, ",\"lon\":");
        put_fixed(out, seg->lon, 6);
        sink_puts(out, ",\"radius\":");
        put_fixed(out, seg->radius_m, 0);
        sink_puts(out, ",\"acc\":");
        put_fixed(out, seg->acc_m, 0);
        break;
    case TL_TRIP:
        sink_printf(out, ",\"mode\":\"%s\",\"distance\":", tl_mode_name(seg->mode));
        put_fixed(out, seg->distance_m, 0);
        sink_printf(out, ",\"moving\":%lld,\"avg_speed\":", (long long)seg->moving_s);
        put_fixed(out, duration > 0 ? seg->distance_m / (double)duration : 0.0, 2);
        sink_puts(out, ",\"top_speed\":");
        put_fixed(out, seg->top_speed_ms, 2);
        put_place(out, "from", seg->lat, seg->lon);
        put_place(out, "to", seg->end_lat, seg->end_lon);
        break;
    default: /* a gap: where the device was last seen before it, and first after */
        put_place(out, "from", seg->lat, seg->lon);
        put_place(out, "to", seg->end_lat, seg->end_lon);
        break;
    }
    if (place) {
        sink_putc(out, ',');
        places_name_json(place, out);
    }
    sink_putc(out, '}');
}

void tlread_event_json(struct sink *out, const char *user, const char *device, enum tl_event ev,
                       const struct tl_segment *seg, const struct zone *z)
{
    sink_puts(out, "{\"_type\":\"timeline\",\"user\":");
    sink_json_string(out, user, strlen(user));
    sink_puts(out, ",\"device\":");
    sink_json_string(out, device, strlen(device));
    sink_printf(out, ",\"event\":\"%s\",\"segment\":", ev == TL_CLOSED ? "closed" : "opened");
    tlread_segment_json(out, seg, ev != TL_CLOSED, z);
    sink_putc(out, '}');
}

const char *tlread_duration_text(int64_t s, char *buf, size_t size)
{
    if (s < 0)
        s = 0;
    if (s >= 86400)
        snprintf(buf, size, "%lld d %lld h", (long long)(s / 86400), (long long)(s % 86400 / 3600));
    else if (s >= 3600)
        snprintf(buf, size, "%lld h %lld min", (long long)(s / 3600), (long long)(s % 3600 / 60));
    else
        snprintf(buf, size, "%lld min", (long long)(s / 60));
    return buf;
}

/* The short words of the list for people ("walk" reads better in a column than "walking"). */
static const char *mode_word(int mode)
{
    switch (mode) {
    case TL_MODE_STILL: return "still";
    case TL_MODE_WALKING: return "walk";
    case TL_MODE_CYCLING: return "cycle";
    case TL_MODE_DRIVING: return "drive";
    case TL_MODE_FAST: return "fast";
    default: return "trip";
    }
}

/* Local days from a to b (b's local date less a's). */
static int64_t days_between(const struct zone *z, int64_t a, int64_t b)
{
    if (!z)
        return (b >= 0 ? b / 86400 : (b - 86399) / 86400) -
               (a >= 0 ? a / 86400 : (a - 86399) / 86400);
    return zone_date_days(zone_date(z, b)) - zone_date_days(zone_date(z, a));
}

static void local_hm(const struct zone *z, int64_t t, char buf[8])
{
    int64_t l = t + offset_at(z, t), s = ((l % 86400) + 86400) % 86400;
    snprintf(buf, 8, "%02d:%02d", (int)(s / 3600), (int)(s / 60 % 60));
}

void tlread_segment_text(struct sink *out, const struct tl_segment *seg, bool open,
                         const struct zone *z)
{
    tlread_segment_text_at(out, seg, open, z, NULL);
}

void tlread_segment_text_at(struct sink *out, const struct tl_segment *seg, bool open,
                            const struct zone *z, const char *place)
{
    char a[8], b[8], later[32] = "", dur[32];
    int64_t duration = seg->end - seg->start, days = days_between(z, seg->start, seg->end);

    local_hm(z, seg->start, a);
    local_hm(z, seg->end, b);
    if (days > 0)
        snprintf(later, sizeof(later), " (+%lld)", (long long)days);
    tlread_duration_text(duration, dur, sizeof(dur));
    sink_printf(out, "%s%s%s%s  ", a, en_dash, b, later);
    switch (seg->kind) {
    case TL_STAY:
        sink_printf(out, "%-5s  %s", "stay", dur);
        if (place)
            sink_printf(out, "  %s", place); /* UTF-8 checked when it was stored */
        if (isfinite(seg->lat) && isfinite(seg->lon))
            sink_printf(out, "%s%.4f, %.4f", place ? " (" : "  ", seg->lat, seg->lon);
        if (place && isfinite(seg->lat) && isfinite(seg->lon))
            sink_putc(out, ')');
        break;
    case TL_TRIP:
        if (isfinite(seg->distance_m) && seg->distance_m >= 1000)
            sink_printf(out, "%-5s  %.1f km  %s", mode_word(seg->mode), seg->distance_m / 1000,
                        dur);
        else
            sink_printf(out, "%-5s  %.0f m  %s", mode_word(seg->mode),
                        isfinite(seg->distance_m) ? seg->distance_m : 0.0, dur);
        break;
    default: sink_printf(out, "%-5s  %s", "gap", dur); break;
    }
    sink_puts(out, open ? "  (open)\n" : "\n");
}

void tlread_interpolate(int64_t t0, double lat0, double lon0, int64_t t1, double lat1, double lon1,
                        int64_t t, double *lat, double *lon)
{
    double f = t1 > t0 ? (double)(t - t0) / (double)(t1 - t0) : 0.0;
    if (f < 0)
        f = 0;
    if (f > 1)
        f = 1;
    double dlon = lon1 - lon0;
    if (dlon > 180)
        dlon -= 360;
    else if (dlon < -180)
        dlon += 360;
    *lat = lat0 + f * (lat1 - lat0);
    double x = lon0 + f * dlon;
    if (x > 180)
        x -= 360;
    else if (x < -180)
        x += 360;
    *lon = x;
}

static int refuse(struct request_error *err, const char *param, const char *why, const char *text)
{
    char quoted[48];
    err->refusal = REQUEST_BAD;
    err->param = param;
    snprintf(err->why, sizeof(err->why), why,
             text ? wl_log_quote(quoted, sizeof(quoted), text, strlen(text)) : "");
    return -EINVAL;
}

int tlread_parse_group(const char *text, enum tlread_group *out, struct request_error *err)
{
    if (!text || !text[0] || strcmp(text, "day") == 0)
        *out = TLREAD_DAY;
    else if (strcmp(text, "month") == 0)
        *out = TLREAD_MONTH;
    else if (strcmp(text, "year") == 0)
        *out = TLREAD_YEAR;
    else
        return refuse(err, "group", "\"%s\" is not day, month or year", text);
    return 0;
}

int tlread_parse_format(const char *text, bool text_ok, enum tlread_format *out,
                        struct request_error *err)
{
    if (!text || !text[0] || strcmp(text, "json") == 0)
        *out = TLREAD_JSON;
    else if (strcmp(text, "geojson") == 0)
        *out = TLREAD_GEOJSON;
    else if (strcmp(text, "gpx") == 0)
        *out = TLREAD_GPX;
    else if (text_ok && strcmp(text, "text") == 0)
        *out = TLREAD_TEXT;
    else
        return refuse(err, "format",
                      text_ok ? "\"%s\" is not text, json, geojson or gpx"
                              : "\"%s\" is not json, geojson or gpx",
                      text);
    return 0;
}

/* Digits at p, exactly n of them. */
static bool digits(const char *p, int n, unsigned *out)
{
    unsigned v = 0;
    for (int i = 0; i < n; i++) {
        if (p[i] < '0' || p[i] > '9')
            return false;
        v = v * 10 + (unsigned)(p[i] - '0');
    }
    *out = v;
    return true;
}

/* The first and the last yyyymmdd of a plain "YYYY-MM-DD" or "YYYY-MM"; false for other text. */
static bool plain_dates(const char *text, uint32_t *first, uint32_t *last)
{
    size_t len = strlen(text);
    unsigned y, m, d;
    if ((len != 7 && len != 10) || !digits(text, 4, &y) || text[4] != '-' ||
        !digits(text + 5, 2, &m))
        return false;
    if (len == 10) {
        if (text[7] != '-' || !digits(text + 8, 2, &d))
            return false;
        *first = *last = y * 10000 + m * 100 + d;
        return true;
    }
    *first = y * 10000 + m * 100 + 1;
    if (!zone_date_valid(*first))
        return false;
    uint32_t next = m == 12 ? (y + 1) * 10000 + 101 : y * 10000 + (m + 1) * 100 + 1;
    *last = zone_days_date(zone_date_days(next) - 1);
    return true;
}

int tlread_local_bound(const char *text, const char *param, bool end, const struct zone *z,
                       int64_t *t, struct request_error *err)
{
    uint32_t first, last;
    int64_t start, stop;
    if (!text || !text[0] || !plain_dates(text, &first, &last))
        return 0;
    if (!zone_date_valid(end ? last : first) ||
        zone_day_bounds(z, end ? last : first, &start, &stop) != 0)
        return refuse(err, param, "\"%s\" is not a day", text);
    *t = end ? stop - 1 : start;
    return 0;
}

int tlread_at_time(const char *text, const char *param, const struct zone *z, int64_t *t,
                   struct request_error *err)
{
    int rc = request_time(text, param, false, t, err);
    if (rc == 0)
        rc = tlread_local_bound(text, param, false, z, t, err);
    if (rc == 0 && (*t < WTIME_MIN || *t > WTIME_MAX))
        rc = refuse(err, param, "\"%s\" is not within 1970-01-01T00:00:01Z..2099-12-31T23:59:59Z",
                    text);
    return rc;
}

int tlread_user_zone(struct store *s, const char *user, struct zone **z)
{
    struct store_user_settings set;
    int rc = store_user_settings(s, user, &set);
    if (rc)
        return rc;
    rc = zone_open(set.zone, z);
    if (rc == -EINVAL)
        wl_log(WL_LOG_ERROR, "tlread", "%s's time zone \"%s\" is not known to this system", user,
               set.zone);
    return rc;
}

/* The position and accuracy of a stored point; false when it has no position that decodes. */
static bool item_fix(const struct store_item *it, struct geo_fix *f)
{
    struct fmt_fix fix;
    struct pack_value acc;
    f->tst = it->tst;
    f->lat = f->lon = f->acc = NAN;
    if (fmt_read_fix(it->tst, it->data, it->len, &fix) != 0 || !pack_to_double(&fix.lat, &f->lat) ||
        !pack_to_double(&fix.lon, &f->lon))
        return false;
    if (pack_find(it->data, it->len, it->tst, "location", "acc", &acc) != 1 ||
        !pack_to_double(&acc, &f->acc))
        f->acc = NAN;
    return true;
}

/* ---------------------------------------------------------------- streams */

enum phase {
    PHASE_HEAD,
    PHASE_ITEMS,  /* segments (GPX: the stays) or days */
    PHASE_TRIPS,  /* GPX: the trips, a second pass */
    PHASE_TAIL,   /* JSON: the transitions, then the events; text: the events left */
    PHASE_EVENTS, /* JSON: the derived events, after the transitions */
    PHASE_DONE
};

struct window_seg {
    struct tl_segment seg;
    bool open;
};

/* One of the longest stays of a day or a period. */
struct stay_share {
    int64_t start;
    uint32_t seconds;
    float lat, lon;
};

/* Sums of days: a month or a year. */
struct period {
    uint32_t key; /* yyyymm or yyyy */
    uint32_t days_with_data, points, stays, trips;
    int64_t first, last, moving_s, stay_s;
    double distance_m;
    uint32_t nstays;
    struct stay_share stay[STORE_DAY_STAYS];
};

struct tlread {
    struct store *s;
    struct store_device dev;
    struct zone *z;
    struct tlread_request rq;
    char user[OWNTRACKS_NAME_MAX + 1], device[OWNTRACKS_NAME_MAX + 1];
    bool days; /* a list of days, else a timeline */
    enum phase phase;
    size_t written; /* items in the document so far (for commas) */
    /* the window: what the last read took, and where the next one resumes */
    struct window_seg seg[TLREAD_BATCH];
    struct store_day day[TLREAD_BATCH];
    size_t n, next;   /* items in the window, and the next to write */
    bool last_window; /* the read that filled it ran to the end */
    int64_t after;    /* timeline: resume after this start */
    uint32_t next_date, to_date;
    uint32_t text_date; /* text: the date of the last heading */
    struct period agg;
    bool have_agg;
    struct places_names names; /* timeline: the user's places, to name the stays */
    /* JSON and text timelines: the derived events in the range, read in windows of
     * TLREAD_EVENT_BATCH like the segments, resuming after (ev_tst, ev_seq), the last taken */
    struct store_event *ev; /* TLREAD_EVENT_BATCH of them; NULL for other documents */
    size_t ev_n, ev_next;
    bool ev_last_window, ev_have_last;
    int64_t ev_tst;
    uint32_t ev_seq;
    size_t ev_written;
};

/* The place that holds a stay, or NULL. */
static const struct places_name *stay_place(const struct tlread *t, const struct tl_segment *seg,
                                            struct places_name *buf)
{
    if (seg->kind != TL_STAY || !isfinite(seg->lat) || !isfinite(seg->lon))
        return NULL;
    return places_names_find(&t->names, seg->lat, seg->lon, buf) ? buf : NULL;
}

static int take_segment(void *arg, enum tl_event ev, const struct tl_segment *seg)
{
    struct tlread *t = arg;
    if (t->after != INT64_MIN && seg->start <= t->after)
        return 0; /* taken in an earlier window */
    t->seg[t->n].seg = *seg;
    t->seg[t->n].open = ev == TL_OPENED;
    return ++t->n == TLREAD_BATCH ? TLREAD_STOP : 0;
}

static int take_day(void *arg, const struct store_day *day)
{
    struct tlread *t = arg;
    if (day->date < t->next_date)
        return 0;
    t->day[t->n] = *day;
    return ++t->n == TLREAD_BATCH ? TLREAD_STOP : 0;
}

/* Reads the next window; t->n == 0 afterwards means the phase has no more. */
static int read_window(struct tlread *t)
{
    int rc;
    t->n = t->next = 0;
    if (t->last_window)
        return 0;
    if (t->days) {
        if (t->next_date > t->to_date)
            return 0;
        rc = store_days_read(t->s, t->dev.id, t->next_date, t->to_date, take_day, t);
        if (rc < 0)
            return rc;
        if (t->n)
            t->next_date = zone_days_date(zone_date_days(t->day[t->n - 1].date) + 1);
    } else {
        rc = store_timeline_read(t->s, t->dev.id, t->rq.from, t->rq.to, t->after, t->rq.now,
                                 take_segment, t);
        if (rc < 0)
            return rc;
        if (t->n)
            t->after = t->seg[t->n - 1].seg.start;
    }
    t->last_window = rc != TLREAD_STOP;
    return 0;
}

static int take_event(void *arg, const struct store_event *ev)
{
    struct tlread *t = arg;
    if (t->ev_have_last && (ev->tst < t->ev_tst || (ev->tst == t->ev_tst && ev->seq <= t->ev_seq)))
        return 0; /* taken in an earlier window */
    t->ev[t->ev_n++] = *ev;
    t->ev_tst = ev->tst;
    t->ev_seq = ev->seq;
    t->ev_have_last = true;
    return t->ev_n == TLREAD_EVENT_BATCH ? TLREAD_STOP : 0;
}

/* The next derived event of the range, read in a new window when the last is used up: 1 and
 * *ev (borrowed until the next window), 0 when there are no more, or a store error. */
static int peek_event(struct tlread *t, const struct store_event **ev)
{
    if (!t->ev)
        return 0;
    if (t->ev_next == t->ev_n) {
        t->ev_n = t->ev_next = 0;
        if (t->ev_last_window)
            return 0;
        int rc = store_events_read(t->s, &t->dev, t->ev_have_last ? t->ev_tst : t->rq.from,
                                   t->rq.to, 0, take_event, t);
        if (rc < 0)
            return rc;
        t->ev_last_window = rc != TLREAD_STOP;
        if (t->ev_n == 0)
            return 0;
    }
    *ev = &t->ev[t->ev_next];
    return 1;
}

static void put_header(struct tlread *t, struct sink *out)
{
    const char *zn = zone_name(t->z);
    sink_puts(out, "\"user\":");
    sink_json_string(out, t->user, strlen(t->user));
    sink_puts(out, ",\"device\":");
    sink_json_string(out, t->device, strlen(t->device));
    sink_puts(out, ",\"zone\":");
    sink_json_string(out, zn, strlen(zn));
}

static void head(struct tlread *t, struct sink *out)
{
    static const char *const groups[] = {"day", "month", "year"};
    if (t->days) {
        sink_putc(out, '{');
        put_header(t, out);
        sink_printf(out, ",\"group\":\"%s\",\"days\":[", groups[t->rq.group]);
        return;
    }
    switch (t->rq.format) {
    case TLREAD_JSON:
        sink_putc(out, '{');
        put_header(t, out);
        sink_puts(out, ",\"segments\":[");
        break;
    case TLREAD_GEOJSON:
        sink_puts(out, "{\"type\":\"FeatureCollection\",");
        put_header(t, out);
        sink_puts(out, ",\"features\":[");
        break;
    case TLREAD_GPX:
        sink_puts(out, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
                       "<gpx version=\"1.1\" creator=\"wherelog\" "
                       "xmlns=\"http://www.topografix.com/GPX/1/1\" "
                       "xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" "
                       "xsi:schemaLocation=\"http://www.topografix.com/GPX/1/1 "
                       "http://www.topografix.com/GPX/1/1/gpx.xsd\">\n<metadata><name>");
        sink_xml_text(out, t->user, strlen(t->user));
        sink_putc(out, '/');
        sink_xml_text(out, t->device, strlen(t->device));
        sink_puts(out, " timeline</name></metadata>\n");
        break;
    case TLREAD_TEXT: sink_printf(out, "%s/%s (%s)\n", t->user, t->device, zone_name(t->z)); break;
    }
}

static void tail(struct tlread *t, struct sink *out)
{
    if (t->days || t->rq.format == TLREAD_JSON || t->rq.format == TLREAD_GEOJSON)
        sink_puts(out, t->written ? "\n]}\n" : "]}\n");
    else if (t->rq.format == TLREAD_GPX)
        sink_puts(out, "</gpx>\n");
    else if (!t->written && !t->ev_written)
        sink_puts(out, "nothing in this range\n");
}

/* GPX's longitude is -180 <= lon < 180. */
static double gpx_lon(double lon)
{
    return lon >= 180 ? lon - 360 : lon;
}

/* The trip's fixes, each written by put(); with max_points, thinned to that many. */
static int trip_points(struct tlread *t, const struct tl_segment *seg, struct sink *out,
                       void (*put)(struct sink *, const struct store_item *, const struct fmt_fix *,
                                   size_t),
                       size_t *count)
{
    struct query_plan plan = {0};
    struct store_iter *it;
    struct store_item item;
    size_t next_keep = 0;
    int rc;

    *count = 0;
    if (t->rq.max_points) {
        struct query_range r = {.from = seg->start, .to = seg->end, .max_points = t->rq.max_points};
        if ((rc = query_plan_export(t->s, t->user, t->device, &r, &plan)))
            return rc;
    }
    if ((rc = store_iter_points(t->s, t->dev.id, seg->start, seg->end, 0, &it))) {
        query_plan_free(&plan);
        return rc;
    }
    while ((rc = store_iter_next(it, &item)) == 1) {
        struct fmt_fix fix;
        if (plan.thinned) {
            while (next_keep < plan.nkeep && plan.keep[next_keep] < item.tst)
                next_keep++;
            if (next_keep == plan.nkeep || plan.keep[next_keep] != item.tst)
                continue;
        }
        if (fmt_read_fix(item.tst, item.data, item.len, &fix) != 0)
            continue;
        put(out, &item, &fix, (*count)++);
    }
    store_iter_close(it);
    query_plan_free(&plan);
    return rc < 0 ? rc : 0;
}

static void put_geojson_position(struct sink *out, const struct store_item *it,
                                 const struct fmt_fix *fix, size_t i)
{
    (void)it;
    sink_puts(out, i ? ",[" : "[");
    pack_write_number(out, &fix->lon);
    sink_putc(out, ',');
    pack_write_number(out, &fix->lat);
    sink_putc(out, ']');
}

static void put_gpx_trkpt(struct sink *out, const struct store_item *it, const struct fmt_fix *fix,
                          size_t i)
{
    char iso[WTIME_ISO_SIZE];
    int64_t whole;
    if (i == 0)
        sink_puts(out, "<trkseg>\n");
    sink_puts(out, "<trkpt lat=\"");
    fmt_write_decimal(out, &fix->lat);
    sink_puts(out, "\" lon=\"");
    if (!fix->lon.neg && pack_to_int(&fix->lon, &whole) && whole == 180)
        sink_puts(out, "-180");
    else
        fmt_write_decimal(out, &fix->lon);
    sink_puts(out, "\">");
    if (fix->has_alt) {
        sink_puts(out, "<ele>");
        fmt_write_decimal(out, &fix->alt);
        sink_puts(out, "</ele>");
    }
    wtime_iso(it->tst, iso);
    sink_printf(out, "<time>%s</time></trkpt>\n", iso);
}

/* "walk 08:02–08:41" or "stay 08:41–17:10": a GPX name. */
static void gpx_name(struct tlread *t, struct sink *out, const char *what,
                     const struct tl_segment *seg)
{
    char a[8], b[8];
    local_hm(t->z, seg->start, a);
    local_hm(t->z, seg->end, b);
    sink_puts(out, "<name>");
    sink_xml_text(out, what, strlen(what));
    sink_printf(out, " %s%s%s</name>", a, en_dash, b);
}

/* Text: the date's heading before the first line of a local date. */
static void text_heading(struct tlread *t, struct sink *out, int64_t at)
{
    uint32_t date = zone_date(t->z, at);
    if (date != t->text_date) {
        sink_printf(out, "\n%04u-%02u-%02u\n", date / 10000, date / 100 % 100, date % 100);
        t->text_date = date;
    }
}

/* An event's member, or NULL. */
static json_object *member(json_object *o, const char *key)
{
    json_object *v;
    return json_object_object_get_ex(o, key, &v) ? v : NULL;
}

/* What a line for people says of an event after its kind: its key fields, read back from the
 * members it was stored with (store.h, "events"). */
static void event_details(struct tlread *t, struct sink *out, const struct store_event *ev)
{
    char text[STORE_EVENT_FIELDS_MAX + 2], dur[32], hm[8];
    snprintf(text, sizeof(text), "{%s}", ev->fields);
    json_object *o = json_tokener_parse(text), *v;
    if (!o)
        return; /* written by the store: unreadable only if damaged, and the kind still shows */
    switch (ev->kind) {
    case STORE_EV_PLACE_ENTERED:
    case STORE_EV_PLACE_LEFT:
        if ((v = member(o, "name")))
            sink_printf(out, "  %s", json_object_get_string(v));
        if ((v = member(o, "deleted")) && json_object_get_boolean(v))
            sink_puts(out, " (deleted since)");
        break;
    case STORE_EV_BATTERY_LOW:
        if ((v = member(o, "batt")))
            sink_printf(out, "  %d %%", json_object_get_int(v));
        if ((v = member(o, "level")))
            sink_printf(out, " (below %d %%)", json_object_get_int(v));
        break;
    case STORE_EV_SILENT:
        if ((v = member(o, "last_seen"))) {
            int64_t seen = json_object_get_int64(v);
            uint32_t date = zone_date(t->z, seen);
            local_hm(t->z, seen, hm);
            if (date != zone_date(t->z, ev->tst))
                sink_printf(out, "  since %04u-%02u-%02u %s", date / 10000, date / 100 % 100,
                            date % 100, hm);
            else
                sink_printf(out, "  since %s", hm);
        }
        if ((v = member(o, "silent_s")))
            sink_printf(out, " (%s)",
                        tlread_duration_text(json_object_get_int64(v), dur, sizeof(dur)));
        break;
    case STORE_EV_TRANSITION:
        if ((v = member(o, "event")))
            sink_printf(out, "  %s", json_object_get_string(v));
        if ((v = member(o, "desc")))
            sink_printf(out, " %s", json_object_get_string(v));
        break;
    case STORE_EV_TRIP_ENDED:
        if ((v = member(o, "mode")))
            sink_printf(out, "  %s", json_object_get_string(v));
        if ((v = member(o, "distance_m"))) {
            double m = json_object_get_double(v);
            if (m >= 1000)
                sink_printf(out, " %.1f km", m / 1000);
            else
                sink_printf(out, " %.0f m", m);
        }
        /* fall through */
    case STORE_EV_STAY_ENDED:
        if ((v = member(o, "duration_s")))
            sink_printf(out, "  %s",
                        tlread_duration_text(json_object_get_int64(v), dur, sizeof(dur)));
        break;
    default: break;
    }
    json_object_put(o);
}

/* One event as a line for people, aligned under the segments' kinds:
 *   "08:41        event  place_entered  Home" */
static void write_event_text(struct tlread *t, struct sink *out, const struct store_event *ev)
{
    char hm[8];
    const char *kind = store_event_kind_name(ev->kind);
    text_heading(t, out, ev->tst);
    local_hm(t->z, ev->tst, hm);
    sink_printf(out, "%s        event  %s", hm, kind ? kind : "unknown");
    event_details(t, out, ev);
    sink_putc(out, '\n');
    t->ev_written++;
}

/* One event as the timeline's JSON: event.h's object and "tst_iso", its local time (named as
 * the transitions name theirs). */
static void write_event_json(struct tlread *t, struct sink *out, const struct store_event *ev)
{
    char iso[TLREAD_ISO_SIZE];
    sink_puts(out, t->ev_written ? ",\n" : "\n");
    event_json_members(out, ev);
    tlread_iso(ev->tst, offset_at(t->z, ev->tst), iso);
    sink_printf(out, ",\"tst_iso\":\"%s\"}", iso);
    t->ev_written++;
}

static int write_segment(struct tlread *t, struct sink *out, const struct window_seg *w)
{
    const struct tl_segment *seg = &w->seg;
    char dur[32], iso[WTIME_ISO_SIZE];
    struct places_name place;
    size_t n;
    int rc = 0;

    switch (t->rq.format) {
    case TLREAD_JSON:
        sink_puts(out, t->written ? ",\n" : "\n");
        tlread_segment_json_at(out, seg, w->open, t->z, stay_place(t, seg, &place));
        break;
    case TLREAD_TEXT: {
        text_heading(t, out, seg->start);
        const struct places_name *pl = stay_place(t, seg, &place);
        tlread_segment_text_at(out, seg, w->open, t->z, pl ? pl->name : NULL);
        break;
    }
    case TLREAD_GEOJSON:
        sink_puts(out, t->written ? ",\n{\"type\":\"Feature\",\"geometry\":"
                                  : "\n{\"type\":\"Feature\",\"geometry\":");
        if (seg->kind == TL_STAY && isfinite(seg->lat) && isfinite(seg->lon)) {
            sink_printf(out, "{\"type\":\"Point\",\"coordinates\":[%.6f,%.6f]}", seg->lon,
                        seg->lat);
        } else if (seg->kind == TL_TRIP) {
            /* The trip's fixes, held as one unit (sink.h) so that a trip with fewer than two
             * (sparse data) can be taken back and drawn from where it began to where it
             * ended. */
            sink_hold(out);
            sink_puts(out, "{\"type\":\"LineString\",\"coordinates\":[");
            if ((rc = trip_points(t, seg, out, put_geojson_position, &n))) {
                sink_drop(out);
                return rc;
            }
            if (n >= 2) {
                sink_puts(out, "]}");
                sink_keep(out);
            } else {
                sink_drop(out);
                if (isfinite(seg->lat) && isfinite(seg->lon) && isfinite(seg->end_lat) &&
                    isfinite(seg->end_lon))
                    sink_printf(out,
                                "{\"type\":\"LineString\",\"coordinates\":[[%.6f,%.6f],"
                                "[%.6f,%.6f]]}",
                                seg->lon, seg->lat, seg->end_lon, seg->end_lat);
                else
                    sink_puts(out, "null");
            }
        } else {
            sink_puts(out, "null"); /* a gap: properties only */
        }
        sink_puts(out, ",\"properties\":");
        tlread_segment_json_at(out, seg, w->open, t->z, stay_place(t, seg, &place));
        sink_putc(out, '}');
        break;
    case TLREAD_GPX:
        if (t->phase == PHASE_ITEMS) {
            if (seg->kind != TL_STAY || !isfinite(seg->lat) || !isfinite(seg->lon))
                return 0;
            wtime_iso(seg->start, iso);
            sink_printf(out, "<wpt lat=\"%.7f\" lon=\"%.7f\"><time>%s</time>", seg->lat,
                        gpx_lon(seg->lon), iso);
            gpx_name(t, out, "stay", seg);
            sink_printf(out, "<desc>%s, %u points%s</desc><type>stay</type></wpt>\n",
                        tlread_duration_text(seg->end - seg->start, dur, sizeof(dur)),
                        (unsigned)seg->points, w->open ? ", open" : "");
        } else {
            if (seg->kind != TL_TRIP)
                return 0;
            const char *mode = tl_mode_name(seg->mode);
            sink_puts(out, "<trk>");
            gpx_name(t, out, mode, seg);
            sink_printf(out, "<desc>%.1f km in %s%s</desc><type>",
                        isfinite(seg->distance_m) ? seg->distance_m / 1000 : 0.0,
                        tlread_duration_text(seg->end - seg->start, dur, sizeof(dur)),
                        w->open ? ", open" : "");
            sink_xml_text(out, mode, strlen(mode));
            sink_puts(out, "</type>\n");
            if ((rc = trip_points(t, seg, out, put_gpx_trkpt, &n)))
                return rc;
            sink_puts(out, n ? "</trkseg>\n</trk>\n" : "</trk>\n");
        }
        break;
    }
    t->written++;
    return 0;
}

/* ------------------------------------------------ days */

static void put_stays(struct sink *out, const struct stay_share *st, uint32_t n)
{
    sink_puts(out, ",\"longest_stays\":[");
    for (uint32_t i = 0; i < n; i++) {
        sink_puts(out, i ? ",{\"start\":" : "{\"start\":");
        sink_put_i64(out, st[i].start);
        put_int(out, ",\"seconds\":", st[i].seconds);
        sink_puts(out, ",\"lat\":");
        put_fixed(out, st[i].lat, 6);
        sink_puts(out, ",\"lon\":");
        put_fixed(out, st[i].lon, 6);
        sink_putc(out, '}');
    }
    sink_putc(out, ']');
}

static void put_figures(struct sink *out, uint32_t points, int64_t first, int64_t last,
                        double distance, int64_t moving, uint32_t stays, uint32_t trips,
                        int64_t stay_s)
{
    put_int(out, ",\"points\":", points);
    if (points) {
        put_int(out, ",\"first\":", first);
        put_int(out, ",\"last\":", last);
    } else {
        sink_puts(out, ",\"first\":null,\"last\":null");
    }
    sink_puts(out, ",\"distance\":");
    put_fixed(out, distance, 0);
    put_int(out, ",\"moving\":", moving);
    put_int(out, ",\"stays\":", stays);
    put_int(out, ",\"trips\":", trips);
    put_int(out, ",\"stay_time\":", stay_s);
}

static void write_day(struct tlread *t, struct sink *out, const struct store_day *d)
{
    sink_puts(out, t->written ? ",\n" : "\n");
    sink_printf(out, "{\"date\":\"%04u-%02u-%02u\",\"start\":%lld,\"end\":%lld",
                (unsigned)(d->date / 10000), (unsigned)(d->date / 100 % 100),
                (unsigned)(d->date % 100), (long long)d->start, (long long)d->end);
    put_figures(out, d->points, d->first, d->last, d->distance_m, d->moving_s, d->stays, d->trips,
                d->stay_s);
    struct stay_share st[STORE_DAY_STAYS];
    uint32_t n = d->nstays < STORE_DAY_STAYS ? d->nstays : STORE_DAY_STAYS;
    for (uint32_t i = 0; i < n; i++)
        st[i] = (struct stay_share){d->stay[i].start, d->stay[i].seconds, d->stay[i].lat,
                                    d->stay[i].lon};
    put_stays(out, st, n);
    sink_putc(out, '}');
    t->written++;
}

static uint32_t period_key(const struct tlread *t, uint32_t date)
{
    return t->rq.group == TLREAD_MONTH ? date / 100 : date / 10000;
}

static int by_start(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

static void write_period(struct tlread *t, struct sink *out)
{
    struct period *p = &t->agg;
    uint32_t first, last;
    int64_t start, end, s2, e2;
    char name[16];

    if (t->rq.group == TLREAD_MONTH) {
        first = p->key * 100 + 1;
        uint32_t y = p->key / 100, m = p->key % 100;
        uint32_t next = m == 12 ? (y + 1) * 10000 + 101 : y * 10000 + (m + 1) * 100 + 1;
        last = zone_days_date(zone_date_days(next) - 1);
        snprintf(name, sizeof(name), "%04u-%02u", (unsigned)y, (unsigned)m);
    } else {
        first = p->key * 10000 + 101;
        last = p->key * 10000 + 1231;
        snprintf(name, sizeof(name), "%04u", (unsigned)p->key);
    }
    if (zone_day_bounds(t->z, first, &start, &e2) != 0 || zone_day_bounds(t->z, last, &s2, &end))
        start = end = 0;
    sink_puts(out, t->written ? ",\n" : "\n");
    sink_printf(out, "{\"period\":\"%s\",\"start\":%lld,\"end\":%lld,\"days_with_data\":%u", name,
                (long long)start, (long long)end, (unsigned)p->days_with_data);
    put_figures(out, p->points, p->first, p->last, p->distance_m, p->moving_s, p->stays, p->trips,
                p->stay_s);
    qsort(p->stay, p->nstays, sizeof(p->stay[0]), by_start);
    put_stays(out, p->stay, p->nstays);
    sink_putc(out, '}');
    t->written++;
    t->have_agg = false;
}

/* Adds a day to the month or year being summed (written first when the day begins another). */
static void add_day(struct tlread *t, struct sink *out, const struct store_day *d)
{
    struct period *p = &t->agg;
    uint32_t key = period_key(t, d->date);
    if (t->have_agg && p->key != key)
        write_period(t, out);
    if (!t->have_agg) {
        memset(p, 0, sizeof(*p));
        p->key = key;
        t->have_agg = true;
    }
    if (d->points) {
        p->days_with_data++;
        if (!p->points || d->first < p->first)
            p->first = d->first;
        if (d->last > p->last)
            p->last = d->last;
    }
    p->points += d->points;
    p->distance_m += isfinite(d->distance_m) ? d->distance_m : 0;
    p->moving_s += d->moving_s;
    p->stays += d->stays;
    p->trips += d->trips;
    p->stay_s += d->stay_s;
    /* The longest stays of the period: a stay over midnight is one stay, its days' shares
     * summed. */
    for (uint32_t i = 0; i < d->nstays && i < STORE_DAY_STAYS; i++) {
        uint32_t k, smallest = 0;
        for (k = 0; k < p->nstays && p->stay[k].start != d->stay[i].start; k++)
            if (p->stay[k].seconds < p->stay[smallest].seconds)
                smallest = k;
        if (k < p->nstays) {
            p->stay[k].seconds += d->stay[i].seconds;
            continue;
        }
        if (p->nstays < STORE_DAY_STAYS)
            k = p->nstays++;
        else if (p->stay[smallest].seconds < d->stay[i].seconds)
            k = smallest;
        else
            continue;
        p->stay[k].start = d->stay[i].start;
        p->stay[k].seconds = d->stay[i].seconds;
        p->stay[k].lat = d->stay[i].lat;
        p->stay[k].lon = d->stay[i].lon;
    }
}

/* ------------------------------------------------ opening and filling */

static int open_stream(struct store *s, const struct tlread_request *rq, struct zone *z, bool days,
                       struct sink *out, struct tlread **out_t)
{
    struct tlread *t = calloc(1, sizeof(*t));
    int rc;

    if (!t)
        return -ENOMEM;
    snprintf(t->user, sizeof(t->user), "%s", rq->user);
    snprintf(t->device, sizeof(t->device), "%s", rq->device);
    if ((rc = store_get_device(s, t->user, t->device, &t->dev))) {
        free(t);
        return rc;
    }
    if (!days && (rq->format == TLREAD_JSON || rq->format == TLREAD_TEXT) &&
        !(t->ev = calloc(TLREAD_EVENT_BATCH, sizeof(*t->ev)))) {
        free(t);
        return -ENOMEM;
    }
    if (!days && (rc = places_names_open(s, t->user, &t->names))) {
        free(t->ev);
        free(t);
        return rc;
    }
    t->s = s;
    t->rq = *rq;
    t->rq.user = t->user;
    t->rq.device = t->device;
    t->days = days;
    if (days)
        t->rq.format = TLREAD_JSON;
    t->z = zone_ref(z);
    t->after = INT64_MIN;
    t->next_date = zone_date(z, rq->from);
    t->to_date = zone_date(z, rq->to);
    head(t, out);
    t->phase = PHASE_ITEMS;
    *out_t = t;
    return 0;
}

int tlread_timeline_open(struct store *s, const struct tlread_request *rq, struct zone *z,
                         struct sink *out, struct tlread **t)
{
    return open_stream(s, rq, z, false, out, t);
}

int tlread_days_open(struct store *s, const struct tlread_request *rq, struct zone *z,
                     struct sink *out, struct tlread **t)
{
    return open_stream(s, rq, z, true, out, t);
}

int tlread_fill(struct tlread *t, struct sink *out, size_t want)
{
    const struct store_event *ev;
    int rc;
    while (out->len < want && t->phase != PHASE_DONE) {
        if (t->phase == PHASE_EVENTS) {
            if ((rc = peek_event(t, &ev)) < 0)
                return rc;
            if (rc == 0) {
                sink_puts(out, t->ev_written ? "\n]}\n" : "]}\n");
                t->phase = PHASE_DONE;
                break;
            }
            write_event_json(t, out, ev);
            t->ev_next++;
            continue;
        }
        if (t->phase == PHASE_TAIL) {
            if (t->have_agg)
                write_period(t, out);
            if (!t->days && t->rq.format == TLREAD_JSON) {
                /* the phone's enter and leave events, beside the stays; then the derived ones */
                sink_puts(out, t->written ? "\n],\"transitions\":" : "],\"transitions\":");
                if ((rc =
                         places_transitions_json(t->s, t->dev.id, t->rq.from, t->rq.to, t->z, out)))
                    return rc;
                sink_puts(out, ",\"events\":[");
                t->phase = PHASE_EVENTS;
                continue;
            }
            if (!t->days && t->rq.format == TLREAD_TEXT) { /* the events after the last segment */
                if ((rc = peek_event(t, &ev)) < 0)
                    return rc;
                if (rc == 1) {
                    write_event_text(t, out, ev);
                    t->ev_next++;
                    continue;
                }
            }
            tail(t, out);
            t->phase = PHASE_DONE;
            break;
        }
        if (t->next == t->n && (rc = read_window(t)))
            return rc;
        if (t->n == 0) { /* this pass is over */
            if (t->rq.format == TLREAD_GPX && t->phase == PHASE_ITEMS) {
                t->phase = PHASE_TRIPS; /* GPX wants every waypoint before the first track */
                t->after = INT64_MIN;
                t->last_window = false;
            } else {
                t->phase = PHASE_TAIL;
            }
            continue;
        }
        if (!t->days && t->rq.format == TLREAD_TEXT) {
            /* an event before the next segment starts comes first: the list is in time order */
            if ((rc = peek_event(t, &ev)) < 0)
                return rc;
            if (rc == 1 && ev->tst < t->seg[t->next].seg.start) {
                write_event_text(t, out, ev);
                t->ev_next++;
                continue;
            }
        }
        if (t->days) {
            const struct store_day *d = &t->day[t->next++];
            if (t->rq.group == TLREAD_DAY)
                write_day(t, out, d);
            else
                add_day(t, out, d);
        } else if ((rc = write_segment(t, out, &t->seg[t->next++]))) {
            return rc;
        }
        if (out->err)
            return out->err;
    }
    return out->err ? out->err : t->phase == PHASE_DONE ? 0 : 1;
}

void tlread_close(struct tlread *t)
{
    if (!t)
        return;
    zone_unref(t->z);
    places_names_free(&t->names);
    free(t->ev);
    free(t);
}

/* ---------------------------------------------------------------- at */

/* The segments that overlap one instant: a few at most (a boundary is shared by two). */
struct at_ctx {
    struct tl_segment seg[4];
    bool open[4];
    size_t n;
};

static int take_at(void *arg, enum tl_event ev, const struct tl_segment *seg)
{
    struct at_ctx *c = arg;
    if (c->n == WL_ARRAY_LEN(c->seg))
        return TLREAD_STOP;
    c->seg[c->n] = *seg;
    c->open[c->n++] = ev == TL_OPENED;
    return 0;
}

/* The fix nearest to `at` on one side: before (tst <= at) or after (tst > at). 1 found, 0 none,
 * or a store error. */
static int nearest_fix(struct store *s, uint32_t id, int64_t at, bool before, struct geo_fix *f)
{
    struct store_iter *it;
    struct store_item item;
    int rc = before ? store_iter_points(s, id, WTIME_MIN, at, STORE_ITER_REVERSE, &it)
                    : store_iter_points(s, id, at + 1, WTIME_MAX, 0, &it);
    if (rc)
        return rc;
    while ((rc = store_iter_next(it, &item)) == 1 && !item_fix(&item, f))
        ; /* a point without a position says nothing of where the device was */
    store_iter_close(it);
    return rc;
}

static void put_fix(struct sink *out, const char *name, const struct geo_fix *f,
                    const struct zone *z)
{
    char iso[TLREAD_ISO_SIZE];
    tlread_iso(f->tst, offset_at(z, f->tst), iso);
    sink_printf(out,
                ",\"%s\":{\"tst\":%lld,\"iso\":\"%s\",\"lat\":%.6f,\"lon\":%.6f,\"acc\":", name,
                (long long)f->tst, iso, f->lat, f->lon);
    put_fixed(out, f->acc, 0);
    sink_putc(out, '}');
}

int tlread_at_json(struct store *s, const char *user, const char *device, int64_t at,
                   const struct zone *z, struct sink *out)
{
    struct store_device dev;
    struct geo_fix before, after;
    struct at_ctx c = {.n = 0};
    char iso[TLREAD_ISO_SIZE];
    int rc = store_get_device(s, user, device, &dev);

    if (rc)
        return rc;
    int have_before = nearest_fix(s, dev.id, at, true, &before);
    if (have_before < 0)
        return have_before;
    int have_after = nearest_fix(s, dev.id, at, false, &after);
    if (have_after < 0)
        return have_after;
    /* after the last fix, the timeline as it stood at `at` (never later than now: no guessing
     * where a still phone will be) */
    int64_t now = time(NULL);
    rc = store_timeline_read(s, dev.id, at, at, INT64_MIN, at < now ? at : now, take_at, &c);
    if (rc < 0)
        return rc;

    /* The segment that covers `at`: where two meet at it, the one that begins there. */
    int cover = -1;
    for (size_t i = 0; i < c.n; i++)
        if (c.seg[i].start <= at && at <= c.seg[i].end &&
            (cover < 0 || c.seg[i].start >= c.seg[cover].start))
            cover = (int)i;
    bool exact = have_before && before.tst == at;
    /* after the last fix, the open stay that still covers `at` (a still phone sends little) */
    bool still = !have_after && cover >= 0 && c.seg[cover].kind == TL_STAY && c.open[cover];
    const char *status;
    bool position = false;
    double lat = NAN, lon = NAN;
    if (!have_before && !have_after)
        status = "no_data";
    else if (!have_before)
        status = "before_data";
    else if (!have_after && !exact && !still)
        status = "after_data";
    else if (cover >= 0 && c.seg[cover].kind == TL_GAP && !exact)
        status = "gap"; /* no line drawn across a silence */
    else if (cover >= 0 && c.seg[cover].kind == TL_STAY) {
        status = "stay";
        position = true;
        lat = c.seg[cover].lat;
        lon = c.seg[cover].lon;
    } else {
        status = "moving";
        position = true;
        if (exact) {
            lat = before.lat;
            lon = before.lon;
        } else {
            tlread_interpolate(before.tst, before.lat, before.lon, after.tst, after.lat, after.lon,
                               at, &lat, &lon);
        }
    }
    tlread_iso(at, offset_at(z, at), iso);
    sink_puts(out, "{\"user\":");
    sink_json_string(out, user, strlen(user));
    sink_puts(out, ",\"device\":");
    sink_json_string(out, device, strlen(device));
    sink_printf(out, ",\"t\":%lld,\"iso\":\"%s\",\"status\":\"%s\"", (long long)at, iso, status);
    if (position) {
        sink_puts(out, ",\"lat\":");
        put_fixed(out, lat, 6);
        sink_puts(out, ",\"lon\":");
        put_fixed(out, lon, 6);
    }
    if (have_before)
        put_fix(out, "before", &before, z);
    if (have_after)
        put_fix(out, "after", &after, z);
    if (have_before && have_after)
        sink_printf(out, ",\"span\":%lld", (long long)(after.tst - before.tst));
    if (cover >= 0 && have_before && (have_after || exact || still)) {
        if (c.seg[cover].kind == TL_STAY) {
            sink_puts(out, ",\"stay\":");
            tlread_segment_json(out, &c.seg[cover], c.open[cover], z);
        }
        sink_puts(out, ",\"segment\":");
        tlread_segment_json(out, &c.seg[cover], c.open[cover], z);
    }
    sink_puts(out, "}\n");
    return out->err;
}
