#pragma once

#include <gst/base/gstpushsrc.h>

#include "devices/em-sim-specimen.h"

G_BEGIN_DECLS

/* the factory name to use in pipeline descriptions */
#define EM_SIM_SRC_NAME "emsimsrc"

#define EM_TYPE_SIM_SRC (em_sim_src_get_type ())
G_DECLARE_FINAL_TYPE (EmSimSrc, em_sim_src, EM, SIM_SRC, GstPushSrc)

/**
 * EmSimSrc:
 *
 * `emsimsrc`, the simulated microscope: a live video source rendering a seeded
 * synthetic specimen (EmSimSpecimen) as seen through a stage and a focus drive.
 * Properties:
 *
 * - `stage` (EmStage), `focus` (EmFocus): the devices it follows; their
 *   positions are read from the streaming thread through their any-thread
 *   getters. Without them, `x`, `y` (µm) and `z` (µm, the focus) are used.
 * - `exposure` (ms) and `gain` (dB): sensor settings, applied from the next frame.
 * - `seed`, `pixel-size` (µm/px), `focal-plane` (µm), `tilt-x`, `tilt-y`
 *   (µm per µm), `blur` (px of sigma per µm of defocus), `noise` (boolean).
 *
 * Output: GRAY16 (preferred), GRAY8 or RGB at any size, 30 fps unless
 * negotiated otherwise. A frame is rendered when it is due, from the positions
 * of that moment; while nothing changes the last frame is sent again.
 */

/* registers `emsimsrc` with GStreamer for this process, once; call after
 * gst_init(). Returns whether the element can be made. */
gboolean em_sim_src_register      (void);

/* a copy of what it renders, under the object lock */
void     em_sim_src_get_specimen  (EmSimSrc      *self,
                                   EmSimSpecimen *out_specimen);

G_END_DECLS
