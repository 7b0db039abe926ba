"""The tests are a package (`tests/`): helpers are imported as `tests.support...`, never through
`sys.path` edits; pytest puts the repository root on the path for the `tests` package."""
