#include <crypt.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "auth.h"
#include "helpers.h"
#include "store.h"
#include "token.h"

static char dir[256], users[300], acl[300];

static void setup(void)
{
    tmpdir_make(dir, sizeof(dir));
    snprintf(users, sizeof(users), "%s/users", dir);
    snprintf(acl, sizeof(acl), "%s/acl", dir);
}

static void teardown(void)
{
    tmpdir_remove(dir);
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f);
    fputs(text, f);
    fclose(f);
}

/* A bcrypt hash of password, cheap to check (cost 4). */
static const char *bcrypt(const char *password)
{
    static char out[CRYPT_OUTPUT_SIZE];
    struct crypt_data cd;
    memset(&cd, 0, sizeof(cd));
    const char *salt = crypt_gensalt_rn("$2b$", 4, NULL, 0, cd.setting, sizeof(cd.setting));
    cr_assert_not_null(salt);
    const char *h = crypt_r(password, salt, &cd);
    cr_assert(h && h[0] == '$');
    snprintf(out, sizeof(out), "%s", h);
    return out;
}

static char *basic(const char *user, const char *password)
{
    static char out[512];
    char plain[256], b64[400];
    snprintf(plain, sizeof(plain), "%s:%s", user, password);
    sodium_bin2base64(b64, sizeof(b64), (const unsigned char *)plain, strlen(plain),
                      sodium_base64_VARIANT_ORIGINAL);
    snprintf(out, sizeof(out), "Basic %s", b64);
    return out;
}

static struct auth *load_users(const char *acl_text)
{
    char text[1024];
    snprintf(text, sizeof(text), "# family\nmum:%s\n", bcrypt("m"));
    snprintf(text + strlen(text), sizeof(text) - strlen(text), "Dad:%s\n\n", bcrypt("d"));
    write_file(users, text);
    if (acl_text)
        write_file(acl, acl_text);
    struct auth *a = NULL;
    cr_assert_eq(auth_new(users, acl_text ? acl : NULL, &a), 0);
    return a;
}

TestSuite(auth, .init = setup, .fini = teardown);

Test(auth, checks_passwords_and_names_case_blind)
{
    struct auth *a = load_users(NULL);
    struct auth_who who;
    cr_assert_eq(auth_check(a, basic("mum", "m"), "1.2.3.4", &who), AUTH_OK);
    cr_assert_str_eq(who.user, "mum");
    cr_assert_str_eq(who.token, "", "a password is not a token");
    cr_assert_not(who.read_only);
    cr_assert_eq(auth_check(a, basic("DAD", "d"), "1.2.3.4", &who), AUTH_OK);
    cr_assert_str_eq(who.user, "dad");
    /* remembered the second time: the same answer */
    cr_assert_eq(auth_check(a, basic("mum", "m"), "1.2.3.4", &who), AUTH_OK);
    cr_assert_eq(auth_check(a, basic("mum", "M"), "1.2.3.4", &who), AUTH_DENIED);
    cr_assert_eq(auth_check(a, basic("mum", "m "), "1.2.3.4", &who), AUTH_DENIED);
    cr_assert_eq(auth_check(a, basic("nobody", "m"), "1.2.3.4", &who), AUTH_DENIED);
    cr_assert_eq(auth_check(a, NULL, "1.2.3.4", &who), AUTH_MISSING);
    cr_assert_eq(auth_check(a, "Bearer xyz", "1.2.3.4", &who), AUTH_BAD_TOKEN,
                 "a token is never mistaken for no credentials");
    cr_assert_eq(auth_check(a, "Basic ***", "1.2.3.4", &who), AUTH_DENIED);
    cr_assert_eq(auth_check(a, "Basic bXVt", "1.2.3.4", &who), AUTH_DENIED, "no colon");
    auth_free(a);
}

Test(auth, a_password_with_a_nul_is_refused)
{
    struct auth *a = load_users(NULL);
    struct auth_who who;
    char b64[64], header[80];
    static const char plain[] = "mum:m\0x";
    sodium_bin2base64(b64, sizeof(b64), (const unsigned char *)plain, sizeof(plain) - 1,
                      sodium_base64_VARIANT_ORIGINAL);
    snprintf(header, sizeof(header), "Basic %s", b64);
    cr_assert_eq(auth_check(a, header, "1.2.3.4", &who), AUTH_DENIED);
    auth_free(a);
}

Test(auth, failures_throttle_one_address_for_a_while)
{
    struct auth *a = load_users(NULL);
    struct auth_who who;
    for (int i = 0; i < AUTH_FAIL_LIMIT; i++)
        cr_assert_eq(auth_check(a, basic("mum", "x"), "10.0.0.1", &who), AUTH_DENIED);
    cr_assert_eq(auth_check(a, basic("mum", "m"), "10.0.0.1", &who), AUTH_THROTTLED);
    cr_assert_eq(auth_check(a, basic("mum", "m"), "10.0.0.2", &who), AUTH_OK);
    /* no credentials at all is not a failure, and is not throttled either */
    cr_assert_eq(auth_check(a, NULL, "10.0.0.1", &who), AUTH_MISSING);
    auth_free(a);
}

Test(auth, the_acl_grants_users_everyone_or_admin)
{
    struct auth *a = load_users("mum: dad, Kid , kid  # dup\n"
                                "grandpa: *\n"
                                "root: @admin\n"
                                "mum: aunt\n");
    cr_assert(auth_visible(a, "mum", "mum"));
    cr_assert(auth_visible(a, "mum", "dad"));
    cr_assert(auth_visible(a, "mum", "kid"));
    cr_assert(auth_visible(a, "mum", "aunt"), "lines for one viewer add up");
    cr_assert_not(auth_visible(a, "mum", "stranger"));
    cr_assert_not(auth_visible(a, "dad", "mum"), "grants are not mutual");
    cr_assert(auth_visible(a, "grandpa", "stranger"));
    cr_assert(auth_visible(a, "root", "stranger"));
    cr_assert_not(auth_visible(a, NULL, "mum"));
    cr_assert(auth_may_delete(a, "kid", "kid"));
    cr_assert_not(auth_may_delete(a, "mum", "kid"), "seeing is not deleting");
    cr_assert_not(auth_may_delete(a, "grandpa", "kid"));
    cr_assert(auth_may_delete(a, "root", "kid"));
    auth_free(a);
}

Test(auth, malformed_files_are_refused_with_the_line)
{
    struct auth *a = NULL;
    const char *bad_acls[] = {"mum dad\n", "mum: @root\n", "mum: a/b\n", ": dad\n"};
    char text[256];

    for (size_t i = 0; i < sizeof(bad_acls) / sizeof(bad_acls[0]); i++) {
        snprintf(text, sizeof(text), "mum:%s\n", bcrypt("m"));
        write_file(users, text);
        write_file(acl, bad_acls[i]);
        cr_assert_eq(auth_new(users, acl, &a), -EINVAL, "%s", bad_acls[i]);
    }
    write_file(users, "mum:plaintext\n");
    cr_assert_eq(auth_new(users, NULL, &a), -EINVAL);
    write_file(users, "mum:$6$salt$abcdef\n"); /* SHA-512 crypt: not offered */
    cr_assert_eq(auth_new(users, NULL, &a), -EINVAL);
    write_file(users, "no colon here\n");
    cr_assert_eq(auth_new(users, NULL, &a), -EINVAL);
    snprintf(text, sizeof(text), "mum:%s\nMUM:%s\n", bcrypt("m"), bcrypt("n"));
    write_file(users, text);
    cr_assert_eq(auth_new(users, NULL, &a), -EINVAL, "one user twice");
    cr_assert_eq(auth_new("/nonexistent/users", NULL, &a), -ENOENT);
}

Test(auth, reload_swaps_users_and_forgets_remembered_passwords)
{
    struct auth *a = load_users("mum: dad\n");
    struct auth_who who;
    char text[256];
    cr_assert_eq(auth_check(a, basic("mum", "m"), "1.1.1.1", &who), AUTH_OK);

    snprintf(text, sizeof(text), "mum:%s\n", bcrypt("new"));
    write_file(users, text);
    write_file(acl, "mum: kid\n");
    cr_assert_eq(auth_reload(a), 0);
    cr_assert_eq(auth_check(a, basic("mum", "m"), "1.1.1.1", &who), AUTH_DENIED);
    cr_assert_eq(auth_check(a, basic("mum", "new"), "1.1.1.1", &who), AUTH_OK);
    cr_assert_eq(auth_check(a, basic("dad", "d"), "1.1.1.1", &who), AUTH_DENIED);
    cr_assert(auth_visible(a, "mum", "kid"));
    cr_assert_not(auth_visible(a, "mum", "dad"));

    write_file(acl, "mum: @nope\n");
    cr_assert_eq(auth_reload(a), -EINVAL);
    cr_assert(auth_visible(a, "mum", "kid"), "a failed reload keeps what was loaded");
    cr_assert_eq(auth_check(a, basic("mum", "new"), "1.1.1.1", &who), AUTH_OK);
    auth_free(a);
}

/* ---------------------------------------------------------------- API tokens */

/* A token for user in a fresh store (dir/store); its secret goes into secret. */
static struct store *token_store(const char *user, const char *name, bool read_only,
                                 char secret[TOKEN_SECRET_SIZE])
{
    char path[320];
    struct store *s = NULL;
    struct store_token t = {.read_only = read_only, .created = time(NULL)};
    snprintf(path, sizeof(path), "%s/store", dir);
    cr_assert_eq(store_open(path, NULL, &s), 0);
    snprintf(t.user, sizeof(t.user), "%s", user);
    snprintf(t.name, sizeof(t.name), "%s", name);
    token_make(secret, t.hash);
    cr_assert_eq(store_token_put(s, &t), 0);
    return s;
}

static const char *bearer(const char *secret)
{
    static char out[128];
    snprintf(out, sizeof(out), "Bearer %s", secret);
    return out;
}

Test(auth, a_token_acts_as_its_user_even_where_anyone_may_ask)
{
    char secret[TOKEN_SECRET_SIZE], other[TOKEN_SECRET_SIZE];
    uint8_t unused[STORE_TOKEN_HASH_BYTES];
    struct store *s = token_store("kid", "homeassistant", true, secret);
    struct auth *a = NULL;
    struct auth_who who;
    cr_assert_eq(auth_new(NULL, NULL, &a), 0, "open: no password file");
    auth_use_tokens(a, s);
    cr_assert_not(auth_required(a));

    cr_assert_eq(auth_check(a, NULL, "127.0.0.1", &who), AUTH_ANONYMOUS);
    cr_assert_eq(auth_check(a, basic("mum", "m"), "127.0.0.1", &who), AUTH_ANONYMOUS,
                 "open: a password is not looked at");
    cr_assert(auth_visible(a, NULL, "mum"), "open: anonymous sees everyone");
    cr_assert_not(auth_may_delete(a, NULL, "mum"), "but deletes nothing");

    cr_assert_eq(auth_check(a, bearer(secret), "127.0.0.1", &who), AUTH_OK);
    cr_assert_str_eq(who.user, "kid");
    cr_assert_str_eq(who.token, "homeassistant");
    cr_assert(who.read_only);
    cr_assert(auth_visible(a, "kid", "kid"));
    cr_assert_not(auth_visible(a, "kid", "mum"), "a token's user sees only what the ACL grants");

    token_make(other, unused);
    cr_assert_eq(auth_check(a, bearer(other), "127.0.0.1", &who), AUTH_BAD_TOKEN,
                 "a wrong token is refused, never taken as anonymous");
    cr_assert_eq(auth_check(a, "Bearer", "127.0.0.1", &who), AUTH_BAD_TOKEN);
    cr_assert_eq(auth_check(a, "Bearer  ", "127.0.0.1", &who), AUTH_BAD_TOKEN);
    cr_assert_eq(store_token_delete(s, "kid", "homeassistant"), 0);
    cr_assert_eq(auth_check(a, bearer(secret), "127.0.0.1", &who), AUTH_BAD_TOKEN,
                 "revoked: refused at the next request");
    auth_free(a);
    store_close(s);
}

Test(auth, wrong_tokens_are_throttled_like_wrong_passwords)
{
    char secret[TOKEN_SECRET_SIZE];
    struct store *s = token_store("mum", "cron", false, secret);
    struct auth *a = load_users(NULL);
    struct auth_who who;
    auth_use_tokens(a, s);
    cr_assert(auth_required(a));
    cr_assert_eq(auth_check(a, bearer(secret), "10.0.0.1", &who), AUTH_OK);
    cr_assert_str_eq(who.user, "mum");
    cr_assert_not(who.read_only);
    for (int i = 0; i < AUTH_FAIL_LIMIT; i++)
        cr_assert_eq(auth_check(a, bearer("wlt_guess"), "10.0.0.1", &who), AUTH_BAD_TOKEN);
    cr_assert_eq(auth_check(a, bearer(secret), "10.0.0.1", &who), AUTH_THROTTLED,
                 "a guessing address is refused without checking, even the right token");
    cr_assert_eq(auth_check(a, basic("mum", "m"), "10.0.0.1", &who), AUTH_THROTTLED,
                 "and without its password either");
    cr_assert_eq(auth_check(a, bearer(secret), "10.0.0.2", &who), AUTH_OK);
    auth_free(a);
    store_close(s);
}

Test(auth, a_user_removed_from_the_password_file_loses_their_tokens)
{
    char secret[TOKEN_SECRET_SIZE];
    struct store *s = token_store("stranger", "cron", false, secret);
    struct auth *a = load_users(NULL);
    struct auth_who who;
    auth_use_tokens(a, s);
    cr_assert_eq(auth_check(a, bearer(secret), "10.0.0.1", &who), AUTH_BAD_TOKEN);
    auth_free(a);
    store_close(s);
}
