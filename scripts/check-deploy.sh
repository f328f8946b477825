#!/usr/bin/env bash
# Checks the deployment manifests (k8s/, Dockerfile): kustomize builds, Kubernetes schema
# validation, checkov, that every workload runs a binary the workspace builds, and that every
# workspace binary is deployed with every setting it reads. Runnable from any directory;
# exits non-zero on any failure. The checker's own tests (scripts/deploy/test_*.py) run first.
#   scripts/check-deploy.sh              # everything
#   scripts/check-deploy.sh --self-test  # only the checker's tests
#   scripts/check-deploy.sh --help       # options of the checker itself
# Tools go into .lms/venv-deploy (git-ignored), installed only when missing or when
# scripts/deploy/requirements.txt changed.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="$root/.lms/venv-deploy"
req="$root/scripts/deploy/requirements.txt"
stamp="$venv/.requirements.sha256"

want="$(sha256sum "$req" | cut -d' ' -f1)"
if [[ ! -x "$venv/bin/python" || ! -f "$stamp" || "$(cat "$stamp")" != "$want" ]]; then
  echo "== tools: installing into ${venv#"$root"/} (pip: $(grep -v '^#' "$req" | xargs))"
  start=$SECONDS
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$req"
  echo "$want" > "$stamp"
  echo "   installed in $((SECONDS - start))s"
fi

echo "== 0. self-test: the checker's tests (scripts/deploy/test_*.py)"
if ! "$venv/bin/python" -m unittest discover -s "$root/scripts/deploy" -p 'test_*.py' 2>"$venv/self-test.log"; then
  cat "$venv/self-test.log" >&2
  echo "check-deploy: FAILED, the checker's own tests fail (above)" >&2
  exit 1
fi
echo "   ok   $(grep -E '^Ran [0-9]+ tests?' "$venv/self-test.log")"
if [[ "${1:-}" == "--self-test" ]]; then
  exit 0
fi

exec "$venv/bin/python" "$root/scripts/deploy/check_deploy.py" --root "$root" "$@"
