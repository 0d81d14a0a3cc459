"""Three repositories as their authors wrote them, their settings where they already are: put
under autolab with an evaluator and one `autolab init`, a short real run keeps a real gain.

- argparse defaults (`--lr`, `--steps`) in a program on a `master` branch;
- a lowercase config file that train.py executes, nanoGPT-style;
- a search program whose settings are keyword defaults (`iterations=1000, bounds=(-5, 5)`).

Nothing of the projects' own code is changed: the lines a user writes are the evaluator and
the init command, and each test counts them.
"""

from __future__ import annotations

import dataclasses
import os
import random
import subprocess
from pathlib import Path

from conftest import autolab, git

from autolab import params, scores
from autolab.agents.sweep import steps
from autolab.config import ParamsConfig, load
from autolab.gitops import Repo
from autolab.ledger import Ledger
from autolab.records import BASELINE

# the projects' commits at fixed dates: the same shas every run
DATES = {"GIT_AUTHOR_DATE": "2026-01-01T00:00:00Z", "GIT_COMMITTER_DATE": "2026-01-01T00:00:00Z"}
GLUE_MAX = 12   # lines a user writes to put one of these projects under autolab

FIT = '''\
"""Fit a line to the project's data by minibatch SGD; writes the weights to --out."""
import argparse
import json
import os
import random


def points(n, rng):
    xs = [rng.uniform(-1, 1) for _ in range(n)]
    return [(x, 3.0 * x - 0.5 + rng.gauss(0, 0.1)) for x in xs]


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--lr", type=float, default=0.02, help="step size")
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="out")
    args = parser.parse_args()
    data, rng = points(256, random.Random(2024)), random.Random(args.seed)
    a = b = 0.0
    for _ in range(args.steps):
        batch = rng.sample(data, 8)
        ga = sum(2 * (a * x + b - y) * x for x, y in batch) / len(batch)
        gb = sum(2 * (a * x + b - y) for x, y in batch) / len(batch)
        a, b = a - args.lr * ga, b - args.lr * gb
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "weights.json"), "w") as f:
        json.dump({"a": a, "b": b}, f)


if __name__ == "__main__":
    main()
'''

FIT_SCORE = '''\
import json, os, random
w = json.load(open(os.path.join(os.environ["AUTOLAB_ARTIFACT"], "weights.json")))
xs = [random.Random(7).uniform(-1, 1) for _ in range(1000)]
mse = sum((w["a"] * x + w["b"] - (3.0 * x - 0.5)) ** 2 for x in xs) / len(xs) + 0.01
with open(os.environ["AUTOLAB_RESULT"], "w") as f:
    json.dump({"status": "ok", "metrics": {"mse": mse}, "reason": ""}, f)
'''

NANO_TRAIN = '''\
"""A tiny bigram language model trained by SGD, laid out like nanoGPT's train.py:
defaults here, then a config file and --key=value overrides (configurator.py)."""
import json
import math
import os
import random

out_dir = 'out'
learning_rate = 0.5
max_iters = 100
batch_size = 8
seed = 1337
exec(open('configurator.py').read())  # overrides from the command line or a config file

text = open(os.path.join('data', 'input.txt')).read()
chars = sorted(set(text))
ids = [chars.index(c) for c in text]
vocab = len(chars)
rng = random.Random(seed)
logits = [[0.0] * vocab for _ in range(vocab)]
for it in range(max_iters):
    grads = [[0.0] * vocab for _ in range(vocab)]
    for _ in range(batch_size):
        i = rng.randrange(len(ids) - 1)
        a, b = ids[i], ids[i + 1]
        row = logits[a]
        top = max(row)
        exps = [math.exp(v - top) for v in row]
        total = sum(exps)
        for j in range(vocab):
            grads[a][j] += exps[j] / total - (1.0 if j == b else 0.0)
    for a in range(vocab):
        for j in range(vocab):
            logits[a][j] -= learning_rate * grads[a][j] / batch_size
os.makedirs(out_dir, exist_ok=True)
with open(os.path.join(out_dir, 'model.json'), 'w') as f:
    json.dump({'chars': chars, 'logits': logits}, f)
'''

CONFIGURATOR = '''\
# nanoGPT's configurator, shortened: `python train.py config/x.py --key=value`
import sys
from ast import literal_eval
for arg in sys.argv[1:]:
    if '=' not in arg:
        exec(open(arg).read())
    else:
        key, val = arg[2:].split('=', 1)
        try:
            val = literal_eval(val)
        except (SyntaxError, ValueError):
            pass
        globals()[key] = val
'''

NANO_CONFIG = '''\
# train a tiny bigram model on data/input.txt
out_dir = 'out-tiny'
learning_rate = 0.5
max_iters = 100
batch_size = 8
'''

NANO_SCORE = '''\
import json, math, os
model = json.load(open(os.path.join(os.environ["AUTOLAB_ARTIFACT"], "model.json")))
text, chars, logits = open("data/val.txt").read(), model["chars"], model["logits"]
def nll(a, b):
    row = logits[chars.index(a)]
    return math.log(sum(math.exp(v) for v in row)) - row[chars.index(b)]
loss = sum(nll(a, b) for a, b in zip(text, text[1:])) / (len(text) - 1)
with open(os.environ["AUTOLAB_RESULT"], "w") as f:
    json.dump({"status": "ok", "metrics": {"val_loss": loss}, "reason": ""}, f)
'''

SEARCH = '''\
"""Random search on a benchmark of shifted bowls: python search.py SEED OUT_DIR."""
import json
import os
import random
import sys


def bowls(n=12, dim=3):
    """The benchmark: n bowls, each with its minimum at its own point."""
    return [[random.Random(k).uniform(-1.5, 1.5) for _ in range(dim)] for k in range(n)]


def value(x, center):
    return sum((xi - ci) ** 2 for xi, ci in zip(x, center))


def search(center, rng, iterations=1000, bounds=(-5, 5)):
    best, best_x = float("inf"), None
    for _ in range(iterations):
        x = [rng.uniform(*bounds) for _ in center]
        if (v := value(x, center)) < best:
            best, best_x = v, x
    return best_x


if __name__ == "__main__":
    rng = random.Random(int(sys.argv[1]) if len(sys.argv) > 1 else 0)
    out = sys.argv[2] if len(sys.argv) > 2 else "."
    with open(os.path.join(out, "found.json"), "w") as f:
        json.dump([search(center, rng) for center in bowls()], f)
'''

SEARCH_SCORE = '''\
import json, os, random
found = json.load(open(os.path.join(os.environ["AUTOLAB_ARTIFACT"], "found.json")))
centers = [[random.Random(k).uniform(-1.5, 1.5) for _ in range(3)] for k in range(12)]
gap = sum(sum((a - b) ** 2 for a, b in zip(x, c)) for x, c in zip(found, centers)) / 12
with open(os.environ["AUTOLAB_RESULT"], "w") as f:
    json.dump({"status": "ok", "metrics": {"gap": gap}, "reason": ""}, f)
'''


def chain(n: int, seed: int) -> str:
    """The nano project's text: a six-letter Markov chain, so a bigram model can learn it."""
    rng, state, out = random.Random(seed), "a", []
    after = {"a": "bcd", "b": "aae", "c": "abf", "d": "eef", "e": "aab", "f": "cdd"}
    for _ in range(n):
        state = rng.choice(after[state]) if rng.random() < 0.9 else rng.choice("abcdef")
        out.append(state)
    return "".join(out)


def project(root: Path, files: dict[str, str], branch: str) -> Path:
    """The repository as its author has it: their files, committed on their branch."""
    for path, text in files.items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_text(text)
    git(root, "init", "-q", "-b", branch)
    git(root, "config", "user.email", "author@example.com")
    git(root, "config", "user.name", "Author")
    git(root, "add", "-A")
    commit(root, "the project as its author wrote it")
    return root


def commit(root: Path, message: str) -> None:
    subprocess.run(["git", "commit", "-q", "-m", message], cwd=root, check=True,
                   env={**os.environ, **DATES})


def adopt(root: Path, glue: dict[str, str], init: list[str]) -> int:
    """What the user writes: the glue files and one `autolab init`; how many lines that is."""
    for path, text in glue.items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_text(text)
    git(root, "add", "-A")
    commit(root, "an evaluator for autolab")
    autolab(root, "init", *init, env=DATES)
    return sum(len(text.splitlines()) for text in glue.values()) + len(["autolab init ..."])


def kept_a_gain(root: Path, trials: int) -> tuple[params.Param, str]:
    """A short real run through the CLI; it must keep a change that beat the baseline. The
    setting the first keep changed, as main holds it now, and that keep's hypothesis."""
    checked = autolab(root, "check", env=DATES, timeout=600)    # the smoke test comes first
    assert "✗" not in checked.stdout, checked.stdout
    out = autolab(root, "run", "--trials", str(trials), env=DATES, timeout=600)
    assert "found no setting" not in out.stdout + out.stderr
    lab = load(root)
    rows = [r for r in Ledger(Repo(root), root / ".autolab").rows() if r.status != BASELINE]
    kept = [r for r in rows if r.status == "keep"]
    assert kept, [(r.trial_id, r.status, r.hypothesis, r.reason) for r in rows]
    frontier = scores.parse((root / scores.PATH).read_bytes())
    assert frontier[0].trial_id == "baseline" and len(frontier) == 1 + len(kept)
    assert lab.config.better(frontier[-1].metric, frontier[0].metric) > 0
    # the keep changed one setting on one line, and main holds it now
    first = kept[0]
    assert sum(ln.startswith("+") and not ln.startswith("+++") for ln in first.diff.splitlines()) \
        == 1, first.diff
    editable = {p: (root / p).read_text() for p in lab.config.editable}
    found = {p.name: p for p in params.discover(lab, editable).params}
    name = first.hypothesis.removeprefix("Set ").split(" from ")[0]
    return found[name], first.hypothesis


def only_settings_moved(before: str, after: str, found) -> None:
    """The project's file after the run: only the lines of its settings differ."""
    old, new = before.splitlines(), after.splitlines()
    assert len(old) == len(new)
    moved = {i + 1 for i, (a, b) in enumerate(zip(old, new, strict=True)) if a != b}
    assert moved and moved <= {p.line for p in found}, moved


def test_argparse_defaults_on_master(tmp_path):
    root = project(tmp_path / "fit", {"fit.py": FIT}, branch="master")
    lines = adopt(root, {"evaluator/score.py": FIT_SCORE}, [
        "--metric", "mse", "--editable", "fit.py", "--prepare", "",
        "--train", "python fit.py --seed $AUTOLAB_SEED --out $AUTOLAB_OUT",
        "--evaluate", "python evaluator/score.py"])
    assert lines == 7 <= GLUE_MAX, lines     # 6 lines of evaluator and the init command
    found = {p.name: p for p in params.discover(load(root), {"fit.py": FIT}).params}
    # not the seed; the output path is found, but a string without choices is never stepped
    assert sorted(found) == ["lr", "out", "steps"] and steps(found["out"]) == []
    assert found["lr"].kind == "argparse" and found["lr"].value == 0.02
    setting, hypothesis = kept_a_gain(root, trials=4)
    assert setting.name in ("lr", "steps") and setting.value > found[setting.name].value, \
        hypothesis
    only_settings_moved(FIT, (root / "fit.py").read_text(), found.values())


def test_lowercase_config_file_executed_by_train_py(tmp_path):
    root = project(tmp_path / "nano", {"train.py": NANO_TRAIN, "configurator.py": CONFIGURATOR,
                                       "config/train_tiny.py": NANO_CONFIG,
                                       "data/input.txt": chain(3000, 1),
                                       "data/val.txt": chain(2000, 2)}, branch="main")
    lines = adopt(root, {"evaluator/score.py": NANO_SCORE}, [
        "--metric", "val_loss", "--editable", "config/train_tiny.py", "--frozen", "evaluator/**",
        "--frozen", "data/**", "--prepare", "",
        "--train", "python train.py config/train_tiny.py --out_dir=$AUTOLAB_OUT "
                   "--seed=$AUTOLAB_SEED",
        "--evaluate", "python evaluator/score.py"])
    assert lines == 10 <= GLUE_MAX, lines    # 9 lines of evaluator and the init command
    found = {p.name: p for p in params.discover(
        load(root), {"config/train_tiny.py": NANO_CONFIG}).params}
    assert {n: (p.kind, p.value) for n, p in found.items()} == {
        "out_dir": ("config", "out-tiny"), "learning_rate": ("config", 0.5),
        "max_iters": ("config", 100), "batch_size": ("config", 8)}
    # main's sha after the baseline holds the scores file's merge time, so the sweep's order
    # differs run to run: enough trials that a losing first step or two still leave a keep
    setting, hypothesis = kept_a_gain(root, trials=8)
    assert setting.name in ("learning_rate", "max_iters", "batch_size"), hypothesis
    assert (root / "train.py").read_text() == NANO_TRAIN   # only the config file moves
    only_settings_moved(NANO_CONFIG, (root / "config/train_tiny.py").read_text(), found.values())


# 5 baseline seeds and 4 trials, each a real train and evaluate subprocess: about 8 s
def test_search_program_with_keyword_defaults(tmp_path):
    root = project(tmp_path / "search", {"search.py": SEARCH}, branch="main")
    lines = adopt(root, {"evaluator/score.py": SEARCH_SCORE}, [
        "--metric", "gap", "--editable", "search.py", "--prepare", "",
        "--train", "python search.py $AUTOLAB_SEED $AUTOLAB_OUT",
        "--evaluate", "python evaluator/score.py"])
    # the benchmark's own size is the evaluator's to set, not the search's
    table = "\n[tool.autolab.params]\nexclude = [\"n\", \"dim\"]\n"
    with open(root / "pyproject.toml", "a") as f:
        f.write(table)
    git(root, "add", "-u")
    commit(root, "the benchmark's size is not a setting to tune")
    lines += len(table.strip().splitlines())
    assert lines == 9 <= GLUE_MAX, lines     # 6 lines of evaluator, 2 of config, the init
    unfiltered = dataclasses.replace(load(root).config, params=ParamsConfig())
    every = {p.name for p in params.discover(unfiltered, {"search.py": SEARCH}).params}
    assert every == {"n", "dim", "iterations", "bounds"}
    found = {p.name: p for p in params.discover(load(root), {"search.py": SEARCH}).params}
    assert {n: (p.kind, p.value) for n, p in found.items()} == {
        "iterations": ("kwarg", 1000), "bounds": ("kwarg", (-5, 5))}
    setting, hypothesis = kept_a_gain(root, trials=4)
    # more iterations, or a tighter box around the bowls' minima
    assert (setting.name == "iterations" and setting.value > 1000) or (
        setting.name == "bounds" and max(map(abs, setting.value)) < 5), hypothesis
    only_settings_moved(SEARCH, (root / "search.py").read_text(), found.values())


def test_a_lab_with_no_setting_says_where_it_looked(tmp_path):
    plain = SEARCH.replace("iterations=1000, bounds=(-5, 5)", "iterations, bounds") \
        .replace("search(center, rng)", "search(center, rng, 1000, (-5, 5))") \
        .replace("def bowls(n=12, dim=3):", "def bowls(n, dim):").replace("bowls()", "bowls(12, 3)")
    root = project(tmp_path / "plain", {"search.py": plain}, branch="main")
    adopt(root, {"evaluator/score.py": SEARCH_SCORE}, [
        "--metric", "gap", "--editable", "search.py", "--prepare", "",
        "--train", "python search.py $AUTOLAB_SEED $AUTOLAB_OUT",
        "--evaluate", "python evaluator/score.py"])
    path = root / "pyproject.toml"
    path.write_text(path.read_text().replace("baseline_seeds = 5", "baseline_seeds = 2"))
    git(root, "add", "-u")
    commit(root, "two baseline seeds")
    out = autolab(root, "run", "--trials", "2", env=DATES)
    text = " ".join((out.stdout + out.stderr).split())
    assert "found no setting to change in search.py; autolab reads module-level constants" \
        in text, text
    assert "the agent has no new proposals" not in text


def test_a_params_entry_that_names_nothing_is_one_line_exit_2(tmp_path):
    root = project(tmp_path / "typo", {"search.py": SEARCH}, branch="main")
    adopt(root, {"evaluator/score.py": SEARCH_SCORE}, [
        "--metric", "gap", "--editable", "search.py", "--prepare", "",
        "--train", "python search.py $AUTOLAB_SEED $AUTOLAB_OUT",
        "--evaluate", "python evaluator/score.py"])
    with open(root / "pyproject.toml", "a") as f:
        f.write('\n[tool.autolab.params]\ninclude = ["iteration"]\n')
    git(root, "add", "-u")
    commit(root, "a typo in a setting's name")
    before = (root / "search.py").read_text()
    out = autolab(root, "try", "iterations=2000", check=False, env=DATES)
    lines = out.stderr.strip().splitlines()
    assert out.returncode == 2 and len(lines) == 1, out.stdout + out.stderr
    assert "include names 'iteration', which is not a setting autolab found" in lines[0]
    assert "iterations" in lines[0] and "Traceback" not in out.stderr
    # nothing lost: the file as it was, the baseline measured before the agent was asked kept
    assert (root / "search.py").read_text() == before
    rows = Ledger(Repo(root), root / ".autolab").rows()
    assert len(rows) == 5 and all(r.status == BASELINE for r in rows)
