#!/usr/bin/env bash
# Checks the deployment manifests (k8s/, Dockerfile): kustomize builds, Kubernetes schema
# validation, checkov, and that every workspace binary is deployed with every setting it
# reads. Runnable from any directory; exits non-zero on any failure.
#   scripts/check-deploy.sh              # everything
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

exec "$venv/bin/python" "$root/scripts/deploy/check_deploy.py" --root "$root" "$@"
