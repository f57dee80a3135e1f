#include "api.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fmt.h"
#include "log.h"
#include "owntracks.h"
#include "wl.h"
#include "wtime.h"

/* Without `from`, /api/0/locations answers for the last six hours, as the Recorder does. */
#define API_DEFAULT_WINDOW (6 * 3600)
/* Retry-After (seconds) when /pub cannot store a message now: the apps retry anyway, with a
 * growing wait; a minute lets a full disk or a restarting writer recover in between. */
#define API_RETRY_AFTER 60

struct api {
    struct store *store;
    struct ingest *ingest;
    struct api_options opt;
    /* The tile settings change on reload: owned copies, read and replaced under tiles_lock. */
    pthread_mutex_t tiles_lock;
    char *tile_url, *tile_attribution;
};

int api_new(struct store *store, struct ingest *ingest, const struct api_options *opt,
            struct api **out)
{
    struct api *api = calloc(1, sizeof(*api));
    if (!api)
        return -ENOMEM;
    api->store = store;
    api->ingest = ingest;
    api->opt = *opt;
    pthread_mutex_init(&api->tiles_lock, NULL);
    if (api_set_tiles(api, opt->tile_url, opt->tile_attribution, opt->tile_max_zoom) != 0) {
        api_free(api);
        return -ENOMEM;
    }
    *out = api;
    return 0;
}

int api_set_tiles(struct api *api, const char *url, const char *attribution, int max_zoom)
{
    char *u = strdup(url ? url : ""), *a = strdup(attribution ? attribution : "");
    if (!u || !a) {
        free(u);
        free(a);
        return -ENOMEM;
    }
    pthread_mutex_lock(&api->tiles_lock);
    free(api->tile_url);
    free(api->tile_attribution);
    api->tile_url = u;
    api->tile_attribution = a;
    api->opt.tile_max_zoom = max_zoom;
    pthread_mutex_unlock(&api->tiles_lock);
    return 0;
}

void api_free(struct api *api)
{
    if (!api)
        return;
    pthread_mutex_destroy(&api->tiles_lock);
    free(api->tile_url);
    free(api->tile_attribution);
    free(api);
}

static const char *const json_type = "application/json; charset=utf-8";

void api_error(struct api_response *resp, unsigned status, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    resp->status = status;
    resp->content_type = json_type;
    resp->body.len = 0;
    sink_puts(&resp->body, "{\"error\":");
    sink_json_string(&resp->body, msg, strlen(msg));
    sink_printf(&resp->body, ",\"status\":%u}\n", status);
}

static void ok_json(struct api_response *resp)
{
    resp->status = 200;
    resp->content_type = json_type;
}

/* ---------------------------------------------------------------- parameters */

/* A parameter as UTF-8 text; false (with a 400 already in resp) if it is not. */
static bool text_param(const struct api_request *req, struct api_response *resp, const char *name,
                       const char **out)
{
    const char *v = req->param(req->ctx, name);
    *out = v;
    if (v && !ot_utf8_valid(v, strlen(v))) {
        api_error(resp, 400, "bad parameter %s: not valid UTF-8", name);
        return false;
    }
    return true;
}

/* user or device: validated and lowercased into out (OT_NAME_MAX + 1 bytes). */
static bool name_param(const struct api_request *req, struct api_response *resp, const char *name,
                       bool required, char *out, bool *present)
{
    const char *v, *why;
    if (!text_param(req, resp, name, &v))
        return false;
    *present = v && v[0];
    if (!*present) {
        if (required)
            api_error(resp, 400, "missing parameter %s", name);
        return !required;
    }
    if (ot_normalize_name(v, strlen(v), out, &why) != 0) {
        api_error(resp, 400, "bad parameter %s: %s", name, why);
        return false;
    }
    return true;
}

static bool time_param(const struct api_request *req, struct api_response *resp, const char *name,
                       bool end, int64_t *out)
{
    const char *v;
    struct wtime t;
    if (!text_param(req, resp, name, &v))
        return false;
    if (!v || !v[0])
        return true; /* keep the default */
    if (wtime_parse(v, &t) != 0) {
        api_error(resp, 400,
                  "bad parameter %s: not a time (YYYY-MM-DD[THH:MM[:SS]][Z|+HH:MM] "
                  "or epoch seconds)",
                  name);
        return false;
    }
    *out = end ? t.t + t.span - 1 : t.t; /* a date as `to` covers that whole day */
    return true;
}

/* "a,b,c" into fields (pointing into buf). */
static bool fields_param(const struct api_request *req, struct api_response *resp, char *buf,
                         size_t size, const char **fields, size_t *n)
{
    const char *v;
    *n = 0;
    if (!text_param(req, resp, "fields", &v))
        return false;
    if (!v || !v[0])
        return true;
    if (strlen(v) >= size) {
        api_error(resp, 400, "bad parameter fields: too long");
        return false;
    }
    strcpy(buf, v);
    int k = fmt_split_fields(buf, fields);
    if (k < 0) {
        api_error(resp, 400, "bad parameter fields: at most %d fields", FMT_MAX_FIELDS);
        return false;
    }
    *n = (size_t)k;
    return true;
}

/* ---------------------------------------------------------------- routes */

void api_get_version(struct api *api, const struct api_request *req, struct api_response *resp)
{
    (void)req;
    ok_json(resp);
    sink_puts(&resp->body, "{\"version\":");
    sink_json_string(&resp->body, api->opt.version, strlen(api->opt.version));
    sink_puts(&resp->body, ",\"git\":");
    sink_json_string(&resp->body, api->opt.git, strlen(api->opt.git));
    sink_puts(&resp->body, "}\n");
}

struct list_ctx {
    struct api *api;
    const char *viewer;
    struct sink *out;
    size_t n;
};

static int list_user(void *arg, const char *user)
{
    struct list_ctx *l = arg;
    if (l->api->opt.visible && !l->api->opt.visible(l->api->opt.visible_arg, l->viewer, user))
        return 0;
    sink_puts(l->out, l->n++ ? "," : "");
    sink_json_string(l->out, user, strlen(user));
    return 0;
}

static int list_device(void *arg, const struct store_device *d)
{
    struct list_ctx *l = arg;
    sink_puts(l->out, l->n++ ? "," : "");
    sink_json_string(l->out, d->device, strlen(d->device));
    return 0;
}

static bool may_see(struct api *api, const struct api_request *req, const char *user)
{
    return !api->opt.visible || api->opt.visible(api->opt.visible_arg, req->user, user);
}

void api_get_list(struct api *api, const struct api_request *req, struct api_response *resp)
{
    char user[OT_NAME_MAX + 1], device[OT_NAME_MAX + 1];
    bool have_user, have_device;
    struct list_ctx l = {.api = api, .viewer = req->user, .out = &resp->body};
    int rc = 0;

    if (!name_param(req, resp, "user", false, user, &have_user) ||
        !name_param(req, resp, "device", false, device, &have_device))
        return;
    ok_json(resp);
    sink_puts(&resp->body, "{\"results\":");
    if (have_user && !may_see(api, req, user)) {
        sink_puts(&resp->body, "[]"); /* as if absent: do not confirm who exists */
    } else if (have_user && have_device) {
        /* The Recorder lists its month files here (with server paths); we list the months. */
        rc = q_months_json(api->store, user, device, &resp->body);
    } else {
        sink_putc(&resp->body, '[');
        rc = have_user ? store_list_devices(api->store, user, list_device, &l)
                       : store_list_users(api->store, list_user, &l);
        sink_putc(&resp->body, ']');
    }
    sink_puts(&resp->body, "}\n");
    if (rc)
        api_error(resp, 500, "cannot read the store: %s", wl_strerror(rc));
}

void api_get_last(struct api *api, const struct api_request *req, struct api_response *resp)
{
    char user[OT_NAME_MAX + 1], device[OT_NAME_MAX + 1], fbuf[1024];
    const char *fields[FMT_MAX_FIELDS];
    bool have_user, have_device;
    size_t nfields;

    if (!name_param(req, resp, "user", false, user, &have_user) ||
        !name_param(req, resp, "device", false, device, &have_device) ||
        !fields_param(req, resp, fbuf, sizeof(fbuf), fields, &nfields))
        return;
    ok_json(resp);
    if (have_user && !may_see(api, req, user)) {
        sink_puts(&resp->body, "[]\n");
        return;
    }
    struct q_last_filter f = {.user = have_user ? user : NULL,
                              .device = have_device ? device : NULL,
                              .fields = nfields ? fields : NULL,
                              .nfields = nfields,
                              .visible = api->opt.visible,
                              .visible_arg = api->opt.visible_arg,
                              .viewer = req->user};
    int rc = q_last_json(api->store, &f, &resp->body);
    if (rc)
        api_error(resp, 500, "cannot read the store: %s", wl_strerror(rc));
}

/* Filename for a download: ASCII letters, digits, '.', '_' and '-' only. */
static void safe_name(char *out, size_t size, const char *in)
{
    size_t o = 0;
    for (; *in && o + 1 < size; in++) {
        char c = *in;
        out[o++] = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                           c == '.' || c == '_' || c == '-'
                       ? c
                       : '_';
    }
    out[o] = '\0';
}

/* Content-Disposition: USER-DEVICE-FROM-TO.EXT, the dates being those of the data asked for
 * (the range clamped to the device's first and last points). */
static void set_download(struct api *api, struct api_response *resp, const char *user,
                         const char *device, int64_t from, int64_t to, enum fmt_kind kind)
{
    char u[OT_NAME_MAX + 1], d[OT_NAME_MAX + 1], f[21], t[21];
    struct store_device dev;
    if (store_get_device(api->store, user, device, &dev) == 0 && dev.points) {
        from = from > dev.first_tst ? from : dev.first_tst;
        to = to < dev.last_tst ? to : dev.last_tst;
    }
    if (to < from)
        to = from;
    safe_name(u, sizeof(u), user);
    safe_name(d, sizeof(d), device);
    wtime_iso(from, f);
    wtime_iso(to, t);
    f[10] = t[10] = '\0'; /* dates: jane-phone-2024-12-01-2024-12-07.gpx */
    snprintf(resp->disposition, sizeof(resp->disposition),
             "attachment; filename=\"%s-%s-%s-%s.%s\"", u, d, f, t, fmt_extension(kind));
}

/* A streamed track; it outlives the request handler, so the fields live here. */
struct track_stream {
    struct q_track *track;
    char user[OT_NAME_MAX + 1], device[OT_NAME_MAX + 1];
    char fbuf[1024];
    const char *fields[FMT_MAX_FIELDS];
};

static int track_fill(void *state, struct sink *out, size_t want)
{
    struct track_stream *ts = state;
    return q_track_fill(ts->track, out, want);
}

static void track_release(void *state)
{
    struct track_stream *ts = state;
    q_track_close(ts->track);
    free(ts);
}

void api_get_locations(struct api *api, const struct api_request *req, struct api_response *resp)
{
    char user[OT_NAME_MAX + 1], device[OT_NAME_MAX + 1];
    const char *format, *limit_text, *download, *max_text;
    bool have_user, have_device;
    size_t nfields;
    int64_t now = time(NULL), from = now - API_DEFAULT_WINDOW, to = WTIME_MAX;
    uint64_t limit = 0;
    enum fmt_kind kind = FMT_JSON;
    struct track_stream *ts = calloc(1, sizeof(*ts));

    if (!ts) {
        api_error(resp, 500, "out of memory");
        return;
    }
    if (!name_param(req, resp, "user", true, user, &have_user) ||
        !name_param(req, resp, "device", true, device, &have_device) ||
        !time_param(req, resp, "from", false, &from) || !time_param(req, resp, "to", true, &to) ||
        !fields_param(req, resp, ts->fbuf, sizeof(ts->fbuf), ts->fields, &nfields) ||
        !text_param(req, resp, "format", &format) || !text_param(req, resp, "limit", &limit_text) ||
        !text_param(req, resp, "download", &download) ||
        !text_param(req, resp, "max_points", &max_text))
        goto fail;
    if (from > to) {
        api_error(resp, 416, "impossible date/time range: from is after to");
        goto fail;
    }
    if (format && format[0] && (fmt_parse(format, &kind) != 0)) {
        api_error(resp, 400,
                  "bad parameter format: use json, geojson, gpx, csv, linestring "
                  "or xml");
        goto fail;
    }
    if (limit_text && limit_text[0]) {
        char *end;
        errno = 0;
        unsigned long long v = strtoull(limit_text, &end, 10);
        if (*end || limit_text[0] == '-' || limit_text[0] == '+' || !isdigit(limit_text[0])) {
            api_error(resp, 400, "bad parameter limit: not a whole number");
            goto fail;
        }
        if (errno == ERANGE) {
            api_error(resp, 400, "bad parameter limit: larger than %llu", ULLONG_MAX);
            goto fail;
        }
        limit = v;
    }
    uint32_t max_points = 0;
    if (max_text && max_text[0]) {
        char *end;
        unsigned long v = strtoul(max_text, &end, 10);
        if (*end || max_text[0] == '-' || max_text[0] == '+' || v < Q_THIN_MIN || v > Q_THIN_MAX) {
            api_error(resp, 400, "bad parameter max_points: a number from %d to %d", Q_THIN_MIN,
                      Q_THIN_MAX);
            goto fail;
        }
        max_points = (uint32_t)v;
    }
    if (!may_see(api, req, user)) {
        api_error(resp, 403, "not allowed to read %s's locations", user);
        goto fail;
    }

    memcpy(ts->user, user, sizeof(ts->user));
    memcpy(ts->device, device, sizeof(ts->device));
    struct fmt_options fo = {.user = ts->user,
                             .device = ts->device,
                             .recorder_envelope = true,
                             .version = api->opt.version,
                             .fields = nfields ? ts->fields : NULL,
                             .nfields = nfields};
    resp->status = 200;
    resp->content_type = fmt_content_type(kind);
    if (kind == FMT_GPX ||
        (download && (strcmp(download, "1") == 0 || strcmp(download, "true") == 0)))
        set_download(api, resp, user, device, from, to, kind);

    struct q_range range = {.from = from, .to = to, .limit = limit, .max_points = max_points};
    int rc = q_track_open(api->store, user, device, &range, kind, &fo, &resp->body, &ts->track);
    if (rc == -ENOENT) { /* an unknown device has an empty track, not an error */
        struct fmt_writer w;
        fmt_begin(&w, kind, &resp->body, &fo);
        fmt_end(&w);
        goto fail;
    }
    if (rc) {
        api_error(resp, 500, "cannot read the store: %s", wl_strerror(rc));
        goto fail;
    }
    resp->fill = track_fill;
    resp->release = track_release;
    resp->state = ts;
    return;
fail:
    free(ts);
}

/* DELETE /api/0/locations: removes points (or, without from and to, whole devices). */
void api_delete_locations(struct api *api, const struct api_request *req, struct api_response *resp)
{
    char user[OT_NAME_MAX + 1], device[OT_NAME_MAX + 1];
    bool have_user, have_device;
    int64_t from = WTIME_MIN, to = WTIME_MAX;
    const char *f, *t;

    if (!name_param(req, resp, "user", true, user, &have_user) ||
        !name_param(req, resp, "device", true, device, &have_device) ||
        !text_param(req, resp, "from", &f) || !text_param(req, resp, "to", &t) ||
        !time_param(req, resp, "from", false, &from) || !time_param(req, resp, "to", true, &to))
        return;
    if (!req->user || !api->opt.may_delete ||
        !api->opt.may_delete(api->opt.visible_arg, req->user, user)) {
        api_error(resp, 403,
                  req->user ? "%s may not delete %s's data"
                            : "deleting needs an authenticated user%s%s",
                  req->user ? req->user : "", req->user ? user : "");
        return;
    }
    if (from > to) {
        api_error(resp, 416, "impossible date/time range: from is after to");
        return;
    }
    struct store_removed r = {0};
    int rc;
    if ((!f || !f[0]) && (!t || !t[0])) {
        rc = store_delete_device(api->store, user, device, false, &r);
    } else {
        rc = store_delete_points(api->store, user, device, from, to, false, &r.points);
    }
    if (rc) {
        api_error(resp, 500, "cannot delete: %s", wl_strerror(rc));
        return;
    }
    wl_log(WL_LOG_INFO, "api", "%s deleted %llu points and %llu other messages of %s/%s", req->user,
           (unsigned long long)r.points, (unsigned long long)r.events, user, device);
    if (api->opt.changed && (r.points || r.events))
        api->opt.changed(api->opt.changed_arg);
    ok_json(resp);
    sink_printf(&resp->body, "{\"deleted\":{\"points\":%llu,\"events\":%llu,\"device\":%s}}\n",
                (unsigned long long)r.points, (unsigned long long)r.events,
                r.device ? "true" : "false");
}

/* GET /api/0/stats: what `wherelog stats --json` prints, for the devices the viewer sees. */
void api_get_stats(struct api *api, const struct api_request *req, struct api_response *resp)
{
    char user[OT_NAME_MAX + 1], device[OT_NAME_MAX + 1];
    bool have_user, have_device;
    int64_t from = WTIME_MIN, to = WTIME_MAX;

    if (!name_param(req, resp, "user", false, user, &have_user) ||
        !name_param(req, resp, "device", false, device, &have_device) ||
        !time_param(req, resp, "from", false, &from) || !time_param(req, resp, "to", true, &to))
        return;
    if (from > to) {
        api_error(resp, 416, "impossible date/time range: from is after to");
        return;
    }
    ok_json(resp);
    int rc = q_stats_json(api->store, have_user ? user : NULL, have_device ? device : NULL, from,
                          to, Q_STATS_MAX_ACC, api->opt.visible, api->opt.visible_arg, req->user,
                          &resp->body);
    if (rc)
        api_error(resp, 500, "cannot read the store: %s", wl_strerror(rc));
}

/* Our addition: what the web map needs from the server's settings. */
void api_get_config(struct api *api, const struct api_request *req, struct api_response *resp)
{
    const struct api_options *o = &api->opt;
    struct sink *b = &resp->body;
    ok_json(resp);
    sink_puts(b, "{\"version\":");
    sink_json_string(b, o->version, strlen(o->version));
    pthread_mutex_lock(&api->tiles_lock);
    sink_puts(b, ",\"tiles\":{\"url\":");
    sink_json_string(b, api->tile_url, strlen(api->tile_url));
    sink_puts(b, ",\"attribution\":");
    sink_json_string(b, api->tile_attribution, strlen(api->tile_attribution));
    sink_printf(b, ",\"maxZoom\":%d}", o->tile_max_zoom ? o->tile_max_zoom : 19);
    pthread_mutex_unlock(&api->tiles_lock);
    sink_puts(b, ",\"mqtt\":");
    if (o->mqtt_host) {
        sink_puts(b, "{\"host\":");
        sink_json_string(b, o->mqtt_host, strlen(o->mqtt_host));
        sink_printf(b, ",\"port\":%d}", o->mqtt_port);
    } else {
        sink_puts(b, "null");
    }
    sink_puts(b, ",\"http\":{\"pub\":\"/pub\"},\"user\":");
    if (req->user)
        sink_json_string(b, req->user, strlen(req->user));
    else
        sink_puts(b, "null");
    sink_puts(b, "}\n");
}

void api_get_monitor(struct api *api, const struct api_request *req, struct api_response *resp)
{
    int64_t when;
    char topic[STORE_TOPIC_MAX + 1], user[OT_NAME_MAX + 1];
    resp->status = 200;
    resp->content_type = "text/plain; charset=utf-8";
    /* Only for those who may see whose message it was. */
    if (ingest_last_received(api->ingest, &when, topic, sizeof(topic), user) &&
        (!api->opt.visible || (user[0] && may_see(api, req, user))))
        sink_printf(&resp->body, "%lld %s\n", (long long)when, topic);
    else
        sink_puts(&resp->body, "not available\n");
}

/* ---------------------------------------------------------------- HTTP mode */

/* The caller's identity: the authenticated user wins; X-Limit-U may only repeat it. */
static bool pub_identity(const struct api_request *req, struct api_response *resp, char *user,
                         char *device)
{
    const char *u = req->header(req->ctx, "X-Limit-U"), *d = req->header(req->ctx, "X-Limit-D");
    const char *why;

    if (!u || !u[0])
        u = req->query(req->ctx, "u");
    if (!d || !d[0])
        d = req->query(req->ctx, "d");
    if (req->user) {
        if (u && u[0] &&
            (ot_normalize_name(u, strlen(u), user, &why) != 0 || strcmp(user, req->user) != 0)) {
            api_error(resp, 403, "X-Limit-U does not match the authenticated user");
            return false;
        }
        u = req->user;
    }
    /* OwnTracks Recorder's defaults, for apps that send neither. */
    if (!u || !u[0])
        u = "owntracks";
    if (!d || !d[0])
        d = "phone";
    if (ot_normalize_name(u, strlen(u), user, &why) != 0) {
        api_error(resp, 400, "bad user: %s", why);
        return false;
    }
    if (ot_normalize_name(d, strlen(d), device, &why) != 0) {
        api_error(resp, 400, "bad device: %s", why);
        return false;
    }
    return true;
}

/* Encrypts the reply when the device has a key, as the apps expect (protocol §7). */
static void encrypt_reply(struct api *api, const char *user, const char *device,
                          struct api_response *resp)
{
    unsigned char secret[OT_SECRET_MAX];
    char *b64;
    int n = store_key_get(api->store, user, device, secret);

    if (n <= 0)
        return;
    if (ot_encrypt(secret, (size_t)n, resp->body.buf, resp->body.len, &b64) == 0) {
        resp->body.len = 0;
        sink_puts(&resp->body, "{\"_type\":\"encrypted\",\"data\":\"");
        sink_puts(&resp->body, b64);
        sink_puts(&resp->body, "\"}");
        free(b64);
    }
}

void api_post_pub(struct api *api, const struct api_request *req, struct api_response *resp)
{
    char user[OT_NAME_MAX + 1], device[OT_NAME_MAX + 1], reason[OT_REASON_MAX];
    struct ingest_batch batch;

    if (!pub_identity(req, resp, user, device))
        return;
    if (ingest_batch_init(&batch)) {
        api_error(resp, 500, "out of memory");
        return;
    }
    bool retry;
    enum ot_outcome o = ingest_http(api->ingest, &batch, user, device, req->body, req->body_len,
                                    time(NULL), reason, sizeof(reason), &retry);
    /* A message refused for what it says still gets a 2xx: the apps put a message that failed
     * back at the head of their queue and retry it, with a growing wait, before anything sent
     * after it (protocol §7), so a message that can never be stored would hold the phone's
     * later points back for many minutes. The reason goes to the log (ingest) and to a
     * header. One refused for now (no key configured yet, out of memory) gets a 503, so that
     * the app keeps it and sends it again. */
    if (o == OT_REJECT) {
        /* A header value: printable ASCII only, whatever the payload put in the reason. */
        size_t i;
        for (i = 0; reason[i] && i + 1 < sizeof(resp->rejected); i++)
            resp->rejected[i] = reason[i] >= 0x20 && reason[i] < 0x7f ? reason[i] : '?';
        resp->rejected[i] = '\0';
    }
    if (o == OT_REJECT && retry) {
        api_error(resp, 503, "cannot store the message now: %s", reason);
        resp->retry_after = API_RETRY_AFTER;
    } else if (o == OT_ACCEPT && ingest_commit(api->ingest, &batch, NULL) != 0) {
        /* Not stored: the app keeps the message and posts it again. */
        api_error(resp, 503, "cannot store the message now; try again later");
        resp->retry_after = API_RETRY_AFTER;
    } else {
        ok_json(resp);
        int rc = q_friends_json(api->store, user, device, api->opt.visible, api->opt.visible_arg,
                                &resp->body);
        if (rc) {
            resp->body.len = 0;
            sink_putc(&resp->body, '['); /* stored all the same; the friends can wait */
            sink_putc(&resp->body, ']');
        }
        encrypt_reply(api, user, device, resp);
        sink_putc(&resp->body, '\n');
    }
    ingest_batch_free(&batch);
}
