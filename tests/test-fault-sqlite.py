#!/usr/bin/env python3
"""Fault: SQLite busy or locked.

The daemon holds <data-dir>/tasks.db in exclusive locking mode for its whole
life. So:
1. while it runs, another process that tries to write the file (BEGIN EXCLUSIVE)
   gets "database is locked" at once, and the daemon keeps serving: submissions
   are acknowledged and run;
2. while another process holds a write lock, the daemon refuses to start, quickly,
   with a message naming the file, and writes nothing;
3. once the lock is gone it starts, and every acknowledged task is there.
"""

import os
import sqlite3
import tempfile
import time

from emfault import Daemon, check_acknowledged, fail


def main():
    with tempfile.TemporaryDirectory(prefix="em-fault-sqlite-") as tmp:
        data_dir = os.path.join(tmp, "data")
        db_path = os.path.join(data_dir, "tasks.db")
        acknowledged = {}

        daemon = Daemon(data_dir)
        try:
            for i in range(5):
                _, task = daemon.submit("before-%d" % i, "wait", {"duration": 0.01})
                acknowledged[task["id"]] = task["name"]

            # 1. a second process tries to write while the daemon runs
            intruder = sqlite3.connect(db_path, timeout=0, isolation_level=None)
            try:
                intruder.execute("BEGIN EXCLUSIVE")
                intruder.execute("DELETE FROM tasks")
                fail("another process could write the daemon's database")
            except sqlite3.OperationalError as error:
                print("a second writer while the daemon runs: %s" % error, flush=True)
                if "locked" not in str(error) and "busy" not in str(error):
                    fail("unexpected error for a second writer: %s" % error)
            finally:
                intruder.close()
            for i in range(5):
                _, task = daemon.submit("during-%d" % i, "wait", {"duration": 0.01})
                acknowledged[task["id"]] = task["name"]
                if daemon.wait_finished(task["id"])["status"] != "completed":
                    fail("a task did not complete after the second writer tried")
            daemon.healthy()
        finally:
            if daemon.stop() != 0:
                fail("the daemon did not stop cleanly:\n" + daemon.output())
        size_before = os.path.getsize(db_path)
        mtime_before = os.stat(db_path).st_mtime_ns

        # 2. another process holds the write lock: startup is refused
        holder = sqlite3.connect(db_path, timeout=0, isolation_level=None)
        holder.execute("BEGIN EXCLUSIVE")
        holder.execute("SELECT count(*) FROM tasks").fetchone()
        try:
            started = time.monotonic()
            refused = Daemon(data_dir, expect_start=False)
            code = refused.wait_exit(timeout=10)
            elapsed = time.monotonic() - started
            output = refused.output()
            print("startup with the database locked: exit %d after %.1f s: %s"
                  % (code, elapsed, output.strip().splitlines()[-1] if output.strip() else ""),
                  flush=True)
            if code == 0 or refused.port is not None:
                fail("the daemon started although the database was locked:\n" + output)
            if db_path not in output or "lock" not in output.lower():
                fail("the refusal does not name the locked file:\n" + output)
            if elapsed > 5:
                fail("the refusal took %.1f s" % elapsed)
        finally:
            holder.execute("ROLLBACK")
            holder.close()
        if os.path.getsize(db_path) != size_before or os.stat(db_path).st_mtime_ns != mtime_before:
            fail("the refused start wrote to the database")

        # 3. the lock is gone: it starts and nothing is lost
        daemon = Daemon(data_dir)
        try:
            by_id = check_acknowledged(daemon, acknowledged)
            done = [i for i in acknowledged if by_id[i]["status"] == "completed"]
            print("after the lock: %d acknowledged tasks present, %d completed"
                  % (len(acknowledged), len(done)), flush=True)
            _, task = daemon.submit("after", "wait", {"duration": 0.01})
            if daemon.wait_finished(task["id"])["status"] != "completed":
                fail("tasks do not run after the lock was released")
        finally:
            daemon.stop()
    print("PASS", flush=True)


if __name__ == "__main__":
    main()
