"""The forge on the lab's own git repository: branches, PR records, CAS merges.

PR records are JSON files under AUTOLAB_HOME/prs/. Main only ever moves by a
compare-and-swap `update-ref`, so a merge either lands whole (the trial's
change and its scores row in one commit) or not at all.

Its place in the whole: ARCHITECTURE.md, "Contracts".
"""

from __future__ import annotations

import json
from dataclasses import asdict

from autolab import scores
from autolab.config import Lab
from autolab.errors import LabError, StaleError
from autolab.files import atomic_write
from autolab.forges.base import REPORT_MARKER, BaseForge, Pages, main_commit, pr_body
from autolab.gitops import Repo
from autolab.integrity import manifest_at, watched
from autolab.records import Manifest, Proposal, ScoreRow, Status, Trial, utc_now
from autolab.refs import TRIAL_BRANCHES, TRIALS, first_free_id, trial_branch


def trial_from_record(record: dict) -> Trial:
    return Trial(trial_id=record["trial_id"], branch=record["branch"], pr=record["pr"],
                 commit_sha=record["head_sha"],
                 proposal=Proposal.from_dict(record["proposal"]),
                 manifest=Manifest.from_pairs(record["manifest"]))


class LocalForge(BaseForge):
    name = "local"

    def __init__(self, lab: Lab, main: str | None = None):
        main = main or lab.config.branch
        self.lab = lab
        self.repo = Repo(lab.root)
        self.main_ref = f"refs/heads/{main}"
        self.records = lab.home / "prs"
        if not self.repo.rev(self.main_ref):
            raise LabError(f"{lab.root}: no branch `{main}` with a commit; commit the lab "
                           f"to `{main}` first (git checkout -b {main} && git commit)")

    # reading ---------------------------------------------------------------
    def main_sha(self) -> str:
        return self.repo.commit_of(self.main_ref)

    def scores(self) -> list[ScoreRow]:
        return scores.current(scores.parse(self.repo.read(self.main_sha(), scores.PATH)))

    def record(self, trial_id: str) -> dict:
        path = self.records / f"{trial_id}.json"
        if not path.exists():
            raise LabError(f"{path}: the PR record of an open trial is missing; was "
                           f"{self.records} cleaned by hand?")
        return json.loads(path.read_text())

    def all_records(self) -> list[dict]:
        if not self.records.exists():
            return []
        return [json.loads(p.read_text()) for p in sorted(self.records.glob("*.json"))]

    def open_trials(self) -> list[Trial]:
        self._adopt_orphans()
        return [trial_from_record(r) for r in self.all_records() if r["state"] == "open"]

    def _adopt_orphans(self) -> None:
        """A run killed between a trial's branch and its PR record: rebuild the record
        from the commit (its message is the hypothesis), so the trial is resumed, not lost."""
        known = {r["trial_id"] for r in self.all_records()}
        for ref in self.repo.git.for_each_ref("--format=%(refname)",
                                              TRIAL_BRANCHES).split():
            trial_id = ref.rsplit("/", 1)[-1]
            if trial_id in known or not trial_id.startswith("t"):
                continue
            commit = self.repo.commit_of(ref)
            parent = self.repo.commit_of(f"{commit}^")
            proposal = Proposal(role="unknown", hypothesis=self.repo.git.log(
                "-1", "--format=%s", commit), rationale="recovered after an interruption",
                expected_delta=0.0, diff=self.repo.git.diff(parent, commit) + "\n",
                parent_sha=parent, source="recovered")
            self._save(self._record(trial_id, proposal, commit))

    # writing ---------------------------------------------------------------
    def ideas(self) -> list[tuple[str, str]]:
        return []   # ideas here are queued with `autolab idea`, straight into the backlog

    def reserve(self, after: int) -> str:
        return first_free_id(self.repo, after)   # one driver per lab here: the run lock

    def open_trial(self, trial_id: str, proposal: Proposal) -> Trial:
        ref = trial_branch(trial_id)
        commit = self.repo.commit_diff(proposal.parent_sha, proposal.diff, proposal.hypothesis)
        existing = self.repo.rev(ref)
        if existing and self.repo.rev(f"{existing}^{{tree}}") == self.repo.rev(
                f"{commit}^{{tree}}"):
            commit = existing  # reopened after an interruption: keep the first commit
        else:
            self.repo.swap_ref(ref, commit, existing)
        record = self._record(trial_id, proposal, commit)
        self._save(record)
        return trial_from_record(record)

    def successor(self, trial_id: str, commit_sha: str, pr: str, proposal: Proposal) -> Trial:
        self.repo.swap_ref(trial_branch(trial_id), commit_sha, None)
        record = {**self._record(trial_id, proposal, commit_sha), "pr": pr}
        self._save(record)
        return trial_from_record(record)

    def _record(self, trial_id: str, proposal: Proposal, commit: str) -> dict:
        manifest = manifest_at(self.repo, commit, watched(self.lab.config))
        return {"trial_id": trial_id, "pr": f"local:{trial_id}", "branch": f"autolab/{trial_id}",
                "state": "open", "title": f"[autolab] {proposal.hypothesis}",
                "body": self.body(proposal), "head_sha": commit, "created_at": utc_now(),
                "proposal": asdict(proposal), "manifest": [list(f) for f in manifest.files],
                "comments": []}

    body = staticmethod(pr_body)

    def comment(self, trial: Trial, body: str) -> None:
        record = self.record(trial.trial_id)
        text = f"{REPORT_MARKER}\n{body}"
        mine = [c for c in record["comments"] if c["body"].startswith(REPORT_MARKER)]
        if mine:
            mine[0].update(body=text, updated_at=utc_now())
        else:
            record["comments"].append({"id": len(record["comments"]) + 1, "body": text,
                                       "created_at": utc_now(), "updated_at": utc_now()})
        self._save(record)

    def set_baseline(self, evaluated_sha: str, row: ScoreRow, pages: Pages | None = None) -> str:
        return self._advance_main(*main_commit(self.repo, evaluated_sha, row, pages=pages))

    def merge(self, trial: Trial, evaluated_sha: str, row: ScoreRow,
              pages: Pages | None = None) -> str:
        if any(s.trial_id == trial.trial_id for s in self.scores()):
            # killed between moving main and the bookkeeping: finish only the bookkeeping
            self._end(trial, "merged", f"merged into {self.main_sha()}")
            return self.main_sha()
        head = self.repo.rev(f"refs/heads/{trial.branch}")
        if head != evaluated_sha:
            raise StaleError(f"{trial.branch} is at {head}, not the evaluated {evaluated_sha}")
        merged = self._advance_main(*main_commit(self.repo, evaluated_sha, row, trial, pages))
        self._end(trial, "merged", f"merged as {merged}")
        return merged

    def close(self, trial: Trial, status: Status, reason: str) -> None:
        self._end(trial, "closed", reason)

    def publish(self) -> None:
        """The ledger branch already lives in the lab's own repository."""

    def _advance_main(self, expected_main: str, commit: str) -> str:
        """Move main to `commit` by CAS, only if it is still `expected_main`."""
        main = self.main_sha()
        if main != expected_main:
            raise StaleError(f"main moved from {expected_main[:10]} to {main[:10]}")
        update_checkout = (self.repo.checked_out_branch() == self.main_ref.removeprefix(
            "refs/heads/") and self.repo.is_clean())
        self.repo.swap_ref(self.main_ref, commit, main)
        if update_checkout:
            self.repo.fast_forward_worktree(main, commit)
        return commit

    def _end(self, trial: Trial, state: str, reason: str) -> None:
        ref = f"refs/heads/{trial.branch}"
        head = self.repo.rev(ref) or trial.commit_sha
        keep = f"{TRIALS}{trial.trial_id}"
        self.repo.swap_ref(keep, head, self.repo.rev(keep))
        self.repo.delete_ref(ref)
        record = self.record(trial.trial_id)
        record.update(state=state, closed_reason=reason, closed_at=utc_now())
        self._save(record)

    def _save(self, record: dict) -> None:
        atomic_write(self.records / f"{record['trial_id']}.json", json.dumps(record, indent=1))
