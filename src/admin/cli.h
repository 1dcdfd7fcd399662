/* cli — the administration subcommands of API.md §9 (app, token, template, status, priority,
 * stream) and their shared option handling. serve lives in main.c. */
#ifndef CASEMGR_ADMIN_CLI_H
#define CASEMGR_ADMIN_CLI_H

/* Runs `casemgr <argv[0]> ...` for an administration subcommand; returns the exit status
 * (0 ok, 1 failure, 2 usage). Prints JSON results on stdout, diagnostics on stderr. */
int cli_main(int argc, char **argv);
/* True when name is an administration subcommand. */
int cli_is_command(const char *name);

/* The database URL from --db or CASEMGR_DB, else the default. */
const char *cli_db_url(const char *given);
/* The key file path for a database URL: --key-file, CASEMGR_KEY_FILE, "<sqlite path>.key", or
 * "./data/casemgr.key". Heap string. */
char *cli_key_path(const char *given, const char *db_url);

#endif
