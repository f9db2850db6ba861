#!/usr/bin/env python3
"""Crash test of the task store: the real engine-manager is killed with SIGKILL
while 1 000 tasks are being submitted over HTTP and executed, then restarted on
the same data directory. Every task acknowledged with 201 must be there, exactly
once, in a terminal or resumable state, and the resumed ones must finish.

A WebSocket client follows the events until the kill. What it saw must still be
true after the restart: every frame is in the record under the same seq, byte
for byte (no seq is numbered again); every task it saw scheduled is there; and
a task it saw finish has the status it saw.

A second run kills the daemon after a clean restart: a dependency's end
rewrites its dependent's row without an event, and such a write, still in the
journal at the kill, must not bring a task back pending once it has finished,
nor run it again, and neither may a dependent that finished after its
dependency.

A third run kills it as the journal's appends move on to its second file,
and every task acknowledged before the kill must be back, once.

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

from emws import Reader, frame, handshake, text_frames

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


class Witness(threading.Thread):
    """a WebSocket client that keeps every frame it gets until the connection
    dies; once armed, the next event it gets is the moment of the kill, the
    moment when what it saw is most likely still only in the service's memory"""

    def __init__(self, port, pid):
        super().__init__(daemon=True)
        self.sock, rest = handshake(port)
        self.sock.settimeout(None)
        self.reader = Reader(self.sock, rest)
        self.frames = []
        self.pid = pid
        self.armed = threading.Event()
        self.killed = threading.Event()

    def run(self):
        try:
            while True:
                opcode, payload = self.reader.next()
                if opcode == 0x1:
                    self.frames.append(payload)
                    if self.armed.is_set() and not self.killed.is_set():
                        os.kill(self.pid, signal.SIGKILL)
                        self.killed.set()
                elif opcode == 0x9:
                    self.sock.sendall(frame(0xA, payload))
                elif opcode == 0x8:
                    return
        except (EOFError, OSError):
            return


def wait_recorded(port, kind, ids):
    """until the journal holds a @kind event of each of @ids, and with it the
    rows of the same write: a client resuming from seq 0 gets only what it holds"""
    missing = set(ids)
    stream = text_frames(port, "/ws?since=0")
    try:
        while missing:
            event = json.loads(next(stream))
            if event.get("type") == kind:
                missing.discard(event.get("task_id"))
    finally:
        stream.close()


def recorded_frames(port, after, until):
    """the frames after seq @after up to @until, as a client resuming gets them"""
    frames = {}
    stream = text_frames(port, "/ws?since=%d" % after)
    try:
        while not frames or max(frames) < until:
            payload = next(stream)
            event = json.loads(payload)
            if "seq" not in event:
                fail("resuming from %d: %s" % (after, payload))
            frames[event["seq"]] = payload
    finally:
        stream.close()
    return frames


def check_witness(port, witnessed, tasks):
    """what the client saw before the kill is what the record says after it"""
    events = [json.loads(f) for f in witnessed]
    seqs = [e["seq"] for e in events]
    if not seqs:
        fail("the WebSocket client saw no event before the kill")
    if seqs != list(range(seqs[0], seqs[0] + len(seqs))):
        fail("the WebSocket client saw seqs with a gap or out of order")
    recorded = recorded_frames(port, seqs[0] - 1, seqs[-1])
    for seq, payload in zip(seqs, witnessed):
        if recorded.get(seq) != payload:
            fail("seq %d was %s before the kill and is %s after it"
                 % (seq, payload, recorded.get(seq)))
    finished = {"task_completed": "completed", "task_failed": "failed",
                "task_cancelled": "cancelled"}
    seen_finished = 0
    for event in events:
        task_id = event.get("task_id")
        if event["type"] == "task_scheduled" and task_id not in tasks:
            fail("task %s was seen scheduled and is gone" % task_id)
        if event["type"] in finished:
            seen_finished += 1
            if tasks[task_id]["status"] != finished[event["type"]]:
                fail("task %s was seen %s and came back %s"
                     % (task_id, event["type"], tasks[task_id]["status"]))
    print("the WebSocket client saw seq %d..%d (%d tasks finishing); all of it is in the record"
          % (seqs[0], seqs[-1], seen_finished), flush=True)


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


def wait_for(port, task_ids, statuses, seconds):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    deadline = time.monotonic() + seconds
    while True:
        tasks = {}
        for task_id in task_ids:
            status, _, tasks[task_id] = request(conn, "GET", "/tasks/" + task_id)
            if status != 200:
                fail("GET /tasks/%s answered %d" % (task_id, status))
        if all(t["status"] in statuses for t in tasks.values()):
            return tasks
        if time.monotonic() > deadline:
            fail("tasks did not reach %s: %s" % (statuses, [t["status"] for t in tasks.values()]))
        time.sleep(0.05)


def kill_after_restore(tmp):
    data_dir = os.path.join(tmp, "restore")
    proc, port = start_daemon(data_dir)
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    status, _, delayed = request(conn, "POST", "/tasks", {
        "name": "delayed", "action": "wait", "parameters": {"duration": 0}, "delay": 1.5})
    if status != 201:
        fail("POST /tasks answered %d" % status)
    status, _, dependent = request(conn, "POST", "/tasks", {
        "name": "dependent", "action": "wait", "parameters": {"duration": 0},
        "depends_on": [delayed["id"]]})
    if status != 201:
        fail("POST /tasks answered %d" % status)
    conn.close()
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=10)

    ids = [delayed["id"], dependent["id"]]
    proc, port = start_daemon(data_dir)
    # a client following the events, as a GUI would
    witness = Witness(port, proc.pid)
    witness.start()
    before = wait_for(port, ids, ("completed",), 30)
    wait_recorded(port, "task_completed", ids)
    proc.kill()
    proc.wait()
    witness.join(timeout=10)

    proc, port = start_daemon(data_dir)
    try:
        time.sleep(0.5)
        after = wait_for(port, ids, ("completed", "failed", "cancelled", "pending", "running"), 10)
        for task_id in ids:
            b, a = before[task_id], after[task_id]
            if (a["status"], a["started_at"], a["attempts"]) != (b["status"], b["started_at"], b["attempts"]):
                fail("%s finished before the kill (started %s, attempt %d) and came back %s "
                     "(started %s, attempt %d)" % (b["name"], b["started_at"], b["attempts"],
                                                   a["status"], a["started_at"], a["attempts"]))
        frames = recorded_frames(port, 0, max(json.loads(f)["seq"] for f in witness.frames))
        started = [json.loads(f)["task_id"] for f in frames.values()
                   if json.loads(f)["type"] == "task_started"]
        for task_id in ids:
            if started.count(task_id) != 1:
                fail("%s started %d times" % (task_id, started.count(task_id)))
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    print("a restored task and its dependent, finished before the kill, stay finished", flush=True)


def kill_after_rotation(tmp):
    """the journal is two files: killed as appends move on to the second one,
    every task acknowledged before the kill is there after the restart, once"""
    data_dir = os.path.join(tmp, "rotation")
    proc, port = start_daemon(data_dir)
    second = os.path.join(data_dir, "tasks.journal.1")
    acked, lock, stop = {}, threading.Lock(), threading.Event()

    def submit_long(k):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        for i in range(k, 100000, N_SUBMITTERS):
            if stop.is_set():
                return
            # the longest names, so that the journal fills in a few thousand tasks
            body = {"name": ("rotation-%06d-" % i).ljust(256, "x"), "action": "wait",
                    "parameters": {"duration": 0}}
            try:
                status, _, task = request(conn, "POST", "/tasks", body)
            except (OSError, http.client.HTTPException):
                return
            if status != 201:
                fail("POST /tasks answered %d: %s" % (status, task))
            with lock:
                acked[task["id"]] = body["name"]

    threads = [threading.Thread(target=submit_long, args=(k,)) for k in range(N_SUBMITTERS)]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + 120
    while not (os.path.exists(second) and os.path.getsize(second) > 0):
        if time.monotonic() > deadline or proc.poll() is not None:
            stop.set()
            fail("the journal never moved on to its second file")
        time.sleep(0.005)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    stop.set()
    for thread in threads:
        thread.join()
    sizes = [os.path.getsize(os.path.join(data_dir, name)) for name in ("tasks.journal", "tasks.journal.1")]
    print("killed with %d tasks acknowledged, the journal's files at %d and %d bytes"
          % (len(acked), sizes[0], sizes[1]), flush=True)

    proc, port = start_daemon(data_dir)
    try:
        by_id = {}
        for task in all_tasks(port):
            if task["id"] in by_id:
                fail("%s is listed twice after the restart" % task["id"])
            by_id[task["id"]] = task
        missing = [i for i in acked if i not in by_id]
        if missing:
            fail("%d acknowledged tasks are missing after the restart, e.g. %s"
                 % (len(missing), missing[:3]))
        for task_id, name in acked.items():
            if by_id[task_id]["name"] != name:
                fail("%s came back named %s" % (task_id, by_id[task_id]["name"][:30]))
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    print("killed as the journal moved to its second file: every acknowledged task is back",
          flush=True)


def main():
    with tempfile.TemporaryDirectory(prefix="em-crash-") as tmp:
        kill_after_restore(tmp)
        kill_after_rotation(tmp)
        data_dir = os.path.join(tmp, "data")
        proc, port = start_daemon(data_dir)
        witness = Witness(port, proc.pid)
        witness.start()

        acked, lock, stop = {}, threading.Lock(), threading.Event()
        threads = [threading.Thread(target=submit,
                                    args=(port, range(k, N_TASKS, N_SUBMITTERS), acked, lock, stop))
                   for k in range(N_SUBMITTERS)]
        for thread in threads:
            thread.start()
        stop.wait(60)
        # mid-flight: submissions and executions are both under way
        witness.armed.set()
        if not witness.killed.wait(5):
            os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        for thread in threads:
            thread.join()
        witness.join(timeout=10)
        with lock:
            acknowledged = dict(acked)
        print("acknowledged %d tasks before the kill" % len(acknowledged), flush=True)
        if len(acknowledged) < KILL_AFTER:
            fail("only %d tasks were acknowledged" % len(acknowledged))

        proc, port = start_daemon(data_dir)
        try:
            tasks = all_tasks(port)
            check_witness(port, list(witness.frames), {t["id"]: t for t in tasks})
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
