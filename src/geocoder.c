#include "geocoder.h"

#include <ctype.h>
#include <curl/curl.h>
#include <errno.h>
#include <json-c/json.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "wl.h"

static const struct {
    const char *name, *url;
} kinds[] = {
    [GEOCODER_NOMINATIM] = {"nominatim", "https://nominatim.openstreetmap.org"},
    [GEOCODER_PHOTON] = {"photon", "https://photon.komoot.io"},
    [GEOCODER_OPENCAGE] = {"opencage", "https://api.opencagedata.com"},
};

const char *geocoder_kind_name(enum geocoder_kind kind)
{
    return kinds[kind].name;
}

/* ---------------------------------------------------------------- the setting */

static int parse_option(struct geocoder_spec *out, const char *opt, size_t len, char *why,
                        size_t whysize)
{
    char value[GEOCODER_URL_MAX];
    const char *eq = memchr(opt, '=', len);
    size_t name_len = eq ? (size_t)(eq - opt) : len, value_len = eq ? len - name_len - 1 : 0;

    if (!eq || value_len == 0 || value_len >= sizeof(value)) {
        snprintf(why, whysize, "'%.*s' is not NAME=VALUE (key-file or rate)", (int)len, opt);
        return -EINVAL;
    }
    memcpy(value, eq + 1, value_len);
    value[value_len] = '\0';
    if (name_len == 8 && memcmp(opt, "key-file", 8) == 0) {
        snprintf(out->key_file, sizeof(out->key_file), "%s", value);
        return 0;
    }
    if (name_len == 4 && memcmp(opt, "rate", 4) == 0) {
        char *end;
        double r = strtod(value, &end);
        if (*end || !isfinite(r) || r < 0.001 || r > 1000) {
            snprintf(why, whysize, "rate '%s' is not a number of requests a second in 0.001..1000",
                     value);
            return -EINVAL;
        }
        out->rate = r;
        return 0;
    }
    snprintf(why, whysize, "unknown option '%.*s' (key-file or rate)", (int)name_len, opt);
    return -EINVAL;
}

int geocoder_parse_spec(const char *text, struct geocoder_spec *out, char *why, size_t whysize)
{
    size_t kind_len = strcspn(text, ":,");
    const char *rest = text + kind_len;

    *out = (struct geocoder_spec){.rate = 1};
    size_t k = 0;
    for (; k < WL_ARRAY_LEN(kinds); k++)
        if (strlen(kinds[k].name) == kind_len && memcmp(text, kinds[k].name, kind_len) == 0)
            break;
    if (k == WL_ARRAY_LEN(kinds)) {
        snprintf(why, whysize, "'%.*s' is not nominatim, photon or opencage", (int)kind_len, text);
        return -EINVAL;
    }
    out->kind = (enum geocoder_kind)k;
    snprintf(out->url, sizeof(out->url), "%s", kinds[k].url);
    if (*rest == ':') {
        /* The URL runs to the first comma: URLs of geocoders have none. */
        size_t url_len = strcspn(rest + 1, ",");
        if (url_len == 0 || url_len >= sizeof(out->url) ||
            (strncmp(rest + 1, "http://", 7) != 0 && strncmp(rest + 1, "https://", 8) != 0)) {
            snprintf(why, whysize,
                     "the URL must start with http:// or https:// (at most %zu bytes)",
                     sizeof(out->url) - 1);
            return -EINVAL;
        }
        memcpy(out->url, rest + 1, url_len);
        out->url[url_len] = '\0';
        rest += 1 + url_len;
    }
    size_t n = strlen(out->url);
    while (n > 0 && out->url[n - 1] == '/')
        out->url[--n] = '\0';
    while (*rest == ',') {
        size_t len = strcspn(rest + 1, ",");
        if (parse_option(out, rest + 1, len, why, whysize))
            return -EINVAL;
        rest += 1 + len;
    }
    if (*rest) {
        snprintf(why, whysize, "unexpected '%s'", rest);
        return -EINVAL;
    }
    if (out->kind == GEOCODER_OPENCAGE && !out->key_file[0]) {
        snprintf(why, whysize, "opencage needs key-file=FILE (its API key)");
        return -EINVAL;
    }
    return 0;
}

/* ---------------------------------------------------------------- answers */

/* Copies a JSON string member into out, cut at a UTF-8 character boundary to fit. */
static void copy_text(char *out, size_t size, const char *s)
{
    size_t n = strnlen(s, size - 1);
    if (s[n]) /* cut: do not leave half a character */
        while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
            n--;
    memcpy(out, s, n);
    out[n] = '\0';
}

static const char *member_string(struct json_object *obj, const char *name)
{
    struct json_object *v;
    if (!obj || !json_object_object_get_ex(obj, name, &v) ||
        !json_object_is_type(v, json_type_string))
        return NULL;
    const char *s = json_object_get_string(v);
    return s && s[0] ? s : NULL;
}

/* The first of the members that names a settlement. */
static const char *settlement(struct json_object *obj, const char *const *names)
{
    for (; *names; names++) {
        const char *s = member_string(obj, *names);
        if (s)
            return s;
    }
    return NULL;
}

static void set_cc(struct geocoder_answer *out, const char *cc)
{
    if (cc && strlen(cc) == 2 && isalpha((unsigned char)cc[0]) && isalpha((unsigned char)cc[1])) {
        out->cc[0] = (char)toupper((unsigned char)cc[0]);
        out->cc[1] = (char)toupper((unsigned char)cc[1]);
        out->cc[2] = '\0';
    }
}

static const char *const locality_names[] = {"city",         "town",     "village", "hamlet",
                                             "municipality", "locality", NULL};

/* Nominatim (format=jsonv2): one place, or {"error": "Unable to geocode"} where there is none. */
static int nominatim_answer(struct json_object *root, struct geocoder_answer *out)
{
    struct json_object *address = NULL;
    if (!json_object_is_type(root, json_type_object))
        return -EPROTO;
    if (member_string(root, "error"))
        return 0;
    const char *display = member_string(root, "display_name");
    if (!display || !json_object_object_get_ex(root, "address", &address) ||
        !json_object_is_type(address, json_type_object))
        return -EPROTO;
    copy_text(out->addr, sizeof(out->addr), display);
    const char *loc = settlement(address, locality_names);
    if (loc)
        copy_text(out->locality, sizeof(out->locality), loc);
    set_cc(out, member_string(address, "country_code"));
    return 1;
}

/* Appends part to addr, after ", " when addr is not empty. */
static void add_part(char *addr, size_t size, const char *a, const char *b)
{
    char part[GEOCODER_ADDR_MAX];
    if (!a && !b)
        return;
    snprintf(part, sizeof(part), "%s%s%s", a ? a : "", a && b ? " " : "", b ? b : "");
    size_t n = strlen(addr);
    if (n && n + 2 < size) {
        memcpy(addr + n, ", ", 3);
        n += 2;
    }
    if (n + 1 < size)
        copy_text(addr + n, size - n, part);
}

/* Photon: a GeoJSON FeatureCollection; no features where there is nothing. Its properties are
 * the parts of an address, which are joined the way an address is written. */
static int photon_answer(struct json_object *root, struct geocoder_answer *out)
{
    struct json_object *features, *feature, *props;
    if (!json_object_is_type(root, json_type_object) ||
        !json_object_object_get_ex(root, "features", &features) ||
        !json_object_is_type(features, json_type_array))
        return -EPROTO;
    if (json_object_array_length(features) == 0)
        return 0;
    feature = json_object_array_get_idx(features, 0);
    if (!json_object_is_type(feature, json_type_object) ||
        !json_object_object_get_ex(feature, "properties", &props) ||
        !json_object_is_type(props, json_type_object))
        return -EPROTO;
    const char *name = member_string(props, "name"), *street = member_string(props, "street");
    const char *loc = settlement(props, locality_names);
    if (name && (!street || strcmp(name, street) != 0) && (!loc || strcmp(name, loc) != 0))
        add_part(out->addr, sizeof(out->addr), name, NULL);
    add_part(out->addr, sizeof(out->addr), street,
             street ? member_string(props, "housenumber") : NULL);
    add_part(out->addr, sizeof(out->addr), member_string(props, "postcode"), loc);
    add_part(out->addr, sizeof(out->addr), member_string(props, "country"), NULL);
    if (loc)
        copy_text(out->locality, sizeof(out->locality), loc);
    set_cc(out, member_string(props, "countrycode"));
    return out->addr[0] || out->cc[0] ? 1 : 0;
}

/* OpenCage: {"results": [...], "status": {"code": 200, ...}}; no results where there is
 * nothing. */
static int opencage_answer(struct json_object *root, struct geocoder_answer *out)
{
    struct json_object *status, *code, *results, *first, *components = NULL;
    if (!json_object_is_type(root, json_type_object) ||
        !json_object_object_get_ex(root, "status", &status) ||
        !json_object_object_get_ex(status, "code", &code) ||
        !json_object_is_type(code, json_type_int) || json_object_get_int(code) != 200 ||
        !json_object_object_get_ex(root, "results", &results) ||
        !json_object_is_type(results, json_type_array))
        return -EPROTO;
    if (json_object_array_length(results) == 0)
        return 0;
    first = json_object_array_get_idx(results, 0);
    const char *formatted = member_string(first, "formatted");
    if (!formatted)
        return -EPROTO;
    copy_text(out->addr, sizeof(out->addr), formatted);
    if (json_object_object_get_ex(first, "components", &components)) {
        static const char *const names[] = {"_normalized_city", "city",         "town", "village",
                                            "hamlet",           "municipality", NULL};
        const char *loc = settlement(components, names);
        if (loc)
            copy_text(out->locality, sizeof(out->locality), loc);
        set_cc(out, member_string(components, "country_code"));
    }
    return 1;
}

int geocoder_parse_answer(enum geocoder_kind kind, const char *body, size_t len,
                          struct geocoder_answer *out)
{
    struct json_tokener *tok = json_tokener_new();
    int rc = -EPROTO;

    *out = (struct geocoder_answer){0};
    if (!tok)
        return -ENOMEM;
    json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
    struct json_object *root = len <= GEOCODER_BODY_MAX && len <= INT32_MAX
                                   ? json_tokener_parse_ex(tok, body, (int)len)
                                   : NULL;
    if (root && json_tokener_get_error(tok) == json_tokener_success &&
        json_tokener_get_parse_end(tok) == len) {
        switch (kind) {
        case GEOCODER_NOMINATIM: rc = nominatim_answer(root, out); break;
        case GEOCODER_PHOTON: rc = photon_answer(root, out); break;
        case GEOCODER_OPENCAGE: rc = opencage_answer(root, out); break;
        }
    }
    if (rc != 1)
        *out = (struct geocoder_answer){0};
    json_object_put(root);
    json_tokener_free(tok);
    return rc;
}

/* ---------------------------------------------------------------- asking */

struct geocoder {
    struct geocoder_spec spec;
    char key[GEOCODER_KEY_MAX];
    char *user_agent;
    long timeout_ms;
    CURL *curl;
    char *body;
    size_t body_len;
    bool body_too_big;
    double next_at;       /* CLOCK_MONOTONIC seconds */
    double backoff_until; /* within next_at: a back-off rather than the rate */
    unsigned failures;    /* 429s and 5xx in a row */
};

int geocoder_global_init(void)
{
    return curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK ? 0 : -EIO;
}

void geocoder_global_cleanup(void)
{
    curl_global_cleanup();
}

int geocoder_new(const struct geocoder_spec *spec, const char *user_agent, long timeout_ms,
                 struct geocoder **out)
{
    struct geocoder *g = calloc(1, sizeof(*g));
    int rc;

    if (!g)
        return -ENOMEM;
    g->spec = *spec;
    g->timeout_ms = timeout_ms;
    if (spec->key_file[0] &&
        (rc = cfg_read_secret_file(spec->key_file, g->key, sizeof(g->key))) != 0)
        goto fail;
    if (spec->kind == GEOCODER_OPENCAGE && !g->key[0]) {
        rc = -EINVAL;
        goto fail;
    }
    g->user_agent = strdup(user_agent);
    g->body = malloc(GEOCODER_BODY_MAX + 1);
    g->curl = curl_easy_init();
    if (!g->user_agent || !g->body || !g->curl) {
        rc = -ENOMEM;
        goto fail;
    }
    *out = g;
    return 0;
fail:
    geocoder_free(g);
    return rc;
}

void geocoder_free(struct geocoder *g)
{
    if (!g)
        return;
    if (g->curl)
        curl_easy_cleanup(g->curl);
    memset(g->key, 0, sizeof(g->key));
    free(g->user_agent);
    free(g->body);
    free(g);
}

const struct geocoder_spec *geocoder_get_spec(const struct geocoder *g)
{
    return &g->spec;
}

double geocoder_next_at(const struct geocoder *g)
{
    return g->next_at;
}

bool geocoder_backing_off(const struct geocoder *g, double now)
{
    return g->backoff_until > now;
}

static size_t take_body(char *data, size_t size, size_t n, void *arg)
{
    struct geocoder *g = arg;
    size_t len = size * n;
    if (len > GEOCODER_BODY_MAX - g->body_len) {
        g->body_too_big = true;
        return 0; /* libcurl stops with CURLE_WRITE_ERROR */
    }
    memcpy(g->body + g->body_len, data, len);
    g->body_len += len;
    return len;
}

static int build_url(struct geocoder *g, double lat, double lon, char *url, size_t size)
{
    int n;
    switch (g->spec.kind) {
    case GEOCODER_NOMINATIM:
        n = snprintf(url, size,
                     "%s/reverse?format=jsonv2&lat=%.7f&lon=%.7f&zoom=18&addressdetails=1",
                     g->spec.url, lat, lon);
        break;
    case GEOCODER_PHOTON:
        n = snprintf(url, size, "%s/reverse?lat=%.7f&lon=%.7f&limit=1", g->spec.url, lat, lon);
        break;
    case GEOCODER_OPENCAGE: {
        char *key = curl_easy_escape(g->curl, g->key, 0);
        if (!key)
            return -ENOMEM;
        n = snprintf(url, size, "%s/geocode/v1/json?q=%.7f%%2C%.7f&key=%s&no_annotations=1&limit=1",
                     g->spec.url, lat, lon, key);
        curl_free(key);
        break;
    }
    default: return -EINVAL;
    }
    return n > 0 && (size_t)n < size ? 0 : -ENAMETOOLONG;
}

/* After a 429 or 5xx: wait what the provider asked for, or back off exponentially. */
static void back_off(struct geocoder *g, double now, long retry_after)
{
    double wait = GEOCODER_BACKOFF_MIN_S;
    for (unsigned i = 1; i < g->failures && wait < GEOCODER_BACKOFF_MAX_S; i++)
        wait *= 2;
    if (retry_after > 0)
        wait = (double)retry_after;
    if (wait > GEOCODER_BACKOFF_MAX_S)
        wait = GEOCODER_BACKOFF_MAX_S;
    g->backoff_until = now + wait;
    if (g->backoff_until > g->next_at)
        g->next_at = g->backoff_until;
}

int geocoder_reverse(struct geocoder *g, double lat, double lon, double now,
                     struct geocoder_answer *out, char *why, size_t whysize)
{
    char url[GEOCODER_URL_MAX + GEOCODER_KEY_MAX * 3 + 128];
    long status = 0;
    curl_off_t retry_after = 0;
    int rc;

    *out = (struct geocoder_answer){0};
    why[0] = '\0';
    g->next_at = now + 1 / g->spec.rate;
    if ((rc = build_url(g, lat, lon, url, sizeof(url)))) {
        snprintf(why, whysize, "the request's URL is too long");
        return rc;
    }
    g->body_len = 0;
    g->body_too_big = false;
    CURL *c = g->curl;
    curl_easy_reset(c);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_USERAGENT, g->user_agent);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, g->timeout_ms);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, g->timeout_ms);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L); /* a thread of a server: no SIGALRM */
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, take_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, g);
    CURLcode cc = curl_easy_perform(c);
    if (cc != CURLE_OK) {
        snprintf(why, whysize, "%s", curl_easy_strerror(cc));
        switch (cc) {
        case CURLE_OPERATION_TIMEDOUT: return -ETIMEDOUT;
        case CURLE_WRITE_ERROR: return g->body_too_big ? -E2BIG : -EIO;
        case CURLE_OUT_OF_MEMORY: return -ENOMEM;
        case CURLE_COULDNT_RESOLVE_HOST:
        case CURLE_COULDNT_RESOLVE_PROXY: return -EHOSTUNREACH;
        case CURLE_COULDNT_CONNECT: return -ECONNREFUSED;
        default: return -EPROTO;
        }
    }
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    if (status == 429 || status >= 500) {
        curl_easy_getinfo(c, CURLINFO_RETRY_AFTER, &retry_after);
        g->failures++;
        back_off(g, now,
                 retry_after > 0 && retry_after < GEOCODER_BACKOFF_MAX_S ? (long)retry_after
                 : retry_after > 0                                       ? GEOCODER_BACKOFF_MAX_S
                                                                         : 0);
        snprintf(why, whysize, "HTTP status %ld; asking again in %.0f s", status,
                 g->backoff_until - now);
        return -EAGAIN;
    }
    g->failures = 0;
    if (status == 401 || status == 402 || status == 403) {
        snprintf(why, whysize, "HTTP status %ld: the key or the quota was refused", status);
        return -EACCES;
    }
    /* Nominatim answers "nothing here" with 200 and an error object; OpenCage a bad query with
     * 400 and its status object: both are read. */
    if (status != 200 && status != 400 && status != 404) {
        snprintf(why, whysize, "HTTP status %ld", status);
        return -EPROTO;
    }
    rc = geocoder_parse_answer(g->spec.kind, g->body, g->body_len, out);
    if (rc == -EPROTO)
        snprintf(why, whysize, "HTTP status %ld with a body that is no %s answer", status,
                 kinds[g->spec.kind].name);
    else if (rc == 0 && status != 200)
        rc = -EPROTO;
    return rc;
}
