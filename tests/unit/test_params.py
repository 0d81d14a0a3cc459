"""Discovery: the settings of a lab's editable files, where real repositories keep them."""

from __future__ import annotations

import dataclasses
import subprocess

import pytest
from conftest import git, make_lab

from autolab import admit, params
from autolab.agents.base import Context, unified_diff
from autolab.agents.sweep import SweepAgent, changed, steps
from autolab.config import Bound, ParamsConfig, load, parse
from autolab.errors import ConfigError
from autolab.records import LedgerRow

TABLE = {"objective": "o", "metric": "m", "direction": "minimize", "train_command": "t",
         "evaluate_command": "e", "editable": ["**"], "frozen": []}
PLAIN = parse(TABLE, "pyproject.toml")

SEARCH = '''\
"""Random search over a box."""
import argparse
import random


def search(f, iterations=1000, bounds=(-5, 5), *, step=0.5, verbose=False):
    best = None
    for _ in range(iterations):
        x = random.uniform(*bounds)
    return best


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--learning-rate", "-l", type=float, default=1)
    parser.add_argument("--decay", type=float, default="1e-3")   # a string argparse converts
    parser.add_argument("--optimizer", default="adam", choices=["sgd", "adam", "lion"])
    parser.add_argument("--batch",
                        type=int,
                        default=64)  # a call over several lines
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=None)
    parser.add_argument("--workers", type=int, default=4)  # autolab: fixed
'''

NANO = '''\
# a nanoGPT-style config: train.py runs exec(open(path).read())
out_dir = 'out-tiny'
n_layer = 4
learning_rate = 6e-4  # a comment stays
dropout = 0.0
compile = False
betas = (0.9, 0.99)
'''

YAML = '''\
model:
  n_layer: 4      # depth
  lr: 1.0e-3
  act: gelu
train:
  warmup: 100
  cosine: true
  tags: [a, b]
  note: |
    a block
vocab: 256  # autolab: fixed
'''

TOML = '''\
lr = 0.1
[model]
n_layer = 4  # depth
name = "gpt"
sub.width = 8
vocab = 256  # autolab: fixed
[[runs]]
x = 1
'''

JSON = '{"lr": 0.001, "model": {"n_layer": 4, "act": "gelu", "dims": [1, 2]}, "amp": true}'

FILES = {"search.py": SEARCH, "config/tiny.py": NANO, "conf.yaml": YAML, "conf.toml": TOML,
         "conf.json": JSON, "README.md": "lr = 0.1\n"}


def found(files=None, config=PLAIN) -> dict[str, params.Param]:
    return {p.name: p for p in params.discover(config, files or FILES).params}


def test_discovers_every_shape_with_kind_value_and_line():
    got = {name: (p.kind, p.value, p.path, p.line) for name, p in found().items()}
    assert got == {
        # keyword defaults of a function, positional and keyword-only
        "iterations": ("kwarg", 1000, "search.py", 6),
        "bounds": ("kwarg", (-5, 5), "search.py", 6),
        "step": ("kwarg", 0.5, "search.py", 6),
        "verbose": ("kwarg", False, "search.py", 6),
        # argparse, named as argparse names the dest, its `type=` respected
        "search.py:learning_rate": ("argparse", 1.0, "search.py", 15),
        "decay": ("argparse", 0.001, "search.py", 16),
        "optimizer": ("argparse", "adam", "search.py", 17),
        "batch": ("argparse", 64, "search.py", 20),
        # a .py file of settings only, lowercase; two learning_rate told apart by their path
        "out_dir": ("config", "out-tiny", "config/tiny.py", 2),
        "n_layer": ("config", 4, "config/tiny.py", 3),
        "config/tiny.py:learning_rate": ("config", 6e-4, "config/tiny.py", 4),
        "dropout": ("config", 0.0, "config/tiny.py", 5),
        "compile": ("config", False, "config/tiny.py", 6),
        "betas": ("config", (0.9, 0.99), "config/tiny.py", 7),
        # YAML, TOML and JSON scalars, nested keys joined with dots
        "conf.yaml:model.n_layer": ("config", 4, "conf.yaml", 2),
        "model.lr": ("config", 0.001, "conf.yaml", 3),
        "conf.yaml:model.act": ("config", "gelu", "conf.yaml", 4),
        "train.warmup": ("config", 100, "conf.yaml", 6),
        "train.cosine": ("config", True, "conf.yaml", 7),
        "conf.toml:lr": ("config", 0.1, "conf.toml", 1),
        "conf.toml:model.n_layer": ("config", 4, "conf.toml", 3),
        "model.name": ("config", "gpt", "conf.toml", 4),
        "model.sub.width": ("config", 8, "conf.toml", 5),
        "conf.json:lr": ("config", 0.001, "conf.json", 1),
        "conf.json:model.n_layer": ("config", 4, "conf.json", 1),
        "conf.json:model.act": ("config", "gelu", "conf.json", 1),
        "amp": ("config", True, "conf.json", 1),
    }
    # not found: the seed, a None default, the pinned ones, lists, a block string, arrays of
    # tables, and a file of no shape autolab reads
    assert found()["optimizer"].choices == ("sgd", "adam", "lion")
    assert params.discover(PLAIN, FILES).looked_in == ("conf.json", "conf.toml", "conf.yaml",
                                                       "config/tiny.py", "search.py")


NEW = {bool: lambda v: not v, int: lambda v: v * 2 + 1, float: lambda v: v / 8 or 0.5,
       str: lambda v: v + "-x", tuple: lambda v: tuple(x * 2 for x in v)}


@pytest.mark.parametrize("name", sorted(found()))
def test_a_change_is_one_line_that_reads_back(name, tmp_path):
    p = found()[name]
    value = NEW[type(p.value)](p.value)
    text = FILES[p.path]
    after = p.rewrite(text, value)
    old_lines, new_lines = text.splitlines(), after.splitlines()
    assert len(old_lines) == len(new_lines)
    differ = [i for i, (a, b) in enumerate(zip(old_lines, new_lines, strict=True)) if a != b]
    assert differ == [p.line - 1]
    # only the literal changed: what is around it on the line is byte for byte the same
    line = new_lines[p.line - 1]
    before, around = text[text.rfind("\n", 0, p.start) + 1:p.start], text[p.end:]
    assert line.startswith(before) and line.endswith(around.split("\n", 1)[0])
    # and the file's own reader finds the new value in the same place
    again = found({**FILES, p.path: after})[name]
    assert again.value == value and type(again.value) is type(value) and again.line == p.line
    # git applies the diff the sweep would send
    (tmp_path / p.path).parent.mkdir(parents=True, exist_ok=True)
    (tmp_path / p.path).write_text(text)
    proc = subprocess.run(["git", "apply", "--check", "-"], cwd=tmp_path, capture_output=True,
                          input=unified_diff(p.path, text, after), text=True)
    assert proc.returncode == 0, proc.stderr


def test_floats_keep_their_notation_and_yaml_floats_their_dot():
    assert found()["config/tiny.py:learning_rate"].format(1.2e-3, "6e-4") == "1.2e-3"
    assert found()["model.lr"].format(1e-05, "1.0e-3") == "1.0e-5"
    assert found()["model.lr"].format(5e-05, "0.001") == "5.0e-05"
    assert found()["decay"].format(0.002, '"1e-3"') == '"2e-3"'


def test_upper_case_files_keep_lowercase_names_as_variables():
    text = "LR = 0.1\nvalue = 1.0\n"
    assert list(found({"t.py": text})) == ["LR"]
    assert list(found({"t.py": "lr = 0.1\nvalue = 1.0\n"})) == ["lr", "value"]


def test_a_name_assigned_again_is_state_not_a_setting():
    text = "lr = 0.1\nstep = 0\nbest = 1e9\nwidth = 4\nfor i in range(3):\n    step += 1\n" \
           "def f():\n    global best\n    best = 0\n    width = 8   # a local of its own\n"
    assert list(found({"t.py": text})) == ["lr", "width"]


def test_fixed_pins_in_every_shape():
    files = {"a.py": "def f(x=1,  # autolab: fixed\n      y=2):\n    pass\n",
             "b.py": 'p.add_argument(  # autolab: fixed\n    "--n", default=3)\n'
                     'p.add_argument("--m", default=4)\n',
             "c.yaml": "a: 1  # autolab: fixed\nb: 2\n",
             "d.toml": "a = 1 # autolab: fixed\nb = 2\n"}
    assert {(p.path, p.base) for p in found(files).values()} == {
        ("a.py", "y"), ("b.py", "m"), ("c.yaml", "b"), ("d.toml", "b")}


def test_a_yaml_anchor_is_one_setting():
    text = "base: &base\n  lr: 0.1\nrun:\n  <<: *base\n  width: 4\nodd: !!python/none x\n"
    assert {p.name: p.value for p in found({"c.yaml": text}).values()} == {
        "base.lr": 0.1, "run.width": 4}


def test_broken_files_are_skipped_not_fatal():
    files = {"a.py": "lr = (\n", "b.yaml": "a: [\n", "c.toml": "a = \n", "d.json": "{",
             "e.py": "lr = 0.1\n"}
    assert list(found(files)) == ["lr"]


# [tool.autolab.params] ------------------------------------------------------------------------

def configured(**table) -> params.Discovery:
    config = parse({**TABLE, "params": table}, "pyproject.toml")
    return params.discover(config, FILES)


def test_include_exclude_and_bounds():
    d = configured(include=["iterations", "bounds", "conf.yaml:model.lr", "seed"],
                   exclude=["bounds"],
                   bounds={"iterations": {"min": 500, "max": 2000},
                           "model.lr": {"choices": [0.0005, 0.001, 0.002, 0.004]}})
    got = {p.name: p for p in d.params}
    assert sorted(got) == ["iterations", "model.lr", "seed"]   # a named seed stays
    iterations = [v for _r, v in steps(got["iterations"])]
    assert iterations[:2] == [2000, 500] and all(500 <= v <= 2000 for v in iterations)
    assert steps(got["model.lr"]) == [(0, 0.0005), (0, 0.002), (1, 0.004)]


def test_a_bound_holds_a_tuple_and_a_float_inside_the_range():
    d = configured(bounds={"bounds": {"min": -8, "max": 8}, "step": {"max": 1.0}})
    got = {p.name: p for p in d.params}
    assert all(-8 <= x <= 8 for _r, v in steps(got["bounds"]) for x in v)
    assert (0, (-2, 2)) in steps(got["bounds"]) and (2, (-7, 7)) in steps(got["bounds"])
    assert max(v for _r, v in steps(got["step"])) <= 1.0


@pytest.mark.parametrize("table, words", [
    ({"include": ["nope"]}, "include names 'nope'"),
    ({"exclude": ["nope"]}, "exclude names 'nope'"),
    ({"bounds": {"nope": {"min": 1}}}, "bounds names 'nope'"),
])
def test_a_name_that_matches_nothing_is_a_config_error(table, words):
    with pytest.raises(ConfigError) as info:
        configured(**table)
    assert words in str(info.value) and "iterations" in str(info.value)


@pytest.mark.parametrize("table, key", [
    ({"include": "lr"}, "params.include"),
    ({"bounds": ["lr"]}, "params.bounds"),
    ({"bounds": {"lr": {"low": 1}}}, "params.bounds.lr"),
    ({"bounds": {"lr": {"min": "1"}}}, "params.bounds.lr.min"),
    ({"bounds": {"lr": {"min": 2, "max": 1}}}, "params.bounds.lr"),
    ({"bounds": {"lr": {"choices": [1]}}}, "params.bounds.lr.choices"),
    ({"bounds": {"lr": {"choices": [1, 2], "max": 3}}}, "params.bounds.lr"),
    ({"bounds": {"model": {"lr": {"min": 1}}}}, "params.bounds.model"),
    ({"other": 1}, "params.other"),
])
def test_bad_params_table_names_the_key(table, key):
    with pytest.raises(ConfigError) as info:
        parse({**TABLE, "params": table}, "lab/pyproject.toml")
    assert f"`{key}" in str(info.value) and "lab/pyproject.toml" in str(info.value)


def test_params_table_parses():
    config = parse({**TABLE, "params": {"exclude": ["seed"], "bounds": {
        "lr": {"min": 1e-4, "max": 0.1}, "act": {"choices": ["gelu", "relu"]}}}}, "p")
    assert config.params == ParamsConfig(exclude=("seed",), bounds=(
        Bound("lr", 1e-4, 0.1), Bound("act", None, None, ("gelu", "relu"))))


def test_describe_says_where_it_looked_and_what_it_reads():
    text = params.discover(PLAIN, {"train.py": "import os\nprint(os.getcwd())\n",
                                   "notes.txt": "lr = 1"}).describe()
    assert text.startswith("found no setting to change in train.py; autolab reads ")
    assert "argparse defaults" in text and "YAML" in text and "autolab: fixed" in text
    assert "found no editable file" in params.discover(PLAIN, {"a.txt": ""}).describe()


# the sweep over discovered settings ----------------------------------------------------------

def test_steps_of_tuples_bools_and_strings():
    got = found()
    assert steps(got["bounds"])[:2] == [(0, (-10, 10)), (0, (-2, 2))]
    # each number keeps its range: betas stay below 1
    assert steps(got["betas"])[0] == (0, (0.45, 0.495))
    assert all(0 < x < 1 for _r, v in steps(got["betas"]) for x in v)
    assert steps(got["verbose"]) == [(0, True)]
    assert steps(got["out_dir"]) == []                          # a string needs choices
    assert steps(got["optimizer"]) == [(0, "sgd"), (0, "lion")]


@pytest.fixture(scope="module")
def search_lab(tmp_path_factory):
    root = make_lab(tmp_path_factory.mktemp("params") / "lab", init=False)
    (root / "train" / "search.py").write_text(SEARCH)
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "search")
    return root


def context(root, **changes) -> Context:
    files = {"train/search.py": SEARCH}
    values = dict(config=load(root).config, parent_sha=git(root, "rev-parse", "HEAD"),
                  parent_trial="baseline", files=files, scores=(), history=())
    return Context(**{**values, **changes})


def test_sweep_proposes_over_kwargs_and_argparse_and_knows_them_tried(search_lab):
    ctx = context(search_lab, slots=8)
    proposals = SweepAgent().propose(ctx)
    assert len(proposals) == 8
    for p in proposals:
        assert sum(ln.startswith("-") and not ln.startswith("---")
                   for ln in p.diff.splitlines()) == 1     # each change is one line
        assert subprocess.run(["git", "apply", "--check", "-"], cwd=search_lab, text=True,
                              input=p.diff, capture_output=True).returncode == 0
    # nothing admission can read as NAME=value: a tried diff is known by its own key
    tried = frozenset(k for p in proposals for k in admit.keys(p.parent_sha, p.diff))
    again = SweepAgent().propose(dataclasses.replace(ctx, tried=tried))
    assert not {p.diff for p in again} & {p.diff for p in proposals}


def test_history_of_a_kwarg_is_read_back(search_lab):
    ctx = context(search_lab)
    text = ctx.files["train/search.py"]
    after = text.replace("iterations=1000", "iterations=2000")
    diff = unified_diff("train/search.py", text, after)
    found_now = list(params.discover(ctx.config, ctx.files).params)
    assert changed(diff, found_now, ctx.files) == ("train/search.py", "iterations", 1000, 2000)
    # a crash at 2000 rules out 2000 and above; a keep is never undone
    crash = LedgerRow(trial_id="t1", status="crash", diff=diff, parent_sha="p0")
    proposals = SweepAgent().propose(context(search_lab, history=(crash,), slots=200))
    iterations = [p for p in proposals if p.hypothesis.startswith("Set iterations ")]
    assert iterations and all("to 2000 " not in p.hypothesis and "to 4000 " not in p.hypothesis
                              for p in iterations)


def test_assignment_takes_any_shape(search_lab):
    p = SweepAgent().assignment(context(search_lab), "bounds=(-3, 3)")
    assert "-def search(f, iterations=1000, bounds=(-5, 5), *, step=0.5, verbose=False):" \
        in p.diff and "+def search(f, iterations=1000, bounds=(-3, 3), *, step=0.5, " \
        "verbose=False):" in p.diff


def test_nothing_found_says_where_it_looked(search_lab):
    agent = SweepAgent()
    ctx = context(search_lab, files={"train/run.py": "import sys\nprint(sys.argv)\n"})
    assert agent.propose(ctx) == []
    assert agent.exhausted.startswith("the sweep agent stops: found no setting to change in "
                                      "train/run.py; autolab reads module-level constants")
    agent.propose(context(search_lab))
    assert agent.exhausted == ""
