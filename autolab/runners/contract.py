"""The command contract (README: "The lab contract"), shared by every runner.

How a lab's commands are started (environment, secrets stripped, process
group killed at the deadline), how trees travel (tar bytes), and how a finished
train or evaluate run is labelled. Only the standard library and autolab's own
stdlib-only modules are imported here, because this module also runs inside
the Modal containers, where autolab's other dependencies are not installed.

Its place in the whole: ARCHITECTURE.md, "The trust boundary".
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import os
import re
import signal
import subprocess
import sys
import tarfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from autolab.errors import MainError, UserError
from autolab.records import Manifest, Status

TAIL_LINES = 20
OOM = re.compile(r"MemoryError|out of memory|OutOfMemoryError|Cannot allocate memory")
# a command that cannot import what it needs fails the same way every time it starts
IMPORT_ERROR = re.compile(r"\b(ModuleNotFoundError|ImportError)\b")
# how a process ends when someone or something outside it stopped it: the runner lost it
STOPPED = (signal.SIGTERM, signal.SIGHUP, signal.SIGINT)
# Variables a trial could use to reach an account: never handed to untrusted code.
SECRET = re.compile(r"TOKEN|SECRET|PASSWORD|API_KEY|ACCESS_KEY|CREDENTIAL|^GH_|^GITHUB_|"
                    r"^ANTHROPIC_|^MODAL_|^AWS_", re.I)
SIDECARS = {"curve.jsonl", "meta.json"}
# one `key: value` line of the summary a self-scoring train command prints at its end
# (autoresearch's `val_bpb:          0.997900`); `key = value` is read the same way
SUMMARY = re.compile(r"^\s*([A-Za-z_][\w./-]*)\s*[:=]\s*([-+]?(?:\d+\.?\d*|\.\d+)"
                     r"(?:[eE][-+]?\d+)?|[-+]?(?:nan|inf|infinity))\s*$", re.I)
SUMMARY_BYTES = 65536   # the summary is at the log's end; a long log is read from there


class BudgetExhausted(UserError):
    """The next job could pass `[tool.autolab.budget]`; nothing more is submitted."""


def clean_env(extra: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not SECRET.search(k)
           and not k.startswith("AUTOLAB_")}
    # commands say `python`; make it the interpreter autolab itself runs under
    env["PATH"] = os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", "")
    env.update(extra)
    return env


def train_env(trial_id: str, seed: int, budget_s: float, data: Path, out: Path,
              lab: dict[str, str] | None = None) -> dict:
    """`lab`: what the runner table adds (`threads`, `env`); the contract's own names win."""
    return clean_env({**(lab or {}), "AUTOLAB_TRIAL_ID": trial_id, "AUTOLAB_SEED": str(seed),
                      "AUTOLAB_BUDGET_S": f"{budget_s:g}", "AUTOLAB_DATA": str(data),
                      "AUTOLAB_OUT": str(out)})


def eval_env(artifact: Path, heldout: Path, seed: int, result: Path,
             lab: dict[str, str] | None = None) -> dict:
    return clean_env({**(lab or {}), "AUTOLAB_ARTIFACT": str(artifact),
                      "AUTOLAB_HELDOUT": str(heldout), "AUTOLAB_SEED": str(seed),
                      "AUTOLAB_RESULT": str(result)})


def run_command(command: str | list[str], cwd: Path, env: dict, log: Path, deadline: float,
                watch=None, every_s: float = 0.5) -> str | int:
    """Exit code, or "timeout" after the whole process group was killed at `deadline`,
    or "pruned" when `watch()` (asked every `every_s`) said to stop it. A string is a
    shell command line; a list is an argv (a sandbox's, wrapping the command line)."""
    with open(log, "ab") as out:
        # a session of its own and no terminal: nothing it starts outlives the kill below,
        # and nothing it runs can type into the user's terminal
        proc = subprocess.Popen(command, shell=isinstance(command, str), cwd=cwd, env=env,
                                stdin=subprocess.DEVNULL, stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True)
        while True:
            left = deadline - time.monotonic()
            try:
                return proc.wait(timeout=max(0.0, min(left, every_s) if watch else left))
            except subprocess.TimeoutExpired:
                if time.monotonic() >= deadline:
                    stop = "timeout"
                elif watch and watch():
                    stop = "pruned"
                else:
                    stop = None
                if stop:
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait()
                    return stop


def tail(log: Path, lines: int = TAIL_LINES) -> str:
    if not log.exists():
        return ""
    text = log.read_bytes()[-20000:].decode(errors="replace")
    return "\n".join(text.splitlines()[-lines:])


def last_error(log_tail: str) -> str:
    """The line of a log tail that says what went wrong: its last non-empty one."""
    return next((ln.strip() for ln in reversed(log_tail.splitlines()) if ln.strip()), "")


def mains_failure(name: str, command: str, code: int | str, log_tail: str) -> MainError:
    """main's own `name` command failed in a way no trial can cause or a retry can fix: the
    error that stops the run, with the command and its log as plain lines."""
    ended = "passed its time limit" if code == "timeout" else f"exited {code}"
    indented = "\n".join(f"    {ln}" for ln in log_tail.splitlines()) or "    (no output)"
    return MainError(
        f"main's {name} failed ({last_error(log_tail) or ended}) and fails the same way on "
        f"every try, so no trial can be judged; it is main's, not a trial's. Fix it on "
        f"main (it runs in main's frozen files) or install what it needs, then run again."
        f"\n  command: {command}\n"
        f"  {ended}; the last lines of its log:\n{indented}")


def stopped_by(code: int | str) -> str:
    """The name of the signal from outside that ended a command, or "" (a shell or a sandbox
    in between reports it as 128 + its number)."""
    if not isinstance(code, int):
        return ""
    number = -code if code < 0 else code - 128
    return next((s.name for s in STOPPED if s == number), "")


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


def read_summary(log: Path) -> dict[str, float]:
    """Every `key: number` line at the end of a train log, the last value of a key winning."""
    if not log.exists():
        return {}
    with open(log, "rb") as handle:
        handle.seek(max(0, log.stat().st_size - SUMMARY_BYTES))
        text = handle.read().decode(errors="replace")
    found = {}
    for line in text.splitlines():
        match = SUMMARY.match(line)
        if match:
            found[match.group(1)] = float(match.group(2))
    return found


def finite(x) -> bool:
    return isinstance(x, (int, float)) and math.isfinite(x)


# trees travel as tar bytes -------------------------------------------------
def pack(root: Path) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for path in sorted(root.rglob("*")):
            tar.add(path, arcname=path.relative_to(root).as_posix(), recursive=False)
    return buffer.getvalue()


def unpack(data: bytes, dest: Path) -> None:
    dest.mkdir(parents=True, exist_ok=True)
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        tar.extractall(dest, filter="data")   # refuses links and paths out of `dest`


def tree_sha256(root: Path) -> str:
    """One hash over every file under `root`; the same value as integrity.tree_sha256."""
    files = tuple(sorted((p.relative_to(root).as_posix(), hashlib.sha256(p.read_bytes())
                          .hexdigest()) for p in root.rglob("*") if p.is_file()))
    return Manifest(files).config_sha256


# labelling a finished run ----------------------------------------------------
@dataclass(frozen=True)
class Trained:
    """What a train command left behind, wherever it ran."""

    code: int | str                 # exit code, or "timeout"
    log_tail: str
    curve: tuple
    artifacts: int                  # files in AUTOLAB_OUT besides the sidecars
    train_s: float
    summary: dict = field(default_factory=dict)     # the log's `key: number` lines

    @classmethod
    def collect(cls, code: int | str, out: Path, log: Path, train_s: float) -> Trained:
        artifacts = sum(1 for p in out.rglob("*") if p.is_file() and p.name not in SIDECARS)
        return cls(code, tail(log), read_curve(out), artifacts, train_s, read_summary(log))


@dataclass(frozen=True)
class Ending:
    status: Status                  # OK or a failure
    reason: str
    metrics: dict = field(default_factory=dict)
    eval_log: bool = False          # the evaluator's log, not training's, explains it


def judge_train(run: Trained, timeout_s: float, needs_artifact: bool = True) -> Ending | None:
    """The failure label of a training run, or None when it may be evaluated. A self-scoring
    script (`needs_artifact=False`) may save nothing."""
    if run.code == "timeout":
        return Ending(Status.TIMEOUT, f"training passed timeout_seconds={timeout_s:g}")
    if stopped_by(run.code):
        return Ending(Status.INFRA_ERROR, f"training was stopped from outside by "
                      f"{stopped_by(run.code)}; the runner lost it, not the idea")
    if run.code != 0:
        last = run.log_tail.splitlines()[-1] if run.log_tail else f"exit code {run.code}"
        if OOM.search(run.log_tail) or run.code == -signal.SIGKILL:
            return Ending(Status.OOM, f"out of memory: {last}"[:300])
        return Ending(Status.CRASH, f"train exited with {run.code}: {last}"[:300])
    if any(not finite(p.get("train_loss")) for p in run.curve):
        return Ending(Status.DIVERGED, "the training loss became NaN or infinite")
    if needs_artifact and not run.artifacts:
        return Ending(Status.NO_ARTIFACT, "training exited 0 but wrote no artifact to AUTOLAB_OUT")
    return None


def judge_eval(code: int | str, result_text: str | None, metric: str, train_s: float) -> Ending:
    """The label of an evaluation from its exit code and the result.json it wrote."""
    if code == "timeout":
        return Ending(Status.TIMEOUT, "evaluation passed timeout_seconds", eval_log=True)
    try:
        result = json.loads(result_text or "")
        status, metrics = result["status"], dict(result.get("metrics") or {})
    except (ValueError, KeyError, TypeError, AttributeError):
        return Ending(Status.EVAL_ERROR, f"evaluator exited {code} without a valid result.json",
                      eval_log=True)
    if code != 0:
        return Ending(Status.EVAL_ERROR, f"evaluator exited {code}", eval_log=True)
    reason = str(result.get("reason", ""))[:300]
    metrics["train_seconds"] = round(train_s, 3)
    if status in ("gate_failed", "no_artifact"):
        return Ending(Status(status), reason or status, metrics)
    if status != "ok":
        return Ending(Status.EVAL_ERROR, f"evaluator status {status!r} is not ok/gate_failed")
    value = metrics.get(metric)
    if not finite(value):
        return Ending(Status.DIVERGED if isinstance(value, float) else Status.EVAL_ERROR,
                      f"evaluator gave {metric}={value!r}", metrics)
    return Ending(Status.OK, reason, metrics)


def judge_log(run: Trained, metric: str, secondary: tuple[str, ...]) -> Ending:
    """The label of a self-scoring run (`metric_from = "train_log"`) from its summary lines."""
    value = run.summary.get(metric)
    if value is None:
        return Ending(Status.NO_ARTIFACT, f"training exited 0 but its log has no "
                      f"`{metric}: <number>` line to read the metric from "
                      f"(metric_from = \"train_log\")")
    metrics = {name: run.summary[name] for name in (metric, *secondary) if name in run.summary}
    metrics["train_seconds"] = round(run.train_s, 3)
    if not math.isfinite(value):
        return Ending(Status.DIVERGED, f"training printed {metric}: {value}", metrics)
    return Ending(Status.OK, "", metrics)
