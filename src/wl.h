/*
 * wl.h - project-wide error codes.
 *
 * Every function that can fail returns an int: 0 on success, a negative errno value
 * (-EINVAL, -ENOENT, -ENOMEM, ...) or one of the project codes below. Library codes
 * (LMDB, libmosquitto, libmicrohttpd) are translated at the module that owns the
 * library and never travel further up.
 *
 * No state: any thread.
 */
#ifndef WL_H
#define WL_H

/* Project codes sit far below any errno value so the two ranges never overlap. */
enum wl_error {
    WL_ESCHEMA = -10001,  /* an unknown schema version, or no schema: not a wherelog store */
    WL_ECORRUPT = -10002, /* a stored record does not decode */
    WL_EMAPFULL = -10003, /* the LMDB map is full and could not grow */
    WL_ESTORE = -10004,   /* any other LMDB failure (details are logged where it happens) */
    /* Returned by nothing today (the store reports STORE_DUPLICATE, not an error); the
     * number stays taken so that it never comes to mean something else. */
    WL_EDUPLICATE = -10005
};

/* Human-readable text for any code above or negative errno value. Never NULL; static text,
 * or strerror(3)'s for an errno (glibc: valid until this thread's next call). */
const char *wl_strerror(int err);

#define WL_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

#endif
