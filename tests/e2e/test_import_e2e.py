"""`reconcile import` end to end: the real CLI, in a subprocess, against the sandbox."""

import json

import yaml

from reconciler.config import load_config
from tests.support.e2e import clean_env, make_repo, reconcile, sandbox_writes


def _empty_customers(repo):
    for path in (repo / "config/customers").iterdir():
        path.unlink()
    return repo


def test_import_all_then_validate_then_plan_shows_no_mapping_changes(tmp_path):
    repo = _empty_customers(make_repo(tmp_path))
    result = reconcile(repo, "--sandbox", "import", "--all")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Import: 8 written, 0 skipped, 0 warnings." in result.stdout
    assert sandbox_writes(repo) == 0  # import only reads ConnectWise

    files = sorted(p.name for p in (repo / "config/customers").iterdir())
    assert "harbor-street-bakery.yaml" in files and len(files) == 8  # HarborBakery had no file before
    for path in (repo / "config/customers").iterdir():
        text = path.read_text()
        assert text.startswith("# yaml-language-server: $schema=../../schemas/customer.schema.json\n# Imported by")
        assert "REPLACE-ME" not in text  # the sandbox's LMPI names match the ConnectWise companies
    validate = reconcile(repo, "validate")
    assert validate.returncode == 0, validate.stdout + validate.stderr

    config = load_config(repo / "config")
    fjord = config.customer("fjord-architects")
    assert fjord.agreements == {"cas": "default", "apex-one-saas": "default"}  # where Fjord is billed today
    assert config.customer("harbor-street-bakery").trend_customer_id == "c4d5e6f7-0a1b-4c2d-9e3f-4a5b6c7d8e67"

    plan = reconcile(repo, "--sandbox", "plan", "--send-now", "--format", "json")
    assert plan.returncode == 0, plan.stdout + plan.stderr
    plan = json.loads(plan.stdout)
    assert all(c["status"] != "failed" for c in plan["customers"]), plan["customers"]
    billed_on = {(c["customer"], product): rec["agreement_id"]
                 for c in plan["customers"] for product, rec in c["current_additions"].items()}
    additions = [c for c in plan["changes"] if c.get("kind", "addition") == "addition"]
    assert [c for c in additions if c["action"] == "cancel"] == []
    for change in additions:
        if change["action"] == "create":  # only a product billed nowhere yet may be created
            assert (change["customer"], change["product"]) not in billed_on, change
    # What is left is usage differing from ConnectWise: Acme's hes 35 -> 38.
    assert [(c["action"], c["customer"], c["product"]) for c in additions] == [("update", "acme-dental-group", "hes")]


def test_import_one_company_and_refuse_to_overwrite_unless_asked(tmp_path):
    repo = make_repo(tmp_path)
    acme = repo / "config/customers/acme-dental.yaml"
    before = acme.read_text()
    result = reconcile(repo, "--sandbox", "import", "--company", "acmedental", "--company", "HarborBakery")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "skipped  AcmeDental -> config/customers/acme-dental.yaml: exists" in result.stdout
    assert "wrote    HarborBakery -> config/customers/harbor-street-bakery.yaml" in result.stdout
    assert "Import: 1 written, 1 skipped" in result.stdout
    assert acme.read_text() == before
    assert sorted(p.name for p in (repo / "config/customers").iterdir())[-2:] == [
        "granite-credit-union.yaml", "harbor-street-bakery.yaml"]

    again = reconcile(repo, "--sandbox", "import", "--company", "HarborBakery")
    assert "skipped  HarborBakery -> config/customers/harbor-street-bakery.yaml: exists" in again.stdout

    replaced = reconcile(repo, "--sandbox", "import", "--company", "AcmeDental", "--overwrite")
    assert replaced.returncode == 0, replaced.stdout + replaced.stderr
    assert "replaced AcmeDental -> config/customers/acme-dental.yaml" in replaced.stdout  # the slug is kept
    data = yaml.safe_load(acme.read_text())
    assert data["agreements"] == {"wfbss-svc": "default", "hes": "default"}
    assert acme.read_text().splitlines()[1].startswith("# Imported by `reconcile import`")
    assert reconcile(repo, "validate").returncode == 0


def test_unknown_company_exits_1_but_imports_the_others(tmp_path):
    repo = _empty_customers(make_repo(tmp_path))
    result = reconcile(repo, "--sandbox", "import", "--company", "NoSuchCo", "--company", "GraniteCU")
    assert result.returncode == 1
    assert "--company NoSuchCo: no ConnectWise company has this identifier" in result.stderr
    assert (repo / "config/customers/granite-credit-union.yaml").exists()


def test_company_and_all_are_exclusive(tmp_path):
    repo = make_repo(tmp_path)
    assert reconcile(repo, "--sandbox", "import").returncode == 1
    assert reconcile(repo, "--sandbox", "import", "--all", "--company", "X").returncode == 1


def test_without_lmpi_the_trend_id_is_a_placeholder_that_validate_rejects(tmp_path):
    from reconciler.sandbox import SandboxServer

    repo = _empty_customers(make_repo(tmp_path))
    with SandboxServer(data_dir=tmp_path / "cw", port=0) as sb:
        c = sb.credentials
        env = clean_env(CW_URL=sb.connectwise_url, CW_COMPANY_ID=c.company_id, CW_PUBLIC_KEY=c.public_key,
                        CW_PRIVATE_KEY=c.private_key, CW_CLIENT_ID="import-test")  # no TM_* variables
        result = reconcile(repo, "import", "--company", "FjordArch", env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Trend id TODO" in result.stdout and "warning: FjordArch: trend_customer_id is REPLACE-ME" in result.stdout
    text = (repo / "config/customers/fjord-architects.yaml").read_text()
    assert "trend_customer_id: REPLACE-ME" in text and "# TODO: REPLACE-ME is a placeholder" in text
    validate = reconcile(repo, "validate")
    assert validate.returncode == 1
    assert "fjord-architects.yaml" in validate.stdout and "import placeholder REPLACE-ME" in validate.stdout
    # A second import still works beside a file with a placeholder (only global.yaml must be valid).
    with SandboxServer(data_dir=tmp_path / "cw", port=0) as sb:
        env["CW_URL"] = sb.connectwise_url
        second = reconcile(repo, "import", "--company", "FjordArch", "--company", "GraniteCU", env=env)
    assert second.returncode == 0, second.stdout + second.stderr
    assert "skipped  FjordArch" in second.stdout and "wrote    GraniteCU" in second.stdout


def test_missing_credentials_is_a_clear_error(tmp_path):
    repo = make_repo(tmp_path)
    result = reconcile(repo, "import", "--all")
    assert result.returncode == 1
    assert "CW_PUBLIC_KEY" in result.stderr


def test_import_into_a_missing_config_dir_starts_from_the_packaged_global_yaml(tmp_path):
    from reconciler.run.init import render

    repo = make_repo(tmp_path)
    result = reconcile(repo, "--sandbox", "import", "--all", "--config", "fresh")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "wrote    fresh/global.yaml from the template" in result.stdout
    written = (repo / "fresh/global.yaml").read_text()
    assert written.split("\n", 1)[1] == render("global.yaml", "").split("\n", 1)[1]
    # make_repo has no schemas/ of its own: the modeline points where `reconcile init` puts them
    assert written.startswith("# yaml-language-server: $schema=../schemas/global.schema.json\n")
    assert reconcile(repo, "validate", "--config", "fresh").returncode == 0
    plan = json.loads(reconcile(repo, "--sandbox", "plan", "--send-now", "--format", "json", "--config", "fresh").stdout)
    assert not [c for c in plan["changes"] if c["kind"] == "addition" and c["action"] in ("create", "cancel")]


def test_a_connectwise_name_with_a_bidi_override_or_escape_sequence_prints_escaped(tmp_path):
    # The company name reached the terminal raw in the import's warning line: U+202E reorders it.
    import sqlite3

    repo = _empty_customers(make_repo(tmp_path))
    assert reconcile(repo, "sandbox", "reset").returncode == 0
    db = sqlite3.connect(repo / ".sandbox/sandbox.db")
    for kind, rid, body in db.execute("select kind, id, body from records where kind = 'company'").fetchall():
        record = json.loads(body)
        if record.get("identifier") == "GraniteCU":
            record["name"] = "Granite\u202eUC\x1b[31m Credit"
            db.execute("update records set body = ? where kind = ? and id = ?", (json.dumps(record), kind, rid))
    db.commit()
    db.close()
    result = reconcile(repo, "--sandbox", "import", "--company", "GraniteCU")
    assert result.returncode == 0, result.stdout + result.stderr
    for bad in ("\u202e", "\x1b"):
        assert bad not in result.stdout + result.stderr
    assert "Granite\\u202eUC\\u001b[31m Credit" in result.stdout
    written = next((repo / "config/customers").iterdir())
    assert "\u202e" not in written.read_text()
    assert yaml.safe_load(written.read_text())["name"] == "Granite\u202eUC\x1b[31m Credit"
