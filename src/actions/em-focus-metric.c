#define G_LOG_DOMAIN "em-actions"

#include "config.h"

#include <string.h>

#include "actions/em-focus-metric.h"

const char *
em_focus_metric_to_string (EmFocusMetric metric)
{
  switch (metric)
    {
    case EM_FOCUS_METRIC_BRENNER:
      return "brenner";
    case EM_FOCUS_METRIC_LAPLACIAN:
    default:
      return "laplacian";
    }
}

gboolean
em_focus_metric_from_string (const char *text, EmFocusMetric *out_metric)
{
  if (g_strcmp0 (text, "laplacian") == 0)
    *out_metric = EM_FOCUS_METRIC_LAPLACIAN;
  else if (g_strcmp0 (text, "brenner") == 0)
    *out_metric = EM_FOCUS_METRIC_BRENNER;
  else
    return FALSE;
  return TRUE;
}

/* luminance in 0..1, tightly packed */
static gfloat *
luminance (EmFrame *frame)
{
  guint width = em_frame_get_width (frame);
  guint height = em_frame_get_height (frame);
  guint channels = em_frame_get_channels (frame);
  gboolean wide = em_frame_get_bit_depth (frame) == 16;
  gsize stride = em_frame_get_stride (frame);
  const guint8 *data = g_bytes_get_data (em_frame_get_data (frame), NULL);
  gfloat scale = 1.0f / ((wide ? 65535.0f : 255.0f) * channels);
  gfloat *out = g_new (gfloat, (gsize) width * height);

  for (guint j = 0; j < height; j++)
    {
      const guint8 *row = data + (gsize) j * stride;

      for (guint i = 0; i < width; i++)
        {
          gfloat sum = 0.0f;

          for (guint c = 0; c < channels; c++)
            {
              if (wide)
                {
                  guint16 value;

                  memcpy (&value, row + 2 * ((gsize) i * channels + c), sizeof value);
                  sum += value;
                }
              else
                {
                  sum += row[(gsize) i * channels + c];
                }
            }
          out[(gsize) j * width + i] = sum * scale;
        }
    }
  return out;
}

static gdouble
laplacian_variance (const gfloat *pixels, guint width, guint height)
{
  gdouble sum = 0.0, sum_squares = 0.0;
  gsize n = 0;

  for (guint j = 1; j + 1 < height; j++)
    for (guint i = 1; i + 1 < width; i++)
      {
        gsize p = (gsize) j * width + i;
        gdouble l = 4.0 * pixels[p] - pixels[p - 1] - pixels[p + 1] - pixels[p - width] - pixels[p + width];

        sum += l;
        sum_squares += l * l;
        n++;
      }
  if (n == 0)
    return 0.0;
  return sum_squares / n - (sum / n) * (sum / n);
}

static gdouble
brenner (const gfloat *pixels, guint width, guint height)
{
  gdouble sum = 0.0;
  gsize n = 0;

  for (guint j = 0; j < height; j++)
    for (guint i = 0; i < width; i++)
      {
        gsize p = (gsize) j * width + i;

        if (i + 2 < width)
          {
            gdouble d = pixels[p + 2] - pixels[p];

            sum += d * d;
            n++;
          }
        if (j + 2 < height)
          {
            gdouble d = pixels[p + 2 * (gsize) width] - pixels[p];

            sum += d * d;
            n++;
          }
      }
  return n > 0 ? sum / n : 0.0;
}

gdouble
em_focus_metric_compute (EmFocusMetric metric, EmFrame *frame)
{
  g_autofree gfloat *pixels = NULL;
  guint width, height;

  g_return_val_if_fail (frame != NULL, 0.0);

  width = em_frame_get_width (frame);
  height = em_frame_get_height (frame);
  pixels = luminance (frame);
  if (metric == EM_FOCUS_METRIC_BRENNER)
    return brenner (pixels, width, height);
  return laplacian_variance (pixels, width, height);
}

typedef struct {
  EmFocusMetric  metric;
  EmFrame       *frame;
  gdouble        score;
} ComputeData;

static void
compute_data_free (gpointer data)
{
  ComputeData *compute = data;

  em_frame_unref (compute->frame);
  g_free (compute);
}

static void
compute_thread (GTask        *task,
                gpointer      source_object,
                gpointer      task_data,
                GCancellable *cancellable)
{
  ComputeData *compute = task_data;

  if (g_task_return_error_if_cancelled (task))
    return;
  compute->score = em_focus_metric_compute (compute->metric, compute->frame);
  g_task_return_boolean (task, TRUE);
}

void
em_focus_metric_compute_async (EmFocusMetric        metric,
                               EmFrame             *frame,
                               GCancellable        *cancellable,
                               GAsyncReadyCallback  callback,
                               gpointer             user_data)
{
  g_autoptr(GTask) task = NULL;
  ComputeData *compute;

  g_return_if_fail (frame != NULL);

  task = g_task_new (NULL, cancellable, callback, user_data);
  g_task_set_source_tag (task, em_focus_metric_compute_async);
  g_task_set_name (task, "[engine-manager] focus metric");
  compute = g_new0 (ComputeData, 1);
  compute->metric = metric;
  compute->frame = em_frame_ref (frame);
  g_task_set_task_data (task, compute, compute_data_free);
  g_task_run_in_thread (task, compute_thread);
}

gboolean
em_focus_metric_compute_finish (GAsyncResult  *result,
                                gdouble       *out_score,
                                GError       **error)
{
  g_return_val_if_fail (g_task_is_valid (result, NULL), FALSE);
  g_return_val_if_fail (g_async_result_is_tagged (result, em_focus_metric_compute_async), FALSE);

  if (!g_task_propagate_boolean (G_TASK (result), error))
    return FALSE;
  *out_score = ((ComputeData *) g_task_get_task_data (G_TASK (result)))->score;
  return TRUE;
}
