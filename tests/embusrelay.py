"""A relay between one client of the session bus and the bus itself, for the
fault tests that need to watch, hold back or change what goes by: the client
connects to a socket of the relay's instead of the bus.
"""

import socket
import struct
import threading

from emfault import fail

AUTH_END = b"BEGIN\r\n"


def bus_socket_path(address):
    """the socket path of a unix: bus address, and whether it is abstract"""
    for part in address.split(";")[0].split(":", 1)[1].split(","):
        key, _, value = part.partition("=")
        if key == "path":
            return value, False
        if key == "abstract":
            return value, True
    fail("cannot use the bus address %s" % address)
    return None


def split_messages(pending):
    """the whole D-Bus messages at the start of @pending, each as (header,
    message), and what is left of it"""
    messages = []
    while len(pending) >= 16:
        order = "<" if pending[0:1] == b"l" else ">"
        body = struct.unpack(order + "I", pending[4:8])[0]
        fields = struct.unpack(order + "I", pending[12:16])[0]
        header = 16 + fields + (-(16 + fields) % 8)
        if len(pending) < header + body:
            break
        messages.append((pending[:header], pending[:header + body]))
        pending = pending[header + body:]
    return messages, pending


class BusRelay:
    """forwards the first connection to @path on to the bus at @bus_address.
    Both directions are passed on as they come; a subclass changes one by
    overriding from_client() or from_bus(). `done` is set once the client
    has closed its end."""

    def __init__(self, path, bus_address):
        self.bus_path, self.abstract = bus_socket_path(bus_address)
        self.done = threading.Event()
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.listener.bind(path)
        self.listener.listen(1)
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        client, _ = self.listener.accept()
        bus = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        bus.connect(("\0" + self.bus_path) if self.abstract else self.bus_path)
        threading.Thread(target=self._run, args=(self.from_bus, bus, client), daemon=True).start()
        self._run(self.from_client, client, bus)
        bus.close()
        self.done.set()

    @staticmethod
    def _run(direction, source, sink):
        try:
            direction(source, sink)
        except OSError:
            pass

    def from_client(self, client, bus):
        self.pipe(client, bus)

    def from_bus(self, bus, client):
        self.pipe(bus, client)

    @staticmethod
    def pipe(source, sink):
        while True:
            data = source.recv(65536)
            if not data:
                break
            sink.sendall(data)
