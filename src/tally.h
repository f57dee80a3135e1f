/*
 * tally.h - counting refusals by reason, the one rule for every door that reports them (the
 * ingest's /metrics, an import's summary): the first `max` distinct reasons are counted each
 * on its own, any reason past them in one "other" count, so a flood of distinct reasons
 * cannot grow memory or a report without bound.
 *
 * The text is counted as given: a caller that needs fewer distinct reasons (metric labels)
 * groups them first (tally_group). Not thread-safe: the owner serialises calls.
 */
#ifndef WL_TALLY_H
#define WL_TALLY_H

#include <stddef.h>
#include <stdint.h>

#include "owntracks.h"

struct tally_entry {
    char text[OWNTRACKS_REASON_MAX]; /* a reason longer than this is counted by its first bytes */
    uint64_t count;
};

struct tally {
    struct tally_entry *entries; /* `max` of them, owned by the caller */
    size_t max, n;
    uint64_t other; /* reasons that came when all `max` entries were taken */
};

/* Empties t over the caller's array of max entries. Cannot fail. */
void tally_init(struct tally *t, struct tally_entry *entries, size_t max);
/* Counts one refusal for this reason. Cannot fail. */
void tally_add(struct tally *t, const char *reason);
/* Writes reason without its varying numbers into out (size bytes, NUL-terminated, cut to
 * fit): "lat 91 out of range" -> "lat N out of range". */
void tally_group(const char *reason, char *out, size_t size);

#endif
