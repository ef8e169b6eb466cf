#!/usr/bin/env bash
# The production topology on one machine, from real processes addressed on loopback:
#   PostgreSQL (Dagster storage), an S3-compatible server (the lake), a Ray head + one worker,
#   the Dagster code location (gRPC), dagster-webserver and dagster-daemon.
# All but Ray listen on 127.0.0.1 only; Ray's GCS and raylets listen on every interface
# (Ray's choice) with authentication off: run it where the network is trusted.
# The S3 server keeps the lake in memory: `down` loses it, while PostgreSQL keeps the runs.
# Usage: deploy/local-stack.sh up|down|status     (settings below, all overridable)
#        deploy/local-stack.sh down --purge      also deletes PostgreSQL's data: the next `up`
#                                                starts from a new instance, as the lake does
# Logs and pids go under $STACK_DIR; `down` stops exactly what `up` started.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=${BIN:-$ROOT/.venv/bin}
STACK_DIR=${STACK_DIR:-$ROOT/.stack}
PG_PORT=${PG_PORT:-55432}
S3_PORT=${S3_PORT:-59000}
RAY_PORT=${RAY_PORT:-56379}
GRPC_PORT=${GRPC_PORT:-54000}
WEB_PORT=${WEB_PORT:-53000}
BUCKET=${BUCKET:-trajectory-lake}
# PostgreSQL refuses to run as root and needs a folder its own user can reach.
PG_DATA=${PG_DATA:-/tmp/trajectory-assets-pg-$PG_PORT}
LOGS=$STACK_DIR/logs
PIDS=$STACK_DIR/pids

say() { printf '[local-stack] %s\n' "$*"; }

wait_port() { # port name [seconds]
  local deadline=$((SECONDS + ${3:-120}))
  until (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; do
    if ((SECONDS > deadline)); then say "$2 did not listen on 127.0.0.1:$1; see $LOGS"; exit 1; fi
    sleep 0.5
  done
}

pg_bin() { ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1; }

pg_runs() { runuser -u postgres -- "$(pg_bin)/pg_ctl" -D "$1" status >/dev/null 2>&1; }

ensure_packages() {
  local missing=()
  [ -n "$(pg_bin)" ] || missing+=(postgresql)
  # Chromium only for the UI screenshots of the stack tests, which ask for it
  [ "${STACK_BROWSER:-0}" != 1 ] || command -v chromium >/dev/null || missing+=(chromium)
  if [ ${#missing[@]} -gt 0 ]; then
    say "installing ${missing[*]} from the distribution's packages"
    if [ "$(id -u)" != 0 ]; then say "need root to install ${missing[*]}"; exit 1; fi
    apt_get update -qq && DEBIAN_FRONTEND=noninteractive apt_get install -y -qq "${missing[@]}" >/dev/null
  fi
}

apt_get() { # apt-get, waiting up to 10 minutes for another apt or dpkg to finish (a machine's
  # first-boot or unattended upgrade holds the lock, and apt-get fails at once when it is held)
  local try err=$STACK_DIR/apt.err
  for try in $(seq 1 60); do
    LC_ALL=C apt-get -o DPkg::Lock::Timeout=5 "$@" 2>"$err" && return 0
    if ! grep -q "Could not get lock\|Unable to lock" "$err" || ((try == 60)); then
      cat "$err" >&2; return 1
    fi
    ((try > 1)) || say "waiting for another apt-get or dpkg to let go of its lock" >&2
    sleep 5
  done
}

start() { # name command... : started in its own process group, pid recorded
  local name=$1; shift
  setsid "$@" >"$LOGS/$name.log" 2>&1 < /dev/null &
  echo $! >"$PIDS/$name"
}

write_env() {
  cat >"$STACK_DIR/env" <<ENV
export DAGSTER_HOME=$STACK_DIR/dagster_home
export DAGSTER_PG_HOST=127.0.0.1 DAGSTER_PG_PORT=$PG_PORT DAGSTER_PG_USERNAME=postgres
export DAGSTER_PG_PASSWORD=dagster DAGSTER_PG_DB=dagster
export AWS_ACCESS_KEY_ID=stack AWS_SECRET_ACCESS_KEY=stack-secret AWS_DEFAULT_REGION=us-east-1
export TRAJECTORY_ASSETS_LAKE=s3://$BUCKET/lake
export TRAJECTORY_ASSETS_S3_ENDPOINT_URL=http://127.0.0.1:$S3_PORT
export TRAJECTORY_ASSETS_RAY_ADDRESS=127.0.0.1:$RAY_PORT
export TRAJECTORY_ASSETS_RUNTIME=ray
export RAY_AUTH_MODE=disabled RAY_USAGE_STATS_ENABLED=0
export STACK_WEB_URL=http://127.0.0.1:$WEB_PORT STACK_RAY_ADDRESS=127.0.0.1:$RAY_PORT
export PATH=$BIN:\$PATH
ENV
}

up() {
  mkdir -p "$LOGS" "$PIDS" "$STACK_DIR/dagster_home"
  local name
  for name in s3 ray-head ray-worker code-location webserver daemon; do
    if [ -f "$PIDS/$name" ] && kill -0 "$(cat "$PIDS/$name")" 2>/dev/null; then
      say "already up ($name runs as pid $(cat "$PIDS/$name")): $0 status, or $0 down first"
      exit 1
    fi
  done
  ensure_packages
  write_env
  # shellcheck disable=SC1091
  source "$STACK_DIR/env"
  cp "$ROOT/deploy/dagster.yaml" "$DAGSTER_HOME/dagster.yaml"

  # What does not wait for another starts at once, so their start-ups overlap: the S3 server
  # and the Ray head first, then PostgreSQL; the code location once the lake's bucket is there
  # (it reads the lake when it loads), the Ray worker once the head listens.
  start s3 "$BIN/moto_server" -H 127.0.0.1 -p "$S3_PORT"
  # `down` stops the Ray nodes at once: on SIGTERM a node would otherwise wait up to 30 s to drain
  # (a pause meant for Ray Serve replicas; batch tasks are retried by Ray Data anyway).
  export RAY_GRACEFUL_SHUTDOWN_DRAIN_TIMEOUT_S=0
  start ray-head "$BIN/ray" start --block --head --node-ip-address=127.0.0.1 --port="$RAY_PORT" \
    --num-cpus=0 --include-dashboard=false --disable-usage-stats

  local pg; pg=$(pg_bin)
  if [ ! -f "$PG_DATA/PG_VERSION" ]; then
    mkdir -p "$PG_DATA" && chown postgres: "$PG_DATA" && chmod 700 "$PG_DATA"
    runuser -u postgres -- "$pg/initdb" -D "$PG_DATA" -U postgres -A trust >"$LOGS/initdb.log"
  fi
  local try
  for try in 1 2 3; do # a just-stopped server can hold the port for a moment
    runuser -u postgres -- "$pg/pg_ctl" -D "$PG_DATA" -w -l "$PG_DATA/server.log" \
      -o "-p $PG_PORT -c listen_addresses=127.0.0.1 -k $PG_DATA" start >"$LOGS/postgres.log" && break
    if ((try == 3)); then say "PostgreSQL did not start; see $PG_DATA/server.log"; exit 1; fi
    sleep 3
  done
  echo "$PG_DATA" >"$PIDS/postgres.data"
  runuser -u postgres -- "$pg/psql" -h 127.0.0.1 -p "$PG_PORT" -U postgres -tc \
    "SELECT 1 FROM pg_database WHERE datname = 'dagster'" | grep -q 1 ||
    runuser -u postgres -- "$pg/createdb" -h 127.0.0.1 -p "$PG_PORT" -U postgres dagster

  wait_port "$S3_PORT" "S3 server"
  "$BIN/python" -c "import s3fs; s3fs.S3FileSystem(client_kwargs={'endpoint_url': '$TRAJECTORY_ASSETS_S3_ENDPOINT_URL'}).mkdir('$BUCKET')" 2>/dev/null || true
  start code-location "$BIN/dagster" code-server start -h 127.0.0.1 -p "$GRPC_PORT" \
    -m trajectory_assets.definitions -a defs --location-name trajectory_assets
  wait_port "$RAY_PORT" "Ray head"
  start ray-worker "$BIN/ray" start --block --address="127.0.0.1:$RAY_PORT" \
    --node-ip-address=127.0.0.1 --num-cpus="${RAY_WORKER_CPUS:-2}" --disable-usage-stats
  wait_port "$GRPC_PORT" "code location"
  cat >"$STACK_DIR/workspace.yaml" <<WS
load_from:
  - grpc_server: {host: 127.0.0.1, port: $GRPC_PORT, location_name: trajectory_assets}
WS
  start webserver "$BIN/dagster-webserver" -w "$STACK_DIR/workspace.yaml" -h 127.0.0.1 -p "$WEB_PORT"
  start daemon "$BIN/dagster-daemon" run -w "$STACK_DIR/workspace.yaml"
  wait_port "$WEB_PORT" "dagster-webserver"
  say "up: UI $STACK_WEB_URL, lake $TRAJECTORY_ASSETS_LAKE, Ray $STACK_RAY_ADDRESS, settings in $STACK_DIR/env"
}

down() { # [--purge]
  local purge=${1:-}
  if [ -n "$purge" ] && [ "$purge" != --purge ]; then echo "usage: $0 down [--purge]" >&2; exit 2; fi
  for name in daemon webserver code-location ray-worker ray-head s3; do
    local file="$PIDS/$name"
    [ -f "$file" ] || continue
    kill -TERM -- "-$(cat "$file")" 2>/dev/null || true
  done
  for name in daemon webserver code-location ray-worker ray-head s3; do
    local file="$PIDS/$name"
    [ -f "$file" ] || continue
    # Up to 30 s to exit; 1 s for the code server, which holds no state and would otherwise
    # wait out the 30 s heartbeat timeout of its gRPC child
    local polls=60
    [ "$name" = code-location ] && polls=2
    for _ in $(seq "$polls"); do kill -0 "$(cat "$file")" 2>/dev/null || break; sleep 0.5; done
    kill -KILL -- "-$(cat "$file")" 2>/dev/null || true
    rm -f "$file"
  done
  local data=$PG_DATA # the folder `up` used, as it recorded it; else this shell's setting
  if [ -f "$PIDS/postgres.data" ]; then
    data=$(cat "$PIDS/postgres.data")
    runuser -u postgres -- "$(pg_bin)/pg_ctl" -D "$data" -m fast -w stop >/dev/null 2>&1 || true
    if pg_runs "$data"; then say "PostgreSQL still runs on $data: run down again"; exit 1; fi
    rm -f "$PIDS/postgres.data"
  fi
  if [ "$purge" = --purge ] && [ -f "$data/PG_VERSION" ]; then
    if pg_runs "$data"; then say "PostgreSQL runs on $data: its data was not deleted"; exit 1; fi
    rm -rf "$data"
    say "deleted PostgreSQL's data ($data): the next up starts from a new instance"
  fi
  say "down"
}

status() {
  for name in s3 ray-head ray-worker code-location webserver daemon; do
    local file="$PIDS/$name" state=stopped
    [ -f "$file" ] && kill -0 "$(cat "$file")" 2>/dev/null && state="running (pid $(cat "$file"))"
    printf '%-14s %s\n' "$name" "$state"
  done
  if [ -f "$PIDS/postgres.data" ] &&
    runuser -u postgres -- "$(pg_bin)/pg_ctl" -D "$(cat "$PIDS/postgres.data")" status >/dev/null 2>&1; then
    printf '%-14s %s\n' postgres running
  else
    printf '%-14s %s\n' postgres stopped
  fi
}

case "${1:-}" in
  up) up ;;
  down) down "${2:-}" ;;
  status) status ;;
  *) echo "usage: $0 up|down [--purge]|status" >&2; exit 2 ;;
esac
