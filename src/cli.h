/*
 * cli.h - the subcommands. Each takes argv with argv[0] = the command name, parses its
 * options and settings (config.h), wires the modules together and returns the process exit
 * status: 0 success (also after --help), 1 failure (a one-line reason on stderr; import also
 * when a source could not be read to its end, its summary on stdout), 2 bad usage.
 *
 * Where they live: serve in serve.c; the commands that only read the store (list, last,
 * export, stats, timeline, at) in cli.c, with the helpers they all share; those that change the
 * store or look after it (import, delete, hide, unhide, key, token, backup, compact, check,
 * settings, timeline rebuild) in cli_data.c.
 *
 * Thread rules: called once, from main(), before any thread starts (serve starts its own).
 */
#ifndef WL_CLI_H
#define WL_CLI_H

int cli_serve(int argc, char **argv);
int cli_list(int argc, char **argv);
int cli_last(int argc, char **argv);
int cli_export(int argc, char **argv);
int cli_key(int argc, char **argv);
int cli_token(int argc, char **argv);
/* cli_share.c: share links and the private places they never show. */
int cli_share(int argc, char **argv);
int cli_private(int argc, char **argv);
int cli_import(int argc, char **argv);
int cli_delete(int argc, char **argv);
int cli_hide(int argc, char **argv);
int cli_unhide(int argc, char **argv);
int cli_backup(int argc, char **argv);
int cli_compact(int argc, char **argv);
int cli_check(int argc, char **argv);
int cli_stats(int argc, char **argv);
int cli_timeline(int argc, char **argv);
int cli_at(int argc, char **argv);
int cli_summary(int argc, char **argv);
/* `timeline rebuild` (cli_timeline hands it over) and `settings`: they change the store. */
int cli_timeline_rebuild(int argc, char **argv);
int cli_settings(int argc, char **argv);
/* place: a user's places (cli_place.c). */
int cli_place(int argc, char **argv);
/* cli_events.c: the derived events, and the webhooks that deliver them. */
int cli_events(int argc, char **argv);
int cli_webhook(int argc, char **argv);

/* Shared by the commands: applies the logging settings (an unknown level leaves "info"). */
struct wl_config;
void cli_setup_logging(const struct wl_config *cfg);

#endif
