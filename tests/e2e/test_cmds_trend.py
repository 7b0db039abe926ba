"""`reconcile trend products`, the pure parts: which product counts each plan (by product code,
never by display name), and safe output."""

from __future__ import annotations

from reconciler.config.model import Product
from reconciler.render.trend import products_table as _table
from reconciler.run.trend import plan_rows
from reconciler.usage import TrendIds
from tests.support import documented_lmpi as doc

IDS = TrendIds.from_products({
    "wfbss": Product("wfbss", "WFBSS", "TM-WFBSS", trend_product_ids=(doc.PRODUCT_CODE_EXAMPLE,)),
    "cas": Product("cas", "CAS", "TM-CAS", trend_service_plan_ids=("p-cas",)),
    "edr": Product("edr", "EDR", "TM-EDR", trend_names=("Endpoint Detection Monthly",)),
    # A product key written as the display name must not catch the plan: names are not codes.
    "hes": Product("hes", "HES", "TM-HES", trend_product_ids=("Hosted Email Security",)),
})
PLANS = [
    *doc.SERVICE_PLANS,
    {"service_plan_id": "P-CAS", "name": "CAS Monthly", "product": "Cloud App Security", "product_code": "CASMWXE3X"},
    {"service_plan_id": "p-edr", "name": "endpoint detection monthly", "product": "EDR", "product_code": "EDRMWXE3X"},
    {"service_plan_id": "p-new", "name": "New\x1b[31m thing\n", "product": "NEW", "product_code": "NEWMWXE3X"},
]


def by_code(rows):
    return {(r["product_code"], r["name"]): r for r in rows}


def test_each_plan_is_counted_by_code_plan_id_or_name_and_a_map_wins():
    rows = by_code(plan_rows(PLANS, IDS, {}))
    assert rows[("WFSBWXE3X", "WFBSS Monthly")]["counted_by"] == "wfbss"
    assert rows[("WFSBWXE3X", "WFBSS Annual")]["counted_by"] == "wfbss"  # one code, two plans
    assert rows[("WFSBWXE3X", "WFBSS Monthly")]["listed"] is True
    assert rows[("WFSBWXE3X", "WFBSS Monthly")]["product"] == "Worry-Free Business Security Services"
    assert rows[("HESMWXE3X", "HES Monthly")]["counted_by"] is None  # the display name is not a code
    assert rows[("CASMWXE3X", "CAS Monthly")]["counted_by"] == "cas"
    assert rows[("EDRMWXE3X", "endpoint detection monthly")]["counted_by"] == "edr"
    mapped = by_code(plan_rows(PLANS, IDS, {"hesmwxe3x": "edr", "p-new": "cas"}))
    assert mapped[("HESMWXE3X", "HES Monthly")]["counted_by"] == "edr"
    assert mapped[("NEWMWXE3X", "New\x1b[31m thing\n")]["counted_by"] == "cas"
    assert mapped[("HESMWXE3X", "HES Monthly")]["listed"] is False


def test_table_lists_codes_first_with_names_beside_them_and_no_control_characters():
    table = _table(plan_rows(PLANS, IDS, {}))
    assert "\x1b" not in table and "New?[31m thing?" in table
    lines = table.splitlines()
    assert lines[0].split() == ["product_code", "product", "service_plan", "service_plan_id", "counted_by"]
    assert len(lines) == 1 + len(PLANS)
    assert lines[1].split()[:4] == ["CASMWXE3X", "Cloud", "App", "Security"]  # sorted by code
