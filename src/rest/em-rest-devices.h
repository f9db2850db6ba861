#pragma once

#include <json-glib/json-glib.h>
#include <libsoup/soup.h>

#include "engine/em-engine-manager.h"

G_BEGIN_DECLS

/* GET /devices: the camera, and the stage and focus with positions and limits */
JsonNode *em_rest_devices_describe (EmEngineManager   *manager);
void      em_rest_devices_handle   (EmEngineManager   *manager,
                                    SoupServerMessage *msg);

G_END_DECLS
