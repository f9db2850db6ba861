#!/usr/bin/python3
"""End-to-end test of the HTTP API: starts the real engine-manager binary on a
free loopback port and drives it with curl, requests and websockets, the way the
README's examples do."""

import asyncio
import json
import os
import re
import signal
import subprocess
import tempfile
import time
import unittest

import requests
import websockets

DAEMON = os.environ.get("EM_DAEMON", "engine-manager")
CURL = os.environ.get("EM_CURL", "curl")


class RestEndToEnd(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory(prefix="em-e2e-rest-")
        env = dict(os.environ, GSETTINGS_BACKEND="memory")
        log_path = os.path.join(cls.tmp.name, "daemon.log")
        cls.log = open(log_path, "w")
        # port 0 and the port it says: a port found free beforehand may be
        # taken by another test before the daemon binds it
        cls.daemon = subprocess.Popen(
            [DAEMON, "--http-address", "127.0.0.1", "--http-port", "0",
             "--bus", "none", "--data-dir", os.path.join(cls.tmp.name, "data")],
            stdout=cls.log, stderr=subprocess.STDOUT, env=env)
        deadline = time.monotonic() + 20
        while True:
            with open(log_path) as log:
                text = log.read()
            match = re.search(r"Listening on http://127\.0\.0\.1:(\d+)", text)
            if match:
                break
            if cls.daemon.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("engine-manager did not come up:\n" + text)
            time.sleep(0.05)
        cls.port = int(match.group(1))
        cls.base = f"http://127.0.0.1:{cls.port}"
        if requests.get(cls.base + "/health", timeout=10).status_code != 200:
            raise RuntimeError("GET /health of the new daemon failed")

    @classmethod
    def tearDownClass(cls):
        if cls.daemon.poll() is None:
            cls.daemon.kill()
            cls.daemon.wait()
        cls.log.close()
        cls.tmp.cleanup()

    def curl(self, *args, data=None):
        """runs curl and returns (status, headers, body)"""
        out = subprocess.run(
            [CURL, "-s", "-S", "-D", "-", "--max-time", "10", *args],
            input=data, capture_output=True, check=True).stdout
        head, _, body = out.partition(b"\r\n\r\n")
        # a 100 Continue comes before the real head
        while head.startswith(b"HTTP/1.1 100"):
            head, _, body = body.partition(b"\r\n\r\n")
        lines = head.decode().split("\r\n")
        status = int(lines[0].split()[1])
        headers = {k.lower(): v for k, _, v in (l.partition(": ") for l in lines[1:])}
        return status, headers, body

    def wait_status(self, task_id, statuses, timeout=15):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            task = requests.get(f"{self.base}/tasks/{task_id}", timeout=5).json()
            if task["status"] in statuses:
                return task
            time.sleep(0.05)
        self.fail(f"task {task_id} never reached {statuses}")

    def test_01_seed_client_flow(self):
        # the seed's example as written: create a task with requests, then follow
        # the stream with websockets, printing type and task_id
        response = requests.post(f"{self.base}/tasks",
                                 json={"name": "test", "action": "capture_image"})
        self.assertEqual(response.status_code, 201)
        first = response.json()
        self.assertEqual(response.headers["Location"], f"/tasks/{first['id']}")

        async def follow():
            seen = []
            async with websockets.connect(f"ws://127.0.0.1:{self.port}/ws") as ws:
                # a second task while connected, so its whole story is on the stream
                loop = asyncio.get_running_loop()
                second = await loop.run_in_executor(None, lambda: requests.post(
                    f"{self.base}/tasks", json={"name": "seed", "action": "wait",
                                                "parameters": {"duration": 20}}).json())
                while True:
                    event = json.loads(await asyncio.wait_for(ws.recv(), 10))
                    print(event["type"], event["task_id"])
                    seen.append(event)
                    if event["type"] == "task_completed" and event["task_id"] == second["id"]:
                        return second, seen

        second, seen = asyncio.run(follow())
        story = [e["type"] for e in seen if e["task_id"] == second["id"] and e["type"] != "task_progress"]
        self.assertEqual(story, ["task_scheduled", "task_started", "task_completed"])
        seqs = [e["seq"] for e in seen]
        self.assertEqual(seqs, list(range(seqs[0], seqs[0] + len(seqs))))
        scheduled = next(e for e in seen if e["type"] == "task_scheduled" and e["task_id"] == second["id"])
        self.assertEqual(scheduled["name"], "seed")
        self.assertEqual(scheduled["action"], "wait")
        self.assertIn("timestamp", scheduled)

    def test_02_curl_examples(self):
        status, headers, body = self.curl(
            "-X", "POST", f"{self.base}/tasks", "-H", "Content-Type: application/json",
            "-d", '{"name": "test", "action": "capture_image"}')
        self.assertEqual(status, 201)
        task = json.loads(body)
        self.assertEqual(task["name"], "test")
        self.assertEqual(headers["location"], f"/tasks/{task['id']}")

        # without a content type (curl then says form-urlencoded): still JSON
        status, _, body = self.curl(
            "-X", "POST", f"{self.base}/tasks",
            "-d", '{"name": "focus", "action": "adjust_focus", "parameters": {"position": 12.5}}')
        self.assertEqual(status, 201)

        self.wait_status(task["id"], ["completed"])
        status, headers, body = self.curl(f"{self.base}/tasks/{task['id']}")
        self.assertEqual(status, 200)
        self.assertEqual(json.loads(body)["status"], "completed")

        status, headers, body = self.curl("-o", os.path.join(self.tmp.name, "image.png"),
                                          f"{self.base}/tasks/{task['id']}/image")
        self.assertEqual(status, 200)
        self.assertEqual(headers["content-type"], "image/png")
        with open(os.path.join(self.tmp.name, "image.png"), "rb") as f:
            self.assertEqual(f.read(8), b"\x89PNG\r\n\x1a\n")

        status, headers, body = self.curl(f"{self.base}/tasks?status=completed&limit=1")
        self.assertEqual(status, 200)
        self.assertEqual(len(json.loads(body)), 1)
        if int(headers["x-total-count"]) > 1:
            self.assertIn('rel="next"', headers["link"])

        status, _, body = self.curl(f"{self.base}/tasks")
        self.assertEqual(status, 200)
        self.assertTrue(all("id" in t for t in json.loads(body)))

        status, _, body = self.curl(f"{self.base}/health")
        self.assertEqual(json.loads(body)["status"], "ok")
        status, _, body = self.curl(f"{self.base}/actions")
        self.assertIn("capture_image", [a["name"] for a in json.loads(body)])

    def test_02b_expect_continue_is_not_held(self):
        # a client that asks "Expect: 100-continue" waits for the 100 before it
        # sends the body: the server must not hold it back (a TCP cork would, by
        # 200 ms). Compared with the same POST without the header, best of three.
        body = json.dumps({"name": "expect", "action": "wait",
                           "parameters": {"duration": 0}})

        def best(*extra):
            times = []
            for _ in range(3):
                out = subprocess.run(
                    [CURL, "-s", "-S", "-o", "/dev/null", "-w", "%{http_code} %{time_total}",
                     "--max-time", "10", "--expect100-timeout", "5", *extra,
                     "-H", "Content-Type: application/json", "--data-binary", body,
                     f"{self.base}/tasks"],
                    capture_output=True, check=True, text=True).stdout.split()
                self.assertEqual(out[0], "201")
                times.append(float(out[1]))
            return min(times)

        plain = best()
        expecting = best("-H", "Expect: 100-continue")
        self.assertLess(expecting - plain, 0.15,
                        f"with Expect: {expecting:.3f} s, without: {plain:.3f} s")

    def test_03_curl_cancel_and_errors(self):
        status, _, body = self.curl(
            "-X", "POST", f"{self.base}/tasks", "-d",
            '{"name": "far", "action": "move_stage", "parameters": {"x": 40000, "speed": 1}}')
        self.assertEqual(status, 201)
        task_id = json.loads(body)["id"]
        status, _, body = self.curl("-X", "DELETE", f"{self.base}/tasks/{task_id}")
        self.assertEqual(status, 200)
        self.assertEqual(json.loads(body)["status"], "cancelled")

        status, headers, body = self.curl("-X", "DELETE", f"{self.base}/tasks/{task_id}")
        self.assertEqual(status, 409)
        self.assertEqual(headers["content-type"], "application/problem+json")
        self.assertIn("cancelled", json.loads(body)["detail"])

        status, headers, body = self.curl("-X", "POST", f"{self.base}/tasks",
                                          "-d", '{"name": "x", "action": "nope"}')
        self.assertEqual(status, 400)
        problem = json.loads(body)
        self.assertEqual(problem["status"], 400)
        self.assertIn("action", problem["detail"])

        status, headers, _ = self.curl("-X", "PUT", f"{self.base}/tasks")
        self.assertEqual(status, 405)
        self.assertIn("POST", headers["allow"])

        status, _, _ = self.curl(f"{self.base}/tasks/does-not-exist")
        self.assertEqual(status, 404)

        # over the 1 MiB cap: refused before the body is read
        big = b'{"name": "' + b"x" * (2 * 1024 * 1024) + b'", "action": "wait"}'
        status, _, body = self.curl("-X", "POST", f"{self.base}/tasks",
                                    "--data-binary", "@-", data=big)
        self.assertEqual(status, 413)
        self.assertEqual(json.loads(body)["status"], 413)

        status, _, _ = self.curl(f"{self.base}/health")
        self.assertEqual(status, 200)

    def test_04_refused_upgrade_is_reported_at_once(self):
        # websockets reports a refusal once the server has closed the connection
        async def refused(path, **kwargs):
            start = time.monotonic()
            with self.assertRaises(websockets.InvalidStatusCode) as raised:
                async with websockets.connect(f"ws://127.0.0.1:{self.port}{path}",
                                              open_timeout=30, **kwargs):
                    pass
            return raised.exception.status_code, time.monotonic() - start

        for path, kwargs, status in (("/ws?since=18446744073709551615", {}, 400),
                                     ("/ws?follow=1", {}, 400),
                                     ("/ws", {"origin": "http://elsewhere.example"}, 403)):
            code, took = asyncio.run(refused(path, **kwargs))
            self.assertEqual(code, status, path)
            self.assertLess(took, 2, f"{path}: the refusal took {took:.1f} s to arrive")

    def test_05_other_websocket_version_learns_ours(self):
        upgrade = ["-H", "Upgrade: websocket", "-H", "Connection: Upgrade",
                   "-H", "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ=="]
        status, headers, _ = self.curl(*upgrade, "-H", "Sec-WebSocket-Version: 8",
                                       f"{self.base}/ws")
        self.assertEqual(status, 400)
        self.assertEqual(headers.get("sec-websocket-version"), "13")

    def test_99_sigterm_closes_websockets(self):
        async def follow():
            async with websockets.connect(f"ws://127.0.0.1:{self.port}/ws") as ws:
                self.daemon.send_signal(signal.SIGTERM)
                try:
                    while True:
                        await asyncio.wait_for(ws.recv(), 10)
                except websockets.ConnectionClosed as closed:
                    return closed.rcvd.code if closed.rcvd else None

        code = asyncio.run(follow())
        self.assertEqual(code, 1001)
        self.assertEqual(self.daemon.wait(timeout=10), 0)


if __name__ == "__main__":
    unittest.main(verbosity=2)
