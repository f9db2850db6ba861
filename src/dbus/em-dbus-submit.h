#pragma once

#include "dbus/em-dbus-task-table.h"
#include "em-dbus-generated.h"

G_BEGIN_DECLS

/* ScheduleTask and ScheduleBatch: validate, schedule, and reply only once the
 * engine has committed the new tasks, so an id a client holds survives a crash */
void em_dbus_submit_task  (EmEngineManager       *manager,
                           EmDbusTaskTable       *tasks,
                           EmDBusEngineManager1  *iface,
                           GDBusMethodInvocation *invocation,
                           const char            *name,
                           const char            *action,
                           GVariant              *parameters,
                           GVariant              *options,
                           GCancellable          *cancellable);
void em_dbus_submit_batch (EmEngineManager       *manager,
                           EmDbusTaskTable       *tasks,
                           EmDBusEngineManager1  *iface,
                           GDBusMethodInvocation *invocation,
                           GVariant              *items,
                           GVariant              *options,
                           GCancellable          *cancellable);

G_END_DECLS
