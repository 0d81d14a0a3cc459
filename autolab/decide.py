"""Noise-aware verdicts: a lenient screen on one seed, then a strict test on fresh seeds.

σ is the seed-to-seed standard deviation pooled over the baseline's seeds and
the confirming seeds of every trial confirmed since (see README, "Deciding
honestly"). The strict bar is `max(min_delta, k·σ·sqrt(1/n_cand + 1/n_best))`,
k being Student's t (97.5%) for σ's degrees of freedom and never below 2,
because a σ from few seeds is often far too small.

A trial's first seed only has to pass the screen, `z_screen·σ·sqrt(1 + 1/n_best)`
(and `min_delta`), to earn `confirm_seeds` fresh seeds. It is kept only if both
the mean over all its seeds and the mean of the fresh seeds alone clear the
strict bar: the fresh seeds carry no selection bias, so a change that only
moved the seed is not merged. By simulation of whole lab lives (tests/unit/
test_decide.py) this keeps fewer than 1% of changes that do nothing, yet most
3σ improvements.

Its place in the whole: ARCHITECTURE.md, "Deciding".
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass
from typing import Any

from autolab.config import Config
from autolab.records import ScoreRow, Status, Verdict

SUSPICIOUS_SIGMAS = 10.0
SUSPICIOUS_FRACTION = 0.20
# Student's t, one-sided 97.5%, by degrees of freedom; beyond the table 2 is close enough.
_T975 = {1: 12.71, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306,
         9: 2.262, 10: 2.228, 12: 2.179, 15: 2.131, 20: 2.086, 30: 2.042}


@dataclass(frozen=True)
class Noise:
    sigma: float
    dof: int

    @property
    def k(self) -> float:
        if self.dof <= 0 or self.dof > max(_T975):
            return 2.0
        below = [d for d in _T975 if d <= self.dof]
        return max(2.0, _T975[max(below)]) if below else 2.0


def pooled(groups: list[list[float]]) -> Noise:
    """σ pooled over groups of seeds that ran the same code."""
    dof = sum(len(g) - 1 for g in groups if len(g) > 1)
    if dof == 0:
        return Noise(0.0, 0)
    ss = sum(statistics.variance(g) * (len(g) - 1) for g in groups if len(g) > 1)
    return Noise(math.sqrt(ss / dof), dof)


def noise_bar(config: Config, noise: Noise, n_cand: int, n_best: int) -> float:
    return max(config.min_delta, noise.k * noise.sigma * math.sqrt(1 / n_cand + 1 / n_best))


def screen_bar(config: Config, noise: Noise, n_best: int) -> float:
    """What one first seed must gain to earn confirming seeds; below `min_delta` is not
    worth confirming."""
    return max(config.min_delta, config.z_screen * noise.sigma * math.sqrt(1 + 1 / n_best))


def spread(values: list[float]) -> float:
    return statistics.stdev(values) if len(values) > 1 else 0.0


def judge(config: Config, seed_metrics: list[float], best: ScoreRow, noise: Noise) -> Verdict:
    """The verdict on a candidate's seeds so far (first seed first), against the best."""
    mean = statistics.fmean(seed_metrics)
    n = len(seed_metrics)
    gain = config.better(mean, best.metric)
    verb = "lower" if config.direction == "minimize" else "higher"
    if n == 1 and config.confirm_seeds:
        bar = screen_bar(config, noise, best.n_seeds)
        common: dict[str, Any] = dict(metric=mean, metric_std=0.0, n_seeds=1,
                                      delta_vs_best=mean - best.metric, bar=bar)
        if gain <= bar:
            return Verdict(Status.DISCARD, f"{config.metric} {mean:.4g} on the first seed is not "
                           f"{verb} than the best {best.metric:.4g} by more than the screen "
                           f"bar {bar:.3g}", **common)
        return Verdict(Status.PROMISING, f"passes the screen bar {bar:.3g} on its first seed; "
                       f"confirming with {config.confirm_seeds} more", **common)
    bar = noise_bar(config, noise, n, best.n_seeds)
    common = {"metric": mean, "metric_std": spread(seed_metrics), "n_seeds": n,
              "delta_vs_best": mean - best.metric, "bar": bar}
    if gain <= bar:
        return Verdict(Status.DISCARD, f"{config.metric} {mean:.4g} over {n} seed(s) is not {verb} "
                       f"than the best {best.metric:.4g} by more than the noise bar {bar:.3g}",
                       **common)
    if n > 1:
        fresh = seed_metrics[1:]
        fresh_bar = noise_bar(config, noise, len(fresh), best.n_seeds)
        if config.better(statistics.fmean(fresh), best.metric) <= fresh_bar:
            return Verdict(Status.DISCARD, f"the {n} seeds clear the bar {bar:.3g} but the "
                           f"{len(fresh)} confirming seed(s) alone average "
                           f"{statistics.fmean(fresh):.4g}, within the noise bar "
                           f"{fresh_bar:.3g} of the best {best.metric:.4g}", **common)
    flags: tuple[str, ...] = ()
    if gain > SUSPICIOUS_SIGMAS * noise.sigma and gain > SUSPICIOUS_FRACTION * abs(best.metric):
        flags = ("suspicious",)
    return Verdict(Status.KEEP, f"{config.metric} {mean:.4g} over {n} seeds beats the best "
                   f"{best.metric:.4g} by {gain:.3g} (bar {bar:.3g})", flags=flags, **common)
