"""An agent that returns proposals it was given: the stand-in tests script and inspect.

Its place in the whole: ARCHITECTURE.md, "Contracts".
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from autolab.agents.base import BaseAgent, Context
from autolab.records import Proposal


class ScriptedAgent(BaseAgent):
    name = "scripted"

    def __init__(self, proposals: Sequence[Proposal] = ()):
        self.remaining = list(proposals)
        self.contexts: list[Context] = []

    def propose(self, context: Context) -> list[Proposal]:
        """The next scripted proposals, re-parented on the current main unless pinned."""
        self.contexts.append(context)
        taken, self.remaining = self.remaining[:context.slots], self.remaining[context.slots:]
        return [p if p.parent_sha else replace(p, parent_sha=context.parent_sha)
                for p in taken]
