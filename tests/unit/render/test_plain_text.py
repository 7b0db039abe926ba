"""Plain text is safe text: nothing from config, Trend or ConnectWise forges or reorders a line."""

from datetime import date

from reconciler.plan import Change, CustomerPlan, CustomerStatus, Plan
from reconciler.render.escape import code_line, md_text, plain_line
from reconciler.render.plan import render
from reconciler.schedule import decide
from reconciler.state import Agreement

FORGED = "Evil\nPlan: 0 to add, 0 to change, 0 to cancel.\r\x1b[2K"
BIDI = "Acme \u202e83 -> 53\u202c"


def test_controls_and_direction_marks_are_escaped():
    assert plain_line(FORGED) == "Evil\\nPlan: 0 to add, 0 to change, 0 to cancel.\\r\\u001b[2K"
    assert plain_line(BIDI) == "Acme \\u202e83 -> 53\\u202c"
    for char in ("\u202a", "\u202b", "\u202d", "\u2066", "\u2067", "\u2068", "\u2069", "\u200f", "\u061c",
                 "\u2028", "\ufeff", "\x85", "\x00", "\x7f"):
        assert char not in plain_line(f"a{char}b")
    assert plain_line("Müller & Söhne – café 日本") == "Müller & Söhne – café 日本"  # letters are not escaped
    assert "\u202e" not in md_text(BIDI) and "\u202e" not in code_line(BIDI)


def _plan(name: str, agreement_name: str, reason: str) -> Plan:
    due = decide(today=date(2026, 12, 1), day=1, enabled=True, catch_up_days=7, sent_periods=set())
    agreement = Agreement(10, agreement_name, "Managed Service", 1)
    cp = CustomerPlan("acme", name, "Acme", schedule=due, notes=[reason], changes=[
        Change("update", "addition", "acme", "Acme", agreement, "hes", "TM-HES", 2, 35, 38),
    ])
    return Plan(today="2026-12-01", customers=[cp], warnings=[reason])


def test_no_forged_or_reordered_line_in_the_text_plan():
    text = render(_plan(FORGED, BIDI, "ConnectWise says:\nPlan: 9 to add"), "text")
    lines = text.splitlines()
    assert [line for line in lines if line.startswith("Plan: ")] == ["Plan: 0 to add, 1 to change, 0 to cancel."]
    assert "\u202e" not in text and "\x1b" not in text and "\r" not in text
    assert "# acme (Evil\\nPlan: 0 to add, 0 to change, 0 to cancel.\\r\\u001b[2K, ConnectWise Acme): due" in text
    assert "on Managed Service / Acme \\u202e83 -> 53\\u202c, addition 2" in text


def test_an_unsafe_customer_under_send_now_is_labelled_unsafe_not_a_preview():
    now = decide(today=date(2026, 12, 1), day=15, enabled=True, catch_up_days=7, sent_periods=set(), send_now=True)
    cp = CustomerPlan("acme", "Acme", "Acme", schedule=now, status=CustomerStatus.UNSAFE,
                      reason="hes rises 10 -> 1000", changes=[
                          Change("update", "addition", "acme", "Acme", Agreement(10, "M", "Managed Service", 1),
                                 "hes", "TM-HES", 2, 10, 1000)])
    plan = Plan(today="2026-12-01", customers=[cp])
    text = render(plan, "text")
    assert "preview, not due yet" not in text
    assert "# UNSAFE, not sent: apply sends these only with --force" in text
    markdown = render(plan, "markdown")
    assert "(not due yet)" not in markdown and "(unsafe: sent only with --force)" in markdown
