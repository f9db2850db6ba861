#define G_LOG_DOMAIN "em-rest"

#include "config.h"

#include <glib/gi18n.h>

#include "engine/em-clip.h"
#include "rest/em-problem.h"
#include "rest/em-rest-cors.h"
#include "rest/em-rest-status.h"
#include "rest/em-rest-vary.h"

/* how long a browser may cache a preflight answer, in seconds */
#define PREFLIGHT_MAX_AGE "600"

static const char *
request_origin (SoupServerMessage *msg)
{
  return soup_message_headers_get_one (soup_server_message_get_request_headers (msg), "Origin");
}

gboolean
em_rest_cors_origin_allowed (const char * const *allowed,
                             const char         *origin)
{
  if (allowed == NULL || origin == NULL)
    return FALSE;
  for (guint i = 0; allowed[i] != NULL; i++)
    {
      if (g_str_equal (allowed[i], "*") || g_ascii_strcasecmp (allowed[i], origin) == 0)
        return TRUE;
    }
  return FALSE;
}

gboolean
em_rest_cors_same_origin (SoupServerMessage *msg,
                          gboolean           tls)
{
  const char *origin = request_origin (msg);
  const char *host = soup_message_headers_get_one (soup_server_message_get_request_headers (msg),
                                                   "Host");
  g_autofree char *own = NULL;

  if (origin == NULL)
    return TRUE;
  if (host == NULL)
    return FALSE;
  own = g_strconcat (tls ? "https://" : "http://", host, NULL);
  return g_ascii_strcasecmp (origin, own) == 0;
}

void
em_rest_cors_add_headers (SoupServerMessage  *msg,
                          const char * const *allowed)
{
  const char *origin = request_origin (msg);
  SoupMessageHeaders *headers;

  if (allowed == NULL || allowed[0] == NULL)
    return;
  /* with or without the headers below: a cache must not hand an answer made
   * for one origin, or for none, to another */
  em_rest_vary (msg, "Origin");
  if (!em_rest_cors_origin_allowed (allowed, origin))
    return;
  headers = soup_server_message_get_response_headers (msg);
  soup_message_headers_replace (headers, "Access-Control-Allow-Origin", origin);
  soup_message_headers_replace (headers, "Access-Control-Expose-Headers",
                                "Location, Link, X-Total-Count, Retry-After, WWW-Authenticate, ETag");
}

void
em_rest_cors_preflight (SoupServerMessage  *msg,
                        const char * const *allowed,
                        const char         *methods)
{
  const char *origin = request_origin (msg);
  SoupMessageHeaders *headers = soup_server_message_get_response_headers (msg);

  if (!em_rest_cors_origin_allowed (allowed, origin))
    {
      g_autofree char *quoted = em_clip_for_message (origin != NULL ? origin : "");

      em_problem_respond_printf (msg, 403, _("Origin: “%s” is not an allowed origin"), quoted);
      return;
    }
  em_rest_cors_add_headers (msg, allowed);
  soup_message_headers_replace (headers, "Access-Control-Allow-Methods", methods);
  /* the validators too: a page may revalidate an image or the description
   * it holds itself, as README's conditional requests describe */
  soup_message_headers_replace (headers, "Access-Control-Allow-Headers",
                                "Authorization, Content-Type, Accept-Language, If-None-Match, "
                                "If-Modified-Since");
  soup_message_headers_replace (headers, "Access-Control-Max-Age", PREFLIGHT_MAX_AGE);
  em_rest_set_status (msg, 204);
}
