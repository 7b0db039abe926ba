"""Billing periods: calendar months named "YYYY-MM", and the arithmetic on them (one place)."""

from __future__ import annotations

from datetime import date


def period_of(day: date) -> str:
    return f"{day.year:04d}-{day.month:02d}"


def parse_period(period: str) -> tuple[int, int]:
    year, month = period.split("-")
    return int(year), int(month)


def shift_period(period: str, months: int) -> str:
    """`period` moved by `months` (negative: back)."""
    year, month = parse_period(period)
    index = year * 12 + (month - 1) + months
    return f"{index // 12:04d}-{index % 12 + 1:02d}"


def previous_period(period: str) -> str:
    return shift_period(period, -1)


def next_period(period: str) -> str:
    return shift_period(period, 1)


def period_window(end: str, count: int = 12) -> tuple[str, ...]:
    """`count` consecutive periods ending at `end`, oldest first."""
    return tuple(shift_period(end, offset) for offset in range(1 - count, 1))
