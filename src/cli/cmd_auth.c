/* hf auth login|logout|whoami. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buckets/error.h"
#include "cli/cli.h"

static const char LOGIN_USAGE[] =
    "usage: hf auth login [--token TOKEN]\n\n"
    "Checks the token against the server (whoami) and saves it to $HF_HOME/token\n"
    "(default ~/.cache/huggingface/token). Without --token, $HF_TOKEN is used, else the\n"
    "token is read from standard input.\n";

static int whoami_name(cli *c, char *name, size_t n, char **json_out) {
  bk_client *cl = cli_client(c);
  if (!cl) return 1;
  char *json = NULL;
  int rc = bk_whoami(cl, &json);
  if (rc) return cli_fail_lib(rc);
  cJSON *j = cJSON_Parse(json);
  const cJSON *nm = j ? cJSON_GetObjectItemCaseSensitive(j, "name") : NULL;
  snprintf(name, n, "%s", cJSON_IsString(nm) ? nm->valuestring : "?");
  cJSON_Delete(j);
  if (json_out) *json_out = json;
  else bk_free(json);
  return 0;
}

int cmd_auth_login(cli *c, int argc, char **argv) {
  const char *pos[1];
  int np;
  int r = cli_parse(c, argc, argv, NULL, pos, 0, &np, LOGIN_USAGE);
  if (r) return r < 0 ? 2 : 0;
  char buf[1024];
  const char *tok = c->token;
  if (!tok) tok = getenv("HF_TOKEN");
  if (!tok || !*tok) {
    if (isatty(0)) {
      fprintf(stderr, "Enter your token: ");
      fflush(stderr);
    }
    if (!fgets(buf, sizeof buf, stdin)) return cli_fail("no token given (use --token)");
    size_t n = strlen(buf);
    while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r' || buf[n - 1] == ' ')) buf[--n] = 0;
    if (!n) return cli_fail("no token given (use --token)");
    tok = buf;
  }
  c->token = tok;
  char name[256];
  if (whoami_name(c, name, sizeof name, NULL)) return 1;
  int rc = bk_token_save(NULL, tok);
  if (rc) return cli_fail_lib(rc);
  const char *k[] = {"user"};
  const char *v[] = {name};
  cli_result(c, "Logged in", k, v, 1);
  return 0;
}

int cmd_auth_logout(cli *c, int argc, char **argv) {
  const char *pos[1];
  int np;
  int r = cli_parse(c, argc, argv, NULL, pos, 0, &np,
                    "usage: hf auth logout\n\nRemoves the saved token ($HF_HOME/token).\n");
  if (r) return r < 0 ? 2 : 0;
  int rc = bk_token_delete(NULL);
  if (rc) return cli_fail_lib(rc);
  cli_result(c, "Logged out", NULL, NULL, 0);
  return 0;
}

int cmd_auth_whoami(cli *c, int argc, char **argv) {
  const char *pos[1];
  int np;
  int r = cli_parse(c, argc, argv, NULL, pos, 0, &np,
                    "usage: hf auth whoami\n\nShows the user the current token belongs to.\n");
  if (r) return r < 0 ? 2 : 0;
  bk_client *cl = cli_client(c);
  if (!cl) return 1;
  if (!bk_client_has_token(cl)) return cli_fail("not logged in (run 'hf auth login' or set HF_TOKEN)");
  char name[256], *json = NULL;
  if (whoami_name(c, name, sizeof name, &json)) return 1;
  if (c->format == FMT_JSON) {
    printf("%s\n", json);
  } else {
    const char *k[] = {"user", "endpoint"};
    const char *v[] = {name, bk_client_endpoint(cl)};
    cli_result(c, "Logged in", k, v, 2);
  }
  bk_free(json);
  return 0;
}
