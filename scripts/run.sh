#!/usr/bin/env bash
# The run command: brings up the infrastructure, builds and starts the
# services, loads a small demo data set through the gRPC API, and prints
# where to look. Stays in the foreground (Ctrl-C stops the services) unless
# --detach is given.
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
COMMANDS_PID="$PID_DIR/lms-commands.pid"
GRPC_ADDR=127.0.0.1:50051
METRICS_ADDR=127.0.0.1:9101
mkdir -p "$PID_DIR" "$LOG_DIR"

stop_services() {
  if lms_pid_alive "$COMMANDS_PID" lms-commands; then
    kill -TERM "$(cat "$COMMANDS_PID")" 2>/dev/null || true
    lms_wait_until 15 bash -c "! kill -0 $(cat "$COMMANDS_PID") 2>/dev/null" ||
      kill -KILL "$(cat "$COMMANDS_PID")" 2>/dev/null || true
    echo "lms-commands stopped"
  fi
  rm -f "$COMMANDS_PID"
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

echo "==> infrastructure"
scripts/infra.sh up
eval "$(scripts/infra.sh env)"

echo "==> build"
cargo build --locked -p lms-commands -p xtask

echo "==> services"
stop_services
# Settings the binaries read; see docs/deploy.md for the full list.
export LMS_GRPC_ADDR="$GRPC_ADDR" LMS_METRICS_ADDR="$METRICS_ADDR"
nohup target/debug/lms-commands >"$LOG_DIR/lms-commands.log" 2>&1 &
echo $! >"$COMMANDS_PID"
if ! target/debug/xtask --endpoint "http://$GRPC_ADDR" health --wait 60; then
  tail -n 30 "$LOG_DIR/lms-commands.log" >&2
  lms_die "lms-commands did not become healthy"
fi

echo "==> demo data"
target/debug/xtask --endpoint "http://$GRPC_ADDR" demo

cat <<EOT

The LMS is running.
  gRPC commands   $GRPC_ADDR   (lms.command.v1; reflection and grpc.health.v1 enabled)
  metrics         http://$METRICS_ADDR/metrics
  event store     $LMS_DATABASE_URL   (tables events, snapshots, command_log)
  Kafka (tansu)   $LMS_KAFKA_BROKERS
  logs            $LOG_DIR/

Try it (our bundled client; grpcurl works too, through reflection):
  target/debug/xtask --role instructor --actor 0190b5b4-0000-7000-8000-000000000001 \\
      create-course --title "My course" --instructor 0190b5b4-0000-7000-8000-000000000001 --capacity 5
  grpcurl -plaintext -H 'x-actor-id: 0190b5b4-0000-7000-8000-000000000001' -H 'x-actor-role: admin' \\
      -d '{"command_id":"demo-1","title":"T","instructor_ids":["0190b5b4-0000-7000-8000-000000000001"],"capacity":3}' \\
      $GRPC_ADDR lms.command.v1.CourseCommands/CreateCourse
  psql $LMS_DATABASE_URL -c 'select position, aggregate_type, event_type, sequence from events order by position'
EOT

if [[ "$detach" == 1 ]]; then
  echo "Services left running; stop them with: scripts/run.sh stop"
  exit 0
fi
trap 'echo; stop_services; exit 0' INT TERM
echo "Following the service log; Ctrl-C stops the services."
tail -n 0 -f "$LOG_DIR/lms-commands.log" &
wait "$(cat "$COMMANDS_PID")"
