"""Runs trials on this machine: exact committed bytes, hard timeouts, N at a time.

Each job gets a scratch directory holding `git archive` of its commit (never a
working tree), the manifest is verified on those bytes, training runs in its
own process group so a timeout kills everything it spawned, and the evaluator
comes from main's frozen files, never from the trial.
"""

from __future__ import annotations

import os
import shutil
import threading
import time
import uuid
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor
from concurrent.futures import wait as wait_futures
from pathlib import Path

from autolab.config import Lab
from autolab.gitops import Repo
from autolab.integrity import differences, evaluator_files, manifest_of_dir, tree_sha256, watched
from autolab.records import Job, RunResult
from autolab.runners.contract import (
    Trained,
    clean_env,
    eval_env,
    judge_eval,
    judge_train,
    read_curve,
    run_command,
    tail,
    train_env,
)


class LocalRunner:
    name = "local"

    def __init__(self, lab: Lab, parallel: int = 1):
        self.lab = lab
        self.repo = Repo(lab.root)
        self.pool = ThreadPoolExecutor(max_workers=parallel, thread_name_prefix="trial")
        self._prepared: dict[str, tuple[Path, str, str]] = {}
        self._prepare_lock = threading.Lock()

    def submit(self, job: Job) -> Future:
        return self.pool.submit(self.run, job)

    def wait(self, handles: list, timeout: float | None = None) -> list[RunResult]:
        done, _ = wait_futures(handles, timeout=timeout, return_when=FIRST_COMPLETED)
        return [f.result() for f in handles if f in done]

    def close(self) -> None:
        self.pool.shutdown(wait=True)

    # one job ---------------------------------------------------------------
    def run(self, job: Job) -> RunResult:
        started = time.monotonic()
        work = self.lab.home / "work" / f"{job.trial_id}-s{job.seed}-{uuid.uuid4().hex[:6]}"
        try:
            return self._run(job, work, started)
        except Exception as exc:  # a broken runner is never blamed on the idea
            return RunResult(job, "infra_error", f"runner failed: {exc!r}"[:300],
                             wall_s=time.monotonic() - started, runner=self.name)
        finally:
            shutil.rmtree(work, ignore_errors=True)

    def _run(self, job: Job, work: Path, started: float) -> RunResult:
        config = self.lab.config
        tree, out, log = work / "tree", work / "out", work / "train.log"
        self.repo.archive(job.commit_sha, tree)
        out.mkdir(parents=True)
        evaluator, evaluator_sha, data, data_sha = self.prepared(job.eval_sha)
        done = dict(job=job, runner=self.name, evaluator_sha256=evaluator_sha,
                    data_sha256=data_sha)

        def ended(status: str, reason: str, **more) -> RunResult:
            return RunResult(status=status, reason=reason, wall_s=time.monotonic() - started,
                             **done, **{"log_tail": tail(log), **more})

        mismatch = differences(job.manifest, manifest_of_dir(tree, watched(config)))
        if mismatch:
            return ended("integrity_mismatch", "the extracted files differ from the manifest "
                         f"of {job.commit_sha[:10]}: {', '.join(mismatch[:5])}")

        deadline = started + config.timeout_seconds
        env = train_env(job.trial_id, job.seed, config.budget_seconds, data / "train", out)
        stopped: list[str] = []

        def losing() -> bool:
            reason = job.prune.verdict(read_curve(out))
            stopped.extend([reason] if reason else [])
            return bool(reason)

        t0 = time.monotonic()
        code = run_command(config.train_command, tree, env, log, deadline,
                           watch=losing if job.prune else None)
        trained = Trained.collect(code, out, log, time.monotonic() - t0)
        done.update(train_s=trained.train_s, curve=trained.curve)
        if code == "pruned":
            return ended("pruned", stopped[0])
        failed = judge_train(trained, config.timeout_seconds)
        if failed:
            return ended(failed.status, failed.reason)

        result_path, eval_log = work / "result.json", work / "eval.log"
        env = eval_env(out, data / "heldout", job.seed, result_path)
        t1 = time.monotonic()
        code = run_command(config.evaluate_command, evaluator, env, eval_log, deadline)
        done.update(eval_s=time.monotonic() - t1)
        text = result_path.read_text() if result_path.exists() else None
        judged = judge_eval(code, text, config.metric, trained.train_s)
        return ended(judged.status, judged.reason, metrics=judged.metrics,
                     **({"log_tail": tail(eval_log)} if judged.eval_log else {}))

    # main's evaluator and the prepared data, once per evaluator version --------
    def prepared(self, eval_sha: str) -> tuple[Path, str, Path, str]:
        with self._prepare_lock:
            if eval_sha not in self._prepared:
                self._prepared[eval_sha] = self._prepare(eval_sha)
            return self._prepared[eval_sha]

    def _prepare(self, eval_sha: str):
        config, home = self.lab.config, self.lab.home
        paths = evaluator_files(self.repo, config, eval_sha)
        evaluator = home / "evaluators" / eval_sha
        if not evaluator.exists():
            tmp = evaluator.with_name(f"{eval_sha}.{uuid.uuid4().hex[:6]}")
            self.repo.archive(eval_sha, tmp, paths)
            tmp.rename(evaluator)
        evaluator_sha = manifest_of_dir(evaluator, config.frozen).config_sha256
        data = home / "data" / evaluator_sha[:16]
        if not data.exists():
            tmp = data.with_name(f"{data.name}.{uuid.uuid4().hex[:6]}")
            (tmp / "train").mkdir(parents=True)
            (tmp / "heldout").mkdir()
            if config.prepare_command:
                log = tmp.with_suffix(".log")
                env = clean_env({"AUTOLAB_CACHE": str(tmp)})
                env.update({k: v for k, v in os.environ.items() if k == "AUTOLAB_CORPUS"})
                code = run_command(config.prepare_command, evaluator, env, log,
                                   time.monotonic() + 3600)
                if code != 0:
                    raise RuntimeError(f"prepare_command exited {code}: {tail(log, 3)}")
            tmp.rename(data)
        return evaluator, evaluator_sha, data, tree_sha256(data)
