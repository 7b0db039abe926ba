"""Trend Micro LMPI `product_id` -> our product key (the word config and usage rows use).

An id missing here is reported by the LMPI source (`Usage.warnings`), never dropped in
silence: a new Trend product an MSP starts reselling must show up in the plan's output.
"""

from __future__ import annotations

TREND_PRODUCT_IDS: dict[str, str] = {
    "WFBSS-SVC": "wfbss-svc",
    "WFS-ADV": "wfs-advanced",
    "CAS": "cas",
    "HES": "hes",
    "APEX-ONE-SAAS": "apex-one-saas",
    "C1-WLS": "workload-security",
}


def product_key(trend_product_id: str) -> str | None:
    """The product key for a Trend product id (case-insensitive), or None if unknown."""
    return TREND_PRODUCT_IDS.get(trend_product_id.strip().upper())
