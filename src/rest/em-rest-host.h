#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* whether @host (a Host header: a name or an address, with an optional port)
 * names the service in a way DNS cannot point elsewhere: an IP address or
 * localhost, which browsers resolve themselves */
gboolean em_rest_host_is_fixed (const char *host);

G_END_DECLS
