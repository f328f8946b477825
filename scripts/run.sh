#!/usr/bin/env bash
# The run command: brings up the infrastructure, builds and starts the
# web app and the services (schema registry, identity service, command
# service, outbox relay, query service, projection workers, the web API that
# serves the web app), creates the demo admin, loads
# a small demo data set through the gRPC command API (users sign up and
# sign in) and reads it back through the query API, shows the events on
# Kafka, and prints where to look and how to sign in. Stays in the foreground (Ctrl-C stops the
# services) unless --detach is given.
#
#   scripts/run.sh            run in the foreground
#   scripts/run.sh --detach   leave the services running in the background
#   scripts/run.sh stop       stop the services (infra: scripts/infra.sh down)
set -euo pipefail
# shellcheck source=scripts/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$LMS_ROOT"

PID_DIR="$LMS_HOME/pids"
LOG_DIR="$LMS_HOME/logs"
GRPC_ADDR=127.0.0.1:50051
COMMANDS_METRICS=127.0.0.1:9101
RELAY_METRICS=127.0.0.1:9102
REGISTRY_ADDR=127.0.0.1:8081
QUERY_ADDR=127.0.0.1:50052
QUERY_METRICS=127.0.0.1:9103
PROJECTIONS_METRICS=127.0.0.1:9104
IDENTITY_ADDR=127.0.0.1:50053
IDENTITY_METRICS=127.0.0.1:9105
JWKS_ADDR=127.0.0.1:8083
BFF_ADDR=127.0.0.1:8080
BFF_METRICS=127.0.0.1:9106
JWKS_URL="http://$JWKS_ADDR/.well-known/jwks.json"
KEYS_DIR="$LMS_HOME/keys"
SIGNING_KID=dev-1
ADMIN_EMAIL=admin@lms.local
ADMIN_PASSWORD_FILE="$LMS_HOME/demo-admin-password"
REGISTRY_PASSWORD_FILE="$LMS_HOME/registry-admin-password"
# Stopped in this order: the read side first, the registry last.
SERVICES=(lms-bff lms-projections lms-query lms-relay lms-commands lms-identity lms-schema-registry)
mkdir -p "$PID_DIR" "$LOG_DIR"

stop_services() {
  local name pid_file
  for name in "${SERVICES[@]}"; do
    pid_file="$PID_DIR/$name.pid"
    if lms_pid_alive "$pid_file" "$name"; then
      kill -TERM "$(cat "$pid_file")" 2>/dev/null || true
      lms_wait_until 15 bash -c "! kill -0 $(cat "$pid_file") 2>/dev/null" ||
        kill -KILL "$(cat "$pid_file")" 2>/dev/null || true
      echo "$name stopped"
    fi
    rm -f "$pid_file"
  done
}

# start NAME [ENV=VALUE...] [-- ARG...]: runs target/debug/NAME in the background.
start() {
  local name=$1 vars=()
  shift
  while (($#)) && [[ "$1" != -- ]]; do
    vars+=("$1")
    shift
  done
  if [[ "${1:-}" == -- ]]; then
    shift
  fi
  env "${vars[@]}" nohup "target/debug/$name" "$@" >"$LOG_DIR/$name.log" 2>&1 &
  echo $! >"$PID_DIR/$name.pid"
}

# ready NAME CHECK...: waits for CHECK, or shows the log and fails.
ready() {
  local name=$1
  shift
  if ! lms_wait_until 60 "$@"; then
    tail -n 30 "$LOG_DIR/$name.log" >&2
    lms_die "$name did not become ready (log: $LOG_DIR/$name.log)"
  fi
  echo "$name ready"
}

detach=0
case "${1:-}" in
  stop)
    stop_services
    exit 0
    ;;
  --detach) detach=1 ;;
  "") ;;
  *) lms_die "usage: scripts/run.sh [--detach | stop]" ;;
esac

# The database's Kafka positions (read-model checkpoints, the outbox's
# published marks) and the Redis read models were filled from one broker.
# This checkout's Kafka lives under .lms/, the database is the machine's:
# beside a broker it was not filled from (another checkout, .lms/ removed)
# the checkpoints point into a log that is not there, and the workers would
# skip the new broker's first records as applied. The broker's cluster id
# (chosen when its storage is formatted) names it; when the database names
# another, the local demo database, its Redis keys and the broker all start
# afresh.
kafka_cluster_id() { scripts/infra.sh kafka-cluster-id; }

pair_with_broker() {
  local broker paired
  broker="$(kafka_cluster_id)"
  paired="$(psql "$LMS_DATABASE_URL" -X -q -tA -c 'SELECT broker_id FROM lms_local_broker' 2>/dev/null || true)"
  [[ "$paired" == "$broker" ]] && return 0
  if [[ -n "$(psql "$LMS_DATABASE_URL" -X -q -tA -c "SELECT to_regclass('public.events')")" ]]; then
    echo "the lms database was filled from another Kafka broker than this checkout's (.lms/kafka): starting it, the lms:* Redis keys and the broker afresh"
    local db="${LMS_DATABASE_URL##*/}" admin="${LMS_DATABASE_URL%/*}/postgres"
    psql "$admin" -X -q -c "DROP DATABASE $db WITH (FORCE)" -c "CREATE DATABASE $db" >/dev/null
    redis-cli -u "$LMS_REDIS_URL" --scan --pattern 'lms:*' | xargs -r -n 500 redis-cli -u "$LMS_REDIS_URL" DEL >/dev/null
    # The broker too: its topics and group offsets belong to the old data.
    scripts/infra.sh kafka-fresh
    broker="$(kafka_cluster_id)"
  fi
  psql "$LMS_DATABASE_URL" -X -q -v ON_ERROR_STOP=1 >/dev/null <<SQL
CREATE TABLE IF NOT EXISTS lms_local_broker (broker_id text NOT NULL);
DELETE FROM lms_local_broker;
INSERT INTO lms_local_broker VALUES ('$broker');
SQL
}

echo "==> infrastructure"
scripts/infra.sh up
eval "$(scripts/infra.sh env)"
pair_with_broker

echo "==> build"
cargo build --locked -p lms-commands -p lms-relay -p lms-schema-registry -p lms-query -p lms-projections -p lms-identity -p lms-bff -p lms-cli

echo "==> web app"
scripts/web.sh build

echo "==> keys, the demo admin's and the registry admin's passwords"
# A development signing key, made once; in Kubernetes the keys are a Secret.
mkdir -p "$KEYS_DIR"
chmod 700 "$KEYS_DIR"
if [[ ! -f "$KEYS_DIR/$SIGNING_KID.pem" ]]; then
  target/debug/lms-identity new-key --dir "$KEYS_DIR" --kid "$SIGNING_KID"
fi
if [[ ! -s "$ADMIN_PASSWORD_FILE" ]]; then
  (umask 077 && head -c 18 /dev/urandom | base64 | tr -d '/+=' >"$ADMIN_PASSWORD_FILE")
fi
ADMIN_PASSWORD="$(cat "$ADMIN_PASSWORD_FILE")"
# The registry's writes (registering, deleting, configuring) need a credential;
# the relay registers the schemas it publishes with it.
if [[ ! -s "$REGISTRY_PASSWORD_FILE" ]]; then
  (umask 077 && head -c 18 /dev/urandom | base64 | tr -d '/+=' >"$REGISTRY_PASSWORD_FILE")
fi
REGISTRY_PASSWORD="$(cat "$REGISTRY_PASSWORD_FILE")"
IDENTITY_ENV=(LMS_SIGNING_KEYS_DIR="$KEYS_DIR" LMS_SIGNING_KID="$SIGNING_KID")
AUTH_ENV=(LMS_AUTH_JWKS="$JWKS_URL")

echo "==> services"
stop_services
start lms-schema-registry LMS_HTTP_ADDR="$REGISTRY_ADDR" LMS_ADMIN_PASSWORD="$REGISTRY_PASSWORD"
ready lms-schema-registry lms_port_open 127.0.0.1 "${REGISTRY_ADDR##*:}"
# The BFF runs on this machine: identity believes the browser address it
# forwards (the per-address login limit counts browsers, not the BFF).
start lms-identity "${IDENTITY_ENV[@]}" LMS_GRPC_ADDR="$IDENTITY_ADDR" \
  LMS_METRICS_ADDR="$IDENTITY_METRICS" LMS_JWKS_ADDR="$JWKS_ADDR" LMS_TRUSTED_PROXIES=127.0.0.1
ready lms-identity target/debug/lms --endpoint "http://$IDENTITY_ADDR" health
# The first admin cannot be granted by anyone: the operator creates it.
# Again for the same email, it changes nothing.
env "${IDENTITY_ENV[@]}" LMS_BOOTSTRAP_PASSWORD="$ADMIN_PASSWORD" \
  target/debug/lms-identity bootstrap-admin --email "$ADMIN_EMAIL" --display-name "Demo admin" >/dev/null
echo "demo admin $ADMIN_EMAIL ready"
start lms-commands "${AUTH_ENV[@]}" LMS_GRPC_ADDR="$GRPC_ADDR" LMS_METRICS_ADDR="$COMMANDS_METRICS"
ready lms-commands target/debug/lms --endpoint "http://$GRPC_ADDR" health
start lms-relay LMS_METRICS_ADDR="$RELAY_METRICS" LMS_SCHEMA_REGISTRY_URL="http://$REGISTRY_ADDR" \
  LMS_SCHEMA_REGISTRY_PASSWORD="$REGISTRY_PASSWORD"
ready lms-relay lms_port_open 127.0.0.1 "${RELAY_METRICS##*:}"
# lms-query migrates the read models before it serves, so it goes first.
start lms-query "${AUTH_ENV[@]}" LMS_GRPC_ADDR="$QUERY_ADDR" LMS_METRICS_ADDR="$QUERY_METRICS"
ready lms-query target/debug/lms --endpoint "http://$QUERY_ADDR" health
start lms-projections LMS_METRICS_ADDR="$PROJECTIONS_METRICS" \
  LMS_SCHEMA_REGISTRY_URL="http://$REGISTRY_ADDR" -- run
ready lms-projections lms_port_open 127.0.0.1 "${PROJECTIONS_METRICS##*:}"
start lms-bff LMS_HTTP_ADDR="$BFF_ADDR" LMS_METRICS_ADDR="$BFF_METRICS" \
  LMS_IDENTITY_ENDPOINT="http://$IDENTITY_ADDR" LMS_COMMANDS_ENDPOINT="http://$GRPC_ADDR" \
  LMS_QUERY_ENDPOINT="http://$QUERY_ADDR" LMS_WEB_DIR="$LMS_ROOT/web/dist"
ready lms-bff curl -fsS -o /dev/null "http://$BFF_ADDR/healthz"

echo "==> demo data"
# The demo ends by reading its data back through lms-query. The projection
# workers need a few seconds to join their consumer groups: the
# demo's queries wait for the command replies' positions and, while the
# server answers UNAVAILABLE (READ_MODEL_BEHIND), ask again after the
# RetryInfo delay, for at most 60 s.
LMS_DEMO_ADMIN_EMAIL="$ADMIN_EMAIL" LMS_DEMO_ADMIN_PASSWORD="$ADMIN_PASSWORD" \
  target/debug/lms --endpoint "http://$GRPC_ADDR" --query-endpoint "http://$QUERY_ADDR" \
  --identity-endpoint "http://$IDENTITY_ADDR" demo

echo "==> the web API (lms-bff)"
# As a browser would: log in (the session is a cookie), then read.
login_headers="$(printf '{"email":"%s","password":"%s"}' "$ADMIN_EMAIL" "$ADMIN_PASSWORD" |
  curl -fsS -D - -o /dev/null -H 'content-type: application/json' --data @- \
    "http://$BFF_ADDR/api/auth/login")"
session_cookie="$(printf '%s' "$login_headers" | tr -d '\r' |
  sed -n 's/^[Ss]et-[Cc]ookie: \(lms_session=[^;]*\).*/\1/p')"
[[ -n "$session_cookie" ]] || lms_die "lms-bff: the login set no session cookie"
published="$(curl -fsS -H "cookie: $session_cookie" "http://$BFF_ADDR/api/courses?status=published" |
  python3 -c 'import json, sys; print(len(json.load(sys.stdin)["courses"]))')"
echo "lms-bff: signed in as $ADMIN_EMAIL through /api/auth/login; GET /api/courses lists $published published courses"

echo "==> outbox"
# The relay publishes asynchronously: wait until the outbox is drained.
outbox_empty() {
  [[ "$(psql "$LMS_DATABASE_URL" -X -q -tA -c 'SELECT count(*) FROM outbox WHERE published_at IS NULL')" == 0 ]]
}
ready lms-relay outbox_empty
echo "every event is on Kafka; the latest records, decoded through the registry:"
target/debug/lms events --idle-timeout 3 | tail -n 12

cat <<EOT

The LMS is running. Open the web app:

  http://$BFF_ADDR      sign in as $ADMIN_EMAIL (password in $ADMIN_PASSWORD_FILE),
                             as a demo user above, or sign up

  web API (BFF)     http://$BFF_ADDR/api   (HTTP/JSON for the web app; document: http://$BFF_ADDR/openapi.json)
  gRPC identity     $IDENTITY_ADDR   (lms.identity.v1: register, login, refresh, profile, roles)
  JWKS              $JWKS_URL   (the public keys every service verifies tokens with)
  gRPC commands     $GRPC_ADDR   (lms.command.v1; reflection and grpc.health.v1 enabled)
  gRPC queries      $QUERY_ADDR   (lms.query.v1, lms-query; reflection and grpc.health.v1 enabled)
  projections       lms-projections: course-catalog, roster, student-dashboard, billing, users
                    (consumer groups lms.projection.<name>, dead letters on lms.dlq.v1)
  schema registry   http://$REGISTRY_ADDR   (Confluent API: /subjects, /schemas/ids/{id}, /config;
                    writes as lms-admin, password in $REGISTRY_PASSWORD_FILE)
  Kafka             $LMS_KAFKA_BROKERS   topics lms.course.v1, lms.enrollment.v1, lms.subscription.v1, lms.user.v1
  metrics           http://$IDENTITY_METRICS/metrics (identity), http://$COMMANDS_METRICS/metrics (commands), http://$RELAY_METRICS/metrics (relay),
                    http://$QUERY_METRICS/metrics (queries), http://$PROJECTIONS_METRICS/metrics (projections),
                    http://$BFF_METRICS/metrics (web API)
  event store       $LMS_DATABASE_URL   (tables events, outbox, command_log)
  read models       same database, schemas catalog, roster, dashboard, billing; Redis $LMS_REDIS_URL (keys lms:*)
  logs              $LOG_DIR/

Sign in (every call needs an access token; the demo's users are listed above):
  admin             $ADMIN_EMAIL, password in $ADMIN_PASSWORD_FILE
  export LMS_ACCESS_TOKEN=\$(LMS_PASSWORD="\$(cat $ADMIN_PASSWORD_FILE)" target/debug/lms login --email $ADMIN_EMAIL)
  LMS_PASSWORD='a long password' target/debug/lms register --email you@example.com --display-name You

Try it (our bundled client; grpcurl works too, through reflection):
  target/debug/lms create-course --title "My course" --capacity 5      # as the signed-in user
  grpcurl -plaintext -H "authorization: Bearer \$LMS_ACCESS_TOKEN" \\
      -d '{"command_id":"demo-1","title":"T","capacity":3}' $GRPC_ADDR lms.command.v1.CourseCommands/CreateCourse
  target/debug/lms events            # every record on the topics, decoded (--json for all fields)
  target/debug/lms list-courses --status published      # the query API, lms.query.v1 on $QUERY_ADDR
  target/debug/lms get-course <course id from the demo>  # also roster, dashboard, subscription, invoices
  psql $LMS_DATABASE_URL -c 'select position, aggregate_type, event_type, sequence from events order by position'
EOT

if [[ "$detach" == 1 ]]; then
  echo "Services left running; stop them with: scripts/run.sh stop"
  exit 0
fi
trap 'echo; stop_services; exit 0' INT TERM
echo "Following the service logs; Ctrl-C stops the services."
tail -n 0 -f "$LOG_DIR"/lms-*.log &
wait "$(cat "$PID_DIR/lms-commands.pid")"
