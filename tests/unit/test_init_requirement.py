"""`reconcile init` pins exactly what runs now, from pip's record (PEP 610 `direct_url.json`)."""

from __future__ import annotations

import json
from importlib import metadata

import pytest

from reconciler.run.init import RequirementProblem, checked_requirement, installed_requirement


class Installed(metadata.Distribution):
    """A distribution whose metadata is given: version 1.2.3 and an optional direct_url.json."""

    def __init__(self, direct_url: dict | str | None) -> None:
        self.direct_url = direct_url if not isinstance(direct_url, dict) else json.dumps(direct_url)

    def read_text(self, filename: str) -> str | None:
        if filename == "METADATA":
            return "Metadata-Version: 2.1\nName: tmrm-billing-reconciler\nVersion: 1.2.3\n"
        return self.direct_url if filename == "direct_url.json" else None

    def locate_file(self, path):  # pragma: no cover - not used
        raise NotImplementedError


@pytest.mark.parametrize("record, expected", [
    (None, "tmrm-billing-reconciler==1.2.3"),  # from an index: pip writes no record
    ({"url": "https://github.com/o/r", "vcs_info": {"vcs": "git", "requested_revision": "v1", "commit_id": "a" * 40}},
     f"tmrm-billing-reconciler @ git+https://github.com/o/r@{'a' * 40}"),
    ({"url": "https://github.com/o/r", "subdirectory": "pkg", "vcs_info": {"vcs": "git", "commit_id": "b" * 40}},
     f"tmrm-billing-reconciler @ git+https://github.com/o/r@{'b' * 40}#subdirectory=pkg"),
    ({"url": "file:///w/dist/t-1.2.3-py3-none-any.whl", "archive_info": {"hashes": {"sha256": "c" * 64}}},
     f"tmrm-billing-reconciler @ file:///w/dist/t-1.2.3-py3-none-any.whl#sha256={'c' * 64}"),
    ({"url": "https://h/t.whl", "archive_info": {"hash": "sha256=" + "d" * 64}},
     f"tmrm-billing-reconciler @ https://h/t.whl#sha256={'d' * 64}"),
    ({"url": "file:///src/tool", "dir_info": {}}, "tmrm-billing-reconciler @ file:///src/tool"),
])
def test_the_requirement_is_what_pip_recorded(record, expected):
    assert installed_requirement(Installed(record)) == expected
    assert checked_requirement(expected) == expected  # and it is one valid requirement line


@pytest.mark.parametrize("record, says", [
    ({"url": "file:///src/tool", "dir_info": {"editable": True}}, "editable install of file:///src/tool"),
    ("{not json", "unreadable"),
    ({"dir_info": {}}, "unreadable"),
    ({"url": "https://github.com/o/r", "vcs_info": {"vcs": "git"}}, "without a commit"),
    ({"url": "https://x/y"}, "does not know"),
])
def test_without_an_exact_source_init_asks_for_requirement(record, says):
    with pytest.raises(RequirementProblem) as error:
        installed_requirement(Installed(record))
    assert says in str(error.value) and "pass --requirement SPEC" in str(error.value)
