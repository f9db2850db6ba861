#!/usr/bin/env python3
"""Crash test of cancellations: a cancellation the service answered survives a
crash that comes right after the answer. The real engine-manager is killed
with SIGKILL the moment the client has its answer (REST DELETE /tasks/{id}
with 200, D-Bus CancelTask or Task1.Cancel with their reply), then restarted
on the same data directory: the task must still be cancelled, not pending
again (and run), nor re-queued because it was running.

Runs on a private session bus of its own (dbus-run-session).

Environment: EM_DAEMON, the engine-manager binary.
"""

import json
import os
import tempfile

from embus import MANAGER_PATH, NAME, gdbus_call, on_private_bus, start
from emfault import fail
from emws import text_frames


def wait_started(port, task_id):
    """the task_started event of @task_id, from the start of the log"""
    stream = text_frames(port, "/ws?since=0")
    try:
        for payload in stream:
            event = json.loads(payload)
            if event.get("type") == "task_started" and event.get("task_id") == task_id:
                return
    finally:
        stream.close()


def check_cancelled_after_kill(data_dir, daemon, task_id, how):
    daemon.kill()
    daemon = start(data_dir)
    try:
        task = daemon.task(task_id)
        if task["status"] != "cancelled":
            fail("task %s, cancelled with %s, came back %s after the kill (attempts %d)"
                 % (task_id, how, task["status"], task["attempts"]))
    finally:
        code = daemon.stop()
    if code != 0:
        fail("the daemon did not stop cleanly:\n" + daemon.output())
    print("cancelled with %s, killed at once: still cancelled" % how, flush=True)


def rest_cancel_running(data_dir):
    daemon = start(data_dir)
    # retries left: a task still running in the record would be queued again
    status, task = daemon.request("POST", "/tasks", {
        "name": "long", "action": "wait", "parameters": {"duration": 600000},
        "max_retries": 3})
    if status != 201:
        fail("POST /tasks answered %d: %s" % (status, task))
    wait_started(daemon.port, task["id"])
    status, cancelled = daemon.request("DELETE", "/tasks/" + task["id"])
    if status != 200 or cancelled["status"] != "cancelled":
        fail("DELETE /tasks/%s answered %d: %s" % (task["id"], status, cancelled))
    check_cancelled_after_kill(data_dir, daemon, task["id"], "DELETE /tasks/{id}")


def submit_delayed(daemon):
    status, task = daemon.request("POST", "/tasks", {
        "name": "later", "action": "wait", "parameters": {"duration": 0}, "delay": 600})
    if status != 201:
        fail("POST /tasks answered %d: %s" % (status, task))
    return task["id"]


def dbus_cancel_task(data_dir):
    daemon = start(data_dir)
    task_id = submit_delayed(daemon)
    gdbus_call(MANAGER_PATH, NAME + "1.CancelTask", task_id)
    check_cancelled_after_kill(data_dir, daemon, task_id, "CancelTask")


def dbus_task_cancel(data_dir):
    daemon = start(data_dir)
    task_id = submit_delayed(daemon)
    gdbus_call(MANAGER_PATH + "/tasks/" + task_id.replace("-", "_"),
               "io.github.enginemanager.Task1.Cancel")
    check_cancelled_after_kill(data_dir, daemon, task_id, "Task1.Cancel")


def main():
    with tempfile.TemporaryDirectory(prefix="em-crash-cancel-") as tmp:
        data_dir = os.path.join(tmp, "data")
        rest_cancel_running(data_dir)
        dbus_cancel_task(data_dir)
        dbus_task_cancel(data_dir)
    print("PASS", flush=True)


if __name__ == "__main__":
    on_private_bus()
    main()
