#define G_LOG_DOMAIN "em-devices"

#include "config.h"

#include <math.h>
#include <string.h>

#include <gst/video/video.h>

#include "devices/em-focus.h"
#include "devices/em-sim-src.h"
#include "devices/em-stage.h"

/* properties are set from any thread and read by the streaming thread under the
 * object lock; the devices' positions are read through their own locks. The
 * streaming thread waits for a frame's due time first and renders afterwards, so
 * a frame shows where the stage and focus were when it was due, not a frame
 * earlier. */

#define DEFAULT_WIDTH    640
#define DEFAULT_HEIGHT   480
#define DEFAULT_FPS      30
#define DEFAULT_EXPOSURE 10.0
#define MAX_RENDERS      3

typedef struct {
  EmSimSpecimen specimen;
  EmSimView     view;
  gboolean      noise;
} Snapshot;

struct _EmSimSrc
{
  GstPushSrc     parent_instance;

  /* object lock */
  EmStage       *stage;
  EmFocus       *focus;
  gdouble        x;
  gdouble        y;
  gdouble        z;
  gdouble        exposure_ms;
  gdouble        gain_db;
  gboolean       noise;
  EmSimSpecimen  specimen;
  GstClockID     clock_id;
  gboolean       flushing;

  /* streaming thread */
  GstVideoInfo   info;
  gboolean       have_info;
  GstClockTime   next_time;
  guint64        n_frames;
  GstBuffer     *cached;
  Snapshot       cached_snapshot;
};

G_DEFINE_FINAL_TYPE (EmSimSrc, em_sim_src, GST_TYPE_PUSH_SRC)

enum {
  PROP_0,
  PROP_STAGE,
  PROP_FOCUS,
  PROP_X,
  PROP_Y,
  PROP_Z,
  PROP_EXPOSURE,
  PROP_GAIN,
  PROP_SEED,
  PROP_PIXEL_SIZE,
  PROP_FOCAL_PLANE,
  PROP_TILT_X,
  PROP_TILT_Y,
  PROP_BLUR,
  PROP_NOISE,
  N_PROPS
};

static GParamSpec *properties[N_PROPS];

#if G_BYTE_ORDER == G_LITTLE_ENDIAN
#define GRAY16 "GRAY16_LE"
#else
#define GRAY16 "GRAY16_BE"
#endif

static GstStaticPadTemplate src_template =
  GST_STATIC_PAD_TEMPLATE ("src", GST_PAD_SRC, GST_PAD_ALWAYS,
                           GST_STATIC_CAPS ("video/x-raw, "
                                            "format = (string) { " GRAY16 ", GRAY8, RGB }, "
                                            "width = (int) [ 16, 8192 ], "
                                            "height = (int) [ 16, 8192 ], "
                                            "framerate = (fraction) [ 1/1, 240/1 ]"));

static void
take_snapshot (EmSimSrc *self, Snapshot *snapshot)
{
  memset (snapshot, 0, sizeof *snapshot);

  GST_OBJECT_LOCK (self);
  snapshot->specimen = self->specimen;
  snapshot->noise = self->noise;
  snapshot->view.exposure_ms = self->exposure_ms;
  snapshot->view.gain_db = self->gain_db;
  if (self->stage != NULL)
    {
      EmStagePosition position;

      em_stage_get_position (self->stage, &position);
      snapshot->view.x = position.x;
      snapshot->view.y = position.y;
    }
  else
    {
      snapshot->view.x = self->x;
      snapshot->view.y = self->y;
    }
  snapshot->view.focus = self->focus != NULL ? em_focus_get_position (self->focus) : self->z;
  GST_OBJECT_UNLOCK (self);
}

static gboolean
snapshot_equal (const Snapshot *a, const Snapshot *b)
{
  return a->noise == b->noise &&
         a->specimen.seed == b->specimen.seed &&
         a->specimen.pixel_size == b->specimen.pixel_size &&
         a->specimen.focal_plane == b->specimen.focal_plane &&
         a->specimen.tilt_x == b->specimen.tilt_x &&
         a->specimen.tilt_y == b->specimen.tilt_y &&
         a->specimen.blur_per_um == b->specimen.blur_per_um &&
         a->view.x == b->view.x &&
         a->view.y == b->view.y &&
         a->view.focus == b->view.focus &&
         a->view.exposure_ms == b->view.exposure_ms &&
         a->view.gain_db == b->view.gain_db;
}

static GstBuffer *
render (EmSimSrc *self, const Snapshot *snapshot)
{
  guint width = GST_VIDEO_INFO_WIDTH (&self->info);
  guint height = GST_VIDEO_INFO_HEIGHT (&self->info);
  g_autofree gfloat *radiance = g_new (gfloat, (gsize) width * height);
  g_autofree guint16 *pixels = g_new (guint16, (gsize) width * height);
  GstBuffer *buffer = gst_buffer_new_allocate (NULL, GST_VIDEO_INFO_SIZE (&self->info), NULL);
  GstVideoFrame frame;

  em_sim_specimen_render_radiance (&snapshot->specimen, &snapshot->view, width, height, radiance);
  em_sim_specimen_expose (&snapshot->specimen, &snapshot->view, radiance, width, height,
                          snapshot->noise, pixels);

  if (!gst_video_frame_map (&frame, &self->info, buffer, GST_MAP_WRITE))
    {
      gst_buffer_unref (buffer);
      return NULL;
    }

  for (guint j = 0; j < height; j++)
    {
      guint8 *row = (guint8 *) GST_VIDEO_FRAME_PLANE_DATA (&frame, 0) +
                    (gsize) j * GST_VIDEO_FRAME_PLANE_STRIDE (&frame, 0);
      const guint16 *in = pixels + (gsize) j * width;

      switch (GST_VIDEO_INFO_FORMAT (&self->info))
        {
        case GST_VIDEO_FORMAT_GRAY8:
          for (guint i = 0; i < width; i++)
            row[i] = (guint8) (in[i] >> 8);
          break;
        case GST_VIDEO_FORMAT_RGB:
          for (guint i = 0; i < width; i++)
            row[3 * i] = row[3 * i + 1] = row[3 * i + 2] = (guint8) (in[i] >> 8);
          break;
        default:
          /* GRAY16 in host order, which is what the caps say */
          memcpy (row, in, (gsize) width * sizeof (guint16));
          break;
        }
    }
  gst_video_frame_unmap (&frame);
  return buffer;
}

/* waits until @running_time on the pipeline clock; FALSE when unlocked */
static gboolean
wait_until (EmSimSrc *self, GstClockTime running_time)
{
  g_autoptr(GstClock) clock = gst_element_get_clock (GST_ELEMENT (self));
  GstClockTime base_time = gst_element_get_base_time (GST_ELEMENT (self));
  GstClockID id;
  GstClockReturn ret;
  gboolean flushing;

  if (clock == NULL)
    return TRUE;

  GST_OBJECT_LOCK (self);
  if (self->flushing)
    {
      GST_OBJECT_UNLOCK (self);
      return FALSE;
    }
  id = self->clock_id = gst_clock_new_single_shot_id (clock, base_time + running_time);
  GST_OBJECT_UNLOCK (self);

  ret = gst_clock_id_wait (id, NULL);

  GST_OBJECT_LOCK (self);
  self->clock_id = NULL;
  flushing = self->flushing;
  GST_OBJECT_UNLOCK (self);
  gst_clock_id_unref (id);

  return ret != GST_CLOCK_UNSCHEDULED && !flushing;
}

static GstClockTime
running_time_now (EmSimSrc *self)
{
  g_autoptr(GstClock) clock = gst_element_get_clock (GST_ELEMENT (self));
  GstClockTime base_time = gst_element_get_base_time (GST_ELEMENT (self));
  GstClockTime now;

  if (clock == NULL)
    return GST_CLOCK_TIME_NONE;
  now = gst_clock_get_time (clock);
  return now > base_time ? now - base_time : 0;
}

static GstFlowReturn
em_sim_src_create (GstPushSrc *push_src, GstBuffer **out_buffer)
{
  EmSimSrc *self = EM_SIM_SRC (push_src);
  GstClockTime duration;
  GstClockTime now;
  GstClockTime taken;
  GstClockTime shown;
  GstBuffer *buffer;
  Snapshot snapshot;

  if (!self->have_info)
    return GST_FLOW_NOT_NEGOTIATED;

  duration = gst_util_uint64_scale_int (GST_SECOND, GST_VIDEO_INFO_FPS_D (&self->info),
                                        MAX (GST_VIDEO_INFO_FPS_N (&self->info), 1));

  /* after a pause, or a render that took longer than a frame, skip what was missed */
  now = running_time_now (self);
  if (GST_CLOCK_TIME_IS_VALID (now) && now > self->next_time + duration)
    self->next_time = now;
  if (!wait_until (self, self->next_time))
    return GST_FLOW_FLUSHING;

  /* render from the positions of now; when they changed while rendering (the
   * stage still moving), render again so the frame is never older than its send */
  /* the time is read first: a frame never claims to be newer than its positions */
  taken = running_time_now (self);
  take_snapshot (self, &snapshot);
  shown = taken;
  for (guint attempt = 0; attempt < MAX_RENDERS; attempt++)
    {
      Snapshot after;

      if (self->cached != NULL && snapshot_equal (&snapshot, &self->cached_snapshot))
        {
          shown = taken;
          break;
        }

      gst_clear_buffer (&self->cached);
      self->cached = render (self, &snapshot);
      if (self->cached == NULL)
        {
          GST_ELEMENT_ERROR (self, RESOURCE, FAILED, ("Cannot map a video frame"), (NULL));
          return GST_FLOW_ERROR;
        }
      self->cached_snapshot = snapshot;
      shown = taken;

      taken = running_time_now (self);
      take_snapshot (self, &after);
      if (snapshot_equal (&snapshot, &after))
        break;
      snapshot = after;
    }

  /* shares the pixels: downstream never writes into a buffer it does not own.
   * The timestamp is when the positions were read, so a camera can tell a
   * frame of the sample as it was from one of the sample as it is. */
  buffer = gst_buffer_copy (self->cached);
  GST_BUFFER_PTS (buffer) = GST_CLOCK_TIME_IS_VALID (shown) ? shown : self->next_time;
  GST_BUFFER_DTS (buffer) = GST_CLOCK_TIME_NONE;
  GST_BUFFER_DURATION (buffer) = duration;
  GST_BUFFER_OFFSET (buffer) = self->n_frames;
  GST_BUFFER_OFFSET_END (buffer) = self->n_frames + 1;
  self->n_frames++;
  self->next_time += duration;

  *out_buffer = buffer;
  return GST_FLOW_OK;
}

static GstCaps *
em_sim_src_fixate (GstBaseSrc *base_src, GstCaps *caps)
{
  static const char *preferred[] = { GRAY16, "GRAY8", "RGB" };
  GstStructure *structure;

  /* a monochrome sensor: its full depth when downstream takes it, whatever
   * order downstream listed its formats in */
  for (guint k = 0; k < G_N_ELEMENTS (preferred); k++)
    {
      g_autoptr(GstCaps) format = gst_caps_new_simple ("video/x-raw", "format", G_TYPE_STRING,
                                                       preferred[k], NULL);
      GstCaps *narrowed = gst_caps_intersect (caps, format);

      if (!gst_caps_is_empty (narrowed))
        {
          gst_caps_unref (caps);
          caps = narrowed;
          break;
        }
      gst_caps_unref (narrowed);
    }

  caps = gst_caps_truncate (gst_caps_make_writable (caps));
  structure = gst_caps_get_structure (caps, 0);
  gst_structure_fixate_field_nearest_int (structure, "width", DEFAULT_WIDTH);
  gst_structure_fixate_field_nearest_int (structure, "height", DEFAULT_HEIGHT);
  gst_structure_fixate_field_nearest_fraction (structure, "framerate", DEFAULT_FPS, 1);

  return GST_BASE_SRC_CLASS (em_sim_src_parent_class)->fixate (base_src, caps);
}

static gboolean
em_sim_src_set_caps (GstBaseSrc *base_src, GstCaps *caps)
{
  EmSimSrc *self = EM_SIM_SRC (base_src);
  GstVideoInfo info;

  if (!gst_video_info_from_caps (&info, caps))
    return FALSE;

  self->info = info;
  self->have_info = TRUE;
  gst_clear_buffer (&self->cached);
  return TRUE;
}

static gboolean
em_sim_src_query (GstBaseSrc *base_src, GstQuery *query)
{
  EmSimSrc *self = EM_SIM_SRC (base_src);

  if (GST_QUERY_TYPE (query) == GST_QUERY_LATENCY && self->have_info &&
      GST_VIDEO_INFO_FPS_N (&self->info) > 0)
    {
      /* a frame is sent when it is due: one frame of latency */
      GstClockTime latency = gst_util_uint64_scale_int (GST_SECOND, GST_VIDEO_INFO_FPS_D (&self->info),
                                                        GST_VIDEO_INFO_FPS_N (&self->info));

      gst_query_set_latency (query, TRUE, latency, latency);
      return TRUE;
    }
  return GST_BASE_SRC_CLASS (em_sim_src_parent_class)->query (base_src, query);
}

static gboolean
em_sim_src_start (GstBaseSrc *base_src)
{
  EmSimSrc *self = EM_SIM_SRC (base_src);

  self->next_time = 0;
  self->n_frames = 0;
  gst_clear_buffer (&self->cached);
  return TRUE;
}

static gboolean
em_sim_src_stop (GstBaseSrc *base_src)
{
  EmSimSrc *self = EM_SIM_SRC (base_src);

  gst_clear_buffer (&self->cached);
  self->have_info = FALSE;
  return TRUE;
}

static gboolean
em_sim_src_unlock (GstBaseSrc *base_src)
{
  EmSimSrc *self = EM_SIM_SRC (base_src);

  GST_OBJECT_LOCK (self);
  self->flushing = TRUE;
  if (self->clock_id != NULL)
    gst_clock_id_unschedule (self->clock_id);
  GST_OBJECT_UNLOCK (self);
  return TRUE;
}

static gboolean
em_sim_src_unlock_stop (GstBaseSrc *base_src)
{
  EmSimSrc *self = EM_SIM_SRC (base_src);

  GST_OBJECT_LOCK (self);
  self->flushing = FALSE;
  GST_OBJECT_UNLOCK (self);
  return TRUE;
}

static void
em_sim_src_dispose (GObject *object)
{
  EmSimSrc *self = EM_SIM_SRC (object);
  EmStage *stage;
  EmFocus *focus;

  GST_OBJECT_LOCK (self);
  stage = g_steal_pointer (&self->stage);
  focus = g_steal_pointer (&self->focus);
  GST_OBJECT_UNLOCK (self);
  g_clear_object (&stage);
  g_clear_object (&focus);
  gst_clear_buffer (&self->cached);

  G_OBJECT_CLASS (em_sim_src_parent_class)->dispose (object);
}

static gdouble *
double_field (EmSimSrc *self, guint prop_id)
{
  switch (prop_id)
    {
    case PROP_X: return &self->x;
    case PROP_Y: return &self->y;
    case PROP_Z: return &self->z;
    case PROP_EXPOSURE: return &self->exposure_ms;
    case PROP_GAIN: return &self->gain_db;
    case PROP_PIXEL_SIZE: return &self->specimen.pixel_size;
    case PROP_FOCAL_PLANE: return &self->specimen.focal_plane;
    case PROP_TILT_X: return &self->specimen.tilt_x;
    case PROP_TILT_Y: return &self->specimen.tilt_y;
    case PROP_BLUR: return &self->specimen.blur_per_um;
    default: return NULL;
    }
}

static void
em_sim_src_get_property (GObject    *object,
                         guint       prop_id,
                         GValue     *value,
                         GParamSpec *pspec)
{
  EmSimSrc *self = EM_SIM_SRC (object);
  gdouble *field = double_field (self, prop_id);

  GST_OBJECT_LOCK (self);
  if (field != NULL)
    {
      g_value_set_double (value, *field);
    }
  else
    {
      switch (prop_id)
        {
        case PROP_STAGE:
          g_value_set_object (value, self->stage);
          break;
        case PROP_FOCUS:
          g_value_set_object (value, self->focus);
          break;
        case PROP_SEED:
          g_value_set_uint (value, self->specimen.seed);
          break;
        case PROP_NOISE:
          g_value_set_boolean (value, self->noise);
          break;
        default:
          G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
        }
    }
  GST_OBJECT_UNLOCK (self);
}

static void
em_sim_src_set_property (GObject      *object,
                         guint         prop_id,
                         const GValue *value,
                         GParamSpec   *pspec)
{
  EmSimSrc *self = EM_SIM_SRC (object);
  gdouble *field = double_field (self, prop_id);
  GObject *old_device = NULL;

  GST_OBJECT_LOCK (self);
  if (field != NULL)
    {
      *field = g_value_get_double (value);
    }
  else
    {
      switch (prop_id)
        {
        case PROP_STAGE:
          old_device = G_OBJECT (g_steal_pointer (&self->stage));
          self->stage = g_value_dup_object (value);
          break;
        case PROP_FOCUS:
          old_device = G_OBJECT (g_steal_pointer (&self->focus));
          self->focus = g_value_dup_object (value);
          break;
        case PROP_SEED:
          self->specimen.seed = g_value_get_uint (value);
          break;
        case PROP_NOISE:
          self->noise = g_value_get_boolean (value);
          break;
        default:
          G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
        }
    }
  GST_OBJECT_UNLOCK (self);

  /* outside the lock: the last reference may run the device's dispose */
  g_clear_object (&old_device);
}

static GParamSpec *
double_param (const char *name, gdouble minimum, gdouble maximum, gdouble default_value)
{
  return g_param_spec_double (name, NULL, NULL, minimum, maximum, default_value,
                              G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_PLAYING);
}

static void
em_sim_src_class_init (EmSimSrcClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GstElementClass *element_class = GST_ELEMENT_CLASS (klass);
  GstBaseSrcClass *base_src_class = GST_BASE_SRC_CLASS (klass);
  GstPushSrcClass *push_src_class = GST_PUSH_SRC_CLASS (klass);

  object_class->dispose = em_sim_src_dispose;
  object_class->get_property = em_sim_src_get_property;
  object_class->set_property = em_sim_src_set_property;

  base_src_class->fixate = em_sim_src_fixate;
  base_src_class->set_caps = em_sim_src_set_caps;
  base_src_class->query = em_sim_src_query;
  base_src_class->start = em_sim_src_start;
  base_src_class->stop = em_sim_src_stop;
  base_src_class->unlock = em_sim_src_unlock;
  base_src_class->unlock_stop = em_sim_src_unlock_stop;
  push_src_class->create = em_sim_src_create;

  properties[PROP_STAGE] =
    g_param_spec_object ("stage", NULL, NULL, EM_TYPE_STAGE,
                         G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_PLAYING);
  properties[PROP_FOCUS] =
    g_param_spec_object ("focus", NULL, NULL, EM_TYPE_FOCUS,
                         G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_PLAYING);
  properties[PROP_X] = double_param ("x", -G_MAXDOUBLE, G_MAXDOUBLE, 0.0);
  properties[PROP_Y] = double_param ("y", -G_MAXDOUBLE, G_MAXDOUBLE, 0.0);
  properties[PROP_Z] = double_param ("z", -G_MAXDOUBLE, G_MAXDOUBLE, EM_SIM_DEFAULT_FOCAL_PLANE);
  properties[PROP_EXPOSURE] = double_param ("exposure", 0.001, 3600000.0, DEFAULT_EXPOSURE);
  properties[PROP_GAIN] = double_param ("gain", 0.0, 48.0, 0.0);
  properties[PROP_SEED] =
    g_param_spec_uint ("seed", NULL, NULL, 0, G_MAXUINT32, 1,
                       G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_PLAYING);
  properties[PROP_PIXEL_SIZE] = double_param ("pixel-size", 0.01, 100.0, EM_SIM_DEFAULT_PIXEL_SIZE);
  properties[PROP_FOCAL_PLANE] = double_param ("focal-plane", -G_MAXDOUBLE, G_MAXDOUBLE,
                                               EM_SIM_DEFAULT_FOCAL_PLANE);
  properties[PROP_TILT_X] = double_param ("tilt-x", -0.1, 0.1, EM_SIM_DEFAULT_TILT_X);
  properties[PROP_TILT_Y] = double_param ("tilt-y", -0.1, 0.1, EM_SIM_DEFAULT_TILT_Y);
  properties[PROP_BLUR] = double_param ("blur", 0.0, 10.0, EM_SIM_DEFAULT_BLUR);
  properties[PROP_NOISE] =
    g_param_spec_boolean ("noise", NULL, NULL, TRUE,
                          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_PLAYING);
  g_object_class_install_properties (object_class, N_PROPS, properties);

  gst_element_class_add_static_pad_template (element_class, &src_template);
  gst_element_class_set_static_metadata (element_class, "Simulated microscope", "Source/Video",
                                         "A synthetic specimen seen through a stage and a focus drive",
                                         "Engine Manager");
}

static void
em_sim_src_init (EmSimSrc *self)
{
  em_sim_specimen_init_defaults (&self->specimen);
  self->z = EM_SIM_DEFAULT_FOCAL_PLANE;
  self->exposure_ms = DEFAULT_EXPOSURE;
  self->noise = TRUE;

  gst_base_src_set_live (GST_BASE_SRC (self), TRUE);
  gst_base_src_set_format (GST_BASE_SRC (self), GST_FORMAT_TIME);
}

gboolean
em_sim_src_register (void)
{
  static gsize registered = 0;

  if (g_once_init_enter (&registered))
    {
      gboolean ok = gst_element_register (NULL, EM_SIM_SRC_NAME, GST_RANK_NONE, EM_TYPE_SIM_SRC);

      if (!ok)
        g_warning ("Cannot register the %s element", EM_SIM_SRC_NAME);
      g_once_init_leave (&registered, ok ? 1 : 2);
    }
  return registered == 1;
}

void
em_sim_src_get_specimen (EmSimSrc *self, EmSimSpecimen *out_specimen)
{
  g_return_if_fail (EM_IS_SIM_SRC (self));

  GST_OBJECT_LOCK (self);
  *out_specimen = self->specimen;
  GST_OBJECT_UNLOCK (self);
}
