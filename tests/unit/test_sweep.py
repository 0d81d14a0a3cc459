"""The offline sweep agent: a schedule of steps, pairs of near misses, no crashed regions."""

from __future__ import annotations

import dataclasses
import subprocess
from pathlib import Path

import pytest
from conftest import git, make_lab

from autolab import admit, params
from autolab.agents.base import Context, unified_diff
from autolab.agents.sweep import SweepAgent, moves, steps, valid
from autolab.config import load, parse
from autolab.errors import UserError
from autolab.gitops import Repo
from autolab.params import Param
from autolab.records import LedgerRow, Proposal, ScoreRow

TRAIN = "train/train.py"
PLAIN = parse({"objective": "o", "metric": "m", "direction": "minimize", "train_command": "t",
               "evaluate_command": "e", "editable": ["**"], "frozen": []}, "pyproject.toml")


def constants(path: str, text: str) -> list[Param]:
    """The settings the sweep sees in one file, with no [tool.autolab.params]."""
    return list(params.discover(PLAIN, {path: text}).params)


def Constant(path: str, name: str, value, line: int) -> Param:   # noqa: N802 (the old name)
    return Param(name=name, path=path, line=line + 1, kind="constant", value=value, start=0,
                 end=0, base=name)


def rewrite(text: str, c: Param, value) -> str:
    return c.rewrite(text, value)

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

def test_constants_reads_single_literals_at_module_level():
    found = {c.name: (c.value, c.line) for c in constants("t.py", SOURCE)}
    # not SUM (an expression), INNER (inside a function) nor `lower`: in a file that names its
    # settings in UPPER_CASE, lowercase names are its variables
    assert found == {"LR": (0.04, 3), "WIDTH": (4, 4), "USE_NORM": (False, 5),
                     "ZERO": (0.0, 6), "NAME": ("gpt", 7), "NEG": (-3, 9), "PAIR": ((1, 2), 11),
                     "LONG": (7, 13)}
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
    assert out.splitlines()[2] == "LR = 0.08          # edit these directly"   # byte for byte
    assert [ln for i, ln in enumerate(out.splitlines()) if i != 2] == \
        [ln for i, ln in enumerate(SOURCE.splitlines()) if i != 2]
    assert constants("t.py", out)[0].value == 0.08


def test_rewrite_last_line_without_newline():
    text = "BATCH = 32\nWARMUP = 0.1"
    c = constants("x.py", text)[1]
    assert rewrite(text, c, 0.2) == "BATCH = 32\nWARMUP = 0.2"


def test_constants_sharing_a_line_are_changed_one_at_a_time():
    text = "A = 1; B = 2\nC = 3\n"
    found = {c.name: c for c in constants("x.py", text)}
    assert list(found) == ["A", "B", "C"]
    assert rewrite(text, found["B"], 4) == "A = 1; B = 4\nC = 3\n"


# proposing --------------------------------------------------------------------

def test_proposals_apply_and_differ_by_constant(lab):
    ctx = context(lab, slots=10)
    proposals = SweepAgent().propose(ctx)
    assert len(proposals) == 10
    # one per constant first: LR WIDTH DEPTH USE_NORM BATCH WARMUP (SLEEP_S is marked fixed);
    # the slots left go to the next best changes
    names = [admit.single_assignment(p.diff)[1] for p in proposals]
    assert sorted(names[:6]) == ["BATCH", "DEPTH", "LR", "USE_NORM", "WARMUP", "WIDTH"]
    assert len({p.diff for p in proposals}) == 10
    for p in proposals:
        assert applies(lab, p.diff), p.diff
        assert p.parent_sha == ctx.parent_sha and p.source == "sweep" and p.role == "sweep"
        assert p.hypothesis.startswith("Set ")


def test_slots_limit_the_number_of_proposals(lab):
    assert len(SweepAgent().propose(context(lab, slots=2))) == 2


def test_proposals_are_reproducible_per_parent(lab):
    ctx = context(lab, slots=3)
    assert SweepAgent().propose(ctx) == SweepAgent().propose(ctx)


def schedule(ctx) -> list[tuple[Constant, object]]:
    return [(c, v) for path, text in ctx.files.items() for c in constants(path, text)
            for _ring, v in steps(c)]


def value_keys(ctx, changes) -> frozenset:
    return frozenset(admit.value_key(ctx.parent_sha, c.path, c.name, v) for c, v in changes)


def test_never_proposes_a_tried_value(lab):
    ctx = context(lab)
    every = schedule(ctx)
    left = every.pop(5)
    proposals = SweepAgent().propose(context(lab, slots=5, tried=value_keys(ctx, every)))
    assert len(proposals) == 1
    path, name, _old, new = admit.single_assignment(proposals[0].diff)
    assert (path, name, new) == (left[0].path, left[0].name, left[1])


def test_everything_tried_proposes_nothing(lab):
    ctx = context(lab)
    agent = SweepAgent()
    assert agent.propose(context(lab, tried=value_keys(ctx, schedule(ctx)))) == []
    assert agent.exhausted == ("the sweep agent has no untried step left on this parent for the "
                               "settings it found (BATCH, WARMUP, LR, WIDTH, DEPTH, USE_NORM); "
                               "stopping early")


def drain(ctx: Context, rounds: int, slots: int = 1) -> list[Proposal]:
    """Rounds of proposing on one parent, every proposal's keys fed back as tried, as the
    loop does; fails on any change proposed twice."""
    out, tried = [], set(ctx.tried)
    for _ in range(rounds):
        batch = SweepAgent().propose(dataclasses.replace(ctx, slots=slots,
                                                         tried=frozenset(tried)))
        if not batch:
            break
        for p in batch:
            keys = admit.keys(p.parent_sha, p.diff)
            assert not keys & tried, f"proposed twice: {p.hypothesis}"
            tried |= keys
        out += batch
    return out


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
    proposals = drain(context(lab, history=history), rounds=100, slots=3)
    lr = [admit.single_assignment(p.diff)[3] for p in proposals
          if (admit.single_assignment(p.diff) or ("", ""))[1] == "LR"]
    assert lr[0] == 0.02
    # the crashed value and all beyond it are gone; the way up below it stays open, last
    assert all(v < 0.08 for v in lr) and lr[-1] > 0.04
    last = next(p for p in reversed(proposals) if f"to {lr[-1]!r}" in p.hypothesis)
    assert "exhausted" in last.rationale


def test_an_infrastructure_failure_marks_no_region(lab):
    history = (lr_row(lab, "0.08", "infra_error", None),)
    proposals = drain(context(lab, history=history), rounds=100, slots=3)
    assert any(p.hypothesis.startswith("Set LR from 0.04 to 0.16 ") for p in proposals)


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


# the step schedule -------------------------------------------------------------

@pytest.mark.parametrize("value", [True, 0, 1, 2, 4, 6, 16, 128, -3, 0.0, 0.04, 3e-4, 1.0,
                                   0.9, 0.99, -0.5])
def test_steps_keep_type_sign_and_bounds(value):
    c = Constant("t.py", "X", value, 0)
    out = steps(c)
    values = [v for _ring, v in out]
    assert [v for ring, v in out if ring == 0] == moves(c)   # the first steps come first
    assert len(set(values)) == len(values) and value not in values
    assert [ring for ring, _v in out] == sorted(ring for ring, _v in out)
    assert all(type(v) is type(value) for v in values)
    if not isinstance(value, bool):
        assert all(v > 0 if value >= 0 else v < 0 for v in values)
        assert len(values) >= 4   # well past the first steps
    if isinstance(value, float) and 0.5 < value < 1:
        assert all(0 < v < 1 for v in values)


def test_int_steps_stay_on_powers_of_two():
    assert [v for _r, v in steps(Constant("t.py", "N_EMBD", 128, 0))] == \
        [256, 64, 512, 32, 192, 96, 1024, 16, 160, 112, 2048, 8]
    assert [v for _r, v in steps(Constant("t.py", "N_LAYER", 1, 0))] == [2, 4, 8, 16]


DEFAULT_TRAIN = Path(__file__).resolve().parents[2] / "train" / "train.py"


def test_keeps_proposing_past_the_first_steps_for_a_night(lab):
    # the default lab, with every first step (ring 0) already tried on this parent
    files = {TRAIN: DEFAULT_TRAIN.read_text()}
    ctx = context(lab, files=files, parent_sha="p1")
    first = [(c, v) for c in constants(TRAIN, files[TRAIN]) for v in moves(c)]
    ctx = dataclasses.replace(ctx, tried=value_keys(ctx, first))
    proposals = drain(ctx, rounds=50, slots=2)
    assert len(proposals) == 100
    by_name = {c.name: c for c in constants(TRAIN, files[TRAIN])}
    for p in proposals:
        _path, name, old, new = admit.single_assignment(p.diff)
        assert by_name[name].value == old and valid(old, new) and new not in moves(by_name[name])
    assert len({admit.single_assignment(p.diff)[1] for p in proposals}) >= 10


# crashed regions -------------------------------------------------------------------

HEADS = "N_LAYER = 2\nN_HEAD = 4\nN_EMBD = 128\nSEQ_LEN = 64\nLEARNING_RATE = 0.003\n"


def row(text: str, old: str, new: str, status: str, delta: float | None = None,
        path: str = TRAIN) -> LedgerRow:
    diff = unified_diff(path, text, text.replace(old, new, 1))
    return LedgerRow(trial_id=f"t-{new}-{status}", status=status, diff=diff, parent_sha="p0",
                     delta_vs_best=delta)


def changed(proposals: list[Proposal], name: str) -> list:
    """Every value `name` is set to, in single changes and pairs alike."""
    return [c.value for p in proposals for ln in p.diff.splitlines()
            if ln.startswith("+") and not ln.startswith("+++")
            for c in constants(TRAIN, ln[1:]) if c.name == name]


def test_a_head_count_that_crashed_for_divisibility_stays_dividing(lab):
    history = (row(HEADS, "N_HEAD = 4", "N_HEAD = 3", "crash"),
               # two near misses, one of which no longer divides: their pair is never proposed
               row(HEADS, "N_HEAD = 4", "N_HEAD = 5", "discard", -0.001),
               row(HEADS, "LEARNING_RATE = 0.003", "LEARNING_RATE = 0.006", "discard", -0.001))
    ctx = context(lab, files={TRAIN: HEADS}, parent_sha="p1", history=history)
    proposals = drain(ctx, rounds=200, slots=2)
    heads = changed(proposals, "N_HEAD")
    assert heads and all(128 % h == 0 for h in heads)
    # read as divisibility, not as a direction: smaller and larger dividing counts stay open
    assert {1, 2, 8, 16} <= set(heads) and not {3, 5, 6} & set(heads)
    assert all(admit.single_assignment(p.diff) for p in proposals)   # the only pair had 5


def test_a_width_that_crashed_for_divisibility_stays_a_multiple(lab):
    history = (row(HEADS, "N_EMBD = 128", "N_EMBD = 100", "crash"),)
    ctx = context(lab, files={TRAIN: HEADS}, parent_sha="p1", history=history)
    widths = changed(drain(ctx, rounds=200, slots=2), "N_EMBD")
    assert widths and all(w % 4 == 0 and w % 64 == 0 for w in widths)
    assert 256 in widths and 64 in widths


# pairs of near misses -------------------------------------------------------------

def test_two_near_misses_are_paired_once(lab):
    ctx = context(lab)
    train, extra = ctx.files[TRAIN], ctx.files["train/extra.py"]
    history = (row(train, "LR = 0.04", "LR = 0.02", "discard", -0.001),
               row(train, "WIDTH = 4", "WIDTH = 8", "discard", 0.0),
               row(extra, "BATCH = 32", "BATCH = 64", "discard", -0.002, path="train/extra.py"),
               row(train, "DEPTH = 2", "DEPTH = 4", "discard", +0.5),      # far off: not paired
               row(train, "USE_NORM = False", "USE_NORM = True", "crash"))
    ctx = context(lab, history=history, tried=value_keys(ctx, schedule(ctx)))
    pairs = SweepAgent().propose(dataclasses.replace(ctx, slots=10))
    # the most promising first; a pair's changes named in file order
    assert [p.hypothesis for p in pairs] == [
        "Set BATCH from 32 to 64 in train/extra.py and LR from 0.04 to 0.02 in train/train.py.",
        "Set BATCH from 32 to 64 in train/extra.py and WIDTH from 4 to 8 in train/train.py.",
        "Set LR from 0.04 to 0.02 in train/train.py and WIDTH from 4 to 8 in train/train.py."]
    repo, config = Repo(lab), load(lab).config
    for p in pairs:
        assert admit.single_assignment(p.diff) is None and "came close" in p.rationale
        assert applies(lab, p.diff), p.diff
        assert admit.check(repo, config, p, ctx.tried) is None
        assert admit.check(repo, config, p, admit.keys(p.parent_sha, p.diff)).status == "duplicate"
    tried = ctx.tried | {k for p in pairs for k in admit.keys(p.parent_sha, p.diff)}
    assert SweepAgent().propose(dataclasses.replace(ctx, slots=10, tried=tried)) == []


def test_a_kept_step_is_paired_once_more(lab):
    ctx = context(lab)
    train = ctx.files[TRAIN]
    before = train.replace("LR = 0.04", "LR = 0.02")   # the keep that moved LR to 0.04
    history = (row(before, "LR = 0.02", "LR = 0.04", "keep", -0.3),
               row(train, "WIDTH = 4", "WIDTH = 8", "discard", -0.001))
    ctx = context(lab, history=history, tried=value_keys(ctx, schedule(ctx)))
    [pair] = SweepAgent().propose(dataclasses.replace(ctx, slots=10))
    assert pair.hypothesis == ("Set LR from 0.04 to 0.08 in train/train.py and WIDTH from 4 "
                               "to 8 in train/train.py.")
    assert applies(lab, pair.diff)


def test_never_undoes_a_kept_change(lab):
    ctx = context(lab)
    before = ctx.files[TRAIN].replace("LR = 0.04", "LR = 0.02")
    history = (row(before, "LR = 0.02", "LR = 0.04", "keep", -0.3),)
    proposals = drain(context(lab, history=history), rounds=200, slots=3)
    lr = {admit.single_assignment(p.diff)[3] for p in proposals
          if (admit.single_assignment(p.diff) or ("", ""))[1] == "LR"}
    assert 0.02 not in lr and {0.08, 0.01} <= lr, sorted(lr)
    # the same step from elsewhere is a fresh question: WIDTH's keep does not block LR 0.02
    other = row(ctx.files[TRAIN], "WIDTH = 4", "WIDTH = 8", "keep", -0.3)
    assert any(p.hypothesis.startswith("Set LR from 0.04 to 0.02 ")
               for p in drain(context(lab, history=(other,)), rounds=200, slots=3))


def test_near_misses_are_judged_against_the_noise(lab):
    ctx = context(lab)
    train = ctx.files[TRAIN]
    history = (row(train, "LR = 0.04", "LR = 0.02", "discard", +0.04),
               row(train, "WIDTH = 4", "WIDTH = 8", "discard", +0.06))
    baseline = ScoreRow("baseline", "", "c", "", 1.0, 0.05, 3, 0.0, "baseline", "", "", "")
    tried = value_keys(ctx, schedule(ctx))
    quiet = context(lab, history=history, tried=tried)
    assert SweepAgent().propose(quiet) == []          # a σ of 0: a loss is no near miss
    noisy = context(lab, history=(*history, row(train, "DEPTH = 2", "DEPTH = 4", "discard",
                                                +0.01)),
                    tried=tried, scores=(baseline,))
    [pair] = SweepAgent().propose(noisy)               # WIDTH lost by more than σ
    assert "LR" in pair.hypothesis and "DEPTH" in pair.hypothesis
