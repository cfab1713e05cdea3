/* hf auth login|logout|whoami|list|switch. Tokens are kept as huggingface_hub
 * keeps them: every login is saved under its name in $HF_HOME/stored_tokens,
 * the active one in $HF_HOME/token (see bk_token_store). */
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
    "(default ~/.cache/huggingface/token), and under its name (the server's token\n"
    "name) in $HF_HOME/stored_tokens, so that 'hf auth list' and 'hf auth switch' can\n"
    "go back to it. Without --token, $HF_TOKEN is used, else the token is read from\n"
    "standard input.\n";

/* whoami: the user name, and (tname, optional) the token's display name. */
static int whoami_name2(cli *c, char *name, size_t n, char *tname, size_t tn, char **json_out) {
  bk_client *cl = cli_client(c);
  if (!cl) return 1;
  char *json = NULL;
  int rc = bk_whoami(cl, &json);
  if (rc) return cli_fail_lib(rc);
  cJSON *j = cJSON_Parse(json);
  const cJSON *nm = j ? cJSON_GetObjectItemCaseSensitive(j, "name") : NULL;
  snprintf(name, n, "%s", cJSON_IsString(nm) ? nm->valuestring : "?");
  if (tname) {
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(j, "auth");
    const cJSON *at = cJSON_GetObjectItemCaseSensitive(a, "accessToken");
    const cJSON *dn = cJSON_GetObjectItemCaseSensitive(at, "displayName");
    snprintf(tname, tn, "%s", cJSON_IsString(dn) && *dn->valuestring ? dn->valuestring : name);
  }
  cJSON_Delete(j);
  if (json_out) *json_out = json;
  else bk_free(json);
  return 0;
}

static int whoami_name(cli *c, char *name, size_t n, char **json_out) {
  return whoami_name2(c, name, n, NULL, 0, json_out);
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
  char name[256], tname[256];
  if (whoami_name2(c, name, sizeof name, tname, sizeof tname, NULL)) return 1;
  int rc = bk_token_store(NULL, tname, tok);
  if (!rc) rc = bk_token_save(NULL, tok);
  if (rc) return cli_fail_lib(rc);
  const char *k[] = {"user", "token_name"};
  const char *v[] = {name, tname};
  cli_result(c, "Logged in", k, v, 2);
  return 0;
}

int cmd_auth_logout(cli *c, int argc, char **argv) {
  const char *pos[1], *tname = NULL;
  int np;
  opt opts[] = {{"--token-name", 0, OPT_STR, &tname}, {NULL, 0, 0, NULL}};
  int r = cli_parse(c, argc, argv, opts, pos, 0, &np,
                    "usage: hf auth logout [--token-name NAME]\n\n"
                    "Without --token-name: removes every saved token ($HF_HOME/token and\n"
                    "$HF_HOME/stored_tokens). With it: removes that token only (and logs out if it\n"
                    "was the active one).\n");
  if (r) return r < 0 ? 2 : 0;
  int rc = bk_token_forget(NULL, tname);
  if (rc) return cli_fail_lib(rc);
  if (tname) {
    char msg[400];
    snprintf(msg, sizeof msg, "Successfully logged out from access token: %s.", tname);
    const char *k[] = {"token_name"};
    const char *v[] = {tname};
    cli_result(c, msg, k, v, 1);
  } else {
    cli_result(c, "Logged out", NULL, NULL, 0);
  }
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

/* The official masking: first 3 and last 4 characters. */
static void mask(const char *t, char *out, size_t n) {
  size_t l = strlen(t);
  if (l < 8) snprintf(out, n, "****");
  else snprintf(out, n, "%.3s****%s", t, t + l - 4);
}

int cmd_auth_list(cli *c, int argc, char **argv) {
  const char *pos[1];
  int np;
  int r = cli_parse(c, argc, argv, NULL, pos, 0, &np,
                    "usage: hf auth list\n\n"
                    "Lists the saved tokens ($HF_HOME/stored_tokens); '*' marks the active one.\n");
  if (r) return r < 0 ? 2 : 0;
  char *json = NULL;
  int rc = bk_token_list(NULL, &json);
  if (rc) return cli_fail_lib(rc);
  cJSON *arr = cJSON_Parse(json);
  bk_free(json);
  int n = cJSON_GetArraySize(arr), any_active = 0;
  const cJSON *e;
  size_t w = strlen("token");
  cJSON_ArrayForEach(e, arr) {
    const cJSON *nm = cJSON_GetObjectItemCaseSensitive(e, "name");
    if (cJSON_IsString(nm) && strlen(nm->valuestring) > w) w = strlen(nm->valuestring);
    if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(e, "active"))) any_active = 1;
  }
  w += 2;
  if (c->format == FMT_JSON) {
    cJSON *out = cJSON_CreateArray();
    cJSON_ArrayForEach(e, arr) {
      char m[64];
      const cJSON *tk = cJSON_GetObjectItemCaseSensitive(e, "token");
      mask(cJSON_IsString(tk) ? tk->valuestring : "", m, sizeof m);
      cJSON *o = cJSON_CreateObject();
      cJSON_AddItemToObject(o, "name", cJSON_Duplicate(cJSON_GetObjectItemCaseSensitive(e, "name"), 1));
      cJSON_AddStringToObject(o, "token", m);
      cJSON_AddBoolToObject(o, "active", cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(e, "active")));
      cJSON_AddItemToArray(out, o);
    }
    char *s = cli_json_dumps(out, 0);
    printf("%s\n", s ? s : "[]");
    free(s);
    cJSON_Delete(out);
  } else if (n == 0) {
    if (c->format != FMT_QUIET) printf("No access tokens found.\n");
  } else {
    if (c->format == FMT_HUMAN) {
      printf("  %-*s| %-15s\n", (int)w, "name", "token");
      for (size_t i = 0; i < w + 2; i++) putchar('-');
      printf("|---------------\n");
    } else if (c->format == FMT_AGENT) {
      printf("name\ttoken\tactive\n");
    }
    cJSON_ArrayForEach(e, arr) {
      const char *nm = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(e, "name"));
      const char *tk = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(e, "token"));
      int act = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(e, "active"));
      char m[64];
      mask(tk ? tk : "", m, sizeof m);
      if (c->format == FMT_QUIET) printf("%s\n", nm ? nm : "");
      else if (c->format == FMT_AGENT) printf("%s\t%s\t%s\n", nm ? nm : "", m, act ? "True" : "False");
      else printf("%s %-*s| %-15s\n", act ? "*" : " ", (int)w, nm ? nm : "", m);
    }
  }
  cJSON_Delete(arr);
  const char *env = getenv("HF_TOKEN");
  if (c->format == FMT_HUMAN && n > 0) {
    if (env && *env)
      fprintf(stderr, "\nNote: Environment variable `HF_TOKEN` is set and is the current active token "
                      "independently from the stored tokens listed above.\n");
    else if (!any_active)
      fprintf(stderr, "\nNote: No active token is set and no environment variable `HF_TOKEN` is found. "
                      "Use `hf auth login` to log in.\n");
  }
  return 0;
}

/* No --token-name: the official prompt (numbered list, answer on stdin). */
static int pick_token(char *out, size_t n) {
  char *json = NULL;
  int rc = bk_token_list(NULL, &json);
  if (rc) return cli_fail_lib(rc);
  cJSON *arr = cJSON_Parse(json);
  bk_free(json);
  int cnt = cJSON_GetArraySize(arr);
  if (cnt == 0) {
    cJSON_Delete(arr);
    return cli_fail("No stored tokens found. Please login first.");
  }
  printf("Available stored tokens:\n");
  for (int i = 0; i < cnt; i++)
    printf("%d. %s\n", i + 1,
           cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(arr, i), "name")));
  int ret = 1;
  for (int tries = 0; tries < 5; tries++) {
    printf("Enter the number of the token to switch to (or 'q' to quit): ");
    fflush(stdout);
    char line[64];
    if (!fgets(line, sizeof line, stdin)) break;
    if (line[0] == 'q' || line[0] == 'Q') break;
    char *end;
    long k = strtol(line, &end, 10);
    if (end != line && k >= 1 && k <= cnt) {
      snprintf(out, n, "%s",
               cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(arr, (int)k - 1), "name")));
      ret = 0;
      break;
    }
    printf("Invalid selection. Please try again.\n");
  }
  cJSON_Delete(arr);
  if (ret) {
    printf("\nNo token name provided. Aborting.\n");
    return 1;
  }
  return 0;
}

int cmd_auth_switch(cli *c, int argc, char **argv) {
  const char *pos[1], *tname = NULL;
  int np;
  opt opts[] = {{"--token-name", 0, OPT_STR, &tname}, {NULL, 0, 0, NULL}};
  int r = cli_parse(c, argc, argv, opts, pos, 0, &np,
                    "usage: hf auth switch [--token-name NAME]\n\n"
                    "Makes a saved token ($HF_HOME/stored_tokens) the active one ($HF_HOME/token).\n"
                    "Without --token-name, lists the saved tokens and asks for a number.\n");
  if (r) return r < 0 ? 2 : 0;
  char picked[256];
  if (!tname) {
    if (pick_token(picked, sizeof picked)) return 1;
    tname = picked;
  }
  int rc = bk_token_switch(NULL, tname);
  if (rc) return cli_fail_lib(rc);
  char msg[400];
  snprintf(msg, sizeof msg, "The current active token is: %s", tname);
  const char *k[] = {"token_name"};
  const char *v[] = {tname};
  cli_result(c, msg, k, v, 1);
  const char *env = getenv("HF_TOKEN");
  if (env && *env)
    fprintf(stderr, "Warning: The environment variable `HF_TOKEN` is set and will override the access "
                    "token you've just switched to.\n");
  return 0;
}
