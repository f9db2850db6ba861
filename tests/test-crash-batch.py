#!/usr/bin/env python3
"""Restart test of an exclusive batch: killed between its tasks with SIGKILL,
the real engine-manager comes back with the batch holding the devices of all
its tasks, those of the finished ones included, until its last task ends.

A batch moves the stage, then captures an hour later; another client's move
waits meanwhile. After the kill and a restart the batch's capture is
cancelled, which ends the batch: the event log must show the other move
starting only after that, as it would have without the restart.

Environment: EM_DAEMON, the engine-manager binary.
"""

import json
import os
import tempfile

from emfault import Daemon, fail
from emws import text_frames


def main():
    with tempfile.TemporaryDirectory(prefix="em-crash-batch-") as tmp:
        data_dir = os.path.join(tmp, "data")

        daemon = Daemon(data_dir)
        status, batch = daemon.request("POST", "/tasks", {"exclusive": True, "tasks": [
            {"name": "to the well", "action": "move_stage", "parameters": {"x": 10}},
            {"name": "capture", "action": "capture_image", "parameters": {"exposure": 1},
             "depends_on": ["#0"], "delay": 3600}]})
        if status != 201:
            fail("POST /tasks (batch) answered %d: %s" % (status, batch))
        move, capture = batch[0]["id"], batch[1]["id"]
        if daemon.wait_finished(move)["status"] != "completed":
            fail("the batch's move did not complete")
        # its acknowledgement puts everything before it in the journal
        _, other = daemon.submit("other client's move", "move_stage", {"x": 20})
        daemon.kill()

        daemon = Daemon(data_dir)
        try:
            status, doc = daemon.request("DELETE", "/tasks/" + capture)
            if status != 200:
                fail("DELETE /tasks/%s answered %d: %s" % (capture, status, doc))
            if daemon.wait_finished(other["id"])["status"] != "completed":
                fail("the other client's move did not complete")
            batch_end = started = None
            stream = text_frames(daemon.port, "/ws?since=0")
            try:
                for text in stream:
                    event = json.loads(text)
                    if event.get("task_id") == capture and event["type"] == "task_cancelled":
                        batch_end = event["seq"]
                    elif event.get("task_id") == other["id"] and event["type"] == "task_started":
                        started = event["seq"]
                    elif event.get("task_id") == other["id"] and event["type"] == "task_completed":
                        break
            finally:
                stream.close()
        finally:
            code = daemon.stop()
        if code != 0:
            fail("the daemon did not stop cleanly:\n" + daemon.output())
        if batch_end is None or started is None or started < batch_end:
            fail("the other client's move started (seq %s) before the batch ended (seq %s)"
                 % (started, batch_end))
        print("killed between a batch's tasks: the stage stayed the batch's", flush=True)
    print("PASS", flush=True)


if __name__ == "__main__":
    main()
