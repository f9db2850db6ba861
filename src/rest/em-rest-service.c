#define G_LOG_DOMAIN "em-rest"

#include "config.h"

#include "rest/em-problem.h"
#include "rest/em-rest-context.h"

void
em_rest_health (EmRestContext     *ctx,
                SoupServerMessage *msg)
{
  g_autoptr(JsonObject) object = json_object_new ();
  g_autoptr(JsonNode) root = NULL;
  g_autoptr(GError) error = NULL;
  gboolean ok = em_engine_manager_check_store (ctx->manager, &error);

  /* a monitor restarts what answers 503: a store that cannot write refuses
   * every submission until then */
  json_object_set_string_member (object, "status", ok ? "ok" : "error");
  json_object_set_string_member (object, "version", PACKAGE_VERSION);
  if (!ok)
    json_object_set_string_member (object, "detail", error->message);
  root = json_node_init_object (json_node_alloc (), object);
  em_rest_respond_json (msg, ok ? 200 : 503, root);
}

void
em_rest_actions (EmRestContext     *ctx,
                 SoupServerMessage *msg)
{
  EmActionRegistry *registry = em_engine_manager_get_registry (ctx->manager);
  g_autoptr(GPtrArray) actions = em_action_registry_list (registry);
  g_autoptr(JsonArray) array = json_array_sized_new (actions->len);
  g_autoptr(JsonNode) root = NULL;

  for (guint i = 0; i < actions->len; i++)
    json_array_add_element (array, em_action_describe (g_ptr_array_index (actions, i)));
  root = json_node_init_array (json_node_alloc (), array);
  em_rest_respond_json (msg, 200, root);
}
