#!/usr/bin/env python3
"""The event log's identity across real restarts.

Seqs mean something only within one event log. The service names its log
(EventLogId on D-Bus, Event-Log-Id on the /ws handshake, log_id in
resync_required):

1. A restart on the same database keeps the id, and /ws?since=SEQ&log=ID
   resumes there without a resync.
2. An --in-memory run, another data directory or a removed tasks.db is
   another log with another id.
3. A client resuming with the old log's id gets resync_required, then the
   new log from its start, even when its seq is below the new log's last
   one, where the seq alone cannot tell the logs apart.
"""

import json
import os
import shutil
import subprocess
import tempfile

from embus import MANAGER_PATH, NAME, on_private_bus, start
from emfault import fail
from emws import Reader, frame, upgrade


def bus_log_id():
    result = subprocess.run(
        ["gdbus", "call", "--session", "--dest", NAME, "--object-path", MANAGER_PATH,
         "--method", "org.freedesktop.DBus.Properties.Get",
         "io.github.enginemanager.EngineManager1", "EventLogId"],
        capture_output=True, text=True)
    if result.returncode != 0:
        fail("EventLogId could not be read: " + result.stderr.strip())
    # (<'0123456789abcdef'>,)
    return result.stdout.strip().split("'")[1]


def ws_refused(port, path):
    """the status line of a handshake that must not be accepted"""
    sock, status, _, _ = upgrade(port, path, timeout=10)
    sock.close()
    return status


def ws_open(port, path):
    """the handshake's Event-Log-Id, the socket and a generator of the text frames"""
    sock, status, headers, rest = upgrade(port, path, timeout=10)
    if not status.startswith("HTTP/1.1 101"):
        fail("the WebSocket handshake of %s answered %s" % (path, status))

    def frames():
        reader = Reader(sock, rest)
        try:
            while True:
                opcode, payload = reader.next()
                if opcode == 0x9:
                    sock.sendall(frame(0xA, payload))
                elif opcode == 0x1:
                    yield json.loads(payload)
        finally:
            sock.close()

    return headers.get("Event-Log-Id"), sock, frames()


def first_frames(port, path, n):
    log_id, sock, stream = ws_open(port, path)
    try:
        return log_id, [next(stream) for _ in range(n)]
    finally:
        stream.close()
        sock.close()


def run_tasks(daemon, n):
    """n zero-length waits, finished; three events each"""
    for i in range(n):
        _, task = daemon.submit("log-%d" % i, "wait", {"duration": 0})
        daemon.wait_finished(task["id"])


def stopped(daemon):
    if daemon.stop() != 0:
        fail("the daemon did not stop cleanly:\n" + daemon.output())


def main():
    on_private_bus()
    with tempfile.TemporaryDirectory(prefix="em-log-id-") as tmp:
        data_dir = os.path.join(tmp, "data")

        daemon = start(data_dir)
        try:
            stored = bus_log_id()
            if len(stored) != 16 or any(c not in "0123456789abcdef" for c in stored):
                fail("EventLogId is %r, expected 16 hex digits" % stored)
            header, sock, _ = ws_open(daemon.port, "/ws")
            sock.close()
            if header != stored:
                fail("/ws answered Event-Log-Id %r, EventLogId is %r" % (header, stored))
            run_tasks(daemon, 2)
        finally:
            stopped(daemon)

        # the same database: the same log, resumed where it was
        daemon = start(data_dir)
        try:
            if bus_log_id() != stored:
                fail("a restart on the same database changed EventLogId from %s to %s"
                     % (stored, bus_log_id()))
            run_tasks(daemon, 1)
            header, frames = first_frames(daemon.port, "/ws?since=2&log=" + stored, 1)
            if header != stored or frames[0].get("seq") != 3:
                fail("/ws?since=2&log=<its own log> began with %s (Event-Log-Id %s)"
                     % (frames[0], header))
        finally:
            stopped(daemon)
        print("a restart on the same database keeps the log %s" % stored, flush=True)

        # another log whose seqs are already past the client's: the seq alone
        # would read on from seq 3 as if nothing had happened
        memory = start(data_dir, "--in-memory")
        try:
            fresh = bus_log_id()
            if fresh == stored:
                fail("--in-memory kept the database's EventLogId %s" % stored)
            run_tasks(memory, 3)
            header, frames = first_frames(memory.port, "/ws?since=2&log=" + stored, 2)
            if header != fresh:
                fail("/ws answered Event-Log-Id %s, EventLogId is %s" % (header, fresh))
            expected = {"type": "resync_required", "oldest_seq": 1, "log_id": fresh}
            if frames[0] != expected or frames[1].get("seq") != 1:
                fail("/ws?since=2&log=<another log> began with %s, expected %s then seq 1"
                     % (frames[:2], expected))
            # past the new log's end too: a resync, not the 400 of a seq never reached
            _, frames = first_frames(memory.port, "/ws?since=1000&log=" + stored, 1)
            if frames[0] != expected:
                fail("/ws?since=1000&log=<another log> began with %s" % frames[0])
            # a log names the log of a seq: alone, or empty, it is a mistake
            for path in ("/ws?log=" + stored, "/ws?since=1&log="):
                status = ws_refused(memory.port, path)
                if not status.startswith("HTTP/1.1 400"):
                    fail("%s answered %s, expected 400" % (path, status))
            # without log= the client is unchanged
            _, frames = first_frames(memory.port, "/ws?since=2", 1)
            if frames[0].get("seq") != 3:
                fail("/ws?since=2 without log= began with %s" % frames[0])
        finally:
            stopped(memory)

        again = start(data_dir, "--in-memory")
        try:
            if bus_log_id() in (fresh, stored):
                fail("a second --in-memory run kept EventLogId %s" % bus_log_id())
        finally:
            stopped(again)

        other = start(os.path.join(tmp, "other"))
        try:
            if bus_log_id() == stored:
                fail("another data directory has the same EventLogId %s" % stored)
        finally:
            stopped(other)

        os.remove(os.path.join(data_dir, "tasks.db"))
        for name in os.listdir(data_dir):
            if name.startswith("tasks.db-"):
                os.remove(os.path.join(data_dir, name))
        removed = start(data_dir)
        try:
            if bus_log_id() == stored:
                fail("a new tasks.db kept the removed one's EventLogId %s" % stored)
        finally:
            stopped(removed)
        print("--in-memory, another data directory and a new database are other logs;"
              " resuming with the old id asks for a resync", flush=True)
        shutil.rmtree(data_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
