#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* the simulated microscope's optics and slide: plain data, any thread */
#define EM_SIM_DEFAULT_PIXEL_SIZE  0.5    /* µm per pixel at the sample */
#define EM_SIM_DEFAULT_FOCAL_PLANE 100.0  /* µm, at x = y = 0 */
#define EM_SIM_DEFAULT_TILT_X      0.002  /* µm of focal plane per µm of x (2 µm per mm) */
#define EM_SIM_DEFAULT_TILT_Y      -0.001 /* µm of focal plane per µm of y */
#define EM_SIM_DEFAULT_BLUR        0.4    /* px of blur sigma per µm of defocus */
#define EM_SIM_MAX_BLUR_SIGMA      16.0   /* px: beyond this the picture is mush anyway */
#define EM_SIM_MAX_COORDINATE      1e9    /* µm: the view stops 1 km out; tile and noise indices fit 32 bits */

/**
 * EmSimSpecimen:
 * @seed: which slide: the same seed renders the same specimen everywhere
 * @pixel_size: µm per pixel at the sample
 * @focal_plane: focus position (µm) that is sharp at x = y = 0
 * @tilt_x, @tilt_y: how far the focal plane rises per µm of stage x and y
 * @blur_per_um: Gaussian blur sigma in pixels per µm of defocus
 */
typedef struct {
  guint32 seed;
  gdouble pixel_size;
  gdouble focal_plane;
  gdouble tilt_x;
  gdouble tilt_y;
  gdouble blur_per_um;
} EmSimSpecimen;

/**
 * EmSimView:
 * @x, @y: stage position in µm, the centre of the field of view
 * @focus: focus position in µm
 * @exposure_ms: exposure time
 * @gain_db: sensor gain in dB (0 = unity)
 */
typedef struct {
  gdouble x;
  gdouble y;
  gdouble focus;
  gdouble exposure_ms;
  gdouble gain_db;
} EmSimView;

void    em_sim_specimen_init_defaults   (EmSimSpecimen       *specimen);

/* the focus position at which (x, y) is sharp */
gdouble em_sim_specimen_focal_plane     (const EmSimSpecimen *specimen,
                                         gdouble              x,
                                         gdouble              y);
/* the blur sigma in pixels for @view, the optics' own blur included */
gdouble em_sim_specimen_blur_sigma      (const EmSimSpecimen *specimen,
                                         const EmSimView     *view);

/* the light reaching each pixel of a @width × @height field of view, in 0..~1,
 * blurred for the view's defocus: a pure function of its arguments */
void    em_sim_specimen_render_radiance (const EmSimSpecimen *specimen,
                                         const EmSimView     *view,
                                         guint                width,
                                         guint                height,
                                         gfloat              *out_radiance);

/* what the sensor makes of @radiance: signal proportional to exposure and gain,
 * photon and read noise (when @noise) that is deterministic for the view, values
 * 0..65535 */
void    em_sim_specimen_expose          (const EmSimSpecimen *specimen,
                                         const EmSimView     *view,
                                         const gfloat        *radiance,
                                         guint                width,
                                         guint                height,
                                         gboolean             noise,
                                         guint16             *out_pixels);

G_END_DECLS
