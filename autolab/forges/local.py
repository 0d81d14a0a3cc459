"""The forge on the lab's own git repository: branches, PR records, CAS merges.

PR records are JSON files under AUTOLAB_HOME/prs/. Main only ever moves by a
compare-and-swap `update-ref`, so a merge either lands whole (the trial's
change and its scores row in one commit) or not at all.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict
from pathlib import Path

from autolab import scores
from autolab.config import Lab
from autolab.errors import LabError, StaleError
from autolab.forges.base import REPORT_MARKER
from autolab.gitops import Repo
from autolab.integrity import manifest_at, watched
from autolab.records import Manifest, Proposal, ScoreRow, Trial, utc_now

TRIAL_REFS = "refs/autolab/trials/"


def trial_from_record(record: dict) -> Trial:
    return Trial(trial_id=record["trial_id"], branch=record["branch"], pr=record["pr"],
                 commit_sha=record["head_sha"],
                 proposal=Proposal(**{**record["proposal"],
                                      "lineage": tuple(record["proposal"]["lineage"])}),
                 manifest=Manifest(tuple(tuple(f) for f in record["manifest"])))


class LocalForge:
    name = "local"

    def __init__(self, lab: Lab, main: str = "main"):
        self.lab = lab
        self.repo = Repo(lab.root)
        self.main_ref = f"refs/heads/{main}"
        self.records = lab.home / "prs"
        if not self.repo.rev(self.main_ref):
            raise LabError(f"{lab.root}: no branch `{main}` with a commit; commit the lab "
                           f"to `{main}` first (git checkout -b {main} && git commit)")

    # reading ---------------------------------------------------------------
    def main_sha(self) -> str:
        return self.repo.rev(self.main_ref)

    def scores(self) -> list[ScoreRow]:
        return scores.parse(self.repo.read(self.main_sha(), scores.PATH))

    def record(self, trial_id: str) -> dict | None:
        path = self.records / f"{trial_id}.json"
        return json.loads(path.read_text()) if path.exists() else None

    def all_records(self) -> list[dict]:
        if not self.records.exists():
            return []
        return [json.loads(p.read_text()) for p in sorted(self.records.glob("*.json"))]

    def open_trials(self) -> list[Trial]:
        return [trial_from_record(r) for r in self.all_records() if r["state"] == "open"]

    # writing ---------------------------------------------------------------
    def open_trial(self, trial_id: str, proposal: Proposal) -> Trial:
        branch = f"autolab/{trial_id}"
        ref = f"refs/heads/{branch}"
        commit = self.repo.commit_diff(proposal.parent_sha, proposal.diff, proposal.hypothesis)
        existing = self.repo.rev(ref)
        if existing and self.repo.rev(f"{existing}^{{tree}}") == self.repo.rev(
                f"{commit}^{{tree}}"):
            commit = existing  # reopened after an interruption: keep the first commit
        else:
            self.repo.swap_ref(ref, commit, existing)
        manifest = manifest_at(self.repo, commit, watched(self.lab.config))
        record = {"trial_id": trial_id, "pr": f"local:{trial_id}", "branch": branch,
                  "state": "open", "title": f"[autolab] {proposal.hypothesis}",
                  "body": self.body(proposal), "head_sha": commit, "created_at": utc_now(),
                  "proposal": asdict(proposal), "manifest": [list(f) for f in manifest.files],
                  "comments": []}
        self._save(record)
        return trial_from_record(record)

    @staticmethod
    def body(p: Proposal) -> str:
        lineage = ", ".join(p.lineage) or "none"
        return (f"**Hypothesis:** {p.hypothesis}\n\n**Rationale:** {p.rationale}\n\n"
                f"**Expected delta:** {p.expected_delta:+g}\n\n**Role:** {p.role} "
                f"(source: {p.source})\n\n**Parent:** {p.parent_sha} "
                f"(trial {p.parent_trial or 'baseline'})\n\n**Lineage:** {lineage}\n")

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

    def set_baseline(self, evaluated_sha: str, row: ScoreRow) -> str:
        return self._advance_main(evaluated_sha, evaluated_sha, [evaluated_sha], row,
                                  f"autolab: baseline {row.metric:.6g} ± {row.metric_std:.3g}")

    def merge(self, trial: Trial, evaluated_sha: str, row: ScoreRow) -> str:
        head = self.repo.rev(f"refs/heads/{trial.branch}")
        if head != evaluated_sha:
            raise StaleError(f"{trial.branch} is at {head}, not the evaluated {evaluated_sha}")
        parent = trial.proposal.parent_sha
        merged = self._advance_main(parent, evaluated_sha, [parent, evaluated_sha], row,
                                    f"autolab: keep {trial.trial_id}: "
                                    f"{trial.proposal.hypothesis}")
        self._end(trial, "merged", f"merged as {merged}")
        return merged

    def close(self, trial: Trial, reason: str) -> None:
        self._end(trial, "closed", reason)

    def _advance_main(self, expected_main: str, tree_of: str, parents: list[str],
                      row: ScoreRow, message: str) -> str:
        """One commit on main with `tree_of`'s tree plus the scores row, by CAS."""
        main = self.main_sha()
        if main != expected_main:
            raise StaleError(f"main moved from {expected_main[:10]} to {main[:10]}")
        table = scores.append(self.repo.read(main, scores.PATH), row)
        commit = self.repo.commit_files(tree_of, {scores.PATH: table}, message, parents)
        update_checkout = (self.repo.checked_out_branch() == self.main_ref.removeprefix(
            "refs/heads/") and self.repo.is_clean())
        self.repo.swap_ref(self.main_ref, commit, main)
        if update_checkout:
            self.repo.fast_forward_worktree(main, commit)
        return commit

    def _end(self, trial: Trial, state: str, reason: str) -> None:
        ref = f"refs/heads/{trial.branch}"
        head = self.repo.rev(ref) or trial.commit_sha
        keep = f"{TRIAL_REFS}{trial.trial_id}"
        self.repo.swap_ref(keep, head, self.repo.rev(keep))
        self.repo.delete_ref(ref)
        record = self.record(trial.trial_id)
        record.update(state=state, closed_reason=reason, closed_at=utc_now())
        self._save(record)

    def _save(self, record: dict) -> None:
        self.records.mkdir(parents=True, exist_ok=True)
        path: Path = self.records / f"{record['trial_id']}.json"
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(record, indent=1))
        os.replace(tmp, path)
