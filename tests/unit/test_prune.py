"""The pruning rule on curves: warm-up, margins from the baseline's spread, interpolation."""

from __future__ import annotations

import pytest

from autolab.prune import MIN_MARGIN, mean_curve, rule


def curve(losses, step_s=1.0):
    return [{"step": i, "elapsed_s": (i + 1) * step_s, "train_loss": v}
            for i, v in enumerate(losses)]


BEST = curve([3.0 - 0.1 * i for i in range(20)])                # 3.0 -> 1.1 over 20 s
SEEDS = [curve([3.0 - 0.1 * i + d for i in range(20)]) for d in (-0.02, 0.0, 0.02)]


def test_a_clearly_losing_curve_is_pruned_after_warmup():
    r = rule(BEST, SEEDS, budget_s=20, warmup=0.25)
    losing = curve([3.0 - 0.05 * i for i in range(20)])       # learns at half the speed
    assert r.verdict(losing[:4]) is None                       # 20% of the budget: warm-up
    reason = r.verdict(losing[:8])
    assert reason and "40%" in reason and "above the best" in reason


def test_a_curve_within_the_noise_is_never_pruned():
    r = rule(BEST, SEEDS, budget_s=20, warmup=0.25)
    for seed in SEEDS:
        for n in range(3, 21):
            assert r.verdict(seed[:n]) is None


def test_margin_is_three_sigma_of_the_baseline_seeds_with_a_floor():
    r = rule(BEST, SEEDS, budget_s=20, warmup=0.0)
    f, margin = r.margin[len(r.margin) // 2]
    ref = dict(r.reference)[f]
    assert margin == pytest.approx(max(3 * 0.02, MIN_MARGIN * ref), rel=1e-6)
    quiet = rule(BEST, [BEST, BEST], budget_s=20, warmup=0.0)
    assert all(m == pytest.approx(MIN_MARGIN * dict(quiet.reference)[f]) for f, m in quiet.margin)


def test_nan_points_are_ignored_and_no_rule_without_baseline_spread():
    r = rule(BEST, SEEDS, budget_s=20, warmup=0.0)
    noisy = curve([float("nan")] * 3 + [3.0 - 0.1 * i for i in range(3, 10)])
    assert r.verdict(noisy) is None
    assert rule(BEST, SEEDS[:1], budget_s=20, warmup=0.0) is None


def test_mean_curve_averages_the_seeds():
    mean = mean_curve(SEEDS)
    assert mean and all(p["train_loss"] == pytest.approx(3.0 - 0.1 * (p["elapsed_s"] - 1),
                                                           abs=1e-9) for p in mean)
