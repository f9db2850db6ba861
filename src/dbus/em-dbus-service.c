#define G_LOG_DOMAIN "em-dbus"

#include "config.h"

#include <glib/gi18n.h>

#include "engine/em-error.h"
#include "dbus/em-dbus-manager-adapter.h"
#include "dbus/em-dbus-name-owner.h"
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
  EmDbusNameOwner *owner;
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
name_lost_cb (EmDbusNameOwner *owner,
              EmDbusService   *self)
{
  if (!self->name_acquired)
    return;

  g_message (_("Lost the name %s on the session bus"), EM_DBUS_NAME);
  self->name_acquired = FALSE;
  g_signal_emit (self, signals[SIGNAL_NAME_LOST], 0);
}

/* the weak reference: a bus that never answers must not keep the service,
 * and with it the engine, past a stop */
static void
name_acquired_cb (GObject      *source,
                  GAsyncResult *result,
                  gpointer      user_data)
{
  GWeakRef *ref = user_data;
  g_autoptr(EmDbusService) self = g_weak_ref_get (ref);
  g_autoptr(GError) error = NULL;
  g_autoptr(GTask) task = NULL;
  gboolean acquired;

  g_weak_ref_clear (ref);
  g_free (ref);
  acquired = em_dbus_name_owner_acquire_finish (EM_DBUS_NAME_OWNER (source), result, &error);
  /* stopped meanwhile: the start has had its answer */
  if (self == NULL || self->owner != EM_DBUS_NAME_OWNER (source))
    return;

  task = g_steal_pointer (&self->start_task);
  if (acquired)
    {
      g_debug ("owning %s", EM_DBUS_NAME);
      self->name_acquired = TRUE;
      if (task != NULL)
        g_task_return_boolean (task, TRUE);
      return;
    }

  em_dbus_service_stop (self);
  if (task == NULL)
    return;
  if (g_error_matches (error, EM_ERROR, EM_ERROR_CONFLICT))
    g_task_return_new_error (task, EM_ERROR, EM_ERROR_CONFLICT,
                             _("The name %s is already owned on the session bus; "
                               "is another engine-manager running?"), EM_DBUS_NAME);
  else
    g_task_return_new_error (task, EM_ERROR, EM_ERROR_UNAVAILABLE,
                             _("The connection to the session bus closed before "
                               "%s could be owned"), EM_DBUS_NAME);
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
  GWeakRef *ref;

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
  self->owner = em_dbus_name_owner_new (self->connection, EM_DBUS_NAME);
  g_signal_connect (self->owner, "lost", G_CALLBACK (name_lost_cb), self);
  ref = g_new0 (GWeakRef, 1);
  g_weak_ref_init (ref, self);
  em_dbus_name_owner_acquire_async (self->owner, name_acquired_cb, ref);
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

  /* never waits for the bus's answer: a bus that stopped answering held
   * the stop's loop for 25 s in g_bus_unown_name() */
  if (self->owner != NULL)
    {
      g_signal_handlers_disconnect_by_data (self->owner, self);
      em_dbus_name_owner_release (self->owner);
      g_clear_object (&self->owner);
    }
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
