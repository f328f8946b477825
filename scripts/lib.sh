# shellcheck shell=bash
# Shared helpers for the repo's bash scripts. Source it; don't execute it:
#   . "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# Defines: LMS_ROOT, LMS_HOME, lms_log/lms_warn/lms_die, lms_port_open,
# lms_wait_until, lms_pid_alive, lms_python_venv.

if [[ -n "${_LMS_LIB_SOURCED:-}" ]]; then
  return 0
fi
_LMS_LIB_SOURCED=1

LMS_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
LMS_HOME="${LMS_HOME:-$LMS_ROOT/.lms}"
export LMS_ROOT LMS_HOME

lms_log() { printf '%s\n' "$*" >&2; }
lms_warn() { printf 'warning: %s\n' "$*" >&2; }
lms_die() {
  printf 'error: %s\n' "$*" >&2
  exit 1
}

# lms_port_open HOST PORT: true if a TCP connect succeeds within 1 s.
lms_port_open() {
  # shellcheck disable=SC2016 # expanded by the inner bash
  timeout 1 bash -c 'exec 3<>"/dev/tcp/$1/$2"' _ "$1" "$2" 2>/dev/null
}

# lms_wait_until SECONDS CMD [ARGS...]: retry CMD every 0.5 s until it
# succeeds (return 0) or SECONDS pass (return 1).
lms_wait_until() {
  local limit=$1
  shift
  local deadline=$((SECONDS + limit))
  while ((SECONDS < deadline)); do
    if "$@"; then
      return 0
    fi
    sleep 0.5
  done
  "$@"
}

# lms_pid_alive PIDFILE [NAME]: true if PIDFILE names a live process (whose
# command line contains NAME, when given).
lms_pid_alive() {
  local file=$1 name=${2:-} pid
  [[ -f "$file" ]] || return 1
  pid=$(<"$file")
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  kill -0 "$pid" 2>/dev/null || return 1
  if [[ -n "$name" ]]; then
    tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q -- "$name" || return 1
  fi
}

# lms_python_venv [REQ...] [-r FILE...]: make sure $LMS_HOME/venv exists and
# holds the given requirements (pip specs such as 'confluent-kafka==2.16.*').
# pip runs only when something is missing or doesn't match. Prints the venv's
# python path on stdout.
lms_python_venv() {
  local venv="$LMS_HOME/venv" py reqs=() files=() line
  while (($#)); do
    case $1 in
      -r)
        [[ $# -ge 2 ]] || lms_die "python-venv: -r needs a file"
        files+=("$2")
        shift 2
        ;;
      *)
        reqs+=("$1")
        shift
        ;;
    esac
  done
  local f
  for f in "${files[@]}"; do
    [[ -f "$f" ]] || lms_die "python-venv: no such file: $f"
    while IFS= read -r line || [[ -n "$line" ]]; do
      line="${line%%#*}"
      line="${line#"${line%%[![:space:]]*}"}"
      line="${line%"${line##*[![:space:]]}"}"
      [[ -z "$line" || "$line" == -* ]] && continue
      reqs+=("$line")
    done <"$f"
  done

  py="$venv/bin/python"
  if [[ ! -x "$py" ]]; then
    local base
    base=$(command -v python3 || true)
    [[ -n "$base" ]] || lms_die "python3 not found (needed for $venv)"
    lms_log "python: creating venv $venv"
    mkdir -p "$LMS_HOME"
    "$base" -m venv "$venv" || lms_die "python3 -m venv $venv failed"
  fi

  if ((${#reqs[@]} == 0 && ${#files[@]} == 0)); then
    printf '%s\n' "$py"
    return 0
  fi

  local missing
  missing=$("$py" - "${reqs[@]}" <<'PY' 2>/dev/null || echo "?"
import sys
from importlib import metadata
try:
    from packaging.requirements import Requirement
except ImportError:
    from pip._vendor.packaging.requirements import Requirement
bad = []
for spec in sys.argv[1:]:
    try:
        req = Requirement(spec)
        if req.marker is not None and not req.marker.evaluate():
            continue
        ver = metadata.version(req.name)
        if req.specifier and not req.specifier.contains(ver, prereleases=True):
            bad.append(spec)
    except Exception:
        bad.append(spec)
print(" ".join(bad))
PY
  )
  if [[ -n "$missing" ]]; then
    lms_log "python: pip install into $venv: ${missing}"
    local args=() f2
    for f2 in "${files[@]}"; do args+=(-r "$f2"); done
    "$py" -m pip install --disable-pip-version-check -q "${reqs[@]}" "${args[@]}" >&2 ||
      lms_die "pip install failed (${reqs[*]} ${files[*]})"
  fi
  printf '%s\n' "$py"
}
