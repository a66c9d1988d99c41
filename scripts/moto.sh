# shellcheck shell=bash
# Sourced by scripts/test, scripts/check-arm64 and bench/lambda.sh: the one
# way they install and start moto_server (PyPI moto[server]) on 127.0.0.1.
#
# start_moto LOG installs moto in .venv/moto when it is missing, starts
# moto_server on a free loopback port with its output in LOG, waits until it
# answers, and sets MOTO_URL; it fails if moto does not answer within 20 s.
# stop_moto stops it; it also runs on exit.

start_moto() {
  local log=$1 port
  if [ ! -x .venv/moto/bin/moto_server ]; then
    python3 -m venv .venv/moto
    .venv/moto/bin/pip install --quiet --disable-pip-version-check 'moto[server]==5.2.*'
  fi
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  .venv/moto/bin/moto_server -H 127.0.0.1 -p "$port" > "$log" 2>&1 &
  moto_pid=$!
  trap stop_moto EXIT
  MOTO_URL="http://127.0.0.1:$port"
  for _ in $(seq 1 100); do
    if python3 -c "import urllib.request; urllib.request.urlopen('$MOTO_URL/moto-api/')" 2>/dev/null; then
      return 0
    fi
    sleep 0.2
  done
  echo "moto_server did not answer on $MOTO_URL within 20 s; its log: $log" >&2
  return 1
}

stop_moto() {
  if [ -n "${moto_pid:-}" ]; then
    kill "$moto_pid" 2>/dev/null || true
    wait "$moto_pid" 2>/dev/null || true
    moto_pid=
  fi
}
