"""The GitHub API client every GitHub path shares: token and repository from the environment,
PyGithub with retries made safe for writes, and one line for whatever still fails.

The forge (forges/github.py), the comment commands (chatops.py, commands.py), reviews and
doctor all reach GitHub through here; none of them builds a client or reads a token itself.

Its place in the whole: ARCHITECTURE.md, "Contracts".
"""

from __future__ import annotations

import base64
import logging
import os
import re
import time
from collections.abc import Callable
from contextlib import contextmanager
from typing import TypeVar
from urllib.parse import urlparse

import github
import requests
from github import Auth, BadCredentialsException, Github, GithubException, GithubRetry

from autolab.errors import InfraError, UserError

# PyGithub logs every retried request to stderr at INFO; what still fails after the retries
# is one line of ours, so only its warnings pass
github.set_log_level(logging.WARNING)

CREATE_ATTEMPTS = 3         # tries of a create that answered 5xx, each after a look
NO_ACTIONS_PRS = "not permitted to create or approve pull requests"  # GitHub's 403 says this
ACTIONS_PRS = ("GitHub Actions may not create pull requests in this repository, so no trial "
               "can open its PR: turn on Settings → Actions → General → Workflow permissions → "
               "\"Allow GitHub Actions to create and approve pull requests\" (in an "
               "organisation, allow it there first), or run `autolab doctor --fix`")
# GitHub asks integrations to space their writes; tests against a local server set 0
WRITE_INTERVAL = float(os.environ.get("AUTOLAB_GITHUB_WRITE_INTERVAL", "1.0"))
T = TypeVar("T")


def settings() -> tuple[str, str]:
    """(API base URL, token) from the environment GitHub Actions provides. AUTOLAB_TOKEN (an
    App installation or personal token) comes first: unlike the job's GITHUB_TOKEN, what it
    pushes and opens starts workflows, so other checks `main` requires can run on a PR."""
    token = (os.environ.get("AUTOLAB_TOKEN") or os.environ.get("GITHUB_TOKEN")
             or os.environ.get("GH_TOKEN"))
    if not token:
        raise UserError("the github forge needs a token: set AUTOLAB_TOKEN or GITHUB_TOKEN "
                        "(in Actions: `env: GITHUB_TOKEN: ${{ github.token }}`)")
    api = (os.environ.get("AUTOLAB_GITHUB_API") or os.environ.get("GITHUB_API_URL")
           or "https://api.github.com")
    return api.rstrip("/"), token


def repo_slug(origin_url: str) -> str:
    """owner/name from GITHUB_REPOSITORY, else from an ssh or https `origin` URL."""
    slug = os.environ.get("GITHUB_REPOSITORY", "")
    if not slug:
        match = re.search(r"(?:^[^/]+@[^:]+:|://[^/]+/)([^/]+/[^/]+?)(?:\.git)?/?$", origin_url)
        slug = match.group(1) if match else ""
    if not re.fullmatch(r"[\w.-]+/[\w.-]+", slug):
        raise UserError(f"cannot tell the GitHub repository from origin {origin_url!r}; set "
                        f"GITHUB_REPOSITORY=owner/name")
    return slug


class SafeRetry(GithubRetry):
    """GithubRetry made safe for writes. Idempotent requests (reads, PATCH edits, PUT, DELETE)
    are retried on 5xx; a POST only on a rate limit (403/429), when GitHub did not carry it
    out, never on a 5xx or a lost answer, after which it may have landed: the forge's creates
    look for what the last try made before they try again (`created`)."""

    def is_retry(self, method: str, status_code: int, has_retry_after: bool = False) -> bool:
        if method == "POST" and status_code in (403, 429):
            method = "GET"  # refused before it was carried out: as safe as a read
        return super().is_retry(method, status_code, has_retry_after)


def client(api: str, token: str, retries: int = 6, backoff: float = 2.0) -> Github:
    retry = SafeRetry(total=retries, backoff_factor=backoff,
                      status_forcelist=[429, *range(500, 600)],
                      allowed_methods=SafeRetry.DEFAULT_ALLOWED_METHODS | {"GET", "PATCH"})
    return Github(auth=Auth.Token(token), base_url=api, retry=retry, lazy=True,
                  seconds_between_writes=WRITE_INTERVAL or None)


def created(make: Callable[[], T], find: Callable[[], T | None] = lambda: None,
            attempts: int = CREATE_ATTEMPTS) -> T:
    """A POST that GitHub may have carried out although it answered 5xx: before each new
    try, `find` looks for what the last one made (None: not there, so it is made again)."""
    for attempt in range(attempts):
        try:
            return make()
        except GithubException as exc:
            if exc.status < 500 or attempt == attempts - 1:
                raise
        time.sleep(WRITE_INTERVAL * 2 ** attempt)
        if (found := find()) is not None:
            return found
    raise AssertionError("unreachable: the last attempt returns or raises")


@contextmanager
def api_call(what: str):
    """Whatever GitHub answers after the retries becomes one line naming the step."""
    try:
        yield
    except BadCredentialsException:
        raise UserError(f"GitHub refused the token while trying to {what}; check "
                        f"GITHUB_TOKEN and its permissions") from None
    except GithubException as exc:
        message = exc.data.get("message", "") if isinstance(exc.data, dict) else exc.data
        if exc.status == 403 and NO_ACTIONS_PRS in str(message):
            raise UserError(ACTIONS_PRS) from None  # a setting, not a failure: stop the run
        raise InfraError(f"GitHub API: {what} failed ({exc.status} {message})") from None
    except requests.RequestException as exc:
        raise InfraError(f"GitHub API: {what} failed ({type(exc).__name__}: "
                         f"{str(exc)[:200]})") from None


def auth_env(origin: str, token: str) -> dict[str, str]:
    """Git over https with the token as Actions' checkout does it: a header set through the
    environment, so it is never written to .git/config nor shown in a process list."""
    url = urlparse(origin)
    if url.scheme != "https":
        return {}
    basic = base64.b64encode(f"x-access-token:{token}".encode()).decode()
    return {"GIT_CONFIG_COUNT": "1",
            "GIT_CONFIG_KEY_0": f"http.https://{url.hostname}/.extraheader",
            "GIT_CONFIG_VALUE_0": f"AUTHORIZATION: basic {basic}"}
