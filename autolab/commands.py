"""Comment commands kept on `origin` until the lab's driver answers them.

GitHub runs at most one job of the lab's concurrency group at a time and, beyond the
waiting runs it keeps, cancels the older waiting one, so a command's own driver job may
never run. So the command is recorded first, by a job outside that group: a commit holding
the parsed request, under `refs/autolab/commands/<c|r><comment or review id>` on origin,
acknowledged with a 👀 reaction on the comment. Whichever driver of the group runs next (a
command's, nightly's) answers every recorded command, oldest first, and deletes each ref
once its reply is posted: a driver killed in between answers it again next time, so a
command is answered at least once and never lost.

Its place in the whole: ARCHITECTURE.md, "Reviews and chat commands".
"""

from __future__ import annotations

import json
import os
from contextlib import suppress
from dataclasses import asdict, dataclass
from pathlib import Path

import git
from github import GithubException

from autolab.chatops import Actions, Request, answer, parse
from autolab.errors import InfraError, StaleError, UserError
from autolab.forges.github import GitHubForge
from autolab.github_api import auth_env, client, repo_slug, settings
from autolab.gitops import Repo
from autolab.refs import COMMANDS

FILE = "command.json"
ACK = "eyes"


@dataclass(frozen=True)
class Recorded:
    ref: str
    sent_at: str        # GitHub's created_at (comment) or submitted_at (review)
    request: Request


def key_of(event: dict) -> tuple[str, str]:
    """(the ref's name, when it was sent): one ref per comment or review, so recording the
    same event twice (a re-run job) finds it already there."""
    kind, item = ("r", event.get("review")) if "review" in event else ("c", event.get("comment"))
    if not isinstance(item, dict) or not str(item.get("id", "")).isdigit():
        raise UserError("autolab chatops --record: the event's comment or review has no id; "
                        "pass the issue_comment or pull_request_review event GitHub wrote "
                        "($GITHUB_EVENT_PATH)")
    return f"{kind}{item['id']}", str(item.get("submitted_at") or item.get("created_at") or "")


def record(root: Path, event: dict) -> str:
    """Store the event's command on origin and react to its comment; what was done."""
    request = parse(event)
    if request is None:
        return "not an autolab command; nothing recorded"
    name, sent_at = key_of(event)
    repo = Repo(root)
    data = json.dumps({"sent_at": sent_at, "request": asdict(request)}, indent=1).encode()
    commit = repo.commit_files(None, {FILE: data}, f"autolab: command {name}", [])
    origin = repo.git.remote("get-url", "origin")
    api, token = settings()
    try:
        pushed = repo.git.execute(["git", "push", "--porcelain",
                                   f"--force-with-lease={COMMANDS}{name}:", "origin",
                                   f"{commit}:{COMMANDS}{name}"],
                                  env={**os.environ, **auth_env(origin, token)})
        # "=": origin has this very commit already (the same event, recorded the same second)
        if any(line.startswith("=\t") for line in str(pushed).splitlines()):
            done = f"{COMMANDS}{name} was already recorded"
        else:
            done = (f"recorded /{request.command} from @{request.user} on #{request.issue} "
                    f"as {COMMANDS}{name}")
    except git.GitCommandError as exc:
        if "stale info" not in str(exc) and "[rejected]" not in str(exc):
            raise InfraError(f"could not record the command on origin: "
                             f"{exc.stderr.strip()[-300:]}") from None
        done = f"{COMMANDS}{name} was already recorded"
    if name.startswith("c"):  # reviews take no reactions; their reply is the answer
        gh_repo = client(api, token, retries=2, backoff=0.5).get_repo(repo_slug(origin))
        try:
            gh_repo.requester.requestJsonAndCheck(
                "POST", f"{gh_repo.url}/issues/comments/{name[1:]}/reactions",
                input={"content": ACK})
        except GithubException as exc:  # recorded all the same: the answer will come
            done += f"; the {ACK} reaction was refused ({exc.status})"
    return done


def recorded(forge: GitHubForge) -> list[Recorded]:
    """Every command waiting on origin, oldest first."""
    lines = forge.git_remote("ls-remote", "origin", f"{COMMANDS}*").splitlines()
    if not lines:
        return []
    forge.fetch(f"+{COMMANDS}*:{COMMANDS}*")
    found = []
    for sha, ref in (line.split("\t") for line in lines):
        try:
            data = json.loads(forge.repo.read(sha, FILE) or b"")
            found.append(Recorded(ref, str(data["sent_at"]), Request(**data["request"])))
        except (ValueError, TypeError, KeyError):
            # not one autolab wrote: left on origin for a person to look at
            continue
    return sorted(found, key=lambda r: (r.sent_at, r.ref))


def answer_all(forge: GitHubForge, actions: Actions) -> list[str]:
    """Answer each recorded command, then take it off origin; the replies."""
    replies = []
    for item in recorded(forge):
        replies.append(answer(forge.gh_repo, item.request, actions))
        with suppress(StaleError):  # another hand removed it meanwhile: answered all the same
            forge.push("", item.ref)
        forge.repo.delete_ref(item.ref)
    return replies
