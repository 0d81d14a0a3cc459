"""`autolab doctor` checks what the lab uses, and names each GitHub set-up that would stop a
hosted lab (acceptance 3 of #22, the doctor cases; #21's healthy local lab): one line each,
exit 1, never a traceback."""

from __future__ import annotations

import pytest
from conftest import autolab, git, make_lab
from fakegithub import FakeGitHub, clone_of_bare

SLUG = "lab-owner/lab"
NIGHTLY = ".github/workflows/autolab-nightly.yml"


def test_a_healthy_local_lab_passes_and_is_asked_only_what_it_uses(tmp_path, monkeypatch):
    for name in ("GITHUB_TOKEN", "GH_TOKEN", "ANTHROPIC_API_KEY", "MODAL_TOKEN_ID",
                 "MODAL_TOKEN_SECRET", "GITHUB_REPOSITORY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    lab = make_lab(tmp_path / "lab")
    proc = autolab(lab, "doctor", check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.splitlines()[0].startswith("✓ sandbox:")
    for unused in ("GitHub", "token", "Modal", "ANTHROPIC", "workflows"):
        assert unused not in proc.stdout   # the lab uses none of them
    # the same lab on Modal with the Claude agent needs both keys here
    (lab / "pyproject.toml").write_text((lab / "pyproject.toml").read_text() + (
        '[tool.autolab.runner]\nkind = "modal"\n\n[tool.autolab.agent]\nkind = "claude"\n'))
    proc = autolab(lab, "doctor", check=False)
    assert proc.returncode == 1 and "sandbox" not in proc.stdout
    assert "modal token new" in proc.stdout and "ANTHROPIC_API_KEY is not set" in proc.stdout


@pytest.fixture
def hosted(tmp_path, monkeypatch):
    """A GitHub lab set up as the README says: workflows, protection, labels, secrets."""
    clone, origin = clone_of_bare(make_lab(tmp_path / "seed"), tmp_path)
    with FakeGitHub(origin, SLUG) as fake:
        for name, value in {"GITHUB_TOKEN": "t", "AUTOLAB_GITHUB_API": fake.url,
                            "GITHUB_REPOSITORY": SLUG, "HOME": str(tmp_path)}.items():
            monkeypatch.setenv(name, value)
        autolab(clone, "init", "--github")
        fake.protect("main")
        fake.labels = {"autolab", "autolab-idea"}
        fake.secrets = ["MODAL_TOKEN_ID", "MODAL_TOKEN_SECRET", "ANTHROPIC_API_KEY"]
        fake.token_permissions = {"admin": False, "push": True, "pull": True}
        proc = autolab(clone, "doctor")   # healthy: exit 0
        assert "✗" not in proc.stdout and "the workflows are current" in proc.stdout
        yield clone, fake


def refused(clone, *args) -> str:
    proc = autolab(clone, "doctor", *args, check=False)
    assert proc.returncode == 1, proc.stdout
    assert "Traceback" not in proc.stderr, proc.stderr
    return proc.stdout


def ruleset(kind: str, **parameters) -> dict:
    return {"type": kind, "parameters": parameters}


def signatures(fake):
    fake.protection["main"]["required_signatures"] = {"enabled": True}


def locked(fake):
    fake.protection["main"]["lock_branch"] = {"enabled": True}


def restricted(fake):
    fake.protection["main"]["restrictions"] = {"users": [{"login": "ada"}], "teams": [],
                                               "apps": []}


CASES = {
    "default branch": (lambda f: setattr(f, "default_branch", "master"),
                       "✗ the default branch is `master`, not `main`"),
    "private on Free": (lambda f: f.__dict__.update(private=True, free_plan=True),
                        "is private on GitHub Free, where branch protection and rulesets are "
                        "not available"),
    "merge queue": (lambda f: f.rulesets.append(ruleset("merge_queue")),
                    "`main` requires a merge queue"),
    "merge methods": (lambda f: f.rulesets.append(ruleset(
        "pull_request", required_approving_review_count=0,
        allowed_merge_methods=["squash", "rebase"])),
        "`main` allows only squash and rebase merges"),
    "signatures (ruleset)": (lambda f: f.rulesets.append(ruleset("required_signatures")),
                             "`main` requires signed commits"),
    "signatures (classic)": (signatures, "`main` requires signed commits"),
    "deployments": (lambda f: f.rulesets.append(ruleset(
        "required_deployments", required_deployment_environments=["prod"])),
        "`main` requires successful deployments"),
    "required workflows": (lambda f: f.rulesets.append(ruleset("workflows", workflows=[])),
                           "`main` requires workflows to pass"),
    "restricted updates": (lambda f: f.rulesets.append(ruleset("update")),
                           "`main` restricts updates"),
    "push restrictions": (restricted, "`main` lets only the people, teams and apps it lists"),
    "lock branch": (locked, "`main` is locked (read-only)"),
    "trial branches": (lambda f: f.all_branch_rules.append(ruleset("deletion")),
                       "a ruleset on all branches forbids deleting branches"),
    "other checks": (lambda f: f.protect("main", contexts=("autolab/metric", "ci/test")),
                     "`main` also requires ci/test, which never run on the trial PRs"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_each_github_case_is_one_line_and_a_failure(hosted, case):
    clone, fake = hosted
    breaks, line = CASES[case]
    breaks(fake)
    out = refused(clone)
    assert line in out
    assert sum(1 for row in out.splitlines() if row.startswith("✗")) == 1, out


def test_an_organisation_that_forbids_actions_prs(hosted):
    clone, fake = hosted
    fake.workflow["can_approve_pull_request_reviews"] = False
    fake.org_forbids_actions_prs = True   # PUT answers 409, as GitHub documents
    out = refused(clone, "--fix")
    assert "the organisation does not let its repositories allow GitHub Actions to create " \
        "pull requests (GitHub answered 409)" in out


def test_a_starter_token_lets_other_checks_be_required_and_bypassers_are_warned(hosted):
    clone, fake = hosted
    fake.protect("main", contexts=("autolab/metric", "ci/test"))
    fake.secrets.append("AUTOLAB_TOKEN")
    fake.rulesets.append(ruleset("deletion"))
    fake.bypass_actors[1] = [{"actor_type": "RepositoryRole", "actor_id": 5,
                              "bypass_mode": "always"}]
    proc = autolab(clone, "doctor")
    assert "✓ `main` also requires ci/test: the AUTOLAB_TOKEN secret opens the trial PRs" in \
        proc.stdout
    assert "! the ruleset `ruleset 1` on `main` may be bypassed (RepositoryRole 5)" in \
        proc.stdout


def test_workflows_edited_by_hand_or_pinned_elsewhere(hosted):
    clone, fake = hosted
    nightly = clone / NIGHTLY
    original = nightly.read_text()
    nightly.write_text(original.replace("timeout-minutes: 360", "timeout-minutes: 30"))
    out = refused(clone)
    assert f"✗ {NIGHTLY} is not what `autolab init --github` writes" in out
    # written by another installation: current for its own settings, pinned to another autolab
    older = original.replace("autolab[github,modal,claude]==0.1.0",
                             "autolab[github,modal,claude]==0.0.9")
    nightly.write_text(older)
    out = autolab(clone, "doctor").stdout
    assert f"! {NIGHTLY} installs autolab[github,modal,claude]==0.0.9, and this is " in out
    nightly.unlink()
    git(clone, "add", "-A")
    out = refused(clone)
    assert f"✗ {NIGHTLY} is missing; `autolab init --github` writes" in out


def test_an_error_nobody_foresaw_is_a_line_not_a_traceback(hosted):
    clone, fake = hosted
    del fake.protection["main"]
    fake.fail("PUT", r"/branches/main/protection$", 422)   # --fix protecting main, refused
    out = refused(clone, "--fix")
    assert "✗ could not check or fix `main`'s rules: GitHub answered 422 scripted failure" in out
    assert "label `autolab` exists" in out   # the checks after it still ran
