/* test_dynlib.c - core/base/dynlib.h on a real library (libm, which
 * every build has): a missing library and a missing function give
 * -ELIBACC with the reason logged once and the table all NULL; the
 * loaded hook runs once, may look up optional functions with
 * dynlib_sym(), and its error is remembered; eight threads making the
 * first call at once see one load, one hook and a filled table.
 */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <unistd.h>

#include "dynlib.h"
#include "util.h"
#include "testlib.h"

#define LIBM "libm.so.6"

static int logged;
static char last[512];

static void sink(enum log_level lvl, const char *line, void *ud)
{
  (void)ud;
  if (lvl == LOG_LVL_ERROR) {
    logged++;
    snprintf(last, sizeof(last), "%s", line);
  }
}

static struct {
  typeof(cos) *cos;
  typeof(sqrt) *sqrt;
} m;

TEST(missing_library)
{
  static const struct dynsym syms[] = { { "cos", (void **)&m.cos } };
  static struct dynlib l = DYNLIB_INIT("libcuratefs-no-such.so.7", syms);

  log_set_sink(sink, NULL, LOG_LVL_DEBUG);
  logged = 0;
  CHECK(dynlib_sym(&l, "cos") == NULL);   /* nothing loaded yet */
  CHECK_INT_EQ(dynlib_get(&l), -ELIBACC);
  CHECK_INT_EQ(dynlib_get(&l), -ELIBACC);
  CHECK_INT_EQ(logged, 1);
  CHECK(strstr(last, "libcuratefs-no-such.so.7") != NULL);
  CHECK(m.cos == NULL);
  CHECK(dynlib_sym(&l, "cos") == NULL);
}

TEST(missing_function)
{
  /* The found function's slot is cleared too: no half-filled table. */
  static const struct dynsym syms[] = {
    { "cos", (void **)&m.cos },
    { "curatefs_no_such_function", (void **)&m.sqrt },
  };
  static struct dynlib l = DYNLIB_INIT(LIBM, syms);

  logged = 0;
  CHECK_INT_EQ(dynlib_get(&l), -ELIBACC);
  CHECK_INT_EQ(dynlib_get(&l), -ELIBACC);
  CHECK_INT_EQ(logged, 1);
  CHECK(strstr(last, LIBM) && strstr(last, "curatefs_no_such_function"));
  CHECK(m.cos == NULL && m.sqrt == NULL);
  CHECK(dynlib_sym(&l, "cos") == NULL);   /* not kept */
}

static int hook_runs, hook_ret;
static void *hook_found, *hook_missing;

static int hook(struct dynlib *l)
{
  hook_runs++;
  hook_found = dynlib_sym(l, "sqrt");
  hook_missing = dynlib_sym(l, "curatefs_no_such_function");
  return hook_ret;
}

TEST(hook_once_error_remembered)
{
  static const struct dynsym syms[] = { { "cos", (void **)&m.cos } };
  static struct dynlib ok = DYNLIB_INIT_LOADED(LIBM, syms, hook);
  static struct dynlib bad = DYNLIB_INIT_LOADED(LIBM, syms, hook);

  logged = hook_runs = hook_ret = 0;
  CHECK_INT_EQ(dynlib_get(&ok), 0);
  CHECK_INT_EQ(dynlib_get(&ok), 0);
  CHECK_INT_EQ(hook_runs, 1);
  CHECK(hook_found != NULL && hook_missing == NULL);
  CHECK(m.cos != NULL && m.cos(0.0) == 1.0);
  CHECK(dynlib_sym(&ok, "sqrt") == hook_found);
  CHECK(dynlib_sym(&ok, "curatefs_no_such_function") == NULL);

  hook_runs = 0;
  hook_ret = -EPROTO;
  CHECK_INT_EQ(dynlib_get(&bad), -EPROTO);
  hook_ret = 0;   /* not asked again: the first answer stands */
  CHECK_INT_EQ(dynlib_get(&bad), -EPROTO);
  CHECK_INT_EQ(hook_runs, 1);
  CHECK_INT_EQ(logged, 0);   /* the hook's error is its module's to tell */
}

static atomic_int slow_runs;
static struct {
  typeof(cos) *cos;
} t;
static const struct dynsym t_syms[] = { { "cos", (void **)&t.cos } };

static int slow_hook(struct dynlib *l)
{
  (void)l;
  atomic_fetch_add(&slow_runs, 1);
  usleep(20000);   /* the other threads arrive while this runs */
  return 0;
}
static struct dynlib t_lib = DYNLIB_INIT_LOADED(LIBM, t_syms, slow_hook);
static atomic_int go;

static void *first_call(void *arg)
{
  int *ok = arg;

  while (!atomic_load(&go))
    ;
  *ok = dynlib_get(&t_lib) == 0 && t.cos && t.cos(0.0) == 1.0;
  return NULL;
}

TEST(concurrent_first_calls)
{
  pthread_t th[8];
  int ok[8] = { 0 };

  for (int i = 0; i < 8; i++)
    CHECK_INT_EQ(pthread_create(&th[i], NULL, first_call, &ok[i]), 0);
  atomic_store(&go, 1);
  for (int i = 0; i < 8; i++) {
    pthread_join(th[i], NULL);
    CHECK_INT_EQ(ok[i], 1);
  }
  CHECK_INT_EQ(atomic_load(&slow_runs), 1);
}

TEST_MAIN(T(missing_library), T(missing_function),
          T(hook_once_error_remembered), T(concurrent_first_calls))
