/*
 * cli_command.h - how a subcommand describes itself to the command-line parser (config.h's
 * cfg_load()): its name, usage, summary, which settings it takes, its own options and how
 * many positional arguments. The commands (cli*.c, serve.c) fill these in as constants; the
 * parser only reads them. Constant data: any thread.
 */
#ifndef WL_CLI_COMMAND_H
#define WL_CLI_COMMAND_H

#include <stdbool.h>
#include <stddef.h>

/* An option of one command (not a setting): --user U, --format F, --dry-run... */
struct cli_option {
    const char *name;
    const char *arg; /* "USER", "FILE"...; NULL for a flag */
    const char *help;
    const char **value; /* where the argument goes (options with arg): a pointer into argv */
    bool *flag;         /* set to true (flags) */
};

struct cli_command {
    const char *name;
    const char *usage;   /* "export --user U --device D [options]" */
    const char *summary; /* one line */
    unsigned scope;      /* which settings it takes (enum cfg_scope bits) */
    const struct cli_option *options;
    size_t noptions;
    size_t min_args, max_args; /* positional arguments */
};

#endif
