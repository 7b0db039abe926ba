"""The one base of every failure a user can cause or fix (bad config, a missing key, an
unreadable usage file, a ConnectWise that refuses, a ledger in use, a path that cannot be
written, a plan file that is damaged...).

The commands report any of them the same way (`cmds.common.reports_errors`): `line()` on stderr
(one line, or one line per problem for config and CSV diagnostics), exit `exit_code`, never a
traceback. None of them derives from click's exceptions: click's own handler sits outside the
command, so a run that failed that way could not leave its `--report` first. Anything else that
escapes is a bug and keeps its traceback (or, through `cli.main`, one `internal error` line).

`tests/repo/test_errors.py` checks that every exception class in `reconciler/` derives from
this one, or is private and caught where it is raised.
"""

from __future__ import annotations


class ReconcileError(Exception):
    """Expected, user-facing failure; its text is safe to print (never a key)."""

    located = False  # True when the text already starts with `PATH:LINE[:COL]: error:`
    exit_code = 1  # a run with a problem never exits 0; 1 is what every failure gives today

    def line(self) -> str:
        """What the user reads: the text, prefixed `error: ` unless it already names its place.
        The one way every failure is printed; subclasses word `str()` (or this, for several
        lines), never shadow it with data."""
        return str(self) if self.located else f"error: {self}"
