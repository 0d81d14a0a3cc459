"""A trial that crashes, hangs, runs out of memory, diverges, saves nothing, or breaks
the evaluator ends with its label; the run goes on and nothing else is harmed."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import git, make_lab
from rich.console import Console
from test_kill_phases import check_consistent, with_user_work

from autolab import config
from autolab.agents.base import unified_diff
from autolab.agents.scripted import ScriptedAgent
from autolab.assemble import make_loop
from autolab.forges.local import LocalForge
from autolab.gitops import Repo
from autolab.ledger import Ledger
from autolab.progress import Progress
from autolab.records import Proposal
from autolab.runners.local import LocalRunner

EVALUATOR = '''\
"""FROZEN: scores the artifact; breaks on purpose when the artifact asks it to."""
import json, os
with open(os.path.join(os.environ["AUTOLAB_ARTIFACT"], "model.json")) as f:
    model = json.load(f)
if model.get("break_the_evaluator"):
    raise RuntimeError("evaluator bug triggered by an unusual artifact")
with open(os.environ["AUTOLAB_RESULT"], "w") as f:
    json.dump({"status": "ok", "metrics": {"score": model["value"]}, "reason": ""}, f)
'''
SAVE = ("import json, os\nout = os.environ['AUTOLAB_OUT']\n"
        "open(os.path.join(out, 'model.json'), 'w').write(json.dumps({payload}))\n")
FAULTS = {
    "crash": ("raise RuntimeError('shape mismatch in attention')\n", "crash"),
    "hang": ("import time\ntime.sleep(120)\n", "timeout"),
    "memory": ("x = bytearray(1 << 62)\n", "oom"),
    "nan": ("import json, os\nout = os.environ['AUTOLAB_OUT']\n"
            "open(os.path.join(out, 'curve.jsonl'), 'w').write("
            "json.dumps({'step': 0, 'elapsed_s': 0.1, 'train_loss': float('nan')}) + '\\n')\n"
            + SAVE.format(payload="{'value': float('nan')}"), "diverged"),
    "no_artifact": ("print('done training, forgot to save')\n", "no_artifact"),
    "evaluator_crash": (SAVE.format(payload="{'value': 1.0, 'break_the_evaluator': True}"),
                        "eval_error"),
}


@pytest.fixture(scope="module")
def lab(tmp_path_factory) -> Path:
    root = make_lab(tmp_path_factory.mktemp("faults") / "lab", timeout=4, budget=1,
                    init=False)
    (root / "evaluator" / "__main__.py").write_text(EVALUATOR)
    git(root, "commit", "-qam", "evaluator with a known bug")
    from conftest import autolab
    autolab(root, "init")
    return root


def test_each_failure_is_labelled_and_the_run_goes_on(lab):
    with_user_work(lab)
    cfg = config.load(lab)
    old = (lab / "train" / "train.py").read_text()
    proposals = [Proposal(role="test", hypothesis=f"fault: {name}", rationale="injected",
                          expected_delta=0, diff=unified_diff("train/train.py", old, script),
                          parent_sha="", source="human")
                 for name, (script, _label) in FAULTS.items()]
    proposals.append(Proposal(role="test", hypothesis="a sound change", rationale="control",
                              expected_delta=0, diff=unified_diff(
                                  "train/train.py", old, old.replace("LR = 0.04", "LR = 0.01")),
                              parent_sha="", source="human"))
    runner = LocalRunner(cfg, parallel=2)
    loop = make_loop(cfg, LocalForge(cfg), runner, ScriptedAgent(proposals),
                     Ledger(Repo(lab), cfg.home), Progress(Console(quiet=True), "score"))
    try:
        loop.run(len(proposals), 2)
    finally:
        runner.close()
    rows = {r.hypothesis: r for r in check_consistent(lab)}
    for name, (_script, label) in FAULTS.items():
        row = rows[f"fault: {name}"]
        assert row.status == label, (name, row.status, row.reason)
        assert row.reason and "\n" not in row.reason
    assert rows["fault: crash"].log_tail.count("shape mismatch") >= 1
    assert "evaluator bug" in rows["fault: evaluator_crash"].log_tail
    assert rows["a sound change"].status == "keep"
