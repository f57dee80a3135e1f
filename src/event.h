/*
 * event.h - a derived event (store.h, "events") as the JSON object every outlet shows: the
 * API and the command line (one per line), the live streams, webhooks and MQTT.
 *
 *   {"_type":"event","id":SEQ,"kind":"stay_started","user":"U","device":"D","tst":T, FIELDS}
 *
 * FIELDS are the kind's own members (store.h). Reentrant; nothing is allocated but the sink's.
 */
#ifndef WL_EVENT_H
#define WL_EVENT_H

#include "sink.h"
#include "store.h"

/* Writes the object (no line end) into out; errors stay in out->err. */
void event_json(struct sink *out, const struct store_event *ev);
/* The same object without its closing brace, for an outlet that adds members of its own (the
 * timeline adds the local time, tlread.h); the caller writes the '}'. */
void event_json_members(struct sink *out, const struct store_event *ev);

/* The MQTT topic of an event: `pattern` with USER and DEVICE replaced by the names (each
 * at most once, as topic levels). Returns 0, or -ENAMETOOLONG if it does not fit in size. */
int event_topic(char *buf, size_t size, const char *pattern, const char *user, const char *device);

#endif
