#define G_LOG_DOMAIN "test-dbus"

#include "config.h"

#include <math.h>
#include <signal.h>
#include <string.h>
#include <gio/gio.h>
#ifdef HAVE_VALGRIND_H
#include <valgrind/valgrind.h>
#endif

#include "em-dbus-generated.h"
#include "em-test-util.h"

/* the real engine-manager on a private bus, driven as a client would */

#define BUS_NAME     "io.github.enginemanager.EngineManager"
#define MANAGER_PATH "/io/github/enginemanager/EngineManager"
#define MANAGER_IFACE "io.github.enginemanager.EngineManager1"
#define TASK_IFACE   "io.github.enginemanager.Task1"
#define ERROR_PREFIX "io.github.enginemanager.Error."
#define GRACE_SECONDS 5
#define TIMEOUT_MS   10000

typedef struct {
  char *path;
  char *interface;
  char *member;
  GVariant *parameters;
  gint64 time;
} Signal;

static struct {
  GTestDBus *bus;
  char *data_dir;
  GSubprocess *daemon;
  GDBusConnection *connection;
  guint subscription;
  GPtrArray *signals; /* every signal the service sent, in order */
  const char *max_calls; /* --dbus-max-calls-per-sender for the next start, or NULL */
  gboolean little_memory; /* --keep-finished 0 --finished-cache-size 1 for the next start */
} fixture;

static void
signal_free (gpointer data)
{
  Signal *signal = data;

  g_free (signal->path);
  g_free (signal->interface);
  g_free (signal->member);
  g_variant_unref (signal->parameters);
  g_free (signal);
}

static void
record_signal_cb (GDBusConnection *connection,
                  const char      *sender,
                  const char      *path,
                  const char      *interface,
                  const char      *member,
                  GVariant        *parameters,
                  gpointer         user_data)
{
  Signal *signal = g_new0 (Signal, 1);

  signal->path = g_strdup (path);
  signal->interface = g_strdup (interface);
  signal->member = g_strdup (member);
  signal->parameters = g_variant_ref (parameters);
  signal->time = g_get_monotonic_time ();
  g_ptr_array_add (fixture.signals, signal);
}

static const char *
daemon_path (void)
{
  const char *path = g_getenv ("ENGINE_MANAGER");

  g_assert_nonnull (path);
  return path;
}

static GSubprocess *
spawn_daemon (GSubprocessFlags   flags,
              const char        *data_dir,
              GError           **error)
{
  g_autoptr(GStrvBuilder) argv = g_strv_builder_new ();
  g_auto(GStrv) args = NULL;

  g_strv_builder_addv (argv, (const char *[]) { daemon_path (), "--bus", "session", "--no-http",
                                                 "--data-dir", data_dir, NULL });
  if (fixture.max_calls != NULL)
    g_strv_builder_addv (argv, (const char *[]) { "--dbus-max-calls-per-sender",
                                                   fixture.max_calls, NULL });
  if (fixture.little_memory)
    g_strv_builder_addv (argv, (const char *[]) { "--keep-finished", "0",
                                                   "--finished-cache-size", "1", NULL });
  args = g_strv_builder_end (argv);
  return g_subprocess_newv ((const char * const *) args, flags, error);
}

static gboolean
name_has_owner (void)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) reply = NULL;
  gboolean owned = FALSE;

  reply = g_dbus_connection_call_sync (fixture.connection, "org.freedesktop.DBus",
                                       "/org/freedesktop/DBus", "org.freedesktop.DBus",
                                       "NameHasOwner", g_variant_new ("(s)", BUS_NAME),
                                       G_VARIANT_TYPE ("(b)"), G_DBUS_CALL_FLAGS_NONE,
                                       -1, NULL, &error);
  g_assert_no_error (error);
  g_variant_get (reply, "(b)", &owned);
  return owned;
}

static void
start_daemon (void)
{
  g_autoptr(GError) error = NULL;
  gboolean owned = FALSE;

  fixture.daemon = spawn_daemon (G_SUBPROCESS_FLAGS_NONE, fixture.data_dir, &error);
  g_assert_no_error (error);

  /* ready once the name is owned */
  for (gint64 deadline = g_get_monotonic_time () + 3 * TIMEOUT_MS * 1000;
       !(owned = name_has_owner ()) && g_get_monotonic_time () < deadline;
       g_usleep (20 * 1000))
    ;
  g_assert_true (owned);
}

/* SIGTERM is the clean way out, and it must exit 0; SIGKILL is a crash */
static void
stop_daemon (int signal_number)
{
  g_autoptr(GError) error = NULL;

  g_subprocess_send_signal (fixture.daemon, signal_number);
  if (signal_number == SIGTERM)
    {
      g_subprocess_wait_check (fixture.daemon, NULL, &error);
      g_assert_no_error (error);
    }
  else
    {
      g_subprocess_wait (fixture.daemon, NULL, &error);
      g_assert_no_error (error);
      g_assert_true (g_subprocess_get_if_signaled (fixture.daemon));
    }
  g_clear_object (&fixture.daemon);

  /* the bus notices the connection went before a new owner can take the name */
  for (gint64 deadline = g_get_monotonic_time () + TIMEOUT_MS * 1000;
       name_has_owner () && g_get_monotonic_time () < deadline;
       g_usleep (20 * 1000))
    ;
}

static void
fixture_up (void)
{
  g_autoptr(GError) error = NULL;

  fixture.signals = g_ptr_array_new_with_free_func (signal_free);
  fixture.data_dir = em_test_mkdtemp ();
  fixture.bus = g_test_dbus_new (G_TEST_DBUS_NONE);
  g_test_dbus_up (fixture.bus);

  fixture.connection = g_bus_get_sync (G_BUS_TYPE_SESSION, NULL, &error);
  g_assert_no_error (error);
  fixture.subscription =
    g_dbus_connection_signal_subscribe (fixture.connection, BUS_NAME, NULL, NULL, NULL, NULL,
                                        G_DBUS_SIGNAL_FLAGS_NONE, record_signal_cb, NULL, NULL);
  start_daemon ();
}

static void
fixture_down (void)
{
  stop_daemon (SIGTERM);

  g_dbus_connection_signal_unsubscribe (fixture.connection, fixture.subscription);
  g_clear_object (&fixture.connection);
  g_test_dbus_down (fixture.bus);
  g_clear_object (&fixture.bus);
  em_test_rmdir (fixture.data_dir);
  g_clear_pointer (&fixture.data_dir, g_free);
  g_clear_pointer (&fixture.signals, g_ptr_array_unref);
}

/* calls a manager method; returns the reply or NULL with @error set */
static GVariant *
call (const char          *path,
      const char          *interface,
      const char          *method,
      GVariant            *parameters,
      const GVariantType  *reply_type,
      GError             **error)
{
  /* generous: under valgrind a reply can queue behind thousands of signals */
  return g_dbus_connection_call_sync (fixture.connection, BUS_NAME, path, interface, method,
                                      parameters, reply_type, G_DBUS_CALL_FLAGS_NONE,
                                      6 * TIMEOUT_MS, NULL, error);
}

static void
assert_dbus_error (GError     *error,
                   const char *name,
                   const char *needle)
{
  g_autofree char *remote = NULL;

  g_assert_nonnull (error);
  remote = g_dbus_error_get_remote_error (error);
  g_assert_cmpstr (remote, ==, name);
  if (needle != NULL && strstr (error->message, needle) == NULL)
    g_error ("“%s” does not mention “%s”", error->message, needle);
}

/* ScheduleTask with parameters in GVariant text format, e.g. "{'duration': <100>}" */
static char *
schedule (const char  *name,
          const char  *action,
          const char  *parameters,
          char       **out_path)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) reply = NULL;
  g_autoptr(GVariant) params = g_variant_parse (G_VARIANT_TYPE_VARDICT, parameters,
                                                NULL, NULL, &error);
  char *id = NULL;
  char *path = NULL;

  g_assert_no_error (error);
  reply = call (MANAGER_PATH, MANAGER_IFACE, "ScheduleTask",
                g_variant_new ("(ss@a{sv}a{sv})", name, action, params, NULL),
                G_VARIANT_TYPE ("(so)"), &error);
  g_assert_no_error (error);
  g_variant_get (reply, "(so)", &id, &path);
  if (out_path != NULL)
    *out_path = path;
  else
    g_free (path);
  return id;
}

static GVariant *
get_task (const char *id)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) reply = call (MANAGER_PATH, MANAGER_IFACE, "GetTask",
                                    g_variant_new ("(s)", id), G_VARIANT_TYPE ("(a{sv})"), &error);
  GVariant *task;

  g_assert_no_error (error);
  g_variant_get (reply, "(@a{sv})", &task);
  return task;
}

static char *
expected_path (const char *id)
{
  g_autofree char *element = g_strdelimit (g_strdup (id), "-", '_');

  return g_strconcat (MANAGER_PATH "/tasks/", element, NULL);
}

/* whether @signal concerns the task @id at @path, and how it reads in a trace */
static char *
describe (Signal     *signal,
          const char *id,
          const char *path)
{
  if (g_str_equal (signal->interface, MANAGER_IFACE))
    {
      const char *signal_id = NULL;

      g_variant_get_child (signal->parameters, 0, "&s", &signal_id);
      if (!g_str_equal (signal_id, id) || g_str_equal (signal->member, "TaskProgress"))
        return NULL;
      return g_strdup (signal->member);
    }

  if (g_str_equal (signal->member, "InterfacesAdded") ||
      g_str_equal (signal->member, "InterfacesRemoved"))
    {
      const char *object_path = NULL;

      g_variant_get_child (signal->parameters, 0, "&o", &object_path);
      return g_str_equal (object_path, path) ? g_strdup (signal->member) : NULL;
    }

  if (g_str_equal (signal->member, "PropertiesChanged") && g_str_equal (signal->path, path))
    {
      g_autoptr(GVariant) changed = g_variant_get_child_value (signal->parameters, 1);
      const char *status = NULL;

      if (!g_variant_lookup (changed, "Status", "&s", &status))
        return NULL;
      return g_strdup_printf ("Status=%s", status);
    }

  return NULL;
}

/* the task's signals in order, one word each, e.g. "InterfacesAdded TaskScheduled …" */
static char *
trace (const char *id,
       const char *path)
{
  g_autoptr(GString) text = g_string_new (NULL);

  for (guint i = 0; i < fixture.signals->len; i++)
    {
      g_autofree char *word = describe (g_ptr_array_index (fixture.signals, i), id, path);

      if (word != NULL)
        g_string_append_printf (text, "%s%s", text->len > 0 ? " " : "", word);
    }
  return g_string_free (g_steal_pointer (&text), FALSE);
}

static Signal *
find_signal (const char *member,
             const char *id)
{
  for (guint i = 0; i < fixture.signals->len; i++)
    {
      Signal *signal = g_ptr_array_index (fixture.signals, i);
      const char *signal_id = NULL;

      if (!g_str_equal (signal->member, member) ||
          !g_str_has_prefix (g_variant_get_type_string (signal->parameters), "(s"))
        continue;
      g_variant_get_child (signal->parameters, 0, "&s", &signal_id);
      if (g_str_equal (signal_id, id))
        return signal;
    }
  return NULL;
}

static const char *
dict_string (GVariant   *dict,
             const char *key)
{
  const char *value = NULL;

  if (!g_variant_lookup (dict, key, "&s", &value))
    return NULL;
  return value;
}

static void
test_properties (void)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(EmDBusEngineManager1) proxy = NULL;
  g_autoptr(GVariant) xml = NULL;
  const char * const *actions;
  const char *introspection = NULL;

  proxy = em_dbus_engine_manager1_proxy_new_sync (fixture.connection, G_DBUS_PROXY_FLAGS_NONE,
                                                  BUS_NAME, MANAGER_PATH, NULL, &error);
  g_assert_no_error (error);

  g_assert_cmpstr (em_dbus_engine_manager1_get_version (proxy), ==, PACKAGE_VERSION);
  g_assert_cmpstr (em_dbus_engine_manager1_get_http_address (proxy), ==, "");
  actions = em_dbus_engine_manager1_get_actions (proxy);
  g_assert_nonnull (actions);
  for (const char * const *name = (const char * const[]) { "adjust_focus", "capture_image",
                                                          "move_stage", "wait", NULL };
       *name != NULL; name++)
    g_assert_true (g_strv_contains (actions, *name));

  /* the manager path serves the interface and the ObjectManager */
  xml = call (MANAGER_PATH, "org.freedesktop.DBus.Introspectable", "Introspect", NULL,
              G_VARIANT_TYPE ("(s)"), &error);
  g_assert_no_error (error);
  g_variant_get (xml, "(&s)", &introspection);
  g_assert_nonnull (strstr (introspection, MANAGER_IFACE));
  g_assert_nonnull (strstr (introspection, "org.freedesktop.DBus.ObjectManager"));
}

static void
test_complete (void)
{
  g_autofree char *path = NULL;
  g_autofree char *id = schedule ("complete", "wait", "{'duration': <150>}", &path);
  g_autofree char *want_path = expected_path (id);
  g_autofree char *signals = NULL;
  g_autoptr(GVariant) task = NULL;
  g_autoptr(GVariant) result = NULL;
  Signal *completed;

  g_assert_cmpstr (path, ==, want_path);
  EM_TEST_WAIT_UNTIL (find_signal ("TaskCompleted", id) != NULL, TIMEOUT_MS);

  signals = trace (id, path);
  g_assert_cmpstr (signals, ==, "InterfacesAdded TaskScheduled Status=running TaskStarted "
                                "Status=completed TaskCompleted");

  completed = find_signal ("TaskCompleted", id);
  g_assert_true (g_variant_is_of_type (completed->parameters, G_VARIANT_TYPE ("(sa{sv})")));

  task = get_task (id);
  g_assert_cmpstr (dict_string (task, "id"), ==, id);
  g_assert_cmpstr (dict_string (task, "name"), ==, "complete");
  g_assert_cmpstr (dict_string (task, "action"), ==, "wait");
  g_assert_cmpstr (dict_string (task, "status"), ==, "completed");
  g_assert_nonnull (dict_string (task, "created_at"));
  g_assert_nonnull (dict_string (task, "started_at"));
  g_assert_nonnull (dict_string (task, "completed_at"));
  g_assert_null (dict_string (task, "error"));
  result = g_variant_lookup_value (task, "result", G_VARIANT_TYPE_VARDICT);
  g_assert_nonnull (result);
}

static void
test_fail (void)
{
  g_autofree char *path = NULL;
  g_autofree char *id = schedule ("too far", "move_stage", "{'x': <60000.0>}", &path);
  g_autofree char *signals = NULL;
  g_autoptr(GVariant) task = NULL;
  const char *reason = NULL;

  EM_TEST_WAIT_UNTIL (find_signal ("TaskFailed", id) != NULL, TIMEOUT_MS);

  signals = trace (id, path);
  g_assert_cmpstr (signals, ==, "InterfacesAdded TaskScheduled Status=running TaskStarted "
                                "Status=failed TaskFailed");

  g_variant_get (find_signal ("TaskFailed", id)->parameters, "(s&s)", NULL, &reason);
  g_assert_cmpstr (reason, !=, "");
  task = get_task (id);
  g_assert_cmpstr (dict_string (task, "status"), ==, "failed");
  g_assert_cmpstr (dict_string (task, "error"), ==, reason);
}

/* an integer parameter sent as a double with no fraction is that integer, as
 * 2.0 is in a JSON body; 2.5 is refused naming the field */
static void
test_integral_double (void)
{
  g_autofree char *id = schedule ("grid", "tile_scan",
                                  "{'step_x': <100.0>, 'nx': <2.0>, 'ny': <1.0>,"
                                  " 'autofocus_every': <0.0>, 'exposure': <1.0>}", NULL);
  g_autoptr(GVariant) task = NULL;
  g_autoptr(GVariant) result = NULL;
  g_autoptr(GVariant) reply = NULL;
  g_autoptr(GError) error = NULL;
  gint64 count = 0;

  EM_TEST_WAIT_UNTIL (find_signal ("TaskCompleted", id) != NULL ||
                      find_signal ("TaskFailed", id) != NULL, TIMEOUT_MS);
  task = get_task (id);
  g_assert_cmpstr (dict_string (task, "status"), ==, "completed");
  result = g_variant_lookup_value (task, "result", G_VARIANT_TYPE_VARDICT);
  g_assert_nonnull (result);
  g_assert_true (g_variant_lookup (result, "count", "x", &count));
  g_assert_cmpint (count, ==, 2);

  reply = call (MANAGER_PATH, MANAGER_IFACE, "ScheduleTask",
                g_variant_new_parsed ("('x', 'tile_scan', {'step_x': <100.0>, 'nx': <2.5>}, @a{sv} {})"),
                NULL, &error);
  g_assert_null (reply);
  assert_dbus_error (error, ERROR_PREFIX "InvalidArgument",
                     "parameters.nx must be an integer, got 2.5");

  /* a non-finite double, which no JSON body can carry, is refused by name too */
  g_clear_error (&error);
  reply = call (MANAGER_PATH, MANAGER_IFACE, "ScheduleTask",
                g_variant_new_parsed ("('x', 'tile_scan', {'step_x': <100.0>, 'nx': %v}, @a{sv} {})",
                                      g_variant_new_variant (g_variant_new_double (INFINITY))),
                NULL, &error);
  g_assert_null (reply);
  assert_dbus_error (error, ERROR_PREFIX "InvalidArgument", "parameters.nx");
}

/* a task's last TaskProgress (and the Progress it sets) comes before the
 * PropertiesChanged that says it finished, and carries what the action reported */
static void
test_last_progress (void)
{
  g_autofree char *path = NULL;
  /* the stage reports every 20 ms, progress goes out every 100 ms: the final
   * value is still held back when the move ends */
  g_autofree char *id = schedule ("move", "move_stage", "{'x': <-2345.0>, 'speed': <5000.0>}", &path);
  gint last_progress = -1, last_progress_property = -1, finished = -1;
  gdouble progress = -1.0;

  EM_TEST_WAIT_UNTIL (find_signal ("TaskCompleted", id) != NULL, TIMEOUT_MS);

  for (guint i = 0; i < fixture.signals->len; i++)
    {
      Signal *signal = g_ptr_array_index (fixture.signals, i);

      if (g_str_equal (signal->member, "TaskProgress"))
        {
          const char *signal_id = NULL;
          gdouble value;

          g_variant_get (signal->parameters, "(&sd)", &signal_id, &value);
          if (g_str_equal (signal_id, id))
            {
              last_progress = i;
              progress = value;
            }
        }
      else if (g_str_equal (signal->member, "PropertiesChanged") &&
               g_str_equal (signal->path, path))
        {
          g_autoptr(GVariant) changed = g_variant_get_child_value (signal->parameters, 1);
          const char *status = NULL;
          gdouble value;

          if (g_variant_lookup (changed, "Status", "&s", &status) &&
              g_str_equal (status, "completed"))
            finished = i;
          else if (g_variant_lookup (changed, "Progress", "d", &value))
            last_progress_property = i;
        }
    }
  g_assert_cmpint (last_progress, >=, 0);
  g_assert_cmpint (finished, >=, 0);
  g_assert_cmpint (last_progress, <, finished);
  g_assert_cmpint (last_progress_property, <, last_progress);
  g_assert_cmpfloat (progress, ==, 1.0);
}

/* a dependency on a task only the task database still knows of: the
 * service looks it up before scheduling */
static void
test_dependency_from_history (void)
{
  g_autofree char *done = NULL, *failed = NULL, *expected = NULL;
  g_autofree char *after = NULL, *after_failed = NULL, *newest = NULL;
  g_autoptr(GVariant) options = NULL;
  g_autoptr(GVariant) reply = NULL;
  g_autoptr(GVariant) task = NULL;
  g_autoptr(GError) error = NULL;

  stop_daemon (SIGTERM);
  fixture.little_memory = TRUE;
  start_daemon ();

  done = schedule ("done", "wait", "{'duration': <0>}", NULL);
  failed = schedule ("too far", "move_stage", "{'x': <60000.0>}", NULL);
  EM_TEST_WAIT_UNTIL (find_signal ("TaskFailed", failed) != NULL, TIMEOUT_MS);
  EM_TEST_WAIT_UNTIL (find_signal ("TaskCompleted", done) != NULL, TIMEOUT_MS);
  /* the newest finished task takes the one final status kept in memory, once
   * its last state is flushed (within 50 ms) and it leaves memory */
  newest = schedule ("newest", "wait", "{'duration': <0>}", NULL);
  EM_TEST_WAIT_UNTIL (find_signal ("TaskCompleted", newest) != NULL, TIMEOUT_MS);
  em_test_run_for (300);

  options = g_variant_ref_sink (g_variant_new_parsed ("{'depends_on': <[%s]>}", done));
  reply = call (MANAGER_PATH, MANAGER_IFACE, "ScheduleTask",
                g_variant_new ("(ss@a{sv}@a{sv})", "after", "wait",
                               g_variant_new_parsed ("{'duration': <0>}"), options),
                G_VARIANT_TYPE ("(so)"), &error);
  g_assert_no_error (error);
  g_variant_get (reply, "(so)", &after, NULL);
  EM_TEST_WAIT_UNTIL (find_signal ("TaskCompleted", after) != NULL, TIMEOUT_MS);

  g_clear_pointer (&reply, g_variant_unref);
  reply = call (MANAGER_PATH, MANAGER_IFACE, "ScheduleBatch",
                g_variant_new_parsed ("([{'name': <'after failed'>, 'action': <'wait'>, "
                                      "'depends_on': <[%s]>}], @a{sv} {})", failed),
                G_VARIANT_TYPE ("(as)"), &error);
  g_assert_no_error (error);
  {
    g_auto(GStrv) ids = NULL;

    g_variant_get (reply, "(^as)", &ids);
    after_failed = g_strdup (ids[0]);
  }
  task = get_task (after_failed);
  expected = g_strdup_printf ("dependency %s failed", failed);
  g_assert_cmpstr (dict_string (task, "status"), ==, "failed");
  g_assert_cmpstr (dict_string (task, "error"), ==, expected);

  stop_daemon (SIGTERM);
  fixture.little_memory = FALSE;
  start_daemon ();
}

static void
test_cancel (void)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) reply = NULL;
  g_autofree char *path = NULL;
  g_autofree char *id = schedule ("long", "wait", "{'duration': <60000>}", &path);
  g_autofree char *signals = NULL;
  g_autoptr(GVariant) task = NULL;

  EM_TEST_WAIT_UNTIL (find_signal ("TaskStarted", id) != NULL, TIMEOUT_MS);
  reply = call (MANAGER_PATH, MANAGER_IFACE, "CancelTask", g_variant_new ("(s)", id),
                G_VARIANT_TYPE_UNIT, &error);
  g_assert_no_error (error);
  EM_TEST_WAIT_UNTIL (find_signal ("TaskCancelled", id) != NULL, TIMEOUT_MS);

  signals = trace (id, path);
  g_assert_cmpstr (signals, ==, "InterfacesAdded TaskScheduled Status=running TaskStarted "
                                "Status=cancelled TaskCancelled");
  task = get_task (id);
  g_assert_cmpstr (dict_string (task, "status"), ==, "cancelled");

  /* finished: a second cancel is a conflict, on both interfaces */
  g_clear_pointer (&reply, g_variant_unref);
  reply = call (MANAGER_PATH, MANAGER_IFACE, "CancelTask", g_variant_new ("(s)", id),
                G_VARIANT_TYPE_UNIT, &error);
  assert_dbus_error (error, ERROR_PREFIX "Conflict", NULL);
  g_clear_error (&error);
  reply = call (path, TASK_IFACE, "Cancel", NULL, G_VARIANT_TYPE_UNIT, &error);
  assert_dbus_error (error, ERROR_PREFIX "Conflict", NULL);
}

/* a task that finished before the last start is only in the task database:
 * cancelling it is still a conflict, not an unknown task */
static void
test_cancel_from_history (void)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) reply = NULL;
  g_autofree char *id = schedule ("short", "wait", "{'duration': <0>}", NULL);

  EM_TEST_WAIT_UNTIL (find_signal ("TaskCompleted", id) != NULL, TIMEOUT_MS);
  stop_daemon (SIGTERM);
  fixture.little_memory = TRUE;
  start_daemon ();

  reply = call (MANAGER_PATH, MANAGER_IFACE, "CancelTask", g_variant_new ("(s)", id),
                G_VARIANT_TYPE_UNIT, &error);
  g_assert_null (reply);
  assert_dbus_error (error, ERROR_PREFIX "Conflict", "completed");
  g_clear_error (&error);
  reply = call (MANAGER_PATH, MANAGER_IFACE, "CancelTask", g_variant_new ("(s)", "no-such-id"),
                G_VARIANT_TYPE_UNIT, &error);
  g_assert_null (reply);
  assert_dbus_error (error, ERROR_PREFIX "NotFound", "no-such-id");

  stop_daemon (SIGTERM);
  fixture.little_memory = FALSE;
  start_daemon ();
}

/* a finished task leaves the engine's memory (here at once, with
 * --keep-finished 0) while its object stays for the grace period: Cancel on
 * it is a conflict all along, until the object goes */
static void
test_task_cancel_grace (void)
{
  g_autofree char *path = NULL;
  g_autofree char *id = NULL;
  g_autoptr(GVariant) task = NULL;
  guint conflicts = 0;

  stop_daemon (SIGTERM);
  fixture.little_memory = TRUE;
  start_daemon ();

  id = schedule ("short", "wait", "{'duration': <0>}", &path);
  EM_TEST_WAIT_UNTIL (find_signal ("TaskCompleted", id) != NULL, TIMEOUT_MS);
  for (gint64 deadline = g_get_monotonic_time () + (GRACE_SECONDS + 5) * G_USEC_PER_SEC;
       g_get_monotonic_time () < deadline;
       em_test_run_for (10))
    {
      g_autoptr(GError) error = NULL;
      g_autoptr(GVariant) reply = call (path, TASK_IFACE, "Cancel", NULL, G_VARIANT_TYPE_UNIT,
                                        &error);
      g_autofree char *remote = NULL;

      g_assert_null (reply);
      remote = g_dbus_error_get_remote_error (error);
      /* the object is gone: the bus answers for it */
      if (remote == NULL || !g_str_has_prefix (remote, ERROR_PREFIX))
        break;
      assert_dbus_error (error, ERROR_PREFIX "Conflict", "completed");
      conflicts++;
    }
  g_assert_cmpuint (conflicts, >, 0);
  task = get_task (id);
  g_assert_nonnull (task);

  stop_daemon (SIGTERM);
  fixture.little_memory = FALSE;
  start_daemon ();
}

static void
status_notify_cb (GObject    *proxy,
                  GParamSpec *pspec,
                  GPtrArray  *seen)
{
  g_ptr_array_add (seen, g_strdup (em_dbus_task1_get_status (EM_DBUS_TASK1 (proxy))));
}

static void
test_task_object (void)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(EmDBusTask1) task = NULL;
  g_autoptr(GPtrArray) seen = g_ptr_array_new_with_free_func (g_free);
  g_autofree char *path = NULL;
  g_autofree char *id = schedule ("travel", "move_stage",
                                  "{'x': <40000.0>, 'speed': <1.0>}", &path);
  GVariant *parameters;
  gdouble x = 0;

  task = em_dbus_task1_proxy_new_sync (fixture.connection, G_DBUS_PROXY_FLAGS_NONE,
                                       BUS_NAME, path, NULL, &error);
  g_assert_no_error (error);
  g_signal_connect (task, "notify::status", G_CALLBACK (status_notify_cb), seen);

  g_assert_cmpstr (em_dbus_task1_get_id (task), ==, id);
  g_assert_cmpstr (em_dbus_task1_get_name (task), ==, "travel");
  g_assert_cmpstr (em_dbus_task1_get_action (task), ==, "move_stage");
  g_assert_cmpstr (em_dbus_task1_get_created_at (task), !=, "");
  g_assert_cmpstr (em_dbus_task1_get_completed_at (task), ==, "");
  g_assert_cmpstr (em_dbus_task1_get_error (task), ==, "");
  parameters = em_dbus_task1_get_parameters (task);
  g_assert_true (g_variant_lookup (parameters, "x", "d", &x));
  g_assert_cmpfloat (x, ==, 40000.0);
  EM_TEST_WAIT_UNTIL (g_strcmp0 (em_dbus_task1_get_status (task), "running") == 0, TIMEOUT_MS);
  g_assert_cmpstr (em_dbus_task1_get_started_at (task), !=, "");

  em_dbus_task1_call_cancel_sync (task, G_DBUS_CALL_FLAGS_NONE, -1, NULL, &error);
  g_assert_no_error (error);

  /* the proxy learns it from PropertiesChanged */
  EM_TEST_WAIT_UNTIL (g_strcmp0 (em_dbus_task1_get_status (task), "cancelled") == 0, TIMEOUT_MS);
  g_assert_cmpstr (em_dbus_task1_get_completed_at (task), !=, "");
  g_assert_cmpuint (seen->len, >, 0);
  g_assert_cmpstr (g_ptr_array_index (seen, seen->len - 1), ==, "cancelled");
  EM_TEST_WAIT_UNTIL (find_signal ("TaskCancelled", id) != NULL, TIMEOUT_MS);
  g_signal_handlers_disconnect_by_data (task, seen);
}

static void
test_errors (void)
{
  /* method, arguments, error name, what the message must name */
  const struct {
    const char *path;
    const char *interface;
    const char *method;
    const char *arguments;
    const char *error;
    const char *needle;
  } cases[] = {
    { MANAGER_PATH, MANAGER_IFACE, "ScheduleTask", "('x', 'no_such_action', @a{sv} {}, @a{sv} {})",
      "InvalidArgument", "no_such_action" },
    { MANAGER_PATH, MANAGER_IFACE, "ScheduleTask", "('', 'wait', @a{sv} {}, @a{sv} {})",
      "InvalidArgument", "name" },
    { MANAGER_PATH, MANAGER_IFACE, "ScheduleTask",
      "('x', 'capture_image', {'exposure': <'ten'>}, @a{sv} {})", "InvalidArgument", "parameters.exposure" },
    { MANAGER_PATH, MANAGER_IFACE, "ScheduleTask",
      "('x', 'wait', {'colour': <'red'>}, @a{sv} {})", "InvalidArgument", "colour" },
    { MANAGER_PATH, MANAGER_IFACE, "ScheduleTask",
      "('x', 'wait', {'duration': <objectpath '/a'>}, @a{sv} {})", "InvalidArgument", "parameters.duration" },
    { MANAGER_PATH, MANAGER_IFACE, "ScheduleTask",
      "('x', 'wait', {'duration': <10>}, {'urgency': <1>})", "InvalidArgument", "options.urgency" },
    { MANAGER_PATH, MANAGER_IFACE, "ScheduleTask",
      "('x', 'wait', {'duration': <10>}, {'priority': <'high'>})", "InvalidArgument", "options.priority" },
    /* what only the engine can tell names the option as the type checks do */
    { MANAGER_PATH, MANAGER_IFACE, "ScheduleTask",
      "('x', 'wait', @a{sv} {}, {'depends_on': <['no-such-id']>})", "InvalidArgument",
      "options.depends_on: unknown task “no-such-id”" },
    { MANAGER_PATH, MANAGER_IFACE, "ScheduleTask",
      "('x', 'wait', @a{sv} {}, {'depends_on': <['#0']>})", "InvalidArgument",
      "options.depends_on[0]: “#0” refers to an item of a batch; #N references exist only inside "
      "one (ScheduleBatch, or POST /tasks with a tasks array)" },
    { MANAGER_PATH, MANAGER_IFACE, "ScheduleBatch",
      "([{'name': <'a'>, 'action': <'wait'>}, {'name': <'b'>, 'action': <'wait'>, "
      "'depends_on': <['#0', '#1']>}], @a{sv} {})", "InvalidArgument",
      "tasks[1] depends_on[1]: “#1” must name an earlier item of the same batch" },
    { MANAGER_PATH, MANAGER_IFACE, "ScheduleTask",
      "('x', 'move_stage', {'x': <1.0>, 'relative': <true>}, {'max_retries': <1>})", "InvalidArgument",
      "options.max_retries: action “move_stage” is not safe to retry with these parameters: "
      "parameters.relative is true" },
    /* a key twice, as a JSON member twice, is refused rather than one kept */
    { MANAGER_PATH, MANAGER_IFACE, "ScheduleTask",
      "('x', 'wait', {'duration': <10>, 'duration': <20000>}, @a{sv} {})", "InvalidArgument",
      "parameters.duration: member name appears more than once" },
    { MANAGER_PATH, MANAGER_IFACE, "ScheduleTask",
      "('x', 'wait', @a{sv} {}, {'priority': <1>, 'priority': <2>})", "InvalidArgument", "options.priority" },
    { MANAGER_PATH, MANAGER_IFACE, "ListTasks", "({'status': <'sleeping'>},)",
      "InvalidArgument", "sleeping" },
    { MANAGER_PATH, MANAGER_IFACE, "ListTasks", "({'status': <1>},)",
      "InvalidArgument", "status" },
    /* no status at all would be no filter: every task */
    { MANAGER_PATH, MANAGER_IFACE, "ListTasks", "({'status': <@as []>},)",
      "InvalidArgument", "filter.status" },
    { MANAGER_PATH, MANAGER_IFACE, "ListTasks", "({'status': <@av []>},)",
      "InvalidArgument", "filter.status: empty" },
    { MANAGER_PATH, MANAGER_IFACE, "ListTasks", "({'status': <[<'pending'>, <1>]>},)",
      "InvalidArgument", "filter.status[1] must be of type s, not i" },
    { MANAGER_PATH, MANAGER_IFACE, "ListTasks", "({'status': <[<'pending'>, <'sleeping'>]>},)",
      "InvalidArgument", "filter.status: unknown status “sleeping”" },
    { MANAGER_PATH, MANAGER_IFACE, "ListTasks", "({'status': <[1, 2]>},)",
      "InvalidArgument", "filter.status must be of type s or as (or av of strings), not ai" },
    /* no action is an action's name: an empty one matched nothing, where
     * GET /tasks?action= is refused */
    { MANAGER_PATH, MANAGER_IFACE, "ListTasks", "({'action': <''>},)",
      "InvalidArgument", "filter.action" },
    { MANAGER_PATH, MANAGER_IFACE, "ListTasks", "({'colour': <'red'>},)",
      "InvalidArgument", "colour" },
    { MANAGER_PATH, MANAGER_IFACE, "ListTasks", "({'': <'red'>},)",
      "InvalidArgument", "filter.“” is not a known key" },
    { MANAGER_PATH, MANAGER_IFACE, "ScheduleTask",
      "('x', 'wait', {'': <1>}, @a{sv} {})",
      "InvalidArgument", "parameters.“”: unknown parameter" },
    { MANAGER_PATH, MANAGER_IFACE, "ListTasks", "({'limit': <'ten'>},)",
      "InvalidArgument", "limit" },
    { MANAGER_PATH, MANAGER_IFACE, "ListTasks", "({'since': <'yesterday'>},)",
      "InvalidArgument", "filter.since" },
    { MANAGER_PATH, MANAGER_IFACE, "ListTasks", "({'until': <1>},)",
      "InvalidArgument", "filter.until" },
    /* swapped bounds would match nothing: refused rather than an empty list */
    { MANAGER_PATH, MANAGER_IFACE, "ListTasks",
      "({'since': <'2026-01-02T00:00:00Z'>, 'until': <'2026-01-01T00:00:00Z'>},)",
      "InvalidArgument", "filter.until: 2026-01-01T00:00:00Z is before filter.since" },
    { MANAGER_PATH, MANAGER_IFACE, "ListTasks", "({'offset': <-1>},)",
      "InvalidArgument", "filter.offset" },
    /* the value quoted back is the one sent */
    { MANAGER_PATH, MANAGER_IFACE, "ListTasks", "({'limit': <uint64 18446744073709551615>},)",
      "InvalidArgument", "filter.limit must be between 0 and 4294967295, got 18446744073709551615" },
    { MANAGER_PATH, MANAGER_IFACE, "ListTasks", "({'action': <1>},)",
      "InvalidArgument", "filter.action" },
    { MANAGER_PATH, MANAGER_IFACE, "ListTasks", "({'after': <1>},)",
      "InvalidArgument", "filter.after" },
    /* a filter or batch option given twice is refused as a parameter twice is */
    { MANAGER_PATH, MANAGER_IFACE, "ListTasks", "({'status': <'pending'>, 'status': <'failed'>},)",
      "InvalidArgument", "filter.status: member name appears more than once" },
    { MANAGER_PATH, MANAGER_IFACE, "ListTasks", "({'limit': <1>, 'limit': <2>},)",
      "InvalidArgument", "filter.limit: member name appears more than once" },
    { MANAGER_PATH, MANAGER_IFACE, "ScheduleBatch",
      "([{'name': <'x'>, 'action': <'wait'>}], {'exclusive': <true>, 'exclusive': <false>})",
      "InvalidArgument", "options.exclusive: member name appears more than once" },
    { MANAGER_PATH, MANAGER_IFACE, "ScheduleBatch",
      "([{'name': <'x'>, 'action': <'wait'>, 'parameters': <{'duration': <'long'>}>}], @a{sv} {})",
      "InvalidArgument", "tasks[0] parameters.duration" },
    /* in D-Bus terms: JSON's null is no D-Bus value */
    { MANAGER_PATH, MANAGER_IFACE, "ScheduleBatch",
      "([{'name': <'x'>, 'action': <'wait'>, 'parameters': <'fast'>}], @a{sv} {})",
      "InvalidArgument", "tasks[0] parameters must be a dictionary (a{sv}), not s" },
    { MANAGER_PATH, MANAGER_IFACE, "ScheduleBatch",
      "([{'name': <'x'>, 'action': <'wait'>, 'urgency': <1>}], @a{sv} {})",
      "InvalidArgument", "urgency" },
    /* a key inside a dictionary is named by its whole path */
    { MANAGER_PATH, MANAGER_IFACE, "ScheduleBatch",
      "([{'name': <'x'>, 'action': <'wait'>, 'parameters': <{'duration': <1>, 'duration': <2>}>}], @a{sv} {})",
      "InvalidArgument", "tasks[0] parameters.duration: member name appears more than once" },
    { MANAGER_PATH, MANAGER_IFACE, "ScheduleBatch",
      "([{'name': <'x'>, 'action': <'wait'>, 'parameters': <{'duration': <objectpath '/a'>}>}], @a{sv} {})",
      "InvalidArgument", "tasks[0] parameters.duration: a value of D-Bus type" },
    { MANAGER_PATH, MANAGER_IFACE, "ScheduleTask",
      "('x', 'wait', {'duration': <{'ms': <objectpath '/a'>}>}, @a{sv} {})",
      "InvalidArgument", "parameters.duration.ms: a value of D-Bus type" },
    { MANAGER_PATH, MANAGER_IFACE, "ScheduleTask",
      "('x', 'wait', @a{sv} {}, {'depends_on': <[<'a'>, <objectpath '/a'>]>})",
      "InvalidArgument", "options.depends_on[1]: a value of D-Bus type" },
    /* an entry of a dictionary whose keys are not strings is named by its
     * key, not by a position that reads as an array item's */
    { MANAGER_PATH, MANAGER_IFACE, "ScheduleTask",
      "('x', 'wait', {'duration': <{3: <'a'>}>}, @a{sv} {})", "InvalidArgument",
      "parameters.duration{3}: a dictionary with keys of D-Bus type “i” has no JSON form" },
    { MANAGER_PATH, MANAGER_IFACE, "ScheduleTask",
      "('x', 'wait', {'duration': <{'ms': <{byte 7: 'a', byte 9: 'b'}>}>}, @a{sv} {})", "InvalidArgument",
      "parameters.duration.ms{7}: a dictionary with keys of D-Bus type “y”" },
    { MANAGER_PATH, MANAGER_IFACE, "ScheduleTask",
      "('x', 'wait', @a{sv} {}, {'depends_on': <[<'a'>, <{objectpath '/a': 1}>]>})", "InvalidArgument",
      "options.depends_on[1]{'/a'}: a dictionary with keys of D-Bus type “o”" },
    { MANAGER_PATH, MANAGER_IFACE, "ScheduleBatch",
      "([{'name': <'x'>, 'action': <'wait'>, 'parameters': <{'duration': <{int64 -5: 1}>}>}], @a{sv} {})",
      "InvalidArgument", "tasks[0] parameters.duration{-5}: a dictionary with keys of D-Bus type “x”" },
    { MANAGER_PATH, MANAGER_IFACE, "ScheduleBatch",
      "([{'name': <'x'>, 'action': <'wait'>, 'tags': <{true: 1}>}], @a{sv} {})",
      "InvalidArgument", "tasks[0] tags{true}: a dictionary with keys of D-Bus type “b”" },
    /* numbers no JSON body could hold are named as such, not as D-Bus types */
    { MANAGER_PATH, MANAGER_IFACE, "ScheduleTask",
      "('x', 'wait', @a{sv} {}, {'max_retries': <uint64 18446744073709551615>})", "InvalidArgument",
      "options.max_retries: 18446744073709551615 is out of range; integers go up to 9223372036854775807" },
    { MANAGER_PATH, MANAGER_IFACE, "ScheduleTask",
      "('x', 'wait', {'duration': <inf>}, @a{sv} {})", "InvalidArgument",
      "parameters.duration: inf is not a finite number" },
    { MANAGER_PATH, MANAGER_IFACE, "ScheduleBatch",
      "([{'name': <'x'>, 'action': <'wait'>, 'delay': <nan>}], @a{sv} {})",
      "InvalidArgument", "tasks[0] delay: nan is not a finite number" },
    { MANAGER_PATH, MANAGER_IFACE, "GetTask", "('no-such-id',)", "NotFound", "no-such-id" },
    { MANAGER_PATH, MANAGER_IFACE, "CancelTask", "('no-such-id',)", "NotFound", NULL },
  };

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr(GError) error = NULL;
      g_autoptr(GVariant) arguments = g_variant_parse (NULL, cases[i].arguments, NULL, NULL, &error);
      g_autoptr(GVariant) reply = NULL;
      g_autofree char *name = g_strconcat (ERROR_PREFIX, cases[i].error, NULL);

      g_assert_no_error (error);
      g_test_message ("%s%s", cases[i].method, cases[i].arguments);
      reply = call (cases[i].path, cases[i].interface, cases[i].method,
                    arguments, NULL, &error);
      g_assert_null (reply);
      assert_dbus_error (error, name, cases[i].needle);
    }
}

/* arguments past 1 MiB are refused before they are read, like a REST body */
static void
test_huge_arguments (void)
{
  g_autofree char *big = g_strnfill (2 * 1024 * 1024, 'x');
  GVariant *parameters[] = {
    g_variant_new_parsed ("('huge', 'wait', {'duration': <%s>}, @a{sv} {})", big),
    g_variant_new_parsed ("([{'name': <'huge'>, 'action': <'wait'>, 'parameters': <{'duration': <%s>}>}], "
                          "@a{sv} {})", big),
  };
  const char *methods[] = { "ScheduleTask", "ScheduleBatch" };

  for (guint i = 0; i < G_N_ELEMENTS (methods); i++)
    {
      g_autoptr(GError) error = NULL;
      g_autoptr(GVariant) reply = call (MANAGER_PATH, MANAGER_IFACE, methods[i], parameters[i],
                                        NULL, &error);

      g_assert_null (reply);
      assert_dbus_error (error, ERROR_PREFIX "InvalidArgument", "arguments: larger than the limit of 1048576 bytes");
    }
}

static void
test_list (void)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) all = NULL;
  g_autoptr(GVariant) running = NULL;
  g_autoptr(GVariant) page = NULL;
  g_autofree char *first = schedule ("list 1", "wait", "{'duration': <0>}", NULL);
  g_autofree char *second = schedule ("list 2", "wait", "{'duration': <60000>}", NULL);
  GVariantIter *iter;
  GVariant *task;
  int first_index = -1, second_index = -1, index = 0;

  EM_TEST_WAIT_UNTIL (find_signal ("TaskCompleted", first) != NULL, TIMEOUT_MS);
  EM_TEST_WAIT_UNTIL (find_signal ("TaskStarted", second) != NULL, TIMEOUT_MS);

  /* oldest first */
  all = call (MANAGER_PATH, MANAGER_IFACE, "ListTasks", g_variant_new_parsed ("(@a{sv} {},)"),
              G_VARIANT_TYPE ("(aa{sv})"), &error);
  g_assert_no_error (error);
  g_variant_get (all, "(aa{sv})", &iter);
  while (g_variant_iter_next (iter, "@a{sv}", &task))
    {
      if (g_strcmp0 (dict_string (task, "id"), first) == 0)
        first_index = index;
      if (g_strcmp0 (dict_string (task, "id"), second) == 0)
        second_index = index;
      index++;
      g_variant_unref (task);
    }
  g_variant_iter_free (iter);
  g_assert_cmpint (first_index, >=, 0);
  g_assert_cmpint (second_index, >, first_index);

  /* only the running one */
  running = call (MANAGER_PATH, MANAGER_IFACE, "ListTasks",
                  g_variant_new_parsed ("({'status': <'running'>},)"),
                  G_VARIANT_TYPE ("(aa{sv})"), &error);
  g_assert_no_error (error);
  g_variant_get (running, "(aa{sv})", &iter);
  index = 0;
  while (g_variant_iter_next (iter, "@a{sv}", &task))
    {
      g_assert_cmpstr (dict_string (task, "status"), ==, "running");
      g_assert_cmpstr (dict_string (task, "id"), ==, second);
      index++;
      g_variant_unref (task);
    }
  g_variant_iter_free (iter);
  g_assert_cmpint (index, ==, 1);

  /* a page of one */
  page = call (MANAGER_PATH, MANAGER_IFACE, "ListTasks",
               g_variant_new_parsed ("({'offset': <uint32 1>, 'limit': <uint32 1>},)"),
               G_VARIANT_TYPE ("(aa{sv})"), &error);
  g_assert_no_error (error);
  g_variant_get (page, "(aa{sv})", &iter);
  g_assert_cmpuint (g_variant_iter_n_children (iter), ==, 1);
  g_variant_iter_free (iter);

  g_clear_pointer (&page, g_variant_unref);
  page = call (MANAGER_PATH, MANAGER_IFACE, "CancelTask", g_variant_new ("(s)", second),
               G_VARIANT_TYPE_UNIT, &error);
  g_assert_no_error (error);
}

/* the ids ListTasks gives for @filter */
static GStrv
list_ids (const char *filter)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) reply = call (MANAGER_PATH, MANAGER_IFACE, "ListTasks",
                                    g_variant_new_parsed (filter), G_VARIANT_TYPE ("(aa{sv})"),
                                    &error);
  g_autoptr(GStrvBuilder) ids = g_strv_builder_new ();
  g_autoptr(GVariantIter) iter = NULL;
  GVariant *task;

  g_assert_no_error (error);
  g_variant_get (reply, "(aa{sv})", &iter);
  while (g_variant_iter_next (iter, "@a{sv}", &task))
    {
      g_strv_builder_add (ids, dict_string (task, "id"));
      g_variant_unref (task);
    }
  return g_strv_builder_end (ids);
}

static gboolean has_signal (const char *member);

/* the next page starts after the last task of the one before: pending tasks
 * that start or are cancelled in between make it skip none, as an offset would */
static void
test_list_after (void)
{
  g_autoptr(GDateTime) now = g_date_time_new_now_utc ();
  g_autofree char *since = g_date_time_format_iso8601 (now);
  g_autofree char *first_filter = NULL, *next_filter = NULL;
  g_auto(GStrv) first = NULL, next = NULL;
  g_autoptr(GPtrArray) ids = g_ptr_array_new_with_free_func (g_free);
  g_autoptr(GVariant) reply = NULL;
  g_autoptr(GError) error = NULL;

  reply = call (MANAGER_PATH, MANAGER_IFACE, "Pause", NULL, G_VARIANT_TYPE_UNIT, &error);
  g_assert_no_error (error);
  for (guint i = 0; i < 4; i++)
    g_ptr_array_add (ids, schedule ("paged", "wait", "{'duration': <0>}", NULL));

  first_filter = g_strdup_printf ("({'status': <'pending'>, 'since': <'%s'>, 'limit': <uint32 2>},)",
                                  since);
  first = list_ids (first_filter);
  g_assert_cmpuint (g_strv_length (first), ==, 2);
  g_assert_cmpstr (first[0], ==, g_ptr_array_index (ids, 0));
  g_assert_cmpstr (first[1], ==, g_ptr_array_index (ids, 1));
  for (guint i = 0; i < 2; i++)
    {
      g_clear_pointer (&reply, g_variant_unref);
      reply = call (MANAGER_PATH, MANAGER_IFACE, "CancelTask",
                    g_variant_new ("(s)", g_ptr_array_index (ids, i)), G_VARIANT_TYPE_UNIT, &error);
      g_assert_no_error (error);
    }

  next_filter = g_strdup_printf ("({'status': <'pending'>, 'since': <'%s'>, 'after': <'%s'>, "
                                 "'limit': <uint32 2>},)", since, first[1]);
  next = list_ids (next_filter);
  g_assert_cmpuint (g_strv_length (next), ==, 2);
  g_assert_cmpstr (next[0], ==, g_ptr_array_index (ids, 2));
  g_assert_cmpstr (next[1], ==, g_ptr_array_index (ids, 3));

  g_clear_pointer (&reply, g_variant_unref);
  reply = call (MANAGER_PATH, MANAGER_IFACE, "ListTasks",
                g_variant_new_parsed ("({'after': <'00000000-0000-4000-8000-000000000000'>},)"),
                G_VARIANT_TYPE ("(aa{sv})"), &error);
  g_assert_null (reply);
  assert_dbus_error (error, ERROR_PREFIX "NotFound",
                     "filter.after: no task with id “00000000-0000-4000-8000-000000000000”");
  g_clear_error (&error);

  reply = call (MANAGER_PATH, MANAGER_IFACE, "Resume", NULL, G_VARIANT_TYPE_UNIT, &error);
  g_assert_no_error (error);
  /* the queue's signals carry no task id, which the other tests' traces expect */
  EM_TEST_WAIT_UNTIL (has_signal ("QueueResumed"), TIMEOUT_MS);
  g_ptr_array_set_size (fixture.signals, 0);
}

static void
object_added_cb (GDBusObjectManager *manager,
                 GDBusObject        *object,
                 GPtrArray          *added)
{
  g_ptr_array_add (added, g_strdup (g_dbus_object_get_object_path (object)));
}

static void
object_removed_cb (GDBusObjectManager *manager,
                   GDBusObject        *object,
                   GPtrArray          *removed)
{
  g_ptr_array_add (removed, g_strdup (g_dbus_object_get_object_path (object)));
}

static gboolean
contains_path (GPtrArray  *paths,
               const char *path)
{
  return g_ptr_array_find_with_equal_func (paths, path, g_str_equal, NULL);
}

static void
test_object_manager (void)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GDBusObjectManager) manager = NULL;
  g_autoptr(GPtrArray) added = g_ptr_array_new_with_free_func (g_free);
  g_autoptr(GPtrArray) removed = g_ptr_array_new_with_free_func (g_free);
  g_autoptr(GDBusObject) object = NULL;
  g_autoptr(EmDBusTask1) task1 = NULL;
  g_autoptr(GVariant) task = NULL;
  g_autofree char *path = NULL;
  g_autofree char *id = NULL;
  g_autofree char *signals = NULL;
  gint64 completed_at, removed_at = 0;

  manager = em_dbus_object_manager_client_new_sync (fixture.connection,
                                                    G_DBUS_OBJECT_MANAGER_CLIENT_FLAGS_NONE,
                                                    BUS_NAME, MANAGER_PATH, NULL, &error);
  g_assert_no_error (error);
  g_signal_connect (manager, "object-added", G_CALLBACK (object_added_cb), added);
  g_signal_connect (manager, "object-removed", G_CALLBACK (object_removed_cb), removed);

  id = schedule ("followed", "wait", "{'duration': <300>}", &path);
  EM_TEST_WAIT_UNTIL (contains_path (added, path), TIMEOUT_MS);

  object = g_dbus_object_manager_get_object (manager, path);
  g_assert_nonnull (object);
  task1 = em_dbus_object_get_task1 (EM_DBUS_OBJECT (object));
  g_assert_nonnull (task1);
  g_assert_cmpstr (em_dbus_task1_get_id (task1), ==, id);
  EM_TEST_WAIT_UNTIL (g_strcmp0 (em_dbus_task1_get_status (task1), "completed") == 0, TIMEOUT_MS);
  EM_TEST_WAIT_UNTIL (find_signal ("TaskCompleted", id) != NULL, TIMEOUT_MS);
  completed_at = find_signal ("TaskCompleted", id)->time;

  /* the object outlives the task by the grace period, then goes */
  EM_TEST_WAIT_UNTIL (contains_path (removed, path), (GRACE_SECONDS + 5) * 1000);
  for (guint i = 0; i < fixture.signals->len; i++)
    {
      Signal *signal = g_ptr_array_index (fixture.signals, i);
      const char *object_path = NULL;

      if (!g_str_equal (signal->member, "InterfacesRemoved"))
        continue;
      g_variant_get_child (signal->parameters, 0, "&o", &object_path);
      if (g_str_equal (object_path, path))
        removed_at = signal->time;
    }
  g_assert_cmpint (removed_at - completed_at, >=, (GRACE_SECONDS - 1) * G_USEC_PER_SEC);

  signals = trace (id, path);
  g_assert_cmpstr (signals, ==, "InterfacesAdded TaskScheduled Status=running TaskStarted "
                                "Status=completed TaskCompleted InterfacesRemoved");

  /* gone from the bus, not from the service */
  g_assert_null (g_dbus_object_manager_get_object (manager, path));
  task = get_task (id);
  g_assert_cmpstr (dict_string (task, "status"), ==, "completed");

  g_signal_handlers_disconnect_by_data (manager, added);
  g_signal_handlers_disconnect_by_data (manager, removed);
}

static void
test_name_taken (void)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GSubprocess) second = NULL;
  g_autofree char *err = NULL;
  g_autofree char *data_dir = em_test_mkdtemp ();

  second = spawn_daemon (G_SUBPROCESS_FLAGS_STDERR_PIPE, data_dir, &error);
  g_assert_no_error (error);
  g_subprocess_communicate_utf8 (second, NULL, NULL, NULL, &err, &error);
  g_assert_no_error (error);
  g_assert_true (g_subprocess_get_if_exited (second));
  g_assert_cmpint (g_subprocess_get_exit_status (second), !=, 0);
  g_assert_nonnull (strstr (err, "already owned"));
  g_assert_nonnull (strstr (err, BUS_NAME));
  em_test_rmdir (data_dir);
}

static void
test_no_bus (void)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GSubprocessLauncher) launcher = NULL;
  g_autoptr(GSubprocess) daemon = NULL;
  g_autofree char *err = NULL;
  g_autofree char *data_dir = em_test_mkdtemp ();

  launcher = g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_STDERR_PIPE);
  g_subprocess_launcher_setenv (launcher, "DBUS_SESSION_BUS_ADDRESS",
                                "unix:path=/nonexistent/engine-manager-test-bus", TRUE);
  g_subprocess_launcher_unsetenv (launcher, "DISPLAY");
  daemon = g_subprocess_launcher_spawn (launcher, &error, daemon_path (), "--no-http",
                                        "--data-dir", data_dir, NULL);
  g_assert_no_error (error);
  g_subprocess_communicate_utf8 (daemon, NULL, NULL, NULL, &err, &error);
  g_assert_no_error (error);
  g_assert_cmpint (g_subprocess_get_exit_status (daemon), !=, 0);
  g_assert_nonnull (strstr (err, "session bus"));
  g_assert_nonnull (strstr (err, "--bus none"));
  g_assert_nonnull (strstr (err, "dbus-run-session"));
  em_test_rmdir (data_dir);
}

/* --- scheduling (batches, queue control, retries, progress) --- */

static GVariant *
get_property (const char *path,
              const char *interface,
              const char *name)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) reply = call (path, "org.freedesktop.DBus.Properties", "Get",
                                    g_variant_new ("(ss)", interface, name),
                                    G_VARIANT_TYPE ("(v)"), &error);
  GVariant *value;

  g_assert_no_error (error);
  g_variant_get (reply, "(v)", &value);
  return value;
}

static guint64
last_event_seq (void)
{
  g_autoptr(GVariant) value = get_property (MANAGER_PATH, MANAGER_IFACE, "LastEventSeq");

  return g_variant_get_uint64 (value);
}

/* ScheduleBatch with the arguments in GVariant text format; NULL with @error set */
static GStrv
schedule_batch (const char  *arguments,
                GError     **error)
{
  g_autoptr(GVariant) parsed = NULL;
  g_autoptr(GVariant) reply = NULL;
  GStrv ids = NULL;

  parsed = g_variant_parse (G_VARIANT_TYPE ("(aa{sv}a{sv})"), arguments, NULL, NULL, error);
  g_assert_no_error (*error);
  /* a long one: the reply queues behind every signal of the tasks it started */
  reply = g_dbus_connection_call_sync (fixture.connection, BUS_NAME, MANAGER_PATH, MANAGER_IFACE,
                                       "ScheduleBatch", parsed, G_VARIANT_TYPE ("(as)"),
                                       G_DBUS_CALL_FLAGS_NONE, 6 * TIMEOUT_MS, NULL, error);
  if (reply == NULL)
    return NULL;
  g_variant_get (reply, "(^as)", &ids);
  return ids;
}

static guint
count_tasks (const char *filter)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) reply = NULL;
  g_autoptr(GVariant) tasks = NULL;

  reply = call (MANAGER_PATH, MANAGER_IFACE, "ListTasks", g_variant_new_parsed (filter),
                G_VARIANT_TYPE ("(aa{sv})"), &error);
  g_assert_no_error (error);
  tasks = g_variant_get_child_value (reply, 0);
  return g_variant_n_children (tasks);
}

static gboolean
is_finished (const char *id)
{
  g_autoptr(GVariant) task = get_task (id);
  const char *status = dict_string (task, "status");

  return g_strcmp0 (status, "pending") != 0 && g_strcmp0 (status, "running") != 0;
}

static gboolean
nothing_unfinished (void)
{
  return count_tasks ("({'status': <['pending', 'running']>},)") == 0;
}

static void
test_batch (void)
{
  g_autoptr(GError) error = NULL;
  g_auto(GStrv) ids = NULL;
  g_autoptr(GVariant) first = NULL;
  g_autoptr(GVariant) second = NULL;
  g_autoptr(GVariant) depends_on = NULL;
  g_autoptr(GVariant) dep = NULL;
  guint before = count_tasks ("(@a{sv} {},)");

  /* all or nothing: the second item is wrong, so the first is not created either */
  ids = schedule_batch ("([{'name': <'ok'>, 'action': <'wait'>, 'parameters': <{'duration': <1>}>},"
                        "  {'name': <'bad'>, 'action': <'wait'>, 'priority': <'high'>}], @a{sv} {})",
                        &error);
  g_assert_null (ids);
  assert_dbus_error (error, ERROR_PREFIX "InvalidArgument", "tasks[1]");
  assert_dbus_error (error, ERROR_PREFIX "InvalidArgument", "priority");
  g_clear_error (&error);
  ids = schedule_batch ("([{'name': <'ok'>, 'action': <'wait'>},"
                        "  {'name': <'bad'>, 'action': <'wait'>, 'depends_on': <['#5']>}], @a{sv} {})",
                        &error);
  assert_dbus_error (error, ERROR_PREFIX "InvalidArgument", "tasks[1]");
  assert_dbus_error (error, ERROR_PREFIX "InvalidArgument", "#5");
  g_clear_error (&error);
  ids = schedule_batch ("([{'name': <'ok'>, 'action': <'wait'>}], {'atomic': <true>})", &error);
  assert_dbus_error (error, ERROR_PREFIX "InvalidArgument", "options.atomic");
  g_clear_error (&error);
  ids = schedule_batch ("([{'name': <'ok'>, 'action': <'wait'>}], {'exclusive': <1>})", &error);
  assert_dbus_error (error, ERROR_PREFIX "InvalidArgument", "options.exclusive");
  g_clear_error (&error);
  ids = schedule_batch ("(@aa{sv} [], @a{sv} {})", &error);
  assert_dbus_error (error, ERROR_PREFIX "InvalidArgument", "tasks: ");
  g_clear_error (&error);
  g_assert_cmpuint (count_tasks ("(@a{sv} {},)"), ==, before);

  /* "#0" is the first item of the same batch */
  ids = schedule_batch ("([{'name': <'first'>, 'action': <'wait'>, 'parameters': <{'duration': <150>}>},"
                        "  {'name': <'second'>, 'action': <'wait'>, 'depends_on': <['#0']>,"
                        "   'priority': <7>}], @a{sv} {})", &error);
  g_assert_no_error (error);
  g_assert_cmpuint (g_strv_length (ids), ==, 2);
  g_assert_cmpuint (count_tasks ("(@a{sv} {},)"), ==, before + 2);
  EM_TEST_WAIT_UNTIL (find_signal ("TaskCompleted", ids[1]) != NULL, TIMEOUT_MS);

  first = get_task (ids[0]);
  second = get_task (ids[1]);
  depends_on = g_variant_lookup_value (second, "depends_on", G_VARIANT_TYPE ("av"));
  g_assert_nonnull (depends_on);
  g_assert_cmpuint (g_variant_n_children (depends_on), ==, 1);
  g_variant_get_child (depends_on, 0, "v", &dep);
  g_assert_cmpstr (g_variant_get_string (dep, NULL), ==, ids[0]);
  g_assert_cmpstr (dict_string (first, "batch"), !=, NULL);
  g_assert_cmpstr (dict_string (first, "batch"), ==, dict_string (second, "batch"));
  /* RFC 3339 in UTC with fixed digits: text order is time order */
  g_assert_cmpstr (dict_string (second, "started_at"), >=, dict_string (first, "completed_at"));
}

/* an exclusive batch of two stage moves against a higher-priority move from
 * another client: when does the intruder start? */
static gboolean
intruder_slips_in (gboolean exclusive)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *arguments = NULL;
  g_autofree char *intruder = NULL;
  g_auto(GStrv) ids = NULL;
  g_autoptr(GVariant) second = NULL;
  g_autoptr(GVariant) other = NULL;
  g_autoptr(GVariant) options = NULL;
  g_autoptr(GVariant) reply = NULL;
  g_autoptr(GVariant) params = g_variant_parse (G_VARIANT_TYPE_VARDICT,
                                                "{'x': <0.0>, 'speed': <5000.0>}", NULL, NULL, NULL);

  arguments = g_strdup_printf ("([{'name': <'out'>, 'action': <'move_stage'>,"
                               "   'parameters': <{'x': <1000.0>, 'speed': <2500.0>}>},"
                               "  {'name': <'back'>, 'action': <'move_stage'>, 'depends_on': <['#0']>,"
                               "   'parameters': <{'x': <0.0>, 'speed': <2500.0>}>}],"
                               " {'exclusive': <%s>})", exclusive ? "true" : "false");
  ids = schedule_batch (arguments, &error);
  g_assert_no_error (error);
  EM_TEST_WAIT_UNTIL (find_signal ("TaskStarted", ids[0]) != NULL, TIMEOUT_MS);

  options = g_variant_ref_sink (g_variant_new_parsed ("{'priority': <10>}"));
  reply = call (MANAGER_PATH, MANAGER_IFACE, "ScheduleTask",
                g_variant_new ("(ss@a{sv}@a{sv})", "intruder", "move_stage", params, options),
                G_VARIANT_TYPE ("(so)"), &error);
  g_assert_no_error (error);
  g_variant_get (reply, "(so)", &intruder, NULL);
  EM_TEST_WAIT_UNTIL (is_finished (ids[1]) && is_finished (intruder), TIMEOUT_MS);

  second = get_task (ids[1]);
  other = get_task (intruder);
  g_assert_cmpstr (dict_string (second, "status"), ==, "completed");
  g_assert_cmpstr (dict_string (other, "status"), ==, "completed");
  return g_strcmp0 (dict_string (other, "started_at"), dict_string (second, "started_at")) < 0;
}

static void
test_batch_exclusive (void)
{
  /* without the flag the intruder's priority wins the stage between the two */
  g_assert_true (intruder_slips_in (FALSE));
  g_assert_false (intruder_slips_in (TRUE));
}

static gboolean
has_signal (const char *member)
{
  for (guint i = 0; i < fixture.signals->len; i++)
    if (g_str_equal (((Signal *) g_ptr_array_index (fixture.signals, i))->member, member))
      return TRUE;
  return FALSE;
}

static void
test_pause_resume (void)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(EmDBusEngineManager1) proxy = NULL;
  g_autoptr(GVariant) reply = NULL;
  g_autoptr(GVariant) queue = NULL;
  g_autoptr(GVariant) counts = NULL;
  g_autoptr(GVariant) task = NULL;
  g_autofree char *id = NULL;
  gboolean paused = FALSE;
  guint pending = 0;
  guint max_concurrent = 0;

  proxy = em_dbus_engine_manager1_proxy_new_sync (fixture.connection, G_DBUS_PROXY_FLAGS_NONE,
                                                  BUS_NAME, MANAGER_PATH, NULL, &error);
  g_assert_no_error (error);
  g_assert_false (em_dbus_engine_manager1_get_paused (proxy));
  g_assert_cmpuint (em_dbus_engine_manager1_get_max_concurrent (proxy), >, 0);
  g_ptr_array_set_size (fixture.signals, 0);

  reply = call (MANAGER_PATH, MANAGER_IFACE, "Pause", NULL, G_VARIANT_TYPE_UNIT, &error);
  g_assert_no_error (error);
  EM_TEST_WAIT_UNTIL (has_signal ("QueuePaused"), TIMEOUT_MS);
  EM_TEST_WAIT_UNTIL (em_dbus_engine_manager1_get_paused (proxy), TIMEOUT_MS);

  /* nothing starts while paused */
  id = schedule ("held", "wait", "{'duration': <0>}", NULL);
  em_test_run_for (300);
  task = get_task (id);
  g_assert_cmpstr (dict_string (task, "status"), ==, "pending");
  g_assert_null (find_signal ("TaskStarted", id));

  g_clear_pointer (&reply, g_variant_unref);
  reply = call (MANAGER_PATH, MANAGER_IFACE, "GetQueue", NULL, G_VARIANT_TYPE ("(a{sv})"), &error);
  g_assert_no_error (error);
  g_variant_get (reply, "(@a{sv})", &queue);
  g_assert_true (g_variant_lookup (queue, "paused", "b", &paused));
  g_assert_true (paused);
  counts = g_variant_lookup_value (queue, "counts", G_VARIANT_TYPE ("a{su}"));
  g_assert_nonnull (counts);
  g_assert_true (g_variant_lookup (counts, "pending", "u", &pending));
  g_assert_cmpuint (pending, ==, 1);
  g_assert_true (g_variant_lookup (counts, "completed", "u", NULL));
  /* the same fields as the REST API's GET /queue */
  g_assert_true (g_variant_lookup (queue, "max_concurrent", "u", &max_concurrent));
  g_assert_cmpuint (max_concurrent, ==, em_dbus_engine_manager1_get_max_concurrent (proxy));

  g_clear_pointer (&reply, g_variant_unref);
  reply = call (MANAGER_PATH, MANAGER_IFACE, "Resume", NULL, G_VARIANT_TYPE_UNIT, &error);
  g_assert_no_error (error);
  EM_TEST_WAIT_UNTIL (has_signal ("QueueResumed"), TIMEOUT_MS);
  EM_TEST_WAIT_UNTIL (!em_dbus_engine_manager1_get_paused (proxy), TIMEOUT_MS);
  EM_TEST_WAIT_UNTIL (find_signal ("TaskCompleted", id) != NULL, TIMEOUT_MS);
}

static void
test_retrying (void)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) reply = NULL;
  g_autoptr(GVariant) task = NULL;
  g_autoptr(GVariant) options = g_variant_ref_sink (
    g_variant_new_parsed ("{'max_retries': <2>, 'retry_delay': <0.05>}"));
  g_autoptr(GVariant) params = g_variant_ref_sink (g_variant_new_parsed ("{'x': <60000.0>}"));
  g_autoptr(GString) attempts = g_string_new (NULL);
  g_autofree char *id = NULL;
  g_autofree char *path = NULL;
  gint64 tries = 0;

  reply = call (MANAGER_PATH, MANAGER_IFACE, "ScheduleTask",
                g_variant_new ("(ss@a{sv}@a{sv})", "retried", "move_stage", params, options),
                G_VARIANT_TYPE ("(so)"), &error);
  g_assert_no_error (error);
  g_variant_get (reply, "(so)", &id, &path);
  EM_TEST_WAIT_UNTIL (find_signal ("TaskFailed", id) != NULL, TIMEOUT_MS);

  for (guint i = 0; i < fixture.signals->len; i++)
    {
      Signal *signal = g_ptr_array_index (fixture.signals, i);
      const char *signal_id = NULL, *reason = NULL;
      guint attempt = 0;

      if (!g_str_equal (signal->member, "TaskRetrying"))
        continue;
      g_assert_true (g_variant_is_of_type (signal->parameters, G_VARIANT_TYPE ("(sus)")));
      g_variant_get (signal->parameters, "(&su&s)", &signal_id, &attempt, &reason);
      if (!g_str_equal (signal_id, id))
        continue;
      g_assert_cmpstr (reason, !=, "");
      g_string_append_printf (attempts, "%u ", attempt);
    }
  g_assert_cmpstr (attempts->str, ==, "1 2 ");

  task = get_task (id);
  g_assert_cmpstr (dict_string (task, "status"), ==, "failed");
  g_assert_true (g_variant_lookup (task, "attempts", "x", &tries));
  g_assert_cmpint (tries, ==, 3);
}

static void
progress_notify_cb (GObject    *proxy,
                    GParamSpec *pspec,
                    GArray     *seen)
{
  gdouble progress = em_dbus_task1_get_progress (EM_DBUS_TASK1 (proxy));

  g_array_append_val (seen, progress);
}

static gint64
time_us (const char *rfc3339)
{
  g_autoptr(GDateTime) time = g_date_time_new_from_iso8601 (rfc3339, NULL);

  g_assert_nonnull (time);
  return g_date_time_to_unix (time) * G_USEC_PER_SEC + g_date_time_get_microsecond (time);
}

static void
test_task_properties (void)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(EmDBusTask1) task = NULL;
  g_autoptr(GArray) seen = g_array_new (FALSE, FALSE, sizeof (gdouble));
  g_autoptr(GVariant) reply = NULL;
  g_autoptr(GVariant) options = NULL;
  g_autoptr(GVariant) params = g_variant_ref_sink (
    g_variant_new_parsed ("{'x': <2000.0>, 'speed': <2000.0>}"));
  g_autofree char *id = NULL;
  g_autofree char *path = NULL;
  g_autofree char *blocker = schedule ("blocker", "wait", "{'duration': <200>}", NULL);
  const char * const *depends_on;
  gint64 started, finished;

  /* it waits on the blocker first */
  options = g_variant_ref_sink (g_variant_new_parsed (
    "{'priority': <4>, 'max_retries': <1>, 'timeout': <30.0>, 'depends_on': <[%s]>}", blocker));
  reply = call (MANAGER_PATH, MANAGER_IFACE, "ScheduleTask",
                g_variant_new ("(ss@a{sv}@a{sv})", "measured", "move_stage", params, options),
                G_VARIANT_TYPE ("(so)"), &error);
  g_assert_no_error (error);
  g_variant_get (reply, "(so)", &id, &path);
  task = em_dbus_task1_proxy_new_sync (fixture.connection, G_DBUS_PROXY_FLAGS_NONE,
                                       BUS_NAME, path, NULL, &error);
  g_assert_no_error (error);
  g_signal_connect (task, "notify::progress", G_CALLBACK (progress_notify_cb), seen);

  g_assert_cmpint (em_dbus_task1_get_priority (task), ==, 4);
  g_assert_cmpuint (em_dbus_task1_get_max_retries (task), ==, 1);
  g_assert_cmpfloat (em_dbus_task1_get_timeout (task), ==, 30.0);
  g_assert_cmpstr (em_dbus_task1_get_batch (task), ==, "");
  depends_on = em_dbus_task1_get_depends_on (task);
  g_assert_cmpuint (g_strv_length ((GStrv) depends_on), ==, 1);
  g_assert_cmpstr (depends_on[0], ==, blocker);
  if (g_strcmp0 (em_dbus_task1_get_status (task), "pending") == 0)
    g_assert_true (g_strv_contains (em_dbus_task1_get_waiting_on (task), blocker) ||
                   find_signal ("TaskCompleted", blocker) != NULL);

  /* the blocker done, nothing to wait on */
  EM_TEST_WAIT_UNTIL (g_strcmp0 (em_dbus_task1_get_status (task), "completed") == 0, TIMEOUT_MS);
  g_assert_cmpuint (g_strv_length ((GStrv) em_dbus_task1_get_waiting_on (task)), ==, 0);
  g_assert_cmpuint (em_dbus_task1_get_attempts (task), ==, 1);

  /* the run's length by the service's clock, however slow this client is */
  started = time_us (em_dbus_task1_get_started_at (task));
  finished = time_us (em_dbus_task1_get_completed_at (task));
  g_assert_cmpint (finished - started, >=, 900000);

  /* Progress rose during the move, rate-limited, and ended at 1 */
  g_assert_cmpfloat (em_dbus_task1_get_progress (task), ==, 1.0);
  g_assert_cmpuint (seen->len, >=, 3);
  g_assert_cmpfloat (g_array_index (seen, gdouble, 0), >, 0.0);
  g_assert_cmpfloat (g_array_index (seen, gdouble, 0), <, 1.0);
  g_assert_cmpuint (seen->len, <=, (finished - started) / 100000 + 4);
  for (guint i = 1; i < seen->len; i++)
    g_assert_cmpfloat (g_array_index (seen, gdouble, i), >=, g_array_index (seen, gdouble, i - 1));
  g_signal_handlers_disconnect_by_data (task, seen);
}

/* how many PropertiesChanged of the manager carried @property, and the last value */
static guint
manager_property_changes (const char  *property,
                          gint64       since,
                          GVariant   **out_last)
{
  guint count = 0;

  for (guint i = 0; i < fixture.signals->len; i++)
    {
      Signal *signal = g_ptr_array_index (fixture.signals, i);
      g_autoptr(GVariant) changed = NULL;
      g_autoptr(GVariant) value = NULL;

      if (signal->time < since || !g_str_equal (signal->member, "PropertiesChanged") ||
          !g_str_equal (signal->path, MANAGER_PATH))
        continue;
      changed = g_variant_get_child_value (signal->parameters, 1);
      value = g_variant_lookup_value (changed, property, NULL);
      if (value == NULL)
        continue;
      count++;
      if (out_last != NULL)
        {
          g_clear_pointer (out_last, g_variant_unref);
          *out_last = g_steal_pointer (&value);
        }
    }
  return count;
}

/* whether the last change of @property signalled since @since is a value
 * whose first member is within 1e-6 of @first; FALSE before any change */
static gboolean
last_change_reached (const char *property,
                     gint64      since,
                     gdouble     first)
{
  g_autoptr(GVariant) last = NULL;
  g_autoptr(GVariant) member = NULL;

  if (manager_property_changes (property, since, &last) == 0)
    return FALSE;
  member = g_variant_is_container (last) ? g_variant_get_child_value (last, 0) : g_variant_ref (last);
  return fabs (g_variant_get_double (member) - first) < 1e-6;
}

static void
test_positions (void)
{
  g_autoptr(GVariant) last = NULL;
  g_autoptr(GVariant) focus = NULL;
  g_autoptr(GVariant) value = NULL;
  g_autofree char *id = NULL;
  g_autofree char *focus_id = NULL;
  gint64 begin = g_get_monotonic_time ();
  gint64 elapsed;
  gdouble x = 0, y = 0, z = 0;
  guint changes;

  /* one second of travel */
  id = schedule ("travel", "move_stage", "{'x': <-1000.0>, 'y': <500.0>, 'speed': <1118.034>}", NULL);
  EM_TEST_WAIT_UNTIL (find_signal ("TaskCompleted", id) != NULL, TIMEOUT_MS);
  /* signalled before TaskCompleted (see position-before-completion); the
   * wait covers a loaded machine delivering them late */
  EM_TEST_WAIT_UNTIL (last_change_reached ("StagePosition", begin, -1000.0), TIMEOUT_MS);
  em_test_run_for (300);
  elapsed = g_get_monotonic_time () - begin;

  changes = manager_property_changes ("StagePosition", begin, &last);
  g_test_message ("%u StagePosition changes in %" G_GINT64_FORMAT " ms", changes, elapsed / 1000);
  g_assert_cmpuint (changes, >=, 4);
  g_assert_cmpuint (changes, <=, elapsed / 100000 + 2);
  g_variant_get (last, "(ddd)", &x, &y, &z);
  g_assert_cmpfloat_with_epsilon (x, -1000.0, 1e-6);
  g_assert_cmpfloat_with_epsilon (y, 500.0, 1e-6);
  value = get_property (MANAGER_PATH, MANAGER_IFACE, "StagePosition");
  g_assert_true (g_variant_equal (value, last));

  focus_id = schedule ("focus", "adjust_focus", "{'position': <150.0>, 'speed': <500.0>}", NULL);
  EM_TEST_WAIT_UNTIL (find_signal ("TaskCompleted", focus_id) != NULL, TIMEOUT_MS);
  EM_TEST_WAIT_UNTIL (last_change_reached ("FocusPosition", begin, 150.0), TIMEOUT_MS);
  em_test_run_for (300);
  g_assert_cmpuint (manager_property_changes ("FocusPosition", begin, &focus), >=, 2);
  g_assert_cmpfloat_with_epsilon (g_variant_get_double (focus), 150.0, 1e-6);
}

/* the StagePosition last signalled before @completed */
static GVariant *
stage_position_before (Signal *completed)
{
  GVariant *last = NULL;

  for (guint i = 0; i < fixture.signals->len && g_ptr_array_index (fixture.signals, i) != completed; i++)
    {
      Signal *signal = g_ptr_array_index (fixture.signals, i);
      g_autoptr(GVariant) changed = NULL;
      GVariant *value;

      if (!g_str_equal (signal->member, "PropertiesChanged") || !g_str_equal (signal->path, MANAGER_PATH))
        continue;
      changed = g_variant_get_child_value (signal->parameters, 1);
      value = g_variant_lookup_value (changed, "StagePosition", NULL);
      if (value != NULL)
        {
          g_clear_pointer (&last, g_variant_unref);
          last = value;
        }
    }
  return last;
}

/* whether the latest recorded event is @id's task_completed */
static gboolean
completion_recorded (const char *id)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) reply = NULL;
  g_autoptr(GVariant) events = NULL;
  g_autoptr(GVariant) event = NULL;
  guint64 last = last_event_seq ();

  if (last == 0)
    return FALSE;
  reply = call (MANAGER_PATH, MANAGER_IFACE, "GetEvents", g_variant_new ("(tu)", last - 1, 1),
                G_VARIANT_TYPE ("(aa{sv}t)"), &error);
  g_assert_no_error (error);
  events = g_variant_get_child_value (reply, 0);
  if (g_variant_n_children (events) == 0)
    return FALSE;
  event = g_variant_get_child_value (events, 0);
  return g_strcmp0 (dict_string (event, "task_id"), id) == 0 &&
         g_strcmp0 (dict_string (event, "type"), "task_completed") == 0;
}

#define SHORT_MOVES 3

/* a client that reads StagePosition on a move's TaskCompleted finds where the
 * stage stopped, not a position of the move the rate limit held back */
static void
test_position_before_completion (void)
{
  for (guint i = 0; i < SHORT_MOVES; i++)
    {
      gdouble target = 100.0 * (i + 1);
      g_autofree char *parameters = g_strdup_printf ("{'x': <%.1f>, 'speed': <500.0>}", target);
      g_autofree char *id = schedule ("short move", "move_stage", parameters, NULL);
      g_autoptr(GVariant) signalled = NULL;
      gdouble x = 0, y = 0, z = 0;

      EM_TEST_WAIT_UNTIL (find_signal ("TaskCompleted", id) != NULL, TIMEOUT_MS);
      signalled = stage_position_before (find_signal ("TaskCompleted", id));
      g_assert_nonnull (signalled);
      g_variant_get (signalled, "(ddd)", &x, &y, &z);
      g_assert_cmpfloat_with_epsilon (x, target, 1e-6);
      /* the next tests count events from LastEventSeq on */
      if (i == SHORT_MOVES - 1)
        EM_TEST_WAIT_UNTIL (completion_recorded (id), TIMEOUT_MS);
    }
}

#define SEQ_BURST 40

/* a burst of events moves LastEventSeq ten times a second at most, and the
 * last change carries the last seq; SendersInFlight is read, never signalled */
static guint64
last_seq_signalled (gint64 since)
{
  g_autoptr(GVariant) last = NULL;

  return manager_property_changes ("LastEventSeq", since, &last) > 0 ? g_variant_get_uint64 (last) : 0;
}

static void
test_last_event_seq_rate (void)
{
  g_autoptr(GVariant) last = NULL;
  g_autoptr(GPtrArray) ids = g_ptr_array_new_with_free_func (g_free);
  gint64 begin = g_get_monotonic_time ();
  guint64 final_seq;
  gint64 elapsed;
  guint changes;

  for (guint i = 0; i < SEQ_BURST; i++)
    g_ptr_array_add (ids, schedule ("burst", "wait", "{'duration': <0>}", NULL));
  EM_TEST_WAIT_UNTIL (find_signal ("TaskCompleted", g_ptr_array_index (ids, SEQ_BURST - 1)) != NULL,
                      TIMEOUT_MS);
  final_seq = last_event_seq ();
  EM_TEST_WAIT_UNTIL (last_seq_signalled (begin) >= final_seq, TIMEOUT_MS);
  em_test_run_for (300);
  elapsed = g_get_monotonic_time () - begin;

  changes = manager_property_changes ("LastEventSeq", begin, &last);
  g_test_message ("%u LastEventSeq changes for %u events in %" G_GINT64_FORMAT " ms",
                  changes, 3 * SEQ_BURST, elapsed / 1000);
  g_assert_cmpuint (changes, >=, 1);
  g_assert_cmpuint (changes, <=, elapsed / 100000 + 2);
  g_assert_cmpuint (changes, <, 3 * SEQ_BURST);
  g_assert_cmpuint (g_variant_get_uint64 (last), ==, last_event_seq ());
  g_assert_cmpuint (g_variant_get_uint64 (last), >=, final_seq);
  g_assert_cmpuint (manager_property_changes ("SendersInFlight", 0, NULL), ==, 0);
}

static void
test_events (void)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) reply = NULL;
  g_autoptr(GVariant) events = NULL;
  g_autoptr(GString) types = g_string_new (NULL);
  g_autofree char *id = NULL;
  guint64 before = last_event_seq ();
  guint64 oldest = 0, expected;

  id = schedule ("logged", "wait", "{'duration': <0>}", NULL);
  EM_TEST_WAIT_UNTIL (find_signal ("TaskCompleted", id) != NULL, TIMEOUT_MS);
  /* the property follows every event */
  EM_TEST_WAIT_UNTIL (last_event_seq () >= before + 3, TIMEOUT_MS);

  reply = call (MANAGER_PATH, MANAGER_IFACE, "GetEvents", g_variant_new ("(tu)", before, 0),
                G_VARIANT_TYPE ("(aa{sv}t)"), &error);
  g_assert_no_error (error);
  g_variant_get (reply, "(@aa{sv}t)", &events, &oldest);
  g_assert_cmpuint (oldest, <=, before + 1);
  expected = before + 1;
  for (gsize i = 0; i < g_variant_n_children (events); i++)
    {
      g_autoptr(GVariant) event = g_variant_get_child_value (events, i);
      gint64 seq = 0;

      /* one by one, no gap */
      g_assert_true (g_variant_lookup (event, "seq", "x", &seq));
      g_assert_cmpint (seq, ==, expected++);
      g_assert_nonnull (dict_string (event, "timestamp"));
      if (g_strcmp0 (dict_string (event, "task_id"), id) == 0)
        g_string_append_printf (types, "%s ", dict_string (event, "type"));
    }
  g_assert_cmpuint (expected - 1, ==, last_event_seq ());
  g_assert_cmpstr (types->str, ==, "task_scheduled task_started task_completed ");

  /* a page of one */
  g_clear_pointer (&reply, g_variant_unref);
  g_clear_pointer (&events, g_variant_unref);
  reply = call (MANAGER_PATH, MANAGER_IFACE, "GetEvents", g_variant_new ("(tu)", before, 1),
                G_VARIANT_TYPE ("(aa{sv}t)"), &error);
  g_assert_no_error (error);
  g_variant_get (reply, "(@aa{sv}t)", &events, NULL);
  g_assert_cmpuint (g_variant_n_children (events), ==, 1);

  /* the last seq itself is fine, beyond it is refused, as /ws?since= */
  g_clear_pointer (&reply, g_variant_unref);
  g_clear_pointer (&events, g_variant_unref);
  reply = call (MANAGER_PATH, MANAGER_IFACE, "GetEvents", g_variant_new ("(tu)", expected - 1, 0),
                G_VARIANT_TYPE ("(aa{sv}t)"), &error);
  g_assert_no_error (error);
  g_clear_pointer (&reply, g_variant_unref);
  reply = call (MANAGER_PATH, MANAGER_IFACE, "GetEvents", g_variant_new ("(tu)", expected + 1000, 0),
                G_VARIANT_TYPE ("(aa{sv}t)"), &error);
  g_assert_null (reply);
  assert_dbus_error (error, ERROR_PREFIX "InvalidArgument", "after_seq");
}

/* an unknown id is quoted up to a bound: a megabyte of id gives no
 * megabyte of error */
static void
test_long_id_clipped (void)
{
  const char *methods[] = { "GetTask", "CancelTask" };
  g_autofree char *id = g_strnfill (1024 * 1024, 'x');

  for (guint i = 0; i < G_N_ELEMENTS (methods); i++)
    {
      g_autoptr(GError) error = NULL;
      g_autoptr(GVariant) reply = call (MANAGER_PATH, MANAGER_IFACE, methods[i],
                                        g_variant_new ("(s)", id), NULL, &error);

      g_assert_null (reply);
      assert_dbus_error (error, ERROR_PREFIX "NotFound", "xxxxxxxxxx…”");
      g_assert_cmpuint (strlen (error->message), <, 400);
    }

  /* and a dependency: an unknown id, or a #N reference outside a batch */
  for (guint i = 0; i < 2; i++)
    {
      g_autoptr(GError) error = NULL;
      /* within the 1 MiB ScheduleTask takes */
      g_autofree char *ref = g_strconcat (i == 0 ? "" : "#", id + 1024 * 1024 - 4000, NULL);
      const char *refs[] = { ref, NULL };
      g_autoptr(GVariant) reply = NULL;
      GVariantBuilder options;

      g_variant_builder_init (&options, G_VARIANT_TYPE_VARDICT);
      g_variant_builder_add (&options, "{sv}", "depends_on", g_variant_new_strv (refs, -1));
      reply = call (MANAGER_PATH, MANAGER_IFACE, "ScheduleTask",
                    g_variant_new ("(ss@a{sv}a{sv})", "long-dependency", "wait",
                                   g_variant_new_array (G_VARIANT_TYPE ("{sv}"), NULL, 0),
                                   &options),
                    NULL, &error);
      g_assert_null (reply);
      assert_dbus_error (error, ERROR_PREFIX "InvalidArgument", "xxxxxxxxxx…”");
      g_assert_cmpuint (strlen (error->message), <, 400);
    }

  /* and the times of a listing: one that does not parse, and swapped bounds
   * with as many digits of a second as the call can carry */
  for (guint i = 0; i < 2; i++)
    {
      g_autoptr(GError) error = NULL;
      g_autofree char *late = g_strconcat ("2026-01-02T00:00:00.", id + 1024, "Z", NULL);
      g_autoptr(GVariant) reply = NULL;
      GVariantBuilder filter;

      /* digits where the id has x's */
      if (i == 1)
        memset (late + strlen ("2026-01-02T00:00:00."), '0', strlen (id + 1024));
      g_variant_builder_init (&filter, G_VARIANT_TYPE_VARDICT);
      g_variant_builder_add (&filter, "{sv}", "since", g_variant_new_string (late));
      if (i == 1)
        g_variant_builder_add (&filter, "{sv}", "until",
                               g_variant_new_string ("2026-01-01T00:00:00Z"));
      reply = call (MANAGER_PATH, MANAGER_IFACE, "ListTasks",
                    g_variant_new ("(a{sv})", &filter), NULL, &error);
      g_assert_null (reply);
      assert_dbus_error (error, ERROR_PREFIX "InvalidArgument", i == 0 ? "filter.since" : "filter.until");
      g_assert_nonnull (strstr (error->message, i == 0 ? "xxxxxxxxxx…" : "0000000000…"));
      g_assert_cmpuint (strlen (error->message), <, 400);
    }
}

#define HISTORY_TASKS 1100

static void
test_history_restart (void)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GString) batch = g_string_new ("([");
  g_autoptr(GVariant) task = NULL;
  g_autoptr(GVariant) reply = NULL;
  g_autoptr(GVariant) options = g_variant_ref_sink (g_variant_new_parsed ("{'delay': <3600.0>}"));
  g_autoptr(GVariant) params = g_variant_ref_sink (g_variant_new_parsed ("{'duration': <0>}"));
  g_autofree char *filter = NULL;
  g_autofree char *delayed = NULL;
  g_auto(GStrv) ids = NULL;
  guint64 seq_before;
  guint total;

  /* more finished tasks than the service keeps in memory */
  for (guint i = 0; i < HISTORY_TASKS; i++)
    g_string_append_printf (batch, "%s{'name': <'history %u'>, 'action': <'wait'>}", i > 0 ? ", " : "", i);
  g_string_append (batch, "], @a{sv} {})");
  ids = schedule_batch (batch->str, &error);
  g_assert_no_error (error);
  EM_TEST_WAIT_UNTIL (nothing_unfinished (), 6 * TIMEOUT_MS);
  total = count_tasks ("(@a{sv} {},)");
  g_assert_cmpuint (total, >=, HISTORY_TASKS);

  /* a reply means the task is on disk: a crash right after it loses nothing */
  reply = call (MANAGER_PATH, MANAGER_IFACE, "ScheduleTask",
                g_variant_new ("(ss@a{sv}@a{sv})", "acknowledged", "wait", params, options),
                G_VARIANT_TYPE ("(so)"), &error);
  g_assert_no_error (error);
  g_variant_get (reply, "(so)", &delayed, NULL);
  seq_before = last_event_seq ();
  stop_daemon (SIGKILL);
  start_daemon ();

  task = get_task (delayed);
  g_assert_cmpstr (dict_string (task, "status"), ==, "pending");
  g_assert_nonnull (dict_string (task, "run_at"));
  g_clear_pointer (&task, g_variant_unref);

  /* the oldest is long out of memory, and still there */
  task = get_task (ids[0]);
  g_assert_cmpstr (dict_string (task, "status"), ==, "completed");
  g_assert_cmpstr (dict_string (task, "name"), ==, "history 0");
  g_assert_cmpuint (count_tasks ("(@a{sv} {},)"), ==, total + 1);
  g_assert_cmpuint (count_tasks ("({'status': <'completed'>, 'action': <'wait'>, 'limit': <uint32 5>},)"), ==, 5);
  g_assert_cmpuint (count_tasks ("({'action': <'wait'>, 'offset': <uint32 2>},)"), ==,
                    count_tasks ("({'action': <'wait'>},)") - 2);
  g_assert_cmpuint (count_tasks ("({'action': <'no_such_action'>},)"), ==, 0);
  filter = g_strdup_printf ("({'since': <'%s'>},)", dict_string (task, "created_at"));
  g_assert_cmpuint (count_tasks (filter), >=, HISTORY_TASKS);
  g_free (g_steal_pointer (&filter));
  filter = g_strdup_printf ("({'until': <'%s'>},)", dict_string (task, "created_at"));
  g_assert_cmpuint (count_tasks (filter), <, total - HISTORY_TASKS + 1);

  /* sequence numbers go on where they stopped */
  g_assert_cmpuint (last_event_seq (), >=, seq_before);

  g_clear_pointer (&reply, g_variant_unref);
  reply = call (MANAGER_PATH, MANAGER_IFACE, "CancelTask", g_variant_new ("(s)", delayed),
                G_VARIANT_TYPE_UNIT, &error);
  g_assert_no_error (error);
}

/* --- per-sender limits --- */

typedef struct {
  guint replies;
  guint ok;
  guint refused;
  char *refusal; /* the first refusal's message */
} Replies;

static void
reply_cb (GObject      *source,
          GAsyncResult *result,
          gpointer      user_data)
{
  Replies *replies = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) reply = g_dbus_connection_call_finish (G_DBUS_CONNECTION (source),
                                                              result, &error);
  g_autofree char *remote = error != NULL ? g_dbus_error_get_remote_error (error) : NULL;

  replies->replies++;
  if (reply != NULL)
    replies->ok++;
  else if (g_strcmp0 (remote, ERROR_PREFIX "Unavailable") == 0)
    {
      replies->refused++;
      if (replies->refusal == NULL)
        replies->refusal = g_strdup (error->message);
    }
}

/* ScheduleTask without waiting for the reply */
static void
schedule_async (GDBusConnection *connection,
                const char      *name,
                Replies         *replies)
{
  g_dbus_connection_call (connection, BUS_NAME, MANAGER_PATH, MANAGER_IFACE, "ScheduleTask",
                          g_variant_new_parsed ("(%s, 'wait', {'duration': <0>}, @a{sv} {})", name),
                          G_VARIANT_TYPE ("(so)"), G_DBUS_CALL_FLAGS_NONE, 6 * TIMEOUT_MS,
                          NULL, reply_cb, replies);
}

static GDBusConnection *
private_connection (void)
{
  g_autoptr(GError) error = NULL;
  GDBusConnection *connection;

  connection = g_dbus_connection_new_for_address_sync (g_test_dbus_get_bus_address (fixture.bus),
                                                       G_DBUS_CONNECTION_FLAGS_AUTHENTICATION_CLIENT |
                                                       G_DBUS_CONNECTION_FLAGS_MESSAGE_BUS_CONNECTION,
                                                       NULL, NULL, &error);
  g_assert_no_error (error);
  return connection;
}

static guint
senders_in_flight (void)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) reply = NULL;
  g_autoptr(GVariant) value = NULL;

  reply = call (MANAGER_PATH, "org.freedesktop.DBus.Properties", "Get",
                g_variant_new ("(ss)", MANAGER_IFACE, "SendersInFlight"),
                G_VARIANT_TYPE ("(v)"), &error);
  g_assert_no_error (error);
  g_variant_get (reply, "(v)", &value);
  return g_variant_get_uint32 (value);
}

/* many (under the bus's own limit of pending replies per connection), against a
 * budget of one: even when valgrind slows the sender, some calls
 * arrive while an earlier one still waits for its store sync.  How many
 * are served depends on how fast the commits are, so only "at least one"
 * is certain. */
#define LIMIT_CALLS 100

static void
test_sender_limit (void)
{
  g_autoptr(GDBusConnection) other = private_connection ();
  Replies mine = { 0, };
  Replies others = { 0, };

  stop_daemon (SIGTERM);
  fixture.max_calls = "1";
  start_daemon ();

  /* sent at once, they arrive before the first store sync is done */
  for (guint i = 0; i < LIMIT_CALLS; i++)
    schedule_async (fixture.connection, "limited", &mine);
  /* the limit is per sender: another client is served meanwhile */
  schedule_async (other, "other client", &others);
  EM_TEST_WAIT_UNTIL (mine.replies == LIMIT_CALLS && others.replies == 1, 6 * TIMEOUT_MS);

  g_assert_cmpuint (mine.ok + mine.refused, ==, LIMIT_CALLS);
  g_assert_cmpuint (mine.ok, >=, 1);
  g_assert_cmpuint (mine.refused, >, 0);
  g_assert_nonnull (strstr (mine.refusal, "in flight"));
  g_assert_nonnull (strstr (mine.refusal, "(limit 1)"));
  g_assert_nonnull (strstr (mine.refusal, g_dbus_connection_get_unique_name (fixture.connection)));
  g_assert_cmpuint (others.ok, ==, 1);
  EM_TEST_WAIT_UNTIL (senders_in_flight () == 0, TIMEOUT_MS);

  /* once the replies are in, the same client is served again */
  g_free (schedule ("after the limit", "wait", "{'duration': <0>}", NULL));

  g_free (mine.refusal);
  stop_daemon (SIGTERM);
  fixture.max_calls = NULL;
  start_daemon ();
}

/* @method at @path without waiting for the reply */
static void
call_async (const char *path,
            const char *interface,
            const char *method,
            GVariant   *parameters,
            Replies    *replies)
{
  g_dbus_connection_call (fixture.connection, BUS_NAME, path, interface, method, parameters,
                          NULL, G_DBUS_CALL_FLAGS_NONE, 6 * TIMEOUT_MS, NULL, reply_cb, replies);
}

/* a burst reaches the service all at once, however slowly this process sends
 * it: under valgrind each call took longer than the service's answer to it,
 * and none was ever refused */
static void
freeze_daemon (void)
{
  g_subprocess_send_signal (fixture.daemon, SIGSTOP);
}

static void
thaw_daemon (void)
{
  g_autoptr(GError) error = NULL;

  g_dbus_connection_flush_sync (fixture.connection, NULL, &error);
  g_assert_no_error (error);
  /* for the bus to pass them on to the stopped service's socket */
  g_usleep (100 * 1000);
  g_subprocess_send_signal (fixture.daemon, SIGCONT);
}

/* the calls of a burst; with a budget of one, some are refused while the
 * first waits for the journal */
static void
assert_counted (const char *method,
                Replies    *replies)
{
  thaw_daemon ();
  EM_TEST_WAIT_UNTIL (replies->replies == LIMIT_CALLS, 6 * TIMEOUT_MS);
  if (replies->refused == 0)
    g_error ("%s: no call of %u was counted in flight (%u answered)", method, LIMIT_CALLS,
             replies->ok);
  g_assert_nonnull (strstr (replies->refusal, "(limit 1)"));
  g_assert_cmpuint (replies->ok, >=, 1);
  g_assert_cmpuint (replies->ok + replies->refused, ==, LIMIT_CALLS);
  EM_TEST_WAIT_UNTIL (senders_in_flight () == 0, TIMEOUT_MS);
  g_free (replies->refusal);
}

#define SEQUENTIAL_LISTINGS 300

/* every call whose reply waits for the journal counts against its sender,
 * not ScheduleTask's alone */
static void
test_sender_limit_recorded (void)
{
  g_autoptr(GPtrArray) ids = g_ptr_array_new_with_free_func (g_free);
  g_autoptr(GPtrArray) paths = g_ptr_array_new_with_free_func (g_free);
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) reply = NULL;
  Replies pause = { 0, }, resume = { 0, }, cancel = { 0, }, object_cancel = { 0, };

  stop_daemon (SIGTERM);
  fixture.max_calls = "1";
  start_daemon ();

  freeze_daemon ();
  for (guint i = 0; i < LIMIT_CALLS; i++)
    call_async (MANAGER_PATH, MANAGER_IFACE, "Pause", NULL, &pause);
  assert_counted ("Pause", &pause);
  freeze_daemon ();
  for (guint i = 0; i < LIMIT_CALLS; i++)
    call_async (MANAGER_PATH, MANAGER_IFACE, "Resume", NULL, &resume);
  assert_counted ("Resume", &resume);

  /* tasks that stay pending, each cancelled once, so every cancellation is
   * written to the journal */
  reply = call (MANAGER_PATH, MANAGER_IFACE, "Pause", NULL, NULL, &error);
  g_assert_no_error (error);
  for (guint i = 0; i < 2 * LIMIT_CALLS; i++)
    {
      char *path = NULL;

      g_ptr_array_add (ids, schedule ("cancelled", "wait", "{'duration': <0>}", &path));
      g_ptr_array_add (paths, path);
    }
  freeze_daemon ();
  for (guint i = 0; i < LIMIT_CALLS; i++)
    call_async (MANAGER_PATH, MANAGER_IFACE, "CancelTask",
                g_variant_new ("(s)", (char *) ids->pdata[i]), &cancel);
  assert_counted ("CancelTask", &cancel);
  freeze_daemon ();
  for (guint i = LIMIT_CALLS; i < 2 * LIMIT_CALLS; i++)
    call_async (paths->pdata[i], TASK_IFACE, "Cancel", NULL, &object_cancel);
  assert_counted ("Task1.Cancel", &object_cancel);

  /* a listing's reply is sent by a worker thread, which frees the listing
   * after sending it: a call sent on its receipt must not find the listing
   * still counted (pages of 200, so that freeing takes a while; the whole
   * history here is thousands of tasks, too slow under the sanitizers) */
  for (guint i = 0; i < SEQUENTIAL_LISTINGS; i++)
    count_tasks ("({'limit': <uint32 200>},)");

  /* the queue's state outlives a restart: the tasks left run, and the next
   * tests find it running */
  g_clear_pointer (&reply, g_variant_unref);
  reply = call (MANAGER_PATH, MANAGER_IFACE, "Resume", NULL, NULL, &error);
  g_assert_no_error (error);
  EM_TEST_WAIT_UNTIL (nothing_unfinished (), 6 * TIMEOUT_MS);

  stop_daemon (SIGTERM);
  fixture.max_calls = NULL;
  start_daemon ();
}

#define HELD_OBJECTS 1000

/* GetManagedObjects replies later too (its reply is built over several
 * turns) and each caller gets a copy of it: it counts against its sender as
 * the other such calls do, or one client could make the service hold a
 * reply's worth of memory per call */
static void
test_sender_limit_managed_objects (void)
{
  g_autoptr(GVariantBuilder) items = g_variant_builder_new (G_VARIANT_TYPE ("aa{sv}"));
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) reply = NULL;
  Replies managed = { 0, };

  stop_daemon (SIGTERM);
  fixture.max_calls = "1";
  start_daemon ();

  /* pending task objects enough for a build of several turns */
  reply = call (MANAGER_PATH, MANAGER_IFACE, "Pause", NULL, NULL, &error);
  g_assert_no_error (error);
  g_clear_pointer (&reply, g_variant_unref);
  for (guint i = 0; i < HELD_OBJECTS; i++)
    g_variant_builder_add_parsed (items, "{'name': <'held'>, 'action': <'wait'>, "
                                  "'parameters': <{'duration': <0>}>}");
  reply = call (MANAGER_PATH, MANAGER_IFACE, "ScheduleBatch",
                g_variant_new ("(aa{sv}@a{sv})", items,
                               g_variant_new_array (G_VARIANT_TYPE ("{sv}"), NULL, 0)),
                NULL, &error);
  g_assert_no_error (error);
  g_clear_pointer (&reply, g_variant_unref);

  freeze_daemon ();
  for (guint i = 0; i < LIMIT_CALLS; i++)
    call_async (MANAGER_PATH, "org.freedesktop.DBus.ObjectManager", "GetManagedObjects", NULL,
                &managed);
  assert_counted ("GetManagedObjects", &managed);

  reply = call (MANAGER_PATH, MANAGER_IFACE, "Resume", NULL, NULL, &error);
  g_assert_no_error (error);
  EM_TEST_WAIT_UNTIL (nothing_unfinished (), 6 * TIMEOUT_MS);

  stop_daemon (SIGTERM);
  fixture.max_calls = NULL;
  start_daemon ();
}

#define VANISHING_CALLS 30

/* tasks called @name that the service holds, created since @since */
static guint
count_named_since (const char *name, const char *since)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) reply = NULL;
  g_autoptr(GVariant) tasks = NULL;
  guint count = 0;

  reply = call (MANAGER_PATH, MANAGER_IFACE, "ListTasks",
                g_variant_new_parsed ("({'since': <%s>, 'limit': <uint32 1000>},)", since),
                G_VARIANT_TYPE ("(aa{sv})"), &error);
  g_assert_no_error (error);
  tasks = g_variant_get_child_value (reply, 0);
  for (gsize i = 0; i < g_variant_n_children (tasks); i++)
    {
      g_autoptr(GVariant) task = g_variant_get_child_value (tasks, i);

      count += g_strcmp0 (dict_string (task, "name"), name) == 0;
    }
  return count;
}

static void
test_sender_vanishes (void)
{
  g_autoptr(GDBusConnection) client = private_connection ();
  g_autoptr(GError) error = NULL;
  /* the service reads the same clock: its tasks are created after this. A
   * second's slack took in the 1 100 tasks of the restart test before, when
   * those just above ran fast, and the page of 1 000 held none of these */
  g_autoptr(GDateTime) now = g_date_time_new_now_utc ();
  g_autofree char *since = g_date_time_format_iso8601 (now);
  Replies replies = { 0, };

  /* the client leaves with every call still waiting for its reply */
  for (guint i = 0; i < VANISHING_CALLS; i++)
    schedule_async (client, "vanishing", &replies);
  g_dbus_connection_flush_sync (client, NULL, &error);
  g_assert_no_error (error);
  g_dbus_connection_close_sync (client, NULL, &error);
  g_assert_no_error (error);
  EM_TEST_WAIT_UNTIL (replies.replies == VANISHING_CALLS, TIMEOUT_MS);

  /* the calls were still served, their replies dropped, and nothing kept. The
   * service's own record says so: under valgrind this test's connection was
   * seen to fall behind on the signals of all the earlier tests */
  EM_TEST_WAIT_UNTIL (count_named_since ("vanishing", since) == VANISHING_CALLS, 6 * TIMEOUT_MS);
  EM_TEST_WAIT_UNTIL (senders_in_flight () == 0, 6 * TIMEOUT_MS);
  g_free (schedule ("after the client left", "wait", "{'duration': <0>}", NULL));
  g_free (replies.refusal);
}

/* --- stopping --- */

#define STOP_CALLS 60
#define STOP_HISTORY 1000

typedef struct {
  guint replies;
  guint timed_out;
  guint refused;
  char *vague; /* a refusal that does not say why */
} Answers;

static void
answer_cb (GObject      *source,
           GAsyncResult *result,
           gpointer      user_data)
{
  Answers *answers = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) reply = g_dbus_connection_call_finish (G_DBUS_CONNECTION (source),
                                                              result, &error);

  g_autofree char *remote = error != NULL ? g_dbus_error_get_remote_error (error) : NULL;

  answers->replies++;
  answers->timed_out += g_error_matches (error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT);
  if (g_strcmp0 (remote, ERROR_PREFIX "Unavailable") == 0)
    {
      answers->refused++;
      if (strstr (error->message, "shutting down") == NULL && answers->vague == NULL)
        answers->vague = g_strdup (error->message);
    }
}

static void
exited_cb (GObject      *source,
           GAsyncResult *result,
           gpointer      user_data)
{
  gboolean *exited = user_data;

  g_subprocess_wait_finish (G_SUBPROCESS (source), result, NULL);
  *exited = TRUE;
}

/* how long a caller waits for a listing's answer: under valgrind this client
 * alone takes longer than TIMEOUT_MS to read sixty listings of a thousand
 * tasks, whatever the service does */
static gint
stop_call_timeout_ms (void)
{
#ifdef HAVE_VALGRIND_H
  if (RUNNING_ON_VALGRIND)
    return 12 * TIMEOUT_MS;
#endif
  return TIMEOUT_MS;
}

static void
test_stop_with_calls_in_flight (void)
{
  g_autoptr(GDBusConnection) client = private_connection ();
  g_autoptr(GError) error = NULL;
  g_autoptr(GString) batch = g_string_new ("([");
  g_auto(GStrv) ids = NULL;
  Answers answers = { 0, };
  gboolean exited = FALSE;

  /* a history long enough that listings of it are still with the task
   * database when the stop comes */
  for (guint i = 0; i < STOP_HISTORY; i++)
    g_string_append_printf (batch, "%s{'name': <'stop %u'>, 'action': <'wait'>}", i > 0 ? ", " : "", i);
  g_string_append (batch, "], @a{sv} {})");
  ids = schedule_batch (batch->str, &error);
  g_assert_no_error (error);
  EM_TEST_WAIT_UNTIL (nothing_unfinished (), 6 * TIMEOUT_MS);

  for (guint i = 0; i < STOP_CALLS; i++)
    g_dbus_connection_call (client, BUS_NAME, MANAGER_PATH, MANAGER_IFACE, "ListTasks",
                            g_variant_new_parsed ("(@a{sv} {},)"), G_VARIANT_TYPE ("(aa{sv})"),
                            G_DBUS_CALL_FLAGS_NONE, stop_call_timeout_ms (), NULL, answer_cb,
                            &answers);
  g_dbus_connection_flush_sync (client, NULL, &error);
  g_assert_no_error (error);
  g_subprocess_send_signal (fixture.daemon, SIGTERM);
  g_subprocess_wait_async (fixture.daemon, NULL, exited_cb, &exited);

  /* the service exits, cleanly, and no caller is left to time out */
  EM_TEST_WAIT_UNTIL (exited, TIMEOUT_MS);
  g_assert_true (g_subprocess_get_successful (fixture.daemon));
  EM_TEST_WAIT_UNTIL (answers.replies == STOP_CALLS, stop_call_timeout_ms ());
  g_assert_cmpuint (answers.timed_out, ==, 0);
  /* those the stop cut short say so */
  g_assert_cmpuint (answers.refused, >, 0);
  g_assert_cmpstr (answers.vague, ==, NULL);
  g_free (answers.vague);

  g_clear_object (&fixture.daemon);
  for (gint64 deadline = g_get_monotonic_time () + TIMEOUT_MS * 1000;
       name_has_owner () && g_get_monotonic_time () < deadline;
       g_usleep (20 * 1000))
    ;
  start_daemon ();
}

/* --- callers that leave --- */

#define LEAVING_HISTORY   10000
#define LEAVING_LISTINGS  32

static gint64
time_full_listing (void)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) reply = NULL;
  g_autoptr(GVariant) tasks = NULL;
  gint64 start = g_get_monotonic_time ();

  reply = g_dbus_connection_call_sync (fixture.connection, BUS_NAME, MANAGER_PATH, MANAGER_IFACE,
                                       "ListTasks", g_variant_new_parsed ("(@a{sv} {},)"),
                                       G_VARIANT_TYPE ("(aa{sv})"), G_DBUS_CALL_FLAGS_NONE,
                                       6 * TIMEOUT_MS, NULL, &error);
  g_assert_no_error (error);
  tasks = g_variant_get_child_value (reply, 0);
  g_assert_cmpuint (g_variant_n_children (tasks), >=, LEAVING_HISTORY);
  return g_get_monotonic_time () - start;
}

/* a client that asks for all of a long history and leaves: nobody is there
 * for the listings, so the service stops reading them, and they stop
 * counting against it at once, not after reading all of history over and
 * over. A change it asked for still completes */
static void
test_reads_end_with_caller (void)
{
  g_autoptr(GDBusConnection) client = private_connection ();
  g_autoptr(GError) error = NULL;
  g_autoptr(GDateTime) now = NULL;
  g_autofree char *since = NULL;
  Replies replies = { 0, };
  gint64 one_listing, left, stopped;

  for (guint done = 0; done < LEAVING_HISTORY; done += 5000)
    {
      g_autoptr(GString) batch = g_string_new ("([");
      g_auto(GStrv) ids = NULL;

      for (guint i = 0; i < 5000; i++)
        g_string_append_printf (batch, "%s{'name': <'history %u'>, 'action': <'wait'>}",
                                i > 0 ? ", " : "", done + i);
      g_string_append (batch, "], @a{sv} {})");
      ids = schedule_batch (batch->str, &error);
      g_assert_no_error (error);
    }
  EM_TEST_WAIT_UNTIL (nothing_unfinished (), 12 * TIMEOUT_MS);
  one_listing = time_full_listing ();
  /* the history is older: the page count_named_since() reads is the new task's */
  now = g_date_time_new_now_utc ();
  since = g_date_time_format_iso8601 (now);
  g_test_message ("one listing of all of history takes %" G_GINT64_FORMAT " ms",
                  one_listing / 1000);

  for (guint i = 0; i < LEAVING_LISTINGS; i++)
    g_dbus_connection_call (client, BUS_NAME, MANAGER_PATH, MANAGER_IFACE, "ListTasks",
                            g_variant_new_parsed ("(@a{sv} {},)"), G_VARIANT_TYPE ("(aa{sv})"),
                            G_DBUS_CALL_FLAGS_NONE, 6 * TIMEOUT_MS, NULL, NULL, NULL);
  schedule_async (client, "left before the reply", &replies);
  g_dbus_connection_flush_sync (client, NULL, &error);
  g_assert_no_error (error);
  /* the listings are under way */
  EM_TEST_WAIT_UNTIL (senders_in_flight () > 0, TIMEOUT_MS);
  g_dbus_connection_close_sync (client, NULL, &error);
  g_assert_no_error (error);
  left = g_get_monotonic_time ();
  EM_TEST_WAIT_UNTIL (replies.replies == 1, TIMEOUT_MS);

  /* the old code read all 32 listings to the end: many times one listing */
  EM_TEST_WAIT_UNTIL (senders_in_flight () == 0, 12 * TIMEOUT_MS);
  stopped = g_get_monotonic_time () - left;
  g_test_message ("the calls stopped counting %" G_GINT64_FORMAT " ms after the caller left",
                  stopped / 1000);
  g_assert_cmpint (stopped, <, 3 * one_listing);

  /* the change was made, and the service serves on */
  EM_TEST_WAIT_UNTIL (count_named_since ("left before the reply", since) == 1, TIMEOUT_MS);
  g_assert_cmpint (time_full_listing (), <, 12 * TIMEOUT_MS * 1000);
  g_free (replies.refusal);
}

/* a zero value of a type in our signatures */
static GVariant *
zero_value (const GVariantType *type)
{
  if (g_variant_type_is_array (type))
    return g_variant_new_array (g_variant_type_element (type), NULL, 0);
  if (g_variant_type_equal (type, G_VARIANT_TYPE_STRING))
    return g_variant_new_string ("");
  if (g_variant_type_equal (type, G_VARIANT_TYPE_UINT64))
    return g_variant_new_uint64 (0);
  if (g_variant_type_equal (type, G_VARIANT_TYPE_UINT32))
    return g_variant_new_uint32 (0);
  g_assert_not_reached ();
}

/* @method's arguments, in their declared types, as zero values; with the
 * last left out (@drop), an extra string after them (@extra), or the first
 * an int32 (@swap) */
static GVariant *
arguments_for (GDBusMethodInfo *method,
               gboolean         drop,
               gboolean         extra,
               gboolean         swap)
{
  g_autoptr(GPtrArray) values = g_ptr_array_new ();
  guint n = method->in_args != NULL ? g_strv_length ((char **) method->in_args) : 0;

  for (guint i = 0; i < n; i++)
    {
      if (drop && i == n - 1)
        break;
      if (swap && i == 0)
        g_ptr_array_add (values, g_variant_new_int32 (1));
      else
        g_ptr_array_add (values, zero_value (G_VARIANT_TYPE (method->in_args[i]->signature)));
    }
  if (extra)
    g_ptr_array_add (values, g_variant_new_string ("extra"));
  return g_variant_new_tuple ((GVariant **) values->pdata, values->len);
}

static void
assert_invalid_args (const char *path,
                     const char *interface,
                     GVariant   *arguments_floating,
                     GDBusMethodInfo *method)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) arguments = g_variant_ref_sink (arguments_floating);
  g_autoptr(GVariant) reply = NULL;
  g_autoptr(GString) expected = g_string_new ("(");
  g_autofree char *remote = NULL;

  for (guint i = 0; method->in_args != NULL && method->in_args[i] != NULL; i++)
    g_string_append (expected, method->in_args[i]->signature);
  g_string_append_c (expected, ')');

  g_test_message ("%s%s", method->name, g_variant_get_type_string (arguments));
  reply = call (path, interface, method->name, arguments, NULL, &error);
  g_assert_null (reply);
  g_assert_nonnull (error);
  remote = g_dbus_error_get_remote_error (error);
  /* the bus library's own answer, before any handler of the service runs:
   * not one of the io.github.enginemanager.Error names, and naming the
   * signatures (sent and declared) rather than an argument */
  g_assert_cmpstr (remote, ==, "org.freedesktop.DBus.Error.InvalidArgs");
  g_assert_nonnull (strstr (error->message, g_variant_get_type_string (arguments)));
  g_assert_nonnull (strstr (error->message, expected->str));
}

/* a call whose arguments do not match the declared signature never reaches
 * the service: GDBus answers it with org.freedesktop.DBus.Error.InvalidArgs,
 * for wrong types, missing and extra arguments alike, and nothing changes */
static void
test_signature_mismatch (void)
{
  g_autofree char *task_path = NULL;
  g_autofree char *id = schedule ("held", "wait", "{'duration': <600000>}", &task_path);
  GDBusInterfaceInfo *interfaces[] = {
    em_dbus_engine_manager1_interface_info (),
    em_dbus_task1_interface_info (),
  };
  const char *paths[] = { MANAGER_PATH, task_path };
  guint before = count_tasks ("(@a{sv} {},)");
  g_autoptr(GVariant) paused_before = get_property (MANAGER_PATH, MANAGER_IFACE, "Paused");
  g_autoptr(GVariant) paused_after = NULL;
  g_autoptr(GVariant) task = NULL;
  g_autoptr(GVariant) reply = NULL;
  g_autoptr(GError) error = NULL;
  const char *status = NULL;

  for (guint i = 0; i < G_N_ELEMENTS (interfaces); i++)
    for (guint m = 0; interfaces[i]->methods[m] != NULL; m++)
      {
        GDBusMethodInfo *method = interfaces[i]->methods[m];
        gboolean has_args = method->in_args != NULL && method->in_args[0] != NULL;

        assert_invalid_args (paths[i], interfaces[i]->name,
                             arguments_for (method, FALSE, TRUE, FALSE), method);
        if (!has_args)
          continue;
        assert_invalid_args (paths[i], interfaces[i]->name,
                             arguments_for (method, TRUE, FALSE, FALSE), method);
        assert_invalid_args (paths[i], interfaces[i]->name,
                             arguments_for (method, FALSE, FALSE, TRUE), method);
      }

  /* the scheduling calls scheduled nothing, the cancelling ones cancelled
   * nothing, Pause and Resume with an argument changed nothing */
  g_assert_cmpuint (count_tasks ("(@a{sv} {},)"), ==, before);
  task = get_task (id);
  g_assert_true (g_variant_lookup (task, "status", "&s", &status));
  g_assert_cmpstr (status, !=, "cancelled");
  paused_after = get_property (MANAGER_PATH, MANAGER_IFACE, "Paused");
  g_assert_true (g_variant_equal (paused_before, paused_after));

  reply = call (MANAGER_PATH, MANAGER_IFACE, "CancelTask", g_variant_new ("(s)", id), NULL, &error);
  g_assert_no_error (error);
}

/* a JSON array arrives as av (the mapping of every a{sv} here): a status
 * list sent so selects as an as does */
static void
test_list_status_av (void)
{
  g_autofree char *id = schedule ("av status", "wait", "{'duration': <600000>}", NULL);
  guint unfinished = count_tasks ("({'status': <['pending', 'running']>},)");
  g_autoptr(GVariant) reply = NULL;
  g_autoptr(GError) error = NULL;

  g_assert_cmpuint (unfinished, >, 0);
  g_assert_cmpuint (count_tasks ("({'status': <[<'pending'>, <'running'>]>},)"), ==, unfinished);
  g_assert_cmpuint (count_tasks ("({'status': <[<'completed'>]>},)"), ==,
                    count_tasks ("({'status': <['completed']>},)"));

  reply = call (MANAGER_PATH, MANAGER_IFACE, "CancelTask", g_variant_new ("(s)", id), NULL, &error);
  g_assert_no_error (error);
}

int
main (int argc, char **argv)
{
  guint wakeup;
  int status;

  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/dbus/manager/properties", test_properties);
  g_test_add_func ("/dbus/manager/errors", test_errors);
  g_test_add_func ("/dbus/manager/huge-arguments", test_huge_arguments);
  g_test_add_func ("/dbus/manager/signature-mismatch", test_signature_mismatch);
  g_test_add_func ("/dbus/manager/integral-double", test_integral_double);
  g_test_add_func ("/dbus/manager/list", test_list);
  g_test_add_func ("/dbus/manager/list-after", test_list_after);
  g_test_add_func ("/dbus/manager/list-status-av", test_list_status_av);
  g_test_add_func ("/dbus/signals/complete", test_complete);
  g_test_add_func ("/dbus/signals/fail", test_fail);
  g_test_add_func ("/dbus/signals/last-progress", test_last_progress);
  g_test_add_func ("/dbus/signals/cancel", test_cancel);
  g_test_add_func ("/dbus/errors/long-id-clipped", test_long_id_clipped);
  g_test_add_func ("/dbus/signals/cancel-from-history", test_cancel_from_history);
  g_test_add_func ("/dbus/task/object", test_task_object);
  g_test_add_func ("/dbus/task/cancel-grace", test_task_cancel_grace);
  g_test_add_func ("/dbus/object-manager/lifetime", test_object_manager);
  g_test_add_func ("/dbus/scheduling/batch", test_batch);
  g_test_add_func ("/dbus/scheduling/dependency-from-history", test_dependency_from_history);
  g_test_add_func ("/dbus/scheduling/batch-exclusive", test_batch_exclusive);
  g_test_add_func ("/dbus/scheduling/pause-resume", test_pause_resume);
  g_test_add_func ("/dbus/scheduling/retrying", test_retrying);
  g_test_add_func ("/dbus/task/scheduling-properties", test_task_properties);
  g_test_add_func ("/dbus/devices/positions", test_positions);
  g_test_add_func ("/dbus/devices/position-before-completion", test_position_before_completion);
  g_test_add_func ("/dbus/history/events", test_events);
  g_test_add_func ("/dbus/history/last-event-seq-rate", test_last_event_seq_rate);
  g_test_add_func ("/dbus/history/restart", test_history_restart);
  g_test_add_func ("/dbus/limits/calls-per-sender", test_sender_limit);
  g_test_add_func ("/dbus/limits/managed-objects", test_sender_limit_managed_objects);
  g_test_add_func ("/dbus/limits/sender-vanishes", test_sender_vanishes);
  g_test_add_func ("/dbus/limits/recorded-calls", test_sender_limit_recorded);
  g_test_add_func ("/dbus/stop/calls-in-flight", test_stop_with_calls_in_flight);
  g_test_add_func ("/dbus/limits/reads-end-with-caller", test_reads_end_with_caller);
  g_test_add_func ("/dbus/startup/name-taken", test_name_taken);
  g_test_add_func ("/dbus/startup/no-bus", test_no_bus);

  fixture_up ();
  wakeup = em_test_add_wakeup (20);
  status = g_test_run ();
  g_source_remove (wakeup);
  fixture_down ();

  return status;
}
