#!/usr/bin/env python3
"""Signals that keep coming while the service stops do not cut the stop short.

A user pressing Ctrl+C again, or a supervisor repeating its SIGTERM, sends
more signals while the service closes its store after the main loop: the
writer thread finishing its commit, the journal emptied, the database closed
(with its WAL checkpointed). Each of them must find the service still
handling the signal, not the default action that kills it halfway. The test
loads the history with tasks, sends SIGTERM, then SIGINT every few
milliseconds until the process is gone, and checks that it exited with 0,
the journal is empty, the WAL gone and the database intact.
"""

import os
import signal
import sqlite3
import tempfile
import time

from emfault import Daemon, fail

TASKS = 20000
BATCH = 2000
EXIT_WITHIN_S = 10


def main():
    with tempfile.TemporaryDirectory() as data_dir:
        daemon = Daemon(data_dir, extra_args=["--max-concurrent", "0"])
        try:
            daemon.post_tasks(TASKS, BATCH)
            started = time.monotonic()
            daemon.proc.send_signal(signal.SIGTERM)
            while daemon.alive() and time.monotonic() - started < EXIT_WITHIN_S:
                time.sleep(0.002)
                try:
                    daemon.proc.send_signal(signal.SIGINT)
                except ProcessLookupError:
                    break
            code = daemon.wait_exit()
        finally:
            daemon.kill()
        if code != 0:
            fail("with signals repeated during the stop, engine-manager exited with %d:\n%s"
                 % (code, daemon.output()))
        journal = sum(os.path.getsize(os.path.join(data_dir, name))
                      for name in ("tasks.journal", "tasks.journal.1"))
        if journal != 0:
            fail("the journal still holds %d bytes: the store was not closed" % journal)
        if os.path.exists(os.path.join(data_dir, "tasks.db-wal")):
            fail("the database's WAL is still there: the database was not closed")
        db = sqlite3.connect(os.path.join(data_dir, "tasks.db"))
        try:
            result = db.execute("PRAGMA integrity_check").fetchone()[0]
            stored = db.execute("SELECT count(*) FROM tasks").fetchone()[0]
        finally:
            db.close()
        if result != "ok":
            fail("the database fails its integrity check: %s" % result)
        if stored != TASKS:
            fail("the database holds %d tasks, not %d" % (stored, TASKS))
    print("ok: exited with 0 and closed the store, however many signals came")


main()
