#pragma once

#include <glib.h>

G_BEGIN_DECLS

#define EM_ERROR (em_error_quark ())

/**
 * EmError:
 * @EM_ERROR_NOT_FOUND: no such task, action or resource
 * @EM_ERROR_INVALID_ARGUMENT: the request itself is wrong; the message names the field
 * @EM_ERROR_CONFLICT: the request does not fit the current state (e.g. cancelling a finished task)
 * @EM_ERROR_UNAVAILABLE: the service cannot take the request now (limits, missing component)
 * @EM_ERROR_FAILED: the operation was attempted and failed
 *
 * The one error domain of Engine Manager. Every transport maps it in one place:
 * em_error_to_http_status() and the D-Bus names registered by em_error_quark().
 */
typedef enum {
  EM_ERROR_NOT_FOUND,
  EM_ERROR_INVALID_ARGUMENT,
  EM_ERROR_CONFLICT,
  EM_ERROR_UNAVAILABLE,
  EM_ERROR_FAILED,
} EmError;

#define EM_ERROR_N_ERRORS (EM_ERROR_FAILED + 1)

GQuark       em_error_quark          (void);
guint        em_error_to_http_status (const GError *error);
const char  *em_error_to_http_title  (const GError *error);

G_END_DECLS
