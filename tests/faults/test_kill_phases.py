"""SIGKILL in every phase, a full disk, a forge error: the next run finishes the job.

After each fault and one plain rerun: every trial has exactly one ledger row,
no PR is left open, `main` holds each kept trial's script and scores row
together, and the user's uncommitted work is untouched.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import autolab, git, make_lab

from autolab import scores
from autolab.gitops import Repo
from autolab.ledger import Ledger
from autolab.records import BASELINE

DRIVER = Path(__file__).with_name("driver.py")
PHASES = ["propose", "open", "run", "evaluate", "merge", "record"]


def armed(lab: Path, phase: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(DRIVER), phase, "--", *args], cwd=lab,
                          capture_output=True, text=True, timeout=120)


def with_user_work(lab: Path) -> None:
    (lab / "scratch.txt").write_text("my notes\n")
    path = lab / "evaluator" / "__init__.py"
    path.write_text("# half-written idea, not committed\n")


def check_consistent(lab: Path) -> list:
    repo = Repo(lab)
    rows = Ledger(repo, lab / ".autolab").rows()
    ids = [r.trial_id for r in rows]
    assert len(ids) == len(set(ids)), "a ledger row was doubled"
    records = [json.loads(p.read_text()) for p in (lab / ".autolab" / "prs").glob("*.json")]
    assert all(r["state"] != "open" for r in records), "a PR was left open"
    assert {r["trial_id"] for r in records} <= set(ids), "a trial lost its ledger row"
    assert not list((lab / ".autolab" / "pending").glob("*.json"))
    assert not git(lab, "for-each-ref", "refs/heads/autolab/t*")
    frontier = scores.parse(repo.read("main", scores.PATH))
    kept = [r.trial_id for r in rows if r.status == "keep"]
    assert [s.trial_id for s in frontier[1:]] == kept
    merges = git(lab, "log", "--format=%s", "--grep", "^autolab: keep", "main").splitlines()
    assert len(merges) == len(kept), "main's merges and its scores rows disagree"
    if kept:
        assert git(lab, "show", "main:train/train.py") == git(
            lab, "show", f"{frontier[-1].commit_sha}:train/train.py")
    assert (lab / "scratch.txt").read_text() == "my notes\n"
    assert (lab / "evaluator" / "__init__.py").read_text().startswith("# half-written")
    return rows


@pytest.mark.parametrize("phase", PHASES)
def test_sigkill_in_phase_then_resume(tmp_path, phase):
    lab = make_lab(tmp_path / "lab", sleep=1.0 if phase == "run" else 0.0)
    autolab(lab, "baseline")
    with_user_work(lab)
    killed = armed(lab, phase, "try", "LR=0.01")
    assert killed.returncode == -9, killed.stdout + killed.stderr
    autolab(lab, "run", "--trials", "2")
    rows = check_consistent(lab)
    trials = [r for r in rows if r.status != BASELINE]
    if phase != "propose":  # killed before anything existed, nothing to resume
        first = next(r for r in trials if r.trial_id == "t0001")
        assert first.status == "keep" and "LR = 0.01" in first.diff


def test_disk_full_on_ledger_write_then_resume(tmp_path):
    lab = make_lab(tmp_path / "lab")
    autolab(lab, "baseline")
    with_user_work(lab)
    failed = armed(lab, "disk_full", "try", "LR=0.01")
    assert failed.returncode == 1
    out = (failed.stdout + failed.stderr).strip()
    assert "No space left on device" in out and "run again" in out
    assert "Traceback" not in out
    autolab(lab, "run", "--trials", "1")
    rows = check_consistent(lab)
    assert next(r for r in rows if r.trial_id == "t0001").status == "keep"


def test_forge_error_on_merge_then_resume(tmp_path):
    lab = make_lab(tmp_path / "lab")
    autolab(lab, "baseline")
    with_user_work(lab)
    main_before = git(lab, "rev-parse", "main")
    first = armed(lab, "forge_merge", "try", "LR=0.01")
    assert first.returncode == 0, first.stdout + first.stderr
    assert "502" in first.stdout
    assert git(lab, "rev-parse", "main") == main_before   # neither script nor scores moved
    assert not Ledger(Repo(lab), lab / ".autolab").has("t0001")
    autolab(lab, "run", "--trials", "1")
    rows = check_consistent(lab)
    assert next(r for r in rows if r.trial_id == "t0001").status == "keep"
