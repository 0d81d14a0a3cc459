"""Admission: what is refused before any compute is spent."""

from __future__ import annotations

import dataclasses

import pytest
from conftest import git, make_lab

from autolab import admit
from autolab.agents.base import unified_diff
from autolab.config import load
from autolab.gitops import Repo
from autolab.records import LedgerRow, Proposal

TRAIN = "train/train.py"


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    root = make_lab(tmp_path_factory.mktemp("admit") / "lab", init=False)
    return root, Repo(root), load(root).config, git(root, "rev-parse", "HEAD")


def propose(diff: str, parent: str) -> Proposal:
    return Proposal(role="sweep", hypothesis="h", rationale="r", expected_delta=0.0, diff=diff,
                    parent_sha=parent, source="human")


def edit(root, path: str, old: str, new: str) -> str:
    text = (root / path).read_text()
    assert old in text
    return unified_diff(path, text, text.replace(old, new, 1))


def new_file(path: str, body: str, mode: str = "100644") -> str:
    lines = body.splitlines()
    return (f"diff --git a/{path} b/{path}\nnew file mode {mode}\n--- /dev/null\n"
            f"+++ b/{path}\n@@ -0,0 +1,{len(lines)} @@\n"
            + "".join(f"+{ln}\n" for ln in lines))


def check(world, diff, seen=frozenset(), config=None, parent=None):
    """(status, reason) of the refusal, ("", "") when admitted."""
    root, repo, cfg, head = world
    refusal = admit.check(repo, config or cfg, propose(diff, parent or head), seen)
    return ("", "") if refusal is None else (refusal.status, refusal.reason)


def test_good_diff_is_admitted(world):
    root = world[0]
    assert check(world, edit(root, TRAIN, "LR = 0.04", "LR = 0.08")) == ("", "")


def test_new_editable_file_is_admitted(world):
    assert check(world, new_file("train/helpers.py", "X = 1")) == ("", "")


def test_empty_diff_is_rejected(world):
    status, reason = check(world, "  \n")
    assert status == "rejected" and "empty" in reason


def test_frozen_path_is_rejected(world):
    root = world[0]
    diff = edit(root, "evaluator/__main__.py", '"score": value', '"score": 0.0')
    status, reason = check(world, diff)
    assert status == "rejected"
    assert "frozen path evaluator/__main__.py" in reason


def test_frozen_wins_over_editable(world):
    cfg = dataclasses.replace(world[2], editable=("**",))
    diff = edit(world[0], "pyproject.toml", "budget_seconds = 5", "budget_seconds = 500")
    status, reason = check(world, diff, config=cfg)
    assert status == "rejected" and "frozen" in reason


def test_outside_editable_is_rejected(world):
    status, reason = check(world, new_file("notes.md", "hello"))
    assert status == "rejected"
    assert "outside the editable paths train/**" in reason


def test_rename_into_frozen_is_rejected(world):
    diff = ("diff --git a/train/train.py b/evaluator/train.py\nsimilarity index 100%\n"
            "rename from train/train.py\nrename to evaluator/train.py\n")
    status, reason = check(world, diff)
    assert status == "rejected" and "evaluator/train.py" in reason


RENAME_OUT = ("diff --git a/evaluator/__main__.py b/train/evil.py\nsimilarity index 100%\n"
              "rename from evaluator/__main__.py\nrename to train/evil.py\n")


def test_touched_paths_names_both_sides_of_a_rename(world):
    assert set(admit.touched_paths(world[1], RENAME_OUT)) == {"evaluator/__main__.py",
                                                              "train/evil.py"}


def test_rename_out_of_frozen_is_rejected(world):
    status, reason = check(world, RENAME_OUT)
    assert status == "rejected"
    assert "evaluator/__main__.py" in reason


def test_deleting_a_frozen_file_is_rejected(world):
    text = (world[0] / "evaluator/__main__.py").read_text()
    diff = unified_diff("evaluator/__main__.py", text, "").replace(
        "+++ b/evaluator/__main__.py", "+++ /dev/null")
    diff = "diff --git a/evaluator/__main__.py b/evaluator/__main__.py\n" \
        "deleted file mode 100644\n" + diff
    status, reason = check(world, diff)
    assert status == "rejected" and "frozen path evaluator/__main__.py" in reason


@pytest.mark.parametrize("path", ["../outside.py", "train/../../outside.py"])
def test_dotdot_path_is_rejected(world, path):
    status, reason = check(world, new_file(path, "x = 1"))
    assert status == "rejected"
    assert "escapes the repository" in reason


def test_absolute_path_is_rejected(world):
    diff = "--- /dev/null\n+++ b//etc/evil\n@@ -0,0 +1 @@\n+x = 1\n"
    status, reason = check(world, diff)
    assert status == "rejected"
    assert "escapes the repository via '/etc/evil'" in reason


def test_symlink_addition_is_rejected(world):
    diff = new_file("train/link.py", "../evaluator/__main__.py", mode="120000")
    status, reason = check(world, diff)
    assert status == "rejected" and "symlink" in reason


def test_submodule_is_rejected(world):
    diff = ("diff --git a/train/sub b/train/sub\nnew file mode 160000\nindex 0000000..1234567\n"
            "--- /dev/null\n+++ b/train/sub\n@@ -0,0 +1 @@\n+Subproject commit "
            + "1" * 40 + "\n")
    status, reason = check(world, diff)
    assert status == "rejected" and "submodule" in reason


def test_diff_that_does_not_apply_is_rejected(world):
    text = (world[0] / TRAIN).read_text()
    stale = text.replace("LR = 0.04", "LR = 0.05")
    diff = unified_diff(TRAIN, stale, stale.replace("LR = 0.05", "LR = 0.1"))
    status, reason = check(world, diff)
    assert status == "rejected"
    assert "does not apply" in reason and world[3][:10] in reason


def test_garbage_is_rejected_not_raised(world):
    status, reason = check(world, "this is not a diff\n")
    assert status == "rejected" and "does not parse" in reason


def test_oversize_file_is_rejected(world):
    small = dataclasses.replace(world[2], max_file_bytes=1000)
    big = new_file("train/table.py", "\n".join(f"ROW_{i} = {i}" for i in range(200)))
    status, reason = check(world, big, config=small)
    assert status == "rejected"
    assert "train/table.py" in reason and "max_file_bytes=1000" in reason
    assert check(world, big) == ("", "")         # under the default cap


def test_same_diff_same_parent_is_duplicate(world):
    root, _repo, _cfg, head = world
    diff = edit(root, TRAIN, "LR = 0.04", "LR = 0.02")
    seen = admit.tried([LedgerRow(trial_id="t1", status="discard", parent_sha=head, diff=diff)])
    status, reason = check(world, diff, seen)
    assert status == "duplicate"
    assert "already tried" in reason


def test_same_value_differently_formatted_is_duplicate(world):
    root, _repo, _cfg, head = world
    first = edit(root, TRAIN, "LR = 0.04", "LR = 0.008")
    text = (root / TRAIN).read_text()
    lines = text.splitlines()
    at = lines.index("LR = 0.04          # edit these directly")
    again = (f"--- a/{TRAIN}\n+++ b/{TRAIN}\n@@ -{at},3 +{at},3 @@\n {lines[at - 1]}\n"
             f"-{lines[at]}\n+LR=8e-3  # smaller\n {lines[at + 1]}\n")
    assert admit.diff_key(head, first) != admit.diff_key(head, again)
    assert check(world, again) == ("", "")       # a valid diff on its own
    seen = admit.keys(head, first)
    assert check(world, again, seen)[0] == "duplicate"


def test_same_diff_on_another_parent_is_admitted(world, tmp_path):
    root = make_lab(tmp_path / "lab", init=False)
    repo = Repo(root)
    first = git(root, "rev-parse", "HEAD")
    (root / "notes.md").write_text("unrelated\n")
    git(root, "add", "notes.md")
    git(root, "commit", "-q", "-m", "notes")
    second = git(root, "rev-parse", "HEAD")
    diff = edit(root, TRAIN, "LR = 0.04", "LR = 0.02")
    cfg = load(root).config
    seen = admit.keys(first, diff)
    assert admit.check(repo, cfg, propose(diff, first), seen).status == "duplicate"
    assert admit.check(repo, cfg, propose(diff, second), seen) is None


# the keys ---------------------------------------------------------------------

def test_single_assignment_reads_one_constant_change(world):
    diff = edit(world[0], TRAIN, "LR = 0.04", "LR = 0.006")
    assert admit.single_assignment(diff) == (TRAIN, "LR", 0.04, 0.006)
    diff = edit(world[0], TRAIN, "USE_NORM = False", "USE_NORM = True")
    assert admit.single_assignment(diff) == (TRAIN, "USE_NORM", False, True)


@pytest.mark.parametrize("old, new", [
    ("LR = 0.04", "LR = 1 / 3"),                     # not a literal
    ("LR = 0.04", "RATE = 0.04"),                    # a different name
    ("SLEEP_S = 0.0", "SLEEP_S = 0.0\nEXTRA = 1"),   # two added lines
    ("rng = random", "rng  = random"),               # not an UPPER_CASE constant
])
def test_single_assignment_is_none_otherwise(world, old, new):
    diff = edit(world[0], TRAIN, old, new)
    assert admit.single_assignment(diff) is None


def test_two_constants_changed_is_not_a_single_assignment(world):
    text = (world[0] / TRAIN).read_text()
    diff = unified_diff(TRAIN, text, text.replace("WIDTH = 4", "WIDTH = 8")
                        .replace("DEPTH = 2", "DEPTH = 3"))
    assert admit.single_assignment(diff) is None
    assert len(admit.keys("p", diff)) == 1          # only the diff key


def test_diff_key_ignores_context_offsets_and_whitespace(world):
    head = world[3]
    wide = edit(world[0], TRAIN, "LR = 0.04", "LR = 0.02")
    text = (world[0] / TRAIN).read_text()
    line = text.splitlines().index("LR = 0.04          # edit these directly") + 1
    narrow = (f"--- a/{TRAIN}\n+++ b/{TRAIN}\n@@ -{line + 7} +{line + 7} @@\n"
              f"-LR = 0.04 # edit these directly\n+LR  =  0.02          # edit these directly\n")
    assert admit.diff_key(head, wide) == admit.diff_key(head, narrow)
    assert admit.diff_key(head, wide) != admit.diff_key("0" * 40, wide)
    other = edit(world[0], TRAIN, "LR = 0.04", "LR = 0.03")
    assert admit.diff_key(head, wide) != admit.diff_key(head, other)


def test_keys_and_tried(world):
    head = world[3]
    diff = edit(world[0], TRAIN, "LR = 0.04", "LR = 0.02")
    assert admit.keys(head, diff) == {admit.diff_key(head, diff),
                                      admit.value_key(head, TRAIN, "LR", 0.02)}
    rows = [LedgerRow(trial_id="a", status="keep", parent_sha=head, diff=diff),
            LedgerRow(trial_id="b", status="baseline", parent_sha=head)]
    assert admit.tried(rows) == frozenset(admit.keys(head, diff))


def test_diff_key_ignores_blank_lines(world):
    head = world[3]
    text = (world[0] / TRAIN).read_text()
    diff = unified_diff(TRAIN, text, text.replace("WIDTH = 4", "WIDTH = 8")
                        .replace("DEPTH = 2", "DEPTH = 3"))
    assert admit.diff_key(head, diff) == admit.diff_key(head, diff + "\n")
