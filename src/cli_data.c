/* The subcommands that manage what is stored: import, delete, hide/unhide, backup, compact,
 * check and stats. Argument handling and wiring only; the work is in import.c, store.c and
 * query.c. */
#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "cli_internal.h"
#include "import.h"
#include "query.h"
#include "wl.h"
#include "wtime.h"

/* ---------------------------------------------------------------- import */

int cli_import(int argc, char **argv)
{
    const char *user = NULL, *device = NULL;
    bool json = false, quiet = false;
    const struct cli_option opts[] = {
        {"user", "USER", "gpx, geojson, google: whose points these are (required)", &user, NULL},
        {"device", "DEVICE", "gpx, geojson, google: which device (required)", &device, NULL},
        {"json", NULL, "print the summary as JSON", NULL, &json},
        {"no-progress", NULL, "no progress line, even on a terminal", NULL, &quiet}};
    const struct cli_command cmd = {
        "import",
        "import recorder STOREDIR | import gpx|geojson|google FILE --user USER --device DEVICE",
        "Imports history: an OwnTracks Recorder store (rec/, last/, cards/, waypoints/), a GPX\n"
        "file, a GeoJSON FeatureCollection, or Google location history (Takeout Records.json or\n"
        "the Timeline export). Every record is validated as live messages are; points already\n"
        "stored are duplicates, so importing twice stores nothing new. Exit status 1 when a\n"
        "source could not be read to its end.",
        CFG_ALL,
        opts,
        WL_ARRAY_LEN(opts),
        2,
        2};
    struct wl_config cfg;
    const char *args[2];
    size_t nargs;
    char uname[OT_NAME_MAX + 1], dname[OT_NAME_MAX + 1];
    struct store *s;
    struct imp *imp;
    int rc = cfg_load(&cfg, &cmd, argc, argv, args, &nargs);

    if (rc)
        return cli_usage_status(rc);
    cli_setup_logging(&cfg);
    const char *kind = args[0], *src = args[1];
    bool recorder = strcmp(kind, "recorder") == 0;
    if (!recorder && strcmp(kind, "gpx") != 0 && strcmp(kind, "geojson") != 0 &&
        strcmp(kind, "google") != 0) {
        fprintf(stderr, "wherelog import: '%s' is not recorder, gpx, geojson or google\n", kind);
        return 2;
    }
    if (!recorder && (!user || !device)) {
        fprintf(stderr, "wherelog import %s: --user and --device are required\n", kind);
        return 2;
    }
    if (!recorder && (cli_name_arg("import", "user", user, uname) ||
                      cli_name_arg("import", "device", device, dname)))
        return 2;
    if (access(src, R_OK) != 0) {
        fprintf(stderr, "wherelog import: cannot read %s: %s\n", src, strerror(errno));
        return 1;
    }
    if (cli_open_store("import", &cfg, true, &s))
        return 1;
    struct imp_options io = {.progress = !quiet && !json && isatty(STDERR_FILENO)};
    if ((rc = imp_new(s, &io, &imp))) {
        store_close(s);
        return 1;
    }
    if (recorder)
        rc = imp_recorder(imp, src);
    else if (strcmp(kind, "gpx") == 0)
        rc = imp_gpx(imp, src, uname, dname);
    else if (strcmp(kind, "geojson") == 0)
        rc = imp_geojson(imp, src, uname, dname);
    else
        rc = imp_google(imp, src, uname, dname);
    if (json)
        imp_summary_json(imp, stdout);
    else
        imp_summary_text(imp, stdout);
    /* a file or directory skipped on the way is a source not read to its end, too */
    bool skipped = imp_source_errors(imp) > 0;
    imp_free(imp);
    store_close(s);
    if (rc && rc != -EINVAL && rc != -ENOENT && rc != -EIO && rc != -E2BIG && rc != -ENAMETOOLONG)
        fprintf(stderr, "wherelog import: %s\n", wl_strerror(rc));
    return rc || skipped ? 1 : 0;
}

/* ---------------------------------------------------------------- delete */

struct delete_ctx {
    struct store *s;
    const char *device; /* NULL: every device of the user */
    int64_t from, to;
    bool whole; /* no time range: whole devices */
    bool dry_run;
    uint64_t points, events, devices;
    int rc;
};

static int delete_one(void *arg, const struct store_device *d)
{
    struct delete_ctx *c = arg;
    if (c->device && strcmp(c->device, d->device) != 0)
        return 0;
    if (c->whole) {
        struct store_removed r;
        c->rc = store_delete_device(c->s, d->user, d->device, c->dry_run, &r);
        c->points += r.points;
        c->events += r.events;
        c->devices += r.device;
        if (c->rc == 0)
            printf("%s %s/%s: %llu points, %llu other messages, the device itself\n",
                   c->dry_run ? "would remove" : "removed", d->user, d->device,
                   (unsigned long long)r.points, (unsigned long long)r.events);
    } else {
        uint64_t n;
        c->rc = store_delete_points(c->s, d->user, d->device, c->from, c->to, c->dry_run, &n);
        c->points += n;
        if (c->rc == 0)
            printf("%s %s/%s: %llu points\n", c->dry_run ? "would remove" : "removed", d->user,
                   d->device, (unsigned long long)n);
    }
    return c->rc;
}

/* Lists the user's devices first (a listing runs inside a read transaction, and removing
 * needs write transactions), then removes from each. */
static int delete_devices(struct delete_ctx *c, const char *user)
{
    struct store_device *v;
    size_t n;
    int rc = store_devices(c->s, user, NULL, &v, &n);
    for (size_t i = 0; rc == 0 && i < n; i++)
        rc = delete_one(c, &v[i]);
    free(v);
    return rc;
}

int cli_delete(int argc, char **argv)
{
    struct cli_params p = {0};
    bool dry_run = false;
    const struct cli_option opts[] = {
        {"user", "USER", "whose data (required)", &p.user, NULL},
        {"device", "DEVICE", "only this device (default: all of the user's)", &p.device, NULL},
        {"from", "TIME", "first moment to remove, inclusive", &p.from, NULL},
        {"to", "TIME", "last moment to remove, inclusive (a date: the whole day)", &p.to, NULL},
        {"dry-run", NULL, "only say what would be removed", NULL, &dry_run}};
    const struct cli_command cmd = {
        "delete",
        "delete --user USER [--device DEVICE] [--from TIME] [--to TIME] [--dry-run]",
        "Removes points, and prints what it removed. Without --from and --to it removes whole\n"
        "devices: their points, last position, cards, waypoints and other messages.",
        CFG_ALL,
        opts,
        WL_ARRAY_LEN(opts),
        0,
        0};
    struct wl_config cfg;
    size_t nargs;
    struct delete_ctx c = {0};
    static const struct request_rules rules = {
        .takes = REQUEST_USER | REQUEST_DEVICE | REQUEST_RANGE, .requires = REQUEST_USER};
    struct request_params rq;
    int rc = cfg_load(&cfg, &cmd, argc, argv, NULL, &nargs);

    if (rc)
        return cli_usage_status(rc);
    cli_setup_logging(&cfg);
    if (cli_request("delete", &p, &rules, &rq))
        return 2;
    c.from = rq.from;
    c.to = rq.to;
    c.device = rq.given & REQUEST_DEVICE ? rq.device : NULL;
    c.whole = !(rq.given & REQUEST_RANGE);
    c.dry_run = dry_run;
    if (cli_open_store("delete", &cfg, true, &c.s)) /* a dry run aborts its transactions */
        return 1;
    rc = delete_devices(&c, rq.user);
    store_close(c.s);
    if (rc) {
        fprintf(stderr, "wherelog delete: %s\n", wl_strerror(rc));
        return 1;
    }
    if (!c.devices && !c.points && !c.events)
        printf("nothing to remove for %s%s%s\n", rq.user, c.device ? "/" : "",
               c.device ? c.device : "");
    return 0;
}

/* ---------------------------------------------------------------- hide, unhide */

static int hide_command(int argc, char **argv, bool hidden)
{
    const char *name = hidden ? "hide" : "unhide";
    const struct cli_command cmd = {
        name,
        hidden ? "hide USER DEVICE TST" : "unhide USER DEVICE TST",
        hidden ? "Hides one point (a bad fix) from exports, the last position and the map; it\n"
                 "stays in the store and `wherelog unhide` brings it back. TST is its time."
               : "Shows a hidden point again.",
        CFG_ALL,
        NULL,
        0,
        3,
        3};
    struct wl_config cfg;
    const char *args[3];
    size_t nargs;
    char uname[OT_NAME_MAX + 1], dname[OT_NAME_MAX + 1];
    int64_t tst;
    struct store *s;
    int rc = cfg_load(&cfg, &cmd, argc, argv, args, &nargs);

    if (rc)
        return cli_usage_status(rc);
    cli_setup_logging(&cfg);
    if (cli_name_arg(name, "user", args[0], uname) ||
        cli_name_arg(name, "device", args[1], dname) ||
        cli_time_arg(name, "time", args[2], false, &tst))
        return 2;
    if (cli_open_store(name, &cfg, true, &s))
        return 1;
    rc = store_set_hidden(s, uname, dname, tst, hidden);
    store_close(s);
    if (rc == -ENOENT) {
        fprintf(stderr, "wherelog %s: %s/%s has no point at %lld\n", name, uname, dname,
                (long long)tst);
        return 1;
    }
    if (rc) {
        fprintf(stderr, "wherelog %s: %s\n", name, wl_strerror(rc));
        return 1;
    }
    char iso[21];
    wtime_iso(tst, iso);
    printf("%s %s/%s %s (%lld)\n", hidden ? "hidden:" : "shown again:", uname, dname, iso,
           (long long)tst);
    return 0;
}

int cli_hide(int argc, char **argv)
{
    return hide_command(argc, argv, true);
}

int cli_unhide(int argc, char **argv)
{
    return hide_command(argc, argv, false);
}

/* ---------------------------------------------------------------- backup, compact */

static int copy_command(int argc, char **argv, bool backup)
{
    const char *name = backup ? "backup" : "compact";
    const struct cli_command cmd = {
        name,
        backup ? "backup FILE" : "compact DIR",
        backup ? "Writes a consistent, compacted copy of the store to FILE while it is in use\n"
                 "(serve may run). To restore: put FILE as data.mdb into an empty directory\n"
                 "and use that directory as --storage."
               : "Writes a compacted copy of the store into the new directory DIR (LMDB reuses\n"
                 "freed space by itself; a compacted copy also gives it back to the disk).",
        CFG_ALL,
        NULL,
        0,
        1,
        1};
    struct wl_config cfg;
    const char *args[1];
    size_t nargs;
    struct store *s;
    int rc = cfg_load(&cfg, &cmd, argc, argv, args, &nargs);

    if (rc)
        return cli_usage_status(rc);
    cli_setup_logging(&cfg);
    if (cli_open_store(name, &cfg, false, &s))
        return 1;
    rc = store_copy(s, args[0], backup ? STORE_COPY_FILE : STORE_COPY_DIR);
    store_close(s);
    if (rc) {
        fprintf(stderr, "wherelog %s: %s: %s\n", name, args[0], wl_strerror(rc));
        return 1;
    }
    printf("%s written\n", args[0]);
    return 0;
}

int cli_backup(int argc, char **argv)
{
    return copy_command(argc, argv, true);
}

int cli_compact(int argc, char **argv)
{
    return copy_command(argc, argv, false);
}

/* ---------------------------------------------------------------- check */

static void print_problem(void *arg, const char *problem)
{
    (void)arg;
    printf("problem: %s\n", problem);
}

int cli_check(int argc, char **argv)
{
    const struct cli_command cmd = {"check",
                                    "check",
                                    "Verifies the store: every record decodes, every device's "
                                    "counts and times agree\nwith its history, and the indexes "
                                    "agree. Changes nothing. Exit status 1 when a\nproblem is "
                                    "found.",
                                    CFG_ALL,
                                    NULL,
                                    0,
                                    0,
                                    0};
    struct wl_config cfg;
    size_t nargs;
    struct store *s;
    struct store_check_counts c;
    int rc = cfg_load(&cfg, &cmd, argc, argv, NULL, &nargs);

    if (rc)
        return cli_usage_status(rc);
    cli_setup_logging(&cfg);
    if (cli_open_store("check", &cfg, false, &s))
        return 1;
    rc = store_check(s, print_problem, NULL, &c);
    store_close(s);
    if (rc) {
        fprintf(stderr, "wherelog check: %s\n", wl_strerror(rc));
        return 1;
    }
    printf("%u devices, %llu points, %llu other messages: %u problem(s)\n", c.devices,
           (unsigned long long)c.points, (unsigned long long)c.events, c.problems);
    return c.problems ? 1 : 0;
}

/* ---------------------------------------------------------------- stats */

int cli_stats(int argc, char **argv)
{
    struct cli_params p = {0};
    bool json = false;
    const struct cli_option opts[] = {
        {"user", "USER", "only this user's devices", &p.user, NULL},
        {"device", "DEVICE", "only devices with this name", &p.device, NULL},
        {"from", "TIME", "from this moment, inclusive", &p.from, NULL},
        {"to", "TIME", "to this moment, inclusive (a date: the whole day)", &p.to, NULL},
        {"json", NULL, "print JSON (what GET /api/0/stats gives)", NULL, &json}};
    const struct cli_command cmd = {
        "stats",
        "stats [--user USER] [--device DEVICE] [--from TIME] [--to TIME] [--json]",
        "Per device: points, first and last time, distance travelled (leaving out fixes less\n"
        "accurate than 100 m) and days with data; for the store: size, bytes per point, map use.",
        CFG_ALL,
        opts,
        WL_ARRAY_LEN(opts),
        0,
        0};
    struct wl_config cfg;
    size_t nargs;
    struct store *s;
    struct sink out;
    static const struct request_rules rules = {.takes =
                                                   REQUEST_USER | REQUEST_DEVICE | REQUEST_RANGE};
    struct request_params rq;
    int rc = cfg_load(&cfg, &cmd, argc, argv, NULL, &nargs);

    if (rc)
        return cli_usage_status(rc);
    cli_setup_logging(&cfg);
    if (cli_request("stats", &p, &rules, &rq))
        return 2;
    if (cli_open_store("stats", &cfg, false, &s))
        return 1;
    if (sink_init_mem(&out, 4096)) {
        store_close(s);
        return 1;
    }
    rc = q_stats_json(s, rq.given & REQUEST_USER ? rq.user : NULL,
                      rq.given & REQUEST_DEVICE ? rq.device : NULL, rq.from, rq.to, Q_STATS_MAX_ACC,
                      NULL, NULL, NULL, &out);
    store_close(s);
    if (rc) {
        fprintf(stderr, "wherelog stats: %s\n", wl_strerror(rc));
        sink_free(&out);
        return 1;
    }
    if (json) {
        fwrite(out.buf, 1, out.len, stdout);
        sink_free(&out);
        return 0;
    }
    /* The table is made from the JSON, so both say exactly the same. */
    sink_putc(&out, '\0');
    struct json_object *o = json_tokener_parse(out.buf), *devs, *store, *v;
    sink_free(&out);
    if (!o || !json_object_object_get_ex(o, "devices", &devs))
        return 1;
    printf("%-28s %10s %20s %20s %12s %6s\n", "user/device", "points", "first", "last", "km",
           "days");
    for (size_t i = 0; i < json_object_array_length(devs); i++) {
        struct json_object *d = json_object_array_get_idx(devs, i), *f, *l;
        char label[2 * OT_NAME_MAX + 2];
        json_object_object_get_ex(d, "user", &v);
        snprintf(label, sizeof(label), "%s/", json_object_get_string(v));
        json_object_object_get_ex(d, "device", &v);
        strncat(label, json_object_get_string(v), sizeof(label) - strlen(label) - 1);
        bool any = json_object_object_get_ex(d, "first_iso", &f) &&
                   json_object_object_get_ex(d, "last_iso", &l);
        json_object_object_get_ex(d, "points", &v);
        long long points = json_object_get_int64(v);
        json_object_object_get_ex(d, "distance_m", &v);
        double km = json_object_get_double(v) / 1000;
        json_object_object_get_ex(d, "days", &v);
        printf("%-28s %10lld %20s %20s %12.1f %6lld\n", label, points,
               any ? json_object_get_string(f) : "-", any ? json_object_get_string(l) : "-", km,
               (long long)json_object_get_int64(v));
    }
    json_object_object_get_ex(o, "store", &store);
    long long fb = 0, pts = 0;
    double bpp = 0, use = 0;
    if (json_object_object_get_ex(store, "file_bytes", &v))
        fb = json_object_get_int64(v);
    if (json_object_object_get_ex(store, "points", &v))
        pts = json_object_get_int64(v);
    if (json_object_object_get_ex(store, "bytes_per_point", &v))
        bpp = json_object_get_double(v);
    if (json_object_object_get_ex(store, "map_use", &v))
        use = json_object_get_double(v);
    printf("store: %.1f MB on disk, %lld points, %.1f bytes per point, map %.0f%% used\n",
           (double)fb / 1e6, pts, bpp, use * 100);
    json_object_put(o);
    return 0;
}
