#!/usr/bin/env python3
"""What the service sends on the bus during a stop reaches the bus before it exits.

The service's bus connection writes from a queue of its own: messages it has
sent but not yet written when the process exits are lost. The test puts a
relay between the service and a private bus that stops reading from the
service for a while once the stop's InterfacesRemoved begin, as a busy bus
does, so the service's socket fills. It then checks that every task object
the service had exported was removed on the bus (one InterfacesRemoved each),
and that the service still exited with 0.
"""

import os
import signal
import subprocess
import tempfile
import time

from embus import NAME, on_private_bus
from embusrelay import AUTH_END, BusRelay, split_messages
from emfault import Daemon, fail

TASKS = 3000
BATCH = 1000
# shorter than the stop's grace, longer than the exit takes without waiting
STALL_S = 2


class Relay(BusRelay):
    """counts the signals the client sends by member; stalls once @stall_on
    first goes by"""

    def __init__(self, path, bus_address, stall_on):
        self.stall_on = stall_on.encode() + b"\0"
        self.counts = {}
        self.stalled = False
        super().__init__(path, bus_address)

    def count(self, member):
        return self.counts.get(member.encode() + b"\0", 0)

    def from_client(self, client, bus):
        pending = b""
        authenticated = False
        while True:
            data = client.recv(65536)
            if not data:
                break
            bus.sendall(data)
            pending += data
            if not authenticated:
                end = pending.find(AUTH_END)
                if end < 0:
                    continue
                authenticated = True
                pending = pending[end + len(AUTH_END):]
            messages, pending = split_messages(pending)
            stall = False
            for head, _ in messages:
                for member in (b"InterfacesAdded\0", b"InterfacesRemoved\0"):
                    if member in head:
                        self.counts[member] = self.counts.get(member, 0) + 1
                stall = stall or self.stall_on in head
            if stall and not self.stalled:
                self.stalled = True
                time.sleep(STALL_S)


def main():
    on_private_bus()
    bus_address = os.environ["DBUS_SESSION_BUS_ADDRESS"]
    with tempfile.TemporaryDirectory() as tmp:
        relay_path = os.path.join(tmp, "relay")
        relay = Relay(relay_path, bus_address, "InterfacesRemoved")
        os.environ["DBUS_SESSION_BUS_ADDRESS"] = "unix:path=" + relay_path
        try:
            daemon = Daemon(os.path.join(tmp, "data"),
                            extra_args=("--bus", "session", "--max-concurrent", "0"))
        finally:
            os.environ["DBUS_SESSION_BUS_ADDRESS"] = bus_address
        try:
            subprocess.run(["gdbus", "wait", "--session", "--timeout", "10", NAME], check=True)
            daemon.post_tasks(TASKS, BATCH)
            deadline = time.monotonic() + 20
            while relay.count("InterfacesAdded") < TASKS:
                if time.monotonic() > deadline:
                    fail("%d of %d task objects were exported"
                         % (relay.count("InterfacesAdded"), TASKS))
                time.sleep(0.05)
            daemon.proc.send_signal(signal.SIGTERM)
            code = daemon.wait_exit(timeout=20)
        finally:
            daemon.kill()
        if code != 0:
            fail("engine-manager exited with %d:\n%s" % (code, daemon.output()))
        if not relay.done.wait(10):
            fail("the service's bus connection is still open after it exited")
        if not relay.stalled:
            fail("no InterfacesRemoved went by: the test did not hold the bus back")
        removed = relay.count("InterfacesRemoved")
        if removed != TASKS:
            fail("the stop removed %d of %d task objects on the bus: the rest were "
                 "lost when the service exited" % (removed, TASKS))
    print("ok: all %d InterfacesRemoved of the stop reached the bus" % TASKS)


main()
