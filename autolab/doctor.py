"""`autolab doctor`: what a lab still lacks, one line each with how to fix it.

The first line says what confines trial code on this machine (any lab); then
the lab itself (the files its commands name, its globs; `autolab check` asks the
same before it runs anything); the rest is for GitHub labs. Each check asks GitHub
(through PyGithub, like the forge) or the local environment one question. A check
that cannot be answered with this token (e.g. reading branch protection needs admin)
is a warning, not a failure:
the lab may well be set up, only this token cannot see it.

`main`'s rules are read as GitHub applies them, classic protection and rulesets together:
when either refuses pushes, the forge merges winners through their PR, so the rules must
require `autolab/metric` with branches up to date (GitHub then refuses any unevaluated
combination) and must not ask for what the bot can never give (an approving review of its
own PR, a linear history that refuses its merge commit).

Its place in the whole: ARCHITECTURE.md, "The edges".
"""

from __future__ import annotations

import importlib.util
import os
import shlex
from dataclasses import dataclass
from pathlib import Path

import git

from autolab import sandbox
from autolab.config import Lab
from autolab.errors import UserError
from autolab.gitops import Repo, glob_regex
from autolab.integrity import evaluator_files

try:  # a lab without the github extra still gets the local checks
    from github import GithubException

    from autolab.forges.github import (
        ACTIONS_PRS,
        PUSHABLE_RULES,
        STATUS_CONTEXT,
        client,
        repo_slug,
        settings,
    )
    GITHUB = True
except ImportError:
    GITHUB = False

LABELS = {"autolab": ("0e8a16", "a trial, or a person's PR to evaluate"),
          "autolab-idea": ("1d76db", "an idea for the planner's backlog")}
SECRETS = ("ANTHROPIC_API_KEY", "MODAL_TOKEN_ID", "MODAL_TOKEN_SECRET")
# a command token naming a script of the lab's own, as opposed to a flag or a value
SCRIPTS = (".py", ".sh", ".bash")
# frozen by every `autolab init`, though most labs have no workflows: no warning for it
INIT_FROZEN = (".github/**",)


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


def run(lab: Lab, fix: bool = False, main: str | None = None) -> list[Check]:
    return [sandbox_check(lab), *lab_itself(lab), *github(lab, fix, main or lab.config.branch)]


def lab_itself(lab: Lab) -> list[Check]:
    """The lab's own files at its branch: what its commands name exists where the runner
    runs them, and each editable and frozen glob matches something."""
    config, repo = lab.config, Repo(lab.root)
    commit = repo.rev(f"refs/heads/{config.branch}")
    if commit is None:
        return [Check("missing", f"no branch `{config.branch}` with a commit; commit the lab "
                      f"there, or set `branch` in [tool.autolab] to the branch you use")]
    out = command_files(lab, repo, commit)
    paths = [p for _m, _s, p in repo.files(commit)]
    for key, patterns in (("editable", config.editable), ("frozen", config.frozen)):
        for pattern in patterns:
            if pattern not in INIT_FROZEN and not any(map(glob_regex([pattern]).match, paths)):
                out.append(Check("warn", f"`{key}` pattern {pattern!r} matches no committed "
                                 f"file on `{config.branch}`; fix it in {lab.where}"))
    if not any(map(glob_regex(config.editable).match, paths)):
        out.append(Check("missing", f"`editable` ({', '.join(config.editable)}) matches no "
                         f"committed file on `{config.branch}`: no trial could change anything"))
    return out or [Check("ok", f"the lab's commands and globs match its files on "
                            f"`{config.branch}`")]


def command_files(lab: Lab, repo: Repo, commit: str) -> list[Check]:
    """A missing script or module each command names, one line each: train runs in the
    trial's whole tree, prepare and evaluate only among the frozen files."""
    config = lab.config
    everything = {p for _m, _s, p in repo.files(commit)}
    frozen = set(evaluator_files(repo, config, commit))
    out = []
    for key, command, present in (("prepare_command", config.prepare_command, frozen),
                                  ("train_command", config.train_command, everything),
                                  ("evaluate_command", config.evaluate_command, frozen)):
        for named in named_files(command):
            if isinstance(named, tuple):   # (module, its candidate files) after `-m`
                module, candidates = named
                if present.isdisjoint(candidates) and not importable(module, lab.root):
                    out.append(Check("missing", f"`{key}` runs module `{module}`, which is "
                                     f"neither {' nor '.join(candidates[:2])} among "
                                     f"{where_runs(key)} on `{config.branch}` nor installed; "
                                     f"commit it or fix `{key}` in {lab.where}"))
            elif named not in present:
                hint = ("it is committed but not frozen, and evaluation sees only frozen files; "
                        "add it to `frozen`" if named in everything
                        else "commit it, or fix the path")
                out.append(Check("missing", f"`{key}` names {named}, which is not among "
                                 f"{where_runs(key)} on `{config.branch}`; {hint} "
                                 f"({lab.where})"))
    return out


def where_runs(key: str) -> str:
    return "the committed files" if key == "train_command" else "the frozen committed files"


def named_files(command: str) -> list[str | tuple[str, list[str]]]:
    """The lab's own scripts a shell command line names: relative paths ending in a script
    suffix, and modules after `-m` with the files that would hold them."""
    try:
        tokens = shlex.split(command, comments=True)
    except ValueError:   # unbalanced quotes: the shell will say so when it runs
        return []
    named: list[str | tuple[str, list[str]]] = []
    here = ""   # where a `cd DIR &&` earlier on the line moved to
    for before, token in zip(["", *tokens], tokens, strict=False):
        if before == "cd":
            here = os.path.normpath(os.path.join(here, token))
        elif before == "-m":
            base = os.path.join(here, token.replace(".", "/"))
            named.append((token, [os.path.normpath(f"{base}{end}")
                                  for end in (".py", "/__main__.py", "/__init__.py")]))
        elif token.endswith(SCRIPTS) and not token.startswith(("-", "/", "$", "~")) \
                and "=" not in token:
            named.append(os.path.normpath(os.path.join(here, token)))
    return named


def importable(module: str, root: Path) -> bool:
    """Installed outside the lab (`python -m pytest`); the lab's own package, found in its
    working tree, counts only by its committed files."""
    try:
        spec = importlib.util.find_spec(module.split(".")[0])
    except (ImportError, ValueError):
        return False
    if spec is None:
        return False
    where = spec.origin or next(iter(spec.submodule_search_locations or []), None)
    return where is not None and not Path(where).resolve().is_relative_to(root.resolve())


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
            actions_prs(repo, fix), *protection(repo, main, fix), *labels(repo, fix),
            *secrets(repo), *out]


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


def get(repo, path: str):
    """A repository endpoint PyGithub has no method for, through its own requester."""
    return repo.requester.requestJsonAndCheck("GET", f"{repo.url}{path}")[1]


def actions_prs(repo, fix: bool) -> Check:
    """The setting without which the workflows' token gets a 403 on every trial's PR."""
    path = "/actions/permissions/workflow"
    try:
        setting = get(repo, path)
    except GithubException as exc:
        return Check("warn", f"cannot read the Actions workflow permissions with this token "
                     f"({exc.status}); check Settings → Actions → General → \"Allow GitHub "
                     f"Actions to create and approve pull requests\"")
    if setting.get("can_approve_pull_request_reviews"):
        return Check("ok", "GitHub Actions may create pull requests (the trial PRs)")
    if not fix:
        return Check("missing", ACTIONS_PRS)
    repo.requester.requestJsonAndCheck("PUT", f"{repo.url}{path}", input={
        "default_workflow_permissions": setting.get("default_workflow_permissions", "read"),
        "can_approve_pull_request_reviews": True})
    return Check("ok", "changed: turned on \"Allow GitHub Actions to create and approve pull "
                 "requests\" (Settings → Actions → General); default token permissions stay "
                 f"`{setting.get('default_workflow_permissions', 'read')}`")


def protection(repo, main: str, fix: bool) -> list[Check]:
    try:
        rules = get(repo, f"/rules/branches/{main}")
    except GithubException as exc:
        return [Check("warn", f"cannot read the rules on `{main}` with this token "
                      f"({exc.status}); check Settings → Rules → Rulesets")]
    branch = repo.get_branch(main)
    try:
        classic = branch.get_protection()
    except GithubException as exc:
        if exc.status != 404:
            return [Check("warn", f"cannot read `{main}`'s protection with this token "
                          f"({exc.status}); it must require {STATUS_CONTEXT} with branches up "
                          f"to date and no reviews")]
        classic = None
    blocking = {r["type"] for r in rules} - PUSHABLE_RULES
    if classic is None and not blocking:
        if fix:
            branch.edit_protection(strict=True, contexts=[STATUS_CONTEXT])
            return [Check("ok", f"changed: protected `{main}`: it now requires the "
                          f"{STATUS_CONTEXT} status and branches up to date before merging "
                          f"(nothing else)")]
        return [Check("warn", f"`{main}` is not protected: anyone with write access can push to "
                      f"it (autolab pushes winners by lease); `autolab doctor --fix` protects "
                      f"it so GitHub merges only evaluated states")]
    contexts, strict, reviews, linear = set(), False, 0, False
    if classic is not None:
        checks = classic.required_status_checks
        contexts, strict = set(checks.contexts) if checks else set(), bool(checks and checks.strict)
        pr_rules = classic.required_pull_request_reviews
        reviews = pr_rules.required_approving_review_count if pr_rules else 0
        linear = classic.required_linear_history
    for rule in rules:
        params = rule.get("parameters") or {}
        if rule["type"] == "required_status_checks":
            contexts |= {c["context"] for c in params.get("required_status_checks", [])}
            strict = strict or params.get("strict_required_status_checks_policy", False)
        reviews = max(reviews, params.get("required_approving_review_count", 0)
                      if rule["type"] == "pull_request" else 0)
        linear = linear or rule["type"] == "required_linear_history"
    out = []
    if STATUS_CONTEXT not in contexts or not strict:
        if fix:
            wanted = sorted(contexts | {STATUS_CONTEXT})
            if classic is not None:
                branch.edit_required_status_checks(strict=True, contexts=wanted)
            else:  # a ruleset alone: classic protection adds the check, the ruleset stays
                branch.edit_protection(strict=True, contexts=wanted)
            out.append(Check("ok", f"changed: `{main}` now requires {', '.join(wanted)} with "
                           f"branches up to date before merging"))
        else:
            out.append(Check("missing", f"`{main}` is protected but does not require the "
                             f"{STATUS_CONTEXT} status with branches up to date, so GitHub "
                             f"could merge a combination nobody evaluated; `autolab doctor "
                             f"--fix` adds both (Settings → Branches → {main})"))
    if reviews:
        out.append(Check("missing", f"`{main}` requires {reviews} approving review(s), which the "
                         f"bot's own trial PRs never get, so no winner can merge; drop the "
                         f"review rule for `{main}` ({STATUS_CONTEXT} is what guards it)"))
    if linear:
        out.append(Check("missing", f"`{main}` requires a linear history, which refuses the "
                         f"merge commit a winner lands as; turn that rule off for `{main}`"))
    if classic is not None and not classic.enforce_admins and repo.permissions.admin:
        out.append(Check("warn", f"this token is an admin's and `{main}` lets admins bypass its "
                         f"rules, so GitHub would not refuse its merges; turn on \"Do not allow "
                         f"bypassing the above settings\" or run autolab with a non-admin "
                         f"token (the workflows' token is not an admin)"))
    if not repo.allow_merge_commit:
        out.append(Check("missing", "merge commits are disabled, and a winner lands as one; "
                         "turn on Settings → General → Pull Requests → Allow merge commits"))
    if not any(c.failed for c in out):
        kind = " and ".join(k for k, on in (("branch protection", classic is not None),
                                            ("a ruleset", bool(rules))) if on)
        out.append(Check("ok", f"`{main}` is protected ({kind}): winners merge through their "
                         f"PR once {STATUS_CONTEXT} passes on a head up to date with it"))
    return out


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


def secrets(repo) -> list[Check]:
    """Repository and organisation secrets reach the workflows; environment secrets only
    jobs that name the environment, which these workflows do not."""
    try:
        own = {s.name for s in repo.get_secrets()}
    except GithubException as exc:
        return [Check("warn", f"cannot list the Actions secrets with this token ({exc.status}); "
                      f"check {', '.join(SECRETS)} under Settings → Secrets → Actions")]
    try:
        shared = {s["name"] for s in get(repo, "/actions/organization-secrets")["secrets"]}
        environments = {e.name: {s.name for s in e.get_secrets()}
                        for e in repo.get_environments()}
    except GithubException:  # the token cannot see them: judge by the repository's own
        shared, environments = set(), {}
    missing = [name for name in SECRETS if name not in own | shared]
    if not missing:
        where = ", ".join(f"{n} ({'repository' if n in own else 'organisation'})" for n in SECRETS)
        return [Check("ok", f"Actions secrets present: {where}")]
    out = [Check("missing", f"Actions secrets missing: {', '.join(missing)}; add each with "
                 f"`gh secret set NAME` (or share an organisation secret with this repository)")]
    for name in missing:
        for env in sorted(e for e, names in environments.items() if name in names):
            out.append(Check("missing", f"{name} is only in the environment `{env}`, which the "
                             f"workflows do not use; add it as a repository or organisation "
                             f"secret"))
    return out


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
