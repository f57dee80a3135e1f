/* Publishing through the MQTT door (mqtt.h) against a real mosquitto ($MOSQUITTO, started here
 * on a free loopback port) and a real mosquitto_sub: while the broker is stopped (SIGSTOP)
 * what waits for it stays within MQTT_OUT_MAX + MQTT_INFLIGHT_MAX however much is published,
 * the drops are counted, and once it runs again (SIGCONT) the newest messages arrive. */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "helpers.h"
#include "ingest.h"
#include "mqtt.h"
#include "store.h"
#include "writer.h"

extern char **environ;

/* How long a test waits for something before it fails: a guard against a hang, never a
 * measure (the condition is what is asserted). Under emulation (packaging/dev arm)
 * WHERELOG_TEST_WAIT_SCALE multiplies it, as for the integration tests. */
#define WAIT_S 120

/* What each test starts, so that .fini stops it whatever failed. */
static struct {
    char dir[512];
    int port;
    pid_t broker, sub;
    struct store *store;
    struct writer *writer;
    struct ingest *ingest;
    struct mqtt *mqtt;
    int stop_fd;
    pthread_t thread;
    bool running;
} t;

static int free_port(void)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(a);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    cr_assert_geq(fd, 0, "a socket");
    cr_assert_eq(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0, "bind to a free port");
    cr_assert_eq(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    close(fd);
    return ntohs(a.sin_port);
}

static bool accepting(int port)
{
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    bool ok = fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0;
    if (fd >= 0)
        close(fd);
    return ok;
}

static void pause_ms(int ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000};
    nanosleep(&ts, NULL);
}

static time_t deadline(void)
{
    const char *scale = getenv("WHERELOG_TEST_WAIT_SCALE");
    double k = scale ? atof(scale) : 1;
    return time(NULL) + (time_t)(WAIT_S * (k > 1 ? k : 1));
}

/* Runs argv with stdout and stderr into the file `out` under the test's directory. */
static pid_t spawn(char *const argv[], const char *out)
{
    char path[600];
    snprintf(path, sizeof(path), "%s/%s", t.dir, out);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, path, O_WRONLY | O_CREAT | O_APPEND, 0600);
    posix_spawn_file_actions_adddup2(&fa, 1, 2);
    pid_t pid;
    int rc = posix_spawnp(&pid, argv[0], &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    cr_assert_eq(rc, 0, "%s starts: %s", argv[0], strerror(rc));
    return pid;
}

static void *run_client(void *arg)
{
    (void)arg;
    mqtt_run(t.mqtt, t.stop_fd);
    return NULL;
}

static void setup(void)
{
    char conf[600], port[16];
    tmpdir_make(t.dir, sizeof(t.dir));
    t.port = free_port();
    snprintf(conf, sizeof(conf), "%s/mosquitto.conf", t.dir);
    FILE *f = fopen(conf, "w");
    cr_assert(f, "the broker's configuration is written");
    /* As root mosquitto would switch to its own user, which cannot read the test's files. */
    fprintf(f,
            "%slistener %d 127.0.0.1\nallow_anonymous true\npersistence false\n"
            "max_queued_messages 1000000\n",
            geteuid() == 0 ? "user root\n" : "", t.port);
    fclose(f);
    const char *mosquitto = getenv("MOSQUITTO");
    char *broker[] = {(char *)(mosquitto ? mosquitto : "mosquitto"), "-c", conf, NULL};
    t.broker = spawn(broker, "mosquitto.log");
    for (time_t end = deadline(); !accepting(t.port); pause_ms(10))
        cr_assert_lt(time(NULL), end, "mosquitto listens on %d", t.port);

    cr_assert_eq(store_open(t.dir, NULL, &t.store), 0);
    cr_assert_eq(writer_new(t.store, &t.writer), 0);
    cr_assert_eq(ingest_new(t.writer, (struct owntracks_keyring){0}, 0, &t.ingest), 0);
    const char *topics[] = {"owntracks/#"};
    /* A keepalive longer than any wait here: the stopped broker must not look dead. */
    struct mqtt_options opt = {.host = "127.0.0.1",
                               .port = t.port,
                               .client_id = "wherelog-test",
                               .topics = topics,
                               .ntopics = 1,
                               .qos = 1,
                               .keepalive = 3600};
    cr_assert_eq(mqtt_new(&opt, t.ingest, &t.mqtt), 0);
    t.stop_fd = eventfd(0, EFD_CLOEXEC);
    cr_assert_geq(t.stop_fd, 0);
    cr_assert_eq(pthread_create(&t.thread, NULL, run_client, NULL), 0);
    t.running = true;
    for (time_t end = deadline(); mqtt_get_state(t.mqtt) != MQTT_CONNECTED; pause_ms(10))
        cr_assert_lt(time(NULL), end, "the client connects");

    snprintf(port, sizeof(port), "%d", t.port);
    char *sub[] = {"mosquitto_sub", "-h", "127.0.0.1", "-p", port, "-q", "1", "-t",
                   "flood/#",       "-F", "%t %p",     NULL};
    t.sub = spawn(sub, "received");
}

static void teardown(void)
{
    if (t.broker > 0) {
        kill(t.broker, SIGCONT);
        kill(t.broker, SIGTERM);
        waitpid(t.broker, NULL, 0);
    }
    if (t.sub > 0) {
        kill(t.sub, SIGTERM);
        waitpid(t.sub, NULL, 0);
    }
    if (t.running) {
        uint64_t one = 1;
        cr_expect_eq(write(t.stop_fd, &one, sizeof(one)), (ssize_t)sizeof(one));
        pthread_join(t.thread, NULL);
    }
    if (t.stop_fd > 0)
        close(t.stop_fd);
    mqtt_free(t.mqtt);
    ingest_free(t.ingest);
    writer_free(t.writer);
    store_close(t.store);
    tmpdir_remove(t.dir);
}

TestSuite(mqtt, .init = setup, .fini = teardown, .timeout = 600);

/* The messages mosquitto_sub got on `topic`: their payloads as numbers, in order. */
static size_t received(const char *topic, long *out, size_t max)
{
    char path[600], line[256];
    size_t n = 0, tlen = strlen(topic);
    snprintf(path, sizeof(path), "%s/received", t.dir);
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    while (fgets(line, sizeof(line), f))
        if (strncmp(line, topic, tlen) == 0 && line[tlen] == ' ' && strchr(line, '\n')) {
            if (n < max)
                out[n] = atol(line + tlen + 1);
            n++;
        }
    fclose(f);
    return n;
}

static void pending(size_t *waiting, unsigned *inflight)
{
    mqtt_publish_pending(t.mqtt, waiting, inflight);
}

Test(mqtt, a_stopped_broker_holds_a_bounded_queue_and_gets_the_newest)
{
    size_t waiting;
    unsigned inflight;
    long got[1];

    /* Probes until mosquitto_sub has one: from then on it gets everything published. */
    for (time_t end = deadline(); received("flood/probe", got, 1) == 0; pause_ms(100)) {
        cr_assert_lt(time(NULL), end, "mosquitto_sub subscribes");
        cr_assert_eq(mqtt_publish(t.mqtt, "flood/probe", "0", 1, false), 0);
    }
    for (time_t end = deadline();; pause_ms(10)) {
        pending(&waiting, &inflight);
        if (waiting == 0 && inflight == 0)
            break;
        cr_assert_lt(time(NULL), end, "the broker acknowledges the probes");
    }
    cr_assert_eq(mqtt_publish_dropped(t.mqtt), 0, "nothing dropped while the broker runs");

    cr_assert_eq(kill(t.broker, SIGSTOP), 0, "the broker stops");
    const long n = MQTT_OUT_MAX + MQTT_INFLIGHT_MAX + 1000;
    for (long i = 0; i < n; i++) {
        char payload[24];
        int len = snprintf(payload, sizeof(payload), "%ld", i);
        cr_assert_eq(mqtt_publish(t.mqtt, "flood/n", payload, (size_t)len, false), 0);
        pending(&waiting, &inflight);
        cr_assert_leq(waiting, MQTT_OUT_MAX, "at most MQTT_OUT_MAX wait (%zu)", waiting);
        cr_assert_leq(inflight, MQTT_INFLIGHT_MAX, "at most MQTT_INFLIGHT_MAX in flight (%u)",
                      inflight);
    }
    /* The client's thread hands over what it may; with no acknowledgement, no more. */
    for (time_t end = deadline();; pause_ms(10)) {
        pending(&waiting, &inflight);
        if (inflight == MQTT_INFLIGHT_MAX)
            break;
        cr_assert_lt(time(NULL), end, "the client hands %d messages over (%u)", MQTT_INFLIGHT_MAX,
                     inflight);
    }
    /* Which of them were handed over before the queue was full depends on the threads' timing;
     * that nothing is lost uncounted, and the bounds, do not. */
    size_t kept = waiting;
    cr_assert_geq(waiting, MQTT_OUT_MAX - MQTT_INFLIGHT_MAX, "the queue filled (%zu)", waiting);
    unsigned long dropped = mqtt_publish_dropped(t.mqtt);
    cr_assert_eq(dropped, (unsigned long)n - kept - MQTT_INFLIGHT_MAX,
                 "every message beyond the bounds is counted as dropped (%lu)", dropped);
    cr_assert_geq(dropped, (unsigned long)(n - MQTT_OUT_MAX - MQTT_INFLIGHT_MAX));

    cr_assert_eq(kill(t.broker, SIGCONT), 0, "the broker runs again");
    for (time_t end = deadline();; pause_ms(20)) {
        pending(&waiting, &inflight);
        long last[1];
        size_t k = received("flood/n", last, 1);
        if (waiting == 0 && inflight == 0 && k >= kept + MQTT_INFLIGHT_MAX)
            break;
        cr_assert_lt(time(NULL), end, "everything kept is delivered (%zu so far)", k);
    }
    long *all = calloc((size_t)n, sizeof(*all));
    size_t k = received("flood/n", all, (size_t)n);
    cr_assert_eq(k, kept + MQTT_INFLIGHT_MAX, "what was kept arrives, once: %zu", k);
    for (size_t i = 1; i < k; i++)
        cr_assert_gt(all[i], all[i - 1], "in order: %ld after %ld", all[i], all[i - 1]);
    for (size_t i = 0; i < kept; i++)
        cr_assert_eq(all[k - kept + i], n - (long)kept + (long)i, "the newest %zu arrive", kept);
    free(all);
    cr_assert_eq(mqtt_publish_dropped(t.mqtt), dropped, "nothing more dropped");
}
