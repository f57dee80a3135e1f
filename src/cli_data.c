/* The subcommands that change or look after the store: import, delete, hide/unhide, key,
 * token, backup, compact, check, settings and timeline rebuild (the rule: a command that opens
 * the store for writing, or checks it, lives here; one that only reads what is stored lives in
 * cli.c). Argument handling and wiring only; the work is in import.c and store.c. */
#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "cli_internal.h"
#include "import.h"
#include "token.h"
#include "wl.h"
#include "wtime.h"
#include "zone.h"

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
    char uname[OWNTRACKS_NAME_MAX + 1], dname[OWNTRACKS_NAME_MAX + 1];
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
    struct import_options io = {.progress = !quiet && !json && isatty(STDERR_FILENO)};
    if ((rc = import_new(s, &io, &imp))) {
        store_close(s);
        return 1;
    }
    /* History arrives in any order, often older than what is stored: build each device's
     * timeline once at the end rather than replay it after every batch. */
    store_set_timeline_deferred(s, true);
    if (recorder)
        rc = import_recorder(imp, src);
    else if (strcmp(kind, "gpx") == 0)
        rc = import_gpx(imp, src, uname, dname);
    else if (strcmp(kind, "geojson") == 0)
        rc = import_geojson(imp, src, uname, dname);
    else
        rc = import_google(imp, src, uname, dname);
    if (json)
        import_summary_json(imp, stdout);
    else
        import_summary_text(imp, stdout);
    /* a file or directory skipped on the way is a source not read to its end, too */
    bool skipped = import_source_errors(imp) > 0;
    import_free(imp);
    int tl_rc = store_timeline_catch_up(s);
    if (tl_rc)
        fprintf(stderr, "wherelog import: timelines not brought up to date (they will be when "
                        "read): %s\n", wl_strerror(tl_rc));
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
    char uname[OWNTRACKS_NAME_MAX + 1], dname[OWNTRACKS_NAME_MAX + 1];
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
    char iso[WTIME_ISO_SIZE];
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

/* ---------------------------------------------------------------- key */

static int print_key(void *arg, const char *user, const char *device)
{
    (void)arg;
    return printf("%s/%s\n", user, device) < 0 ? -EIO : 0;
}

/* Reads the secret from a file, or standard input (without echo on a terminal). */
static int read_secret(const char *file, char *buf, size_t size)
{
    if (file)
        return cfg_read_secret_file(file, buf, size);
    struct termios old, quiet;
    bool tty = isatty(STDIN_FILENO) && tcgetattr(STDIN_FILENO, &old) == 0;
    if (tty) {
        fprintf(stderr, "secret (at most %d bytes): ", OWNTRACKS_SECRET_MAX);
        quiet = old;
        quiet.c_lflag &= ~(tcflag_t)ECHO;
        tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet);
    }
    int rc = fgets(buf, (int)size, stdin) ? 0 : -EIO;
    if (tty) {
        tcsetattr(STDIN_FILENO, TCSAFLUSH, &old);
        fputc('\n', stderr);
    }
    buf[strcspn(buf, "\r\n")] = '\0';
    return rc;
}

int cli_key(int argc, char **argv)
{
    const char *secret_file = NULL;
    const struct cli_option opts[] = {{"secret-file", "FILE",
                                       "set: read the secret from FILE instead of standard input",
                                       &secret_file, NULL}};
    const struct cli_command cmd = {
        "key",
        "key set USER DEVICE | key list | key delete USER DEVICE",
        "Manages the OwnTracks encryption secrets (the app's 'encryption key') per device.\n"
        "'set' reads the secret from standard input; secrets are never printed.",
        CFG_ALL,
        opts,
        1,
        1,
        3};
    struct wl_config cfg;
    struct store *s;
    const char *args[3];
    size_t nargs;
    char uname[OWNTRACKS_NAME_MAX + 1], dname[OWNTRACKS_NAME_MAX + 1];
    int rc = cfg_load(&cfg, &cmd, argc, argv, args, &nargs);

    if (rc)
        return cli_usage_status(rc);
    cli_setup_logging(&cfg);
    bool list = strcmp(args[0], "list") == 0;
    bool set = strcmp(args[0], "set") == 0, del = strcmp(args[0], "delete") == 0;
    if ((list && nargs != 1) || ((set || del) && nargs != 3) || (!list && !set && !del)) {
        fprintf(stderr, "wherelog key: usage: wherelog %s\n", cmd.usage);
        return 2;
    }
    if (!list && (cli_name_arg("key", "user", args[1], uname) ||
                  cli_name_arg("key", "device", args[2], dname)))
        return 2;
    char secret[256] = "";
    if (set) {
        if (read_secret(secret_file, secret, sizeof(secret)) != 0 || secret[0] == '\0') {
            fprintf(stderr, "wherelog key: no secret given\n");
            return 1;
        }
        if (strlen(secret) > OWNTRACKS_SECRET_MAX)
            fprintf(stderr,
                    "wherelog key: note: OwnTracks uses only the first %d bytes of the "
                    "secret\n",
                    OWNTRACKS_SECRET_MAX);
    }
    if (cli_open_store("key", &cfg, !list, &s))
        return 1;
    if (list) {
        rc = store_key_list(s, print_key, NULL);
    } else if (set) {
        size_t len = strlen(secret);
        rc = store_key_set(s, uname, dname, (const unsigned char *)secret,
                           len > OWNTRACKS_SECRET_MAX ? OWNTRACKS_SECRET_MAX : len);
    } else {
        rc = store_key_delete(s, uname, dname);
        if (rc == -ENOENT)
            fprintf(stderr, "wherelog key: no key for %s/%s\n", uname, dname);
    }
    memset(secret, 0, sizeof(secret));
    store_close(s);
    if (rc && rc != -ENOENT)
        fprintf(stderr, "wherelog key: %s\n", wl_strerror(rc));
    return rc ? 1 : 0;
}

/* ---------------------------------------------------------------- token */

static void print_time_or(int64_t t, const char *none)
{
    char iso[WTIME_ISO_SIZE];
    if (t) {
        wtime_iso(t, iso);
        fputs(iso, stdout);
    } else {
        fputs(none, stdout);
    }
}

/* One line per token, tab-separated under a header: never the secret (only its hash is
 * stored anyway). */
static int print_token(void *arg, const struct store_token *t)
{
    const int64_t *now = arg;
    printf("%s\t%s\t%s\t", t->user, t->name, t->read_only ? "read-only" : "read-write");
    print_time_or(t->created, "?");
    putchar('\t');
    print_time_or(t->expires, "never");
    if (t->expires && *now >= t->expires)
        fputs(" (expired)", stdout);
    putchar('\t');
    print_time_or(t->last_used, "never");
    putchar('\n');
    return 0;
}

int cli_token(int argc, char **argv)
{
    const char *user = NULL, *name = NULL, *expires = NULL;
    bool read_only = false;
    const struct cli_option opts[] = {
        {"user", "USER", "create, revoke: whose token (required); list: only this user's", &user,
         NULL},
        {"name", "NAME", "create, revoke: the token's name, one per user (required)", &name, NULL},
        {"read-only", NULL, "create: a token that reads only: no deleting, no /pub", NULL,
         &read_only},
        {"expires", "WHEN", "create: a duration (90m, 24h, 30d, 2w) or a time; default: never",
         &expires, NULL}};
    const struct cli_command cmd = {
        "token",
        "token create --user U --name NAME [--read-only] [--expires WHEN] | token list "
        "[--user U] | token revoke --user U --name NAME",
        "Manages API tokens for scripts (Home Assistant, cron jobs), sent as\n"
        "'Authorization: Bearer SECRET'. A token acts as its user and sees what the ACL lets\n"
        "that user see. 'create' prints the secret once, on standard output; only its hash is\n"
        "stored. 'revoke' takes effect at once, also for a server that is running.",
        CFG_ALL,
        opts,
        WL_ARRAY_LEN(opts),
        1,
        1};
    struct wl_config cfg;
    struct store *s;
    const char *args[1];
    size_t nargs;
    char uname[OWNTRACKS_NAME_MAX + 1], tname[OWNTRACKS_NAME_MAX + 1];
    int64_t now = time(NULL);
    int rc = cfg_load(&cfg, &cmd, argc, argv, args, &nargs);

    if (rc)
        return cli_usage_status(rc);
    cli_setup_logging(&cfg);
    bool create = strcmp(args[0], "create") == 0, list = strcmp(args[0], "list") == 0;
    bool revoke = strcmp(args[0], "revoke") == 0;
    if (!create && !list && !revoke) {
        fprintf(stderr, "wherelog token: usage: wherelog %s\n", cmd.usage);
        return 2;
    }
    if (!list && (!user || !name)) {
        fprintf(stderr, "wherelog token: %s needs --user and --name\n", args[0]);
        return 2;
    }
    if ((list && name) || (!create && (read_only || expires))) {
        fprintf(stderr, "wherelog token: %s takes %s\n", args[0],
                list ? "only --user" : "only --user and --name");
        return 2;
    }
    if ((user && cli_name_arg("token", "user", user, uname)) ||
        (name && cli_name_arg("token", "name", name, tname)))
        return 2;
    struct store_token t = {.read_only = read_only, .created = now};
    const char *why;
    if (expires && token_parse_expiry(expires, now, &t.expires, &why) != 0) {
        fprintf(stderr, "wherelog token: --expires: %s\n", why);
        return 2;
    }
    if (cli_open_store("token", &cfg, !list, &s))
        return 1;
    if (list) {
        printf("USER\tNAME\tACCESS\tCREATED\tEXPIRES\tLAST USED\n");
        rc = store_token_list(s, user ? uname : NULL, print_token, &now);
    } else if (revoke) {
        rc = store_token_delete(s, uname, tname);
        if (rc == 0)
            fprintf(stderr, "wherelog token: revoked %s's token %s\n", uname, tname);
        else if (rc == -ENOENT)
            fprintf(stderr, "wherelog token: %s has no token named %s\n", uname, tname);
    } else {
        char secret[TOKEN_SECRET_SIZE];
        snprintf(t.user, sizeof(t.user), "%s", uname);
        snprintf(t.name, sizeof(t.name), "%s", tname);
        token_make(secret, t.hash);
        rc = store_token_put(s, &t);
        if (rc == 0) {
            char until[WTIME_ISO_SIZE + 16] = "";
            if (t.expires) {
                memcpy(until, " until ", 7);
                wtime_iso(t.expires, until + 7);
            }
            printf("%s\n", secret);
            fprintf(stderr,
                    "wherelog token: created %s's %s token %s%s; the secret above is shown "
                    "only this once\n",
                    uname, read_only ? "read-only" : "read-write", tname, until);
        } else if (rc == -EEXIST) {
            fprintf(stderr,
                    "wherelog token: %s already has a token named %s (revoke it first, or "
                    "pick another name)\n",
                    uname, tname);
        }
        sodium_memzero(secret, sizeof(secret));
    }
    store_close(s);
    if (rc && rc != -ENOENT && rc != -EEXIST)
        fprintf(stderr, "wherelog token: %s\n", wl_strerror(rc));
    return rc ? 1 : 0;
}

/* ---------------------------------------------------------------- timeline rebuild */

int cli_timeline_rebuild(int argc, char **argv)
{
    struct cli_params p = {0};
    const struct cli_option opts[] = {
        {"user", "USER", "only this user's devices (default: everybody's)", &p.user, NULL},
        {"device", "DEVICE", "only this device (with --user)", &p.device, NULL}};
    const struct cli_command cmd = {
        "timeline rebuild",
        "timeline rebuild [--user USER] [--device DEVICE]",
        "Recomputes timelines and day figures from the stored points (one transaction per\n"
        "device; the server may go on storing meanwhile).",
        CFG_ALL,
        opts,
        WL_ARRAY_LEN(opts),
        0,
        0};
    static const struct request_rules rules = {.takes = REQUEST_USER | REQUEST_DEVICE};
    struct request_params rq;
    struct wl_config cfg;
    struct store *s;
    struct timespec t0, t1;
    uint64_t points = 0;
    size_t nargs;
    int rc = cfg_load(&cfg, &cmd, argc, argv, NULL, &nargs);

    if (rc)
        return cli_usage_status(rc);
    cli_setup_logging(&cfg);
    if (cli_request("timeline rebuild", &p, &rules, &rq))
        return 2;
    bool user = rq.given & REQUEST_USER, device = rq.given & REQUEST_DEVICE;
    if (device && !user) {
        fprintf(stderr, "wherelog timeline rebuild: --device goes with --user\n");
        return 2;
    }
    if (cli_open_store("timeline rebuild", &cfg, true, &s))
        return 1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    rc = store_timeline_rebuild(s, user ? rq.user : NULL, device ? rq.device : NULL, &points);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    store_close(s);
    if (rc == -ENOENT) {
        fprintf(stderr, "wherelog timeline rebuild: no device %s/%s in the store\n", rq.user,
                rq.device);
        return 1;
    }
    if (rc) {
        fprintf(stderr, "wherelog timeline rebuild: %s\n", wl_strerror(rc));
        return 1;
    }
    double seconds = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    printf("rebuilt the timeline%s%s%s%s: %llu points read in %.3f s\n", user ? " of " : "s",
           user ? rq.user : "", device ? "/" : "", device ? rq.device : "",
           (unsigned long long)points, seconds);
    return 0;
}

/* ---------------------------------------------------------------- settings */

int cli_settings(int argc, char **argv)
{
    struct cli_params p = {0};
    const char *zone = NULL, *radius = NULL, *stay = NULL;
    const struct cli_option opts[] = {
        {"user", "USER", "whose settings (required)", &p.user, NULL},
        {"zone", "ZONE", "the time zone of their days (Europe/Paris; \"\": the default)", &zone,
         NULL},
        {"stay-radius", "METRES", "fixes within this of a place's centre are a stay (5..5000)",
         &radius, NULL},
        {"stay-time", "DURATION", "the least time at one place that makes a stay (300, 5m)", &stay,
         NULL}};
    const struct cli_command cmd = {
        "settings",
        "settings --user USER [--zone ZONE] [--stay-radius METRES] [--stay-time DURATION]",
        "Shows a user's timeline settings, or sets their own (then their timelines are\n"
        "recomputed). Users without their own have the defaults of --timezone, --stay-radius\n"
        "and --stay-time in the server's configuration.",
        CFG_ALL,
        opts,
        WL_ARRAY_LEN(opts),
        0,
        0};
    static const struct request_rules rules = {.takes = REQUEST_USER, .requires = REQUEST_USER};
    struct request_params rq;
    struct store_user_settings set;
    struct wl_config cfg;
    struct store *s;
    const char *why;
    size_t nargs;
    int rc = cfg_load(&cfg, &cmd, argc, argv, NULL, &nargs);

    if (rc)
        return cli_usage_status(rc);
    cli_setup_logging(&cfg);
    if (cli_request("settings", &p, &rules, &rq))
        return 2;
    bool change = zone || radius || stay;
    if (cli_open_store("settings", &cfg, change, &s))
        return 1;
    if ((rc = store_user_settings(s, rq.user, &set))) {
        fprintf(stderr, "wherelog settings: %s\n", wl_strerror(rc));
        store_close(s);
        return 1;
    }
    if (change) {
        int usage = 0;
        struct zone *z;
        char *end;
        long v;
        if (zone && (strlen(zone) >= sizeof(set.zone) || (zone[0] && zone_open(zone, &z) != 0))) {
            fprintf(stderr, "wherelog settings: --zone: '%s' is not a time zone of this system\n",
                    zone);
            usage = 1;
        } else if (zone) {
            if (zone[0])
                zone_unref(z);
            snprintf(set.zone, sizeof(set.zone), "%s", zone);
        }
        if (!usage && radius) {
            errno = 0;
            v = strtol(radius, &end, 10);
            if (errno || end == radius || *end) {
                fprintf(stderr,
                        "wherelog settings: --stay-radius: '%s' is not a whole number of "
                        "metres\n",
                        radius);
                usage = 1;
            }
            set.tl.stay_radius_m = (double)v;
        }
        if (!usage && stay) {
            if (cfg_parse_duration(stay, &v) != 0) {
                fprintf(stderr,
                        "wherelog settings: --stay-time: '%s' is not a duration (300, 5m, "
                        "1h)\n",
                        stay);
                usage = 1;
            }
            set.tl.stay_min_s = v;
        }
        if (!usage && tl_settings_check(&set.tl, &why) != 0) {
            fprintf(stderr, "wherelog settings: %s\n", why);
            usage = 1;
        }
        if (usage) {
            store_close(s);
            return 2;
        }
        if ((rc = store_set_user_settings(s, rq.user, &set))) {
            fprintf(stderr, "wherelog settings: %s\n", wl_strerror(rc));
            store_close(s);
            return 1;
        }
    }
    store_close(s);
    printf("user         %s\nzone         %s\nstay-radius  %.0f m\nstay-time    %lld s\n", rq.user,
           set.zone[0] ? set.zone : "(the server's)", set.tl.stay_radius_m,
           (long long)set.tl.stay_min_s);
    return 0;
}
