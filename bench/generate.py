"""Generate a benchmark world of N customers: config files, a usage CSV and the sandbox's data.

    .venv/bin/python bench/generate.py 5000 /tmp/bench-5000

writes `DIR/config/global.yaml`, `DIR/config/customers/customer-NNNNN.yaml` (N files),
`DIR/usage/seats.csv`, `DIR/schemas/` (a copy of the package's, for editors and check-jsonschema),
`DIR/cw/sandbox.db` (companies, agreement types, agreements, catalog and additions, loaded with
the Store's bulk inserts) and `DIR/meta.json` (the counts the request lower bound needs).
With `--ledger-months 12` it also writes a year of ledger history (`DIR/ledger/ledger.YYYY-MM.jsonl`,
see `generate_ledger`); `bench/run.py --history-sizes N` writes it on its own when missing.

The mix is seeded (same N and seed, same world) and deliberately untidy, like a real MSP:
- each company has one active agreement of a default type (TMRM or Managed Service); about a
  third also have a "Microsoft 365 Services" agreement that `cas`/`hes` map to by {type, name};
  some have an unreferenced Block Hours agreement or a cancelled old Managed Service one;
- most mapped products have an addition with the right quantity; some are off by a few seats,
  some are missing, and some explicit mappings still sit on the default agreement (a move);
- some companies carry non-Trend additions (never touched) and cancelled history;
- a few customers have no usage rows (skipped), a few have usage for unmapped products, and 2%
  extra companies exist in ConnectWise with usage but no config file.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path

from reconciler.sandbox.demo import AGREEMENT_TYPES, CATALOG
from reconciler.sandbox.store import (
    Store,
    addition_record,
    agreement_record,
    agreement_type_record,
    catalog_record,
    company_record,
)

REPO = Path(__file__).resolve().parents[1]
NAMESPACE = uuid.UUID("6f1c2a8e-3b4d-4e5f-8a9b-0c1d2e3f4a5b")

# product key -> catalog identifier, as in config/global.yaml
PRODUCTS = {
    "wfbss-svc": "TM-WFBSS-SVC",
    "wfs-advanced": "TM-WFS-ADV",
    "cas": "TM-CAS-M365",
    "hes": "TM-HES",
    "apex-one-saas": "TM-APEX1-SAAS",
    "workload-security": "TM-C1-WLS",
}
M365_PRODUCTS = ("cas", "hes")  # the products an M365 agreement carries


@dataclass
class Meta:
    """What the benchmark needs to compute its lower bound (see bench/run.py)."""

    customers: int
    companies: int
    agreement_types: int
    agreements: int
    catalog_items: int
    additions: int
    referenced_agreements: int  # distinct agreements the config's mappings resolve to
    usage_rows: int
    seed: int
    active_agreements: int = 0  # active agreements of configured companies: each one's additions are read


def generate(out: Path, n: int, seed: int = 7) -> Meta:
    rng = random.Random(seed)
    if out.exists():
        shutil.rmtree(out)
    (out / "config" / "customers").mkdir(parents=True)
    (out / "usage").mkdir()
    shutil.copytree(REPO / "schemas", out / "schemas")  # for editors and check-jsonschema
    # A synthetic book of N customers changes most of them each month: the run-wide limits an
    # MSP of a few hundred customers would keep (safety.max_run_*) are raised here, so the
    # benchmark measures the billing day's writes rather than a run refused as too big.
    global_yaml = (REPO / "config" / "global.yaml").read_text(encoding="utf-8")
    (out / "config" / "global.yaml").write_text(global_yaml.replace(
        "\nsafety:\n", "\nsafety:\n  max_run_monthly_increase: 100000000\n  max_run_monthly_decrease: 100000000\n"
        "  max_run_customers_changed: 1000000\n", 1), encoding="utf-8")

    next_id = {"company": 0, "agreement": 0, "addition": 0}

    def new_id(kind: str) -> int:
        next_id[kind] += 1
        return next_id[kind]

    types = {name: {**agreement_type_record(name), "id": i} for i, name in enumerate(AGREEMENT_TYPES, 1)}
    catalog = {
        ident: {**catalog_record(ident, desc, price, cost, inactiveFlag=inactive), "id": i}
        for i, (ident, (desc, price, cost, inactive)) in enumerate(CATALOG.items(), 1)
    }
    companies: list[dict] = []
    agreements: list[dict] = []
    additions: list[dict] = []
    usage_rows: list[tuple[str, str, int]] = []
    referenced = active = 0

    def add(agreement: dict, identifier: str, quantity: int, **extra) -> None:
        record = addition_record(agreement, catalog[identifier], quantity, **extra)
        record["id"] = new_id("addition")
        additions.append(record)

    def agreement(company: dict, type_name: str, name: str, **extra) -> dict:
        record = {**agreement_record(company, types[type_name], name, **extra), "id": new_id("agreement")}
        agreements.append(record)
        return record

    extra_companies = max(1, n // 50)
    for i in range(1, n + extra_companies + 1):
        in_config = i <= n
        identifier = f"BenchCo{i:05d}"
        name = f"Bench Customer {i:05d}"
        trend_id = str(uuid.uuid5(NAMESPACE, identifier))
        company = {**company_record(identifier, name), "id": new_id("company")}
        companies.append(company)
        first_agreement = len(agreements)

        default = agreement(company, rng.choice(AGREEMENT_TYPES[:2]), f"{name} Managed")
        if rng.random() < 0.03:
            agreement(company, "Managed Service", f"{name} Managed (2022)", agreementStatus="Cancelled",
                      cancelledFlag=True, dateCancelled="2022-12-31T00:00:00Z")
        if rng.random() < 0.10:
            agreement(company, "Block Hours", f"{name} Block Hours", applicationUnits="Hours", applicationLimit=20)

        products = rng.sample(sorted(PRODUCTS), rng.randint(1, 3))
        m365 = None
        if rng.random() < 0.35:
            m365 = agreement(company, "Microsoft 365 Services", f"{name} M365")
            products = sorted(set(products) | {rng.choice(M365_PRODUCTS)})
        mapping: dict[str, object] = {}
        for product in sorted(products):
            if m365 is not None and product in M365_PRODUCTS:
                mapping[product] = {"type": "Microsoft 365 Services", "name": m365["name"]}
            else:
                mapping[product] = "default"
        referenced += len({id(m365 if isinstance(m, dict) else default) for m in mapping.values()})

        has_usage = rng.random() >= 0.03
        for product, target in mapping.items():
            seats = rng.randint(3, 400)
            if has_usage:
                usage_rows.append((trend_id, product, seats))
            on = m365 if isinstance(target, dict) else default
            roll = rng.random()
            if roll < 0.80:
                add(on, PRODUCTS[product], seats)
            elif roll < 0.88:
                add(on, PRODUCTS[product], max(0, seats + rng.choice((-3, -2, -1, 1, 2, 5))))
            elif roll < 0.94:
                pass  # missing: the plan creates it
            elif on is not default:
                add(default, PRODUCTS[product], seats)  # on the wrong agreement: a move
            else:
                add(on, PRODUCTS[product], seats)
        if rng.random() < 0.20:
            add(default, rng.choice(("MS-365-BP", "BACKUP-1TB")), rng.randint(1, 60))  # not ours
        if rng.random() < 0.05:
            product = next(iter(mapping))
            add(default, PRODUCTS[product], rng.randint(3, 100), cancelledDate="2025-03-31T00:00:00Z")
        if has_usage and rng.random() < 0.05:
            unmapped = sorted(set(PRODUCTS) - set(mapping))
            usage_rows.append((trend_id, rng.choice(unmapped), rng.randint(1, 20)))

        if in_config:
            active += sum(1 for a in agreements[first_agreement:] if not a.get("cancelledFlag"))
            _write_customer(out / "config" / "customers" / f"customer-{i:05d}.yaml",
                            name, trend_id, identifier, mapping)
        else:
            referenced -= len({id(m365 if isinstance(m, dict) else default) for m in mapping.values()})

    with open(out / "usage" / "seats.csv", "w", encoding="utf-8") as handle:
        handle.write("trend_customer_id,product,quantity\n")
        handle.writelines(f"{t},{p},{q}\n" for t, p, q in usage_rows)

    store = Store(out / "cw")
    try:
        store.clear()
        store.load_many({
            "agreement_type": list(types.values()),
            "catalog": list(catalog.values()),
            "company": companies,
            "agreement": agreements,
            "addition": additions,
        })
    finally:
        store.close()

    meta = Meta(customers=n, companies=len(companies), agreement_types=len(types), agreements=len(agreements),
                catalog_items=len(catalog), additions=len(additions), referenced_agreements=referenced,
                active_agreements=active,
                usage_rows=len(usage_rows), seed=seed)
    (out / "meta.json").write_text(json.dumps(asdict(meta), indent=2) + "\n", encoding="utf-8")
    return meta


def _write_customer(path: Path, name: str, trend_id: str, company: str, mapping: dict[str, object]) -> None:
    lines = [
        "# yaml-language-server: $schema=../../schemas/customer.schema.json",
        f"name: {name}",
        f"trend_customer_id: {trend_id}",
        f"connectwise_company: {company}",
        "agreements:",
    ]
    for product, target in mapping.items():
        if isinstance(target, dict):
            lines += [f"  {product}:", f"    type: {target['type']}", f"    name: {target['name']}"]
        else:
            lines.append(f"  {product}: default")
    lines.append("integration: general")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def generate_ledger(world: Path, ledger: Path, months: int = 12, end: str = "2026-10", seed: int = 7) -> int:
    """Write `months` periods of ledger history ending at `end` for every customer of `world`
    with usage, in the ledger's layout (one file per period beside `ledger`), as the scheduled
    job would have written it: per month a billing result (with an intent and changes about one
    month in five) on the 1st and an executive summary's intent and result on the 5th. Agreement
    and addition ids are the world's. Returns the number of records."""
    import csv

    import orjson

    from reconciler.config import load_config

    rng = random.Random(seed)
    config = load_config(world / "config", env={})
    seats: dict[str, dict[str, int]] = {}
    with open(world / "usage" / "seats.csv", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            seats.setdefault(row["trend_customer_id"].lower(), {})[row["product"]] = int(row["quantity"])
    store = Store(world / "cw")
    try:
        companies = {c["identifier"]: c for c in store.all("company")}
        by_company: dict[int, list[dict]] = {}
        for agreement in store.all("agreement"):
            by_company.setdefault(agreement["company"]["id"], []).append(agreement)
    finally:
        store.close()
    year, month = (int(x) for x in end.split("-"))
    index = year * 12 + month - 1
    periods = [f"{(index - k) // 12:04d}-{(index - k) % 12 + 1:02d}" for k in range(months - 1, -1, -1)]
    ledger.parent.mkdir(parents=True, exist_ok=True)
    count = 0
    for period in periods:
        lines: list[bytes] = []
        for n, customer in enumerate(config.customers):
            usage = seats.get(customer.trend_customer_id.lower())
            if not usage:
                continue
            company = companies[customer.psa_company]
            agreements = by_company[company["id"]]
            default = agreements[0]
            run_id = f"{period.replace('-', '')}01T111700Z-bench{n % 7}"
            head = {"kind": "billing", "customer": customer.slug, "connectwise_company": customer.psa_company,
                    "period": period, "trigger": "scheduled"}
            extra = {"connectwise_company_id": company["id"], "connectwise_company_name": company["name"], "day": 1}

            def record(ts: str, run: str, event: str, head: dict, body: dict) -> bytes:
                # the key order of Ledger.intent / Ledger.result, as the tool writes them
                return orjson.dumps({"v": 1, "ts": ts, "run_id": run, "event": event, **head, **body})

            additions = {}
            for k, (product, quantity) in enumerate(sorted(usage.items())):
                if product not in customer.agreements:
                    continue
                quantity = max(1, quantity + rng.randint(-3, 3))
                additions[product] = {"id": 1_000_000 + n * 10 + k, "agreement_id": default["id"],
                                      "agreement": f"{default['type']['name']} / {default['name']}",
                                      "quantity": quantity, "connectwise_product": PRODUCTS[product]}
            changes = []
            if rng.random() < 0.2 and additions:
                product = next(iter(additions))
                changes.append({"action": "update", "kind": "addition", "customer": customer.slug,
                                "product": product, "connectwise_product": PRODUCTS[product],
                                "agreement": {"id": default["id"], "type": default["type"]["name"],
                                              "name": default["name"]},
                                "addition_id": additions[product]["id"], "before": additions[product]["quantity"] - 2,
                                "after": additions[product]["quantity"], "effective_date": f"{period}-01",
                                "reason": "seat count changed"})
                lines.append(record(f"{period}-01T11:17:{n % 60:02d}.000000Z", run_id, "intent", head,
                                    {"changes": changes, **extra}))
                count += 1
            lines.append(record(f"{period}-01T11:18:{n % 60:02d}.000000Z", run_id, "result", head,
                                {"status": "sent", "error": None, "changes": changes, "additions": additions, **extra}))
            head = {**head, "kind": "summary"}
            summary_run = run_id.replace("01T", "05T")
            summary_extra = {**extra, "day": 5}
            lines.append(record(f"{period}-05T11:17:{n % 60:02d}.000000Z", summary_run, "intent", head,
                                {"changes": [{"action": "create", "kind": "summary", "customer": customer.slug}],
                                 **summary_extra}))
            lines.append(record(f"{period}-05T11:18:{n % 60:02d}.000000Z", summary_run, "result", head,
                                {"status": "sent", "error": None, "changes": [], "additions": {},
                                 "report_id": 500_000 + n, **summary_extra}))
            count += 3
        target = ledger.with_name(f"{ledger.stem}.{period}{ledger.suffix}")
        target.write_bytes(b"\n".join(lines) + b"\n")
    return count


def load_meta(out: Path) -> Meta:
    return Meta(**json.loads((out / "meta.json").read_text(encoding="utf-8")))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("customers", type=int)
    parser.add_argument("out", type=Path)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--ledger-months", type=int, default=0,
                        help="also write this many months of ledger to OUT/ledger/ledger.*.jsonl")
    args = parser.parse_args()
    meta = generate(args.out, args.customers, args.seed)
    print(json.dumps(asdict(meta)))
    if args.ledger_months:
        records = generate_ledger(args.out, args.out / "ledger" / "ledger.jsonl", args.ledger_months, seed=args.seed)
        print(json.dumps({"ledger_records": records}))


if __name__ == "__main__":
    main()
