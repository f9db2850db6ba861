/* the floor the service is measured against: a libsoup server that parses the
 * same JSON body as POST /tasks and answers a fixed one, nothing else */

#define G_LOG_DOMAIN "soup-baseline"

#include "config.h"

#include <stdlib.h>
#include <json-glib/json-glib.h>
#include <libsoup/soup.h>

static const char reply[] =
  "{\"id\":\"00000000-0000-4000-8000-000000000000\",\"name\":\"bench\",\"action\":\"wait\","
  "\"parameters\":{\"duration\":0},\"status\":\"pending\",\"result\":null,\"error\":null,"
  "\"created_at\":\"2026-01-01T12:00:00.000000Z\",\"started_at\":null,\"completed_at\":null}";

static void
handle (SoupServer        *server,
        SoupServerMessage *msg,
        const char        *path,
        GHashTable        *query,
        gpointer           user_data)
{
  g_autoptr(GBytes) body = soup_message_body_flatten (soup_server_message_get_request_body (msg));
  g_autoptr(JsonParser) parser = json_parser_new_immutable ();
  gsize length;
  const char *data = g_bytes_get_data (body, &length);

  if (!json_parser_load_from_data (parser, data, (gssize) length, NULL) ||
      !JSON_NODE_HOLDS_OBJECT (json_parser_get_root (parser)))
    {
      soup_server_message_set_status (msg, 400, NULL);
      return;
    }
  soup_message_headers_replace (soup_server_message_get_response_headers (msg),
                                "Location", "/tasks/00000000-0000-4000-8000-000000000000");
  soup_server_message_set_status (msg, 201, NULL);
  soup_server_message_set_response (msg, "application/json", SOUP_MEMORY_STATIC,
                                    reply, sizeof reply - 1);
}

int
main (int argc, char **argv)
{
  g_autoptr(GMainLoop) loop = g_main_loop_new (NULL, FALSE);
  g_autoptr(SoupServer) server = soup_server_new (NULL, NULL);
  g_autoptr(GError) error = NULL;
  guint port = argc > 1 ? (guint) atoi (argv[1]) : 0;
  GSList *uris;

  soup_server_add_handler (server, "/tasks", handle, NULL, NULL);
  if (!soup_server_listen_local (server, port, SOUP_SERVER_LISTEN_IPV4_ONLY, &error))
    {
      g_printerr ("soup-baseline: %s\n", error->message);
      return 1;
    }
  uris = soup_server_get_uris (server);
  g_print ("Listening on port %d\n", g_uri_get_port (uris->data));
  g_slist_free_full (uris, (GDestroyNotify) g_uri_unref);
  g_main_loop_run (loop);
  return 0;
}
