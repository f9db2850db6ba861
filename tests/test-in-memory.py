#!/usr/bin/env python3
"""--in-memory: the benchmarks' daemon without a task database.

1. It serves as usual: tasks are acknowledged, run and listed, and /health is ok.
2. It writes neither tasks.db nor its journal.
3. It says at startup that the history will be lost, and a restart indeed
   starts with none.
4. Memory stays bounded: past --keep-finished the oldest finished tasks are
   gone, from listings and GET /tasks/{id} (404), ListTasks still pages on
   after one, a task may still depend on one, and /ws?since= from before the
   event ring asks for a resync. Past --keep-finished-bytes they are gone
   too, however few they are.
"""

import json
import os
import subprocess
import tempfile
import time

from embus import MANAGER_PATH, NAME, on_private_bus, start
from emfault import Daemon, fail
from emws import text_frames

N_EVICTED = 1400  # three events each: more than the 4 096 the event ring keeps


def check_bounded(tmp):
    daemon = start(os.path.join(tmp, "bounded"), "--in-memory", "--keep-finished", "2")
    try:
        ids = []
        for first in range(0, N_EVICTED, 200):
            items = [{"name": "bounded-%d" % i, "action": "wait", "parameters": {"duration": 0}}
                     for i in range(first, min(first + 200, N_EVICTED))]
            status, tasks = daemon.request("POST", "/tasks", items)
            if status != 201:
                fail("POST /tasks with a batch answered %d: %s" % (status, tasks))
            ids += [task["id"] for task in tasks]
        daemon.wait_finished(ids[-1])
        deadline = time.monotonic() + 10
        while True:
            listed = [task["id"] for task in daemon.all_tasks()]
            if listed == ids[-2:]:
                break
            if time.monotonic() > deadline:
                fail("with --keep-finished 2, GET /tasks still lists %d of %d finished tasks"
                     % (len(listed), len(ids)))
            time.sleep(0.05)
        status, _ = daemon.request("GET", "/tasks/" + ids[0])
        if status != 404:
            fail("GET /tasks/{id} of an evicted task answered %d, expected 404" % status)
        listed = subprocess.run(
            ["gdbus", "call", "--session", "--dest", NAME, "--object-path", MANAGER_PATH,
             "--method", "io.github.enginemanager.EngineManager1.ListTasks",
             "{'after': <'%s'>, 'limit': <uint32 1>}" % ids[-3]],
            capture_output=True, text=True)
        if listed.returncode != 0 or ids[-2] not in listed.stdout:
            fail("ListTasks after an evicted task answered: %s%s" % (listed.stdout, listed.stderr))
        status, dependent = daemon.request("POST", "/tasks", {
            "name": "after-evicted", "action": "wait", "parameters": {"duration": 0},
            "depends_on": [ids[0]]})
        if status != 201 or daemon.wait_finished(dependent["id"])["status"] != "completed":
            fail("a task depending on an evicted completed task: %d %s" % (status, dependent))
        stream = text_frames(daemon.port, "/ws?since=1")
        try:
            first = json.loads(next(stream))
        finally:
            stream.close()
        if first.get("type") != "resync_required" or first.get("oldest_seq", 0) <= 2:
            fail("/ws?since=1 past the event ring began with %s" % first)
        daemon.healthy()
    finally:
        if daemon.stop() != 0:
            fail("the daemon did not stop cleanly:\n" + daemon.output())
    print("%d tasks run with --keep-finished 2: 2 kept, the rest gone" % N_EVICTED, flush=True)


def check_bytes_bounded(tmp):
    daemon = start(os.path.join(tmp, "bytes"), "--in-memory", "--keep-finished-bytes", "1")
    try:
        ids = []
        for i in range(3):
            _, task = daemon.submit("bytes-%d" % i, "wait", {"duration": 0})
            ids.append(task["id"])
        # every finished task holds more than one byte: each goes once it ends
        deadline = time.monotonic() + 10
        while True:
            found = [task_id for task_id in ids
                     if daemon.request("GET", "/tasks/" + task_id)[0] != 404]
            if not found and not daemon.all_tasks():
                break
            if time.monotonic() > deadline:
                fail("with --keep-finished-bytes 1, %s are still there: %s"
                     % (found, daemon.all_tasks()))
            time.sleep(0.05)
        daemon.healthy()
    finally:
        if daemon.stop() != 0:
            fail("the daemon did not stop cleanly:\n" + daemon.output())
    print("3 tasks run with --keep-finished-bytes 1: none kept", flush=True)


def main():
    on_private_bus()
    with tempfile.TemporaryDirectory(prefix="em-in-memory-") as tmp:
        data_dir = os.path.join(tmp, "data")

        daemon = Daemon(data_dir, ["--in-memory"])
        try:
            ids = []
            for i in range(3):
                _, task = daemon.submit("memory-%d" % i, "wait", {"duration": 0})
                ids.append(task["id"])
            for task_id in ids:
                if daemon.wait_finished(task_id)["status"] != "completed":
                    fail("task %s did not complete" % task_id)
            listed = sorted(task["id"] for task in daemon.all_tasks())
            if listed != sorted(ids):
                fail("GET /tasks lists %s, expected %s" % (listed, sorted(ids)))
            daemon.healthy()
        finally:
            if daemon.stop() != 0:
                fail("the daemon did not stop cleanly:\n" + daemon.output())
        if "--in-memory" not in daemon.output() or "lost" not in daemon.output():
            fail("no warning that the history is lost:\n" + daemon.output())
        for name in ("tasks.db", "tasks.journal", "tasks.journal.1"):
            if os.path.exists(os.path.join(data_dir, name)):
                fail("--in-memory wrote %s" % name)

        again = Daemon(data_dir, ["--in-memory"])
        try:
            left = again.all_tasks()
        finally:
            again.stop()
        if left:
            fail("a restart kept %d tasks without a database" % len(left))
        print("3 tasks served without a database; nothing written, nothing kept", flush=True)

        check_bounded(tmp)
        check_bytes_bounded(tmp)


if __name__ == "__main__":
    main()
