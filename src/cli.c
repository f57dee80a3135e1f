#include "cli.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "cli_internal.h"
#include "config.h"
#include "fmt.h"
#include "log.h"
#include "owntracks.h"
#include "query.h"
#include "sink.h"
#include "store.h"
#include "wl.h"
#include "wtime.h"

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

int cli_open_store(const char *cmd, const struct wl_config *cfg, bool write, struct store **s)
{
    struct store_options opt = {.read_only = !write};
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
    const char *why;
    if (ot_normalize_name(in, strlen(in), out, &why) != 0) {
        fprintf(stderr, "wherelog %s: bad %s '%s': %s\n", cmd, what, in, why);
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
    const char *user = NULL;
    const struct cli_option opts[] = {
        {"user", "USER", "list this user's devices instead of the users", &user, NULL}};
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
    char name[OT_NAME_MAX + 1];
    int rc = cfg_load(&cfg, &cmd, argc, argv, NULL, &nargs);

    if (rc)
        return cli_usage_status(rc);
    cli_setup_logging(&cfg);
    if (user && cli_name_arg("list", "user", user, name))
        return 2;
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
    const char *user = NULL, *device = NULL;
    const struct cli_option opts[] = {
        {"user", "USER", "only this user's devices", &user, NULL},
        {"device", "DEVICE", "only devices with this name", &device, NULL}};
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
    char uname[OT_NAME_MAX + 1], dname[OT_NAME_MAX + 1];
    int rc = cfg_load(&cfg, &cmd, argc, argv, NULL, &nargs);

    if (rc)
        return cli_usage_status(rc);
    cli_setup_logging(&cfg);
    if ((user && cli_name_arg("last", "user", user, uname)) ||
        (device && cli_name_arg("last", "device", device, dname)))
        return 2;
    if (cli_open_store("last", &cfg, false, &s))
        return 1;
    if (sink_init_fd(&out, STDOUT_FILENO, OUT_BUFFER)) {
        store_close(s);
        return 1;
    }
    struct q_last_filter f = {.user = user ? uname : NULL, .device = device ? dname : NULL};
    rc = q_last_json(s, &f, &out);
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

int cli_selection(const char *cmd, struct cli_selection *sel)
{
    sel->tfrom = WTIME_MIN;
    sel->tto = WTIME_MAX;
    if ((sel->user && cli_name_arg(cmd, "user", sel->user, sel->uname)) ||
        (sel->device && cli_name_arg(cmd, "device", sel->device, sel->dname)) ||
        (sel->from && cli_time_arg(cmd, "from", sel->from, false, &sel->tfrom)) ||
        (sel->to && cli_time_arg(cmd, "to", sel->to, true, &sel->tto)))
        return -EINVAL;
    if (sel->tfrom > sel->tto) {
        fprintf(stderr, "wherelog %s: --from is after --to\n", cmd);
        return -EINVAL;
    }
    return 0;
}

/* ---------------------------------------------------------------- export */

int cli_time_arg(const char *cmd, const char *what, const char *text, bool end, int64_t *out)
{
    struct wtime t;
    if (wtime_parse(text, &t) != 0) {
        fprintf(stderr,
                "wherelog %s: --%s: '%s' is not a time (use YYYY-MM-DD, "
                "YYYY-MM-DDTHH:MM[:SS][Z|+HH:MM] or epoch seconds)\n",
                cmd, what, text);
        return -EINVAL;
    }
    /* A range end names the last unit it covers: --to 2024-12-01 includes that day. */
    *out = end ? t.t + t.span - 1 : t.t;
    return 0;
}

int cli_export(int argc, char **argv)
{
    struct cli_selection sel = {0};
    const char *format = "json", *output = NULL, *fields_arg = NULL;
    const struct cli_option opts[] = {
        {"user", "USER", "whose track (required)", &sel.user, NULL},
        {"device", "DEVICE", "which device (required)", &sel.device, NULL},
        {"from", "TIME", "first moment, inclusive (default: the beginning)", &sel.from, NULL},
        {"to", "TIME", "last moment, inclusive; a date means the whole day (default: the end)",
         &sel.to, NULL},
        {"format", "FORMAT", "json, geojson, gpx or csv (default: json)", &format, NULL},
        {"fields", "LIST", "json and csv: only these members, in this order (tst,lat,lon)",
         &fields_arg, NULL},
        {"output", "FILE", "write to FILE instead of standard output (- is standard output)",
         &output, NULL}};
    const struct cli_command cmd = {
        "export",
        "export --user USER --device DEVICE [--from TIME] [--to TIME] "
        "[--format json|geojson|gpx|csv] [--fields LIST] [--output FILE]",
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
    struct q_track *t = NULL;
    enum fmt_kind kind;
    size_t nargs;
    int fd = STDOUT_FILENO, status = 1;
    int rc = cfg_load(&cfg, &cmd, argc, argv, NULL, &nargs);

    if (rc)
        return cli_usage_status(rc);
    cli_setup_logging(&cfg);
    if (!sel.user || !sel.device) {
        fprintf(stderr, "wherelog export: --user and --device are required\n");
        return 2;
    }
    if (cli_selection("export", &sel))
        return 2;
    if (fmt_parse(format, &kind) != 0 || kind == FMT_LINESTRING || kind == FMT_XML) {
        fprintf(stderr, "wherelog export: --format: '%s' is not json, geojson, gpx or csv\n",
                format);
        return 2;
    }
    char fields_buf[1024];
    const char *fields[FMT_MAX_FIELDS];
    int nfields = 0;
    if (fields_arg) {
        snprintf(fields_buf, sizeof(fields_buf), "%s", fields_arg);
        if ((nfields = fmt_split_fields(fields_buf, fields)) <= 0 ||
            strlen(fields_arg) >= sizeof(fields_buf)) {
            fprintf(stderr,
                    "wherelog export: --fields: a comma-separated list of at most %d "
                    "names\n",
                    FMT_MAX_FIELDS);
            return 2;
        }
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
    struct q_range range = {.from = sel.tfrom, .to = sel.tto};
    struct fmt_options fo = {.fields = nfields ? fields : NULL, .nfields = (size_t)nfields};
    rc = q_track_open(s, sel.uname, sel.dname, &range, kind, &fo, &out, &t);
    if (rc == -ENOENT) {
        fprintf(stderr, "wherelog export: no device %s/%s in the store\n", sel.uname, sel.dname);
        goto out;
    }
    while (rc == 0 && (rc = q_track_fill(t, &out, SIZE_MAX)) == 1)
        rc = 0;
    if (rc == 0)
        rc = sink_flush(&out);
    if (rc) {
        fprintf(stderr, "wherelog export: %s\n", wl_strerror(rc));
        goto out;
    }
    if (q_track_skipped(t))
        fprintf(stderr, "wherelog export: %llu damaged records skipped (see 'wherelog check')\n",
                (unsigned long long)q_track_skipped(t));
    status = 0;
out:
    q_track_close(t);
    sink_free(&out);
    if (fd != STDOUT_FILENO && fd >= 0 && close(fd) != 0 && status == 0) {
        fprintf(stderr, "wherelog export: %s: %s\n", output, strerror(errno));
        status = 1;
    }
    store_close(s);
    return status;
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
        fprintf(stderr, "secret (at most %d bytes): ", OT_SECRET_MAX);
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
    char uname[OT_NAME_MAX + 1], dname[OT_NAME_MAX + 1];
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
        if (strlen(secret) > OT_SECRET_MAX)
            fprintf(stderr,
                    "wherelog key: note: OwnTracks uses only the first %d bytes of the "
                    "secret\n",
                    OT_SECRET_MAX);
    }
    if (cli_open_store("key", &cfg, !list, &s))
        return 1;
    if (list) {
        rc = store_key_list(s, print_key, NULL);
    } else if (set) {
        size_t len = strlen(secret);
        rc = store_key_set(s, uname, dname, (const unsigned char *)secret,
                           len > OT_SECRET_MAX ? OT_SECRET_MAX : len);
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
