#pragma once

#include <gio/gio.h>
#include <json-glib/json-glib.h>

#include "em-dbus-generated.h"

G_BEGIN_DECLS

/* exit statuses of every command but `wait`, which has its own (see em-ctl-wait.c) */
enum {
  EM_CTL_EXIT_OK = 0,
  EM_CTL_EXIT_ERROR = 1,
  EM_CTL_EXIT_USAGE = 2,
};

typedef struct {
  const char *name;
  const char *parameters;  /* after the command name in --help, e.g. "ID" */
  const char *summary;     /* one line, marked N_() */
  int (*run) (int argc, char **argv);
} EmCtlCommand;

int   em_ctl_schedule (int argc, char **argv);
int   em_ctl_list     (int argc, char **argv);
int   em_ctl_get      (int argc, char **argv);
int   em_ctl_cancel   (int argc, char **argv);
int   em_ctl_watch    (int argc, char **argv);
int   em_ctl_wait     (int argc, char **argv);
int   em_ctl_batch    (int argc, char **argv);
int   em_ctl_pause    (int argc, char **argv);
int   em_ctl_resume   (int argc, char **argv);
int   em_ctl_queue    (int argc, char **argv);

/* watch --since SEQ: the event log over D-Bus (GetEvents), then live */
int   em_ctl_watch_since (guint64 since, const char *log_id, gboolean json);

const EmCtlCommand *em_ctl_lookup_command (const char *name);

/* a GOptionContext for @command with its parameters and summary; --help works */
GOptionContext *em_ctl_option_context_new (const char *command);
/* adds @entries (or none) and parses, printing a usage error on failure;
 * argv keeps the positional args. --help prints the help and exits, with a
 * failure when the help could not be written */
gboolean        em_ctl_parse_options      (GOptionContext *context,
                                           const GOptionEntry *entries,
                                           const char     *command,
                                           int            *argc,
                                           char         ***argv);
void            em_ctl_usage_error        (const char     *command,
                                           const char     *format,
                                           ...) G_GNUC_PRINTF (2, 3);
/* whether the positional arguments left in @argv are exactly one; if not,
 * prints a usage error: @missing when there is none, else the extra one */
gboolean        em_ctl_one_argument       (const char     *command,
                                           int             argc,
                                           char          **argv,
                                           const char     *missing);
/* a positional argument as UTF-8, which D-Bus strings must be: GOption converts
 * only the options' values from the locale's encoding. %NULL, with a usage
 * error, when it is neither UTF-8 nor text in that encoding */
char           *em_ctl_argument_text      (const char     *command,
                                           const char     *argument);
/* option values are gathered as G_OPTION_ARG_FILENAME_ARRAY, bytes as given:
 * GOption converts a string option from the locale's character set, which
 * refused UTF-8 under LC_ALL=C. This reads each as em_ctl_argument_text()
 * reads an argument, in place; FALSE after a usage error */
gboolean        em_ctl_option_texts       (const char     *command,
                                           GStrv           values);
/* the value of an option that takes one, gathered as an array so that a
 * second one is a usage error, not the value; %NULL when absent */
gboolean        em_ctl_option_once        (const char     *flag,
                                           GStrv           values,
                                           const char    **out_value,
                                           GError        **error);
/* a number of seconds as the flags take it: decimal, finite, with no sign of
 * plus (the whole-number flags refuse "+5" too; "1e+3" is fine); strtod also
 * takes " 5", 0x10, inf and nan, the last two with no JSON form */
gboolean        em_ctl_parse_seconds      (const char     *text,
                                           gdouble        *out);

/* the manager proxy on the session bus; may start the service by activation */
EmDBusEngineManager1 *em_ctl_connect      (GError        **error);
/* the same, without blocking, with its properties loaded and followed or
 * not: for a command that Ctrl+C ends at any time; finish with em_dbus_engine_manager1_proxy_new_for_bus_finish() */
void            em_ctl_connect_async      (gboolean        with_properties,
                                           GCancellable   *cancellable,
                                           GAsyncReadyCallback callback,
                                           gpointer        user_data);
/* a round trip to the service, starting it if needed, without blocking;
 * finish with g_dbus_connection_call_finish() */
void            em_ctl_ping_async         (EmDBusEngineManager1 *proxy,
                                           GCancellable   *cancellable,
                                           GAsyncReadyCallback callback,
                                           gpointer        user_data);
/* prints "enginectl: <message>" with remote error names stripped and a hint for
 * the usual cases (service not running, no bus) */
void            em_ctl_print_error        (const GError   *error);
gboolean        em_ctl_error_is_not_found (const GError   *error);

/* a{sv} → JSON text, pretty or on one line */
char           *em_ctl_dict_to_json       (GVariant       *dict,
                                           gboolean        pretty);
JsonNode       *em_ctl_dict_to_node       (GVariant       *dict);
char           *em_ctl_node_to_json       (JsonNode       *node,
                                           gboolean        pretty);
/* a `watch` line after its time: the type, then the task id and @text when
 * there are any, with no trailing blanks */
char           *em_ctl_event_text         (const char     *type,
                                           const char     *id,
                                           const char     *text);
/* the path of the first null in @node, which is at @path ("" for the top):
 * `key[1]`, `key.member`; %NULL when there is none. D-Bus has no null */
char           *em_ctl_find_null          (JsonNode       *node,
                                           const char     *path);
/* (floating) VALUE read as JSON when it is valid JSON (10, 2.5, true, "text",
 * [1, 2]) and as a plain string otherwise; %NULL for a null anywhere in it,
 * with @error naming where */
GVariant       *em_ctl_parse_value        (const char     *key,
                                           const char     *text,
                                           GError        **error);
/* whether VALUE is JSON's null, which a KEY=VALUE gives for the key left out */
gboolean        em_ctl_value_is_null      (const char     *text);
/* the service's ActionParameters (a{sas}); %NULL without @error from a
 * service that has none */
GVariant       *em_ctl_get_action_parameters (EmDBusEngineManager1 *proxy,
                                              GError        **error);
/* whether @action declares the parameter @name in @declarations;
 * @known_action says whether it declares any, i.e. is known */
gboolean        em_ctl_action_declares    (GVariant       *declarations,
                                           const char     *action,
                                           const char     *name,
                                           gboolean       *known_action);
/* a string member of an a{sv}, or "" */
const char     *em_ctl_dict_get_string    (GVariant       *dict,
                                           const char     *key);

G_END_DECLS
