#!/usr/bin/env python3
"""Fault: a WebSocket client sends small messages as fast as it can.

Each message is within the limits, so the client is not closed; what it sends
is ignored. The main loop must still turn: GET /health answers promptly while
the flood goes on, and a well-behaved client keeps getting events.
"""

import json
import socket
import tempfile
import threading
import time

from emfault import Daemon, fail
from emws import Reader, frame, handshake

FLOOD_SECONDS = 3
# far more than a request needs; a starved loop takes the whole flood
MAX_LATENCY = 1.0


def pump(sock, stop, opcode):
    blob = frame(opcode, b"x" * 100) * 1000
    try:
        while not stop.is_set():
            sock.sendall(blob)
    except OSError:
        pass


def drain(sock):
    try:
        while sock.recv(65536):
            pass
    except OSError:
        pass


def flood(daemon, opcode, label):
    sock, _ = handshake(daemon.port)
    stop = threading.Event()
    threads = [threading.Thread(target=pump, args=(sock, stop, opcode), daemon=True),
               threading.Thread(target=drain, args=(sock,), daemon=True)]
    for thread in threads:
        thread.start()
    try:
        time.sleep(0.3)
        worst = 0.0
        deadline = time.monotonic() + FLOOD_SECONDS
        while time.monotonic() < deadline:
            start = time.monotonic()
            try:
                status, _ = daemon.request("GET", "/health", timeout=5)
            except OSError:
                fail("%s flood: GET /health did not answer in 5 s; the main loop was starved"
                     % label)
            if status != 200:
                fail("%s flood: GET /health answered %d" % (label, status))
            worst = max(worst, time.monotonic() - start)
        print("%s flood: GET /health took at most %.0f ms" % (label, worst * 1000), flush=True)
        if worst > MAX_LATENCY:
            fail("%s flood: GET /health took %.1f s; the main loop was starved"
                 % (label, worst))
    finally:
        stop.set()
        threads[0].join(10)
        sock.close()


def main():
    with tempfile.TemporaryDirectory(prefix="em-ws-flood-") as tmp:
        daemon = Daemon(tmp)
        try:
            good, rest = handshake(daemon.port)
            reader = Reader(good, rest)
            good.settimeout(10)

            flood(daemon, 0x1, "text")
            flood(daemon, 0x2, "binary")

            _, task = daemon.submit("after-flood", "wait", {"duration": 0})
            while True:
                try:
                    opcode, payload = reader.next()
                except (EOFError, OSError) as error:
                    fail("the well-behaved client was dropped: %r" % error)
                if opcode == 0x9:
                    good.sendall(frame(0xA, payload))
                elif opcode == 0x8:
                    fail("the well-behaved client got a close frame: %r" % payload)
                elif opcode == 0x1 and json.loads(payload).get("task_id") == task["id"]:
                    break
            good.close()
            if not daemon.alive():
                fail("the daemon died")
        finally:
            daemon.stop()
    print("PASS", flush=True)


if __name__ == "__main__":
    main()
