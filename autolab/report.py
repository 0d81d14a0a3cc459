"""Rendered text: the one bot comment on each trial's PR, and the pages on main
(reports/README.md and reports/progress.svg) that every merge rewrites.

Everything a person reads is a jinja2 template under autolab/templates/; this module
only gathers the numbers the templates show.

Its place in the whole: ARCHITECTURE.md, "What people see".
"""

from __future__ import annotations

import json
import math
import statistics
from collections.abc import Callable, Sequence
from functools import cache

import jinja2

from autolab import charts, decide, scores
from autolab.config import Config, Lab
from autolab.ledger import LIGHT, Ledger
from autolab.records import BASELINE, FAILURES, LedgerRow, ScoreRow, Status, Trial, baseline_id
from autolab.refs import TRIALS

README = "reports/README.md"
PROGRESS_SVG = "reports/progress.svg"
CURVE_POINTS = 24   # mermaid draws every point as a category; more is clutter in a comment


def fmt(value) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        # counts averaged over seeds (params, bytes) stay whole numbers, not 8.11e+05
        return str(int(value)) if value.is_integer() and abs(value) < 1e12 else f"{value:.5g}"
    return str(value)


def signed(value) -> str:
    return "–" if value is None else f"{value:+.4g}"


def cell(text: str) -> str:
    """Text safe inside one markdown table cell."""
    return " ".join(str(text).split()).replace("|", "\\|")


def pr_link(pr: str, trial_id: str) -> tuple[str, str]:
    """(text, href) for a trial's PR: a URL for a forge PR, the kept ref for a local one."""
    if pr.startswith(("http://", "https://")):
        return f"#{pr.rstrip('/').rsplit('/', 1)[-1]}", pr
    return f"{TRIALS}{trial_id}", ""


@cache
def env() -> jinja2.Environment:
    environment = jinja2.Environment(
        loader=jinja2.PackageLoader("autolab", "templates"), keep_trailing_newline=True,
        # SVG attributes are numbers and names from charts.py; its labels are escaped with |e
        autoescape=jinja2.select_autoescape(["html.j2"], default=False),
        trim_blocks=False)
    environment.globals.update(fmt=fmt, signed=signed, cell=cell, pr_link=pr_link,
                               colour=charts.colour)
    return environment


def render(template: str, **values) -> str:
    return env().get_template(template).render(**values)


def svg(chart: charts.Chart) -> str:
    return render("chart.svg.j2", chart=chart)


# the PR comment ------------------------------------------------------------
def reference_rows(history: Sequence[LedgerRow], score: ScoreRow | None) -> list[LedgerRow]:
    """The ledger rows behind one scores.csv row: a kept trial's, or the baseline's seeds."""
    if score is None:
        return []
    if score.trial_id == "baseline":
        return [r for r in history if r.status == BASELINE and r.commit_sha == score.commit_sha]
    return [r for r in history if r.trial_id == score.trial_id]


def mean_secondary(rows: list[LedgerRow]) -> dict[str, float]:
    values: dict[str, list[float]] = {}
    for r in rows:
        for name, v in json.loads(r.secondary).items():
            if isinstance(v, (int, float)):
                values.setdefault(name, []).append(v)
    return {name: statistics.fmean(vs) for name, vs in values.items()}


def curve_points(curve_json: str, x_key: str) -> list[tuple[float, float]]:
    points = [(p.get(x_key), p.get("train_loss")) for p in json.loads(curve_json)]
    return sorted((float(x), float(y)) for x, y in points
                  if isinstance(x, (int, float)) and isinstance(y, (int, float))
                  and math.isfinite(x) and math.isfinite(y))


def interpolate(points: list[tuple[float, float]], x: float) -> float:
    for (xa, ya), (xb, yb) in zip(points, points[1:], strict=False):
        if xa <= x <= xb:
            return ya if xb == xa else ya + (yb - ya) * (x - xa) / (xb - xa)
    return points[-1][1] if x > points[-1][0] else points[0][1]


def loss_chart(row: LedgerRow, best: LedgerRow | None) -> dict | None:
    """Both curves resampled on one x grid, which mermaid's xychart needs: over elapsed
    seconds when both have them (the budget is in seconds), else over steps."""
    if row.curve == "[]":
        return None  # the best's curve alone would read as this trial's
    curves = [c for c in (row.curve, best.curve if best else None) if c and c != "[]"]
    x_key = "elapsed_s" if all(curve_points(c, "elapsed_s") for c in curves) else "step"
    lines = [p for p in (curve_points(c, x_key) for c in curves) if len(p) > 1]
    if not lines:
        return None
    lo, hi = max(p[0][0] for p in lines), min(p[-1][0] for p in lines)
    if hi <= lo:
        lines, (lo, hi) = lines[:1], (lines[0][0][0], lines[0][-1][0])
    grid = [lo + (hi - lo) * i / (CURVE_POINTS - 1) for i in range(CURVE_POINTS)]
    values = [[interpolate(p, x) for x in grid] for p in lines]
    flat = [v for line in values for v in line]
    return {"x_key": x_key, "x0": lo, "x1": hi, "y0": min(flat), "y1": max(flat),
            "lines": values, "with_best": len(values) == 2}


def comment(lab: Lab, trial: Trial, row: LedgerRow, scores: list[ScoreRow],
            history: Sequence[LedgerRow] = (), rule: decide.Rule | None = None) -> str:
    """The PR comment; `scores` is main's scores.csv before this trial's verdict lands."""
    config = lab.config
    best = scores[-1] if scores else None
    baseline = scores[0] if scores else None
    best_rows, base_rows = reference_rows(history, best), reference_rows(history, baseline)
    bar = None
    if rule is not None and best is not None and row.n_seeds:
        values = row.seed_values
        if len(values) > 1:
            bar = rule.bar_for(rule.own(values))
        elif row.n_seeds > 1:
            bar = rule.bar(row.n_seeds)
        else:
            bar = rule.screen_bar()
    secondary = json.loads(row.secondary)
    names = list(dict.fromkeys([*config.secondary, *secondary]))
    return render("comment.md.j2", config=config, trial=trial, row=row, best=best,
                  baseline=baseline, rule=rule, bar=bar,
                  best_n=rule.best_own.n if rule is not None and best is not None else 0,
                  best_sigma=decide.spread(list(rule.best_seeds)) if rule and rule.best_seeds
                  else best.metric_std if best else None,
                  unreachable=rule.unreachable() if rule is not None and best is not None
                  else "",
                  failed=row.status in FAILURES or row.status == Status.STALE,
                  vs_baseline=None if row.metric is None or baseline is None
                  else row.metric - baseline.metric,
                  secondary={"names": names, "trial": secondary,
                             "best": mean_secondary(best_rows),
                             "baseline": mean_secondary(base_rows)},
                  curve=loss_chart(row, best_rows[0] if best_rows else None))


# the pages on main -----------------------------------------------------------
def changed_lines(diff: str, limit: int = 3) -> list[str]:
    """The added and removed lines of a diff: what a kept trial changed, at a glance."""
    lines = [line for line in diff.splitlines()
             if line[:1] in "+-" and not line.startswith(("+++", "---"))]
    return lines[:limit] + ([f"… {len(lines) - limit} more lines"] if len(lines) > limit else [])


def pages(config: Config, frontier: list[ScoreRow], history: list[LedgerRow]) -> dict[str, bytes]:
    """reports/README.md and reports/progress.svg for main once `frontier` is its scores."""
    frontier = scores.current(frontier)   # the board ranks what was measured as main is now
    by_id = {r.trial_id: r for r in history}
    trials = [r for r in history if r.status != BASELINE]
    board = [{"score": s, "rank": i + 1,
              "change": changed_lines(by_id[s.trial_id].diff) if s.trial_id in by_id else [],
              "vs_baseline": s.metric - frontier[0].metric}
             for i, s in enumerate(reversed(frontier))]
    counts: dict[str, int] = {}
    for r in trials:
        counts[r.status] = counts.get(r.status, 0) + 1
    readme = render("scores_readme.md.j2", config=config, board=board, frontier=frontier,
                    trials=len(trials), counts=sorted(counts.items()))
    chart = charts.progress(history, frontier, config.metric)
    return {README: readme.encode(), PROGRESS_SVG: svg(chart).encode()}


class Reporter:
    """What a verdict shows, read from the ledger: the trial's bot comment and main's pages."""

    def __init__(self, lab: Lab, ledger: Ledger):
        self.lab, self.ledger = lab, ledger

    def history(self, scores: list[ScoreRow]) -> list[LedgerRow]:
        """Every row's light columns, and the long ones (diff, curve) only for the frontier
        and the baseline seeds, which are all that the comment and the pages show."""
        full = self.ledger.by_id([s.trial_id for s in scores])
        if scores:
            full += self.ledger.starting_with(baseline_id(scores[0].commit_sha))
        by_id = {r.trial_id: r for r in full}
        # main's pages show this lab's own trials; imported history never reaches main
        return [by_id.get(r.trial_id, r) for r in self.ledger.rows(columns=LIGHT)
                if not r.imported]

    def comment(self, trial: Trial, row: LedgerRow, scores: list[ScoreRow],
                history: Sequence[LedgerRow], rule: decide.Rule | None) -> str:
        return comment(self.lab, trial, row, scores, history, rule)

    def pages(self, history: list[LedgerRow]) -> Callable[[list[ScoreRow]], dict[str, bytes]]:
        """reports/README.md and progress.svg, rendered in the merge from main's new scores."""
        return lambda frontier: pages(self.lab.config, frontier, history)
