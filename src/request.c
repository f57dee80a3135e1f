#include "request.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "query.h"
#include "wl.h"
#include "wtime.h"

/* A piece of untrusted input quoted in a reason: enough to recognise it. */
#define QUOTED_MAX 48

static const char *const format_names[] = {
    [FMT_JSON] = "json", [FMT_GEOJSON] = "geojson",       [FMT_GPX] = "gpx",
    [FMT_CSV] = "csv",   [FMT_LINESTRING] = "linestring", [FMT_XML] = "xml"};

static int refuse(struct request_error *err, enum request_refusal refusal, const char *param,
                  const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static int refuse(struct request_error *err, enum request_refusal refusal, const char *param,
                  const char *fmt, ...)
{
    va_list ap;
    err->refusal = refusal;
    err->param = param;
    va_start(ap, fmt);
    vsnprintf(err->why, sizeof(err->why), fmt, ap);
    va_end(ap);
    return -EINVAL;
}

/* The text of a parameter the rules take, NULL when absent or empty (and then noted in
 * rq->given); -EINVAL (err set) when it is not UTF-8 or a required one is missing. */
static int given(struct request_params *rq, const struct request_rules *rules, unsigned param,
                 const char *name, request_get_fn get, void *ctx, const char **out,
                 struct request_error *err)
{
    *out = NULL;
    if (!(rules->takes & param))
        return 0;
    const char *v = get(ctx, name);
    if (!v || !v[0])
    return rules->requires & param ? refuse(err, REQUEST_MISSING, name, "required") : 0;
    if (!owntracks_utf8_valid(v, strlen(v)))
        return refuse(err, REQUEST_BAD, name, "not valid UTF-8");
    rq->given |= param;
    *out = v;
    return 0;
}

int request_name(const char *v, const char *param, char *out, struct request_error *err)
{
    const char *why;
    char quoted[QUOTED_MAX];
    if (owntracks_normalize_name(v, strlen(v), out, &why) != 0)
        return refuse(err, REQUEST_BAD, param, "%s (got \"%s\")", why,
                      wl_log_quote(quoted, sizeof(quoted), v, strlen(v)));
    return 0;
}

int request_time(const char *v, const char *param, bool end, int64_t *out,
                 struct request_error *err)
{
    struct wtime t;
    char quoted[QUOTED_MAX];
    if (wtime_parse(v, &t) != 0)
        return refuse(err, REQUEST_BAD, param,
                      "\"%s\" is not a time (use YYYY-MM-DD, YYYY-MM-DDTHH:MM[:SS][Z|+HH:MM] "
                      "or epoch seconds)",
                      wl_log_quote(quoted, sizeof(quoted), v, strlen(v)));
    /* A range end names the last unit it covers: to=2024-12-01 includes that day. */
    *out = end ? t.t + t.span - 1 : t.t;
    return 0;
}

/* Digits only: no sign, no blank, no base prefix. */
static bool whole_number(const char *v, unsigned long long max, unsigned long long *out)
{
    unsigned long long n = 0;
    for (const char *p = v; *p; p++) {
        if (*p < '0' || *p > '9')
            return false;
        unsigned d = (unsigned)(*p - '0');
        if (n > (max - d) / 10) {
            *out = max;
            errno = ERANGE;
            return false;
        }
        n = n * 10 + d;
    }
    *out = n;
    return true;
}

static int fields(struct request_params *rq, const char *v, struct request_error *err)
{
    size_t len = strlen(v);
    int n = -1;
    if (len < sizeof(rq->fields_text)) {
        memcpy(rq->fields_text, v, len + 1);
        n = fmt_split_fields(rq->fields_text, rq->fields);
    }
    if (n <= 0)
        return refuse(err, REQUEST_BAD, "fields",
                      "a comma-separated list of at most %d names (at most %d bytes)",
                      FMT_MAX_FIELDS, REQUEST_FIELDS_TEXT - 1);
    rq->nfields = (size_t)n;
    return 0;
}

static int format(struct request_params *rq, const struct request_rules *rules, const char *v,
                  struct request_error *err)
{
    unsigned allowed = rules->formats ? rules->formats : ~0u;
    char list[96] = "", quoted[QUOTED_MAX];
    if (fmt_parse(v, &rq->format) == 0 && (allowed & REQUEST_FORMAT_BIT(rq->format)))
        return 0;
    size_t n = 0, count = 0, have = 0;
    for (size_t k = 0; k < WL_ARRAY_LEN(format_names); k++)
        count += (allowed & REQUEST_FORMAT_BIT(k)) != 0;
    for (size_t k = 0; k < WL_ARRAY_LEN(format_names); k++) {
        if (!(allowed & REQUEST_FORMAT_BIT(k)))
            continue;
        int w = snprintf(list + n, sizeof(list) - n, "%s%s",
                         have == 0           ? ""
                         : have + 1 == count ? " or "
                                             : ", ",
                         format_names[k]);
        if (w < 0 || (size_t)w >= sizeof(list) - n)
            break;
        n += (size_t)w;
        have++;
    }
    return refuse(err, REQUEST_BAD, "format", "\"%s\" is not %s",
                  wl_log_quote(quoted, sizeof(quoted), v, strlen(v)), list);
}

int request_parse(struct request_params *rq, const struct request_rules *rules, request_get_fn get,
                  void *ctx, struct request_error *err)
{
    const char *v;
    unsigned long long n;
    int rc;

    memset(rq, 0, offsetof(struct request_params, fields_text));
    rq->fields_text[0] = '\0';
    rq->from = rules->default_from ? rules->default_from : WTIME_MIN;
    rq->to = WTIME_MAX;
    rq->format = FMT_JSON;
    memset(err, 0, sizeof(*err));

    if ((rc = given(rq, rules, REQUEST_USER, "user", get, ctx, &v, err)) != 0 ||
        (v && (rc = request_name(v, "user", rq->user, err)) != 0))
        return rc;
    if ((rc = given(rq, rules, REQUEST_DEVICE, "device", get, ctx, &v, err)) != 0 ||
        (v && (rc = request_name(v, "device", rq->device, err)) != 0))
        return rc;
    if ((rc = given(rq, rules, REQUEST_FROM, "from", get, ctx, &v, err)) != 0 ||
        (v && (rc = request_time(v, "from", false, &rq->from, err)) != 0))
        return rc;
    if ((rc = given(rq, rules, REQUEST_TO, "to", get, ctx, &v, err)) != 0 ||
        (v && (rc = request_time(v, "to", true, &rq->to, err)) != 0))
        return rc;
    if ((rc = given(rq, rules, REQUEST_LIMIT, "limit", get, ctx, &v, err)) != 0)
        return rc;
    if (v) {
        errno = 0;
        if (!whole_number(v, ULLONG_MAX, &n))
            return errno == ERANGE
                       ? refuse(err, REQUEST_BAD, "limit", "larger than %llu", ULLONG_MAX)
                       : refuse(err, REQUEST_BAD, "limit", "not a whole number");
        rq->limit = n;
    }
    if ((rc = given(rq, rules, REQUEST_MAX_POINTS, "max_points", get, ctx, &v, err)) != 0)
        return rc;
    if (v) {
        if (!whole_number(v, ULLONG_MAX, &n) || n < QUERY_THIN_MIN || n > QUERY_THIN_MAX)
            return refuse(err, REQUEST_BAD, "max_points", "a number from %d to %d", QUERY_THIN_MIN,
                          QUERY_THIN_MAX);
        rq->max_points = (uint32_t)n;
    }
    if ((rc = given(rq, rules, REQUEST_FIELDS, "fields", get, ctx, &v, err)) != 0 ||
        (v && (rc = fields(rq, v, err)) != 0))
        return rc;
    if ((rc = given(rq, rules, REQUEST_FORMAT, "format", get, ctx, &v, err)) != 0 ||
        (v && (rc = format(rq, rules, v, err)) != 0))
        return rc;
    if ((rc = given(rq, rules, REQUEST_DOWNLOAD, "download", get, ctx, &v, err)) != 0)
        return rc;
    rq->download = v && (strcmp(v, "1") == 0 || strcmp(v, "true") == 0);
    if ((rc = given(rq, rules, REQUEST_TIMELINE, "timeline", get, ctx, &v, err)) != 0)
        return rc;
    rq->timeline = v && (strcmp(v, "1") == 0 || strcmp(v, "true") == 0);

    if (rq->from > rq->to)
        return refuse(err, REQUEST_EMPTY_RANGE, "from", "from is after to");
    return 0;
}

const char *request_describe(const struct request_error *err, enum request_door door, char *buf,
                             size_t size)
{
    bool api = door == REQUEST_DOOR_API;
    switch (err->refusal) {
    case REQUEST_MISSING:
        if (api)
            snprintf(buf, size, "missing parameter %s", err->param);
        else
            snprintf(buf, size, "--%s is required", err->param);
        break;
    case REQUEST_EMPTY_RANGE:
        snprintf(buf, size, "%s",
                 api ? "impossible date/time range: from is after to" : "--from is after --to");
        break;
    case REQUEST_BAD:
    default:
        snprintf(buf, size, "%s%s: %s", api ? "bad parameter " : "--", err->param, err->why);
        break;
    }
    return buf;
}

unsigned request_status(const struct request_error *err)
{
    return err->refusal == REQUEST_EMPTY_RANGE ? 416 : 400;
}
