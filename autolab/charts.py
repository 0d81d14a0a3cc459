"""SVG charts drawn by the package itself, so reports need no CDN and no plotting library.

Each chart is built as a list of SVG primitives (`Shape`) and rendered by the one
template `chart.svg.j2`, which escapes every label (hypotheses are agent-written).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime

from autolab.records import BASELINE, FAILURES, LedgerRow, ScoreRow, trial_number

W, H = 760, 300
LEFT, RIGHT, TOP, BOTTOM = 64, 150, 18, 36   # the right margin holds the legend

COLOURS = {
    "keep": "#2da44e", "discard": "#8c959f", "held": "#0969da", BASELINE: "#1b7c83",
    "stale": "#bf8700", "rejected": "#d0d7de", "duplicate": "#d0d7de", "pruned": "#afb8c1",
    "crash": "#cf222e", "timeout": "#e16f24", "oom": "#a40e26", "diverged": "#8250df",
    "no_artifact": "#bc4c00", "gate_failed": "#953800", "integrity_mismatch": "#6e011a",
    "eval_error": "#fa4549", "infra_error": "#6e7781",
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


def nice_ticks(lo: float, hi: float, n: int = 5) -> list[float]:
    """Round tick values covering [lo, hi], about n of them."""
    if hi <= lo:
        return [lo]
    raw = (hi - lo) / n
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
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
             y_ticks: bool = True) -> None:
        c = self.chart
        c.add("line", x1=LEFT, y1=self.bottom, x2=self.right, y2=self.bottom, class_="axis")
        c.add("line", x1=LEFT, y1=TOP, x2=LEFT, y2=self.bottom, class_="axis")
        for v in nice_ticks(self.x0, self.x1, 8):
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
        c.add("text", text=y_label, x=12, y=(TOP + self.bottom) / 2, class_="label",
              text_anchor="middle", transform=f"rotate(-90 12 {(TOP + self.bottom) / 2})")


def legend(chart: Chart, entries: list[tuple[str, str]]) -> None:
    x = chart.width - RIGHT + 16
    for i, (label, fill) in enumerate(entries):
        y = TOP + 6 + i * 17
        chart.add("rect", x=x, y=y - 8, width=10, height=10, fill=fill)
        chart.add("text", text=label, x=x + 16, y=y + 1, class_="tick")


def progress(rows: list[LedgerRow], frontier: list[ScoreRow], metric: str) -> Chart:
    """The metric over trial number: a dot per trial coloured by status, the running best
    as a step line with its noise band (±σ of the baseline), failures as marks on top."""
    chart = Chart("progress", f"{metric} by trial: dots are trials, the line the best")
    scored = [(trial_number(r.trial_id), r.metric, r) for r in rows
              if r.metric is not None and math.isfinite(r.metric)]
    failed = [(trial_number(r.trial_id), r) for r in rows
              if r.metric is None and r.status in FAILURES]
    sigma = frontier[0].metric_std if frontier else 0.0
    x_max = max([1] + [trial_number(r.trial_id) for r in rows])
    steps = [(trial_number(s.trial_id), s.metric) for s in frontier]
    values = [v for _, v, _ in scored]
    bounds = [v for _, m in steps for v in (m - sigma, m + sigma)]
    if values:
        # outliers (a diverged 8.0 next to 0.08) would flatten everything else: clip them
        bounds += [quantile(values, 0.02), quantile(values, 0.95)]
    lo, hi = (min(bounds), max(bounds)) if bounds else (0.0, 1.0)
    pad = (hi - lo) * 0.06 or abs(hi) * 0.1 or 1.0
    ax = Axes(chart, (0, x_max), (lo - pad, hi + pad))
    ax.draw("trial", metric)
    if steps:
        line = [steps[0]]
        for x, y in steps[1:]:
            line += [(x, line[-1][1]), (x, y)]
        line.append((x_max, line[-1][1]))
        upper = " ".join(f"{ax.px(x)},{ax.py(y + sigma)}" for x, y in line)
        lower = " ".join(f"{ax.px(x)},{ax.py(y - sigma)}" for x, y in reversed(line))
        chart.add("polygon", points=f"{upper} {lower}", class_="band",
                  title=f"noise band: best ± σ (σ = {sigma:.3g})")
        chart.add("polyline", points=" ".join(f"{ax.px(x)},{ax.py(y)}" for x, y in line),
                  class_="best", title="running best")
    for x, value, r in scored:
        clipped = min(max(value, ax.y0), ax.y1)
        chart.add("circle", cx=ax.px(x), cy=ax.py(clipped), r=3.2 if value == clipped else 2.4,
                  fill=colour(r.status), class_="dot" if value == clipped else "dot clipped",
                  title=f"{r.trial_id} {r.status} {value:.5g}: {r.hypothesis}")
    for x, r in failed:
        chart.add("rect", x=ax.px(x) - 2.5, y=TOP - 2, width=5, height=5, fill=colour(r.status),
                  class_="failmark", title=f"{r.trial_id} {r.status}: {r.reason}")
    present = sorted({r.status for r in rows}, key=list(COLOURS).index)
    legend(chart, [("best ± σ", "#0969da")] + [(s, colour(s)) for s in present])
    return chart


def seconds(stamp: str) -> float:
    return datetime.fromisoformat(stamp).timestamp()  # utc_now()'s "...Z" stamps


def slots(spans: list[tuple[float, float]]) -> list[int]:
    """Greedy interval packing: the runner slot each (start, end) ran in."""
    free_at: list[float] = []
    out = []
    for start, end in spans:
        lane = next((i for i, t in enumerate(free_at) if t <= start), len(free_at))
        if lane == len(free_at):
            free_at.append(end)
        else:
            free_at[lane] = end
        out.append(lane)
    return out


def gantt(rows: list[LedgerRow]) -> Chart:
    """Trials over wall-clock time, one lane per runner slot, coloured by status. Slots are
    rebuilt by packing each trial's [started_at, started_at + wall_s] into the first free lane."""
    ran = sorted(((seconds(r.started_at), r) for r in rows if r.started_at and r.wall_s > 0),
                 key=lambda pair: pair[0])
    t0 = ran[0][0] if ran else 0.0
    spans = [(t - t0, t - t0 + r.wall_s) for t, r in ran]
    lanes = slots(spans)
    n = max(lanes, default=0) + 1
    chart = Chart("gantt", "trials over time, one lane per runner slot",
                  height=TOP + BOTTOM + max(3, n) * 22)
    end = max((e for _, e in spans), default=1.0)
    ax = Axes(chart, (0, end), (0, n))
    ax.draw("minutes since the first run", "runner slot", x_fmt=lambda v: f"{v / 60:.3g}",
            y_ticks=False)
    band = (ax.bottom - TOP) / n
    for lane in range(n):
        chart.add("text", text=f"slot {lane + 1}", x=LEFT - 6,
                  y=round(TOP + (lane + 0.5) * band + 4, 1), class_="tick", text_anchor="end")
    for (start, stop), lane, (_, r) in zip(spans, lanes, ran, strict=True):
        chart.add("rect", x=ax.px(start), y=round(TOP + lane * band + 2, 1),
                  width=max(1.0, round(ax.px(stop) - ax.px(start), 1)),
                  height=round(band - 4, 1), fill=colour(r.status), class_="bar",
                  title=f"{r.trial_id} {r.status}, {r.wall_s:.1f} s: {r.hypothesis}")
    present = sorted({r.status for _, r in ran}, key=list(COLOURS).index)
    legend(chart, [(s, colour(s)) for s in present])
    return chart


def breakdown(counts: dict[str, int]) -> Chart:
    """Trials per status as horizontal bars."""
    chart = Chart("statuses", "trials by status", width=520,
                  height=TOP + BOTTOM + 20 * max(1, len(counts)))
    top = max(counts.values(), default=1)
    ax = Axes(chart, (0, top), (0, max(1, len(counts))))
    ax.draw("trials", "", y_ticks=False)
    for i, (status, n) in enumerate(counts.items()):
        y = TOP + i * 20 + 3
        chart.add("text", text=status, x=LEFT - 6, y=y + 11, class_="tick", text_anchor="end")
        chart.add("rect", x=LEFT, y=y, width=max(1.0, ax.px(n) - LEFT), height=14,
                  fill=colour(status), class_="bar", title=f"{status}: {n}")
        chart.add("text", text=str(n), x=ax.px(n) + 4, y=y + 11, class_="tick")
    return chart
