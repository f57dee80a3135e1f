/*
 * ha.h - Home Assistant's MQTT discovery: each device appears in Home Assistant as a device
 * tracker, with no YAML, through the MQTT client (mqtt_publish).
 *
 * For a device, retained on the broker:
 *   PREFIX/device_tracker/OBJECT_ID/config  the discovery config (JSON): unique_id, object_id,
 *       name, state_topic, json_attributes_topic, payload_home, payload_not_home,
 *       source_type "gps", device {identifiers, name, manufacturer, model}
 *   wherelog/ha/USER/DEVICE/state       "home", a place's name, or "not_home"
 *   wherelog/ha/USER/DEVICE/attributes  {"latitude","longitude","gps_accuracy","battery_level",
 *                                        ...,"place" (the wherelog place, if in one)}
 * OBJECT_ID is "wherelog_" and the user and device with every byte outside [a-zA-Z0-9_-] as
 * '_', and a hash of the exact names (so "a.b" and "a_b" stay apart).
 *
 * The state follows the device's wherelog place (the user's places that the place_entered and
 * place_left events track, store.h): a place named Home (any case; places have no other mark
 * of home) is "home", another place is its name. Out of every place, it falls back on the
 * regions the phone reports itself in (a location's "inregions", which the OwnTracks app keeps
 * from its own regions): a region named Home (any case) is "home", another region is its name,
 * none is "not_home".
 *
 * Configs are published for every stored device when the client connects, and for a new
 * device at its first location; state and attributes at each device's newest location of a
 * commit, if it is newer than those published before. The place is
 * read from the store (the events' state, so a restart keeps it) at a device's first location
 * after a start and at the first after each of its place events.
 *
 * Thread rules: ha_connected runs on the MQTT thread; ha_committed and ha_event on committing
 * threads; they may run at once (what is known of the devices is under a lock).
 */
#ifndef WL_HA_H
#define WL_HA_H

#include <stdbool.h>
#include <stddef.h>

#include "mqtt.h"
#include "sink.h"
#include "store.h"

#define HA_PREFIX_MAX 128
/* Devices remembered (configured, their place): about 600 KB; beyond, configs are re-sent and
 * places read from the store at every location. */
#define HA_CONFIGURED 4096

struct ha;

/* prefix: the discovery prefix ("homeassistant"); copied. Returns 0 or -ENOMEM. */
int ha_new(struct store *store, const char *prefix, struct ha **out);
/* The client to publish through; set before it connects. */
void ha_set_mqtt(struct ha *ha, struct mqtt *mqtt);
void ha_free(struct ha *ha);

/* mqtt_options.connected: publishes every device's config. arg is the struct ha. */
void ha_connected(void *arg);
/* A writer's committed hook: config (if new), state and attributes of stored locations. */
void ha_committed(void *arg, const struct store_record *recs, const enum store_result *results,
                  size_t n);
/* For the store's event hook (called before the writer's hook of the same commit): a place
 * event makes the device's next location read its place again. Reads nothing itself. */
void ha_event(void *arg, const struct store_event *ev);

/* The pieces, for tests and for the hook: the object id (buf of at least HA_OBJECT_ID_MAX), the
 * config JSON, the state and the attributes of a packed location of a device in wherelog
 * place `place` (NULL or "": none), and whether a place or region name means home. */
#define HA_OBJECT_ID_MAX (9 + 2 * OWNTRACKS_NAME_MAX + 1 + 8 + 1)
void ha_object_id(char *buf, const char *user, const char *device);
void ha_config_json(struct sink *out, const char *user, const char *device);
void ha_state(char *buf, size_t size, const char *place, const void *data, size_t len, int64_t tst);
void ha_attributes_json(struct sink *out, const char *place, const void *data, size_t len,
                        int64_t tst);
bool ha_is_home(const char *name, size_t len);

#endif
