"""Every file named like a ledger file is read or refused, never skipped."""

import os

import pytest

from reconciler.ledger import Ledger, LedgerCorrupt, ledger_files, read_ledger


@pytest.mark.parametrize("damage", ["dangling symlink", "directory", "fifo"])
def test_a_ledger_file_that_is_not_a_regular_file_is_an_error_at_its_path_not_skipped(tmp_path, damage):
    """A period's ledger file replaced by a dangling symlink, a directory or a FIFO was skipped
    in silence: its sends were forgotten, so the next run posted the period's executive summary
    again. Every file named like a ledger file must be read or refused."""
    path = tmp_path / "ledger.jsonl"
    Ledger(path).result(kind="billing", customer="acme", psa_company="Acme", period="2026-11",
                        trigger="scheduled", status="sent", error=None, changes=[])
    (period_file,) = ledger_files(path)
    period_file.unlink()
    if damage == "dangling symlink":
        period_file.symlink_to(tmp_path / "gone.jsonl")
    elif damage == "directory":
        period_file.mkdir()
    else:
        os.mkfifo(period_file)
    with pytest.raises(LedgerCorrupt) as error:
        read_ledger(path)
    assert error.value.line().startswith(f"{period_file}:1: error: ")
    assert "not a regular file" in str(error.value)
