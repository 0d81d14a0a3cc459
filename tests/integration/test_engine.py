"""The engine: every seed run goes through one submit / wait / retry-once path.

A runner that loses a given seed's first attempts stands in for a transient
infrastructure failure; everything else (git, the local runner's subprocesses,
the Parquet ledger) is real.
"""

from __future__ import annotations

from concurrent.futures import Future

import pytest
from rich.console import Console

from autolab import config
from autolab.agents.sweep import SweepAgent
from autolab.assemble import make_loop
from autolab.engine import Batch, Engine
from autolab.errors import InfraError
from autolab.forges.local import LocalForge
from autolab.gitops import Repo
from autolab.integrity import manifest_at, watched
from autolab.ledger import Ledger
from autolab.loop import Loop
from autolab.progress import Progress
from autolab.records import BASELINE, Job, RunResult, Status
from autolab.runners.base import BaseRunner
from autolab.runners.local import LocalRunner


class LosingRunner(BaseRunner):
    """The local runner, except that the first `losses` attempts of one seed are lost."""

    name = "local"

    def __init__(self, real: LocalRunner, seed: int, losses: int):
        self.real, self.seed, self.losses = real, seed, losses
        self.attempts: list[int] = []

    def submit(self, job):
        self.attempts.append(job.seed)
        if job.seed == self.seed and self.losses:
            self.losses -= 1
            lost: Future = Future()
            lost.set_result(RunResult(job, Status.INFRA_ERROR, "the worker was preempted"))
            return lost
        return self.real.submit(job)

    def wait(self, handles, timeout=None):
        return self.real.wait(handles, timeout)

    def close(self):
        self.real.close()


def loop_for(lab_root, runner) -> Loop:
    loaded = config.load(lab_root)
    return make_loop(loaded, LocalForge(loaded), runner, SweepAgent(),
                     Ledger(Repo(lab_root), loaded.home), Progress(Console(quiet=True), "score"))


def test_a_baseline_seed_lost_once_is_retried_and_the_baseline_completes(lab):
    loaded = config.load(lab)
    runner = LosingRunner(LocalRunner(loaded), seed=1, losses=1)
    loop = loop_for(lab, runner)
    try:
        loop.ensure_baseline(1)
    finally:
        runner.close()
    assert sorted(runner.attempts) == [0, 1, 1, 2]
    rows = loop.ledger.rows()
    assert sorted(r.trial_id[-2:] for r in rows) == ["s0", "s1", "s2"]
    assert {r.status for r in rows} == {BASELINE}
    assert loop.forge.scores()[0].n_seeds == 3


def test_a_baseline_seed_lost_twice_is_left_for_the_next_run_not_blamed_on_main(lab):
    loaded = config.load(lab)
    runner = LosingRunner(LocalRunner(loaded), seed=2, losses=2)
    loop = loop_for(lab, runner)
    try:
        with pytest.raises(InfraError, match="`main`'s script is not to blame"):
            loop.ensure_baseline(1)
    finally:
        runner.close()
    assert sorted(r.trial_id[-2:] for r in loop.ledger.rows()) == ["s0", "s1"]
    again = loop_for(lab, LocalRunner(loaded))   # the next run: only the missing seed
    try:
        again.ensure_baseline(1)
    finally:
        again.runner.close()
    assert again.forge.scores()[0].n_seeds == 3


def test_a_trial_seed_lost_once_is_retried_and_judged(lab):
    loaded = config.load(lab)
    runner = LosingRunner(LocalRunner(loaded), seed=100, losses=1)   # t0001's first seed
    loop = loop_for(lab, runner)
    try:
        loop.run(1, 1)
    finally:
        runner.close()
    row = next(r for r in loop.ledger.rows() if r.trial_id == "t0001")
    assert row.status in (Status.KEEP, Status.DISCARD, Status.PRUNED), row.reason
    assert runner.attempts.count(100) == 2


def test_a_batch_is_handed_on_once_with_its_results_in_job_order(lab):
    loaded = config.load(lab)
    repo = Repo(lab)
    main = repo.rev("main")
    manifest = manifest_at(repo, main, watched(loaded.config))
    runner = LosingRunner(LocalRunner(loaded, parallel=2), seed=5, losses=1)
    engine = Engine(runner, Progress(Console(quiet=True), "score"))
    handed: list[list[int]] = []
    try:
        batch = engine.start(Batch(tuple(Job("t-x", main, manifest, main, s) for s in (7, 5)),
                                   done=lambda results: handed.append(
                                       [r.job.seed for r in results])))
        while not batch.complete:
            engine.step()
    finally:
        runner.close()
    assert handed == [[7, 5]] and engine.busy == 0
    assert all(r.status == Status.OK for r in batch.ordered)
