#!/usr/bin/env bash
# Local infrastructure for dev and CI: PostgreSQL 15, Redis 7, tansu 0.6.0
# (Kafka-protocol broker, sqlite storage).
#
#   scripts/infra.sh up            start what is missing (idempotent)
#   scripts/infra.sh down          stop only what this script started
#   scripts/infra.sh status        one line per component; exit 1 if any is down
#   scripts/infra.sh env           export lines: eval "$(scripts/infra.sh env)"
#   scripts/infra.sh kafka-fresh   restart this tansu instance with no data
#                                  (with LMS_TANSU_NAME/LMS_KAFKA_PORT: the test broker)
#   scripts/infra.sh python-venv [REQ...] [-r FILE]
#                                  make $LMS_HOME/venv, pip-install missing REQs,
#                                  print the venv's python path
#
# State lives under $LMS_HOME (default <repo>/.lms): tansu/ (sqlite db),
# redis/, logs/, pids/. Settings: LMS_KAFKA_PORT (9092), LMS_REDIS_PORT (6379),
# LMS_UP_TIMEOUT (60 s per service), LMS_TANSU_INSTALL_TIMEOUT (2400 s).
set -euo pipefail

# shellcheck source=scripts/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

PG_HOST=127.0.0.1
PG_PORT=5432
REDIS_HOST=127.0.0.1
REDIS_PORT="${LMS_REDIS_PORT:-6379}"
KAFKA_HOST=127.0.0.1
KAFKA_PORT="${LMS_KAFKA_PORT:-9092}"
SCHEMA_REGISTRY_URL="http://127.0.0.1:8081"
DB_NAME=lms
TANSU_VERSION=0.6.0
CONFLUENT_KAFKA_REQ='confluent-kafka==2.16.*'
UP_TIMEOUT="${LMS_UP_TIMEOUT:-60}"
TANSU_INSTALL_TIMEOUT="${LMS_TANSU_INSTALL_TIMEOUT:-2400}"

LOG_DIR="$LMS_HOME/logs"
PID_DIR="$LMS_HOME/pids"
PG_MARK="$PID_DIR/postgres.started"
REDIS_PID="$PID_DIR/redis.pid"
# LMS_TANSU_NAME names a broker instance (data dir, pid, log): the test
# command runs its own ("tansu-test", fresh each run) beside the dev one.
TANSU_NAME="${LMS_TANSU_NAME:-tansu}"
TANSU_DIR="$LMS_HOME/$TANSU_NAME"
TANSU_PID="$PID_DIR/$TANSU_NAME.pid"
TANSU_LOG="$LOG_DIR/$TANSU_NAME.log"

[[ "$KAFKA_PORT" =~ ^[0-9]+$ ]] || lms_die "LMS_KAFKA_PORT must be a number"
[[ "$REDIS_PORT" =~ ^[0-9]+$ ]] || lms_die "LMS_REDIS_PORT must be a number"

report() { printf '%-9s %-16s %s\n' "$1" "$2" "$3"; }

apt_install() {
  lms_log "apt: installing $*"
  if [[ -z "${_APT_UPDATED:-}" ]]; then
    DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2 9>&- || lms_die "apt-get update failed"
    _APT_UPDATED=1
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >&2 9>&- ||
    lms_die "apt-get install $* failed"
}

# ---------------------------------------------------------------- postgres
pg_ready() { pg_isready -q -h "$PG_HOST" -p "$PG_PORT" -t 2 >/dev/null 2>&1; }

pg_psql() { PGCONNECT_TIMEOUT=5 timeout 30 psql -h "$PG_HOST" -p "$PG_PORT" -U postgres -X -q -tA "$@"; }

pg_trust_local() {
  local hba="/etc/postgresql/$1/main/pg_hba.conf"
  [[ -f "$hba" ]] || return 0
  if ! grep -q '^# lms: trust loopback' "$hba"; then
    lms_log "postgres: trusting 127.0.0.1/::1 in $hba"
    local tmp
    tmp=$(mktemp)
    {
      echo '# lms: trust loopback (added by scripts/infra.sh)'
      echo 'host all all 127.0.0.1/32 trust'
      echo 'host all all ::1/128 trust'
      cat "$hba"
    } >"$tmp"
    cat "$tmp" >"$hba"
    rm -f "$tmp"
  fi
}

pg_up() {
  local how="already running" installed=""
  if ! pg_ready; then
    if ! command -v pg_ctlcluster >/dev/null || ! compgen -G '/usr/lib/postgresql/*/bin/postgres' >/dev/null; then
      apt_install postgresql
      installed=1
    fi
    local ver
    ver=$(find /etc/postgresql -mindepth 1 -maxdepth 1 -printf '%f\n' 2>/dev/null | sort -V | head -1)
    if [[ -z "$ver" ]]; then
      ver=$(find /usr/lib/postgresql -mindepth 1 -maxdepth 1 -printf '%f\n' 2>/dev/null | sort -V | tail -1)
      [[ -n "$ver" ]] || lms_die "postgres: no server found under /usr/lib/postgresql"
      lms_log "postgres: creating cluster $ver/main"
      pg_createcluster --port "$PG_PORT" "$ver" main >&2 || lms_die "pg_createcluster $ver main failed"
      installed=1
    elif [[ ! -d "/etc/postgresql/$ver/main" ]]; then
      lms_log "postgres: creating cluster $ver/main"
      pg_createcluster --port "$PG_PORT" "$ver" main >&2 || lms_die "pg_createcluster $ver main failed"
      installed=1
    fi
    if [[ -n "$installed" ]]; then pg_trust_local "$ver"; fi
    if ! pg_ready; then
      lms_log "postgres: starting cluster $ver/main"
      pg_ctlcluster --skip-systemctl-redirect "$ver" main start >&2 9>&- ||
        lms_die "postgres: pg_ctlcluster $ver main start failed (see /var/log/postgresql/)"
      mkdir -p "$PID_DIR"
      echo "$ver main" >"$PG_MARK"
      how="started"
    else
      if [[ -n "$installed" ]]; then
        pg_ctlcluster --skip-systemctl-redirect "$ver" main reload >&2 || true
      fi
      how="started (by apt)"
    fi
    lms_wait_until "$UP_TIMEOUT" pg_ready ||
      lms_die "postgres: not ready on $PG_HOST:$PG_PORT after ${UP_TIMEOUT}s"
  fi
  # the services' database; not fatal if auth is not trust
  if ! pg_psql -d postgres -c "SELECT 1" >/dev/null 2>&1; then
    lms_warn "postgres: cannot log in as postgres on $PG_HOST:$PG_PORT without password"
  elif [[ "$(pg_psql -d postgres -c "SELECT 1 FROM pg_database WHERE datname='$DB_NAME'")" != 1 ]]; then
    pg_psql -d postgres -c "CREATE DATABASE $DB_NAME" >/dev/null || lms_warn "postgres: CREATE DATABASE $DB_NAME failed"
  fi
  report postgres "$PG_HOST:$PG_PORT" "$how"
}

pg_down() {
  if [[ -f "$PG_MARK" ]]; then
    local ver cluster
    read -r ver cluster <"$PG_MARK" || true
    if pg_ready; then
      pg_ctlcluster --skip-systemctl-redirect "$ver" "${cluster:-main}" stop >&2 ||
        lms_warn "postgres: stop failed"
    fi
    rm -f "$PG_MARK"
    report postgres "$PG_HOST:$PG_PORT" "stopped"
  elif pg_ready; then
    report postgres "$PG_HOST:$PG_PORT" "left alone (not started here)"
  else
    report postgres "$PG_HOST:$PG_PORT" "not running"
  fi
}

# ------------------------------------------------------------------- redis
redis_ready() {
  [[ "$(timeout 3 redis-cli -h "$REDIS_HOST" -p "$REDIS_PORT" ping 2>/dev/null)" == PONG ]]
}

redis_up() {
  local how="already running"
  if ! redis_ready; then
    command -v redis-server >/dev/null || apt_install redis-server redis-tools
    if redis_ready; then
      how="started (by apt)"
    else
      mkdir -p "$LMS_HOME/redis" "$LOG_DIR" "$PID_DIR"
      redis-server --daemonize yes --bind "$REDIS_HOST" --port "$REDIS_PORT" \
        --save "" --appendonly no --dir "$LMS_HOME/redis" \
        --logfile "$LOG_DIR/redis.log" --pidfile "$REDIS_PID" >&2 9>&- ||
        lms_die "redis: redis-server failed to start (see $LOG_DIR/redis.log)"
      how="started"
    fi
    lms_wait_until "$UP_TIMEOUT" redis_ready || {
      tail -n 20 "$LOG_DIR/redis.log" >&2 2>/dev/null || true
      lms_die "redis: no PONG from $REDIS_HOST:$REDIS_PORT after ${UP_TIMEOUT}s"
    }
  fi
  report redis "$REDIS_HOST:$REDIS_PORT" "$how"
}

redis_down() {
  if lms_pid_alive "$REDIS_PID" redis-server; then
    local pid
    pid=$(<"$REDIS_PID")
    kill "$pid" 2>/dev/null || true
    wait_pid_gone "$pid" 15 || kill -9 "$pid" 2>/dev/null || true
    rm -f "$REDIS_PID"
    report redis "$REDIS_HOST:$REDIS_PORT" "stopped"
  else
    rm -f "$REDIS_PID"
    if redis_ready; then
      report redis "$REDIS_HOST:$REDIS_PORT" "left alone (not started here)"
    else
      report redis "$REDIS_HOST:$REDIS_PORT" "not running"
    fi
  fi
}

# ------------------------------------------------------------------- tansu
tansu_bin() {
  local c
  for c in "$(command -v tansu 2>/dev/null || true)" "$HOME/.cargo/bin/tansu"; do
    if [[ -n "$c" && -x "$c" ]] && "$c" --version 2>/dev/null | grep -qw "$TANSU_VERSION"; then
      printf '%s\n' "$c"
      return 0
    fi
  done
  return 1
}

other_tansu_install() { pgrep -f "cargo install tansu" >/dev/null 2>&1; }

tansu_install() {
  local deadline=$((SECONDS + TANSU_INSTALL_TIMEOUT)) next=$((SECONDS + 60))
  if other_tansu_install; then
    lms_log "tansu: another 'cargo install tansu' is running; waiting for it (up to ${TANSU_INSTALL_TIMEOUT}s)"
    while other_tansu_install; do
      ((SECONDS < deadline)) || lms_die "tansu: other install still running after ${TANSU_INSTALL_TIMEOUT}s"
      if ((SECONDS >= next)); then
        lms_log "tansu: still waiting for the other install (${SECONDS}s)"
        next=$((SECONDS + 60))
      fi
      sleep 5
    done
    tansu_bin >/dev/null && return 0
    lms_log "tansu: the other install did not leave tansu $TANSU_VERSION behind; installing here"
  fi
  command -v cargo >/dev/null || [[ -x "$HOME/.cargo/bin/cargo" ]] ||
    lms_die "tansu: cargo not found; cannot install tansu $TANSU_VERSION"
  local cargo
  cargo=$(command -v cargo || echo "$HOME/.cargo/bin/cargo")
  mkdir -p "$LOG_DIR"
  local log="$LOG_DIR/tansu-install.log"
  lms_log "tansu: $TANSU_VERSION not found; running 'cargo install tansu --version $TANSU_VERSION'"
  lms_log "tansu: it compiles ~600 crates: 10-30 min on 2 cores, only once; log: $log"
  "$cargo" install tansu --version "$TANSU_VERSION" --locked --features dynostore,libsql >"$log" 2>&1 9>&- &
  local pid=$!
  while kill -0 "$pid" 2>/dev/null; do
    if ((SECONDS >= deadline)); then
      kill "$pid" 2>/dev/null || true
      lms_die "tansu: cargo install took more than ${TANSU_INSTALL_TIMEOUT}s (log: $log)"
    fi
    if ((SECONDS >= next)); then
      lms_log "tansu: still compiling (${SECONDS}s): $(grep -c '^ *Compiling' "$log" || true) crates so far"
      next=$((SECONDS + 60))
    fi
    sleep 2
  done
  if ! wait "$pid"; then
    tail -n 30 "$log" >&2
    lms_die "tansu: cargo install failed (log: $log)"
  fi
  tansu_bin >/dev/null || lms_die "tansu: installed, but 'tansu --version' does not say $TANSU_VERSION"
}

kafka_port_open() { lms_port_open "$KAFKA_HOST" "$KAFKA_PORT"; }

# Kafka-protocol probe without dependencies: ApiVersions v0 request, expect a
# response with the same correlation id and error code 0.
kafka_api_versions() {
  timeout 10 python3 - "$KAFKA_HOST" "$KAFKA_PORT" <<'PY' 2>/dev/null
import socket, struct, sys
host, port = sys.argv[1], int(sys.argv[2])
cid = b"lms-infra"
body = struct.pack(">hhi", 18, 0, 4242) + struct.pack(">h", len(cid)) + cid
with socket.create_connection((host, port), timeout=3) as s:
    s.settimeout(3)
    s.sendall(struct.pack(">i", len(body)) + body)
    buf = b""
    while len(buf) < 10:
        chunk = s.recv(4096)
        if not chunk:
            sys.exit(1)
        buf += chunk
_, corr, err = struct.unpack(">iih", buf[:10])
sys.exit(0 if corr == 4242 and err == 0 else 1)
PY
}

# Metadata through librdkafka (confluent-kafka): proves the broker serves
# real clients with its storage engine, not just that the port is open.
kafka_metadata() {
  timeout 20 "$1" - "$KAFKA_HOST:$KAFKA_PORT" <<'PY' 2>/dev/null
import sys
from confluent_kafka.admin import AdminClient
md = AdminClient({"bootstrap.servers": sys.argv[1], "log_level": 0}).list_topics(timeout=5)
sys.exit(0 if md.brokers else 1)
PY
}

tansu_up() {
  local how="already running" bin
  if ! kafka_port_open; then
    if ! bin=$(tansu_bin); then
      tansu_install
      bin=$(tansu_bin)
    fi
    mkdir -p "$TANSU_DIR" "$LOG_DIR" "$PID_DIR"
    if lms_pid_alive "$TANSU_PID" tansu; then
      lms_die "tansu: pid $(<"$TANSU_PID") is alive but $KAFKA_HOST:$KAFKA_PORT is closed; run '$0 down' first"
    fi
    local url="tcp://$KAFKA_HOST:$KAFKA_PORT"
    # flags beat tansu's env vars (LISTENER_URL, STORAGE_ENGINE, ...) and the
    # .env file it loads; the OTLP exporter stays off.
    printf '\n==== %s start: %s\n' "$(date -Is)" "$url" >>"$TANSU_LOG"
    (
      cd "$TANSU_DIR"
      exec 9>&- # don't hold the infra.lock
      exec env -u OTEL_EXPORTER_OTLP_ENDPOINT -u SCHEMA_REGISTRY \
        "$bin" broker \
        --cluster-id lms \
        --listener-url "$url" \
        --advertised-listener-url "$url" \
        --storage-engine "sqlite://tansu.db" \
        </dev/null >>"$TANSU_LOG" 2>&1
    ) &
    echo $! >"$TANSU_PID"
    how="started"
    local pid
    pid=$(<"$TANSU_PID")
    local fail=""
    lms_wait_until "$UP_TIMEOUT" tansu_port_or_dead "$pid" || fail="port $KAFKA_PORT not open after ${UP_TIMEOUT}s"
    if [[ -z "$fail" ]] && ! kill -0 "$pid" 2>/dev/null; then
      fail="process exited"
    fi
    if [[ -n "$fail" ]]; then
      kill "$pid" 2>/dev/null || true
      rm -f "$TANSU_PID"
      tail -n 20 "$TANSU_LOG" >&2 || true
      lms_die "tansu: $fail (log: $TANSU_LOG)"
    fi
  fi
  # protocol check (also for a broker that was already running)
  local py
  if py=$(lms_python_venv "$CONFLUENT_KAFKA_REQ" 2>"$LOG_DIR/venv.log"); then
    lms_wait_until "$UP_TIMEOUT" kafka_metadata "$py" || {
      tail -n 20 "$TANSU_LOG" >&2 2>/dev/null || true
      lms_die "tansu: $KAFKA_HOST:$KAFKA_PORT is open but Kafka metadata fails; another program on that port? (log: $TANSU_LOG)"
    }
  else
    lms_warn "python venv with confluent-kafka unavailable (see $LOG_DIR/venv.log); using a raw ApiVersions probe"
    lms_wait_until "$UP_TIMEOUT" kafka_api_versions || {
      tail -n 20 "$TANSU_LOG" >&2 2>/dev/null || true
      lms_die "tansu: $KAFKA_HOST:$KAFKA_PORT is open but no ApiVersions answer; another program on that port? (log: $TANSU_LOG)"
    }
  fi
  tansu_header_index
  report tansu "$KAFKA_HOST:$KAFKA_PORT" "$how"
}

# tansu 0.6's sqlite schema has no index on its record headers, and a fetch
# looks up each record's headers with its own query: every fetched record
# scans the whole header table, so consumers slow down as the log grows
# (fetches of a catch-up took ~60 s here). An index on the join columns
# makes that lookup a seek; tansu's DDL is "create ... if not exists", so
# it leaves the index alone. Local broker only; Apache Kafka needs nothing.
tansu_header_index() {
  local db="$TANSU_DIR/tansu.db"
  [[ -f "$db" ]] || return 0
  python3 - "$db" <<'PY' >>"$TANSU_LOG" 2>&1 || lms_warn "tansu: could not index its header table (log: $TANSU_LOG)"
import sqlite3, sys
db = sqlite3.connect(sys.argv[1], timeout=30)
if db.execute("select 1 from sqlite_master where type = 'table' and name = 'header'").fetchone():
    db.execute("create index if not exists lms_header_topition_offset on header (topition, offset_id)")
    db.commit()
PY
}

tansu_port_or_dead() { kafka_port_open || ! kill -0 "$1" 2>/dev/null; }

pid_gone() { ! kill -0 "$1" 2>/dev/null; }

wait_pid_gone() { lms_wait_until "$2" pid_gone "$1"; }

tansu_down() {
  if lms_pid_alive "$TANSU_PID" tansu; then
    local pid
    pid=$(<"$TANSU_PID")
    kill "$pid" 2>/dev/null || true
    if ! wait_pid_gone "$pid" 15; then
      lms_warn "tansu: pid $pid ignored SIGTERM; sending SIGKILL"
      kill -9 "$pid" 2>/dev/null || true
      wait_pid_gone "$pid" 5 || true
    fi
    rm -f "$TANSU_PID"
    report tansu "$KAFKA_HOST:$KAFKA_PORT" "stopped"
  else
    rm -f "$TANSU_PID"
    if kafka_port_open; then
      report tansu "$KAFKA_HOST:$KAFKA_PORT" "left alone (not started here)"
    else
      report tansu "$KAFKA_HOST:$KAFKA_PORT" "not running"
    fi
  fi
}

# ---------------------------------------------------------------- commands
# Serialise concurrent up/down runs. Children started from here must not
# inherit fd 9, or they'd hold the lock for their whole life.
take_lock() {
  exec 9>"$LMS_HOME/infra.lock"
  if ! flock -n 9; then
    lms_log "waiting for another 'infra.sh up/down' (lock: $LMS_HOME/infra.lock)"
    flock -w "$1" 9 || lms_die "lock $LMS_HOME/infra.lock still held after $1 s"
  fi
}

cmd_up() {
  mkdir -p "$LOG_DIR" "$PID_DIR"
  take_lock 3600
  pg_up
  redis_up
  tansu_up
}

cmd_down() {
  mkdir -p "$PID_DIR"
  take_lock 120
  tansu_down
  redis_down
  pg_down
}

cmd_status() {
  local rc=0
  if pg_ready; then report postgres "$PG_HOST:$PG_PORT" up; else
    report postgres "$PG_HOST:$PG_PORT" down
    rc=1
  fi
  if redis_ready; then report redis "$REDIS_HOST:$REDIS_PORT" up; else
    report redis "$REDIS_HOST:$REDIS_PORT" down
    rc=1
  fi
  if kafka_port_open && kafka_api_versions; then report tansu "$KAFKA_HOST:$KAFKA_PORT" up; else
    report tansu "$KAFKA_HOST:$KAFKA_PORT" down
    rc=1
  fi
  return "$rc"
}

cmd_env() {
  cat <<EOF
export LMS_DATABASE_URL=postgres://postgres@$PG_HOST:$PG_PORT/$DB_NAME
export LMS_REDIS_URL=redis://$REDIS_HOST:$REDIS_PORT
export LMS_KAFKA_BROKERS=$KAFKA_HOST:$KAFKA_PORT
export LMS_SCHEMA_REGISTRY_URL=$SCHEMA_REGISTRY_URL
EOF
}

usage() {
  awk 'NR > 1 && !/^#/ { exit } NR > 1 { sub(/^# ?/, ""); print }' "${BASH_SOURCE[0]}"
}

# A broker with no data: stops this instance (if ours) and wipes its dir.
cmd_kafka_fresh() {
  mkdir -p "$LOG_DIR" "$PID_DIR"
  take_lock 3600
  tansu_down
  rm -rf "$TANSU_DIR"
  tansu_up
}

case "${1:-}" in
  up) cmd_up ;;
  down) cmd_down ;;
  kafka-fresh) cmd_kafka_fresh ;;
  status) cmd_status ;;
  env) cmd_env ;;
  python-venv)
    shift
    lms_python_venv "$@"
    ;;
  -h | --help | help) usage ;;
  *)
    usage >&2
    exit 2
    ;;
esac
