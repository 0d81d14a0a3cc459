"""What people do to trials on GitHub, carried out by the loop's own steps.

- a person's PR (`/evaluate`, or the `autolab` label) becomes a proposal with
  source `human`: its diff against the merge base with main, applied to main,
  so admission, the runner, the noise rule, the report and the CAS merge are
  the ones every trial gets;
- `/try` hands the idea to the agent and queues its proposal as `try:<issue>`;
- `/rerun`, `/keep`, `/discard` and an approving review act on a trial that
  already has a ledger row. Rows are append-only, one per trial id, so each is
  recorded as a new trial id on the same commit and the same PR, with source
  `rerun:`, `keep:` or `discard:` plus the trial, and goes through the loop's
  written-ahead verdict (report, merge or close, record).

All of it goes through the loop's public API (enqueue, drain, rerun, override);
see ARCHITECTURE.md, "Reviews and chat commands".
"""

from __future__ import annotations

import json
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import replace

from autolab.errors import UserError
from autolab.forges.github import LABEL, GitHubForge
from autolab.github_api import api_call
from autolab.ledger import Ledger
from autolab.loop import Loop
from autolab.records import LedgerRow, Proposal, Status, Trial
from autolab.refs import PULLS

MAX_TITLE = 200
RERUNNABLE = Status.where(Status.can_rerun)
Session = Callable[[], AbstractContextManager[Loop]]


class Reviews:
    def __init__(self, forge: GitHubForge, session: Session):
        """`session` yields a Loop under the lab's run lock, baseline done."""
        self.forge, self.session = forge, session

    # proposals through the loop ------------------------------------------------
    def through_loop(self, make: Callable[[Loop], list[Proposal]]) -> list[LedgerRow]:
        """Queue `make`'s proposals and run them; the ledger rows they ended as."""
        with self.session() as loop:
            loop.enqueue(make(loop))
            return loop.drain()

    def try_idea(self, issue: int, idea: str) -> list[LedgerRow]:
        return self.through_loop(lambda loop: [
            replace(p, source=f"try:{issue}") for p in loop.propose_idea(idea)])

    def evaluate(self, number: int, forks: bool = False) -> str:
        """A person's PR as one trial; `forks` only after a collaborator asked for it."""
        with api_call(f"read PR #{number}"):
            pr = self.forge.gh_repo.get_pull(number)
            title, author = pr.title, pr.user.login
            same_repo = pr.head.repo is not None and pr.head.repo.full_name == self.forge.slug
            state, ref = pr.state, pr.head.ref
        if state != "open":
            raise UserError(f"#{number} is {state}; only open PRs are evaluated")
        if ref.startswith("autolab/"):
            raise UserError(f"#{number} is a trial already; use `/rerun` for more seeds")
        if not (same_repo or forks):
            raise UserError(f"#{number} comes from a fork; a collaborator can ask for it with "
                            f"`/evaluate`")
        head = {}

        def proposal(loop: Loop) -> list[Proposal]:
            head["sha"], diff = self.pr_diff(number, loop.forge.main_sha())
            hypothesis = " ".join(title.split())[:MAX_TITLE] or f"PR #{number}"
            return [Proposal(role="human", hypothesis=hypothesis, diff=diff,
                             rationale=f"#{number} by @{author}, head {head['sha'][:12]}",
                             expected_delta=0.0, parent_sha=loop.forge.main_sha(),
                             source="human", lineage=(f"#{number}",))]

        (row,) = self.through_loop(proposal)
        where = f" as {row.pr}" if row.pr else ""
        text = (f"evaluated #{number} at `{head['sha'][:10]}` as trial {row.trial_id}{where}: "
                f"**{row.status}** {row.reason}")
        if row.status == Status.KEEP:  # its change is on main now, through the trial's merge
            with api_call(f"close #{number}"):
                pr.edit(state="closed")
            text += (f"\n\nIts change landed on `{self.forge.main}` with {row.pr}, so this PR "
                     f"is closed.")
        return text

    def pr_diff(self, number: int, main: str) -> tuple[str, str]:
        """(head sha, the PR's diff against its merge base with main): fetched, never run."""
        ref = f"{PULLS}{number}"
        self.forge.fetch(f"+refs/pull/{number}/head:{ref}")
        repo = self.forge.repo
        head = repo.commit_of(ref)
        base = repo.git.merge_base(main, head)
        return head, repo.git.diff("--binary", "--full-index", base, head) + "\n"

    # acting on a trial with a verdict ----------------------------------------------
    def latest(self, ledger: Ledger, number: int) -> tuple[Trial | None, LedgerRow | None]:
        """The trial of PR #number if it is still open, and its newest ledger row, if any."""
        with api_call(f"read PR #{number}"):
            pr = self.forge.gh_repo.get_pull(number)
            url, labels, ref = pr.html_url, {label.name for label in pr.labels}, pr.head.ref
        if LABEL not in labels or not ref.startswith("autolab/"):
            raise UserError(f"#{number} is not an autolab trial")
        open_trial = next((t for t in self.forge.open_trials() if t.pr == url), None)
        ids = [r.trial_id for r in ledger.rows(columns=["trial_id", "status", "pr"]) if r.pr == url]
        latest = ledger.by_id(ids[-1:])
        return open_trial, latest[0] if latest else None

    def held(self, number: int) -> bool:
        try:
            _open, row = self.latest(Ledger(self.forge.repo, self.forge.lab.home), number)
        except UserError:
            return False
        return status_of(row) == Status.HELD

    def keep(self, number: int, user: str) -> str:
        return self.override(number, user, Status.where(Status.keepable_by_hand), "keep",
                             f"kept by @{user}")

    def release(self, number: int, user: str) -> str:
        return self.override(number, user, (Status.HELD,), "approved",
                             f"released by @{user}'s approving review")

    def override(self, number: int, user: str, allowed: tuple[Status, ...], kind: str,
                 why: str) -> str:
        with self.session() as loop:
            _open, row = self.latest(loop.ledger, number)
            if row is None or row.status not in allowed or row.metric is None:
                raise UserError(f"#{number} has no {' or '.join(allowed)} verdict to "
                                f"override (its latest is {status_of(row)})")
            # the scores row takes the hypothesis: the override shows on main, not only here
            done = loop.override(row, kind, Status.KEEP,
                                 f"{why} over its verdict ({row.status}: {row.reason})", user,
                                 hypothesis=f"{row.hypothesis} [{why}]")
            return line(done)

    def discard(self, number: int, user: str, reason: str) -> str:
        why = f"discarded by @{user}" + (f": {reason}" if reason else "")
        with self.session() as loop:
            open_trial, row = self.latest(loop.ledger, number)
            if row is None and open_trial is not None:  # opened, never decided: its own row
                return line(loop.discard_open(open_trial, why, user))
            if row is None or row.status != Status.HELD:
                raise UserError(f"#{number} is neither open nor held (its latest verdict is "
                                f"{status_of(row)})")
            return line(loop.override(row, "discard", Status.DISCARD, why, user))

    def rerun(self, number: int, seeds: int | None) -> str:
        """More seeds of the same commit, judged again together with the first ones."""
        with self.session() as loop:
            _open, row = self.latest(loop.ledger, number)
            if row is None or not row.commit_sha or row.status not in RERUNNABLE:
                raise UserError(f"#{number} has no verdict that more seeds could change (its "
                                f"latest is {status_of(row)})")
            done = loop.rerun(row, seeds)
            pooled = row.seed_values if done.evaluator_sha256 == row.evaluator_sha256 else []
            added = len(json.loads(done.seeds)) - len(pooled)
            return (f"{added} more seed(s) of `{row.commit_sha[:10]}` as "
                    f"{done.trial_id}: **{done.status}** {done.reason}")


def line(done: LedgerRow) -> str:
    return f"{done.trial_id} ({done.source}): **{done.status}** {done.reason}"


def status_of(row: LedgerRow | None) -> str:
    return row.status if row is not None else "none"
