#pragma once

#include "engine/em-action.h"

G_BEGIN_DECLS

/*
 * An action named "stubborn" that does not heed its cancellable: it claims no
 * device and succeeds after `duration` ms, whatever happens meanwhile, with
 * `result_bytes` of padding in its result.
 */
#define EM_TYPE_TEST_STUBBORN_ACTION (em_test_stubborn_action_get_type ())
G_DECLARE_FINAL_TYPE (EmTestStubbornAction, em_test_stubborn_action, EM, TEST_STUBBORN_ACTION, EmAction)

EmAction *em_test_stubborn_action_new      (void);
/* how many runs have returned, in the whole process */
guint     em_test_stubborn_get_returned (void);

G_END_DECLS
