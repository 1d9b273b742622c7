#!/usr/bin/env bash
# Idempotent set-up shared by scripts/proxy, scripts/audit and scripts/test: a project-local
# virtualenv with the Python dependencies (plus the optional groups named by --extras a,b), with
# --browser Debian's chromium, with --node Debian's nodejs and npm (the tests run Edgio's
# client and the HTTP Caching Tests from npm), and with --sites the real software the tests audit
# (tests/sites/): Debian's MediaWiki on SQLite with PHP's built-in server, Trac from PyPI in a
# virtualenv of its own, and a VitePress site from npm, built once. All of it is kept outside the
# repository in $PREFETCH_LAB_SITES (default ~/.cache/prefetch-lab/sites); a second run with
# nothing changed does nothing.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="$root/.venv"
browser="" node="" sites="" extras=""
while [ $# -gt 0 ]; do
  case "$1" in
    --browser) browser=1 ;;
    --node) node=1 ;;
    --sites) sites=1; node=1 ;;
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
# MediaWiki with SQLite, run by PHP's built-in server: php-cgi and micro-httpd (started by inetd
# only) stand in for the web server the package asks for, so no Apache is installed or started.
mediawiki_debs=(mediawiki php-sqlite3 php-cli php-cgi micro-httpd)
site_debian=()
if [ -n "$sites" ] && ! { [ -f /usr/share/mediawiki/maintenance/install.php ] && php -r 'exit(extension_loaded("pdo_sqlite") ? 0 : 1);' 2>/dev/null; }; then
  site_debian+=("${mediawiki_debs[@]}")
fi
if [ ${#debian[@]} -gt 0 ] || [ ${#site_debian[@]} -gt 0 ]; then
  echo "installing Debian's ${debian[*]} ${site_debian[*]}" >&2
  sudo_cmd=""; [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  if [ ${#debian[@]} -gt 0 ]; then
    DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq "${debian[@]}" >/dev/null
  fi
  if [ ${#site_debian[@]} -gt 0 ]; then
    # Without recommends: MediaWiki's would bring a MySQL server and ImageMagick.
    DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends "${site_debian[@]}" >/dev/null
  fi
fi

if [ -n "$sites" ]; then
  sites_dir="${PREFETCH_LAB_SITES:-$HOME/.cache/prefetch-lab/sites}"
  mkdir -p "$sites_dir"
  # Trac in its own virtualenv: its dependencies never mix with the project's.
  trac_version="1.6"
  if [ ! -e "$sites_dir/trac-venv/.trac-$trac_version" ]; then
    rm -rf "$sites_dir/trac-venv"
    python3 -m venv "$sites_dir/trac-venv"
    "$sites_dir/trac-venv/bin/pip" install -q --disable-pip-version-check "Trac==$trac_version" 2> >(grep -v "^WARNING: Location" >&2)
    touch "$sites_dir/trac-venv/.trac-$trac_version"
  fi
  # The VitePress site: sources in tests/sites/spa_site, built where its stamp (a hash of the
  # sources) says the build is of these sources.
  spa_src="$root/tests/sites/spa_site"
  spa_hash=$(cd "$spa_src" && find . -type f -print0 | sort -z | xargs -0 sha256sum | sha256sum | cut -c1-16)
  if [ ! -e "$sites_dir/spa/.built-$spa_hash" ]; then
    mkdir -p "$sites_dir/spa"
    rm -rf "$sites_dir/spa/docs" "$sites_dir/spa"/.built-*
    cp -r "$spa_src/." "$sites_dir/spa/"
    (cd "$sites_dir/spa" && npm ci --no-audit --no-fund --loglevel=error >/dev/null && npx --no-install vitepress build docs >/dev/null)
    touch "$sites_dir/spa/.built-$spa_hash"
  fi
  # MediaWiki: installed once by its own installer into a template folder (LocalSettings.php and
  # the SQLite files); each test server copies the data folder (tests/sites/mediawiki.py).
  wiki="$sites_dir/mediawiki"
  wiki_version=$(dpkg-query -W -f='${Version}' mediawiki 2>/dev/null || echo unknown)
  wiki_pages="$root/tests/sites/mediawiki_pages"
  wiki_hash=$( { echo "$wiki_version"; cat "$wiki_pages"/*; } | sha256sum | cut -c1-16)
  if [ ! -e "$wiki/.installed-$wiki_hash" ]; then
    rm -rf "$wiki"
    mkdir -p "$wiki/data"
    php /usr/share/mediawiki/maintenance/install.php --quiet --dbtype=sqlite --dbpath="$wiki/data" --dbname=labwiki \
      --server=http://127.0.0.1 --scriptpath= --confpath="$wiki" --pass=prefetch-lab-admin-password \
      "Lab Wiki" Admin >/dev/null
    # The server as the request names it (each test server has its own port), and the data
    # folder a test server gives (its own copy).
    sed -i 's|^\$wgSQLiteDataDir = \(.*\);$|$wgSQLiteDataDir = getenv( "PREFETCH_LAB_WIKI_DATA" ) ?: \1;|' "$wiki/LocalSettings.php"
    grep -q PREFETCH_LAB_WIKI_DATA "$wiki/LocalSettings.php"
    echo '$wgServer = WebRequest::detectServer();' >>"$wiki/LocalSettings.php"
    for page in "$wiki_pages"/*.wiki; do
      title=$(basename "$page" .wiki | tr _ ' ')
      MW_CONFIG_FILE="$wiki/LocalSettings.php" php /usr/share/mediawiki/maintenance/edit.php \
        --conf "$wiki/LocalSettings.php" -u Admin -s "test page" "$title" <"$page" >/dev/null
    done
    touch "$wiki/.installed-$wiki_hash"
  fi
fi
