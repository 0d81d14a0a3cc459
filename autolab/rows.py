"""Ledger and scores rows, built from what a trial's runs returned.

Its place in the whole: ARCHITECTURE.md, "Records and state".
"""

from __future__ import annotations

import json
import time
from dataclasses import replace

from autolab.config import Config
from autolab.decide import Compute
from autolab.records import (
    BASELINE,
    LedgerRow,
    Manifest,
    Proposal,
    RunResult,
    ScoreRow,
    Status,
    Trial,
    Verdict,
    utc_now,
)

CURVE_POINTS = 100


def metric(config: Config, result: RunResult) -> float:
    return float(result.metrics[config.metric])


def proposal_columns(p: Proposal) -> dict:
    return dict(parent_trial=p.parent_trial, parent_sha=p.parent_sha, source=p.source,
                role=p.role, hypothesis=p.hypothesis, rationale=p.rationale,
                expected_delta=p.expected_delta, diff=p.diff, tokens_in=p.tokens_in,
                tokens_out=p.tokens_out, cost_usd=p.cost_usd, agent_usd=p.cost_usd)


def thin(curve) -> list:
    step = max(1, len(curve) // CURVE_POINTS)
    return list(curve[::step])


def trial_row(config: Config, trial: Trial, results: list[RunResult], started_at: str,
              verdict: Verdict) -> LedgerRow:
    ok = [r for r in results if r.status == Status.OK]
    first = results[0]
    secondary = {}
    for name in sorted({n for r in ok for n in r.metrics} - {config.metric}):
        values = [r.metrics[name] for r in ok if isinstance(r.metrics.get(name), (int, float))]
        if values:
            secondary[name] = sum(values) / len(values)
    # what the trial cost, whatever its end: the agent's tokens plus every seed's compute
    compute = compute_columns(results)
    row = LedgerRow(
        trial_id=trial.trial_id, status=verdict.status, reason=verdict.reason,
        commit_sha=trial.commit_sha, branch=trial.branch, pr=trial.pr,
        **proposal_columns(trial.proposal),
        metric=verdict.metric, metric_std=verdict.metric_std, n_seeds=verdict.n_seeds,
        seeds=json.dumps([r.job.seed for r in results]),
        seed_metrics=json.dumps([metric(config, r) for r in ok]),
        delta_vs_best=verdict.delta_vs_best, secondary=json.dumps(secondary),
        curve=json.dumps(thin(first.curve)), flags=",".join(verdict.flags),
        config_sha256=trial.manifest.config_sha256,
        evaluator_sha256=first.evaluator_sha256, data_sha256=first.data_sha256,
        runner=first.runner, gpu=first.gpu, sandbox=first.sandbox, started_at=started_at,
        train_s=sum(r.train_s for r in results), eval_s=sum(r.eval_s for r in results),
        wall_s=sum(r.wall_s for r in results),
        work=Compute.of([], [r.curve for r in ok]).work,
        log_tail="\n".join(r.log_tail for r in results if r.status != Status.OK)[-4000:],
        metric_source=config.metric_from, inputs_sha256=first.inputs_sha256)
    return replace(row, cost_usd=trial.proposal.cost_usd + compute["gpu_usd"]
                   + compute["cpu_usd"], **compute)


def compute_columns(results: list[RunResult]) -> dict:
    """The runner's bill in its parts, summed over the seeds (runners that bill nothing: 0)."""
    total = {key: sum(r.metrics.get(key, 0.0) for r in results)
             for key in ("gpu_usd", "cpu_usd", "startup_seconds")}
    return dict(gpu_usd=total["gpu_usd"], cpu_usd=total["cpu_usd"],
                startup_s=total["startup_seconds"])


def baseline_row(config: Config, result: RunResult, manifest: Manifest) -> LedgerRow:
    """A baseline seed's row, written as the seed ends: it ran the `wall_s` before now."""
    ok = result.status == Status.OK
    ended = time.time()
    compute = compute_columns([result])
    return LedgerRow(
        trial_id=result.job.trial_id, status=BASELINE if ok else result.status,
        reason=result.reason, commit_sha=result.job.commit_sha, source="baseline",
        role="baseline", hypothesis="baseline", metric=metric(config, result) if ok else None,
        n_seeds=1, seeds=json.dumps([result.job.seed]),
        seed_metrics=json.dumps([metric(config, result)] if ok else []),
        secondary=json.dumps({k: v for k, v in result.metrics.items() if k != config.metric}),
        curve=json.dumps(thin(result.curve)), config_sha256=manifest.config_sha256,
        evaluator_sha256=result.evaluator_sha256, data_sha256=result.data_sha256,
        runner=result.runner, gpu=result.gpu, sandbox=result.sandbox,
        started_at=utc_now(ended - result.wall_s), ended_at=utc_now(ended),
        train_s=result.train_s,
        work=Compute.of([], [result.curve]).work if ok else 0.0,
        eval_s=result.eval_s, wall_s=result.wall_s, log_tail="" if ok else result.log_tail,
        metric_source=config.metric_from, inputs_sha256=result.inputs_sha256,
        cost_usd=compute["gpu_usd"] + compute["cpu_usd"], **compute)


def score_row(trial: Trial, row: LedgerRow, scores: list[ScoreRow]) -> ScoreRow:
    """main's scores row for a kept trial, which always has a metric."""
    assert row.metric is not None, f"{row.trial_id} is kept without a metric"
    return ScoreRow(trial_id=trial.trial_id, pr=trial.pr, commit_sha=trial.commit_sha,
                    parent_sha=trial.proposal.parent_sha, metric=row.metric,
                    metric_std=row.metric_std or 0.0, n_seeds=row.n_seeds,
                    delta=row.metric - scores[-1].metric, hypothesis=trial.proposal.hypothesis,
                    config_sha256=row.config_sha256, evaluator_sha256=row.evaluator_sha256,
                    merged_at=utc_now())
