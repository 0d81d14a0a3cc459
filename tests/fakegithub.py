"""A local HTTP server that answers the GitHub REST calls autolab makes, and records them.

It stands in for GitHub below PyGithub (the real client talks HTTP to it), and
reads the bare repository that plays `origin`, so PR heads and "merged" come
from real refs: like GitHub, a PR whose head commit reached the base branch
shows as merged. `fail()` scripts error answers (rate limits, 5xx). A person's PR
(`add_pull`) also gets `refs/pull/<n>/head` in the bare repository, as GitHub sets it.
Labels, branch protection, secret names and the token's scopes are plain attributes
that a test sets, for `autolab doctor`.
"""

from __future__ import annotations

import json
import re
import subprocess
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlparse


@dataclass
class Call:
    method: str
    path: str
    query: dict
    body: dict | None


@dataclass
class Fault:
    method: str
    path: re.Pattern
    status: int
    times: int
    headers: dict = field(default_factory=dict)
    message: str = "scripted failure"


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
        self.statuses: list[dict] = []
        self.permissions: dict[str, str] = {}
        self.faults: list[Fault] = []
        self.errors: list[str] = []
        self.labels: set[str] = set()
        self.protection: dict[str, dict] = {}   # branch -> its protection settings
        self.secrets: list[str] = []
        self.scopes: str | None = "repo"          # X-OAuth-Scopes; None for fine-grained tokens
        self.token_permissions = {"admin": True, "push": True, "pull": True}
        self.lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self.handler())
        self.url = f"http://127.0.0.1:{self.server.server_port}/api/v3"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> FakeGitHub:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()
        assert not self.errors, self.errors

    # scripting and inspecting ------------------------------------------------
    def fail(self, method: str, path: str, status: int, times: int = 1, **headers) -> None:
        self.faults.append(Fault(method, re.compile(path), status, times, headers))

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
                         self.slug.split("/")[1], "default_branch": self.main,
                         "permissions": self.token_permissions}
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
            return 200, {"name": m.group(1), "protected": m.group(1) in self.protection,
                         "commit": {"sha": self.rev(m.group(1))},
                         "protection_url": self.api(f"{p}/protection")}
        if m := re.fullmatch(r"/branches/([^/]+)/protection", p):
            if m.group(1) not in self.protection:
                return 404, {"message": "Branch not protected"}
            return 200, {"url": self.api(p), **self.protection[m.group(1)]}
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
        if m := re.fullmatch(r"/pulls/(\d+)", p):
            number = int(m.group(1))
            if method == "PATCH":
                self.issues[number].update({k: v for k, v in body.items()
                                            if k in ("state", "title", "body")})
            return 200, self.pull_json(number)
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
        if m := re.fullmatch(r"/issues/comments/(\d+)", p):
            cid = int(m.group(1))
            self.comments[cid]["body"] = body["body"]
            return 200, self.comment_json(cid)
        if m := re.fullmatch(r"/commits/([0-9a-f]{40})", p):
            return 200, {"sha": m.group(1), "url": self.api(f"/commits/{m.group(1)}")}
        if m := re.fullmatch(r"/statuses/([0-9a-f]{40})", p):
            self.statuses.append({"sha": m.group(1), **body})
            return 201, {"id": len(self.statuses), "url": self.api(p), **body}
        if m := re.fullmatch(r"/collaborators/([^/]+)/permission", p):
            permission = self.permissions.get(m.group(1), "none")
            return 200, {"permission": permission, "user": {"login": m.group(1)}}
        return 404, {"message": f"fake GitHub does not know {method} {p}"}

    def create_pull(self, body: dict) -> tuple[int, object]:
        head_sha = self.rev(f"refs/heads/{body['head']}")
        if head_sha is None:
            return 422, {"message": "Validation Failed", "errors": [{"field": "head"}]}
        number = len(self.issues) + 1
        self.issues[number] = {"kind": "pull", "title": body["title"], "body": body["body"],
                               "state": "open", "labels": [], "user": "github-actions[bot]",
                               "head": body["head"], "head_sha": head_sha,
                               "base": body["base"]}
        return 201, self.pull_json(number)

    def answer(self, method: str, raw_path: str, body: bytes) -> tuple[int, dict, object]:
        url = urlparse(raw_path)
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        data = json.loads(body) if body else None
        with self.lock:
            self.calls.append(Call(method, url.path, query, data))
            for fault in self.faults:
                if fault.times and fault.method == method and fault.path.search(url.path):
                    fault.times -= 1
                    return fault.status, fault.headers, {"message": fault.message}
            try:
                status, payload = self.route(method, url.path, query, data or {})
            except Exception as exc:  # a bug here must fail the test, not look like a 5xx
                self.errors.append(f"{method} {url.path}: {exc!r}")
                status, payload = 418, {"message": repr(exc)}
        return status, {} if self.scopes is None else {"X-OAuth-Scopes": self.scopes}, payload

    def handler(self):
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do(self):
                length = int(self.headers.get("Content-Length") or 0)
                status, headers, payload = fake.answer(self.command, self.path,
                                                       self.rfile.read(length))
                data = json.dumps(payload).encode()
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
