"""A self-scoring, autoresearch-style project put under autolab by the README's recipe.

The project is built from `git init` here as its author would have it: a train script
that reads a git-ignored `input.txt`, scores itself on the text's last tenth and prints
a `key: value` summary; it saves no model and runs everything at import. The test runs
the README's own `autolab init` line for this shape, counts the lines the user wrote
beyond the project (the recipe says how many), and a short real `autolab run` through
the CLI keeps a change that a re-run outside autolab confirms is better.
"""

from __future__ import annotations

import json
import os
import random
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import autolab, git, make_lab

from autolab import config, inputs, scores
from autolab.gitops import Repo
from autolab.ledger import Ledger

# .local() warns that Volumes are not mounted; the Modal test's stand-in mounts directories
pytestmark = pytest.mark.filterwarnings("ignore:The .* function is executing locally")
README = Path(__file__).resolve().parents[2] / "README.md"
RECIPE = "### A self-scoring script (autoresearch-style)"

TRAIN = '''\
"""A character bigram model of input.txt; it scores itself on the text's last tenth."""
import math
import os
import random
import time

ALPHA = 4.0            # add-alpha smoothing of the bigram counts
KEEP = 0.8             # the fraction of training pairs one run samples

started = time.time()
text = open("input.txt").read()
cut = int(len(text) * 0.9)
train, val = text[:cut], text[cut:]
vocab = sorted(set(text))
rng = random.Random(int(os.environ.get("AUTOLAB_SEED", "0")))
counts, totals = {}, {}
for a, b in zip(train, train[1:]):
    if rng.random() < KEEP:
        counts[a, b] = counts.get((a, b), 0) + 1
        totals[a] = totals.get(a, 0) + 1
bits = 0.0
for a, b in zip(val, val[1:]):
    p = (counts.get((a, b), 0) + ALPHA) / (totals.get(a, 0) + ALPHA * len(vocab))
    bits -= math.log2(p)
print("step 1/1 done")
print("---")
print(f"val_bpb:          {bits / (len(val) - 1):.6f}")
print(f"training_seconds: {time.time() - started:.1f}")
print(f"num_params:       {len(counts)}")
'''
PYPROJECT = '[project]\nname = "bigram"\nversion = "0.1.0"\ndependencies = ["numpy>=1.26"]\n'


def corpus(chars: int = 8000) -> str:
    """A Markov source over 40 symbols, each followed by one of 4 others: a bigram model
    learns it, and too much smoothing hides what it learned."""
    rng = random.Random(7)
    symbols = [chr(ord("0") + i) for i in range(40)]
    follow = {s: rng.sample(symbols, 4) for s in symbols}
    out, current = [], symbols[0]
    for _ in range(chars):
        current = rng.choices(follow[current], weights=(8, 4, 2, 1))[0]
        out.append(current)
    return "".join(out)


def project(root: Path) -> str:
    """The user's repository before autolab: committed code, git-ignored data."""
    root.mkdir(parents=True)
    (root / "train.py").write_text(TRAIN)
    (root / "pyproject.toml").write_text(PYPROJECT)
    (root / ".gitignore").write_text("input.txt\n__pycache__/\n")
    (root / "input.txt").write_text(corpus())
    git(root, "init", "-q", "-b", "main")
    git(root, "add", "-A")
    git(root, "-c", "user.name=Researcher", "-c", "user.email=r@example.com", "commit", "-qm",
        "bigram model")
    return git(root, "rev-parse", "HEAD")


def recipe() -> tuple[list[list[str]], int]:
    """The README's commands for this shape and the number of lines it says a user writes."""
    text = README.read_text()
    section = text[text.index(RECIPE):]
    section = section[:section.index("\n#", len(RECIPE))]
    block = re.search(r"```bash\n(.*?)```", section, re.S).group(1).replace("\\\n", " ")
    written = int(re.search(r"Lines you write: (\d+)", section).group(1))
    return [shlex.split(line) for line in block.splitlines() if line.strip()], written


def lines_written(root: Path, since: str) -> int:
    """Lines the user changed beyond the project: commits not made by autolab, plus any
    uncommitted change."""
    commits = git(root, "log", "--format=%H %an", f"{since}..HEAD").splitlines()
    theirs = [c.split()[0] for c in commits if c.split(maxsplit=1)[1] != "autolab"]
    numstat = [git(root, "show", "--numstat", "--format=", c) for c in theirs]
    numstat.append(git(root, "diff", "--numstat", "HEAD"))
    return sum(int(added) + int(removed) for block in numstat for line in block.splitlines()
               for added, removed, _ in [line.split("\t")])


def score(script: str, lab_root: Path, seeds: range) -> float:
    """The script's own metric over `seeds`, run outside autolab in a copy of the project."""
    values = []
    for seed in seeds:
        out = subprocess.run([sys.executable, "-c", script], cwd=lab_root, text=True,
                             capture_output=True, check=True,
                             env={**os.environ, "AUTOLAB_SEED": str(seed)}).stdout
        values.append(float(re.search(r"^val_bpb:\s+(\S+)", out, re.M).group(1)))
    return sum(values) / len(values)


def test_the_readme_recipe_puts_a_self_scoring_script_under_autolab(tmp_path):
    root = tmp_path / "bigram"
    first = project(root)
    env = {"GIT_CONFIG_GLOBAL": "/dev/null", "HOME": str(tmp_path / "home")}
    (tmp_path / "home").mkdir()
    commands, written = recipe()
    inits = [c for c in commands if c[:2] == ["autolab", "init"]]
    assert len(inits) == 1, commands
    autolab(root, *inits[0][1:], env=env)
    assert lines_written(root, first) == written == 0

    lab = config.load(root)
    assert lab.config.metric_from == "train_log" and not lab.config.evaluate_command
    assert lab.config.runner.pip == ("numpy>=1.26",)     # the project's own dependencies
    assert "input.txt" not in git(root, "ls-files")

    checked = autolab(root, "check", env=env, timeout=600)    # the smoke test comes first
    assert "✗" not in checked.stdout, checked.stdout
    run = autolab(root, "run", "--trials", "6", env=env, timeout=600)
    assert "self-scored" in run.stdout, run.stdout
    repo = Repo(root)
    rows = Ledger(repo, lab.home).rows()
    # the baseline's own seeds (more seeds of a best, if the rule asked for any, are apart)
    baseline = [r for r in rows if r.status == "baseline" and r.source == "baseline"]
    assert len(baseline) == 5 and {r.metric_source for r in rows} == {"train_log"}
    digest = inputs.inputs_digest(lab)
    assert len(digest) == 64 and {r.inputs_sha256 for r in baseline} == {digest}
    kept = [r for r in rows if r.status == "keep"]
    assert kept, [(r.trial_id, r.status, r.reason, r.hypothesis) for r in rows]
    frontier = scores.parse(repo.read(repo.rev("main"), scores.PATH))
    assert [s.trial_id for s in frontier[1:]] == [r.trial_id for r in kept]
    assert frontier[-1].metric < frontier[0].metric

    # the keep is real: main's script beats the project's own on fresh seeds, run by hand
    before = score(TRAIN, root, range(1000, 1005))
    after = score(repo.read(repo.rev("main"), "train.py").decode(), root, range(1000, 1005))
    assert after < before - 0.01, (before, after)

    status = autolab(root, "status", env=env).stdout
    assert "self-scored" in status and "train_log" in status
    comment = json.loads((lab.home / "prs" / f"{kept[0].trial_id}.json").read_text())
    assert "self-scored" in json.dumps(comment)

    # new data under the same name: the next run says so and measures a fresh baseline on it
    (root / "input.txt").write_text(corpus(6000))
    again = autolab(root, "run", "--trials", "1", env=env, timeout=600).stdout
    assert "the `inputs` changed since the baseline ran on them" in again, again
    now = inputs.inputs_digest(config.load(root))
    assert now != digest
    fresh = [r for r in Ledger(repo, lab.home).rows() if r.status == "baseline"
             and r.source == "baseline" and r.inputs_sha256 == now]
    assert len(fresh) == 5, "the new data gets a baseline of its own"


SEED_ONLY = '''\
"""Scores itself by the seed alone: LR does nothing."""
import os, random
LR = 0.01
print("val_bpb:", 1.0 + random.Random(int(os.environ["AUTOLAB_SEED"])).gauss(0, 0.05))
'''


def test_a_self_scoring_lab_keeps_no_change_that_only_moves_the_seed(tmp_path):
    root = tmp_path / "seedonly"
    project(root)
    (root / "train.py").write_text(SEED_ONLY)
    git(root, "-c", "user.name=R", "-c", "user.email=r@example.com", "commit", "-qam", "noise")
    env = {"GIT_CONFIG_GLOBAL": "/dev/null", "HOME": str(tmp_path)}
    autolab(root, "init", "--metric", "val_bpb", "--metric-from", "train_log", "--train",
            "python train.py", "--editable", "train.py", env=env)
    autolab(root, "run", "--trials", "8", env=env, timeout=600)
    lab = config.load(root)
    rows = Ledger(Repo(root), lab.home).rows()
    trials = [r for r in rows if r.trial_id.startswith("t")]
    assert len(trials) == 8 and all(r.metric is not None for r in trials), trials
    assert not [r for r in trials if r.status == "keep"]
    assert len(scores.parse(Repo(root).read("main", scores.PATH))) == 1


def test_inputs_that_name_no_file_stop_the_run_with_one_line(tmp_path):
    root = tmp_path / "bigram"
    project(root)
    env = {"GIT_CONFIG_GLOBAL": "/dev/null", "HOME": str(tmp_path)}
    autolab(root, "init", "--metric", "val_bpb", "--metric-from", "train_log", "--train",
            "python train.py", "--editable", "train.py", "--inputs", "data/*.bin", env=env)
    proc = autolab(root, "run", "--trials", "1", env=env, check=False)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    [line] = proc.stderr.strip().splitlines()
    assert "`inputs` entry 'data/*.bin' matches no file" in line and "pyproject.toml" in line
    assert not (root / ".autolab" / "ledger").exists()


def test_a_committed_input_is_refused(tmp_path):
    root = tmp_path / "bigram"
    project(root)
    env = {"GIT_CONFIG_GLOBAL": "/dev/null", "HOME": str(tmp_path)}
    autolab(root, "init", "--metric", "val_bpb", "--metric-from", "train_log", "--train",
            "python train.py", "--editable", "train.py", "--inputs", "train.py", env=env)
    proc = autolab(root, "run", "--trials", "1", env=env, check=False)
    assert proc.returncode == 2 and "'train.py' is committed" in proc.stderr, proc.stderr


def test_inputs_digest_follows_the_files_and_keys_the_prepared_data(tmp_path):
    root = tmp_path / "bigram"
    project(root)
    (root / "data" / "shard").mkdir(parents=True)
    (root / "data" / "a.bin").write_bytes(b"\x00\x01")
    (root / "data" / "shard" / "b.bin").write_bytes(b"\x03")
    (root / ".gitignore").write_text("input.txt\ndata/\n")
    git(root, "-c", "user.name=R", "-c", "user.email=r@example.com", "commit", "-qam", "data")
    autolab(root, "init", "--metric", "val_bpb", "--metric-from", "train_log", "--train",
            "python train.py", "--editable", "train.py", "--inputs", "input.txt",
            "--inputs", "data/**", "--inputs", "**/*.bin",
            env={"GIT_CONFIG_GLOBAL": "/dev/null", "HOME": str(tmp_path)})
    lab = config.load(root)
    named = ["input.txt", "data/a.bin", "data/shard/b.bin"]
    assert inputs.files(lab) == named
    first = inputs.snapshot(lab)
    assert inputs.files(lab) == named       # the copy under .autolab/ is never an input
    assert first.digest == inputs.inputs_digest(lab)
    assert (first.root / "data" / "a.bin").read_bytes() == b"\x00\x01"
    (root / "data" / "a.bin").write_bytes(b"\x00\x02")
    second = inputs.snapshot(lab)
    assert second.digest != first.digest and second.root != first.root
    assert inputs.data_key("e" * 64, "") == "e" * 16
    assert inputs.data_key("e" * 64, first.digest) != inputs.data_key("e" * 64, second.digest)
    work = tmp_path / "work"
    second.place(work)
    assert (work / "data" / "a.bin").read_bytes() == b"\x00\x02"
    assert (work / "input.txt").read_text() == corpus()


def test_the_modal_runner_reads_the_metric_from_the_train_log(tmp_path):
    from test_modal_runner import Cloud, job_at

    from autolab.runners.modal_runner import ModalRunner

    root = tmp_path / "bigram"
    project(root)
    (root / "requirements.txt").write_text("# pinned for the GPU box\ntqdm==4.66.0  # bars\n")
    git(root, "-c", "user.name=R", "-c", "user.email=r@example.com", "add", "-A")
    git(root, "-c", "user.name=R", "-c", "user.email=r@example.com", "commit", "-qm", "reqs")
    autolab(root, "init", "--metric", "val_bpb", "--metric-from", "train_log", "--train",
            "python train.py", "--editable", "train.py", "--inputs", "input.txt",
            env={"GIT_CONFIG_GLOBAL": "/dev/null", "HOME": str(tmp_path)})
    lab = config.load(root)
    cloud = Cloud(lab, tmp_path / "volume")
    runner = ModalRunner(lab, app=cloud.app)
    assert cloud.real.spec.pip == ("numpy>=1.26", "tqdm==4.66.0")
    described = runner.describe(job_at(lab, Repo(root).rev("main")))
    assert "pip: numpy>=1.26, tqdm==4.66.0" in described
    assert "evaluate_trial: not run; the metric is read from the train log" in described
    [(_handle, result)] = runner.wait([runner.submit(job_at(lab, Repo(root).rev("main")))])
    assert result.status == "ok", (result.reason, result.log_tail)
    assert set(result.metrics) >= {"val_bpb", "train_seconds"} and result.metrics["val_bpb"] > 0
    assert cloud.spawned == [cloud.real.train]      # nothing to evaluate
    assert result.inputs_sha256 == inputs.inputs_digest(lab)


PREPARE = """\
import os, pathlib, shutil
cache = pathlib.Path(os.environ["AUTOLAB_CACHE"])
text = pathlib.Path("input.txt").read_text()
(cache / "train" / "train.txt").write_text(text[:10])
(cache / "heldout" / "heldout.txt").write_text(text[10:])
"""


def test_prepare_gets_the_inputs_beside_mains_frozen_files(tmp_path):
    from autolab.runners.local import LocalRunner

    root = make_lab(tmp_path / "lab", init=False)
    (root / "evaluator" / "data.py").write_text(PREPARE)
    (root / ".gitignore").write_text("input.txt\n")
    (root / "input.txt").write_text("0123456789held-out part")
    text = (root / "pyproject.toml").read_text().replace(
        "[tool.autolab]\n", '[tool.autolab]\nprepare_command = "python -m evaluator.data"\n'
        'inputs = ["input.txt"]\n')
    (root / "pyproject.toml").write_text(text)
    git(root, "add", "-A")
    git(root, "commit", "-qm", "prepare from a git-ignored input")
    lab = config.load(root)
    runner = LocalRunner(lab)
    try:
        evaluator, sha, data, _data_sha = runner.prepared(Repo(root).rev("main"))
    finally:
        runner.close()
    assert (data / "train" / "train.txt").read_text() == "0123456789"
    assert (data / "heldout" / "heldout.txt").read_text() == "held-out part"
    assert data.name == inputs.data_key(sha, inputs.inputs_digest(lab))
    assert not (evaluator / "input.txt").exists()     # the cached evaluator stays main's
