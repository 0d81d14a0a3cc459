"""`autolab doctor`: what a lab still lacks, one line each with how to fix it.

The first line says what confines trial code on this machine (any lab); the
rest is for GitHub labs. Each check asks GitHub (through PyGithub, like the
forge) or the local environment one question. A check that cannot be answered with this token
(e.g. reading branch protection needs admin) is a warning, not a failure:
the lab may well be set up, only this token cannot see it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import git

from autolab import sandbox
from autolab.config import Lab
from autolab.errors import UserError

try:  # a lab without the github extra still gets the local checks
    from github import GithubException

    from autolab.forges.github import client, repo_slug, settings
    GITHUB = True
except ImportError:
    GITHUB = False

LABELS = {"autolab": ("0e8a16", "a trial, or a person's PR to evaluate"),
          "autolab-idea": ("1d76db", "an idea for the planner's backlog")}
SECRETS = ("ANTHROPIC_API_KEY", "MODAL_TOKEN_ID", "MODAL_TOKEN_SECRET")


@dataclass(frozen=True)
class Check:
    state: str      # ok | warn | missing
    line: str

    @property
    def failed(self) -> bool:
        return self.state == "missing"

    @property
    def mark(self) -> str:
        return {"ok": "✓", "warn": "!", "missing": "✗"}[self.state]

    @property
    def style(self) -> str:
        return {"ok": "green", "warn": "yellow", "missing": "red"}[self.state]


def run(lab: Lab, fix: bool = False, main: str = "main") -> list[Check]:
    return [sandbox_check(lab), *github(lab, fix, main)]


def github(lab: Lab, fix: bool, main: str) -> list[Check]:
    out = local_credentials()
    if not GITHUB:
        return [Check("warn", "PyGithub is not installed, so the GitHub set-up is not "
                      "checked; `pip install 'autolab[github]'` for a GitHub lab"), *out]
    try:
        api, token = settings()
    except UserError as exc:
        return [Check("missing", str(exc)), *out]
    try:
        origin = git.Repo(lab.root).remote("origin").url
        slug = repo_slug(origin)
    except (ValueError, UserError) as exc:
        return [Check("missing", f"no GitHub repository: {exc}"), *out]
    gh = client(api, token, retries=1, backoff=0.5)
    try:
        repo = gh.get_repo(slug)
        permissions = repo.permissions  # the first request: it brings the scopes header too
    except GithubException as exc:
        return [Check("missing", f"{slug} is not reachable with this token ({exc.status}); "
                      f"check GITHUB_TOKEN and the repository name"), *out]
    return [Check("ok", f"{slug} reachable at {api}"),
            token_check(repo.requester.oauth_scopes, permissions, repo.private),
            protection(repo, main), *labels(repo, fix), secrets(repo), *out]


def sandbox_check(lab: Lab) -> Check:
    """What the local runner will confine trial code with, as `autolab run` would choose."""
    kind, network = lab.config.runner.sandbox, lab.config.runner.network
    if kind == "none":
        return Check("warn", f"sandbox = \"none\": trials on the local runner run unconfined "
                     f"({sandbox.report()}); remove the key to confine them")
    try:
        chosen = sandbox.choose(kind, network, lab.where)
    except sandbox.SandboxError:
        return Check("missing", f"no sandbox for the local runner: {sandbox.report()}; "
                     f"`autolab run` refuses to start until one works or sandbox = \"none\"")
    return Check("ok", f"sandbox: {chosen.name} confines trial code on the local runner "
                 f"({sandbox.report()})")


def token_check(scopes: list[str] | None, granted, private: bool) -> Check:
    if scopes is None:  # fine-grained or app tokens send no scopes: read the grant itself
        if granted is not None and granted.push:
            return Check("ok", "token (fine-grained or app) may push to the repository")
        return Check("missing", "the token may not push here; give it Contents, Pull requests, "
                     "Issues and Commit statuses: read and write")
    if "repo" in scopes or "public_repo" in scopes and not private:
        return Check("ok", f"token scopes: {', '.join(scopes) or 'none'}")
    return Check("missing", f"the token's scopes ({', '.join(scopes) or 'none'}) lack `repo`; "
                 f"create a token with the `repo` scope")


def protection(repo, main: str) -> Check:
    try:
        rules = repo.get_branch(main).get_protection()
    except GithubException as exc:
        if exc.status == 404:
            return Check("warn", f"`{main}` is not protected: anyone with write access can "
                         f"push to it; protect it and let GitHub Actions push (the merge bot)")
        return Check("warn", f"cannot read `{main}`'s protection with this token "
                     f"({exc.status}); check that GitHub Actions may push to it")
    reviews = rules.required_pull_request_reviews is not None
    return Check("ok", f"`{main}` is protected" + (
        "; it requires reviews, so add GitHub Actions to the bypass list or merges fail"
        if reviews else "; GitHub Actions must be allowed to push to it"))


def labels(repo, fix: bool) -> list[Check]:
    out = []
    for name, (color, description) in LABELS.items():
        try:
            repo.get_label(name).color  # noqa: B018 - reading it makes the request
            out.append(Check("ok", f"label `{name}` exists"))
        except GithubException as exc:
            if exc.status != 404:
                raise
            if fix:
                repo.create_label(name, color, description)
                out.append(Check("ok", f"label `{name}` created"))
            else:
                out.append(Check("missing", f"label `{name}` is missing; `autolab doctor "
                                 f"--fix` creates it"))
    return out


def secrets(repo) -> Check:
    try:
        present = {s.name for s in repo.get_secrets()}
    except GithubException as exc:
        return Check("warn", f"cannot list the Actions secrets with this token ({exc.status}); "
                     f"check {', '.join(SECRETS)} under Settings → Secrets → Actions")
    missing = [name for name in SECRETS if name not in present]
    if missing:
        return Check("missing", f"Actions secrets missing: {', '.join(missing)}; add each with "
                     f"`gh secret set NAME`")
    return Check("ok", f"Actions secrets present: {', '.join(SECRETS)}")


def local_credentials() -> list[Check]:
    """What `--runner modal` and `--agent claude` need on this machine."""
    modal = (os.environ.get("MODAL_TOKEN_ID") and os.environ.get("MODAL_TOKEN_SECRET")) or \
        Path(os.environ.get("MODAL_CONFIG_PATH", Path.home() / ".modal.toml")).is_file()
    return [Check("ok", "Modal credentials found") if modal else
            Check("missing", "no Modal credentials here; run `modal token new` or set "
                  "MODAL_TOKEN_ID and MODAL_TOKEN_SECRET"),
            Check("ok", "ANTHROPIC_API_KEY is set") if os.environ.get("ANTHROPIC_API_KEY")
            else Check("missing", "ANTHROPIC_API_KEY is not set; export it to use "
                       "`--agent claude` here")]
