"""The ledger: Parquet rows on the branch autolab/ledger, mirrored under AUTOLAB_HOME."""

from __future__ import annotations

import io
import shutil

import pyarrow.parquet as pq
import pytest
from conftest import git, make_lab

from autolab.gitops import Repo
from autolab.ledger import SCHEMA, Ledger
from autolab.records import LedgerRow
from autolab.refs import LEDGER as BRANCH


@pytest.fixture
def repo(tmp_path) -> Repo:
    return Repo(make_lab(tmp_path / "lab", init=False))


def full_row(trial_id: str = "t0001", status: str = "keep") -> LedgerRow:
    values = {}
    for i, name in enumerate(LedgerRow.columns()):
        default = getattr(LedgerRow(trial_id="x", status="x"), name)
        if isinstance(default, str):
            values[name] = f"{name}-ü-{i}"
        elif isinstance(default, int):
            values[name] = 1000 + i
        else:
            values[name] = 0.5 + i
    values.update(trial_id=trial_id, status=status, seeds="[1, 2]", seed_metrics="[0.5, 0.7]")
    return LedgerRow(**values)


def test_schema_has_every_column():
    assert SCHEMA.names == LedgerRow.columns()
    for name in ("trial_id", "parent_sha", "diff", "metric", "secondary", "curve", "flags",
                 "config_sha256", "cost_usd", "log_tail"):
        assert name in SCHEMA.names


def test_append_and_read_round_trip(repo, tmp_path):
    ledger = Ledger(repo, tmp_path / "home")
    full = full_row("t0001")
    sparse = LedgerRow(trial_id="t0002", status="crash", reason="boom")
    assert sparse.metric is None and sparse.expected_delta is None
    assert ledger.append(full) is True
    assert ledger.append(sparse) is True
    assert ledger.rows() == [full, sparse]
    assert ledger.rows()[0].seed_values == [0.5, 0.7]
    assert ledger.has("t0002") and not ledger.has("t9999")


def test_same_trial_twice_is_one_row(repo, tmp_path):
    ledger = Ledger(repo, tmp_path / "home")
    assert ledger.append(LedgerRow(trial_id="t1", status="discard")) is True
    head = repo.rev(BRANCH)
    assert ledger.append(LedgerRow(trial_id="t1", status="keep")) is False
    assert repo.rev(BRANCH) == head
    assert [(r.trial_id, r.status) for r in ledger.rows()] == [("t1", "discard")]


def test_branch_holds_one_parquet_file_per_trial(repo, tmp_path):
    ledger = Ledger(repo, tmp_path / "home")
    ledger.append(full_row("t1"))
    ledger.append(full_row("t2", status="discard"))
    paths = sorted(p for _m, _s, p in repo.files(repo.rev(BRANCH)))
    assert paths == ["trials/t1.parquet", "trials/t2.parquet"]
    data = repo.read(BRANCH, "trials/t2.parquet")
    table = pq.read_table(io.BytesIO(data))
    assert table.num_rows == 1 and table.column("status").to_pylist() == ["discard"]
    assert git(repo.root, "log", "--format=%s", BRANCH).splitlines() == [
        "ledger: t2 discard", "ledger: t1 keep"]


def test_second_ledger_sees_the_rows(repo, tmp_path):
    home = tmp_path / "home"
    first, second = Ledger(repo, home), Ledger(repo, home)
    assert second.rows() == []
    first.append(full_row("t1"))
    assert [r.trial_id for r in second.rows()] == ["t1"]
    second.append(full_row("t2"))
    assert [r.trial_id for r in first.rows()] == ["t1", "t2"]


def test_other_home_reads_from_the_branch(repo, tmp_path):
    Ledger(repo, tmp_path / "a").append(full_row("t1"))
    assert Ledger(repo, tmp_path / "b").rows() == [full_row("t1")]


def test_deleted_mirror_is_rebuilt_from_the_branch(repo, tmp_path):
    home = tmp_path / "home"
    ledger = Ledger(repo, home)
    ledger.append(full_row("t1"))
    ledger.append(LedgerRow(trial_id="t2", status="crash"))
    shutil.rmtree(home / "ledger")
    assert [r.trial_id for r in Ledger(repo, home).rows()] == ["t1", "t2"]
    assert (home / "ledger" / "trials" / "t2.parquet").exists()


def test_stale_mirror_file_is_dropped(repo, tmp_path):
    home = tmp_path / "home"
    ledger = Ledger(repo, home)
    ledger.append(full_row("t1"))
    stray = home / "ledger" / "trials" / "ghost.parquet"
    shutil.copy(home / "ledger" / "trials" / "t1.parquet", stray)
    Ledger(repo, tmp_path / "other").append(full_row("t2"))   # the branch moves elsewhere
    assert [r.trial_id for r in Ledger(repo, home).rows()] == ["t1", "t2"]
    assert not stray.exists()


def test_appends_leave_the_user_checkout_alone(repo, tmp_path):
    root = repo.root
    (root / "train" / "train.py").write_text("LR = 1\n")          # unstaged edit
    (root / "notes.md").write_text("idea\n")
    git(root, "add", "notes.md")                                  # staged work
    before = (git(root, "rev-parse", "HEAD"), git(root, "status", "--porcelain"),
              git(root, "symbolic-ref", "HEAD"), git(root, "diff", "--cached"))
    Ledger(repo, tmp_path / "home").append(full_row("t1"))
    after = (git(root, "rev-parse", "HEAD"), git(root, "status", "--porcelain"),
             git(root, "symbolic-ref", "HEAD"), git(root, "diff", "--cached"))
    assert after == before
    assert (root / "train" / "train.py").read_text() == "LR = 1\n"
    assert not (root / "trials").exists()


def test_clean_checkout_stays_clean(repo, tmp_path):
    Ledger(repo, tmp_path / "home").append(full_row("t1"))
    assert git(repo.root, "status", "--porcelain") == ""
    assert repo.is_clean()


def test_slice_for_a_role(repo, tmp_path):
    ledger = Ledger(repo, tmp_path / "home")
    for i, (status, role) in enumerate([("baseline", ""), ("keep", "sweep"),
                                        ("crash", "sweep"), ("discard", "other"),
                                        ("rejected", "sweep")]):
        ledger.append(LedgerRow(trial_id=f"t{i}", status=status, role=role))
    part = ledger.slice("sweep", 10)
    assert [r.trial_id for r in part["best"]] == ["t1"]
    assert [r.trial_id for r in part["recent"]] == ["t1", "t2", "t3", "t4"]
    assert [r.trial_id for r in part["failures"]] == ["t2", "t4"]
    assert [r.trial_id for r in ledger.slice("sweep", 1)["recent"]] == ["t4"]


def test_same_ledger_rebuilds_a_deleted_mirror(repo, tmp_path):
    home = tmp_path / "home"
    ledger = Ledger(repo, home)
    ledger.append(full_row("t1"))
    assert [r.trial_id for r in ledger.rows()] == ["t1"]
    shutil.rmtree(home / "ledger")
    assert [r.trial_id for r in ledger.rows()] == ["t1"]
    assert ledger.has("t1")


def test_an_append_that_folds_keeps_the_cached_view_right(repo, tmp_path, monkeypatch):
    monkeypatch.setattr("autolab.ledger.COMPACT_AT", 3)
    ledger = Ledger(repo, tmp_path / "home")
    for i in range(1, 5):
        ledger.ids()                      # a warm cache, as in a long run or an import
        assert ledger.append(LedgerRow(trial_id=f"t{i:04d}", status="discard"))
    assert sorted(ledger.ids()) == ["t0001", "t0002", "t0003", "t0004"]
    assert [r.trial_id for r in Ledger(repo, tmp_path / "other").rows()] == sorted(
        ledger.ids())


def test_imported_rows_never_pool_into_the_noise(repo, tmp_path):
    ledger = Ledger(repo, tmp_path / "home")
    ledger.append(LedgerRow(trial_id="baseline-abc-s0", status="baseline", metric=1.0))
    ledger.append(LedgerRow(trial_id="import-r-00001-aaaaaa", status="baseline", metric=2.0,
                            n_seeds=3, source="import:results.tsv"))
    ledger.append(LedgerRow(trial_id="import-r-00002-bbbbbb", status="keep", metric=1.5,
                            source="import:results.tsv"))
    assert [r.trial_id for r in ledger.seed_groups()] == ["baseline-abc-s0"]
    assert ledger.slice("optimizer", 8) == {"best": [], "recent": [], "failures": []}


def test_many_rows_in_one_commit_skip_the_ones_there(repo, tmp_path, monkeypatch):
    monkeypatch.setattr("autolab.ledger.COMPACT_AT", 4)
    ledger = Ledger(repo, tmp_path / "home")
    ledger.append(LedgerRow(trial_id="t0001", status="discard"))
    rows = [LedgerRow(trial_id=f"i{i}", status="keep") for i in range(5)]
    assert ledger.append_many(rows, "5 rows") == 5
    assert git(repo.root, "rev-list", "--count", BRANCH) == "2"
    assert ledger.append_many(rows, "5 rows") == 0       # all there: no new commit
    assert git(repo.root, "rev-list", "--count", BRANCH) == "2"
    assert [r.trial_id for r in Ledger(repo, tmp_path / "other").rows()] == [
        "i0", "i1", "i2", "i3", "i4", "t0001"]
    assert len(ledger.ids()) == 6
