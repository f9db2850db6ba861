#define G_LOG_DOMAIN "em-rest"

#include "config.h"

#include <glib/gi18n.h>

#include "engine/em-clip.h"
#include "engine/em-error.h"
#include "rest/em-problem.h"
#include "rest/em-rest-async.h"
#include "rest/em-rest-i18n.h"
#include "rest/em-rest-lookup.h"

typedef struct {
  EmRestContext    *ctx;
  char             *id;
  EmRestLookupFunc  func;
} Lookup;

static void
lookup_free (gpointer data)
{
  Lookup *lookup = data;

  g_free (lookup->id);
  g_free (lookup);
}

static void
looked_up_cb (GObject      *source,
              GAsyncResult *result,
              gpointer      user_data)
{
  EmRestAsync *async = user_data;
  Lookup *lookup = em_rest_async_get_data (async);
  SoupServerMessage *msg;
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonNode) node = em_engine_manager_lookup_task_finish (EM_ENGINE_MANAGER (source),
                                                                   result, &error);
  g_auto(EmRestI18nScope) scope = EM_REST_I18N_SCOPE_INIT;
  g_autoptr(SoupServerMessage) held = NULL;

  if ((msg = em_rest_async_resume (async, &scope)) == NULL)
    return;
  if (node == NULL)
    {
      if (g_error_matches (error, EM_ERROR, EM_ERROR_NOT_FOUND))
        {
          g_autofree char *quoted = em_clip_for_message (lookup->id);

          em_problem_respond_printf (msg, 404, _("id: no task “%s”"), quoted);
        }
      else
        em_problem_respond_error (msg, error);
      em_rest_async_done (async);
      return;
    }

  /* the callee answers now, or pauses and answers later: it owns the unpause */
  held = g_object_ref (msg);
  lookup->func (lookup->ctx, held, lookup->id, json_node_get_object (node));
  if (soup_server_message_get_status (held) != 0)
    em_rest_async_done (async);
  else
    em_rest_async_release (async);
}

void
em_rest_lookup_task (EmRestContext     *ctx,
                     SoupServerMessage *msg,
                     const char        *id,
                     EmRestLookupFunc   func)
{
  EmTask *task = em_engine_manager_get_task (ctx->manager, id);
  Lookup *lookup;

  if (task != NULL)
    {
      g_autoptr(JsonNode) node = em_task_to_json (task);

      func (ctx, msg, id, json_node_get_object (node));
      return;
    }

  /* not among the active and recent tasks: ask the history, off the loop */
  lookup = g_new0 (Lookup, 1);
  lookup->ctx = ctx;
  lookup->id = g_strdup (id);
  lookup->func = func;
  em_engine_manager_lookup_task_async (ctx->manager, id, ctx->cancellable, looked_up_cb,
                                       em_rest_async_begin (msg, lookup, lookup_free));
}
