"""The Forge protocol: where trials become branches and PRs, and winners merge."""

from __future__ import annotations

from typing import Protocol

from autolab.records import Proposal, ScoreRow, Trial

REPORT_MARKER = "<!-- autolab:report -->"


class Forge(Protocol):
    name: str

    def main_sha(self) -> str: ...

    def scores(self) -> list[ScoreRow]:
        """reports/scores.csv on main: baseline first, current best last."""

    def open_trial(self, trial_id: str, proposal: Proposal) -> Trial: ...

    def open_trials(self) -> list[Trial]:
        """Trials opened but not yet merged or closed (what a rerun resumes)."""

    def comment(self, trial: Trial, body: str) -> None:
        """The one bot comment of the trial, created or edited in place."""

    def set_baseline(self, evaluated_sha: str, row: ScoreRow) -> str:
        """Append the baseline row on main, only if main is still `evaluated_sha`."""

    def merge(self, trial: Trial, evaluated_sha: str, row: ScoreRow) -> str:
        """Compare-and-swap merge of the evaluated head plus its scores row; StaleError if
        the branch or main moved."""

    def close(self, trial: Trial, reason: str) -> None:
        """Close without merging; the code stays under refs/autolab/trials/<trial_id>."""
