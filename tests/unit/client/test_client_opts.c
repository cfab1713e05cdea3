/* Unit tests for bk_client_opts versioning: bk_client_new accepts the
 * layout this header describes (BK_CLIENT_OPTS_INIT, or NULL for defaults)
 * and refuses any other version with BK_EVERSION, touching nothing. No
 * network: creating a client does not contact the endpoint. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../test.h"
#include "buckets/client.h"
#include "buckets/error.h"

static void test_init_accepted(void) {
  bk_client_opts o = BK_CLIENT_OPTS_INIT;
  CHECK_EQ_INT(o.version, BK_CLIENT_OPTS_VERSION);
  CHECK(o.endpoint == NULL && o.token == NULL && o.hf_home == NULL);
  CHECK_EQ_INT(o.parallel, 0);
  o.endpoint = "http://127.0.0.1:9/";
  o.token = "";
  o.hf_home = "/nonexistent-bk-home";
  bk_client *c = NULL;
  CHECK_EQ_INT(bk_client_new(&o, &c), 0);
  CHECK(c != NULL);
  if (c) CHECK_EQ_STR(bk_client_endpoint(c), "http://127.0.0.1:9");
  if (c) CHECK(!bk_client_has_token(c));
  bk_client_free(c);
}

static void test_null_is_defaults(void) {
  bk_client *c = NULL;
  CHECK_EQ_INT(bk_client_new(NULL, &c), 0);
  CHECK(c != NULL);
  bk_client_free(c);
}

static void test_other_versions_refused(void) {
  static const unsigned bad[] = {0, BK_CLIENT_OPTS_VERSION + 1, 0xffffffffu};
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    bk_client_opts o = BK_CLIENT_OPTS_INIT;
    o.version = bad[i];
    o.token = "";
    bk_client *c = (bk_client *)&o; /* must stay untouched */
    CHECK_EQ_INT(bk_client_new(&o, &c), BK_EVERSION);
    CHECK(c == (bk_client *)&o);
    CHECK(strstr(bk_errmsg(), "BK_CLIENT_OPTS_INIT") != NULL);
  }
  /* a zeroed struct (the pre-version habit of memset) is refused too */
  bk_client_opts z;
  memset(&z, 0, sizeof z);
  bk_client *c = NULL;
  CHECK_EQ_INT(bk_client_new(&z, &c), BK_EVERSION);
  CHECK(c == NULL);
}

int main(void) {
  RUN(test_init_accepted);
  RUN(test_null_is_defaults);
  RUN(test_other_versions_refused);
  return test_summary();
}
