"""The PR comment for each kind of ending, the pages on main, the charts and the anomalies."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import pytest
from conftest import make_lab

from autolab import charts, config, dashboard, decide, report
from autolab.records import LedgerRow, Manifest, Proposal, ScoreRow, Trial

SVG = "{http://www.w3.org/2000/svg}"
FILES = (("evaluator/__main__.py", "a" * 64), ("train/train.py", "b" * 64))
BASE = ScoreRow("baseline", "", "c" * 40, "", 1.50, 0.01, 3, 0.0, "baseline", "d" * 64,
                "e" * 64, "2026-01-05T22:00:00Z")
BEST = ScoreRow("t0003", "local:t0003", "f" * 40, "c" * 40, 1.40, 0.008, 3, -0.1,
                "Set LR from 0.01 to 0.02", "1" * 64, "e" * 64, "2026-01-05T23:00:00Z")


def curve(end: float, points: int = 10) -> str:
    return json.dumps([{"step": i * 10, "elapsed_s": i * 6.0,
                        "train_loss": end + 2.0 / (i + 1)} for i in range(points)])


def ledger_row(trial_id: str, status: str, **kw) -> LedgerRow:
    values = dict(role="optimizer", source="sweep", hypothesis=f"{trial_id} hypothesis",
                  commit_sha="9" * 40, config_sha256="2" * 64, evaluator_sha256="e" * 64,
                  data_sha256="3" * 64, started_at="2026-01-05T23:30:00Z", wall_s=60.0,
                  secondary=json.dumps({"params": 811000, "train_seconds": 58.5}))
    return LedgerRow(trial_id=trial_id, status=status, **{**values, **kw})


HISTORY = [
    *[ledger_row(f"baseline-cccccccccc-s{k}", "baseline", metric=1.50 + k / 100,
                 commit_sha="c" * 40, curve=curve(1.5)) for k in range(3)],
    ledger_row("t0003", "keep", metric=1.40, n_seeds=3, curve=curve(1.4)),
]


def trial(trial_id: str = "t0007", hypothesis: str = "Set WIDTH from 64 to 96") -> Trial:
    proposal = Proposal(role="architecture", hypothesis=hypothesis, rationale="wider helps",
                        expected_delta=-0.02, diff="-WIDTH = 64\n+WIDTH = 96\n",
                        parent_sha="c" * 40, source="sweep")
    return Trial(trial_id, f"autolab/{trial_id}", f"local:{trial_id}", "9" * 40, proposal,
                 Manifest(FILES))


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    return config.load(make_lab(tmp_path_factory.mktemp("report") / "lab"))


def rule(lab) -> decide.Rule:
    return decide.Rule(lab.config, decide.Noise(0.01, 4), BEST, (1.392, 1.40, 1.408))


def render(lab, row: LedgerRow) -> str:
    return report.comment(lab, trial(), row, [BASE, BEST], HISTORY, rule(lab))


def test_keep_comment_has_verdict_table_noise_curve_config_and_reproduce(lab):
    row = ledger_row("t0007", "keep", reason="score 1.35 over 3 seeds beats the best",
                     metric=1.35, metric_std=0.004, n_seeds=3, delta_vs_best=-0.05,
                     seed_metrics="[1.346, 1.35, 1.354]", curve=curve(1.35),
                     flags="suspicious")
    text = render(lab, row)
    assert text.startswith("### ✅ autolab t0007: **keep**: Set WIDTH from 64 to 96")
    assert "| **this trial** | **1.35** | 0.004 | 3 | **-0.05** | -0.15 |" in text
    assert "| best (t0003) | 1.4 | 0.008 | 3 | | -0.1 |" in text
    assert "| baseline | 1.5 | 0.01 | 3 | +0.1 | |" in text
    bar = rule(lab).bar_for(rule(lab).own([1.346, 1.35, 1.354]))
    assert f"more than **{report.fmt(bar)}**" in text
    assert "this trial's σ 0.004 over 3 seeds, the best's 0.008 over 3" in text
    assert "Compute:" not in text      # no train seconds known for the best: no ratio
    assert "flags: **suspicious**" in text
    assert "| params | 811000 | 811000 | 811000 |" in text
    block = text.split("```mermaid\n", 1)[1].split("```", 1)[0]
    assert block.startswith("xychart-beta") and block.count("    line [") == 2
    assert 'x-axis "elapsed_s" 0 --> 54' in block
    assert "second line the best (t0003)" in text
    assert "<details><summary>hash-verified config (222222222222)</summary>" in text
    assert f"| `train/train.py` | `{'b' * 64}` |" in text
    assert f"- evaluator_sha256: `{'e' * 64}`" in text
    assert text.rstrip().endswith("Reproduce: `autolab reproduce t0007`")


def test_comment_shows_the_compute_ratio_beside_the_best(lab):
    row = ledger_row("t0007", "over_compute", reason="beats the best, but with 1.84× its "
                     "train seconds per seed", metric=1.35, n_seeds=2, train_s=44.0,
                     best_train_s=12.0, compute_ratio=44.0 / 2 / 12.0, work=2400.0,
                     best_work=1200.0, seed_metrics="[1.35, 1.35]")
    text = render(lab, row)
    assert text.startswith("### 💸 autolab t0007: **over_compute**")
    assert ("Compute: 22 s of training per seed against the best's 12 s: **1.83×** the "
            "best's; 2400 steps or tokens per seed against 1200 (2.00×)") in text


def test_discard_comment_shows_the_positive_delta_and_both_curves(lab):
    row = ledger_row("t0007", "discard", reason="not lower than the best by the noise bar",
                     metric=1.45, metric_std=0.0, n_seeds=1, delta_vs_best=0.05,
                     curve=curve(1.45))
    text = render(lab, row)
    assert text.startswith("### ➖ autolab t0007: **discard**")
    assert "**Failure:**" not in text and "log tail" not in text
    assert "| **this trial** | **1.45** | 0 | 1 | **+0.05** | -0.05 |" in text
    assert text.count("    line [") == 2


def test_crash_comment_has_label_reason_and_log_tail_in_details(lab):
    tail = "Traceback (most recent call last):\n  File \"train.py\", line 9\nRuntimeError: boom"
    row = ledger_row("t0007", "crash", reason="train exited 1: RuntimeError: boom",
                     log_tail=tail, curve=curve(3.0, points=3), secondary="{}")
    text = render(lab, row)
    assert text.startswith("### ❌ autolab t0007: **crash**")
    assert "**Failure:** `crash`: train exited 1: RuntimeError: boom" in text
    details = text.split("<details><summary>log tail (crash)</summary>", 1)[1]
    assert details.split("</details>", 1)[0].strip() == f"```\n{tail}\n```"
    assert "| **this trial** | **–** | – | 0 | **–** | – |" in text
    assert "| params | – | 811000 | 811000 |" in text   # the trial has none; best and baseline do


def test_integrity_mismatch_comment_without_curve_still_has_the_config(lab):
    row = ledger_row("t0007", "integrity_mismatch", reason="train/train.py: sha256 differs "
                     "from the manifest", secondary="{}", config_sha256="4" * 64)
    text = render(lab, row)
    assert "**Failure:** `integrity_mismatch`: train/train.py: sha256 differs" in text
    assert "```mermaid" not in text and "log tail" not in text   # no curve, no log
    assert f"- config_sha256: `{'4' * 64}`" in text
    assert "autolab reproduce t0007" in text


def test_pages_leaderboard_and_progress_chart(lab):
    keep = ledger_row("t0007", "keep", metric=1.35, n_seeds=3, delta_vs_best=-0.05,
                      diff="--- a/train/train.py\n+++ b/train/train.py\n-WIDTH = 64\n"
                           "+WIDTH = 96\n", hypothesis="Wider | deeper <script>")
    crash = ledger_row("t0008", "crash", reason="boom")
    frontier = [BASE, BEST, ScoreRow("t0007", "https://github.com/o/r/pull/12", "9" * 40,
                                     "f" * 40, 1.35, 0.004, 3, -0.05, keep.hypothesis, "",
                                     "", "2026-01-06T00:00:00Z")]
    pages = report.pages(lab.config, frontier, [*HISTORY, keep, crash])
    readme = pages[report.README].decode()
    board = readme.split("## Leaderboard", 1)[1].splitlines()
    assert board[4].startswith("| 1 | t0007 | **1.35** |")
    assert "Wider \\| deeper <script><br>`-WIDTH = 64`<br>`+WIDTH = 96`" in board[4]
    assert "[#12](https://github.com/o/r/pull/12)" in board[4]
    assert board[6].startswith("| 3 | baseline | 1.5 |")
    assert "3 trials so far: 1 crash, 2 keep." in readme
    svg = ET.fromstring(pages[report.PROGRESS_SVG])
    dots = svg.findall(f".//{SVG}circle")
    assert len(dots) == 5                                 # 3 baseline seeds, t0003, t0007
    assert {d.find(f"{SVG}title").text.split()[0] for d in dots} >= {"t0003", "t0007"}
    assert [m.find(f"{SVG}title").text for m in svg.iter(f"{SVG}rect")
            if m.get("class") == "failmark"] == ["t0008 crash: boom"]
    assert any("<script>" in (t.text or "") for t in svg.iter(f"{SVG}title"))  # as text


def test_nice_ticks_and_slot_packing():
    assert charts.nice_ticks(0.0, 1.0) == [0.0, 0.2, 0.4, 0.6, 0.8, 1.0]
    assert charts.nice_ticks(1.31, 1.62, 5) == [1.4, 1.5, 1.6]
    assert charts.nice_ticks(0.0, 3.0, 8, whole=True) == [0.0, 1.0, 2.0, 3.0]
    assert charts.nice_ticks(0.0, 20.0, 8, whole=True) == [0.0, 5.0, 10.0, 15.0, 20.0]
    # two slots: the third run starts once the first has ended
    spans = [(0, 10), (1, 12), (10, 20), (11, 15), (12.5, 13)]
    unslotted = [ledger_row(f"t{k}", "discard") for k in range(5)]
    assert charts.lanes(unslotted, spans) == [0, 1, 0, 2, 1]
    # recorded slots hold; an unslotted run goes to the first slot free all through its span
    slotted = [ledger_row("t0", "discard", slot=2), ledger_row("b", "baseline"),
               ledger_row("t1", "discard", slot=1)]
    assert charts.lanes(slotted, [(0, 5), (1, 3), (4, 8)]) == [1, 0, 0]
    assert charts.lanes(slotted, [(0, 5), (3, 6), (4, 8)]) == [1, 2, 0]


def test_anomalies_diverging_suspicious_and_repeated_crashes():
    up = json.dumps([{"step": i, "train_loss": 2.0 + i} for i in range(5)])
    nan = '[{"step": 0, "train_loss": 2.0}, {"step": 1, "train_loss": NaN}]'
    rows = [ledger_row("t0001", "discard", curve=up),
            ledger_row("t0002", "diverged", reason="loss became inf at step 40"),
            ledger_row("t0003", "keep", flags="suspicious", delta_vs_best=-0.5,
                       curve=curve(1.0)),
            ledger_row("t0004", "crash", role="data"),
            ledger_row("t0005", "rejected", role="data"),   # never ran: no effect on streak
            ledger_row("t0006", "oom", role="data"),
            ledger_row("t0007", "discard", role="optimizer", curve=nan),
            ledger_row("t0008", "timeout", role="data"),
            ledger_row("t0009", "crash", role="schedule"),
            ledger_row("t0010", "discard", role="schedule"),
            ledger_row("t0011", "crash", role="schedule")]
    found = [(a.kind, a.trial_id) for a in dashboard.anomalies(rows)]
    assert found == [("diverging", "t0001"), ("diverging", "t0002"), ("suspicious", "t0003"),
                     ("diverging", "t0007"), ("repeated crashes", "t0008")]
    summary = dashboard.summarize(rows)
    data = next(r for r in summary.roles if r.name == "data")
    assert (data.trials, data.failed, data.refused, data.kept) == (4, 3, 1, 0)
    assert any(line.startswith("anomaly (repeated crashes) t0008: role data crashed 3 times")
               for line in dashboard.essentials(summary))


def test_the_cost_shows_the_agent_and_the_runner_apart(lab):
    rows = [ledger_row("baseline-x-s0", "baseline", gpu_usd=0.5, cpu_usd=0.03, cost_usd=0.53,
                       startup_s=20.0),
            ledger_row("t0001", "discard", agent_usd=0.02, gpu_usd=1.5, cpu_usd=0.09,
                       startup_s=40.0, cost_usd=1.61, tokens_in=900, tokens_out=100),
            # a row from before the ledger kept the parts: its cost counts in the total only
            ledger_row("t0002", "keep", agent_usd=None, gpu_usd=None, cpu_usd=None,
                       startup_s=None, cost_usd=0.25)]
    summary = dashboard.summarize(rows)
    assert (summary.agent_usd, summary.compute_usd) == pytest.approx((0.02, 2.12))
    line = dashboard.essentials(summary)[0]
    assert line.startswith("cost $2.39: agent $0.02 (1000 tokens) + runner $2.12 (GPU $2.00, "
                           "CPU and memory $0.12, 60 s of start-up)"), line
    page = dashboard.html(lab.config, rows, [])
    assert "agent $0.02 (1000 tokens) + runner $2.12" in page


def test_status_says_what_each_kept_trial_cost_in_compute():
    rows = [ledger_row("baseline-x-s0", "baseline", train_s=60.0, eval_s=2.0),
            ledger_row("t0001", "discard", train_s=60.0, eval_s=2.0),
            ledger_row("t0002", "keep", train_s=240.0, eval_s=8.0)]
    line = dashboard.essentials(dashboard.summarize(rows))[0]
    assert line.endswith("372 compute-seconds (0 on GPUs), 372 per kept trial"), line
    none = dashboard.essentials(dashboard.summarize(rows[:2]))[0]
    assert none.endswith(", none kept yet"), none
