"""`autolab import`: results TSVs from autoresearch and its derivatives, as ledger history."""

from __future__ import annotations

import json
import re

import pytest
from conftest import autolab, git

from autolab import config as config_mod
from autolab import importer, scores
from autolab.gitops import Repo
from autolab.ledger import BRANCH, Ledger

AUTORESEARCH = """\
commit\tval_bpb\tmemory_gb\tstatus\tdescription
{head}\t1.285372\t44.0\tkeep\tbaseline
ddde99b\t1.304852\t44.2\tdiscard\tSwiGLU MLP
28c91c1\t1.267503\t44.0\tkeep\tconv mixer replaces 3/4 attention
fe6c00e\t0.000000\t0.0\tcrash\tweight tying (OOM)
5980576\t1.265667\t44.1\tkeep\tMLP 8x on the conv model
"""

WIDE_ROWS = [
    ("trial_id", "parent", "specialist", "hypothesis", "expected_delta", "status", "score",
     "started_at", "ended_at", "worker", "notes"),
    ("e1", "", "baseline", "baseline", "", "keep", "2.00", "10:00", "10:05", "gpu0", "first"),
    ("e2", "e1", "optimizer", "lower LR", "-0.02", "keep", "1.90", "10:05", "10:10", "gpu0", ""),
    ("e3", "e1", "architecture", "wider MLP", "-0.05", "discard", "2.10", "10:05", "10:09",
     "gpu1", ""),
    ("e4", "e2", "schedule", "cosine decay", "-0.01", "tentative", "1.89", "10:10", "10:14",
     "gpu1", "within noise"),
    ("e5", "e2", "architecture", "rotary", "-0.03", "keep", "1.85", "10:10", "10:16", "gpu0",
     ""),
    ("e6", "e5", "data", "dedupe", "", "crash", "", "10:16", "", "gpu0", "OOM at step 10"),
]
# a wider file: ids and parents, roles, expected deltas, timings and runner slots
WIDE = "".join("\t".join(cells).replace("\t10:", "\t2026-03-01 10:") + "\n"
               for cells in WIDE_ROWS)


def write(path, text):
    path.write_text(text)
    return path


def ledger_of(lab):
    return Ledger(Repo(lab), lab / ".autolab")


def test_autoresearch_results_become_history(lab, tmp_path):
    head = git(lab, "rev-parse", "--short=7", "HEAD")
    tsv = write(tmp_path / "results.tsv", AUTORESEARCH.format(head=head))
    main_before = git(lab, "rev-parse", "main")
    out = autolab(lab, "import", str(tsv), "--metric", "val_bpb").stdout
    assert "imported 5 of 5 rows" in out
    rows = ledger_of(lab).rows()
    assert [r.status for r in rows] == ["keep", "discard", "keep", "crash", "keep"]
    assert {r.source for r in rows} == {"import:results.tsv"}
    assert rows[3].metric is None               # autoresearch's 0.000000 for a crash
    assert rows[0].commit_sha == git(lab, "rev-parse", "HEAD")   # linked: it is here
    assert rows[1].commit_sha == "ddde99b" and "not in this repository" in rows[1].flags
    assert json.loads(rows[0].secondary) == {"memory_gb": 44.0}
    # no parent column: each row branched from the last kept one
    assert [r.parent_trial for r in rows] == ["", rows[0].trial_id, rows[0].trial_id,
                                              rows[2].trial_id, rows[2].trial_id]
    config = config_mod.load(lab).config
    assert [r.metric for r in importer.frontier(rows, config)] == [1.285372, 1.267503,
                                                                   1.265667]
    # history, never verdicts: not in the noise pooling, main untouched
    assert ledger_of(lab).seed_groups() == []
    assert git(lab, "rev-parse", "main") == main_before
    assert scores.parse(Repo(lab).read("main", scores.PATH)) == []

    status = autolab(lab, "status").stdout
    assert "import:results.tsv: 5 rows (1 crash, 1 discard, 3 keep)" in status
    assert f"baseline 1.28537 ({head}), best 1.26567 (5980576)" in status
    assert "kept path" in status
    refused = autolab(lab, "reproduce", rows[0].trial_id, check=False)
    assert refused.returncode == 2 and "imported from results.tsv" in refused.stderr


def test_the_same_file_twice_adds_nothing(lab, tmp_path):
    tsv = write(tmp_path / "results.tsv", AUTORESEARCH.format(head="970ef2c"))
    autolab(lab, "import", str(tsv), "--metric", "val_bpb")
    head = git(lab, "rev-parse", BRANCH)
    again = autolab(lab, "import", str(tsv), "--metric", "val_bpb").stdout
    assert "imported 0 of 5 rows" in again and "5 already in the ledger" in again
    assert git(lab, "rev-parse", BRANCH) == head
    # rows appended to the file since are the only new ones
    tsv.write_text(tsv.read_text() + "aaaaaaa\t1.30\t44.0\tdiscard\tGeLU\n")
    assert "imported 1 of 6 rows" in autolab(lab, "import", str(tsv), "--metric",
                                             "val_bpb").stdout
    assert len(ledger_of(lab).rows()) == 6


def test_wide_results_keep_parents_roles_times_and_unknown_statuses(lab, tmp_path):
    tsv = write(tmp_path / "runs.tsv", WIDE)
    autolab(lab, "import", str(tsv))                       # `score` is the lab's metric
    rows = ledger_of(lab).rows()
    by_name = {r.hypothesis: r for r in rows}
    assert len(rows) == 6
    assert [r.status for r in rows] == ["keep", "keep", "discard", "tentative", "keep",
                                        "crash"]
    ids = [r.trial_id for r in rows]
    assert [r.parent_trial for r in rows] == ["", ids[0], ids[0], ids[1], ids[1], ids[4]]
    assert [r.role for r in rows][:3] == ["baseline", "optimizer", "architecture"]
    assert by_name["lower LR"].expected_delta == -0.02
    assert by_name["cosine decay"].reason == "within noise"
    assert by_name["rotary"].started_at == "2026-03-01T10:10:00Z"
    assert by_name["rotary"].ended_at == "2026-03-01T10:16:00Z"
    assert by_name["rotary"].wall_s == 360.0
    assert [r.slot for r in rows] == [1, 1, 2, 2, 1, 1]
    assert by_name["dedupe"].metric is None and by_name["dedupe"].ended_at == ""
    config = config_mod.load(lab).config
    assert [r.hypothesis for r in importer.frontier(rows, config)] == ["baseline", "lower LR",
                                                                       "rotary"]
    assert "1 tentative" in autolab(lab, "status").stdout


@pytest.mark.parametrize("text, says", [
    ("commit,val_bpb,status\nabc,1.0,keep\n", "line 1: expected a tab-separated header"),
    ("commit\tloss\tstatus\nabc\t1.0\tkeep\n", "no column 'score'"),
    ("commit\tscore\tstatus\nabc\t1.0\tkeep\nabd\tlow\tdiscard\n",
     "line 3: score is 'low', not a number"),
    ("commit\tscore\tstatus\nabc\t1.0\tkeep\textra\n", "line 2: 4 fields for 3 columns"),
    ("trial\tscore\tstarted_at\nx\t1.0\tyesterday\n", "line 2: started_at is 'yesterday'"),
])
def test_bad_input_is_one_line_and_writes_nothing(lab, tmp_path, text, says):
    tsv = write(tmp_path / "results.tsv", text)
    proc = autolab(lab, "import", str(tsv), check=False)
    assert proc.returncode == 2
    assert says in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
    assert "import again" in proc.stderr or "--metric" in proc.stderr or "TSV" in proc.stderr
    assert git(lab, "branch", "--list", "autolab/ledger") == ""


def test_a_run_after_an_import_judges_only_its_own_trials(lab, tmp_path):
    tsv = write(tmp_path / "results.tsv", WIDE)
    autolab(lab, "import", str(tsv))
    autolab(lab, "run", "--trials", "4", "--parallel", "2")
    rows = ledger_of(lab).rows()
    own = [r for r in rows if not r.imported and not r.trial_id.startswith("baseline")]
    assert [r.trial_id for r in own] == ["t0001", "t0002", "t0003", "t0004"]
    ran = [r for r in own if r.status not in ("rejected", "duplicate")]
    assert {r.slot for r in ran} <= {1, 2} and all(r.ended_at >= r.started_at for r in ran)
    board = Repo(lab).read("main", "reports/README.md").decode()
    # main's pages count this lab's own trials only
    assert int(re.search(r"(\d+) trials so far", board).group(1)) <= 4
