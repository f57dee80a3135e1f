/* helpers.h - shared by the unit tests: fixture lines and temporary stores. */
#ifndef WL_TEST_HELPERS_H
#define WL_TEST_HELPERS_H

#include <stddef.h>
#include <stdint.h>

#include "store.h"

struct fixture {
    char *topic;
    size_t topic_len;
    unsigned char *payload;
    size_t len;
    char expect[16]; /* stored, ignored, rejected */
    char *note;
    int line;
};

/* Loads $WHERELOG_FIXTURES/NAME: tests/fixtures/owntracks, or ../shared's corpus in the
 * "shared" suite. Aborts the test on failure. Free with fixtures_free. */
struct fixture *fixtures_load(const char *name, size_t *n);
void fixtures_free(struct fixture *f, size_t n);
/* Path of a file under the fixtures directory (static buffer per call site is not used:
 * the caller gives the buffer). */
void fixture_path(char *buf, size_t size, const char *name);

/* A fresh empty directory under $TMPDIR; removed (recursively) by tmpdir_remove. */
void tmpdir_make(char *buf, size_t size);
void tmpdir_remove(const char *dir);

/* The fixture key store: secret "mysecreTpass01" for jjolie/iphone only. */
int fixture_key_lookup(void *arg, const char *user, const char *device, unsigned char *secret);

/* A location fix for the store's tests; acc 0 leaves acc out of the message. */
struct test_fix {
    int64_t tst;
    double lat, lon, acc;
};
/* Stores fixes f[0..n) as jane's `device`, in the order given, in batches of `batch` (1..64)
 * through store_write_batch, as the writer would. Aborts the test if a batch fails. */
void test_write_fixes(struct store *s, const char *device, const struct test_fix *f, size_t n,
                      size_t batch);

#endif
