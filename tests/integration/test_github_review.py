"""People on GitHub: their PRs as trials, and the review commands on trial PRs (issue 4).

Real PyGithub against the local server, a bare repository as origin, the real
CLI in a subprocess: a person's PR is fetched from `refs/pull/<n>/head`,
admitted and run through the loop; `/rerun`, `/keep`, `/discard` and an
approving review act only for people the permission API says may.
"""

from __future__ import annotations

import json
import subprocess

import pytest
from conftest import autolab, git, make_lab
from fakegithub import FakeGitHub, clone_of_bare

from autolab import scores
from autolab.gitops import Repo
from autolab.ledger import Ledger

SLUG = "lab-owner/lab"
# only LR matters, best at 0.01; from the baseline's 0.04 that gain is > 10σ and > 20%:
# `suspicious`; a negative LR makes the script raise
LR_ONLY = "value = 1.0 + (math.log10(LR) + 2.0) ** 2"


def lab_with(tmp_path, hold: bool):
    seed = make_lab(tmp_path / "seed", body=LR_ONLY)
    if hold:
        with open(seed / "pyproject.toml", "a") as f:
            f.write("hold_suspicious = true\n")
        git(seed, "commit", "-qam", "hold suspicious wins")
    return clone_of_bare(seed, tmp_path)


@pytest.fixture(params=[False], ids=["plain"])
def gh(request, tmp_path, monkeypatch):
    clone, origin = lab_with(tmp_path, request.param)
    with FakeGitHub(origin, SLUG) as fake:
        for name, value in {"GITHUB_TOKEN": "t", "AUTOLAB_GITHUB_API": fake.url,
                            "GITHUB_REPOSITORY": SLUG,
                            "AUTOLAB_GITHUB_WRITE_INTERVAL": "0",
                            "AUTOLAB_GITHUB_POLL_S": "0.01"}.items():
            monkeypatch.setenv(name, value)
        fake.permissions.update({"admin": "admin", "writer": "write", "reader": "read"})

        def say(number: int, body: str, user: str, association: str = "COLLABORATOR",
                review: str = "") -> str:
            """One comment (or an approving review) on #number; the bot's one reply."""
            before = len(fake.comments_on(number))
            event = tmp_path / "event.json"
            if review:
                data = {"action": "submitted", "pull_request": {"number": number},
                        "review": {"state": review, "user": {"login": user},
                                   "author_association": association}}
            else:
                data = {"action": "created", "comment": {"body": body, "user": {"login": user},
                                                         "author_association": association},
                        "issue": {"number": number, "pull_request": {"url": "x"}}}
            event.write_text(json.dumps(data))
            autolab(clone, "chatops", "--runner", "local", "--agent", "sweep",
                    env={"GITHUB_EVENT_PATH": str(event)})
            replies = fake.comments_on(number)[before:]
            bot = [c["body"] for c in replies if not c["body"].startswith("<!-- autolab")]
            return bot[-1] if bot else ""

        yield clone, origin, fake, say


def rows(origin, tmp_path):
    return {r.trial_id: r for r in Ledger(Repo(origin), tmp_path / "read").rows()}


def person_pr(origin, tmp_path, fake, change: dict, title: str, fork: str = "") -> int:
    """A person's branch pushed to origin and opened as a PR with the `autolab` label."""
    work = tmp_path / "person"
    subprocess.run(["git", "clone", "-q", str(origin), str(work)], check=True)
    git(work, "checkout", "-qb", "people/change")
    for path, (old, new) in change.items():
        (work / path).write_text((work / path).read_text().replace(old, new))
    git(work, "-c", "user.name=A", "-c", "user.email=a@x", "commit", "-qam", title)
    git(work, "push", "-q", "origin", "people/change")
    return fake.add_pull("people/change", title, "alice", labels=("autolab",), fork=fork)


def test_a_persons_pr_becomes_a_trial_and_lands_by_cas(gh, tmp_path):
    clone, origin, fake, _say = gh
    number = person_pr(origin, tmp_path, fake, {"train/train.py": ("LR = 0.04", "LR = 0.01")},
                       "Lower the learning rate to 0.01")
    autolab(clone, "evaluate-pr", str(number), "--runner", "local")
    (row,) = [r for r in rows(origin, tmp_path).values() if r.source == "human"]
    assert row.status == "keep" and row.hypothesis == "Lower the learning rate to 0.01"
    assert row.parent_sha == git(origin, "rev-parse", "main^1")  # evaluated on main itself
    assert git(origin, "rev-parse", "main^2") == row.commit_sha  # merged by the CAS push
    assert git(origin, "show", "main:train/train.py").count("LR = 0.01") == 1
    trial_pr = next(p for p in fake.pulls() if p["html_url"] == row.pr)
    assert trial_pr["merged"] and trial_pr["head"]["ref"] == f"autolab/{row.trial_id}"
    (reply,) = [c["body"] for c in fake.comments_on(number)]
    assert f"as trial {row.trial_id} as {row.pr}" in reply
    assert "**keep**" in reply and "landed on `main`" in reply
    assert fake.issues[number]["state"] == "closed"


def test_a_pr_touching_frozen_files_is_rejected_before_any_compute(gh, tmp_path):
    clone, origin, fake, _say = gh
    number = person_pr(origin, tmp_path, fake, {"evaluator/__main__.py": (
        '"score": value', '"score": 0.0')}, "A better evaluator")
    autolab(clone, "evaluate-pr", str(number), "--runner", "local")
    (row,) = [r for r in rows(origin, tmp_path).values() if r.source == "human"]
    assert row.status == "rejected" and "frozen path evaluator/__main__.py" in row.reason
    assert len(fake.pulls()) == 1  # no trial PR was opened
    assert [s.trial_id for s in scores.parse(Repo(origin).read("main", scores.PATH))] == [
        "baseline"]
    assert "\"score\": 0.0" not in git(origin, "show", "main:evaluator/__main__.py")
    (reply,) = [c["body"] for c in fake.comments_on(number)]
    assert "**rejected**" in reply and fake.issues[number]["state"] == "open"


def test_a_fork_pr_needs_a_collaborators_evaluate(gh, tmp_path):
    clone, origin, fake, say = gh
    number = person_pr(origin, tmp_path, fake, {"train/train.py": ("LR = 0.04", "LR = 0.02")},
                       "From a fork", fork="stranger/lab")
    proc = autolab(clone, "evaluate-pr", str(number), "--runner", "local", check=False)
    assert proc.returncode == 2 and "comes from a fork" in proc.stderr
    assert "comes from a fork" in fake.comments_on(number)[-1]["body"]
    assert "Only collaborators" in say(number, "/evaluate", "reader", "MEMBER")
    assert len(fake.pulls()) == 1
    reply = say(number, "/evaluate", "writer")
    assert "evaluated #" in reply and len(fake.pulls()) == 2


def test_review_commands_from_people_without_access_only_get_a_reply(gh, tmp_path):
    clone, origin, fake, say = gh
    autolab(clone, "try", "LR=0.02", "--forge", "github", "--runner", "local")
    (pr,) = fake.pulls()
    before = (git(origin, "for-each-ref"), len(fake.writes()))
    for command in ("/rerun 3", "/keep", "/discard $(rm -rf ~) ${{ secrets.X }}", "/evaluate"):
        reply = say(pr["number"], command, "reader", "CONTRIBUTOR")
        assert reply.startswith("Thanks, @reader. Only"), reply
    assert "Only maintainers" in say(pr["number"], "/keep", "writer")  # write is not enough
    assert git(origin, "for-each-ref") == before[0]
    # the only writes were the five replies
    assert len(fake.writes()) == before[1] + 5
    assert all(c.path.endswith("/comments") for c in fake.writes()[before[1]:])


def test_rerun_then_keep_over_a_discard(gh, tmp_path):
    clone, origin, fake, say = gh
    autolab(clone, "try", "LR=0.05", "--forge", "github", "--runner", "local")  # worse
    (pr,) = fake.pulls()
    first = rows(origin, tmp_path)["t0001"]
    assert first.status == "discard"
    reply = say(pr["number"], "/rerun 2", "writer")
    again = rows(origin, tmp_path)["t0002"]
    assert again.source == "rerun:t0001" and again.commit_sha == first.commit_sha, reply
    assert again.n_seeds == first.n_seeds + 2 and again.trial_id in reply
    assert json.loads(again.seeds)[: first.n_seeds] == json.loads(first.seeds)
    assert again.status == "discard" and f"{again.trial_id} (rerun:t0001)" not in reply
    (report,) = [c["body"] for c in fake.comments_on(pr["number"])
                 if c["body"].startswith("<!-- autolab:report")]
    assert again.trial_id in report and again.commit_sha in report  # edited in place
    reply = say(pr["number"], "/keep", "admin", "OWNER")
    kept = rows(origin, tmp_path)["t0003"]
    assert kept.status == "keep" and "override:@admin" in kept.flags, kept
    assert kept.source == "keep:t0002" and "kept by @admin" in reply
    best = scores.parse(Repo(origin).read("main", scores.PATH))[-1]
    assert best.trial_id == "t0003" and best.commit_sha == first.commit_sha
    assert "[kept by @admin]" in best.hypothesis
    assert git(origin, "rev-parse", "main^2") == first.commit_sha


@pytest.mark.parametrize("gh", [True], ids=["hold"], indirect=True)
def test_a_held_trial_is_released_by_an_approving_review(gh, tmp_path):
    clone, origin, fake, say = gh
    autolab(clone, "try", "LR=0.01", "--forge", "github", "--runner", "local")
    (pr,) = fake.pulls()
    held = rows(origin, tmp_path)["t0001"]
    assert held.status == "held" and "suspicious" in held.flags
    assert pr["state"] == "open" and not pr["merged"]
    assert say(pr["number"], "", "reader", "NONE", review="approved").startswith("Thanks")
    assert say(pr["number"], "", "writer", review="commented") == ""  # not an approval
    reply = say(pr["number"], "", "writer", review="approved")
    released = rows(origin, tmp_path)["t0002"]
    assert released.status == "keep" and released.source == "approved:t0001", reply
    assert git(origin, "rev-parse", "main^2") == held.commit_sha
    assert next(p for p in fake.pulls() if p["number"] == pr["number"])["merged"]


@pytest.mark.parametrize("gh", [True], ids=["hold"], indirect=True)
def test_discard_closes_a_held_trial_with_the_reason(gh, tmp_path):
    clone, origin, fake, say = gh
    autolab(clone, "try", "LR=0.01", "--forge", "github", "--runner", "local")
    (pr,) = fake.pulls()
    main = git(origin, "rev-parse", "main")
    reply = say(pr["number"], "/discard too good to be true", "writer")
    closed = rows(origin, tmp_path)["t0002"]
    assert closed.status == "discard" and closed.reason == \
        "discarded by @writer: too good to be true", reply
    assert fake.issues[pr["number"]]["state"] == "closed"
    assert git(origin, "rev-parse", "main") == main
    assert "could not be done" in say(pr["number"], "/discard", "writer")  # once is enough


def test_try_records_its_issue_and_ideas_come_from_labelled_issues(gh, tmp_path):
    clone, origin, fake, say = gh
    idea = fake.add_issue("LR=0.02", labels=("autolab-idea",))
    fake.add_issue("LR=0.03")  # not labelled: not an idea
    ask = fake.add_issue("ideas")
    event = tmp_path / "try.json"
    event.write_text(json.dumps({"issue": {"number": ask}, "comment": {
        "body": "/try LR=0.01", "user": {"login": "writer"},
        "author_association": "MEMBER"}}))
    autolab(clone, "chatops", "--runner", "local", "--agent", "sweep",
            env={"GITHUB_EVENT_PATH": str(event)})
    assert rows(origin, tmp_path)["t0001"].source == f"try:{ask}"
    autolab(clone, "run", "--forge", "github", "--runner", "local", "--trials", "1")
    drawn = rows(origin, tmp_path)["t0002"]
    assert drawn.source == "idea:1" and "to 0.02" in drawn.hypothesis, drawn
    listing = autolab(clone, "idea", "list").stdout
    assert "LR=0.02" in listing and "LR=0.03" not in listing
    assert idea == 1


def test_roles_by_name_a_maintainer_may_keep_and_triage_may_not(gh, tmp_path):
    """The legacy permission field reads `maintain` as `write` and `triage` as `read`; the
    role name tells them apart (issue 14, acceptance 4)."""
    clone, origin, fake, say = gh
    fake.permissions.update({"maintainer": "maintain", "triager": "triage"})
    autolab(clone, "try", "LR=0.05", "--forge", "github", "--runner", "local")  # worse
    (pr,) = fake.pulls()
    main = git(origin, "rev-parse", "main")
    assert "Only maintainers" in say(pr["number"], "/keep", "triager")
    assert "Only collaborators with write access" in say(pr["number"], "/rerun", "triager")
    assert git(origin, "rev-parse", "main") == main
    reply = say(pr["number"], "/keep", "maintainer")
    kept = rows(origin, tmp_path)["t0002"]
    assert kept.status == "keep" and "override:@maintainer" in kept.flags, reply
    assert git(origin, "rev-parse", "main^2") == kept.commit_sha
