#define G_LOG_DOMAIN "em-rest"

#include "config.h"

#include <glib/gi18n.h>

#include "engine/em-error.h"
#include "rest/em-problem.h"
#include "rest/em-rest-lookup.h"

/* how long DELETE waits for a running action to honour its cancellable */
#define CANCEL_WAIT_MS 10000

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

/* a DELETE of a running task answers once the action has stopped */
typedef struct {
  SoupServerMessage *msg;
  EmTask            *task;
  gulong             notify_id;
  gulong             finished_id;
  guint              timeout_id;
} CancelWait;

static void
cancel_wait_free (CancelWait *wait)
{
  g_clear_signal_handler (&wait->notify_id, wait->task);
  g_clear_signal_handler (&wait->finished_id, wait->msg);
  g_clear_handle_id (&wait->timeout_id, g_source_remove);
  g_clear_object (&wait->task);
  g_clear_object (&wait->msg);
  g_free (wait);
}

static void
cancel_wait_done (CancelWait *wait)
{
  em_rest_respond_json_text (wait->msg, 200, em_task_to_json_string (wait->task));
  soup_server_message_unpause (wait->msg);
  cancel_wait_free (wait);
}

static void
cancel_msg_finished_cb (SoupServerMessage *msg,
                        gpointer           user_data)
{
  /* the client went away while the action was stopping */
  cancel_wait_free (user_data);
}

static void
cancel_status_cb (EmTask     *task,
                  GParamSpec *pspec,
                  gpointer    user_data)
{
  if (em_task_is_finished (task))
    cancel_wait_done (user_data);
}

static gboolean
cancel_timeout_cb (gpointer user_data)
{
  CancelWait *wait = user_data;

  wait->timeout_id = 0;
  cancel_wait_done (wait);
  return G_SOURCE_REMOVE;
}

void
em_rest_tasks_cancel (EmRestContext     *ctx,
                      SoupServerMessage *msg,
                      const char        *id)
{
  g_autoptr(GError) error = NULL;
  EmTask *task = em_engine_manager_get_task (ctx->manager, id);
  CancelWait *wait;

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

  if (em_task_is_finished (task))
    {
      em_rest_respond_json_text (msg, 200, em_task_to_json_string (task));
      return;
    }

  wait = g_new0 (CancelWait, 1);
  wait->msg = g_object_ref (msg);
  wait->task = g_object_ref (task);
  wait->notify_id = g_signal_connect (task, "notify::status", G_CALLBACK (cancel_status_cb), wait);
  wait->finished_id = g_signal_connect (msg, "finished", G_CALLBACK (cancel_msg_finished_cb), wait);
  wait->timeout_id = g_timeout_add (CANCEL_WAIT_MS, cancel_timeout_cb, wait);
  soup_server_message_pause (msg);
}

