/*
 * prune.h - retention: points older than a configured age are removed in the background.
 * The store removes them in small transactions (store_delete_points), so ingest never waits
 * long behind a prune, however much there is to remove.
 *
 * Thread rules: prune_start() starts one thread of its own; prune_run() may be called from
 * any thread that holds no store iterator.
 */
#ifndef WL_PRUNE_H
#define WL_PRUNE_H

#include <stddef.h>
#include <stdint.h>

#include "owntracks.h"
#include "store.h"

#define PRUNE_RULES_MAX 16

struct prune_rule {
    char user[OWNTRACKS_NAME_MAX + 1];
    long days; /* 0: keep forever */
};

struct prune_options {
    long days; /* for users without a rule; 0: keep forever */
    struct prune_rule rules[PRUNE_RULES_MAX];
    size_t nrules;
    unsigned interval; /* seconds between passes */
};

/* Parses a per-user rule "USER=DAYS". Returns 0 or -EINVAL. */
int prune_parse_rule(const char *text, struct prune_rule *out);
/* True when the options would ever remove anything. */
bool prune_enabled(const struct prune_options *opt);

/* One pass over every device, at time `now`. *removed gets how many points went. Returns 0
 * or the first store error (store.h); the devices before it were pruned. */
int prune_run(struct store *s, const struct prune_options *opt, int64_t now, uint64_t *removed);

struct prune;
/* Starts the background thread: a pass at once, then one every opt->interval seconds (a
 * failed pass is logged and the next one tries again). Returns 0, -ENOMEM, or -EAGAIN (no
 * thread). */
int prune_start(struct store *s, const struct prune_options *opt, struct prune **out);
void prune_stop(struct prune *p);

#endif
