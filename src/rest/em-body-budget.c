#define G_LOG_DOMAIN "em-rest"

#include "config.h"

#include "rest/em-body-budget.h"

struct _EmBodyBudget
{
  gatomicrefcount ref;
  GMutex          lock;
  guint64         max_bytes; /* under lock */
  guint64         held;      /* under lock */
};

/* what one owner holds, given back when it goes */
typedef struct {
  EmBodyBudget *budget;
  guint64       bytes;
} Held;

static GQuark
held_quark (void)
{
  return g_quark_from_static_string ("em-body-budget-held");
}

EmBodyBudget *
em_body_budget_new (guint64 max_bytes)
{
  EmBodyBudget *self = g_new0 (EmBodyBudget, 1);

  g_atomic_ref_count_init (&self->ref);
  g_mutex_init (&self->lock);
  self->max_bytes = max_bytes;
  return self;
}

EmBodyBudget *
em_body_budget_ref (EmBodyBudget *self)
{
  g_atomic_ref_count_inc (&self->ref);
  return self;
}

void
em_body_budget_unref (EmBodyBudget *self)
{
  if (!g_atomic_ref_count_dec (&self->ref))
    return;
  g_mutex_clear (&self->lock);
  g_free (self);
}

void
em_body_budget_set_max (EmBodyBudget *self,
                        guint64       max_bytes)
{
  g_mutex_lock (&self->lock);
  self->max_bytes = max_bytes;
  g_mutex_unlock (&self->lock);
}

guint64
em_body_budget_get_max (EmBodyBudget *self)
{
  guint64 max_bytes;

  g_mutex_lock (&self->lock);
  max_bytes = self->max_bytes;
  g_mutex_unlock (&self->lock);
  return max_bytes;
}

static void
held_free (gpointer data)
{
  Held *held = data;

  g_mutex_lock (&held->budget->lock);
  held->budget->held -= held->bytes;
  g_mutex_unlock (&held->budget->lock);
  em_body_budget_unref (held->budget);
  g_free (held);
}

gboolean
em_body_budget_hold (EmBodyBudget *self,
                     GObject      *owner,
                     guint64       bytes)
{
  Held *held;

  g_mutex_lock (&self->lock);
  if (bytes > self->max_bytes - MIN (self->held, self->max_bytes))
    {
      g_mutex_unlock (&self->lock);
      return FALSE;
    }
  self->held += bytes;
  g_mutex_unlock (&self->lock);

  held = g_object_get_qdata (owner, held_quark ());
  if (held == NULL)
    {
      held = g_new0 (Held, 1);
      held->budget = em_body_budget_ref (self);
      g_object_set_qdata_full (owner, held_quark (), held, held_free);
    }
  held->bytes += bytes;
  return TRUE;
}
