#define G_LOG_DOMAIN "em-dbus"

#include "config.h"

#include <glib/gi18n.h>

#include "engine/em-action-registry.h"
#include "engine/em-error.h"
#include "engine/em-json-variant.h"
#include "engine/em-rate-limit.h"
#include "dbus/em-dbus-device-positions.h"
#include "dbus/em-dbus-events.h"
#include "dbus/em-dbus-history.h"
#include "dbus/em-dbus-manager-adapter.h"
#include "dbus/em-dbus-recorded.h"
#include "dbus/em-dbus-reply-guard.h"
#include "dbus/em-dbus-sender-limits.h"
#include "dbus/em-dbus-submit.h"
#include "dbus/em-dbus-task-table.h"
#include "dbus/em-dbus-util.h"
#include "em-dbus-generated.h"

struct _EmDbusManagerAdapter
{
  GObject parent_instance;

  EmEngineManager *manager;
  EmDBusEngineManager1 *iface;
  EmDbusTaskTable *tasks;
  EmDbusDevicePositions *positions;
  /* calls that reply later count against their sender until answered */
  EmDbusSenderLimits *limits;
  /* cancelled when the adapter leaves the bus: lookups still waiting on the
   * engine then answer Unavailable (changes already made wait for the
   * journal's answer) */
  GCancellable *cancellable;
  gboolean exported;
  /* LastEventSeq is published at most every LAST_EVENT_SEQ_INTERVAL_US */
  guint64 seen_seq;
  EmRateLimit seq_limit;
  /* ListTasks refuses a reply larger than this, and the guard on the
   * connection any other */
  guint max_reply_bytes;
  GDBusConnection *connection;
  guint reply_guard;
};

enum {
  PROP_0,
  PROP_MAX_REPLY_BYTES,
  N_PROPS
};

static GParamSpec *properties[N_PROPS];

/* one PropertiesChanged per event was a third of the bus traffic a task
 * causes; followers need the latest seq, not every step */
#define LAST_EVENT_SEQ_INTERVAL_US (100 * G_TIME_SPAN_MILLISECOND)

G_DEFINE_FINAL_TYPE (EmDbusManagerAdapter, em_dbus_manager_adapter, G_TYPE_OBJECT)

static gboolean
handle_schedule_task_cb (EmDBusEngineManager1  *iface,
                         GDBusMethodInvocation *invocation,
                         const char            *name,
                         const char            *action,
                         GVariant              *parameters,
                         GVariant              *options,
                         EmDbusManagerAdapter  *self)
{
  if (!em_dbus_sender_limits_admit (self->limits, invocation))
    return G_DBUS_METHOD_INVOCATION_HANDLED;
  em_dbus_submit_task (self->manager, self->tasks, iface, invocation, name, action,
                       parameters, options, self->cancellable);
  return G_DBUS_METHOD_INVOCATION_HANDLED;
}

static gboolean
handle_schedule_batch_cb (EmDBusEngineManager1  *iface,
                          GDBusMethodInvocation *invocation,
                          GVariant              *items,
                          GVariant              *options,
                          EmDbusManagerAdapter  *self)
{
  if (!em_dbus_sender_limits_admit (self->limits, invocation))
    return G_DBUS_METHOD_INVOCATION_HANDLED;
  em_dbus_submit_batch (self->manager, self->tasks, iface, invocation, items, options,
                        self->cancellable);
  return G_DBUS_METHOD_INVOCATION_HANDLED;
}

static gboolean
handle_cancel_task_cb (EmDBusEngineManager1  *iface,
                       GDBusMethodInvocation *invocation,
                       const char            *id,
                       EmDbusManagerAdapter  *self)
{
  g_autoptr(GError) error = NULL;

  /* every answer waits: for the journal, or for the task database */
  if (!em_dbus_sender_limits_admit (self->limits, invocation))
    return G_DBUS_METHOD_INVOCATION_HANDLED;
  if (em_dbus_cancel_task (self->manager, id, invocation, &error))
    return G_DBUS_METHOD_INVOCATION_HANDLED;
  if (!g_error_matches (error, EM_ERROR, EM_ERROR_NOT_FOUND))
    em_dbus_return_error (invocation, error);
  /* a task that finished long ago is in the task database only: a conflict,
   * as for one still in memory, which the database tells off the loop */
  else
    em_dbus_history_cancel_task (self->manager, iface, invocation, id, self->cancellable);

  return G_DBUS_METHOD_INVOCATION_HANDLED;
}

static gboolean
handle_get_task_cb (EmDBusEngineManager1  *iface,
                    GDBusMethodInvocation *invocation,
                    const char            *id,
                    EmDbusManagerAdapter  *self)
{
  g_autoptr(GCancellable) read = NULL;

  if (!em_dbus_sender_limits_admit (self->limits, invocation))
    return G_DBUS_METHOD_INVOCATION_HANDLED;
  /* a read stops when its caller leaves: nobody would receive it */
  read = em_dbus_sender_limits_watch (invocation, self->cancellable);
  em_dbus_history_get_task (self->manager, iface, invocation, id, read);
  return G_DBUS_METHOD_INVOCATION_HANDLED;
}

static gboolean
handle_list_tasks_cb (EmDBusEngineManager1  *iface,
                      GDBusMethodInvocation *invocation,
                      GVariant              *filter,
                      EmDbusManagerAdapter  *self)
{
  g_autoptr(GCancellable) read = NULL;

  if (!em_dbus_sender_limits_admit (self->limits, invocation))
    return G_DBUS_METHOD_INVOCATION_HANDLED;
  /* a read stops when its caller leaves: nobody would receive it */
  read = em_dbus_sender_limits_watch (invocation, self->cancellable);
  em_dbus_history_list_tasks (self->manager, iface, invocation, filter, self->max_reply_bytes,
                              read);
  return G_DBUS_METHOD_INVOCATION_HANDLED;
}

static gboolean
handle_get_events_cb (EmDBusEngineManager1  *iface,
                      GDBusMethodInvocation *invocation,
                      guint64                after_seq,
                      guint                  limit,
                      EmDbusManagerAdapter  *self)
{
  g_autoptr(GCancellable) read = NULL;

  if (!em_dbus_sender_limits_admit (self->limits, invocation))
    return G_DBUS_METHOD_INVOCATION_HANDLED;
  /* a read stops when its caller leaves: nobody would receive it */
  read = em_dbus_sender_limits_watch (invocation, self->cancellable);
  em_dbus_events_get (self->manager, iface, invocation, after_seq, limit, self->max_reply_bytes,
                      read);
  return G_DBUS_METHOD_INVOCATION_HANDLED;
}

static gboolean
handle_get_queue_cb (EmDBusEngineManager1  *iface,
                     GDBusMethodInvocation *invocation,
                     EmDbusManagerAdapter  *self)
{
  g_autoptr(GCancellable) read = NULL;

  if (!em_dbus_sender_limits_admit (self->limits, invocation))
    return G_DBUS_METHOD_INVOCATION_HANDLED;
  /* a read stops when its caller leaves: nobody would receive it */
  read = em_dbus_sender_limits_watch (invocation, self->cancellable);
  em_dbus_history_get_queue (self->manager, iface, invocation, read);
  return G_DBUS_METHOD_INVOCATION_HANDLED;
}

static gboolean
handle_pause_cb (EmDBusEngineManager1  *iface,
                 GDBusMethodInvocation *invocation,
                 EmDbusManagerAdapter  *self)
{
  if (!em_dbus_sender_limits_admit (self->limits, invocation))
    return G_DBUS_METHOD_INVOCATION_HANDLED;
  em_dbus_set_paused (self->manager, TRUE, invocation);
  return G_DBUS_METHOD_INVOCATION_HANDLED;
}

static gboolean
handle_resume_cb (EmDBusEngineManager1  *iface,
                  GDBusMethodInvocation *invocation,
                  EmDbusManagerAdapter  *self)
{
  if (!em_dbus_sender_limits_admit (self->limits, invocation))
    return G_DBUS_METHOD_INVOCATION_HANDLED;
  em_dbus_set_paused (self->manager, FALSE, invocation);
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

static void
sync_queue_properties (EmDbusManagerAdapter *self)
{
  em_dbus_engine_manager1_set_paused (self->iface, em_engine_manager_get_paused (self->manager));
  em_dbus_engine_manager1_set_max_concurrent (self->iface,
                                              em_engine_manager_get_max_concurrent (self->manager));
  em_dbus_engine_manager1_set_held (self->iface, em_engine_manager_get_held (self->manager) != NULL
                                                 ? em_engine_manager_get_held (self->manager) : "");
}

static void
emit_queue_event (EmDbusManagerAdapter *self,
                  EmEvent              *event)
{
  /* Paused reads the new value when the signal arrives */
  sync_queue_properties (self);
  g_dbus_interface_skeleton_flush (G_DBUS_INTERFACE_SKELETON (self->iface));

  if (em_event_get_event_type (event) == EM_EVENT_QUEUE_PAUSED)
    em_dbus_engine_manager1_emit_queue_paused (self->iface);
  else
    em_dbus_engine_manager1_emit_queue_resumed (self->iface);
}

/* the value the event captured, as on the WebSocket. A listener may have
 * cancelled the task while the event went out: the Status that the later
 * event brings waits for that event, so the bus keeps the events' order */
static void
emit_task_progress (EmDbusManagerAdapter *self,
                    EmEvent              *event,
                    EmDbusTaskObject     *object,
                    EmTask               *task)
{
  gdouble progress = em_event_get_progress (event);

  if (em_task_get_status (task) == EM_TASK_STATUS_RUNNING)
    em_dbus_task_object_flush (object, progress);
  em_dbus_engine_manager1_emit_task_progress (self->iface, em_task_get_id (task), progress);
}

static void
emit_task_event (EmDbusManagerAdapter *self,
                 EmEvent              *event,
                 EmTask               *task)
{
  const char *id = em_task_get_id (task);
  EmDbusTaskObject *object = em_dbus_task_table_ensure (self->tasks, task);

  if (em_event_get_event_type (event) == EM_EVENT_TASK_PROGRESS)
    {
      emit_task_progress (self, event, object, task);
      return;
    }

  /* PropertiesChanged of the task object go first, so a client reacting to a
   * lifecycle signal already reads the new Status, and so do the device
   * positions: on a move's TaskCompleted, StagePosition is where it stopped */
  em_dbus_task_object_flush (object, em_event_get_progress (event));
  em_dbus_device_positions_flush (self->positions);
  g_dbus_interface_skeleton_flush (G_DBUS_INTERFACE_SKELETON (self->iface));

  switch (em_event_get_event_type (event))
    {
    case EM_EVENT_TASK_SCHEDULED:
      em_dbus_engine_manager1_emit_task_scheduled (self->iface, id, em_task_get_name (task),
                                                   em_task_get_action (task));
      break;
    case EM_EVENT_TASK_STARTED:
      em_dbus_engine_manager1_emit_task_started (self->iface, id);
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
    case EM_EVENT_TASK_RETRYING:
      em_dbus_engine_manager1_emit_task_retrying (self->iface, id, em_event_get_attempt (event),
                                                  em_event_get_error (event) != NULL
                                                    ? em_event_get_error (event) : "");
      break;
    default:
      g_debug ("ignoring event %s", em_event_get_type_name (event));
      break;
    }
}

/* the last value always goes out, and the property never runs ahead of what
 * GetEvents and ListTasks return: GetEvents gives only events on disk */
static void
publish_event_seq (gpointer user_data)
{
  EmDbusManagerAdapter *self = user_data;

  em_dbus_engine_manager1_set_last_event_seq (self->iface, self->seen_seq);
}

static void
see_durable_seq (EmDbusManagerAdapter *self)
{
  guint64 durable = em_engine_manager_get_committed_event_seq (self->manager);

  if (durable <= self->seen_seq)
    return;
  self->seen_seq = durable;
  em_rate_limit_poke (&self->seq_limit);
}

static void
events_committed_cb (EmEngineManager      *manager,
                     guint64               seq,
                     EmDbusManagerAdapter *self)
{
  see_durable_seq (self);
}

/* the engine's `event` signal carries every change in one order with a seq,
 * the order the WebSocket sees; following it alone keeps the bus in step */
static void
manager_event_cb (EmEngineManager      *manager,
                  EmEvent              *event,
                  EmDbusManagerAdapter *self)
{
  EmTask *task = em_event_get_task (event);

  /* at once without a store; with one, once the event is on disk */
  see_durable_seq (self);

  if (task != NULL)
    emit_task_event (self, event, task);
  else
    emit_queue_event (self, event);
}

/* a deleted task is gone from GetTask and ListTasks: its object, still in
 * its grace period, must not show it */
static void
tasks_deleted_cb (EmEngineManager      *manager,
                  const char * const   *ids,
                  EmDbusManagerAdapter *self)
{
  em_dbus_task_table_forget (self->tasks, ids);
}

static void
queue_property_notify_cb (EmEngineManager      *manager,
                          GParamSpec           *pspec,
                          EmDbusManagerAdapter *self)
{
  sync_queue_properties (self);
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
senders_notify_cb (EmDbusSenderLimits   *limits,
                   GParamSpec           *pspec,
                   EmDbusManagerAdapter *self)
{
  em_dbus_engine_manager1_set_senders_in_flight (self->iface,
                                                 em_dbus_sender_limits_get_senders (limits));
}

static void
em_dbus_manager_adapter_dispose (GObject *object)
{
  EmDbusManagerAdapter *self = EM_DBUS_MANAGER_ADAPTER (object);

  em_dbus_manager_adapter_unexport (self);
  g_clear_object (&self->positions);
  if (self->limits != NULL)
    g_signal_handlers_disconnect_by_data (self->limits, self);
  g_clear_object (&self->limits);
  g_clear_object (&self->cancellable);
  g_clear_object (&self->tasks);
  g_clear_object (&self->iface);
  g_clear_object (&self->manager);

  G_OBJECT_CLASS (em_dbus_manager_adapter_parent_class)->dispose (object);
}

static void
em_dbus_manager_adapter_get_property (GObject    *object,
                                      guint       prop_id,
                                      GValue     *value,
                                      GParamSpec *pspec)
{
  EmDbusManagerAdapter *self = EM_DBUS_MANAGER_ADAPTER (object);

  switch (prop_id)
    {
    case PROP_MAX_REPLY_BYTES:
      g_value_set_uint (value, self->max_reply_bytes);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
em_dbus_manager_adapter_set_property (GObject      *object,
                                      guint         prop_id,
                                      const GValue *value,
                                      GParamSpec   *pspec)
{
  EmDbusManagerAdapter *self = EM_DBUS_MANAGER_ADAPTER (object);

  switch (prop_id)
    {
    case PROP_MAX_REPLY_BYTES:
      self->max_reply_bytes = g_value_get_uint (value);
      if (self->tasks != NULL)
        em_dbus_task_table_set_max_reply_bytes (self->tasks, self->max_reply_bytes);
      if (self->reply_guard != 0)
        {
          g_dbus_connection_remove_filter (self->connection, self->reply_guard);
          self->reply_guard = em_dbus_reply_guard_add (self->connection, self->max_reply_bytes);
        }
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
em_dbus_manager_adapter_class_init (EmDbusManagerAdapterClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->dispose = em_dbus_manager_adapter_dispose;
  object_class->get_property = em_dbus_manager_adapter_get_property;
  object_class->set_property = em_dbus_manager_adapter_set_property;

  /**
   * EmDbusManagerAdapter:max-reply-bytes:
   *
   * The largest method reply sent; a larger one is refused, ListTasks's
   * naming its limit. The default is what the D-Bus specification allows a
   * message; a bus may be configured for less.
   */
  properties[PROP_MAX_REPLY_BYTES] =
    g_param_spec_uint ("max-reply-bytes", NULL, NULL, 1, EM_DBUS_MAX_REPLY_BYTES,
                       EM_DBUS_MAX_REPLY_BYTES,
                       G_PARAM_READWRITE | G_PARAM_CONSTRUCT | G_PARAM_STATIC_STRINGS);
  g_object_class_install_properties (object_class, N_PROPS, properties);
}

static void
em_dbus_manager_adapter_init (EmDbusManagerAdapter *self)
{
  em_rate_limit_init (&self->seq_limit, LAST_EVENT_SEQ_INTERVAL_US,
                      "[em-dbus] LastEventSeq rate limit", publish_event_seq, self);
}

/* a{sas}: each action's parameter names */
static GVariant *
action_parameters (EmActionRegistry *registry)
{
  g_auto(GStrv) names = em_action_registry_get_names (registry);
  GVariantBuilder builder;

  g_variant_builder_init (&builder, G_VARIANT_TYPE ("a{sas}"));
  for (guint i = 0; names[i] != NULL; i++)
    {
      const EmParamSpec *params;
      guint n_params = 0;
      GVariantBuilder declared;

      params = em_action_get_params (em_action_registry_lookup (registry, names[i]), &n_params);
      g_variant_builder_init (&declared, G_VARIANT_TYPE_STRING_ARRAY);
      for (guint j = 0; j < n_params; j++)
        g_variant_builder_add (&declared, "s", params[j].name);
      g_variant_builder_add (&builder, "{sas}", names[i], &declared);
    }
  return g_variant_builder_end (&builder);
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
  self->limits = em_dbus_sender_limits_new ();
  self->tasks = em_dbus_task_table_new (manager, self->limits);
  em_dbus_task_table_set_max_reply_bytes (self->tasks, self->max_reply_bytes);
  self->iface = em_dbus_engine_manager1_skeleton_new ();

  actions = em_action_registry_get_names (em_engine_manager_get_registry (manager));
  em_dbus_engine_manager1_set_version (self->iface, PACKAGE_VERSION);
  em_dbus_engine_manager1_set_actions (self->iface, (const char * const *) actions);
  em_dbus_engine_manager1_set_action_parameters (self->iface,
                                                 action_parameters (em_engine_manager_get_registry (manager)));
  em_dbus_engine_manager1_set_http_address (self->iface, http_address != NULL ? http_address : "");
  em_dbus_engine_manager1_set_last_event_seq (self->iface,
                                              em_engine_manager_get_committed_event_seq (manager));
  em_dbus_engine_manager1_set_event_log_id (self->iface, em_engine_manager_get_event_log_id (manager));
  sync_queue_properties (self);
  self->positions = em_dbus_device_positions_new (em_engine_manager_get_devices (manager),
                                                  self->iface);
  g_signal_connect (self->limits, "notify::senders", G_CALLBACK (senders_notify_cb), self);
  g_dbus_interface_skeleton_flush (G_DBUS_INTERFACE_SKELETON (self->iface));

  g_signal_connect (self->iface, "handle-schedule-task", G_CALLBACK (handle_schedule_task_cb), self);
  g_signal_connect (self->iface, "handle-schedule-batch", G_CALLBACK (handle_schedule_batch_cb), self);
  g_signal_connect (self->iface, "handle-cancel-task", G_CALLBACK (handle_cancel_task_cb), self);
  g_signal_connect (self->iface, "handle-get-task", G_CALLBACK (handle_get_task_cb), self);
  g_signal_connect (self->iface, "handle-list-tasks", G_CALLBACK (handle_list_tasks_cb), self);
  g_signal_connect (self->iface, "handle-get-events", G_CALLBACK (handle_get_events_cb), self);
  g_signal_connect (self->iface, "handle-get-queue", G_CALLBACK (handle_get_queue_cb), self);
  g_signal_connect (self->iface, "handle-pause", G_CALLBACK (handle_pause_cb), self);
  g_signal_connect (self->iface, "handle-resume", G_CALLBACK (handle_resume_cb), self);

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

  g_clear_object (&self->cancellable);
  self->cancellable = g_cancellable_new ();
  g_set_object (&self->connection, connection);
  self->reply_guard = em_dbus_reply_guard_add (connection, self->max_reply_bytes);
  em_dbus_sender_limits_set_connection (self->limits, connection);
  em_dbus_task_table_set_connection (self->tasks, connection);
  export_unfinished_tasks (self);
  g_signal_connect (self->manager, "event", G_CALLBACK (manager_event_cb), self);
  g_signal_connect (self->manager, "events-committed", G_CALLBACK (events_committed_cb), self);
  g_signal_connect (self->manager, "notify::max-concurrent",
                    G_CALLBACK (queue_property_notify_cb), self);
  g_signal_connect (self->manager, "notify::held", G_CALLBACK (queue_property_notify_cb), self);
  g_signal_connect (self->manager, "tasks-deleted", G_CALLBACK (tasks_deleted_cb), self);
  sync_queue_properties (self);
  self->seen_seq = em_engine_manager_get_committed_event_seq (self->manager);
  publish_event_seq (self);
  self->exported = TRUE;

  return TRUE;
}

EmDbusSenderLimits *
em_dbus_manager_adapter_get_sender_limits (EmDbusManagerAdapter *self)
{
  g_return_val_if_fail (EM_IS_DBUS_MANAGER_ADAPTER (self), NULL);

  return self->limits;
}

void
em_dbus_manager_adapter_unexport (EmDbusManagerAdapter *self)
{
  g_return_if_fail (EM_IS_DBUS_MANAGER_ADAPTER (self));

  if (!self->exported)
    return;

  g_cancellable_cancel (self->cancellable);
  g_signal_handlers_disconnect_by_func (self->manager, manager_event_cb, self);
  g_signal_handlers_disconnect_by_func (self->manager, events_committed_cb, self);
  g_signal_handlers_disconnect_by_func (self->manager, queue_property_notify_cb, self);
  g_signal_handlers_disconnect_by_func (self->manager, tasks_deleted_cb, self);
  em_rate_limit_clear (&self->seq_limit);
  em_dbus_task_table_set_connection (self->tasks, NULL);
  em_dbus_sender_limits_set_connection (self->limits, NULL);
  g_dbus_interface_skeleton_unexport (G_DBUS_INTERFACE_SKELETON (self->iface));
  if (self->reply_guard != 0)
    g_dbus_connection_remove_filter (self->connection, self->reply_guard);
  self->reply_guard = 0;
  g_clear_object (&self->connection);
  self->exported = FALSE;
}
