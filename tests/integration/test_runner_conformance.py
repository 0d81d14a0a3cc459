"""The runner conformance test: every backend of the staged runner holds the trust boundary.

A backend implements `start` and `poll` and nothing else (runners/staged.py); the stages
around it decide which bytes a job trains on, check them against the job's manifest, score
them with main's evaluator, and say which paths each command may reach. Here each backend
runs jobs of the misbehaving lab of test_sandbox.py: an honest one, one whose manifest is
not its commit's, one whose commit replaces the evaluator, one that looks for the held-out
split and one that tries to overwrite main's evaluator. The built-in local backend and a
new one written below, shaped like a batch scheduler, both pass; an unconfined backend
fails the reach checks, so the test can fail.
"""

from __future__ import annotations

import itertools
import subprocess

import pytest
from conftest import git
from test_sandbox import EVALUATOR, evaluator_bytes, hostile_lab, needs_bwrap

from autolab import config, sandbox
from autolab.agents.base import unified_diff
from autolab.config import Lab
from autolab.gitops import Repo
from autolab.integrity import manifest_at, watched
from autolab.records import Job, RunResult, Status
from autolab.runners.local import LocalRunner, Processes
from autolab.runners.staged import Command, StagedRunner

TRAIN = "train/train.py"


class JobQueue:
    """A backend shaped like a batch scheduler: `start` hands back a job number and `poll`
    asks after it by that number. Its commands run in bubblewrap, given each one's reach."""

    name = "bwrap"

    def __init__(self):
        self.box = sandbox.choose("bwrap", False, "test")
        self.numbers = itertools.count(1)
        self.jobs: dict[int, subprocess.Popen] = {}

    def start(self, command: Command) -> int:
        number = next(self.numbers)
        with open(command.log, "ab") as log:
            self.jobs[number] = subprocess.Popen(
                self.box.argv(command.line, command.cwd, command.reach), cwd=command.cwd,
                env=command.env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
        return number

    def poll(self, handle: object, stop: bool = False) -> int | None:
        assert isinstance(handle, int)
        job = self.jobs[handle]
        if stop:
            job.kill()      # bwrap's --die-with-parent takes the command down with it
            return job.wait()
        return job.poll()


class QueueRunner(StagedRunner):
    """A new runner: the staged pipeline over `JobQueue`, and nothing else of its own."""

    name = "queue"

    def __init__(self, lab: Lab, parallel: int = 1):
        super().__init__(lab, parallel, JobQueue())


class UnconfinedRunner(StagedRunner):
    """The control: a backend that ignores the reach it is given."""

    name = "unconfined"

    def __init__(self, lab: Lab, parallel: int = 1):
        super().__init__(lab, parallel, Processes(sandbox.Unconfined()))


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    return hostile_lab(tmp_path_factory.mktemp("conformance") / "lab", port=9)


def trial(lab, old: str, new: str, path: str = TRAIN) -> str:
    """A commit on main changing `old` to `new` in `path`, made as a forge makes one."""
    repo, main = Repo(lab), git(lab, "rev-parse", "main")
    text = (lab / path).read_text()
    return repo.commit_diff(main, unified_diff(path, text, text.replace(old, new)), new)


def run(runner: StagedRunner, lab, commit: str, manifest_of: str | None = None) -> RunResult:
    repo, loaded = Repo(lab), config.load(lab)
    manifest = manifest_at(repo, manifest_of or commit, watched(loaded.config))
    main = git(lab, "rev-parse", "main")
    handle = runner.submit(Job("t-check", commit, manifest, main, 3))
    [(_, result)] = runner.wait([handle], timeout=120)
    return result


@needs_bwrap
@pytest.mark.parametrize("make", [LocalRunner, QueueRunner], ids=["local", "queue"])
def test_a_backend_holds_the_trust_boundary(lab, make):
    runner = make(config.load(lab))
    before = evaluator_bytes(lab)
    main = git(lab, "rev-parse", "main")
    try:
        honest = run(runner, lab, main)
        assert honest.status == Status.OK, (honest.reason, honest.log_tail)
        assert honest.metrics["score"] > 1.0 and honest.sandbox == "bwrap"
        # the manifest: bytes that are not the job's commit never train
        other = trial(lab, "LR = 0.04", "LR = 0.01")
        mismatch = run(runner, lab, other, manifest_of=main)
        assert mismatch.status == Status.INTEGRITY_MISMATCH, mismatch.reason
        assert TRAIN in mismatch.reason
        # the evaluator is main's: a commit that rewrites it is scored by main's anyway
        faked = trial(lab, "abs(value - target)", "0.0", path="evaluator/__main__.py")
        scored = run(runner, lab, faked)
        assert scored.status == Status.OK and scored.metrics["score"] > 1.0, scored.reason
        # the held-out split and main's evaluator are out of training's reach
        peek = run(runner, lab, trial(lab, "READ_HELDOUT = False", "READ_HELDOUT = True"))
        assert peek.status == Status.CRASH and "no held-out split in reach" in peek.reason
        write = run(runner, lab, trial(lab, "OVERWRITE_EVALUATOR = False",
                                       "OVERWRITE_EVALUATOR = True"))
        assert write.status == Status.CRASH and "no evaluator in reach" in write.reason
    finally:
        runner.close()
    assert set(evaluator_bytes(lab).values()) == set(before.values()) == {EVALUATOR.encode()}


def test_a_backend_that_ignores_reach_fails_the_check(lab):
    """The same checks can fail: unconfined, the trial finds the held-out answer and scores
    a perfect 0.0."""
    runner = UnconfinedRunner(config.load(lab))
    try:
        peek = run(runner, lab, trial(lab, "READ_HELDOUT = False", "READ_HELDOUT = True"))
    finally:
        runner.close()
    assert peek.status == Status.OK and peek.metrics["score"] == 0.0, peek.reason
    assert peek.sandbox == "none"
