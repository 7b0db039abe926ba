"""The usage audit trail: canonical rows, their hash, the ledger's usage record, saved rows."""

from __future__ import annotations

import hashlib
import json

from reconciler.usage import Usage, rows_hash, save_usage, usage_record

ROWS = (
    {"trend_customer_id": "AAA", "product": "hes", "quantity": 38, "report_month": "2026-10"},
    {"trend_customer_id": "aaa", "product": "cas", "quantity": 4, "report_month": "2026-10"},
    {"trend_customer_id": "bbb", "product": "hes", "quantity": 9, "report_month": "2026-10"},
)
USAGE = Usage(quantities={("AAA", "hes"): 38, ("aaa", "cas"): 4, ("bbb", "hes"): 9}, source="lmpi",
              basis="reported", report_month="2026-10", units="chargeable", rows=ROWS)


def independent_hash(rows) -> str:
    text = "[" + ",".join(sorted(json.dumps(r, sort_keys=True, separators=(",", ":")) for r in rows)) + "]"
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


def test_hash_ignores_row_and_key_order_but_not_values():
    assert rows_hash(ROWS) == rows_hash(tuple(reversed(ROWS)))
    assert rows_hash([{"b": 1, "a": 2}]) == rows_hash([{"a": 2, "b": 1}])
    changed = [dict(ROWS[0], quantity=39), *ROWS[1:]]
    assert rows_hash(changed) != rows_hash(ROWS)
    assert rows_hash(ROWS) == independent_hash(ROWS)


def test_usage_record_names_source_basis_month_units_and_the_customers_rows_hash():
    record = usage_record(USAGE, "aaa")
    assert record == {"source": "lmpi", "basis": "reported", "report_month": "2026-10", "units": "chargeable",
                      "hash": independent_hash(ROWS[:2])}
    assert usage_record(USAGE, "zzz")["hash"] == independent_hash([])


def test_saved_rows_reproduce_the_hash(tmp_path):
    path = save_usage(USAGE, tmp_path / "out", "run-1")
    saved = json.loads(path.read_text())
    assert path.name == "usage-run-1.json" and saved["report_month"] == "2026-10"
    for entry in saved["customers"].values():
        assert entry["hash"] == independent_hash(entry["rows"])
    assert saved["customers"]["bbb"]["hash"] == usage_record(USAGE, "bbb")["hash"]
    assert saved["customers"]["aaa"]["hash"] == usage_record(USAGE, "AAA")["hash"]  # ids compare as GUIDs
