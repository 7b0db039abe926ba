"""A new user's way in (issues 13, 21): a wheel built from this repository, installed in a fresh
virtualenv outside it, works on a config-only repository made by `reconcile init`, whose
requirements.txt installs exactly that wheel in the generated workflows' install step and its
pre-commit hook; the schemas ship inside the wheel from the top-level `schemas/`, and resolve for
generic tools. Slow (a wheel build, a few virtualenvs), so each runs once per suite."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import venv
import zipfile
from pathlib import Path

import pytest

from tests.support import REPO_ROOT

REPO = REPO_ROOT
BIN = Path(sys.executable).parent
BROKEN = "connectwise_company: AcmeDental\n"


def run(args, cwd: Path, env: dict | None = None, timeout: float = 600) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("CW_", "TM_", "SANDBOX_", "VIRTUAL_ENV"))}
    return subprocess.run([str(a) for a in args], cwd=cwd, capture_output=True, text=True, timeout=timeout,
                          env={**base, **(env or {})})


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    work = tmp_path_factory.mktemp("wheel")
    built = run([sys.executable, "-m", "pip", "wheel", "-v", "--no-deps", "-w", work / "dist", REPO], work)
    assert built.returncode == 0, built.stderr
    # -v shows the build backend's output: no setuptools deprecation (the SPDX `license` string)
    assert "DeprecationWarning" not in built.stdout + built.stderr
    return next((work / "dist").glob("tmrm_billing_reconciler-*.whl"))


@pytest.fixture(scope="module")
def installed(wheel, tmp_path_factory) -> Path:
    """`reconcile` from a wheel, in a fresh virtualenv with no access to this checkout."""
    work = tmp_path_factory.mktemp("venv")
    venv.create(work / "venv", with_pip=True)
    python = work / "venv" / "bin" / "python"
    done = run([python, "-m", "pip", "install", "--quiet", wheel], work)
    assert done.returncode == 0, done.stderr
    return work / "venv" / "bin" / "reconcile"


def test_a_wheel_in_a_fresh_venv_validates_plans_and_reports_on_an_init_repository(installed, tmp_path):
    assert run([installed, "init", "billing", "--requirement", "tmrm-billing-reconciler==0.1.0"],
               tmp_path).returncode == 0
    repo = tmp_path / "billing"
    assert sorted(p.name for p in repo.iterdir()) == [
        ".github", ".gitignore", ".pre-commit-config.yaml", "README.md", "config", "requirements.txt",
        "schemas", "usage"]
    ok = run([installed, "validate"], repo)
    assert ok.returncode == 0 and "1 customer file" in ok.stdout, ok.stdout + ok.stderr
    plan = run([installed, "--sandbox", "plan", "--send-now", "--format", "json"], repo / "config")
    assert plan.returncode == 0, plan.stderr
    assert [c["customer"] for c in json.loads(plan.stdout)["customers"]] == ["acme-dental"]
    applied = run([installed, "--sandbox", "apply", "--send-now", "--format", "json"], repo)
    assert applied.returncode == 0, applied.stderr
    assert [r["status"] for r in json.loads(applied.stdout)["results"]] == ["sent"]
    reported = run([installed, "--sandbox", "report", "--format", "markdown"], repo)
    assert reported.returncode == 0 and "Customers billed: 1 of 1" in reported.stdout, reported.stderr
    # the schemas come from the package, not from the repository's editor copies
    (repo / "schemas" / "customer.schema.json").write_text("{not json")
    customer = repo / "config" / "customers" / "acme-dental.yaml"
    customer.write_text(customer.read_text().replace(BROKEN, "connectwise_company: 42\n"))
    bad = run([installed, "validate"], repo)
    assert bad.returncode == 1
    assert bad.stdout.startswith("config/customers/acme-dental.yaml:5:22: error: connectwise_company: expected a string")


def test_the_wheel_ships_the_top_level_schemas_and_no_other_copy_exists(wheel):
    names = {path.name for path in (REPO / "schemas").glob("*.json")}
    assert names == {"global.schema.json", "customer.schema.json", "plan.schema.json"}
    with zipfile.ZipFile(wheel) as archive:
        for name in names:
            shipped = archive.read(f"reconciler/schemas/{name}").decode()
            assert shipped == (REPO / "schemas" / name).read_text()
            assert json.loads(shipped)["$id"] == f"urn:tmrm-billing-reconciler:schema:{name.split('.')[0]}"
    assert not (REPO / "reconciler" / "schemas").exists(), "schemas/ at the top is the one source"


def test_init_pins_the_wheel_it_was_installed_from_and_the_workflow_and_hook_install_it(installed, wheel, tmp_path):
    """Issue 21: the generated repository's install steps install the tool. `init` reads where
    pip installed it from (the wheel, with its hash); the workflows' `pip install -r
    requirements.txt` and the pre-commit hook's environment install exactly that."""
    made = run([installed, "init", "billing"], tmp_path)
    assert made.returncode == 0, made.stderr
    assert "a file on this machine" in made.stderr  # said, since GitHub's runners cannot reach it
    repo = tmp_path / "billing"
    (requirement,) = (repo / "requirements.txt").read_text().splitlines()
    assert re.fullmatch(rf"tmrm-billing-reconciler @ {re.escape(wheel.as_uri())}#sha256=[0-9a-f]{{64}}", requirement)
    assert f"additional_dependencies: [{json.dumps(requirement)}]" in (repo / ".pre-commit-config.yaml").read_text()

    # the workflows' install step, as written in each workflow, in a fresh virtualenv
    steps = {re.search(r"run: (python -m pip install .*?)\s+#", (repo / ".github/workflows" / name).read_text())[1]
             for name in ("billing.yml", "drift.yml", "pull-request.yml")}
    assert steps == {"python -m pip install --quiet -r requirements.txt"}
    venv.create(tmp_path / "ci", with_pip=True)
    path = f"{tmp_path / 'ci' / 'bin'}{os.pathsep}{os.environ['PATH']}"
    done = run(["bash", "-c", steps.pop()], repo, {"PATH": path})
    assert done.returncode == 0, done.stdout + done.stderr
    ok = run([tmp_path / "ci" / "bin" / "reconcile", "validate"], repo)
    assert ok.returncode == 0 and "config OK" in ok.stdout, ok.stdout + ok.stderr

    # the pre-commit hook: pre-commit builds its environment from additional_dependencies
    git = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@x", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@x", "PRE_COMMIT_HOME": str(tmp_path / "cache")}
    for args in (["init", "-q"], ["add", "."], ["commit", "-qm", "config"]):
        assert run(["git", *args], repo, git).returncode == 0
    hook = run([BIN / "pre-commit", "run", "reconcile-validate", "--all-files"], repo, git)
    assert hook.returncode == 0 and "Passed" in hook.stdout, hook.stdout + hook.stderr
    customer = repo / "config" / "customers" / "acme-dental.yaml"
    customer.write_text(customer.read_text().replace(BROKEN, "connectwise_company: 42\n"))
    bad = run([BIN / "pre-commit", "run", "reconcile-validate", "--all-files"], repo, git)
    assert bad.returncode == 1 and "acme-dental.yaml:5:22: error:" in bad.stdout, bad.stdout + bad.stderr


def test_check_jsonschema_resolves_the_shipped_schemas_without_base_uri(tmp_path):
    from reconciler.run.init import write_repository

    write_repository(tmp_path / "billing", "x")
    config = tmp_path / "billing" / "config"
    schemas = REPO / "schemas"
    checker = BIN / "check-jsonschema"
    ok = run([checker, "--schemafile", schemas / "customer.schema.json", config / "customers" / "acme-dental.yaml"],
             tmp_path)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert run([checker, "--schemafile", schemas / "global.schema.json", config / "global.yaml"],
               tmp_path).returncode == 0
    (config / "customers" / "bad.yaml").write_text("name: x\nbilling: {day: 40}\n")
    bad = run([checker, "--schemafile", schemas / "customer.schema.json", config / "customers" / "bad.yaml"], tmp_path)
    assert bad.returncode == 1 and "40" in bad.stdout, bad.stdout + bad.stderr


def test_the_pre_commit_hook_passes_and_fails_in_a_config_only_repository(tmp_path):
    """`pre-commit try-repo` runs this repository's hook (.pre-commit-hooks.yaml, as committed)
    in a repository that holds only configuration."""
    from reconciler.run.init import write_repository

    repo = tmp_path / "billing"
    write_repository(repo, "x")
    git = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@x", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@x", "PRE_COMMIT_HOME": str(tmp_path / "cache")}
    for args in (["init", "-q"], ["add", "."], ["commit", "-qm", "config"]):
        assert run(["git", *args], repo, git).returncode == 0
    try_repo = [BIN / "pre-commit", "try-repo", REPO, "reconcile-validate", "--all-files"]
    ok = run(try_repo, repo, git)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "reconcile validate" in ok.stdout and "Passed" in ok.stdout
    customer = repo / "config" / "customers" / "acme-dental.yaml"
    customer.write_text(customer.read_text().replace(BROKEN, "connectwise_company: 42\n"))
    bad = run(try_repo, repo, git)
    assert bad.returncode == 1, bad.stdout + bad.stderr
    assert "Failed" in bad.stdout and "config/customers/acme-dental.yaml:5:22: error:" in bad.stdout
