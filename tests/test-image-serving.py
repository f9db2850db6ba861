#!/usr/bin/env python3
"""GET /tasks/{id}/image serves the capture's own file from the data
directory, and nothing else the service can read: not the file a record
changed on disk names, not what a symbolic link planted in images/ points at,
and not a FIFO there, which would hold the request for good. What it serves
carries headers that keep a browser from taking it for a page.

Environment: EM_DAEMON, the engine-manager binary.
"""

import http.client
import os
import sqlite3
import tempfile

from emfault import Daemon, fail

SECRET = b"not an image: a file outside the data directory\n"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def get_image(daemon, task_id):
    conn = http.client.HTTPConnection("127.0.0.1", daemon.port, timeout=10)
    try:
        conn.request("GET", "/tasks/%s/image" % task_id)
        response = conn.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    except OSError as error:
        fail("GET /tasks/%s/image got no answer: %s" % (task_id, error))
    finally:
        conn.close()


def check_safe_headers(headers):
    """a browser that opens the image on its own neither sniffs it as a page
    nor runs anything it holds"""
    if headers.get("Content-Type") != "image/png":
        fail("the image is served as %s" % headers.get("Content-Type"))
    if headers.get("X-Content-Type-Options") != "nosniff":
        fail("the image is served without X-Content-Type-Options: nosniff: %s" % headers)
    policy = headers.get("Content-Security-Policy", "")
    if "default-src 'none'" not in policy or "sandbox" not in policy:
        fail("the image is served without a sandboxing Content-Security-Policy: %s" % headers)


def capture(daemon, name):
    _, task = daemon.submit(name, "capture_image", {"exposure": 1})
    task = daemon.wait_finished(task["id"])
    if task["status"] != "completed":
        fail("capture %s ended %s: %s" % (name, task["status"], task["error"]))
    return task


def main():
    with tempfile.TemporaryDirectory(prefix="em-image-serving-") as tmp:
        data_dir = os.path.join(tmp, "data")
        secret = os.path.join(tmp, "secret.txt")
        with open(secret, "wb") as f:
            f.write(SECRET)

        daemon = Daemon(data_dir)
        try:
            tampered = capture(daemon, "tampered")
            linked = capture(daemon, "linked")
            fifo = capture(daemon, "fifo")
            status, headers, body = get_image(daemon, tampered["id"])
            if status != 200 or not body.startswith(PNG_MAGIC):
                fail("the capture's own image answered %d, %r" % (status, body[:16]))
            check_safe_headers(headers)
        finally:
            if daemon.stop() != 0:
                fail("engine-manager did not stop cleanly:\n" + daemon.output())

        # a record changed while the service was away names a file outside
        db = sqlite3.connect(os.path.join(data_dir, "tasks.db"))
        with db:
            db.execute("UPDATE tasks SET json = replace(json, ?, ?) WHERE id = ?",
                       (tampered["result"]["path"], secret, tampered["id"]))
        db.close()
        # images/ holds a link to it, and a FIFO, where images belong
        os.unlink(linked["result"]["path"])
        os.symlink(secret, linked["result"]["path"])
        os.unlink(fifo["result"]["path"])
        os.mkfifo(fifo["result"]["path"])

        daemon = Daemon(data_dir)
        try:
            if daemon.task(tampered["id"])["result"]["path"] != secret:
                fail("the changed record was not read back")
            status, _, body = get_image(daemon, tampered["id"])
            if SECRET in body:
                fail("the image of a changed record served the file it names")
            if status != 200 or not body.startswith(PNG_MAGIC):
                fail("the image of a changed record answered %d, %r rather than the "
                     "capture's own file" % (status, body[:16]))

            status, headers, body = get_image(daemon, linked["id"])
            if SECRET in body:
                fail("a symbolic link in images/ served the file it points at")
            if status != 404 or "symbolic link" not in body.decode():
                fail("a symbolic link in images/ answered %d %s" % (status, body))

            status, _, body = get_image(daemon, fifo["id"])
            if status != 404 or "not a regular file" not in body.decode():
                fail("a FIFO in images/ answered %d %s" % (status, body))
            daemon.healthy()
        finally:
            if daemon.stop() != 0:
                fail("engine-manager did not stop cleanly:\n" + daemon.output())
    print("PASS: images are served from the data directory only")


if __name__ == "__main__":
    main()
