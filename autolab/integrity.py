"""Manifests: what exactly is trained and what exactly scores it.

A manifest is computed from the committed blobs when a trial is opened, and
recomputed from the files a runner actually extracted; any difference stops
the run as `integrity_mismatch` before a single step of training.

Its place in the whole: ARCHITECTURE.md, "The trust boundary".
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from autolab.config import Config
from autolab.gitops import Repo, glob_regex
from autolab.records import Manifest
from autolab.scores import PATH as SCORES


def watched(config: Config):
    return glob_regex([*config.editable, *config.frozen])


def manifest_at(repo: Repo, commit: str, patterns) -> Manifest:
    match = glob_regex(patterns) if not hasattr(patterns, "match") else patterns
    files = tuple(
        (path, hashlib.sha256(repo.blob(sha)).hexdigest())
        for mode, sha, path in repo.files(commit)
        if mode != "160000" and match.match(path)
    )
    return Manifest(files=tuple(sorted(files)))


def manifest_of_dir(root: Path, patterns) -> Manifest:
    match = glob_regex(patterns) if not hasattr(patterns, "match") else patterns
    files = []
    for path in root.rglob("*"):
        rel = path.relative_to(root).as_posix()
        if (path.is_file() or path.is_symlink()) and match.match(rel):
            data = (path.readlink().as_posix().encode() if path.is_symlink()
                    else path.read_bytes())
            files.append((rel, hashlib.sha256(data).hexdigest()))
    return Manifest(files=tuple(sorted(files)))


def differences(expected: Manifest, actual: Manifest) -> list[str]:
    want, got = expected.as_dict(), actual.as_dict()
    return sorted(p for p in want.keys() | got.keys() if want.get(p) != got.get(p))


def evaluator_files(repo: Repo, config: Config, commit: str) -> list[str]:
    """main's frozen files that score a trial: all but the scores file, which every merge
    rewrites, so that one evaluator keeps one evaluator_sha256 (and one data cache)."""
    frozen = glob_regex(config.frozen)
    return [p for _m, _s, p in repo.files(commit) if frozen.match(p) and p != SCORES]


def frozen_manifest(repo: Repo, config: Config, commit: str) -> Manifest:
    """main's frozen files at `commit` (evaluator, prepare, data, config, anything in `frozen`),
    less the files autolab itself rewrites with every merge and baseline."""
    # imported here: report pulls in jinja2, which the runner side never needs
    from autolab.report import PROGRESS_SVG, README

    generated = {SCORES, README, PROGRESS_SVG}
    full = manifest_at(repo, commit, config.frozen)
    return Manifest(tuple(f for f in full.files if f[0] not in generated))


def frozen_fingerprint(repo: Repo, config: Config, commit: str, inputs_sha256: str = "") -> str:
    """One hash of everything main's measurements depend on besides the editable script (its
    frozen files but the workflows, which run nothing that is measured, and the digest of the
    git-ignored inputs): a baseline, a best and a noise estimate belong together only under
    the same fingerprint."""
    frozen = frozen_manifest(repo, config, commit).files
    measured = Manifest(tuple(f for f in frozen if not f[0].startswith(".github/")))
    if not inputs_sha256:
        return measured.config_sha256
    return hashlib.sha256(f"{measured.config_sha256}\n{inputs_sha256}".encode()).hexdigest()


def tree_sha256(root: Path) -> str:
    """One hash over every file under `root` (the prepared data's identity)."""
    return manifest_of_dir(root, ["**"]).config_sha256
