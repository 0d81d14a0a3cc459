"""The whole loop on generated labs: real git, real subprocesses, real Parquet."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from conftest import SEED_ONLY, autolab, git, make_lab

from autolab import scores
from autolab.gitops import Repo
from autolab.ledger import Ledger
from autolab.records import BASELINE


def ledger_rows(root: Path):
    return Ledger(Repo(root), root / ".autolab").rows()


def frontier(root: Path):
    return scores.parse(Repo(root).read("main", scores.PATH))


def test_run_eight_trials_in_parallel(lab):
    autolab(lab, "run", "--trials", "8", "--parallel", "2")
    rows = ledger_rows(lab)
    trials = [r for r in rows if r.status != BASELINE]
    # the baseline's own seeds; more seeds of the best, when the rule asks, are their own rows
    assert len([r for r in rows if r.status == BASELINE and r.source == "baseline"]) == 3
    assert len(trials) == 8 and len({r.trial_id for r in rows}) == len(rows)
    table = frontier(lab)
    assert table[0].trial_id == "baseline" and table[0].n_seeds == 3
    kept = [r.trial_id for r in trials if r.status == "keep"]
    assert kept, "the toy lab's LR is far from its optimum; the sweep should find a win"
    assert [row.trial_id for row in table[1:]] == kept
    best = table[-1]
    assert git(lab, "show", "main:train/train.py") == git(
        lab, "show", f"{best.commit_sha}:train/train.py")
    for r in trials:
        if r.status != "keep":
            assert git(lab, "rev-parse", f"refs/autolab/trials/{r.trial_id}") == r.commit_sha
    # each kept trial is one merge commit carrying its change and its scores row together
    for row in table[1:]:
        merged = git(lab, "log", "--format=%H", "--grep", f"keep {row.trial_id}:", "main")
        assert merged and row.trial_id in git(lab, "show", f"{merged}:reports/scores.csv")
    assert git(lab, "status", "--porcelain", "--untracked-files=no") == ""
    # the next run's lines show the best it starts from, before anything has ended
    again = autolab(lab, "run", "--trials", "1").stdout
    first = next(ln for ln in again.splitlines() if "started:" in ln)
    assert f"best {best.metric:.5g} [1/1]" in first, again


def test_aa_lab_merges_nothing(tmp_path):
    lab = make_lab(tmp_path / "aa", body=SEED_ONLY, sigma=0.05)
    before = git(lab, "show", "main:train/train.py")
    autolab(lab, "run", "--trials", "10", "--parallel", "2")
    trials = [r for r in ledger_rows(lab) if r.status != BASELINE]
    assert len(trials) == 10
    assert {r.status for r in trials} <= {"discard"}, [(r.trial_id, r.status) for r in trials]
    assert [row.trial_id for row in frontier(lab)] == ["baseline"]
    assert git(lab, "show", "main:train/train.py") == before


def test_sigkill_mid_trial_then_resume(tmp_path):
    lab = make_lab(tmp_path / "lab", sleep=1.5)
    (lab / "notes.txt").write_text("uncommitted work\n")
    (lab / "train" / "train.py").write_text(
        (lab / "train" / "train.py").read_text() + "# my local edit\n")
    proc = subprocess.Popen([sys.executable, "-m", "autolab", "run", "--trials", "4"], cwd=lab,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while not (lab / ".autolab" / "prs" / "t0002.json").exists():
        assert time.monotonic() < deadline and proc.poll() is None
        time.sleep(0.1)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    interrupted = {r.trial_id for r in ledger_rows(lab)}
    assert "t0002" not in interrupted

    autolab(lab, "run", "--trials", "2")
    rows = ledger_rows(lab)
    ids = [r.trial_id for r in rows]
    assert len(ids) == len(set(ids))
    records = [json.loads(p.read_text()) for p in (lab / ".autolab" / "prs").glob("*.json")]
    assert all(rec["state"] != "open" for rec in records)
    assert {rec["trial_id"] for rec in records} <= set(ids)
    assert "t0002" in ids
    # main holds exactly the kept trials, each with its scores row
    kept = [r.trial_id for r in rows if r.status == "keep"]
    assert [row.trial_id for row in frontier(lab)[1:]] == kept
    # the user's uncommitted work is untouched
    assert (lab / "notes.txt").read_text() == "uncommitted work\n"
    assert (lab / "train" / "train.py").read_text().endswith("# my local edit\n")


def test_second_run_on_same_lab_is_refused(tmp_path):
    lab = make_lab(tmp_path / "lab", sleep=2)
    first = subprocess.Popen([sys.executable, "-m", "autolab", "run", "--trials", "1"], cwd=lab,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while not (lab / ".autolab" / "run.lock").exists():
            time.sleep(0.05)
        time.sleep(0.3)
        second = autolab(lab, "run", "--trials", "1", check=False)
        assert second.returncode == 2
        assert "already active" in second.stdout + second.stderr
    finally:
        first.kill()
        first.wait()


def test_malformed_config_is_one_line_exit_2(lab):
    path = lab / "pyproject.toml"
    path.write_text(path.read_text().replace('direction = "minimize"', 'direction = "down"'))
    proc = autolab(lab, "run", "--trials", "1", check=False)
    assert proc.returncode == 2
    message = (proc.stdout + proc.stderr).strip()
    assert "direction" in message and str(path) in message.replace("\n", "")
    assert "Traceback" not in message and len(message.splitlines()) <= 2


def test_try_assignment_runs_now(lab):
    autolab(lab, "try", "LR=0.01")
    trials = [r for r in ledger_rows(lab) if r.status != BASELINE]
    assert len(trials) == 1 and trials[0].source == "human"
    assert "LR = 0.01" in trials[0].diff and trials[0].status == "keep"
    assert "LR = 0.01" in git(lab, "show", "main:train/train.py")


def test_try_unknown_constant_is_exit_2(lab):
    proc = autolab(lab, "try", "NOPE=3", check=False)
    assert proc.returncode == 2 and "NOPE" in proc.stdout + proc.stderr


def test_status_and_reproduce(lab):
    autolab(lab, "try", "LR=0.01")
    status = autolab(lab, "status").stdout
    assert "best score" in status and "t0001" in status and "keep" in status
    out = autolab(lab, "reproduce", "t0001").stdout
    recorded = json.loads([r for r in ledger_rows(lab) if r.trial_id == "t0001"][0].seed_metrics)
    got = [float(line.split("score=")[1].split()[0]) for line in out.splitlines()
           if "score=" in line]
    assert got == recorded  # same commit, same seeds, same evaluator: the same numbers
