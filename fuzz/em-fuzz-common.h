#pragma once

#include <stddef.h>
#include <stdint.h>

#include "engine/em-engine-manager.h"

G_BEGIN_DECLS

/* libFuzzer's entry points */
int LLVMFuzzerInitialize (int *argc, char ***argv);
int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

/* criticals abort, so a g_return_if_fail() reached from input is a finding even
 * outside meson; the registry holds the built-in actions and lives for the process */
EmActionRegistry *em_fuzz_init          (void);

/* a fresh, paused engine without store or devices: nothing runs, nothing is
 * written, and what one input schedules cannot change how the next one is handled */
EmEngineManager  *em_fuzz_engine_new    (EmActionRegistry *registry);
/* cancels everything, drops the engine and runs what it left on the main context */
void              em_fuzz_engine_free   (EmEngineManager  *engine);

/* what a transport would send back to the client: an EM_ERROR whose message is
 * valid UTF-8 (it goes into JSON and D-Bus strings) */
void              em_fuzz_assert_error  (const GError     *error);
/* a scheduled task must serialize, with the name and action it was given */
void              em_fuzz_check_task    (EmTask           *task,
                                         EmTaskSpec       *spec);


G_END_DECLS
