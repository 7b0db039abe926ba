"""Every view of the tool's results, one module per thing shown: the plan (`plan`, with
`plan_text`, `plan_markdown` and `plan_json`), an apply run (`apply`), drift (`drift`), config
diagnostics (`validation`), the doctor's checklist (`doctor`), and what `trend`, `import_`,
`init`, `report` (`report_run`) and `sandbox` print, with what they share in `common` (options,
the sandbox banner, escaped cells; `escape` for Markdown and HTML). Importing this package
imports nothing else, so `reconcile validate` stays fast."""
