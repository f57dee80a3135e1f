/*
 * wl-routes - prints the HTTP route table (route.h), one JSON object a line, for the contract
 * test (tests/integration/contract.py) to compare with api/openapi.yaml (not installed).
 */
#include <stdio.h>

#include "route.h"
#include "wl.h"

int main(void)
{
    static const char *const doors[] = {
        [ROUTE_API] = "api",         [ROUTE_EVENTS] = "events", [ROUTE_WEBSOCKET] = "websocket",
        [ROUTE_METRICS] = "metrics", [ROUTE_HEALTH] = "health", [ROUTE_LEAFLET] = "leaflet",
        [ROUTE_FILES] = "files",     [ROUTE_NO_API] = "no-api"};
    static const char *const methods[] = {
        [API_GET] = "GET",     [API_HEAD] = "HEAD",     [API_POST] = "POST",
        [API_PUT] = "PUT",     [API_DELETE] = "DELETE", [API_OPTIONS] = "OPTIONS",
        [API_PATCH] = "PATCH", [API_OTHER] = "other"};
    size_t n;
    const struct route *routes = route_table(&n);

    for (size_t i = 0; i < n; i++) {
        const struct route *r = &routes[i];
        printf("{\"path\":\"%s\",\"prefix\":%s,\"door\":\"%s\",\"label\":\"%s\","
               "\"streamed\":%s,\"reads_query\":%s,\"anyone\":%s,\"methods\":[",
               r->path, r->prefix ? "true" : "false", doors[r->door], r->label,
               r->streamed ? "true" : "false", r->reads_query ? "true" : "false",
               r->caller == ROUTE_ANYONE ? "true" : "false");
        const char *comma = "";
        for (int m = 0; m <= API_OTHER; m++) {
            if (!(r->methods & ROUTE_METHOD(m)))
                continue;
            printf("%s\"%s\"", comma, methods[m]);
            comma = ",";
        }
        printf("]}\n");
    }
    return ferror(stdout) ? 1 : 0;
}
