#pragma once

#include <glib.h>

G_BEGIN_DECLS

/*
 * Publishes something that changes often (a progress, a position, a seq) at
 * most once per interval, and never loses the last change: a change after a
 * quiet spell goes out at once, the changes of a burst together when the
 * interval is over. The callback reads the current value when it runs.
 * Main-context only.
 */
typedef void (*EmRateLimitFunc) (gpointer user_data);

typedef struct {
  gint64           interval_us;
  gint64           last_us;     /* monotonic time of the last publication */
  guint            source;      /* a publication waiting for the interval */
  const char      *name;        /* static: the timer's name */
  EmRateLimitFunc  func;
  gpointer         user_data;
} EmRateLimit;

void em_rate_limit_init  (EmRateLimit     *self,
                          gint64           interval_us,
                          const char      *name,
                          EmRateLimitFunc  func,
                          gpointer         user_data);
/* something changed */
void em_rate_limit_poke  (EmRateLimit     *self);
/* a publication still waiting happens now */
void em_rate_limit_flush (EmRateLimit     *self);
/* a publication still waiting is dropped */
void em_rate_limit_clear (EmRateLimit     *self);

G_END_DECLS
