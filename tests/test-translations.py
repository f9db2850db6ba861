"""Translations: every catalogue in po/LINGUAS is complete for the current
sources and passes `msgfmt -c`, and the dashboard's JavaScript tables agree
with the catalogues."""

import json
import os
import re
import subprocess
import sys
import tempfile

SOURCE_ROOT = os.environ["SOURCE_ROOT"]
failures = []


def fail(message):
    failures.append(message)
    print("FAIL:", message)


def unquote(text):
    return json.loads(text)


def parse_po(path):
    """msgid → (msgstr, flags) of a catalogue, obsolete entries left out"""
    entries, msgid, msgstr, flags, field, others = {}, None, None, set(), None, []

    def flush():
        if msgid is not None:
            entries[msgid] = (msgstr if all(others) else "", flags)

    with open(path, encoding="utf-8") as po:
        for line in po:
            line = line.rstrip("\n")
            if line.startswith("#~"):
                continue
            if line.startswith("#,"):
                flags = {f.strip() for f in line[2:].split(",")}
            elif line.startswith("msgid "):
                flush()
                msgid, msgstr, field, others = unquote(line[6:]), None, "msgid", []
            elif line.startswith("msgid_plural "):
                field = "other"
            elif line.startswith("msgstr ") or line.startswith("msgstr[0] "):
                msgstr, field = unquote(line.split(" ", 1)[1]), "msgstr"
            elif line.startswith("msgstr["):
                # another plural form: kept apart, an empty one empties the entry
                others.append(unquote(line.split(" ", 1)[1]))
                field = "plural"
            elif line.startswith('"'):
                if field == "msgid":
                    msgid += unquote(line)
                elif field == "msgstr":
                    msgstr += unquote(line)
                elif field == "plural":
                    others[-1] += unquote(line)
            elif not line.strip():
                flush()
                msgid, msgstr, flags, field, others = None, None, set(), None, []
    flush()
    return entries


def current_msgids():
    """what xgettext finds in the files of po/POTFILES now"""
    with tempfile.TemporaryDirectory() as tmp:
        pot = os.path.join(tmp, "current.pot")
        with open(os.path.join(SOURCE_ROOT, "po", "POTFILES")) as f:
            files = [l.strip() for l in f if l.strip() and not l.startswith("#")]
        # the keywords of meson's glib preset
        subprocess.run(["xgettext", "--from-code=UTF-8", "--keyword=_", "--keyword=N_",
                        "--keyword=C_:1c,2", "--keyword=NC_:1c,2", "--keyword=g_dngettext:2,3",
                        "--add-comments", "-o", pot, *files],
                       cwd=SOURCE_ROOT, check=True, capture_output=True)
        return set(parse_po(pot)) - {""}


def js_tables():
    path = os.path.join(SOURCE_ROOT, "data", "dashboard", "i18n.js")
    text = open(path, encoding="utf-8").read()
    match = re.search(r"window\.EM_TRANSLATIONS\s*=\s*(\{.*\})\s*;", text, re.S)
    if not match:
        fail("data/dashboard/i18n.js does not define window.EM_TRANSLATIONS")
        return {}
    return json.loads(match.group(1))


def js_msgids():
    text = open(os.path.join(SOURCE_ROOT, "data", "dashboard", "app.js"), encoding="utf-8").read()
    return {unquote('"' + m.group(1).replace('"', '\\"') + '"')
            for m in re.finditer(r"\b_\('((?:[^'\\]|\\.)*)'\)", text)}


def main():
    with open(os.path.join(SOURCE_ROOT, "po", "LINGUAS")) as f:
        languages = [l.strip() for l in f if l.strip() and not l.startswith("#")]
    if "de" not in languages:
        fail("po/LINGUAS does not list de")

    wanted = current_msgids()
    marked_js = js_msgids()
    if not marked_js:
        fail("app.js marks no strings with _()")
    if not marked_js <= wanted:
        fail(f"xgettext does not see these strings of app.js: {sorted(marked_js - wanted)}")
    tables = js_tables()

    for language in languages:
        path = os.path.join(SOURCE_ROOT, "po", language + ".po")
        check = subprocess.run(["msgfmt", "-c", "--statistics", "-o", os.devnull, path],
                               capture_output=True, text=True)
        if check.returncode != 0:
            fail(f"msgfmt -c {language}.po: {check.stderr.strip()}")
        entries = parse_po(path)
        missing = sorted(wanted - set(entries))
        if missing:
            fail(f"{language}.po lacks {len(missing)} strings, e.g. {missing[:5]} "
                 "(meson compile engine-manager-update-po, then translate)")
        untranslated = sorted(m for m in wanted & set(entries)
                              if not entries[m][0] or "fuzzy" in entries[m][1])
        if untranslated:
            fail(f"{language}.po leaves {len(untranslated)} strings untranslated or fuzzy, "
                 f"e.g. {untranslated[:5]}")

        table = tables.get(language)
        if table is None:
            fail(f"data/dashboard/i18n.js has no table for {language}")
            continue
        for msgid in sorted(marked_js):
            if msgid not in table:
                fail(f"i18n.js[{language}] lacks “{msgid}”")
            elif msgid in entries and table[msgid] != entries[msgid][0]:
                fail(f"i18n.js[{language}][“{msgid}”] is “{table[msgid]}” "
                     f"but {language}.po says “{entries[msgid][0]}”")
        for msgid in sorted(set(table) - marked_js):
            fail(f"i18n.js[{language}] has “{msgid}”, which app.js no longer uses")

    if failures:
        print(f"0 passed, {len(failures)} failed")
        sys.exit(1)
    print(f"{len(languages)} passed, 0 failed")


if __name__ == "__main__":
    main()
