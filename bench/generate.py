"""Generate a benchmark world of N customers: config files, a usage CSV and the sandbox's data.

    .venv/bin/python bench/generate.py 5000 /tmp/bench-5000

writes `DIR/config/global.yaml`, `DIR/config/customers/customer-NNNNN.yaml` (N files),
`DIR/usage/seats.csv`, `DIR/schemas/` (a copy of the package's, for editors and check-jsonschema),
`DIR/cw/sandbox.db` (companies, agreement types, agreements, catalog and additions, loaded with
the Store's bulk inserts) and `DIR/meta.json` (the counts the request lower bound needs).

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
    shutil.copytree(REPO / "reconciler" / "schemas", out / "schemas")  # for editors and check-jsonschema
    shutil.copy(REPO / "config" / "global.yaml", out / "config" / "global.yaml")

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


def load_meta(out: Path) -> Meta:
    return Meta(**json.loads((out / "meta.json").read_text(encoding="utf-8")))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("customers", type=int)
    parser.add_argument("out", type=Path)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    meta = generate(args.out, args.customers, args.seed)
    print(json.dumps(asdict(meta)))


if __name__ == "__main__":
    main()
