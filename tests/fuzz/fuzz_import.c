/*
 * Fuzz target: the file importers (GPX through libxml2's reader, GeoJSON, and our streaming
 * splitter for Google's Records.json and Timeline exports). The first byte chooses the
 * importer; the rest is the file. Whatever is accepted is stored in a scratch store.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "import.h"
#include "log.h"
#include "store.h"

static struct store *store;
static char file[64];

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    static char dir[] = "/tmp/wherelog-fuzz-import-XXXXXX";
    char path[128];
    (void)argc;
    (void)argv;
    wl_log_set_level(getenv("FUZZ_LOG") ? WL_LOG_DEBUG : WL_LOG_ERROR);
    if (!mkdtemp(dir))
        abort();
    snprintf(path, sizeof(path), "%s/store", dir);
    snprintf(file, sizeof(file), "%s/input", dir);
    if (store_open(path, NULL, &store))
        abort();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int (*const importers[])(struct imp *, const char *, const char *,
                                    const char *) = {import_gpx, import_geojson, import_google};
    struct import_options opt = {.progress = false};
    struct imp *imp;

    if (size == 0)
        return 0;
    FILE *f = fopen(file, "w");
    if (!f || fwrite(data + 1, 1, size - 1, f) != size - 1 || fclose(f) != 0)
        abort();
    if (import_new(store, &opt, &imp) != 0)
        abort();
    importers[data[0] % 3](imp, file, "fuzz", "dev");
    import_free(imp);
    return 0;
}
