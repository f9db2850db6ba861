#!/usr/bin/env python3
"""Crash test of the task store: the real engine-manager is killed with SIGKILL
while 1 000 tasks are being submitted over HTTP and executed, then restarted on
the same data directory. Every task acknowledged with 201 must be there, exactly
once, in a terminal or resumable state, and the resumed ones must finish.

Environment: EM_DAEMON, the engine-manager binary.
"""

import http.client
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time

N_TASKS = 1000
N_SUBMITTERS = 4
KILL_AFTER = N_TASKS // 2
INTERRUPTED = "interrupted: the service stopped while it was running"


def fail(message):
    print("FAIL: " + message, flush=True)
    sys.exit(1)


def start_daemon(data_dir):
    proc = subprocess.Popen(
        [os.environ["EM_DAEMON"], "--bus", "none", "--http-address", "127.0.0.1",
         "--http-port", "0", "--data-dir", data_dir],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 30
    for line in proc.stderr:
        # the writes acknowledged but not yet in the database when it was killed
        if "task journal" in line:
            print(line.strip(), flush=True)
        match = re.search(r"Listening on http://[^:/]+:(\d+)", line)
        if match:
            # keep draining stderr so the daemon never blocks on a full pipe
            threading.Thread(target=lambda: [None for _ in proc.stderr], daemon=True).start()
            return proc, int(match.group(1))
        if time.monotonic() > deadline:
            break
    proc.kill()
    fail("engine-manager did not start: " + (proc.stderr.read() or "no output"))


def request(conn, method, path, body=None):
    headers = {"Content-Type": "application/json"} if body is not None else {}
    conn.request(method, path, body=json.dumps(body) if body is not None else None, headers=headers)
    response = conn.getresponse()
    data = response.read()
    return response.status, response.headers, json.loads(data) if data else None


def submit(port, indexes, acked, lock, stop):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    for i in indexes:
        if stop.is_set():
            return
        body = {"name": "crash-%04d" % i, "action": "wait",
                "parameters": {"duration": (i % 7) * 3}}
        if i % 5 == 0:
            body["max_retries"] = 2
        try:
            status, _, task = request(conn, "POST", "/tasks", body)
        except (OSError, http.client.HTTPException):
            return  # the daemon is gone: whatever was not acknowledged does not count
        if status != 201:
            fail("POST /tasks answered %d: %s" % (status, task))
        with lock:
            acked[task["id"]] = body["name"]
            if len(acked) >= KILL_AFTER:
                stop.set()


def all_tasks(port):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    tasks, offset = [], 0
    while True:
        status, headers, page = request(conn, "GET", "/tasks?offset=%d&limit=100" % offset)
        if status != 200:
            fail("GET /tasks answered %d" % status)
        tasks += page
        offset += len(page)
        if not page or offset >= int(headers.get("X-Total-Count", offset)):
            return tasks


def main():
    with tempfile.TemporaryDirectory(prefix="em-crash-") as tmp:
        data_dir = os.path.join(tmp, "data")
        proc, port = start_daemon(data_dir)

        acked, lock, stop = {}, threading.Lock(), threading.Event()
        threads = [threading.Thread(target=submit,
                                    args=(port, range(k, N_TASKS, N_SUBMITTERS), acked, lock, stop))
                   for k in range(N_SUBMITTERS)]
        for thread in threads:
            thread.start()
        stop.wait(60)
        # mid-flight: submissions and executions are both under way
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        for thread in threads:
            thread.join()
        with lock:
            acknowledged = dict(acked)
        print("acknowledged %d tasks before the kill" % len(acknowledged), flush=True)
        if len(acknowledged) < KILL_AFTER:
            fail("only %d tasks were acknowledged" % len(acknowledged))

        proc, port = start_daemon(data_dir)
        try:
            tasks = all_tasks(port)
            ids = [t["id"] for t in tasks]
            names = [t["name"] for t in tasks]
            if len(set(ids)) != len(ids) or len(set(names)) != len(names):
                fail("duplicates after the restart")
            by_id = {t["id"]: t for t in tasks}
            missing = [i for i in acknowledged if i not in by_id]
            if missing:
                fail("%d acknowledged tasks are missing, e.g. %s" % (len(missing), missing[:3]))
            for task_id, name in acknowledged.items():
                task = by_id[task_id]
                if task["name"] != name:
                    fail("%s came back as %s" % (name, task["name"]))
                if task["status"] not in ("pending", "running", "completed", "failed"):
                    fail("%s is %s" % (task_id, task["status"]))
                if task["status"] == "failed" and task["error"] != INTERRUPTED:
                    fail("%s failed: %s" % (task_id, task["error"]))

            # the resumed ones run to the end
            deadline = time.monotonic() + 60
            while True:
                tasks = {t["id"]: t for t in all_tasks(port)}
                active = [i for i in acknowledged if tasks[i]["status"] in ("pending", "running")]
                if not active:
                    break
                if time.monotonic() > deadline:
                    fail("%d tasks never finished after the restart" % len(active))
                time.sleep(0.2)
            statuses = {}
            for task_id in acknowledged:
                statuses[tasks[task_id]["status"]] = statuses.get(tasks[task_id]["status"], 0) + 1
            print("after the restart: %s" % statuses, flush=True)
            if set(statuses) - {"completed", "failed"}:
                fail("unexpected final statuses %s" % statuses)
        finally:
            proc.terminate()
            proc.wait(timeout=10)
    print("PASS", flush=True)


if __name__ == "__main__":
    main()
