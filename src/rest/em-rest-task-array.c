#define G_LOG_DOMAIN "em-rest"

#include "config.h"

#include "engine/em-arena.h"
#include "rest/em-rest-task-array.h"

/* what a pending task's text about takes */
#define BYTES_PER_TASK 512

typedef struct {
  EmArena         *arena;      /* holds the snapshots and their text */
  EmTaskSnapshot **snapshots;
  guint            n_snapshots;
} Copies;

static void
copies_free (gpointer data)
{
  Copies *copies = data;

  em_arena_free (copies->arena);
  g_free (copies);
}

static void
write_thread (GTask        *task,
              gpointer      source_object,
              gpointer      task_data,
              GCancellable *cancellable)
{
  Copies *copies = task_data;
  g_autoptr(GString) item = g_string_sized_new (BYTES_PER_TASK);
  GString *text = g_string_sized_new ((gsize) copies->n_snapshots * BYTES_PER_TASK + 2);

  g_string_append_c (text, '[');
  for (guint i = 0; i < copies->n_snapshots; i++)
    {
      /* the writer places its commas by what it has written so far */
      g_string_truncate (item, 0);
      em_task_snapshot_write_json (copies->snapshots[i], item);
      if (i > 0)
        g_string_append_c (text, ',');
      g_string_append_len (text, item->str, item->len);
    }
  g_string_append_c (text, ']');
  g_task_return_pointer (task, g_string_free (text, FALSE), g_free);
}

void
em_rest_task_array_write_async (GPtrArray           *tasks,
                                GCancellable        *cancellable,
                                GAsyncReadyCallback  callback,
                                gpointer             user_data)
{
  g_autoptr(GTask) task = g_task_new (NULL, cancellable, callback, user_data);
  Copies *copies = g_new0 (Copies, 1);

  copies->arena = em_arena_new ();
  copies->n_snapshots = tasks->len;
  copies->snapshots = em_arena_alloc (copies->arena, MAX (tasks->len, 1) * sizeof (EmTaskSnapshot *));
  for (guint i = 0; i < tasks->len; i++)
    copies->snapshots[i] = em_task_snapshot_new (g_ptr_array_index (tasks, i), copies->arena);
  g_task_set_source_tag (task, em_rest_task_array_write_async);
  g_task_set_name (task, "[engine-manager] write an array of tasks");
  g_task_set_task_data (task, copies, copies_free);
  g_task_run_in_thread (task, write_thread);
}

char *
em_rest_task_array_write_finish (GAsyncResult  *result,
                                 GError       **error)
{
  g_return_val_if_fail (g_task_is_valid (result, NULL), NULL);
  return g_task_propagate_pointer (G_TASK (result), error);
}
