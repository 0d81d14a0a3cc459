"""SVG charts drawn by the package itself, so reports need no CDN and no plotting library.

Each chart is built as a list of SVG primitives (`Shape`) and rendered by the one
template `chart.svg.j2`, which escapes every label (hypotheses are agent-written).

Its place in the whole: ARCHITECTURE.md, "What people see".
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from autolab.records import BASELINE, FAILURES, LedgerRow, ScoreRow, Status, trial_number

W, H = 760, 300
LEFT, RIGHT, TOP, BOTTOM = 64, 150, 18, 36   # the right margin holds the legend

# every status a ledger row ends with (not OK, a run's, nor PROMISING, a trial's midway),
# looked up by the row's label
COLOURS: dict[str, str] = {
    Status.KEEP: "#2da44e", Status.DISCARD: "#8c959f", Status.HELD: "#0969da",
    BASELINE: "#1b7c83", Status.STALE: "#bf8700", Status.REJECTED: "#d0d7de",
    Status.DUPLICATE: "#d0d7de", Status.PRUNED: "#afb8c1", Status.CRASH: "#cf222e",
    Status.TIMEOUT: "#e16f24", Status.OOM: "#a40e26", Status.DIVERGED: "#8250df",
    Status.NO_ARTIFACT: "#bc4c00", Status.GATE_FAILED: "#953800",
    Status.INTEGRITY_MISMATCH: "#6e011a", Status.EVAL_ERROR: "#fa4549",
    Status.INFRA_ERROR: "#6e7781", Status.OVER_COMPUTE: "#9a6700",
}


def colour(status: str) -> str:
    return COLOURS.get(status, "#57606a")


@dataclass
class Shape:
    tag: str
    attrs: str          # name="value" pairs: numbers, classes and colours from this module
    title: str = ""
    text: str = ""


@dataclass
class Chart:
    name: str
    label: str
    width: int = W
    height: int = H
    shapes: list[Shape] = field(default_factory=list)

    def add(self, tag: str, title: str = "", text: str = "", **attrs) -> None:
        pairs = " ".join(f'{k.rstrip("_").replace("_", "-")}="{v}"' for k, v in attrs.items())
        self.shapes.append(Shape(tag, pairs, title, text))


def nice_ticks(lo: float, hi: float, n: int = 5, whole: bool = False) -> list[float]:
    """Round tick values covering [lo, hi], about n of them; `whole`: integers only (trial
    numbers, counts), however short the range."""
    if hi <= lo:
        return [lo]
    raw = (hi - lo) / n
    mag = 10 ** math.floor(math.log10(raw))
    factors = (1, 2, 5, 10) if whole else (1, 2, 2.5, 5, 10)
    step = next(m * mag for m in factors if m * mag >= raw)
    if whole:
        step = max(1, round(step))
    first = math.ceil(lo / step) * step
    return [round(first + i * step, 12) for i in range(int((hi - first) / step) + 1)]


def quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * (len(ordered) - 1) + 0.5))]


class Axes:
    """Linear maps from data to the plot area, and the axes drawn with their ticks."""

    def __init__(self, chart: Chart, x: tuple[float, float], y: tuple[float, float]):
        self.chart, self.x0, self.x1, self.y0, self.y1 = chart, *x, *y
        self.right = chart.width - RIGHT
        self.bottom = chart.height - BOTTOM

    def px(self, x: float) -> float:
        span = (self.x1 - self.x0) or 1.0
        return round(LEFT + (x - self.x0) / span * (self.right - LEFT), 1)

    def py(self, y: float) -> float:
        span = (self.y1 - self.y0) or 1.0
        return round(self.bottom - (y - self.y0) / span * (self.bottom - TOP), 1)

    def draw(self, x_label: str, y_label: str, x_fmt=lambda v: f"{v:g}",
             y_ticks: bool = True, x_whole: bool = False) -> None:
        c = self.chart
        c.add("line", x1=LEFT, y1=self.bottom, x2=self.right, y2=self.bottom, class_="axis")
        c.add("line", x1=LEFT, y1=TOP, x2=LEFT, y2=self.bottom, class_="axis")
        for v in nice_ticks(self.x0, self.x1, 8, whole=x_whole):
            c.add("text", text=x_fmt(v), x=self.px(v), y=self.bottom + 14, class_="tick",
                  text_anchor="middle")
        if y_ticks:
            for v in nice_ticks(self.y0, self.y1):
                c.add("line", x1=LEFT, y1=self.py(v), x2=self.right, y2=self.py(v),
                      class_="grid")
                c.add("text", text=f"{v:.4g}", x=LEFT - 6, y=self.py(v) + 4, class_="tick",
                      text_anchor="end")
        c.add("text", text=x_label, x=(LEFT + self.right) / 2, y=c.height - 4,
              class_="label", text_anchor="middle")
        if y_label:
            c.add("text", text=y_label, x=12, y=(TOP + self.bottom) / 2, class_="label",
                  text_anchor="middle", transform=f"rotate(-90 12 {(TOP + self.bottom) / 2})")


def legend(chart: Chart, entries: list[tuple[str, str]]) -> None:
    x = chart.width - RIGHT + 16
    for i, (label, fill) in enumerate(entries):
        y = TOP + 6 + i * 17
        chart.add("rect", x=x, y=y - 8, width=10, height=10, fill=fill)
        chart.add("text", text=label, x=x + 16, y=y + 1, class_="tick")


def legend_order(status: str) -> tuple[int, str]:
    """Known statuses in COLOURS' order, then any other label (an imported one) by name."""
    order = list(COLOURS)
    return (order.index(status), "") if status in order else (len(order), status)


def positions(rows: list[LedgerRow]) -> dict[str, int]:
    """Each row's place on a chart's trial axis: this lab's trials at their number, imported
    history before 0 in file order, since it came first."""
    imported = [r.trial_id for r in rows if r.imported]
    out = {trial_id: i - len(imported) for i, trial_id in enumerate(imported)}
    out.update((r.trial_id, trial_number(r.trial_id)) for r in rows if not r.imported)
    return out


def shown_range(values: list[float]) -> tuple[float, float]:
    """The values a chart's scale covers: all but those past Tukey's far fences (3 IQR out),
    so one trial far off (a diverged 8.0 next to 0.08, a crash logged as 0) cannot flatten
    the rest; the chart draws those on its edge and marks them."""
    q1, q3 = quantile(values, 0.25), quantile(values, 0.75)
    fence = 3 * (q3 - q1)
    inside = [v for v in values if q1 - fence <= v <= q3 + fence]
    return min(inside), max(inside)


def step_line(steps: Sequence[tuple[float, float]], x_end: float) -> list[tuple[float, float]]:
    line = [steps[0]]
    for x, y in steps[1:]:
        line += [(x, line[-1][1]), (x, y)]
    line.append((x_end, line[-1][1]))
    return line


def progress(rows: list[LedgerRow], frontier: list[ScoreRow], metric: str,
             imported_best: tuple[list[LedgerRow], ...] = ()) -> Chart:
    """The metric over trial number: a dot per trial coloured by status, the running best
    as a step line with its noise band (±σ of the baseline), failures as marks on top.
    Imported history sits before trial 0 with its own kept frontier as a dashed line."""
    chart = Chart("progress", f"{metric} by trial: dots are trials, the line the best")
    at = positions(rows)
    scored = [(at[r.trial_id], r.metric, r) for r in rows
              if r.metric is not None and math.isfinite(r.metric)]
    failed = [(at[r.trial_id], r) for r in rows if r.metric is None and r.status in FAILURES]
    sigma = frontier[0].metric_std if frontier else 0.0
    x_min, x_max = min([0, *at.values()]), max([1, *at.values()])
    steps = [(float(trial_number(s.trial_id)), s.metric) for s in frontier]
    history = [[(float(at[r.trial_id]), r.metric) for r in best if r.metric is not None]
               for best in imported_best if best]
    ends = [max(at[r.trial_id] for r in rows if r.source == best[0].source)
            for best in imported_best if best]
    bounds = [v for _, m in steps for v in (m - sigma, m + sigma)]
    bounds += [m for line in history for _, m in line]
    if scored:
        bounds += shown_range([v for _, v, _ in scored])
    lo, hi = (min(bounds), max(bounds)) if bounds else (0.0, 1.0)
    pad = (hi - lo) * 0.06 or abs(hi) * 0.1 or 1.0
    ax = Axes(chart, (x_min, x_max), (lo - pad, hi + pad))
    ax.draw("trial (imported history before 0)" if history else "trial", metric, x_whole=True)
    if steps:
        line = step_line(steps, x_max)
        upper = " ".join(f"{ax.px(x)},{ax.py(y + sigma)}" for x, y in line)
        lower = " ".join(f"{ax.px(x)},{ax.py(y - sigma)}" for x, y in reversed(line))
        chart.add("polygon", points=f"{upper} {lower}", class_="band",
                  title=f"noise band: best ± σ (σ = {sigma:.3g})")
        chart.add("polyline", points=" ".join(f"{ax.px(x)},{ax.py(y)}" for x, y in line),
                  class_="best", title="running best")
    for line, end in zip(history, ends, strict=True):
        points = step_line(line, end)
        chart.add("polyline", points=" ".join(f"{ax.px(x)},{ax.py(y)}" for x, y in points),
                  class_="best imported", title="imported history's kept frontier")
    outside = 0
    for x, value, r in scored:
        clipped = min(max(value, ax.y0), ax.y1)
        off = value != clipped
        outside += off
        chart.add("circle", cx=ax.px(x), cy=ax.py(clipped), r=2.4 if off else 3.2,
                  fill=colour(r.status), class_="dot clipped" if off else "dot",
                  title=f"{r.trial_id} {r.status} {value:.5g}"
                        f"{' (off the scale)' if off else ''}: {r.hypothesis}")
        if off:   # an arrow pointing the way the value lies
            tip = TOP - 1 if value > ax.y1 else ax.bottom + 1
            base = tip + (5 if value > ax.y1 else -5)
            chart.add("polygon", class_="outlier",
                      points=f"{ax.px(x) - 3},{base} {ax.px(x) + 3},{base} {ax.px(x)},{tip}")
    for x, r in failed:
        chart.add("rect", x=ax.px(x) - 2.5, y=TOP - 2, width=5, height=5, fill=colour(r.status),
                  class_="failmark", title=f"{r.trial_id} {r.status}: {r.reason}")
    if outside:
        chart.add("text", text=f"{outside} off the scale (arrows)", x=ax.right, y=TOP - 6,
                  class_="tick", text_anchor="end")
    present = sorted({r.status for r in rows}, key=legend_order)
    legend(chart, ([("best ± σ", "#0969da")] if steps else [])
           + ([("imported best", "#8250df")] if history else [])
           + [(s, colour(s)) for s in present])
    return chart


def tree(rows: list[LedgerRow], kept: set[str]) -> Chart:
    """The lineage: one node per trial in ledger order from left to right, an edge from each
    parent to its children. The kept path (the ancestors of each best) runs along the top;
    every other trial hangs one lane below its parent, except that a kept trial off the path
    continues its parent's branch in the same lane, as a git graph draws a branch. So a
    1,000-trial history stays a few lanes high."""
    ids = {r.trial_id: i for i, r in enumerate(rows)}
    lane: dict[str, int] = {}
    for r in rows:     # parents come before their children in a results file and a ledger
        parent = r.parent_trial if r.parent_trial in ids and ids[r.parent_trial] < ids[
            r.trial_id] else ""
        above = lane.get(parent, 0)
        branch = r.status == Status.KEEP and above > 0
        lane[r.trial_id] = 0 if r.trial_id in kept else above if branch else above + 1
    step = 10.0 if len(rows) <= 60 else 3.0
    lanes = max(lane.values(), default=0) + 1
    gap = 18 if lanes <= 12 else max(6, 216 / lanes)
    chart = Chart("tree", "lineage: parent to child, the kept path along the top",
                  width=int(max(W, LEFT + RIGHT + step * len(rows))),
                  height=int(TOP + BOTTOM + 18 + max(2, lanes - 1) * gap))
    ax = Axes(chart, (0, max(1, len(rows) - 1)), (0, max(2, lanes - 1)))
    ax.draw("trial, in ledger order", "branch", y_ticks=False, x_whole=True)

    def xy(trial_id: str) -> tuple[float, float]:
        return ax.px(ids[trial_id]), round(TOP + 9 + lane[trial_id] * gap, 1)

    for r in rows:
        if r.parent_trial in ids and ids[r.parent_trial] < ids[r.trial_id]:
            (xp, yp), (xc, yc) = xy(r.parent_trial), xy(r.trial_id)
            on_path = r.trial_id in kept and r.parent_trial in kept
            chart.add("path", d=f"M{xp},{yp} V{yc} H{xc}",
                      class_="edge kept" if on_path else "edge")
    for r in rows:
        x, y = xy(r.trial_id)
        value = "" if r.metric is None else f" {r.metric:.5g}"
        chart.add("circle", cx=x, cy=y, r=4 if r.trial_id in kept else 2.6,
                  fill=colour(r.status), class_="node kept" if r.trial_id in kept else "node",
                  title=f"{r.trial_id} {r.status}{value}: {r.hypothesis}")
    present = sorted({r.status for r in rows}, key=legend_order)
    legend(chart, [("kept path", "#2da44e")] + [(s, colour(s)) for s in present])
    return chart


def seconds(stamp: str) -> float:
    return datetime.fromisoformat(stamp).timestamp()  # utc_now()'s "...Z" stamps


def lanes(ran: list[LedgerRow], spans: list[tuple[float, float]]) -> list[int]:
    """Each run's lane, one per runner slot: a row that recorded its slot runs in it; a row
    that did not (a baseline seed, a row older than the column) goes, in start order, to the
    first slot free all through its span, so seeds run one at a time share one lane."""
    out = [(r.slot or 0) - 1 for r in ran]
    busy: list[list[tuple[float, float]]] = [[] for _ in range(max(out, default=-1) + 1)]
    for i, lane in enumerate(out):
        if lane >= 0:
            busy[lane].append(spans[i])
    for taken in busy:
        taken.sort()
    for i in sorted((i for i, lane in enumerate(out) if lane < 0), key=lambda i: spans[i]):
        lane = next((k for k, taken in enumerate(busy) if fits(taken, spans[i])), len(busy))
        if lane == len(busy):
            busy.append([])
        bisect.insort(busy[lane], spans[i])
        out[i] = lane
    return out


def fits(taken: list[tuple[float, float]], span: tuple[float, float]) -> bool:
    """`span` overlaps none of `taken` (sorted, not overlapping each other); touching is free."""
    at = bisect.bisect_left(taken, span)
    before = taken[at - 1] if at else None
    after = taken[at] if at < len(taken) else None
    return (before is None or before[1] <= span[0]) and (after is None or span[1] <= after[0])


def gantt(rows: list[LedgerRow]) -> Chart:
    """Trials over wall-clock time, one lane per runner slot, coloured by status: each from
    its recorded start to its recorded end (else start + wall_s), in its recorded slot."""
    timed = [r for r in rows if r.started_at and (r.ended_at or r.wall_s > 0)]
    # imported timings only when this lab has none of its own: two eras on one axis
    # would squeeze both into slivers
    ran = sorted([r for r in timed if not r.imported] or timed, key=lambda r: r.started_at)
    t0 = seconds(ran[0].started_at) if ran else 0.0
    spans = [(seconds(r.started_at) - t0,
              (seconds(r.ended_at) if r.ended_at else seconds(r.started_at) + r.wall_s) - t0)
             for r in ran]
    lane_of = lanes(ran, spans)
    n = max(lane_of, default=0) + 1
    chart = Chart("gantt", "trials over time, one lane per runner slot",
                  height=TOP + BOTTOM + max(3, n) * 22)
    end = max((e for _, e in spans), default=1.0)
    ax = Axes(chart, (0, end), (0, n))
    # the lane labels name the axis themselves: a rotated title beside them would overlap
    ax.draw("minutes since the first run", "", x_fmt=lambda v: f"{v / 60:.3g}", y_ticks=False)
    band = (ax.bottom - TOP) / n
    for lane in range(n):
        chart.add("text", text=f"slot {lane + 1}", x=LEFT - 6,
                  y=round(TOP + (lane + 0.5) * band + 4, 1), class_="tick", text_anchor="end")
    for (start, stop), lane, r in zip(spans, lane_of, ran, strict=True):
        chart.add("rect", x=ax.px(start), y=round(TOP + lane * band + 2, 1),
                  width=max(1.0, round(ax.px(stop) - ax.px(start), 1)),
                  height=round(band - 4, 1), fill=colour(r.status), class_="bar",
                  title=f"{r.trial_id} {r.status}, {stop - start:.1f} s: {r.hypothesis}")
    present = sorted({r.status for r in ran}, key=legend_order)
    legend(chart, [(s, colour(s)) for s in present])
    return chart


def breakdown(counts: dict[str, int]) -> Chart:
    """Trials per status as horizontal bars."""
    chart = Chart("statuses", "trials by status", width=520,
                  height=TOP + BOTTOM + 20 * max(1, len(counts)))
    top = max(counts.values(), default=1)
    ax = Axes(chart, (0, top), (0, max(1, len(counts))))
    ax.draw("trials", "", y_ticks=False, x_whole=True)
    for i, (status, n) in enumerate(counts.items()):
        y = TOP + i * 20 + 3
        chart.add("text", text=status, x=LEFT - 6, y=y + 11, class_="tick", text_anchor="end")
        chart.add("rect", x=LEFT, y=y, width=max(1.0, ax.px(n) - LEFT), height=14,
                  fill=colour(status), class_="bar", title=f"{status}: {n}")
        chart.add("text", text=str(n), x=ax.px(n) + 4, y=y + 11, class_="tick")
    return chart
