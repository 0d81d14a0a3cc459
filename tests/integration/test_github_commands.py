"""Comment commands recorded on origin at once and answered by whichever driver runs next
(acceptance 3 of #22: a command sent while the lab is busy is answered)."""

from __future__ import annotations

import json

import pytest
from conftest import autolab, git, make_lab
from fakegithub import FakeGitHub, clone_of_bare

SLUG = "lab-owner/lab"
COMMANDS = "refs/autolab/commands/"


@pytest.fixture
def chat(tmp_path, monkeypatch):
    clone, origin = clone_of_bare(make_lab(tmp_path / "seed"), tmp_path)
    with FakeGitHub(origin, SLUG) as fake:
        for name, value in {"GITHUB_TOKEN": "t", "AUTOLAB_GITHUB_API": fake.url,
                            "GITHUB_REPOSITORY": SLUG,
                            "AUTOLAB_GITHUB_WRITE_INTERVAL": "0"}.items():
            monkeypatch.setenv(name, value)
        issue = fake.add_issue("ideas")
        sent = iter(range(10, 60))

        def record(body: str, user: str) -> tuple[int, str]:
            """The comment, and the output of the record job GitHub starts for it."""
            cid = fake.add_comment(issue, body, user)
            event = tmp_path / f"event-{cid}.json"
            comment = {"id": cid, "body": body, "user": {"login": user},
                       "created_at": f"2026-12-03T22:{next(sent)}:00Z",
                       "author_association": "MEMBER"}
            event.write_text(json.dumps({"action": "created", "issue": {"number": issue},
                                         "comment": comment}))
            # a hosted runner: no git identity, an empty home
            proc = autolab(clone, "chatops", "--record", env={
                "GITHUB_EVENT_PATH": str(event), "GIT_CONFIG_GLOBAL": "/dev/null",
                "HOME": str(tmp_path / "empty-home")})
            return cid, proc.stdout

        yield clone, origin, fake, issue, record


def recorded_refs(origin) -> list[str]:
    return git(origin, "for-each-ref", "--format=%(refname)", COMMANDS).split()


def replies(fake, issue) -> list[str]:
    return [c["body"] for c in fake.comments_on(issue) if c["user"] == "github-actions[bot]"]


def test_commands_sent_while_the_lab_is_busy_are_all_answered(chat):
    clone, origin, fake, issue, record = chat
    fake.permissions.update({"ada": "write", "bob": "maintain", "eve": "read"})
    # the lab is busy: each command's record job runs at once, outside the lab's group, but
    # GitHub cancels their waiting drive jobs, so none of them ever runs
    first, out = record("/try LR=0.01", "ada")
    assert f"recorded /try from @ada on #{issue} as {COMMANDS}c{first}" in out
    second, _ = record("/try WIDTH=16", "bob")
    third, _ = record("/try DEPTH=3", "eve")   # past the workflow's filter somehow
    assert recorded_refs(origin) == [f"{COMMANDS}c{n}" for n in (first, second, third)]
    assert all(fake.reactions[n] == ["eyes"] for n in (first, second, third))
    assert replies(fake, issue) == []  # acknowledged, not yet answered
    # the next driver to run, here a fourth command's, answers every recorded one, in order
    proc = autolab(clone, "chatops", "--queued", "--runner", "local", "--agent", "sweep")
    assert "answered 3 recorded command(s)" in proc.stdout
    ada, bob, eve = replies(fake, issue)
    assert "@ada asked to try" in ada and "LR=0.01" in ada and "**keep**" in ada
    assert "@bob asked to try" in bob and "WIDTH=16" in bob and "t0002" in bob
    assert "Only collaborators with write access" in eve   # autolab asked the role API again
    assert len(fake.pulls()) == 2 and recorded_refs(origin) == []
    again = autolab(clone, "chatops", "--queued", "--runner", "local", "--agent", "sweep")
    assert "answered 0 recorded command(s)" in again.stdout
    assert len(replies(fake, issue)) == 3  # one reply per command, never two


def test_recording_twice_is_one_command_and_a_custom_role_counts_as_its_base(chat):
    clone, origin, fake, issue, record = chat
    fake.custom_roles["researcher"] = "write"   # an organisation's role based on write
    fake.permissions["cy"] = "researcher"
    cid, _ = record("/try LR=0.01", "cy")
    event = next(clone.parent.glob(f"event-{cid}.json"))
    again = autolab(clone, "chatops", "--record", env={"GITHUB_EVENT_PATH": str(event)})
    assert f"{COMMANDS}c{cid} was already recorded" in again.stdout
    assert recorded_refs(origin) == [f"{COMMANDS}c{cid}"]
    autolab(clone, "chatops", "--queued", "--runner", "local", "--agent", "sweep")
    (reply,) = replies(fake, issue)
    assert "@cy asked to try" in reply and "**keep**" in reply


def test_not_a_command_records_nothing_and_no_event_is_one_line(chat, tmp_path):
    clone, origin, fake, issue, record = chat
    _cid, out = record("thanks, looks good", "ada")
    assert "nothing recorded" in out and recorded_refs(origin) == []
    proc = autolab(clone, "chatops", "--record", check=False, env={"GITHUB_EVENT_PATH": ""})
    assert proc.returncode == 2 and "no event" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_an_approving_review_is_recorded_and_taken_without_a_reaction(chat, tmp_path):
    clone, origin, fake, issue, record = chat
    git(clone, "push", "-q", "origin", "main:refs/heads/autolab/t0001")
    pull = fake.add_pull("autolab/t0001", "a trial", "github-actions[bot]")
    event = tmp_path / "review.json"
    event.write_text(json.dumps({"action": "submitted", "review": {
        "id": 77, "state": "approved", "user": {"login": "ada"},
        "submitted_at": "2026-12-03T22:00:00Z"},
        "pull_request": {"number": pull, "head": {"ref": "autolab/t0001"}}}))
    out = autolab(clone, "chatops", "--record", env={"GITHUB_EVENT_PATH": str(event)}).stdout
    assert f"as {COMMANDS}r77" in out and not fake.reactions   # reviews take no reactions
    proc = autolab(clone, "chatops", "--queued", "--runner", "local", "--agent", "sweep")
    assert "an approving review of a PR that is not held; nothing to do" in proc.stdout
    assert recorded_refs(origin) == [] and replies(fake, pull) == []
    event.write_text(json.dumps({"action": "created", "issue": {"number": issue},
                                 "comment": {"body": "/try LR=0.01", "user": {"login": "x"}}}))
    proc = autolab(clone, "chatops", "--record", check=False,
                   env={"GITHUB_EVENT_PATH": str(event)})
    assert proc.returncode == 2 and "has no id" in proc.stderr and "Traceback" not in proc.stderr
