#include "helpers.h"

#include <criterion/criterion.h>
#include <ftw.h>
#include <json-c/json.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pack.h"
#include "sink.h"

void fixture_path(char *buf, size_t size, const char *name)
{
    const char *dir = getenv("WHERELOG_FIXTURES");
    cr_assert(dir, "WHERELOG_FIXTURES must point at tests/fixtures/owntracks");
    snprintf(buf, size, "%s/%s", dir, name);
}

struct fixture *fixtures_load(const char *name, size_t *n)
{
    char path[4096];
    char *line = NULL;
    size_t cap = 0, count = 0, alloc = 0;
    ssize_t len;
    struct fixture *v = NULL;

    fixture_path(path, sizeof(path), name);
    FILE *f = fopen(path, "r");
    cr_assert(f, "cannot open fixture file %s", path);
    while ((len = getline(&line, &cap, f)) > 0) {
        struct json_tokener *tok = json_tokener_new();
        struct json_object *o = json_tokener_parse_ex(tok, line, (int)len);
        json_tokener_free(tok);
        cr_assert(o, "%s:%zu is not JSON", name, count + 1);
        if (count == alloc) {
            alloc = alloc ? alloc * 2 : 128;
            v = realloc(v, alloc * sizeof(*v));
        }
        struct fixture *fx = &v[count++];
        struct json_object *t, *p, *e, *note;
        cr_assert(json_object_object_get_ex(o, "topic", &t));
        fx->topic_len = (size_t)json_object_get_string_len(t);
        fx->topic = malloc(fx->topic_len + 1);
        memcpy(fx->topic, json_object_get_string(t), fx->topic_len + 1);
        if (json_object_object_get_ex(o, "payload", &p)) {
            fx->len = (size_t)json_object_get_string_len(p);
            fx->payload = malloc(fx->len + 1);
            memcpy(fx->payload, json_object_get_string(p), fx->len);
        } else {
            cr_assert(json_object_object_get_ex(o, "payload_b64", &p));
            size_t b64 = (size_t)json_object_get_string_len(p);
            fx->payload = malloc(b64);
            cr_assert(sodium_base642bin(fx->payload, b64, json_object_get_string(p), b64, NULL,
                                        &fx->len, NULL, sodium_base64_VARIANT_ORIGINAL) == 0);
        }
        cr_assert(json_object_object_get_ex(o, "expect", &e));
        snprintf(fx->expect, sizeof(fx->expect), "%s", json_object_get_string(e));
        fx->note = json_object_object_get_ex(o, "note", &note)
                       ? strdup(json_object_get_string(note))
                       : strdup("");
        fx->line = (int)count;
        json_object_put(o);
    }
    free(line);
    fclose(f);
    *n = count;
    return v;
}

void fixtures_free(struct fixture *f, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(f[i].topic);
        free(f[i].payload);
        free(f[i].note);
    }
    free(f);
}

void tmpdir_make(char *buf, size_t size)
{
    const char *base = getenv("TMPDIR");
    snprintf(buf, size, "%s/wherelog-test-XXXXXX", base && base[0] ? base : "/tmp");
    cr_assert(mkdtemp(buf), "mkdtemp failed");
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

void tmpdir_remove(const char *dir)
{
    nftw(dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

int fixture_key_lookup(void *arg, const char *user, const char *device, unsigned char *secret)
{
    (void)arg;
    if (strcmp(user, "jjolie") == 0 && strcmp(device, "iphone") == 0) {
        memcpy(secret, "mysecreTpass01", 14);
        return 14;
    }
    return 0;
}

/* One fix as the packed record the writer would store. */
static struct store_record fix_record(const char *device, const struct test_fix *f,
                                      struct sink *buf)
{
    char doc[256], acc[48] = "";
    if (f->acc != 0)
        snprintf(acc, sizeof(acc), ",\"acc\":%.0f", f->acc);
    snprintf(doc, sizeof(doc), "{\"_type\":\"location\",\"lat\":%.7f,\"lon\":%.7f%s,\"tst\":%lld}",
             f->lat, f->lon, acc, (long long)f->tst);
    struct json_object *o = json_tokener_parse(doc);
    struct pack_encode_ctx ctx = {.type = "location", .tst = f->tst, .tst_member = true};
    cr_assert_eq(sink_init_mem(buf, 96), 0);
    cr_assert_eq(pack_encode(buf, o, &ctx), 0);
    json_object_put(o);
    return (struct store_record){.kind = OWNTRACKS_LOCATION,
                                 .user = "jane",
                                 .device = device,
                                 .tst = f->tst,
                                 .data = buf->buf,
                                 .len = buf->len,
                                 .received = f->tst};
}

void test_write_fixes(struct store *s, const char *device, const struct test_fix *f, size_t n,
                      size_t batch)
{
    struct sink bufs[64];
    struct store_record recs[64];
    enum store_result res[64];
    cr_assert(batch >= 1 && batch <= 64);
    for (size_t i = 0; i < n; i += batch) {
        size_t k = n - i < batch ? n - i : batch;
        for (size_t j = 0; j < k; j++)
            recs[j] = fix_record(device, &f[i + j], &bufs[j]);
        cr_assert_eq(store_write_batch(s, recs, k, res), 0);
        for (size_t j = 0; j < k; j++)
            sink_free(&bufs[j]);
    }
}
