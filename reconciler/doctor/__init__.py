"""`reconcile doctor`: a read-only preflight of the configured tenants (ConnectWise and Trend).

The first thing a new MSP runs after `init` and setting the credentials, and what support asks
for: are the keys accepted, may they read every endpoint the tool uses, does everything the
config names exist, is the clock close enough to Trend's. The plan path's shape:

- `run.py` orchestrates (`run_doctor(...) -> DoctorReport`);
- `reads.py` asks the target and Trend (the only HTTP here; ConnectWise's endpoint probes are
  the ConnectWise package's own, `reconciler.connectwise.preflight`);
- `facts.py` holds what was read, `checks.py` judges it (pure), `report.py` is the result;
- `reconciler.render.doctor` shows it.

Nothing is written: no ledger, no file, no ConnectWise or Trend record. This package's
`__init__` imports nothing, so the PSA package can speak `facts` without loading the rest.
"""
