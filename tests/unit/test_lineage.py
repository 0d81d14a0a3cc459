"""The dashboard's charts of history: the lineage tree, recorded Gantt slots, outliers."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from autolab import charts, dashboard, report
from autolab.records import LedgerRow, ScoreRow

SVG = "{http://www.w3.org/2000/svg}"


def shapes(chart: charts.Chart, cls: str) -> list:
    svg = ET.fromstring(report.svg(chart))
    return [e for e in svg.iter() if (e.get("class") or "").split()[:1] == [cls]]


def row(trial_id, status="discard", parent="", **values) -> LedgerRow:
    return LedgerRow(trial_id=trial_id, status=status, parent_trial=parent, **values)


def test_tree_has_one_node_per_trial_and_the_kept_path_on_top():
    rows = [row("i1", "keep", source="import:r.tsv"), row("i2", parent="i1"),
            row("i3", "keep", parent="i1"), row("i4", parent="i2"),
            row("i5", "tentative", parent="i3"), row("t0001", parent="")]
    kept = dashboard.kept_path(rows, ["i3"])
    assert kept == {"i1", "i3"}
    chart = charts.tree(rows, kept)
    nodes = shapes(chart, "node")
    assert len(nodes) == 6
    lane = {n.find(f"{SVG}title").text.split()[0]: float(n.get("cy")) for n in nodes}
    assert lane["i1"] == lane["i3"] < lane["i2"] == lane["i5"] < lane["i4"]
    edges = shapes(chart, "edge")
    assert len(edges) == 4                                     # t0001 is a root
    assert [e for e in edges if e.get("class") == "edge kept"] != []
    assert any(t.text == "tentative" for t in ET.fromstring(report.svg(chart)).iter(f"{SVG}text"))


def test_gantt_draws_recorded_slots_from_start_to_end():
    # wall_s sums a trial's seeds, run side by side: packing start + wall_s would need
    # three lanes where the loop used two slots
    stamps = [f"2026-03-01T10:0{m}:00Z" for m in range(10)]
    rows = [row("t0001", started_at=stamps[0], ended_at=stamps[2], wall_s=300.0, slot=1),
            row("t0002", started_at=stamps[0], ended_at=stamps[1], wall_s=60.0, slot=2),
            row("t0003", started_at=stamps[1], ended_at=stamps[3], wall_s=400.0, slot=2),
            row("t0004", started_at=stamps[2], ended_at=stamps[4], wall_s=400.0, slot=1),
            row("baseline-abc-s0", "baseline", started_at=stamps[4], wall_s=30.0)]
    chart = charts.gantt(rows)
    labels = [t.text for t in ET.fromstring(report.svg(chart)).iter(f"{SVG}text")
              if (t.text or "").startswith(("slot", "unrecorded"))]
    assert labels == ["slot 1", "slot 2"]     # a row with no slot fills a free slot's lane
    bars = {b.find(f"{SVG}title").text.split()[0]: b for b in shapes(chart, "bar")}
    assert bars["baseline-abc-s0"].get("y") in {bars["t0001"].get("y"), bars["t0002"].get("y")}
    assert "120.0 s" in bars["t0001"].find(f"{SVG}title").text   # ended_at, not wall_s
    assert bars["t0001"].get("y") == bars["t0004"].get("y") != bars["t0002"].get("y")


def test_progress_marks_a_far_off_value_and_places_history_before_zero():
    imported = [row(f"import-r-{i:05d}-aaaaaa", "keep" if i in (1, 4) else "discard",
                    source="import:r.tsv", metric=m, hypothesis=f"h{i}")
                for i, m in enumerate([1.30, 1.31, 1.32, 1.28, 1.29, 1.33], start=1)]
    ours = [row("t0001", metric=1.27), row("t0002", "repair", metric=40.0)]
    base = ScoreRow("baseline", "", "0" * 40, "", 1.29, 0.01, 3, 0.0, "baseline", "", "", "")
    best = tuple([[imported[0], imported[3]]])
    chart = charts.progress(imported + ours, [base], "val_bpb", best)
    assert charts.positions(imported + ours)["import-r-00001-aaaaaa"] == -6
    dots = shapes(chart, "dot")
    assert len(dots) == 8
    off = [d for d in dots if d.get("class") == "dot clipped"]
    assert [d.find(f"{SVG}title").text.split()[0] for d in off] == ["t0002"]
    assert "off the scale" in off[0].find(f"{SVG}title").text
    assert len(shapes(chart, "outlier")) == 1
    assert shapes(chart, "best")[-1].get("class") == "best imported"
    svg = report.svg(chart)
    assert "1 off the scale" in svg and "imported history before 0" in svg
