"""Noise-aware verdicts (DESIGN.md section 5), including their error rates by simulation."""

from __future__ import annotations

import math
import random
import statistics

import pytest

from autolab.config import parse
from autolab.decide import Noise, judge, noise_bar, pooled, spread
from autolab.records import ScoreRow

TABLE = {"objective": "o", "metric": "score", "direction": "minimize",
         "train_command": "t", "evaluate_command": "e", "editable": ["train/**"],
         "frozen": ["evaluator/**"]}


def config(**changes):
    return parse({**TABLE, **changes}, "/lab/pyproject.toml")


def best(metric: float, std: float = 0.01, n: int = 3) -> ScoreRow:
    return ScoreRow("baseline", "", "c0", "", metric, std, n, 0.0, "baseline", "", "", "")


NOISE = Noise(sigma=0.01, dof=2)       # a 3-seed baseline: k is t(2) = 4.303


# pooled / noise_bar ------------------------------------------------------------

def test_pooled_single_group_is_its_sample_stdev():
    noise = pooled([[1.0, 2.0, 3.0]])
    assert noise.dof == 2
    assert noise.sigma == pytest.approx(1.0)


def test_pooled_weights_groups_by_degrees_of_freedom():
    a, b = [1.0, 2.0, 3.0], [10.0, 14.0]          # variances 1 (dof 2) and 8 (dof 1)
    noise = pooled([a, b, [7.0]])                  # a single seed adds nothing
    assert noise.dof == 3
    assert noise.sigma == pytest.approx(math.sqrt((1 * 2 + 8 * 1) / 3))


def test_pooled_without_repeats_is_zero():
    assert pooled([[1.0], [2.0]]) == Noise(0.0, 0)
    assert pooled([]) == Noise(0.0, 0)


@pytest.mark.parametrize("dof, k", [(1, 12.71), (2, 4.303), (3, 3.182), (5, 2.571),
                                    (11, 2.228), (0, 2.0)])
def test_k_is_student_t_for_few_seeds(dof, k):
    assert Noise(1.0, dof).k == pytest.approx(k)


def test_k_shrinks_with_dof_and_approaches_two():
    ks = [Noise(1.0, d).k for d in range(1, 200)]
    assert ks == sorted(ks, reverse=True)
    assert 2.0 <= Noise(1.0, 1000).k <= 2.05


def test_k_is_two_beyond_the_table():
    assert Noise(1.0, 1000).k == 2.0


def test_noise_bar_formula_and_min_delta():
    bar = noise_bar(config(), NOISE, 1, 3)
    assert bar == pytest.approx(4.303 * 0.01 * math.sqrt(1 + 1 / 3))
    assert noise_bar(config(min_delta=0.5), NOISE, 1, 3) == 0.5
    assert noise_bar(config(), NOISE, 3, 3) < bar        # more seeds, narrower bar


def test_spread():
    assert spread([1.0]) == 0.0
    assert spread([1.0, 3.0]) == pytest.approx(math.sqrt(2))


# judge ------------------------------------------------------------------------

def test_within_noise_is_discarded():
    v = judge(config(), [0.99], best(1.0), NOISE)
    assert v.status == "discard"
    assert v.metric == pytest.approx(0.99)
    assert v.delta_vs_best == pytest.approx(-0.01)
    assert v.bar == pytest.approx(noise_bar(config(), NOISE, 1, 3))
    assert "noise bar" in v.reason


def test_worse_is_discarded():
    assert judge(config(), [1.2], best(1.0), NOISE).status == "discard"


def test_clear_first_seed_is_only_promising():
    v = judge(config(), [0.9], best(1.0), NOISE)
    assert v.status == "promising"
    assert v.n_seeds == 1
    assert "2 more" in v.reason


def test_confirmed_gain_is_kept():
    v = judge(config(), [0.9, 0.9, 0.9], best(1.0), NOISE)
    assert v.status == "keep"
    assert v.n_seeds == 3
    assert v.metric_std == pytest.approx(0.0)
    assert v.flags == ()


def test_lucky_first_seed_with_plain_confirming_seeds_is_discarded():
    # the mean over all three seeds still clears the bar; the fresh seeds alone do not
    seeds = [0.8, 0.99, 0.99]
    assert config().better(statistics.fmean(seeds), 1.0) > noise_bar(config(), NOISE, 3, 3)
    v = judge(config(), seeds, best(1.0), NOISE)
    assert v.status == "discard"
    assert "confirming" in v.reason


def test_no_confirm_seeds_keeps_on_one_seed():
    v = judge(config(confirm_seeds=0), [0.9], best(1.0), NOISE)
    assert v.status == "keep"


def test_huge_gain_is_kept_but_suspicious():
    v = judge(config(), [0.5, 0.5, 0.5], best(1.0), NOISE)
    assert v.status == "keep"
    assert v.flags == ("suspicious",)


def test_many_sigmas_but_small_fraction_is_not_suspicious():
    # 20σ better, but only 2% of the metric: plausible
    v = judge(config(), [9.8, 9.8, 9.8], best(10.0), NOISE)
    assert v.status == "keep"
    assert v.flags == ()


def test_maximize_direction():
    cfg = config(direction="maximize")
    assert judge(cfg, [1.1, 1.1, 1.1], best(1.0), NOISE).status == "keep"
    assert judge(cfg, [0.9, 0.9, 0.9], best(1.0), NOISE).status == "discard"
    assert judge(cfg, [1.1], best(1.0), NOISE).status == "promising"
    v = judge(cfg, [1.2, 1.01, 1.01], best(1.0), NOISE)
    assert v.status == "discard" and "confirming" in v.reason
    assert v.delta_vs_best == pytest.approx(statistics.fmean([1.2, 1.01, 1.01]) - 1.0)


# error rates, by simulation ------------------------------------------------------

def trial(rng: random.Random, cfg, shift: float) -> str:
    """One lab life: a 3-seed baseline, then one candidate through promising -> confirm."""
    base = [rng.gauss(0.0, 1.0) for _ in range(cfg.baseline_seeds)]
    noise = pooled([base])
    row = best(statistics.fmean(base), statistics.stdev(base), len(base))
    seeds = [rng.gauss(shift, 1.0)]
    verdict = judge(cfg, seeds, row, noise)
    while verdict.status == "promising":
        seeds.append(rng.gauss(shift, 1.0))
        verdict = judge(cfg, seeds, row, noise)
    return verdict.status


def keep_rate(shift: float, n: int, seed: int) -> float:
    rng, cfg = random.Random(seed), config()
    return sum(trial(rng, cfg, shift) == "keep" for _ in range(n)) / n


def test_aa_false_keep_rate_is_small():
    """A candidate from the baseline's own distribution is almost never kept."""
    rate = keep_rate(0.0, 6000, seed=20240601)
    assert rate < 0.015


def test_single_seed_luck_alone_would_be_kept_far_more_often():
    """The confirm step matters: judging on the first seed alone lets luck through."""
    rng, cfg = random.Random(7), config(confirm_seeds=0)
    rate = sum(trial(rng, cfg, 0.0) == "keep" for _ in range(4000)) / 4000
    assert rate > 2 * keep_rate(0.0, 4000, seed=7)


def test_power_eight_sigma_improvement_is_kept():
    rate = keep_rate(-8.0, 5000, seed=11)   # about 0.907 in the long run
    assert rate > 0.90


def test_power_maximize_mirrors_minimize():
    rng, cfg = random.Random(3), config(direction="maximize")
    rate = sum(trial(rng, cfg, 8.0) == "keep" for _ in range(1500)) / 1500
    assert rate > 0.85
    rng = random.Random(3)
    assert sum(trial(rng, cfg, -8.0) == "keep" for _ in range(300)) == 0
