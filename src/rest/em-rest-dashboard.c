#define G_LOG_DOMAIN "em-rest"

#include "config.h"

#include <glib/gi18n.h>

#include "em-dashboard-resources.h"
#include "engine/em-clip.h"
#include "rest/em-problem.h"
#include "rest/em-rest-conditional.h"
#include "rest/em-rest-dashboard.h"
#include "rest/em-rest-status.h"
#include "rest/em-rest-target.h"

#define DASHBOARD_URL_PREFIX "/dashboard/"

/* the page loads only its own files and talks only to this service: 'self'
 * covers the WebSocket of the same origin (CSP 3), where "ws:" would let it
 * reach any host */
#define DASHBOARD_CSP \
  "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' blob: data:; " \
  "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

static const struct {
  const char *suffix;
  const char *content_type;
} content_types[] = {
  { ".html", "text/html; charset=utf-8" },
  { ".js", "text/javascript; charset=utf-8" },
  { ".css", "text/css; charset=utf-8" },
  { ".json", "application/json" },
  { ".svg", "image/svg+xml" },
  { ".png", "image/png" },
};

static const char *
content_type_for (const char *name)
{
  for (guint i = 0; i < G_N_ELEMENTS (content_types); i++)
    if (g_str_has_suffix (name, content_types[i].suffix))
      return content_types[i].content_type;
  return "application/octet-stream";
}

/* one plain file name: no directories, no dot files */
static gboolean
valid_file_name (const char *name)
{
  if (*name == '\0' || *name == '.')
    return FALSE;
  for (const char *p = name; *p != '\0'; p++)
    if (!g_ascii_isalnum (*p) && *p != '.' && *p != '-' && *p != '_')
      return FALSE;
  return TRUE;
}

gboolean
em_rest_dashboard_is_path (const char *path)
{
  return g_str_equal (path, "/") || g_str_has_prefix (path, DASHBOARD_URL_PREFIX);
}

void
em_rest_serve_resource (SoupServerMessage *msg,
                        const char        *resource_path,
                        const char        *content_type)
{
  SoupMessageHeaders *headers = soup_server_message_get_response_headers (msg);
  g_autoptr(GBytes) bytes = NULL;
  g_autofree char *digest = NULL;
  g_autofree char *etag = NULL;

  /* the bytes are part of the binary: nothing here touches the disk */
  bytes = g_resource_lookup_data (em_dashboard_get_resource (), resource_path,
                                  G_RESOURCE_LOOKUP_FLAGS_NONE, NULL);
  if (bytes == NULL)
    {
      g_autofree char *quoted =
        em_clip_for_message (g_uri_get_path (em_rest_target_uri (msg)));

      em_problem_respond_printf (msg, 404, _("path: no resource at “%s”"), quoted);
      return;
    }

  digest = g_compute_checksum_for_bytes (G_CHECKSUM_SHA256, bytes);
  etag = g_strdup_printf ("\"%.32s\"", digest);
  soup_message_headers_replace (headers, "ETag", etag);
  soup_message_headers_replace (headers, "Cache-Control", "no-cache");
  soup_message_headers_replace (headers, "X-Content-Type-Options", "nosniff");

  if (em_rest_etag_matches (soup_server_message_get_request_headers (msg), etag))
    {
      /* libsoup would claim a length of 0 for the empty body, which a cache
       * may take for the length of what it holds (RFC 9110 §8.6) */
      soup_message_headers_set_content_length (headers, g_bytes_get_size (bytes));
      em_rest_set_status (msg, 304);
      return;
    }

  em_rest_set_status (msg, 200);
  soup_message_headers_replace (headers, "Content-Type", content_type);
  soup_message_body_append_bytes (soup_server_message_get_response_body (msg), bytes);
}

void
em_rest_dashboard_handle (SoupServerMessage *msg,
                          const char        *path)
{
  SoupMessageHeaders *headers = soup_server_message_get_response_headers (msg);
  const char *name = "index.html";
  g_autofree char *resource_path = NULL;

  if (g_str_has_prefix (path, DASHBOARD_URL_PREFIX))
    name = path + strlen (DASHBOARD_URL_PREFIX);
  if (!valid_file_name (name))
    {
      g_autofree char *quoted = em_clip_for_message (path);

      em_problem_respond_printf (msg, 404, _("path: no resource at “%s”"), quoted);
      return;
    }

  resource_path = g_strconcat (EM_RESOURCE_PREFIX "/dashboard/", name, NULL);
  if (g_str_has_suffix (name, ".html"))
    {
      soup_message_headers_replace (headers, "Content-Security-Policy", DASHBOARD_CSP);
      soup_message_headers_replace (headers, "Referrer-Policy", "no-referrer");
    }
  em_rest_serve_resource (msg, resource_path, content_type_for (name));
}
