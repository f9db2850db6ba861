#!/bin/bash
# gdbus and enginectl against the real engine-manager on a private session bus:
# the README's gdbus lines exactly as written, then every enginectl command and
# its exit status
set -u

: "${ENGINE_MANAGER:?path of engine-manager}" "${ENGINECTL:?path of enginectl}" "${README:?path of README.md}"
: "${ENGINECTL_COMPLETION:?path of enginectl.bash-completion}"

if [ -z "${EM_TEST_PRIVATE_BUS:-}" ]; then
  EM_TEST_PRIVATE_BUS=1 exec dbus-run-session -- bash "$0" "$@"
fi

NAME=io.github.enginemanager.EngineManager
failures=0
tmp=$(mktemp -d)
daemon_pid=
background=()

cleanup () {
  for pid in "${background[@]}"; do kill "$pid" 2>/dev/null; done
  if [ -n "$daemon_pid" ]; then kill "$daemon_pid" 2>/dev/null; wait "$daemon_pid" 2>/dev/null; fi
  rm -rf "$tmp"
}
trap cleanup EXIT

fail () { echo "not ok - $*"; failures=$((failures + 1)); }
pass () { echo "ok - $*"; }

# expect STATUS DESCRIPTION COMMAND…: runs it, output in $out and $err
expect () {
  local want=$1 what=$2
  shift 2
  "$@" >"$tmp/out" 2>"$tmp/err"
  local got=$?
  out=$(cat "$tmp/out")
  err=$(cat "$tmp/err")
  if [ "$got" -eq "$want" ]; then pass "$what (exit $got)"; else
    fail "$what: exit $got, expected $want"; sed 's/^/#   /' "$tmp/out" "$tmp/err"; fi
}

contains () {
  local haystack=$1 needle=$2 what=$3
  case "$haystack" in *"$needle"*) pass "$what" ;; *) fail "$what: no “$needle” in: $haystack" ;; esac
}

# wait_for SECONDS COMMAND…: polls until the command succeeds
wait_for () {
  local deadline=$((SECONDS + $1))
  shift
  until "$@" >/dev/null 2>&1; do
    [ "$SECONDS" -ge "$deadline" ] && return 1
    sleep 0.05
  done
}

status_of () { "$ENGINECTL" get --json "$1" | grep -o '"status" : "[a-z]*"' | cut -d'"' -f4; }
is_status () { [ "$(status_of "$1")" = "$2" ]; }
# catches_sigint PID: enginectl runs as PID, its SIGINT handler in place (before
# that, SIGINT is ignored in a job of a script, or kills it at its default)
catches_sigint () {
  local mask
  [ "$(cat "/proc/$1/comm" 2>/dev/null)" = enginectl ] || return 1
  mask=$(awk '/^SigCgt:/ { print $2 }' "/proc/$1/status" 2>/dev/null) && [ -n "$mask" ] &&
    (( 0x$mask & 2 ))
}
nothing_unfinished () {
  "$ENGINECTL" list --status pending | grep -q 'No tasks' && "$ENGINECTL" list --status running | grep -q 'No tasks'
}

PATH="$(dirname "$ENGINECTL"):$PATH"
export PATH

# a German locale, which writes 0,5 for 0.5, built from the system's locale
# sources so that the test does not depend on which locales are generated
mkdir -p "$tmp/locale"
localedef -i de_DE -f UTF-8 "$tmp/locale/de_DE.UTF-8" >/dev/null 2>&1
[ -d "$tmp/locale/de_DE.UTF-8" ] || { echo "Bail out! localedef could not build de_DE.UTF-8"; exit 1; }
# the build tree's catalogues, as `meson devenv` names them
german=(env LOCPATH="$tmp/locale" LC_ALL=de_DE.UTF-8 LANGUAGE= ENGINE_MANAGER_LOCALEDIR="${PO_BUILDDIR:?}")

echo "# engine-manager refuses a negative retention"
# a negative limit would otherwise be dropped in silence, keeping all of history
expect 2 "--retention-max-tasks -5 is refused" timeout 10 "$ENGINE_MANAGER" --bus none --no-http \
  --data-dir "$tmp/refused" --retention-max-tasks -5
contains "$err" "--retention-max-tasks" "the message names --retention-max-tasks"
expect 2 "--retention-max-age -1 is refused" timeout 10 "$ENGINE_MANAGER" --bus none --no-http \
  --data-dir "$tmp/refused" --retention-max-age -1
contains "$err" "--retention-max-age" "the message names --retention-max-age"

"$ENGINE_MANAGER" --bus session --no-http --data-dir "$tmp/data" &
daemon_pid=$!
if ! gdbus wait --session --timeout 20 "$NAME"; then
  fail "engine-manager did not take $NAME"
  exit 1
fi

echo "# the README's D-Bus lines, as written"
# the ```sh blocks of the D-Bus section, lines starting with gdbus or ID=
readme_lines=$(awk '
  /<!-- section:dbus -->/ { inside = 1 }
  /<!-- end:dbus -->/     { inside = 0 }
  inside && /^```/        { code = ($0 == "```sh"); next }
  inside && code && (/^gdbus / || /^ID=/) { print }
' "$README")
count=$(printf '%s\n' "$readme_lines" | grep -c '^gdbus ')
if [ "$count" -ge 8 ]; then pass "README shows $count gdbus lines"; else fail "README shows only $count gdbus lines"; fi
printf '%s\n' "$readme_lines" | grep -q '^gdbus monitor ' || fail "README shows no gdbus monitor line"

while IFS= read -r line; do
  case "$line" in
    "gdbus monitor "*)
      # unbuffered, so what it printed survives the kill
      eval "stdbuf -oL $line" >"$tmp/monitor" 2>&1 &
      background+=($!)
      # gdbus monitor says so once its match rules are in place
      wait_for 10 grep -q '^Monitoring' "$tmp/monitor" || fail "gdbus monitor did not start"
      ;;
    *)
      eval "$line" >"$tmp/out" 2>"$tmp/err"
      status=$?
      if [ "$status" -eq 0 ]; then pass "README: ${line:0:110}"; else
        fail "README: $line: exit $status"; sed 's/^/#   /' "$tmp/out" "$tmp/err"; fi
      ;;
  esac
done <<<"$readme_lines"

# everything the README scheduled ends, and the monitor saw it happen
wait_for 60 nothing_unfinished || fail "the README's tasks did not finish"
monitored="TaskScheduled TaskStarted TaskProgress TaskCompleted TaskCancelled InterfacesAdded PropertiesChanged"
# gdbus monitor prints what it was sent when it gets to it
monitor_saw_all () { local member; for member in $monitored; do grep -q "$member" "$tmp/monitor" || return 1; done; }
wait_for 10 monitor_saw_all
monitor=$(cat "$tmp/monitor")
for member in $monitored; do
  contains "$monitor" "$member" "gdbus monitor shows $member"
done

echo "# introspection"
expect 0 "gdbus introspect the manager" gdbus introspect --session --dest "$NAME" --object-path /io/github/enginemanager/EngineManager
for member in ScheduleTask ScheduleBatch CancelTask GetTask ListTasks Pause Resume GetQueue GetEvents \
              TaskScheduled TaskStarted TaskCompleted TaskFailed TaskCancelled TaskRetrying QueuePaused QueueResumed \
              Version Actions HttpAddress Paused MaxConcurrent LastEventSeq StagePosition FocusPosition \
              org.freedesktop.DBus.ObjectManager; do
  contains "$out" "$member" "introspection lists $member"
done
expect 0 "Version property" gdbus call --session --dest "$NAME" --object-path /io/github/enginemanager/EngineManager \
  --method org.freedesktop.DBus.Properties.Get io.github.enginemanager.EngineManager1 Version
version=$("$ENGINECTL" --version | cut -d' ' -f2)
contains "$out" "'$version'" "Version is the build's"

# a call that does not match the signature is answered by GDBus itself, as
# the README's D-Bus section says, naming the signatures rather than an argument
expect 1 "ScheduleTask with one argument" gdbus call --session --dest "$NAME" \
  --object-path /io/github/enginemanager/EngineManager \
  --method io.github.enginemanager.EngineManager1.ScheduleTask 'x'
contains "$err" "org.freedesktop.DBus.Error.InvalidArgs" "a signature mismatch is InvalidArgs"
contains "$err" "(ssa{sv}a{sv})" "a signature mismatch names the expected signature"

echo "# enginectl: help"
expect 0 "enginectl --help" "$ENGINECTL" --help
for command in schedule list get cancel watch wait batch pause resume queue; do
  contains "$out" "$command" "--help lists $command"
done
# the help options it takes before a command are the ones it lists
for flag in "-h" "-?" "--help" "--help-all" "--version"; do
  contains "$out" " $flag" "--help lists $flag"
done
for command in schedule list get cancel watch wait batch pause resume queue; do
  expect 0 "enginectl $command --help" "$ENGINECTL" "$command" --help
  contains "$out" "enginectl $command" "$command --help shows its usage"
done
expect 0 "enginectl help wait" "$ENGINECTL" help wait
contains "$out" "3 unknown task" "wait --help documents its exit statuses"
# completion offers help after help
expect 0 "enginectl help help" "$ENGINECTL" help help
contains "$out" "enginectl COMMAND" "help help shows the usage"
for args in "help --help" "--help --help" "-h -h" "--help help"; do
  expect 0 "enginectl $args" "$ENGINECTL" $args
  contains "$out" "enginectl COMMAND" "$args shows the usage"
done
expect 2 "no command" "$ENGINECTL"
expect 2 "unknown command" "$ENGINECTL" frobnicate
contains "$err" "frobnicate" "unknown command is named"
# what follows --version or help COMMAND is refused, as after a command that takes none
expect 2 "--version with an argument" "$ENGINECTL" --version extra
contains "$err" "“extra”" "the extra argument after --version is named"
[ -z "$out" ] && pass "--version with an argument prints no version" || fail "--version extra printed: $out"
expect 2 "help COMMAND with another argument" "$ENGINECTL" help wait extra
contains "$err" "“extra”" "the extra argument after help COMMAND is named"
expect 0 "--help COMMAND" "$ENGINECTL" --help wait
contains "$out" "enginectl wait" "--help COMMAND is that command's help"
expect 2 "--help with an unknown command" "$ENGINECTL" --help frobnicate
contains "$err" "frobnicate" "--help names the unknown command"
# every command takes GOption's -? and --help-all after its name: so does enginectl before one
for flag in "-?" "--help-all"; do
  expect 0 "enginectl $flag" "$ENGINECTL" "$flag"
  contains "$out" "Commands:" "enginectl $flag prints the usage"
  expect 0 "enginectl $flag wait" "$ENGINECTL" "$flag" wait
  contains "$out" "enginectl wait" "enginectl $flag COMMAND is that command's help"
  expect 0 "enginectl --help $flag" "$ENGINECTL" --help "$flag"
  contains "$out" "Commands:" "enginectl --help $flag prints the usage"
done
# the help of a command is freed before it exits: nothing is lost. Built with
# AddressSanitizer, valgrind cannot run it, and LeakSanitizer checks the same
# at every exit above
if command -v valgrind >/dev/null && ! ldd "$ENGINECTL" | grep -q libasan; then
  for args in "list --help" "help wait"; do
    if valgrind -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite,indirect \
         --show-leak-kinds=definite,indirect --suppressions="$G_TEST_SRCDIR/valgrind.supp" \
         "$ENGINECTL" $args >/dev/null 2>"$tmp/valgrind"; then
      pass "enginectl $args loses no memory"
    else
      fail "enginectl $args under valgrind: $(cat "$tmp/valgrind")"
    fi
  done
fi
# an option before the command is no command
for args in "--bogus" "--json list" "-x" "--help --version" "help --bogus" "--version=1"; do
  expect 2 "enginectl $args" "$ENGINECTL" $args
  set -- $args
  [ "$1" = "--help" ] || [ "$1" = "help" ] && shift
  contains "$err" "unknown option “$1”" "enginectl $args calls $1 an option"
  case "$err" in *"unknown command"*) fail "enginectl $args calls an option a command: $err" ;;
    *) pass "enginectl $args calls no option a command" ;; esac
done
set --
# a command that takes one argument names the one too many
for command in get cancel wait batch; do
  status=2; [ "$command" = wait ] && status=3
  expect "$status" "$command with two arguments" "$ENGINECTL" "$command" first second
  contains "$err" "“second”" "$command names the extra argument"
done
expect 2 "get with no argument" "$ENGINECTL" get
contains "$err" "exactly one task ID" "get says what it wants"

echo "# enginectl: in German"
expect 0 "enginectl --help in German" "${german[@]}" "$ENGINECTL" --help
contains "$out" "Befehle:" "enginectl takes the catalogues of ENGINE_MANAGER_LOCALEDIR, as the service does"
# the usage is in the locale's character set, as all other output: ü is one
# byte in ISO-8859-1, not UTF-8's two
localedef -i de_DE -f ISO-8859-1 "$tmp/locale/de_DE.ISO-8859-1" >/dev/null 2>&1
if [ -d "$tmp/locale/de_DE.ISO-8859-1" ]; then
  latin1=(env LOCPATH="$tmp/locale" LC_ALL=de_DE.ISO-8859-1 LANGUAGE= ENGINE_MANAGER_LOCALEDIR="$PO_BUILDDIR")
  for args in "--help" "help" ""; do
    want=0; [ -z "$args" ] && want=2
    expect "$want" "enginectl ${args:-(no command)} under ISO-8859-1" "${latin1[@]}" "$ENGINECTL" $args
    [ -z "$args" ] && out=$err
    contains "$out" "Steuert Engine Manager "$'\xfc'"ber D-Bus." "enginectl ${args:-(no command)}: the usage in ISO-8859-1"
    case "$out" in *$'\xc3\xbc'*) fail "enginectl ${args:-(no command)}: the usage in UTF-8 under ISO-8859-1" ;;
      *) pass "enginectl ${args:-(no command)}: no UTF-8 under ISO-8859-1" ;; esac
  done
else
  fail "localedef could not build de_DE.ISO-8859-1"
fi

echo "# enginectl: output that cannot be written"
# a script must not take the id it never got for success
for command in "schedule wait duration=1" "list" "queue --json" "--version"; do
  "$ENGINECTL" $command >/dev/full 2>"$tmp/err"
  status=$?
  [ "$status" -eq 1 ] && pass "$command into /dev/full exits 1" || fail "$command into /dev/full: exit $status"
  contains "$(cat "$tmp/err")" "could not write to standard output" "$command says its output was lost"
done
# help too: GOption's own printed it and exited 0 whether or not it was written
for command in "--help" "help" "help list" "list --help" "schedule -h" "get --help-all" "wait --help"; do
  "$ENGINECTL" $command >/dev/full 2>"$tmp/err"
  status=$?
  want=1
  case "$command" in wait*) want=3 ;; esac
  [ "$status" -eq "$want" ] && pass "$command into /dev/full exits $want" || fail "$command into /dev/full: exit $status"
  contains "$(cat "$tmp/err")" "could not write to standard output" "$command says its help was lost"
done
expect 0 "list --help" "$ENGINECTL" list --help
contains "$out" "--action" "list --help lists its options"

echo "# enginectl: an option's value forgotten"
# GOption took the next option for the value: the task was named "--priority"
expect 2 "schedule --name followed by an option" "$ENGINECTL" schedule wait --name --priority 5 duration=1
contains "$err" "--name is missing its value" "the option without its value is named"
expect 2 "list -a followed by an option" "$ENGINECTL" list -a --limit 5
contains "$err" "-a is missing its value" "a short option without its value is named"
expect 2 "list --action followed by --limit=5" "$ENGINECTL" list --action --limit=5
# a short option alone is an option as well: the tasks of action "-s" were listed
expect 2 "list -a followed by -s" "$ENGINECTL" list -a -s completed
contains "$err" "-a is missing its value: “-s” follows it" "the short option that follows is named"
expect 2 "schedule -n followed by -h" "$ENGINECTL" schedule wait -n -h duration=1
contains "$err" "-n is missing its value" "-h is no task's name"
[ -z "$out" ] && pass "schedule -n -h prints no help" || fail "schedule -n -h printed: $out"
# a cluster reads as GOption reads it: -h anywhere in it is help, also after
# a letter that takes a value, which GOption then called an unknown option
for args in "list -ah" "list -a?" "list -ah x" "schedule -nh"; do
  expect 0 "enginectl $args" "$ENGINECTL" $args
  set -- $args
  contains "$out" "enginectl $1 [OPTION" "enginectl $args prints the command's help"
done
set --
# two letters that take a value: GOption said only "Error parsing option -a"
expect 2 "list -sa" "$ENGINECTL" list -sa completed wait
contains "$err" "-s and -a both take a value" "list -sa says why it is refused"
# GOption took "--json=no" for --json
expect 2 "list --json=no" "$ENGINECTL" list --json=no
contains "$err" "--json takes no value, not “no”" "list --json=no says why it is refused"
expect 2 "queue --json=" "$ENGINECTL" queue --json=
contains "$err" "--json takes no value" "queue --json= says why it is refused"
# a value that merely begins with '-' is still one
expect 0 "schedule --priority -5" "$ENGINECTL" schedule wait --priority -5 --name -lab duration=0
expect 0 "get the task named -lab" "$ENGINECTL" get --json "$out"
contains "$out" '"name" : "-lab"' "the name -lab is taken as given"
# wait's usage errors are its status 3
expect 3 "wait --return-timeout followed by --help" "$ENGINECTL" wait --return-timeout --help some-id
contains "$err" "--return-timeout is missing its value" "wait names the option without its value"
expect 2 "schedule --name followed by --" "$ENGINECTL" schedule wait --name -- duration=1
expect 0 "schedule --name=--priority gives that name" "$ENGINECTL" schedule wait --name=--priority duration=0
expect 0 "get the task named --priority" "$ENGINECTL" get --json "$out"
contains "$out" '"name" : "--priority"' "the name after = is taken as given"

echo "# enginectl: schedule"
expect 0 "schedule wait" "$ENGINECTL" schedule wait --name quick duration=50
quick=$out
if [[ "$quick" =~ ^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$ ]]; then pass "schedule prints a UUID"; else fail "schedule printed “$quick”"; fi
# another client named a task with escape sequences: a terminal must not act on them
expect 0 "schedule with control characters in the name" "$ENGINECTL" schedule wait \
  --name $'evil\e]0;owned\a\e[2J\xc2\x9b1m' duration=1
hostile=$out
for command in "get $hostile" "list" "get --json $hostile"; do
  expect 0 "$command with a hostile name" "$ENGINECTL" $command
  case "$out" in
    *[$'\e\a']*|*$'\xc2\x9b'*) fail "$command passed a control character to the terminal" ;;
    *) pass "$command prints no control character" ;;
  esac
done
contains "$out" 'evil\u001b]0;owned\u0007' "get --json escapes them as JSON does"
expect 0 "get of the hostile name" "$ENGINECTL" get "$hostile"
contains "$out" 'evil\u001b]0;owned\u0007\u001b[2J\u009b1m' "get shows them escaped"
# a line feed in a name would end the row or field and start what reads as another
two_lines=$'two\n99:99:99  task_completed  spoofed'
expect 0 "schedule with a line feed in the name" "$ENGINECTL" schedule wait --name "$two_lines" duration=1
multiline=$out
expect 0 "get of the name with a line feed" "$ENGINECTL" get "$multiline"
contains "$out" 'Name:         two\u000a99:99:99  task_completed  spoofed' "get keeps the name on its line"
expect 0 "list with a name with a line feed" "$ENGINECTL" list
if grep -q "^99:99:99" <<<"$out"; then fail "list split a name over two rows"; else pass "list keeps each task on its row"; fi
# D-Bus strings are UTF-8: other bytes went out as GLib's placeholder, after a critical
for command in get cancel; do
  expect 2 "$command with an id that is not UTF-8" "$ENGINECTL" $command $'\xff'
  contains "$err" '“\xff” is neither UTF-8' "$command names the bytes it cannot read"
done
expect 3 "wait with an id that is not UTF-8" "$ENGINECTL" wait $'\xff'
expect 2 "schedule with an action that is not UTF-8" "$ENGINECTL" schedule $'wait\xff'
expect 2 "schedule with a KEY=VALUE that is not UTF-8" "$ENGINECTL" schedule wait $'duration=\xff'
case "$err" in *CRITICAL*) fail "enginectl hit a critical: $err" ;; *) pass "no critical warning" ;; esac
# UTF-8 is taken whatever the locale, as before
expect 1 "get with a UTF-8 id under LC_ALL=C" env LC_ALL=C "$ENGINECTL" get 'ké'
contains "$err" "no task with id" "the UTF-8 id reached the service"
# and so are the flags' values, which GOption read in the locale's character set
expect 0 "schedule with a UTF-8 --name under LC_ALL=C" env LC_ALL=C "$ENGINECTL" schedule wait --name 'Zürich' duration=1
utf8_named=$out
expect 0 "get of the task named under LC_ALL=C" "$ENGINECTL" get "$utf8_named"
contains "$out" 'Name:         Zürich' "the --name reached the service as written"
expect 0 "list with a UTF-8 --action under LC_ALL=C" env LC_ALL=C "$ENGINECTL" list --action 'Zürich'
contains "$out" 'No tasks' "the --action reached the service"
expect 2 "schedule with a --name that is not UTF-8" "$ENGINECTL" schedule wait --name $'Z\xfcrich'
contains "$err" '“Z\xfcrich” is neither UTF-8' "the bytes of the --name are named"
case "$err" in *CRITICAL*) fail "enginectl hit a critical: $err" ;; *) pass "no critical warning" ;; esac
expect 2 "schedule without an action" "$ENGINECTL" schedule
# as the default name, an empty action was refused as an empty --name nobody gave
expect 2 "schedule with an empty action" "$ENGINECTL" schedule "" duration=1
contains "$err" "an ACTION is required" "the empty action is what is refused"
expect 2 "schedule with a bad KEY=VALUE" "$ENGINECTL" schedule wait duration
contains "$err" "KEY=VALUE" "bad KEY=VALUE is explained"
# null is the parameter or option left out, as in a POST /tasks body
expect 0 "schedule with a null optional parameter and option" "$ENGINECTL" schedule wait --option priority=null duration=null
expect 0 "get --json of it" "$ENGINECTL" get --json "$out"
contains "$out" '"priority" : 0' "a null priority takes its default"
contains "$out" '"parameters" : null' "a null parameter is left out"
expect 1 "schedule with a null required parameter" "$ENGINECTL" schedule adjust_focus position=null
contains "$err" "parameters.position is required" "the required parameter is named"
expect 1 "schedule with a null under a misspelt parameter" "$ENGINECTL" schedule wait duraton=null
contains "$err" "parameters.duraton: unknown parameter for action “wait”" "the misspelt parameter is named, not dropped"
expect 1 "schedule with a null under a misspelt option" "$ENGINECTL" schedule wait --option priorty=null
contains "$err" "options.priorty: unknown field" "the misspelt option is named, not dropped"
expect 2 "schedule with a parameter given and null" "$ENGINECTL" schedule wait duration=5 duration=null
contains "$err" "duration is given twice" "a null is a value given once"
# D-Bus has no null: dropped from an object or made "" in an array, unsaid
expect 2 "schedule with a null inside a list" "$ENGINECTL" schedule wait 'duration=[1, null]'
contains "$err" "duration[1]: null cannot be sent" "the null item is named"
expect 2 "schedule with a null inside an object" "$ENGINECTL" schedule wait 'duration={"a": {"b": null}}'
contains "$err" "duration.a.b: null cannot be sent" "the null member is named"
expect 1 "schedule an unknown action" "$ENGINECTL" schedule no_such_action
contains "$err" "no_such_action" "unknown action is named"
# the action is the default name: one too long for a name is still an
# unknown action, and a name too long is the --name the user gave
long=$(printf 'a%.0s' $(seq 300))
expect 1 "schedule an action too long to be a name" "$ENGINECTL" schedule "$long"
contains "$err" "unknown action" "a long unknown action is refused as one"
expect 1 "schedule with an empty --name" "$ENGINECTL" schedule wait -n '' duration=1
contains "$err" "enginectl: --name must be 1 to 256 characters long, got 0" "the bad name is named by its flag"
expect 1 "schedule a parameter of the wrong type" "$ENGINECTL" schedule wait duration=soon
contains "$err" "duration" "wrong parameter is named"
contains "$err" "enginectl: " "error is prefixed"
case "$err" in *GDBus.Error*) fail "remote error name leaks into the message: $err" ;; *) pass "remote error name stripped" ;; esac
expect 0 "schedule with --priority and --option" "$ENGINECTL" schedule wait --priority 5 --option max_retries=2 duration=1
expect 0 "the options reached the engine" "$ENGINECTL" get --json "$out"
contains "$out" '"priority" : 5' "priority is set"
contains "$out" '"max_retries" : 2' "max_retries is set"
expect 1 "schedule with a value written 010" "$ENGINECTL" schedule wait duration=010
contains "$err" "parameters.duration must be a number" "010 is not read as 8"
expect 1 "schedule with an integer past 64 bits" "$ENGINECTL" schedule wait --option priority=18446744073709551621 duration=1
contains "$err" "options.priority" "the overflowing integer is refused by name"
expect 1 "schedule with a value nested 100 000 deep" "$ENGINECTL" schedule wait "duration=$(/usr/bin/python3 -c 'print("[" * 100000)')"
contains "$err" "parameters.duration" "the deep value is refused by name"
expect 0 "schedule a fractional duration" "$ENGINECTL" schedule wait duration=0.3
expect 0 "get --json of it" "$ENGINECTL" get --json "$out"
contains "$out" $'"duration" : 0.3\n' "a double reads as it was given, not 0.29999999999999999"
expect 1 "schedule with an unknown option" "$ENGINECTL" schedule wait --option urgency=1 duration=1
contains "$err" "options.urgency" "unknown option is named"
expect 2 "schedule with a non-numeric --priority" "$ENGINECTL" schedule wait --priority high
# a sign of plus is no more a whole number here than for list --limit or the service's options
expect 2 "schedule with --priority +5" "$ENGINECTL" schedule wait --priority +5 duration=1
contains "$err" "--priority takes a whole number, not “+5”" "--priority +5 is refused by name"
expect 2 "schedule with --max-retries +1" "$ENGINECTL" schedule wait --max-retries +1 duration=1
contains "$err" "--max-retries takes a whole number, not “+1”" "--max-retries +1 is refused by name"
# nor in the seconds, while an exponent keeps its sign
for flag in --retry-delay --delay --timeout; do
  expect 2 "schedule with $flag +5" "$ENGINECTL" schedule wait --max-retries 1 "$flag" +5 duration=1
  contains "$err" "$flag takes a number of seconds, not “+5”" "$flag +5 is refused by name"
done
expect 0 "schedule with --timeout 1e+3" "$ENGINECTL" schedule wait --timeout 1e+3 duration=0
expect 0 "get --json of it" "$ENGINECTL" get --json "$out"
contains "$out" '"timeout" : 1000' "--timeout 1e+3 is a thousand seconds"
# a value the service refuses is named as it was given: by its flag, or by --option's key
expect 1 "schedule with a --priority out of range" "$ENGINECTL" schedule wait --priority 99999999 duration=1
contains "$err" "enginectl: --priority must be between" "the refused --priority is named by its flag"
expect 1 "schedule with an unknown --depends-on" "$ENGINECTL" schedule wait --depends-on nope duration=1
contains "$err" "enginectl: --depends-on: unknown task “nope”" "the refused --depends-on is named by its flag"
expect 1 "schedule with a relative move and --max-retries" "$ENGINECTL" schedule move_stage --max-retries 2 x=1 relative=true
contains "$err" "enginectl: --max-retries: action “move_stage” is not safe to retry" "the refused --max-retries is named by its flag"
expect 1 "schedule with --option priority out of range" "$ENGINECTL" schedule wait --option priority=99999999 duration=1
contains "$err" "enginectl: options.priority must be between" "the refused --option is named by its key"

expect 0 "schedule with every scheduling flag" "$ENGINECTL" schedule wait --name opts --priority 3 \
  --depends-on "$quick" --max-retries 1 --retry-delay 0.5 --timeout 30 --delay 0.2 duration=1
opts=$out
expect 0 "get --json shows the scheduling fields" "$ENGINECTL" get --json "$opts"
contains "$out" '"priority" : 3' "--priority is set"
contains "$out" '"max_retries" : 1' "--max-retries is set"
contains "$out" '"retry_delay" : 0.5' "--retry-delay is set"
contains "$out" '"timeout" : 30' "--timeout is set"
contains "$out" '"run_at" : "' "--delay gives a run_at"
contains "$out" "\"$quick\"" "--depends-on is set"
# the members GET /tasks/{id} has, in its order, null ones included
if /usr/bin/python3 -c '
import json, sys
task = json.load(sys.stdin)
assert list(task) == ["id", "name", "action", "parameters", "status", "result", "error", "created_at",
                      "started_at", "completed_at", "progress", "priority", "depends_on", "waiting_on",
                      "waiting_for", "max_retries", "retry_delay", "attempts", "run_at", "timeout", "batch"], list(task)
assert task["error"] is None and task["batch"] is None, task
' <<<"$out"; then pass "get --json has every member of the REST task, null ones too"; else fail "get --json: $out"; fi
expect 0 "list --json of it" "$ENGINECTL" list --json --status pending,running,completed
if /usr/bin/python3 -c '
import json, sys
assert all("error" in task and "batch" in task for task in json.load(sys.stdin))
' <<<"$out"; then pass "list --json keeps null members"; else fail "list --json: $out"; fi
expect 0 "get shows the scheduling fields" "$ENGINECTL" get "$opts"
contains "$out" "Priority:" "get prints the priority"
contains "$out" "Depends on:" "get prints the dependencies"
contains "$out" "Timeout:" "get prints the timeout"
expect 0 "list shows the priority column" "$ENGINECTL" list
contains "$out" "PRIO" "list has a priority column"
expect 2 "schedule with a non-numeric --max-retries" "$ENGINECTL" schedule wait --max-retries many
contains "$err" "--max-retries" "the bad flag is named"
expect 2 "schedule with a non-numeric --delay" "$ENGINECTL" schedule wait --delay soon
# what strtod takes beyond decimal numbers is no number of seconds either
for value in nan inf -infinity 0x10 " 5"; do
  expect 2 "schedule with --delay “$value”" "$ENGINECTL" schedule wait --delay "$value"
  contains "$err" "--delay takes a number of seconds, not “$value”" "--delay “$value” is refused by name"
done
expect 2 "schedule with --timeout nan" "$ENGINECTL" schedule wait --timeout nan
contains "$err" "--timeout" "--timeout nan is refused by name"
expect 0 "schedule with --delay 1e-3" "$ENGINECTL" schedule wait --delay 1e-3 duration=0
expect 2 "schedule with the priority twice" "$ENGINECTL" schedule wait --priority 1 --option priority=2
# an option that takes one value, given twice, is refused rather than the last taken
expect 2 "schedule with --priority twice" "$ENGINECTL" schedule wait --priority 1 --priority 2
contains "$err" "--priority is given twice, as “1” and as “2”" "the repeated --priority is named"
expect 2 "schedule with --name twice" "$ENGINECTL" schedule wait --name first -n second
contains "$err" "--name is given twice" "the repeated --name is named"
expect 2 "schedule with --run-at twice" "$ENGINECTL" schedule wait --run-at 2099-01-01T00:00:00Z --run-at=2098-01-01T00:00:00Z
contains "$err" "--run-at is given twice" "the repeated --run-at is named"
expect 2 "list with --action twice" "$ENGINECTL" list --action wait --action move_stage
contains "$err" "--action is given twice, as “wait” and as “move_stage”" "the repeated --action is named"
expect 2 "list with --limit twice" "$ENGINECTL" list --limit 1 -l 2
contains "$err" "--limit is given twice" "the repeated --limit is named"
expect 2 "watch with --since twice" timeout 10 "$ENGINECTL" watch --since 1 --since 2
contains "$err" "--since is given twice" "the repeated --since is named"
expect 1 "schedule depending on an unknown task" "$ENGINECTL" schedule wait --depends-on 00000000-0000-0000-0000-000000000000
contains "$err" "00000000-0000-0000-0000-000000000000" "the unknown dependency is named"
expect 1 "schedule with a retry delay out of range" "$ENGINECTL" schedule wait --max-retries 1 --retry-delay 99999
contains "$err" "--retry-delay must be between" "the bad option is named by its flag"
expect 1 "schedule with a bad --run-at" "$ENGINECTL" schedule wait --run-at tomorrow
contains "$err" "--run-at: “tomorrow”" "the bad time is named by its flag"
expect 0 "schedule with --run-at" "$ENGINECTL" schedule wait --run-at 2099-01-01T00:00:00Z
later=$out
expect 0 "a task with a run_at is pending" "$ENGINECTL" get --json "$later"
contains "$out" '"run_at" : "2099-01-01T00:00:00' "run_at is kept"
contains "$out" '"status" : "pending"' "it waits"
expect 0 "cancel the delayed task" "$ENGINECTL" cancel "$later"

echo "# enginectl: batch"
task_count () { "$ENGINECTL" list --json | grep -c '"id" :'; }
cat >"$tmp/batch.json" <<'JSON'
[
  {"name": "batch first", "action": "wait", "parameters": {"duration": 100}},
  {"name": "batch second", "action": "wait", "parameters": {"duration": 10}, "depends_on": ["#0"], "priority": 2}
]
JSON
expect 0 "batch --exclusive FILE" "$ENGINECTL" batch --exclusive "$tmp/batch.json"
first=$(sed -n 1p "$tmp/out")
second=$(sed -n 2p "$tmp/out")
if [ "$(wc -l <"$tmp/out")" -eq 2 ] && [[ "$second" =~ ^[0-9a-f-]{36}$ ]]; then pass "batch prints one id a line"; else fail "batch printed: $out"; fi
expect 0 "the batch's second task completes" "$ENGINECTL" wait "$second"
expect 0 "get the batch's second task" "$ENGINECTL" get --json "$second"
contains "$out" "\"$first\"" "#0 became the first task's id"
contains "$out" '"batch" : "' "the task names its batch"
expect 0 "batch from standard input" "$ENGINECTL" batch - <<<'[{"name": "piped", "action": "wait"}]'
before=$(task_count)
cat >"$tmp/bad-batch.json" <<'JSON'
[{"name": "fine", "action": "wait"}, {"name": "wrong", "action": "wait", "priority": "high"}]
JSON
expect 1 "batch with a bad item" "$ENGINECTL" batch "$tmp/bad-batch.json"
contains "$err" "tasks[1]" "the bad item is named"
contains "$err" "priority" "the bad key is named"
after=$(task_count)
[ "$before" -eq "$after" ] && pass "a bad batch creates nothing" || fail "a bad batch created $((after - before)) tasks"
# null is a field left out, as in a POST /tasks body
expect 1 "batch with a null name" "$ENGINECTL" batch - <<<'[{"name": "fine", "action": "wait"}, {"name": null, "action": "wait"}]'
contains "$err" "tasks[1] name" "a null name is a missing one, named as POST /tasks names it"
cat >"$tmp/null-batch.json" <<'JSON'
{"tasks": [
  {"name": "nulls", "action": "wait", "parameters": {"duration": null}, "priority": null,
   "depends_on": null, "max_retries": null, "retry_delay": null, "delay": null, "timeout": null, "run_at": null},
  {"name": "null parameters", "action": "move_stage", "parameters": {"x": 1, "relative": null}},
  {"name": "no parameters", "action": "wait", "parameters": null}
], "exclusive": null}
JSON
expect 0 "batch with null options, parameters and exclusive, as POST /tasks takes them" "$ENGINECTL" batch "$tmp/null-batch.json"
[ "$(wc -l <"$tmp/out")" -eq 3 ] && pass "the batch with nulls made its three tasks" || fail "batch with nulls printed: $out"
nulls=$(sed -n 1p "$tmp/out")
expect 0 "get the task whose options were null" "$ENGINECTL" get --json "$nulls"
contains "$out" '"priority" : 0' "a null priority takes its default"
before=$(task_count)
expect 1 "batch with a null under a misspelt parameter" "$ENGINECTL" batch - <<<'[{"name": "a", "action": "wait"}, {"name": "b", "action": "wait", "parameters": {"duraton": null}}]'
contains "$err" "tasks[1] parameters.duraton: unknown parameter for action “wait”" "the misspelt parameter is named, not dropped"
expect 1 "batch with a null under a misspelt field" "$ENGINECTL" batch - <<<'[{"name": "a", "action": "wait", "priorty": null}]'
contains "$err" "tasks[0] priorty: unknown field" "the misspelt field is named, not dropped"
after=$(task_count)
[ "$before" -eq "$after" ] && pass "a refused null creates nothing" || fail "a refused null created $((after - before)) tasks"
expect 1 "batch whose exclusive is not a boolean" "$ENGINECTL" batch - <<<'{"tasks": [{"name": "a", "action": "wait"}], "exclusive": "yes"}'
contains "$err" "exclusive: must be true or false" "the bad exclusive is named"
expect 1 "batch object with an unknown field" "$ENGINECTL" batch - <<<'{"tasks": [{"name": "a", "action": "wait"}], "exclusiv": true}'
contains "$err" "exclusiv: unknown field of a batch" "the unknown batch field is named"
expect 1 "batch with a null parameter item" "$ENGINECTL" batch - <<<'[{"name": "n", "action": "wait", "parameters": {"duration": [null]}}]'
contains "$err" "tasks[0].parameters.duration[0]: null" "the null item is named"
expect 1 "batch of a JSON object" "$ENGINECTL" batch - <<<'{"name": "x", "action": "wait"}'
contains "$err" "array" "a batch must be an array"
expect 1 "batch of something that is not JSON" "$ENGINECTL" batch - <<<'move the stage'
# a read error is the input's, not the bus's
expect 1 "batch from a standard input that cannot be read" "$ENGINECTL" batch - <"$tmp"
contains "$err" "Could not read standard input" "the unreadable standard input is named"
case "$err" in *D-Bus*) fail "a read error blamed the bus: $err" ;; *) pass "no hint about the bus" ;; esac
# what json-glib's parser would take in a changed form, or crash on, is refused
expect 1 "batch with a number written 010" "$ENGINECTL" batch - <<<'[{"name": "o", "action": "wait", "parameters": {"duration": 010}}]'
contains "$err" "[0].parameters.duration" "the octal-looking number is named"
expect 1 "batch with an integer past 64 bits" "$ENGINECTL" batch - <<<'[{"name": "w", "action": "wait", "priority": 18446744073709551621}]'
contains "$err" "[0].priority" "the overflowing integer is named"
expect 1 "batch with a member given twice" "$ENGINECTL" batch - <<<'[{"name": "a", "name": "b", "action": "wait"}]'
contains "$err" "[0].name" "the repeated member is named"
/usr/bin/python3 -c 'print("[" * 200000)' >"$tmp/deep.json"
expect 1 "batch nested 200 000 deep" "$ENGINECTL" batch "$tmp/deep.json"
contains "$err" "nested deeper than" "deep nesting is refused"
expect 1 "batch of a missing file" "$ENGINECTL" batch "$tmp/no-such-file.json"
expect 2 "batch without a file" "$ENGINECTL" batch

echo "# enginectl list: more tasks than one ListTasks page"
/usr/bin/python3 -c 'import json; print(json.dumps([{"name": "page%d" % i, "action": "wait"} for i in range(2300)]))' >"$tmp/many.json"
expect 0 "batch of 2300 tasks" "$ENGINECTL" batch "$tmp/many.json"
ids=$(/usr/bin/python3 -c 'import sys; print(" ".join(sys.stdin.read().split()))' <<<"$out")
expect 0 "list --json of every task" "$ENGINECTL" list --json
if /usr/bin/python3 -c '
import json, sys
tasks = json.load(open(sys.argv[1]))
ids = [t["id"] for t in tasks]
batch = sys.argv[2].split()
assert len(ids) == len(set(ids)), "a task twice"
at = ids.index(batch[0])
assert ids[at:at + len(batch)] == batch, "the batch is not whole and in order"
' <(printf '%s' "$out") "$ids"; then pass "list pages through all 2300, each once, in order"; else fail "list over several pages"; fi
first=$(cut -d' ' -f1 <<<"$ids")
expect 0 "list --offset --limit across pages" "$ENGINECTL" list --json --action wait --limit 1500 \
  --offset "$("$ENGINECTL" list --json --action wait | /usr/bin/python3 -c 'import json, sys; print([t["id"] for t in json.load(sys.stdin)].index(sys.argv[1]) + 10)' "$first")"
if /usr/bin/python3 -c '
import json, sys
tasks = json.load(open(sys.argv[1]))
assert len(tasks) == 1500, len(tasks)
assert [t["id"] for t in tasks] == sys.argv[2].split()[10:1510]
' <(printf '%s' "$out") "$ids"; then pass "--limit 1500 --offset N gives exactly those tasks"; else fail "--limit and --offset over pages"; fi
# counts are decimal, as --priority is: 010 is ten, not eight, and 0x10 is no number
expect 0 "list --limit 010" "$ENGINECTL" list --json --limit 010
count=$(grep -c '"id" :' <<<"$out")
[ "$count" -eq 10 ] && pass "--limit 010 gives ten tasks" || fail "--limit 010 gave $count tasks"
tenth=$("$ENGINECTL" list --json --offset 10 --limit 1 | grep '"id" :')
expect 0 "list --offset 010" "$ENGINECTL" list --json --offset 010 --limit 1
contains "$out" "$tenth" "--offset 010 skips ten tasks"
expect 2 "list --limit 0x10" "$ENGINECTL" list --limit 0x10
contains "$err" "--limit takes a whole number" "--limit 0x10 is refused by name"
contains "$err" "“0x10”" "the hexadecimal value is named"
expect 2 "list --limit -5" "$ENGINECTL" list --limit -5
contains "$err" "--limit takes a whole number from 1 to 4294967295, not “-5”" "a negative --limit is refused by name"
# 0 could mean none or all: refused, as REST refuses limit=0; all is the flag left out
expect 2 "list --limit 0" "$ENGINECTL" list --limit 0
contains "$err" "--limit takes a whole number from 1 to 4294967295, not “0”; leave it out for all tasks" \
  "--limit 0 is refused by name"
[ -z "$out" ] && pass "--limit 0 lists nothing" || fail "--limit 0 listed: ${out:0:200}"
expect 2 "list --offset -1" "$ENGINECTL" list --offset -1
contains "$err" "--offset takes a whole number from 0 to 4294967295, not “-1”" "a negative --offset is refused by name"
expect 2 "list --limit with nothing" "$ENGINECTL" list --limit ""
contains "$err" "--limit takes a whole number" "an empty --limit is refused by name"

echo "# enginectl: pause, resume, queue"
expect 0 "pause" "$ENGINECTL" pause
expect 0 "queue" "$ENGINECTL" queue
contains "$out" "Paused:" "queue shows whether it is paused"
contains "$out" "yes" "the queue is paused"
if grep -Eq '^Max running: +4$' <<<"$out"; then
  pass "queue shows how many tasks run at once, as --json does"; else fail "queue without max_concurrent: $out"; fi
held=$("$ENGINECTL" schedule wait --name held duration=0)
sleep 0.3
is_status "$held" pending && pass "nothing starts while paused" || fail "a task started while paused"
expect 0 "queue --json" "$ENGINECTL" queue --json
if /usr/bin/python3 -c 'import json, sys; q = json.load(sys.stdin); assert q["paused"] is True and q["counts"]["pending"] >= 1 and q["counts"]["completed"] >= 1 and isinstance(q["running"], list) and q["max_concurrent"] == 4' <<<"$out"; then
  pass "queue --json has paused, counts, running and max_concurrent, as GET /queue"; else fail "queue --json: $out"; fi
expect 0 "resume" "$ENGINECTL" resume
expect 0 "wait for the held task" "$ENGINECTL" wait "$held"
expect 0 "queue after resume" "$ENGINECTL" queue
contains "$out" "no" "the queue runs again"
expect 2 "pause with an argument" "$ENGINECTL" pause now

echo "# enginectl: wait"
expect 0 "wait for a completed task" "$ENGINECTL" wait "$quick"
contains "$out" "completed" "wait says completed"
failing=$("$ENGINECTL" schedule move_stage --name "too far" x=60000)
expect 1 "wait for a failing task" "$ENGINECTL" wait "$failing"
contains "$err" "failed" "wait says failed"
long=$("$ENGINECTL" schedule wait --name long duration=60000)
"$ENGINECTL" wait "$long" >"$tmp/wait-out" 2>&1 &
wait_pid=$!
wait_for 10 is_status "$long" running || fail "long task did not start"
expect 0 "cancel a running task" "$ENGINECTL" cancel "$long"
contains "$out" "Cancelled $long" "cancel says so on stdout"
[ -z "$err" ] && pass "cancel prints nothing on stderr" || fail "cancel printed on stderr: $err"
wait "$wait_pid"
status=$?
if [ "$status" -eq 2 ]; then pass "wait for a cancelled task (exit 2)"; else fail "wait for a cancelled task: exit $status"; fi
expect 2 "wait for an already cancelled task" "$ENGINECTL" wait "$long"
contains "$err" "Task $long was cancelled" "wait says cancelled on stderr"
[ -z "$out" ] && pass "nothing on stdout when the task was cancelled" || fail "wait printed on stdout: $out"
expect 3 "wait for an unknown task" "$ENGINECTL" wait 00000000-0000-0000-0000-000000000000
contains "$err" "00000000-0000-0000-0000-000000000000" "unknown id is named"
expect 3 "wait without an id" "$ENGINECTL" wait
# interrupted, it cannot say how the task ended: 3, as --help and the README say
interrupted=$("$ENGINECTL" schedule wait --name interrupted duration=60000)
"$ENGINECTL" wait "$interrupted" >"$tmp/wait-out" 2>"$tmp/wait-err" &
wait_pid=$!
wait_for 10 is_status "$interrupted" running || fail "the task to interrupt did not start"
wait_for 20 catches_sigint "$wait_pid" || fail "wait: no SIGINT handler after 20 s"
kill -INT "$wait_pid"
wait "$wait_pid"
status=$?
[ "$status" -eq 3 ] && pass "wait interrupted (exit 3)" || fail "wait interrupted: exit $status"
contains "$(cat "$tmp/wait-err")" "interrupted" "wait says it was interrupted"
# Ctrl+C while the service has not answered yet: 3 too, not death by SIGINT, and
# at once, not when GetTask times out (25 s). A terminal's Ctrl+C finds SIGINT at
# its default, which a script's & ignores
kill -STOP "$daemon_pid"
env --default-signal=INT "$ENGINECTL" wait "$interrupted" >"$tmp/wait-out" 2>"$tmp/wait-err" &
wait_pid=$!
wait_for 20 catches_sigint "$wait_pid" || fail "wait: no SIGINT handler after 20 s"
kill -INT "$wait_pid"
# it ends while the service is still frozen: nothing it waits for can come
wait_for 5 bash -c "! kill -0 $wait_pid" || fail "wait: still running 5 s after Ctrl+C"
kill -CONT "$daemon_pid"
wait "$wait_pid"
status=$?
[ "$status" -eq 3 ] && pass "wait interrupted before the service answered (exit 3)" ||
  fail "wait interrupted before the service answered: exit $status"
contains "$(cat "$tmp/wait-err")" "interrupted" "wait says it was interrupted before the service answered"
"$ENGINECTL" cancel "$interrupted" >/dev/null
expect 0 "wait --help" "$ENGINECTL" wait --help
contains "$out" "interrupted" "wait --help documents the exit status of an interruption"
# what it says, and where, as the README has it
expect 0 "wait for a completed task" "$ENGINECTL" wait "$quick"
contains "$out" "Task $quick completed" "wait says completed on stdout"
[ -z "$err" ] && pass "nothing on stderr when the task completed" || fail "wait printed on stderr: $err"
expect 1 "wait for a failed task" "$ENGINECTL" wait "$failing"
contains "$err" "Task $failing failed: " "wait says failed, with the error, on stderr"
[ -z "$out" ] && pass "nothing on stdout when the task failed" || fail "wait printed on stdout: $out"

echo "# enginectl: cancel, get, list"
expect 1 "cancel a finished task" "$ENGINECTL" cancel "$long"
contains "$err" "$long" "conflict names the task"
expect 1 "cancel an unknown task" "$ENGINECTL" cancel nope
expect 2 "cancel without an id" "$ENGINECTL" cancel
expect 0 "get" "$ENGINECTL" get "$quick"
contains "$out" "Status:" "get prints fields"
contains "$out" "completed" "get prints the status"
contains "$out" "quick" "get prints the name"
expect 0 "get --json" "$ENGINECTL" get --json "$failing"
contains "$out" "\"error\"" "get --json has the error"
contains "$out" "\"status\" : \"failed\"" "get --json has the status"
# numbers as given and as --json has them, not rounded, in exponent form or
# with the locale's decimal comma
expect 0 "schedule with a fractional retry delay and a long timeout" "$ENGINECTL" schedule wait \
  --max-retries 1 --retry-delay 1.2345678 --timeout 1234567 duration=1
expect 0 "get under a German locale" "${german[@]}" "$ENGINECTL" get "$out"
if grep -q " 1\.2345678$" <<<"$out"; then pass "get shows the retry delay as given"; else fail "get retry delay: $out"; fi
if grep -q " 1234567$" <<<"$out"; then pass "get shows the timeout as given"; else fail "get timeout: $out"; fi
# German labels are longer than the English ones, and not ASCII: the values
# still start in one column
values_aligned () {
  /usr/bin/python3 -c '
import re, sys
starts = {len(re.match(r"^(.*?: +| +)", line).group(0)) for line in sys.stdin.read().splitlines()}
sys.exit(len(starts) != 1)'
}
if values_aligned <<<"$out"; then pass "get lines up the German values"; else fail "get in German: $out"; fi
expect 0 "queue under a German locale" "${german[@]}" "$ENGINECTL" queue
if values_aligned <<<"$out"; then pass "queue lines up the German values"; else fail "queue in German: $out"; fi
expect 1 "get an unknown task" "$ENGINECTL" get nope
contains "$err" "nope" "unknown id is named"
expect 0 "list" "$ENGINECTL" list
contains "$out" "STATUS" "list prints a header"
contains "$out" "$quick" "list shows a task"
expect 0 "list --status failed" "$ENGINECTL" list --status failed
contains "$out" "$failing" "filtered list has the failed task"
case "$out" in *"$quick"*) fail "filtered list shows a completed task" ;; *) pass "filter leaves others out" ;; esac
expect 0 "list --json" "$ENGINECTL" list --json --status cancelled
contains "$out" "\"id\" : \"$long\"" "list --json has the task"
if command -v /usr/bin/python3 >/dev/null; then
  /usr/bin/python3 -c 'import json, sys; tasks = json.load(sys.stdin); assert all(t["status"] == "cancelled" for t in tasks)' <<<"$out" \
    && pass "list --json is JSON" || fail "list --json is not the expected JSON"
fi
# several statuses, as the REST API's status=failed,cancelled: repeated or by commas
for several in "--status failed --status cancelled" "--status failed,cancelled"; do
  # shellcheck disable=SC2086
  expect 0 "list $several" "$ENGINECTL" list $several
  contains "$out" "$failing" "list $several has the failed task"
  contains "$out" "$long" "list $several has the cancelled task"
  case "$out" in *"$quick"*) fail "list $several shows a completed task" ;; *) pass "list $several leaves others out" ;; esac
done
expect 1 "list --status bogus" "$ENGINECTL" list --status bogus
contains "$err" "bogus" "bad status is named"
# the service names its filter's key; the user typed a flag, and reads that back
contains "$err" "enginectl: --status: unknown status “bogus”" "a bad status names --status"
expect 1 "list --since yesterday" "$ENGINECTL" list --since yesterday
contains "$err" "enginectl: --since must be an RFC 3339 time" "a bad time names --since"
expect 1 "list --until in month 13" "$ENGINECTL" list --status failed --until 2026-13-01T00:00:00Z
contains "$err" "enginectl: --until must be an RFC 3339 time" "a bad time names --until"
case "$err" in *filter.*) fail "list names the D-Bus filter: $err" ;; *) pass "list names no D-Bus key" ;; esac
# a message naming two keys names both by their flags
expect 1 "list --until before --since" "$ENGINECTL" list --since 2021-01-01T00:00:00Z --until 2020-01-01T00:00:00Z
contains "$err" "enginectl: --until: 2020-01-01T00:00:00Z is before --since (2021-01-01T00:00:00Z)" \
  "swapped bounds name --until and --since"
case "$err" in *filter.*) fail "swapped bounds name a D-Bus key: $err" ;; *) pass "swapped bounds name no D-Bus key" ;; esac
expect 2 "list with an argument" "$ENGINECTL" list extra

echo "# enginectl: watch"
"$ENGINECTL" watch --json >"$tmp/watch-json" 2>"$tmp/watch-json-err" &
watch_json=$!
"$ENGINECTL" watch >"$tmp/watch-text" 2>"$tmp/watch-text-err" &
watch_text=$!
background+=("$watch_json" "$watch_text")
# each says so on stderr once it is subscribed
wait_for 10 grep -q Watching "$tmp/watch-json-err" && wait_for 10 grep -q Watching "$tmp/watch-text-err" \
  || fail "watch did not start"
watched=$("$ENGINECTL" schedule wait --name watched duration=200)
"$ENGINECTL" schedule wait --name "$two_lines" duration=1 >/dev/null
"$ENGINECTL" wait "$watched" >/dev/null
"$ENGINECTL" pause >/dev/null && "$ENGINECTL" resume >/dev/null
retried=$("$ENGINECTL" schedule move_stage --name retried --max-retries 1 --retry-delay 0.05 x=60000)
"$ENGINECTL" wait "$retried" >/dev/null 2>&1
# the last event: each watch has printed everything once it shows this one
wait_for 10 grep -q "\"type\":\"task_failed\",\"task_id\":\"$retried\"" "$tmp/watch-json"
watch_text_saw_failure () { grep "$retried" "$tmp/watch-text" | grep -q task_failed; }
wait_for 10 watch_text_saw_failure
kill -INT "$watch_json" "$watch_text"
wait "$watch_json"; status_json=$?
wait "$watch_text"; status_text=$?
[ "$status_json" -eq 0 ] && [ "$status_text" -eq 0 ] && pass "watch exits 0 on Ctrl+C" || fail "watch exit $status_json/$status_text"
events=$(grep "\"task_id\":\"$watched\"" "$tmp/watch-json" | grep -o '"type":"[a-z_]*"' | grep -v task_progress | cut -d'"' -f4 | tr '\n' ' ')
if [ "$events" = "task_scheduled task_started task_completed " ]; then pass "watch --json: one line per event, in order"; else
  fail "watch --json events: $events"; sed 's/^/#   /' "$tmp/watch-json"; fi
contains "$(cat "$tmp/watch-json")" "\"name\":\"watched\"" "watch --json has the name"
events=$(grep "$watched" "$tmp/watch-text" | awk '{ print $2 }' | grep -v task_progress | tr '\n' ' ')
if [ "$events" = "task_scheduled task_started task_completed " ]; then pass "watch: one line per event, in order"; else
  fail "watch events: $events"; sed 's/^/#   /' "$tmp/watch-text"; fi
contains "$(cat "$tmp/watch-json")" '{"type":"queue_paused"}' "watch --json shows queue_paused"
contains "$(cat "$tmp/watch-json")" '{"type":"queue_resumed"}' "watch --json shows queue_resumed"
contains "$(grep "$retried" "$tmp/watch-json")" '"type":"task_retrying","task_id":"'"$retried"'","attempt":1' "watch --json shows task_retrying"
events=$(grep "\"task_id\":\"$retried\"" "$tmp/watch-json" | grep -o '"type":"[a-z_]*"' | grep -v task_progress | cut -d'"' -f4 | tr '\n' ' ')
if [ "$events" = "task_scheduled task_started task_retrying task_started task_failed " ]; then pass "watch --json: a retry in order"; else
  fail "watch --json retry events: $events"; fi
contains "$(cat "$tmp/watch-text")" "task_retrying" "watch shows task_retrying"
contains "$(cat "$tmp/watch-text")" "queue_paused" "watch shows queue_paused"
# a line ends with its last word: queue events have no id and no text after them
if grep -q ' $' "$tmp/watch-text"; then fail "watch lines end in blanks"; grep ' $' "$tmp/watch-text" | sed 's/^/#   /;s/$/|/'
else pass "watch lines end without blanks"; fi
# one event, one line, whatever a task's name holds
if grep -q '^99:99:99' "$tmp/watch-text"; then fail "watch: a name's line feed made a line of its own"
else pass "watch: every line is one event"; fi
contains "$(cat "$tmp/watch-text")" 'wait “two\u000a99:99:99  task_completed  spoofed”' "watch keeps a name with a line feed on its line"
for queue in queue_paused queue_resumed; do
  grep -Eq "^[0-9:]{8}  $queue\$" "$tmp/watch-text" && pass "watch: the $queue line" || fail "watch: no line “HH:MM:SS  $queue”"
done

echo "# enginectl: watch --since"
last_seq () {
  gdbus call --session --dest "$NAME" --object-path /io/github/enginemanager/EngineManager \
    --method org.freedesktop.DBus.Properties.Get io.github.enginemanager.EngineManager1 LastEventSeq | grep -o '[0-9]*' | tail -1
}
seq_before=$(last_seq)
[[ "$seq_before" =~ ^[0-9]+$ ]] && [ "$seq_before" -gt 0 ] && pass "LastEventSeq is $seq_before" || fail "LastEventSeq: $seq_before"
"$ENGINECTL" watch --since "$seq_before" --json >"$tmp/since-live" 2>"$tmp/since-live-err" &
since_pid=$!
background+=("$since_pid")
wait_for 10 grep -q Watching "$tmp/since-live-err" || fail "watch --since did not start"
"$ENGINECTL" wait "$("$ENGINECTL" schedule wait --name "$two_lines" duration=1)" >/dev/null
logged=$("$ENGINECTL" schedule wait --name logged duration=100)
"$ENGINECTL" wait "$logged" >/dev/null
wait_for 10 grep -q "\"task_completed\",\"task_id\":\"$logged\"" "$tmp/since-live" || true
# the last event is the task's completion; the property follows within 100 ms
seq_after=$(grep "\"task_completed\",\"task_id\":\"$logged\"" "$tmp/since-live" | grep -o '"seq":[0-9]*' | cut -d: -f2)
last_seq_is () { [ "$(last_seq)" = "$1" ]; }
wait_for 5 last_seq_is "$seq_after" && pass "LastEventSeq reaches $seq_after" ||
  fail "LastEventSeq is $(last_seq), the last event $seq_after"
# the same events again, this time all from the log
timeout 3 "$ENGINECTL" watch --since "$seq_before" --json >"$tmp/since-log" 2>/dev/null
kill -INT "$since_pid"; wait "$since_pid"
status=$?
[ "$status" -eq 0 ] && pass "watch --since exits 0 on Ctrl+C" || fail "watch --since exit $status"
for file in since-live since-log; do
  seqs=$(grep -o '"seq":[0-9]*' "$tmp/$file" | cut -d: -f2 | tr '\n' ' ')
  want=$(seq $((seq_before + 1)) "$seq_after" | tr '\n' ' ')
  if [ -n "$want" ] && [ "$seqs" = "$want" ]; then pass "$file: every seq after $seq_before once, in order"; else
    fail "$file: seqs “$seqs”, expected “$want”"; fi
  types=$(grep "\"task_id\":\"$logged\"" "$tmp/$file" | grep -o '"type":"[a-z_]*"' | grep -v task_progress | cut -d'"' -f4 | tr '\n' ' ')
  [ "$types" = "task_scheduled task_started task_completed " ] && pass "$file: the task's events" || fail "$file: $types"
done
contains "$(cat "$tmp/since-log")" '"timestamp":"' "watch --since has timestamps"
# Ctrl+C once it says it is watching: the catch-up can take a while on a loaded machine
"$ENGINECTL" watch --since "$seq_before" >"$tmp/since-text" 2>"$tmp/since-text-err" &
text_pid=$!
background+=("$text_pid")
wait_for 20 grep -q Watching "$tmp/since-text-err" || fail "watch --since as text did not start"
kill -INT "$text_pid"; wait "$text_pid"
status=$?
[ "$status" -eq 0 ] && pass "watch --since as text exits 0 on Ctrl+C" ||
  { fail "watch --since as text: exit $status"; sed 's/^/#   /' "$tmp/since-text" "$tmp/since-text-err"; }
out=$(cat "$tmp/since-text")
contains "$out" "$((seq_before + 1)) " "text lines start with the seq"
if grep -q '^99:99:99' "$tmp/since-text"; then fail "watch --since: a name's line feed made a line of its own"
else pass "watch --since: every line is one event"; fi
contains "$out" "$logged" "text lines name the task"
expect 2 "watch --since with a bad seq" "$ENGINECTL" watch --since soon
# a seq the service never reached would hide every event up to it: refused, as /ws?since= is
expect 1 "watch --since ahead of the last event" timeout 10 "$ENGINECTL" watch --since $((seq_after + 1000))
contains "$err" "$((seq_after + 1000)) is ahead of the last recorded event" "watch --since ahead says why"
# Ctrl+C before it says it is watching (the service not answering yet, or the
# catch-up under way) ends it as after: 0 at once, not death by SIGINT. A
# terminal's Ctrl+C finds SIGINT at its default, which a script's & ignores
interrupted_early () {
  local what=$1 pid status
  shift
  kill -STOP "$daemon_pid"
  env --default-signal=INT "$ENGINECTL" "$@" >"$tmp/early-out" 2>"$tmp/early-err" &
  pid=$!
  wait_for 20 catches_sigint "$pid" || fail "$what: no SIGINT handler after 20 s"
  kill -INT "$pid"
  # it ends while the service is still frozen: nothing it waits for can come
  wait_for 5 bash -c "! kill -0 $pid" || fail "$what: still running 5 s after Ctrl+C"
  kill -CONT "$daemon_pid"
  wait "$pid"
  status=$?
  [ "$status" -eq 0 ] && pass "$what interrupted before watching (exit 0)" ||
    { fail "$what interrupted before watching: exit $status"; sed 's/^/#   /' "$tmp/early-out" "$tmp/early-err"; }
}
interrupted_early "watch --since" watch --since "$seq_before"
interrupted_early "watch --since 0 --json" watch --since 0 --json
interrupted_early "watch" watch

echo "# the README's ObjectManager example"
if /usr/bin/python3 -c 'import gi' 2>/dev/null; then
  awk '/<!-- section:dbus -->/ { inside = 1 } /<!-- end:dbus -->/ { inside = 0 }
       inside && /^```/ { code = ($0 == "```python"); next } inside && code { print }' "$README" >"$tmp/follow.py"
  # the example lists the tasks there are once it follows the manager
  marker=$("$ENGINECTL" schedule wait --name "follow marker" duration=60000)
  timeout 60 /usr/bin/python3 -u "$tmp/follow.py" >"$tmp/follow" 2>&1 &
  follow_pid=$!
  background+=("$follow_pid")
  wait_for 30 grep -q "$marker" "$tmp/follow" || fail "the example does not list a task after 30 s"
  "$ENGINECTL" cancel "$marker" >/dev/null
  followed=$("$ENGINECTL" schedule wait --name followed duration=200)
  "$ENGINECTL" wait "$followed" >/dev/null
  wait_for 10 grep -q "gone .*${followed//-/_}" "$tmp/follow" || true
  kill "$follow_pid" 2>/dev/null
  follow=$(cat "$tmp/follow")
  contains "$follow" "$followed pending" "example sees the task appear"
  contains "$follow" "$followed completed" "example sees it complete"
  contains "$follow" "gone /io/github/enginemanager/EngineManager/tasks/${followed//-/_}" "example sees it go"
  case "$follow" in *Traceback*) fail "example raised: $follow" ;; esac
else
  echo "# skipped: no python3-gi"
fi

echo "# bash completion"
# completions LINE: what the completion offers with the cursor at the end of LINE,
# sorted, on one line; the words split as readline splits them, at blanks and
# at COMP_WORDBREAKS' = and :, each of which is a word of its own
completions () {
  bash --norc --noprofile -c '
    set -f
    . /usr/share/bash-completion/bash_completion
    . "$1"
    COMP_LINE=$2 COMP_POINT=${#2}
    COMP_WORDS=() word=
    for ((at = 0; at < ${#2}; at++)); do
      c=${2:at:1}
      case $c in
        " ") [ -n "$word" ] && COMP_WORDS+=("$word"); word= ;;
        "=" | ":") [ -n "$word" ] && COMP_WORDS+=("$word"); COMP_WORDS+=("$c"); word= ;;
        *) word+=$c ;;
      esac
    done
    case $2 in *"="|*":") ;; *) COMP_WORDS+=("$word") ;; esac
    COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
    _enginectl enginectl "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD - 1]}" 2>/dev/null
    ((${#COMPREPLY[@]} > 0)) && printf "%s\n" "${COMPREPLY[@]}" | sort | tr "\n" " "
  ' completions "$ENGINECTL_COMPLETION" "$1"
}
offers () {
  local got
  got=$(completions "$1")
  if [ "$got" = "$2" ]; then pass "completing “$1” offers “$2”"; else fail "completing “$1” offers “$got”, expected “$2”"; fi
}
if [ -f /usr/share/bash-completion/bash_completion ]; then
  offers "enginectl li" "list "
  offers "enginectl list --status " "cancelled completed failed pending running "
  offers "enginectl list --status=" "cancelled completed failed pending running "
  offers "enginectl list --status=fa" "failed "
  offers "enginectl list --status=failed,ca" "failed,cancelled "
  # a word after --status=VALUE is no value of it
  offers "enginectl list --status=pending --j" "--json "
  offers "enginectl list --status=pending p" ""
  offers "enginectl list --action=move" "move_stage "
  offers "enginectl list -a move" "move_stage "
  # a flag's values only where the command has the flag
  offers "enginectl schedule --action " ""
  offers "enginectl schedule -a move" ""
  offers "enginectl get --status " ""
  offers "enginectl list --option " ""
  offers "enginectl list --depends-on " ""
  offers "enginectl watch -s " ""
  offers "enginectl schedule -o max" "max_retries= "
  offers "enginectl list --json=" ""
  offers "enginectl schedule --name=snap capt" "capture_image "
  offers "enginectl schedule --name snap capture_image " ""
  offers "enginectl schedule --option=max" "max_retries= "
  offers "enginectl watch --since=" ""
  offers "enginectl --version " ""
  # the help options enginectl takes, all of them
  offers "enginectl --h" "--help --help-all "
  offers "enginectl -" "--help --help-all --version -? -h "
  offers "enginectl -?" "-? "
  offers "enginectl help wa" "wait watch "
  offers "enginectl help wait " ""
  # task ids from the service that runs
  active=$("$ENGINECTL" schedule wait --name active duration=60000)
  offers "enginectl get ${active:0:20}" "$active "
  offers "enginectl cancel ${active:0:20}" "$active "
  offers "enginectl wait ${active:0:20}" "$active "
  offers "enginectl wait --ret" "--return-timeout "
  offers "enginectl wait --return-timeout " ""
  # --help takes one command, as help does, and no option: an option goes after the command
  offers "enginectl --help wa" "wait watch "
  offers "enginectl -h wa" "wait watch "
  offers "enginectl --help-all wa" "wait watch "
  offers "enginectl --help-all wait " ""
  offers "enginectl --help --" ""
  offers "enginectl --help wait ${active:0:20}" ""
  offers "enginectl --bogus " ""
  # a finished task cannot be cancelled or waited for any more
  offers "enginectl cancel ${long:0:20}" ""
  offers "enginectl wait ${quick:0:20}" ""
  "$ENGINECTL" cancel "$active" >/dev/null
  offers "enginectl schedule wait --depends-on=${active:0:20}" "$active "
  # only the 100 tasks created last are offered: the history may be long
  items=$(for ((n = 0; n < 100; n++)); do printf '{"name": "recent", "action": "wait", "parameters": {"duration": 0}},'; done)
  recent=$(echo "[${items%,}]" | "$ENGINECTL" batch - | tail -n 1)
  "$ENGINECTL" wait "$recent" >/dev/null
  offers "enginectl get ${recent:0:20}" "$recent "
  offers "enginectl get ${quick:0:20}" ""
  offers "enginectl schedule wait --depends-on=${recent:0:20}" "$recent "
  offers "enginectl schedule wait --depends-on=${quick:0:20}" ""
else
  echo "# skipped: no bash-completion"
fi

echo "# the service gone"
kill "$daemon_pid"
wait "$daemon_pid"
status=$?
daemon_pid=
[ "$status" -eq 0 ] && pass "engine-manager exits 0 on SIGTERM" || fail "engine-manager exit $status on SIGTERM"
expect 1 "list without a service" "$ENGINECTL" list
contains "$err" "not running" "missing service is explained"
expect 3 "wait without a service" "$ENGINECTL" wait "$quick"

echo "# HttpAddress names the REST side"
"$ENGINE_MANAGER" --bus session --http-address 127.0.0.1 --http-port 0 --data-dir "$tmp/data" 2>/dev/null &
daemon_pid=$!
gdbus wait --session --timeout 20 "$NAME" || fail "engine-manager with HTTP did not take $NAME"

echo "# history after a restart on the same data directory"
expect 0 "get a task of the previous run" "$ENGINECTL" get "$quick"
contains "$out" "completed" "the task is still completed"
expect 0 "list the previous run's failures" "$ENGINECTL" list --status failed
contains "$out" "$failing" "history lists the previous run"
[ "$(last_seq)" -ge "$seq_after" ] && pass "seqs continue after a restart" || fail "LastEventSeq went back: $(last_seq) < $seq_after"
timeout 3 "$ENGINECTL" watch --since "$seq_before" --json >"$tmp/since-restart" 2>/dev/null
contains "$(cat "$tmp/since-restart")" "\"task_completed\",\"task_id\":\"$logged\"" "watch --since reaches back across the restart"
expect 0 "HttpAddress property" gdbus call --session --dest "$NAME" --object-path /io/github/enginemanager/EngineManager \
  --method org.freedesktop.DBus.Properties.Get io.github.enginemanager.EngineManager1 HttpAddress
if [[ "$out" =~ \<\'http://127\.0\.0\.1:[1-9][0-9]*\'\> ]]; then pass "HttpAddress is the REST base URL: $out"; else fail "HttpAddress: $out"; fi

echo "# watch --since told of what a restart pruned before it could read it"
"$ENGINECTL" watch --since "$(last_seq)" --json >"$tmp/since-pruned" 2>"$tmp/since-pruned-err" &
behind_pid=$!
background+=("$behind_pid")
wait_for 10 grep -q Watching "$tmp/since-pruned-err" || fail "watch --since (behind) did not start"
# it reads nothing while two tasks come and go, and the next start keeps one row
kill -STOP "$behind_pid"
pruned=$("$ENGINECTL" schedule wait --name pruned duration=0)
"$ENGINECTL" wait "$pruned" >/dev/null
kept=$("$ENGINECTL" schedule wait --name kept duration=0)
"$ENGINECTL" wait "$kept" >/dev/null
kill "$daemon_pid"
wait "$daemon_pid"
"$ENGINE_MANAGER" --bus session --no-http --data-dir "$tmp/data" --retention-max-tasks 1 2>/dev/null &
daemon_pid=$!
gdbus wait --session --timeout 20 "$NAME" || fail "engine-manager with retention did not take $NAME"
kill -CONT "$behind_pid"
wait_for 10 grep -q "\"task_completed\",\"task_id\":\"$kept\"" "$tmp/since-pruned" ||
  fail "watch --since did not go on after the restart"
kill -INT "$behind_pid"; wait "$behind_pid"
behind=$(cat "$tmp/since-pruned")
case "$behind" in *"\"task_id\":\"$pruned\""*) fail "the pruned task's events were still read" ;; esac
contains "$behind" '{"type":"resync_required","oldest_seq":' "watch --since says the events it missed are gone"
timeout 3 "$ENGINECTL" watch --since 0 --json >"$tmp/since-zero" 2>/dev/null
case "$(head -n 1 "$tmp/since-zero")" in
  '{"type":"resync_required","oldest_seq":'*) pass "watch --since 0 first says the log no longer starts at 1" ;;
  *) fail "watch --since 0 over a pruned log began with: $(head -n 1 "$tmp/since-zero")" ;;
esac

echo "# --max-pending without HTTP"
# the engine's limit, so D-Bus meets it whether REST is served or not
kill "$daemon_pid"
wait "$daemon_pid"
"$ENGINE_MANAGER" --bus session --no-http --data-dir "$tmp/full" --max-pending 1 2>/dev/null &
daemon_pid=$!
gdbus wait --session --timeout 20 "$NAME" || fail "engine-manager with --max-pending did not take $NAME"
"$ENGINECTL" pause >/dev/null
expect 0 "the one pending task --max-pending 1 allows" "$ENGINECTL" schedule wait duration=0
expect 1 "a second pending task past --max-pending 1" "$ENGINECTL" schedule wait duration=0
contains "$err" "the queue is full" "the refusal says the queue is full"
"$ENGINECTL" resume >/dev/null

echo "# wait goes on across a restart of the service"
# the store keeps the task, so a restart is no reason to give up on it
kill "$daemon_pid"
wait "$daemon_pid"
"$ENGINE_MANAGER" --bus session --no-http --data-dir "$tmp/restart" 2>/dev/null &
daemon_pid=$!
gdbus wait --session --timeout 20 "$NAME" || fail "engine-manager did not take $NAME"
"$ENGINECTL" pause >/dev/null
across=$("$ENGINECTL" schedule wait --name across duration=0)
"$ENGINECTL" wait "$across" >"$tmp/across-out" 2>"$tmp/across-err" &
waiter=$!
background+=("$waiter")
# time to ask for the task: one that never knew it gives up as before
sleep 1
kill "$daemon_pid"
wait "$daemon_pid"
wait_for 10 grep -q "left the bus" "$tmp/across-err" || fail "wait did not say the service left"
"$ENGINE_MANAGER" --bus session --no-http --data-dir "$tmp/restart" 2>/dev/null &
daemon_pid=$!
gdbus wait --session --timeout 20 "$NAME" || fail "engine-manager did not take $NAME again"
"$ENGINECTL" resume >/dev/null
wait_for 20 bash -c "! kill -0 $waiter" || fail "wait did not end after the restart"
wait "$waiter"
status=$?
[ "$status" -eq 0 ] && pass "wait across a restart exits 0 when the task completes" ||
  { fail "wait across a restart: exit $status"; sed 's/^/#   /' "$tmp/across-out" "$tmp/across-err"; }
contains "$(cat "$tmp/across-out")" "Task $across completed" "wait across a restart reports the outcome"
contains "$(cat "$tmp/across-err")" "back on the bus" "wait says the service is back"

echo "# wait gives up when the service stays away"
"$ENGINECTL" pause >/dev/null
stranded=$("$ENGINECTL" schedule wait --name stranded duration=0)
"${german[@]}" "$ENGINECTL" wait --return-timeout 1.5 "$stranded" >/dev/null 2>"$tmp/away-err" &
waiter=$!
background+=("$waiter")
sleep 1
kill "$daemon_pid"
wait "$daemon_pid"
daemon_pid=
wait_for 10 bash -c "! kill -0 $waiter" || fail "wait --return-timeout 1 still runs 10 s after the service left"
wait "$waiter"
status=$?
[ "$status" -eq 3 ] && pass "wait exits 3 once --return-timeout passes" || fail "wait --return-timeout 1.5: exit $status"
# in German: the number as given, not 1,5
contains "$(cat "$tmp/away-err")" " 1.5 " "wait says how long it waited for the service, as given"
expect 3 "wait with a bad --return-timeout" "$ENGINECTL" wait --return-timeout soon "$stranded"
contains "$err" "--return-timeout" "the message names --return-timeout"
expect 3 "wait with a negative --return-timeout" "$ENGINECTL" wait --return-timeout -1 "$stranded"
expect 3 "wait with --return-timeout +5" "$ENGINECTL" wait --return-timeout +5 "$stranded"
contains "$err" "--return-timeout" "--return-timeout +5 is refused by name"

echo "# wait ends when the task did not survive the restart"
"$ENGINE_MANAGER" --bus session --no-http --in-memory 2>/dev/null &
daemon_pid=$!
gdbus wait --session --timeout 20 "$NAME" || fail "engine-manager --in-memory did not take $NAME"
"$ENGINECTL" pause >/dev/null
lost=$("$ENGINECTL" schedule wait --name lost duration=0)
"$ENGINECTL" wait "$lost" >/dev/null 2>"$tmp/lost-err" &
waiter=$!
background+=("$waiter")
sleep 1
# a clean stop would cancel it first: without a store nothing is kept
kill -KILL "$daemon_pid"
wait "$daemon_pid"
"$ENGINE_MANAGER" --bus session --no-http --in-memory 2>/dev/null &
daemon_pid=$!
gdbus wait --session --timeout 20 "$NAME" || fail "engine-manager --in-memory did not take $NAME again"
wait_for 10 bash -c "! kill -0 $waiter" || fail "wait for a task gone with the restart still runs"
wait "$waiter"
status=$?
[ "$status" -eq 3 ] && pass "wait exits 3 when the task is gone after a restart" ||
  fail "wait for a task gone with the restart: exit $status"
contains "$(cat "$tmp/lost-err")" "no task with id “$lost”" "the message names the task that is gone"

echo "# watch --since told of a service back with a log that starts over"
kill "$daemon_pid"
wait "$daemon_pid"
"$ENGINE_MANAGER" --bus session --no-http --in-memory 2>/dev/null &
daemon_pid=$!
gdbus wait --session --timeout 20 "$NAME" || fail "engine-manager --in-memory did not take $NAME"
first=$("$ENGINECTL" schedule wait --name first duration=0)
"$ENGINECTL" wait "$first" >/dev/null
"$ENGINECTL" watch --since 0 --json >"$tmp/since-over" 2>"$tmp/since-over-err" &
over_pid=$!
background+=("$over_pid")
wait_for 10 grep -q "\"task_completed\",\"task_id\":\"$first\"" "$tmp/since-over" || fail "watch --since 0 did not read the log"
# a log kept in memory starts at seq 1 again: reading on after the old seqs hid every event
kill "$daemon_pid"
wait "$daemon_pid"
"$ENGINE_MANAGER" --bus session --no-http --in-memory 2>/dev/null &
daemon_pid=$!
gdbus wait --session --timeout 20 "$NAME" || fail "engine-manager --in-memory did not take $NAME again"
wait_for 10 grep -q resync_required "$tmp/since-over" || fail "watch --since did not see the log start over"
over_log=$(gdbus call --session --dest "$NAME" --object-path /io/github/enginemanager/EngineManager \
  --method org.freedesktop.DBus.Properties.Get io.github.enginemanager.EngineManager1 EventLogId | cut -d"'" -f2)
second=$("$ENGINECTL" schedule wait --name second duration=0)
"$ENGINECTL" wait "$second" >/dev/null
wait_for 10 grep -q "\"task_completed\",\"task_id\":\"$second\"" "$tmp/since-over" ||
  fail "watch --since printed nothing of the new log"
kill -INT "$over_pid"; wait "$over_pid"
over=$(cat "$tmp/since-over")
contains "$over" $'}\n{"type":"resync_required","oldest_seq":1,"log_id":"'"$over_log"$'"}\n{"type":"task_scheduled","task_id":"'"$second" \
  "watch --since says the log started over, then follows it"
contains "$(cat "$tmp/since-over-err")" "event log is now $over_log" "watch --since says why on stderr"

echo "# watch --since tells another log by its id, even one already past the seq"
# the watcher is stopped while the service restarts and the new log runs past
# the seq it printed last: by seqs alone, the new log looks like its own going on
"$ENGINECTL" watch --since 0 --json >"$tmp/since-past" 2>"$tmp/since-past-err" &
past_pid=$!
background+=("$past_pid")
wait_for 10 grep -q "\"task_completed\",\"task_id\":\"$second\"" "$tmp/since-past" ||
  fail "watch --since 0 did not read the log"
wait_for 10 grep -q Watching "$tmp/since-past-err" || fail "watch --since 0 did not start watching"
contains "$(cat "$tmp/since-past-err")" "of event log $over_log" "watch --since names the log it watches"
kill -STOP "$past_pid"
kill "$daemon_pid"
wait "$daemon_pid"
"$ENGINE_MANAGER" --bus session --no-http --in-memory 2>/dev/null &
daemon_pid=$!
gdbus wait --session --timeout 20 "$NAME" || fail "engine-manager --in-memory did not take $NAME again"
past_log=$(gdbus call --session --dest "$NAME" --object-path /io/github/enginemanager/EngineManager \
  --method org.freedesktop.DBus.Properties.Get io.github.enginemanager.EngineManager1 EventLogId | cut -d"'" -f2)
[ -n "$past_log" ] && [ "$past_log" != "$over_log" ] && pass "an --in-memory restart has another EventLogId" ||
  fail "EventLogId across an --in-memory restart: $over_log, then $past_log"
past=()
for i in 1 2 3; do
  past+=("$("$ENGINECTL" schedule wait --name "past-$i" duration=0)")
  "$ENGINECTL" wait "${past[-1]}" >/dev/null
done
kill -CONT "$past_pid"
wait_for 10 grep -q "\"task_completed\",\"task_id\":\"${past[2]}\"" "$tmp/since-past" ||
  fail "watch --since printed nothing of the new log"
kill -INT "$past_pid"; wait "$past_pid"
contains "$(cat "$tmp/since-past")" \
  $'}\n{"type":"resync_required","oldest_seq":1,"log_id":"'"$past_log"$'"}\n{"type":"task_scheduled","task_id":"'"${past[0]}" \
  "watch --since follows another log from its start, though it is past the last seq printed"

# a seq kept from an earlier watch, with its log: another log is read from its start
# watch_until_read NAME ARGS…: a watch --since, stopped once it has read up to now
watch_until_read () {
  local name=$1 pid status
  shift
  "$ENGINECTL" watch "$@" >"$tmp/$name" 2>"$tmp/$name-err" &
  pid=$!
  background+=("$pid")
  wait_for 10 grep -q Watching "$tmp/$name-err" || fail "watch $* did not start watching"
  kill -INT "$pid"; wait "$pid"
  status=$?
  [ "$status" -eq 0 ] && pass "watch $* exits 0 on Ctrl+C" || fail "watch $*: exit $status"
  out=$(cat "$tmp/$name")
}
watch_until_read log-other --since 2 --log "$over_log" --json
contains "$out" '{"type":"resync_required","oldest_seq":1,"log_id":"'"$past_log"$'"}\n{"type":"task_scheduled","task_id":"'"${past[0]}" \
  "watch --since --log with another log's seq starts from the current log's oldest event"
watch_until_read log-same --since 3 --log "$past_log" --json
case "$(head -n 1 <<<"$out")" in
  *'"seq":4}') pass "watch --since --log with the current log resumes after SEQ" ;;
  *) fail "watch --since 3 --log <its log> printed: $out" ;;
esac
expect 2 "watch --log without --since" "$ENGINECTL" watch --log "$past_log"
contains "$err" "give --since too" "watch --log without --since says why"
# no log has an empty id: /ws?since=SEQ&log= answers 400, and so is this bad usage
expect 2 "watch --since 0 --log=" timeout 10 "$ENGINECTL" watch --since 0 --log=
contains "$err" "--log takes an event log id, 16 hex digits" "watch --log= says why"
expect 2 "watch --since 0 --log ''" timeout 10 "$ENGINECTL" watch --since 0 --log ''
# nor one in another form than the service gives (a typo, one cut short, in capitals):
# it could never match and would read the whole log again
for log in "${past_log:0:15}" "${past_log}0" "${past_log:0:15}F" "log-$past_log" "0x${past_log:2}"; do
  expect 2 "watch --since 0 --log $log" timeout 10 "$ENGINECTL" watch --since 0 --log "$log"
  contains "$err" "--log takes an event log id, 16 hex digits (0-9, a-f) as the Watching line or EventLogId gives it, not “$log”" \
    "watch --log $log names the expected form"
done

echo "# watch --since tells a database restored from a backup"
# the backup keeps its log's id; the restored log goes on from an older seq
# than the watcher's, so by the time it is back it is past it
kill "$daemon_pid"
wait "$daemon_pid"
"$ENGINE_MANAGER" --bus session --no-http --data-dir "$tmp/restored" 2>/dev/null &
daemon_pid=$!
gdbus wait --session --timeout 20 "$NAME" || fail "engine-manager did not take $NAME"
kept=$("$ENGINECTL" schedule wait --name kept duration=0)
"$ENGINECTL" wait "$kept" >/dev/null
kill "$daemon_pid"
wait "$daemon_pid"
cp -a "$tmp/restored" "$tmp/backup"
"$ENGINE_MANAGER" --bus session --no-http --data-dir "$tmp/restored" 2>/dev/null &
daemon_pid=$!
gdbus wait --session --timeout 20 "$NAME" || fail "engine-manager did not take $NAME again"
backup_log=$(gdbus call --session --dest "$NAME" --object-path /io/github/enginemanager/EngineManager \
  --method org.freedesktop.DBus.Properties.Get io.github.enginemanager.EngineManager1 EventLogId | cut -d"'" -f2)
"$ENGINECTL" watch --since 0 --json >"$tmp/since-restored" 2>"$tmp/since-restored-err" &
restored_pid=$!
background+=("$restored_pid")
for name in dropped-1 dropped-2; do
  dropped=$("$ENGINECTL" schedule wait --name "$name" duration=0)
  "$ENGINECTL" wait "$dropped" >/dev/null
done
wait_for 10 grep -q "\"task_completed\",\"task_id\":\"$dropped\"" "$tmp/since-restored" ||
  fail "watch --since 0 did not read the log"
kill -STOP "$restored_pid"
kill "$daemon_pid"
wait "$daemon_pid"
rm -rf "$tmp/restored"
cp -a "$tmp/backup" "$tmp/restored"
"$ENGINE_MANAGER" --bus session --no-http --data-dir "$tmp/restored" 2>/dev/null &
daemon_pid=$!
gdbus wait --session --timeout 20 "$NAME" || fail "engine-manager on the restored backup did not take $NAME"
again=()
for i in 1 2 3 4; do
  again+=("$("$ENGINECTL" schedule wait --name "again-$i" duration=0)")
  "$ENGINECTL" wait "${again[-1]}" >/dev/null
done
kill -CONT "$restored_pid"
wait_for 10 grep -q "\"task_completed\",\"task_id\":\"${again[3]}\"" "$tmp/since-restored" ||
  fail "watch --since printed nothing of the restored log"
kill -INT "$restored_pid"; wait "$restored_pid"
contains "$(cat "$tmp/since-restored")" \
  $'}\n{"type":"resync_required","oldest_seq":1,"log_id":"'"$backup_log"$'"}\n{"type":"task_scheduled","task_id":"'"$kept" \
  "watch --since reads a restored backup from its start, though it has the same id and is past the seq"
contains "$(cat "$tmp/since-restored-err")" "is another event than the one printed" \
  "watch --since says why on stderr"

echo "# watch --since tells a restored backup that ends before its seq"
# the same id, but GetEvents refuses the watcher's seq as beyond the log:
# the watcher takes that for a log that ends before it, not for a failure
kill "$daemon_pid"
wait "$daemon_pid"
rm -rf "$tmp/backup"
cp -a "$tmp/restored" "$tmp/backup"
"$ENGINE_MANAGER" --bus session --no-http --data-dir "$tmp/restored" 2>/dev/null &
daemon_pid=$!
gdbus wait --session --timeout 20 "$NAME" || fail "engine-manager did not take $NAME"
"$ENGINECTL" watch --since 0 --json >"$tmp/since-short" 2>"$tmp/since-short-err" &
short_pid=$!
background+=("$short_pid")
for name in lost-1 lost-2; do
  lost=$("$ENGINECTL" schedule wait --name "$name" duration=0)
  "$ENGINECTL" wait "$lost" >/dev/null
done
wait_for 10 grep -q "\"task_completed\",\"task_id\":\"$lost\"" "$tmp/since-short" ||
  fail "watch --since 0 did not read the log"
kill -STOP "$short_pid"
kill "$daemon_pid"
wait "$daemon_pid"
rm -rf "$tmp/restored"
cp -a "$tmp/backup" "$tmp/restored"
"$ENGINE_MANAGER" --bus session --no-http --data-dir "$tmp/restored" 2>/dev/null &
daemon_pid=$!
gdbus wait --session --timeout 20 "$NAME" || fail "engine-manager on the restored backup did not take $NAME"
kill -CONT "$short_pid"
wait_for 10 grep -q "ends before seq" "$tmp/since-short-err" ||
  fail "watch --since did not tell a log that ends before its seq"
after=$("$ENGINECTL" schedule wait --name after-restore duration=0)
"$ENGINECTL" wait "$after" >/dev/null
wait_for 10 grep -q "\"task_completed\",\"task_id\":\"$after\"" "$tmp/since-short" ||
  fail "watch --since printed nothing of the shorter log"
kill -INT "$short_pid"; wait "$short_pid"
status=$?
[ "$status" -eq 0 ] && pass "watch --since follows a log that ends before its seq" ||
  { fail "watch --since on a shorter log: exit $status"; sed 's/^/#   /' "$tmp/since-short-err"; }
if grep -q "after_seq" "$tmp/since-short-err"; then
  fail "watch --since printed the refusal of its seq as an error"
else pass "watch --since does not print the refusal as an error"; fi

if [ "$failures" -gt 0 ]; then echo "# $failures failed"; exit 1; fi
echo "# all passed"
