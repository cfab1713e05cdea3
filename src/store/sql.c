/* buckets — SQL seam: driver selection by metadata URL (see sql.h). */
#include <string.h>

#include "buckets/error.h"
#include "store/sql.h"

static const struct bk_sql_driver *const DRIVERS[] = {&bk_sql_sqlite, &bk_sql_pg,
                                                     &bk_sql_postgres};

int bk_sql_driver_for(const char *url, const struct bk_sql_driver **drv, const char **target) {
  *drv = NULL;
  *target = NULL;
  if (!url) return bk_seterr(BK_EINVAL, "empty metadata URL");
  const char *sep = strstr(url, "://");
  if (!sep || sep == url) return bk_seterr(BK_EINVAL, "metadata URL without scheme: %s", url);
  size_t sl = (size_t)(sep - url);
  for (size_t i = 0; i < sizeof DRIVERS / sizeof DRIVERS[0]; i++) {
    if (strlen(DRIVERS[i]->scheme) != sl || strncmp(DRIVERS[i]->scheme, url, sl) != 0) continue;
    const char *t = sep + 3;
    /* what follows is the driver's (sqlite:///abs/path: the path) */
    if (!*t) return bk_seterr(BK_EINVAL, "metadata URL without a target: %s", url);
    *drv = DRIVERS[i];
    *target = t;
    return 0;
  }
  return bk_seterr(BK_EINVAL, "unknown metadata URL scheme: %.*s", (int)sl, url);
}

int bk_sql_connect_url(const char *url, bk_sql_conn **out) {
  *out = NULL;
  const struct bk_sql_driver *drv;
  const char *target;
  int rc = bk_sql_driver_for(url, &drv, &target);
  if (rc) return rc;
  return drv->connect(target, out);
}
