"""Shared pieces of the fault tests: start the real engine-manager on a private
data directory and a free loopback port (no bus), talk HTTP to it, stop it.

Environment: EM_DAEMON, the engine-manager binary.
"""

import http.client
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time


def fail(message):
    print("FAIL: " + message, flush=True)
    sys.exit(1)


class Daemon:
    """One engine-manager process; its stderr is kept for the test to search."""

    def __init__(self, data_dir, extra_args=(), preexec_fn=None, expect_start=True,
                 debug=False):
        # restore_signals would undo what preexec_fn sets up (SIGXFSZ)
        self.log = []
        # GLib writes debug messages to stdout: @debug keeps them with the rest
        env = dict(os.environ, G_MESSAGES_DEBUG="all") if debug else None
        # the reader thread may lag behind the daemon on a loaded machine
        self.log_changed = threading.Condition()
        self.port = None
        # an option is given once: the daemon refuses one given twice
        bus = [] if "--bus" in extra_args else ["--bus", "none"]
        self.proc = subprocess.Popen(
            [os.environ["EM_DAEMON"], *bus, "--http-address", "127.0.0.1",
             "--http-port", "0", "--data-dir", data_dir, *extra_args],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE if debug else subprocess.DEVNULL,
            stderr=subprocess.STDOUT if debug else subprocess.PIPE, env=env,
            text=True, errors="replace", preexec_fn=preexec_fn,
            restore_signals=preexec_fn is None)
        listening = threading.Event()
        self.reader = threading.Thread(target=self._read, args=(listening,), daemon=True)
        self.reader.start()
        if not expect_start:
            return
        deadline = time.monotonic() + 30
        while not listening.wait(0.05):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.kill()
                fail("engine-manager did not start:\n" + self.output())

    def _read(self, listening):
        # keep draining stderr so the daemon never blocks on a full pipe
        for line in self.proc.stdout if self.proc.stderr is None else self.proc.stderr:
            with self.log_changed:
                self.log.append(line)
                self.log_changed.notify_all()
            match = re.search(r"Listening on https?://[^:/]+:(\d+)", line)
            if match and self.port is None:
                self.port = int(match.group(1))
                listening.set()

    def output(self):
        return "".join(self.log)

    def wait_log(self, text, timeout=10):
        """whether @text shows in the log within @timeout seconds: a line
        the daemon wrote may not have been read from the pipe yet"""
        deadline = time.monotonic() + timeout
        with self.log_changed:
            while text not in self.output():
                remaining = deadline - time.monotonic()
                if remaining <= 0 or not self.reader.is_alive():
                    return text in self.output()
                self.log_changed.wait(min(remaining, 0.5))
        return True

    def wait_exit(self, timeout=10):
        try:
            code = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            fail("engine-manager did not exit:\n" + self.output())
        self.reader.join(5)
        return code

    def alive(self):
        return self.proc.poll() is None

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        code = self.wait_exit()
        return code

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def request(self, method, path, body=None, timeout=10):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            headers = {"Content-Type": "application/json"} if body is not None else {}
            conn.request(method, path, body=json.dumps(body) if body is not None else None,
                         headers=headers)
            response = conn.getresponse()
            data = response.read()
            try:
                payload = json.loads(data) if data else None
            except ValueError:
                payload = data
            return response.status, payload
        finally:
            conn.close()

    def healthy(self):
        status, body = self.request("GET", "/health")
        if status != 200 or body.get("status") != "ok":
            fail("GET /health answered %d %s" % (status, body))

    def store_failed(self):
        """GET /health says the store cannot write: 503, with the reason."""
        status, body = self.request("GET", "/health")
        if status != 503 or body.get("status") != "error" or not body.get("detail"):
            fail("GET /health answered %d %s with the store failed" % (status, body))
        return body["detail"]

    def submit(self, name, action, parameters=None, expect=201):
        body = {"name": name, "action": action}
        if parameters is not None:
            body["parameters"] = parameters
        status, task = self.request("POST", "/tasks", body)
        if expect is not None and status != expect:
            fail("POST /tasks %s answered %d: %s" % (name, status, task))
        return status, task

    def post_tasks(self, count, batch, prefix="t"):
        """@count zero-length wait tasks, @batch to a request"""
        for start in range(0, count, batch):
            status, body = self.request("POST", "/tasks",
                                        [{"name": "%s%d" % (prefix, i), "action": "wait"}
                                         for i in range(start, min(start + batch, count))])
            if status != 201:
                fail("POST /tasks answered %d: %s" % (status, body))

    def complete_tasks(self, count, batch, prefix="t", timeout=30):
        """@count tasks posted and finished: the history a test works on"""
        self.post_tasks(count, batch, prefix)
        deadline = time.monotonic() + timeout
        while self.request("GET", "/queue")[1]["counts"]["completed"] < count:
            if time.monotonic() > deadline:
                fail("the tasks did not complete")
            time.sleep(0.05)

    def task(self, task_id):
        status, task = self.request("GET", "/tasks/" + task_id)
        if status != 200:
            fail("GET /tasks/%s answered %d: %s" % (task_id, status, task))
        return task

    def wait_finished(self, task_id, timeout=20):
        deadline = time.monotonic() + timeout
        while True:
            task = self.task(task_id)
            if task["status"] in ("completed", "failed", "cancelled"):
                return task
            if time.monotonic() > deadline:
                fail("task %s is still %s" % (task_id, task["status"]))
            time.sleep(0.05)

    def all_tasks(self):
        tasks, offset = [], 0
        while True:
            status, page = self.request("GET", "/tasks?offset=%d&limit=500" % offset)
            if status != 200:
                fail("GET /tasks answered %d: %s" % (status, page))
            tasks += page
            offset += len(page)
            if len(page) < 500:
                return tasks


def check_acknowledged(daemon, acknowledged):
    """every acknowledged task (id → name) is there after a restart, once"""
    tasks = daemon.all_tasks()
    ids = [t["id"] for t in tasks]
    if len(set(ids)) != len(ids):
        fail("duplicate tasks after the restart")
    by_id = {t["id"]: t for t in tasks}
    missing = [i for i in acknowledged if i not in by_id]
    if missing:
        fail("%d acknowledged tasks are missing after the restart, e.g. %s"
             % (len(missing), missing[:3]))
    for task_id, name in acknowledged.items():
        if by_id[task_id]["name"] != name:
            fail("%s came back as %s" % (name, by_id[task_id]["name"]))
    return by_id
