#include "metrics.h"

#include <stdio.h>
#include <string.h>

#include "ingest.h"
#include "live.h"
#include "placename.h"
#include "mqtt.h"
#include "prom.h"
#include "store.h"
#include "webhook.h"
#include "writer.h"

/* One label, formatted into buf. */
static const char *label1(char *buf, size_t size, const char *key, const char *value)
{
    buf[0] = '\0';
    return prom_label(buf, size, key, value);
}

/* ---------------------------------------------------------------- sections */

static void reason_line(void *arg, const char *reason, uint64_t count)
{
    struct sink *s = arg;
    char lb[160];
    prom_sample(s, "wherelog_messages_rejected_total", label1(lb, sizeof(lb), "reason", reason),
                (double)count);
}

static void ingest_section(struct ingest *in, struct sink *s)
{
    const struct ingest_counters *c = ingest_counters(in);
    char lb[128];

    prom_metric(s, "wherelog_messages_received_total", "counter",
                "Messages received over MQTT and HTTP, before validation.",
                (double)atomic_load(&c->received));
    prom_header(s, "wherelog_messages_stored_total", "counter",
                "Messages stored, by OwnTracks _type.");
    for (int k = 0; k < OWNTRACKS_KIND_COUNT; k++)
        prom_sample(s, "wherelog_messages_stored_total",
                    label1(lb, sizeof(lb), "type", owntracks_kind_name(k)),
                    (double)atomic_load(&c->stored_by_kind[k]));
    prom_metric(s, "wherelog_messages_duplicate_total", "counter",
                "Messages already stored (redeliveries, retained replays, re-imports).",
                (double)atomic_load(&c->duplicate));
    prom_metric(s, "wherelog_messages_ignored_total", "counter",
                "Messages that hold nothing to store (commands, unknown subtopics).",
                (double)atomic_load(&c->ignored));
    prom_header(s, "wherelog_messages_rejected_total", "counter",
                "Messages refused, by reason (numbers in a reason shown as N; past the first "
                "reasons, the rest counted as \"other\").");
    ingest_each_reason(in, s, reason_line);
}

static void writer_section(struct writer *w, struct sink *s)
{
    struct writer_stats st;
    writer_get_stats(w, &st);
    prom_metric(s, "wherelog_commits_total", "counter", "Store transactions committed.",
                (double)st.commits);
    prom_metric(s, "wherelog_commit_failures_total", "counter",
                "Store transactions that failed (disk full, I/O error); nothing of them was "
                "acknowledged.",
                (double)st.failures);
    prom_header(s, "wherelog_commit_batch_records", "histogram",
                "Records per group commit (one fsync each).");
    prom_hist(s, "wherelog_commit_batch_records", NULL, &st.batch_records);
    prom_header(s, "wherelog_commit_seconds", "histogram",
                "Time to write and sync one group commit.");
    prom_hist(s, "wherelog_commit_seconds", NULL, &st.commit_seconds);
}

static void mqtt_section(struct mqtt *m, struct sink *s)
{
    prom_metric(s, "wherelog_mqtt_connected", "gauge",
                "1 while connected and subscribed to the broker.",
                mqtt_get_state(m) == MQTT_CONNECTED);
    prom_metric(s, "wherelog_mqtt_reconnects_total", "counter",
                "Connections to the broker after the first.", (double)mqtt_reconnects(m));
    prom_metric(s, "wherelog_mqtt_publish_dropped_total", "counter",
                "Events and Home Assistant messages not published (queue full, refused).",
                (double)mqtt_publish_dropped(m));
    size_t waiting;
    unsigned inflight;
    mqtt_publish_pending(m, &waiting, &inflight);
    prom_metric(s, "wherelog_mqtt_publish_pending", "gauge",
                "Events and Home Assistant messages to publish that the broker has not "
                "acknowledged yet (queued, or sent and unacknowledged).",
                (double)(waiting + inflight));
}

static void webhook_section(struct webhook *w, struct sink *s)
{
    struct webhook_stats st;
    webhook_get_stats(w, &st);
    prom_metric(s, "wherelog_webhook_delivered_total", "counter",
                "Events delivered to a webhook (answered 2xx).", (double)st.delivered);
    prom_metric(s, "wherelog_webhook_failures_total", "counter",
                "Attempts to deliver an event that failed (retried with back-off).",
                (double)st.failed);
    prom_metric(s, "wherelog_webhook_dropped_total", "counter",
                "Undelivered events dropped by webhook-max-age or webhook-max-count.",
                (double)st.dropped);
    prom_metric(s, "wherelog_webhook_outbox", "gauge",
                "Events waiting in the outbox (at the last trim).", (double)st.pending);
}

static void places_section(struct placename *p, struct sink *s)
{
    struct placename_stats st;
    placename_get_stats(p, &st);
    prom_metric(s, "wherelog_geocoder_requests_total", "counter",
                "Requests sent to reverse geocoders.", (double)st.requests);
    prom_metric(s, "wherelog_geocoder_failures_total", "counter",
                "Geocoder requests that failed (timeout, refused, 429, 5xx, no answer).",
                (double)st.failures);
    prom_metric(s, "wherelog_geocoder_answers_total", "counter",
                "Geocoder answers stored in the cache.", (double)st.answers);
    prom_metric(s, "wherelog_geocoder_cache_hits_total", "counter",
                "Places queued for a geocoder that the cache knew already.", (double)st.cache_hits);
    prom_metric(s, "wherelog_geocoder_queue_drops_total", "counter",
                "Places not queued for a geocoder because the queue was full.",
                (double)st.queue_drops);
    prom_metric(s, "wherelog_geocoder_queued", "gauge", "Places waiting for a geocoder.",
                (double)st.queued);
}

struct device_ctx {
    struct sink *s;
    unsigned n;
};

static int device_line(void *arg, const struct store_device *d)
{
    struct device_ctx *c = arg;
    if (c->n++ >= METRICS_DEVICES_MAX)
        return 0;
    char lb[4 * OWNTRACKS_NAME_MAX + 64] = "";
    prom_label(lb, sizeof(lb), "user", d->user);
    prom_label(lb, sizeof(lb), "device", d->device);
    prom_sample(c->s, "wherelog_device_points", lb, d->points);
    return 0;
}

static void store_section(struct store *st, struct sink *s)
{
    struct store_stats ss;
    if (store_stats(st, &ss) == 0) {
        prom_metric(s, "wherelog_store_file_bytes", "gauge", "Size of the store on disk.",
                    (double)ss.file_bytes);
        prom_metric(s, "wherelog_store_map_bytes", "gauge",
                    "Current LMDB map size (it grows while the disk and address space allow).",
                    (double)ss.map_bytes);
        prom_metric(s, "wherelog_store_used_bytes", "gauge",
                    "Pages in use in the map; alert when used/map stays high and the disk "
                    "cannot hold a larger map.",
                    (double)ss.used_bytes);
        prom_metric(s, "wherelog_store_map_resizes_total", "counter",
                    "Map growths by this process.", ss.map_resizes);
        prom_metric(s, "wherelog_store_map_max_bytes", "gauge",
                    "The largest map this process can have in its address space (ulimit -v, "
                    "a 32-bit system), as last measured.",
                    (double)ss.map_max_bytes);
        prom_metric(s, "wherelog_store_map_full", "gauge",
                    "1 while new data is refused (not acknowledged) because the map is at "
                    "wherelog_store_map_max_bytes and the store needs more.",
                    ss.map_full);
        prom_metric(s, "wherelog_store_points", "gauge", "Location points in the store.",
                    (double)ss.points);
        prom_metric(s, "wherelog_store_devices", "gauge", "Devices in the store.", ss.devices);
    }
    struct device_ctx c = {.s = s};
    char help[128];
    snprintf(help, sizeof(help), "Location points per device (the first %d devices by name).",
             METRICS_DEVICES_MAX);
    prom_header(s, "wherelog_device_points", "gauge", help);
    store_list_devices(st, NULL, device_line, &c);
}

void metrics_render(const struct metrics_sources *src, struct sink *out)
{
    if (src->ingest)
        ingest_section(src->ingest, out);
    if (src->writer)
        writer_section(src->writer, out);
    if (src->mqtt)
        mqtt_section(src->mqtt, out);
    if (src->webhook)
        webhook_section(src->webhook, out);
    if (src->live) {
        prom_header(out, "wherelog_live_clients", "gauge",
                    "Open live streams (Server-Sent Events and WebSocket).");
        prom_sample(out, "wherelog_live_clients", NULL, live_clients(src->live));
    }
    if (src->places)
        places_section(src->places, out);
    if (src->store)
        store_section(src->store, out);
}
