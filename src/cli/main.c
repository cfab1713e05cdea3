/* hf — command-line client for buckets (buckets-api.md §3).
 * Table-driven dispatcher: "hf GROUP COMMAND ..." or the top-level aliases
 * "hf sync" / "hf cp". Each command is implemented in src/cli/cmd_*.c on top
 * of the client library (include/buckets/client.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"

typedef struct cmd {
  const char *group; /* NULL = top level */
  const char *name;
  int (*fn)(cli *, int, char **);
  const char *summary;
} cmd;

static const cmd CMDS[] = {
    {"auth", "login", cmd_auth_login, "Save a token ($HF_HOME/token) after checking it"},
    {"auth", "logout", cmd_auth_logout, "Remove the saved tokens (or one: --token-name)"},
    {"auth", "list", cmd_auth_list, "List the saved tokens ($HF_HOME/stored_tokens)"},
    {"auth", "switch", cmd_auth_switch, "Make another saved token the active one"},
    {"auth", "whoami", cmd_auth_whoami, "Show the user the token belongs to"},
    {"buckets", "create", cmd_create, "Create a bucket"},
    {"buckets", "list", cmd_list, "List buckets, or files in a bucket (alias: ls)"},
    {"buckets", "ls", cmd_list, NULL},
    {"buckets", "info", cmd_info, "Show bucket information"},
    {"buckets", "delete", cmd_delete, "Delete a bucket and everything in it"},
    {"buckets", "remove", cmd_rm, "Remove files from a bucket (alias: rm)"},
    {"buckets", "rm", cmd_rm, NULL},
    {"buckets", "move", cmd_move, "Rename or transfer a bucket"},
    {"buckets", "cp", cmd_cp, "Copy a file to, from or between buckets"},
    {"buckets", "sync", cmd_sync, "Synchronise a local directory and a bucket prefix"},
    {"buckets", "settings", cmd_settings,
     "Change bucket visibility (--public/--private) or warm regions (--prewarm)"},
    {"buckets", "prewarm", cmd_prewarm, "Copy a bucket's data into another region"},
    {NULL, "sync", cmd_sync, "Alias of 'hf buckets sync'"},
    {NULL, "cp", cmd_cp, "Alias of 'hf buckets cp'"},
};
#define NCMDS (sizeof CMDS / sizeof CMDS[0])

static void usage(FILE *f, const char *group) {
  fprintf(f,
          "usage: hf [GROUP] COMMAND [ARGS] [--token T] [--format auto|human|agent|json|quiet] "
          "[--json] [-q]\n\n"
          "A client for buckets, a self-hosted Hugging Face Storage Buckets server.\n"
          "Endpoint: $HF_ENDPOINT (default http://127.0.0.1:8080); token: --token, $HF_TOKEN,\n"
          "or $HF_HOME/token (default ~/.cache/huggingface/token, written by 'hf auth login').\n"
          "Region: $HF_BUCKETS_REGION, the region this client runs in (downloads read the copy\n"
          "there when the bucket has one).\n"
          "Buckets are named ns/name or hf://buckets/ns/name[/path].\n\nCommands:\n");
  for (size_t i = 0; i < NCMDS; i++) {
    if (!CMDS[i].summary) continue;
    if (group && (!CMDS[i].group || strcmp(group, CMDS[i].group) != 0)) continue;
    char name[64];
    snprintf(name, sizeof name, "%s%s%s", CMDS[i].group ? CMDS[i].group : "",
             CMDS[i].group ? " " : "", CMDS[i].name);
    fprintf(f, "  %-18s %s\n", name, CMDS[i].summary);
  }
  fprintf(f, "\nRun 'hf GROUP COMMAND --help' for the options of a command.\n");
}

/* Moves global options given before the command (hf --token T buckets ls)
 * to the end, where every command's parser accepts them. */
static char **hoist_globals(int *argc, char **argv) {
  int n = *argc, k = 1;
  while (k < n) {
    const char *a = argv[k];
    if ((strcmp(a, "--token") == 0 || strcmp(a, "--format") == 0) && k + 1 < n) k += 2;
    else if (strcmp(a, "--json") == 0 || strcmp(a, "-q") == 0 || strcmp(a, "--quiet") == 0 ||
             strcmp(a, "--no-truncate") == 0 ||
             strncmp(a, "--token=", 8) == 0 || strncmp(a, "--format=", 9) == 0)
      k += 1;
    else break;
  }
  if (k == 1) return argv;
  char **out = malloc((size_t)(n + 1) * sizeof *out);
  if (!out) return argv;
  int j = 0;
  out[j++] = argv[0];
  for (int i = k; i < n; i++) out[j++] = argv[i];
  for (int i = 1; i < k; i++) out[j++] = argv[i];
  out[j] = NULL;
  return out;
}

static int run(int argc, char **argv) {
  cli c;
  memset(&c, 0, sizeof c);
  c.tty_err = isatty(2);
  if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
      strcmp(argv[1], "help") == 0) {
    usage(stdout, NULL);
    return argc < 2 ? 2 : 0;
  }
  if (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "version") == 0) {
    printf("hf (buckets) 0.1\n");
    return 0;
  }
  const cmd *found = NULL;
  int shift = 0;
  for (size_t i = 0; i < NCMDS && !found; i++) {
    if (!CMDS[i].group && strcmp(CMDS[i].name, argv[1]) == 0) {
      found = &CMDS[i];
      shift = 1;
    }
  }
  int is_group = 0;
  for (size_t i = 0; i < NCMDS && !found; i++) {
    if (!CMDS[i].group || strcmp(CMDS[i].group, argv[1]) != 0) continue;
    is_group = 1;
    if (argc >= 3 && strcmp(CMDS[i].name, argv[2]) == 0) {
      found = &CMDS[i];
      shift = 2;
    }
  }
  if (!found) {
    if (is_group) {
      if (argc >= 3 && strcmp(argv[2], "--help") != 0 && strcmp(argv[2], "-h") != 0) {
        fprintf(stderr, "Error: unknown command 'hf %s %s'\n", argv[1], argv[2]);
        return 2;
      }
      usage(argc >= 3 ? stdout : stderr, argv[1]);
      return argc >= 3 ? 0 : 2;
    }
    fprintf(stderr, "Error: unknown command '%s' (see hf --help)\n", argv[1]);
    return 2;
  }
  char prog[128];
  snprintf(prog, sizeof prog, "hf %s%s%s", found->group ? found->group : "",
           found->group ? " " : "", found->name);
  c.prog = prog;
  int rc = found->fn(&c, argc - shift, argv + shift);
  fflush(stdout);
  cli_debug_hint(rc);
  if (c.client) bk_client_free(c.client);
  for (int i = 0; i < c.nowned; i++) free(c.owned[i]);
  return rc;
}

int main(int argc, char **argv) {
  char **args = hoist_globals(&argc, argv);
  int rc = run(argc, args);
  if (args != argv) free(args);
  return rc;
}
