#!/usr/bin/env python3
"""Fault: clients send garbage and oversized frames on the WebSocket.

Raw sockets, so the frames can be as broken as an attacker makes them: a reserved
opcode, an unmasked client frame, a 10 MiB frame, binary junk after the
handshake, and junk instead of a handshake. Each abuser is closed (with a close
frame or by a dropped connection) within seconds; meanwhile a well-behaved
WebSocket client keeps receiving every event, with `seq` contiguous, GET /health
keeps answering, and every acknowledged task is there.

A message over 4 KiB, in one frame or in fragments, gets a close frame with
1009 (message too big), and the daemon's memory does not grow with what the
client keeps sending.

Clients that resume with ?since= and leave without reading the history the
service is sending them (the write fails, which closes the connection at once)
cost the service nothing: it stops sending there, and stays up.
"""

import json
import os
import random
import socket
import struct
import tempfile
import time

from emfault import Daemon, fail
from emws import CLOSE_TIMEOUT, Reader, frame, handshake, text_frames


def expect_closed(name, sock, pending=b"", want=None, answer=False):
    """the server ends the connection: a close frame, EOF or a reset, in time;
    with want, a close frame with that code; with answer, the client answers
    it with its own close frame, as clients do"""
    reader = Reader(sock, pending)
    deadline = time.monotonic() + CLOSE_TIMEOUT
    code = None
    try:
        while time.monotonic() < deadline:
            opcode, payload = reader.next()
            if opcode == 0x8:
                code = struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else 1005
                if answer:
                    send_all(sock, frame(0x8, payload[:2]))
                answered = time.monotonic()
                # the server closes its side after its close frame
                try:
                    while reader.next():
                        pass
                except (EOFError, OSError):
                    pass
                # libsoup gives up waiting for the client's close frame after 5 s
                if answer and time.monotonic() - answered > 4:
                    fail("%s: the server did not see the client's close frame" % name)
                break
    except socket.timeout:
        fail("%s: the server kept the connection open" % name)
    except (EOFError, ConnectionResetError, BrokenPipeError):
        pass
    finally:
        sock.close()
    if want is not None and code != want:
        fail("%s: closed with %s, not code %d"
             % (name, "code %d" % code if code else "no close frame", want))
    if code is not None and code not in (1002, 1003, 1007, 1008, 1009, 1011):
        fail("%s: closed with code %d" % (name, code))
    print("%s: closed (%s)" % (name, "code %d" % code if code else "connection dropped"), flush=True)


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    fail("no VmRSS for process %d" % pid)


def send_all(sock, data):
    try:
        sock.sendall(data)
    except (BrokenPipeError, ConnectionResetError):
        pass  # the server closed already: what this test wants


class GoodClient:
    def __init__(self, port):
        self.sock, rest = handshake(port)
        self.reader = Reader(self.sock, rest)
        self.events = []

    def wait_for(self, predicate, timeout=10):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.sock.settimeout(max(0.05, deadline - time.monotonic()))
            try:
                opcode, payload = self.reader.next()
            except socket.timeout:
                break
            except (EOFError, OSError) as error:
                fail("the well-behaved client was dropped: %r" % error)
            if opcode == 0x9:
                self.sock.sendall(frame(0xA, payload))
            elif opcode == 0x1:
                self.events.append(json.loads(payload))
                if predicate(self.events[-1]):
                    return self.events[-1]
            elif opcode == 0x8:
                fail("the well-behaved client got a close frame: %r" % payload)
        fail("the well-behaved client did not see the expected event; got %s"
             % [(e.get("type"), e.get("task_id")) for e in self.events[-5:]])


def check_abandoned_catch_up(tmp):
    daemon = Daemon(os.path.join(tmp, "catch-up"))
    try:
        ids = []
        # three events each: several pages of history
        for first in range(0, 1400, 200):
            items = [{"name": "history-%d" % i, "action": "wait", "parameters": {"duration": 0}}
                     for i in range(first, first + 200)]
            status, tasks = daemon.request("POST", "/tasks", items)
            if status != 201:
                fail("POST /tasks with a batch answered %d: %s" % (status, tasks))
            ids += [task["id"] for task in tasks]
        daemon.wait_finished(ids[-1])
        for attempt in range(20):
            try:
                stream = text_frames(daemon.port, "/ws?since=1")
                next(stream)
                # unread frames make the close a reset, and the next write fail
                stream.close()
            except OSError as error:
                fail("client %d: %s\n%s" % (attempt, error, daemon.output()))
        daemon.healthy()
    finally:
        if daemon.stop() != 0:
            fail("the daemon did not stop cleanly after abandoned catch-ups:\n" + daemon.output())
    print("20 clients left in the middle of their history; the daemon stayed up", flush=True)


def main():
    with tempfile.TemporaryDirectory(prefix="em-fault-ws-") as tmp:
        check_abandoned_catch_up(tmp)
        daemon = Daemon(os.path.join(tmp, "data"))
        acknowledged = {}
        try:
            good = GoodClient(daemon.port)

            def round_trip(label):
                _, task = daemon.submit("after-" + label, "wait", {"duration": 0.01})
                acknowledged[task["id"]] = task["name"]
                good.wait_for(lambda e: e.get("type") == "task_completed"
                              and e.get("task_id") == task["id"])
                daemon.healthy()

            round_trip("start")
            rng = random.Random(9)

            sock, rest = handshake(daemon.port)
            send_all(sock, frame(0x3, b"reserved opcode"))
            expect_closed("reserved opcode", sock, rest)
            round_trip("reserved-opcode")

            sock, rest = handshake(daemon.port)
            send_all(sock, frame(0x1, b"{\"unmasked\": true}", mask=False))
            expect_closed("unmasked client frame", sock, rest)
            round_trip("unmasked")

            sock, rest = handshake(daemon.port)
            big = 10 * 1024 * 1024
            # the header announces 10 MiB; the payload follows in chunks
            send_all(sock, frame(0x2, b"", length=big))
            chunk = bytes(rng.getrandbits(8) for _ in range(65536))
            sent = 0
            try:
                sock.settimeout(CLOSE_TIMEOUT)
                while sent < big:
                    sock.sendall(chunk)
                    sent += len(chunk)
            except (BrokenPipeError, ConnectionResetError, socket.timeout):
                pass
            print("10 MiB frame: the server took %d bytes of it before closing" % sent, flush=True)
            if sent >= big:
                print("10 MiB frame: all sent; the close must follow", flush=True)
            expect_closed("10 MiB frame", sock, rest, want=1009)
            round_trip("oversized")

            # just over the limit: the close frame comes, and once the client
            # answers it the server ends the connection
            sock, rest = handshake(daemon.port)
            send_all(sock, frame(0x1, b"x" * 5000))
            expect_closed("5000-byte frame", sock, rest, want=1009, answer=True)
            round_trip("5000-byte")

            # 4000-byte fragments of one text message, up to 32 MB: libsoup
            # checks each frame, not the message they add up to
            sock, rest = handshake(daemon.port)
            before = rss_kib(daemon.proc.pid)
            fragment = frame(0x0, b"y" * 4000, fin=False)
            sent = 0
            try:
                sock.settimeout(CLOSE_TIMEOUT)
                sock.sendall(frame(0x1, b"y" * 4000, fin=False))
                while sent < 32 * 1000 * 1000:
                    sock.sendall(fragment)
                    sent += len(fragment)
            except (BrokenPipeError, ConnectionResetError, socket.timeout):
                pass
            grown = rss_kib(daemon.proc.pid) - before
            print("fragmented message: the server took %d bytes of fragments; "
                  "its RSS grew by %d KiB" % (sent, grown), flush=True)
            expect_closed("fragmented message", sock, rest, want=1009)
            if grown > 8 * 1024:
                fail("fragmented message: the daemon's RSS grew by %d KiB" % grown)
            round_trip("fragmented")

            sock, rest = handshake(daemon.port)
            send_all(sock, bytes(rng.getrandbits(8) for _ in range(4096)))
            expect_closed("binary junk", sock, rest)
            round_trip("junk")

            sock, rest = handshake(daemon.port)
            send_all(sock, frame(0x1, b"\xff\xfe not UTF-8"))
            expect_closed("invalid UTF-8 text", sock, rest)
            round_trip("bad-utf8")

            # junk instead of a handshake
            sock = socket.create_connection(("127.0.0.1", daemon.port), timeout=CLOSE_TIMEOUT)
            send_all(sock, bytes(rng.getrandbits(8) for _ in range(2048)) + b"\r\n\r\n")
            try:
                answer = sock.recv(4096)
            except (ConnectionResetError, socket.timeout):
                answer = b""
            sock.close()
            if answer and not (answer.startswith(b"HTTP/1.") and answer[8:10] == b" 4"):
                fail("junk instead of a handshake got %r" % answer[:40])
            round_trip("no-handshake")

            seqs = [e["seq"] for e in good.events]
            if seqs != list(range(seqs[0], seqs[0] + len(seqs))):
                fail("the well-behaved client missed events: seq %s" % seqs)
            print("the well-behaved client got %d events, seq %d..%d"
                  % (len(seqs), seqs[0], seqs[-1]), flush=True)
            good.sock.close()

            listed = {t["id"] for t in daemon.all_tasks()}
            missing = [i for i in acknowledged if i not in listed]
            if missing:
                fail("acknowledged tasks are missing: %s" % missing)
            if not daemon.alive():
                fail("the daemon died")
        finally:
            daemon.stop()
    print("PASS", flush=True)


if __name__ == "__main__":
    main()
