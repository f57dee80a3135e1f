#include "wtime.h"

#include <ctype.h>
#include <errno.h>
#include <string.h>

#include "wl.h"

/* Days since 1970-01-01 for a civil date (Howard Hinnant's algorithm, public domain maths). */
int64_t wtime_from_civil(int64_t y, unsigned m, unsigned d)
{
    y -= m <= 2;
    const int64_t era = (y >= 0 ? y : y - 399) / 400;
    const unsigned yoe = (unsigned)(y - era * 400);
    const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

void wtime_to_civil(int64_t z, int64_t *year, unsigned *month, unsigned *day)
{
    z += 719468;
    const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    const unsigned doe = (unsigned)(z - era * 146097);
    const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    const unsigned mp = (5 * doy + 2) / 153;
    const unsigned d = doy - (153 * mp + 2) / 5 + 1;
    const unsigned m = mp < 10 ? mp + 3 : mp - 9;
    *year = (int64_t)yoe + era * 400 + (m <= 2);
    *month = m;
    *day = d;
}

static unsigned days_in_month(int64_t y, unsigned m)
{
    static const unsigned char dim[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    return m == 2 && leap ? 29 : dim[m - 1];
}

/* Reads exactly n digits. */
static bool digits(const char **s, int n, unsigned *out)
{
    unsigned v = 0;
    for (int i = 0; i < n; i++) {
        if (!isdigit((unsigned char)(*s)[i]))
            return false;
        v = v * 10 + (unsigned)((*s)[i] - '0');
    }
    *s += n;
    *out = v;
    return true;
}

static int parse_zone(const char *s, int64_t *offset)
{
    unsigned hh = 0, mm = 0;
    int sign;

    *offset = 0;
    if (*s == '\0')
        return 0;
    if ((s[0] == 'Z' || s[0] == 'z') && s[1] == '\0')
        return 0;
    if (*s != '+' && *s != '-')
        return -EINVAL;
    sign = *s == '-' ? -1 : 1;
    s++;
    if (!digits(&s, 2, &hh))
        return -EINVAL;
    if (*s == ':')
        s++;
    if (*s && !digits(&s, 2, &mm))
        return -EINVAL;
    if (*s || hh > 23 || mm > 59)
        return -EINVAL;
    *offset = sign * (int64_t)(hh * 3600 + mm * 60);
    return 0;
}

int wtime_parse(const char *s, struct wtime *out)
{
    unsigned year, month, day = 1, hh = 0, mm = 0, ss = 0;
    int64_t span, offset;
    size_t len = strlen(s);

    if (len == 0)
        return -EINVAL;

    /* Epoch seconds: all digits and not shaped like a date. */
    if (strspn(s, "0123456789") == len) {
        if (len > 11)
            return -EINVAL;
        int64_t v = 0;
        for (size_t i = 0; i < len; i++)
            v = v * 10 + (s[i] - '0');
        out->t = v;
        out->span = 1;
        return 0;
    }

    if (!digits(&s, 4, &year) || *s++ != '-' || !digits(&s, 2, &month))
        return -EINVAL;
    if (month < 1 || month > 12)
        return -EINVAL;
    span = 0; /* month: computed below */
    if (*s == '-') {
        s++;
        if (!digits(&s, 2, &day) || day < 1 || day > days_in_month(year, month))
            return -EINVAL;
        span = 86400;
        if (*s == 'T' || *s == 't' || *s == ' ') {
            s++;
            if (!digits(&s, 2, &hh) || hh > 23)
                return -EINVAL;
            span = 3600;
            if (*s == ':') {
                s++;
                if (!digits(&s, 2, &mm) || mm > 59)
                    return -EINVAL;
                span = 60;
                if (*s == ':') {
                    s++;
                    if (!digits(&s, 2, &ss) || ss > 59)
                        return -EINVAL;
                    span = 1;
                    if (*s == '.') { /* fractional seconds are accepted and truncated */
                        s++;
                        if (!isdigit((unsigned char)*s))
                            return -EINVAL;
                        while (isdigit((unsigned char)*s))
                            s++;
                    }
                }
            }
        }
    }
    if (parse_zone(s, &offset) != 0)
        return -EINVAL;
    if (span == 0)
        span = 86400 * (int64_t)days_in_month(year, month);

    out->t = wtime_from_civil(year, month, day) * 86400 + hh * 3600 + mm * 60 + ss - offset;
    out->span = span;
    return 0;
}

static void put2(char *p, unsigned v)
{
    p[0] = (char)('0' + v / 10);
    p[1] = (char)('0' + v % 10);
}

/* Writes "YYYY-MM-DD" for a day number (days since 1970-01-01). */
static void put_date(char *buf, int64_t day)
{
    int64_t y;
    unsigned m, d;

    wtime_to_civil(day, &y, &m, &d);
    if (y < 0 || y > 9999)
        y = 0; /* outside what this format can say; callers validate their ranges */
    put2(buf, (unsigned)(y / 100));
    put2(buf + 2, (unsigned)(y % 100));
    buf[4] = '-';
    put2(buf + 5, m);
    buf[7] = '-';
    put2(buf + 8, d);
}

/* Formats t as date, sep, "HH:MM:SS", then "Z" if zulu; the date comes from the cache when
 * it holds t's day. */
static void format(struct wtime_day_cache *c, int64_t t, char *buf, char sep, bool zulu)
{
    int64_t day = t >= 0 ? t / 86400 : (t - 86399) / 86400;
    int64_t secs = t - day * 86400;

    if (!c) {
        put_date(buf, day);
    } else {
        if (!c->valid || c->day != day) {
            put_date(c->date, day);
            c->day = day;
            c->valid = true;
        }
        memcpy(buf, c->date, WTIME_DATE_LEN);
    }
    buf[10] = sep;
    put2(buf + 11, (unsigned)(secs / 3600));
    buf[13] = ':';
    put2(buf + 14, (unsigned)(secs / 60 % 60));
    buf[16] = ':';
    put2(buf + 17, (unsigned)(secs % 60));
    if (zulu) {
        buf[WTIME_ISO_LEN - 1] = 'Z';
        buf[WTIME_ISO_LEN] = '\0';
    } else {
        buf[WTIME_DISP_LEN] = '\0';
    }
}

void wtime_iso(int64_t t, char buf[WTIME_ISO_SIZE])
{
    format(NULL, t, buf, 'T', true);
}

void wtime_disp(int64_t t, char buf[WTIME_DISP_SIZE])
{
    format(NULL, t, buf, ' ', false);
}

void wtime_iso_cached(struct wtime_day_cache *c, int64_t t, char buf[WTIME_ISO_SIZE])
{
    format(c, t, buf, 'T', true);
}

void wtime_disp_cached(struct wtime_day_cache *c, int64_t t, char buf[WTIME_DISP_SIZE])
{
    format(c, t, buf, ' ', false);
}

int wtime_parse_duration(const char *text, int64_t max, int64_t *seconds)
{
    static const struct {
        const char *unit;
        int64_t seconds;
    } units[] = {{"w", 7 * 86400}, {"d", 86400}, {"h", 3600}, {"min", 60}, {"m", 60}, {"s", 1}};
    const char *p = text;
    int64_t total = 0;
    size_t next_unit = 0;

    if (!text || !*text || max < 0)
        return -EINVAL;
    while (*p) {
        int64_t n = 0;
        if (*p < '0' || *p > '9')
            return -EINVAL;
        for (; *p >= '0' && *p <= '9'; p++) {
            n = n * 10 + (*p - '0');
            if (n > max)
                return -EINVAL;
        }
        if (!*p && next_unit == 0) { /* plain seconds */
            total = n;
            break;
        }
        size_t u = next_unit;
        while (u < WL_ARRAY_LEN(units) && strncmp(p, units[u].unit, strlen(units[u].unit)) != 0)
            u++;
        if (u == WL_ARRAY_LEN(units))
            return -EINVAL;
        p += strlen(units[u].unit);
        if (n > (max - total) / units[u].seconds)
            return -EINVAL;
        total += n * units[u].seconds;
        next_unit = u + 1 + (u == 3); /* after "min", not "m" again */
    }
    *seconds = total;
    return 0;
}
