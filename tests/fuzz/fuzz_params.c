/*
 * Fuzz target: the parsers of short texts from outside: times (wtime_parse: API `from`/`to`,
 * CLI --from/--to), user and device names (owntracks_normalize_name), retention rules, and the
 * OwnTracks Recorder .rec line splitter, the request parser that the API and the CLI
 * share (request.h), and the timeline's own (tlread.h: moments, local days, groups, formats;
 * config.h's durations), and the heat grid's and the summary's (heat.h: bbox, zoom; summary.h:
 * year). Input: any bytes; for the request, split at '&' into name=value pairs.
 *
 * Oracles: a parsed time in the storable range formats back (ISO) to text that parses to the
 * same instant; a normalised name normalises to itself; a parsed request keeps its bounds
 * (from <= to, max_points in range, fields within the list) and a refused one says why, in a
 * sentence that fits and has no control characters; a moment for /api/0/at is within the
 * storable range, a local day's start is before its end, a duration is within a year; a bbox
 * is within the world with south <= north (a refused one says why), a zoom within 0..20 has a
 * cell for every position, a year is within 1970..2099.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "heat.h"
#include "import.h"
#include "owntracks.h"
#include "prune.h"
#include "query.h"
#include "request.h"
#include "summary.h"
#include "tlread.h"
#include "wtime.h"
#include "zone.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The input split at '&' into NUL-terminated name=value texts. */
struct pairs {
    char text[256];
    size_t len;
};

static const char *pair_get(void *ctx, const char *name)
{
    const struct pairs *pairs = ctx;
    size_t n = strlen(name);
    for (const char *p = pairs->text; p < pairs->text + pairs->len; p += strlen(p) + 1)
        if (strncmp(p, name, n) == 0 && p[n] == '=')
            return p + n + 1;
    return NULL;
}

static void check_request(const char *input)
{
    static const struct request_rules rules = {
        .takes = REQUEST_USER | REQUEST_DEVICE | REQUEST_RANGE | REQUEST_LIMIT |
                 REQUEST_MAX_POINTS | REQUEST_FIELDS | REQUEST_FORMAT | REQUEST_DOWNLOAD,
        .requires = REQUEST_USER};
    char again[OWNTRACKS_NAME_MAX + 1], why[REQUEST_WHY_MAX + 64];
    const char *reason;
    struct request_params rq;
    struct request_error err;
    struct pairs pairs;

    snprintf(pairs.text, sizeof(pairs.text), "%s", input);
    pairs.len = strlen(pairs.text);
    for (char *p = pairs.text; (p = strchr(p, '&'));)
        *p++ = '\0';
    int rc = request_parse(&rq, &rules, pair_get, &pairs, &err);
    if (rc == 0) {
        if (rq.from > rq.to || rq.nfields > FMT_MAX_FIELDS ||
            (rq.max_points && (rq.max_points < QUERY_THIN_MIN || rq.max_points > QUERY_THIN_MAX)) ||
            !(rq.given & REQUEST_USER) ||
            owntracks_normalize_name(rq.user, strlen(rq.user), again, &reason) != 0 ||
            strcmp(again, rq.user) != 0)
            abort();
        for (size_t i = 0; i < rq.nfields; i++)
            if (rq.fields[i] < rq.fields_text ||
                rq.fields[i] >= rq.fields_text + sizeof(rq.fields_text) || !rq.fields[i][0])
                abort();
    } else {
        if (rc != -EINVAL || !err.param || !err.refusal)
            abort();
        for (int door = REQUEST_DOOR_API; door <= REQUEST_DOOR_CLI; door++) {
            request_describe(&err, (enum request_door)door, why, sizeof(why));
            if (!why[0] || strlen(why) >= sizeof(why))
                abort();
            for (const char *p = why; *p; p++)
                if ((unsigned char)*p < 0x20)
                    abort();
        }
    }
}

/* A refusal names its parameter and says why in one printable line. */
static void check_refusal(const struct request_error *err)
{
    if (!err->param || !err->why[0] || strlen(err->why) >= sizeof(err->why))
        abort();
    for (const char *p = err->why; *p; p++)
        if ((unsigned char)*p < 0x20)
            abort();
}

static void check_timeline(const char *text)
{
    static struct zone *paris; /* opened once: the tz database is read from disk */
    struct request_error err;
    enum tlread_group group;
    enum tlread_format format;
    int64_t t, from, to;
    long seconds;

    if (!paris && zone_open("Europe/Paris", &paris) != 0)
        abort();
    if (tlread_at_time(text, "t", paris, &t, &err) == 0) {
        if (t < WTIME_MIN || t > WTIME_MAX)
            abort();
    } else {
        check_refusal(&err);
    }
    from = to = 0;
    if (tlread_local_bound(text, "from", false, paris, &from, &err) == 0 &&
        tlread_local_bound(text, "to", true, paris, &to, &err) == 0 && from && to && from > to)
        abort();
    if (tlread_parse_group(text, &group, &err) != 0)
        check_refusal(&err);
    if (tlread_parse_format(text, true, &format, &err) != 0)
        check_refusal(&err);
    if (cfg_parse_duration(text, &seconds) == 0 && (seconds < 0 || seconds > 366L * 86400))
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char text[256], iso[64], name[OWNTRACKS_NAME_MAX + 1], again[OWNTRACKS_NAME_MAX + 1];
    const char *why;
    struct wtime t, t2;

    if (size >= sizeof(text))
        size = sizeof(text) - 1;
    memcpy(text, data, size);
    text[size] = '\0';

    /* Query bounds may lie outside the timestamps we store (the store clamps them). */
    if (wtime_parse(text, &t) == 0) {
        if (t.span < 1)
            abort();
        if (t.t >= WTIME_MIN && t.t <= WTIME_MAX) {
            wtime_iso(t.t, iso);
            if (wtime_parse(iso, &t2) != 0 || t2.t != t.t)
                abort();
        }
    }
    if (owntracks_normalize_name(text, size, name, &why) == 0 &&
        (owntracks_normalize_name(name, strlen(name), again, &why) != 0 ||
         strcmp(name, again) != 0))
        abort();
    struct prune_rule rule;
    (void)prune_parse_rule(text, &rule);

    check_request(text);
    check_timeline(text);

    struct heat_bbox box;
    const char *box_why = NULL;
    if (heat_parse_bbox(text, &box, &box_why) == 0) {
        if (!(box.west >= -180 && box.east <= 180 && box.west <= 180 && box.east >= -180 &&
              box.south >= -90 && box.north <= 90 && box.south <= box.north))
            abort();
    } else if (!box_why || !box_why[0]) {
        abort();
    }
    int zoom, year;
    uint32_t x, y;
    if (heat_parse_zoom(text, &zoom) == 0 &&
        (zoom < 0 || zoom > HEAT_ZOOM_MAX || !mercator_cell(-90, 180, zoom, &x, &y) ||
         x != (1u << (zoom + MERCATOR_SIDE_SHIFT)) - 1))
        abort();
    if (summary_parse_year(text, &year) == 0 &&
        (year < SUMMARY_YEAR_MIN || year > SUMMARY_YEAR_MAX))
        abort();

    struct import_rec_line rl;
    if (import_parse_rec_line((const char *)data, size, &rl) == 0) {
        const char *end = (const char *)data + size;
        if (rl.payload < (const char *)data || rl.payload + rl.payload_len > end ||
            rl.reltopic + rl.reltopic_len > end)
            abort();
    }
    return 0;
}
