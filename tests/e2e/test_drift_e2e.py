"""`reconcile drift` end to end: the real CLI, in a subprocess, against the sandbox."""

import json

from tests.e2e.test_e2e_engine import patch_addition_by_hand
from tests.support.e2e import make_repo, reconcile, sandbox_writes


def _usage_without_known_gaps(repo):
    """The demo usage minus Harbor Bakery (no file) and Granite's unmapped wfs-advanced, so only
    ConnectWise-side drift is left to find."""
    csv = repo / "usage/seats.csv"
    rows = [line for line in csv.read_text().splitlines(True)
            if not line.startswith("c4d5e6f7") and not (line.startswith("8f9a0b1c") and ",wfs-advanced," in line)]
    path = repo / "usage/clean.csv"
    path.write_text("".join(rows))
    return "usage/clean.csv"


def _drift(repo, *args):
    return reconcile(repo, "--sandbox", "drift", *args)


def test_a_quantity_changed_by_hand_is_drift_with_the_old_and_new_quantity(tmp_path):
    repo = make_repo(tmp_path)
    applied = reconcile(repo, "--sandbox", "apply", "--send-now")
    assert applied.returncode == 0, applied.stdout + applied.stderr
    writes = sandbox_writes(repo)
    usage = _usage_without_known_gaps(repo)

    clean = _drift(repo, "--usage", usage, "--detailed-exitcode")
    assert clean.returncode == 0, clean.stdout + clean.stderr
    assert "No drift" in clean.stdout
    assert "not yet sent; no baseline: delta-manufacturing (billing disabled)" in clean.stdout
    # With the demo's real usage the known gaps are reported, but nothing changed outside Git.
    demo = json.loads(_drift(repo, "--format", "json").stdout)
    assert demo["counts"] == {"changed": 0, "unmanaged": 0, "unknown_customer": 1, "unmapped_product": 1,
                              "unresolved": 0}

    patch_addition_by_hand(repo, agreement_id=1, addition_id=2, quantity=40)  # Acme's hes, sent as 38
    writes += 1
    text = _drift(repo, "--usage", usage, "--detailed-exitcode")
    assert text.returncode == 2, text.stdout + text.stderr
    assert ("hes addition 2 on Managed Service / Acme Managed: quantity 38 in the ledger, 40 in ConnectWise"
            in text.stdout)
    assert text.stdout.splitlines()[-1] == (
        "Drift: 1 changed outside Git, 0 unmanaged additions, 0 unknown Trend customers, 0 unmapped products.")
    assert _drift(repo, "--usage", usage).returncode == 0  # drift alone is not an error

    data = json.loads(_drift(repo, "--usage", usage, "--format", "json").stdout)
    (finding,) = data["findings"]
    assert (finding["kind"], finding["customer"], finding["product"], finding["addition_id"]) == (
        "changed", "acme-dental", "hes", 2)
    assert (finding["ledger"]["quantity"], finding["connectwise"]["quantity"]) == (38, 40)

    markdown = _drift(repo, "--usage", usage, "--format", "markdown", "--ledger", ".sandbox/ledger.jsonl",
                      "--detailed-exitcode")
    assert markdown.returncode == 2
    assert "**Drift: 1 changed outside Git" in markdown.stdout
    assert sandbox_writes(repo) == writes  # drift never writes


def test_an_unmanaged_addition_before_the_first_send(tmp_path):
    repo = make_repo(tmp_path)
    result = _drift(repo, "--format", "json", "--detailed-exitcode")
    assert result.returncode == 2
    data = json.loads(result.stdout)
    unmanaged = [f for f in data["findings"] if f["kind"] == "unmanaged"]
    assert [(f["customer"], f["product"], f["agreement"]["name"]) for f in unmanaged] == [
        ("fjord-architects", "cas", "Fjord Managed")]
    assert len(data["not_yet_sent"]) == 7
    assert sandbox_writes(repo) == 0


def test_errors_exit_1(tmp_path):
    repo = make_repo(tmp_path)
    missing = _drift(repo, "--ledger", "nowhere/ledger.jsonl", "--detailed-exitcode")
    assert missing.returncode == 1 and "no such ledger file" in missing.stderr
    assert reconcile(repo, "drift").returncode == 1  # no credentials
    path = repo / "config/customers/cedar-law.yaml"
    path.write_text(path.read_text().replace("day: 31", "day: 32"))
    invalid = _drift(repo, "--detailed-exitcode")
    assert invalid.returncode == 1 and "cedar-law.yaml" in invalid.stderr
