"""config.load: every rejection at its file:line with a clear message, and the merged Config."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import pytest

from reconciler.config import ConfigInvalid, load_config, validate_config
from reconciler.config.model import (
    DEFAULT,
    AgreementRef,
    BillingSettings,
    SafetySettings,
    SummarySettings,
)
from reconciler.config.schemas import load_schemas, schema_errors
from reconciler.config.yamlsource import YamlDocument
from tests.support import REPO_ROOT, edit

SHIPPED = REPO_ROOT / "config"
GUID = "11111111-2222-4333-8444-555555555555"






def line_of(path: Path, needle: str) -> int:
    return next(i for i, line in enumerate(path.read_text().splitlines(), 1) if needle in line)


def only(diagnostics, path: Path):
    found = [d for d in diagnostics if d.path == str(path)]
    assert len(found) == 1, found
    return found[0]


def test_shipped_config_is_valid():
    assert validate_config(SHIPPED) == []


def test_yaml_syntax_error(cfg):
    f = cfg / "customers/acme-dental.yaml"
    edit(f, "  hes: default", "  hes: [default")
    d = only(validate_config(cfg), f)
    assert d.line == line_of(f, "integration") and "YAML syntax error" in d.message


def test_tab_indented_line(cfg):
    f = cfg / "global.yaml"
    edit(f, "  day: 1\n", "\tday: 1\n")
    d = only(validate_config(cfg), f)
    assert (d.line, d.col) == (line_of(f, "\tday: 1"), 1)
    assert "tab character in indentation" in d.message


def test_duplicate_key(cfg):
    f = cfg / "customers/acme-dental.yaml"
    edit(f, "integration: general", "integration: general\nname: Again")
    d = only(validate_config(cfg), f)
    assert (d.line, d.col) == (line_of(f, "name: Again"), 1)
    assert "duplicate key 'name'" in d.message and f"line {line_of(f, 'name: Acme')}" in d.message


def test_unknown_key_top_level_and_nested(cfg):
    f = cfg / "customers/fjord-architects.yaml"
    edit(f, "integration: custom", "integraton: custom")
    edit(f, "  timezone: Europe/Oslo", "  tiemzone: Europe/Oslo")
    found = [d for d in validate_config(cfg) if d.path == str(f)]
    by_path = {d.json_path: d for d in found}
    top, nested = by_path["$.integraton"], by_path["$.billing.tiemzone"]
    assert (top.line, top.col) == (line_of(f, "integraton"), 1)
    assert "unknown key 'integraton'" in top.message and "did you mean 'integration'" in top.message
    assert (nested.line, nested.col) == (line_of(f, "tiemzone"), 3)
    assert "unknown key 'tiemzone'" in nested.message


def test_wrong_type(cfg):
    f = cfg / "global.yaml"
    edit(f, "  catch_up_days: 7", "  catch_up_days: seven")
    d = only(validate_config(cfg), f)
    assert (d.line, d.json_path) == (line_of(f, "catch_up_days"), "$.billing.catch_up_days")
    assert "expected a whole number, got 'seven'" in d.message


def test_unquoted_api_version_says_quote_it(cfg):
    f = cfg / "global.yaml"
    edit(f, 'api_version: "2025.1"', "api_version: 2025.1")
    d = only(validate_config(cfg), f)
    assert 'expected a string, got 2025.1 (quote it: "2025.1")' in d.message


def test_day_32_in_custom_billing(cfg):
    f = cfg / "customers/cedar-law.yaml"
    edit(f, "day: 31", "day: 32")
    d = only(validate_config(cfg), f)
    assert (d.path, d.line, d.col) == ("config/customers/cedar-law.yaml", line_of(f, "day: 32"), 8)
    assert (
        "32 is greater than the maximum of 31" in d.message
        and "billing day must be 1-31" in d.message
    )
    assert str(d) == (
        f"config/customers/cedar-law.yaml:{d.line}:8: error: {d.message} [$.billing.day]"
    )


def test_day_0_in_global_executive_summary(cfg):
    f = cfg / "global.yaml"
    edit(f, "  day: 5", "  day: 0")
    d = only(validate_config(cfg), f)
    assert d.line == line_of(f, "day: 0") and "executive summary day must be 1-31" in d.message


def test_unknown_time_zone(cfg):
    f, g = cfg / "customers/fjord-architects.yaml", cfg / "global.yaml"
    edit(f, "Europe/Oslo", "Europe/Olso")
    edit(g, "America/Chicago", "Mars/Olympus")
    diagnostics = validate_config(cfg)
    d = only(diagnostics, f)
    assert d.line == line_of(f, "Europe/Olso")
    assert "unknown time zone 'Europe/Olso'" in d.message and "Europe/Oslo" in d.message
    assert "unknown time zone 'Mars/Olympus'" in only(diagnostics, g).message


def test_unknown_product_in_mapping(cfg):
    f = cfg / "customers/brightline-logistics.yaml"
    edit(f, "  cas:", "  casb:")
    d = only(validate_config(cfg), f)
    assert (d.line, d.col) == (line_of(f, "casb:"), 3)
    assert "unknown product 'casb'" in d.message and "global.yaml" in d.message


def test_duplicate_connectwise_company_case_insensitive(cfg):
    f = cfg / "customers/granite-credit-union.yaml"
    edit(f, "connectwise_company: GraniteCU", "connectwise_company: acmedental")
    d = only(validate_config(cfg), f)
    first = cfg / "customers/acme-dental.yaml"
    assert d.line == line_of(f, "connectwise_company")
    assert (
        f"already used by config/customers/acme-dental.yaml:{line_of(first, 'connectwise_company')}"
        in d.message
    )


def test_duplicate_trend_customer_id(cfg):
    f = cfg / "customers/fjord-architects.yaml"
    edit(f, "2e3f4a5b-6c7d-4e8f-9a0b-1c2d3e4f5a65", "3f2b6c1e-8a4d-4e1b-9c7a-1d2e3f4a5b60")
    d = only(validate_config(cfg), f)
    assert d.line == line_of(f, "trend_customer_id")
    assert "trend_customer_id" in d.message and "config/customers/acme-dental.yaml:4" in d.message


def test_two_products_on_one_catalog_item_case_insensitive(cfg):
    """Both keys would bill one addition per agreement: one of the seat counts would be lost."""
    g = cfg / "global.yaml"
    edit(g, "connectwise_product: TM-WFS-ADV", "connectwise_product: tm-wfbss-svc")
    d = only(validate_config(cfg), g)
    assert (d.line, d.col) == (line_of(g, "tm-wfbss-svc"), line_of_col(g, "tm-wfbss-svc"))
    assert d.json_path == "$.products.wfs-advanced.connectwise_product"
    first = line_of(g, "connectwise_product: TM-WFBSS-SVC")
    assert f"'wfs-advanced' and 'wfbss-svc' (line {first})" in d.message
    assert "'tm-wfbss-svc'" in d.message
    with pytest.raises(ConfigInvalid):
        load_config(cfg)


def line_of_col(path: Path, needle: str) -> int:
    line = path.read_text().splitlines()[line_of(path, needle) - 1]
    return line.index(needle) + 1


def test_custom_blocks_under_general(cfg):
    f = cfg / "customers/acme-dental.yaml"
    edit(f, "integration: general", "integration: general\nbilling:\n  day: 3")
    d = only(validate_config(cfg), f)
    assert (d.line, d.json_path) == (line_of(f, "billing:"), "$.billing")
    assert "no effect with integration: general" in d.message


def test_custom_blocks_without_integration_key_mean_general(cfg):
    f = cfg / "customers/acme-dental.yaml"
    edit(f, "integration: general", "executive_summary:\n  enabled: false")
    d = only(validate_config(cfg), f)
    assert d.line == line_of(f, "executive_summary:") and "integration: general" in d.message


def test_custom_with_no_override(cfg):
    f = cfg / "customers/acme-dental.yaml"
    edit(f, "integration: general", "integration: custom")
    d = only(validate_config(cfg), f)
    assert d.line == line_of(f, "integration: custom")
    assert "needs a billing or executive_summary block" in d.message


def test_bad_one_of_agreement_value_best_match(cfg):
    f = cfg / "customers/acme-dental.yaml"
    edit(f, "hes: default", "hes: defualt")
    d = only(validate_config(cfg), f)
    assert (d.line, d.json_path) == (line_of(f, "hes: defualt"), "$.agreements.hes")
    assert "must be `default` or a mapping with type and name" in d.message
    assert "did you mean 'default'" in d.message


def test_one_of_agreement_mapping_reports_the_mapping_branch(cfg):
    f = cfg / "customers/brightline-logistics.yaml"
    edit(f, "    name: Brightline Managed Security\n", "    nmae: Brightline Managed Security\n")
    found = [d for d in validate_config(cfg) if d.path == str(f)]
    messages = {d.message.split(" (")[0] for d in found}
    assert messages == {"missing required key 'name'", "unknown key 'nmae'"}
    assert {d.line for d in found} == {line_of(f, "wfs-advanced:"), line_of(f, "nmae")}


def test_missing_required_key_points_at_the_mapping(cfg):
    f = cfg / "customers/acme-dental.yaml"
    edit(f, "connectwise_company: AcmeDental\n", "")
    d = only(validate_config(cfg), f)
    assert (d.line, d.json_path) == (line_of(f, "name:"), "$")  # the top-level mapping starts there
    assert "missing required key 'connectwise_company'" in d.message
    g = cfg / "global.yaml"
    edit(g, "  path: ../usage/seats.csv\n", "")
    d = only(validate_config(cfg), g)
    assert (d.line, d.json_path) == (line_of(g, "usage:"), "$.usage")
    assert "missing required key 'path'" in d.message


def test_empty_file_and_binary_junk(cfg):
    (cfg / "customers/empty.yaml").write_text("")
    (cfg / "customers/junk.yaml").write_bytes(b"\xff\xd8\xff\xe0\x00\x10JFIF")
    diagnostics = validate_config(cfg)
    assert "file is empty" in only(diagnostics, cfg / "customers/empty.yaml").message
    assert "binary file" in only(diagnostics, cfg / "customers/junk.yaml").message


def test_placeholder_trend_customer_id(cfg):
    for name in ("acme-dental", "granite-credit-union"):  # two placeholders are not duplicates
        f = cfg / f"customers/{name}.yaml"
        text = f.read_text()
        start = text.index("trend_customer_id: ") + len("trend_customer_id: ")
        f.write_text(text[:start] + "REPLACE-ME" + text[text.index("\n", start) :])
    diagnostics = validate_config(cfg)
    assert len(diagnostics) == 2
    for d in diagnostics:
        assert d.json_path == "$.trend_customer_id" and "fill in the Trend customer id" in d.message


def test_slug_ignored_files_and_directory_problems(cfg):
    (cfg / "customers/README.md").write_text("not config")
    (cfg / "customers/Bad Name.yaml").write_text(
        (cfg / "customers/acme-dental.yaml")
        .read_text()
        .replace("AcmeDental", "Other")
        .replace("3f2b6c1e", "4f2b6c1e")
    )
    diagnostics = validate_config(cfg)
    assert [d.path for d in diagnostics] == ["config/customers/Bad Name.yaml"]
    assert "not a valid customer slug" in diagnostics[0].message
    (cfg / "global.yaml").unlink()
    shutil.rmtree(cfg / "customers")
    messages = [(d.path, d.message) for d in validate_config(cfg)]
    assert ("config/customers", "customers/ directory is missing") in messages
    assert ("config/global.yaml", "global.yaml is missing from the config directory") in messages


def test_all_errors_in_one_pass_sorted(cfg):
    edit(cfg / "customers/cedar-law.yaml", "day: 31", "day: 32")
    edit(cfg / "customers/acme-dental.yaml", "hes: default", "hes: 3")
    edit(cfg / "global.yaml", "  day: 5", "  day: 0")
    diagnostics = validate_config(cfg)
    assert [d.path for d in diagnostics] == [
        "config/customers/acme-dental.yaml",
        "config/customers/cedar-law.yaml",
        "config/global.yaml",
    ]
    with pytest.raises(ConfigInvalid) as raised:
        load_config(cfg)
    assert len(raised.value.diagnostics) == 3
    assert "config/customers/cedar-law.yaml:11:8: error:" in str(raised.value)


def test_load_config_merges_custom_overrides(cfg):
    config = load_config(cfg, env={})
    by_slug = {c.slug: c for c in config.customers}
    assert list(by_slug) == sorted(by_slug)
    glob = config.billing
    assert by_slug["acme-dental"].billing == glob
    assert by_slug["cedar-law"].billing == dataclasses.replace(glob, day=31)
    assert by_slug["delta-manufacturing"].billing == dataclasses.replace(glob, enabled=False)
    fjord = by_slug["fjord-architects"]
    assert fjord.billing == dataclasses.replace(glob, day=15, timezone="Europe/Oslo")
    assert fjord.executive_summary == dataclasses.replace(
        config.executive_summary, enabled=False, timezone="Europe/Oslo"
    )
    evergreen = by_slug["evergreen-clinic"].executive_summary
    assert (evergreen.enabled, evergreen.day, evergreen.timezone) == (True, 3, "America/Chicago")
    assert config.executive_summary.timezone == "America/Chicago"
    assert by_slug["acme-dental"].agreements == {"wfbss-svc": DEFAULT, "hes": DEFAULT}
    assert by_slug["brightline-logistics"].agreements["cas"] == AgreementRef(
        "Microsoft 365 Services", "Brightline M365"
    )
    assert config.usage.path == (cfg / "../usage/seats.csv").resolve()
    assert config.connectwise.url.startswith("https://api-na.myconnectwise.net")
    assert config.default_agreement_types == ("TMRM Management Solution", "Managed Service")


def test_load_config_env_overrides(cfg):
    env = {"CW_URL": "http://127.0.0.1:9/v4_6_release/apis/3.0", "CW_COMPANY_ID": "sandbox"}
    connectwise = load_config(cfg, env=env).connectwise
    assert (connectwise.url, connectwise.company_id) == (env["CW_URL"], "sandbox")
    assert load_config(cfg, env={"CW_URL": ""}).connectwise.company_id == "northwindmsp"


def test_defaults_come_from_the_schema_and_match_the_model(cfg):
    g = cfg / "global.yaml"
    text = g.read_text()
    g.write_text(text[: text.index("agreements:")] + "billing:\n  timezone: UTC\n")
    config = load_config(cfg, env={})
    assert config.billing == BillingSettings(timezone="UTC")
    assert config.executive_summary == SummarySettings()
    assert config.safety == SafetySettings()
    assert (config.connectwise.requests_per_minute, config.connectwise.workers) == (900, 8)
    assert config.usage.path is None


@pytest.mark.parametrize(
    "variant",
    [
        {},
        {"integration": "custom"},
        {"agreements": {"x": "default", "y": {"type": "t", "name": "n"}}},
        {"agreements": {"x": {"type": "t"}}},
        {"agreements": {"x": {"type": "t", "name": "n", "z": 1}}},
        {"agreements": {}},
        {"agreements": {"x": "Default"}},
        {"agreements": {"x": None}},
        {"billing": {"day": 31.0}},
        {"billing": {"day": True}},
        {"billing": {"day": 32}},
        {"billing": {"catch_up_days": 27}},
        {"billing": {"timezone": ""}},
        {"connectwise_company": "x" * 31},
        {"trend_customer_id": "nope"},
        {"name": ""},
        {"integration": "Custom"},
        {"executive_summary": []},
    ],
)
def test_quick_check_agrees_with_jsonschema(variant):
    schemas = load_schemas()
    doc = {"trend_customer_id": GUID, "connectwise_company": "C", "agreements": {"x": "default"}}
    doc.update(variant)
    expected = schemas.validators["customer"].is_valid(doc)
    assert schemas.quick["customer"](doc) is expected
    errors = schema_errors(YamlDocument(Path("x.yaml"), doc), "customer", schemas)
    assert (errors == []) is expected
