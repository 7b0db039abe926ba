"""The bad-input suite: every malformed input stops `reconcile --sandbox apply --send-now` with exit 1,
a `PATH:LINE[:COL]: error:` line for the offending file, and zero writes to ConnectWise.

Most cases run the real command in-process (click's CliRunner, in a copied repository with its own
`.sandbox/`); a handful run the installed `reconcile` in a subprocess to prove the two agree.
Mapping problems only ConnectWise can reveal (an agreement that does not exist, an ambiguous
`default`) are per-customer plan failures, not validation errors: they exit 1, name the customer,
and write nothing for it.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reconciler.cli import cli
from tests.support import REPO_ROOT
from tests.support.e2e import make_repo, reconcile, sandbox_tickets, sandbox_writes

ACME = "config/customers/acme-dental.yaml"
CEDAR = "config/customers/cedar-law.yaml"  # integration: custom, billing day 31
BRIGHT = "config/customers/brightline-logistics.yaml"
GLOBAL = "config/global.yaml"
CSV = "usage/seats.csv"
GRANITE_ID = "8f9a0b1c-2d3e-4f4a-8b5c-6d7e8f9a0b66"


def replace_in(path: str, old: str, new: str, count: int = 1):
    def mutate(repo: Path) -> None:
        file = repo / path
        text = file.read_text(encoding="utf-8")
        assert old in text, f"{old!r} not in {path}"
        file.write_text(text.replace(old, new, count), encoding="utf-8")
    return mutate


def write(path: str, content: str | bytes):
    def mutate(repo: Path) -> None:
        file = repo / path
        file.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
    return mutate


def append(path: str, text: str):
    def mutate(repo: Path) -> None:
        with open(repo / path, "a", encoding="utf-8") as handle:
            handle.write(text)
    return mutate


JUNK = bytes(range(256)) * 3 + b"\x00\xff\xfe\x89PNG\r\n\x1a\n"

# (case id, mutation, offending file)
CASES = [
    # YAML syntax
    ("unclosed-flow-sequence", replace_in(ACME, "integration: general", "integration: [general"), ACME),
    ("unclosed-quote", replace_in(ACME, "name: Acme Dental Group", 'name: "Acme Dental Group'), ACME),
    ("bad-mapping-indent", replace_in(ACME, "  hes: default", "    hes: default\n  - wrong"), ACME),
    ("colon-soup", replace_in(ACME, "integration: general", "integration: : general: :"), ACME),
    ("tab-indentation", replace_in(ACME, "  hes: default", "\thes: default"), ACME),
    ("tab-indentation-global", replace_in(GLOBAL, "  day: 1\n", "\tday: 1\n"), GLOBAL),
    ("duplicate-key", append(ACME, "name: Acme Again\n"), ACME),
    ("duplicate-nested-key", replace_in(ACME, "  hes: default", "  hes: default\n  hes: default"), ACME),
    ("duplicate-key-global", replace_in(GLOBAL, "  day: 1\n", "  day: 1\n  day: 2\n"), GLOBAL),
    ("empty-customer-file", write(ACME, ""), ACME),
    ("comments-only-customer-file", write(ACME, "# nothing here\n"), ACME),
    ("binary-junk-customer-file", write(ACME, JUNK), ACME),
    ("latin1-customer-file", write(ACME, "name: Caf\xe9 Dental\n".encode("latin-1")), ACME),
    ("top-level-list", write(ACME, "- name: Acme\n- trend_customer_id: x\n"), ACME),
    ("top-level-scalar", write(ACME, "just a string\n"), ACME),
    ("empty-global", write(GLOBAL, ""), GLOBAL),
    # wrong types
    ("trend-id-number", replace_in(ACME, "trend_customer_id: 3f2b6c1e-8a4d-4e1b-9c7a-1d2e3f4a5b60",
                                   "trend_customer_id: 12345"), ACME),
    ("trend-id-not-guid", replace_in(ACME, "3f2b6c1e-8a4d-4e1b-9c7a-1d2e3f4a5b60", "acme-dental-guid"), ACME),
    ("agreements-string", replace_in(ACME, "agreements:\n  wfbss-svc: default\n  hes: default",
                                     "agreements: default"), ACME),
    ("agreements-empty", replace_in(ACME, "agreements:\n  wfbss-svc: default\n  hes: default",
                                    "agreements: {}"), ACME),
    ("company-list", replace_in(ACME, "connectwise_company: AcmeDental", "connectwise_company: [a, b]"), ACME),
    ("company-too-long", replace_in(ACME, "connectwise_company: AcmeDental", "connectwise_company: " + "A" * 31), ACME),
    ("mapping-not-default", replace_in(ACME, "wfbss-svc: default", "wfbss-svc: defualt"), ACME),
    ("integration-unknown", replace_in(ACME, "integration: general", "integration: sometimes"), ACME),
    ("global-enabled-string", replace_in(GLOBAL, "  enabled: true\n  day: 1", '  enabled: "yes please"\n  day: 1'),
     GLOBAL),
    ("global-api-version-number", replace_in(GLOBAL, 'api_version: "2025.1"', "api_version: 2025"), GLOBAL),
    ("global-rate-too-high", replace_in(GLOBAL, 'api_version: "2025.1"', 'api_version: "2025.1"\n'
                                        "  requests_per_minute: 5000"), GLOBAL),
    ("global-workers-zero", replace_in(GLOBAL, 'api_version: "2025.1"', 'api_version: "2025.1"\n  workers: 0'),
     GLOBAL),
    # impossible days
    ("day-0", replace_in(CEDAR, "day: 31", "day: 0"), CEDAR),
    ("day-32", replace_in(CEDAR, "day: 31", "day: 32"), CEDAR),
    ("day-negative", replace_in(CEDAR, "day: 31", "day: -1"), CEDAR),
    ("day-first", replace_in(CEDAR, "day: 31", "day: first"), CEDAR),
    ("global-day-32", replace_in(GLOBAL, "  day: 1\n", "  day: 32\n"), GLOBAL),
    # unknown keys
    ("unknown-top-level-key", append(ACME, "agreement_notes: typo\n"), ACME),
    ("unknown-mapping-key", replace_in(BRIGHT, "    name: Brightline M365\n  hes:",
                                       "    name: Brightline M365\n    tier: gold\n  hes:"), BRIGHT),
    ("unknown-global-key", append(GLOBAL, "extra_settings: true\n"), GLOBAL),
    ("billing-with-general", append(ACME, "billing:\n  day: 5\n"), ACME),
    # unknown time zones
    ("unknown-timezone", replace_in(CEDAR, "  day: 31", "  day: 31\n  timezone: Mars/Olympus_Mons"), CEDAR),
    ("unknown-global-timezone", replace_in(GLOBAL, "timezone: America/Chicago", "timezone: America/Chicgo"), GLOBAL),
    # unknown products
    ("unknown-product-in-customer", replace_in(ACME, "hes: default", "hosted-email: default"), ACME),
    ("replace-me-id", replace_in(ACME, "3f2b6c1e-8a4d-4e1b-9c7a-1d2e3f4a5b60", "REPLACE-ME"), ACME),
    ("duplicate-trend-id", replace_in(CEDAR, "0c1d2e3f-4a5b-4c6d-8e7f-8091a2b3c462",
                                      "3f2b6c1e-8a4d-4e1b-9c7a-1d2e3f4a5b60"), CEDAR),
    ("duplicate-company", replace_in(CEDAR, "connectwise_company: CedarFinchLaw", "connectwise_company: acmedental"),
     CEDAR),
    # the usage CSV
    ("csv-quantity-text", replace_in(CSV, f"{GRANITE_ID},wfbss-svc,64", f"{GRANITE_ID},wfbss-svc,sixty"), CSV),
    ("csv-quantity-negative", replace_in(CSV, f"{GRANITE_ID},wfbss-svc,64", f"{GRANITE_ID},wfbss-svc,-64"), CSV),
    ("csv-quantity-fraction", replace_in(CSV, f"{GRANITE_ID},wfbss-svc,64", f"{GRANITE_ID},wfbss-svc,6.4"), CSV),
    ("csv-quantity-empty", replace_in(CSV, f"{GRANITE_ID},wfbss-svc,64", f"{GRANITE_ID},wfbss-svc,"), CSV),
    ("csv-unknown-product", replace_in(CSV, f"{GRANITE_ID},wfbss-svc,64", f"{GRANITE_ID},wfbss,64"), CSV),
    ("csv-too-many-fields", replace_in(CSV, f"{GRANITE_ID},wfbss-svc,64", f"{GRANITE_ID},wfbss-svc,64,1,2"), CSV),
    ("csv-duplicate-row", append(CSV, f"{GRANITE_ID},wfbss-svc,64\n"), CSV),
    ("csv-empty-customer", append(CSV, ",hes,3\n"), CSV),
    ("csv-missing-column", replace_in(CSV, "trend_customer_id,product,quantity", "trend_customer_id,product"), CSV),
    ("csv-empty-file", write(CSV, ""), CSV),
    ("csv-binary-junk", write(CSV, JUNK), CSV),
]


def location_pattern(path: str) -> re.Pattern[str]:
    if path.endswith(".csv"):
        return re.compile(re.escape(path) + r":\d+: error: ")
    return re.compile(re.escape(path) + r":\d+:\d+: error: ")


def run_cli(repo: Path, monkeypatch, *args: str):
    monkeypatch.chdir(repo)
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


@pytest.mark.parametrize("name,mutate,path", CASES, ids=[c[0] for c in CASES])
def test_malformed_input_exits_1_with_its_location_and_writes_nothing(tmp_path, monkeypatch, name, mutate, path):
    repo = make_repo(tmp_path)
    mutate(repo)
    result = run_cli(repo, monkeypatch, "--sandbox", "apply", "--send-now")
    output = result.output
    assert result.exit_code == 1, output
    assert location_pattern(path).search(output), output
    assert "Traceback" not in output
    assert sandbox_writes(repo) == 0


def test_there_are_at_least_40_cases():
    assert len(CASES) >= 40


@pytest.mark.parametrize("name", ["tab-indentation", "day-32", "csv-binary-junk", "binary-junk-customer-file"])
def test_the_installed_cli_agrees(tmp_path, name):
    _name, mutate, path = next(c for c in CASES if c[0] == name)
    repo = make_repo(tmp_path)
    mutate(repo)
    result = reconcile(repo, "--sandbox", "apply", "--send-now")
    assert result.returncode == 1, result.stdout + result.stderr
    assert location_pattern(path).search(result.stdout + result.stderr)
    assert "Traceback" not in result.stderr
    assert sandbox_writes(repo) == 0


# ---- failures only ConnectWise can reveal: per customer, at plan time ------------------------

def test_mapping_to_a_missing_agreement_fails_that_customer_and_writes_nothing(tmp_path, monkeypatch):
    repo = make_repo(tmp_path)
    replace_in(BRIGHT, "    name: Brightline M365\n  hes:", "    name: Brightline Office\n  hes:")(repo)
    result = run_cli(repo, monkeypatch, "--sandbox", "apply", "--send-now", "--customer", "brightline-logistics")
    assert result.exit_code == 1, result.output
    line = next(l for l in result.output.splitlines() if l.startswith("brightline-logistics"))
    assert "failed" in line and "no active agreement Microsoft 365 Services / Brightline Office" in line
    assert sandbox_writes(repo) == 1 + 2  # nothing billed: the ticket that says so, and the run lease's (opened, closed)
    assert [t["summary"].rsplit(" ", 1)[0] for t in sandbox_tickets(repo)] == [
        "[reconcile] billing failed: brightline-logistics"]


def test_mapping_failure_names_the_customer_file(tmp_path, monkeypatch):
    repo = make_repo(tmp_path)
    replace_in(BRIGHT, "    name: Brightline M365\n  hes:", "    name: Brightline Office\n  hes:")(repo)
    result = run_cli(repo, monkeypatch, "--sandbox", "plan", "--send-now", "--customer", "brightline-logistics")
    assert re.search(r"customers/brightline-logistics\.yaml:1[0-9]:3: cas: no active agreement", result.output), result.output


def test_ambiguous_default_agreement_fails_that_customer_and_writes_nothing(tmp_path, monkeypatch):
    from reconciler.sandbox import SandboxServer

    repo = make_repo(tmp_path)
    with SandboxServer(data_dir=repo / ".sandbox", port=0) as sb:  # seeds the demo data
        store = sb.store
        acme = store.find_one("company", identifier="AcmeDental")
        managed = store.find_one("agreement_type", name="TMRM Management Solution")
        store.add_agreement(acme, managed, "Acme TMRM (new)")
        assert store.write_count == 0  # direct inserts are seeding, not API writes
    result = run_cli(repo, monkeypatch, "--sandbox", "apply", "--send-now", "--customer", "acme-dental")
    assert result.exit_code == 1, result.output
    assert "`default` is ambiguous" in result.output and "Acme TMRM (new)" in result.output
    assert sandbox_writes(repo) == 1 + 2  # nothing billed: the ticket that says so, and the run lease's (opened, closed)
    assert [t["summary"].rsplit(" ", 1)[0] for t in sandbox_tickets(repo)] == ["[reconcile] billing failed: acme-dental"]


# ---- generated YAML: validate never crashes ---------------------------------------------------

FRAGMENTS = [
    "name: x", "trend_customer_id: 3f2b6c1e-8a4d-4e1b-9c7a-1d2e3f4a5b60", "connectwise_company: AcmeDental",
    "agreements:", "  wfbss-svc: default", "  hes:", "    type: Managed Service", "    name: Acme Managed",
    "integration: custom", "billing:", "  day: 31", "  timezone: Europe/Oslo", "executive_summary:",
    "  enabled: false", "- item", "? complex key", ": value", "&anchor a: 1", "*anchor", "!!binary |",
    "!!python/object:os.system", "{a: [b, {c: d}]}", "'unterminated", '"esc \\x', "\t", "---", "...",
    "%YAML 1.2", "<<: *anchor", "key: |", "key: >-", "  folded", "~", "null: null", "0x1F: 1e309",
]
LINE = st.one_of(st.sampled_from(FRAGMENTS), st.text(alphabet=" \t:-[]{}#&*!|>'\"%@`,?abc01\n", max_size=24))
DOCUMENT = st.one_of(st.lists(LINE, max_size=14).map("\n".join), st.binary(max_size=64))
ERROR_LINE = re.compile(r"^config/customers/generated\.yaml:\d+:\d+: error: ")


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(document=DOCUMENT)
def test_validate_never_crashes_on_generated_yaml(tmp_path_factory, document):
    repo = tmp_path_factory.mktemp("gen")
    (repo / "config" / "customers").mkdir(parents=True)
    (repo / "config" / "global.yaml").write_bytes((REPO_ROOT / GLOBAL).read_bytes())
    target = repo / "config" / "customers" / "generated.yaml"
    target.write_bytes(document if isinstance(document, bytes) else document.encode("utf-8"))
    import os

    old = os.getcwd()
    os.chdir(repo)
    try:
        result = CliRunner().invoke(cli, ["validate"], catch_exceptions=True)
    finally:
        os.chdir(old)
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    assert result.exit_code in (0, 1), result.output
    for line in result.output.splitlines():
        if "error" in line and not re.match(r"^\d+ errors? in \d+ files?", line):
            assert ERROR_LINE.match(line), line
