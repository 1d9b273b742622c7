#!/usr/bin/env bash
# Idempotent set-up shared by scripts/proxy, scripts/audit and scripts/test: a project-local
# virtualenv with the Python dependencies (plus the optional groups named by --extras a,b), with
# --browser Debian's chromium, and with --node Debian's nodejs and npm (the tests run Edgio's
# client and the HTTP Caching Tests from npm).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="$root/.venv"
browser="" node="" extras=""
while [ $# -gt 0 ]; do
  case "$1" in
    --browser) browser=1 ;;
    --node) node=1 ;;
    --extras) extras="$2"; shift ;;
    *) echo "setup.sh: unknown argument $1" >&2; exit 2 ;;
  esac
  shift
done
stamp="$venv/.deps-$(cat "$root/pyproject.toml" <(echo "$extras") | sha256sum | cut -c1-16)"

if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
fi
if [ ! -e "$stamp" ]; then
  # Dependencies only: the code runs from addon/ (mitmproxy puts it on sys.path).
  deps=$("$venv/bin/python" - "$root/pyproject.toml" "$extras" <<'PY'
import sys, tomllib
p = tomllib.load(open(sys.argv[1], "rb"))["project"]
extras = [name for name in sys.argv[2].split(",") if name]
print("\n".join(p["dependencies"] + [d for name in extras for d in p["optional-dependencies"][name]]))
PY
)
  mapfile -t dep_list <<<"$deps"
  # (grep drops pip warnings about local index folders some machines configure)
  "$venv/bin/pip" install -q --disable-pip-version-check "${dep_list[@]}" 2> >(grep -v "^WARNING: Location" >&2)
  touch "$stamp"  # one stamp per (pyproject.toml, extras): switching scripts reinstalls nothing
fi

debian=()
if [ -n "$browser" ] && [ ! -x /usr/bin/chromium ]; then debian+=(chromium); fi
if [ -n "$node" ] && ! command -v node >/dev/null; then debian+=(nodejs); fi
if [ -n "$node" ] && ! command -v npm >/dev/null; then debian+=(npm); fi
if [ ${#debian[@]} -gt 0 ]; then
  echo "installing Debian's ${debian[*]}" >&2
  sudo_cmd=""; [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq "${debian[@]}" >/dev/null
fi
