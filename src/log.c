#include "log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

/*
 * The logger is the one piece of process-wide state: it is configured before threads start
 * and only the level changes later (on reload), hence the atomics.
 */
static atomic_int log_level = WL_LOG_INFO;
static atomic_bool log_syslog;

static const char *const level_names[] = {"error", "warn", "info", "debug"};

int wl_log_parse_level(const char *name, enum wl_log_level *out)
{
    for (size_t i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++) {
        if (strcmp(name, level_names[i]) == 0) {
            *out = (enum wl_log_level)i;
            return 0;
        }
    }
    return -EINVAL;
}

void wl_log_set_level(enum wl_log_level level)
{
    atomic_store(&log_level, (int)level);
}

void wl_log_use_syslog(const char *ident)
{
    openlog(ident, LOG_PID, LOG_DAEMON);
    atomic_store(&log_syslog, true);
}

bool wl_log_enabled(enum wl_log_level level)
{
    return (int)level <= atomic_load(&log_level);
}

void wl_log(enum wl_log_level level, const char *module, const char *fmt, ...)
{
    if (!wl_log_enabled(level))
        return;

    char line[2048];
    size_t off = 0;
    va_list ap;

    if (atomic_load(&log_syslog)) {
        static const int prio[] = {LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG};
        va_start(ap, fmt);
        int n = vsnprintf(line, sizeof(line), fmt, ap);
        va_end(ap);
        (void)n;
        syslog(prio[level], "%s %s: %s", level_names[level], module, line);
        return;
    }

    /* journald stamps every line itself; elsewhere a UTC timestamp helps. */
    if (getenv("JOURNAL_STREAM") == NULL) {
        struct timespec now;
        struct tm tm;
        clock_gettime(CLOCK_REALTIME, &now);
        gmtime_r(&now.tv_sec, &tm);
        off += strftime(line, sizeof(line), "%Y-%m-%dT%H:%M:%S", &tm);
        off += (size_t)snprintf(line + off, sizeof(line) - off, ".%03ldZ ", now.tv_nsec / 1000000);
    }
    int n = snprintf(line + off, sizeof(line) - off, "%s %s: ", level_names[level], module);
    if (n > 0)
        off += (size_t)n;
    va_start(ap, fmt);
    n = vsnprintf(line + off, sizeof(line) - off, fmt, ap);
    va_end(ap);
    if (n > 0)
        off += (size_t)n;
    if (off >= sizeof(line) - 1) {
        /* Truncated: say so rather than pretend the line was complete. */
        off = sizeof(line) - 5;
        memcpy(line + off, "...", 3);
        off += 3;
    }
    line[off++] = '\n';
    ssize_t w = write(STDERR_FILENO, line, off);
    (void)w; /* nowhere left to report a failed log write */
}

const char *wl_log_quote(char *buf, size_t size, const void *data, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *s = data;
    size_t o = 0;

    if (size < 8) {
        if (size)
            buf[0] = '\0';
        return buf;
    }
    for (size_t i = 0; i < len; i++) {
        unsigned char c = s[i];
        char tmp[4];
        size_t n;
        if (c == '"' || c == '\\') {
            tmp[0] = '\\';
            tmp[1] = (char)c;
            n = 2;
        } else if (c >= 0x20 && c < 0x7f) {
            tmp[0] = (char)c;
            n = 1;
        } else {
            tmp[0] = '\\';
            tmp[1] = 'x';
            tmp[2] = hex[c >> 4];
            tmp[3] = hex[c & 15];
            n = 4;
        }
        if (o + n + 4 > size) { /* keep room for "..." and the NUL */
            memcpy(buf + o, "...", 3);
            o += 3;
            break;
        }
        memcpy(buf + o, tmp, n);
        o += n;
    }
    buf[o] = '\0';
    return buf;
}
