#define G_LOG_DOMAIN "em-dbus"

#include "config.h"

#include <glib/gi18n.h>

#include "engine/em-error.h"
#include "dbus/em-dbus-sender-limits.h"

struct _EmDbusSenderLimits
{
  GObject parent_instance;

  GMutex        lock;       /* a reply may be sent from a worker thread */
  GHashTable   *in_flight;  /* under lock: unique name → count, never 0 */
  guint         max_per_sender;
  GMainContext *context;    /* where "senders" is notified */
  gint          unsent;     /* atomic: admitted calls whose reply is not yet on the connection */
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
  g_autofree char *sender = g_steal_pointer (&ticket->sender);
  gboolean emptied = FALSE;
  guint count;

  if (sender == NULL)
    return;

  g_mutex_lock (&self->lock);
  count = GPOINTER_TO_UINT (g_hash_table_lookup (self->in_flight, sender));
  /* an entry at 0 is dropped, so a vanished client leaves nothing behind */
  if (count > 1)
    g_hash_table_insert (self->in_flight, g_strdup (sender), GUINT_TO_POINTER (count - 1));
  else
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
  g_atomic_int_dec_and_test (&ticket->limits->unsent);
  g_object_unref (ticket->limits);
  g_free (ticket);
}

static void
em_dbus_sender_limits_finalize (GObject *object)
{
  EmDbusSenderLimits *self = EM_DBUS_SENDER_LIMITS (object);

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
  self->in_flight = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
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
  guint count;
  Ticket *ticket;

  g_mutex_lock (&self->lock);
  count = GPOINTER_TO_UINT (g_hash_table_lookup (self->in_flight, sender));
  if (count < self->max_per_sender)
    g_hash_table_insert (self->in_flight, g_strdup (sender), GUINT_TO_POINTER (count + 1));
  g_mutex_unlock (&self->lock);
  if (count >= self->max_per_sender)
    {
      g_set_error (refusal, EM_ERROR, EM_ERROR_UNAVAILABLE,
                   _("Too many calls in flight from %s (limit %u); wait for their replies"),
                   sender, self->max_per_sender);
      return NULL;
    }

  if (count == 0)
    g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_SENDERS]);

  ticket = g_new0 (Ticket, 1);
  ticket->limits = g_object_ref (self);
  ticket->sender = g_strdup (sender);
  g_atomic_int_inc (&self->unsent);
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
