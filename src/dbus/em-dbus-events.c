#define G_LOG_DOMAIN "em-dbus"

#include "config.h"

#include <glib/gi18n.h>

#include "engine/em-error.h"
#include "engine/em-json-variant.h"
#include "dbus/em-dbus-events.h"
#include "dbus/em-dbus-sender-limits.h"
#include "dbus/em-dbus-util.h"

/*
 * A GetEvents reply is read from the event log in batches, each converted in
 * a worker, until it has the events asked for or about EVENTS_REPLY_BYTES of
 * them. A task_completed event carries the task's result, and a tile scan's
 * lists every tile (1.5 MB for 10 000 tiles): 1 000 such events, read and
 * converted at once on the main loop, held it for seconds and made a reply
 * the bus could not take, so a client reading on from there never could.
 */

/* events per call, as documented */
#define EVENTS_PAGE 1000
/* plenty for 1 000 ordinary events (about 150 bytes each) */
#define EVENTS_REPLY_BYTES (4 * 1024 * 1024)
#define EVENTS_FIRST_BATCH 16
/* an item's offset and padding in the array, beyond its own bytes */
#define EVENT_FRAMING 11

typedef struct {
  EmDBusEngineManager1  *iface;
  GDBusMethodInvocation *invocation;  /* the handler's reference, consumed by the reply */
  GWeakRef               manager;     /* a read must not keep the engine past a stop */
  GCancellable          *cancellable;
  guint64                after;       /* the next batch's */
  guint                  wanted;
  gsize                  max_bytes;
  guint64                oldest;      /* from the first batch */
  gboolean               first_read;
  GPtrArray             *events;      /* (element-type GVariant): serialized, in order */
  gsize                  size;
  GPtrArray             *batch;       /* (element-type GBytes): read, not converted */
  guint                  batch_asked; /* how many it was asked for */
  gboolean               batch_cut;   /* the store stopped it at the room left */
  gboolean               full;        /* the next event would not fit */
} EventsRead;

static void
events_read_free (EventsRead *read)
{
  g_clear_object (&read->iface);
  g_clear_object (&read->invocation);
  g_weak_ref_clear (&read->manager);
  g_clear_object (&read->cancellable);
  g_clear_pointer (&read->events, g_ptr_array_unref);
  g_clear_pointer (&read->batch, g_ptr_array_unref);
  g_free (read);
}

static void
return_error (EventsRead   *read,
              const GError *error)
{
  /* the calls' cancellable goes off when the service leaves the bus, or
   * when the caller did, who gets no answer */
  if (error == NULL || g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    g_dbus_method_invocation_return_error_literal (g_steal_pointer (&read->invocation),
                                                   EM_ERROR, EM_ERROR_UNAVAILABLE,
                                                   _("The service is shutting down"));
  else
    em_dbus_return_error (g_steal_pointer (&read->invocation), error);
}

static guint
batch_length (EventsRead *read)
{
  guint length = EVENTS_FIRST_BATCH;

  if (read->events->len > 0)
    {
      gsize item = MAX (read->size / read->events->len, 1);
      gsize room = read->max_bytes > read->size ? read->max_bytes - read->size : 0;

      length = (guint) MIN (room / item + 1, G_MAXUINT);
    }
  return CLAMP (length, 1, read->wanted - read->events->len);
}

/* in a worker: parsing and converting the frames, and the reply once complete */
static void
convert_batch_thread (GTask        *task,
                      gpointer      source,
                      gpointer      task_data,
                      GCancellable *cancellable)
{
  EventsRead *read = task_data;
  g_autoptr(GPtrArray) batch = g_steal_pointer (&read->batch);
  g_autoptr(JsonParser) parser = json_parser_new_immutable ();
  GDBusMethodInvocation *invocation;
  guint before = read->events->len;

  for (guint i = 0; i < batch->len && !read->full; i++)
    {
      g_autoptr(GError) error = NULL;
      GBytes *frame = g_ptr_array_index (batch, i);
      gsize length = 0;
      const char *data = g_bytes_get_data (frame, &length);
      GVariant *event;
      JsonNode *root;

      /* the engine wrote these frames; one that does not parse is a bug there */
      if (!json_parser_load_from_data (parser, data, length, &error) ||
          (root = json_parser_get_root (parser)) == NULL || !JSON_NODE_HOLDS_OBJECT (root))
        {
          g_warning ("skipping an unreadable event frame: %s",
                     error != NULL ? error->message : "not an object");
          continue;
        }
      event = g_variant_ref_sink (em_json_object_to_variant (json_node_get_object (root)));
      /* serialized now, the dictionary drops its tree of values */
      g_variant_get_data (event);
      /* the first always goes, else a client could never get past it */
      if (read->events->len > 0 &&
          read->size + g_variant_get_size (event) + EVENT_FRAMING > read->max_bytes)
        {
          g_variant_unref (event);
          read->full = TRUE;
          break;
        }
      read->size += g_variant_get_size (event) + EVENT_FRAMING;
      g_ptr_array_add (read->events, event);
      read->after = MAX (read->after, (guint64) json_object_get_int_member_with_default (
                                        json_node_get_object (root), "seq", 0));
    }

  /* a shorter batch than asked for, unless the room left cut it, is the end
   * of the log; one of unreadable frames only would be read again and again */
  if (!read->full && read->events->len < read->wanted &&
      (batch->len == read->batch_asked || read->batch_cut) && read->events->len > before)
    {
      g_task_return_boolean (task, FALSE);
      return;
    }

  /* the last reference goes on the loop, with the read */
  invocation = read->invocation;
  em_dbus_sender_limits_release (invocation);
  em_dbus_engine_manager1_complete_get_events (read->iface, g_object_ref (invocation),
                                               g_variant_new_array (G_VARIANT_TYPE ("a{sv}"),
                                                                    (GVariant **) read->events->pdata,
                                                                    read->events->len),
                                               read->oldest);
  g_task_return_boolean (task, TRUE);
}

static void read_batch (EventsRead *read);

static void
batch_converted_cb (GObject      *source,
                    GAsyncResult *result,
                    gpointer      user_data)
{
  EventsRead *read = user_data;
  g_autoptr(GError) error = NULL;

  if (g_task_propagate_boolean (G_TASK (result), NULL))
    {
      events_read_free (read);
      return;
    }
  /* the caller left, or the service is leaving: no batch more */
  if (g_cancellable_set_error_if_cancelled (read->cancellable, &error))
    {
      return_error (read, error);
      events_read_free (read);
      return;
    }
  read_batch (read);
}

static void
batch_read_cb (GObject      *source,
               GAsyncResult *result,
               gpointer      user_data)
{
  EventsRead *read = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(GTask) task = NULL;
  guint64 oldest = 0;

  read->batch = em_engine_manager_read_events_finish (EM_ENGINE_MANAGER (source), result,
                                                      &oldest, &read->batch_cut, &error);
  if (read->batch == NULL)
    {
      return_error (read, error);
      events_read_free (read);
      return;
    }
  if (read->first_read)
    {
      read->first_read = FALSE;
      read->oldest = oldest;
    }

  task = g_task_new (NULL, NULL, batch_converted_cb, read);
  g_task_set_source_tag (task, batch_read_cb);
  g_task_set_task_data (task, read, NULL);
  g_task_run_in_thread (task, convert_batch_thread);
}

static void
read_batch (EventsRead *read)
{
  g_autoptr(EmEngineManager) manager = g_weak_ref_get (&read->manager);

  if (manager == NULL)
    {
      return_error (read, NULL);
      events_read_free (read);
      return;
    }
  read->batch_asked = batch_length (read);
  /* the store stops at the room left too: a batch sized by small events
   * before read as many large ones, up to a thousand */
  em_engine_manager_read_events_async (manager, read->after, read->batch_asked,
                                       MAX (read->max_bytes > read->size
                                            ? read->max_bytes - read->size : 0, 1),
                                       read->cancellable, batch_read_cb, read);
}

void
em_dbus_events_get (EmEngineManager       *manager,
                    EmDBusEngineManager1  *iface,
                    GDBusMethodInvocation *invocation,
                    guint64                after_seq,
                    guint                  limit,
                    gsize                  max_reply_bytes,
                    GCancellable          *cancellable)
{
  guint64 last = em_engine_manager_get_last_event_seq (manager);
  EventsRead *read;

  /* as /ws?since=: a seq the log never reached is another log's, or a typo,
   * and an empty list would read as "nothing new" */
  if (after_seq > last)
    {
      g_dbus_method_invocation_return_error (invocation, EM_ERROR, EM_ERROR_INVALID_ARGUMENT,
                                             _("after_seq: %llu is ahead of the last event (%llu)"),
                                             (unsigned long long) after_seq,
                                             (unsigned long long) last);
      return;
    }

  read = g_new0 (EventsRead, 1);
  read->iface = g_object_ref (iface);
  read->invocation = invocation;
  g_weak_ref_init (&read->manager, manager);
  read->cancellable = cancellable != NULL ? g_object_ref (cancellable) : NULL;
  read->after = after_seq;
  read->wanted = limit == 0 || limit > EVENTS_PAGE ? EVENTS_PAGE : limit;
  read->max_bytes = MIN (max_reply_bytes, EVENTS_REPLY_BYTES);
  read->first_read = TRUE;
  read->events = g_ptr_array_new_with_free_func ((GDestroyNotify) g_variant_unref);
  read_batch (read);
}
