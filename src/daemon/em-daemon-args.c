#define G_LOG_DOMAIN "engine-manager"

#include "config.h"

#include <stdio.h>
#include <string.h>
#include <glib/gi18n.h>
#include <gst/gst.h>

#include "daemon/em-daemon-args.h"
#include "engine/em-option-entries.h"

/* GStreamer's own options, gst_init_get_option_group() in gst/gst.c of
 * GStreamer 1.22, as `engine-manager --help-gst` lists them; those marked
 * take a value (G_OPTION_ARG_CALLBACK without G_OPTION_FLAG_NO_ARG) */
static const struct
{
  const char *name;
  gboolean takes_value;
} gst_options[] = {
  { "gst-version", FALSE },
  { "gst-fatal-warnings", FALSE },
  { "gst-debug-help", FALSE },
  { "gst-debug-level", TRUE },
  { "gst-debug", TRUE },
  { "gst-debug-no-color", FALSE },
  { "gst-debug-color-mode", TRUE },
  { "gst-debug-disable", FALSE },
  { "gst-plugin-spew", FALSE },
  { "gst-plugin-path", TRUE },
  { "gst-plugin-load", TRUE },
  { "gst-disable-segtrap", FALSE },
  { "gst-disable-registry-update", FALSE },
  { "gst-disable-registry-fork", FALSE },
};

static int
find_gst_exact (const char *name,
                size_t      length)
{
  for (guint i = 0; i < G_N_ELEMENTS (gst_options); i++)
    if (strlen (gst_options[i].name) == length &&
        strncmp (name, gst_options[i].name, length) == 0)
      return (int) i;
  return -1;
}

/* the GStreamer option @name (@length bytes, without "--") stands for, or -1.
 * GOption also takes an option of a group other than the main one as
 * "--GROUP-NAME", the group named by any start of "gst": --gst-gst-debug and
 * --g-gst-debug are --gst-debug */
static int
find_gst_option (const char *name,
                 size_t      length)
{
  const char *dash = memchr (name, '-', length);
  int found = find_gst_exact (name, length);

  if (found < 0 && dash != NULL && dash > name && (size_t) (dash - name) <= strlen ("gst") &&
      strncmp (name, "gst", dash - name) == 0)
    found = find_gst_exact (dash + 1, length - (dash + 1 - name));
  return found;
}

/* one of the program's options, alone or with "=…": its own long ones,
 * GOption's help (also -h and -?, the only short ones) and GStreamer's */
static gboolean
is_option_name (const GOptionEntry *entries,
                const char         *text)
{
  static const char * const help_names[] = { "help", "help-all", "help-gst", NULL };
  size_t length;

  if (g_str_equal (text, "-h") || g_str_equal (text, "-?"))
    return TRUE;
  if (!g_str_has_prefix (text, "--"))
    return FALSE;
  /* the end of the options is no value either */
  if (g_str_equal (text, "--"))
    return TRUE;
  text += strlen ("--");
  length = strcspn (text, "=");
  if (find_gst_option (text, length) >= 0 ||
      em_option_entries_find_long (entries, text, length) != NULL)
    return TRUE;
  for (guint i = 0; help_names[i] != NULL; i++)
    if (strlen (help_names[i]) == length && strncmp (text, help_names[i], length) == 0)
      return TRUE;
  return FALSE;
}

/* sets *help to the help option (--help, --help-all, --help-gst, -h, -?) when
 * one is met where an option may be, before any error; %NULL when none.
 * GOption takes the next argument as an option's value whatever it is, so
 * "--http-address --data-dir X" listened on "--data-dir": a value that is
 * one of the program's own long options is taken for a forgotten value and
 * refused, GStreamer's values as well; "--http-address=--data-dir" still
 * gives it. --gst-version and --gst-debug-help are taken out of @argv and
 * *print_gst_version and *print_gst_debug_help set */
gboolean
em_daemon_args_scan (const GOptionEntry  *entries,
                     int                 *argc,
                     char               **argv,
                     const char         **help,
                     gboolean            *print_gst_version,
                     gboolean            *print_gst_debug_help,
                     GError             **error)
{
  *help = NULL;
  *print_gst_version = FALSE;
  *print_gst_debug_help = FALSE;
  for (int i = 1; i < *argc; i++)
    {
      const char *arg = argv[i];
      const GOptionEntry *entry;
      int gst;

      if (g_str_equal (arg, "--"))
        break;
      if (g_str_equal (arg, "--help") || g_str_equal (arg, "--help-all") ||
          g_str_equal (arg, "--help-gst") || g_str_equal (arg, "-h") || g_str_equal (arg, "-?"))
        {
          *help = arg;
          return TRUE;
        }
      /* a group of short options such as "-hx": as GOption reads one with
       * its help on, and as enginectl does, -h or -? anywhere in it asks
       * for help, whatever the other letters (there are no other short
       * options) */
      if (arg[0] == '-' && arg[1] != '-' && arg[1] != '\0' && strpbrk (arg + 1, "h?") != NULL)
        {
          *help = "--help";
          return TRUE;
        }
      /* the options have no short names */
      if (!g_str_has_prefix (arg, "--"))
        continue;
      entry = em_option_entries_find_long (entries, arg + strlen ("--"),
                                           strcspn (arg + strlen ("--"), "="));
      gst = find_gst_option (arg + strlen ("--"), strcspn (arg + strlen ("--"), "="));
      /* "--name=VALUE" carries its value, but GOption took "--no-http=false"
       * for --no-http, and GStreamer's "--gst-version=1" for --gst-version,
       * dropping the value without a word */
      if (strchr (arg, '=') != NULL)
        {
          if (entry != NULL ? !em_option_entry_takes_value (entry) : gst >= 0 && !gst_options[gst].takes_value)
            {
              g_autofree char *name = g_strndup (arg, strcspn (arg, "="));
              g_autofree char *shown = g_utf8_make_valid (strchr (arg, '=') + 1, -1);

              g_set_error (error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                           _("%s takes no value, not “%s”"), name, shown);
              return FALSE;
            }
          continue;
        }
      /* GStreamer prints its version (or its debug categories) and exits 0
       * as GOption meets it,
       * whether or not the text got written and before the options after
       * it are checked: it is taken out here and printed as --version is */
      if (gst >= 0 && (g_str_equal (gst_options[gst].name, "gst-version") ||
                       g_str_equal (gst_options[gst].name, "gst-debug-help")))
        {
          if (g_str_equal (gst_options[gst].name, "gst-version"))
            *print_gst_version = TRUE;
          else
            *print_gst_debug_help = TRUE;
          memmove (&argv[i], &argv[i + 1], (*argc - i) * sizeof (char *));
          (*argc)--;
          i--;
          continue;
        }
      if (entry != NULL ? !em_option_entry_takes_value (entry) : gst < 0 || !gst_options[gst].takes_value)
        continue;
      if (i + 1 >= *argc)
        continue;
      i++;
      if (is_option_name (entries, argv[i]))
        {
          g_autofree char *shown = g_utf8_make_valid (argv[i], -1);

          g_set_error (error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                       _("%s is missing its value: “%s” follows it, which is an option; to "
                         "give that as the value, write %s=%s"), arg, shown, arg, shown);
          return FALSE;
        }
    }
  return TRUE;
}

/* g_print() then exit 0 would call output that never arrived (a full disk,
 * /dev/full) a success */
int
em_daemon_print_stdout (const char *text)
{
  /* g_print(): in the locale's character set, as GOption printed the help */
  g_print ("%s", text);
  if (fflush (stdout) == 0 && !ferror (stdout))
    return 0;
  g_printerr ("engine-manager: %s\n", _("could not write to standard output"));
  return 1;
}

static gint
compare_category_names (gconstpointer a,
                        gconstpointer b)
{
  return strcmp (gst_debug_category_get_name ((GstDebugCategory *) a),
                 gst_debug_category_get_name ((GstDebugCategory *) b));
}

/* what GStreamer's --gst-debug-help prints (gst/gst.c of GStreamer 1.22):
 * every plugin loaded and one of each of its elements made, where most
 * categories are registered, then the categories by name */
void
em_daemon_append_gst_debug_help (GString *text)
{
  GList *plugins = gst_registry_get_plugin_list (gst_registry_get ());
  GSList *categories;

  for (GList *p = plugins; p != NULL; p = p->next)
    {
      GstPlugin *plugin = p->data;
      g_autoptr(GstPlugin) loaded = NULL;
      GList *features;

      if (GST_OBJECT_FLAG_IS_SET (plugin, GST_PLUGIN_FLAG_BLACKLISTED))
        continue;
      loaded = gst_plugin_load (plugin);
      features = gst_registry_get_feature_list_by_plugin (gst_registry_get (),
                                                          gst_plugin_get_name (plugin));
      for (GList *f = features; f != NULL; f = f->next)
        if (f->data != NULL && GST_IS_ELEMENT_FACTORY (f->data))
          {
            GstElement *element = gst_element_factory_create (f->data, NULL);

            if (element != NULL)
              gst_object_unref (gst_object_ref_sink (element));
          }
      gst_plugin_feature_list_free (features);
    }
  gst_plugin_list_free (plugins);

  categories = g_slist_sort (gst_debug_get_all_categories (), compare_category_names);
  g_string_append (text, "\n");
  g_string_append (text, "name                  level    description\n");
  g_string_append (text, "---------------------+--------+--------------------------------\n");
  for (GSList *c = categories; c != NULL; c = c->next)
    {
      GstDebugCategory *category = c->data;
      GstDebugLevel level = gst_debug_category_get_threshold (category);

      if (gst_debug_is_colored ())
        {
          g_autofree char *color = gst_debug_construct_term_color (gst_debug_category_get_color (category));

          g_string_append_printf (text, "%s%-20s\033[00m  %1d %s  %s%s\033[00m\n", color,
                                  gst_debug_category_get_name (category), level,
                                  gst_debug_level_get_name (level), color,
                                  gst_debug_category_get_description (category));
        }
      else
        g_string_append_printf (text, "%-20s  %1d %s  %s\n",
                                gst_debug_category_get_name (category), level,
                                gst_debug_level_get_name (level),
                                gst_debug_category_get_description (category));
    }
  g_slist_free (categories);
  g_string_append (text, "\n");
}
