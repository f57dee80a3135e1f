/* query_events.c - the derived events of a user's devices, read in pieces (query.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "event.h"
#include "query.h"
#include "wl.h"

struct query_events {
    struct store *s;
    struct store_device *devs;
    size_t ndevs, at; /* the device being read */
    int64_t from, to;
    unsigned kinds;
    bool lines, begun, any;
    /* Where the next piece resumes: after (tst, seq) of the device at `at`. */
    int64_t last_tst;
    uint32_t last_seq;
    bool have_last;
};

int query_events_open(struct store *s, const char *user, const char *device, int64_t from,
                      int64_t to, unsigned kinds, bool lines, struct query_events **out)
{
    struct query_events *q = calloc(1, sizeof(*q));
    if (!q)
        return -ENOMEM;
    int rc = store_devices(s, user, device, &q->devs, &q->ndevs);
    if (rc) {
        free(q);
        return rc;
    }
    q->s = s;
    q->from = from;
    q->to = to;
    q->kinds = kinds;
    q->lines = lines;
    *out = q;
    return 0;
}

struct piece {
    struct query_events *q;
    struct sink *out;
    size_t want;
};

static int write_event(void *arg, const struct store_event *ev)
{
    struct piece *p = arg;
    struct query_events *q = p->q;
    if (q->have_last &&
        (ev->tst < q->last_tst || (ev->tst == q->last_tst && ev->seq <= q->last_seq)))
        return 0; /* written in an earlier piece */
    if (p->out->len >= p->want)
        return 1; /* enough for this piece: resume here */
    if (!q->lines && q->any)
        sink_putc(p->out, ',');
    event_json(p->out, ev);
    if (q->lines)
        sink_putc(p->out, '\n');
    q->any = true;
    q->last_tst = ev->tst;
    q->last_seq = ev->seq;
    q->have_last = true;
    return p->out->err;
}

int query_events_fill(struct query_events *q, struct sink *out, size_t want)
{
    struct piece p = {.q = q, .out = out, .want = want};
    if (!q->begun) {
        if (!q->lines)
            sink_putc(out, '[');
        q->begun = true;
    }
    while (q->at < q->ndevs) {
        int64_t from = q->have_last ? q->last_tst : q->from;
        int rc = store_events_read(q->s, &q->devs[q->at], from, q->to, q->kinds, write_event, &p);
        if (rc == 1)
            return 1;
        if (rc)
            return rc;
        q->at++;
        q->have_last = false;
    }
    if (!q->lines)
        sink_puts(out, "]\n");
    return out->err ? out->err : 0;
}

void query_events_close(struct query_events *q)
{
    if (!q)
        return;
    free(q->devs);
    free(q);
}
