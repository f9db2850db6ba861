#define G_LOG_DOMAIN "em-devices"

#include "config.h"

#include <math.h>
#include <string.h>

#include "devices/em-sim-specimen.h"

/* the slide is cut into square tiles of the world plane; each tile's cells and
 * particles come from a hash of (seed, tile), so any region renders the same
 * whatever was rendered before, and the slide has no edge. Lengths are in µm. */

#define TILE_SIZE         32.0
#define MAX_EXTENT        12.0   /* no object reaches further than this from its centre */
#define EDGE_WIDTH        0.35   /* soft edge of cell bodies, about one pixel */
#define OPTICS_SIGMA      0.7    /* px: the blur of a perfectly focused picture */

/* sensor: electrons collected per ms at radiance 1, electrons that read full scale
 * at 0 dB, and the read noise in electrons */
#define ELECTRONS_PER_MS  200.0
#define FULL_SCALE        2000.0
#define READ_NOISE        4.0

static inline guint32
mix32 (guint32 h)
{
  h ^= h >> 16;
  h *= 0x7feb352dU;
  h ^= h >> 15;
  h *= 0x846ca68bU;
  h ^= h >> 16;
  return h;
}

static inline guint32
hash4 (guint32 seed, gint32 a, gint32 b, guint32 salt)
{
  return mix32 (seed ^ mix32 ((guint32) a ^ mix32 ((guint32) b ^ mix32 (salt + 0x9e3779b9U))));
}

/* a small deterministic generator for the objects of one tile */
typedef struct {
  guint64 state;
} Rng;

static inline gdouble
rng_uniform (Rng *rng)
{
  guint64 z = (rng->state += 0x9e3779b97f4a7c15ULL);

  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  z ^= z >> 31;
  return (gdouble) (z >> 11) * (1.0 / 9007199254740992.0);
}

static inline gfloat
lattice (guint32 seed, gint32 ix, gint32 iy, guint32 salt)
{
  return (gfloat) (hash4 (seed, ix, iy, salt) >> 8) * (1.0f / 16777216.0f);
}

/* smooth value noise in 0..1 with features about @scale µm across */
static gfloat
value_noise (guint32 seed, gdouble x, gdouble y, gdouble scale, guint32 salt)
{
  gdouble fx = x / scale;
  gdouble fy = y / scale;
  gdouble x0 = floor (fx);
  gdouble y0 = floor (fy);
  gfloat tx = (gfloat) (fx - x0);
  gfloat ty = (gfloat) (fy - y0);
  gint32 ix = (gint32) x0;
  gint32 iy = (gint32) y0;
  gfloat a, b, c, d, top, bottom;

  tx = tx * tx * (3.0f - 2.0f * tx);
  ty = ty * ty * (3.0f - 2.0f * ty);
  a = lattice (seed, ix, iy, salt);
  b = lattice (seed, ix + 1, iy, salt);
  c = lattice (seed, ix, iy + 1, salt);
  d = lattice (seed, ix + 1, iy + 1, salt);
  top = a + (b - a) * tx;
  bottom = c + (d - c) * tx;
  return top + (bottom - top) * ty;
}

void
em_sim_specimen_init_defaults (EmSimSpecimen *specimen)
{
  specimen->seed = 1;
  specimen->pixel_size = EM_SIM_DEFAULT_PIXEL_SIZE;
  specimen->focal_plane = EM_SIM_DEFAULT_FOCAL_PLANE;
  specimen->tilt_x = EM_SIM_DEFAULT_TILT_X;
  specimen->tilt_y = EM_SIM_DEFAULT_TILT_Y;
  specimen->blur_per_um = EM_SIM_DEFAULT_BLUR;
}

gdouble
em_sim_specimen_focal_plane (const EmSimSpecimen *specimen, gdouble x, gdouble y)
{
  return specimen->focal_plane + specimen->tilt_x * x + specimen->tilt_y * y;
}

/* the slide ends at EM_SIM_MAX_COORDINATE: past it a double can no longer tell
 * one pixel from the next, and tile indices would not fit a gint32 */
static gdouble
clamp_coordinate (gdouble value)
{
  if (isnan (value))
    return 0.0;
  return CLAMP (value, -EM_SIM_MAX_COORDINATE, EM_SIM_MAX_COORDINATE);
}

gdouble
em_sim_specimen_blur_sigma (const EmSimSpecimen *specimen, const EmSimView *view)
{
  gdouble defocus = view->focus - em_sim_specimen_focal_plane (specimen, clamp_coordinate (view->x),
                                                               clamp_coordinate (view->y));
  gdouble spread = specimen->blur_per_um * defocus;

  return MIN (sqrt (OPTICS_SIGMA * OPTICS_SIGMA + spread * spread), EM_SIM_MAX_BLUR_SIGMA);
}

/* the sharp picture of a region: (x0, y0) is the centre of pixel (0, 0) */
typedef struct {
  const EmSimSpecimen *specimen;
  gdouble              x0;
  gdouble              y0;
  gdouble              step;
  guint                width;
  guint                height;
  gfloat              *pixels;
} Canvas;

static inline gdouble
canvas_x (const Canvas *canvas, guint i)
{
  return canvas->x0 + i * canvas->step;
}

static inline gdouble
canvas_y (const Canvas *canvas, guint j)
{
  return canvas->y0 + j * canvas->step;
}

/* the pixel columns (or rows) whose centres lie in [lo, hi] µm */
static gboolean
canvas_span (gdouble origin, gdouble step, guint n, gdouble lo, gdouble hi, guint *first, guint *last)
{
  gdouble a = ceil ((lo - origin) / step);
  gdouble b = floor ((hi - origin) / step);

  if (b < 0 || a > (gdouble) n - 1 || a > b)
    return FALSE;
  *first = (guint) MAX (a, 0);
  *last = (guint) MIN (b, (gdouble) n - 1);
  return TRUE;
}

/* value noise along one row, adding @amplitude × noise to @row: the lattice
 * corners are hashed once per lattice cell instead of once per pixel */
static void
add_noise_row (const Canvas *canvas, gfloat *row, gdouble y, gdouble scale, guint32 salt, gfloat amplitude)
{
  guint32 seed = canvas->specimen->seed;
  gdouble fy = y / scale;
  gdouble y0 = floor (fy);
  gint32 iy = (gint32) y0;
  gfloat ty = (gfloat) (fy - y0);
  gint32 ix = G_MININT32;
  gfloat a = 0, b = 0, c = 0, d = 0;

  ty = ty * ty * (3.0f - 2.0f * ty);
  for (guint i = 0; i < canvas->width; i++)
    {
      gdouble fx = canvas_x (canvas, i) / scale;
      gdouble x0 = floor (fx);
      gfloat tx = (gfloat) (fx - x0);
      gfloat top, bottom;

      if ((gint32) x0 != ix)
        {
          ix = (gint32) x0;
          a = lattice (seed, ix, iy, salt);
          b = lattice (seed, ix + 1, iy, salt);
          c = lattice (seed, ix, iy + 1, salt);
          d = lattice (seed, ix + 1, iy + 1, salt);
        }
      tx = tx * tx * (3.0f - 2.0f * tx);
      top = a + (b - a) * tx;
      bottom = c + (d - c) * tx;
      row[i] += amplitude * (top + (bottom - top) * ty);
    }
}

static void
paint_background (Canvas *canvas)
{
  for (guint j = 0; j < canvas->height; j++)
    {
      gdouble y = canvas_y (canvas, j);
      gfloat *row = canvas->pixels + (gsize) j * canvas->width;

      /* mounting medium: a faint cloudy glow with a fine grain */
      for (guint i = 0; i < canvas->width; i++)
        row[i] = 0.05f;
      add_noise_row (canvas, row, y, 14.0, 1, 0.035f);
      add_noise_row (canvas, row, y, 2.5, 2, 0.02f);
    }
}

typedef struct {
  gdouble cx, cy;
  gdouble a, b;          /* semi-axes */
  gdouble cos_t, sin_t;
  gdouble intensity;
  gdouble nx, ny;        /* nucleus centre */
  gdouble na, nb;
  gdouble nucleus_intensity;
  guint32 texture_salt;
} Cell;

static inline gfloat
coverage (gdouble rho, gdouble radius)
{
  /* rho is the normalised elliptical radius; the edge is EDGE_WIDTH µm wide */
  gdouble d = (rho - 1.0) * radius / EDGE_WIDTH;

  return (gfloat) CLAMP (0.5 - d, 0.0, 1.0);
}

static void
paint_cell (Canvas *canvas, const Cell *cell)
{
  gdouble reach = cell->a + 1.5;
  gdouble radius = 0.5 * (cell->a + cell->b);
  gdouble nucleus_radius = 0.5 * (cell->na + cell->nb);
  guint i0, i1, j0, j1;

  if (!canvas_span (canvas->x0, canvas->step, canvas->width, cell->cx - reach, cell->cx + reach, &i0, &i1) ||
      !canvas_span (canvas->y0, canvas->step, canvas->height, cell->cy - reach, cell->cy + reach, &j0, &j1))
    return;

  for (guint j = j0; j <= j1; j++)
    {
      gdouble y = canvas_y (canvas, j);
      gfloat *row = canvas->pixels + (gsize) j * canvas->width;

      for (guint i = i0; i <= i1; i++)
        {
          gdouble x = canvas_x (canvas, i);
          gdouble dx = x - cell->cx, dy = y - cell->cy;
          gdouble u = dx * cell->cos_t + dy * cell->sin_t;
          gdouble v = -dx * cell->sin_t + dy * cell->cos_t;
          gdouble rho = sqrt ((u / cell->a) * (u / cell->a) + (v / cell->b) * (v / cell->b));
          gdouble edge = (rho - 1.0) * radius;
          gfloat value;

          if (rho > 1.0 + 1.5 / radius)
            continue;

          /* cytoplasm with a brighter membrane */
          value = coverage (rho, radius) * (gfloat) cell->intensity;
          value += 0.12f * (gfloat) exp (-(edge * edge) / 0.25);

          /* the nucleus, with chromatin texture */
          dx = x - cell->nx;
          dy = y - cell->ny;
          u = dx * cell->cos_t + dy * cell->sin_t;
          v = -dx * cell->sin_t + dy * cell->cos_t;
          rho = sqrt ((u / cell->na) * (u / cell->na) + (v / cell->nb) * (v / cell->nb));
          if (rho < 1.0 + 1.0 / nucleus_radius)
            value += coverage (rho, nucleus_radius) * (gfloat) cell->nucleus_intensity *
                     (0.65f + 0.35f * value_noise (canvas->specimen->seed, x, y, 0.9, cell->texture_salt));
          row[i] += value;
        }
    }
}

static void
paint_particle (Canvas *canvas, gdouble cx, gdouble cy, gdouble sigma, gdouble amplitude)
{
  gdouble reach = 3.0 * sigma;
  guint i0, i1, j0, j1;

  if (!canvas_span (canvas->x0, canvas->step, canvas->width, cx - reach, cx + reach, &i0, &i1) ||
      !canvas_span (canvas->y0, canvas->step, canvas->height, cy - reach, cy + reach, &j0, &j1))
    return;

  for (guint j = j0; j <= j1; j++)
    {
      gdouble dy = canvas_y (canvas, j) - cy;
      gfloat *row = canvas->pixels + (gsize) j * canvas->width;

      for (guint i = i0; i <= i1; i++)
        {
          gdouble dx = canvas_x (canvas, i) - cx;

          row[i] += (gfloat) (amplitude * exp (-(dx * dx + dy * dy) / (2.0 * sigma * sigma)));
        }
    }
}

static void
paint_tile (Canvas *canvas, gint32 tx, gint32 ty)
{
  const EmSimSpecimen *specimen = canvas->specimen;
  Rng rng = { ((guint64) hash4 (specimen->seed, tx, ty, 7) << 32) | hash4 (specimen->seed, tx, ty, 8) };
  gdouble u = rng_uniform (&rng);
  guint n_cells = u < 0.3 ? 0 : u < 0.8 ? 1 : 2;
  guint n_particles = (guint) (rng_uniform (&rng) * 6.0);

  for (guint k = 0; k < n_cells; k++)
    {
      Cell cell;
      gdouble theta;
      gdouble offset_angle;
      gdouble offset;

      /* the centre stays inside the tile, so MAX_EXTENT bounds every reach */
      cell.cx = (tx + 0.15 + 0.7 * rng_uniform (&rng)) * TILE_SIZE;
      cell.cy = (ty + 0.15 + 0.7 * rng_uniform (&rng)) * TILE_SIZE;
      cell.a = 4.5 + 5.0 * rng_uniform (&rng);
      cell.b = cell.a * (0.65 + 0.35 * rng_uniform (&rng));
      theta = 2.0 * G_PI * rng_uniform (&rng);
      cell.cos_t = cos (theta);
      cell.sin_t = sin (theta);
      cell.intensity = 0.18 + 0.14 * rng_uniform (&rng);
      offset_angle = 2.0 * G_PI * rng_uniform (&rng);
      offset = 0.2 * cell.b * rng_uniform (&rng);
      cell.nx = cell.cx + offset * cos (offset_angle);
      cell.ny = cell.cy + offset * sin (offset_angle);
      cell.na = cell.a * (0.35 + 0.15 * rng_uniform (&rng));
      cell.nb = cell.na * (0.75 + 0.25 * rng_uniform (&rng));
      cell.nucleus_intensity = 0.3 + 0.25 * rng_uniform (&rng);
      cell.texture_salt = 100 + (guint32) (rng_uniform (&rng) * 1000000.0);
      paint_cell (canvas, &cell);
    }

  for (guint k = 0; k < n_particles; k++)
    {
      gdouble cx = (tx + rng_uniform (&rng)) * TILE_SIZE;
      gdouble cy = (ty + rng_uniform (&rng)) * TILE_SIZE;
      gdouble sigma = 0.3 + 0.4 * rng_uniform (&rng);
      gdouble amplitude = 0.25 + 0.35 * rng_uniform (&rng);

      paint_particle (canvas, cx, cy, sigma, amplitude);
    }
}

static void
paint_objects (Canvas *canvas)
{
  gdouble x_min = canvas->x0 - MAX_EXTENT;
  gdouble y_min = canvas->y0 - MAX_EXTENT;
  gdouble x_max = canvas_x (canvas, canvas->width - 1) + MAX_EXTENT;
  gdouble y_max = canvas_y (canvas, canvas->height - 1) + MAX_EXTENT;
  gint32 tx0 = (gint32) floor (x_min / TILE_SIZE);
  gint32 tx1 = (gint32) floor (x_max / TILE_SIZE);
  gint32 ty0 = (gint32) floor (y_min / TILE_SIZE);
  gint32 ty1 = (gint32) floor (y_max / TILE_SIZE);

  for (gint32 ty = ty0; ty <= ty1; ty++)
    for (gint32 tx = tx0; tx <= tx1; tx++)
      paint_tile (canvas, tx, ty);
}

static gfloat *
gaussian_kernel (gdouble sigma, guint radius)
{
  gfloat *kernel = g_new (gfloat, 2 * radius + 1);
  gdouble sum = 0.0;

  for (guint k = 0; k <= 2 * radius; k++)
    {
      gdouble d = (gdouble) k - radius;

      kernel[k] = (gfloat) exp (-(d * d) / (2.0 * sigma * sigma));
      sum += kernel[k];
    }
  for (guint k = 0; k <= 2 * radius; k++)
    kernel[k] = (gfloat) (kernel[k] / sum);
  return kernel;
}

void
em_sim_specimen_render_radiance (const EmSimSpecimen *specimen,
                                 const EmSimView     *view,
                                 guint                width,
                                 guint                height,
                                 gfloat              *out_radiance)
{
  gdouble sigma;
  guint radius;
  guint canvas_width;
  guint canvas_height;
  g_autofree gfloat *sharp = NULL;
  g_autofree gfloat *rows = NULL;
  g_autofree gfloat *kernel = NULL;
  Canvas canvas;

  g_return_if_fail (width > 0 && height > 0);
  g_return_if_fail (specimen->pixel_size > 0.0);

  sigma = em_sim_specimen_blur_sigma (specimen, view);
  radius = (guint) ceil (3.0 * sigma);
  canvas_width = width + 2 * radius;
  canvas_height = height + 2 * radius;
  sharp = g_new0 (gfloat, (gsize) canvas_width * canvas_height);
  rows = g_new (gfloat, (gsize) width * canvas_height);
  kernel = gaussian_kernel (sigma, radius);

  /* the field of view is centred on the stage; the margin feeds the blur, so a
   * pixel's value depends only on where it is on the slide */
  canvas = (Canvas) {
    .specimen = specimen,
    .x0 = clamp_coordinate (view->x) + (0.5 - 0.5 * width - radius) * specimen->pixel_size,
    .y0 = clamp_coordinate (view->y) + (0.5 - 0.5 * height - radius) * specimen->pixel_size,
    .step = specimen->pixel_size,
    .width = canvas_width,
    .height = canvas_height,
    .pixels = sharp,
  };
  paint_background (&canvas);
  paint_objects (&canvas);

  /* separable Gaussian: rows first, keeping only the columns we return */
  for (guint j = 0; j < canvas_height; j++)
    {
      const gfloat *in = sharp + (gsize) j * canvas_width;
      gfloat *out = rows + (gsize) j * width;

      for (guint i = 0; i < width; i++)
        {
          gfloat sum = 0.0f;

          for (guint k = 0; k <= 2 * radius; k++)
            sum += kernel[k] * in[i + k];
          out[i] = sum;
        }
    }
  for (guint j = 0; j < height; j++)
    {
      gfloat *out = out_radiance + (gsize) j * width;

      for (guint i = 0; i < width; i++)
        out[i] = 0.0f;
      for (guint k = 0; k <= 2 * radius; k++)
        {
          const gfloat *in = rows + (gsize) (j + k) * width;
          gfloat weight = kernel[k];

          for (guint i = 0; i < width; i++)
            out[i] += weight * in[i];
        }
    }
}

/* standard normal deviates, drawn once: two per 32-bit hash is far cheaper than
 * Box-Muller per pixel */
#define NORMAL_TABLE_BITS 16
static gfloat normal_table[1 << NORMAL_TABLE_BITS];

static gpointer
fill_normal_table (gpointer data)
{
  for (guint k = 0; k < G_N_ELEMENTS (normal_table); k += 2)
    {
      gdouble u1 = ((gdouble) mix32 (k * 2654435761U + 1) + 1.0) / 4294967297.0;
      gdouble u2 = (gdouble) mix32 (k * 2246822519U + 7) / 4294967296.0;
      gdouble r = sqrt (-2.0 * log (u1));

      normal_table[k] = (gfloat) (r * cos (2.0 * G_PI * u2));
      normal_table[k + 1] = (gfloat) (r * sin (2.0 * G_PI * u2));
    }
  return NULL;
}

static guint32
view_key (const EmSimSpecimen *specimen, const EmSimView *view)
{
  gdouble values[] = { view->x, view->y, view->focus, view->exposure_ms, view->gain_db };
  guint32 key = mix32 (specimen->seed ^ 0x5bd1e995U);

  for (guint k = 0; k < G_N_ELEMENTS (values); k++)
    {
      guint64 bits;

      memcpy (&bits, &values[k], sizeof bits);
      key = mix32 (key ^ (guint32) bits) ^ mix32 ((guint32) (bits >> 32) + k);
    }
  return key;
}

void
em_sim_specimen_expose (const EmSimSpecimen *specimen,
                        const EmSimView     *view,
                        const gfloat        *radiance,
                        guint                width,
                        guint                height,
                        gboolean             noise,
                        guint16             *out_pixels)
{
  gdouble gain = pow (10.0, view->gain_db / 20.0);
  gdouble scale = gain / FULL_SCALE * 65535.0;
  guint32 key = view_key (specimen, view);
  gsize n = (gsize) width * height;
  static GOnce table_once = G_ONCE_INIT;

  g_once (&table_once, fill_normal_table, NULL);

  for (gsize p = 0; p < n; p++)
    {
      gfloat electrons = MAX (radiance[p], 0.0f) * (gfloat) (view->exposure_ms * ELECTRONS_PER_MS);
      gfloat value;

      if (noise)
        {
          /* photon noise grows as the square root of the signal, so the picture
           * gets cleaner with exposure; the same view always draws the same noise */
          guint32 h = mix32 (key ^ (guint32) p);

          electrons += sqrtf (electrons) * normal_table[h & 0xffff] +
                       (gfloat) READ_NOISE * normal_table[h >> 16];
        }
      value = electrons * (gfloat) scale + 0.5f;
      out_pixels[p] = (guint16) CLAMP (value, 0.0f, 65535.0f);
    }
}
