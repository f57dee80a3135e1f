/*
 * geocoder.h - reverse geocoding over HTTP(S): a position in, an address, a locality and a
 * country out, from one provider (Nominatim, Photon or OpenCage). The only module that
 * includes libcurl's header.
 *
 * A provider is described by one text, the value of the `geocoder` setting:
 *
 *   KIND[:URL][,key-file=FILE][,rate=R]
 *
 * KIND is nominatim, photon or opencage; URL the server (default: the public one:
 * https://nominatim.openstreetmap.org, https://photon.komoot.io, https://api.opencagedata.com);
 * key-file a file whose first line is the API key (OpenCage needs one); rate the requests per
 * second at most (default 1, what the public Nominatim allows; 0.001..1000).
 *
 * This module only asks: it neither waits between requests nor caches. It tells the caller when
 * the provider may be asked next (geocoder_next_at: the rate, and the back-off after a 429 or a
 * 5xx, which honours Retry-After), and the caller (placename.c) waits.
 *
 * Thread rules: geocoder_global_init() once, before any thread starts. A struct geocoder belongs
 * to one thread at a time (it holds a libcurl handle); geocoder_parse_answer and
 * geocoder_parse_spec are pure.
 */
#ifndef WL_GEOCODER_H
#define WL_GEOCODER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum geocoder_kind { GEOCODER_NOMINATIM, GEOCODER_PHOTON, GEOCODER_OPENCAGE };

#define GEOCODER_URL_MAX 256
#define GEOCODER_KEY_MAX 128
/* The longest answer read: a reverse lookup is one place, a few KB; more is not an answer. */
#define GEOCODER_BODY_MAX (256 * 1024)
/* Back-off after a 429 or 5xx without Retry-After: doubles from the minimum per failure in a
 * row, up to the maximum (an hour: a provider that is down for longer is asked once an hour). */
#define GEOCODER_BACKOFF_MIN_S 5
#define GEOCODER_BACKOFF_MAX_S 3600

struct geocoder_spec {
    enum geocoder_kind kind;
    char url[GEOCODER_URL_MAX]; /* without a trailing '/' */
    char key_file[GEOCODER_URL_MAX];
    double rate; /* requests per second */
};

/* Fields of an answer (UTF-8, cut at a character boundary to fit). */
#define GEOCODER_ADDR_MAX     256
#define GEOCODER_LOCALITY_MAX 128

struct geocoder_answer {
    char cc[3]; /* ISO 3166-1 alpha-2, upper case, or "" */
    char addr[GEOCODER_ADDR_MAX];
    char locality[GEOCODER_LOCALITY_MAX];
};

/* Parses a provider text (above). Returns 0, or -EINVAL with the reason in why. */
int geocoder_parse_spec(const char *text, struct geocoder_spec *out, char *why, size_t whysize);
/* The kind's name ("nominatim", "photon", "opencage"). */
const char *geocoder_kind_name(enum geocoder_kind kind);

/*
 * Reads an answer body in kind's format. Returns 1 (a place: *out set), 0 (a valid answer that
 * names nothing there: the sea, no data; *out is empty), or -EPROTO (not an answer in that
 * format: not JSON, the wrong shape, an error object).
 */
int geocoder_parse_answer(enum geocoder_kind kind, const char *body, size_t len,
                          struct geocoder_answer *out);

/* libcurl's global set-up; once, before threads start. Returns 0 or -EIO. */
int geocoder_global_init(void);
void geocoder_global_cleanup(void);

struct geocoder;

/*
 * A provider ready to ask: spec is copied, the key read from its file now. user_agent (copied)
 * identifies wherelog to the provider; timeout_ms bounds a whole request. Returns 0, -ENOMEM,
 * -EINVAL (OpenCage without a key), or the -errno of reading the key file.
 */
int geocoder_new(const struct geocoder_spec *spec, const char *user_agent, long timeout_ms,
                 struct geocoder **out);
void geocoder_free(struct geocoder *g);
const struct geocoder_spec *geocoder_get_spec(const struct geocoder *g);

/*
 * Asks for (lat, lon); `now` is CLOCK_MONOTONIC seconds. Returns geocoder_parse_answer's 1 or 0,
 * or: -ETIMEDOUT (no answer within the timeout), -ECONNREFUSED / -EHOSTUNREACH (could not
 * connect or resolve), -EAGAIN (429 or 5xx: backing off), -EACCES (401, 402 or 403: the key or
 * the quota), -EPROTO (another status, or a body that is no answer), -E2BIG (a body over
 * GEOCODER_BODY_MAX), -ENOMEM. Every outcome sets when the provider may be asked next.
 * On error, why holds a short reason for the log.
 */
int geocoder_reverse(struct geocoder *g, double lat, double lon, double now,
                     struct geocoder_answer *out, char *why, size_t whysize);
/* The CLOCK_MONOTONIC time (seconds) before which the provider must not be asked again. */
double geocoder_next_at(const struct geocoder *g);
/* Is it backing off (after a 429 or 5xx) rather than only keeping its rate? */
bool geocoder_backing_off(const struct geocoder *g, double now);

#endif
