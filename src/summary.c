#include "summary.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "geo.h"
#include "tlread.h"

void summary_init(struct summary *s, int year, double place_radius_m)
{
    *s = (struct summary){
        .year = year, .first_date = (uint32_t)year * 10000 + 101, .place_radius_m = place_radius_m};
}

void summary_free(struct summary *s)
{
    free(s->countries);
    free(s->cities);
    free(s->places);
    s->countries = s->cities = NULL;
    s->places = NULL;
    s->ncountries = s->ncities = s->nplaces = 0;
}

/* The day of the year (0..365) of a date of s's year, or -1 for another year's. */
static int day_of_year(const struct summary *s, uint32_t date)
{
    if (date / 10000 != (uint32_t)s->year || !zone_date_valid(date))
        return -1;
    return (int)(zone_date_days(date) - zone_date_days(s->first_date));
}

/* Sets the day's bit; true if it was not set. */
static bool mark(uint64_t *seen, int day)
{
    uint64_t bit = 1ull << (day % 64);
    if (seen[day / 64] & bit)
        return false;
    seen[day / 64] |= bit;
    return true;
}

/* Grows a list by one entry (zeroed) unless it holds max: the entry, or NULL (*rc -ENOMEM if
 * memory ran out, 0 when full). */
static void *append(void **v, size_t *n, size_t max, size_t size, int *rc)
{
    *rc = 0;
    if (*n >= max)
        return NULL;
    /* grow at powers of two: 8, 16, 32... */
    if (*n == 0 || (*n >= 8 && (*n & (*n - 1)) == 0)) {
        size_t cap = *n < 8 ? 8 : *n * 2;
        void *p = realloc(*v, cap * size);
        if (!p) {
            *rc = -ENOMEM;
            return NULL;
        }
        *v = p;
    }
    char *e = (char *)*v + *n * size;
    memset(e, 0, size);
    (*n)++;
    return e;
}

static int count_area(struct summary *s, bool city, const struct gazetteer_city *c, int day)
{
    struct summary_area *v = city ? s->cities : s->countries;
    size_t n = city ? s->ncities : s->ncountries;
    struct summary_area *a = NULL;
    int rc;

    for (size_t i = 0; i < n && !a; i++)
        if (city ? v[i].name == c->name : strcmp(v[i].cc, c->cc) == 0)
            a = &v[i];
    if (!a) {
        if (city)
            a = append((void **)&s->cities, &s->ncities, SUMMARY_CITIES_MAX, sizeof(*a), &rc);
        else
            a = append((void **)&s->countries, &s->ncountries, SUMMARY_COUNTRIES_MAX, sizeof(*a),
                       &rc);
        if (!a) {
            if (!rc)
                (*(city ? &s->cities_dropped : &s->countries_dropped))++;
            return rc;
        }
        a->name = city ? c->name : NULL;
        snprintf(a->cc, sizeof(a->cc), "%s", c->cc ? c->cc : "");
        a->lat = c->lat;
        a->lon = c->lon;
    }
    if (mark(a->seen, day))
        a->days++;
    return 0;
}

/* The place a stay at (lat, lon) counts for, or NULL if it has none yet: the entry of the
 * named place that holds it, or else the first cluster within the radius. Most clusters are
 * rejected by latitude alone, which spares the trigonometry of a distance: a year has a few
 * hundred places and a few thousand stays. */
static struct summary_place *find_place(struct summary *s, double lat, double lon,
                                        const struct places_name *named)
{
    double dlat = s->place_radius_m / (GEO_EARTH_RADIUS_M * M_PI / 180) * 1.01;
    for (size_t i = 0; i < s->nplaces; i++) {
        struct summary_place *p = &s->places[i];
        if (named
                ? p->named && p->id == named->id && (named->id || strcmp(p->name, named->name) == 0)
                : !p->named && fabs(p->lat - lat) <= dlat &&
                      geo_distance_m(p->lat, p->lon, lat, lon) <= s->place_radius_m)
            return p;
    }
    return NULL;
}

int summary_add_stay(struct summary *s, uint32_t date, double lat, double lon, int64_t seconds,
                     const struct gazetteer_city *city, const struct places_name *place)
{
    int day = day_of_year(s, date), rc;
    if (day < 0 || !isfinite(lat) || !isfinite(lon))
        return 0;
    if (city && ((rc = count_area(s, true, city, day)) || (rc = count_area(s, false, city, day))))
        return rc;

    struct summary_place *p = find_place(s, lat, lon, place);
    if (!p) {
        p = append((void **)&s->places, &s->nplaces, SUMMARY_PLACES_MAX, sizeof(*p), &rc);
        if (!p) {
            if (!rc)
                s->places_dropped++;
            return rc;
        }
        if (place) {
            p->named = true;
            p->id = place->id;
            p->region = place->id == 0;
            snprintf(p->name, sizeof(p->name), "%s", place->name);
        }
        p->lat = lat;
        p->lon = lon;
        if (city) {
            p->city = city->name;
            p->where = *city;
            snprintf(p->cc, sizeof(p->cc), "%s", city->cc ? city->cc : "");
        }
    }
    /* the centre follows its stays, weighted by time (a minute's visit moves it little) */
    double w = seconds > 0 ? (double)seconds : 1;
    p->lat = (p->lat * p->weight + lat * w) / (p->weight + w);
    p->lon = (p->lon * p->weight + lon * w) / (p->weight + w);
    p->weight += w;
    p->visits++;
    p->seconds += seconds > 0 ? seconds : 0;
    if (mark(p->seen, day))
        p->days++;
    return 0;
}

int summary_add_day(struct summary *s, const struct store_day *d, const struct gazetteer *gz)
{
    int day = day_of_year(s, d->date), rc;
    if (day < 0)
        return 0;
    struct summary_month *m = &s->month[d->date / 100 % 100 - 1];
    s->distance_m += d->distance_m;
    m->distance_m += d->distance_m;
    s->moving_s += d->moving_s;
    m->moving_s += d->moving_s;
    s->points += d->points;
    m->points += d->points;
    if (d->points && mark(s->seen, day)) {
        s->days++;
        m->days++;
    }
    for (uint32_t i = 0; i < d->nstays && i < STORE_DAY_STAYS; i++) {
        double lat = d->stay[i].lat, lon = d->stay[i].lon;
        struct gazetteer_city c;
        const struct gazetteer_city *city = NULL;
        struct places_name named;
        bool is_named = s->names && places_names_find(s->names, lat, lon, &named);
        /* a stay at a known place is in that place's city: one lookup a place, not a stay */
        const struct summary_place *p = find_place(s, lat, lon, is_named ? &named : NULL);
        if (p)
            city = p->city ? &p->where : NULL;
        else if (gz && gazetteer_nearest(gz, lat, lon, &c))
            city = &c;
        if ((rc = summary_add_stay(s, d->date, lat, lon, d->stay[i].seconds, city,
                                   is_named ? &named : NULL)))
            return rc;
    }
    return 0;
}

void summary_add_segment(struct summary *s, uint32_t date, const struct tl_segment *seg)
{
    if (day_of_year(s, date) < 0)
        return;
    struct summary_month *m = &s->month[date / 100 % 100 - 1];
    if (seg->kind == TL_STAY) {
        s->stays++;
        m->stays++;
    } else if (seg->kind == TL_TRIP) {
        s->trips++;
        m->trips++;
        if (isfinite(seg->distance_m) &&
            (!s->have_longest || seg->distance_m > s->longest.distance_m)) {
            s->longest = *seg;
            s->have_longest = true;
        }
    }
}

static int area_order(const void *a, const void *b)
{
    const struct summary_area *p = a, *q = b;
    if (p->days != q->days)
        return p->days > q->days ? -1 : 1;
    int c = strcmp(p->name ? p->name : p->cc, q->name ? q->name : q->cc);
    return c ? c : strcmp(p->cc, q->cc);
}

static int place_order(const void *a, const void *b)
{
    const struct summary_place *p = a, *q = b;
    if (p->seconds != q->seconds)
        return p->seconds > q->seconds ? -1 : 1;
    if (p->visits != q->visits)
        return p->visits > q->visits ? -1 : 1;
    return p->lat < q->lat ? -1 : p->lat > q->lat;
}

void summary_finish(struct summary *s)
{
    if (s->ncountries)
        qsort(s->countries, s->ncountries, sizeof(*s->countries), area_order);
    if (s->ncities)
        qsort(s->cities, s->ncities, sizeof(*s->cities), area_order);
    if (s->nplaces)
        qsort(s->places, s->nplaces, sizeof(*s->places), place_order);
    if (s->nplaces > SUMMARY_TOP_PLACES)
        s->nplaces = SUMMARY_TOP_PLACES;
}

int summary_parse_year(const char *text, int *year)
{
    if (!text || strlen(text) != 4)
        return -EINVAL;
    int y = 0;
    for (int i = 0; i < 4; i++) {
        if (text[i] < '0' || text[i] > '9')
            return -EINVAL;
        y = y * 10 + (text[i] - '0');
    }
    if (y < SUMMARY_YEAR_MIN || y > SUMMARY_YEAR_MAX)
        return -EINVAL;
    *year = y;
    return 0;
}

/* ---------------------------------------------------------------- reading */

struct reading {
    struct summary *s;
    const struct gazetteer *gz;
    const struct zone *z;
    int rc;
};

static int take_day(void *arg, const struct store_day *d)
{
    struct reading *r = arg;
    return (r->rc = summary_add_day(r->s, d, r->gz));
}

static int take_segment(void *arg, enum tl_event ev, const struct tl_segment *seg)
{
    struct reading *r = arg;
    (void)ev; /* an open segment counts as far as it goes */
    summary_add_segment(r->s, zone_date(r->z, seg->start), seg);
    return 0;
}

int summary_read(struct store *st, const char *user, const char *device, struct zone *z,
                 const struct gazetteer *gz, struct summary *s)
{
    struct store_device *dev;
    size_t n;
    int64_t from, to, end;
    uint32_t last_date = (uint32_t)s->year * 10000 + 1231;
    int rc;

    if (s->year < SUMMARY_YEAR_MIN || s->year > SUMMARY_YEAR_MAX)
        return -EINVAL;
    if ((rc = zone_day_bounds(z, s->first_date, &from, &end)) ||
        (rc = zone_day_bounds(z, last_date, &end, &to)))
        return rc;
    to--; /* [from, to] inclusive */
    if ((rc = store_devices(st, user, device, &dev, &n)))
        return rc;
    s->have_device = device != NULL;
    struct places_names names = {0};
    if (n == 0)
        rc = -ENOENT;
    else if ((rc = places_names_open(st, user, &names)) == 0)
        s->names = &names;
    struct reading r = {.s = s, .gz = gz, .z = z};
    for (size_t i = 0; i < n && !rc; i++) {
        rc = store_days_read(st, dev[i].id, s->first_date, last_date, take_day, &r);
        if (!rc)
            rc = store_timeline_read(st, dev[i].id, from, to, INT64_MIN, 0 /* counts only */,
                                     take_segment, &r);
    }
    free(dev);
    s->names = NULL;
    places_names_free(&names);
    if (!rc)
        summary_finish(s);
    return rc;
}

/* ---------------------------------------------------------------- writing */

static void put_num(struct sink *out, const char *key, double v, int decimals)
{
    sink_printf(out, ",\"%s\":", key);
    if (isfinite(v))
        sink_printf(out, "%.*f", decimals, v);
    else
        sink_puts(out, "null");
}

static void put_str(struct sink *out, const char *key, const char *v)
{
    sink_printf(out, ",\"%s\":", key);
    if (v && v[0])
        sink_json_string(out, v, strlen(v));
    else
        sink_puts(out, "null");
}

/* {"lat":..,"lon":..,"city":..,"cc":..} of one end of a trip. */
static void put_end(struct sink *out, const char *key, double lat, double lon,
                    const struct gazetteer *gz)
{
    struct gazetteer_city c;
    bool named = gz && gazetteer_nearest(gz, lat, lon, &c);
    sink_printf(out, ",\"%s\":{\"lat\":", key);
    if (isfinite(lat) && isfinite(lon))
        sink_printf(out, "%.5f,\"lon\":%.5f", lat, lon);
    else
        sink_puts(out, "null,\"lon\":null");
    put_str(out, "city", named ? c.name : NULL);
    put_str(out, "cc", named ? c.cc : NULL);
    sink_putc(out, '}');
}

void summary_json(struct sink *out, const struct summary *s, const char *user, const char *device,
                  const struct zone *z, const struct gazetteer *gz)
{
    sink_puts(out, "{\"user\":");
    sink_json_string(out, user, strlen(user));
    put_str(out, "device", device);
    sink_printf(out, ",\"year\":%d", s->year);
    put_str(out, "zone", zone_name(z));
    put_num(out, "distance", s->distance_m, 1);
    sink_printf(out, ",\"moving\":%lld,\"points\":%llu,\"days\":%u,\"stays\":%u,\"trips\":%u",
                (long long)s->moving_s, (unsigned long long)s->points, s->days, s->stays, s->trips);
    sink_printf(out, ",\"places_named\":%s", gz ? "true" : "false");

    sink_puts(out, ",\"countries\":[");
    for (size_t i = 0; i < s->ncountries; i++)
        sink_printf(out, "%s{\"cc\":\"%s\",\"days\":%u}", i ? "," : "", s->countries[i].cc,
                    s->countries[i].days);
    sink_puts(out, "],\"cities\":[");
    for (size_t i = 0; i < s->ncities; i++) {
        const struct summary_area *a = &s->cities[i];
        sink_puts(out, i ? ",{\"name\":" : "{\"name\":");
        sink_json_string(out, a->name, strlen(a->name));
        sink_printf(out, ",\"cc\":\"%s\",\"lat\":%.4f,\"lon\":%.4f,\"days\":%u}", a->cc, a->lat,
                    a->lon, a->days);
    }
    sink_puts(out, "],\"places\":[");
    for (size_t i = 0; i < s->nplaces; i++) {
        const struct summary_place *p = &s->places[i];
        sink_printf(out, "%s{\"lat\":%.5f,\"lon\":%.5f,", i ? "," : "", p->lat, p->lon);
        if (p->named)
            places_name_json(
                &(struct places_name){p->id, p->name, p->region ? "owntracks" : "user"}, out);
        else
            sink_puts(out, "\"place\":null");
        put_str(out, "city", p->city);
        put_str(out, "cc", p->cc);
        sink_printf(out, ",\"visits\":%u,\"days\":%u,\"seconds\":%lld}", p->visits, p->days,
                    (long long)p->seconds);
    }
    sink_puts(out, "],\"longest_trip\":");
    if (s->have_longest) {
        const struct tl_segment *t = &s->longest;
        char iso[TLREAD_ISO_SIZE];
        tlread_iso(t->start, zone_offset(z, t->start), iso);
        sink_printf(out, "{\"start\":%lld,\"end\":%lld", (long long)t->start, (long long)t->end);
        sink_printf(out, ",\"isostart\":\"%s\"", iso);
        tlread_iso(t->end, zone_offset(z, t->end), iso);
        sink_printf(out, ",\"isoend\":\"%s\"", iso);
        put_num(out, "distance", t->distance_m, 1);
        put_str(out, "mode", tl_mode_name(t->mode));
        put_end(out, "from", t->lat, t->lon, gz);
        put_end(out, "to", t->end_lat, t->end_lon, gz);
        sink_putc(out, '}');
    } else {
        sink_puts(out, "null");
    }
    sink_puts(out, ",\"months\":[");
    for (int i = 0; i < 12; i++) {
        const struct summary_month *m = &s->month[i];
        sink_printf(out, "%s{\"month\":\"%04d-%02d\"", i ? "," : "", s->year, i + 1);
        put_num(out, "distance", m->distance_m, 1);
        sink_printf(out, ",\"moving\":%lld,\"points\":%u,\"days\":%u,\"stays\":%u,\"trips\":%u}",
                    (long long)m->moving_s, m->points, m->days, m->stays, m->trips);
    }
    sink_puts(out, "]}\n");
}

static void km(char *buf, size_t size, double m)
{
    snprintf(buf, size, "%.1f km", isfinite(m) ? m / 1000 : 0.0);
}

void summary_text(struct sink *out, const struct summary *s, const char *user, const char *device,
                  const struct zone *z, const struct gazetteer *gz)
{
    static const char *const month_names[12] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                                "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    char a[32], b[32], when[TLREAD_ISO_SIZE];

    km(a, sizeof(a), s->distance_m);
    sink_printf(out, "%s%s%s in %d (%s)\n", user, device ? "/" : "", device ? device : "", s->year,
                zone_name(z));
    sink_printf(out, "  %s travelled, %u days with data, %u stays, %u trips\n", a, s->days,
                s->stays, s->trips);
    if (!gz)
        sink_puts(out, "  (no offline place names: countries and cities unknown)\n");
    sink_printf(out, "  %zu %s:", s->ncountries, s->ncountries == 1 ? "country" : "countries");
    for (size_t i = 0; i < s->ncountries; i++)
        sink_printf(out, "%s %s (%u d)", i ? "," : "", s->countries[i].cc, s->countries[i].days);
    sink_printf(out, "\n  %zu %s:", s->ncities, s->ncities == 1 ? "city" : "cities");
    for (size_t i = 0; i < s->ncities; i++)
        sink_printf(out, "%s %s (%u d)", i ? "," : "", s->cities[i].name, s->cities[i].days);
    sink_puts(out, "\n");
    if (s->nplaces)
        sink_puts(out, "  most visited places:\n");
    for (size_t i = 0; i < s->nplaces; i++) {
        const struct summary_place *p = &s->places[i];
        if (p->named)
            sink_printf(out, "    %s, ", p->name);
        else
            sink_printf(out, "    %.4f, %.4f  ", p->lat, p->lon);
        sink_printf(out, "%s%s%s  %u visits on %u days, %s\n", p->city ? p->city : "(no city near)",
                    p->cc[0] ? " " : "", p->cc, p->visits, p->days,
                    tlread_duration_text(p->seconds, b, sizeof(b)));
    }
    if (s->have_longest) {
        const struct tl_segment *t = &s->longest;
        struct gazetteer_city c0, c1;
        bool n0 = gz && gazetteer_nearest(gz, t->lat, t->lon, &c0);
        bool n1 = gz && gazetteer_nearest(gz, t->end_lat, t->end_lon, &c1);
        tlread_iso(t->start, zone_offset(z, t->start), when);
        when[16] = '\0'; /* to the minute */
        km(a, sizeof(a), t->distance_m);
        sink_printf(out, "  longest trip: %s %s, %s from %s to %s\n", a, tl_mode_name(t->mode),
                    when, n0 ? c0.name : "?", n1 ? c1.name : "?");
    }
    sink_puts(out, "  month   distance     days  stays\n");
    for (int i = 0; i < 12; i++) {
        km(a, sizeof(a), s->month[i].distance_m);
        sink_printf(out, "  %s  %11s  %5u  %5u\n", month_names[i], a, s->month[i].days,
                    s->month[i].stays);
    }
}
