/*
 * prom.h - the Prometheus text exposition format (version 0.0.4), piece by piece, into a sink.
 *
 * A leaf: it formats what it is given and knows no module's numbers (metrics.h collects them).
 * Write errors are the sink's (sticky in sink.err), so these functions return nothing. A
 * sink belongs to one thread at a time; so do these calls on it.
 */
#ifndef WL_PROM_H
#define WL_PROM_H

#include <stddef.h>

#include "hist.h"
#include "sink.h"

/* The # HELP and # TYPE lines of a metric. */
void prom_header(struct sink *s, const char *name, const char *type, const char *help);
/* One sample line. `labels` is NULL or preformatted `key="value",...` (prom_label). */
void prom_sample(struct sink *s, const char *name, const char *labels, double value);
/* A metric with one unlabelled sample: header and value. */
void prom_metric(struct sink *s, const char *name, const char *type, const char *help,
                 double value);
/* The _bucket (cumulative), _sum and _count lines of a histogram, with these labels. */
void prom_hist(struct sink *s, const char *name, const char *labels, const struct hist *h);
/* Appends `key="value"` to the labels in buf (NUL-terminated, size bytes), the value
 * escaped (\\, \", \n), after a comma unless buf is empty. Returns buf. A label that does
 * not fit is left out. */
char *prom_label(char *buf, size_t size, const char *key, const char *value);

#endif
