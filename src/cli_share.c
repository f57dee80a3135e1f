/*
 * cli_share.c - wherelog share (links that show a device to people without an account) and
 * wherelog private (the circles such links never show a point inside). share.h has the rules.
 */
#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "cli_internal.h"
#include "share.h"
#include "wl.h"
#include "wtime.h"

/* The link's base: public-url, else the server's own HTTP address (https with TLS). */
static void link_base(const struct wl_config *cfg, char *buf, size_t size)
{
    size_t n;
    if (cfg->public_url[0]) {
        snprintf(buf, size, "%s", cfg->public_url);
    } else {
        bool v6 = strchr(cfg->http_host, ':') != NULL;
        snprintf(buf, size, "%s://%s%s%s:%ld", cfg->http_tls_cert[0] ? "https" : "http",
                 v6 ? "[" : "", cfg->http_host, v6 ? "]" : "", cfg->http_port);
    }
    n = strlen(buf);
    while (n && buf[n - 1] == '/') /* the path adds its own */
        buf[--n] = '\0';
}

static void print_time(int64_t t)
{
    char iso[WTIME_ISO_SIZE];
    if (!t) {
        fputs("-", stdout);
        return;
    }
    wtime_iso(t, iso);
    fputs(iso, stdout);
}

/* One line per share, tab-separated under a header; never the secret (only its hash is
 * stored). */
static int print_share(void *arg, const struct store_share *sh)
{
    const int64_t *now = arg;
    printf("%s\t%s\t%s\t%s/%s\t%s\t", sh->user, sh->id, sh->label[0] ? sh->label : "-", sh->owner,
           sh->device, sh->live ? "live" : "range");
    if (sh->live) {
        fputs("-", stdout);
    } else {
        print_time(sh->from);
        fputs("..", stdout);
        print_time(sh->to);
    }
    putchar('\t');
    print_time(sh->created);
    putchar('\t');
    print_time(sh->expires);
    if (*now >= sh->expires)
        fputs(" (expired)", stdout);
    putchar('\t');
    print_time(sh->last_opened);
    printf("\t%s\n", sh->revoked ? "revoked" : "no");
    return 0;
}

int cli_share(int argc, char **argv)
{
    const char *user = NULL, *device = NULL, *owner = NULL, *from = NULL, *to = NULL;
    const char *expires = NULL, *label = NULL, *id = NULL;
    bool live = false;
    const struct cli_option opts[] = {
        {"user", "USER", "whose share (create, revoke: required; list: only this user's)", &user,
         NULL},
        {"device", "DEVICE", "create: the device to show (required)", &device, NULL},
        {"owner", "USER", "create: the device's user, when not --user", &owner, NULL},
        {"live", NULL, "create: its live position", NULL, &live},
        {"from", "TIME", "create: the start of the track shown", &from, NULL},
        {"to", "TIME", "create: its end", &to, NULL},
        {"expires", "WHEN", "create: a duration (90m, 24h, 30d) or a time (required)", &expires,
         NULL},
        {"label", "TEXT", "create: a label for the list", &label, NULL},
        {"id", "ID", "revoke: the share's id (from list)", &id, NULL}};
    const struct cli_command cmd = {
        "share",
        "share create --user U --device D (--live | --from T --to T) --expires WHEN [--label L] "
        "| share list [--user U] | share revoke --user U --id ID",
        "Manages share links: a URL that shows one device's live position or a range of its\n"
        "track, read-only, to anyone who has it, until it expires (a minute to a year) or is\n"
        "revoked. 'create' prints the link once, on standard output (public-url, or the\n"
        "server's HTTP address); only its hash is stored. 'revoke' takes effect at once, also\n"
        "for a server that is running. Points inside the user's private circles (wherelog\n"
        "private) are never shown.",
        CFG_ALL,
        opts,
        WL_ARRAY_LEN(opts),
        1,
        1};
    struct wl_config cfg;
    struct store *s;
    const char *args[1];
    size_t nargs;
    char uname[OWNTRACKS_NAME_MAX + 1], oname[OWNTRACKS_NAME_MAX + 1];
    char dname[OWNTRACKS_NAME_MAX + 1];
    int64_t now = time(NULL), t_from = 0, t_to = 0;
    int rc = cfg_load(&cfg, &cmd, argc, argv, args, &nargs);

    if (rc)
        return cli_usage_status(rc);
    cli_setup_logging(&cfg);
    bool create = strcmp(args[0], "create") == 0, list = strcmp(args[0], "list") == 0;
    bool revoke = strcmp(args[0], "revoke") == 0;
    bool create_opts = device || owner || live || from || to || expires || label;
    if (!create && !list && !revoke) {
        fprintf(stderr, "wherelog share: usage: wherelog %s\n", cmd.usage);
        return 2;
    }
    if ((list && (create_opts || id)) || (revoke && (create_opts || !user || !id)) ||
        (create && (id || !user || !device || !expires))) {
        fprintf(stderr, "wherelog share: usage: wherelog %s\n", cmd.usage);
        return 2;
    }
    if (create && live == (from || to)) {
        fprintf(stderr, "wherelog share: create takes --live, or --from and --to\n");
        return 2;
    }
    if (create && !live && (!from || !to)) {
        fprintf(stderr, "wherelog share: a range needs both --from and --to\n");
        return 2;
    }
    if ((user && cli_name_arg("share", "user", user, uname)) ||
        (owner && cli_name_arg("share", "owner", owner, oname)) ||
        (device && cli_name_arg("share", "device", device, dname)) ||
        (from && cli_time_arg("share", "from", from, false, &t_from)) ||
        (to && cli_time_arg("share", "to", to, true, &t_to)))
        return 2;
    if (cli_open_store("share", &cfg, !list, &s))
        return 1;
    if (list) {
        printf("USER\tID\tLABEL\tDEVICE\tKIND\tRANGE\tCREATED\tEXPIRES\tLAST OPENED\tREVOKED\n");
        rc = store_share_list(s, user ? uname : NULL, print_share, &now);
    } else if (revoke) {
        rc = store_share_revoke(s, uname, id);
        if (rc == 0)
            fprintf(stderr, "wherelog share: revoked %s's share %s\n", uname, id);
        else if (rc == -ENOENT || rc == -EINVAL)
            fprintf(stderr, "wherelog share: %s has no share %s\n", uname, id);
    } else {
        char secret[SHARE_SECRET_SIZE], base[CFG_STR + 32];
        struct store_share sh;
        const char *why = "";
        struct share_request sr = {.creator = uname,
                                   .owner = owner ? oname : uname,
                                   .device = dname,
                                   .live = live,
                                   .from = t_from,
                                   .to = t_to,
                                   .expires = expires,
                                   .label = label};
        rc = share_create(s, &sr, now, secret, &sh, &why);
        if (rc == 0) {
            char until[WTIME_ISO_SIZE];
            link_base(&cfg, base, sizeof(base));
            wtime_iso(sh.expires, until);
            printf("%s/s/%s\n", base, secret);
            fprintf(stderr,
                    "wherelog share: created %s's share %s of %s/%s until %s; the link above is "
                    "shown only this once\n",
                    uname, sh.id, sh.owner, sh.device, until);
        } else if (rc == -EINVAL || rc == -ENOENT) {
            fprintf(stderr, "wherelog share: %s\n", why);
            store_close(s);
            return 2;
        }
        sodium_memzero(secret, sizeof(secret));
    }
    store_close(s);
    if (rc && rc != -ENOENT && rc != -EINVAL)
        fprintf(stderr, "wherelog share: %s\n", wl_strerror(rc));
    return rc ? 1 : 0;
}

static int print_private(void *arg, const struct store_private *p)
{
    (void)arg;
    printf("%s\t%s\t%.6f\t%.6f\t%.0f\n", p->user, p->name, p->lat, p->lon, p->radius_m);
    return 0;
}

/* A number within [lo, hi]; false otherwise. */
static bool number_arg(const char *text, double lo, double hi, double *out)
{
    char *end;
    if (!text || !*text)
        return false;
    *out = strtod(text, &end);
    return *end == '\0' && *out >= lo && *out <= hi;
}

int cli_private(int argc, char **argv)
{
    const char *user = NULL, *name = NULL, *lat = NULL, *lon = NULL, *radius = NULL;
    const struct cli_option opts[] = {
        {"user", "USER", "whose private place (add, remove: required; list: only this user's)",
         &user, NULL},
        {"name", "NAME", "add, remove: the place's name (required)", &name, NULL},
        {"lat", "DEGREES", "add: its centre's latitude", &lat, NULL},
        {"lon", "DEGREES", "add: its centre's longitude", &lon, NULL},
        {"radius", "METRES", "add: its radius (1 to 50000)", &radius, NULL}};
    const struct cli_command cmd = {
        "private",
        "private add --user U --name N --lat L --lon L --radius M | private list [--user U] | "
        "private remove --user U --name N",
        "Manages a user's private places: circles inside which a share link never shows a\n"
        "point (the track is cut there; a live view says only \"at a private place\").\n"
        "Changes take effect at once, also for a server that is running.",
        CFG_ALL,
        opts,
        WL_ARRAY_LEN(opts),
        1,
        1};
    struct wl_config cfg;
    struct store *s;
    const char *args[1];
    size_t nargs;
    struct store_private p = {0};
    int rc = cfg_load(&cfg, &cmd, argc, argv, args, &nargs);

    if (rc)
        return cli_usage_status(rc);
    cli_setup_logging(&cfg);
    bool add = strcmp(args[0], "add") == 0, list = strcmp(args[0], "list") == 0;
    bool remove = strcmp(args[0], "remove") == 0;
    if ((!add && !list && !remove) || (list && (name || lat || lon || radius)) ||
        (remove && (!user || !name || lat || lon || radius)) || (add && (!user || !name))) {
        fprintf(stderr, "wherelog private: usage: wherelog %s\n", cmd.usage);
        return 2;
    }
    if (add && (!number_arg(lat, -90, 90, &p.lat) || !number_arg(lon, -180, 180, &p.lon) ||
                !number_arg(radius, 1, STORE_PRIVATE_RADIUS_MAX, &p.radius_m))) {
        fprintf(stderr, "wherelog private: add needs --lat (-90..90), --lon (-180..180) and "
                        "--radius (1..50000 metres)\n");
        return 2;
    }
    if ((user && cli_name_arg("private", "user", user, p.user)) ||
        (name && cli_name_arg("private", "name", name, p.name)))
        return 2;
    if (cli_open_store("private", &cfg, !list, &s))
        return 1;
    if (list) {
        printf("USER\tNAME\tLAT\tLON\tRADIUS\n");
        rc = store_private_list(s, user ? p.user : NULL, print_private, NULL);
    } else if (remove) {
        rc = store_private_delete(s, p.user, p.name);
        if (rc == -ENOENT)
            fprintf(stderr, "wherelog private: %s has no private place %s\n", p.user, p.name);
    } else {
        rc = store_private_put(s, &p);
    }
    store_close(s);
    if (rc && rc != -ENOENT)
        fprintf(stderr, "wherelog private: %s\n", wl_strerror(rc));
    return rc ? 1 : 0;
}
