/*
 * api.h - the HTTP API's logic: OwnTracks Recorder's /api/0 routes and HTTP-mode ingest
 * (POST /pub), as described in api/openapi.yaml. A request in, a response out: this module
 * knows neither libmicrohttpd (http.c) nor LMDB (store.c).
 *
 * Every error is JSON {"error": "...", "status": N} with the matching status; an empty store
 * answers with empty results, never an error.
 *
 * Thread rules: the handlers are called from the HTTP server's threads, concurrently; they
 * share the store, ingest, opt's callbacks (which must therefore be thread-safe) and the tile
 * settings (under a lock). A request and its response belong to the thread that handles them.
 */
#ifndef WL_API_H
#define WL_API_H

#include <stdbool.h>
#include <stddef.h>

#include "gazetteer.h"
#include "ingest.h"
#include "live.h"
#include "query.h"
#include "sink.h"
#include "store.h"

enum api_method {
    API_GET,
    API_HEAD,
    API_POST,
    API_PUT,
    API_DELETE,
    API_PATCH,
    API_OPTIONS,
    API_OTHER
};

struct api_request {
    enum api_method method;
    const char *path;
    /* A parameter the way OwnTracks Recorder reads it: header X-Limit-<name> first, then the
     * query string, then a form-encoded body. NULL if absent. */
    const char *(*param)(void *ctx, const char *name);
    /* The query string only (HTTP mode's u and d). */
    const char *(*query)(void *ctx, const char *name);
    const char *(*header)(void *ctx, const char *name);
    void *ctx;
    const void *body;
    size_t body_len;
    const char *client; /* the peer's address, for logs */
    const char *user;   /* the authenticated user, or NULL when authentication is off */
};

struct api_response {
    unsigned status;
    const char *content_type;
    char disposition[512]; /* Content-Disposition, or "" */
    const char *allow;     /* Allow, for 405 */
    unsigned retry_after;  /* Retry-After seconds, or 0 */
    char
        rejected[OWNTRACKS_REASON_MAX]; /* X-Wherelog-Rejected: why /pub refused a message, or "" */
    /* The body, a memory sink the caller set up. With `fill` set, it is only the beginning,
     * and fill(state, body, want) writes more until it returns 0 (<0: error, stop). */
    struct sink body;
    int (*fill)(void *state, struct sink *out, size_t want);
    void (*release)(void *state);
    void *state;
};

struct api_options {
    const char *version;
    const char *git;
    /* What the web map needs to know (GET /api/0/config). */
    const char *tile_url;
    const char *tile_attribution;
    int tile_max_zoom;
    const char *mqtt_host; /* NULL when MQTT is off */
    int mqtt_port;
    /* Access control (see query.h); NULL: everybody sees everything. */
    query_visible_fn visible;
    void *visible_arg;
    /* May `viewer` delete `user`'s data? NULL: nobody may (deleting needs authentication). */
    query_visible_fn may_delete;
    /* Names for places (ghash, cc, addr, locality, tzname in last, locations and q); NULL:
     * none. Thread-safe (placename.h). */
    struct placename *places;
    /* The offline cities, for the year summary's countries and cities; NULL: none. */
    const struct gazetteer *gazetteer;
    /* Called after data was deleted (the live hub tells clients to reload). */
    void (*changed)(void *arg);
    void *changed_arg;
};

struct api;

/* Returns 0 or -ENOMEM. opt is copied; its strings other than the tile settings (copied),
 * its callbacks' args, the store and ingest are borrowed until api_free() (NULL harmless). */
int api_new(struct store *store, struct ingest *ingest, const struct api_options *opt,
            struct api **out);
void api_free(struct api *api);
/* Replaces the web map's tile settings (a reload); the strings are copied. Any thread.
 * Returns 0 or -ENOMEM (the old settings stay). */
int api_set_tiles(struct api *api, const char *url, const char *attribution, int max_zoom);

/*
 * The route handlers, called through route.h's table (which says which one answers which
 * path and method; the caller has checked the method). Each fills resp, whose body is an
 * initialised memory sink: a JSON error with its status for a bad request, or the answer.
 */
void api_get_version(struct api *api, const struct api_request *req, struct api_response *resp);
void api_get_list(struct api *api, const struct api_request *req, struct api_response *resp);
void api_get_last(struct api *api, const struct api_request *req, struct api_response *resp);
/* A track, streamed: for a device that exists, resp->fill, release and state are set (the
 * caller calls release). An error, or an unknown device's empty document, comes whole, with
 * fill NULL. */
void api_get_locations(struct api *api, const struct api_request *req, struct api_response *resp);
/* The timeline routes (tlread.h), streamed like a track: GET /api/0/timeline (segments) and
 * /api/0/days (day figures); an unknown device is 404. GET /api/0/at answers whole. With
 * timeline=1 and format=gpx, api_get_locations streams the timeline as GPX. */
void api_get_timeline(struct api *api, const struct api_request *req, struct api_response *resp);
void api_get_days(struct api *api, const struct api_request *req, struct api_response *resp);
void api_get_at(struct api *api, const struct api_request *req, struct api_response *resp);
void api_delete_locations(struct api *api, const struct api_request *req,
                          struct api_response *resp);
void api_get_monitor(struct api *api, const struct api_request *req, struct api_response *resp);
void api_get_config(struct api *api, const struct api_request *req, struct api_response *resp);
void api_get_stats(struct api *api, const struct api_request *req, struct api_response *resp);
/* GET /api/0/q?lat=&lon=: what is known of a position's geohash cell (the Recorder's cache
 * object: cc, addr, tst, locality, tzname), from the cache and the offline cities; never asks a
 * geocoder. {} when nothing is known. */
void api_get_q(struct api *api, const struct api_request *req, struct api_response *resp);
/* GET /api/0/summary?user&year[&device]: the year at a glance (summary.h), whole; a user or
 * device without data is 404. GET /api/0/heat?user&zoom[&device&from&to&bbox]: the density
 * grid of heat.h, whole. Both under the ACL of /api/0/locations. */
void api_get_summary(struct api *api, const struct api_request *req, struct api_response *resp);
void api_get_heat(struct api *api, const struct api_request *req, struct api_response *resp);
void api_post_pub(struct api *api, const struct api_request *req, struct api_response *resp);
/* A user's places (places.h): GET and POST /api/0/places, PATCH and DELETE /api/0/places/ID
 * (the id from req->path), GET /api/0/places/suggestions and /api/0/visits. Reading needs to
 * see the user (as for locations); changing needs to be the user, or an admin (as deleting
 * points does), or on an open server (sign-in off) anyone. A place of a user the caller may
 * not see is 404, as if absent. */
void api_get_places(struct api *api, const struct api_request *req, struct api_response *resp);
void api_post_places(struct api *api, const struct api_request *req, struct api_response *resp);
void api_patch_place(struct api *api, const struct api_request *req, struct api_response *resp);
void api_delete_place(struct api *api, const struct api_request *req, struct api_response *resp);
void api_get_place_suggestions(struct api *api, const struct api_request *req,
                               struct api_response *resp);
void api_get_visits(struct api *api, const struct api_request *req, struct api_response *resp);
/* The derived events of a user's devices (store.h), streamed like a track: ?user (required),
 * device, from, to, kind=KIND[,KIND...]; the same access control as the locations. */
void api_get_events(struct api *api, const struct api_request *req, struct api_response *resp);

/*
 * Share links (share.h). GET /api/0/shares lists the caller's shares (user= another user's, for
 * one who may delete that user's data; every share on an open server without it); POST makes
 * one (device, user: the device's owner, default the caller, whom the caller must be allowed to
 * see; live=1 or from/to; expires; label) and answers 201 with its secret and path, shown once;
 * DELETE ?id= revokes one of the caller's. A share belongs to the user who made it.
 */
void api_get_shares(struct api *api, const struct api_request *req, struct api_response *resp);
void api_post_shares(struct api *api, const struct api_request *req, struct api_response *resp);
void api_delete_shares(struct api *api, const struct api_request *req, struct api_response *resp);
/*
 * What a share link's page reads, the secret being the credential (route.h, ROUTE_SHARE):
 * GET /api/0/shared/SECRET (what is shared: label, device, live, range, expiry),
 * /api/0/shared/SECRET/track ({"lines": [[[lat, lon, tst], ...], ...]}: the shared window's
 * fixes cut at the owner's private circles) and /api/0/shared/SECRET/last (the newest fix in
 * the window, {"tst", "lat", "lon"}; {"tst", "private": true} inside a private circle; {} when
 * none). A secret that matches no share is 404; an expired or revoked share is 410.
 */
void api_get_shared(struct api *api, const struct api_request *req, struct api_response *resp);
/* GET /api/0/shared/SECRET/stream (http.c serves it with live.h): the status it gets, as
 * api_share_status, and 404 for a share that is not live; for 200, the share's device and
 * expiry in *out (its check is the caller's: api_share_valid). */
unsigned api_share_stream(struct api *api, const char *secret, struct live_share *out,
                          const char **why);
/* Is the share of this secret valid now? (reads the store) */
bool api_share_valid(struct api *api, const char *secret);
/* The status a share secret's page gets: 200, 404 (no such share), 410 (expired or revoked;
 * *why says which) or 503 (the store cannot be read). */
unsigned api_share_status(struct api *api, const char *secret, const char **why);

/* Replaces resp's body with a JSON error, the message cut to 511 bytes (also used by the
 * HTTP server for its own errors). */
void api_error(struct api_response *resp, unsigned status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
