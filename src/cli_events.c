/* cli_events.c - `wherelog events` (the derived events, one JSON object per line) and
 * `wherelog webhook add|list|delete` (where a user's events are delivered). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "cli_internal.h"
#include "log.h"
#include "query.h"
#include "sink.h"
#include "store.h"
#include "wl.h"

#define EVENTS_OUT_BUFFER (64u << 10)

int cli_events(int argc, char **argv)
{
    struct cli_params p = {0};
    const char *kind = NULL;
    const struct cli_option opts[] = {
        {"user", "USER", "whose events (required)", &p.user, NULL},
        {"device", "DEVICE", "only this device's", &p.device, NULL},
        {"from", "TIME", "from this time (as export takes it)", &p.from, NULL},
        {"to", "TIME", "up to this time", &p.to, NULL},
        {"kind", "KIND[,KIND]",
         "only these kinds (stay_started, stay_ended, trip_started, "
         "trip_ended, battery_low, transition, silent, place_entered, place_left)",
         &kind, NULL}};
    static const struct request_rules rules = {
        .takes = REQUEST_USER | REQUEST_DEVICE | REQUEST_RANGE, .requires = REQUEST_USER};
    const struct cli_command cmd = {
        "events",
        "events --user USER [--device DEVICE] [--from TIME] [--to TIME] [--kind KINDS]",
        "Prints the events derived from a user's data (stays, trips, battery, regions,\n"
        "silences, places entered and left), one JSON object per line, each device's in time\n"
        "order.",
        CFG_ALL,
        opts,
        WL_ARRAY_LEN(opts),
        0,
        0};
    struct wl_config cfg;
    struct request_params rq;
    struct query_events *q = NULL;
    struct store *s;
    struct sink out;
    unsigned kinds = 0;
    size_t nargs;
    int rc = cfg_load(&cfg, &cmd, argc, argv, NULL, &nargs);

    if (rc)
        return cli_usage_status(rc);
    cli_setup_logging(&cfg);
    if (cli_request("events", &p, &rules, &rq))
        return 2;
    if (kind && store_event_kinds_parse(kind, &kinds) != 0) {
        fprintf(stderr, "wherelog events: --kind: '%s' is not a list of event kinds (see --help)\n",
                kind);
        return 2;
    }
    if (cli_open_store("events", &cfg, false, &s))
        return 1;
    if (sink_init_fd(&out, STDOUT_FILENO, EVENTS_OUT_BUFFER)) {
        store_close(s);
        return 1;
    }
    rc = query_events_open(s, rq.user, rq.given & REQUEST_DEVICE ? rq.device : NULL, rq.from, rq.to,
                           kinds, true, &q);
    while (rc == 0 && (rc = query_events_fill(q, &out, EVENTS_OUT_BUFFER / 2)) == 1)
        rc = sink_flush(&out);
    if (rc == 0)
        rc = sink_flush(&out);
    query_events_close(q);
    sink_free(&out);
    store_close(s);
    if (rc) {
        fprintf(stderr, "wherelog events: %s\n", wl_strerror(rc));
        return 1;
    }
    return 0;
}

static int print_webhook(void *arg, const struct store_webhook *w)
{
    (void)arg;
    char kinds[256] = "";
    size_t n = 0;
    for (int k = 1; k < STORE_EV_KIND_END && w->kinds; k++)
        if (w->kinds & STORE_EVENT_KIND_BIT(k))
            n += (size_t)snprintf(kinds + n, sizeof(kinds) - n, "%s%s", n ? "," : "",
                                  store_event_kind_name((enum store_event_kind)k));
    return printf("%u\t%s\t%s\t%s\t%s\n", w->id, w->user, w->url, w->kinds ? kinds : "all",
                  w->secret_len ? "signed" : "unsigned") < 0
               ? -EIO
               : 0;
}

int cli_webhook(int argc, char **argv)
{
    const char *user = NULL, *url = NULL, *kinds_text = NULL, *secret_file = NULL, *id_text = NULL;
    const struct cli_option opts[] = {
        {"user", "USER", "whose events (add, delete; list: only theirs)", &user, NULL},
        {"url", "URL", "add: where to POST them (http:// or https://)", &url, NULL},
        {"events", "KIND[,KIND]", "add: only these kinds (default: all)", &kinds_text, NULL},
        {"secret-file", "FILE", "add: sign each request with the first line of FILE (HMAC-SHA256)",
         &secret_file, NULL},
        {"id", "ID", "delete: which webhook (see list)", &id_text, NULL}};
    const struct cli_command cmd = {
        "webhook",
        "webhook add --user USER --url URL [--events KINDS] [--secret-file FILE] | "
        "webhook list [--user USER] | webhook delete --user USER --id ID",
        "Manages the webhooks that a running `wherelog serve` delivers a user's events to\n"
        "(a POST of each event as JSON, retried until answered 2xx; see the manual).",
        CFG_ALL,
        opts,
        WL_ARRAY_LEN(opts),
        1,
        1};
    struct wl_config cfg;
    struct store *s;
    const char *args[1];
    size_t nargs;
    char uname[OWNTRACKS_NAME_MAX + 1] = "";
    int rc = cfg_load(&cfg, &cmd, argc, argv, args, &nargs);

    if (rc)
        return cli_usage_status(rc);
    cli_setup_logging(&cfg);
    bool add = strcmp(args[0], "add") == 0, list = strcmp(args[0], "list") == 0,
         del = strcmp(args[0], "delete") == 0;
    if ((!add && !list && !del) || (add && (!user || !url)) || (del && (!user || !id_text))) {
        fprintf(stderr, "wherelog webhook: usage: wherelog %s\n", cmd.usage);
        return 2;
    }
    if (user && cli_name_arg("webhook", "--user", user, uname))
        return 2;

    struct store_webhook *w = calloc(1, sizeof(*w));
    if (!w)
        return 1;
    uint32_t id = 0;
    if (add) {
        snprintf(w->user, sizeof(w->user), "%s", uname);
        if (strlen(url) > STORE_URL_MAX ||
            (strncmp(url, "http://", 7) != 0 && strncmp(url, "https://", 8) != 0)) {
            fprintf(stderr,
                    "wherelog webhook: --url: an http:// or https:// URL of at most %d "
                    "bytes\n",
                    STORE_URL_MAX);
            free(w);
            return 2;
        }
        snprintf(w->url, sizeof(w->url), "%s", url);
        if (kinds_text && store_event_kinds_parse(kinds_text, &w->kinds) != 0) {
            fprintf(stderr, "wherelog webhook: --events: '%s' is not a list of event kinds\n",
                    kinds_text);
            free(w);
            return 2;
        }
        if (secret_file) {
            char secret[STORE_SECRET_MAX + 2];
            rc = cfg_read_secret_file(secret_file, secret, sizeof(secret));
            if (rc || !secret[0] || strlen(secret) > STORE_SECRET_MAX) {
                fprintf(stderr, "wherelog webhook: --secret-file %s: %s\n", secret_file,
                        rc ? strerror(-rc) : "the secret is empty or longer than 128 bytes");
                free(w);
                return 1;
            }
            w->secret_len = strlen(secret);
            memcpy(w->secret, secret, w->secret_len);
            memset(secret, 0, sizeof(secret));
        }
    } else if (del) {
        char *end;
        unsigned long v = strtoul(id_text, &end, 10);
        if (*end || !*id_text || v == 0 || v > UINT32_MAX) {
            fprintf(stderr, "wherelog webhook: --id: '%s' is not a webhook id (see list)\n",
                    id_text);
            free(w);
            return 2;
        }
        id = (uint32_t)v;
    }
    if (cli_open_store("webhook", &cfg, !list, &s)) {
        free(w);
        return 1;
    }
    if (add) {
        rc = store_webhook_add(s, w, &id);
        if (rc == 0)
            printf("%u\n", id);
    } else if (list) {
        rc = store_webhook_list(s, user ? uname : NULL, print_webhook, NULL);
    } else {
        rc = store_webhook_delete(s, uname, id);
        if (rc == -ENOENT)
            fprintf(stderr, "wherelog webhook: %s has no webhook %u\n", uname, id);
    }
    memset(w, 0, sizeof(*w));
    free(w);
    store_close(s);
    if (rc && rc != -ENOENT)
        fprintf(stderr, "wherelog webhook: %s\n",
                rc == -ENOSPC ? "too many webhooks (256)" : wl_strerror(rc));
    return rc ? 1 : 0;
}
