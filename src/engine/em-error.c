#include "config.h"

#include <glib/gi18n.h>
#include <gio/gio.h>

#include "engine/em-error.h"

static const GDBusErrorEntry em_error_entries[] = {
  { EM_ERROR_NOT_FOUND, "io.github.enginemanager.Error.NotFound" },
  { EM_ERROR_INVALID_ARGUMENT, "io.github.enginemanager.Error.InvalidArgument" },
  { EM_ERROR_CONFLICT, "io.github.enginemanager.Error.Conflict" },
  { EM_ERROR_UNAVAILABLE, "io.github.enginemanager.Error.Unavailable" },
  { EM_ERROR_FAILED, "io.github.enginemanager.Error.Failed" },
};

G_STATIC_ASSERT (G_N_ELEMENTS (em_error_entries) == EM_ERROR_N_ERRORS);

/* registering with D-Bus names here means every GError from the engine crosses the
 * bus under its own name, with no per-call mapping in the adapter */
GQuark
em_error_quark (void)
{
  static gsize quark = 0;

  g_dbus_error_register_error_domain ("em-error-quark", &quark,
                                      em_error_entries,
                                      G_N_ELEMENTS (em_error_entries));
  return (GQuark) quark;
}

guint
em_error_to_http_status (const GError *error)
{
  if (error == NULL || error->domain != EM_ERROR)
    return 500;

  switch ((EmError) error->code)
    {
    case EM_ERROR_NOT_FOUND:
      return 404;
    case EM_ERROR_INVALID_ARGUMENT:
      return 400;
    case EM_ERROR_CONFLICT:
      return 409;
    case EM_ERROR_UNAVAILABLE:
      return 503;
    case EM_ERROR_FAILED:
    default:
      return 500;
    }
}

const char *
em_error_to_http_title (const GError *error)
{
  switch (em_error_to_http_status (error))
    {
    case 400:
      return _("Invalid request");
    case 404:
      return _("Not found");
    case 409:
      return _("Conflict");
    case 503:
      return _("Service unavailable");
    default:
      return _("Internal error");
    }
}
