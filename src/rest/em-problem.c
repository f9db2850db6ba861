#define G_LOG_DOMAIN "em-rest"

#include "config.h"

#include <glib/gi18n.h>

#include "engine/em-error.h"
#include "rest/em-problem.h"

#define PROBLEM_CONTENT_TYPE "application/problem+json"
#define JSON_CONTENT_TYPE "application/json"

const char *
em_problem_default_title (guint status)
{
  switch (status)
    {
    case 400:
      return _("Invalid request");
    case 404:
      return _("Not found");
    case 405:
      return _("Method not allowed");
    case 409:
      return _("Conflict");
    case 413:
      return _("Request body too large");
    case 503:
      return _("Service unavailable");
    default:
      return _("Internal error");
    }
}

char *
em_problem_to_string (guint       status,
                      const char *title,
                      const char *detail)
{
  g_autoptr(JsonBuilder) builder = json_builder_new ();
  g_autoptr(JsonNode) root = NULL;

  json_builder_begin_object (builder);
  json_builder_set_member_name (builder, "type");
  json_builder_add_string_value (builder, "about:blank");
  json_builder_set_member_name (builder, "title");
  json_builder_add_string_value (builder, title != NULL ? title : em_problem_default_title (status));
  json_builder_set_member_name (builder, "status");
  json_builder_add_int_value (builder, status);
  if (detail != NULL)
    {
      json_builder_set_member_name (builder, "detail");
      json_builder_add_string_value (builder, detail);
    }
  json_builder_end_object (builder);

  root = json_builder_get_root (builder);
  return json_to_string (root, FALSE);
}

void
em_problem_respond (SoupServerMessage *msg,
                    guint              status,
                    const char        *title,
                    const char        *detail)
{
  char *body = em_problem_to_string (status, title, detail);

  soup_server_message_set_status (msg, status, NULL);
  soup_server_message_set_response (msg, PROBLEM_CONTENT_TYPE, SOUP_MEMORY_TAKE,
                                    body, strlen (body));
}

void
em_problem_respond_printf (SoupServerMessage *msg,
                           guint              status,
                           const char        *format,
                           ...)
{
  g_autofree char *detail = NULL;
  va_list args;

  va_start (args, format);
  detail = g_strdup_vprintf (format, args);
  va_end (args);

  em_problem_respond (msg, status, NULL, detail);
}

void
em_problem_respond_error (SoupServerMessage *msg,
                          const GError      *error)
{
  guint status = em_error_to_http_status (error);

  em_problem_respond (msg, status, em_error_to_http_title (error),
                      error != NULL ? error->message : NULL);
}

void
em_rest_respond_json (SoupServerMessage *msg,
                      guint              status,
                      JsonNode          *node)
{
  char *body = json_to_string (node, FALSE);

  soup_server_message_set_status (msg, status, NULL);
  soup_server_message_set_response (msg, JSON_CONTENT_TYPE, SOUP_MEMORY_TAKE,
                                    body, strlen (body));
}
