"""Trend ids and the usage basis in global.yaml: loading, cross-checks, and the line-edit writer."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from reconciler.config import load_config, validate_config
from reconciler.config.trend_ids_writer import CannotEdit, add_service_plan_ids
from tests.support import REPO_ROOT, edit

SHIPPED = REPO_ROOT / "config"






def reported(cfg: Path, day: int = 6) -> None:
    edit(cfg / "global.yaml", "  source: csv\n  path: ../usage/seats.csv\n", "  source: lmpi\n  basis: reported\n")
    edit(cfg / "global.yaml", "  day: 1\n", f"  day: {day}\n")


def test_products_carry_their_trend_ids_and_usage_its_basis(cfg):
    edit(cfg / "global.yaml", "      product_codes: [HESMWXE3X]\n",
         "      product_codes: [HESMWXE3X, HESAWXE3X]\n      service_plan_ids: [p-1]\n      names: [Email Security]\n")
    reported(cfg)
    config = load_config(cfg)
    hes = config.products["hes"]
    assert (hes.trend_product_ids, hes.trend_service_plan_ids, hes.trend_names) == (
        ("HESMWXE3X", "HESAWXE3X"), ("p-1",), ("Email Security",))
    # The documented default: provisioned (chargeable is not in Trend's report).
    assert (config.usage.source, config.usage.basis, config.usage.reported_units) == ("lmpi", "reported", "provisioned")


def test_a_product_code_counted_by_two_products_is_an_error_at_its_line(cfg):
    edit(cfg / "global.yaml", "      product_codes: [CASMWXE3X]\n", "      product_codes: [CASMWXE3X, hesmwxe3x]\n")
    (problem,) = [d for d in validate_config(cfg) if d.level == "error"]
    lines = (cfg / "global.yaml").read_text().splitlines()
    first = next(n for n, text in enumerate(lines, 1) if "[CASMWXE3X, hesmwxe3x]" in text)
    second = next(n for n, text in enumerate(lines, 1) if "product_codes: [HESMWXE3X]" in text)
    # Reported at the second occurrence (case-insensitive), naming the first.
    assert (problem.line, problem.col) == (second, lines[second - 1].index("HESMWXE3X") + 1)
    assert f"'HESMWXE3X' is already counted by product cas (line {first})" in problem.message
    assert "billed twice" in problem.message


def test_a_code_under_the_older_key_is_still_one_code_for_the_twice_check(cfg):
    edit(cfg / "global.yaml", "      product_codes: [CASMWXE3X]\n", "      product_ids: [CASMWXE3X, HESMWXE3X]\n")
    (problem,) = [d for d in validate_config(cfg) if d.level == "error"]
    assert "'HESMWXE3X' is already counted by product cas" in problem.message


@pytest.mark.parametrize("code", ["WFBSS-SVC", "HES", "WFSBWXE3XX"])
def test_a_product_code_of_another_shape_is_refused_saying_what_a_code_is(cfg, code):
    edit(cfg / "global.yaml", "      product_codes: [HESMWXE3X]\n", f"      product_codes: [{code}]\n")
    (problem,) = [d for d in validate_config(cfg) if d.level == "error"]
    assert problem.json_path == "$.products.hes.trend.product_codes[0]"
    assert f"'{code}' is not in the expected format (A 9-character Trend product code" in problem.message


def test_older_product_ids_still_load_with_a_warning_naming_the_rename(cfg):
    edit(cfg / "global.yaml", "      product_codes: [HESMWXE3X]\n", "      product_ids: [HESMWXE3X, HES]\n")
    assert load_config(cfg).products["hes"].trend_product_ids == ("HESMWXE3X", "HES")
    (warning,) = [d for d in validate_config(cfg) if d.level != "info"]
    assert warning.level == "warning" and "trend.product_ids is now trend.product_codes" in warning.message


def test_chargeable_units_are_refused_with_the_documented_choices(cfg):
    reported(cfg)
    edit(cfg / "global.yaml", "  basis: reported\n", "  basis: reported\n  reported_units: chargeable\n")
    (problem,) = [d for d in validate_config(cfg) if d.level == "error"]
    assert "chargeable is not a figure of Trend's documented summary report" in problem.message
    assert "provisioned (the default) or used" in problem.message


@pytest.mark.parametrize("day,warned", [(1, True), (5, True), (6, False), (28, False)])
def test_reported_basis_warns_about_a_billing_day_before_the_report_is_final(cfg, day, warned):
    reported(cfg, day)
    edit(cfg / "customers/cedar-law.yaml", "  day: 31", "  day: 20")  # keep customers out of it
    warnings = [d for d in validate_config(cfg) if d.level == "warning"]
    assert bool(warnings) == warned
    if warned:
        assert warnings[0].path.endswith("global.yaml") and "until day 5" in warnings[0].message


def test_a_custom_customer_day_before_the_sixth_is_warned_in_its_own_file(cfg):
    reported(cfg, 10)
    edit(cfg / "customers/cedar-law.yaml", "  day: 31", "  day: 3")
    (warning,) = [d for d in validate_config(cfg) if d.level == "warning"]
    assert warning.path.endswith("cedar-law.yaml") and "billing day 3" in warning.message


def test_licensed_basis_never_warns_about_the_day(cfg):
    edit(cfg / "global.yaml", "  source: csv\n  path: ../usage/seats.csv\n", "  source: lmpi\n")
    assert [d for d in validate_config(cfg) if d.level == "warning"] == []


GLOBAL = """\
# top comment
products:
  a:
    name: A   # keep me
    connectwise_product: TM-A
  b:
    name: B
    connectwise_product: TM-B
    trend:
      product_ids: [B1]
  c:
    name: C
    connectwise_product: TM-C
    trend:
      service_plan_ids: ["c-1"]
  d:
    name: D
    connectwise_product: TM-D
    trend:
      service_plan_ids:
        - d-1
billing: {day: 6}
"""


def test_writer_adds_ids_by_line_edits_and_keeps_everything_else(tmp_path):
    path = tmp_path / "global.yaml"
    path.write_text(GLOBAL)
    text = add_service_plan_ids(path, {"a": ["a-1"], "b": ["b-1"], "c": ["C-1", "c-2"], "d": ["d-2"]})
    data = yaml.safe_load(text)["products"]
    assert data["a"]["trend"] == {"service_plan_ids": ["a-1"]}
    assert data["b"]["trend"] == {"product_ids": ["B1"], "service_plan_ids": ["b-1"]}
    assert data["c"]["trend"]["service_plan_ids"] == ["c-1", "c-2"]  # C-1 is already there (case-insensitive)
    assert data["d"]["trend"]["service_plan_ids"] == ["d-1", "d-2"]
    assert "# top comment" in text and "name: A   # keep me" in text
    assert text.replace('      service_plan_ids: ["b-1"]\n', "").count("\n") > GLOBAL.count("\n")


def test_writer_refuses_a_flow_style_product(tmp_path):
    path = tmp_path / "global.yaml"
    path.write_text("products:\n  a: {name: A, connectwise_product: TM-A}\n")
    with pytest.raises(CannotEdit, match="by hand"):
        add_service_plan_ids(path, {"a": ["x"]})


def test_writer_quotes_untrusted_ids(tmp_path):
    path = tmp_path / "global.yaml"
    path.write_text(GLOBAL)
    odd = 'x: "y"\n- z #'
    data = yaml.safe_load(add_service_plan_ids(path, {"a": [odd]}))
    assert data["products"]["a"]["trend"]["service_plan_ids"] == [odd]
