/* ha.c - Home Assistant's MQTT discovery (ha.h). */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "ha.h"
#include "log.h"
#include "pack.h"
#include "wl.h"

/* What is known of one device, under the lock. */
struct ha_device {
    uint32_t hash;    /* of user/device */
    uint32_t newest;  /* the newest fix whose state was published (a late fix must not set an
                         old state) */
    bool configured;  /* its config was published since the last connect */
    bool place_known; /* place holds what the store says (false at first, and once a place
                         event came: read again at the next fix) */
    char place[STORE_PLACE_NAME_MAX + 1]; /* the wherelog place it is in; "": none */
};

struct ha {
    struct store *store;
    struct mqtt *mqtt;
    char prefix[HA_PREFIX_MAX];
    pthread_mutex_t lock;
    struct ha_device devices[HA_CONFIGURED];
    size_t ndevices;
};

static uint32_t name_hash(const char *user, const char *device)
{
    uint32_t h = 2166136261u;
    for (const char *p = user; *p; p++)
        h = (h ^ (uint8_t)*p) * 16777619u;
    h = (h ^ '/') * 16777619u;
    for (const char *p = device; *p; p++)
        h = (h ^ (uint8_t)*p) * 16777619u;
    return h ? h : 1;
}

void ha_object_id(char *buf, const char *user, const char *device)
{
    size_t n = 0;
    const char *parts[2] = {user, device};
    memcpy(buf, "wherelog_", 9);
    n = 9;
    for (int i = 0; i < 2; i++) {
        for (const char *p = parts[i]; *p; p++) {
            char c = *p;
            bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                      c == '-';
            buf[n++] = ok ? c : '_';
        }
        buf[n++] = '_';
    }
    snprintf(buf + n, HA_OBJECT_ID_MAX - n, "%08x", name_hash(user, device));
}

static void topic_of(char *buf, size_t size, const char *user, const char *device, const char *what)
{
    snprintf(buf, size, "wherelog/ha/%s/%s/%s", user, device, what);
}

void ha_config_json(struct sink *out, const char *user, const char *device)
{
    char id[HA_OBJECT_ID_MAX], topic[3 * OWNTRACKS_NAME_MAX];
    ha_object_id(id, user, device);
    sink_printf(out, "{\"unique_id\":\"%s\",\"object_id\":\"%s\",\"name\":", id, id);
    sink_json_string_any(out, device, strlen(device));
    topic_of(topic, sizeof(topic), user, device, "state");
    sink_puts(out, ",\"state_topic\":");
    sink_json_string_any(out, topic, strlen(topic));
    topic_of(topic, sizeof(topic), user, device, "attributes");
    sink_puts(out, ",\"json_attributes_topic\":");
    sink_json_string_any(out, topic, strlen(topic));
    sink_printf(out,
                ",\"payload_home\":\"home\",\"payload_not_home\":\"not_home\","
                "\"source_type\":\"gps\",\"qos\":1,\"device\":{\"identifiers\":[\"%s\"],"
                "\"name\":",
                id);
    char name[2 * OWNTRACKS_NAME_MAX + 2];
    snprintf(name, sizeof(name), "%s/%s", user, device);
    sink_json_string_any(out, name, strlen(name));
    sink_puts(out, ",\"manufacturer\":\"wherelog\",\"model\":\"OwnTracks device\"}}");
}

void ha_state(char *buf, size_t size, const char *place, const void *data, size_t len, int64_t tst)
{
    struct pack_value v, e;
    struct pack_reader r;
    const char *key;
    size_t keylen;
    if (place && place[0]) {
        snprintf(buf, size, "%s", ha_is_home(place, strlen(place)) ? "home" : place);
        return;
    }
    snprintf(buf, size, "not_home");
    if (pack_find(data, len, tst, "location", "inregions", &v) != 1 || v.type != PACK_ARRAY)
        return;
    pack_open_value(&r, &v);
    bool first = true;
    while (pack_next(&r, &key, &keylen, &e) == 1) {
        if (e.type != PACK_STRING || e.len == 0)
            continue;
        if (ha_is_home(e.str, e.len)) {
            snprintf(buf, size, "home");
            return;
        }
        if (first && e.len < size) {
            memcpy(buf, e.str, e.len);
            buf[e.len] = 0;
            first = false;
        }
    }
}

bool ha_is_home(const char *name, size_t len)
{
    return len == 4 && strncasecmp(name, "home", 4) == 0;
}

static void attribute(struct sink *out, const void *data, size_t len, int64_t tst,
                      const char *member, const char *name, bool *any)
{
    struct pack_value v;
    if (pack_find(data, len, tst, "location", member, &v) != 1 ||
        (v.type != PACK_INT && v.type != PACK_DECIMAL))
        return;
    sink_printf(out, "%s\"%s\":", *any ? "," : "", name);
    pack_write_number(out, &v);
    *any = true;
}

void ha_attributes_json(struct sink *out, const char *place, const void *data, size_t len,
                        int64_t tst)
{
    bool any = false;
    sink_putc(out, '{');
    attribute(out, data, len, tst, "lat", "latitude", &any);
    attribute(out, data, len, tst, "lon", "longitude", &any);
    attribute(out, data, len, tst, "acc", "gps_accuracy", &any);
    attribute(out, data, len, tst, "batt", "battery_level", &any);
    attribute(out, data, len, tst, "vel", "velocity", &any);
    if (place && place[0]) {
        sink_puts(out, any ? ",\"place\":" : "\"place\":");
        sink_json_string_any(out, place, strlen(place));
        any = true;
    }
    sink_printf(out, "%s\"tst\":%lld}", any ? "," : "", (long long)tst);
}

int ha_new(struct store *store, const char *prefix, struct ha **out)
{
    struct ha *ha = calloc(1, sizeof(*ha));
    if (!ha)
        return -ENOMEM;
    ha->store = store;
    snprintf(ha->prefix, sizeof(ha->prefix), "%s", prefix);
    pthread_mutex_init(&ha->lock, NULL);
    *out = ha;
    return 0;
}

void ha_set_mqtt(struct ha *ha, struct mqtt *mqtt)
{
    ha->mqtt = mqtt;
}

void ha_free(struct ha *ha)
{
    if (!ha)
        return;
    pthread_mutex_destroy(&ha->lock);
    free(ha);
}

/* The device's entry (added if there is room), or NULL when it is not remembered. Under the
 * lock. */
static struct ha_device *device_of(struct ha *ha, uint32_t h)
{
    for (size_t i = 0; i < ha->ndevices; i++)
        if (ha->devices[i].hash == h)
            return &ha->devices[i];
    if (ha->ndevices == HA_CONFIGURED)
        return NULL; /* not remembered: configured and read from the store every time */
    struct ha_device *d = &ha->devices[ha->ndevices++];
    *d = (struct ha_device){.hash = h};
    return d;
}

static void publish_config(struct ha *ha, const char *user, const char *device)
{
    char id[HA_OBJECT_ID_MAX], topic[HA_PREFIX_MAX + HA_OBJECT_ID_MAX + 32];
    struct sink body;
    if (sink_init_mem(&body, 512))
        return;
    ha_object_id(id, user, device);
    snprintf(topic, sizeof(topic), "%s/device_tracker/%s/config", ha->prefix, id);
    ha_config_json(&body, user, device);
    if (!body.err)
        mqtt_publish(ha->mqtt, topic, body.buf, body.len, true);
    sink_free(&body);
}

void ha_connected(void *arg)
{
    struct ha *ha = arg;
    struct store_device *devs = NULL;
    size_t n = 0;
    pthread_mutex_lock(&ha->lock);
    for (size_t i = 0; i < ha->ndevices; i++)
        ha->devices[i].configured = false; /* a new broker may have lost them: publish again */
    pthread_mutex_unlock(&ha->lock);
    if (store_devices(ha->store, NULL, NULL, &devs, &n) != 0) {
        wl_log(WL_LOG_WARN, "ha", "cannot list the devices for Home Assistant's discovery");
        return;
    }
    for (size_t i = 0; i < n; i++) {
        pthread_mutex_lock(&ha->lock);
        struct ha_device *d = device_of(ha, name_hash(devs[i].user, devs[i].device));
        if (d)
            d->configured = true;
        pthread_mutex_unlock(&ha->lock);
        publish_config(ha, devs[i].user, devs[i].device);
    }
    free(devs);
}

void ha_event(void *arg, const struct store_event *ev)
{
    struct ha *ha = arg;
    if (ev->kind != STORE_EV_PLACE_ENTERED && ev->kind != STORE_EV_PLACE_LEFT)
        return;
    pthread_mutex_lock(&ha->lock);
    struct ha_device *d = device_of(ha, name_hash(ev->user, ev->device));
    if (d)
        d->place_known = false; /* the next fix reads it (this hook must not read the store) */
    pthread_mutex_unlock(&ha->lock);
}

/* The place the store says the device is in ("" none) into place. */
static void read_place(struct ha *ha, const char *user, const char *device, char *place)
{
    struct store_device d;
    uint32_t id;
    int rc = store_get_device(ha->store, user, device, &d);
    place[0] = 0;
    if (rc == 0)
        rc = store_event_place(ha->store, &d, &id, place);
    if (rc)
        wl_log(WL_LOG_WARN, "ha", "cannot read the place of %s/%s: %s", user, device,
               wl_strerror(rc));
}

void ha_committed(void *arg, const struct store_record *recs, const enum store_result *results,
                  size_t n)
{
    struct ha *ha = arg;
    struct sink body;
    char topic[3 * OWNTRACKS_NAME_MAX + 32], state[STORE_PLACE_NAME_MAX + 1];
    char place[STORE_PLACE_NAME_MAX + 1];

    if (!ha->mqtt || sink_init_mem(&body, 256))
        return;
    /* First the configs of new devices and each device's newest fix: only that one's state
     * is published. The place is the store's as of this commit, which an older fix of the
     * same commit may have been outside of. */
    for (size_t i = 0; i < n; i++) {
        const struct store_record *r = &recs[i];
        if (r->kind != OWNTRACKS_LOCATION || results[i] != STORE_STORED)
            continue;
        pthread_mutex_lock(&ha->lock);
        struct ha_device *d = device_of(ha, name_hash(r->user, r->device));
        bool configured = d && d->configured;
        if (d) {
            d->configured = true;
            if ((uint32_t)r->tst > d->newest)
                d->newest = (uint32_t)r->tst;
        }
        pthread_mutex_unlock(&ha->lock);
        if (!configured)
            publish_config(ha, r->user, r->device);
    }
    for (size_t i = 0; i < n; i++) {
        const struct store_record *r = &recs[i];
        if (r->kind != OWNTRACKS_LOCATION || results[i] != STORE_STORED)
            continue;
        uint32_t h = name_hash(r->user, r->device);
        bool newest, place_known = false;
        pthread_mutex_lock(&ha->lock);
        struct ha_device *d = device_of(ha, h);
        newest = !d || (uint32_t)r->tst == d->newest;
        if (d && (place_known = d->place_known))
            memcpy(place, d->place, sizeof(place));
        pthread_mutex_unlock(&ha->lock);
        if (!newest)
            continue; /* a late fix, or one the commit has a newer one of: elsewhere now */
        if (!place_known) {
            /* After a start or a place event: once, from the store (the events' state), so
             * that a restart does not forget a place the device entered before it. */
            read_place(ha, r->user, r->device, place);
            pthread_mutex_lock(&ha->lock);
            if ((d = device_of(ha, h))) {
                memcpy(d->place, place, sizeof(d->place));
                d->place_known = true;
            }
            pthread_mutex_unlock(&ha->lock);
        }
        /* Retained: Home Assistant started later still learns where the device is. */
        body.len = 0;
        ha_attributes_json(&body, place, r->data, r->len, r->tst);
        topic_of(topic, sizeof(topic), r->user, r->device, "attributes");
        if (!body.err)
            mqtt_publish(ha->mqtt, topic, body.buf, body.len, true);
        ha_state(state, sizeof(state), place, r->data, r->len, r->tst);
        topic_of(topic, sizeof(topic), r->user, r->device, "state");
        mqtt_publish(ha->mqtt, topic, state, strlen(state), true);
    }
    sink_free(&body);
}
