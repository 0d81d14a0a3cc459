"""Manifests: the committed blobs and the extracted files must agree."""

from __future__ import annotations

import hashlib

from conftest import make_lab

from autolab.config import load
from autolab.gitops import Repo
from autolab.integrity import differences, manifest_at, manifest_of_dir, tree_sha256, watched
from autolab.records import Manifest


def test_manifest_of_an_archive_matches_the_commit(tmp_path):
    root = make_lab(tmp_path / "lab", init=False)
    repo, config = Repo(root), load(root).config
    (root / "train" / "train.py").write_text("LR = 1\n")   # the worktree must not matter
    at = manifest_at(repo, "HEAD", watched(config))
    dest = tmp_path / "run"
    repo.archive("HEAD", dest)
    of_dir = manifest_of_dir(dest, watched(config))
    assert at == of_dir
    assert at.config_sha256 == of_dir.config_sha256
    paths = [p for p, _ in at.files]
    assert paths == sorted(paths)
    assert {"train/train.py", "evaluator/__main__.py", "pyproject.toml"} <= set(paths)
    committed = repo.read("HEAD", "train/train.py")
    assert at.as_dict()["train/train.py"] == hashlib.sha256(committed).hexdigest()


def test_patterns_limit_the_manifest(tmp_path):
    root = make_lab(tmp_path / "lab", init=False)
    m = manifest_at(Repo(root), "HEAD", ["evaluator/**"])
    assert [p for p, _ in m.files] == ["evaluator/__init__.py", "evaluator/__main__.py"]


def test_differences_name_changed_added_and_missing_files(tmp_path):
    root = make_lab(tmp_path / "lab", init=False)
    repo, config = Repo(root), load(root).config
    dest = tmp_path / "run"
    repo.archive("HEAD", dest)
    expected = manifest_at(repo, "HEAD", watched(config))
    assert differences(expected, manifest_of_dir(dest, watched(config))) == []
    (dest / "train" / "train.py").write_text("LR = 1\n")
    (dest / "train" / "sneaky.py").write_text("")
    (dest / "evaluator" / "__init__.py").unlink()
    (dest / "unwatched.txt").write_text("ignored\n")
    actual = manifest_of_dir(dest, watched(config))
    assert differences(expected, actual) == ["evaluator/__init__.py", "train/sneaky.py",
                                             "train/train.py"]
    assert actual.config_sha256 != expected.config_sha256


def test_config_sha256_depends_on_paths_and_hashes():
    a = Manifest(files=(("a.py", "1" * 64), ("b.py", "2" * 64)))
    assert a.config_sha256 == Manifest(files=(("b.py", "2" * 64), ("a.py", "1" * 64))).config_sha256
    assert a.config_sha256 != Manifest(files=(("a.py", "1" * 64),)).config_sha256
    assert a.config_sha256 != Manifest(files=(("a.py", "1" * 64), ("c.py", "2" * 64))).config_sha256


def test_tree_sha256_changes_with_content(tmp_path):
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "x.bin").write_bytes(b"1")
    first = tree_sha256(tmp_path)
    assert first == tree_sha256(tmp_path)
    (tmp_path / "d" / "x.bin").write_bytes(b"2")
    assert tree_sha256(tmp_path) != first
