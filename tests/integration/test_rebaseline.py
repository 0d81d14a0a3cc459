"""A baseline tied to what it measured: main changed outside autolab means a fresh baseline.

Real labs from `git init`, a person's own commits on `main`, the real CLI in a subprocess."""

from __future__ import annotations

from pathlib import Path

from conftest import EVALUATOR, SEED_ONLY, autolab, git, make_lab

from autolab import scores
from autolab.gitops import Repo
from autolab.ledger import Ledger
from autolab.records import BASELINE


def ledger_rows(root: Path):
    return Ledger(Repo(root), root / ".autolab").rows()


def score_table(root: Path):
    return scores.parse(Repo(root).read("main", scores.PATH))


def person_commits(root: Path, path: str, text: str, message: str) -> None:
    """A researcher's own commit on main, outside autolab."""
    git(root, "checkout", "-q", "main")
    (root / path).write_text(text)
    git(root, "commit", "-q", "-am", message)


def test_frozen_evaluator_changed_on_main_measures_a_fresh_baseline(tmp_path):
    # a lab whose constants do nothing: nothing a trial changes can be a real gain
    lab = make_lab(tmp_path / "lab", body=SEED_ONLY, sigma=0.02)
    autolab(lab, "baseline")
    first = score_table(lab)
    assert [r.trial_id for r in first] == ["baseline"] and abs(first[0].metric - 1.0) < 0.1
    old_seeds = [r for r in ledger_rows(lab) if r.status == BASELINE]
    assert len(old_seeds) == 3 and len({r.frozen_sha256 for r in old_seeds}) == 1
    assert old_seeds[0].frozen_sha256

    # the person's fix to the frozen evaluator lowers every score by 0.5: judged against the
    # old baseline, any do-nothing change would look like a 25-sigma win
    person_commits(lab, "evaluator/__main__.py",
                   EVALUATOR.replace('"score": value', '"score": value - 0.5'),
                   "evaluator: subtract the offset")
    out = autolab(lab, "run", "--trials", "4").stdout
    assert "`main` changed outside autolab: its frozen files changed (evaluator/__main__.py)" \
        in out, out

    rows = ledger_rows(lab)
    seeds = [r for r in rows if r.status == BASELINE and r.source != "best-seeds"]
    new_seeds = [r for r in seeds if r not in old_seeds]
    assert len(new_seeds) == 3, "the old seeds stay as history, the new ones get new ids"
    assert {r.trial_id for r in old_seeds}.isdisjoint(r.trial_id for r in new_seeds)
    assert all(abs(r.metric - 0.5) < 0.1 for r in new_seeds)
    assert {r.frozen_sha256 for r in new_seeds} != {old_seeds[0].frozen_sha256}

    trials = [r for r in rows if r.status != BASELINE]
    assert len(trials) == 4
    assert not [r for r in trials if r.status == "keep"], [(r.trial_id, r.status, r.reason)
                                                          for r in trials]
    # judged against the new baseline, measured under the same fingerprint, as are any
    # extra seeds of the best the rule asked for
    assert all(r.frozen_sha256 == new_seeds[0].frozen_sha256 for r in trials)
    assert all(r.frozen_sha256 == new_seeds[0].frozen_sha256 for r in rows
               if r.source == "best-seeds")
    table = score_table(lab)
    assert [r.trial_id for r in table] == ["baseline", "baseline"]
    assert abs(table[-1].metric - 0.5) < 0.1
    assert scores.current(table) == table[-1:]
    status = autolab(lab, "status").stdout
    assert "1 earlier score rows are history" in status and "baseline 0.5" in status, status

    # nothing changed since: the next run judges at once, with no third baseline
    again = autolab(lab, "run", "--trials", "1").stdout
    assert "`main` changed outside autolab" not in again, again
    assert len([r for r in ledger_rows(lab)
                if r.status == BASELINE and r.source != "best-seeds"]) == 6


def test_editable_script_changed_without_a_trial_measures_a_fresh_baseline(tmp_path):
    lab = make_lab(tmp_path / "lab")
    autolab(lab, "baseline")
    script = (lab / "train" / "train.py").read_text()
    person_commits(lab, "train/train.py", script.replace("LR = 0.04", "LR = 0.01"),
                   "train: my own learning rate")
    out = autolab(lab, "baseline").stdout
    assert "train/train.py changed without a trial since baseline was measured" in out, out
    table = score_table(lab)
    assert [r.trial_id for r in table] == ["baseline", "baseline"]
    assert table[-1].metric != table[0].metric
    # unchanged since: `autolab baseline` leaves it alone
    autolab(lab, "baseline")
    assert len(score_table(lab)) == 2


def test_baseline_force_measures_again_through_the_cli(lab):
    autolab(lab, "baseline")
    before = [r for r in ledger_rows(lab) if r.status == BASELINE]
    skipped = autolab(lab, "baseline")
    assert len([r for r in ledger_rows(lab) if r.status == BASELINE]) == 3, skipped.stdout
    out = autolab(lab, "baseline", "--force").stdout
    assert "measuring a fresh baseline (--force)" in out, out
    after = [r for r in ledger_rows(lab) if r.status == BASELINE]
    assert len(after) == 6 and all(r in after for r in before)
    table = score_table(lab)
    assert [r.trial_id for r in table] == ["baseline", "baseline"]
    assert table[-1].commit_sha == git(lab, "rev-parse", "main~1")
    # the loop's best is the fresh baseline: a trial's delta is measured against it
    autolab(lab, "run", "--trials", "1")
    trial = next(r for r in ledger_rows(lab) if r.status != BASELINE)
    assert trial.delta_vs_best is not None
    assert abs(trial.metric - trial.delta_vs_best - score_table(lab)[1].metric) < 1e-9


def test_a_config_change_keeps_the_earlier_scores_rows_as_history(tmp_path):
    """A re-baseline never rewrites history: the first scores row is byte-for-byte kept."""
    lab = make_lab(tmp_path / "lab")
    autolab(lab, "baseline")
    old = (git(lab, "show", "main:reports/scores.csv").splitlines())
    person_commits(lab, "pyproject.toml",
                   (lab / "pyproject.toml").read_text().replace("budget_seconds = 5",
                                                                "budget_seconds = 6"),
                   "config: a longer budget")
    out = autolab(lab, "baseline").stdout
    assert "its frozen files changed (pyproject.toml)" in out, out
    new = git(lab, "show", "main:reports/scores.csv").splitlines()
    assert new[: len(old)] == old and len(new) == len(old) + 1
