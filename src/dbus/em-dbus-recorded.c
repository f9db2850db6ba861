#define G_LOG_DOMAIN "em-dbus"

#include "config.h"

#include <glib/gi18n.h>

#include "engine/em-error.h"
#include "dbus/em-dbus-recorded.h"

typedef struct {
  GDBusMethodInvocation *invocation;
  char                  *task_id;   /* NULL for the queue */
} Change;

static void
change_free (Change *change)
{
  g_clear_object (&change->invocation);
  g_free (change->task_id);
  g_free (change);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (Change, change_free)

static void
recorded_cb (GObject      *source,
             GAsyncResult *result,
             gpointer      user_data)
{
  g_autoptr(Change) change = user_data;
  GDBusMethodInvocation *invocation = g_steal_pointer (&change->invocation);
  g_autoptr(GError) error = NULL;

  if (em_engine_manager_sync_finish (EM_ENGINE_MANAGER (source), result, &error))
    g_dbus_method_invocation_return_value (invocation, NULL);
  else if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    g_dbus_method_invocation_return_error_literal (invocation, EM_ERROR, EM_ERROR_UNAVAILABLE,
                                                   _("The service is shutting down"));
  else if (change->task_id != NULL)
    g_dbus_method_invocation_return_error (invocation, EM_ERROR, EM_ERROR_UNAVAILABLE,
                                           _("store: task “%s” is cancelled, but the cancellation could "
                                             "not be recorded and a restart may run it: %s"),
                                           change->task_id, error->message);
  else
    g_dbus_method_invocation_return_error (invocation, EM_ERROR, EM_ERROR_UNAVAILABLE,
                                           _("store: the queue's state could not be recorded "
                                             "and a restart may not keep it: %s"),
                                           error->message);
}

static void
return_once_recorded (EmEngineManager       *manager,
                      GDBusMethodInvocation *invocation,
                      const char            *task_id)
{
  Change *change = g_new0 (Change, 1);

  change->invocation = invocation;
  change->task_id = g_strdup (task_id);
  em_engine_manager_sync_async (manager, NULL, recorded_cb, change);
}

gboolean
em_dbus_cancel_task (EmEngineManager        *manager,
                     const char             *id,
                     GDBusMethodInvocation  *invocation,
                     GError                **error)
{
  if (!em_engine_manager_cancel_task (manager, id, error))
    return FALSE;
  return_once_recorded (manager, invocation, id);
  return TRUE;
}

void
em_dbus_set_paused (EmEngineManager       *manager,
                    gboolean               paused,
                    GDBusMethodInvocation *invocation)
{
  g_autoptr(GError) failure = NULL;

  /* once the store has failed the engine keeps a paused queue paused */
  if (!paused && em_engine_manager_get_paused (manager) &&
      !em_engine_manager_check_store (manager, &failure))
    {
      g_dbus_method_invocation_return_error (invocation, EM_ERROR, EM_ERROR_UNAVAILABLE,
                                             _("store: the queue stays paused until the service "
                                               "restarts: %s"), failure->message);
      return;
    }
  if (paused)
    em_engine_manager_pause (manager);
  else
    em_engine_manager_resume (manager);
  return_once_recorded (manager, invocation, NULL);
}
