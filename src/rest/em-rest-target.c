#define G_LOG_DOMAIN "em-rest"

#include "config.h"

#include <string.h>

#include "rest/em-rest-target.h"

static GQuark
split_uri_quark (void)
{
  return g_quark_from_static_string ("em-rest-target-split");
}

GUri *
em_rest_target_uri (SoupServerMessage *msg)
{
  GUri *uri = soup_server_message_get_uri (msg);
  g_autofree char *path = NULL;
  const char *mark;
  GUri *split;

  /* HTTP/1.1 requires Host, and libsoup splits absolute URIs itself */
  if (soup_server_message_get_http_version (msg) != SOUP_HTTP_1_0 ||
      g_uri_get_query (uri) != NULL ||
      (mark = strchr (g_uri_get_path (uri), '?')) == NULL)
    return uri;
  split = g_object_get_qdata (G_OBJECT (msg), split_uri_quark ());
  if (split != NULL)
    return split;
  path = g_strndup (g_uri_get_path (uri), mark - g_uri_get_path (uri));
  split = g_uri_build (g_uri_get_flags (uri), g_uri_get_scheme (uri), g_uri_get_userinfo (uri),
                       g_uri_get_host (uri), g_uri_get_port (uri), path, mark + 1,
                       g_uri_get_fragment (uri));
  g_object_set_qdata_full (G_OBJECT (msg), split_uri_quark (), split,
                           (GDestroyNotify) g_uri_unref);
  return split;
}
