#!/usr/bin/env python3
"""--in-memory: the benchmarks' daemon without a task database.

1. It serves as usual: tasks are acknowledged, run and listed, and /health is ok.
2. It writes neither tasks.db nor tasks.journal.
3. It says at startup that the history will be lost, and a restart indeed
   starts with none.
"""

import os
import tempfile

from emfault import Daemon, fail


def main():
    with tempfile.TemporaryDirectory(prefix="em-in-memory-") as tmp:
        data_dir = os.path.join(tmp, "data")

        daemon = Daemon(data_dir, ["--in-memory"])
        try:
            ids = []
            for i in range(3):
                _, task = daemon.submit("memory-%d" % i, "wait", {"duration": 0})
                ids.append(task["id"])
            for task_id in ids:
                if daemon.wait_finished(task_id)["status"] != "completed":
                    fail("task %s did not complete" % task_id)
            listed = sorted(task["id"] for task in daemon.all_tasks())
            if listed != sorted(ids):
                fail("GET /tasks lists %s, expected %s" % (listed, sorted(ids)))
            daemon.healthy()
        finally:
            if daemon.stop() != 0:
                fail("the daemon did not stop cleanly:\n" + daemon.output())
        if "--in-memory" not in daemon.output() or "lost" not in daemon.output():
            fail("no warning that the history is lost:\n" + daemon.output())
        for name in ("tasks.db", "tasks.journal"):
            if os.path.exists(os.path.join(data_dir, name)):
                fail("--in-memory wrote %s" % name)

        again = Daemon(data_dir, ["--in-memory"])
        try:
            left = again.all_tasks()
        finally:
            again.stop()
        if left:
            fail("a restart kept %d tasks without a database" % len(left))
        print("3 tasks served without a database; nothing written, nothing kept", flush=True)


if __name__ == "__main__":
    main()
