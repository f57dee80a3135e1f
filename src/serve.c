/* wherelog serve: wires store, writer, ingest, the MQTT door, the HTTP server and the live
 * hub together and runs them until SIGINT or SIGTERM. */
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include "api.h"
#include "auth.h"
#include "cli.h"
#include "cli_command.h"
#include "cli_internal.h"
#include "config.h"
#include "event.h"
#include "ha.h"
#include "gazetteer.h"
#include "geocoder.h"
#include "http.h"
#include "ingest.h"
#include "live.h"
#include "log.h"
#include "metrics.h"
#include "mqtt.h"
#include "pack.h"
#include "placename.h"
#include "prune.h"
#include "store.h"
#include "version.h"
#include "webhook.h"
#include "wl.h"
#include "writer.h"
#include "zone.h"

struct mqtt_thread {
    struct mqtt *mqtt;
    int stop_fd;
    pthread_t thread;
    bool running;
};

static void *run_mqtt(void *arg)
{
    struct mqtt_thread *t = arg;
    pthread_setname_np(pthread_self(), "wl-mqtt"); /* its CPU time apart in /proc, top -H */
    mqtt_run(t->mqtt, t->stop_fd);
    return NULL;
}

/* Does host name only loopback addresses (127.0.0.0/8, ::1)? An unresolvable name is not. */
static bool loopback_only(const char *host)
{
    struct addrinfo hints = {.ai_flags = AI_PASSIVE, .ai_socktype = SOCK_STREAM}, *ai, *p;
    bool yes = true;
    if (getaddrinfo(host, NULL, &hints, &ai) != 0)
        return false;
    for (p = ai; p && yes; p = p->ai_next) {
        if (p->ai_family == AF_INET)
            yes = (ntohl(((struct sockaddr_in *)p->ai_addr)->sin_addr.s_addr) >> 24) == 127;
        else if (p->ai_family == AF_INET6)
            yes = IN6_IS_ADDR_LOOPBACK(&((struct sockaddr_in6 *)p->ai_addr)->sin6_addr);
        else
            yes = false;
    }
    freeaddrinfo(ai);
    return yes;
}

/* Is HTTP authentication on? "auto": when an auth file is given or the server can be
 * reached from other machines. */
static bool http_auth_on(const struct wl_config *cfg)
{
    if (strcmp(cfg->http_auth, "on") == 0)
        return true;
    if (strcmp(cfg->http_auth, "off") == 0)
        return false;
    return cfg->http_auth_file[0] || !loopback_only(cfg->http_host);
}

/* Checks what --check can check without side effects; prints problems, returns how many. */
static int check_settings(const struct wl_config *cfg)
{
    int problems = 0;
    const char *files[] = {cfg->mqtt_password_file, cfg->mqtt_cafile,    cfg->mqtt_certfile,
                           cfg->mqtt_keyfile,       cfg->http_auth_file, cfg->http_acl_file,
                           cfg->http_tls_cert,      cfg->http_tls_key};
    for (size_t i = 0; i < WL_ARRAY_LEN(files); i++) {
        if (files[i][0] && access(files[i], R_OK) != 0) {
            printf("problem: cannot read %s: %s\n", files[i], strerror(errno));
            problems++;
        }
    }
    for (int i = 0; i < cfg->retain_user.n; i++) {
        struct prune_rule r;
        if (prune_parse_rule(cfg->retain_user.v[i], &r) != 0) {
            printf("problem: retain-user '%s' is not USER=DAYS\n", cfg->retain_user.v[i]);
            problems++;
        }
    }
    if (!!cfg->mqtt_certfile[0] != !!cfg->mqtt_keyfile[0]) {
        printf("problem: --mqtt-certfile and --mqtt-keyfile go together\n");
        problems++;
    }
    if (cfg->mqtt_password_file[0] && !cfg->mqtt_user[0]) {
        printf("problem: --mqtt-password-file without --mqtt-user\n");
        problems++;
    }
    if (strcmp(cfg->http_auth, "auto") != 0 && strcmp(cfg->http_auth, "on") != 0 &&
        strcmp(cfg->http_auth, "off") != 0) {
        printf("problem: --http-auth is auto, on or off, not '%s'\n", cfg->http_auth);
        problems++;
    } else if (cfg->http_port && http_auth_on(cfg) && !cfg->http_auth_file[0]) {
        printf("problem: HTTP sign-in is needed (listening on %s, reachable from other machines) "
               "but there is no --http-auth-file; create one with `htpasswd -B -c FILE USER`, "
               "or serve everyone with --http-auth off\n",
               cfg->http_host);
        problems++;
    }
    if (cfg->http_acl_file[0] && !http_auth_on(cfg)) {
        printf("problem: --http-acl-file needs HTTP sign-in (--http-auth-file)\n");
        problems++;
    }
    struct store_user_settings timeline;
    struct zone *zone;
    const char *why;
    cli_timeline_defaults(cfg, &timeline);
    if (zone_open(cfg->timezone, &zone) != 0) {
        printf("problem: --timezone '%s' is not a zone of this system's tz database\n",
               cfg->timezone);
        problems++;
    } else {
        zone_unref(zone);
    }
    if (tl_settings_check(&timeline.tl, &why) != 0) {
        printf("problem: --stay-radius, --stay-time: %s\n", why);
        problems++;
    }
    if (!!cfg->http_tls_cert[0] != !!cfg->http_tls_key[0]) {
        printf("problem: --http-tls-cert and --http-tls-key go together\n");
        problems++;
    }
    for (int i = 0; i < cfg->geocoder.n; i++) {
        struct geocoder_spec spec;
        char reason[300];
        if (geocoder_parse_spec(cfg->geocoder.v[i], &spec, reason, sizeof(reason)) != 0) {
            printf("problem: geocoder '%s': %s\n", cfg->geocoder.v[i], reason);
            problems++;
        } else if (spec.key_file[0] && access(spec.key_file, R_OK) != 0) {
            printf("problem: cannot read %s: %s\n", spec.key_file, strerror(errno));
            problems++;
        }
    }
    return problems;
}

/* Everything serve runs, in start order; torn down in reverse. */
struct server {
    struct auth *auth;
    struct store *store;
    struct writer *writer;
    struct ingest *ingest;
    struct live *live;
    struct api *api;
    struct http *http;
    struct prune *prune;
    struct webhook *webhook;
    struct ha *ha;           /* Home Assistant's discovery, when on */
    const char *event_topic; /* the configuration's; NULL: events are not republished */
    struct gazetteer *gazetteer;
    struct placename *places;
    bool curl_ready;
    struct mqtt_thread mq;
    bool mosq_ready;
    char password[512];
    char docroot[PATH_MAX]; /* the HTTP server keeps a pointer to it */
    bool map_served;
};

/* Each HTTP connection is a descriptor: raise the soft limit to the hard one, and say so if
 * --http-connections still does not fit. */
static void raise_fd_limit(const struct wl_config *cfg)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return;
    if (rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
        getrlimit(RLIMIT_NOFILE, &rl);
    }
    if (rl.rlim_cur != RLIM_INFINITY && (rlim_t)cfg->http_connections + 64 > rl.rlim_cur)
        wl_log(WL_LOG_WARN, "serve",
               "--http-connections %ld does not fit in this process's %llu file descriptors",
               cfg->http_connections, (unsigned long long)rl.rlim_cur);
}

static void render_metrics(void *arg, struct sink *out)
{
    struct server *sv = arg;
    struct metrics_sources src = {.store = sv->store,
                                  .ingest = sv->ingest,
                                  .writer = sv->writer,
                                  .mqtt = sv->mq.running ? sv->mq.mqtt : NULL,
                                  .live = sv->live,
                                  .webhook = sv->webhook,
                                  .places = sv->places};
    metrics_render(&src, out);
}

_Static_assert(STORE_DISK_LOW_BYTES == 1u << 20, "/healthz says \"less than 1 MiB\"");

/* GET /healthz: can we store (the last commit worked, the disk and the map have room) and do we
 * hear from the broker (or were told not to use one)? */
static unsigned health(void *arg, struct sink *out)
{
    struct server *sv = arg;
    struct writer_stats ws;
    const char *store = "writable", *mqtt = "disabled";

    writer_get_stats(sv->writer, &ws);
    if (store_map_full(sv->store))
        store = "map full: new data is not acknowledged (see the log)";
    else if (ws.last_failed)
        store = "the last write failed";
    else if (store_disk_low(sv->store))
        store = "less than 1 MiB free on its disk"; /* STORE_DISK_LOW_BYTES */
    if (sv->mq.running)
        mqtt = mqtt_get_state(sv->mq.mqtt) == MQTT_CONNECTED ? "connected" : "not connected";
    bool ok = strcmp(store, "writable") == 0 && strcmp(mqtt, "not connected") != 0;
    sink_printf(out, "{\"status\":\"%s\",\"store\":\"%s\",\"mqtt\":\"%s\"}\n",
                ok ? "ok" : "unhealthy", store, mqtt);
    return ok ? 200 : 503;
}

static int start_http(struct server *sv, const struct wl_config *cfg)
{
    bool from_checkout;
    raise_fd_limit(cfg);
    sv->map_served = cfg_find_docroot(cfg, sv->docroot, sizeof(sv->docroot), &from_checkout) == 0;
    if (from_checkout)
        wl_log(WL_LOG_INFO, "serve",
               "docroot %s: the checkout's web/ (this binary runs from its build tree and %s "
               "has no map)",
               sv->docroot, cfg->docroot);
    struct api_options ao = {.version = WHERELOG_VERSION,
                             .git = WHERELOG_GIT,
                             .tile_url = cfg->tile_url,
                             .tile_attribution = cfg->tile_attribution,
                             .tile_max_zoom = (int)cfg->tile_max_zoom,
                             .mqtt_host = cfg->mqtt ? cfg->mqtt_host : NULL,
                             .mqtt_port = (int)cfg->mqtt_port,
                             .visible = sv->auth ? auth_visible : NULL,
                             .visible_arg = sv->auth,
                             .may_delete = sv->auth ? auth_may_delete : NULL,
                             .changed = live_changed,
                             .changed_arg = sv->live,
                             .places = sv->places,
                             .gazetteer = sv->gazetteer};
    struct http_options ho = {
        .host = cfg->http_host,
        .port = (unsigned)cfg->http_port,
        .docroot = sv->docroot,
        .leaflet_dir = cfg->leaflet_dir,
        .cors_origin = cfg->http_cors[0] ? cfg->http_cors : NULL,
        .max_body = (size_t)cfg->http_max_body,
        .connections = (unsigned)cfg->http_connections,
        .per_ip = (unsigned)cfg->http_per_ip,
        .timeout = (unsigned)cfg->http_timeout,
        .threads = (unsigned)cfg->http_threads,
        .auth = sv->auth,
        .tls_cert = cfg->http_tls_cert[0] ? cfg->http_tls_cert : NULL,
        .tls_key = cfg->http_tls_key[0] ? cfg->http_tls_key : NULL,
        .metrics = render_metrics,
        .health = health,
        .ops_arg = sv,
    };
    int rc = api_new(sv->store, sv->ingest, &ao, &sv->api);
    if (rc == 0)
        rc = http_start(&ho, sv->api, sv->live, &sv->http);
    if (rc)
        fprintf(stderr, "wherelog serve: cannot start the HTTP server on %s:%ld (see the log)\n",
                cfg->http_host, cfg->http_port);
    return rc;
}

static int start_mqtt(struct server *sv, const struct wl_config *cfg)
{
    const char *topics[CFG_LIST_MAX];
    for (int i = 0; i < cfg->topics.n; i++)
        topics[i] = cfg->topics.v[i];
    struct mqtt_options mo = {
        .host = cfg->mqtt_host,
        .port = (int)cfg->mqtt_port,
        .user = cfg->mqtt_user[0] ? cfg->mqtt_user : NULL,
        .password = sv->password[0] ? sv->password : NULL,
        .cafile = cfg->mqtt_cafile[0] ? cfg->mqtt_cafile : NULL,
        .certfile = cfg->mqtt_certfile[0] ? cfg->mqtt_certfile : NULL,
        .keyfile = cfg->mqtt_keyfile[0] ? cfg->mqtt_keyfile : NULL,
        .client_id = cfg->mqtt_client_id[0] ? cfg->mqtt_client_id : store_client_id(sv->store),
        .topics = topics,
        .ntopics = cfg->topics.n,
        .qos = (int)cfg->qos,
        .keepalive = (int)cfg->mqtt_keepalive,
        .connected = sv->ha ? ha_connected : NULL,
        .connected_arg = sv->ha,
    };
    mqtt_library_init();
    sv->mosq_ready = true;
    int rc = mqtt_new(&mo, sv->ingest, &sv->mq.mqtt);
    if (rc)
        return rc;
    if (sv->ha)
        ha_set_mqtt(sv->ha, sv->mq.mqtt);
    sv->mq.stop_fd = eventfd(0, EFD_CLOEXEC);
    if (sv->mq.stop_fd < 0 || pthread_create(&sv->mq.thread, NULL, run_mqtt, &sv->mq) != 0) {
        fprintf(stderr, "wherelog serve: cannot start: %s\n", strerror(errno));
        return -errno;
    }
    sv->mq.running = true;
    return 0;
}

/* The store's event hook: each committed event to the live streams, the broker and the
 * webhooks' delivery thread (which reads it from the outbox, where it was committed). Runs on
 * committing threads; everything it calls queues and returns. */
static void on_event(void *arg, const struct store_event *ev)
{
    struct server *sv = arg;
    live_event(sv->live, ev);
    if (sv->ha)
        ha_event(sv->ha, ev);
    if (sv->event_topic && sv->mq.mqtt) {
        char topic[CFG_STR + 2 * OWNTRACKS_NAME_MAX];
        struct sink body;
        if (event_topic(topic, sizeof(topic), sv->event_topic, ev->user, ev->device) == 0 &&
            sink_init_mem(&body, 512) == 0) {
            event_json(&body, ev);
            if (!body.err)
                mqtt_publish(sv->mq.mqtt, topic, body.buf, body.len, false);
            sink_free(&body);
        }
    }
    if (sv->webhook)
        webhook_wake(sv->webhook);
}

static int start_events(struct server *sv, const struct wl_config *cfg)
{
    struct webhook_options wo = {.max_age = cfg->webhook_max_age,
                                 .max_count = (uint64_t)cfg->webhook_max_count,
                                 .backoff_max = (unsigned)cfg->webhook_backoff_max};
    sv->event_topic = cfg->mqtt && cfg->event_topic[0] ? cfg->event_topic : NULL;
    if (cfg->ha_discovery && cfg->mqtt && ha_new(sv->store, cfg->ha_prefix, &sv->ha) != 0)
        return -ENOMEM;
    int rc = webhook_start(sv->store, &wo, &sv->webhook);
    if (rc) {
        fprintf(stderr, "wherelog serve: cannot start the webhooks' thread: %s\n", wl_strerror(rc));
        return rc;
    }
    store_set_event_hook(sv->store, on_event, sv);
    return 0;
}

static int start_prune(struct server *sv, const struct wl_config *cfg)
{
    struct prune_options po = {.days = cfg->retain_days,
                               .interval = (unsigned)cfg->retain_interval};
    for (int i = 0; i < cfg->retain_user.n && i < PRUNE_RULES_MAX; i++)
        prune_parse_rule(cfg->retain_user.v[i], &po.rules[po.nrules++]); /* checked before */
    if (!prune_enabled(&po))
        return 0;
    wl_log(WL_LOG_INFO, "serve", "retention: %ld days (0: forever), %zu per-user rule(s)", po.days,
           po.nrules);
    return prune_start(sv->store, &po, &sv->prune);
}

/* The store's timeline hook: live events, and the geocoders' queue (neither waits). The
 * geocoders name places, not points: a stay's centre is asked for once it is certain, so a
 * year of a phone's points costs about one request per place it stayed at. */
static void timeline_changed(void *arg, const char *user, const char *device, const char *zone,
                             enum tl_event ev, const struct tl_segment *seg)
{
    struct server *sv = arg;
    live_timeline(sv->live, user, device, zone, ev, seg);
    if (sv->places && ev == TL_OPENED && seg->kind == TL_STAY)
        placename_note(sv->places, seg->lat, seg->lon);
}

/* The writer's hook: live events and Home Assistant's states (neither waits). */
static void committed(void *arg, const struct store_record *recs, const enum store_result *results,
                      size_t n)
{
    struct server *sv = arg;
    live_committed(sv->live, recs, results, n);
    if (sv->ha)
        ha_committed(sv->ha, recs, results, n);
}

/* Names for places: the offline cities always, the geocoders the operator configured. */
static int start_places(struct server *sv, const struct wl_config *cfg)
{
    struct geocoder *providers[CFG_LIST_MAX];
    size_t n = 0;
    char agent[CFG_STR + 64];
    int rc = gazetteer_open(&sv->gazetteer);

    if (rc)
        wl_log(WL_LOG_WARN, "serve", "no offline place names (libgeonames' cities): %s",
               wl_strerror(rc));
    else
        wl_log(WL_LOG_DEBUG, "serve", "offline place names: %zu cities, %zu KB",
               gazetteer_cities(sv->gazetteer), gazetteer_bytes(sv->gazetteer) >> 10);
    if (cfg->geocoder.n) {
        if (geocoder_global_init() != 0) {
            wl_log(WL_LOG_ERROR, "serve", "cannot set up libcurl for the geocoders");
            return -EIO;
        }
        sv->curl_ready = true;
    }
    if (cfg->geocoder_contact[0])
        snprintf(agent, sizeof(agent), "wherelog/%s (+%s)", WHERELOG_VERSION,
                 cfg->geocoder_contact);
    else
        snprintf(agent, sizeof(agent), "wherelog/%s", WHERELOG_VERSION);
    for (int i = 0; i < cfg->geocoder.n; i++) {
        struct geocoder_spec spec;
        char why[300];
        if ((rc = geocoder_parse_spec(cfg->geocoder.v[i], &spec, why, sizeof(why))) ||
            (rc = geocoder_new(&spec, agent, cfg->geocoder_timeout * 1000, &providers[n]))) {
            wl_log(WL_LOG_ERROR, "serve", "geocoder '%s': %s", cfg->geocoder.v[i],
                   rc == -EINVAL && why[0] ? why : wl_strerror(rc));
            for (size_t k = 0; k < n; k++)
                geocoder_free(providers[k]);
            return rc;
        }
        n++;
        wl_log(WL_LOG_INFO, "serve", "geocoder %zu: %s at %s, %g requests a second at most%s", n,
               geocoder_kind_name(spec.kind), spec.url, spec.rate,
               cfg->geocoder_contact[0] ? "" : " (no --geocoder-contact in the User-Agent)");
    }
    struct placename_options po = {.precision = (int)cfg->geohash_precision,
                                   .max_age = cfg->geocoder_max_age * 86400};
    return placename_new(sv->store, sv->gazetteer, &po, providers, n, &sv->places);
}

/* Inputs first (so nothing new arrives), then the readers, then the store. */
static void stop_server(struct server *sv)
{
    if (sv->mq.running) {
        uint64_t one = 1;
        if (write(sv->mq.stop_fd, &one, sizeof(one)) != sizeof(one))
            wl_log(WL_LOG_ERROR, "serve", "cannot signal the MQTT thread");
        pthread_join(sv->mq.thread, NULL);
    }
    if (sv->mq.stop_fd >= 0)
        close(sv->mq.stop_fd);
    prune_stop(sv->prune);
    live_shutdown(sv->live); /* ends live streams, which the HTTP server waits for */
    http_stop(sv->http);
    webhook_stop(sv->webhook);  /* after every door that commits: their events wake it */
    placename_free(sv->places); /* after every door that stores or reads: they use it */
    gazetteer_free(sv->gazetteer);
    if (sv->curl_ready)
        geocoder_global_cleanup();
    /* Only now: /healthz and /metrics read the MQTT client's state until HTTP stops. */
    mqtt_free(sv->mq.mqtt);
    if (sv->mosq_ready)
        mqtt_library_cleanup();
    ha_free(sv->ha);
    api_free(sv->api);
    live_free(sv->live);
    ingest_free(sv->ingest);
    writer_free(sv->writer);
    store_close(sv->store);
    auth_free(sv->auth);
    memset(sv->password, 0, sizeof(sv->password));
}

/* Settings a reload applies at once; the others are reported as waiting for a restart. */
static const char *const reloadable[] = {
    "config",         "log-level",
    "log-rejections", "retain-days",
    "retain-user",    "retain-interval",
    "tile-url",       "tile-attribution",
    "tile-max-zoom",  "http-auth-file" /* its contents; a new path is reported below */,
    "http-acl-file"};

static void note_difference(void *arg, const char *name)
{
    (void)arg;
    for (size_t i = 0; i < WL_ARRAY_LEN(reloadable); i++)
        if (strcmp(name, reloadable[i]) == 0)
            return;
    wl_log(WL_LOG_WARN, "serve", "reload: %s changed; it takes effect at the next restart", name);
}

/*
 * SIGHUP: reads the settings again (same command line, so flags still win) and applies what
 * can change while running: logging, retention, the map's tiles, the users and the ACL.
 * Connections, live streams and ingest go on undisturbed. A configuration that does not load
 * changes nothing.
 */
static void reload(struct server *sv, struct wl_config *cfg, const struct cli_command *cmd,
                   int argc, char **argv)
{
    struct wl_config *next = calloc(1, sizeof(*next));
    size_t nargs;

    sd_notify(0, "RELOADING=1");
    wl_log(WL_LOG_INFO, "serve", "SIGHUP: reloading the configuration, the users and the ACL");
    if (!next || cfg_load(next, cmd, argc, argv, NULL, &nargs) != 0 || check_settings(next)) {
        wl_log(WL_LOG_ERROR, "serve",
               "reload: the settings do not load (see above); keeping "
               "the current ones");
        free(next);
        sd_notify(0, "READY=1");
        return;
    }
    cfg_each_difference(cfg, next, note_difference, NULL);
    if (strcmp(cfg->http_auth_file, next->http_auth_file) != 0 ||
        strcmp(cfg->http_acl_file, next->http_acl_file) != 0)
        wl_log(WL_LOG_WARN, "serve",
               "reload: where sign-in comes from changed; the files "
               "in use are re-read, the new ones take effect at restart");
    if (sv->auth)
        auth_reload(sv->auth); /* on failure the old users stay, and the log says why */

    enum wl_log_level level = WL_LOG_INFO;
    wl_log_parse_level(next->log_level, &level);
    wl_log_set_level(level);
    ingest_set_log_limit(sv->ingest, (unsigned)next->log_rejections);
    if (sv->api)
        api_set_tiles(sv->api, next->tile_url, next->tile_attribution, (int)next->tile_max_zoom);
    if (next->retain_days != cfg->retain_days || next->retain_interval != cfg->retain_interval ||
        memcmp(&next->retain_user, &cfg->retain_user, sizeof(cfg->retain_user)) != 0) {
        prune_stop(sv->prune);
        sv->prune = NULL;
        if (start_prune(sv, next) != 0)
            wl_log(WL_LOG_ERROR, "serve", "reload: cannot restart retention");
    }
    /* cfg stays what runs: it takes what was applied, and keeps the running value of the
     * rest (so that the next reload compares against what is really in force). */
    memcpy(cfg->log_level, next->log_level, sizeof(cfg->log_level));
    cfg->log_rejections = next->log_rejections;
    cfg->retain_days = next->retain_days;
    cfg->retain_interval = next->retain_interval;
    cfg->retain_user = next->retain_user;
    memcpy(cfg->tile_url, next->tile_url, sizeof(cfg->tile_url));
    memcpy(cfg->tile_attribution, next->tile_attribution, sizeof(cfg->tile_attribution));
    cfg->tile_max_zoom = next->tile_max_zoom;
    free(next);
    wl_log(WL_LOG_INFO, "serve", "reloaded");
    sd_notify(0, "READY=1");
}

int cli_serve(int argc, char **argv)
{
    bool check = false;
    const struct cli_option opts[] = {
        {"check", NULL, "print the effective settings, check them, and exit", NULL, &check}};
    const struct cli_command cmd = {
        "serve",
        "serve [settings]",
        "Subscribes to the OwnTracks topics on an MQTT broker and stores every message, and\n"
        "serves the HTTP API, HTTP-mode ingest and the web map, until SIGINT or SIGTERM.",
        CFG_ALL | CFG_SERVE,
        opts,
        1,
        0,
        0};
    struct wl_config *cfg = calloc(1, sizeof(*cfg));
    struct server sv = {.mq = {.stop_fd = -1}};
    size_t nargs;
    sigset_t sigs;
    int sfd = -1, status = 1, rc;

    if (!cfg)
        return 1;
    rc = cfg_load(cfg, &cmd, argc, argv, NULL, &nargs);
    if (rc) {
        free(cfg);
        return rc > 0 ? 0 : 2;
    }
    if (check) {
        printf("# wherelog serve: effective settings (precedence: default < file < "
               "environment < flag)\n");
        cfg_print_effective(cfg, CFG_ALL | CFG_SERVE);
        int problems = check_settings(cfg);
        printf(problems ? "# %d problem(s)\n" : "# settings look fine\n", problems);
        free(cfg);
        return problems ? 1 : 0;
    }
    cli_setup_logging(cfg);
    if (check_settings(cfg)) {
        fprintf(stderr, "wherelog serve: fix the settings above (see --check)\n");
        goto out;
    }
    if (cfg->mqtt_password_file[0] &&
        (rc = cfg_read_secret_file(cfg->mqtt_password_file, sv.password, sizeof(sv.password)))) {
        fprintf(stderr, "wherelog serve: cannot read %s: %s\n", cfg->mqtt_password_file,
                strerror(-rc));
        goto out;
    }

    /* Signals arrive through a descriptor, in this thread, never as asynchronous handlers;
     * every thread inherits this mask. SIGPIPE: a vanished peer is an error return. */
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    signal(SIGPIPE, SIG_IGN);
    sfd = signalfd(-1, &sigs, SFD_CLOEXEC);
    if (sfd < 0) {
        fprintf(stderr, "wherelog serve: signalfd: %s\n", strerror(errno));
        goto out;
    }

    /* An open server (sign-in off) has one too: API tokens identify their users there. */
    if (cfg->http_port &&
        auth_new(http_auth_on(cfg) ? cfg->http_auth_file : NULL,
                 cfg->http_acl_file[0] ? cfg->http_acl_file : NULL, &sv.auth) != 0) {
        fprintf(stderr, "wherelog serve: cannot load the users (see the log)\n");
        goto out;
    }
    struct store_user_settings timeline;
    cli_timeline_defaults(cfg, &timeline);
    struct store_options so = {.timeline = &timeline, .battery_low = (int)cfg->battery_low};
    if ((rc = store_open(cfg->storage, &so, &sv.store))) {
        fprintf(stderr, "wherelog serve: cannot open the store in %s: %s\n", cfg->storage,
                wl_strerror(rc));
        goto out;
    }
    if (sv.auth)
        auth_use_tokens(sv.auth, sv.store);
    if (writer_new(sv.store, &sv.writer) ||
        ingest_new(sv.writer, store_keyring(sv.store), (unsigned)cfg->log_rejections, &sv.ingest) ||
        live_new(sv.store, sv.auth ? auth_visible : NULL, sv.auth, &sv.live))
        goto out;
    if (start_places(&sv, cfg))
        goto out;
    writer_set_committed_hook(sv.writer, committed, &sv);
    struct zone *zone;
    if (zone_open(cfg->timezone, &zone) == 0) { /* checked above */
        live_set_timeline_zone(sv.live, zone);
        zone_unref(zone);
    }
    store_set_timeline_hook(sv.store, timeline_changed, &sv);
    store_set_timeline_deferred(sv.store, !cfg->timeline_ingest);
    if (start_events(&sv, cfg))
        goto out;
    /* MQTT first: the HTTP threads read what it set up (health, metrics). */
    if ((cfg->mqtt && start_mqtt(&sv, cfg)) || (cfg->http_port && start_http(&sv, cfg)) ||
        start_prune(&sv, cfg))
        goto out;
    wl_log(WL_LOG_INFO, "serve", "storing into %s; MQTT %s:%ld%s; HTTP %s", cfg->storage,
           cfg->mqtt_host, cfg->mqtt_port, cfg->mqtt ? "" : " (off)",
           cfg->http_port ? "on" : "off");
    if (cfg->http_port && sv.map_served)
        wl_log(WL_LOG_INFO, "serve", "map: %s://%s%s%s:%ld/",
               cfg->http_tls_cert[0] ? "https" : "http", strchr(cfg->http_host, ':') ? "[" : "",
               cfg->http_host, strchr(cfg->http_host, ':') ? "]" : "", cfg->http_port);
    else if (cfg->http_port)
        wl_log(WL_LOG_WARN, "serve",
               "map: off, %s has no index.html; to turn it on, install wherelog (ninja -C build "
               "install) or pass --docroot with the path of wherelog's web/ directory; the API "
               "still answers",
               sv.docroot);

    /* Under systemd (Type=notify): ready means the store is open, HTTP listens and the MQTT
     * thread runs. Outside systemd this does nothing. */
    sd_notifyf(0, "READY=1\nSTATUS=storing into %s", cfg->storage);
    time_t next_silence_check = 0;
    for (;;) {
        struct signalfd_siginfo si;
        /* A device going silent is the one event that nothing arriving can make: look for
         * them now and then, between signals. */
        if (cfg->silence_after > 0 && time(NULL) >= next_silence_check) {
            store_events_check_silence(sv.store, time(NULL), cfg->silence_after, NULL);
            long every = cfg->silence_after / 10;
            next_silence_check = time(NULL) + (every < 1 ? 1 : every > 60 ? 60 : every);
        }
        struct pollfd pfd = {.fd = sfd, .events = POLLIN};
        if (poll(&pfd, 1, cfg->silence_after > 0 ? 1000 : -1) == 0)
            continue;
        ssize_t n = read(sfd, &si, sizeof(si));
        if (n < 0 && errno == EINTR)
            continue;
        if (n != sizeof(si) || si.ssi_signo == SIGINT || si.ssi_signo == SIGTERM)
            break;
        reload(&sv, cfg, &cmd, argc, argv);
    }
    sd_notify(0, "STOPPING=1");
    wl_log(WL_LOG_INFO, "serve", "stopping");
    status = 0;
out:
    stop_server(&sv);
    if (sfd >= 0)
        close(sfd);
    if (status == 0)
        wl_log(WL_LOG_INFO, "serve", "stopped; store closed");
    free(cfg);
    return status;
}
