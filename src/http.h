/*
 * http.h - the HTTP server (libmicrohttpd; the only module that includes microhttpd.h):
 * listening, limits, routing, static files, streamed responses, Server-Sent Events and the
 * WebSocket upgrade. Which path goes where, with which methods, is route.h's table (the API,
 * /api/0/stream and /ws/last, /metrics and /healthz, Leaflet under /vendor/leaflet/, static
 * files from docroot); what a route means is api.c's and live.c's business. A method a route
 * does not take gets 405 with its Allow; OPTIONS is a CORS preflight anywhere.
 *
 * Authentication: with `auth` set, every request but a CORS preflight and the routes open to
 * anyone (route.h: health checks) is checked by auth.h: when sign-in is required it must carry
 * HTTP Basic credentials or an API token (Bearer) that auth.h accepts (401 with a challenge
 * otherwise, 429 for a client that failed too often); on an open server it may carry a token.
 * A token that is not valid is 401 either way, and a read-only token gets 403 for a method
 * that changes data (route_changes_data). The user is handed to the API and the live streams,
 * which show only what that user may see.
 *
 * TLS: with tls_cert and tls_key set, the server speaks HTTPS only (libmicrohttpd's GnuTLS).
 *
 * Limits: request bodies above max_body get 413; headers beyond the per-connection memory
 * limit are refused by libmicrohttpd; idle connections close after `timeout` seconds; at most
 * `connections` in all and `per_ip` per client address, so slow or greedy clients cannot
 * exhaust the server.
 *
 * Thread rules: requests are served on libmicrohttpd's pool of `threads` threads, so the api,
 * live, auth and the metrics and health callbacks are called concurrently. opt is copied but
 * its cors_origin, auth and ops_arg, and api and live, are borrowed until http_stop().
 */
#ifndef WL_HTTP_H
#define WL_HTTP_H

#include <stddef.h>

#include "api.h"
#include "auth.h"
#include "live.h"

struct http_options {
    const char *host; /* address to listen on */
    unsigned port;
    const char *docroot;     /* static files */
    const char *leaflet_dir; /* served under /vendor/leaflet/ */
    const char *cors_origin; /* Access-Control-Allow-Origin for the API, or NULL */
    size_t max_body;
    unsigned connections;
    unsigned per_ip;
    unsigned timeout;
    unsigned threads;
    struct auth *auth; /* NULL: no authentication, nor tokens */
    /* GET /metrics (signed in like the API) and GET /healthz (open to anyone: it says
     * nothing private); NULL: 404. health writes a JSON body and returns 200 or 503. */
    void (*metrics)(void *arg, struct sink *out);
    unsigned (*health)(void *arg, struct sink *out);
    void *ops_arg;
    const char *tls_cert; /* PEM files; both or neither */
    const char *tls_key;
};

struct http;

/* Starts listening. Returns 0; -EADDRINUSE when libmicrohttpd will not start (the port is
 * taken, or the certificate and key do not match); -EINVAL for an address that does not
 * resolve or a PEM file that cannot be read; -ENOTSUP for TLS with a libmicrohttpd built
 * without it; -ENOMEM (not logged). The others are logged. A docroot or Leaflet directory
 * that cannot be resolved is only a warning: those files are then not served. */
int http_start(const struct http_options *opt, struct api *api, struct live *live,
               struct http **out);
/* Stops the server and frees it (call live_shutdown() first: the stop waits for open live
 * streams to end). NULL is harmless. */
void http_stop(struct http *h);

#endif
