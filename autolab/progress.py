"""What a person watching `autolab run` sees: one line per event, with i/N and the best.

Its place in the whole: ARCHITECTURE.md, "What people see".
"""

from __future__ import annotations

import time

from rich.console import Console
from rich.markup import escape

from autolab.records import ScoreRow, Status, Trial

STYLE: dict[str, str] = {Status.KEEP: "bold green", Status.DISCARD: "yellow",
                         Status.BASELINE: "cyan"}


class Progress:
    def __init__(self, console: Console | None = None, metric: str = "metric"):
        self.console = console or Console(highlight=False)
        self.metric = metric
        self.t0 = time.monotonic()
        self.total = 0
        self.done = 0
        self.started = 0
        self.best: float | None = None

    def _stamp(self) -> str:
        elapsed = int(time.monotonic() - self.t0)
        stamp = f"{elapsed // 3600:02d}:{elapsed // 60 % 60:02d}:{elapsed % 60:02d}"
        return stamp + (f" best {self.best:.5g}" if self.best is not None else "")

    def _line(self, text: str) -> None:
        self.console.print(f"[dim]{self._stamp()}[/dim] {text}", soft_wrap=True)

    def note(self, text: str) -> None:
        self._line(f"[dim]{escape(text)}[/dim]")

    def baseline(self, seeds: int, missing: int, branch: str = "main") -> None:
        if missing:
            self._line(f"baseline: running {missing} of {seeds} seeds on {escape(branch)}")

    def baseline_done(self, row: ScoreRow) -> None:
        self.best = row.metric
        self._line(f"baseline {self.metric} = {row.metric:.5g} ± {row.metric_std:.3g} "
                   f"over {row.n_seeds} seeds (the noise band)")

    def start(self, total: int, resumed: int = 0, best: float | None = None) -> None:
        self.total = total
        if best is not None:   # a run on a lab that has a best already says so from its start
            self.best = best
        if resumed:
            self._line(f"resumed {resumed} interrupted trial(s)")

    def opened(self, trial: Trial) -> None:
        self.started += 1
        self._line(f"[{self.started}/{self.total}] {trial.trial_id} started: "
                   f"{escape(trial.proposal.hypothesis)}")

    def ended(self, trial_id: str, status: str, reason: str, metric: float | None,
              compute_ratio: float | None = None) -> None:
        counter = "baseline"
        if not trial_id.startswith("baseline"):
            self.done += 1
            counter = f"[{self.done}/{self.total}]"
        if status == Status.KEEP:
            self.best = metric
        style = STYLE.get(status, "red")
        value = f" {self.metric} {metric:.5g}" if metric is not None else ""
        if compute_ratio is not None:   # what the result cost beside the best's
            value += f" compute {compute_ratio:.2f}×"
        self.console.print(f"[dim]{self._stamp()}[/dim] {counter} {trial_id} "
                           f"[{style}]{status}[/{style}]{value} [dim]{escape(reason)}[/dim]",
                           soft_wrap=True)

    def finish(self, scores: list[ScoreRow]) -> None:
        if scores:
            self.best = scores[-1].metric
            self._line(f"done: best {self.metric} {scores[-1].metric:.5g} "
                       f"({scores[-1].trial_id}), {len(scores) - 1} kept since the baseline")
