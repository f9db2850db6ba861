#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

/* whether a TLS client can complete a handshake with @certificate: GIO loads a
 * certificate and a key that do not belong together without complaint, and
 * every handshake then fails. Blocks for the handshake: startup only. */
gboolean em_rest_tls_check_certificate (GTlsCertificate  *certificate,
                                        GError          **error);

G_END_DECLS
