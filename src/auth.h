/*
 * auth.h - who is asking and what they may see: HTTP Basic credentials checked against an
 * htpasswd file (bcrypt or yescrypt hashes, verified with libcrypt), and an ACL file saying
 * which users each user may see.
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
 * A correct password is remembered for a while (as a keyed hash, never in clear) so that a
 * browser sending it with every request costs one slow hash, not one per request. A client
 * address that fails too often is refused for a minute without checking (429).
 *
 * Both files are read by auth_new() and again by auth_reload(); a reload that fails keeps
 * what was loaded before. Thread rules: every function may be called from any thread.
 */
#ifndef WL_AUTH_H
#define WL_AUTH_H

#include <stdbool.h>

#include "owntracks.h"

/* Failed attempts from one client address within AUTH_FAIL_WINDOW_S before it is refused. */
#define AUTH_FAIL_LIMIT    10
#define AUTH_FAIL_WINDOW_S 60
/* How long a verified password is remembered. */
#define AUTH_REMEMBER_S 600

struct auth;

/* acl_path may be NULL (everybody sees only themselves). Errors are logged with the file and
 * line; returns 0, -ENOENT/-EACCES (unreadable), or -EINVAL (malformed). */
int auth_new(const char *htpasswd_path, const char *acl_path, struct auth **out);
/* Reads both files again; on an error (as auth_new's) the users and ACL in force stay. Any
 * thread. */
int auth_reload(struct auth *a);
void auth_free(struct auth *a);

enum auth_result {
    AUTH_OK,
    AUTH_MISSING,   /* no credentials, or not Basic: ask for them (401) */
    AUTH_DENIED,    /* unknown user or wrong password (401, logged) */
    AUTH_THROTTLED, /* too many failures from this client: 429 without checking */
};

/*
 * Checks an Authorization header value (NULL when absent) from `client` (an address, for the
 * failure log and throttling). On AUTH_OK, user (OWNTRACKS_NAME_MAX + 1 bytes) receives the user's
 * store name.
 */
enum auth_result auth_check(struct auth *a, const char *authorization, const char *client,
                            char *user);

/* query_visible_fn: may viewer see user's data? (arg is the struct auth) */
bool auth_visible(void *arg, const char *viewer, const char *user);
/* query_visible_fn: may viewer delete user's data? Their own, or anyone's for an admin. */
bool auth_may_delete(void *arg, const char *viewer, const char *user);

#endif
