#!/usr/bin/env bash
# The user's path, proved before the dev install: a fresh virtualenv, `pip install .` with no
# extras, then the installed `consentgate demo` serves a shop page through the gateway and
# `consentgate run` starts in front of another upstream. A runtime import that only a dev extra
# provides fails here, as it would for a user.
set -euo pipefail
cd "$(dirname "$0")/.."

work="$(mktemp -d)"
pids=()
# SIGTERM, not SIGINT: a non-interactive shell starts background jobs with SIGINT ignored, so a
# `kill -INT` never reaches a child that does not install its own handler (http.server), and
# the `wait` below would hang.
cleanup() {
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

python3 -m venv "$work/venv"
py="$work/venv/bin/python"
"$py" -m pip install -q --disable-pip-version-check . >"$work/pip.log" 2>&1 \
  || { cat "$work/pip.log"; echo "user-path: pip install . failed"; exit 1; }
cg="$work/venv/bin/consentgate"

free_port() { "$py" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
# fetch URL [HEADER]: the body, or exit 1 with the error.
fetch() {
  "$py" - "$@" <<'PY'
import sys, urllib.request
request = urllib.request.Request(sys.argv[1])
for header in sys.argv[2:]:
    name, value = header.split(":", 1)
    request.add_header(name.strip(), value.strip())
with urllib.request.urlopen(request, timeout=10) as response:
    sys.stdout.write(response.read().decode("utf-8", "replace"))
PY
}
wait_for() {  # wait_for FILE TEXT SECONDS PID
  for _ in $(seq 1 $(( $3 * 10 ))); do
    grep -q "$2" "$1" 2>/dev/null && return 0
    kill -0 "$4" 2>/dev/null || { echo "user-path: process exited:"; cat "$1"; return 1; }
    sleep 0.1
  done
  echo "user-path: no '$2' after $3 s:"; cat "$1"; return 1
}

# 1. The demo, as the README's quick start runs it.
port="$(free_port)"
"$cg" demo --port "$port" --data-dir "$work/demo" >"$work/demo.log" 2>&1 &
pids+=($!)
wait_for "$work/demo.log" "consentgate demo is running" 120 "${pids[0]}"
page="$(fetch "http://127.0.0.1:$port/" "X-Forwarded-For: 81.2.69.160")"
grep -q 'id="consentgate-banner"' <<<"$page" || { echo "user-path: no banner on the demo page"; exit 1; }
echo "user-path: pip install . && consentgate demo serves the shop with its banner"
kill -TERM "${pids[0]}"; wait "${pids[0]}" || true; pids=()

# 2. An operator's own shop: `init` -> `check` -> `run` in front of an upstream that is not the
#    demo shop.
mkdir -p "$work/shop"
cat >"$work/shop/index.html" <<'HTML'
<!doctype html><html><head><title>Shop</title>
<script async src="https://www.googletagmanager.com/gtag/js?id=G-TEST"></script>
</head><body><h1>A shop</h1></body></html>
HTML
up="$(free_port)"
"$py" -m http.server "$up" --bind 127.0.0.1 --directory "$work/shop" >"$work/shop.log" 2>&1 &
pids+=($!)
gw="$(free_port)"
mkdir -p "$work/operator"
"$cg" init --upstream "http://127.0.0.1:$up" --out "$work/operator/policies.yaml"
"$cg" check --config "$work/operator/policies.yaml"
"$cg" run --config "$work/operator/policies.yaml" --port "$gw" >"$work/run.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 300); do
  fetch "http://127.0.0.1:$gw/_privacy/healthz" >/dev/null 2>&1 && break
  kill -0 "${pids[1]}" 2>/dev/null || { cat "$work/run.log"; exit 1; }
  sleep 0.1
done
page="$(fetch "http://127.0.0.1:$gw/" "X-Forwarded-For: 81.2.69.160")"
grep -q 'id="consentgate-banner"' <<<"$page" || { echo "user-path: run served no banner"; cat "$work/run.log"; exit 1; }
if grep -q '<script async src="https://www.googletagmanager.com' <<<"$page"; then
  echo "user-path: run left Google Tag Manager live for a visitor without consent"; exit 1
fi
echo "user-path: consentgate init, check and run block the shop's tracker and show the banner"
