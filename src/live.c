#include "live.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <wslay/wslay.h>

#include "event.h"
#include "log.h"
#include "query.h"
#include "tlread.h"
#include "wl.h"

/* Sleeping clients are woken in batches of this many (the wake list lives on the stack). */
#define WL_LIVE_WAKE_BATCH 64

enum event_kind { EVENT_LOCATION, EVENT_CARD, EVENT_TIMELINE, EVENT_EVENT };
static const char *const event_names[] = {"location", "card", "timeline", "event"};

struct event {
    char *json;
    size_t len;
    enum event_kind kind;              /* the SSE event's name */
    char user[OWNTRACKS_NAME_MAX + 1]; /* whose location, card, timeline or event it is */
    char device[OWNTRACKS_NAME_MAX + 1];
};

/* Who a client is, for access control. */
struct viewer {
    bool restricted; /* false: sees everything */
    char name[OWNTRACKS_NAME_MAX + 1];
};

struct live_sse {
    struct live *lv;
    struct viewer viewer;
    uint64_t next; /* sequence number of the next event to send */
    char *pending; /* an SSE frame only partly sent */
    size_t pending_len, pending_off;
    bool started;     /* the retry hint went out */
    uint64_t resets;  /* resets this client was told about */
    bool waiting;     /* suspended: resume() when there is something to send */
    time_t last_sent; /* mono_s() */
    /* A share link's stream (live_sse_open_share): its device, its check, and whether it
     * failed (the "gone" frame is then the last). */
    bool share;
    struct live_share share_of;
    bool share_gone;
    bool share_valid_now; /* the check's answer at the start of this read */
    void (*suspend)(void *);
    void (*resume)(void *);
    void *arg;
    struct live_sse *prev, *next_client;
};

struct live_ws {
    struct live *lv;
    struct viewer viewer;
    int fd;
    wslay_event_context_ptr ctx;
    uint64_t next;
    uint64_t resets;
    char *extra; /* bytes the HTTP server read past the upgrade request */
    size_t extra_len, extra_off;
    time_t last_ping; /* mono_s() */
    void (*done)(void *);
    void *done_arg;
    struct live_ws *next_client;
};

struct live {
    struct store *store;
    query_visible_fn visible;
    void *visible_arg;
    pthread_mutex_t lock; /* guards everything below but `ws`, which only the thread uses */
    struct event ring[LIVE_RING];
    uint64_t seq;       /* the next event's number; events live in ring[seq % LIVE_RING] */
    uint64_t first_seq; /* the first event's number in this run */
    uint64_t resets;    /* live_reset() calls so far */
    struct live_sse *sse;
    struct live_ws *adopt; /* handed over, not yet taken by the thread */
    bool stopping;
    atomic_uint clients;
    int efd, epfd;
    pthread_t thread;
    bool running;
    struct live_ws *ws; /* the thread's own */
    struct zone *zone;  /* timeline events' local times; set before writers start */
};

static void set_viewer(struct viewer *v, const char *name)
{
    v->restricted = name != NULL;
    snprintf(v->name, sizeof(v->name), "%s", name ? name : "");
}

static bool may_see(const struct live *lv, const struct viewer *v, const struct event *e)
{
    return !v->restricted || !lv->visible || lv->visible(lv->visible_arg, v->name, e->user);
}

unsigned live_clients(struct live *lv)
{
    return atomic_load(&lv->clients);
}

static void wake_thread(struct live *lv)
{
    uint64_t one = 1;
    if (write(lv->efd, &one, sizeof(one)) < 0 && errno != EAGAIN)
        wl_log(WL_LOG_ERROR, "live", "cannot wake the live thread: %s", strerror(errno));
}

/* Seconds on a clock that a change of the wall clock does not move: keepalives and pings keep
 * their pace when the time is set (a clock set back an hour would otherwise silence them for
 * an hour, and clients would give up). */
static time_t mono_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec;
}

/*
 * Wakes the sleeping SSE clients that have sent nothing for `idle` seconds (0: all of them).
 * They are marked under the lock and resumed outside it: a client stays suspended, and so
 * alive, until it is resumed.
 */
static void wake_sse(struct live *lv, time_t idle)
{
    void *wake[WL_LIVE_WAKE_BATCH];
    void (*resume)(void *) = NULL;
    time_t now = time(NULL), mono = mono_s(); /* expiry is wall time; idleness is not */

    for (bool more = true; more;) {
        size_t k = 0;
        more = false;
        pthread_mutex_lock(&lv->lock);
        for (struct live_sse *c = lv->sse; c; c = c->next_client) {
            bool expired = c->share && now >= c->share_of.expires;
            if (!c->waiting || (mono - c->last_sent < idle && !expired))
                continue;
            if (k == WL_LIVE_WAKE_BATCH) {
                more = true;
                break;
            }
            c->waiting = false;
            resume = c->resume;
            wake[k++] = c->arg;
        }
        pthread_mutex_unlock(&lv->lock);
        for (size_t i = 0; i < k; i++)
            resume(wake[i]);
    }
}

/* ---------------------------------------------------------------- events */

/* Adds an event made in buf to the ring; false when out of memory (the event is lost). */
static bool append(struct live *lv, enum event_kind kind, const char *user, const char *device,
                   const struct sink *buf)
{
    char *json = malloc(buf->len);
    if (!json)
        return false;
    memcpy(json, buf->buf, buf->len);
    pthread_mutex_lock(&lv->lock);
    struct event *e = &lv->ring[lv->seq % LIVE_RING];
    free(e->json);
    e->json = json;
    e->len = buf->len;
    e->kind = kind;
    snprintf(e->user, sizeof(e->user), "%s", user);
    snprintf(e->device, sizeof(e->device), "%s", device);
    lv->seq++;
    pthread_mutex_unlock(&lv->lock);
    return true;
}

void live_set_timeline_zone(struct live *lv, struct zone *z)
{
    zone_unref(lv->zone);
    lv->zone = z ? zone_ref(z) : NULL;
}

void live_timeline(void *arg, const char *user, const char *device, const char *zone,
                   enum tl_event ev, const struct tl_segment *seg)
{
    struct live *lv = arg;
    struct zone *own = NULL;
    struct sink buf;

    if (atomic_load(&lv->clients) == 0)
        return; /* nobody listens: build nothing */
    if (sink_init_mem(&buf, 512))
        return;
    /* opened per event: segments open and close a few times an hour per device */
    if (zone && zone[0] && zone_open(zone, &own) != 0)
        own = NULL;
    tlread_event_json(&buf, user, device, ev, seg, own ? own : lv->zone);
    zone_unref(own);
    bool added = !buf.err && append(lv, EVENT_TIMELINE, user, device, &buf);
    sink_free(&buf);
    if (!added)
        return;
    wake_sse(lv, 0);
    wake_thread(lv);
}

void live_event(struct live *lv, const struct store_event *ev)
{
    struct sink buf;

    if (atomic_load(&lv->clients) == 0)
        return; /* nobody listens: build nothing */
    if (sink_init_mem(&buf, 512))
        return;
    event_json(&buf, ev);
    bool added = !buf.err && append(lv, EVENT_EVENT, ev->user, ev->device, &buf);
    sink_free(&buf);
    if (!added)
        return;
    wake_sse(lv, 0);
    wake_thread(lv);
}

void live_committed(void *arg, const struct store_record *recs, const enum store_result *results,
                    size_t n)
{
    struct live *lv = arg;
    struct sink buf;
    size_t added = 0;

    if (atomic_load(&lv->clients) == 0)
        return; /* nobody listens: build nothing */
    if (sink_init_mem(&buf, 512))
        return;
    for (size_t i = 0; i < n; i++) {
        const struct store_record *r = &recs[i];
        if ((r->kind != OWNTRACKS_LOCATION && r->kind != OWNTRACKS_CARD) ||
            results[i] != STORE_STORED)
            continue;
        buf.len = 0;
        int rc =
            r->kind == OWNTRACKS_CARD
                ? query_card_event_json(r->user, r->device, r->tst, r->data, r->len, &buf)
                : query_event_json(r->user, r->device, r->topic, r->tst, r->data, r->len, &buf);
        if (rc || buf.err)
            continue;
        added += append(lv, r->kind == OWNTRACKS_CARD ? EVENT_CARD : EVENT_LOCATION, r->user,
                        r->device, &buf);
    }
    sink_free(&buf);
    if (!added)
        return;

    wake_sse(lv, 0);
    wake_thread(lv);
}

void live_reset(struct live *lv)
{
    pthread_mutex_lock(&lv->lock);
    lv->resets++;
    pthread_mutex_unlock(&lv->lock);
    wake_sse(lv, 0);
    wake_thread(lv);
}

void live_changed(void *arg)
{
    live_reset(arg);
}

/* ---------------------------------------------------------------- SSE */

struct live_sse *live_sse_open(struct live *lv, const char *viewer, const char *last_event_id,
                               void (*suspend)(void *arg), void (*resume)(void *arg), void *arg)
{
    struct live_sse *c = calloc(1, sizeof(*c));
    if (!c)
        return NULL;
    c->lv = lv;
    set_viewer(&c->viewer, viewer);
    c->suspend = suspend;
    c->resume = resume;
    c->arg = arg;
    c->last_sent = mono_s();
    pthread_mutex_lock(&lv->lock);
    c->next = lv->seq;
    c->resets = lv->resets;
    if (last_event_id) { /* a reconnecting browser: continue after what it has */
        char *end;
        unsigned long long id = strtoull(last_event_id, &end, 10);
        if (*end == '\0' && id >= lv->first_seq && id < lv->seq)
            c->next = id + 1;
        else
            c->resets--; /* not an event of this run: tell it to reload */
    }
    c->next_client = lv->sse;
    if (lv->sse)
        lv->sse->prev = c;
    lv->sse = c;
    pthread_mutex_unlock(&lv->lock);
    atomic_fetch_add(&lv->clients, 1);
    return c;
}

struct live_sse *live_sse_open_share(struct live *lv, const struct live_share *share,
                                     void (*suspend)(void *arg), void (*resume)(void *arg),
                                     void *arg)
{
    struct live_sse *c = live_sse_open(lv, share->user, NULL, suspend, resume, arg);
    if (!c)
        return NULL;
    pthread_mutex_lock(&lv->lock);
    c->share = true;
    c->share_of = *share;
    pthread_mutex_unlock(&lv->lock);
    return c;
}

void live_sse_close(struct live_sse *c)
{
    struct live *lv = c->lv;
    pthread_mutex_lock(&lv->lock);
    if (c->prev)
        c->prev->next_client = c->next_client;
    else
        lv->sse = c->next_client;
    if (c->next_client)
        c->next_client->prev = c->prev;
    pthread_mutex_unlock(&lv->lock);
    atomic_fetch_sub(&lv->clients, 1);
    free(c->pending);
    free(c);
}

/* Advances *next past the events the viewer may not see; returns it. Lock held. */
static uint64_t skip_hidden(const struct live *lv, const struct viewer *v, uint64_t *next)
{
    while (*next < lv->seq && !may_see(lv, v, &lv->ring[*next % LIVE_RING]))
        (*next)++;
    return *next;
}

/* Is e news for a share stream: a location of its device? */
static bool share_news(const struct live_sse *c, const struct event *e)
{
    return e->kind == EVENT_LOCATION && strcmp(e->user, c->share_of.user) == 0 &&
           strcmp(e->device, c->share_of.device) == 0;
}

/* A share stream's next frame (next_frame's part for them): "update" for each new location of
 * its device, which says only that there is one (the page reads the share's API, which applies
 * its window and private places); "gone" once the share no longer holds. Lock held. */
static bool next_share_frame(struct live_sse *c, bool valid, const char **frame)
{
    struct live *lv = c->lv;
    if (!c->started) {
        *frame = "retry: 3000\n\n";
        c->started = true;
        return true;
    }
    if (!valid) {
        *frame = "event: gone\ndata: {}\n\n";
        c->share_gone = true;
        return true;
    }
    bool news = false;
    if (lv->seq - c->next > LIVE_RING)
        c->next = lv->seq - LIVE_RING; /* behind: one update says it all */
    for (; c->next < lv->seq; c->next++)
        news |= share_news(c, &lv->ring[c->next % LIVE_RING]);
    if (news || c->resets != lv->resets) {
        c->resets = lv->resets;
        *frame = "event: update\ndata: {}\n\n";
        return true;
    }
    if (mono_s() - c->last_sent >= LIVE_KEEPALIVE_S) {
        *frame = ": keepalive\n\n";
        return true;
    }
    return false;
}

/* Makes the next frame pending. Called with the lock held; false if there is none. */
static bool next_frame(struct live_sse *c)
{
    struct live *lv = c->lv;
    char head[64];
    int hl;

    if (c->share) {
        const char *frame;
        if (c->share_gone || !next_share_frame(c, c->share_valid_now, &frame))
            return false;
        hl = snprintf(head, sizeof(head), "%s", frame);
    } else if (!c->started) {
        hl = snprintf(head, sizeof(head), "retry: 3000\n\n");
        c->started = true;
    } else if (c->resets != lv->resets) {
        hl = snprintf(head, sizeof(head), "event: reset\ndata: {}\n\n");
        c->resets = lv->resets;
    } else if (lv->seq - c->next > LIVE_RING) {
        hl = snprintf(head, sizeof(head), "event: reset\ndata: {}\n\n");
        c->next = lv->seq; /* too far behind: skip to now, the client reloads */
    } else if (skip_hidden(lv, &c->viewer, &c->next) < lv->seq) {
        const struct event *e = &lv->ring[c->next % LIVE_RING];
        hl = snprintf(head, sizeof(head), "id: %" PRIu64 "\nevent: %s\ndata: ", c->next,
                      event_names[e->kind]);
        c->pending = malloc((size_t)hl + e->len + 2);
        if (!c->pending)
            return false;
        memcpy(c->pending, head, (size_t)hl);
        memcpy(c->pending + hl, e->json, e->len);
        memcpy(c->pending + hl + e->len, "\n\n", 2);
        c->pending_len = (size_t)hl + e->len + 2;
        c->pending_off = 0;
        c->next++;
        return true;
    } else if (mono_s() - c->last_sent >= LIVE_KEEPALIVE_S) {
        hl = snprintf(head, sizeof(head), ": keepalive\n\n");
    } else {
        return false;
    }
    c->pending = malloc((size_t)hl);
    if (!c->pending)
        return false;
    memcpy(c->pending, head, (size_t)hl);
    c->pending_len = (size_t)hl;
    c->pending_off = 0;
    return true;
}

ssize_t live_sse_read(struct live_sse *c, char *buf, size_t max)
{
    struct live *lv = c->lv;
    size_t n = 0;
    /* A share's check reads the store: before taking the hub's lock, on every read (each is a
     * wake-up: a new event, a keepalive, or the share's expiry). */
    bool valid = !c->share || c->share_gone || c->share_of.still_valid(c->share_of.arg);

    pthread_mutex_lock(&lv->lock);
    c->share_valid_now = valid;
    if (lv->stopping || (c->share_gone && !c->pending)) {
        pthread_mutex_unlock(&lv->lock);
        return -1;
    }
    while (n < max && (c->pending || next_frame(c))) {
        size_t take = c->pending_len - c->pending_off;
        if (take > max - n)
            take = max - n;
        memcpy(buf + n, c->pending + c->pending_off, take);
        n += take;
        c->pending_off += take;
        if (c->pending_off == c->pending_len) {
            free(c->pending);
            c->pending = NULL;
        }
    }
    if (n) {
        c->last_sent = mono_s();
    } else {
        c->waiting = true;
        c->suspend(c->arg); /* under the lock, so a resume can only come after it */
    }
    pthread_mutex_unlock(&lv->lock);
    return (ssize_t)n;
}

/* ---------------------------------------------------------------- WebSocket */

static ssize_t ws_recv(wslay_event_context_ptr ctx, uint8_t *buf, size_t len, int flags, void *user)
{
    struct live_ws *w = user;
    (void)flags;
    if (w->extra_off < w->extra_len) { /* first what the HTTP server read ahead */
        size_t n = w->extra_len - w->extra_off < len ? w->extra_len - w->extra_off : len;
        memcpy(buf, w->extra + w->extra_off, n);
        w->extra_off += n;
        return (ssize_t)n;
    }
    ssize_t r = recv(w->fd, buf, len, 0);
    if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
        wslay_event_set_error(ctx, WSLAY_ERR_WOULDBLOCK);
        return -1;
    }
    if (r <= 0) {
        wslay_event_set_error(ctx, WSLAY_ERR_CALLBACK_FAILURE);
        return -1;
    }
    return r;
}

static ssize_t ws_send(wslay_event_context_ptr ctx, const uint8_t *data, size_t len, int flags,
                       void *user)
{
    struct live_ws *w = user;
    (void)flags;
    ssize_t r = send(w->fd, data, len, MSG_NOSIGNAL);
    if (r < 0) {
        wslay_event_set_error(ctx, errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR
                                       ? WSLAY_ERR_WOULDBLOCK
                                       : WSLAY_ERR_CALLBACK_FAILURE);
        return -1;
    }
    return r;
}

static int queue_text(void *arg, const char *json, size_t len)
{
    struct live_ws *w = arg;
    struct wslay_event_msg m = {WSLAY_TEXT_FRAME, (const uint8_t *)json, len};
    return wslay_event_queue_msg(w->ctx, &m) == 0 ? 0 : -ENOMEM;
}

static void ws_on_msg(wslay_event_context_ptr ctx, const struct wslay_event_on_msg_recv_arg *a,
                      void *user)
{
    struct live_ws *w = user;
    (void)ctx;
    /* The OwnTracks frontend asks for the last positions with the text "LAST". */
    if (a->opcode == WSLAY_TEXT_FRAME && a->msg_length == 4 && memcmp(a->msg, "LAST", 4) == 0) {
        struct query_last_filter f = {.visible = w->viewer.restricted ? w->lv->visible : NULL,
                                      .visible_arg = w->lv->visible_arg,
                                      .viewer = w->viewer.name};
        int rc = query_last_each(w->lv->store, &f, queue_text, w);
        if (rc)
            wl_log(WL_LOG_WARN, "live", "cannot send last positions: %s", wl_strerror(rc));
    }
}

/* Frees a client and stops counting it (its connection, if any, is already done with). */
static void ws_free(struct live_ws *w)
{
    struct live *lv = w->lv;
    wslay_event_context_free(w->ctx);
    free(w->extra);
    free(w);
    atomic_fetch_sub(&lv->clients, 1);
}

static void ws_close(struct live *lv, struct live_ws *w)
{
    epoll_ctl(lv->epfd, EPOLL_CTL_DEL, w->fd, NULL);
    w->done(w->done_arg); /* the HTTP server closes the socket */
    ws_free(w);
}

struct live_ws *live_ws_open(struct live *lv, const char *viewer)
{
    static const struct wslay_event_callbacks callbacks = {
        .recv_callback = ws_recv, .send_callback = ws_send, .on_msg_recv_callback = ws_on_msg};
    struct live_ws *w = calloc(1, sizeof(*w));

    if (!w)
        return NULL;
    w->lv = lv;
    set_viewer(&w->viewer, viewer);
    w->fd = -1;
    if (wslay_event_context_server_init(&w->ctx, &callbacks, w) != 0) {
        free(w);
        return NULL;
    }
    /* Clients only send commands ("LAST"): no reason to accept large messages. */
    wslay_event_config_set_max_recv_msg_length(w->ctx, 4096);
    /* Counted first: live_committed builds no event while nobody is counted. */
    atomic_fetch_add(&lv->clients, 1);
    pthread_mutex_lock(&lv->lock);
    w->next = lv->seq;
    w->resets = lv->resets;
    pthread_mutex_unlock(&lv->lock);
    return w;
}

void live_ws_cancel(struct live_ws *w)
{
    ws_free(w);
}

int live_ws_adopt(struct live_ws *w, int fd, const char *extra, size_t extra_len,
                  void (*done)(void *arg), void *done_arg)
{
    struct live *lv = w->lv;

    if (extra_len) {
        w->extra = malloc(extra_len);
        if (!w->extra) {
            ws_free(w);
            return -ENOMEM;
        }
        memcpy(w->extra, extra, extra_len);
        w->extra_len = extra_len;
    }
    w->fd = fd;
    w->done = done;
    w->done_arg = done_arg;
    w->last_ping = mono_s();
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    pthread_mutex_lock(&lv->lock);
    w->next_client = lv->adopt;
    lv->adopt = w;
    pthread_mutex_unlock(&lv->lock);
    wake_thread(lv);
    return 0;
}

/* Queues the events this client has not had yet. */
static void ws_catch_up(struct live *lv, struct live_ws *w)
{
    pthread_mutex_lock(&lv->lock);
    if (w->resets < lv->resets) {
        static const char reset[] = "{\"_type\":\"reset\"}";
        queue_text(w, reset, sizeof(reset) - 1);
        w->resets = lv->resets;
    }
    if (lv->seq - w->next > LIVE_RING)
        w->next = lv->seq - LIVE_RING; /* fell behind: the oldest still kept */
    for (; w->next < lv->seq; w->next++) {
        const struct event *e = &lv->ring[w->next % LIVE_RING];
        if (may_see(lv, &w->viewer, e))
            queue_text(w, e->json, e->len);
    }
    pthread_mutex_unlock(&lv->lock);
}

/* Reads, writes and re-arms one client; false when it is finished. */
static bool ws_service(struct live *lv, struct live_ws *w, uint32_t ev)
{
    if ((ev & (EPOLLIN | EPOLLHUP | EPOLLERR)) || w->extra_off < w->extra_len)
        if (wslay_event_recv(w->ctx) != 0)
            return false;
    ws_catch_up(lv, w);
    time_t now = mono_s();
    if (now - w->last_ping >= LIVE_KEEPALIVE_S) {
        struct wslay_event_msg ping = {WSLAY_PING, NULL, 0};
        wslay_event_queue_msg(w->ctx, &ping);
        w->last_ping = now;
    }
    if (wslay_event_want_write(w->ctx) && wslay_event_send(w->ctx) != 0)
        return false;
    if (!wslay_event_want_read(w->ctx) && !wslay_event_want_write(w->ctx))
        return false;
    if (wslay_event_get_queued_msg_length(w->ctx) > LIVE_WS_MAX_QUEUED) {
        wl_log(WL_LOG_INFO, "live", "closing a WebSocket client that does not keep up");
        return false;
    }
    struct epoll_event e = {.events = EPOLLIN | (wslay_event_want_write(w->ctx) ? EPOLLOUT : 0),
                            .data.ptr = w};
    epoll_ctl(lv->epfd, EPOLL_CTL_MOD, w->fd, &e);
    return true;
}

static void *ws_thread(void *arg)
{
    struct live *lv = arg;
    struct epoll_event events[64];
    time_t last_tick = mono_s();

    for (;;) {
        int n = epoll_wait(lv->epfd, events, 64, 5000);
        bool woken = false;
        for (int i = 0; i < n; i++) {
            if (events[i].data.ptr == NULL) {
                uint64_t v;
                if (read(lv->efd, &v, sizeof(v)) < 0 && errno != EAGAIN)
                    wl_log(WL_LOG_ERROR, "live", "eventfd: %s", strerror(errno));
                woken = true;
                continue;
            }
            struct live_ws *w = events[i].data.ptr;
            if (!ws_service(lv, w, events[i].events)) {
                for (struct live_ws **p = &lv->ws; *p; p = &(*p)->next_client)
                    if (*p == w) {
                        *p = w->next_client;
                        break;
                    }
                ws_close(lv, w);
            }
        }
        pthread_mutex_lock(&lv->lock);
        bool stopping = lv->stopping;
        struct live_ws *adopted = lv->adopt;
        lv->adopt = NULL;
        pthread_mutex_unlock(&lv->lock);
        while (adopted) {
            struct live_ws *w = adopted;
            adopted = w->next_client;
            struct epoll_event e = {.events = EPOLLIN, .data.ptr = w};
            if (epoll_ctl(lv->epfd, EPOLL_CTL_ADD, w->fd, &e) != 0) {
                w->done(w->done_arg);
                ws_free(w);
                continue;
            }
            w->next_client = lv->ws;
            lv->ws = w;
            woken = true;
        }
        if (stopping)
            break;
        time_t now = mono_s();
        bool tick = now - last_tick >= 5;
        if (woken || tick) { /* new events, new clients, or time for keepalives */
            for (struct live_ws **p = &lv->ws; *p;) {
                struct live_ws *w = *p;
                if (ws_service(lv, w, 0)) {
                    p = &w->next_client;
                } else {
                    *p = w->next_client;
                    ws_close(lv, w);
                }
            }
        }
        if (tick) {
            wake_sse(lv, LIVE_KEEPALIVE_S); /* idle streams send a keepalive comment */
            last_tick = now;
        }
    }
    while (lv->ws) {
        struct live_ws *w = lv->ws;
        lv->ws = w->next_client;
        wslay_event_queue_close(w->ctx, WSLAY_CODE_GOING_AWAY, NULL, 0);
        wslay_event_send(w->ctx);
        ws_close(lv, w);
    }
    return NULL;
}

/* ---------------------------------------------------------------- life */

int live_new(struct store *store, query_visible_fn visible, void *visible_arg, struct live **out)
{
    struct live *lv = calloc(1, sizeof(*lv));
    if (!lv)
        return -ENOMEM;
    lv->store = store;
    lv->visible = visible;
    lv->visible_arg = visible_arg;
    /* Event ids go on growing across restarts (the start time in milliseconds times 256,
     * then one per event), so that a browser reconnecting with an id from an earlier run is
     * recognised and reloads instead of resuming at a random place. Ingest stays far below
     * 256 events a millisecond; the ids stay below 2^53, exact in JavaScript. */
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    lv->first_seq = lv->seq = ((uint64_t)now.tv_sec * 1000 + (uint64_t)now.tv_nsec / 1000000) << 8;
    pthread_mutex_init(&lv->lock, NULL);
    lv->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    lv->epfd = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event e = {.events = EPOLLIN, .data.ptr = NULL};
    if (lv->efd < 0 || lv->epfd < 0 || epoll_ctl(lv->epfd, EPOLL_CTL_ADD, lv->efd, &e) != 0 ||
        pthread_create(&lv->thread, NULL, ws_thread, lv) != 0) {
        int rc = -errno;
        live_free(lv);
        return rc ? rc : -ENOMEM;
    }
    lv->running = true;
    *out = lv;
    return 0;
}

void live_shutdown(struct live *lv)
{
    if (!lv)
        return;
    pthread_mutex_lock(&lv->lock);
    lv->stopping = true;
    pthread_mutex_unlock(&lv->lock);
    wake_sse(lv, 0); /* suspended streams must be resumed to end */
    if (lv->running) {
        wake_thread(lv);
        pthread_join(lv->thread, NULL);
        lv->running = false;
    }
}

void live_free(struct live *lv)
{
    if (!lv)
        return;
    live_shutdown(lv);
    for (size_t i = 0; i < LIVE_RING; i++)
        free(lv->ring[i].json);
    zone_unref(lv->zone);
    if (lv->efd >= 0)
        close(lv->efd);
    if (lv->epfd >= 0)
        close(lv->epfd);
    pthread_mutex_destroy(&lv->lock);
    free(lv);
}
