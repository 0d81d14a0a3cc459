"""Commands from issue and PR comments, and approving reviews, as the workflows hand them over.

`/try <idea>` on an issue or PR; on a pull request also `/evaluate` (a person's
PR becomes a trial), `/rerun [N]`, `/keep`, `/discard [reason]`; and an approving
review releases a trial held as suspicious. The event arrives as the GitHub
event JSON (GITHUB_EVENT_PATH), never through a shell: the text is a Python
string from start to end, length-limited, shown back only inside a code fence.
Who may ask is checked twice: the workflow asks the role API before any job with secrets
starts, and this module asks again, because the workflow's filter is only as good as its
YAML. It goes by the role name (`maintain` and `triage` are their own roles; the legacy
permission field reads them as `write` and `read`), asked for everyone: members of the
owning organisation whose membership is private show as CONTRIBUTOR or NONE in
`author_association`, and the role already counts what membership grants (the base
permission, teams), which the workflows' token could not read of a private membership.
Every command gets exactly one reply.

Its place in the whole: ARCHITECTURE.md, "Reviews and chat commands".
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol
from urllib.parse import quote

from autolab.errors import UserError
from autolab.github_api import api_call, created

MAX_IDEA = 500
MAX_RERUN = 10
WRITERS = {"admin", "maintain", "write"}
MAINTAINERS = {"admin", "maintain"}
ROLES = {"admin", "maintain", "write", "triage", "read", "none"}   # GitHub's own role names
COMMAND = re.compile(r"\A\s*/(?P<name>try|evaluate|rerun|keep|discard)(?![^ \t\n])[ \t]*"
                     r"(?P<arg>[^\n]*)")
ON_PULLS = {"evaluate", "rerun", "keep", "discard", "approve"}


@dataclass(frozen=True)
class Request:
    issue: int
    user: str
    command: str        # try | evaluate | rerun | keep | discard | approve (a review)
    arg: str = ""
    on_pull: bool = False


class Actions(Protocol):
    """What the commands do; autolab.review carries them out through the loop."""

    def try_idea(self, issue: int, idea: str) -> list: ...
    def evaluate(self, number: int, forks: bool = False) -> str: ...
    def rerun(self, number: int, seeds: int | None) -> str: ...
    def keep(self, number: int, user: str) -> str: ...
    def discard(self, number: int, user: str, reason: str) -> str: ...
    def release(self, number: int, user: str) -> str: ...
    def held(self, number: int) -> bool: ...


def clean(text: str) -> str:
    return "".join(ch for ch in text.strip() if ch.isprintable())


def parse(event: dict) -> Request | None:
    """The command in an `issue_comment` or `pull_request_review` event; None otherwise."""
    if "review" in event:
        review, pull = event.get("review") or {}, event.get("pull_request") or {}
        if (review.get("state") or "").lower() != "approved" or not pull.get("number"):
            return None
        return Request(issue=int(pull["number"]), user=(review.get("user") or {}).get(
            "login", ""), command="approve", on_pull=True)
    comment, issue = event.get("comment") or {}, event.get("issue") or {}
    match = COMMAND.match(comment.get("body") or "")
    if not match or not issue.get("number"):
        return None
    return Request(issue=int(issue["number"]), user=(comment.get("user") or {}).get("login", ""),
                   command=match.group("name"), arg=clean(match.group("arg")),
                   on_pull=bool(issue.get("pull_request")))


def fenced(text: str) -> str:
    """Text shown verbatim: a fence longer than any backtick run inside it."""
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}text\n{text}\n{fence}"


def permission(gh_repo, request: Request) -> str:
    """The commenter's role name on the repository: admin, maintain, write, triage, read or
    none. A custom role counts as the role it is based on."""
    with api_call(f"check {request.user}'s role"):
        _headers, data = gh_repo.requester.requestJsonAndCheck(
            "GET", f"{gh_repo.url}/collaborators/{quote(request.user)}/permission")
    role = data.get("role_name") or "none"
    # a custom role's name is its own; the legacy `permission` field names its base role
    return role if role in ROLES else data.get("permission") or "none"


def refusal(request: Request) -> str:
    if request.command == "try":
        return (f"Thanks for the idea, @{request.user}! Only collaborators with write access "
                f"can start trials here; a maintainer can run it with `/try` for you.")
    who = "maintainers" if request.command == "keep" else "collaborators with write access"
    what = "approvals" if request.command == "approve" else f"`/{request.command}`"
    return f"Thanks, @{request.user}. Only {who} can use {what} here, so nothing was done."


def handle(gh_repo, event: dict, actions: Actions) -> str:
    """Answer one event with one reply (none for a review that concerns no held trial)."""
    request = parse(event)
    if request is None:
        return "not an autolab command; nothing to do"
    return answer(gh_repo, request, actions)


def answer(gh_repo, request: Request, actions: Actions) -> str:
    """Answer one command, as parsed from its event, with one reply."""
    if request.command == "approve" and not actions.held(request.issue):
        return "an approving review of a PR that is not held; nothing to do"
    allowed = permission(gh_repo, request) in (MAINTAINERS if request.command == "keep"
                                                else WRITERS)
    reply = outcome(request, actions) if allowed else refusal(request)
    post(gh_repo, request.issue, reply)
    return reply


def outcome(request: Request, actions: Actions) -> str:
    name, arg, number = request.command, request.arg, request.issue
    if name in ON_PULLS and not request.on_pull:
        return f"@{request.user}, `/{name}` works on a pull request, not on an issue."
    if name == "try":
        if not arg or len(arg) > MAX_IDEA:
            return (f"@{request.user}, `/try` takes one idea of 1 to {MAX_IDEA} characters on "
                    f"the same line, e.g. `/try LR=0.006`.")
        return tried(request, lambda: actions.try_idea(number, arg))
    if name == "rerun" and arg and not (arg.isdigit() and 1 <= int(arg) <= MAX_RERUN):
        return f"@{request.user}, `/rerun` takes a number of seeds from 1 to {MAX_RERUN}."
    act: dict[str, Callable[[], str]] = {
        "evaluate": lambda: actions.evaluate(number, forks=True),
        "rerun": lambda: actions.rerun(number, int(arg) if arg else None),
        "keep": lambda: actions.keep(number, request.user),
        "discard": lambda: actions.discard(number, request.user, arg[:MAX_IDEA]),
        "approve": lambda: actions.release(number, request.user)}
    try:
        return f"@{request.user}: {act[name]()}"
    except UserError as exc:  # e.g. /keep on a trial that was never evaluated: tell, don't fail
        return f"@{request.user}, `/{name}` could not be done:\n\n{fenced(str(exc))}"


def tried(request: Request, try_idea: Callable[[], list]) -> str:
    asked = f"@{request.user} asked to try:\n\n{fenced(request.arg)}\n\n"
    try:
        rows = try_idea()
    except UserError as exc:  # e.g. an idea this lab's agent cannot read: tell, don't fail
        return asked + f"It could not be tried:\n\n{fenced(str(exc))}"
    if not rows:
        return asked + "The agent had no proposal for it."
    return asked + "\n".join(row_line(r) for r in rows)


def row_line(row) -> str:
    return f"- {row.trial_id}: **{row.status}** {row.pr or ''} {row.reason}".rstrip()


def post(gh_repo, number: int, text: str) -> None:
    """The one reply; after a 5xx it is posted again only if it is not the newest comment."""
    with api_call(f"reply on #{number}"):
        issue = gh_repo.get_issue(number)
        created(lambda: issue.create_comment(text), lambda: next(
            (c for c in list(issue.get_comments())[-1:] if c.body == text), None))


def load_event(path: str) -> dict:
    with open(path, encoding="utf-8") as f:
        return json.load(f)
