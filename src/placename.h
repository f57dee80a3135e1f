/*
 * placename.h - names for places: the geohash of a position and, for it, a country, a locality,
 * an address and a time zone, in the shape the OwnTracks Recorder gives them (ghash, cc,
 * locality, addr, tzname).
 *
 * Where the names come from, best first: the cache in the store (what a geocoder said about the
 * geohash cell, or a Recorder's imported cache), then the gazetteer (nearest city, its country
 * and time zone, no network). A lookup never asks a geocoder: it answers from these two at once,
 * and what is not known yet is left out and filled in later.
 *
 * Geocoders are asked by one background thread, only when the operator configured one (nothing
 * leaves the machine otherwise). The ingest path hands it positions with placename_note(), which
 * never waits: a geohash not asked for recently goes into a bounded queue (a full queue drops it
 * and counts the drop: it is noted again the next time a point falls in that cell). The thread
 * skips cells whose cache entry is younger than max_age, asks the providers in order (the next
 * on failure), keeps each provider's rate and back-off (geocoder.h), and stores the answer
 * (nothing there is an answer too). A cell that no provider could name is forgotten and asked
 * again when noted again.
 *
 * Thread rules: placename_note, placename_lookup and placename_get_stats may be called from any
 * thread at once. A struct placename_memo belongs to one thread at a time. placename_free()
 * stops the thread (a request in flight ends within the geocoders' timeout).
 */
#ifndef WL_PLACENAME_H
#define WL_PLACENAME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gazetteer.h"
#include "geocoder.h"
#include "geohash.h"
#include "sink.h"
#include "store.h"

/* Positions waiting for a geocoder. At the public Nominatim's one a second, a thousand is a
 * quarter of an hour of work: more would only be older work; what is dropped comes again. */
#define PLACENAME_QUEUE_DEFAULT 1024
/* Geohashes noted recently (and so not queued again): enough for the cells of a day's
 * travel, 13 bytes each. */
#define PLACENAME_RECENT 8192
/* A stream's memo of the cells it has named: consecutive points mostly share a cell, and a
 * track that comes back to a place finds it here without asking the store. */
#define PLACENAME_MEMO 128
/* The Recorder's members (ghash, cc, addr, locality, tzname), and the bytes a memo keeps of
 * one cell's as JSON: enough for any but addresses of hundreds of escaped characters, which
 * are written out each time instead. About 100 KB a memo. */
#define PLACENAME_MEMBERS   5
#define PLACENAME_MEMO_TEXT 768

struct placename_options {
    int precision;    /* of the geohash cells (GEOHASH_PRECISION_MIN..MAX) */
    int64_t max_age;  /* seconds after which a cache entry is asked for again */
    size_t queue_max; /* 0: PLACENAME_QUEUE_DEFAULT */
};

struct placename_stats {
    uint64_t requests;    /* requests sent to geocoders */
    uint64_t failures;    /* of which failed (timeout, refused, 429, 5xx, no answer) */
    uint64_t answers;     /* answers stored (nothing there included) */
    uint64_t cache_hits;  /* queued cells that the cache knew already */
    uint64_t queue_drops; /* positions dropped because the queue was full */
    uint64_t queued;      /* waiting now */
    size_t providers;
};

struct placename;

/*
 * A namer on `store` and `gz` (borrowed until placename_free; gz may be NULL: no offline
 * names). providers[0..n) are taken (freed by placename_free, even on error); with n > 0 the
 * background thread starts. Returns 0, -EINVAL (precision), -ENOMEM, or the -errno of starting
 * the thread.
 */
int placename_new(struct store *store, const struct gazetteer *gz,
                  const struct placename_options *opt, struct geocoder **providers, size_t n,
                  struct placename **out);
void placename_free(struct placename *p);

/* A position was stored: queue its cell for the geocoders unless noted recently. Never waits
 * (a mutex held for a copy), never fails (a full queue counts a drop). Nothing without
 * providers. */
void placename_note(struct placename *p, double lat, double lon);

/* What is known of a position. Strings are "" when unknown. */
struct placename_answer {
    char ghash[GEOHASH_SIZE];
    char cc[3];
    char addr[STORE_GEO_ADDR_MAX];
    char locality[STORE_GEO_LOCALITY_MAX];
    char tzname[STORE_GEO_TZNAME_MAX];
    bool cached;     /* the cache had the cell: tst, provider are set */
    int64_t fetched; /* when cached */
    char provider[STORE_GEO_PROVIDER_MAX];
};

/* How placename_lookup may read the cache. */
enum placename_cache {
    PLACENAME_CACHE,    /* read it */
    PLACENAME_NESTED,   /* the calling thread holds a store read open (an iterator), so the
                         * cache is only peeked at (store_geo_peek) */
    PLACENAME_NO_CACHE, /* the gazetteer alone: for a caller who may not learn what the cache
                         * holds (it tells where some user has been) */
};

/*
 * Looks (lat, lon) up in the cache (as `how` says), then in the gazetteer; never asks a
 * geocoder. Returns 0, or -EINVAL (a position that is not finite or out of range: nothing set).
 */
int placename_lookup(struct placename *p, double lat, double lon, enum placename_cache how,
                     struct placename_answer *out);

/* A stream's memo (above). Returns NULL when out of memory. */
struct placename_memo *placename_memo_new(struct placename *p);
/* Frees it (NULL harmless). */
void placename_memo_free(struct placename_memo *m);

/*
 * Writes the Recorder's members for (lat, lon) into out as `,"ghash":"...","cc":...` (the
 * first without its comma unless comma), through the memo: ghash always, the others when
 * known. only: just that member (NULL: all). have: bits (1 << pack key index, pack.h) of
 * members the point already has, which are not written again. Fits fmt_place (fmt.h). Returns
 * how many members it wrote. Never waits for a geocoder; the caller holds a store read open.
 */
int placename_write_members(void *memo, double lat, double lon, const char *only, uint64_t have,
                            bool comma, struct sink *out);

void placename_get_stats(struct placename *p, struct placename_stats *out);

#endif
