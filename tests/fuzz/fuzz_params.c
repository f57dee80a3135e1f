/*
 * Fuzz target: the parsers of short texts from outside: times (wtime_parse: API `from`/`to`,
 * CLI --from/--to), user and device names (ot_normalize_name), retention rules, and the
 * OwnTracks Recorder .rec line splitter. Input: any bytes.
 *
 * Oracles: a parsed time in the storable range formats back (ISO) to text that parses to the
 * same instant; a
 * normalised name normalises to itself.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "import.h"
#include "owntracks.h"
#include "prune.h"
#include "wtime.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char text[256], iso[64], name[OT_NAME_MAX + 1], again[OT_NAME_MAX + 1];
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
    if (ot_normalize_name(text, size, name, &why) == 0 &&
        (ot_normalize_name(name, strlen(name), again, &why) != 0 || strcmp(name, again) != 0))
        abort();
    struct prune_rule rule;
    (void)prune_parse_rule(text, &rule);

    struct imp_rec_line rl;
    if (imp_parse_rec_line((const char *)data, size, &rl) == 0) {
        const char *end = (const char *)data + size;
        if (rl.payload < (const char *)data || rl.payload + rl.payload_len > end ||
            rl.reltopic + rl.reltopic_len > end)
            abort();
    }
    return 0;
}
