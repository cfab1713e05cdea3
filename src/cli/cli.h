/* hf — shared CLI plumbing: option parsing, output modes, progress.
 * Every subcommand lives in its own cmd_*.c and is listed in main.c's table.
 * Ownership: a cli context owns its bk_client (created lazily, freed by
 * main). Strings from argv are borrowed.
 */
#ifndef HF_CLI_H
#define HF_CLI_H

#include <stddef.h>
#include <stdint.h>

#include "buckets/client.h"

enum { FMT_HUMAN = 0, FMT_AGENT, FMT_JSON, FMT_QUIET };

typedef struct cli {
  const char *token; /* --token */
  int format;
  int yes;
  int verbose; /* -v: per-file lines */
  int tty_err; /* stderr is a terminal: progress allowed */
  int no_truncate; /* --no-truncate: human table cells > 35 characters printed whole */
  char *owned[4];  /* arguments rewritten by cli_bucket_args (freed by main) */
  int nowned;
  bk_client *client;
  const char *prog; /* "hf buckets sync" etc. for messages */
} cli;

/* ---- option tables ---- */
enum { OPT_FLAG = 0, OPT_STR, OPT_MULTI };
typedef struct opt {
  const char *lng; /* "--private" (NULL: none) */
  char shrt;       /* 'R' (0: none) */
  int kind;
  void *dst;       /* int* for FLAG, const char** for STR, strlist* for MULTI */
} opt;

typedef struct strlist {
  const char **v;
  size_t n;
} strlist;

/* Parses argv[1..] against opts plus the global options (--token, --format,
 * --json, -q/--quiet, -y/--yes when allow_yes). Positionals go to pos
 * (up to maxpos, more is an error). Returns 0, 1 if --help was given
 * (usage printed), or -1 on error (message printed). */
int cli_parse(cli *c, int argc, char **argv, const opt *opts, const char **pos, int maxpos,
              int *npos, const char *usage);

/* Client (created on first use with c->token). NULL after printing an error. */
bk_client *cli_client(cli *c);

/* One-line error on stderr ("Error: ..."); returns the exit code 1. */
int cli_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Error from the last failing library call. */
int cli_fail_lib(int rc);
/* As cli_fail_lib, but a "bucket not found" error is printed as the official
 * CLI does (three lines: not found, private hint, create hint). bucket is the
 * argument naming it (ns/name[/path] or an hf:// URI). Returns 1. */
int cli_fail_bucket(int rc, const char *bucket);
/* Rewrites Hub web URLs among the positionals (http(s)://HOST/buckets/ns/name,
 * .../tree/PATH, .../resolve/PATH; HOST = the configured endpoint's) into
 * hf://buckets/ns/name[/PATH]. The new strings are owned by c (freed by
 * main). Returns 0, or -1 (error printed). */
int cli_bucket_args(cli *c, const char **pos, int np);
/* "Hint: ..." on stderr, in every output mode (the official out.hint). */
void cli_hint(cli *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* A declined confirmation: "Error: aborted" on stderr, returns 1. Not followed
 * by the HF_DEBUG hint (the official CLI aborts through click, no hint). */
int cli_aborted(void);
/* Called by main with the command's exit status: after a failure (rc 1) whose
 * "Error: ..." line came from cli_fail / cli_fail_lib / cli_fail_bucket, prints
 * the official "Hint: set HF_DEBUG=1 as environment variable for full
 * traceback." on stderr, unless HF_DEBUG is true (1/on/yes/true: the official
 * CLI then prints a Python traceback instead; hf has none to print). Usage
 * errors (rc 2) get no hint, as click's usage errors in the official CLI. */
void cli_debug_hint(int rc);

/* Result output: message + key/value pairs (values are strings; for JSON,
 * numeric/boolean values can be marked with a leading '\x01' (raw JSON), and
 * Python-style booleans with '\x02' ("\x02True": True in text, true in JSON)).
 * JSON is one compact object, as the official CLI's json.dumps. */
void cli_result(cli *c, const char *message, const char *const *keys, const char *const *vals,
                size_t n);

/* j printed as Python's json.dumps does (separators ", " and ": ", non-ASCII
 * as \uXXXX; indent > 0 as json.dumps(indent=N)), which is what the official
 * CLI prints. malloc'd (caller frees), NULL when out of memory. */
struct cJSON;
char *cli_json_dumps(const struct cJSON *j, int indent);

/* Asks "question [y/N]: " on stderr and reads the answer from standard input
 * (a terminal or a pipe: `echo y | hf ...`); in non-human modes fails unless
 * -y. Returns 1 yes, 0 no, -1 error (printed). */
int cli_confirm(cli *c, const char *question);

/* Size / date formatting (spec §3.2). out >= 32 bytes. */
void cli_fmt_size(uint64_t n, int human, char *out);
void cli_fmt_date(int64_t ms, int human, char *out);

/* Progress bar on stderr (files, bytes, rate, ETA, dedup) when enabled. */
void cli_progress_attach(cli *c);
void cli_progress_done(cli *c);

/* Subcommands. argv[0] is the subcommand name. */
int cmd_auth_login(cli *c, int argc, char **argv);
int cmd_auth_logout(cli *c, int argc, char **argv);
int cmd_auth_whoami(cli *c, int argc, char **argv);
int cmd_auth_list(cli *c, int argc, char **argv);
int cmd_auth_switch(cli *c, int argc, char **argv);
int cmd_create(cli *c, int argc, char **argv);
int cmd_list(cli *c, int argc, char **argv);
int cmd_info(cli *c, int argc, char **argv);
int cmd_delete(cli *c, int argc, char **argv);
int cmd_rm(cli *c, int argc, char **argv);
int cmd_move(cli *c, int argc, char **argv);
int cmd_cp(cli *c, int argc, char **argv);
int cmd_sync(cli *c, int argc, char **argv);
int cmd_settings(cli *c, int argc, char **argv);
int cmd_prewarm(cli *c, int argc, char **argv);

#endif
