#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli_command.h"
#include "config.h"
#include "helpers.h"

static char dir[256], conf[300];
static const char *user;
static const struct cli_option opts[] = {{"user", "USER", "who", &user, NULL}};
static const struct cli_command serve = {"serve", "serve", "test", CFG_ALL | CFG_SERVE,
                                         opts,    1,       0,      2};

static void setup(void)
{
    tmpdir_make(dir, sizeof(dir));
    snprintf(conf, sizeof(conf), "%s/wherelog.conf", dir);
    user = NULL;
    unsetenv("WHERELOG_CONFIG");
    unsetenv("WHERELOG_MQTT_HOST");
    unsetenv("WHERELOG_MQTT_PORT");
    unsetenv("WHERELOG_TOPIC");
    unsetenv("WHERELOG_STORAGE");
}

static void teardown(void)
{
    tmpdir_remove(dir);
}

static void write_conf(const char *text)
{
    FILE *f = fopen(conf, "w");
    fputs(text, f);
    fclose(f);
}

static int load(struct wl_config *cfg, int argc, char **argv)
{
    const char *args[2];
    size_t nargs;
    return cfg_load(cfg, &serve, argc, argv, args, &nargs);
}

TestSuite(config, .init = setup, .fini = teardown);

Test(config, defaults_then_file_then_environment_then_flags)
{
    struct wl_config cfg;
    char *argv0[] = {"serve"};
    cr_assert_eq(load(&cfg, 1, argv0), 0);
    cr_expect_str_eq(cfg.mqtt_host, "localhost");
    cr_expect_eq(cfg.mqtt_port, 1883);
    cr_expect_eq(cfg.qos, 1);
    cr_expect_eq(cfg.topics.n, 1);
    cr_expect_str_eq(cfg.topics.v[0], "owntracks/#");

    write_conf("# comment\nmqtt-host = file.example\nmqtt-port = 1884 # a comment\n"
               "topic = a/#\ntopic = \"b/#\"  # quoted\n");
    setenv("WHERELOG_CONFIG", conf, 1);
    cr_assert_eq(load(&cfg, 1, argv0), 0);
    cr_expect_str_eq(cfg.mqtt_host, "file.example");
    cr_expect_eq(cfg.mqtt_port, 1884);
    cr_expect_eq(cfg.topics.n, 2);
    cr_expect_str_eq(cfg.topics.v[0], "a/#", "a '#' inside a value is no comment");
    cr_expect_str_eq(cfg.topics.v[1], "b/#");

    setenv("WHERELOG_MQTT_HOST", "env.example", 1);
    cr_assert_eq(load(&cfg, 1, argv0), 0);
    cr_expect_str_eq(cfg.mqtt_host, "env.example");
    cr_expect_eq(cfg.mqtt_port, 1884, "the file still sets what the environment does not");

    char *argv1[] = {"serve", "--mqtt-host", "flag.example", "--topic=c/#", "--user", "jane"};
    cr_assert_eq(load(&cfg, 6, argv1), 0);
    cr_expect_str_eq(cfg.mqtt_host, "flag.example");
    cr_expect_eq(cfg.topics.n, 1, "a list given by flag replaces the file's list");
    cr_expect_str_eq(cfg.topics.v[0], "c/#");
    cr_expect_str_eq(user, "jane");
    cr_expect_eq(cfg.source[4], CFG_FLAG);
}

Test(config, refuses_bad_values_and_unknown_names)
{
    struct wl_config cfg;
    char *a1[] = {"serve", "--mqtt-port", "70000"};
    cr_expect_eq(load(&cfg, 3, a1), -EINVAL);
    char *a2[] = {"serve", "--no-such-thing"};
    cr_expect_eq(load(&cfg, 2, a2), -EINVAL);
    char *a3[] = {"serve", "--qos", "0"};
    cr_expect_eq(load(&cfg, 3, a3), -EINVAL);
    char *a4[] = {"serve", "--mqtt-host"};
    cr_expect_eq(load(&cfg, 2, a4), -EINVAL, "a missing value");
    char *a5[] = {"serve", "--log-level", "chatty"};
    cr_expect_eq(load(&cfg, 3, a5), -EINVAL);
    write_conf("mqtt-hots = typo\n");
    char *a6[] = {"serve", "--config", conf};
    cr_expect_eq(load(&cfg, 3, a6), -EINVAL);
    write_conf("just words\n");
    cr_expect_eq(load(&cfg, 3, a6), -EINVAL);
    char *a7[] = {"serve", "x", "y", "z"};
    cr_expect_eq(load(&cfg, 4, a7), -EINVAL, "too many arguments");
}

Test(config, takes_positional_arguments_and_help)
{
    struct wl_config cfg;
    const char *args[2];
    size_t n;
    char *a[] = {"serve", "one", "--", "--two"};
    cr_assert_eq(cfg_load(&cfg, &serve, 4, a, args, &n), 0);
    cr_assert_eq(n, 2);
    cr_expect_str_eq(args[1], "--two");
    char *h[] = {"serve", "--help"};
    cr_expect_eq(cfg_load(&cfg, &serve, 2, h, args, &n), 1);
}

Test(config, reads_secret_files)
{
    char path[320], buf[64];
    snprintf(path, sizeof(path), "%s/pw", dir);
    FILE *f = fopen(path, "w");
    fputs("hunter2\nsecond line\n", f);
    fclose(f);
    cr_assert_eq(cfg_read_secret_file(path, buf, sizeof(buf)), 0);
    cr_expect_str_eq(buf, "hunter2");
    cr_expect_eq(cfg_read_secret_file("/nonexistent/pw", buf, sizeof(buf)), -ENOENT);
}

Test(config, reads_durations_and_the_timeline_defaults)
{
    long s;
    cr_expect_eq(cfg_parse_duration("300", &s), 0);
    cr_expect_eq(s, 300);
    cr_expect_eq(cfg_parse_duration("5m", &s), 0);
    cr_expect_eq(s, 300);
    cr_expect_eq(cfg_parse_duration("1h30min", &s), 0);
    cr_expect_eq(s, 5400);
    cr_expect_eq(cfg_parse_duration("1d2h3m4s", &s), 0);
    cr_expect_eq(s, 86400 + 7200 + 180 + 4);
    const char *bad[] = {"", "5x", "m5", "5m1h", "1h30", "-5", "5 m", "99999999999999"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        cr_expect_eq(cfg_parse_duration(bad[i], &s), -EINVAL, "'%s' is not a duration", bad[i]);

    struct wl_config cfg;
    char *argv0[] = {"serve"};
    cr_assert_eq(load(&cfg, 1, argv0), 0);
    cr_expect_str_eq(cfg.timezone, "");
    cr_expect_eq(cfg.stay_radius, 100);
    cr_expect_eq(cfg.stay_time, 300);
    char *argv[] = {"serve", "--stay-time", "10m", "--timezone", "Europe/Paris"};
    cr_assert_eq(load(&cfg, 5, argv), 0);
    cr_expect_eq(cfg.stay_time, 600);
    cr_expect_str_eq(cfg.timezone, "Europe/Paris");
    char *too_short[] = {"serve", "--stay-time", "10s"};
    cr_expect_eq(load(&cfg, 3, too_short), -EINVAL, "a stay of 10 s is refused");
}
