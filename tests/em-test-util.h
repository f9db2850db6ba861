#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* iterate the default main context until @cond holds or @timeout_ms passes; a
 * wakeup timer keeps the loop turning when nothing else is due */
#define EM_TEST_WAIT_UNTIL(cond, timeout_ms)                                  \
  G_STMT_START {                                                             \
    gint64 _deadline = g_get_monotonic_time () + (gint64) (timeout_ms) * 1000; \
    guint _wakeup = em_test_add_wakeup (10);                                 \
    while (!(cond) && g_get_monotonic_time () < _deadline)                   \
      g_main_context_iteration (NULL, TRUE);                                 \
    g_source_remove (_wakeup);                                               \
    g_assert_true (cond);                                                    \
  } G_STMT_END

/* let the main loop run for @ms */
void em_test_run_for (guint ms);

/* a fresh temporary directory, removed with its contents by em_test_rmdir() */
char *em_test_mkdtemp (void);
void  em_test_rmdir   (const char *path);

/* builds de_DE.UTF-8 from the system's locale sources into a fresh directory
 * and points LOCPATH at it, so that a test does not depend on which locales
 * are generated; returns the directory, for em_test_rmdir() */
char *em_test_build_german_locale (void);

/* a main-context timer that wakes g_main_context_iteration() while waiting */
guint em_test_add_wakeup (guint interval_ms);

G_END_DECLS
