"""reconciler/state.py: the marker the tool writes into `serialNumber`, matched exactly."""

from __future__ import annotations

import pytest

from reconciler.ledger import new_run_id
from reconciler.state import Addition, is_legacy_marker, marker_run_id, tool_marker


def test_the_marker_is_short_neutral_and_names_the_run():
    run_id = new_run_id()
    marker = tool_marker(run_id)
    assert marker == f"ref R-{run_id}"
    assert len(marker) <= 50  # ConnectWise's serialNumber limit; it may print on an invoice
    assert marker_run_id(marker) == run_id and not is_legacy_marker(marker)


def test_only_a_run_id_of_this_tool_makes_a_marker():
    with pytest.raises(ValueError):
        tool_marker("run-1")


@pytest.mark.parametrize("serial", [
    "", "ref R-", "ref R-20261130T111700Z-aaaaa", "ref R-20261130T111700Z-aaaaaag", " ref R-20261130T111700Z-aaaaaa",
    "ref R-20261130T111700Z-aaaaaa ", "ref R-20261130T111700Z-aaaaaa\n", "tmrm-reconcile", "tmrm-reconcile by hand",
    "tmrm-reconcile 20261130T111700Z-aaaaaa (copy)", "TMRM-RECONCILE 20261130T111700Z-aaaaaa",
    # digits that are not ASCII (Arabic-Indic, fullwidth) are not a run id of this tool
    "ref R-\u0662\u0660\u0662\u06661130T111700Z-aaaaaa", "tmrm-reconcile \u0662\u0660\u0662\u06661130T111700Z-aaaaaa",
    "tmrm-reconcile \uff12\uff10\uff12\uff161130T111700Z-aaaaaa",
])
def test_a_serial_that_is_not_exactly_a_marker_is_a_persons(serial):
    addition = Addition(1, 2, "TM-HES", 3, marker=serial)
    assert not addition.created_by_tool and addition.created_by_run is None


def test_the_marker_written_before_the_lease_is_still_the_tools():
    addition = Addition(1, 2, "TM-HES", 3, marker="tmrm-reconcile 20261130T111700Z-aaaaaa")
    assert addition.created_by_tool and addition.created_by_run == "20261130T111700Z-aaaaaa"
    assert is_legacy_marker(addition.marker)
