#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* g_debug() formats its message before the default writer drops it: on paths
 * taken for every request or task, ask the writer first */
#define em_debug_hot(...)                                                       \
  G_STMT_START {                                                                \
    if (!g_log_writer_default_would_drop (G_LOG_LEVEL_DEBUG, G_LOG_DOMAIN))     \
      g_debug (__VA_ARGS__);                                                    \
  } G_STMT_END

G_END_DECLS
