/* Unit tests: src/store/db.c, accounts.c, buckets.c, cas_meta.c */
#include <pthread.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "store/accounts.h"
#include "store/db.h"
#include "buckets/error.h"
#include "util/fsutil.h"
#include "buckets/shard.h"
#include "buckets/xorb.h"
#include "../test.h"
#include "meta_fixtures.h"
#include "meta_sql.h"
#include "store/db_internal.h" /* db_conns_held (test hook) */

static char root[200];
static int dbn;

static bk_db *fresh_db(void) {
  char p[400];
  snprintf(p, sizeof p, "%s/db%d.sqlite", meta_base, dbn++);
  bk_db *db = NULL;
  if (bk_db_open_url(p, &db) != 0) {
    fprintf(stderr, "open: %s\n", bk_errmsg());
    return NULL;
  }
  return db;
}

static double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static double cpu_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}


/* ---- validation ---- */

static void test_names(void) {
  CHECK(bk_name_valid("alice"));
  CHECK(bk_name_valid("A1"));
  CHECK(bk_name_valid("my.bucket_name-2"));
  CHECK(bk_name_valid("x"));
  CHECK(!bk_name_valid(""));
  CHECK(!bk_name_valid(NULL));
  CHECK(!bk_name_valid("-a"));
  CHECK(!bk_name_valid(".a"));
  CHECK(!bk_name_valid("_a"));
  CHECK(!bk_name_valid("a--b"));
  CHECK(!bk_name_valid("a..b"));
  CHECK(!bk_name_valid("a/b"));
  CHECK(!bk_name_valid("a b"));
  CHECK(!bk_name_valid("caf\xc3\xa9"));
  char n96[97], n97[98];
  memset(n96, 'a', 96);
  n96[96] = 0;
  memset(n97, 'a', 97);
  n97[97] = 0;
  CHECK(bk_name_valid(n96));
  CHECK(!bk_name_valid(n97));
}

static int pv(const char *s) { return bk_path_valid(s, strlen(s)); }

static void test_paths(void) {
  CHECK(pv("a"));
  CHECK(pv("dir/file.txt"));
  CHECK(pv("a/b/c/d"));
  CHECK(pv("caf\xc3\xa9/\xe2\x82\xac.txt"));
  CHECK(pv(".hidden/x"));
  CHECK(pv("a/...")); /* three dots is a name */
  CHECK(!pv(""));
  CHECK(!pv("/a"));
  CHECK(!pv("a/"));
  CHECK(!pv("a//b"));
  CHECK(!pv("./a"));
  CHECK(!pv("a/./b"));
  CHECK(!pv("a/.."));
  CHECK(!pv("../a"));
  CHECK(!pv("."));
  CHECK(!pv("a\\b"));
  CHECK(!pv("a\nb"));
  CHECK(!pv("a\x7f"));
  CHECK(!pv("\xc3"));         /* truncated */
  CHECK(!pv("\xc0\xaf"));     /* overlong */
  CHECK(!pv("\xed\xa0\x80")); /* surrogate */
  CHECK(!pv("\xff"));
  CHECK(!bk_path_valid("a\0b", 3));
  char big[1026];
  memset(big, 'a', sizeof big);
  CHECK(bk_path_valid(big, 1024));
  CHECK(!bk_path_valid(big, 1025));
}

/* ---- accounts ---- */

static void test_users_orgs(void) {
  bk_db *db = fresh_db();
  if (!db) { CHECK(0); return; }
  bk_ns alice, bob, acme, x;
  CHECK_EQ_INT(bk_db_user_add(db, "alice", &alice), 0);
  CHECK_EQ_INT(alice.kind, BK_NS_USER);
  CHECK_EQ_INT(bk_db_user_add(db, "bob", &bob), 0);
  CHECK_EQ_INT(bk_db_user_add(db, "alice", NULL), BK_EEXIST);
  CHECK_EQ_INT(bk_db_user_add(db, "ALICE", NULL), BK_EEXIST);
  CHECK_EQ_INT(bk_db_user_add(db, "me", NULL), BK_EINVAL);
  CHECK_EQ_INT(bk_db_user_add(db, "bad--name", NULL), BK_EINVAL);
  CHECK_EQ_INT(bk_db_org_add(db, "acme", alice.id, &acme), 0);
  CHECK_EQ_INT(acme.kind, BK_NS_ORG);
  CHECK_EQ_INT(bk_db_org_add(db, "bob", alice.id, NULL), BK_EEXIST); /* shared name space */
  CHECK_EQ_INT(bk_db_org_add(db, "org2", acme.id, NULL), BK_EINVAL);  /* owner must be a user */
  CHECK_EQ_INT(bk_db_org_add(db, "org3", 9999, NULL), BK_ENOTFOUND);
  CHECK_EQ_INT(bk_db_ns_get(db, "acme", &x), 0);
  CHECK_EQ_INT(x.id, acme.id);
  CHECK_EQ_INT(bk_db_ns_get(db, "Acme", &x), 0); /* case-insensitive fallback */
  CHECK_EQ_STR(x.name, "acme");
  CHECK_EQ_INT(bk_db_ns_get(db, "nobody", &x), BK_ENOTFOUND);
  CHECK_EQ_INT(bk_db_ns_get_by_id(db, bob.id, &x), 0);
  CHECK_EQ_STR(x.name, "bob");

  int role = -1;
  CHECK_EQ_INT(bk_db_org_member_role(db, acme.id, alice.id, &role), 0);
  CHECK_EQ_INT(role, BK_ROLE_ADMIN);
  CHECK_EQ_INT(bk_db_org_member_role(db, acme.id, bob.id, &role), 0);
  CHECK_EQ_INT(role, BK_ROLE_NONE);
  CHECK_EQ_INT(bk_db_org_member_set(db, acme.id, bob.id, BK_ROLE_READ), 0);
  CHECK_EQ_INT(bk_db_org_member_role(db, acme.id, bob.id, &role), 0);
  CHECK_EQ_INT(role, BK_ROLE_READ);
  CHECK_EQ_INT(bk_db_org_member_set(db, acme.id, bob.id, BK_ROLE_WRITE), 0);
  CHECK_EQ_INT(bk_db_org_member_role(db, acme.id, bob.id, &role), 0);
  CHECK_EQ_INT(role, BK_ROLE_WRITE);
  CHECK_EQ_INT(bk_db_org_member_set(db, bob.id, alice.id, BK_ROLE_READ), BK_EINVAL); /* not an org */
  CHECK_EQ_INT(bk_db_org_member_set(db, acme.id, acme.id, BK_ROLE_READ), BK_EINVAL); /* not a user */
  CHECK_EQ_INT(bk_db_org_member_set(db, acme.id, bob.id, 7), BK_EINVAL);
  int role_names_ok = !strcmp(bk_role_name(BK_ROLE_WRITE), "write") && !strcmp(bk_role_name(0), "none");
  CHECK(role_names_ok);
  CHECK_EQ_INT(bk_role_parse("admin", &role), 0);
  CHECK_EQ_INT(role, BK_ROLE_ADMIN);
  CHECK_EQ_INT(bk_role_parse("owner", &role), BK_EINVAL);
  bk_db_close(db);
}

struct names {
  int n;
  char name[8][BK_NAME_MAX + 1];
  int role[8];
};

static int collect_ns(void *ctx, const bk_ns *ns, int role) {
  struct names *c = ctx;
  if (c->n < 8) {
    snprintf(c->name[c->n], sizeof c->name[0], "%s", ns->name);
    c->role[c->n] = role;
  }
  c->n++;
  return 0;
}

static void test_membership_lists(void) {
  bk_db *db = fresh_db();
  if (!db) { CHECK(0); return; }
  bk_ns a, b, o1, o2;
  bk_db_user_add(db, "ann", &a);
  bk_db_user_add(db, "ben", &b);
  bk_db_org_add(db, "zeta", a.id, &o1);
  bk_db_org_add(db, "alpha", b.id, &o2);
  CHECK_EQ_INT(bk_db_org_member_set(db, o2.id, a.id, BK_ROLE_READ), 0);
  struct names c = {0};
  CHECK_EQ_INT(bk_db_user_orgs(db, a.id, collect_ns, &c), 0);
  CHECK_EQ_INT(c.n, 2);
  CHECK_EQ_STR(c.name[0], "alpha");
  CHECK_EQ_INT(c.role[0], BK_ROLE_READ);
  CHECK_EQ_STR(c.name[1], "zeta");
  CHECK_EQ_INT(c.role[1], BK_ROLE_ADMIN);
  memset(&c, 0, sizeof c);
  CHECK_EQ_INT(bk_db_org_members(db, o2.id, collect_ns, &c), 0);
  CHECK_EQ_INT(c.n, 2);
  CHECK_EQ_STR(c.name[0], "ann");
  CHECK_EQ_STR(c.name[1], "ben");
  /* remove */
  CHECK_EQ_INT(bk_db_org_member_set(db, o2.id, a.id, BK_ROLE_NONE), 0);
  memset(&c, 0, sizeof c);
  CHECK_EQ_INT(bk_db_user_orgs(db, a.id, collect_ns, &c), 0);
  CHECK_EQ_INT(c.n, 1);
  bk_db_close(db);
}

static int count_tokens(void *ctx, const bk_token_info *t) {
  int *n = ctx;
  (*n)++;
  if (t->id == 1) CHECK_EQ_INT(t->revoked, 1);
  return 0;
}

static void test_tokens(void) {
  bk_db *db = fresh_db();
  if (!db) { CHECK(0); return; }
  bk_ns u, o;
  bk_db_user_add(db, "tok", &u);
  bk_db_org_add(db, "tokorg", u.id, &o);
  char t1[BK_TOKEN_LEN + 1], t2[BK_TOKEN_LEN + 1];
  int64_t id1, id2;
  CHECK_EQ_INT(bk_db_token_add(db, u.id, BK_ROLE_WRITE, t1, &id1), 0);
  CHECK_EQ_INT(bk_db_token_add(db, u.id, BK_ROLE_READ, t2, &id2), 0);
  CHECK_EQ_INT(strlen(t1), BK_TOKEN_LEN);
  CHECK(!strncmp(t1, "hf_", 3));
  int alnum = 1;
  for (int i = 3; i < BK_TOKEN_LEN; i++)
    if (!((t1[i] >= 'a' && t1[i] <= 'z') || (t1[i] >= 'A' && t1[i] <= 'Z') ||
          (t1[i] >= '0' && t1[i] <= '9')))
      alnum = 0;
  CHECK(alnum);
  CHECK(strcmp(t1, t2) != 0);
  char t3[BK_TOKEN_LEN + 1];
  CHECK_EQ_INT(bk_db_token_add(db, o.id, BK_ROLE_READ, t3, NULL), BK_EINVAL); /* org */
  CHECK_EQ_INT(bk_db_token_add(db, u.id, BK_ROLE_ADMIN, t3, NULL), BK_EINVAL);
  CHECK_EQ_INT(bk_db_token_add(db, 12345, BK_ROLE_READ, t3, NULL), BK_ENOTFOUND);
  bk_token_info ti;
  CHECK_EQ_INT(bk_db_token_lookup(db, t1, strlen(t1), &ti), 0);
  CHECK_EQ_INT(ti.user_id, u.id);
  CHECK_EQ_INT(ti.role, BK_ROLE_WRITE);
  CHECK_EQ_STR(ti.user, "tok");
  CHECK_EQ_INT(ti.id, id1);
  char bad[BK_TOKEN_LEN + 1];
  memcpy(bad, t1, sizeof bad);
  bad[BK_TOKEN_LEN - 1] = bad[BK_TOKEN_LEN - 1] == 'a' ? 'b' : 'a';
  CHECK_EQ_INT(bk_db_token_lookup(db, bad, strlen(bad), &ti), BK_EAUTH);
  CHECK_EQ_INT(bk_db_token_lookup(db, t1, strlen(t1) - 1, &ti), BK_EAUTH);
  CHECK_EQ_INT(bk_db_token_lookup(db, "", 0, &ti), BK_EAUTH);
  CHECK_EQ_INT(bk_db_token_lookup(db, "hf_\0xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", 40, &ti), BK_EAUTH);
  /* revoke */
  CHECK_EQ_INT(bk_db_token_revoke(db, id1), 0);
  CHECK_EQ_INT(bk_db_token_revoke(db, id1), 0);
  CHECK_EQ_INT(bk_db_token_revoke(db, 9999), BK_ENOTFOUND);
  CHECK_EQ_INT(bk_db_token_lookup(db, t1, strlen(t1), &ti), BK_EAUTH);
  CHECK_EQ_INT(bk_db_token_lookup(db, t2, strlen(t2), &ti), 0);
  CHECK_EQ_INT(ti.role, BK_ROLE_READ);
  CHECK_EQ_INT(bk_db_token_get(db, id1, &ti), 0);
  CHECK_EQ_INT(ti.revoked, 1);
  CHECK_EQ_INT(ti.user_id, u.id);
  CHECK_EQ_INT(bk_db_token_get(db, id2, &ti), 0);
  CHECK_EQ_INT(ti.revoked, 0);
  CHECK_EQ_INT(ti.role, BK_ROLE_READ);
  CHECK_EQ_INT(bk_db_token_get(db, 777, &ti), BK_ENOTFOUND);
  int n = 0;
  CHECK_EQ_INT(bk_db_token_list(db, u.id, count_tokens, &n), 0);
  CHECK_EQ_INT(n, 2);
  bk_db_close(db);
  /* the plaintext is nowhere in the database files (SQLite: one file) */
  if (!meta_is_sqlite()) return;
  char p[400];
  snprintf(p, sizeof p, "%s/db%d.sqlite", meta_base + strlen("sqlite://"), dbn - 1);
  const char *sfx[] = {"", "-wal"};
  for (int k = 0; k < 2; k++) {
    char q[420];
    snprintf(q, sizeof q, "%s%s", p, sfx[k]);
    bk_buf b;
    bk_buf_init(&b, 64 << 20);
    if (bk_read_file(q, 64 << 20, &b) == 0 && b.len > 0) { /* the -wal stays, empty, after close */
      CHECK(memmem(b.p, b.len, t2, BK_TOKEN_LEN) == NULL);
      CHECK(memmem(b.p, b.len, t2 + 3, 20) == NULL);
    }
    bk_buf_free(&b);
  }
}

static void test_permissions(void) {
  bk_db *db = fresh_db();
  if (!db) { CHECK(0); return; }
  bk_ns owner, other, rd, wr, ad, org;
  bk_db_user_add(db, "owner", &owner);
  bk_db_user_add(db, "other", &other);
  bk_db_user_add(db, "rd", &rd);
  bk_db_user_add(db, "wr", &wr);
  bk_db_user_add(db, "ad", &ad);
  bk_db_org_add(db, "org", ad.id, &org);
  bk_db_org_member_set(db, org.id, rd.id, BK_ROLE_READ);
  bk_db_org_member_set(db, org.id, wr.id, BK_ROLE_WRITE);
  bk_bucket up, upriv, op, opriv;
  CHECK_EQ_INT(bk_db_bucket_create(db, owner.id, "pub", 0, &up), 0);
  CHECK_EQ_INT(bk_db_bucket_create(db, owner.id, "priv", 1, &upriv), 0);
  CHECK_EQ_INT(bk_db_bucket_create(db, org.id, "pub", 0, &op), 0);
  CHECK_EQ_INT(bk_db_bucket_create(db, org.id, "priv", 1, &opriv), 0);
  struct {
    int64_t user;
    const bk_bucket *b;
    int want;
  } cases[] = {
      {owner.id, &up, BK_ROLE_ADMIN},   {owner.id, &upriv, BK_ROLE_ADMIN},
      {other.id, &up, BK_ROLE_READ},    {other.id, &upriv, BK_ROLE_NONE},
      {0, &up, BK_ROLE_READ},           {0, &upriv, BK_ROLE_NONE},
      {rd.id, &opriv, BK_ROLE_READ},    {wr.id, &opriv, BK_ROLE_WRITE},
      {ad.id, &opriv, BK_ROLE_ADMIN},   {other.id, &opriv, BK_ROLE_NONE},
      {0, &opriv, BK_ROLE_NONE},        {0, &op, BK_ROLE_READ},
      {rd.id, &op, BK_ROLE_READ},       {wr.id, &op, BK_ROLE_WRITE},
      {owner.id, &opriv, BK_ROLE_NONE}, {rd.id, &upriv, BK_ROLE_NONE},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    int role = -1;
    CHECK_EQ_INT(bk_db_bucket_role(db, cases[i].user, cases[i].b, &role), 0);
    if (role != cases[i].want) fprintf(stderr, "  case %zu\n", i);
    CHECK_EQ_INT(role, cases[i].want);
  }
  int role;
  CHECK_EQ_INT(bk_db_ns_role(db, wr.id, org.id, &role), 0);
  CHECK_EQ_INT(role, BK_ROLE_WRITE);
  CHECK_EQ_INT(bk_db_ns_role(db, 0, org.id, &role), 0);
  CHECK_EQ_INT(role, BK_ROLE_NONE);
  CHECK_EQ_INT(bk_access_cap(BK_ROLE_ADMIN, BK_ROLE_READ), BK_ROLE_READ);
  CHECK_EQ_INT(bk_access_cap(BK_ROLE_READ, BK_ROLE_WRITE), BK_ROLE_READ);
  bk_db_close(db);
}

/* ---- buckets ---- */

struct blist {
  int n;
  char names[64][BK_NAME_MAX + 1];
};

static int collect_bucket(void *ctx, const bk_bucket *b) {
  struct blist *l = ctx;
  if (l->n < 64) snprintf(l->names[l->n], sizeof l->names[0], "%s", b->name);
  l->n++;
  return 0;
}

static void test_buckets(void) {
  bk_db *db = fresh_db();
  if (!db) { CHECK(0); return; }
  bk_ns u, o;
  bk_db_user_add(db, "u1", &u);
  bk_db_org_add(db, "o1", u.id, &o);
  bk_bucket b, g;
  CHECK_EQ_INT(bk_db_bucket_create(db, u.id, "data", 0, &b), 0);
  CHECK_EQ_STR(b.ns, "u1");
  CHECK_EQ_STR(b.name, "data");
  CHECK_EQ_INT(b.is_private, 0);
  CHECK(b.created_ms > 1700000000000LL);
  CHECK_EQ_INT(bk_db_bucket_create(db, u.id, "data", 1, NULL), BK_EEXIST);
  CHECK_EQ_INT(bk_db_bucket_create(db, u.id, "bad name", 1, NULL), BK_EINVAL);
  CHECK_EQ_INT(bk_db_bucket_create(db, 777, "x", 1, NULL), BK_ENOTFOUND);
  CHECK_EQ_INT(bk_db_bucket_get(db, "u1", "data", &g), 0);
  CHECK_EQ_INT(g.id, b.id);
  CHECK_EQ_INT(bk_db_bucket_get(db, "u1", "nope", &g), BK_ENOTFOUND);
  CHECK_EQ_INT(bk_db_bucket_get_by_id(db, b.id, &g), 0);
  CHECK_EQ_STR(g.name, "data");
  /* list: 30 buckets, every third private, paginated by 7 */
  for (int i = 0; i < 30; i++) {
    char n[32];
    snprintf(n, sizeof n, "b%02d%s", i, i % 5 == 0 ? "-model" : "");
    CHECK_EQ_INT(bk_db_bucket_create(db, o.id, n, i % 3 == 0, NULL), 0);
  }
  struct blist all = {0};
  char after[BK_NAME_MAX + 1] = "";
  int more = 1, pages = 0;
  while (more && pages < 20) {
    struct blist page = {0};
    CHECK_EQ_INT(bk_db_bucket_list(db, o.id, NULL, 1, after, 7, collect_bucket, &page, &more), 0);
    CHECK(page.n <= 7);
    for (int i = 0; i < page.n; i++) snprintf(all.names[all.n++], BK_NAME_MAX + 1, "%s", page.names[i]);
    if (page.n) snprintf(after, sizeof after, "%s", page.names[page.n - 1]);
    pages++;
  }
  CHECK_EQ_INT(all.n, 30);
  CHECK_EQ_INT(pages, 5);
  for (int i = 1; i < all.n && i < 64; i++) CHECK(strcmp(all.names[i - 1], all.names[i]) < 0);
  struct blist pub = {0};
  CHECK_EQ_INT(bk_db_bucket_list(db, o.id, NULL, 0, NULL, 100, collect_bucket, &pub, &more), 0);
  CHECK_EQ_INT(pub.n, 20);
  CHECK_EQ_INT(more, 0);
  struct blist s = {0};
  CHECK_EQ_INT(bk_db_bucket_list(db, o.id, "MODEL", 1, NULL, 100, collect_bucket, &s, NULL), 0);
  CHECK_EQ_INT(s.n, 6);
  CHECK_EQ_INT(bk_db_bucket_list(db, o.id, NULL, 1, NULL, 0, collect_bucket, &s, NULL), BK_EINVAL);

  /* settings */
  CHECK_EQ_INT(bk_db_bucket_set_private(db, b.id, 1), 0);
  CHECK_EQ_INT(bk_db_bucket_get_by_id(db, b.id, &g), 0);
  CHECK_EQ_INT(g.is_private, 1);
  CHECK(g.updated_ms >= b.updated_ms);
  CHECK_EQ_INT(bk_db_bucket_set_private(db, 99999, 1), BK_ENOTFOUND);

  /* move: rename, transfer, conflicts */
  CHECK_EQ_INT(bk_db_bucket_move(db, b.id, u.id, "renamed"), 0);
  CHECK_EQ_INT(bk_db_bucket_get(db, "u1", "data", &g), BK_ENOTFOUND);
  CHECK_EQ_INT(bk_db_bucket_get(db, "u1", "renamed", &g), 0);
  CHECK_EQ_INT(bk_db_bucket_move(db, b.id, o.id, "b01"), BK_EEXIST);
  CHECK_EQ_INT(bk_db_bucket_move(db, b.id, o.id, "moved"), 0);
  CHECK_EQ_INT(bk_db_bucket_get(db, "o1", "moved", &g), 0);
  CHECK_EQ_INT(g.id, b.id);
  CHECK_EQ_INT(g.ns_id, o.id);
  CHECK_EQ_INT(bk_db_bucket_move(db, b.id, o.id, "moved"), 0); /* no-op */
  CHECK_EQ_INT(bk_db_bucket_move(db, b.id, 5555, "x"), BK_ENOTFOUND);
  CHECK_EQ_INT(bk_db_bucket_move(db, b.id, o.id, "a..b"), BK_EINVAL);
  CHECK_EQ_INT(bk_db_bucket_move(db, 424242, o.id, "zz"), BK_ENOTFOUND);

  /* delete cascades to files */
  bk_batch_op op = {.type = BK_OP_ADD, .path = "f.txt", .mtime_ms = -1, .size = -1};
  size_t nf;
  CHECK_EQ_INT(bk_db_batch(db, b.id, &op, 1, 0, &nf), 0);
  CHECK_EQ_INT(nf, 0);
  bk_file_info fi;
  CHECK_EQ_INT(bk_db_file_get(db, b.id, "f.txt", &fi), 0);
  CHECK_EQ_INT(bk_db_bucket_delete(db, b.id), 0);
  CHECK_EQ_INT(bk_db_bucket_delete(db, b.id), BK_ENOTFOUND);
  CHECK_EQ_INT(bk_db_file_get(db, b.id, "f.txt", &fi), BK_ENOTFOUND);
  CHECK_EQ_INT(bk_db_check(db, NULL, NULL), 0);
  bk_db_close(db);
}

/* ---- tree listing vs a brute-force model ---- */

#define NPATHS 3000
static char *paths[NPATHS];
static int npaths;

static int cmp_str(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

static const char *SEGS[] = {"a", "b", "a.b", "a-", "a0", "c", "\xc3\xa4", "logs", "logs.json", "z"};

static void gen_paths(void) {
  uint64_t s = 12345;
  if (npaths == NPATHS) return; /* made by an earlier suite run (one per BK_TEST_DB_URLS base) */
  npaths = 0;
  while (npaths < NPATHS) {
    char p[256] = "";
    s = s * 6364136223846793005ull + 1442695040888963407ull;
    int depth = 1 + (int)((s >> 33) % 4);
    for (int d = 0; d < depth; d++) {
      s = s * 6364136223846793005ull + 1442695040888963407ull;
      if (d) strcat(p, "/");
      strcat(p, SEGS[(s >> 35) % 10]);
    }
    s = s * 6364136223846793005ull + 1442695040888963407ull;
    char leaf[32];
    snprintf(leaf, sizeof leaf, "%s%u", (s >> 40) % 2 ? "/f" : "", (unsigned)((s >> 20) % 50));
    strcat(p, leaf);
    int dup = 0;
    for (int i = 0; i < npaths; i++)
      if (!strcmp(paths[i], p)) { dup = 1; break; }
    if (dup || !bk_path_valid(p, strlen(p))) continue;
    paths[npaths++] = strdup(p);
  }
  qsort(paths, npaths, sizeof paths[0], cmp_str);
}

struct listing {
  int n, cap;
  char **e; /* "f:path" or "d:path" */
};

static void listing_add(struct listing *l, int dir, const char *path) {
  if (l->n == l->cap) {
    l->cap = l->cap ? l->cap * 2 : 256;
    l->e = realloc(l->e, l->cap * sizeof *l->e);
  }
  size_t n = strlen(path);
  char *s = malloc(n + 3);
  s[0] = dir ? 'd' : 'f';
  s[1] = ':';
  memcpy(s + 2, path, n + 1);
  l->e[l->n++] = s;
}

static void listing_free(struct listing *l) {
  for (int i = 0; i < l->n; i++) free(l->e[i]);
  free(l->e);
  memset(l, 0, sizeof *l);
}

static void model_list(const char *prefix, int recursive, struct listing *out) {
  size_t pl = strlen(prefix);
  char lastdir[300] = "";
  for (int i = 0; i < npaths; i++) {
    const char *p = paths[i];
    const char *rel;
    if (pl == 0) rel = p;
    else if (!strcmp(p, prefix)) { listing_add(out, 0, p); continue; }
    else if (!strncmp(p, prefix, pl) && p[pl] == '/') rel = p + pl + 1;
    else continue;
    const char *sl = recursive ? NULL : strchr(rel, '/');
    if (!sl) { listing_add(out, 0, p); continue; }
    char d[300];
    size_t dl = (size_t)(sl - p);
    memcpy(d, p, dl);
    d[dl] = 0;
    if (strcmp(d, lastdir) != 0) {
      listing_add(out, 1, d);
      strcpy(lastdir, d);
    }
  }
}

static int tree_cb(void *ctx, const bk_file_entry *e) {
  listing_add(ctx, e->is_dir, e->path);
  return 0;
}

static int listings_equal(struct listing *a, struct listing *b) {
  if (a->n != b->n) {
    fprintf(stderr, "  count %d != %d\n", a->n, b->n);
    return 0;
  }
  for (int i = 0; i < a->n; i++)
    if (strcmp(a->e[i], b->e[i]) != 0) {
      fprintf(stderr, "  entry %d: %s != %s\n", i, a->e[i], b->e[i]);
      return 0;
    }
  return 1;
}

/* Lists with pagination (limit per page) and joins the pages. */
static int paged(bk_db *db, int64_t bid, const char *prefix, unsigned flags, size_t limit,
                 struct listing *out, int *npages) {
  char *cur = NULL;
  int pages = 0;
  for (;;) {
    char *next = NULL;
    int before = out->n;
    int rc = bk_db_tree(db, bid, prefix, flags, cur, limit, tree_cb, out, &next);
    free(cur);
    if (rc) return rc;
    pages++;
    if (out->n - before > (int)limit) return -100;
    if (!next) break;
    if (out->n - before != (int)limit) { free(next); return -101; }
    cur = next;
    if (pages > 100000) { free(cur); return -102; }
  }
  if (npages) *npages = pages;
  return 0;
}

static void test_tree_model(void) {
  bk_db *db = fresh_db();
  if (!db) { CHECK(0); return; }
  bk_ns u;
  bk_db_user_add(db, "treeuser", &u);
  bk_bucket b, other;
  bk_db_bucket_create(db, u.id, "tree", 0, &b);
  bk_db_bucket_create(db, u.id, "other", 0, &other);
  gen_paths();
  bk_batch_op *ops = calloc(npaths, sizeof *ops);
  for (int i = 0; i < npaths; i++) {
    ops[i].type = BK_OP_ADD;
    ops[i].path = paths[i];
    ops[i].mtime_ms = 1000 + i;
    ops[i].size = -1;
  }
  size_t nf = 99;
  CHECK_EQ_INT(bk_db_batch(db, b.id, ops, npaths, 0, &nf), 0);
  CHECK_EQ_INT(nf, 0);
  /* noise in another bucket must never show up */
  CHECK_EQ_INT(bk_db_batch(db, other.id, ops, 100, 0, &nf), 0);
  free(ops);

  const char *prefixes[] = {"", "a", "a/", "a.b", "logs", "a/b", "a0", "\xc3\xa4", "nope", "a/a/a", "z/z"};
  int all_ok = 1;
  for (size_t pi = 0; pi < sizeof prefixes / sizeof prefixes[0]; pi++) {
    for (int rec = 0; rec < 2; rec++) {
      struct listing want = {0}, got = {0}, pg = {0};
      char norm[300];
      snprintf(norm, sizeof norm, "%s", prefixes[pi]);
      size_t nl = strlen(norm);
      while (nl && norm[nl - 1] == '/') norm[--nl] = 0;
      model_list(norm, rec, &want);
      char *next = NULL;
      int rc = bk_db_tree(db, b.id, prefixes[pi], rec ? BK_TREE_RECURSIVE : 0, NULL,
                          BK_TREE_LIMIT_MAX, tree_cb, &got, &next);
      CHECK_EQ_INT(rc, 0);
      CHECK(next == NULL);
      free(next);
      int ok = listings_equal(&want, &got);
      /* pages of 1, 7 and 100 joined give the same listing */
      size_t limits[] = {1, 7, 100};
      for (int li = 0; li < 3 && ok; li++) {
        int np = 0;
        rc = paged(db, b.id, prefixes[pi], rec ? BK_TREE_RECURSIVE : 0, limits[li], &pg, &np);
        CHECK_EQ_INT(rc, 0);
        ok = listings_equal(&want, &pg);
        listing_free(&pg);
      }
      if (!ok) {
        fprintf(stderr, "  prefix '%s' recursive=%d\n", prefixes[pi], rec);
        all_ok = 0;
      }
      /* path boundaries: nothing outside prefix/ (or prefix itself) */
      for (int i = 0; i < got.n && nl; i++) {
        const char *p = got.e[i] + 2;
        int inside = !strcmp(p, norm) || (!strncmp(p, norm, nl) && p[nl] == '/');
        CHECK(inside);
      }
      listing_free(&want);
      listing_free(&got);
    }
  }
  CHECK(all_ok);
  /* logs: never logs.json */
  struct listing l = {0};
  char *next = NULL;
  CHECK_EQ_INT(bk_db_tree(db, b.id, "logs", BK_TREE_RECURSIVE, NULL, 100000, tree_cb, &l, &next), 0);
  for (int i = 0; i < l.n; i++) CHECK(strncmp(l.e[i] + 2, "logs.json", 9) != 0);
  CHECK(l.n > 0);
  listing_free(&l);
  /* bad cursors and limits */
  CHECK_EQ_INT(bk_db_tree(db, b.id, "", 0, "!!!", 10, tree_cb, &l, &next), BK_EINVAL);
  CHECK_EQ_INT(bk_db_tree(db, b.id, "", 0, "eA", 10, tree_cb, &l, &next), BK_EINVAL);
  CHECK_EQ_INT(bk_db_tree(db, b.id, "", 0, NULL, 0, tree_cb, &l, &next), BK_EINVAL);
  CHECK_EQ_INT(l.n, 0);
  /* directory stats: uploadedAt = max below */
  struct listing d = {0};
  CHECK_EQ_INT(bk_db_tree(db, b.id, "", BK_TREE_DIR_STATS, NULL, 1000, tree_cb, &d, &next), 0);
  CHECK(d.n > 0);
  listing_free(&d);
  free(next);
  bk_db_close(db);
}

/* ---- paths-info, file get, batch semantics ---- */

struct pinfo {
  int n;
  char p[8][64];
  uint64_t size[8];
};

static int pinfo_cb(void *ctx, const bk_file_entry *e) {
  struct pinfo *c = ctx;
  if (c->n < 8) {
    snprintf(c->p[c->n], 64, "%s", e->path);
    c->size[c->n] = e->size;
  }
  c->n++;
  return 0;
}


static uint32_t unpacked_of(uint32_t s, uint32_t e) {
  uint32_t t = 0;
  for (uint32_t i = s; i < e; i++) t += 1000 + i;
  return t;
}

/* Builds a one-file shard struct (terms point into static storage). */
static bk_shard_term g_terms[8];
static bk_shard_file g_file;
static bk_shard g_shard;

static bk_shard *one_file_shard(const bk_hash *fh, const bk_hash *x1, uint32_t s1, uint32_t e1,
                                const bk_hash *x2, uint32_t s2, uint32_t e2) {
  memset(g_terms, 0, sizeof g_terms);
  memset(&g_file, 0, sizeof g_file);
  memset(&g_shard, 0, sizeof g_shard);
  g_terms[0].xorb_hash = *x1;
  g_terms[0].chunk_start = s1;
  g_terms[0].chunk_end = e1;
  g_terms[0].unpacked_bytes = unpacked_of(s1, e1);
  int nt = 1;
  if (x2) {
    g_terms[1].xorb_hash = *x2;
    g_terms[1].chunk_start = s2;
    g_terms[1].chunk_end = e2;
    g_terms[1].unpacked_bytes = unpacked_of(s2, e2);
    nt = 2;
  }
  g_file.file_hash = *fh;
  g_file.nterms = (uint32_t)nt;
  g_file.terms = g_terms;
  g_shard.nfiles = 1;
  g_shard.files = &g_file;
  return &g_shard;
}

/* A batch of addFile only (on PostgreSQL the set-based path, buckets.c
 * "batch on PostgreSQL"): per-op results in order, a path named three
 * times ends as the last op wrote it, the directory counts follow every op,
 * grants, and paths/content types holding the characters of an array
 * literal (quote, comma, braces, space; a backslash in the content type,
 * paths cannot hold one; a path named NULL). */
static void test_batch_addfile_only(void) {
  bk_db *db = fresh_db();
  if (!db) { CHECK(0); return; }
  bk_ns u;
  bk_db_user_add(db, "ba", &u);
  bk_bucket b, other;
  bk_db_bucket_create(db, u.id, "b", 0, &b);
  bk_db_bucket_create(db, u.id, "other", 0, &other);
  bk_hash x, fh, sh;
  reg_xorb(db, &x, 3, 3, -1, NULL);
  mk_hash(&fh, 900);
  mk_hash(&sh, 901);
  CHECK_EQ_INT(bk_db_shard_register(db, &sh, 10, one_file_shard(&fh, &x, 0, 3, NULL, 0, 0),
                                    b.id, NULL, NULL), 0);
  int64_t fsize = unpacked_of(0, 3);
  bk_batch_op ops[10] = {
      {.type = BK_OP_ADD, .path = "q/a\"b c,{x}'", .xet_hash = fh, .mtime_ms = 1, .size = -1,
       .content_type = "te\"xt\\p, {NULL}"},
      {.type = BK_OP_ADD, .path = "q/dup", .mtime_ms = 5, .size = -1},
      {.type = BK_OP_ADD, .path = "q/dup", .xet_hash = fh, .mtime_ms = 6, .size = -1,
       .content_type = "x/y"},
      {.type = BK_OP_ADD, .path = "bad//p", .mtime_ms = -1, .size = -1},
      {.type = BK_OP_ADD, .path = "ct", .mtime_ms = -1, .size = -1, .content_type = "a\x01"},
      {.type = BK_OP_ADD, .path = "unk", .mtime_ms = -1, .size = -1},
      {.type = BK_OP_ADD, .path = "ws", .xet_hash = fh, .mtime_ms = -1, .size = 5},
      {.type = BK_OP_ADD, .path = "q/dup", .mtime_ms = 7, .size = 0},
      {.type = BK_OP_ADD, .path = "NULL", .xet_hash = fh, .mtime_ms = -1, .size = -1},
      {.type = BK_OP_ADD, .path = "q/e", .xet_hash = fh, .mtime_ms = 9, .size = fsize},
  };
  mk_hash(&ops[5].xet_hash, 902);
  size_t nf = 0;
  CHECK_EQ_INT(bk_db_batch(db, b.id, ops, 10, BK_BATCH_REQUIRE_GRANT, &nf), 0);
  CHECK_EQ_INT(nf, 4);
  int want[10] = {0, 0, 0, BK_EINVAL, BK_EINVAL, BK_ENOTFOUND, BK_ESIZE, 0, 0, 0};
  for (int i = 0; i < 10; i++) CHECK_EQ_INT(ops[i].result, want[i]);
  CHECK_EQ_STR(ops[4].error, "contentType must be printable ASCII");
  bk_file_info fi;
  CHECK_EQ_INT(bk_db_file_get(db, b.id, "q/a\"b c,{x}'", &fi), 0);
  CHECK_EQ_INT(fi.e.size, fsize);
  CHECK_EQ_STR(fi.e.content_type, "te\"xt\\p, {NULL}");
  CHECK_EQ_INT(bk_db_file_get(db, b.id, "q/dup", &fi), 0);
  CHECK_EQ_INT(fi.e.size, 0);
  CHECK_EQ_INT(fi.e.mtime_ms, 7);
  CHECK(fi.e.content_type == NULL);
  CHECK(bk_hash_is_zero(&fi.e.xet_hash));
  CHECK_EQ_INT(bk_db_file_get(db, b.id, "NULL", &fi), 0);
  CHECK(bk_hash_eq(&fi.e.xet_hash, &fh));
  CHECK(fi.e.mtime_ms > 1700000000000LL);
  CHECK_EQ_INT(bk_db_file_get(db, b.id, "ws", &fi), BK_ENOTFOUND);
  bk_dir_stats ds;
  CHECK_EQ_INT(bk_db_dir_stats(db, b.id, "q", &ds), 0);
  CHECK_EQ_INT(ds.nfiles, 3);
  CHECK_EQ_INT(ds.bytes, 2 * fsize);
  /* overwrite q/e with the empty file, add q/f: the counts follow */
  bk_batch_op more[2] = {{.type = BK_OP_ADD, .path = "q/e", .mtime_ms = -1, .size = -1},
                         {.type = BK_OP_ADD, .path = "q/f", .xet_hash = fh, .mtime_ms = -1, .size = -1}};
  CHECK_EQ_INT(bk_db_batch(db, b.id, more, 2, 0, &nf), 0);
  CHECK_EQ_INT(nf, 0);
  CHECK_EQ_INT(bk_db_dir_stats(db, b.id, "q", &ds), 0);
  CHECK_EQ_INT(ds.nfiles, 4);
  CHECK_EQ_INT(ds.bytes, 2 * fsize);
  /* another bucket was never granted fh: refused there, the empty file is not */
  bk_batch_op g[2] = {{.type = BK_OP_ADD, .path = "g1", .xet_hash = fh, .mtime_ms = -1, .size = -1},
                      {.type = BK_OP_ADD, .path = "g2", .mtime_ms = -1, .size = -1}};
  CHECK_EQ_INT(bk_db_batch(db, other.id, g, 2, BK_BATCH_REQUIRE_GRANT, &nf), 0);
  CHECK_EQ_INT(nf, 1);
  CHECK_EQ_INT(g[0].result, BK_EPERM);
  CHECK_EQ_INT(g[1].result, 0);
  CHECK_EQ_INT(bk_db_batch(db, other.id, g, 2, 0, &nf), 0); /* without the flag: accepted */
  CHECK_EQ_INT(nf, 0);
  bk_db_close(db);
}

static void test_paths_info_and_batch(void) {
  bk_db *db = fresh_db();
  if (!db) { CHECK(0); return; }
  bk_ns u;
  bk_db_user_add(db, "pi", &u);
  bk_bucket b, src;
  bk_db_bucket_create(db, u.id, "b", 0, &b);
  bk_db_bucket_create(db, u.id, "src", 0, &src);
  /* a registered CAS file of 3 chunks */
  bk_hash x, fh, sh;
  reg_xorb(db, &x, 1, 3, -1, NULL);
  mk_hash(&fh, 500);
  mk_hash(&sh, 501);
  CHECK_EQ_INT(bk_db_shard_register(db, &sh, 10, one_file_shard(&fh, &x, 0, 3, NULL, 0, 0),
                                    src.id, NULL, NULL), 0);
  uint64_t fsize = unpacked_of(0, 3);

  bk_batch_op ops[8] = {
      {.type = BK_OP_ADD, .path = "dir/a.bin", .xet_hash = fh, .mtime_ms = 42, .size = -1,
       .content_type = "application/octet-stream"},
      {.type = BK_OP_ADD, .path = "b.txt", .mtime_ms = -1, .size = -1}, /* empty file */
      {.type = BK_OP_ADD, .path = "bad//path", .mtime_ms = -1, .size = -1},
      {.type = BK_OP_ADD, .path = "unknown", .mtime_ms = -1, .size = -1},
      {.type = BK_OP_ADD, .path = "wrongsize", .xet_hash = fh, .mtime_ms = -1, .size = 5},
      {.type = BK_OP_DELETE, .path = "never-existed"},
      {.type = 99, .path = "x"},
      {.type = BK_OP_COPY, .path = "copy", .xet_hash = fh, .mtime_ms = -1, .size = -1,
       .src_bucket_id = 0},
  };
  mk_hash(&ops[3].xet_hash, 777);
  size_t nf = 0;
  CHECK_EQ_INT(bk_db_batch(db, b.id, ops, 8, 0, &nf), 0);
  CHECK_EQ_INT(nf, 5);
  CHECK_EQ_INT(ops[0].result, 0);
  CHECK_EQ_INT(ops[1].result, 0);
  CHECK_EQ_INT(ops[2].result, BK_EINVAL);
  CHECK(ops[2].error != NULL);
  CHECK_EQ_INT(ops[3].result, BK_ENOTFOUND);
  CHECK_EQ_INT(ops[4].result, BK_ESIZE);
  CHECK_EQ_INT(ops[5].result, 0);
  CHECK_EQ_INT(ops[6].result, BK_EINVAL);
  CHECK_EQ_INT(ops[7].result, BK_ENOTFOUND);

  bk_file_info fi;
  CHECK_EQ_INT(bk_db_file_get(db, b.id, "dir/a.bin", &fi), 0);
  CHECK_EQ_INT(fi.e.size, fsize);
  CHECK_EQ_INT(fi.e.mtime_ms, 42);
  CHECK(bk_hash_eq(&fi.e.xet_hash, &fh));
  CHECK_EQ_STR(fi.e.content_type, "application/octet-stream");
  CHECK_EQ_STR(fi.e.path, "dir/a.bin");
  CHECK_EQ_INT(bk_db_file_get(db, b.id, "b.txt", &fi), 0);
  CHECK_EQ_INT(fi.e.size, 0);
  CHECK(fi.e.content_type == NULL);
  CHECK(fi.e.mtime_ms > 1700000000000LL); /* unset -> upload time */

  /* copy from src requires the hash to be in src */
  bk_batch_op cp = {.type = BK_OP_COPY, .path = "copied", .xet_hash = fh, .mtime_ms = -1,
                    .size = -1, .src_bucket_id = src.id};
  CHECK_EQ_INT(bk_db_batch(db, b.id, &cp, 1, 0, &nf), 0);
  CHECK_EQ_INT(cp.result, BK_ENOTFOUND); /* src has no file with that hash yet */
  bk_batch_op add_src = {.type = BK_OP_ADD, .path = "orig", .xet_hash = fh, .mtime_ms = 7,
                         .size = (int64_t)fsize, .content_type = "text/x"};
  CHECK_EQ_INT(bk_db_batch(db, src.id, &add_src, 1, BK_BATCH_REQUIRE_GRANT, &nf), 0);
  CHECK_EQ_INT(add_src.result, 0);
  CHECK_EQ_INT(bk_db_batch(db, b.id, &cp, 1, 0, &nf), 0);
  CHECK_EQ_INT(cp.result, 0);
  CHECK_EQ_INT(bk_db_file_get(db, b.id, "copied", &fi), 0);
  CHECK_EQ_INT(fi.e.mtime_ms, 7);
  CHECK_EQ_STR(fi.e.content_type, "text/x");

  /* grants: a bucket that never saw the file cannot addFile it */
  bk_bucket third;
  bk_db_bucket_create(db, u.id, "third", 0, &third);
  bk_batch_op steal = {.type = BK_OP_ADD, .path = "s", .xet_hash = fh, .mtime_ms = -1, .size = -1};
  CHECK_EQ_INT(bk_db_batch(db, third.id, &steal, 1, BK_BATCH_REQUIRE_GRANT, &nf), 0);
  CHECK_EQ_INT(steal.result, BK_EPERM);
  CHECK_EQ_INT(bk_db_file_grant(db, &fh, third.id), 0);
  CHECK_EQ_INT(bk_db_batch(db, third.id, &steal, 1, BK_BATCH_REQUIRE_GRANT, &nf), 0);
  CHECK_EQ_INT(steal.result, 0);

  /* paths-info: order kept, missing and folders skipped */
  const char *q[] = {"copied", "nope", "dir", "dir/a.bin", "b.txt"};
  struct pinfo pi = {0};
  CHECK_EQ_INT(bk_db_paths_info(db, b.id, q, 5, pinfo_cb, &pi), 0);
  CHECK_EQ_INT(pi.n, 3);
  CHECK_EQ_STR(pi.p[0], "copied");
  CHECK_EQ_STR(pi.p[1], "dir/a.bin");
  CHECK_EQ_STR(pi.p[2], "b.txt");
  CHECK_EQ_INT(pi.size[1], fsize);
  const char **many = calloc(1001, sizeof *many);
  for (int i = 0; i < 1001; i++) many[i] = "copied";
  CHECK_EQ_INT(bk_db_paths_info(db, b.id, many, 1001, pinfo_cb, &pi), BK_ELIMIT);
  pi.n = 0;
  CHECK_EQ_INT(bk_db_paths_info(db, b.id, many, 1000, pinfo_cb, &pi), 0);
  CHECK_EQ_INT(pi.n, 1000);
  free(many);

  /* content types are sent back as headers: no control characters */
  bk_batch_op ct[3] = {
      {.type = BK_OP_ADD, .path = "ct1", .mtime_ms = -1, .size = -1,
       .content_type = "text/html\r\nSet-Cookie: x=1"},
      {.type = BK_OP_ADD, .path = "ct2", .mtime_ms = -1, .size = -1, .content_type = "caf\xc3\xa9"},
      {.type = BK_OP_ADD, .path = "ct3", .mtime_ms = -1, .size = -1,
       .content_type = "text/plain; charset=utf-8"},
  };
  CHECK_EQ_INT(bk_db_batch(db, b.id, ct, 3, 0, &nf), 0);
  CHECK_EQ_INT(nf, 2);
  CHECK_EQ_INT(ct[0].result, BK_EINVAL);
  CHECK_EQ_INT(ct[1].result, BK_EINVAL);
  CHECK_EQ_INT(ct[2].result, 0);
  /* overwrite, delete */
  bk_batch_op ow[2] = {
      {.type = BK_OP_ADD, .path = "copied", .mtime_ms = 1, .size = 0},
      {.type = BK_OP_DELETE, .path = "b.txt"},
  };
  CHECK_EQ_INT(bk_db_batch(db, b.id, ow, 2, 0, &nf), 0);
  CHECK_EQ_INT(nf, 0);
  CHECK_EQ_INT(bk_db_file_get(db, b.id, "copied", &fi), 0);
  CHECK_EQ_INT(fi.e.size, 0);
  CHECK_EQ_INT(bk_db_file_get(db, b.id, "b.txt", &fi), BK_ENOTFOUND);

  /* global failure: nothing applied */
  bk_batch_op g = {.type = BK_OP_ADD, .path = "g", .mtime_ms = -1, .size = -1};
  CHECK_EQ_INT(bk_db_batch(db, 999999, &g, 1, 0, &nf), BK_ENOTFOUND);
  CHECK_EQ_INT(bk_db_batch(db, b.id, &g, BK_BATCH_MAX + 1, 0, &nf), BK_ELIMIT);
  CHECK_EQ_INT(bk_db_file_get(db, b.id, "g", &fi), BK_ENOTFOUND);
  bk_db_close(db);
}

/* Batch atomicity: a second connection never sees a half-applied batch. */
struct watcher {
  bk_db *db;
  int64_t bucket;
  volatile int stop;
  int bad, samples;
};

static int count_cb(void *ctx, const bk_file_entry *e) {
  (void)e;
  (*(int *)ctx)++;
  return 0;
}

static void *watch(void *arg) {
  struct watcher *w = arg;
  while (!w->stop) {
    int n = 0;
    char *next = NULL;
    if (bk_db_tree(w->db, w->bucket, "", BK_TREE_RECURSIVE, NULL, BK_TREE_LIMIT_MAX, count_cb,
                   &n, &next) == 0) {
      if (n % 500 != 0) w->bad++;
      w->samples++;
    }
    free(next);
  }
  return NULL;
}

static void test_batch_atomic(void) {
  bk_db *db = fresh_db();
  if (!db) { CHECK(0); return; }
  bk_ns u;
  bk_db_user_add(db, "atom", &u);
  bk_bucket b;
  bk_db_bucket_create(db, u.id, "b", 0, &b);
  struct watcher w = {db, b.id, 0, 0, 0};
  pthread_t th;
  pthread_create(&th, NULL, watch, &w);
  bk_batch_op ops[500];
  char names[500][32];
  for (int round = 0; round < 10; round++) {
    for (int i = 0; i < 500; i++) {
      snprintf(names[i], sizeof names[i], "r%d/f%d", round, i);
      ops[i] = (bk_batch_op){.type = BK_OP_ADD, .path = names[i], .mtime_ms = -1, .size = -1};
    }
    size_t nf;
    CHECK_EQ_INT(bk_db_batch(db, b.id, ops, 500, 0, &nf), 0);
    usleep(2000);
  }
  w.stop = 1;
  pthread_join(th, NULL);
  CHECK_EQ_INT(w.bad, 0);
  CHECK(w.samples > 0);
  bk_db_close(db);
}

/* ---- CAS ---- */

static void test_xorbs(void) {
  bk_db *db = fresh_db();
  if (!db) { CHECK(0); return; }
  bk_hash x;
  bk_xorb_chunk ch[5], got[5];
  reg_xorb(db, &x, 9, 5, 2, ch);
  int existed = -1;
  CHECK_EQ_INT(bk_db_xorb_register(db, &x, 1000, ch, 5, &existed), 0);
  CHECK_EQ_INT(existed, 1);
  CHECK_EQ_INT(bk_db_xorb_exists(db, &x), 1);
  bk_xorb_info xi;
  CHECK_EQ_INT(bk_db_xorb_get(db, &x, &xi), 0);
  CHECK_EQ_INT(xi.nchunks, 5);
  CHECK_EQ_INT(xi.bytes_on_disk, 100 + 101 + 102 + 103 + 104);
  CHECK_EQ_INT(xi.unpacked_bytes, unpacked_of(0, 5));
  CHECK_EQ_INT(bk_db_xorb_chunks(db, &x, 1, 4, got), 0);
  CHECK(bk_hash_eq(&got[0].hash, &ch[1].hash));
  CHECK_EQ_INT(got[2].record_offset, ch[3].record_offset);
  CHECK_EQ_INT(got[2].unpacked_len, ch[3].unpacked_len);
  CHECK_EQ_INT(bk_db_xorb_chunks(db, &x, 3, 6, got), BK_EINVAL);
  CHECK_EQ_INT(bk_db_xorb_chunks(db, &x, 3, 3, got), BK_EINVAL);
  uint64_t bs, be, up;
  CHECK_EQ_INT(bk_db_xorb_range(db, &x, 1, 3, &bs, &be, &up), 0);
  CHECK_EQ_INT(bs, 100);
  CHECK_EQ_INT(be, 100 + 101 + 102 - 1); /* inclusive */
  CHECK_EQ_INT(up, 1001 + 1002);
  CHECK_EQ_INT(bk_db_xorb_range(db, &x, 0, 5, &bs, &be, &up), 0);
  CHECK_EQ_INT(bs, 0);
  CHECK_EQ_INT(be, xi.bytes_on_disk - 1);
  CHECK_EQ_INT(bk_db_xorb_range(db, &x, 0, 6, &bs, &be, &up), BK_EINVAL);
  CHECK_EQ_INT(bk_db_xorb_range(db, &x, 2, 2, &bs, &be, &up), BK_EINVAL);
  bk_hash nx;
  mk_hash(&nx, 4242);
  CHECK_EQ_INT(bk_db_xorb_range(db, &nx, 0, 1, &bs, &be, &up), BK_ENOTFOUND);
  CHECK_EQ_INT(bk_db_xorb_get(db, &nx, &xi), BK_ENOTFOUND);
  CHECK_EQ_INT(bk_db_xorb_exists(db, &nx), 0);
  /* malformed chunk tables */
  bk_xorb_chunk badc[2] = {ch[0], ch[1]};
  badc[1].record_offset += 1;
  CHECK_EQ_INT(bk_db_xorb_register(db, &nx, 1000, badc, 2, NULL), BK_EINVAL);
  CHECK_EQ_INT(bk_db_xorb_register(db, &nx, 50, ch, 2, NULL), BK_ESIZE);
  CHECK_EQ_INT(bk_db_xorb_register(db, &nx, 50, ch, 0, NULL), BK_EINVAL);
  CHECK_EQ_INT(bk_db_xorb_exists(db, &nx), 0);
  /* dedup by modulus: chunk 2 eligible, others not */
  bk_hash dx;
  uint32_t idx = 99;
  CHECK_EQ_INT(bk_db_dedup_lookup(db, &ch[2].hash, BK_DEDUP_GLOBAL, 0, &dx, &idx), 0);
  CHECK(bk_hash_eq(&dx, &x));
  CHECK_EQ_INT(idx, 2);
  CHECK_EQ_INT(bk_db_dedup_lookup(db, &ch[1].hash, BK_DEDUP_GLOBAL, 0, &dx, &idx), BK_ENOTFOUND);
  bk_db_close(db);
}

static int count_x(void *ctx, const bk_xorb_info *x) {
  (void)x;
  (*(int *)ctx)++;
  return 0;
}
static int count_s(void *ctx, const bk_shard_info *s) {
  (void)s;
  (*(int *)ctx)++;
  return 0;
}

static void test_shards(void) {
  bk_db *db = fresh_db();
  if (!db) { CHECK(0); return; }
  bk_ns u;
  bk_db_user_add(db, "sh", &u);
  bk_bucket b;
  bk_db_bucket_create(db, u.id, "b", 0, &b);
  bk_hash x1, x2, fh, sh, missing;
  bk_xorb_chunk c1[4];
  reg_xorb(db, &x1, 11, 4, -1, c1);
  mk_hash(&x2, 12); /* not registered */
  mk_hash(&fh, 13);
  mk_hash(&sh, 14);
  /* missing xorb: error names it, nothing registered */
  int existed = -1;
  CHECK_EQ_INT(bk_db_shard_register(db, &sh, 99, one_file_shard(&fh, &x1, 0, 2, &x2, 0, 1), b.id,
                                    &missing, &existed), BK_ENOTFOUND);
  CHECK(bk_hash_eq(&missing, &x2));
  bk_cas_file cf;
  CHECK_EQ_INT(bk_db_cas_file_get(db, &fh, &cf), BK_ENOTFOUND);
  CHECK_EQ_INT(bk_db_shard_exists(db, &sh), 0);
  /* out-of-range term and lying unpacked_bytes */
  bk_shard *s = one_file_shard(&fh, &x1, 2, 5, NULL, 0, 0);
  CHECK_EQ_INT(bk_db_shard_register(db, &sh, 99, s, b.id, NULL, NULL), BK_EINVAL);
  s = one_file_shard(&fh, &x1, 0, 2, NULL, 0, 0);
  g_terms[0].unpacked_bytes += 1;
  CHECK_EQ_INT(bk_db_shard_register(db, &sh, 99, s, b.id, NULL, NULL), BK_ESIZE);
  CHECK_EQ_INT(bk_db_shard_exists(db, &sh), 0);
  /* xorb section that disagrees with the stored xorb */
  s = one_file_shard(&fh, &x1, 0, 2, NULL, 0, 0);
  bk_shard_xorb sx = {.xorb_hash = x1, .nchunks = 3};
  bk_shard_chunk sc[4];
  memset(sc, 0, sizeof sc);
  sx.chunks = sc;
  s->nxorbs = 1;
  s->xorbs = &sx;
  CHECK_EQ_INT(bk_db_shard_register(db, &sh, 99, s, b.id, NULL, NULL), BK_EINVAL);
  /* valid: two terms over the same xorb, xorb section flags chunk 3 for dedup */
  reg_xorb(db, &x2, 12, 2, -1, NULL);
  s = one_file_shard(&fh, &x1, 1, 4, &x2, 0, 2);
  g_file.flags = BK_SHARD_FILE_META;
  mk_hash(&g_file.sha256, 15);
  sx.nchunks = 4;
  for (int i = 0; i < 4; i++) sc[i].hash = c1[i].hash;
  sc[3].flags = BK_SHARD_CHUNK_GLOBAL_DEDUP;
  s->nxorbs = 1;
  s->xorbs = &sx;
  CHECK_EQ_INT(bk_db_shard_register(db, &sh, 99, s, b.id, NULL, &existed), 0);
  CHECK_EQ_INT(existed, 0);
  CHECK_EQ_INT(bk_db_shard_register(db, &sh, 99, s, b.id, NULL, &existed), 0);
  CHECK_EQ_INT(existed, 1);
  CHECK_EQ_INT(bk_db_shard_exists(db, &sh), 1);
  CHECK_EQ_INT(bk_db_cas_file_get(db, &fh, &cf), 0);
  CHECK_EQ_INT(cf.size, unpacked_of(1, 4) + unpacked_of(0, 2));
  CHECK_EQ_INT(cf.nterms, 2);
  CHECK_EQ_INT(cf.has_sha256, 1);
  bk_hash s256;
  mk_hash(&s256, 15);
  CHECK(bk_hash_eq(&cf.sha256, &s256));
  bk_file_term *t = NULL;
  size_t nt = 0;
  CHECK_EQ_INT(bk_db_cas_file_terms(db, &fh, &t, &nt), 0);
  CHECK_EQ_INT(nt, 2);
  if (nt == 2) {
    CHECK(bk_hash_eq(&t[0].xorb, &x1));
    CHECK_EQ_INT(t[0].chunk_start, 1);
    CHECK_EQ_INT(t[0].chunk_end, 4);
    CHECK(bk_hash_eq(&t[1].xorb, &x2));
    CHECK_EQ_INT(t[1].unpacked_bytes, unpacked_of(0, 2));
  }
  free(t);
  /* dedup: first chunk of the file (x1 #1) and the flagged chunk (x1 #3) */
  bk_hash dx;
  uint32_t idx;
  CHECK_EQ_INT(bk_db_dedup_lookup(db, &c1[1].hash, BK_DEDUP_GLOBAL, 0, &dx, &idx), 0);
  CHECK(bk_hash_eq(&dx, &x1) && idx == 1);
  CHECK_EQ_INT(bk_db_dedup_lookup(db, &c1[3].hash, BK_DEDUP_GLOBAL, 0, &dx, &idx), 0);
  CHECK_EQ_INT(idx, 3);
  CHECK_EQ_INT(bk_db_dedup_lookup(db, &c1[2].hash, BK_DEDUP_GLOBAL, 0, &dx, &idx), BK_ENOTFOUND);
  /* the upload bucket is granted the file */
  bk_batch_op op = {.type = BK_OP_ADD, .path = "f", .xet_hash = fh, .mtime_ms = -1, .size = -1};
  size_t nf;
  CHECK_EQ_INT(bk_db_batch(db, b.id, &op, 1, BK_BATCH_REQUIRE_GRANT, &nf), 0);
  CHECK_EQ_INT(op.result, 0);
  /* empty-file shard (no terms) */
  bk_hash efh, esh;
  mk_hash(&efh, 16);
  mk_hash(&esh, 17);
  bk_shard_file ef = {.file_hash = efh};
  bk_shard es = {.nfiles = 1, .files = &ef};
  CHECK_EQ_INT(bk_db_shard_register(db, &esh, 48, &es, 0, NULL, NULL), 0);
  CHECK_EQ_INT(bk_db_cas_file_get(db, &efh, &cf), 0);
  CHECK_EQ_INT(cf.size, 0);
  CHECK_EQ_INT(bk_db_cas_file_terms(db, &efh, &t, &nt), 0);
  CHECK_EQ_INT(nt, 0);
  CHECK(t == NULL);
  int nx = 0, ns = 0;
  CHECK_EQ_INT(bk_db_xorb_list(db, count_x, &nx), 0);
  CHECK_EQ_INT(nx, 2);
  CHECK_EQ_INT(bk_db_shard_list(db, count_s, &ns), 0);
  CHECK_EQ_INT(ns, 2);
  CHECK_EQ_INT(bk_db_check(db, NULL, NULL), 0);
  bk_db_close(db);
}

static void test_accounting(void) {
  bk_db *db = fresh_db();
  if (!db) { CHECK(0); return; }
  bk_ns u, o;
  bk_db_user_add(db, "acct", &u);
  bk_db_user_add(db, "acct2", &o);
  bk_bucket A, B, C;
  bk_db_bucket_create(db, u.id, "A", 0, &A);
  bk_db_bucket_create(db, u.id, "B", 0, &B);
  bk_db_bucket_create(db, o.id, "C", 0, &C);
  /* X1 chunks a,b,c (records 100,101,102), X2 chunk d (100) */
  bk_hash x1, x2, f1, f2, s1, s2;
  reg_xorb(db, &x1, 21, 3, -1, NULL);
  reg_xorb(db, &x2, 22, 1, -1, NULL);
  mk_hash(&f1, 23);
  mk_hash(&f2, 24);
  mk_hash(&s1, 25);
  mk_hash(&s2, 26);
  CHECK_EQ_INT(bk_db_shard_register(db, &s1, 1, one_file_shard(&f1, &x1, 0, 2, NULL, 0, 0), 0,
                                    NULL, NULL), 0);
  CHECK_EQ_INT(bk_db_shard_register(db, &s2, 1, one_file_shard(&f2, &x1, 1, 3, &x2, 0, 1), 0,
                                    NULL, NULL), 0);
  uint64_t sz1 = unpacked_of(0, 2), sz2 = unpacked_of(1, 3) + unpacked_of(0, 1);
  bk_batch_op a_ops[3] = {
      {.type = BK_OP_ADD, .path = "f1", .xet_hash = f1, .mtime_ms = -1, .size = -1},
      {.type = BK_OP_ADD, .path = "f2", .xet_hash = f2, .mtime_ms = -1, .size = -1},
      {.type = BK_OP_ADD, .path = "f2-again", .xet_hash = f2, .mtime_ms = -1, .size = -1},
  };
  size_t nf;
  CHECK_EQ_INT(bk_db_batch(db, A.id, a_ops, 3, 0, &nf), 0);
  CHECK_EQ_INT(nf, 0);
  CHECK_EQ_INT(bk_db_batch(db, B.id, &a_ops[1], 1, 0, &nf), 0);
  CHECK_EQ_INT(bk_db_batch(db, C.id, &a_ops[0], 1, 0, &nf), 0);
  bk_usage ua, ub, un, uc;
  CHECK_EQ_INT(bk_db_bucket_usage(db, A.id, &ua), 0);
  CHECK_EQ_INT(ua.nfiles, 3);
  CHECK_EQ_INT(ua.logical_bytes, sz1 + 2 * sz2);
  CHECK_EQ_INT(ua.nchunks, 4);
  CHECK_EQ_INT(ua.stored_bytes, 100 + 101 + 102 + 100);
  CHECK_EQ_INT(bk_db_bucket_usage(db, B.id, &ub), 0);
  CHECK_EQ_INT(ub.nfiles, 1);
  CHECK_EQ_INT(ub.logical_bytes, sz2);
  CHECK_EQ_INT(ub.stored_bytes, 101 + 102 + 100);
  CHECK_EQ_INT(bk_db_ns_usage(db, u.id, &un), 0);
  CHECK_EQ_INT(un.nfiles, 4);
  CHECK_EQ_INT(un.logical_bytes, sz1 + 3 * sz2);
  CHECK_EQ_INT(un.stored_bytes, 100 + 101 + 102 + 100); /* shared chunks counted once */
  CHECK_EQ_INT(bk_db_bucket_usage(db, C.id, &uc), 0);
  CHECK_EQ_INT(uc.stored_bytes, 100 + 101);
  /* cached results follow every change: same-millisecond batches included */
  for (int k = 0; k < 3; k++) {
    char pth[32];
    snprintf(pth, sizeof pth, "extra%d", k);
    bk_batch_op x = {.type = BK_OP_ADD, .path = pth, .xet_hash = f1, .mtime_ms = -1, .size = -1};
    CHECK_EQ_INT(bk_db_batch(db, B.id, &x, 1, 0, &nf), 0);
    CHECK_EQ_INT(bk_db_bucket_usage(db, B.id, &ub), 0);
    CHECK_EQ_INT(ub.nfiles, 2 + k);
    CHECK_EQ_INT(ub.stored_bytes, 100 + 101 + 102 + 100); /* f1 adds chunk a */
    CHECK_EQ_INT(bk_db_ns_usage(db, u.id, &un), 0);
    CHECK_EQ_INT(un.nfiles, 5 + k);
  }
  bk_batch_op dl = {.type = BK_OP_DELETE, .path = "f2"};
  CHECK_EQ_INT(bk_db_batch(db, B.id, &dl, 1, 0, &nf), 0);
  CHECK_EQ_INT(bk_db_bucket_usage(db, B.id, &ub), 0);
  CHECK_EQ_INT(ub.stored_bytes, 100 + 101); /* only f1's chunks are left */
  CHECK_EQ_INT(bk_db_bucket_move(db, B.id, o.id, "B2"), 0);
  CHECK_EQ_INT(bk_db_ns_usage(db, u.id, &un), 0);
  CHECK_EQ_INT(un.nfiles, 3);
  CHECK_EQ_INT(bk_db_ns_usage(db, o.id, &un), 0);
  CHECK_EQ_INT(un.nfiles, 1 + 3);
  /* another handle (another process) writing is seen too */
  bk_db *other = NULL;
  {
    char p2[400];
    snprintf(p2, sizeof p2, "%s/db%d.sqlite", meta_base, dbn - 1);
    CHECK_EQ_INT(bk_db_open_url(p2, &other), 0);
  }
  usleep(2000);
  bk_batch_op xo = {.type = BK_OP_ADD, .path = "from-other", .xet_hash = f2, .mtime_ms = -1,
                    .size = -1};
  if (other) CHECK_EQ_INT(bk_db_batch(other, C.id, &xo, 1, 0, &nf), 0);
  bk_db_close(other);
  CHECK_EQ_INT(bk_db_bucket_usage(db, C.id, &uc), 0);
  CHECK_EQ_INT(uc.nfiles, 2);
  CHECK_EQ_INT(uc.stored_bytes, 100 + 101 + 102 + 100);
  /* empty bucket / namespace */
  bk_bucket E;
  bk_db_bucket_create(db, o.id, "E", 0, &E);
  CHECK_EQ_INT(bk_db_bucket_usage(db, E.id, &uc), 0);
  CHECK_EQ_INT(uc.nfiles, 0);
  CHECK_EQ_INT(uc.stored_bytes, 0);
  bk_db_close(db);
}

struct trash_rec {
  int n, commits;
  bk_hash h[16];
  int kind[16];
  int fail;
};

static void on_trash(struct trash_rec *t, bk_blob_kind k, const bk_hash *h) {
  if (t->n < 16) {
    t->h[t->n] = *h;
    t->kind[t->n] = k;
  }
  t->n++;
}

/* A whole gc pass over the metadata the way the service drives it: pages of
 * at most limit rows (0 = one page of BK_GC_PAGE_MAX), each in its own
 * BK_TX_GC_FENCE transaction; the removed xorbs/shards of each committed
 * page go to tr. With tr->fail a page that removed something is rolled back
 * instead (the service's reaction to a failing step) and BK_EIO returned.
 * *st counts what was committed. */
static int gc_pass(bk_db *db, int64_t cutoff, size_t limit, struct trash_rec *tr,
                   bk_gc_stats *st) {
  memset(st, 0, sizeof *st);
  if (limit == 0) limit = BK_GC_PAGE_MAX;
  bk_gc_item *items = calloc(limit, sizeof *items);
  if (!items) return BK_ENOMEM;
  int phase = 0, rc = 0;
  while (rc == 0 && phase < 3) {
    bk_db_tx *tx = NULL;
    bk_gc_stats round = {0};
    size_t n = 0;
    if ((rc = bk_db_tx_begin(db, BK_TX_GC_FENCE, &tx))) break;
    rc = bk_db_gc_page_tx(tx, cutoff, &phase, limit, items, &n, &round);
    if (rc == 0 && tr && tr->fail && round.files + round.xorbs + round.shards > 0)
      rc = bk_seterr(BK_EIO, "injected failure");
    if (rc) {
      bk_db_tx_rollback(tx);
      break;
    }
    if ((rc = bk_db_tx_commit(tx))) break;
    if (tr) tr->commits++;
    for (size_t i = 0; tr && i < n; i++) on_trash(tr, items[i].kind, &items[i].hash);
    st->files += round.files;
    st->xorbs += round.xorbs;
    st->shards += round.shards;
    st->xorb_bytes += round.xorb_bytes;
    st->shard_bytes += round.shard_bytes;
  }
  free(items);
  return rc;
}

static void test_gc(void) {
  bk_db *db = fresh_db();
  if (!db) { CHECK(0); return; }
  bk_ns u;
  bk_db_user_add(db, "gc", &u);
  bk_bucket b;
  bk_db_bucket_create(db, u.id, "b", 0, &b);
  bk_hash xk, xd, xo, fk, fd, sk, sd;
  reg_xorb(db, &xk, 31, 2, -1, NULL); /* kept: referenced by a live file */
  reg_xorb(db, &xd, 32, 2, 0, NULL);  /* dead: its file is deleted */
  reg_xorb(db, &xo, 33, 1, -1, NULL); /* dead: never referenced */
  mk_hash(&fk, 34);
  mk_hash(&fd, 35);
  mk_hash(&sk, 36);
  mk_hash(&sd, 37);
  CHECK_EQ_INT(bk_db_shard_register(db, &sk, 5, one_file_shard(&fk, &xk, 0, 2, NULL, 0, 0), 0,
                                    NULL, NULL), 0);
  CHECK_EQ_INT(bk_db_shard_register(db, &sd, 6, one_file_shard(&fd, &xd, 0, 2, NULL, 0, 0), 0,
                                    NULL, NULL), 0);
  bk_batch_op ops[2] = {
      {.type = BK_OP_ADD, .path = "keep", .xet_hash = fk, .mtime_ms = -1, .size = -1},
      {.type = BK_OP_ADD, .path = "drop", .xet_hash = fd, .mtime_ms = -1, .size = -1},
  };
  size_t nf;
  CHECK_EQ_INT(bk_db_batch(db, b.id, ops, 2, 0, &nf), 0);
  bk_batch_op del = {.type = BK_OP_DELETE, .path = "drop"};
  CHECK_EQ_INT(bk_db_batch(db, b.id, &del, 1, 0, &nf), 0);

  /* cutoff in the past: everything is too fresh */
  struct trash_rec tr = {0};
  bk_gc_stats st;
  CHECK_EQ_INT(gc_pass(db, 1000, 0, &tr, &st), 0);
  CHECK_EQ_INT(tr.n, 0);
  CHECK_EQ_INT(st.files + st.xorbs + st.shards, 0);
  /* a failing step rolls the page back: nothing is removed */
  int64_t future = (int64_t)time(NULL) * 1000 + 60000;
  tr.fail = 1;
  CHECK_EQ_INT(gc_pass(db, future, 0, &tr, &st), BK_EIO);
  CHECK_EQ_INT(bk_db_xorb_exists(db, &xo), 1);
  bk_cas_file cf;
  CHECK_EQ_INT(bk_db_cas_file_get(db, &fd, &cf), 0);
  tr.fail = 0;
  tr.commits = 0;
  CHECK_EQ_INT(gc_pass(db, future, 1, &tr, &st), 0);
  CHECK(tr.commits >= 4); /* one object per transaction */
  CHECK_EQ_INT(st.files, 1);
  CHECK_EQ_INT(st.xorbs, 2);
  CHECK_EQ_INT(st.shards, 1);
  CHECK_EQ_INT(tr.n, 3);
  CHECK_EQ_INT(st.xorb_bytes, 201 + 100);
  CHECK_EQ_INT(bk_db_xorb_exists(db, &xk), 1);
  CHECK_EQ_INT(bk_db_xorb_exists(db, &xd), 0);
  CHECK_EQ_INT(bk_db_xorb_exists(db, &xo), 0);
  CHECK_EQ_INT(bk_db_cas_file_get(db, &fd, &cf), BK_ENOTFOUND);
  CHECK_EQ_INT(bk_db_cas_file_get(db, &fk, &cf), 0);
  CHECK_EQ_INT(bk_db_shard_exists(db, &sd), 0);
  CHECK_EQ_INT(bk_db_shard_exists(db, &sk), 1);
  /* the dedup entries of removed xorbs are gone */
  bk_hash dx, c0;
  uint32_t idx;
  mk_hash(&c0, 32 * 1000 + 1);
  memset(c0.b + 24, 0, 8);
  CHECK_EQ_INT(bk_db_dedup_lookup(db, &c0, BK_DEDUP_GLOBAL, 0, &dx, &idx), BK_ENOTFOUND);
  /* second pass: nothing left */
  tr.n = 0;
  CHECK_EQ_INT(gc_pass(db, future, 0, &tr, &st), 0);
  CHECK_EQ_INT(tr.n, 0);
  /* orphans: a row present keeps the blob (the fence re-check) */
  bk_blob_kind kinds[2] = {BK_BLOB_XORB, BK_BLOB_XORB};
  bk_hash hs[2] = {xk, xo};
  size_t nt = 0;
  bk_db_tx *tx = NULL;
  CHECK_EQ_INT(bk_db_tx_begin(db, BK_TX_GC_FENCE, &tx), 0);
  for (int i = 0; tx && i < 2; i++) {
    int e = bk_db_blob_row_exists_tx(tx, kinds[i], &hs[i]);
    CHECK(e == 0 || e == 1);
    if (e == 0) {
      on_trash(&tr, kinds[i], &hs[i]);
      nt++;
    }
  }
  CHECK_EQ_INT(bk_db_blob_row_exists_tx(tx, BK_BLOB_SHARD, &sk), 1);
  CHECK_EQ_INT(bk_db_blob_row_exists_tx(tx, BK_BLOB_SHARD, &sd), 0);
  CHECK_EQ_INT(bk_db_tx_commit(tx), 0);
  CHECK_EQ_INT(nt, 1);
  CHECK(tr.n == 1 && bk_hash_eq(&tr.h[0], &xo));
  /* a page needs a writable transaction and a sane size */
  bk_gc_item it[1];
  size_t ni = 9;
  int ph = 0;
  CHECK_EQ_INT(bk_db_tx_begin(db, BK_TX_READ, &tx), 0);
  CHECK_EQ_INT(bk_db_gc_page_tx(tx, future, &ph, 1, it, &ni, NULL), BK_EINVAL);
  CHECK_EQ_INT(ni, 0);
  bk_db_tx_rollback(tx);
  CHECK_EQ_INT(bk_db_tx_begin(db, BK_TX_GC_FENCE, &tx), 0);
  CHECK_EQ_INT(bk_db_gc_page_tx(tx, future, &ph, 0, it, &ni, NULL), BK_EINVAL);
  bk_db_tx_rollback(tx);
  CHECK_EQ_INT(bk_db_check(db, NULL, NULL), 0);
  bk_db_close(db);
}

static int msg_count(void *ctx, const char *m) {
  (void)m;
  (*(int *)ctx)++;
  return 0;
}

/* bk_db_check notices a bucket file whose content vanished (done here by
 * editing the database behind the store's back). */
static void test_check_damage(void) {
  char p[400];
  meta_url(p, sizeof p, "damage.sqlite");
  bk_db *db;
  CHECK_EQ_INT(bk_db_open_url(p, &db), 0);
  bk_ns u;
  bk_db_user_add(db, "dmg", &u);
  bk_bucket b;
  bk_db_bucket_create(db, u.id, "b", 0, &b);
  bk_hash x, fh, sh;
  reg_xorb(db, &x, 61, 2, -1, NULL);
  mk_hash(&fh, 62);
  mk_hash(&sh, 63);
  CHECK_EQ_INT(bk_db_shard_register(db, &sh, 1, one_file_shard(&fh, &x, 0, 2, NULL, 0, 0), 0,
                                    NULL, NULL), 0);
  bk_batch_op op[2] = {{.type = BK_OP_ADD, .path = "f", .xet_hash = fh, .mtime_ms = -1, .size = -1},
                       {.type = BK_OP_ADD, .path = "empty", .mtime_ms = -1, .size = -1}};
  size_t nf;
  CHECK_EQ_INT(bk_db_batch(db, b.id, op, 2, 0, &nf), 0);
  int n = 0;
  CHECK_EQ_INT(bk_db_check(db, msg_count, &n), 0);
  CHECK_EQ_INT(n, 0);
  bk_db_close(db);
  CHECK_EQ_INT(meta_exec(p, "DELETE FROM file_terms; DELETE FROM files;"),
               0);
  CHECK_EQ_INT(meta_exec(p, "DELETE FROM xorb_chunks WHERE idx = 1"),
               0);
  CHECK_EQ_INT(meta_exec(p, "INSERT INTO bucket_dirs VALUES(1, 'ghost', 3, 4, 5)"), 0);
  CHECK_EQ_INT(bk_db_open_url(p, &db), 0);
  n = 0;
  CHECK_EQ_INT(bk_db_check(db, msg_count, &n), 1);
  CHECK_EQ_INT(n, 3); /* orphaned bucket file, short chunk table, ghost directory */
  bk_db_close(db);
}

/* ---- directory aggregates vs brute force, and the v1 -> v2 upgrade ---- */

struct agg_list {
  int n;
  char path[4000][64];
  uint64_t size[4000];
};

static int agg_collect(void *ctx, const bk_file_entry *e) {
  struct agg_list *l = ctx;
  if (l->n < 4000) {
    snprintf(l->path[l->n], 64, "%s", e->path);
    l->size[l->n] = e->size;
  }
  l->n++;
  return 0;
}

struct dir_check {
  struct agg_list *files;
  int bad, dirs;
};

static int dir_check_cb(void *ctx, const bk_file_entry *e) {
  struct dir_check *d = ctx;
  if (!e->is_dir) return 0;
  d->dirs++;
  size_t dl = strlen(e->path);
  uint64_t n = 0, bytes = 0;
  for (int i = 0; i < d->files->n; i++)
    if (!strncmp(d->files->path[i], e->path, dl) && d->files->path[i][dl] == '/') {
      n++;
      bytes += d->files->size[i];
    }
  if (n != e->nfiles || bytes != e->size) {
    if (d->bad++ < 5)
      fprintf(stderr, "  dir %s: %llu files %llu bytes, model %llu %llu\n", e->path,
              (unsigned long long)e->nfiles, (unsigned long long)e->size,
              (unsigned long long)n, (unsigned long long)bytes);
  }
  return 0;
}

/* Walks every directory level (non-recursive listings) and checks each
 * directory entry's aggregates against the recursive file listing. */
static int check_aggregates(bk_db *db, int64_t bid, struct agg_list *files) {
  files->n = 0;
  char *next = NULL;
  if (bk_db_tree(db, bid, "", BK_TREE_RECURSIVE, NULL, BK_TREE_LIMIT_MAX, agg_collect, files,
                 &next))
    return -1;
  free(next);
  struct dir_check d = {files, 0, 0};
  const char *dirs[] = {"", "a", "b", "a/b", "b/a", "a/a", "c"};
  for (size_t i = 0; i < sizeof dirs / sizeof dirs[0]; i++) {
    if (bk_db_tree(db, bid, dirs[i], 0, NULL, BK_TREE_LIMIT_MAX, dir_check_cb, &d, &next))
      return -1;
    free(next);
  }
  return d.bad;
}

static void test_dir_aggregates(void) {
  char p[400];
  meta_url(p, sizeof p, "agg.sqlite");
  bk_db *db;
  CHECK_EQ_INT(bk_db_open_url(p, &db), 0);
  bk_ns u;
  bk_db_user_add(db, "agg", &u);
  bk_bucket b;
  bk_db_bucket_create(db, u.id, "b", 0, &b);
  /* five CAS files of 1..5 chunks (different sizes) */
  bk_hash x, fh[5];
  reg_xorb(db, &x, 71, 5, -1, NULL);
  for (int i = 0; i < 5; i++) {
    bk_hash sh;
    mk_hash(&fh[i], 720 + i);
    mk_hash(&sh, 730 + i);
    CHECK_EQ_INT(bk_db_shard_register(db, &sh, 1,
                                      one_file_shard(&fh[i], &x, 0, (uint32_t)i + 1, NULL, 0, 0),
                                      0, NULL, NULL), 0);
  }
  static struct agg_list files;
  static const char *segs[] = {"a", "b", "c"};
  uint64_t seed = 99;
  int bad = 0;
  for (int round = 0; round < 30; round++) {
    bk_batch_op ops[100];
    char names[100][64];
    for (int i = 0; i < 100; i++) {
      seed = seed * 6364136223846793005ull + 1442695040888963407ull;
      int depth = 1 + (int)((seed >> 40) % 3);
      names[i][0] = 0;
      for (int d = 0; d < depth; d++) {
        strcat(names[i], segs[(seed >> (20 + 2 * d)) % 3]);
        strcat(names[i], "/");
      }
      char leaf[16];
      snprintf(leaf, sizeof leaf, "f%u", (unsigned)((seed >> 50) % 8));
      strcat(names[i], leaf);
      int kind = (int)((seed >> 33) % 4); /* 0 = delete, else add/overwrite */
      if (kind == 0) ops[i] = (bk_batch_op){.type = BK_OP_DELETE, .path = names[i]};
      else
        ops[i] = (bk_batch_op){.type = BK_OP_ADD, .path = names[i],
                               .xet_hash = fh[(seed >> 45) % 5], .mtime_ms = -1, .size = -1};
    }
    size_t nf;
    CHECK_EQ_INT(bk_db_batch(db, b.id, ops, 100, 0, &nf), 0);
    CHECK_EQ_INT(nf, 0);
    int r = check_aggregates(db, b.id, &files);
    if (r != 0) bad++;
  }
  CHECK_EQ_INT(bad, 0);
  CHECK(files.n > 20);
  /* deleting everything leaves no directory rows */
  {
    bk_batch_op del[4000];
    int n = files.n < 4000 ? files.n : 4000;
    for (int i = 0; i < n; i++) del[i] = (bk_batch_op){.type = BK_OP_DELETE, .path = files.path[i]};
    size_t nf;
    CHECK_EQ_INT(bk_db_batch(db, b.id, del, (size_t)n, 0, &nf), 0);
  }
  bk_db_close(db);
  CHECK_EQ_INT(sql_int(p, "SELECT count(*) FROM bucket_dirs"), 0);

  if (!meta_is_sqlite()) return; /* SQLite schema history below */
  /* upgrade from schema 1: the table is rebuilt from bucket_files */
  CHECK_EQ_INT(bk_db_open_url(p, &db), 0);
  bk_batch_op ops[6] = {
      {.type = BK_OP_ADD, .path = "a/b/1", .xet_hash = fh[0], .mtime_ms = -1, .size = -1},
      {.type = BK_OP_ADD, .path = "a/b/2", .xet_hash = fh[4], .mtime_ms = -1, .size = -1},
      {.type = BK_OP_ADD, .path = "a/3", .xet_hash = fh[2], .mtime_ms = -1, .size = -1},
      {.type = BK_OP_ADD, .path = "c/4", .xet_hash = fh[1], .mtime_ms = -1, .size = -1},
      {.type = BK_OP_ADD, .path = "top", .xet_hash = fh[3], .mtime_ms = -1, .size = -1},
      {.type = BK_OP_ADD, .path = "b/a/x", .mtime_ms = -1, .size = -1},
  };
  size_t nf;
  CHECK_EQ_INT(bk_db_batch(db, b.id, ops, 6, 0, &nf), 0);
  bk_db_close(db);
  CHECK_EQ_INT(meta_exec(p, "DROP TABLE bucket_dirs; PRAGMA user_version=1;"),
               0);
  CHECK_EQ_INT(bk_db_open_url(p, &db), 0);
  CHECK_EQ_INT(check_aggregates(db, b.id, &files), 0);
  CHECK_EQ_INT(files.n, 6);
  struct listing l = {0};
  char *next = NULL;
  CHECK_EQ_INT(bk_db_tree(db, b.id, "a", 0, NULL, 100, tree_cb, &l, &next), 0);
  CHECK_EQ_INT(l.n, 2); /* a/3 and a/b */
  listing_free(&l);
  bk_dir_stats ds;
  CHECK_EQ_INT(bk_db_dir_stats(db, b.id, "a", &ds), 0);
  CHECK_EQ_INT(ds.nfiles, 3);
  CHECK_EQ_INT(ds.bytes, unpacked_of(0, 1) + unpacked_of(0, 5) + unpacked_of(0, 3));
  CHECK_EQ_INT(bk_db_dir_stats(db, b.id, "a/b/", &ds), 0);
  CHECK_EQ_INT(ds.nfiles, 2);
  CHECK_EQ_INT(bk_db_dir_stats(db, b.id, "", &ds), 0);
  CHECK_EQ_INT(ds.nfiles, 6);
  CHECK_EQ_INT(bk_db_dir_stats(db, b.id, "top", &ds), BK_ENOTFOUND); /* a file, not a dir */
  CHECK_EQ_INT(bk_db_dir_stats(db, b.id, "zzz", &ds), BK_ENOTFOUND);
  CHECK_EQ_INT(bk_db_check(db, NULL, NULL), 0);
  bk_db_close(db);
}

/* ---- global dedup index: every holder of a chunk, gc falls through ---- */

/* Registers xorb xh (hash from seed) of n chunks; chunk `at` is `shared`,
 * the others are not dedup-eligible. */
static void reg_xorb_sharing(bk_db *db, bk_hash *xh, uint64_t seed, uint32_t n, uint32_t at,
                             const bk_hash *shared) {
  bk_xorb_chunk ch[8];
  uint32_t ro = 0, uo = 0;
  mk_hash(xh, seed);
  for (uint32_t i = 0; i < n; i++) {
    mk_hash(&ch[i].hash, seed * 1000 + i + 1);
    ch[i].hash.b[24] |= 1;
    if (i == at) ch[i].hash = *shared;
    ch[i] = (bk_xorb_chunk){.hash = ch[i].hash, .record_offset = ro, .record_len = 100 + i,
                            .unpacked_offset = uo, .unpacked_len = 1000 + i};
    ro += ch[i].record_len;
    uo += ch[i].unpacked_len;
  }
  CHECK_EQ_INT(bk_db_xorb_register(db, xh, ro, ch, n, NULL), 0);
}


static void test_dedup_holders(void) {
  char p[400];
  meta_url(p, sizeof p, "dedup.sqlite");
  bk_db *db;
  CHECK_EQ_INT(bk_db_open_url(p, &db), 0);
  if (!db) return;
  bk_ns u;
  CHECK_EQ_INT(bk_db_user_add(db, "dd", &u), 0);
  bk_bucket b;
  CHECK_EQ_INT(bk_db_bucket_create(db, u.id, "b", 0, &b), 0);
  bk_hash c, xa, xb, xc, fb, sb;
  mk_hash(&c, 4242);
  memset(c.b + 24, 0, 8); /* tail % 1024 == 0: eligible */
  reg_xorb_sharing(db, &xa, 41, 3, 1, &c); /* first holder, unreferenced */
  reg_xorb_sharing(db, &xb, 42, 2, 0, &c); /* second holder, kept by a file */
  bk_hash none;
  mk_hash(&none, 4343);
  none.b[24] |= 1;
  reg_xorb_sharing(db, &xc, 43, 2, 0, &none);
  mk_hash(&fb, 44);
  mk_hash(&sb, 45);
  CHECK_EQ_INT(bk_db_shard_register(db, &sb, 5, one_file_shard(&fb, &xb, 0, 2, NULL, 0, 0), 0,
                                    NULL, NULL), 0);
  bk_batch_op add = {.type = BK_OP_ADD, .path = "f", .xet_hash = fb, .mtime_ms = -1, .size = -1};
  size_t nf;
  CHECK_EQ_INT(bk_db_batch(db, b.id, &add, 1, 0, &nf), 0);
  const char *count_c = "SELECT count(*) FROM dedup WHERE hex(chunk_hash) LIKE '%0000000000000000'";
  const char *count_pg =
      "SELECT count(*) FROM dedup WHERE encode(chunk_hash, 'hex') LIKE '%0000000000000000'";
  CHECK_EQ_INT(sql_int(p, meta_is_sqlite() ? count_c : count_pg), 2); /* both holders are indexed */
  bk_db_close(db);

  if (!meta_is_sqlite()) return; /* SQLite schema history below */
  /* a schema-2 store knew only the first holder: the upgrade finds the others */
  CHECK_EQ_INT(meta_exec(p,
                            "CREATE TABLE d2(chunk_hash BLOB PRIMARY KEY, xorb_id INTEGER NOT NULL "
                            "REFERENCES xorbs(id) ON DELETE CASCADE, idx INTEGER NOT NULL) "
                            "WITHOUT ROWID;"
                            "INSERT OR IGNORE INTO d2 SELECT chunk_hash, xorb_id, idx FROM dedup "
                            "ORDER BY xorb_id;"
                            "DROP TABLE dedup; ALTER TABLE d2 RENAME TO dedup;"
                            "CREATE INDEX dedup_xorb ON dedup(xorb_id); PRAGMA user_version=2;"),
               0);
  CHECK_EQ_INT(sql_int(p, count_c), 1);
  CHECK_EQ_INT(bk_db_open_url(p, &db), 0);
  if (!db) return;
  CHECK_EQ_INT(sql_int(p, "PRAGMA user_version"), bk_db_schema_version());
  CHECK_EQ_INT(sql_int(p, count_c), 2);

  /* the first holder answers while it lives */
  bk_hash dx;
  uint32_t idx = 99;
  CHECK_EQ_INT(bk_db_dedup_lookup(db, &c, BK_DEDUP_GLOBAL, 0, &dx, &idx), 0);
  CHECK(bk_hash_eq(&dx, &xa));
  CHECK_EQ_INT(idx, 1);
  /* gc removes it: the entry falls through to the other live holder */
  int64_t future = (int64_t)time(NULL) * 1000 + 60000;
  bk_gc_stats st;
  CHECK_EQ_INT(gc_pass(db, future, 0, NULL, &st), 0);
  CHECK_EQ_INT(st.xorbs, 2);
  CHECK_EQ_INT(bk_db_xorb_exists(db, &xa), 0);
  CHECK_EQ_INT(bk_db_xorb_exists(db, &xb), 1);
  idx = 99;
  CHECK_EQ_INT(bk_db_dedup_lookup(db, &c, BK_DEDUP_GLOBAL, 0, &dx, &idx), 0);
  CHECK(bk_hash_eq(&dx, &xb));
  CHECK_EQ_INT(idx, 0);
  /* no holder left: dropped */
  bk_batch_op del = {.type = BK_OP_DELETE, .path = "f"};
  CHECK_EQ_INT(bk_db_batch(db, b.id, &del, 1, 0, &nf), 0);
  CHECK_EQ_INT(gc_pass(db, future, 0, NULL, &st), 0);
  CHECK_EQ_INT(bk_db_xorb_exists(db, &xb), 0);
  CHECK_EQ_INT(bk_db_dedup_lookup(db, &c, BK_DEDUP_GLOBAL, 0, &dx, &idx), BK_ENOTFOUND);
  CHECK_EQ_INT(sql_int(p, "SELECT count(*) FROM dedup"), 0);
  CHECK_EQ_INT(bk_db_check(db, NULL, NULL), 0);
  bk_db_close(db);
}

/* ---- bucket region (create --region) and its schema step ---- */

static void test_bucket_region(void) {
  char p[400];
  meta_url(p, sizeof p, "region.sqlite");
  bk_db *db;
  CHECK_EQ_INT(bk_db_open_url(p, &db), 0);
  if (!db) return;
  bk_ns u;
  CHECK_EQ_INT(bk_db_user_add(db, "reg", &u), 0);
  bk_bucket b, g;
  CHECK_EQ_INT(bk_db_bucket_create_ex(db, u.id, "eu1", 0, "eu", &b), 0);
  CHECK_EQ_STR(b.region, "eu");
  CHECK_EQ_INT(bk_db_bucket_create_ex(db, u.id, "us1", 1, "us", NULL), 0);
  CHECK_EQ_INT(bk_db_bucket_get(db, "reg", "us1", &g), 0);
  CHECK_EQ_STR(g.region, "us");
  CHECK_EQ_INT(g.is_private, 1);
  /* none asked for: none stored (NULL), not a default */
  CHECK_EQ_INT(bk_db_bucket_create(db, u.id, "plain", 0, &b), 0);
  CHECK_EQ_STR(b.region, "");
  CHECK_EQ_INT(bk_db_bucket_create_ex(db, u.id, "plain2", 0, NULL, NULL), 0);
  CHECK_EQ_INT(sql_int(p, "SELECT count(*) FROM buckets WHERE region IS NULL"), 2);
  /* any valid region name (a configured region is the service's check) */
  CHECK_EQ_INT(bk_db_bucket_create_ex(db, u.id, "x1", 0, "asia-1", &b), 0);
  CHECK_EQ_STR(b.region, "asia-1");
  CHECK_EQ_INT(bk_db_bucket_create_ex(db, u.id, "x4", 0, "1eu", NULL), BK_EINVAL);
  CHECK_EQ_INT(bk_db_bucket_create_ex(db, u.id, "x2", 0, "", NULL), BK_EINVAL);
  CHECK_EQ_INT(bk_db_bucket_create_ex(db, u.id, "x3", 0, "EU", NULL), BK_EINVAL);
  CHECK_EQ_INT(bk_db_bucket_get(db, "reg", "x1", &g), 0);
  CHECK_EQ_STR(g.region, "asia-1");
  CHECK_EQ_INT(bk_region_valid("us") && bk_region_valid("eu") && !bk_region_valid(NULL), 1);
  /* the column refuses other values even from another writer */
  CHECK(meta_exec(p, "UPDATE buckets SET region = 'mars' WHERE name = 'plain'") != 0);
  bk_db_close(db);

  if (!meta_is_sqlite()) return; /* SQLite schema history below */
  /* a store of the previous schema (no region column) is upgraded in place:
   * its buckets keep everything and report no region */
  CHECK_EQ_INT(meta_exec(p, "ALTER TABLE buckets DROP COLUMN region_name;"
                            "ALTER TABLE buckets DROP COLUMN region; PRAGMA user_version=5;"),
               0);
  CHECK_EQ_INT(sql_int(p, "SELECT count(*) FROM pragma_table_info('buckets') WHERE name = 'region'"),
               0);
  CHECK_EQ_INT(bk_db_open_url(p, &db), 0);
  if (!db) return;
  CHECK_EQ_INT(sql_int(p, "PRAGMA user_version"), bk_db_schema_version());
  CHECK_EQ_INT(bk_db_bucket_get(db, "reg", "eu1", &g), 0);
  CHECK_EQ_STR(g.region, ""); /* the old store had no region to keep */
  CHECK_EQ_INT(bk_db_bucket_get(db, "reg", "us1", &g), 0);
  CHECK_EQ_INT(g.is_private, 1);
  CHECK_EQ_INT(bk_db_bucket_create_ex(db, u.id, "after", 0, "eu", &b), 0);
  CHECK_EQ_STR(b.region, "eu");
  bk_db_close(db);

  /* the step is safe to run again: a store that has the column but an older
   * version number (an interrupted or renumbered upgrade) opens cleanly */
  CHECK_EQ_INT(meta_exec(p, "PRAGMA user_version=5;"), 0);
  CHECK_EQ_INT(bk_db_open_url(p, &db), 0);
  if (!db) return;
  CHECK_EQ_INT(sql_int(p, "PRAGMA user_version"), bk_db_schema_version());
  CHECK_EQ_INT(bk_db_bucket_get(db, "reg", "after", &g), 0);
  CHECK_EQ_STR(g.region, "eu");
  CHECK_EQ_INT(bk_db_check(db, NULL, NULL), 0);
  bk_db_close(db);
}

/* ---- schema persistence and concurrency ---- */

static void test_reopen(void) {
  char p[400];
  meta_url(p, sizeof p, "persist.sqlite");
  bk_db *db;
  CHECK_EQ_INT(bk_db_open_url(p, &db), 0);
  bk_ns u;
  CHECK_EQ_INT(bk_db_user_add(db, "persist", &u), 0);
  /* a second handle (like an admin process) sees it at once */
  bk_db *db2;
  CHECK_EQ_INT(bk_db_open_url(p, &db2), 0);
  bk_ns x;
  CHECK_EQ_INT(bk_db_ns_get(db2, "persist", &x), 0);
  CHECK_EQ_INT(bk_db_user_add(db2, "second", NULL), 0);
  CHECK_EQ_INT(bk_db_ns_get(db, "second", &x), 0);
  bk_db_close(db2);
  bk_db_close(db);
  CHECK_EQ_INT(bk_db_open_url(p, &db), 0);
  CHECK_EQ_INT(bk_db_ns_get(db, "persist", &x), 0);
  bk_db_close(db);
  CHECK_EQ_INT(bk_db_schema_version(), 9);
  CHECK_EQ_INT(bk_db_open("/nonexistent/dir/x.db", &db), BK_EDB);
}

struct worker {
  bk_db *db;
  int64_t bucket;
  int id, errors;
};

static void *work(void *arg) {
  struct worker *w = arg;
  for (int r = 0; r < 20; r++) {
    bk_batch_op ops[50];
    char names[50][32];
    for (int i = 0; i < 50; i++) {
      snprintf(names[i], sizeof names[i], "w%d/r%d/%d", w->id, r, i);
      ops[i] = (bk_batch_op){.type = BK_OP_ADD, .path = names[i], .mtime_ms = -1, .size = -1};
    }
    size_t nf;
    if (bk_db_batch(w->db, w->bucket, ops, 50, 0, &nf) || nf) w->errors++;
    int n = 0;
    char *next = NULL;
    char pfx[16];
    snprintf(pfx, sizeof pfx, "w%d", w->id);
    if (bk_db_tree(w->db, w->bucket, pfx, BK_TREE_RECURSIVE, NULL, 100000, count_cb, &n, &next))
      w->errors++;
    if (n != (r + 1) * 50) w->errors++;
    free(next);
  }
  return NULL;
}

/* Callbacks that call back into the db, with more threads than pooled
 * connections: must not deadlock (alarm() kills the test if it does). */
struct nested {
  bk_db *db;
  int64_t ns;
  int errors, seen;
};

static int nested_cb(void *ctx, const bk_bucket *b) {
  struct nested *n = ctx;
  bk_usage u;
  bk_file_info fi;
  if (bk_db_bucket_usage(n->db, b->id, &u)) n->errors++;
  if (bk_db_file_get(n->db, b->id, "nope", &fi) != BK_ENOTFOUND) n->errors++;
  usleep(500);
  n->seen++;
  return 0;
}

static void *nested_work(void *arg) {
  struct nested *n = arg;
  for (int r = 0; r < 20; r++)
    if (bk_db_bucket_list(n->db, n->ns, NULL, 1, NULL, 100, nested_cb, n, NULL)) n->errors++;
  return NULL;
}

static void test_nested_callbacks(void) {
  bk_db *db = fresh_db();
  if (!db) { CHECK(0); return; }
  bk_ns u;
  bk_db_user_add(db, "nest", &u);
  for (int i = 0; i < 5; i++) {
    char nm[16];
    snprintf(nm, sizeof nm, "b%d", i);
    bk_db_bucket_create(db, u.id, nm, 0, NULL);
  }
  enum { NT = 16 };
  pthread_t th[NT];
  struct nested n[NT];
  alarm(120);
  for (int i = 0; i < NT; i++) {
    n[i] = (struct nested){db, u.id, 0, 0};
    pthread_create(&th[i], NULL, nested_work, &n[i]);
  }
  int errors = 0, seen = 0;
  for (int i = 0; i < NT; i++) {
    pthread_join(th[i], NULL);
    errors += n[i].errors;
    seen += n[i].seen;
  }
  alarm(0);
  CHECK_EQ_INT(errors, 0);
  CHECK_EQ_INT(seen, NT * 20 * 5);
  bk_db_close(db);
}

static void test_concurrency(void) {
  bk_db *db = fresh_db();
  if (!db) { CHECK(0); return; }
  bk_ns u;
  bk_db_user_add(db, "conc", &u);
  bk_bucket b;
  bk_db_bucket_create(db, u.id, "b", 0, &b);
  enum { NT = 12 }; /* more threads than pooled connections */
  pthread_t th[NT];
  struct worker w[NT];
  for (int i = 0; i < NT; i++) {
    w[i] = (struct worker){db, b.id, i, 0};
    pthread_create(&th[i], NULL, work, &w[i]);
  }
  int errors = 0;
  for (int i = 0; i < NT; i++) {
    pthread_join(th[i], NULL);
    errors += w[i].errors;
  }
  CHECK_EQ_INT(errors, 0);
  bk_usage us;
  CHECK_EQ_INT(bk_db_bucket_usage(db, b.id, &us), 0);
  CHECK_EQ_INT(us.nfiles, NT * 20 * 50);
  bk_db_close(db);
}

/* ---- figures (printed, not asserted) ---- */

static void test_perf_figures(void) {
  bk_db *db = fresh_db();
  if (!db) { CHECK(0); return; }
  bk_ns u;
  bk_db_user_add(db, "perf", &u);
  bk_bucket b;
  bk_db_bucket_create(db, u.id, "b", 0, &b);
  enum { NB = 100, PER = 1000 };
  static char names[PER][48];
  bk_batch_op ops[PER];
  double worst = 0, total = 0, cpu_total = 0;
  for (int r = 0; r < NB; r++) {
    for (int i = 0; i < PER; i++) {
      snprintf(names[i], sizeof names[i], "dir%02d/sub%02d/file-%05d.bin", r % 50, i % 20,
               r * PER + i);
      ops[i] = (bk_batch_op){.type = BK_OP_ADD, .path = names[i], .mtime_ms = -1, .size = -1};
    }
    size_t nf;
    double t0 = now_ms(), c0 = cpu_ms();
    CHECK_EQ_INT(bk_db_batch(db, b.id, ops, PER, 0, &nf), 0);
    double dt = now_ms() - t0;
    cpu_total += cpu_ms() - c0;
    total += dt;
    if (dt > worst) worst = dt;
  }
  printf("figure: batch of %d addFile: mean %.1f ms (CPU %.1f ms), worst %.1f ms (goal < 100 ms)\n",
         PER, total / NB, cpu_total / NB, worst);
  /* baseline: one durable (fsync'ed) 64 KiB file write, the cost floor of
   * any acknowledged write on this disk */
  static char blk[65536];
  double t0 = now_ms();
  CHECK_EQ_INT(bk_write_file_durable(root, "baseline", blk, sizeof blk), 0);
  printf("figure: baseline durable 64 KiB file write (temp+fsync+rename+fsync dir): %.2f ms\n",
         now_ms() - t0);

  /* tree listing: recursive, paged by 1000 */
  struct { int n; } cnt = {0};
  t0 = now_ms();
  char *cur = NULL;
  int pages = 0;
  for (;;) {
    char *next = NULL;
    CHECK_EQ_INT(bk_db_tree(db, b.id, "", BK_TREE_RECURSIVE, cur, 1000, count_cb, &cnt.n, &next), 0);
    free(cur);
    pages++;
    if (!next) break;
    cur = next;
  }
  double dt = now_ms() - t0;
  CHECK_EQ_INT(cnt.n, NB * PER);
  printf("figure: recursive tree listing of %d entries in %d pages: %.0f ms = %.0f entries/s "
         "(goal >= 100,000/s)\n",
         cnt.n, pages, dt, cnt.n / (dt / 1000));
  /* non-recursive root: 50 dirs, skip-scan */
  int n = 0;
  char *next = NULL;
  t0 = now_ms();
  CHECK_EQ_INT(bk_db_tree(db, b.id, "", 0, NULL, 1000, count_cb, &n, &next), 0);
  dt = now_ms() - t0;
  CHECK_EQ_INT(n, 50);
  free(next);
  printf("figure: non-recursive root listing over %d files (50 dirs with aggregates): %.2f ms "
         "(skip-scan)\n",
         NB * PER, dt);
  n = 0;
  t0 = now_ms();
  CHECK_EQ_INT(bk_db_tree(db, b.id, "", BK_TREE_DIR_STATS, NULL, 1000, count_cb, &n, &next), 0);
  CHECK_EQ_INT(n, 50);
  free(next);
  printf("figure: same with BK_TREE_DIR_STATS (aggregates are always there now): %.2f ms\n",
         now_ms() - t0);
  n = 0;
  t0 = now_ms();
  CHECK_EQ_INT(bk_db_tree(db, b.id, "dir07", 0, NULL, 1000, count_cb, &n, &next), 0);
  CHECK_EQ_INT(n, 20);
  printf("figure: non-recursive 'dir07' (2,000 files below, 20 dirs): %.2f ms\n", now_ms() - t0);
  free(next);
  /* CAS path: a xorb of 1,024 chunks, one shard with 1,000 one-chunk files,
   * then a batch of 1,000 addFile of those hashes with grant checks */
  {
    static bk_xorb_chunk ch[1024];
    bk_hash xh;
    mk_hash(&xh, 0xabcdef);
    uint32_t ro = 0, uo = 0;
    for (int i = 0; i < 1024; i++) {
      mk_hash(&ch[i].hash, 0x100000 + i);
      ch[i].record_offset = ro;
      ch[i].record_len = 60000;
      ch[i].unpacked_offset = uo;
      ch[i].unpacked_len = 65536;
      ro += 60000;
      uo += 65536;
    }
    t0 = now_ms();
    CHECK_EQ_INT(bk_db_xorb_register(db, &xh, ro, ch, 1024, NULL), 0);
    printf("figure: register a xorb of 1,024 chunks: %.1f ms\n", now_ms() - t0);
    static bk_shard_term terms[1000];
    static bk_shard_file files[1000];
    for (int i = 0; i < 1000; i++) {
      terms[i] = (bk_shard_term){.xorb_hash = xh, .chunk_start = (uint32_t)i,
                                 .chunk_end = (uint32_t)i + 1, .unpacked_bytes = 65536};
      mk_hash(&files[i].file_hash, 0x200000 + i);
      files[i].nterms = 1;
      files[i].terms = &terms[i];
    }
    bk_shard sh = {.nfiles = 1000, .files = files};
    bk_hash shh;
    mk_hash(&shh, 0x300000);
    t0 = now_ms();
    CHECK_EQ_INT(bk_db_shard_register(db, &shh, 12345, &sh, b.id, NULL, NULL), 0);
    printf("figure: register a shard of 1,000 files: %.1f ms\n", now_ms() - t0);
    for (int i = 0; i < PER; i++) {
      snprintf(names[i], sizeof names[i], "cas/file-%05d.bin", i);
      ops[i] = (bk_batch_op){.type = BK_OP_ADD, .path = names[i], .xet_hash = files[i].file_hash,
                             .mtime_ms = -1, .size = 65536};
    }
    size_t nf = 1;
    t0 = now_ms();
    CHECK_EQ_INT(bk_db_batch(db, b.id, ops, PER, BK_BATCH_REQUIRE_GRANT, &nf), 0);
    CHECK_EQ_INT(nf, 0);
    printf("figure: batch of 1,000 addFile of registered hashes with grant checks: %.1f ms "
           "(goal < 100 ms)\n", now_ms() - t0);
  }
  bk_usage us;
  t0 = now_ms();
  CHECK_EQ_INT(bk_db_bucket_usage(db, b.id, &us), 0);
  printf("figure: bucket usage over %" PRIu64 " files: %.1f ms\n", us.nfiles, now_ms() - t0);
  t0 = now_ms();
  CHECK_EQ_INT(bk_db_bucket_usage(db, b.id, &us), 0);
  printf("figure: same, cached (bucket unchanged): %.3f ms\n", now_ms() - t0);
  bk_db_close(db);
}

static void test_upgrade_v5(void) {
  if (!meta_is_sqlite()) return; /* SQLite schema history */
  char p[400];
  meta_url(p, sizeof p, "v4.sqlite");
  bk_db *db;
  CHECK_EQ_INT(bk_db_open_url(p, &db), 0);
  if (!db) return;
  bk_hash xh;
  reg_xorb(db, &xh, 555, 2, -1, NULL);
  bk_db_close(db);
  CHECK_EQ_INT(meta_exec(p,
                            "DROP INDEX xorbs_damaged; DROP TABLE scrub_state;"
                            "ALTER TABLE xorbs DROP COLUMN damaged;"
                            "ALTER TABLE xorbs DROP COLUMN verified_ms;"
                            "ALTER TABLE xorbs DROP COLUMN blob_stamp;"
                            "ALTER TABLE shards DROP COLUMN damaged; PRAGMA user_version=4;"),
               0);
  CHECK_EQ_INT(sql_int(p, "SELECT count(*) FROM pragma_table_info('xorbs') WHERE name = 'damaged'"),
               0);
  CHECK_EQ_INT(bk_db_open_url(p, &db), 0);
  if (!db) return;
  CHECK_EQ_INT(sql_int(p, "PRAGMA user_version"), bk_db_schema_version());
  bk_xorb_info xi;
  CHECK_EQ_INT(bk_db_xorb_get(db, &xh, &xi), 0);
  CHECK_EQ_INT(xi.damaged, 0);
  CHECK_EQ_INT(xi.verified_ms, 0);
  CHECK_EQ_INT(bk_db_xorb_set_damaged(db, &xh, 1), 0);
  CHECK_EQ_INT(bk_db_xorb_get(db, &xh, &xi), 0);
  CHECK_EQ_INT(xi.damaged, 1);
  CHECK_EQ_INT(sql_int(p, "SELECT count(*) FROM scrub_state"), 0);
  CHECK_EQ_INT(bk_db_check(db, NULL, NULL), 0);
  bk_db_close(db);
}

/* ---- the SQL seam: metadata URLs, transactions, no callback inside one ---- */

static void test_open_url(void) {
  char p[600];
  bk_db *db = NULL;
  CHECK_EQ_INT(bk_db_open_url(meta_url(p, sizeof p, "url.sqlite"), &db), 0);
  if (!db) return;
  CHECK_EQ_INT(bk_db_user_add(db, "viaurl", NULL), 0);
  bk_db_close(db);
  bk_ns ns;
  CHECK_EQ_INT(bk_db_open_url(p, &db), 0);
  if (!db) return;
  CHECK_EQ_INT(bk_db_ns_get(db, "viaurl", &ns), 0);
  bk_db_close(db);
  CHECK_EQ_INT(sql_int(p, "SELECT count(*) FROM namespaces WHERE name = 'viaurl'"), 1);
  /* unknown or missing scheme: refused before anything is opened */
  db = (bk_db *)1;
  CHECK_EQ_INT(bk_db_open_url("postgresx://localhost/meta", &db), BK_EINVAL);
  CHECK(db == NULL);
  CHECK(strstr(bk_errmsg(), "scheme") != NULL);
  CHECK_EQ_INT(bk_db_open_url("/tmp/plain/path.db", &db), BK_EINVAL);
  CHECK_EQ_INT(bk_db_open_url("sqlite://", &db), BK_EINVAL);
  CHECK_EQ_INT(bk_db_open_url(NULL, &db), BK_EINVAL);
  bk_sql_conn *c = NULL;
  CHECK_EQ_INT(bk_sql_connect_url("nosuch:///x", &c), BK_EINVAL);
  CHECK(c == NULL);
}

struct fence_arg {
  bk_db *db;
  double waited_ms;
  int rc;
};

static void *fence_taker(void *p) {
  struct fence_arg *a = p;
  double t0 = now_ms();
  bk_db_tx *tx = NULL;
  a->rc = bk_db_tx_begin(a->db, BK_TX_GC_FENCE, &tx);
  a->waited_ms = now_ms() - t0;
  if (a->rc == 0) a->rc = bk_db_tx_commit(tx);
  return NULL;
}

static void test_tx_register(void) {
  char p[600];
  meta_url(p, sizeof p, "tx.sqlite");
  bk_db *db = NULL, *other = NULL;
  CHECK_EQ_INT(bk_db_open_url(p, &db), 0);
  CHECK_EQ_INT(bk_db_open_url(p, &other), 0);
  if (!db || !other) return;
  bk_db_tx *tx = NULL;
  CHECK_EQ_INT(bk_db_tx_begin(db, (bk_tx_mode)42, &tx), BK_EINVAL);
  CHECK(tx == NULL);
  bk_xorb_chunk ch[3];
  uint32_t ro = 0, uo = 0;
  bk_hash x, fh, sh;
  mk_hash(&x, 9001);
  mk_hash(&fh, 9002);
  mk_hash(&sh, 9003);
  for (uint32_t i = 0; i < 3; i++) {
    mk_hash(&ch[i].hash, 9100 + i);
    ch[i].hash.b[24] |= 1;
    ch[i].record_offset = ro;
    ch[i].record_len = 100 + i;
    ch[i].unpacked_offset = uo;
    ch[i].unpacked_len = 1000 + i;
    ch[i].scheme = 0;
    ro += ch[i].record_len;
    uo += ch[i].unpacked_len;
  }
  /* a read transaction cannot register */
  CHECK_EQ_INT(bk_db_tx_begin(db, BK_TX_READ, &tx), 0);
  CHECK_EQ_INT(bk_db_xorb_register_tx(tx, &x, ro, ch, 3, 0, 0, NULL), BK_EINVAL);
  bk_db_tx_rollback(tx);
  /* rolled back: nothing stays */
  int existed = -1;
  CHECK_EQ_INT(bk_db_tx_begin(db, BK_TX_GC_FENCE, &tx), 0);
  CHECK_EQ_INT(bk_db_xorb_register_tx(tx, &x, ro, ch, 3, BK_XORB_REG_VERIFIED, 77, &existed), 0);
  CHECK_EQ_INT(existed, 0);
  CHECK_EQ_INT(bk_db_xorb_exists(other, &x), 0); /* not committed yet */
  bk_db_tx_rollback(tx);
  CHECK_EQ_INT(bk_db_xorb_exists(db, &x), 0);
  /* committed: xorb and shard registered in one fenced transaction */
  CHECK_EQ_INT(bk_db_tx_begin(db, BK_TX_GC_FENCE, &tx), 0);
  CHECK_EQ_INT(bk_db_xorb_register_tx(tx, &x, ro, ch, 3, BK_XORB_REG_VERIFIED, 77, &existed), 0);
  CHECK_EQ_INT(existed, 0);
  bk_hash missing;
  CHECK_EQ_INT(bk_db_shard_register_tx(tx, &sh, 55, one_file_shard(&fh, &x, 0, 3, NULL, 0, 0), 0,
                                       &missing, &existed), 0);
  CHECK_EQ_INT(existed, 0);
  /* the fence: another handle's fenced transaction waits for this one */
  struct fence_arg fa = {other, 0, -1};
  pthread_t th;
  pthread_create(&th, NULL, fence_taker, &fa);
  usleep(300 * 1000);
  CHECK_EQ_INT(bk_db_shard_exists(other, &sh), 0);
  CHECK_EQ_INT(bk_db_tx_commit(tx), 0);
  pthread_join(th, NULL);
  CHECK_EQ_INT(fa.rc, 0);
  CHECK(fa.waited_ms >= 200);
  CHECK_EQ_INT(bk_db_xorb_exists(other, &x), 1);
  CHECK_EQ_INT(bk_db_shard_exists(other, &sh), 1);
  bk_xorb_info xi;
  CHECK_EQ_INT(bk_db_xorb_get(other, &x, &xi), 0);
  CHECK_EQ_INT(xi.nchunks, 3);
  CHECK_EQ_INT(xi.blob_stamp, 77);
  CHECK(xi.verified_ms > 0);
  bk_cas_file f;
  CHECK_EQ_INT(bk_db_cas_file_get(other, &fh, &f), 0);
  /* again: existed */
  CHECK_EQ_INT(bk_db_tx_begin(db, BK_TX_WRITE, &tx), 0);
  CHECK_EQ_INT(bk_db_xorb_register_tx(tx, &x, ro, ch, 3, 0, 0, &existed), 0);
  CHECK_EQ_INT(existed, 1);
  CHECK_EQ_INT(bk_db_tx_commit(tx), 0);
  /* a shard naming an unknown xorb fails inside the tx, which then rolls back */
  bk_hash x2, sh2, fh2;
  mk_hash(&x2, 9004);
  mk_hash(&sh2, 9005);
  mk_hash(&fh2, 9006);
  CHECK_EQ_INT(bk_db_tx_begin(db, BK_TX_GC_FENCE, &tx), 0);
  CHECK_EQ_INT(bk_db_shard_register_tx(tx, &sh2, 55, one_file_shard(&fh2, &x2, 0, 3, NULL, 0, 0),
                                       0, &missing, NULL), BK_ENOTFOUND);
  CHECK(bk_hash_eq(&missing, &x2));
  bk_db_tx_rollback(tx);
  CHECK_EQ_INT(bk_db_shard_exists(db, &sh2), 0);
  CHECK_EQ_INT(bk_db_check(db, NULL, NULL), 0);
  bk_db_close(other);
  bk_db_close(db);
}

/* Every listing reads its rows and gives its connection back BEFORE it calls
 * the caller's callback (no callback inside an open transaction). */
struct held_probe {
  int calls, held;
};

static int probe_file(void *ctx, const bk_file_entry *e) {
  (void)e;
  struct held_probe *h = ctx;
  h->calls++;
  h->held += db_conns_held();
  return 0;
}
static int probe_bucket(void *ctx, const bk_bucket *b) { (void)b; return probe_file(ctx, NULL); }
static int probe_xorb(void *ctx, const bk_xorb_info *x) { (void)x; return probe_file(ctx, NULL); }
static int probe_shard(void *ctx, const bk_shard_info *s) { (void)s; return probe_file(ctx, NULL); }
static int probe_cfile(void *ctx, const bk_cas_file *f) { (void)f; return probe_file(ctx, NULL); }
static int probe_token(void *ctx, const bk_token_info *t) { (void)t; return probe_file(ctx, NULL); }
static int probe_member(void *ctx, const bk_ns *n, int role) {
  (void)n;
  (void)role;
  return probe_file(ctx, NULL);
}
static int probe_msg(void *ctx, const char *m) { (void)m; return probe_file(ctx, NULL); }

static void test_callbacks_outside_tx(void) {
  bk_db *db = fresh_db();
  if (!db) { CHECK(0); return; }
  bk_ns u, org;
  CHECK_EQ_INT(bk_db_user_add(db, "cbuser", &u), 0);
  CHECK_EQ_INT(bk_db_org_add(db, "cborg", u.id, &org), 0);
  char tok[BK_TOKEN_LEN + 1];
  CHECK_EQ_INT(bk_db_token_add(db, u.id, BK_ROLE_READ, tok, NULL), 0);
  bk_bucket b;
  CHECK_EQ_INT(bk_db_bucket_create(db, u.id, "cb1", 0, &b), 0);
  CHECK_EQ_INT(bk_db_bucket_create(db, u.id, "cb2", 0, NULL), 0);
  bk_hash x, fh, sh;
  reg_xorb(db, &x, 9201, 2, -1, NULL);
  mk_hash(&fh, 9202);
  mk_hash(&sh, 9203);
  CHECK_EQ_INT(bk_db_shard_register(db, &sh, 1, one_file_shard(&fh, &x, 0, 2, NULL, 0, 0), b.id,
                                    NULL, NULL), 0);
  bk_batch_op ops[3] = {
      {.type = BK_OP_ADD, .path = "top", .xet_hash = fh, .mtime_ms = -1, .size = -1},
      {.type = BK_OP_ADD, .path = "d/a", .xet_hash = fh, .mtime_ms = -1, .size = -1},
      {.type = BK_OP_ADD, .path = "d/b", .xet_hash = fh, .mtime_ms = -1, .size = -1}};
  size_t nf;
  CHECK_EQ_INT(bk_db_batch(db, b.id, ops, 3, 0, &nf), 0);
  CHECK_EQ_INT(db_conns_held(), 0);
  struct held_probe h = {0, 0};
  char *next = NULL;
  CHECK_EQ_INT(bk_db_tree(db, b.id, "", 0, NULL, 10, probe_file, &h, &next), 0);
  CHECK_EQ_INT(bk_db_tree(db, b.id, "d", BK_TREE_RECURSIVE, NULL, 1, probe_file, &h, &next), 0);
  CHECK(next != NULL);
  free(next);
  const char *paths[] = {"top", "d/a", "nope"};
  CHECK_EQ_INT(bk_db_paths_info(db, b.id, paths, 3, probe_file, &h), 0);
  CHECK_EQ_INT(h.calls, 2 + 1 + 2);
  CHECK_EQ_INT(bk_db_bucket_list(db, u.id, NULL, 1, NULL, 10, probe_bucket, &h, NULL), 0);
  CHECK_EQ_INT(bk_db_xorb_list(db, probe_xorb, &h), 0);
  CHECK_EQ_INT(bk_db_xorb_list_after(db, 0, 5, probe_xorb, &h), 0);
  CHECK_EQ_INT(bk_db_shard_list(db, probe_shard, &h), 0);
  CHECK_EQ_INT(bk_db_shard_list_after(db, 0, 5, probe_shard, &h), 0);
  CHECK_EQ_INT(bk_db_cas_file_list(db, probe_cfile, &h), 0);
  CHECK_EQ_INT(bk_db_token_list(db, u.id, probe_token, &h), 0);
  CHECK_EQ_INT(bk_db_user_orgs(db, u.id, probe_member, &h), 0);
  CHECK_EQ_INT(bk_db_org_members(db, org.id, probe_member, &h), 0);
  /* 5 above, 2 buckets, xorb x2, shard x2, 1 file, 1 token, 1 org, 1 member */
  CHECK_EQ_INT(h.calls, 5 + 2 + 2 + 2 + 1 + 1 + 1 + 1);
  CHECK_EQ_INT(h.held, 0);
  /* bk_db_check's messages too (a damaged chunk table, injected through the driver) */
  bk_db_close(db);
  char p[600];
  snprintf(p, sizeof p, "%s/db%d.sqlite", meta_base, dbn - 1);
  CHECK_EQ_INT(meta_exec(p, "DELETE FROM xorb_chunks WHERE idx = 1"), 0);
  CHECK_EQ_INT(bk_db_open_url(p, &db), 0);
  if (!db) return;
  h = (struct held_probe){0, 0};
  CHECK_EQ_INT(bk_db_check(db, probe_msg, &h), 1);
  CHECK_EQ_INT(h.calls, 1);
  CHECK_EQ_INT(h.held, 0);
  bk_db_close(db);
}

/* Bucket search is a plain case-insensitive substring: LIKE wildcards in
 * the search text match only themselves. */
static int count_buckets(void *ctx, const bk_bucket *b) {
  (void)b;
  (*(int *)ctx)++;
  return 0;
}

static void test_bucket_search_literal(void) {
  bk_db *db = fresh_db();
  if (!db) { CHECK(0); return; }
  bk_ns u;
  CHECK_EQ_INT(bk_db_user_add(db, "srch", &u), 0);
  const char *names[] = {"Model_A", "modelxa", "data-set", "a.b"};
  for (int i = 0; i < 4; i++) CHECK_EQ_INT(bk_db_bucket_create(db, u.id, names[i], 0, NULL), 0);
  struct { const char *q; int n; } cases[] = {
      {"model", 2}, {"MODEL_a", 1}, {"_", 1}, {"%", 0}, {"l_a", 1}, {"!", 0}, {".", 1},
      {"a", 4}, {"-S", 1}, {"zz", 0}};
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    int n = 0;
    CHECK_EQ_INT(bk_db_bucket_list(db, u.id, cases[i].q, 1, NULL, 100, count_buckets, &n, NULL), 0);
    if (n != cases[i].n) fprintf(stderr, "  search '%s'\n", cases[i].q);
    CHECK_EQ_INT(n, cases[i].n);
  }
  bk_db_close(db);
}

/* gc's pending deletes (schema v8): portable SQL, so this runs on every
 * metadata URL. Records are written inside a fenced transaction, listed by
 * due time, the later due time wins on a second add (keep = 0), an existing
 * record stands with keep = 1, and a read transaction cannot write them. */
static void test_pending_deletes(void) {
  char p[400];
  meta_url(p, sizeof p, "pending.sqlite");
  bk_db *db;
  CHECK_EQ_INT(bk_db_open_url(p, &db), 0);
  if (!db) return;
  bk_hash a, b, c;
  mk_hash(&a, 801);
  mk_hash(&b, 802);
  mk_hash(&c, 803);
  bk_db_tx *tx = NULL;
  CHECK_EQ_INT(bk_db_tx_begin(db, BK_TX_GC_FENCE, &tx), 0);
  CHECK_EQ_INT(bk_db_pending_add_tx(tx, BK_BLOB_XORB, &a, 1000, 0), 0);
  CHECK_EQ_INT(bk_db_pending_add_tx(tx, BK_BLOB_SHARD, &a, 3000, 0), 0); /* same hash, other kind */
  CHECK_EQ_INT(bk_db_pending_add_tx(tx, BK_BLOB_XORB, &b, 2000, 0), 0);
  CHECK_EQ_INT(bk_db_pending_add_tx(tx, BK_BLOB_XORB, &b, 500, 0), 0);   /* later due wins */
  CHECK_EQ_INT(bk_db_pending_add_tx(tx, BK_BLOB_XORB, &a, 1500, 1), 0);  /* keep: stays 1000 */
  CHECK_EQ_INT(bk_db_pending_add_tx(tx, (bk_blob_kind)7, &c, 1, 0), BK_EINVAL);
  CHECK_EQ_INT(bk_db_tx_commit(tx), 0);
  uint64_t n = 0;
  CHECK_EQ_INT(bk_db_pending_count(db, &n), 0);
  CHECK_EQ_INT((int)n, 3);
  int64_t due = 0;
  CHECK_EQ_INT(bk_db_pending_get(db, BK_BLOB_XORB, &a, &due), 1);
  CHECK_EQ_INT((int)due, 1000);
  CHECK_EQ_INT(bk_db_pending_get(db, BK_BLOB_XORB, &b, &due), 1);
  CHECK_EQ_INT((int)due, 2000);
  CHECK_EQ_INT(bk_db_pending_get(db, BK_BLOB_XORB, &c, &due), 0);
  bk_gc_item it[4];
  size_t k = 0;
  CHECK_EQ_INT(bk_db_pending_due(db, 999, 4, it, &k), 0);
  CHECK_EQ_INT((int)k, 0);
  CHECK_EQ_INT(bk_db_pending_due(db, 2500, 4, it, &k), 0);
  CHECK_EQ_INT((int)k, 2);
  CHECK(k == 2 && bk_hash_eq(&it[0].hash, &a) && it[0].kind == BK_BLOB_XORB);
  CHECK(k == 2 && bk_hash_eq(&it[1].hash, &b));
  CHECK_EQ_INT(bk_db_pending_due(db, 9999, 1, it, &k), 0); /* limit holds */
  CHECK_EQ_INT((int)k, 1);
  CHECK_EQ_INT(bk_db_pending_due(db, 9999, 0, it, &k), BK_EINVAL);
  /* removal: in a writable transaction only; a rollback keeps the record */
  CHECK_EQ_INT(bk_db_tx_begin(db, BK_TX_READ, &tx), 0);
  CHECK_EQ_INT(bk_db_pending_del_tx(tx, BK_BLOB_XORB, &a), BK_EINVAL);
  bk_db_tx_rollback(tx);
  CHECK_EQ_INT(bk_db_tx_begin(db, BK_TX_GC_FENCE, &tx), 0);
  CHECK_EQ_INT(bk_db_pending_del_tx(tx, BK_BLOB_XORB, &a), 0);
  bk_db_tx_rollback(tx);
  CHECK_EQ_INT(bk_db_pending_get(db, BK_BLOB_XORB, &a, NULL), 1);
  CHECK_EQ_INT(bk_db_tx_begin(db, BK_TX_GC_FENCE, &tx), 0);
  CHECK_EQ_INT(bk_db_pending_del_tx(tx, BK_BLOB_XORB, &a), 0);
  CHECK_EQ_INT(bk_db_pending_del_tx(tx, BK_BLOB_XORB, &c), 0); /* none: fine */
  CHECK_EQ_INT(bk_db_tx_commit(tx), 0);
  CHECK_EQ_INT(bk_db_pending_get(db, BK_BLOB_XORB, &a, NULL), 0);
  CHECK_EQ_INT(bk_db_pending_get(db, BK_BLOB_SHARD, &a, NULL), 1);
  CHECK_EQ_INT(bk_db_pending_count(db, &n), 0);
  CHECK_EQ_INT((int)n, 2);
  bk_db_close(db);
}

/* v7 -> v8 adds the pending_deletes table (and its index) and keeps
 * everything else; running the step again is harmless. */
static void test_upgrade_v8(void) {
  if (!meta_is_sqlite()) return; /* SQLite schema history */
  char p[400];
  meta_url(p, sizeof p, "v7.sqlite");
  bk_db *db;
  CHECK_EQ_INT(bk_db_open_url(p, &db), 0);
  if (!db) return;
  bk_hash xh;
  reg_xorb(db, &xh, 777, 2, -1, NULL);
  bk_db_close(db);
  CHECK_EQ_INT(meta_exec(p, "DROP TABLE pending_deletes; PRAGMA user_version=7;"), 0);
  CHECK_EQ_INT(sql_int(p, "SELECT count(*) FROM sqlite_master WHERE name = 'pending_deletes'"), 0);
  CHECK_EQ_INT(bk_db_open_url(p, &db), 0);
  if (!db) return;
  CHECK_EQ_INT(sql_int(p, "PRAGMA user_version"), bk_db_schema_version());
  CHECK_EQ_INT(sql_int(p, "SELECT count(*) FROM sqlite_master WHERE name = 'pending_deletes'"), 1);
  CHECK_EQ_INT(sql_int(p, "SELECT count(*) FROM sqlite_master WHERE name = 'pending_deletes_due'"),
               1);
  CHECK_EQ_INT(bk_db_xorb_exists(db, &xh), 1);
  bk_db_tx *tx = NULL;
  CHECK_EQ_INT(bk_db_tx_begin(db, BK_TX_GC_FENCE, &tx), 0);
  CHECK_EQ_INT(bk_db_pending_add_tx(tx, BK_BLOB_XORB, &xh, 5, 0), 0);
  CHECK_EQ_INT(bk_db_tx_commit(tx), 0);
  bk_db_close(db);
  CHECK_EQ_INT(meta_exec(p, "PRAGMA user_version=7;"), 0); /* the step again: table exists */
  CHECK_EQ_INT(bk_db_open_url(p, &db), 0);
  if (!db) return;
  CHECK_EQ_INT(sql_int(p, "PRAGMA user_version"), bk_db_schema_version());
  CHECK_EQ_INT(bk_db_pending_get(db, BK_BLOB_XORB, &xh, NULL), 1);
  CHECK_EQ_INT(bk_db_check(db, NULL, NULL), 0);
  bk_db_close(db);
}

/* Runs the domain tests against the metadata base URL base. */
static void run_suite(const char *base) {
  meta_set_base(base);
  fprintf(stderr, "-- metadata suite on %s\n", meta_is_pg(base) ? "postgresql" : meta_base);
  RUN(test_users_orgs);
  RUN(test_membership_lists);
  RUN(test_tokens);
  RUN(test_permissions);
  RUN(test_buckets);
  RUN(test_tree_model);
  RUN(test_paths_info_and_batch);
  RUN(test_batch_addfile_only);
  RUN(test_batch_atomic);
  RUN(test_xorbs);
  RUN(test_shards);
  RUN(test_accounting);
  RUN(test_gc);
  RUN(test_dedup_holders);
  RUN(test_upgrade_v5);
  RUN(test_pending_deletes);
  RUN(test_upgrade_v8);
  RUN(test_bucket_region);
  RUN(test_check_damage);
  RUN(test_dir_aggregates);
  RUN(test_reopen);
  RUN(test_concurrency);
  RUN(test_nested_callbacks);
  RUN(test_open_url);
  RUN(test_tx_register);
  RUN(test_callbacks_outside_tx);
  RUN(test_bucket_search_literal);
}

int main(void) {
  snprintf(root, sizeof root, "/tmp/bk_db_XXXXXX");
  if (!mkdtemp(root)) return 1;
  RUN(test_names);
  RUN(test_paths);
  /* BK_TEST_DB_URLS: space-separated metadata base URLs (default: SQLite in
   * the temp dir); every domain test runs against each */
  const char *urls = getenv("BK_TEST_DB_URLS");
  char def[300];
  snprintf(def, sizeof def, "sqlite://%s", root);
  if (!urls || !*urls) urls = def;
  char *list = strdup(urls);
  char *sv = NULL;
  for (char *u = list ? strtok_r(list, " ", &sv) : NULL; u; u = strtok_r(NULL, " ", &sv))
  {
    run_suite(u);
    if (meta_drop_all() != 0) fprintf(stderr, "drop databases: %s\n", bk_errmsg());
  }
  free(list);
  snprintf(meta_base, sizeof meta_base, "sqlite://%s", root);
  RUN(test_perf_figures);
  for (int i = 0; i < npaths; i++) free(paths[i]);
  char cmd[300];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
  if (system(cmd) != 0) fprintf(stderr, "cleanup failed\n");
  return test_summary();
}
