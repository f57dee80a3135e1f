#include "api.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "config.h"
#include "fmt.h"
#include "heat.h"
#include "log.h"
#include "owntracks.h"
#include "pack.h"
#include "placename.h"
#include "places.h"
#include "request.h"
#include "share.h"
#include "summary.h"
#include "tlread.h"
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

static const char *api_param(void *ctx, const char *name)
{
    const struct api_request *req = ctx;
    return req->param(req->ctx, name);
}

/* Parses the request's parameters (request.h); false, with the refusal in resp, if bad. */
static bool parse(const struct api_request *req, struct api_response *resp,
                  const struct request_rules *rules, struct request_params *rq)
{
    struct request_error err;
    char why[REQUEST_WHY_MAX + 64];
    if (request_parse(rq, rules, api_param, (void *)req, &err) == 0)
        return true;
    api_error(resp, request_status(&err), "%s",
              request_describe(&err, REQUEST_DOOR_API, why, sizeof(why)));
    return false;
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
    static const struct request_rules rules = {.takes = REQUEST_USER | REQUEST_DEVICE};
    struct request_params rq;
    struct list_ctx l = {.api = api, .viewer = req->user, .out = &resp->body};
    int rc = 0;

    if (!parse(req, resp, &rules, &rq))
        return;
    const char *user = rq.user, *device = rq.device;
    bool have_user = rq.given & REQUEST_USER, have_device = rq.given & REQUEST_DEVICE;
    ok_json(resp);
    sink_puts(&resp->body, "{\"results\":");
    if (have_user && !may_see(api, req, user)) {
        sink_puts(&resp->body, "[]"); /* as if absent: do not confirm who exists */
    } else if (have_user && have_device) {
        /* The Recorder lists its month files here (with server paths); we list the months. */
        rc = query_months_json(api->store, user, device, &resp->body);
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
    static const struct request_rules rules = {.takes =
                                                   REQUEST_USER | REQUEST_DEVICE | REQUEST_FIELDS};
    struct request_params rq;

    if (!parse(req, resp, &rules, &rq))
        return;
    ok_json(resp);
    if ((rq.given & REQUEST_USER) && !may_see(api, req, rq.user)) {
        sink_puts(&resp->body, "[]\n");
        return;
    }
    struct query_last_filter f = {.user = rq.given & REQUEST_USER ? rq.user : NULL,
                                  .device = rq.given & REQUEST_DEVICE ? rq.device : NULL,
                                  .fields = rq.nfields ? rq.fields : NULL,
                                  .nfields = rq.nfields,
                                  .visible = api->opt.visible,
                                  .visible_arg = api->opt.visible_arg,
                                  .viewer = req->user};
    struct placename_memo *memo = api->opt.places ? placename_memo_new(api->opt.places) : NULL;
    if (memo)
        f.place = (struct fmt_place){.write = placename_write_members, .arg = memo};
    int rc = query_last_json(api->store, &f, &resp->body);
    placename_memo_free(memo);
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
static void set_download(struct api_response *resp, const struct request_params *rq,
                         const struct query_plan *plan)
{
    char u[OWNTRACKS_NAME_MAX + 1], d[OWNTRACKS_NAME_MAX + 1], f[WTIME_ISO_SIZE], t[WTIME_ISO_SIZE];
    int64_t from = rq->from, to = rq->to;
    if (plan->found && plan->dev.points) {
        from = from > plan->dev.first_tst ? from : plan->dev.first_tst;
        to = to < plan->dev.last_tst ? to : plan->dev.last_tst;
    }
    if (to < from)
        to = from;
    safe_name(u, sizeof(u), rq->user);
    safe_name(d, sizeof(d), rq->device);
    wtime_iso(from, f);
    wtime_iso(to, t);
    f[10] = t[10] = '\0'; /* dates: jane-phone-2024-12-01-2024-12-07.gpx */
    snprintf(resp->disposition, sizeof(resp->disposition),
             "attachment; filename=\"%s-%s-%s-%s.%s\"", u, d, f, t, fmt_extension(rq->format));
}

/* A streamed track; it outlives the request handler, so the fields live here. */
struct track_stream {
    struct query_track *track;
    struct request_params rq;    /* the names and fields the format writer borrows */
    struct placename_memo *memo; /* the place members' (NULL: none) */
};

static int track_fill(void *state, struct sink *out, size_t want)
{
    struct track_stream *ts = state;
    return query_track_fill(ts->track, out, want);
}

static void track_release(void *state)
{
    struct track_stream *ts = state;
    query_track_close(ts->track);
    placename_memo_free(ts->memo);
    free(ts);
}

/* ---------------------------------------------------------------- timeline */

/* A streamed timeline or list of days (tlread.h). */
static int timeline_fill(void *state, struct sink *out, size_t want)
{
    return tlread_fill(state, out, want);
}

static void timeline_release(void *state)
{
    tlread_close(state);
}

/* What the timeline routes share: the parameters parsed, the viewer allowed, the user's zone
 * opened (caller unrefs), and a plain date in from or to read as that day in the zone. False,
 * with the answer in resp, when the request goes no further. */
static bool timeline_request(struct api *api, const struct api_request *req,
                             struct api_response *resp, const struct request_rules *rules,
                             struct request_params *rq, struct zone **z)
{
    struct request_error err;
    char why[REQUEST_WHY_MAX + 64];
    int rc;

    *z = NULL;
    if (!parse(req, resp, rules, rq))
        return false;
    if (!may_see(api, req, rq->user)) {
        api_error(resp, 403, "not allowed to read %s's timeline", rq->user);
        return false;
    }
    if ((rc = tlread_user_zone(api->store, rq->user, z))) {
        api_error(resp, 500, "cannot read %s's time zone: %s", rq->user, wl_strerror(rc));
        return false;
    }
    if ((rules->takes & REQUEST_RANGE) &&
        (tlread_local_bound(req->param(req->ctx, "from"), "from", false, *z, &rq->from, &err) ||
         tlread_local_bound(req->param(req->ctx, "to"), "to", true, *z, &rq->to, &err))) {
        api_error(resp, 400, "%s", request_describe(&err, REQUEST_DOOR_API, why, sizeof(why)));
        goto fail;
    }
    if (rq->from > rq->to) {
        api_error(resp, 416, "impossible date/time range: from is after to");
        goto fail;
    }
    return true;
fail:
    zone_unref(*z);
    *z = NULL;
    return false;
}

/* Starts the stream of a timeline or of days into resp. Takes z. */
static void timeline_stream(struct api *api, struct api_response *resp,
                            const struct tlread_request *tq, struct zone *z, bool days)
{
    struct tlread *t;
    int rc = days ? tlread_days_open(api->store, tq, z, &resp->body, &t)
                  : tlread_timeline_open(api->store, tq, z, &resp->body, &t);
    zone_unref(z);
    if (rc == -ENOENT) {
        api_error(resp, 404, "no device %s/%s", tq->user, tq->device);
        return;
    }
    if (rc) {
        api_error(resp, 500, "cannot read the store: %s", wl_strerror(rc));
        return;
    }
    resp->status = 200;
    switch (tq->format) {
    case TLREAD_GEOJSON: resp->content_type = fmt_content_type(FMT_GEOJSON); break;
    case TLREAD_GPX: resp->content_type = fmt_content_type(FMT_GPX); break;
    default: resp->content_type = json_type; break;
    }
    resp->fill = timeline_fill;
    resp->release = timeline_release;
    resp->state = t;
}

static const struct request_rules timeline_rules = {
    .takes = REQUEST_USER | REQUEST_DEVICE | REQUEST_RANGE | REQUEST_MAX_POINTS | REQUEST_FORMAT,
    .requires = REQUEST_USER | REQUEST_DEVICE,
    .formats = REQUEST_FORMAT_BIT(FMT_JSON) | REQUEST_FORMAT_BIT(FMT_GEOJSON) |
               REQUEST_FORMAT_BIT(FMT_GPX)};

static enum tlread_format timeline_format(enum fmt_kind kind)
{
    return kind == FMT_GEOJSON ? TLREAD_GEOJSON : kind == FMT_GPX ? TLREAD_GPX : TLREAD_JSON;
}

void api_get_timeline(struct api *api, const struct api_request *req, struct api_response *resp)
{
    struct request_params rq;
    struct zone *z;
    if (!timeline_request(api, req, resp, &timeline_rules, &rq, &z))
        return;
    struct tlread_request tq = {.user = rq.user,
                                .device = rq.device,
                                .from = rq.from,
                                .to = rq.to,
                                .format = timeline_format(rq.format),
                                .max_points = rq.max_points,
                                .now = time(NULL)};
    timeline_stream(api, resp, &tq, z, false);
}

/* GET /api/0/locations?format=gpx&timeline=1: the stays as waypoints, a track per trip. */
static void locations_timeline(struct api *api, const struct api_request *req,
                               struct api_response *resp)
{
    const struct request_rules rules = {
        .takes = REQUEST_USER | REQUEST_DEVICE | REQUEST_RANGE | REQUEST_MAX_POINTS |
                 REQUEST_FORMAT | REQUEST_DOWNLOAD | REQUEST_TIMELINE,
        .requires = REQUEST_USER | REQUEST_DEVICE,
        .default_from = time(NULL) - API_DEFAULT_WINDOW}; /* as for the points */
    struct request_params rq;
    struct zone *z;
    if (!timeline_request(api, req, resp, &rules, &rq, &z))
        return;
    if (rq.format != FMT_GPX) {
        zone_unref(z);
        api_error(resp, 400,
                  "bad parameter timeline: goes with format=gpx (for JSON and GeoJSON "
                  "use /api/0/timeline)");
        return;
    }
    struct tlread_request tq = {.user = rq.user,
                                .device = rq.device,
                                .from = rq.from,
                                .to = rq.to,
                                .format = TLREAD_GPX,
                                .max_points = rq.max_points,
                                .now = time(NULL)};
    timeline_stream(api, resp, &tq, z, false);
    if (resp->status == 200) {
        struct query_plan plan = {.found = false};
        set_download(resp, &rq, &plan);
    }
}

void api_get_days(struct api *api, const struct api_request *req, struct api_response *resp)
{
    static const struct request_rules rules = {.takes =
                                                   REQUEST_USER | REQUEST_DEVICE | REQUEST_RANGE,
                                               .requires = REQUEST_USER | REQUEST_DEVICE};
    struct request_params rq;
    struct request_error err;
    char why[REQUEST_WHY_MAX + 64];
    enum tlread_group group;
    struct zone *z;

    if (tlread_parse_group(req->param(req->ctx, "group"), &group, &err)) {
        api_error(resp, 400, "%s", request_describe(&err, REQUEST_DOOR_API, why, sizeof(why)));
        return;
    }
    if (!timeline_request(api, req, resp, &rules, &rq, &z))
        return;
    struct tlread_request tq = {
        .user = rq.user, .device = rq.device, .from = rq.from, .to = rq.to, .group = group};
    timeline_stream(api, resp, &tq, z, true);
}

void api_get_at(struct api *api, const struct api_request *req, struct api_response *resp)
{
    static const struct request_rules rules = {.takes = REQUEST_USER | REQUEST_DEVICE,
                                               .requires = REQUEST_USER | REQUEST_DEVICE};
    struct request_params rq;
    struct request_error err;
    char why[REQUEST_WHY_MAX + 64];
    struct zone *z;
    int64_t at;

    const char *text = req->param(req->ctx, "t");
    if (!text || !text[0]) {
        api_error(resp, 400, "missing parameter t");
        return;
    }
    if (!timeline_request(api, req, resp, &rules, &rq, &z))
        return;
    if (tlread_at_time(text, "t", z, &at, &err)) {
        zone_unref(z);
        api_error(resp, 400, "%s", request_describe(&err, REQUEST_DOOR_API, why, sizeof(why)));
        return;
    }
    ok_json(resp);
    int rc = tlread_at_json(api->store, rq.user, rq.device, at, z, &resp->body);
    zone_unref(z);
    if (rc == -ENOENT)
        api_error(resp, 404, "no device %s/%s", rq.user, rq.device);
    else if (rc)
        api_error(resp, 500, "cannot read the store: %s", wl_strerror(rc));
}

/* "user/device" or "user" for messages; device may be "". */
static const char *whose(const struct request_params *rq, char *buf, size_t size)
{
    snprintf(buf, size, "%s%s%s", rq->user, rq->device[0] ? "/" : "", rq->device);
    return buf;
}

void api_get_summary(struct api *api, const struct api_request *req, struct api_response *resp)
{
    static const struct request_rules rules = {.takes = REQUEST_USER | REQUEST_DEVICE,
                                               .requires = REQUEST_USER};
    struct request_params rq;
    struct store_user_settings set;
    struct summary sm;
    char who[2 * OWNTRACKS_NAME_MAX + 2];
    struct zone *z;
    int year, rc;

    const char *text = req->param(req->ctx, "year");
    if (!text || !text[0]) {
        api_error(resp, 400, "missing parameter year");
        return;
    }
    if (summary_parse_year(text, &year)) {
        api_error(resp, 400, "year must be a year from %d to %d", SUMMARY_YEAR_MIN,
                  SUMMARY_YEAR_MAX);
        return;
    }
    if (!timeline_request(api, req, resp, &rules, &rq, &z))
        return;
    if ((rc = store_user_settings(api->store, rq.user, &set))) {
        zone_unref(z);
        api_error(resp, 500, "cannot read %s's settings: %s", rq.user, wl_strerror(rc));
        return;
    }
    const char *device = rq.device[0] ? rq.device : NULL;
    summary_init(&sm, year, set.tl.stay_radius_m);
    rc = summary_read(api->store, rq.user, device, z, api->opt.gazetteer, &sm);
    if (rc == -ENOENT) {
        api_error(resp, 404, "no device of %s", whose(&rq, who, sizeof(who)));
    } else if (rc) {
        api_error(resp, 500, "cannot read the store: %s", wl_strerror(rc));
    } else {
        ok_json(resp);
        summary_json(&resp->body, &sm, rq.user, device, z, api->opt.gazetteer);
    }
    summary_free(&sm);
    zone_unref(z);
}

void api_get_heat(struct api *api, const struct api_request *req, struct api_response *resp)
{
    static const struct request_rules rules = {
        .takes = REQUEST_USER | REQUEST_DEVICE | REQUEST_RANGE, .requires = REQUEST_USER};
    struct request_params rq;
    struct heat_bbox box;
    struct heat_grid g;
    char who[2 * OWNTRACKS_NAME_MAX + 2];
    const char *why;
    struct zone *z;
    int zoom, rc;

    const char *zoom_text = req->param(req->ctx, "zoom");
    const char *bbox_text = req->param(req->ctx, "bbox");
    if (!zoom_text || !zoom_text[0]) {
        api_error(resp, 400, "missing parameter zoom");
        return;
    }
    if (heat_parse_zoom(zoom_text, &zoom)) {
        api_error(resp, 400, "zoom must be a whole number from 0 to %d", HEAT_ZOOM_MAX);
        return;
    }
    bool have_box = bbox_text && bbox_text[0];
    if (have_box && heat_parse_bbox(bbox_text, &box, &why)) {
        api_error(resp, 400, "%s", why);
        return;
    }
    if (!timeline_request(api, req, resp, &rules, &rq, &z))
        return;
    zone_unref(z); /* the range's dates were read in it; the grid needs no zone */
    struct heat_request hq = {.user = rq.user,
                              .device = rq.device[0] ? rq.device : NULL,
                              .from = rq.from,
                              .to = rq.to,
                              .zoom = zoom,
                              .bbox = have_box ? &box : NULL};
    heat_grid_init(&g, zoom);
    rc = heat_read(api->store, &hq, &g);
    if (rc == -ENOENT) {
        api_error(resp, 404, "no device of %s", whose(&rq, who, sizeof(who)));
    } else if (rc == -E2BIG) {
        api_error(resp, 413, "more than %d cells at zoom %d: ask a lower zoom or a smaller bbox",
                  HEAT_CELLS_MAX, zoom);
    } else if (rc) {
        api_error(resp, 500, "cannot read the store: %s", wl_strerror(rc));
    } else {
        ok_json(resp);
        heat_json(&resp->body, &g);
    }
    heat_grid_free(&g);
}

void api_get_locations(struct api *api, const struct api_request *req, struct api_response *resp)
{
    const struct request_rules rules = {.takes = REQUEST_USER | REQUEST_DEVICE | REQUEST_RANGE |
                                                 REQUEST_LIMIT | REQUEST_MAX_POINTS |
                                                 REQUEST_FIELDS | REQUEST_FORMAT |
                                                 REQUEST_DOWNLOAD | REQUEST_TIMELINE,
                                        .requires = REQUEST_USER | REQUEST_DEVICE,
                                        .default_from = time(NULL) - API_DEFAULT_WINDOW};
    struct track_stream *ts = calloc(1, sizeof(*ts));

    if (!ts) {
        api_error(resp, 500, "out of memory");
        return;
    }
    struct request_params *rq = &ts->rq;
    if (!parse(req, resp, &rules, rq))
        goto fail;
    if (!may_see(api, req, rq->user)) {
        api_error(resp, 403, "not allowed to read %s's locations", rq->user);
        goto fail;
    }
    if (rq->timeline) {
        free(ts);
        locations_timeline(api, req, resp);
        return;
    }

    struct fmt_options fo = {.user = rq->user,
                             .device = rq->device,
                             .recorder_envelope = true,
                             .version = api->opt.version,
                             .fields = rq->nfields ? rq->fields : NULL,
                             .nfields = rq->nfields};
    if (api->opt.places && rq->format == FMT_JSON &&
        (ts->memo = placename_memo_new(api->opt.places)))
        fo.place = (struct fmt_place){.write = placename_write_members, .arg = ts->memo};
    struct query_range range = {
        .from = rq->from, .to = rq->to, .limit = rq->limit, .max_points = rq->max_points};
    struct query_plan plan;
    /* An unknown device is planned as an empty track: an empty document, not an error. */
    int rc = query_plan_export(api->store, rq->user, rq->device, &range, &plan);
    if (rc == 0)
        rc = query_track_open(api->store, &plan, rq->format, &fo, &resp->body, &ts->track);
    if (rc) {
        query_plan_free(&plan);
        api_error(resp, 500, "cannot read the store: %s", wl_strerror(rc));
        goto fail;
    }
    resp->status = 200;
    resp->content_type = fmt_content_type(rq->format);
    if (rq->format == FMT_GPX || rq->download)
        set_download(resp, rq, &plan);
    if (!plan.found) { /* nothing to stream: the empty document goes out whole */
        rc = query_track_fill(ts->track, &resp->body, SIZE_MAX);
        if (rc < 0)
            api_error(resp, 500, "cannot read the store: %s", wl_strerror(rc));
        track_release(ts);
        return;
    }
    resp->fill = track_fill;
    resp->release = track_release;
    resp->state = ts;
    return;
fail:
    placename_memo_free(ts->memo);
    free(ts);
}

/* A coordinate parameter: a finite number within -limit..limit, or false. */
static bool coordinate(const char *text, double limit, double *out)
{
    char *end;
    if (!text || !text[0])
        return false;
    *out = strtod(text, &end);
    return *end == '\0' && isfinite(*out) && fabs(*out) <= limit;
}

static void put_member(struct sink *out, const char *name, const char *value, bool *comma)
{
    if (!value[0])
        return;
    sink_puts(out, *comma ? ",\"" : "\"");
    sink_puts(out, name);
    sink_puts(out, "\":");
    sink_json_string(out, value, strlen(value));
    *comma = true;
}

void api_get_q(struct api *api, const struct api_request *req, struct api_response *resp)
{
    struct placename_answer a;
    double lat, lon;
    bool comma = false;

    if (!coordinate(req->param(req->ctx, "lat"), 90, &lat) ||
        !coordinate(req->param(req->ctx, "lon"), 180, &lon)) {
        api_error(resp, 400, "lat and lon must be numbers within -90..90 and -180..180");
        return;
    }
    /* The cache holds the cells where some user has been: only a viewer who may see every user
     * may learn what it holds; others get the offline data, which tells nothing of anyone. */
    enum placename_cache how = may_see(api, req, NULL) ? PLACENAME_CACHE : PLACENAME_NO_CACHE;
    ok_json(resp);
    if (!api->opt.places || placename_lookup(api->opt.places, lat, lon, how, &a) != 0) {
        sink_puts(&resp->body, "{}\n");
        return;
    }
    sink_putc(&resp->body, '{');
    put_member(&resp->body, "cc", a.cc, &comma);
    put_member(&resp->body, "addr", a.addr, &comma);
    if (a.cached) {
        sink_puts(&resp->body, comma ? ",\"tst\":" : "\"tst\":");
        sink_put_i64(&resp->body, a.fetched);
        comma = true;
    }
    put_member(&resp->body, "locality", a.locality, &comma);
    put_member(&resp->body, "tzname", a.tzname, &comma);
    sink_puts(&resp->body, "}\n");
}

/* DELETE /api/0/locations: removes points (or, without from and to, whole devices). */
static int events_fill(void *state, struct sink *out, size_t want)
{
    return query_events_fill(state, out, want);
}

static void events_release(void *state)
{
    query_events_close(state);
}

void api_get_events(struct api *api, const struct api_request *req, struct api_response *resp)
{
    static const struct request_rules rules = {.takes =
                                                   REQUEST_USER | REQUEST_DEVICE | REQUEST_RANGE,
                                               .requires = REQUEST_USER,
                                               .default_from = WTIME_MIN};
    struct request_params rq;
    struct query_events *q;
    unsigned kinds = 0;

    if (!parse(req, resp, &rules, &rq))
        return;
    const char *kind = req->param(req->ctx, "kind");
    if (kind && *kind && store_event_kinds_parse(kind, &kinds) != 0) {
        api_error(resp, 400,
                  "kind: a comma-separated list of stay_started, stay_ended, "
                  "trip_started, trip_ended, battery_low, transition, silent, "
                  "place_entered, place_left");
        return;
    }
    if (!may_see(api, req, rq.user)) {
        api_error(resp, 403, "not allowed to read %s's events", rq.user);
        return;
    }
    int rc = query_events_open(api->store, rq.user, rq.given & REQUEST_DEVICE ? rq.device : NULL,
                               rq.from, rq.to, kinds, false, &q);
    if (rc) {
        api_error(resp, 500, "cannot read the store: %s", wl_strerror(rc));
        return;
    }
    ok_json(resp);
    resp->fill = events_fill;
    resp->release = events_release;
    resp->state = q;
}

void api_delete_locations(struct api *api, const struct api_request *req, struct api_response *resp)
{
    static const struct request_rules rules = {.takes =
                                                   REQUEST_USER | REQUEST_DEVICE | REQUEST_RANGE,
                                               .requires = REQUEST_USER | REQUEST_DEVICE};
    struct request_params rq;

    if (!parse(req, resp, &rules, &rq))
        return;
    const char *user = rq.user, *device = rq.device;
    if (!req->user || !api->opt.may_delete ||
        !api->opt.may_delete(api->opt.visible_arg, req->user, user)) {
        api_error(resp, 403,
                  req->user ? "%s may not delete %s's data"
                            : "deleting needs an authenticated user%s%s",
                  req->user ? req->user : "", req->user ? user : "");
        return;
    }
    struct store_removed r = {0};
    int rc;
    if (!(rq.given & REQUEST_RANGE))
        rc = store_delete_device(api->store, user, device, false, &r);
    else
        rc = store_delete_points(api->store, user, device, rq.from, rq.to, false, &r.points);
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
    static const struct request_rules rules = {.takes =
                                                   REQUEST_USER | REQUEST_DEVICE | REQUEST_RANGE};
    struct request_params rq;

    if (!parse(req, resp, &rules, &rq))
        return;
    ok_json(resp);
    int rc = query_stats_json(api->store, rq.given & REQUEST_USER ? rq.user : NULL,
                              rq.given & REQUEST_DEVICE ? rq.device : NULL, rq.from, rq.to,
                              QUERY_STATS_MAX_ACC, api->opt.visible, api->opt.visible_arg,
                              req->user, &resp->body);
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
    sink_printf(b, ",\"maxZoom\":%d}",
                o->tile_max_zoom ? o->tile_max_zoom : CFG_TILE_MAX_ZOOM_DEFAULT);
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
    char topic[STORE_TOPIC_MAX + 1], user[OWNTRACKS_NAME_MAX + 1];
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
            (owntracks_normalize_name(u, strlen(u), user, &why) != 0 ||
             strcmp(user, req->user) != 0)) {
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
    if (owntracks_normalize_name(u, strlen(u), user, &why) != 0) {
        api_error(resp, 400, "bad user: %s", why);
        return false;
    }
    if (owntracks_normalize_name(d, strlen(d), device, &why) != 0) {
        api_error(resp, 400, "bad device: %s", why);
        return false;
    }
    return true;
}

/* Encrypts the reply when the device has a key, as the apps expect (protocol §7). */
static void encrypt_reply(struct api *api, const char *user, const char *device,
                          struct api_response *resp)
{
    unsigned char secret[OWNTRACKS_SECRET_MAX];
    char *b64;
    int n = store_key_get(api->store, user, device, secret);

    if (n <= 0)
        return;
    if (owntracks_encrypt(secret, (size_t)n, resp->body.buf, resp->body.len, &b64) == 0) {
        resp->body.len = 0;
        sink_puts(&resp->body, "{\"_type\":\"encrypted\",\"data\":\"");
        sink_puts(&resp->body, b64);
        sink_puts(&resp->body, "\"}");
        free(b64);
    }
}

void api_post_pub(struct api *api, const struct api_request *req, struct api_response *resp)
{
    char user[OWNTRACKS_NAME_MAX + 1], device[OWNTRACKS_NAME_MAX + 1], reason[OWNTRACKS_REASON_MAX];
    struct ingest_batch batch;

    if (!pub_identity(req, resp, user, device))
        return;
    if (ingest_batch_init(&batch)) {
        api_error(resp, 500, "out of memory");
        return;
    }
    bool retry;
    enum owntracks_outcome o =
        ingest_http(api->ingest, &batch, user, device, req->body, req->body_len, time(NULL), reason,
                    sizeof(reason), &retry);
    /* A message refused for what it says still gets a 2xx: the apps put a message that failed
     * back at the head of their queue and retry it, with a growing wait, before anything sent
     * after it (protocol §7), so a message that can never be stored would hold the phone's
     * later points back for many minutes. The reason goes to the log (ingest) and to a
     * header. One refused for now (no key configured yet, out of memory) gets a 503, so that
     * the app keeps it and sends it again. */
    if (o == OWNTRACKS_REJECT) {
        /* A header value: printable ASCII only, whatever the payload put in the reason. */
        size_t i;
        for (i = 0; reason[i] && i + 1 < sizeof(resp->rejected); i++)
            resp->rejected[i] = reason[i] >= 0x20 && reason[i] < 0x7f ? reason[i] : '?';
        resp->rejected[i] = '\0';
    }
    if (o == OWNTRACKS_REJECT && retry) {
        api_error(resp, 503, "cannot store the message now: %s", reason);
        resp->retry_after = API_RETRY_AFTER;
    } else if (o == OWNTRACKS_ACCEPT && ingest_commit(api->ingest, &batch, NULL) != 0) {
        /* Not stored: the app keeps the message and posts it again. */
        api_error(resp, 503, "cannot store the message now; try again later");
        resp->retry_after = API_RETRY_AFTER;
    } else {
        ok_json(resp);
        /* Friends are whom the caller may see: an anonymous caller on an open server
         * (req->user NULL) sees everyone, whatever user it publishes as. */
        int rc = query_friends_json(api->store, user, device, req->user ? api->opt.visible : NULL,
                                    api->opt.visible_arg, &resp->body);
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

/* ---------------------------------------------------------------- places */

/* May the caller change `user`'s places? Their own, or anyone's for an admin (the rule for
 * deleting points). Nobody is signed in only on an open server (sign-in off: a request without
 * credentials never gets this far otherwise), where whoever may see may name places: the map
 * of a household server is for everyone in it. */
static bool may_change(struct api *api, const struct api_request *req, const char *user)
{
    if (!req->user)
        return may_see(api, req, user);
    return strcmp(req->user, user) == 0 ||
           (api->opt.may_delete && api->opt.may_delete(api->opt.visible_arg, req->user, user));
}

/* A number parameter: absent (false, *out untouched), or a finite number (true); anything
 * else is refused with 400 (then *bad is set). */
static bool number_param(const struct api_request *req, struct api_response *resp, const char *name,
                         double *out, bool *bad)
{
    const char *text = req->param(req->ctx, name);
    char *end;
    if (!text || !*text)
        return false;
    errno = 0;
    double d = strtod(text, &end);
    if (*end || end == text || errno || !isfinite(d)) {
        api_error(resp, 400, "bad parameter %s: not a number", name);
        *bad = true;
        return false;
    }
    *out = d;
    return true;
}

/* A place id: 1..UINT32_MAX in decimal; 0 when the text is not one. */
static uint32_t place_id(const char *text)
{
    char *end;
    if (!text || *text < '1' || *text > '9')
        return 0;
    errno = 0;
    unsigned long long v = strtoull(text, &end, 10);
    return *end || errno || v > UINT32_MAX ? 0 : (uint32_t)v;
}

/* The user a places route is about (required), readable by the caller; false with the
 * answer in resp otherwise. */
static bool places_user(struct api *api, const struct api_request *req, struct api_response *resp,
                        struct request_params *rq)
{
    static const struct request_rules rules = {.takes = REQUEST_USER | REQUEST_RANGE,
                                               .requires = REQUEST_USER};
    if (!parse(req, resp, &rules, rq))
        return false;
    if (!may_see(api, req, rq->user)) {
        api_error(resp, 403, "not allowed to read %s's places", rq->user);
        return false;
    }
    return true;
}

/* The answer for a failed places read or write. */
static void places_failed(struct api_response *resp, int rc, const char *what)
{
    if (rc == -ENOENT)
        api_error(resp, 404, "no such place");
    else if (rc == -EDQUOT)
        api_error(resp, 409, "%s: too many places (at most %d a user)", what, STORE_PLACES_MAX);
    else if (rc == -EROFS)
        api_error(resp, 503, "%s: the store is read-only", what);
    else
        api_error(resp, 500, "%s: %s", what, wl_strerror(rc));
}

void api_get_places(struct api *api, const struct api_request *req, struct api_response *resp)
{
    struct request_params rq;
    if (!places_user(api, req, resp, &rq))
        return;
    ok_json(resp);
    int rc = places_list_json(api->store, rq.user, &resp->body);
    if (rc)
        places_failed(resp, rc, "cannot read the places");
}

/* The name, centre, radius and private flag given to a place being made or changed; false
 * with the refusal in resp when one is bad. */
static bool place_fields(const struct api_request *req, struct api_response *resp,
                         struct store_place *p)
{
    bool bad = false;
    const char *name = req->param(req->ctx, "name"), *priv = req->param(req->ctx, "private");
    if (name) {
        size_t len = strlen(name);
        if (len > STORE_PLACE_NAME_MAX) {
            api_error(resp, 400, "bad parameter name: longer than %d bytes", STORE_PLACE_NAME_MAX);
            return false;
        }
        memcpy(p->name, name, len + 1);
    }
    number_param(req, resp, "lat", &p->lat, &bad);
    if (!bad)
        number_param(req, resp, "lon", &p->lon, &bad);
    if (!bad)
        number_param(req, resp, "radius", &p->radius_m, &bad);
    if (bad)
        return false;
    if (priv && *priv)
        p->flags =
            (uint8_t)((p->flags & ~STORE_PLACE_PRIVATE) |
                      (strcmp(priv, "1") == 0 || strcmp(priv, "true") == 0 ? STORE_PLACE_PRIVATE
                                                                           : 0));
    const char *why;
    if (store_place_check(p, &why)) {
        api_error(resp, 400, "bad place: %s", why);
        return false;
    }
    return true;
}

/* POST /api/0/places: a new place from name, lat, lon and radius, or from the stay that
 * starts at from_stay (on device, if given). */
void api_post_places(struct api *api, const struct api_request *req, struct api_response *resp)
{
    struct request_params rq;
    struct store_user_settings set;
    struct store_place p = {.lat = NAN, .lon = NAN};
    const char *from_stay = req->param(req->ctx, "from_stay");
    const char *device = req->param(req->ctx, "device");
    int rc;

    if (!places_user(api, req, resp, &rq))
        return;
    if (!may_change(api, req, rq.user)) {
        api_error(resp, 403, "%s may not change %s's places", req->user ? req->user : "nobody",
                  rq.user);
        return;
    }
    if ((rc = store_user_settings(api->store, rq.user, &set))) {
        places_failed(resp, rc, "cannot read the user's settings");
        return;
    }
    p.radius_m = set.tl.stay_radius_m;
    if (from_stay && *from_stay) {
        struct request_error err;
        char why[REQUEST_WHY_MAX + 64], dev[OWNTRACKS_NAME_MAX + 1];
        int64_t start;
        struct places_stay st;
        if (request_time(from_stay, "from_stay", false, &start, &err) ||
            (device && *device && request_name(device, "device", dev, &err))) {
            api_error(resp, 400, "%s", request_describe(&err, REQUEST_DOOR_API, why, sizeof(why)));
            return;
        }
        rc = places_find_stay(api->store, rq.user, device && *device ? dev : NULL, start, &st);
        if (rc == -ENOENT) {
            api_error(resp, 404, "no stay of %s starts at %s", rq.user, from_stay);
            return;
        }
        if (rc) {
            places_failed(resp, rc, "cannot read the timeline");
            return;
        }
        p.lat = st.lat;
        p.lon = st.lon;
        if (st.radius_m > p.radius_m)
            p.radius_m = st.radius_m;
    }
    snprintf(p.user, sizeof(p.user), "%s", rq.user);
    p.created = time(NULL);
    if (!place_fields(req, resp, &p))
        return;
    if ((rc = store_place_add(api->store, &p))) {
        places_failed(resp, rc, "cannot add the place");
        return;
    }
    wl_log(WL_LOG_INFO, "api", "%s added place %u of %s", req->user ? req->user : "-", p.id,
           p.user);
    resp->status = 201;
    resp->content_type = json_type;
    places_place_json(&p, &resp->body);
    sink_putc(&resp->body, '\n');
}

/* The place a /api/0/places/ID request is about, which the caller may change; false with the
 * answer in resp otherwise. */
static bool place_of_path(struct api *api, const struct api_request *req, struct api_response *resp,
                          struct store_place *p)
{
    static const char prefix[] = "/api/0/places/";
    uint32_t id = strncmp(req->path, prefix, sizeof(prefix) - 1) == 0
                      ? place_id(req->path + sizeof(prefix) - 1)
                      : 0;
    if (id == 0) {
        api_error(resp, 404, "no such place: the path must end with a place id");
        return false;
    }
    int rc = store_place_get(api->store, id, p);
    if (rc == -ENOENT || (rc == 0 && !may_see(api, req, p->user))) {
        api_error(resp, 404, "no such place: %u", id);
        return false;
    }
    if (rc) {
        places_failed(resp, rc, "cannot read the place");
        return false;
    }
    if (!may_change(api, req, p->user)) {
        api_error(resp, 403, "%s may not change %s's places", req->user ? req->user : "nobody",
                  p->user);
        return false;
    }
    return true;
}

/* PATCH /api/0/places/ID: rename, move, resize, mark private; or, with merge=OTHER, take the
 * place OTHER in (store_place_merge). */
void api_patch_place(struct api *api, const struct api_request *req, struct api_response *resp)
{
    struct store_place p, other;
    const char *merge = req->param(req->ctx, "merge");
    int rc;

    if (!place_of_path(api, req, resp, &p))
        return;
    if (merge && *merge) {
        uint32_t from = place_id(merge);
        if (from == 0 || store_place_get(api->store, from, &other) != 0 ||
            strcmp(other.user, p.user) != 0) {
            api_error(resp, 404, "no place %s of %s to merge", merge, p.user);
            return;
        }
        if (from == p.id) {
            api_error(resp, 400, "bad parameter merge: a place cannot take itself in");
            return;
        }
        rc = store_place_merge(api->store, from, p.id, &p);
        if (rc == -ERANGE) {
            api_error(resp, 400,
                      "cannot merge: the places are too far apart for one place "
                      "(at most 5000 m across)");
            return;
        }
    } else {
        if (!place_fields(req, resp, &p))
            return;
        rc = store_place_update(api->store, &p);
    }
    if (rc) {
        places_failed(resp, rc, "cannot change the place");
        return;
    }
    ok_json(resp);
    places_place_json(&p, &resp->body);
    sink_putc(&resp->body, '\n');
}

void api_delete_place(struct api *api, const struct api_request *req, struct api_response *resp)
{
    struct store_place p;
    if (!place_of_path(api, req, resp, &p))
        return;
    int rc = store_place_delete(api->store, p.id);
    if (rc) {
        places_failed(resp, rc, "cannot delete the place");
        return;
    }
    wl_log(WL_LOG_INFO, "api", "%s deleted place %u of %s", req->user ? req->user : "-", p.id,
           p.user);
    ok_json(resp);
    sink_printf(&resp->body, "{\"deleted\":%u}\n", p.id);
}

void api_get_place_suggestions(struct api *api, const struct api_request *req,
                               struct api_response *resp)
{
    struct request_params rq;
    if (!places_user(api, req, resp, &rq))
        return;
    ok_json(resp);
    int rc = places_suggestions_json(api->store, rq.user, &resp->body);
    if (rc)
        places_failed(resp, rc, "cannot read the timeline");
}

/* GET /api/0/visits: the visits to one place of the user, in [from, to]. */
void api_get_visits(struct api *api, const struct api_request *req, struct api_response *resp)
{
    struct request_params rq;
    const char *place = req->param(req->ctx, "place");
    if (!places_user(api, req, resp, &rq))
        return;
    uint32_t id = place_id(place);
    if (!place || !*place) {
        api_error(resp, 400, "missing parameter place");
        return;
    }
    if (id == 0) {
        api_error(resp, 400, "bad parameter place: not a place id");
        return;
    }
    ok_json(resp);
    int rc = places_visits_json(api->store, rq.user, id, rq.from, rq.to, &resp->body);
    if (rc)
        places_failed(resp, rc, "cannot read the visits");
}

/* ---------------------------------------------------------------- share links */

/* Share links' JSON times are epoch seconds (0: never), as everywhere in the API. */
static void share_json(struct sink *out, const struct store_share *sh)
{
    sink_puts(out, "{\"id\":");
    sink_json_string(out, sh->id, strlen(sh->id));
    sink_puts(out, ",\"user\":");
    sink_json_string(out, sh->user, strlen(sh->user));
    sink_puts(out, ",\"owner\":");
    sink_json_string(out, sh->owner, strlen(sh->owner));
    sink_puts(out, ",\"device\":");
    sink_json_string(out, sh->device, strlen(sh->device));
    sink_puts(out, ",\"label\":");
    sink_json_string(out, sh->label, strlen(sh->label));
    sink_printf(out,
                ",\"live\":%s,\"from\":%" PRId64 ",\"to\":%" PRId64 ",\"created\":%" PRId64
                ",\"expires\":%" PRId64 ",\"last_opened\":%" PRId64 ",\"revoked\":%s}",
                sh->live ? "true" : "false", sh->from, sh->to, sh->created, sh->expires,
                sh->last_opened, sh->revoked ? "true" : "false");
}

struct share_list {
    struct sink *out;
    size_t n;
};

static int list_share(void *arg, const struct store_share *sh)
{
    struct share_list *l = arg;
    sink_puts(l->out, l->n++ ? "," : "");
    share_json(l->out, sh);
    return 0;
}

/* Whose shares a request means: user= if given (another's only for one who may delete their
 * data), else the caller; NULL (all) on an open server. False with the refusal in resp. */
static bool share_user(struct api *api, const struct api_request *req, struct api_response *resp,
                       struct request_params *rq, const char **user)
{
    static const struct request_rules rules = {.takes = REQUEST_USER};
    if (!parse(req, resp, &rules, rq))
        return false;
    *user = rq->given & REQUEST_USER ? rq->user : req->user;
    if (req->user && *user && strcmp(*user, req->user) != 0 &&
        !(api->opt.may_delete && api->opt.may_delete(api->opt.visible_arg, req->user, *user))) {
        api_error(resp, 403, "not allowed to manage %s's share links", *user);
        return false;
    }
    return true;
}

void api_get_shares(struct api *api, const struct api_request *req, struct api_response *resp)
{
    struct request_params rq;
    const char *user;
    if (!share_user(api, req, resp, &rq, &user))
        return;
    struct share_list l = {.out = &resp->body};
    ok_json(resp);
    sink_puts(&resp->body, "{\"results\":[");
    int rc = store_share_list(api->store, user, list_share, &l);
    sink_puts(&resp->body, "]}\n");
    if (rc)
        api_error(resp, 500, "cannot read the store: %s", wl_strerror(rc));
}

static bool is_true(const char *v)
{
    return v && (strcmp(v, "1") == 0 || strcmp(v, "true") == 0);
}

void api_post_shares(struct api *api, const struct api_request *req, struct api_response *resp)
{
    static const struct request_rules rules = {
        .takes = REQUEST_USER | REQUEST_DEVICE | REQUEST_RANGE, .requires = REQUEST_DEVICE};
    struct request_params rq;
    char secret[SHARE_SECRET_SIZE];
    struct store_share sh;
    const char *why = "";

    if (!parse(req, resp, &rules, &rq))
        return;
    const char *owner = rq.given & REQUEST_USER ? rq.user : req->user;
    if (!owner) {
        api_error(resp, 400, "missing parameter user (whose device)");
        return;
    }
    if (!may_see(api, req, owner)) {
        api_error(resp, 403, "not allowed to share %s's devices", owner);
        return;
    }
    bool live = is_true(req->param(req->ctx, "live"));
    bool range = (rq.given & REQUEST_RANGE) == REQUEST_RANGE;
    if (live ? (rq.given & REQUEST_RANGE) != 0 : !range) {
        api_error(resp, 400, "give either live=1 or both from and to");
        return;
    }
    const char *expires = req->param(req->ctx, "expires");
    if (!expires || !*expires) {
        api_error(resp, 400, "missing parameter expires (24h, 7d, a time...)");
        return;
    }
    struct share_request sr = {.creator = req->user ? req->user : owner,
                               .owner = owner,
                               .device = rq.device,
                               .live = live,
                               .from = rq.from,
                               .to = rq.to,
                               .expires = expires,
                               .label = req->param(req->ctx, "label")};
    int rc = share_create(api->store, &sr, time(NULL), secret, &sh, &why);
    if (rc == -EINVAL || rc == -ENOENT) {
        api_error(resp, rc == -ENOENT ? 404 : 400, "cannot share: %s", why);
        return;
    }
    if (rc) {
        api_error(resp, 500, "cannot store the share: %s", wl_strerror(rc));
        return;
    }
    wl_log(WL_LOG_INFO, "share", "share made user=%s id=%s device=%s/%s client=%s", sh.user, sh.id,
           sh.owner, sh.device, req->client ? req->client : "?");
    ok_json(resp);
    resp->status = 201;
    sink_printf(&resp->body, "{\"secret\":\"%s\",\"path\":\"/s/%s\",\"share\":", secret, secret);
    share_json(&resp->body, &sh);
    sink_puts(&resp->body, "}\n");
    sodium_memzero(secret, sizeof(secret));
}

void api_delete_shares(struct api *api, const struct api_request *req, struct api_response *resp)
{
    struct request_params rq;
    const char *user;
    if (!share_user(api, req, resp, &rq, &user))
        return;
    const char *id = req->param(req->ctx, "id");
    if (!user || !id || !*id) {
        api_error(resp, 400, "give id (and user on an open server)");
        return;
    }
    int rc = store_share_revoke(api->store, user, id);
    if (rc == -ENOENT || rc == -EINVAL) {
        api_error(resp, 404, "%s has no share link %s", user, id);
        return;
    }
    if (rc) {
        api_error(resp, 500, "cannot revoke the share: %s", wl_strerror(rc));
        return;
    }
    wl_log(WL_LOG_INFO, "share", "share revoked user=%s id=%s", user, id);
    ok_json(resp);
    sink_puts(&resp->body, "{\"revoked\":");
    sink_json_string(&resp->body, id, strlen(id));
    sink_puts(&resp->body, "}\n");
}

/* Looks a secret up: SHARE_VALID with *sh set, or the refusal in resp (status returned). */
static unsigned shared_lookup(struct api *api, const char *secret, size_t len, int64_t now,
                              struct store_share *sh, const char **why)
{
    int v = share_verify(api->store, secret, len, now, sh);
    switch (v) {
    case SHARE_VALID: return 200;
    case SHARE_EXPIRED: *why = "this share link has expired"; return 410;
    case SHARE_REVOKED: *why = "this share link was revoked"; return 410;
    case SHARE_MALFORMED:
    case SHARE_UNKNOWN: *why = "no such share link"; return 404;
    }
    *why = "cannot read the store now";
    return 503;
}

unsigned api_share_status(struct api *api, const char *secret, const char **why)
{
    struct store_share sh;
    return shared_lookup(api, secret, strlen(secret), time(NULL), &sh, why);
}

unsigned api_share_stream(struct api *api, const char *secret, struct live_share *out,
                          const char **why)
{
    struct store_share sh;
    unsigned status = shared_lookup(api, secret, strlen(secret), time(NULL), &sh, why);
    if (status != 200)
        return status;
    if (!sh.live) {
        *why = "a range share does not change: it has no stream";
        return 404;
    }
    memset(out, 0, sizeof(*out));
    snprintf(out->user, sizeof(out->user), "%s", sh.owner);
    snprintf(out->device, sizeof(out->device), "%s", sh.device);
    out->expires = sh.expires;
    return 200;
}

bool api_share_valid(struct api *api, const char *secret)
{
    const char *why;
    return api_share_status(api, secret, &why) == 200;
}

/* A fix's position; false when it has none that decodes. */
static bool item_position(const struct store_item *it, double *lat, double *lon)
{
    struct pack_value v;
    return pack_find(it->data, it->len, it->tst, "location", "lat", &v) == 1 &&
           pack_to_double(&v, lat) &&
           pack_find(it->data, it->len, it->tst, "location", "lon", &v) == 1 &&
           pack_to_double(&v, lon);
}

/* At most this many fixes in a shared track: a month of fixes every minute, which a browser
 * draws without trouble; a longer range shows its first SHARE_TRACK_MAX and says so. */
#define SHARE_TRACK_MAX 50000

static int shared_track(struct api *api, const struct store_share *sh,
                        const struct store_private *circles, size_t ncircles, bool last_only,
                        struct sink *out)
{
    struct store_device dev;
    struct store_iter *it = NULL;
    struct store_item item;
    struct share_cut cut = {false};
    int64_t from, to;
    size_t shown = 0;
    int rc;

    share_window(sh, &from, &to);
    if (store_get_device(api->store, sh->owner, sh->device, &dev) != 0) {
        sink_puts(out, last_only ? "{}\n" : "{\"lines\":[]}\n");
        return 0;
    }
    rc = store_iter_points(api->store, dev.id, from, to, last_only ? STORE_ITER_REVERSE : 0, &it);
    if (rc)
        return rc;
    if (last_only) {
        double lat, lon;
        while ((rc = store_iter_next(it, &item)) == 1 && !item_position(&item, &lat, &lon))
            ;
        if (rc == 1 && share_is_private(circles, ncircles, lat, lon))
            sink_printf(out, "{\"tst\":%" PRId64 ",\"private\":true}\n", item.tst);
        else if (rc == 1)
            sink_printf(out, "{\"tst\":%" PRId64 ",\"lat\":%.6f,\"lon\":%.6f}\n", item.tst, lat,
                        lon);
        else if (rc == 0)
            sink_puts(out, "{}\n");
        store_iter_close(it);
        return rc < 0 ? rc : 0;
    }
    sink_puts(out, "{\"lines\":[");
    bool any_line = false, open_line = false;
    while (shown < SHARE_TRACK_MAX && (rc = store_iter_next(it, &item)) == 1) {
        double lat, lon;
        if (!item_position(&item, &lat, &lon))
            continue;
        switch (share_cut_next(&cut, circles, ncircles, lat, lon)) {
        case SHARE_CUT_DROP:
            if (open_line)
                sink_putc(out, ']');
            open_line = false;
            continue;
        case SHARE_CUT_NEW_LINE:
            sink_puts(out, any_line ? ",[" : "[");
            any_line = open_line = true;
            break;
        case SHARE_CUT_CONTINUE: sink_putc(out, ','); break;
        }
        sink_printf(out, "[%.6f,%.6f,%" PRId64 "]", lat, lon, item.tst);
        shown++;
    }
    store_iter_close(it);
    if (open_line)
        sink_putc(out, ']');
    sink_printf(out, "],\"truncated\":%s}\n", shown >= SHARE_TRACK_MAX ? "true" : "false");
    return rc < 0 ? rc : 0;
}

void api_get_shared(struct api *api, const struct api_request *req, struct api_response *resp)
{
    static const char prefix[] = "/api/0/shared/";
    const char *secret = req->path + strlen(prefix), *slash = strchr(secret, '/');
    size_t len = slash ? (size_t)(slash - secret) : strlen(secret);
    const char *what = slash ? slash + 1 : "";
    int64_t now = time(NULL);
    struct store_share sh;
    const char *why = "";

    if (strncmp(req->path, prefix, strlen(prefix)) != 0) {
        api_error(resp, 404, "no such endpoint");
        return;
    }
    unsigned status = shared_lookup(api, secret, len, now, &sh, &why);
    if (status != 200) {
        api_error(resp, status, "%s", why);
        return;
    }
    if (*what && strcmp(what, "track") != 0 && strcmp(what, "last") != 0) {
        api_error(resp, 404, "no such endpoint: a share has track and last");
        return;
    }
    share_note_open(api->store, &sh, now);
    ok_json(resp);
    resp->status = 200;
    if (!*what) {
        int64_t from, to;
        share_window(&sh, &from, &to);
        sink_puts(&resp->body, "{\"label\":");
        sink_json_string(&resp->body, sh.label, strlen(sh.label));
        sink_puts(&resp->body, ",\"device\":");
        sink_json_string(&resp->body, sh.device, strlen(sh.device));
        sink_printf(&resp->body,
                    ",\"live\":%s,\"from\":%" PRId64 ",\"to\":%" PRId64 ",\"expires\":%" PRId64
                    ",\"now\":%" PRId64,
                    sh.live ? "true" : "false", from, to, sh.expires, now);
        /* The page draws its map with the server's tiles (it may not read /api/0/config). */
        pthread_mutex_lock(&api->tiles_lock);
        sink_puts(&resp->body, ",\"tiles\":{\"url\":");
        sink_json_string(&resp->body, api->tile_url, strlen(api->tile_url));
        sink_puts(&resp->body, ",\"attribution\":");
        sink_json_string(&resp->body, api->tile_attribution, strlen(api->tile_attribution));
        sink_printf(&resp->body, ",\"maxZoom\":%d}}\n",
                    api->opt.tile_max_zoom ? api->opt.tile_max_zoom : CFG_TILE_MAX_ZOOM_DEFAULT);
        pthread_mutex_unlock(&api->tiles_lock);
        return;
    }
    struct store_private *circles = NULL;
    size_t ncircles = 0;
    int rc = share_private_circles(api->store, sh.owner, &circles, &ncircles);
    if (rc == 0)
        rc = shared_track(api, &sh, circles, ncircles, strcmp(what, "last") == 0, &resp->body);
    free(circles);
    if (rc)
        api_error(resp, 500, "cannot read the store: %s", wl_strerror(rc));
}
