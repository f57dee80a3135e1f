/*
 * wl-pub - a test and benchmark publisher (not installed).
 *
 *   wl-pub --port P [--host H] [--qos 1] [--retain] [--inflight N] < fixture.jsonl
 *       publishes each line's payload (or payload_b64) to its topic, in order;
 *   wl-pub --port P --generate N [--devices D] [--start EPOCH] [--seed S]
 *       publishes N OwnTracks locations from D devices (Android style, about 150 bytes).
 *
 * Waits until the broker has acknowledged everything, then prints one JSON line:
 *   {"published":N,"refused":[{"line":L,"reason":"..."}],"bytes":B,"seconds":S}
 * "refused" lists lines the MQTT client library itself would not publish (a topic with a
 * wildcard or a control character): they never reach a broker.
 */
#include <json-c/json.h>
#include <mosquitto.h>
#include <poll.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static long acked;

static void on_publish(struct mosquitto *m, void *arg, int mid)
{
    (void)m;
    (void)arg;
    (void)mid;
    acked++;
}

/*
 * One thread drives the socket: libmosquitto's own loop thread costs a wake-up per message,
 * and its queue beyond the inflight window is a list walked on every acknowledgement; either
 * would make the publisher, not the broker, the bottleneck of a benchmark.
 */
static int pump(struct mosquitto *m, int timeout_ms)
{
    struct pollfd p = {.fd = mosquitto_socket(m), .events = POLLIN};
    if (mosquitto_want_write(m))
        p.events |= POLLOUT;
    if (poll(&p, 1, timeout_ms) < 0)
        return -1;
    if ((p.revents & POLLIN) && mosquitto_loop_read(m, 1) != MOSQ_ERR_SUCCESS)
        return -1;
    if (mosquitto_want_write(m) && mosquitto_loop_write(m, 1) != MOSQ_ERR_SUCCESS)
        return -1;
    return mosquitto_loop_misc(m) == MOSQ_ERR_SUCCESS ? 0 : -1;
}

/* Keeps at most `window` messages unacknowledged. */
static int wait_window(struct mosquitto *m, long published, long window)
{
    while (published - acked >= window)
        if (pump(m, 1000) != 0)
            return -1;
    return 0;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

struct opts {
    const char *host;
    int port, qos, inflight;
    bool retain;
    long generate;
    int devices;
    long start;
    unsigned seed;
};

static void usage(void)
{
    fprintf(stderr, "usage: wl-pub --port P [--host H] [--qos Q] [--retain] [--inflight N] "
                    "[--generate N [--devices D] [--start EPOCH] [--seed S]]\n");
    exit(2);
}

/* Next generated message: device i % devices, points spread over a year per device.
 * Device 0 gets a quarter of all messages so that one device holds a long track. */
static int generate(const struct opts *o, long i, char *topic, size_t tsize, char *payload,
                    size_t psize, double *lat, double *lon)
{
    int dev = (i % 4 == 0) ? 0 : 1 + (int)((i / 4 * 3 + i % 4 - 1) % (o->devices - 1));
    long per_dev = (dev == 0) ? o->generate / 4 + 1 : o->generate * 3 / 4 / (o->devices - 1) + 1;
    long k = (dev == 0) ? i / 4 : (i - i / 4 - 1) / (o->devices - 1);
    long step = 31536000 / per_dev;
    long tst = o->start + k * (step > 0 ? step : 1);
    int user = dev / 2 + 1;
    snprintf(topic, tsize, "owntracks/user%d/phone%d", user, dev % 2 + 1);
    lat[dev] += ((double)rand() / RAND_MAX - 0.5) * 0.002;
    lon[dev] += ((double)rand() / RAND_MAX - 0.5) * 0.002;
    return snprintf(payload, psize,
                    "{\"_type\":\"location\",\"acc\":%d,\"alt\":%d,\"batt\":%d,\"bs\":1,"
                    "\"conn\":\"%c\",\"created_at\":%ld,\"lat\":%.6f,\"lon\":%.6f,\"m\":1,"
                    "\"t\":\"u\",\"tid\":\"p%d\",\"tst\":%ld,\"vac\":%d,\"vel\":%d}",
                    5 + rand() % 30, 30 + rand() % 100, 20 + rand() % 80, rand() % 2 ? 'w' : 'm',
                    tst + rand() % 5, lat[dev], lon[dev], dev, tst, 2 + rand() % 10, rand() % 60);
}

int main(int argc, char **argv)
{
    struct opts o = {.host = "127.0.0.1",
                     .qos = 1,
                     .inflight = 100,
                     .devices = 8,
                     .start = 1704067200,
                     .seed = 1};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--retain") == 0) {
            o.retain = true;
            continue;
        }
        if (!v)
            usage();
        i++;
        if (strcmp(a, "--host") == 0)
            o.host = v;
        else if (strcmp(a, "--port") == 0)
            o.port = atoi(v);
        else if (strcmp(a, "--qos") == 0)
            o.qos = atoi(v);
        else if (strcmp(a, "--inflight") == 0)
            o.inflight = atoi(v);
        else if (strcmp(a, "--generate") == 0)
            o.generate = atol(v);
        else if (strcmp(a, "--devices") == 0)
            o.devices = atoi(v);
        else if (strcmp(a, "--start") == 0)
            o.start = atol(v);
        else if (strcmp(a, "--seed") == 0)
            o.seed = (unsigned)atol(v);
        else
            usage();
    }
    if (!o.port || o.devices < 2)
        usage();
    srand(o.seed);
    if (sodium_init() < 0)
        return 1;
    mosquitto_lib_init();
    struct mosquitto *m = mosquitto_new(NULL, true, NULL);
    mosquitto_int_option(m, MOSQ_OPT_PROTOCOL_VERSION, MQTT_PROTOCOL_V311);
    mosquitto_max_inflight_messages_set(m, (unsigned)o.inflight);
    mosquitto_publish_callback_set(m, on_publish);
    mosquitto_threaded_set(m, true); /* queue packets; pump() writes them */
    if (mosquitto_connect(m, o.host, o.port, 60) != MOSQ_ERR_SUCCESS) {
        fprintf(stderr, "wl-pub: cannot connect to %s:%d\n", o.host, o.port);
        return 1;
    }

    struct json_object *refused = json_object_new_array();
    long published = 0, bytes = 0, lineno = 0, last_tst = 0;
    char last_topic[128] = "";
    double t0 = now_s();
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    double lat[64], lon[64];
    for (int d = 0; d < 64; d++) {
        lat[d] = 48.0 + d * 0.1;
        lon[d] = 2.0 + d * 0.1;
    }
    for (;;) {
        char gtopic[128], gpayload[512];
        const char *topic;
        const void *payload;
        size_t plen;
        unsigned char *bin = NULL;
        struct json_object *row = NULL, *t, *p;

        lineno++;
        if (o.generate) {
            if (lineno > o.generate)
                break;
            plen = (size_t)generate(&o, lineno - 1, gtopic, sizeof(gtopic), gpayload,
                                    sizeof(gpayload), lat, lon);
            topic = gtopic;
            payload = gpayload;
            snprintf(last_topic, sizeof(last_topic), "%s", gtopic);
            last_tst = atol(strstr(gpayload, "\"tst\":") + 6);
        } else {
            if ((len = getline(&line, &cap, stdin)) <= 0)
                break;
            struct json_tokener *tok = json_tokener_new();
            row = json_tokener_parse_ex(tok, line, (int)len);
            json_tokener_free(tok);
            if (!row || !json_object_object_get_ex(row, "topic", &t)) {
                fprintf(stderr, "wl-pub: line %ld is not a fixture line\n", lineno);
                return 1;
            }
            topic = json_object_get_string(t);
            if (strlen(topic) != (size_t)json_object_get_string_len(t)) {
                struct json_object *r = json_object_new_object();
                json_object_object_add(r, "line", json_object_new_int64(lineno));
                json_object_object_add(r, "reason", json_object_new_string("NUL in topic"));
                json_object_array_add(refused, r);
                json_object_put(row);
                continue;
            }
            if (json_object_object_get_ex(row, "payload", &p)) {
                payload = json_object_get_string(p);
                plen = (size_t)json_object_get_string_len(p);
            } else if (json_object_object_get_ex(row, "payload_b64", &p)) {
                size_t bl = (size_t)json_object_get_string_len(p);
                bin = malloc(bl + 1);
                sodium_base642bin(bin, bl + 1, json_object_get_string(p), bl, NULL, &plen, NULL,
                                  sodium_base64_VARIANT_ORIGINAL);
                payload = bin;
            } else {
                fprintf(stderr, "wl-pub: line %ld has no payload\n", lineno);
                return 1;
            }
        }
        if (o.qos > 0 && wait_window(m, published, o.inflight) != 0) {
            fprintf(stderr, "wl-pub: connection lost\n");
            return 1;
        }
        int rc = mosquitto_publish(m, NULL, topic, (int)plen, payload, o.qos, o.retain);
        if (rc == MOSQ_ERR_SUCCESS) {
            published++;
            bytes += (long)plen;
        } else {
            struct json_object *r = json_object_new_object();
            json_object_object_add(r, "line", json_object_new_int64(lineno));
            json_object_object_add(r, "reason", json_object_new_string(mosquitto_strerror(rc)));
            json_object_array_add(refused, r);
        }
        free(bin);
        if (row)
            json_object_put(row);
        if (published % 64 == 0 && pump(m, 0) != 0) {
            fprintf(stderr, "wl-pub: connection lost\n");
            return 1;
        }
    }
    /* Wait for the last acknowledgements (QoS 0 has none: just write everything). */
    double deadline = now_s() + 600;
    while ((o.qos > 0 ? acked < published : mosquitto_want_write(m)) && now_s() < deadline)
        if (pump(m, 100) != 0)
            break;
    double secs = now_s() - t0;
    mosquitto_disconnect(m);
    while (mosquitto_want_write(m) && pump(m, 100) == 0)
        ;
    mosquitto_destroy(m);
    mosquitto_lib_cleanup();

    struct json_object *res = json_object_new_object();
    json_object_object_add(res, "published", json_object_new_int64(published));
    json_object_object_add(res, "acked", json_object_new_int64(acked));
    json_object_object_add(res, "refused", refused);
    json_object_object_add(res, "bytes", json_object_new_int64(bytes));
    json_object_object_add(res, "seconds", json_object_new_double(secs));
    if (o.generate) { /* the last generated message, to wait for */
        json_object_object_add(res, "last_topic", json_object_new_string(last_topic));
        json_object_object_add(res, "last_tst", json_object_new_int64(last_tst));
    }
    printf("%s\n", json_object_to_json_string_ext(res, JSON_C_TO_STRING_PLAIN));
    json_object_put(res);
    free(line);
    return o.qos > 0 && acked < published ? 1 : 0;
}
