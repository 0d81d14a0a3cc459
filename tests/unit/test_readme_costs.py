"""Every cost figure in README.md, computed from the code's defaults and the default lab.

The default lab is this repository's own `[tool.autolab]` (H100, `timeout_seconds` 240,
5 baseline seeds, 3 confirm seeds); the Claude figures use the agent's default model. A
change to a price, a limit or a default that moves a figure fails here until the README
says the new one.
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from autolab import config
from autolab.agents import claude
from autolab.runners import modal_app
from autolab.runners.modal_runner import PREEMPTIONS_HELD, Rate

ROOT = Path(__file__).parents[2]


@pytest.fixture(scope="module")
def readme() -> str:
    return " ".join((ROOT / "README.md").read_text().split())     # one line, single spaces


@pytest.fixture(scope="module")
def figures() -> dict:
    lab = config.load(ROOT).config
    spec = modal_app.Spec.of(lab, 1)
    rate = Rate.of(modal_app.ModalSettings.of(lab), spec, "README")
    job_s = (65 + 20) + (10 + 20)       # the example: 65 s training, 10 s evaluation, 20 s starts
    gpu, cpu = rate.usd(job_s)
    hold_s = (2 + PREEMPTIONS_HELD) * (modal_app.STARTUP_S + spec.timeout_s)
    hold = sum(rate.usd(hold_s))
    trial_jobs = 1 + lab.confirm_seeds
    prepare_s = modal_app.STARTUP_S + modal_app.PREPARE_S
    per_in, per_out = claude.PRICES[claude.DEFAULT_MODEL]
    call = (2000 * per_in + 6000 * per_in * claude.CACHE_READ + 800 * per_out) / 1e6
    worst = (8000 * per_in * claude.CACHE_WRITE + claude.MAX_TOKENS * per_out) / 1e6
    job = gpu + cpu
    return dict(lab=lab, spec=spec, rate=rate, gpu=gpu, cpu=cpu, job=job, hold_s=hold_s,
                hold=hold, trial_jobs=trial_jobs, room=trial_jobs * hold, prepare_s=prepare_s,
                prepare=sum(rate.usd(0.0, prepare_s)), per_in=per_in, per_out=per_out,
                call=call, worst=worst, baseline=lab.baseline_seeds * job)


def test_the_defaults_are_the_ones_the_readme_assumes(figures):
    lab, spec = figures["lab"], figures["spec"]
    assert (spec.gpu, spec.cpu, spec.memory_mib) == ("H100", 4.0, 16384)
    assert spec.timeout_s == math.ceil(lab.timeout_seconds) + modal_app.SETUP_S == 300
    assert (lab.baseline_seeds, lab.confirm_seeds) == (5, 3)
    assert claude.DEFAULT_MODEL == "claude-sonnet-4-6"


def test_the_container_hour_and_the_worked_job(readme, figures):
    rate = figures["rate"]
    assert (f"One container-hour costs {rate.gpu:g} + 4 × 0.04716 + 16 × 0.007992 = "
            f"${rate.gpu + rate.cpu:.4f}") in readme
    assert (f"${figures['gpu']:.4f} of GPU plus ${figures['cpu']:.4f} of CPU and memory, "
            f"${figures['job']:.4f} in all") in readme


def test_what_a_job_and_a_trial_are_held_at(readme, figures):
    stage = modal_app.STARTUP_S + figures["spec"].timeout_s
    assert (f"Until it ends it is held at {2 + PREEMPTIONS_HELD} × ({modal_app.STARTUP_S} + "
            f"{figures['spec'].timeout_s}) = {figures['hold_s']:,} s, ${figures['hold']:.2f}"
            ) in readme and figures["hold_s"] == 3 * stage
    n = figures["trial_jobs"]
    assert (f"a new trial (its seed and {n - 1} confirm seeds, {n} jobs) starts only while "
            f"{n} × {figures['hold_s']:,} s, ${figures['room']:.2f}, is left under "
            "`max_usd`") in readme
    assert (f"the preparation holds {figures['prepare_s']:,} s of CPU and memory more, "
            f"${figures['prepare']:.2f}") in readme
    assert f"`max_usd` needs ${figures['room']:.2f} of room for the trial to start" in readme


def test_the_agents_figures(readme, figures):
    per_in, per_out = figures["per_in"], figures["per_out"]
    assert (f"(2,000 × {per_in:g} + 6,000 × {per_in * claude.CACHE_READ:g} + 800 × "
            f"{per_out:g}) / 10⁶ = ${figures['call']:.4f}") in readme
    assert (f"(8,000 × {per_in:g} × {claude.CACHE_WRITE:g} + {claude.MAX_TOKENS:,} × "
            f"{per_out:g}) / 10⁶ = ${figures['worst']:.4f}") in readme
    n = figures["trial_jobs"]
    assert (f"costs about ${figures['call']:.4f} + {n} × ${figures['job']:.4f} = "
            f"${figures['call'] + n * figures['job']:.3f}") in readme


def test_a_fresh_lab_and_the_smallest_cap_that_runs_a_trial(readme, figures):
    lab, job = figures["lab"], figures["job"]
    fewest, most = lab.baseline_seeds + 1, lab.baseline_seeds + 1 + lab.confirm_seeds
    assert (f"that is {fewest} to {most} jobs ({lab.baseline_seeds} baseline seeds, the "
            f"trial's seed, and {lab.confirm_seeds} confirm seeds if it passes the screen) of "
            f"about two container-minutes each, ${fewest * job:.2f} to ${most * job:.2f} on an "
            "H100") in readme
    least = figures["baseline"] + figures["room"] + figures["worst"]
    assert (f"the baseline's {lab.baseline_seeds} seeds cost {lab.baseline_seeds} × "
            f"${job:.4f} = ${figures['baseline']:.2f} first, so a `max_usd` under about "
            f"${figures['baseline']:.2f} + ${figures['room']:.2f} + ${figures['worst']:.4f} = "
            f"${least:.2f} runs the baseline and no trial") in readme
