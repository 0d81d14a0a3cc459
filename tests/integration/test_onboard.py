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
from conftest import EVALUATOR, SENSITIVE, TRAIN, autolab, make_lab
from fakegithub import FakeGitHub, clone_of_bare

from autolab import charts, config, doctor, scores
from autolab.cli import brief
from autolab.gitops import Repo
from autolab.ledger import Ledger
from autolab.records import BASELINE

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
    frontier = scores.parse(git(root, "show", "master:reports/scores.csv", env=full).encode())
    assert (frontier[0].trial_id, frontier[0].n_seeds) == ("baseline", 3)   # --baseline-seeds
    status = autolab(root, "status", env=bare_env).stdout
    assert "best score" in status and "1 trials" in status
    # the sweep's hypothesis names its file: status shows the change, the path's last part
    # the hypothesis column wraps in a narrow terminal: read it with its words joined
    assert re.search(r"Set [A-Z_]+ from \S+ to \S+ in train\.py\.", " ".join(status.split())), \
        status
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
    ("halve WIDTH and/or DEPTH, see configs/small.yaml.",
     "halve WIDTH and/or DEPTH, see small.yaml."),
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
    for name in ("LR", "WIDTH", "DEPTH", "USE_NORM"):   # every setting pinned by its author
        text = re.sub(rf"^({name} = .*)$", r"\1  # autolab: fixed", text, flags=re.M)
    train.write_text(text)
    commit_all(lab, "pinned settings")
    ran = autolab(lab, "check", check=False)
    (line,) = marked(ran.stdout, "✗")
    assert "found no setting to change in train/train.py" in line
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


# the Gantt ------------------------------------------------------------------------------

TIMED_TRAIN = '''\
"""Training that stamps the wall clock at its first and last curve points."""
import json, os, random, time
LR = 0.04
started = time.time()
time.sleep(0.9)
rng = random.Random(int(os.environ["AUTOLAB_SEED"]))
value = (LR - 0.05) ** 2 + rng.gauss(0.0, 0.001)
out = os.environ["AUTOLAB_OUT"]
with open(os.path.join(out, "curve.jsonl"), "w") as f:
    f.write(json.dumps({"step": 0, "elapsed_s": 0.0, "train_loss": 2.0, "wall": started}) + "\\n")
    f.write(json.dumps({"step": 1, "elapsed_s": 0.9, "train_loss": 1.0, "wall": time.time()})
            + "\\n")
with open(os.path.join(out, "model.json"), "w") as f:
    json.dump({"value": value}, f)
'''


def timed_lab(root: Path) -> Path:
    make_lab(root, init=False)
    (root / "train" / "train.py").write_text(TIMED_TRAIN)
    commit_all(root, "a training script that stamps its clock")
    autolab(root, "init")
    return root


def bars(chart) -> dict[str, tuple[float, float, float]]:
    """trial id -> (x, width, y) of its bar."""
    out = {}
    for shape in chart.shapes:
        if shape.tag == "rect" and 'class="bar"' in shape.attrs:
            attrs = dict(re.findall(r'(\w[\w-]*)="([^"]*)"', shape.attrs))
            out[shape.title.split()[0]] = (float(attrs["x"]), float(attrs["width"]),
                                           float(attrs["y"]))
    return out


def lane_labels(chart) -> list[str]:
    return [s.text for s in chart.shapes if s.tag == "text" and s.text.startswith("slot ")]


@pytest.mark.parametrize("parallel", [1, 2])
def test_gantt_baseline_bars_span_their_seeds_and_lanes_are_slots(tmp_path, parallel):
    lab = timed_lab(tmp_path / "lab")
    autolab(lab, "run", "--trials", "3", "--parallel", str(parallel))
    rows = Ledger(Repo(lab), lab / ".autolab").rows()
    seeds = [r for r in rows if r.status == BASELINE]
    assert len(seeds) == 3
    for r in seeds:
        curve = json.loads(r.curve)
        began, ended = charts.seconds(r.started_at), charts.seconds(r.ended_at)
        # the row's stamps hold the seed's own run (whole seconds, so up to 1 s rounding);
        # the first seed also prepared the data, the rest started within a second
        assert began <= curve[0]["wall"] < began + 3
        assert ended <= curve[-1]["wall"] + 1 < ended + 2
    chart = charts.gantt(rows)
    drawn = bars(chart)
    t0 = min(charts.seconds(r.started_at) for r in rows if r.started_at)
    end = max(charts.seconds(r.ended_at) for r in rows if r.ended_at) - t0
    ax = charts.Axes(chart, (0, end), (0, 1))
    for r in seeds:   # each bar starts and ends where the row says its seed ran
        x, width, _y = drawn[r.trial_id]
        assert x == ax.px(charts.seconds(r.started_at) - t0)
        assert abs(x + width - ax.px(charts.seconds(r.ended_at) - t0)) <= 1.0
    assert lane_labels(chart) == [f"slot {k}" for k in range(1, parallel + 1)]
    lanes = {y for _x, _w, y in drawn.values()}
    assert len(lanes) == parallel
    # seeds that shared a lane ran one after the other, and their bars do not overlap
    for y in lanes:
        spans = sorted((x, x + w) for x, w, yy in drawn.values() if yy == y)
        assert all(a[1] <= b[0] + 1.0 for a, b in zip(spans, spans[1:], strict=False))
    # nothing rotated beside the lane labels, and a short run's trial axis counts in wholes
    assert not [s for s in chart.shapes if "rotate" in s.attrs]
    progress = charts.progress([r for r in rows if r.status != BASELINE],
                               scores.parse(git_show(lab, scores.PATH)), "score")
    ticks = [s.text for s in progress.shapes if s.tag == "text" and 'class="tick"' in s.attrs
             and 'text-anchor="middle"' in s.attrs]
    assert ticks and all(re.fullmatch(r"-?\d+", t) for t in ticks), ticks


def git_show(lab: Path, path: str) -> bytes:
    return subprocess.run(["git", "show", f"main:{path}"], cwd=lab, check=True,
                          capture_output=True).stdout


def test_an_empty_branch_key_is_one_line_exit_2(lab):
    path = lab / "pyproject.toml"
    path.write_text(path.read_text() + 'branch = " "\n')
    ran = autolab(lab, "status", check=False)
    assert ran.returncode == 2 and "Traceback" not in ran.stderr
    (line,) = ran.stderr.strip().splitlines()
    assert "`branch` is empty" in line and str(path) in line


def test_check_shows_a_failing_prepare_with_its_log_lines(lab):
    (lab / "evaluator" / "data.py").write_text(
        "import sys\nprint('fetching the corpus')\nsys.exit('corpus.txt: no such file')\n")
    path = lab / "pyproject.toml"
    path.write_text(path.read_text().replace(
        'train_command =', 'prepare_command = "python -m evaluator.data"\ntrain_command ='))
    subprocess.run(["git", "add", "-A"], cwd=lab, check=True)
    commit_all(lab, "a prepare step that fails")
    ran = autolab(lab, "check", check=False)
    assert ran.returncode == 1
    (line,) = marked(ran.stdout, "✗")
    assert line.startswith("✗ prepare failed: main's prepare_command failed (corpus.txt")
    assert "fetching the corpus" in ran.stdout and "corpus.txt: no such file" in ran.stdout
    assert "train (seed 0)" not in ran.stdout


def test_the_github_forge_works_on_the_labs_branch(tmp_path):
    """A lab on `trunk`: the PR's base, the merge and the scores all land on `trunk`."""
    seed = make_lab(tmp_path / "seed", body="value = 1.0 + (math.log10(LR) + 2.0) ** 2",
                    init=False)
    subprocess.run(["git", "branch", "-m", "main", "trunk"], cwd=seed, check=True)
    path = seed / "pyproject.toml"
    path.write_text(path.read_text() + 'branch = "trunk"\n')
    commit_all(seed, "the lab's branch is trunk")
    autolab(seed, "init")
    clone, origin = clone_of_bare(seed, tmp_path)
    with FakeGitHub(origin, "lab-owner/lab", main="trunk") as fake:
        env = {"GITHUB_TOKEN": "test-token", "AUTOLAB_GITHUB_API": fake.url,
               "GITHUB_REPOSITORY": "lab-owner/lab", "AUTOLAB_GITHUB_WRITE_INTERVAL": "0"}
        autolab(clone, "try", "LR=0.01", "--forge", "github", "--runner", "local",
                "--agent", "sweep", env=env)
        created = [c.body for c in fake.calls if c.method == "POST" and c.path.endswith("/pulls")]
        assert [body["base"] for body in created] == ["trunk"]
        (pr,) = fake.pulls()
        assert pr["merged"]
    heads = subprocess.run(["git", "for-each-ref", "--format=%(refname)", "refs/heads/"],
                           cwd=origin, capture_output=True, text=True, check=True).stdout
    assert "refs/heads/trunk" in heads.split() and "refs/heads/main" not in heads.split()
    table = scores.parse(Repo(origin).read("trunk", scores.PATH))
    assert [row.trial_id for row in table] == ["baseline", "t0001"]


@pytest.mark.parametrize("command, named", [
    ("python train/train.py --steps 3", ["train/train.py"]),
    ("cd src && python -m pkg.train", [("pkg.train", ["src/pkg/train.py",
                                                      "src/pkg/train/__main__.py",
                                                      "src/pkg/train/__init__.py"])]),
    ("torchrun --nproc_per_node=8 train.py --config=cfg.py > log.txt", ["train.py"]),
    ("python -c 'import train'", []),
])
def test_the_scripts_a_command_names(command, named):
    assert doctor.named_files(command) == named
