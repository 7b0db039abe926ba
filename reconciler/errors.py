"""The one base of every failure a user can cause or fix (bad config, a missing key, an
unreadable usage file, a ConnectWise that refuses, a ledger in use...).

The commands report any of them the same way (`cmds.common.reports_errors`): one line (or one
line per problem, for config and CSV diagnostics) on stderr, exit code 1, never a traceback.
Anything else that escapes is a bug and keeps its traceback.
"""

from __future__ import annotations


class ReconcileError(Exception):
    """Expected, user-facing failure; its text is safe to print (never a key)."""

    located = False  # True when the text already starts with `PATH:LINE[:COL]: error:`

    def line(self) -> str:
        return str(self) if self.located else f"error: {self}"
