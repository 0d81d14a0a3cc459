"""The ledger: every trial, whatever its end, as one Parquet row.

Its durable home is the branch `autolab/ledger` (one file per trial under
`trials/`), so it survives ephemeral CI machines and travels with `git push`.
A mirror of those files under AUTOLAB_HOME lets pyarrow.dataset read them all
at once; the mirror is rebuilt from the branch whenever the branch moved.
"""

from __future__ import annotations

import dataclasses
import io
import os
import typing
from pathlib import Path

import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from autolab.errors import StaleError
from autolab.gitops import Repo
from autolab.records import BASELINE, FAILURES, LedgerRow

BRANCH = "refs/heads/autolab/ledger"
_ARROW = {str: pa.string(), int: pa.int64(), float: pa.float64()}


def _arrow_type(annotation) -> pa.DataType:
    hint = typing.get_type_hints(LedgerRow)[annotation]
    base = next(a for a in typing.get_args(hint) if a is not type(None)) \
        if typing.get_args(hint) else hint
    return _ARROW[base]


SCHEMA = pa.schema([(f.name, _arrow_type(f.name)) for f in dataclasses.fields(LedgerRow)])


class Ledger:
    def __init__(self, repo: Repo, home: Path):
        self.repo = repo
        self.mirror = home / "ledger"
        self._synced: str | None = None

    # writing ------------------------------------------------------------
    def append(self, row: LedgerRow) -> bool:
        """Commit `row` to the ledger branch; False if that trial already has its row."""
        buf = io.BytesIO()
        pq.write_table(pa.Table.from_pylist([row.as_dict()], schema=SCHEMA), buf)
        path = f"trials/{row.trial_id}.parquet"
        for _attempt in range(20):
            head = self.repo.rev(BRANCH)
            if head and self.repo.read(head, path) is not None:
                return False
            commit = self.repo.commit_files(head, {path: buf.getvalue()},
                                            f"ledger: {row.trial_id} {row.status}",
                                            [head] if head else [])
            try:
                self.repo.swap_ref(BRANCH, commit, head)
            except StaleError:
                continue  # another process appended meanwhile; rebuild on its head
            self._write_mirror(path, buf.getvalue())
            return True
        raise StaleError("the ledger branch kept moving; 20 attempts to append failed")

    # reading ------------------------------------------------------------
    def sync(self) -> None:
        head = self.repo.rev(BRANCH)
        marker = self.mirror / "HEAD"
        if head and marker.exists() and marker.read_text() == head:
            return
        self.mirror.mkdir(parents=True, exist_ok=True)
        wanted = {}
        if head:
            wanted = {p: sha for _m, sha, p in self.repo.files(head) if p.endswith(".parquet")}
        have = {p.relative_to(self.mirror).as_posix() for p in self.mirror.rglob("*.parquet")}
        for path in have - wanted.keys():
            (self.mirror / path).unlink()
        for path in wanted.keys() - have:
            self._write_file(self.mirror / path, self.repo.blob(wanted[path]))
        if head:
            marker.write_text(head)

    def table(self) -> pa.Table:
        self.sync()
        files = sorted(str(p) for p in self.mirror.rglob("*.parquet"))
        if not files:
            return SCHEMA.empty_table()
        table = ds.dataset(files, schema=SCHEMA, format="parquet").to_table()
        return table.sort_by("trial_id")

    def rows(self) -> list[LedgerRow]:
        return [LedgerRow(**r) for r in self.table().to_pylist()]

    def has(self, trial_id: str) -> bool:
        self.sync()
        return (self.mirror / "trials" / f"{trial_id}.parquet").exists()

    def slice(self, for_role: str, n: int) -> dict[str, list[LedgerRow]]:
        """What an agent in `for_role` reads: the best trial, the last n, its own failures."""
        rows = [r for r in self.rows() if r.status != BASELINE]
        kept = [r for r in rows if r.status == "keep"]
        own_failures = [r for r in rows if r.role == for_role
                        and (r.status in FAILURES or r.status in ("rejected", "discard"))]
        return {"best": kept[-1:], "recent": rows[-n:], "failures": own_failures[-n:]}

    # mirror -------------------------------------------------------------
    def _write_mirror(self, path: str, data: bytes) -> None:
        """Mirror our own append; anything else moving the branch forces a full sync."""
        self._write_file(self.mirror / path, data)
        head = self.repo.rev(BRANCH)
        marker = self.mirror / "HEAD"
        previous = marker.read_text() if marker.exists() else None
        parent = self.repo.rev(f"{head}^") if head else None
        # only our own commit on top of what we had mirrored keeps the mirror exact
        if previous == parent:
            marker.write_text(head)

    @staticmethod
    def _write_file(path: Path, data: bytes) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_bytes(data)
        os.replace(tmp, path)
