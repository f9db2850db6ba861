#define G_LOG_DOMAIN "em-dbus"

#include "config.h"

#include <glib/gi18n.h>

#include "engine/em-error.h"
#include "dbus/em-dbus-cancel.h"

typedef struct {
  GDBusMethodInvocation *invocation;
  char                  *id;
} Cancel;

static void
cancel_free (Cancel *cancel)
{
  g_clear_object (&cancel->invocation);
  g_free (cancel->id);
  g_free (cancel);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (Cancel, cancel_free)

static void
recorded_cb (GObject      *source,
             GAsyncResult *result,
             gpointer      user_data)
{
  g_autoptr(Cancel) cancel = user_data;
  g_autoptr(GError) error = NULL;

  if (em_engine_manager_sync_finish (EM_ENGINE_MANAGER (source), result, &error))
    g_dbus_method_invocation_return_value (g_steal_pointer (&cancel->invocation), NULL);
  else if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    g_dbus_method_invocation_return_error_literal (g_steal_pointer (&cancel->invocation),
                                                   EM_ERROR, EM_ERROR_UNAVAILABLE,
                                                   _("The service is shutting down"));
  else
    g_dbus_method_invocation_return_error (g_steal_pointer (&cancel->invocation),
                                           EM_ERROR, EM_ERROR_UNAVAILABLE,
                                           _("store: task “%s” is cancelled, but the cancellation could "
                                             "not be recorded and a restart may run it: %s"),
                                           cancel->id, error->message);
}

gboolean
em_dbus_cancel_task (EmEngineManager        *manager,
                     const char             *id,
                     GDBusMethodInvocation  *invocation,
                     GCancellable           *cancellable,
                     GError                **error)
{
  Cancel *cancel;

  if (!em_engine_manager_cancel_task (manager, id, error))
    return FALSE;

  /* an answered cancellation lost in a crash would run the task after the
   * restart */
  cancel = g_new0 (Cancel, 1);
  cancel->invocation = invocation;
  cancel->id = g_strdup (id);
  em_engine_manager_sync_async (manager, cancellable, recorded_cb, cancel);
  return TRUE;
}
