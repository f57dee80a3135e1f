/*
 * wl.h - project-wide error codes.
 *
 * Every function that can fail returns an int: 0 on success, a negative errno value
 * (-EINVAL, -ENOENT, -ENOMEM, ...) or one of the project codes below. Library codes
 * (LMDB, libmosquitto, libmicrohttpd) are translated at the module that owns the
 * library and never travel further up.
 */
#ifndef WL_H
#define WL_H

/* Project codes sit far below any errno value so the two ranges never overlap. */
enum wl_error {
    WL_ESCHEMA = -10001,   /* the store was written by an unknown schema version */
    WL_ECORRUPT = -10002,  /* a stored record does not decode */
    WL_EMAPFULL = -10003,  /* the LMDB map is full and could not grow */
    WL_ESTORE = -10004,    /* any other LMDB failure (details are logged where it happens) */
    WL_EDUPLICATE = -10005 /* the record is already stored (not an error for ingest) */
};

/* Human-readable text for any code above or negative errno value. Never NULL. */
const char *wl_strerror(int err);

#define WL_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

#endif
