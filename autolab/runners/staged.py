"""One job's stages, wherever its commands run: the trust boundary, held in one place.

    archive ─▶ manifest ─▶ main's evaluator ─▶ train ─▶ judge ─▶ cache ─▶ evaluate ─▶ judge
    the commit  checked     and data, cached     (reach:          check    (reach: main's
    (git)       on bytes    once per version     tree, train      on its   evaluator,
                                                  split, out)      hashes   held-out, out)

`StagedRunner` owns every stage: which bytes a job trains on, that they match its manifest,
that the evaluator is main's and not the trial's, and what each command may reach. A
`Backend` does one thing: start a command in a tree, reaching only the paths it is given,
and poll it. The local runner is this pipeline over processes on this machine, each in the
sandbox (runners/local.py); a backend for another scheduler implements `start` and `poll`
and inherits the boundary instead of writing it again.

Its place in the whole: ARCHITECTURE.md, "The trust boundary".
"""

from __future__ import annotations

import os
import shutil
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor
from concurrent.futures import wait as wait_futures
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from autolab import inputs
from autolab.config import Lab
from autolab.errors import MainError
from autolab.gitops import Repo
from autolab.integrity import (
    differences,
    evaluator_files,
    manifest_at,
    manifest_of_dir,
    tree_sha256,
    watched,
)
from autolab.records import Job, Manifest, RunResult, Status
from autolab.runners.base import BaseRunner
from autolab.runners.contract import (
    IMPORT_ERROR,
    Trained,
    clean_env,
    eval_env,
    judge_eval,
    judge_log,
    judge_train,
    mains_failure,
    read_curve,
    run_command,
    tail,
    train_env,
)
from autolab.sandbox import Reach

POLL_S = 0.05           # the longest wait between two polls of a running command
WATCH_S = 0.5           # how often a prune rule reads the curve of a first seed


@dataclass(frozen=True)
class Command:
    """One command of a job, as the pipeline hands it to a backend."""

    line: str               # the lab's command line, run by /bin/sh
    cwd: Path               # the tree it runs in (always within its reach)
    env: dict[str, str]     # its whole environment: secrets already stripped
    reach: Reach            # the only other paths it may read or write
    log: Path               # where its stdout and stderr go


class Backend(Protocol):
    name: str               # what confines its commands: the ledger's `sandbox` column

    def start(self, command: Command) -> object:
        """Start `command`; the handle is only passed back to `poll`. A backend must hold
        `command.reach`: nothing outside it and `cwd` exists for the command."""

    def poll(self, handle: object, stop: bool = False) -> int | None:
        """The command's exit code once it ended, else None; with `stop`, end it and all it
        started first, and return its code."""


class StagedRunner(BaseRunner):
    """The Runner contract over a `Backend`: `parallel` jobs at a time, each in its own
    scratch directory, through the stages above."""

    prunes = True       # asks the job's prune rule every WATCH_S

    def __init__(self, lab: Lab, parallel: int, backend: Backend):
        self.lab, self.backend = lab, backend
        self.repo = Repo(lab.root)
        self.pool = ThreadPoolExecutor(max_workers=parallel, thread_name_prefix="trial")
        self._prepared: dict[str, tuple[Path, str, Path, str]] = {}
        self._committed: dict[str, Manifest] = {}
        self._prepare_lock = threading.Lock()
        self.inputs = inputs.snapshot(lab)     # the git-ignored inputs, copied once per run
        self.self_scoring = lab.config.metric_from == "train_log"
        self._broken: dict[str, MainError] = {}   # by evaluator version: prepare never ran clean

    def submit(self, job: Job) -> Future:
        return self.pool.submit(self.run, job)

    def wait(self, handles: list, timeout: float | None = None) -> list[tuple[object, RunResult]]:
        done, _ = wait_futures(handles, timeout=timeout, return_when=FIRST_COMPLETED)
        return [(f, f.result()) for f in handles if f in done]

    def close(self) -> None:
        self.pool.shutdown(wait=True)

    def execute(self, command: Command, deadline: float,
                watch: Callable[[], bool] | None = None) -> int | str:
        """Exit code, or "timeout" once `deadline` passed, or "pruned" when `watch()` said to
        stop it; either way the command was ended."""
        handle = self.backend.start(command)
        started = watched_at = time.monotonic()
        while (code := self.backend.poll(handle)) is None:
            now = time.monotonic()
            stop = "timeout" if now >= deadline else None
            if stop is None and watch is not None and now - watched_at >= WATCH_S:
                watched_at = now
                stop = "pruned" if watch() else None
            if stop:
                self.backend.poll(handle, stop=True)
                return stop
            # a quarter of its age, at most POLL_S: a short command's end is seen within a
            # few milliseconds, a long one's costs a poll every POLL_S
            time.sleep(min(POLL_S, max(0.001, (now - started) / 4), max(0.0, deadline - now)))
        return code

    # one job ---------------------------------------------------------------
    def run(self, job: Job) -> RunResult:
        started = time.monotonic()
        work = self.lab.home / "work" / f"{job.trial_id}-s{job.seed}-{uuid.uuid4().hex[:6]}"
        try:
            return self._run(job, work, started)
        except MainError:       # main's own failure: it stops the run, never a seed's result
            raise
        except Exception as exc:  # a broken runner is never blamed on the idea
            return RunResult(job, Status.INFRA_ERROR, f"runner failed: {exc!r}"[:300],
                             wall_s=time.monotonic() - started, runner=self.name)
        finally:
            shutil.rmtree(work, ignore_errors=True)

    def _run(self, job: Job, work: Path, started: float) -> RunResult:
        config = self.lab.config
        tree, out, log = work / "tree", work / "out", work / "train.log"
        self.repo.archive(job.commit_sha, tree)
        out.mkdir(parents=True)
        evaluator, evaluator_sha, data, data_sha = self.prepared(job.eval_sha)
        done: dict[str, Any] = dict(job=job, runner=self.name, evaluator_sha256=evaluator_sha,
                                    data_sha256=data_sha, sandbox=self.backend.name,
                                    inputs_sha256=self.inputs.digest)

        def ended(status: Status, reason: str, **more) -> RunResult:
            return RunResult(status=status, reason=reason, wall_s=time.monotonic() - started,
                             **done, **{"log_tail": tail(log), **more})

        mismatch = differences(job.manifest, manifest_of_dir(tree, watched(config)))
        if mismatch:
            return ended(Status.INTEGRITY_MISMATCH, "the extracted files differ from the manifest "
                         f"of {job.commit_sha[:10]}: {', '.join(mismatch[:5])}")
        if self.self_scoring:   # it reads its data itself, from where the project keeps it
            self.inputs.place(tree)

        deadline = started + config.timeout_seconds
        env = train_env(job.trial_id, job.seed, config.budget_seconds, data / "train", out,
                        config.runner.command_env())
        stopped: list[str] = []

        def losing() -> bool:   # only asked when the job carries a rule
            reason = job.prune.verdict(read_curve(out)) if job.prune else None
            stopped.extend([reason] if reason else [])
            return bool(reason)

        t0 = time.monotonic()
        train = Command(config.train_command, tree, env,
                        Reach(read=(tree, data / "train"), write=(out,)), log)
        code = self.execute(train, deadline, watch=losing if job.prune else None)
        trained = Trained.collect(code, out, log, time.monotonic() - t0)
        done.update(train_s=trained.train_s, curve=trained.curve)
        if code == Status.PRUNED:
            return ended(Status.PRUNED, stopped[0])
        failed = judge_train(trained, config.timeout_seconds, not self.self_scoring)
        if failed:
            return ended(failed.status, failed.reason)

        changed = self.changed_cache(job.eval_sha, evaluator, evaluator_sha, data, data_sha)
        if changed:
            return ended(Status.INTEGRITY_MISMATCH, changed)
        if self.self_scoring:
            judged = judge_log(trained, config.metric, config.secondary)
            return ended(judged.status, judged.reason, metrics=judged.metrics)
        result_path, eval_log = work / "result" / "result.json", work / "eval.log"
        result_path.parent.mkdir()
        env = eval_env(out, data / "heldout", job.seed, result_path,
                       config.runner.command_env())
        evaluate = Command(config.evaluate_command, evaluator, env,
                           Reach(read=(evaluator, data / "heldout", out),
                                 write=(result_path.parent,)), eval_log)
        t1 = time.monotonic()
        code = self.execute(evaluate, deadline)
        done.update(eval_s=time.monotonic() - t1)
        text = result_path.read_text() if result_path.exists() else None
        if code != 0 and IMPORT_ERROR.search(tail(eval_log)):
            raise mains_failure("evaluate_command", config.evaluate_command, code,
                                tail(eval_log))
        judged = judge_eval(code, text, config.metric, trained.train_s)
        return ended(judged.status, judged.reason, metrics=judged.metrics,
                     **({"log_tail": tail(eval_log)} if judged.eval_log else {}))

    def changed_cache(self, eval_sha: str, evaluator: Path, evaluator_sha: str, data: Path,
                      data_sha: str) -> str:
        """Why the cached evaluator or data no longer match their hashes, or "". A changed
        cache is removed, so the next job rebuilds it from git."""
        expected = self._evaluator_manifest(eval_sha)
        if manifest_of_dir(evaluator, self.lab.config.frozen) != expected:
            stale, what = evaluator, "main's evaluator"
        elif tree_sha256(data) != data_sha:
            stale, what = data, "the prepared data"
        else:
            return ""
        with self._prepare_lock:
            self._prepared.pop(eval_sha, None)
            shutil.rmtree(stale, ignore_errors=True)
        return (f"the cached copy of {what} under {stale.parent.name}/ differs from its "
                f"recorded hash; it was not used, and is rebuilt from git for the next job")

    def _evaluator_manifest(self, eval_sha: str) -> Manifest:
        """The evaluator's files as committed: what the cached copy must still hold."""
        if eval_sha not in self._committed:
            paths = set(evaluator_files(self.repo, self.lab.config, eval_sha))
            committed = manifest_at(self.repo, eval_sha, self.lab.config.frozen)
            self._committed[eval_sha] = Manifest(tuple(f for f in committed.files
                                                       if f[0] in paths))
        return self._committed[eval_sha]

    # main's evaluator and the prepared data, once per evaluator version --------
    def prepared(self, eval_sha: str) -> tuple[Path, str, Path, str]:
        with self._prepare_lock:
            if eval_sha in self._broken:    # once per evaluator version, not once per seed
                raise self._broken[eval_sha]
            if eval_sha not in self._prepared:
                try:
                    self._prepared[eval_sha] = self._prepare(eval_sha)
                except MainError as exc:
                    self._broken[eval_sha] = exc
                    raise
            return self._prepared[eval_sha]

    def _prepare(self, eval_sha: str):
        config, home = self.lab.config, self.lab.home
        paths = evaluator_files(self.repo, config, eval_sha)
        evaluator, committed = home / "evaluators" / eval_sha, self._evaluator_manifest(eval_sha)
        if evaluator.exists() and manifest_of_dir(evaluator, config.frozen) != committed:
            shutil.rmtree(evaluator)  # changed since it was cached: never run or prepare from it
        if not evaluator.exists():
            tmp = evaluator.with_name(f"{eval_sha}.{uuid.uuid4().hex[:6]}")
            self.repo.archive(eval_sha, tmp, paths)
            tmp.rename(evaluator)
        evaluator_sha = committed.config_sha256
        data = home / "data" / inputs.data_key(evaluator_sha, self.inputs.digest)
        recorded = data.with_name(f"{data.name}.sha256")
        if not data.exists():
            self._prepare_data(evaluator, data)
            recorded.unlink(missing_ok=True)
        if not recorded.exists():
            recorded.write_text(tree_sha256(data))
        return evaluator, evaluator_sha, data, recorded.read_text()

    def _prepare_data(self, evaluator: Path, data: Path) -> None:
        """Run main's prepare command into `data`, on this machine and unsandboxed: it is
        main's own code (it may fetch the corpus). A failure is tried once more (a machine's
        hiccup passes), except an import error, which fails the same way every time; after
        that it is main's failure and stops the run. Nothing half-prepared is left behind."""
        config = self.lab.config
        for attempt in (1, 2):
            tmp = data.with_name(f"{data.name}.{uuid.uuid4().hex[:6]}")
            log = tmp.with_suffix(".log")
            (tmp / "train").mkdir(parents=True)
            (tmp / "heldout").mkdir()
            code: int | str = 0
            if config.prepare_command:
                env = clean_env({"AUTOLAB_CACHE": str(tmp)})
                env.update({k: v for k, v in os.environ.items() if k == "AUTOLAB_CORPUS"})
                # with inputs, prepare runs in a copy of main's files that holds them too
                workdir = evaluator if self.inputs.root is None else tmp.with_suffix(".work")
                if workdir != evaluator:
                    shutil.copytree(evaluator, workdir)
                    self.inputs.place(workdir)
                try:
                    code = run_command(config.prepare_command, workdir, env, log,
                                       time.monotonic() + 3600)
                finally:
                    if workdir != evaluator:
                        shutil.rmtree(workdir, ignore_errors=True)
            if code == 0:
                tmp.rename(data)
                return
            logged = tail(log)
            shutil.rmtree(tmp, ignore_errors=True)
            log.unlink(missing_ok=True)
            if attempt == 2 or IMPORT_ERROR.search(logged):
                raise mains_failure("prepare_command", config.prepare_command, code, logged)
