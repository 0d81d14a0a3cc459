"""How long the HTML dashboard takes for a big lab: prints its figures, asserts nothing.

    python tests/bench/dashboard.py [--trials 10000] [--imported 1000]

The rows are synthetic but shaped like a real night's ledger (every status, roles and
sources, 100-point loss curves, parallel start times); they are written to one Parquet
file with the ledger's schema and read back, so the figures include decoding the rows.
`synthetic_rows` also feeds the dashboard's integration test.

The second part imports a wide results TSV of `--imported` trials (`synthetic_tsv`, which
the browser test imports too) into a real lab with `autolab import`, writes its page with
`autolab report`, and, where Chromium is installed, times the page in it: from navigation
to the load event, after the page's script has built the trials table.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import subprocess
import sys
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


# a wide results file, as autoresearch's derivatives write them
TSV_COLUMNS = ("trial_id", "parent", "specialist", "hypothesis", "expected_delta", "status",
               "val_bpb", "memory_gb", "started_at", "ended_at", "worker", "notes")
TSV_STATUSES = (("discard", 70), ("keep", 8), ("crash", 10), ("tentative", 4), ("timeout", 3),
                ("repair", 2))


def synthetic_tsv(n: int, seed: int = 0, workers: int = 4, t0: datetime = T0) -> str:
    """n trials of an autoresearch-style run: each branches from the best so far (now and
    then from an older kept one), crashes log 0.000000, and one trial is far off."""
    rng = random.Random(seed)
    statuses, weights = zip(*TSV_STATUSES, strict=True)
    lines, kept, best = ["\t".join(TSV_COLUMNS)], [], 1.30
    free = [t0] * workers
    for i in range(1, n + 1):
        status = "keep" if i == 1 else rng.choices(statuses, weights)[0]
        parent = "" if i == 1 else (kept[-1] if rng.random() < 0.9 else rng.choice(kept))
        role = "baseline" if i == 1 else rng.choice(ROLES)
        value = best - rng.uniform(0.001, 0.01) if status == "keep" and i > 1 else \
            best if i == 1 else best + abs(rng.gauss(0, 0.02))
        if status == "crash":
            value = 0.0
        if i == n // 2:
            value = 9.5           # a diverged run: far off every other value
        worker = min(range(workers), key=lambda k: free[k])
        start, wall = free[worker], timedelta(seconds=rng.uniform(280, 330))
        free[worker] = start + wall + timedelta(seconds=rng.uniform(2, 10))
        lines.append("\t".join([
            f"exp{i:04d}", parent, role, f"{role}: try {rng.choice(['LR', 'DEPTH', 'WARMUP'])}"
            f" = {rng.choice([0.5, 2, 3, 0.003])}", f"{-rng.uniform(0, 0.01):.4f}", status,
            f"{value:.6f}", f"{rng.uniform(40, 45):.1f}", start.isoformat(),
            (start + wall).isoformat(), f"gpu{worker}", "OOM" if status == "crash" else ""]))
        if status == "keep":
            kept.append(f"exp{i:04d}")
            best = value
    return "\n".join(lines) + "\n"


def probe(page: Path) -> Path:
    """A copy of the page that notes, on its body, the time from navigation to its load
    event: by then the page's script has built the trials table."""
    copy = page.with_name(f"probe-{page.name}")
    copy.write_text(page.read_text().replace(
        "</body>", '<script>addEventListener("load", function () { document.body.dataset'
        '.rendered = performance.now(); });</script></body>'))
    return copy


def rendered_ms(dom: str) -> float | None:
    found = re.search(r'data-rendered="([\d.]+)"', dom)
    return float(found.group(1)) if found else None


def chromium_ms(page: Path, chromium: str = "/usr/bin/chromium") -> float | None:
    """The page's time in headless Chromium, in ms; None without Chromium."""
    if not Path(chromium).exists():
        return None
    dom = subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu",
                          f"--user-data-dir={page.parent / 'profile'}", "--dump-dom",
                          probe(page).as_uri()], capture_output=True, text=True,
                         timeout=120).stdout
    return rendered_ms(dom)


def lab_with_import(tmp: Path, n: int) -> tuple[Path, float]:
    """A toy lab holding n imported trials; the seconds `autolab import` took."""
    sys.path.insert(0, str(Path(__file__).parents[1]))
    from conftest import autolab, make_lab

    lab = make_lab(tmp / "lab")
    tsv = tmp / "results.tsv"
    tsv.write_text(synthetic_tsv(n))
    t0 = time.perf_counter()
    autolab(lab, "import", str(tsv), "--metric", "val_bpb")
    return lab, time.perf_counter() - t0


def imported_figures(n: int) -> None:
    sys.path.insert(0, str(Path(__file__).parents[1]))
    from conftest import autolab

    with tempfile.TemporaryDirectory() as tmp:
        lab, took = lab_with_import(Path(tmp), n)
        page = Path(tmp) / "index.html"
        t0 = time.perf_counter()
        autolab(lab, "report", "--html", str(page))
        report_s = time.perf_counter() - t0
        ms = chromium_ms(page)
    print(f"imported trials:     {n}")
    print(f"autolab import:      {took:.2f} s")
    print(f"autolab report:      {report_s:.2f} s (the whole command)")
    print("page in Chromium:    " + (f"{ms / 1000:.3f} s to the load event  (target < 2 s)"
                                      if ms is not None else "no /usr/bin/chromium here"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=10_000)
    parser.add_argument("--imported", type=int, default=1_000)
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
    imported_figures(args.imported)


if __name__ == "__main__":
    main()
