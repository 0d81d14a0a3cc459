"""Inputs outside git: data files a lab declares in `inputs` but does not commit.

A project often keeps its data git-ignored (`input.txt`, `data/*.bin`). `git archive`
never carries such files, so the runner takes a snapshot of them once per run, under
AUTOLAB_HOME where trial code cannot reach, and copies that snapshot into the working
directory of prepare (and of training, for a self-scoring lab), at the same paths as in
the lab. Their digest (`inputs_digest`) is recorded with every baseline and trial row,
and it keys the prepared data, so a changed input is noticed and prepared afresh.

Its place in the whole: ARCHITECTURE.md, "The trust boundary".
"""

from __future__ import annotations

import hashlib
import io
import shutil
import tarfile
import uuid
from dataclasses import dataclass
from pathlib import Path

from autolab.config import Lab
from autolab.errors import ConfigError
from autolab.gitops import Repo
from autolab.records import Manifest


@dataclass(frozen=True)
class Snapshot:
    """A run's copy of the inputs: `root` holds them at their lab paths (None: no inputs)."""

    root: Path | None
    digest: str         # "" when the lab declares none

    def place(self, dest: Path) -> None:
        """Copy the inputs into `dest` (a working directory), at their lab paths."""
        if self.root is not None:
            shutil.copytree(self.root, dest, dirs_exist_ok=True)

    def into_tar(self, tree: bytes) -> bytes:
        """`tree` (tar bytes, as the Modal runner sends them) with the inputs added."""
        if self.root is None:
            return tree
        buffer = io.BytesIO(tree)
        # append mode finds the archive's end itself; the inputs go after its members
        with tarfile.open(fileobj=buffer, mode="a") as tar:
            for path in sorted(self.root.rglob("*")):
                if path.is_file():
                    tar.add(path, arcname=path.relative_to(self.root).as_posix())
        return buffer.getvalue()


def files(lab: Lab) -> list[str]:
    """The lab paths its `inputs` patterns name; one clear line for a pattern that names
    nothing, or a file that git already carries."""
    found: dict[str, None] = {}
    for pattern in lab.config.inputs:
        hits = list(lab.root.glob(pattern))
        # a directory (`data`, or `data/**`, which pathlib matches as directories) means
        # every file under it; autolab's own state and .git are never an input
        every = [f for p in hits for f in ([p] if p.is_file() else p.rglob("*"))]
        matched = sorted(f.relative_to(lab.root).as_posix() for f in every if f.is_file()
                         and ".git" not in f.relative_to(lab.root).parts
                         and not f.resolve().is_relative_to(lab.home.resolve()))
        if not matched:
            raise ConfigError(f"{lab.where}: `inputs` entry {pattern!r} matches no file under "
                              f"{lab.root}; put the data there (e.g. run the project's own "
                              f"download step) or fix the pattern")
        found.update(dict.fromkeys(matched))
    committed = Repo(lab.root).git.ls_files("--", *found).splitlines() if found else []
    if committed:
        raise ConfigError(f"{lab.where}: `inputs` entry {committed[0]!r} is committed, and "
                          f"every trial already gets committed files; list only files outside "
                          f"git in `inputs`")
    return list(found)


def digest_of(root: Path, paths: list[str]) -> str:
    """One sha256 over the files' paths and contents (the manifest's own hash)."""
    return Manifest(tuple(sorted((path, sha256_file(root / path)) for path in paths))
                    ).config_sha256


def sha256_file(path: Path) -> str:
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def inputs_digest(lab: Lab) -> str:
    """The sha256 of the lab's declared inputs as they are now; "" when it declares none.
    What a baseline's fingerprint folds in, so a change of data re-measures it."""
    return digest_of(lab.root, files(lab)) if lab.config.inputs else ""


def snapshot(lab: Lab) -> Snapshot:
    """Copy the inputs under AUTOLAB_HOME/inputs/<digest>/ once; the copy is what every job
    of this run gets, whatever happens to the lab's own files meanwhile."""
    if not lab.config.inputs:
        return Snapshot(None, "")
    paths = files(lab)
    digest = digest_of(lab.root, paths)
    root = lab.home / "inputs" / digest[:16]
    if root.exists() and digest_of(root, paths) != digest:
        shutil.rmtree(root)     # changed since it was copied: copy again
    if not root.exists():
        tmp = root.with_name(f"{root.name}.{uuid.uuid4().hex[:6]}")
        for path in paths:
            (tmp / path).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(lab.root / path, tmp / path)
        if digest_of(tmp, paths) != digest:
            shutil.rmtree(tmp)
            raise ConfigError(f"{lab.where}: the `inputs` changed while they were copied; "
                              f"run again once they are written")
        tmp.rename(root)
    return Snapshot(root, digest)


def data_key(evaluator_sha: str, inputs_sha: str) -> str:
    """The prepared data's key: main's evaluator and, when there are inputs, their digest."""
    if not inputs_sha:
        return evaluator_sha[:16]
    return hashlib.sha256(f"{evaluator_sha} {inputs_sha}".encode()).hexdigest()[:16]
