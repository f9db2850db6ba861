#!/usr/bin/env python3
"""A batch at the body limit does not stall the other clients.

The real engine-manager gets two 1 MiB batches of `wait` tasks while another
connection asks GET /health every 2 ms: one of 36 157 items, past the limit
of 5 000 a batch, which is refused with 400 naming `tasks` and the limit, and
nothing made; and one of 5 000 items with long names, which is made whole.
Parsing and checking the body, and writing the answer's megabytes, happen off
the main loop, and creating the tasks, which stays on it, is bounded by the
limit. The longest wait for /health is printed; the bound asserted is wide,
for a loaded machine: it catches a batch handled on the loop (about 0.3 s for
the first batch on an idle machine when it was), not a slow scheduler.
"""

import http.client
import json
import tempfile
import threading
import time

from emfault import Daemon, fail

BODY_LIMIT = 1048576
BATCH_MAX = 5000
GAP_BOUND_S = 1.0


def batch_body(n, name_length):
    item = json.dumps({"name": "n" * name_length, "action": "wait"}, separators=(",", ":"))
    return ("[" + ",".join([item] * n) + "]").encode()


def largest_batch(n):
    """@n items with names as long as the body limit leaves room for"""
    base = len(batch_body(n, 1))
    return batch_body(n, 1 + (BODY_LIMIT - base) // n)


class Prober(threading.Thread):
    """GET /health on its own keep-alive connection, every 2 ms"""

    def __init__(self, port):
        super().__init__(daemon=True)
        self.port = port
        self.stop = threading.Event()
        self.samples = []   # (start, duration)
        self.error = None

    def run(self):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            while not self.stop.is_set():
                start = time.monotonic()
                conn.request("GET", "/health")
                response = conn.getresponse()
                response.read()
                if response.status != 200:
                    self.error = "GET /health answered %d" % response.status
                    return
                self.samples.append((start, time.monotonic() - start))
                time.sleep(0.002)
        except OSError as error:
            self.error = "GET /health failed: %s" % error
        finally:
            conn.close()

    def longest_between(self, begin, end):
        return max((d for s, d in self.samples if s <= end and s + d >= begin), default=0.0)


def post(port, body):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        start = time.monotonic()
        conn.request("POST", "/tasks", body, {"Content-Type": "application/json"})
        response = conn.getresponse()
        data = response.read()
        return response.status, response.getheader("Location"), data, start, time.monotonic()
    finally:
        conn.close()


def main():
    with tempfile.TemporaryDirectory(prefix="em-batch-stall-") as data_dir:
        daemon = Daemon(data_dir, extra_args=["--max-pending", "0"])
        try:
            prober = Prober(daemon.port)
            prober.start()
            time.sleep(0.2)

            too_many = batch_body((BODY_LIMIT - 1) // len(b'{"name":"n","action":"wait"},'), 1)
            n_too_many = too_many.count(b'"action"')
            if len(too_many) > BODY_LIMIT or n_too_many <= BATCH_MAX:
                fail("test body: %d items in %d bytes" % (n_too_many, len(too_many)))
            status, _, data, begin, end = post(daemon.port, too_many)
            problem = json.loads(data) if data else None
            detail = problem.get("detail", "") if isinstance(problem, dict) else ""
            want = "tasks: a batch holds at most %d tasks, got %d" % (BATCH_MAX, n_too_many)
            if status != 400 or not detail.startswith(want):
                fail("a batch of %d answered %d %s" % (n_too_many, status, data[:300]))
            refused_gap = prober.longest_between(begin, end)
            print("%d items refused in %.0f ms; longest GET /health meanwhile %.1f ms"
                  % (n_too_many, (end - begin) * 1000, refused_gap * 1000), flush=True)
            _, queue = daemon.request("GET", "/queue")
            if sum(queue["counts"].values()) != 0:
                fail("a refused batch made tasks: %s" % queue)

            largest = largest_batch(BATCH_MAX)
            if len(largest) > BODY_LIMIT or len(largest) < BODY_LIMIT - BATCH_MAX:
                fail("test body: %d bytes" % len(largest))
            status, location, data, begin, end = post(daemon.port, largest)
            if status != 201:
                fail("the largest batch answered %d %s" % (status, data[:300]))
            tasks = json.loads(data)
            if len(tasks) != BATCH_MAX or location != "/tasks/" + tasks[0]["id"] or \
                    len({task["id"] for task in tasks}) != BATCH_MAX:
                fail("the largest batch answered %d tasks, Location %s" % (len(tasks), location))
            made_gap = prober.longest_between(begin, end)
            print("%d items (%d bytes) made in %.0f ms; longest GET /health meanwhile %.1f ms"
                  % (BATCH_MAX, len(largest), (end - begin) * 1000, made_gap * 1000), flush=True)

            prober.stop.set()
            prober.join(30)
            if prober.error:
                fail(prober.error)
            for what, gap in (("refused", refused_gap), ("made", made_gap)):
                if gap > GAP_BOUND_S:
                    fail("GET /health waited %.0f ms while a batch was %s" % (gap * 1000, what))
            if daemon.stop() != 0:
                fail("engine-manager did not stop cleanly:\n" + daemon.output())
        finally:
            daemon.kill()
    print("ok")


if __name__ == "__main__":
    main()
