"""reconciler/importer.py: ConnectWise records -> customer files, with no server."""

from datetime import UTC, date, datetime
from pathlib import Path

import yaml

from reconciler.config import load_config, validate_config
from reconciler.config.model import DEFAULT, AgreementRef, Product
from reconciler.config.schemas import PLACEHOLDER_ID
from reconciler.importer import (
    MODELINE,
    ExistingFile,
    build_customer,
    catalog_additions,
    match_trend_customer,
    plan_files,
    render_customer,
    slugify,
)
from reconciler.state import Addition, Agreement, Company, CompanyState
from tests.support.e2e import make_repo

PRODUCTS = {
    "wfbss-svc": Product("wfbss-svc", "WFBSS", "TM-WFBSS-SVC"),
    "cas": Product("cas", "CAS", "TM-CAS-M365"),
    "hes": Product("hes", "HES", "TM-HES"),
}
DEFAULT_TYPES = ("TMRM Management Solution", "Managed Service")
NOW = datetime(2026, 11, 27, 13, 5, tzinfo=UTC)
GUID = "3f2b6c1e-8a4d-4e1b-9c7a-1d2e3f4a5b60"
MANAGED = Agreement(1, "Acme Managed", "Managed Service", 7)
M365 = Agreement(2, "Acme M365", "Microsoft 365 Services", 7)
OLD = Agreement(3, "Acme Managed (2019)", "Managed Service", 7, active=False)


TODAY = NOW.date()


def state_of(id_: int, identifier: str, name: str, agreements=(), additions=()) -> CompanyState:
    state = CompanyState(Company(id_, identifier, name), list(agreements))
    for addition in additions:
        state.additions.setdefault(addition.agreement_id, []).append(addition)
    return state


def company(*additions: Addition, agreements=(MANAGED, M365, OLD), name="Acme Dental Group") -> CompanyState:
    return state_of(7, "AcmeDental", name, agreements, additions)


def add(aid: int, agreement: Agreement, identifier: str, quantity: float) -> Addition:
    return Addition(aid, agreement.id, identifier, quantity)


def test_default_agreement_becomes_default_and_others_type_and_name():
    imported = build_customer(
        company(add(1, MANAGED, "TM-WFBSS-SVC", 42), add(2, M365, "tm-cas-m365", 29), add(3, MANAGED, "MS-365-BP", 40)),
        PRODUCTS, DEFAULT_TYPES, (GUID, "from LMPI"), TODAY)
    assert imported.mappings == {"wfbss-svc": DEFAULT, "cas": AgreementRef("Microsoft 365 Services", "Acme M365")}
    assert imported.warnings == []


def test_default_needs_a_single_active_default_type_agreement():
    second = Agreement(4, "Acme Projects", "TMRM Management Solution", 7)
    imported = build_customer(company(add(1, MANAGED, "TM-HES", 5), agreements=(MANAGED, second, OLD)),
                              PRODUCTS, DEFAULT_TYPES, (GUID, ""), TODAY)
    assert imported.mappings == {"hes": AgreementRef("Managed Service", "Acme Managed")}


def test_no_catalog_additions_means_no_file():
    assert build_customer(company(add(3, MANAGED, "MS-365-BP", 40)), PRODUCTS, DEFAULT_TYPES, (GUID, ""), TODAY) is None
    assert catalog_additions(company(), PRODUCTS, TODAY) == {}


def test_a_product_on_two_agreements_maps_to_the_larger_quantity_with_a_conflict_comment():
    imported = build_customer(company(add(1, MANAGED, "TM-HES", 10), add(2, M365, "TM-HES", 35)),
                              PRODUCTS, DEFAULT_TYPES, (GUID, ""), TODAY)
    assert imported.mappings == {"hes": AgreementRef("Microsoft 365 Services", "Acme M365")}
    text = render_customer(imported, NOW)
    assert "# CONFLICT: TM-HES is billed on 2 agreements at once" in text
    assert "Managed Service / Acme Managed (addition 1, quantity 10)" in text
    assert any("billed on 2 agreements" in w for w in imported.warnings)
    # A tie goes to the lower agreement id, so reruns write the same file.
    tie = build_customer(company(add(5, M365, "TM-HES", 10), add(6, MANAGED, "TM-HES", 10)), PRODUCTS, DEFAULT_TYPES, (GUID, ""), TODAY)
    assert tie.mappings == {"hes": DEFAULT}


def test_two_additions_of_one_product_on_one_agreement_warn():
    imported = build_customer(company(add(1, MANAGED, "TM-HES", 10), add(2, MANAGED, "TM-HES", 3)),
                              PRODUCTS, DEFAULT_TYPES, (GUID, ""), TODAY)
    assert imported.mappings == {"hes": DEFAULT}
    assert any("2 active additions" in w for w in imported.warnings)


def test_duplicate_agreement_names_are_flagged_because_the_mapping_would_not_resolve():
    twin = Agreement(5, "Acme M365", "Microsoft 365 Services", 7)
    imported = build_customer(company(add(1, M365, "TM-CAS-M365", 3), agreements=(MANAGED, M365, twin)),
                              PRODUCTS, DEFAULT_TYPES, (GUID, ""), TODAY)
    assert "# WARNING: this mapping does not resolve" in render_customer(imported, NOW)
    assert imported.warnings


def test_rendered_file_order_modeline_and_provenance():
    imported = build_customer(
        company(add(2, M365, "TM-CAS-M365", 29), add(1, MANAGED, "TM-WFBSS-SVC", 42)),
        PRODUCTS, DEFAULT_TYPES, (GUID, 'from the LMPI customer named "Acme Dental Group"'), TODAY)
    text = render_customer(imported, NOW)
    lines = text.splitlines()
    assert lines[0] == MODELINE
    assert "from ConnectWise company AcmeDental" in lines[1] and "2026-11-27 13:05 UTC" in lines[1]
    keys = [line.split(":")[0] for line in lines if line and not line.startswith((" ", "#"))]
    assert keys == ["name", "trend_customer_id", "connectwise_company", "agreements", "integration"]
    data = yaml.safe_load(text)
    assert list(data["agreements"]) == ["wfbss-svc", "cas"]  # global.yaml products order
    assert data["integration"] == "general" and data["trend_customer_id"] == GUID
    assert render_customer(imported, NOW) == text


def test_names_that_yaml_would_misread_are_quoted():
    odd = Agreement(2, "yes", "Managed: Service", 7)
    imported = build_customer(company(add(1, odd, "TM-HES", 1), agreements=(odd,), name="123"), PRODUCTS,
                              ("Other",), (GUID, ""), TODAY)
    data = yaml.safe_load(render_customer(imported, NOW))
    assert data["name"] == "123"
    assert data["agreements"]["hes"] == {"type": "Managed: Service", "name": "yes"}


def _config_dir_with(tmp_path: Path, files: dict[str, str]) -> Path:
    repo = make_repo(tmp_path)
    for path in (repo / "config/customers").iterdir():
        path.unlink()
    for name, text in files.items():
        (repo / "config/customers" / name).write_text(text)
    return repo / "config"


def test_imported_files_are_valid_and_load(tmp_path):
    imported = build_customer(company(add(1, MANAGED, "TM-WFBSS-SVC", 42), add(2, M365, "TM-HES", 5)),
                              PRODUCTS, DEFAULT_TYPES, (GUID, "from LMPI"), TODAY)
    config_dir = _config_dir_with(tmp_path, {"acme-dental-group.yaml": render_customer(imported, NOW)})
    assert validate_config(config_dir) == []
    customer = load_config(config_dir).customer("acme-dental-group")
    assert customer.agreements == {"wfbss-svc": DEFAULT, "hes": AgreementRef("Microsoft 365 Services", "Acme M365")}


def test_placeholder_has_a_loud_todo_and_fails_validation(tmp_path):
    trend = match_trend_customer("Acme Dental Group", [{"customer_id": GUID, "name": "Someone Else"}])
    assert trend[0] == PLACEHOLDER_ID
    imported = build_customer(company(add(1, MANAGED, "TM-HES", 5)), PRODUCTS, DEFAULT_TYPES, trend, TODAY)
    text = render_customer(imported, NOW)
    assert '# TODO: REPLACE-ME is a placeholder: no LMPI customer is named "Acme Dental Group".' in text
    assert f"trend_customer_id: {PLACEHOLDER_ID}" in text
    assert any("REPLACE-ME" in w for w in imported.warnings)
    problems = validate_config(_config_dir_with(tmp_path, {"acme.yaml": text}))
    assert [p.message for p in problems] == [(
        "trend_customer_id is still the import placeholder REPLACE-ME: fill in the Trend customer id "
        "(the customer's GUID in Trend Micro Remote Manager)")]


def test_trend_match_is_case_and_whitespace_insensitive_and_never_guesses():
    lmpi = [{"customer_id": GUID, "name": "  acme   DENTAL group "}, {"customer_id": "x", "name": "Acme Dental"}]
    assert match_trend_customer("Acme Dental Group", lmpi)[0] == GUID
    assert match_trend_customer("Acme Dental Group", None)[0] == PLACEHOLDER_ID
    twins = [{"customer_id": "a", "name": "Twin"}, {"customer_id": "b", "name": "twin"}]
    assert match_trend_customer("Twin", twins) == (PLACEHOLDER_ID, '2 LMPI customers are named "Twin" (a, b)')
    assert match_trend_customer("Acme Dental Group", lmpi, taken_ids=[GUID.upper()])[0] == PLACEHOLDER_ID


def test_slugify():
    assert slugify("Cedar & Finch Law LLP") == "cedar-finch-law-llp"
    assert slugify("Zürich Ärzte GmbH") == "zurich-arzte-gmbh"
    assert slugify("***") == ""
    assert len(slugify("word " * 40)) <= 60


def test_plan_files_never_overwrites_without_the_flag_and_keeps_the_existing_slug(tmp_path):
    acme = company()
    harbor = state_of(8, "HarborBakery", "Acme Dental Group")  # same name, other company
    existing = [ExistingFile(tmp_path / "acme-dental.yaml", "acmedental")]
    skip, new = plan_files([acme, harbor], existing, tmp_path, overwrite=False)
    assert (skip.action, skip.path.name) == ("skip", "acme-dental.yaml") and "exists" in skip.reason
    assert (new.action, new.path.name) == ("write", "acme-dental-group.yaml")
    replace, _ = plan_files([acme, harbor], existing, tmp_path, overwrite=True)
    assert (replace.action, replace.path.name) == ("overwrite", "acme-dental.yaml")


def test_plan_files_slug_clashes(tmp_path):
    acme = company()
    other = [ExistingFile(tmp_path / "acme-dental-group.yaml", "SomeoneElse")]
    (action,) = plan_files([acme], other, tmp_path, overwrite=False)
    assert action.path.name == "acme-dental-group-acmedental.yaml" and action.action == "write"
    unreadable = [ExistingFile(tmp_path / "acme-dental-group.yaml", None)]
    (action,) = plan_files([acme], unreadable, tmp_path, overwrite=False)
    assert action.action == "skip"
    twins = [state_of(1, "A1", "Same"), state_of(2, "A2", "Same")]
    assert [a.path.name for a in plan_files(twins, [], tmp_path, False)] == ["same.yaml", "same-a2.yaml"]


def test_control_and_bidi_characters_from_connectwise_are_escaped_in_the_file_and_still_load_exactly():
    # A right-to-left override or an escape sequence in a ConnectWise name was written raw into the
    # customer file (its comments and values), where it reorders or hides text in a pull request review.
    name = "Cedar\u202eXYZ\x1b[31mRED \u2066Law"
    odd = Agreement(2, "Acme \u202eM365\u2069", "Managed Service", 7)
    imported = build_customer(company(add(1, odd, "TM-HES", 1), agreements=(odd,), name=name), PRODUCTS,
                              ("Other",), (PLACEHOLDER_ID, f'no LMPI customer is named "{name}"'), TODAY)
    text = render_customer(imported, NOW)
    for bad in ("\u202e", "\x1b", "\u2066", "\u2069"):
        assert bad not in text, repr(bad)
    data = yaml.safe_load(text)
    assert data["name"] == name
    assert data["agreements"]["hes"] == {"type": "Managed Service", "name": "Acme \u202eM365\u2069"}


def test_an_addition_counts_while_it_bills_on_the_day_passed_in():
    # ConnectWise's "active": a cancelled date still to come bills; import asks about `today`.
    ending = Addition(1, MANAGED.id, "TM-HES", 5, cancelled_date="2026-11-20T00:00:00Z")
    assert list(catalog_additions(company(ending), PRODUCTS, date(2026, 11, 19))) == ["hes"]
    assert catalog_additions(company(ending), PRODUCTS, date(2026, 11, 20)) == {}
    assert build_customer(company(ending), PRODUCTS, DEFAULT_TYPES, (GUID, ""), date(2026, 11, 27)) is None
