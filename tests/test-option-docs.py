"""The options and settings the programs take are the ones their docs describe:
engine-manager --help against engine-manager.1 and README's Configuration
table; the GSettings keys against engine-manager.1's SETTINGS and README's
Settings table; enginectl's commands and each command's --help against
enginectl.1 and the bash completion. An option added, renamed or removed on
one side only fails here."""

import os
import re
import subprocess
import sys
import xml.etree.ElementTree as ET

SOURCE_ROOT = os.environ["SOURCE_ROOT"]
DAEMON = os.environ["EM_DAEMON"]
ENGINECTL = os.environ["ENGINECTL"]
failures = []
checked = 0


def check(condition, message):
    global checked
    checked += 1
    if not condition:
        failures.append(message)
        print("FAIL:", message)


def source(*parts):
    return open(os.path.join(SOURCE_ROOT, *parts), encoding="utf-8").read()


def man_text(name):
    """the page's source with roff's escaped hyphens read as hyphens"""
    return source("data", name).replace("\\-", "-")


def help_of(*args):
    done = subprocess.run(list(args) + ["--help"], capture_output=True, text=True,
                          env=dict(os.environ, LC_ALL="C.UTF-8", LANGUAGE=""))
    check(done.returncode == 0, f"{' '.join(args)} --help exited {done.returncode}")
    return done.stdout


def long_options(text):
    return set(re.findall(r"(?<![\w-])(--[a-z][a-z0-9-]*)", text))


def short_options(text):
    return set(re.findall(r"^\s+(-[a-zA-Z]),", text, re.MULTILINE))


def application_options(help_text):
    """the options of the 'Application Options' section, without GLib's and
    GStreamer's"""
    if "Application Options:" not in help_text:
        return ""
    return help_text.split("Application Options:", 1)[1].split("\n\n", 1)[0]


def readme_section(readme, heading):
    return readme.split(f"\n{heading}\n", 1)[1].split("\n#", 1)[0]


def check_daemon(readme):
    options = long_options(application_options(help_of(DAEMON)))
    check(len(options) > 10, f"engine-manager --help lists only {sorted(options)}")
    page = man_text("engine-manager.1")
    page_options = long_options(page.split(".SH OPTIONS", 1)[1].split(".SH SETTINGS", 1)[0])
    table = readme_section(readme, "## Configuration").split("\n\n", 2)[1]
    table_options = long_options(table)
    for option in sorted(options):
        check(option in page_options, f"engine-manager.1 does not describe {option}")
        # --insecure is under Access control, where it belongs
        if option != "--insecure":
            check(option in table_options, f"README's Configuration table does not list {option}")
    # the help option is GLib's, and --in-memory is hidden on purpose
    for option in sorted(page_options - options - {"--help", "--in-memory", "--no-http"}):
        check(False, f"engine-manager.1 describes {option}, which --help does not list")
    for option in sorted(table_options - options - {"--in-memory"}):
        check(False, f"README's Configuration table lists {option}, which --help does not")


def check_settings(readme):
    schema = ET.parse(os.path.join(SOURCE_ROOT, "data",
                                   "io.github.enginemanager.EngineManager.gschema.xml"))
    keys = {key.get("name") for key in schema.iter("key")}
    page = man_text("engine-manager.1")
    page_keys = set(re.findall(r"^\.BR ([a-z][a-z-]*)", page.split(".SH SETTINGS", 1)[1]
                               .split("Changes to", 1)[0], re.MULTILINE))
    table = readme_section(readme, "### Settings")
    table_keys = set(re.findall(r"^\| `([a-z-]+)`(?:, `([a-z-]+)`)?", table, re.MULTILINE))
    table_keys = {key for pair in table_keys for key in pair if key}
    check(page_keys == keys, f"engine-manager.1 SETTINGS lists {sorted(page_keys ^ keys)} "
                             "unlike the schema")
    check(table_keys == keys, f"README's Settings table lists {sorted(table_keys ^ keys)} "
                              "unlike the schema")


def check_enginectl():
    top = help_of(ENGINECTL)
    commands = re.findall(r"^  ([a-z]+)  ", top.split("Commands:", 1)[1].split("\n\n", 1)[0],
                          re.MULTILINE)
    check(len(commands) > 5, f"enginectl --help lists only {commands}")
    page = man_text("enginectl.1")
    completion = source("data", "enginectl.bash-completion")
    listed = re.search(r'local commands="([^"]*)"', completion).group(1).split()
    check(sorted(listed) == sorted(commands + ["help"]),
          f"the completion offers the commands {listed}, enginectl has {commands}")
    # each command's entry runs to the next command's, its options included
    body = page.split(".SH COMMANDS", 1)[1].split(".SH OPTIONS", 1)[0]
    starts = sorted((match.start(), match.group(1)) for match in
                    re.finditer(r"\n\.TP\n\.BI? \"?([a-z]+)\b", body) if match.group(1) in commands + ["help"])
    described = {name: body[start:end] for (start, name), (end, _) in
                 zip(starts, starts[1:] + [(len(body), None)])}
    for command in commands:
        options = application_options(help_of(ENGINECTL, command))
        entry = described.get(command)
        check(entry is not None, f"enginectl.1 does not describe the command {command}")
        if entry is None:
            continue
        # the completion's branch for the command: from its label to the next ;;
        branch = re.search(r"\n\s+(?:[a-z]+\|)*" + command + r"(?:\|[a-z]+)*\)\n(.*?);;", completion,
                           re.DOTALL)
        check(branch is not None, f"the completion has no branch for {command}")
        for option in sorted(long_options(options)):
            check(option in long_options(entry), f"enginectl.1 does not describe {command} {option}")
            if branch is not None:
                check(option in long_options(branch.group(1)),
                      f"the completion does not offer {command} {option}")
        for option in sorted(short_options(options)):
            check(re.search(r"(?<![\w-])" + option + r"\b", entry) is not None,
                  f"enginectl.1 does not describe {command} {option}")
        for option in sorted(long_options(entry) - long_options(options) - {"--help"}):
            # the watch entry names the daemon's --in-memory
            if option != "--in-memory":
                check(False, f"enginectl.1 describes {command} {option}, which its --help does not list")
    return commands


def value_options(options):
    """the flags of a command's --help that take a value, long and short"""
    found = set()
    for short, long in re.findall(r"^\s+(?:(-[a-zA-Z]), )?(--[a-z][a-z0-9-]*)=", options, re.MULTILINE):
        found.add(long)
        if short:
            found.add(short)
    return found


def check_completion_values(commands):
    """the completion completes a flag's value only for the commands whose
    --help has that flag: schedule --action offers no actions"""
    completion = source("data", "enginectl.bash-completion")
    listed = dict(re.findall(r'^\s+([a-z]+)\) value_options="([^"]*)"', completion, re.MULTILINE))
    check(listed, "the completion has no value_options per command")
    for command in commands:
        want = value_options(application_options(help_of(ENGINECTL, command)))
        got = set(listed.get(command, "").split())
        check(got == want, f"the completion takes {sorted(got)} as {command}'s flags with a value, "
                           f"its --help {sorted(want)}")


def check_wait_statuses(readme):
    """what wait's exit status 3 stands for, as README's table says it, in
    wait --help and in enginectl.1 too: a script reads one of them"""
    row = re.search(r"^\| 3 \| (.*?) \|", readme, re.MULTILINE)
    check(row is not None, "README has no row for wait's exit status 3")
    if row is None:
        return
    causes = ("unknown", "service error", "--return-timeout", "bad usage", "interrupted")
    help_text = " ".join(help_of(ENGINECTL, "wait").split("Exit status:", 1)[-1].split())
    page = man_text("enginectl.1")
    page_statuses = " ".join(page.split(".SH EXIT STATUS", 1)[-1].split(".SH", 1)[0].split())
    for cause in causes:
        check(cause in row.group(1), f"README's row for exit 3 does not say {cause}")
        check(cause in help_text, f"wait --help does not give {cause} as a cause of exit 3: {help_text}")
        check(cause in page_statuses, f"enginectl.1 does not give {cause} as a cause of wait's exit 3")


def main():
    readme = source("README.md")
    check_daemon(readme)
    check_settings(readme)
    commands = check_enginectl()
    check_completion_values(commands)
    check_wait_statuses(readme)
    print(f"{checked - len(failures)} passed, {len(failures)} failed")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
