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
"""

from __future__ import annotations

import json
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import replace

from autolab import decide
from autolab.errors import UserError
from autolab.forges.github import LABEL, GitHubForge, api_call
from autolab.integrity import manifest_at, watched
from autolab.ledger import LIGHT, Ledger
from autolab.loop import Loop, Running, trial_number
from autolab.records import FAILURES, Job, LedgerRow, Proposal, RunResult, Trial, Verdict, utc_now
from autolab.rows import metric, proposal_columns

MAX_TITLE = 200
PULLS = "refs/autolab/pulls/"   # where a person's PR head is fetched to, never checked out
Session = Callable[[], AbstractContextManager[Loop]]


class Reviews:
    def __init__(self, forge: GitHubForge, session: Session):
        """`session` yields a Loop under the lab's run lock, baseline done."""
        self.forge, self.session = forge, session

    # proposals through the loop ------------------------------------------------
    def through_loop(self, make: Callable[[Loop], list[Proposal]]) -> list[LedgerRow]:
        """Queue `make`'s proposals and run them; the ledger rows they ended as."""
        with self.session() as loop:
            before = set(loop.ledger.ids())
            loop.queue.extend(make(loop))
            if loop.queue:
                loop.run(len(loop.queue), loop.config.runner.parallel)
            return [r for r in loop.ledger.rows(columns=LIGHT) if r.trial_id not in before]

    def try_idea(self, issue: int, idea: str) -> list[LedgerRow]:
        return self.through_loop(lambda loop: [
            replace(p, source=f"try:{issue}") for p in loop.agent.propose(loop.context(1, idea))])

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
        if row.status == "keep":  # its change is on main now, through the trial's merge
            with api_call(f"close #{number}"):
                pr.edit(state="closed")
            text += f"\n\nIts change landed on `main` with {row.pr}, so this PR is closed."
        return text

    def pr_diff(self, number: int, main: str) -> tuple[str, str]:
        """(head sha, the PR's diff against its merge base with main): fetched, never run."""
        ref = f"{PULLS}{number}"
        self.forge.fetch(f"+refs/pull/{number}/head:{ref}")
        repo = self.forge.repo
        head = repo.rev(ref)
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
        return open_trial, (ledger.by_id(ids[-1:]) or [None])[0]

    def held(self, number: int) -> bool:
        try:
            _open, row = self.latest(Ledger(self.forge.repo, self.forge.lab.home), number)
        except UserError:
            return False
        return getattr(row, "status", "") == "held"

    def successor(self, loop: Loop, row: LedgerRow, kind: str, **proposal) -> Trial:
        """A new trial id on `row`'s commit and PR, its branch pushed so the merge can check it."""
        new_id = loop.next_trial_id()
        branch = f"autolab/{new_id}"
        self.forge.push(row.commit_sha, f"refs/heads/{branch}", "")
        base = Proposal(role=row.role, hypothesis=row.hypothesis, rationale=row.rationale,
                        expected_delta=row.expected_delta or 0.0, diff=row.diff,
                        parent_sha=row.parent_sha, source=f"{kind}:{row.trial_id}",
                        parent_trial=row.trial_id)
        return Trial(trial_id=new_id, branch=branch, pr=row.pr, commit_sha=row.commit_sha,
                     proposal=replace(base, **proposal),
                     manifest=manifest_at(loop.repo, row.commit_sha, watched(loop.config)))

    def complete(self, loop: Loop, trial: Trial, row: LedgerRow, action: str) -> str:
        """The loop's written-ahead verdict path; a lost CAS race re-runs on the new main."""
        loop.settle(trial, row, action)
        if loop.queue:
            loop.run(len(loop.queue), 1)
        (done,) = loop.ledger.by_id([trial.trial_id]) or [row]
        return f"{done.trial_id} ({done.source}): **{done.status}** {done.reason}"

    def keep(self, number: int, user: str) -> str:
        return self.override(number, user, ("held", "discard"), "keep", f"kept by @{user}")

    def release(self, number: int, user: str) -> str:
        return self.override(number, user, ("held",), "approved",
                             f"released by @{user}'s approving review")

    def override(self, number: int, user: str, allowed: tuple, kind: str, why: str) -> str:
        with self.session() as loop:
            _open, row = self.latest(loop.ledger, number)
            if row is None or row.status not in allowed or row.metric is None:
                raise UserError(f"#{number} has no {' or '.join(allowed)} verdict to "
                                f"override (its latest is {getattr(row, 'status', 'none')})")
            # the scores row takes the hypothesis: the override shows on main, not only here
            trial = self.successor(loop, row, kind,
                                   hypothesis=f"{row.hypothesis} [{why}]")
            flags = [f for f in row.flags.split(",") if f] + [f"override:@{user}"]
            kept = replace(row, trial_id=trial.trial_id, status="keep", branch=trial.branch,
                           source=trial.proposal.source, parent_trial=row.trial_id,
                           flags=",".join(flags), started_at=utc_now(),
                           reason=f"{why} over its verdict ({row.status}: {row.reason})")
            return self.complete(loop, trial, kept, "merge")

    def discard(self, number: int, user: str, reason: str) -> str:
        why = f"discarded by @{user}" + (f": {reason}" if reason else "")
        with self.session() as loop:
            open_trial, row = self.latest(loop.ledger, number)
            if row is None and open_trial is not None:  # opened, never decided: its own row
                closed = LedgerRow(trial_id=open_trial.trial_id, status="discard", reason=why,
                                   commit_sha=open_trial.commit_sha, branch=open_trial.branch,
                                   pr=open_trial.pr, started_at=utc_now(),
                                   flags=f"override:@{user}",
                                   **proposal_columns(open_trial.proposal))
                return self.complete(loop, open_trial, closed, "close")
            if row is None or row.status != "held":
                raise UserError(f"#{number} is neither open nor held (its latest verdict is "
                                f"{getattr(row, 'status', 'none')})")
            trial = self.successor(loop, row, "discard")
            closed = replace(row, trial_id=trial.trial_id, status="discard", reason=why,
                             branch=trial.branch, source=trial.proposal.source,
                             parent_trial=row.trial_id, flags=f"override:@{user}",
                             started_at=utc_now())
            return self.complete(loop, trial, closed, "close")

    def rerun(self, number: int, seeds: int | None) -> str:
        """More seeds of the same commit, judged again together with the first ones."""
        with self.session() as loop:
            _open, row = self.latest(loop.ledger, number)
            if row is None or not row.commit_sha or row.status not in (
                    "discard", "held", "pruned", *FAILURES):
                raise UserError(f"#{number} has no verdict that more seeds could change (its "
                                f"latest is {getattr(row, 'status', 'none')})")
            trial = self.successor(loop, row, "rerun")
            running = Running(trial, trial_number(trial.trial_id), loop.forge.main_sha(),
                              utc_now())
            before = prior(row, trial, running.eval_sha, loop.config.metric)
            wanted = 1 + loop.config.confirm_seeds
            fresh = run_seeds(loop, running, max(seeds or wanted - 1, wanted - len(before)))
            if any(r.evaluator_sha256 != row.evaluator_sha256 for r in fresh):
                before = []  # main's evaluator changed since: its old scores don't pool
            # judged with the first seeds first: the fresh ones are what confirms a win
            while all(r.status == "ok" for r in fresh) and len(before) + len(fresh) < wanted:
                fresh += run_seeds(loop, running, 1, start=len(fresh))
            running.results = before + fresh
            failed = [r for r in fresh if r.status != "ok"]
            verdict = Verdict(failed[0].status, failed[0].reason) if failed else decide.judge(
                loop.config, [metric(loop.config, r) for r in running.results],
                loop.forge.scores()[-1], loop.noise())
            loop.finish(running, verdict)
            if loop.queue:
                loop.run(len(loop.queue), 1)
            (done,) = loop.ledger.by_id([trial.trial_id])
            return (f"{len(fresh)} more seed(s) of `{row.commit_sha[:10]}` as {done.trial_id}: "
                    f"**{done.status}** {done.reason}")


def run_seeds(loop: Loop, running: Running, n: int, start: int = 0) -> list[RunResult]:
    """Seeds start..start+n-1 of the trial's commit, all at once; a runner failure (not the
    idea's) is retried once, as the loop does."""
    trial, results = running.trial, []
    todo = [running.seed(k) for k in range(start, start + n)]
    for attempt in range(2):
        pending = {seed: loop.runner.submit(Job(trial.trial_id, trial.commit_sha,
                                                trial.manifest, running.eval_sha, seed))
                   for seed in todo}
        todo = []
        while pending:
            for result in loop.runner.wait(list(pending.values())):
                pending.pop(result.job.seed)
                if result.status == "infra_error" and attempt == 0:
                    todo.append(result.job.seed)
                else:
                    results.append(result)
        if not todo:
            break
    return sorted(results, key=lambda r: r.job.seed)


def prior(row: LedgerRow, trial: Trial, eval_sha: str, metric: str) -> list[RunResult]:
    """The trial's recorded seeds as results, so the loop's row and report include them."""
    values, seeds = row.seed_values, json.loads(row.seeds)
    return [RunResult(job=Job(row.trial_id, row.commit_sha, trial.manifest, eval_sha, seed),
                      status="ok", metrics={metric: value}, curve=tuple(json.loads(
                          row.curve)) if i == 0 else (), evaluator_sha256=row.evaluator_sha256,
                      data_sha256=row.data_sha256, runner=row.runner, gpu=row.gpu)
            for i, (seed, value) in enumerate(zip(seeds, values, strict=False))]

