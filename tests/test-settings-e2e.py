"""GSettings in the real daemon: built-in defaults without the schema, the
schema's values with it, the command line above both, and live changes."""

import os
import subprocess
import sys
import tempfile
import time

import requests

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from desktop_daemon import Daemon, wait_until  # noqa: E402

GROUP = "io/github/enginemanager/EngineManager"


class Keyfile:
    """GLib's keyfile settings backend, which watches its file for changes"""

    def __init__(self, root):
        self.dir = os.path.join(root, "glib-2.0", "settings")
        os.makedirs(self.dir, exist_ok=True)
        self.path = os.path.join(self.dir, "keyfile")
        self.values = {}

    def set(self, **values):
        self.values.update({key.replace("_", "-"): value for key, value in values.items()})
        text = f"[{GROUP}]\n" + "".join(f"{k}={v}\n" for k, v in self.values.items())
        tmp = self.path + ".new"
        with open(tmp, "w") as f:
            f.write(text)
        os.replace(tmp, self.path)


def queue(daemon):
    response = requests.get(daemon.url + "/queue", timeout=5)
    assert response.status_code == 200, response.text
    return response.json()


def main():
    with tempfile.TemporaryDirectory(prefix="em-settings-") as root:
        config_home = os.path.join(root, "config")
        keyfile = Keyfile(config_home)
        settings_env = {"GSETTINGS_BACKEND": "keyfile", "XDG_CONFIG_HOME": config_home}

        # no schema: built-in defaults, and no complaint
        no_schema = {"GSETTINGS_SCHEMA_DIR": os.path.join(root, "empty")}
        os.makedirs(no_schema["GSETTINGS_SCHEMA_DIR"])
        with Daemon(env=dict(settings_env, **no_schema)) as daemon:
            assert queue(daemon)["max_concurrent"] == 4
            assert "Camera: emsimsrc" in daemon.output(), daemon.output()
            assert "CRITICAL" not in daemon.output() and "WARNING" not in daemon.output()

        # the schema's values, read at startup
        data_dir = os.path.join(root, "from-settings")
        keyfile.set(max_concurrent=1, data_dir=f"'{data_dir}'",
                    camera_pipeline="'videotestsrc is-live=true'")
        with Daemon(env=settings_env, pass_data_dir=False) as daemon:
            assert f"Data directory: {data_dir}" in daemon.output(), daemon.output()
            assert "Camera: videotestsrc is-live=true" in daemon.output(), daemon.output()
            assert queue(daemon)["max_concurrent"] == 1

            # a live change applies without a restart
            keyfile.set(max_concurrent=3)
            wait_until(lambda: queue(daemon)["max_concurrent"] == 3, what="max-concurrent 3")

            # retention: finished tasks beyond the new limit are pruned at once
            for i in range(5):
                r = requests.post(daemon.url + "/tasks", json={"name": f"w{i}", "action": "wait"},
                                  timeout=5)
                assert r.status_code == 201, r.text
            wait_until(lambda: queue(daemon)["counts"].get("completed") == 5, what="5 completed")
            keyfile.set(retention_max_tasks=2)

            def total():
                r = requests.get(daemon.url + "/tasks", timeout=5)
                return int(r.headers["X-Total-Count"])
            wait_until(lambda: total() <= 2, what="retention to prune to 2 tasks")

        # a path in the settings does not depend on how the service was
        # started (a shell's directory, / under D-Bus activation): a relative
        # one, or one under ~/, is in the home directory
        home = os.path.join(root, "home")
        elsewhere = os.path.join(root, "elsewhere")
        os.makedirs(home)
        os.makedirs(elsewhere)
        for value, expected in (("'lab'", os.path.join(home, "lab")),
                                ("'~/lab2'", os.path.join(home, "lab2"))):
            keyfile.set(max_concurrent=1, data_dir=value)
            with Daemon(env=dict(settings_env, HOME=home), pass_data_dir=False,
                        cwd=elsewhere) as daemon:
                assert f"Data directory: {expected}\n" in daemon.output(), daemon.output()
                assert os.path.isdir(os.path.join(expected, "images")), os.listdir(home)
            assert os.listdir(elsewhere) == [], os.listdir(elsewhere)

        # a relative one under a home whose name is not UTF-8: refused, and the
        # message names the key, as it does for any unusable one below
        latin1_home = os.path.join(root, "caf\udce9")  # the byte 0xE9, Latin-1 for é
        os.makedirs(latin1_home)
        keyfile.set(max_concurrent=1, data_dir="'lab'")
        try:
            with Daemon(env=dict(settings_env, HOME=latin1_home), pass_data_dir=False):
                raise AssertionError("a data-dir that is not UTF-8: the service started")
        except RuntimeError as e:
            out = str(e)
        assert "UTF-8" in out, out
        assert "gsettings set io.github.enginemanager.EngineManager data-dir" in out, out
        assert "Listening on" not in out, out
        assert not os.path.exists(os.path.join(latin1_home, "lab")), os.listdir(latin1_home)

        # an unusable data directory from the settings: the message names the
        # key as its source, and how to change it
        a_file = os.path.join(root, "a-file")
        with open(a_file, "w") as f:
            f.write("not a directory\n")
        for data_dir in (a_file, os.path.join(a_file, "below")):
            keyfile.set(max_concurrent=1, data_dir=f"'{data_dir}'")
            try:
                with Daemon(env=settings_env, pass_data_dir=False):
                    raise AssertionError(f"data-dir {data_dir}: the service started")
            except RuntimeError as e:
                out = str(e)
            assert data_dir in out, out
            assert "gsettings set io.github.enginemanager.EngineManager data-dir" in out, out
            assert "Listening on" not in out, out
        keyfile.values.pop("data-dir")

        # a port asked for on the command line is asking for HTTP: the
        # http-enabled setting turned off does not silently drop it
        keyfile.set(http_enabled="false")
        with Daemon(env=settings_env) as daemon:
            assert requests.get(daemon.url + "/health", timeout=5).status_code == 200
        # so is any other option only the REST server reads (a CORS origin,
        # its limits, TLS, a token file, --insecure), here with the port from
        # the settings; with --bus none and HTTP off it would not even start
        keyfile.set(http_port=0)
        for option in (["--cors-origin", "https://lab.example.org"], ["--idle-timeout", "30"],
                       ["--insecure"]):
            daemon = Daemon(*option, env=settings_env)
            daemon.args.remove("--http-port")
            daemon.args.remove("0")
            with daemon:
                assert requests.get(daemon.url + "/health", timeout=5).status_code == 200
        # but not an empty --token-file, which sets no file: it asks for no
        # server, least of all one without a token
        code = subprocess.run([os.environ["EM_DAEMON"], "--bus", "none", "--token-file", "",
                               "--data-dir", os.path.join(root, "no-token")],
                              env=dict(os.environ, **settings_env), stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True, timeout=10)
        assert code.returncode == 2 and "--bus none with HTTP off" in code.stdout, code.stdout
        keyfile.values.pop("http-enabled")
        keyfile.values.pop("http-port")

        # the command line wins over the settings, also when they change
        keyfile.set(max_concurrent=1, retention_max_tasks=0)
        with Daemon("--max-concurrent", "5", "--camera-pipeline", "videotestsrc",
                    env=settings_env) as daemon:
            assert queue(daemon)["max_concurrent"] == 5
            assert "Camera: videotestsrc\n" in daemon.output(), daemon.output()
            keyfile.set(max_concurrent=2)
            # give the file monitor time to report; nothing may change
            time.sleep(1.5)
            assert queue(daemon)["max_concurrent"] == 5

    print("1 passed, 0 failed")


if __name__ == "__main__":
    main()
