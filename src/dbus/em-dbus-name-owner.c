#define G_LOG_DOMAIN "em-dbus"

#include "config.h"

#include "engine/em-error.h"
#include "dbus/em-dbus-name-owner.h"

#define BUS_NAME  "org.freedesktop.DBus"
#define BUS_PATH  "/org/freedesktop/DBus"
#define BUS_IFACE "org.freedesktop.DBus"

/* RequestName's flag and answers (D-Bus specification) */
#define REQUEST_NAME_DO_NOT_QUEUE   4
#define REQUEST_NAME_PRIMARY_OWNER  1
#define REQUEST_NAME_ALREADY_OWNER  4

typedef enum {
  STATE_IDLE,
  STATE_REQUESTING,
  STATE_OWNED,
  STATE_LOST,
  STATE_RELEASED,
} State;

struct _EmDbusNameOwner
{
  GObject parent_instance;

  GDBusConnection *connection;
  char *name;
  State state;
  guint lost_subscription;
  gulong closed_handler;
};

G_DEFINE_FINAL_TYPE (EmDbusNameOwner, em_dbus_name_owner, G_TYPE_OBJECT)

enum {
  SIGNAL_LOST,
  N_SIGNALS
};

static guint signals[N_SIGNALS];

static void
stop_watching (EmDbusNameOwner *self)
{
  if (self->lost_subscription != 0)
    g_dbus_connection_signal_unsubscribe (self->connection, self->lost_subscription);
  self->lost_subscription = 0;
  g_clear_signal_handler (&self->closed_handler, self->connection);
}

static void
lose (EmDbusNameOwner *self)
{
  if (self->state != STATE_OWNED)
    return;
  self->state = STATE_LOST;
  stop_watching (self);
  g_signal_emit (self, signals[SIGNAL_LOST], 0);
}

static void
name_lost_cb (GDBusConnection *connection,
              const char      *sender,
              const char      *path,
              const char      *interface,
              const char      *member,
              GVariant        *parameters,
              gpointer         user_data)
{
  lose (EM_DBUS_NAME_OWNER (user_data));
}

static void
closed_cb (GDBusConnection *connection,
           gboolean         remote_peer_vanished,
           GError          *error,
           gpointer         user_data)
{
  lose (EM_DBUS_NAME_OWNER (user_data));
}

/* no callback: the message goes out flagged as expecting no reply, so nothing
 * waits for the bus; closing the connection would release the name too */
static void
send_release (EmDbusNameOwner *self)
{
  if (g_dbus_connection_is_closed (self->connection))
    return;
  g_dbus_connection_call (self->connection, BUS_NAME, BUS_PATH, BUS_IFACE, "ReleaseName",
                          g_variant_new ("(s)", self->name), NULL, G_DBUS_CALL_FLAGS_NONE,
                          -1, NULL, NULL, NULL);
}

static void
request_name_cb (GObject      *source,
                 GAsyncResult *result,
                 gpointer      user_data)
{
  g_autoptr(GTask) task = user_data;
  EmDbusNameOwner *self = g_task_get_source_object (task);
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) reply = NULL;
  guint32 answer = 0;

  reply = g_dbus_connection_call_finish (G_DBUS_CONNECTION (source), result, &error);
  if (reply != NULL)
    g_variant_get (reply, "(u)", &answer);
  if (answer == REQUEST_NAME_PRIMARY_OWNER || answer == REQUEST_NAME_ALREADY_OWNER)
    {
      /* released while the bus decided */
      if (self->state == STATE_RELEASED)
        {
          send_release (self);
          g_task_return_new_error (task, G_IO_ERROR, G_IO_ERROR_CANCELLED,
                                   "The name was released while it was requested");
          return;
        }
      self->state = STATE_OWNED;
      /* the connection may have closed since the bus answered */
      if (g_dbus_connection_is_closed (self->connection))
        lose (self);
      g_task_return_boolean (task, TRUE);
      return;
    }

  if (self->state == STATE_REQUESTING)
    self->state = STATE_IDLE;
  stop_watching (self);
  if (reply == NULL)
    g_task_return_new_error (task, EM_ERROR, EM_ERROR_UNAVAILABLE, "%s", error->message);
  else
    g_task_return_new_error (task, EM_ERROR, EM_ERROR_CONFLICT,
                             "The name %s is owned by another connection", self->name);
}

void
em_dbus_name_owner_acquire_async (EmDbusNameOwner     *self,
                                  GAsyncReadyCallback  callback,
                                  gpointer             user_data)
{
  g_autoptr(GTask) task = NULL;

  g_return_if_fail (EM_IS_DBUS_NAME_OWNER (self));
  g_return_if_fail (self->state == STATE_IDLE);

  task = g_task_new (self, NULL, callback, user_data);
  g_task_set_source_tag (task, em_dbus_name_owner_acquire_async);
  self->state = STATE_REQUESTING;
  /* watched from before the request, so a loss right after it is seen */
  self->lost_subscription =
    g_dbus_connection_signal_subscribe (self->connection, BUS_NAME, BUS_IFACE, "NameLost",
                                        BUS_PATH, self->name, G_DBUS_SIGNAL_FLAGS_NONE,
                                        name_lost_cb, self, NULL);
  self->closed_handler = g_signal_connect (self->connection, "closed", G_CALLBACK (closed_cb),
                                           self);
  g_dbus_connection_call (self->connection, BUS_NAME, BUS_PATH, BUS_IFACE, "RequestName",
                          g_variant_new ("(su)", self->name, REQUEST_NAME_DO_NOT_QUEUE),
                          G_VARIANT_TYPE ("(u)"), G_DBUS_CALL_FLAGS_NONE, -1, NULL,
                          request_name_cb, g_steal_pointer (&task));
}

gboolean
em_dbus_name_owner_acquire_finish (EmDbusNameOwner  *self,
                                   GAsyncResult     *result,
                                   GError          **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), FALSE);

  return g_task_propagate_boolean (G_TASK (result), error);
}

void
em_dbus_name_owner_release (EmDbusNameOwner *self)
{
  g_return_if_fail (EM_IS_DBUS_NAME_OWNER (self));

  stop_watching (self);
  if (self->state == STATE_OWNED)
    send_release (self);
  self->state = STATE_RELEASED;
}

static void
em_dbus_name_owner_dispose (GObject *object)
{
  EmDbusNameOwner *self = EM_DBUS_NAME_OWNER (object);

  /* a pending request holds a reference: nothing is owned past here */
  if (self->connection != NULL)
    em_dbus_name_owner_release (self);
  g_clear_object (&self->connection);

  G_OBJECT_CLASS (em_dbus_name_owner_parent_class)->dispose (object);
}

static void
em_dbus_name_owner_finalize (GObject *object)
{
  EmDbusNameOwner *self = EM_DBUS_NAME_OWNER (object);

  g_free (self->name);

  G_OBJECT_CLASS (em_dbus_name_owner_parent_class)->finalize (object);
}

static void
em_dbus_name_owner_class_init (EmDbusNameOwnerClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->dispose = em_dbus_name_owner_dispose;
  object_class->finalize = em_dbus_name_owner_finalize;

  /**
   * EmDbusNameOwner::lost:
   *
   * The name, once acquired, is no longer this connection's.
   */
  signals[SIGNAL_LOST] =
    g_signal_new ("lost", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0,
                  NULL, NULL, NULL, G_TYPE_NONE, 0);
}

static void
em_dbus_name_owner_init (EmDbusNameOwner *self)
{
}

EmDbusNameOwner *
em_dbus_name_owner_new (GDBusConnection *connection,
                        const char      *name)
{
  EmDbusNameOwner *self;

  g_return_val_if_fail (G_IS_DBUS_CONNECTION (connection), NULL);
  g_return_val_if_fail (g_dbus_is_name (name), NULL);

  self = g_object_new (EM_TYPE_DBUS_NAME_OWNER, NULL);
  self->connection = g_object_ref (connection);
  self->name = g_strdup (name);
  return self;
}
