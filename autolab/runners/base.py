"""The Runner contract: submit jobs, collect results as they finish (ARCHITECTURE.md,
"Contracts")."""

from __future__ import annotations

from typing import Protocol

from autolab.records import Job, RunResult


class Runner(Protocol):
    name: str

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


class BaseRunner:
    """The defaults: no budget of its own, nothing sent elsewhere."""

    name = ""

    def close(self) -> None:
        return None

    def confinement(self) -> str:
        return ""

    def out_of_budget(self, jobs: int = 1) -> str:
        return ""

    def describe(self, job: Job) -> str:
        return ""
