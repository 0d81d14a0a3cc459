"""`autolab check`: one smoke test of a lab before its first run.

It asks what `doctor` asks of the lab itself (the files its commands name, its globs),
lists the parameters the agent can change, then runs prepare, one train seed and the
evaluation once on the branch's commit through the same engine and local runner (so
the same sandbox) a trial uses. Nothing is recorded: no ledger row, no PR, no scores.

Its place in the whole: ARCHITECTURE.md, "The edges".
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable

from rich.console import Console

from autolab import params, registry
from autolab.config import Lab
from autolab.doctor import Check, lab_itself
from autolab.engine import Engine
from autolab.errors import MainError
from autolab.gitops import Repo, glob_regex
from autolab.integrity import manifest_at, watched
from autolab.params import Param
from autolab.progress import Progress
from autolab.records import Job, RunResult, Status

CHECK_ID = "check"
CURVE_POINTS = 3


def parameters(lab: Lab, files: dict[str, str]) -> tuple[tuple[Param, ...], str]:
    """What the agent can change in `files` (the editable files' text), and, when nothing,
    one line on what it looked for and where."""
    found = params.discover(lab, files)
    return found.params, f"the sweep agent {found.describe()}"


def checks(lab: Lab, say: Callable[[Check], None]) -> bool:
    """Say each finding as it comes; True when the lab is healthy."""
    config, repo = lab.config, Repo(lab.root)
    static = lab_itself(lab)
    for line in static:
        say(line)
    commit = repo.rev(f"refs/heads/{config.branch}")
    if commit is None or any(c.failed for c in static):
        say(Check("warn", "prepare, train and evaluate not run: fix the line(s) above first"))
        return False
    if not repo.is_clean():
        say(Check("warn", f"uncommitted changes are not checked: trials run `{config.branch}`'s "
                  f"commit {commit[:10]}, as this check does"))
    editable = glob_regex(config.editable)
    files = {p: repo.blob(sha).decode(errors="replace")
             for _m, sha, p in repo.files(commit) if editable.match(p)}
    found, none = parameters(lab, files)
    healthy = bool(found) or config.agent.kind != "sweep"
    if found:
        say(Check("ok", f"{len(found)} parameter(s) the {config.agent.kind} agent can change:"
                  + "".join(f"\n    {p.name} = {p.value!r}  ({p.path}:{p.line})"
                            for p in found)))
    else:
        say(Check("missing" if config.agent.kind == "sweep" else "warn", none))
    return run_once(lab, repo, commit, say) and healthy


def run_once(lab: Lab, repo: Repo, commit: str, say: Callable[[Check], None]) -> bool:
    """prepare, one train seed and the evaluation of `commit`, as a trial's first seed runs."""
    runner = registry.runner("local", lab, 1)
    try:
        say(Check("ok", runner.confinement()))
        before = set((lab.home / "data").glob("*")) if (lab.home / "data").exists() else set()
        t0 = time.monotonic()
        try:
            runner.prepared(commit)
        except MainError as exc:   # the prepare command failed: its message holds the log
            say(Check("missing", f"prepare failed: {exc}"))
            return False
        fresh = set((lab.home / "data").glob("*")) - before
        say(Check("ok", f"prepare: {time.monotonic() - t0:.1f} s"
                  + ("" if fresh else " (the prepared data was cached from an earlier run)")))
        job = Job(CHECK_ID, commit, manifest_at(repo, commit, watched(lab.config)),
                  commit, 0)
        (result,) = Engine(runner, Progress(Console(quiet=True))).run([job])
    finally:
        runner.close()
    return report(lab, result, say)


def rounded(point: dict) -> dict:
    return {k: round(v, 6) if isinstance(v, float) else v for k, v in point.items()}


def report(lab: Lab, result: RunResult, say: Callable[[Check], None]) -> bool:
    failed = result.status != Status.OK
    log = f"; the log's last lines:\n{result.log_tail}" if result.log_tail else ""
    if failed and not result.eval_s:   # it never reached the evaluator
        say(Check("missing", f"train (seed 0) failed after {result.train_s:.1f} s: "
                  f"{result.status}: {result.reason}{log}"))
        return False
    say(Check("ok", f"train (seed 0): {result.train_s:.1f} s"))
    if result.curve:
        last = result.curve[-CURVE_POINTS:]
        say(Check("ok", f"curve.jsonl: {len(result.curve)} points, the last:"
                  + "".join(f"\n    {json.dumps(rounded(p), sort_keys=True)}" for p in last)))
    else:
        say(Check("warn", "no curve.jsonl: pruning and the dashboard's curves need one "
                  "(see \"The lab contract\" in the README)"))
    if failed:
        say(Check("missing", f"evaluate failed after {result.eval_s:.1f} s: {result.status}: "
                  f"{result.reason}{log}"))
        return False
    say(Check("ok", f"evaluate: {result.eval_s:.1f} s"))
    say(Check("ok", "result: " + json.dumps({"status": result.status,
                                             "metrics": result.metrics}, sort_keys=True)))
    value = result.metrics.get(lab.config.metric)
    say(Check("ok", f"{lab.config.metric} = {value} ({lab.config.direction}); the lab is "
              f"ready for `autolab run`"))
    return True
