#include "places.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "geo.h"
#include "pack.h"
#include "wl.h"
#include "wtime.h"
#include "zone.h"

/* ---------------------------------------------------------------- which place holds a point */

long places_find(const struct store_place *places, size_t n, double lat, double lon)
{
    long best = -1;
    double best_d = INFINITY;
    for (size_t i = 0; i < n; i++) {
        double d = geo_distance_m(lat, lon, places[i].lat, places[i].lon);
        if (d <= places[i].radius_m && d < best_d) {
            best = (long)i;
            best_d = d;
        }
    }
    return best;
}

long places_find_region(const struct places_region *regions, size_t n, double lat, double lon)
{
    long best = -1;
    double best_d = INFINITY;
    for (size_t i = 0; i < n; i++) {
        double d = geo_distance_m(lat, lon, regions[i].lat, regions[i].lon);
        if (d <= regions[i].radius_m && d < best_d) {
            best = (long)i;
            best_d = d;
        }
    }
    return best;
}

/* ---------------------------------------------------------------- stays */

struct stays {
    struct places_stay *v;
    size_t n, cap;
    const char *device;
    bool full; /* PLACES_STAYS_MAX reached: the oldest are dropped */
};

static int take_stay(void *arg, enum tl_event ev, const struct tl_segment *seg)
{
    struct stays *st = arg;
    if (seg->kind != TL_STAY)
        return 0;
    if (st->n == st->cap) {
        size_t ncap = st->cap ? 2 * st->cap : 256;
        if (ncap > PLACES_STAYS_MAX)
            ncap = PLACES_STAYS_MAX;
        if (st->n == ncap) {
            /* Full: a device's stays come oldest first, so dropping from the front keeps the
             * newest. A quarter at a time, so that a long history costs one move per
             * PLACES_STAYS_MAX / 4 stays, not one per stay. */
            size_t drop = st->n / 4;
            memmove(st->v, st->v + drop, (st->n - drop) * sizeof(*st->v));
            st->n -= drop;
            st->full = true;
        } else {
            struct places_stay *m = realloc(st->v, ncap * sizeof(*m));
            if (!m)
                return -ENOMEM;
            st->v = m;
            st->cap = ncap;
        }
    }
    struct places_stay *p = &st->v[st->n++];
    memset(p, 0, sizeof(*p));
    snprintf(p->device, sizeof(p->device), "%s", st->device);
    p->start = seg->start;
    p->end = seg->end;
    p->lat = seg->lat;
    p->lon = seg->lon;
    p->radius_m = seg->radius_m;
    p->open = ev == TL_OPENED;
    return 0;
}

static int by_start(const void *a, const void *b)
{
    const struct places_stay *x = a, *y = b;
    if (x->start != y->start)
        return x->start < y->start ? -1 : 1;
    return strcmp(x->device, y->device);
}

int places_stays(struct store *s, const char *user, int64_t from, int64_t to,
                 struct places_stay **out, size_t *n)
{
    struct store_device *devs;
    size_t ndev;
    struct stays st = {0};
    int rc = store_devices(s, user, NULL, &devs, &ndev);

    *out = NULL;
    *n = 0;
    if (rc)
        return rc;
    for (size_t i = 0; i < ndev && rc == 0; i++) {
        st.device = devs[i].device;
        /* visits as the fixes left them: an open one ends at its last fix */
        rc = store_timeline_read(s, devs[i].id, from, to, INT64_MIN, 0, take_stay, &st);
    }
    free(devs);
    if (rc) {
        free(st.v);
        return rc;
    }
    if (st.n)
        qsort(st.v, st.n, sizeof(*st.v), by_start);
    *out = st.v;
    *n = st.n;
    return 0;
}

int places_find_stay(struct store *s, const char *user, const char *device, int64_t start,
                     struct places_stay *out)
{
    struct places_stay *v;
    size_t n;
    int rc = places_stays(s, user, start, start, &v, &n);
    if (rc)
        return rc;
    rc = -ENOENT;
    for (size_t i = 0; i < n && rc; i++)
        if (v[i].start == start && (!device || strcmp(v[i].device, device) == 0)) {
            *out = v[i];
            rc = 0;
        }
    free(v);
    return rc;
}

/* ---------------------------------------------------------------- the phones' regions */

struct regions {
    struct places_region *v;
    size_t n;
};

static bool text_of(const struct pack_value *v, char *out, size_t size)
{
    if (v->type != PACK_STRING || v->len == 0)
        return false;
    size_t len = v->len < size - 1 ? v->len : size - 1;
    while (len > 0 && len < v->len && ((unsigned char)v->str[len] & 0xC0) == 0x80)
        len--; /* cut on a character boundary */
    memcpy(out, v->str, len);
    out[len] = '\0';
    return true;
}

/* Adds (or replaces: the same device and tst is the same region) one region read from a
 * waypoint object; one without a usable circle (a beacon, or rad 0: not monitored) is left
 * out. */
static void add_region(struct regions *rg, const char *device, struct pack_reader *r, int64_t tst)
{
    struct places_region g = {.tst = tst, .lat = NAN, .lon = NAN, .radius_m = NAN};
    const char *key;
    size_t keylen;
    struct pack_value v;
    int64_t t;

    while (pack_next(r, &key, &keylen, &v) == 1) {
        if (keylen == 4 && memcmp(key, "desc", 4) == 0)
            text_of(&v, g.desc, sizeof(g.desc));
        else if (keylen == 3 && memcmp(key, "lat", 3) == 0)
            pack_to_double(&v, &g.lat);
        else if (keylen == 3 && memcmp(key, "lon", 3) == 0)
            pack_to_double(&v, &g.lon);
        else if (keylen == 3 && memcmp(key, "rad", 3) == 0)
            pack_to_double(&v, &g.radius_m);
        else if (keylen == 3 && memcmp(key, "tst", 3) == 0 && pack_to_int(&v, &t))
            g.tst = t;
    }
    if (!isfinite(g.lat) || !isfinite(g.lon) || fabs(g.lat) > 90 || fabs(g.lon) > 180 ||
        !isfinite(g.radius_m) || g.radius_m <= 0)
        return;
    if (g.desc[0] == '\0')
        snprintf(g.desc, sizeof(g.desc), "%s", "region");
    snprintf(g.device, sizeof(g.device), "%s", device);
    for (size_t i = 0; i < rg->n; i++)
        if (rg->v[i].tst == g.tst && strcmp(rg->v[i].device, device) == 0) {
            rg->v[i] = g;
            return;
        }
    if (rg->n < PLACES_REGIONS_MAX)
        rg->v[rg->n++] = g;
}

static int read_regions(struct store *s, const struct store_device *d, enum owntracks_kind kind,
                        struct regions *rg)
{
    struct store_iter *it;
    struct store_item item;
    int rc = store_iter_events(s, d->id, kind, WTIME_MIN, WTIME_MAX, 0, &it);
    if (rc)
        return rc;
    const char *type = owntracks_kind_name(kind);
    while ((rc = store_iter_next(it, &item)) == 1) {
        struct pack_reader r;
        struct pack_value v;
        if (kind == OWNTRACKS_WAYPOINT) {
            if (pack_open(&r, item.data, item.len, item.tst, type) == 0)
                add_region(rg, d->device, &r, item.tst);
            continue;
        }
        /* waypoints: {"waypoints":[{waypoint}...]}, each with its own tst */
        if (pack_find(item.data, item.len, item.tst, type, "waypoints", &v) != 1 ||
            v.type != PACK_ARRAY)
            continue;
        struct pack_reader arr;
        struct pack_value el;
        pack_open_value(&arr, &v);
        while (pack_next(&arr, NULL, NULL, &el) == 1)
            if (el.type == PACK_OBJECT) {
                pack_open_value(&r, &el);
                add_region(rg, d->device, &r, 0);
            }
    }
    store_iter_close(it);
    return rc < 0 ? rc : 0;
}

int places_regions(struct store *s, const char *user, struct places_region **out, size_t *n)
{
    struct store_device *devs;
    size_t ndev;
    struct regions rg = {0};
    int rc = store_devices(s, user, NULL, &devs, &ndev);

    *out = NULL;
    *n = 0;
    if (rc)
        return rc;
    if (ndev && !(rg.v = malloc(PLACES_REGIONS_MAX * sizeof(*rg.v)))) {
        free(devs);
        return -ENOMEM;
    }
    /* the full list first, then single waypoints, which may be newer edits */
    for (size_t i = 0; i < ndev && rc == 0; i++)
        if ((rc = read_regions(s, &devs[i], OWNTRACKS_WAYPOINTS, &rg)) == 0)
            rc = read_regions(s, &devs[i], OWNTRACKS_WAYPOINT, &rg);
    free(devs);
    if (rc || rg.n == 0) {
        free(rg.v);
        return rc;
    }
    *out = rg.v;
    *n = rg.n;
    return 0;
}

/* ---------------------------------------------------------------- JSON */

/* An instant as epoch seconds and, beside it, as ISO 8601 local to zone z with its offset
 * ("2024-05-03T08:41:00+02:00"; z NULL: UTC, "+00:00"). */
static void put_time(struct sink *out, const char *name, int64_t t, const struct zone *z)
{
    char iso[WTIME_ISO_SIZE];
    int32_t off = z ? zone_offset(z, t) : 0, a = off < 0 ? -off : off;
    wtime_iso(t + off, iso);
    iso[WTIME_ISO_LEN - 1] = '\0'; /* the 'Z': the offset follows instead */
    sink_printf(out, "\"%s\":%lld,\"%s_iso\":\"%s%c%02d:%02d\"", name, (long long)t, name, iso,
                off < 0 ? '-' : '+', (int)(a / 3600), (int)(a / 60 % 60));
}

/* The user's zone (their setting, else the store's default; UTC if the system lacks it). */
static int user_zone(struct store *s, const char *user, struct zone **z)
{
    struct store_user_settings set;
    int rc = store_user_settings(s, user, &set);
    if (rc)
        return rc;
    return zone_open(set.zone, z) == 0 ? 0 : zone_open("UTC", z);
}

static void put_zone(struct sink *out, const struct zone *z)
{
    const char *name = zone_name(z);
    sink_puts(out, "\"zone\":");
    sink_json_string(out, name, strlen(name));
}

/* A place's members, without the braces. */
static void place_members(const struct store_place *p, const struct zone *z, struct sink *out)
{
    sink_printf(out, "\"id\":%u,\"source\":\"user\",\"name\":", p->id);
    sink_json_string(out, p->name, strlen(p->name));
    sink_printf(out, ",\"lat\":%.7f,\"lon\":%.7f,\"radius_m\":%.1f,\"private\":%s,", p->lat, p->lon,
                p->radius_m, p->flags & STORE_PLACE_PRIVATE ? "true" : "false");
    put_time(out, "created", p->created, z);
}

void places_place_json(const struct store_place *p, struct sink *out)
{
    sink_putc(out, '{');
    place_members(p, NULL, out);
    sink_putc(out, '}');
}

struct tally {
    uint32_t visits;
    int64_t total_s, first, last;
};

static void tally_add(struct tally *t, const struct places_stay *st)
{
    if (t->visits++ == 0)
        t->first = st->start;
    t->last = st->start;
    t->total_s += st->end - st->start;
}

static void put_tally(struct sink *out, const struct tally *t, const struct zone *z)
{
    sink_printf(out, ",\"visits\":%u,\"total_s\":%lld,", t->visits, (long long)t->total_s);
    if (t->visits) {
        put_time(out, "first", t->first, z);
        sink_putc(out, ',');
        put_time(out, "last", t->last, z);
    } else {
        sink_puts(out, "\"first\":null,\"last\":null");
    }
}

/* Everything a user's places answer needs, read once. */
struct user_view {
    struct store_place *places;
    size_t nplaces;
    struct places_region *regions;
    size_t nregions;
    struct places_stay *stays;
    size_t nstays;
    struct zone *z; /* the user's: times are shown local to it */
};

static void view_free(struct user_view *v)
{
    if (v->z)
        zone_unref(v->z);
    free(v->places);
    free(v->regions);
    free(v->stays);
}

static int view_read(struct store *s, const char *user, int64_t from, int64_t to,
                     struct user_view *v)
{
    int rc;
    memset(v, 0, sizeof(*v));
    if ((rc = user_zone(s, user, &v->z)) || (rc = store_places(s, user, &v->places, &v->nplaces)) ||
        (rc = places_regions(s, user, &v->regions, &v->nregions)) ||
        (rc = places_stays(s, user, from, to, &v->stays, &v->nstays)))
        view_free(v);
    return rc;
}

int places_list_json(struct store *s, const char *user, struct sink *out)
{
    struct user_view v;
    int rc = view_read(s, user, WTIME_MIN, WTIME_MAX, &v);
    if (rc)
        return rc;
    struct tally *t = calloc(v.nplaces + v.nregions + 1, sizeof(*t));
    if (!t) {
        view_free(&v);
        return -ENOMEM;
    }
    for (size_t i = 0; i < v.nstays; i++) {
        const struct places_stay *st = &v.stays[i];
        long k = places_find(v.places, v.nplaces, st->lat, st->lon);
        if (k < 0 && (k = places_find_region(v.regions, v.nregions, st->lat, st->lon)) >= 0)
            k += (long)v.nplaces;
        if (k >= 0)
            tally_add(&t[k], st);
    }
    sink_putc(out, '{');
    put_zone(out, v.z);
    sink_puts(out, ",\"places\":[");
    for (size_t i = 0; i < v.nplaces; i++) {
        sink_puts(out, i ? ",{" : "{");
        place_members(&v.places[i], v.z, out);
        put_tally(out, &t[i], v.z);
        sink_putc(out, '}');
    }
    for (size_t i = 0; i < v.nregions; i++) {
        const struct places_region *g = &v.regions[i];
        sink_puts(out, i || v.nplaces ? "," : "");
        sink_puts(out, "{\"id\":null,\"source\":\"owntracks\",\"name\":");
        sink_json_string(out, g->desc, strlen(g->desc));
        sink_puts(out, ",\"device\":");
        sink_json_string(out, g->device, strlen(g->device));
        sink_printf(out, ",\"tst\":%lld,\"lat\":%.7f,\"lon\":%.7f,\"radius_m\":%.1f",
                    (long long)g->tst, g->lat, g->lon, g->radius_m);
        put_tally(out, &t[v.nplaces + i], v.z);
        sink_putc(out, '}');
    }
    sink_puts(out, "]}\n");
    free(t);
    view_free(&v);
    return 0;
}

int places_visits_json(struct store *s, const char *user, uint32_t id, int64_t from, int64_t to,
                       struct sink *out)
{
    struct user_view v;
    long k = -1;
    int rc = view_read(s, user, from, to, &v);
    if (rc)
        return rc;
    for (size_t i = 0; i < v.nplaces; i++)
        if (v.places[i].id == id)
            k = (long)i;
    if (k < 0) {
        view_free(&v);
        return -ENOENT;
    }
    struct tally t = {0};
    sink_putc(out, '{');
    put_zone(out, v.z);
    sink_puts(out, ",\"place\":{");
    place_members(&v.places[k], v.z, out);
    sink_putc(out, '}');
    sink_puts(out, ",\"visits\":[");
    for (size_t i = 0; i < v.nstays; i++) {
        const struct places_stay *st = &v.stays[i];
        if (places_find(v.places, v.nplaces, st->lat, st->lon) != k)
            continue;
        sink_puts(out, t.visits ? ",{\"device\":" : "{\"device\":");
        tally_add(&t, st);
        sink_json_string(out, st->device, strlen(st->device));
        sink_putc(out, ',');
        put_time(out, "start", st->start, v.z);
        sink_putc(out, ',');
        put_time(out, "end", st->end, v.z);
        sink_printf(out, ",\"duration_s\":%lld,\"open\":%s}", (long long)(st->end - st->start),
                    st->open ? "true" : "false");
    }
    sink_printf(out, "],\"count\":%u,\"total_s\":%lld}\n", t.visits, (long long)t.total_s);
    view_free(&v);
    return 0;
}

/* ---------------------------------------------------------------- suggestions */

struct cluster {
    double lat, lon; /* the mean of its stays' centres */
    double radius;   /* the farthest stay centre from that mean, when it was added */
    uint32_t stays, days;
    int64_t last_day; /* local day of the newest stay counted (stays come in time order) */
    int64_t total_s, first, last;
};

static int by_stays(const void *a, const void *b)
{
    const struct cluster *x = a, *y = b;
    if (x->stays != y->stays)
        return x->stays > y->stays ? -1 : 1;
    return x->total_s > y->total_s ? -1 : x->total_s < y->total_s;
}

int places_suggestions_json(struct store *s, const char *user, struct sink *out)
{
    struct store_user_settings set;
    struct zone *z = NULL;
    struct user_view v;
    struct cluster *c = NULL;
    size_t nc = 0, cap = 0, shown = 0;
    int rc = store_user_settings(s, user, &set);

    if (rc)
        return rc;
    if (zone_open(set.zone, &z) != 0 && (rc = zone_open("UTC", &z)))
        return rc;
    if ((rc = view_read(s, user, WTIME_MIN, WTIME_MAX, &v))) {
        zone_unref(z);
        return rc;
    }
    double radius = set.tl.stay_radius_m;
    /* Greedy: each stay joins the nearest group whose centre is within the radius, or starts
     * one. Stays that already belong somewhere are not suggested again. */
    for (size_t i = 0; i < v.nstays; i++) {
        const struct places_stay *st = &v.stays[i];
        if (places_find(v.places, v.nplaces, st->lat, st->lon) >= 0 ||
            places_find_region(v.regions, v.nregions, st->lat, st->lon) >= 0)
            continue;
        long best = -1;
        double best_d = INFINITY;
        for (size_t j = 0; j < nc; j++) {
            double d = geo_distance_m(st->lat, st->lon, c[j].lat, c[j].lon);
            if (d <= radius && d < best_d) {
                best = (long)j;
                best_d = d;
            }
        }
        if (best < 0) {
            if (nc == cap) {
                size_t ncap = cap ? 2 * cap : 64;
                struct cluster *m = realloc(c, ncap * sizeof(*m));
                if (!m) {
                    rc = -ENOMEM;
                    goto out;
                }
                c = m;
                cap = ncap;
            }
            c[nc] = (struct cluster){.lat = st->lat, .lon = st->lon, .first = st->start};
            best = (long)nc++;
            best_d = 0;
        }
        struct cluster *k = &c[best];
        k->stays++;
        k->lat += (st->lat - k->lat) / k->stays;
        k->lon += (st->lon - k->lon) / k->stays;
        if (best_d > k->radius)
            k->radius = best_d;
        int64_t day = zone_date_days(zone_date(z, st->start));
        if (k->days == 0 || day != k->last_day) {
            k->days++;
            k->last_day = day;
        }
        k->total_s += st->end - st->start;
        k->last = st->start;
    }
    if (nc)
        qsort(c, nc, sizeof(*c), by_stays);
    sink_putc(out, '{');
    put_zone(out, z);
    sink_puts(out, ",\"suggestions\":[");
    for (size_t j = 0; j < nc && shown < PLACES_SUGGEST_MAX; j++) {
        const struct cluster *k = &c[j];
        if (k->stays < PLACES_SUGGEST_STAYS || k->days < PLACES_SUGGEST_DAYS)
            continue;
        double r = k->radius > radius ? k->radius : radius;
        sink_printf(out,
                    "%s{\"lat\":%.7f,\"lon\":%.7f,\"radius_m\":%.1f,\"stays\":%u,\"days\":%u,"
                    "\"total_s\":%lld,",
                    shown++ ? "," : "", k->lat, k->lon, r, k->stays, k->days,
                    (long long)k->total_s);
        put_time(out, "first", k->first, z);
        sink_putc(out, ',');
        put_time(out, "last", k->last, z);
        sink_putc(out, '}');
    }
    sink_puts(out, "]}\n");
out:
    free(c);
    view_free(&v);
    zone_unref(z);
    return rc;
}

/* ---------------------------------------------------------------- names for a reader */

int places_names_open(struct store *s, const char *user, struct places_names *out)
{
    int rc;
    memset(out, 0, sizeof(*out));
    if ((rc = store_places(s, user, &out->places, &out->nplaces)) ||
        (rc = places_regions(s, user, &out->regions, &out->nregions)))
        places_names_free(out);
    return rc;
}

bool places_names_find(const struct places_names *pn, double lat, double lon,
                       struct places_name *out)
{
    long k = places_find(pn->places, pn->nplaces, lat, lon);
    if (k >= 0) {
        *out = (struct places_name){pn->places[k].id, pn->places[k].name, "user"};
        return true;
    }
    k = places_find_region(pn->regions, pn->nregions, lat, lon);
    if (k >= 0) {
        *out = (struct places_name){0, pn->regions[k].desc, "owntracks"};
        return true;
    }
    return false;
}

void places_names_free(struct places_names *pn)
{
    if (!pn)
        return;
    free(pn->places);
    free(pn->regions);
    memset(pn, 0, sizeof(*pn));
}

void places_name_json(const struct places_name *n, struct sink *out)
{
    if (n->id)
        sink_printf(out, "\"place\":{\"id\":%u,\"name\":", n->id);
    else
        sink_puts(out, "\"place\":{\"id\":null,\"name\":");
    sink_json_string(out, n->name, strlen(n->name));
    sink_printf(out, ",\"source\":\"%s\"}", n->source);
}

/* ---------------------------------------------------------------- transitions */

int places_transitions_json(struct store *s, uint32_t id, int64_t from, int64_t to,
                            const struct zone *z, struct sink *out)
{
    struct store_iter *it;
    struct store_item item;
    size_t n = 0;
    int rc = store_iter_events(s, id, OWNTRACKS_TRANSITION, from, to, 0, &it);
    if (rc)
        return rc;
    sink_putc(out, '[');
    while ((rc = store_iter_next(it, &item)) == 1) {
        struct pack_reader r;
        const char *key;
        size_t keylen;
        struct pack_value v;
        char event[16] = "", desc[STORE_PLACE_NAME_MAX + 1] = "", trigger[8] = "";
        double lat = NAN, lon = NAN, acc = NAN;
        int64_t wtst = 0;
        if (pack_open(&r, item.data, item.len, item.tst, "transition") != 0)
            continue;
        while (pack_next(&r, &key, &keylen, &v) == 1) {
            if (keylen == 5 && memcmp(key, "event", 5) == 0)
                text_of(&v, event, sizeof(event));
            else if (keylen == 4 && memcmp(key, "desc", 4) == 0)
                text_of(&v, desc, sizeof(desc));
            else if (keylen == 1 && key[0] == 't')
                text_of(&v, trigger, sizeof(trigger));
            else if (keylen == 3 && memcmp(key, "lat", 3) == 0)
                pack_to_double(&v, &lat);
            else if (keylen == 3 && memcmp(key, "lon", 3) == 0)
                pack_to_double(&v, &lon);
            else if (keylen == 3 && memcmp(key, "acc", 3) == 0)
                pack_to_double(&v, &acc);
            else if (keylen == 4 && memcmp(key, "wtst", 4) == 0)
                pack_to_int(&v, &wtst);
        }
        sink_puts(out, n++ ? ",{" : "{");
        put_time(out, "tst", item.tst, z);
        sink_puts(out, ",\"event\":");
        sink_json_string(out, event, strlen(event));
        sink_puts(out, ",\"desc\":");
        sink_json_string(out, desc, strlen(desc));
        if (isfinite(lat) && isfinite(lon) && fabs(lat) <= 90 && fabs(lon) <= 180)
            sink_printf(out, ",\"lat\":%.7f,\"lon\":%.7f", lat, lon);
        if (isfinite(acc) && acc >= 0)
            sink_printf(out, ",\"acc\":%.0f", acc);
        if (wtst > 0)
            sink_printf(out, ",\"wtst\":%lld", (long long)wtst);
        if (trigger[0]) {
            sink_puts(out, ",\"trigger\":");
            sink_json_string(out, trigger, strlen(trigger));
        }
        sink_putc(out, '}');
    }
    store_iter_close(it);
    sink_putc(out, ']');
    return rc < 0 ? rc : 0;
}
