"""Control-plane overhead per trial: everything autolab does except train and evaluate.

    python tests/bench/overhead.py [--trials 20] [--parallel 1]

Runs a toy lab whose train and evaluate commands are near no-ops, times each
trial from its admission to its ledger row, subtracts the time spent inside the
two commands, and prints the median and p90 overhead. Target: median < 0.5 s.
It runs the same trials unconfined and in the sandbox, and prints what the
sandbox adds to the two commands of one trial. Target: < 0.2 s.
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from conftest import make_lab  # noqa: E402
from rich.console import Console  # noqa: E402

from autolab import config  # noqa: E402
from autolab.agents.sweep import SweepAgent  # noqa: E402
from autolab.forges.local import LocalForge  # noqa: E402
from autolab.gitops import Repo  # noqa: E402
from autolab.ledger import Ledger  # noqa: E402
from autolab.loop import Loop  # noqa: E402
from autolab.progress import Progress  # noqa: E402
from autolab.pruner import Pruner  # noqa: E402
from autolab.report import Reporter  # noqa: E402
from autolab.runners.local import LocalRunner  # noqa: E402


class TimedLoop(Loop):
    """Stamps each trial's start (admission) and end (ledger row written)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.started: dict[str, float] = {}
        self.ended: dict[str, float] = {}

    def start(self, proposal):
        self.started[self.next_trial_id()] = time.perf_counter()
        super().start(proposal)

    def append_row(self, row):
        super().append_row(row)
        self.ended[row.trial_id] = time.perf_counter()


def measure(trials: int, parallel: int, sandbox: str) -> tuple[list[float], list[float]]:
    """(control-plane overhead, seconds inside train + evaluate) of each trial."""
    with tempfile.TemporaryDirectory() as tmp:
        root = make_lab(Path(tmp) / "lab", sigma=0.0)
        lab = config.load(root)
        runner_config = dataclasses.replace(lab.config.runner, sandbox=sandbox)
        lab = dataclasses.replace(lab, config=dataclasses.replace(lab.config,
                                                                  runner=runner_config))
        runner = LocalRunner(lab, parallel=parallel)
        ledger, forge = Ledger(Repo(root), lab.home), LocalForge(lab)
        progress = Progress(Console(quiet=True), lab.config.metric)
        # the parts assemble.make_loop gives a Loop, given to the timed subclass
        loop = TimedLoop(lab, forge, runner, SweepAgent(), ledger, progress,
                         pruner=Pruner(lab.config, ledger, forge.scores, progress.note),
                         reporter=Reporter(lab, ledger))
        loop.ensure_baseline(parallel)
        t0 = time.perf_counter()
        loop.run(trials, parallel)
        wall = time.perf_counter() - t0
        runner.close()
        rows = {r.trial_id: r for r in ledger.rows()}
        overheads, commands = [], []
        for trial_id, start in loop.started.items():
            row = rows[trial_id]
            commands.append((row.train_s + row.eval_s) / max(row.n_seeds, 1))
            overheads.append(loop.ended[trial_id] - start - row.train_s - row.eval_s)
        overheads.sort()
        print(f"sandbox {runner.sandbox.name}: trials {len(overheads)}, parallel {parallel}, "
              f"wall {wall:.2f} s")
        print(f"  overhead per trial: median {statistics.median(overheads):.3f} s, "
              f"p90 {overheads[int(0.9 * (len(overheads) - 1))]:.3f} s, "
              f"max {overheads[-1]:.3f} s (target: median < 0.5 s)")
        print(f"  train + evaluate of a no-op lab, per seed: median "
              f"{statistics.median(commands):.3f} s")
        return overheads, commands


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--parallel", type=int, default=1)
    args = parser.parse_args()
    _, bare = measure(args.trials, args.parallel, "none")
    _, boxed = measure(args.trials, args.parallel, "auto")
    added = statistics.median(boxed) - statistics.median(bare)
    print(f"sandbox start-up added per trial (both commands): {added:.3f} s (target: < 0.2 s)")


if __name__ == "__main__":
    main()
