#pragma once

#include <gio/gio.h>

#include "engine/em-engine-manager.h"

G_BEGIN_DECLS

/* cancels task @id at once and answers @invocation with () once the
 * cancellation is in the task journal, as ScheduleTask's reply waits for the
 * task; FALSE, with @invocation untouched, when the engine refuses */
gboolean em_dbus_cancel_task (EmEngineManager        *manager,
                              const char             *id,
                              GDBusMethodInvocation  *invocation,
                              GCancellable           *cancellable,
                              GError                **error);

G_END_DECLS
