#!/usr/bin/env python3
"""A WebSocket client that is behind in its reading when the service stops
still gets the close frame with 1001 after the events queued before it.

The client reads nothing while about 1 MB of events pile up: more than the
sockets on both sides hold, less than the backlog limit that would drop it. The service is
stopped with SIGTERM, and only then does the client read: it must find the
events its socket held, in order, then a close frame, not a connection cut
short (1006). Events the socket had no room for are dropped rather than put
before the close frame; the client resumes with ?since=.
"""

import json
import struct
import tempfile
import time

from emfault import Daemon, fail
from emws import Reader, handshake

TASKS = 2400
BATCH = 100


def main():
    with tempfile.TemporaryDirectory() as data_dir:
        daemon = Daemon(data_dir, extra_args=["--max-concurrent", "0"])
        try:
            sock, pending = handshake(daemon.port)
            daemon.complete_tasks(TASKS, BATCH, prefix="w")
            time.sleep(0.5)

            daemon.proc.send_signal(15)
            time.sleep(1)
            sock.settimeout(10)
            reader = Reader(sock, pending)
            seqs = []
            code = None
            try:
                while True:
                    opcode, payload = reader.next()
                    if opcode == 0x1:
                        seqs.append(json.loads(payload)["seq"])
                    elif opcode == 0x8:
                        code = struct.unpack("!H", payload[:2])[0]
                        break
            except (EOFError, ConnectionResetError):
                pass
            if code != 1001:
                fail("after %d events the connection ended with %s, not a close frame "
                     "with 1001" % (len(seqs), "no close frame" if code is None else code))
            if not seqs or seqs != list(range(1, len(seqs) + 1)):
                fail("the events before the close frame are not in order: %d, %s … %s"
                     % (len(seqs), seqs[:3], seqs[-3:]))
            sock.close()
            if daemon.wait_exit() != 0:
                fail("engine-manager exited with an error:\n" + daemon.output())
        finally:
            daemon.kill()
    print("ok: %d events, then the close frame with 1001" % len(seqs))


main()
