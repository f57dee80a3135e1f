/* wherelog serve: wires store, writer, ingest and the MQTT door together and runs them
 * until SIGINT or SIGTERM. */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "cli.h"
#include "config.h"
#include "ingest.h"
#include "log.h"
#include "mqtt.h"
#include "store.h"
#include "wl.h"
#include "writer.h"

struct mqtt_thread {
    struct mqtt *mqtt;
    int stop_fd;
    pthread_t thread;
};

static void *run_mqtt(void *arg)
{
    struct mqtt_thread *t = arg;
    mqtt_run(t->mqtt, t->stop_fd);
    return NULL;
}

/* Checks what --check can check without side effects; prints problems, returns how many. */
static int check_settings(const struct wl_config *cfg)
{
    int problems = 0;
    const char *files[] = {cfg->mqtt_password_file, cfg->mqtt_cafile, cfg->mqtt_certfile,
                           cfg->mqtt_keyfile};
    for (size_t i = 0; i < WL_ARRAY_LEN(files); i++) {
        if (files[i][0] && access(files[i], R_OK) != 0) {
            printf("problem: cannot read %s: %s\n", files[i], strerror(errno));
            problems++;
        }
    }
    if (!!cfg->mqtt_certfile[0] != !!cfg->mqtt_keyfile[0]) {
        printf("problem: --mqtt-certfile and --mqtt-keyfile go together\n");
        problems++;
    }
    if (cfg->mqtt_password_file[0] && !cfg->mqtt_user[0]) {
        printf("problem: --mqtt-password-file without --mqtt-user\n");
        problems++;
    }
    return problems;
}

int cli_serve(int argc, char **argv)
{
    bool check = false;
    const struct cli_option opts[] = {
        {"check", NULL, "print the effective settings, check them, and exit", NULL, &check}};
    const struct cli_command cmd = {
        "serve",
        "serve [settings]",
        "Subscribes to the OwnTracks topics on an MQTT broker and stores every message,\n"
        "until SIGINT or SIGTERM.",
        CFG_ALL | CFG_SERVE,
        opts,
        1,
        0,
        0};
    struct wl_config *cfg = calloc(1, sizeof(*cfg));
    struct store *store = NULL;
    struct writer *writer = NULL;
    struct ingest *ingest = NULL;
    struct mqtt_thread mq = {.stop_fd = -1};
    char password[512] = "";
    size_t nargs;
    sigset_t sigs;
    int sfd = -1, status = 1, rc;

    if (!cfg)
        return 1;
    rc = cfg_load(cfg, &cmd, argc, argv, NULL, &nargs);
    if (rc) {
        free(cfg);
        return rc > 0 ? 0 : 2;
    }
    if (check) {
        printf("# wherelog serve: effective settings (precedence: default < file < "
               "environment < flag)\n");
        cfg_print_effective(cfg, CFG_ALL | CFG_SERVE);
        int problems = check_settings(cfg);
        printf(problems ? "# %d problem(s)\n" : "# settings look fine\n", problems);
        free(cfg);
        return problems ? 1 : 0;
    }
    cli_setup_logging(cfg);
    if (check_settings(cfg)) {
        fprintf(stderr, "wherelog serve: fix the settings above (see --check)\n");
        goto out;
    }
    if (cfg->mqtt_password_file[0] &&
        (rc = cfg_read_secret_file(cfg->mqtt_password_file, password, sizeof(password)))) {
        fprintf(stderr, "wherelog serve: cannot read %s: %s\n", cfg->mqtt_password_file,
                strerror(-rc));
        goto out;
    }

    /* Signals arrive through a descriptor, in this thread, never as asynchronous handlers;
     * every thread inherits this mask. SIGPIPE: a vanished peer is an error return. */
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    signal(SIGPIPE, SIG_IGN);
    sfd = signalfd(-1, &sigs, SFD_CLOEXEC);
    if (sfd < 0) {
        fprintf(stderr, "wherelog serve: signalfd: %s\n", strerror(errno));
        goto out;
    }

    if ((rc = store_open(cfg->storage, NULL, &store))) {
        fprintf(stderr, "wherelog serve: cannot open the store in %s: %s\n", cfg->storage,
                wl_strerror(rc));
        goto out;
    }
    if (writer_new(store, &writer) ||
        ingest_new(writer, store_keyring(store), (unsigned)cfg->log_rejections, &ingest))
        goto out;

    const char *topics[CFG_TOPICS_MAX];
    for (int i = 0; i < cfg->ntopics; i++)
        topics[i] = cfg->topics[i];
    struct mqtt_options mo = {
        .host = cfg->mqtt_host,
        .port = (int)cfg->mqtt_port,
        .user = cfg->mqtt_user[0] ? cfg->mqtt_user : NULL,
        .password = password[0] ? password : NULL,
        .cafile = cfg->mqtt_cafile[0] ? cfg->mqtt_cafile : NULL,
        .certfile = cfg->mqtt_certfile[0] ? cfg->mqtt_certfile : NULL,
        .keyfile = cfg->mqtt_keyfile[0] ? cfg->mqtt_keyfile : NULL,
        .client_id = cfg->mqtt_client_id[0] ? cfg->mqtt_client_id : store_client_id(store),
        .topics = topics,
        .ntopics = cfg->ntopics,
        .qos = (int)cfg->qos,
        .keepalive = (int)cfg->mqtt_keepalive,
    };
    mqtt_library_init();
    if (mqtt_new(&mo, ingest, &mq.mqtt))
        goto out;
    mq.stop_fd = eventfd(0, EFD_CLOEXEC);
    if (mq.stop_fd < 0 || pthread_create(&mq.thread, NULL, run_mqtt, &mq) != 0) {
        fprintf(stderr, "wherelog serve: cannot start: %s\n", strerror(errno));
        goto out;
    }
    wl_log(WL_LOG_INFO, "serve", "storing into %s; MQTT %s:%ld, %d topic filter(s)", cfg->storage,
           cfg->mqtt_host, cfg->mqtt_port, cfg->ntopics);

    for (;;) {
        struct signalfd_siginfo si;
        ssize_t n = read(sfd, &si, sizeof(si));
        if (n < 0 && errno == EINTR)
            continue;
        if (n != sizeof(si) || si.ssi_signo == SIGINT || si.ssi_signo == SIGTERM)
            break;
        wl_log(WL_LOG_INFO, "serve", "SIGHUP: nothing to reload yet");
    }
    wl_log(WL_LOG_INFO, "serve", "stopping");
    uint64_t one = 1;
    if (write(mq.stop_fd, &one, sizeof(one)) != sizeof(one))
        wl_log(WL_LOG_ERROR, "serve", "cannot signal the MQTT thread");
    pthread_join(mq.thread, NULL);
    mq.thread = 0;
    status = 0;
out:
    if (mq.stop_fd >= 0)
        close(mq.stop_fd);
    mqtt_free(mq.mqtt);
    if (mq.mqtt || status == 0)
        mqtt_library_cleanup();
    ingest_free(ingest);
    writer_free(writer);
    store_close(store);
    if (sfd >= 0)
        close(sfd);
    memset(password, 0, sizeof(password));
    if (status == 0)
        wl_log(WL_LOG_INFO, "serve", "stopped; store closed");
    free(cfg);
    return status;
}
