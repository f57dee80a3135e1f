#include "auth.h"

#include <crypt.h>
#include <errno.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "log.h"
#include "token.h"
#include "wl.h"

#define HASH_MAX   256 /* longest hash accepted in an htpasswd line */
#define CRED_MAX   512 /* longest decoded "login:password" */
#define FAIL_SLOTS 64  /* client addresses whose failures are remembered */
#define CLIENT_MAX 64

struct account {
    char user[OWNTRACKS_NAME_MAX + 1];
    char hash[HASH_MAX];
    /* The last password that verified, as a keyed hash, and until when it counts
     * (auth.cache_lock). */
    unsigned char remembered[crypto_generichash_BYTES];
    time_t remembered_until;
};

struct grant {
    char viewer[OWNTRACKS_NAME_MAX + 1];
    bool all, admin;
    char (*users)[OWNTRACKS_NAME_MAX + 1];
    size_t nusers;
};

/* What the two files said; replaced whole on reload. */
struct state {
    struct account *accounts;
    size_t naccounts;
    struct grant *grants;
    size_t ngrants;
    char dummy_hash[HASH_MAX]; /* checked for unknown users, so they take as long */
};

struct failure {
    char client[CLIENT_MAX];
    time_t first;
    unsigned count;
};

struct auth {
    char *htpasswd_path, *acl_path; /* htpasswd_path NULL: open */
    struct store *tokens;           /* where API tokens are looked up, or NULL: none */
    pthread_rwlock_t lock;          /* guards `state`: checks read it, a reload swaps it */
    struct state *state;
    pthread_mutex_t cache_lock; /* guards accounts' remembered passwords and `fails` */
    unsigned char cache_key[crypto_generichash_KEYBYTES];
    struct failure fails[FAIL_SLOTS];
};

static void state_free(struct state *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->ngrants; i++)
        free(s->grants[i].users);
    free(s->grants);
    free(s->accounts);
    free(s);
}

static const struct account *find_account(const struct state *s, const char *user)
{
    for (size_t i = 0; i < s->naccounts; i++)
        if (strcmp(s->accounts[i].user, user) == 0)
            return &s->accounts[i];
    return NULL;
}

static struct grant *find_grant(const struct state *s, const char *viewer)
{
    for (size_t i = 0; i < s->ngrants; i++)
        if (strcmp(s->grants[i].viewer, viewer) == 0)
            return &s->grants[i];
    return NULL;
}

static bool supported_hash(const char *h)
{
    return strncmp(h, "$2a$", 4) == 0 || strncmp(h, "$2b$", 4) == 0 || strncmp(h, "$2y$", 4) == 0 ||
           strncmp(h, "$y$", 3) == 0;
}

/* Strips the line end and surrounding blanks; returns the start. */
static char *trim(char *s)
{
    size_t n = strlen(s);
    while (n && strchr(" \t\r\n", s[n - 1]))
        s[--n] = '\0';
    while (*s == ' ' || *s == '\t')
        s++;
    return s;
}

/* ---------------------------------------------------------------- loading */

/* Opens one of the two files, or logs why not (NULL, *rc set). */
static FILE *open_file(const char *path, const char *what, int *rc)
{
    FILE *f = fopen(path, "re");
    if (!f) {
        *rc = -errno;
        wl_log(WL_LOG_ERROR, "auth", "cannot read the %s %s: %s", what, path, strerror(errno));
    }
    return f;
}

static int load_htpasswd(const char *path, struct state *s)
{
    char line[1024];
    unsigned lineno = 0;
    int rc = 0;
    size_t cap = 0;
    FILE *f = open_file(path, "password file", &rc);

    if (!f)
        return rc;
    /* Count the lines first: the accounts live in one array. */
    while (fgets(line, sizeof(line), f))
        cap++;
    rewind(f);
    if (cap && !(s->accounts = calloc(cap, sizeof(*s->accounts)))) {
        fclose(f);
        return -ENOMEM;
    }
    while (fgets(line, sizeof(line), f)) {
        lineno++;
        char *l = trim(line), *colon = strchr(l, ':');
        const char *why;
        if (*l == '\0' || *l == '#')
            continue;
        if (!colon) {
            wl_log(WL_LOG_ERROR, "auth", "%s:%u: not login:hash", path, lineno);
            rc = -EINVAL;
            continue;
        }
        *colon = '\0';
        const char *hash = colon + 1;
        struct account *a = &s->accounts[s->naccounts];
        memset(a, 0, sizeof(*a));
        if (owntracks_normalize_name(l, strlen(l), a->user, &why) != 0) {
            wl_log(WL_LOG_ERROR, "auth", "%s:%u: login: %s", path, lineno, why);
            rc = -EINVAL;
        } else if (!supported_hash(hash) || strlen(hash) >= sizeof(a->hash)) {
            wl_log(WL_LOG_ERROR, "auth",
                   "%s:%u: %s: unsupported hash (bcrypt or yescrypt only: htpasswd -B, "
                   "mkpasswd -m yescrypt)",
                   path, lineno, a->user);
            rc = -EINVAL;
        } else if (find_account(s, a->user)) {
            wl_log(WL_LOG_ERROR, "auth", "%s:%u: %s appears twice", path, lineno, a->user);
            rc = -EINVAL;
        } else {
            snprintf(a->hash, sizeof(a->hash), "%s", hash);
            s->naccounts++;
        }
    }
    fclose(f);
    if (rc == 0 && s->naccounts == 0)
        wl_log(WL_LOG_WARN, "auth", "%s holds no users: nobody can sign in", path);
    return rc;
}

static int add_grant_user(struct grant *g, const char *user)
{
    for (size_t i = 0; i < g->nusers; i++)
        if (strcmp(g->users[i], user) == 0)
            return 0;
    char(*v)[OWNTRACKS_NAME_MAX + 1] = realloc(g->users, (g->nusers + 1) * sizeof(*v));
    if (!v)
        return -ENOMEM;
    g->users = v;
    snprintf(g->users[g->nusers++], OWNTRACKS_NAME_MAX + 1, "%s", user);
    return 0;
}

static int load_acl(const char *path, struct state *s)
{
    char line[4096];
    unsigned lineno = 0;
    int rc = 0;
    FILE *f = open_file(path, "ACL file", &rc);

    if (!f)
        return rc;
    while (rc != -ENOMEM && fgets(line, sizeof(line), f)) {
        lineno++;
        char *hash = strchr(line, '#');
        if (hash)
            *hash = '\0';
        char *l = trim(line), *colon = strchr(l, ':');
        char viewer[OWNTRACKS_NAME_MAX + 1];
        const char *why;
        if (*l == '\0')
            continue;
        if (!colon) {
            wl_log(WL_LOG_ERROR, "auth", "%s:%u: not \"viewer: user, user\"", path, lineno);
            rc = -EINVAL;
            continue;
        }
        *colon = '\0';
        if (owntracks_normalize_name(trim(l), strlen(trim(l)), viewer, &why) != 0) {
            wl_log(WL_LOG_ERROR, "auth", "%s:%u: viewer: %s", path, lineno, why);
            rc = -EINVAL;
            continue;
        }
        struct grant *g = find_grant(s, viewer);
        if (!g) {
            struct grant *v = realloc(s->grants, (s->ngrants + 1) * sizeof(*v));
            if (!v) {
                rc = -ENOMEM;
                break;
            }
            s->grants = v;
            g = &s->grants[s->ngrants++];
            memset(g, 0, sizeof(*g));
            snprintf(g->viewer, sizeof(g->viewer), "%s", viewer);
        }
        char *save = NULL;
        for (char *tok = strtok_r(colon + 1, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
            char *t = trim(tok), user[OWNTRACKS_NAME_MAX + 1];
            if (*t == '\0')
                continue;
            if (strcmp(t, "*") == 0) {
                g->all = true;
            } else if (strcmp(t, "@admin") == 0) {
                g->admin = true;
            } else if (*t == '@') {
                wl_log(WL_LOG_ERROR, "auth", "%s:%u: unknown flag %s (only @admin)", path, lineno,
                       t);
                rc = -EINVAL;
            } else if (owntracks_normalize_name(t, strlen(t), user, &why) != 0) {
                wl_log(WL_LOG_ERROR, "auth", "%s:%u: %s", path, lineno, why);
                rc = -EINVAL;
            } else if (add_grant_user(g, user) != 0) {
                rc = -ENOMEM;
                break;
            }
        }
    }
    fclose(f);
    return rc;
}

/* A hash for unknown users: the first account's algorithm and cost, for a random password. */
static void make_dummy(struct state *s)
{
    unsigned char rnd[16];
    char pw[sizeof(rnd) * 2 + 1];
    struct crypt_data *cd;

    if (s->naccounts == 0 || !(cd = calloc(1, sizeof(*cd))))
        return;
    randombytes_buf(rnd, sizeof(rnd));
    sodium_bin2hex(pw, sizeof(pw), rnd, sizeof(rnd));
    const char *h = crypt_r(pw, s->accounts[0].hash, cd);
    if (h && h[0] != '*')
        snprintf(s->dummy_hash, sizeof(s->dummy_hash), "%s", h);
    free(cd);
}

static int load(struct auth *a, struct state **out)
{
    struct state *s = calloc(1, sizeof(*s));
    int rc;
    if (!s)
        return -ENOMEM;
    rc = a->htpasswd_path ? load_htpasswd(a->htpasswd_path, s) : 0;
    if (rc == 0 && a->acl_path)
        rc = load_acl(a->acl_path, s);
    if (rc) {
        state_free(s);
        return rc;
    }
    make_dummy(s);
    *out = s;
    return 0;
}

int auth_new(const char *htpasswd_path, const char *acl_path, struct auth **out)
{
    struct auth *a = calloc(1, sizeof(*a));
    int rc = -ENOMEM;

    if (!a || sodium_init() < 0)
        goto fail;
    if ((htpasswd_path && !(a->htpasswd_path = strdup(htpasswd_path))) ||
        (acl_path && !(a->acl_path = strdup(acl_path))))
        goto fail;
    crypto_generichash_keygen(a->cache_key);
    if ((rc = load(a, &a->state)) != 0)
        goto fail;
    pthread_rwlock_init(&a->lock, NULL);
    pthread_mutex_init(&a->cache_lock, NULL);
    if (htpasswd_path)
        wl_log(WL_LOG_INFO, "auth", "%zu user(s) from %s, %zu ACL line(s)%s%s", a->state->naccounts,
               htpasswd_path, a->state->ngrants, acl_path ? " from " : "",
               acl_path ? acl_path : "");
    *out = a;
    return 0;
fail:
    if (a) {
        free(a->htpasswd_path);
        free(a->acl_path);
        free(a);
    }
    return rc;
}

int auth_reload(struct auth *a)
{
    struct state *s, *old;
    if (!a->htpasswd_path && !a->acl_path)
        return 0; /* open, without files: nothing to read again */
    int rc = load(a, &s);
    if (rc) {
        wl_log(WL_LOG_ERROR, "auth", "reload failed; the previous users and ACL stay in force");
        return rc;
    }
    pthread_rwlock_wrlock(&a->lock);
    old = a->state;
    a->state = s;
    pthread_rwlock_unlock(&a->lock);
    state_free(old);
    wl_log(WL_LOG_INFO, "auth", "reloaded: %zu user(s), %zu ACL line(s)", s->naccounts, s->ngrants);
    return 0;
}

bool auth_required(const struct auth *a)
{
    return a->htpasswd_path != NULL;
}

void auth_use_tokens(struct auth *a, struct store *store)
{
    a->tokens = store;
}

void auth_free(struct auth *a)
{
    if (!a)
        return;
    state_free(a->state);
    pthread_rwlock_destroy(&a->lock);
    pthread_mutex_destroy(&a->cache_lock);
    sodium_memzero(a->cache_key, sizeof(a->cache_key));
    free(a->htpasswd_path);
    free(a->acl_path);
    free(a);
}

/* ---------------------------------------------------------------- checking */

static struct failure *failure_slot(struct auth *a, const char *client, bool create, time_t now)
{
    struct failure *oldest = &a->fails[0];
    for (size_t i = 0; i < FAIL_SLOTS; i++) {
        struct failure *f = &a->fails[i];
        if (f->count && now - f->first >= AUTH_FAIL_WINDOW_S)
            f->count = 0; /* expired */
        if (f->count && strcmp(f->client, client) == 0)
            return f;
        if (f->count < oldest->count || (f->count == oldest->count && f->first < oldest->first))
            oldest = f;
    }
    if (!create)
        return NULL;
    snprintf(oldest->client, sizeof(oldest->client), "%s", client);
    oldest->first = now;
    oldest->count = 0;
    return oldest;
}

static bool throttled(struct auth *a, const char *client, time_t now)
{
    pthread_mutex_lock(&a->cache_lock);
    struct failure *f = failure_slot(a, client, false, now);
    bool over = f && f->count >= AUTH_FAIL_LIMIT;
    pthread_mutex_unlock(&a->cache_lock);
    return over;
}

static void count_failure(struct auth *a, const char *client, time_t now)
{
    pthread_mutex_lock(&a->cache_lock);
    struct failure *f = failure_slot(a, client, true, now);
    if (++f->count == AUTH_FAIL_LIMIT)
        wl_log(WL_LOG_WARN, "auth", "%u failed sign-ins from %s: refusing it for up to %d s",
               f->count, client, AUTH_FAIL_WINDOW_S);
    pthread_mutex_unlock(&a->cache_lock);
}

bool auth_client_throttled(struct auth *a, const char *client)
{
    return throttled(a, client, time(NULL));
}

void auth_client_failed(struct auth *a, const char *client)
{
    count_failure(a, client, time(NULL));
}

/* Splits a Basic credential into login and password (pointers into buf). */
static bool decode_basic(const char *header, char *buf, size_t size, char **login, char **password)
{
    size_t len;
    if (!header || strncasecmp(header, "Basic ", 6) != 0)
        return false;
    header += 6;
    while (*header == ' ')
        header++;
    if (sodium_base642bin((unsigned char *)buf, size - 1, header, strlen(header), NULL, &len, NULL,
                          sodium_base64_VARIANT_ORIGINAL) != 0)
        return false;
    buf[len] = '\0';
    char *colon = memchr(buf, ':', len);
    if (!colon || memchr(buf, '\0', len)) /* a NUL would cut the password short */
        return false;
    *colon = '\0';
    *login = buf;
    *password = colon + 1;
    return true;
}

static void remember_digest(struct auth *a, const char *user, const char *password,
                            unsigned char out[crypto_generichash_BYTES])
{
    crypto_generichash_state st;
    crypto_generichash_init(&st, a->cache_key, sizeof(a->cache_key), crypto_generichash_BYTES);
    crypto_generichash_update(&st, (const unsigned char *)user, strlen(user) + 1);
    crypto_generichash_update(&st, (const unsigned char *)password, strlen(password));
    crypto_generichash_final(&st, out, crypto_generichash_BYTES);
}

/* A Bearer token (the header's value after the scheme), looked up in the store as it is now,
 * so that a token revoked by another process fails at once. */
static enum auth_result check_token(struct auth *a, const char *value, const char *client,
                                    time_t now, struct auth_who *who)
{
    struct store_token t = {.user = ""};
    char name[WL_LOG_QUOTE_SIZE];
    const char *why;

    if (throttled(a, client, now))
        return AUTH_THROTTLED;
    while (*value == ' ')
        value++;
    size_t len = strlen(value);
    while (len && value[len - 1] == ' ')
        len--;
    int rc = a->tokens ? token_verify(a->tokens, value, len, now, &t) : TOKEN_UNKNOWN;
    if (rc < 0) {
        wl_log(WL_LOG_ERROR, "auth", "cannot check a token from %s: %s", client, wl_strerror(rc));
        return AUTH_UNAVAILABLE;
    }
    if (rc == TOKEN_VALID && a->htpasswd_path) {
        /* A user removed from the password file loses their tokens too. */
        pthread_rwlock_rdlock(&a->lock);
        bool account = find_account(a->state, t.user) != NULL;
        pthread_rwlock_unlock(&a->lock);
        if (!account)
            rc = TOKEN_UNKNOWN;
    }
    if (rc == TOKEN_VALID) {
        snprintf(who->user, sizeof(who->user), "%s", t.user);
        snprintf(who->token, sizeof(who->token), "%s", t.name);
        who->read_only = t.read_only;
        token_note_use(a->tokens, &t, now, client);
        return AUTH_OK;
    }
    if (rc == TOKEN_EXPIRED || (rc == TOKEN_UNKNOWN && t.user[0])) {
        wl_log_quote(name, sizeof(name), t.name, strlen(t.name));
        wl_log(WL_LOG_WARN, "auth", "token refused user=%s token=\"%s\" client=%s reason=\"%s\"",
               t.user, name, client,
               rc == TOKEN_EXPIRED ? "expired" : "its user is not in the password file");
    } else {
        why = !a->tokens              ? "API tokens are not in use"
              : rc == TOKEN_MALFORMED ? "not a wherelog token"
                                      : "unknown or revoked token";
        wl_log(WL_LOG_WARN, "auth", "token refused client=%s reason=\"%s\"", client, why);
    }
    count_failure(a, client, now);
    return AUTH_BAD_TOKEN;
}

enum auth_result auth_check(struct auth *a, const char *authorization, const char *client,
                            struct auth_who *who)
{
    char cred[CRED_MAX], hash[HASH_MAX], shown[WL_LOG_QUOTE_SIZE];
    char *login, *password;
    unsigned char digest[crypto_generichash_BYTES];
    time_t now = time(NULL);
    const char *why;
    bool known, ok = false;
    char *user = who->user;

    memset(who, 0, sizeof(*who));
    if (authorization && strncasecmp(authorization, "Bearer", 6) == 0 &&
        (authorization[6] == ' ' || authorization[6] == '\0'))
        return check_token(a, authorization + 6, client, now, who);
    if (!a->htpasswd_path) /* open: a password is not asked for, and not looked at */
        return AUTH_ANONYMOUS;
    if (!authorization || strncasecmp(authorization, "Basic ", 6) != 0)
        return AUTH_MISSING;
    if (throttled(a, client, now))
        return AUTH_THROTTLED;
    if (!decode_basic(authorization, cred, sizeof(cred), &login, &password)) {
        wl_log(WL_LOG_WARN, "auth",
               "sign-in refused client=%s reason=\"malformed Basic credentials\"", client);
        count_failure(a, client, now);
        return AUTH_DENIED;
    }
    known = owntracks_normalize_name(login, strlen(login), user, &why) == 0;
    remember_digest(a, known ? user : "", password, digest);

    /* A password verified lately is recognised by its keyed hash. */
    pthread_rwlock_rdlock(&a->lock);
    const struct account *acc = known ? find_account(a->state, user) : NULL;
    known = acc != NULL;
    snprintf(hash, sizeof(hash), "%s", acc ? acc->hash : a->state->dummy_hash);
    if (acc) {
        pthread_mutex_lock(&a->cache_lock);
        ok = acc->remembered_until > now &&
             sodium_memcmp(acc->remembered, digest, sizeof(digest)) == 0;
        pthread_mutex_unlock(&a->cache_lock);
    }
    pthread_rwlock_unlock(&a->lock);
    if (ok) {
        sodium_memzero(cred, sizeof(cred));
        return AUTH_OK;
    }

    /* The slow hash, outside the lock. Unknown users are checked against a dummy hash so
     * that the answer takes as long as for a real one. */
    struct crypt_data *cd = calloc(1, sizeof(*cd));
    if (cd && hash[0]) {
        const char *out = crypt_r(password, hash, cd);
        size_t n = strlen(hash);
        ok = known && out && strlen(out) == n && sodium_memcmp(out, hash, n) == 0;
        sodium_memzero(cd, sizeof(*cd));
    }
    free(cd);
    wl_log_quote(shown, sizeof(shown), login, strlen(login)); /* login lives in cred */
    sodium_memzero(cred, sizeof(cred));
    if (ok) {
        pthread_rwlock_rdlock(&a->lock);
        struct account *cur = (struct account *)find_account(a->state, user);
        if (cur && strcmp(cur->hash, hash) == 0) { /* not changed by a reload meanwhile */
            pthread_mutex_lock(&a->cache_lock);
            memcpy(cur->remembered, digest, sizeof(digest));
            cur->remembered_until = now + AUTH_REMEMBER_S;
            pthread_mutex_unlock(&a->cache_lock);
        }
        pthread_rwlock_unlock(&a->lock);
        return AUTH_OK;
    }
    wl_log(WL_LOG_WARN, "auth", "sign-in refused user=\"%s\" client=%s reason=\"%s\"", shown,
           client, known ? "wrong password" : "unknown user");
    count_failure(a, client, now);
    return AUTH_DENIED;
}

/* ---------------------------------------------------------------- authorization */

/* What the ACL grants viewer over user: 0 nothing, 1 seeing, 2 seeing and deleting. */
static int grant_of(struct auth *a, const char *viewer, const char *user)
{
    int level = 0;
    if (!viewer)
        return a->htpasswd_path ? 0 : 1; /* anonymous: open servers show everything */
    if (user && strcmp(viewer, user) == 0)
        return 2; /* one's own data */
    pthread_rwlock_rdlock(&a->lock);
    const struct grant *g = find_grant(a->state, viewer);
    if (g && g->admin)
        level = 2;
    else if (g && g->all)
        level = 1;
    for (size_t i = 0; user && g && level == 0 && i < g->nusers; i++)
        level = strcmp(g->users[i], user) == 0;
    pthread_rwlock_unlock(&a->lock);
    return level;
}

bool auth_visible(void *arg, const char *viewer, const char *user)
{
    return grant_of(arg, viewer, user) >= 1;
}

bool auth_may_delete(void *arg, const char *viewer, const char *user)
{
    return grant_of(arg, viewer, user) == 2;
}
