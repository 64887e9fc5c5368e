#!/usr/bin/env bash
# Make sure the PostgreSQL server the storage tests use answers on 127.0.0.1:5432 (user postgres,
# trust auth, database `test`): start the installed cluster if it is down; install PostgreSQL
# from apt if it is missing. Waits until the server is ready, at most CG_PG_WAIT seconds.
# Overridable for trying it on a scratch cluster: CG_PG_PORT (5432), CG_PG_CLUSTER (main).
set -euo pipefail

port="${CG_PG_PORT:-5432}"
cluster="${CG_PG_CLUSTER:-main}"
wait_s="${CG_PG_WAIT:-60}"

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
ready() { pg_isready -q -h 127.0.0.1 -p "$port" 2>/dev/null; }
# The newest installed major version (Debian layout: /etc/postgresql/<version>/<cluster>).
version() { ls /etc/postgresql 2>/dev/null | sort -V | tail -n 1; }

if command -v pg_isready >/dev/null 2>&1 && ready; then
  exit 0
fi

if [ -z "$(version)" ]; then
  echo "ci: installing postgresql"
  as_root apt-get update -qq
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq postgresql >/dev/null
  v="$(version)"
  [ -n "$v" ] || { echo "ci: postgresql installed but no cluster in /etc/postgresql" >&2; exit 1; }
  [ -d "/etc/postgresql/$v/$cluster" ] || as_root pg_createcluster "$v" "$cluster" -p "$port"
  # Trust auth on loopback only: a throwaway CI database, never a production setting.
  hba="/etc/postgresql/$v/$cluster/pg_hba.conf"
  as_root sed -i -E \
    's/^(host[[:space:]]+all[[:space:]]+all[[:space:]]+(127\.0\.0\.1\/32|::1\/128)[[:space:]]+).*/\1trust/' \
    "$hba"
  grep -qE '^host[[:space:]]+all[[:space:]]+all[[:space:]]+127\.0\.0\.1/32[[:space:]]+trust' "$hba" ||
    echo "host all all 127.0.0.1/32 trust" | as_root tee -a "$hba" >/dev/null
  # The package may have started the cluster with the old pg_hba.conf: restart (or start) it.
  as_root pg_ctlcluster --skip-systemctl-redirect "$v" "$cluster" stop >/dev/null 2>&1 || true
fi

v="$(version)"
echo "ci: starting PostgreSQL $v/$cluster"
# Exit status 2 means "already running" (pg_ctlcluster(1)); the wait below decides.
as_root pg_ctlcluster --skip-systemctl-redirect "$v" "$cluster" start || true

for _ in $(seq "$wait_s"); do
  if ready; then
    if ! psql -h 127.0.0.1 -p "$port" -U postgres -tAc \
        "SELECT 1 FROM pg_database WHERE datname = 'test'" | grep -q 1; then
      psql -h 127.0.0.1 -p "$port" -U postgres -qc "CREATE DATABASE test"
    fi
    exit 0
  fi
  sleep 1
done
echo "ci: PostgreSQL not ready on 127.0.0.1:$port after ${wait_s}s" >&2
exit 1
