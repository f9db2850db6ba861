#!/usr/bin/env python3
"""Image temporaries left by a crash: a capture whose service died between
opening its temporary and renaming it leaves `.<id>.png.XXXXXX` (and the
sidecar's `<id>.json.XXXXXX`) behind. The next start removes them, in the
images directory and in a tile scan's, and nothing else; captures of the new
run still complete with their image and sidecar.

Environment: EM_DAEMON, the engine-manager binary.
"""

import os
import tempfile
import time

from emfault import Daemon, fail

OLD = "0b6f3a2e-1c4d-4b5a-8e7f-9a0b1c2d3e4f"
SCAN = "5e1d2c3b-7a6f-4e21-9c0d-1f2e3d4c5b6a"
LEFT_OVER = ["." + OLD + ".png.Ab12Cd", OLD + ".json.Xy34Zw",
             os.path.join(SCAN, ".tile-r000-c001.tiff.Qw3rTy"),
             os.path.join(SCAN, "tile-r000-c001.json.a1B2c3")]
OTHERS = [OLD + ".png", OLD + ".json", "notes.txt", ".hidden", "notes.json.backup",
          os.path.join(SCAN, "tile-r000-c000.png")]


def main():
    with tempfile.TemporaryDirectory(prefix="em-temporaries-") as tmp:
        data_dir = os.path.join(tmp, "data")
        images = os.path.join(data_dir, "images")
        os.makedirs(os.path.join(images, SCAN))
        an_hour_ago = time.time() - 3600
        for name in LEFT_OVER + OTHERS:
            path = os.path.join(images, name)
            with open(path, "w") as f:
                f.write("x")
            os.utime(path, (an_hour_ago, an_hour_ago))

        daemon = Daemon(data_dir)
        try:
            _, task = daemon.submit("after-crash", "capture_image", {"exposure": 1})
            done = daemon.wait_finished(task["id"])
            if done["status"] != "completed":
                fail("the capture did not complete: %s" % done)
            for key in ("path", "metadata_path"):
                if not os.path.exists(done["result"][key]):
                    fail("the capture's %s %s is missing" % (key, done["result"][key]))
            deadline = time.monotonic() + 10
            while any(os.path.exists(os.path.join(images, n)) for n in LEFT_OVER):
                if time.monotonic() > deadline:
                    left = [n for n in LEFT_OVER if os.path.exists(os.path.join(images, n))]
                    fail("temporaries still there after the start: %s" % left)
                time.sleep(0.05)
            for name in OTHERS:
                if not os.path.exists(os.path.join(images, name)):
                    fail("the start removed %s, which no image write made" % name)
        finally:
            if daemon.stop() != 0:
                fail("the daemon did not stop cleanly:\n" + daemon.output())


if __name__ == "__main__":
    main()
