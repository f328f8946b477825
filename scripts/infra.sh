#!/usr/bin/env bash
# Local infrastructure for dev and CI: PostgreSQL 15 and Redis 7 (Debian's
# packages), Apache Kafka 4 in KRaft mode (jars from Maven Central, run with
# the machine's Java 17+).
#
#   scripts/infra.sh up            start what is missing (idempotent)
#   scripts/infra.sh down          stop only what this script started
#   scripts/infra.sh status        one line per component; exit 1 if any is down
#   scripts/infra.sh env           export lines: eval "$(scripts/infra.sh env)"
#   scripts/infra.sh kafka-cluster-id
#                                  the cluster id of the broker on LMS_KAFKA_PORT
#   scripts/infra.sh kafka-fresh   restart this Kafka instance with no data
#                                  (with LMS_KAFKA_NAME/LMS_KAFKA_PORT: the test broker)
#   scripts/infra.sh browser       install Debian's chromium if missing (browser tests)
#   scripts/infra.sh python-venv [REQ...] [-r FILE]
#                                  make $LMS_HOME/venv, pip-install missing REQs,
#                                  print the venv's python path
#
# State lives under $LMS_HOME (default <repo>/.lms): kafka/lib (the broker's
# jars), kafka/instances/NAME (properties, data; its cluster id in
# data/meta.properties), redis/, logs/, pids/. Settings: LMS_KAFKA_PORT (9092; the controller listens on the next
# port), LMS_KAFKA_HEAP (768m), LMS_REDIS_PORT (6379), LMS_UP_TIMEOUT (60 s
# per service).
set -euo pipefail

# shellcheck source=scripts/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

PG_HOST=127.0.0.1
PG_PORT=5432
REDIS_HOST=127.0.0.1
REDIS_PORT="${LMS_REDIS_PORT:-6379}"
KAFKA_HOST=127.0.0.1
KAFKA_PORT="${LMS_KAFKA_PORT:-9092}"
KAFKA_CONTROLLER_PORT=$((KAFKA_PORT + 1))
KAFKA_HEAP="${LMS_KAFKA_HEAP:-768m}"
SCHEMA_REGISTRY_URL="http://127.0.0.1:8081"
DB_NAME=lms
CONFLUENT_KAFKA_REQ='confluent-kafka==2.16.*'
UP_TIMEOUT="${LMS_UP_TIMEOUT:-60}"

LOG_DIR="$LMS_HOME/logs"
PID_DIR="$LMS_HOME/pids"
PG_MARK="$PID_DIR/postgres.started"
REDIS_PID="$PID_DIR/redis.pid"
KAFKA_POM="$LMS_ROOT/scripts/kafka/pom.xml"
KAFKA_LOG4J="$LMS_ROOT/scripts/kafka/log4j2.properties"
KAFKA_LIB="$LMS_HOME/kafka/lib"
# LMS_KAFKA_NAME names a broker instance (data dir, pid, log): the test
# command runs its own ("kafka-test", fresh each run) beside the dev one.
KAFKA_NAME="${LMS_KAFKA_NAME:-kafka}"
[[ "$KAFKA_NAME" =~ ^[a-z0-9-]+$ ]] || lms_die "LMS_KAFKA_NAME must be [a-z0-9-]+"
KAFKA_DIR="$LMS_HOME/kafka/instances/$KAFKA_NAME"
KAFKA_PID="$PID_DIR/$KAFKA_NAME.pid"
KAFKA_LOG="$LOG_DIR/$KAFKA_NAME.log"

[[ "$KAFKA_PORT" =~ ^[0-9]+$ ]] || lms_die "LMS_KAFKA_PORT must be a number"
[[ "$REDIS_PORT" =~ ^[0-9]+$ ]] || lms_die "LMS_REDIS_PORT must be a number"

report() { printf '%-9s %-16s %s\n' "$1" "$2" "$3"; }

apt_install() {
  lms_log "apt: installing $*"
  if [[ -z "${_APT_UPDATED:-}" ]]; then
    DEBIAN_FRONTEND=noninteractive apt-get update -qq -o DPkg::Lock::Timeout=600 >&2 9>&- || lms_die "apt-get update failed"
    _APT_UPDATED=1
  fi
  # Waits for another apt (an unattended upgrade, a second script) rather
  # than failing at once on its lock.
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq -o DPkg::Lock::Timeout=600 "$@" >&2 9>&- ||
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
  local how="already running"
  if ! pg_ready; then
    if ! command -v pg_ctlcluster >/dev/null || ! compgen -G '/usr/lib/postgresql/*/bin/postgres' >/dev/null; then
      apt_install postgresql
    fi
    local ver
    ver=$(find /etc/postgresql -mindepth 1 -maxdepth 1 -printf '%f\n' 2>/dev/null | sort -V | head -1)
    if [[ -z "$ver" ]]; then
      ver=$(find /usr/lib/postgresql -mindepth 1 -maxdepth 1 -printf '%f\n' 2>/dev/null | sort -V | tail -1)
      [[ -n "$ver" ]] || lms_die "postgres: no server found under /usr/lib/postgresql"
      lms_log "postgres: creating cluster $ver/main"
      pg_createcluster --port "$PG_PORT" "$ver" main >&2 || lms_die "pg_createcluster $ver main failed"
    elif [[ ! -d "/etc/postgresql/$ver/main" ]]; then
      lms_log "postgres: creating cluster $ver/main"
      pg_createcluster --port "$PG_PORT" "$ver" main >&2 || lms_die "pg_createcluster $ver main failed"
    fi
    # Also for a cluster the machine came with: the tests and services log
    # in as postgres over loopback without a password.
    pg_trust_local "$ver"
    if ! pg_ready; then
      lms_log "postgres: starting cluster $ver/main"
      pg_ctlcluster --skip-systemctl-redirect "$ver" main start >&2 9>&- ||
        lms_die "postgres: pg_ctlcluster $ver main start failed (see /var/log/postgresql/)"
      mkdir -p "$PID_DIR"
      echo "$ver main" >"$PG_MARK"
      how="started"
    else
      pg_ctlcluster --skip-systemctl-redirect "$ver" main reload >&2 || true
      how="started (by apt)"
    fi
    lms_wait_until "$UP_TIMEOUT" pg_ready ||
      lms_die "postgres: not ready on $PG_HOST:$PG_PORT after ${UP_TIMEOUT}s"
  fi
  # A cluster this script started before it trusted loopback.
  if ! pg_psql -d postgres -c "SELECT 1" >/dev/null 2>&1 && [[ -f "$PG_MARK" ]]; then
    local mine
    read -r mine _ <"$PG_MARK" || true
    pg_trust_local "$mine"
    pg_ctlcluster --skip-systemctl-redirect "$mine" main reload >&2 || true
    sleep 1
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

# ------------------------------------------------------------------- kafka
# Apache Kafka in KRaft mode, one node that is broker and controller. Its
# class path comes from Maven Central (scripts/kafka/pom.xml, resolved once
# into $LMS_HOME/kafka/lib and shared by every instance); each instance has
# its own data dir, properties, pid and log.
kafka_version() { sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$KAFKA_POM"; }

kafka_java() {
  local java v
  java=$(command -v java || true)
  if [[ -z "$java" ]]; then
    apt_install openjdk-17-jre-headless
    java=$(command -v java) || lms_die "kafka: java not found after installing openjdk-17-jre-headless"
  fi
  v=$("$java" -XshowSettings:properties -version 2>&1 | sed -n 's/^ *java.specification.version = //p')
  [[ "${v%%.*}" =~ ^[0-9]+$ ]] && ((${v%%.*} >= 17)) ||
    lms_die "kafka: $java is Java '$v'; Kafka $(kafka_version) needs 17 or later (set PATH to one)"
  printf '%s\n' "$java"
}

# The broker's jars, resolved by Maven into $KAFKA_LIB; done again only when
# the pinned version changes.
kafka_install() {
  local version
  version=$(kafka_version)
  [[ -n "$version" ]] || lms_die "kafka: no <kafka.version> in $KAFKA_POM"
  if [[ -f "$KAFKA_LIB/.version" && "$(<"$KAFKA_LIB/.version")" == "$version" ]]; then
    return 0
  fi
  command -v mvn >/dev/null || apt_install maven
  lms_log "kafka: resolving Apache Kafka $version's jars from Maven Central into $KAFKA_LIB (once)"
  local tmp="$KAFKA_LIB.tmp.$$"
  rm -rf "$tmp"
  mkdir -p "$tmp" "$LOG_DIR"
  if ! mvn -B -q -f "$KAFKA_POM" dependency:copy-dependencies -DincludeScope=runtime \
    -DoutputDirectory="$tmp" >"$LOG_DIR/kafka-install.log" 2>&1 9>&-; then
    tail -n 30 "$LOG_DIR/kafka-install.log" >&2
    rm -rf "$tmp"
    lms_die "kafka: mvn dependency:copy-dependencies failed (log: $LOG_DIR/kafka-install.log)"
  fi
  compgen -G "$tmp/kafka_2.13-$version.jar" >/dev/null || lms_die "kafka: kafka_2.13-$version.jar missing after mvn"
  echo "$version" >"$tmp/.version"
  rm -rf "$KAFKA_LIB"
  mv "$tmp" "$KAFKA_LIB"
}

# Writes the instance's properties: plaintext on loopback, the controller on
# the next port, every internal topic with replication factor 1, no topic
# auto-creation (the relay and the tests create theirs, as in production).
kafka_properties() {
  cat >"$KAFKA_DIR/server.properties" <<EOF
# Written by scripts/infra.sh for the local instance '$KAFKA_NAME'; rewritten at each start.
process.roles=broker,controller
node.id=1
controller.quorum.bootstrap.servers=$KAFKA_HOST:$KAFKA_CONTROLLER_PORT
listeners=PLAINTEXT://$KAFKA_HOST:$KAFKA_PORT,CONTROLLER://$KAFKA_HOST:$KAFKA_CONTROLLER_PORT
advertised.listeners=PLAINTEXT://$KAFKA_HOST:$KAFKA_PORT
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
log.dirs=$KAFKA_DIR/data
num.partitions=3
default.replication.factor=1
min.insync.replicas=1
auto.create.topics.enable=false
delete.topic.enable=true
offsets.topic.replication.factor=1
offsets.topic.num.partitions=10
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=4
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
group.min.session.timeout.ms=1000
log.retention.hours=168
EOF
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

# Metadata through librdkafka (confluent-kafka): the broker answers a real
# client with itself as the controller-elected leader of its metadata.
kafka_metadata() {
  timeout 20 "$1" - "$KAFKA_HOST:$KAFKA_PORT" <<'PY' 2>/dev/null
import sys
from confluent_kafka.admin import AdminClient
md = AdminClient({"bootstrap.servers": sys.argv[1], "log_level": 0}).list_topics(timeout=5)
sys.exit(0 if md.brokers and md.controller_id >= 0 else 1)
PY
}

# A new cluster id in Kafka's form (16 random bytes, base64url). Like Kafka's
# Uuid.randomUuid, never one starting with "-": the storage tool would read
# it as an option (1 run in 64 failed to format before).
kafka_cluster_id() {
  python3 -c '
import base64, os
while True:
    id = base64.urlsafe_b64encode(os.urandom(16)).decode().rstrip("=")
    if not id.startswith("-"):
        print(id)
        break'
}

# The running broker's cluster id, from a metadata answer (also for a broker
# another checkout started).
cmd_kafka_cluster_id() {
  local py
  py=$(lms_python_venv "$CONFLUENT_KAFKA_REQ" 2>"$LOG_DIR/venv.log") || lms_die "python venv with confluent-kafka unavailable (see $LOG_DIR/venv.log)"
  timeout 20 "$py" - "$KAFKA_HOST:$KAFKA_PORT" <<'PY' || lms_die "kafka: no metadata answer from $KAFKA_HOST:$KAFKA_PORT"
import sys
from confluent_kafka.admin import AdminClient
md = AdminClient({"bootstrap.servers": sys.argv[1], "log_level": 0}).list_topics(timeout=10)
if not md.cluster_id:
    sys.exit(1)
print(md.cluster_id)
PY
}

kafka_port_or_dead() { kafka_port_open || ! kill -0 "$1" 2>/dev/null; }

kafka_up() {
  local how="already running"
  if ! kafka_port_open; then
    kafka_install
    local java
    java=$(kafka_java)
    mkdir -p "$KAFKA_DIR/data" "$LOG_DIR" "$PID_DIR"
    if lms_pid_alive "$KAFKA_PID" kafka.Kafka; then
      lms_die "kafka: pid $(<"$KAFKA_PID") is alive but $KAFKA_HOST:$KAFKA_PORT is closed; run '$0 down' first"
    fi
    kafka_properties
    printf '\n==== %s start: %s:%s (Apache Kafka %s)\n' "$(date -Is)" "$KAFKA_HOST" "$KAFKA_PORT" "$(kafka_version)" >>"$KAFKA_LOG"
    if [[ ! -f "$KAFKA_DIR/data/meta.properties" ]]; then
      # A new node: a fresh cluster id, this node the only voter.
      "$java" -cp "$KAFKA_LIB/*" -Dlog4j2.configurationFile="$KAFKA_LOG4J" kafka.tools.StorageTool format \
        --standalone --ignore-formatted -t "$(kafka_cluster_id)" \
        -c "$KAFKA_DIR/server.properties" >>"$KAFKA_LOG" 2>&1 9>&- ||
        lms_die "kafka: formatting $KAFKA_DIR/data failed (log: $KAFKA_LOG)"
    fi
    (
      exec 9>&- # don't hold the infra.lock
      exec "$java" -Xms256m -Xmx"$KAFKA_HEAP" -XX:+UseG1GC -XX:MaxGCPauseMillis=20 \
        -Djava.awt.headless=true -Dlog4j2.configurationFile="$KAFKA_LOG4J" \
        -Dlms.instance="$KAFKA_NAME" -cp "$KAFKA_LIB/*" kafka.Kafka "$KAFKA_DIR/server.properties" \
        </dev/null >>"$KAFKA_LOG" 2>&1
    ) &
    echo $! >"$KAFKA_PID"
    how="started"
    local pid fail=""
    pid=$(<"$KAFKA_PID")
    lms_wait_until "$UP_TIMEOUT" kafka_port_or_dead "$pid" || fail="port $KAFKA_PORT not open after ${UP_TIMEOUT}s"
    if [[ -z "$fail" ]] && ! kill -0 "$pid" 2>/dev/null; then
      fail="process exited"
    fi
    if [[ -n "$fail" ]]; then
      kill "$pid" 2>/dev/null || true
      rm -f "$KAFKA_PID"
      tail -n 20 "$KAFKA_LOG" >&2 || true
      lms_die "kafka: $fail (log: $KAFKA_LOG)"
    fi
  fi
  # protocol check (also for a broker that was already running)
  local py
  if py=$(lms_python_venv "$CONFLUENT_KAFKA_REQ" 2>"$LOG_DIR/venv.log"); then
    lms_wait_until "$UP_TIMEOUT" kafka_metadata "$py" || {
      tail -n 20 "$KAFKA_LOG" >&2 2>/dev/null || true
      lms_die "kafka: $KAFKA_HOST:$KAFKA_PORT is open but Kafka metadata fails; another program on that port? (log: $KAFKA_LOG)"
    }
  else
    lms_warn "python venv with confluent-kafka unavailable (see $LOG_DIR/venv.log); using a raw ApiVersions probe"
    lms_wait_until "$UP_TIMEOUT" kafka_api_versions || {
      tail -n 20 "$KAFKA_LOG" >&2 2>/dev/null || true
      lms_die "kafka: $KAFKA_HOST:$KAFKA_PORT is open but no ApiVersions answer; another program on that port? (log: $KAFKA_LOG)"
    }
  fi
  report kafka "$KAFKA_HOST:$KAFKA_PORT" "$how ($(kafka_label))"
}

# "Apache Kafka 4.1.1, KRaft" for an instance started here; a broker found
# on the port but not started by this script is named as such.
kafka_label() {
  if lms_pid_alive "$KAFKA_PID" kafka.Kafka; then
    printf 'Apache Kafka %s, KRaft, %s' "$(kafka_version)" "$KAFKA_NAME"
  else
    printf 'a broker not started by this script'
  fi
}

pid_gone() { ! kill -0 "$1" 2>/dev/null; }

wait_pid_gone() { lms_wait_until "$2" pid_gone "$1"; }

kafka_down() {
  if lms_pid_alive "$KAFKA_PID" kafka.Kafka; then
    local pid
    pid=$(<"$KAFKA_PID")
    kill "$pid" 2>/dev/null || true
    if ! wait_pid_gone "$pid" 30; then
      lms_warn "kafka: pid $pid ignored SIGTERM for 30 s; sending SIGKILL"
      kill -9 "$pid" 2>/dev/null || true
      wait_pid_gone "$pid" 5 || true
    fi
    rm -f "$KAFKA_PID"
    report kafka "$KAFKA_HOST:$KAFKA_PORT" "stopped"
  else
    rm -f "$KAFKA_PID"
    if kafka_port_open; then
      report kafka "$KAFKA_HOST:$KAFKA_PORT" "left alone (not started here)"
    else
      report kafka "$KAFKA_HOST:$KAFKA_PORT" "not running"
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
  kafka_up
}

cmd_down() {
  mkdir -p "$PID_DIR"
  take_lock 120
  kafka_down
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
  if kafka_port_open && kafka_api_versions; then report kafka "$KAFKA_HOST:$KAFKA_PORT" "up ($(kafka_label))"; else
    report kafka "$KAFKA_HOST:$KAFKA_PORT" down
    rc=1
  fi
  return "$rc"
}

cmd_env() {
  cat <<EOF
export LMS_DATABASE_URL=postgres://postgres@$PG_HOST:$PG_PORT/$DB_NAME
export LMS_REDIS_URL=redis://$REDIS_HOST:$REDIS_PORT
export LMS_KAFKA_BROKERS=$KAFKA_HOST:$KAFKA_PORT
export LMS_KAFKA_LIB=$KAFKA_LIB
export LMS_SCHEMA_REGISTRY_URL=$SCHEMA_REGISTRY_URL
EOF
}

usage() {
  awk 'NR > 1 && !/^#/ { exit } NR > 1 { sub(/^# ?/, ""); print }' "${BASH_SOURCE[0]}"
}

# A broker with no data: stops this instance (if ours), wipes its data and
# starts it again, formatted anew (seconds).
cmd_kafka_fresh() {
  mkdir -p "$LOG_DIR" "$PID_DIR"
  take_lock 3600
  kafka_down
  rm -rf "$KAFKA_DIR"
  kafka_up
}

# Debian's Chromium for the browser tests (Playwright drives it; no test
# tool downloads a browser of its own).
cmd_browser() {
  command -v chromium >/dev/null || apt_install chromium
  chromium --version
}

case "${1:-}" in
  up) cmd_up ;;
  down) cmd_down ;;
  kafka-fresh) cmd_kafka_fresh ;;
  kafka-cluster-id)
    mkdir -p "$LOG_DIR"
    cmd_kafka_cluster_id
    ;;
  status) cmd_status ;;
  env) cmd_env ;;
  browser) cmd_browser ;;
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
