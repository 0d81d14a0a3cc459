"""Pruning in the real loop: only once completed trials show that train loss predicts the
metric; then a clearly losing trial stops early, and a winner never does."""

from __future__ import annotations

import json

import pytest
from conftest import autolab, git, make_lab

from autolab.gitops import Repo
from autolab.ledger import Ledger

STREAMING = '''\
"""Writes its loss curve while it trains, like a real script; LR sets how fast it learns."""
import json, math, os, random, time
LR = 0.04  # edit these directly
BUDGET = float(os.environ["AUTOLAB_BUDGET_S"])
rng = random.Random(int(os.environ["AUTOLAB_SEED"]))
speed = 1.0 / (1.0 + abs(math.log10(LR) + 2.0) * 3)   # best at LR = 0.01
out = os.environ["AUTOLAB_OUT"]
start = time.monotonic()
with open(os.path.join(out, "curve.jsonl"), "w") as f:
    step = 0
    while (elapsed := time.monotonic() - start) < BUDGET:
        loss = 1.0 + 2.0 * math.exp(-3 * speed * elapsed / BUDGET) + rng.gauss(0, 0.003)
        f.write(json.dumps({"step": step, "elapsed_s": elapsed, "train_loss": loss}) + "\\n")
        f.flush()
        step += 1
        time.sleep(0.05)
with open(os.path.join(out, "model.json"), "w") as f:
    json.dump({"value": loss}, f)
'''


# learning rates whose speeds all differ: their curves rank at every fraction as they end
SPREAD = ("0.08", "0.02", "0.004", "0.16", "0.002", "0.03", "0.0015", "0.06")


@pytest.mark.slow   # ten trials of streamed training before the rule exists: about a minute
def test_pruning_waits_for_evidence_then_stops_a_loser_and_never_a_winner(tmp_path):
    lab = make_lab(tmp_path / "lab", budget=2.5, timeout=30, init=False)
    (lab / "train" / "train.py").write_text(STREAMING)
    git(lab, "commit", "-qam", "streaming curve")
    autolab(lab, "init")
    for lr in SPREAD:       # before 8 completed trials there is no rule: all run whole
        autolab(lab, "try", f"LR={lr}")
    autolab(lab, "try", "LR=0.0001")     # learns far slower: clearly losing
    autolab(lab, "try", "LR=0.01")       # the best learning rate: must not be pruned
    rows = {r.trial_id: r for r in Ledger(Repo(lab), lab / ".autolab").rows()}
    assert all(rows[f"t{i:04d}"].status != "pruned" for i in range(1, 9))
    losing, winner = rows["t0009"], rows["t0010"]
    assert losing.status == "pruned", (losing.status, losing.reason)
    assert "of the budget" in losing.reason and "median" in losing.reason
    assert losing.train_s < 0.75 * 2.5   # stopped well before its budget
    assert winner.status == "keep", (winner.status, winner.reason)
    assert len(json.loads(winner.seeds)) == 3
    assert "pruning from" in autolab(lab, "status").stdout


@pytest.mark.slow   # many real trials: the slow tier keeps the default run short
def test_pruning_can_be_turned_off(tmp_path):
    lab = make_lab(tmp_path / "lab", budget=4, timeout=30, init=False)
    (lab / "train" / "train.py").write_text(STREAMING)
    path = lab / "pyproject.toml"
    path.write_text(path.read_text().replace("confirm_seeds = 2\n",
                                             "confirm_seeds = 2\nprune = false\n"))
    git(lab, "commit", "-qam", "streaming curve, no pruning")
    autolab(lab, "init")
    autolab(lab, "try", "LR=0.0001")
    row = next(r for r in Ledger(Repo(lab), lab / ".autolab").rows() if r.trial_id == "t0001")
    assert row.status == "discard" and row.train_s >= 4
    assert "pruning is off (`prune = false`)" in autolab(lab, "status").stdout
