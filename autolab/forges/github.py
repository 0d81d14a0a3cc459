"""The forge on GitHub: trial branches pushed to `origin`, PRs and comments through PyGithub.

The lab directory is a clone whose `origin` is the GitHub repository. Commits
are built there with autolab.gitops (never in a worktree) and pushed with git.
`main` moves one of two ways, chosen by what GitHub enforces on it:

- unprotected: a push leased on the sha the trial was evaluated against; a PR
  whose head commit reaches `main` this way shows as merged on GitHub;
- protected (classic protection or a ruleset, which refuse the bot's push): the
  scores row and pages become the trial branch's last commit, `autolab/metric`
  success is set on that head, and GitHub merges the PR pinned to it. With
  `autolab/metric` required and branches required to be up to date, GitHub itself
  refuses any combination that was not evaluated.

Either way a lost race is a StaleError, never a merge of an unevaluated state.

API calls go through PyGithub's own GithubRetry, made safe for writes (rate
limits on 403/429 wait for the reset, idempotent requests back off on 5xx, creates
look before they try again); what still fails is an InfraError, which the loop
never blames on the idea.

Its place in the whole: ARCHITECTURE.md, "Contracts".
"""

from __future__ import annotations

import json
import os
import re
import time
import uuid
from dataclasses import asdict, replace

import git
from github import Github, GithubException

from autolab import scores
from autolab.config import Lab
from autolab.errors import InfraError, LabError, RefusedError, StaleError, UserError
from autolab.forges.base import (
    REPORT_MARKER,
    BaseForge,
    Pages,
    keep_message,
    main_commit,
    pr_body,
    scores_files,
)
from autolab.github_api import (
    api_call,
    auth_env,
    client,
    created,
    repo_slug,
    settings,
)
from autolab.gitops import BOT, Repo
from autolab.integrity import manifest_at, watched
from autolab.ledger import take_in
from autolab.records import Proposal, ScoreRow, Status, Trial, trial_id_of, trial_number
from autolab.refs import IDS, LEDGER, PENDING, TRIALS, first_free_id

LABEL = "autolab"
IDEA_LABEL = "autolab-idea"
STATUS_CONTEXT = "autolab/metric"
REMOTE = "refs/remotes/origin/"
META = re.compile(r"<!-- autolab:trial (\{.*?\}) -->", re.S)
# rules that leave a fast-forward push of main alone; any other rule on main refuses it
PUSHABLE_RULES = {"deletion", "non_fast_forward", "creation"}
# GitHub's answers to a merge it refuses: 405 (checks, up to date, not mergeable), 409 (sha)
REFUSED = (405, 409)
# ... and those it gives while it still computes mergeability after a push: ask again later
TRANSIENT = re.compile(r"(Base|Head) branch was modified|try the merge again", re.I)
MERGE_WAIT_S = 300.0        # how long GitHub may take to settle whether a PR can merge
MAX_POLL_S = 60.0
PASSED = {"success", "neutral", "skipped"}      # check conclusions a required check accepts
FAILED = {"failure", "error", "cancelled", "timed_out", "action_required", "startup_failure",
          "stale"}
VERDICT = "verdict.json"
MAX_ID_SKIPS = 50        # trial ids taken by other drivers that one open may step over
MAX_TITLE = 256             # GitHub's limits on a PR; past them it answers 422
MAX_TEXT = 8000             # of a hypothesis or rationale in a PR body (65,536 in all)


def poll_s() -> float:
    """The first wait between two looks at GitHub's state; doubled after each look."""
    return float(os.environ.get("AUTOLAB_GITHUB_POLL_S", "1"))


def checks_timeout_s() -> float:
    """How long a merge waits for the other checks `main` requires (default 30 minutes)."""
    return float(os.environ.get("AUTOLAB_CHECKS_TIMEOUT_S", "1800"))


def cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def trial_title(p: Proposal) -> str:
    return cut(f"[autolab] {p.hypothesis}", MAX_TITLE)


def trial_body(p: Proposal) -> str:
    """The body people read, and the proposal as JSON for a rerun to resume it, within
    GitHub's 65,536 characters: no diff (the change is the branch, this PR's Files changed,
    read back from git on resume) and long texts cut."""
    small = replace(p, diff="", hypothesis=cut(p.hypothesis, MAX_TEXT),
                    rationale=cut(p.rationale, MAX_TEXT))
    meta = json.dumps({k: v for k, v in asdict(small).items() if k != "diff"}).replace(
        ">", "\\u003e")  # never ends the HTML comment
    change = (f"**Change:** this PR's own diff, its branch against the parent "
              f"`{p.parent_sha[:10]}` (Files changed)\n")
    return (f"{pr_body(small)}\n{change}\n"
            f"<!-- autolab:trial {meta} -->\n")


def next_id(trial_id: str) -> str:
    return trial_id_of(trial_number(trial_id) + 1)


def keep_description(row: ScoreRow) -> str:
    return f"keep: {row.metric:.6g} ± {row.metric_std:.3g}"


def pr_number(trial: Trial) -> int:
    return int(trial.pr.rstrip("/").rsplit("/", 1)[-1])


class GitHubForge(BaseForge):
    name = "github"

    def __init__(self, lab: Lab, main: str | None = None, gh: Github | None = None):
        main = main or lab.config.branch
        self.lab, self.main = lab, main
        self.repo = Repo(lab.root)
        try:
            origin = self.repo.git.remote("get-url", "origin")
        except git.GitCommandError:
            raise LabError(f"{lab.root}: no `origin` remote; clone the GitHub repository "
                           f"and run autolab in the clone") from None
        api, token = settings()
        self.git_env = auth_env(origin, token)
        self.gh = gh or client(api, token)
        self.slug = repo_slug(origin)
        self.gh_repo = self.gh.get_repo(self.slug)
        self._protected: bool | None = None
        self._required: set[str] = set()  # checks main requires, read with `_protected`
        self.starts_workflows = bool(os.environ.get("AUTOLAB_TOKEN"))
        self.fetch(f"+{TRIALS}*:{TRIALS}*")  # so trial ids never repeat
        if not self.main_sha():
            raise LabError(f"{origin}: no branch `{main}`; push the lab there first")
        self.sync_ledger()

    # git ---------------------------------------------------------------------
    def git_remote(self, *args: str) -> str:
        try:
            return self.repo.git.execute(["git", *args], env={**os.environ, **self.git_env})
        except git.GitCommandError as exc:
            said = f"{exc.stdout}{exc.stderr}"
            # the last: two pushes to one ref at the same moment, and ours lost the race
            if re.search(r"\[rejected\]|stale info|fetch first|non-fast-forward|"
                         r"cannot lock ref .*(reference already exists|but expected)", said):
                raise StaleError(f"origin refused `{args[-1]}`: it moved") from None
            if re.search(r"GH006|GH013|protected branch|hook declined", said):
                self._protected = None  # protected since we looked: the next try merges by PR
                raise InfraError(f"origin refused the push of `{args[-1]}`: the branch is "
                                 f"protected; the next run merges through the PR") from None
            raise InfraError(f"git {args[0]} to origin failed: "
                             f"{exc.stderr.strip()[-300:]}") from None

    def fetch(self, *refspecs: str) -> None:
        self.git_remote("fetch", "--quiet", "origin", *refspecs)

    def push(self, src: str, ref: str, expect: str | None = None) -> None:
        """Set `ref` on origin to `src`, only if it is `expect` now ('' means absent)."""
        lease = [] if expect is None else [f"--force-with-lease={ref}:{expect}"]
        self.git_remote("push", "--quiet", "--porcelain", *lease, "origin", f"{src}:{ref}")

    def remote_refs(self, *refs: str) -> dict[str, str]:
        """{ref: sha} of those `refs` that exist on origin now, their commits fetched."""
        lines = self.git_remote("ls-remote", "origin", *refs).splitlines()
        found = {ref: sha for sha, ref in (line.split("\t") for line in lines) if ref in refs}
        unknown = [f"+{ref}:{REMOTE}{ref.removeprefix('refs/heads/')}"
                   if ref.startswith("refs/heads/") else f"+{ref}:{ref}"
                   for ref, sha in found.items() if not self.repo.rev(sha)]
        if unknown:
            self.fetch(*unknown)
        return found

    def remote_head(self, branch: str) -> str | None:
        """The branch's sha on origin now, its commits fetched; None if it is not there."""
        return self.remote_refs(f"refs/heads/{branch}").get(f"refs/heads/{branch}")

    # reading -----------------------------------------------------------------
    def main_sha(self) -> str:
        sha = self.remote_head(self.main)
        if sha is None:
            raise LabError(f"origin has no branch `{self.main}`; push the lab's "
                           f"`{self.main}` first")
        return sha

    def scores(self) -> list[ScoreRow]:
        return scores.current(scores.parse(self.repo.read(self.main_sha(), scores.PATH)))

    def open_trials(self) -> list[Trial]:
        trials = []
        with api_call("list open trial PRs"):
            for pr in self.gh_repo.get_pulls(state="open", base=self.main):
                meta = META.search(pr.body or "")
                if meta and LABEL in {label.name for label in pr.labels}:
                    trials.append(self.trial(pr.html_url, pr.head.ref, pr.head.sha,
                                             json.loads(meta.group(1))))
        return trials

    def trial(self, url: str, branch: str, head: str, proposal: dict) -> Trial:
        if not self.repo.rev(head):
            self.fetch(f"+refs/heads/{branch}:{REMOTE}{branch}")
        self.repo.git.update_ref(f"refs/heads/{branch}", head)  # reserve() skips its id
        manifest = manifest_at(self.repo, head, watched(self.lab.config))
        if "diff" not in proposal:  # the body keeps no diff: the branch is the change
            proposal = {**proposal, "diff": self.repo.git.diff(
                "--binary", "--full-index", proposal["parent_sha"], head) + "\n"}
        return Trial(trial_id=branch.removeprefix("autolab/"), branch=branch, pr=url,
                     commit_sha=head, manifest=manifest,
                     proposal=Proposal.from_dict(proposal))

    # writing -----------------------------------------------------------------
    def successor(self, trial_id: str, commit_sha: str, pr: str, proposal: Proposal) -> Trial:
        branch = f"autolab/{trial_id}"
        self.push(commit_sha, f"refs/heads/{branch}", "")   # the merge checks this branch
        return Trial(trial_id=trial_id, branch=branch, pr=pr, commit_sha=commit_sha,
                     proposal=proposal,
                     manifest=manifest_at(self.repo, commit_sha, watched(self.lab.config)))

    def open_trial(self, trial_id: str, proposal: Proposal) -> Trial:
        """The trial's branch and PR under `trial_id`, or under the next free id when another
        driver of this lab holds that one: its branch, PR or kept code is never taken over."""
        commit = self.repo.commit_diff(proposal.parent_sha, proposal.diff, proposal.hypothesis)
        for _attempt in range(MAX_ID_SKIPS):
            trial = self.claim(trial_id, commit, proposal)
            if trial is not None:
                return trial
            trial_id = next_id(trial_id)
        raise InfraError(f"{MAX_ID_SKIPS} trial ids in a row were taken on origin; is another "
                         f"run opening trials in a loop?")

    def reserve(self, after: int) -> str:
        """The first id above `after` and this clone's trial refs that no other driver of
        this lab holds, claimed by creating refs/autolab/ids/<id> on origin, which only one
        push can do. Every ledger row takes its id from here, so rows of two drivers never
        share one."""
        trial_id = first_free_id(self.repo, after)
        # a commit of this driver's own: were two claims pushing the same sha, git would call
        # the second "up to date" and never check that the ref had to be absent
        main = self.main_sha()
        for _attempt in range(MAX_ID_SKIPS):
            claim = self.repo.git.commit_tree(f"{main}^{{tree}}", "-p", main, "-m",
                                              f"autolab: {trial_id} claimed by {uuid.uuid4()}",
                                              env=BOT)  # a hosted runner has no identity
            try:
                self.push(claim, f"{IDS}{trial_id}", "")
                return trial_id
            except StaleError:
                trial_id = next_id(trial_id)
        raise InfraError(f"{MAX_ID_SKIPS} trial ids in a row were taken on origin; is another "
                         f"run opening trials in a loop?")

    def claim(self, trial_id: str, commit: str, proposal: Proposal) -> Trial | None:
        """Open the trial as `trial_id`; None when that id is another driver's."""
        branch = f"autolab/{trial_id}"
        refs = self.remote_refs(f"refs/heads/{branch}", f"{TRIALS}{trial_id}")
        existing = refs.get(f"refs/heads/{branch}")
        if f"{TRIALS}{trial_id}" in refs or (existing and not self.same_tree(existing,
                                                                                 commit)):
            return None
        if existing:
            commit = existing  # ours, killed between its branch and its PR: keep the commit
        else:
            try:
                self.push(commit, f"refs/heads/{branch}", "")
            except StaleError:
                return None  # another driver pushed this branch a moment ago
        try:
            with api_call(f"open the PR of {trial_id}"):
                found = list(self.gh_repo.get_pulls(state="all", head=self.head_label(branch)))
                if found and (existing or found[0].head.sha != commit):
                    return None  # the PR of another driver that opened the same change
                pr = found[0] if found else self.create_pull(branch, commit, proposal)
                if pr is None:
                    return None
                # adding twice is one; the documented `{"labels": [...]}` body, where
                # PyGithub's add_to_labels sends a bare list the REST description lacks
                created(lambda: self.gh_repo.requester.requestJsonAndCheck(
                    "POST", f"{pr.issue_url}/labels", input={"labels": [LABEL, proposal.role]}))
                url = pr.html_url
        except UserError:  # no PR can open here: leave no branch behind, the trial never began
            if not existing:
                self.push("", f"refs/heads/{branch}")
            raise
        return self.trial(url, branch, commit, asdict(proposal))

    def create_pull(self, branch: str, commit: str, proposal: Proposal):
        """The PR, or None when GitHub says one exists already for `branch` (another
        driver's, opened between our look and our create)."""
        def landed():
            found = list(self.gh_repo.get_pulls(state="all", head=self.head_label(branch)))
            return next((pr for pr in found if pr.head.sha == commit), None)

        try:
            return created(lambda: self.gh_repo.create_pull(
                base=self.main, head=branch, title=trial_title(proposal),
                body=trial_body(proposal)), landed)
        except GithubException as exc:
            if exc.status == 422 and "already exists" in json.dumps(exc.data):
                return None
            raise

    def same_tree(self, a: str, b: str) -> bool:
        return self.repo.rev(f"{a}^{{tree}}") == self.repo.rev(f"{b}^{{tree}}")

    def comment(self, trial: Trial, body: str) -> None:
        text = f"{REPORT_MARKER}\n{body}"
        with api_call(f"comment on {trial.pr}"):
            pr = self.gh_repo.get_pull(pr_number(trial))

            def mine():
                return next((c for c in pr.get_issue_comments()
                             if c.body.startswith(REPORT_MARKER)), None)

            found = mine()
            if found is None:
                found = created(lambda: pr.create_issue_comment(text), mine)
            if found.body != text:
                found.edit(text)

    def set_baseline(self, evaluated_sha: str, row: ScoreRow, pages: Pages | None = None) -> str:
        if not self.protected():
            expected, commit = main_commit(self.repo, evaluated_sha, row, pages=pages)
            self.push(commit, f"refs/heads/{self.main}", expected)
            return commit
        # through a PR of its own, as any change to a protected main
        branch = f"autolab/baseline-{evaluated_sha[:10]}"
        head = self.remote_head(branch)
        commit = self.repo.commit_files(evaluated_sha, scores_files(
            self.repo, evaluated_sha, row, pages), keep_message(row, None), [evaluated_sha])
        self.push(commit, f"refs/heads/{branch}", head or "")
        with api_call(f"open the baseline PR from {branch}"):
            found = list(self.gh_repo.get_pulls(state="open", head=self.head_label(branch)))
            pr = found[0] if found else self.gh_repo.create_pull(
                base=self.main, head=branch, title=cut(keep_message(row, None), MAX_TITLE),
                body="The baseline's scores row and pages; autolab merges it.")
        self.status(commit, "success", "baseline", pr.html_url)
        merged = self.merge_pr(pr.number, commit, evaluated_sha, keep_message(row, None))
        self.push("", f"refs/heads/{branch}")
        return merged

    def merge(self, trial: Trial, evaluated_sha: str, row: ScoreRow,
              pages: Pages | None = None) -> str:
        main = self.main_sha()
        landed = [r for r in scores.parse(self.repo.read(main, scores.PATH))
                  if r.trial_id == trial.trial_id and r.commit_sha == evaluated_sha]
        if not landed:  # else an interrupted run already merged it: only the rest is left
            head = self.remote_head(trial.branch)
            if head is None:
                raise StaleError(f"{trial.branch} is no longer on origin")
            if head != evaluated_sha and not (self.protected() and self.is_scores_commit(
                    head, evaluated_sha)):
                raise StaleError(f"{trial.branch} is at {head}, not the evaluated "
                                 f"{evaluated_sha}")
            if self.protected():
                main = self.merge_through_pr(trial, head, evaluated_sha, row, pages)
            else:
                expected, main = main_commit(self.repo, evaluated_sha, row, trial, pages)
                self.push(main, f"refs/heads/{self.main}", expected)
        self.status(evaluated_sha, "success", keep_description(row), trial.pr)
        self.push(evaluated_sha, f"{TRIALS}{trial.trial_id}")
        return main

    def merge_through_pr(self, trial: Trial, head: str, evaluated_sha: str, row: ScoreRow,
                         pages: Pages | None) -> str:
        """The scores row and pages as the branch's last commit (the trained files stay as
        evaluated), autolab/metric success on it, then GitHub's merge pinned to it."""
        expected = trial.proposal.parent_sha
        if (main := self.main_sha()) != expected:
            raise StaleError(f"main moved from {expected[:10]} to {main[:10]}")
        commit = self.repo.commit_files(evaluated_sha, scores_files(
            self.repo, expected, row, pages), keep_message(row, trial), [evaluated_sha])
        self.push(commit, f"refs/heads/{trial.branch}", head)
        self.status(commit, "success", keep_description(row), trial.pr)
        return self.merge_pr(self.pr_of_branch(trial), commit, expected,
                             keep_message(row, trial))

    def pr_of_branch(self, trial: Trial) -> int:
        """The number of the open PR from the trial's branch. An override (`/keep`, a
        release) is a new trial id on an earlier trial's PR, whose branch is another or gone:
        GitHub merges PRs, not branches, so it gets a PR of its own, linked from the body."""
        with api_call(f"find the PR of {trial.branch}"):
            pr = self.gh_repo.get_pull(pr_number(trial))
            if pr.state == "open" and pr.head.ref == trial.branch:
                return pr.number

            def opened():
                return next(iter(self.gh_repo.get_pulls(
                    state="open", head=self.head_label(trial.branch))), None)

            own = opened() or created(lambda: self.gh_repo.create_pull(
                base=self.main, head=trial.branch, title=trial_title(trial.proposal),
                body=f"{trial.proposal.source} of {trial.pr}\n\n{pr_body(trial.proposal)}"),
                opened)
            return own.number

    def merge_pr(self, number: int, head: str, expected_main: str, title: str) -> str:
        """Merge PR #number at exactly `head`, once the other checks main requires pass on it.
        GitHub's refusal because main moved (its up-to-date rule) or the head moved is a
        StaleError; its answers while it still computes mergeability (`mergeable: null`, 405
        "Base branch was modified") are waited out with backoff; any other refusal says why."""
        self.wait_for_checks(head)
        deadline, delay = time.monotonic() + MERGE_WAIT_S, poll_s()
        while True:
            with api_call(f"merge PR #{number}"):
                pr = self.gh_repo.get_pull(number)
                if pr.merged:  # a retried request after the first landed
                    return self.main_sha()
                branch, mergeable = pr.head.ref, pr.mergeable
                refused = "mergeability not computed yet"
                if mergeable is not None:
                    try:
                        return pr.merge(sha=head, merge_method="merge",
                                        commit_title=title[:250],
                                        commit_message=f"Merge pull request #{number}").sha
                    except GithubException as exc:
                        if exc.status not in REFUSED:
                            raise
                        refused = exc.data.get("message", "") if isinstance(exc.data,
                                                                            dict) else ""
                if self.gh_repo.get_pull(number).merged:
                    return self.main_sha()
            main = self.main_sha()
            if main != expected_main or self.remote_head(branch) != head:
                raise StaleError(f"GitHub refused to merge #{number} ({refused}): main moved "
                                 f"from {expected_main[:10]} to {main[:10]}")
            if mergeable is False:
                raise InfraError(f"GitHub refused to merge #{number}: it does not merge "
                                 f"cleanly into `{self.main}` ({refused})")
            if mergeable is not None and not TRANSIENT.search(refused):
                raise InfraError(f"GitHub refused to merge #{number}: {refused}; "
                                 f"`{self.main}`'s protection must let the bot merge once "
                                 f"its required checks pass (no required reviews, merge "
                                 f"commits allowed); see `autolab doctor`")
            if time.monotonic() + delay > deadline:
                raise InfraError(f"GitHub was still working out whether #{number} can merge "
                                 f"after {MERGE_WAIT_S:.0f} s (it said: {refused}); the "
                                 f"verdict stays, and the next run merges it")
            time.sleep(delay)
            delay = min(2 * delay, MAX_POLL_S)

    def wait_for_checks(self, head: str) -> None:
        """Wait until every check main requires, other than autolab's own, passed on `head`.
        A failed one is the trial's own failing (RefusedError); one that never comes is
        most often a workflow GitHub did not start for GITHUB_TOKEN's push (InfraError)."""
        required = self.required_checks() - {STATUS_CONTEXT}
        deadline, delay = time.monotonic() + checks_timeout_s(), poll_s()
        while required:
            seen = self.check_states(head)
            if failed := sorted(c for c in required if seen.get(c) is False):
                raise RefusedError(f"required check `{failed[0]}` failed on {head[:10]}")
            waiting = sorted(c for c in required if not seen.get(c))
            if not waiting:
                return
            if time.monotonic() + delay > deadline:
                names = ", ".join(f"`{c}`" for c in waiting)
                never = [c for c in waiting if c not in seen]
                why = ("; GitHub starts no workflow for what the job's GITHUB_TOKEN pushes or "
                       "opens: put a GitHub App installation token or a personal token in "
                       "the AUTOLAB_TOKEN secret, or stop requiring them on "
                       f"`{self.main}`" if never and not self.starts_workflows else "")
                raise InfraError(f"required check(s) {names} did not pass on {head[:10]} "
                                 f"within {checks_timeout_s():.0f} s{why}; the verdict "
                                 f"stays, and the next run merges it")
            time.sleep(delay)
            delay = min(2 * delay, MAX_POLL_S)

    def required_checks(self) -> set[str]:
        self.protected()
        return set(self._required)

    def check_states(self, sha: str) -> dict[str, bool | None]:
        """{check name: passed (True), failed (False), running (None)} on `sha`, from commit
        statuses (the newest per context) and check runs (the newest per name)."""
        seen: dict[str, bool | None] = {}
        with api_call(f"read the checks on {sha[:10]}"):
            # newest first; the first 100 hold any check a lab requires
            _headers, statuses = self.gh_repo.requester.requestJsonAndCheck(
                "GET", f"{self.gh_repo.url}/commits/{sha}/statuses",
                parameters={"per_page": 100})
            for status in reversed(statuses):
                state = status["state"]
                seen[status["context"]] = True if state == "success" else (
                    None if state == "pending" else False)
            for run in sorted(self.gh_repo.get_commit(sha).get_check_runs(), key=lambda r: r.id):
                seen[run.name] = None if run.status != "completed" else (
                    True if run.conclusion in PASSED else
                    False if run.conclusion in FAILED else None)
        return seen

    def protected(self) -> bool:
        """Whether GitHub refuses pushes to main: classic protection, or a ruleset with a
        rule a fast-forward push cannot meet. Asked once per run."""
        if self._protected is None:
            with api_call(f"read the rules on `{self.main}`"):
                branch = self.gh_repo.get_branch(self.main)
                _headers, rules = self.gh_repo.requester.requestJsonAndCheck(
                    "GET", f"{self.gh_repo.url}/rules/branches/{self.main}")
            classic = (branch.raw_data.get("protection") or {}).get(
                "required_status_checks") or {}
            self._required = set(classic.get("contexts") or []) | {
                check["context"] for rule in rules if rule["type"] == "required_status_checks"
                for check in rule["parameters"]["required_status_checks"]}
            self._protected = branch.protected or bool({r["type"] for r in rules}
                                                       - PUSHABLE_RULES)
        return self._protected

    def is_scores_commit(self, head: str | None, evaluated_sha: str) -> bool:
        """`head` is the bot's scores commit on `evaluated_sha`, left by an interrupted merge."""
        if not head or self.repo.rev(f"{head}^") != evaluated_sha:
            return False
        changed = self.repo.git.diff("--name-only", evaluated_sha, head).split()
        return all(path.startswith(f"{scores.PATH.split('/')[0]}/") for path in changed)

    def head_label(self, branch: str) -> str:
        return f"{self.slug.split('/')[0]}:{branch}"

    def close(self, trial: Trial, status: Status, reason: str) -> None:
        state = "failure" if status.is_loss() else "error"   # error: it broke or was refused
        head = self.remote_head(trial.branch)
        for sha in dict.fromkeys(filter(None, (trial.commit_sha, head))):  # a scores head too
            self.status(sha, state, reason, trial.pr)
        self.push(f"+{head or trial.commit_sha}", f"{TRIALS}{trial.trial_id}")
        with api_call(f"close {trial.pr}"):
            pr = self.gh_repo.get_pull(pr_number(trial))
            if pr.state == "open":
                pr.edit(state="closed")
        if head:  # its code lives on under refs/autolab/trials/, as the PR's does on GitHub
            self.push("", f"refs/heads/{trial.branch}")
        self.repo.delete_ref(f"refs/heads/{trial.branch}")

    def status(self, sha: str, state: str, description: str, url: str) -> None:
        with api_call(f"set {STATUS_CONTEXT} on {sha[:10]}"):
            created(lambda: self.gh_repo.get_commit(sha).create_status(  # twice is the same
                state=state, description=description[:140], context=STATUS_CONTEXT,
                target_url=url))

    def ideas(self) -> list[tuple[str, str]]:
        """The open issues labelled `autolab-idea`: (title, address)."""
        with api_call(f"list the open {IDEA_LABEL} issues"):
            return [(i.title, i.html_url) for i in self.gh_repo.get_issues(
                state="open", labels=[IDEA_LABEL]) if i.pull_request is None]

    # verdicts written ahead ------------------------------------------------------
    def put_pending(self, trial_id: str, data: bytes) -> None:
        """The verdict on origin before it is acted on: a hosted runner's workspace, and the
        local copy with it, is gone when the job ends, killed or not."""
        commit = self.repo.commit_files(None, {VERDICT: data},
                                        f"autolab: {trial_id}'s verdict, written ahead", [])
        self.push(f"+{commit}", f"{PENDING}{trial_id}")
        self.repo.git.update_ref(f"{PENDING}{trial_id}", commit)  # what drop_pending deletes

    def pending_on_origin(self) -> dict[str, bytes]:
        """{trial id: verdict} of every verdict an earlier job wrote ahead and never finished."""
        lines = self.git_remote("ls-remote", "origin", f"{PENDING}*").splitlines()
        refs = [line.split("\t")[1] for line in lines]
        if not refs:
            return {}
        self.fetch(*(f"+{ref}:{ref}" for ref in refs))
        return {ref.removeprefix(PENDING): self.repo.read(ref, VERDICT) or b"" for ref in refs}

    def drop_pending(self, trial_id: str) -> None:
        """Delete the verdict on origin once its ledger row is there (not only in this
        workspace's ledger, which a hosted runner throws away)."""
        if not self.repo.rev(f"{PENDING}{trial_id}"):
            return  # never reached origin from here (its push failed): nothing to delete
        ours = self.repo.rev(LEDGER)
        theirs = self.remote_head(LEDGER.removeprefix("refs/heads/"))
        if ours and theirs and (theirs == ours or self.repo.is_ancestor(ours, theirs)):
            self.push("", f"{PENDING}{trial_id}")
            self.repo.delete_ref(f"{PENDING}{trial_id}")

    # the ledger branch ---------------------------------------------------------
    def publish(self) -> None:
        for _attempt in range(5):
            self.sync_ledger()
            try:
                self.push(LEDGER, LEDGER)
                return
            except StaleError:
                continue  # another run appended meanwhile: union both, push again
        raise InfraError("the ledger branch on origin kept moving; 5 pushes failed")

    def sync_ledger(self) -> None:
        """Bring origin's ledger rows into the local branch; both sides keep every row."""
        take_in(self.repo, self.remote_head(LEDGER.removeprefix("refs/heads/")))
