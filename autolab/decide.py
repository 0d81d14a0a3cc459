"""Noise-aware verdicts: the decision rule's one home, `Rule`.

Every commit has its own noise. A commit's σ is its own seeds' spread, shrunk
towards the lab's pooled σ (the baseline's seeds and every confirmed trial's
confirming seeds) with the weight of PRIOR_DOF degrees of freedom, so one or two
seeds never give an absurd σ while four or more speak mostly for themselves.
A candidate is compared with the best by a Welch test: the bar is
`max(min_delta, t·sqrt(σ_c²/n_c + σ_b²/n_b))`, t being Student's t (97.5%, never
below 2) at the Welch–Satterthwaite degrees of freedom.

A trial's first seed only has to pass a lenient screen (`z_screen` times the
same standard error, with the pooled σ for the candidate's own) to earn
`confirm_seeds` fresh seeds. It is kept only if both the mean of all its seeds
and the mean of its fresh seeds alone clear the bar: the fresh seeds carry no
selection bias. A confirmed candidate that falls short, but would clear the bar
at `max_seeds` seeds with the spreads seen so far, gets more seeds where the
uncertainty is: of itself, or of the best when the best's term dominates the
bar. When the best plus the bar lies beyond the metric's declared bound or
beyond any value a seed ever scored, `Rule.unreachable` says so in one line.

A keep that cost more than `max_compute_ratio` times the best's train seconds
per seed is `over_compute`: never merged on the metric alone.

By simulation of whole lab lives (tests/unit/test_decide.py) the rule keeps at
most 1% of changes that do nothing and most 3σ improvements, for labs of equal
and of unequal noise and for a bounded metric. Its place in the whole:
ARCHITECTURE.md, "Deciding".
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass, field
from typing import Any

from autolab.config import Config
from autolab.records import ScoreRow, Status, Verdict

SUSPICIOUS_SIGMAS = 10.0
SUSPICIOUS_FRACTION = 0.20
PRIOR_DOF = 1.0         # the pooled σ weighs as one degree of freedom in a commit's own σ
# Student's t, one-sided 97.5%, by degrees of freedom; beyond the table 2 is close enough.
_T975 = {1: 12.71, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306,
         9: 2.262, 10: 2.228, 12: 2.179, 15: 2.131, 20: 2.086, 30: 2.042}


def t975(dof: float) -> float:
    """Student's t (97.5%) for possibly fractional degrees of freedom, never below 2: the
    table's value at the next lower tabulated dof, so it never understates t."""
    if dof <= 0 or dof > max(_T975):
        return 2.0
    return max(2.0, _T975[max((d for d in _T975 if d <= dof), default=1)])


@dataclass(frozen=True)
class Noise:
    """The lab's pooled σ and its degrees of freedom: the prior for every commit's own σ."""

    sigma: float
    dof: int

    @property
    def k(self) -> float:
        return t975(self.dof) if self.dof > 0 else 2.0


def pooled(groups: list[list[float]]) -> Noise:
    """σ pooled over groups of seeds that ran the same code."""
    dof = sum(len(g) - 1 for g in groups if len(g) > 1)
    if dof == 0:
        return Noise(0.0, 0)
    ss = sum(statistics.variance(g) * (len(g) - 1) for g in groups if len(g) > 1)
    return Noise(math.sqrt(ss / dof), dof)


def spread(values: list[float]) -> float:
    return statistics.stdev(values) if len(values) > 1 else 0.0


@dataclass(frozen=True)
class Own:
    """One commit's seeds as the rule sees them: mean, σ² (shrunk to the prior), its dof."""

    n: int
    mean: float
    var: float
    dof: float
    raw: float = math.nan       # its seeds' own sample variance (nan: fewer than two)


@dataclass(frozen=True)
class Compute:
    """What one seed of a commit cost: train seconds, and the steps or tokens it reported."""

    train_s: float = 0.0
    work: float = 0.0            # the last `tokens` (or else `step`) in curve.jsonl; 0: none

    @classmethod
    def of(cls, train_s: list[float], curves: list) -> Compute:
        works = [w for w in (work(c) for c in curves) if w > 0]
        timed = [t for t in train_s if t > 0]   # a rerun's earlier seeds carry no seconds
        return cls(statistics.fmean(timed) if timed else 0.0,
                   statistics.fmean(works) if works else 0.0)


def work(curve) -> float:
    """Steps or tokens a run reports: the largest `tokens`, else the largest `step` + 1."""
    for key, extra in (("tokens", 0), ("step", 1)):
        values = [p[key] for p in curve if isinstance(p.get(key), (int, float))]
        if values:
            return float(max(values) + extra)
    return 0.0


@dataclass(frozen=True)
class Rule:
    """The decision rule of one lab at one moment: the pooled prior, and the best's seeds.

    `judge` gives a verdict or asks for more seeds (of the trial, or of the best);
    `bar`, `screen_bar` and `unreachable` are what the report and `status` show;
    `describe` is what the agent is told."""

    config: Config
    prior: Noise
    best: ScoreRow
    best_seeds: tuple[float, ...] = ()      # every seed of the best's commit; () -> the row's
    seen: float | None = None               # the best value any seed of this lab scored
    best_compute: Compute = field(default_factory=Compute)

    # the noise ---------------------------------------------------------------
    def shrunk(self, n: int, mean: float, var: float) -> Own:
        """n seeds of sample variance `var`, their σ² shrunk towards the pooled one."""
        weight = min(PRIOR_DOF, self.prior.dof)
        return Own(n, mean, (weight * self.prior.sigma ** 2 + (n - 1) * var) / (weight + n - 1),
                   weight + n - 1, var)

    def own(self, values: list[float] | tuple[float, ...]) -> Own:
        if len(values) < 2:   # no spread of its own: the pooled σ
            return Own(len(values), statistics.fmean(values) if values else math.nan,
                       self.prior.sigma ** 2, float(self.prior.dof))
        return self.shrunk(len(values), statistics.fmean(values), statistics.variance(values))

    def projected(self, own: Own, n: int) -> Own:
        """`own` as it would be at `n` seeds if the new seeds spread as the first did."""
        if n <= own.n or math.isnan(own.raw):
            return Own(max(n, own.n), own.mean, own.var, own.dof + max(0, n - own.n), own.raw)
        return self.shrunk(n, own.mean, own.raw)

    @property
    def best_own(self) -> Own:
        if self.best_seeds:
            return self.own(self.best_seeds)
        # only the scores row is known: its n seeds with its σ
        if self.best.n_seeds < 2:
            return Own(1, self.best.metric, self.prior.sigma ** 2, float(self.prior.dof))
        return self.shrunk(self.best.n_seeds, self.best.metric, self.best.metric_std ** 2)

    def welch(self, cand: Own, best: Own) -> tuple[float, float]:
        """The standard error of the difference of means, and its Welch–Satterthwaite dof."""
        a, b = cand.var / cand.n, best.var / best.n
        if a + b <= 0:
            return 0.0, 0.0
        parts = [(term, dof) for term, dof in ((a, cand.dof), (b, best.dof)) if term > 0]
        if any(dof <= 0 for _t, dof in parts):
            return math.sqrt(a + b), 0.0
        return math.sqrt(a + b), (a + b) ** 2 / sum(t * t / dof for t, dof in parts)

    def bar_for(self, cand: Own, best: Own | None = None) -> float:
        se, dof = self.welch(cand, best or self.best_own)
        return max(self.config.min_delta, t975(dof) * se if dof > 0 else 2.0 * se)

    def bar(self, n_cand: int) -> float:
        """The bar for a candidate of `n_cand` seeds with the pooled σ (what a report shows
        before the candidate's own spread is known)."""
        return self.bar_for(Own(n_cand, 0.0, self.prior.sigma ** 2, float(self.prior.dof)))

    def screen_bar(self) -> float:
        """What one first seed must gain to earn confirming seeds: `z_screen` standard errors
        (pooled σ for the seed, the best's own for the best), or `min_delta` if larger, and
        never more than half the way to a declared bound of the metric."""
        se, _dof = self.welch(Own(1, 0.0, self.prior.sigma ** 2, float(self.prior.dof)),
                              self.best_own)
        bar = self.config.z_screen * se
        room = self.room()
        if room is not None and room > 0:
            bar = min(bar, room / 2)
        return max(self.config.min_delta, bar)

    def room(self) -> float | None:
        """How far the best is from the metric's declared bound, in the better direction."""
        bound = self.config.metric_min if self.config.minimize else self.config.metric_max
        return self.config.better(bound, self.best_mean) if math.isfinite(bound) else None

    @property
    def best_mean(self) -> float:
        return statistics.fmean(self.best_seeds) if self.best_seeds else self.best.metric

    # the verdict ---------------------------------------------------------------
    def judge(self, seed_metrics: list[float], compute: Compute | None = None) -> Verdict:
        """The verdict on a candidate's seeds so far (first seed first), against the best:
        keep or discard, or promising with the seeds still wanted (its own or the best's)."""
        config, best = self.config, self.best_own
        mean, n = statistics.fmean(seed_metrics), len(seed_metrics)
        gain = config.better(mean, best.mean)
        verb = "lower" if config.minimize else "higher"
        ratio = self.compute_ratio(compute)
        common: dict[str, Any] = dict(metric=mean, metric_std=spread(seed_metrics), n_seeds=n,
                                      delta_vs_best=mean - best.mean, compute_ratio=ratio)
        against = f"the best {best.mean:.4g} ({best.n} seeds)"
        if n == 1 and config.confirm_seeds:
            bar = self.screen_bar()
            if gain <= bar:
                return Verdict(Status.DISCARD, f"{config.metric} {mean:.4g} on the first seed is "
                               f"not {verb} than {against} by more than the screen bar "
                               f"{bar:.3g}", bar=bar, **common)
            return Verdict(Status.PROMISING, f"passes the screen bar {bar:.3g} on its first "
                           f"seed; confirming with {config.confirm_seeds} more", bar=bar,
                           more_seeds=config.confirm_seeds, **common)
        cand = self.own(seed_metrics)
        bar = self.bar_for(cand)
        common["bar"] = bar
        fresh = seed_metrics[1:] if n > 1 else seed_metrics
        fresh_gain = config.better(statistics.fmean(fresh), best.mean)
        fresh_bar = self.bar_for(self.own(fresh)) if n > 1 else bar
        if gain > bar and fresh_gain > fresh_bar:
            return self.kept(mean, n, gain, bar, ratio, against, common)
        more = self.allocate(seed_metrics, gain, fresh_gain)
        if more is not None:
            whose, k = more
            why = ("the best's uncertainty dominates the bar" if whose == "best"
                   else "its own spread dominates the bar")
            return Verdict(Status.PROMISING, f"{config.metric} {mean:.4g} over {n} seeds is "
                           f"{verb} than {against} by {gain:.3g}, within the bar {bar:.3g}; "
                           f"{why}: {k} more seeds of {'the best' if whose == 'best' else 'it'}",
                           more_seeds=k if whose == "trial" else 0,
                           more_best_seeds=k if whose == "best" else 0, **common)
        if gain <= bar:
            return Verdict(Status.DISCARD, f"{config.metric} {mean:.4g} over {n} seed(s) is not "
                           f"{verb} than {against} by more than the noise bar {bar:.3g}",
                           **common)
        return Verdict(Status.DISCARD, f"the {n} seeds clear the bar {bar:.3g} but the "
                       f"{len(fresh)} confirming seed(s) alone average "
                       f"{statistics.fmean(fresh):.4g}, within the noise bar {fresh_bar:.3g} "
                       f"of {against}", **common)

    def kept(self, mean: float, n: int, gain: float, bar: float, ratio: float | None,
             against: str, common: dict) -> Verdict:
        config = self.config
        flags: tuple[str, ...] = ()
        if (gain > SUSPICIOUS_SIGMAS * self.prior.sigma
                and gain > SUSPICIOUS_FRACTION * abs(self.best_mean)):
            flags = ("suspicious",)
        line = (f"{config.metric} {mean:.4g} over {n} seeds beats {against} by {gain:.3g} "
                f"(bar {bar:.3g})")
        if config.max_compute_ratio and ratio is not None and ratio > config.max_compute_ratio:
            return Verdict(Status.OVER_COMPUTE, f"{line}, but with {ratio:.2f}× the best's "
                           f"train seconds per seed, above max_compute_ratio "
                           f"{config.max_compute_ratio:g}: not kept on the metric alone",
                           flags=flags, **common)
        return Verdict(Status.KEEP, line, flags=flags, **common)

    def allocate(self, values: list[float], gain: float,
                 fresh_gain: float) -> tuple[str, int] | None:
        """("trial" | "best", n more seeds) when more seeds could decide, or None: only when
        both gains are positive and the bar at `max_seeds` seeds of each, with the spreads
        seen so far, would be cleared."""
        most = self.config.max_seeds
        cand, best = self.own(values), self.best_own
        if gain <= 0 or fresh_gain <= 0 or len(values) < 1 + self.config.confirm_seeds:
            return None
        at_most = self.bar_for(self.projected(cand, most), self.projected(best, most))
        if min(gain, fresh_gain) <= at_most:
            return None
        sides = sorted([(best.var / best.n, "best", best.n), (cand.var / cand.n, "trial",
                                                                 cand.n)], reverse=True)
        for _term, whose, n in sides:
            if n < most:
                return whose, min(most - n, max(2, n))
        return None

    def compute_ratio(self, compute: Compute | None) -> float | None:
        if compute is None or not compute.train_s or not self.best_compute.train_s:
            return None
        return compute.train_s / self.best_compute.train_s

    # what people and agents are told ----------------------------------------------
    def unreachable(self) -> str:
        """One line when the best plus the bar (for a trial with the usual seeds) lies beyond
        the metric's declared bound or any value a seed scored; "" when it can be reached."""
        config, best = self.config, self.best_own
        usual = self.bar(1 + config.confirm_seeds)
        beyond = self.beyond(usual)
        if not beyond:
            return ""
        most = config.max_seeds
        # the most hopeful case: a trial with no spread of its own, the best at max_seeds
        widest = self.bar_for(Own(most, 0.0, 0.0, float(most)), self.projected(best, most))
        hope = (f"with {most} seeds of the best (max_seeds) a steady trial faces a bar of "
                f"{widest:.3g}, so a close trial gets more seeds of itself and the best"
                if not self.beyond(widest) else
                f"even {most} seeds of the best (max_seeds) leave a steady trial a bar of "
                f"{widest:.3g}: raise max_seeds, or make the baseline less noisy")
        verb = "below" if config.minimize else "above"
        target = self.best_mean + (-usual if config.minimize else usual)
        return (f"the bar cannot be reached: a keep needs {config.metric} {verb} {target:.4g} "
                f"(best {self.best_mean:.4g} over {best.n} seeds, bar {usual:.3g}), beyond "
                f"{' and '.join(beyond)}; {hope}")

    def beyond(self, bar: float) -> list[str]:
        """What the best plus `bar` lies beyond: the metric's bound, the best value seen."""
        config, out = self.config, []
        room = self.room()
        if room is not None and bar >= room:
            bound = config.metric_min if config.minimize else config.metric_max
            out.append(f"the metric's bound ({bound:g})")
        if self.seen is not None and bar > config.better(self.seen, self.best_mean):
            out.append(f"any value a seed scored ({self.seen:.4g})")
        return out

    @staticmethod
    def describe(config: Config) -> str:
        """The rule in one paragraph, for the agent's prompt (it depends on the config only,
        so the prompt's cached prefix stays stable)."""
        text = (f"a candidate's first seed must beat the best mean by about {config.z_screen} "
                f"standard errors of the seed noise to earn {config.confirm_seeds} fresh seeds; "
                "it is kept only if all its seeds, and the fresh seeds alone, beat the best by "
                "more than a Welch bar, t times sqrt(own sigma^2/n + best sigma^2/n_best) with "
                "t >= 2, each commit's sigma being its own seeds' spread shrunk towards the "
                "lab's pooled sigma, or min_delta="
                f"{config.min_delta:g} if larger. A close call gets more seeds (up to "
                f"{config.max_seeds}) of itself or of the best. A change with less seed-to-seed "
                "spread needs a smaller gain.")
        if config.max_compute_ratio:
            text += (f" A change that trains more than {config.max_compute_ratio:g}x the best's "
                     "seconds per seed is not kept on the metric alone.")
        return text

