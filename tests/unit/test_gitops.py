"""Git plumbing that never touches the user's working tree or index."""

from __future__ import annotations

import pytest
from conftest import git, make_lab

from autolab.agents.base import unified_diff
from autolab.errors import LabError, StaleError
from autolab.gitops import Repo, glob_regex, last_line

TRAIN = "train/train.py"


@pytest.fixture
def root(tmp_path):
    return make_lab(tmp_path / "lab", init=False)


def edit(root, old: str, new: str, path: str = TRAIN) -> str:
    text = (root / path).read_text()
    assert old in text
    return unified_diff(path, text, text.replace(old, new, 1))


# glob_regex -------------------------------------------------------------------

@pytest.mark.parametrize("patterns, path, hit", [
    (["train/**"], "train/train.py", True),
    (["train/**"], "train/deep/er/x.py", True),
    (["train/**"], "trainer/x.py", False),
    (["train/**"], "other/train/x.py", False),
    (["train/*"], "train/x.py", True),
    (["train/*"], "train/deep/x.py", False),
    (["*.py"], "x.py", True),
    (["*.py"], "a/x.py", False),
    (["**/*.py"], "a/b/x.py", True),
    (["a?c.txt"], "abc.txt", True),
    (["a?c.txt"], "a/c.txt", False),
    (["reports/scores.csv"], "reports/scores.csv", True),
    (["reports/scores.csv"], "reports/scoresXcsv", False),      # the dot is literal
    (["reports/scores.csv"], "reports/scores.csv.bak", False),  # anchored at the end
    (["pyproject.toml", "evaluator/**"], "evaluator/__main__.py", True),
    ([], "anything", False),
])
def test_glob_regex(patterns, path, hit):
    assert bool(glob_regex(patterns).match(path)) is hit


def test_not_a_repository_is_a_lab_error(tmp_path):
    with pytest.raises(LabError, match="not a git repository"):
        Repo(tmp_path)


def test_last_line():
    assert last_line("error: a\n  stderr: 'error: patch failed'\n") == "error: patch failed"
    assert last_line("") == "git apply failed"


# commits without the user's index ---------------------------------------------

def test_commit_diff_leaves_index_and_worktree_alone(root):
    repo = Repo(root)
    head = git(root, "rev-parse", "HEAD")
    (root / "notes.md").write_text("staged\n")
    git(root, "add", "notes.md")
    (root / "evaluator" / "__init__.py").write_text("# unstaged\n")
    before = (git(root, "status", "--porcelain"), git(root, "diff", "--cached"),
              git(root, "diff"))
    commit = repo.commit_diff(head, edit(root, "LR = 0.04", "LR = 0.08"), "raise LR")
    assert (git(root, "status", "--porcelain"), git(root, "diff", "--cached"),
            git(root, "diff")) == before
    assert git(root, "rev-parse", "HEAD") == head
    assert "LR = 0.04" in (root / TRAIN).read_text()
    # the commit holds exactly the change, on top of the parent, by the bot
    assert git(root, "rev-parse", f"{commit}^") == head
    assert git(root, "diff", "--name-only", head, commit) == TRAIN
    assert b"LR = 0.08" in repo.read(commit, TRAIN)
    assert repo.read(commit, "notes.md") is None
    assert git(root, "log", "-1", "--format=%an %s", commit) == "autolab raise LR"


def test_commit_files_writes_over_a_base(root):
    repo = Repo(root)
    head = repo.rev("HEAD")
    commit = repo.commit_files(head, {"reports/scores.csv": b"a,b\n"}, "scores", [head])
    assert repo.read(commit, "reports/scores.csv") == b"a,b\n"
    assert repo.read(commit, TRAIN) == repo.read(head, TRAIN)
    orphan = repo.commit_files(None, {"x/y.bin": b"\x00\x01"}, "orphan", [])
    assert [p for _m, _s, p in repo.files(orphan)] == ["x/y.bin"]
    assert repo.read(orphan, "x/y.bin") == b"\x00\x01"
    assert git(root, "status", "--porcelain") == ""


def test_apply_check_and_sizes_after(root):
    repo = Repo(root)
    head = repo.rev("HEAD")
    good = edit(root, "WIDTH = 4", "WIDTH = 40")
    assert repo.apply_check(head, good) is None
    stale = good.replace("-WIDTH = 4", "-WIDTH = 5")
    assert "patch" in repo.apply_check(head, stale)
    size = len((root / TRAIN).read_bytes()) + 1
    assert repo.sizes_after(head, good, [TRAIN]) == {TRAIN: size}


def test_rev_and_files(root):
    repo = Repo(root)
    assert repo.rev("refs/heads/nope") is None
    assert repo.rev("main") == git(root, "rev-parse", "HEAD")
    paths = {p for _m, _s, p in repo.files("main")}
    assert {TRAIN, "evaluator/__main__.py", "pyproject.toml"} <= paths


# refs -------------------------------------------------------------------------

def test_swap_ref_is_compare_and_swap(root):
    repo = Repo(root)
    a = repo.rev("HEAD")
    b = repo.commit_diff(a, edit(root, "LR = 0.04", "LR = 0.08"), "b")
    c = repo.commit_diff(a, edit(root, "WIDTH = 4", "WIDTH = 8"), "c")
    ref = "refs/autolab/test"
    repo.swap_ref(ref, a, None)
    with pytest.raises(StaleError):
        repo.swap_ref(ref, b, None)              # must not exist any more
    repo.swap_ref(ref, b, a)
    with pytest.raises(StaleError, match="moved"):
        repo.swap_ref(ref, c, a)                 # someone moved it to b meanwhile
    assert repo.rev(ref) == b
    repo.delete_ref(ref)
    assert repo.rev(ref) is None
    repo.delete_ref(ref)                         # deleting twice is harmless


# archive and rebase -----------------------------------------------------------

def test_archive_gives_committed_bytes(root, tmp_path):
    repo = Repo(root)
    committed = (root / TRAIN).read_bytes()
    (root / TRAIN).write_text("tampered in the worktree\n")
    (root / "train" / "untracked.py").write_text("X = 1\n")
    dest = tmp_path / "out"
    repo.archive("HEAD", dest)
    assert (dest / TRAIN).read_bytes() == committed
    assert not (dest / "train" / "untracked.py").exists()
    only = tmp_path / "only"
    repo.archive("HEAD", only, ["evaluator"])
    assert (only / "evaluator" / "__main__.py").exists()
    assert not (only / "train").exists()


def test_rebased_diff_replays_an_adjacent_line_change(root):
    repo = Repo(root)
    base = repo.rev("HEAD")
    trial = repo.commit_diff(base, edit(root, "WIDTH = 4", "WIDTH = 8"), "width")
    main = repo.commit_diff(base, edit(root, "LR = 0.04", "LR = 0.02"), "lr")  # line above
    diff = repo.rebased_diff(trial, main)
    assert diff is not None
    assert "+WIDTH = 8" in diff and "-WIDTH = 4" in diff
    assert repo.apply_check(main, diff) is None
    both = repo.commit_diff(main, diff, "rebased")
    text = repo.read(both, TRAIN).decode()
    assert "LR = 0.02" in text and "WIDTH = 8" in text


def test_rebased_diff_is_none_when_the_old_line_is_gone(root):
    repo = Repo(root)
    base = repo.rev("HEAD")
    trial = repo.commit_diff(base, edit(root, "LR = 0.04", "LR = 0.08"), "up")
    main = repo.commit_diff(base, edit(root, "LR = 0.04", "LR = 0.02"), "down")
    assert repo.rebased_diff(trial, main) is None


def test_fast_forward_worktree_keeps_local_edits(root):
    repo = Repo(root)
    old = repo.rev("HEAD")
    new = repo.commit_diff(old, edit(root, "LR = 0.04", "LR = 0.08"), "up")
    (root / "evaluator" / "__init__.py").write_text("# mine\n")
    repo.fast_forward_worktree(old, new)
    assert "LR = 0.08" in (root / TRAIN).read_text()
    assert (root / "evaluator" / "__init__.py").read_text() == "# mine\n"
