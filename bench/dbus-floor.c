#define G_LOG_DOMAIN "dbus-floor"

#include "config.h"

#include <stdlib.h>
#include <gio/gio.h>
#include <glib-unix.h>

/*
 * The least any implementation of the D-Bus interface can cost: it owns the
 * service's name and answers ScheduleTask with no engine behind it, but sends
 * the messages the interface promises for a task that runs at once, with the
 * daemon's payloads: InterfacesAdded, TaskScheduled, the reply, two
 * PropertiesChanged, TaskStarted, TaskCompleted and InterfacesRemoved. No
 * task, no object, no store. dbus-bench against it gives the ratio to Ping
 * that nothing above the bus can beat on this machine.
 */

#define BUS_NAME      "io.github.enginemanager.EngineManager"
#define MANAGER_PATH  "/io/github/enginemanager/EngineManager"
#define MANAGER_IFACE "io.github.enginemanager.EngineManager1"
#define TASK_IFACE    "io.github.enginemanager.Task1"

static const char introspection[] =
  "<node>"
  "  <interface name='" MANAGER_IFACE "'>"
  "    <method name='ScheduleTask'>"
  "      <arg name='name' direction='in' type='s'/>"
  "      <arg name='action' direction='in' type='s'/>"
  "      <arg name='parameters' direction='in' type='a{sv}'/>"
  "      <arg name='options' direction='in' type='a{sv}'/>"
  "      <arg name='id' direction='out' type='s'/>"
  "      <arg name='task_path' direction='out' type='o'/>"
  "    </method>"
  "  </interface>"
  "</node>";

typedef struct {
  GDBusConnection *connection;
  char            *id;
  char            *path;
  GVariant        *parameters;
} Task;

static void
task_free (Task *task)
{
  g_object_unref (task->connection);
  g_free (task->id);
  g_free (task->path);
  g_variant_unref (task->parameters);
  g_free (task);
}

static char *
now_text (void)
{
  g_autoptr(GDateTime) now = g_date_time_new_now_utc ();

  return g_date_time_format_iso8601 (now);
}

static void
emit (GDBusConnection *connection, const char *path, const char *iface,
      const char *member, GVariant *body)
{
  g_dbus_connection_emit_signal (connection, NULL, path, iface, member, body, NULL);
}

static void
emit_added (Task *task, const char *name, const char *action)
{
  g_autofree char *created_at = now_text ();
  GVariantBuilder props, ifaces;

  g_variant_builder_init (&props, G_VARIANT_TYPE_VARDICT);
  g_variant_builder_add (&props, "{sv}", "Id", g_variant_new_string (task->id));
  g_variant_builder_add (&props, "{sv}", "Name", g_variant_new_string (name));
  g_variant_builder_add (&props, "{sv}", "Action", g_variant_new_string (action));
  g_variant_builder_add (&props, "{sv}", "Status", g_variant_new_string ("pending"));
  g_variant_builder_add (&props, "{sv}", "Parameters", task->parameters);
  g_variant_builder_add (&props, "{sv}", "Result", g_variant_new_array (G_VARIANT_TYPE ("{sv}"), NULL, 0));
  g_variant_builder_add (&props, "{sv}", "Error", g_variant_new_string (""));
  g_variant_builder_add (&props, "{sv}", "CreatedAt", g_variant_new_string (created_at));
  g_variant_builder_add (&props, "{sv}", "StartedAt", g_variant_new_string (""));
  g_variant_builder_add (&props, "{sv}", "CompletedAt", g_variant_new_string (""));
  g_variant_builder_add (&props, "{sv}", "Progress", g_variant_new_double (0));
  g_variant_builder_add (&props, "{sv}", "Priority", g_variant_new_int32 (0));
  g_variant_builder_add (&props, "{sv}", "DependsOn", g_variant_new_strv (NULL, 0));
  g_variant_builder_add (&props, "{sv}", "WaitingOn", g_variant_new_strv (NULL, 0));
  g_variant_builder_add (&props, "{sv}", "WaitingFor", g_variant_new_strv (NULL, 0));
  g_variant_builder_add (&props, "{sv}", "MaxRetries", g_variant_new_uint32 (0));
  g_variant_builder_add (&props, "{sv}", "RetryDelay", g_variant_new_double (1));
  g_variant_builder_add (&props, "{sv}", "Attempts", g_variant_new_uint32 (0));
  g_variant_builder_add (&props, "{sv}", "RunAt", g_variant_new_string (""));
  g_variant_builder_add (&props, "{sv}", "Timeout", g_variant_new_double (0));
  g_variant_builder_add (&props, "{sv}", "Batch", g_variant_new_string (""));

  g_variant_builder_init (&ifaces, G_VARIANT_TYPE ("a{sa{sv}}"));
  g_variant_builder_add (&ifaces, "{sa{sv}}", TASK_IFACE, &props);
  emit (task->connection, MANAGER_PATH, "org.freedesktop.DBus.ObjectManager", "InterfacesAdded",
        g_variant_new ("(oa{sa{sv}})", task->path, &ifaces));
}

static void
emit_changed (Task *task, GVariantBuilder *changed)
{
  emit (task->connection, task->path, "org.freedesktop.DBus.Properties", "PropertiesChanged",
        g_variant_new ("(sa{sv}as)", TASK_IFACE, changed, NULL));
}

/* what the daemon sends once the task has run */
static gboolean
run_cb (gpointer user_data)
{
  Task *task = user_data;
  g_autofree char *started_at = now_text ();
  g_autofree char *completed_at = NULL;
  GVariantBuilder changed, result;
  const char *removed[] = { TASK_IFACE, NULL };

  g_variant_builder_init (&changed, G_VARIANT_TYPE_VARDICT);
  g_variant_builder_add (&changed, "{sv}", "StartedAt", g_variant_new_string (started_at));
  g_variant_builder_add (&changed, "{sv}", "Attempts", g_variant_new_uint32 (1));
  g_variant_builder_add (&changed, "{sv}", "Status", g_variant_new_string ("running"));
  emit_changed (task, &changed);
  emit (task->connection, MANAGER_PATH, MANAGER_IFACE, "TaskStarted", g_variant_new ("(s)", task->id));

  completed_at = now_text ();
  g_variant_builder_init (&result, G_VARIANT_TYPE_VARDICT);
  g_variant_builder_add (&result, "{sv}", "waited", g_variant_new_double (0));
  g_variant_builder_init (&changed, G_VARIANT_TYPE_VARDICT);
  g_variant_builder_add (&changed, "{sv}", "Progress", g_variant_new_double (1));
  g_variant_builder_add (&changed, "{sv}", "Result", g_variant_builder_end (&result));
  g_variant_builder_add (&changed, "{sv}", "CompletedAt", g_variant_new_string (completed_at));
  g_variant_builder_add (&changed, "{sv}", "Status", g_variant_new_string ("completed"));
  emit_changed (task, &changed);

  g_variant_builder_init (&result, G_VARIANT_TYPE_VARDICT);
  g_variant_builder_add (&result, "{sv}", "waited", g_variant_new_double (0));
  emit (task->connection, MANAGER_PATH, MANAGER_IFACE, "TaskCompleted",
        g_variant_new ("(sa{sv})", task->id, &result));
  emit (task->connection, MANAGER_PATH, "org.freedesktop.DBus.ObjectManager", "InterfacesRemoved",
        g_variant_new ("(o^as)", task->path, removed));
  return G_SOURCE_REMOVE;
}

static void
method_call_cb (GDBusConnection       *connection,
                const char            *sender,
                const char            *object_path,
                const char            *interface_name,
                const char            *method_name,
                GVariant              *parameters,
                GDBusMethodInvocation *invocation,
                gpointer               user_data)
{
  Task *task = g_new0 (Task, 1);
  const char *name, *action;
  g_autofree char *segment = NULL;

  g_variant_get (parameters, "(&s&s@a{sv}@a{sv})", &name, &action, &task->parameters, NULL);
  task->connection = g_object_ref (connection);
  task->id = g_uuid_string_random ();
  segment = g_strdelimit (g_strdup (task->id), "-", '_');
  task->path = g_strconcat (MANAGER_PATH "/tasks/", segment, NULL);

  emit_added (task, name, action);
  emit (connection, MANAGER_PATH, MANAGER_IFACE, "TaskScheduled",
        g_variant_new ("(sss)", task->id, name, action));
  g_dbus_method_invocation_return_value (invocation, g_variant_new ("(so)", task->id, task->path));
  g_idle_add_full (G_PRIORITY_DEFAULT, run_cb, task, (GDestroyNotify) task_free);
}

static const GDBusInterfaceVTable vtable = { method_call_cb, NULL, NULL, { 0 } };

static void
bus_acquired_cb (GDBusConnection *connection, const char *name, gpointer user_data)
{
  GDBusNodeInfo *info = user_data;
  g_autoptr(GError) error = NULL;

  if (g_dbus_connection_register_object (connection, MANAGER_PATH, info->interfaces[0],
                                         &vtable, NULL, NULL, &error) == 0)
    g_error ("%s", error->message);
}

static void
name_lost_cb (GDBusConnection *connection, const char *name, gpointer user_data)
{
  g_printerr ("dbus-floor: cannot own %s on the session bus\n", name);
  exit (EXIT_FAILURE);
}

static gboolean
quit_cb (gpointer user_data)
{
  g_main_loop_quit (user_data);
  return G_SOURCE_REMOVE;
}

int
main (void)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GDBusNodeInfo) info = g_dbus_node_info_new_for_xml (introspection, &error);
  g_autoptr(GMainLoop) loop = g_main_loop_new (NULL, FALSE);
  guint owner;

  g_assert_no_error (error);
  owner = g_bus_own_name (G_BUS_TYPE_SESSION, BUS_NAME, G_BUS_NAME_OWNER_FLAGS_DO_NOT_QUEUE,
                          bus_acquired_cb, NULL, name_lost_cb, info, NULL);
  g_unix_signal_add (SIGTERM, quit_cb, loop);
  g_unix_signal_add (SIGINT, quit_cb, loop);
  g_main_loop_run (loop);
  g_bus_unown_name (owner);
  return EXIT_SUCCESS;
}
