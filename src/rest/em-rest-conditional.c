#define G_LOG_DOMAIN "em-rest"

#include "config.h"

#include "rest/em-rest-conditional.h"

static const char *
opaque_tag (const char *tag)
{
  return g_str_has_prefix (tag, "W/") ? tag + 2 : tag;
}

gboolean
em_rest_etag_matches (SoupMessageHeaders *request_headers,
                      const char         *etag)
{
  const char *if_none_match = soup_message_headers_get_list (request_headers, "If-None-Match");
  g_auto(GStrv) tags = NULL;

  if (if_none_match == NULL)
    return FALSE;
  /* every tag: a cap on the split would leave the rest of a long list as
   * one token that matches nothing; the header's size already bounds it */
  tags = g_strsplit (if_none_match, ",", -1);
  for (guint i = 0; tags[i] != NULL; i++)
    {
      const char *tag = g_strstrip (tags[i]);

      if (g_str_equal (tag, "*") || g_str_equal (opaque_tag (tag), opaque_tag (etag)))
        return TRUE;
    }
  return FALSE;
}

gboolean
em_rest_not_modified (SoupServerMessage *msg,
                      const char        *etag,
                      GDateTime         *modified)
{
  SoupMessageHeaders *headers = soup_server_message_get_request_headers (msg);
  const char *method = soup_server_message_get_method (msg);
  const char *since_text;
  g_autoptr(GDateTime) since = NULL;

  if (!g_str_equal (method, "GET") && !g_str_equal (method, "HEAD"))
    return FALSE;
  /* a client that sent both trusts the tag: the date is ignored */
  if (soup_message_headers_get_one (headers, "If-None-Match") != NULL)
    return em_rest_etag_matches (headers, etag);
  since_text = soup_message_headers_get_one (headers, "If-Modified-Since");
  if (modified == NULL || since_text == NULL)
    return FALSE;
  /* an unreadable date is ignored, as RFC 9110 §13.1.3 says */
  since = soup_date_time_new_from_http_string (since_text);
  if (since == NULL)
    return FALSE;
  /* HTTP dates have whole seconds: a file modified within the second of the
   * date the client holds is the one it has */
  return g_date_time_to_unix (modified) <= g_date_time_to_unix (since);
}
