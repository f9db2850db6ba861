"""The Flatpak manifest agrees with the tree: its build options exist in
meson_options.txt, its app id is the one the schema, the metainfo and the
D-Bus files use, its command is an installed binary, the activation file its
build exports starts that binary without systemd, and every finish-arg is
justified in the README."""

import json
import os
import re
import configparser
import subprocess
import sys
import tempfile

SOURCE_ROOT = os.environ["SOURCE_ROOT"]
BUILD_ROOT = os.environ["BUILD_ROOT"]
MANIFEST = os.path.join(SOURCE_ROOT, "flatpak", "io.github.enginemanager.EngineManager.json")
failures = []
passed = 0


def check(condition, message):
    global passed
    if condition:
        passed += 1
    else:
        failures.append(message)
        print("FAIL:", message)


def project_options():
    text = open(os.path.join(SOURCE_ROOT, "meson_options.txt")).read()
    return {m.group(1): m.group(2) for m in
            re.finditer(r"option\(\s*'([^']+)'\s*,\s*type\s*:\s*'([^']+)'", text)}


def project_app_id():
    text = open(os.path.join(SOURCE_ROOT, "meson.build")).read()
    match = re.search(r"^app_id\s*=\s*'([^']+)'", text, re.M)
    return match.group(1) if match else None


def installed_files():
    out = subprocess.run(["meson", "introspect", BUILD_ROOT, "--installed"],
                         check=True, capture_output=True, text=True).stdout
    return list(json.loads(out).values())


def flatpak_activation(app_id, config_opts):
    """The activation file a build with the manifest's options and Flatpak's
    prefix generates (at configure time, so no compiling), and whether that
    build installs a systemd unit."""
    with tempfile.TemporaryDirectory() as builddir:
        subprocess.run(["meson", "setup", builddir, SOURCE_ROOT, "--prefix=/app", *config_opts],
                       check=True, capture_output=True, text=True)
        parser = configparser.ConfigParser(interpolation=None)
        parser.optionxform = str
        parser.read(os.path.join(builddir, "data", f"{app_id}.service"))
        out = subprocess.run(["meson", "introspect", builddir, "--installed"],
                             check=True, capture_output=True, text=True).stdout
        units = [path for path in json.loads(out).values() if "/systemd/" in path]
    return parser["D-BUS Service"], units


def main():
    manifest = json.load(open(MANIFEST))
    app_id = manifest.get("app-id")

    check(app_id == project_app_id(), f"app-id {app_id} is not meson.build's app_id {project_app_id()}")
    check(os.path.basename(MANIFEST) == f"{app_id}.json", "the manifest is not named after its app id")
    check(manifest.get("runtime") == "org.gnome.Platform", "runtime is not the GNOME runtime")
    check(manifest.get("sdk") == "org.gnome.Sdk", "sdk is not the GNOME SDK")
    check(isinstance(manifest.get("runtime-version"), str), "runtime-version must be a string")

    installed = installed_files()
    names = {os.path.basename(path): path for path in installed}
    command = manifest.get("command")
    check(command in names and "/bin/" in names[command],
          f"command {command} is not an installed binary ({sorted(names)})")

    for suffix in (".gschema.xml", ".metainfo.xml", ".service"):
        check(f"{app_id}{suffix}" in names, f"{app_id}{suffix} is not installed")
    schema = open(os.path.join(SOURCE_ROOT, "data", f"{app_id}.gschema.xml")).read()
    check(f'id="{app_id}"' in schema, "the schema id differs from the app id")
    metainfo = open(os.path.join(SOURCE_ROOT, "data", f"{app_id}.metainfo.xml")).read()
    check(f"<id>{app_id}</id>" in metainfo, "the metainfo id differs from the app id")
    check(f"<binary>{command}</binary>" in metainfo, "the metainfo does not provide the command")
    service = open(os.path.join(SOURCE_ROOT, "data", f"{app_id}.service.in")).read()
    check(f"Name={app_id}" in service.replace("@app_id@", app_id), "the D-Bus service file names another bus name")

    modules = manifest.get("modules", [])
    check(modules, "no modules")
    ours = modules[-1] if modules else {}
    check(ours.get("buildsystem") == "meson", "the last module is not built with meson")
    options = project_options()
    for opt in ours.get("config-opts", []):
        match = re.fullmatch(r"-D([A-Za-z0-9_-]+)=(.*)", opt)
        check(match is not None, f"config-opt {opt} is not -Dname=value")
        if not match:
            continue
        name, value = match.groups()
        check(name in options, f"config-opt {opt}: no option {name} in meson_options.txt")
        if options.get(name) == "boolean":
            check(value in ("true", "false"), f"config-opt {opt}: {name} is a boolean")
    for source in ours.get("sources", []):
        if source.get("type") == "dir":
            path = os.path.normpath(os.path.join(os.path.dirname(MANIFEST), source["path"]))
            check(os.path.exists(os.path.join(path, "meson.build")),
                  f"source dir {source['path']} is not the project")

    # flatpak exports the D-Bus activation file but no systemd unit: a
    # SystemdService line there would have the bus ask systemd for a unit that
    # does not exist, and activation would fail on every systemd desktop
    activation, units = flatpak_activation(app_id, ours.get("config-opts", []))
    check(activation.get("Exec") == f"/app/bin/{command}",
          f"the Flatpak build's activation file runs {activation.get('Exec')}, not /app/bin/{command}")
    check("SystemdService" not in activation,
          f"the Flatpak build's activation file names SystemdService={activation.get('SystemdService')}, "
          "a unit flatpak does not export")
    check(not units, f"the Flatpak build installs systemd units nothing uses: {units}")

    finish_args = manifest.get("finish-args", [])
    check(f"--own-name={app_id}" in finish_args, "finish-args do not own the bus name")
    check("--share=network" in finish_args, "finish-args do not share the network for REST")
    readme = open(os.path.join(SOURCE_ROOT, "README.md")).read()
    section = re.search(r"<!-- section:desktop -->(.*)<!-- end:desktop -->", readme, re.S)
    check(section is not None, "README has no desktop section")
    for arg in finish_args:
        check(section is not None and f"`{arg}`" in section.group(1),
              f"finish-arg {arg} is not justified in README's desktop section")

    print(f"{passed} passed, {len(failures)} failed")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
