/* The live hub's WebSocket clients: where in the stream a client starts, and that a client
 * opened when its upgrade is answered gets the events stored before its connection is handed
 * over (the HTTP server hands it over only after the 101 is sent; the client may act first). */
#include <criterion/criterion.h>
#include <json-c/json.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "live.h"
#include "pack.h"
#include "sink.h"
#include "store.h"

static struct live *lv;
static atomic_int done_calls;

static void setup(void)
{
    cr_assert_eq(live_new(NULL, NULL, NULL, &lv), 0);
    atomic_store(&done_calls, 0);
}

static void teardown(void)
{
    live_free(lv);
}

/* Criterion's timeout ends a test whose frame never comes (the reads below block). */
TestSuite(live, .init = setup, .fini = teardown, .timeout = 60);

static void on_done(void *arg)
{
    (void)arg;
    atomic_fetch_add(&done_calls, 1);
}

/* What the writer's hook says after storing a location of jane's at tst. */
static void store_location(int64_t tst)
{
    char doc[96];
    snprintf(doc, sizeof(doc), "{\"_type\":\"location\",\"lat\":1.5,\"lon\":2.5,\"tst\":%lld}",
             (long long)tst);
    struct json_object *o = json_tokener_parse(doc);
    struct pack_encode_ctx ctx = {.type = "location", .tst = tst, .tst_member = true};
    struct sink buf;
    cr_assert_eq(sink_init_mem(&buf, 64), 0);
    cr_assert_eq(pack_encode(&buf, o, &ctx), 0);
    json_object_put(o);
    struct store_record rec = {.kind = OWNTRACKS_LOCATION,
                               .user = "jane",
                               .device = "phone",
                               .tst = tst,
                               .data = buf.buf,
                               .len = buf.len,
                               .received = 1};
    enum store_result res = STORE_STORED;
    live_committed(lv, &rec, &res, 1);
    sink_free(&buf);
}

static void read_all(int fd, void *buf, size_t len)
{
    for (size_t got = 0; got < len;) {
        ssize_t n = read(fd, (char *)buf + got, len - got);
        cr_assert_gt(n, 0, "the connection ended before a whole frame came");
        got += (size_t)n;
    }
}

/* The tst of the next frame the server sends on fd: an unmasked text frame of a location. */
static long long next_tst(int fd)
{
    unsigned char head[4];
    char text[1024];
    size_t len;
    read_all(fd, head, 2);
    cr_assert_eq(head[0], 0x81, "not a whole text frame: 0x%02x", head[0]);
    len = head[1] & 0x7f;
    if (len == 126) {
        read_all(fd, head + 2, 2);
        len = (size_t)head[2] << 8 | head[3];
    }
    cr_assert_lt(len, sizeof(text));
    read_all(fd, text, len);
    text[len] = '\0';
    const char *t = strstr(text, "\"tst\":");
    cr_assert_not_null(t, "no tst in %s", text);
    return strtoll(t + 6, NULL, 10);
}

Test(live, a_location_stored_before_the_connection_is_handed_over_reaches_the_client)
{
    struct live_ws *w = live_ws_open(lv, NULL);
    int sv[2];
    cr_assert_not_null(w);
    cr_assert_eq(live_clients(lv), 1, "counted from its opening on");
    store_location(1700000000);
    cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    cr_assert_eq(live_ws_adopt(w, sv[0], NULL, 0, on_done, NULL), 0);
    cr_assert_eq(next_tst(sv[1]), 1700000000);
    store_location(1700000060); /* and what comes later, after it */
    cr_assert_eq(next_tst(sv[1]), 1700000060);
    live_shutdown(lv); /* closes it: done() called once */
    cr_assert_eq(atomic_load(&done_calls), 1);
    cr_assert_eq(live_clients(lv), 0);
    close(sv[0]);
    close(sv[1]);
}

Test(live, a_client_starts_at_its_opening_not_before)
{
    int sv[2];
    store_location(1700000000); /* nobody listens: not kept for anyone */
    struct live_ws *w = live_ws_open(lv, NULL);
    cr_assert_not_null(w);
    store_location(1700000060);
    cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    cr_assert_eq(live_ws_adopt(w, sv[0], NULL, 0, on_done, NULL), 0);
    cr_assert_eq(next_tst(sv[1]), 1700000060);
    live_shutdown(lv);
    close(sv[0]);
    close(sv[1]);
}

Test(live, a_cancelled_client_is_no_longer_counted)
{
    struct live_ws *w = live_ws_open(lv, NULL);
    cr_assert_not_null(w);
    cr_assert_eq(live_clients(lv), 1);
    store_location(1700000000);
    live_ws_cancel(w);
    cr_assert_eq(live_clients(lv), 0);
    cr_assert_eq(atomic_load(&done_calls), 0, "done() is for adopted connections only");
}
