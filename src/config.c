#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <json-c/json.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "cli_command.h"
#include "log.h"
#include "store.h"
#include "timeline.h"
#include "wl.h"
#include "wtime.h"

enum setting_type { T_STR, T_INT, T_BOOL, T_LIST, T_LEVEL, T_DURATION };

struct setting {
    const char *name;
    enum setting_type type;
    size_t off, size;
    long min, max;
    const char *def; /* NULL: computed (storage) */
    unsigned scope;
    const char *arg;
    const char *help;
};

#define STR(field) offsetof(struct wl_config, field), sizeof(((struct wl_config *)0)->field)
#define NUM(field) offsetof(struct wl_config, field), 0
/* A numeric default as the text the settings table holds. */
#define DEFAULT_TEXT(n)  DEFAULT_TEXT_(n)
#define DEFAULT_TEXT_(n) #n

static const struct setting settings[] = {
    {"config", T_STR, STR(config_file), 0, 0, "", CFG_ALL, "FILE", "read settings from this file"},
    {"storage", T_STR, STR(storage), 0, 0, NULL, CFG_ALL, "DIR", "the store's directory"},
    {"log-level", T_LEVEL, STR(log_level), 0, 0, "info", CFG_ALL, "LEVEL",
     "error, warn, info or debug"},
    {"syslog", T_BOOL, NUM(syslog), 0, 1, "false", CFG_ALL, NULL,
     "log to syslog instead of stderr"},
    {"mqtt-host", T_STR, STR(mqtt_host), 0, 0, "localhost", CFG_SERVE, "HOST", "MQTT broker host"},
    {"mqtt-port", T_INT, NUM(mqtt_port), 1, 65535, "1883", CFG_SERVE, "PORT", "MQTT broker port"},
    {"mqtt-user", T_STR, STR(mqtt_user), 0, 0, "", CFG_SERVE, "USER",
     "MQTT user name (empty: anonymous)"},
    {"mqtt-password-file", T_STR, STR(mqtt_password_file), 0, 0, "", CFG_SERVE, "FILE",
     "file whose first line is the MQTT password"},
    {"mqtt-cafile", T_STR, STR(mqtt_cafile), 0, 0, "", CFG_SERVE, "FILE",
     "CA certificate(s) for the broker; enables TLS"},
    {"mqtt-certfile", T_STR, STR(mqtt_certfile), 0, 0, "", CFG_SERVE, "FILE",
     "client certificate (with --mqtt-keyfile)"},
    {"mqtt-keyfile", T_STR, STR(mqtt_keyfile), 0, 0, "", CFG_SERVE, "FILE",
     "client certificate's private key"},
    {"mqtt-client-id", T_STR, STR(mqtt_client_id), 0, 0, "", CFG_SERVE, "ID",
     "MQTT client id (default: wherelog-<id of the store>, stable across restarts)"},
    {"topic", T_LIST, NUM(topics), 0, 0, "owntracks/#", CFG_SERVE, "FILTER",
     "topic filter to subscribe to (repeatable)"},
    {"qos", T_INT, NUM(qos), 1, 2, "1", CFG_SERVE, "1|2", "subscription QoS"},
    {"mqtt-keepalive", T_INT, NUM(mqtt_keepalive), 5, 3600, "60", CFG_SERVE, "SECONDS",
     "MQTT keepalive interval"},
    {"mqtt", T_BOOL, NUM(mqtt), 0, 1, "true", CFG_SERVE, NULL,
     "connect to the MQTT broker (--mqtt=false: HTTP mode only)"},
    {"log-rejections", T_INT, NUM(log_rejections), 0, 1000000, "30", CFG_SERVE, "N",
     "log at most N rejected messages per minute, 0 for all (all are counted)"},
    {"http-host", T_STR, STR(http_host), 0, 0, "127.0.0.1", CFG_SERVE, "ADDRESS",
     "address the HTTP server listens on"},
    {"http-port", T_INT, NUM(http_port), 0, 65535, "8083", CFG_SERVE, "PORT",
     "HTTP port (0: no HTTP server)"},
    {"public-url", T_STR, STR(public_url), 0, 0, "", CFG_ALL, "URL",
     "the server's address as others reach it, for share links (empty: http-host and port)"},
    {"docroot", T_STR, STR(docroot), 0, 0, WHERELOG_WEBDIR, CFG_SERVE, "DIR",
     "the web map's files"},
    {"leaflet-dir", T_STR, STR(leaflet_dir), 0, 0, "/usr/share/javascript/leaflet", CFG_SERVE,
     "DIR", "Leaflet (Debian's libjs-leaflet), served under /vendor/leaflet/"},
    {"http-cors", T_STR, STR(http_cors), 0, 0, "", CFG_SERVE, "ORIGIN",
     "Access-Control-Allow-Origin for the API (empty: none, same origin only)"},
    {"http-max-body", T_INT, NUM(http_max_body), 1024, 64 << 20, "1048576", CFG_SERVE, "BYTES",
     "largest request body accepted"},
    {"http-connections", T_INT, NUM(http_connections), 1, 65535, "512", CFG_SERVE, "N",
     "HTTP connections at most"},
    {"http-per-ip", T_INT, NUM(http_per_ip), 0, 65535, "64", CFG_SERVE, "N",
     "HTTP connections per client address at most (0: no limit)"},
    {"http-timeout", T_INT, NUM(http_timeout), 1, 3600, "30", CFG_SERVE, "SECONDS",
     "close HTTP connections idle this long"},
    {"http-threads", T_INT, NUM(http_threads), 1, 64, "2", CFG_SERVE, "N", "HTTP server threads"},
    {"http-auth", T_STR, STR(http_auth), 0, 0, "auto", CFG_SERVE, "auto|on|off",
     "HTTP Basic authentication (auto: on when an auth file is given or the address is not "
     "loopback)"},
    {"http-auth-file", T_STR, STR(http_auth_file), 0, 0, "", CFG_SERVE, "FILE",
     "htpasswd file of who may sign in (bcrypt or yescrypt: htpasswd -B)"},
    {"http-acl-file", T_STR, STR(http_acl_file), 0, 0, "", CFG_SERVE, "FILE",
     "which users each user may see (\"mum: dad, kids\"; \"*\"; \"@admin\")"},
    {"http-tls-cert", T_STR, STR(http_tls_cert), 0, 0, "", CFG_SERVE, "FILE",
     "certificate chain (PEM): serve HTTPS"},
    {"http-tls-key", T_STR, STR(http_tls_key), 0, 0, "", CFG_SERVE, "FILE",
     "the certificate's private key (PEM)"},
    {"tile-url", T_STR, STR(tile_url), 0, 0, "https://tile.openstreetmap.org/{z}/{x}/{y}.png",
     CFG_SERVE, "URL", "map tiles for the web map ({z}/{x}/{y} template)"},
    {"tile-attribution", T_STR, STR(tile_attribution), 0, 0,
     "&copy; <a href=\"https://www.openstreetmap.org/copyright\">OpenStreetMap</a> contributors",
     CFG_SERVE, "HTML", "attribution shown with the tiles"},
    {"tile-max-zoom", T_INT, NUM(tile_max_zoom), 1, 24, DEFAULT_TEXT(CFG_TILE_MAX_ZOOM_DEFAULT),
     CFG_SERVE, "N", "highest zoom the tile server offers"},
    {"retain-days", T_INT, NUM(retain_days), 0, 100000, "0", CFG_SERVE, "DAYS",
     "remove points older than this many days (0: keep them forever)"},
    {"retain-user", T_LIST, NUM(retain_user), 0, 0, "", CFG_SERVE, "USER=DAYS",
     "retention for one user, overriding --retain-days (repeatable)"},
    {"retain-interval", T_INT, NUM(retain_interval), 1, 86400, "3600", CFG_SERVE, "SECONDS",
     "how often old points are looked for"},
    /* Events (store.h, "events") and where they go. */
    {"battery-low", T_INT, NUM(battery_low), 1, 99, DEFAULT_TEXT(STORE_BATTERY_LOW_DEFAULT),
     CFG_SERVE, "PERCENT", "a battery_low event when a device's battery falls below this"},
    {"silence-after", T_INT, NUM(silence_after), 0, 366 * 86400, "21600", CFG_SERVE, "SECONDS",
     "a silent event when a device sends nothing for this long (0: never)"},
    {"webhook-max-age", T_INT, NUM(webhook_max_age), 0, 366 * 86400, "604800", CFG_SERVE, "SECONDS",
     "drop undelivered webhook events older than this (0: keep them)"},
    {"webhook-max-count", T_INT, NUM(webhook_max_count), 0, 100000000, "100000", CFG_SERVE, "N",
     "keep at most this many undelivered webhook events (0: no limit)"},
    {"webhook-backoff-max", T_INT, NUM(webhook_backoff_max), 1, 86400, "300", CFG_SERVE, "SECONDS",
     "longest wait between two attempts to deliver to a failing webhook"},
    {"event-topic", T_STR, STR(event_topic), 0, 0, "wherelog/event/USER/DEVICE", CFG_SERVE, "TOPIC",
     "republish events on the broker under this topic (USER, DEVICE replaced; "
     "empty: not)"},
    {"ha-discovery", T_BOOL, NUM(ha_discovery), 0, 1, "false", CFG_SERVE, NULL,
     "announce each device to Home Assistant as a device tracker (MQTT discovery)"},
    {"ha-prefix", T_STR, STR(ha_prefix), 0, 0, "homeassistant", CFG_SERVE, "PREFIX",
     "Home Assistant's discovery prefix"},
    {"geocoder", T_LIST, NUM(geocoder), 0, 0, "", CFG_SERVE, "KIND[:URL][,key-file=FILE][,rate=R]",
     "reverse geocoder to ask for addresses, in order (repeatable): nominatim, photon or "
     "opencage; none: names come from the offline cities only and nothing leaves the machine"},
    {"geocoder-contact", T_STR, STR(geocoder_contact), 0, 0, "", CFG_SERVE, "EMAIL|URL",
     "how a geocoder's operator can reach you, sent in the User-Agent"},
    {"geocoder-timeout", T_INT, NUM(geocoder_timeout), 1, 300, "10", CFG_SERVE, "SECONDS",
     "give up on a geocoder's answer after this long"},
    {"geocoder-max-age", T_INT, NUM(geocoder_max_age), 1, 36500, "365", CFG_SERVE, "DAYS",
     "ask a geocoder again about a place named longer ago than this"},
    {"geohash-precision", T_INT, NUM(geohash_precision), 1, 12, "7", CFG_SERVE, "1..12",
     "geohash length of the places named (7: about 150 m, as the OwnTracks Recorder)"},
    /* The timeline's defaults: every command that opens the store may run the detector. */
    {"timezone", T_STR, STR(timezone), 0, 0, "", CFG_ALL, "ZONE",
     "time zone of users' days, an IANA name such as Europe/Paris (empty: the server's); "
     "`wherelog settings` sets a user's own"},
    {"stay-radius", T_INT, NUM(stay_radius), 5, 5000, "100", CFG_ALL, "METRES",
     "timeline: fixes within this of a place's centre are a stay there"},
    {"stay-time", T_DURATION, NUM(stay_time), 30, 86400, DEFAULT_TEXT(TL_STAY_MIN_DEFAULT), CFG_ALL,
     "DURATION", "timeline: the least time at one place that makes a stay (300, 5m)"},
    {"timeline-ingest", T_BOOL, NUM(timeline_ingest), 0, 1, "true", CFG_SERVE, NULL,
     "keep each device's timeline as its points arrive (false: only note what changed, and "
     "build timelines when they are read: for a bulk load)"},
};
_Static_assert((long)TL_STAY_RADIUS_DEFAULT == 100, "stay-radius's default is timeline.h's");

#define NSETTINGS (sizeof(settings) / sizeof(settings[0]))
_Static_assert(NSETTINGS <= sizeof(((struct wl_config *)0)->source) / sizeof(enum cfg_source),
               "source array too small");

static const char *const source_names[] = {"default", "file", "environment", "flag"};

void cfg_default_storage(char *buf, size_t size)
{
    const char *xdg = getenv("XDG_DATA_HOME"), *home = getenv("HOME");

    if (geteuid() == 0)
        snprintf(buf, size, "/var/lib/wherelog");
    else if (xdg && xdg[0] == '/')
        snprintf(buf, size, "%s/wherelog", xdg);
    else if (home && home[0] == '/')
        snprintf(buf, size, "%s/.local/share/wherelog", home);
    else
        snprintf(buf, size, "./wherelog-store");
}

static void env_name(const struct setting *s, char *buf, size_t size)
{
    size_t o = (size_t)snprintf(buf, size, "WHERELOG_");
    for (const char *p = s->name; *p && o + 1 < size; p++)
        buf[o++] = *p == '-' ? '_' : (char)toupper((unsigned char)*p);
    buf[o] = '\0';
}

static bool parse_bool(const char *v, bool *out)
{
    static const char *const yes[] = {"true", "yes", "on", "1"}, *const no[] = {"false", "no",
                                                                                "off", "0"};
    for (size_t i = 0; i < 4; i++) {
        if (strcasecmp(v, yes[i]) == 0) {
            *out = true;
            return true;
        }
        if (strcasecmp(v, no[i]) == 0) {
            *out = false;
            return true;
        }
    }
    return false;
}

/* Sets one setting; on error writes the reason into err. */
static int set_value(struct wl_config *cfg, size_t idx, const char *value, enum cfg_source src,
                     char *err, size_t errsize)
{
    const struct setting *s = &settings[idx];
    char *base = (char *)cfg;

    switch (s->type) {
    case T_STR:
        if (snprintf(base + s->off, s->size, "%s", value) >= (int)s->size) {
            snprintf(err, errsize, "value longer than %zu bytes", s->size - 1);
            return -EINVAL;
        }
        break;
    case T_LEVEL: {
        enum wl_log_level level;
        if (wl_log_parse_level(value, &level) != 0) {
            snprintf(err, errsize, "'%s' is not error, warn, info or debug", value);
            return -EINVAL;
        }
        snprintf(base + s->off, s->size, "%s", value);
        break;
    }
    case T_INT: {
        char *end;
        errno = 0;
        long v = strtol(value, &end, 10);
        if (errno || end == value || *end || v < s->min || v > s->max) {
            snprintf(err, errsize, "'%s' is not a number within %ld..%ld", value, s->min, s->max);
            return -EINVAL;
        }
        *(long *)(base + s->off) = v;
        break;
    }
    case T_DURATION: {
        long v;
        if (cfg_parse_duration(value, &v) != 0 || v < s->min || v > s->max) {
            snprintf(err, errsize, "'%s' is not a duration within %ld..%ld seconds (300, 5m, 1h)",
                     value, s->min, s->max);
            return -EINVAL;
        }
        *(long *)(base + s->off) = v;
        break;
    }
    case T_BOOL:
        if (!parse_bool(value, (bool *)(base + s->off))) {
            snprintf(err, errsize, "'%s' is not true or false", value);
            return -EINVAL;
        }
        break;
    case T_LIST: {
        struct cfg_list *l = (struct cfg_list *)(base + s->off);
        /* A list from a stronger source replaces the weaker one instead of extending it. */
        if (cfg->source[idx] < src)
            l->n = 0;
        if (l->n >= CFG_LIST_MAX) {
            snprintf(err, errsize, "at most %d values", CFG_LIST_MAX);
            return -EINVAL;
        }
        if (value[0] == '\0' || strlen(value) >= CFG_STR) {
            snprintf(err, errsize, "a value must be 1..%d bytes", CFG_STR - 1);
            return -EINVAL;
        }
        snprintf(l->v[l->n++], CFG_STR, "%s", value);
        break;
    }
    }
    cfg->source[idx] = src;
    return 0;
}

static int find_setting(const char *name, size_t len, unsigned scope)
{
    for (size_t i = 0; i < NSETTINGS; i++)
        if ((settings[i].scope & scope) && strlen(settings[i].name) == len &&
            strncmp(settings[i].name, name, len) == 0)
            return (int)i;
    return -1;
}

static char *trim(char *s)
{
    while (isspace((unsigned char)*s))
        s++;
    char *e = s + strlen(s);
    while (e > s && isspace((unsigned char)e[-1]))
        *--e = '\0';
    return s;
}

static int load_file(struct wl_config *cfg, const char *path)
{
    FILE *f = fopen(path, "r");
    char line[PATH_MAX + 64], err[160];
    int lineno = 0, rc = 0;

    if (!f) {
        fprintf(stderr, "wherelog: cannot read configuration %s: %s\n", path, strerror(errno));
        return -errno;
    }
    while (rc == 0 && fgets(line, sizeof(line), f)) {
        lineno++;
        if (!strchr(line, '\n') && !feof(f)) {
            fprintf(stderr, "wherelog: %s:%d: line too long\n", path, lineno);
            rc = -EINVAL;
            break;
        }
        /* '#' starts a comment at the start of a line or after a blank, outside quotes, so
         * that "topic = owntracks/#" keeps its wildcard. */
        bool quoted = false;
        for (char *c = line; *c; c++) {
            if (*c == '"')
                quoted = !quoted;
            else if (*c == '#' && !quoted && (c == line || c[-1] == ' ' || c[-1] == '\t')) {
                *c = '\0';
                break;
            }
        }
        char *p = trim(line);
        if (*p == '\0')
            continue;
        char *eq = strchr(p, '=');
        if (!eq) {
            fprintf(stderr, "wherelog: %s:%d: expected 'name = value'\n", path, lineno);
            rc = -EINVAL;
            break;
        }
        *eq = '\0';
        char *name = trim(p), *value = trim(eq + 1);
        size_t vl = strlen(value);
        if (vl >= 2 && value[0] == '"' && value[vl - 1] == '"') {
            value[vl - 1] = '\0';
            value++;
        }
        int idx = find_setting(name, strlen(name), CFG_ALL | CFG_SERVE);
        if (idx < 0 || strcmp(name, "config") == 0) {
            fprintf(stderr, "wherelog: %s:%d: unknown setting '%s'\n", path, lineno, name);
            rc = -EINVAL;
            break;
        }
        if (set_value(cfg, (size_t)idx, value, CFG_FILE, err, sizeof(err)) != 0) {
            fprintf(stderr, "wherelog: %s:%d: %s: %s\n", path, lineno, name, err);
            rc = -EINVAL;
        }
    }
    fclose(f);
    return rc;
}

static int load_env(struct wl_config *cfg)
{
    char name[64], err[160];

    for (size_t i = 0; i < NSETTINGS; i++) {
        env_name(&settings[i], name, sizeof(name));
        const char *v = getenv(name);
        if (!v || i == 0) /* WHERELOG_CONFIG was handled before the file */
            continue;
        if (settings[i].type == T_LIST) {
            /* Lists in the environment are separated by white space. */
            char buf[CFG_LIST_MAX * CFG_STR], *save = NULL;
            snprintf(buf, sizeof(buf), "%s", v);
            for (char *t = strtok_r(buf, " \t\n", &save); t; t = strtok_r(NULL, " \t\n", &save)) {
                if (set_value(cfg, i, t, CFG_ENV, err, sizeof(err)) != 0)
                    goto bad;
            }
            continue;
        }
        if (set_value(cfg, i, v, CFG_ENV, err, sizeof(err)) != 0)
            goto bad;
        continue;
    bad:
        fprintf(stderr, "wherelog: %s: %s\n", name, err);
        return -EINVAL;
    }
    return 0;
}

static void load_defaults(struct wl_config *cfg)
{
    char err[160];
    memset(cfg, 0, sizeof(*cfg));
    for (size_t i = 0; i < NSETTINGS; i++) {
        if (settings[i].def && settings[i].def[0])
            set_value(cfg, i, settings[i].def, CFG_DEFAULT, err, sizeof(err));
    }
    cfg_default_storage(cfg->storage, sizeof(cfg->storage));
}

static const struct cli_option *find_cmd_option(const struct cli_command *cmd, const char *name,
                                                size_t len)
{
    for (size_t i = 0; i < cmd->noptions; i++)
        if (strlen(cmd->options[i].name) == len && strncmp(cmd->options[i].name, name, len) == 0)
            return &cmd->options[i];
    return NULL;
}

int cfg_load(struct wl_config *cfg, const struct cli_command *cmd, int argc, char **argv,
             const char **args, size_t *nargs)
{
    const char *config = getenv("WHERELOG_CONFIG");
    char err[160];

    load_defaults(cfg);
    *nargs = 0;
    /* The file comes before the environment and flags, so find it first. */
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--") == 0)
            break;
        if (strcmp(argv[i], "--config") == 0 && i + 1 < argc)
            config = argv[i + 1];
        else if (strncmp(argv[i], "--config=", 9) == 0)
            config = argv[i] + 9;
    }
    if (config && config[0]) {
        snprintf(cfg->config_file, sizeof(cfg->config_file), "%s", config);
        cfg->source[0] = getenv("WHERELOG_CONFIG") == config ? CFG_ENV : CFG_FLAG;
        if (load_file(cfg, config) != 0)
            return -EINVAL;
    }
    if (load_env(cfg) != 0)
        return -EINVAL;

    bool positional_only = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (positional_only || a[0] != '-' || a[1] == '\0') {
            if (*nargs >= cmd->max_args) {
                fprintf(stderr, "wherelog %s: unexpected argument '%s' (see --help)\n", cmd->name,
                        a);
                return -EINVAL;
            }
            args[(*nargs)++] = a;
            continue;
        }
        if (strcmp(a, "--") == 0) {
            positional_only = true;
            continue;
        }
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            char storage[PATH_MAX];
            cfg_default_storage(storage, sizeof(storage));
            cfg_print_help(cmd, storage);
            return 1;
        }
        if (a[1] != '-') {
            fprintf(stderr, "wherelog %s: unknown option '%s' (see --help)\n", cmd->name, a);
            return -EINVAL;
        }
        const char *name = a + 2, *eq = strchr(name, '='), *value = eq ? eq + 1 : NULL;
        size_t len = eq ? (size_t)(eq - name) : strlen(name);
        const struct cli_option *o = find_cmd_option(cmd, name, len);
        int idx = o ? -1 : find_setting(name, len, cmd->scope);
        bool wants_value = o ? o->arg != NULL : idx >= 0 && settings[idx].type != T_BOOL;

        if (!o && idx < 0) {
            fprintf(stderr, "wherelog %s: unknown option '--%.*s' (see --help)\n", cmd->name,
                    (int)len, name);
            return -EINVAL;
        }
        if (wants_value && !value) {
            if (i + 1 >= argc) {
                fprintf(stderr, "wherelog %s: --%.*s needs a value\n", cmd->name, (int)len, name);
                return -EINVAL;
            }
            value = argv[++i];
        }
        if (o) {
            if (o->arg)
                *o->value = value;
            else if (value) {
                fprintf(stderr, "wherelog %s: --%s takes no value\n", cmd->name, o->name);
                return -EINVAL;
            } else
                *o->flag = true;
            continue;
        }
        if (idx == 0)
            continue; /* --config was read above */
        if (set_value(cfg, (size_t)idx, value ? value : "true", CFG_FLAG, err, sizeof(err))) {
            fprintf(stderr, "wherelog %s: --%s: %s\n", cmd->name, settings[idx].name, err);
            return -EINVAL;
        }
    }
    if (*nargs < cmd->min_args) {
        fprintf(stderr, "wherelog %s: missing arguments; usage: wherelog %s\n", cmd->name,
                cmd->usage);
        return -EINVAL;
    }
    return 0;
}

void cfg_print_help(const struct cli_command *cmd, const char *default_storage)
{
    char env[64], lhs[64];

    printf("usage: wherelog %s\n%s\n", cmd->usage, cmd->summary);
    if (cmd->noptions) {
        printf("\noptions:\n");
        for (size_t i = 0; i < cmd->noptions; i++) {
            const struct cli_option *o = &cmd->options[i];
            snprintf(lhs, sizeof(lhs), "--%s%s%s", o->name, o->arg ? " " : "",
                     o->arg ? o->arg : "");
            printf("  %-26s %s\n", lhs, o->help);
        }
    }
    printf("\nsettings (flag, WHERELOG_* environment variable, or key in the --config file;\n"
           "precedence: built-in default < config file < environment < flag):\n");
    for (size_t i = 0; i < NSETTINGS; i++) {
        const struct setting *s = &settings[i];
        if (!(s->scope & cmd->scope) || find_cmd_option(cmd, s->name, strlen(s->name)))
            continue; /* a command's own option of the same name wins (cfg_load) */
        env_name(s, env, sizeof(env));
        snprintf(lhs, sizeof(lhs), "--%s%s%s", s->name, s->arg ? " " : "", s->arg ? s->arg : "");
        const char *def = s->def ? s->def : default_storage;
        printf("  %-26s %s", lhs, s->help);
        if (def[0])
            printf(" (default: %s)", def);
        printf(" [%s]\n", env);
    }
    printf("  %-26s %s\n", "--help", "show this help");
}

void cfg_print_effective(const struct wl_config *cfg, unsigned scope)
{
    const char *base = (const char *)cfg;

    for (size_t i = 0; i < NSETTINGS; i++) {
        const struct setting *s = &settings[i];
        char value[PATH_MAX + 32];
        if (!(s->scope & scope))
            continue;
        switch (s->type) {
        case T_STR:
        case T_LEVEL: snprintf(value, sizeof(value), "%s", base + s->off); break;
        case T_INT:
        case T_DURATION:
            snprintf(value, sizeof(value), "%ld", *(const long *)(base + s->off));
            break;
        case T_BOOL:
            snprintf(value, sizeof(value), "%s", *(const bool *)(base + s->off) ? "true" : "false");
            break;
        case T_LIST: {
            const struct cfg_list *l = (const struct cfg_list *)(base + s->off);
            for (int t = 0; t < l->n; t++)
                printf("%-20s = %-40s # %s\n", s->name, l->v[t], source_names[cfg->source[i]]);
            continue;
        }
        }
        printf("%-20s = %-40s # %s\n", s->name, value, source_names[cfg->source[i]]);
    }
}

int cfg_parse_duration(const char *text, long *seconds)
{
    int64_t n;
    int rc = wtime_parse_duration(text, 366L * 86400, &n);
    if (rc == 0)
        *seconds = (long)n;
    return rc;
}

int cfg_read_secret_file(const char *path, char *buf, size_t size)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return -errno;
    int rc = 0;
    if (!fgets(buf, (int)size, f))
        buf[0] = '\0';
    else if (!strchr(buf, '\n') && !feof(f))
        rc = -E2BIG;
    fclose(f);
    buf[strcspn(buf, "\r\n")] = '\0';
    return rc;
}

void cfg_each_difference(const struct wl_config *a, const struct wl_config *b,
                         void (*fn)(void *arg, const char *name), void *arg)
{
    for (size_t i = 0; i < NSETTINGS; i++) {
        const struct setting *st = &settings[i];
        const char *pa = (const char *)a + st->off, *pb = (const char *)b + st->off;
        bool same;
        switch (st->type) {
        case T_STR:
        case T_LEVEL: same = strcmp(pa, pb) == 0; break;
        case T_INT:
        case T_DURATION: same = *(const long *)pa == *(const long *)pb; break;
        case T_BOOL: same = *(const bool *)pa == *(const bool *)pb; break;
        case T_LIST: {
            const struct cfg_list *la = (const void *)pa, *lb = (const void *)pb;
            same = la->n == lb->n;
            for (int k = 0; same && k < la->n; k++)
                same = strcmp(la->v[k], lb->v[k]) == 0;
            break;
        }
        default: same = true;
        }
        if (!same)
            fn(arg, st->name);
    }
}

static bool holds_the_map(const char *dir)
{
    char index[PATH_MAX + 16];
    int n = snprintf(index, sizeof(index), "%s/index.html", dir);
    return n > 0 && (size_t)n < sizeof(index) && access(index, R_OK) == 0;
}

/* The source directory of the meson build tree that holds this binary, from the
 * meson-info.json meson writes there; -ENOENT when the binary is not in one. */
static int checkout_of_build_tree(char *buf, size_t size)
{
    char exe[PATH_MAX], info[PATH_MAX + 32];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    if (n <= 0)
        return -ENOENT;
    exe[n] = '\0';
    char *slash = strrchr(exe, '/');
    if (!slash)
        return -ENOENT;
    *slash = '\0';
    int len = snprintf(info, sizeof(info), "%s/meson-info/meson-info.json", exe);
    if (len < 0 || (size_t)len >= sizeof(info))
        return -ENAMETOOLONG;
    struct json_object *root = json_object_from_file(info), *dirs, *source;
    int rc = -ENOENT;
    if (root && json_object_object_get_ex(root, "directories", &dirs) &&
        json_object_object_get_ex(dirs, "source", &source) &&
        json_object_is_type(source, json_type_string)) {
        len = snprintf(buf, size, "%s", json_object_get_string(source));
        rc = len >= 0 && (size_t)len < size ? 0 : -ENAMETOOLONG;
    }
    json_object_put(root);
    return rc;
}

int cfg_find_docroot(const struct wl_config *cfg, char *buf, size_t size, bool *from_checkout)
{
    char source[PATH_MAX];
    int n;

    *from_checkout = false;
    n = snprintf(buf, size, "%s", cfg->docroot);
    if (n < 0 || (size_t)n >= size)
        return -ENAMETOOLONG;
    if (holds_the_map(buf))
        return 0;
    int idx = find_setting("docroot", strlen("docroot"), CFG_SERVE);
    if (idx < 0 || cfg->source[idx] != CFG_DEFAULT ||
        checkout_of_build_tree(source, sizeof(source)))
        return -ENOENT;
    n = snprintf(buf, size, "%s/web", source);
    if (n < 0 || (size_t)n >= size || !holds_the_map(buf)) {
        snprintf(buf, size, "%s", cfg->docroot);
        return -ENOENT;
    }
    *from_checkout = true;
    return 0;
}
