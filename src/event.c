/* event.c - an event as JSON, and its MQTT topic (event.h). */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "event.h"

void event_json(struct sink *out, const struct store_event *ev)
{
    event_json_members(out, ev);
    sink_putc(out, '}');
}

void event_json_members(struct sink *out, const struct store_event *ev)
{
    /* Without printf: this runs for every event republished, sent to a webhook or shown. */
    const char *kind = store_event_kind_name(ev->kind);
    sink_puts(out, "{\"_type\":\"event\",\"id\":");
    sink_put_u64(out, ev->seq);
    sink_puts(out, ",\"kind\":\"");
    sink_puts(out, kind ? kind : "unknown");
    sink_puts(out, "\",\"user\":");
    sink_json_string_any(out, ev->user, strlen(ev->user));
    sink_puts(out, ",\"device\":");
    sink_json_string_any(out, ev->device, strlen(ev->device));
    sink_puts(out, ",\"tst\":");
    sink_put_i64(out, ev->tst);
    if (ev->fields[0]) {
        sink_putc(out, ',');
        sink_puts(out, ev->fields);
    }
}

int event_topic(char *buf, size_t size, const char *pattern, const char *user, const char *device)
{
    size_t len = 0;
    bool did_user = false, did_device = false;
    for (const char *p = pattern; *p;) {
        const char *put = p;
        size_t n = 1;
        if (!did_user && strncmp(p, "USER", 4) == 0) {
            put = user;
            n = strlen(user);
            p += 4;
            did_user = true;
        } else if (!did_device && strncmp(p, "DEVICE", 6) == 0) {
            put = device;
            n = strlen(device);
            p += 6;
            did_device = true;
        } else {
            p++;
        }
        if (len + n + 1 > size)
            return -ENAMETOOLONG;
        memcpy(buf + len, put, n);
        len += n;
    }
    buf[len] = 0;
    return 0;
}
