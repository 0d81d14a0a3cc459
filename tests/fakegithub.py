"""A local HTTP server that answers the GitHub REST calls autolab makes, and records them.

It stands in for GitHub below PyGithub (the real client talks HTTP to it), and
reads the bare repository that plays `origin`, so PR heads and "merged" come
from real refs: like GitHub, a PR whose head commit reached the base branch
shows as merged. `fail()` scripts error answers (rate limits, 5xx), also after the
request was carried out. A person's PR (`add_pull`) also gets `refs/pull/<n>/head` in the
bare repository, as GitHub sets it. Labels, secret names, the Actions settings and the
token's scopes are plain attributes that a test sets, for `autolab doctor`.

What GitHub enforces, it enforces here too: `protect()` makes a pre-receive hook on the bare
repository refuse pushes to the branch (GH006), and the merge endpoint refuses a head
without the required statuses or not up to date with its base (405) or not the `sha` asked
for (409); PR titles over 256 and bodies over 65,536 characters are a 422, and without the
"Allow GitHub Actions to create and approve pull requests" setting creating a PR is a 403.
`before_merge` runs just before a merge is checked, so a test can move main right there.

And where GitHub takes its time, so does the fake: after a PR opens or its head or base
moves, GitHub computes mergeability in the background, so the next read of the PR says
`mergeable: null` and a merge sent meanwhile answers 405 "Base branch was modified"
(`unknown_reads` requests see it computing). Missing branches and PRs are 404s; an
organisation that forbids Actions PRs answers 409 to the setting
(`org_forbids_actions_prs`); `as_new_repository()` gives a new repository's defaults. `ci`
is a workflow's jobs (check name -> conclusion): a run starts on each PR head, but, as on
GitHub, not for what the job's own GITHUB_TOKEN (`actions_token`) did. The fake cannot see
who pushed (git talks to the bare repository directly), so the token of the API request that
first sees a PR head stands for the pusher's.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import github_spec


@dataclass
class Call:
    method: str
    path: str
    query: dict
    body: dict | None
    status: int = 0            # the answer, once given
    answer: object = None
    scripted: bool = False     # answered by fail(), not as GitHub would


@dataclass
class Fault:
    method: str
    path: re.Pattern
    status: int
    times: int
    headers: dict = field(default_factory=dict)
    message: str = "scripted failure"
    after: bool = False     # answer the failure only after carrying the request out


HOOK = """#!/bin/sh
# refs that only the API's merge may move, as GitHub's protected branches
while read -r old new ref; do
  if grep -qxF "$ref" "$GIT_DIR/protected-refs" 2>/dev/null; then
    echo "error: GH006: Protected branch update failed for $ref." >&2
    exit 1
  fi
done
"""
MAX_TITLE, MAX_BODY = 256, 65536
NO_ACTIONS_PRS = "GitHub Actions is not permitted to create or approve pull requests."
UPGRADE = "Upgrade to GitHub Pro or make this repository public to enable this feature."
BASE_MODIFIED = "Base branch was modified. Review and try the merge again."
ORG_POLICY = ("Conflict: the organization's policy does not allow GitHub Actions to create "
              "or approve pull requests.")
PASSED = ("success", "neutral", "skipped")   # conclusions that meet a required check


def clone_of_bare(seed: Path, tmp: Path) -> tuple[Path, Path]:
    """(clone, origin): `seed` pushed to a bare repository, then cloned back like CI does."""
    origin, clone = tmp / "origin.git", tmp / "clone"
    subprocess.run(["git", "clone", "-q", "--bare", str(seed), str(origin)], check=True)
    subprocess.run(["git", "clone", "-q", str(origin), str(clone)], check=True)
    return clone, origin


class FakeGitHub:
    def __init__(self, origin: Path, slug: str = "lab-owner/lab", main: str = "main"):
        self.origin, self.slug, self.main = origin, slug, main
        self.calls: list[Call] = []
        self.issues: dict[int, dict] = {}       # issues and PRs share numbers, as on GitHub
        self.comments: dict[int, dict] = {}
        self.reactions: dict[int, list[str]] = {}   # comment id -> reactions' contents
        self.statuses: list[dict] = []
        self.permissions: dict[str, str] = {}  # login -> role name (admin .. read)
        self.custom_roles: dict[str, str] = {}  # an organisation's custom role -> its base role
        self.faults: list[Fault] = []
        self.errors: list[str] = []
        self.labels: set[str] = set()
        self.protection: dict[str, dict] = {}   # branch -> its protection settings
        self.rulesets: list[dict] = []          # rules on `main`, as /rules/branches shows
        # for `autolab doctor`: rules of rulesets that target every branch (main included),
        # each ruleset's bypass actors by ruleset id, the repository's default branch and
        # plan, and an organisation policy that refuses the Actions create-PR setting
        self.all_branch_rules: list[dict] = []
        self.bypass_actors: dict[int, list[dict]] = {}
        self.default_branch: str | None = None  # None: `main`
        self.private, self.free_plan = False, False
        self.org_forbids_actions_prs = False
        self.secrets: list[str] = []
        self.org_secrets: list[str] = []
        self.environments: dict[str, list[str]] = {}  # environment -> its secret names
        self.workflow = {"default_workflow_permissions": "write",
                         "can_approve_pull_request_reviews": True}
        self.allow_merge_commit = True
        self.unknown_reads = 1      # requests that see a PR's mergeability still computing
        self.org_forbids_actions_prs = False
        self.ci: dict[str, str] = {}             # check name -> the conclusion its runs reach
        self.ci_reads = 1                        # reads of a run before it completes
        self.runs: dict[str, dict[str, int]] = {}  # head sha -> check name -> reads left
        self.actions_token: str | None = None    # what this token does starts no workflow
        self.token = ""                          # of the request being answered
        self.before_merge: Callable[[int], None] | None = None
        self.scopes: str | None = "repo"          # X-OAuth-Scopes; None for fine-grained tokens
        self.token_permissions = {"admin": True, "push": True, "pull": True}
        self.lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self.handler())
        self.url = f"http://127.0.0.1:{self.server.server_port}/api/v3"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        hook = origin / "hooks" / "pre-receive"
        hook.write_text(HOOK)
        hook.chmod(0o755)

    def __enter__(self) -> FakeGitHub:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()
        if github_spec.available():  # every answer checked against GitHub's description
            self.errors += github_spec.check_calls(self.calls)
        assert not self.errors, self.errors

    # scripting and inspecting ------------------------------------------------
    def fail(self, method: str, path: str, status: int, times: int = 1, after: bool = False,
             message: str = "scripted failure", **headers) -> None:
        self.faults.append(Fault(method, re.compile(path), status, times, headers, message,
                                 after))

    def as_new_repository(self) -> None:
        """The settings of a repository created today: Actions' token reads only and may not
        open PRs, merge commits allowed, nothing protected."""
        self.workflow = {"default_workflow_permissions": "read",
                         "can_approve_pull_request_reviews": False}
        self.allow_merge_commit = True
        self.protection, self.rulesets = {}, []
        self.refuse_pushes()

    def protect(self, branch: str, contexts: tuple = ("autolab/metric",), strict: bool = True,
                reviews: int = 0, linear: bool = False) -> None:
        """Classic branch protection, as GET .../protection shows it; pushes are refused."""
        self.protection[branch] = {
            "required_status_checks": {"strict": strict, "contexts": list(contexts),
                                       "checks": [{"context": c} for c in contexts]},
            "required_pull_request_reviews": {"required_approving_review_count": reviews}
            if reviews else None,
            "required_linear_history": {"enabled": linear},
            "enforce_admins": {"enabled": False}}
        self.refuse_pushes()

    def refuse_pushes(self) -> None:
        refs = {f"refs/heads/{b}" for b in self.protection} | (
            {f"refs/heads/{self.main}"} if self.rulesets else set())
        (self.origin / "protected-refs").write_text("".join(f"{r}\n" for r in sorted(refs)))

    def requirements(self, branch: str) -> tuple[set, bool, int]:
        """(required status contexts, must be up to date, approving reviews) on `branch`,
        from classic protection and rulesets together, as GitHub combines them."""
        classic = self.protection.get(branch) or {}
        checks = classic.get("required_status_checks") or {}
        contexts, strict = set(checks.get("contexts") or []), bool(checks.get("strict"))
        reviews = (classic.get("required_pull_request_reviews") or {}).get(
            "required_approving_review_count", 0)
        for rule in self.rulesets if branch == self.main else []:
            params = rule.get("parameters") or {}
            if rule["type"] == "required_status_checks":
                contexts |= {c["context"] for c in params["required_status_checks"]}
                strict = strict or params.get("strict_required_status_checks_policy", False)
            if rule["type"] == "pull_request":
                reviews = max(reviews, params.get("required_approving_review_count", 0))
        return contexts, strict, reviews

    def add_issue(self, title: str, author: str = "someone", labels: tuple = ()) -> int:
        number = len(self.issues) + 1
        self.issues[number] = {"kind": "issue", "title": title, "body": "", "state": "open",
                               "labels": list(labels), "user": author}
        return number

    def add_pull(self, branch: str, title: str, author: str, labels: tuple = (),
                 fork: str = "") -> int:
        """A person's PR from `branch` (already pushed to origin); `fork` names the repo
        it comes from when it is not this one."""
        number = len(self.issues) + 1
        head = self.rev(f"refs/heads/{branch}")
        subprocess.run(["git", "update-ref", f"refs/pull/{number}/head", head],
                       cwd=self.origin, check=True)
        self.issues[number] = {"kind": "pull", "title": title, "body": "", "state": "open",
                               "labels": list(labels), "user": author, "head": branch,
                               "head_sha": head, "base": self.main,
                               "head_repo": fork or self.slug}
        return number

    def add_comment(self, number: int, body: str, user: str) -> int:
        """A person's comment on issue or PR `number`; its id, as the event carries it."""
        cid = 1000 + len(self.comments)
        self.comments[cid] = {"issue": number, "body": body, "user": user}
        return cid

    def pulls(self) -> list[dict]:
        return [self.pull_json(n) for n, i in sorted(self.issues.items()) if i["kind"] == "pull"]

    def comments_on(self, number: int) -> list[dict]:
        return [c for c in self.comments.values() if c["issue"] == number]

    def writes(self) -> list[Call]:
        return [c for c in self.calls if c.method != "GET"]

    # the repository -----------------------------------------------------------
    def rev(self, ref: str) -> str | None:
        proc = subprocess.run(["git", "rev-parse", "--verify", "--quiet", ref], cwd=self.origin,
                              capture_output=True, text=True)
        return proc.stdout.strip() or None

    def in_main(self, sha: str) -> bool:
        return subprocess.run(["git", "merge-base", "--is-ancestor", sha, self.main],
                              cwd=self.origin).returncode == 0

    # JSON shapes, as far as PyGithub reads them ------------------------------
    def api(self, path: str) -> str:
        return f"{self.url}/repos/{self.slug}{path}"

    def pull_json(self, number: int) -> dict:
        pr = self.issues[number]
        if pr["state"] == "open":
            pr["head_sha"] = self.rev(f"refs/heads/{pr['head']}") or pr["head_sha"]
        merged = self.in_main(pr["head_sha"])
        return {"number": number, "id": number, "url": self.api(f"/pulls/{number}"),
                "html_url": f"https://github.test/{self.slug}/pull/{number}",
                "issue_url": self.api(f"/issues/{number}"), "title": pr["title"],
                "body": pr["body"], "state": "closed" if merged else pr["state"],
                "merged": merged, "labels": [{"name": n} for n in pr["labels"]],
                "user": {"login": pr["user"]},
                "head": {"ref": pr["head"], "sha": pr["head_sha"],
                         "label": f"{self.slug.split('/')[0]}:{pr['head']}",
                         "repo": {"full_name": pr.get("head_repo", self.slug)}},
                "base": {"ref": pr["base"], "sha": self.rev(pr["base"])}}

    def mergeability(self, number: int) -> dict:
        """`mergeable` as GitHub shows it: null while it computes, after a PR opens or its head
        or base moves; then whether the two merge cleanly."""
        pr = self.issues[number]
        if pr["state"] != "open" or self.in_main(pr["head_sha"]):
            return {"mergeable": None, "mergeable_state": "unknown"}
        if self.computing(number):
            return {"mergeable": None, "mergeable_state": "unknown"}
        clean = subprocess.run(["git", "merge-tree", "--write-tree", self.main, pr["head_sha"]],
                               cwd=self.origin, capture_output=True).returncode == 0
        return {"mergeable": clean, "mergeable_state": "clean" if clean else "dirty"}

    def computing(self, number: int) -> bool:
        """Whether this request still finds GitHub computing the PR's mergeability."""
        pr = self.issues[number]
        now = (pr["head_sha"], self.rev(pr["base"]))
        if pr.get("computed_for") != now:
            pr["computed_for"], pr["unknown_left"] = now, self.unknown_reads
        if pr["unknown_left"] > 0:
            pr["unknown_left"] -= 1
            return True
        return False

    def protection_json(self, branch: str) -> dict:
        """GitHub leaves out a protection setting that is off rather than send null."""
        return {"url": self.api(f"/branches/{branch}/protection"),
                **{k: v for k, v in self.protection[branch].items() if v is not None}}

    def branch_json(self, branch: str) -> dict:
        contexts = sorted(self.requirements(branch)[0]) if branch in self.protection else []
        return {"name": branch, "protected": branch in self.protection,
                "commit": {"sha": self.rev(f"refs/heads/{branch}"),
                           "url": self.api(f"/commits/{self.rev(f'refs/heads/{branch}')}")},
                "protection": {"enabled": branch in self.protection,
                               "required_status_checks": {
                                   "enforcement_level": "non_admins" if contexts else "off",
                                   "contexts": contexts,
                                   "checks": [{"context": c, "app_id": None}
                                              for c in contexts]}},
                "protection_url": self.api(f"/branches/{branch}/protection"),
                "_links": {"self": self.api(f"/branches/{branch}"),
                           "html": f"https://github.test/{self.slug}/tree/{branch}"}}

    def check_runs(self, sha: str) -> dict:
        """The CI workflow's runs on `sha`: started when a token that starts workflows first
        sees `sha` as an open PR's head, in progress for `ci_reads` reads, then concluded."""
        heads = {i["head_sha"] for i in self.issues.values()
                 if i["kind"] == "pull" and i["state"] == "open"}
        if sha not in self.runs and sha in heads and self.ci and self.token != \
                self.actions_token:
            self.runs[sha] = dict.fromkeys(self.ci, self.ci_reads)
        runs = []
        for n, (name, left) in enumerate(sorted(self.runs.get(sha, {}).items())):
            done = left <= 0
            self.runs[sha][name] = left - 1
            runs.append({
                "id": n + 1, "node_id": f"CR_{n + 1}", "head_sha": sha, "name": name,
                "external_id": "", "url": self.api(f"/check-runs/{n + 1}"),
                "html_url": f"https://github.test/{self.slug}/runs/{n + 1}",
                "details_url": None, "status": "completed" if done else "in_progress",
                "conclusion": self.ci[name] if done else None,
                "started_at": "2026-01-01T00:00:00Z",
                "completed_at": "2026-01-01T00:01:00Z" if done else None,
                "output": {"title": None, "summary": None, "text": None,
                           "annotations_count": 0,
                           "annotations_url": self.api(f"/check-runs/{n + 1}/annotations")},
                "check_suite": {"id": 1}, "app": None, "pull_requests": []})
        return {"total_count": len(runs), "check_runs": runs}

    def checks_passed(self, sha: str) -> dict[str, bool]:
        """{context: passed} of the statuses (latest wins) and concluded check runs on `sha`."""
        latest = {s["context"]: s["state"] == "success" for s in self.statuses
                  if s["sha"] == sha}
        for name, left in self.runs.get(sha, {}).items():
            if left < 0:
                latest[name] = self.ci[name] in PASSED
        return latest

    def status_json(self, index: int) -> dict:
        s = self.statuses[index]
        return {"id": index + 1, "node_id": f"SC_{index + 1}",
                "url": self.api(f"/statuses/{s['sha']}"), "avatar_url": None,
                "state": s["state"], "description": s.get("description"),
                "target_url": s.get("target_url"), "context": s.get("context", "default"),
                "created_at": "2026-01-01T00:00:00Z", "updated_at": "2026-01-01T00:00:00Z",
                "creator": None}

    def issue_json(self, number: int) -> dict:
        issue = self.issues[number]
        return {"number": number, "id": number, "url": self.api(f"/issues/{number}"),
                "html_url": f"https://github.test/{self.slug}/issues/{number}",
                "title": issue["title"], "body": issue["body"], "state": issue["state"],
                "labels": [{"name": n} for n in issue["labels"]],
                "user": {"login": issue["user"]}}

    def comment_json(self, cid: int) -> dict:
        c = self.comments[cid]
        return {"id": cid, "url": self.api(f"/issues/comments/{cid}"), "body": c["body"],
                "user": {"login": c["user"]}, "issue_url": self.api(f"/issues/{c['issue']}")}

    # routing -------------------------------------------------------------------
    def route(self, method: str, path: str, query: dict, body: dict) -> tuple[int, object]:
        repo = f"/api/v3/repos/{self.slug}"
        if not path.startswith(repo):
            return 404, {"message": "Not Found"}
        p = path[len(repo):]
        if method == "GET" and p == "":
            return 200, {"full_name": self.slug, "url": self.api(""), "name":
                         self.slug.split("/")[1],
                         "default_branch": self.default_branch or self.main,
                         "permissions": self.token_permissions, "private": self.private,
                         "allow_merge_commit": self.allow_merge_commit}
        if p == "/issues":
            wanted = set(filter(None, query.get("labels", "").split(",")))
            return 200, [self.issue_json(n) for n, i in sorted(self.issues.items())
                         if i["kind"] == "issue" and i["state"] == query.get("state", "open")
                         and wanted <= set(i["labels"])]
        if p == "/labels" and method == "POST":
            self.labels.add(body["name"])
            return 201, {"name": body["name"], "color": body["color"],
                         "url": self.api(f"/labels/{body['name']}")}
        if m := re.fullmatch(r"/labels/([^/]+)", p):
            if m.group(1) not in self.labels:
                return 404, {"message": "Not Found"}
            return 200, {"name": m.group(1), "color": "ededed", "url": self.api(p)}
        if m := re.fullmatch(r"/branches/([^/]+)", p):
            if self.rev(f"refs/heads/{m.group(1)}") is None:
                return 404, {"message": "Branch not found"}
            return 200, self.branch_json(m.group(1))
        if re.fullmatch(r"/branches/[^/]+/protection(/.*)?", p) and self.private and \
                self.free_plan:
            return 403, {"message": UPGRADE,
                         "documentation_url": "https://docs.github.com/rest/branches"}
        if m := re.fullmatch(r"/branches/([^/]+)/protection/required_status_checks", p):
            checks = self.protection[m.group(1)]["required_status_checks"]
            contexts = [c["context"] for c in body["checks"]]
            checks.update(strict=body["strict"], contexts=contexts, checks=body["checks"])
            return 200, {"url": self.api(p), **checks}
        if (m := re.fullmatch(r"/branches/([^/]+)/protection", p)) and method == "PUT":
            checks = body.get("required_status_checks") or {}
            reviews = body.get("required_pull_request_reviews") or {}
            # GitHub takes the required checks as `checks` or as the older `contexts`
            named = [c["context"] for c in checks.get("checks", [])] or checks.get("contexts", [])
            self.protect(m.group(1), tuple(named),
                         bool(checks.get("strict")),
                         reviews.get("required_approving_review_count", 0))
            return 200, self.protection_json(m.group(1))
        if (m := re.fullmatch(r"/branches/([^/]+)/protection", p)) and m.group(1) in \
                self.protection:
            return 200, self.protection_json(m.group(1))
        if p == "/actions/secrets":
            return 200, {"total_count": len(self.secrets),
                         "secrets": [{"name": n, "url": self.api(f"/actions/secrets/{n}")}
                                     for n in self.secrets]}
        if p == "/pulls" and method == "POST":
            return self.create_pull(body)
        if p == "/pulls":
            state, head = query.get("state", "open"), query.get("head")
            return 200, [pr for pr in self.pulls() if state in ("all", pr["state"])
                         and (head is None or pr["head"]["label"] == head)]
        if (m := re.fullmatch(r"/(pulls|issues)/(\d+)(/.*)?", p)) and (
                int(m.group(2)) not in self.issues or m.group(1) == "pulls"
                and self.issues[int(m.group(2))]["kind"] != "pull"):
            return 404, {"message": "Not Found"}
        if m := re.fullmatch(r"/pulls/(\d+)", p):
            number = int(m.group(1))
            if method == "PATCH" and (too_long := self.too_long(body)):
                return too_long
            if method == "PATCH":
                self.issues[number].update({k: v for k, v in body.items()
                                            if k in ("state", "title", "body")})
            return 200, {**self.pull_json(number), **self.mergeability(number)}
        if m := re.fullmatch(r"/issues/(\d+)", p):
            return 200, self.issue_json(int(m.group(1)))
        if m := re.fullmatch(r"/issues/(\d+)/labels", p):
            labels = self.issues[int(m.group(1))]["labels"]
            wanted = body["labels"] if isinstance(body, dict) else body  # both shapes exist
            labels.extend(n for n in wanted if n not in labels)
            return 200, [{"name": n} for n in labels]
        if m := re.fullmatch(r"/issues/(\d+)/comments", p):
            number = int(m.group(1))
            if method == "POST":
                cid = 1000 + len(self.comments)
                self.comments[cid] = {"issue": number, "body": body["body"],
                                      "user": "github-actions[bot]"}
                return 201, self.comment_json(cid)
            return 200, [self.comment_json(c) for c, v in self.comments.items()
                         if v["issue"] == number]
        if (m := re.fullmatch(r"/issues/comments/(\d+)/reactions", p)) and method == "POST":
            cid = int(m.group(1))
            if cid not in self.comments:
                return 404, {"message": "Not Found"}
            self.reactions.setdefault(cid, []).append(body["content"])
            return 201, {"id": len(self.reactions[cid]), "content": body["content"],
                         "user": {"login": "github-actions[bot]"}}
        if m := re.fullmatch(r"/issues/comments/(\d+)", p):
            cid = int(m.group(1))
            self.comments[cid]["body"] = body["body"]
            return 200, self.comment_json(cid)
        if m := re.fullmatch(r"/commits/([0-9a-f]{40})/check-runs", p):
            return 200, self.check_runs(m.group(1))
        if m := re.fullmatch(r"/commits/([0-9a-f]{40})/statuses", p):
            return 200, [self.status_json(i) for i in reversed(range(len(self.statuses)))
                         if self.statuses[i]["sha"] == m.group(1)]
        if m := re.fullmatch(r"/commits/([0-9a-f]{40})", p):
            return 200, {"sha": m.group(1), "url": self.api(f"/commits/{m.group(1)}")}
        if m := re.fullmatch(r"/statuses/([0-9a-f]{40})", p):
            self.statuses.append({"sha": m.group(1), **body})
            return 201, self.status_json(len(self.statuses) - 1)
        if m := re.fullmatch(r"/collaborators/([^/]+)/permission", p):
            role = self.permissions.get(m.group(1), "none")
            # the legacy field folds the newer roles into the old three, as GitHub does, and
            # a custom role into the role it is based on
            base = self.custom_roles.get(role, role)
            legacy = {"maintain": "write", "triage": "read"}.get(base, base)
            return 200, {"permission": legacy, "role_name": role,
                         "user": {"login": m.group(1)}}
        if m := re.fullmatch(r"/pulls/(\d+)/merge", p):
            return self.merge(int(m.group(1)), body)
        if m := re.fullmatch(r"/branches/([^/]+)/protection", p):
            return 404, {"message": "Branch not protected"}
        if m := re.fullmatch(r"/rules/branches/(.+)", p):
            # rulesets do not apply to a private repository on Free: no rule, and the only
            # status GitHub documents here is 200
            free = self.private and self.free_plan
            mine = self.rulesets if m.group(1) == self.main and not free else []
            # the main ruleset is id 1, the one on every branch id 2
            return 200, [{"type": r["type"], "parameters": r.get("parameters", {}),
                          "ruleset_source_type": "Repository", "ruleset_id": ruleset}
                         for ruleset, rules in ((1, mine),
                                                (2, [] if free else self.all_branch_rules))
                         for r in rules]
        if m := re.fullmatch(r"/rulesets/(\d+)", p):
            ruleset = int(m.group(1))
            return 200, {"id": ruleset, "name": f"ruleset {ruleset}", "target": "branch",
                         "source_type": "Repository", "source": self.slug,
                         "enforcement": "active",
                         "bypass_actors": self.bypass_actors.get(ruleset, [])}
        if p == "/actions/permissions/workflow":
            if method == "PUT" and self.org_forbids_actions_prs and body.get(
                    "can_approve_pull_request_reviews"):
                return 409, {"message": ORG_POLICY}
            if method == "PUT":
                self.workflow.update(body)
                return 204, None
            return 200, dict(self.workflow)
        if p == "/actions/organization-secrets":
            return 200, {"total_count": len(self.org_secrets),
                         "secrets": [{"name": n} for n in self.org_secrets]}
        if p == "/environments":
            return 200, {"total_count": len(self.environments), "environments": [
                {"name": n, "id": i, "url": self.api(f"/environments/{n}")}
                for i, n in enumerate(self.environments)]}
        if m := re.fullmatch(r"/environments/([^/]+)/secrets", p):
            names = self.environments.get(m.group(1), [])
            return 200, {"total_count": len(names), "secrets": [{"name": n} for n in names]}
        return 404, {"message": f"fake GitHub does not know {method} {p}"}

    def too_long(self, body: dict) -> tuple[int, object] | None:
        for name, limit in (("title", MAX_TITLE), ("body", MAX_BODY)):
            if len(body.get(name) or "") > limit:
                return 422, {"message": "Validation Failed", "errors": [{
                    "resource": "PullRequest", "field": name, "code": "custom",
                    "message": f"{name} is too long (maximum is {limit} characters)"}]}
        return None

    def create_pull(self, body: dict) -> tuple[int, object]:
        if not self.workflow["can_approve_pull_request_reviews"]:
            return 403, {"message": NO_ACTIONS_PRS}
        if too_long := self.too_long(body):
            return too_long
        head_sha = self.rev(f"refs/heads/{body['head']}")
        if head_sha is None:
            return 422, {"message": "Validation Failed", "errors": [{"field": "head"}]}
        label = f"{self.slug.split('/')[0]}:{body['head']}"
        if any(pr["head"]["label"] == label and pr["state"] == "open" for pr in self.pulls()):
            return 422, {"message": "Validation Failed", "errors": [{
                "resource": "PullRequest", "code": "custom",
                "message": f"A pull request already exists for {label}."}]}
        number = len(self.issues) + 1
        self.issues[number] = {"kind": "pull", "title": body["title"], "body": body["body"],
                               "state": "open", "labels": [], "user": "github-actions[bot]",
                               "head": body["head"], "head_sha": head_sha,
                               "base": body["base"]}
        return 201, self.pull_json(number)

    def merge(self, number: int, body: dict) -> tuple[int, object]:
        """PUT /pulls/{n}/merge with GitHub's refusals; the merge commit is made here."""
        if self.before_merge:
            self.before_merge(number)
        pr = self.pull_json(number)
        if pr["merged"] or pr["state"] != "open":
            return 405, {"message": "Pull Request is not mergeable"}
        head, base = pr["head"]["sha"], pr["base"]["sha"]
        if body.get("sha") and body["sha"] != head:
            return 409, {"message": "Head branch was modified. Review and try the merge again."}
        if self.computing(number):
            return 405, {"message": BASE_MODIFIED}
        contexts, strict, reviews = self.requirements(pr["base"]["ref"])
        passed = self.checks_passed(head)
        waiting = [c for c in contexts if not passed.get(c)]
        behind = strict and subprocess.run(["git", "merge-base", "--is-ancestor", base, head],
                                           cwd=self.origin).returncode != 0
        if waiting or behind:  # GitHub counts a behind head's checks as expected again
            return 405, {"message": f"{len(waiting or contexts)} of {len(contexts)} required "
                         f"status checks are expected."}
        if reviews:
            return 405, {"message": f"At least {reviews} approving review is required by "
                         f"reviewers with write access."}
        if body.get("merge_method", "merge") != "merge" or not self.allow_merge_commit:
            return 405, {"message": "Merge commits are not allowed on this repository."}
        tree = subprocess.run(["git", "merge-tree", "--write-tree", base, head], cwd=self.origin,
                              capture_output=True, text=True)
        if tree.returncode:
            return 405, {"message": "Pull Request is not mergeable"}
        message = body.get("commit_title") or f"Merge pull request #{number}"
        commit = subprocess.run(
            ["git", "commit-tree", tree.stdout.split()[0], "-p", base, "-p", head, "-m", message,
             *(["-m", body["commit_message"]] if body.get("commit_message") else [])],
            cwd=self.origin, capture_output=True, text=True, check=True, env={
                "GIT_AUTHOR_NAME": "GitHub", "GIT_AUTHOR_EMAIL": "noreply@github.test",
                "GIT_COMMITTER_NAME": "GitHub", "GIT_COMMITTER_EMAIL": "noreply@github.test",
                "PATH": os.environ["PATH"]}).stdout.strip()
        ref = f"refs/heads/{pr['base']['ref']}"
        if subprocess.run(["git", "update-ref", ref, commit, base], cwd=self.origin).returncode:
            return 405, {"message": "Base branch was modified. Review and try the merge again."}
        self.issues[number]["state"] = "closed"
        return 200, {"sha": commit, "merged": True, "message": "Pull Request successfully merged"}

    def answer(self, method: str, raw_path: str, body: bytes, token: str = "") -> tuple[
            int, dict, object]:
        url = urlparse(raw_path)
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        data = json.loads(body) if body else None
        with self.lock:
            call = Call(method, url.path, query, data)
            self.calls.append(call)
            self.token = token
            status, headers, payload = self.answer_locked(call, query)
            call.status, call.answer = status, payload
            return status, headers, payload

    def answer_locked(self, call: Call, query: dict) -> tuple[int, dict, object]:
        fault = next((f for f in self.faults if f.times and f.method == call.method
                      and f.path.search(call.path)), None)
        if fault:
            fault.times -= 1
            call.scripted = True
            if not fault.after:
                return fault.status, fault.headers, {"message": fault.message}
        try:
            status, payload = self.route(call.method, call.path, query, call.body or {})
        except Exception as exc:  # a bug here must fail the test, not look like a 5xx
            self.errors.append(f"{call.method} {call.path}: {exc!r}")
            status, payload = 418, {"message": repr(exc)}
        if fault:  # it was carried out, and the answer got lost on the way
            return fault.status, fault.headers, {"message": fault.message}
        return status, {} if self.scopes is None else {"X-OAuth-Scopes": self.scopes}, payload

    def handler(self):
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do(self):
                length = int(self.headers.get("Content-Length") or 0)
                token = (self.headers.get("Authorization") or "").split(" ")[-1]
                status, headers, payload = fake.answer(self.command, self.path,
                                                       self.rfile.read(length), token)
                data = b"" if payload is None else json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for name, value in headers.items():
                    self.send_header(name.replace("_", "-"), str(value))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = do

            def log_message(self, *args):
                pass

        return Handler
