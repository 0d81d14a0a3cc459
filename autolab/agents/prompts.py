"""The Claude agent's prompt text, rendered from autolab/templates/agent_*.j2.

Everything a person or an earlier run wrote (ideas, hypotheses, reasons, log
tails) passes through `quoted` inside a <data> block: it can neither close its
block nor read as the system prompt's voice.

Its place in the whole: ARCHITECTURE.md, "Contracts".
"""

from __future__ import annotations

import json
import re
from functools import cache

import jinja2

from autolab.agents.base import Context
from autolab.agents.roles import role as role_named
from autolab.decide import Rule
from autolab.records import BASELINE

RECENT = 8          # the last N trials every role sees
TRIED_SHOWN = 30    # hypotheses already tried on this parent, newest kept


def quoted(text: str) -> str:
    """A JSON string literal, so newlines and quotes stay inert, with `</` broken up so
    the text cannot end its <data> block early."""
    return json.dumps(str(text), ensure_ascii=False).replace("</", "<\\/")


@cache
def _env() -> jinja2.Environment:
    env = jinja2.Environment(loader=jinja2.PackageLoader("autolab", "templates"),
                             keep_trailing_newline=True, autoescape=False,
                             undefined=jinja2.StrictUndefined)
    env.filters["quoted"] = quoted
    return env


def render(name: str, **values) -> str:
    return _env().get_template(name).render(**values)


def system_blocks(context: Context, role: str) -> list[dict]:
    """The stable prefix, cached: the program and script (shared by every role), then the
    role. A cache breakpoint after each lets all roles reuse the first block."""
    program = render("agent_program.j2", config=context.config, files=context.files,
                     parent_sha=context.parent_sha,
                     decision_rule=Rule.describe(context.config))
    focus = render("agent_role.j2", role=role_named(role))
    return [{"type": "text", "text": program, "cache_control": {"type": "ephemeral"}},
            {"type": "text", "text": focus, "cache_control": {"type": "ephemeral"}}]


def user_text(context: Context, role: str, idea: str = "", retry_note: str = "") -> str:
    lineage = (context.lineage(role, RECENT) if context.lineage
               else {"best": [], "recent": [], "failures": []})
    tried = [r for r in context.history if r.parent_sha == context.parent_sha and r.diff
             and r.status != BASELINE][-TRIED_SHOWN:]
    best = context.scores[-1] if context.scores else None
    return render("agent_user.j2", lineage=lineage, tried=tried, best=best, role=role,
                  metric=context.config.metric, idea=idea, retry_note=retry_note)


def revise_text(error: str) -> str:
    return render("agent_revise.j2", error=error)


def normalized(hypothesis: str) -> frozenset:
    """The words of a hypothesis, so the same change described again can be recognised."""
    return frozenset(re.findall(r"[a-z_]+|\d+(?:\.\d+)?(?:e-?\d+)?", hypothesis.lower())) - {
        "the", "a", "an", "to", "of", "and", "in", "from", "by", "with", "for", "on", "set",
        "use", "change", "will", "should", "improve", "improves", "lower", "reduce"}


def same_idea(a: str, b: str) -> bool:
    x, y = normalized(a), normalized(b)
    return bool(x and y) and len(x & y) / len(x | y) >= 0.8
