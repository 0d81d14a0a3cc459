"""The ledger at scale: append, leaderboard, lineage slice and `autolab status` timings.

    python tests/bench/ledger.py [--trials 100000] [--appends 200]

Seeds a toy lab's ledger branch with N realistic rows, written the way a long
run leaves them (folded into compacted/ files of COMPACT_AT rows), then times
the operations a run and a person use. Targets: append < 20 ms, leaderboard
< 0.5 s, lineage slice < 0.2 s.
"""

from __future__ import annotations

import argparse
import io
import json
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import pyarrow as pa  # noqa: E402
import pyarrow.compute as pc  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402
from conftest import make_lab  # noqa: E402

from autolab.gitops import Repo  # noqa: E402
from autolab.ledger import (  # noqa: E402
    BRANCH,
    COMPACT_AT,
    COMPACTED,
    SCHEMA,
    TREE,
    Ledger,
    _tree_bytes,  # noqa: E402
)
from autolab.records import LedgerRow  # noqa: E402

ROLES = ["architecture", "optimizer", "schedule", "data", "regularization", "efficiency"]
STATUSES = ["discard"] * 70 + ["keep"] * 3 + ["crash"] * 8 + ["timeout"] * 3 + \
    ["rejected"] * 6 + ["duplicate"] * 4 + ["diverged"] * 3 + ["oom"] * 3


def fake_row(i: int, rng: random.Random) -> dict:
    status = rng.choice(STATUSES)
    failed = status not in ("discard", "keep")
    metric = None if failed else 1.5 - i * 2e-6 + rng.gauss(0, 0.01)
    curve = [{"step": s, "elapsed_s": s * 0.6, "train_loss": 3.0 / (1 + s / 10)}
             for s in range(0, 100, 1)]
    return LedgerRow(
        trial_id=f"t{i:06d}", status=status, reason=f"{status} because of reason {i}",
        parent_sha=f"{i // 50:040x}", commit_sha=f"{i:040x}", branch=f"autolab/t{i:06d}",
        pr=f"local:t{i:06d}", source="sweep", role=rng.choice(ROLES),
        hypothesis=f"Set LR from {i} to {i + 1} in train/train.py.", rationale="why not",
        expected_delta=0.0, diff=f"--- a/train/train.py\n+++ b/train/train.py\n@@ -1 +1 @@\n"
        f"-LR = {i}\n+LR = {i + 1}\n", metric=metric, n_seeds=1, seeds=json.dumps([i * 100]),
        seed_metrics=json.dumps([metric] if metric else []),
        delta_vs_best=None if metric is None else rng.gauss(0.01, 0.02),
        curve=json.dumps(curve), log_tail="Traceback ...\nValueError: x" if failed else "",
        started_at="2026-11-23T00:00:00Z", train_s=60.0, eval_s=2.0, wall_s=63.0).as_dict()


def seed_ledger(ledger: Ledger, n: int) -> None:
    """N rows as a long run leaves them: compacted/ files of COMPACT_AT rows each."""
    rng = random.Random(0)
    files = {}
    for start in range(1, n + 1, COMPACT_AT):
        rows = [fake_row(i, rng) for i in range(start, min(n + 1, start + COMPACT_AT))]
        out = io.BytesIO()
        pq.write_table(pa.Table.from_pylist(rows, schema=SCHEMA), out, compression="zstd")
        files[f"{rows[0]['trial_id']}--{rows[-1]['trial_id']}.parquet"] = \
            ledger._store(b"blob", out.getvalue())
    root = ledger._store(b"tree", _tree_bytes([(ledger._tree(files), TREE, COMPACTED)]))
    commit = ledger._commit(root, None, "ledger: seeded")
    ledger.repo.swap_ref(BRANCH, commit.hex(), ledger.head())


def timed(fn, repeat: int = 5) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=100_000)
    parser.add_argument("--appends", type=int, default=200)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = make_lab(Path(tmp) / "lab")
        ledger = Ledger(Repo(root), root / ".autolab")
        t0 = time.perf_counter()
        seed_ledger(ledger, args.trials)
        print(f"seeded {args.trials} rows in {time.perf_counter() - t0:.1f} s")
        t0 = time.perf_counter()
        ledger.sync()
        print(f"first sync of the mirror (a fresh machine): {time.perf_counter() - t0:.2f} s")

        appends = []
        for i in range(args.appends):
            row = LedgerRow(**fake_row(args.trials + 1 + i, random.Random(i)))
            t0 = time.perf_counter()
            ledger.append(row)
            appends.append(time.perf_counter() - t0)
        appends.sort()
        print(f"append: median {statistics.median(appends) * 1e3:.1f} ms, p90 "
              f"{appends[int(0.9 * len(appends))] * 1e3:.1f} ms, max {appends[-1] * 1e3:.1f} ms"
              f" over {args.appends} (target < 20 ms; the max includes a compaction if one "
              f"fell in the window)")

        def leaderboard():
            kept = ledger.table(["trial_id", "metric", "hypothesis"],
                                pc.field("status") == "keep")
            return kept.sort_by("metric").slice(0, 20).to_pylist()

        print(f"leaderboard (top 20 kept by metric): {timed(leaderboard) * 1e3:.0f} ms "
              f"(target < 500 ms)")
        print(f"lineage slice (best, last 20, own failures): "
              f"{timed(lambda: ledger.slice('optimizer', 20)) * 1e3:.0f} ms (target < 200 ms)")
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-m", "autolab", "status"], cwd=root, check=True,
                       capture_output=True)
        print(f"`autolab status` (a new process): {time.perf_counter() - t0:.2f} s")


if __name__ == "__main__":
    main()
