#include <criterion/criterion.h>
#include <string.h>

#include "route.h"

Test(route, finds_exact_paths_before_prefixes)
{
    cr_assert_str_eq(route_find("/api/0/last")->path, "/api/0/last");
    cr_assert_eq(route_find("/api/0/last")->door, ROUTE_API);
    cr_assert_eq(route_find("/api/0/stream")->door, ROUTE_EVENTS);
    cr_assert_eq(route_find("/ws/last")->door, ROUTE_WEBSOCKET);
    cr_assert_eq(route_find("/api/0/lastx")->door, ROUTE_NO_API, "no endpoint is a prefix");
    cr_assert_eq(route_find("/api/")->door, ROUTE_NO_API);
    cr_assert_eq(route_find("/api")->door, ROUTE_FILES, "/api without a slash is a file");
    cr_assert_eq(route_find("/pub/x")->door, ROUTE_FILES);
    cr_assert_eq(route_find("/vendor/leaflet/leaflet.js")->door, ROUTE_LEAFLET);
    cr_assert_str_eq(route_find("/vendor/other.js")->label, "vendor");
    cr_assert_eq(route_find("/vendor/other.js")->door, ROUTE_FILES);
    cr_assert_str_eq(route_find("/index.html")->label, "static");
    cr_assert_not_null(route_find(""), "every path has a route");
    cr_assert_eq(route_find("/healthz")->caller, ROUTE_ANYONE);
    cr_assert_eq(route_find("/metrics")->caller, ROUTE_SIGNED_IN);
}

Test(route, api_rows_have_a_handler_for_each_method_they_take)
{
    size_t n;
    const struct route *t = route_table(&n);
    cr_assert_leq(n, ROUTE_MAX);
    for (size_t i = 0; i < n; i++) {
        cr_assert_eq(route_index(&t[i]), i);
        cr_assert_not_null(t[i].label, "%s has a metrics label", t[i].path);
        if (t[i].door == ROUTE_API)
            cr_assert_eq(t[i].methods & (ROUTE_METHOD(API_OPTIONS) | ROUTE_METHOD(API_OTHER)), 0,
                         "%s: an API row takes only methods that have a handler slot", t[i].path);
        for (int m = 0; m < API_OTHER; m++) {
            bool takes = t[i].methods & ROUTE_METHOD(m);
            if (t[i].door == ROUTE_API)
                cr_assert_eq(takes, t[i].handler[m] != NULL,
                             "%s: method %d is taken exactly when it has a handler", t[i].path, m);
            else
                cr_assert_null(t[i].handler[m], "%s: only API rows have handlers", t[i].path);
        }
    }
    cr_assert_str_eq(t[n - 1].path, "/", "the last row catches every path");
}

Test(route, rows_that_share_a_label_share_a_metrics_slot)
{
    size_t a = route_metrics_slot(route_find("/vendor/leaflet/x.js"));
    size_t b = route_metrics_slot(route_find("/vendor/x.js"));
    cr_assert_eq(a, b);
    cr_assert_neq(route_metrics_slot(route_find("/api/0/last")),
                  route_metrics_slot(route_find("/api/0/list")));
}

Test(route, allow_lists_the_methods_and_options)
{
    char buf[ROUTE_ALLOW_MAX];
    cr_assert_str_eq(route_allow(route_find("/pub"), buf, sizeof(buf)), "POST, OPTIONS");
    cr_assert_str_eq(route_allow(route_find("/api/0/locations"), buf, sizeof(buf)),
                     "GET, HEAD, POST, DELETE, OPTIONS");
    cr_assert_str_eq(route_allow(route_find("/api/0/stream"), buf, sizeof(buf)), "GET, OPTIONS");
    cr_assert_str_eq(route_allow(route_find("/x.html"), buf, sizeof(buf)), "GET, HEAD, OPTIONS");
    cr_assert_str_eq(route_allow(NULL, buf, sizeof(buf)), "GET, HEAD, POST, DELETE, PATCH, OPTIONS",
                     "a preflight names what some route takes, not PUT");
    cr_assert_str_eq(route_allow(route_find("/api/0/places/12"), buf, sizeof(buf)),
                     "DELETE, PATCH, OPTIONS", "one place by id");
    cr_assert_str_eq(route_allow(route_find("/api/0/places"), buf, sizeof(buf)),
                     "GET, HEAD, POST, OPTIONS");
    cr_assert_str_eq(route_allow(route_find("/api/0/places/suggestions"), buf, sizeof(buf)),
                     "GET, HEAD, OPTIONS", "the exact path wins over the prefix");
    char small[8];
    route_allow(route_find("/api/0/locations"), small, sizeof(small));
    cr_assert_lt(strlen(small), sizeof(small), "a short buffer is not overrun");
}

Test(route, refusal_says_which_methods_to_use)
{
    char buf[128];
    cr_assert_str_eq(route_refusal(route_find("/pub"), "/pub", buf, sizeof(buf)),
                     "use POST for /pub");
    cr_assert_str_eq(route_refusal(route_find("/metrics"), "/metrics", buf, sizeof(buf)),
                     "use GET for /metrics");
    cr_assert_str_eq(route_refusal(route_find("/api/0/last"), "/api/0/last", buf, sizeof(buf)),
                     "use GET or POST for /api/0/last");
    cr_assert_str_eq(
        route_refusal(route_find("/api/0/locations"), "/api/0/locations", buf, sizeof(buf)),
        "use GET, POST or DELETE for /api/0/locations");
}

Test(route, says_which_methods_change_data)
{
    const struct route *locations = route_find("/api/0/locations"), *pub = route_find("/pub");
    cr_assert(route_changes_data(locations, API_DELETE));
    cr_assert_not(route_changes_data(locations, API_GET));
    cr_assert_not(route_changes_data(locations, API_POST), "POST reads, as in the Recorder");
    cr_assert(route_changes_data(pub, API_POST), "publishing stores data");
    cr_assert_not(route_changes_data(route_find("/api/0/last"), API_GET));
    /* A row that forgot to say so still counts any DELETE or PUT. */
    cr_assert(route_changes_data(route_find("/api/0/last"), API_DELETE));
    cr_assert(route_changes_data(route_find("/api/0/nothing"), API_PUT));
    const struct route *places = route_find("/api/0/places"), *one = route_find("/api/0/places/7");
    cr_assert(route_changes_data(places, API_POST), "adding a place is a change");
    cr_assert_not(route_changes_data(places, API_GET));
    cr_assert(route_changes_data(one, API_PATCH) && route_changes_data(one, API_DELETE));
    cr_assert(route_changes_data(route_find("/api/0/nothing"), API_PATCH),
              "any PATCH changes, whatever the row says");
    cr_assert_not(route_changes_data(route_find("/api/0/visits"), API_GET));
}
