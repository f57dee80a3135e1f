/*
 * hist.h - a cumulative histogram over fixed upper bounds (plus +Inf), the type modules keep
 * their sizes and timings in for GET /metrics.
 *
 * A leaf: it knows neither the text format (prom.h) nor who collects the numbers (metrics.h).
 * Not thread-safe: the owner serialises hist_observe() and the copies it hands out.
 */
#ifndef WL_HIST_H
#define WL_HIST_H

#include <stdint.h>

/* The most bounds a histogram keeps; more are ignored. Enough for the decades and halves of
 * the ranges measured here (sizes 1..10^4, times 1 ms..10 s). */
#define HIST_BOUNDS_MAX 16

struct hist {
    const double *bounds; /* ascending, nbounds of them, borrowed for the histogram's life */
    unsigned nbounds;
    uint64_t counts[HIST_BOUNDS_MAX + 1]; /* per bucket, not cumulative; the last is +Inf */
    uint64_t count;
    double sum;
};

/* Empties h over these bounds (the first HIST_BOUNDS_MAX of them). Cannot fail. */
void hist_init(struct hist *h, const double *bounds, unsigned nbounds);
/* Counts v in the first bucket whose bound is >= v (+Inf past the last). Cannot fail. */
void hist_observe(struct hist *h, double v);

#endif
