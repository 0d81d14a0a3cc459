"""The Forge contract: where trials become branches and PRs, and winners merge
(ARCHITECTURE.md, "Contracts")."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar, Protocol, Self

from autolab import scores
from autolab.config import Lab
from autolab.gitops import Repo
from autolab.records import Proposal, ScoreRow, Status, Trial

REPORT_MARKER = "<!-- autolab:report -->"
# Given main's scores once the row lands, the generated files to commit with it.
Pages = Callable[[list[ScoreRow]], dict[str, bytes]]


class Forge(Protocol):
    name: str
    # a frozen dataclass of [tool.autolab.forge.<name>] (every field with a default), or None
    Settings: ClassVar[type | None]

    @classmethod
    def from_lab(cls, lab: Lab, settings: Any) -> Self:
        """The forge for `lab` (registry.py builds every forge so); `settings` is a
        `Settings` instance or None."""

    def main_sha(self) -> str: ...

    def scores(self) -> list[ScoreRow]:
        """reports/scores.csv on main from its latest baseline on: that baseline first, the
        current best last (rows before a re-baseline are history, `scores.current`)."""

    def reserve(self, after: int) -> str:
        """A trial id numbered above `after` (the highest the ledger holds) that no trial of
        this lab, and no other driver of it, has taken; claimed for the caller."""

    def open_trial(self, trial_id: str, proposal: Proposal) -> Trial: ...

    def successor(self, trial_id: str, commit_sha: str, pr: str, proposal: Proposal) -> Trial:
        """A new trial id on an existing commit and PR (a rerun, a person's verdict)."""

    def open_trials(self) -> list[Trial]:
        """Trials opened but not yet merged or closed (what a rerun resumes)."""

    def comment(self, trial: Trial, body: str) -> None:
        """The one bot comment of the trial, created or edited in place."""

    def set_baseline(self, evaluated_sha: str, row: ScoreRow, pages: Pages | None = None) -> str:
        """Append the baseline row on main, only if main is still `evaluated_sha`."""

    def merge(self, trial: Trial, evaluated_sha: str, row: ScoreRow,
              pages: Pages | None = None) -> str:
        """Compare-and-swap merge of the evaluated head plus its scores row and `pages`;
        StaleError if the branch or main moved."""

    def close(self, trial: Trial, status: Status, reason: str) -> None:
        """Close without merging, ended by `status` (`reason`: the verdict's line); the code
        stays under refs/autolab/trials/<trial_id>."""

    def publish(self) -> None:
        """Make the ledger branch durable where the forge lives (after each ledger append)."""

    def ideas(self) -> list[tuple[str, str]]:
        """(text, address) of each idea people filed on the forge for the backlog; a run
        queues them when it starts."""


# what registry.check asks of a forge class: (methods, class attributes)
FORGE_MEMBERS = (("from_lab", "main_sha", "scores", "reserve", "open_trial", "successor",
                  "open_trials", "comment", "set_baseline", "merge", "close", "publish",
                  "ideas"),
                 ("name", "Settings"))


class BaseForge:
    """The defaults of a forge's construction: no settings, built as `cls(lab)`."""

    Settings: ClassVar[type | None] = None

    @classmethod
    def from_lab(cls, lab: Lab, settings: Any) -> Self:
        return cls(lab)  # type: ignore[call-arg]


def pr_body(p: Proposal) -> str:
    lineage = ", ".join(p.lineage) or "none"
    return (f"**Hypothesis:** {p.hypothesis}\n\n**Rationale:** {p.rationale}\n\n"
            f"**Expected delta:** {p.expected_delta:+g}\n\n**Role:** {p.role} "
            f"(source: {p.source})\n\n**Parent:** {p.parent_sha} "
            f"(trial {p.parent_trial or 'baseline'})\n\n**Lineage:** {lineage}\n")


def main_commit(repo: Repo, evaluated_sha: str, row: ScoreRow, trial: Trial | None = None,
                pages: Pages | None = None) -> tuple[str, str]:
    """(the main it must replace, the commit): the one commit that moves main.

    It carries the evaluated tree and the new scores row together, so main is
    never between states; every forge publishes it by compare-and-swap against
    the first element. Without a trial it is the baseline row on main itself.
    `pages` (reports/README.md, reports/progress.svg) are rendered from the new
    scores and written into that same commit.
    """
    if trial is None:
        expected, parents = evaluated_sha, [evaluated_sha]
    else:
        expected = trial.proposal.parent_sha
        parents = [expected, evaluated_sha]
    files = scores_files(repo, expected, row, pages)
    return expected, repo.commit_files(evaluated_sha, files, keep_message(row, trial), parents)


def scores_files(repo: Repo, main: str, row: ScoreRow, pages: Pages | None) -> dict[str, bytes]:
    """main's scores table with `row` appended, and the pages rendered from it."""
    table = scores.append(repo.read(main, scores.PATH), row)
    return {scores.PATH: table, **(pages(scores.parse(table)) if pages else {})}


def keep_message(row: ScoreRow, trial: Trial | None) -> str:
    if trial is None:
        return f"autolab: baseline {row.metric:.6g} ± {row.metric_std:.3g}"
    return f"autolab: keep {trial.trial_id}: {trial.proposal.hypothesis}"
