#define G_LOG_DOMAIN "enginectl"

#include "config.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <glib/gi18n.h>

#include "engine/em-error.h"
#include "engine/em-json-reader.h"
#include "engine/em-json-variant.h"
#include "engine/em-option-entries.h"
#include "engine/em-json-writer.h"
#include "dbus/em-dbus-util.h"
#include "cli/em-ctl.h"
#include "cli/em-ctl-output.h"

GOptionContext *
em_ctl_option_context_new (const char *command)
{
  const EmCtlCommand *info = em_ctl_lookup_command (command);
  GOptionContext *context;

  g_assert (info != NULL);
  /* main() set the program name to "enginectl COMMAND" for the usage line */
  context = g_option_context_new (info->parameters != NULL ? _(info->parameters) : NULL);
  g_option_context_set_summary (context, _(info->summary));
  g_option_context_set_translation_domain (context, GETTEXT_PACKAGE);

  return context;
}

void
em_ctl_usage_error (const char *command,
                    const char *format,
                    ...)
{
  g_autofree char *message = NULL;
  va_list args;

  va_start (args, format);
  message = g_strdup_vprintf (format, args);
  va_end (args);

  g_printerr ("enginectl %s: %s\n", command, message);
  g_printerr (_("Try “enginectl %s --help” for more information.\n"), command);
}

gboolean
em_ctl_one_argument (const char  *command,
                     int          argc,
                     char       **argv,
                     const char  *missing)
{
  /* the extra one by name: "get A B" may be a pasted line, or a second id
   * meant for a second call */
  if (argc > 2)
    {
      em_ctl_usage_error (command, _("unexpected argument “%s”"), argv[2]);
      return FALSE;
    }
  if (argc < 2)
    {
      em_ctl_usage_error (command, "%s", missing);
      return FALSE;
    }
  return TRUE;
}

char *
em_ctl_argument_text (const char *command,
                      const char *argument)
{
  char *text;

  /* UTF-8 as it is, whatever the locale: scripts often run under LC_ALL=C */
  if (g_utf8_validate (argument, -1, NULL))
    return g_strdup (argument);
  text = g_locale_to_utf8 (argument, -1, NULL, NULL, NULL);
  /* the bytes as given: the safe output shows what is not UTF-8 as \xNN */
  if (text == NULL)
    em_ctl_usage_error (command, _("“%s” is neither UTF-8 nor text in the locale’s character set"),
                        argument);
  return text;
}

gboolean
em_ctl_option_texts (const char *command,
                     GStrv       values)
{
  for (guint i = 0; values != NULL && values[i] != NULL; i++)
    {
      char *text = em_ctl_argument_text (command, values[i]);

      if (text == NULL)
        return FALSE;
      g_free (values[i]);
      values[i] = text;
    }
  return TRUE;
}

gboolean
em_ctl_option_once (const char  *flag,
                    GStrv        values,
                    const char **out_value,
                    GError     **error)
{
  /* GOption keeps the last of a G_OPTION_ARG_FILENAME given twice, which drops
   * the first without a word: "--action a --action b" listed b's tasks alone */
  *out_value = values != NULL ? values[0] : NULL;
  if (values == NULL || values[1] == NULL)
    return TRUE;

  g_set_error (error, EM_ERROR, EM_ERROR_INVALID_ARGUMENT,
               _("%s is given twice, as “%s” and as “%s”"), flag, values[0], values[1]);
  return FALSE;
}

gboolean
em_ctl_parse_seconds (const char *text,
                      gdouble    *out)
{
  char *end = NULL;

  if (*text == '\0' || *text == '+' || text[strspn (text, "0123456789.eE+-")] != '\0')
    return FALSE;
  *out = g_ascii_strtod (text, &end);
  return *end == '\0' && isfinite (*out);
}

static const GOptionEntry *
find_short (const GOptionEntry *entries,
            char                name)
{
  for (guint i = 0; entries != NULL && entries[i].long_name != NULL; i++)
    if (entries[i].short_name == name)
      return &entries[i];
  return NULL;
}

/* GOption's own help options, which every command has */
static const char * const help_names[] = { "help", "help-all", NULL };

/* whether @text is one of the command's long options, alone or with "=…", or
 * one of its short ones (-h and -? included) alone */
static gboolean
is_option_name (const GOptionEntry *entries,
                const char         *text)
{
  size_t length;

  if (text[0] == '-' && text[1] != '\0' && text[1] != '-' && text[2] == '\0')
    return text[1] == 'h' || text[1] == '?' || find_short (entries, text[1]) != NULL;
  if (!g_str_has_prefix (text, "--"))
    return FALSE;
  /* the end of the options is no value either */
  if (g_str_equal (text, "--"))
    return TRUE;
  text += strlen ("--");
  length = strcspn (text, "=");
  for (guint i = 0; help_names[i] != NULL; i++)
    if (strlen (help_names[i]) == length && strncmp (text, help_names[i], length) == 0)
      return TRUE;
  return em_option_entries_find_long (entries, text, length) != NULL;
}

/* sets *help to "--help" or "--help-all" when one (or -h, -?) is met where an
 * option may be, before any error; %NULL when none. GOption takes the next argument as an option's
 * value whatever it is, so "--name --json" named the task "--json": an
 * option's value that is one of the command's own long options is taken for
 * a forgotten value and refused, and so is one of its short options alone
 * ("-a -s completed"); "--name=--json" still gives it */
static gboolean
scan_arguments (const GOptionEntry  *entries,
                const char          *command,
                int                  argc,
                char               **argv,
                const char         **help)
{
  *help = NULL;
  for (int i = 1; i < argc; i++)
    {
      const char *arg = argv[i];
      const GOptionEntry *entry = NULL;
      g_autofree char *flag = NULL;

      if (g_str_equal (arg, "--"))
        break;
      if (g_str_equal (arg, "--help") || g_str_equal (arg, "--help-all"))
        {
          *help = arg;
          return TRUE;
        }
      if (g_str_has_prefix (arg, "--"))
        {
          const char *name = arg + strlen ("--");

          /* "--name=VALUE" carries its value, but GOption took "--json=no"
           * for --json, dropping the value without a word */
          if (strchr (name, '=') != NULL)
            {
              size_t length = strcspn (name, "=");

              entry = em_option_entries_find_long (entries, name, length);
              if (entry != NULL && !em_option_entry_takes_value (entry))
                {
                  g_autofree char *flag_name = g_strndup (arg, strlen ("--") + length);

                  em_ctl_usage_error (command, _("%s takes no value, not “%s”"),
                                      flag_name, name + length + 1);
                  return FALSE;
                }
              continue;
            }
          entry = em_option_entries_find_long (entries, name, strlen (name));
          flag = g_strdup (arg);
        }
      else if (arg[0] == '-' && arg[1] != '\0')
        {
          /* a cluster such as "-xn NAME": as GOption reads one, the first
           * that takes a value takes the next argument, not the rest of the
           * cluster, and -h or -? anywhere in it, after that one as well
           * ("-ah"), asks for help */
          for (const char *c = arg + 1; *c != '\0'; c++)
            {
              const GOptionEntry *found = find_short (entries, *c);

              if (found == NULL && (*c == 'h' || *c == '?'))
                {
                  *help = "--help";
                  return TRUE;
                }
              if (found == NULL || !em_option_entry_takes_value (found))
                continue;
              /* GOption gives the next argument to the first and then
               * fails with "Error parsing option", which says nothing of why */
              if (entry != NULL)
                {
                  em_ctl_usage_error (command,
                                      _("“%s”: %s and -%c both take a value, which each must be "
                                        "given as the next argument: write them apart"),
                                      arg, flag, *c);
                  return FALSE;
                }
              entry = found;
              flag = g_strdup_printf ("-%c", *c);
            }
        }
      if (entry == NULL || !em_option_entry_takes_value (entry) || i + 1 >= argc)
        continue;
      i++;
      if (is_option_name (entries, argv[i]))
        {
          g_autofree char *long_flag = g_strconcat ("--", entry->long_name, NULL);

          em_ctl_usage_error (command,
                              _("%s is missing its value: “%s” follows it, which is an option; to "
                                "give that as the value, write %s=%s"),
                              flag, argv[i], long_flag, argv[i]);
          return FALSE;
        }
    }
  return TRUE;
}

/* what standard output's failure returns with: wait's statuses are its own */
static int
write_error_status (const char *command)
{
  return g_str_equal (command, "wait") ? 3 : EM_CTL_EXIT_ERROR;
}

gboolean
em_ctl_parse_options (GOptionContext      *context,
                      const GOptionEntry  *entries,
                      const char          *command,
                      int                 *argc,
                      char              ***argv)
{
  g_autoptr(GError) error = NULL;
  const char *help = NULL;

  if (entries != NULL)
    g_option_context_add_main_entries (context, entries, GETTEXT_PACKAGE);
  if (!scan_arguments (entries, command, *argc, *argv, &help))
    return FALSE;
  /* GOption's own help would print with g_print() and exit 0 whether or not
   * the text got written: "enginectl list --help > /dev/full" succeeded */
  if (help != NULL)
    {
      char *text;
      int status = EM_CTL_EXIT_OK;

      g_option_context_set_help_enabled (context, TRUE);
      text = g_option_context_get_help (context, g_str_equal (help, "--help"), NULL);
      /* g_print(): in the locale's character set, as GOption printed it */
      g_print ("%s", text);
      /* freed before exit(), which runs no cleanup of this frame */
      g_free (text);
      if (fflush (stdout) != 0 || ferror (stdout))
        {
          g_printerr (_("enginectl: could not write to standard output\n"));
          status = write_error_status (command);
        }
      exit (status);
    }
  g_option_context_set_help_enabled (context, FALSE);
  if (!g_option_context_parse (context, argc, argv, &error))
    {
      em_ctl_usage_error (command, "%s", error->message);
      return FALSE;
    }

  return TRUE;
}

EmDBusEngineManager1 *
em_ctl_connect (GError **error)
{
  /* the registered names turn io.github.enginemanager.Error.* back into EM_ERROR */
  (void) em_error_quark ();

  return em_dbus_engine_manager1_proxy_new_for_bus_sync (G_BUS_TYPE_SESSION,
                                                         G_DBUS_PROXY_FLAGS_DO_NOT_LOAD_PROPERTIES,
                                                         EM_DBUS_NAME,
                                                         EM_DBUS_MANAGER_PATH,
                                                         NULL, error);
}

void
em_ctl_connect_async (gboolean             with_properties,
                      GCancellable        *cancellable,
                      GAsyncReadyCallback  callback,
                      gpointer             user_data)
{
  (void) em_error_quark ();

  em_dbus_engine_manager1_proxy_new_for_bus (G_BUS_TYPE_SESSION,
                                             with_properties ? G_DBUS_PROXY_FLAGS_NONE
                                                             : G_DBUS_PROXY_FLAGS_DO_NOT_LOAD_PROPERTIES,
                                             EM_DBUS_NAME, EM_DBUS_MANAGER_PATH,
                                             cancellable, callback, user_data);
}

/* the REST API's limit */
#define VALUE_MAX_DEPTH 64

char *
em_ctl_find_null (JsonNode   *node,
                  const char *path)
{
  JsonObjectIter iter;
  const char *key;
  JsonNode *member;

  switch (json_node_get_node_type (node))
    {
    case JSON_NODE_NULL:
      return g_strdup (path);
    case JSON_NODE_ARRAY:
      for (guint i = 0; i < json_array_get_length (json_node_get_array (node)); i++)
        {
          g_autofree char *item = g_strdup_printf ("%s[%u]", path, i);
          char *found = em_ctl_find_null (json_array_get_element (json_node_get_array (node), i),
                                          item);

          if (found != NULL)
            return found;
        }
      return NULL;
    case JSON_NODE_OBJECT:
      json_object_iter_init_ordered (&iter, json_node_get_object (node));
      while (json_object_iter_next_ordered (&iter, &key, &member))
        {
          g_autofree char *child = *path != '\0' ? g_strdup_printf ("%s.%s", path, key)
                                                    : g_strdup (key);
          char *found = em_ctl_find_null (member, child);

          if (found != NULL)
            return found;
        }
      return NULL;
    case JSON_NODE_VALUE:
    default:
      return NULL;
    }
}

gboolean
em_ctl_value_is_null (const char *text)
{
  g_autoptr(JsonNode) node = em_json_reader_read (text, strlen (text), 1, NULL);

  return node != NULL && JSON_NODE_HOLDS_NULL (node);
}

GVariant *
em_ctl_parse_value (const char  *key,
                    const char  *text,
                    GError     **error)
{
  /* strictly, as the service reads JSON: json-glib's parser would take 010
   * as 8, wrap an integer past 64 bits, and crash on deep nesting */
  g_autoptr(JsonNode) node = em_json_reader_read (text, strlen (text), VALUE_MAX_DEPTH, NULL);
  g_autofree char *null_at = NULL;

  /* so `format=png` needs no quotes; what is not JSON goes as text, which
   * the service then refuses by name where it wants a number */
  if (node == NULL)
    return g_variant_new_string (text);

  /* the conversion would drop a null member or make a null item "" */
  null_at = em_ctl_find_null (node, key);
  if (null_at != NULL)
    {
      g_set_error (error, EM_ERROR, EM_ERROR_INVALID_ARGUMENT,
                   _("%s: null cannot be sent over D-Bus; leave the key out instead"), null_at);
      return NULL;
    }

  return em_json_node_to_variant (node);
}

GVariant *
em_ctl_get_action_parameters (EmDBusEngineManager1  *proxy,
                              GError               **error)
{
  g_autoptr(GError) local_error = NULL;
  g_autoptr(GVariant) reply = NULL;
  GVariant *value = NULL;

  reply = g_dbus_proxy_call_sync (G_DBUS_PROXY (proxy), "org.freedesktop.DBus.Properties.Get",
                                  g_variant_new ("(ss)", "io.github.enginemanager.EngineManager1",
                                                 "ActionParameters"),
                                  G_DBUS_CALL_FLAGS_NONE, -1, NULL, &local_error);
  if (reply == NULL)
    {
      if (g_error_matches (local_error, G_DBUS_ERROR, G_DBUS_ERROR_INVALID_ARGS) ||
          g_error_matches (local_error, G_DBUS_ERROR, G_DBUS_ERROR_UNKNOWN_PROPERTY))
        return NULL;
      g_propagate_error (error, g_steal_pointer (&local_error));
      return NULL;
    }
  g_variant_get (reply, "(v)", &value);
  if (!g_variant_is_of_type (value, G_VARIANT_TYPE ("a{sas}")))
    g_clear_pointer (&value, g_variant_unref);
  return value;
}

gboolean
em_ctl_action_declares (GVariant   *declarations,
                        const char *action,
                        const char *name,
                        gboolean   *known_action)
{
  g_autofree const char **params = NULL;

  *known_action = action != NULL &&
                  g_variant_lookup (declarations, action, "^a&s", &params);
  return *known_action && g_strv_contains ((const char * const *) params, name);
}

void
em_ctl_ping_async (EmDBusEngineManager1 *proxy,
                   GCancellable         *cancellable,
                   GAsyncReadyCallback   callback,
                   gpointer              user_data)
{
  g_dbus_connection_call (g_dbus_proxy_get_connection (G_DBUS_PROXY (proxy)),
                          EM_DBUS_NAME, EM_DBUS_MANAGER_PATH,
                          "org.freedesktop.DBus.Peer", "Ping",
                          NULL, NULL, G_DBUS_CALL_FLAGS_NONE, -1,
                          cancellable, callback, user_data);
}

gboolean
em_ctl_error_is_not_found (const GError *error)
{
  return g_error_matches (error, EM_ERROR, EM_ERROR_NOT_FOUND);
}

static const char *
error_hint (const GError *error)
{
  g_autofree char *remote_name = g_dbus_error_get_remote_error (error);

  if (g_error_matches (error, G_DBUS_ERROR, G_DBUS_ERROR_SERVICE_UNKNOWN) ||
      g_error_matches (error, G_DBUS_ERROR, G_DBUS_ERROR_NAME_HAS_NO_OWNER))
    return _("Engine Manager is not running on the session bus, and it could not be "
             "started automatically. Start it with “engine-manager”.");
  /* the bus ran it, directly or through systemd, and it stopped at once:
   * its own message went to its log, not to the caller */
  if ((error->domain == G_DBUS_ERROR &&
       (error->code == G_DBUS_ERROR_SPAWN_CHILD_EXITED ||
        error->code == G_DBUS_ERROR_SPAWN_CHILD_SIGNALED ||
        error->code == G_DBUS_ERROR_SPAWN_EXEC_FAILED ||
        error->code == G_DBUS_ERROR_SPAWN_FAILED ||
        error->code == G_DBUS_ERROR_SPAWN_SETUP_FAILED)) ||
      (remote_name != NULL && g_str_has_prefix (remote_name, "org.freedesktop.systemd1.")))
    return _("The bus could not start Engine Manager, or it stopped at once. Run "
             "“engine-manager” by hand to see why (another program may hold its HTTP "
             "port: see --http-port and --no-http), or read its log: "
             "journalctl --user -u engine-manager");
  if (g_error_matches (error, G_DBUS_ERROR, G_DBUS_ERROR_NO_REPLY) ||
      g_error_matches (error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT))
    return _("Engine Manager did not answer in time.");
  if (error->domain == G_IO_ERROR && error->code != G_IO_ERROR_DBUS_ERROR)
    return _("Is a D-Bus session bus running? Check DBUS_SESSION_BUS_ADDRESS.");
  return NULL;
}

void
em_ctl_print_error (const GError *error)
{
  g_autoptr(GError) copy = g_error_copy (error);
  const char *hint = error_hint (error);

  g_dbus_error_strip_remote_error (copy);
  g_printerr ("enginectl: %s\n", copy->message);
  if (hint != NULL)
    g_printerr ("%s\n", hint);
}

JsonNode *
em_ctl_dict_to_node (GVariant *dict)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonObject) object = em_variant_to_json_object (dict, &error);
  JsonNode *node;

  /* the service only sends values with a JSON form; keep going if not */
  if (object == NULL)
    {
      g_warning ("%s", error->message);
      object = json_object_new ();
    }

  node = json_node_new (JSON_NODE_OBJECT);
  json_node_set_object (node, object);
  return node;
}

char *
em_ctl_node_to_json (JsonNode *node,
                     gboolean  pretty)
{
  /* the engine's writer, not json-glib's generator: a double reads as the
   * service wrote it (0.3, not 0.29999999999999999) */
  GString *out = g_string_new (NULL);

  if (pretty)
    em_json_write_node_pretty (out, node);
  else
    em_json_write_node (out, node);
  return g_string_free (out, FALSE);
}

char *
em_ctl_dict_to_json (GVariant *dict,
                     gboolean  pretty)
{
  g_autoptr(JsonNode) node = em_ctl_dict_to_node (dict);

  return em_ctl_node_to_json (node, pretty);
}

char *
em_ctl_event_text (const char *type,
                   const char *id,
                   const char *text)
{
  GString *line = g_string_new (type);
  gboolean has_id = id != NULL && *id != '\0';
  g_autofree char *text_line = NULL;

  if (!has_id && text == NULL)
    return g_string_free (line, FALSE);
  /* the ids line up in a column */
  g_string_append_printf (line, "%*s", (int) MAX (1, 16 - (gssize) strlen (type)), "");
  if (has_id)
    g_string_append (line, id);
  if (text != NULL)
    g_string_append_printf (line, "%s%s", has_id ? "  " : "", text);
  /* a task's name or error is another client's text: one event, one line */
  text_line = g_string_free (line, FALSE);
  return em_ctl_one_line (text_line);
}

const char *
em_ctl_dict_get_string (GVariant   *dict,
                        const char *key)
{
  const char *value = NULL;

  if (!g_variant_lookup (dict, key, "&s", &value))
    return "";
  return value;
}
