"""`autolab doctor` against the local GitHub server: each gap is one line, exit 1 until none."""

from __future__ import annotations

import pytest
from conftest import autolab, make_lab
from fakegithub import FakeGitHub, clone_of_bare

SLUG = "lab-owner/lab"


@pytest.fixture
def lab(tmp_path, monkeypatch):
    clone, origin = clone_of_bare(make_lab(tmp_path / "seed"), tmp_path)
    with FakeGitHub(origin, SLUG) as fake:
        env = {"GITHUB_TOKEN": "t", "AUTOLAB_GITHUB_API": fake.url, "GITHUB_REPOSITORY": SLUG,
               "HOME": str(tmp_path)}
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        for name in ("ANTHROPIC_API_KEY", "MODAL_TOKEN_ID", "MODAL_TOKEN_SECRET",
                     "MODAL_CONFIG_PATH"):
            monkeypatch.delenv(name, raising=False)
        yield clone, fake, tmp_path


def test_a_bare_repository_lists_every_gap(lab):
    clone, fake, _home = lab
    fake.scopes = "read:org"
    fake.workflow["can_approve_pull_request_reviews"] = False  # GitHub's default
    proc = autolab(clone, "doctor", "--forge", "github", check=False)
    out = proc.stdout
    assert proc.returncode == 1, out
    assert "lack `repo`" in out and "`main` is not protected" in out
    assert "✗ GitHub Actions may not create pull requests" in out
    assert "Allow GitHub Actions to create and approve pull requests" in out
    assert "label `autolab` is missing" in out and "label `autolab-idea` is missing" in out
    assert "ANTHROPIC_API_KEY, MODAL_TOKEN_ID, MODAL_TOKEN_SECRET" in out
    assert "autolab-nightly.yml is missing; `autolab init --github` writes" in out
    # the lab's own runner is local and its agent sweep: no Modal or Anthropic key needed here
    assert "modal token new" not in out and "ANTHROPIC_API_KEY is not set" not in out
    assert not fake.writes()  # without --fix it only reads


def test_fix_sets_up_the_repository_and_says_what_it_changed(lab):
    clone, fake, _home = lab
    fake.workflow["can_approve_pull_request_reviews"] = False
    fake.secrets = ["MODAL_TOKEN_ID", "MODAL_TOKEN_SECRET"]
    fake.org_secrets = ["ANTHROPIC_API_KEY"]  # shared by the organisation: present as well
    autolab(clone, "init", "--github")   # the workflows: a GitHub lab without --forge
    proc = autolab(clone, "doctor", "--fix", check=False)
    assert proc.returncode == 0, proc.stdout
    assert fake.labels == {"autolab", "autolab-idea"}
    assert fake.workflow == {"default_workflow_permissions": "write",
                             "can_approve_pull_request_reviews": True}
    checks = fake.protection["main"]["required_status_checks"]
    assert checks["strict"] and checks["contexts"] == ["autolab/metric"]
    assert fake.protection["main"]["required_pull_request_reviews"] is None
    out = proc.stdout
    assert "label `autolab` created" in out and "✗" not in out
    assert "changed: turned on \"Allow GitHub Actions to create and approve pull requests\"" in out
    assert "changed: protected `main`: it now requires the autolab/metric status and " \
        "branches up to date" in out
    assert "ANTHROPIC_API_KEY (organisation)" in out
    again = autolab(clone, "doctor")
    assert "changed" not in again.stdout and "label `autolab-idea` exists" in again.stdout
    assert "`main` is protected (branch protection): winners merge through their PR" in \
        again.stdout
    assert "! this token is an admin's and `main` lets admins bypass its rules" in again.stdout


def test_rules_the_bot_can_never_meet_and_secrets_it_cannot_reach(lab):
    clone, fake, _home = lab
    fake.protect("main", contexts=("ci",), strict=False, reviews=1)
    fake.rulesets = [{"type": "required_linear_history"}, {"type": "deletion"}]
    fake.secrets = ["MODAL_TOKEN_ID", "MODAL_TOKEN_SECRET"]
    fake.environments = {"prod": ["ANTHROPIC_API_KEY"]}
    out = autolab(clone, "doctor", "--forge", "github", check=False).stdout
    assert "does not require the autolab/metric status with branches up to date" in out
    assert "requires 1 approving review(s)" in out and "requires a linear history" in out
    assert "ANTHROPIC_API_KEY is only in the environment `prod`" in out
    proc = autolab(clone, "doctor", "--forge", "github", "--fix", check=False)
    assert "changed: `main` now requires autolab/metric, ci with branches up to date" in \
        proc.stdout
    assert fake.protection["main"]["required_pull_request_reviews"]  # not removed silently
    assert proc.returncode == 1  # reviews and linear history are for a person to drop


def test_a_ruleset_protects_main_as_well(lab):
    clone, fake, _home = lab
    fake.rulesets = [{"type": "required_status_checks", "parameters": {
        "required_status_checks": [{"context": "autolab/metric"}],
        "strict_required_status_checks_policy": True}}]
    out = autolab(clone, "doctor", "--forge", "github", check=False).stdout
    assert "`main` is protected (a ruleset): winners merge through their PR" in out


def test_a_fine_grained_token_without_push_and_no_token_at_all(lab):
    clone, fake, _home = lab
    fake.scopes, fake.token_permissions = None, {"admin": False, "push": False, "pull": True}
    out = autolab(clone, "doctor", "--forge", "github", check=False).stdout
    assert "the token may not push here" in out
    proc = autolab(clone, "doctor", "--forge", "github", env={"GITHUB_TOKEN": "", "GH_TOKEN": ""},
                   check=False)
    assert proc.returncode == 1 and "needs a token" in proc.stdout
