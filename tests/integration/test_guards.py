"""Bad proposals and altered files never reach training (acceptance 5 and 6)."""

from __future__ import annotations

from pathlib import Path

from conftest import git, make_lab
from rich.console import Console

from autolab import config
from autolab.agents.base import unified_diff
from autolab.agents.scripted import ScriptedAgent
from autolab.assemble import make_loop
from autolab.forges.local import LocalForge
from autolab.gitops import Repo
from autolab.integrity import manifest_at, watched
from autolab.ledger import Ledger
from autolab.progress import Progress
from autolab.records import BASELINE, Job, Proposal
from autolab.runners.local import LocalRunner


def proposal(diff: str, hypothesis: str = "a change") -> Proposal:
    return Proposal(role="test", hypothesis=hypothesis, rationale="scripted", expected_delta=0,
                    diff=diff, parent_sha="", source="human")


def run_loop(root: Path, proposals: list[Proposal], trials: int | None = None):
    lab = config.load(root)
    runner = LocalRunner(lab, parallel=1)
    ledger = Ledger(Repo(root), lab.home)
    loop = make_loop(lab, LocalForge(lab), runner, ScriptedAgent(proposals), ledger,
                     Progress(Console(quiet=True), lab.config.metric))
    try:
        loop.run(trials or len(proposals), 1)
    finally:
        runner.close()
    return {r.trial_id: r for r in ledger.rows() if r.status != BASELINE}


def edit(root: Path, path: str, old: str, new: str) -> str:
    text = (root / path).read_text()
    return unified_diff(path, text, text.replace(old, new))


def test_bad_proposals_become_rejected_rows(lab):
    snapshot = {p: (lab / p).read_bytes() for p in ("train/train.py", "evaluator/__main__.py")}
    main_before = git(lab, "rev-parse", "main")
    evaluator_edit = edit(lab, "evaluator/__main__.py", '"score": value', '"score": 0.0')
    stale_context = unified_diff("train/train.py", "LR = 0.5\nWIDTH = 4\n", "LR = 0.1\nWIDTH = 4\n")
    escape = ("--- a/../outside.py\n+++ b/../outside.py\n@@ -0,0 +1 @@\n+x = 1\n")
    config_edit = edit(lab, "pyproject.toml", "budget_seconds = 5", "budget_seconds = 500")
    rows = run_loop(lab, [proposal(evaluator_edit), proposal(stale_context), proposal(escape),
                          proposal(config_edit)])
    reasons = {tid: (r.status, r.reason) for tid, r in rows.items()}
    assert reasons["t0001"][0] == "rejected" and "frozen path evaluator/" in reasons["t0001"][1]
    assert reasons["t0002"][0] == "rejected" and "does not apply" in reasons["t0002"][1]
    assert reasons["t0003"][0] == "rejected"
    assert reasons["t0004"][0] == "rejected" and "pyproject.toml" in reasons["t0004"][1]
    for row in rows.values():
        assert row.train_s == 0 and row.diff  # refused before any compute, diff kept
    # main moved only by the baseline's scores row; the user's files are as they were
    assert git(lab, "rev-parse", "main^") == main_before
    assert {p: (lab / p).read_bytes() for p in snapshot} == snapshot
    assert not git(lab, "for-each-ref", "refs/heads/autolab/t*")


def test_duplicate_change_is_not_run_twice(lab):
    change = edit(lab, "train/train.py", "WIDTH = 4", "WIDTH = 5")
    rows = run_loop(lab, [proposal(change), proposal(change)])
    assert rows["t0001"].status in ("discard", "keep")
    if rows["t0001"].status == "discard":
        assert rows["t0002"].status == "duplicate"


def test_worktree_edit_after_commit_is_never_trained(lab):
    """A formatter or hook rewriting the checkout cannot change what a trial trains."""
    change = edit(lab, "train/train.py", "LR = 0.04", "LR = 0.01")
    committed = Repo(lab)
    # the working tree now holds a broken script that was never committed
    (lab / "train" / "train.py").write_text("raise SystemExit('not the committed bytes')\n")
    rows = run_loop(lab, [proposal(change)])
    assert rows["t0001"].status == "keep", rows["t0001"].reason
    assert "LR = 0.01" in committed.read("main", "train/train.py").decode()
    assert (lab / "train" / "train.py").read_text().startswith("raise SystemExit")


def test_bytes_rewritten_on_export_stop_as_integrity_mismatch(tmp_path):
    """A git attribute that rewrites a file on its way out: the manifest catches it."""
    root = make_lab(tmp_path / "lab", init=False)
    (root / ".gitattributes").write_text("train/train.py export-subst\n")
    git(root, "add", ".gitattributes")
    git(root, "commit", "-qm", "attributes")
    from conftest import autolab
    autolab(root, "init")
    change = edit(root, "train/train.py", "LR = 0.04", "LR = 0.01  # rev $Format:%H$")
    rows = run_loop(root, [proposal(change)])
    assert rows["t0001"].status == "integrity_mismatch"
    assert "train/train.py" in rows["t0001"].reason
    assert rows["t0001"].train_s == 0


def test_runner_refuses_a_manifest_of_another_commit(lab):
    lab_cfg = config.load(lab)
    repo = Repo(lab)
    first = repo.rev("main")
    other = repo.commit_diff(first, edit(lab, "train/train.py", "WIDTH = 4", "WIDTH = 9"), "x")
    runner = LocalRunner(lab_cfg)
    try:
        result = runner.run(Job("t9999", other, manifest_at(repo, first, watched(lab_cfg.config)),
                                first, 0))
    finally:
        runner.close()
    assert result.status == "integrity_mismatch" and "train/train.py" in result.reason
