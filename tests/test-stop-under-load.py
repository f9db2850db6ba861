#!/usr/bin/env python3
"""A SIGTERM while clients keep submitting answers every task it recorded.

Sixteen clients post batches of 500 tasks over keep-alive connections when
the real engine-manager is told to stop. A request the service has begun to
answer must get its answer before the connection goes: otherwise its tasks
are recorded while its client sees the connection close without a response,
and a client that retries submits them twice. Requests that come after the
stop began get 503 with "Connection: close", or find the port closed.

After a restart, the tasks in the history must be exactly those some client
got a 201 for.
"""

import http.client
import json
import tempfile
import threading
import time

from emfault import Daemon, fail

CLIENTS = 16
BATCH = 500
LOAD_S = 1.0


class Client(threading.Thread):
    def __init__(self, port, number):
        super().__init__(daemon=True)
        self.port = port
        self.number = number
        self.acknowledged = []
        self.refused = 0
        self.cut = 0       # the connection closed without an answer
        self.stray = []    # any other answer

    def run(self):
        body = json.dumps([{"name": "c%d" % self.number, "action": "wait",
                            "parameters": {"duration": 0}} for _ in range(BATCH)])
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        while True:
            try:
                conn.request("POST", "/tasks", body, {"Content-Type": "application/json"})
                response = conn.getresponse()
                data = response.read()
            except ConnectionRefusedError:
                return
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                self.cut += 1
                return
            if response.status == 201:
                self.acknowledged += [task["id"] for task in json.loads(data)]
            elif response.status == 503:
                self.refused += 1
                if (response.getheader("Connection") or "").lower() != "close":
                    self.stray.append("503 without Connection: close")
                return
            else:
                self.stray.append("%d %s" % (response.status, data[:200]))
                return


def main():
    with tempfile.TemporaryDirectory(prefix="em-stop-load-") as data_dir:
        daemon = Daemon(data_dir, extra_args=["--max-pending", "0"])
        try:
            clients = [Client(daemon.port, n) for n in range(CLIENTS)]
            for client in clients:
                client.start()
            time.sleep(LOAD_S)
            daemon.proc.send_signal(15)
            code = daemon.wait_exit(timeout=15)
            for client in clients:
                client.join(30)
            if code != 0:
                fail("engine-manager exited with %d:\n%s" % (code, daemon.output()))
        finally:
            daemon.kill()

        acknowledged = set()
        for client in clients:
            if client.is_alive():
                fail("client %d still waits for an answer" % client.number)
            if client.stray:
                fail("client %d got %s" % (client.number, client.stray))
            acknowledged.update(client.acknowledged)
        cut = sum(client.cut for client in clients)
        refused = sum(client.refused for client in clients)
        print("%d tasks acknowledged; %d requests refused with 503, %d cut"
              % (len(acknowledged), refused, cut), flush=True)
        if not acknowledged:
            fail("no batch was acknowledged before the stop")

        daemon = Daemon(data_dir, extra_args=["--max-concurrent", "0"])
        try:
            recorded = {task["id"] for task in daemon.all_tasks()}
            if daemon.stop() != 0:
                fail("engine-manager exited with an error:\n" + daemon.output())
        finally:
            daemon.kill()
        unanswered = recorded - acknowledged
        lost = acknowledged - recorded
        if lost:
            fail("%d acknowledged tasks are missing after the restart" % len(lost))
        if unanswered:
            fail("%d tasks were recorded but their client got no answer (%d requests cut)"
                 % (len(unanswered), cut))
        print("ok: every recorded task was acknowledged, and every acknowledged one kept")


main()
