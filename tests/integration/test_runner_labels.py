"""Every way a run can end gets its label, a one-line reason and the log tail."""

from __future__ import annotations

import time
import uuid
from dataclasses import replace
from pathlib import Path

import pytest
from conftest import make_lab

from autolab import config
from autolab.agents.base import unified_diff
from autolab.gitops import Repo
from autolab.integrity import manifest_at, watched
from autolab.records import Job
from autolab.runners.contract import clean_env
from autolab.runners.local import LocalRunner

WRITE_MODEL = ("import json, os\n"
               "open(os.path.join(os.environ['AUTOLAB_OUT'], 'model.json'), 'w')"
               ".write(json.dumps({'value': 1.0}))\n")

CASES = {
    "crash": ("raise ValueError('bad shapes in block 3')\n", "crash", "bad shapes"),
    "oom": ("raise MemoryError()\n", "oom", "out of memory"),
    "timeout": ("import time\ntime.sleep(60)\n", "timeout", "timeout_seconds"),
    "diverged": ("import os\nopen(os.path.join(os.environ['AUTOLAB_OUT'], 'curve.jsonl'), 'w')"
                 ".write('{\"step\": 0, \"elapsed_s\": 0, \"train_loss\": NaN}\\n')\n"
                 + WRITE_MODEL, "diverged", "NaN"),
    "no_artifact": ("print('trained, forgot to save')\n", "no_artifact", "no artifact"),
    "eval_error": ("import os\nopen(os.path.join(os.environ['AUTOLAB_OUT'], 'model.json'), 'w')"
                   ".write('not json')\n", "eval_error", "evaluator exited"),
}


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    root = make_lab(tmp_path_factory.mktemp("labels") / "lab", timeout=3, budget=1)
    return config.load(root)


@pytest.mark.parametrize("case", sorted(CASES))
def test_failure_label(toy, case):
    script, status, words = CASES[case]
    repo = Repo(toy.root)
    main = repo.rev("main")
    old = repo.read(main, "train/train.py").decode()
    commit = repo.commit_diff(main, unified_diff("train/train.py", old, script), case)
    runner = LocalRunner(toy)
    try:
        result = runner.run(Job(f"t-{case}", commit, manifest_at(repo, commit,
                                                                  watched(toy.config)), main, 0))
    finally:
        runner.close()
    assert result.status == status, (result.reason, result.log_tail)
    assert words in result.reason and "\n" not in result.reason
    if case in ("crash", "oom"):
        assert "Traceback" in result.log_tail


@pytest.mark.parametrize("confined", ["auto", "none"])
def test_timeout_kills_the_whole_process_group(toy, confined):
    # the grandchild is found by a token on its command line: a file it wrote would not
    # reach this side of the sandbox, and the check could not fail
    token = f"grandchild-{uuid.uuid4().hex}"
    child = f"import time; time.sleep(30)  # {token}"
    script = (f"import subprocess, sys, time\nsubprocess.Popen([sys.executable, '-c', {child!r}])"
              "\ntime.sleep(60)\n")
    repo = Repo(toy.root)
    main = repo.rev("main")
    old = repo.read(main, "train/train.py").decode()
    commit = repo.commit_diff(main, unified_diff("train/train.py", old, script), "hang")
    lab = replace(toy, config=replace(toy.config, runner=replace(toy.config.runner,
                                                                 sandbox=confined)))
    runner = LocalRunner(lab)
    try:
        result = runner.run(Job("t-hang", commit, manifest_at(repo, commit, watched(toy.config)),
                                main, 0))
    finally:
        runner.close()
    assert result.status == "timeout"
    time.sleep(0.5)
    alive = [p for p in Path("/proc").glob("[0-9]*/cmdline")
             if token.encode() in _read(p)]
    assert not alive, "a process the trial spawned outlived the timeout"


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError:   # the process ended while we looked
        return b""


def test_trial_environment_has_no_secrets(monkeypatch):
    monkeypatch.setenv("GITHUB_TOKEN", "ghp_secret")
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-secret")
    monkeypatch.setenv("MODAL_TOKEN_ID", "ak-secret")
    env = clean_env({"AUTOLAB_SEED": "1"})
    assert not {"GITHUB_TOKEN", "ANTHROPIC_API_KEY", "MODAL_TOKEN_ID"} & env.keys()
    assert env["AUTOLAB_SEED"] == "1"
