/*
 * mqtt.h - the MQTT door: subscribes to the OwnTracks topics and feeds every message to
 * ingest. The only module that includes mosquitto.h.
 *
 * Acknowledge after commit. libmosquitto 2.0 queues the PUBACK (QoS 1) or PUBREC (QoS 2)
 * *before* it calls on_message, and writes it to the socket at once unless the client is
 * marked threaded and the application drives the socket itself (packet__queue in the
 * library's packet_mosq.c). So this module marks the client threaded, polls the socket
 * itself, and for each burst: mosquitto_loop_read() (messages are parsed and batched),
 * ingest_commit() (one group commit, fsync'ed), and only then mosquitto_loop_write(),
 * which sends the acks. If the commit fails the connection is dropped with the acks still
 * unsent, so the broker keeps the messages and redelivers them after the reconnect.
 *
 * QoS 1 (the default) has no loss window. With QoS 2 the library holds a message between
 * PUBREC and PUBREL before delivering it; a crash in that round trip loses it, because the
 * broker considers it received once PUBREC arrived. The session is persistent (clean
 * session off) under a stable client id, so messages published while wherelog is down are
 * delivered when it returns; retained messages are stored like any other and deduplicated.
 * MQTT 3.1.1 is used: libmosquitto 2.0.11's MQTT 5 client never restores its receive
 * quota for QoS 1 and would disconnect after 20 messages.
 *
 * Thread rules: mqtt_run() owns the client on the thread that calls it; mqtt_get_state() and
 * mqtt_reconnects() read atomics and may be called from any thread (GET /metrics);
 * mqtt_free() only after mqtt_run() has returned. mqtt_library_init() and _cleanup() once per
 * process, while no other thread uses libmosquitto.
 */
#ifndef WL_MQTT_H
#define WL_MQTT_H

#include <stdbool.h>

#include "ingest.h"

#define MQTT_MAX_TOPICS 16

struct mqtt_options {
    const char *host;
    int port;
    const char *user;     /* NULL: anonymous */
    const char *password; /* with user */
    const char *cafile;   /* set: TLS */
    const char *certfile; /* client certificate, with keyfile */
    const char *keyfile;
    const char *client_id;
    const char *const *topics;
    int ntopics;
    int qos; /* 1 or 2 */
    int keepalive;
    /* Called on the client's thread each time a connection is accepted, before anything
     * else (it may call mqtt_publish: Home Assistant's discovery). May be NULL. */
    void (*connected)(void *arg);
    void *connected_arg;
};

enum mqtt_state { MQTT_DISCONNECTED, MQTT_CONNECTING, MQTT_CONNECTED };

struct mqtt;

/* Prepares a client (does not connect). The option strings and ingest must outlive the
 * client; the topics array itself is copied. Returns 0, -EINVAL (ntopics outside
 * 1..MQTT_MAX_TOPICS, not logged; a client id, user or TLS setting libmosquitto refuses,
 * logged) or -ENOMEM. Call mqtt_library_init() once per process first. mqtt_free(NULL) is
 * harmless. */
int mqtt_new(const struct mqtt_options *opt, struct ingest *ingest, struct mqtt **out);
void mqtt_free(struct mqtt *m);

/*
 * Runs the client until stop_fd becomes readable: connects (and reconnects with back-off
 * from 1 s to 60 s), subscribes, ingests. A failed commit (store error, disk full) drops the
 * connection unacknowledged and retries with back-off. On stop it disconnects and flushes the
 * acks of committed batches for at most 2 s; an ack that did not go out only means a
 * redelivery, which the store keeps once. Returns 0, also when poll(2) fails (logged; the
 * run ends as on stop).
 */
int mqtt_run(struct mqtt *m, int stop_fd);

enum mqtt_state mqtt_get_state(struct mqtt *m);
unsigned long mqtt_reconnects(struct mqtt *m);

/* Publishes on the broker through this client, QoS 1, from any thread: the message is queued
 * and sent by mqtt_run's thread while connected (kept while not, up to MQTT_OUT_MAX; beyond,
 * the oldest is dropped and counted). At most MQTT_INFLIGHT_MAX of them are handed to
 * libmosquitto at a time, which keeps each until the broker acknowledges it, across reconnects
 * of this process (not across a restart: republished events are best effort; webhooks are the
 * durable way); the rest wait in the queue. So a flood of events, a slow or a stalled broker
 * hold at most MQTT_OUT_MAX + MQTT_INFLIGHT_MAX messages in memory. Returns 0 or -ENOMEM. */
#define MQTT_OUT_MAX 4096 /* a few minutes of every device's events while the broker is away */
/* Unacknowledged publishes in flight: enough to keep a link with a round trip of tens of
 * milliseconds busy at thousands of events a second; libmosquitto's own queue, unbounded and
 * walked on every acknowledgement, then holds nothing that is not on the wire. */
#define MQTT_INFLIGHT_MAX 64
int mqtt_publish(struct mqtt *m, const char *topic, const void *payload, size_t len, bool retain);
/* Messages mqtt_publish dropped (queue full, or libmosquitto refused them). Any thread. */
unsigned long mqtt_publish_dropped(struct mqtt *m);
/* Messages accepted by mqtt_publish and not yet acknowledged by the broker nor dropped:
 * *waiting in the queue (at most MQTT_OUT_MAX) and *inflight handed to libmosquitto (at most
 * MQTT_INFLIGHT_MAX). Any thread; a snapshot. */
void mqtt_publish_pending(struct mqtt *m, size_t *waiting, unsigned *inflight);

void mqtt_library_init(void);
void mqtt_library_cleanup(void);

#endif
