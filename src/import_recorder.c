/*
 * The OwnTracks Recorder importer: a Recorder store (rec/USER/DEVICE/YYYY-MM.rec, last/,
 * cards/, waypoints/) read through the shared import pipeline (import_internal.h), and its
 * reverse-geocoding cache (ghash/) into ours.
 */
#include <dirent.h>
#include <errno.h>
#include <json-c/json.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "array.h"
#include "geohash.h"
#include "import_internal.h"
#include "log.h"
#include "wl.h"
#include "wtime.h"

int import_parse_rec_line(const char *line, size_t len, struct import_rec_line *out)
{
    const char *tab1 = memchr(line, '\t', len);
    if (!tab1)
        return -EINVAL;
    const char *rest = tab1 + 1;
    const char *tab2 = memchr(rest, '\t', len - (size_t)(rest - line));
    if (!tab2)
        return -EINVAL;
    /* Column 1 is exactly YYYY-MM-DDTHH:MM:SSZ. */
    char stamp[WTIME_ISO_SIZE];
    struct wtime t;
    if (tab1 - line != WTIME_ISO_LEN)
        return -EINVAL;
    memcpy(stamp, line, WTIME_ISO_LEN);
    stamp[WTIME_ISO_LEN] = '\0';
    if (stamp[WTIME_ISO_LEN - 1] != 'Z' || wtime_parse(stamp, &t) != 0 || t.span != 1)
        return -EINVAL;
    out->time = t.t;
    /* Column 2 is left-justified and space-padded to 18 characters. */
    size_t rl = (size_t)(tab2 - rest);
    while (rl && rest[rl - 1] == ' ')
        rl--;
    out->reltopic = rest;
    out->reltopic_len = rl;
    out->payload = tab2 + 1;
    out->payload_len = len - (size_t)(out->payload - line);
    while (out->payload_len && (out->payload[out->payload_len - 1] == '\n' ||
                                out->payload[out->payload_len - 1] == '\r'))
        out->payload_len--;
    return 0;
}

static bool rec_file_name(const char *name)
{
    /* YYYY-MM.rec, as ot-recorder names its month files */
    return strlen(name) == 11 && strspn(name, "0123456789") == 4 && name[4] == '-' &&
           strspn(name + 5, "0123456789") == 2 && strcmp(name + 7, ".rec") == 0;
}

static int compare_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The sorted entries of a directory (skipping dot files); caller frees with free_names. */
static char **list_dir(const char *path, size_t *n)
{
    DIR *d = opendir(path);
    struct dirent *e;
    char **v = NULL;
    size_t cap = 0;

    *n = 0;
    if (!d)
        return NULL;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        char **nv = array_reserve(v, &cap, *n + 1, sizeof(*v), 16);
        if (!nv)
            break;
        v = nv;
        if (!(v[*n] = strdup(e->d_name)))
            break;
        (*n)++;
    }
    closedir(d);
    if (*n)
        qsort(v, *n, sizeof(*v), compare_names);
    return v;
}

static void free_names(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

/* Reads a small whole file (a last/, cards/ or waypoints/ JSON file) and its modification
 * time. Caller frees. */
static char *read_small(const char *path, size_t *len, int64_t *mtime)
{
    FILE *f = fopen(path, "r");
    char *buf = NULL;
    if (!f)
        return NULL;
    struct stat st;
    if (fstat(fileno(f), &st) == 0 && st.st_size >= 0 && st.st_size <= OWNTRACKS_PAYLOAD_MAX &&
        (buf = malloc((size_t)st.st_size + 1))) {
        *len = fread(buf, 1, (size_t)st.st_size, f);
        /* a file time no message could have (a broken clock): the import's own */
        int64_t m = (int64_t)st.st_mtime; /* time_t may be 32 bits */
        *mtime = m >= WTIME_MIN && m <= WTIME_MAX ? m : (int64_t)time(NULL);
        buf[*len] = '\0';
        while (*len && (buf[*len - 1] == '\n' || buf[*len - 1] == '\r'))
            buf[--*len] = '\0';
    }
    fclose(f);
    return buf;
}

static int import_rec_file(struct imp *imp, size_t dev, const char *path)
{
    FILE *f = fopen(path, "r");
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    int rc = 0;

    if (!f) {
        import_error(imp, "cannot read %s: %s", path, strerror(errno));
        return 0;
    }
    imp->files++;
    /* Lines of any length: a POI image can make one far longer than the Recorder's 32 KiB. */
    while (rc == 0 && (len = getline(&line, &cap, f)) > 0) {
        struct import_rec_line rl;
        imp->bytes_done += (uint64_t)len;
        if (import_parse_rec_line(line, (size_t)len, &rl) != 0) {
            import_unreadable(imp, dev, "malformed .rec line (not TIMESTAMP<TAB>TOPIC<TAB>JSON)");
            continue;
        }
        if (rl.payload_len == 0 || rl.payload[0] != '{') {
            import_unreadable(imp, dev, "payload is not JSON (kept by the Recorder as text)");
            continue;
        }
        rc = import_feed(imp, dev, rl.payload, rl.payload_len, rl.time);
        import_progress(imp);
    }
    if (ferror(f) && rc == 0)
        import_error(imp, "error reading %s: %s", path, strerror(errno));
    free(line);
    fclose(f);
    return rc;
}

/* Paths inside a Recorder store: longer ones fail in open() anyway (ENAMETOOLONG). */
#define REC_PATH_MAX PATH_MAX

/* Formats a path into buf[REC_PATH_MAX]. A path that does not fit is never cut (a cut path
 * names another file): it is reported (unless imp is NULL) as a source that cannot be read,
 * and -ENAMETOOLONG is returned. */
static int rec_path(struct imp *imp, char *buf, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int rec_path(struct imp *imp, char *buf, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, REC_PATH_MAX, fmt, ap);
    va_end(ap);
    if (n >= 0 && n < REC_PATH_MAX)
        return 0;
    /* Its end says which user, device or file: the beginning is the store's directory. */
    if (imp)
        import_error(imp, "skipping a path longer than %d bytes: ...%s...", REC_PATH_MAX - 1,
                     buf + strlen(buf) - (strlen(buf) > 200 ? 200 : strlen(buf)));
    return -ENAMETOOLONG;
}

/* The original topic spelling, from last/U/D/U-D.json (the directory names were rewritten). */
static void recover_topic(struct imp *imp, size_t dev, const char *dir, const char *u,
                          const char *d)
{
    char path[REC_PATH_MAX];
    size_t len;
    int64_t mtime;
    if (rec_path(imp, path, "%s/last/%s/%s/%s-%s.json", dir, u, d, u, d) != 0)
        return;
    char *text = read_small(path, &len, &mtime);
    struct json_object *o = text ? json_tokener_parse(text) : NULL, *t;
    if (o && json_object_object_get_ex(o, "topic", &t) &&
        json_object_is_type(t, json_type_string)) {
        if ((size_t)json_object_get_string_len(t) <= STORE_TOPIC_MAX)
            memcpy(imp->devs[dev]->topic, json_object_get_string(t),
                   (size_t)json_object_get_string_len(t) + 1);
        else /* a cut topic would be a wrong one: keep none, as for a device without last/ */
            wl_log(WL_LOG_WARN, "import", "%s: topic longer than %d bytes, not kept", path,
                   STORE_TOPIC_MAX);
    }
    json_object_put(o);
    free(text);
}

/* cards/U/D/U-D.json and waypoints/U/D/ (one file per waypoint, and the .otrw list). */
static int import_side_files(struct imp *imp, size_t dev, const char *dir, const char *u,
                             const char *d)
{
    char path[REC_PATH_MAX], fpath[REC_PATH_MAX];
    size_t len, n;
    int rc = 0;
    int64_t mtime;
    char *text;

    /* Cards and waypoint lists carry no time of their own: they are dated by their file's,
     * so that importing again finds them as duplicates. */
    if (rec_path(imp, path, "%s/cards/%s/%s/%s-%s.json", dir, u, d, u, d) == 0 &&
        (text = read_small(path, &len, &mtime))) {
        rc = import_feed(imp, dev, text, len, mtime);
        free(text);
    }
    if (rc || rec_path(imp, path, "%s/waypoints/%s/%s", dir, u, d) != 0)
        return rc;
    char **files = list_dir(path, &n);
    for (size_t i = 0; i < n && rc == 0; i++) {
        size_t fl = strlen(files[i]);
        if (fl < 5 ||
            (strcmp(files[i] + fl - 5, ".json") != 0 && strcmp(files[i] + fl - 5, ".otrw") != 0))
            continue;
        if (rec_path(imp, fpath, "%s/%s", path, files[i]) != 0)
            continue;
        if ((text = read_small(fpath, &len, &mtime))) {
            rc = import_feed(imp, dev, text, len, mtime);
            free(text);
        }
    }
    free_names(files, n);
    return rc;
}

/* ghash/: the Recorder's reverse-geocoding cache, stored as ours in batches. */
#define PLACES_BATCH 256

struct places_job {
    struct imp *imp;
    char keys[PLACES_BATCH][GEOHASH_SIZE];
    const char *key_ptrs[PLACES_BATCH];
    struct store_geo entries[PLACES_BATCH];
    size_t n;
    int rc;
};

static int places_flush(struct places_job *j)
{
    int rc = store_geo_put(j->imp->store, j->key_ptrs, j->entries, j->n);
    if (rc == 0)
        j->imp->places += j->n;
    j->n = 0;
    return rc;
}

static void take_string(struct json_object *o, const char *name, char *out, size_t size)
{
    struct json_object *v;
    if (json_object_object_get_ex(o, name, &v) && json_object_is_type(v, json_type_string))
        snprintf(out, size, "%s", json_object_get_string(v));
}

/* One entry: key a geohash, value {"cc","addr","tst","locality"?,"tzname"?}. The cache's
 * database also lists the Recorder's named databases (topic2tid, keys...), whose values are
 * no JSON: they count as unreadable. */
static int place_entry(void *arg, const char *key, size_t klen, const char *value, size_t vlen)
{
    struct places_job *j = arg;
    char k[GEOHASH_SIZE];
    struct json_object *o = NULL, *tst;
    struct json_tokener *tok = json_tokener_new();
    struct store_geo *e = &j->entries[j->n];

    if (!tok)
        return -ENOMEM;
    if (klen < sizeof(k)) {
        memcpy(k, key, klen);
        k[klen] = '\0';
        o = vlen < INT32_MAX ? json_tokener_parse_ex(tok, value, (int)vlen) : NULL;
    }
    *e = (struct store_geo){0};
    bool ok = klen < sizeof(k) && geohash_valid(k) && o &&
              json_object_is_type(o, json_type_object) &&
              json_object_object_get_ex(o, "tst", &tst) && json_object_is_type(tst, json_type_int);
    if (ok) {
        take_string(o, "cc", e->cc, sizeof(e->cc));
        take_string(o, "addr", e->addr, sizeof(e->addr));
        take_string(o, "locality", e->locality, sizeof(e->locality));
        take_string(o, "tzname", e->tzname, sizeof(e->tzname));
        snprintf(e->provider, sizeof(e->provider), "recorder");
        e->fetched = json_object_get_int64(tst);
        memcpy(j->keys[j->n], k, klen + 1);
        j->key_ptrs[j->n] = j->keys[j->n];
        if (++j->n == PLACES_BATCH)
            j->rc = places_flush(j);
    } else {
        j->imp->places_unreadable++;
    }
    json_object_put(o);
    json_tokener_free(tok);
    return j->rc;
}

static int import_places(struct imp *imp, const char *dir)
{
    char path[REC_PATH_MAX];
    struct stat st;
    if (rec_path(imp, path, "%s/ghash", dir) != 0 || stat(path, &st) != 0)
        return 0; /* a store without a cache */
    struct places_job *j = calloc(1, sizeof(*j));
    if (!j)
        return -ENOMEM;
    j->imp = imp;
    int rc = store_read_recorder_geo(path, place_entry, j);
    if (rc == 0 && j->n)
        rc = places_flush(j);
    if (rc == -ENOENT)
        rc = 0; /* ghash/ without data.mdb: nothing cached */
    else if (rc == WL_ESTORE)
        import_error(imp, "cannot read the place names in %s (see above)", path);
    free(j);
    return rc == WL_ESTORE ? 0 : rc;
}

int import_recorder(struct imp *imp, const char *dir)
{
    char path[REC_PATH_MAX], fpath[REC_PATH_MAX];
    size_t nusers, ndevs, nfiles;
    int rc = 0;

    if (rec_path(imp, path, "%s/rec", dir) != 0)
        return -ENAMETOOLONG;
    char **users = list_dir(path, &nusers);
    if (!users) {
        import_error(imp, "%s is not an OwnTracks Recorder store (no rec/ directory)", dir);
        return -ENOENT;
    }
    /* First the sizes, for the progress line's ETA; paths too long are reported in the
     * second pass, which reads. */
    for (int pass = 0; pass < 2 && rc == 0; pass++) {
        struct imp *report = pass ? imp : NULL;
        for (size_t u = 0; u < nusers && rc == 0; u++) {
            char uname[OWNTRACKS_NAME_MAX + 1], dname[OWNTRACKS_NAME_MAX + 1];
            const char *why;
            if (owntracks_normalize_name(users[u], strlen(users[u]), uname, &why) != 0) {
                if (pass)
                    import_error(imp, "skipping rec/%s: %s", users[u], why);
                continue;
            }
            if (rec_path(report, path, "%s/rec/%s", dir, users[u]) != 0)
                continue;
            char **devs = list_dir(path, &ndevs);
            for (size_t d = 0; d < ndevs && rc == 0; d++) {
                if (owntracks_normalize_name(devs[d], strlen(devs[d]), dname, &why) != 0) {
                    if (pass)
                        import_error(imp, "skipping rec/%s/%s: %s", users[u], devs[d], why);
                    continue;
                }
                if (rec_path(report, path, "%s/rec/%s/%s", dir, users[u], devs[d]) != 0)
                    continue;
                char **files = list_dir(path, &nfiles);
                size_t slot = pass ? import_device(imp, uname, dname) : 0;
                if (slot == SIZE_MAX)
                    rc = -ENOMEM;
                if (pass && rc == 0)
                    recover_topic(imp, slot, dir, users[u], devs[d]);
                for (size_t f = 0; f < nfiles && rc == 0; f++) {
                    struct stat st;
                    if (!rec_file_name(files[f]) ||
                        rec_path(report, fpath, "%s/%s", path, files[f]) != 0)
                        continue;
                    if (!pass) {
                        if (stat(fpath, &st) == 0)
                            imp->bytes_total += (uint64_t)st.st_size;
                        continue;
                    }
                    rc = import_rec_file(imp, slot, fpath);
                }
                if (pass && rc == 0)
                    rc = import_side_files(imp, slot, dir, users[u], devs[d]);
                free_names(files, nfiles);
            }
            free_names(devs, ndevs);
        }
    }
    free_names(users, nusers);
    int frc = import_flush(imp);
    if (rc == 0 && frc == 0)
        rc = import_places(imp, dir);
    return rc ? rc : frc;
}
