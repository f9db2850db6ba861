#!/usr/bin/env python3
"""Restart test of the queue's pause: a paused queue stays paused across a
restart of the real engine-manager, so that its pending tasks do not start
behind the back of whoever paused it, and the event log, which ends with
queue_paused, stays true.

1. D-Bus Pause, and SIGKILL the moment the reply is in: after the restart the
   queue is paused.
2. A task submitted while paused, a clean stop, a start with retention that
   prunes the queue_paused event from the log: the queue is still paused and
   the task pending, also after one more restart.
3. Resume over REST, and SIGKILL the moment the answer is in: after the
   restart the queue runs, and the task completes.

Runs on a private session bus of its own (dbus-run-session).

Environment: EM_DAEMON, the engine-manager binary.
"""

import json
import os
import tempfile

from embus import MANAGER_PATH, NAME, gdbus_call, on_private_bus, start
from emfault import fail
from emws import text_frames


def queue(daemon):
    status, doc = daemon.request("GET", "/queue")
    if status != 200:
        fail("GET /queue answered %d: %s" % (status, doc))
    return doc


def expect_paused(daemon, paused, when):
    doc = queue(daemon)
    if doc["paused"] != paused:
        fail("%s: the queue is %s" % (when, "paused" if doc["paused"] else "running"))


def first_event(port):
    """the first message a client resuming from the start of the log gets"""
    stream = text_frames(port, "/ws?since=0")
    try:
        return json.loads(next(stream))
    finally:
        stream.close()


def main():
    with tempfile.TemporaryDirectory(prefix="em-crash-queue-") as tmp:
        data_dir = os.path.join(tmp, "data")

        # 1. paused over D-Bus, killed right after the reply
        daemon = start(data_dir)
        gdbus_call(MANAGER_PATH, NAME + "1.Pause")
        daemon.kill()
        daemon = start(data_dir)
        expect_paused(daemon, True, "paused over D-Bus and killed at once, then restarted")
        print("paused, killed at once: paused after the restart", flush=True)

        # 2. a task waits in the paused queue across restarts, even once
        # retention has pruned the queue_paused event
        status, task = daemon.request("POST", "/tasks", {
            "name": "held", "action": "wait", "parameters": {"duration": 0}})
        if status != 201:
            fail("POST /tasks answered %d: %s" % (status, task))
        if daemon.stop() != 0:
            fail("the daemon did not stop cleanly:\n" + daemon.output())
        daemon = start(data_dir, "--retention-max-tasks", "1")
        expect_paused(daemon, True, "after a clean stop")
        event = first_event(daemon.port)
        if event.get("type") != "resync_required":
            fail("retention did not prune the log's start: the first event is %s" % event)
        if daemon.stop() != 0:
            fail("the daemon did not stop cleanly:\n" + daemon.output())
        daemon = start(data_dir)
        expect_paused(daemon, True, "with queue_paused pruned from the log")
        if daemon.task(task["id"])["status"] != "pending":
            fail("a task ran while the queue was paused: %s" % daemon.task(task["id"]))
        print("a task submitted while paused is still pending after restarts", flush=True)

        # 3. resumed over REST, killed right after the answer
        status, doc = daemon.request("POST", "/queue/resume")
        if status != 200 or doc["paused"]:
            fail("POST /queue/resume answered %d: %s" % (status, doc))
        daemon.kill()
        daemon = start(data_dir)
        try:
            expect_paused(daemon, False, "resumed and killed at once, then restarted")
            # the answer waits for the journal, so the task may have started
            # before the kill: the restart then fails it as interrupted
            held = daemon.wait_finished(task["id"])
            if held["status"] != "completed" and "interrupted" not in (held["error"] or ""):
                fail("the held task did not run once resumed: %s" % held)
            status, after = daemon.request("POST", "/tasks", {
                "name": "after", "action": "wait", "parameters": {"duration": 0}})
            if status != 201 or daemon.wait_finished(after["id"])["status"] != "completed":
                fail("a task does not run after the restart: %d %s" % (status, after))
        finally:
            code = daemon.stop()
        if code != 0:
            fail("the daemon did not stop cleanly:\n" + daemon.output())
        print("resumed, killed at once: running after the restart", flush=True)
    print("PASS", flush=True)


if __name__ == "__main__":
    on_private_bus()
    main()
