#pragma once

#include <glib.h>

G_BEGIN_DECLS

/*
 * The serials of the latest deleted tasks, for paging cursors: a client pages
 * with the last task of a page as its cursor (ListTasks and GET /tasks
 * `after`), and retention or DELETE /tasks may remove that task before the
 * next page. Up to a maximum, about 100 bytes each.
 */
typedef struct _EmDeletedSerials EmDeletedSerials;

/* how many the store and the engine without a store each keep */
#define EM_DELETED_SERIALS_MAX 100000

EmDeletedSerials *em_deleted_serials_new    (guint             max_size);
void              em_deleted_serials_free   (EmDeletedSerials *self);
/* forgets the oldest entry once past the maximum; an id already known keeps
 * its serial */
void              em_deleted_serials_add    (EmDeletedSerials *self,
                                             const char       *id,
                                             guint64           serial);
gboolean          em_deleted_serials_lookup (EmDeletedSerials *self,
                                             const char       *id,
                                             guint64          *out_serial);
guint             em_deleted_serials_get_size (EmDeletedSerials *self);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (EmDeletedSerials, em_deleted_serials_free)

G_END_DECLS
