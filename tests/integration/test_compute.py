"""Compute in every verdict: the ratio of a trial's train seconds per seed to the best's, in
the verdict line, the PR comment and `autolab status`; `max_compute_ratio` keeps a trial that
bought its gain with more compute from merging on the metric alone."""

from __future__ import annotations

import json
import re

from conftest import autolab, git, make_lab

from autolab import config as config_mod
from autolab.gitops import Repo
from autolab.ledger import Ledger
from autolab.records import BASELINE

# more steps train longer and score better: a real gain, bought with compute
STEPS = """STEPS = 4
time.sleep(0.15 * STEPS)
value = 1.0 / STEPS"""


def compute_lab(tmp_path, extra: str = ""):
    lab = make_lab(tmp_path / "lab", body=STEPS, sigma=0.005)
    if extra:
        path = lab / "pyproject.toml"
        path.write_text(path.read_text() + extra)
        git(lab, "commit", "-q", "-am", "lab setting")
    return lab


def trial_rows(lab):
    rows = Ledger(Repo(lab), config_mod.load(lab).home).rows()
    return [r for r in rows if r.status != BASELINE]


def comment(lab, trial_id: str) -> str:
    record = json.loads((lab / ".autolab" / "prs" / f"{trial_id}.json").read_text())
    return record["comments"][-1]["body"]


def test_a_keep_shows_its_compute_ratio_in_the_line_the_comment_and_status(tmp_path):
    lab = compute_lab(tmp_path)
    out = autolab(lab, "try", "STEPS=8").stdout
    (row,) = trial_rows(lab)
    assert row.status == "keep", out
    assert row.best_train_s > 0 and row.compute_ratio is not None
    assert 1.4 < row.compute_ratio < 2.2          # 8 steps against 4, plus python's start
    assert row.compute_ratio == row.train_s / row.n_seeds / row.best_train_s
    assert row.work == row.best_work == 5          # the toy's curve.jsonl: steps 0..4
    line = next(ln for ln in out.splitlines() if f"{row.trial_id} keep" in ln)
    assert f"compute {row.compute_ratio:.2f}×" in line, out
    text = comment(lab, row.trial_id)
    assert re.search(r"Compute: [\d.]+ s of training per seed against the best's [\d.]+ s: "
                     rf"\*\*{row.compute_ratio:.2f}×\*\* the best's", text), text
    status = autolab(lab, "status").stdout
    assert f"{row.compute_ratio:.2f}×" in status, status


def test_max_compute_ratio_stops_a_costly_gain_from_merging(tmp_path):
    lab = compute_lab(tmp_path, "max_compute_ratio = 1.3\n")
    before = git(lab, "show", "main:train/train.py")
    out = autolab(lab, "try", "STEPS=8").stdout
    (row,) = trial_rows(lab)
    assert row.status == "over_compute", out
    assert "above max_compute_ratio 1.3: not kept on the metric alone" in row.reason
    assert git(lab, "show", "main:train/train.py") == before          # not merged
    assert "over_compute" in out
    text = comment(lab, row.trial_id)
    assert text.split("\n", 2)[1].startswith("### 💸 autolab t0001: **over_compute**"), text
    assert "(max_compute_ratio 1.3)" in text
    status = autolab(lab, "status").stdout
    assert "1 over_compute" in status and "over_compute" in status, status
