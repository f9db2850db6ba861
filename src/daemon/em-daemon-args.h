#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* The command line looked over before GOption parses it: the help option
 * met where an option may be (*help, %NULL when none); a forgotten value,
 * the next option taken for it, refused; --gst-version and --gst-debug-help
 * taken out of @argv, to be printed once every option is checked */
gboolean em_daemon_args_scan          (const GOptionEntry  *entries,
                                       int                 *argc,
                                       char               **argv,
                                       const char         **help,
                                       gboolean            *print_gst_version,
                                       gboolean            *print_gst_debug_help,
                                       GError             **error);
/* prints @text; the exit status: 1, with a message, when it was not written */
int      em_daemon_print_stdout       (const char          *text);
/* what GStreamer's --gst-debug-help prints, after gst_init() */
void     em_daemon_append_gst_debug_help (GString          *text);

G_END_DECLS
