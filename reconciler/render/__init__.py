"""Interchangeable views of one plan."""

from __future__ import annotations

import json

from reconciler.plan import Plan, plan_to_json
from reconciler.render.markdown import render_markdown
from reconciler.render.text import render_text


def render_json(plan: Plan, verbose: bool = False) -> str:  # JSON always holds every customer
    return json.dumps(plan_to_json(plan), indent=2) + "\n"


RENDERERS = {"text": render_text, "markdown": render_markdown, "json": render_json}


def render(plan: Plan, fmt: str, verbose: bool = False) -> str:
    """`verbose`: also list the customers with nothing to change (text; markdown always does)."""
    return RENDERERS[fmt](plan, verbose)
