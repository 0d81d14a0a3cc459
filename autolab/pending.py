"""Verdicts written ahead: a trial's decided row and action, on disk before any of it acts.

A run killed between deciding and recording finds the file on its next start
and carries the verdict out; every step it repeats is safe to repeat.

Its place in the whole: ARCHITECTURE.md, "Records and state".
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict
from pathlib import Path

from autolab.records import LedgerRow, Manifest, Proposal, Trial


class Pending:
    def __init__(self, home: Path):
        self.dir = home / "pending"

    def write(self, trial: Trial, row: LedgerRow, action: str) -> Path:
        self.dir.mkdir(parents=True, exist_ok=True)
        path = self.path(trial.trial_id)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps({"trial": asdict(trial), "row": row.as_dict(),
                                   "action": action}))
        os.replace(tmp, path)
        return path

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
