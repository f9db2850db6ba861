#define G_LOG_DOMAIN "em-devices"

#include "config.h"

#include <string.h>

#include <glib/gi18n.h>
#include <gst/app/gstappsink.h>
#include <gst/base/gstbasesrc.h>
#include <gst/video/video.h>

#include "devices/em-gst-camera.h"
#include "devices/em-gst-pixel-size.h"
#include "devices/em-gst-source-controls.h"
#include "devices/em-sim-src.h"
#include "engine/em-error.h"

/* a capture waits out its exposure on a main-context timer, then takes the next
 * frame the live pipeline delivers. frames arrive on the streaming thread, which
 * only copies the pixels and hands them over under the lock; everything else,
 * bus messages included, happens on the main context, except what talks to the
 * device: building a pipeline loads plugins and creates the source (aravissrc
 * looks for its camera as soon as it has a name), starting it opens the device
 * (a v4l2 probe, a GenICam discovery), applying a capture's exposure and gain is
 * an ioctl or a network round trip, and stopping a pipeline joins its streaming
 * threads, any of which can take seconds, so a worker runs them. */

#define SINK_NAME            "em_camera_sink"
#define PROGRESS_INTERVAL_MS 50
#define FRAME_TIMEOUT_S      5
/* and a second more per this many pixels: a camera reads out, and the
 * simulator renders, a large frame for longer (a first capture at 8192 ×
 * 8192 took the simulator 18 s on two cores, pipeline start included) */
#define FRAME_TIMEOUT_PIXELS_PER_S 2000000

/* the formats a capture keeps: colour as RGB, monochrome at the source's depth */
#if G_BYTE_ORDER == G_LITTLE_ENDIAN
#define OUTPUT_FORMATS "{ RGB, GRAY16_LE, GRAY8 }"
#else
#define OUTPUT_FORMATS "{ RGB, GRAY16_BE, GRAY8 }"
#endif

struct _EmGstCamera
{
  EmCamera      parent_instance;

  char         *source_description;
  gboolean      stale;   /* the description changed while a capture was in flight */
  guint         width;
  guint         height;
  gdouble       pixel_size;
  EmStage      *stage;
  EmFocus      *focus;

  GMainContext *context;
  GSource      *frame_source;   /* woken from the streaming thread */
  GstElement   *pipeline;       /* NULL until built, and after an error */
  GstElement   *source;
  EmGstSourceControls *controls; /* NULL while starting */
  GSource      *bus_source;
  GTask        *pending;
  /* the worker has not answered the pipeline's start yet; a capture waits */
  gboolean      starting;
  GError       *start_error;    /* what the bus said meanwhile */
  guint32       start_error_seqnum;
  /* starts pipelines, applies controls and stops pipelines one at a time, in
   * order, so a device is released before the next pipeline opens it */
  GThreadPool  *worker;
  GSource      *answered_source; /* woken from the worker */

  /* shared with the streaming thread */
  GMutex        lock;
  gboolean      live;           /* whether frame timestamps are capture times */
  gboolean      armed;
  GstClockTime  not_before;     /* running time the capture started at */
  EmFrame      *frame;
  GPtrArray    *answered;       /* (element-type PipelineOp) starts and applications done */
};

G_DEFINE_FINAL_TYPE (EmGstCamera, em_gst_camera, EM_TYPE_CAMERA)

enum {
  PROP_0,
  PROP_SOURCE_DESCRIPTION,
  PROP_WIDTH,
  PROP_HEIGHT,
  PROP_PIXEL_SIZE,
  N_PROPS
};

static GParamSpec *properties[N_PROPS];

typedef struct _PipelineOp PipelineOp;

typedef struct
{
  gdouble         exposure_ms;
  gdouble         gain;
  PipelineOp     *applying;      /* the worker's step it waits for, if any */
  gboolean        exposure_applied;
  gboolean        gain_applied;
  gint64          started_us;
  GstClockTime    not_before;
  EmProgressFunc  progress;
  gpointer        progress_data;
  GSource        *exposure_timer;
  GSource        *frame_timeout;
  GSource        *cancel_source;
} Capture;

typedef enum {
  OP_START,
  OP_APPLY,
  OP_STOP,
} OpKind;

/* a step for the worker */
struct _PipelineOp
{
  OpKind               kind;
  GstElement          *pipeline;
  GstElement          *source;       /* what a start found */
  char                *description;  /* a start's source description */
  char                *launch;       /* a start's whole description, to parse */
  EmGstSourceControls *controls;     /* what a start found, what an application sets */
  gboolean             failed;       /* a start's */
  GError              *error;        /* GStreamer's reason, when it gave one */
  guint32              error_seqnum;
  gdouble              exposure_ms;  /* an application's */
  gdouble              gain;
  gboolean             exposure_applied;
  gboolean             gain_applied;
  gint64               applied_us;   /* monotonic time the source had them */
  GstClockTime         applied_at;   /* the same, as running time */
};

static PipelineOp *
pipeline_op_new (GstElement *pipeline, OpKind kind)
{
  PipelineOp *op = g_new0 (PipelineOp, 1);

  op->pipeline = gst_object_ref (pipeline);
  op->kind = kind;
  return op;
}

static void
pipeline_op_free (gpointer data)
{
  PipelineOp *op = data;

  gst_clear_object (&op->pipeline);
  gst_clear_object (&op->source);
  g_free (op->description);
  g_free (op->launch);
  g_clear_pointer (&op->controls, em_gst_source_controls_unref);
  g_clear_error (&op->error);
  g_free (op);
}

static void
clear_source (GSource **source)
{
  if (*source == NULL)
    return;
  g_source_destroy (*source);
  g_clear_pointer (source, g_source_unref);
}

static void
capture_free (gpointer data)
{
  Capture *capture = data;

  clear_source (&capture->exposure_timer);
  clear_source (&capture->frame_timeout);
  clear_source (&capture->cancel_source);
  g_free (capture);
}

static void
set_armed (EmGstCamera *self, gboolean armed, GstClockTime not_before)
{
  g_mutex_lock (&self->lock);
  self->armed = armed;
  self->not_before = not_before;
  /* a frame that arrived before arming is stale */
  g_clear_pointer (&self->frame, em_frame_unref);
  g_mutex_unlock (&self->lock);
}

/* µm per pixel at the sample: what emsimsrc renders, through what the
 * description and the camera's own scaling do to it, or what the camera was told */
static gdouble
effective_pixel_size (EmGstCamera *self)
{
  gdouble source_pixel_size = 0.0;

  if (self->source == NULL || !EM_IS_SIM_SRC (self->source))
    return self->pixel_size;

  g_object_get (self->source, "pixel-size", &source_pixel_size, NULL);
  return em_gst_pixel_size_at_sink (self->source, source_pixel_size);
}

static void     teardown        (EmGstCamera *self);
static gboolean ensure_pipeline (EmGstCamera *self, GError **error);

/* ends the capture in flight with @frame or @error (taken) */
static void
finish_capture (EmGstCamera *self, EmFrame *frame, GError *error)
{
  g_autoptr(GTask) task = g_steal_pointer (&self->pending);
  Capture *capture;

  if (task == NULL)
    {
      g_clear_error (&error);
      return;
    }

  capture = g_task_get_task_data (task);
  clear_source (&capture->exposure_timer);
  clear_source (&capture->frame_timeout);
  clear_source (&capture->cancel_source);
  set_armed (self, FALSE, GST_CLOCK_TIME_NONE);

  if (frame != NULL)
    {
      g_clear_error (&error);
      em_frame_set_exposure (frame, capture->exposure_ms, capture->exposure_applied);
      em_frame_set_gain (frame, capture->gain, capture->gain_applied);
      em_frame_set_pixel_size (frame, effective_pixel_size (self));
      g_task_return_pointer (task, em_frame_ref (frame), (GDestroyNotify) em_frame_unref);
    }
  else
    {
      g_task_return_error (task, error);
    }

  if (self->stale)
    {
      g_autoptr(GError) local_error = NULL;

      self->stale = FALSE;
      teardown (self);
      if (!ensure_pipeline (self, &local_error))
        g_warning ("%s", local_error->message);
    }
}

static void
teardown (EmGstCamera *self)
{
  clear_source (&self->bus_source);
  self->starting = FALSE;
  g_clear_error (&self->start_error);
  if (self->pipeline != NULL)
    {
      /* queued behind its own start and applications, if those are still
       * running; the next pipeline starts after it, so no frame of this one
       * reaches a capture */
      g_thread_pool_push (self->worker, pipeline_op_new (self->pipeline, OP_STOP), NULL);
      g_clear_pointer (&self->controls, em_gst_source_controls_unref);
      gst_clear_object (&self->source);
      gst_clear_object (&self->pipeline);
    }
  set_armed (self, FALSE, GST_CLOCK_TIME_NONE);
}

static EmFrame *
frame_from_sample (GstSample *sample)
{
  GstCaps *caps = gst_sample_get_caps (sample);
  GstBuffer *buffer = gst_sample_get_buffer (sample);
  GstVideoInfo info;
  GstVideoFrame video_frame;
  EmPixelFormat format;
  guint8 *pixels;
  gsize row_bytes;
  guint width, height;
  EmFrame *frame;

  if (caps == NULL || buffer == NULL || !gst_video_info_from_caps (&info, caps))
    return NULL;

  switch (GST_VIDEO_INFO_FORMAT (&info))
    {
    case GST_VIDEO_FORMAT_RGB:
      format = EM_PIXEL_FORMAT_RGB8;
      break;
    case GST_VIDEO_FORMAT_GRAY8:
      format = EM_PIXEL_FORMAT_GRAY8;
      break;
#if G_BYTE_ORDER == G_LITTLE_ENDIAN
    case GST_VIDEO_FORMAT_GRAY16_LE:
#else
    case GST_VIDEO_FORMAT_GRAY16_BE:
#endif
      format = EM_PIXEL_FORMAT_GRAY16;
      break;
    default:
      return NULL;
    }

  if (!gst_video_frame_map (&video_frame, &info, buffer, GST_MAP_READ))
    return NULL;

  width = GST_VIDEO_FRAME_WIDTH (&video_frame);
  height = GST_VIDEO_FRAME_HEIGHT (&video_frame);
  row_bytes = (gsize) width * em_pixel_format_get_channels (format) *
              (em_pixel_format_get_bit_depth (format) / 8);
  pixels = g_malloc (row_bytes * height);
  /* tightly packed rows: consumers need not know GStreamer's padding */
  for (guint row = 0; row < height; row++)
    memcpy (pixels + row * row_bytes,
            (const guint8 *) GST_VIDEO_FRAME_PLANE_DATA (&video_frame, 0) +
              (gsize) row * GST_VIDEO_FRAME_PLANE_STRIDE (&video_frame, 0),
            row_bytes);
  gst_video_frame_unmap (&video_frame);

  {
    g_autoptr(GBytes) bytes = g_bytes_new_take (pixels, row_bytes * height);

    frame = em_frame_new (format, width, height, row_bytes, bytes);
  }
  em_frame_set_timestamp (frame, g_get_real_time ());
  return frame;
}

/* when the frame was taken, as pipeline running time */
static GstClockTime
sample_running_time (GstSample *sample)
{
  GstBuffer *buffer = gst_sample_get_buffer (sample);
  const GstSegment *segment = gst_sample_get_segment (sample);

  if (buffer == NULL || segment == NULL || segment->format != GST_FORMAT_TIME ||
      !GST_BUFFER_PTS_IS_VALID (buffer))
    return GST_CLOCK_TIME_NONE;
  return gst_segment_to_running_time (segment, GST_FORMAT_TIME, GST_BUFFER_PTS (buffer));
}

/* streaming thread */
static GstFlowReturn
new_sample_cb (GstAppSink *sink, gpointer user_data)
{
  EmGstCamera *self = user_data;
  g_autoptr(GstSample) sample = gst_app_sink_pull_sample (sink);
  g_autoptr(EmFrame) frame = NULL;
  GstClockTime not_before;
  GstClockTime taken;
  gboolean armed;

  if (sample == NULL)
    return GST_FLOW_OK;

  g_mutex_lock (&self->lock);
  armed = self->armed;
  not_before = self->not_before;
  g_mutex_unlock (&self->lock);
  if (!armed)
    return GST_FLOW_OK;

  /* a frame exposed before the capture began shows the sample as it was then
   * (a stage still moving): wait for the next */
  taken = self->live ? sample_running_time (sample) : GST_CLOCK_TIME_NONE;
  if (GST_CLOCK_TIME_IS_VALID (taken) && GST_CLOCK_TIME_IS_VALID (not_before) && taken < not_before)
    {
      g_debug ("dropping a frame from %" GST_TIME_FORMAT ", before the capture began at %" GST_TIME_FORMAT,
               GST_TIME_ARGS (taken), GST_TIME_ARGS (not_before));
      return GST_FLOW_OK;
    }

  /* copy outside the lock; only the hand-over holds it */
  frame = frame_from_sample (sample);
  if (frame == NULL)
    {
      g_debug ("dropping a sample the camera cannot read");
      return GST_FLOW_OK;
    }

  g_mutex_lock (&self->lock);
  if (self->armed)
    {
      /* where the sample is as the frame arrives: by the time the main loop
       * gets to it, another task may have moved the stage */
      if (self->stage != NULL)
        {
          EmStagePosition position;

          em_stage_get_position (self->stage, &position);
          em_frame_set_stage_position (frame, position.x, position.y, position.z);
        }
      if (self->focus != NULL)
        em_frame_set_focus_position (frame, em_focus_get_position (self->focus));
      self->armed = FALSE;
      g_clear_pointer (&self->frame, em_frame_unref);
      self->frame = g_steal_pointer (&frame);
      g_source_set_ready_time (self->frame_source, 0);
    }
  g_mutex_unlock (&self->lock);

  return GST_FLOW_OK;
}

static gboolean
frame_source_dispatch (GSource     *source,
                       GSourceFunc  callback,
                       gpointer     user_data)
{
  /* reset before the callback reads the frame, so no wake-up is lost */
  g_source_set_ready_time (source, -1);
  return callback (user_data);
}

static GSourceFuncs frame_source_funcs = {
  .dispatch = frame_source_dispatch,
};

static gboolean
frame_ready_cb (gpointer user_data)
{
  EmGstCamera *self = user_data;
  g_autoptr(EmFrame) frame = NULL;

  g_mutex_lock (&self->lock);
  frame = g_steal_pointer (&self->frame);
  g_mutex_unlock (&self->lock);

  if (frame != NULL)
    finish_capture (self, frame, NULL);
  return G_SOURCE_CONTINUE;
}

/* GStreamer's message, plus the detail line of its debug text when there is one
 * (for a missing file or an unplugged device that is where the name is) */
static GError *
error_from_message (GstMessage *message)
{
  g_autoptr(GError) gst_error = NULL;
  g_autofree char *debug = NULL;
  const char *detail = NULL;

  gst_message_parse_error (message, &gst_error, &debug);
  g_debug ("camera pipeline error: %s", debug != NULL ? debug : "no debug details");
  if (debug != NULL && (detail = strchr (debug, '\n')) != NULL)
    detail = g_strstrip ((char *) detail + 1);

  if (detail != NULL && *detail != '\0')
    return g_error_new (EM_ERROR, EM_ERROR_FAILED, _("Camera error: %s (%s)"),
                        gst_error->message, detail);
  return g_error_new (EM_ERROR, EM_ERROR_FAILED, _("Camera error: %s"), gst_error->message);
}

static gboolean
bus_cb (GstBus *bus, GstMessage *message, gpointer user_data)
{
  EmGstCamera *self = user_data;
  g_autoptr(GError) gst_error = NULL;
  g_autofree char *debug = NULL;
  GError *error = NULL;

  switch (GST_MESSAGE_TYPE (message))
    {
    case GST_MESSAGE_ERROR:
      error = error_from_message (message);
      break;
    case GST_MESSAGE_EOS:
      error = g_error_new_literal (EM_ERROR, EM_ERROR_FAILED, _("The camera stream ended"));
      break;
    case GST_MESSAGE_WARNING:
      gst_message_parse_warning (message, &gst_error, &debug);
      g_debug ("camera pipeline warning: %s", gst_error->message);
      return G_SOURCE_CONTINUE;
    default:
      return G_SOURCE_CONTINUE;
    }

  /* the start's answer reports it */
  if (self->starting)
    {
      if (self->start_error == NULL)
        {
          self->start_error = error;
          self->start_error_seqnum = GST_MESSAGE_SEQNUM (message);
        }
      else
        g_error_free (error);
      return G_SOURCE_CONTINUE;
    }

  if (GST_MESSAGE_TYPE (message) == GST_MESSAGE_ERROR)
    g_warning ("Camera pipeline error from %s: %s", GST_OBJECT_NAME (GST_MESSAGE_SRC (message)),
               error->message);
  else
    g_warning ("Camera stream ended");
  /* the next capture builds a fresh pipeline */
  teardown (self);
  finish_capture (self, NULL, error);
  return G_SOURCE_REMOVE;
}

static GstElement *
find_source (GstBin *bin)
{
  g_autoptr(GstIterator) iter = gst_bin_iterate_sources (bin);
  g_auto(GValue) item = G_VALUE_INIT;
  GstElement *source = NULL;
  gboolean done = FALSE;

  while (!done)
    {
      switch (gst_iterator_next (iter, &item))
        {
        case GST_ITERATOR_OK:
          source = g_value_dup_object (&item);
          g_value_reset (&item);
          done = TRUE;
          break;
        case GST_ITERATOR_RESYNC:
          gst_iterator_resync (iter);
          break;
        case GST_ITERATOR_ERROR:
        case GST_ITERATOR_DONE:
        default:
          done = TRUE;
          break;
        }
    }
  return source;
}

/* every emsimsrc in the pipeline follows our stage and focus */
static void
attach_sim_sources (EmGstCamera *self)
{
  g_autoptr(GstIterator) iter = NULL;
  g_auto(GValue) item = G_VALUE_INIT;
  gboolean done = FALSE;

  if (self->pipeline == NULL)
    return;

  iter = gst_bin_iterate_recurse (GST_BIN (self->pipeline));
  while (!done)
    {
      switch (gst_iterator_next (iter, &item))
        {
        case GST_ITERATOR_OK:
          if (EM_IS_SIM_SRC (g_value_get_object (&item)))
            g_object_set (g_value_get_object (&item), "stage", self->stage, "focus", self->focus, NULL);
          g_value_reset (&item);
          break;
        case GST_ITERATOR_RESYNC:
          gst_iterator_resync (iter);
          break;
        case GST_ITERATOR_ERROR:
        case GST_ITERATOR_DONE:
        default:
          done = TRUE;
          break;
        }
    }
}

static gboolean
source_is_live (GstElement *source)
{
  /* sources that are not base sources (bins) are taken as live, as cameras are */
  return !GST_IS_BASE_SRC (source) || gst_base_src_is_live (GST_BASE_SRC (source));
}

/* the pipeline is an empty bin until the worker has parsed the description
 * into it: creating the elements may load plugins and reach the device */
static gboolean
ensure_pipeline (EmGstCamera *self, GError **error)
{
  g_autoptr(GError) local_error = NULL;
  g_autoptr(GstBus) bus = NULL;
  PipelineOp *start;

  if (self->pipeline != NULL)
    return TRUE;

  if (!gst_init_check (NULL, NULL, &local_error))
    {
      g_set_error (error, EM_ERROR, EM_ERROR_FAILED,
                   _("GStreamer cannot be initialised: %s"), local_error->message);
      return FALSE;
    }
  /* the simulated microscope is ours: usable in any description, no plugin installed */
  em_sim_src_register ();

  self->pipeline = gst_object_ref_sink (gst_pipeline_new (NULL));
  bus = gst_element_get_bus (self->pipeline);
  self->bus_source = gst_bus_create_watch (bus);
  g_source_set_name (self->bus_source, "[engine-manager] camera bus");
  g_source_set_callback (self->bus_source, G_SOURCE_FUNC (bus_cb), self, NULL);
  g_source_attach (self->bus_source, self->context);

  start = pipeline_op_new (self->pipeline, OP_START);
  start->description = g_strdup (self->source_description);
  start->launch = g_strdup_printf ("%s ! videoconvert ! videoscale "
                                   "! video/x-raw,format=" OUTPUT_FORMATS ",width=%u,height=%u "
                                   "! appsink name=" SINK_NAME " max-buffers=1 drop=true "
                                   "sync=false enable-last-sample=false",
                                   self->source_description, self->width, self->height);
  self->starting = TRUE;
  g_thread_pool_push (self->worker, start, NULL);
  g_debug ("camera pipeline starting: %s", start->launch);
  return TRUE;
}

/* worker: parses the description into the start's pipeline */
static gboolean
worker_build (EmGstCamera *self, PipelineOp *op)
{
  static GstAppSinkCallbacks callbacks = { .new_sample = new_sample_cb };
  g_autoptr(GError) local_error = NULL;
  g_autoptr(GstElement) sink = NULL;
  GstElement *bin;
  gboolean live;

  bin = gst_parse_bin_from_description_full (op->launch, FALSE, NULL,
                                             GST_PARSE_FLAG_FATAL_ERRORS, &local_error);
  if (bin == NULL)
    {
      op->error = g_error_new (EM_ERROR, EM_ERROR_FAILED,
                               _("The camera pipeline “%s” cannot be built: %s"),
                               op->description, local_error->message);
      return FALSE;
    }
  gst_bin_add (GST_BIN (op->pipeline), bin);

  sink = gst_bin_get_by_name (GST_BIN (bin), SINK_NAME);
  if (sink == NULL || !GST_IS_APP_SINK (sink))
    {
      op->error = g_error_new (EM_ERROR, EM_ERROR_FAILED,
                               _("The camera pipeline “%s” cannot be built: it must be a source description"),
                               op->description);
      return FALSE;
    }
  gst_app_sink_set_callbacks (GST_APP_SINK (sink), &callbacks, self, NULL);

  op->source = find_source (GST_BIN (bin));
  live = op->source != NULL && source_is_live (op->source);
  /* the previous pipeline has stopped: no frame of it reads this meanwhile */
  g_mutex_lock (&self->lock);
  self->live = live;
  g_mutex_unlock (&self->lock);
  if (op->source != NULL && !live)
    {
      /* a file or a test source without is-live runs flat out: pace it by the clock */
      g_object_set (sink, "sync", TRUE, NULL);
    }
  return TRUE;
}

static void
worker_start (EmGstCamera *self, PipelineOp *op)
{
  if (!worker_build (self, op))
    {
      op->failed = TRUE;
      return;
    }
  /* a v4l2 source's controls are read from the device */
  op->controls = em_gst_source_controls_new (op->source);
  if (gst_element_set_state (op->pipeline, GST_STATE_PLAYING) == GST_STATE_CHANGE_FAILURE)
    {
      g_autoptr(GstBus) bus = gst_element_get_bus (op->pipeline);
      g_autoptr(GstMessage) message = gst_bus_pop_filtered (bus, GST_MESSAGE_ERROR);

      /* without the message the bus watch has it */
      op->failed = TRUE;
      if (message != NULL)
        {
          op->error = error_from_message (message);
          op->error_seqnum = GST_MESSAGE_SEQNUM (message);
        }
    }
}

static void
worker_apply (PipelineOp *op)
{
  em_gst_source_controls_apply (op->controls, op->exposure_ms, op->gain,
                                &op->exposure_applied, &op->gain_applied);
  /* the exposure counts from here, and no earlier frame shows these settings */
  op->applied_us = g_get_monotonic_time ();
  op->applied_at = gst_element_get_current_running_time (op->pipeline);
}

/* the worker: a step that may block */
static void
worker_run (gpointer data, gpointer user_data)
{
  EmGstCamera *self = user_data;
  PipelineOp *op = data;

  switch (op->kind)
    {
    case OP_STOP:
      /* joins the streaming threads */
      gst_element_set_state (op->pipeline, GST_STATE_NULL);
      pipeline_op_free (op);
      return;
    case OP_START:
      worker_start (self, op);
      break;
    case OP_APPLY:
    default:
      worker_apply (op);
      break;
    }

  g_mutex_lock (&self->lock);
  g_ptr_array_add (self->answered, op);
  g_mutex_unlock (&self->lock);
  g_source_set_ready_time (self->answered_source, 0);
}

/* how long a frame may take once the exposure is over */
static guint
frame_timeout_s (EmGstCamera *self)
{
  return FRAME_TIMEOUT_S + (guint) ((guint64) self->width * self->height / FRAME_TIMEOUT_PIXELS_PER_S);
}

static gboolean
frame_timeout_cb (gpointer user_data)
{
  EmGstCamera *self = user_data;
  Capture *capture = g_task_get_task_data (self->pending);
  int timeout_s = (int) frame_timeout_s (self);

  g_clear_pointer (&capture->frame_timeout, g_source_unref);
  g_warning ("Camera delivered no frame within %d s; restarting its pipeline", timeout_s);
  teardown (self);
  finish_capture (self, NULL,
                  g_error_new (EM_ERROR, EM_ERROR_FAILED,
                               _("The camera delivered no frame within %d s"), timeout_s));
  return G_SOURCE_REMOVE;
}

static void schedule_exposure_tick (EmGstCamera *self, Capture *capture);

static gboolean
exposure_tick_cb (gpointer user_data)
{
  EmGstCamera *self = user_data;
  Capture *capture = g_task_get_task_data (self->pending);
  gint64 exposure_us = (gint64) (capture->exposure_ms * 1000.0);
  gint64 elapsed_us = g_get_monotonic_time () - capture->started_us;

  g_clear_pointer (&capture->exposure_timer, g_source_unref);

  if (elapsed_us < exposure_us)
    {
      if (capture->progress != NULL)
        capture->progress ((gdouble) elapsed_us / (gdouble) exposure_us, capture->progress_data);
      schedule_exposure_tick (self, capture);
      return G_SOURCE_REMOVE;
    }

  /* the exposure is over: the next frame is ours */
  set_armed (self, TRUE, capture->not_before);
  capture->frame_timeout = g_timeout_source_new_seconds (frame_timeout_s (self));
  g_source_set_callback (capture->frame_timeout, frame_timeout_cb, self, NULL);
  g_source_attach (capture->frame_timeout, self->context);
  if (capture->progress != NULL)
    capture->progress (1.0, capture->progress_data);
  return G_SOURCE_REMOVE;
}

static void
schedule_exposure_tick (EmGstCamera *self, Capture *capture)
{
  gint64 remaining_us = capture->started_us + (gint64) (capture->exposure_ms * 1000.0) -
                        g_get_monotonic_time ();
  guint interval_ms = (guint) CLAMP ((remaining_us + 999) / 1000, 0, PROGRESS_INTERVAL_MS);

  capture->exposure_timer = g_timeout_source_new (interval_ms);
  g_source_set_name (capture->exposure_timer, "[engine-manager] camera exposure");
  g_source_set_callback (capture->exposure_timer, exposure_tick_cb, self, NULL);
  g_source_attach (capture->exposure_timer, self->context);
}

/* the worker gives the source the capture's settings; the exposure starts
 * once it has them */
static void
begin_capture (EmGstCamera *self)
{
  Capture *capture = g_task_get_task_data (self->pending);
  PipelineOp *apply = pipeline_op_new (self->pipeline, OP_APPLY);

  apply->controls = em_gst_source_controls_ref (self->controls);
  apply->exposure_ms = capture->exposure_ms;
  apply->gain = capture->gain;
  capture->applying = apply;
  g_thread_pool_push (self->worker, apply, NULL);
}

static void
pipeline_started (EmGstCamera *self, PipelineOp *op)
{
  g_autoptr(GError) error = NULL;

  self->starting = FALSE;
  /* the bus watch and the worker each take the errors they find first:
   * the earliest tells the cause ("no such file"), a later one only
   * that the start failed */
  if (op->error != NULL &&
      (self->start_error == NULL || op->error_seqnum < self->start_error_seqnum))
    error = g_steal_pointer (&op->error);
  else
    error = g_steal_pointer (&self->start_error);
  if (error == NULL && op->failed)
    error = g_error_new (EM_ERROR, EM_ERROR_FAILED,
                         _("The camera pipeline “%s” cannot be started"), op->description);
  if (error != NULL)
    {
      /* a waiting capture reports it; otherwise the log must */
      if (self->pending == NULL)
        g_warning ("%s", error->message);
      teardown (self);
      finish_capture (self, NULL, g_steal_pointer (&error));
      return;
    }

  g_debug ("camera pipeline running: %s", op->description);
  self->source = g_steal_pointer (&op->source);
  self->controls = g_steal_pointer (&op->controls);
  attach_sim_sources (self);
  if (self->pending != NULL)
    begin_capture (self);
}

static void
controls_applied (EmGstCamera *self, PipelineOp *op)
{
  Capture *capture = self->pending != NULL ? g_task_get_task_data (self->pending) : NULL;

  /* the capture that asked ended meanwhile; @op is still alive, so no later
   * capture can be waiting for another step at its address */
  if (capture == NULL || capture->applying != op)
    return;

  capture->applying = NULL;
  capture->exposure_applied = op->exposure_applied;
  capture->gain_applied = op->gain_applied;
  capture->started_us = op->applied_us;
  capture->not_before = op->applied_at;
  schedule_exposure_tick (self, capture);
}

static gboolean
answered_cb (gpointer user_data)
{
  EmGstCamera *self = user_data;
  g_autoptr(GPtrArray) answered = NULL;

  g_mutex_lock (&self->lock);
  answered = g_steal_pointer (&self->answered);
  self->answered = g_ptr_array_new_with_free_func (pipeline_op_free);
  g_mutex_unlock (&self->lock);

  for (guint i = 0; i < answered->len; i++)
    {
      PipelineOp *op = g_ptr_array_index (answered, i);

      /* torn down meanwhile: its stop is queued */
      if (op->pipeline != self->pipeline)
        continue;

      if (op->kind == OP_START)
        pipeline_started (self, op);
      else
        controls_applied (self, op);
    }
  return G_SOURCE_CONTINUE;
}

static gboolean
cancelled_cb (GCancellable *cancellable, gpointer user_data)
{
  EmGstCamera *self = user_data;
  GError *error = NULL;

  /* the pipeline keeps running; the frame is simply not taken */
  g_cancellable_set_error_if_cancelled (cancellable, &error);
  finish_capture (self, NULL, error);
  return G_SOURCE_REMOVE;
}

static void
em_gst_camera_capture_async (EmCamera            *camera,
                             gdouble              exposure_ms,
                             gdouble              gain,
                             GCancellable        *cancellable,
                             EmProgressFunc       progress,
                             gpointer             progress_data,
                             GAsyncReadyCallback  callback,
                             gpointer             user_data)
{
  EmGstCamera *self = EM_GST_CAMERA (camera);
  g_autoptr(GTask) task = g_task_new (self, cancellable, callback, user_data);
  g_autoptr(GError) error = NULL;
  Capture *capture;

  g_task_set_source_tag (task, em_gst_camera_capture_async);

  if (self->pending != NULL)
    {
      g_task_return_new_error (task, EM_ERROR, EM_ERROR_CONFLICT,
                               _("The camera is already capturing"));
      return;
    }
  if (!ensure_pipeline (self, &error))
    {
      g_task_return_error (task, g_steal_pointer (&error));
      return;
    }

  capture = g_new0 (Capture, 1);
  capture->exposure_ms = exposure_ms;
  capture->gain = gain;
  capture->progress = progress;
  capture->progress_data = progress_data;
  g_task_set_task_data (task, capture, capture_free);
  self->pending = g_steal_pointer (&task);

  if (cancellable != NULL)
    {
      capture->cancel_source = g_cancellable_source_new (cancellable);
      g_source_set_callback (capture->cancel_source, G_SOURCE_FUNC (cancelled_cb), self, NULL);
      g_source_attach (capture->cancel_source, self->context);
    }
  /* otherwise the start's answer begins it */
  if (!self->starting)
    begin_capture (self);
}

static EmFrame *
em_gst_camera_capture_finish (EmCamera *camera, GAsyncResult *result, GError **error)
{
  g_return_val_if_fail (g_task_is_valid (result, camera), NULL);

  return g_task_propagate_pointer (G_TASK (result), error);
}

static void
em_gst_camera_attach_devices (EmCamera *camera, EmStage *stage, EmFocus *focus)
{
  EmGstCamera *self = EM_GST_CAMERA (camera);

  /* the streaming thread reads them as frames arrive */
  g_mutex_lock (&self->lock);
  g_set_object (&self->stage, stage);
  g_set_object (&self->focus, focus);
  g_mutex_unlock (&self->lock);
  attach_sim_sources (self);
}

static void
em_gst_camera_constructed (GObject *object)
{
  EmGstCamera *self = EM_GST_CAMERA (object);
  g_autoptr(GError) error = NULL;

  G_OBJECT_CLASS (em_gst_camera_parent_class)->constructed (object);

  self->context = g_main_context_ref_thread_default ();
  self->frame_source = g_source_new (&frame_source_funcs, sizeof (GSource));
  g_source_set_name (self->frame_source, "[engine-manager] camera frame");
  g_source_set_callback (self->frame_source, frame_ready_cb, self, NULL);
  g_source_attach (self->frame_source, self->context);
  self->answered_source = g_source_new (&frame_source_funcs, sizeof (GSource));
  g_source_set_name (self->answered_source, "[engine-manager] camera worker");
  g_source_set_callback (self->answered_source, answered_cb, self, NULL);
  g_source_attach (self->answered_source, self->context);

  /* start streaming now, so the first capture takes a frame instead of a pipeline
   * start; a failure here is reported again by each capture until one succeeds */
  if (!ensure_pipeline (self, &error))
    g_warning ("%s", error->message);
}

static void
em_gst_camera_dispose (GObject *object)
{
  EmGstCamera *self = EM_GST_CAMERA (object);

  teardown (self);
  /* waits for the stops, so no streaming thread calls back into us; a start
   * stuck opening its device, or an application stuck setting its controls,
   * holds this up as long as the device does not answer */
  if (self->worker != NULL)
    g_thread_pool_free (g_steal_pointer (&self->worker), FALSE, TRUE);
  clear_source (&self->frame_source);
  clear_source (&self->answered_source);
  g_clear_object (&self->stage);
  g_clear_object (&self->focus);

  G_OBJECT_CLASS (em_gst_camera_parent_class)->dispose (object);
}

static void
em_gst_camera_finalize (GObject *object)
{
  EmGstCamera *self = EM_GST_CAMERA (object);

  g_clear_pointer (&self->frame, em_frame_unref);
  g_clear_pointer (&self->answered, g_ptr_array_unref);
  g_clear_pointer (&self->context, g_main_context_unref);
  g_free (self->source_description);
  g_mutex_clear (&self->lock);

  G_OBJECT_CLASS (em_gst_camera_parent_class)->finalize (object);
}

static void
em_gst_camera_get_property (GObject    *object,
                            guint       prop_id,
                            GValue     *value,
                            GParamSpec *pspec)
{
  EmGstCamera *self = EM_GST_CAMERA (object);

  switch (prop_id)
    {
    case PROP_SOURCE_DESCRIPTION:
      g_value_set_string (value, self->source_description);
      break;
    case PROP_WIDTH:
      g_value_set_uint (value, self->width);
      break;
    case PROP_HEIGHT:
      g_value_set_uint (value, self->height);
      break;
    case PROP_PIXEL_SIZE:
      g_value_set_double (value, self->pixel_size);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
em_gst_camera_set_property (GObject      *object,
                            guint         prop_id,
                            const GValue *value,
                            GParamSpec   *pspec)
{
  EmGstCamera *self = EM_GST_CAMERA (object);

  switch (prop_id)
    {
    case PROP_SOURCE_DESCRIPTION:
      em_gst_camera_set_source_description (self, g_value_get_string (value));
      break;
    case PROP_WIDTH:
      self->width = g_value_get_uint (value);
      break;
    case PROP_HEIGHT:
      self->height = g_value_get_uint (value);
      break;
    case PROP_PIXEL_SIZE:
      self->pixel_size = g_value_get_double (value);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
em_gst_camera_class_init (EmGstCameraClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  EmCameraClass *camera_class = EM_CAMERA_CLASS (klass);

  object_class->constructed = em_gst_camera_constructed;
  object_class->dispose = em_gst_camera_dispose;
  object_class->finalize = em_gst_camera_finalize;
  object_class->get_property = em_gst_camera_get_property;
  object_class->set_property = em_gst_camera_set_property;

  camera_class->capture_async = em_gst_camera_capture_async;
  camera_class->capture_finish = em_gst_camera_capture_finish;
  camera_class->attach_devices = em_gst_camera_attach_devices;

  properties[PROP_SOURCE_DESCRIPTION] =
    g_param_spec_string ("source-description", NULL, NULL, EM_GST_CAMERA_DEFAULT_SOURCE,
                         G_PARAM_READWRITE | G_PARAM_CONSTRUCT | G_PARAM_EXPLICIT_NOTIFY |
                         G_PARAM_STATIC_STRINGS);
  properties[PROP_WIDTH] =
    g_param_spec_uint ("width", NULL, NULL, 1, G_MAXINT, EM_GST_CAMERA_DEFAULT_WIDTH,
                       G_PARAM_READWRITE | G_PARAM_CONSTRUCT_ONLY | G_PARAM_STATIC_STRINGS);
  properties[PROP_HEIGHT] =
    g_param_spec_uint ("height", NULL, NULL, 1, G_MAXINT, EM_GST_CAMERA_DEFAULT_HEIGHT,
                       G_PARAM_READWRITE | G_PARAM_CONSTRUCT_ONLY | G_PARAM_STATIC_STRINGS);
  /* µm per pixel at the sample for frames from real cameras (0: unknown);
   * emsimsrc knows its own */
  properties[PROP_PIXEL_SIZE] =
    g_param_spec_double ("pixel-size", NULL, NULL, 0.0, G_MAXDOUBLE, 0.0,
                         G_PARAM_READWRITE | G_PARAM_CONSTRUCT_ONLY | G_PARAM_STATIC_STRINGS);

  g_object_class_install_properties (object_class, N_PROPS, properties);
}

static void
em_gst_camera_init (EmGstCamera *self)
{
  g_mutex_init (&self->lock);
  self->answered = g_ptr_array_new_with_free_func (pipeline_op_free);
  /* one thread at most: its steps run in the order they were asked for */
  self->worker = g_thread_pool_new (worker_run, self, 1, FALSE, NULL);
}

/**
 * em_gst_camera_new:
 * @source_description: (nullable): a GStreamer source description such as
 *   `v4l2src device=/dev/video0`, or %NULL for %EM_GST_CAMERA_DEFAULT_SOURCE
 * @width: output width in pixels, 0 for the default
 * @height: output height in pixels, 0 for the default
 *
 * Frames are scaled to @width × @height: colour sources give RGB, monochrome
 * ones GRAY8 or GRAY16 (16-bit sources keep their depth).
 */
EmCamera *
em_gst_camera_new (const char *source_description, guint width, guint height)
{
  return g_object_new (EM_TYPE_GST_CAMERA,
                       "source-description", source_description,
                       "width", width > 0 ? width : EM_GST_CAMERA_DEFAULT_WIDTH,
                       "height", height > 0 ? height : EM_GST_CAMERA_DEFAULT_HEIGHT,
                       NULL);
}

const char *
em_gst_camera_get_source_description (EmGstCamera *self)
{
  g_return_val_if_fail (EM_IS_GST_CAMERA (self), NULL);
  return self->source_description;
}

guint
em_gst_camera_get_width (EmGstCamera *self)
{
  g_return_val_if_fail (EM_IS_GST_CAMERA (self), 0);
  return self->width;
}

guint
em_gst_camera_get_height (EmGstCamera *self)
{
  g_return_val_if_fail (EM_IS_GST_CAMERA (self), 0);
  return self->height;
}

GstElement *
em_gst_camera_get_source (EmGstCamera *self)
{
  g_return_val_if_fail (EM_IS_GST_CAMERA (self), NULL);
  return self->source != NULL ? gst_object_ref (self->source) : NULL;
}

/**
 * em_gst_camera_set_source_description:
 * @description: (nullable): a GStreamer source description; %NULL or empty for
 *   the default
 *
 * Switches the camera to another source. An idle camera rebuilds its pipeline at
 * once; a capture in flight finishes on the old one first.
 */
void
em_gst_camera_set_source_description (EmGstCamera *self, const char *description)
{
  g_autoptr(GError) error = NULL;

  g_return_if_fail (EM_IS_GST_CAMERA (self));

  if (description == NULL || *description == '\0')
    description = EM_GST_CAMERA_DEFAULT_SOURCE;
  if (g_strcmp0 (self->source_description, description) == 0)
    return;

  g_free (self->source_description);
  self->source_description = g_strdup (description);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_SOURCE_DESCRIPTION]);

  /* during construction the pipeline is built by constructed() */
  if (self->context == NULL)
    return;
  /* a capture still waiting for the old source waits for the new one instead */
  if (self->pending != NULL && !self->starting)
    {
      self->stale = TRUE;
      return;
    }
  teardown (self);
  if (ensure_pipeline (self, &error))
    return;
  g_warning ("%s", error->message);
  /* and a capture that was waiting for the old source has none */
  finish_capture (self, NULL, g_steal_pointer (&error));
}
