#include "http.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <gnutls/crypto.h>
#include <limits.h>
#include <microhttpd.h>
#include <netdb.h>
#include <pthread.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "hist.h"
#include "log.h"
#include "prom.h"
#include "route.h"
#include "wl.h"

/* libmicrohttpd's memory pool per connection: the request line and headers must fit, and a
 * streamed (chunked) response is sent from the part the request left free. libmicrohttpd
 * clears the whole pool between the requests of a kept-alive connection, so a bigger pool
 * costs every small request: 64 KiB made a year of JSON faster but cut wrk's /api/0/last
 * rate by a quarter. */
#define CONNECTION_MEMORY (32u << 10)
#define STREAM_BLOCK      (32u << 10) /* bytes handed to libmicrohttpd per read of a stream */
#define PATH_LOG_MAX      200
/* Why a query is refused: the parameter's name and the escape are quoted and cut to fit. */
#define QUERY_REASON_MAX 160
/* HTTP threads run this much nicer than the rest: on a small board, serving a year-long
 * export must not slow down storing what phones send. (Linux sets nice values per thread.) */
#define HTTP_NICE 5

static const unsigned counted_status[] = {101, 200, 204, 304, 400, 401, 403,
                                          404, 405, 413, 416, 429, 500, 503};
#define NSTATUS WL_ARRAY_LEN(counted_status) /* and one more slot for the others */
static const double latency_bounds[] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                        0.1,    0.25,  0.5,    1,     2.5,  5,     10};

struct http_metrics {
    pthread_mutex_t lock;
    /* by route_metrics_slot(): the rows that share a label share a slot */
    uint64_t requests[ROUTE_MAX][NSTATUS + 1];
    struct hist latency[ROUTE_MAX]; /* streams excluded: they last as long as the client */
};

struct http {
    struct MHD_Daemon *daemon;
    struct http_metrics metrics;
    struct api *api;
    struct live *live;
    struct http_options opt;
    int nice;                          /* the priority HTTP threads take */
    char docroot[PATH_MAX];            /* realpath()ed */
    char leaflet_dir[PATH_MAX];        /* realpath()ed, "" if missing */
    char *tls_cert, *tls_key;          /* PEM text, kept while the daemon runs */
    char all_methods[ROUTE_ALLOW_MAX]; /* what the routes answer together, for preflights */
};

/* What one request accumulates while libmicrohttpd reads it. */
struct request {
    struct http *h;
    struct MHD_Connection *c;
    struct sink body;
    bool started;    /* the first call of the access handler has been */
    bool nul_in_uri; /* "%00" in the raw request target: refused */
    bool too_big;
    bool signed_in;
    struct auth_who who;   /* the authenticated user (and token), when signed_in */
    const char *challenge; /* WWW-Authenticate of a 401 */
    const struct route *route;
    char method[8];
    char path[PATH_LOG_MAX];
    char bad_escape[QUERY_REASON_MAX]; /* why the raw query is not well encoded, or "" */
    unsigned status;
    struct timespec start;
    /* form-encoded body, decoded on first use */
    bool form_parsed;
    char **form; /* key, value, key, value... pointing into form_buf */
    size_t nform;
    char *form_buf;
    /* a WebSocket whose 101 is queued, until the upgrade hands its connection over */
    struct live_ws *ws;
};

static enum api_method method_of(const char *m)
{
    static const struct {
        const char *name;
        enum api_method method;
    } names[] = {{"GET", API_GET},    {"HEAD", API_HEAD},     {"POST", API_POST},
                 {"PUT", API_PUT},    {"DELETE", API_DELETE}, {"OPTIONS", API_OPTIONS},
                 {"PATCH", API_PATCH}};
    for (size_t i = 0; i < WL_ARRAY_LEN(names); i++)
        if (strcmp(m, names[i].name) == 0)
            return names[i].method;
    return API_OTHER;
}

static const char *client_address(struct MHD_Connection *c, char *buf, size_t size)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    snprintf(buf, size, "?");
    if (!ci || !ci->client_addr)
        return buf;
    const struct sockaddr *sa = ci->client_addr;
    if (sa->sa_family == AF_INET)
        inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, buf, (socklen_t)size);
    else if (sa->sa_family == AF_INET6)
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, buf, (socklen_t)size);
    return buf;
}

/* ---------------------------------------------------------------- parameters */

static int hexval(char c)
{
    return c >= '0' && c <= '9'                     ? c - '0'
           : (c | 0x20) >= 'a' && (c | 0x20) <= 'f' ? (c | 0x20) - 'a' + 10
                                                    : -1;
}

/* Decodes application/x-www-form-urlencoded text in place ('+' is a space; a '%' not followed
 * by two hex digits stays as it is, as browsers do). */
static void form_decode(char *s)
{
    char *o = s;
    for (char *p = s; *p; p++) {
        if (*p == '+') {
            *o++ = ' ';
        } else if (*p == '%' && hexval(p[1]) >= 0 && hexval(p[2]) >= 0) {
            *o++ = (char)(hexval(p[1]) * 16 + hexval(p[2]));
            p += 2;
        } else {
            *o++ = *p;
        }
    }
    *o = '\0';
}

/*
 * libmicrohttpd decodes query arguments leniently: a '%' not followed by two hex digits is
 * kept as it is, so "user=%zz" would ask for a user named "%zz" and get an empty answer,
 * hiding the client's bug. Finds the first malformed escape in a raw query and writes into
 * `why` which parameter holds it; leaves `why` empty when the query is well encoded.
 */
static void check_query_escapes(const char *query, char *why, size_t size)
{
    why[0] = '\0';
    for (const char *p = query; *p && *p != '#'; p++) {
        if (*p != '%' || (hexval(p[1]) >= 0 && hexval(p[2]) >= 0))
            continue;
        const char *pair = p, *eq;
        while (pair > query && pair[-1] != '&')
            pair--;
        size_t esc_len = 1;
        while (esc_len < 3 && p[esc_len] && p[esc_len] != '&' && p[esc_len] != '#')
            esc_len++;
        char name[48], esc[16];
        wl_log_quote(esc, sizeof(esc), p, esc_len);
        if ((eq = memchr(pair, '=', (size_t)(p - pair)))) {
            wl_log_quote(name, sizeof(name), pair, (size_t)(eq - pair));
            snprintf(why, size,
                     "bad parameter %s: malformed percent-encoding \"%s\" (a '%%' must be "
                     "followed by two hex digits)",
                     name, esc);
        } else {
            snprintf(why, size,
                     "malformed percent-encoding \"%s\" in a parameter name (a '%%' must be "
                     "followed by two hex digits)",
                     esc);
        }
        return;
    }
}

static void parse_form(struct request *r)
{
    static const char form_type[] = "application/x-www-form-urlencoded"; /* then ";charset" */
    const char *type = MHD_lookup_connection_value(r->c, MHD_HEADER_KIND, "Content-Type");
    r->form_parsed = true;
    if (!type || strncasecmp(type, form_type, sizeof(form_type) - 1) != 0 || !r->body.len)
        return;
    r->form_buf = malloc(r->body.len + 1);
    size_t pairs = 1;
    for (size_t i = 0; i < r->body.len; i++)
        pairs += r->body.buf[i] == '&';
    r->form = calloc(2 * pairs, sizeof(char *));
    if (!r->form_buf || !r->form)
        return;
    memcpy(r->form_buf, r->body.buf, r->body.len);
    r->form_buf[r->body.len] = '\0';
    for (char *save = NULL, *kv = strtok_r(r->form_buf, "&", &save); kv;
         kv = strtok_r(NULL, "&", &save)) {
        char *eq = strchr(kv, '=');
        if (eq)
            *eq = '\0';
        form_decode(kv);
        if (eq)
            form_decode(eq + 1);
        r->form[2 * r->nform] = kv;
        r->form[2 * r->nform + 1] = eq ? eq + 1 : (char *)"";
        r->nform++;
    }
}

static const char *req_header(void *ctx, const char *name)
{
    struct request *r = ctx;
    return MHD_lookup_connection_value(r->c, MHD_HEADER_KIND, name);
}

static const char *req_query(void *ctx, const char *name)
{
    struct request *r = ctx;
    return MHD_lookup_connection_value(r->c, MHD_GET_ARGUMENT_KIND, name);
}

static const char *req_param(void *ctx, const char *name)
{
    struct request *r = ctx;
    char header[64];
    const char *v;

    snprintf(header, sizeof(header), "X-Limit-%s", name);
    if ((v = req_header(ctx, header)) || (v = req_query(ctx, name)))
        return v;
    if (!r->form_parsed)
        parse_form(r);
    for (size_t i = 0; i < r->nform; i++)
        if (strcmp(r->form[2 * i], name) == 0)
            return r->form[2 * i + 1];
    return NULL;
}

/* ---------------------------------------------------------------- responses */

static void common_headers(struct request *r, struct MHD_Response *mr, bool api)
{
    MHD_add_response_header(mr, "X-Content-Type-Options", "nosniff");
    if (!api)
        return;
    MHD_add_response_header(mr, "Cache-Control", "no-store");
    if (r->h->opt.cors_origin) {
        MHD_add_response_header(mr, "Access-Control-Allow-Origin", r->h->opt.cors_origin);
        if (strcmp(r->h->opt.cors_origin, "*") != 0)
            MHD_add_response_header(mr, "Vary", "Origin");
    }
}

static enum MHD_Result queue(struct request *r, unsigned status, struct MHD_Response *mr)
{
    if (!mr)
        return MHD_NO;
    r->status = status;
    enum MHD_Result ret = MHD_queue_response(r->c, status, mr);
    MHD_destroy_response(mr);
    return ret;
}

/* A streamed body: the API's fill() is asked for more whenever the buffer runs dry. */
struct stream {
    struct sink buf;
    int (*fill)(void *, struct sink *, size_t);
    void (*release)(void *);
    void *state;
    bool done;
};

static ssize_t stream_read(void *cls, uint64_t pos, char *out, size_t max)
{
    struct stream *st = cls;
    (void)pos;
    /* Topped up to all that libmicrohttpd asks for (max) each time: a fill's last point
     * overshoots max, and sending that rest on its own doubled the writes (a year of JSON went
     * out as 381 writes of 32 KB and 381 scraps of 95 bytes). */
    if (st->buf.len < max && !st->done) {
        int rc = st->fill(st->state, &st->buf, max);
        if (rc < 0) {
            wl_log(WL_LOG_ERROR, "http", "response stream failed: %s", wl_strerror(rc));
            return MHD_CONTENT_READER_END_WITH_ERROR;
        }
        st->done = rc == 0;
    }
    if (st->buf.len == 0)
        return MHD_CONTENT_READER_END_OF_STREAM;
    size_t n = st->buf.len < max ? st->buf.len : max;
    memcpy(out, st->buf.buf, n);
    sink_consume(&st->buf, n);
    return (ssize_t)n;
}

static void stream_free(void *cls)
{
    struct stream *st = cls;
    st->release(st->state);
    sink_free(&st->buf);
    free(st);
}

static enum MHD_Result respond_api(struct request *r, struct api_response *resp)
{
    struct MHD_Response *mr;
    char retry[16];

    if (resp->fill) {
        struct stream *st = calloc(1, sizeof(*st));
        if (!st) {
            resp->release(resp->state);
            return MHD_NO;
        }
        st->buf = resp->body; /* the stream owns the buffer from here */
        resp->body = (struct sink){0};
        st->fill = resp->fill;
        st->release = resp->release;
        st->state = resp->state;
        mr = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, STREAM_BLOCK, stream_read, st,
                                               stream_free);
        if (!mr) {
            stream_free(st);
            return MHD_NO;
        }
    } else {
        mr = MHD_create_response_from_buffer(resp->body.len, resp->body.buf, MHD_RESPMEM_MUST_COPY);
        if (!mr)
            return MHD_NO;
    }
    MHD_add_response_header(mr, "Content-Type", resp->content_type);
    if (resp->disposition[0])
        MHD_add_response_header(mr, "Content-Disposition", resp->disposition);
    if (resp->allow)
        MHD_add_response_header(mr, "Allow", resp->allow);
    if (resp->rejected[0])
        MHD_add_response_header(mr, "X-Wherelog-Rejected", resp->rejected);
    if (resp->retry_after) {
        snprintf(retry, sizeof(retry), "%u", resp->retry_after);
        MHD_add_response_header(mr, "Retry-After", retry);
    }
    if (resp->status == MHD_HTTP_UNAUTHORIZED)
        MHD_add_response_header(mr, "WWW-Authenticate",
                                r->challenge ? r->challenge
                                             : "Basic realm=\"wherelog\", charset=\"UTF-8\"");
    common_headers(r, mr, true);
    return queue(r, resp->status, mr);
}

static enum MHD_Result respond_error(struct request *r, unsigned status, const char *allow,
                                     const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static enum MHD_Result respond_error(struct request *r, unsigned status, const char *allow,
                                     const char *fmt, ...)
{
    struct api_response resp = {.allow = allow,
                                .retry_after = status == 429 ? AUTH_FAIL_WINDOW_S : 0};
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (sink_init_mem(&resp.body, 256))
        return MHD_NO;
    api_error(&resp, status, "%s", msg);
    enum MHD_Result ret = respond_api(r, &resp);
    sink_free(&resp.body);
    return ret;
}

/* ---------------------------------------------------------------- static files */

static const char *mime_type(const char *path)
{
    static const struct {
        const char *ext, *type;
    } types[] = {{".html", "text/html; charset=utf-8"},
                 {".css", "text/css; charset=utf-8"},
                 {".js", "text/javascript; charset=utf-8"},
                 {".mjs", "text/javascript; charset=utf-8"},
                 {".json", "application/json; charset=utf-8"},
                 {".webmanifest", "application/manifest+json"},
                 {".svg", "image/svg+xml"},
                 {".png", "image/png"},
                 {".jpg", "image/jpeg"},
                 {".ico", "image/x-icon"},
                 {".txt", "text/plain; charset=utf-8"},
                 {".map", "application/json"},
                 {".gpx", "application/gpx+xml"},
                 {".woff2", "font/woff2"},
                 {".yaml", "application/yaml; charset=utf-8"}};
    const char *dot = strrchr(path, '.');
    for (size_t i = 0; dot && i < WL_ARRAY_LEN(types); i++)
        if (strcasecmp(dot, types[i].ext) == 0)
            return types[i].type;
    return "application/octet-stream";
}

/* A request path must be plain: no "." or ".." segment, no backslash, no control byte. (The
 * path is already percent-decoded, so "%2e%2e" arrives here as "..".) */
static bool plain_path(const char *p)
{
    for (const char *seg = p; *seg;) {
        const char *end = strchr(seg, '/');
        size_t len = end ? (size_t)(end - seg) : strlen(seg);
        if ((len == 1 && seg[0] == '.') || (len == 2 && seg[0] == '.' && seg[1] == '.'))
            return false;
        seg += len + (end != NULL);
    }
    for (const unsigned char *c = (const unsigned char *)p; *c; c++)
        if (*c < 0x20 || *c == 0x7f || *c == '\\')
            return false;
    return true;
}

static void http_date(time_t t, char *buf, size_t size)
{
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(buf, size, "%a, %d %b %Y %H:%M:%S GMT", &tm);
}

/* Whether an Accept-Encoding value (RFC 9110 §12.5.3) admits gzip: the token in any case,
 * unless its q parameter is 0. */
static bool accepts_gzip(const char *ae)
{
    for (const char *p = ae; p && *p;) {
        p += strspn(p, " \t,");
        const char *end = p + strcspn(p, ","), *params = p + strcspn(p, ",;");
        size_t n = (size_t)(params - p);
        while (n && (p[n - 1] == ' ' || p[n - 1] == '\t'))
            n--;
        if (n == 4 && strncasecmp(p, "gzip", 4) == 0) {
            for (const char *q = params; q < end && *q == ';'; q += strcspn(q + 1, ";,") + 1) {
                const char *name = q + 1 + strspn(q + 1, " \t");
                if (strncasecmp(name, "q=", 2) == 0)
                    return strtod(name + 2, NULL) > 0;
            }
            return true;
        }
        p = *end ? end + 1 : NULL;
    }
    return false;
}

/* Opens a regular file that realpath() puts inside root (symbolic links are followed, but the
 * file's real path must stay under the root's); -1 if there is none. */
static int open_under(const char *root, const char *path, char real[PATH_MAX], struct stat *st)
{
    size_t rootlen = strlen(root);
    if (!realpath(path, real) || strncmp(real, root, rootlen) != 0 ||
        (real[rootlen] != '/' && real[rootlen] != '\0'))
        return -1;
    int fd = open(real, O_RDONLY | O_CLOEXEC | O_NOFOLLOW); /* real has no links: keep it so */
    if (fd >= 0 && (fstat(fd, st) != 0 || !S_ISREG(st->st_mode))) {
        close(fd);
        fd = -1;
    }
    return fd;
}

/*
 * A static file, with ETag/Last-Modified revalidation. A client that accepts gzip gets FILE.gz
 * instead when one lies beside FILE and is not older (Debian's libjs-leaflet ships
 * leaflet.min.js.gz: 39 KB instead of 141 KB over a phone's link).
 */
static enum MHD_Result serve_file(struct request *r, const char *root, const char *rel)
{
    char want[PATH_MAX], real[PATH_MAX], real_gz[PATH_MAX], etag[64], modified[64];
    struct stat st, st_gz;

    if (!root[0] || !plain_path(rel))
        return respond_error(r, 404, NULL, "not found");
    int n = snprintf(want, sizeof(want), "%s/%s%s", root, rel,
                     rel[0] == '\0' || rel[strlen(rel) - 1] == '/' ? "index.html" : "");
    if (n < 0 || (size_t)n >= sizeof(want) - 3)
        return respond_error(r, 404, NULL, "not found");
    int fd = open_under(root, want, real, &st);
    if (fd < 0)
        return respond_error(r, 404, NULL, "not found");
    bool gzipped = false;
    if (accepts_gzip(req_header(r, "Accept-Encoding"))) {
        memcpy(want + n, ".gz", 4);
        int gz = open_under(root, want, real_gz, &st_gz);
        if (gz >= 0 && st_gz.st_mtime >= st.st_mtime) {
            close(fd);
            fd = gz;
            st = st_gz;
            gzipped = true;
        } else if (gz >= 0) {
            close(gz);
        }
    }
    snprintf(etag, sizeof(etag), "\"%llx-%llx\"", (unsigned long long)st.st_size,
             (unsigned long long)st.st_mtim.tv_sec * 1000000000ull +
                 (unsigned long long)st.st_mtim.tv_nsec);
    http_date(st.st_mtime, modified, sizeof(modified));
    const char *inm = MHD_lookup_connection_value(r->c, MHD_HEADER_KIND, "If-None-Match");
    const char *ims = MHD_lookup_connection_value(r->c, MHD_HEADER_KIND, "If-Modified-Since");
    struct MHD_Response *mr;
    unsigned status;
    if ((inm && strstr(inm, etag)) || (!inm && ims && strcmp(ims, modified) == 0)) {
        close(fd);
        mr = MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT);
        status = MHD_HTTP_NOT_MODIFIED;
    } else {
        mr = MHD_create_response_from_fd((uint64_t)st.st_size, fd); /* sendfile, closes fd */
        status = MHD_HTTP_OK;
        if (mr) {
            MHD_add_response_header(mr, "Content-Type", mime_type(real));
            if (gzipped)
                MHD_add_response_header(mr, "Content-Encoding", "gzip");
        } else {
            close(fd);
        }
    }
    if (!mr)
        return MHD_NO;
    MHD_add_response_header(mr, "ETag",
                            etag); /* the .gz has its own size and time, so its own tag */
    MHD_add_response_header(mr, "Last-Modified", modified);
    MHD_add_response_header(mr, "Cache-Control", "no-cache"); /* revalidate: cheap with ETag */
    MHD_add_response_header(mr, "Vary", "Accept-Encoding");
    common_headers(r, mr, false);
    return queue(r, status, mr);
}

/* ---------------------------------------------------------------- Server-Sent Events */

struct sse_conn {
    struct MHD_Connection *c;
    struct live_sse *client;
};

static void sse_suspend(void *arg)
{
    MHD_suspend_connection(((struct sse_conn *)arg)->c);
}

static void sse_resume(void *arg)
{
    MHD_resume_connection(((struct sse_conn *)arg)->c);
}

static ssize_t sse_read(void *cls, uint64_t pos, char *buf, size_t max)
{
    struct sse_conn *s = cls;
    (void)pos;
    ssize_t n = live_sse_read(s->client, buf, max);
    return n < 0 ? MHD_CONTENT_READER_END_OF_STREAM : n;
}

static void sse_free(void *cls)
{
    struct sse_conn *s = cls;
    live_sse_close(s->client);
    free(s);
}

static enum MHD_Result serve_sse(struct request *r)
{
    struct sse_conn *s = calloc(1, sizeof(*s));
    if (!s)
        return MHD_NO;
    s->c = r->c;
    s->client = live_sse_open(r->h->live, r->signed_in ? r->who.user : NULL,
                              req_header(r, "Last-Event-ID"), sse_suspend, sse_resume, s);
    if (!s->client) {
        free(s);
        return MHD_NO;
    }
    struct MHD_Response *mr =
        MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 4096, sse_read, s, sse_free);
    if (!mr) {
        sse_free(s);
        return MHD_NO;
    }
    MHD_add_response_header(mr, "Content-Type", "text/event-stream; charset=utf-8");
    MHD_add_response_header(mr, "X-Accel-Buffering", "no"); /* nginx: do not buffer */
    common_headers(r, mr, true);
    return queue(r, MHD_HTTP_OK, mr);
}

/* ---------------------------------------------------------------- WebSocket */

static void ws_done(void *arg)
{
    MHD_upgrade_action(arg, MHD_UPGRADE_ACTION_CLOSE);
}

static void ws_upgraded(void *cls, struct MHD_Connection *c, void *con_cls, const char *extra,
                        size_t extra_len, MHD_socket sock, struct MHD_UpgradeResponseHandle *urh)
{
    struct request *r = con_cls;
    struct live_ws *w = r->ws;
    (void)cls;
    (void)c;
    r->ws = NULL; /* the live module's now, whatever adopt says */
    if (live_ws_adopt(w, sock, extra, extra_len, ws_done, urh) != 0)
        MHD_upgrade_action(urh, MHD_UPGRADE_ACTION_CLOSE);
}

/* Does a comma-separated header value contain this token (case-blind)? */
static bool has_token(const char *value, const char *token)
{
    size_t n = strlen(token);
    for (const char *p = value; p && *p;) {
        while (*p == ' ' || *p == ',')
            p++;
        if (strncasecmp(p, token, n) == 0 && (p[n] == '\0' || p[n] == ',' || p[n] == ' '))
            return true;
        p = strchr(p, ',');
    }
    return false;
}

static enum MHD_Result serve_websocket(struct request *r)
{
    static const char guid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"; /* RFC 6455 */
    const char *upgrade = req_header(r, "Upgrade"), *conn = req_header(r, "Connection");
    const char *version = req_header(r, "Sec-WebSocket-Version");
    const char *key = req_header(r, "Sec-WebSocket-Key");
    unsigned char digest[20];
    char accept[64], buf[128];

    if (!upgrade || strcasecmp(upgrade, "websocket") != 0 || !has_token(conn, "upgrade") || !key ||
        strlen(key) != 24)
        return respond_error(r, 400, NULL, "a WebSocket handshake is expected here");
    if (!version || strcmp(version, "13") != 0) {
        struct MHD_Response *mr = MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT);
        if (mr)
            MHD_add_response_header(mr, "Sec-WebSocket-Version", "13");
        return queue(r, 426, mr);
    }
    snprintf(buf, sizeof(buf), "%s%s", key, guid);
    if (gnutls_hash_fast(GNUTLS_DIG_SHA1, buf, strlen(buf), digest) != 0)
        return MHD_NO;
    sodium_bin2base64(accept, sizeof(accept), digest, sizeof(digest),
                      sodium_base64_VARIANT_ORIGINAL);
    struct MHD_Response *mr = MHD_create_response_for_upgrade(ws_upgraded, r->h);
    if (!mr)
        return MHD_NO;
    /* Opened before the 101 is queued: libmicrohttpd calls ws_upgraded only after sending it,
     * and a client that has read it may already have published the point it waits for.
     * on_completed cancels it if the upgrade never happens. */
    if (!(r->ws = live_ws_open(r->h->live, r->signed_in ? r->who.user : NULL))) {
        MHD_destroy_response(mr);
        return MHD_NO;
    }
    MHD_add_response_header(mr, "Upgrade", "websocket");
    MHD_add_response_header(mr, "Connection", "Upgrade");
    MHD_add_response_header(mr, "Sec-WebSocket-Accept", accept);
    return queue(r, MHD_HTTP_SWITCHING_PROTOCOLS, mr);
}

/* ---------------------------------------------------------------- monitoring */

static void count_request(struct http *h, const struct route *route, unsigned status,
                          double seconds)
{
    size_t si = 0, slot = route_metrics_slot(route);
    while (si < NSTATUS && counted_status[si] != status)
        si++;
    pthread_mutex_lock(&h->metrics.lock);
    h->metrics.requests[slot][si]++;
    if (!route->streamed)
        hist_observe(&h->metrics.latency[slot], seconds);
    pthread_mutex_unlock(&h->metrics.lock);
}

/* Requests by route and status, and their latency: the HTTP part of GET /metrics. */
static void write_metrics(struct http *h, struct sink *out)
{
    struct http_metrics *m = malloc(sizeof(*m));
    char lb[128], code[8];
    if (!m)
        return;
    pthread_mutex_lock(&h->metrics.lock);
    memcpy(m->requests, h->metrics.requests, sizeof(m->requests));
    memcpy(m->latency, h->metrics.latency, sizeof(m->latency));
    pthread_mutex_unlock(&h->metrics.lock);

    prom_header(out, "wherelog_http_requests_total", "counter",
                "HTTP requests answered, by route and status (\"other\" for uncommon ones).");
    size_t nroutes;
    const struct route *routes = route_table(&nroutes);
    for (size_t r = 0; r < nroutes; r++) {
        for (size_t si = 0; si <= NSTATUS; si++) {
            if (!m->requests[r][si])
                continue;
            snprintf(code, sizeof(code), "%u", si < NSTATUS ? counted_status[si] : 0);
            lb[0] = '\0';
            prom_label(lb, sizeof(lb), "route", routes[r].label);
            prom_label(lb, sizeof(lb), "status", si < NSTATUS ? code : "other");
            prom_sample(out, "wherelog_http_requests_total", lb, (double)m->requests[r][si]);
        }
    }
    prom_header(out, "wherelog_http_request_seconds", "histogram",
                "Time from request to the end of the answer, by route (live streams excluded).");
    for (size_t r = 0; r < nroutes; r++) {
        if (!m->latency[r].count)
            continue;
        lb[0] = '\0';
        prom_hist(out, "wherelog_http_request_seconds",
                  prom_label(lb, sizeof(lb), "route", routes[r].label), &m->latency[r]);
    }
    free(m);
}

static enum MHD_Result serve_ops(struct request *r, enum route_door door)
{
    struct http *h = r->h;
    struct api_response resp = {.status = 200};
    bool metrics = door == ROUTE_METRICS;
    if (metrics ? !h->opt.metrics : !h->opt.health)
        return respond_error(r, 404, NULL, "not found");
    if (sink_init_mem(&resp.body, metrics ? 16384 : 256))
        return MHD_NO;
    if (metrics) {
        resp.content_type = "text/plain; version=0.0.4; charset=utf-8";
        h->opt.metrics(h->opt.ops_arg, &resp.body);
        write_metrics(h, &resp.body);
    } else {
        resp.content_type = "application/json";
        resp.status = h->opt.health(h->opt.ops_arg, &resp.body);
    }
    enum MHD_Result ret = resp.body.err ? MHD_NO : respond_api(r, &resp);
    sink_free(&resp.body);
    return ret;
}

/* ---------------------------------------------------------------- dispatch */

static enum MHD_Result preflight(struct request *r)
{
    struct MHD_Response *mr = MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT);
    if (!mr)
        return MHD_NO;
    MHD_add_response_header(mr, "Allow", r->h->all_methods);
    if (r->h->opt.cors_origin) {
        MHD_add_response_header(mr, "Access-Control-Allow-Methods", r->h->all_methods);
        MHD_add_response_header(mr, "Access-Control-Allow-Headers",
                                "Authorization, Content-Type, Last-Event-ID, X-Limit-U, "
                                "X-Limit-D, X-Limit-User, X-Limit-Device, X-Limit-From, "
                                "X-Limit-To, X-Limit-Fields");
        MHD_add_response_header(mr, "Access-Control-Max-Age", "600");
    }
    common_headers(r, mr, true);
    return queue(r, MHD_HTTP_NO_CONTENT, mr);
}

static enum MHD_Result serve_api(struct request *r, const char *url, enum api_method method)
{
    char client[INET6_ADDRSTRLEN];
    struct api_request req = {.method = method,
                              .path = url,
                              .param = req_param,
                              .query = req_query,
                              .header = req_header,
                              .ctx = r,
                              .body = r->body.buf,
                              .body_len = r->body.len,
                              .client = client_address(r->c, client, sizeof(client)),
                              .user = r->signed_in ? r->who.user : NULL};
    struct api_response resp = {0};
    if (sink_init_mem(&resp.body, 4096))
        return MHD_NO;
    r->route->handler[method](r->h->api, &req, &resp);
    enum MHD_Result ret = respond_api(r, &resp);
    sink_free(&resp.body);
    return ret;
}

static enum MHD_Result dispatch(struct request *r, const char *url, enum api_method method)
{
    const struct route *route = r->route;
    char allow[ROUTE_ALLOW_MAX], why[ROUTE_ALLOW_MAX + PATH_LOG_MAX];

    if (method == API_OPTIONS)
        return preflight(r);
    if (route->door == ROUTE_NO_API)
        return respond_error(r, 404, NULL, "no such endpoint: %s", url);
    if (!(route->methods & ROUTE_METHOD(method))) {
        bool files = route->door == ROUTE_FILES || route->door == ROUTE_LEAFLET;
        return respond_error(r, 405, route_allow(route, allow, sizeof(allow)), "%s",
                             files ? "static files are read-only"
                                   : route_refusal(route, url, why, sizeof(why)));
    }
    switch (route->door) {
    case ROUTE_API: return serve_api(r, url, method);
    case ROUTE_EVENTS: return serve_sse(r);
    case ROUTE_WEBSOCKET: return serve_websocket(r);
    case ROUTE_METRICS:
    case ROUTE_HEALTH: return serve_ops(r, route->door);
    case ROUTE_LEAFLET: return serve_file(r, r->h->leaflet_dir, url + strlen(route->path));
    case ROUTE_FILES:
    case ROUTE_NO_API: break;
    }
    return serve_file(r, r->h->docroot, url + 1);
}

/*
 * Called by libmicrohttpd with the request target as received, before it is decoded: the
 * only place an encoded NUL ("%00") can be seen, since the decoded path is a C string. Its
 * return value becomes the request's state.
 */
static void *on_uri(void *cls, const char *uri, struct MHD_Connection *c)
{
    struct request *r = calloc(1, sizeof(*r));
    (void)cls;
    if (!r)
        return NULL;
    r->c = c;
    for (const char *p = uri; (p = strchr(p, '%')); p++)
        if (p[1] == '0' && p[2] == '0')
            r->nul_in_uri = true;
    const char *query = strchr(uri, '?');
    if (query)
        check_query_escapes(query + 1, r->bad_escape, sizeof(r->bad_escape));
    clock_gettime(CLOCK_MONOTONIC, &r->start);
    return r;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version, const char *upload,
                                  size_t *upload_size, void **con_cls)
{
    struct http *h = cls;
    struct request *r = *con_cls;
    (void)version;

    if (!r)
        return MHD_NO; /* out of memory in on_uri */
    if (!r->started) { /* headers are in: set up, and refuse an announced oversized body */
        r->started = true;
        setpriority(PRIO_PROCESS, (id_t)gettid(), h->nice); /* cheap; no per-thread state */
        if (sink_init_mem(&r->body, 1024))
            return MHD_NO;
        r->h = h;
        r->c = c;
        snprintf(r->method, sizeof(r->method), "%s", method);
        wl_log_quote(r->path, sizeof(r->path), url, strlen(url));
        r->route = route_find(url);
        if (r->nul_in_uri)
            return respond_error(r, 400, NULL, "NUL (%%00) in the request");
        if (r->bad_escape[0] && r->route->reads_query && strcmp(method, "OPTIONS") != 0)
            return respond_error(r, 400, NULL, "%s", r->bad_escape);
        /* Preflights carry no credentials; health checks say nothing private. */
        if (h->opt.auth && strcmp(method, "OPTIONS") != 0 && r->route->caller != ROUTE_ANYONE) {
            char client[INET6_ADDRSTRLEN];
            switch (auth_check(h->opt.auth, req_header(r, "Authorization"),
                               client_address(c, client, sizeof(client)), &r->who)) {
            case AUTH_OK: r->signed_in = true; break;
            case AUTH_ANONYMOUS: break;
            case AUTH_THROTTLED:
                return respond_error(r, 429, NULL, "too many failed sign-ins; try again later");
            case AUTH_MISSING: return respond_error(r, 401, NULL, "sign in to use wherelog");
            case AUTH_DENIED: return respond_error(r, 401, NULL, "wrong user name or password");
            case AUTH_BAD_TOKEN:
                /* RFC 6750: a Bearer challenge, so a script is not asked for a password. */
                r->challenge = "Bearer realm=\"wherelog\", error=\"invalid_token\"";
                return respond_error(r, 401, NULL, "invalid, expired or revoked API token");
            case AUTH_UNAVAILABLE:
                return respond_error(r, 503, NULL, "cannot check the API token now");
            }
            if (r->signed_in && r->who.read_only && route_changes_data(r->route, method_of(method)))
                return respond_error(r, 403, NULL, "API token %s is read-only", r->who.token);
        }
        /* An announced oversized body is refused before it is sent (no 100 Continue). */
        const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Length");
        if (cl && strtoull(cl, NULL, 10) > h->opt.max_body) {
            r->too_big = true;
            return respond_error(r, 413, NULL, "request body larger than %zu bytes",
                                 h->opt.max_body);
        }
        return MHD_YES;
    }
    if (r->status) /* answered already (say, an oversized body): discard what still comes */
        return (*upload_size = 0, MHD_YES);
    if (*upload_size) {
        if (!r->too_big && r->body.len + *upload_size > h->opt.max_body) {
            r->too_big = true;
            sink_free(&r->body);
            sink_init_mem(&r->body, 64);
        }
        if (!r->too_big)
            sink_put(&r->body, upload, *upload_size);
        *upload_size = 0;
        return MHD_YES;
    }
    if (r->too_big)
        return respond_error(r, 413, NULL, "request body larger than %zu bytes", h->opt.max_body);
    if (r->body.err)
        return MHD_NO;
    return dispatch(r, url, method_of(method));
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                         enum MHD_RequestTerminationCode why)
{
    struct request *r = *con_cls;
    (void)cls;
    (void)why;
    if (!r)
        return;
    struct timespec end;
    clock_gettime(CLOCK_MONOTONIC, &end);
    double ms = (double)(end.tv_sec - r->start.tv_sec) * 1e3 +
                (double)(end.tv_nsec - r->start.tv_nsec) / 1e6;
    if (r->h && r->status)
        count_request(r->h, r->route, r->status, ms / 1e3);
    if (wl_log_enabled(WL_LOG_DEBUG)) {
        char client[INET6_ADDRSTRLEN], token[WL_LOG_QUOTE_SIZE] = "";
        if (r->who.token[0]) /* by its name: the secret is never logged */
            wl_log_quote(token, sizeof(token), r->who.token, strlen(r->who.token));
        wl_log(WL_LOG_DEBUG, "http",
               "request method=%s path=\"%s\" status=%u ms=%.1f client=%s%s%s%s%s%s", r->method,
               r->path, r->status, ms, client_address(c, client, sizeof(client)),
               r->signed_in ? " user=" : "", r->signed_in ? r->who.user : "",
               token[0] ? " token=\"" : "", token, token[0] ? "\"" : "");
    }
    if (r->ws)
        live_ws_cancel(r->ws); /* its upgrade did not happen */
    sink_free(&r->body);
    free(r->form);
    free(r->form_buf);
    free(r);
    *con_cls = NULL;
}

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
    char msg[512];
    (void)cls;
    vsnprintf(msg, sizeof(msg), fmt, ap);
    msg[strcspn(msg, "\n")] = '\0';
    wl_log(WL_LOG_WARN, "http", "%s", msg);
}

/* Reads a PEM file whole, NUL-terminated; caller frees. NULL (logged) if unreadable. */
static char *read_pem(const char *path)
{
    FILE *f = fopen(path, "re");
    struct stat st;
    char *text = NULL;

    if (f && fstat(fileno(f), &st) == 0 && st.st_size > 0 && st.st_size < (1 << 20) &&
        (text = malloc((size_t)st.st_size + 1))) {
        size_t n = fread(text, 1, (size_t)st.st_size, f);
        text[n] = '\0';
    }
    if (!text)
        wl_log(WL_LOG_ERROR, "http", "cannot read %s: %s", path,
               f ? "empty, too large, or unreadable" : strerror(errno));
    if (f)
        fclose(f);
    return text;
}

static void http_free(struct http *h)
{
    pthread_mutex_destroy(&h->metrics.lock);
    if (h->tls_key)
        sodium_memzero(h->tls_key, strlen(h->tls_key));
    free(h->tls_cert);
    free(h->tls_key);
    free(h);
}

int http_start(const struct http_options *opt, struct api *api, struct live *live,
               struct http **out)
{
    struct http *h = calloc(1, sizeof(*h));
    struct addrinfo hints = {.ai_flags = AI_PASSIVE | AI_NUMERICSERV, .ai_socktype = SOCK_STREAM},
                    *ai = NULL;
    char port[8];
    int rc;

    if (!h)
        return -ENOMEM;
    h->api = api;
    h->live = live;
    h->opt = *opt;
    route_allow(NULL, h->all_methods, sizeof(h->all_methods));
    pthread_mutex_init(&h->metrics.lock, NULL);
    for (size_t r = 0; r < ROUTE_MAX; r++)
        hist_init(&h->metrics.latency[r], latency_bounds, WL_ARRAY_LEN(latency_bounds));
    errno = 0;
    h->nice = getpriority(PRIO_PROCESS, 0) + HTTP_NICE;
    if (h->nice > 19)
        h->nice = 19;
    if (!realpath(opt->docroot, h->docroot)) {
        wl_log(WL_LOG_WARN, "http", "docroot %s: %s; static files will not be served", opt->docroot,
               strerror(errno));
        h->docroot[0] = '\0';
    }
    if (opt->leaflet_dir && !realpath(opt->leaflet_dir, h->leaflet_dir)) {
        wl_log(WL_LOG_WARN, "http", "Leaflet directory %s: %s (install libjs-leaflet)",
               opt->leaflet_dir, strerror(errno));
        h->leaflet_dir[0] = '\0';
    }
    if (opt->tls_cert) {
        if (MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES) {
            wl_log(WL_LOG_ERROR, "http", "this libmicrohttpd was built without TLS");
            http_free(h);
            return -ENOTSUP;
        }
        if (!(h->tls_cert = read_pem(opt->tls_cert)) || !(h->tls_key = read_pem(opt->tls_key))) {
            http_free(h);
            return -EINVAL;
        }
    }
    snprintf(port, sizeof(port), "%u", opt->port);
    if ((rc = getaddrinfo(opt->host, port, &hints, &ai)) != 0) {
        wl_log(WL_LOG_ERROR, "http", "cannot use address %s: %s", opt->host, gai_strerror(rc));
        http_free(h);
        return -EINVAL;
    }
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME |
                     MHD_ALLOW_UPGRADE | MHD_USE_ERROR_LOG;
    if (ai->ai_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    if (h->tls_cert)
        flags |= MHD_USE_TLS;
    /* The TLS options come last: with no certificate they are skipped (MHD_OPTION_END). */
    h->daemon = MHD_start_daemon(
        flags, (uint16_t)opt->port, NULL, NULL, on_request, h,
        /* the logger first, or libmicrohttpd complains about the options before it */
        MHD_OPTION_EXTERNAL_LOGGER, mhd_log, h, MHD_OPTION_SOCK_ADDR, ai->ai_addr,
        MHD_OPTION_THREAD_POOL_SIZE, opt->threads, MHD_OPTION_CONNECTION_LIMIT, opt->connections,
        MHD_OPTION_PER_IP_CONNECTION_LIMIT, opt->per_ip, MHD_OPTION_CONNECTION_TIMEOUT,
        opt->timeout, MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)CONNECTION_MEMORY,
        MHD_OPTION_NOTIFY_COMPLETED, on_completed, h, MHD_OPTION_URI_LOG_CALLBACK, on_uri, h,
        MHD_OPTION_SIGPIPE_HANDLED_BY_APP, 1,
        h->tls_cert ? MHD_OPTION_HTTPS_MEM_CERT : MHD_OPTION_END, h->tls_cert,
        MHD_OPTION_HTTPS_MEM_KEY, h->tls_key, MHD_OPTION_END);
    freeaddrinfo(ai);
    if (!h->daemon) {
        wl_log(WL_LOG_ERROR, "http", "cannot listen on %s:%u%s", opt->host, opt->port,
               h->tls_cert ? " (or the certificate and key do not match)" : "");
        http_free(h);
        return -EADDRINUSE;
    }
    wl_log(WL_LOG_INFO, "http", "listening on %s://%s%s%s:%u/%s", h->tls_cert ? "https" : "http",
           strchr(opt->host, ':') ? "[" : "", opt->host, strchr(opt->host, ':') ? "]" : "",
           opt->port, opt->auth && auth_required(opt->auth) ? " (sign-in required)" : "");
    *out = h;
    return 0;
}

void http_stop(struct http *h)
{
    if (!h)
        return;
    MHD_stop_daemon(h->daemon);
    http_free(h);
}
