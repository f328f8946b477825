"""Tests of the deploy checker (scripts/deploy/check_deploy.py), step 4 "binaries": a workload
that names a binary the workspace does not build fails the check.

scripts/check-deploy.sh runs them before the check; by hand, with the venv it installs:
  .lms/venv-deploy/bin/python -m unittest discover -s scripts/deploy -v
Standard library + PyYAML only; the end-to-end cases also need cargo and the venv's kubectl
(skipped without them).
"""

from __future__ import annotations

import contextlib
import io
import shutil
import sys
import tempfile
import textwrap
import unittest
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import check_deploy as cd  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
DEFAULT = ([], ["lms-commands"])  # the Dockerfile's ENTRYPOINT/CMD: CMD ["lms-commands"]


def deployment(name: str, container: dict, kind: str = "Deployment") -> dict:
    pod = {"containers": [dict({"name": "main"}, **container)]}
    if kind == "CronJob":
        spec = {"schedule": "@daily", "jobTemplate": {"spec": {"template": {"spec": pod}}}}
    else:
        spec = {"template": {"spec": pod}}
    return {"apiVersion": "apps/v1", "kind": kind, "metadata": {"name": name}, "spec": spec}


class CheckerTest(unittest.TestCase):
    def setUp(self) -> None:
        cd.failures.clear()

    def tearDown(self) -> None:
        cd.failures.clear()

    def run_check(self, docs: list[dict], built: set[str]) -> list[str]:
        with contextlib.redirect_stdout(io.StringIO()):
            cd.check_binaries({"overlays/test": docs}, built, DEFAULT)
        return list(cd.failures)


class BinariesTest(CheckerTest):
    BUILT = {"lms-bff", "lms-commands", "lms-query", "lms-replay"}
    IMAGE = "ghcr.io/steinerlabs/lms-backend:sha-abc"

    def test_a_deployment_naming_an_unbuilt_binary_fails(self):
        failures = self.run_check(
            [deployment("lms-bff", {"image": self.IMAGE, "command": ["lms-web"]})], self.BUILT)
        self.assertEqual(len(failures), 1, failures)
        self.assertIn("k8s/overlays/test Deployment/lms-bff container main", failures[0])
        self.assertIn("runs `lms-web`, which the workspace does not build", failures[0])
        self.assertIn("lms-bff, lms-commands", failures[0])  # what it does build

    def test_a_binary_listed_as_never_deployed_fails(self):
        with contextlib.redirect_stdout(io.StringIO()):
            cd.check_binaries(
                {"overlays/test": [deployment("bench", {"image": self.IMAGE, "command": ["lms-bench"]})]},
                self.BUILT | {"lms-bench"}, DEFAULT, {"lms-bench": "benchmark command"})
        self.assertEqual(len(cd.failures), 1, cd.failures)
        self.assertIn("runs `lms-bench`, which scripts/deploy/not-deployed.txt says never runs",
                      cd.failures[0])

    def test_built_binaries_pass(self):
        docs = [deployment("a", {"image": self.IMAGE, "command": ["lms-bff"]}),
                deployment("b", {"image": self.IMAGE, "command": ["/usr/local/bin/lms-query"]}),
                deployment("c", {"image": self.IMAGE, "command": ["lms-replay"],
                                 "args": ["rebuild", "x"]}, kind="Job")]
        self.assertEqual(self.run_check(docs, self.BUILT), [])

    def test_every_workload_kind_and_init_containers_are_checked(self):
        for kind in ("StatefulSet", "DaemonSet", "Job", "CronJob", "ReplicaSet"):
            with self.subTest(kind=kind):
                cd.failures.clear()
                failures = self.run_check(
                    [deployment("w", {"image": self.IMAGE, "command": ["lms-gone"]}, kind)],
                    self.BUILT)
                self.assertEqual(len(failures), 1, failures)
                self.assertIn(f"{kind}/w", failures[0])
        cd.failures.clear()
        d = deployment("w", {"image": self.IMAGE, "command": ["lms-bff"]})
        d["spec"]["template"]["spec"]["initContainers"] = [
            {"name": "migrate", "image": self.IMAGE, "command": ["lms-migrate"]}]
        failures = self.run_check([d], self.BUILT)
        self.assertEqual(len(failures), 1, failures)
        self.assertIn("container migrate", failures[0])

    def test_args_without_command_replace_the_image_cmd(self):
        # No command: the image's CMD (lms-commands) runs, or args[0] when args are given.
        ok = deployment("a", {"image": self.IMAGE})
        bad = deployment("b", {"image": self.IMAGE, "args": ["lms-nope", "--flag"]})
        failures = self.run_check([ok, bad], self.BUILT)
        self.assertEqual(len(failures), 1, failures)
        self.assertIn("Deployment/b", failures[0])
        self.assertIn("`lms-nope`", failures[0])

    def test_an_image_cmd_that_is_not_built_fails(self):
        with contextlib.redirect_stdout(io.StringIO()):
            cd.check_binaries({"x": [deployment("a", {"image": "lms-backend"})]},
                              {"lms-bff"}, ([], ["lms-commands"]))
        self.assertEqual(len(cd.failures), 1, cd.failures)
        self.assertIn("`lms-commands`", cd.failures[0])

    def test_a_typo_in_a_program_of_our_image_fails(self):
        # Not lms-*, but our image has nothing else to run.
        failures = self.run_check(
            [deployment("a", {"image": self.IMAGE, "command": ["lms_bff"]})], self.BUILT)
        self.assertEqual(len(failures), 1, failures)
        self.assertIn("`lms_bff`", failures[0])

    def test_shell_scripts_are_searched_for_lms_programs(self):
        script = "set -e; echo start && LMS_LOG=debug exec lms-replay verify x\nlms-old --y"
        failures = self.run_check(
            [deployment("a", {"image": self.IMAGE, "command": ["/bin/sh", "-c", script]})],
            self.BUILT)
        self.assertEqual(len(failures), 1, failures)  # lms-old only: set/echo are the shell's
        self.assertIn("`lms-old`", failures[0])

    def test_other_images_are_checked_only_for_lms_programs(self):
        docs = [deployment("redis", {"image": "redis:7", "command": ["redis-server"]}),
                deployment("busybox", {"image": "busybox", "args": ["sleep", "1"]}),
                deployment("tool", {"image": "example.org/tools:1", "command": ["lms-tool"]})]
        failures = self.run_check(docs, self.BUILT)
        self.assertEqual(len(failures), 1, failures)
        self.assertIn("Deployment/tool", failures[0])
        self.assertIn("image example.org/tools:1", failures[0])

    def test_services_and_config_are_not_workloads(self):
        docs = [{"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s"}, "spec": {}},
                {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"},
                 "data": {"LMS_X": "lms-nope"}}]
        self.assertEqual(self.run_check(docs, self.BUILT), [])


class ParsingTest(unittest.TestCase):
    def test_image_repo(self):
        for image in ("lms-backend", "ghcr.io/steinerlabs/lms-backend:0.0.0-unreleased",
                      "localhost:5000/lms-backend", "r.io/a/lms-backend:t@sha256:0123"):
            self.assertEqual(cd.image_repo(image), "lms-backend", image)
        self.assertEqual(cd.image_repo("ghcr.io/x/lms-backend-debug:1"), "lms-backend-debug")

    def test_container_argv_follows_kubernetes(self):
        image = (["/entry"], ["default"])
        self.assertEqual(cd.container_argv({}, image), ["/entry", "default"])
        self.assertEqual(cd.container_argv({"args": ["a"]}, image), ["/entry", "a"])
        self.assertEqual(cd.container_argv({"command": ["c"]}, image), ["c"])
        self.assertEqual(cd.container_argv({"command": ["c"], "args": ["a"]}, image), ["c", "a"])

    def test_dockerfile_default_is_the_last_stage(self):
        with tempfile.TemporaryDirectory() as tmp:
            f = Path(tmp) / "Dockerfile"
            f.write_text(textwrap.dedent("""\
                FROM node AS web
                CMD ["node"]
                FROM debian
                # CMD ["commented"]
                ENTRYPOINT ["tini", \\
                            "--"]
                CMD lms-bff --flag
                """))
            self.assertEqual(cd.dockerfile_default(f),
                             (["tini", "--"], ["/bin/sh", "-c", "lms-bff --flag"]))

    def test_the_repository_dockerfile_runs_a_workspace_binary_by_default(self):
        entrypoint, cmd = cd.dockerfile_default(ROOT / "Dockerfile")
        self.assertEqual(entrypoint, [])
        self.assertTrue(cmd and cd.LMS_BINARY.match(cmd[0]), cmd)


@unittest.skipUnless(shutil.which("cargo"), "needs cargo")
class EndToEndTest(CheckerTest):
    """The real manifests, rendered as the check renders them, against a workspace."""

    @classmethod
    def setUpClass(cls) -> None:
        kubectl = ROOT / ".lms/venv-deploy/bin/kubectl"
        if not kubectl.exists():
            raise unittest.SkipTest("needs the venv's kubectl (scripts/check-deploy.sh installs it)")
        cls.tmp = tempfile.TemporaryDirectory()
        with contextlib.redirect_stdout(io.StringIO()):
            cls.rendered = cd.build(ROOT, str(kubectl), Path(cls.tmp.name) / "rendered")
        assert not cd.failures, cd.failures
        cd.failures.clear()

    @classmethod
    def tearDownClass(cls) -> None:
        cls.tmp.cleanup()

    def fake_workspace(self, bins: list[str]) -> Path:
        """A cargo workspace with one package per name (its src/main.rs is that binary)."""
        ws = Path(self.tmp.name) / ("ws-" + "-".join(bins))
        members = []
        for b in bins:
            (ws / b / "src").mkdir(parents=True, exist_ok=True)
            (ws / b / "src/main.rs").write_text("fn main() {}\n")
            (ws / b / "Cargo.toml").write_text(
                f'[package]\nname = "{b}"\nversion = "0.1.0"\nedition = "2021"\n')
            members.append(f'"{b}"')
        (ws / "Cargo.toml").write_text(f"[workspace]\nresolver = \"2\"\nmembers = [{', '.join(members)}]\n")
        return ws

    def check_against(self, workspace: Path) -> list[str]:
        found = cd.workspace_bins(workspace)
        self.assertIsNotNone(found, cd.failures)
        names, _ = found
        with contextlib.redirect_stdout(io.StringIO()):
            cd.check_binaries(self.rendered, set(names), cd.dockerfile_default(ROOT / "Dockerfile"),
                              cd.not_deployed(ROOT))
        return list(cd.failures)

    def test_the_real_manifests_run_only_binaries_the_workspace_builds(self):
        self.assertEqual(self.check_against(ROOT), [])

    def test_a_workspace_without_lms_bff_fails_on_the_bff_deployment_of_every_overlay(self):
        bins = ["lms-commands", "lms-identity", "lms-projections", "lms-query", "lms-relay",
                "lms-replay", "lms-schema-registry"]
        failures = self.check_against(self.fake_workspace(bins))
        bff = [f for f in failures if "Deployment/lms-bff container bff" in f]
        self.assertEqual(sorted(f.split()[1] for f in bff),
                         ["k8s/overlays/dev", "k8s/overlays/prod"], failures)
        self.assertTrue(all("runs `lms-bff`, which the workspace does not build" in f for f in bff))
        self.assertEqual(len(failures), 2, failures)  # nothing else is missing

    def test_bin_sections_name_the_binaries_not_the_package(self):
        ws = self.fake_workspace(["lms-commands"])
        (ws / "lms-commands/Cargo.toml").write_text(textwrap.dedent("""\
            [package]
            name = "lms-commands"
            version = "0.1.0"
            edition = "2021"
            autobins = false

            [[bin]]
            name = "lms-cmd"
            path = "src/main.rs"
            """))
        names, _ = cd.workspace_bins(ws)
        self.assertEqual(names, ["lms-cmd"])


if __name__ == "__main__":
    unittest.main()
