"""`--shard K/N`: shards partition the customers, write their own ledger files, and merge cleanly."""

from __future__ import annotations

import hashlib
import json
import random
import subprocess
from dataclasses import replace

import pytest

from reconciler.config import load_config
from reconciler.engine import PlanOptions, select_customers, shard_of
from reconciler.ledger import read_ledger
from reconciler.sandbox import SandboxServer
from tests.support import REPO_ROOT
from tests.support.e2e import RECONCILE, clean_env, make_repo

REPO = REPO_ROOT
DATE = "2026-11-30"  # every demo customer with billing enabled is due


@pytest.fixture(scope="module")
def config():
    return load_config(REPO / "config", env={})


def many(config, n: int = 300):
    """`n` customers built from the demo ones, with distinct Trend ids."""
    base = config.customers[0]
    return [replace(base, slug=f"c{i:04d}", trend_customer_id=f"00000000-0000-4000-8000-{i:012d}") for i in range(n)]


@pytest.mark.parametrize("total", [1, 2, 3, 4, 7, 16])
def test_shards_partition_the_customers(config, total):
    customers = many(config)
    cfg = replace(config, customers=tuple(customers))
    shards = [select_customers(cfg, PlanOptions(shard=(k, total))) for k in range(1, total + 1)]
    slugs = [c.slug for shard in shards for c in shard]
    assert sorted(slugs) == sorted(c.slug for c in customers)  # every customer exactly once
    assert len(slugs) == len(set(slugs))
    if total > 1:
        assert all(shards), "300 customers leave no shard empty"


def test_shards_are_stable_and_independent_of_file_order(config):
    customers = many(config)
    before = {c.slug: shard_of(c, 5) for c in customers}
    shuffled = customers[:]
    random.Random(3).shuffle(shuffled)
    cfg = replace(config, customers=tuple(shuffled))
    after = {c.slug: k for k in range(1, 6) for c in select_customers(cfg, PlanOptions(shard=(k, 5)))}
    assert after == before
    # stable across runs and machines: a hash of the Trend id, not Python's salted hash()
    assert shard_of(customers[0], 5) == 1 + int.from_bytes(
        hashlib.sha256(customers[0].trend_customer_id.encode()).digest()[:8], "big") % 5
    upper = replace(customers[0], trend_customer_id=customers[0].trend_customer_id.upper())
    assert shard_of(upper, 5) == shard_of(customers[0], 5)


def test_parallel_sharded_applies_write_separate_files_that_merge(tmp_path):
    repo = make_repo(tmp_path)
    total = 3
    with SandboxServer(data_dir=tmp_path / "cw", port=0) as sb:
        c = sb.credentials
        env = clean_env(CW_URL=sb.connectwise_url, CW_COMPANY_ID=c.company_id, CW_PUBLIC_KEY=c.public_key,
                        CW_PRIVATE_KEY=c.private_key, CW_CLIENT_ID="shard-test")
        jobs = [
            # --send-now: on DATE a customer the tool never saw is not due for a long-past date (issue 21)
            subprocess.Popen([str(RECONCILE), "apply", "--send-now", "--date", DATE, "--shard", f"{k}/{total}",
                              "--ledger", "state/ledger.jsonl"],
                             cwd=repo, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            for k in range(1, total + 1)
        ]
        outputs = [job.communicate(timeout=120) for job in jobs]
        for job, (out, err) in zip(jobs, outputs):
            assert job.returncode == 0, out + err

        state = repo / "state"
        assert not (state / "ledger.jsonl").exists()  # shards never touch the main file
        config = load_config(repo / "config", env={})
        by_shard = {c.slug: shard_of(c, total) for c in config.customers}
        files = sorted(p.name for p in state.glob("ledger*.jsonl"))
        period = DATE[:7]  # one file per period and shard
        assert files == sorted({f"ledger.{period}.{k}of{total}.jsonl" for k in by_shard.values()})
        for k in range(1, total + 1):
            path = state / f"ledger.{period}.{k}of{total}.jsonl"
            if path.exists():
                records = [json.loads(line) for line in path.read_text().splitlines()]
                assert {r["customer"] for r in records} <= {s for s, shard in by_shard.items() if shard == k}

        merged = read_ledger(state / "ledger.jsonl")
        assert merged.warnings == []
        timestamps = [r["ts"] for r in merged.records]
        assert timestamps == sorted(timestamps)
        sent = {r["customer"] for r in merged.records
                if r["event"] == "result" and r["status"] == "sent" and r.get("kind", "billing") == "billing"}
        billing_on = {c.slug for c in config.customers if c.billing.enabled}
        assert sent == billing_on
        writes = sb.store.write_count

        # An unsharded plan reads every shard's file: nothing is due again, nothing to change.
        again = subprocess.run([str(RECONCILE), "plan", "--date", DATE, "--ledger", "state/ledger.jsonl",
                                "--format", "json", "--detailed-exitcode"],
                               cwd=repo, env=env, capture_output=True, text=True, timeout=120, check=False)
        assert again.returncode == 0, again.stdout + again.stderr
        plan = json.loads(again.stdout)
        assert [c["customer"] for c in plan["customers"] if c["due"]] == []
        rerun = subprocess.run([str(RECONCILE), "apply", "--date", DATE, "--ledger", "state/ledger.jsonl"],
                               cwd=repo, env=env, capture_output=True, text=True, timeout=120, check=False)
        assert rerun.returncode == 0, rerun.stdout + rerun.stderr
        assert sb.store.write_count == writes
