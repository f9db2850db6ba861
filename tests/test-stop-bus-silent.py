#!/usr/bin/env python3
"""A stop does not wait on a session bus that has stopped answering.

The test puts a relay between the service and a private bus. Once the
service owns its name and has task objects exported, the relay stops
passing on what the bus sends, as a bus that hangs does, while what the
service sends still reaches the bus. The service must then stop within its
grace periods, exit with 0, and what it sent during the stop (its task
objects' InterfacesRemoved) must have reached the bus. Releasing the name
with a call that waits for the bus's answer held the stop up for 25 s.
"""

import os
import signal
import subprocess
import tempfile
import threading
import time

from embus import NAME, on_private_bus
from embusrelay import BusRelay
from emfault import Daemon, fail

TASKS = 20
# the stop's grace periods (5 s, then 5 s at most) with room to spare, well
# under a D-Bus call's 25 s timeout
STOP_LIMIT_S = 12


class Relay(BusRelay):
    """once silenced, what the bus sends is dropped. Counts the client's
    InterfacesRemoved"""

    def __init__(self, path, bus_address):
        self.silent = threading.Event()
        self.sent = b""
        super().__init__(path, bus_address)

    def removed(self):
        return self.sent.count(b"InterfacesRemoved\0")

    def from_client(self, client, bus):
        while True:
            data = client.recv(65536)
            if not data:
                break
            self.sent += data
            bus.sendall(data)

    def from_bus(self, bus, client):
        while True:
            data = bus.recv(65536)
            if not data:
                break
            if not self.silent.is_set():
                client.sendall(data)


def main():
    on_private_bus()
    bus_address = os.environ["DBUS_SESSION_BUS_ADDRESS"]
    with tempfile.TemporaryDirectory() as tmp:
        relay_path = os.path.join(tmp, "relay")
        relay = Relay(relay_path, bus_address)
        os.environ["DBUS_SESSION_BUS_ADDRESS"] = "unix:path=" + relay_path
        try:
            daemon = Daemon(os.path.join(tmp, "data"),
                            extra_args=("--bus", "session", "--max-concurrent", "0"))
        finally:
            os.environ["DBUS_SESSION_BUS_ADDRESS"] = bus_address
        try:
            subprocess.run(["gdbus", "wait", "--session", "--timeout", "10", NAME], check=True)
            daemon.post_tasks(TASKS, TASKS)
            relay.silent.set()
            started = time.monotonic()
            daemon.proc.send_signal(signal.SIGTERM)
            code = daemon.wait_exit(timeout=40)
            took = time.monotonic() - started
        finally:
            daemon.kill()
        if code != 0:
            fail("engine-manager exited with %d:\n%s" % (code, daemon.output()))
        if took > STOP_LIMIT_S:
            fail("the stop took %.1f s with a bus that does not answer (at most %d s)"
                 % (took, STOP_LIMIT_S))
        if not relay.done.wait(10):
            fail("the service's bus connection is still open after it exited")
        if relay.removed() != TASKS:
            fail("the stop removed %d of %d task objects on the bus"
                 % (relay.removed(), TASKS))
        # the bus, which still answers others, saw the name go
        owned = subprocess.run(["gdbus", "call", "--session", "--dest", "org.freedesktop.DBus",
                                "--object-path", "/org/freedesktop/DBus", "--method",
                                "org.freedesktop.DBus.NameHasOwner", NAME],
                               capture_output=True, text=True, check=True).stdout
        if "true" in owned:
            fail("the name is still owned after the service exited")
    print("ok: stopped in %.1f s with a silent bus" % took)


main()
