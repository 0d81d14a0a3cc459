"""The lab at a glance, from the ledger: summaries, anomalies, and one self-contained HTML page.

The page inlines its SVG charts, styles and the few lines of script its search box needs,
and its Content-Security-Policy forbids fetching anything, so it opens offline and from
a CI artifact exactly as it was built.

Its place in the whole: ARCHITECTURE.md, "What people see".
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime

from autolab import charts, importer, report
from autolab.config import Config
from autolab.prune import Audit
from autolab.records import BASELINE, FAILURES, LedgerRow, ScoreRow, Status

CRASHES = Status.where(Status.broke_training)   # what a crash loop repeats
REPEATED_CRASHES = 3
REFUSED = Status.where(Status.is_refusal)
# what the page reads; the diffs, rationales and log tails would only slow a big ledger down
COLUMNS = [c for c in LedgerRow.columns()
           if c not in ("diff", "rationale", "log_tail", "seeds", "seed_metrics", "secondary")]


@dataclass(frozen=True)
class Rate:
    """How one role's (or source's) trials ended."""

    name: str
    trials: int
    kept: int
    failed: int
    refused: int

    @property
    def keep_rate(self) -> float:
        return self.kept / self.trials if self.trials else 0.0

    @property
    def fail_rate(self) -> float:
        return self.failed / self.trials if self.trials else 0.0


@dataclass(frozen=True)
class Anomaly:
    kind: str           # "diverging", "suspicious" or "repeated crashes"
    trial_id: str
    text: str


@dataclass(frozen=True)
class Summary:
    trials: list[LedgerRow]
    counts: dict[str, int]
    roles: list[Rate]
    sources: list[Rate]
    cost_usd: float
    tokens: int
    gpu_s: float
    compute_s: float
    anomalies: list[Anomaly]
    audit: Audit        # how often the prune rule would have stopped a winner
    # cost_usd in parts; rows written before the ledger kept them count in neither
    agent_usd: float = 0.0
    gpu_usd: float = 0.0
    cpu_usd: float = 0.0
    startup_s: float = 0.0

    @property
    def compute_usd(self) -> float:
        return self.gpu_usd + self.cpu_usd


def rates(rows: list[LedgerRow], key: str) -> list[Rate]:
    groups: dict[str, list[LedgerRow]] = {}
    for r in rows:
        groups.setdefault(getattr(r, key) or "–", []).append(r)
    return [Rate(name, len(g), sum(r.status == Status.KEEP for r in g),
                 sum(r.status in FAILURES for r in g), sum(r.status in REFUSED for r in g))
            for name, g in sorted(groups.items())]


def diverging(row: LedgerRow) -> str:
    """Why a trial's loss curve looks like it diverged, or '' if it does not."""
    if row.status == Status.DIVERGED:
        return row.reason or "non-finite loss"
    if row.curve == "[]":
        return ""
    if "NaN" in row.curve or "Infinity" in row.curve:  # how json writes non-finite floats
        return "non-finite training loss"
    first, last = ends(row.curve)
    if row.curve.count("{") > 2 and first is not None and last is not None and last > first:
        return f"training loss ended at {last:.4g}, above its start {first:.4g}"
    return ""


def ends(curve: str) -> tuple[float | None, float | None]:
    """The first and last train_loss of a curve's JSON. Only those two points are decoded:
    on a 10,000-trial ledger, decoding every curve whole would dominate the page's time."""
    try:
        first = json.loads(curve[1:curve.index("}") + 1])
        last = json.loads(curve[curve.rindex("{"):-1])
    except ValueError:  # a point holding nested objects: decode the whole curve
        points = json.loads(curve) or [{}]
        first, last = points[0], points[-1]
    return loss(first), loss(last)


def loss(point) -> float | None:
    value = point.get("train_loss") if isinstance(point, dict) else None
    return value if isinstance(value, (int, float)) else None


def anomalies(trials: list[LedgerRow]) -> list[Anomaly]:
    found = []
    for r in trials:
        why = diverging(r)
        if why:
            found.append(Anomaly("diverging", r.trial_id, why))
        if "suspicious" in r.flags.split(","):
            found.append(Anomaly("suspicious", r.trial_id,
                                 f"{r.status} with Δ {report.signed(r.delta_vs_best)}: far "
                                 f"outside the noise; check the change before trusting it"))
    streaks: dict[str, list[str]] = {}
    for r in trials:
        if r.status in REFUSED:
            continue  # a refused proposal never ran: it neither breaks nor ends a streak
        streak = streaks.setdefault(r.role or "–", [])
        if r.status in CRASHES:
            streak.append(r.trial_id)
            if len(streak) == REPEATED_CRASHES:
                found.append(Anomaly("repeated crashes", r.trial_id,
                                     f"role {r.role or '–'} crashed {REPEATED_CRASHES} times in "
                                     f"a row ({', '.join(streak)})"))
        else:
            streak.clear()
    return found


def summarize(rows: list[LedgerRow]) -> Summary:
    trials = [r for r in rows if r.status != BASELINE]
    counts: dict[str, int] = {}
    for r in trials:
        counts[r.status] = counts.get(r.status, 0) + 1
    order = list(charts.COLOURS)
    counts = dict(sorted(counts.items(), key=lambda kv: order.index(kv[0])
                         if kv[0] in order else len(order)))
    return Summary(trials=trials, counts=counts, roles=rates(trials, "role"),
                   sources=rates(trials, "source"),
                   cost_usd=sum(r.cost_usd for r in rows),
                   tokens=sum(r.tokens_in + r.tokens_out for r in rows),
                   gpu_s=sum(r.train_s + r.eval_s for r in rows if r.gpu),
                   compute_s=sum(r.train_s + r.eval_s for r in rows),
                   anomalies=anomalies(trials), audit=Audit.of(trials),
                   **{part: sum(getattr(r, part) or 0.0 for r in rows)     # None: older rows
                      for part in ("agent_usd", "gpu_usd", "cpu_usd", "startup_s")})


def per_kept(summary: Summary) -> str:
    """What one kept trial cost in compute, the figure a night is judged by."""
    kept = summary.counts.get(Status.KEEP, 0)
    return f", {summary.compute_s / kept:.0f} per kept trial" if kept else ", none kept yet"


def essentials(summary: Summary) -> list[str]:
    """The dashboard's headline numbers as plain lines, for `autolab status`."""
    lines = [f"cost ${summary.cost_usd:.2f}: agent ${summary.agent_usd:.2f} "
             f"({summary.tokens} tokens) + runner ${summary.compute_usd:.2f} (GPU "
             f"${summary.gpu_usd:.2f}, CPU and memory ${summary.cpu_usd:.2f}, "
             f"{summary.startup_s:.0f} s of start-up); {summary.compute_s:.0f} "
             f"compute-seconds ({summary.gpu_s:.0f} on GPUs){per_kept(summary)}"]
    lines += [f"role {r.name}: {r.trials} trials, {r.kept} kept ({r.keep_rate:.0%}), "
              f"{r.failed} failed ({r.fail_rate:.0%})" for r in summary.roles]
    if summary.audit.audited:
        lines.append(summary.audit.line())
    lines += [f"anomaly ({a.kind}) {a.trial_id}: {a.text}" for a in summary.anomalies]
    return lines


# The table's columns; its rows travel as JSON and the page's script builds the table,
# which keeps a 10,000-trial page fast to render here and still searchable there.
TABLE = ("trial_id", "status", "colour", "flags", "reason", "role", "source", "metric",
         "delta", "n_seeds", "wall_s", "hypothesis", "link", "href")


def table_row(r: LedgerRow) -> list:
    text, href = report.pr_link(r.pr, r.trial_id) if r.pr else ("", "")
    if r.imported and r.commit_sha:
        text = f"commit {r.commit_sha[:10]}" + (" (not here)" if r.flags else "")
    return [r.trial_id, r.status, charts.colour(r.status), r.flags, r.reason, r.role, r.source,
            report.fmt(r.metric), report.signed(r.delta_vs_best), r.n_seeds,
            f"{r.wall_s:.1f}", r.hypothesis, text, href]


def kept_path(rows: list[LedgerRow], bests: list[str]) -> set[str]:
    """The trials from each best back to its root through the parent links."""
    parent = {r.trial_id: r.parent_trial for r in rows}
    path: set[str] = set()
    for trial_id in bests:
        while trial_id in parent and trial_id not in path:
            path.add(trial_id)
            trial_id = parent[trial_id]
    return path


def html(config: Config, rows: list[LedgerRow], frontier: list[ScoreRow]) -> str:
    summary = summarize(rows)
    history = {source: (group, importer.frontier(group, config))
               for source, group in importer.by_source(summary.trials).items()}
    bests = [s.trial_id for s in frontier[1:]] + [front[-1].trial_id
                                                  for _, front in history.values() if front]
    own = [r for r in summary.trials if not r.imported]
    charts_svg = {
        "progress": report.svg(charts.progress(rows, frontier, config.metric,
                                               tuple(f for _, f in history.values()))),
        "tree": report.svg(charts.tree(summary.trials, kept_path(summary.trials, bests))),
        "gantt": report.svg(charts.gantt(rows)),
        "statuses": report.svg(charts.breakdown(summary.counts)),
    }
    imported = [{"source": source, "rows": len(group), "baseline": front[0] if front else None,
                 "best": front[-1] if front else None, "kept": len(front) - 1}
                for source, (group, front) in history.items()]
    return report.render("dashboard.html.j2", config=config, summary=summary,
                         frontier=frontier, charts=charts_svg, imported=imported,
                         own={"trials": len(own),
                              "kept": sum(r.status == Status.KEEP for r in own)},
                         generated=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
                         table={"columns": TABLE,
                                "rows": [table_row(r) for r in reversed(summary.trials)]})
