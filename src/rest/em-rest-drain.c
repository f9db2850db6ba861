#define G_LOG_DOMAIN "em-rest"

#include "config.h"

#include <glib/gi18n.h>

#include "rest/em-problem.h"
#include "rest/em-rest-drain.h"

struct _EmRestDrain
{
  GHashTable *in_progress;   /* SoupServerMessage, weakly: each leaves at its end
                              * → TRUE once its request has been read whole */
  gboolean    draining;
};

EmRestDrain *
em_rest_drain_new (void)
{
  EmRestDrain *self = g_new0 (EmRestDrain, 1);

  self->in_progress = g_hash_table_new (NULL, NULL);
  return self;
}

static void
message_gone_cb (gpointer user_data, GObject *where_the_object_was)
{
  EmRestDrain *self = user_data;

  g_hash_table_remove (self->in_progress, where_the_object_was);
}

void
em_rest_drain_free (EmRestDrain *self)
{
  GHashTableIter iter;
  gpointer msg;

  if (self == NULL)
    return;
  g_hash_table_iter_init (&iter, self->in_progress);
  while (g_hash_table_iter_next (&iter, &msg, NULL))
    g_object_weak_unref (msg, message_gone_cb, self);
  g_hash_table_unref (self->in_progress);
  g_free (self);
}

static void
close_after_answer (SoupServerMessage *msg)
{
  soup_message_headers_replace (soup_server_message_get_response_headers (msg),
                                "Connection", "close");
}

void
em_rest_drain_begun (EmRestDrain *self, SoupServerMessage *msg)
{
  /* weakly: a message libsoup lets go of without either signal (a WebSocket
   * upgrade) must not stay behind */
  if (g_hash_table_insert (self->in_progress, msg, GINT_TO_POINTER (FALSE)))
    g_object_weak_ref (G_OBJECT (msg), message_gone_cb, self);
  if (self->draining)
    close_after_answer (msg);
}

void
em_rest_drain_read (EmRestDrain *self, SoupServerMessage *msg)
{
  if (g_hash_table_contains (self->in_progress, msg))
    g_hash_table_insert (self->in_progress, msg, GINT_TO_POINTER (TRUE));
}

void
em_rest_drain_ended (EmRestDrain *self, SoupServerMessage *msg)
{
  if (g_hash_table_remove (self->in_progress, msg))
    g_object_weak_unref (G_OBJECT (msg), message_gone_cb, self);
}

void
em_rest_drain_start (EmRestDrain           *self,
                     EmRestDrainRefuseFunc  refuse_unread,
                     gpointer               user_data)
{
  g_autoptr(GPtrArray) unread = g_ptr_array_new_with_free_func (g_object_unref);
  GHashTableIter iter;
  gpointer msg, read;

  self->draining = TRUE;
  /* an answer whose head is already out keeps its connection; the stop's
   * disconnect closes it once the rest are answered */
  g_hash_table_iter_init (&iter, self->in_progress);
  while (g_hash_table_iter_next (&iter, &msg, &read))
    {
      guint status = soup_server_message_get_status (msg);

      /* a WebSocket upgrade answered but not yet written: "close" would
       * replace its "Connection: Upgrade", and the client fail the
       * handshake; the stop closes the stream with a close frame instead */
      if (status == SOUP_STATUS_SWITCHING_PROTOCOLS)
        continue;
      close_after_answer (msg);
      /* its body would only be refused once it came, and a client that
       * never sends it would hold the stop for the whole grace time */
      if (!GPOINTER_TO_INT (read) && status == 0)
        g_ptr_array_add (unread, g_object_ref (msg));
    }
  /* apart: answering one may end it, and take it out of the table */
  for (guint i = 0; i < unread->len; i++)
    refuse_unread (g_ptr_array_index (unread, i), user_data);
}

gboolean
em_rest_drain_refuse (EmRestDrain *self, SoupServerMessage *msg)
{
  if (!self->draining)
    return FALSE;
  em_problem_respond (msg, 503, NULL, _("The service is shutting down"));
  close_after_answer (msg);
  return TRUE;
}

gboolean
em_rest_drain_is_answering (EmRestDrain *self)
{
  return g_hash_table_size (self->in_progress) > 0;
}
