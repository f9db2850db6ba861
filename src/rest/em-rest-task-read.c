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
  const char *task_id;
  const char *data_dir;
  g_autofree char *name = NULL;
  g_autofree char *file = NULL;

  /* it captures many: "captures none" would send its user looking for a
   * failure, not for the tiles its result names */
  if (g_str_equal (action, "tile_scan"))
    {
      em_problem_respond_printf (msg, 404, _("id: task “%s” is a tile_scan, which has no single "
                                             "image: its result lists each tile’s file"), id);
      return;
    }
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
  task_id = json_object_get_string_member_with_default (task, "id", "");
  data_dir = em_engine_manager_get_data_dir (ctx->manager);
  /* the record says an image was written, not where to read: a record
   * changed on disk must not make this serve any file the service can read.
   * The file is the one the capture names, in this data directory */
  if (path == NULL || data_dir == NULL || !g_uuid_string_is_valid (task_id) ||
      (g_strcmp0 (format, "png") != 0 && g_strcmp0 (format, "tiff") != 0))
    {
      em_problem_respond_printf (msg, 404, _("id: task “%s” recorded no image file"), id);
      return;
    }
  name = g_strconcat (task_id, ".", format, NULL);
  file = g_build_filename (data_dir, "images", name, NULL);
  em_rest_send_file (msg, file, g_str_equal (format, "tiff") ? "image/tiff" : "image/png",
                     id, ctx->cancellable);
}

void
em_rest_tasks_image (EmRestContext     *ctx,
                     SoupServerMessage *msg,
                     const char        *id)
{
  em_rest_lookup_task (ctx, msg, id, respond_image);
}
