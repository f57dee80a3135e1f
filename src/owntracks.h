/*
 * owntracks.h - the only module that understands OwnTracks: a topic (or HTTP user/device)
 * and a payload in, a validated message or a reason out.
 *
 * It implements the acceptance policy summarised in ARCHITECTURE.md ("What owntracks accepts"):
 * every input ends as OWNTRACKS_ACCEPT (store it), OWNTRACKS_IGNORE (valid, nothing to keep) or
 * OWNTRACKS_REJECT (malformed or hostile), and the message says why in `reason`.
 * Ownership comes from the transport only, never from payload members.
 *
 * Thread rules: reentrant; a keyring's lookup is called synchronously, on the parsing thread,
 * so it must be safe on every thread that parses.
 */
#ifndef WL_OWNTRACKS_H
#define WL_OWNTRACKS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct json_object;

/* Limits, from the policy. Names are bytes of UTF-8; 64 is far beyond any real user or
 * device name and keeps keys and log lines small. 1 MiB is enough for a card with a large
 * face or a POI image, and bounds what one message can cost us. */
#define OWNTRACKS_NAME_MAX    64
#define OWNTRACKS_PAYLOAD_MAX (1024 * 1024)
#define OWNTRACKS_JSON_DEPTH  32
#define OWNTRACKS_REASON_MAX  160
/* Encryption: the passphrase bytes (at most 32) are the key, zero padded (protocol §8). */
#define OWNTRACKS_SECRET_MAX 32

enum owntracks_outcome { OWNTRACKS_ACCEPT, OWNTRACKS_IGNORE, OWNTRACKS_REJECT };

/* Message kinds we keep. Order is stable: it is part of the store's event keys. */
enum owntracks_kind {
    OWNTRACKS_LOCATION,
    OWNTRACKS_TRANSITION,
    OWNTRACKS_WAYPOINT,
    OWNTRACKS_WAYPOINTS,
    OWNTRACKS_CARD,
    OWNTRACKS_LWT,
    OWNTRACKS_STATUS,
    OWNTRACKS_STEPS,
    OWNTRACKS_BEACON,
    OWNTRACKS_CMD,
    OWNTRACKS_CONFIGURATION,
    OWNTRACKS_KIND_COUNT
};

/* The "_type" name of a kind ("location", ...); "unknown" for a value out of range. Static. */
const char *owntracks_kind_name(enum owntracks_kind kind);
/* The kind for a "_type" name; -1 if it is not one we keep. */
int owntracks_kind_from_name(const char *name);

/* Finds the secret for a user/device (names as stored: lowercased). Returns the secret's
 * length (1..OWNTRACKS_SECRET_MAX) with the bytes in `secret`, 0 if none, or a negative error
 * (treated like none: the message is rejected with retry set). */
typedef int (*owntracks_key_lookup_fn)(void *arg, const char *user, const char *device,
                                       unsigned char secret[OWNTRACKS_SECRET_MAX]);

struct owntracks_keyring {
    owntracks_key_lookup_fn lookup; /* NULL: no keys, every encrypted message is rejected */
    void *arg;
};

/* Transport facts the parser records in the stored message. */
enum owntracks_flags {
    OWNTRACKS_VIA_HTTP = 1, /* adds "_http":true, as OwnTracks Recorder does */
};

struct owntracks_message {
    enum owntracks_kind kind;
    char user[OWNTRACKS_NAME_MAX + 1];   /* lowercased */
    char device[OWNTRACKS_NAME_MAX + 1]; /* lowercased */
    int64_t tst;     /* the message's tst, or the receive time for types without one */
    bool tst_member; /* tst was taken from the payload's "tst" member */
    bool decrypted;
    struct json_object *root;          /* the payload (decrypted if it was); owned */
    char reason[OWNTRACKS_REASON_MAX]; /* why it was rejected or ignored; "" when accepted */
    bool retry; /* rejected for now, not for what it says (no key configured for an encrypted
                   message yet, out of memory): worth sending again later */
};

/*
 * Parses an MQTT message. `topic` need not be NUL-terminated; `now` is the receive time.
 * msg is reset first (clear an accepted one before, or its root leaks). On OWNTRACKS_ACCEPT,
 * msg->root is set and must be released with owntracks_message_clear(); otherwise root is NULL and
 * reason says why. Running out of memory is a REJECT with retry set.
 */
enum owntracks_outcome owntracks_parse_mqtt(const struct owntracks_keyring *keys, const char *topic,
                                            size_t topic_len, const void *payload, size_t len,
                                            int64_t now, struct owntracks_message *msg);

/*
 * Parses a message that arrived without a topic: HTTP mode (user and device from the
 * transport: authenticated user, X-Limit-D; flags OWNTRACKS_VIA_HTTP) or an import (user and device
 * from the source; flags 0). Same ownership rules as owntracks_parse_mqtt.
 */
enum owntracks_outcome owntracks_parse_named(const struct owntracks_keyring *keys, const char *user,
                                             const char *device, const void *payload, size_t len,
                                             int64_t now, unsigned flags,
                                             struct owntracks_message *msg);

/*
 * Validates and lowercases one user or device name (1..OWNTRACKS_NAME_MAX bytes of UTF-8, no
 * control characters, not "." or "..", no '\\', '/', '+' or '#'). `out` must hold
 * OWNTRACKS_NAME_MAX + 1 bytes. Returns 0, or -EINVAL with a reason in `why` (a static string).
 */
int owntracks_normalize_name(const char *name, size_t len, char *out, const char **why);

/* Releases msg->root. Safe to call on a message that was never accepted. */
void owntracks_message_clear(struct owntracks_message *msg);

/* True if buf[0..len) is well-formed UTF-8 (RFC 3629: no overlongs, no surrogates,
 * nothing above U+10FFFF). */
bool owntracks_utf8_valid(const void *buf, size_t len);

/*
 * OwnTracks payload encryption (libsodium crypto_secretbox, protocol §8).
 * owntracks_encrypt wraps plaintext into base64(nonce || box) with a random nonce; the result is
 * malloc'd, NUL-terminated, caller frees. The key is the first OWNTRACKS_SECRET_MAX bytes of
 * secret, zero padded. Returns 0 or -ENOMEM (*b64_out untouched).
 */
int owntracks_encrypt(const unsigned char *secret, size_t secret_len, const void *plain, size_t len,
                      char **b64_out);

#endif
