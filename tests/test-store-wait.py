#!/usr/bin/env python3
"""A service the bus started that finds the task database locked waits for it.

A stopping service leaves the bus some seconds before it closes the task
database, and a D-Bus call in between has the bus start another on the same
data directory. That one waits for the database (up to 15 s) rather than exit
at once and fail the call; the bus says it started it in DBUS_STARTER_BUS_TYPE,
set here as the bus sets it (test-dbus-activation.sh has a real bus do it;
test-fault-sqlite.py checks that a service started by hand is refused at once).
The test checks that the second service serves, with the first one's history,
once the first stops; that a stop while it waits ends it at once with 0; and
that the wait has a bound, past which it exits 1 naming the lock.
"""

import os
import signal
import tempfile
import time

from emfault import Daemon, fail

WAIT_S = 15


def wait_for_log(daemon, text, timeout=10):
    deadline = time.monotonic() + timeout
    while text not in daemon.output():
        if not daemon.alive() or time.monotonic() > deadline:
            daemon.kill()
            fail("engine-manager never said “%s”:\n%s" % (text, daemon.output()))
        time.sleep(0.05)


def main():
    os.environ["DBUS_STARTER_BUS_TYPE"] = "session"
    with tempfile.TemporaryDirectory() as data_dir:
        first = Daemon(data_dir)
        second = None
        try:
            task_id = first.submit("kept", "wait", {"duration": 0})[1]["id"]
            first.wait_finished(task_id)

            second = Daemon(data_dir, expect_start=False)
            wait_for_log(second, "Waiting up to %d s" % WAIT_S)
            code = first.stop()
            if code != 0:
                fail("the first service exited with %d:\n%s" % (code, first.output()))
            wait_for_log(second, "Listening on")
            if second.task(task_id)["status"] != "completed":
                fail("the second service does not have the first one's history")
            code = second.stop()
            if code != 0:
                fail("the second service exited with %d:\n%s" % (code, second.output()))

            # a stop while it waits is no failure and does not wait on
            first = Daemon(data_dir)
            second = Daemon(data_dir, expect_start=False)
            wait_for_log(second, "Waiting up to")
            started = time.monotonic()
            second.proc.send_signal(signal.SIGTERM)
            code = second.wait_exit(timeout=5)
            if code != 0 or time.monotonic() - started > 2:
                fail("stopped while it waited: exit %d after %.1f s:\n%s"
                     % (code, time.monotonic() - started, second.output()))

            # held for good: it gives up, as before, only later
            second = Daemon(data_dir, expect_start=False)
            started = time.monotonic()
            code = second.wait_exit(timeout=WAIT_S + 10)
            waited = time.monotonic() - started
            if code != 1 or "locked by another process" not in second.output():
                fail("with the database held: exit %d:\n%s" % (code, second.output()))
            if waited < WAIT_S - 1:
                fail("gave up after %.1f s, not %d" % (waited, WAIT_S))
            if not first.alive():
                fail("the service holding the database went away:\n" + first.output())
        finally:
            first.kill()
            if second is not None:
                second.kill()
    print("ok")


if __name__ == "__main__":
    main()
