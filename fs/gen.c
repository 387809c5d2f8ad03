/* gen.c - generations of samples/ inodes (see node.h for why they exist).
 * A small hash map, sample id -> generation, holding only samples that were
 * ever moved out of samples/ in this mount; everything else is generation
 * 0.  Bounded by the number of distinct samples moved.
 *
 * Ownership: the map (c->gens) is created by state_init() and freed by
 * state_free().  Locking: m->mu guards keys, vals, cap and n. */
#include <errno.h>
#include <stdlib.h>

#include "vtree.h"

struct gen_map {
  pthread_mutex_t mu;
  uint64_t *keys;     /* 0 = empty slot */
  uint16_t *vals;
  size_t cap, n;
};

static size_t slot(const struct gen_map *m, uint64_t k)
{
  size_t i = (size_t)((k * 0x9E3779B97F4A7C15ULL) >> 20) & (m->cap - 1);
  while (m->keys[i] && m->keys[i] != k)
    i = (i + 1) & (m->cap - 1);
  return i;
}

int fs_gen_new(struct fs_ctx *c)
{
  struct gen_map *m = calloc(1, sizeof(*m));

  if (!m)
    return -ENOMEM;
  pthread_mutex_init(&m->mu, NULL);
  c->gens = m;
  return 0;
}

uint16_t fs_sample_gen(struct fs_ctx *c, uint64_t id)
{
  struct gen_map *m = c->gens;
  uint16_t g = 0;

  pthread_mutex_lock(&m->mu);
  if (m->cap) {
    size_t i = slot(m, id);
    g = m->keys[i] ? m->vals[i] : 0;
  }
  pthread_mutex_unlock(&m->mu);
  return g;
}

static int grow(struct gen_map *m)
{
  size_t ncap = m->cap ? m->cap * 2 : 1024;
  uint64_t *ok = m->keys;
  uint16_t *ov = m->vals;
  size_t ocap = m->cap;

  VTREE_ASSERT_HELD(&m->mu);
  m->keys = calloc(ncap, sizeof(*m->keys));
  m->vals = calloc(ncap, sizeof(*m->vals));
  if (!m->keys || !m->vals) {
    free(m->keys);
    free(m->vals);
    m->keys = ok;
    m->vals = ov;
    return -1;
  }
  m->cap = ncap;
  for (size_t i = 0; i < ocap; i++)
    if (ok[i]) {
      size_t j = slot(m, ok[i]);
      m->keys[j] = ok[i];
      m->vals[j] = ov[i];
    }
  free(ok);
  free(ov);
  return 0;
}

void fs_sample_gen_bump(struct fs_ctx *c, uint64_t id)
{
  struct gen_map *m = c->gens;
  size_t i;

  pthread_mutex_lock(&m->mu);
  if ((m->n + 1) * 2 > m->cap && grow(m) < 0) {
    pthread_mutex_unlock(&m->mu);
    return;
  }
  i = slot(m, id);
  if (!m->keys[i]) {
    m->keys[i] = id;
    m->vals[i] = 0;
    m->n++;
  }
  m->vals[i]++;
  pthread_mutex_unlock(&m->mu);
}

void fs_gen_free(struct fs_ctx *c)
{
  struct gen_map *m = c->gens;

  if (!m)
    return;
  free(m->keys);
  free(m->vals);
  pthread_mutex_destroy(&m->mu);
  free(m);
  c->gens = NULL;
}
