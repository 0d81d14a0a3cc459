"""The Runner contract: submit jobs, collect results as they finish (ARCHITECTURE.md,
"Contracts")."""

from __future__ import annotations

from typing import Any, ClassVar, Protocol, Self

from autolab.config import Lab
from autolab.records import Job, RunResult
from autolab.spend import Spend


class Runner(Protocol):
    name: str
    prunes: ClassVar[bool]      # stops a job early when its `Job.prune` rule says so
    # a frozen dataclass of [tool.autolab.runner.<name>] (every field with a default), or None
    Settings: ClassVar[type | None]

    @classmethod
    def from_lab(cls, lab: Lab, settings: Any, parallel: int, spend: Spend | None) -> Self:
        """The runner for `lab` (registry.py builds every runner so): `settings` is a
        `Settings` instance or None, `parallel` the jobs it runs at once, `spend` the run's
        one money counter (None: the runner makes its own if it spends)."""

    def submit(self, job: Job) -> object:
        """Start `job`; the handle is only passed back to `wait`."""

    def wait(self, handles: list, timeout: float | None = None) -> list[tuple[object, RunResult]]:
        """(handle, result) of at least one finished job (none only if `timeout` passed)."""

    def close(self) -> None: ...

    def confinement(self) -> str:
        """One line for the start of a run: what confines trial code on this runner."""

    def out_of_budget(self, jobs: int = 1) -> str:
        """Why `jobs` more could pass `[tool.autolab.budget]`, or "" when they fit."""

    def describe(self, job: Job) -> str:
        """What would be sent to run `job` (`autolab run --dry-run`); "" if nothing leaves
        this machine."""


# what registry.check asks of a runner class: (methods, class attributes)
RUNNER_MEMBERS = (("from_lab", "submit", "wait", "close", "confinement", "out_of_budget",
                   "describe"), ("name", "prunes", "Settings"))


class BaseRunner:
    """The defaults: no settings, no pruning, no budget of its own, nothing sent elsewhere."""

    name = ""
    prunes: ClassVar[bool] = False
    Settings: ClassVar[type | None] = None

    @classmethod
    def from_lab(cls, lab: Lab, settings: Any, parallel: int, spend: Spend | None) -> Self:
        """A runner without settings or money of its own: `cls(lab, parallel=parallel)`."""
        return cls(lab, parallel=parallel)  # type: ignore[call-arg]

    def close(self) -> None:
        return None

    def confinement(self) -> str:
        return ""

    def out_of_budget(self, jobs: int = 1) -> str:
        return ""

    def describe(self, job: Job) -> str:
        return ""
