"""A pull request cannot redirect the ConnectWise keys (issue 11, item 1).

The Plan workflow's own steps (read from .github/workflows/pull-request.yml, expressions filled in
as GitHub would) run in a git repository whose base branch points connectwise.url at a trusted
sandbox and whose pull-request head points it at a second, recording server. Before the fix the
keys went to the pull request's server whenever the CW_URL variable was unset.
"""

from __future__ import annotations

import http.server
import os
import re
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from reconciler.render.escape import md_text
from reconciler.sandbox import SandboxServer
from tests.repo.test_workflows import load, step_with_id
from tests.support.e2e import make_repo


class RecordingServer(http.server.ThreadingHTTPServer):
    """The pull request's server: records every request's headers and answers 401."""

    def __init__(self) -> None:
        self.requests: list[dict[str, str]] = []
        super().__init__(("127.0.0.1", 0), _Recorder)
        threading.Thread(target=self.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/v4_6_release/apis/3.0"


class _Recorder(http.server.BaseHTTPRequestHandler):
    server: RecordingServer

    def log_message(self, *args) -> None:
        pass

    def do_GET(self) -> None:  # noqa: N802
        self.server.requests.append(dict(self.headers.items()))
        self.send_response(401)
        self.send_header("Content-Length", "0")
        self.end_headers()

    do_POST = do_PATCH = do_GET


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True, text=True,
                          env={**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com",
                               "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.com"}).stdout


def set_url(repo: Path, url: str) -> None:
    path = repo / "config/global.yaml"
    path.write_text(re.sub(r"(?m)^  url: .*$", f"  url: {url}", path.read_text()))


def expand(value: str, context: dict[str, str]) -> str:
    """`${{ a.b.c }}` as GitHub fills it in (unknown names are empty, as unset variables are)."""
    return re.sub(r"\$\{\{\s*([\w.-]+)\s*\}\}", lambda m: context.get(m.group(1), ""), str(value))


def run_plan_step(repo: Path, context: dict[str, str]) -> subprocess.CompletedProcess:
    doc = load("pull-request.yml")
    (job,) = doc["jobs"].values()
    step = step_with_id(doc, "plan")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CW_", "TM_", "SANDBOX_", "RECONCILE_"))}
    env.update({k: expand(v, context) for k, v in job["env"].items()})
    env.update({k: expand(v, context) for k, v in step.get("env", {}).items()})
    env["GITHUB_OUTPUT"] = str(repo / "github_output")
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"
    return subprocess.run(["bash", "-e", "-c", step["run"]], cwd=repo, env=env, capture_output=True,
                          text=True, timeout=180)


@pytest.fixture
def pull_request(tmp_path):
    """A repository: `main` plans against the trusted sandbox; `pr` points at the recording server."""
    repo = make_repo(tmp_path / "repo")
    trusted = SandboxServer(data_dir=tmp_path / "cw", port=0, seed_demo=True)
    evil = RecordingServer()
    with trusted:
        set_url(repo, trusted.connectwise_url)
        git(repo, "init", "-q", "-b", "main")
        git(repo, "add", "-A")
        git(repo, "commit", "-q", "-m", "base")
        git(repo, "update-ref", "refs/remotes/origin/main", "main")
        git(repo, "checkout", "-q", "-b", "pr")
        set_url(repo, evil.url)
        git(repo, "commit", "-q", "-am", "point ConnectWise somewhere else")
        creds = trusted.credentials
        context = {"secrets.CW_PUBLIC_KEY": creds.public_key, "secrets.CW_PRIVATE_KEY": creds.private_key,
                   "secrets.CW_CLIENT_ID": creds.client_id, "vars.CW_COMPANY_ID": creds.company_id,
                   "github.base_ref": "main", "steps.mode.outputs.sandbox": "false",
                   "vars.CW_URL": ""}  # the repository variable is not set
        yield repo, trusted, evil, context
    evil.shutdown()


def test_a_pr_changing_the_url_sends_no_credentials_to_it(pull_request):
    repo, trusted, evil, context = pull_request
    result = run_plan_step(repo, context)
    assert [h.get("Authorization") for h in evil.requests] == []  # not one request, no keys
    assert result.returncode == 0, result.stderr
    plan = (repo / "plan.md").read_text()
    assert "acme-dental" in plan  # planned against the trusted sandbox, for real
    assert "takes effect after merge" in plan
    assert md_text(trusted.connectwise_url) in plan  # and says which URL it used


def test_the_cw_url_variable_wins_over_both(pull_request, tmp_path):
    repo, trusted, evil, context = pull_request
    set_url(repo, "https://base.example.invalid/v4_6_release/apis/3.0")
    git(repo, "commit", "-q", "-am", "x")
    git(repo, "update-ref", "refs/remotes/origin/main", "pr")  # base now names an unreachable host
    set_url(repo, evil.url)
    git(repo, "commit", "-q", "-am", "evil again")
    result = run_plan_step(repo, {**context, "vars.CW_URL": trusted.connectwise_url})
    assert result.returncode == 0, result.stderr
    assert evil.requests == []
    assert "takes effect after merge" in (repo / "plan.md").read_text()


def test_without_any_trusted_url_nothing_is_sent(pull_request):
    repo, _trusted, evil, context = pull_request
    result = run_plan_step(repo, {**context, "github.base_ref": "no-such-branch"})
    assert result.returncode == 1
    assert "no trusted ConnectWise URL" in result.stderr and "CW_URL" in result.stderr
    assert "Traceback" not in result.stderr
    assert evil.requests == []


def test_a_pr_that_keeps_the_url_plans_without_a_note(pull_request):
    repo, trusted, evil, context = pull_request
    set_url(repo, trusted.connectwise_url)
    git(repo, "commit", "-q", "-am", "back to the trusted URL")
    result = run_plan_step(repo, context)
    assert result.returncode == 0, result.stderr
    assert "takes effect after merge" not in (repo / "plan.md").read_text()
    assert evil.requests == []
