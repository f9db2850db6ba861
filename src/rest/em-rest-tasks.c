#define G_LOG_DOMAIN "em-rest"

#include "config.h"

#include <glib/gi18n.h>

#include "engine/em-error.h"
#include "rest/em-problem.h"
#include "rest/em-rest-async.h"
#include "rest/em-rest-lookup.h"

/* only tasks in memory can still be pending or running: any other one is
 * finished, or unknown */
static void
respond_finished (EmRestContext     *ctx,
                  SoupServerMessage *msg,
                  const char        *id,
                  JsonObject        *task)
{
  em_problem_respond_printf (msg, 409,
                             _("status: task “%s” is already %s and cannot be cancelled"),
                             id, json_object_get_string_member_with_default (task, "status", ""));
}

static void
cancel_recorded_cb (GObject      *source,
                    GAsyncResult *result,
                    gpointer      user_data)
{
  EmRestAsync *async = user_data;
  EmTask *task = em_rest_async_get_data (async);
  SoupServerMessage *msg;
  g_autoptr(GError) error = NULL;
  g_auto(EmRestI18nScope) scope = EM_REST_I18N_SCOPE_INIT;
  gboolean recorded = em_engine_manager_sync_finish (EM_ENGINE_MANAGER (source), result, &error);

  if ((msg = em_rest_async_resume (async, &scope)) == NULL)
    return;
  if (recorded)
    em_rest_respond_json_text (msg, 200, em_task_to_json_string (task));
  else
    em_problem_respond_printf (msg, 503,
                               _("store: task “%s” is cancelled, but the cancellation could "
                                 "not be recorded and a restart may run it: %s"),
                               em_task_get_id (task), error->message);
  em_rest_async_done (async);
}

void
em_rest_tasks_cancel (EmRestContext     *ctx,
                      SoupServerMessage *msg,
                      const char        *id)
{
  g_autoptr(GError) error = NULL;
  EmTask *task = em_engine_manager_get_task (ctx->manager, id);

  if (task == NULL)
    {
      em_rest_lookup_task (ctx, msg, id, respond_finished);
      return;
    }

  if (!em_engine_manager_cancel_task (ctx->manager, id, &error))
    {
      if (g_error_matches (error, EM_ERROR, EM_ERROR_CONFLICT))
        em_problem_respond_printf (msg, 409,
                                   _("status: task “%s” is already %s and cannot be cancelled"),
                                   id, em_task_status_to_string (em_task_get_status (task)));
      else
        em_problem_respond_error (msg, error);
      return;
    }

  /* cancelled at once: a running action is told to stop, and its devices stay
   * claimed until it has, but nothing it returns changes the status now. The
   * answer waits for the journal, as a 201 does: a cancellation answered and
   * then lost in a crash would run the task after the restart */
  em_engine_manager_sync_async (ctx->manager, ctx->cancellable, cancel_recorded_cb,
                                em_rest_async_begin (msg, g_object_ref (task), g_object_unref));
}

