"""Desired state: which addition, with which quantity, should sit on which agreement.

A pure function of the config, the usage and the company's agreements (needed to resolve
`default` and `{type, name}` mappings to agreement ids). No HTTP here.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from reconciler.config.model import DEFAULT, AgreementRef, Config, Customer
from reconciler.errors import ReconcileError
from reconciler.state import Agreement


class CustomerError(ReconcileError):
    """Something about one customer that stops only that customer (the engine records it as
    that customer's failure; the run goes on)."""


@dataclass(frozen=True)
class DesiredAddition:
    product: str  # product key
    catalog_item: str  # catalog identifier
    agreement: Agreement
    quantity: int


@dataclass
class DesiredCustomer:
    customer: Customer
    agreements: dict[str, Agreement]  # product key -> resolved agreement
    additions: dict[str, DesiredAddition]  # product key -> desired addition (products with usage)
    products_without_usage: list[str] = field(default_factory=list)  # mapped, but no usage row
    unmapped_usage: dict[str, int] = field(default_factory=dict)  # usage, but no mapping
    has_usage: bool = True


def _describe(agreements: list[Agreement]) -> str:
    if not agreements:
        return "the company has no active agreements"
    listed = "; ".join(sorted(a.label for a in agreements))
    return f"agreements that exist: {listed}"


def resolve_agreement(
    product: str, mapping: AgreementRef | str, agreements: list[Agreement], default_types: tuple[str, ...]
) -> Agreement:
    """The single active agreement a product mapping names, or a CustomerError saying why not."""
    active = [a for a in agreements if a.active]
    if mapping == DEFAULT:
        wanted = {t.casefold() for t in default_types}
        candidates = [a for a in active if a.type.casefold() in wanted]
        if len(candidates) == 1:
            return candidates[0]
        if not candidates:
            raise CustomerError(
                f"{product}: `default` needs one active agreement of type "
                f"{' or '.join(repr(t) for t in default_types)}, found none; {_describe(active)}"
            )
        raise CustomerError(
            f"{product}: `default` is ambiguous, {len(candidates)} active agreements have a default type "
            f"({'; '.join(sorted(a.label for a in candidates))}); name one as {{type, name}}"
        )
    assert isinstance(mapping, AgreementRef)
    matches = [
        a for a in active
        if a.type.casefold() == mapping.type.casefold() and a.name.casefold() == mapping.name.casefold()
    ]
    if len(matches) == 1:
        return matches[0]
    if not matches:
        raise CustomerError(f"{product}: no active agreement {mapping.type} / {mapping.name}; {_describe(active)}")
    raise CustomerError(
        f"{product}: {len(matches)} active agreements are named {mapping.type} / {mapping.name}; "
        "rename one in ConnectWise"
    )


def desired_for(
    config: Config, customer: Customer, usage: dict[str, int], agreements: list[Agreement]
) -> DesiredCustomer:
    """Desired additions of one customer. Raises CustomerError listing every mapping problem."""
    resolved: dict[str, Agreement] = {}
    problems: list[str] = []
    for product, mapping in sorted(customer.agreements.items()):
        try:
            resolved[product] = resolve_agreement(product, mapping, agreements, config.default_agreement_types)
        except CustomerError as error:
            where = customer.mapping_locations.get(product)
            problems.append(f"{where}: {error}" if where else str(error))
    if problems:
        raise CustomerError("; ".join(problems))

    additions: dict[str, DesiredAddition] = {}
    for product, agreement in resolved.items():
        if product in usage:
            additions[product] = DesiredAddition(
                product=product,
                catalog_item=config.products[product].catalog_item,
                agreement=agreement,
                quantity=usage[product],
            )
    return DesiredCustomer(
        customer=customer,
        agreements=resolved,
        additions=additions,
        products_without_usage=sorted(p for p in resolved if p not in usage),
        unmapped_usage={p: q for p, q in sorted(usage.items()) if p not in resolved},
        has_usage=bool(usage),
    )
