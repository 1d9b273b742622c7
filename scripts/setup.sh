#!/usr/bin/env bash
# Idempotent set-up shared by scripts/proxy and scripts/test: a project-local
# virtualenv with the Python dependencies, plus (with --browser) Debian's chromium.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="$root/.venv"
stamp="$venv/.deps-$(sha256sum "$root/pyproject.toml" | cut -c1-16)"

if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
fi
if [ ! -e "$stamp" ]; then
  # Dependencies only: the code runs from addon/ (mitmproxy puts it on sys.path).
  deps=$("$venv/bin/python" - "$root/pyproject.toml" <<'PY'
import sys, tomllib
p = tomllib.load(open(sys.argv[1], "rb"))["project"]
print("\n".join(p["dependencies"] + p["optional-dependencies"]["test"]))
PY
)
  mapfile -t dep_list <<<"$deps"
  # (grep drops pip warnings about local index folders some machines configure)
  "$venv/bin/pip" install -q --disable-pip-version-check "${dep_list[@]}" 2> >(grep -v "^WARNING: Location" >&2)
  rm -f "$venv"/.deps-* && touch "$stamp"
fi

if [ "${1:-}" = "--browser" ] && [ ! -x /usr/bin/chromium ]; then
  echo "installing Debian's chromium for the browser tests" >&2
  sudo_cmd=""; [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq chromium >/dev/null
fi
