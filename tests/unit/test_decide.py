"""Noise-aware verdicts (README, "Deciding honestly"), and their error rates by simulation."""

from __future__ import annotations

import math
import random
import statistics

import pytest

from autolab.config import parse
from autolab.decide import Noise, judge, noise_bar, pooled, screen_bar, spread
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

def test_screen_bar_formula_and_min_delta():
    assert screen_bar(config(), NOISE, 3) == pytest.approx(0.01 * math.sqrt(1 + 1 / 3))
    assert screen_bar(config(z_screen=2.0), NOISE, 3) == pytest.approx(0.02 * math.sqrt(4 / 3))
    assert screen_bar(config(min_delta=0.5), NOISE, 3) == 0.5


def test_first_seed_within_the_screen_is_discarded():
    v = judge(config(), [0.99], best(1.0), NOISE)
    assert v.status == "discard"
    assert v.metric == pytest.approx(0.99)
    assert v.delta_vs_best == pytest.approx(-0.01)
    assert v.bar == pytest.approx(screen_bar(config(), NOISE, 3))
    assert "screen bar" in v.reason


def test_worse_is_discarded():
    assert judge(config(), [1.2], best(1.0), NOISE).status == "discard"


def test_clear_first_seed_is_only_promising():
    v = judge(config(), [0.9], best(1.0), NOISE)
    assert v.status == "promising"
    assert v.n_seeds == 1
    assert "3 more" in v.reason


def test_the_screen_is_lenient_a_first_seed_far_below_the_strict_bar_is_confirmed():
    gain = 0.02     # 2σ: half the strict bar for one seed, twice the screen
    assert gain < noise_bar(config(), NOISE, 1, 3) / 2 and gain > screen_bar(config(), NOISE, 3)
    assert judge(config(), [1.0 - gain], best(1.0), NOISE).status == "promising"


def test_confirmed_gain_is_kept():
    v = judge(config(), [0.9, 0.9, 0.9, 0.9], best(1.0), NOISE)
    assert v.status == "keep"
    assert v.n_seeds == 4
    assert v.metric_std == pytest.approx(0.0)
    assert v.flags == ()


def test_lucky_first_seed_with_plain_confirming_seeds_is_discarded():
    # the mean over all four seeds still clears the bar; the fresh seeds alone do not
    seeds = [0.8, 0.99, 0.99, 0.99]
    assert config().better(statistics.fmean(seeds), 1.0) > noise_bar(config(), NOISE, 4, 3)
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


# the whole procedure, by simulation ----------------------------------------------

LIFE = 16       # trials per simulated lab life


def lab_life(rng: random.Random, cfg, shifts: list[float]) -> list[tuple[str, int]]:
    """One lab as the loop runs it: a baseline, then trials one after another, each judged
    screen -> confirm -> keep against the best so far, with σ pooled as Loop.noise pools it
    (the baseline's seeds and every confirmed trial's confirming seeds). A trial's shift is
    its true improvement, in σ, over the current best's true value. (verdict, seeds) each."""
    base = [rng.gauss(0.0, 1.0) for _ in range(cfg.baseline_seeds)]
    groups = [base]
    row, truth, out = best(statistics.fmean(base), statistics.stdev(base), len(base)), 0.0, []
    for shift in shifts:
        mean, noise = truth + (-shift if cfg.direction == "minimize" else shift), pooled(groups)
        seeds = [rng.gauss(mean, 1.0)]
        verdict = judge(cfg, seeds, row, noise)
        if verdict.status == "promising":
            seeds += [rng.gauss(mean, 1.0) for _ in range(cfg.confirm_seeds)]
            verdict = judge(cfg, seeds, row, noise)
            groups.append(seeds[1:])
        if verdict.status == "keep":
            row, truth = best(verdict.metric, verdict.metric_std, len(seeds)), mean
        out.append((verdict.status, len(seeds)))
    return out


def false_keeps(cfg, lives: int, seed: int) -> tuple[float, float]:
    """Keeps per trial, and seeds per trial, over lab lives where no change does anything."""
    rng = random.Random(seed)
    ends = [e for _ in range(lives) for e in lab_life(rng, cfg, [0.0] * LIFE)]
    return (sum(v == "keep" for v, _n in ends) / len(ends),
            statistics.fmean(n for _v, n in ends))


def power(cfg, shift: float, lives: int, seed: int) -> float:
    """How often a change `shift` σ better is kept, coming at any point of a lab's life."""
    rng, kept = random.Random(seed), 0
    for _ in range(lives):
        at = rng.randrange(LIFE)
        kept += lab_life(rng, cfg, [0.0] * at + [shift])[at][0] == "keep"
    return kept / lives


def test_whole_procedure_false_keeps_and_power():
    """Screen, confirm, keep, over sequential trials with σ estimated as the loop does."""
    cfg = config()
    rate, seeds = false_keeps(cfg, 1200, seed=20240601)
    powers = {d: power(cfg, d, 500, seed=int(d)) for d in (2.0, 3.0, 5.0)}
    print(f"\nbaseline {cfg.baseline_seeds} seeds, {cfg.confirm_seeds} confirming, z_screen "
          f"{cfg.z_screen}: false keeps {rate:.2%} per A/A trial, {seeds:.2f} seeds per trial; "
          + ", ".join(f"power {p:.0%} at {d:g}σ" for d, p in powers.items()))
    assert rate <= 0.01
    assert powers[3.0] >= 0.80
    assert powers[2.0] < powers[3.0] < powers[5.0]
    assert seeds < 1.6          # most trials cost one seed


def test_fresh_seeds_are_what_guard_against_luck():
    """Judging on the first seed alone, even at the strict bar, lets more luck through."""
    one_seed, _seeds = false_keeps(config(confirm_seeds=0), 600, seed=7)
    assert one_seed > 1.5 * false_keeps(config(), 600, seed=7)[0]


def test_power_maximize_mirrors_minimize():
    cfg = config(direction="maximize")
    rng = random.Random(3)
    kept = sum(lab_life(rng, cfg, [-8.0])[0][0] == "keep" for _ in range(300))
    assert kept == 0                       # 8σ worse, for a metric where higher is better
    assert power(cfg, 5.0, 300, seed=3) > 0.95
