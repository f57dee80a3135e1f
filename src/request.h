/*
 * request.h - what a reader asks for, parsed once for both doors: the HTTP API (api.c: query
 * string, X-Limit- headers or form body) and the command line (cli.c, cli_data.c: --user,
 * --from...). Both hand their texts to request_parse() and get the same typed request, or the
 * same refusal in the same words; each door only says it its own way (request_describe():
 * "bad parameter from: ..." for the API, "--from: ..." for the CLI).
 *
 * The parameters (by their API names; the CLI's options have the same names):
 *   user, device   a name (owntracks.h's rules), lowercased
 *   from, to       a time (wtime.h); `to` covers the whole unit it names (a date: that day);
 *                  not bounded to WTIME_MIN..WTIME_MAX here (the store clamps a read range)
 *   limit          a whole number: only the newest `limit` points
 *   max_points     QUERY_THIN_MIN..QUERY_THIN_MAX: thin the track to this many
 *   fields         "a,b,c": at most FMT_MAX_FIELDS names
 *   format         json, geojson, gpx, csv, linestring or xml (those the door allows)
 *   download       "1" or "true": as an attachment (any other text: not, never refused)
 *   timeline       "1" or "true": a GPX export carries the timeline (tlread.h), read as download
 * An empty text is the same as an absent one (web forms send empty fields). Every text must
 * be UTF-8.
 *
 * No state, no I/O: any thread.
 */
#ifndef WL_REQUEST_H
#define WL_REQUEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "fmt.h"
#include "owntracks.h"

enum request_param {
    REQUEST_USER = 1u << 0,
    REQUEST_DEVICE = 1u << 1,
    REQUEST_FROM = 1u << 2,
    REQUEST_TO = 1u << 3,
    REQUEST_LIMIT = 1u << 4,
    REQUEST_MAX_POINTS = 1u << 5,
    REQUEST_FIELDS = 1u << 6,
    REQUEST_FORMAT = 1u << 7,
    REQUEST_DOWNLOAD = 1u << 8,
    REQUEST_TIMELINE = 1u << 9,
};
#define REQUEST_RANGE (REQUEST_FROM | REQUEST_TO)

/* What a door's command or route takes. */
struct request_rules {
    unsigned takes;    /* enum request_param bits; others are not read */
    unsigned requires; /* of those, the ones that must be given */
    unsigned formats;  /* REQUEST_FORMAT_BIT() of the formats allowed; 0: all */
    /* `from` when absent (`to` is then WTIME_MAX): WTIME_MIN, or for the API's locations
     * the start of its default window. */
    int64_t default_from;
};
#define REQUEST_FORMAT_BIT(kind) (1u << (kind))

/* The fields list, copied: long enough for FMT_MAX_FIELDS names of a usual length. */
#define REQUEST_FIELDS_TEXT 1024

/* A parsed request. `given` says which parameters were there (non-empty). */
struct request_params {
    unsigned given;
    char user[OWNTRACKS_NAME_MAX + 1];   /* "" when not given */
    char device[OWNTRACKS_NAME_MAX + 1]; /* "" when not given */
    int64_t from, to;                    /* from <= to; the defaults when not given */
    uint64_t limit;                      /* 0: all */
    uint32_t max_points;                 /* 0: not thinned */
    enum fmt_kind format;                /* FMT_JSON when not given */
    bool download;
    bool timeline;
    const char *fields[FMT_MAX_FIELDS]; /* point into fields_text */
    size_t nfields;                     /* 0: the format's default */
    char fields_text[REQUEST_FIELDS_TEXT];
};

/* Why a request was refused. */
enum request_refusal {
    REQUEST_MISSING = 1, /* a required parameter is absent */
    REQUEST_BAD,         /* a parameter's text is not what it should be */
    REQUEST_EMPTY_RANGE, /* from is after to */
};

/* Room for a reason: the longest fixed text and a quoted, cut piece of the input. */
#define REQUEST_WHY_MAX 200

struct request_error {
    enum request_refusal refusal;
    const char *param;         /* the parameter's name ("from"), a static string */
    char why[REQUEST_WHY_MAX]; /* REQUEST_BAD: what is wrong, the same for every door */
};

/* Reads a parameter's text by its name (NULL: absent). */
typedef const char *(*request_get_fn)(void *ctx, const char *name);

/*
 * Parses the parameters the rules take, in the order listed above, and checks the range.
 * The request is self-contained (names and fields are copied; get's texts are borrowed only
 * during the call). Returns 0, or -EINVAL with err filled in (the first problem found).
 */
int request_parse(struct request_params *rq, const struct request_rules *rules, request_get_fn get,
                  void *ctx, struct request_error *err);

/* One name or one time read the way request_parse() reads user, device, from and to, for a
 * door's other arguments (the CLI's positional USER DEVICE TST). `param` names it in the
 * error (a static string); `out` of request_name holds OWNTRACKS_NAME_MAX + 1 bytes; `end`:
 * the last moment of the unit the text names. Return 0, or -EINVAL with err filled in
 * (REQUEST_BAD). */
int request_name(const char *text, const char *param, char *out, struct request_error *err);
int request_time(const char *text, const char *param, bool end, int64_t *out,
                 struct request_error *err);

/* How a door names parameters. */
enum request_door { REQUEST_DOOR_API, REQUEST_DOOR_CLI };

/* The refusal as one sentence for a door: "bad parameter limit: not a whole number" (API),
 * "--limit: not a whole number" (CLI). Returns buf, cut to size. */
const char *request_describe(const struct request_error *err, enum request_door door, char *buf,
                             size_t size);
/* The HTTP status of a refusal: 416 for an empty range, else 400. */
unsigned request_status(const struct request_error *err);

#endif
