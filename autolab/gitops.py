"""Git plumbing through GitPython that never touches a working tree or the user's index.

Trial commits, merges and ledger commits are built in a throwaway index file
(`GIT_INDEX_FILE`) and published with a compare-and-swap `update-ref`, so the
user's checkout, staged work and uncommitted files are never read or written.

Its place in the whole: ARCHITECTURE.md, "The edges".
"""

from __future__ import annotations

import io
import os
import re
import tarfile
import tempfile
from contextlib import contextmanager
from pathlib import Path

import git

from autolab.errors import LabError, StaleError

BOT = {"GIT_AUTHOR_NAME": "autolab", "GIT_AUTHOR_EMAIL": "autolab@localhost",
       "GIT_COMMITTER_NAME": "autolab", "GIT_COMMITTER_EMAIL": "autolab@localhost"}


def glob_regex(patterns) -> re.Pattern:
    """`**` crosses directories, `*` does not (stdlib fnmatch lets `*` cross `/`)."""
    parts = []
    for pattern in patterns:
        out, i = "", 0
        while i < len(pattern):
            if pattern.startswith("**", i):
                out, i = out + ".*", i + 2
            elif pattern[i] == "*":
                out, i = out + "[^/]*", i + 1
            elif pattern[i] == "?":
                out, i = out + "[^/]", i + 1
            else:
                out, i = out + re.escape(pattern[i]), i + 1
        parts.append(out)
    return re.compile("|".join(f"(?:{p})" for p in parts) + r"\Z" if parts else r"(?!)")


class Repo:
    def __init__(self, root: Path):
        try:
            self.repo = git.Repo(root)
        except (git.InvalidGitRepositoryError, git.NoSuchPathError):
            raise LabError(f"{root}: not a git repository; run `git init` there") from None
        self.root = Path(root)
        self.git = self.repo.git

    def commit_of(self, ref: str) -> str:
        """The commit `ref` names, which must exist (a branch autolab itself keeps)."""
        sha = self.rev(ref)
        if sha is None:
            raise LabError(f"{self.root}: `{ref}` names no commit; was it deleted by hand?")
        return sha

    def rev(self, ref: str) -> str | None:
        try:
            return self.git.rev_parse("--verify", "--quiet", f"{ref}^{{commit}}")
        except git.GitCommandError:
            return None

    def files(self, commit: str) -> list[tuple[str, str, str]]:
        """(mode, blob sha, path) of every file in the commit's tree."""
        out = self.git.ls_tree("-r", "-z", "--full-tree", commit)
        rows = []
        for entry in filter(None, out.split("\0")):
            meta, path = entry.split("\t", 1)
            mode, _kind, sha = meta.split()
            rows.append((mode, sha, path))
        return rows

    def blob(self, sha: str) -> bytes:
        return self.repo.odb.stream(bytes.fromhex(sha)).read()

    def read(self, commit: str, path: str) -> bytes | None:
        try:
            return self.git.show(f"{commit}:{path}", stdout_as_string=False,
                                 strip_newline_in_stdout=False)
        except git.GitCommandError:
            return None

    def hash_blob(self, data: bytes) -> str:
        with tempfile.NamedTemporaryFile(delete=False) as f:
            f.write(data)
        try:
            return self.git.hash_object("-w", f.name)
        finally:
            os.unlink(f.name)

    @contextmanager
    def scratch_index(self, tree_of: str | None):
        """A private index holding `tree_of`'s tree; the user's index is never used."""
        fd, path = tempfile.mkstemp(prefix="autolab-index-")
        os.close(fd)
        os.unlink(path)
        env = {**BOT, "GIT_INDEX_FILE": path}
        try:
            if tree_of:
                self.git.read_tree(tree_of, env=env)
            yield env
        finally:
            if os.path.exists(path):
                os.unlink(path)

    def apply_check(self, parent: str, diff: str) -> str | None:
        """None when `diff` applies cleanly to `parent`, else git's own complaint."""
        with self.scratch_index(parent) as env:
            try:
                self.git.apply("--cached", "--check", "-", istream=stdin_file(diff), env=env)
            except git.GitCommandError as exc:
                return last_line(exc.stderr)
        return None

    def sizes_after(self, parent: str, diff: str, paths: list[str]) -> dict[str, int]:
        """Size in bytes of each path once `diff` is applied to `parent` (absent: skipped)."""
        with self.scratch_index(parent) as env:
            self.git.apply("--cached", "-", istream=stdin_file(diff), env=env)
            out = self.git.ls_files("-s", "-z", "--", *paths, env=env)
        sizes = {}
        for entry in filter(None, out.split("\0")):
            meta, path = entry.split("\t", 1)
            sizes[path] = int(self.git.cat_file("-s", meta.split()[1]))
        return sizes

    def commit_diff(self, parent: str, diff: str, message: str) -> str:
        with self.scratch_index(parent) as env:
            self.git.apply("--cached", "-", istream=stdin_file(diff), env=env)
            tree = self.git.write_tree(env=env)
        return self.git.commit_tree(tree, "-p", parent, "-m", message, env=BOT)

    def commit_files(self, base: str | None, changes: dict[str, bytes], message: str,
                     parents: list[str]) -> str:
        """A commit whose tree is `base`'s tree with `changes` written over it."""
        with self.scratch_index(base) as env:
            for path, data in changes.items():
                sha = self.hash_blob(data)
                self.git.update_index("--add", "--cacheinfo", f"100644,{sha},{path}", env=env)
            tree = self.git.write_tree(env=env)
        args = [a for p in parents for a in ("-p", p)]
        return self.git.commit_tree(tree, *args, "-m", message, env=BOT)

    def rebased_diff(self, commit: str, onto: str) -> str | None:
        """`commit`'s change replayed onto `onto`, as a diff; None if its old lines are gone.

        Zero-context hunks, because sweep-style changes sit on adjacent lines
        that a three-way merge would call a conflict.
        """
        change = self.git.diff("-U0", f"{commit}^", commit) + "\n"
        with self.scratch_index(onto) as env:
            try:
                self.git.apply("--cached", "--unidiff-zero", "-", istream=stdin_file(change),
                               env=env)
            except git.GitCommandError:
                return None
            tree = self.git.write_tree(env=env)
        return self.git.diff(onto, tree) + "\n"

    def swap_ref(self, ref: str, new: str, old: str | None) -> None:
        """Point `ref` at `new` only if it still points at `old` (None: must not exist)."""
        try:
            self.git.update_ref(ref, new, old or "0" * 40)
        except git.GitCommandError:
            raise StaleError(f"{ref} moved (expected {old or 'nothing'})") from None

    def is_ancestor(self, a: str, b: str) -> bool:
        return self.repo.is_ancestor(self.repo.commit(a), self.repo.commit(b))

    def delete_ref(self, ref: str) -> None:
        if self.rev(ref):
            self.git.update_ref("-d", ref)

    def archive(self, commit: str, dest: Path, paths: list[str] | None = None) -> None:
        """Exactly the committed bytes of `commit` (or some of its paths) into `dest`."""
        data = self.git.archive("--format=tar", commit, *(["--", *paths] if paths else []),
                                stdout_as_string=False)
        dest.mkdir(parents=True, exist_ok=True)
        with tarfile.open(fileobj=io.BytesIO(data)) as tar:
            tar.extractall(dest, filter="data")

    def checked_out_branch(self) -> str | None:
        try:
            return self.git.symbolic_ref("--quiet", "--short", "HEAD")
        except git.GitCommandError:
            return None

    def is_clean(self) -> bool:
        return not self.git.status("--porcelain", "--untracked-files=no")

    def fast_forward_worktree(self, old: str, new: str) -> None:
        """Bring a clean checkout from `old` to `new` (two-way merge keeps local edits safe)."""
        self.git.read_tree("-u", "-m", old, new)


def stdin_file(text: str):
    f = tempfile.TemporaryFile()
    f.write(text.encode())
    f.seek(0)
    return f


def last_line(text: str) -> str:
    lines = [ln.strip() for ln in (text or "").splitlines() if ln.strip()]
    line = lines[-1] if lines else "git apply failed"
    return line.removeprefix("stderr: ").strip("'")
