#include "config.h"

#include "engine/em-rate-limit.h"

void
em_rate_limit_init (EmRateLimit     *self,
                    gint64           interval_us,
                    const char      *name,
                    EmRateLimitFunc  func,
                    gpointer         user_data)
{
  *self = (EmRateLimit) { interval_us, 0, 0, name, func, user_data };
}

static void
publish (EmRateLimit *self)
{
  self->last_us = g_get_monotonic_time ();
  self->func (self->user_data);
}

static gboolean
timeout_cb (gpointer user_data)
{
  EmRateLimit *self = user_data;

  self->source = 0;
  publish (self);
  return G_SOURCE_REMOVE;
}

void
em_rate_limit_poke (EmRateLimit *self)
{
  GSource *timer;
  gint64 wait_us;

  if (self->source != 0)
    return;
  wait_us = self->last_us + self->interval_us - g_get_monotonic_time ();
  if (wait_us <= 0)
    {
      publish (self);
      return;
    }
  timer = g_timeout_source_new (wait_us / 1000 + 1);
  g_source_set_callback (timer, timeout_cb, self, NULL);
  g_source_set_static_name (timer, self->name);
  self->source = g_source_attach (timer, NULL);
  g_source_unref (timer);
}

void
em_rate_limit_flush (EmRateLimit *self)
{
  if (self->source == 0)
    return;
  g_clear_handle_id (&self->source, g_source_remove);
  publish (self);
}

void
em_rate_limit_clear (EmRateLimit *self)
{
  g_clear_handle_id (&self->source, g_source_remove);
}
