"""The experiment loop, in the order of DESIGN.md section 1:

    propose ─▶ admit ─▶ open ─▶ run ─▶ evaluate ─▶ decide ─▶ report ─▶ merge | close ─▶ record

Every decision is written ahead to AUTOLAB_HOME/pending/ before it acts, so a
run killed at any point finishes that trial's merge, close and ledger row the
next time it starts, without doing any of them twice.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field, replace
from pathlib import Path

from autolab import admit, decide, prune, report, rows
from autolab.agents.base import Agent, Context
from autolab.backlog import SOURCE as IDEA_SOURCE
from autolab.backlog import Backlog
from autolab.config import Lab
from autolab.errors import AutolabError, BaselineError, InfraError, StaleError, UserError
from autolab.forges.base import Forge
from autolab.gitops import Repo, glob_regex
from autolab.integrity import manifest_at, watched
from autolab.ledger import LIGHT, Ledger
from autolab.pending import Pending
from autolab.progress import Progress
from autolab.prune import PruneRule
from autolab.records import (
    BASELINE,
    Job,
    LedgerRow,
    Proposal,
    RunResult,
    ScoreRow,
    Trial,
    Verdict,
    utc_now,
)
from autolab.runners.base import Runner

SEEDS_PER_TRIAL = 100   # trial n runs seeds n*100, n*100+1, ...: fresh, and reproducible
HISTORY = 2000          # ledger rows an agent reads back; its lineage slice is separate


@dataclass
class Running:
    """A trial between its first job and its verdict."""

    trial: Trial
    number: int
    eval_sha: str
    started_at: str
    results: list[RunResult] = field(default_factory=list)
    pending: int = 0
    retried: set = field(default_factory=set)

    def seed(self, k: int) -> int:
        return self.number * SEEDS_PER_TRIAL + k


def trial_number(trial_id: str) -> int:
    match = re.fullmatch(r"t(\d+)", trial_id)
    return int(match.group(1)) if match else 0


class Loop:
    def __init__(self, lab: Lab, forge: Forge, runner: Runner, agent: Agent, ledger: Ledger,
                 progress: Progress):
        self.lab, self.config = lab, lab.config
        self.forge, self.runner, self.agent, self.ledger = forge, runner, agent, ledger
        self.progress = progress
        self.repo = Repo(lab.root)
        self.pending = Pending(lab.home)
        self.jobs: dict[object, tuple[Running, int]] = {}
        self.queue: list[Proposal] = []
        self._prune: tuple[str, PruneRule | None] | None = None   # (best trial, its rule)
        self.backlog = Backlog(lab.home)

    # the run ---------------------------------------------------------------
    def run(self, trials: int, parallel: int, idea: str = "") -> None:
        self.finish_pending()
        self.ensure_baseline(parallel)
        active = [self.resume(t) for t in self.forge.open_trials()
                  if not self.ledger.has(t.trial_id) and not self.pending.path(t.trial_id).exists()]
        # proposals queued before the run (a person's PR, a /try) start even when resumed
        # trials already fill the count
        trials = max(trials, len(active) + len(self.queue))
        started, idea_left = len(active), idea
        self.progress.start(trials, resumed=len(active))
        while True:
            while len(self.jobs) < parallel and started < trials:
                if stop := self.out_of_budget():
                    self.progress.note(f"{stop}; finishing the trials in flight")
                    trials = started
                    break
                proposals = self.propose(min(parallel - len(self.jobs), trials - started),
                                         idea_left)
                idea_left = ""
                if not proposals:
                    break
                for proposal in proposals[: trials - started]:
                    started += 1
                    self.admit_and_start(proposal)
            if not self.jobs:
                if started < trials:
                    self.progress.note(getattr(self.agent, "exhausted", "")
                                       or "the agent has no new proposals; stopping early")
                break
            for result in self.runner.wait(list(self.jobs)):
                self.on_result(result)
        self.progress.finish(self.forge.scores())

    def out_of_budget(self) -> str:
        """Why a new trial (its first seed and its confirm seeds) could pass the runner's
        budget, or "" when it fits; runners without a budget always fit."""
        check = getattr(self.runner, "out_of_budget", None)
        return check(1 + self.config.confirm_seeds) if check else ""

    # propose + admit + open ------------------------------------------------
    def context(self, slots: int, idea: str = "") -> Context:
        main = self.forge.main_sha()
        editable = glob_regex(self.config.editable)
        files = {p: self.repo.blob(sha).decode(errors="replace")
                 for _m, sha, p in self.repo.files(main) if editable.match(p)}
        scores = self.forge.scores()
        history = tuple(self.ledger.recent(HISTORY))
        best = scores[-1].trial_id if scores and scores[-1].trial_id.startswith("t") else ""
        return Context(config=self.config, parent_sha=main, parent_trial=best, files=files,
                       scores=tuple(scores), history=history, slots=slots, idea=idea,
                       tried=admit.tried(self.ledger.on_parent(main)) | self.in_flight_keys(),
                       lineage=self.ledger.slice)

    def in_flight_keys(self) -> frozenset:
        return frozenset(k for running, _ in self.jobs.values()
                         for k in admit.keys(running.trial.proposal.parent_sha,
                                             running.trial.proposal.diff))

    def propose(self, slots: int, idea: str) -> list[Proposal]:
        if self.queue:
            taken, self.queue = self.queue[:slots], self.queue[slots:]
            return taken
        drawn = None if idea else self.backlog.next_open(getattr(self.agent, "free_text", False))
        if drawn is None:
            return self.agent.propose(self.context(slots, idea))
        # a queued idea goes before the agent's own; its source links its trial back to it
        try:
            proposals = self.agent.propose(self.context(1, drawn.text))
        except UserError as exc:  # an idea this agent cannot read is refused, not fatal
            proposals = [Proposal(role="", hypothesis=drawn.text, rationale=str(exc),
                                  expected_delta=0.0, diff="", parent_sha=self.forge.main_sha(),
                                  source="")]
        return [replace(p, source=f"{IDEA_SOURCE}{drawn.id}") for p in proposals]

    def admit_and_start(self, proposal: Proposal) -> None:
        trial_id = self.next_trial_id()
        context_tried = (admit.tried(self.ledger.on_parent(proposal.parent_sha))
                         | self.in_flight_keys())
        self.backlog.link(proposal.source, trial_id)
        status, reason = admit.check(self.repo, self.config, proposal, context_tried)
        revise = getattr(self.agent, "revise", None)
        if revise and status == "rejected" and re.search(r"does not (apply|parse)", reason):
            revised = revise(proposal, reason)  # git's error goes back to its author, once
            if revised is not None:
                proposal = revised
                status, reason = admit.check(self.repo, self.config, proposal, context_tried)
        if status:
            self.record(LedgerRow(trial_id=trial_id, status=status, reason=reason,
                                  started_at=utc_now(), **rows.proposal_columns(proposal)))
            self.progress.ended(trial_id, status, reason, None)
            return
        try:
            trial = self.forge.open_trial(trial_id, proposal)
        except UserError:  # a forge setting stops the run (e.g. no PRs allowed): the idea waits
            self.backlog.link(proposal.source, "")
            raise
        except InfraError as exc:  # the forge failed, not the idea: say so in the ledger
            self.record(LedgerRow(trial_id=trial_id, status="infra_error", reason=str(exc),
                                  started_at=utc_now(), **rows.proposal_columns(proposal)))
            self.progress.ended(trial_id, "infra_error", str(exc), None)
            return
        if trial.trial_id != trial_id:  # another driver of this lab held that id
            self.backlog.link(proposal.source, trial.trial_id)
        running = Running(trial, trial_number(trial.trial_id), self.forge.main_sha(), utc_now())
        self.progress.opened(trial)
        self.submit(running, 0)

    def resume(self, trial: Trial) -> Running:
        running = Running(trial, trial_number(trial.trial_id), self.forge.main_sha(), utc_now())
        self.progress.note(f"resuming {trial.trial_id}: {trial.proposal.hypothesis}")
        self.submit(running, 0)
        return running

    def next_trial_id(self) -> str:
        taken = [trial_number(trial_id) for trial_id in self.ledger.ids()]
        taken += [trial_number(ref.rsplit("/", 1)[-1]) for ref in self.repo.git.for_each_ref(
            "--format=%(refname)", "refs/heads/autolab/", "refs/autolab/trials/").split()]
        trial_id = f"t{max(taken, default=0) + 1:04d}"
        reserve = getattr(self.forge, "reserve", None)  # a forge that other drivers share
        return reserve(trial_id) if reserve else trial_id

    # run + evaluate --------------------------------------------------------
    def submit(self, running: Running, k: int) -> None:
        # only a first seed is ever pruned: confirming seeds are the promising ones
        job = Job(running.trial.trial_id, running.trial.commit_sha, running.trial.manifest,
                  running.eval_sha, running.seed(k), self.prune_rule() if k == 0 else None)
        self.jobs[self.runner.submit(job)] = (running, k)
        running.pending += 1

    def prune_rule(self) -> PruneRule | None:
        """The pruning rule against the current best, rebuilt only when the best changes."""
        if not self.config.prune:
            return None
        scores = self.forge.scores()
        best = scores[-1].trial_id if scores else ""
        if self._prune is None or self._prune[0] != best:
            baseline = [r for r in self.ledger.starting_with(
                f"baseline-{scores[0].commit_sha[:10]}-s") if r.status == BASELINE] \
                if scores else []
            curves = [json.loads(r.curve) for r in baseline]
            kept = self.ledger.by_id([best]) if best != "baseline" else []
            reference = json.loads(kept[0].curve) if kept else prune.mean_curve(curves)
            made = prune.rule(reference, curves, self.config.budget_seconds,
                              self.config.prune_warmup) if curves else None
            self._prune = (best, made)
        return self._prune[1]

    def on_result(self, result: RunResult) -> None:
        handle = next(h for h, (r, _) in self.jobs.items()
                      if r.trial.trial_id == result.job.trial_id and r.seed(_) == result.job.seed)
        running, k = self.jobs.pop(handle)
        running.pending -= 1
        if result.status == "infra_error" and k not in running.retried:
            running.retried.add(k)  # the runner failed, not the idea: once more
            self.progress.note(f"{running.trial.trial_id}: {result.reason}; retrying")
            self.submit(running, k)
            return
        running.results.append(result)
        if running.pending:
            return
        failed = [r for r in running.results if r.status != "ok"]
        if failed:
            self.finish(running, Verdict(failed[0].status, failed[0].reason))
            return
        scores = self.forge.scores()
        verdict = decide.judge(self.config, [rows.metric(self.config, r) for r in running.results],
                               scores[-1], self.noise())
        if verdict.status == "promising":
            self.progress.note(f"{running.trial.trial_id}: {verdict.reason}")
            for k in range(1, 1 + self.config.confirm_seeds):
                self.submit(running, k)
            return
        self.finish(running, verdict)

    def noise(self) -> decide.Noise:
        rows = self.ledger.seed_groups()
        baseline: dict[str, list[float]] = {}
        for r in rows:
            if r.status == BASELINE and r.metric is not None:
                baseline.setdefault(r.commit_sha, []).append(r.metric)
        groups = list(baseline.values()) + [r.seed_values for r in rows if r.n_seeds > 1
                                            and r.status != BASELINE]
        return decide.pooled(groups)

    # decide + report + merge/close + record --------------------------------
    def finish(self, running: Running, verdict: Verdict) -> None:
        trial = running.trial
        row = rows.trial_row(self.config, trial, running.results, running.started_at, verdict)
        action = {"keep": "merge"}.get(verdict.status, "close")
        if action == "merge" and "suspicious" in verdict.flags and self.config.hold_suspicious:
            row, action = replace(row, status="held"), "hold"
        self.settle(trial, row, action)

    def settle(self, trial: Trial, row: LedgerRow, action: str) -> None:
        """Write the verdict ahead, then carry it out."""
        self.complete(self.pending.write(trial, row, action))

    def finish_pending(self) -> None:
        for path in self.pending.paths():
            self.progress.note(f"finishing {path.stem}, interrupted after its verdict")
            self.complete(path)

    def complete(self, path: Path) -> None:
        """Carry out a written-ahead verdict; every step is safe to repeat."""
        trial, row, action = self.pending.read(path)
        try:
            row = self.act(trial, row, action)
        except InfraError as exc:
            # the verdict stands and its file stays, so the next run finishes this trial
            self.progress.note(f"{trial.trial_id}: {exc}; left for the next run to finish")
            return
        self.record(row)
        path.unlink()
        self.progress.ended(trial.trial_id, row.status, row.reason, row.metric)

    def act(self, trial: Trial, row: LedgerRow, action: str) -> LedgerRow:
        """Report, then merge, hold or close; the row as it ends (a lost race: stale)."""
        scores, noise = self.forge.scores(), self.noise()
        history = self.report_history(scores)
        if action == "merge":
            try:
                self.forge.comment(trial, report.comment(self.lab, trial, row, scores, history,
                                                         noise))
                self.forge.merge(trial, trial.commit_sha, rows.score_row(trial, row, scores),
                                 pages=self.pages([*history, row]))
            except StaleError as exc:
                row = self.requeue_stale(trial, row, str(exc))
                action = "close"
        if action != "merge":
            self.forge.comment(trial, report.comment(self.lab, trial, row, scores, history,
                                                     noise))
        if action == "close":
            self.forge.close(trial, f"{row.status}: {row.reason}")
        return row

    def requeue_stale(self, trial: Trial, row: LedgerRow, why: str) -> LedgerRow:
        """Main moved under a winner: never merge it unevaluated; re-run it on the new main."""
        main = self.forge.main_sha()
        diff = self.repo.rebased_diff(trial.commit_sha, main)
        if diff:
            self.queue.append(replace(trial.proposal, parent_sha=main, diff=diff,
                                      source=f"rebase:{trial.trial_id}",
                                      parent_trial=trial.trial_id))
            why += "; re-queued on the new main"
        return replace(row, status="stale", reason=f"won, but {why}")

    def record(self, row: LedgerRow) -> None:
        try:
            self.ledger.append(row)
        except OSError as exc:
            # e.g. a full disk: the verdict file stays, so a rerun records the row
            raise AutolabError(f"could not write {row.trial_id}'s ledger row ({exc}); its "
                               f"verdict is kept in {self.pending.dir}; free the space and "
                               f"run again to finish it") from None
        try:
            self.forge.publish()
        except InfraError as exc:  # the row is safe on the local branch; the next push takes it
            self.progress.note(f"the ledger was not pushed: {exc}")

    def report_history(self, scores: list[ScoreRow]) -> list[LedgerRow]:
        """Every row's light columns, and the long ones (diff, curve) only for the frontier
        and the baseline seeds, which are all that the comment and the pages show."""
        full = self.ledger.by_id([s.trial_id for s in scores])
        if scores:
            full += self.ledger.starting_with(f"baseline-{scores[0].commit_sha[:10]}-s")
        by_id = {r.trial_id: r for r in full}
        return [by_id.get(r.trial_id, r) for r in self.ledger.rows(columns=LIGHT)]

    def pages(self, history: list[LedgerRow]):
        """reports/README.md and progress.svg, rendered in the merge from main's new scores."""
        return lambda frontier: report.pages(self.config, frontier, history)

    # the baseline ----------------------------------------------------------
    def ensure_baseline(self, parallel: int) -> None:
        if self.forge.scores():
            return
        main = self.forge.main_sha()
        prefix = f"baseline-{main[:10]}-s"
        manifest = manifest_at(self.repo, main, watched(self.config))
        have = {r.trial_id: r for r in self.ledger.starting_with(prefix)}
        missing = [k for k in range(self.config.baseline_seeds) if f"{prefix}{k}" not in have]
        self.progress.baseline(self.config.baseline_seeds, len(missing))
        handles = {}
        for k in missing:
            job = Job(f"{prefix}{k}", main, manifest, main, k)
            handles[self.runner.submit(job)] = job
        while handles:
            for result in self.runner.wait(list(handles)):
                handles = {h: j for h, j in handles.items() if j.seed != result.job.seed}
                row = rows.baseline_row(self.config, result, manifest)
                self.record(row)
                have[row.trial_id] = row
                self.progress.ended(row.trial_id, row.status, row.reason, row.metric)
        good = [r for r in have.values() if r.status == BASELINE]
        if len(good) < self.config.baseline_seeds:
            failed = next(r for r in have.values() if r.status != BASELINE)
            raise BaselineError(f"the baseline failed ({failed.status}: {failed.reason}); fix "
                                 f"main's script, then rerun. Log tail:\n{failed.log_tail}")
        values = [r.metric for r in good]
        mean = sum(values) / len(values)
        row = ScoreRow(trial_id="baseline", pr="", commit_sha=main, parent_sha="",
                       metric=mean, metric_std=decide.spread(values), n_seeds=len(values),
                       delta=0.0, hypothesis="baseline", config_sha256=manifest.config_sha256,
                       evaluator_sha256=good[0].evaluator_sha256, merged_at=utc_now())
        self.forge.set_baseline(main, row, pages=self.pages(self.report_history([row])))
        self.progress.baseline_done(row)
