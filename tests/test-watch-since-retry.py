#!/usr/bin/env python3
"""enginectl watch --since prints every event even when a GetEvents fails.

enginectl reads the event log with GetEvents each time LastEventSeq changes.
The test puts a relay between enginectl and a private bus that, once the
watch is under way, spoils the member name of the next GetEvents, so that
the service, still on the bus, answers it with an error. The one event
that call was for must still be printed: a failed read that was tried
again only at the next change of LastEventSeq left it unprinted for as
long as the service had nothing new to say.
"""

import os
import struct
import subprocess
import tempfile
import threading
import time
import socket

from embus import NAME, on_private_bus
from emfault import Daemon, fail


def bus_socket_path(address):
    for part in address.split(";")[0].split(":", 1)[1].split(","):
        key, _, value = part.partition("=")
        if key == "path":
            return value, False
        if key == "abstract":
            return value, True
    fail("cannot use the bus address %s" % address)
    return None


class Relay:
    """forwards one client connection to the bus; when @spoil is set, the
    next GetEvents the client sends goes out as GetEventz (same length)"""

    def __init__(self, path, bus_address):
        self.bus_path, self.abstract = bus_socket_path(bus_address)
        self.spoil = threading.Event()
        self.spoiled = 0
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.listener.bind(path)
        self.listener.listen(1)
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        client, _ = self.listener.accept()
        bus = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        bus.connect(("\0" + self.bus_path) if self.abstract else self.bus_path)
        threading.Thread(target=self._pipe, args=(bus, client), daemon=True).start()
        self._from_client(client, bus)

    @staticmethod
    def _pipe(source, sink):
        try:
            while True:
                data = source.recv(65536)
                if not data:
                    break
                sink.sendall(data)
        except OSError:
            pass

    def _from_client(self, client, bus):
        pending = b""
        authenticated = False
        try:
            while True:
                data = client.recv(65536)
                if not data:
                    break
                pending += data
                if not authenticated:
                    end = pending.find(b"BEGIN\r\n")
                    if end < 0:
                        bus.sendall(data)
                        pending = b""
                        continue
                    authenticated = True
                    end += len(b"BEGIN\r\n")
                    bus.sendall(pending[:end])
                    pending = pending[end:]
                # whole messages only, so a member name is never split
                while len(pending) >= 16:
                    order = "<" if pending[0:1] == b"l" else ">"
                    body = struct.unpack(order + "I", pending[4:8])[0]
                    fields = struct.unpack(order + "I", pending[12:16])[0]
                    header = 16 + fields + (-(16 + fields) % 8)
                    if len(pending) < header + body:
                        break
                    message = pending[:header + body]
                    pending = pending[header + body:]
                    head = message[:header]
                    if self.spoil.is_set() and b"GetEvents\0" in head:
                        self.spoil.clear()
                        self.spoiled += 1
                        message = head.replace(b"GetEvents\0", b"GetEventz\0") + message[header:]
                    bus.sendall(message)
        except OSError:
            pass
        bus.close()


def wait_for(what, predicate, timeout):
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def main():
    on_private_bus()
    bus_address = os.environ["DBUS_SESSION_BUS_ADDRESS"]
    with tempfile.TemporaryDirectory() as tmp:
        daemon = Daemon(os.path.join(tmp, "data"), extra_args=("--bus", "session"))
        watch = None
        try:
            subprocess.run(["gdbus", "wait", "--session", "--timeout", "10", NAME], check=True)
            relay_path = os.path.join(tmp, "relay")
            relay = Relay(relay_path, bus_address)
            out_path = os.path.join(tmp, "out")
            err_path = os.path.join(tmp, "err")
            env = dict(os.environ, DBUS_SESSION_BUS_ADDRESS="unix:path=" + relay_path)
            with open(out_path, "w") as out, open(err_path, "w") as err:
                watch = subprocess.Popen([os.environ["ENGINECTL"], "watch", "--since", "0",
                                          "--json"], stdout=out, stderr=err, env=env)

            def output(path):
                with open(path) as f:
                    return f.read()

            if not wait_for("watching", lambda: "Watching" in output(err_path), 10):
                fail("watch --since did not start:\n" + output(err_path))
            relay.spoil.set()
            # one event, so one change of LastEventSeq, and nothing after it
            status, _ = daemon.request("POST", "/queue/pause")
            if status != 200:
                fail("POST /queue/pause answered %d" % status)
            if not wait_for("spoiled", lambda: relay.spoiled == 1, 10):
                fail("enginectl did not ask for the new event")
            if not wait_for("printed", lambda: '"queue_paused"' in output(out_path), 10):
                fail("the event whose GetEvents failed was never printed:\nstdout:\n%s\n"
                     "stderr:\n%s" % (output(out_path), output(err_path)))
            if watch.poll() is not None:
                fail("watch --since ended with %d" % watch.returncode)
        finally:
            if watch is not None and watch.poll() is None:
                watch.terminate()
                watch.wait(10)
            daemon.kill()
    print("ok: the event was printed after the failed read")


main()
