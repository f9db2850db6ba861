"""A WebSocket client on a raw socket, for the tests that need frames as they
are on the wire: the handshake, client frames (masked, or as broken as a test
wants them) and a reader of server frames.
"""

import base64
import os
import socket
import struct

from emfault import fail

CLOSE_TIMEOUT = 5


def upgrade(port, path="/ws", timeout=CLOSE_TIMEOUT):
    """sends a WebSocket upgrade for @path: the socket, the status line, the
    response's headers and what came after its head"""
    sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall(("GET %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nUpgrade: websocket\r\n"
                  "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\n"
                  "Sec-WebSocket-Version: 13\r\n\r\n" % (path, port, key)).encode())
    response = b""
    while b"\r\n\r\n" not in response:
        chunk = sock.recv(4096)
        if not chunk:
            fail("the WebSocket handshake of %s was refused" % path)
        response += chunk
    head, rest = response.split(b"\r\n\r\n", 1)
    lines = head.decode().split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines[1:])
    return sock, lines[0], headers, rest


def handshake(port, path="/ws"):
    sock, status, _, rest = upgrade(port, path)
    if not status.startswith("HTTP/1.1 101"):
        fail("the WebSocket handshake answered %r" % status)
    return sock, rest


def frame(opcode, payload, mask=True, fin=True, length=None):
    length = len(payload) if length is None else length
    head = bytes([(0x80 if fin else 0) | opcode])
    mask_bit = 0x80 if mask else 0
    if length < 126:
        head += bytes([mask_bit | length])
    elif length < 65536:
        head += bytes([mask_bit | 126]) + struct.pack("!H", length)
    else:
        head += bytes([mask_bit | 127]) + struct.pack("!Q", length)
    if not mask:
        return head + payload
    key = os.urandom(4)
    return head + key + bytes(b ^ key[i % 4] for i, b in enumerate(payload))


def text_frames(port, path, timeout=30):
    """the payloads of the text frames a client of @path gets, pings answered;
    the connection closes with the generator"""
    sock, rest = handshake(port, path)
    sock.settimeout(timeout)
    reader = Reader(sock, rest)
    try:
        while True:
            opcode, payload = reader.next()
            if opcode == 0x9:
                sock.sendall(frame(0xA, payload))
            elif opcode == 0x1:
                yield payload
    finally:
        sock.close()


class Reader:
    """server frames (unmasked) from a raw socket"""

    def __init__(self, sock, pending=b""):
        self.sock = sock
        self.buffer = pending

    def _need(self, n):
        while len(self.buffer) < n:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError
            self.buffer += chunk

    def next(self):
        self._need(2)
        opcode = self.buffer[0] & 0x0F
        length = self.buffer[1] & 0x7F
        offset = 2
        if length == 126:
            self._need(4)
            length = struct.unpack("!H", self.buffer[2:4])[0]
            offset = 4
        elif length == 127:
            self._need(10)
            length = struct.unpack("!Q", self.buffer[2:10])[0]
            offset = 10
        self._need(offset + length)
        payload = self.buffer[offset:offset + length]
        self.buffer = self.buffer[offset + length:]
        return opcode, payload
