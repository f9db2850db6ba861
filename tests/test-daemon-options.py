"""The daemon's command line as a user meets it: a bad value is refused with a
message naming its option and exit status 2 before anything is created, a
failure to start exits 1, and a good configuration serves and stops cleanly."""

import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

import requests

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from desktop_daemon import Daemon, wait_until  # noqa: E402

DAEMON = os.environ["EM_DAEMON"]
FAILED = []


def check(condition, what):
    if not condition:
        FAILED.append(what)
        print("FAIL:", what, file=sys.stderr)


def env(loads_plugins=False):
    e = dict(os.environ, LC_ALL="C.UTF-8")
    e.pop("LANGUAGE", None)
    # --gst-debug-help loads every GStreamer plugin, which grows GLib's quark
    # table past its first block, left behind by design: tests/lsan.supp
    # names it by the library constructor that made it, which only a full
    # stack shows (too slow for every run)
    if loads_plugins and "ASAN_OPTIONS" in e:
        e["ASAN_OPTIONS"] += ":fast_unwind_on_malloc=0"
    return e


def run(*args, cwd=None):
    """the daemon's exit status and output; None if it kept running"""
    # the defaults for the test unless it gives its own: the daemon refuses an
    # option given twice
    argv = [DAEMON]
    for option, value in (("--bus", "none"), ("--http-port", "0")):
        if option not in args and not (option == "--http-port" and "--no-http" in args):
            argv += [option, value]
    argv += args
    try:
        p = subprocess.run(argv, cwd=cwd, env=env("--gst-debug-help" in args), stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True, timeout=5)
    except subprocess.TimeoutExpired as e:
        out = e.stdout.decode() if isinstance(e.stdout, bytes) else (e.stdout or "")
        return None, out
    return p.returncode, p.stdout


def refused(args, option, status=2, cwd=None):
    code, out = run(*args, cwd=cwd)
    what = " ".join(repr(a) for a in args)
    check(code == status, f"{what}: exit {status} expected, got {code}:\n{out}")
    check(option in out, f"{what}: the message names {option}:\n{out}")
    check("Listening on" not in out, f"{what}: nothing is served:\n{out}")


def test_bad_values(root):
    cases = [
        (["--http-port", "-5"], "--http-port"),
        (["--http-port", "65536"], "--http-port"),
        (["--http-port", "abc"], "--http-port"),
        (["--http-port", "99999999999"], "--http-port"),
        (["--http-port", ""], "--http-port"),
        # no value stands for "not given"
        (["--http-port", "-2147483648"], "--http-port"),
        (["--max-pending", "-2147483648"], "--max-pending"),
        # decimal only: GOption's own integers took 0x10 as 16
        (["--camera-width", "0x10"], "--camera-width"),
        (["--keep-finished", "99999999999999999999999"], "--keep-finished"),
        (["--camera-width", "0"], "--camera-width"),
        (["--camera-width", "-3"], "--camera-width"),
        (["--camera-height", "16385"], "--camera-height"),
        (["--max-concurrent", "-1"], "--max-concurrent"),
        (["--max-concurrent", "1025"], "--max-concurrent"),
        (["--max-pending", "-5"], "--max-pending"),
        (["--keep-finished", "-1"], "--keep-finished"),
        (["--keep-finished-bytes", "-1"], "--keep-finished-bytes"),
        (["--keep-finished-bytes", "64M"], "--keep-finished-bytes"),
        (["--keep-finished-bytes", "2147483648"], "--keep-finished-bytes"),
        (["--finished-cache-size", "0"], "--finished-cache-size"),
        (["--finished-cache-size", "-1"], "--finished-cache-size"),
        (["--ws-max-clients", "0"], "--ws-max-clients"),
        (["--max-header-size", "-1"], "--max-header-size"),
        (["--idle-timeout", "-1"], "--idle-timeout"),
        (["--dbus-max-calls-per-sender", "0"], "--dbus-max-calls-per-sender"),
        (["--dbus-max-calls-per-sender", "-1"], "--dbus-max-calls-per-sender"),
        (["--retention-max-tasks", "-5"], "--retention-max-tasks"),
        (["--retention-max-age", "-1"], "--retention-max-age"),
        # in microseconds, as the store compares ages, more would not fit in 64 bits
        (["--retention-max-age", "36500001"], "--retention-max-age"),
        (["--retention-max-age", "2147483647"], "--retention-max-age"),
        (["--http-address", ""], "--http-address"),
        # the address is read before anything is made, not when listening
        (["--http-address", "999.1.1.1"], "--http-address: “999.1.1.1” is not an IP address"),
        (["--http-address", "lab.example.org"], "--http-address"),
        (["--camera-pipeline", ""], "--camera-pipeline"),
        (["--tls-certificate", ""], "--tls-certificate"),
        (["--tls-key", ""], "--tls-key"),
        # one without the other is a usage error, found before anything is made
        (["--tls-certificate", "/etc/hostname"], "--tls-key"),
        (["--tls-key", "/etc/hostname"], "--tls-certificate"),
        (["--bus", "system"], "--bus"),
        # one value each: which of two was meant is not for the service to guess
        (["--http-port", "1", "--http-port", "2"], "--http-port is given twice, as “1” and as “2”"),
        (["--http-port=1", "--http-port", "-5"], "--http-port is given twice"),
        (["--max-concurrent", "1", "--max-concurrent=2"], "--max-concurrent is given twice"),
        (["--http-address", "127.0.0.1", "--http-address", "::1"], "--http-address is given twice"),
        (["--bus", "none", "--bus", "session"], "--bus is given twice, as “none” and as “session”"),
        (["--token-file", "/etc/hostname", "--token-file", ""], "--token-file is given twice"),
        (["--camera-pipeline", "emsimsrc", "--camera-pipeline", "videotestsrc"],
         "--camera-pipeline is given twice"),
        (["--tls-certificate", "a", "--tls-key", "b", "--tls-key", "c"], "--tls-key is given twice"),
        # it takes no arguments: a stray word is no option to be ignored
        (["http-port", "8080"], "“http-port”"),
        # nothing would reach it
        (["--no-http"], "--no-http"),
    ]
    # an option of the REST server alone, with no REST server: it would be
    # dropped without a word
    for http_args in (["--http-port", "1"], ["--http-address", "127.0.0.1"],
                      ["--insecure"], ["--cors-origin", "https://a.example"],
                      ["--tls-certificate", "/etc/hostname", "--tls-key", "/etc/hostname"],
                      ["--token-file", "/etc/hostname"],
                      ["--max-header-size", "100"], ["--idle-timeout", "5"],
                      ["--ws-max-clients", "3"]):
        for args in (["--bus", "session", "--no-http", *http_args],
                     ["--bus", "session", *http_args, "--no-http"]):
            cases.append((args, f"--no-http turns the REST server off: {http_args[0]} goes without it"))
    # and the D-Bus one with no bus
    for args in (["--bus", "none", "--dbus-max-calls-per-sender", "5"],
                 ["--dbus-max-calls-per-sender=5", "--bus", "none"]):
        cases.append((args, "--bus none serves no D-Bus: --dbus-max-calls-per-sender goes without it"))
    for args, option in cases:
        refused(["--data-dir", os.path.join(root, "data"), *args], option)
    refused(["--data-dir", os.path.join(root, "data"), "--data-dir", os.path.join(root, "other")],
            "--data-dir is given twice")
    check(not os.path.exists(os.path.join(root, "other")), "a repeated --data-dir creates nothing")
    check(not os.path.exists(os.path.join(root, "data")), "a refused start creates nothing")

    # an empty data directory would be the working directory
    cwd = os.path.join(root, "cwd")
    os.makedirs(cwd)
    refused(["--data-dir", ""], "--data-dir", cwd=cwd)
    check(os.listdir(cwd) == [], f"nothing is created in the working directory: {os.listdir(cwd)}")


def test_not_utf8_value(root):
    # bytes that are not UTF-8 are shown as text in the message, never passed
    # on raw (a terminal or a log reading UTF-8 would choke on them)
    for args, expected in (([b"--http-port", b"\xff"], "--http-port takes a whole number"),
                           ([b"--http-port", b"1", b"--http-port", b"\xfe"],
                            "--http-port is given twice"),
                           ([b"--data-dir", b"/a", b"--data-dir", b"/b\xfe"],
                            "--data-dir is given twice"),
                           ([b"--bogus\xff"], "--bogus"),
                           ([b"stray\xff"], "unexpected argument")):
        p = subprocess.run([DAEMON, b"--bus", b"none", *args], env=env(),
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=5)
        what = repr(args)
        check(p.returncode == 2, f"{what}: exit 2 expected, got {p.returncode}: {p.stdout!r}")
        try:
            out = p.stdout.decode("utf-8")
        except UnicodeDecodeError:
            check(False, f"{what}: the message is not UTF-8: {p.stdout!r}")
            continue
        check(expected in out, f"{what}: the message says {expected!r}: {out!r}")
        check("\ufffd" in out, f"{what}: the byte is shown as U+FFFD: {out!r}")


def test_cors_origin(root):
    # a browser's Origin is scheme://host[:port]; anything else never matches
    # one, so CORS would silently stay off
    for origin in ("https://lab.example.org/", "lab.example.org", "https://lab.example.org/app",
                   "ftp://lab.example.org", "https://", "null", "",
                   "https://user@lab.example.org", "https://lab.example.org?x=1"):
        refused(["--data-dir", os.path.join(root, "cors"), "--cors-origin", origin], "--cors-origin")
    check(not os.path.exists(os.path.join(root, "cors")), "a refused origin creates nothing")
    with Daemon("--cors-origin", "https://lab.example.org:8443",
                "--cors-origin", "http://[::1]:8000", "--cors-origin", "*") as daemon:
        r = requests.get(daemon.url + "/health", headers={"Origin": "https://other.example"},
                         timeout=5)
        check(r.headers.get("Access-Control-Allow-Origin") in ("*", "https://other.example"),
              f"--cors-origin '*' lets any origin in: {dict(r.headers)}")


def test_token_file(root):
    # a token file that cannot be used stops the start, and the message is
    # about that file, not about listening
    missing = os.path.join(root, "no-token")
    shared = os.path.join(root, "shared-token")
    with open(shared, "w") as f:
        f.write("secret\n")
    os.chmod(shared, 0o644)
    for path in (missing, shared):
        code, out = run("--data-dir", os.path.join(root, "token-data"), "--token-file", path)
        check(code == 1, f"--token-file {path}: exit 1 expected, got {code}:\n{out}")
        check("token file" in out and path in out,
              f"--token-file {path}: the message names the token file:\n{out}")
        check("listen" not in out, f"--token-file {path}: nothing about listening:\n{out}")


def _plugin_scanner():
    """GStreamer's plugin scanner, whose environment shows what the
    service's children inherit; None where it cannot be found"""
    for libdir in ("/usr/lib/x86_64-linux-gnu", "/usr/lib/aarch64-linux-gnu", "/usr/lib64",
                   "/usr/lib", "/usr/libexec"):
        path = os.path.join(libdir, "gstreamer1.0", "gstreamer-1.0", "gst-plugin-scanner")
        if os.access(path, os.X_OK):
            return path
    return None


def test_token_not_inherited(root):
    # the token from the environment stays with the service: a child
    # (GStreamer's plugin scanner, run for a registry not built yet) has none
    scanner = _plugin_scanner()
    if scanner is None:
        print("# no gst-plugin-scanner found: token inheritance not tried")
        return
    seen = os.path.join(root, "scanner-env")
    wrapper = os.path.join(root, "scanner-wrapper")
    with open(wrapper, "w") as f:
        f.write(f"#!/bin/sh\nenv >> '{seen}'\nexec '{scanner}' \"$@\"\n")
    os.chmod(wrapper, 0o755)
    e = env()
    e.update(ENGINE_MANAGER_TOKEN="inherited-secret", GST_PLUGIN_SCANNER=wrapper,
             GST_REGISTRY=os.path.join(root, "fresh-registry.bin"), GST_REGISTRY_FORK="yes")
    e.pop("GST_REGISTRY_UPDATE", None)
    p = subprocess.Popen([DAEMON, "--bus", "none", "--http-port", "0",
                          "--data-dir", os.path.join(root, "scanner-data")],
                         env=e, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    out = []
    try:
        for line in p.stdout:
            out.append(line)
            if "Listening on" in line:
                break
    finally:
        p.send_signal(signal.SIGTERM)
        rest, _ = p.communicate(timeout=10)
        out.append(rest)
    check(os.path.exists(seen), "the plugin scanner ran:\n" + "".join(out))
    if os.path.exists(seen):
        with open(seen) as f:
            check("ENGINE_MANAGER_TOKEN" not in f.read(),
                  "ENGINE_MANAGER_TOKEN reached the plugin scanner")


def test_tls_key(root):
    # a private key every user can read lets any of them pose as the service:
    # it stops the start, and the message names the file; the group may read it
    cert = os.path.join(root, "cert.pem")
    key = os.path.join(root, "key.pem")
    r = subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                        "-subj", "/CN=127.0.0.1", "-keyout", key, "-out", cert],
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    check(r.returncode == 0, f"openssl made no certificate: {r.stderr}")
    for mode in (0o644, 0o602):
        os.chmod(key, mode)
        code, out = run("--data-dir", os.path.join(root, "tls-data"),
                        "--tls-certificate", cert, "--tls-key", key)
        check(code == 1, f"--tls-key mode {mode:o}: exit 1 expected, got {code}:\n{out}")
        check("tls-key" in out and key in out and "chmod" in out,
              f"--tls-key mode {mode:o}: the message names the key file:\n{out}")
        check("Listening on" not in out, f"--tls-key mode {mode:o}: nothing is served:\n{out}")
    os.chmod(key, 0o640)
    code, out = run("--data-dir", os.path.join(root, "tls-data"),
                    "--tls-certificate", cert, "--tls-key", key)
    check(code is None and "Listening on https://" in out,
          f"--tls-key mode 640: the service serves HTTPS:\n{out}")


def test_shared_data_dir(root):
    # a data directory every user may write lets them swap the database or
    # put links among the images: the service starts, and the log says so
    shared = os.path.join(root, "shared-data")
    images = os.path.join(shared, "images")
    os.makedirs(images, mode=0o750)
    for directory in (shared, images):
        os.chmod(directory, 0o777)
        with Daemon(data_dir=shared) as daemon:
            out = daemon.output()
        check(f"“{directory}” can be written by every user" in out and "chmod 750" in out,
              f"a data directory with {directory} writable by every user: no warning:\n{out}")
        os.chmod(directory, 0o750)
    with Daemon(data_dir=shared) as daemon:
        out = daemon.output()
    check("every user" not in out, f"a private data directory: a warning all the same:\n{out}")


def test_data_dir_not_a_directory(root):
    # a data directory that is a file cannot be used; the message says which
    # option chose it and what it is
    path = os.path.join(root, "a-file")
    with open(path, "w") as f:
        f.write("not a directory\n")
    for data_dir in (path, os.path.join(path, "below")):
        code, out = run("--data-dir", data_dir)
        check(code == 1, f"--data-dir {data_dir}: exit 1 expected, got {code}:\n{out}")
        check("--data-dir" in out and data_dir in out,
              f"--data-dir {data_dir}: the message names the option and the path:\n{out}")
        check("Listening on" not in out, f"--data-dir {data_dir}: nothing is served:\n{out}")


def test_data_dir_not_utf8(root):
    # image paths under it go out in JSON and D-Bus strings, which are UTF-8
    # only: such a directory is refused before anything is written to it
    data_dir = os.path.join(root, "caf\udce9")  # the byte 0xE9, Latin-1 for é
    code, out = run("--data-dir", data_dir)
    check(code == 1, f"a non-UTF-8 --data-dir: exit 1 expected, got {code}:\n{out}")
    check("--data-dir" in out and "UTF-8" in out,
          f"a non-UTF-8 --data-dir: the message names the option and why:\n{out}")
    check("Listening on" not in out, f"a non-UTF-8 --data-dir: nothing is served:\n{out}")
    check(not os.path.exists(data_dir), "a non-UTF-8 --data-dir: nothing is created")


def test_help_not_written(root):
    # GOption printed the help and exited 0 whether or not it got written
    for option in ("--help", "--help-all", "--help-gst", "-h", "-hx", "--version",
                   "--gst-version", "--gst-debug-help"):
        with open("/dev/full", "w") as full:
            p = subprocess.run([DAEMON, option], env=env(option == "--gst-debug-help"), stdout=full,
                               stderr=subprocess.PIPE, text=True, timeout=5)
        check(p.returncode == 1, f"{option} into /dev/full: exit 1 expected, got {p.returncode}")
        check("could not write to standard output" in p.stderr,
              f"{option} into /dev/full: the message says so:\n{p.stderr}")
    # GStreamer's exited 0 as GOption met it, before the options after it
    code, out = run("--gst-version", "--http-port", "abc")
    check(code == 2 and "--http-port takes a whole number" in out,
          f"--gst-version --http-port abc: the bad value is refused:\n{out}")
    code, out = run("--gst-version")
    check(code == 0 and out.startswith("GStreamer Core Library version 1."),
          f"--gst-version: exit 0 and GStreamer's version:\n{out}")
    code, out = run("--gst-debug-help", "--http-port", "abc")
    check(code == 2 and "--http-port takes a whole number" in out,
          f"--gst-debug-help --http-port abc: the bad value is refused:\n{out}")
    # an option after it counts as well: GStreamer printed in colour here
    code, out = run("--gst-debug-help", "--gst-debug-no-color")
    check(code == 0 and "\nname                  level    description\n" in out and
          "\nGST_BUS               0   " in out and "\033" not in out,
          f"--gst-debug-help: exit 0 and the debug categories:\n{out[:500]}")
    # the versions are printed only once every option has been checked
    for args, option in ((["--version", "--data-dir", ""], "--data-dir"),
                         (["--gst-version", "--tls-key", "k"], "--tls-key"),
                         (["--version", "--bus", "foo"], "--bus"),
                         (["--gst-debug-help", "--no-http", "--http-port", "1"], "--no-http")):
        refused(args, option)
    # as GOption reads a group of short options, -h or -? anywhere in it is help
    for option in ("-hx", "-xh", "-x?"):
        code, out = run(option)
        check(code == 0 and out.startswith("Usage:\n  engine-manager [OPTION"),
              f"{option}: exit 0 and the usage line:\n{out}")
    code, out = run("-x")
    check(code == 2 and "Unknown option -x" in out, f"-x: refused:\n{out}")
    p = subprocess.run([DAEMON, "--help"], env=env(), stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, text=True, timeout=5)
    check(p.returncode == 0 and p.stdout.startswith("Usage:\n  engine-manager [OPTION"),
          f"--help: exit 0 and the usage line:\n{p.stdout}{p.stderr}")


def test_value_forgotten(root):
    # GOption took the next argument for the value whatever it was: the
    # service listened on "--data-dir" and X was an unexpected argument
    data_dir = os.path.join(root, "forgotten")
    for args, option in ((["--http-address", "--data-dir", data_dir], "--http-address"),
                         (["--http-address", f"--data-dir={data_dir}"], "--http-address"),
                         (["--camera-pipeline", "--help"], "--camera-pipeline"),
                         (["--token-file", "--gst-debug-level=2"], "--token-file"),
                         (["--cors-origin", "--insecure"], "--cors-origin"),
                         (["--data-dir", "--"], "--data-dir"),
                         # GStreamer's options that take a value forget it as well
                         (["--gst-debug", "--data-dir", data_dir], "--gst-debug"),
                         (["--gst-plugin-path", "--version"], "--gst-plugin-path"),
                         (["--gst-debug-color-mode", "--help"], "--gst-debug-color-mode"),
                         # GOption's other spelling of a group's option
                         (["--gst-gst-debug-level", "--data-dir", data_dir],
                          "--gst-gst-debug-level"),
                         # the short help options are options too
                         (["--gst-debug-level", "-h", "--version"], "--gst-debug-level"),
                         (["--http-address", "-?"], "--http-address")):
        code, out = run(*args, cwd=root)
        what = " ".join(args)
        check(code == 2, f"{what}: exit 2 expected, got {code}:\n{out}")
        check(f"{option} is missing its value" in out,
              f"{what}: the message names {option} as the option without its value:\n{out}")
    check(not os.path.exists(data_dir), "a forgotten value: nothing is created")
    check(not os.path.exists(os.path.join(root, "--")), "--data-dir --: nothing is created")
    # only GStreamer's real options are options: the rest of "--gst-" is a value
    code, out = run("--camera-pipeline", "--gst-foo", "--version")
    check(code == 0 and out.startswith("engine-manager "),
          f"--camera-pipeline --gst-foo: --gst-foo is the value:\n{out}")
    code, out = run("--gst-debug-level", "-h", "--version")
    check("Usage:" not in out, f"--gst-debug-level -h: no help:\n{out}")
    for args in (["--gst-debug-level=2"], ["--gst-debug-no-color"], ["--gst-debug", "foo:3"]):
        code, out = run(*args, "--version")
        check(code == 0 and out.startswith("engine-manager "),
              f"{' '.join(args)} --version: GStreamer's option is taken:\n{out}")
    # GOption took "--no-http=false" for --no-http, and GStreamer's
    # "--gst-version=1" printed the version whatever followed
    for args, option in ((["--no-http=false"], "--no-http"),
                         (["--insecure=no"], "--insecure"),
                         (["--version=1"], "--version"),
                         (["--gst-version=1", "--http-port", "abc"], "--gst-version"),
                         (["--gst-debug-help=x"], "--gst-debug-help"),
                         (["--gst-gst-fatal-warnings=1"], "--gst-gst-fatal-warnings")):
        code, out = run(*args)
        what = " ".join(args)
        check(code == 2 and f"{option} takes no value" in out,
              f"{what}: refused, naming {option}:\n{out}")
    # a value that merely begins with '-' is still one
    code, out = run("--http-port", "-5")
    check(code == 2 and "--http-port must be between" in out,
          f"--http-port -5: refused for its range, not as a missing value:\n{out}")
    workdir = os.path.join(root, "dash")
    os.makedirs(workdir)
    with Daemon("--data-dir", "-lab", cwd=workdir) as daemon:
        check(f"Data directory: {workdir}/-lab" in daemon.output(),
              f"--data-dir -lab is a directory named -lab:\n{daemon.output()}")


def test_text_values(root):
    # GOption converted the values from the locale's character set: UTF-8
    # under LC_ALL=C was refused with "Invalid byte sequence in conversion
    # input", which names no option
    c_env = dict(env(), LC_ALL="C")
    with Daemon("--camera-pipeline", "videotestsrc name=caméra", "--cors-origin",
                "https://café.example", env=c_env) as daemon:
        check("Camera: videotestsrc" in daemon.output(),
              f"a UTF-8 value under LC_ALL=C is taken:\n{daemon.output()}")
    for option, value in (("--camera-pipeline", "videotestsrc name=\udcff"),
                          ("--http-address", "\udcff"),
                          ("--cors-origin", "https://\udcff.example")):
        code, out = run(option, value)
        check(code == 2 and f"{option}: " in out and "UTF-8" in out,
              f"{option} that is not UTF-8: exit 2 and a message naming it:\n{out}")


def test_limits_accepted(root):
    # the schema's bounds themselves are fine
    with Daemon("--camera-width", "16", "--camera-height", "16384",
                "--max-concurrent", "1024", "--retention-max-age", "36500000") as daemon:
        r = requests.get(daemon.url + "/queue", timeout=5)
        check(r.json()["max_concurrent"] == 1024, f"--max-concurrent 1024: {r.text}")
    # the key's range is the option's, so GSettings clamps what the option refuses
    r = subprocess.run(["gsettings", "range", "io.github.enginemanager.EngineManager",
                        "retention-max-age-days"], env=env(), stdout=subprocess.PIPE, text=True)
    check(r.stdout.split() == ["range", "u", "0", "36500000"],
          f"the range of retention-max-age-days: {r.stdout!r}")


def test_signals(root):
    # SIGHUP (the terminal closed) stops cleanly, as SIGINT and SIGTERM do
    # (with SIGHUP as a terminal leaves it, even if this test was run under nohup)
    original = signal.signal(signal.SIGHUP, signal.SIG_DFL)
    for sig in (signal.SIGHUP, signal.SIGINT, signal.SIGTERM):
        daemon = Daemon()
        with daemon:
            r = requests.post(daemon.url + "/tasks", json={"name": "w", "action": "wait",
                                                          "parameters": {"duration": 60000}},
                              timeout=5)
            check(r.status_code == 201, r.text)
            daemon.process.send_signal(sig)
            code = daemon.process.wait(timeout=15)
            out = daemon.output()
            check(code == 0, f"{sig.name}: exit 0 expected, got {code}:\n{out}")
            check("Stopping" in out, f"{sig.name}: the stop is logged:\n{out}")
    signal.signal(signal.SIGHUP, original)


def test_nohup(root):
    # started with SIGHUP ignored (nohup, or a shell's disown), it must
    # outlive its terminal as the user asked
    daemon = Daemon()
    original = signal.signal(signal.SIGHUP, signal.SIG_IGN)
    try:
        daemon.__enter__()
    finally:
        signal.signal(signal.SIGHUP, original)
    try:
        daemon.process.send_signal(signal.SIGHUP)
        try:
            code = daemon.process.wait(timeout=2)
        except subprocess.TimeoutExpired:
            code = None
        check(code is None, f"SIGHUP ignored at start: still running, not exit {code}:\n{daemon.output()}")
        if code is None:
            r = requests.get(daemon.url + "/health", timeout=5)
            check(r.status_code == 200, f"it still serves: {r.status_code}")
    finally:
        daemon.__exit__(None, None, None)


def test_stop_keeps_pending(root):
    # a stop leaves pending tasks for the next start and records a running one
    # as interrupted, as README and the man page say
    data_dir = os.path.join(root, "stop-keeps-pending")
    with Daemon("--max-concurrent", "1", data_dir=data_dir) as daemon:
        ids = []
        for name in ("running", "pending"):
            r = requests.post(daemon.url + "/tasks", json={"name": name, "action": "wait",
                                                          "parameters": {"duration": 60000}},
                              timeout=5)
            check(r.status_code == 201, r.text)
            ids.append(r.json()["id"])
        wait_until(lambda: requests.get(f"{daemon.url}/tasks/{ids[0]}", timeout=5)
                   .json()["status"] == "running", what="the first task to run")
    with Daemon("--max-concurrent", "0", data_dir=data_dir) as daemon:
        first = requests.get(f"{daemon.url}/tasks/{ids[0]}", timeout=5).json()
        second = requests.get(f"{daemon.url}/tasks/{ids[1]}", timeout=5).json()
        check(first["status"] == "failed" and "interrupted" in (first["error"] or ""),
              f"the running task is recorded as interrupted: {first}")
        check(second["status"] in ("pending", "running"),
              f"the pending task waits for the next start: {second}")
        requests.delete(f"{daemon.url}/tasks/{ids[1]}", timeout=5)

    source = os.environ["SOURCE_ROOT"]
    with open(os.path.join(source, "data", "engine-manager.1")) as f:
        man = " ".join(f.read().split())
    check("pending tasks are cancelled" not in man and "running and pending tasks are cancelled" not in man,
          "the man page says a stop cancels pending tasks")
    check("resume" in man, "the man page says pending tasks resume at the next start")


def test_relative_data_dir(root):
    # a relative --data-dir is taken from where the service started, once: the
    # image paths it records stay valid from any other working directory
    workdir = os.path.join(root, "relative")
    os.makedirs(workdir)
    with Daemon("--data-dir", "lab", cwd=workdir) as daemon:
        check(f"Data directory: {workdir}/lab" in daemon.output(),
              f"the log names the data directory in full:\n{daemon.output()}")
        r = requests.post(daemon.url + "/tasks", json={"name": "snap", "action": "capture_image"},
                          timeout=5)
        check(r.status_code == 201, r.text)
        task_id = r.json()["id"]
        task = wait_until(lambda: (lambda t: t if t["status"] not in ("pending", "running") else None)(
            requests.get(f"{daemon.url}/tasks/{task_id}", timeout=5).json()), what="the capture")
        path = (task.get("result") or {}).get("path", "")
        check(task["status"] == "completed" and path == os.path.join(workdir, "lab", "images", f"{task_id}.png"),
              f"the recorded image path is absolute: {task}")
    with Daemon(data_dir=os.path.join(workdir, "lab"), cwd=root) as daemon:
        r = requests.get(f"{daemon.url}/tasks/{task_id}/image", timeout=5)
        check(r.status_code == 200, f"the image after a start from elsewhere: {r.status_code} {r.text[:200]}")


def test_schema_of_another_version(root):
    # an installed schema from another version (a key missing, or of another
    # type) must not crash the service: it says so and uses its defaults
    source = os.path.join(os.environ["SOURCE_ROOT"], "data",
                          "io.github.enginemanager.EngineManager.gschema.xml")
    with open(source) as f:
        schema = f.read()
    missing = re.sub(r'\s*<key name="retention-max-age-days".*?</key>', "", schema, flags=re.S)
    retyped = re.sub(r'(<key name="max-concurrent" type=)"u">\s*<range min="0" max="1024"/>',
                     r'\1"i">', schema)
    check(missing != schema and retyped != schema, "the test edits the schema")
    for name, text, key in (("missing", missing, "retention-max-age-days"),
                            ("retyped", retyped, "max-concurrent")):
        schema_dir = os.path.join(root, f"schema-{name}")
        os.makedirs(schema_dir)
        with open(os.path.join(schema_dir, os.path.basename(source)), "w") as f:
            f.write(text)
        subprocess.run(["glib-compile-schemas", schema_dir], check=True)
        try:
            with Daemon(env={"GSETTINGS_SCHEMA_DIR": schema_dir}) as daemon:
                r = requests.get(daemon.url + "/queue", timeout=5)
                check(r.json()["max_concurrent"] == 4, f"{name}: the built-in default: {r.text}")
                out = daemon.output()
                check(key in out and "built-in defaults" in out,
                      f"{name}: the log names the key and says what is used:\n{out}")
        except RuntimeError as e:
            check(False, f"{name} schema: {e}")


def test_bus_lost(root):
    # the bus going away takes the name with it: the service stops, and a
    # service manager must see a failure, not a clean stop
    bus = subprocess.Popen(["dbus-daemon", "--session", "--nofork", "--print-address=1"],
                           stdout=subprocess.PIPE, text=True)
    log_path = os.path.join(root, "bus-lost.log")
    daemon = None
    try:
        address = bus.stdout.readline().strip()
        with open(log_path, "w") as log:
            daemon = subprocess.Popen(
                [DAEMON, "--bus", "session", "--http-port", "0",
                 "--data-dir", os.path.join(root, "bus-lost")],
                env=dict(env(), DBUS_SESSION_BUS_ADDRESS=address),
                stdout=log, stderr=subprocess.STDOUT)

        def output():
            with open(log_path) as f:
                return f.read()

        wait_until(lambda: "ready" in output() or daemon.poll() is not None,
                   what="the bus name")
        bus.terminate()
        bus.wait(timeout=5)
        try:
            code = daemon.wait(timeout=15)
        except subprocess.TimeoutExpired:
            code = None
        out = output()
        check(code not in (None, 0), f"bus lost: a failure status expected, got {code}:\n{out}")
        check("Lost the D-Bus name" in out, f"bus lost: the reason is logged:\n{out}")
    finally:
        for process in (daemon, bus):
            if process is not None and process.poll() is None:
                process.kill()
                process.wait()


def test_logs_bus_name(root):
    # "it logs where it listens": with --no-http the bus name is the only place
    bus = subprocess.Popen(["dbus-daemon", "--session", "--nofork", "--print-address=1"],
                           stdout=subprocess.PIPE, text=True)
    log_path = os.path.join(root, "bus-name.log")
    daemon = None
    try:
        address = bus.stdout.readline().strip()
        with open(log_path, "w") as log:
            daemon = subprocess.Popen(
                [DAEMON, "--bus", "session", "--no-http",
                 "--data-dir", os.path.join(root, "bus-name")],
                env=dict(env(), DBUS_SESSION_BUS_ADDRESS=address),
                stdout=log, stderr=subprocess.STDOUT)

        def output():
            with open(log_path) as f:
                return f.read()

        wait_until(lambda: "ready" in output() or daemon.poll() is not None,
                   what="the bus name")
        out = output()
        check("Serving io.github.enginemanager.EngineManager on the session bus" in out,
              f"--no-http: the log says where the service is reached:\n{out}")
        daemon.send_signal(signal.SIGTERM)
        check(daemon.wait(timeout=15) == 0, f"--no-http: a clean stop:\n{output()}")
    finally:
        for process in (daemon, bus):
            if process is not None and process.poll() is None:
                process.kill()
                process.wait()


def test_allocator(root):
    # the build linked mimalloc, or not; when it did, mimalloc must be the
    # malloc() the whole process runs on, which the link order decides. GLib's
    # slices come from malloc() too, without G_SLICE in the environment
    log_path = os.path.join(root, "allocator.log")
    daemon_env = dict(env(), G_MESSAGES_DEBUG="engine-manager")
    daemon_env.pop("G_SLICE", None)
    with open(log_path, "w") as log:
        daemon = subprocess.Popen(
            [DAEMON, "--bus", "none", "--http-port", "0", "--data-dir", os.path.join(root, "allocator")],
            env=daemon_env, stdout=log, stderr=subprocess.STDOUT)
    try:
        def output():
            with open(log_path) as f:
                return f.read()

        wait_until(lambda: "ready" in output() or daemon.poll() is not None, what="the start")
        out = output()
        if os.environ["EM_ALLOCATOR"] == "mimalloc":
            check(re.search(r"memory allocator: mimalloc \d+", out) is not None and "WARNING" not in out,
                  f"built with mimalloc, the service runs on it:\n{out}")
        else:
            check("memory allocator: the C library's" in out,
                  f"built without mimalloc, the service says so:\n{out}")
        check("slices from malloc()" in out, f"GLib's slices come from malloc():\n{out}")
        daemon.send_signal(signal.SIGTERM)
        check(daemon.wait(timeout=15) == 0, f"allocator: a clean stop:\n{output()}")
    finally:
        if daemon.poll() is None:
            daemon.kill()
            daemon.wait()


def test_name_taken(root):
    # a second service on the same bus is refused by name, and cleanly: no
    # GLib warning (fatal under G_DEBUG=fatal-warnings) on the way out
    bus = subprocess.Popen(["dbus-daemon", "--session", "--nofork", "--print-address=1"],
                           stdout=subprocess.PIPE, text=True)
    log_path = os.path.join(root, "name-taken.log")
    first = None
    try:
        address = bus.stdout.readline().strip()
        bus_env = dict(env(), DBUS_SESSION_BUS_ADDRESS=address)
        with open(log_path, "w") as log:
            first = subprocess.Popen(
                [DAEMON, "--bus", "session", "--http-port", "0",
                 "--data-dir", os.path.join(root, "name-taken-1")],
                env=bus_env, stdout=log, stderr=subprocess.STDOUT)

        def output():
            with open(log_path) as f:
                return f.read()

        wait_until(lambda: "ready" in output() or first.poll() is not None,
                   what="the first service")
        second = subprocess.run(
            [DAEMON, "--bus", "session", "--http-port", "0",
             "--data-dir", os.path.join(root, "name-taken-2")],
            env=dict(bus_env, G_DEBUG="fatal-warnings"), stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, text=True, timeout=20)
        out = second.stdout
        check(second.returncode == 1, f"name taken: exit 1 expected, got {second.returncode}:\n{out}")
        check("is already owned on the session bus" in out, f"name taken: the reason is given:\n{out}")
        check("WARNING" not in out, f"name taken: no warning on the way out:\n{out}")
        check(first.poll() is None, f"name taken: the first service keeps running:\n{output()}")
    finally:
        for process in (first, bus):
            if process is not None and process.poll() is None:
                process.kill()
                process.wait()


def test_stop_while_owning_name(root):
    # a stop asked for while the bus name is still being requested is a clean
    # stop like any other: status 0, no error. A relay between the service and
    # a private bus sends SIGTERM when it sees the RequestName call and holds
    # the bus's answers back until the stop has begun.
    bus = subprocess.Popen(["dbus-daemon", "--session", "--nofork", "--print-address=1"],
                           stdout=subprocess.PIPE, text=True)
    relay_path = os.path.join(root, "relay")
    listener = socket.socket(socket.AF_UNIX)
    listener.bind(relay_path)
    listener.listen(1)
    log_path = os.path.join(root, "owning-name.log")
    daemon = None
    try:
        address = bus.stdout.readline().strip()
        bus_path = re.match(r"unix:path=([^,]+)", address)
        check(bus_path is not None, f"a unix:path bus address: {address}")
        if bus_path is None:
            return
        with open(log_path, "w") as log:
            daemon = subprocess.Popen(
                [DAEMON, "--bus", "session", "--http-port", "0",
                 "--data-dir", os.path.join(root, "owning-name")],
                env=dict(env(), DBUS_SESSION_BUS_ADDRESS=f"unix:path={relay_path}"),
                stdout=log, stderr=subprocess.STDOUT)
        listener.settimeout(15)
        client, _ = listener.accept()
        upstream = socket.socket(socket.AF_UNIX)
        upstream.connect(bus_path.group(1))
        asked = threading.Event()

        def to_bus():
            while data := client.recv(65536):
                if b"RequestName" in data and not asked.is_set():
                    daemon.send_signal(signal.SIGTERM)
                    asked.set()
                upstream.sendall(data)

        def to_service():
            while data := upstream.recv(65536):
                if asked.is_set():
                    time.sleep(0.5)
                client.sendall(data)

        for pump in (to_bus, to_service):
            threading.Thread(target=lambda p=pump: _quietly(p), daemon=True).start()
        try:
            code = daemon.wait(timeout=15)
        except subprocess.TimeoutExpired:
            code = None
        with open(log_path) as f:
            out = f.read()
        check(asked.is_set(), f"the relay saw the name requested:\n{out}")
        check(code == 0, f"stop while owning the name: exit 0 expected, got {code}:\n{out}")
        check("engine-manager:" not in out, f"stop while owning the name: no error:\n{out}")
    finally:
        listener.close()
        for process in (daemon, bus):
            if process is not None and process.poll() is None:
                process.kill()
                process.wait()


def _quietly(function):
    try:
        function()
    except OSError:
        pass


def test_crossed_settings(root):
    # the schema cannot refuse a lower limit past the upper one; the service does
    config_home = os.path.join(root, "config")
    settings = os.path.join(config_home, "glib-2.0", "settings")
    os.makedirs(settings)
    settings_env = {"GSETTINGS_BACKEND": "keyfile", "XDG_CONFIG_HOME": config_home}
    for key, value, message in [
            ("stage-min", "(60000.0, 0.0, 0.0)", "stage-min’s x (60000) exceeds stage-max’s (50000)"),
            ("focus-max", "-5.0", "focus-min (0) exceeds focus-max (-5)"),
            # no JSON number is infinite: GET /devices would be no JSON at all
            ("stage-max", "(inf, 50000.0, 10000.0)", "stage-max’s x is infinite"),
            ("focus-min", "-inf", "focus-min is infinite"),
            # nan passes the schema's range
            ("stage-speed", "nan", "stage-speed is not a number"),
            ("focus-speed", "nan", "focus-speed is not a number"),
            # read before anything is made, not when the server listens
            ("http-address", "'999.1.1.1'", "http-address: “999.1.1.1” is not an IP address")]:
        with open(os.path.join(settings, "keyfile"), "w") as f:
            f.write(f"[io/github/enginemanager/EngineManager]\n{key}={value}\n")
        data_dir = os.path.join(root, "crossed")
        argv = [DAEMON, "--bus", "none", "--http-port", "0", "--data-dir", data_dir]
        try:
            p = subprocess.run(argv, env=dict(env(), **settings_env), stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True, timeout=5)
            code, out = p.returncode, p.stdout
        except subprocess.TimeoutExpired:
            code, out = None, ""
        check(code == 1, f"{key}={value}: exit 1 expected, got {code}:\n{out}")
        check(message in out, f"{key}={value}: the message says why:\n{out}")
        check("CRITICAL" not in out, f"{key}={value}: no critical:\n{out}")
        check(not os.path.exists(data_dir), f"{key}={value}: nothing is created")


def test_documented(root):
    # every option of --help is in the man page and the README, with its default
    help_text = subprocess.run([DAEMON, "--help"], env=env(), stdout=subprocess.PIPE,
                               text=True, check=True).stdout
    source = os.environ["SOURCE_ROOT"]
    with open(os.path.join(source, "data", "engine-manager.1")) as f:
        man = f.read()
    with open(os.path.join(source, "README.md")) as f:
        readme = f.read()
    # the man page's paragraph of each option, unescaped
    paragraphs = {}
    for block in man.replace("\\-", "-").split(".TP\n"):
        for name in re.findall(r"--([a-z-]+)", block.split("\n", 1)[0]):
            paragraphs.setdefault(name, " ".join(block.split()))
    for name, text in re.findall(r"^  --([a-z-]+)(?:=\S+)?\s+(.*)$", help_text, re.M):
        if name in ("help", "help-all", "help-gst"):
            continue
        check(name in paragraphs, f"--{name} is in the man page")
        check(f"`--{name}" in readme, f"--{name} is in the README")
        default = re.search(r"\(default (\S+?)[:)]", text)
        if default and name in paragraphs:
            check(f"default {default.group(1)}" in paragraphs[name]
                  or default.group(1) in paragraphs[name],
                  f"--{name}: the man page says default {default.group(1)}: {paragraphs[name]}")
        # what 0 means, and the range, are said in all three places or none
        row = next((line for line in readme.splitlines()
                    if line.startswith("| ") and f"`--{name}" in line.split(" | ")[0]), "")
        man_text = paragraphs.get(name, "")
        zero_help = re.search(r"\b0(:| picks)", text) is not None
        zero_man = re.search(r"\b0( means|:| picks)", man_text) is not None
        check(zero_help == zero_man,
              f"--{name}: --help and the man page agree on what 0 means:\n{text}\n{man_text}")
        check(zero_help == ("`0`" in row),
              f"--{name}: --help and the README agree on what 0 means:\n{text}\n{row}")
        for bound in re.findall(r"(?:at most|\d+ to) (\d+)", man_text):
            check(bound in text, f"--{name}: --help gives the bound {bound} of the man page:\n{text}")
    # the idle timeout also bounds a whole request, however slowly it trickles in
    for where, text in (("--help", help_text), ("the man page", paragraphs.get("idle-timeout", ""))):
        check(re.search(r"idle-timeout.*\brequest\b", " ".join(text.split())) is not None,
              f"--idle-timeout: {where} says it bounds a whole request")


def main():
    with tempfile.TemporaryDirectory(prefix="em-options-") as root:
        test_documented(root)
        test_bad_values(root)
        test_not_utf8_value(root)
        test_cors_origin(root)
        test_token_file(root)
        test_token_not_inherited(root)
        test_tls_key(root)
        test_data_dir_not_a_directory(root)
        test_data_dir_not_utf8(root)
        test_help_not_written(root)
        test_value_forgotten(root)
        test_text_values(root)
        test_shared_data_dir(root)
        test_limits_accepted(root)
        test_signals(root)
        test_stop_keeps_pending(root)
        test_nohup(root)
        test_relative_data_dir(root)
        test_crossed_settings(root)
        test_schema_of_another_version(root)
        test_bus_lost(root)
        test_logs_bus_name(root)
        test_name_taken(root)
        test_allocator(root)
        test_stop_while_owning_name(root)

    if FAILED:
        print(f"{len(FAILED)} failed", file=sys.stderr)
        sys.exit(1)
    print("passed")


if __name__ == "__main__":
    main()
