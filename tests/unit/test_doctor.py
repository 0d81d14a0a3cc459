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
    proc = autolab(clone, "doctor", check=False)
    out = proc.stdout
    assert proc.returncode == 1, out
    assert "lack `repo`" in out and "`main` is not protected" in out
    assert "label `autolab` is missing" in out and "label `autolab-idea` is missing" in out
    assert "ANTHROPIC_API_KEY, MODAL_TOKEN_ID, MODAL_TOKEN_SECRET" in out
    assert "modal token new" in out and "ANTHROPIC_API_KEY is not set" in out
    assert not fake.writes()  # without --fix it only reads


def test_fix_creates_the_labels_and_a_complete_lab_passes(lab):
    clone, fake, home = lab
    fake.secrets = ["ANTHROPIC_API_KEY", "MODAL_TOKEN_ID", "MODAL_TOKEN_SECRET"]
    fake.protection["main"] = {"required_pull_request_reviews": {
        "required_approving_review_count": 1}}
    (home / ".modal.toml").write_text("[default]\n")
    proc = autolab(clone, "doctor", "--fix", env={"ANTHROPIC_API_KEY": "k"}, check=False)
    assert proc.returncode == 0, proc.stdout
    assert fake.labels == {"autolab", "autolab-idea"}
    assert "label `autolab` created" in proc.stdout and "bypass list" in proc.stdout
    assert "✗" not in proc.stdout
    again = autolab(clone, "doctor", env={"ANTHROPIC_API_KEY": "k"})
    assert "label `autolab-idea` exists" in again.stdout


def test_a_fine_grained_token_without_push_and_no_token_at_all(lab):
    clone, fake, _home = lab
    fake.scopes, fake.token_permissions = None, {"admin": False, "push": False, "pull": True}
    out = autolab(clone, "doctor", check=False).stdout
    assert "the token may not push here" in out
    proc = autolab(clone, "doctor", env={"GITHUB_TOKEN": "", "GH_TOKEN": ""}, check=False)
    assert proc.returncode == 1 and "needs a token" in proc.stdout
