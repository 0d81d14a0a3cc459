"""Runs trials on Modal GPUs: `.spawn()` per stage, results collected as they finish.

A job's trial tree is the `git archive` of its commit; the manifest is checked on
exactly those bytes here, then the same bytes are sent to `train_trial`. When
training ends well, main's evaluator tree and the artifact go to `evaluate_trial`.
Both stages are labelled by the same contract as the local runner. Modal's own
failures become labels too: its timeout is `timeout`, a lost input is
`infra_error` (the loop retries those once), a container killed for memory is
`oom`. Output the trial made that cannot travel to the evaluation (a link out of
its tree, a file it cannot read, more than MAX_ARTIFACT_BYTES) is the trial's
own `crash`, never retried. A job Modal does not take (the App would not start, the
network is down) is `infra_error` too, and the next job starts the App afresh; when
the retry fails as well, the run stops with one line and its open trials resume on the
next run.

What a job costs is what Modal bills: per second, for each container from its start-up
to its exit, its GPUs plus its CPU cores and memory (reserved and limited alike, so
the bill is known):

    usd = container_s / 3600 * (gpus * usd_per_gpu_hour
                                + cpu * usd_per_cpu_core_hour + memory_gib * usd_per_gib_hour)
    container_s = run_s + startup_s, for train_trial and for evaluate_trial

`run_s` is what the function measured inside; `startup_s` is the rest of the time from
the spawn to the result, at most modal_app.STARTUP_S (Modal's start-up limit). That
also holds any wait for a free GPU and up to POLL_S of polling, so it errs high. What
is left past that is an earlier attempt Modal lost and restarted (preemption), which
Modal bills too: it counts in full. Data preparation, once per evaluator, adds its CPU
and memory time to the job that asked for it. Every job holds its worst case (both
stages at STARTUP_S plus their hard timeouts, one preempted attempt of a stage, and the
data preparation if it may run) in the run's Spend until its bill replaces it; a job
Modal restarts past that is cancelled. The room for the agent's next call is kept too.
So no submit can carry the run past max_gpu_hours, or past max_usd with the agent's
tokens counted in.

Its place in the whole: ARCHITECTURE.md, "Contracts".
"""

from __future__ import annotations

import io
import re
import tarfile
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import modal.exception
from modal._utils.function_utils import parse_gpu_config  # modal's own reading of `gpu=`

from autolab import inputs
from autolab.config import Lab
from autolab.errors import ConfigError, InfraError, MainError, UserError
from autolab.gitops import Repo
from autolab.integrity import differences, evaluator_files, manifest_of_dir, watched
from autolab.records import Job, RunResult, Status
from autolab.runners import modal_app
from autolab.runners.base import BaseRunner
from autolab.runners.contract import (
    IMPORT_ERROR,
    OOM,
    BudgetExhausted,
    judge_eval,
    judge_log,
    judge_train,
    mains_failure,
    unpack,
)
from autolab.spend import Spend

POLL_S = 2.0
# each job is held for this many preempted attempts of a stage, which Modal restarts
# and bills; a job restarted more often is cancelled rather than pass what it holds
PREEMPTIONS_HELD = 1
STARTS_IN_A_ROW = 2     # a job and the loop's one retry of it: Modal is down, stop the run
# Modal's list prices (modal.com/pricing) on PRICES_DATE, per hour of what it bills per
# second; set usd_per_gpu_hour, usd_per_cpu_core_hour and usd_per_gib_hour in
# [tool.autolab.runner.modal] when yours differ (a region or non-preemptible multiplier, a plan).
PRICES_DATE = "2026-06-27"
USD_PER_GPU_HOUR = {"T4": 0.59, "L4": 0.80, "A10G": 1.10, "A10": 1.10, "L40S": 1.95,
                    "A100": 2.10, "A100-40GB": 2.10, "A100-80GB": 2.50, "H100": 3.95,
                    "H200": 4.54, "B200": 6.25}
USD_PER_CPU_CORE_HOUR = 0.04716     # $0.0000131 per physical core-second
USD_PER_GIB_HOUR = 0.007992         # $0.00000222 per GiB-second


DEAREST_GPU = max(USD_PER_GPU_HOUR.values())


def gpu_kind(runner: modal_app.ModalSettings, where: str) -> tuple[str, int]:
    """(GPU type, GPUs per container) as the installed modal reads `runner.gpu` ("H100",
    "H100!", "RTX-PRO-6000", "A100-80GB:2"); ConfigError for a string it refuses."""
    try:
        parsed = parse_gpu_config(runner.gpu)
    except modal.exception.InvalidError as exc:
        raise ConfigError(f"{where}: `runner.gpu` = {runner.gpu!r} is not a GPU string modal "
                          f"accepts ({exc}); write a type and an optional count, like "
                          "\"H100\", \"H100!\" or \"A100-80GB:2\"") from None
    if parsed.count < 1:
        raise ConfigError(f"{where}: `runner.gpu` = {runner.gpu!r} asks for {parsed.count} "
                          "GPUs; give a count of 1 or more, or no `runner.gpu` for CPU only")
    return parsed.gpu_type, parsed.count


def gpu_price(runner: modal_app.ModalSettings, where: str) -> tuple[int, float]:
    """(GPUs per container, USD per container-hour); CPU-only containers count as none.
    A type the table lacks is priced as its dearest GPU (unpriced_note says so)."""
    if not runner.gpu:
        return 0, 0.0
    kind, n = gpu_kind(runner, where)
    # "H100!" is an H100 that Modal may not upgrade to an H200: the H100's price
    per_gpu = runner.usd_per_gpu_hour or USD_PER_GPU_HOUR.get(kind.rstrip("!"), DEAREST_GPU)
    return n, n * per_gpu


def unpriced_note(runner: modal_app.ModalSettings, where: str) -> str:
    """The one line a run says when `runner.gpu` is priced as the dearest GPU; or ""."""
    if not runner.gpu or runner.usd_per_gpu_hour:
        return ""
    kind, _ = gpu_kind(runner, where)
    if kind.rstrip("!") in USD_PER_GPU_HOUR:
        return ""
    return (f"{where}: `runner.gpu` = {runner.gpu!r} is not in the GPU price table of "
            f"{PRICES_DATE}: priced as the dearest (${DEAREST_GPU:g} an hour) so max_usd errs "
            "safe; set `usd_per_gpu_hour` in [tool.autolab.runner.modal] to its price")


@dataclass(frozen=True)
class Rate:
    """USD per hour of one container, in the two parts Modal bills."""

    gpus: int
    gpu: float          # all its GPUs
    cpu: float          # its CPU cores and memory

    @classmethod
    def of(cls, runner: modal_app.ModalSettings, spec: modal_app.Spec, where: str) -> Rate:
        gpus, gpu = gpu_price(runner, where)
        cpu = (spec.cpu * (runner.usd_per_cpu_core_hour or USD_PER_CPU_CORE_HOUR)
               + spec.memory_mib / 1024 * (runner.usd_per_gib_hour or USD_PER_GIB_HOUR))
        return cls(gpus, gpu, cpu)

    def usd(self, seconds: float, cpu_only_s: float = 0.0) -> tuple[float, float]:
        """(GPU USD, CPU and memory USD) of `seconds` in a container with the GPUs, and
        `cpu_only_s` in one without (data preparation)."""
        return seconds / 3600 * self.gpu, (seconds + cpu_only_s) / 3600 * self.cpu


@dataclass(eq=False)    # a handle: the loop keys dicts by it, so identity is its hash
class RemoteJob:
    """One job between its submit and its RunResult."""

    job: Job
    started: float
    call: Any = None                # the FunctionCall of the stage now running
    stage_started: float = 0.0
    train: modal_app.TrainRun | None = None
    seconds: float = 0.0            # container seconds billed so far, start-up included
    startup_s: float = 0.0          # of which start-up (an upper bound)
    preempted_s: float = 0.0        # of which attempts Modal lost and restarted
    prepare_s: float = 0.0          # CPU-only seconds preparing the data for this job
    result: RunResult | None = None


class ModalRunner(BaseRunner):
    name = "modal"
    Settings = modal_app.ModalSettings

    @classmethod
    def from_lab(cls, lab: Lab, settings: Any, parallel: int,
                 spend: Spend | None) -> ModalRunner:
        return cls(lab, parallel, spend=spend, settings=settings)

    def __init__(self, lab: Lab, parallel: int = 1, app: modal_app.ModalApp | None = None,
                 spend: Spend | None = None, clock: Callable[[], float] = time.monotonic,
                 settings: modal_app.ModalSettings | None = None):
        self.lab, self.config = lab, lab.config
        self.settings = settings or modal_app.ModalSettings.of(lab.config, lab.where)
        self.repo = Repo(lab.root)
        self.modal = app or modal_app.build(lab.config, parallel, self.settings)
        self.rate = Rate.of(self.settings, self.modal.spec, lab.where)
        self.gpus = self.rate.gpus
        self.spend = spend or Spend(lab.config.budget.max_usd)
        self.clock = clock          # time.monotonic; a test's clock stands in for Modal's
        if note := unpriced_note(self.settings, lab.where):
            self.spend.note_once(note)
        # both functions at their start-up limit and hard timeout, and one of them again
        # for an attempt Modal lost and restarted: one job's most
        self.stage_s = modal_app.STARTUP_S + self.modal.spec.timeout_s
        self.worst_s = (2.0 + PREEMPTIONS_HELD) * self.stage_s
        # the data preparation at its start-up limit and timeout, on CPU only
        self.prepare_worst_s = modal_app.STARTUP_S + modal_app.PREPARE_S
        self.spent_s = 0.0          # container seconds of finished jobs
        self.reserved: dict[int, float] = {}    # container seconds held for jobs in flight
        self.running: Any = None    # the ephemeral App's context, entered at the first submit
        self.failed_starts = 0      # submits in a row that Modal did not take
        self._evaluators: dict[str, tuple[bytes, str, str, str]] = {}
        self._broken: dict[str, MainError] = {}   # by evaluator version: prepare never ran clean
        self.inputs = inputs.snapshot(lab)     # git-ignored inputs: prepare's, self-scoring's
        self.self_scoring = lab.config.metric_from == "train_log"

    # budget ------------------------------------------------------------------
    def usd(self, seconds: float) -> float:
        return sum(self.rate.usd(seconds))

    def prepare_usd(self, eval_sha: str | None = None) -> float:
        """The data preparation at its worst, while it may still run: once per evaluator
        (`eval_sha`), or before the run has prepared any."""
        pending = eval_sha not in self._evaluators if eval_sha else not self._evaluators
        return sum(self.rate.usd(0.0, self.prepare_worst_s)) if pending else 0.0

    def out_of_budget(self, jobs: int = 1) -> str:
        """Why a new trial's `jobs` could pass a cap, counting in-flight jobs at their worst,
        the data preparation while it may run, and the agent's call that proposes it; or ""."""
        return self.over(jobs, self.prepare_usd() + self.spend.agent_call_usd)

    def over(self, jobs: int, extra: float) -> str:
        """Why `jobs` more and `extra` USD could pass a cap, or ""."""
        budget = self.config.budget
        committed = self.spent_s + sum(self.reserved.values()) + jobs * self.worst_s
        if (budget.max_gpu_hours and self.gpus
                and committed * self.gpus / 3600 > budget.max_gpu_hours):
            return (f"budget: {jobs} more job(s) could pass max_gpu_hours="
                    f"{budget.max_gpu_hours:g} (spent {self.spent_s * self.gpus / 3600:.3f})")
        if jobs * self.usd(self.worst_s) + extra > self.spend.left():
            held = (f" + ${extra:.2f} for the data preparation and the agent's next call"
                    if extra else "")
            return (f"budget: {jobs} more job(s) could pass max_usd={self.spend.cap:g} "
                    f"(spent {self.spend.line()}; each job up to "
                    f"${self.usd(self.worst_s):.2f}{held})")
        return ""

    # Runner ------------------------------------------------------------------
    def submit(self, job: Job) -> RemoteJob:
        stop = self.over(1, self.prepare_usd(job.eval_sha))
        if stop:
            raise BudgetExhausted(f"{self.lab.where}: {stop}; raise [tool.autolab.budget] "
                                  "to go on")
        pending = RemoteJob(job, self.clock())
        self.reserved[id(pending)] = self.worst_s
        self.spend.reserved[id(pending)] = self.usd(self.worst_s) + self.prepare_usd(
            job.eval_sha)
        tree, files = self.trial_tree(job)
        mismatch = differences(job.manifest, files)
        if mismatch:
            return self.end(pending, Status.INTEGRITY_MISMATCH, "the archived files differ from "
                            f"the manifest of {job.commit_sha[:10]}: {', '.join(mismatch[:5])}")
        if self.self_scoring:   # it reads its data itself, from where the project keeps it
            tree = self.inputs.into_tar(tree)
        try:
            prepared, t0 = job.eval_sha in self._evaluators, self.clock()
            _, _, key, _ = self.evaluator(job.eval_sha)
            if not prepared:    # billed once, to the job that asked for it
                pending.prepare_s = min(self.clock() - t0, self.prepare_worst_s)
            self.start()
            pending.call = self.modal.train.spawn(
                tree, self.config.train_command, job.trial_id, job.seed,
                self.config.budget_seconds, self.config.timeout_seconds, key,
                lab_env=self.config.runner.command_env())
        except (UserError, MainError):
            raise
        except Exception as exc:    # Modal or the network, not the idea
            return self.not_started(pending, exc)
        self.failed_starts = 0
        pending.stage_started = self.clock()
        return pending

    def not_started(self, p: RemoteJob, exc: Exception) -> RemoteJob:
        """A job Modal did not take: `infra_error`, which the loop retries once; after
        STARTS_IN_A_ROW such failures in a row, stop the run rather than fail every trial."""
        self.failed_starts += 1
        what = f"{type(exc).__name__}: {exc}"[:300]
        if self.failed_starts >= STARTS_IN_A_ROW:
            self.end(p, Status.INFRA_ERROR, "")     # releases its reservation, bills what it used
            raise InfraError(f"Modal did not take a job {self.failed_starts} times in a row "
                             f"({what}); stopping. Trials in flight stay open and resume on the "
                             "next `autolab run`; check the network and https://status.modal.com")
        return self.end(p, Status.INFRA_ERROR, f"could not start the job on Modal ({what}); the "
                        "next submit starts the App again")

    def wait(self, handles: list, timeout: float | None = None) -> list[tuple[object, RunResult]]:
        deadline = None if timeout is None else self.clock() + timeout
        while True:
            done = [(p, p.result) for p in handles if self.advance(p)]
            if done or (deadline is not None and self.clock() >= deadline):
                return done
            time.sleep(POLL_S)

    def close(self) -> None:
        if self.running is not None:    # stopping the App stops its containers too
            self.running.__exit__(None, None, None)
            self.running = None

    # one job -----------------------------------------------------------------
    def start(self) -> None:
        if self.running is not None:
            return
        spec, t0 = self.modal.spec, self.clock()
        self.spend.say(f"starting the Modal App (image: python {spec.python}, pip: "
                       f"{', '.join(spec.pip) or 'nothing'}); building the image the first "
                       "time can take minutes")
        context = self.modal.app.run()
        try:
            context.__enter__()
        except modal.exception.AuthError as exc:
            raise UserError(f"Modal refused the token ({exc}); run `modal token new` or "
                            "set MODAL_TOKEN_ID and MODAL_TOKEN_SECRET") from None
        # kept only once entered: after any failed start the next job starts it afresh
        self.running = context
        self.spend.say(f"Modal App started in {self.clock() - t0:.0f} s")

    def advance(self, p: RemoteJob) -> bool:
        """Move `p` on if its stage finished; True once it has a result."""
        if p.result is not None:
            return True
        held = self.worst_s - p.seconds     # what this job may still bill
        try:
            output = p.call.get(timeout=0)
        except TimeoutError:        # the builtin: not finished yet
            if self.clock() - p.stage_started <= held:
                return False
            # only attempts Modal lost and restarted run this long: stop before the cap
            p.call.cancel()
            p.seconds = self.worst_s
            self.end(p, Status.INFRA_ERROR, f"Modal restarted the input (preemption) past the "
                     f"{self.worst_s:g} container-seconds the job was held at; cancelled")
            return True
        except Exception as exc:
            # billed at most: all the time since the spawn, within what the job holds
            p.seconds += min(self.clock() - p.stage_started, held)
            status, reason = failure(exc)
            self.end(p, status, reason)
            return True
        # the rest of the time since the spawn, up to Modal's start-up limit, is start-up;
        # any beyond it, an attempt Modal lost and restarted, which it billed as well
        rest = max(0.0, self.clock() - p.stage_started - output.seconds)
        startup = min(rest, modal_app.STARTUP_S)
        preempted = min(rest - startup, max(0.0, held - output.seconds - startup))
        p.seconds += output.seconds + startup + preempted
        p.startup_s += startup
        p.preempted_s += preempted
        if p.train is None:
            p.train = output
            if output.bad_output:       # the trial's own doing: never retried
                self.end(p, Status.CRASH, f"the trial's output cannot go to the evaluation: "
                         f"{output.bad_output}"[:300])
                return True
            failed = judge_train(output.trained, self.config.timeout_seconds,
                                 not self.self_scoring)
            if failed is None and self.self_scoring:    # the log holds the metric: no evaluate
                failed = judge_log(output.trained, self.config.metric, self.config.secondary)
            if failed:      # a failure, or a self-scoring run's end, "ok" or not
                self.end(p, failed.status, failed.reason, failed.metrics)
                return True
            evaluator, _, key, _ = self.evaluator(p.job.eval_sha)
            try:
                p.call = self.modal.evaluate.spawn(
                    evaluator, output.artifact, self.config.evaluate_command, p.job.seed,
                    self.config.timeout_seconds - output.trained.train_s, key,
                    lab_env=self.config.runner.command_env())
            except Exception as exc:    # the network between the stages, not the idea
                self.end(p, Status.INFRA_ERROR, f"could not start the evaluation on Modal "
                         f"({type(exc).__name__}: {exc})"[:300])
                return True
            p.stage_started = self.clock()
            return False
        if output.code == modal_app.BAD_ARTIFACT:
            self.end(p, Status.CRASH, f"the trial's artifact cannot be unpacked for evaluation: "
                     f"{output.log_tail}"[:300])
            return True
        judged = judge_eval(output.code, output.result, self.config.metric,
                            p.train.trained.train_s)
        self.end(p, judged.status, judged.reason, judged.metrics,
                 output.log_tail if judged.eval_log else None, output.eval_s)
        return True

    def end(self, p: RemoteJob, status: Status, reason: str, metrics: dict | None = None,
            log_tail: str | None = None, eval_s: float = 0.0) -> RemoteJob:
        self.reserved.pop(id(p), None)
        self.spend.reserved.pop(id(p), None)
        self.spent_s += p.seconds
        gpu_usd, cpu_usd = self.rate.usd(p.seconds, p.prepare_s)
        self.spend.compute_usd += gpu_usd + cpu_usd
        trained = p.train.trained if p.train else None
        _, evaluator_sha, _, data_sha = self._evaluators.get(p.job.eval_sha, ("", "", "", ""))
        metrics = {**(metrics or {}), "gpu_seconds": round(p.seconds * self.gpus, 1),
                   "startup_seconds": round(p.startup_s, 1), "gpu_usd": round(gpu_usd, 6),
                   "cpu_usd": round(cpu_usd, 6)}
        if p.preempted_s:
            metrics["preempted_seconds"] = round(p.preempted_s, 1)
        p.result = RunResult(
            p.job, status, reason, metrics=metrics, curve=trained.curve if trained else (),
            log_tail=log_tail if log_tail is not None else (trained.log_tail if trained else ""),
            train_s=trained.train_s if trained else 0.0, eval_s=eval_s,
            wall_s=self.clock() - p.started, data_sha256=data_sha,
            evaluator_sha256=evaluator_sha, runner=self.name, gpu=self.settings.gpu,
            sandbox="modal", inputs_sha256=self.inputs.digest)
        return p

    def confinement(self) -> str:
        return ("sandbox: modal (a fresh container per job with no secrets and no network; "
                "training mounts only the train split)")

    # what is sent ------------------------------------------------------------
    def trial_tree(self, job: Job):
        """The commit's archive bytes and the manifest recomputed on those very bytes."""
        tree = self.repo.git.archive("--format=tar", job.commit_sha, stdout_as_string=False)
        with tempfile.TemporaryDirectory() as tmp:
            unpack(tree, Path(tmp))
            return tree, manifest_of_dir(Path(tmp), watched(self.config))

    def evaluator_tree(self, eval_sha: str) -> tuple[bytes, str]:
        """main's frozen files as archive bytes, and their sha256 (evaluator_sha256)."""
        paths = evaluator_files(self.repo, self.config, eval_sha)
        tree = self.repo.git.archive("--format=tar", eval_sha, "--", *paths,
                                     stdout_as_string=False)
        with tempfile.TemporaryDirectory() as tmp:
            unpack(tree, Path(tmp))
            return tree, manifest_of_dir(Path(tmp), self.config.frozen).config_sha256

    def evaluator(self, eval_sha: str) -> tuple[bytes, str, str, str]:
        """The evaluator tree, its sha256, the data key, and the prepared data's sha256."""
        if eval_sha not in self._evaluators:
            tree, sha = self.evaluator_tree(eval_sha)
            self.start()
            key = inputs.data_key(sha, self.inputs.digest)
            t0 = self.clock()
            self.spend.say(f"preparing the data on Modal for evaluator {sha[:16]} "
                           f"({self.config.prepare_command or 'no prepare_command'!r}; once per "
                           f"version of main's frozen files, up to {modal_app.PREPARE_S} s)")
            data_sha = self.prepared_data(eval_sha, tree, key)
            self.spend.say(f"data ready in {self.clock() - t0:.0f} s (sha256 {data_sha[:16]})")
            self._evaluators[eval_sha] = (tree, sha, key, data_sha)
        return self._evaluators[eval_sha]

    def prepared_data(self, eval_sha: str, tree: bytes, key: str) -> str:
        """The prepared data's sha256. A failing prepare command is tried once more (a
        download's hiccup passes), except an import error, which fails the same way every
        time; then it is main's failure, which stops the run, and is not tried again for
        this evaluator version (as the local runner does)."""
        if eval_sha in self._broken:
            raise self._broken[eval_sha]
        command = self.config.prepare_command
        done = self.modal.prepare.remote(self.inputs.into_tar(tree), command, key)
        if not done.sha256 and not IMPORT_ERROR.search(done.log_tail):
            self.spend.say(f"the prepare command exited {done.code}; trying it once more")
            done = self.modal.prepare.remote(self.inputs.into_tar(tree), command, key)
        if done.sha256:
            return done.sha256
        self._broken[eval_sha] = mains_failure("prepare_command", command, done.code,
                                               done.log_tail)
        raise self._broken[eval_sha]

    def describe(self, job: Job) -> str:
        """What running `job` would send to Modal; builds everything, contacts nothing."""
        spec, config, budget = self.modal.spec, self.config, self.config.budget
        tree, files = self.trial_tree(job)
        evaluator, sha = self.evaluator_tree(job.eval_sha)
        closed = (f"gpu {spec.gpu or 'none (CPU)'}, {spec.cpu:g} CPU cores, {spec.memory_mib} MiB "
                  f"memory, hard timeout {spec.timeout_s} s, network "
                  f"blocked, no secrets, no Modal access, single-use containers, at most "
                  f"{spec.parallel} at once")
        lines = [
            f"app {modal_app.APP_NAME!r}: ephemeral, started at the first submit",
            f"image: debian_slim, python {spec.python}; pip: {', '.join(spec.pip) or 'nothing'}"
            "; autolab's source (the runner contract)",
            f"volume {modal_app.VOLUME_NAME!r}: train/{sha[:16]} and heldout/{sha[:16]}",
            f"prepare_data: {config.prepare_command or '(no prepare_command)'!r}, once per "
            f"evaluator; network on, no GPU, timeout {modal_app.PREPARE_S} s",
            f"train_trial: {config.train_command!r}, budget {config.budget_seconds:g} s, "
            f"killed at {config.timeout_seconds:g} s; {closed}; volume train/ only, read-only",
            (f"evaluate_trial: {config.evaluate_command!r}; {closed}; volume heldout/ only, "
             "read-only") if not self.self_scoring else (
                "evaluate_trial: not run; the metric is read from the train log's "
                f"`{config.metric}:` line (metric_from = \"train_log\")"),
            f"payload per job: trial tree {len(tree):,} bytes (commit {job.commit_sha[:10]}, "
            f"config_sha256 {files.config_sha256[:16]}), evaluator {len(evaluator):,} bytes "
            f"(evaluator_sha256 {sha[:16]}), and the artifact back from training",
            *(f"  trial     {name}  {size:,} bytes" for name, size in listing(tree)),
            *(f"  evaluator {name}  {size:,} bytes" for name, size in listing(evaluator)),
            f"cost per container-hour (prices of {PRICES_DATE}): ${self.rate.gpu:.4g} GPU + "
            f"${self.rate.cpu:.4g} for {spec.cpu:g} CPU cores and {spec.memory_mib} MiB; each "
            f"job at most {2 + PREEMPTIONS_HELD:g} x ({modal_app.STARTUP_S} s start-up + "
            f"{spec.timeout_s} s: two stages and one preempted attempt) = "
            f"{self.worst_s:g} s = ${self.usd(self.worst_s):.2f}, and the data preparation "
            f"once at most ${self.prepare_usd():.2f}; budget max_gpu_hours="
            f"{budget.max_gpu_hours or 'none'}, max_usd={budget.max_usd or 'none'} (the "
            "agent's tokens count too)",
        ]
        if spec.gpu is None:
            lines.append("note: no `gpu` in [tool.autolab.runner.modal]; trials run on CPU")
        return "\n".join(lines)


def listing(tree: bytes) -> list[tuple[str, int]]:
    with tarfile.open(fileobj=io.BytesIO(tree)) as tar:
        return [(m.name, m.size) for m in tar.getmembers() if m.isfile()]


def failure(exc: BaseException) -> tuple[Status, str]:
    """A Modal failure as a design label: never blamed on the idea unless it is the idea's."""
    text = f"{type(exc).__name__}: {exc}"[:300]
    if isinstance(exc, modal.exception.FunctionTimeoutError):
        return Status.TIMEOUT, f"the Modal function passed its hard timeout ({text})"
    # Modal's wording for a container killed for memory is not a documented API: match widely
    if OOM.search(str(exc)) or re.search(r"\bOOM", str(exc), re.I):
        return Status.OOM, f"the container ran out of memory ({text})"
    if isinstance(exc, modal.exception.InternalFailure):
        return Status.INFRA_ERROR, f"Modal lost the input (preemption or a worker failure; {text})"
    return Status.INFRA_ERROR, f"Modal call failed ({text})"
