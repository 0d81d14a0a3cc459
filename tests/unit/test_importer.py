"""`autolab import`: results TSVs from autoresearch and its derivatives, as ledger history."""

from __future__ import annotations

import json
import re

import pytest
from conftest import autolab, git

from autolab import config as config_mod
from autolab import importer, scores
from autolab.gitops import Repo
from autolab.ledger import Ledger
from autolab.refs import LEDGER as BRANCH

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
    assert f"baseline 1.28537 ({head}), best 1.26567 (5980576)" in " ".join(status.split())
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


def wide_file(path, rows: int = 40):
    """An 18-column results file as a multi-agent run writes it: the first commit is the
    word `baseline`, and two `expected_delta` cells are an agent's free text."""
    header = ["exp_id", "parent_id", "agent", "hypothesis", "expected_delta", "status",
              "val_bpb", "started_at", "ended_at", "duration_s", "gpu_slot", "notes",
              "commit", "memory_gb", "tokens_in", "tokens_out", "cost_usd", "branch"]
    lines = ["\t".join(header)]
    best, parent = 1.0, ""
    for i in range(rows):
        value = best - 0.001 if i % 3 == 0 else best + 0.002
        status = "keep" if i % 3 == 0 else "discard"
        delta = {5: "minus_0.0003", 11: "negative_0.0004"}.get(i, f"{-0.001 * (i % 4):.4f}")
        lines.append("\t".join([
            f"exp{i:03d}", parent, ("optimizer", "architecture", "schedule")[i % 3],
            f"Experiment {i}: a long hypothesis written by an agent that explains in detail "
            "why this change to the model should lower the validation loss", delta, status,
            f"{value:.6f}", f"2026-03-01T10:{i % 60:02d}:00", f"2026-03-01T11:{i % 60:02d}:00",
            "3600", f"gpu{i % 4}", "an agent's note, with a comma", "baseline" if i == 0 else
            f"{(i * 2654435761) % 16**7:07x}", "44.0", "12000", "800", "0.25",
            f"agent/exp{i:03d}"]))
        if status == "keep":
            best, parent = value, f"exp{i:03d}"
    path.write_text("\n".join(lines) + "\n")
    return path


def test_a_wide_file_with_free_text_numbers_is_imported_whole(lab, tmp_path):
    tsv = wide_file(tmp_path / "results-autoresearch-multi-agent-run.tsv")
    out = autolab(lab, "import", str(tsv), "--metric", "val_bpb").stdout
    assert "imported 40 of 40 rows" in out
    assert "2 cells that should be numbers or times kept as text in `secondary` " \
        "(expected_delta 2)" in " ".join(out.split())
    rows = ledger_of(lab).rows()
    assert len(rows) == 40
    assert json.loads(rows[5].secondary)["expected_delta"] == "minus_0.0003"
    assert json.loads(rows[11].secondary)["expected_delta"] == "negative_0.0004"
    assert rows[5].expected_delta is None and rows[6].expected_delta == -0.002
    assert json.loads(rows[0].secondary)["tokens_in"] == 12000    # unclaimed columns kept
    assert rows[0].commit_sha == "baseline" and importer.label(rows[0]) == "baseline"
    assert [importer.row_number(r) for r in rows] == list(range(1, 41))

    status = autolab(lab, "status", env={"COLUMNS": "80"}).stdout
    lines = status.splitlines()
    assert max(len(line) for line in lines) <= 80, status
    assert "(baseline), best" in " ".join(status.split())      # whole, not `(baselin)`
    front = importer.frontier(rows, config_mod.load(lab).config)
    assert len(front) == 14
    kept = [line.split() for line in lines if re.match(r"\s+\d+\s", line)]
    # the kept path by file row number and commit, the last --last (10) of them
    assert [(int(k[0]), k[1]) for k in kept] == [(importer.row_number(r), importer.label(r))
                                                 for r in front[-10:]]


def test_a_time_that_is_not_one_is_kept_as_text(lab, tmp_path):
    tsv = write(tmp_path / "results.tsv", "trial\tscore\tstarted_at\nx\t1.0\tyesterday\n")
    out = autolab(lab, "import", str(tsv)).stdout
    assert "imported 1 of 1 rows" in out and "(started_at 1)" in out
    [row] = ledger_of(lab).rows()
    assert row.started_at == "" and json.loads(row.secondary) == {"started_at": "yesterday"}
