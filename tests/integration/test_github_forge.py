"""The GitHub forge end to end: real PyGithub against a local server, a bare repo as origin.

Everything GitHub would hold is checked where GitHub would hold it: PRs,
comments and statuses in the server's records, branches, main and the ledger
in the bare repository (issue 4, acceptance 1 and 2).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import autolab, git, make_lab
from fakegithub import FakeGitHub, clone_of_bare
from rich.console import Console

from autolab import config, scores
from autolab.agents.base import unified_diff
from autolab.agents.sweep import SweepAgent
from autolab.assemble import make_loop
from autolab.forges.base import REPORT_MARKER
from autolab.forges.github import GitHubForge
from autolab.gitops import Repo
from autolab.ledger import Ledger
from autolab.progress import Progress
from autolab.records import BASELINE, Proposal
from autolab.runners.base import BaseRunner
from autolab.runners.local import LocalRunner

SLUG = "lab-owner/lab"
# only LR matters, best at 0.01: `LR=0.01` surely wins, and after it every change loses
LR_ONLY = "value = 1.0 + (math.log10(LR) + 2.0) ** 2"


@pytest.fixture
def github(tmp_path, monkeypatch):
    """(clone, bare origin, fake server): a toy lab pushed to a bare repo, cloned back."""
    clone, origin = clone_of_bare(make_lab(tmp_path / "seed", body=LR_ONLY), tmp_path)
    with FakeGitHub(origin, SLUG) as fake:
        env = {"GITHUB_TOKEN": "test-token", "AUTOLAB_GITHUB_API": fake.url,
               "GITHUB_REPOSITORY": SLUG, "AUTOLAB_GITHUB_WRITE_INTERVAL": "0",
               "AUTOLAB_GITHUB_POLL_S": "0.01"}
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        yield clone, origin, fake


def origin_rows(origin: Path, home: Path):
    return [r for r in Ledger(Repo(origin), home).rows() if r.status != BASELINE]


def first_parent_merges(origin: Path) -> list[str]:
    return git(origin, "rev-list", "--first-parent", "--merges", "main").split()


def assert_only_evaluated_states(origin: Path) -> None:
    """Every merge on main is an evaluated head plus its scores row, on that head's parent."""
    for merge in first_parent_merges(origin):
        parent, evaluated = git(origin, "rev-parse", f"{merge}^1", f"{merge}^2").split()
        assert git(origin, "rev-parse", f"{evaluated}^") == parent
        changed = git(origin, "diff", "--name-only", evaluated, merge).split()
        # the scores row and the pages generated from it; not one byte of code
        assert scores.PATH in changed and all(p.startswith("reports/") for p in changed)


@pytest.mark.slow   # many real trials: the slow tier keeps the default run short
def test_full_run_opens_comments_merges_and_closes(github, tmp_path):
    clone, origin, fake = github
    parts = ("--forge", "github", "--runner", "local", "--agent", "sweep")
    autolab(clone, "try", "LR=0.01", *parts)  # a sure win first, so the run has a winner
    autolab(clone, "run", *parts, "--trials", "4")
    rows = origin_rows(origin, tmp_path / "read")  # the ledger as pushed to origin
    statuses = [(r.trial_id, r.status) for r in rows]
    assert statuses[0] == ("t0001", "keep") and len(rows) == 5, statuses
    assert {s for _t, s in statuses[1:]} == {"discard"}, statuses
    kept = [r for r in rows if r.status == "keep"]

    pulls = {p["html_url"]: p for p in fake.pulls()}
    assert len(pulls) == 5 == len([c for c in fake.calls
                                   if c.method == "POST" and c.path.endswith("/pulls")])
    for r in rows:
        pr = pulls[r.pr]
        assert pr["title"] == f"[autolab] {r.hypothesis}"
        assert {label["name"] for label in pr["labels"]} == {"autolab", r.role}
        assert f"**Parent:** {r.parent_sha}" in pr["body"]
        (comment,) = fake.comments_on(pr["number"])  # one bot comment, edited in place
        assert comment["body"].startswith(REPORT_MARKER) and r.status in comment["body"]
        assert r.commit_sha in comment["body"]
        status = [s for s in fake.statuses if s["sha"] == r.commit_sha]
        assert [s["context"] for s in status] == ["autolab/metric"]
        assert pr["head"]["sha"] == r.commit_sha
        assert git(origin, "rev-parse", f"refs/autolab/trials/{r.trial_id}") == r.commit_sha
        if r.status == "keep":
            assert pr["merged"] and status[0]["state"] == "success"
        else:
            assert pr["state"] == "closed" and not pr["merged"]
            assert status[0]["state"] in ("failure", "error")
            assert not git(origin, "branch", "--list", f"autolab/{r.trial_id}")
            closing = [c for c in fake.calls if c.method == "PATCH"
                       and c.path.endswith(f"/pulls/{pr['number']}")]
            assert [c.body for c in closing] == [{"state": "closed"}]

    # main on origin: the baseline, then each kept trial's evaluated head plus its row
    table = scores.parse(Repo(origin).read("main", scores.PATH))
    assert [t.trial_id for t in table] == ["baseline", *[r.trial_id for r in kept]]
    assert [t.commit_sha for t in table[1:]] == [r.commit_sha for r in kept]
    merges = first_parent_merges(origin)
    assert sorted(git(origin, "rev-parse", f"{m}^2") for m in merges) == sorted(
        r.commit_sha for r in kept)
    assert_only_evaluated_states(origin)
    assert git(origin, "show", "main:train/train.py") == git(
        origin, "show", f"{kept[-1].commit_sha}:train/train.py")
    # nothing was ever force-pushed to main: its history only grew
    assert git(clone, "rev-parse", "refs/remotes/origin/main") in git(
        origin, "rev-list", "main").split()


def test_merge_race_never_merges_an_unevaluated_state(github, tmp_path):
    """Someone pushes to main while a winner is being evaluated: it is stale, not merged."""
    clone, origin, fake = github
    other = tmp_path / "other"
    subprocess.run(["git", "clone", "-q", str(origin), str(other)], check=True)
    lab = config.load(clone)
    forge = GitHubForge(lab)
    runner = LocalRunner(lab, parallel=1)
    pushed = []

    class RacingRunner(BaseRunner):
        """After the first trial's first result, a person's commit lands on main."""

        def submit(self, job):
            return runner.submit(job)

        def wait(self, handles):
            results = runner.wait(handles)
            if not pushed and any(r.job.trial_id == "t0001" for _handle, r in results):
                git(other, "pull", "-q", "--ff-only", "origin", "main")
                (other / "NOTES.md").write_text("a person's change\n")
                git(other, "add", "NOTES.md")
                git(other, "-c", "user.name=P", "-c", "user.email=p@x", "commit", "-qm", "notes")
                git(other, "push", "-q", "origin", "HEAD:main")
                pushed.append(git(other, "rev-parse", "HEAD"))
            return results

        def close(self):
            runner.close()

    loop = make_loop(lab, forge, RacingRunner(), SweepAgent(), Ledger(Repo(clone), lab.home),
                     Progress(Console(quiet=True), lab.config.metric))
    loop.ensure_baseline(1)
    try:
        loop.run(2, 1, idea="LR=0.01")
    finally:
        runner.close()
    rows = {r.trial_id: r for r in origin_rows(origin, tmp_path / "read")}
    assert pushed and rows["t0001"].status == "stale", rows["t0001"]
    assert "re-queued" in rows["t0001"].reason
    first_pr = next(p for p in fake.pulls() if p["head"]["ref"] == "autolab/t0001")
    assert first_pr["state"] == "closed" and not first_pr["merged"]
    # the person's commit is still on main, and whatever merged was evaluated on it
    git(origin, "merge-base", "--is-ancestor", pushed[0], "main")  # raises if it was lost
    assert_only_evaluated_states(origin)
    rerun = rows["t0002"]
    assert rerun.source == "rebase:t0001" and rerun.parent_sha == pushed[0]
    assert rerun.status == "keep", rerun.reason
    assert scores.parse(Repo(origin).read("main", scores.PATH))[-1].commit_sha == \
        rerun.commit_sha
    assert git(origin, "rev-parse", "main^2") == rerun.commit_sha


def test_without_the_actions_pr_setting_doctor_names_it_and_the_run_stops(github, tmp_path):
    """GitHub's default: Actions may not create PRs. doctor says so; the run stops at its
    first trial with that one line, and the trial is not lost: it runs once it is allowed."""
    clone, origin, fake = github
    fake.workflow["can_approve_pull_request_reviews"] = False
    doctor = autolab(clone, "doctor", "--forge", "github", check=False)
    assert doctor.returncode == 1
    line = next(x for x in doctor.stdout.splitlines() if "create pull requests" in x)
    assert line.startswith("✗") and "Allow GitHub Actions to create and approve" in line
    parts = ("--forge", "github", "--runner", "local", "--agent", "sweep")
    autolab(clone, "idea", "LR=0.01")
    proc = autolab(clone, "run", *parts, "--trials", "3", check=False)
    assert proc.returncode == 2, proc.stderr
    (error,) = [x for x in proc.stderr.splitlines() if x.strip()]
    assert "GitHub Actions may not create pull requests" in error and "doctor --fix" in error
    posts = [c for c in fake.calls if c.method == "POST" and c.path.endswith("/pulls")]
    assert len(posts) == 1 and not fake.pulls()  # it stopped at the first trial
    assert not git(origin, "branch", "--list", "autolab/t*")  # no branch left behind
    assert origin_rows(origin, tmp_path / "read") == []  # no trial row: nothing was lost
    assert "open" in autolab(clone, "idea", "list").stdout
    fake.workflow["can_approve_pull_request_reviews"] = True
    autolab(clone, "run", *parts, "--trials", "1")
    (row,) = origin_rows(origin, tmp_path / "read2")
    # t0001 stays claimed by the run that stopped: ids are never handed out twice
    assert (row.trial_id, row.status, row.source) == ("t0002", "keep", "idea:1")


def test_a_second_driver_never_takes_over_a_trial_id(github, tmp_path):
    """Two drivers that both picked t0001: the second opens t0002; the first's branch and PR
    stay as they were, even when both propose the very same change."""
    clone, origin, fake = github
    other = tmp_path / "other"
    subprocess.run(["git", "clone", "-q", str(origin), str(other)], check=True)
    first, second = GitHubForge(config.load(clone)), GitHubForge(config.load(other))
    lab = config.load(clone)
    text = (lab.root / "train" / "train.py").read_text()
    main = git(origin, "rev-parse", "main")

    def proposal(lr: str) -> Proposal:
        return Proposal(role="optimizer", hypothesis=f"LR {lr}", rationale="r",
                        expected_delta=-0.1, parent_sha=main, source="sweep",
                        diff=unified_diff("train/train.py", text,
                                          text.replace("LR = 0.04", f"LR = {lr}")))

    a = first.open_trial("t0001", proposal("0.01"))
    b = second.open_trial("t0001", proposal("0.02"))
    c = second.open_trial("t0001", proposal("0.01"))  # the same change as a: still not a's
    assert (a.trial_id, b.trial_id, c.trial_id) == ("t0001", "t0002", "t0003")
    pulls = {p["head"]["ref"]: p for p in fake.pulls()}
    assert len(pulls) == 3 and pulls["autolab/t0001"]["head"]["sha"] == a.commit_sha
    assert pulls["autolab/t0001"]["title"] == "[autolab] LR 0.01"
    assert git(origin, "rev-parse", "autolab/t0001") == a.commit_sha


def test_two_drivers_at_once_end_with_distinct_ids_and_one_row_each(github, tmp_path):
    """nightly and a /try on one lab at the same moment (issue 14, acceptance 3)."""
    clone, origin, fake = github
    parts = ("--forge", "github", "--runner", "local", "--agent", "sweep")
    autolab(clone, "baseline", *parts)
    other = tmp_path / "other"
    subprocess.run(["git", "clone", "-q", str(origin), str(other)], check=True)
    env = {**os.environ, "PYTHONPATH": os.environ.get("PYTHONPATH", "")}
    drivers = [subprocess.Popen([sys.executable, "-m", "autolab", *args, *parts], cwd=cwd,
                                env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True)
               for cwd, args in ((clone, ("run", "--trials", "3")),
                                 (other, ("try", "LR=0.02")))]
    said = [driver.communicate(timeout=300) for driver in drivers]
    assert [d.returncode for d in drivers] == [0, 0], said
    rows = origin_rows(origin, tmp_path / "read")
    ids = [r.trial_id for r in rows]
    assert len(ids) == len(set(ids)) == 4, (ids, said)  # every trial once
    pulls = fake.pulls()
    assert sorted(p["head"]["ref"] for p in pulls) == sorted(f"autolab/{i}" for i in ids)
    for r in rows:  # each PR is its own trial's: its head is the commit that trial evaluated
        (pr,) = [p for p in pulls if p["html_url"] == r.pr]
        assert pr["head"]["sha"] == r.commit_sha and pr["head"]["ref"] == r.branch
        assert pr["title"] == f"[autolab] {r.hypothesis}"
    assert_only_evaluated_states(origin)
