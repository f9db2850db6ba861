#define G_LOG_DOMAIN "em-dbus"

#include "config.h"

#include <glib/gi18n.h>

#include "engine/em-error.h"
#include "engine/em-json-variant.h"
#include "dbus/em-dbus-manager-adapter.h"
#include "dbus/em-dbus-task-table.h"
#include "dbus/em-dbus-util.h"
#include "em-dbus-generated.h"

struct _EmDbusManagerAdapter
{
  GObject parent_instance;

  EmEngineManager *manager;
  EmDBusEngineManager1 *iface;
  EmDbusTaskTable *tasks;
  gboolean exported;
};

G_DEFINE_FINAL_TYPE (EmDbusManagerAdapter, em_dbus_manager_adapter, G_TYPE_OBJECT)

static const char * const list_filter_keys[] = { "status", "offset", "limit", NULL };

/* errors name the key as the validator does, "parameters.exposure" */
static void
prefix_key (GError     **error,
            const char  *what)
{
  g_autofree char *prefix = g_strconcat (what, ".", NULL);

  if (!g_str_has_prefix ((*error)->message, prefix))
    g_prefix_error (error, "%s", prefix);
}

static JsonObject *
dict_to_json (GVariant    *dict,
              const char  *what,
              GError     **error)
{
  JsonObject *object = em_variant_to_json_object (dict, error);

  if (object == NULL)
    prefix_key (error, what);
  return object;
}

static gboolean
handle_schedule_task_cb (EmDBusEngineManager1  *iface,
                         GDBusMethodInvocation *invocation,
                         const char            *name,
                         const char            *action,
                         GVariant              *parameters,
                         GVariant              *options,
                         EmDbusManagerAdapter  *self)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonObject) params = NULL;
  g_autoptr(EmTaskSpec) spec = NULL;
  EmDbusTaskObject *object;
  EmTask *task;

  /* an empty dictionary means "no parameters", as an absent JSON member does */
  if (g_variant_n_children (parameters) > 0 &&
      !(params = dict_to_json (parameters, "parameters", &error)))
    {
      em_dbus_return_error (invocation, error);
      return G_DBUS_METHOD_INVOCATION_HANDLED;
    }

  spec = em_task_spec_new (name, action, params);

  /* the scheduling options are the engine's (priority, depends_on, …), as the
   * REST body's are; it refuses unknown keys */
  if (g_variant_n_children (options) > 0)
    {
      g_autoptr(JsonObject) json_options = dict_to_json (options, "options", &error);

      if (json_options == NULL || !em_task_spec_set_options (spec, json_options, &error))
        {
          if (json_options != NULL)
            prefix_key (&error, "options");
          em_dbus_return_error (invocation, error);
          return G_DBUS_METHOD_INVOCATION_HANDLED;
        }
    }

  task = em_engine_manager_schedule_task (self->manager, spec, &error);
  if (task == NULL)
    {
      em_dbus_return_error (invocation, error);
      return G_DBUS_METHOD_INVOCATION_HANDLED;
    }

  /* normally exported already by the task-scheduled event; this makes the path
   * in the reply valid whatever the engine's signal order */
  object = em_dbus_task_table_ensure (self->tasks, task);
  em_dbus_engine_manager1_complete_schedule_task (iface, invocation,
                                                  em_task_get_id (task),
                                                  em_dbus_task_object_get_path (object));
  return G_DBUS_METHOD_INVOCATION_HANDLED;
}

static gboolean
handle_cancel_task_cb (EmDBusEngineManager1  *iface,
                       GDBusMethodInvocation *invocation,
                       const char            *id,
                       EmDbusManagerAdapter  *self)
{
  g_autoptr(GError) error = NULL;

  if (!em_engine_manager_cancel_task (self->manager, id, &error))
    em_dbus_return_error (invocation, error);
  else
    em_dbus_engine_manager1_complete_cancel_task (iface, invocation);

  return G_DBUS_METHOD_INVOCATION_HANDLED;
}

static gboolean
handle_get_task_cb (EmDBusEngineManager1  *iface,
                    GDBusMethodInvocation *invocation,
                    const char            *id,
                    EmDbusManagerAdapter  *self)
{
  EmTask *task = em_engine_manager_get_task (self->manager, id);
  g_autoptr(GVariant) dict = NULL;

  if (task == NULL)
    {
      g_dbus_method_invocation_return_error (invocation, EM_ERROR, EM_ERROR_NOT_FOUND,
                                             _("No task with id “%s”"), id);
      return G_DBUS_METHOD_INVOCATION_HANDLED;
    }

  dict = g_variant_take_ref (em_task_to_variant (task));
  em_dbus_engine_manager1_complete_get_task (iface, invocation, dict);
  return G_DBUS_METHOD_INVOCATION_HANDLED;
}

static gboolean
parse_list_filter (GVariant      *filter,
                   gboolean      *has_status,
                   EmTaskStatus  *status,
                   guint         *offset,
                   guint         *limit,
                   GError       **error)
{
  g_autoptr(GVariant) status_value = NULL;
  g_autoptr(GVariant) offset_value = NULL;
  g_autoptr(GVariant) limit_value = NULL;

  if (!em_dbus_check_keys (filter, "filter", list_filter_keys, error) ||
      !em_dbus_lookup (filter, "filter", "status", G_VARIANT_TYPE_STRING, &status_value, error) ||
      !em_dbus_lookup (filter, "filter", "offset", G_VARIANT_TYPE_UINT32, &offset_value, error) ||
      !em_dbus_lookup (filter, "filter", "limit", G_VARIANT_TYPE_UINT32, &limit_value, error))
    return FALSE;

  *has_status = status_value != NULL;
  if (status_value != NULL &&
      !em_task_status_from_string (g_variant_get_string (status_value, NULL), status))
    {
      g_set_error (error, EM_ERROR, EM_ERROR_INVALID_ARGUMENT,
                   _("filter.status: unknown status “%s” (expected pending, running, "
                     "completed, failed or cancelled)"),
                   g_variant_get_string (status_value, NULL));
      return FALSE;
    }

  *offset = offset_value != NULL ? g_variant_get_uint32 (offset_value) : 0;
  *limit = limit_value != NULL ? g_variant_get_uint32 (limit_value) : 0;
  return TRUE;
}

static gboolean
handle_list_tasks_cb (EmDBusEngineManager1  *iface,
                      GDBusMethodInvocation *invocation,
                      GVariant              *filter,
                      EmDbusManagerAdapter  *self)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) tasks = NULL;
  GVariantBuilder builder;
  gboolean has_status = FALSE;
  EmTaskStatus status = EM_TASK_STATUS_PENDING;
  guint offset = 0;
  guint limit = 0;

  if (!parse_list_filter (filter, &has_status, &status, &offset, &limit, &error))
    {
      em_dbus_return_error (invocation, error);
      return G_DBUS_METHOD_INVOCATION_HANDLED;
    }

  tasks = em_engine_manager_list_tasks (self->manager, has_status ? &status : NULL,
                                        offset, limit, NULL);
  g_variant_builder_init (&builder, G_VARIANT_TYPE ("aa{sv}"));
  for (guint i = 0; i < tasks->len; i++)
    {
      g_autoptr(GVariant) dict = g_variant_take_ref (em_task_to_variant (g_ptr_array_index (tasks, i)));

      g_variant_builder_add_value (&builder, dict);
    }

  em_dbus_engine_manager1_complete_list_tasks (iface, invocation,
                                               g_variant_builder_end (&builder));
  return G_DBUS_METHOD_INVOCATION_HANDLED;
}

static void
emit_task_completed (EmDbusManagerAdapter *self,
                     EmTask               *task)
{
  JsonObject *result = em_task_get_result (task);
  g_autoptr(GVariant) dict = NULL;

  dict = g_variant_take_ref (result != NULL ? em_json_object_to_variant (result)
                                            : em_dbus_empty_dict ());
  em_dbus_engine_manager1_emit_task_completed (self->iface, em_task_get_id (task), dict);
}

/* the engine's `event` signal carries every change in one order with a seq,
 * the order the WebSocket sees; following it alone keeps the bus in step */
static void
manager_event_cb (EmEngineManager      *manager,
                  EmEvent              *event,
                  EmDbusManagerAdapter *self)
{
  EmTask *task = em_event_get_task (event);
  const char *id = em_task_get_id (task);
  EmDbusTaskObject *object = em_dbus_task_table_ensure (self->tasks, task);

  /* PropertiesChanged of the task object go first, so a client reacting to a
   * lifecycle signal already reads the new Status */
  em_dbus_task_object_flush (object);

  switch (em_event_get_event_type (event))
    {
    case EM_EVENT_TASK_SCHEDULED:
      em_dbus_engine_manager1_emit_task_scheduled (self->iface, id, em_task_get_name (task),
                                                   em_task_get_action (task));
      break;
    case EM_EVENT_TASK_STARTED:
      em_dbus_engine_manager1_emit_task_started (self->iface, id);
      break;
    case EM_EVENT_TASK_PROGRESS:
      em_dbus_engine_manager1_emit_task_progress (self->iface, id, em_task_get_progress (task));
      break;
    case EM_EVENT_TASK_COMPLETED:
      emit_task_completed (self, task);
      break;
    case EM_EVENT_TASK_FAILED:
      em_dbus_engine_manager1_emit_task_failed (self->iface, id,
                                                em_task_get_error (task) != NULL
                                                  ? em_task_get_error (task) : "");
      break;
    case EM_EVENT_TASK_CANCELLED:
      em_dbus_engine_manager1_emit_task_cancelled (self->iface, id);
      break;
    default:
      g_debug ("ignoring event %s", em_event_get_type_name (event));
      break;
    }
}

/* tasks that were pending or running before the bus came up get objects too */
static void
export_unfinished_tasks (EmDbusManagerAdapter *self)
{
  const EmTaskStatus unfinished[] = { EM_TASK_STATUS_PENDING, EM_TASK_STATUS_RUNNING };

  for (guint i = 0; i < G_N_ELEMENTS (unfinished); i++)
    {
      g_autoptr(GPtrArray) tasks = em_engine_manager_list_tasks (self->manager, &unfinished[i],
                                                                 0, 0, NULL);

      for (guint j = 0; j < tasks->len; j++)
        em_dbus_task_table_ensure (self->tasks, g_ptr_array_index (tasks, j));
    }
}

static void
em_dbus_manager_adapter_dispose (GObject *object)
{
  EmDbusManagerAdapter *self = EM_DBUS_MANAGER_ADAPTER (object);

  em_dbus_manager_adapter_unexport (self);
  g_clear_object (&self->tasks);
  g_clear_object (&self->iface);
  g_clear_object (&self->manager);

  G_OBJECT_CLASS (em_dbus_manager_adapter_parent_class)->dispose (object);
}

static void
em_dbus_manager_adapter_class_init (EmDbusManagerAdapterClass *klass)
{
  G_OBJECT_CLASS (klass)->dispose = em_dbus_manager_adapter_dispose;
}

static void
em_dbus_manager_adapter_init (EmDbusManagerAdapter *self)
{
}

EmDbusManagerAdapter *
em_dbus_manager_adapter_new (EmEngineManager *manager,
                             const char      *http_address)
{
  EmDbusManagerAdapter *self;
  g_auto(GStrv) actions = NULL;

  g_return_val_if_fail (EM_IS_ENGINE_MANAGER (manager), NULL);

  self = g_object_new (EM_TYPE_DBUS_MANAGER_ADAPTER, NULL);
  self->manager = g_object_ref (manager);
  self->tasks = em_dbus_task_table_new (manager);
  self->iface = em_dbus_engine_manager1_skeleton_new ();

  actions = em_action_registry_get_names (em_engine_manager_get_registry (manager));
  em_dbus_engine_manager1_set_version (self->iface, PACKAGE_VERSION);
  em_dbus_engine_manager1_set_actions (self->iface, (const char * const *) actions);
  em_dbus_engine_manager1_set_http_address (self->iface, http_address != NULL ? http_address : "");
  g_dbus_interface_skeleton_flush (G_DBUS_INTERFACE_SKELETON (self->iface));

  g_signal_connect (self->iface, "handle-schedule-task", G_CALLBACK (handle_schedule_task_cb), self);
  g_signal_connect (self->iface, "handle-cancel-task", G_CALLBACK (handle_cancel_task_cb), self);
  g_signal_connect (self->iface, "handle-get-task", G_CALLBACK (handle_get_task_cb), self);
  g_signal_connect (self->iface, "handle-list-tasks", G_CALLBACK (handle_list_tasks_cb), self);

  return self;
}

gboolean
em_dbus_manager_adapter_export (EmDbusManagerAdapter  *self,
                                GDBusConnection       *connection,
                                GError               **error)
{
  g_return_val_if_fail (EM_IS_DBUS_MANAGER_ADAPTER (self), FALSE);
  g_return_val_if_fail (G_IS_DBUS_CONNECTION (connection), FALSE);
  g_return_val_if_fail (!self->exported, FALSE);

  if (!g_dbus_interface_skeleton_export (G_DBUS_INTERFACE_SKELETON (self->iface),
                                         connection, EM_DBUS_MANAGER_PATH, error))
    return FALSE;

  em_dbus_task_table_set_connection (self->tasks, connection);
  export_unfinished_tasks (self);
  g_signal_connect (self->manager, "event", G_CALLBACK (manager_event_cb), self);
  self->exported = TRUE;

  return TRUE;
}

void
em_dbus_manager_adapter_unexport (EmDbusManagerAdapter *self)
{
  g_return_if_fail (EM_IS_DBUS_MANAGER_ADAPTER (self));

  if (!self->exported)
    return;

  g_signal_handlers_disconnect_by_func (self->manager, manager_event_cb, self);
  em_dbus_task_table_set_connection (self->tasks, NULL);
  g_dbus_interface_skeleton_unexport (G_DBUS_INTERFACE_SKELETON (self->iface));
  self->exported = FALSE;
}
