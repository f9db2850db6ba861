#define G_LOG_DOMAIN "em-rest"

#include "config.h"

#include "rest/em-rest-async.h"

struct _EmRestAsync {
  SoupServerMessage *msg;
  gulong             finished_id;
  gulong             disconnected_id;
  gpointer           data;
  GDestroyNotify     data_free;
};

static void
forget_message (EmRestAsync *self)
{
  g_clear_signal_handler (&self->finished_id, self->msg);
  g_clear_signal_handler (&self->disconnected_id, self->msg);
  g_clear_object (&self->msg);
}

/* the client went away while the work ran, or the server dropped its
 * connection (at shutdown, which ends no paused message): nothing left to
 * answer, and nothing to unpause, which libsoup refuses without a connection */
static void
gone_cb (SoupServerMessage *msg,
         gpointer           user_data)
{
  forget_message (user_data);
}

EmRestAsync *
em_rest_async_begin (SoupServerMessage *msg,
                     gpointer           data,
                     GDestroyNotify     data_free)
{
  EmRestAsync *self = g_new0 (EmRestAsync, 1);

  self->msg = g_object_ref (msg);
  self->data = data;
  self->data_free = data_free;
  self->finished_id = g_signal_connect (msg, "finished", G_CALLBACK (gone_cb), self);
  self->disconnected_id = g_signal_connect (msg, "disconnected", G_CALLBACK (gone_cb), self);
  soup_server_message_pause (msg);
  return self;
}

SoupServerMessage *
em_rest_async_get_message (EmRestAsync *self)
{
  return self->msg;
}

gpointer
em_rest_async_get_data (EmRestAsync *self)
{
  return self->data;
}

SoupServerMessage *
em_rest_async_resume (EmRestAsync     *self,
                      EmRestI18nScope *scope)
{
  SoupServerMessage *msg = self->msg;

  if (msg == NULL)
    {
      em_rest_async_done (self);
      return NULL;
    }
  em_rest_i18n_scope_enter_for_message (scope, msg);
  return msg;
}

static void
async_free (EmRestAsync *self,
            gboolean     unpause)
{
  if (self->msg != NULL)
    {
      g_autoptr(SoupServerMessage) msg = g_object_ref (self->msg);

      forget_message (self);
      if (unpause)
        soup_server_message_unpause (msg);
    }
  if (self->data_free != NULL && self->data != NULL)
    self->data_free (self->data);
  g_free (self);
}

void
em_rest_async_done (EmRestAsync *self)
{
  async_free (self, TRUE);
}

void
em_rest_async_release (EmRestAsync *self)
{
  async_free (self, FALSE);
}
