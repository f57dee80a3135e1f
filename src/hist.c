#include "hist.h"

#include <string.h>

void hist_init(struct hist *h, const double *bounds, unsigned nbounds)
{
    memset(h, 0, sizeof(*h));
    h->bounds = bounds;
    h->nbounds = nbounds < HIST_BOUNDS_MAX ? nbounds : HIST_BOUNDS_MAX;
}

void hist_observe(struct hist *h, double v)
{
    unsigned i = 0;
    while (i < h->nbounds && v > h->bounds[i])
        i++;
    h->counts[i]++;
    h->count++;
    h->sum += v;
}
