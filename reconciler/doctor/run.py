"""`run_doctor`: read both tenants, judge the config against them, return the report.

Missing ConnectWise keys are a finding (a blocker item), not an error, so Trend is still
checked; every text in the report is scrubbed of the keys once more before it leaves.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, replace
from datetime import date
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from reconciler.config import load_config
from reconciler.config.model import Config
from reconciler.runtime import credential_variables, open_backends
from reconciler.secrets import redact
from reconciler.target import MissingCredentials, Target
from reconciler.usage.lmpi import ENV_SECRET, ENV_TOKEN, ENV_URL

from . import checks
from .facts import ConnectWiseFacts, TrendFacts
from .reads import read_connectwise, read_trend
from .report import Check, DoctorReport


def judge(config: Config, cw: ConnectWiseFacts, trend: TrendFacts) -> list[Check]:
    """The checklist, in the order an admin fixes things: keys, rights, what the config names."""
    items = [checks.connectwise_credentials(config, cw)]
    items += [checks.endpoint(e, cw) for e in cw.endpoints]
    items += [
        checks.catalog_items(config, cw),
        checks.agreement_types(config, cw),
        *checks.ticket_checks(config, cw),
        checks.ticket_company(config, cw),
        checks.management_solution(config, cw),
        checks.customer_companies(config, cw),
        checks.trend_credentials(config, trend),
        checks.trend_clock(config, trend),
        checks.trend_customers(config, trend),
        checks.trend_service_plans(config, trend),
        checks.trend_report(config, trend),
        checks.customer_trend_ids(config, trend),
    ]
    return items


@dataclass(frozen=True)
class _Edges:
    target: Target | None  # None when the keys are missing
    problem: str | None
    usage_env: Mapping[str, str]
    secrets: tuple[str, ...]


@contextmanager
def _edges(config: Config, sandbox: bool, env: Mapping[str, str]) -> Iterator[_Edges]:
    """The PSA's target and Trend's settings, as every command gets them (runtime.py);
    missing ConnectWise keys are a finding here, not an error, so Trend is still checked."""
    with ExitStack() as stack:
        try:
            backends = stack.enter_context(open_backends(config, sandbox, env))
        except MissingCredentials as error:
            yield _Edges(None, str(error), env, _secrets(env))
            return
        yield _Edges(backends.target, None, backends.usage_env, _secrets(backends.usage_env))


def _secrets(env: Mapping[str, str]) -> tuple[str, ...]:
    names = (*credential_variables(), ENV_TOKEN, ENV_SECRET)
    return tuple(env[name] for name in names if env.get(name))


def run_doctor(config: Config, sandbox: bool, today: date, env: Mapping[str, str] = os.environ) -> DoctorReport:
    """Read both tenants and judge the config against them. `today` picks last month's report."""
    with _edges(config, sandbox, env) as edges:
        if edges.target is None:
            cw = ConnectWiseFacts(credentials_problem=edges.problem)
        else:
            cw = read_connectwise(config, edges.target)
        trend = read_trend(config, edges.usage_env, f"{today:%Y-%m}")
        lmpi_url = edges.usage_env.get(ENV_URL, "") if config.usage.source == "lmpi" else ""
        cw_url = getattr(getattr(edges.target, "client", None), "base_url", "") or config.connectwise.url
    # The clients already scrub keys from server text; this is the last line of defence.
    found = [replace(c, detail=redact(c.detail, edges.secrets), fix=redact(c.fix, edges.secrets),
                     problems=tuple(redact(p, edges.secrets) for p in c.problems))
             for c in judge(config, cw, trend)]
    return DoctorReport(tuple(found), connectwise_url=redact(_shown_url(cw_url), edges.secrets),
                        lmpi_url=redact(_shown_url(lmpi_url), edges.secrets), sandbox=sandbox,
                        trend_used=trend.used)


def _shown_url(url: str) -> str:
    """Scheme, host and path only: a user name, password or query in a URL is never shown."""
    if not url:
        return ""
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = f":{parts.port}" if parts.port else ""
    return urlunsplit((parts.scheme, host + port, parts.path, "", ""))


def doctor_config_dir(config_dir: Path, sandbox: bool, today: date, env: Mapping[str, str] = os.environ) -> DoctorReport:
    """The command's entry: load the config (a `ConfigInvalid` is the usual one line per
    problem), then `run_doctor`."""
    return run_doctor(load_config(config_dir), sandbox, today, env)
