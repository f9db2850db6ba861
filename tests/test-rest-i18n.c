#include "config.h"

#include <libintl.h>
#include <locale.h>
#include <glib/gstdio.h>

#include "rest/em-rest-i18n.h"
#include "em-test-util.h"

static char *locale_dir;

static void
assert_tags (const char *header, const char * const *expected)
{
  g_auto(GStrv) tags = em_rest_i18n_parse_accept_language (header);

  g_assert_nonnull (tags);
  g_assert_cmpstrv (tags, expected);
}

static void
test_parse (void)
{
  assert_tags (NULL, (const char *[]) { NULL });
  assert_tags ("", (const char *[]) { NULL });
  assert_tags ("de", (const char *[]) { "de", NULL });
  assert_tags ("de-AT;q=0.8, en;q=0.5, fr", (const char *[]) { "fr", "de-AT", "en", NULL });
  /* equal weights keep the client's order */
  assert_tags ("it;q=0.5,nl;q=0.5", (const char *[]) { "it", "nl", NULL });
  /* q=0 means "not this one"; malformed ranges are dropped */
  assert_tags ("de;q=0, fr;q=abc, es;q=2, <script>, pt", (const char *[]) { "pt", NULL });
  assert_tags ("*;q=0.1, de", (const char *[]) { "de", "*", NULL });
  assert_tags ("  de ; q=0.9 ,en", (const char *[]) { "en", "de", NULL });
}

static const char *
translate (void)
{
  return dgettext (GETTEXT_PACKAGE, "Not found");
}

static void
test_scope (void)
{
  g_auto(EmRestI18nScope) outer = EM_REST_I18N_SCOPE_INIT;

  g_assert_cmpstr (translate (), ==, "Not found");

  {
    g_auto(EmRestI18nScope) scope = EM_REST_I18N_SCOPE_INIT;

    g_assert_true (em_rest_i18n_scope_enter (&scope, "de-DE,de;q=0.9,en;q=0.8"));
    g_assert_cmpstr (translate (), ==, "Nicht gefunden");
  }
  g_assert_cmpstr (translate (), ==, "Not found");

  {
    g_auto(EmRestI18nScope) scope = EM_REST_I18N_SCOPE_INIT;

    /* no French catalogue: the next language that has one */
    g_assert_true (em_rest_i18n_scope_enter (&scope, "fr-FR, de;q=0.5"));
    g_assert_cmpstr (translate (), ==, "Nicht gefunden");
  }

  {
    g_auto(EmRestI18nScope) scope = EM_REST_I18N_SCOPE_INIT;

    g_assert_true (em_rest_i18n_scope_enter (&scope, "en-GB, de;q=0.5"));
    g_assert_cmpstr (translate (), ==, "Not found");
  }

  {
    g_auto(EmRestI18nScope) scope = EM_REST_I18N_SCOPE_INIT;

    g_assert_false (em_rest_i18n_scope_enter (&scope, "fr, ja"));
    g_assert_false (em_rest_i18n_scope_enter (&scope, NULL));
    g_assert_false (em_rest_i18n_scope_enter (&scope, "*"));
    g_assert_cmpstr (translate (), ==, "Not found");
  }

  /* leaving a scope never entered is harmless */
  em_rest_i18n_scope_leave (&outer);
}

static gpointer
other_thread (gpointer data)
{
  return g_strdup (translate ());
}

/* the switch is the calling thread's alone */
static void
test_thread_local (void)
{
  g_auto(EmRestI18nScope) scope = EM_REST_I18N_SCOPE_INIT;
  g_autofree char *elsewhere = NULL;
  GThread *thread;

  g_assert_true (em_rest_i18n_scope_enter (&scope, "de"));
  thread = g_thread_new ("other", other_thread, NULL);
  elsewhere = g_thread_join (thread);
  g_assert_cmpstr (elsewhere, ==, "Not found");
  g_assert_cmpstr (translate (), ==, "Nicht gefunden");
}

int
main (int argc, char **argv)
{
  g_autofree char *po_dir = NULL;
  int result;

  g_test_init (&argc, &argv, NULL);
  g_unsetenv ("LANGUAGE");
  setlocale (LC_ALL, "C");

  po_dir = g_test_build_filename (G_TEST_BUILT, "..", "po", NULL);
  bindtextdomain (GETTEXT_PACKAGE, po_dir);
  bind_textdomain_codeset (GETTEXT_PACKAGE, "UTF-8");
  locale_dir = em_test_build_german_locale ();

  g_test_add_func ("/rest/i18n/parse-accept-language", test_parse);
  g_test_add_func ("/rest/i18n/scope", test_scope);
  g_test_add_func ("/rest/i18n/thread-local", test_thread_local);
  result = g_test_run ();

  em_test_rmdir (locale_dir);
  g_free (locale_dir);
  return result;
}
