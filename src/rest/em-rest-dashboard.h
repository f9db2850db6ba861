#pragma once

#include <libsoup/soup.h>

G_BEGIN_DECLS

/* where the dashboard's files live in the service's GResource */
#define EM_RESOURCE_PREFIX "/io/github/enginemanager/EngineManager"

/* GET / (the page) and GET /dashboard/<file> (its scripts and styles) */
gboolean em_rest_dashboard_is_path (const char        *path);
void     em_rest_dashboard_handle  (SoupServerMessage *msg,
                                    const char        *path);

/* answers @msg with a file compiled into the service, with an ETag so that a
 * browser revalidates (Cache-Control: no-cache) and gets 304 when unchanged;
 * 404 when @resource_path does not exist */
void     em_rest_serve_resource    (SoupServerMessage *msg,
                                    const char        *resource_path,
                                    const char        *content_type);

G_END_DECLS
