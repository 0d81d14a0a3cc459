"""The pruning rule on curves: earned from completed trials, margins from the baseline, audit."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from autolab.prune import MIN_MARGIN, Audit, rule, spearman


def curve(losses, step_s=1.0):
    return [{"step": i, "elapsed_s": (i + 1) * step_s, "train_loss": v}
            for i, v in enumerate(losses)]


def learner(speed: float, offset: float = 0.0):
    """20 s of training; a faster learner ends lower."""
    return curve([3.0 - speed * 0.1 * i + offset for i in range(20)])


SEEDS = [learner(1.0, d) for d in (-0.02, 0.0, 0.02)]
# completed trials whose curves rank the same all along as their final metric
SPEEDS = (0.6, 0.7, 0.8, 0.9, 1.0, 1.05, 1.1, 1.2)
PREDICTIVE = [(learner(s), 3.0 - 1.9 * s) for s in SPEEDS]


def made(completed=PREDICTIVE, warmup=0.25, minimize=True):
    return rule(completed, SEEDS, budget_s=20, warmup=warmup, min_trials=8, minimize=minimize)


def test_no_rule_until_enough_completed_trials():
    r, why = made(PREDICTIVE[:7])
    assert r is None and "waits for 8 completed trials" in why and "7 so far" in why


def test_a_clearly_losing_curve_is_pruned_once_loss_is_shown_to_predict():
    r, why = made()
    assert r is not None and "pruning from 25%" in why
    losing = learner(0.3)
    assert r.verdict(losing[:4]) is None                       # 20% of the budget: warm-up
    reason = r.verdict(losing[:8])
    assert reason and "40%" in reason and "median" in reason


def test_curves_within_the_noise_or_better_are_never_pruned():
    r, _why = made()
    for c in [*SEEDS, learner(1.3), learner(1.0, 0.04)]:
        for n in range(3, 21):
            assert r.verdict(c[:n]) is None


def test_crossing_curves_keep_pruning_off_where_the_order_breaks():
    # early on, the trials that end best train worst: nothing before the crossing is trusted
    crossing = [(curve([3.0 + (s - 1) * (1.0 if i < 10 else -1.0) * 0.5 - 0.1 * i
                        for i in range(20)]), 3.0 - s) for s in SPEEDS]
    r, why = made(crossing)
    assert r is None or r.warmup > 0.5, why
    flat = [(learner(1.0, 0.001 * i), m) for i, m in enumerate((3, 1, 4, 1, 5, 9, 2, 6))]
    r, why = made(flat)     # loss unrelated to the metric: no rule at all
    assert r is None and "does not predict" in why


def test_maximize_flips_the_sign_of_the_correlation():
    r, _why = made([(c, -m) for c, m in PREDICTIVE], minimize=False)
    assert r is not None
    assert made(PREDICTIVE, minimize=False)[0] is None


def test_margin_is_three_sigma_of_the_baseline_seeds_with_a_floor():
    r, _why = made(warmup=0.0)
    f, margin = r.margin[len(r.margin) // 2]
    ref = dict(r.reference)[f]
    assert margin == pytest.approx(max(3 * 0.02, MIN_MARGIN * ref), rel=1e-6)
    quiet, _why = rule(PREDICTIVE, [SEEDS[1], SEEDS[1]], 20, 0.0, 8, True)
    assert all(m == pytest.approx(MIN_MARGIN * dict(quiet.reference)[f]) for f, m in quiet.margin)


def test_nan_points_are_ignored_and_no_rule_without_baseline_spread():
    r, _why = made(warmup=0.0)
    noisy = curve([float("nan")] * 3 + [3.0 - 0.1 * i for i in range(3, 10)])
    assert r.verdict(noisy) is None
    assert rule(PREDICTIVE, SEEDS[:1], 20, 0.0, 8, True)[0] is None


def test_replay_finds_the_first_moment_the_rule_would_have_stopped_a_run():
    r, _why = made()
    assert "of the budget" in r.replay(learner(0.3))
    assert r.replay(learner(1.2)) == ""


def test_spearman_ranks_with_ties():
    assert spearman([1, 2, 3, 4], [10, 20, 30, 40]) == pytest.approx(1.0)
    assert spearman([1, 2, 3, 4], [4, 3, 2, 1]) == pytest.approx(-1.0)
    assert spearman([1, 1, 1], [1, 2, 3]) == 0.0


def test_audit_counts_would_be_prunes_and_wrong_ones():
    row = lambda audit, would, wrong: SimpleNamespace(audit=audit, would_prune=would,  # noqa: E731
                                                      prune_wrong=wrong)
    audit = Audit.of([row(1, "pruned at 30%", 1), row(1, "pruned at 40%", 0), row(1, "", 0),
                      row(0, "", 0), row(None, "", None)])
    assert (audit.audited, audit.would, audit.wrong) == (3, 2, 1)
    assert audit.false_rate == pytest.approx(0.5) and "false-prune rate 50%" in audit.line()
    assert Audit.of([]).false_rate is None
