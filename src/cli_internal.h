/* cli_internal.h - helpers the subcommands (cli*.c, serve.c) share. */
#ifndef WL_CLI_INTERNAL_H
#define WL_CLI_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include "cli_command.h"
#include "config.h"
#include "owntracks.h"
#include "request.h"
#include "store.h"

/* Exit status after cfg_load(): 0 when --help was printed, 2 for bad usage. */
int cli_usage_status(int rc);
/* The timeline's defaults from the settings (timezone, stay-radius, stay-time), for
 * store_options.timeline wherever the store is opened. */
void cli_timeline_defaults(const struct wl_config *cfg, struct store_user_settings *out);
/* Opens the store (for writing or not), with a message a person can act on. */
int cli_open_store(const char *cmd, const struct wl_config *cfg, bool write, struct store **s);
/* A positional user or device name (lowercased into out), or time (a range end, end=true,
 * covers the whole unit it names), read as request.h reads them. `what` names it; returns 0,
 * or -EINVAL after "wherelog CMD: WHAT: why" on stderr. */
int cli_name_arg(const char *cmd, const char *what, const char *in, char *out);
int cli_time_arg(const char *cmd, const char *what, const char *text, bool end, int64_t *out);

/*
 * The options of the reading commands (export, delete, stats, last, list), as given (NULL when
 * absent), by request.h's parameter names: the CLI's door to the request parser that the API
 * uses too, so that both refuse the same input in the same words.
 */
struct cli_params {
    const char *user, *device, *from, *to, *format, *fields, *limit;
};
/* Parses them by the rules; returns 0, or -EINVAL after a one-line reason on stderr
 * ("wherelog CMD: --from: ..."). */
int cli_request(const char *cmd, const struct cli_params *p, const struct request_rules *rules,
                struct request_params *rq);

#endif
