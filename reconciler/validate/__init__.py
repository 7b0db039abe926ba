"""`reconcile validate`'s output side: renderings of config diagnostics."""
