/*
 * auth.h - who is asking and what they may see: HTTP Basic credentials checked against an
 * htpasswd file (bcrypt or yescrypt hashes, verified with libcrypt), per-user API tokens sent
 * as "Authorization: Bearer" (token.h; looked up in the store), and an ACL file saying which
 * users each user may see.
 *
 * htpasswd: "login:hash" per line, as `htpasswd -B` writes it. The login is the user's name
 * in the store (compared case-blind, as OwnTracks Recorder lowercases user names).
 *
 * ACL: "viewer: user, user, ..." per line; '#' starts a comment. Everybody sees their own
 * data; the list adds others. Two words are special: "*" lets the viewer see every user,
 * "@admin" lets them see every user and delete anyone's data. Without a line a user sees
 * only themselves.
 *
 *   mum: dad, kids
 *   grandpa: *
 *   alice: @admin
 *
 * Without an htpasswd file the server is open (loopback, sign-in off): a request without a
 * token is anonymous and sees everyone, as before tokens existed. A request that carries a
 * token acts as the token's user wherever it is sent, open or not, and a token that is not
 * valid is refused, never taken as anonymous. With an htpasswd file, a token whose user is no
 * longer in it is refused too.
 *
 * A correct password is remembered for a while (as a keyed hash, never in clear) so that a
 * browser sending it with every request costs one slow hash, not one per request. A client
 * address that fails too often (wrong passwords and wrong tokens together) is refused for a
 * minute without checking (429).
 *
 * Both files are read by auth_new() and again by auth_reload(); a reload that fails keeps
 * what was loaded before. Thread rules: every function but auth_use_tokens may be called
 * from any thread.
 */
#ifndef WL_AUTH_H
#define WL_AUTH_H

#include <stdbool.h>

#include "owntracks.h"
#include "store.h"

/* Failed attempts from one client address within AUTH_FAIL_WINDOW_S before it is refused. */
#define AUTH_FAIL_LIMIT    10
#define AUTH_FAIL_WINDOW_S 60
/* How long a verified password is remembered. */
#define AUTH_REMEMBER_S 600

struct auth;

/* htpasswd_path NULL: open (no passwords; see above). acl_path may be NULL (everybody sees
 * only themselves). Errors are logged with the file and line; returns 0, -ENOENT/-EACCES
 * (unreadable), -EINVAL (malformed) or -ENOMEM. */
int auth_new(const char *htpasswd_path, const char *acl_path, struct auth **out);
/* Does every request need credentials (an htpasswd file), or is the server open? */
bool auth_required(const struct auth *a);
/* Accepts API tokens from this store (borrowed until auth_free()); without it a Bearer
 * token is refused. Call before any thread uses a. */
void auth_use_tokens(struct auth *a, struct store *store);
/* Reads both files again; on an error (as auth_new's) the users and ACL in force stay. Any
 * thread. */
int auth_reload(struct auth *a);
void auth_free(struct auth *a);

enum auth_result {
    AUTH_OK,
    AUTH_ANONYMOUS,   /* open, and no token: go on without a user */
    AUTH_MISSING,     /* no credentials, or neither Basic nor Bearer: ask for them (401) */
    AUTH_DENIED,      /* unknown user or wrong password (401, logged) */
    AUTH_BAD_TOKEN,   /* a Bearer token that is malformed, unknown, revoked or expired (401,
                       * logged, by name where it has one, never the secret) */
    AUTH_THROTTLED,   /* too many failures from this client: 429 without checking */
    AUTH_UNAVAILABLE, /* the store could not be read to check a token (503, logged) */
};

/* Who a request is, when auth_check says AUTH_OK. */
struct auth_who {
    char user[OWNTRACKS_NAME_MAX + 1];  /* the user's store name */
    char token[OWNTRACKS_NAME_MAX + 1]; /* the API token's name; "" for a password */
    bool read_only;                     /* a read-only token: it may change nothing */
};

/*
 * Checks an Authorization header value (NULL when absent) from `client` (an address, for the
 * failure log and throttling). On AUTH_OK, *who says who it is. A valid token's use is
 * recorded (token_note_use). Any thread; a token check reads the store.
 */
enum auth_result auth_check(struct auth *a, const char *authorization, const char *client,
                            struct auth_who *who);

/* The failed-attempt limiter, for other secrets that arrive over HTTP (share links, share.h):
 * is `client` refused now (too many failures), and count one failure of it. Any thread. */
bool auth_client_throttled(struct auth *a, const char *client);
void auth_client_failed(struct auth *a, const char *client);

/* query_visible_fn: may viewer see user's data? (arg is the struct auth) A NULL viewer is
 * anonymous: everything when open, nothing otherwise. A NULL user asks about every user
 * (true for "*", "@admin", and the anonymous viewer of an open server). */
bool auth_visible(void *arg, const char *viewer, const char *user);
/* query_visible_fn: may viewer delete user's data? Their own, or anyone's for an admin. */
bool auth_may_delete(void *arg, const char *viewer, const char *user);

#endif
