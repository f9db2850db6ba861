#!/usr/bin/env python3
"""A SIGTERM while the task database is busy with history still stops cleanly.

A deletion (DELETE /tasks) and a retention pruning run in the store's writer
thread and hold the engine until they are answered. The stop must wait for
them: otherwise the engine outlives the main loop, its store is never closed,
and the service exits with the journal unemptied and the database's WAL left
behind. Each case stops the real engine-manager while 50 000 rows are being
deleted, then checks that it exited with 0 within the grace time, that the
journal is empty, the WAL gone, the database intact, and that the next start
has nothing to recover.
"""

import http.client
import os
import sqlite3
import tempfile
import time

from emfault import Daemon, fail

TASKS = 50000
BATCH = 1000
# the daemon's grace for the stop is 5 s; the deletion takes a fraction of it
EXIT_WITHIN_S = 6


def stop_and_check(daemon, data_dir, what):
    started = time.monotonic()
    daemon.proc.send_signal(15)
    code = daemon.wait_exit(timeout=EXIT_WITHIN_S + 5)
    took = time.monotonic() - started
    if code != 0 or took > EXIT_WITHIN_S:
        fail("stopped %s, engine-manager exited with %d after %.1f s:\n%s"
             % (what, code, took, daemon.output()))
    journal = sum(os.path.getsize(os.path.join(data_dir, name))
                  for name in ("tasks.journal", "tasks.journal.1"))
    if journal != 0:
        fail("stopped %s, the journal still holds %d bytes: the store was never "
             "closed" % (what, journal))
    if os.path.exists(os.path.join(data_dir, "tasks.db-wal")):
        fail("stopped %s, the database's WAL is still there: it was never closed" % what)
    db = sqlite3.connect(os.path.join(data_dir, "tasks.db"))
    try:
        result = db.execute("PRAGMA integrity_check").fetchone()[0]
    finally:
        db.close()
    if result != "ok":
        fail("stopped %s, the database fails its integrity check: %s" % (what, result))


def restart_clean(data_dir, what, extra_args=()):
    daemon = Daemon(data_dir, extra_args=extra_args)
    if "Recovered" in daemon.output():
        fail("after a stop %s the next start replayed the journal:\n%s"
             % (what, daemon.output()))
    return daemon


def deletion_in_flight(data_dir):
    what = "during DELETE /tasks"
    daemon = Daemon(data_dir, extra_args=["--max-concurrent", "0"], debug=True)
    try:
        daemon.complete_tasks(TASKS, BATCH)
        conn = http.client.HTTPConnection("127.0.0.1", daemon.port, timeout=10)
        conn.request("DELETE", "/tasks?status=completed")
        # a stop that comes before the request is read rightly deletes nothing
        if not daemon.wait_log("deleting finished tasks from"):
            fail("the deletion never started:\n" + daemon.output())
        stop_and_check(daemon, data_dir, what)
        conn.close()
    finally:
        daemon.kill()
    daemon = restart_clean(data_dir, what)
    try:
        # the stop waited for the deletion: it is whole, not rolled back
        counts = daemon.request("GET", "/queue")[1]["counts"]
        if counts["completed"] != 0:
            fail("after a stop %s, %d tasks of the deletion are back"
                 % (what, counts["completed"]))
        if daemon.stop() != 0:
            fail("engine-manager exited with an error:\n" + daemon.output())
    finally:
        daemon.kill()


def pruning_in_flight(data_dir):
    what = "during retention's pruning"
    daemon = Daemon(data_dir, extra_args=["--max-concurrent", "0"])
    try:
        daemon.complete_tasks(TASKS, BATCH)
        if daemon.stop() != 0:
            fail("engine-manager exited with an error:\n" + daemon.output())
    finally:
        daemon.kill()
    # the start prunes all but one task, and the stop comes as it does
    daemon = Daemon(data_dir, extra_args=["--retention-max-tasks", "1"])
    try:
        stop_and_check(daemon, data_dir, what)
    finally:
        daemon.kill()
    daemon = restart_clean(data_dir, what)
    if daemon.stop() != 0:
        fail("engine-manager exited with an error:\n" + daemon.output())


def main():
    with tempfile.TemporaryDirectory() as data_dir:
        deletion_in_flight(data_dir)
    with tempfile.TemporaryDirectory() as data_dir:
        pruning_in_flight(data_dir)
    print("ok: stopped cleanly during a deletion and during a pruning")


main()
