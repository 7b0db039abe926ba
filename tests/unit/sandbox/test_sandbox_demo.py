"""The hard-coded demo data (reconciler/sandbox/demo.py) stays consistent with config/ and usage/."""

from __future__ import annotations

import csv
from collections import defaultdict

import yaml

from reconciler.sandbox import demo
from reconciler.sandbox.lmpi import DEMO_PRODUCTS
from tests.support import REPO_ROOT

ROOT = REPO_ROOT
GLOBAL = yaml.safe_load((ROOT / "config" / "global.yaml").read_text())
CUSTOMERS = [yaml.safe_load(p.read_text()) for p in sorted((ROOT / "config" / "customers").glob("*.yaml"))]
TREND_IDS = {ident: trend for ident, _name, trend in demo.COMPANIES}


def test_companies_match_customer_files() -> None:
    for customer in CUSTOMERS:
        assert TREND_IDS[customer["connectwise_company"]] == customer["trend_customer_id"]
    referenced = {c["connectwise_company"] for c in CUSTOMERS}
    assert set(TREND_IDS) - referenced, "demo needs a company no config file refers to"


def test_every_mapping_resolves() -> None:
    default_types = set(GLOBAL["agreements"]["default_types"])
    for customer in CUSTOMERS:
        own = [(t, n, x) for co, t, n, x in demo.AGREEMENTS if co == customer["connectwise_company"]]
        active = [(t, n) for t, n, x in own if x.get("agreementStatus", "Active") == "Active"]
        for product, target in customer["agreements"].items():
            assert product in GLOBAL["products"]
            if target == "default":
                defaults = [n for t, n in active if t in default_types]
                assert len(defaults) == 1, (customer["name"], defaults)
            else:
                assert (target["type"], target["name"]) in active, (customer["name"], target)
    fjord = [t for co, t, _n, _x in demo.AGREEMENTS if co == "FjordArch"]
    assert set(fjord) - default_types


def test_catalog_has_every_product() -> None:
    for product in GLOBAL["products"].values():
        assert product["connectwise_product"] in demo.CATALOG
    trend = {p["connectwise_product"] for p in GLOBAL["products"].values()}
    assert {"MS-365-BP", "BACKUP-1TB"} <= set(demo.CATALOG) - trend
    for _co, agreement, identifier, _q, _x in demo.ADDITIONS:
        assert identifier in demo.CATALOG


def test_lmpi_units_equal_seats_csv() -> None:
    seats: dict[str, dict[str, int]] = defaultdict(dict)
    with (ROOT / "usage" / "seats.csv").open() as handle:
        for row in csv.DictReader(handle):
            seats[row["trend_customer_id"]][row["product"]] = int(row["quantity"])
    assert dict(seats) == demo.LMPI_UNITS


def test_demo_trend_ids_are_the_ones_the_shipped_config_counts() -> None:
    assert set(demo.PRODUCT_KEY_TO_TREND_ID) == set(GLOBAL["products"])
    for key, product in GLOBAL["products"].items():
        assert product["trend"]["product_codes"] == [demo.PRODUCT_KEY_TO_TREND_ID[key]]
    assert set(demo.PRODUCT_KEY_TO_TREND_ID.values()) == set(DEMO_PRODUCTS)


def test_deliberate_drift_is_present() -> None:
    additions = {(co, a, p): (q, x) for co, a, p, q, x in demo.ADDITIONS}
    assert additions[("AcmeDental", "Acme Managed", "TM-HES")][0] == 35  # usage 38
    assert not any(co == "CedarFinchLaw" and p == "TM-APEX1-SAAS" for co, _a, p, _q, _x in demo.ADDITIONS)
    assert ("FjordArch", "Fjord Managed", "TM-CAS-M365") in additions
    assert any(x.get("cancelledDate") for *_rest, x in demo.ADDITIONS)
