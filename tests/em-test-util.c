#include "config.h"

#include <glib/gstdio.h>
#include <gio/gio.h>

#include "em-test-util.h"

char *
em_test_mkdtemp (void)
{
  g_autoptr(GError) error = NULL;
  char *dir = g_dir_make_tmp ("engine-manager-test-XXXXXX", &error);

  g_assert_no_error (error);
  return dir;
}

static void
rm_rf (GFile *file)
{
  g_autoptr(GFileEnumerator) children = NULL;

  children = g_file_enumerate_children (file, G_FILE_ATTRIBUTE_STANDARD_NAME,
                                        G_FILE_QUERY_INFO_NOFOLLOW_SYMLINKS, NULL, NULL);
  if (children != NULL)
    {
      GFileInfo *info;

      while ((info = g_file_enumerator_next_file (children, NULL, NULL)) != NULL)
        {
          g_autoptr(GFile) child = g_file_get_child (file, g_file_info_get_name (info));

          rm_rf (child);
          g_object_unref (info);
        }
    }
  g_file_delete (file, NULL, NULL);
}

void
em_test_rmdir (const char *path)
{
  g_autoptr(GFile) file = g_file_new_for_path (path);

  rm_rf (file);
}

static gboolean
wakeup_cb (gpointer user_data)
{
  return G_SOURCE_CONTINUE;
}

guint
em_test_add_wakeup (guint interval_ms)
{
  return g_timeout_add (interval_ms, wakeup_cb, NULL);
}

void
em_test_run_for (guint ms)
{
  gint64 until = g_get_monotonic_time () + (gint64) ms * 1000;

  EM_TEST_WAIT_UNTIL (g_get_monotonic_time () >= until, ms + 1000);
}

char *
em_test_build_german_locale (void)
{
  g_autofree char *output = NULL;
  g_autoptr(GError) error = NULL;
  int status = 0;
  const char *argv[] = { "localedef", "-i", "de_DE", "-f", "UTF-8", NULL, NULL };
  g_autofree char *target = NULL;
  char *locale_dir = em_test_mkdtemp ();

  target = g_build_filename (locale_dir, "de_DE.UTF-8", NULL);
  argv[5] = target;
  if (!g_spawn_sync (NULL, (char **) argv, NULL, G_SPAWN_SEARCH_PATH | G_SPAWN_STDOUT_TO_DEV_NULL,
                     NULL, NULL, NULL, &output, &status, &error))
    g_error ("localedef: %s", error->message);
  /* localedef exits 1 for warnings about the charmap; the files are written */
  if (!g_file_test (target, G_FILE_TEST_IS_DIR))
    g_error ("localedef could not build de_DE.UTF-8 (install Debian's locales): %s", output);
  g_setenv ("LOCPATH", locale_dir, TRUE);
  return locale_dir;
}
