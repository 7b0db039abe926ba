"""What `reconcile init` says besides its one line per file."""

from __future__ import annotations


def local_source_note(source: str) -> str:
    return (f"note: requirements.txt installs from a file on this machine ({source}); "
            "GitHub's runners cannot reach it: give them a URL with --requirement (or in requirements.txt "
            "and .pre-commit-config.yaml)")


def next_step(directory: object) -> str:
    return f"Next: cd {directory} && reconcile validate && reconcile --sandbox plan --send-now"
