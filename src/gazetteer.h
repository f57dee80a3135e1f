/*
 * gazetteer.h - names for places without a network: the nearest city to a position, its
 * country and its time zone, from the GeoNames cities that Debian's libgeonames carries (every
 * city of 15,000 people or more, about 24,000 of them). The only module that includes
 * libgeonames' header.
 *
 * libgeonames answers only by name (geonames_query_cities searches names); it has no query by
 * position. It does let every city be read by index, so gazetteer_open() reads them all once
 * into its own arrays and a grid of one-degree cells, and a lookup looks at the cells within
 * GAZETTEER_MAX_DISTANCE_M of the position. Memory is fixed after opening (gazetteer_bytes();
 * about 1 MB) and libgeonames is not called again.
 *
 * Nearest city is an approximation of "where": a point near a border gets the country of the
 * nearest city, which is right unless a city across the border is nearer. A point further than
 * GAZETTEER_MAX_DISTANCE_M from every city (at sea, in a desert) has no city.
 *
 * Thread rules: a struct gazetteer is immutable once opened: any number of threads may look up
 * in it at once. The strings it hands out live until gazetteer_free().
 */
#ifndef WL_GAZETTEER_H
#define WL_GAZETTEER_H

#include <stdbool.h>
#include <stddef.h>

/* Beyond this distance from every city a point has no name. Cities of 15,000 or more are
 * rarely further apart than this on land where people live (50 km from the nearest town in the
 * emptier parts of Europe and the United States), while open sea is much further: 100 km keeps
 * both. */
#define GAZETTEER_MAX_DISTANCE_M 100000.0

struct gazetteer;

/* A city, as a lookup finds it. The strings are borrowed from the gazetteer. */
struct gazetteer_city {
    const char *name;   /* "Paris" (GeoNames' name, UTF-8) */
    const char *cc;     /* ISO 3166-1 alpha-2 country code, upper case ("FR") */
    const char *tzname; /* IANA time zone ("Europe/Paris") */
    double lat, lon;    /* the city's position */
    double distance_m;  /* from the position asked for */
};

/* Reads libgeonames' cities into a new gazetteer. Returns 0, -ENOMEM, or -ENOENT when the
 * library has no cities (its data is missing). Takes some 20 to 50 ms. */
int gazetteer_open(struct gazetteer **out);
/* Frees it (NULL harmless); no lookup may still be running. */
void gazetteer_free(struct gazetteer *g);

/* The nearest city to (lat, lon) in degrees within GAZETTEER_MAX_DISTANCE_M: true and *out
 * set, or false (none that near, or a position that is not finite or out of range). */
bool gazetteer_nearest(const struct gazetteer *g, double lat, double lon,
                       struct gazetteer_city *out);

/* How many cities it holds, and the bytes it took (for the logs and the benchmark). */
size_t gazetteer_cities(const struct gazetteer *g);
size_t gazetteer_bytes(const struct gazetteer *g);

#endif
