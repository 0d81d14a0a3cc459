"""Running seeds: submit, wait, retry a runner's failure once (ARCHITECTURE.md, "The engine").

Every way seeds get run goes through here: a trial's first seed and its
confirming seeds, the baseline, `/rerun` and `autolab reproduce`. A `Batch` is
the seeds of one commit that are judged together; once each of its seeds has
a result, the batch's `done` is called with them, in job order. An
`infra_error` (the runner failed, not the idea) is submitted again once before
it counts as the seed's result.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from autolab.progress import Progress
from autolab.records import Job, RunResult, Status
from autolab.runners.base import Runner


@dataclass(eq=False)
class Batch:
    """Seeds of one commit run together; `done` gets their results once all are in."""

    jobs: tuple[Job, ...]
    done: Callable[[list[RunResult]], None] | None = None
    results: dict[int, RunResult] = field(default_factory=dict)    # by seed
    retried: set[int] = field(default_factory=set)

    @property
    def complete(self) -> bool:
        return len(self.results) == len(self.jobs)

    @property
    def ordered(self) -> list[RunResult]:
        return [self.results[job.seed] for job in self.jobs]


class Engine:
    def __init__(self, runner: Runner, progress: Progress):
        self.runner, self.progress = runner, progress
        self.inflight: dict[object, tuple[Batch, Job]] = {}

    @property
    def busy(self) -> int:
        """Jobs submitted and not yet back: what `--parallel` counts."""
        return len(self.inflight)

    def start(self, batch: Batch) -> Batch:
        for job in batch.jobs:
            self.inflight[self.runner.submit(job)] = (batch, job)
        return batch

    def step(self) -> None:
        """Wait for at least one result, and hand each finished batch on."""
        for handle, result in self.runner.wait(list(self.inflight)):
            batch, job = self.inflight.pop(handle)
            if result.status == Status.INFRA_ERROR and job.seed not in batch.retried:
                batch.retried.add(job.seed)
                self.progress.note(f"{job.trial_id}: {result.reason}; retrying")
                self.inflight[self.runner.submit(job)] = (batch, job)
                continue
            batch.results[job.seed] = result
            if batch.complete and batch.done is not None:
                batch.done(batch.ordered)

    def run(self, jobs: list[Job]) -> list[RunResult]:
        """`jobs` run to their end, their results in job order; other batches go on meanwhile."""
        batch = self.start(Batch(tuple(jobs)))
        while not batch.complete:
            self.step()
        return batch.ordered
