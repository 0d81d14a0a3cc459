"""The experiment loop: a trial's stages, in order (ARCHITECTURE.md, "A trial's stages").

    propose ─▶ admit ─▶ open ─▶ execute ─▶ decide ─▶ settle
     agent     admit     forge   engine      decide    report, merge | close, record

`Loop.start` takes one proposal through admit, open and execute; the engine
calls `decide` when the trial's seeds are back, which either asks for
confirming seeds (execute again) or settles the verdict. Every verdict is
written ahead to AUTOLAB_HOME/pending/ before it acts, so a run killed at any
point finishes that trial's report, merge or close and ledger row the next time
it starts, without doing any of them twice.

Reviews and chat commands act through four public methods, never the stages
themselves: `enqueue` and `drain` (proposals from people), `rerun` (more seeds
of a decided trial) and `override` (a person's keep or discard).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Protocol

from autolab import admit, decide, errors, inputs, rows
from autolab.agents.base import Agent, Context
from autolab.backlog import SOURCE as IDEA_SOURCE
from autolab.backlog import Backlog
from autolab.config import Config, Lab
from autolab.decide import Compute, Noise, Rule
from autolab.engine import Batch, Engine
from autolab.errors import AutolabError, BaselineError, InfraError, StaleError, UserError
from autolab.forges.base import Forge
from autolab.gitops import Repo, glob_regex
from autolab.integrity import differences, frozen_fingerprint, frozen_manifest, manifest_at, watched
from autolab.ledger import LIGHT, Ledger
from autolab.pending import Pending, VerdictsOnOrigin
from autolab.progress import Progress
from autolab.prune import PruneRule
from autolab.records import (
    BASELINE,
    Action,
    Job,
    LedgerRow,
    Proposal,
    RunResult,
    ScoreRow,
    Status,
    Trial,
    Verdict,
    baseline_id,
    trial_number,
    utc_now,
)
from autolab.runners.base import Runner

SEEDS_PER_TRIAL = 100   # trial n runs seeds n*100, n*100+1, ...: fresh, and reproducible
HISTORY = 2000          # ledger rows an agent reads back; its lineage slice is separate


class Pruning(Protocol):
    """Which prune rule a job runs under (autolab/pruner.py learns it from the ledger)."""

    def for_seed(self, trial_number: int, k: int) -> tuple[PruneRule | None, PruneRule | None]:
        """(the rule seed `k` runs under, the rule it runs without to audit it)."""

    def audited(self, audit: PruneRule, first_curve, first_metric: float, kept: bool) -> dict:
        """The ledger columns of a trial whose first seed ran unpruned to audit `audit`."""


class Reporting(Protocol):
    """What a verdict shows (autolab/report.py): the trial's comment and main's pages."""

    def history(self, scores: list[ScoreRow]) -> list[LedgerRow]: ...

    def comment(self, trial: Trial, row: LedgerRow, scores: list[ScoreRow],
                history: Sequence[LedgerRow], rule: Rule | None) -> str: ...

    def pages(self, history: list[LedgerRow]) -> Callable[[list[ScoreRow]], dict[str, bytes]]:
        ...


@dataclass
class Running:
    """A trial between its opening and its verdict: the one place its state lives."""

    trial: Trial
    number: int
    eval_sha: str
    started_at: str
    results: list[RunResult] = field(default_factory=list)
    audit: PruneRule | None = None   # the rule its first seed ran without, to be replayed
    slot: int = 0           # the loop's slot, 1..parallel: what the Gantt draws it in
    best_compute: Compute = field(default_factory=Compute)  # the best's, when last judged

    def seed(self, k: int) -> int:
        return self.number * SEEDS_PER_TRIAL + k


class Loop:
    def __init__(self, lab: Lab, forge: Forge, runner: Runner, agent: Agent, ledger: Ledger,
                 progress: Progress, pruner: Pruning, reporter: Reporting):
        """Built by `assemble.make_loop`, which makes the pruner and the reporter."""
        self.lab, self.config = lab, lab.config
        self.forge, self.runner, self.agent, self.ledger = forge, runner, agent, ledger
        self.progress, self.pruner, self.reporter = progress, pruner, reporter
        self.repo = Repo(lab.root)
        self.pending = Pending(lab.home, forge if isinstance(forge, VerdictsOnOrigin) else None,
                               progress.note)
        self.engine = Engine(runner, progress)
        self.running: dict[str, Running] = {}     # by trial id: what is in flight
        self.queue: list[Proposal] = []
        self.backlog = Backlog(lab.home)
        self.best_batch: Batch | None = None      # more seeds of the best, in flight
        self.awaiting_best: list[Running] = []    # trials judged again when they are back
        self._fingerprints: dict[str, str] = {}   # by commit: main's frozen inputs there
        self.inputs_sha256 = inputs.inputs_digest(lab)   # the git-ignored inputs, as they are now
        self._measured: tuple[str, str] | None = None   # (baseline commit, its fingerprint)

    # the public API ----------------------------------------------------------
    def run(self, trials: int, parallel: int, idea: str = "") -> None:
        """Up to `trials` trials, `parallel` jobs at a time; the baseline first if main has
        none, interrupted trials resumed, queued proposals before the agent's own."""
        for text, address in self.forge.ideas():   # each joins once, by its address
            self.backlog.add(text, origin=address)
        self.finish_pending()
        self.ensure_baseline(parallel)
        resumed = [t for t in self.forge.open_trials() if not self.ledger.has(t.trial_id)
                   and not self.pending.path(t.trial_id).exists()]
        for trial in resumed:
            self.progress.note(f"resuming {trial.trial_id}: {trial.proposal.hypothesis}")
            self.execute(self.opened(trial), [0])
        # proposals queued before the run (a person's PR, a /try) start even when resumed
        # trials already fill the count
        trials = max(trials, len(resumed) + len(self.queue))
        started, idea_left = len(resumed), idea
        scores = self.forge.scores()
        self.progress.start(trials, resumed=len(resumed),
                            best=scores[-1].metric if scores else None)
        if scores and (unreachable := self.rule(seen=True).unreachable()):
            self.progress.note(unreachable)
        while True:
            while self.engine.busy < parallel and started < trials:
                if stop := self.runner.out_of_budget(1 + self.config.confirm_seeds):
                    self.progress.note(f"{stop}; finishing the trials in flight")
                    trials = started
                    break
                proposals = self.propose(min(parallel - self.engine.busy, trials - started),
                                         idea_left)
                idea_left = ""
                if not proposals:
                    break
                for proposal in proposals[: trials - started]:
                    started += 1
                    self.start(proposal)
            if not self.engine.busy:
                if started < trials:
                    self.progress.note(self.agent.exhausted
                                       or "the agent has no new proposals; stopping early")
                break
            self.engine.step()
        self.progress.finish(self.forge.scores())

    def enqueue(self, proposals: list[Proposal]) -> None:
        """Proposals to start before the agent's own, in order."""
        self.queue.extend(proposals)

    def drain(self) -> list[LedgerRow]:
        """Run every queued proposal (and what a lost merge race re-queues) to its verdict;
        the ledger rows they ended as."""
        before = set(self.ledger.ids())
        if self.queue:
            self.run(len(self.queue), self.config.runner.parallel)
        return [r for r in self.ledger.rows(columns=LIGHT) if r.trial_id not in before]

    def propose_idea(self, idea: str) -> list[Proposal]:
        """The agent's proposal for a person's idea, on the current main."""
        return self.agent.propose(self.context(1, idea))

    def rerun(self, row: LedgerRow, seeds: int | None) -> LedgerRow:
        """More seeds of `row`'s commit, judged again together with its first ones, as a new
        trial id on the same commit and PR."""
        trial = self.successor(row, "rerun")
        running = self.opened(trial)
        before = recorded_results(row, trial, running.eval_sha, self.config.metric)
        wanted = 1 + self.config.confirm_seeds
        fresh = self.engine.run(self.jobs(running, range(max(seeds or wanted - 1,
                                                               wanted - len(before)))))
        if any(r.evaluator_sha256 != row.evaluator_sha256 for r in fresh):
            before = []  # main's evaluator changed since: its old scores don't pool
        # judged with the first seeds first: the fresh ones are what confirms a win
        while all(r.status == Status.OK for r in fresh) and len(before) + len(fresh) < wanted:
            fresh += self.engine.run(self.jobs(running, [len(fresh)]))
        running.results = before + fresh
        while True:
            failed = [r for r in running.results if r.status != Status.OK]
            verdict = (Verdict(failed[0].status, failed[0].reason) if failed
                       else self.judged(running))
            if verdict.status != Status.PROMISING:
                break
            if verdict.more_best_seeds:
                self.record_best_seeds(self.engine.run(self.best_jobs(verdict.more_best_seeds)))
            n = len(running.results)
            running.results += self.engine.run(self.jobs(running, range(n, n + verdict.more_seeds)))
        self.settle(running, verdict)
        return self.after_settle(trial.trial_id, row)

    def override(self, row: LedgerRow, kind: str, status: Status, reason: str, user: str,
                 hypothesis: str = "") -> LedgerRow:
        """A person's verdict over `row`'s: `status` keep (merged) or discard (closed), as a
        new trial id on the same commit and PR; the ledger row it ended as."""
        trial = self.successor(row, kind, **({"hypothesis": hypothesis} if hypothesis else {}))
        kept_flags = row.flags.split(",") if status == Status.KEEP else []
        flags = [*kept_flags, f"override:@{user}"]
        decided = replace(row, trial_id=trial.trial_id, status=status, reason=reason,
                          branch=trial.branch, source=trial.proposal.source,
                          parent_trial=row.trial_id, started_at=utc_now(),
                          flags=",".join(f for f in flags if f))
        self.write_ahead(trial, decided, Action.MERGE if status == Status.KEEP else Action.CLOSE)
        return self.after_settle(trial.trial_id, decided)

    def discard_open(self, trial: Trial, reason: str, user: str) -> LedgerRow:
        """Close a trial that is open with no verdict yet; it is its own ledger row."""
        row = LedgerRow(trial_id=trial.trial_id, status=Status.DISCARD, reason=reason,
                        commit_sha=trial.commit_sha, branch=trial.branch, pr=trial.pr,
                        started_at=utc_now(), flags=f"override:@{user}",
                        **rows.proposal_columns(trial.proposal))
        self.write_ahead(trial, row, Action.CLOSE)
        return self.after_settle(trial.trial_id, row)

    def after_settle(self, trial_id: str, fallback: LedgerRow) -> LedgerRow:
        """Re-run what a lost merge race queued, then the row `trial_id` was recorded as."""
        if self.queue:
            self.run(len(self.queue), 1)
        return (self.ledger.by_id([trial_id]) or [fallback])[0]

    # propose -------------------------------------------------------------------
    def context(self, slots: int, idea: str = "") -> Context:
        main = self.forge.main_sha()
        editable = glob_regex(self.config.editable)
        files = {p: self.repo.blob(sha).decode(errors="replace")
                 for _m, sha, p in self.repo.files(main) if editable.match(p)}
        scores = self.forge.scores()
        # imported rows were judged elsewhere: no agent weighs them as this lab's verdicts
        history = tuple(r for r in self.ledger.recent(HISTORY) if not r.imported)
        best = scores[-1].trial_id if scores and scores[-1].trial_id.startswith("t") else ""
        return Context(config=self.config, parent_sha=main, parent_trial=best, files=files,
                       scores=tuple(scores), history=history, slots=slots, idea=idea,
                       tried=admit.tried(self.ledger.on_parent(main)) | self.in_flight_keys(),
                       lineage=self.ledger.slice)

    def in_flight_keys(self) -> frozenset:
        return frozenset(k for running in self.running.values()
                         for k in admit.keys(running.trial.proposal.parent_sha,
                                             running.trial.proposal.diff))

    def propose(self, slots: int, idea: str) -> list[Proposal]:
        if self.queue:
            taken, self.queue = self.queue[:slots], self.queue[slots:]
            return taken
        drawn = None if idea else self.backlog.next_open(self.agent.free_text)
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

    def start(self, proposal: Proposal) -> None:
        """One proposal through admit, open and execute; a refusal is recorded at once."""
        trial_id = self.next_trial_id()
        self.backlog.link(proposal.source, trial_id)
        admitted = self.admit(trial_id, proposal)
        running = self.open(trial_id, admitted) if admitted else None
        if running is not None:
            self.execute(running, [0])

    # admit ---------------------------------------------------------------------
    def admit(self, trial_id: str, proposal: Proposal) -> Proposal | None:
        """The proposal as admitted (maybe revised once by its author), or None when refused:
        then its ledger row is written and no compute is spent."""
        tried = admit.tried(self.ledger.on_parent(proposal.parent_sha)) | self.in_flight_keys()
        refusal = admit.check(self.repo, self.config, proposal, tried)
        if refusal is not None and refusal.revisable:
            revised = self.agent.revise(proposal, refusal.reason)  # git's error, once
            if revised is not None:
                proposal = revised
                refusal = admit.check(self.repo, self.config, proposal, tried)
        if refusal is None:
            return proposal
        self.refused(trial_id, proposal, refusal.status, refusal.reason)
        return None

    def refused(self, trial_id: str, proposal: Proposal, status: Status, reason: str) -> None:
        self.append_row(LedgerRow(trial_id=trial_id, status=status, reason=reason,
                                  started_at=utc_now(), **rows.proposal_columns(proposal)))
        self.progress.ended(trial_id, status, reason, None)

    # open ----------------------------------------------------------------------
    def open(self, trial_id: str, proposal: Proposal) -> Running | None:
        try:
            trial = self.forge.open_trial(trial_id, proposal)
        except UserError:  # a forge setting stops the run (e.g. no PRs allowed): the idea waits
            self.backlog.link(proposal.source, "")
            raise
        except InfraError as exc:  # the forge failed, not the idea: say so in the ledger
            self.refused(trial_id, proposal, Status.INFRA_ERROR, str(exc))
            return None
        if trial.trial_id != trial_id:  # another driver of this lab held that id
            self.backlog.link(proposal.source, trial.trial_id)
        self.progress.opened(trial)
        return self.opened(trial)

    def opened(self, trial: Trial) -> Running:
        return Running(trial, trial_number(trial.trial_id), self.forge.main_sha(), utc_now(),
                       slot=self.free_slot())

    def successor(self, row: LedgerRow, kind: str, **proposal) -> Trial:
        """A new trial id on `row`'s commit and PR, for a rerun or a person's verdict."""
        base = Proposal(role=row.role, hypothesis=row.hypothesis, rationale=row.rationale,
                        expected_delta=row.expected_delta or 0.0, diff=row.diff,
                        parent_sha=row.parent_sha, source=f"{kind}:{row.trial_id}",
                        parent_trial=row.trial_id)
        return self.forge.successor(self.next_trial_id(), row.commit_sha, row.pr,
                                    replace(base, **proposal))

    def free_slot(self) -> int:
        """The lowest slot no running trial holds; a trial keeps it until its verdict."""
        held = {running.slot for running in self.running.values()}
        return next(k for k in range(1, len(held) + 2) if k not in held)

    def next_trial_id(self) -> str:
        """A fresh id, above every row's; the forge skips ids its refs or other drivers hold."""
        return self.forge.reserve(max(map(trial_number, self.ledger.ids()), default=0))

    # execute -------------------------------------------------------------------
    def jobs(self, running: Running, ks) -> list[Job]:
        return [Job(running.trial.trial_id, running.trial.commit_sha, running.trial.manifest,
                    running.eval_sha, running.seed(k), self.rule_for(running, k)) for k in ks]

    def rule_for(self, running: Running, k: int) -> PruneRule | None:
        rule, audit = self.pruner.for_seed(running.number, k)
        if audit is not None:
            running.audit = audit   # this one runs whole; its curve checks the rule
        return rule

    def execute(self, running: Running, ks) -> None:
        """Seeds `ks` of the trial, through the engine; `decide` gets them back together."""
        self.running[running.trial.trial_id] = running
        self.engine.start(Batch(tuple(self.jobs(running, ks)),
                                done=lambda results: self.decide(running, results)))

    # decide --------------------------------------------------------------------
    def decide(self, running: Running, results: list[RunResult]) -> None:
        """The verdict on the trial's seeds so far: confirm with more seeds, or settle."""
        running.results += results
        failed = [r for r in running.results if r.status != Status.OK]
        if failed:
            self.settle(running, Verdict(failed[0].status, failed[0].reason))
            return
        verdict = self.judged(running)
        if verdict.status == Status.PROMISING:
            self.progress.note(f"{running.trial.trial_id}: {verdict.reason}")
            wanted = verdict.more_best_seeds or verdict.more_seeds
            if stop := self.runner.out_of_budget(wanted):
                # the seeds that would confirm it don't fit: a person decides, not the budget
                self.settle(running, replace(verdict, status=Status.HELD, reason=(
                    f"{verdict.reason}, but {stop}; raise [tool.autolab.budget] and "
                    "comment /rerun to confirm it")))
                return
            if verdict.more_best_seeds:
                self.more_best_seeds(verdict.more_best_seeds, running)
                return
            n = len(running.results)
            self.execute(running, range(n, n + verdict.more_seeds))
            return
        self.settle(running, verdict)

    def judged(self, running: Running) -> Verdict:
        """The rule's verdict on the trial's seeds so far; it remembers the best's compute."""
        rule = self.rule()
        running.best_compute = rule.best_compute
        return rule.judge([rows.metric(self.config, r) for r in running.results],
                          Compute.of([r.train_s for r in running.results],
                                     [r.curve for r in running.results]))

    def rule(self, seen: bool = False) -> Rule:
        """The decision rule now: the pooled noise, and every seed of main's best."""
        return rule_from(self.config, self.ledger, self.forge.scores(), self.noise(), seen)

    # more seeds of the best ------------------------------------------------------
    def best_jobs(self, k: int) -> list[Job]:
        """k fresh seeds of the best's commit, as baseline-style ids of that commit."""
        best = self.forge.scores()[-1]
        prefix = baseline_id(best.commit_sha)
        ran = [s for r in best_rows(self.ledger, best) for s in json.loads(r.seeds)]
        first = max(ran, default=-1) + 1
        manifest = manifest_at(self.repo, best.commit_sha, watched(self.config))
        return [Job(f"{prefix}{seed}", best.commit_sha, manifest, self.forge.main_sha(), seed)
                for seed in range(first, first + k)]

    def record_best_seeds(self, results: list[RunResult]) -> None:
        """A best's extra seeds join its seeds as baseline rows of its commit; a seed the
        runner lost is not recorded (the next request runs another)."""
        best = self.forge.scores()[-1]
        for result in results:
            if result.status == Status.INFRA_ERROR:
                self.progress.note(f"{result.job.trial_id}: {result.reason}")
                continue
            row = replace(rows.baseline_row(self.config, result, result.job.manifest),
                          source="best-seeds", hypothesis=f"more seeds of {best.trial_id}",
                          frozen_sha256=self.fingerprint(result.job.eval_sha))
            self.append_row(row)
            self.progress.ended(row.trial_id, row.status, row.reason, row.metric)

    def more_best_seeds(self, k: int, running: Running) -> None:
        """Run k more seeds of the best (one batch at a time for the whole lab); `running` is
        judged again when they are back."""
        self.awaiting_best.append(running)
        if self.best_batch is not None and not self.best_batch.complete:
            return

        def back(results: list[RunResult]) -> None:
            self.record_best_seeds(results)
            waiting, self.awaiting_best = self.awaiting_best, []
            for trial in waiting:
                self.decide(trial, [])

        self.best_batch = self.engine.start(Batch(tuple(self.best_jobs(k)), done=back))

    def noise(self) -> Noise:
        # only seeds measured under the frozen inputs the current baseline was measured under;
        # a baseline from before fingerprints were recorded pools with rows that have none, or
        # the one its own commit has (a re-baseline would have recorded one)
        scores = self.forge.scores()
        measured = self.measured_under(scores)
        accepted = {measured} if measured else {"", *(self.fingerprint(s.commit_sha)
                                                      for s in scores[:1])}
        return lab_noise(self.ledger, accepted)

    # settle, in order: the row and action, write_ahead, carry_out (act_on_forge, append_row)
    def settle(self, running: Running, verdict: Verdict) -> None:
        """The verdict as a ledger row and an action (merge, hold or close), written ahead."""
        self.running.pop(running.trial.trial_id, None)
        trial = running.trial
        row = replace(rows.trial_row(self.config, trial, running.results, running.started_at,
                                     verdict), ended_at=utc_now(), slot=running.slot,
                      best_train_s=running.best_compute.train_s,
                      best_work=running.best_compute.work, compute_ratio=verdict.compute_ratio,
                      frozen_sha256=self.fingerprint(running.eval_sha))
        if running.audit is not None and Status(verdict.status).judged_on_metric():
            first = running.results[0]
            row = replace(row, **self.pruner.audited(running.audit, first.curve,
                                                     rows.metric(self.config, first),
                                                     verdict.status == Status.KEEP))
        action = {Status.KEEP: Action.MERGE, Status.HELD: Action.HOLD}.get(
            Status(verdict.status), Action.CLOSE)
        if (action == Action.MERGE and "suspicious" in verdict.flags
                and self.config.hold_suspicious):
            row, action = replace(row, status=Status.HELD), Action.HOLD
        self.write_ahead(trial, row, action)

    def write_ahead(self, trial: Trial, row: LedgerRow, action: Action) -> None:
        """Write the verdict to pending/ (and, on GitHub, origin), then carry it out."""
        self.carry_out(self.pending.write(trial, row, action))

    def finish_pending(self) -> None:
        self.pending.fetch()
        for path in self.pending.paths():
            self.progress.note(f"finishing {path.stem}, interrupted after its verdict")
            self.carry_out(path)

    def carry_out(self, path: Path) -> None:
        """Act on a written-ahead verdict, then append its row and drop the file; every step
        is safe to repeat."""
        trial, row, action = self.pending.read(path)
        try:
            row = self.act_on_forge(trial, row, Action(action))
        except InfraError as exc:
            # the verdict stands and its file stays, so the next run finishes this trial
            self.progress.note(f"{trial.trial_id}: {exc}; left for the next run to finish")
            return
        self.append_row(row)
        self.pending.remove(path)
        self.progress.ended(trial.trial_id, row.status, row.reason, row.metric,
                            row.compute_ratio)

    def act_on_forge(self, trial: Trial, row: LedgerRow, action: Action) -> LedgerRow:
        """Report, then merge, hold or close; the row as it ends (a lost race: stale)."""
        scores = self.forge.scores()
        rule = self.rule() if scores else None
        history = self.reporter.history(scores)
        if action == Action.MERGE:
            try:
                self.forge.comment(trial, self.reporter.comment(trial, row, scores, history,
                                                                rule))
                self.forge.merge(trial, trial.commit_sha, rows.score_row(trial, row, scores),
                                 pages=self.reporter.pages([*history, row]))
            except StaleError as exc:
                row = self.requeue_stale(trial, row, str(exc))
                action = Action.CLOSE
            except errors.RefusedError as exc:  # e.g. a required check failed on its code
                row = replace(row, status=Status.DISCARD, reason=f"won, but {exc}")
                action = Action.CLOSE
        if action != Action.MERGE:
            self.forge.comment(trial, self.reporter.comment(trial, row, scores, history, rule))
        if action == Action.CLOSE:
            self.forge.close(trial, Status(row.status), f"{row.status}: {row.reason}")
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
        return replace(row, status=Status.STALE, reason=f"won, but {why}")

    def append_row(self, row: LedgerRow) -> None:
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

    # the baseline ----------------------------------------------------------------
    def fingerprint(self, commit: str) -> str:
        if commit not in self._fingerprints:
            self._fingerprints[commit] = frozen_fingerprint(self.repo, self.config, commit,
                                                            self.inputs_sha256)
        return self._fingerprints[commit]

    def measured_under(self, scores: list[ScoreRow]) -> str:
        """The fingerprint the current baseline's seeds recorded ("" for rows from before
        fingerprints were recorded)."""
        if not scores:
            return ""
        base = scores[0].commit_sha
        if self._measured is None or self._measured[0] != base:
            seeds = [r for r in self.ledger.starting_with(baseline_id(base))
                     if r.status == BASELINE]
            self._measured = (base, next((r.frozen_sha256 or "" for r in seeds), ""))
        return self._measured[1]

    def changed_outside(self, scores: list[ScoreRow]) -> str:
        """What changed on main, outside autolab, since the current baseline and best were
        measured; "" when nothing did."""
        main = self.forge.main_sha()
        base, best = scores[0], scores[-1]
        frozen = differences(frozen_manifest(self.repo, self.config, base.commit_sha),
                             frozen_manifest(self.repo, self.config, main))
        frozen = [path for path in frozen if not path.startswith(".github/")]
        if frozen:
            return f"its frozen files changed ({', '.join(frozen[:5])})"
        measured = self.measured_under(scores)
        if measured and measured != self.fingerprint(main) and self.config.inputs:
            return ("the `inputs` changed since the baseline ran on them (sha256 "
                    f"{self.inputs_sha256[:12]} now)")
        if measured and measured != self.fingerprint(main):
            return (f"its frozen inputs changed (fingerprint {measured[:10]} -> "
                    f"{self.fingerprint(main)[:10]})")
        editable = differences(manifest_at(self.repo, best.commit_sha, self.config.editable),
                               manifest_at(self.repo, main, self.config.editable))
        if editable:
            return (f"{', '.join(editable[:5])} changed without a trial since "
                    f"{best.trial_id} was measured")
        return ""

    def ensure_baseline(self, parallel: int, force: bool = False) -> None:
        """`baseline_seeds` seeds of main, each recorded as it ends; a runner failure is
        retried once by the engine and, if it fails again, left for the next run to retry
        (never recorded as main's own failure). A baseline is measured again when main
        changed outside autolab since the last one (or on `force`); the rows before it stay
        in the ledger and in reports/scores.csv as history."""
        scores = self.forge.scores()
        if scores:
            changed = self.changed_outside(scores)
            if not changed and not force:
                return
            self.progress.note(f"`{self.config.branch}` changed outside autolab: {changed}; "
                               "measuring a fresh "
                               "baseline before judging anything" if changed else
                               "measuring a fresh baseline (--force)")
        main = self.forge.main_sha()
        prefix = baseline_id(main)
        manifest = manifest_at(self.repo, main, watched(self.config))
        have = {r.trial_id: r for r in self.ledger.starting_with(prefix)}
        missing = [k for k in range(self.config.baseline_seeds) if f"{prefix}{k}" not in have]
        self.progress.baseline(self.config.baseline_seeds, len(missing), self.config.branch)
        lost: list[RunResult] = []

        def recorded(results: list[RunResult]) -> None:
            (result,) = results
            if result.status == Status.INFRA_ERROR:
                lost.append(result)
                self.progress.note(f"{result.job.trial_id}: {result.reason}")
                return
            row = replace(rows.baseline_row(self.config, result, manifest),
                          frozen_sha256=self.fingerprint(main))
            self.append_row(row)
            have[row.trial_id] = row
            self.progress.ended(row.trial_id, row.status, row.reason, row.metric)

        batches = [self.engine.start(Batch((Job(f"{prefix}{k}", main, manifest, main, k),),
                                           done=recorded)) for k in missing]
        while not all(b.complete for b in batches):
            self.engine.step()
        if lost:
            raise InfraError(f"the runner failed twice on {len(lost)} baseline seed(s) "
                             f"({lost[0].reason}); `{self.config.branch}`'s script is not "
                             f"to blame: run again")
        good = [r for r in have.values() if r.status == BASELINE]
        if len(good) < self.config.baseline_seeds:
            failed = next(r for r in have.values() if r.status != BASELINE)
            raise BaselineError(f"the baseline failed ({failed.status}: {failed.reason}); fix "
                                 f"`{self.config.branch}`'s script, then rerun. Log tail:\n"
                                 f"{failed.log_tail}")
        values = [r.metric for r in good if r.metric is not None]
        mean = sum(values) / len(values)
        row = ScoreRow(trial_id="baseline", pr="", commit_sha=main, parent_sha="",
                       metric=mean, metric_std=decide.spread(values), n_seeds=len(values),
                       delta=0.0, hypothesis="baseline", config_sha256=manifest.config_sha256,
                       evaluator_sha256=good[0].evaluator_sha256, merged_at=utc_now())
        self.forge.set_baseline(main, row, pages=self.reporter.pages(self.reporter.history([row])))
        self.progress.baseline_done(row)


def recorded_results(row: LedgerRow, trial: Trial, eval_sha: str,
                     metric: str) -> list[RunResult]:
    """A decided trial's seeds as results, so a rerun's row and report include them."""
    values, seeds = row.seed_values, json.loads(row.seeds)
    return [RunResult(job=Job(row.trial_id, row.commit_sha, trial.manifest, eval_sha, seed),
                      status=Status.OK, metrics={metric: value},
                      curve=tuple(json.loads(row.curve)) if i == 0 else (),
                      evaluator_sha256=row.evaluator_sha256, data_sha256=row.data_sha256,
                      runner=row.runner, gpu=row.gpu)
            for i, (seed, value) in enumerate(zip(seeds, values, strict=False))]


def lab_noise(ledger: Ledger, accepted: set[str] | None = None) -> Noise:
    """σ pooled over every commit's repeated seeds: the prior for each commit's own; with
    `accepted`, only seeds measured under those frozen fingerprints."""
    rows = [r for r in ledger.seed_groups()
            if accepted is None or (r.frozen_sha256 or "") in accepted]
    baseline: dict[str, list[float]] = {}
    for r in rows:
        if r.status == BASELINE and r.metric is not None:
            baseline.setdefault(r.commit_sha, []).append(r.metric)
    # a trial's first seed was picked by the screen for being good, which would inflate
    # σ; its confirming seeds were not, kept and discarded trials alike
    groups = list(baseline.values()) + [r.seed_values[1:] for r in rows if r.n_seeds > 1
                                        and r.status != BASELINE]
    return decide.pooled(groups)


def best_rows(ledger: Ledger, best: ScoreRow) -> list[LedgerRow]:
    """The ledger rows holding the best's seeds: its trial's row, and the baseline rows of its
    commit (the baseline's own seeds, or the extra seeds the rule asked for)."""
    own = ledger.by_id([best.trial_id]) if best.trial_id != "baseline" else []
    return own + [r for r in ledger.starting_with(baseline_id(best.commit_sha))
                  if r.status == BASELINE and r.commit_sha == best.commit_sha]


def rule_from(config: Config, ledger: Ledger, scores: list[ScoreRow], noise: Noise,
              seen: bool = False) -> Rule:
    """The decision rule against main's best; `seen` also reads the best value any seed of
    this lab scored (every row: only for the unreachable-bar line)."""
    best = scores[-1]
    held = best_rows(ledger, best)
    values = tuple(v for r in held for v in r.seed_values)
    runs = sum(max(1, len(json.loads(r.seeds))) for r in held)
    works = [r.work for r in held if r.work]
    compute = Compute(sum(r.train_s for r in held) / runs if held else 0.0,
                      sum(works) / len(works) if works else 0.0)
    extreme = None
    if seen:
        every = [v for r in ledger.rows(columns=LIGHT) if not r.imported for v in r.seed_values]
        pick = min if config.minimize else max
        extreme = pick(every) if every else None
    return Rule(config, noise, best, values, extreme, compute)
