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
import subprocess
import tempfile
import threading
import time

from embus import NAME, on_private_bus
from embusrelay import AUTH_END, BusRelay, split_messages
from emfault import Daemon, fail


class Relay(BusRelay):
    """when @spoil is set, the next GetEvents the client sends goes out as
    GetEventz (same length)"""

    def __init__(self, path, bus_address):
        self.spoil = threading.Event()
        self.spoiled = 0
        super().__init__(path, bus_address)

    def from_client(self, client, bus):
        pending = b""
        authenticated = False
        while True:
            data = client.recv(65536)
            if not data:
                break
            pending += data
            if not authenticated:
                end = pending.find(AUTH_END)
                if end < 0:
                    bus.sendall(data)
                    pending = b""
                    continue
                authenticated = True
                end += len(AUTH_END)
                bus.sendall(pending[:end])
                pending = pending[end:]
            # whole messages only, so a member name is never split
            messages, pending = split_messages(pending)
            for head, message in messages:
                if self.spoil.is_set() and b"GetEvents\0" in head:
                    self.spoil.clear()
                    self.spoiled += 1
                    message = head.replace(b"GetEvents\0", b"GetEventz\0") + message[len(head):]
                bus.sendall(message)


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
