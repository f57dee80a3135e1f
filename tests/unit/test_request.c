#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

#include "query.h"
#include "request.h"
#include "wtime.h"

/* Parameters as name=value pairs, NULL-terminated. */
static const char *get(void *ctx, const char *name)
{
    const char *const *kv = ctx;
    for (; kv[0]; kv += 2)
        if (strcmp(kv[0], name) == 0)
            return kv[1];
    return NULL;
}

static const struct request_rules everything = {
    .takes = REQUEST_USER | REQUEST_DEVICE | REQUEST_RANGE | REQUEST_LIMIT | REQUEST_MAX_POINTS |
             REQUEST_FIELDS | REQUEST_FORMAT | REQUEST_DOWNLOAD,
    .requires = REQUEST_USER | REQUEST_DEVICE};

/* Parses and expects a refusal; returns the door's sentence for it. */
static const char *refused(const struct request_rules *rules, const char *const *kv,
                           enum request_door door, char *buf, size_t size)
{
    struct request_params rq;
    struct request_error err;
    cr_assert_eq(request_parse(&rq, rules, get, (void *)kv, &err), -EINVAL);
    return request_describe(&err, door, buf, size);
}

Test(request, parses_every_parameter)
{
    const char *kv[] = {"user",       "Jane",     "device",     "Phone",   "from",
                        "2024-12-01", "to",       "2024-12-01", "limit",   "10",
                        "max_points", "100",      "fields",     "tst,lat", "format",
                        "gpx",        "download", "true",       NULL};
    struct request_params rq;
    struct request_error err;
    cr_assert_eq(request_parse(&rq, &everything, get, kv, &err), 0);
    cr_assert_str_eq(rq.user, "jane", "names are lowercased");
    cr_assert_str_eq(rq.device, "phone");
    cr_assert_eq(rq.from, 1733011200);
    cr_assert_eq(rq.to, 1733011200 + 86399, "a date as `to` covers the whole day");
    cr_assert_eq(rq.limit, 10);
    cr_assert_eq(rq.max_points, 100);
    cr_assert_eq(rq.nfields, 2);
    cr_assert_str_eq(rq.fields[1], "lat");
    cr_assert_eq(rq.format, FMT_GPX);
    cr_assert(rq.download);
    cr_assert_eq(rq.given, everything.takes);
}

Test(request, absent_and_empty_take_the_defaults)
{
    const char *kv[] = {"user", "jane", "device", "phone", "from", "", "format", "", NULL};
    struct request_params rq;
    struct request_error err;
    struct request_rules rules = everything;
    rules.default_from = 1700000000;
    cr_assert_eq(request_parse(&rq, &rules, get, kv, &err), 0);
    cr_assert_eq(rq.from, 1700000000);
    cr_assert_eq(rq.to, WTIME_MAX);
    cr_assert_eq(rq.format, FMT_JSON);
    cr_assert_eq(rq.limit, 0);
    cr_assert_eq(rq.max_points, 0);
    cr_assert_eq(rq.nfields, 0);
    cr_assert_not(rq.download);
    cr_assert_not(rq.given & (REQUEST_FROM | REQUEST_FORMAT), "empty is absent");
    rules.default_from = 0;
    cr_assert_eq(request_parse(&rq, &rules, get, kv, &err), 0);
    cr_assert_eq(rq.from, WTIME_MIN);
}

Test(request, reads_only_what_the_rules_take)
{
    const char *kv[] = {"user", "jane", "limit", "nonsense", "format", "nope", NULL};
    struct request_params rq;
    struct request_error err;
    struct request_rules rules = {.takes = REQUEST_USER};
    cr_assert_eq(request_parse(&rq, &rules, get, kv, &err), 0);
    cr_assert_eq(rq.given, REQUEST_USER);
}

Test(request, both_doors_refuse_in_the_same_words)
{
    char api[256], cli[256];
    const char *kv[] = {"user", "jane", "device", "phone", "from", "yesterday", NULL};
    refused(&everything, kv, REQUEST_DOOR_API, api, sizeof(api));
    refused(&everything, kv, REQUEST_DOOR_CLI, cli, sizeof(cli));
    cr_assert_str_eq(api, "bad parameter from: \"yesterday\" is not a time (use YYYY-MM-DD, "
                          "YYYY-MM-DDTHH:MM[:SS][Z|+HH:MM] or epoch seconds)");
    cr_assert_eq(strncmp(cli, "--", 2), 0, "the CLI names the option: %s", cli);
    cr_assert_str_eq(cli + 2, api + strlen("bad parameter "), "and then says the same");
}

Test(request, refusals)
{
    char buf[256];
    struct {
        const char *kv[8];
        const char *api;
    } cases[] = {
        {{"device", "phone", NULL}, "missing parameter user"},
        {{"user", "jane", NULL}, "missing parameter device"},
        {{"user", "a/b", "device", "phone", NULL}, "bad parameter user: name contains"},
        {{"user", "jane", "device", "phone", "limit", "-1", NULL},
         "bad parameter limit: not a whole number"},
        {{"user", "jane", "device", "phone", "limit", " 1", NULL},
         "bad parameter limit: not a whole number"},
        {{"user", "jane", "device", "phone", "limit", "99999999999999999999999", NULL},
         "bad parameter limit: larger than"},
        {{"user", "jane", "device", "phone", "max_points", "15", NULL},
         "bad parameter max_points: a number from 16 to 200000"},
        {{"user", "jane", "device", "phone", "max_points", "200001", NULL},
         "bad parameter max_points: a number from 16 to 200000"},
        {{"user", "jane", "device", "phone", "fields", ",,", NULL},
         "bad parameter fields: a comma-separated list"},
        {{"user", "jane", "device", "phone", "format", "kml", NULL},
         "bad parameter format: \"kml\" is not json, geojson, gpx, csv, linestring or xml"},
        {{"user", "jane", "device", "phone", "from", "2024-12-02", "to", "2024-12-01"},
         "impossible date/time range: from is after to"},
        {{"user", "jane", "device", "ph\xff", NULL}, "bad parameter device: not valid UTF-8"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        refused(&everything, cases[i].kv, REQUEST_DOOR_API, buf, sizeof(buf));
        cr_expect(strncmp(buf, cases[i].api, strlen(cases[i].api)) == 0,
                  "case %zu: \"%s\" starts with \"%s\"", i, buf, cases[i].api);
    }
}

Test(request, an_empty_range_is_416_and_the_rest_400)
{
    struct request_params rq;
    struct request_error err;
    const char *range[] = {"user", "j", "device", "p", "from", "2", "to", "1", NULL};
    const char *bad[] = {"user", "j", "device", "p", "limit", "x", NULL};
    request_parse(&rq, &everything, get, range, &err);
    cr_assert_eq(request_status(&err), 416);
    char cli[128];
    cr_assert_str_eq(request_describe(&err, REQUEST_DOOR_CLI, cli, sizeof(cli)),
                     "--from is after --to");
    request_parse(&rq, &everything, get, bad, &err);
    cr_assert_eq(request_status(&err), 400);
}

Test(request, a_door_may_allow_fewer_formats)
{
    char buf[256];
    struct request_rules rules = {.takes = REQUEST_FORMAT,
                                  .formats =
                                      REQUEST_FORMAT_BIT(FMT_JSON) | REQUEST_FORMAT_BIT(FMT_GPX)};
    const char *kv[] = {"format", "xml", NULL};
    cr_assert_str_eq(refused(&rules, kv, REQUEST_DOOR_CLI, buf, sizeof(buf)),
                     "--format: \"xml\" is not json or gpx");
}

Test(request, fields_longer_than_the_copy_are_refused_not_cut)
{
    static char longlist[REQUEST_FIELDS_TEXT + 10];
    memset(longlist, 'a', sizeof(longlist) - 1);
    const char *kv[] = {"fields", longlist, NULL};
    struct request_rules rules = {.takes = REQUEST_FIELDS};
    char buf[256];
    refused(&rules, kv, REQUEST_DOOR_API, buf, sizeof(buf));
    cr_assert(strstr(buf, "fields") != NULL, "%s", buf);
    char many[4 * (FMT_MAX_FIELDS + 1)] = "";
    for (int i = 0; i <= FMT_MAX_FIELDS; i++)
        strcat(many, "a,");
    kv[1] = many;
    refused(&rules, kv, REQUEST_DOOR_API, buf, sizeof(buf));
}

Test(request, a_hostile_value_is_quoted_and_cut)
{
    static char value[600];
    memset(value, 'x', sizeof(value) - 1);
    value[3] = '\n';
    const char *kv[] = {"from", value, NULL};
    struct request_rules rules = {.takes = REQUEST_FROM};
    char buf[512];
    refused(&rules, kv, REQUEST_DOOR_API, buf, sizeof(buf));
    cr_assert_null(strchr(buf, '\n'), "control characters are escaped: %s", buf);
    cr_assert_lt(strlen(buf), REQUEST_WHY_MAX + 64);
}

Test(request, single_names_and_times_read_as_the_request_does)
{
    char name[OWNTRACKS_NAME_MAX + 1];
    int64_t t;
    struct request_error err;
    cr_assert_eq(request_name("Jane", "user", name, &err), 0);
    cr_assert_str_eq(name, "jane");
    cr_assert_eq(request_name("a/b", "user", name, &err), -EINVAL);
    cr_assert_str_eq(err.param, "user");
    cr_assert(strstr(err.why, "(got \"a/b\")") != NULL, "%s", err.why);
    cr_assert_eq(request_time("2024-12-01", "tst", true, &t, &err), 0);
    cr_assert_eq(t, 1733011200 + 86399);
    cr_assert_eq(request_time("2024-12-01", "tst", false, &t, &err), 0);
    cr_assert_eq(t, 1733011200);
    cr_assert_eq(request_time("soon", "tst", false, &t, &err), -EINVAL);
    cr_assert_eq(err.refusal, REQUEST_BAD);
}
