"""The Runner protocol: submit jobs, collect results as they finish."""

from __future__ import annotations

from typing import Protocol

from autolab.records import Job, RunResult


class Runner(Protocol):
    name: str

    def submit(self, job: Job) -> object:
        """Start `job`; the handle is only passed back to `wait`."""

    def wait(self, handles: list, timeout: float | None = None) -> list[RunResult]:
        """At least one finished result (none only if `timeout` passed first)."""

    def close(self) -> None: ...

    def confinement(self) -> str:
        """One line for the start of a run: what confines trial code on this runner."""
