/*
 * config.h - settings and the command line.
 *
 * Every setting has one name used everywhere: the flag --NAME, the key NAME in the
 * configuration file, and the environment variable WHERELOG_NAME (upper case, '-' as '_').
 * Precedence, lowest first: built-in defaults < configuration file (--config FILE or
 * WHERELOG_CONFIG) < environment < command-line flags. `wherelog serve --check` prints the
 * effective value of each setting and where it came from.
 *
 * The configuration file holds lines "name = value"; '#' at the start of a line or after a
 * blank starts a comment (so "topic = owntracks/#" works); values may be
 * wrapped in double quotes; a list setting (topic) may repeat. An unknown name is an error.
 *
 * A struct wl_config is built by cfg_load() at start-up and belongs to the thread that runs
 * the command. `wherelog serve` reloads on SIGHUP (serve.c, in that same thread): it loads a
 * new one and copies into the running one only the settings a reload applies (log-level,
 * log-rejections, tile-url, tile-attribution, tile-max-zoom, retain-days, retain-user,
 * retain-interval); the modules that use those get the new values through their own calls
 * (wl_log_set_level, ingest_set_log_limit, api_set_tiles, a new prune), so no other thread
 * reads a wl_config while it changes. Every other setting keeps its start-up value until
 * a restart.
 */
#ifndef WL_CONFIG_H
#define WL_CONFIG_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>

#define CFG_LIST_MAX 16  /* values of a repeatable setting */
#define CFG_STR      256 /* host names, user names, client ids, topic filters, origins */

/* The highest tile zoom when tile-max-zoom is not set: OpenStreetMap's tile servers go to 19.
 * The web map takes it from GET /api/0/config, so this is its one source. */
#define CFG_TILE_MAX_ZOOM_DEFAULT 19

enum cfg_source { CFG_DEFAULT, CFG_FILE, CFG_ENV, CFG_FLAG };

/* Which commands a setting applies to. */
enum cfg_scope { CFG_ALL = 1, CFG_SERVE = 2 };

/* A repeatable setting (topic, retain-user, geocoder). */
struct cfg_list {
    char v[CFG_LIST_MAX][CFG_STR];
    int n;
};

struct wl_config {
    char config_file[PATH_MAX];
    char storage[PATH_MAX];
    char log_level[16];
    bool syslog;

    char mqtt_host[CFG_STR];
    long mqtt_port;
    char mqtt_user[CFG_STR];
    char mqtt_password_file[PATH_MAX];
    char mqtt_cafile[PATH_MAX];
    char mqtt_certfile[PATH_MAX];
    char mqtt_keyfile[PATH_MAX];
    char mqtt_client_id[CFG_STR];
    struct cfg_list topics;
    long qos;
    long mqtt_keepalive;
    bool mqtt;
    long log_rejections;

    char public_url[CFG_STR]; /* where people reach the server (share links); "": http-host */
    char http_host[CFG_STR];
    long http_port;
    char docroot[PATH_MAX];
    char leaflet_dir[PATH_MAX];
    char http_cors[CFG_STR];
    long http_max_body;
    long http_connections;
    long http_per_ip;
    long http_timeout;
    long http_threads;
    char http_auth[8];
    char http_auth_file[PATH_MAX];
    char http_acl_file[PATH_MAX];
    char http_tls_cert[PATH_MAX];
    char http_tls_key[PATH_MAX];
    char tile_url[CFG_STR];
    char tile_attribution[CFG_STR];
    long tile_max_zoom;
    long retain_days;
    struct cfg_list retain_user;
    long retain_interval;
    long battery_low;
    long silence_after;
    long webhook_max_age;
    long webhook_max_count;
    long webhook_backoff_max;
    char event_topic[CFG_STR];
    bool ha_discovery;
    char ha_prefix[CFG_STR];
    struct cfg_list geocoder;
    char geocoder_contact[CFG_STR];
    long geocoder_timeout;
    long geocoder_max_age;
    long geohash_precision;
    /* The timeline's defaults for users without their own (store_options.timeline). */
    char timezone[64];
    long stay_radius;     /* metres */
    long stay_time;       /* seconds */
    bool timeline_ingest; /* false: store_set_timeline_deferred */

    enum cfg_source source[64]; /* per setting, indexed like the settings table */
};

/* A command and its options (cli_command.h). */
struct cli_command;

/*
 * Fills cfg from defaults, the configuration file, the environment and argv (argv[0] is
 * the command name), storing command options through cmd->options and positional
 * arguments in args (at most cmd->max_args). Returns 0; 1 if --help was given (help is
 * printed); or -EINVAL after printing a one-line reason to stderr.
 */
int cfg_load(struct wl_config *cfg, const struct cli_command *cmd, int argc, char **argv,
             const char **args, size_t *nargs);

/* Prints the command's help, with each setting's default and environment variable. */
void cfg_print_help(const struct cli_command *cmd, const char *default_storage);

/* Prints every setting the command takes with its value and source ("serve --check"). */
void cfg_print_effective(const struct wl_config *cfg, unsigned scope);

/* The default storage directory: /var/lib/wherelog for root, else
 * $XDG_DATA_HOME/wherelog or ~/.local/share/wherelog. */
void cfg_default_storage(char *buf, size_t size);

/* Calls fn(arg, name) for each setting whose value differs between a and b (reload). */
void cfg_each_difference(const struct wl_config *a, const struct wl_config *b,
                         void (*fn)(void *arg, const char *name), void *arg);

/*
 * Finds the web map's directory. That is cfg->docroot when it holds index.html. Otherwise, when
 * docroot is the built-in default (the installed files) and this binary runs from a meson build
 * tree (meson-info/meson-info.json beside /proc/self/exe, as for build/wherelog in a checkout),
 * it is the web/ directory of the checkout it was built from, so that a build that was never
 * installed serves its own map. Writes the directory to buf and returns 0; *from_checkout says
 * which of the two it is. Returns -ENOENT when neither holds index.html (buf then holds
 * cfg->docroot: other static files there are still served), -ENAMETOOLONG if buf is too small.
 */
int cfg_find_docroot(const struct wl_config *cfg, char *buf, size_t size, bool *from_checkout);

/* A duration of a setting (wtime_parse_duration): at most a leap year. Returns 0, or -EINVAL. */
int cfg_parse_duration(const char *text, long *seconds);

/* Reads the first line of a small file (a password), without its line end ("" for an empty
 * file). Returns 0, -E2BIG if the line does not fit in size bytes, or the -errno of opening
 * it. */
int cfg_read_secret_file(const char *path, char *buf, size_t size);

#endif
