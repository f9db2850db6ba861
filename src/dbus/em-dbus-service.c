#define G_LOG_DOMAIN "em-dbus"

#include "config.h"

#include <glib/gi18n.h>

#include "engine/em-error.h"
#include "dbus/em-dbus-manager-adapter.h"
#include "dbus/em-dbus-service.h"
#include "dbus/em-dbus-util.h"

struct _EmDbusService
{
  GObject parent_instance;

  EmDbusManagerAdapter *adapter;
  GDBusConnection *connection;
  /* the connection it served on, kept past the stop for the last flush */
  GDBusConnection *served;
  gboolean flushing;
  guint owner_id;
  GTask *start_task; /* until the name is acquired or refused */
  gboolean name_acquired;
};

G_DEFINE_FINAL_TYPE (EmDbusService, em_dbus_service, G_TYPE_OBJECT)

enum {
  SIGNAL_NAME_LOST,
  N_SIGNALS
};

static guint signals[N_SIGNALS];

enum {
  PROP_0,
  PROP_MAX_CALLS_PER_SENDER,
  N_PROPS
};

static GParamSpec *properties[N_PROPS];

static void
name_acquired_cb (GDBusConnection *connection,
                  const char      *name,
                  gpointer         user_data)
{
  EmDbusService *self = EM_DBUS_SERVICE (user_data);
  g_autoptr(GTask) task = g_steal_pointer (&self->start_task);

  g_debug ("owning %s", name);
  self->name_acquired = TRUE;
  if (task != NULL)
    g_task_return_boolean (task, TRUE);
}

static gboolean
unown_idle_cb (gpointer user_data)
{
  g_bus_unown_name (GPOINTER_TO_UINT (user_data));
  return G_SOURCE_REMOVE;
}

static void
name_lost_cb (GDBusConnection *connection,
              const char      *name,
              gpointer         user_data)
{
  EmDbusService *self = EM_DBUS_SERVICE (user_data);
  g_autoptr(GTask) task = g_steal_pointer (&self->start_task);

  if (task != NULL)
    {
      /* never had it: with DO_NOT_QUEUE this means another owner. GLib
       * (2.74) marks a refused name as not to release only after this
       * handler returns; unowning now would release a name never owned and
       * warn "Unexpected reply 3", so the unown waits for the loop */
      g_idle_add_full (G_PRIORITY_HIGH, unown_idle_cb,
                       GUINT_TO_POINTER (self->owner_id), NULL);
      self->owner_id = 0;
      em_dbus_service_stop (self);
      if (connection == NULL || g_dbus_connection_is_closed (connection))
        g_task_return_new_error (task, EM_ERROR, EM_ERROR_UNAVAILABLE,
                                 _("The connection to the session bus closed before "
                                   "%s could be owned"), name);
      else
        g_task_return_new_error (task, EM_ERROR, EM_ERROR_CONFLICT,
                                 _("The name %s is already owned on the session bus; "
                                   "is another engine-manager running?"), name);
      return;
    }

  if (!self->name_acquired)
    return;

  g_message (_("Lost the name %s on the session bus"), name);
  self->name_acquired = FALSE;
  g_signal_emit (self, signals[SIGNAL_NAME_LOST], 0);
}

static void
bus_get_cb (GObject      *source,
            GAsyncResult *result,
            gpointer      user_data)
{
  g_autoptr(GTask) task = G_TASK (user_data);
  EmDbusService *self = g_task_get_source_object (task);
  g_autoptr(GError) error = NULL;
  g_autoptr(GDBusConnection) connection = g_bus_get_finish (result, &error);

  if (connection == NULL)
    {
      if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        g_task_return_error (task, g_steal_pointer (&error));
      else
        g_task_return_new_error (task, EM_ERROR, EM_ERROR_UNAVAILABLE,
                                 _("No D-Bus session bus is reachable (%s). Run with "
                                   "--bus none to go without D-Bus, or start the service "
                                   "under dbus-run-session."),
                                 error->message);
      return;
    }

  if (g_task_return_error_if_cancelled (task))
    return;

  /* the daemon decides what a lost bus means (name-lost), not GDBus's SIGTERM */
  g_dbus_connection_set_exit_on_close (connection, FALSE);
  g_set_object (&self->served, connection);
  self->connection = g_steal_pointer (&connection);

  /* objects first, name second: a client activated by the name must find them */
  if (!em_dbus_manager_adapter_export (self->adapter, self->connection, &error))
    {
      g_clear_object (&self->connection);
      g_task_return_error (task, g_steal_pointer (&error));
      return;
    }

  self->start_task = g_steal_pointer (&task);
  self->owner_id = g_bus_own_name_on_connection (self->connection, EM_DBUS_NAME,
                                                 G_BUS_NAME_OWNER_FLAGS_DO_NOT_QUEUE,
                                                 name_acquired_cb, name_lost_cb,
                                                 self, NULL);
}

static void
em_dbus_service_dispose (GObject *object)
{
  EmDbusService *self = EM_DBUS_SERVICE (object);

  em_dbus_service_stop (self);
  g_clear_object (&self->adapter);
  g_clear_object (&self->served);

  G_OBJECT_CLASS (em_dbus_service_parent_class)->dispose (object);
}

/* the limit lives in the adapter's sender table; the service only forwards it */
static void
em_dbus_service_get_property (GObject    *object,
                              guint       prop_id,
                              GValue     *value,
                              GParamSpec *pspec)
{
  EmDbusService *self = EM_DBUS_SERVICE (object);

  switch (prop_id)
    {
    case PROP_MAX_CALLS_PER_SENDER:
      g_object_get_property (G_OBJECT (em_dbus_manager_adapter_get_sender_limits (self->adapter)),
                             "max-per-sender", value);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
em_dbus_service_set_property (GObject      *object,
                              guint         prop_id,
                              const GValue *value,
                              GParamSpec   *pspec)
{
  EmDbusService *self = EM_DBUS_SERVICE (object);

  switch (prop_id)
    {
    case PROP_MAX_CALLS_PER_SENDER:
      g_object_set_property (G_OBJECT (em_dbus_manager_adapter_get_sender_limits (self->adapter)),
                             "max-per-sender", value);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
em_dbus_service_class_init (EmDbusServiceClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->dispose = em_dbus_service_dispose;
  object_class->get_property = em_dbus_service_get_property;
  object_class->set_property = em_dbus_service_set_property;

  /**
   * EmDbusService:max-calls-per-sender:
   *
   * How many method calls that reply later (ScheduleTask, ListTasks, …) one
   * bus client may have in flight; beyond it calls fail with Unavailable.
   */
  properties[PROP_MAX_CALLS_PER_SENDER] =
    g_param_spec_uint ("max-calls-per-sender", NULL, NULL, 1, G_MAXUINT,
                       EM_DBUS_DEFAULT_MAX_CALLS_PER_SENDER,
                       G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS);
  g_object_class_install_properties (object_class, N_PROPS, properties);

  /**
   * EmDbusService::name-lost:
   *
   * The well-known name was lost after it had been acquired, e.g. because the
   * bus went away. The service is still exported but unreachable by name.
   */
  signals[SIGNAL_NAME_LOST] =
    g_signal_new ("name-lost", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0,
                  NULL, NULL, NULL, G_TYPE_NONE, 0);
}

static void
em_dbus_service_init (EmDbusService *self)
{
}

EmDbusService *
em_dbus_service_new (EmEngineManager *manager,
                     const char      *http_address)
{
  EmDbusService *self;

  g_return_val_if_fail (EM_IS_ENGINE_MANAGER (manager), NULL);

  self = g_object_new (EM_TYPE_DBUS_SERVICE, NULL);
  self->adapter = em_dbus_manager_adapter_new (manager, http_address);

  return self;
}

void
em_dbus_service_start_async (EmDbusService       *self,
                             GCancellable        *cancellable,
                             GAsyncReadyCallback  callback,
                             gpointer             user_data)
{
  g_autoptr(GTask) task = NULL;

  g_return_if_fail (EM_IS_DBUS_SERVICE (self));
  g_return_if_fail (cancellable == NULL || G_IS_CANCELLABLE (cancellable));

  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, em_dbus_service_start_async);

  if (self->connection != NULL || self->start_task != NULL)
    {
      g_task_return_new_error (task, EM_ERROR, EM_ERROR_CONFLICT,
                               _("The D-Bus service is already started"));
      return;
    }

  g_bus_get (G_BUS_TYPE_SESSION, cancellable, bus_get_cb, g_steal_pointer (&task));
}

gboolean
em_dbus_service_start_finish (EmDbusService  *self,
                              GAsyncResult   *result,
                              GError        **error)
{
  g_return_val_if_fail (EM_IS_DBUS_SERVICE (self), FALSE);
  g_return_val_if_fail (g_task_is_valid (result, self), FALSE);
  g_return_val_if_fail (g_task_get_source_tag (G_TASK (result)) == em_dbus_service_start_async, FALSE);

  return g_task_propagate_boolean (G_TASK (result), error);
}

void
em_dbus_service_stop (EmDbusService *self)
{
  g_autoptr(GTask) task = NULL;

  g_return_if_fail (EM_IS_DBUS_SERVICE (self));

  g_clear_handle_id (&self->owner_id, g_bus_unown_name);
  self->name_acquired = FALSE;
  if (self->adapter != NULL)
    em_dbus_manager_adapter_unexport (self->adapter);
  g_clear_object (&self->connection);

  /* a start still waiting for the name will never hear back now */
  task = g_steal_pointer (&self->start_task);
  if (task != NULL)
    g_task_return_new_error (task, G_IO_ERROR, G_IO_ERROR_CANCELLED,
                             _("The D-Bus service was stopped"));
}

gboolean
em_dbus_service_is_answering (EmDbusService *self)
{
  EmDbusSenderLimits *limits;

  g_return_val_if_fail (EM_IS_DBUS_SERVICE (self), FALSE);

  /* every such call holds a ticket until its reply is on the connection; a
   * listing stops counting against its sender just before, which is not
   * enough for the flush that follows */
  limits = em_dbus_manager_adapter_get_sender_limits (self->adapter);
  return em_dbus_sender_limits_get_unsent (limits) > 0;
}

/* the weak reference: a flush the bus never completes must not keep the
 * service, and with it the engine, past the stop */
static void
flushed_cb (GObject      *source,
            GAsyncResult *result,
            gpointer      user_data)
{
  GWeakRef *ref = user_data;
  g_autoptr(EmDbusService) self = g_weak_ref_get (ref);
  g_autoptr(GError) error = NULL;

  if (!g_dbus_connection_flush_finish (G_DBUS_CONNECTION (source), result, &error))
    g_debug ("could not flush the bus connection: %s", error->message);
  if (self != NULL)
    self->flushing = FALSE;
  g_weak_ref_clear (ref);
  g_free (ref);
}

void
em_dbus_service_flush (EmDbusService *self)
{
  GWeakRef *ref;

  g_return_if_fail (EM_IS_DBUS_SERVICE (self));

  if (self->served == NULL || self->flushing)
    return;
  self->flushing = TRUE;
  ref = g_new0 (GWeakRef, 1);
  g_weak_ref_init (ref, self);
  g_dbus_connection_flush (self->served, NULL, flushed_cb, ref);
}

gboolean
em_dbus_service_is_flushing (EmDbusService *self)
{
  g_return_val_if_fail (EM_IS_DBUS_SERVICE (self), FALSE);

  return self->flushing;
}
