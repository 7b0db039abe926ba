"""A second PSA, as a sketch: everything a PSA package must offer the rest of the tool.

This module is the whole "package" (a real one would be `reconciler/<psa>/`): a target
(tests/support/memory_target.py), the names of the environment variables holding its secrets,
and `connect(config, env, sandbox=None) -> Connection`. Registering it is one line in
`reconciler.runtime.TARGETS`; tests/unit/test_second_psa.py does exactly that (and nothing else
outside this module) and runs `reconcile plan` and `apply` through it.

Its "tenant" is made up at connect time from the config (each customer's company with an
agreement of the first default type, each product's catalog item), so a run has something to
bill; it keeps no executive summaries and no tickets, to show the capabilities at work.
"""

from __future__ import annotations

from collections.abc import Mapping

from reconciler.config.model import Config
from reconciler.target import Capabilities, Connection, MissingCredentials

from .memory_target import MemoryTarget

CREDENTIAL_VARIABLES = ("MEMORY_PSA_TOKEN",)
CONNECTED: list[MemoryTarget] = []  # every target `connect` made, for the test to look at


def connect(config: Config, env: Mapping[str, str], sandbox: object | None = None) -> Connection:
    if sandbox is None and not env.get("MEMORY_PSA_TOKEN"):
        raise MissingCredentials("missing MemoryPSA credentials: set MEMORY_PSA_TOKEN in the environment")
    target = MemoryTarget(Capabilities(summaries=False, tickets=False))
    kind = config.default_agreement_types[0]
    target.add_agreement_type(kind)
    for customer in config.customers:
        company = target.add_company(customer.psa_company, customer.display_name)
        target.add_agreement(company, kind, f"{customer.display_name} managed")
    for product in config.products.values():
        target.add_catalog_item(product.catalog_item, "5.00", "2.00")
    CONNECTED.append(target)
    return Connection(target)
