/*
 * log.h - one line per event: "LEVEL module: message key=value ...".
 *
 * Lines go to stderr (with a UTC timestamp unless journald is reading it, which adds its
 * own) or to syslog. The destination is set once at start-up, before threads exist; the level
 * too, and again by a reload while threads run (it is atomic). wl_log() is thread-safe (one
 * write() per line, so lines never interleave) and cannot fail: a line that cannot be
 * written is lost.
 */
#ifndef WL_LOG_H
#define WL_LOG_H

#include <stdbool.h>
#include <stddef.h>

enum wl_log_level { WL_LOG_ERROR, WL_LOG_WARN, WL_LOG_INFO, WL_LOG_DEBUG };

/* Parses "error", "warn", "info" or "debug". Returns 0 or -EINVAL. */
int wl_log_parse_level(const char *name, enum wl_log_level *out);

/* Lines below this level are not written from now on. Any thread. */
void wl_log_set_level(enum wl_log_level level);
/* Sends lines to syslog (facility daemon) instead of stderr. */
void wl_log_use_syslog(const char *ident);
/* Would a line at this level be written? (Spares building a costly one that would not.) */
bool wl_log_enabled(enum wl_log_level level);

void wl_log(enum wl_log_level level, const char *module, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/*
 * Makes untrusted bytes (a topic, a user name from a phone) safe to put in a log line:
 * printable ASCII is copied, '"' and '\\' are escaped, everything else becomes \xNN, and
 * the result is cut with "..." to fit. Returns buf, always NUL-terminated.
 */
const char *wl_log_quote(char *buf, size_t size, const void *data, size_t len);

#define WL_LOG_QUOTE_SIZE 160 /* enough for a 64-byte name fully escaped, plus a little */

#endif
