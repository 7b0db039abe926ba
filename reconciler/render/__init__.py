"""Every view of the tool's results, one module per thing shown: the plan (`plan`, with
`plan_text` and `plan_markdown`), drift (`drift`) and config diagnostics (`validation`), with what
they share in `common` (options, the sandbox banner, escaped cells; `escape` for Markdown and
HTML). Importing this package imports nothing else, so `reconcile validate` stays fast."""
