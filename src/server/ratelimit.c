/* bucketd — fixed-window rate limits. See ratelimit.h. */
#include "server/ratelimit.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buckets/error.h"
#include "util/fsutil.h"
#include "buckets/hash.h"
#include "store/settings.h"

#define PROBE 32u

typedef struct slot {
  uint64_t id;     /* keyed hash of (class, caller); 0 = never used */
  int64_t window;  /* start of the window the count belongs to */
  uint32_t count;
} slot;

struct bk_ratelimit {
  pthread_mutex_t mu;
  unsigned quota[BK_RL_NCLASSES];
  unsigned window;
  uint8_t key[32]; /* random: callers cannot aim at each other's slots */
  slot *slots;                   /* in-process mode; NULL in shared mode */
  slot overflow[BK_RL_NCLASSES];
  struct bk_db *db;              /* shared mode: counters in the database */
  int64_t pruned_w, err_w;       /* shared mode: last window pruned / error logged */
};

static const char *const names[BK_RL_NCLASSES] = {"api", "resolvers", "pages"};

const char *bk_ratelimit_class_name(int cls) {
  return cls >= 0 && cls < BK_RL_NCLASSES ? names[cls] : "none";
}

static int rl_alloc(const unsigned quota[BK_RL_NCLASSES], unsigned window, bk_ratelimit **out) {
  bk_ratelimit *rl = calloc(1, sizeof *rl);
  if (!rl) return bk_seterr(BK_ENOMEM, "out of memory");
  memcpy(rl->quota, quota, sizeof rl->quota);
  rl->window = window ? window : BK_RL_WINDOW_DEFAULT;
  pthread_mutex_init(&rl->mu, NULL);
  *out = rl;
  return 0;
}

int bk_ratelimit_new(const unsigned quota[BK_RL_NCLASSES], unsigned window, bk_ratelimit **out) {
  bk_ratelimit *rl = NULL;
  int rc = rl_alloc(quota, window, &rl);
  if (rc) return rc;
  rl->slots = calloc(BK_RL_SLOTS, sizeof *rl->slots);
  if (!rl->slots || bk_random_bytes(rl->key, sizeof rl->key) != 0) {
    bk_ratelimit_free(rl);
    return bk_seterr(BK_ENOMEM, "rate limiter: out of memory");
  }
  *out = rl;
  return 0;
}

int bk_ratelimit_new_shared(const unsigned quota[BK_RL_NCLASSES], unsigned window,
                            struct bk_db *db, const uint8_t key[32], bk_ratelimit **out) {
  if (!db || !key) return bk_seterr(BK_EINVAL, "shared rate limiter needs a database and a key");
  bk_ratelimit *rl = NULL;
  int rc = rl_alloc(quota, window, &rl);
  if (rc) return rc;
  rl->db = db;
  memcpy(rl->key, key, sizeof rl->key);
  *out = rl;
  return 0;
}

void bk_ratelimit_free(bk_ratelimit *rl) {
  if (!rl) return;
  pthread_mutex_destroy(&rl->mu);
  free(rl->slots);
  free(rl);
}

static uint64_t caller_id(const bk_ratelimit *rl, int cls, const char *caller) {
  uint8_t msg[1 + 256];
  size_t n = strlen(caller);
  if (n > 256) n = 256;
  msg[0] = (uint8_t)cls;
  memcpy(msg + 1, caller, n);
  bk_hash h;
  bk_keyed_hash(rl->key, msg, 1 + n, &h);
  uint64_t id = bk_hash_head_u64(&h);
  return id ? id : 1;
}

/* The caller's counter for the window starting at w: its own slot, else a
 * slot whose window has passed, else the class's overflow counter. */
static slot *find_slot(bk_ratelimit *rl, int cls, uint64_t id, int64_t w) {
  slot *free_slot = NULL;
  for (unsigned i = 0; i < PROBE; i++) {
    slot *s = &rl->slots[(id + i) & (BK_RL_SLOTS - 1)];
    if (s->id == id) return s;
    if (!free_slot && (s->id == 0 || s->window != w)) free_slot = s;
  }
  if (!free_slot) return &rl->overflow[cls];
  free_slot->id = id;
  free_slot->window = w;
  free_slot->count = 0;
  return free_slot;
}

/* Shared mode: one UPSERT in the database; old windows pruned once per
 * window per limiter; a database error lets the request through. */
static int take_shared(bk_ratelimit *rl, uint64_t id, int64_t w, bk_rl_state *st) {
  int prune = 0;
  pthread_mutex_lock(&rl->mu);
  if (w > rl->pruned_w) {
    rl->pruned_w = w;
    prune = 1;
  }
  pthread_mutex_unlock(&rl->mu);
  int allowed = 1;
  unsigned count = 0;
  int rc = bk_db_rate_take(rl->db, (int64_t)id, w, st->quota, &allowed, &count);
  if (!rc && prune) rc = bk_db_rate_prune(rl->db, w - (int64_t)rl->window);
  if (rc) {
    pthread_mutex_lock(&rl->mu);
    int log = w > rl->err_w;
    if (log) rl->err_w = w;
    pthread_mutex_unlock(&rl->mu);
    if (log) fprintf(stderr, "bucketd: shared rate limit: %s (requests let through)\n", bk_errmsg());
    if (count == 0) { /* the count itself failed: no limit for this request */
      memset(st, 0, sizeof *st);
      return 1;
    }
  }
  st->remaining = st->quota - count;
  return allowed;
}

int bk_ratelimit_take(bk_ratelimit *rl, int cls, const char *caller, int64_t now, bk_rl_state *st) {
  memset(st, 0, sizeof *st);
  if (!rl || cls < 0 || cls >= BK_RL_NCLASSES || rl->quota[cls] == 0) return 1;
  int64_t w = now - now % (int64_t)rl->window;
  st->quota = rl->quota[cls];
  st->window = rl->window;
  st->reset = (unsigned)(w + (int64_t)rl->window - now);
  uint64_t id = caller_id(rl, cls, caller ? caller : "");
  if (rl->db) return take_shared(rl, id, w, st);
  pthread_mutex_lock(&rl->mu);
  slot *s = find_slot(rl, cls, id, w);
  if (s->window != w) { /* a new window for this caller (or the overflow) */
    s->window = w;
    s->count = 0;
  }
  int ok = s->count < st->quota;
  if (ok) s->count++;
  st->remaining = st->quota - s->count;
  pthread_mutex_unlock(&rl->mu);
  return ok;
}

int bk_ratelimit_parse(const char *spec, unsigned quota[BK_RL_NCLASSES], unsigned *window) {
  const char *p = spec;
  while (p && *p) {
    const char *comma = strchr(p, ',');
    size_t len = comma ? (size_t)(comma - p) : strlen(p);
    const char *eq = memchr(p, '=', len);
    if (!eq) return bk_seterr(BK_EINVAL, "rate limit '%.*s': expected NAME=NUMBER", (int)len, p);
    size_t klen = (size_t)(eq - p);
    char *end;
    unsigned long v = strtoul(eq + 1, &end, 10);
    if (end == eq + 1 || end != p + len || v > 100000000ul)
      return bk_seterr(BK_EINVAL, "rate limit '%.*s': bad number", (int)len, p);
    int cls = -1;
    for (int c = 0; c < BK_RL_NCLASSES; c++)
      if (strlen(names[c]) == klen && !strncmp(p, names[c], klen)) cls = c;
    if (cls >= 0) {
      quota[cls] = (unsigned)v;
    } else if (klen == 6 && !strncmp(p, "window", 6) && v >= 1 && v <= 86400) {
      *window = (unsigned)v;
    } else {
      return bk_seterr(BK_EINVAL, "rate limit '%.*s': unknown name (api, resolvers, pages, window)",
                       (int)len, p);
    }
    p = comma ? comma + 1 : NULL;
  }
  return 0;
}
