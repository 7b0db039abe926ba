"""A hand-built ledger for the report tests, written in the ARCHITECTURE "Ledger" format.

Three customers over 14 periods (2025-10 .. 2026-11), split over the main file and two shards
with interleaved timestamps and stray blank lines. Planted events:
- cedar-law 2026-03: failed scheduled send, never resolved -> a gap in its history.
- cedar-law 2026-11: failed scheduled send, then a manual (--send-now) send that succeeded.
- brightline-logistics 2026-11: a scheduled send, then a manual resend with more CAS seats
  (the last sent result wins).
- acme-dental 2026-10: an intent with no result (interrupted run), then a successful rerun;
  Hosted Email Security cancelled from 2026-10.
- executive summaries for acme-dental (2026-10, 2026-11) and brightline-logistics (2026-11).
`EXPECTED` holds the seats each (customer, period) must end up with.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from reconciler.periods import shift_period

PERIODS = tuple(shift_period("2025-10", i) for i in range(14))
REPORT_PERIOD = PERIODS[-1]  # 2026-11
CUSTOMERS = ("acme-dental", "brightline-logistics", "cedar-law")
COMPANIES = {
    "acme-dental": "AcmeDental",
    "brightline-logistics": "Brightline",
    "cedar-law": "CedarLaw",
}
FILES = {
    "acme-dental": "ledger.jsonl",
    "brightline-logistics": "ledger.1of2.jsonl",
    "cedar-law": "ledger.2of2.jsonl",
}
AGREEMENTS = {
    "acme-dental": {"id": 12, "type": "Managed Service", "name": "Acme Managed"},
    "brightline-logistics": {"id": 30, "type": "TMRM Management Solution", "name": "Brightline TM"},
    "cedar-law": {"id": 44, "type": "Managed Service", "name": "Cedar <Legal> & Co"},
}
EVIL_NAME = 'Brightline <script>alert("x")</script> & "Logistics"'
PRODUCT_NAMES = {
    "wfbss-svc": "Worry-Free Business Security Services",
    "cas": "Cloud App Security <M365>",
    "hes": "Hosted Email Security",
    "apex-one-saas": "Apex One SaaS",
    "workload-security": "Cloud One Workload Security",
}
CEDAR_GAP = "2026-03"


def planned_seats(customer: str, i: int) -> dict[str, int]:
    if customer == "acme-dental":
        return {"wfbss-svc": 40 + i, **({"hes": 20 + i % 3} if i < 12 else {})}
    if customer == "brightline-logistics":
        return {
            "cas": 100 - 2 * i,
            "wfbss-svc": 10 + i,
            **({"apex-one-saas": 3 * i} if i >= 5 else {}),
        }
    return {"workload-security": 5 + i // 2}


BRIGHTLINE_RESEND_CAS = 80


def expected_seats() -> dict[tuple[str, str], dict[str, int]]:
    expected = {}
    for i, period in enumerate(PERIODS):
        for customer in CUSTOMERS:
            if customer == "cedar-law" and period == CEDAR_GAP:
                continue
            expected[(customer, period)] = planned_seats(customer, i)
    expected[("brightline-logistics", REPORT_PERIOD)]["cas"] = BRIGHTLINE_RESEND_CAS
    return expected


EXPECTED = expected_seats()


class _Writer:
    def __init__(self) -> None:
        self.lines: dict[str, list[str]] = {name: [] for name in FILES.values()}
        self.previous: dict[str, dict[str, int]] = {c: {} for c in CUSTOMERS}
        self.runs = 0

    def _base(
        self, customer: str, period: str, ts: str, run_id: str, kind: str, trigger: str
    ) -> dict[str, Any]:
        return {
            "v": 1,
            "ts": ts,
            "run_id": run_id,
            "kind": kind,
            "customer": customer,
            "connectwise_company": COMPANIES[customer],
            "period": period,
            "trigger": trigger,
        }

    def _emit(self, customer: str, record: dict[str, Any]) -> None:
        self.lines[FILES[customer]].append(json.dumps(record))

    def _changes(self, customer: str, seats: dict[str, int]) -> list[dict[str, Any]]:
        before = self.previous[customer]
        agreement = {k: AGREEMENTS[customer][k] for k in ("id", "type", "name")}
        changes = []
        for product in sorted(set(before) | set(seats)):
            old, new = before.get(product), seats.get(product)
            if old == new:
                continue
            action = "create" if old is None else "cancel" if new is None else "update"
            changes.append(
                {
                    "action": action,
                    "agreement": agreement,
                    "product": product,
                    "connectwise_product": product.upper(),
                    "addition_id": None if old is None else 500,
                    "before": old,
                    "after": new,
                }
            )
        return changes

    def billing(
        self,
        customer: str,
        period: str,
        ts: str,
        seats: dict[str, int] | None,
        trigger: str = "scheduled",
        error: str | None = None,
        result: bool = True,
    ) -> None:
        self.runs += 1
        run_id = f"run-{self.runs}"
        changes = self._changes(customer, seats or {})
        intent = self._base(customer, period, ts, run_id, "billing", trigger)
        self._emit(customer, {**intent, "event": "intent", "changes": changes})
        if not result:
            return
        res_ts = ts.replace(":00Z", ":01Z")
        res = {
            **self._base(customer, period, res_ts, run_id, "billing", trigger),
            "event": "result",
        }
        if error:
            self._emit(customer, {**res, "status": "failed", "error": error, "changes": []})
            return
        agreement = AGREEMENTS[customer]
        additions = {
            product: {
                "id": 100 + n,
                "agreement_id": agreement["id"],
                "agreement": f"{agreement['type']} / {agreement['name']}",
                "quantity": quantity,
            }
            for n, (product, quantity) in enumerate(sorted((seats or {}).items()))
        }
        self._emit(
            customer,
            {**res, "status": "sent", "error": None, "changes": changes, "additions": additions},
        )
        self.previous[customer] = dict(seats or {})

    def summary(self, customer: str, period: str, ts: str, report_id: int) -> None:
        self.runs += 1
        base = self._base(customer, period, ts, f"run-{self.runs}", "summary", "scheduled")
        self._emit(customer, {**base, "event": "intent", "changes": []})
        self._emit(
            customer,
            {
                **base,
                "ts": ts.replace(":00Z", ":02Z"),
                "event": "result",
                "status": "sent",
                "error": None,
                "report_id": report_id,
            },
        )


def write_ledger(directory: Path) -> Path:
    """Write the fixture ledger and its shards into `directory`; returns the main ledger path."""
    w = _Writer()
    for i, period in enumerate(PERIODS):
        day = f"{period}-01T13"
        for k, customer in enumerate(CUSTOMERS):
            ts = f"{day}:0{k}:00Z"
            seats = planned_seats(customer, i)
            if customer == "cedar-law" and period == CEDAR_GAP:
                w.billing(customer, period, ts, seats, error="ConnectWise 503: Service Unavailable")
            elif customer == "cedar-law" and period == REPORT_PERIOD:
                w.billing(customer, period, ts, seats, error="ConnectWise 500: <html>oops</html>")
                w.billing(customer, period, f"{period}-02T09:00:00Z", seats, trigger="manual")
            elif customer == "acme-dental" and period == "2026-10":
                w.billing(customer, period, ts, seats, result=False)
                w.billing(customer, period, f"{period}-02T08:00:00Z", seats)
            elif customer == "brightline-logistics" and period == REPORT_PERIOD:
                w.billing(customer, period, ts, seats)
                w.billing(
                    customer,
                    period,
                    f"{period}-03T10:00:00Z",
                    {**seats, "cas": BRIGHTLINE_RESEND_CAS},
                    trigger="manual",
                )
            else:
                w.billing(customer, period, ts, seats)
        if period in ("2026-10", REPORT_PERIOD):
            w.summary("acme-dental", period, f"{period}-05T13:00:00Z", 9000 + i)
        if period == REPORT_PERIOD:
            w.summary("brightline-logistics", period, f"{period}-05T13:01:00Z", 9100)
    directory.mkdir(parents=True, exist_ok=True)
    for name, lines in w.lines.items():
        # Stray blank lines (a crash can leave one) must be skipped.
        text = "\n".join(lines[:3] + [""] + lines[3:]) + "\n\n"
        (directory / name).write_text(text, encoding="utf-8")
    return directory / "ledger.jsonl"


def write_config(directory: Path) -> Path:
    (directory / "customers").mkdir(parents=True, exist_ok=True)
    products = "\n".join(
        f"  {key}:\n    name: {json.dumps(name)}\n    connectwise_product: {key.upper()}"
        for key, name in PRODUCT_NAMES.items()
    )
    (directory / "global.yaml").write_text(f"products:\n{products}\n", encoding="utf-8")
    names = {
        "acme-dental": "Acme Dental Group",
        "brightline-logistics": EVIL_NAME,
        "cedar-law": "Cedar Law",
    }
    for slug, name in names.items():
        (directory / "customers" / f"{slug}.yaml").write_text(
            f"name: {json.dumps(name)}\n", encoding="utf-8"
        )
    return directory


def test_fixture_spreads_over_main_file_and_shards(tmp_path: Path) -> None:
    ledger = write_ledger(tmp_path)
    assert sorted(p.name for p in tmp_path.glob("ledger*.jsonl")) == sorted(FILES.values())
    assert ledger.read_text().count("\n\n") >= 1
