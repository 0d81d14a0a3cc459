"""Stopping clearly losing trials early, only where the lab has shown that it is safe.

A training loss early on is evidence about the final metric only if this lab's
own trials say so: a change can train worse at first and end better. So no
rule exists until `prune_min_trials` completed (not pruned) trials show, at
every budget fraction from some point on, a rank correlation of at least
MIN_RHO between the training loss there and the metric they ended with. From
that fraction on, a first seed is stopped when its recent training loss is
above the median of the completed trials' by more than three times the spread
of the baseline seeds' own curves there (never less than MIN_MARGIN of the loss).

A sample of trials runs unpruned; replaying the rule on their curves measures
how often it would have stopped a trial that ended better than the best (the
loop turns pruning off when that rate is too high). Standard library only: the
rule also runs next to the training process wherever it runs.

Its place in the whole: ARCHITECTURE.md, "Deciding".
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass

GRID = tuple(i / 20 for i in range(1, 21))
MIN_MARGIN = 0.01       # relative: minibatch noise in one run is never below ~1%
SIGMAS = 3.0
RECENT = 3              # curve points averaged, so one noisy minibatch prunes nothing
MIN_RHO = 0.7           # rank correlation of loss-at-f with the final metric, per fraction


def _points(curve, budget_s: float) -> list[tuple[float, float]]:
    out = []
    for p in curve:
        loss, elapsed = p.get("train_loss"), p.get("elapsed_s")
        if (isinstance(loss, (int, float)) and isinstance(elapsed, (int, float))
                and math.isfinite(loss)):
            out.append((elapsed / budget_s, float(loss)))
    return out


def _at(points: list[tuple[float, float]], f: float) -> float | None:
    """The curve's loss at fraction f, linearly interpolated; None outside its span."""
    if not points or f < points[0][0] or f > points[-1][0]:
        return None
    for (f0, l0), (f1, l1) in zip(points, points[1:], strict=False):
        if f0 <= f <= f1:
            return l0 if f1 == f0 else l0 + (l1 - l0) * (f - f0) / (f1 - f0)
    return points[-1][1]


@dataclass(frozen=True)
class PruneRule:
    reference: tuple[tuple[float, float], ...]   # (budget fraction, completed trials' median)
    margin: tuple[tuple[float, float], ...]      # (budget fraction, allowed excess)
    warmup: float                                # no verdict before this fraction
    budget_s: float

    def verdict(self, curve) -> str | None:
        """Why to stop a run whose curve so far is `curve`, or None to let it go on."""
        points = _points(curve, self.budget_s)
        if len(points) < RECENT or points[-1][0] < self.warmup:
            return None
        f = points[-1][0]
        reference = list(self.reference)
        # like for like: the trial's last few points against the reference at those fractions
        refs = [_at(reference, g) for g, _loss in points[-RECENT:]]
        margin = _at(list(self.margin), f)
        known = [r for r in refs if r is not None]
        if len(known) < len(refs) or margin is None:
            return None
        ref = statistics.fmean(known)
        recent = statistics.fmean(loss for _f, loss in points[-RECENT:])
        if recent <= ref + margin:
            return None
        return (f"pruned at {f:.0%} of the budget: train loss {recent:.4g} is above the "
                f"completed trials' median {ref:.4g} by more than the baseline's noise "
                f"{margin:.3g}")

    def replay(self, curve) -> str:
        """What the rule would have said had it watched `curve` grow: its first reason, or ""."""
        for n in range(RECENT, len(curve) + 1):
            reason = self.verdict(curve[:n])
            if reason:
                return reason
        return ""


def _ranks(values: list[float]) -> list[float]:
    order = sorted(range(len(values)), key=values.__getitem__)
    ranks = [0.0] * len(values)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and values[order[j + 1]] == values[order[i]]:
            j += 1
        for m in range(i, j + 1):   # ties share their mean rank
            ranks[order[m]] = (i + j) / 2
        i = j + 1
    return ranks


def spearman(xs: list[float], ys: list[float]) -> float:
    rx, ry = _ranks(xs), _ranks(ys)
    if len(set(rx)) < 2 or len(set(ry)) < 2:
        return 0.0
    return statistics.correlation(rx, ry)


def rule(completed: list[tuple[list, float]], baseline_curves: list, budget_s: float,
         warmup: float, min_trials: int, minimize: bool) -> tuple[PruneRule | None, str]:
    """The rule from completed trials' (first-seed curve, first-seed metric), with margins from
    the baseline seeds' curves; and, either way, one line saying why it is or is not on."""
    if len(completed) < min_trials:
        return None, (f"pruning waits for {min_trials} completed trials to show that train "
                      f"loss predicts the metric ({len(completed)} so far)")
    sign = 1.0 if minimize else -1.0
    trials = [(_points(c, budget_s), metric) for c, metric in completed]
    seeds = [_points(c, budget_s) for c in baseline_curves]
    table = []     # (f, rho, median, margin) where enough curves reach f
    for f in GRID:
        pairs = [(loss, m) for loss, m in ((_at(p, f), m) for p, m in trials) if loss is not None]
        spread = [v for v in (_at(s, f) for s in seeds) if v is not None]
        if f < warmup or len(pairs) < min_trials or len(spread) < 2:
            continue
        losses = [loss for loss, _m in pairs]
        rho = sign * spearman(losses, [m for _loss, m in pairs])
        median = statistics.median(losses)
        table.append((f, rho, median,
                      max(SIGMAS * statistics.stdev(spread), MIN_MARGIN * abs(median))))
    # predictive from the first fraction after which every fraction is: a crossing curve
    # breaks the rank order early, and then nothing before the crossing is trusted
    tail: list = []
    for row in reversed(table):
        if row[1] < MIN_RHO:
            break
        tail.insert(0, row)
    if not table:
        return None, (f"pruning is off: past the warm-up, too few curves reach the same "
                      f"fraction of the budget ({len(completed)} completed trials)")
    if len(tail) < 2:
        f, rho = table[max(0, len(table) - len(tail) - 1)][:2]   # the latest that fails
        return None, (f"pruning is off: train loss does not predict the metric late in the "
                      f"budget (rank correlation {rho:.2f} at {f:.0%}, {len(completed)} "
                      f"completed trials)")
    start = tail[0][0]
    made = PruneRule(tuple((f, med) for f, _r, med, _m in tail),
                     tuple((f, m) for f, _r, _med, m in tail), start, budget_s)
    return made, (f"pruning from {start:.0%} of the budget: train loss predicts the metric "
                  f"there (rank correlation >= {MIN_RHO}, {len(completed)} completed trials)")


@dataclass(frozen=True)
class Audit:
    """What replaying the rule on trials that ran unpruned showed."""

    audited: int        # trials whose first seed ran unpruned to check the rule
    would: int          # of those, the ones the rule would have stopped
    wrong: int          # of those, the ones that ended kept or beating the best

    @classmethod
    def of(cls, rows) -> Audit:
        rows = [r for r in rows if r.audit]
        would = [r for r in rows if r.would_prune]
        return cls(len(rows), len(would), sum(bool(r.prune_wrong) for r in would))

    @property
    def false_rate(self) -> float | None:
        return self.wrong / self.would if self.would else None

    def line(self) -> str:
        rate = "" if self.false_rate is None else f", false-prune rate {self.false_rate:.0%}"
        return (f"pruning audit: {self.audited} trials ran unpruned; the rule would have "
                f"stopped {self.would}, {self.wrong} of them wrongly{rate}")
