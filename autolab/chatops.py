"""`/try <idea>` from an issue or PR comment, as chatops.yml hands it over.

The comment arrives as the GitHub event JSON (GITHUB_EVENT_PATH), never through
a shell: the idea is a Python string from start to end, length-limited, shown
back only inside a code fence. Who may ask is checked twice: the workflow
filters on `author_association`, and this module asks the collaborator
permission API again, because the workflow's filter is only as good as its YAML.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass

from autolab.errors import UserError
from autolab.forges.github import api_call

MAX_IDEA = 500
TRUSTED = {"OWNER", "MEMBER", "COLLABORATOR"}
WRITERS = {"admin", "maintain", "write"}
COMMAND = re.compile(r"\A\s*/try[ \t]+(?P<idea>[^\n]*)")


@dataclass(frozen=True)
class Request:
    issue: int
    user: str
    association: str
    idea: str


def parse(event: dict) -> Request | None:
    """The /try request in an `issue_comment` event; None when the comment is not one."""
    comment, issue = event.get("comment") or {}, event.get("issue") or {}
    match = COMMAND.match(comment.get("body") or "")
    if not match or not issue.get("number"):
        return None
    idea = "".join(ch for ch in match.group("idea").strip() if ch.isprintable())
    return Request(issue=int(issue["number"]), user=(comment.get("user") or {}).get("login", ""),
                   association=comment.get("author_association", ""), idea=idea)


def fenced(text: str) -> str:
    """Text shown verbatim: a fence longer than any backtick run inside it."""
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}text\n{text}\n{fence}"


def may_write(gh_repo, request: Request) -> bool:
    if request.association not in TRUSTED:
        return False
    with api_call(f"check {request.user}'s permission"):
        return gh_repo.get_collaborator_permission(request.user) in WRITERS


def handle(gh_repo, event: dict, try_idea: Callable[[str], list]) -> str:
    """Answer one comment event; `try_idea` runs the loop and returns the new ledger rows."""
    request = parse(event)
    if request is None:
        return "not a /try comment; nothing to do"
    with api_call(f"read issue #{request.issue}"):
        issue = gh_repo.get_issue(request.issue)
    if not may_write(gh_repo, request):
        reply = (f"Thanks for the idea, @{request.user}! Only collaborators with write access "
                 f"can start trials here; a maintainer can run it with `/try` for you.")
    elif not request.idea or len(request.idea) > MAX_IDEA:
        reply = (f"@{request.user}, `/try` takes one idea of 1 to {MAX_IDEA} characters on the "
                 f"same line, e.g. `/try LR=0.006`.")
    else:
        reply = outcome(request, try_idea)
    with api_call(f"reply on #{request.issue}"):
        issue.create_comment(reply)
    return reply


def outcome(request: Request, try_idea: Callable[[str], list]) -> str:
    asked = f"@{request.user} asked to try:\n\n{fenced(request.idea)}\n\n"
    try:
        rows = try_idea(request.idea)
    except UserError as exc:  # e.g. an idea this lab's agent cannot read: tell, don't fail
        return asked + f"It could not be tried:\n\n{fenced(str(exc))}"
    if not rows:
        return asked + "The agent had no proposal for it."
    return asked + "\n".join(f"- {r.trial_id}: **{r.status}** {r.pr or ''} {r.reason}".rstrip()
                             for r in rows)


def load_event(path: str) -> dict:
    with open(path, encoding="utf-8") as f:
        return json.load(f)
