"""Which prune rule each job runs under: the rule this lab has earned, learned from its ledger.

`prune.py` holds the rule itself (standard library only, so it runs beside training
wherever that is); this module reads the ledger to build it, turns pruning off when the
audited trials say it stops winners too often, and picks the trials that run unpruned to
be audited.

Its place in the whole: ARCHITECTURE.md, "Deciding".
"""

from __future__ import annotations

import json
from collections.abc import Callable

import pyarrow.compute as pc

from autolab import prune
from autolab.config import Config
from autolab.ledger import LIGHT, Ledger
from autolab.prune import PruneRule
from autolab.records import BASELINE, ScoreRow, Status, baseline_id

PRUNE_WINDOW = 200      # the latest completed trials the prune rule learns from


class Pruner:
    """The prune rule for each job, rebuilt only when the ledger grew."""

    def __init__(self, config: Config, ledger: Ledger, scores: Callable[[], list[ScoreRow]],
                 note: Callable[[str], None]):
        self.config, self.ledger, self.scores, self.note = config, ledger, scores, note
        self._made: tuple[int, PruneRule | None, str] | None = None  # (rows, rule, why)
        self._completed: dict[str, tuple[list, float] | None] = {}   # pruning()'s memo

    def rule(self) -> PruneRule | None:
        """The rule the lab has earned now; a change in its state is said once."""
        if not self.config.prune:
            return None
        rows = len(self.ledger.ids())
        if self._made is None or self._made[0] != rows:
            made, why = pruning(self.config, self.ledger, self.scores(), self._completed)
            # the counts in parentheses change with every row; the state itself seldom does
            if self._made is None or self._made[2].split(" (")[0] != why.split(" (")[0]:
                self.note(why)
            self._made = (rows, made, why)
        return self._made[1]

    def for_seed(self, trial_number: int, k: int) -> tuple[PruneRule | None, PruneRule | None]:
        """(the rule seed `k` of trial `trial_number` runs under, the rule it runs without so
        that its whole curve audits it)."""
        # only a first seed is ever pruned: confirming seeds are the promising ones
        rule = self.rule() if k == 0 else None
        every = self.config.prune_audit_every
        if rule is not None and every and trial_number % every == 0:
            return None, rule
        return rule, None

    def audited(self, audit: PruneRule, first_curve, first_metric: float,
                kept: bool) -> dict:
        """The ledger columns of an audited trial: would the rule have stopped it, and would
        that have been wrong (it was kept, or its first seed beat the best)?"""
        would = audit.replay(first_curve)
        beat = self.config.better(first_metric, self.scores()[-1].metric)
        return dict(audit=1, would_prune=would, prune_wrong=int(bool(would) and (kept or beat > 0)))


def pruning(config: Config, ledger: Ledger, scores: list[ScoreRow],
            known: dict[str, tuple[list, float] | None]) -> tuple[PruneRule | None, str]:
    """The prune rule this lab has earned from its ledger, and one line on why it is on or off.
    `known` keeps each completed trial's (curve, first metric) across calls: rows never change,
    and decoding every curve again for each new trial would cost more than the trial's rest."""
    if not config.prune:
        return None, "pruning is off (`prune = false`)"
    audit = prune.Audit.of(ledger.rows(pc.field("audit") == 1, columns=LIGHT))
    if audit.false_rate is not None and audit.false_rate > config.prune_max_false:
        return None, (f"pruning turned itself off: {audit.line()}, above prune_max_false "
                      f"{config.prune_max_false:.0%}")
    done = ledger.table(["trial_id"], pc.field("status").isin(
        [s.value for s in Status.where(Status.ran_to_verdict)]))
    ids = done.column("trial_id").to_pylist()[-PRUNE_WINDOW:]
    for r in ledger.by_id([i for i in ids if i not in known]):
        known[r.trial_id] = ((json.loads(r.curve), r.seed_values[0])
                             if r.seed_values and r.curve != "[]" else None)
    completed = [c for c in (known.get(i) for i in ids) if c is not None]
    if len(completed) < config.prune_min_trials:   # the rule needs them: skip the baseline read
        return prune.rule(completed, [], config.budget_seconds, config.prune_warmup,
                          config.prune_min_trials, config.minimize)
    baseline = [json.loads(r.curve) for r in ledger.starting_with(
        baseline_id(scores[0].commit_sha)) if r.status == BASELINE] if scores else []
    return prune.rule(completed, baseline, config.budget_seconds, config.prune_warmup,
                      config.prune_min_trials, config.minimize)
