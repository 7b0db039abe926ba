"""Where the ConnectWise keys may be sent: a URL from a trusted place, never from a pull request.

The Plan workflow runs `reconcile plan` on a pull request's files with read-only ConnectWise
keys. `connectwise.url` is in those files, so without this module a pull request could point
it at its own server and receive the keys in the Authorization header.

Trust model: when `RECONCILE_TRUSTED_REF` is set (the Plan workflow sets it to the base branch,
`origin/<base>`), the URL the keys go to is

1. `CW_URL` when set (a repository variable: the operator's, not the pull request's), else
2. `connectwise.url` in the *base branch's* `global.yaml` (read with `git show`, so what the pull
   request changed in the working tree does not count).

If the pull request's own `connectwise.url` differs, the plan runs against the trusted URL and
says that the new URL takes effect after merge, once the change has been reviewed. With no
trusted URL at all the run stops before any request. Without `RECONCILE_TRUSTED_REF` (the
scheduled billing and drift jobs run on the default branch, which is reviewed) the configured
URL is used as before.

The LMPI URL is never read from the repository: it comes from `TM_LMPI_URL` only.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import yaml

from reconciler.config.model import Config
from reconciler.config.paths import excerpt
from reconciler.errors import ReconcileError

TRUSTED_REF_VARIABLE = "RECONCILE_TRUSTED_REF"
_URL = re.compile(r"^https?://\S+/apis/3\.0$")  # as schemas/global.schema.json's connectwise.url


@dataclass(frozen=True)
class Connection:
    url: str  # where the keys go
    note: str | None = None  # for the plan's warnings: the URL change that waits for merge


class Untrusted(ReconcileError):
    """No trusted ConnectWise URL could be found; nothing was sent."""


def connection(config: Config, env: Mapping[str, str]) -> Connection:
    """The URL to send the keys to, under the trust model above. Raises `Untrusted`."""
    ref = (env.get(TRUSTED_REF_VARIABLE) or "").strip()
    if not ref:
        return Connection(config.connectwise.url)
    head = _head_url(config.root)
    base, problem = _base_url(config.root, ref)
    if env.get("CW_URL"):
        trusted, source = env["CW_URL"], "the CW_URL variable"
    elif base is not None:
        trusted, source = base, f"global.yaml on {ref}"
    else:
        raise Untrusted(
            f"no trusted ConnectWise URL: CW_URL is not set and {problem}; set the CW_URL "
            "repository variable (pull requests never choose where the keys are sent)"
        )
    note = None
    if head is not None and base is not None and head != base:
        note = (
            f"This change sets connectwise.url to {excerpt(head, 80)}. This plan ran against the "
            f"trusted URL {trusted} (from {source}): pull requests never choose where the keys "
            "are sent. The URL change takes effect after merge."
        )
    return Connection(trusted, note)


def _head_url(config_dir: Path) -> str | None:
    """`connectwise.url` as written in the working tree (the pull request's version)."""
    from reconciler.config.yamlsource import read_yaml

    doc, _ = read_yaml(config_dir / "global.yaml")
    return _url_of(doc.data if doc is not None else None)


def _base_url(config_dir: Path, ref: str) -> tuple[str | None, str]:
    """`connectwise.url` of `global.yaml` at `ref`, or (None, why not)."""
    where = f"global.yaml on {ref}"
    if ref.startswith("-"):
        return None, f"{TRUSTED_REF_VARIABLE} {excerpt(ref)} is not a git ref"
    try:
        shown = subprocess.run(
            ["git", "show", f"{ref}:./global.yaml"], cwd=config_dir, capture_output=True,
            timeout=30, check=False,
        )
    except (OSError, subprocess.SubprocessError) as error:
        return None, f"git could not read {where} ({type(error).__name__})"
    if shown.returncode != 0:
        return None, f"git could not read {where}"
    try:  # the base branch is reviewed; still, only a string that looks like the URL counts
        data = yaml.load(shown.stdout[:1024 * 1024], Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except yaml.YAMLError:
        return None, f"{where} is not valid YAML"
    url = _url_of(data)
    if url is None:
        return None, f"{where} has no valid connectwise.url"
    return url, ""


def _url_of(data: object) -> str | None:
    section = data.get("connectwise") if isinstance(data, dict) else None
    url = section.get("url") if isinstance(section, dict) else None
    return url if isinstance(url, str) and _URL.match(url) else None
