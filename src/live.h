/*
 * live.h - newly stored locations pushed to every connected client, as Server-Sent Events
 * (GET /api/0/stream) and over WebSocket (GET /ws/last, as OwnTracks Recorder does).
 *
 * The writer's committed hook (live_committed) turns each stored location into one JSON event
 * (the /api/0/last object shape, without big blobs), and each stored card into one too (SSE
 * "event: card", WebSocket {"_type":"card",...}: a new name or face shows without a reload),
 * and appends it to a ring of the last LIVE_RING events. Each client reads the ring at its own
 * pace; one that falls a whole ring behind skips to the present and is told so ("reset": reload
 * /api/0/last), so a slow client costs a cursor, never memory. When nobody listens, no event is
 * built at all.
 *
 * SSE clients are driven by the HTTP server's threads (live_sse_read). WebSocket clients are
 * opened when their upgrade is answered (live_ws_open), handed over after it (live_ws_adopt) and
 * served by this module's own thread with wslay doing the framing.
 *
 * The store's timeline hook (live_timeline) does the same for each stay, trip or gap that opens
 * or closes: SSE "event: timeline", WebSocket {"_type":"timeline",...} (tlread_event_json).
 *
 * Access control: a client opened for a viewer only gets the events of users that
 * `visible` (given to live_new) lets the viewer see; one opened without a viewer gets all.
 *
 * Thread rules: every function may be called from any thread.
 */
#ifndef WL_LIVE_H
#define WL_LIVE_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "query.h"
#include "store.h"
#include "writer.h"
#include "zone.h"

/* Enough to ride out a burst of a few seconds for a client on a slow link; each event is a
 * few hundred bytes. */
#define LIVE_RING 1024
/* Idle streams get a comment this often, so proxies keep them and dead peers are noticed. */
#define LIVE_KEEPALIVE_S 20
/* A WebSocket client with this much unsent is too slow and is closed. */
#define LIVE_WS_MAX_QUEUED (1u << 20)

struct live;
struct live_sse;
struct live_ws;

/* Creates the hub and starts its WebSocket thread. The store must outlive it. visible may be
 * NULL (every client sees everything). Returns 0, -ENOMEM, or the -errno of making its
 * eventfd, epoll instance or thread. */
int live_new(struct store *store, query_visible_fn visible, void *visible_arg, struct live **out);
/* Closes every client (SSE streams end, WebSockets are closed) and stops the thread. Call
 * before stopping the HTTP server. */
void live_shutdown(struct live *lv);
void live_free(struct live *lv);

/* writer_committed_fn: builds events for the stored locations (arg is the struct live). */
void live_committed(void *arg, const struct store_record *recs, const enum store_result *results,
                    size_t n);

/* store_timeline_hook: an event for a segment that opened or closed (arg is the struct live).
 * Its local times are in the user's zone (by name; where that cannot be opened, the zone set
 * with live_set_timeline_zone, UTC if none), as /api/0/timeline gives them. */
void live_timeline(void *arg, const char *user, const char *device, const char *zone,
                   enum tl_event ev, const struct tl_segment *seg);
/* Sets that zone (a reference is taken; NULL: UTC). Call before writers start. */
void live_set_timeline_zone(struct live *lv, struct zone *z);
/* A derived event (store.h, "events") to every client that may see its user: SSE
 * "event: event", WebSocket {"_type":"event",...} (event.h). For store_set_event_hook. */
void live_event(struct live *lv, const struct store_event *ev);

/* Tells every client that stored data changed beyond new points (a deletion): SSE clients
 * get an event "reset", WebSocket clients {"_type":"reset"}; both reload /api/0/last. */
void live_reset(struct live *lv);
/* The same, as an api_options.changed callback (arg is the struct live). */
void live_changed(void *arg);

/* Clients connected now (SSE and WebSocket; a WebSocket from live_ws_open on). */
unsigned live_clients(struct live *lv);

/*
 * Opens an SSE stream for viewer (NULL: no access control). `suspend` is called (under the hub's
 * lock) when the client has nothing to read and must sleep; `resume` is called later (outside it)
 * to wake it; both get `arg`. last_event_id (the Last-Event-ID header, or NULL) continues a stream
 * without a gap when the events are still in the ring. Returns NULL when out of memory.
 */
struct live_sse *live_sse_open(struct live *lv, const char *viewer, const char *last_event_id,
                               void (*suspend)(void *arg), void (*resume)(void *arg), void *arg);
/*
 * A share link's stream (share.h): for the live position of one device, without its data.
 * It sends an event "update" (data {}) when a location of user/device is stored (and on a
 * reset), so that the page reads the share's API again, and a keepalive comment when idle.
 * Before sending anything it asks still_valid(arg) (outside the hub's lock; it may read the
 * store): once that says no (the share was revoked or has expired), the stream sends an event
 * "gone" and ends. The check runs at each new event of any device, at each keepalive, and
 * within the live thread's tick (5 s) after `expires`, so a revoked share's stream ends with
 * the next stored point or keepalive, and an expired one's at its expiry.
 */
struct live_share {
    char user[OWNTRACKS_NAME_MAX + 1];
    char device[OWNTRACKS_NAME_MAX + 1];
    int64_t expires; /* epoch seconds */
    bool (*still_valid)(void *arg);
    void *arg;
};
struct live_sse *live_sse_open_share(struct live *lv, const struct live_share *share,
                                     void (*suspend)(void *arg), void (*resume)(void *arg),
                                     void *arg);

/*
 * Copies the next bytes of the stream into buf. Returns how many; 0 after calling suspend
 * (nothing to send yet); -1 when the stream is over (shutdown, or a share that is gone).
 */
ssize_t live_sse_read(struct live_sse *c, char *buf, size_t max);
void live_sse_close(struct live_sse *c);

/*
 * A WebSocket client of viewer (NULL: no access control), opened while its upgrade is answered,
 * before the 101 goes out: it is counted, and every event stored from now on is kept for it,
 * so a client that publishes a location once it has read the 101 gets that location, however
 * late the HTTP server hands the connection over. Then exactly one of live_ws_adopt (the
 * upgrade happened) or live_ws_cancel (it did not) ends it. Returns NULL when out of memory.
 */
struct live_ws *live_ws_open(struct live *lv, const char *viewer);

/*
 * Takes over the upgraded connection of w: fd (made non-blocking here), the bytes the HTTP server
 * already read past the request, and `done(done_arg)` to call once the connection is finished
 * with (the HTTP server closes it). Returns 0, or -ENOMEM (then the caller closes it). w belongs
 * to this module either way.
 */
int live_ws_adopt(struct live_ws *w, int fd, const char *extra, size_t extra_len,
                  void (*done)(void *arg), void *done_arg);

/* Forgets w, whose upgrade did not happen (the request failed or the connection closed). */
void live_ws_cancel(struct live_ws *w);

#endif
