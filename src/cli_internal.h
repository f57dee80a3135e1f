/* cli_internal.h - helpers the subcommands (cli*.c, serve.c) share. */
#ifndef WL_CLI_INTERNAL_H
#define WL_CLI_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include "config.h"
#include "owntracks.h"
#include "store.h"

/* Exit status after cfg_load(): 0 when --help was printed, 2 for bad usage. */
int cli_usage_status(int rc);
/* Opens the store (for writing or not), with a message a person can act on. */
int cli_open_store(const char *cmd, const struct wl_config *cfg, bool write, struct store **s);
/* Lowercases and validates a user or device name given on the command line. */
int cli_name_arg(const char *cmd, const char *what, const char *in, char *out);
/* Parses a time argument; a range end (end=true) covers the whole unit it names. */
int cli_time_arg(const char *cmd, const char *what, const char *text, bool end, int64_t *out);

/*
 * What export, delete and stats select: --user, --device, --from, --to as given (NULL when
 * absent), checked by cli_selection(): names validated and lowercased, times parsed (the
 * whole range when absent), and from not after to.
 */
struct cli_selection {
    const char *user, *device, *from, *to;               /* the arguments */
    char uname[OT_NAME_MAX + 1], dname[OT_NAME_MAX + 1]; /* set when given */
    int64_t tfrom, tto;
};
/* Returns 0, or -EINVAL after a one-line reason on stderr. */
int cli_selection(const char *cmd, struct cli_selection *sel);

#endif
