#define G_LOG_DOMAIN "em-dbus"

#include "config.h"

#include <glib/gi18n.h>

#include "engine/em-error.h"
#include "dbus/em-dbus-sender-limits.h"

struct _EmDbusSenderLimits
{
  GObject parent_instance;

  GMutex        lock;       /* a reply may be sent from a worker thread */
  GHashTable   *in_flight;  /* under lock: unique name → GPtrArray of its Tickets, never empty */
  guint         max_per_sender;
  GMainContext *context;    /* where "senders" is notified */
  gint          unsent;     /* atomic: admitted calls whose reply is not yet on the connection */
  GDBusConnection *connection;
  guint         owner_changed; /* NameOwnerChanged subscription: senders leaving */
};

G_DEFINE_FINAL_TYPE (EmDbusSenderLimits, em_dbus_sender_limits, G_TYPE_OBJECT)

enum {
  PROP_0,
  PROP_MAX_PER_SENDER,
  PROP_SENDERS,
  N_PROPS
};

static GParamSpec *properties[N_PROPS];

#define TICKET_KEY "em-dbus-sender-ticket"

/* attached to an admitted invocation: the reply consumes the last reference,
 * so its release covers every way of answering, success or error. It may
 * stop counting against its sender earlier (em_dbus_sender_limits_release()),
 * but counts as unsent until then */
typedef struct {
  EmDbusSenderLimits *limits;
  char *sender; /* NULL once released from its sender's count */
  /* goes off when the sender leaves the bus while the call counts, or with
   * the cancellable em_dbus_sender_limits_watch() chained it to */
  GCancellable *gone;
  GCancellable *chained;
  gulong chained_handler;
} Ticket;

static gboolean
notify_senders_cb (gpointer user_data)
{
  g_object_notify_by_pspec (G_OBJECT (user_data), properties[PROP_SENDERS]);
  return G_SOURCE_REMOVE;
}

/* at once on the loop, from an idle there when a worker released */
static void
notify_senders (EmDbusSenderLimits *self)
{
  g_main_context_invoke_full (self->context, G_PRIORITY_DEFAULT, notify_senders_cb,
                              g_object_ref (self), g_object_unref);
}

/* any thread */
static void
ticket_release (Ticket *ticket)
{
  EmDbusSenderLimits *self = ticket->limits;
  g_autofree char *sender = NULL;
  gboolean emptied = FALSE;
  GPtrArray *tickets;

  g_mutex_lock (&self->lock);
  sender = g_steal_pointer (&ticket->sender);
  if (sender == NULL)
    {
      g_mutex_unlock (&self->lock);
      return;
    }
  tickets = g_hash_table_lookup (self->in_flight, sender);
  if (tickets != NULL)
    g_ptr_array_remove_fast (tickets, ticket);
  /* an empty entry is dropped, so a vanished client leaves nothing behind */
  if (tickets != NULL && tickets->len == 0)
    emptied = g_hash_table_remove (self->in_flight, sender);
  g_mutex_unlock (&self->lock);
  if (emptied)
    notify_senders (self);
}

/* any thread: the invocation is gone, so its reply, if any, was sent */
static void
ticket_free (gpointer data)
{
  Ticket *ticket = data;

  ticket_release (ticket);
  if (ticket->chained_handler != 0)
    g_cancellable_disconnect (ticket->chained, ticket->chained_handler);
  g_clear_object (&ticket->chained);
  g_clear_object (&ticket->gone);
  g_atomic_int_dec_and_test (&ticket->limits->unsent);
  g_object_unref (ticket->limits);
  g_free (ticket);
}

static void
em_dbus_sender_limits_finalize (GObject *object)
{
  EmDbusSenderLimits *self = EM_DBUS_SENDER_LIMITS (object);

  em_dbus_sender_limits_set_connection (self, NULL);
  g_hash_table_unref (self->in_flight);
  g_mutex_clear (&self->lock);
  g_main_context_unref (self->context);

  G_OBJECT_CLASS (em_dbus_sender_limits_parent_class)->finalize (object);
}

static void
em_dbus_sender_limits_get_property (GObject    *object,
                                    guint       prop_id,
                                    GValue     *value,
                                    GParamSpec *pspec)
{
  EmDbusSenderLimits *self = EM_DBUS_SENDER_LIMITS (object);

  switch (prop_id)
    {
    case PROP_MAX_PER_SENDER:
      g_value_set_uint (value, self->max_per_sender);
      break;
    case PROP_SENDERS:
      g_value_set_uint (value, em_dbus_sender_limits_get_senders (self));
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
em_dbus_sender_limits_set_property (GObject      *object,
                                    guint         prop_id,
                                    const GValue *value,
                                    GParamSpec   *pspec)
{
  EmDbusSenderLimits *self = EM_DBUS_SENDER_LIMITS (object);

  switch (prop_id)
    {
    case PROP_MAX_PER_SENDER:
      self->max_per_sender = g_value_get_uint (value);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
em_dbus_sender_limits_class_init (EmDbusSenderLimitsClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->finalize = em_dbus_sender_limits_finalize;
  object_class->get_property = em_dbus_sender_limits_get_property;
  object_class->set_property = em_dbus_sender_limits_set_property;

  properties[PROP_MAX_PER_SENDER] =
    g_param_spec_uint ("max-per-sender", NULL, NULL, 1, G_MAXUINT,
                       EM_DBUS_DEFAULT_MAX_CALLS_PER_SENDER,
                       G_PARAM_READWRITE | G_PARAM_CONSTRUCT | G_PARAM_EXPLICIT_NOTIFY |
                       G_PARAM_STATIC_STRINGS);
  properties[PROP_SENDERS] =
    g_param_spec_uint ("senders", NULL, NULL, 0, G_MAXUINT, 0,
                       G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);
  g_object_class_install_properties (object_class, N_PROPS, properties);
}

static void
em_dbus_sender_limits_init (EmDbusSenderLimits *self)
{
  g_mutex_init (&self->lock);
  self->in_flight = g_hash_table_new_full (g_str_hash, g_str_equal, g_free,
                                           (GDestroyNotify) g_ptr_array_unref);
  self->context = g_main_context_ref_thread_default ();
}

EmDbusSenderLimits *
em_dbus_sender_limits_new (void)
{
  return g_object_new (EM_TYPE_DBUS_SENDER_LIMITS, NULL);
}

/* the ticket for a call from @sender, or NULL with @refusal set beyond the limit */
static Ticket *
take_ticket (EmDbusSenderLimits  *self,
             const char          *sender,
             GError             **refusal)
{
  GPtrArray *tickets;
  guint count;
  Ticket *ticket = NULL;

  g_mutex_lock (&self->lock);
  tickets = g_hash_table_lookup (self->in_flight, sender);
  count = tickets != NULL ? tickets->len : 0;
  if (count < self->max_per_sender)
    {
      if (tickets == NULL)
        {
          tickets = g_ptr_array_new ();
          g_hash_table_insert (self->in_flight, g_strdup (sender), tickets);
        }
      ticket = g_new0 (Ticket, 1);
      ticket->limits = g_object_ref (self);
      ticket->sender = g_strdup (sender);
      ticket->gone = g_cancellable_new ();
      g_ptr_array_add (tickets, ticket);
    }
  g_mutex_unlock (&self->lock);
  if (count >= self->max_per_sender)
    {
      g_set_error (refusal, EM_ERROR, EM_ERROR_UNAVAILABLE,
                   _("Too many calls in flight from %s (limit %u); wait for their replies"),
                   sender, self->max_per_sender);
      return NULL;
    }

  g_atomic_int_inc (&self->unsent);
  if (count == 0)
    g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_SENDERS]);
  return ticket;
}

gboolean
em_dbus_sender_limits_admit (EmDbusSenderLimits    *self,
                             GDBusMethodInvocation *invocation)
{
  g_autoptr(GError) refusal = NULL;
  const char *sender;
  Ticket *ticket;

  g_return_val_if_fail (EM_IS_DBUS_SENDER_LIMITS (self), FALSE);
  g_return_val_if_fail (G_IS_DBUS_METHOD_INVOCATION (invocation), FALSE);

  /* a peer-to-peer connection has no sender: nothing to tell clients apart by */
  sender = g_dbus_method_invocation_get_sender (invocation);
  if (sender == NULL)
    return TRUE;

  ticket = take_ticket (self, sender, &refusal);
  if (ticket == NULL)
    {
      g_dbus_method_invocation_return_gerror (invocation, refusal);
      return FALSE;
    }
  g_object_set_data_full (G_OBJECT (invocation), TICKET_KEY, ticket, ticket_free);
  return TRUE;
}

gboolean
em_dbus_sender_limits_admit_message (EmDbusSenderLimits *self,
                                     GDBusConnection    *connection,
                                     GDBusMessage       *call)
{
  g_autoptr(GError) refusal = NULL;
  g_autoptr(GDBusMessage) reply = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *name = NULL;
  const char *sender;
  Ticket *ticket;

  g_return_val_if_fail (EM_IS_DBUS_SENDER_LIMITS (self), FALSE);
  g_return_val_if_fail (G_IS_DBUS_CONNECTION (connection), FALSE);
  g_return_val_if_fail (G_IS_DBUS_MESSAGE (call), FALSE);

  sender = g_dbus_message_get_sender (call);
  if (sender == NULL)
    return TRUE;

  ticket = take_ticket (self, sender, &refusal);
  if (ticket != NULL)
    {
      g_object_set_data_full (G_OBJECT (call), TICKET_KEY, ticket, ticket_free);
      return TRUE;
    }

  name = g_dbus_error_encode_gerror (refusal);
  reply = g_dbus_message_new_method_error_literal (call, name, refusal->message);
  /* a caller gone meanwhile: the bus drops the reply */
  if (!g_dbus_connection_send_message (connection, reply, G_DBUS_SEND_MESSAGE_FLAGS_NONE,
                                       NULL, &error))
    g_debug ("could not refuse a call: %s", error->message);
  return FALSE;
}

void
em_dbus_sender_limits_release (GDBusMethodInvocation *invocation)
{
  Ticket *ticket;

  g_return_if_fail (G_IS_DBUS_METHOD_INVOCATION (invocation));

  /* the ticket stays: the reply is still to be sent */
  ticket = g_object_get_data (G_OBJECT (invocation), TICKET_KEY);
  if (ticket != NULL)
    ticket_release (ticket);
}

guint
em_dbus_sender_limits_get_senders (EmDbusSenderLimits *self)
{
  guint senders;

  g_return_val_if_fail (EM_IS_DBUS_SENDER_LIMITS (self), 0);

  g_mutex_lock (&self->lock);
  senders = g_hash_table_size (self->in_flight);
  g_mutex_unlock (&self->lock);
  return senders;
}

guint
em_dbus_sender_limits_get_unsent (EmDbusSenderLimits *self)
{
  g_return_val_if_fail (EM_IS_DBUS_SENDER_LIMITS (self), 0);

  return (guint) g_atomic_int_get (&self->unsent);
}

/* on the loop: a unique name without a new owner is a client that left */
static void
name_owner_changed_cb (GDBusConnection *connection,
                       const char      *sender_name,
                       const char      *object_path,
                       const char      *interface_name,
                       const char      *signal_name,
                       GVariant        *parameters,
                       gpointer         user_data)
{
  EmDbusSenderLimits *self = user_data;
  g_autoptr(GPtrArray) gone = g_ptr_array_new_with_free_func (g_object_unref);
  const char *name, *old_owner, *new_owner;
  GPtrArray *tickets;

  if (!g_variant_is_of_type (parameters, G_VARIANT_TYPE ("(sss)")))
    return;
  g_variant_get (parameters, "(&s&s&s)", &name, &old_owner, &new_owner);
  if (name[0] != ':' || *new_owner != '\0')
    return;

  g_mutex_lock (&self->lock);
  tickets = g_hash_table_lookup (self->in_flight, name);
  for (guint i = 0; tickets != NULL && i < tickets->len; i++)
    g_ptr_array_add (gone, g_object_ref (((Ticket *) g_ptr_array_index (tickets, i))->gone));
  g_mutex_unlock (&self->lock);

  /* outside the lock: a cancelled handler may answer, and so release */
  if (gone->len > 0)
    g_debug ("%s left the bus with %u calls in flight; stopping them", name, gone->len);
  for (guint i = 0; i < gone->len; i++)
    g_cancellable_cancel (g_ptr_array_index (gone, i));
}

void
em_dbus_sender_limits_set_connection (EmDbusSenderLimits *self,
                                      GDBusConnection    *connection)
{
  g_return_if_fail (EM_IS_DBUS_SENDER_LIMITS (self));
  g_return_if_fail (connection == NULL || G_IS_DBUS_CONNECTION (connection));

  if (self->connection == connection)
    return;
  if (self->owner_changed != 0)
    g_dbus_connection_signal_unsubscribe (self->connection, self->owner_changed);
  self->owner_changed = 0;
  g_clear_object (&self->connection);
  if (connection == NULL)
    return;

  self->connection = g_object_ref (connection);
  /* a peer-to-peer connection has no bus to tell; its calls have no sender */
  if (g_dbus_connection_get_unique_name (connection) != NULL)
    self->owner_changed =
      g_dbus_connection_signal_subscribe (connection, "org.freedesktop.DBus",
                                          "org.freedesktop.DBus", "NameOwnerChanged",
                                          "/org/freedesktop/DBus", NULL,
                                          G_DBUS_SIGNAL_FLAGS_NONE, name_owner_changed_cb,
                                          g_object_ref (self), g_object_unref);
}

static void
chained_cancelled_cb (GCancellable *chained,
                      gpointer      user_data)
{
  g_cancellable_cancel (G_CANCELLABLE (user_data));
}

GCancellable *
em_dbus_sender_limits_watch (GDBusMethodInvocation *invocation,
                             GCancellable          *also)
{
  Ticket *ticket;

  g_return_val_if_fail (G_IS_DBUS_METHOD_INVOCATION (invocation), NULL);
  g_return_val_if_fail (also == NULL || G_IS_CANCELLABLE (also), NULL);

  ticket = g_object_get_data (G_OBJECT (invocation), TICKET_KEY);
  if (ticket == NULL)
    return also != NULL ? g_object_ref (also) : g_cancellable_new ();

  g_return_val_if_fail (ticket->chained == NULL, g_object_ref (ticket->gone));
  if (also != NULL)
    {
      ticket->chained = g_object_ref (also);
      ticket->chained_handler = g_cancellable_connect (also, G_CALLBACK (chained_cancelled_cb),
                                                       g_object_ref (ticket->gone),
                                                       g_object_unref);
    }
  return g_object_ref (ticket->gone);
}

gboolean
em_dbus_sender_limits_caller_left (GObject *call)
{
  Ticket *ticket;

  g_return_val_if_fail (G_IS_OBJECT (call), FALSE);

  ticket = g_object_get_data (call, TICKET_KEY);
  return ticket != NULL && g_cancellable_is_cancelled (ticket->gone);
}
