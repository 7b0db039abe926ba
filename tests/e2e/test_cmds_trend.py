"""`reconcile trend products`, the pure parts: which product counts each plan, and safe output."""

from __future__ import annotations

from reconciler.cmds.trend import _table, plan_rows
from reconciler.config.model import Product
from reconciler.usage import TrendIds

IDS = TrendIds.from_products({
    "hes": Product("hes", "HES", "TM-HES", trend_product_ids=("HES",)),
    "cas": Product("cas", "CAS", "TM-CAS", trend_service_plan_ids=("p-cas",)),
    "edr": Product("edr", "EDR", "TM-EDR", trend_names=("Endpoint Detection Monthly",)),
})
PLANS = [
    {"service_plan_id": "p-hes", "name": "HES Monthly", "product": "HES", "product_code": "HESMONTHL"},
    {"service_plan_id": "P-CAS", "name": "CAS Monthly", "product": "CAS", "product_code": "CASMONTHL"},
    {"service_plan_id": "p-edr", "name": "endpoint detection monthly", "product": "EDR", "product_code": "EDRM"},
    {"service_plan_id": "p-new", "name": "New\x1b[31m thing\n", "product": "NEW", "product_code": "NEW"},
]


def test_each_plan_is_counted_by_product_id_plan_id_or_name_and_a_map_wins():
    rows = plan_rows(PLANS, IDS, {"p-new": "edr", "p-hes": "cas"})
    assert [r["counted_by"] for r in rows] == ["cas", "cas", "edr", "edr"]
    assert [r["listed"] for r in rows] == [False, True, False, False]
    assert [r["counted_by"] for r in plan_rows(PLANS, IDS, {})] == ["hes", "cas", "edr", None]


def test_table_shows_no_control_characters_from_lmpi():
    table = _table(plan_rows(PLANS, IDS, {}))
    assert "\x1b" not in table and "New?[31m thing?" in table
    assert table.splitlines()[0].split() == ["service_plan_id", "name", "product", "product_code", "counted_by"]
    assert len(table.splitlines()) == 1 + len(PLANS)
