"""Verdicts written ahead: a trial's decided row and action, on disk before any of it acts.

A run killed between deciding and recording finds the file on its next start
and carries the verdict out; every step it repeats is safe to repeat. Where the
workspace does not outlive the job (a GitHub-hosted runner), the forge keeps a
copy of each verdict on origin too, so the next job, from a fresh clone, finds it.

Its place in the whole: ARCHITECTURE.md, "Records and state".
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Protocol, runtime_checkable

from autolab.errors import InfraError
from autolab.files import atomic_write
from autolab.records import LedgerRow, Manifest, Proposal, Trial


@runtime_checkable
class VerdictsOnOrigin(Protocol):
    """A forge that keeps written-ahead verdicts where the next job's fresh clone finds them."""

    def put_pending(self, trial_id: str, data: bytes) -> None: ...

    def pending_on_origin(self) -> dict[str, bytes]: ...

    def drop_pending(self, trial_id: str) -> None: ...


class Pending:
    def __init__(self, home: Path, origin: VerdictsOnOrigin | None = None,
                 note: Callable[[str], None] = print):
        self.dir = home / "pending"
        self.origin, self.note = origin, note

    def write(self, trial: Trial, row: LedgerRow, action: str) -> Path:
        data = json.dumps({"trial": asdict(trial), "row": row.as_dict(), "action": action})
        path = self.store(trial.trial_id, data.encode())
        if self.origin is not None:
            try:
                self.origin.put_pending(trial.trial_id, data.encode())
            except InfraError as exc:  # the local file still holds it, as without a forge copy
                self.note(f"{trial.trial_id}: its verdict is kept here only ({exc})")
        return path

    def store(self, trial_id: str, data: bytes) -> Path:
        path = self.path(trial_id)
        atomic_write(path, data)
        return path

    def fetch(self) -> None:
        """Verdicts another job wrote ahead on origin and never finished join the local ones."""
        if self.origin is None:
            return
        for trial_id, data in self.origin.pending_on_origin().items():
            if not self.path(trial_id).exists():
                self.store(trial_id, data)

    def remove(self, path: Path) -> None:
        """The verdict is carried out and its row recorded: forget it here and on origin."""
        path.unlink()
        if self.origin is not None:
            try:
                self.origin.drop_pending(path.stem)
            except InfraError as exc:  # finishing it again is safe; say why it is left
                self.note(f"{path.stem}: its finished verdict stays on origin ({exc})")

    def path(self, trial_id: str) -> Path:
        return self.dir / f"{trial_id}.json"

    def paths(self) -> list[Path]:
        return sorted(self.dir.glob("*.json")) if self.dir.exists() else []

    @staticmethod
    def read(path: Path) -> tuple[Trial, LedgerRow, str]:
        data = json.loads(path.read_text())
        raw = data["trial"]
        trial = Trial(**{**raw, "proposal": Proposal.from_dict(raw["proposal"]),
                         "manifest": Manifest.from_pairs(raw["manifest"]["files"])})
        return trial, LedgerRow(**data["row"]), data["action"]
