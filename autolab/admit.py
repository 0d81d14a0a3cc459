"""Admission: what is refused before any compute is spent (ARCHITECTURE.md, "admit").

Each refusal is a `Refusal` (its status, a one-line reason, and whether the
proposal's author may revise it); the loop records it as a ledger row.
"""

from __future__ import annotations

import ast
import hashlib
import re
from dataclasses import dataclass

import git

from autolab.config import Config
from autolab.gitops import Repo, glob_regex, last_line, stdin_file
from autolab.records import LedgerRow, Proposal, Status

_ASSIGN = re.compile(r"^([A-Z][A-Z0-9_]*)\s*=\s*([^#\n]+?)\s*(?:#.*)?$")


def touched_paths(repo: Repo, diff: str) -> list[str]:
    """Every path the diff names, old and new, as git itself reads them."""
    out = repo.git.apply("--numstat", "-z", "-", istream=stdin_file(diff))
    paths, fields = [], out.split("\0")
    i = 0
    while i < len(fields):
        entry = fields[i]
        if not entry:
            i += 1
            continue
        stat = entry.split("\t")
        if len(stat) == 3 and stat[2]:
            paths.append(stat[2])
            i += 1
        else:  # with -z a rename's numstat is followed by its two names as fields
            paths += [fields[i + 1], fields[i + 2]]
            i += 3
    # numstat names only the new side of a rename or copy; the old side matters as much
    paths += re.findall(r"^(?:rename|copy) from (.+)$", diff, re.MULTILINE)
    return list(dict.fromkeys(paths))


def single_assignment(diff: str):
    """(path, NAME, old, new) when the diff changes exactly one constant, else None."""
    removed = [ln[1:] for ln in diff.splitlines() if ln.startswith("-") and
               not ln.startswith("---")]
    added = [ln[1:] for ln in diff.splitlines() if ln.startswith("+") and
             not ln.startswith("+++")]
    paths = [ln[6:] for ln in diff.splitlines() if ln.startswith("+++ b/")]
    if len(removed) != 1 or len(added) != 1 or len(paths) != 1:
        return None
    old, new = _ASSIGN.match(removed[0].strip()), _ASSIGN.match(added[0].strip())
    if not (old and new) or old.group(1) != new.group(1):
        return None
    try:
        return (paths[0], old.group(1), ast.literal_eval(old.group(2)),
                ast.literal_eval(new.group(2)))
    except (ValueError, SyntaxError):
        return None


def value_key(parent_sha: str, path: str, name: str, value) -> str:
    return f"value:{parent_sha}:{path}:{name}={value!r}"


def diff_key(parent_sha: str, diff: str) -> str:
    """The change itself, blind to hunk offsets, context and whitespace."""
    body = [re.sub(r"\s+", "", ln) for ln in diff.splitlines()
            if ln[:1] in ("+", "-") and ln.strip() not in ("+", "-")
            or ln.startswith(("+++", "---"))]
    return f"diff:{parent_sha}:" + hashlib.sha256("\n".join(body).encode()).hexdigest()


def keys(parent_sha: str, diff: str) -> set[str]:
    out = {diff_key(parent_sha, diff)}
    change = single_assignment(diff)
    if change:
        out.add(value_key(parent_sha, change[0], change[1], change[3]))
    return out


def tried(rows: list[LedgerRow]) -> frozenset:
    return frozenset(k for r in rows if r.diff for k in keys(r.parent_sha, r.diff))


@dataclass(frozen=True)
class Refusal:
    status: Status                  # rejected or duplicate
    reason: str
    revisable: bool = False         # git's own complaint: its author may fix the diff once


def check(repo: Repo, config: Config, proposal: Proposal, seen: frozenset) -> Refusal | None:
    """None when admitted, else why not."""
    diff = proposal.diff
    rejected = Status.REJECTED
    if not diff.strip():
        return Refusal(rejected, proposal.unusable or "the proposal carries an empty diff")
    if keys(proposal.parent_sha, diff) & seen:
        return Refusal(Status.DUPLICATE, "the same change was already tried on this parent")
    if re.search(r"^(new|old|deleted) file mode 120000|^new mode 120000", diff, re.M):
        return Refusal(rejected, "the diff adds a symlink; trials may only change regular files")
    if re.search(r"^(new )?(file )?mode 160000", diff, re.M):
        return Refusal(rejected, "the diff adds a submodule")
    try:
        paths = touched_paths(repo, diff)
    except git.GitCommandError as exc:
        return Refusal(rejected, f"the diff does not parse: {last_line(exc.stderr)}",
                       revisable=True)
    frozen, editable = glob_regex(config.frozen), glob_regex(config.editable)
    for path in paths:
        parts = path.split("/")
        if path.startswith("/") or ".." in parts or path.startswith("~"):
            return Refusal(rejected, f"the diff escapes the repository via {path!r}")
        if frozen.match(path):
            return Refusal(rejected, f"the diff touches the frozen path {path}")
        if not editable.match(path):
            return Refusal(rejected, f"the diff touches {path}, outside the editable paths "
                           f"{', '.join(config.editable)}")
    problem = repo.apply_check(proposal.parent_sha, diff)
    if problem:
        return Refusal(rejected, f"the diff does not apply to {proposal.parent_sha[:10]}: "
                       f"{problem}", revisable=True)
    for path, size in repo.sizes_after(proposal.parent_sha, diff, paths).items():
        if size > config.max_file_bytes:
            return Refusal(rejected, f"{path} would be {size} bytes, over max_file_bytes="
                           f"{config.max_file_bytes}")
    return None

