/* buckets — name, object-key and region validation (pure; see
 * include/buckets/names.h). */
#include <string.h>

#include "buckets/names.h"

static int is_alnum(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

int bk_name_valid(const char *name) {
  if (!name || !is_alnum((unsigned char)name[0])) return 0;
  size_t n = 0;
  for (const char *p = name; *p; p++, n++) {
    unsigned char c = (unsigned char)*p;
    if (n >= BK_NAME_MAX) return 0;
    if (!is_alnum(c) && c != '.' && c != '_' && c != '-') return 0;
    if ((c == '-' || c == '.') && p[1] == c) return 0;
  }
  return 1;
}

/* Length of the UTF-8 sequence at p (n bytes available), 0 if invalid. */
static size_t utf8_seq(const unsigned char *p, size_t n) {
  unsigned c = p[0];
  if (c < 0x80) return 1;
  size_t len;
  unsigned cp;
  if (c >= 0xC2 && c <= 0xDF) { len = 2; cp = c & 0x1F; }
  else if (c >= 0xE0 && c <= 0xEF) { len = 3; cp = c & 0x0F; }
  else if (c >= 0xF0 && c <= 0xF4) { len = 4; cp = c & 0x07; }
  else return 0;
  if (n < len) return 0;
  for (size_t i = 1; i < len; i++) {
    if ((p[i] & 0xC0) != 0x80) return 0;
    cp = (cp << 6) | (p[i] & 0x3F);
  }
  if (len == 3 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))) return 0;
  if (len == 4 && (cp < 0x10000 || cp > 0x10FFFF)) return 0;
  return len;
}

int bk_path_valid(const char *path, size_t len) {
  if (!path || len == 0 || len > BK_PATH_MAX) return 0;
  const unsigned char *p = (const unsigned char *)path;
  if (p[0] == '/' || p[len - 1] == '/') return 0;
  size_t seg_start = 0;
  for (size_t i = 0; i < len;) {
    unsigned char c = p[i];
    if (c < 0x20 || c == 0x7f || c == '\\') return 0;
    size_t l = utf8_seq(p + i, len - i);
    if (l == 0) return 0;
    if (c == '/' || i + l == len) {
      size_t seg_end = c == '/' ? i : len;
      size_t sl = seg_end - seg_start;
      if (sl == 0) return 0;
      if (sl == 1 && p[seg_start] == '.') return 0;
      if (sl == 2 && p[seg_start] == '.' && p[seg_start + 1] == '.') return 0;
      seg_start = i + 1;
    }
    i += l;
  }
  return 1;
}

int bk_region_valid(const char *region) {
  return region && (!strcmp(region, "us") || !strcmp(region, "eu"));
}

int bk_region_name_valid(const char *name) {
  if (!name || !(name[0] >= 'a' && name[0] <= 'z')) return 0;
  size_t n = 1;
  for (; name[n]; n++) {
    char c = name[n];
    if (n >= BK_REGION_NAME_MAX) return 0;
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-')) return 0;
  }
  return 1;
}
