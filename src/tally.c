#include "tally.h"

#include <stdio.h>
#include <string.h>

void tally_init(struct tally *t, struct tally_entry *entries, size_t max)
{
    *t = (struct tally){.entries = entries, .max = max};
}

void tally_add(struct tally *t, const char *reason)
{
    char text[sizeof(t->entries[0].text)];
    snprintf(text, sizeof(text), "%s", reason);
    for (size_t i = 0; i < t->n; i++) {
        if (strcmp(t->entries[i].text, text) == 0) {
            t->entries[i].count++;
            return;
        }
    }
    if (t->n == t->max) {
        t->other++;
        return;
    }
    memcpy(t->entries[t->n].text, text, sizeof(text));
    t->entries[t->n++].count = 1;
}

void tally_group(const char *reason, char *out, size_t size)
{
    size_t o = 0;
    if (size == 0)
        return;
    for (const char *p = reason; *p && o + 2 < size; p++) {
        if ((*p >= '0' && *p <= '9') || ((*p == '-' || *p == '.') && p[1] >= '0' && p[1] <= '9')) {
            while ((*p >= '0' && *p <= '9') || *p == '.' || *p == '-' || *p == 'e' || *p == '+')
                p++;
            out[o++] = 'N';
            p--;
        } else {
            out[o++] = *p;
        }
    }
    out[o] = '\0';
}
