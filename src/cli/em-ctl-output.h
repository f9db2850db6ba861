#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* @text with every control character but the line feed written as \uXXXX:
 * what the service sends (task names, errors) is typed by other clients, and
 * a terminal would act on an escape sequence in it. JSON reads the escape as
 * the same character. */
char *em_ctl_escape_controls     (const char *text);

/* @text with each line feed written as \u000a: a value inside a line of text
 * output (a table cell, a `get` field, a `watch` line) must not end that line
 * and start what reads as another task or event */
char *em_ctl_one_line            (const char *text);

/* @fields, alternately a label and its value, one pair a line with the values
 * in one column: the labels are padded by characters, not bytes, to the
 * longest of them and at least to @min_width, as a translated label may be
 * longer than the English one and not ASCII */
void  em_ctl_print_fields        (GPtrArray  *fields,
                                  guint       min_width);

/* g_print() and g_printerr() escape as above from now on */
void  em_ctl_install_safe_output (void);

G_END_DECLS
