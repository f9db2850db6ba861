#pragma once

#include <glib-object.h>

G_BEGIN_DECLS

/* smaller bodies are not counted: with one per connection, the connection
 * limits bound them, and the common small request costs nothing more */
#define EM_BODY_BUDGET_MIN_BYTES (16 * 1024)

/*
 * What the request bodies being read or held at once may add up to: libsoup
 * buffers each body whole, so a thousand clients each sending just under the
 * body limit, and then nothing, would hold a gigabyte. Shared by the server
 * and its messages, which may outlive it. Any thread.
 */
typedef struct _EmBodyBudget EmBodyBudget;

EmBodyBudget *em_body_budget_new      (guint64       max_bytes);
EmBodyBudget *em_body_budget_ref      (EmBodyBudget *self);
void          em_body_budget_unref    (EmBodyBudget *self);
void          em_body_budget_set_max  (EmBodyBudget *self,
                                       guint64       max_bytes);
guint64       em_body_budget_get_max  (EmBodyBudget *self);
/* counts @bytes more against the budget until @owner is finalized; FALSE,
 * counting nothing, when they would take it past its maximum */
gboolean      em_body_budget_hold     (EmBodyBudget *self,
                                       GObject      *owner,
                                       guint64       bytes);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (EmBodyBudget, em_body_budget_unref)

G_END_DECLS
