"""Trials per hour at --parallel 1, 2 and 4 against the limit parallel x 3600 / trial_seconds.

    python tests/bench/throughput.py [--trial-seconds 10] [--rounds 4]
    python tests/bench/throughput.py --useful [--trials 16]

Each trial's training is a fixed sleep and its evaluation a no-op, so what is
measured is how well the loop keeps every slot busy. Target: at parallel 4,
within 95% of the limit.

`--useful` runs the known-truth lab (tests/integration/test_known_truth.py) with
pruning on and off, and prints useful trials per hour (trials that ran to a
verdict, pruned ones included), the training seconds pruning saved, and whether
the lab's 3σ winner was kept.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import pytest  # noqa: E402
from conftest import SEED_ONLY, autolab, git, make_lab  # noqa: E402
from rich.console import Console  # noqa: E402

from autolab import config  # noqa: E402
from autolab.agents.sweep import SweepAgent  # noqa: E402
from autolab.assemble import make_loop  # noqa: E402
from autolab.forges.local import LocalForge  # noqa: E402
from autolab.gitops import Repo  # noqa: E402
from autolab.ledger import Ledger  # noqa: E402
from autolab.progress import Progress  # noqa: E402
from autolab.runners.local import LocalRunner  # noqa: E402


def lab_with_knobs(root: Path, seconds: float) -> Path:
    """A lab whose metric ignores its 40 constants: every trial is one seed, then discard."""
    make_lab(root, body=SEED_ONLY, sigma=0.0, sleep=seconds, timeout=seconds * 3 + 30,
             budget=seconds + 5, init=False)
    path = root / "train" / "train.py"
    knobs = "".join(f"K{i} = {i + 1}\n" for i in range(40))
    path.write_text(path.read_text().replace("USE_NORM = False\n", f"USE_NORM = False\n{knobs}"))
    git(root, "commit", "-qam", "knobs")
    autolab(root, "init")
    return root


def measure(parallel: int, trials: int, seconds: float) -> tuple[float, float]:
    with tempfile.TemporaryDirectory() as tmp:
        root = lab_with_knobs(Path(tmp) / "lab", seconds)
        lab = config.load(root)
        runner = LocalRunner(lab, parallel=parallel)
        loop = make_loop(lab, LocalForge(lab), runner, SweepAgent(), Ledger(Repo(root), lab.home),
                         Progress(Console(quiet=True), lab.config.metric))
        loop.ensure_baseline(parallel)
        t0 = time.perf_counter()
        loop.run(trials, parallel)
        wall = time.perf_counter() - t0
        runner.close()
    return trials / wall * 3600, parallel * 3600 / seconds


def useful(trials: int, prune: bool) -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "integration"))
    from test_known_truth import known_lab
    with tempfile.TemporaryDirectory() as tmp, pytest.MonkeyPatch.context() as patch:
        root = known_lab(Path(tmp) / "lab", patch)
        autolab(root, "baseline")
        t0 = time.perf_counter()
        autolab(root, "run", "--trials", str(trials), "--prune" if prune else "--no-prune",
                timeout=3600)
        wall = time.perf_counter() - t0
        lab = config.load(root)
        rows = [r for r in Ledger(Repo(root), lab.home).rows() if r.status != "baseline"]
    ended = [r for r in rows if r.status in ("keep", "discard", "held", "stale", "pruned")]
    pruned = [r for r in rows if r.status == "pruned"]
    saved = sum(lab.config.budget_seconds - r.train_s for r in pruned)
    winner = any("+TRICK = True" in r.diff and r.status == "keep" for r in rows)
    seeds = sum(len(json.loads(r.seeds)) for r in rows)
    print(f"pruning {'on ' if prune else 'off'}: {len(ended) / wall * 3600:7.1f} useful "
          f"trials/hour ({len(ended)} in {wall:.0f} s, {seeds} seeds), {len(pruned)} pruned "
          f"saving {saved:.1f} train-s; 3σ winner kept: {winner}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trial-seconds", type=float, default=10.0)
    parser.add_argument("--rounds", type=int, default=4, help="trials per slot")
    parser.add_argument("--useful", action="store_true",
                        help="useful trials per hour on the known-truth lab, pruning on and off")
    parser.add_argument("--trials", type=int, default=16, help="with --useful")
    args = parser.parse_args()
    if args.useful:
        for prune in (True, False):
            useful(args.trials, prune)
        return
    print(f"trial length {args.trial_seconds:g} s (training sleep; evaluation a no-op)")
    for parallel in (1, 2, 4):
        achieved, limit = measure(parallel, parallel * args.rounds, args.trial_seconds)
        print(f"parallel {parallel}: {achieved:7.1f} trials/hour, limit {limit:7.1f}, "
              f"{100 * achieved / limit:5.1f}% of the limit")


if __name__ == "__main__":
    main()
