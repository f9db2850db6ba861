#!/usr/bin/env python3
"""Fault: clients take every file descriptor the daemon may open.

libsoup stops accepting for good when accept() fails once. While descriptors
are exhausted, new connections must be refused at once (not left waiting), and
once the clients leave the daemon must answer again, without a restart.
"""

import resource
import socket
import tempfile
import time

from emfault import Daemon, fail

# low enough for a test to reach, high enough for the daemon to start
FD_LIMIT = 64
CLIENTS = 100


def closed_by_server(sock):
    sock.setblocking(False)
    try:
        return sock.recv(1) == b""
    except BlockingIOError:
        return False
    except ConnectionResetError:
        return True


def main():
    with tempfile.TemporaryDirectory(prefix="em-fd-exhaustion-") as tmp:
        daemon = Daemon(tmp)
        try:
            # the camera's pipeline starts in a worker thread, which loads
            # GStreamer's plugins: with the descriptors gone it could not, and
            # GStreamer's criticals are fatal here. One capture waits for it
            _, warm_up = daemon.submit("warm-up", "capture_image")
            if daemon.wait_finished(warm_up["id"])["status"] != "completed":
                fail("the warm-up capture did not complete:\n" + daemon.output())
            # set from outside once it runs: it raises its own soft limit at
            # startup, and a valgrind-run test cannot lower its child's
            resource.prlimit(daemon.proc.pid, resource.RLIMIT_NOFILE, (FD_LIMIT, FD_LIMIT))
            daemon.healthy()
            clients = []
            for _ in range(CLIENTS):
                try:
                    clients.append(socket.create_connection(("127.0.0.1", daemon.port), timeout=5))
                except OSError as error:
                    fail("connecting failed: %s (the backlog should take the connection)" % error)

            # refused at once, not left in the backlog
            deadline = time.monotonic() + 5
            refused = 0
            while time.monotonic() < deadline:
                refused = sum(1 for sock in clients if closed_by_server(sock))
                if refused > 0:
                    break
                time.sleep(0.1)
            print("%d of %d connections refused with %d descriptors" % (refused, CLIENTS, FD_LIMIT),
                  flush=True)
            if refused == 0:
                fail("with every descriptor taken, no waiting connection was refused")

            for sock in clients:
                sock.close()
            deadline = time.monotonic() + 10
            while True:
                try:
                    status, body = daemon.request("GET", "/health", timeout=1)
                    if status == 200:
                        break
                except OSError:
                    pass
                if time.monotonic() > deadline:
                    fail("the clients left, and GET /health still gets no answer after 10 s:\n"
                         + daemon.output())
            _, task = daemon.submit("after", "wait", {"duration": 0})
            if daemon.wait_finished(task["id"])["status"] != "completed":
                fail("a task submitted afterwards did not complete")

            for expected in ("Too many open files", "Accepting connections again"):
                if not daemon.wait_log(expected):
                    fail("the log does not say “%s”:\n%s" % (expected, daemon.output()))
            if daemon.stop() != 0:
                fail("engine-manager did not stop cleanly:\n" + daemon.output())
        finally:
            daemon.kill()
    print("ok")


if __name__ == "__main__":
    main()
