"""The fake server behaves as GitHub does where autolab depends on it (issue 22), seen through
real PyGithub: mergeability computed in the background, 404s, the organisation's 409, a new
repository's settings, CI checks that GITHUB_TOKEN's work never starts."""

from __future__ import annotations

import github
import pytest
from conftest import git, make_lab
from fakegithub import BASE_MODIFIED, FakeGitHub, clone_of_bare

from autolab.forges import github as gh_forge

SLUG = "lab-owner/lab"


@pytest.fixture
def fake(tmp_path):
    clone, origin = clone_of_bare(make_lab(tmp_path / "seed"), tmp_path)
    git(clone, "-c", "user.name=P", "-c", "user.email=p@x", "commit", "-q", "--allow-empty",
        "-m", "a change")
    git(clone, "push", "-q", "origin", "HEAD:refs/heads/feature")
    with FakeGitHub(origin, SLUG) as server:
        yield server, clone


def repo_of(server, token: str = "t"):
    return gh_forge.client(server.url, token, retries=0).get_repo(SLUG)


def test_mergeability_is_null_while_computed_and_a_merge_meanwhile_is_refused(fake):
    server, clone = fake
    repo = repo_of(server)
    pr = repo.create_pull(base="main", head="feature", title="t", body="b")
    assert repo.get_pull(pr.number).mergeable is None        # computing after the PR opened
    assert repo.get_pull(pr.number).mergeable is True
    git(clone, "-c", "user.name=P", "-c", "user.email=p@x", "commit", "-q", "--allow-empty",
        "-m", "another")
    git(clone, "push", "-q", "origin", "HEAD:refs/heads/feature")
    head = git(clone, "rev-parse", "HEAD")
    with pytest.raises(github.GithubException) as refused:  # the head moved: computing again
        repo.get_pull(pr.number).merge(sha=head)   # lazy: the PUT is the only request
    assert refused.value.status == 405 and refused.value.data["message"] == BASE_MODIFIED
    assert repo.get_pull(pr.number).merge(sha=head).merged   # computed since: it merges


def test_missing_branches_and_pulls_are_404(fake):
    server, _clone = fake
    repo = repo_of(server)
    with pytest.raises(github.UnknownObjectException):
        repo.get_branch("no-such-branch")
    with pytest.raises(github.UnknownObjectException):
        assert repo.get_pull(99).title   # lazy until read


def test_an_organisation_that_forbids_actions_prs_answers_409(fake):
    server, _clone = fake
    server.org_forbids_actions_prs = True
    repo = repo_of(server)
    with pytest.raises(github.GithubException) as refused:
        repo.requester.requestJsonAndCheck("PUT", f"{repo.url}/actions/permissions/workflow",
                                           input={"can_approve_pull_request_reviews": True})
    assert refused.value.status == 409


def test_a_new_repository_has_githubs_defaults(fake):
    server, _clone = fake
    server.as_new_repository()
    repo = repo_of(server)
    _headers, settings = repo.requester.requestJsonAndCheck(
        "GET", f"{repo.url}/actions/permissions/workflow")
    assert (settings["default_workflow_permissions"],
            settings["can_approve_pull_request_reviews"]) == ("read", False)
    assert not repo.get_branch("main").protected
    with pytest.raises(github.GithubException) as refused:
        repo.create_pull(base="main", head="feature", title="t", body="b")
    assert refused.value.status == 403


def test_ci_runs_start_for_a_workflow_token_and_never_for_github_token(fake):
    server, _clone = fake
    server.actions_token, server.ci = "actions", {"test": "success"}
    by_actions = repo_of(server, "actions")
    pr = by_actions.create_pull(base="main", head="feature", title="t", body="b")
    head = pr.head.sha
    assert list(by_actions.get_commit(head).get_check_runs()) == []
    by_app = repo_of(server, "app")
    first, = by_app.get_commit(head).get_check_runs()
    second, = by_app.get_commit(head).get_check_runs()
    assert (first.status, first.conclusion) == ("in_progress", None)
    assert (second.name, second.status, second.conclusion) == ("test", "completed", "success")


def test_autolab_token_comes_before_github_token(monkeypatch):
    monkeypatch.setenv("GITHUB_TOKEN", "from-actions")
    monkeypatch.setenv("AUTOLAB_TOKEN", "from-an-app")
    assert gh_forge.settings()[1] == "from-an-app"
    monkeypatch.delenv("AUTOLAB_TOKEN")
    assert gh_forge.settings()[1] == "from-actions"
