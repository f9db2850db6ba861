#!/usr/bin/env python3
"""A request with a body is refused on its head when the head already
decides it (no token, a wrong token, a foreign Origin), before any of the
body is read: a client without the token cannot make the service hold a
megabyte for each connection it opens. A client with the token still sends
its bodies, with or without "Expect: 100-continue", on one connection.

Environment: EM_DAEMON, the engine-manager binary.
"""

import json
import os
import socket
import tempfile
import time

from emfault import Daemon, fail

TOKEN = "a-token-for-the-test"
BODY_SIZE = 1000000


def read_answer(sock, timeout):
    """the status line and headers, or None when nothing came in @timeout"""
    sock.settimeout(timeout)
    data = b""
    try:
        while b"\r\n\r\n" not in data:
            chunk = sock.recv(4096)
            if not chunk:
                break
            data += chunk
    except socket.timeout:
        return None
    return data.decode("latin-1")


def refused_on_head(daemon, label, headers, status,
                    framing="Content-Length: %d\r\n" % BODY_SIZE):
    """sends the head of a 1 MB POST and no body: the answer must come anyway"""
    sock = socket.create_connection(("127.0.0.1", daemon.port))
    try:
        head = "POST /tasks HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nContent-Type: application/json\r\n" \
               "%s%s\r\n" % (daemon.port, framing, headers)
        sock.sendall(head.encode())
        started = time.monotonic()
        answer = read_answer(sock, 5)
        if answer is None:
            fail("%s: no answer to the head within %.0f s; the service waits for a body "
                 "it will refuse" % (label, time.monotonic() - started))
        if not answer.startswith("HTTP/1.1 %d " % status):
            fail("%s: answered %s" % (label, answer.splitlines()[0] if answer else "nothing"))
        if "connection: close" not in answer.lower():
            fail("%s: the answer does not close the connection:\n%s" % (label, answer))
    finally:
        sock.close()


def post(sock, port, body, expect=False):
    data = json.dumps(body).encode()
    head = "POST /tasks HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nAuthorization: Bearer %s\r\n" \
           "Content-Type: application/json\r\nContent-Length: %d\r\n%s\r\n" % (
               port, TOKEN, len(data), "Expect: 100-continue\r\n" if expect else "")
    sock.sendall(head.encode())
    if expect:
        answer = read_answer(sock, 5)
        if answer is None or not answer.startswith("HTTP/1.1 100 "):
            fail("a request with the token that expects 100-continue got %r" % answer)
    sock.sendall(data)
    answer = read_answer(sock, 5)
    if answer is None or not answer.startswith("HTTP/1.1 201 "):
        fail("a request with the token answered %r" % answer)
    length = int([line.split(":", 1)[1] for line in answer.split("\r\n")
                  if line.lower().startswith("content-length:")][0])
    rest = answer.split("\r\n\r\n", 1)[1].encode("latin-1")
    while len(rest) < length:
        rest += sock.recv(length - len(rest))
    if "connection: close" in answer.lower():
        fail("a request with the token closed the connection:\n" + answer)


def main():
    with tempfile.TemporaryDirectory(prefix="em-auth-before-body-") as tmp:
        token_file = os.path.join(tmp, "token")
        with open(os.open(token_file, os.O_WRONLY | os.O_CREAT, 0o600), "w") as f:
            f.write(TOKEN + "\n")
        daemon = Daemon(os.path.join(tmp, "data"), ["--token-file", token_file])
        try:
            refused_on_head(daemon, "no token", "", 401)
            refused_on_head(daemon, "a wrong token", "Authorization: Bearer wrong\r\n", 401)
            refused_on_head(daemon, "a foreign origin",
                            "Authorization: Bearer %s\r\nOrigin: http://evil.example\r\n" % TOKEN,
                            403)
            refused_on_head(daemon, "chunked, no token", "", 401,
                            framing="Transfer-Encoding: chunked\r\n")

            sock = socket.create_connection(("127.0.0.1", daemon.port))
            try:
                task = {"name": "kept", "action": "wait", "parameters": {"duration": 0.01}}
                post(sock, daemon.port, task)
                post(sock, daemon.port, task, expect=True)
                post(sock, daemon.port, task)
            finally:
                sock.close()
            daemon.healthy()
        finally:
            if daemon.stop() != 0:
                fail("engine-manager did not stop cleanly:\n" + daemon.output())
    print("PASS: requests are refused on their head, before their body")


if __name__ == "__main__":
    main()
