/* The subcommands that read what is stored: list, last, export and stats (the rule: a command
 * that only reads lives here; one that changes the store or looks after it lives in
 * cli_data.c), and the helpers all commands share (cli_internal.h). */
#include "cli.h"

#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli_internal.h"
#include "config.h"
#include "fmt.h"
#include "gazetteer.h"
#include "log.h"
#include "owntracks.h"
#include "query.h"
#include "sink.h"
#include "store.h"
#include "summary.h"
#include "tlread.h"
#include "wl.h"
#include "zone.h"

#define OUT_BUFFER (64u << 10)

void cli_setup_logging(const struct wl_config *cfg)
{
    enum wl_log_level level = WL_LOG_INFO;
    wl_log_parse_level(cfg->log_level, &level);
    wl_log_set_level(level);
    if (cfg->syslog)
        wl_log_use_syslog("wherelog");
}

int cli_usage_status(int rc)
{
    return rc > 0 ? 0 : 2; /* --help printed: success; bad usage: 2 */
}

void cli_timeline_defaults(const struct wl_config *cfg, struct store_user_settings *out)
{
    memset(out, 0, sizeof(*out));
    snprintf(out->zone, sizeof(out->zone), "%s", cfg->timezone);
    tl_settings_default(&out->tl);
    out->tl.stay_radius_m = (double)cfg->stay_radius;
    out->tl.stay_min_s = cfg->stay_time;
}

int cli_open_store(const char *cmd, const struct wl_config *cfg, bool write, struct store **s)
{
    struct store_user_settings defaults;
    cli_timeline_defaults(cfg, &defaults);
    struct store_options opt = {.read_only = !write, .timeline = &defaults};
    int rc = store_open(cfg->storage, &opt, s);
    if (rc == -ENOENT)
        fprintf(stderr, "wherelog %s: no store in %s (run 'wherelog serve' or pass --storage)\n",
                cmd, cfg->storage);
    else if (rc)
        fprintf(stderr, "wherelog %s: cannot open the store in %s: %s\n", cmd, cfg->storage,
                wl_strerror(rc));
    return rc;
}

int cli_name_arg(const char *cmd, const char *what, const char *in, char *out)
{
    struct request_error err;
    if (request_name(in, what, out, &err) != 0) {
        fprintf(stderr, "wherelog %s: %s: %s\n", cmd, what, err.why);
        return -EINVAL;
    }
    return 0;
}

/* ---------------------------------------------------------------- list */

static int print_user(void *arg, const char *user)
{
    (void)arg;
    return printf("%s\n", user) < 0 ? -EIO : 0;
}

static int print_device(void *arg, const struct store_device *d)
{
    (*(int *)arg)++;
    return printf("%s\n", d->device) < 0 ? -EIO : 0;
}

int cli_list(int argc, char **argv)
{
    struct cli_params p = {0};
    const struct cli_option opts[] = {
        {"user", "USER", "list this user's devices instead of the users", &p.user, NULL}};
    static const struct request_rules rules = {.takes = REQUEST_USER};
    struct request_params rq;
    const struct cli_command cmd = {"list",
                                    "list [--user USER]",
                                    "Lists the users in the store, or the devices of one user.",
                                    CFG_ALL,
                                    opts,
                                    1,
                                    0,
                                    0};
    struct wl_config cfg;
    struct store *s;
    size_t nargs;
    int rc = cfg_load(&cfg, &cmd, argc, argv, NULL, &nargs);

    if (rc)
        return cli_usage_status(rc);
    cli_setup_logging(&cfg);
    if (cli_request("list", &p, &rules, &rq))
        return 2;
    bool user = rq.given & REQUEST_USER;
    const char *name = rq.user;
    if (cli_open_store("list", &cfg, false, &s))
        return 1;
    int found = 0;
    rc = user ? store_list_devices(s, name, print_device, &found)
              : store_list_users(s, print_user, NULL);
    store_close(s);
    if (rc) {
        fprintf(stderr, "wherelog list: %s\n", wl_strerror(rc));
        return 1;
    }
    if (user && !found) {
        fprintf(stderr, "wherelog list: no user '%s' in the store\n", name);
        return 1;
    }
    return 0;
}

/* ---------------------------------------------------------------- last */

int cli_last(int argc, char **argv)
{
    struct cli_params p = {0};
    const struct cli_option opts[] = {
        {"user", "USER", "only this user's devices", &p.user, NULL},
        {"device", "DEVICE", "only devices with this name", &p.device, NULL}};
    static const struct request_rules rules = {.takes = REQUEST_USER | REQUEST_DEVICE};
    struct request_params rq;
    const struct cli_command cmd = {
        "last",
        "last [--user USER] [--device DEVICE]",
        "Prints the last known position of each device as a JSON array.",
        CFG_ALL,
        opts,
        2,
        0,
        0};
    struct wl_config cfg;
    struct store *s;
    struct sink out;
    size_t nargs;
    int rc = cfg_load(&cfg, &cmd, argc, argv, NULL, &nargs);

    if (rc)
        return cli_usage_status(rc);
    cli_setup_logging(&cfg);
    if (cli_request("last", &p, &rules, &rq))
        return 2;
    if (cli_open_store("last", &cfg, false, &s))
        return 1;
    if (sink_init_fd(&out, STDOUT_FILENO, OUT_BUFFER)) {
        store_close(s);
        return 1;
    }
    struct query_last_filter f = {.user = rq.given & REQUEST_USER ? rq.user : NULL,
                                  .device = rq.given & REQUEST_DEVICE ? rq.device : NULL};
    rc = query_last_json(s, &f, &out);
    if (rc == 0)
        rc = sink_flush(&out);
    sink_free(&out);
    store_close(s);
    if (rc) {
        fprintf(stderr, "wherelog last: %s\n", wl_strerror(rc));
        return 1;
    }
    return 0;
}

static const char *cli_param(void *ctx, const char *name)
{
    const struct cli_params *p = ctx;
    static const struct {
        const char *name;
        size_t offset;
    } names[] = {{"user", offsetof(struct cli_params, user)},
                 {"device", offsetof(struct cli_params, device)},
                 {"from", offsetof(struct cli_params, from)},
                 {"to", offsetof(struct cli_params, to)},
                 {"format", offsetof(struct cli_params, format)},
                 {"fields", offsetof(struct cli_params, fields)},
                 {"limit", offsetof(struct cli_params, limit)}};
    for (size_t i = 0; i < WL_ARRAY_LEN(names); i++)
        if (strcmp(name, names[i].name) == 0)
            return *(const char *const *)((const char *)p + names[i].offset);
    return NULL; /* a parameter no command takes on the command line */
}

int cli_request(const char *cmd, const struct cli_params *p, const struct request_rules *rules,
                struct request_params *rq)
{
    struct request_error err;
    char why[REQUEST_WHY_MAX + 64];
    if (request_parse(rq, rules, cli_param, (void *)p, &err) == 0)
        return 0;
    fprintf(stderr, "wherelog %s: %s\n", cmd,
            request_describe(&err, REQUEST_DOOR_CLI, why, sizeof(why)));
    return -EINVAL;
}

/* ---------------------------------------------------------------- export */

int cli_time_arg(const char *cmd, const char *what, const char *text, bool end, int64_t *out)
{
    struct request_error err;
    if (request_time(text, what, end, out, &err) != 0) {
        fprintf(stderr, "wherelog %s: %s: %s\n", cmd, what, err.why);
        return -EINVAL;
    }
    return 0;
}

static int cli_refuse(const char *cmd, const struct request_error *err);

/* export --format gpx --timeline: the timeline's GPX (tlread.h) over the range. Returns 0, or
 * an error after saying why (-EINVAL: bad usage). */
static int export_timeline(struct store *s, const struct cli_params *p, struct request_params *rq,
                           struct sink *out)
{
    struct request_error err;
    struct zone *z;
    struct tlread *t = NULL;
    int rc = tlread_user_zone(s, rq->user, &z);
    if (rc) {
        fprintf(stderr, "wherelog export: cannot read %s's time zone: %s\n", rq->user,
                wl_strerror(rc));
        return rc;
    }
    if (tlread_local_bound(p->from, "from", false, z, &rq->from, &err) ||
        tlread_local_bound(p->to, "to", true, z, &rq->to, &err)) {
        zone_unref(z);
        return cli_refuse("export", &err);
    }
    struct tlread_request tq = {.user = rq->user,
                                .device = rq->device,
                                .from = rq->from,
                                .to = rq->to,
                                .format = TLREAD_GPX,
                                .now = time(NULL)};
    rc = tlread_timeline_open(s, &tq, z, out, &t);
    zone_unref(z);
    if (rc == -ENOENT) {
        fprintf(stderr, "wherelog export: no device %s/%s in the store\n", rq->user, rq->device);
        return rc;
    }
    while (rc == 0 && (rc = tlread_fill(t, out, OUT_BUFFER)) == 1)
        rc = sink_flush(out);
    if (rc == 0)
        rc = sink_flush(out);
    tlread_close(t);
    if (rc)
        fprintf(stderr, "wherelog export: %s\n", wl_strerror(rc));
    return rc;
}

int cli_export(int argc, char **argv)
{
    struct cli_params p = {0};
    const char *output = NULL;
    bool timeline = false;
    const struct cli_option opts[] = {
        {"user", "USER", "whose track (required)", &p.user, NULL},
        {"device", "DEVICE", "which device (required)", &p.device, NULL},
        {"from", "TIME", "first moment, inclusive (default: the beginning)", &p.from, NULL},
        {"to", "TIME", "last moment, inclusive; a date means the whole day (default: the end)",
         &p.to, NULL},
        {"format", "FORMAT", "json, geojson, gpx or csv (default: json)", &p.format, NULL},
        {"fields", "LIST", "json and csv: only these members, in this order (tst,lat,lon)",
         &p.fields, NULL},
        {"limit", "N", "only the newest N points of the range (still written oldest first)",
         &p.limit, NULL},
        {"output", "FILE", "write to FILE instead of standard output (- is standard output)",
         &output, NULL},
        {"timeline", NULL, "gpx: the stays as waypoints and a track per trip, not the points", NULL,
         &timeline}};
    const struct cli_command cmd = {
        "export",
        "export --user USER --device DEVICE [--from TIME] [--to TIME] "
        "[--format json|geojson|gpx|csv] [--fields LIST] [--limit N] [--output FILE] "
        "[--timeline]",
        "Writes a device's track in time order. TIME is YYYY-MM-DD, "
        "YYYY-MM-DDTHH:MM[:SS] with optional Z or\n+HH:MM (UTC when no zone is given), or "
        "epoch seconds.",
        CFG_ALL,
        opts,
        WL_ARRAY_LEN(opts),
        0,
        0};
    struct wl_config cfg;
    struct store *s = NULL;
    struct sink out = {0};
    struct query_track *t = NULL;
    struct query_plan plan = {0};
    static const struct request_rules rules = {
        .takes = REQUEST_USER | REQUEST_DEVICE | REQUEST_RANGE | REQUEST_FORMAT | REQUEST_FIELDS |
                 REQUEST_LIMIT,
        .requires = REQUEST_USER | REQUEST_DEVICE,
        .formats = REQUEST_FORMAT_BIT(FMT_JSON) | REQUEST_FORMAT_BIT(FMT_GEOJSON) |
                   REQUEST_FORMAT_BIT(FMT_GPX) | REQUEST_FORMAT_BIT(FMT_CSV)};
    struct request_params rq;
    size_t nargs;
    int fd = STDOUT_FILENO, status = 1;
    int rc = cfg_load(&cfg, &cmd, argc, argv, NULL, &nargs);

    if (rc)
        return cli_usage_status(rc);
    cli_setup_logging(&cfg);
    if (cli_request("export", &p, &rules, &rq))
        return 2;
    if (timeline && rq.limit) {
        fprintf(stderr, "wherelog export: --limit counts points; it does not go with --timeline\n");
        return 2;
    }
    if (timeline && rq.format != FMT_GPX) {
        fprintf(stderr, "wherelog export: --timeline goes with --format gpx (for json and "
                        "geojson: wherelog timeline)\n");
        return 2;
    }
    if (cli_open_store("export", &cfg, false, &s))
        return 1;
    if (output && strcmp(output, "-") != 0) {
        fd = open(output, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (fd < 0) {
            fprintf(stderr, "wherelog export: cannot write %s: %s\n", output, strerror(errno));
            goto out;
        }
    }
    if (sink_init_fd(&out, fd, OUT_BUFFER))
        goto out;
    if (timeline) {
        rc = export_timeline(s, &p, &rq, &out);
        if (rc == 0)
            status = 0;
        else if (rc == -EINVAL)
            status = 2;
        goto out;
    }
    struct query_range range = {.from = rq.from, .to = rq.to, .limit = rq.limit};
    struct fmt_options fo = {.fields = rq.nfields ? rq.fields : NULL, .nfields = rq.nfields};
    rc = query_plan_export(s, rq.user, rq.device, &range, &plan);
    if (rc == 0 && !plan.found) {
        fprintf(stderr, "wherelog export: no device %s/%s in the store\n", rq.user, rq.device);
        goto out;
    }
    if (rc == 0)
        rc = query_track_open(s, &plan, rq.format, &fo, &out, &t);
    while (rc == 0 && (rc = query_track_fill(t, &out, SIZE_MAX)) == 1)
        rc = 0;
    if (rc == 0)
        rc = sink_flush(&out);
    if (rc) {
        fprintf(stderr, "wherelog export: %s\n", wl_strerror(rc));
        goto out;
    }
    if (query_track_skipped(t))
        fprintf(stderr, "wherelog export: %llu damaged records skipped (see 'wherelog check')\n",
                (unsigned long long)query_track_skipped(t));
    status = 0;
out:
    query_track_close(t);
    query_plan_free(&plan);
    sink_free(&out);
    if (fd != STDOUT_FILENO && fd >= 0 && close(fd) != 0 && status == 0) {
        fprintf(stderr, "wherelog export: %s: %s\n", output, strerror(errno));
        status = 1;
    }
    store_close(s);
    return status;
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
    rc = query_stats_json(s, rq.given & REQUEST_USER ? rq.user : NULL,
                          rq.given & REQUEST_DEVICE ? rq.device : NULL, rq.from, rq.to,
                          QUERY_STATS_MAX_ACC, NULL, NULL, NULL, &out);
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
        char label[2 * OWNTRACKS_NAME_MAX + 2];
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

/* ---------------------------------------------------------------- timeline */

/* A refusal in the CLI's words: "wherelog CMD: --param: why". */
static int cli_refuse(const char *cmd, const struct request_error *err)
{
    char why[REQUEST_WHY_MAX + 64];
    fprintf(stderr, "wherelog %s: %s\n", cmd,
            request_describe(err, REQUEST_DOOR_CLI, why, sizeof(why)));
    return -EINVAL;
}

int cli_timeline(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "rebuild") == 0)
        return cli_timeline_rebuild(argc - 1, argv + 1);
    struct cli_params p = {0};
    const char *date = NULL, *format = NULL;
    uint32_t max_points = 0;
    const char *max_text = NULL;
    const struct cli_option opts[] = {
        {"user", "USER", "whose timeline (required)", &p.user, NULL},
        {"device", "DEVICE", "which device (required)", &p.device, NULL},
        {"date", "DATE", "one local day, YYYY-MM-DD (default: today, without --from/--to)", &date,
         NULL},
        {"from", "TIME", "from this moment (a date: the start of that local day)", &p.from, NULL},
        {"to", "TIME", "to this moment (a date: the end of that local day)", &p.to, NULL},
        {"format", "FORMAT", "text, json, geojson or gpx (default: text)", &format, NULL},
        {"max-points", "N", "geojson, gpx: thin each trip's points to N", &max_text, NULL}};
    const struct cli_command cmd = {
        "timeline",
        "timeline --user USER --device DEVICE [--date DATE | --from TIME --to TIME] "
        "[--format text|json|geojson|gpx]\n       wherelog timeline rebuild [--user USER] "
        "[--device DEVICE]",
        "Prints a device's stays, trips and gaps, times in the user's zone (wherelog settings):\n"
        "by default as a list, one line each, with the derived events (wherelog events) on lines\n"
        "of their own between them; json and geojson as GET /api/0/timeline gives them,\n"
        "gpx with the stays as waypoints and a track per trip. `timeline rebuild` recomputes the\n"
        "timelines from the points.",
        CFG_ALL,
        opts,
        WL_ARRAY_LEN(opts),
        0,
        0};
    static const struct request_rules rules = {.takes = REQUEST_USER | REQUEST_DEVICE |
                                                        REQUEST_RANGE | REQUEST_MAX_POINTS,
                                               .requires = REQUEST_USER | REQUEST_DEVICE};
    struct request_params rq;
    struct request_error err;
    struct wl_config cfg;
    struct store *s = NULL;
    struct zone *z = NULL;
    struct tlread *t = NULL;
    struct sink out = {0};
    enum tlread_format fmt;
    size_t nargs;
    int status = 1, rc = cfg_load(&cfg, &cmd, argc, argv, NULL, &nargs);

    if (rc)
        return cli_usage_status(rc);
    cli_setup_logging(&cfg);
    if (date && (p.from || p.to)) {
        fprintf(stderr, "wherelog timeline: --date goes without --from and --to\n");
        return 2;
    }
    if (date)
        p.from = p.to = date;
    if (tlread_parse_format(format ? format : "text", true, &fmt, &err) &&
        cli_refuse("timeline", &err))
        return 2;
    if (cli_request("timeline", &p, &rules, &rq))
        return 2;
    if (max_text) {
        char *end;
        unsigned long n = strtoul(max_text, &end, 10);
        if (*end || n < QUERY_THIN_MIN || n > QUERY_THIN_MAX) {
            fprintf(stderr, "wherelog timeline: --max-points: a number from %d to %d\n",
                    QUERY_THIN_MIN, QUERY_THIN_MAX);
            return 2;
        }
        max_points = (uint32_t)n;
    }
    if (cli_open_store("timeline", &cfg, false, &s))
        return 1;
    if ((rc = tlread_user_zone(s, rq.user, &z))) {
        fprintf(stderr, "wherelog timeline: cannot read %s's time zone: %s\n", rq.user,
                wl_strerror(rc));
        goto out;
    }
    if (tlread_local_bound(p.from, "from", false, z, &rq.from, &err) ||
        tlread_local_bound(p.to, "to", true, z, &rq.to, &err)) {
        cli_refuse("timeline", &err);
        status = 2;
        goto out;
    }
    if (!p.from && !p.to) { /* today, where the user is */
        zone_day_bounds(z, zone_date(z, time(NULL)), &rq.from, &rq.to);
        rq.to--;
    }
    if (rq.from > rq.to) {
        fprintf(stderr, "wherelog timeline: --from is after --to\n");
        status = 2;
        goto out;
    }
    if (sink_init_fd(&out, STDOUT_FILENO, OUT_BUFFER))
        goto out;
    struct tlread_request tq = {.user = rq.user,
                                .device = rq.device,
                                .from = rq.from,
                                .to = rq.to,
                                .format = fmt,
                                .max_points = max_points,
                                .now = time(NULL)};
    rc = tlread_timeline_open(s, &tq, z, &out, &t);
    if (rc == -ENOENT) {
        fprintf(stderr, "wherelog timeline: no device %s/%s in the store\n", rq.user, rq.device);
        goto out;
    }
    while (rc == 0 && (rc = tlread_fill(t, &out, OUT_BUFFER)) == 1)
        rc = sink_flush(&out);
    if (rc == 0)
        rc = sink_flush(&out);
    if (rc) {
        fprintf(stderr, "wherelog timeline: %s\n", wl_strerror(rc));
        goto out;
    }
    status = 0;
out:
    tlread_close(t);
    sink_free(&out);
    zone_unref(z);
    store_close(s);
    return status;
}

/* ---------------------------------------------------------------- summary */

int cli_summary(int argc, char **argv)
{
    struct cli_params p = {0};
    const char *year_text = NULL, *format = NULL;
    const struct cli_option opts[] = {
        {"user", "USER", "whose year (required)", &p.user, NULL},
        {"device", "DEVICE", "one device (default: all the user's)", &p.device, NULL},
        {"year", "YEAR", "the local year, e.g. 2025 (required)", &year_text, NULL},
        {"format", "FORMAT", "text or json (default: text)", &format, NULL}};
    const struct cli_command cmd = {
        "summary",
        "summary --user USER --year YEAR [--device DEVICE] [--format text|json]",
        "The year at a glance, in the user's zone: distance, days with data, countries and\n"
        "cities (the nearest city of each stay, from libgeonames' offline data), the most\n"
        "visited places, the longest trip and each month's figures; json as GET /api/0/summary.",
        CFG_ALL,
        opts,
        WL_ARRAY_LEN(opts),
        0,
        0};
    static const struct request_rules rules = {.takes = REQUEST_USER | REQUEST_DEVICE,
                                               .requires = REQUEST_USER};
    struct request_params rq;
    struct wl_config cfg;
    struct store_user_settings set;
    struct store *s = NULL;
    struct zone *z = NULL;
    struct gazetteer *gz = NULL;
    struct summary sm;
    struct sink out = {0};
    size_t nargs;
    int year, status = 1, rc = cfg_load(&cfg, &cmd, argc, argv, NULL, &nargs);

    summary_init(&sm, SUMMARY_YEAR_MIN, TL_STAY_RADIUS_DEFAULT);
    if (rc)
        return cli_usage_status(rc);
    cli_setup_logging(&cfg);
    bool json = format && strcmp(format, "json") == 0;
    if (format && !json && strcmp(format, "text") != 0) {
        fprintf(stderr, "wherelog summary: --format: text or json, not '%s'\n", format);
        return 2;
    }
    if (!year_text || summary_parse_year(year_text, &year)) {
        fprintf(stderr, "wherelog summary: --year: a year from %d to %d\n", SUMMARY_YEAR_MIN,
                SUMMARY_YEAR_MAX);
        return 2;
    }
    if (cli_request("summary", &p, &rules, &rq))
        return 2;
    if (cli_open_store("summary", &cfg, false, &s))
        return 1;
    if ((rc = tlread_user_zone(s, rq.user, &z)) || (rc = store_user_settings(s, rq.user, &set))) {
        fprintf(stderr, "wherelog summary: cannot read %s's settings: %s\n", rq.user,
                wl_strerror(rc));
        goto out;
    }
    if ((rc = gazetteer_open(&gz)))
        fprintf(stderr, "wherelog summary: no offline place names (libgeonames' cities): %s\n",
                wl_strerror(rc));
    const char *device = rq.device[0] ? rq.device : NULL;
    summary_init(&sm, year, set.tl.stay_radius_m);
    rc = summary_read(s, rq.user, device, z, gz, &sm);
    if (rc == -ENOENT) {
        fprintf(stderr, "wherelog summary: no device of %s%s%s in the store\n", rq.user,
                device ? "/" : "", device ? device : "");
        goto out;
    }
    if (rc) {
        fprintf(stderr, "wherelog summary: %s\n", wl_strerror(rc));
        goto out;
    }
    if (sink_init_fd(&out, STDOUT_FILENO, OUT_BUFFER))
        goto out;
    if (json)
        summary_json(&out, &sm, rq.user, device, z, gz);
    else
        summary_text(&out, &sm, rq.user, device, z, gz);
    if ((rc = sink_flush(&out))) {
        fprintf(stderr, "wherelog summary: %s\n", wl_strerror(rc));
        goto out;
    }
    status = 0;
out:
    sink_free(&out);
    summary_free(&sm);
    gazetteer_free(gz);
    zone_unref(z);
    store_close(s);
    return status;
}

/* ---------------------------------------------------------------- at */

int cli_at(int argc, char **argv)
{
    struct cli_params p = {0};
    const char *when = NULL;
    bool json = false;
    const struct cli_option opts[] = {
        {"user", "USER", "whose device (required)", &p.user, NULL},
        {"device", "DEVICE", "which device (required)", &p.device, NULL},
        {"time", "TIME", "the moment (required; a date: the start of that local day)", &when, NULL},
        {"json", NULL, "print JSON (what GET /api/0/at gives)", NULL, &json}};
    const struct cli_command cmd = {
        "at",
        "at --user USER --device DEVICE --time TIME [--json]",
        "Where the device was at TIME: in a stay, moving (the position between the fixes\n"
        "before and after), in a gap, or outside its data.",
        CFG_ALL,
        opts,
        WL_ARRAY_LEN(opts),
        0,
        0};
    static const struct request_rules rules = {.takes = REQUEST_USER | REQUEST_DEVICE,
                                               .requires = REQUEST_USER | REQUEST_DEVICE};
    struct request_params rq;
    struct request_error err;
    struct wl_config cfg;
    struct store *s = NULL;
    struct zone *z = NULL;
    struct sink out = {0};
    int64_t at;
    size_t nargs;
    int status = 1, rc = cfg_load(&cfg, &cmd, argc, argv, NULL, &nargs);

    if (rc)
        return cli_usage_status(rc);
    cli_setup_logging(&cfg);
    if (cli_request("at", &p, &rules, &rq))
        return 2;
    if (!when || !when[0]) {
        fprintf(stderr, "wherelog at: --time is required\n");
        return 2;
    }
    if (cli_open_store("at", &cfg, false, &s))
        return 1;
    if ((rc = tlread_user_zone(s, rq.user, &z))) {
        fprintf(stderr, "wherelog at: cannot read %s's time zone: %s\n", rq.user, wl_strerror(rc));
        goto out;
    }
    if (tlread_at_time(when, "time", z, &at, &err)) {
        cli_refuse("at", &err);
        status = 2;
        goto out;
    }
    if (sink_init_mem(&out, 1024))
        goto out;
    rc = tlread_at_json(s, rq.user, rq.device, at, z, &out);
    if (rc == -ENOENT) {
        fprintf(stderr, "wherelog at: no device %s/%s in the store\n", rq.user, rq.device);
        goto out;
    }
    if (rc) {
        fprintf(stderr, "wherelog at: %s\n", wl_strerror(rc));
        goto out;
    }
    if (json) {
        fwrite(out.buf, 1, out.len, stdout);
        status = 0;
        goto out;
    }
    /* The line is made from the JSON, so both say the same. */
    sink_putc(&out, '\0');
    struct json_object *o = json_tokener_parse(out.buf), *v, *b, *a;
    if (!o)
        goto out;
    json_object_object_get_ex(o, "iso", &v);
    printf("%s  ", json_object_get_string(v));
    json_object_object_get_ex(o, "status", &v);
    printf("%s", json_object_get_string(v));
    if (json_object_object_get_ex(o, "lat", &v)) {
        double lat = json_object_get_double(v);
        json_object_object_get_ex(o, "lon", &v);
        printf("  %.5f, %.5f", lat, json_object_get_double(v));
    }
    if (json_object_object_get_ex(o, "before", &b) && json_object_object_get_ex(b, "iso", &v))
        printf("  fix before: %s", json_object_get_string(v));
    if (json_object_object_get_ex(o, "after", &a) && json_object_object_get_ex(a, "iso", &v))
        printf("  fix after: %s", json_object_get_string(v));
    putchar('\n');
    json_object_put(o);
    status = 0;
out:
    sink_free(&out);
    zone_unref(z);
    store_close(s);
    return status;
}
