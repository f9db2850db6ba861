#pragma once

#include <gio/gio.h>
#include <json-glib/json-glib.h>

G_BEGIN_DECLS

/**
 * EmDeviceKind:
 *
 * The devices an action claims while it runs. Tasks whose claims overlap never run
 * at the same time.
 */
typedef enum {
  EM_DEVICE_KIND_NONE   = 0,
  EM_DEVICE_KIND_CAMERA = 1 << 0, /*< nick=camera >*/
  EM_DEVICE_KIND_STAGE  = 1 << 1, /*< nick=stage >*/
  EM_DEVICE_KIND_FOCUS  = 1 << 2, /*< nick=focus >*/
} EmDeviceKind;

typedef enum {
  EM_PARAM_NUMBER,  /*< nick=number >*/
  EM_PARAM_INTEGER, /*< nick=integer >*/
  EM_PARAM_BOOLEAN, /*< nick=boolean >*/
  EM_PARAM_STRING,  /*< nick=string >*/
} EmParamType;

/**
 * EmParamSpec:
 * @name: the JSON key
 * @type: its JSON type
 * @unit: the unit, or %NULL
 * @description: one sentence for humans (marked for translation by the action)
 * @has_minimum / @minimum / @exclusive_minimum: lower bound for numbers
 * @has_maximum / @maximum: upper bound for numbers
 * @choices: %NULL-terminated allowed values for strings, or %NULL
 * @default_value: the default as JSON text (e.g. "\"png\"", "false"), or %NULL if none
 * @required: whether the key must be present
 *
 * Declarative description of one parameter. The generic validator and
 * `GET /actions` both read it, so what is documented is what is enforced.
 */
typedef struct {
  const char   *name;
  EmParamType   type;
  const char   *unit;
  const char   *description;
  gboolean      has_minimum;
  gdouble       minimum;
  gboolean      exclusive_minimum;
  gboolean      has_maximum;
  gdouble       maximum;
  const char  **choices;
  const char   *default_value;
  gboolean      required;
} EmParamSpec;

/* handed to a running action; the engine owns it and keeps it alive until the
 * action's callback has run */
typedef struct _EmActionContext EmActionContext;

typedef void (*EmProgressFunc) (gdouble  fraction,
                                gpointer user_data);

#define EM_TYPE_ACTION (em_action_get_type ())
G_DECLARE_DERIVABLE_TYPE (EmAction, em_action, EM, ACTION, GObject)

/**
 * EmActionClass:
 * @validate: extra checks beyond the parameter specs; optional
 * @run_async: start the action; must honour @cancellable and report progress in 0..1
 * @run_finish: the result object (transfer full) or %NULL with @error set; when
 *   not set, @run_async's result must be a GTask with the action as source object
 *   returning the result object as its pointer
 * @is_retry_safe: whether running again after a failed attempt is harmless with
 *   these parameters (e.g. not for a relative move); when not, @error names the
 *   parameter that makes it so, or the one missing; %TRUE when not set
 */
struct _EmActionClass
{
  GObjectClass parent_class;

  gboolean     (*validate)   (EmAction            *self,
                              JsonObject          *parameters,
                              GError             **error);
  void         (*run_async)  (EmAction            *self,
                              EmActionContext     *context,
                              JsonObject          *parameters,
                              GCancellable        *cancellable,
                              GAsyncReadyCallback  callback,
                              gpointer             user_data);
  JsonObject * (*run_finish) (EmAction            *self,
                              GAsyncResult        *result,
                              GError             **error);
  gboolean     (*is_retry_safe) (EmAction         *self,
                                 JsonObject       *parameters,
                                 GError          **error);

  gpointer padding[7];
};

const char         *em_action_get_name        (EmAction          *self);
const char         *em_action_get_description (EmAction          *self);
EmDeviceKind        em_action_get_claims      (EmAction          *self);
const EmParamSpec  *em_action_get_params      (EmAction          *self,
                                               guint             *n_params);

/* subclasses call these from their init/constructed */
void                em_action_set_info        (EmAction          *self,
                                               const char        *name,
                                               const char        *description,
                                               EmDeviceKind       claims,
                                               const EmParamSpec *params,
                                               guint              n_params);

gboolean            em_action_validate        (EmAction          *self,
                                               JsonObject        *parameters,
                                               GError           **error);
gboolean            em_action_is_retry_safe   (EmAction          *self,
                                               JsonObject        *parameters,
                                               GError           **error);
void                em_action_run_async       (EmAction            *self,
                                               EmActionContext     *context,
                                               JsonObject          *parameters,
                                               GCancellable        *cancellable,
                                               GAsyncReadyCallback  callback,
                                               gpointer             user_data);
JsonObject         *em_action_run_finish      (EmAction          *self,
                                               GAsyncResult      *result,
                                               GError           **error);

JsonNode           *em_action_describe        (EmAction          *self);

/* parameter helpers for run functions: values were validated, defaults applied */
gdouble             em_action_param_double    (EmAction          *self,
                                               JsonObject        *parameters,
                                               const char        *name);
gboolean            em_action_param_boolean   (EmAction          *self,
                                               JsonObject        *parameters,
                                               const char        *name);
const char         *em_action_param_string    (EmAction          *self,
                                               JsonObject        *parameters,
                                               const char        *name);
gboolean            em_action_param_has       (JsonObject        *parameters,
                                               const char        *name);

/* the context a run function sees */
typedef struct _EmDeviceSet EmDeviceSet;

EmDeviceSet        *em_action_context_get_devices   (EmActionContext *context);
const char         *em_action_context_get_task_id   (EmActionContext *context);
const char         *em_action_context_get_data_dir  (EmActionContext *context);
void                em_action_context_report_progress (EmActionContext *context,
                                                       gdouble          fraction);
/* the same as an EmProgressFunc, for handing to a device: pass the context as
 * its data */
void                em_action_context_forward_progress (gdouble          fraction,
                                                        gpointer         context);

G_END_DECLS
