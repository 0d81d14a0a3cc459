"""The GitHub forge as a hosted runner meets it (issue 22): each job starts from a fresh clone
and its workspace is thrown away, and GitHub answers merges on its own timing.

Real PyGithub against the local fake server, a bare repository as origin, the real CLI in
subprocesses; the fake computes mergeability asynchronously, as GitHub does.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import autolab, git, make_lab
from fakegithub import BASE_MODIFIED, FakeGitHub, clone_of_bare

from autolab import config, scores
from autolab.forges.github import GitHubForge
from autolab.gitops import Repo
from autolab.ledger import Ledger
from autolab.records import BASELINE
from autolab.refs import LEDGER

SLUG = "lab-owner/lab"
LR_ONLY = "value = 1.0 + (math.log10(LR) + 2.0) ** 2"
PARTS = ("--forge", "github", "--runner", "local", "--agent", "sweep")
DRIVER = Path(__file__).parents[1] / "faults" / "driver.py"
ACTIONS_TOKEN = "ghs-actions-token"    # the job's GITHUB_TOKEN: what it does starts no workflow
APP_TOKEN = "ghs-app-installation"     # a token whose pushes and PRs do start workflows


@pytest.fixture
def hosted(tmp_path, monkeypatch):
    """(origin, fake): a toy lab on a bare origin behind the fake server, and the env a job has."""
    _clone, origin = clone_of_bare(make_lab(tmp_path / "seed", body=LR_ONLY), tmp_path)
    with FakeGitHub(origin, SLUG) as fake:
        fake.actions_token = ACTIONS_TOKEN
        for name, value in {"GITHUB_TOKEN": ACTIONS_TOKEN, "AUTOLAB_GITHUB_API": fake.url,
                            "GITHUB_REPOSITORY": SLUG, "AUTOLAB_GITHUB_WRITE_INTERVAL": "0",
                            "AUTOLAB_GITHUB_POLL_S": "0.01"}.items():
            monkeypatch.setenv(name, value)
        yield origin, fake


def fresh_clone(origin: Path, where: Path) -> Path:
    """A job's checkout: a new clone of origin, nothing left from an earlier job."""
    subprocess.run(["git", "clone", "-q", str(origin), str(where)], check=True)
    return where


def driven(lab: Path, phase: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(DRIVER), phase, "--", *args], cwd=lab,
                          capture_output=True, text=True, timeout=300)


def trial_rows(origin: Path, home: Path) -> dict:
    return {r.trial_id: r for r in Ledger(Repo(origin), home).rows() if r.status != BASELINE}


def merge_answers(fake) -> list[int]:
    return [c.status for c in fake.calls if c.method == "PUT" and c.path.endswith("/merge")]


@pytest.mark.parametrize("protect", [False, True], ids=["unprotected", "protected"])
def test_a_killed_jobs_verdict_is_finished_by_the_next_job_without_training(hosted, tmp_path,
                                                                             protect):
    origin, fake = hosted
    if protect:
        fake.protect("main", contexts=("autolab/metric",), strict=True)
    first = driven(fresh_clone(origin, tmp_path / "job1"), "github_merge", "try", "LR=0.01",
                   *PARTS)
    assert first.returncode == -9, first.stderr   # SIGKILL, right after the verdict was written
    pending = git(origin, "for-each-ref", "--format=%(refname)", "refs/autolab/pending/")
    assert pending == "refs/autolab/pending/t0001"
    decided = json.loads(git(origin, "show", f"{pending}:verdict.json"))["row"]
    assert "t0001" not in trial_rows(origin, tmp_path / "read1")
    (pr,) = [p for p in fake.pulls() if p["head"]["ref"] == "autolab/t0001"]
    assert pr["state"] == "open"

    # the next night: a fresh clone, one new trial; training t0001 again would exit 97
    second = driven(fresh_clone(origin, tmp_path / "job2"), "no_retraining", "run",
                    "--trials", "1", *PARTS)
    assert second.returncode == 0, second.stdout + second.stderr
    assert "finishing t0001" in second.stdout
    rows = trial_rows(origin, tmp_path / "read2")
    assert rows["t0001"].status == "keep"
    assert (rows["t0001"].metric, rows["t0001"].seeds) == (decided["metric"], decided["seeds"])
    assert set(rows) == {"t0001", "t0002"}  # the night's own trial trained as usual
    assert [s.trial_id for s in scores.parse(Repo(origin).read("main", scores.PATH))] == [
        "baseline", "t0001"]
    (pr,) = [p for p in fake.pulls() if p["head"]["ref"] == "autolab/t0001"]
    assert pr["merged"]
    assert not git(origin, "for-each-ref", "refs/autolab/pending/")


def test_a_transient_405_is_retried_and_the_winner_merges(hosted, tmp_path):
    """GitHub answers 'Base branch was modified' while it computes mergeability: autolab
    waits and tries again, and the winner lands; nothing blames the protection settings."""
    origin, fake = hosted
    fake.protect("main", contexts=("autolab/metric",), strict=True)
    clone = fresh_clone(origin, tmp_path / "job")
    autolab(clone, "baseline", *PARTS)
    fake.fail("PUT", r"/pulls/\d+/merge$", 405, times=2, message=BASE_MODIFIED)
    proc = autolab(clone, "try", "LR=0.01", *PARTS)
    assert trial_rows(origin, tmp_path / "read")["t0001"].status == "keep"
    assert merge_answers(fake)[-3:] == [405, 405, 200]
    assert "protection" not in proc.stdout + proc.stderr


def test_a_required_ci_check_is_waited_for_then_the_winner_merges(hosted, tmp_path,
                                                                  monkeypatch):
    """main also requires CI's `test`: with a token that starts workflows, autolab waits
    for the check on the PR head, then merges."""
    origin, fake = hosted
    fake.protect("main", contexts=("autolab/metric", "test"), strict=True)
    fake.ci["test"] = "success"
    monkeypatch.setenv("AUTOLAB_TOKEN", APP_TOKEN)
    clone = fresh_clone(origin, tmp_path / "job")
    autolab(clone, "try", "LR=0.01", *PARTS)
    assert trial_rows(origin, tmp_path / "read")["t0001"].status == "keep"
    (pr,) = [p for p in fake.pulls() if p["head"]["ref"] == "autolab/t0001"]
    assert pr["merged"]
    head = pr["head"]["sha"]
    reads = [c for c in fake.calls if c.path.endswith(f"/commits/{head}/check-runs")]
    assert len(reads) >= 2   # in progress when first asked, success later
    assert all(c.status != 405 for c in fake.calls if c.method == "PUT")


def test_a_failed_required_check_discards_the_winner_with_its_reason(hosted, tmp_path,
                                                                     monkeypatch):
    origin, fake = hosted
    fake.protect("main", contexts=("autolab/metric", "test"), strict=True)
    fake.ci["test"] = "success"
    monkeypatch.setenv("AUTOLAB_TOKEN", APP_TOKEN)
    clone = fresh_clone(origin, tmp_path / "job")
    autolab(clone, "baseline", *PARTS)
    fake.ci["test"] = "failure"
    autolab(clone, "try", "LR=0.01", *PARTS)
    row = trial_rows(origin, tmp_path / "read")["t0001"]
    assert row.status == "discard" and "required check `test` failed" in row.reason
    (pr,) = [p for p in fake.pulls() if p["head"]["ref"] == "autolab/t0001"]
    assert pr["state"] == "closed" and not pr["merged"]
    assert [s.trial_id for s in scores.parse(Repo(origin).read("main", scores.PATH))] == [
        "baseline"]


def test_a_required_check_that_never_starts_names_the_token(hosted, tmp_path, monkeypatch):
    """Only GITHUB_TOKEN: GitHub starts no workflow for the bot's PR, so the check never
    comes; the run says so and how to fix it, and the verdict waits on origin."""
    origin, fake = hosted
    fake.protect("main", contexts=("autolab/metric", "test"), strict=True)
    fake.ci["test"] = "success"
    monkeypatch.setenv("AUTOLAB_CHECKS_TIMEOUT_S", "1")
    clone = fresh_clone(origin, tmp_path / "job")
    proc = autolab(clone, "baseline", *PARTS, check=False)
    said = proc.stdout + proc.stderr
    assert proc.returncode != 0 and "Traceback" not in said
    assert "`test`" in said and "AUTOLAB_TOKEN" in said
    assert "protection" not in said


def test_a_new_repository_refuses_actions_prs_and_the_run_says_how_to_allow_them(hosted,
                                                                                  tmp_path):
    origin, fake = hosted
    fake.as_new_repository()
    clone = fresh_clone(origin, tmp_path / "job")
    proc = autolab(clone, "try", "LR=0.01", *PARTS, check=False)
    said = proc.stdout + proc.stderr
    assert proc.returncode == 2 and "Traceback" not in said
    assert "Allow GitHub Actions to create and approve pull requests" in said
    assert not git(origin, "branch", "--list", "autolab/t*")


def test_a_verdict_stays_on_origin_until_its_ledger_row_is_there(hosted, tmp_path):
    """The ref goes only once origin's ledger holds everything this job recorded: a row
    left in a workspace that is about to be thrown away is not recorded."""
    origin, _fake = hosted
    clone = fresh_clone(origin, tmp_path / "job")
    forge = GitHubForge(config.load(clone))
    forge.put_pending("t0009", b'{"action": "merge"}')
    assert git(origin, "show", "refs/autolab/pending/t0009:verdict.json") == \
        '{"action": "merge"}'
    before = forge.repo.rev(LEDGER)
    row_here_only = forge.repo.commit_files(None, {"trials/t0009.parquet": b"row"},
                                            "a row not yet pushed", [before] if before else [])
    forge.repo.swap_ref(LEDGER, row_here_only, before)
    forge.drop_pending("t0009")
    assert git(origin, "for-each-ref", "refs/autolab/pending/") != ""
    assert forge.pending_on_origin() == {"t0009": b'{"action": "merge"}'}
    forge.publish()
    forge.drop_pending("t0009")
    assert git(origin, "for-each-ref", "refs/autolab/pending/") == ""
    assert forge.pending_on_origin() == {}
