"""Trend customer ids are compared in one normal form, whoever wrote them (issue 21: a usage
row whose GUID was written in braces was dropped without a word)."""

from __future__ import annotations

import pytest

from reconciler.usage.base import Usage, trend_key
from reconciler.usage.trend_ids import normal

GUID = "3f2b6c1e-8a4d-4e1b-9c7a-1d2e3f4a5b60"


@pytest.mark.parametrize("written", [
    GUID, GUID.upper(), f"{{{GUID}}}", f"{{{GUID.upper()}}}", f"  {{ {GUID} }}  ", f"\t{GUID}\n",
])
def test_every_spelling_of_a_guid_is_one_key(written):
    assert trend_key(written) == GUID


def test_usage_written_in_braces_is_found_by_the_config_id():
    usage = Usage(quantities={(f"{{{GUID.upper()}}}", "hes"): 3, (GUID, "wfbss-svc"): 5})
    assert usage.for_customer(GUID) == {"hes": 3, "wfbss-svc": 5}
    assert usage.customers() == {GUID}


def test_a_service_plan_id_in_braces_matches():
    assert normal(f"{{{GUID.upper()}}}") == normal(GUID)


def test_a_customer_is_selected_by_its_id_in_braces():
    from reconciler.config.model import Config

    customer = type("C", (), {"slug": "acme", "trend_customer_id": GUID})()
    config = Config.__new__(Config)
    object.__setattr__(config, "customers", (customer,))
    assert config.customer(f"{{{GUID.upper()}}}") is customer
