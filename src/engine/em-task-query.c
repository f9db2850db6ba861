#define G_LOG_DOMAIN "em-engine"

#include "config.h"

#include <string.h>

#include "engine/em-task-query.h"

void
em_task_query_init (EmTaskQuery *query)
{
  memset (query, 0, sizeof *query);
}

void
em_task_query_clear (EmTaskQuery *query)
{
  g_clear_pointer (&query->action, g_free);
  g_clear_pointer (&query->after_id, g_free);
  g_clear_pointer (&query->since, g_date_time_unref);
  g_clear_pointer (&query->until, g_date_time_unref);
}

void
em_task_query_copy (EmTaskQuery *dest, const EmTaskQuery *src)
{
  *dest = *src;
  dest->action = g_strdup (src->action);
  dest->after_id = g_strdup (src->after_id);
  dest->since = src->since != NULL ? g_date_time_ref (src->since) : NULL;
  dest->until = src->until != NULL ? g_date_time_ref (src->until) : NULL;
}

gboolean
em_task_query_matches (const EmTaskQuery *query, EmTask *task)
{
  GDateTime *created = em_task_get_created_at (task);

  if (query->statuses != 0 &&
      (query->statuses & EM_TASK_QUERY_STATUS (em_task_get_status (task))) == 0)
    return FALSE;
  if (query->action != NULL && g_strcmp0 (query->action, em_task_get_action (task)) != 0)
    return FALSE;
  if (query->since != NULL && g_date_time_compare (created, query->since) < 0)
    return FALSE;
  if (query->until != NULL && g_date_time_compare (created, query->until) >= 0)
    return FALSE;
  return TRUE;
}
