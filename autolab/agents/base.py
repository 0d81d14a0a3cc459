"""The Agent contract: what an agent reads, and what it may return (ARCHITECTURE.md, "Contracts").
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol, Self

from autolab.config import Config, Lab
from autolab.records import LedgerRow, Proposal, ScoreRow
from autolab.spend import Spend


@dataclass(frozen=True)
class Context:
    """Everything an agent may look at when it proposes."""

    config: Config
    parent_sha: str
    parent_trial: str
    files: dict[str, str]               # editable files at the parent, path -> text
    scores: tuple[ScoreRow, ...]        # the frontier on main, best last
    history: tuple[LedgerRow, ...]      # every ledger row so far, oldest first
    slots: int = 1
    idea: str = ""                      # a person's idea to try now (quoted data, not orders)
    tried: frozenset = field(default_factory=frozenset)  # admission keys already used
    # the ledger's slice for a role: (role, n) -> {"best", "recent", "failures"}
    lineage: Callable[[str, int], dict[str, list[LedgerRow]]] | None = None


class Agent(Protocol):
    name: str
    free_text: bool     # takes a person's idea in prose (else only `NAME=value`)
    exhausted: str      # why it stopped proposing for this run, "" while it goes on
    # a frozen dataclass of [tool.autolab.agent.<name>] (every field with a default), or None
    Settings: ClassVar[type | None]

    @classmethod
    def from_lab(cls, lab: Lab, settings: Any, spend: Spend | None) -> Self:
        """The agent for `lab` (registry.py builds every agent so): `settings` is a
        `Settings` instance or None, `spend` the run's one money counter (None: the agent
        makes its own if it spends)."""

    def propose(self, context: Context) -> list[Proposal]:
        """Up to `context.slots` proposals; none when it has nothing new."""

    def revise(self, proposal: Proposal, problem: str) -> Proposal | None:
        """One more try at a proposal git could not apply or parse, given git's error."""


# what registry.check asks of an agent class: (methods, class attributes)
AGENT_MEMBERS = (("from_lab", "propose", "revise"), ("name", "free_text", "exhausted",
                                                      "Settings"))


class BaseAgent:
    """The defaults of every member but `propose`: what an agent needs to declare least."""

    name = ""
    free_text = False
    exhausted = ""
    Settings: ClassVar[type | None] = None

    @classmethod
    def from_lab(cls, lab: Lab, settings: Any, spend: Spend | None) -> Self:
        """An agent without settings or money of its own: `cls()`."""
        return cls()

    def revise(self, proposal: Proposal, problem: str) -> Proposal | None:
        return None


def unified_diff(path: str, old: str, new: str) -> str:
    """A diff of one file that `git apply` accepts."""
    def lines(text: str) -> list[str]:
        out = text.splitlines(keepends=True)
        if out and not out[-1].endswith("\n"):
            out[-1] += "\n\\ No newline at end of file\n"
        return out
    return "".join(difflib.unified_diff(lines(old), lines(new), f"a/{path}", f"b/{path}"))
