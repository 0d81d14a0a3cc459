"""Runs trials on this machine: exact committed bytes, hard timeouts, N at a time.

The stages (runners/staged.py) over processes here: each job gets a scratch directory
holding `git archive` of its commit (never a working tree), the manifest is verified on
those bytes, and the evaluator comes from main's frozen files, never from the trial. Each
command runs in its own process group, so a timeout kills everything it spawned, inside
the sandbox (autolab/sandbox.py): training sees its tree, the train split and its output;
the evaluator sees main's frozen files, the held-out split, the artifact and its result
file. The cached evaluator and data are checked against their hashes before every
evaluation, so a changed cache never scores anything.

Its place in the whole: ARCHITECTURE.md, "Contracts".
"""

from __future__ import annotations

import os
import signal
import subprocess

from autolab import sandbox
from autolab.config import Lab
from autolab.runners.staged import Command, StagedRunner


class Processes:
    """The local backend: each command a process group of its own, in `box`."""

    def __init__(self, box: sandbox.Bubblewrap | sandbox.Unconfined):
        self.box, self.name = box, box.name

    def start(self, command: Command) -> subprocess.Popen:
        with open(command.log, "ab") as out:
            # a session of its own and no terminal: nothing it starts outlives the kill in
            # poll, and nothing it runs can type into the user's terminal
            return subprocess.Popen(self.box.argv(command.line, command.cwd, command.reach),
                                    cwd=command.cwd, env=command.env,
                                    stdin=subprocess.DEVNULL, stdout=out,
                                    stderr=subprocess.STDOUT, start_new_session=True)

    def poll(self, handle: object, stop: bool = False) -> int | None:
        assert isinstance(handle, subprocess.Popen)
        if stop and handle.poll() is None:
            os.killpg(handle.pid, signal.SIGKILL)
            return handle.wait()
        return handle.poll()


class LocalRunner(StagedRunner):
    name = "local"

    def __init__(self, lab: Lab, parallel: int = 1):
        runner = lab.config.runner
        self.sandbox = sandbox.choose(runner.sandbox, runner.network, lab.where)
        if self.sandbox.name != "none":
            sandbox.check_outside([lab.root, lab.home], lab.where)
        super().__init__(lab, parallel, Processes(self.sandbox))

    def confinement(self) -> str:
        if self.sandbox.name == "none":
            return ("sandbox: none (`sandbox = \"none\"`): trial code runs unconfined and can "
                    "read the held-out data, your checkout and your home")
        chosen = "auto: " if self.lab.config.runner.sandbox == "auto" else ""
        network = "with network" if self.lab.config.runner.network else "no network"
        return (f"sandbox: {self.sandbox.name} ({chosen}trial code sees its tree, the train "
                f"split and its output only; {network})")
