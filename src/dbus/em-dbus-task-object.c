#define G_LOG_DOMAIN "em-dbus"

#include "config.h"

#include <glib/gi18n.h>

#include "engine/em-error.h"
#include "engine/em-json-variant.h"
#include "engine/em-time.h"
#include "dbus/em-dbus-recorded.h"
#include "dbus/em-dbus-task-object.h"
#include "dbus/em-dbus-util.h"
#include "em-dbus-generated.h"

struct _EmDbusTaskObject
{
  GObject parent_instance;

  EmEngineManager *manager;
  EmTask *task;
  EmDbusSenderLimits *limits;
  char *path;
  EmDBusObjectSkeleton *object;
  EmDBusTask1 *iface;
  gint64 expires_at;
  /* bumped on every property change, so a GetManagedObjects being built
   * knows which entries it serialized are stale */
  guint64 serial;
};

G_DEFINE_FINAL_TYPE (EmDbusTaskObject, em_dbus_task_object, G_TYPE_OBJECT)

static char *
format_time (GDateTime *time)
{
  return time != NULL ? em_time_format (time) : g_strdup ("");
}

static GVariant *
object_to_dict (JsonObject *object)
{
  return object != NULL ? em_json_object_to_variant (object) : em_dbus_empty_dict ();
}

static void
sync_status (EmDbusTaskObject *self)
{
  em_dbus_task1_set_status (self->iface,
                            em_task_status_to_string (em_task_get_status (self->task)));
}

static void
sync_started_at (EmDbusTaskObject *self)
{
  g_autofree char *text = format_time (em_task_get_started_at (self->task));

  em_dbus_task1_set_started_at (self->iface, text);
}

static void
sync_completed_at (EmDbusTaskObject *self)
{
  g_autofree char *text = format_time (em_task_get_completed_at (self->task));

  em_dbus_task1_set_completed_at (self->iface, text);
}

static void
sync_progress (EmDbusTaskObject *self)
{
  em_dbus_task1_set_progress (self->iface, em_task_get_progress (self->task));
}

static void
sync_result (EmDbusTaskObject *self)
{
  g_autoptr(GVariant) result = g_variant_take_ref (object_to_dict (em_task_get_result (self->task)));

  em_dbus_task1_set_result (self->iface, result);
}

static void
sync_error (EmDbusTaskObject *self)
{
  const char *error = em_task_get_error (self->task);

  em_dbus_task1_set_error (self->iface, error != NULL ? error : "");
}

static const char * const empty_strv[] = { NULL };

static const char * const *
strv_or_empty (const char * const *strv)
{
  return strv != NULL ? strv : empty_strv;
}

static void
sync_waiting_on (EmDbusTaskObject *self)
{
  em_dbus_task1_set_waiting_on (self->iface, strv_or_empty (em_task_get_waiting_on (self->task)));
}

static void
sync_waiting_for (EmDbusTaskObject *self)
{
  em_dbus_task1_set_waiting_for (self->iface, strv_or_empty (em_task_get_waiting_for (self->task)));
}

static void
sync_attempts (EmDbusTaskObject *self)
{
  em_dbus_task1_set_attempts (self->iface, em_task_get_attempts (self->task));
}

static void
sync_run_at (EmDbusTaskObject *self)
{
  g_autofree char *text = format_time (em_task_get_run_at (self->task));

  em_dbus_task1_set_run_at (self->iface, text);
}

/* fixed at submission, set once */
static void
sync_scheduling (EmDbusTaskObject *self)
{
  const char *batch = em_task_get_batch (self->task);

  em_dbus_task1_set_priority (self->iface, em_task_get_priority (self->task));
  em_dbus_task1_set_depends_on (self->iface, strv_or_empty (em_task_get_depends_on (self->task)));
  em_dbus_task1_set_max_retries (self->iface, em_task_get_max_retries (self->task));
  em_dbus_task1_set_retry_delay (self->iface, em_task_get_retry_delay (self->task));
  em_dbus_task1_set_timeout (self->iface, em_task_get_timeout (self->task));
  em_dbus_task1_set_batch (self->iface, batch != NULL ? batch : "");
}

static void
sync_all (EmDbusTaskObject *self)
{
  g_autofree char *created_at = format_time (em_task_get_created_at (self->task));
  g_autoptr(GVariant) parameters = NULL;

  parameters = g_variant_take_ref (object_to_dict (em_task_get_parameters (self->task)));

  em_dbus_task1_set_id (self->iface, em_task_get_id (self->task));
  em_dbus_task1_set_name (self->iface, em_task_get_name (self->task));
  em_dbus_task1_set_action (self->iface, em_task_get_action (self->task));
  em_dbus_task1_set_parameters (self->iface, parameters);
  em_dbus_task1_set_created_at (self->iface, created_at);
  sync_status (self);
  sync_started_at (self);
  sync_completed_at (self);
  sync_progress (self);
  sync_result (self);
  sync_error (self);
  sync_scheduling (self);
  sync_waiting_on (self);
  sync_waiting_for (self);
  sync_attempts (self);
  sync_run_at (self);
}

/* one handler per task property that can change; the generated setters only
 * queue a PropertiesChanged when the value really differs. Progress is not
 * among them: it follows the engine's rate-limited progress events (see
 * em_dbus_task_object_flush()), not every step of a move */
static const struct {
  const char *property;
  void (*sync) (EmDbusTaskObject *self);
} watched[] = {
  { "status", sync_status },
  { "started-at", sync_started_at },
  { "completed-at", sync_completed_at },
  { "result", sync_result },
  { "error", sync_error },
  { "waiting-on", sync_waiting_on },
  { "waiting-for", sync_waiting_for },
  { "attempts", sync_attempts },
  { "run-at", sync_run_at },
};

static void
task_notify_cb (EmTask     *task,
                GParamSpec *pspec,
                gpointer    user_data)
{
  EmDbusTaskObject *self = user_data;

  for (guint i = 0; i < G_N_ELEMENTS (watched); i++)
    {
      if (g_str_equal (watched[i].property, pspec->name))
        {
          watched[i].sync (self);
          return;
        }
    }
}

static gboolean
handle_cancel_cb (EmDBusTask1           *iface,
                  GDBusMethodInvocation *invocation,
                  gpointer               user_data)
{
  EmDbusTaskObject *self = user_data;
  g_autoptr(GError) error = NULL;
  const char *id = em_task_get_id (self->task);

  /* its reply waits for the journal, as CancelTask's does */
  if (!em_dbus_sender_limits_admit (self->limits, invocation))
    return G_DBUS_METHOD_INVOCATION_HANDLED;
  if (em_dbus_cancel_task (self->manager, id, invocation, &error))
    return G_DBUS_METHOD_INVOCATION_HANDLED;
  /* a finished task may leave the engine's memory while its object stays for
   * the grace period: still a conflict, not an unknown task */
  if (g_error_matches (error, EM_ERROR, EM_ERROR_NOT_FOUND) && em_task_is_finished (self->task))
    g_dbus_method_invocation_return_error (invocation, EM_ERROR, EM_ERROR_CONFLICT,
                                           _("task “%s” has already finished: its status is %s"),
                                           id, em_task_status_to_string (em_task_get_status (self->task)));
  else
    em_dbus_return_error (invocation, error);

  return G_DBUS_METHOD_INVOCATION_HANDLED;
}

static void
iface_notify_cb (GObject    *iface,
                 GParamSpec *pspec,
                 gpointer    user_data)
{
  EmDbusTaskObject *self = user_data;

  self->serial++;
}

static void
em_dbus_task_object_dispose (GObject *object)
{
  EmDbusTaskObject *self = EM_DBUS_TASK_OBJECT (object);

  if (self->task != NULL)
    g_signal_handlers_disconnect_by_data (self->task, self);
  if (self->iface != NULL)
    g_signal_handlers_disconnect_by_data (self->iface, self);
  g_clear_object (&self->iface);
  g_clear_object (&self->object);
  g_clear_object (&self->task);
  g_clear_object (&self->limits);
  g_clear_object (&self->manager);

  G_OBJECT_CLASS (em_dbus_task_object_parent_class)->dispose (object);
}

static void
em_dbus_task_object_finalize (GObject *object)
{
  EmDbusTaskObject *self = EM_DBUS_TASK_OBJECT (object);

  g_free (self->path);

  G_OBJECT_CLASS (em_dbus_task_object_parent_class)->finalize (object);
}

static void
em_dbus_task_object_class_init (EmDbusTaskObjectClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->dispose = em_dbus_task_object_dispose;
  object_class->finalize = em_dbus_task_object_finalize;
}

static void
em_dbus_task_object_init (EmDbusTaskObject *self)
{
}

EmDbusTaskObject *
em_dbus_task_object_new (EmEngineManager    *manager,
                         EmTask             *task,
                         EmDbusSenderLimits *limits)
{
  EmDbusTaskObject *self;

  g_return_val_if_fail (EM_IS_ENGINE_MANAGER (manager), NULL);
  g_return_val_if_fail (EM_IS_TASK (task), NULL);
  g_return_val_if_fail (EM_IS_DBUS_SENDER_LIMITS (limits), NULL);

  self = g_object_new (EM_TYPE_DBUS_TASK_OBJECT, NULL);
  self->manager = g_object_ref (manager);
  self->task = g_object_ref (task);
  self->limits = g_object_ref (limits);
  self->path = em_dbus_task_path (em_task_get_id (task));
  self->object = em_dbus_object_skeleton_new (self->path);
  self->iface = em_dbus_task1_skeleton_new ();
  sync_all (self);

  /* nobody is connected yet: the values set above go out with InterfacesAdded,
   * not as a PropertiesChanged */
  g_dbus_interface_skeleton_flush (G_DBUS_INTERFACE_SKELETON (self->iface));
  em_dbus_object_skeleton_set_task1 (self->object, self->iface);

  g_signal_connect (self->iface, "handle-cancel", G_CALLBACK (handle_cancel_cb), self);
  /* the generated setters notify only when a value really changed */
  g_signal_connect (self->iface, "notify", G_CALLBACK (iface_notify_cb), self);
  for (guint i = 0; i < G_N_ELEMENTS (watched); i++)
    {
      g_autofree char *signal = g_strconcat ("notify::", watched[i].property, NULL);

      g_signal_connect (task, signal, G_CALLBACK (task_notify_cb), self);
    }

  return self;
}

EmTask *
em_dbus_task_object_get_task (EmDbusTaskObject *self)
{
  g_return_val_if_fail (EM_IS_DBUS_TASK_OBJECT (self), NULL);

  return self->task;
}

const char *
em_dbus_task_object_get_path (EmDbusTaskObject *self)
{
  g_return_val_if_fail (EM_IS_DBUS_TASK_OBJECT (self), NULL);

  return self->path;
}

GDBusObjectSkeleton *
em_dbus_task_object_get_skeleton (EmDbusTaskObject *self)
{
  g_return_val_if_fail (EM_IS_DBUS_TASK_OBJECT (self), NULL);

  return G_DBUS_OBJECT_SKELETON (self->object);
}

void
em_dbus_task_object_flush (EmDbusTaskObject *self,
                           gdouble           progress)
{
  g_return_if_fail (EM_IS_DBUS_TASK_OBJECT (self));

  em_dbus_task1_set_progress (self->iface, progress);
  g_dbus_interface_skeleton_flush (G_DBUS_INTERFACE_SKELETON (self->iface));
}

gint64
em_dbus_task_object_get_expires_at (EmDbusTaskObject *self)
{
  g_return_val_if_fail (EM_IS_DBUS_TASK_OBJECT (self), 0);

  return self->expires_at;
}

void
em_dbus_task_object_set_expires_at (EmDbusTaskObject *self,
                                    gint64            expires_at)
{
  g_return_if_fail (EM_IS_DBUS_TASK_OBJECT (self));

  self->expires_at = expires_at;
}

guint64
em_dbus_task_object_get_serial (EmDbusTaskObject *self)
{
  g_return_val_if_fail (EM_IS_DBUS_TASK_OBJECT (self), 0);

  return self->serial;
}
