"""Runs trials on this machine: exact committed bytes, hard timeouts, N at a time.

Each job gets a scratch directory holding `git archive` of its commit (never a
working tree), the manifest is verified on those bytes, training runs in its
own process group so a timeout kills everything it spawned, and the evaluator
comes from main's frozen files, never from the trial.
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
import uuid
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor
from concurrent.futures import wait as wait_futures
from pathlib import Path

from autolab.config import Lab
from autolab.gitops import Repo, glob_regex
from autolab.integrity import differences, manifest_of_dir, tree_sha256, watched
from autolab.records import Job, RunResult

TAIL_LINES = 20
OOM = re.compile(r"MemoryError|out of memory|OutOfMemoryError|Cannot allocate memory")
# Variables a trial could use to reach an account: never handed to untrusted code.
SECRET = re.compile(r"TOKEN|SECRET|PASSWORD|API_KEY|ACCESS_KEY|CREDENTIAL|^GH_|^GITHUB_|"
                    r"^ANTHROPIC_|^MODAL_|^AWS_", re.I)
SIDECARS = {"curve.jsonl", "meta.json"}


def clean_env(extra: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not SECRET.search(k)
           and not k.startswith("AUTOLAB_")}
    # commands say `python`; make it the interpreter autolab itself runs under
    env["PATH"] = os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", "")
    env.update(extra)
    return env


def run_command(command: str, cwd: Path, env: dict, log: Path, deadline: float) -> str | int:
    """Exit code, or "timeout" after the whole process group was killed at `deadline`."""
    with open(log, "ab") as out:
        proc = subprocess.Popen(command, shell=True, cwd=cwd, env=env, stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True)
        try:
            return proc.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            return "timeout"


def tail(log: Path, lines: int = TAIL_LINES) -> str:
    if not log.exists():
        return ""
    text = log.read_bytes()[-20000:].decode(errors="replace")
    return "\n".join(text.splitlines()[-lines:])


def read_curve(out: Path) -> tuple:
    path = out / "curve.jsonl"
    if not path.exists():
        return ()
    points = []
    for line in path.read_text(errors="replace").splitlines():
        try:
            point = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(point, dict):
            points.append(point)
    return tuple(points)


def _finite(x) -> bool:
    return isinstance(x, (int, float)) and math.isfinite(x)


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
            return RunResult(status=status, reason=reason, log_tail=tail(log),
                             wall_s=time.monotonic() - started, **done, **more)

        mismatch = differences(job.manifest, manifest_of_dir(tree, watched(config)))
        if mismatch:
            return ended("integrity_mismatch", "the extracted files differ from the manifest "
                         f"of {job.commit_sha[:10]}: {', '.join(mismatch[:5])}")

        deadline = started + config.timeout_seconds
        env = clean_env({"AUTOLAB_TRIAL_ID": job.trial_id, "AUTOLAB_SEED": str(job.seed),
                         "AUTOLAB_BUDGET_S": f"{config.budget_seconds:g}",
                         "AUTOLAB_DATA": str(data / "train"), "AUTOLAB_OUT": str(out)})
        t0 = time.monotonic()
        code = run_command(config.train_command, tree, env, log, deadline)
        train_s = time.monotonic() - t0
        curve = read_curve(out)
        done.update(train_s=train_s, curve=curve)
        if code == "timeout":
            return ended("timeout", f"training passed timeout_seconds={config.timeout_seconds:g}")
        if code != 0:
            text = tail(log)
            last = text.splitlines()[-1] if text else f"exit code {code}"
            if OOM.search(text) or code == -signal.SIGKILL:
                return ended("oom", f"out of memory: {last}"[:300])
            return ended("crash", f"train exited with {code}: {last}"[:300])
        if any(not _finite(p.get("train_loss")) for p in curve):
            return ended("diverged", "the training loss became NaN or infinite")
        if not [p for p in out.rglob("*") if p.is_file() and p.name not in SIDECARS]:
            return ended("no_artifact", "training exited 0 but wrote no artifact to AUTOLAB_OUT")

        result_path, eval_log = work / "result.json", work / "eval.log"
        eval_env = clean_env({"AUTOLAB_ARTIFACT": str(out), "AUTOLAB_HELDOUT":
                              str(data / "heldout"), "AUTOLAB_SEED": str(job.seed),
                              "AUTOLAB_RESULT": str(result_path)})
        t1 = time.monotonic()
        code = run_command(config.evaluate_command, evaluator, eval_env, eval_log, deadline)
        eval_s = time.monotonic() - t1
        done.update(eval_s=eval_s)
        if code == "timeout":
            return ended("timeout", "evaluation passed timeout_seconds", log_tail=tail(eval_log))
        try:
            result = json.loads(result_path.read_text())
            status, metrics = result["status"], dict(result.get("metrics") or {})
        except (OSError, ValueError, KeyError, TypeError):
            return RunResult(status="eval_error", reason=f"evaluator exited {code} without a "
                             "valid result.json", log_tail=tail(eval_log),
                             wall_s=time.monotonic() - started, **done)
        if code != 0:
            return RunResult(status="eval_error", reason=f"evaluator exited {code}",
                             log_tail=tail(eval_log), wall_s=time.monotonic() - started, **done)
        reason = str(result.get("reason", ""))[:300]
        metrics["train_seconds"] = round(train_s, 3)
        if status in ("gate_failed", "no_artifact"):
            return ended(status, reason or status, metrics=metrics)
        if status != "ok":
            return ended("eval_error", f"evaluator status {status!r} is not ok/gate_failed")
        value = metrics.get(config.metric)
        if not _finite(value):
            return ended("diverged" if isinstance(value, float) else "eval_error",
                         f"evaluator gave {config.metric}={value!r}", metrics=metrics)
        return ended("ok", reason, metrics=metrics)

    # main's evaluator and the prepared data, once per evaluator version --------
    def prepared(self, eval_sha: str) -> tuple[Path, str, Path, str]:
        with self._prepare_lock:
            if eval_sha not in self._prepared:
                self._prepared[eval_sha] = self._prepare(eval_sha)
            return self._prepared[eval_sha]

    def _prepare(self, eval_sha: str):
        config, home = self.lab.config, self.lab.home
        frozen = glob_regex(config.frozen)
        paths = [p for _m, _s, p in self.repo.files(eval_sha) if frozen.match(p)]
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
