"""The scale benchmark: validate time, plan requests, plan wall time and memory at N customers.

    .venv/bin/python bench/run.py [--sizes 1000,5000] [--latency-ms 50] [--latency-sizes 1000]
                                  [--history-sizes 20000]

Per size it generates a world (bench/generate.py), then measures:
- `reconcile validate` (the real CLI, a subprocess) beside `check-jsonschema` on the same files
  with the same schemas (customer files, plus global.yaml against its own schema);
- a full plan through the engine API (`build_plan`) in a child process, against a sandbox in
  this process that adds `--latency-ms` to every request: ConnectWise requests (the client's
  `request_count`; the sandbox's own count must agree) beside the lower bound, the wall time
  beside requests x latency / workers, and the child's peak RSS (VmHWM).

At `--history-sizes` it also writes a 12-month ledger for the world (2025-11 to 2026-10, about
37 records per customer) and measures: loading the ledger's index (what every plan does first),
`reconcile report` in HTML and Markdown, and a month of scheduled runs on copies of the world and
ledger (`apply` without previews, one after the other on 2026-11-01, -05 and -20: billing day,
executive-summary day, nobody due), counting the sandbox's requests per kind.

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


def peak_rss_mb() -> float:
    """This process's peak RSS. VmHWM, not `ru_maxrss`: on Linux a child's `ru_maxrss` starts
    from the RSS of the parent it was forked from (kept across exec), which here is the bench
    process holding a sandbox."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


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
    cpu_seconds: float  # the child's CPU: config, usage, ledger-free plan, rendering (not the sandbox's)
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
        "cpu_seconds": time.process_time(),
        "peak_rss_mb": peak_rss_mb(),
        "customers": len(plan.customers), "changes": sum(len(c.changes) for c in plan.customers),
    }))


# ---- a month of scheduled runs on the 12-month ledger --------------------------------------------

DAYS = (("billing day (the 1st)", "2026-11-01"), ("executive-summary day (the 5th)", "2026-11-05"),
        ("nobody due (the 20th)", "2026-11-20"))
DIRECTORY_PATHS = ("/company/companies", "/finance/agreements", "/procurement/catalog")


@dataclass
class DayRun:
    label: str
    day: str
    requests: int
    directory: int  # list pages of companies, agreements, catalog
    additions_reads: int
    summary_reads: int
    writes: int  # POST, PATCH, DELETE of additions and executive summaries
    tickets: int  # ticket searches, notes and new tickets for billing problems (notify.py)
    other: int  # anything else (read-backs of single records, the run lease)
    exit_code: int  # the scheduled job's: 1 when some customer had a problem
    problems: int  # customers failed, missed or unsafe in the plan
    bound_reads: int  # active agreements of the customers due for billing today
    due_billing: int
    due_summary: int
    ledger_seconds: float
    ledger_records: int
    seconds: float
    peak_rss_mb: float


def _kind_of(request: str) -> str:
    method, path = request.split(" ", 1)
    if "/service/tickets" in path:
        return "tickets"
    if method != "GET":
        return "writes"
    if path.endswith("/additions"):
        return "additions_reads"
    if path.endswith("/managementSummaryReports"):
        return "summary_reads"
    if path.endswith(DIRECTORY_PATHS):
        return "directory"
    return "other"


def run_days(world: Path, latency_ms: int) -> list[DayRun]:
    """The scheduled job's code path (`apply` without previews) on the 1st, 5th and 20th of a month,
    one after the other on a copy of the world and of its 12-month ledger."""
    import shutil

    from reconciler.sandbox import FaultPlan, SandboxServer

    work = world / "month"
    if work.exists():
        shutil.rmtree(work)
    shutil.copytree(world / "cw", work / "cw")
    shutil.copytree(world / "ledger", work / "ledger")
    runs = []
    with SandboxServer(data_dir=work / "cw", port=0, seed_demo=False, faults=FaultPlan(latency_ms=latency_ms)) as sb:
        _add_lease_home(sb.store)
        for label, day in DAYS:
            sb.stats.clear()
            result = work / f"day-{day}.json"
            credentials = sb.credentials
            env = {key: value for key, value in os.environ.items() if not key.startswith(("CW_", "TM_", "SANDBOX_"))}
            env.update(CW_URL=sb.connectwise_url, CW_COMPANY_ID=credentials.company_id,
                       CW_PUBLIC_KEY=credentials.public_key, CW_PRIVATE_KEY=credentials.private_key,
                       CW_CLIENT_ID="bench", CI="true")
            child = subprocess.run(
                [sys.executable, str(Path(__file__).resolve()), "--day-child", str(world), "--date", day,
                 "--ledger", str(work / "ledger" / "ledger.jsonl"), "--result", str(result)],
                cwd=world, capture_output=True, text=True, check=False, env=env, stdin=subprocess.DEVNULL,
            )
            if child.returncode != 0 or not result.exists():
                raise SystemExit(f"day child failed:\n{child.stderr[-4000:]}")
            data = json.loads(result.read_text())
            if data["exit_code"] not in (0, 1) or "Traceback" in child.stderr:
                raise SystemExit(f"the scheduled job on {day} crashed:\n{child.stderr[-4000:]}")
            stats = sb.stats.snapshot(0)
            kinds: dict[str, int] = {}
            for request, count in stats["by_path"].items():
                kinds[_kind_of(request)] = kinds.get(_kind_of(request), 0) + count
            runs.append(DayRun(label=label, day=day, requests=stats["requests"], directory=kinds.get("directory", 0),
                               additions_reads=kinds.get("additions_reads", 0),
                               summary_reads=kinds.get("summary_reads", 0), writes=kinds.get("writes", 0),
                               tickets=kinds.get("tickets", 0), other=kinds.get("other", 0), **data))
    return runs


def _add_lease_home(store) -> None:
    """The MSP's own company, the demo's service boards (with their statuses and types) and its
    management solutions: where the run lease's ticket and the problem tickets go, and what the
    executive summaries name (worlds generated before them have none; a summary naming a solution
    the tenant lacks is refused, as ConnectWise refuses it)."""
    from reconciler.sandbox.demo import BOARDS, MANAGEMENT_SOLUTIONS, OWN_COMPANY
    from reconciler.sandbox.store import company_record, management_solution_record, seed_board

    if not store.all("management_solution"):
        store.insert_many("management_solution", [(management_solution_record(n), None) for n in MANAGEMENT_SOLUTIONS])

    if store.find_one("company", identifier=OWN_COMPANY[0]) is None:
        store.insert("company", company_record(*OWN_COMPANY), None)
    if not store.all("service_board"):
        for name, statuses, types, extra in BOARDS:
            seed_board(store, name, statuses, types, **extra)


def child_day(world: Path, url: str, day: str, ledger_path: Path, result_path: Path) -> None:
    """Runs in the child: the scheduled job itself, `reconcile apply --date DAY` through the CLI
    (`reconciler.cli.main`: config, usage, ledger, plan, apply, tickets for billing problems, exactly
    as `reconcile` alone runs it), with ConnectWise credentials in the environment. Two things are
    changed, both outside the job's logic: the client's rate limit is off (else the token bucket
    sets the pace), and the plan and the ledger read are observed for the table's columns."""
    started = time.perf_counter()
    import reconciler.connectwise as connectwise_module
    import reconciler.run.plan_apply as run_module
    from reconciler.cli import main as reconcile_main

    target_for = connectwise_module.target_for

    def unlimited(**settings):  # requests_per_minute=0: no client-side limit
        return target_for(**{**settings, "requests_per_minute": 0})

    seen: dict = {}
    build_plan, read_ledger = run_module.build_plan, run_module.read_ledger

    def observed_plan(*args, **kwargs):
        plan = build_plan(*args, **kwargs)
        seen["plan"] = plan
        return plan

    def timed_ledger(*args, **kwargs):
        ledger_started = time.perf_counter()
        view = read_ledger(*args, **kwargs)
        seen["ledger_seconds"] = time.perf_counter() - ledger_started
        seen["ledger_records"] = view.record_count
        return view

    connectwise_module.target_for = unlimited
    run_module.build_plan, run_module.read_ledger = observed_plan, timed_ledger
    try:
        reconcile_main(["apply", "--date", day, "--ledger", str(ledger_path)])
        exit_code = 0
    except SystemExit as exit_:
        exit_code = exit_.code if isinstance(exit_.code, int) else 1
    plan = seen.get("plan")
    due = [cp for cp in plan.customers if cp.due and cp.billing_read] if plan else []
    result_path.write_text(json.dumps({
        "exit_code": exit_code, "bound_reads": sum(len(cp.additions_read) for cp in due),
        "due_billing": len(due),
        "due_summary": sum(1 for cp in plan.customers if cp.summary_due) if plan else 0,
        "problems": sum(1 for cp in plan.customers if cp.status in ("failed", "missed", "unsafe")) if plan else 0,
        "ledger_seconds": seen.get("ledger_seconds", 0.0), "ledger_records": seen.get("ledger_records", 0),
        "seconds": time.perf_counter() - started,
        "peak_rss_mb": peak_rss_mb(),
    }))


def child_ledger(ledger_path: Path, mode: str) -> None:
    """Runs in the child: what every plan does first, load the ledger's index, timed with its RSS.
    `full`: with no checkpoint (every record read); `checkpoint`: write the checkpoint, as an apply
    does when it lets go of the ledger; `resumed`: load it from that checkpoint."""
    from reconciler.ledger import read_ledger, update_checkpoint
    from reconciler.ledger_checkpoint import checkpoint_path

    if mode == "full":
        for stale in ledger_path.parent.glob("*.checkpoint*.json"):
            stale.unlink()
    started = time.perf_counter()
    if mode == "checkpoint":
        written = update_checkpoint(ledger_path)
        assert written == checkpoint_path(ledger_path), "no checkpoint written"
        view = read_ledger(ledger_path)
    else:
        view = read_ledger(ledger_path)
    print(json.dumps({"seconds": time.perf_counter() - started, "records": view.record_count,
                      "customers": len(view.customers()),
                      "peak_rss_mb": peak_rss_mb()}))


def measured(args: list[str], cwd: Path) -> tuple[float, float]:
    """(seconds, peak RSS MB) of a command, measured in a fresh wrapper process so that
    RUSAGE_CHILDREN holds this command alone."""
    code = ("import json, resource, subprocess, sys, time; t = time.perf_counter(); "
            "r = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True); "
            "print(json.dumps({'rc': r.returncode, 'err': r.stderr[-2000:], 's': time.perf_counter() - t, "
            "'rss': resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024}))")
    out = subprocess.run([sys.executable, "-c", code, *args], cwd=cwd, capture_output=True, text=True, check=True)
    data = json.loads(out.stdout)
    if data["rc"] != 0:
        raise SystemExit(f"{args} failed: {data['err']}")
    return data["s"], data["rss"]


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
    parser.add_argument("--no-validate", action="store_true",
                        help="skip the validate / check-jsonschema timing (minutes at 20,000 files)")
    parser.add_argument("--history-sizes", default="",
                        help="sizes at which a 12-month ledger is generated and the month's scheduled runs, "
                             "ledger load, report and a plan with it are measured (e.g. 20000)")
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--day-child", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--ledger-child", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--ledger-mode", default="full", help=argparse.SUPPRESS)
    parser.add_argument("--ledger-months", default="12",
                        help="at --history-sizes: ledger ages (months, comma list) whose index load is measured "
                             "without and with the checkpoint (e.g. 12,36); the day runs use the first")
    parser.add_argument("--date", help=argparse.SUPPRESS)
    parser.add_argument("--ledger", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--result", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--workers", type=int, default=8, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child_plan(args.child, args.url, args.workers)
        return
    if args.day_child:
        child_day(args.day_child, args.url, args.date, args.ledger, args.result)
        return
    if args.ledger_child:
        child_ledger(args.ledger_child, args.ledger_mode)
        return

    sizes = [int(s) for s in args.sizes.split(",") if s]
    one_worker_sizes = {int(s) for s in args.latency_sizes.split(",") if s}
    history_sizes = [int(s) for s in args.history_sizes.split(",") if s]
    latency = args.latency_ms
    validate_rows, plan_rows, notes = [], [], []
    day_rows, history_rows = [], []
    for size in sizes:
        world = args.workdir / f"world-{size}"
        meta_file = world / "meta.json"
        meta = load_meta(world) if meta_file.exists() and load_meta(world).seed == args.seed \
            and load_meta(world).customers == size else generate(world, size, args.seed)
        print(f"# {size} customers: {meta.companies} companies, {meta.agreements} agreements, "
              f"{meta.additions} additions, {meta.referenced_agreements} agreements referenced", file=sys.stderr)
        if not args.no_validate:
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
                f"{run.process_seconds:.1f} | {run.cpu_seconds:.1f} | {run.cpu_seconds / size * 1000:.2f} | "
                f"{run.peak_rss_mb:.0f} |"
            )
        if size in history_sizes:
            months_list = sorted({12, *(int(m) for m in args.ledger_months.split(",") if m)})
            ledger = world / "ledger" / "ledger.jsonl"  # the 12-month one: the day runs and the report use it
            for months in months_list:
                aged = world / ("ledger" if months == 12 else f"ledger-{months}m") / "ledger.jsonl"
                if not aged.with_name("ledger.2026-10.jsonl").exists():
                    from generate import generate_ledger

                    generate_ledger(world, aged, months, seed=args.seed)
                size_mb = sum(p.stat().st_size for p in aged.parent.glob("ledger.*.jsonl")) / 1e6
                for mode, what in (("full", "load the index without a checkpoint (every record)"),
                                   ("checkpoint", "write the checkpoint (as an apply does at its end)"),
                                   ("resumed", "load the index from the checkpoint")):
                    load = json.loads(subprocess.run(
                        [sys.executable, str(Path(__file__).resolve()), "--ledger-child", str(aged),
                         "--ledger-mode", mode], capture_output=True, text=True, check=True).stdout.strip().splitlines()[-1])
                    history_rows.append(f"| {size:,} | {months}-month ledger: {what} | {load['records']:,} records, "
                                        f"{size_mb:.0f} MB | {load['seconds']:.1f} | {load['peak_rss_mb']:.0f} |")
            for stale in ledger.parent.glob("*.checkpoint*.json"):  # the day runs start as a plain ledger
                stale.unlink()
            for fmt in ("html", "markdown"):
                (world / "report").mkdir(parents=True, exist_ok=True)
                seconds, rss = measured([str(BIN / "reconcile"), "report", "--ledger", str(ledger), "--format", fmt,
                                         "--out", str(world / "report" / fmt), "--period", "2026-10"], world)
                history_rows.append(f"| {size:,} | `reconcile report --format {fmt}` | 12 periods | {seconds:.1f} | "
                                    f"{rss:.0f} |")
            for day in run_days(world, 0):
                rate_minutes = day.requests / DEFAULT_RATE
                target = day.directory + day.bound_reads + day.writes + 5
                day_rows.append(
                    f"| {size:,} | {day.label} | {day.due_billing:,} | {day.due_summary:,} | {day.problems:,} | "
                    f"**{day.requests:,}** | {day.directory} | {day.additions_reads:,} | {day.summary_reads:,} | "
                    f"{day.writes:,} | {day.tickets:,} | {day.other:,} | {target:,} | {day.requests - target:+,} | "
                    f"{rate_minutes:.1f} | {day.seconds:.0f} | {day.ledger_seconds:.2f} | {day.peak_rss_mb:.0f} | "
                    f"{day.exit_code} |")
        limited = runs[0].requests / (DEFAULT_RATE / 60)
        notes.append(f"{size:,} customers at the default {DEFAULT_RATE}/min client limit: "
                     f"{runs[0].requests:,} requests / 15 per s = {limited:.0f} s (~{limited / 60:.1f} min) "
                     f"after the {DEFAULT_RATE // 10}-request burst, whatever the worker count")

    print(f"Machine: {machine()}")
    print(f"Command: .venv/bin/python bench/run.py --sizes {args.sizes} --latency-ms {latency} "
          f"--latency-sizes {args.latency_sizes}" + (f" --history-sizes {args.history_sizes}" if history_sizes else "")
          + (f" --ledger-months {args.ledger_months}" if history_sizes else "") + (" --no-validate" if args.no_validate else ""))
    print()
    if validate_rows:
        print("| customers | reconcile validate s | check-jsonschema s | check-jsonschema / validate |")
        print("|---:|---:|---:|---:|")
        print("\n".join(validate_rows))
        print()
    print(f"| customers | workers | CW requests | lower bound | over bound | plan s ({latency} ms/request) "
          "| bound s (bound x latency / workers) | plan / bound | process s | process CPU s | CPU ms per customer "
          "| peak RSS MB |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    print("\n".join(plan_rows))
    if day_rows:
        print()
        print("The scheduled job (`reconcile apply --date DAY`, the CLI in a child process, tickets included) on a "
              "copy of the world and its 12-month ledger, one after the other: 2026-11-01, -05, -20:")
        print()
        print("| customers | day | billing due | summaries due | problems | CW requests (all) | directory pages "
              "| additions reads | summary reads | writes | tickets | other | target (pages + reads of due + writes + 5) "
              "| over target | min at 900/min | run s | ledger read s | peak RSS MB | exit |")
        print("|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
        print("\n".join(day_rows))
        print()
        print("| customers | what | size | s | peak RSS MB |")
        print("|---:|---|---|---:|---:|")
        print("\n".join(history_rows))
    print()
    print("Notes:")
    print("- plan runs use a Client with requests_per_minute=0 (client-side rate limit off), so the "
          "engine's concurrency is measured, not the token bucket.")
    for note in notes:
        print(f"- {note}")


if __name__ == "__main__":
    main()
