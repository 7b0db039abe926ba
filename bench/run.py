"""The scale benchmark: validate time, plan requests, plan wall time and memory at N customers.

    .venv/bin/python bench/run.py [--sizes 1000,5000] [--latency-ms 50] [--latency-sizes 1000]

Per size it generates a world (bench/generate.py), then measures:
- `reconcile validate` (the real CLI, a subprocess) beside `check-jsonschema` on the same files
  with the same schemas (customer files, plus global.yaml against its own schema);
- a full plan through the engine API (`build_plan`) in a child process, against a sandbox in
  this process that adds `--latency-ms` to every request: ConnectWise requests (the client's
  `request_count`; the sandbox's own count must agree) beside the lower bound, the wall time
  beside requests x latency / workers, and the child's peak RSS (`ru_maxrss`).

The client is built with `requests_per_minute=0` (no client-side limit) for these runs: at the
default 900/min the token bucket, not the engine, would set the pace. What 900/min implies is
reported on its own line. Timing one worker is slow (every request waits its latency in turn),
so it runs only for `--latency-sizes`.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import resource
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import date
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

from generate import Meta, generate, load_meta

BIN = Path(sys.executable).parent
PAGE = 1000  # the client's pageSize, ConnectWise's maximum
DEFAULT_RATE = 900  # connectwise.requests_per_minute default


def lower_bound(meta: Meta) -> int:
    """List pages of companies, agreements, agreement types and catalog, plus one additions read
    per active agreement of a configured company (a mapped product has one owner per company,
    so every active agreement must be looked at for a stray addition of it)."""
    pages = sum(max(1, math.ceil(count / PAGE)) for count in
                (meta.companies, meta.agreements, meta.agreement_types, meta.catalog_items))
    return pages + meta.active_agreements


# ---- validate ---------------------------------------------------------------------------------

def time_command(args: list[str], cwd: Path) -> tuple[float, int]:
    started = time.perf_counter()
    result = subprocess.run(args, cwd=cwd, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - started
    if result.returncode != 0:
        raise SystemExit(f"{args[0]} failed ({result.returncode}):\n{result.stdout[-2000:]}{result.stderr[-2000:]}")
    return elapsed, result.returncode


def time_validate(world: Path) -> tuple[float, float]:
    ours, _ = time_command([str(BIN / "reconcile"), "validate", "--config", "config"], world)
    customers = sorted(str(p.relative_to(world)) for p in (world / "config" / "customers").glob("*.yaml"))
    # The schemas have no $id: customer.schema.json's $ref to "global.schema.json" resolves
    # beside the file, with no --base-uri.
    theirs_customers, _ = time_command(
        [str(BIN / "check-jsonschema"), "--schemafile", "schemas/customer.schema.json", *customers], world)
    theirs_global, _ = time_command(
        [str(BIN / "check-jsonschema"), "--schemafile", "schemas/global.schema.json", "config/global.yaml"], world)
    return ours, theirs_customers + theirs_global


# ---- plan -------------------------------------------------------------------------------------

@dataclass
class PlanRun:
    workers: int
    requests: int
    server_requests: int
    plan_seconds: float  # build_plan: directory reads + per-customer additions reads + diff
    process_seconds: float  # the whole child: config, usage, plan, rendering
    peak_rss_mb: float
    customers: int
    changes: int


def run_plan(world: Path, workers: int, latency_ms: int) -> PlanRun:
    from reconciler.sandbox import FaultPlan, SandboxServer

    with SandboxServer(data_dir=world / "cw", port=0, seed_demo=False,
                       faults=FaultPlan(latency_ms=latency_ms)) as sb:
        child = subprocess.run(
            [sys.executable, str(Path(__file__).resolve()), "--child", str(world), "--url", sb.connectwise_url,
             "--workers", str(workers)],
            cwd=world, capture_output=True, text=True, check=False,
        )
        server_requests = sb.stats.snapshot(0)["requests"]
    if child.returncode != 0:
        raise SystemExit(f"plan child failed:\n{child.stderr[-4000:]}")
    data = json.loads(child.stdout.strip().splitlines()[-1])
    return PlanRun(workers=workers, server_requests=server_requests, **data)


def child_plan(world: Path, url: str, workers: int) -> None:
    """Runs in the child process: one full plan through the engine API, then report as JSON."""
    started = time.perf_counter()
    from reconciler.config import load_config
    from reconciler.connectwise import Client, ConnectWiseTarget, Credentials
    from reconciler.engine import PlanOptions, build_plan
    from reconciler.ledger import LedgerView
    from reconciler.render.plan import render
    from reconciler.usage import read_usage

    config = load_config(world / "config", env={})
    usage = read_usage(config, env={})
    # requests_per_minute=0: no client-side limit, so the engine's concurrency is what is measured.
    client = Client(url, Credentials("sandbox", "sandbox-public", "sandbox-private", "bench"),
                    api_version=config.connectwise.api_version, requests_per_minute=0)
    plan_started = time.perf_counter()
    plan = build_plan(ConnectWiseTarget(client), config, usage, LedgerView(),
                      PlanOptions(today=date(2026, 11, 1), workers=workers, sandbox=True))
    plan_seconds = time.perf_counter() - plan_started
    render(plan, "text")
    process_seconds = time.perf_counter() - started
    failed = [c for c in plan.customers if c.status == "failed"]
    if failed:
        raise SystemExit(f"{len(failed)} customers failed, e.g. {failed[0].customer}: {failed[0].reason}")
    print(json.dumps({
        "requests": client.request_count, "plan_seconds": plan_seconds, "process_seconds": process_seconds,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "customers": len(plan.customers), "changes": sum(len(c.changes) for c in plan.customers),
    }))


def _ratio(value: float, bound: float) -> str:
    return f"{value / bound:.2f}" if bound else "n/a"


# ---- report -----------------------------------------------------------------------------------

def machine() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
        mem_kb = next(int(line.split()[1]) for line in Path("/proc/meminfo").read_text().splitlines()
                      if line.startswith("MemTotal"))
        ram = f"{mem_kb / 1024 / 1024:.1f} GiB RAM"
    except (OSError, StopIteration):
        ram = "unknown RAM"
    return f"{os.cpu_count()} CPUs ({cpu}), {ram}, Python {platform.python_version()}, {platform.system()}"


def main() -> None:
    parser = argparse.ArgumentParser(description="reconcile scale benchmark")
    parser.add_argument("--sizes", default="1000,5000", help="customer counts (comma list)")
    parser.add_argument("--latency-ms", type=int, default=50, help="latency the sandbox adds to each request")
    parser.add_argument("--latency-sizes", default="1000",
                        help="sizes at which the 1-worker plan is also timed (slow: requests x latency)")
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/reconcile-bench"))
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--workers", type=int, default=8, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child_plan(args.child, args.url, args.workers)
        return

    sizes = [int(s) for s in args.sizes.split(",") if s]
    one_worker_sizes = {int(s) for s in args.latency_sizes.split(",") if s}
    latency = args.latency_ms
    validate_rows, plan_rows, notes = [], [], []
    for size in sizes:
        world = args.workdir / f"world-{size}"
        meta_file = world / "meta.json"
        meta = load_meta(world) if meta_file.exists() and load_meta(world).seed == args.seed \
            and load_meta(world).customers == size else generate(world, size, args.seed)
        print(f"# {size} customers: {meta.companies} companies, {meta.agreements} agreements, "
              f"{meta.additions} additions, {meta.referenced_agreements} agreements referenced", file=sys.stderr)
        ours, theirs = time_validate(world)
        validate_rows.append(f"| {size:,} | {ours:.2f} | {theirs:.2f} | {theirs / ours:.1f}x |")

        bound = lower_bound(meta)
        from reconciler.config import load_config

        default_workers = load_config(world / "config", env={}).connectwise.workers
        runs = [run_plan(world, default_workers, latency)]
        if size in one_worker_sizes:
            runs.append(run_plan(world, 1, latency))
        for run in runs:
            if run.requests != run.server_requests:
                notes.append(f"{size}: client counted {run.requests} requests, the sandbox {run.server_requests}")
            time_bound = bound * latency / 1000 / run.workers
            plan_rows.append(
                f"| {size:,} | {run.workers} | {run.requests:,} | {bound:,} | {run.requests - bound:+d} | "
                f"{run.plan_seconds:.1f} | {time_bound:.1f} | {_ratio(run.plan_seconds, time_bound)} | "
                f"{run.process_seconds:.1f} | {run.peak_rss_mb:.0f} |"
            )
        limited = runs[0].requests / (DEFAULT_RATE / 60)
        notes.append(f"{size:,} customers at the default {DEFAULT_RATE}/min client limit: "
                     f"{runs[0].requests:,} requests / 15 per s = {limited:.0f} s (~{limited / 60:.1f} min) "
                     f"after the {DEFAULT_RATE // 10}-request burst, whatever the worker count")

    print(f"Machine: {machine()}")
    print(f"Command: .venv/bin/python bench/run.py --sizes {args.sizes} --latency-ms {latency} "
          f"--latency-sizes {args.latency_sizes}")
    print()
    print("| customers | reconcile validate s | check-jsonschema s | check-jsonschema / validate |")
    print("|---:|---:|---:|---:|")
    print("\n".join(validate_rows))
    print()
    print(f"| customers | workers | CW requests | lower bound | over bound | plan s ({latency} ms/request) "
          "| bound s (bound x latency / workers) | plan / bound | process s | peak RSS MB |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    print("\n".join(plan_rows))
    print()
    print("Notes:")
    print("- plan runs use a Client with requests_per_minute=0 (client-side rate limit off), so the "
          "engine's concurrency is measured, not the token bucket.")
    for note in notes:
        print(f"- {note}")


if __name__ == "__main__":
    main()
