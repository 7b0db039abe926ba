"""Usage sources: where seat counts come from. One file per source, one entry point."""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping
from dataclasses import replace
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from .audit import rows_hash, save_usage, save_usage_reads, usage_record
from .base import EXTRA_FIELDS, Usage, UsageError, UsageInvalid, UsageSourceError, trend_key
from .csv_source import read_csv
from .lmpi import LmpiError, read_lmpi, read_reported
from .trend_ids import TrendIds
from .trend_report import report_month_for

if TYPE_CHECKING:
    from reconciler.config.model import Config


class MonthlyReports:
    """Trend summary reports by month, each read once per run (workers plan in parallel)."""

    def __init__(self, trend_ids: TrendIds, units: str, env: Mapping[str, str]) -> None:
        self.trend_ids, self.units, self.env = trend_ids, units, env
        self.loaded: dict[str, Usage] = {}
        self.failed: dict[str, UsageSourceError] = {}  # a month that could not be read stays so
        self._lock = threading.Lock()

    def __call__(self, month: str) -> Usage:
        with self._lock:
            if month not in self.loaded and month not in self.failed:
                try:
                    usage = read_reported(self.trend_ids, month, self.units, self.env)
                    self.loaded[month] = replace(usage, other_month=self)
                except UsageSourceError as error:
                    self.failed[month] = error
            if month in self.failed:
                raise UsageSourceError(str(self.failed[month]))
            return self.loaded[month]


def read_usage(
    config: Config, override_csv: Path | None = None, env: Mapping[str, str] = os.environ,
    today: date | None = None,
) -> Usage:
    """Seat counts from the CLI's `--usage PATH` if given, else from `config.usage`.

    `today` (the run's date: `--date`, else today in the global billing time zone) picks the
    report month of `usage.basis: reported`: the month before today's, i.e. the report of the
    month before the period being billed (trend_report.py). Raises `UsageInvalid` (CSV
    problems, with file:line) or `UsageSourceError` (the source could not be read at all).
    """
    trend_ids = TrendIds.from_products(config.products)
    settings = config.usage
    if override_csv is not None:  # read with the configured header mapping, if any
        columns = settings.columns if settings.source == "csv" else None
        return read_csv(Path(override_csv), config.products, columns=columns, trend_ids=trend_ids)
    if settings.source == "lmpi":
        if settings.basis == "reported":
            from reconciler.schedule import period_of, today_in

            # The clock is read here, at the edge, when the command gave no date.
            run_day = today or today_in(config.billing.timezone, datetime.now(UTC))
            reports = MonthlyReports(trend_ids, settings.reported_units, env)
            return reports(report_month_for(period_of(run_day)))
        return read_lmpi(trend_ids, env)
    if settings.path is None:
        raise UsageSourceError("usage.source is csv but usage.path is not set in global.yaml")
    return read_csv(settings.path, config.products, columns=settings.columns, trend_ids=trend_ids)


__all__ = [
    "EXTRA_FIELDS",
    "LmpiError",
    "TrendIds",
    "Usage",
    "UsageError",
    "UsageInvalid",
    "UsageSourceError",
    "read_csv",
    "read_lmpi",
    "read_reported",
    "read_usage",
    "report_month_for",
    "rows_hash",
    "save_usage",
    "save_usage_reads",
    "trend_key",
    "usage_record",
]
