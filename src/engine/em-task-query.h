#pragma once

#include "engine/em-task.h"

G_BEGIN_DECLS

/**
 * EmTaskQuery:
 * @statuses: a mask of `1 << EmTaskStatus`; 0 matches every status
 * @action: (nullable): only tasks of this action
 * @since: (nullable): only tasks created at or after this time
 * @until: (nullable): only tasks created strictly before this time
 * @after: a cursor: only tasks with a serial above it are listed (0: from the
 *   first); unlike the filters it leaves the total alone, which still counts
 *   the matching tasks before it
 * @after_id: (nullable): the same cursor given as a task, for clients that
 *   see ids only: tasks created after it (EM_ERROR_NOT_FOUND when history
 *   has no such task); the query resolves it into @after
 * @offset: how many matching tasks to skip, oldest first, from @after on
 * @limit: at most this many; 0 means no limit
 * @max_bytes: the store stops reading once the tasks read pass this many
 *   bytes of their stored text, with at least one; the next page starts
 *   after the last one read (memory, without a store, stops at about as
 *   many bytes of results). 0 means no limit. A page of small tasks
 *   followed by tile scans (1.5 MB each) read up to @limit of the large
 *   ones, parsed, whatever its caller could send
 * @count_only: only the total is wanted: no task is read, nor parsed
 *
 * A filter over all of history, in memory or in the store. Stack-allocate it,
 * fill it with em_task_query_init() and release it with em_task_query_clear().
 */
typedef struct {
  guint      statuses;
  char      *action;
  GDateTime *since;
  GDateTime *until;
  guint64    after;
  char      *after_id;
  guint      offset;
  guint      limit;
  gsize      max_bytes;
  gboolean   count_only;
} EmTaskQuery;

#define EM_TASK_QUERY_STATUS(status) (1u << (status))
#define EM_TASK_QUERY_FINISHED (EM_TASK_QUERY_STATUS (EM_TASK_STATUS_COMPLETED) | \
                                EM_TASK_QUERY_STATUS (EM_TASK_STATUS_FAILED) |    \
                                EM_TASK_QUERY_STATUS (EM_TASK_STATUS_CANCELLED))

void     em_task_query_init    (EmTaskQuery       *query);
void     em_task_query_clear   (EmTaskQuery       *query);
void     em_task_query_copy    (EmTaskQuery       *dest,
                                const EmTaskQuery *src);
/* status, action and time filters; after, offset, limit, max_bytes and
 * count_only are the caller's */
gboolean em_task_query_matches (const EmTaskQuery *query,
                                EmTask            *task);

G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (EmTaskQuery, em_task_query_clear)

G_END_DECLS
