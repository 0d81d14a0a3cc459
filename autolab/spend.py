"""The run's money: one counter for the agent's tokens and the runner's compute.

`[tool.autolab.budget].max_usd` caps the two together. The agent asks `left()` before
each API call, and makes it only if the call fits at its worst; the runner asks before
each job, where it also holds every job in flight at its worst case until its billed
cost replaces it, and keeps room for the agent's next call. So however the spending is
split, the run stops at the cap, not at twice it. `cli.build_loop` makes one and hands it to
both; an agent or runner made alone (as in tests) makes its own.

Its place in the whole: ARCHITECTURE.md, "Contracts".
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class Spend:
    cap: float = 0.0                                # max_usd; 0: no cap
    say: Callable[[str], None] = print              # the run's log, for notes said once
    agent_usd: float = 0.0                          # tokens, at the agent's price table
    compute_usd: float = 0.0                        # what the runner's finished jobs billed
    reserved: dict[object, float] = field(default_factory=dict)   # in flight, at worst
    # the agent's next call at its worst, set by the agent: the runner starts a trial only
    # while its jobs and this call both fit, so the call that proposes it is never refused
    agent_call_usd: float = 0.0
    _said: set[str] = field(default_factory=set)

    @property
    def spent(self) -> float:
        return self.agent_usd + self.compute_usd

    def left(self) -> float:
        """USD that may still be committed: the cap less what is spent and held."""
        if not self.cap:
            return math.inf
        return self.cap - self.spent - sum(self.reserved.values())

    def line(self) -> str:
        cap = f" of max_usd={self.cap:g}" if self.cap else ""
        held = sum(self.reserved.values())
        return (f"${self.spent:.4f}{cap}: agent ${self.agent_usd:.4f} (tokens) + runner "
                f"${self.compute_usd:.4f} (compute)" +
                (f", ${held:.4f} held for jobs in flight" if held else ""))

    def note_once(self, text: str) -> None:
        if text not in self._said:
            self._said.add(text)
            self.say(text)
