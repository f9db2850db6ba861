#define G_LOG_DOMAIN "em-actions"

#include "config.h"

#include "actions/em-image-metadata.h"
#include "engine/em-time.h"

JsonObject *
em_image_metadata_new (EmFrame               *frame,
                       const EmStagePosition *stage,
                       const gdouble         *focus)
{
  JsonObject *metadata = json_object_new ();
  JsonObject *applied = json_object_new ();
  gint64 taken_us = em_frame_get_timestamp (frame);
  g_autoptr(GDateTime) taken_s = g_date_time_new_from_unix_utc (taken_us / G_USEC_PER_SEC);
  g_autoptr(GDateTime) taken = g_date_time_add (taken_s, taken_us % G_USEC_PER_SEC);
  g_autofree char *timestamp = em_time_format (taken);
  gboolean exposure_applied;
  gboolean gain_applied;
  gdouble exposure = em_frame_get_exposure (frame, &exposure_applied);
  gdouble gain = em_frame_get_gain (frame, &gain_applied);
  gdouble pixel_size = em_frame_get_pixel_size (frame);

  json_object_set_string_member (metadata, "timestamp", timestamp);
  json_object_set_int_member (metadata, "width", em_frame_get_width (frame));
  json_object_set_int_member (metadata, "height", em_frame_get_height (frame));
  json_object_set_int_member (metadata, "bit_depth", em_frame_get_bit_depth (frame));
  json_object_set_int_member (metadata, "channels", em_frame_get_channels (frame));
  json_object_set_double_member (metadata, "exposure", exposure);
  json_object_set_double_member (metadata, "gain", gain);
  json_object_set_boolean_member (applied, "exposure", exposure_applied);
  json_object_set_boolean_member (applied, "gain", gain_applied);
  json_object_set_object_member (metadata, "applied", applied);

  if (stage != NULL)
    {
      JsonObject *position = json_object_new ();

      json_object_set_double_member (position, "x", stage->x);
      json_object_set_double_member (position, "y", stage->y);
      json_object_set_double_member (position, "z", stage->z);
      json_object_set_object_member (metadata, "stage_position", position);
    }
  else
    {
      json_object_set_null_member (metadata, "stage_position");
    }
  if (focus != NULL)
    json_object_set_double_member (metadata, "focus_position", *focus);
  else
    json_object_set_null_member (metadata, "focus_position");
  if (pixel_size > 0.0)
    json_object_set_double_member (metadata, "pixel_size", pixel_size);
  else
    json_object_set_null_member (metadata, "pixel_size");
  json_object_set_string_member (metadata, "software", "Engine Manager " PACKAGE_VERSION);

  return metadata;
}
