#include "config.h"

#include "em-test-gate-src.h"

struct _EmTestGateSrc
{
  GstBin   parent_instance;

  GMutex   lock;
  GCond    cond;
  gboolean closed;
  gboolean reached;
  guint    waiting;
  gdouble  exposure_us;
  gdouble  gain_db;
  char    *camera_name;
};

/* naming the camera, as aravissrc searches for it then; process-wide, as the
 * element is named while it is created. Held, it waits at most this long, so
 * that a caller that should not wait is seen to, without hanging */
#define NAME_HOLD_MAX_S 5
static GMutex name_lock;
static GCond name_cond;
static gboolean names_held;
static guint names_waiting;

G_DEFINE_FINAL_TYPE (EmTestGateSrc, em_test_gate_src, GST_TYPE_BIN)

enum {
  PROP_0,
  PROP_EXPOSURE,
  PROP_GAIN,
  PROP_CAMERA_NAME,
  N_PROPS
};

static GParamSpec *properties[N_PROPS];

static void
em_test_gate_src_get_property (GObject    *object,
                               guint       prop_id,
                               GValue     *value,
                               GParamSpec *pspec)
{
  EmTestGateSrc *self = EM_TEST_GATE_SRC (object);

  g_mutex_lock (&self->lock);
  switch (prop_id)
    {
    case PROP_EXPOSURE:
      g_value_set_double (value, self->exposure_us);
      break;
    case PROP_GAIN:
      g_value_set_double (value, self->gain_db);
      break;
    case PROP_CAMERA_NAME:
      g_value_set_string (value, self->camera_name);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
  g_mutex_unlock (&self->lock);
}

static void
em_test_gate_src_set_property (GObject      *object,
                               guint         prop_id,
                               const GValue *value,
                               GParamSpec   *pspec)
{
  EmTestGateSrc *self = EM_TEST_GATE_SRC (object);

  if (prop_id == PROP_CAMERA_NAME)
    {
      gint64 deadline = g_get_monotonic_time () + NAME_HOLD_MAX_S * G_USEC_PER_SEC;

      g_mutex_lock (&name_lock);
      names_waiting++;
      while (names_held && g_cond_wait_until (&name_cond, &name_lock, deadline))
        ;
      names_waiting--;
      g_mutex_unlock (&name_lock);
      g_mutex_lock (&self->lock);
      g_free (self->camera_name);
      self->camera_name = g_value_dup_string (value);
      g_mutex_unlock (&self->lock);
      return;
    }

  g_mutex_lock (&self->lock);
  if (self->closed)
    self->reached = TRUE;
  self->waiting++;
  while (self->closed)
    g_cond_wait (&self->cond, &self->lock);
  self->waiting--;

  switch (prop_id)
    {
    case PROP_EXPOSURE:
      self->exposure_us = g_value_get_double (value);
      break;
    case PROP_GAIN:
      self->gain_db = g_value_get_double (value);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
  g_mutex_unlock (&self->lock);
}

static void
em_test_gate_src_finalize (GObject *object)
{
  EmTestGateSrc *self = EM_TEST_GATE_SRC (object);

  g_mutex_clear (&self->lock);
  g_cond_clear (&self->cond);
  g_free (self->camera_name);

  G_OBJECT_CLASS (em_test_gate_src_parent_class)->finalize (object);
}

static void
em_test_gate_src_class_init (EmTestGateSrcClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->get_property = em_test_gate_src_get_property;
  object_class->set_property = em_test_gate_src_set_property;
  object_class->finalize = em_test_gate_src_finalize;

  /* as aravissrc has them, ranges included */
  properties[PROP_EXPOSURE] =
    g_param_spec_double ("exposure", NULL, NULL, -1.0, 100000000.0, 500.0,
                         G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS);
  properties[PROP_GAIN] =
    g_param_spec_double ("gain", NULL, NULL, -1.0, 500.0, 0.0,
                         G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS);
  properties[PROP_CAMERA_NAME] =
    g_param_spec_string ("camera-name", NULL, NULL, NULL,
                         G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS);
  g_object_class_install_properties (object_class, N_PROPS, properties);

  gst_element_class_set_static_metadata (GST_ELEMENT_CLASS (klass), "Gated test camera",
                                         "Source/Video", "A camera slow to take its settings",
                                         "Engine Manager");
}

static void
em_test_gate_src_init (EmTestGateSrc *self)
{
  GstElement *pattern = gst_element_factory_make ("videotestsrc", NULL);
  g_autoptr(GstPad) pad = NULL;

  g_mutex_init (&self->lock);
  g_cond_init (&self->cond);

  g_assert_nonnull (pattern);
  g_object_set (pattern, "is-live", TRUE, NULL);
  gst_bin_add (GST_BIN (self), pattern);
  pad = gst_element_get_static_pad (pattern, "src");
  gst_element_add_pad (GST_ELEMENT (self), gst_ghost_pad_new ("src", pad));
}

void
em_test_gate_src_register (void)
{
  g_assert_true (gst_element_register (NULL, "aravissrc", GST_RANK_NONE, EM_TYPE_TEST_GATE_SRC));
}

void
em_test_gate_src_close (EmTestGateSrc *self)
{
  g_mutex_lock (&self->lock);
  self->closed = TRUE;
  self->reached = FALSE;
  g_mutex_unlock (&self->lock);
}

void
em_test_gate_src_open (EmTestGateSrc *self)
{
  g_mutex_lock (&self->lock);
  self->closed = FALSE;
  g_cond_broadcast (&self->cond);
  g_mutex_unlock (&self->lock);
}

gboolean
em_test_gate_src_reached (EmTestGateSrc *self)
{
  gboolean reached;

  g_mutex_lock (&self->lock);
  reached = self->reached;
  g_mutex_unlock (&self->lock);
  return reached;
}

void
em_test_gate_src_hold_names (gboolean hold)
{
  g_mutex_lock (&name_lock);
  names_held = hold;
  g_cond_broadcast (&name_cond);
  g_mutex_unlock (&name_lock);
}

gboolean
em_test_gate_src_name_is_waiting (void)
{
  gboolean waiting;

  g_mutex_lock (&name_lock);
  waiting = names_waiting > 0;
  g_mutex_unlock (&name_lock);
  return waiting;
}

gboolean
em_test_gate_src_is_waiting (EmTestGateSrc *self)
{
  gboolean waiting;

  g_mutex_lock (&self->lock);
  waiting = self->waiting > 0;
  g_mutex_unlock (&self->lock);
  return waiting;
}
