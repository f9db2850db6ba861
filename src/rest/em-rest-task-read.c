#define G_LOG_DOMAIN "em-rest"

#include "config.h"

#include <glib/gi18n.h>

#include "rest/em-problem.h"
#include "rest/em-rest-lookup.h"

static void
respond_task (EmRestContext     *ctx,
              SoupServerMessage *msg,
              const char        *id,
              JsonObject        *task)
{
  g_autoptr(JsonNode) node = json_node_init_object (json_node_alloc (), task);

  em_rest_respond_json (msg, 200, node);
}

void
em_rest_tasks_get (EmRestContext     *ctx,
                   SoupServerMessage *msg,
                   const char        *id)
{
  em_rest_lookup_task (ctx, msg, id, respond_task);
}

static void
respond_image (EmRestContext     *ctx,
               SoupServerMessage *msg,
               const char        *id,
               JsonObject        *task)
{
  const char *action = json_object_get_string_member_with_default (task, "action", "");
  const char *status = json_object_get_string_member_with_default (task, "status", "");
  JsonNode *result = json_object_get_member (task, "result");
  JsonObject *object;
  const char *path;
  const char *format;

  if (!g_str_equal (action, "capture_image"))
    {
      /* no article before the name: "a autofocus task" */
      em_problem_respond_printf (msg, 404, _("id: task “%s” has no image: action %s captures none"),
                                 id, action);
      return;
    }
  if (g_str_equal (status, "pending") || g_str_equal (status, "running"))
    {
      em_problem_respond_printf (msg, 404, _("id: task “%s” is %s and has no image yet"),
                                 id, status);
      return;
    }
  /* failed or cancelled: it never will */
  if (!g_str_equal (status, "completed") || result == NULL || !JSON_NODE_HOLDS_OBJECT (result))
    {
      em_problem_respond_printf (msg, 404, _("id: task “%s” is %s and has no image"),
                                 id, status);
      return;
    }

  object = json_node_get_object (result);
  path = json_object_get_string_member_with_default (object, "path", NULL);
  format = json_object_get_string_member_with_default (object, "format", "png");
  if (path == NULL || !g_path_is_absolute (path))
    {
      em_problem_respond_printf (msg, 404, _("id: task “%s” recorded no image file"), id);
      return;
    }
  em_rest_send_file (msg, path, g_strcmp0 (format, "tiff") == 0 ? "image/tiff" : "image/png",
                     id, ctx->cancellable);
}

void
em_rest_tasks_image (EmRestContext     *ctx,
                     SoupServerMessage *msg,
                     const char        *id)
{
  em_rest_lookup_task (ctx, msg, id, respond_image);
}
