#pragma once

#include <gst/gst.h>

G_BEGIN_DECLS

/*
 * A GenICam camera for tests: registered as `aravissrc`, so the camera drives
 * it as it would Aravis' element, it streams a live test pattern and takes
 * `exposure` (µs) and `gain` (dB). While its gate is closed, setting either
 * waits, as a camera that is slow to answer on the network does. Naming it
 * (`camera-name`) waits while names are held, as aravissrc's search for the
 * camera does.
 */
#define EM_TYPE_TEST_GATE_SRC (em_test_gate_src_get_type ())
G_DECLARE_FINAL_TYPE (EmTestGateSrc, em_test_gate_src, EM, TEST_GATE_SRC, GstBin)

/* after gst_init(); the element then stands in for `aravissrc` in this process */
void     em_test_gate_src_register   (void);

void     em_test_gate_src_close      (EmTestGateSrc *self);
void     em_test_gate_src_open       (EmTestGateSrc *self);
/* whether a setter came to the gate since it was closed */
gboolean em_test_gate_src_reached    (EmTestGateSrc *self);
/* whether one waits there now */
gboolean em_test_gate_src_is_waiting (EmTestGateSrc *self);

/* for every instance, as an element is named while it is created; a held
 * name waits at most 5 s */
void     em_test_gate_src_hold_names      (gboolean hold);
gboolean em_test_gate_src_name_is_waiting (void);

G_END_DECLS
