/* GPX 1.0 and 1.1 through libxml2's streaming reader (never string matching): one node at a
 * time, so the file's size does not matter. */
#include <errno.h>
#include <libxml/xmlreader.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "import_internal.h"
#include "log.h"
#include "wtime.h"

/* The point being read: attributes and the child elements we use. */
struct gpx_point {
    char lat[48], lon[48], ele[48], time[64], speed[48], course[48], name[256];
    bool in;       /* inside <trkpt>, <rtept> or <wpt> */
    bool too_long; /* a value did not fit its field: the point is not stored cut */
    bool waypoint;
};

/* Is s a JSON number (so it can go into the payload as written, digit for digit)? */
static bool json_number(const char *s)
{
    const char *p = s;
    if (*p == '-')
        p++;
    if (*p == '0')
        p++;
    else if (*p >= '1' && *p <= '9')
        while (*p >= '0' && *p <= '9')
            p++;
    else
        return false;
    if (*p == '.') {
        p++;
        if (!(*p >= '0' && *p <= '9'))
            return false;
        while (*p >= '0' && *p <= '9')
            p++;
    }
    if (*p == 'e' || *p == 'E') {
        p++;
        if (*p == '+' || *p == '-')
            p++;
        if (!(*p >= '0' && *p <= '9'))
            return false;
        while (*p >= '0' && *p <= '9')
            p++;
    }
    return *p == '\0' && p != s;
}

static bool xml_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* Copies a value into a fixed field of p without the XML white space around it. A value
 * that does not fit is not cut (a cut number is another number): p->too_long is set. */
static void set_field(struct gpx_point *p, char *dst, size_t size, const char *src)
{
    while (xml_space(*src))
        src++;
    size_t n = strlen(src);
    while (n && xml_space(src[n - 1]))
        n--;
    if (n >= size) {
        p->too_long = true;
        n = 0;
    }
    memcpy(dst, src, n);
    dst[n] = '\0';
}

/* Turns a finished point into an OwnTracks location and feeds it. */
static int emit(struct imp *imp, size_t dev, struct gpx_point *p, struct sink *json)
{
    struct wtime t;
    if (p->too_long) {
        import_unreadable(imp, dev, "GPX point with a value too long for its field");
        return 0;
    }
    if (!p->time[0]) {
        import_unreadable(imp, dev, "GPX point without a time");
        return 0;
    }
    if (wtime_parse(p->time, &t) != 0) {
        import_unreadable(imp, dev, "GPX point with an unreadable time");
        return 0;
    }
    if (!json_number(p->lat) || !json_number(p->lon)) {
        import_unreadable(imp, dev, "GPX point without a numeric lat and lon");
        return 0;
    }
    json->len = 0;
    sink_puts(json, "{\"_type\":\"location\",\"lat\":");
    sink_puts(json, p->lat);
    sink_puts(json, ",\"lon\":");
    sink_puts(json, p->lon);
    sink_puts(json, ",\"tst\":");
    sink_put_i64(json, t.t);
    if (json_number(p->ele)) {
        sink_puts(json, ",\"alt\":");
        sink_puts(json, p->ele);
    }
    if (json_number(p->speed)) { /* GPX 1.0 speed is m/s; OwnTracks vel is km/h */
        double v = strtod(p->speed, NULL) * 3.6;
        if (isfinite(v) && v >= 0 && v < 100000)
            sink_printf(json, ",\"vel\":%.0f", v);
    }
    if (json_number(p->course)) {
        sink_puts(json, ",\"cog\":");
        sink_puts(json, p->course);
    }
    if (p->waypoint && p->name[0]) {
        sink_puts(json, ",\"poi\":");
        sink_json_string(json, p->name, strlen(p->name));
    }
    sink_putc(json, '}');
    if (json->err)
        return json->err;
    return import_feed(imp, dev, json->buf, json->len, t.t);
}

struct xml_errors {
    struct imp *imp;
    const char *path;
    bool failed;
};

static void on_xml_error(void *arg, xmlErrorPtr e)
{
    struct xml_errors *x = arg;
    if (!e || e->level < XML_ERR_ERROR || x->failed)
        return;
    x->failed = true;
    char msg[256];
    snprintf(msg, sizeof(msg), "%s", e->message ? e->message : "XML error");
    msg[strcspn(msg, "\n")] = '\0';
    import_error(x->imp, "%s: not a well-formed GPX file at line %d: %s", x->path, e->line, msg);
}

int import_gpx(struct imp *imp, const char *path, const char *user, const char *device)
{
    size_t dev = import_device(imp, user, device);
    struct gpx_point p = {0};
    struct sink json;
    struct xml_errors errors = {.imp = imp, .path = path};
    char *field = NULL; /* the child element whose text is being read */
    size_t field_size = 0;
    int rc = 0, r;

    if (dev == SIZE_MAX || sink_init_mem(&json, 256))
        return -ENOMEM;
    /* No network, no entity expansion (XXE), no DTD loading: a GPX needs none of them. */
    xmlTextReaderPtr reader = xmlReaderForFile(path, NULL, XML_PARSE_NONET | XML_PARSE_NOCDATA);
    if (!reader) {
        import_error(imp, "cannot read %s", path);
        sink_free(&json);
        return -EIO;
    }
    xmlTextReaderSetStructuredErrorHandler(reader, on_xml_error, &errors);
    imp->files++;
    while (rc == 0 && (r = xmlTextReaderRead(reader)) == 1) {
        int type = xmlTextReaderNodeType(reader);
        const char *name = (const char *)xmlTextReaderConstLocalName(reader);
        if (type == XML_READER_TYPE_ELEMENT) {
            bool point = strcmp(name, "trkpt") == 0 || strcmp(name, "rtept") == 0 ||
                         strcmp(name, "wpt") == 0;
            if (point) {
                memset(&p, 0, sizeof(p));
                p.in = true;
                p.waypoint = name[0] == 'w';
                xmlChar *a = xmlTextReaderGetAttribute(reader, BAD_CAST "lat");
                set_field(&p, p.lat, sizeof(p.lat), a ? (const char *)a : "");
                xmlFree(a);
                a = xmlTextReaderGetAttribute(reader, BAD_CAST "lon");
                set_field(&p, p.lon, sizeof(p.lon), a ? (const char *)a : "");
                xmlFree(a);
                if (xmlTextReaderIsEmptyElement(reader))
                    rc = emit(imp, dev, &p, &json), p.in = false;
                continue;
            }
            field = NULL;
            if (p.in && xmlTextReaderDepth(reader) >= 1) {
                if (strcmp(name, "ele") == 0)
                    field = p.ele, field_size = sizeof(p.ele);
                else if (strcmp(name, "time") == 0)
                    field = p.time, field_size = sizeof(p.time);
                else if (strcmp(name, "speed") == 0)
                    field = p.speed, field_size = sizeof(p.speed);
                else if (strcmp(name, "course") == 0)
                    field = p.course, field_size = sizeof(p.course);
                else if (strcmp(name, "name") == 0)
                    field = p.name, field_size = sizeof(p.name);
            }
        } else if ((type == XML_READER_TYPE_TEXT || type == XML_READER_TYPE_CDATA) && field) {
            const char *v = (const char *)xmlTextReaderConstValue(reader);
            set_field(&p, field, field_size, v ? v : "");
        } else if (type == XML_READER_TYPE_END_ELEMENT) {
            if (p.in && (strcmp(name, "trkpt") == 0 || strcmp(name, "rtept") == 0 ||
                         strcmp(name, "wpt") == 0)) {
                rc = emit(imp, dev, &p, &json);
                p.in = false;
            }
            field = NULL;
        }
        import_progress(imp);
    }
    if (r < 0 && !errors.failed) /* a reader error without a message */
        import_error(imp, "%s: not a well-formed GPX file", path);
    xmlFreeTextReader(reader);
    sink_free(&json);
    int frc = import_flush(imp);
    if (rc == 0 && (r < 0 || errors.failed))
        rc = -EINVAL;
    return rc ? rc : frc;
}
