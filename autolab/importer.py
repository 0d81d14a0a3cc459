"""`autolab import PATH`: someone's earlier research, read from a results TSV into the ledger.

Two shapes are read: karpathy/autoresearch's `results.tsv` (commit, the metric, memory_gb,
status keep|discard|crash, description), and the wider files its derivatives write (trial
id, parent, role or specialist, hypothesis, expected delta, timings, notes...). Columns are
found by name, any that are missing are left empty, and every column this module has no
place for is kept in the row's `secondary` JSON, so nothing in the file is lost. Only the
metric column and the row structure can refuse a file: a cell that is not a number or a
time where one is expected (an agent's `minus_0.0003` in `expected_delta`) is kept as text
in `secondary` under its column's name, and the import line counts such cells.

Imported rows carry `source = "import:<file name>"`: they are history, shown by
`autolab status` and the dashboard, and never a verdict of this lab. The noise band, the
agents' context and main's pages all leave them out, and nothing here touches `main`.

Its place in the whole: ARCHITECTURE.md, "Records and state".
"""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import json
import math
import re
import subprocess
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from autolab.config import Config
from autolab.errors import UserError
from autolab.gitops import Repo
from autolab.ledger import Ledger
from autolab.records import FAILURES, IMPORTED, LedgerRow, Status

# ledger column <- the header names that mean it, first match wins. A header name serves
# one column only, so `description` is the hypothesis unless a `hypothesis` column exists.
ALIASES = {
    "trial": ("trial_id", "trial", "id", "exp_id", "experiment", "run_id"),
    "parent": ("parent", "parent_id", "parent_trial", "parent_commit"),
    "commit": ("commit", "commit_sha", "sha"),
    "status": ("status", "verdict", "outcome", "decision"),
    "role": ("role", "specialist", "agent", "kind"),
    "hypothesis": ("hypothesis", "idea", "description", "change"),
    "rationale": ("rationale", "description", "expected_result", "motivation"),
    "reason": ("reason", "notes", "note", "interpretation", "comment"),
    "expected_delta": ("expected_delta", "expected", "predicted_delta"),
    "delta_vs_best": ("delta_vs_best", "delta"),
    "started_at": ("started_at", "start", "start_time", "started"),
    "ended_at": ("ended_at", "end", "end_time", "ended", "finished_at"),
    "wall_s": ("wall_s", "duration_s", "duration", "seconds", "total_seconds"),
    "train_s": ("train_s", "training_seconds"),
    "slot": ("slot", "worker", "lane", "gpu_slot"),
}
# what results files write, as autolab's labels; anything else stays as its own label
STATUSES = {
    "keep": "keep", "kept": "keep", "accept": "keep", "accepted": "keep", "merged": "keep",
    "baseline": "keep", "discard": "discard", "discarded": "discard", "reject": "discard",
    "rejected": "discard", "revert": "discard", "reverted": "discard", "crash": "crash",
    "crashed": "crash", "error": "crash", "failed": "crash", "fail": "crash",
    "timeout": "timeout", "timed_out": "timeout", "oom": "oom", "diverged": "diverged",
    "nan": "diverged",
}
MISSING = ("", "na", "n/a", "nan", "none", "null", "-", "–")
FIX = "fix that cell (or empty it) and import again; nothing was written"


@dataclass(frozen=True)
class Imported:
    """What one import did: the rows the file holds and how many were new."""

    source: str
    rows: list[LedgerRow]
    added: int
    as_text: dict[str, int] = dataclasses.field(default_factory=dict)   # per column


def source_of(path: Path) -> str:
    return f"{IMPORTED}{path.name}"


def read_rows(path: Path, config: Config, repo: Repo, metric: str | None = None
              ) -> list[LedgerRow]:
    """Every data row of the file as a ledger row; UserError on the first bad one."""
    return _read(path, config, repo, metric)[0]


def _read(path: Path, config: Config, repo: Repo, metric: str | None
          ) -> tuple[list[LedgerRow], dict[str, int]]:
    """The rows, and per column how many cells were kept as text instead of a number."""
    header, records = _read_tsv(path)
    metric_col = _metric_column(path, header, metric or config.metric)
    columns = _claim(header, metric_col)
    extra = [h for h in header if h not in columns.values() and h != metric_col]
    commits = _resolve_commits(repo, [r.get(columns.get("commit", ""), "") for _, r in records])
    slots = _slot_numbers([r.get(columns.get("slot", ""), "") for _, r in records])
    keys: dict[str, str] = {}
    rows: list[LedgerRow] = []
    tip = ""    # the last kept row: where a file without parents branched from next
    best: float | None = None
    as_text: dict[str, int] = {}
    for number, (line, raw) in enumerate(records, start=1):
        cell = _Cells(path, line, raw, columns)
        trial_id = f"import-{_slug(path)}-{number:05d}-{_digest(raw, header)}"
        status = _status(cell.text("status"))
        value = cell.number(metric_col, column=False)
        if value is not None and value == 0.0 and status in FAILURES:
            value = None    # autoresearch writes 0.000000 for a crash's metric
        parent_raw = cell.text("parent")
        parent = keys.get(parent_raw, parent_raw) if "parent" in columns else tip
        commit = cell.text("commit")
        started, ended = cell.stamp("started_at"), cell.stamp("ended_at")
        wall = cell.number("wall_s")
        if wall is None and started and ended:
            wall = _seconds(ended) - _seconds(started)
        delta = cell.number("delta_vs_best")
        if delta is None and value is not None and best is not None:
            delta = value - best
        rows.append(LedgerRow(
            trial_id=trial_id, status=status, reason=cell.text("reason"),
            parent_trial=parent, commit_sha=commits.get(commit, commit),
            source=source_of(path), role=cell.text("role"),
            hypothesis=cell.text("hypothesis"), rationale=cell.text("rationale"),
            expected_delta=cell.number("expected_delta"), metric=value,
            n_seeds=0 if value is None else 1,
            seed_metrics=json.dumps([] if value is None else [value]),
            delta_vs_best=delta, secondary=json.dumps({**_extras(raw, extra), **cell.texts}),
            flags="" if not commit or commit in commits else "commit not in this repository",
            started_at=started, ended_at=ended, wall_s=wall or 0.0,
            train_s=cell.number("train_s") or 0.0,
            slot=slots.get(cell.text("slot"), 0)))
        for name in cell.texts:
            as_text[name] = as_text.get(name, 0) + 1
        for key in (cell.text("trial"), commit):
            if key:
                keys[key] = trial_id
        if status == Status.KEEP:
            tip = trial_id
            if value is not None and (best is None or _better(config, value, best)):
                best = value
    return rows, as_text


def import_file(path: Path, config: Config, repo: Repo, ledger: Ledger,
                metric: str | None = None) -> Imported:
    """Read the whole file first, so a bad row stops the import before any row is written;
    ids are fixed by the file name, the row number and the row's content, so a second
    import of the same file appends nothing, and rows added to it since are appended."""
    rows, as_text = _read(path, config, repo, metric)
    added = ledger.append_many(rows, f"{len(rows)} rows from {source_of(path)}")
    return Imported(source_of(path), rows, added, as_text)


def text_note(as_text: dict[str, int]) -> str:
    """The import line's count of cells kept as text, or "" when there are none."""
    if not as_text:
        return ""
    total = sum(as_text.values())
    where = ", ".join(f"{name} {n}" for name, n in sorted(as_text.items()))
    return (f"{total} cell{'s' * (total != 1)} that should be numbers or times kept as text "
            f"in `secondary` ({where})")


def row_number(row: LedgerRow) -> int:
    """The row's number in its file (data rows from 1), read back from its trial id."""
    found = re.search(r"-(\d{5,})-[0-9a-f]{6}$", row.trial_id)
    return int(found.group(1)) if found else 0


def label(row: LedgerRow) -> str:
    """A short name for an imported row: a sha cut to 7, any other label whole, else its
    row number."""
    commit = row.commit_sha
    if re.fullmatch(r"[0-9a-fA-F]{7,40}", commit):
        return commit[:7]
    return commit or f"row {row_number(row)}"


def frontier(rows: list[LedgerRow], config: Config) -> list[LedgerRow]:
    """An imported history's baseline (its first kept row with a metric) and each later
    keep that beat the best so far, in file order."""
    out: list[LedgerRow] = []
    for r in rows:
        best = out[-1].metric if out else None
        if r.status == Status.KEEP and r.metric is not None and math.isfinite(r.metric) and (
                best is None or _better(config, r.metric, best)):
            out.append(r)
    return out


def by_source(rows: list[LedgerRow]) -> dict[str, list[LedgerRow]]:
    """Imported rows grouped by the file they came from, each in file order."""
    groups: dict[str, list[LedgerRow]] = {}
    for r in rows:
        if r.imported:
            groups.setdefault(r.source, []).append(r)
    return groups


def summary_line(source: str, rows: list[LedgerRow], config: Config) -> str:
    """One line: what an imported file holds, its baseline and its best."""
    counts: dict[str, int] = {}
    for r in rows:
        counts[r.status] = counts.get(r.status, 0) + 1
    told = ", ".join(f"{n} {s}" for s, n in sorted(counts.items()))
    line = f"{source}: {len(rows)} rows ({told})"
    front = frontier(rows, config)
    if front:
        base, best = front[0], front[-1]
        steps = len(front) - 1
        line += (f"; baseline {base.metric:.6g} ({label(base)}), best {best.metric:.6g} "
                 f"({label(best)}) after {steps} kept improvement{'s' * (steps != 1)}")
    return line


# reading the file -----------------------------------------------------------
def _read_tsv(path: Path) -> tuple[list[str], list[tuple[int, dict[str, str]]]]:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise UserError(f"{path}: no such file; give the path of a results TSV") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"{path}: cannot be read as UTF-8 text ({exc}); give a results "
                        f"TSV") from None
    reader = csv.reader(text.splitlines(), delimiter="\t")
    header = [h.strip().lower() for h in next(reader, [])]
    if len(header) < 2 or "" in header or len(set(header)) != len(header):
        raise UserError(f"{path} line 1: expected a tab-separated header of distinct column "
                        f"names (e.g. commit, val_bpb, memory_gb, status, description), got "
                        f"{header[:6]}; is it a TSV?")
    records = []
    for row in reader:
        line = reader.line_num
        if not any(c.strip() for c in row):
            continue
        if len(row) > len(header):
            raise UserError(f"{path} line {line}: {len(row)} fields for {len(header)} "
                            f"columns; a tab inside a cell? {FIX}")
        records.append((line, dict(zip(header, (c.strip() for c in row), strict=False))))
    return header, records


def _metric_column(path: Path, header: list[str], wanted: str) -> str:
    for name in (wanted.lower(), "metric", "score"):
        if name in header:
            return name
    raise UserError(f"{path}: no column {wanted!r} (the lab's metric) among "
                    f"{', '.join(header)}; name the metric's column with --metric COLUMN")


def _claim(header: list[str], metric_col: str) -> dict[str, str]:
    taken = {metric_col}
    columns = {}
    for field, names in ALIASES.items():
        name = next((n for n in names if n in header and n not in taken), None)
        if name:
            columns[field] = name
            taken.add(name)
    return columns


@dataclass(frozen=True)
class _Cells:
    """One row's cells, read by ledger field; a bad cell names its line and column."""

    path: Path
    line: int
    raw: dict[str, str]
    columns: dict[str, str]
    texts: dict[str, str] = dataclasses.field(default_factory=dict)   # kept as text

    def text(self, field: str) -> str:
        return self.raw.get(self.columns.get(field, ""), "") or ""

    def number(self, field: str, column: bool = True) -> float | None:
        name = self.columns.get(field, "") if column else field
        value = self.raw.get(name, "") or ""
        if value.lower() in MISSING:
            return None
        try:
            return float(value)
        except ValueError:
            if column:      # not the metric: the text is kept, the row is not refused
                self.texts[name] = value
                return None
            raise UserError(f"{self.path} line {self.line}: {name} is {value!r}, not a "
                            f"number; {FIX}") from None

    def stamp(self, field: str) -> str:
        value = self.text(field)
        if value.lower() in MISSING:
            return ""
        try:
            when = (datetime.fromtimestamp(float(value), UTC)
                    if re.fullmatch(r"\d+(\.\d*)?", value) else datetime.fromisoformat(value))
        except ValueError:
            self.texts[self.columns[field]] = value     # kept as text, like a number's
            return ""
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)    # a bare time is taken as UTC, like utc_now()
        return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _status(text: str) -> str:
    label = re.sub(r"\s+", "_", text.strip().lower())
    return STATUSES.get(label, label or "unknown")


def _resolve_commits(repo: Repo, shas: list[str]) -> dict[str, str]:
    """{sha as written: full sha} for the commits this repository has, in one git call."""
    wanted = sorted({s for s in shas if re.fullmatch(r"[0-9a-fA-F]{4,40}", s)})
    if not wanted:
        return {}
    out = subprocess.run(["git", "cat-file", "--batch-check=%(objectname) %(objecttype)"],
                         cwd=repo.root, input="\n".join(wanted) + "\n", capture_output=True,
                         text=True).stdout.splitlines()
    found = {}
    for sha, answer in zip(wanted, out, strict=False):
        full, _, kind = answer.partition(" ")
        if kind == "commit":
            found[sha] = full
    return found


def _slot_numbers(values: list[str]) -> dict[str, int]:
    """Slots as written (0-based numbers, names like gpu-a) as lanes 1..k, in their order."""
    distinct = sorted({v for v in values if v}, key=lambda v: (len(v), v))
    return {v: i + 1 for i, v in enumerate(distinct)}


def _extras(raw: dict[str, str], names: list[str]) -> dict:
    out: dict = {}
    for name in names:
        value = raw.get(name, "")
        if value.lower() in MISSING:
            continue
        try:
            out[name] = float(value)
        except ValueError:
            out[name] = value
    return out


def _slug(path: Path) -> str:
    return re.sub(r"[^a-z0-9]+", "-", path.stem.lower()).strip("-") or "results"


def _digest(raw: dict[str, str], header: list[str]) -> str:
    # the row's own content: two different files with one name never share an id
    return hashlib.sha256("\t".join(raw.get(h, "") for h in header).encode()).hexdigest()[:6]


def _seconds(stamp: str) -> float:
    return datetime.fromisoformat(stamp).timestamp()


def _better(config: Config, value: float, best: float) -> bool:
    return value < best if config.minimize else value > best

