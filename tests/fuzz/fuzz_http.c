/*
 * Fuzz target: the HTTP request path end to end. The bytes are sent as a raw request over
 * loopback to a real wherelog HTTP server (libmicrohttpd parsing, then our limits, sign-in,
 * routing, parameter parsing, the API, static files, live streams) on a small store, and the
 * answer is read to its end. The first byte chooses the server: even, open; odd, with sign-in
 * and an ACL. The server must answer or close, never crash, hang or leak.
 */
#include <crypt.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "api.h"
#include "auth.h"
#include "http.h"
#include "ingest.h"
#include "live.h"
#include "log.h"
#include "store.h"
#include "writer.h"

#ifndef FUZZ_WEB_DIR
#define FUZZ_WEB_DIR "web"
#endif

static unsigned ports[2];

static void write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    if (!f || fputs(text, f) < 0 || fclose(f) != 0)
        abort();
}

/* A few points for two users, so that the routes have something to show. */
static void fill(struct ingest *in)
{
    struct ingest_batch b;
    char payload[160];
    if (ingest_batch_init(&b))
        abort();
    for (int i = 0; i < 50; i++) {
        snprintf(payload, sizeof(payload),
                 "{\"_type\":\"location\",\"lat\":48.%d,\"lon\":2.%d,\"tst\":%d,\"tid\":\"j\"}", i,
                 i, 1700000000 + 60 * i);
        const char *topic = i % 2 ? "owntracks/jane/phone" : "owntracks/bob/car";
        ingest_mqtt(in, &b, topic, strlen(topic), payload, strlen(payload), 1700000000);
    }
    if (ingest_commit(in, &b, NULL) != 0)
        abort();
    ingest_batch_free(&b);
}

static unsigned start_server(struct store *store, struct ingest *in, struct auth *auth)
{
    struct live *live;
    struct api *api;
    struct http *http;
    struct api_options ao = {.version = "fuzz",
                             .git = "fuzz",
                             .visible = auth ? auth_visible : NULL,
                             .visible_arg = auth,
                             .may_delete = auth ? auth_may_delete : NULL};
    if (live_new(store, ao.visible, auth, &live) || api_new(store, in, &ao, &api))
        abort();
    ao.changed = live_changed;
    ao.changed_arg = live;
    for (unsigned port = 20000 + (unsigned)getpid() % 20000;; port++) {
        struct http_options ho = {.host = "127.0.0.1",
                                  .port = port,
                                  .docroot = FUZZ_WEB_DIR,
                                  .leaflet_dir = "/usr/share/javascript/leaflet",
                                  .max_body = 1 << 16,
                                  .connections = 64,
                                  .per_ip = 0,
                                  .timeout = 2,
                                  .threads = 2,
                                  .auth = auth};
        if (http_start(&ho, api, live, &http) == 0)
            return port; /* runs until the process ends */
    }
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    static char dir[] = "/tmp/wherelog-fuzz-http-XXXXXX";
    char path[256], users[256], line[512];
    struct store *store;
    struct writer *writer;
    struct ingest *in;
    struct auth *auth;
    struct crypt_data cd = {0};

    wl_log_set_level(getenv("FUZZ_LOG") ? WL_LOG_DEBUG : WL_LOG_ERROR);
    if (!mkdtemp(dir))
        abort();
    snprintf(path, sizeof(path), "%s/store", dir);
    if (store_open(path, NULL, &store) || writer_new(store, &writer) ||
        ingest_new(writer, store_keyring(store), 0, &in))
        abort();
    fill(in);
    /* jane:secret (bcrypt, cheapest cost), and an ACL letting jane see bob */
    const char *salt = crypt_gensalt_rn("$2b$", 4, NULL, 0, cd.setting, sizeof(cd.setting));
    snprintf(line, sizeof(line), "jane:%s\n", crypt_r("secret", salt, &cd));
    snprintf(users, sizeof(users), "%s/users", dir);
    write_text(users, line);
    snprintf(path, sizeof(path), "%s/acl", dir);
    write_text(path, "jane: bob\nroot: @admin\n");
    if (auth_new(users, path, &auth))
        abort();
    ports[0] = start_server(store, in, NULL);
    ports[1] = start_server(store, in, auth);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    struct timeval tv = {.tv_sec = 2};
    char buf[16384];

    if (size == 0)
        return 0;
    sa.sin_port = htons((uint16_t)ports[data[0] & 1]);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return 0;
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 &&
        send(fd, data + 1, size - 1, MSG_NOSIGNAL) >= 0) {
        shutdown(fd, SHUT_WR);
        /* Read what comes. The server answers at once but keeps the connection open after
         * that (keep-alive, live streams), so stop at the end of a response with a length,
         * or once it has been quiet for a moment. */
        struct pollfd p = {.fd = fd, .events = POLLIN};
        size_t have = 0;
        int wait_ms = 100;
        ssize_t n;
        while (poll(&p, 1, wait_ms) > 0 &&
               (n = recv(fd, buf + have, sizeof(buf) - 1 - have, 0)) > 0) {
            have += (size_t)n;
            buf[have] = '\0';
            char *end = strstr(buf, "\r\n\r\n"), *cl = strcasestr(buf, "\r\nContent-Length: ");
            if (end && cl && cl < end &&
                have - (size_t)(end + 4 - buf) >= strtoull(cl + 18, NULL, 10))
                break;
            if (have == sizeof(buf) - 1)
                have = 0; /* a long body: keep reading, forget the start */
            wait_ms = 20;
        }
    }
    close(fd);
    return 0;
}
