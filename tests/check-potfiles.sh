#!/usr/bin/env bash
# Fails when a source file with translatable strings is missing from po/POTFILES,
# when POTFILES names a file that does not exist, or when a translatable string
# holds a GLib format macro, which xgettext cannot expand: the msgid would end
# at the macro and its translation never match.
set -euo pipefail
cd "${1:?usage: check-potfiles.sh SOURCE_ROOT}"

status=0
while IFS= read -r file; do
  if ! grep -qxF "$file" po/POTFILES; then
    echo "po/POTFILES is missing $file"
    status=1
  fi
done < <({ grep -rlE '\b(N?_|C_|NC_|g_dngettext|ngettext)\(' src --include='*.c'
           grep -rlE '\b_\(' data/dashboard --include='*.js'
           ls data/*.gschema.xml; } | sort)

while IFS= read -r file; do
  case "$file" in ''|'#'*) continue ;; esac
  if [ ! -f "$file" ]; then
    echo "po/POTFILES names $file, which does not exist"
    status=1
  fi
done < po/POTFILES

# _("… %" G_GUINT64_FORMAT …), the macro possibly on a later line
if grep -rnPzo '\b(N?_|C_|NC_)\(\s*("(?:[^"\\]|\\.)*"\s*)+G_\w+_FORMAT' src --include='*.c' \
     | tr '\0' '\n' | grep -n .; then
  echo "a translatable string above holds a G_*_FORMAT macro: use %llu or %lld with a cast"
  status=1
fi

exit $status
