"""GitHub settings, retries and failure labels: real PyGithub against the local fake server."""

from __future__ import annotations

import subprocess
from dataclasses import replace

import pytest
from conftest import make_lab
from fakegithub import FakeGitHub, clone_of_bare
from rich.console import Console

from autolab import config
from autolab.agents.base import unified_diff
from autolab.agents.scripted import ScriptedAgent
from autolab.assemble import make_loop
from autolab.errors import InfraError, UserError
from autolab.forges import github as gh_forge
from autolab.forges.github import GitHubForge
from autolab.github_api import client, repo_slug
from autolab.gitops import Repo
from autolab.ledger import Ledger
from autolab.progress import Progress
from autolab.records import Proposal, Status
from autolab.runners.local import LocalRunner


@pytest.mark.parametrize("url", ["git@github.com:lab-owner/lab.git",
                                 "https://github.com/lab-owner/lab",
                                 "ssh://git@ghe.corp/lab-owner/lab.git/"])
def test_repo_slug_from_origin(url, monkeypatch):
    monkeypatch.delenv("GITHUB_REPOSITORY", raising=False)
    assert repo_slug(url) == "lab-owner/lab"


def test_repo_slug_unknown_is_one_clear_line(monkeypatch):
    monkeypatch.delenv("GITHUB_REPOSITORY", raising=False)
    with pytest.raises(UserError, match="GITHUB_REPOSITORY"):
        repo_slug("/srv/git/lab.git")


def test_no_token_is_one_clear_line(monkeypatch):
    monkeypatch.delenv("GITHUB_TOKEN", raising=False)
    monkeypatch.delenv("GH_TOKEN", raising=False)
    with pytest.raises(UserError, match="GITHUB_TOKEN"):
        gh_forge.settings()


def test_https_push_auth_stays_out_of_config_and_argv():
    env = gh_forge.auth_env("https://github.com/lab-owner/lab.git", "s3cret")
    assert env["GIT_CONFIG_KEY_0"] == "http.https://github.com/.extraheader"
    assert "s3cret" not in env["GIT_CONFIG_VALUE_0"]  # base64 inside the header only
    assert gh_forge.auth_env("/srv/git/lab.git", "s3cret") == {}


@pytest.fixture
def remote(tmp_path, monkeypatch):
    clone, origin = clone_of_bare(make_lab(tmp_path / "seed"), tmp_path)
    monkeypatch.setenv("GITHUB_TOKEN", "t")
    monkeypatch.setenv("GITHUB_REPOSITORY", "lab-owner/lab")
    with FakeGitHub(origin) as fake:
        yield config.load(clone), fake


def forge_for(lab, fake, retries=2):
    return GitHubForge(lab, gh=client(fake.url, "t", retries=retries, backoff=0))


def a_proposal(lab) -> Proposal:
    text = (lab.root / "train" / "train.py").read_text()
    diff = unified_diff("train/train.py", text, text.replace("LR = 0.04", "LR = 0.01"))
    return Proposal(role="optimizer", hypothesis="LR 0.01", rationale="r", expected_delta=-0.1,
                    diff=diff, parent_sha=Repo(lab.root).rev("refs/remotes/origin/main"),
                    source="human")


def test_rate_limit_is_waited_out_then_the_pr_opens(remote):
    lab, fake = remote
    fake.fail("POST", r"/pulls$", 429, times=1, Retry_After="0")
    fake.fail("POST", r"/pulls$", 403, times=1, Retry_After="0")  # secondary rate limit
    trial = forge_for(lab, fake).open_trial("t0001", a_proposal(lab))
    posts = [c for c in fake.calls if c.method == "POST" and c.path.endswith("/pulls")]
    assert len(posts) == 3 and trial.pr.endswith("/pull/1")
    assert fake.pulls()[0]["head"]["sha"] == trial.commit_sha


def test_server_errors_after_retries_are_infra_errors(remote):
    lab, fake = remote
    fake.fail("POST", r"/pulls$", 502, times=10)
    with pytest.raises(InfraError, match="open the PR of t0001"):
        forge_for(lab, fake, retries=2).open_trial("t0001", a_proposal(lab))
    assert len([c for c in fake.calls if c.path.endswith("/pulls")
                and c.method == "POST"]) == 3  # the first try and two retries


def test_the_loop_labels_a_forge_failure_infra_error_not_the_idea(remote):
    lab, fake = remote
    forge = forge_for(lab, fake, retries=1)
    runner = LocalRunner(lab, parallel=1)
    ledger = Ledger(Repo(lab.root), lab.home)
    loop = make_loop(lab, forge, runner, ScriptedAgent([a_proposal(lab)]), ledger,
                     Progress(Console(quiet=True), lab.config.metric))
    try:
        loop.ensure_baseline(1)
        fake.fail("POST", r"/pulls$", 503, times=10)
        loop.run(1, 1)
    finally:
        runner.close()
    row = next(r for r in ledger.rows() if r.trial_id == "t0001")
    assert row.status == "infra_error" and "503" in row.reason
    # the row reached origin's ledger branch too
    origin_ledger = subprocess.run(["git", "ls-tree", "-r", "--name-only", "autolab/ledger"],
                                   cwd=fake.origin, capture_output=True, text=True).stdout
    assert "trials/t0001.parquet" in origin_ledger


def test_creates_that_landed_before_a_5xx_are_found_not_repeated(remote):
    """GitHub carried out the POST but the answer was a 502: the forge looks, then goes on;
    an idempotent PATCH (closing) is simply retried."""
    lab, fake = remote
    forge = forge_for(lab, fake)
    fake.fail("POST", r"/pulls$", 502, after=True)
    fake.fail("POST", r"/issues/\d+/comments$", 502, after=True)
    trial = forge.open_trial("t0001", a_proposal(lab))
    forge.comment(trial, "report")
    assert len(fake.pulls()) == 1 and len(fake.comments_on(1)) == 1
    fake.fail("PATCH", r"/pulls/\d+$", 502)
    forge.close(trial, Status.DISCARD, "discard: worse")
    assert fake.pulls()[0]["state"] == "closed"


def test_long_texts_and_large_diffs_stay_within_githubs_limits(remote):
    lab, fake = remote
    text = (lab.root / "train" / "train.py").read_text()
    big = text + "".join(f"# padding line {i} {'x' * 60}\n" for i in range(2000))  # ~150 kB
    proposal = replace(a_proposal(lab), hypothesis="LR 0.01 " + "because " * 100,
                       rationale="r" * 70000, diff=unified_diff("train/train.py", text, big))
    trial = forge_for(lab, fake).open_trial("t0001", proposal)
    (pr,) = fake.pulls()
    assert len(pr["title"]) == 256 and pr["title"].endswith("…")
    assert len(pr["body"]) < 65536 and "padding line" not in pr["body"]
    (resumed,) = forge_for(lab, fake).open_trials()  # a rerun reads the change from git
    assert resumed.commit_sha == trial.commit_sha and "padding line 1999" in resumed.proposal.diff
    assert resumed.proposal.hypothesis == proposal.hypothesis
