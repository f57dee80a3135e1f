#include "query.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "pack.h"
#include "wl.h"
#include "wtime.h"

/* ---------------------------------------------------------------- last positions */

struct device_list {
    struct store_device *v;
    size_t n, cap;
    const char *only; /* device filter */
};

static int collect_device(void *arg, const struct store_device *d)
{
    struct device_list *l = arg;
    if (l->only && strcmp(l->only, d->device) != 0)
        return 0;
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 16;
        struct store_device *v = realloc(l->v, cap * sizeof(*v));
        if (!v)
            return -ENOMEM;
        l->v = v;
        l->cap = cap;
    }
    l->v[l->n++] = *d;
    return 0;
}

/* The device's card, copied out (the card's read transaction is closed on return). */
struct card {
    uint8_t *data;
    size_t len;
    int64_t tst;
};

static int read_card(struct store *s, uint32_t id, struct card *c)
{
    struct store_iter *it;
    struct store_item item;
    int rc = store_iter_events(s, id, OT_CARD, 0, WTIME_MAX, 0, &it);

    c->data = NULL;
    c->len = 0;
    if (rc)
        return rc;
    rc = store_iter_next(it, &item);
    if (rc == 1) {
        c->data = malloc(item.len);
        if (c->data) {
            memcpy(c->data, item.data, item.len);
            c->len = item.len;
            c->tst = item.tst;
            rc = 0;
        } else {
            rc = -ENOMEM;
        }
    }
    store_iter_close(it);
    return rc;
}

/* Members of the location that the transport owns: never echoed from the payload. */
static bool transport_member(const char *key, size_t len)
{
    return (len == 5 && memcmp(key, "topic", 5) == 0) ||
           (len == 8 && memcmp(key, "username", 8) == 0) ||
           (len == 6 && memcmp(key, "device", 6) == 0);
}

struct last_ctx {
    const struct store_device *dev;
    const struct store_item *loc;
    const struct card *card;
    bool has_tid;
};

/* Writes member `name` of the assembled object; returns 1 written, 0 absent, <0 error. */
static int write_named(struct sink *out, const struct last_ctx *c, const char *name, bool comma)
{
    struct pk_value v;
    char buf[21];
    const char *str = NULL;

    if (strcmp(name, "topic") == 0)
        str = c->dev->topic[0] ? c->dev->topic : NULL;
    else if (strcmp(name, "username") == 0)
        str = c->dev->user;
    else if (strcmp(name, "device") == 0)
        str = c->dev->device;
    else if (strcmp(name, "isotst") == 0)
        wtime_iso(c->loc->tst, buf), str = buf;
    else if (strcmp(name, "disptst") == 0)
        wtime_disp(c->loc->tst, buf), str = buf;
    if (str) {
        if (comma)
            sink_putc(out, ',');
        sink_json_string(out, name, strlen(name));
        sink_putc(out, ':');
        sink_json_string(out, str, strlen(str));
        return 1;
    }
    int rc = pk_find(c->loc->data, c->loc->len, c->loc->tst, "location", name, &v);
    if (rc == 0 && c->card->data &&
        (strcmp(name, "name") == 0 || strcmp(name, "face") == 0 || strcmp(name, "tid") == 0))
        rc = pk_find(c->card->data, c->card->len, c->card->tst, "card", name, &v);
    if (rc <= 0)
        return rc;
    if (comma)
        sink_putc(out, ',');
    sink_json_string(out, name, strlen(name));
    sink_putc(out, ':');
    pk_write_value_json(out, &v, c->loc->tst);
    return 1;
}

static int write_last_object(struct sink *out, const struct last_ctx *c,
                             const struct q_last_filter *f)
{
    static const char *const computed[] = {"topic", "username", "device", "isotst", "disptst"};
    struct pk_reader r;
    struct pk_value v;
    const char *key;
    size_t keylen;
    int rc, n = 0;

    sink_putc(out, '{');
    if (f->nfields) {
        for (size_t i = 0; i < f->nfields; i++) {
            rc = write_named(out, c, f->fields[i], n > 0);
            if (rc < 0)
                return rc;
            n += rc;
        }
        sink_putc(out, '}');
        return 0;
    }
    bool has_tid = false;
    rc = pk_open(&r, c->loc->data, c->loc->len, c->loc->tst, "location");
    while (rc == 0 && (rc = pk_next(&r, &key, &keylen, &v)) == 1) {
        rc = 0;
        if (transport_member(key, keylen) || r.key_index == PK_KEY_ISOTST ||
            r.key_index == PK_KEY_DISPTST)
            continue;
        has_tid |= r.key_index == PK_KEY_TID;
        if (n++)
            sink_putc(out, ',');
        sink_json_string(out, key, keylen);
        sink_putc(out, ':');
        pk_write_value_json(out, &v, c->loc->tst);
    }
    if (rc < 0)
        return rc;
    for (size_t i = 0; i < WL_ARRAY_LEN(computed); i++)
        n += write_named(out, c, computed[i], n > 0);
    /* The card names the device on maps; its tid only if the location has none. */
    if (c->card->data) {
        const char *card_fields[] = {"name", "face", "tid"};
        for (size_t i = 0; i < 3; i++) {
            if (i == 2 && has_tid)
                break;
            rc = pk_find(c->card->data, c->card->len, c->card->tst, "card", card_fields[i], &v);
            if (rc < 0)
                return rc;
            if (rc == 1 && v.type == PK_STRING) {
                sink_putc(out, ',');
                sink_json_string(out, card_fields[i], strlen(card_fields[i]));
                sink_putc(out, ':');
                sink_json_string(out, v.str, v.len);
            }
        }
    }
    sink_putc(out, '}');
    return 0;
}

int q_last_json(struct store *s, const struct q_last_filter *f, struct sink *out)
{
    struct device_list list = {.only = f->device};
    int rc = store_list_devices(s, f->user, collect_device, &list);
    size_t written = 0;

    sink_putc(out, '[');
    for (size_t i = 0; i < list.n && rc == 0; i++) {
        struct store_device *d = &list.v[i];
        struct card card;
        struct store_iter *it;
        struct store_item loc;

        if (d->points == 0)
            continue;
        if ((rc = read_card(s, d->id, &card)))
            break;
        rc = store_iter_points(s, d->id, 0, WTIME_MAX, STORE_ITER_REVERSE, &it);
        if (rc == 0) {
            rc = store_iter_next(it, &loc);
            if (rc == 1) {
                struct last_ctx c = {.dev = d, .loc = &loc, .card = &card};
                sink_puts(out, written++ ? ",\n" : "\n");
                rc = write_last_object(out, &c, f);
            }
            store_iter_close(it);
        }
        free(card.data);
    }
    sink_puts(out, written ? "\n]\n" : "]\n");
    free(list.v);
    return rc < 0 ? rc : 0;
}

/* ---------------------------------------------------------------- tracks */

struct q_track {
    struct store_iter *it;
    struct fmt_writer fmt;
    struct sink *out;
    uint64_t skipped;
    bool done;
    char where[2 * OT_NAME_MAX + 2];
};

/* With a limit, the newest `limit` points: walk back that far to find the first one. */
static int limit_start(struct store *s, uint32_t id, int64_t from, int64_t to, uint64_t limit,
                       int64_t *start)
{
    struct store_iter *it;
    struct store_item item;
    uint64_t n = 0;
    int rc = store_iter_points(s, id, from, to, STORE_ITER_REVERSE, &it);

    if (rc)
        return rc;
    while (n < limit && (rc = store_iter_next(it, &item)) == 1) {
        *start = item.tst;
        n++;
    }
    store_iter_close(it);
    return rc < 0 ? rc : 0;
}

int q_track_open(struct store *s, const char *user, const char *device, int64_t from, int64_t to,
                 uint64_t limit, enum fmt_kind kind, const struct fmt_options *opt,
                 struct sink *out, struct q_track **qt)
{
    struct store_device d;
    int rc = store_get_device(s, user, device, &d);
    struct q_track *t;

    if (rc)
        return rc;
    if (limit > 0 && (rc = limit_start(s, d.id, from, to, limit, &from)))
        return rc;
    t = calloc(1, sizeof(*t));
    if (!t)
        return -ENOMEM;
    if ((rc = store_iter_points(s, d.id, from, to, 0, &t->it))) {
        free(t);
        return rc;
    }
    snprintf(t->where, sizeof(t->where), "%s/%s", user, device);
    t->out = out;
    struct fmt_options o = opt ? *opt : (struct fmt_options){0};
    o.user = o.user ? o.user : user;
    o.device = o.device ? o.device : device;
    fmt_begin(&t->fmt, kind, out, &o);
    *qt = t;
    return 0;
}

int q_track_fill(struct q_track *t, size_t want)
{
    struct store_item item;
    int rc;

    if (t->done)
        return 0;
    while (t->out->len < want) {
        rc = store_iter_next(t->it, &item);
        if (rc < 0)
            return rc;
        if (rc == 0) {
            fmt_end(&t->fmt);
            t->done = true;
            return 0;
        }
        if (fmt_point(&t->fmt, item.tst, item.data, item.len) != 0) {
            if (t->skipped++ == 0)
                wl_log(WL_LOG_ERROR, "query", "%s: point at tst %lld does not decode; skipped",
                       t->where, (long long)item.tst);
        }
        if (t->out->err)
            return t->out->err;
    }
    store_iter_pause(t->it);
    return 1;
}

uint64_t q_track_count(const struct q_track *t)
{
    return t->fmt.count;
}

uint64_t q_track_skipped(const struct q_track *t)
{
    return t->skipped;
}

void q_track_close(struct q_track *t)
{
    if (!t)
        return;
    store_iter_close(t->it);
    free(t);
}
