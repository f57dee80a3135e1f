/* cli_place.c - `wherelog place`: a user's places from the command line (places.h, store.h). */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "cli_internal.h"
#include "places.h"
#include "sink.h"
#include "wl.h"

#define OUT_BUFFER 65536

/* A place id argument: 1..UINT32_MAX; 0 (after a message) when it is not one. */
static uint32_t id_arg(const char *text)
{
    char *end;
    errno = 0;
    unsigned long long v = text && *text >= '1' && *text <= '9' ? strtoull(text, &end, 10) : 0;
    if (v == 0 || *end || errno || v > UINT32_MAX) {
        fprintf(stderr, "wherelog place: '%s' is not a place id (see 'wherelog place list')\n",
                text ? text : "");
        return 0;
    }
    return (uint32_t)v;
}

/* A number option: absent (true, *out untouched) or a finite number; false after a message. */
static bool number_opt(const char *name, const char *text, double *out)
{
    char *end;
    if (!text)
        return true;
    errno = 0;
    double d = strtod(text, &end);
    if (!*text || *end || errno || !isfinite(d)) {
        fprintf(stderr, "wherelog place: --%s: not a number: '%s'\n", name, text);
        return false;
    }
    *out = d;
    return true;
}

static int print_json(struct store *s, int (*fn)(struct store *, const char *, struct sink *),
                      const char *user)
{
    struct sink out;
    int rc;
    if ((rc = sink_init_fd(&out, STDOUT_FILENO, OUT_BUFFER)))
        return rc;
    rc = fn(s, user, &out);
    int frc = sink_flush(&out);
    sink_free(&out);
    return rc ? rc : frc;
}

static void print_place(const char *what, const struct store_place *p)
{
    printf("%s place %u (%s): %s at %.7f, %.7f, radius %.0f m%s\n", what, p->id, p->user, p->name,
           p->lat, p->lon, p->radius_m, p->flags & STORE_PLACE_PRIVATE ? ", private" : "");
}

static int complain(const char *what, int rc, const char *why)
{
    if (rc == -EINVAL && why)
        fprintf(stderr, "wherelog place: %s: %s\n", what, why);
    else if (rc == -ENOENT)
        fprintf(stderr, "wherelog place: %s: no such place\n", what);
    else if (rc == -ERANGE)
        fprintf(stderr, "wherelog place: %s: the places are too far apart for one place\n", what);
    else if (rc == -EDQUOT)
        fprintf(stderr, "wherelog place: %s: too many places (at most %d a user)\n", what,
                STORE_PLACES_MAX);
    else
        fprintf(stderr, "wherelog place: %s: %s\n", what, wl_strerror(rc));
    return 1;
}

int cli_place(int argc, char **argv)
{
    const char *user = NULL, *name = NULL, *lat = NULL, *lon = NULL, *radius = NULL;
    const char *from_stay = NULL, *device = NULL, *from = NULL, *to = NULL;
    bool priv = false;
    const struct cli_option opts[] = {
        {"user", "USER", "whose places (list, add, visits, suggestions)", &user, NULL},
        {"name", "NAME", "add: the place's name", &name, NULL},
        {"lat", "LAT", "add, move: the centre's latitude", &lat, NULL},
        {"lon", "LON", "add, move: the centre's longitude", &lon, NULL},
        {"radius", "METRES", "add, move: the radius (5..5000; default: the stay radius)", &radius,
         NULL},
        {"from-stay", "TIME", "add: centre the place on the stay that starts at TIME", &from_stay,
         NULL},
        {"device", "DEVICE", "add --from-stay: the device whose stay it is", &device, NULL},
        {"private", NULL, "add: not to be shared", NULL, &priv},
        {"from", "TIME", "visits: from this moment", &from, NULL},
        {"to", "TIME", "visits: to this moment (a date: the whole day)", &to, NULL}};
    const struct cli_command cmd = {
        "place",
        "place list|suggestions --user U | place add --user U --name NAME (--lat LAT --lon LON "
        "| --from-stay TIME [--device D]) [--radius M] [--private] | place rename ID NAME | "
        "place move ID --lat LAT --lon LON [--radius M] | place merge FROM INTO | "
        "place delete ID | place visits ID --user U [--from T] [--to T]",
        "A user's places: named areas that the timeline's stays belong to. 'list' prints them\n"
        "with their visits (JSON, as GET /api/0/places); 'merge FROM INTO' grows INTO to hold\n"
        "both and deletes FROM; 'suggestions' prints where stays recur without a place.",
        CFG_ALL,
        opts,
        WL_ARRAY_LEN(opts),
        1,
        3};
    struct wl_config cfg;
    struct store *s;
    const char *args[3];
    size_t nargs;
    char uname[OWNTRACKS_NAME_MAX + 1] = "";
    int rc = cfg_load(&cfg, &cmd, argc, argv, args, &nargs);

    if (rc)
        return cli_usage_status(rc);
    cli_setup_logging(&cfg);
    const char *sub = args[0];
    bool list = strcmp(sub, "list") == 0, add = strcmp(sub, "add") == 0;
    bool rename = strcmp(sub, "rename") == 0, move = strcmp(sub, "move") == 0;
    bool merge = strcmp(sub, "merge") == 0, del = strcmp(sub, "delete") == 0;
    bool visits = strcmp(sub, "visits") == 0, suggest = strcmp(sub, "suggestions") == 0;
    size_t want = list || add || suggest ? 1 : rename || merge ? 3 : 2;
    if (!(list || add || rename || move || merge || del || visits || suggest) || nargs != want) {
        fprintf(stderr, "wherelog place: usage: wherelog %s\n", cmd.usage);
        return 2;
    }
    if (list || add || visits || suggest) {
        if (!user) {
            fprintf(stderr, "wherelog place %s: --user is required\n", sub);
            return 2;
        }
        if (cli_name_arg("place", "--user", user, uname))
            return 2;
    }
    uint32_t id = want >= 2 ? id_arg(args[1]) : 0, other = merge ? id_arg(args[2]) : 0;
    if ((want >= 2 && id == 0) || (merge && other == 0))
        return 2;
    struct store_place p = {.lat = NAN, .lon = NAN, .radius_m = NAN};
    if (!number_opt("lat", lat, &p.lat) || !number_opt("lon", lon, &p.lon) ||
        !number_opt("radius", radius, &p.radius_m))
        return 2;
    if (move && (!lat || !lon)) {
        fprintf(stderr, "wherelog place move: --lat and --lon are required\n");
        return 2;
    }
    if (add && (!name || (!from_stay && (!lat || !lon)))) {
        fprintf(stderr, "wherelog place add: --name and either --lat and --lon or --from-stay "
                        "are required\n");
        return 2;
    }
    int64_t t_from = WTIME_MIN, t_to = WTIME_MAX, stay_start = 0;
    if ((from && cli_time_arg("place", "--from", from, false, &t_from)) ||
        (to && cli_time_arg("place", "--to", to, true, &t_to)) ||
        (from_stay && cli_time_arg("place", "--from-stay", from_stay, false, &stay_start)))
        return 2;
    char dname[OWNTRACKS_NAME_MAX + 1];
    if (device && cli_name_arg("place", "--device", device, dname))
        return 2;
    if (cli_open_store("place", &cfg, !(list || visits || suggest), &s))
        return 1;

    const char *why = NULL;
    if (list) {
        rc = print_json(s, places_list_json, uname);
    } else if (suggest) {
        rc = print_json(s, places_suggestions_json, uname);
    } else if (visits) {
        struct sink out;
        if ((rc = sink_init_fd(&out, STDOUT_FILENO, OUT_BUFFER)) == 0) {
            rc = places_visits_json(s, uname, id, t_from, t_to, &out);
            int frc = sink_flush(&out);
            rc = rc ? rc : frc;
            sink_free(&out);
        }
    } else if (add) {
        struct store_user_settings set;
        snprintf(p.user, sizeof(p.user), "%s", uname);
        snprintf(p.name, sizeof(p.name), "%s", name);
        p.created = time(NULL);
        p.flags = priv ? STORE_PLACE_PRIVATE : 0;
        rc = store_user_settings(s, uname, &set);
        double default_radius = rc == 0 ? set.tl.stay_radius_m : TL_STAY_RADIUS_DEFAULT;
        if (rc == 0 && from_stay) {
            struct places_stay st;
            rc = places_find_stay(s, uname, device ? dname : NULL, stay_start, &st);
            if (rc == -ENOENT) {
                fprintf(stderr, "wherelog place add: no stay of %s starts at %s\n", uname,
                        from_stay);
                store_close(s);
                return 1;
            }
            if (!lat)
                p.lat = st.lat;
            if (!lon)
                p.lon = st.lon;
            if (st.radius_m > default_radius)
                default_radius = st.radius_m;
        }
        if (!radius)
            p.radius_m = default_radius;
        if (strlen(name) > STORE_PLACE_NAME_MAX)
            rc = -EINVAL, why = "the name is longer than 128 bytes";
        if (rc == 0 && store_place_check(&p, &why) == 0)
            rc = store_place_add(s, &p);
        else if (rc == 0)
            rc = -EINVAL;
        if (rc == 0)
            print_place("added", &p);
    } else if (merge) {
        rc = id == other ? (why = "a place cannot take itself in", -EINVAL)
                         : store_place_merge(s, id, other, &p);
        if (rc == 0)
            print_place("merged into", &p);
    } else if (del) {
        rc = store_place_delete(s, id);
        if (rc == 0)
            printf("deleted place %u\n", id);
    } else { /* rename, move */
        struct store_place cur;
        rc = store_place_get(s, id, &cur);
        if (rc == 0 && rename) {
            if (strlen(args[2]) > STORE_PLACE_NAME_MAX)
                rc = -EINVAL, why = "the name is longer than 128 bytes";
            else
                snprintf(cur.name, sizeof(cur.name), "%s", args[2]);
        } else if (rc == 0) {
            cur.lat = p.lat;
            cur.lon = p.lon;
            if (radius)
                cur.radius_m = p.radius_m;
        }
        if (rc == 0 && store_place_check(&cur, &why))
            rc = -EINVAL;
        if (rc == 0)
            rc = store_place_update(s, &cur);
        if (rc == 0)
            print_place(rename ? "renamed" : "moved", &cur);
    }
    store_close(s);
    if (rc)
        return complain(sub, rc, why);
    return 0;
}
