/* Unit tests for util/log: one message is one line of stderr. */
#include <criterion/criterion.h>

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "util/log.h"

/* What log_error(fmt, arg) writes to stderr. */
static void logged(const char *arg, char *out, size_t cap)
{
    int fds[2];
    cr_assert_eq(pipe(fds), 0);
    int saved = dup(STDERR_FILENO);
    dup2(fds[1], STDERR_FILENO);
    log_error("before %s after", arg);
    dup2(saved, STDERR_FILENO);
    close(saved);
    close(fds[1]);
    ssize_t n = read(fds[0], out, cap - 1);
    close(fds[0]);
    out[n > 0 ? n : 0] = '\0';
}

/* A client's %0A, decoded into a request target that libmicrohttpd's message quotes, wrote a
 * line of its own that read as the server's: "... casemgr error: sqlite: FORGED" */
Test(util_log, control_characters_stay_inside_the_line)
{
    char out[4096];
    logged("http://h\n2026-11-30T00:00:00.000Z casemgr error: sqlite: FORGED\r\n/x", out,
           sizeof out);
    cr_expect_eq(strchr(out, '\n'), out + strlen(out) - 1, "one line: %s", out);
    cr_expect(strstr(out, "casemgr error: before http://h?2026-11-30T00:00:00.000Z casemgr error: "
                          "sqlite: FORGED?" "?/x after\n") != NULL,
              "%s", out);
    logged("a\tb\x01" "c\x7f", out, sizeof out);
    cr_expect(strstr(out, "before a b?c? after\n") != NULL, "%s", out);
    /* libpq's two-line messages (a newline, a tab) read as one; a trailing newline goes */
    logged("could not connect\n\tIs the server running?\n", out, sizeof out);
    cr_expect(strstr(out, "before could not connect  Is the server running?" "? after\n") != NULL,
              "%s", out);
}
