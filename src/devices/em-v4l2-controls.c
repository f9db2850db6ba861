#define G_LOG_DOMAIN "em-devices"

#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <glib/gi18n.h>
#include <linux/videodev2.h>

#include "devices/em-v4l2-controls.h"
#include "engine/em-error.h"

typedef struct {
  guint32  id;
  char    *name;
  gint64   minimum;
  gint64   maximum;
  gint64   step;
} Control;

struct _EmV4l2Controls
{
  GArray *controls;
};

static void
control_clear (gpointer data)
{
  Control *control = data;

  g_free (control->name);
}

EmV4l2Controls *
em_v4l2_controls_new (void)
{
  EmV4l2Controls *self = g_new0 (EmV4l2Controls, 1);

  self->controls = g_array_new (FALSE, FALSE, sizeof (Control));
  g_array_set_clear_func (self->controls, control_clear);
  return self;
}

void
em_v4l2_controls_free (EmV4l2Controls *self)
{
  if (self == NULL)
    return;
  g_array_unref (self->controls);
  g_free (self);
}

char *
em_v4l2_normalise_control_name (const char *driver_name)
{
  GString *name = g_string_new (NULL);

  for (const char *p = driver_name; *p != '\0'; p++)
    {
      if (!g_ascii_isalnum (*p))
        continue;
      if (name->len > 0 && !g_ascii_isalnum (p[-1]))
        g_string_append_c (name, '_');
      g_string_append_c (name, g_ascii_tolower (*p));
    }
  return g_string_free (name, FALSE);
}

void
em_v4l2_controls_add (EmV4l2Controls *self,
                      guint32         id,
                      const char     *driver_name,
                      gint64          minimum,
                      gint64          maximum,
                      gint64          step)
{
  Control control = {
    .id = id,
    .name = em_v4l2_normalise_control_name (driver_name),
    .minimum = minimum,
    .maximum = maximum,
    .step = MAX (step, 1),
  };

  g_array_append_val (self->controls, control);
}

static const Control *
find (const EmV4l2Controls *self, guint32 id)
{
  for (guint i = 0; i < self->controls->len; i++)
    {
      const Control *control = &g_array_index (self->controls, Control, i);

      if (control->id == id)
        return control;
    }
  return NULL;
}

const char *
em_v4l2_controls_get_name (const EmV4l2Controls *self, guint32 id)
{
  const Control *control = find (self, id);

  return control != NULL ? control->name : NULL;
}

EmV4l2Controls *
em_v4l2_controls_query (const char *device, GError **error)
{
  g_autoptr(EmV4l2Controls) self = NULL;
  struct v4l2_queryctrl query = { 0 };
  int fd;

  fd = open (device, O_RDWR | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0)
    fd = open (device, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0)
    {
      int saved_errno = errno;

      g_set_error (error, EM_ERROR, EM_ERROR_UNAVAILABLE, _("Cannot open %s: %s"),
                   device, g_strerror (saved_errno));
      return NULL;
    }

  self = em_v4l2_controls_new ();
  query.id = V4L2_CTRL_FLAG_NEXT_CTRL;
  while (ioctl (fd, VIDIOC_QUERYCTRL, &query) == 0)
    {
      if ((query.flags & V4L2_CTRL_FLAG_DISABLED) == 0 && query.type != V4L2_CTRL_TYPE_CTRL_CLASS)
        {
          char name[sizeof query.name + 1] = { 0 };

          memcpy (name, query.name, sizeof query.name);
          em_v4l2_controls_add (self, query.id, name, query.minimum, query.maximum, query.step);
          g_debug ("%s offers control %s (%d to %d, step %d)", device, name, query.minimum,
                   query.maximum, query.step);
        }
      query.id |= V4L2_CTRL_FLAG_NEXT_CTRL;
    }
  close (fd);
  return g_steal_pointer (&self);
}

/* sets @id to @value, clamped to its range and rounded to its steps as the
 * kernel would (half a step up); TRUE when it needed neither: a driver does
 * not take a gain of 6 for a control that goes in steps of 4, it sets 8 */
static gboolean
set_control (const EmV4l2Controls *self, GstStructure *controls, guint32 id, gint64 value)
{
  const Control *control = find (self, id);
  gint64 clamped;

  if (control == NULL)
    return FALSE;
  clamped = CLAMP (value, control->minimum, control->maximum);
  clamped = control->minimum + (clamped - control->minimum + control->step / 2) / control->step * control->step;
  if (clamped > control->maximum)
    clamped -= control->step;
  gst_structure_set (controls, control->name, G_TYPE_INT, (gint) clamped, NULL);
  if (clamped != value)
    g_debug ("%s = %" G_GINT64_FORMAT " is not one of %" G_GINT64_FORMAT " to %" G_GINT64_FORMAT
             " in steps of %" G_GINT64_FORMAT "; %" G_GINT64_FORMAT " instead",
             control->name, value, control->minimum, control->maximum, control->step, clamped);
  return clamped == value;
}

/* the nearest whole number; a value past a control's 32-bit range stays past
 * it: llround() of one past 64 bits is undefined (LLONG_MIN on x86), which
 * would set a huge gain to the control's minimum instead of its maximum */
static gint64
round_to_int64 (gdouble value)
{
  return llround (CLAMP (value, (gdouble) G_MININT32 * 4.0, (gdouble) G_MAXINT32 * 4.0));
}

/* whether rounding @value to a control's integer leaves it as asked, give or
 * take what the decimal→binary conversion adds (0.3 ms × 10 is not quite 3) */
static gboolean
is_whole (gdouble value)
{
  return fabs (value - round (value)) < 1e-6;
}

void
em_v4l2_controls_map (const EmV4l2Controls *self,
                      GstStructure         *controls,
                      gdouble               exposure_ms,
                      gdouble               gain,
                      gboolean             *out_exposure_applied,
                      gboolean             *out_gain_applied)
{
  gboolean exposure_applied = FALSE;
  gboolean gain_applied = FALSE;
  guint32 gain_id = find (self, V4L2_CID_GAIN) != NULL ? V4L2_CID_GAIN : V4L2_CID_ANALOGUE_GAIN;

  /* absolute exposure counts 100 µs units; it only holds in manual mode */
  if (find (self, V4L2_CID_EXPOSURE_ABSOLUTE) != NULL)
    {
      gint64 units = round_to_int64 (exposure_ms * 10.0);

      set_control (self, controls, V4L2_CID_EXPOSURE_AUTO, V4L2_EXPOSURE_MANUAL);
      /* under half a unit is raised to one: clamped as much as past the range */
      exposure_applied = set_control (self, controls, V4L2_CID_EXPOSURE_ABSOLUTE, MAX (1, units)) &&
                         units >= 1 && is_whole (exposure_ms * 10.0);
    }

  /* gain has no standard unit: the driver's own, in whole steps */
  if (find (self, gain_id) != NULL)
    {
      set_control (self, controls, V4L2_CID_AUTOGAIN, 0);
      gain_applied = set_control (self, controls, gain_id, round_to_int64 (gain)) &&
                     is_whole (gain);
    }

  *out_exposure_applied = exposure_applied;
  *out_gain_applied = gain_applied;
}
