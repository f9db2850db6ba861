#pragma once

#include "engine/em-engine-manager.h"
#include "dbus/em-dbus-sender-limits.h"

G_BEGIN_DECLS

#define EM_TYPE_DBUS_MANAGER_ADAPTER (em_dbus_manager_adapter_get_type ())
G_DECLARE_FINAL_TYPE (EmDbusManagerAdapter, em_dbus_manager_adapter, EM, DBUS_MANAGER_ADAPTER, GObject)

/* io.github.enginemanager.EngineManager1 and the task objects at the manager
 * path: turns method calls into engine calls and engine events into signals */
EmDbusManagerAdapter *em_dbus_manager_adapter_new      (EmEngineManager      *manager,
                                                        const char           *http_address);
gboolean              em_dbus_manager_adapter_export   (EmDbusManagerAdapter *self,
                                                        GDBusConnection      *connection,
                                                        GError              **error);
void                  em_dbus_manager_adapter_unexport (EmDbusManagerAdapter *self);
/* the per-sender limit on calls in flight; (transfer none) */
EmDbusSenderLimits   *em_dbus_manager_adapter_get_sender_limits (EmDbusManagerAdapter *self);

G_END_DECLS
