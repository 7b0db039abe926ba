"""Interchangeable views of one plan: text (Terraform-style), Markdown (PR comments), JSON."""

from __future__ import annotations

import json

from reconciler.plan import Plan
from reconciler.render.common import RenderOptions
from reconciler.render.plan_json import plan_to_json
from reconciler.render.plan_markdown import render_markdown
from reconciler.render.plan_text import render_text


def render_json(plan: Plan, options: RenderOptions = RenderOptions()) -> str:  # every customer, always
    return json.dumps(plan_to_json(plan), indent=2) + "\n"


RENDERERS = {"text": render_text, "markdown": render_markdown, "json": render_json}


def render(plan: Plan, fmt: str, options: RenderOptions = RenderOptions()) -> str:
    """`options.verbose`: also list the customers with nothing to change (text; markdown always does)."""
    return RENDERERS[fmt](plan, options)
