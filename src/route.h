/*
 * route.h - every path the HTTP server answers, in one table: its methods, who serves it (the
 * API's handler, a live stream, the monitoring endpoints, static files), its label in
 * /metrics, whether it streams, whether it reads query parameters, and who may call it.
 * Dispatch (http.c), the API (api.c), the metrics, the CORS preflight and the OpenAPI contract
 * test (tests/tools/wl_routes.c prints the table for tests/integration/contract.py) all read
 * this table; a new route is one row here and, for an API route, its handler in api.c.
 *
 * The table is constant: any thread may read it at any time.
 */
#ifndef WL_ROUTE_H
#define WL_ROUTE_H

#include <stdbool.h>
#include <stddef.h>

#include "api.h"

/* A set of methods: ROUTE_METHOD(API_GET) | ROUTE_METHOD(API_HEAD)... */
#define ROUTE_METHOD(m) (1u << (m))

/* Who answers a route. */
enum route_door {
    ROUTE_API,       /* api.c: the row's handler for the request's method */
    ROUTE_EVENTS,    /* Server-Sent Events (live.h) */
    ROUTE_WEBSOCKET, /* the WebSocket upgrade (live.h) */
    ROUTE_METRICS,   /* Prometheus text (http_options.metrics) */
    ROUTE_HEALTH,    /* health check (http_options.health) */
    ROUTE_LEAFLET,   /* static files from leaflet_dir, the path after the prefix */
    ROUTE_FILES,     /* static files from docroot */
    ROUTE_NO_API     /* under /api/ but no endpoint: 404 */
};

/* Who may call a route when sign-in is on (a CORS preflight never needs credentials). */
enum route_caller {
    ROUTE_SIGNED_IN, /* the API and everything else */
    ROUTE_ANYONE     /* health checks: they say nothing private */
};

/* An API route's handler: fills resp (an initialised memory sink) for the request. */
typedef void (*route_handler)(struct api *api, const struct api_request *req,
                              struct api_response *resp);

struct route {
    const char *path; /* the exact path, or with `prefix` every path that starts with it */
    bool prefix;      /* prefix rows are not API endpoints and not in api/openapi.yaml, except
                         ROUTE_API ones: "/api/0/places/" serves the spec's /api/0/places/{id} */
    unsigned methods; /* ROUTE_METHOD() bits; OPTIONS (a CORS preflight) is always answered */
    enum route_door door;
    route_handler handler[API_OTHER]; /* ROUTE_API: by method, set for each one in methods */
    const char *label;                /* the "route" label in /metrics */
    bool streamed;    /* lasts as long as the client: left out of the latency histogram */
    bool reads_query; /* the answer depends on query parameters (malformed escapes: 400) */
    enum route_caller caller;
    /* ROUTE_METHOD() bits of the methods that change data (store, delete): a read-only API
     * token may not call them (route_changes_data). */
    unsigned changes;
};

/* Rows in the table (a bound for arrays indexed by route_index()). */
#define ROUTE_MAX 48

/* The route that answers `path`: the row with that exact path, else the first prefix row
 * that matches; a path matching none (not starting with '/') gets the last row, the "/"
 * prefix. Never NULL; rows are static. */
const struct route *route_find(const char *path);
/* The table, for those that list it (metrics, the contract test): n rows. */
const struct route *route_table(size_t *n);
/* A row's index in the table (0 .. n - 1); r must be a row of the table. */
size_t route_index(const struct route *r);
/* The first row with r's metrics label: rows that share a label share their counters. */
size_t route_metrics_slot(const struct route *r);

/* Does calling r with method m change data? Any DELETE, PUT or PATCH does, whatever the row says
 * (so a new row that forgets `changes` stays safe); otherwise the row's `changes`. */
bool route_changes_data(const struct route *r, enum api_method m);

/* Writes the route's methods for an Allow header, OPTIONS included ("GET, HEAD, OPTIONS");
 * with r NULL, the methods of all routes together (the CORS preflight's). Returns buf; a
 * method that does not fit in size is left out. */
const char *route_allow(const struct route *r, char *buf, size_t size);
/* Why a method is refused: "use GET or POST for /api/0/last" (the methods but HEAD and
 * OPTIONS, for people). Returns buf, cut to size. */
const char *route_refusal(const struct route *r, const char *path, char *buf, size_t size);
/* Room for route_allow() and route_refusal() without path. */
#define ROUTE_ALLOW_MAX 64

#endif
