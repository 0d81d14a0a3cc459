"""The offline sweep agent: one constant at a time, steered by the lineage."""

from __future__ import annotations

import dataclasses
import subprocess

import pytest
from conftest import git, make_lab

from autolab import admit
from autolab.agents.base import Context, unified_diff
from autolab.agents.sweep import Constant, SweepAgent, constants, moves, rewrite
from autolab.config import load
from autolab.errors import UserError
from autolab.records import LedgerRow

TRAIN = "train/train.py"

SOURCE = '''\
"""doc"""
import os
LR = 0.04          # edit these directly
WIDTH = 4
USE_NORM = False
ZERO = 0.0
NAME = "gpt"
SUM = 1 + 2
NEG = -3
lower = 5
PAIR = (1, 2)
LONG = (
    7
)
def f():
    INNER = 3
'''


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    root = make_lab(tmp_path_factory.mktemp("sweep") / "lab", init=False)
    (root / "train" / "extra.py").write_text("BATCH = 32\nWARMUP = 0.1")   # no final newline
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "extra")
    return root


def context(root, **changes) -> Context:
    files = {p: (root / p).read_text() for p in (TRAIN, "train/extra.py")}
    values = dict(config=load(root).config, parent_sha=git(root, "rev-parse", "HEAD"),
                  parent_trial="baseline", files=files, scores=(), history=())
    return Context(**{**values, **changes})


def applies(root, diff: str) -> bool:
    proc = subprocess.run(["git", "apply", "--check", "-"], cwd=root, input=diff, text=True,
                          capture_output=True)
    return proc.returncode == 0


# reading and moving constants -------------------------------------------------

def test_constants_reads_numbers_and_bools_only():
    found = {c.name: (c.value, c.line) for c in constants("t.py", SOURCE)}
    assert found == {"LR": (0.04, 2), "WIDTH": (4, 3), "USE_NORM": (False, 4),
                     "ZERO": (0.0, 5)}
    assert isinstance(found["WIDTH"][0], int) and isinstance(found["USE_NORM"][0], bool)


def test_constants_of_broken_python_is_empty():
    assert constants("t.py", "LR = (\n") == []


@pytest.mark.parametrize("value, expected", [
    (True, [False]), (False, [True]),
    (4, [8, 2, 5, 3]), (16, [32, 8]), (1, [2, 4]), (0, [1, 2]), (-3, [-6, -2]),
    (0.04, [0.08, 0.02]), (0.0, [0.1, 0.01]), (3e-4, [6e-4, 1.5e-4]),
])
def test_moves(value, expected):
    out = moves(Constant("t.py", "X", value, 0))
    assert out == expected
    assert value not in out
    assert all(type(m) is type(value) for m in out)


def test_rewrite_keeps_comment_and_other_lines():
    c = next(c for c in constants("t.py", SOURCE) if c.name == "LR")
    out = rewrite(SOURCE, c, 0.08)
    assert out.splitlines()[2] == "LR = 0.08  # edit these directly"
    assert [ln for i, ln in enumerate(out.splitlines()) if i != 2] == \
        [ln for i, ln in enumerate(SOURCE.splitlines()) if i != 2]
    assert constants("t.py", out)[0].value == 0.08


def test_rewrite_last_line_without_newline():
    text = "BATCH = 32\nWARMUP = 0.1"
    c = constants("x.py", text)[1]
    assert rewrite(text, c, 0.2) == "BATCH = 32\nWARMUP = 0.2"


def test_constants_sharing_a_line_are_not_offered():
    # a line-based rewrite could not change one of them without touching the other
    text = "A = 1; B = 2\nC = 3\n"
    assert [c.name for c in constants("x.py", text)] == ["C"]


# proposing --------------------------------------------------------------------

def test_proposals_apply_and_differ_by_constant(lab):
    ctx = context(lab, slots=10)
    proposals = SweepAgent().propose(ctx)
    # one per constant: LR WIDTH DEPTH USE_NORM BATCH WARMUP (SLEEP_S is marked fixed)
    assert len(proposals) == 6
    names = [admit.single_assignment(p.diff)[1] for p in proposals]
    assert len(set(names)) == len(names)
    for p in proposals:
        assert applies(lab, p.diff), p.diff
        assert p.parent_sha == ctx.parent_sha and p.source == "sweep" and p.role == "sweep"
        assert p.hypothesis.startswith("Set ")


def test_slots_limit_the_number_of_proposals(lab):
    assert len(SweepAgent().propose(context(lab, slots=2))) == 2


def test_proposals_are_reproducible_per_parent(lab):
    ctx = context(lab, slots=3)
    assert SweepAgent().propose(ctx) == SweepAgent().propose(ctx)


def test_never_proposes_a_tried_value(lab):
    ctx = context(lab)
    every = [(c, v) for path, text in ctx.files.items() for c in constants(path, text)
             for v in moves(c)]
    left = every.pop(5)
    tried = frozenset(admit.value_key(ctx.parent_sha, c.path, c.name, v) for c, v in every)
    proposals = SweepAgent().propose(context(lab, slots=5, tried=tried))
    assert len(proposals) == 1
    path, name, _old, new = admit.single_assignment(proposals[0].diff)
    assert (path, name, new) == (left[0].path, left[0].name, left[1])


def test_everything_tried_proposes_nothing(lab):
    ctx = context(lab)
    tried = frozenset(admit.value_key(ctx.parent_sha, c.path, c.name, v)
                      for path, text in ctx.files.items() for c in constants(path, text)
                      for v in moves(c))
    assert SweepAgent().propose(context(lab, tried=tried)) == []


def lr_row(lab, new: str, status: str, delta: float | None) -> LedgerRow:
    text = (lab / TRAIN).read_text()
    diff = unified_diff(TRAIN, text, text.replace("LR = 0.04", f"LR = {new}"))
    return LedgerRow(trial_id=f"t-{new}-{status}", status=status, diff=diff,
                     delta_vs_best=delta)


def test_learns_a_direction_that_was_kept(lab):
    history = (lr_row(lab, "0.08", "keep", -0.3),)
    [first] = SweepAgent().propose(context(lab, history=history))
    assert admit.single_assignment(first.diff)[1:] == ("LR", 0.04, 0.08)
    assert "improved" in first.rationale


def test_avoids_a_direction_that_crashed(lab):
    history = (lr_row(lab, "0.08", "crash", None),)
    proposals = SweepAgent().propose(context(lab, history=history, slots=10))
    lr = [admit.single_assignment(p.diff) for p in proposals
          if admit.single_assignment(p.diff)[1] == "LR"]
    assert lr == [(TRAIN, "LR", 0.04, 0.02)]
    ctx = context(lab, history=history)
    tried = frozenset(admit.value_key(ctx.parent_sha, c.path, c.name, v)
                      for path, text in ctx.files.items() for c in constants(path, text)
                      for v in moves(c) if (c.name, v) != ("LR", 0.08))
    [last] = SweepAgent().propose(context(lab, history=history, tried=tried))
    assert admit.single_assignment(last.diff)[1:] == ("LR", 0.04, 0.08)
    assert "exhausted" in last.rationale


def test_maximize_reads_gains_the_other_way(lab):
    maxi = dataclasses.replace(load(lab).config, direction="maximize")
    history = (lr_row(lab, "0.02", "keep", +0.3),)
    [first] = SweepAgent().propose(context(lab, config=maxi, history=history))
    assert admit.single_assignment(first.diff)[1:] == ("LR", 0.04, 0.02)


# a person's NAME=value --------------------------------------------------------

def test_assignment_sets_the_value(lab):
    p = SweepAgent().assignment(context(lab), "LR=0.006")
    assert admit.single_assignment(p.diff) == (TRAIN, "LR", 0.04, 0.006)
    assert p.source == "human"
    assert applies(lab, p.diff)


def test_idea_goes_through_assignment(lab):
    [p] = SweepAgent().propose(context(lab, idea=" USE_NORM = True ", slots=3))
    assert admit.single_assignment(p.diff) == (TRAIN, "USE_NORM", False, True)


@pytest.mark.parametrize("idea, words", [
    ("MOMENTUM=0.9", "NAME=value"),
    ("LR 0.006", "NAME=value"),
    ("LR=lr * 2", "not a Python literal"),
])
def test_assignment_errors(lab, idea, words):
    with pytest.raises(UserError) as info:
        SweepAgent().assignment(context(lab), idea)
    assert words in str(info.value)
    assert "LR" in str(info.value)


def test_constants_marked_fixed_are_not_offered():
    text = "LR = 0.1\nVOCAB = 256  # autolab: fixed (the evaluator expects 256 logits)\n"
    assert [c.name for c in constants("x.py", text)] == ["LR"]


def test_fractions_near_one_move_toward_and_away_from_one():
    beta = constants("x.py", "BETA2 = 0.99\n")[0]
    assert moves(beta) == [0.995, 0.98]
    small = constants("x.py", "WARMUP_FRAC = 0.05\n")[0]
    assert moves(small) == [0.1, 0.025]
