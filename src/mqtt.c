#include "mqtt.h"

#include <errno.h>
#include <mosquitto.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "wl.h"

/* A burst is what one poll wake-up reads before committing: big enough that one fsync
 * carries many messages when a backlog drains, small enough to bound memory and latency. */
#define MQTT_BATCH_MAX     4096
#define MQTT_BATCH_BYTES   (4u << 20)
#define MQTT_BACKOFF_MAX   60
#define MQTT_STOP_FLUSH_MS 2000

struct mqtt {
    struct mosquitto *mosq;
    struct mqtt_options opt;
    const char *topics[MQTT_MAX_TOPICS]; /* the filters (the strings are the caller's) */
    struct ingest *ingest;
    struct ingest_batch batch;
    atomic_int state;
    atomic_ulong reconnects;
    bool started;        /* first connect issued: later ones are reconnects */
    bool dropping;       /* a commit failed: the connection goes, its acks must never be sent */
    bool store_failing;  /* the last commit failed (disk full...): reconnect with back-off */
    int backoff;         /* seconds before the next attempt after a failure */
    time_t next_attempt; /* CLOCK_MONOTONIC seconds: a wall clock stepped back would delay it */
    /* Messages to publish (mqtt_publish): any thread appends under out_lock, and writes out_fd
     * if the queue was empty; the client's thread takes the oldest, as many as may be in
     * flight, and hands them to libmosquitto while connected. It looks again at the top of
     * every turn of its loop, so what it leaves is taken when acknowledgements come in. */
    pthread_mutex_t out_lock;
    struct outgoing *out_head, *out_tail;
    size_t out_n;
    int out_fd;
    atomic_ulong out_dropped;
    /* Handed to libmosquitto and not yet acknowledged (at most MQTT_INFLIGHT_MAX): changed on
     * the client's thread only (publish_waiting, on_publish), read by any. */
    atomic_uint inflight;
};

struct outgoing {
    struct outgoing *next;
    bool retain;
    size_t len;
    char *payload; /* after the topic, in the same allocation */
    char topic[];
};

void mqtt_library_init(void)
{
    mosquitto_lib_init();
}

void mqtt_library_cleanup(void)
{
    mosquitto_lib_cleanup();
}

enum mqtt_state mqtt_get_state(struct mqtt *m)
{
    return (enum mqtt_state)atomic_load(&m->state);
}

unsigned long mqtt_reconnects(struct mqtt *m)
{
    return atomic_load(&m->reconnects);
}

static const char *mosq_error(int rc)
{
    return rc == MOSQ_ERR_ERRNO ? strerror(errno) : mosquitto_strerror(rc);
}

static time_t monotonic_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec;
}

static void schedule_retry(struct mqtt *m)
{
    m->next_attempt = monotonic_s() + m->backoff;
    m->backoff = m->backoff * 2 > MQTT_BACKOFF_MAX ? MQTT_BACKOFF_MAX : m->backoff * 2;
}

static void on_connect(struct mosquitto *mosq, void *arg, int rc, int flags)
{
    struct mqtt *m = arg;

    if (rc != 0) {
        wl_log(WL_LOG_ERROR, "mqtt", "broker %s:%d refused the connection: %s", m->opt.host,
               m->opt.port, mosquitto_connack_string(rc));
        return; /* the library drops the connection; the loop retries with back-off */
    }
    atomic_store(&m->state, MQTT_CONNECTED);
    if (!m->store_failing) /* a full disk is not cured by reconnecting: keep backing off */
        m->backoff = 1;
    wl_log(WL_LOG_INFO, "mqtt", "connected to %s:%d as %s (session %s)", m->opt.host, m->opt.port,
           m->opt.client_id, (flags & 1) ? "resumed" : "new");
    /* Re-subscribing with a resumed session is harmless and covers a changed topic list. */
    if (m->opt.connected)
        m->opt.connected(m->opt.connected_arg);
    rc = mosquitto_subscribe_multiple(mosq, NULL, m->opt.ntopics, (char *const *)m->opt.topics,
                                      m->opt.qos, 0, NULL);
    if (rc != MOSQ_ERR_SUCCESS)
        wl_log(WL_LOG_ERROR, "mqtt", "subscribe failed: %s", mosq_error(rc));
}

static void on_subscribe(struct mosquitto *mosq, void *arg, int mid, int count, const int *granted)
{
    struct mqtt *m = arg;
    (void)mosq;
    (void)mid;
    for (int i = 0; i < count && i < m->opt.ntopics; i++) {
        if (granted[i] > 2)
            wl_log(WL_LOG_ERROR, "mqtt", "broker refused the subscription to %s (ACL?)",
                   m->opt.topics[i]);
        else if (granted[i] < m->opt.qos)
            wl_log(WL_LOG_WARN, "mqtt",
                   "subscribed to %s with QoS %d only: messages may be "
                   "lost while wherelog is down",
                   m->opt.topics[i], granted[i]);
        else
            wl_log(WL_LOG_INFO, "mqtt", "subscribed to %s (QoS %d)", m->opt.topics[i], granted[i]);
    }
}

static void on_disconnect(struct mosquitto *mosq, void *arg, int rc)
{
    struct mqtt *m = arg;
    (void)mosq;
    /* A failed connection attempt is reported by connection_lost(), which knows why. */
    if (atomic_load(&m->state) != MQTT_CONNECTED)
        return;
    if (rc != 0)
        wl_log(WL_LOG_WARN, "mqtt", "connection to %s:%d lost", m->opt.host, m->opt.port);
    atomic_store(&m->state, MQTT_DISCONNECTED);
}

/* The broker acknowledged one of our publishes (PUBACK): libmosquitto has freed it. */
static void on_publish(struct mosquitto *mosq, void *arg, int mid)
{
    struct mqtt *m = arg;
    (void)mosq;
    (void)mid;
    /* Never below zero: a message whose hand-over failed after libmosquitto had queued it
     * (out of memory sending it) was counted as dropped, and may still be acknowledged. */
    unsigned n = atomic_load(&m->inflight);
    if (n > 0)
        atomic_store(&m->inflight, n - 1);
}

static void on_message(struct mosquitto *mosq, void *arg, const struct mosquitto_message *msg)
{
    struct mqtt *m = arg;
    (void)mosq;
    ingest_mqtt(m->ingest, &m->batch, msg->topic, strlen(msg->topic), msg->payload,
                msg->payloadlen > 0 ? (size_t)msg->payloadlen : 0, time(NULL));
}

int mqtt_new(const struct mqtt_options *opt, struct ingest *ingest, struct mqtt **out)
{
    struct mqtt *m = calloc(1, sizeof(*m));
    int rc = -ENOMEM;

    if (!m)
        return -ENOMEM;
    m->opt = *opt;
    if (opt->ntopics < 1 || opt->ntopics > MQTT_MAX_TOPICS) {
        free(m);
        return -EINVAL;
    }
    memcpy(m->topics, opt->topics, (size_t)opt->ntopics * sizeof(*opt->topics));
    m->opt.topics = m->topics;
    m->ingest = ingest;
    m->backoff = 1;
    pthread_mutex_init(&m->out_lock, NULL);
    m->out_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (m->out_fd < 0)
        goto fail;
    if (ingest_batch_init(&m->batch))
        goto fail;
    /* clean_session = false: the broker keeps our subscription and queues messages for us
     * while we are away, under this stable id. */
    m->mosq = mosquitto_new(opt->client_id, false, m);
    if (!m->mosq) {
        rc = errno == EINVAL ? -EINVAL : -ENOMEM;
        wl_log(WL_LOG_ERROR, "mqtt", "cannot create client %s", opt->client_id);
        goto fail;
    }
    mosquitto_int_option(m->mosq, MOSQ_OPT_PROTOCOL_VERSION, MQTT_PROTOCOL_V311);
    mosquitto_threaded_set(m->mosq, true); /* we drive the socket: acks wait for commit */
    /* All that is handed over may be on the wire (publish_waiting hands over no more).
     * Deprecated, but MOSQ_OPT_SEND_MAXIMUM, its successor, is documented for MQTT 5 only. */
    mosquitto_max_inflight_messages_set(m->mosq, MQTT_INFLIGHT_MAX);
    mosquitto_publish_callback_set(m->mosq, on_publish);
    mosquitto_connect_with_flags_callback_set(m->mosq, on_connect);
    mosquitto_disconnect_callback_set(m->mosq, on_disconnect);
    mosquitto_message_callback_set(m->mosq, on_message);
    mosquitto_subscribe_callback_set(m->mosq, on_subscribe);
    if (opt->user && (rc = mosquitto_username_pw_set(m->mosq, opt->user, opt->password))) {
        wl_log(WL_LOG_ERROR, "mqtt", "username: %s", mosq_error(rc));
        rc = -EINVAL;
        goto fail;
    }
    if (opt->cafile || opt->certfile) {
        rc = mosquitto_tls_set(m->mosq, opt->cafile, NULL, opt->certfile, opt->keyfile, NULL);
        if (rc) {
            wl_log(WL_LOG_ERROR, "mqtt", "TLS settings: %s", mosq_error(rc));
            rc = -EINVAL;
            goto fail;
        }
    }
    *out = m;
    return 0;
fail:
    mqtt_free(m);
    return rc;
}

void mqtt_free(struct mqtt *m)
{
    if (!m)
        return;
    if (m->mosq)
        mosquitto_destroy(m->mosq);
    ingest_batch_free(&m->batch);
    for (struct outgoing *o = m->out_head, *next; o; o = next) {
        next = o->next;
        free(o);
    }
    if (m->out_fd > 0)
        close(m->out_fd);
    pthread_mutex_destroy(&m->out_lock);
    free(m);
}

static void try_connect(struct mqtt *m)
{
    int rc = m->started
                 ? mosquitto_reconnect_async(m->mosq)
                 : mosquitto_connect_async(m->mosq, m->opt.host, m->opt.port, m->opt.keepalive);
    if (m->started)
        atomic_fetch_add(&m->reconnects, 1);
    m->started = true;
    m->dropping = false;
    if (rc != MOSQ_ERR_SUCCESS) {
        wl_log(WL_LOG_WARN, "mqtt", "cannot connect to %s:%d: %s (retrying in %d s)", m->opt.host,
               m->opt.port, mosq_error(rc), m->backoff);
        schedule_retry(m);
        return;
    }
    atomic_store(&m->state, MQTT_CONNECTING);
}

/* The socket went away (or a step failed): the library has closed it; retry later. */
static void connection_lost(struct mqtt *m, int rc)
{
    if (atomic_load(&m->state) == MQTT_CONNECTING)
        wl_log(WL_LOG_WARN, "mqtt", "cannot connect to %s:%d: %s (retrying in %d s)", m->opt.host,
               m->opt.port, mosq_error(rc), m->backoff);
    atomic_store(&m->state, MQTT_DISCONNECTED);
    if (mosquitto_socket(m->mosq) >= 0)
        mosquitto_disconnect(m->mosq); /* not reached normally: the library closed it */
    schedule_retry(m);
}

static bool readable(int sock)
{
    struct pollfd p = {.fd = sock, .events = POLLIN};
    return poll(&p, 1, 0) > 0;
}

/*
 * Reads what the socket has (up to a batch), commits it, and returns 0 when the acks may
 * now be written; otherwise the connection must go without writing them.
 */
static int read_burst(struct mqtt *m, int sock)
{
    int rc = MOSQ_ERR_SUCCESS;

    do {
        rc = mosquitto_loop_read(m->mosq, 1);
    } while (rc == MOSQ_ERR_SUCCESS && m->batch.n < MQTT_BATCH_MAX &&
             m->batch.payload_bytes < MQTT_BATCH_BYTES && mosquitto_socket(m->mosq) >= 0 &&
             readable(sock));

    /* Whatever was read is good data: store it even if the connection just died (the
     * broker will redeliver it, and the store keeps one copy). */
    size_t received = m->batch.n;
    int crc = ingest_commit(m->ingest, &m->batch, NULL);
    if (crc == 0 && received && m->store_failing) {
        m->store_failing = false;
        wl_log(WL_LOG_INFO, "mqtt", "storing again");
    }
    if (crc != 0) {
        m->store_failing = true;
        wl_log(WL_LOG_ERROR, "mqtt",
               "cannot store received messages (%s); dropping the connection without "
               "acknowledging them, the broker keeps them; retrying in %d s",
               crc == -ENOSPC       ? "disk full"
               : crc == WL_EMAPFULL ? "map full"
               : crc == -ENOMEM     ? "out of memory"
                                    : "store error",
               m->backoff);
        if (mosquitto_socket(m->mosq) >= 0) {
            m->dropping = true;
            shutdown(mosquitto_socket(m->mosq), SHUT_RDWR);
        }
        return -EIO;
    }
    if (rc != MOSQ_ERR_SUCCESS) {
        connection_lost(m, rc);
        return -EPIPE;
    }
    return 0;
}

static void disconnect_cleanly(struct mqtt *m)
{
    int sock = mosquitto_socket(m->mosq);

    if (sock < 0 || atomic_load(&m->state) != MQTT_CONNECTED || m->dropping)
        return;
    mosquitto_disconnect(m->mosq);
    /* Flush what is queued (the last acks and DISCONNECT), for a bounded time. */
    for (int waited = 0; mosquitto_want_write(m->mosq) && waited < MQTT_STOP_FLUSH_MS;
         waited += 50) {
        struct pollfd p = {.fd = sock, .events = POLLOUT};
        if (poll(&p, 1, 50) > 0 && mosquitto_loop_write(m->mosq, 1) != MOSQ_ERR_SUCCESS)
            break;
    }
    atomic_store(&m->state, MQTT_DISCONNECTED);
    wl_log(WL_LOG_INFO, "mqtt", "disconnected from %s:%d", m->opt.host, m->opt.port);
}

int mqtt_publish(struct mqtt *m, const char *topic, const void *payload, size_t len, bool retain)
{
    size_t tlen = strlen(topic);
    struct outgoing *o = malloc(sizeof(*o) + tlen + 1 + len), *gone = NULL;
    uint64_t one = 1;
    if (!o)
        return -ENOMEM;
    o->next = NULL;
    o->retain = retain;
    o->len = len;
    memcpy(o->topic, topic, tlen + 1);
    o->payload = o->topic + tlen + 1;
    memcpy(o->payload, payload, len);
    pthread_mutex_lock(&m->out_lock);
    bool was_empty = m->out_n == 0;
    if (m->out_n == MQTT_OUT_MAX) { /* the oldest goes: what is newest matters most */
        gone = m->out_head;
        m->out_head = gone->next;
        if (!m->out_head)
            m->out_tail = NULL;
        m->out_n--;
    }
    if (m->out_tail)
        m->out_tail->next = o;
    else
        m->out_head = o;
    m->out_tail = o;
    m->out_n++;
    pthread_mutex_unlock(&m->out_lock);
    if (gone) {
        free(gone);
        atomic_fetch_add(&m->out_dropped, 1);
    }
    /* A queue that was not empty has been signalled already, or is left for acknowledgements
     * (publish_waiting): one system call a burst of events, not one an event. */
    if (was_empty && write(m->out_fd, &one, sizeof(one)) != sizeof(one))
        return 0; /* the counter is full: the thread is awake anyway */
    return 0;
}

unsigned long mqtt_publish_dropped(struct mqtt *m)
{
    return atomic_load(&m->out_dropped);
}

void mqtt_publish_pending(struct mqtt *m, size_t *waiting, unsigned *inflight)
{
    pthread_mutex_lock(&m->out_lock);
    *waiting = m->out_n;
    pthread_mutex_unlock(&m->out_lock);
    *inflight = atomic_load(&m->inflight);
}

/* Hands the oldest waiting messages to libmosquitto, as many as MQTT_INFLIGHT_MAX allows: its
 * own queue keeps a QoS 1 message until the broker acknowledges it, and has no bound. The
 * rest wait in ours, where the oldest are dropped when it is full; acknowledgements wake the
 * loop, which calls this again. */
static void publish_waiting(struct mqtt *m)
{
    uint64_t count;
    if (read(m->out_fd, &count, sizeof(count)) < 0 && errno != EAGAIN)
        return;
    if (atomic_load(&m->state) != MQTT_CONNECTED || m->dropping)
        return; /* kept until connected */
    unsigned inflight = atomic_load(&m->inflight);
    if (inflight >= MQTT_INFLIGHT_MAX)
        return;
    size_t room = MQTT_INFLIGHT_MAX - inflight, taken = 0;
    pthread_mutex_lock(&m->out_lock);
    struct outgoing *list = m->out_head, *last = NULL;
    for (struct outgoing *o = list; o && taken < room; o = o->next, taken++)
        last = o;
    if (last) {
        m->out_head = last->next;
        if (!m->out_head)
            m->out_tail = NULL;
        last->next = NULL;
        m->out_n -= taken;
    }
    pthread_mutex_unlock(&m->out_lock);
    if (!last)
        return;
    for (struct outgoing *o = list, *next; o; o = next) {
        next = o->next;
        int rc = mosquitto_publish(m->mosq, NULL, o->topic, (int)o->len, o->payload, 1, o->retain);
        /* NO_CONN: the socket went since the state was read; libmosquitto queued the message
         * and sends it after the reconnect, so it is in flight all the same. */
        if (rc == MOSQ_ERR_SUCCESS || rc == MOSQ_ERR_NO_CONN) {
            atomic_store(&m->inflight, atomic_load(&m->inflight) + 1);
        } else {
            atomic_fetch_add(&m->out_dropped, 1);
            wl_log(WL_LOG_WARN, "mqtt", "cannot publish to %s: %s", o->topic, mosq_error(rc));
        }
        free(o);
    }
}

int mqtt_run(struct mqtt *m, int stop_fd)
{
    for (;;) {
        time_t now = monotonic_s();
        int sock = mosquitto_socket(m->mosq);
        int timeout = 1000;

        if (sock < 0 && now >= m->next_attempt) {
            try_connect(m);
            sock = mosquitto_socket(m->mosq);
        }
        if (sock < 0 && m->next_attempt > now)
            timeout = (int)(m->next_attempt - now) * 1000;

        /* Waiting publishes go out now, when connected (also those queued by on_connect). */
        publish_waiting(m);
        struct pollfd pfd[3] = {
            {.fd = stop_fd, .events = POLLIN}, {.fd = m->out_fd, .events = POLLIN}, {.fd = sock}};
        if (sock >= 0)
            pfd[2].events = POLLIN | (mosquitto_want_write(m->mosq) && !m->dropping ? POLLOUT : 0);
        if (poll(pfd, sock >= 0 ? 3 : 2, timeout) < 0 && errno != EINTR) {
            wl_log(WL_LOG_ERROR, "mqtt", "poll: %s", strerror(errno));
            break;
        }
        if (pfd[0].revents)
            break;
        if (sock < 0)
            continue;

        bool tls_connecting =
            (m->opt.cafile || m->opt.certfile) && atomic_load(&m->state) == MQTT_CONNECTING;
        if ((pfd[2].revents & (POLLIN | POLLERR | POLLHUP)) ||
            (tls_connecting && (pfd[2].revents & POLLOUT))) {
            if (read_burst(m, sock) != 0)
                continue;
        }
        if (m->dropping) {
            if (mosquitto_socket(m->mosq) < 0) {
                atomic_store(&m->state, MQTT_DISCONNECTED);
                schedule_retry(m);
            }
            continue;
        }
        if (mosquitto_socket(m->mosq) >= 0 && mosquitto_want_write(m->mosq)) {
            int rc = mosquitto_loop_write(m->mosq, 1);
            if (rc != MOSQ_ERR_SUCCESS) {
                connection_lost(m, rc);
                continue;
            }
        }
        if (mosquitto_socket(m->mosq) >= 0) {
            int rc = mosquitto_loop_misc(m->mosq);
            if (rc != MOSQ_ERR_SUCCESS && rc != MOSQ_ERR_NO_CONN)
                connection_lost(m, rc);
        }
    }
    disconnect_cleanly(m);
    return 0;
}
