/* wherelog: a self-hosted location-history recorder for OwnTracks. */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "version.h"

static const struct {
    const char *name;
    int (*run)(int, char **);
    const char *summary;
} commands[] = {
    {"serve", cli_serve, "store what phones send (MQTT, HTTP); serve the API and the map"},
    {"list", cli_list, "list users, or a user's devices"},
    {"last", cli_last, "last position of each device, as JSON"},
    {"export", cli_export, "a device's track as JSON, GeoJSON, GPX or CSV"},
    {"import", cli_import, "import a Recorder store, GPX, GeoJSON or Google history"},
    {"delete", cli_delete, "remove points or whole devices"},
    {"hide", cli_hide, "hide a bad point (without deleting it)"},
    {"unhide", cli_unhide, "show a hidden point again"},
    {"stats", cli_stats, "points, distances and days per device; store size"},
    {"timeline", cli_timeline, "stays, trips and gaps of a day or a range; rebuild them"},
    {"summary", cli_summary, "a user's year at a glance: distance, countries, cities, places"},
    {"at", cli_at, "where a device was at a given moment"},
    {"settings", cli_settings, "a user's time zone and stay settings: show or set"},
    {"backup", cli_backup, "a consistent copy of the store, while it runs"},
    {"compact", cli_compact, "a compacted copy of the store"},
    {"check", cli_check, "verify the store"},
    {"key", cli_key, "manage OwnTracks encryption secrets"},
    {"token", cli_token, "API tokens for scripts: create, list, revoke"},
    {"share", cli_share, "share links: create, list, revoke"},
    {"private", cli_private, "private places that share links never show"},
    {"place", cli_place, "a user's places: add, rename, move, merge, delete, list, visits"},
    {"events", cli_events, "events derived from the data: stays, trips, battery, regions"},
    {"webhook", cli_webhook, "where a user's events are delivered"},
};

static void usage(FILE *f)
{
    fprintf(f, "usage: wherelog COMMAND [options]   (wherelog COMMAND --help for details)\n\n");
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
        fprintf(f, "  %-8s %s\n", commands[i].name, commands[i].summary);
    fprintf(f, "\n  --version  print the version\n");
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "version") == 0) {
        printf("wherelog %s (%s)\n", WHERELOG_VERSION, WHERELOG_GIT);
        return 0;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
        strcmp(argv[1], "help") == 0) {
        if (argc > 2) {
            char *help[] = {argv[2], "--help", NULL};
            for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
                if (strcmp(argv[2], commands[i].name) == 0)
                    return commands[i].run(2, help);
        }
        usage(stdout);
        return 0;
    }
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
        if (strcmp(argv[1], commands[i].name) == 0)
            return commands[i].run(argc - 1, argv + 1);
    fprintf(stderr, "wherelog: unknown command '%s'\n", argv[1]);
    usage(stderr);
    return 2;
}
