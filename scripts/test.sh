#!/usr/bin/env bash
# The test command: sets up what the tests need, then runs every check —
# formatting, clippy (-D warnings), unit and integration tests against real
# Postgres/Redis/Kafka on loopback, the web app's unit tests, its browser
# tests (Playwright in Chromium) on the whole stack, and the deployment
# manifests check.
#
#   scripts/test.sh             everything
#   scripts/test.sh --no-deploy skip the Kubernetes manifest check
set -euo pipefail
# shellcheck source=scripts/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$LMS_ROOT"

deploy=1
for arg in "$@"; do
  case "$arg" in
    --no-deploy) deploy=0 ;;
    *) lms_die "unknown option: $arg" ;;
  esac
done

started=$SECONDS
step() { printf '\n==> %s\n' "$*"; }

step "toolchain"
for component in rustfmt clippy; do
  rustup component list --installed 2>/dev/null | grep -q "^$component" ||
    rustup component add "$component"
done
cargo --version

step "infrastructure"
scripts/infra.sh up
eval "$(scripts/infra.sh env)"
# Tests get a broker of their own, empty each run: every test creates topics
# under a unique prefix, and an empty broker keeps runs independent of each
# other and of the run command's data.
export LMS_KAFKA_NAME=kafka-test LMS_KAFKA_PORT=19092
scripts/infra.sh kafka-fresh
export LMS_KAFKA_BROKERS=127.0.0.1:19092
# Python peers for the interop tests (confluent-kafka, fastavro).
LMS_PYTHON="$(scripts/infra.sh python-venv -r scripts/python-requirements.txt)"
export LMS_PYTHON
# Tests create their own databases (lms_test_*); drop any a crashed run left.
psql -h 127.0.0.1 -U postgres -X -q -tA -c \
  "SELECT datname FROM pg_database WHERE datname LIKE 'lms\_test\_%'" |
  while read -r db; do
    [[ -n "$db" ]] && psql -h 127.0.0.1 -U postgres -X -q -c "DROP DATABASE IF EXISTS \"$db\" WITH (FORCE)"
  done

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy --all-targets -- -D warnings"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "cargo test (unit + integration)"
export LMS_TEST_DATABASE_URL="postgres://postgres@127.0.0.1:5432/postgres"
cargo test --workspace --locked

step "the web API against its OpenAPI document (schemathesis)"
cargo test --locked -p lms-bff --test bff -- --ignored --exact the_api_holds_its_document

step "web app: packages, unit tests, audit, build"
scripts/web.sh install
(cd web && npm test --silent)
scripts/web.sh audit
scripts/web.sh build

step "web app in a browser (Playwright, Chromium) on the whole stack"
scripts/infra.sh browser
export LMS_SCREENSHOTS="$LMS_ROOT/target/ui-screenshots"
cargo test --locked -p lms-bff --test bff -- --ignored --exact the_web_app_passes_its_browser_tests
echo "screenshots of every page: $LMS_SCREENSHOTS"

if [[ "$deploy" == 1 ]]; then
  step "deployment manifests"
  scripts/check-deploy.sh
fi

printf '\nAll checks passed in %ss.\n' "$((SECONDS - started))"
