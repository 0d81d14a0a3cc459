"""A repository as people have them, put under autolab: any default branch.

Each lab is a real git repository built here from `git init`, committed by its owner
with an identity given on the command line only, and driven through the real
`autolab` entry point with no git identity and an empty HOME.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import tomllib
from pathlib import Path

import pytest
from conftest import EVALUATOR, SENSITIVE, TRAIN, autolab

from autolab import config, doctor
from autolab.cli import brief

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
    autolab(root, *INIT, "--baseline-seeds", "3", env=bare_env)
    assert table(root)["branch"] == "master" and table(root)["baseline_seeds"] == 3
    ran = autolab(root, "run", "--trials", "1", env=bare_env)
    assert "seeds on master" in ran.stdout
    full = {**os.environ, **bare_env}
    heads = git(root, "for-each-ref", "--format=%(refname)", "refs/heads/", env=full)
    assert "refs/heads/master" in heads.split()
    assert "refs/heads/main" not in heads.split()        # no `main` was needed or made
    scores_csv = git(root, "show", "master:reports/scores.csv", env=full)
    assert scores_csv.splitlines()[1].startswith("baseline,")
    status = autolab(root, "status", env=bare_env).stdout
    assert "best score" in status and "1 trials" in status and "3 seeds" in status
    # the sweep's hypothesis names its file: status shows the change, the path's last part
    assert re.search(r"Set [A-Z_]+ from \S+ to \S+ in train\.py\.", status), status
    assert "train/train.py" not in status


def test_init_ignores_the_report_page_and_report_html_takes_its_default(lab):
    assert (lab / ".gitignore").read_text().splitlines() == [".autolab/", "reports/site/"]
    wrote = autolab(lab, "report", "--html").stdout
    assert "wrote reports/site/index.html" in wrote
    assert (lab / "reports" / "site" / "index.html").read_text().startswith("<!")
    assert subprocess.run(["git", "status", "--porcelain"], cwd=lab, capture_output=True,
                          text=True, check=True).stdout == ""     # nothing to commit by mistake
    autolab(lab, "report", "--html", "elsewhere/page.html")
    assert (lab / "elsewhere" / "page.html").exists()


@pytest.mark.parametrize("hypothesis, shown", [
    ("Set N_EMBD from 128 to 192 in experiments/nanogpt/model/train_gpt2.py and DROPOUT "
     "from 0.1 to 0.05 in experiments/nanogpt/model/train_gpt2.py.",
     "Set N_EMBD from 128 to 192 in train_gpt2.py and DROPOUT from 0.1 to …"),
    ("use a cosine decay schedule with warmup of 200 steps and a final learning rate floor",
     "use a cosine decay schedule with warmup of 200 steps and a final …"),
    ("swiglu as in https://arxiv.org/abs/2002.05202", "swiglu as in https://arxiv.org/abs/2002.05202"),
    ("x" * 90, "x" * 69 + "…"),
])
def test_status_hypotheses_end_at_a_word_and_show_no_directories(hypothesis, shown):
    assert brief(hypothesis, 70) == shown
    assert len(brief(hypothesis, 70)) <= 70


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


# autolab check ----------------------------------------------------------------------------

def marked(out: str, mark: str) -> list[str]:
    return [line for line in out.splitlines() if line.startswith(mark)]


def commit_all(root: Path, message: str) -> None:
    subprocess.run(["git", *OWNER, "commit", "-qam", message], cwd=root, check=True)


def test_check_on_a_healthy_lab_exits_0(lab):
    ran = autolab(lab, "check")
    out = ran.stdout
    assert not marked(out, "✗"), out
    assert "LR = 0.04  (train/train.py:3)" in out            # what the agent can change
    assert re.search(r"prepare: \d+\.\d s", out) and re.search(r"train \(seed 0\): \d+\.\d s", out)
    assert re.search(r"evaluate: \d+\.\d s", out)
    result = json.loads(out.split("✓ result: ", 1)[1].splitlines()[0])
    assert result["status"] == "ok" and isinstance(result["metrics"]["score"], float)
    assert '"step": 4' in out                                 # the curve's last point
    refs = subprocess.run(["git", "for-each-ref", "--format=%(refname)"], cwd=lab,
                          check=True, capture_output=True, text=True).stdout.split()
    assert refs == ["refs/heads/main"]                        # no ledger, no trial, no PR


def test_check_names_a_missing_command_file_in_one_line(lab):
    path = lab / "pyproject.toml"
    path.write_text(path.read_text().replace('"python train/train.py"',
                                             '"python train/trian.py --steps 3"'))
    commit_all(lab, "a typo in the train command")
    ran = autolab(lab, "check", check=False)
    (line,) = marked(ran.stdout, "✗")
    assert "`train_command` names train/trian.py" in line and "pyproject.toml" in line
    assert ran.returncode == 1 and "train (seed 0)" not in ran.stdout   # nothing was run


def test_check_names_an_evaluator_that_is_not_frozen(lab):
    path = lab / "pyproject.toml"
    path.write_text(path.read_text().replace('"python -m evaluator"', '"python score.py"'))
    (lab / "score.py").write_text("print('scores')\n")
    subprocess.run(["git", "add", "score.py"], cwd=lab, check=True)
    commit_all(lab, "an evaluator outside the frozen files")
    ran = autolab(lab, "check", check=False)
    (line,) = marked(ran.stdout, "✗")
    assert "`evaluate_command` names score.py" in line and "add it to `frozen`" in line
    assert ran.returncode == 1


def test_check_with_no_visible_parameter_says_where_it_looked(lab):
    train = lab / "train" / "train.py"
    text = train.read_text()
    for name in ("LR", "WIDTH", "DEPTH", "USE_NORM"):   # settings the sweep agent cannot see
        text = re.sub(rf"\b{name}\b", name.lower(), text)
    train.write_text(text)
    commit_all(lab, "lowercase settings")
    ran = autolab(lab, "check", check=False)
    (line,) = marked(ran.stdout, "✗")
    assert "sees no parameter" in line and "looked in: train/train.py" in line
    assert ran.returncode == 1
    assert "✓ result:" in ran.stdout                    # the steps themselves still ran


def test_check_shows_a_failing_step_with_its_log_lines(lab):
    train = lab / "train" / "train.py"
    train.write_text(train.read_text().replace("rng = random", "print('loading the shards')\n"
                                               "raise SystemExit('no shard found')\nrng = random"))
    commit_all(lab, "a broken train script")
    ran = autolab(lab, "check", check=False)
    assert ran.returncode == 1
    failed = ran.stdout.split("✗ ", 1)[1]
    assert failed.startswith("train (seed 0) failed after") and "crash" in failed
    assert "no shard found" in failed and "✓ result" not in ran.stdout
    assert "loading the shards" in failed and "Traceback" not in ran.stderr


def test_doctor_checks_the_lab_itself(lab):
    (ok,) = doctor.lab_itself(config.load(lab))
    assert ok.state == "ok"
    path = lab / "pyproject.toml"
    path.write_text(path.read_text().replace('editable = ["train/**"]',
                                             'editable = ["src/**", "train/*.py"]'))
    commit_all(lab, "a glob that matches nothing")
    found = doctor.lab_itself(config.load(lab))
    assert [(c.state, "'src/**'" in c.line) for c in found] == [("warn", True)]
    path.write_text(path.read_text().replace('"src/**", "train/*.py"', '"src/**"'))
    commit_all(lab, "no editable file at all")
    states = sorted(c.state for c in doctor.lab_itself(config.load(lab)))
    assert states == ["missing", "warn"]
    shown = autolab(lab, "doctor", check=False).stdout
    assert "✗ `editable` (src/**) matches no committed file on `main`" in shown
