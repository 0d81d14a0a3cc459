"""Where autolab keeps its state in git: every ref it reads or writes, named once.

The branches under `autolab/` are the trials' (a PR's head is `autolab/<trial id>`) and the
ledger's; the rest live outside `refs/heads/`, so no branch list or checkout shows them.
"""

from __future__ import annotations

from autolab.gitops import Repo
from autolab.records import trial_id_of, trial_number

TRIAL_BRANCHES = "refs/heads/autolab/"   # autolab/<trial id>: an open trial's code, its PR's head
LEDGER = "refs/heads/autolab/ledger"     # the Parquet ledger's own branch
TRIALS = "refs/autolab/trials/"          # a decided trial's code, kept after its branch goes
PENDING = "refs/autolab/pending/"        # a verdict written ahead and not yet recorded (GitHub)
IDS = "refs/autolab/ids/"                # a trial id handed out, so two drivers never share one
COMMANDS = "refs/autolab/commands/"      # a comment command recorded the moment it came
PULLS = "refs/autolab/pulls/"            # a person's PR head, fetched and never checked out


def trial_branch(trial_id: str) -> str:
    return f"{TRIAL_BRANCHES}{trial_id}"


def first_free_id(repo: Repo, after: int) -> str:
    """The trial id numbered after `after` (the highest the ledger holds) and after every
    trial branch and kept trial ref in `repo`: an id no trial of this lab has taken."""
    names = repo.git.for_each_ref("--format=%(refname)", TRIAL_BRANCHES, TRIALS).split()
    taken = [trial_number(name.rsplit("/", 1)[-1]) for name in names]  # the ledger's is 0
    return trial_id_of(max([after, *taken]) + 1)
