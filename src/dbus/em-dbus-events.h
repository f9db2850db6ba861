#pragma once

#include "engine/em-engine-manager.h"
#include "em-dbus-generated.h"

G_BEGIN_DECLS

/* GetEvents: at most @limit events after @after_seq (1000 at most, 0 meaning
 * 1000), and no more than fit in @max_reply_bytes or a few MiB, whichever is
 * less; always at least one when there is one */
void em_dbus_events_get (EmEngineManager       *manager,
                         EmDBusEngineManager1  *iface,
                         GDBusMethodInvocation *invocation,
                         guint64                after_seq,
                         guint                  limit,
                         gsize                  max_reply_bytes,
                         GCancellable          *cancellable);

G_END_DECLS
