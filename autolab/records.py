"""The records that travel between the parts of the loop.

Its place in the whole: ARCHITECTURE.md, "Records and state".
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields
from enum import StrEnum

from autolab.prune import PruneRule


class Status(StrEnum):
    """How a run or a trial ended. Members are strings: the ledger stores their values."""

    OK = "ok"                       # a run that trained and was scored (never a trial's end)
    BASELINE = "baseline"           # a baseline seed's row
    PROMISING = "promising"         # cleared the screen; confirming seeds decide
    KEEP = "keep"
    DISCARD = "discard"
    HELD = "held"                   # waits for a person: a suspicious keep, or unconfirmable
    REJECTED = "rejected"           # refused before any compute
    DUPLICATE = "duplicate"         # a change already tried on the same parent
    STALE = "stale"                 # won, but main moved first; re-run on the new main
    OVER_COMPUTE = "over_compute"   # beat the best, but above max_compute_ratio of its compute
    PRUNED = "pruned"
    CRASH = "crash"
    TIMEOUT = "timeout"
    OOM = "oom"
    DIVERGED = "diverged"
    NO_ARTIFACT = "no_artifact"
    GATE_FAILED = "gate_failed"
    INTEGRITY_MISMATCH = "integrity_mismatch"
    EVAL_ERROR = "eval_error"
    INFRA_ERROR = "infra_error"     # the runner or forge failed, not the idea

    # the families, each defined here once (as optuna's TrialState.is_finished())
    def is_failure(self) -> bool:
        """The run broke, whoever's doing it was: there is no metric to judge."""
        return self.broke_training() or self in (Status.GATE_FAILED, Status.INTEGRITY_MISMATCH,
                                                 Status.EVAL_ERROR, Status.INFRA_ERROR)

    def blames_idea(self) -> bool:
        """A failure that says something about the change tried: not the runner's loss, nor an
        archive that did not match the committed bytes."""
        return self.is_failure() and self not in (Status.INFRA_ERROR, Status.INTEGRITY_MISMATCH)

    def broke_training(self) -> bool:
        """The train command itself broke (what a crash loop repeats)."""
        return self in (Status.CRASH, Status.TIMEOUT, Status.OOM, Status.DIVERGED,
                        Status.NO_ARTIFACT)

    def is_refusal(self) -> bool:
        """Refused before any compute was spent."""
        return self in (Status.REJECTED, Status.DUPLICATE)

    def ran_to_verdict(self) -> bool:
        """Trained, scored and judged: what the prune rule learns from."""
        return self in (Status.KEEP, Status.DISCARD, Status.HELD, Status.STALE,
                        Status.OVER_COMPUTE)

    def judged_on_metric(self) -> bool:
        """A verdict the metric alone gave, with nothing held back or overtaken."""
        return self in (Status.KEEP, Status.DISCARD)

    def is_loss(self) -> bool:
        """Ran and was scored, and main stays as it was: below the bar, over the compute
        allowed, or main moved first (its commit status is a failure, never an error)."""
        return self in (Status.DISCARD, Status.OVER_COMPUTE, Status.STALE)

    def keepable_by_hand(self) -> bool:
        """A scored verdict a maintainer's /keep may override."""
        return self in (Status.HELD, Status.DISCARD, Status.OVER_COMPUTE)

    def is_dead_end(self) -> bool:
        """What an agent reads back as not worth repeating."""
        return self.is_failure() or self in (Status.REJECTED, Status.DISCARD)

    def can_rerun(self) -> bool:
        """A verdict that more seeds of the same commit could change."""
        return self.is_failure() or self in (Status.DISCARD, Status.HELD, Status.PRUNED)

    @classmethod
    def where(cls, family: Callable[[Status], bool]) -> tuple[Status, ...]:
        """The members of a family, e.g. `Status.where(Status.is_failure)`: what a ledger label,
        which may be one only an imported file used, is looked up in."""
        return tuple(s for s in cls if family(s))


class Action(StrEnum):
    """What settling a verdict does on the forge."""

    MERGE = "merge"
    CLOSE = "close"
    HOLD = "hold"


FAILURES = Status.where(Status.is_failure)
BASELINE = Status.BASELINE


def trial_id_of(number: int) -> str:
    """42 -> t0042: the id of the trial numbered `number` (trial_number's inverse)."""
    return f"t{number:04d}"


def trial_number(trial_id: str) -> int:
    """t0042 -> 42; any other id (a baseline seed's, an import's) -> 0."""
    match = re.fullmatch(r"t(\d+)", trial_id)
    return int(match.group(1)) if match else 0


def baseline_id(main_sha: str, seed: int | None = None) -> str:
    """The ledger id of a baseline seed of `main_sha`, or without a seed their common prefix."""
    prefix = f"baseline-{main_sha[:10]}-s"
    return prefix if seed is None else f"{prefix}{seed}"
# the source of rows `autolab import` read from a results file: history, never a verdict
IMPORTED = "import:"


def utc_now(at: float | None = None) -> str:
    """Now, or the epoch time `at`, as the ledger's UTC stamp."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(at))


@dataclass(frozen=True)
class Proposal:
    """One change an agent wants to try, as a unified diff against `parent_sha`."""

    role: str
    hypothesis: str
    rationale: str
    expected_delta: float
    diff: str
    parent_sha: str
    source: str
    parent_trial: str = ""
    lineage: tuple[str, ...] = ()
    tokens_in: int = 0
    tokens_out: int = 0
    cost_usd: float = 0.0
    unusable: str = ""      # why an answer carries no diff (a refusal's text, a cut-off)

    @classmethod
    def from_dict(cls, data: dict) -> Proposal:
        """Back from JSON (a PR record, a pending verdict, a PR body), where tuples are lists."""
        return cls(**{**data, "lineage": tuple(data.get("lineage", ()))})


@dataclass(frozen=True)
class Manifest:
    """sha256 of every editable and frozen file at one commit."""

    files: tuple[tuple[str, str], ...]

    @property
    def config_sha256(self) -> str:
        listing = "".join(f"{sha}  {path}\n" for path, sha in sorted(self.files))
        return hashlib.sha256(listing.encode()).hexdigest()

    def as_dict(self) -> dict[str, str]:
        return dict(self.files)

    @classmethod
    def from_pairs(cls, pairs) -> Manifest:
        return cls(tuple(tuple(pair) for pair in pairs))


@dataclass(frozen=True)
class Trial:
    """An opened trial: a branch with one commit, and its PR (or PR record)."""

    trial_id: str
    branch: str
    pr: str
    commit_sha: str
    proposal: Proposal
    manifest: Manifest


@dataclass(frozen=True)
class Job:
    """One training + evaluation run of one commit with one seed."""

    trial_id: str
    commit_sha: str
    manifest: Manifest
    eval_sha: str
    seed: int
    prune: PruneRule | None = None  # stop training early when the curve is clearly losing


@dataclass(frozen=True)
class RunResult:
    job: Job
    status: Status                  # OK or a failure
    reason: str = ""
    metrics: dict = field(default_factory=dict)
    curve: tuple = ()
    log_tail: str = ""
    train_s: float = 0.0
    eval_s: float = 0.0
    wall_s: float = 0.0
    data_sha256: str = ""
    evaluator_sha256: str = ""
    runner: str = ""
    gpu: str = ""
    sandbox: str = ""               # what confined the train and evaluate commands
    inputs_sha256: str = ""         # the lab's git-ignored inputs it got (autolab/inputs.py)


@dataclass(frozen=True)
class Verdict:
    status: Status                  # KEEP, DISCARD, PROMISING, HELD or a failure
    reason: str
    metric: float | None = None
    metric_std: float | None = None
    n_seeds: int = 0
    delta_vs_best: float | None = None
    bar: float | None = None
    flags: tuple[str, ...] = ()
    more_seeds: int = 0             # promising: seeds of this trial still wanted
    more_best_seeds: int = 0        # promising: seeds of the best still wanted
    compute_ratio: float | None = None  # train seconds per seed over the best's


@dataclass(frozen=True)
class LedgerRow:
    trial_id: str
    status: str
    reason: str = ""
    parent_trial: str = ""
    parent_sha: str = ""
    commit_sha: str = ""
    branch: str = ""
    pr: str = ""
    source: str = ""
    role: str = ""
    hypothesis: str = ""
    rationale: str = ""
    expected_delta: float | None = None
    diff: str = ""
    metric: float | None = None
    metric_std: float | None = None
    n_seeds: int = 0
    seeds: str = "[]"               # json: the seeds run
    seed_metrics: str = "[]"        # json: the metric of each seed, same order
    delta_vs_best: float | None = None
    secondary: str = "{}"           # json
    curve: str = "[]"               # json
    flags: str = ""
    config_sha256: str = ""
    evaluator_sha256: str = ""
    data_sha256: str = ""
    runner: str = ""
    gpu: str = ""
    sandbox: str = ""               # e.g. "bwrap", "landlock", "bwrap+network", "none"
    started_at: str = ""
    train_s: float = 0.0
    eval_s: float = 0.0
    wall_s: float = 0.0
    tokens_in: int = 0
    tokens_out: int = 0
    cost_usd: float = 0.0
    log_tail: str = ""
    audit: int = 0                  # 1: its first seed ran unpruned, to check the prune rule
    would_prune: str = ""           # what that rule would have said ("" = let it run)
    prune_wrong: int = 0            # 1: that prune would have stopped a trial beating the best
    # cost_usd in parts (older rows read None): the agent's tokens, and the runner's bill
    agent_usd: float = 0.0
    gpu_usd: float = 0.0
    cpu_usd: float = 0.0            # CPU cores and memory, start-up included
    startup_s: float = 0.0          # billed container start-up, within the compute above
    ended_at: str = ""              # when its verdict came (started_at..ended_at: its whole life)
    slot: int = 0                   # the runner slot it held, 1..parallel (0: not recorded)
    metric_source: str = ""         # "evaluator", or "train_log": the script scored itself
    inputs_sha256: str = ""         # the git-ignored inputs it ran on ("": none declared)
    # compute beside the best's, per seed: train seconds, and the steps or tokens its
    # curve.jsonl reported (0: none); the ratio is of train seconds (None: not known)
    work: float = 0.0
    best_train_s: float = 0.0
    best_work: float = 0.0
    compute_ratio: float | None = None
    # main's frozen inputs it was measured under (integrity.frozen_fingerprint; "" in older
    # rows): a best or a noise estimate never mixes rows measured under different ones
    frozen_sha256: str = ""

    @classmethod
    def columns(cls) -> list[str]:
        return [f.name for f in fields(cls)]

    def as_dict(self) -> dict:
        return asdict(self)

    @property
    def seed_values(self) -> list[float]:
        return json.loads(self.seed_metrics)

    @property
    def imported(self) -> bool:
        return (self.source or "").startswith(IMPORTED)


@dataclass(frozen=True)
class ScoreRow:
    """One row of reports/scores.csv: the baseline or a kept trial."""

    trial_id: str
    pr: str
    commit_sha: str
    parent_sha: str
    metric: float
    metric_std: float
    n_seeds: int
    delta: float
    hypothesis: str
    config_sha256: str
    evaluator_sha256: str
    merged_at: str

    @classmethod
    def columns(cls) -> list[str]:
        return [f.name for f in fields(cls)]
