"""Runs the real `autolab` CLI with a SIGKILL armed at one phase of the loop.

    python tests/faults/driver.py PHASE -- <autolab arguments>

The hook wraps the real function of that phase: the work up to the kill point is
done for real, then the process dies as if the machine lost power. The tests
then run `autolab` again, unarmed, and check that nothing was lost or doubled.
"""

from __future__ import annotations

import functools
import os
import signal
import sys
import threading

from autolab import cli
from autolab.agents.sweep import SweepAgent
from autolab.forges.local import LocalForge
from autolab.gitops import Repo
from autolab.ledger import Ledger
from autolab.runners.staged import StagedRunner


def die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def trial_env(env: dict) -> bool:
    """True for a trial's job (trial ids start with t), not a baseline seed."""
    return any("/t0" in str(v) for k, v in env.items() if k in ("AUTOLAB_ARTIFACT",
                                                                "AUTOLAB_OUT"))


def arm(phase: str) -> None:
    if phase == "propose":
        original = SweepAgent.propose

        @functools.wraps(original)
        def propose(self, context):
            original(self, context)
            die()
        SweepAgent.propose = propose
    elif phase == "open":
        original_save = LocalForge._save

        @functools.wraps(original_save)
        def save(self, record):
            die()  # the branch exists, its PR record was never written
        LocalForge._save = save
    elif phase in ("run", "evaluate"):
        original_execute = StagedRunner.execute

        @functools.wraps(original_execute)
        def execute(self, command, deadline, watch=None):
            env = command.env
            if phase == "run" and trial_env(env) and "AUTOLAB_OUT" in env:
                threading.Timer(0.5, die).start()   # mid-training
            code = original_execute(self, command, deadline, watch)
            if phase == "evaluate" and trial_env(env) and "AUTOLAB_RESULT" in env:
                die()  # evaluated, result on disk, nothing decided yet
            return code
        StagedRunner.execute = execute
    elif phase == "merge":
        original_swap = Repo.swap_ref

        @functools.wraps(original_swap)
        def swap_ref(self, ref, new, old):
            original_swap(self, ref, new, old)
            pending = os.path.join(".autolab", "pending")
            if ref == "refs/heads/main" and os.path.isdir(pending) and os.listdir(pending):
                die()  # main moved; the PR record and the ledger do not know yet
        Repo.swap_ref = swap_ref
    elif phase == "record":
        original_append = Ledger.append

        @functools.wraps(original_append)
        def append(self, row):
            done = original_append(self, row)
            if row.trial_id.startswith("t"):
                die()  # row written; the verdict file is still there
            return done
        Ledger.append = append
    elif phase == "disk_full":
        original_store = Ledger._store

        @functools.wraps(original_store)
        def store(self, kind, data):
            raise OSError(28, "No space left on device")
        Ledger._store = store
    elif phase == "forge_merge":
        def merge(self, trial, evaluated_sha, row, **kwargs):
            from autolab.errors import InfraError
            raise InfraError("the forge answered 502 on merge")
        LocalForge.merge = merge
    elif phase == "github_merge":
        from autolab.forges.github import GitHubForge

        def merge_github(self, trial, evaluated_sha, row, **kwargs):
            die()  # the verdict is written ahead (here and on origin), nothing acted on yet
        GitHubForge.merge = merge_github
    elif phase == "no_retraining":
        original_run = StagedRunner.execute

        @functools.wraps(original_run)
        def run_once(self, command, deadline, watch=None):
            if any("/t0001" in str(command.env.get(k, ""))
                   for k in ("AUTOLAB_OUT", "AUTOLAB_ARTIFACT")):
                print(f"asked to train t0001 again: {command.line}", file=sys.stderr)
                os._exit(97)  # the test reads this code: t0001 was decided by an earlier job
            return original_run(self, command, deadline, watch)
        StagedRunner.execute = run_once
    else:
        raise SystemExit(f"unknown phase {phase!r}")


if __name__ == "__main__":
    phase, separator, *args = sys.argv[1:]
    assert separator == "--"
    arm(phase)
    sys.argv = ["autolab", *args]
    cli.main()
