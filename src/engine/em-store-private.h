#pragma once

#include <sqlite3.h>

#include "engine/em-store.h"

G_BEGIN_DECLS

/* the schema this build writes; older files are migrated when opened */
#define EM_STORE_SCHEMA_VERSION 2

gboolean em_store_exec           (sqlite3     *db,
                                  const char  *path,
                                  const char  *sql,
                                  GError     **error);
/* an EM_ERROR that names the file and says what the user can do about @rc */
void     em_store_set_error      (GError     **error,
                                  sqlite3     *db,
                                  const char  *path,
                                  int          rc);
/* opens, locks and checks the file and brings its schema up to date */
sqlite3 *em_store_schema_open    (const char  *path,
                                  GError     **error);

G_END_DECLS
