#include "route.h"

#include <stdio.h>
#include <string.h>

#include "wl.h"

#define GET    ROUTE_METHOD(API_GET)
#define HEAD   ROUTE_METHOD(API_HEAD)
#define POST   ROUTE_METHOD(API_POST)
#define DELETE ROUTE_METHOD(API_DELETE)
#define PATCH  ROUTE_METHOD(API_PATCH)
/* The Recorder's read routes take their parameters from a form-encoded POST body too. */
#define READ (GET | HEAD | POST)
#define READ_HANDLER(fn)                                                                           \
    {                                                                                              \
        [API_GET] = (fn), [API_HEAD] = (fn), [API_POST] = (fn)                                     \
    }
/* Everything: an unknown /api/ path is 404 whatever the method. */
#define ANY_METHOD                                                                                 \
    (GET | HEAD | POST | ROUTE_METHOD(API_PUT) | DELETE | PATCH | ROUTE_METHOD(API_OTHER))

/* Exact paths first; then prefixes, the longest first, ending with "/". */
static const struct route routes[] = {
    {.path = "/api/0/version",
     .methods = READ,
     .handler = READ_HANDLER(api_get_version),
     .label = "/api/0/version"},
    {.path = "/api/0/list",
     .methods = READ,
     .handler = READ_HANDLER(api_get_list),
     .label = "/api/0/list",
     .reads_query = true},
    {.path = "/api/0/last",
     .methods = READ,
     .handler = READ_HANDLER(api_get_last),
     .label = "/api/0/last",
     .reads_query = true},
    {.path = "/api/0/locations",
     .methods = READ | DELETE,
     .handler = {[API_GET] = api_get_locations,
                 [API_HEAD] = api_get_locations,
                 [API_POST] = api_get_locations,
                 [API_DELETE] = api_delete_locations},
     .label = "/api/0/locations",
     .reads_query = true,
     .changes = DELETE},
    {.path = "/api/0/timeline",
     .methods = READ,
     .handler = READ_HANDLER(api_get_timeline),
     .label = "/api/0/timeline",
     .reads_query = true},
    {.path = "/api/0/days",
     .methods = READ,
     .handler = READ_HANDLER(api_get_days),
     .label = "/api/0/days",
     .reads_query = true},
    {.path = "/api/0/at",
     .methods = READ,
     .handler = READ_HANDLER(api_get_at),
     .label = "/api/0/at",
     .reads_query = true},
    {.path = "/api/0/summary",
     .methods = READ,
     .handler = READ_HANDLER(api_get_summary),
     .label = "/api/0/summary",
     .reads_query = true},
    {.path = "/api/0/heat",
     .methods = READ,
     .handler = READ_HANDLER(api_get_heat),
     .label = "/api/0/heat",
     .reads_query = true},
    {.path = "/api/0/monitor",
     .methods = READ,
     .handler = READ_HANDLER(api_get_monitor),
     .label = "/api/0/monitor"},
    {.path = "/api/0/config",
     .methods = READ,
     .handler = READ_HANDLER(api_get_config),
     .label = "/api/0/config"},
    {.path = "/api/0/stats",
     .methods = READ,
     .handler = READ_HANDLER(api_get_stats),
     .label = "/api/0/stats",
     .reads_query = true},
    {.path = "/api/0/events",
     .methods = READ,
     .handler = READ_HANDLER(api_get_events),
     .label = "/api/0/events",
     .reads_query = true},
    {.path = "/api/0/q",
     .methods = READ,
     .handler = READ_HANDLER(api_get_q),
     .label = "/api/0/q",
     .reads_query = true},
    {.path = "/api/0/shares",
     .methods = GET | HEAD | POST | DELETE,
     .handler = {[API_GET] = api_get_shares,
                 [API_HEAD] = api_get_shares,
                 [API_POST] = api_post_shares,
                 [API_DELETE] = api_delete_shares},
     .label = "/api/0/shares",
     .reads_query = true,
     .changes = POST | DELETE},
    {.path = "/api/0/places",
     .methods = GET | HEAD | POST,
     .handler =
         {[API_GET] = api_get_places, [API_HEAD] = api_get_places, [API_POST] = api_post_places},
     .label = "/api/0/places",
     .reads_query = true,
     .changes = POST},
    {.path = "/api/0/places/suggestions",
     .methods = GET | HEAD,
     .handler = {[API_GET] = api_get_place_suggestions, [API_HEAD] = api_get_place_suggestions},
     .label = "/api/0/places/suggestions",
     .reads_query = true},
    {.path = "/api/0/visits",
     .methods = GET | HEAD,
     .handler = {[API_GET] = api_get_visits, [API_HEAD] = api_get_visits},
     .label = "/api/0/visits",
     .reads_query = true},
    {.path = "/pub",
     .methods = POST,
     .handler = {[API_POST] = api_post_pub},
     .label = "/pub",
     .reads_query = true,
     .changes = POST},
    {.path = "/api/0/stream",
     .methods = GET,
     .door = ROUTE_EVENTS,
     .label = "/api/0/stream",
     .streamed = true},
    {.path = "/ws/last",
     .methods = GET,
     .door = ROUTE_WEBSOCKET,
     .label = "/ws/last",
     .streamed = true},
    {.path = "/metrics", .methods = GET | HEAD, .door = ROUTE_METRICS, .label = "/metrics"},
    {.path = "/healthz",
     .methods = GET | HEAD,
     .door = ROUTE_HEALTH,
     .label = "/healthz",
     .caller = ROUTE_ANYONE},
    /* What a share link's page reads: /api/0/shared/SECRET[/track|/last] (api.h). */
    {.path = "/api/0/shared/",
     .prefix = true,
     .methods = GET | HEAD,
     .handler = {[API_GET] = api_get_shared, [API_HEAD] = api_get_shared},
     .label = "/api/0/shared",
     .caller = ROUTE_SHARE},
    /* one place by id: /api/0/places/{id} in api/openapi.yaml */
    {.path = "/api/0/places/",
     .prefix = true,
     .methods = PATCH | DELETE,
     .handler = {[API_PATCH] = api_patch_place, [API_DELETE] = api_delete_place},
     .label = "/api/0/places/{id}",
     .reads_query = true,
     .changes = PATCH | DELETE},
    {.path = "/api/",
     .prefix = true,
     .methods = ANY_METHOD,
     .door = ROUTE_NO_API,
     .label = "other"},
    {.path = "/vendor/leaflet/",
     .prefix = true,
     .methods = GET | HEAD,
     .door = ROUTE_LEAFLET,
     .label = "vendor"},
    {.path = "/vendor/",
     .prefix = true,
     .methods = GET | HEAD,
     .door = ROUTE_FILES,
     .label = "vendor"},
    {.path = "/s/",
     .prefix = true,
     .methods = GET | HEAD,
     .door = ROUTE_SHARE_PAGE,
     .label = "/s",
     .caller = ROUTE_SHARE},
    {.path = "/", .prefix = true, .methods = GET | HEAD, .door = ROUTE_FILES, .label = "static"},
};
_Static_assert(WL_ARRAY_LEN(routes) <= ROUTE_MAX, "ROUTE_MAX is too small for the table");

static const char *const method_names[] = {
    [API_GET] = "GET",       [API_HEAD] = "HEAD",       [API_POST] = "POST",  [API_PUT] = "PUT",
    [API_DELETE] = "DELETE", [API_OPTIONS] = "OPTIONS", [API_PATCH] = "PATCH"};

const struct route *route_find(const char *path)
{
    for (size_t i = 0; i < WL_ARRAY_LEN(routes); i++)
        if (!routes[i].prefix && strcmp(path, routes[i].path) == 0)
            return &routes[i];
    for (size_t i = 0; i < WL_ARRAY_LEN(routes); i++)
        if (routes[i].prefix && strncmp(path, routes[i].path, strlen(routes[i].path)) == 0)
            return &routes[i];
    return &routes[WL_ARRAY_LEN(routes) - 1]; /* a path that does not start with '/' */
}

const struct route *route_table(size_t *n)
{
    *n = WL_ARRAY_LEN(routes);
    return routes;
}

size_t route_index(const struct route *r)
{
    return (size_t)(r - routes);
}

size_t route_metrics_slot(const struct route *r)
{
    size_t i = 0;
    while (strcmp(routes[i].label, r->label) != 0)
        i++;
    return i;
}

bool route_changes_data(const struct route *r, enum api_method m)
{
    return m == API_DELETE || m == API_PUT || m == API_PATCH || (r->changes & ROUTE_METHOD(m));
}

/* The methods of the set that are named (API_OTHER is not), in the enum's order. */
static const char *join_methods(unsigned set, const char *comma, const char *last, char *buf,
                                size_t size)
{
    size_t n = 0, count = 0, have = 0;
    for (int m = 0; m < API_OTHER; m++)
        count += (set & ROUTE_METHOD(m)) != 0;
    buf[0] = '\0';
    for (int m = 0; m < API_OTHER; m++) {
        if (!(set & ROUTE_METHOD(m)))
            continue;
        const char *sep = have == 0 ? "" : have + 1 == count ? last : comma;
        int k = snprintf(buf + n, size - n, "%s%s", sep, method_names[m]);
        if (k < 0 || (size_t)k >= size - n)
            break;
        n += (size_t)k;
        have++;
    }
    return buf;
}

const char *route_allow(const struct route *r, char *buf, size_t size)
{
    unsigned set = 0;
    if (r) {
        set = r->methods;
    } else {
        for (size_t i = 0; i < WL_ARRAY_LEN(routes); i++)
            if (routes[i].door != ROUTE_NO_API) /* not a method anything answers */
                set |= routes[i].methods;
    }
    return join_methods(set | ROUTE_METHOD(API_OPTIONS), ", ", ", ", buf, size);
}

const char *route_refusal(const struct route *r, const char *path, char *buf, size_t size)
{
    char methods[ROUTE_ALLOW_MAX];
    join_methods(r->methods & ~ROUTE_METHOD(API_HEAD), ", ", " or ", methods, sizeof(methods));
    snprintf(buf, size, "use %s for %s", methods, path);
    return buf;
}
