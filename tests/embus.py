"""Shared pieces of the fault tests that need the session bus: a private bus
for the test, the real engine-manager owning its name there, and gdbus calls.
"""

import os
import subprocess
import sys

from emfault import Daemon, fail

NAME = "io.github.enginemanager.EngineManager"
MANAGER_PATH = "/io/github/enginemanager/EngineManager"


def on_private_bus():
    """re-runs the calling test under dbus-run-session, once"""
    if not os.environ.get("EM_TEST_PRIVATE_BUS"):
        os.environ["EM_TEST_PRIVATE_BUS"] = "1"
        os.execvp("dbus-run-session", ["dbus-run-session", "--", sys.executable] + sys.argv)


def start(data_dir, *args):
    """the daemon on the bus, once it owns its name"""
    daemon = Daemon(data_dir, extra_args=("--bus", "session") + args)
    # "Listening" comes before the name is owned
    subprocess.run(["gdbus", "wait", "--session", "--timeout", "10", NAME], check=True)
    return daemon


def gdbus_call(path, method, *args):
    result = subprocess.run(["gdbus", "call", "--session", "--dest", NAME, "--object-path", path,
                             "--method", method, *args], capture_output=True, text=True)
    if result.returncode != 0:
        fail("%s answered: %s" % (method, result.stderr.strip()))
