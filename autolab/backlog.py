"""The idea backlog: what people queued for the planner to try before it invents its own.

Kept as AUTOLAB_HOME/ideas.json. An idea is open until a trial is opened for it;
whether that trial was kept is read from the ledger, so the two never disagree.

Its place in the whole: ARCHITECTURE.md, "Records and state".
"""

from __future__ import annotations

import fcntl
import json
import re
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

from autolab.errors import UserError
from autolab.files import atomic_write
from autolab.records import LedgerRow, Status, utc_now

SOURCE = "idea:"     # a proposal drawn from idea n has source "idea:n"
# NAME=value for any setting autolab.params names: `LR=`, `iterations=`, `model.n_layer=`, ...
ASSIGNMENT = re.compile(r"^\s*[A-Za-z_][\w.:/@-]*\s*=\s*\S")


@dataclass(frozen=True)
class Idea:
    id: int
    text: str
    added_at: str
    trial_id: str = ""
    origin: str = ""    # where it was queued from, e.g. a GitHub issue's URL


class Backlog:
    def __init__(self, home: Path):
        self.path = home / "ideas.json"

    def ideas(self) -> list[Idea]:
        if not self.path.exists():
            return []
        return [Idea(**item) for item in json.loads(self.path.read_text())]

    def add(self, text: str, origin: str = "") -> Idea:
        """Queue `text`; an idea from an `origin` already queued is not queued again."""
        text = " ".join(text.split())
        if not text:
            raise UserError("autolab idea: the idea is empty; write it in quotes, e.g. "
                            "autolab idea \"try rotary embeddings\"")
        with self._locked() as ideas:
            known = next((i for i in ideas if origin and i.origin == origin), None)
            if known:
                return known
            idea = Idea(max((i.id for i in ideas), default=0) + 1, text, utc_now(),
                        origin=origin)
            ideas.append(idea)
        return idea

    def next_open(self, free_text: bool) -> Idea | None:
        """The oldest open idea this agent can take: any text for a language model,
        only `NAME=value` for an agent that edits constants."""
        return next((i for i in self.ideas() if not i.trial_id
                     and (free_text or ASSIGNMENT.match(i.text))), None)

    def link(self, source: str, trial_id: str) -> None:
        """Mark the idea a proposal came from as tried by `trial_id`."""
        if not source.startswith(SOURCE):
            return
        number = int(source[len(SOURCE):])
        with self._locked() as ideas:
            ideas[:] = [Idea(**{**asdict(i), "trial_id": trial_id}) if i.id == number else i
                        for i in ideas]

    def listing(self, rows: list[LedgerRow]) -> list[tuple[Idea, str]]:
        """Each idea with its state: open, tried (with the trial's status), or kept."""
        status = {r.trial_id: r.status for r in rows}
        out = []
        for idea in self.ideas():
            ended = status.get(idea.trial_id)
            state = ("open" if not idea.trial_id else "kept" if ended == Status.KEEP
                     else f"tried ({ended or 'running'})")
            out.append((idea, state))
        return out

    @contextmanager
    def _locked(self):
        """Read-modify-write under a lock: `autolab idea` may run while a run links ideas."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path.with_suffix(".lock"), "a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            ideas = self.ideas()
            yield ideas
            atomic_write(self.path, json.dumps([asdict(i) for i in ideas], indent=1))
