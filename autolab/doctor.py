"""`autolab doctor`: what a lab still lacks, one line each with how to fix it.

Only what this lab uses is checked: the sandbox when its runner is local, the lab
itself (the files its commands name, its globs; `autolab check` asks the same before it
runs anything), Modal's and
Anthropic's credentials when its runner or agent needs them, and GitHub when the lab is a
GitHub lab (`--forge github`, its workflows are in the repository, or it runs in Actions).
Each check asks GitHub (through PyGithub, like the forge) or the local environment one
question. A check that cannot be answered with this token (e.g. reading branch protection
needs admin) is a warning, not a failure: the lab may well be set up, only this token cannot
see it. An error status GitHub documents for an endpoint is a line, never a traceback.

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
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import git

from autolab import sandbox, workflows
from autolab.config import Lab
from autolab.errors import UserError
from autolab.gitops import Repo, glob_regex
from autolab.integrity import evaluator_files

try:  # a lab without the github extra still gets the local checks
    from github import GithubException

    from autolab.forges.github import PUSHABLE_RULES, STATUS_CONTEXT
    from autolab.github_api import ACTIONS_PRS, client, repo_slug, settings
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
STARTER = "AUTOLAB_TOKEN"   # a secret token whose PRs start workflows (App or personal token)
UPGRADE = "Upgrade to GitHub Pro"   # GitHub's 403 on protection for private repos on Free
TRIAL_BRANCH = "autolab/t0000"      # any trial branch: rules on all branches apply to it
# rules that make GitHub refuse the API merge of a trial PR, and why
MERGE_BLOCKERS = {
    "merge_queue": "requires a merge queue, and GitHub refuses a direct API merge there",
    "required_signatures": "requires signed commits, and the bot's trial commits are unsigned",
    "required_deployments": "requires successful deployments, which no trial branch has",
    "workflows": "requires workflows to pass, and PRs opened with the workflows' token start "
                 "none",
    "update": "restricts updates to those who may bypass the ruleset, so the bot's merge is "
              "refused",
}
# rules on every branch that stop a trial branch from being pushed or removed
TRIAL_BLOCKERS = {"creation": "creating", "update": "updating", "deletion": "deleting"}


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


def run(lab: Lab, fix: bool = False, main: str | None = None,
        forge: str | None = None) -> list[Check]:
    """Every check this lab's forge, runner and agent call for. `forge` None: a GitHub lab
    when the workflows `autolab init --github` writes are in the repository."""
    main = main or lab.config.branch
    if forge is None:
        forge = "github" if any((lab.root / workflows.DIRECTORY / name).is_file()
                                for name in workflows.FILES) else "local"
    out = [sandbox_check(lab)] if lab.config.runner.kind == "local" else []
    out += lab_itself(lab)
    if forge == "github":
        out += [*github(lab, fix, main), *workflow_files(lab)]
    return [*out, *local_credentials(lab)]


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
        elif (token.endswith(SCRIPTS) and not token.startswith(("-", "/", "$", "~"))
                and "=" not in token):
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
    if not GITHUB:
        return [Check("missing", "PyGithub is not installed, so the GitHub set-up cannot be "
                      "checked; `pip install 'autolab[github]'` for a GitHub lab")]
    try:
        api, token = settings()
    except UserError as exc:
        return [Check("missing", str(exc))]
    try:
        origin = git.Repo(lab.root).remote("origin").url
        slug = repo_slug(origin)
    except (ValueError, UserError) as exc:
        return [Check("missing", f"no GitHub repository: {exc}")]
    gh = client(api, token, retries=1, backoff=0.5)
    try:
        repo = gh.get_repo(slug)
        permissions = repo.permissions  # the first request: it brings the scopes header too
    except GithubException as exc:
        return [Check("missing", f"{slug} is not reachable with this token ({exc.status}); "
                      f"check GITHUB_TOKEN and the repository name")]
    names = secret_names(repo)
    return [Check("ok", f"{slug} reachable at {api}"),
            token_check(repo.requester.oauth_scopes, permissions, repo.private),
            *guarded("the default branch", lambda: [default_branch(repo, main)]),
            *guarded("the Actions settings", lambda: [actions_prs(repo, fix)]),
            *guarded(f"`{main}`'s rules", lambda: protection(repo, main, fix, names)),
            *guarded("the trial branches' rules", lambda: trial_branches(repo)),
            *guarded("the labels", lambda: labels(repo, fix)),
            *secrets(names, needed_secrets(lab))]


def guarded(what: str, checks: Callable[[], list[Check]]) -> list[Check]:
    """A check GitHub answered with an error nobody foresaw is one line, not a traceback."""
    try:
        return checks()
    except GithubException as exc:
        said = exc.data.get("message", "") if isinstance(exc.data, dict) else ""
        return [Check("missing", f"could not check or fix {what}: GitHub answered {exc.status} "
                      f"{said}".rstrip())]


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


def protect(branch, contexts: list[str]) -> None:
    """Classic protection requiring `contexts`, up to date, and nothing else. Sent through
    PyGithub's requester: its edit_protection sends nulls and a `checks` list where GitHub's
    published description requires booleans and `contexts`."""
    branch.requester.requestJsonAndCheck("PUT", branch.protection_url, input={
        "required_status_checks": {"strict": True, "contexts": contexts},
        "enforce_admins": False, "required_pull_request_reviews": None, "restrictions": None})


def get(repo, path: str):
    """A repository endpoint PyGithub has no method for, through its own requester."""
    return repo.requester.requestJsonAndCheck("GET", f"{repo.url}{path}")[1]


def default_branch(repo, main: str) -> Check:
    """The workflows run from the default branch; trials branch from and merge into `main`."""
    if repo.default_branch == main:
        return Check("ok", f"`{main}` is the default branch")
    return Check("missing", f"the default branch is `{repo.default_branch}`, not `{main}`, "
                 f"the branch this lab runs on: GitHub runs the workflows (and their schedule) "
                 f"from the default branch; make `{main}` the default under Settings → General "
                 f"→ Default branch, or run the lab on `{repo.default_branch}`")


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
    try:
        repo.requester.requestJsonAndCheck("PUT", f"{repo.url}{path}", input={
            "default_workflow_permissions": setting.get("default_workflow_permissions", "read"),
            "can_approve_pull_request_reviews": True})
    except GithubException as exc:
        if exc.status == 409:  # documented: the owning organisation's policy forbids it
            return Check("missing", "the organisation does not let its repositories allow "
                         "GitHub Actions to create pull requests (GitHub answered 409), so no "
                         "trial can open its PR; an organisation owner turns on Organisation "
                         "settings → Actions → General → \"Allow GitHub Actions to create and "
                         "approve pull requests\", then run `autolab doctor --fix` again")
        return Check("missing", f"could not turn on \"Allow GitHub Actions to create and "
                     f"approve pull requests\" ({exc.status}); turn it on under Settings → "
                     f"Actions → General (it needs an admin)")
    return Check("ok", "changed: turned on \"Allow GitHub Actions to create and approve pull "
                 "requests\" (Settings → Actions → General); default token permissions stay "
                 f"`{setting.get('default_workflow_permissions', 'read')}`")


def upgrade_needed(exc: GithubException) -> bool:
    return exc.status == 403 and UPGRADE in str(exc.data)


def free_plan(repo) -> Check:
    return Check("missing", f"{repo.full_name} is private on GitHub Free, where branch "
                 f"protection and rulesets are not available (GitHub: \"{UPGRADE} or make "
                 f"this repository public\"), so nothing can make GitHub require autolab/metric "
                 f"before a merge and autolab pushes winners to `main` by lease alone; make the "
                 f"repository public or move it to a paid plan (the token is not the problem)")


def protection(repo, main: str, fix: bool, secrets: SecretNames) -> list[Check]:
    try:
        rules = get(repo, f"/rules/branches/{main}")
    except GithubException as exc:
        if upgrade_needed(exc):
            return [free_plan(repo)]
        return [Check("warn", f"cannot read the rules on `{main}` with this token "
                      f"({exc.status}); check Settings → Rules → Rulesets")]
    try:
        classic = get(repo, f"/branches/{main}/protection")
    except GithubException as exc:
        if upgrade_needed(exc):
            return [free_plan(repo)]
        if exc.status != 404:
            return [Check("warn", f"cannot read `{main}`'s protection with this token "
                          f"({exc.status}); it must require {STATUS_CONTEXT} with branches up "
                          f"to date and no reviews")]
        classic = None  # 404: no classic protection
    branch = repo.get_branch(main)
    blocking = {r["type"] for r in rules} - PUSHABLE_RULES
    if classic is None and not blocking:
        if fix:
            protect(branch, [STATUS_CONTEXT])
            return [Check("ok", f"changed: protected `{main}`: it now requires the "
                          f"{STATUS_CONTEXT} status and branches up to date before merging "
                          f"(nothing else)")]
        return [Check("warn", f"`{main}` is not protected: anyone with write access can push to "
                      f"it (autolab pushes winners by lease); `autolab doctor --fix` protects "
                      f"it so GitHub merges only evaluated states")]
    contexts, strict, reviews, linear = set(), False, 0, False
    blockers: dict[str, str] = {}   # rule -> why GitHub refuses the merge under it
    fixes: dict[str, str] = {}      # rule -> how to fix it, where turning it off is not all
    if classic is not None:
        checks = classic.get("required_status_checks") or {}
        contexts, strict = set(checks.get("contexts") or []), bool(checks.get("strict"))
        reviews = (classic.get("required_pull_request_reviews") or {}).get(
            "required_approving_review_count", 0)
        linear = bool((classic.get("required_linear_history") or {}).get("enabled"))
        if (classic.get("required_signatures") or {}).get("enabled"):
            blockers["required_signatures"] = MERGE_BLOCKERS["required_signatures"]
        if (classic.get("lock_branch") or {}).get("enabled"):
            blockers["lock_branch"] = "is locked (read-only)"
        allowed = classic.get("restrictions")
        if allowed and "github-actions" not in {a.get("slug") for a in allowed.get("apps", [])}:
            blockers["restrictions"] = ("lets only the people, teams and apps it lists push, "
                                        "and the workflows' github-actions app is not one")
    for rule in rules:
        params, kind = rule.get("parameters") or {}, rule["type"]
        if kind == "required_status_checks":
            contexts |= {c["context"] for c in params.get("required_status_checks", [])}
            strict = strict or params.get("strict_required_status_checks_policy", False)
        if kind == "pull_request":
            reviews = max(reviews, params.get("required_approving_review_count", 0))
            methods = params.get("allowed_merge_methods") or ["merge"]
            if "merge" not in methods:
                blockers["allowed_merge_methods"] = (
                    f"allows only {' and '.join(methods)} merges, and a winner lands as a "
                    f"merge commit")
                fixes["allowed_merge_methods"] = ("add `merge` to the allowed merge methods of "
                                                  "the ruleset's pull request rule")
        linear = linear or kind == "required_linear_history"
        if kind in MERGE_BLOCKERS:
            blockers[kind] = MERGE_BLOCKERS[kind]
    out = []
    if STATUS_CONTEXT not in contexts or not strict:
        if fix:
            wanted = sorted(contexts | {STATUS_CONTEXT})
            if classic is not None:
                branch.edit_required_status_checks(strict=True, contexts=wanted)
            else:  # a ruleset alone: classic protection adds the check, the ruleset stays
                protect(branch, wanted)
            out.append(Check("ok", f"changed: `{main}` now requires {', '.join(wanted)} with "
                           f"branches up to date before merging"))
        else:
            out.append(Check("missing", f"`{main}` is protected but does not require the "
                             f"{STATUS_CONTEXT} status with branches up to date, so GitHub "
                             f"could merge a combination nobody evaluated; `autolab doctor "
                             f"--fix` adds both (Settings → Branches → {main})"))
    others = sorted(contexts - {STATUS_CONTEXT})
    if others and not secrets.readable:
        out.append(Check("warn", f"`{main}` also requires {', '.join(others)}, which run on "
                         f"the trial PRs only if a secret {STARTER} opens them, and this token "
                         f"cannot list the secrets"))
    elif others and STARTER not in secrets:
        out.append(Check("missing", f"`{main}` also requires {', '.join(others)}, which never "
                         f"run on the trial PRs: PRs opened with the workflows' GITHUB_TOKEN "
                         f"start no workflows, so no winner can merge; add a secret {STARTER} "
                         f"(a GitHub App installation token or a personal token that may push "
                         f"and open PRs), or drop those checks from `{main}`'s rules"))
    elif others:
        out.append(Check("ok", f"`{main}` also requires {', '.join(others)}: the {STARTER} "
                         f"secret opens the trial PRs, so their workflows run"))
    if reviews:
        out.append(Check("missing", f"`{main}` requires {reviews} approving review(s), which the "
                         f"bot's own trial PRs never get, so no winner can merge; drop the "
                         f"review rule for `{main}` ({STATUS_CONTEXT} is what guards it)"))
    if linear:
        out.append(Check("missing", f"`{main}` requires a linear history, which refuses the "
                         f"merge commit a winner lands as; turn that rule off for `{main}`"))
    for kind, why in blockers.items():
        fix_it = fixes.get(kind, f"turn off `{kind}` for `{main}`")
        out.append(Check("missing", f"`{main}` {why}, so GitHub refuses the API merge of every "
                         f"winner; {fix_it} (Settings → Branches, or Rules → Rulesets)"))
    if (classic is not None and not (classic.get("enforce_admins") or {}).get("enabled")
            and repo.permissions.admin):
        out.append(Check("warn", f"this token is an admin's and `{main}` lets admins bypass its "
                         f"rules, so GitHub would not refuse its merges; turn on \"Do not allow "
                         f"bypassing the above settings\" or run autolab with a non-admin "
                         f"token (the workflows' token is not an admin)"))
    out += bypassers(repo, main, rules)
    if not repo.allow_merge_commit:
        out.append(Check("missing", "merge commits are disabled, and a winner lands as one; "
                         "turn on Settings → General → Pull Requests → Allow merge commits"))
    if not any(c.failed for c in out):
        kind = " and ".join(k for k, on in (("branch protection", classic is not None),
                                            ("a ruleset", bool(rules))) if on)
        out.append(Check("ok", f"`{main}` is protected ({kind}): winners merge through their "
                         f"PR once {STATUS_CONTEXT} passes on a head up to date with it"))
    return out


def bypassers(repo, main: str, rules: list[dict]) -> list[Check]:
    """Rulesets that someone may bypass: GitHub would merge an unevaluated state from them."""
    out = []
    for ruleset in sorted({r["ruleset_id"] for r in rules if r.get("ruleset_id")}):
        try:
            found = get(repo, f"/rulesets/{ruleset}")
        except GithubException:  # bypass actors are shown to admins only: nothing to judge
            continue
        if found.get("bypass_actors"):
            who = ", ".join(sorted({f"{a.get('actor_type')} {a.get('actor_id') or ''}".strip()
                                    for a in found["bypass_actors"]}))
            out.append(Check("warn", f"the ruleset `{found.get('name', ruleset)}` on `{main}` "
                             f"may be bypassed ({who}), so GitHub would merge what they push "
                             f"unevaluated; remove the bypass list if that is not meant"))
    return out


def trial_branches(repo) -> list[Check]:
    """Rules on every branch reach the trial branches, which autolab creates, updates and
    deletes once a trial is closed (its code stays under refs/autolab/trials/)."""
    try:
        rules = get(repo, f"/rules/branches/{TRIAL_BRANCH}")
    except GithubException:  # the same reading on `main` already said why
        return []
    refused = [verb for kind, verb in TRIAL_BLOCKERS.items()
               if kind in {r["type"] for r in rules}]
    if not refused:
        return [Check("ok", "no ruleset stops autolab creating, updating or deleting its trial "
                      "branches autolab/<id>")]
    return [Check("missing", f"a ruleset on all branches forbids {' and '.join(refused)} "
                  f"branches, which autolab does to its trial branches autolab/<id> (it deletes "
                  f"each once the trial is closed); exclude `autolab/**` from that ruleset's "
                  f"target (Settings → Rules → Rulesets)")]


def labels(repo, fix: bool) -> list[Check]:
    out = []
    for name, (color, description) in LABELS.items():
        try:
            repo.get_label(name).color  # noqa: B018 - reading it makes the request
            out.append(Check("ok", f"label `{name}` exists"))
        except GithubException as exc:
            if exc.status != 404:
                out.append(Check("warn", f"cannot read the label `{name}` with this token "
                                 f"({exc.status})"))
            elif fix:
                repo.create_label(name, color, description)
                out.append(Check("ok", f"label `{name}` created"))
            else:
                out.append(Check("missing", f"label `{name}` is missing; `autolab doctor "
                                 f"--fix` creates it"))
    return out


@dataclass(frozen=True)
class SecretNames:
    own: set[str]                           # the repository's Actions secrets
    shared: set[str]                        # organisation secrets shared with it
    environments: dict[str, set[str]]       # environment -> its secrets (unused by workflows)
    readable: bool = True

    def __contains__(self, name: str) -> bool:
        return name in self.own or name in self.shared


def secret_names(repo) -> SecretNames:
    """Repository and organisation secrets reach the workflows; environment secrets only
    jobs that name the environment, which these workflows do not."""
    try:
        own = {s.name for s in repo.get_secrets()}
    except GithubException:
        return SecretNames(set(), set(), {}, readable=False)
    try:
        shared = {s["name"] for s in get(repo, "/actions/organization-secrets")["secrets"]}
        environments = {e.name: {s.name for s in e.get_secrets()}
                        for e in repo.get_environments()}
    except GithubException:  # the token cannot see them: judge by the repository's own
        shared, environments = set(), {}
    return SecretNames(own, shared, environments)


def needed_secrets(lab: Lab) -> tuple[str, ...]:
    """The secrets the lab's workflows hand to autolab (those `init --github` writes when
    they are not there yet)."""
    nightly = lab.root / workflows.DIRECTORY / next(iter(workflows.FILES))
    written = workflows.recorded(nightly.read_text()) if nightly.is_file() else None
    return tuple(sorted(written.secrets if written else SECRETS))


def secrets(names: SecretNames, needed: tuple[str, ...]) -> list[Check]:
    if not names.readable:
        return [Check("warn", f"cannot list the Actions secrets with this token; check "
                      f"{', '.join(needed)} under Settings → Secrets → Actions")]
    missing = [name for name in needed if name not in names]
    if not missing:
        where = ", ".join(f"{n} ({'repository' if n in names.own else 'organisation'})"
                          for n in needed)
        return [Check("ok", f"Actions secrets present: {where}")]
    out = [Check("missing", f"Actions secrets missing: {', '.join(missing)}; add each with "
                 f"`gh secret set NAME` (or share an organisation secret with this repository)")]
    for name in missing:
        for env in sorted(e for e, found in names.environments.items() if name in found):
            out.append(Check("missing", f"{name} is only in the environment `{env}`, which the "
                             f"workflows do not use; add it as a repository or organisation "
                             f"secret"))
    return out


def workflow_files(lab: Lab) -> list[Check]:
    """The workflows `autolab init --github` wrote: there, unedited, and pinned to this
    autolab."""
    out = []
    for name in workflows.FILES:
        path = f"{workflows.DIRECTORY}/{name}"
        target = lab.root / path
        if not target.is_file():
            out.append(Check("missing", f"{path} is missing; `autolab init --github` writes "
                             f"the lab's workflows"))
            continue
        text = target.read_text()
        written = workflows.recorded(text)
        if written is None or workflows.render(written)[path] != text:
            out.append(Check("missing", f"{path} is not what `autolab init --github` writes "
                             f"(edited by hand, or by another autolab version); run it again "
                             f"to rewrite the workflows"))
            continue
        current, _note = workflows.settings_for(lab.root, written.agent)
        if current.autolab != written.autolab:
            out.append(Check("warn", f"{path} installs {' '.join(written.autolab)}, and this "
                             f"is {' '.join(current.autolab)}; `autolab init --github` "
                             f"updates the pin"))
    if not out:
        out.append(Check("ok", f"the workflows are current: {', '.join(workflows.FILES)}"))
    return out


def local_credentials(lab: Lab) -> list[Check]:
    """What this lab's runner and agent need on this machine: Modal's and Anthropic's keys."""
    out = []
    if lab.config.runner.kind == "modal":
        stored = Path(os.environ.get("MODAL_CONFIG_PATH", Path.home() / ".modal.toml"))
        modal = ((os.environ.get("MODAL_TOKEN_ID") and os.environ.get("MODAL_TOKEN_SECRET"))
                 or stored.is_file())
        out.append(Check("ok", "Modal credentials found") if modal else
                   Check("missing", "no Modal credentials here; run `modal token new` or set "
                         "MODAL_TOKEN_ID and MODAL_TOKEN_SECRET"))
    if lab.config.agent.kind == "claude":
        out.append(Check("ok", "ANTHROPIC_API_KEY is set") if os.environ.get("ANTHROPIC_API_KEY")
                   else Check("missing", "ANTHROPIC_API_KEY is not set; export it to use "
                              "`--agent claude` here"))
    return out
