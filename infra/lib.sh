# Shared helpers for the infra scripts; source it, don't run it.
# shellcheck shell=bash

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export ROOT
STATE_DIR="$ROOT/.local"
mkdir -p "$STATE_DIR"

log() { printf '\033[1;34m==>\033[0m %s\n' "$*" >&2; }
die() { printf '\033[1;31merror:\033[0m %s\n' "$*" >&2; exit 1; }

# ensure_venv NAME: a virtualenv at .venv/NAME with infra/requirements/NAME.txt installed,
# reinstalled only when that file changes.
ensure_venv() {
  local name="$1" venv="$ROOT/.venv/$1" req="$ROOT/infra/requirements/$1.txt"
  local stamp="$venv/.requirements.sha256" want
  command -v python3 >/dev/null || die "python3 is required"
  want="$(sha256sum "$req" | cut -d' ' -f1)"
  if [ -x "$venv/bin/python" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then
    return 0
  fi
  log "installing Python tools into .venv/$name (first run only)"
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --disable-pip-version-check --no-cache-dir -q --upgrade pip >/dev/null
  "$venv/bin/pip" install --disable-pip-version-check --no-cache-dir -q -r "$req"
  echo "$want" > "$stamp"
}

# start_stack: moto server on a free loopback port, the table created from template.yaml;
# exports AWS_ENDPOINT_URL, STORES_TABLE and dummy AWS credentials into this shell.
start_stack() {
  ensure_venv tools
  "$ROOT/.venv/tools/bin/python" "$ROOT/infra/local/stack.py" start
  # shellcheck disable=SC1091
  set -a; . "$STATE_DIR/stack.env"; set +a
}

stop_stack() {
  [ -x "$ROOT/.venv/tools/bin/python" ] && "$ROOT/.venv/tools/bin/python" "$ROOT/infra/local/stack.py" stop || true
}

# ensure_docs_assets: swagger-ui-dist (from npm, pinned) under .cache/, for the local run's
# /docs page; fetched once, then the page works offline.
ensure_docs_assets() {
  local dir="$ROOT/.cache/swagger-ui-dist" version="5.35.0"
  if [ -f "$dir/package/swagger-ui-bundle.js" ] && [ "$(cat "$dir/version" 2>/dev/null)" = "$version" ]; then
    return 0
  fi
  command -v npm >/dev/null || die "npm is required (it fetches the API reference's renderer)"
  log "fetching swagger-ui-dist@$version from npm for /docs (first run only)"
  rm -rf "$dir"
  mkdir -p "$dir"
  (cd "$dir" && npm pack "swagger-ui-dist@$version" --silent >/dev/null && tar xzf swagger-ui-dist-*.tgz && rm -f swagger-ui-dist-*.tgz)
  echo "$version" > "$dir/version"
}

# free_port: a free TCP port on loopback.
free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
