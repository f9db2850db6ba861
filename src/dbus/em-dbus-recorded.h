#pragma once

#include <gio/gio.h>

#include "engine/em-engine-manager.h"

G_BEGIN_DECLS

/*
 * Changes whose D-Bus reply waits for the task journal, as ScheduleTask's does:
 * a reply followed by a crash must not be taken back by the restart. The
 * change is made at once, so the reply waits for the journal's answer also
 * when the service leaves the bus meanwhile: "shutting down" would say it
 * was not made.
 */

/* cancels task @id at once and answers @invocation with () once the
 * cancellation is recorded; FALSE, with @invocation untouched, when the
 * engine refuses */
gboolean em_dbus_cancel_task (EmEngineManager        *manager,
                              const char             *id,
                              GDBusMethodInvocation  *invocation,
                              GError                **error);

/* pauses or resumes the queue at once and answers @invocation with () once
 * that is recorded */
void     em_dbus_set_paused  (EmEngineManager        *manager,
                              gboolean                paused,
                              GDBusMethodInvocation  *invocation);

G_END_DECLS
