"""How long the HTML dashboard takes for a big lab: prints its figures, asserts nothing.

    python tests/bench/dashboard.py [--trials 10000]

The rows are synthetic but shaped like a real night's ledger (every status, roles and
sources, 100-point loss curves, parallel start times); they are written to one Parquet
file with the ledger's schema and read back, so the figures include decoding the rows.
`synthetic_rows` also feeds the dashboard's integration test.
"""

from __future__ import annotations

import argparse
import json
import random
import tempfile
import time
import tomllib
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from autolab import config as config_mod
from autolab import dashboard
from autolab.ledger import SCHEMA
from autolab.records import LedgerRow, ScoreRow

ROLES = ("architecture", "optimizer", "schedule", "data", "regularization", "efficiency")
SOURCES = ("claude", "claude", "claude", "sweep", "human", "try:12")
# (status, weight): what a night of agent proposals tends to end as
ENDINGS = (("discard", 52), ("keep", 6), ("crash", 8), ("timeout", 3), ("oom", 2),
           ("diverged", 2), ("rejected", 8), ("duplicate", 3), ("gate_failed", 2),
           ("integrity_mismatch", 1), ("eval_error", 1), ("infra_error", 2), ("stale", 2),
           ("no_artifact", 1))
CONFIG = """
[tool.autolab]
objective = "lowest val_bpb"
metric = "val_bpb"
direction = "minimize"
train_command = "python train/train.py"
evaluate_command = "python -m evaluator"
editable = ["train/**"]
frozen = ["evaluator/**"]
"""
T0 = datetime(2026, 1, 5, 22, 0, tzinfo=UTC)


def curve(start: float, end: float, rng: random.Random, diverge: bool = False) -> str:
    points = []
    for step in range(0, 1000, 10):
        frac = step / 1000
        loss = end + (start - end) * (1 - frac) ** 3 + rng.gauss(0, 0.01)
        if diverge and frac > 0.6:
            loss = start * (1 + 10 * (frac - 0.6))
        points.append({"step": step, "elapsed_s": round(frac * 60, 2),
                       "train_loss": round(loss, 4)})
    return json.dumps(points)


def synthetic_rows(n: int, seed: int = 0, first: int = 1, slots: int = 4,
                   baseline: float = 1.60, t0: datetime = T0) -> list[LedgerRow]:
    """n trials t<first>.. as a lab running `slots` at once from `t0` would write them."""
    rng = random.Random(seed)
    statuses, weights = zip(*ENDINGS, strict=True)
    best, free = baseline, [t0] * slots
    rows = []
    for i in range(first, first + n):
        status = rng.choices(statuses, weights)[0]
        role, source = rng.choice(ROLES), rng.choice(SOURCES)
        ran = status not in ("rejected", "duplicate")
        wall = rng.uniform(55, 75) if ran else 0.0
        slot = min(range(slots), key=lambda k: free[k])
        start = free[slot]
        if ran:
            free[slot] = start + timedelta(seconds=wall + rng.uniform(1, 5))
        metric = std = delta = None
        n_seeds = 0
        if status in ("keep", "discard", "stale"):
            n_seeds = 3 if status != "discard" else 1
            gain = rng.uniform(0.005, 0.03) if status != "discard" else -abs(rng.gauss(0, 0.03))
            metric = best - gain
            std = rng.uniform(0.002, 0.006) if n_seeds > 1 else 0.0
            delta = metric - best
            if status == "keep":
                best = metric
        claude = source == "claude"
        rows.append(LedgerRow(
            trial_id=f"t{i:04d}", status=status, role=role, source=source,
            reason={"keep": "beats the best by more than the noise bar",
                    "discard": "not lower than the best by more than the noise bar",
                    "crash": "train exited 1: RuntimeError: shape mismatch",
                    "rejected": "the diff touches a frozen path"}.get(status, status),
            hypothesis=f"{role}: change {rng.choice(['LR', 'WIDTH', 'DEPTH', 'WARMUP'])} "
                       f"to {rng.choice([0.5, 2, 3, 0.003])}",
            commit_sha=f"{rng.getrandbits(160):040x}" if ran else "",
            pr=f"local:t{i:04d}" if ran else "",
            metric=metric, metric_std=std, n_seeds=n_seeds, delta_vs_best=delta,
            curve=curve((metric or best) + 2.5, (metric or best) + 0.1, rng,
                        status == "diverged")
            if ran and status not in ("integrity_mismatch", "infra_error") else "[]",
            flags="suspicious" if status == "keep" and rng.random() < 0.1 else "",
            secondary=json.dumps({"params": 811_000, "train_seconds": 60.0}),
            runner="modal" if ran else "", gpu="H100" if ran else "",
            started_at=start.strftime("%Y-%m-%dT%H:%M:%SZ"),
            train_s=wall * 0.9 if ran else 0.0, eval_s=wall * 0.1 if ran else 0.0,
            wall_s=wall, tokens_in=9000 if claude else 0, tokens_out=800 if claude else 0,
            cost_usd=0.04 if claude else 0.0,
            log_tail="Traceback (most recent call last):\nRuntimeError: shape mismatch"
            if status == "crash" else ""))
    return rows


def frontier_of(rows: list[LedgerRow], baseline: float = 1.60) -> list[ScoreRow]:
    base = ScoreRow("baseline", "", "0" * 40, "", baseline, 0.004, 3, 0.0, "baseline", "", "",
                    T0.strftime("%Y-%m-%dT%H:%M:%SZ"))
    kept = [ScoreRow(r.trial_id, r.pr, r.commit_sha, "", r.metric, r.metric_std, r.n_seeds,
                     r.delta_vs_best, r.hypothesis, "", "", r.started_at)
            for r in rows if r.status == "keep"]
    return [base, *kept]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=10_000)
    args = parser.parse_args()
    rows = synthetic_rows(args.trials)
    frontier = frontier_of(rows)
    config = config_mod.parse(tomllib.loads(CONFIG)["tool"]["autolab"], "the bench's config")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "ledger.parquet"
        pq.write_table(pa.Table.from_pylist([r.as_dict() for r in rows], schema=SCHEMA), path)
        t0 = time.perf_counter()
        table = pq.read_table(path, columns=dashboard.COLUMNS)
        loaded = [LedgerRow(**r) for r in table.to_pylist()]
        t1 = time.perf_counter()
        page = dashboard.html(config, loaded, frontier)
        t2 = time.perf_counter()
    print(f"trials:              {len(loaded)}")
    print(f"read Parquet rows:   {t1 - t0:.3f} s")
    print(f"render dashboard:    {t2 - t1:.3f} s")
    print(f"total:               {t2 - t0:.3f} s  (target < 2 s)")
    print(f"page size:           {len(page.encode()) / 1e6:.1f} MB")


if __name__ == "__main__":
    main()
