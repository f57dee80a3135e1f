#include "store.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <limits.h>
#include <lmdb.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/sysmacros.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "array.h"
#include "log.h"
#include "pack.h"
#include "varint.h"
#include "store_internal.h"
#include "wl.h"
#include "wtime.h"

/* ---------------------------------------------------------------- helpers */

/*
 * Translates an LMDB code (or a positive errno from LMDB) at the module edge and logs what
 * it was. Our own codes (0, negative errno values, WL_E*) pass through unchanged: LMDB's lie
 * below -30000, ours above.
 */
int store_lmdb_error(const char *what, int rc)
{
    if (rc <= 0 && rc > -30000)
        return rc;
    switch (rc) {
    case 0: return 0;
    case MDB_NOTFOUND: return -ENOENT;
    case MDB_MAP_FULL: return WL_EMAPFULL;
    case ENOSPC: wl_log(WL_LOG_ERROR, "store", "%s: disk full", what); return -ENOSPC;
    case ENOMEM: wl_log(WL_LOG_ERROR, "store", "%s: out of memory", what); return -ENOMEM;
    default: wl_log(WL_LOG_ERROR, "store", "%s: %s", what, mdb_strerror(rc)); return WL_ESTORE;
    }
}

static size_t device_key(uint8_t *key, const char *user, const char *device)
{
    size_t ul = strlen(user), dl = strlen(device);
    memcpy(key, user, ul);
    key[ul] = 0;
    memcpy(key + ul + 1, device, dl);
    return ul + 1 + dl;
}

/* Device record: id, points, first, last, last seen (u32 each), u16 topic length, topic. */

static int devrec_decode(const MDB_val *v, struct devrec *r)
{
    const uint8_t *p = v->mv_data;
    if (v->mv_size < DEVREC_FIXED)
        return WL_ECORRUPT;
    r->id = get_le32(p);
    r->points = get_le32(p + 4);
    r->first = get_le32(p + 8);
    r->last = get_le32(p + 12);
    r->seen = get_le32(p + 16);
    size_t tl = (size_t)p[20] | (size_t)p[21] << 8;
    if (tl > STORE_TOPIC_MAX || DEVREC_FIXED + tl > v->mv_size)
        return WL_ECORRUPT;
    memcpy(r->topic, p + DEVREC_FIXED, tl);
    r->topic[tl] = '\0';
    return 0;
}

static size_t devrec_encode(const struct devrec *r, uint8_t *p)
{
    size_t tl = strlen(r->topic);
    put_le32(p, r->id);
    put_le32(p + 4, r->points);
    put_le32(p + 8, r->first);
    put_le32(p + 12, r->last);
    put_le32(p + 16, r->seen);
    p[20] = (uint8_t)tl;
    p[21] = (uint8_t)(tl >> 8);
    memcpy(p + DEVREC_FIXED, r->topic, tl);
    return DEVREC_FIXED + tl;
}

/* ---------------------------------------------------------------- transactions */

static int adopt_map_size(struct store *s);
static int reopen_lost_map(struct store *s);
static int open_token_table(struct store *s, MDB_txn *txn);

int store_txn_begin(struct store *s, unsigned flags, MDB_txn **txn)
{
    for (;;) {
        pthread_rwlock_rdlock(&s->resize_lock);
        int rc = s->env ? mdb_txn_begin(s->env, NULL, flags, txn) : WL_EMAPFULL;
        if (rc == 0)
            return 0;
        pthread_rwlock_unlock(&s->resize_lock);
        if (rc == WL_EMAPFULL)
            rc = reopen_lost_map(s);
        else if (rc == MDB_MAP_RESIZED)
            rc = adopt_map_size(s);
        else
            return store_lmdb_error("begin transaction", rc);
        if (rc)
            return rc;
    }
}

void store_txn_abort(struct store *s, MDB_txn *txn)
{
    mdb_txn_abort(txn);
    pthread_rwlock_unlock(&s->resize_lock);
}

int store_txn_commit(struct store *s, MDB_txn *txn)
{
    int rc = mdb_txn_commit(txn);
    pthread_rwlock_unlock(&s->resize_lock);
    return rc;
}

void store_drop_resident_pages(struct store *s)
{
    /* LMDB does not say where its map is (MDB_envinfo.me_mapaddr is only set with
     * MDB_FIXEDMAP), so find the mapping of data.mdb by device and inode. Under the resize
     * lock, so that the map cannot move meanwhile. It is a read-only shared file mapping:
     * dropped pages fault back in from the page cache when read again. */
    mdb_filehandle_t fd;
    struct stat st;
    char line[512];

    pthread_rwlock_rdlock(&s->resize_lock);
    FILE *maps = NULL;
    if (s->env && mdb_env_get_fd(s->env, &fd) == 0 && fstat(fd, &st) == 0)
        maps = fopen("/proc/self/maps", "re");
    while (maps && fgets(line, sizeof(line), maps)) {
        unsigned long start, end, ino;
        unsigned maj, mnr;
        if (sscanf(line, "%lx-%lx %*s %*s %x:%x %lu", &start, &end, &maj, &mnr, &ino) == 5 &&
            ino == st.st_ino && maj == major(st.st_dev) && mnr == minor(st.st_dev))
            madvise((void *)start, end - start, MADV_DONTNEED);
    }
    if (maps)
        fclose(maps);
    pthread_rwlock_unlock(&s->resize_lock);
}

/* ---------------------------------------------------------------- open / close */

static int open_dbs(struct store *s, MDB_txn *txn, bool create)
{
    struct {
        const char *name;
        MDB_dbi *dbi;
    } dbs[] = {{"meta", &s->meta},     {"devices", &s->devices}, {"devids", &s->devids},
               {"points", &s->points}, {"events", &s->events},   {"keys", &s->keys}};
    for (size_t i = 0; i < WL_ARRAY_LEN(dbs); i++) {
        int rc = mdb_dbi_open(txn, dbs[i].name, create ? MDB_CREATE : 0, dbs[i].dbi);
        if (rc)
            return rc;
    }
    /* Databases added since schema 1: a store from before has none, and gets them when it is
     * opened for writing. */
    int rc = stl_open_dbs(s, txn);
    if (rc == 0)
        rc = open_token_table(s, txn);
    if (rc == 0)
        rc = store_share_open_dbs(s, txn);
    if (rc == 0) {
        rc = mdb_dbi_open(txn, "geo", s->read_only ? 0 : MDB_CREATE, &s->geo);
        s->have_geo = rc == 0;
        if (rc == MDB_NOTFOUND)
            rc = 0;
    }
    if (rc == 0)
        rc = spl_open_dbs(s, txn);
    if (rc == 0)
        rc = sev_open_dbs(s, txn);
    if (rc == 0)
        rc = sht_open_dbs(s, txn);
    return rc;
}

static int meta_get_u32(struct store *s, MDB_txn *txn, const char *name, uint32_t *out)
{
    MDB_val k = {strlen(name), (void *)name}, v;
    int rc = mdb_get(txn, s->meta, &k, &v);
    if (rc)
        return rc;
    if (v.mv_size != 4)
        return MDB_CORRUPTED;
    *out = get_le32(v.mv_data);
    return 0;
}

static int meta_put_u32(struct store *s, MDB_txn *txn, const char *name, uint32_t val)
{
    uint8_t b[4];
    put_le32(b, val);
    MDB_val k = {strlen(name), (void *)name}, v = {4, b};
    return mdb_put(txn, s->meta, &k, &v, 0);
}

/* First open of an empty environment: schema version, device counter, client id. */
static int init_store(struct store *s, MDB_txn *txn)
{
    uint8_t rnd[8];
    char id[40];
    int rc;

    if (getrandom(rnd, sizeof(rnd), 0) != sizeof(rnd))
        return EIO;
    snprintf(id, sizeof(id), "wherelog-%02x%02x%02x%02x%02x%02x%02x%02x", rnd[0], rnd[1], rnd[2],
             rnd[3], rnd[4], rnd[5], rnd[6], rnd[7]);
    MDB_val k = {9, "client_id"}, v = {strlen(id), id};
    if ((rc = meta_put_u32(s, txn, "schema", STORE_SCHEMA_VERSION)) ||
        (rc = meta_put_u32(s, txn, "next_device", 1)) || (rc = mdb_put(txn, s->meta, &k, &v, 0)))
        return rc;
    return 0;
}

static int check_schema(struct store *s, MDB_txn *txn)
{
    uint32_t version;
    MDB_val k = {9, "client_id"}, v;
    int rc = meta_get_u32(s, txn, "schema", &version);

    if (rc) {
        wl_log(WL_LOG_ERROR, "store", "%s: no schema version recorded; not a wherelog store?",
               s->dir);
        return WL_ESCHEMA;
    }
    if (version != STORE_SCHEMA_VERSION) {
        wl_log(WL_LOG_ERROR, "store",
               "%s: store schema version %u, this wherelog reads version %u only", s->dir, version,
               STORE_SCHEMA_VERSION);
        return WL_ESCHEMA;
    }
    if (mdb_get(txn, s->meta, &k, &v) == 0 && v.mv_size < sizeof(s->client_id)) {
        memcpy(s->client_id, v.mv_data, v.mv_size);
        s->client_id[v.mv_size] = '\0';
    }
    return 0;
}

/* Is the unnamed database empty (a fresh environment), or does it hold someone else's data? */
static bool env_is_empty(MDB_txn *txn)
{
    MDB_stat st;
    MDB_dbi main_db;
    return mdb_dbi_open(txn, NULL, 0, &main_db) == 0 && mdb_stat(txn, main_db, &st) == 0 &&
           st.ms_entries == 0;
}

/* ---------------------------------------------------------------- map size */

/* Where mmap may place a map at the lowest: vm.mmap_min_addr's usual value. */
#define MMAP_FLOOR (64u << 10)

static uint64_t align_down(uint64_t v)
{
    return v / STORE_MAP_ALIGN * STORE_MAP_ALIGN;
}

static uint64_t align_up(uint64_t v)
{
    return v > UINT64_MAX - STORE_MAP_ALIGN ? align_down(v) : align_down(v + STORE_MAP_ALIGN - 1);
}

static uint64_t min_u64(uint64_t a, uint64_t b)
{
    return a < b ? a : b;
}

static uint64_t max_u64(uint64_t a, uint64_t b)
{
    return a > b ? a : b;
}

uint64_t store_map_ceiling(uint64_t room)
{
    /* A sixteenth of a 32-bit board's 3 GiB is 192 MiB: room for the HTTP threads' stacks
     * and buffers without giving up much of the store. */
    uint64_t spare = max_u64(STORE_MAP_SPARE_MIN, room / 16);
    return room > spare ? align_down(min_u64(room - spare, SIZE_MAX)) : 0;
}

/* hi, then halfway steps down to lo, then lo: what to try, largest first, when anything
 * from lo to hi will do and the system may refuse the larger sizes. */
static size_t size_ladder(uint64_t lo, uint64_t hi, uint64_t sizes[STORE_MAP_TRIES])
{
    size_t n = 0;
    lo = max_u64(align_up(lo), STORE_MAP_ALIGN);
    hi = align_down(min_u64(hi, SIZE_MAX));
    if (lo > hi)
        return 0;
    for (uint64_t gap = hi - lo; n < STORE_MAP_TRIES - 1 && gap >= STORE_MAP_ALIGN; gap /= 2)
        sizes[n++] = lo + align_down(gap);
    sizes[n++] = lo;
    return n;
}

size_t store_map_open_sizes(uint64_t file_bytes, uint64_t initial_map, uint64_t room,
                            uint64_t sizes[STORE_MAP_TRIES])
{
    uint64_t need = max_u64(align_up(file_bytes), STORE_MAP_ALIGN);
    if (need > room)
        return 0;
    uint64_t want =
        initial_map
            ? initial_map
            : max_u64(STORE_MAP_MIN, file_bytes < UINT64_MAX / 2 ? 2 * file_bytes : UINT64_MAX);
    /* Below the ceiling if it can, but a store that fits the room opens even if it leaves
     * less than the spare: it can be read, and deleting from it makes room to write. */
    return size_ladder(need, max_u64(min_u64(want, store_map_ceiling(room)), need), sizes);
}

size_t store_map_grow_sizes(uint64_t cur, uint64_t room, uint64_t sizes[STORE_MAP_TRIES])
{
    uint64_t twice = cur < UINT64_MAX / 2 ? 2 * cur : UINT64_MAX;
    return size_ladder(cur + 1, min_u64(twice, store_map_ceiling(room)), sizes);
}

uint64_t store_map_room(FILE *maps, uint64_t as_limit, unsigned long dev_major,
                        unsigned long dev_minor, unsigned long ino)
{
    char line[512];
    uint64_t mapped = 0, largest = 0, prev_end = MMAP_FLOOR;
    bool below_stack = true, line_start = true;

    while (fgets(line, sizeof(line), maps)) {
        /* A line longer than the buffer (a long path) arrives in pieces: only the first
         * piece describes a mapping. */
        bool was_start = line_start;
        line_start = strchr(line, '\n') != NULL;
        unsigned long long start, end, inode;
        unsigned maj, mnr;
        int name_at = 0;
        if (!was_start ||
            sscanf(line, "%llx-%llx %*s %*s %x:%x %llu %n", &start, &end, &maj, &mnr, &inode,
                   &name_at) < 5 ||
            end < start)
            continue;
        if (ino && inode == ino && maj == dev_major && mnr == dev_minor)
            continue; /* the store's own map: free once it is unmapped to be remapped */
        mapped += end - start;
        const char *name = name_at ? line + name_at : "";
        /* mmap places maps below the main stack (and the gap kept for its growth); above
         * it are only the stack and the kernel's pages. */
        bool top = strncmp(name, "[stack]", 7) == 0 || strncmp(name, "[vsyscall]", 10) == 0 ||
                   strncmp(name, "[vectors]", 9) == 0;
        if (below_stack && !top && start > prev_end)
            largest = max_u64(largest, start - prev_end);
        if (top)
            below_stack = false;
        prev_end = max_u64(prev_end, end);
    }
    uint64_t by_limit = as_limit == UINT64_MAX ? UINT64_MAX
                        : as_limit > mapped    ? as_limit - mapped
                                               : 0;
    return min_u64(by_limit, largest);
}

/* The room this process has for the store's map now (store.h), its current map counted as
 * free. Without /proc, the address-space limit alone: an overestimate, which costs only a
 * refused attempt (undone, see remap). */
static uint64_t measure_room(struct store *s)
{
    struct rlimit rl;
    struct stat st;
    char path[PATH_MAX + 16];
    uint64_t limit = UINT64_MAX, room;

    if (getrlimit(RLIMIT_AS, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY)
        limit = rl.rlim_cur;
    snprintf(path, sizeof(path), "%s/data.mdb", s->dir);
    if (stat(path, &st) != 0)
        st.st_ino = 0;
    FILE *maps = fopen("/proc/self/maps", "re");
    if (maps) {
        room = store_map_room(maps, limit, st.st_ino ? major(st.st_dev) : 0,
                              st.st_ino ? minor(st.st_dev) : 0, st.st_ino);
        fclose(maps);
    } else {
        room = limit;
    }
    return room;
}

static void note_map_max(struct store *s, uint64_t room, uint64_t map)
{
    atomic_store(&s->map_max, (size_t)max_u64(store_map_ceiling(room), map));
}

static uint64_t file_size(const struct store *s)
{
    struct stat st;
    char path[PATH_MAX + 16];
    snprintf(path, sizeof(path), "%s/data.mdb", s->dir);
    return stat(path, &st) == 0 ? (uint64_t)st.st_size : 0;
}

/* Is STORE_MAP_SPARE_MIN of address space still free for the rest of the process? Asked of
 * the system itself (a reservation that takes no memory, undone at once), since the room is
 * an estimate: another mapping of the store's file, or one made since it was measured, make
 * it smaller than measured, and then a map that the system accepts can still leave the heap
 * without room for the write that asked for it. */
static bool spare_is_free(void)
{
    void *p = mmap(NULL, STORE_MAP_SPARE_MIN, PROT_NONE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED)
        return false;
    munmap(p, STORE_MAP_SPARE_MIN);
    return true;
}

/*
 * A new environment on the store mapped with the first of sizes[0..n) that the system
 * accepts and that leaves the spare free (but the last, the least the store needs, is taken
 * whatever it leaves); a refused size leaves nothing behind (LMDB wants a failed environment
 * closed). Returns 0 (s->env set) or an LMDB code (ENOMEM: no size could be mapped).
 */
/* Named databases: ours, with room for those later versions add. */
#define STORE_MAX_DBS 32

static int env_map(struct store *s, const uint64_t *sizes, size_t n)
{
    int rc = ENOMEM;
    for (size_t i = 0; i < n; i++) {
        MDB_env *env;
        if ((rc = mdb_env_create(&env)))
            return rc;
        if ((rc = mdb_env_set_maxdbs(env, STORE_MAX_DBS)) == 0 &&
            (rc = mdb_env_set_mapsize(env, (size_t)sizes[i])) == 0 &&
            (rc = mdb_env_open(env, s->dir, MDB_NOTLS | (s->read_only ? MDB_RDONLY : 0), 0600)) ==
                0) {
            if (i + 1 == n || spare_is_free()) {
                s->env = env;
                return 0;
            }
            wl_log(WL_LOG_WARN, "store",
                   "%s: a map of %llu MiB leaves less than %u MiB for the rest of the process; "
                   "trying less",
                   s->dir, (unsigned long long)(sizes[i] >> 20), STORE_MAP_SPARE_MIN >> 20);
            mdb_env_close(env);
            rc = ENOMEM;
            continue;
        }
        mdb_env_close(env);
        if (rc != ENOMEM)
            return rc;
        wl_log(WL_LOG_WARN, "store", "%s: cannot map %llu MiB: %s%s", s->dir,
               (unsigned long long)(sizes[i] >> 20), mdb_strerror(rc),
               i + 1 < n ? "; trying less" : "");
    }
    return rc;
}

/*
 * Opens the store again after its map was lost, at no more than `map` bytes if the data
 * fits in that (the size it had: a refused growth goes back to it), with the database
 * handles. Resize lock held exclusively, s->env NULL. Returns 0, WL_EMAPFULL (logged) or an
 * LMDB code.
 */
static int env_reopen(struct store *s, uint64_t map)
{
    uint64_t sizes[STORE_MAP_TRIES], file = file_size(s), room = measure_room(s);
    size_t n = store_map_open_sizes(file, max_u64(map, file), room, sizes);
    MDB_txn *txn;

    if (n == 0) {
        wl_log(WL_LOG_ERROR, "store",
               "%s: the store (%llu MiB) no longer fits in the address space this process "
               "can map (%llu MiB); it cannot be read or written until the limit is raised",
               s->dir, (unsigned long long)(file >> 20), (unsigned long long)(room >> 20));
        return WL_EMAPFULL;
    }
    int rc = env_map(s, sizes, n);
    if (rc == ENOMEM) {
        wl_log(WL_LOG_ERROR, "store", "%s: cannot map the store again", s->dir);
        return WL_EMAPFULL;
    }
    if (rc == 0 && (rc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, &txn)) == 0) {
        if ((rc = open_dbs(s, txn, false)) == 0)
            rc = mdb_txn_commit(txn); /* makes the handles visible to every transaction */
        else
            mdb_txn_abort(txn);
    }
    if (rc && s->env) {
        mdb_env_close(s->env);
        s->env = NULL;
    }
    if (rc == 0) {
        MDB_envinfo info;
        mdb_env_info(s->env, &info);
        note_map_max(s, room, info.me_mapsize);
        wl_log(WL_LOG_INFO, "store", "%s: mapped again at %zu MiB", s->dir, info.me_mapsize >> 20);
    }
    return rc;
}

static void note_refused(struct store *s, uint64_t size, uint64_t room)
{
    if (!s->refused || size < s->refused) {
        s->refused = size;
        s->refused_room = room;
    }
}

/*
 * Maps the store with the first of sizes[0..n) that the system accepts and, if keep_spare,
 * that leaves the spare free (spare_is_free); `cur` is the map it has. Resize lock held
 * exclusively. LMDB unmaps the store before mapping the new size and, when that fails,
 * leaves its environment with no map at all but the new size recorded (a later call only
 * records a size, and the next transaction reads unmapped memory). So a refused size is
 * undone by closing the environment and opening the store again at `cur` before the next,
 * smaller, size is tried. A size that leaves too little spare is mapped, so the next size
 * (or `cur`, after the last) simply replaces it. `room` is what was measured for these
 * sizes. Returns 0 (s->env mapped), WL_EMAPFULL or an LMDB code (then s->env may be NULL:
 * see reopen_lost_map).
 */
static int remap(struct store *s, const uint64_t *sizes, size_t n, uint64_t cur, uint64_t room,
                 bool keep_spare)
{
    int rc = WL_EMAPFULL;
    for (size_t i = 0; i < n; i++) {
        rc = mdb_env_set_mapsize(s->env, (size_t)sizes[i]);
        if (rc == 0 && (!keep_spare || spare_is_free()))
            return 0;
        note_refused(s, sizes[i], room);
        if (rc == 0) {
            wl_log(WL_LOG_WARN, "store",
                   "%s: a map of %llu MiB leaves less than %u MiB for the rest of the process; "
                   "%s",
                   s->dir, (unsigned long long)(sizes[i] >> 20), STORE_MAP_SPARE_MIN >> 20,
                   i + 1 < n ? "trying less" : "going back to the map it had");
            continue;
        }
        wl_log(WL_LOG_WARN, "store",
               "%s: the system refused a map of %llu MiB (%s); opening "
               "the store again at %llu MiB",
               s->dir, (unsigned long long)(sizes[i] >> 20), mdb_strerror(rc),
               (unsigned long long)(cur >> 20));
        mdb_env_close(s->env);
        s->env = NULL;
        if ((rc = env_reopen(s, cur)))
            return rc;
        rc = WL_EMAPFULL;
    }
    if (rc == 0) {
        /* The last size tried is mapped but leaves too little: back to the smaller map. */
        if (mdb_env_set_mapsize(s->env, (size_t)cur) != 0) {
            mdb_env_close(s->env);
            s->env = NULL;
            if ((rc = env_reopen(s, cur)))
                return rc;
        }
        rc = WL_EMAPFULL;
    }
    return rc;
}

/* The map was lost (a refused size could not be undone): try to map the store again. */
static int reopen_lost_map(struct store *s)
{
    int rc = 0;
    pthread_rwlock_wrlock(&s->resize_lock);
    if (!s->env)
        rc = store_lmdb_error("map the store", env_reopen(s, atomic_load(&s->map_max)));
    pthread_rwlock_unlock(&s->resize_lock);
    return rc;
}

/* Another process made the store larger than our map (MDB_MAP_RESIZED): map it as if
 * opening it now. */
static int adopt_map_size(struct store *s)
{
    MDB_envinfo info;
    MDB_stat st;
    uint64_t sizes[STORE_MAP_TRIES];
    int rc = 0;

    pthread_rwlock_wrlock(&s->resize_lock);
    if (!s->env)
        goto out; /* the caller's next attempt maps it again */
    mdb_env_info(s->env, &info);
    mdb_env_stat(s->env, &st);
    uint64_t data = ((uint64_t)info.me_last_pgno + 1) * st.ms_psize;
    if (data <= info.me_mapsize)
        goto out; /* another thread adopted it meanwhile */
    uint64_t room = measure_room(s);
    size_t n = store_map_open_sizes(data, 0, room, sizes);
    if (n == 0) {
        wl_log(WL_LOG_ERROR, "store",
               "%s: another process made the store %llu MiB, more than this process can map "
               "(%llu MiB)",
               s->dir, (unsigned long long)(data >> 20), (unsigned long long)(room >> 20));
        rc = WL_EMAPFULL;
        goto out;
    }
    rc = store_lmdb_error("adopt the map size", remap(s, sizes, n, info.me_mapsize, room, false));
    if (rc == 0) {
        mdb_env_info(s->env, &info);
        note_map_max(s, room, info.me_mapsize);
    }
out:
    pthread_rwlock_unlock(&s->resize_lock);
    return rc;
}

/*
 * A write found the map full: grows it as store_map_grow_sizes() says. Runs with no
 * transaction of this process open. Returns 0, WL_EMAPFULL (logged when it starts) or
 * another store error.
 */
static int grow_map(struct store *s)
{
    MDB_envinfo info;
    uint64_t sizes[STORE_MAP_TRIES];
    int rc = WL_EMAPFULL;

    pthread_rwlock_wrlock(&s->resize_lock);
    if (!s->env)
        goto out;
    mdb_env_info(s->env, &info);
    uint64_t cur = info.me_mapsize, room = measure_room(s);
    note_map_max(s, room, cur);
    size_t n = store_map_grow_sizes(cur, room, sizes), skip = 0;
    if (s->refused && room > s->refused_room)
        s->refused = 0; /* the room grew: what was refused may fit now */
    while (s->refused && skip < n && sizes[skip] >= s->refused)
        skip++;
    rc = store_lmdb_error("grow the map", remap(s, sizes + skip, n - skip, cur, room, true));
    if (rc == 0) {
        mdb_env_info(s->env, &info);
        wl_log(WL_LOG_INFO, "store", "map grown from %.1f to %.1f MiB", (double)cur / (1 << 20),
               (double)info.me_mapsize / (1 << 20));
        atomic_fetch_add(&s->map_resizes, 1);
    } else if (rc == WL_EMAPFULL && s->env) {
        mdb_env_info(s->env, &info);
        atomic_store(&s->map_max, info.me_mapsize); /* all it could get */
    }
out:
    pthread_rwlock_unlock(&s->resize_lock);
    if (rc == WL_EMAPFULL && !atomic_exchange(&s->map_full, true))
        wl_log(WL_LOG_ERROR, "store",
               "%s: map full: the store's map is at the most this process can map (%zu MiB); "
               "new data is refused (not acknowledged) until old data is deleted or the "
               "address-space limit is raised (ulimit -v, a 64-bit system); reads go on",
               s->dir, atomic_load(&s->map_max) >> 20);
    return rc;
}

bool store_map_full(struct store *s)
{
    return atomic_load(&s->map_full);
}

int store_open(const char *dir, const struct store_options *opt, struct store **out)
{
    struct store *s = calloc(1, sizeof(*s));
    struct stat st;
    char path[PATH_MAX];
    MDB_txn *txn = NULL;
    pthread_rwlockattr_t attr;
    int rc;
    bool ro = opt && opt->read_only;

    if (!s)
        return -ENOMEM;
    if (snprintf(s->dir, sizeof(s->dir), "%s", dir) >= (int)sizeof(s->dir) ||
        snprintf(path, sizeof(path), "%s/data.mdb", dir) >= (int)sizeof(path)) {
        free(s);
        return -ENAMETOOLONG;
    }
    s->read_only = ro;
    if (opt && opt->timeline) {
        s->tl_defaults = *opt->timeline;
    } else {
        s->tl_defaults.zone[0] = '\0';
        tl_settings_default(&s->tl_defaults.tl);
    }
    s->battery_low = opt && opt->battery_low ? opt->battery_low : STORE_BATTERY_LOW_DEFAULT;
    pthread_rwlockattr_init(&attr);
    pthread_rwlockattr_setkind_np(&attr, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
    pthread_rwlock_init(&s->resize_lock, &attr);
    pthread_rwlockattr_destroy(&attr);

    if (stat(path, &st) != 0) {
        if (ro) {
            rc = -ENOENT;
            goto fail;
        }
        st.st_size = 0;
        if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
            rc = -errno;
            wl_log(WL_LOG_ERROR, "store", "cannot create %s: %s", dir, strerror(errno));
            goto fail;
        }
    }
    uint64_t sizes[STORE_MAP_TRIES], room = measure_room(s);
    size_t n = store_map_open_sizes((uint64_t)st.st_size, opt ? opt->initial_map : 0, room, sizes);
    if (n == 0) {
        wl_log(WL_LOG_ERROR, "store",
               "%s: the store (%llu MiB) is larger than the address space this process can "
               "map (%llu MiB): raise the limit (ulimit -v) or use a 64-bit system",
               dir, (unsigned long long)(st.st_size >> 20), (unsigned long long)(room >> 20));
        rc = WL_EMAPFULL;
        goto fail;
    }
    rc = env_map(s, sizes, n);
    if (rc) {
        if (rc == ENOENT) {
            rc = -ENOENT;
        } else if (rc == ENOMEM) {
            wl_log(WL_LOG_ERROR, "store", "cannot open store in %s: no map size fits", dir);
            rc = WL_EMAPFULL;
        } else {
            wl_log(WL_LOG_ERROR, "store", "cannot open store in %s: %s", dir, mdb_strerror(rc));
            rc = rc == EACCES ? -EACCES : WL_ESTORE;
        }
        goto fail;
    }
    int dead = 0;
    mdb_reader_check(s->env, &dead); /* slots left by processes that were killed */
    MDB_stat est;
    mdb_env_stat(s->env, &est);
    /* An overflow page carries its page size less a header (16 bytes on 64-bit). */
    s->chunk_max = est.ms_psize - 16;

    if ((rc = mdb_txn_begin(s->env, NULL, ro ? MDB_RDONLY : 0, &txn))) {
        rc = store_lmdb_error("begin transaction", rc);
        goto fail;
    }
    rc = open_dbs(s, txn, false);
    if (rc == MDB_NOTFOUND && !ro) {
        if (!env_is_empty(txn)) {
            wl_log(WL_LOG_ERROR, "store",
                   "%s holds an LMDB database that is not a wherelog "
                   "store; refusing to touch it",
                   dir);
            rc = WL_ESCHEMA;
            goto fail;
        }
        if ((rc = open_dbs(s, txn, true)) || (rc = init_store(s, txn))) {
            rc = store_lmdb_error("initialise store", rc);
            goto fail;
        }
        wl_log(WL_LOG_INFO, "store", "created a new store in %s", dir);
    } else if (rc == MDB_NOTFOUND) {
        wl_log(WL_LOG_ERROR, "store", "%s is not a wherelog store", dir);
        rc = WL_ESCHEMA;
        goto fail;
    } else if (rc) {
        rc = store_lmdb_error("open databases", rc);
        goto fail;
    }
    if ((rc = check_schema(s, txn)))
        goto fail;
    rc = mdb_txn_commit(txn); /* also makes the database handles visible to every txn */
    txn = NULL;
    if (rc) {
        rc = store_lmdb_error("open store", rc);
        goto fail;
    }
    MDB_envinfo info;
    mdb_env_info(s->env, &info);
    note_map_max(s, room, info.me_mapsize);
    /* Timelines left stale by a crash, or missing in a store made before them: readers would
     * bring each up to date when asked, at the cost of that request; do it now. A failure
     * (the map full, say) leaves that to them. */
    if (!ro && (rc = stl_catch_up(s)))
        wl_log(WL_LOG_WARN, "timeline", "%s: timelines not brought up to date: %s", dir,
               wl_strerror(rc));
    /* Heat counts missing (a store from before them, a crash while they were first made): a
     * reader counts those devices' points until they are made. */
    if (!ro && (rc = store_heat_catch_up(s, NULL)))
        wl_log(WL_LOG_WARN, "heat", "%s: heat counts not made: %s", dir, wl_strerror(rc));
    *out = s;
    return 0;
fail:
    if (txn)
        mdb_txn_abort(txn);
    if (s->env)
        mdb_env_close(s->env);
    sev_close(s);
    pthread_rwlock_destroy(&s->resize_lock);
    free(s);
    return rc;
}

void store_close(struct store *s)
{
    if (!s)
        return;
    if (s->env)
        mdb_env_close(s->env);
    sev_close(s);
    pthread_rwlock_destroy(&s->resize_lock);
    free(s);
}

const char *store_client_id(struct store *s)
{
    return s->client_id;
}

const char *store_dir(struct store *s)
{
    return s->dir;
}

/* ---------------------------------------------------------------- writing */

/* Devices touched by one batch: looked up once, written back once at the end. */
struct dev_slot {
    const char *user, *device;
    struct devrec rec;
    bool dirty;
    uint32_t oldest_stored; /* the oldest point this batch stored (UINT32_MAX: none) */
    struct sev_dev ev;      /* event derivation's state of the device */
};

static int find_device(struct store *s, MDB_txn *txn, struct dev_slot *slots, size_t *nslots,
                       const char *user, const char *device, struct dev_slot **out)
{
    uint8_t key[DEVICE_KEY_MAX];
    MDB_val k, v;
    int rc;

    for (size_t i = 0; i < *nslots; i++) {
        if (strcmp(slots[i].user, user) == 0 && strcmp(slots[i].device, device) == 0) {
            *out = &slots[i];
            return 0;
        }
    }
    struct dev_slot *slot = &slots[(*nslots)++];
    *slot = (struct dev_slot){.user = user, .device = device, .oldest_stored = UINT32_MAX};
    k = (MDB_val){device_key(key, user, device), key};
    rc = mdb_get(txn, s->devices, &k, &v);
    if (rc == 0) {
        if (devrec_decode(&v, &slot->rec))
            return MDB_CORRUPTED;
    } else if (rc == MDB_NOTFOUND) {
        uint32_t id;
        uint8_t idkey[4];
        if ((rc = meta_get_u32(s, txn, "next_device", &id)) ||
            (rc = meta_put_u32(s, txn, "next_device", id + 1)))
            return rc;
        put_be32(idkey, id);
        MDB_val ik = {4, idkey};
        if ((rc = mdb_put(txn, s->devids, &ik, &k, MDB_NOOVERWRITE)))
            return rc;
        slot->rec.id = id;
        slot->dirty = true;
        /* a new device's counts are complete: it has no points yet */
        if (!atomic_load(&s->heat_deferred) && (rc = sht_new_device(s, txn, id)))
            return rc;
    } else {
        return rc;
    }
    *out = slot;
    return 0;
}

static uint32_t fnv1a(const void *data, size_t len)
{
    const uint8_t *p = data;
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < len; i++)
        h = (h ^ p[i]) * 16777619u;
    return h;
}

enum event_keying { KEEP_LATEST, KEEP_BY_TST, KEEP_HISTORY };

static enum event_keying event_keying(enum owntracks_kind kind)
{
    switch (kind) {
    case OWNTRACKS_TRANSITION:
    case OWNTRACKS_LWT:
    case OWNTRACKS_STEPS:
    case OWNTRACKS_BEACON: return KEEP_HISTORY;
    case OWNTRACKS_WAYPOINT: return KEEP_BY_TST;
    default: return KEEP_LATEST;
    }
}

/* ---------------------------------------------------------------- point chunks */

/*
 * A device's points are stored in chunks of consecutive points, each under the key
 * (device id, tst of its first point), holding at most chunk_max bytes: one LMDB page, so
 * that a full chunk fills one overflow page with almost nothing wasted. Inserting points
 * one by one into a single B-tree of interleaved devices leaves pages half full; chunks do
 * not, and they let an export decode points without a B-tree step per point.
 *
 *   chunk := u8 format (1) | u32le last tst | u16le count | point*count
 *   point := varint(tst - previous tst, the first relative to the key)
 *            | varint(len << 1 | hidden) | packed message (len bytes)
 *
 * Points in a chunk are in time order and unique by tst; a chunk covers the times from its
 * key up to the next chunk's key.
 */
#define CHUNK_FORMAT 1
#define CHUNK_HEADER 7

static size_t point_size(uint32_t delta, size_t len)
{
    return varint_len(delta) + varint_len((uint64_t)len << 1) + len;
}

static uint8_t *put_chunk_point(uint8_t *p, uint32_t delta, const struct chunk_pt *pt)
{
    p = varint_put(p, delta);
    p = varint_put(p, (uint64_t)pt->len << 1 | pt->hidden);
    memcpy(p, pt->data, pt->len);
    return p + pt->len;
}

/* Reads the next point of a chunk at *p (tst is the previous point's, updated). */
static bool next_chunk_point(const uint8_t **p, const uint8_t *end, uint32_t *tst,
                             struct chunk_pt *pt)
{
    uint64_t delta, lh;
    if (!varint_get(p, end, &delta) || !varint_get(p, end, &lh) || delta > UINT32_MAX - *tst ||
        (lh >> 1) > (uint64_t)(end - *p))
        return false;
    *tst += (uint32_t)delta;
    pt->tst = *tst;
    pt->hidden = lh & 1;
    pt->len = (size_t)(lh >> 1);
    pt->data = *p;
    *p += pt->len;
    return true;
}

static bool chunk_header(const MDB_val *v, uint32_t *last, unsigned *count)
{
    const uint8_t *p = v->mv_data;
    if (v->mv_size < CHUNK_HEADER || p[0] != CHUNK_FORMAT)
        return false;
    *last = get_le32(p + 1);
    *count = (unsigned)(p[5] | p[6] << 8);
    return *count > 0;
}

static void put_chunk_header(uint8_t *p, uint32_t last, size_t count)
{
    p[0] = CHUNK_FORMAT;
    put_le32(p + 1, last);
    p[5] = (uint8_t)count;
    p[6] = (uint8_t)(count >> 8);
}

/* Decodes a chunk (copied into sc->copy) into sc->pts. Returns the count or -1. */
static long decode_chunk(struct scratch *sc, size_t size, uint32_t key_tst, size_t extra)
{
    uint32_t last;
    unsigned count;
    MDB_val v = {size, sc->copy};
    if (!chunk_header(&v, &last, &count))
        return -1;
    struct chunk_pt *pts = array_reserve(sc->pts, &sc->pts_cap, count + extra, sizeof(*pts), 16);
    if (!pts)
        return -1;
    sc->pts = pts;
    const uint8_t *p = sc->copy + CHUNK_HEADER, *end = sc->copy + size;
    uint32_t tst = key_tst;
    for (unsigned i = 0; i < count; i++)
        if (!next_chunk_point(&p, end, &tst, &pts[i]) || (i && pts[i].tst <= pts[i - 1].tst))
            return -1;
    return p == end ? (long)count : -1;
}

static size_t chunk_size(const struct chunk_pt *pts, size_t n)
{
    size_t size = CHUNK_HEADER;
    for (size_t i = 0; i < n; i++)
        size += point_size(i ? pts[i].tst - pts[i - 1].tst : 0, pts[i].len);
    return size;
}

/* Writes pts[0..n) as one chunk under (id, pts[0].tst). */
static int put_chunk(struct store *s, MDB_txn *txn, uint32_t id, const struct chunk_pt *pts,
                     size_t n)
{
    uint8_t key[POINT_KEY];
    put_be32(key, id);
    put_be32(key + 4, pts[0].tst);
    MDB_val k = {POINT_KEY, key}, v = {chunk_size(pts, n), NULL};
    int rc = mdb_put(txn, s->points, &k, &v, MDB_RESERVE);
    if (rc)
        return rc;
    uint8_t *p = v.mv_data;
    put_chunk_header(p, pts[n - 1].tst, n);
    p += CHUNK_HEADER;
    for (size_t i = 0; i < n; i++)
        p = put_chunk_point(p, i ? pts[i].tst - pts[i - 1].tst : 0, &pts[i]);
    return 0;
}

/* Writes a run of points as as few chunks as fit, each at most chunk_max bytes (a point
 * larger than that gets a chunk of its own, on overflow pages). */
static int put_chunks(struct store *s, MDB_txn *txn, uint32_t id, const struct chunk_pt *pts,
                      size_t n)
{
    size_t start = 0;
    while (start < n) {
        size_t end = start + 1, size = CHUNK_HEADER + point_size(0, pts[start].len);
        while (end < n) {
            size_t add = point_size(pts[end].tst - pts[end - 1].tst, pts[end].len);
            if (size + add > s->chunk_max)
                break;
            size += add;
            end++;
        }
        int rc = put_chunk(s, txn, id, pts + start, end - start);
        if (rc)
            return rc;
        start = end;
    }
    return 0;
}

static bool same_device(const MDB_val *k, uint32_t id)
{
    return k->mv_size == POINT_KEY && get_be32(k->mv_data) == id;
}

/* Where a time falls among a device's chunks (keyed by device id | their first tst). */
enum chunk_place {
    CHUNK_NONE,   /* the device has no chunk */
    CHUNK_STARTS, /* found: the chunk that starts at t */
    CHUNK_BEFORE, /* found: the last chunk that starts before t (t may be past its last point) */
    CHUNK_AFTER   /* found: the device's first chunk, as all of them start after t */
};

/*
 * Finds the chunk of device id that holds t or is nearest to it, the one search every
 * reader and writer of chunks starts from. On a find, cur is on that chunk and k, v are its
 * key and value (in the map, valid until the transaction writes). Returns 0 with *place set,
 * or an LMDB error.
 */
static int find_chunk(MDB_cursor *cur, uint32_t id, uint32_t t, MDB_val *k, MDB_val *v,
                      enum chunk_place *place)
{
    uint8_t key[POINT_KEY];

    put_be32(key, id);
    put_be32(key + 4, t);
    *k = (MDB_val){POINT_KEY, key};
    int rc = mdb_cursor_get(cur, k, v, MDB_SET_RANGE);
    if (rc && rc != MDB_NOTFOUND)
        return rc;
    bool next_is_ours = rc == 0 && same_device(k, id);
    if (next_is_ours && get_be32((uint8_t *)k->mv_data + 4) == t) {
        *place = CHUNK_STARTS;
        return 0;
    }
    rc = mdb_cursor_get(cur, k, v, rc == MDB_NOTFOUND ? MDB_LAST : MDB_PREV);
    if (rc && rc != MDB_NOTFOUND)
        return rc;
    if (rc == 0 && same_device(k, id)) {
        *place = CHUNK_BEFORE;
        return 0;
    }
    *place = CHUNK_NONE;
    if (!next_is_ours)
        return 0;
    *k = (MDB_val){POINT_KEY, key};
    if ((rc = mdb_cursor_get(cur, k, v, MDB_SET_RANGE)))
        return rc;
    *place = CHUNK_AFTER;
    return 0;
}

static int put_point(struct store *s, MDB_txn *txn, MDB_cursor *cur, struct scratch *sc,
                     struct dev_slot *dev, const struct store_record *r, enum store_result *res)
{
    const uint32_t id = dev->rec.id, t = (uint32_t)r->tst;
    const struct chunk_pt me = {.tst = t, .data = r->data, .len = r->len};
    MDB_val ck, cv;
    uint32_t last;
    unsigned count;
    enum chunk_place place;
    int rc;

    if ((rc = find_chunk(cur, id, t, &ck, &cv, &place)))
        return rc;
    if (place == CHUNK_STARTS) {
        *res = STORE_DUPLICATE; /* the first point of a chunk */
        return 0;
    }
    *res = STORE_STORED;
    /* t goes into the chunk before it, or joins the first chunk when older than them all. */
    if (place == CHUNK_NONE)
        return put_chunk(s, txn, id, &me, 1);
    if (!chunk_header(&cv, &last, &count))
        return MDB_CORRUPTED;
    uint32_t ck_tst = get_be32((uint8_t *)ck.mv_data + 4);

    /* Copy the chunk out of the map: writing may move or reuse its pages. */
    uint8_t *copy =
        array_reserve(sc->copy, &sc->copy_cap, cv.mv_size + point_size(UINT32_MAX, r->len), 1, 16);
    if (!copy)
        return ENOMEM;
    sc->copy = copy;
    memcpy(copy, cv.mv_data, cv.mv_size);
    size_t size = cv.mv_size;

    if (t > last) {
        /* Appending, the common case. */
        size_t add = point_size(t - last, r->len);
        if (size + add > s->chunk_max)
            return put_chunk(s, txn, id, &me, 1); /* this chunk is full: start the next */
        put_chunk_point(copy + size, t - last, &me);
        size += add;
        put_chunk_header(copy, t, count + 1);
        uint8_t ckey[POINT_KEY];
        memcpy(ckey, ck.mv_data, POINT_KEY);
        MDB_val k2 = {POINT_KEY, ckey}, v2 = {size, copy};
        return mdb_put(txn, s->points, &k2, &v2, 0);
    }

    /* A late point inside (or before) the chunk: decode, insert in order, re-chunk. */
    long n = decode_chunk(sc, size, ck_tst, 1);
    if (n < 0)
        return MDB_CORRUPTED;
    size_t lo = 0, hi = (size_t)n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (sc->pts[mid].tst < t)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo < (size_t)n && sc->pts[lo].tst == t) {
        *res = STORE_DUPLICATE;
        return 0;
    }
    memmove(sc->pts + lo + 1, sc->pts + lo, ((size_t)n - lo) * sizeof(*sc->pts));
    sc->pts[lo] = me;
    if (lo == 0) { /* the chunk's first point changes, and with it its key */
        uint8_t okey[POINT_KEY];
        memcpy(okey, ck.mv_data, POINT_KEY);
        MDB_val ok = {POINT_KEY, okey};
        if ((rc = mdb_del(txn, s->points, &ok, NULL)))
            return rc;
    }
    return put_chunks(s, txn, id, sc->pts, (size_t)n + 1);
}

static void count_point(struct dev_slot *dev, const struct store_record *r)
{
    struct devrec *d = &dev->rec;
    if ((uint32_t)r->tst < dev->oldest_stored)
        dev->oldest_stored = (uint32_t)r->tst;
    d->points++;
    if (d->first == 0 || (uint32_t)r->tst < d->first)
        d->first = (uint32_t)r->tst;
    if ((uint32_t)r->tst >= d->last) {
        d->last = (uint32_t)r->tst;
        if (r->topic)
            snprintf(d->topic, sizeof(d->topic), "%s", r->topic);
    }
    dev->dirty = true;
}

static void event_key(uint8_t *key, uint32_t id, enum owntracks_kind kind, uint32_t tst,
                      uint32_t disc)
{
    put_be32(key, id);
    key[4] = (uint8_t)kind;
    put_be32(key + 5, tst);
    put_be32(key + 9, disc);
}

static int put_event(struct store *s, MDB_txn *txn, struct dev_slot *dev,
                     const struct store_record *r, enum store_result *res)
{
    uint8_t key[EVENT_KEY];
    enum event_keying keying = event_keying(r->kind);
    uint32_t tst = keying == KEEP_LATEST ? 0 : (uint32_t)r->tst;
    uint32_t disc = keying == KEEP_HISTORY ? fnv1a(r->data, r->len) : 0;
    MDB_val k = {EVENT_KEY, key}, v;
    int rc;

    event_key(key, dev->rec.id, r->kind, tst, disc);
    if (keying != KEEP_HISTORY) {
        rc = mdb_get(txn, s->events, &k, &v);
        if (rc == 0 && v.mv_size == r->len && memcmp(v.mv_data, r->data, r->len) == 0) {
            *res = STORE_DUPLICATE;
            return 0;
        }
        if (rc && rc != MDB_NOTFOUND)
            return rc;
    }
    v = (MDB_val){r->len, (void *)r->data};
    rc = mdb_put(txn, s->events, &k, &v, keying == KEEP_HISTORY ? MDB_NOOVERWRITE : 0);
    if (rc == MDB_KEYEXIST) {
        *res = STORE_DUPLICATE;
        return 0;
    }
    *res = STORE_STORED;
    return rc;
}

static int write_records(struct store *s, MDB_txn *txn, const struct store_record *recs, size_t n,
                         enum store_result *results, struct dev_slot *slots, struct scratch *sc,
                         struct stl_events *ev, struct sev_list *events, struct sht_batch *heat)
{
    size_t nslots = 0;
    bool deferred = atomic_load(&s->tl_deferred);
    bool heat_deferred = atomic_load(&s->heat_deferred);
    /* Events are derived from live data (store_set_event_hook), not from an import. */
    bool derive = s->ev_hook != NULL;
    MDB_cursor *cur = NULL;
    int rc = mdb_cursor_open(txn, s->points, &cur);

    for (size_t i = 0; i < n && rc == 0; i++) {
        const struct store_record *r = &recs[i];
        struct dev_slot *dev;
        if ((rc = find_device(s, txn, slots, &nslots, r->user, r->device, &dev)))
            break;
        if (r->kind == OWNTRACKS_LOCATION) {
            rc = put_point(s, txn, cur, sc, dev, r, &results[i]);
            if (rc == 0 && results[i] == STORE_STORED) {
                count_point(dev, r);
                if (!heat_deferred)
                    rc = sht_note(s, heat, dev->rec.id, r);
                if (rc == 0 && derive)
                    rc = sev_location(s, txn, &dev->ev, dev->rec.id, r, events);
            }
        } else {
            rc = put_event(s, txn, dev, r, &results[i]);
            if (rc == 0 && results[i] == STORE_STORED && r->kind == OWNTRACKS_TRANSITION && derive)
                rc = sev_transition(s, txn, &dev->ev, dev->rec.id, r, events);
        }
        if (rc == 0 && derive)
            rc = sev_seen(s, txn, &dev->ev, dev->rec.id);
        if (rc == 0 && (uint32_t)r->received > dev->rec.seen) {
            dev->rec.seen = (uint32_t)r->received;
            dev->dirty = true;
        }
    }
    /* The heat counts of the days that got points, each day record rewritten once; while
     * deferred, the devices written lose theirs until a catch-up. */
    if (rc == 0)
        rc = sht_add(s, txn, heat);
    for (size_t i = 0; i < nslots && rc == 0 && heat_deferred; i++)
        if (slots[i].oldest_stored != UINT32_MAX)
            rc = sht_drop_state(s, txn, slots[i].rec.id);
    /* The timeline of each device that got points, in the same transaction (store.h), and
     * the events of the stays and trips that opened or closed. */
    for (size_t i = 0; i < nslots && rc == 0; i++) {
        size_t before = ev->n;
        if (slots[i].oldest_stored != UINT32_MAX)
            rc = deferred ? stl_mark(s, txn, slots[i].rec.id, slots[i].oldest_stored)
                          : stl_update(s, txn, slots[i].rec.id, slots[i].user, slots[i].device,
                                       slots[i].oldest_stored, false, ev);
        if (rc == 0 && derive)
            rc = sev_timeline(s, txn, &slots[i].ev, slots[i].rec.id, ev->v + before, ev->n - before,
                              events);
        if (rc == 0)
            rc = sev_finish(s, txn, &slots[i].ev, slots[i].rec.id);
    }
    for (size_t i = 0; i < nslots && rc == 0; i++) {
        uint8_t key[DEVICE_KEY_MAX], val[DEVREC_FIXED + STORE_TOPIC_MAX];
        if (!slots[i].dirty)
            continue;
        MDB_val k = {device_key(key, slots[i].user, slots[i].device), key};
        MDB_val v = {devrec_encode(&slots[i].rec, val), val};
        rc = mdb_put(txn, s->devices, &k, &v, 0);
    }
    if (cur)
        mdb_cursor_close(cur);
    return rc;
}

bool store_disk_low(const struct store *s)
{
    struct statvfs st;
    return statvfs(s->dir, &st) == 0 && (uint64_t)st.f_bavail * st.f_frsize < STORE_DISK_LOW_BYTES;
}

int store_with_write_txn(struct store *s, int (*fn)(struct store *, MDB_txn *, void *), void *arg,
                         const char *what)
{
    MDB_txn *txn;
    int rc;

    if (s->read_only)
        return -EROFS;
    for (;;) {
        if ((rc = store_txn_begin(s, 0, &txn)))
            return rc;
        rc = fn(s, txn, arg);
        if (rc == 0) {
            rc = store_txn_commit(s, txn);
        } else {
            store_txn_abort(s, txn);
            if (rc == STORE_ABORT)
                return 0;
        }
        if (rc == MDB_MAP_FULL && (rc = grow_map(s)) == 0)
            continue;
        if (rc == 0 && atomic_exchange(&s->map_full, false))
            wl_log(WL_LOG_INFO, "store",
                   "%s: the map has room again: "
                   "writing again",
                   s->dir);
        if (rc == EIO && store_disk_low(s))
            rc = ENOSPC; /* LMDB reports a short write as EIO: say what it was */
        return store_lmdb_error(what, rc);
    }
}

struct batch_job {
    const struct store_record *recs;
    size_t n;
    enum store_result *results;
    struct dev_slot *slots;
    struct scratch sc;
    struct stl_events ev;   /* what opened or closed: for the hook, after the commit */
    struct sev_list events; /* events derived: for their hook, after the commit */
    struct sht_batch heat;  /* the cells of the points stored, for the heat counts */
};

static int batch_fn(struct store *s, MDB_txn *txn, void *arg)
{
    struct batch_job *j = arg;
    j->ev.n = 0; /* a retry after growing the map starts again */
    j->events.n = 0;
    j->heat.n = 0;
    return write_records(s, txn, j->recs, j->n, j->results, j->slots, &j->sc, &j->ev, &j->events,
                         &j->heat);
}

int store_write_batch(struct store *s, const struct store_record *recs, size_t n,
                      enum store_result *results)
{
    struct batch_job j = {.recs = recs, .n = n, .results = results};
    int rc;

    if (n == 0)
        return 0;
    j.slots = malloc(n * sizeof(*j.slots));
    if (!j.slots)
        return -ENOMEM;
    rc = store_with_write_txn(s, batch_fn, &j, "write batch");
    if (rc == 0) {
        stl_deliver(s, &j.ev);
        sev_deliver(s, &j.events);
    }
    free(j.ev.v);
    free(j.events.v);
    sht_batch_free(&j.heat);
    free(j.sc.copy);
    free(j.sc.pts);
    free(j.slots);
    return rc;
}

/* ---------------------------------------------------------------- reading */

static int device_from_record(const MDB_val *k, const MDB_val *v, struct store_device *d)
{
    struct devrec r;
    const char *key = k->mv_data;
    size_t ul = strnlen(key, k->mv_size);

    if (ul >= k->mv_size || ul > OWNTRACKS_NAME_MAX || k->mv_size - ul - 1 > OWNTRACKS_NAME_MAX ||
        devrec_decode(v, &r))
        return WL_ECORRUPT;
    memcpy(d->user, key, ul);
    d->user[ul] = '\0';
    memcpy(d->device, key + ul + 1, k->mv_size - ul - 1);
    d->device[k->mv_size - ul - 1] = '\0';
    d->id = r.id;
    d->points = r.points;
    d->first_tst = r.first;
    d->last_tst = r.last;
    d->last_seen = r.seen;
    memcpy(d->topic, r.topic, sizeof(d->topic));
    return 0;
}

int store_list_devices(struct store *s, const char *user,
                       int (*cb)(void *arg, const struct store_device *d), void *arg)
{
    MDB_txn *txn;
    MDB_cursor *cur;
    MDB_val k, v;
    size_t ul = user ? strlen(user) + 1 : 0; /* prefix: the user name and its NUL */
    int rc = store_txn_begin(s, MDB_RDONLY, &txn);

    if (rc)
        return rc;
    if ((rc = mdb_cursor_open(txn, s->devices, &cur))) {
        store_txn_abort(s, txn);
        return store_lmdb_error("open cursor", rc);
    }
    k = (MDB_val){ul, (void *)user};
    int stop = 0;
    rc = mdb_cursor_get(cur, &k, &v, user ? MDB_SET_RANGE : MDB_FIRST);
    while (rc == 0) {
        struct store_device d;
        if (user && (k.mv_size < ul || memcmp(k.mv_data, user, ul) != 0))
            break;
        if ((stop = device_from_record(&k, &v, &d)) || (stop = cb(arg, &d)))
            break;
        rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
    }
    mdb_cursor_close(cur);
    store_txn_abort(s, txn);
    if (stop)
        return stop;
    return rc == MDB_NOTFOUND ? 0 : store_lmdb_error("list devices", rc);
}

struct user_walk {
    char last[OWNTRACKS_NAME_MAX + 1];
    int (*cb)(void *arg, const char *user);
    void *arg;
};

static int user_of_device(void *arg, const struct store_device *d)
{
    struct user_walk *w = arg;
    if (strcmp(w->last, d->user) == 0)
        return 0;
    memcpy(w->last, d->user, sizeof(w->last));
    return w->cb(w->arg, d->user);
}

int store_list_users(struct store *s, int (*cb)(void *arg, const char *user), void *arg)
{
    struct user_walk w = {.cb = cb, .arg = arg};
    return store_list_devices(s, NULL, user_of_device, &w);
}

struct device_array {
    struct store_device *v;
    size_t n, cap;
    const char *only;
};

static int append_device(void *arg, const struct store_device *d)
{
    struct device_array *a = arg;
    if (a->only && strcmp(a->only, d->device) != 0)
        return 0;
    struct store_device *v = array_reserve(a->v, &a->cap, a->n + 1, sizeof(*v), 16);
    if (!v)
        return -ENOMEM;
    a->v = v;
    a->v[a->n++] = *d;
    return 0;
}

int store_devices(struct store *s, const char *user, const char *device, struct store_device **out,
                  size_t *n)
{
    struct device_array a = {.only = device};
    int rc = store_list_devices(s, user, append_device, &a);
    if (rc) {
        free(a.v);
        a.v = NULL;
        a.n = 0;
    }
    *out = a.v;
    *n = a.n;
    return rc;
}

int store_get_device(struct store *s, const char *user, const char *device,
                     struct store_device *out)
{
    uint8_t key[DEVICE_KEY_MAX];
    MDB_txn *txn;
    MDB_val k = {device_key(key, user, device), key}, v;
    int rc;

    if (strlen(user) > OWNTRACKS_NAME_MAX || strlen(device) > OWNTRACKS_NAME_MAX)
        return -ENOENT;
    if ((rc = store_txn_begin(s, MDB_RDONLY, &txn)))
        return rc;
    rc = mdb_get(txn, s->devices, &k, &v);
    rc = rc == 0              ? device_from_record(&k, &v, out)
         : rc == MDB_NOTFOUND ? -ENOENT
                              : store_lmdb_error("get", rc);
    store_txn_abort(s, txn);
    return rc;
}

struct store_iter {
    struct store *s;
    MDB_txn *txn;
    MDB_cursor *cur;
    bool reverse, with_hidden, done;
    unsigned in_txn; /* items returned under the current read transaction */
    enum owntracks_kind kind;

    /* Events: a plain key range; resumes after `last`. */
    bool started;
    uint8_t lo[EVENT_KEY], hi[EVENT_KEY], last[EVENT_KEY];

    /* Points: the bounds still to cover (they shrink as items are returned, so resuming is
     * just positioning again) and the chunk being read. */
    bool points, loaded;
    uint32_t id, from, to;
    const uint8_t *p, *end; /* forward: next point in the chunk */
    uint32_t tst;
    struct chunk_pt *pts; /* reverse: the chunk decoded */
    size_t pts_cap;
    long idx;
};

static int iter_new(struct store *s, unsigned flags, struct store_iter **out)
{
    struct store_iter *it = calloc(1, sizeof(*it));
    if (!it)
        return -ENOMEM;
    it->s = s;
    it->reverse = flags & STORE_ITER_REVERSE;
    it->with_hidden = flags & STORE_ITER_WITH_HIDDEN;
    *out = it;
    return 0;
}

static uint32_t clamp_tst(int64_t t)
{
    return t < 0 ? 0 : t > UINT32_MAX ? UINT32_MAX : (uint32_t)t;
}

int store_iter_points(struct store *s, uint32_t id, int64_t from, int64_t to, unsigned flags,
                      struct store_iter **out)
{
    int rc = iter_new(s, flags, out);
    if (rc)
        return rc;
    struct store_iter *it = *out;
    it->points = true;
    it->kind = OWNTRACKS_LOCATION;
    it->id = id;
    it->from = clamp_tst(from);
    it->to = clamp_tst(to);
    it->done = from > to;
    return 0;
}

int store_iter_events(struct store *s, uint32_t id, enum owntracks_kind kind, int64_t from,
                      int64_t to, unsigned flags, struct store_iter **out)
{
    int rc = iter_new(s, flags, out);
    if (rc)
        return rc;
    struct store_iter *it = *out;
    if (event_keying(kind) == KEEP_LATEST) {
        from = 0;
        to = 0;
    }
    it->kind = kind;
    event_key(it->lo, id, kind, clamp_tst(from), 0);
    event_key(it->hi, id, kind, clamp_tst(to), UINT32_MAX);
    it->done = from > to;
    return 0;
}

/* Ends the current read transaction; the next call resumes where this one stopped. */
static void iter_release(struct store_iter *it)
{
    if (!it->txn)
        return;
    mdb_cursor_close(it->cur);
    store_txn_abort(it->s, it->txn);
    it->txn = NULL;
    it->cur = NULL;
    it->in_txn = 0;
    it->loaded = false;
}

static int iter_begin(struct store_iter *it)
{
    int rc = store_txn_begin(it->s, MDB_RDONLY, &it->txn);
    if (rc)
        return rc;
    if ((rc = mdb_cursor_open(it->txn, it->points ? it->s->points : it->s->events, &it->cur))) {
        store_txn_abort(it->s, it->txn);
        it->txn = NULL;
        return store_lmdb_error("open cursor", rc);
    }
    return 0;
}

static void iter_end(struct store_iter *it)
{
    it->done = true;
    iter_release(it);
}

/* ---- points */

static int load_chunk(struct store_iter *it, const MDB_val *k, const MDB_val *v)
{
    uint32_t last;
    unsigned count;
    if (!chunk_header(v, &last, &count))
        return WL_ECORRUPT;
    it->p = (const uint8_t *)v->mv_data + CHUNK_HEADER;
    it->end = (const uint8_t *)v->mv_data + v->mv_size;
    it->tst = get_be32((const uint8_t *)k->mv_data + 4);
    it->loaded = true;
    if (!it->reverse)
        return 0;
    struct chunk_pt *pts = array_reserve(it->pts, &it->pts_cap, count, sizeof(*pts), 16);
    if (!pts)
        return -ENOMEM;
    it->pts = pts;
    for (unsigned i = 0; i < count; i++)
        if (!next_chunk_point(&it->p, it->end, &it->tst, &pts[i]))
            return WL_ECORRUPT;
    it->idx = (long)count - 1;
    return 0;
}

/* Finds the chunk holding the first time still to cover (from, or to when reverse). */
static int position_points(struct store_iter *it)
{
    MDB_val k, v;
    enum chunk_place place;
    int rc = find_chunk(it->cur, it->id, it->reverse ? it->to : it->from, &k, &v, &place);

    if (rc)
        return store_lmdb_error("read", rc);
    if (place == CHUNK_NONE || (place == CHUNK_AFTER && it->reverse))
        return 1; /* nothing of this device on that side */
    return load_chunk(it, &k, &v);
}

static int next_point(struct store_iter *it, struct store_item *item)
{
    MDB_val k, v;
    int rc;

    if (!it->loaded && (rc = position_points(it)) != 0)
        return rc > 0 ? 0 : rc;
    for (;;) {
        struct chunk_pt pt;
        bool have;
        if (it->reverse) {
            have = it->idx >= 0;
            if (have)
                pt = it->pts[it->idx--];
        } else {
            have = it->p < it->end;
            if (have && !next_chunk_point(&it->p, it->end, &it->tst, &pt))
                return WL_ECORRUPT;
        }
        if (!have) {
            rc = mdb_cursor_get(it->cur, &k, &v, it->reverse ? MDB_PREV : MDB_NEXT);
            if (rc == MDB_NOTFOUND || (rc == 0 && !same_device(&k, it->id)))
                return 0;
            if (rc)
                return store_lmdb_error("read", rc);
            if (!it->reverse && get_be32((uint8_t *)k.mv_data + 4) > it->to)
                return 0;
            if ((rc = load_chunk(it, &k, &v)))
                return rc;
            continue;
        }
        if (it->reverse ? pt.tst > it->to : pt.tst < it->from)
            continue;
        if (it->reverse ? pt.tst < it->from : pt.tst > it->to)
            return 0;
        /* What is left to cover, should the transaction end here. */
        if (it->reverse) {
            if (pt.tst == 0)
                it->done = true;
            else
                it->to = pt.tst - 1;
        } else {
            it->from = pt.tst + 1;
        }
        if (pt.hidden && !it->with_hidden)
            continue;
        *item = (struct store_item){.tst = pt.tst,
                                    .kind = OWNTRACKS_LOCATION,
                                    .flags = pt.hidden ? STORE_POINT_HIDDEN : 0,
                                    .data = pt.data,
                                    .len = pt.len};
        return 1;
    }
}

/* ---- events */

static int next_event(struct store_iter *it, struct store_item *item)
{
    MDB_val k, v;
    int rc;

    if (!it->loaded) {
        k = (MDB_val){EVENT_KEY, it->started ? it->last : (it->reverse ? it->hi : it->lo)};
        rc = mdb_cursor_get(it->cur, &k, &v, MDB_SET_RANGE);
        it->loaded = true;
        if (it->reverse) {
            if (rc == MDB_NOTFOUND)
                rc = mdb_cursor_get(it->cur, &k, &v, MDB_LAST);
            else if (rc == 0 && (it->started || memcmp(k.mv_data, it->hi, EVENT_KEY) > 0))
                rc = mdb_cursor_get(it->cur, &k, &v, MDB_PREV);
        } else if (rc == 0 && it->started && memcmp(k.mv_data, it->last, EVENT_KEY) == 0) {
            rc = mdb_cursor_get(it->cur, &k, &v, MDB_NEXT);
        }
    } else {
        rc = mdb_cursor_get(it->cur, &k, &v, it->reverse ? MDB_PREV : MDB_NEXT);
    }
    if (rc == MDB_NOTFOUND)
        return 0;
    if (rc)
        return store_lmdb_error("read", rc);
    if (k.mv_size != EVENT_KEY || memcmp(k.mv_data, it->lo, EVENT_KEY) < 0 ||
        memcmp(k.mv_data, it->hi, EVENT_KEY) > 0)
        return 0;
    it->started = true;
    memcpy(it->last, k.mv_data, EVENT_KEY);
    *item = (struct store_item){.tst = get_be32((uint8_t *)k.mv_data + 5),
                                .kind = it->kind,
                                .data = v.mv_data,
                                .len = v.mv_size};
    return 1;
}

int store_iter_next(struct store_iter *it, struct store_item *item)
{
    int rc;

    if (it->done)
        return 0;
    if (it->txn && it->in_txn >= STORE_ITER_CHUNK)
        iter_release(it);
    if (!it->txn && (rc = iter_begin(it)))
        return rc;
    rc = it->points ? next_point(it, item) : next_event(it, item);
    if (rc == 1)
        it->in_txn++;
    else
        iter_end(it);
    return rc;
}

void store_iter_pause(struct store_iter *it)
{
    iter_release(it);
}

void store_iter_close(struct store_iter *it)
{
    if (!it)
        return;
    iter_release(it);
    free(it->pts);
    free(it);
}

/* ---------------------------------------------------------------- changing history */

/* Chunks rewritten per transaction when deleting or pruning: small, so that a write
 * transaction never holds the writer's lock for long and ingest goes on in between. */
#define STORE_EDIT_CHUNKS 32

/* Reads a device record by name inside a transaction. */
int store_get_devrec(struct store *s, MDB_txn *txn, const char *user, const char *device,
                     struct devrec *r)
{
    uint8_t key[DEVICE_KEY_MAX];
    MDB_val k = {device_key(key, user, device), key}, v;
    int rc = mdb_get(txn, s->devices, &k, &v);
    return rc ? rc : devrec_decode(&v, r) ? MDB_CORRUPTED : 0;
}

static int put_devrec(struct store *s, MDB_txn *txn, const char *user, const char *device,
                      const struct devrec *r)
{
    uint8_t key[DEVICE_KEY_MAX], val[DEVREC_FIXED + STORE_TOPIC_MAX];
    MDB_val k = {device_key(key, user, device), key}, v = {devrec_encode(r, val), val};
    return mdb_put(txn, s->devices, &k, &v, 0);
}

/*
 * Positions cur on the chunk of device id whose range holds t, or else on the device's
 * first chunk after t. Returns 0, MDB_NOTFOUND (no such chunk) or an LMDB error.
 */
int store_seek_chunk(MDB_cursor *cur, uint32_t id, uint32_t t, MDB_val *k, MDB_val *v)
{
    uint32_t last;
    unsigned count;
    enum chunk_place place;
    int rc = find_chunk(cur, id, t, k, v, &place);

    if (rc)
        return rc;
    if (place == CHUNK_NONE)
        return MDB_NOTFOUND;
    if (place != CHUNK_BEFORE)
        return 0;
    if (!chunk_header(v, &last, &count))
        return MDB_CORRUPTED;
    if (last >= t)
        return 0;
    /* t is past that chunk's last point: the device's next chunk, if any. */
    rc = mdb_cursor_get(cur, k, v, MDB_NEXT);
    if (rc == 0 && !same_device(k, id))
        return MDB_NOTFOUND;
    return rc;
}

/* Copies the chunk at (k, v) into the scratch and decodes it. Returns the count or -1. */
long store_load_chunk(struct scratch *sc, const MDB_val *k, const MDB_val *v)
{
    uint8_t *copy = array_reserve(sc->copy, &sc->copy_cap, v->mv_size, 1, 16);
    if (!copy)
        return -1;
    sc->copy = copy;
    memcpy(copy, v->mv_data, v->mv_size);
    return decode_chunk(sc, v->mv_size, get_be32((const uint8_t *)k->mv_data + 4), 0);
}

/* After points were removed: the device's first and last tst, from its first and last chunk. */
static int refresh_bounds(struct store *s, MDB_txn *txn, uint32_t id, struct devrec *r)
{
    MDB_cursor *cur;
    MDB_val k, v;
    uint32_t last;
    unsigned count;
    uint8_t key[POINT_KEY];
    int rc = mdb_cursor_open(txn, s->points, &cur);

    if (rc)
        return rc;
    r->first = r->last = 0;
    put_be32(key, id);
    put_be32(key + 4, 0);
    k = (MDB_val){POINT_KEY, key};
    rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
    if (rc == 0 && same_device(&k, id)) {
        r->first = get_be32((uint8_t *)k.mv_data + 4);
        put_be32(key, id + 1);
        k = (MDB_val){POINT_KEY, key};
        rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
        rc = mdb_cursor_get(cur, &k, &v, rc == MDB_NOTFOUND ? MDB_LAST : MDB_PREV);
        if (rc == 0 && chunk_header(&v, &last, &count))
            r->last = last;
    }
    mdb_cursor_close(cur);
    return rc == MDB_NOTFOUND ? 0 : rc;
}

struct delete_job {
    const char *user, *device;
    uint32_t from, to; /* what is left to do; `from` advances */
    bool dry_run;
    bool done;
    uint64_t removed;
    struct scratch sc;
};

/* Removes the points of up to STORE_EDIT_CHUNKS chunks of the job's range. */
static int delete_some(struct store *s, MDB_txn *txn, void *arg)
{
    struct delete_job *j = arg;
    struct devrec r;
    MDB_cursor *cur;
    MDB_val k, v;
    uint64_t removed = 0;
    uint32_t from = j->from, oldest = UINT32_MAX, newest = 0; /* of the points removed */
    int rc = store_get_devrec(s, txn, j->user, j->device, &r);

    if (rc)
        return rc == MDB_NOTFOUND ? (j->done = true, 0) : rc;
    if ((rc = mdb_cursor_open(txn, s->points, &cur)))
        return rc;
    for (int n = 0; n < STORE_EDIT_CHUNKS && !j->done; n++) {
        if ((rc = store_seek_chunk(cur, r.id, from, &k, &v)) == MDB_NOTFOUND ||
            (rc == 0 && get_be32((uint8_t *)k.mv_data + 4) > j->to)) {
            j->done = true;
            rc = 0;
            break;
        }
        if (rc)
            break;
        uint8_t okey[POINT_KEY];
        memcpy(okey, k.mv_data, POINT_KEY);
        long count = store_load_chunk(&j->sc, &k, &v);
        if (count < 0) {
            rc = MDB_CORRUPTED;
            break;
        }
        size_t keep = 0;
        for (long i = 0; i < count; i++) {
            uint32_t t = j->sc.pts[i].tst;
            if (t < j->from || t > j->to) {
                j->sc.pts[keep++] = j->sc.pts[i];
            } else {
                oldest = t < oldest ? t : oldest;
                newest = t > newest ? t : newest;
            }
        }
        uint32_t last = j->sc.pts[count - 1].tst;
        if (keep < (size_t)count && !j->dry_run) {
            MDB_val ok = {POINT_KEY, okey};
            if ((rc = mdb_del(txn, s->points, &ok, NULL)) ||
                (keep && (rc = put_chunks(s, txn, r.id, j->sc.pts, keep))))
                break;
        }
        removed += (size_t)count - keep;
        if (last >= j->to)
            j->done = true;
        else
            from = last + 1;
    }
    mdb_cursor_close(cur);
    if (rc)
        return rc;
    if (removed && !j->dry_run) {
        r.points = removed > r.points ? 0 : r.points - (uint32_t)removed;
        if ((rc = stl_mark(s, txn, r.id, j->from)) ||
            (rc = sht_recount(s, txn, r.id, oldest, newest)) ||
            (rc = refresh_bounds(s, txn, r.id, &r)) ||
            (rc = put_devrec(s, txn, j->user, j->device, &r)))
            return rc;
    }
    /* Only now, as the transaction will commit: a retry after growing the map redoes it. */
    j->removed += removed;
    j->from = from;
    return j->dry_run ? STORE_ABORT : 0;
}

int store_delete_points(struct store *s, const char *user, const char *device, int64_t from,
                        int64_t to, bool dry_run, uint64_t *removed)
{
    struct delete_job j = {.user = user,
                           .device = device,
                           .from = clamp_tst(from),
                           .to = clamp_tst(to),
                           .dry_run = dry_run};
    int rc = 0;

    *removed = 0;
    if (from > to)
        return 0;
    while (!j.done && rc == 0)
        rc = store_with_write_txn(s, delete_some, &j, "delete points");
    if (rc == 0 && j.removed && !dry_run)
        rc = stl_refresh(s, user, device);
    free(j.sc.copy);
    free(j.sc.pts);
    *removed = j.removed;
    return rc;
}

/* Deletes (or counts) up to `max` entries of a database whose keys start with the device
 * id. Sets *done when none is left. */
int store_delete_prefixed(MDB_txn *txn, MDB_dbi dbi, uint32_t id, bool dry_run, size_t max,
                          uint64_t *count, bool *done)
{
    MDB_cursor *cur;
    MDB_val k, v;
    uint8_t key[4];
    int rc = mdb_cursor_open(txn, dbi, &cur);

    if (rc)
        return rc;
    put_be32(key, id);
    k = (MDB_val){4, key};
    rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
    *done = true;
    for (size_t n = 0; rc == 0 && k.mv_size >= 4 && get_be32(k.mv_data) == id; n++) {
        if (!dry_run && n == max) {
            *done = false;
            break;
        }
        (*count)++;
        rc = dry_run ? 0 : mdb_cursor_del(cur, 0);
        if (rc == 0)
            rc = mdb_cursor_get(cur, &k, &v, dry_run ? MDB_NEXT : MDB_GET_CURRENT);
    }
    mdb_cursor_close(cur);
    return rc == MDB_NOTFOUND || rc == EINVAL ? 0 : rc;
}

struct device_job {
    const char *user, *device;
    bool dry_run;
    bool done;
    struct store_removed out;
};

static int delete_device_some(struct store *s, MDB_txn *txn, void *arg)
{
    struct device_job *j = arg;
    struct devrec r;
    uint64_t chunks = 0, events = 0;
    bool points_done = false, events_done = false;
    int rc = store_get_devrec(s, txn, j->user, j->device, &r);

    if (rc == MDB_NOTFOUND) {
        j->done = true;
        return j->dry_run ? STORE_ABORT : 0;
    }
    if (rc ||
        (rc = store_delete_prefixed(txn, s->points, r.id, j->dry_run, STORE_EDIT_CHUNKS, &chunks,
                                    &points_done)) ||
        (rc = store_delete_prefixed(txn, s->events, r.id, j->dry_run, 4 * STORE_EDIT_CHUNKS,
                                    &events, &events_done)))
        return rc;
    if (s->have_timeline && !j->dry_run) {
        /* The timeline goes with the points: segments, days and state. */
        uint64_t ignored = 0;
        bool segs_done, days_done, ckpt_done, state_done;
        if ((rc = store_delete_prefixed(txn, s->tl_segs, r.id, false, 4 * STORE_EDIT_CHUNKS,
                                        &ignored, &segs_done)) ||
            (rc = store_delete_prefixed(txn, s->tl_days, r.id, false, 4 * STORE_EDIT_CHUNKS,
                                        &ignored, &days_done)) ||
            (rc = store_delete_prefixed(txn, s->tl_ckpt, r.id, false, 4 * STORE_EDIT_CHUNKS,
                                        &ignored, &ckpt_done)) ||
            (rc = store_delete_prefixed(txn, s->tl_state, r.id, false, 1, &ignored, &state_done)))
            return rc;
        events_done = events_done && segs_done && days_done && ckpt_done && state_done;
    }
    if (s->have_heat && !j->dry_run) { /* and the heat counts */
        uint64_t ignored = 0;
        bool heat_done, state_done;
        if ((rc = store_delete_prefixed(txn, s->heat, r.id, false, 4 * STORE_EDIT_CHUNKS, &ignored,
                                        &heat_done)) ||
            (rc = store_delete_prefixed(txn, s->heat_state, r.id, false, 1, &ignored, &state_done)))
            return rc;
        events_done = events_done && heat_done && state_done;
    }
    if (!j->dry_run) { /* and the events derived from them */
        uint64_t ignored = 0;
        bool derived_done;
        if ((rc = sev_delete_device(s, txn, r.id, false, 4 * STORE_EDIT_CHUNKS, &ignored,
                                    &derived_done)))
            return rc;
        events_done = events_done && derived_done;
    }
    j->out.events += events;
    if (j->dry_run || (points_done && events_done)) {
        j->out.points = r.points;
        j->out.device = true;
        j->done = true;
        if (!j->dry_run) {
            uint8_t key[DEVICE_KEY_MAX], idkey[4];
            MDB_val k = {device_key(key, j->user, j->device), key}, ik = {4, idkey};
            put_be32(idkey, r.id);
            if ((rc = mdb_del(txn, s->devices, &k, NULL)) ||
                (rc = mdb_del(txn, s->devids, &ik, NULL)))
                return rc;
        }
    }
    return j->dry_run ? STORE_ABORT : 0;
}

int store_delete_device(struct store *s, const char *user, const char *device, bool dry_run,
                        struct store_removed *out)
{
    struct device_job j = {.user = user, .device = device, .dry_run = dry_run};
    int rc = 0;
    while (!j.done && rc == 0)
        rc = store_with_write_txn(s, delete_device_some, &j, "delete device");
    *out = j.out;
    return rc;
}

struct hide_job {
    const char *user, *device;
    uint32_t tst;
    bool hidden;
    bool found;
    struct scratch sc;
};

static int hide_fn(struct store *s, MDB_txn *txn, void *arg)
{
    struct hide_job *j = arg;
    struct devrec r;
    MDB_cursor *cur;
    MDB_val k, v;
    int rc = store_get_devrec(s, txn, j->user, j->device, &r);

    j->found = false;
    if (rc)
        return rc;
    if ((rc = mdb_cursor_open(txn, s->points, &cur)))
        return rc;
    rc = store_seek_chunk(cur, r.id, j->tst, &k, &v);
    long count = rc ? 0 : store_load_chunk(&j->sc, &k, &v);
    mdb_cursor_close(cur);
    if (rc)
        return rc;
    if (count < 0)
        return MDB_CORRUPTED;
    for (long i = 0; i < count; i++) {
        if (j->sc.pts[i].tst == j->tst) {
            j->found = true;
            j->sc.pts[i].hidden = j->hidden;
            /* same key, same size; and the timeline from that point on */
            if ((rc = put_chunk(s, txn, r.id, j->sc.pts, (size_t)count)) ||
                (rc = sht_recount(s, txn, r.id, j->tst, j->tst)))
                return rc;
            return stl_update(s, txn, r.id, j->user, j->device, j->tst, false, NULL);
        }
    }
    return MDB_NOTFOUND;
}

int store_set_hidden(struct store *s, const char *user, const char *device, int64_t tst,
                     bool hidden)
{
    struct hide_job j = {.user = user, .device = device, .tst = clamp_tst(tst), .hidden = hidden};
    int rc = store_with_write_txn(s, hide_fn, &j, "hide point");
    free(j.sc.copy);
    free(j.sc.pts);
    return rc;
}

/* ---------------------------------------------------------------- copies and checks */

int store_copy(struct store *s, const char *path, enum store_copy_mode mode)
{
    int rc;
    /* A copy is one long read transaction; taking the resize lock shared lets ingest go on
     * (LMDB copies a snapshot) while the map cannot be resized under it. */
    pthread_rwlock_rdlock(&s->resize_lock);
    if (!s->env) {
        rc = WL_EMAPFULL; /* the map was lost and could not be made again (logged) */
    } else if (mode == STORE_COPY_FILE) {
        int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        if (fd < 0) {
            rc = -errno;
        } else {
            rc = mdb_env_copyfd2(s->env, fd, MDB_CP_COMPACT);
            if (rc == 0 && fsync(fd) != 0)
                rc = errno;
            if (close(fd) != 0 && rc == 0)
                rc = errno;
            if (rc)
                unlink(path);
            rc = store_lmdb_error("copy", rc);
        }
    } else {
        if (mkdir(path, 0700) != 0 && errno != EEXIST) {
            rc = -errno;
        } else {
            rc = mdb_env_copy2(s->env, path, MDB_CP_COMPACT);
            rc = store_lmdb_error("copy", rc);
        }
    }
    pthread_rwlock_unlock(&s->resize_lock);
    return rc;
}

struct checker {
    void (*report)(void *arg, const char *problem);
    void *arg;
    unsigned problems;
};

static void problem(struct checker *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void problem(struct checker *c, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    c->problems++;
    if (c->report)
        c->report(c->arg, msg);
}

/* Every chunk of a device decodes, its points ascend and decode, and the record agrees. */
static int check_device(struct store *s, MDB_txn *txn, const struct store_device *d,
                        struct checker *c, struct scratch *sc, uint64_t *points)
{
    MDB_cursor *cur;
    MDB_val k, v;
    uint8_t key[POINT_KEY];
    uint64_t n = 0;
    uint32_t first = 0, last = 0, prev = 0;
    int rc = mdb_cursor_open(txn, s->points, &cur);

    if (rc)
        return rc;
    put_be32(key, d->id);
    put_be32(key + 4, 0);
    k = (MDB_val){POINT_KEY, key};
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE); rc == 0 && same_device(&k, d->id);
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        uint32_t ktst = get_be32((uint8_t *)k.mv_data + 4), hlast;
        unsigned hcount;
        long count = store_load_chunk(sc, &k, &v);
        if (count < 0 || !chunk_header(&v, &hlast, &hcount)) {
            problem(c, "%s/%s: the chunk at %u does not decode", d->user, d->device, ktst);
            continue;
        }
        if (sc->pts[0].tst != ktst || sc->pts[count - 1].tst != hlast)
            problem(c, "%s/%s: the chunk at %u has a wrong key or header", d->user, d->device,
                    ktst);
        if (n && ktst <= prev)
            problem(c, "%s/%s: chunks overlap at %u", d->user, d->device, ktst);
        for (long i = 0; i < count; i++) {
            struct pack_reader r;
            struct pack_value pv;
            int prc = pack_open(&r, sc->pts[i].data, sc->pts[i].len, sc->pts[i].tst, "location");
            while (prc == 0 && (prc = pack_next(&r, NULL, NULL, &pv)) == 1)
                prc = 0;
            if (prc < 0)
                problem(c, "%s/%s: the point at %u does not decode", d->user, d->device,
                        sc->pts[i].tst);
        }
        if (!n)
            first = ktst;
        last = prev = sc->pts[count - 1].tst;
        n += (uint64_t)count;
    }
    mdb_cursor_close(cur);
    if (rc && rc != MDB_NOTFOUND)
        return rc;
    if (n != d->points)
        problem(c, "%s/%s: the record counts %u points, the history holds %llu", d->user, d->device,
                d->points, (unsigned long long)n);
    if (n && (first != d->first_tst || last != d->last_tst))
        problem(c, "%s/%s: the record says %lld..%lld, the history %u..%u", d->user, d->device,
                (long long)d->first_tst, (long long)d->last_tst, first, last);
    *points += n;
    return 0;
}

struct heat_checker {
    struct checker *c;
    const struct store_device *d;
};

static void heat_differs(void *arg, uint32_t day)
{
    struct heat_checker *h = arg;
    int64_t year;
    unsigned month, mday;
    wtime_to_civil(day, &year, &month, &mday);
    problem(h->c, "%s/%s: the heat counts of %04lld-%02u-%02u (UTC) differ from its points",
            h->d->user, h->d->device, (long long)year, month, mday);
}

int store_check(struct store *s, void (*report)(void *arg, const char *problem), void *arg,
                struct store_check_counts *counts)
{
    struct checker c = {.report = report, .arg = arg};
    struct scratch sc = {0};
    MDB_txn *txn;
    MDB_cursor *cur;
    MDB_val k, v;
    int rc;

    memset(counts, 0, sizeof(*counts));
    if ((rc = store_txn_begin(s, MDB_RDONLY, &txn)))
        return rc;
    /* One snapshot for the whole check: a long read, but the check must see one state. */
    if ((rc = mdb_cursor_open(txn, s->devices, &cur)))
        goto out;
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        struct store_device d;
        if (device_from_record(&k, &v, &d)) {
            problem(&c, "a device record does not decode");
            continue;
        }
        counts->devices++;
        uint8_t idkey[4];
        MDB_val ik = {4, idkey}, iv;
        put_be32(idkey, d.id);
        if (mdb_get(txn, s->devids, &ik, &iv) != 0 || iv.mv_size != k.mv_size ||
            memcmp(iv.mv_data, k.mv_data, k.mv_size) != 0)
            problem(&c, "%s/%s: device id %u is not mapped back to it", d.user, d.device, d.id);
        struct heat_checker hc = {&c, &d};
        if ((rc = check_device(s, txn, &d, &c, &sc, &counts->points)) ||
            (rc = sht_check(s, txn, d.id, heat_differs, &hc)))
            break;
    }
    mdb_cursor_close(cur);
    if (rc && rc != MDB_NOTFOUND)
        goto out;
    if ((rc = mdb_cursor_open(txn, s->events, &cur)))
        goto out;
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        const uint8_t *key = k.mv_data;
        struct pack_reader r;
        struct pack_value pv;
        counts->events++;
        if (k.mv_size != EVENT_KEY || key[4] >= OWNTRACKS_KIND_COUNT) {
            problem(&c, "an event key is malformed");
            continue;
        }
        uint8_t idkey[4];
        MDB_val ik = {4, idkey}, iv;
        memcpy(idkey, key, 4);
        if (mdb_get(txn, s->devids, &ik, &iv) != 0)
            problem(&c, "an event belongs to unknown device %u", get_be32(key));
        int prc =
            pack_open(&r, v.mv_data, v.mv_size, get_be32(key + 5), owntracks_kind_name(key[4]));
        while (prc == 0 && (prc = pack_next(&r, NULL, NULL, &pv)) == 1)
            prc = 0;
        if (prc < 0)
            problem(&c, "a %s event of device %u does not decode", owntracks_kind_name(key[4]),
                    get_be32(key));
    }
    mdb_cursor_close(cur);
    rc = rc == MDB_NOTFOUND ? 0 : rc;
out:
    store_txn_abort(s, txn);
    free(sc.copy);
    free(sc.pts);
    counts->problems = c.problems;
    return store_lmdb_error("check", rc);
}

/* ---------------------------------------------------------------- keys */

struct key_job {
    MDB_val key;
    MDB_val *secret; /* NULL: delete */
};

static int key_fn(struct store *s, MDB_txn *txn, void *arg)
{
    struct key_job *j = arg;
    return j->secret ? mdb_put(txn, s->keys, &j->key, j->secret, 0)
                     : mdb_del(txn, s->keys, &j->key, NULL);
}

static int key_op(struct store *s, const char *user, const char *device, MDB_val *secret)
{
    uint8_t key[DEVICE_KEY_MAX];
    struct key_job j = {.key = {device_key(key, user, device), key}, .secret = secret};
    return store_with_write_txn(s, key_fn, &j, "update key"); /* MDB_NOTFOUND becomes -ENOENT */
}

int store_key_set(struct store *s, const char *user, const char *device,
                  const unsigned char *secret, size_t len)
{
    if (len == 0 || len > OWNTRACKS_SECRET_MAX)
        return -EINVAL;
    MDB_val v = {len, (void *)secret};
    return key_op(s, user, device, &v);
}

int store_key_delete(struct store *s, const char *user, const char *device)
{
    return key_op(s, user, device, NULL);
}

int store_key_get(struct store *s, const char *user, const char *device,
                  unsigned char secret[OWNTRACKS_SECRET_MAX])
{
    uint8_t key[DEVICE_KEY_MAX];
    MDB_txn *txn;
    MDB_val k = {device_key(key, user, device), key}, v;
    int rc = store_txn_begin(s, MDB_RDONLY, &txn);

    if (rc)
        return rc;
    rc = mdb_get(txn, s->keys, &k, &v);
    if (rc == 0 && v.mv_size >= 1 && v.mv_size <= OWNTRACKS_SECRET_MAX) {
        memcpy(secret, v.mv_data, v.mv_size);
        rc = (int)v.mv_size;
    } else {
        rc = rc == MDB_NOTFOUND ? 0 : rc ? store_lmdb_error("read key", rc) : WL_ECORRUPT;
    }
    store_txn_abort(s, txn);
    return rc;
}

int store_key_list(struct store *s, int (*cb)(void *arg, const char *user, const char *device),
                   void *arg)
{
    MDB_txn *txn;
    MDB_cursor *cur;
    MDB_val k, v;
    int rc = store_txn_begin(s, MDB_RDONLY, &txn);

    if (rc)
        return rc;
    if ((rc = mdb_cursor_open(txn, s->keys, &cur))) {
        store_txn_abort(s, txn);
        return store_lmdb_error("open cursor", rc);
    }
    int stop = 0;
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        char user[OWNTRACKS_NAME_MAX + 1], device[OWNTRACKS_NAME_MAX + 1];
        size_t ul = strnlen(k.mv_data, k.mv_size);
        if (ul > OWNTRACKS_NAME_MAX || ul >= k.mv_size || k.mv_size - ul - 1 > OWNTRACKS_NAME_MAX) {
            rc = WL_ECORRUPT;
            break;
        }
        memcpy(user, k.mv_data, ul);
        user[ul] = '\0';
        memcpy(device, (char *)k.mv_data + ul + 1, k.mv_size - ul - 1);
        device[k.mv_size - ul - 1] = '\0';
        if ((stop = cb(arg, user, device)))
            break;
    }
    mdb_cursor_close(cur);
    store_txn_abort(s, txn);
    if (stop)
        return stop;
    return rc == MDB_NOTFOUND ? 0 : store_lmdb_error("list keys", rc);
}

static int keyring_lookup(void *arg, const char *user, const char *device,
                          unsigned char secret[OWNTRACKS_SECRET_MAX])
{
    return store_key_get(arg, user, device, secret);
}

struct owntracks_keyring store_keyring(struct store *s)
{
    return (struct owntracks_keyring){.lookup = keyring_lookup, .arg = s};
}

/* ---------------------------------------------------------------- facts */

int store_stats(struct store *s, struct store_stats *out)
{
    MDB_envinfo info;
    MDB_stat st;
    MDB_txn *txn;
    struct stat fst;
    char path[PATH_MAX + 16];
    int rc;

    memset(out, 0, sizeof(*out));
    snprintf(path, sizeof(path), "%s/data.mdb", s->dir);
    if (stat(path, &fst) == 0)
        out->file_bytes = (uint64_t)fst.st_size;
    if ((rc = store_txn_begin(s, MDB_RDONLY, &txn)))
        return rc;
    mdb_env_info(s->env, &info);
    mdb_env_stat(s->env, &st);
    out->map_bytes = info.me_mapsize;
    out->used_bytes = (uint64_t)(info.me_last_pgno + 1) * st.ms_psize;
    if (mdb_stat(txn, s->points, &st) == 0)
        out->chunks = st.ms_entries;
    MDB_cursor *cur;
    MDB_val k, v;
    if (mdb_cursor_open(txn, s->devices, &cur) == 0) {
        for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
             rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
            struct devrec r;
            if (devrec_decode(&v, &r) == 0)
                out->points += r.points;
        }
        mdb_cursor_close(cur);
    }
    if (mdb_stat(txn, s->events, &st) == 0)
        out->events = st.ms_entries;
    if (mdb_stat(txn, s->devices, &st) == 0)
        out->devices = (uint32_t)st.ms_entries;
    store_txn_abort(s, txn);
    out->map_resizes = atomic_load(&s->map_resizes);
    out->map_max_bytes = atomic_load(&s->map_max);
    out->map_full = atomic_load(&s->map_full);
    return 0;
}

/* ---------------------------------------------------------------- API tokens */

#define TOKEN_FORMAT    1
#define TOKEN_READ_ONLY 0x01
#define TOKEN_RECORD    (2 + STORE_TOKEN_HASH_BYTES + 3 * 8)

/*
 * The tokens table came after schema 1: a store opened for writing gains it (an older store
 * needs no migration, the table starts empty), and a read-only open of a store without it
 * simply has no tokens. Called from open_dbs, so that a store mapped again after a map change
 * gets its handle back too (the table exists by then: MDB_CREATE finds it, even read-only).
 */
static int open_token_table(struct store *s, MDB_txn *txn)
{
    int rc = mdb_dbi_open(txn, "tokens", s->read_only ? 0 : MDB_CREATE, &s->tokens);
    s->have_tokens = rc == 0;
    return rc == MDB_NOTFOUND && s->read_only ? 0 : rc;
}

static void token_encode(const struct store_token *t, uint8_t v[TOKEN_RECORD])
{
    v[0] = TOKEN_FORMAT;
    v[1] = t->read_only ? TOKEN_READ_ONLY : 0;
    memcpy(v + 2, t->hash, STORE_TOKEN_HASH_BYTES);
    put_le64(v + 2 + STORE_TOKEN_HASH_BYTES, (uint64_t)t->created);
    put_le64(v + 10 + STORE_TOKEN_HASH_BYTES, (uint64_t)t->expires);
    put_le64(v + 18 + STORE_TOKEN_HASH_BYTES, (uint64_t)t->last_used);
}

/* Decodes a key ("user" NUL "name") and its record; WL_ECORRUPT if either is malformed. */
static int token_decode(const MDB_val *k, const MDB_val *v, struct store_token *t)
{
    const uint8_t *p = v->mv_data;
    size_t ul = strnlen(k->mv_data, k->mv_size);
    if (ul == 0 || ul > OWNTRACKS_NAME_MAX || ul >= k->mv_size ||
        k->mv_size - ul - 1 > OWNTRACKS_NAME_MAX || k->mv_size - ul - 1 == 0 ||
        v->mv_size != TOKEN_RECORD || p[0] != TOKEN_FORMAT)
        return WL_ECORRUPT;
    memcpy(t->user, k->mv_data, ul);
    t->user[ul] = '\0';
    memcpy(t->name, (const char *)k->mv_data + ul + 1, k->mv_size - ul - 1);
    t->name[k->mv_size - ul - 1] = '\0';
    t->read_only = p[1] & TOKEN_READ_ONLY;
    memcpy(t->hash, p + 2, STORE_TOKEN_HASH_BYTES);
    t->created = (int64_t)get_le64(p + 2 + STORE_TOKEN_HASH_BYTES);
    t->expires = (int64_t)get_le64(p + 10 + STORE_TOKEN_HASH_BYTES);
    t->last_used = (int64_t)get_le64(p + 18 + STORE_TOKEN_HASH_BYTES);
    return 0;
}

enum token_change { TOKEN_ADD, TOKEN_REMOVE, TOKEN_TOUCH };

struct token_job {
    enum token_change change;
    uint8_t key_bytes[DEVICE_KEY_MAX];
    MDB_val key;
    const struct store_token *token; /* TOKEN_ADD */
    const uint8_t *hash;             /* TOKEN_TOUCH */
    int64_t when;                    /* TOKEN_TOUCH */
};

static int token_fn(struct store *s, MDB_txn *txn, void *arg)
{
    struct token_job *j = arg;
    uint8_t rec[TOKEN_RECORD];
    MDB_val v = {sizeof(rec), rec}, old;
    struct store_token t;
    int rc;

    switch (j->change) {
    case TOKEN_ADD:
        token_encode(j->token, rec);
        rc = mdb_put(txn, s->tokens, &j->key, &v, MDB_NOOVERWRITE);
        return rc == MDB_KEYEXIST ? -EEXIST : rc;
    case TOKEN_REMOVE: return mdb_del(txn, s->tokens, &j->key, NULL);
    case TOKEN_TOUCH:
        if ((rc = mdb_get(txn, s->tokens, &j->key, &old)))
            return rc;
        if ((rc = token_decode(&j->key, &old, &t)))
            return rc;
        if (memcmp(t.hash, j->hash, STORE_TOKEN_HASH_BYTES) != 0)
            return -ENOENT; /* revoked and made again under the same name meanwhile */
        if (j->when <= t.last_used)
            return STORE_ABORT; /* another request recorded it meanwhile */
        t.last_used = j->when;
        token_encode(&t, rec);
        return mdb_put(txn, s->tokens, &j->key, &v, 0);
    }
    return -EINVAL;
}

static int token_change(struct store *s, struct token_job *j, const char *user, const char *name)
{
    if (strlen(user) > OWNTRACKS_NAME_MAX || strlen(name) > OWNTRACKS_NAME_MAX)
        return -EINVAL;
    if (!s->have_tokens)
        return -EROFS; /* only a read-only store lacks the table */
    j->key = (MDB_val){device_key(j->key_bytes, user, name), j->key_bytes};
    return store_with_write_txn(s, token_fn, j, "update token"); /* MDB_NOTFOUND becomes -ENOENT */
}

int store_token_put(struct store *s, const struct store_token *t)
{
    struct token_job j = {.change = TOKEN_ADD, .token = t};
    if (!t->user[0] || !t->name[0])
        return -EINVAL;
    return token_change(s, &j, t->user, t->name);
}

int store_token_delete(struct store *s, const char *user, const char *name)
{
    struct token_job j = {.change = TOKEN_REMOVE};
    return token_change(s, &j, user, name);
}

int store_token_touch(struct store *s, const char *user, const char *name,
                      const uint8_t hash[STORE_TOKEN_HASH_BYTES], int64_t when)
{
    struct token_job j = {.change = TOKEN_TOUCH, .hash = hash, .when = when};
    return token_change(s, &j, user, name);
}

int store_token_get(struct store *s, const char *user, const char *name, struct store_token *out)
{
    uint8_t key[DEVICE_KEY_MAX];
    MDB_txn *txn;
    MDB_val k, v;
    int rc;

    if (strlen(user) > OWNTRACKS_NAME_MAX || strlen(name) > OWNTRACKS_NAME_MAX)
        return -EINVAL;
    if (!s->have_tokens)
        return -ENOENT;
    if ((rc = store_txn_begin(s, MDB_RDONLY, &txn)))
        return rc;
    k = (MDB_val){device_key(key, user, name), key};
    rc = mdb_get(txn, s->tokens, &k, &v);
    rc = rc ? store_lmdb_error("read token", rc) : token_decode(&k, &v, out);
    store_txn_abort(s, txn);
    return rc;
}

int store_token_list(struct store *s, const char *user,
                     int (*cb)(void *arg, const struct store_token *t), void *arg)
{
    MDB_txn *txn;
    MDB_cursor *cur;
    MDB_val k, v;
    size_t ul = user ? strlen(user) : 0;
    int rc, stop = 0;

    if (!s->have_tokens)
        return 0;
    if ((rc = store_txn_begin(s, MDB_RDONLY, &txn)))
        return rc;
    if ((rc = mdb_cursor_open(txn, s->tokens, &cur))) {
        store_txn_abort(s, txn);
        return store_lmdb_error("open cursor", rc);
    }
    /* One user's tokens are the keys that start with "user" NUL. */
    k = (MDB_val){user ? ul + 1 : 0, (void *)user};
    rc = mdb_cursor_get(cur, &k, &v, user ? MDB_SET_RANGE : MDB_FIRST);
    for (; rc == 0; rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        struct store_token t;
        if (user && (k.mv_size <= ul || memcmp(k.mv_data, user, ul + 1) != 0))
            break;
        if ((rc = token_decode(&k, &v, &t)) || (stop = cb(arg, &t)))
            break;
    }
    mdb_cursor_close(cur);
    store_txn_abort(s, txn);
    if (stop)
        return stop;
    return rc == MDB_NOTFOUND || rc == 0 ? 0 : store_lmdb_error("list tokens", rc);
}

/* ---------------------------------------------------------------- reverse-geocoding cache */

#define GEO_FORMAT 1
#define GEO_FIXED  9 /* format, fetched */

static bool geo_key_ok(const char *ghash, size_t *len)
{
    *len = strnlen(ghash, STORE_GEO_KEY_MAX + 1);
    return *len >= 1 && *len <= STORE_GEO_KEY_MAX;
}

/* Copies the next NUL-terminated string of a value into out (cut to fit); false if none. */
static bool geo_take(const uint8_t **p, const uint8_t *end, char *out, size_t size)
{
    const uint8_t *nul = memchr(*p, 0, (size_t)(end - *p));
    if (!nul)
        return false;
    size_t n = (size_t)(nul - *p);
    if (n >= size)
        n = size - 1;
    memcpy(out, *p, n);
    out[n] = '\0';
    *p = nul + 1;
    return true;
}

static int geo_decode(const MDB_val *v, struct store_geo *out)
{
    const uint8_t *p = v->mv_data, *end = p + v->mv_size;
    if (v->mv_size < GEO_FIXED || p[0] != GEO_FORMAT)
        return WL_ECORRUPT;
    out->fetched = (int64_t)((uint64_t)get_le32(p + 1) | (uint64_t)get_le32(p + 5) << 32);
    p += GEO_FIXED;
    if (!geo_take(&p, end, out->cc, sizeof(out->cc)) ||
        !geo_take(&p, end, out->addr, sizeof(out->addr)) ||
        !geo_take(&p, end, out->locality, sizeof(out->locality)) ||
        !geo_take(&p, end, out->tzname, sizeof(out->tzname)) ||
        !geo_take(&p, end, out->provider, sizeof(out->provider)))
        return WL_ECORRUPT;
    return 0;
}

static int geo_get_in(struct store *s, MDB_txn *txn, const char *ghash, size_t len,
                      struct store_geo *out)
{
    MDB_val k = {len, (void *)ghash}, v;
    int rc = mdb_get(txn, s->geo, &k, &v);
    if (rc == MDB_NOTFOUND)
        return -ENOENT;
    if (rc)
        return store_lmdb_error("read the geo cache", rc);
    return geo_decode(&v, out);
}

int store_geo_get(struct store *s, const char *ghash, struct store_geo *out)
{
    MDB_txn *txn;
    size_t len;
    if (!geo_key_ok(ghash, &len) || !s->have_geo)
        return -ENOENT;
    int rc = store_txn_begin(s, MDB_RDONLY, &txn);
    if (rc)
        return rc;
    rc = geo_get_in(s, txn, ghash, len, out);
    store_txn_abort(s, txn);
    return rc;
}

int store_geo_peek(struct store *s, const char *ghash, struct store_geo *out)
{
    MDB_txn *txn;
    size_t len;
    if (!geo_key_ok(ghash, &len) || !s->have_geo)
        return -ENOENT;
    /* A second hold of the resize lock by a thread that holds it already would wait behind a
     * resize that waits for this thread: try, and go without rather than wait. */
    if (pthread_rwlock_tryrdlock(&s->resize_lock) != 0)
        return -EAGAIN;
    if (!s->env || mdb_txn_begin(s->env, NULL, MDB_RDONLY, &txn) != 0) {
        pthread_rwlock_unlock(&s->resize_lock);
        return -EAGAIN;
    }
    int rc = geo_get_in(s, txn, ghash, len, out);
    store_txn_abort(s, txn);
    return rc;
}

struct geo_job {
    const char *const *ghashes;
    const struct store_geo *entries;
    size_t n;
};

static void geo_put_text(uint8_t *buf, size_t *o, const char *text, size_t max)
{
    size_t n = strnlen(text, max - 1);
    memcpy(buf + *o, text, n);
    buf[*o + n] = 0;
    *o += n + 1;
}

static int geo_put_fn(struct store *s, MDB_txn *txn, void *arg)
{
    struct geo_job *j = arg;
    uint8_t buf[GEO_FIXED + sizeof(struct store_geo)];
    for (size_t i = 0; i < j->n; i++) {
        const struct store_geo *e = &j->entries[i];
        size_t o = GEO_FIXED;
        buf[0] = GEO_FORMAT;
        put_le32(buf + 1, (uint32_t)(uint64_t)e->fetched);
        put_le32(buf + 5, (uint32_t)((uint64_t)e->fetched >> 32));
        geo_put_text(buf, &o, e->cc, sizeof(e->cc));
        geo_put_text(buf, &o, e->addr, sizeof(e->addr));
        geo_put_text(buf, &o, e->locality, sizeof(e->locality));
        geo_put_text(buf, &o, e->tzname, sizeof(e->tzname));
        geo_put_text(buf, &o, e->provider, sizeof(e->provider));
        MDB_val k = {strlen(j->ghashes[i]), (void *)j->ghashes[i]}, v = {o, buf};
        int rc = mdb_put(txn, s->geo, &k, &v, 0);
        if (rc)
            return rc;
    }
    return 0;
}

int store_geo_put(struct store *s, const char *const *ghashes, const struct store_geo *entries,
                  size_t n)
{
    size_t len;
    if (s->read_only)
        return -EROFS;
    for (size_t i = 0; i < n; i++)
        if (!geo_key_ok(ghashes[i], &len))
            return -EINVAL;
    if (n == 0)
        return 0;
    struct geo_job j = {.ghashes = ghashes, .entries = entries, .n = n};
    return store_with_write_txn(s, geo_put_fn, &j, "write the geo cache");
}

int store_geo_count(struct store *s, uint64_t *count)
{
    MDB_txn *txn;
    MDB_stat st;
    *count = 0;
    if (!s->have_geo)
        return 0;
    int rc = store_txn_begin(s, MDB_RDONLY, &txn);
    if (rc)
        return rc;
    rc = mdb_stat(txn, s->geo, &st);
    if (rc == 0)
        *count = st.ms_entries;
    store_txn_abort(s, txn);
    return store_lmdb_error("count the geo cache", rc);
}

int store_read_recorder_geo(const char *dir,
                            int (*cb)(void *arg, const char *key, size_t klen, const char *value,
                                      size_t vlen),
                            void *arg)
{
    char path[PATH_MAX];
    MDB_env *env = NULL;
    MDB_txn *txn = NULL;
    MDB_cursor *cur = NULL;
    MDB_dbi dbi;
    MDB_val k, v;
    int rc, stop = 0;

    if (snprintf(path, sizeof(path), "%s/data.mdb", dir) >= (int)sizeof(path) ||
        access(path, R_OK) != 0)
        return -ENOENT;
    /* The Recorder's own settings (maxdbs 10); read-only and without a lock file of ours, so a
     * Recorder may keep running on it. */
    if ((rc = mdb_env_create(&env)) || (rc = mdb_env_set_maxdbs(env, 10)) ||
        (rc = mdb_env_open(env, dir, MDB_RDONLY | MDB_NOTLS | MDB_NOLOCK, 0)) ||
        (rc = mdb_txn_begin(env, NULL, MDB_RDONLY, &txn)) ||
        (rc = mdb_dbi_open(txn, NULL, 0, &dbi)) || (rc = mdb_cursor_open(txn, dbi, &cur)))
        goto out;
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT))
        if ((stop = cb(arg, k.mv_data, k.mv_size, v.mv_data, v.mv_size)))
            break;
    if (rc == MDB_NOTFOUND)
        rc = 0;
out:
    if (cur)
        mdb_cursor_close(cur);
    if (txn)
        mdb_txn_abort(txn);
    if (env)
        mdb_env_close(env);
    if (stop)
        return stop;
    if (rc) {
        wl_log(WL_LOG_ERROR, "store", "cannot read the Recorder's cache in %s: %s", dir,
               mdb_strerror(rc));
        return WL_ESTORE;
    }
    return 0;
}
