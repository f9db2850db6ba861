#pragma once

#include "engine/em-engine-manager.h"
#include "em-dbus-generated.h"

G_BEGIN_DECLS

/* the methods that read all of history, in memory or in the task database;
 * each answers @invocation from the engine's async callback */
void em_dbus_history_get_task   (EmEngineManager       *manager,
                                 EmDBusEngineManager1  *iface,
                                 GDBusMethodInvocation *invocation,
                                 const char            *id,
                                 GCancellable          *cancellable);
/* CancelTask of a task no longer in memory: finished, or unknown */
void em_dbus_history_cancel_task (EmEngineManager       *manager,
                                  EmDBusEngineManager1  *iface,
                                  GDBusMethodInvocation *invocation,
                                  const char            *id,
                                  GCancellable          *cancellable);
/* a reply over @max_reply_bytes is refused rather than sent */
void em_dbus_history_list_tasks (EmEngineManager       *manager,
                                 EmDBusEngineManager1  *iface,
                                 GDBusMethodInvocation *invocation,
                                 GVariant              *filter,
                                 gsize                  max_reply_bytes,
                                 GCancellable          *cancellable);
void em_dbus_history_get_queue  (EmEngineManager       *manager,
                                 EmDBusEngineManager1  *iface,
                                 GDBusMethodInvocation *invocation,
                                 GCancellable          *cancellable);

G_END_DECLS
