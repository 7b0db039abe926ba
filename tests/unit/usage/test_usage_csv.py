"""The CSV usage source and `read_usage`'s choice of source."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from reconciler.config.model import Config, ConnectWiseSettings, Product, UsageSettings
from reconciler.usage import (
    Usage,
    UsageError,
    UsageInvalid,
    UsageSourceError,
    read_csv,
    read_usage,
)
from tests.support import REPO_ROOT

PRODUCTS = ["wfbss-svc", "wfs-advanced", "cas", "hes", "apex-one-saas", "workload-security"]
REPO = REPO_ROOT


def write(tmp_path: Path, content: str | bytes, name: str = "seats.csv") -> Path:
    path = tmp_path / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    return path


def errors_of(path: Path) -> list[str]:
    with pytest.raises(UsageInvalid) as info:
        read_csv(path, PRODUCTS)
    return [str(e) for e in info.value.errors]


def test_repository_example_parses():
    usage = read_csv(REPO / "usage" / "seats.csv", PRODUCTS)
    assert usage.quantities[("3f2b6c1e-8a4d-4e1b-9c7a-1d2e3f4a5b60", "wfbss-svc")] == 42
    assert usage.for_customer("3f2b6c1e-8a4d-4e1b-9c7a-1d2e3f4a5b60") == {
        "wfbss-svc": 42,
        "hes": 38,
    }
    assert len(usage.customers()) == 8
    assert usage.source.startswith("csv:") and usage.source.endswith("seats.csv")


def test_optional_columns_any_order_bom_blank_lines(tmp_path):
    path = write(
        tmp_path,
        "\ufeffProduct , quantity,trend_customer_id,Workstations,servers\n"
        "wfbss-svc,10,c1,8,2\n\n"
        "hes,10,c1,,\n"
        "cas,5,c2,5,\n",
    )
    usage = read_csv(path, PRODUCTS)
    assert usage.quantities == {("c1", "wfbss-svc"): 10, ("c1", "hes"): 10, ("c2", "cas"): 5}
    assert usage.extra == {"c1": {"workstations": 8, "servers": 2}, "c2": {"workstations": 5}}


def test_extras_sum_per_customer(tmp_path):
    path = write(
        tmp_path,
        "trend_customer_id,product,quantity,viruses_removed\nc1,wfbss-svc,1,3\nc1,hes,1,4\n",
    )
    assert read_csv(path, PRODUCTS).extra == {"c1": {"viruses_removed": 7}}


def test_header_only_is_empty_usage(tmp_path):
    usage = read_csv(write(tmp_path, "trend_customer_id,product,quantity\n"), PRODUCTS)
    assert usage == Usage(quantities={}, extra={}, source=usage.source, basis="file")


def test_row_errors_are_all_collected_with_line_numbers(tmp_path):
    path = write(
        tmp_path,
        "trend_customer_id,product,quantity\n"  # 1
        "c1,wfbss-svc,10\n"  # 2 ok
        "c1,wfbss-svc,11\n"  # 3 duplicate
        ",hes,3\n"  # 4 empty id
        "c2,wfbs-svc,3\n"  # 5 unknown product
        "c3,hes,-4\n"  # 6 negative
        "c3,cas,4.5\n"  # 7 not integer
        "c3,apex-one-saas\n"  # 8 short row
        '"c4\nstill c4",cas,\n',
    )  # 9-10 multi-line, empty qty
    errors = errors_of(path)
    shown = path.name if not str(path).startswith("/") else str(path)
    assert errors == [
        f"{shown}:3: error: duplicate row for customer c1 and product wfbss-svc (first at line 2)",
        f"{shown}:4: error: empty trend_customer_id",
        f"{shown}:5: error: unknown product 'wfbs-svc' (did you mean 'wfbss-svc'?); "
        "known products: "
        "apex-one-saas, cas, hes, wfbss-svc, wfs-advanced, workload-security",
        f"{shown}:6: error: quantity must not be negative, got -4",
        f"{shown}:7: error: quantity must be a whole number, got '4.5'",
        f"{shown}:8: error: expected 3 fields, found 2",
        f"{shown}:10: error: empty quantity",
    ]


@pytest.mark.parametrize(
    "content,line,fragment",
    [
        ("", 1, "empty file"),
        ("   \n\n", 1, "empty file"),
        ("trend_customer_id,quantity\nc1,3\n", 1, "missing column(s) product"),
        ("trend_customer_id,product,quantity,workstation\n", 1, "unknown column(s) 'workstation'"),
        ("trend_customer_id,product,quantity,product\n", 1, "duplicate column(s) product"),
        (b"trend_customer_id,product,quantity\nc1,hes,3\n\xff\xfe\x00junk\n", 3, "not UTF-8"),
        (b"trend_customer_id,product,quantity\nc1,hes,3\x00\x01\n", 2, "binary data"),
        (b"\x89PNG\r\n\x1a\n\x00\x00", 1, "not UTF-8"),
    ],
)
def test_file_level_errors(tmp_path, content, line, fragment):
    [error] = errors_of(write(tmp_path, content))[:1]
    assert f":{line}: error: " in error and fragment in error


def test_missing_file(tmp_path):
    [error] = errors_of(tmp_path / "nope.csv")
    assert "nope.csv:1: error: cannot read usage file" in error


def test_usage_error_format():
    assert str(UsageError("usage/seats.csv", 7, "bad")) == "usage/seats.csv:7: error: bad"
    invalid = UsageInvalid([UsageError("a", 1, "x"), UsageError("a", 2, "y")])
    assert str(invalid) == "a:1: error: x\na:2: error: y"


def test_usage_error_prints_through_the_one_error_handler():
    # `line()` is how every ReconcileError is printed; a line-number attribute once shadowed it.
    assert UsageError("usage/seats.csv", 7, "bad").line() == "usage/seats.csv:7: error: bad"


def _config(tmp_path: Path, source: str = "csv", path: Path | None = None) -> Config:
    return Config(
        root=tmp_path,
        connectwise=ConnectWiseSettings(
            url="http://x/apis/3.0", company_id="c", api_version="2025.1"
        ),
        products={k: Product(k, k, f"TM-{k.upper()}") for k in PRODUCTS},
        default_agreement_types=("Managed Service",),
        billing=None,
        executive_summary=None,  # type: ignore[arg-type]  # unused here
        usage=UsageSettings(source=source, path=path),  # type: ignore[arg-type]
        safety=None,  # type: ignore[arg-type]
    )


def test_read_usage_prefers_override_then_config(tmp_path):
    configured = write(tmp_path, "trend_customer_id,product,quantity\nc1,hes,1\n", "a.csv")
    override = write(tmp_path, "trend_customer_id,product,quantity\nc1,hes,2\n", "b.csv")
    config = _config(tmp_path, path=configured)
    assert read_usage(config, env={}).quantities == {("c1", "hes"): 1}
    assert read_usage(config, override, env={}).quantities == {("c1", "hes"): 2}
    lmpi_config = replace(config, usage=UsageSettings(source="lmpi"))
    assert read_usage(lmpi_config, override, env={}).quantities == {("c1", "hes"): 2}
    with pytest.raises(UsageSourceError):
        read_usage(replace(config, usage=UsageSettings(source="csv", path=None)), env={})


# --- Trend customer ids are GUIDs: case never splits or drops a customer ------------------------

GUID = "3f2b6c1e-8a4d-4e1b-9c7a-1d2e3f4a5b60"


def test_an_upper_case_customer_id_or_product_key_finds_the_customer(tmp_path):
    path = write(tmp_path, "trend_customer_id,product,quantity,servers\n"
                           f"{GUID.upper()},WFBSS-SVC,42,3\n{GUID.upper()},hes,38,\n")
    usage = read_csv(path, PRODUCTS)
    assert usage.for_customer(GUID) == {"wfbss-svc": 42, "hes": 38}
    assert usage.for_customer(GUID.upper()) == {"wfbss-svc": 42, "hes": 38}
    assert usage.extra_for(GUID) == {"servers": 3}
    assert usage.customers() == {GUID}


def test_a_row_repeating_customer_and_product_in_another_case_is_a_duplicate(tmp_path):
    path = write(tmp_path, "trend_customer_id,product,quantity\n"
                           f"{GUID},wfbss-svc,42\n{GUID.upper()},wfbss-svc,40\n{GUID},HES,1\n{GUID},hes,2\n")
    assert errors_of(path) == [
        f"{path}:3: error: duplicate row for customer {GUID.upper()} and product wfbss-svc (first at line 2)",
        f"{path}:5: error: duplicate row for customer {GUID} and product hes (first at line 4)",
    ]


def test_usage_built_by_any_source_compares_ids_in_lower_case():
    # e.g. two LMPI subscriptions of one customer, reported with differently cased ids
    usage = Usage(quantities={(GUID.upper(), "cas"): 3, (GUID, "cas"): 4, (GUID, "hes"): 1},
                  extra={GUID.upper(): {"servers": 1}, GUID: {"servers": 2}})
    assert usage.quantities == {(GUID, "cas"): 7, (GUID, "hes"): 1}
    assert usage.for_customer(GUID.upper()) == {"cas": 7, "hes": 1}
    assert usage.extra == {GUID: {"servers": 3}}


def test_a_quantity_beyond_any_bill_is_refused_at_its_line(tmp_path):
    path = write(tmp_path, "trend_customer_id,product,quantity\nc-1,hes,1000000000000000000000000000000\n"
                           "c-2,hes,999999999\nc-3,hes,0000000000012\n")
    (error,) = errors_of(path)
    assert ":2: error: quantity '1000000000000000000000000000000' is out of range (at most 9 digits" in error
