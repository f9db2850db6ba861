"""Starts the engine-manager binary of the build tree on a free loopback port,
for the desktop tests, and stops it by its own pid."""

import os
import re
import signal
import subprocess
import tempfile
import time


class Daemon:
    def __init__(self, *args, env=None, data_dir=None, pass_data_dir=True, cwd=None):
        self.tmp = tempfile.TemporaryDirectory(prefix="em-desktop-")
        self.data_dir = data_dir or os.path.join(self.tmp.name, "data")
        self.log_path = os.path.join(self.tmp.name, "daemon.log")
        self.args = [os.environ["EM_DAEMON"], "--bus", "none", "--http-port", "0"]
        if pass_data_dir and "--data-dir" not in args:
            self.args += ["--data-dir", self.data_dir]
        self.args += list(args)
        self.env = dict(os.environ)
        self.env.pop("LANGUAGE", None)
        self.env.update(env or {})
        self.cwd = cwd
        self.process = None
        self.url = None

    def __enter__(self):
        self.log = open(self.log_path, "w")
        self.process = subprocess.Popen(self.args, env=self.env, stdout=self.log,
                                        stderr=subprocess.STDOUT, cwd=self.cwd)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            text = self.output()
            match = re.search(r"Listening on (http://\S+)", text)
            if match:
                self.url = match.group(1)
                return self
            if self.process.poll() is not None:
                raise RuntimeError("engine-manager exited early:\n" + text)
            time.sleep(0.05)
        raise RuntimeError("engine-manager did not start:\n" + self.output())

    def output(self):
        with open(self.log_path) as log:
            return log.read()

    def stop(self):
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
                raise RuntimeError("engine-manager did not stop on SIGTERM")
        return self.process.returncode

    def __exit__(self, *exc):
        code = self.stop()
        self.log.close()
        self.tmp.cleanup()
        if exc[0] is None and code != 0:
            raise RuntimeError(f"engine-manager exited with {code}")
        return False


def wait_until(predicate, timeout=15.0, interval=0.05, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out waiting for {what}")
