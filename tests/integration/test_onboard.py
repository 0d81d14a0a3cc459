"""A repository as people have them, put under autolab: any default branch.

Each lab is a real git repository built here from `git init`, committed by its owner
with an identity given on the command line only, and driven through the real
`autolab` entry point with no git identity and an empty HOME.
"""

from __future__ import annotations

import os
import subprocess
import tomllib
from pathlib import Path

import pytest
from conftest import EVALUATOR, SENSITIVE, TRAIN, autolab

OWNER = ("-c", "user.name=Owner", "-c", "user.email=owner@example.com")
PROJECT = '[project]\nname = "someone-elses-project"\n'
INIT = ("init", "--metric", "score", "--editable", "train/**", "--frozen", "evaluator/**",
        "--prepare", "", "--train", "python train/train.py", "--evaluate",
        "python -m evaluator", "--budget", "5", "--timeout", "30")


def git(root: Path, *args: str, env: dict) -> str:
    return subprocess.run(["git", *args], cwd=root, check=True, capture_output=True,
                          text=True, env=env).stdout.strip()


@pytest.fixture
def bare_env(tmp_path) -> dict:
    """No git identity anywhere and an empty HOME, as on a fresh CI machine."""
    home = tmp_path / "home"
    home.mkdir()
    return {"GIT_CONFIG_GLOBAL": "/dev/null", "GIT_CONFIG_NOSYSTEM": "1", "HOME": str(home)}


def project(root: Path, env: dict, branch: str) -> Path:
    """A project with its own pyproject.toml and no [tool.autolab] yet, on `branch`."""
    (root / "train").mkdir(parents=True)
    (root / "evaluator").mkdir()
    (root / "train" / "train.py").write_text(TRAIN.format(body=SENSITIVE, sigma=0.01, sleep=0))
    (root / "evaluator" / "__main__.py").write_text(EVALUATOR)
    (root / "evaluator" / "__init__.py").write_text("")
    (root / "pyproject.toml").write_text(PROJECT)
    full = {**os.environ, **env}
    git(root, "init", "-q", "-b", branch, env=full)
    git(root, "add", "-A", env=full)
    git(root, *OWNER, "commit", "-q", "-m", "the project as it was", env=full)
    return root


def table(root: Path) -> dict:
    return tomllib.loads((root / "pyproject.toml").read_text())["tool"]["autolab"]


def test_a_master_branch_lab_runs_end_to_end(tmp_path, bare_env):
    root = project(tmp_path / "lab", bare_env, "master")
    autolab(root, *INIT, env=bare_env)
    assert table(root)["branch"] == "master"
    ran = autolab(root, "run", "--trials", "1", env=bare_env)
    assert "seeds on master" in ran.stdout
    full = {**os.environ, **bare_env}
    heads = git(root, "for-each-ref", "--format=%(refname)", "refs/heads/", env=full)
    assert "refs/heads/master" in heads.split()
    assert "refs/heads/main" not in heads.split()        # no `main` was needed or made
    scores_csv = git(root, "show", "master:reports/scores.csv", env=full)
    assert scores_csv.splitlines()[1].startswith("baseline,")
    status = autolab(root, "status", env=bare_env).stdout
    assert "best score" in status and "1 trials" in status


def test_init_branch_flag_is_stored_and_other_branches_are_refused(tmp_path, bare_env):
    root = project(tmp_path / "lab", bare_env, "trunk")
    autolab(root, *INIT, "--branch", "release", env=bare_env)
    assert table(root)["branch"] == "release"
    # the init commit is on `trunk`, so there is no `release` to run on yet: one clear line
    ran = autolab(root, "run", "--trials", "1", check=False, env=bare_env)
    assert ran.returncode == 2
    assert "no branch `release`" in ran.stderr and "Traceback" not in ran.stderr


def test_a_lab_without_the_key_stays_on_main(tmp_path, bare_env):
    root = project(tmp_path / "lab", bare_env, "main")
    autolab(root, *INIT, env=bare_env)
    path = root / "pyproject.toml"
    path.write_text(path.read_text().replace('branch = "main"\n', ""))
    full = {**os.environ, **bare_env}
    git(root, *OWNER, "commit", "-q", "-am", "an older lab's table", env=full)
    assert "branch" not in table(root)
    autolab(root, "baseline", env=bare_env)
    assert git(root, "show", "main:reports/scores.csv", env=full).count("\n") == 1
