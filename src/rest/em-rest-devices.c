#define G_LOG_DOMAIN "em-rest"

#include "config.h"

#include "devices/em-device-set.h"
#include "devices/em-gst-camera.h"
#include "rest/em-problem.h"
#include "rest/em-rest-devices.h"

static void
add_xyz (JsonBuilder           *builder,
         const char            *name,
         const EmStagePosition *position)
{
  json_builder_set_member_name (builder, name);
  json_builder_begin_object (builder);
  json_builder_set_member_name (builder, "x");
  json_builder_add_double_value (builder, position->x);
  json_builder_set_member_name (builder, "y");
  json_builder_add_double_value (builder, position->y);
  json_builder_set_member_name (builder, "z");
  json_builder_add_double_value (builder, position->z);
  json_builder_end_object (builder);
}

static void
describe_camera (JsonBuilder *builder,
                 EmCamera    *camera)
{
  json_builder_set_member_name (builder, "camera");
  if (camera == NULL)
    {
      json_builder_add_null_value (builder);
      return;
    }
  json_builder_begin_object (builder);
  json_builder_set_member_name (builder, "kind");
  json_builder_add_string_value (builder, EM_IS_GST_CAMERA (camera) ? "gstreamer" : "other");
  json_builder_set_member_name (builder, "source");
  if (EM_IS_GST_CAMERA (camera))
    json_builder_add_string_value (builder,
                                   em_gst_camera_get_source_description (EM_GST_CAMERA (camera)));
  else
    json_builder_add_null_value (builder);
  json_builder_set_member_name (builder, "width");
  if (EM_IS_GST_CAMERA (camera))
    json_builder_add_int_value (builder, em_gst_camera_get_width (EM_GST_CAMERA (camera)));
  else
    json_builder_add_null_value (builder);
  json_builder_set_member_name (builder, "height");
  if (EM_IS_GST_CAMERA (camera))
    json_builder_add_int_value (builder, em_gst_camera_get_height (EM_GST_CAMERA (camera)));
  else
    json_builder_add_null_value (builder);
  json_builder_set_member_name (builder, "capturing");
  json_builder_add_boolean_value (builder, em_camera_is_capturing (camera));
  json_builder_end_object (builder);
}

static void
describe_stage (JsonBuilder *builder,
                EmStage     *stage)
{
  EmStagePosition position, min, max;

  json_builder_set_member_name (builder, "stage");
  if (stage == NULL)
    {
      json_builder_add_null_value (builder);
      return;
    }
  em_stage_get_position (stage, &position);
  em_stage_get_limits (stage, &min, &max);
  json_builder_begin_object (builder);
  add_xyz (builder, "position", &position);
  json_builder_set_member_name (builder, "limits");
  json_builder_begin_object (builder);
  add_xyz (builder, "min", &min);
  add_xyz (builder, "max", &max);
  json_builder_end_object (builder);
  json_builder_set_member_name (builder, "default_speed");
  json_builder_add_double_value (builder, em_stage_get_default_speed (stage));
  json_builder_set_member_name (builder, "moving");
  json_builder_add_boolean_value (builder, em_stage_is_moving (stage));
  json_builder_end_object (builder);
}

static void
describe_focus (JsonBuilder *builder,
                EmFocus     *focus)
{
  gdouble min, max;

  json_builder_set_member_name (builder, "focus");
  if (focus == NULL)
    {
      json_builder_add_null_value (builder);
      return;
    }
  em_focus_get_limits (focus, &min, &max);
  json_builder_begin_object (builder);
  json_builder_set_member_name (builder, "position");
  json_builder_add_double_value (builder, em_focus_get_position (focus));
  json_builder_set_member_name (builder, "limits");
  json_builder_begin_object (builder);
  json_builder_set_member_name (builder, "min");
  json_builder_add_double_value (builder, min);
  json_builder_set_member_name (builder, "max");
  json_builder_add_double_value (builder, max);
  json_builder_end_object (builder);
  json_builder_set_member_name (builder, "default_speed");
  json_builder_add_double_value (builder, em_focus_get_default_speed (focus));
  json_builder_set_member_name (builder, "moving");
  json_builder_add_boolean_value (builder, em_focus_is_moving (focus));
  json_builder_end_object (builder);
}

JsonNode *
em_rest_devices_describe (EmEngineManager *manager)
{
  EmDeviceSet *devices = em_engine_manager_get_devices (manager);
  g_autoptr(JsonBuilder) builder = json_builder_new_immutable ();

  json_builder_begin_object (builder);
  describe_camera (builder, devices != NULL ? em_device_set_get_camera (devices) : NULL);
  describe_stage (builder, devices != NULL ? em_device_set_get_stage (devices) : NULL);
  describe_focus (builder, devices != NULL ? em_device_set_get_focus (devices) : NULL);
  json_builder_end_object (builder);
  return json_builder_get_root (builder);
}

void
em_rest_devices_handle (EmEngineManager   *manager,
                        SoupServerMessage *msg)
{
  g_autoptr(JsonNode) root = em_rest_devices_describe (manager);

  em_rest_respond_json (msg, 200, root);
}
