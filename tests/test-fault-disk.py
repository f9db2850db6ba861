#!/usr/bin/env python3
"""Fault: the data directory stops taking writes while tasks run.

1. The images directory is replaced by a file: captures fail with a clear error,
   stage and wait tasks keep being served, and captures work again once the
   directory is back.
2. The disk is "full": a file-size limit (RLIMIT_FSIZE, with SIGXFSZ ignored, so
   writes fail with EFBIG as they would with ENOSPC) is put on the running
   daemon. Captures fail clearly, and a submission is either acknowledged or
   refused with a 5xx problem; never acknowledged and then lost. Once the store
   cannot write, GET /health answers 503 with the reason, and goes on saying so
   (the store refuses submissions, and deleting history, until a restart) while
   the rest still answers.

After a restart every acknowledged task is in the database, once.
"""

import os
import resource
import shutil
import signal
import tempfile

from emfault import Daemon, check_acknowledged, fail

FULL_LIMIT = 1024


def ignore_sigxfsz():
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)


def main():
    with tempfile.TemporaryDirectory(prefix="em-fault-disk-") as tmp:
        data_dir = os.path.join(tmp, "data")
        images = os.path.join(data_dir, "images")
        acknowledged = {}
        daemon = Daemon(data_dir, preexec_fn=ignore_sigxfsz)

        def submit(name, action, parameters=None, expect=201):
            status, task = daemon.submit(name, action, parameters, expect=expect)
            if status == 201:
                acknowledged[task["id"]] = name
            return status, task

        try:
            _, first = submit("first-capture", "capture_image", {"exposure": 1})
            task = daemon.wait_finished(first["id"])
            if task["status"] != "completed" or not os.path.isdir(images):
                fail("the first capture did not complete: %s" % task)

            # 1. the images directory becomes a file
            shutil.rmtree(images)
            with open(images, "w") as blocker:
                blocker.write("not a directory\n")
            _, capture = submit("capture-unwritable", "capture_image", {"exposure": 1})
            _, move = submit("move-while-unwritable", "move_stage", {"x": 50, "speed": 5000})
            _, pause = submit("wait-while-unwritable", "wait", {"duration": 0.05})
            capture = daemon.wait_finished(capture["id"])
            if capture["status"] != "failed" or not capture["error"]:
                fail("a capture into a file instead of a directory did not fail: %s" % capture)
            print("capture with images/ a file: %s" % capture["error"], flush=True)
            if "images" not in capture["error"] and "directory" not in capture["error"].lower():
                fail("the capture's error does not say what is wrong: %s" % capture["error"])
            for other in (move, pause):
                other = daemon.wait_finished(other["id"])
                if other["status"] != "completed":
                    fail("%s did not complete: %s" % (other["name"], other))
            daemon.healthy()

            os.unlink(images)
            _, again = submit("capture-after", "capture_image", {"exposure": 1})
            again = daemon.wait_finished(again["id"])
            if again["status"] != "completed":
                fail("captures did not recover once images/ was a directory again: %s" % again)

            # 2. the disk is full
            soft, hard = resource.prlimit(daemon.proc.pid, resource.RLIMIT_FSIZE)
            resource.prlimit(daemon.proc.pid, resource.RLIMIT_FSIZE, (FULL_LIMIT, hard))
            outcomes = []
            store_failed = False
            for i in range(6):
                status, task = submit("while-full-%d" % i, "capture_image" if i % 2 == 0 else "wait",
                                      {"exposure": 1} if i % 2 == 0 else {"duration": 0.01},
                                      expect=None)
                if status == 201:
                    task = daemon.wait_finished(task["id"])
                    outcomes.append(task["status"])
                    if task["action"] == "capture_image" and task["status"] != "failed":
                        fail("a capture succeeded on a full disk: %s" % task)
                    if task["status"] == "failed" and not task["error"]:
                        fail("a task failed without a reason: %s" % task)
                    if task["status"] == "failed":
                        print("on a full disk: %s" % task["error"], flush=True)
                elif 500 <= status < 600 and isinstance(task, dict) and task.get("detail"):
                    outcomes.append("refused %d: %s" % (status, task["detail"]))
                    store_failed = True
                else:
                    fail("a submission on a full disk got %d: %s" % (status, task))
                if store_failed:
                    daemon.store_failed()
                else:
                    daemon.healthy()
            print("submissions on a full disk: %s" % outcomes, flush=True)
            if not daemon.alive():
                fail("the daemon died on a full disk:\n" + daemon.output())
            resource.prlimit(daemon.proc.pid, resource.RLIMIT_FSIZE, (soft, hard))
            if store_failed:
                detail = daemon.store_failed()
                print("GET /health with the store failed: 503 %s" % detail, flush=True)
                if "tasks." not in detail:
                    fail("GET /health does not name the file that failed: %s" % detail)
                daemon.task(again["id"])
                # the database lacks what the journal keeps: no deletion until the restart
                status, problem = daemon.request("DELETE", "/tasks?status=completed")
                print("DELETE /tasks with the store failed: %d %s" % (status, problem), flush=True)
                if status != 503 or "restart" not in problem.get("detail", ""):
                    fail("DELETE /tasks with the store failed answered %d %s" % (status, problem))
                # a pause the journal cannot keep is not acknowledged, as over D-Bus
                for change in ("pause", "resume"):
                    status, problem = daemon.request("POST", "/queue/" + change)
                    print("POST /queue/%s with the store failed: %d %s" % (change, status, problem),
                          flush=True)
                    if status != 503 or "store" not in problem.get("detail", ""):
                        fail("POST /queue/%s with the store failed answered %d %s"
                             % (change, status, problem))
                    # the resume is not applied, and says so
                    if change == "resume" and "stays paused" not in problem.get("detail", ""):
                        fail("POST /queue/resume with the store failed does not say the queue "
                             "stays paused: %s" % problem)
            else:
                daemon.healthy()
        finally:
            daemon.stop()

        # nothing acknowledged is lost
        daemon = Daemon(data_dir)
        try:
            by_id = check_acknowledged(daemon, acknowledged)
            print("after the restart: %d acknowledged tasks present" % len(acknowledged), flush=True)
            if by_id[first["id"]]["status"] != "completed":
                fail("the first capture came back as %s" % by_id[first["id"]])
            if by_id[capture["id"]]["status"] != "failed":
                fail("the failed capture came back as %s" % by_id[capture["id"]])
            # the pause above reached the journal if only the database had
            # failed, and the resume was refused until now: the queue may
            # come back paused, as a pause is kept across a restart
            status, queue = daemon.request("GET", "/queue")
            if status == 200 and queue.get("paused"):
                status, _ = daemon.request("POST", "/queue/resume")
                if status != 200:
                    fail("POST /queue/resume after the restart answered %d" % status)
            _, task = daemon.submit("after-restart", "capture_image", {"exposure": 1})
            if daemon.wait_finished(task["id"])["status"] != "completed":
                fail("captures do not work after the restart")
        finally:
            daemon.stop()
    print("PASS", flush=True)


if __name__ == "__main__":
    main()
