"""reports/scores.csv: the frontier on main, baseline first, current best last.

Its place in the whole: ARCHITECTURE.md, "Records and state".
"""

from __future__ import annotations

import csv
import io

from autolab.records import ScoreRow

PATH = "reports/scores.csv"
BASELINE_ID = "baseline"    # the trial_id of a baseline's row
HEADER = ",".join(ScoreRow.columns()) + "\n"
_NUMBERS = {"metric": float, "metric_std": float, "n_seeds": int, "delta": float}


def parse(data: bytes | None) -> list[ScoreRow]:
    if not data:
        return []
    rows = []
    for raw in csv.DictReader(io.StringIO(data.decode())):
        values = {k: _NUMBERS.get(k, str)(raw[k]) for k in ScoreRow.columns()}
        rows.append(ScoreRow(**values))
    return rows


def append(data: bytes | None, row: ScoreRow) -> bytes:
    """The file with `row` added; a missing or empty file gets its header first."""
    text = data.decode() if data else ""
    if not text.strip():
        text = HEADER
    if not text.endswith("\n"):
        text += "\n"
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerow(
        [getattr(row, c) for c in ScoreRow.columns()])
    return (text + out.getvalue()).encode()


def current(rows: list[ScoreRow]) -> list[ScoreRow]:
    """The rows measured under main's present frozen files: the latest baseline and the kept
    trials after it. Rows before a re-baseline stay in the file as history, never as the best."""
    starts = [i for i, r in enumerate(rows) if r.trial_id == BASELINE_ID]
    return rows[starts[-1]:] if starts else rows


def noise_sigma(rows: list[ScoreRow]) -> float:
    """The baseline's seed-to-seed standard deviation: the lab's noise band."""
    return rows[0].metric_std if rows else 0.0
