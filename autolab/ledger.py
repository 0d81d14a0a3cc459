"""The ledger: every trial, whatever its end, as one Parquet row.

Its durable home is the branch `autolab/ledger`, so it survives ephemeral CI
machines and travels with `git push`: one file per trial under `trials/`, and
every COMPACT_AT of them folded into one file under `compacted/` so that the
tree and the reads stay small at 100,000 trials. A mirror of those files under
AUTOLAB_HOME lets pyarrow.dataset read them all at once, with column
projection and filters; it is rebuilt from the branch whenever the branch moved.

Appends write the blob, trees and commit straight into the object store
through GitPython (no subprocess each), then publish with one compare-and-swap
`update-ref`, so two processes appending at once never lose a row.

Its place in the whole: ARCHITECTURE.md, "Records and state".
"""

from __future__ import annotations

import bisect
import dataclasses
import io
import os
import time
import typing
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.parquet as pq
from git import Actor, Reference
from git.objects.fun import tree_to_stream
from gitdb import IStream, LooseObjectDB

from autolab.errors import StaleError
from autolab.files import atomic_write
from autolab.gitops import Repo
from autolab.records import BASELINE, IMPORTED, LedgerRow, Status
from autolab.refs import LEDGER

TRIALS, COMPACTED = "trials", "compacted"
COMPACT_AT = 1000
BLOB, TREE = 0o100644, 0o040000
BOT = Actor("autolab", "autolab@localhost")
_ARROW = {str: pa.string(), int: pa.int64(), float: pa.float64()}


def _arrow_type(name: str) -> pa.DataType:
    hint = typing.get_type_hints(LedgerRow)[name]
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    return _ARROW[args[0] if args else hint]


SCHEMA = pa.schema([(f.name, _arrow_type(f.name)) for f in dataclasses.fields(LedgerRow)])
# what listings, decisions and slices need; the long text columns stay on disk
LIGHT = ["trial_id", "status", "reason", "parent_sha", "commit_sha", "source", "role",
         "hypothesis", "metric", "metric_std", "n_seeds", "seed_metrics", "delta_vs_best",
         "pr", "flags", "started_at", "wall_s", "train_s", "cost_usd", "audit", "would_prune",
         "prune_wrong", "frozen_sha256"]


class Ledger:
    def __init__(self, repo: Repo, home: Path):
        self.repo = repo
        self.mirror = home / "ledger"
        # the LIGHT columns and the ids at one head, kept in memory: a run reads them
        # several times per trial, and its own appends extend them in place
        self._cache: tuple[str | None, pa.Table, set[str]] | None = None
        # zlib in-process: GitPython's default store spawns `git hash-object` per object
        self._objects = LooseObjectDB(os.path.join(repo.repo.common_dir, "objects"))

    # writing ------------------------------------------------------------
    def append(self, row: LedgerRow) -> bool:
        """Commit `row` to the ledger branch; False if that trial already has its row."""
        table = _table([row])
        for _attempt in range(20):
            head = self.head()
            if row.trial_id in self.ids(head):
                return False
            commit, changes = self._commit_with(head, {row.trial_id: table},
                                                f"ledger: {row.trial_id} {row.status}")
            try:
                self.repo.swap_ref(LEDGER, commit, head)
            except StaleError:
                continue  # another process appended meanwhile; rebuild on its head
            self._mirror_own(head, commit, changes, row.trial_id)
            return True
        raise StaleError("the ledger branch kept moving; 20 attempts to append failed")

    def append_many(self, rows: list[LedgerRow], message: str) -> int:
        """Commit, in one ledger commit, every row whose trial has no row yet: an import's
        thousand rows are one write, not a thousand. Returns how many were added."""
        for _attempt in range(20):
            head = self.head()
            have = self.ids(head)
            new = [r for r in rows if r.trial_id not in have]
            if not new:
                return 0
            table = _table(new)   # one conversion, then a zero-copy slice per row
            files = {r.trial_id: table.slice(i, 1) for i, r in enumerate(new)}
            commit, changes = self._commit_with(head, files, f"ledger: {message}")
            try:
                self.repo.swap_ref(LEDGER, commit, head)
            except StaleError:
                continue
            self._mirror_own(head, commit, changes, None)
            return len(files)
        raise StaleError("the ledger branch kept moving; 20 attempts to append failed")

    def _commit_with(self, head: str | None, added: dict[str, pa.Table], message: str):
        """A commit adding one file per trial ({trial_id: its row}), folding trials/ into
        compacted/ when it is full; rows folded at once are never written one by one.

        Returns the commit sha and the mirror changes {path: bytes or None to delete}.
        """
        git_repo = self.repo.repo
        sub = {t.name: t for t in git_repo.commit(head).tree.trees} if head else {}
        trials = {b.name: b.binsha for b in sub[TRIALS].blobs} if TRIALS in sub else {}
        compacted = {b.name: b.binsha for b in sub[COMPACTED].blobs} if COMPACTED in sub else {}
        changes: dict[str, bytes | None] = {}
        if len(trials) + len(added) < COMPACT_AT:
            for trial_id, table in added.items():
                data = _parquet(table)
                changes[f"{TRIALS}/{trial_id}.parquet"] = data
                trials[f"{trial_id}.parquet"] = self._store(b"blob", data)
        else:
            tables = [pq.read_table(io.BytesIO(self.repo.blob(sha.hex())), schema=SCHEMA)
                      for sha in trials.values()]
            folded = pa.concat_tables([*tables, *added.values()]).sort_by("trial_id")
            ids = folded.column("trial_id")
            out = io.BytesIO()
            pq.write_table(folded, out, compression="zstd")
            packed = f"{ids[0].as_py()}--{ids[-1].as_py()}.parquet"
            compacted[packed] = self._store(b"blob", out.getvalue())
            changes = {f"{TRIALS}/{n}": None for n in trials}
            changes[f"{COMPACTED}/{packed}"] = out.getvalue()
            trials = {}
        entries = [(self._tree(files), TREE, path) for path, files in
                   ((TRIALS, trials), (COMPACTED, compacted)) if files]
        tree = self._store(b"tree", _tree_bytes(entries))
        return self._commit(tree, head, message).hex(), changes

    def _commit(self, tree: bytes, parent: str | None, message: str) -> bytes:
        # by hand: GitPython's Commit.create_from_tree hashes through a subprocess
        stamp = f"{BOT.name} <{BOT.email}> {int(time.time())} +0000"
        lines = [f"tree {tree.hex()}", *([f"parent {parent}"] if parent else []),
                 f"author {stamp}", f"committer {stamp}", "", message, ""]
        return self._store(b"commit", "\n".join(lines).encode())

    def head(self) -> str | None:
        """The branch's commit, read from the ref files in-process (no subprocess)."""
        try:
            return Reference(self.repo.repo, LEDGER).object.hexsha
        except (ValueError, OSError):
            return None

    def _tree(self, files: dict[str, bytes]) -> bytes:
        return self._store(b"tree", _tree_bytes([(sha, BLOB, n) for n, sha in files.items()]))

    def _store(self, kind: bytes, data: bytes) -> bytes:
        return self._objects.store(IStream(kind, len(data), io.BytesIO(data))).binsha

    # reading ------------------------------------------------------------
    def sync(self, head: str | None = None) -> str | None:
        """Make the mirror hold exactly the branch's files; returns the head mirrored."""
        head = head if head is not None else self.head()
        marker = self.mirror / "HEAD"
        if head and marker.exists() and marker.read_text() == head:
            return head
        self.mirror.mkdir(parents=True, exist_ok=True)
        wanted = {}
        if head:
            wanted = {p: sha for _m, sha, p in self.repo.files(head) if p.endswith(".parquet")}
        have = {p.relative_to(self.mirror).as_posix() for p in self.mirror.rglob("*.parquet")}
        for path in have - wanted.keys():
            (self.mirror / path).unlink()
        for path in wanted.keys() - have:
            atomic_write(self.mirror / path, self.repo.blob(wanted[path]))
        if head:
            marker.write_text(head)
        self._cache = None
        return head

    def light(self, head: str | None = None) -> tuple[pa.Table, set[str]]:
        """The LIGHT columns of every row, and the set of trial ids, at the branch head."""
        head = self.sync(head)
        if self._cache is None or self._cache[0] != head:
            table = self._scan(LIGHT)
            self._cache = (head, table, set(table.column("trial_id").to_pylist()))
        return self._cache[1], self._cache[2]

    def table(self, columns: list[str] | None = None, where=None) -> pa.Table:
        """The ledger (or some columns of it, or the rows matching a pyarrow filter)."""
        if columns is not None and set(columns) <= set(LIGHT):
            table = self.light()[0]
            return (table.filter(where) if where is not None else table).select(columns)
        self.sync()
        return self._scan(columns, where)

    def _scan(self, columns=None, where=None, files: list[str] | None = None) -> pa.Table:
        files = sorted(str(p) for p in self.mirror.rglob("*.parquet")) if files is None else files
        if not files:
            table = SCHEMA.empty_table()
            return table.select(columns) if columns else table
        dataset = ds.dataset(files, schema=SCHEMA, format="parquet")
        return dataset.to_table(columns=columns, filter=where).sort_by("trial_id")

    def rows(self, where=None, columns: list[str] | None = None) -> list[LedgerRow]:
        """Rows as records; with `columns` (e.g. LIGHT) the others keep their defaults.

        A filtered full read first finds the matching ids on one column, then
        decodes the long text columns only from the files that hold those ids.
        """
        if where is not None and columns is None:
            return self.by_id(self.table(["trial_id"], where).column("trial_id").to_pylist())
        return [LedgerRow(**r) for r in self.table(columns, where).to_pylist()]

    def by_id(self, ids: list[str]) -> list[LedgerRow]:
        if not ids:
            return []
        wanted = sorted(set(ids))
        files = []
        for path in self.mirror.rglob("*.parquet"):
            first, _, last = path.stem.partition("--")
            # a file's name is its trial id, or the first--last ids it folds together
            lo = bisect.bisect_left(wanted, first)
            if lo < len(wanted) and wanted[lo] <= (last or first):
                files.append(str(path))
        table = self._scan(where=pc.field("trial_id").isin(wanted), files=sorted(files))
        return [LedgerRow(**r) for r in table.to_pylist()]

    def ids(self, head: str | None = None) -> set[str]:
        return self.light(head)[1]

    def has(self, trial_id: str) -> bool:
        return trial_id in self.ids()

    def recent(self, n: int) -> list[LedgerRow]:
        """The last n rows by trial id, baseline seeds included."""
        last = self.table(["trial_id"]).column("trial_id").to_pylist()[-n:]
        return self.by_id(last)

    def on_parent(self, parent_sha: str) -> list[LedgerRow]:
        """Rows of trials proposed against `parent_sha` (what duplicate checks compare with)."""
        return self.rows(pc.field("parent_sha") == parent_sha)

    def seed_groups(self) -> list[LedgerRow]:
        """Rows that carry several seeds of one code version: the baseline's and confirmed.

        Imported rows never count: their noise was measured elsewhere, if at all."""
        return self.rows(((pc.field("n_seeds") > 1) | (pc.field("status") == BASELINE))
                         & ~pc.starts_with(pc.field("source"), IMPORTED), columns=LIGHT)

    def starting_with(self, prefix: str) -> list[LedgerRow]:
        return self.rows(pc.starts_with(pc.field("trial_id"), prefix))

    def slice(self, for_role: str, n: int) -> dict[str, list[LedgerRow]]:
        """What an agent in `for_role` reads: the best trial, the last n, its own failures."""
        light = self.table(["trial_id", "status", "role", "source"])
        # imported rows were judged elsewhere: an agent builds on this lab's own verdicts
        trials = light.filter((pc.field("status") != BASELINE)
                              & ~pc.starts_with(pc.field("source"), IMPORTED))
        ids = trials.column("trial_id")
        kept = trials.filter(pc.field("status") == Status.KEEP.value).column("trial_id")
        dead_ends = pa.array([s.value for s in Status.where(Status.is_dead_end)])
        failures = trials.filter((pc.field("role") == for_role)
                                 & pc.field("status").isin(dead_ends)).column("trial_id")
        kept, recent, failures = (c[max(0, len(c) - k):].to_pylist() for c, k in
                                  ((kept, 1), (ids, n), (failures, n)))
        wanted = set(kept + recent + failures)
        full = {r.trial_id: r for r in self.by_id(list(wanted))}
        return {"best": [full[t] for t in kept], "recent": [full[t] for t in recent],
                "failures": [full[t] for t in failures]}

    # mirror -------------------------------------------------------------
    def _mirror_own(self, old: str | None, new: str, changes: dict,
                    trial_id: str | None) -> None:
        """Apply our own commit to the mirror; anything else moving the branch forces a sync.
        The cached view grows by one appended trial in place; many are read back once."""
        marker = self.mirror / "HEAD"
        previous = marker.read_text() if marker.exists() else None
        if previous != old:
            self.sync(new)
            return
        for path, data in changes.items():
            if data is None:
                (self.mirror / path).unlink(missing_ok=True)
            else:
                atomic_write(self.mirror / path, data)
        marker.write_text(new)
        if self._cache is not None and self._cache[0] == old:
            _, table, ids = self._cache
            # a fold lists the trial's own file too, as deleted (None)
            own = changes.get(f"{TRIALS}/{trial_id}.parquet") if trial_id else None
            added = pq.read_table(io.BytesIO(own), columns=LIGHT) if own else None
            if added is None or trial_id is None:  # folded, or many: read it back once
                self._cache = None
            else:
                ids.add(trial_id)
                last = table.column("trial_id")[-1].as_py() if table.num_rows else ""
                table = pa.concat_tables([table, added])
                self._cache = (new, table if trial_id > last else table.sort_by("trial_id"),
                               ids)


def take_in(repo: Repo, theirs: str | None) -> None:
    """Bring another copy's ledger (origin's head `theirs`) into the local branch, both sides
    keeping every row: a fast-forward, or a commit of the union of both trees."""
    ours = repo.rev(LEDGER)
    if not theirs or theirs == ours or (ours and repo.is_ancestor(theirs, ours)):
        return
    if not ours or repo.is_ancestor(ours, theirs):
        repo.swap_ref(LEDGER, theirs, ours)
        return
    have = {path for _m, _sha, path in repo.files(theirs)}
    mine = {path: repo.blob(sha) for _m, sha, path in repo.files(ours)
            if path not in have}  # one file per trial: a union never conflicts
    union = repo.commit_files(theirs, mine, "ledger: union of two runs", [ours, theirs])
    repo.swap_ref(LEDGER, union, ours)


def _table(rows: list[LedgerRow]) -> pa.Table:
    return pa.Table.from_pylist([r.as_dict() for r in rows], schema=SCHEMA)


def _parquet(table: pa.Table) -> bytes:
    buf = io.BytesIO()
    pq.write_table(table, buf)
    return buf.getvalue()


def _tree_bytes(entries: list[tuple[bytes, int, str]]) -> bytes:
    # git orders a tree's entries by name, a subtree's name as if it ended in "/"
    entries = sorted(entries, key=lambda e: e[2] + ("/" if e[1] == TREE else ""))
    out = io.BytesIO()
    tree_to_stream(entries, out.write)
    return out.getvalue()


