"""Stopping clearly losing trials early, as a median pruner does, but on loss curves.

A trial is compared, at the same fraction of its training budget, with the
current best trial's curve. It is stopped when its recent training loss is
above the best's by more than the seed-to-seed spread the baseline's own
curves showed at that fraction (three standard deviations, and never less than
MIN_MARGIN of the loss), and never during the warm-up fraction. Standard
library only: this also runs next to the training process wherever it runs.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass

GRID = tuple(i / 20 for i in range(1, 21))
MIN_MARGIN = 0.01       # relative: minibatch noise in one run is never below ~1%
SIGMAS = 3.0
RECENT = 3              # curve points averaged, so one noisy minibatch prunes nothing


def _points(curve, budget_s: float) -> list[tuple[float, float]]:
    out = []
    for p in curve:
        loss, elapsed = p.get("train_loss"), p.get("elapsed_s")
        if isinstance(loss, (int, float)) and isinstance(elapsed, (int, float)) \
                and math.isfinite(loss):
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
    reference: tuple[tuple[float, float], ...]   # (budget fraction, best's train loss)
    margin: tuple[tuple[float, float], ...]      # (budget fraction, allowed excess)
    warmup: float
    budget_s: float

    def verdict(self, curve) -> str | None:
        """Why to stop a run whose curve so far is `curve`, or None to let it go on."""
        points = _points(curve, self.budget_s)
        if len(points) < RECENT or points[-1][0] < self.warmup:
            return None
        f = points[-1][0]
        reference = list(self.reference)
        # like for like: the trial's last few points against the best at those same fractions
        refs = [_at(reference, g) for g, _loss in points[-RECENT:]]
        margin = _at(list(self.margin), f)
        if None in refs or margin is None:
            return None
        ref = statistics.fmean(refs)
        recent = statistics.fmean(loss for _f, loss in points[-RECENT:])
        if recent <= ref + margin:
            return None
        return (f"pruned at {f:.0%} of the budget: train loss {recent:.4g} is above the best "
                f"trial's {ref:.4g} by more than the baseline's noise {margin:.3g}")


def mean_curve(curves: list) -> list[dict]:
    """Several runs' curves averaged on the grid (the baseline as one reference curve)."""
    budget = max((p.get("elapsed_s", 0) for c in curves for p in c), default=0.0) or 1.0
    runs = [_points(c, budget) for c in curves]
    out = []
    for f in GRID:
        values = [v for v in (_at(r, f) for r in runs) if v is not None]
        if values:
            out.append({"elapsed_s": f * budget, "train_loss": statistics.fmean(values)})
    return out


def rule(best_curve, baseline_curves: list, budget_s: float, warmup: float) -> PruneRule | None:
    """The rule against `best_curve`, with margins from the baseline seeds' curves."""
    best = _points(best_curve, budget_s)
    seeds = [_points(c, budget_s) for c in baseline_curves]
    reference, margin = [], []
    for f in GRID:
        ref = _at(best, f)
        values = [v for v in (_at(s, f) for s in seeds) if v is not None]
        if ref is None or len(values) < 2:
            continue
        reference.append((f, ref))
        margin.append((f, max(SIGMAS * statistics.stdev(values), MIN_MARGIN * abs(ref))))
    if len(reference) < 2:
        return None
    return PruneRule(tuple(reference), tuple(margin), warmup, budget_s)
