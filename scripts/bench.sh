#!/usr/bin/env bash
# The benchmark command (issue #5; never part of the tests): brings up the
# infrastructure, builds the release binaries, starts a fresh Kafka broker of
# its own (instance "kafka-bench" on 127.0.0.1:29092, beside the dev one) and
# runs lms-bench, which prints the table (docs/benchmarks.md).
#
#   scripts/bench.sh                        every workload, default sizes
#   scripts/bench.sh --workload commands,relay --duration 10
#   scripts/bench.sh --rebuild-events 1000000
#   scripts/bench.sh --debug ...            debug binaries (quick to build; not for recorded numbers)
#   scripts/bench.sh --help                 lms-bench's options
#
# The services run against the database lms_bench (dropped and created each
# run), the Redis prefix lmsbench and a per-run topic prefix; their logs go
# to .lms/logs/bench-*.log. The bench broker is left running (the next run
# wipes and restarts it).
set -euo pipefail
# shellcheck source=scripts/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$LMS_ROOT"

profile=release
if [[ "${1:-}" == --debug ]]; then
  profile=debug
  shift
fi
BENCH_KAFKA_PORT="${LMS_BENCH_KAFKA_PORT:-29092}"

echo "==> infrastructure" >&2
scripts/infra.sh up >&2
eval "$(scripts/infra.sh env)"

echo "==> build ($profile)" >&2
flags=(--locked)
if [[ "$profile" == release ]]; then
  flags+=(--release)
fi
# Two builds: in one, cargo would unify lms-bench's extra tokio features
# (process) into the services and rebuild them, unlike the run command's.
cargo build "${flags[@]}" -p lms-identity -p lms-commands -p lms-relay -p lms-schema-registry -p lms-query \
  -p lms-projections -p lms-replay >&2
cargo build "${flags[@]}" -p lms-bench >&2

echo "==> bench broker (kafka-bench on 127.0.0.1:$BENCH_KAFKA_PORT, fresh)" >&2
LMS_KAFKA_NAME=kafka-bench LMS_KAFKA_PORT="$BENCH_KAFKA_PORT" scripts/infra.sh kafka-fresh >&2

echo "==> lms-bench" >&2
exec "target/$profile/lms-bench" --kafka-brokers "127.0.0.1:$BENCH_KAFKA_PORT" \
  --log-dir "$LMS_HOME/logs" "$@"
