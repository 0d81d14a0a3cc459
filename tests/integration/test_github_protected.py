"""A protected `main` (issue 14, acceptance 1): GitHub refuses the bot's pushes, requires the
`autolab/metric` status and up-to-date branches, and merges only through the PR API.

The fake server enforces all of it (a pre-receive hook on the bare origin refuses pushes to
main; its merge endpoint answers 405/409 as GitHub does), so a merge that lands here is one
GitHub would have let through, and every merge is checked to be an evaluated state.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from conftest import autolab, git, make_lab
from fakegithub import FakeGitHub, clone_of_bare
from rich.console import Console

from autolab import config, scores
from autolab.agents.sweep import SweepAgent
from autolab.assemble import make_loop
from autolab.forges.github import GitHubForge
from autolab.gitops import Repo
from autolab.ledger import Ledger
from autolab.progress import Progress
from autolab.records import BASELINE
from autolab.runners.local import LocalRunner

SLUG = "lab-owner/lab"
LR_ONLY = "value = 1.0 + (math.log10(LR) + 2.0) ** 2"
PARTS = ("--forge", "github", "--runner", "local", "--agent", "sweep")


@pytest.fixture
def protected(tmp_path, monkeypatch):
    clone, origin = clone_of_bare(make_lab(tmp_path / "seed", body=LR_ONLY), tmp_path)
    with FakeGitHub(origin, SLUG) as fake:
        for name, value in {"GITHUB_TOKEN": "t", "AUTOLAB_GITHUB_API": fake.url,
                            "GITHUB_REPOSITORY": SLUG,
                            "AUTOLAB_GITHUB_WRITE_INTERVAL": "0",
                            "AUTOLAB_GITHUB_POLL_S": "0.01"}.items():
            monkeypatch.setenv(name, value)
        fake.protect("main", contexts=("autolab/metric",), strict=True)
        yield clone, origin, fake


def trial_rows(origin: Path, home: Path):
    return {r.trial_id: r for r in Ledger(Repo(origin), home).rows() if r.status != BASELINE}


def merge_calls(fake) -> list:
    return [c for c in fake.calls if c.method == "PUT" and c.path.endswith("/merge")]


def assert_merged_only_evaluated_states(origin: Path, seed_main: str) -> None:
    """Every commit main gained is GitHub's merge of a PR head that is the bot's scores
    commit on an evaluated trial head, which itself sits on the main it was evaluated on."""
    table = {s.commit_sha: s for s in scores.parse(Repo(origin).read("main", scores.PATH))}
    merges = git(origin, "rev-list", "--first-parent", f"{seed_main}..main").split()
    assert merges
    for merge in merges:
        assert git(origin, "log", "-1", "--format=%cn", merge) == "GitHub"  # no bot push
        parent, head = git(origin, "rev-parse", f"{merge}^1", f"{merge}^2").split()
        evaluated = git(origin, "rev-parse", f"{head}^")
        if evaluated != parent:  # else the baseline's own PR: main itself, plus its row
            assert git(origin, "rev-parse", f"{evaluated}^") == parent
            assert table[evaluated].parent_sha == parent
        changed = git(origin, "diff", "--name-only", evaluated, head).split()
        assert scores.PATH in changed and all(p.startswith("reports/") for p in changed)
        assert git(origin, "rev-parse", f"{merge}^{{tree}}") == git(
            origin, "rev-parse", f"{head}^{{tree}}")


@pytest.mark.slow   # many real trials: the slow tier keeps the default run short
def test_winner_merges_through_its_pr_losers_close_and_nothing_is_pushed_to_main(
        protected, tmp_path):
    clone, origin, fake = protected
    seed_main = git(origin, "rev-parse", "main")
    unreviewed = git(clone, "-c", "user.name=P", "-c", "user.email=p@x", "commit-tree",
                     "HEAD^{tree}", "-p", "HEAD", "-m", "straight to main")
    refused = subprocess.run(["git", "push", "origin", f"{unreviewed}:refs/heads/main"],
                             cwd=clone, capture_output=True, text=True)
    assert refused.returncode and "GH006" in refused.stderr  # the fake refuses like GitHub
    autolab(clone, "try", "LR=0.01", *PARTS)
    autolab(clone, "run", *PARTS, "--trials", "4")
    rows = trial_rows(origin, tmp_path / "read")
    assert len(rows) == 5 and rows["t0001"].status == "keep", rows
    assert {r.status for t, r in rows.items() if t != "t0001"} == {"discard"}
    pulls = {p["html_url"]: p for p in fake.pulls()}
    winner, loser = pulls[rows["t0001"].pr], pulls[rows["t0002"].pr]
    assert winner["merged"] and not loser["merged"] and loser["state"] == "closed"
    # the baseline and the winner, each merged by GitHub at the head it was given
    calls = merge_calls(fake)
    assert len(calls) == 2 and calls[-1].path.endswith(f"/pulls/{winner['number']}/merge")
    assert calls[-1].body["sha"] == winner["head"]["sha"] != rows["t0001"].commit_sha
    assert git(origin, "rev-parse", f"{winner['head']['sha']}^") == rows["t0001"].commit_sha
    # autolab/metric: success on the evaluated head and on the head that merged
    ok = {s["sha"] for s in fake.statuses if s["state"] == "success"}
    assert {rows["t0001"].commit_sha, winner["head"]["sha"]} <= ok
    best = scores.parse(Repo(origin).read("main", scores.PATH))[-1]
    assert best.trial_id == "t0001" and best.commit_sha == rows["t0001"].commit_sha
    assert_merged_only_evaluated_states(origin, seed_main)


@pytest.mark.slow   # many real trials: the slow tier keeps the default run short
def test_main_moving_between_evaluation_and_merge_is_stale_and_rerun(protected, tmp_path):
    """Another PR merges just before the winner's merge: GitHub's up-to-date rule refuses
    the winner, which becomes `stale` and is re-run on the new main, then merges."""
    clone, origin, fake = protected
    other = tmp_path / "other"
    subprocess.run(["git", "clone", "-q", str(origin), str(other)], check=True)
    moved = []

    def someone_else_merges(number: int) -> None:
        pr = fake.issues[number]
        if moved or pr["head"] != "autolab/t0001":
            return
        git(other, "pull", "-q", "--ff-only", "origin", "main")
        (other / "NOTES.md").write_text("a person's change\n")
        git(other, "add", "NOTES.md")
        git(other, "-c", "user.name=P", "-c", "user.email=p@x", "commit", "-qm", "notes")
        sha = git(other, "rev-parse", "HEAD")
        git(other, "push", "-q", "origin", "HEAD:refs/heads/people/notes")
        git(origin, "update-ref", "refs/heads/main", sha)  # as GitHub merging that PR
        moved.append(sha)

    lab = config.load(clone)
    runner = LocalRunner(lab, parallel=1)
    loop = make_loop(lab, GitHubForge(lab), runner, SweepAgent(), Ledger(Repo(clone), lab.home),
                     Progress(Console(quiet=True), lab.config.metric))
    try:
        loop.ensure_baseline(1)
        fake.before_merge = someone_else_merges
        loop.run(2, 1, idea="LR=0.01")
    finally:
        runner.close()
    rows = trial_rows(origin, tmp_path / "read")
    first, rerun = rows["t0001"], rows["t0002"]
    assert moved and first.status == "stale" and "re-queued" in first.reason, first
    # GitHub recomputes mergeability once the base moved: its refusal is "Base branch was
    # modified" (or, once computed, the up-to-date rule's); either way main moved under it
    assert "GitHub refused to merge" in first.reason and "main moved from" in first.reason
    refused = [c for c in merge_calls(fake) if c.path.endswith(
        f"/pulls/{fake.pulls()[1]['number']}/merge")]
    assert len(refused) == 1
    first_pr = next(p for p in fake.pulls() if p["head"]["ref"] == "autolab/t0001")
    assert first_pr["state"] == "closed" and not first_pr["merged"]
    assert rerun.source == "rebase:t0001" and rerun.parent_sha == moved[0]
    assert rerun.status == "keep", rerun.reason
    git(origin, "merge-base", "--is-ancestor", moved[0], "main")  # the person's change stays
    assert git(origin, "rev-parse", "main^1") == moved[0]
    assert git(origin, "rev-parse", "main^2^") == rerun.commit_sha
    best = scores.parse(Repo(origin).read("main", scores.PATH))[-1]
    assert (best.trial_id, best.commit_sha) == ("t0002", rerun.commit_sha)


def test_keep_over_a_discard_merges_through_a_pr_of_its_own(protected, tmp_path):
    """`/keep` is a new trial id on the closed PR of the discarded one: GitHub merges PRs,
    so the override's branch gets its own PR, gated by the same status."""
    clone, origin, fake = protected
    fake.permissions["boss"] = "maintain"
    autolab(clone, "try", "LR=0.05", *PARTS)  # worse than the baseline: discarded, closed
    (first,) = [p for p in fake.pulls() if p["head"]["ref"] == "autolab/t0001"]
    event = tmp_path / "keep.json"
    event.write_text(json.dumps({"action": "created", "issue": {
        "number": first["number"], "pull_request": {"url": "x"}}, "comment": {
            "body": "/keep", "user": {"login": "boss"}, "author_association": "MEMBER"}}))
    autolab(clone, "chatops", "--runner", "local", "--agent", "sweep",
            env={"GITHUB_EVENT_PATH": str(event)})
    kept = trial_rows(origin, tmp_path / "read")["t0002"]
    assert kept.status == "keep" and kept.source == "keep:t0001", kept
    (own,) = [p for p in fake.pulls() if p["head"]["ref"] == "autolab/t0002"]
    assert own["merged"] and merge_calls(fake)[-1].body["sha"] == own["head"]["sha"]
    assert git(origin, "rev-parse", "main^2^") == kept.commit_sha
