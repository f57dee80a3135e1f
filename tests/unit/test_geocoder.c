#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "geocoder.h"

static int parse(enum geocoder_kind kind, const char *body, struct geocoder_answer *a)
{
    return geocoder_parse_answer(kind, body, strlen(body), a);
}

Test(geocoder, reads_a_nominatim_answer)
{
    struct geocoder_answer a;
    const char *body =
        "{\"place_id\":88066702,\"licence\":\"Data (c) OpenStreetMap contributors, ODbL 1.0.\","
        "\"osm_type\":\"way\",\"osm_id\":5013364,\"lat\":\"48.8582599\",\"lon\":\"2.2945006\","
        "\"category\":\"man_made\",\"type\":\"tower\",\"place_rank\":30,\"importance\":0.65,"
        "\"addresstype\":\"man_made\",\"name\":\"Tour Eiffel\",\"display_name\":\"Tour Eiffel, 5, "
        "Avenue Anatole France, Gros-Caillou, Paris 7e Arrondissement, Paris, France\","
        "\"address\":{\"man_made\":\"Tour Eiffel\",\"house_number\":\"5\",\"road\":\"Avenue "
        "Anatole France\",\"suburb\":\"Paris 7e Arrondissement\",\"city\":\"Paris\","
        "\"ISO3166-2-lvl6\":\"FR-75C\",\"postcode\":\"75007\",\"country\":\"France\","
        "\"country_code\":\"fr\"},\"boundingbox\":[\"48.8574753\",\"48.8590453\",\"2.2933119\","
        "\"2.2956897\"]}";
    cr_assert_eq(parse(GEOCODER_NOMINATIM, body, &a), 1);
    cr_expect_str_eq(a.cc, "FR", "country codes are upper case");
    cr_expect_str_eq(a.locality, "Paris");
    cr_expect(strncmp(a.addr, "Tour Eiffel, 5, Avenue Anatole France", 37) == 0, "%s", a.addr);
    /* A village has no city. */
    cr_assert_eq(parse(GEOCODER_NOMINATIM,
                       "{\"display_name\":\"Chemin, Giverny, France\",\"address\":{\"village\":"
                       "\"Giverny\",\"country_code\":\"fr\"}}",
                       &a),
                 1);
    cr_expect_str_eq(a.locality, "Giverny");
}

Test(geocoder, nominatim_nothing_there_is_an_answer)
{
    struct geocoder_answer a;
    cr_expect_eq(parse(GEOCODER_NOMINATIM, "{\"error\":\"Unable to geocode\"}", &a), 0);
    cr_expect_str_empty(a.addr);
    cr_expect_str_empty(a.cc);
}

Test(geocoder, reads_a_photon_answer)
{
    struct geocoder_answer a;
    const char *body =
        "{\"features\":[{\"geometry\":{\"coordinates\":[13.3888599,52.5170365],\"type\":"
        "\"Point\"},\"type\":\"Feature\",\"properties\":{\"osm_id\":240109189,\"country\":"
        "\"Germany\",\"city\":\"Berlin\",\"countrycode\":\"DE\",\"postcode\":\"10117\","
        "\"locality\":\"Mitte\",\"type\":\"house\",\"osm_type\":\"N\",\"osm_key\":\"amenity\","
        "\"housenumber\":\"8\",\"street\":\"Unter den Linden\",\"osm_value\":\"library\","
        "\"name\":\"Staatsbibliothek\",\"state\":\"Berlin\"}}],\"type\":\"FeatureCollection\"}";
    cr_assert_eq(parse(GEOCODER_PHOTON, body, &a), 1);
    cr_expect_str_eq(a.cc, "DE");
    cr_expect_str_eq(a.locality, "Berlin");
    cr_expect_str_eq(a.addr, "Staatsbibliothek, Unter den Linden 8, 10117 Berlin, Germany");
    cr_expect_eq(parse(GEOCODER_PHOTON, "{\"features\":[],\"type\":\"FeatureCollection\"}", &a), 0,
                 "no feature: nothing there");
}

Test(geocoder, reads_an_opencage_answer)
{
    struct geocoder_answer a;
    const char *body =
        "{\"documentation\":\"https://opencagedata.com/api\",\"licenses\":[{\"name\":\"see "
        "attribution guide\",\"url\":\"https://opencagedata.com/credits\"}],\"rate\":{\"limit\":"
        "2500,\"remaining\":2499,\"reset\":1733097600},\"results\":[{\"bounds\":{\"northeast\":{"
        "\"lat\":52.3878,\"lng\":9.7335},\"southwest\":{\"lat\":52.3877,\"lng\":9.7334}},"
        "\"components\":{\"ISO_3166-1_alpha-2\":\"DE\",\"_category\":\"building\",\"_type\":"
        "\"building\",\"city\":\"Hanover\",\"country\":\"Germany\",\"country_code\":\"de\","
        "\"house_number\":\"3\",\"postcode\":\"30167\",\"road\":\"Philipsbornstraße\"},"
        "\"confidence\":10,\"formatted\":\"Philipsbornstraße 3, 30167 Hanover, Germany\","
        "\"geometry\":{\"lat\":52.3877830,\"lng\":9.7334394}}],\"status\":{\"code\":200,"
        "\"message\":\"OK\"},\"stay_informed\":{\"blog\":\"https://blog.opencagedata.com\"},"
        "\"thanks\":\"For using an OpenCage API\",\"timestamp\":{\"created_http\":\"Mon, 02 Dec "
        "2024 10:00:00 GMT\",\"created_unix\":1733133600},\"total_results\":1}";
    cr_assert_eq(parse(GEOCODER_OPENCAGE, body, &a), 1);
    cr_expect_str_eq(a.cc, "DE");
    cr_expect_str_eq(a.locality, "Hanover");
    cr_expect_str_eq(a.addr, "Philipsbornstraße 3, 30167 Hanover, Germany");
    cr_expect_eq(parse(GEOCODER_OPENCAGE,
                       "{\"results\":[],\"status\":{\"code\":200,\"message\":\"OK\"},"
                       "\"total_results\":0}",
                       &a),
                 0);
    cr_expect_eq(parse(GEOCODER_OPENCAGE,
                       "{\"results\":[],\"status\":{\"code\":401,\"message\":\"invalid API "
                       "key\"}}",
                       &a),
                 -EPROTO, "an error status is no answer");
}

Test(geocoder, nonsense_is_no_answer)
{
    struct geocoder_answer a;
    const char *nonsense[] = {"",
                              "<html>502 Bad Gateway</html>",
                              "[]",
                              "{\"display_name\":\"x\"}",
                              "{\"features\":{}}",
                              "{\"features\":[42]}",
                              "{\"display_name\":\"x\",\"address\":{}} trailing",
                              "{\"results\":[{}],\"status\":{\"code\":200}}",
                              "null"};
    for (size_t i = 0; i < sizeof(nonsense) / sizeof(nonsense[0]); i++)
        for (int k = GEOCODER_NOMINATIM; k <= GEOCODER_OPENCAGE; k++)
            cr_expect_eq(parse((enum geocoder_kind)k, nonsense[i], &a), -EPROTO,
                         "%s: '%s' is no answer", geocoder_kind_name((enum geocoder_kind)k),
                         nonsense[i]);
}

Test(geocoder, long_names_are_cut_at_a_character)
{
    struct geocoder_answer a;
    char body[2000];
    char name[700] = "";
    for (int i = 0; i < 300; i++)
        strcat(name, "é"); /* two bytes each */
    snprintf(body, sizeof(body), "{\"display_name\":\"%s\",\"address\":{\"city\":\"%s\"}}", name,
             name);
    cr_assert_eq(parse(GEOCODER_NOMINATIM, body, &a), 1);
    cr_expect_eq(strlen(a.addr), GEOCODER_ADDR_MAX - 2, "cut before a half character");
    cr_expect_eq(strlen(a.locality) % 2, 0, "whole characters only");
}

Test(geocoder, parses_the_setting)
{
    struct geocoder_spec s;
    char why[200];
    cr_assert_eq(geocoder_parse_spec("nominatim", &s, why, sizeof(why)), 0, "%s", why);
    cr_expect_eq(s.kind, GEOCODER_NOMINATIM);
    cr_expect_str_eq(s.url, "https://nominatim.openstreetmap.org");
    cr_expect_float_eq(s.rate, 1.0, 1e-9, "one a second by default");
    cr_assert_eq(geocoder_parse_spec("photon:http://127.0.0.1:2322/,rate=20", &s, why, sizeof(why)),
                 0, "%s", why);
    cr_expect_eq(s.kind, GEOCODER_PHOTON);
    cr_expect_str_eq(s.url, "http://127.0.0.1:2322", "the trailing slash goes");
    cr_expect_float_eq(s.rate, 20.0, 1e-9);
    cr_assert_eq(
        geocoder_parse_spec("opencage,key-file=/etc/wherelog/opencage.key", &s, why, sizeof(why)),
        0, "%s", why);
    cr_expect_str_eq(s.url, "https://api.opencagedata.com");
    cr_expect_str_eq(s.key_file, "/etc/wherelog/opencage.key");
    const char *bad[] = {"google",         "opencage",        "nominatim:ftp://x",
                         "nominatim:",     "photon,rate=0",   "photon,rate=fast",
                         "photon,speed=1", "nominatim,rate=", "photon:http://x,rate=1,"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        why[0] = '\0';
        cr_expect_eq(geocoder_parse_spec(bad[i], &s, why, sizeof(why)), -EINVAL, "'%s' refused",
                     bad[i]);
        cr_expect(why[0], "'%s' says why", bad[i]);
    }
}
