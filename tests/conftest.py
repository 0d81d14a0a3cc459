"""Shared fixtures: small real labs in temporary git repositories.

A generated lab's "training" is a few lines of Python whose metric depends on
its UPPER_CASE constants and on the seed, so the whole loop (git, subprocesses,
Parquet, decisions) runs for real in well under a second per trial.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

TRAIN = '''\
"""A stand-in training script: its metric depends on the constants and the seed."""
import json, math, os, random, sys, time
LR = 0.04          # edit these directly
WIDTH = 4
DEPTH = 2
USE_NORM = False
SLEEP_S = {sleep}  # autolab: fixed

rng = random.Random(int(os.environ["AUTOLAB_SEED"]))
out = os.environ["AUTOLAB_OUT"]
time.sleep(SLEEP_S)
{body}
noise = rng.gauss(0.0, {sigma})
with open(os.path.join(out, "curve.jsonl"), "w") as f:
    for step in range(5):
        f.write(json.dumps({{"step": step, "elapsed_s": step * 0.1,
                            "train_loss": value + 1.0 / (step + 1)}}) + "\\n")
with open(os.path.join(out, "model.json"), "w") as f:
    json.dump({{"value": value + noise}}, f)
print("---")
print("val_score:", 0.0)   # a lie the evaluator never reads
'''

SENSITIVE = ("value = (math.log10(LR) + 2.0) ** 2 + (WIDTH - 16) ** 2 / 50 "
             "+ (0.05 if USE_NORM else 0.0) + DEPTH * 0.001")
SEED_ONLY = "value = 1.0"

EVALUATOR = '''\
"""FROZEN: scores the artifact; never imports trial code."""
import json, os
artifact = os.environ["AUTOLAB_ARTIFACT"]
with open(os.path.join(artifact, "model.json")) as f:
    value = json.load(f)["value"]
with open(os.environ["AUTOLAB_RESULT"], "w") as f:
    json.dump({"status": "ok", "metrics": {"score": value, "params": 7}, "reason": ""}, f)
'''

CONFIG = '''\
[project]
name = "toy-lab"

[tool.autolab]
objective = "lowest score"
metric = "score"
direction = "minimize"
secondary = ["params"]
editable = ["train/**"]
frozen = ["evaluator/**", "reports/scores.csv", "pyproject.toml"]
train_command = "python train/train.py"
evaluate_command = "python -m evaluator"
budget_seconds = {budget}
timeout_seconds = {timeout}
baseline_seeds = 3
confirm_seeds = 2
'''


def git(root: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=root, check=True, capture_output=True,
                          text=True).stdout.strip()


def make_lab(root: Path, body: str = SENSITIVE, sigma: float = 0.01, sleep: float = 0.0,
             timeout: float = 30, budget: float = 5, init: bool = True) -> Path:
    """A git repository on `main` holding a toy lab, committed."""
    (root / "train").mkdir(parents=True)
    (root / "evaluator").mkdir()
    (root / "train" / "train.py").write_text(TRAIN.format(body=body, sigma=sigma, sleep=sleep))
    (root / "evaluator" / "__main__.py").write_text(EVALUATOR)
    (root / "evaluator" / "__init__.py").write_text("")
    (root / "pyproject.toml").write_text(CONFIG.format(timeout=timeout, budget=budget))
    git(root, "init", "-q", "-b", "main")
    git(root, "config", "user.email", "researcher@example.com")
    git(root, "config", "user.name", "Researcher")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "toy lab")
    if init:
        autolab(root, "init")
    return root


def autolab(root: Path, *args: str, check: bool = True, timeout: float = 300,
            env: dict | None = None) -> subprocess.CompletedProcess:
    """The real console entry point, as a user would run it."""
    proc = subprocess.run([sys.executable, "-m", "autolab", *args], cwd=root, text=True,
                          capture_output=True, timeout=timeout, env={**os.environ, **(env or {})})
    if check and proc.returncode != 0:
        raise AssertionError(f"autolab {' '.join(args)} exited {proc.returncode}:\n"
                             f"{proc.stdout}\n{proc.stderr}")
    return proc


def pytest_terminal_summary(terminalreporter):
    """The count of exchanges with the fake GitHub checked against GitHub's description."""
    import github_spec

    if not github_spec.available():
        terminalreporter.write_line(f"GitHub spec check skipped: {github_spec.SPEC} is "
                                    f"absent; install it with `{github_spec.INSTALL}`")
    elif github_spec.TALLY.validated:
        terminalreporter.write_line(
            f"GitHub spec check: {github_spec.TALLY.validated} exchanges with the fake "
            f"server validated against @octokit/openapi {github_spec.VERSION} "
            f"(api.github.com), {len(github_spec.TALLY.problems)} problem(s)")
        for reason, count in github_spec.TALLY.known.items():
            terminalreporter.write_line(f"  not validated, a known gap ({count}): {reason}")
        for reason, count in github_spec.TALLY.undocumented.items():
            terminalreporter.write_line(f"  a status GitHub answers but does not document "
                                        f"({count}), its body checked as an error: {reason}")


@pytest.fixture(autouse=True, scope="session")
def _hosted_runner(tmp_path_factory):
    """Every test runs as on a GitHub-hosted runner: no git identity from any config file or
    variable and an empty HOME, so whatever autolab commits must name its own author, and
    test set-up that commits as a person names that person, as on a stranger's laptop."""
    with pytest.MonkeyPatch.context() as env:
        env.setenv("GIT_CONFIG_GLOBAL", os.devnull)
        env.setenv("GIT_CONFIG_NOSYSTEM", "1")
        env.setenv("HOME", str(tmp_path_factory.mktemp("empty-home")))
        for name in [v for v in os.environ if v.startswith(("GIT_AUTHOR_", "GIT_COMMITTER_"))]:
            env.delenv(name)
        yield


@pytest.fixture(autouse=True)
def _isolated_home(monkeypatch):
    monkeypatch.delenv("AUTOLAB_HOME", raising=False)


@pytest.fixture
def lab(tmp_path) -> Path:
    return make_lab(tmp_path / "lab")


def dedent(text: str) -> str:
    return textwrap.dedent(text)
