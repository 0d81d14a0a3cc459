"""The Modal side of the `modal` runner: one App per lab config, three functions.

    prepare_data    main's frozen tree ─▶ Volume: train/<key>/, heldout/<key>/ (once per key)
    train_trial     a trial's `git archive` bytes ─▶ artifact tar, curve, log tail
                    no secrets, network blocked, no Modal access, single-use container,
                    only the Volume's train/ sub-path mounted (read-only)
    evaluate_trial  main's evaluator bytes + the artifact ─▶ result.json text, log tail
                    held-out sub-path mounted read-only; the artifact is untrusted, so
                    this container is as closed as the training one

The bodies are plain module functions that use the same command contract as the
local runner (`contract.py`). They are registered with `serialized=True`, so a
container unpickles them by reference to this module. That is why the image carries
autolab's source, and why `.local()` runs them here exactly as a container would.

Its place in the whole: ARCHITECTURE.md, "Contracts".
"""

from __future__ import annotations

import math
import os
import re
import shutil
import sys
import tarfile
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import modal

from autolab.config import Config, plugin_settings
from autolab.errors import UserError
from autolab.runners.contract import (
    Trained,
    clean_env,
    eval_env,
    pack,
    run_command,
    tail,
    train_env,
    tree_sha256,
    unpack,
)

APP_NAME = "autolab"
VOLUME_NAME = "autolab-data"
DATA = "/data"          # where the Volume, or one sub-path of it, is mounted
SETUP_S = 60            # unpacking, packing and exiting, beyond the lab's own deadline
PREPARE_S = 3600
# Modal's limit on a container's start-up (image pull, imports), which it bills like the
# rest: so one stage bills at most STARTUP_S + its timeout
STARTUP_S = 300
# each container's CPU cores and memory when [tool.autolab.runner.modal] sets none; reserved
# and limited alike, because Modal bills max(reservation, use) and the cap needs a bound
CPU_CORES = 4.0
MEMORY_MIB = 16384
VOLUME = modal.Volume.from_name(VOLUME_NAME, create_if_missing=True)   # lazy: no network yet
# The oldest modal whose API `build` uses: Volume.with_mount_options came in 1.5 (1.4.1
# has none) and single_use_containers in 1.3. pyproject.toml's `modal>=` floors say the same.
MODAL_FLOOR = (1, 5)


@dataclass(frozen=True)
class ModalSettings:
    """[tool.autolab.runner.modal] (ModalRunner.Settings); the flat keys of
    [tool.autolab.runner] with these names still count (config.MOVED)."""

    gpu: str = ""                   # a GPU string modal takes; "": CPU only
    pip: tuple[str, ...] = ()       # what the image installs (config.load: else the project's)
    usd_per_gpu_hour: float = 0.0   # 0: the price table's (autolab/runners/modal_runner.py)
    cpu: float = 0.0                # each container's cores and memory; 0: CPU_CORES, MEMORY_MIB
    memory_mib: int = 0
    usd_per_cpu_core_hour: float = 0.0
    usd_per_gib_hour: float = 0.0

    @classmethod
    def of(cls, config: Config, where: str = "[tool.autolab]") -> ModalSettings:
        """The settings a lab's config gives, for the runner built without the registry."""
        return plugin_settings(config, "runner", "modal", cls, where)


@dataclass(frozen=True)
class Spec:
    """Everything that shapes the App; what `--dry-run` prints is what `build` uses."""

    python: str
    pip: tuple[str, ...]
    gpu: str | None
    parallel: int
    timeout_s: int      # Modal's hard limit for train_trial and for evaluate_trial
    cpu: float = CPU_CORES
    memory_mib: int = MEMORY_MIB

    @classmethod
    def of(cls, config: Config, parallel: int, settings: ModalSettings | None = None) -> Spec:
        own = settings or ModalSettings.of(config)
        return cls(python=f"{sys.version_info.major}.{sys.version_info.minor}",
                   pip=own.pip, gpu=own.gpu or None, parallel=parallel,
                   timeout_s=math.ceil(config.timeout_seconds) + SETUP_S,
                   cpu=own.cpu or CPU_CORES, memory_mib=own.memory_mib or MEMORY_MIB)


@dataclass(frozen=True)
class ModalApp:
    spec: Spec
    app: modal.App
    prepare: modal.Function
    train: modal.Function
    evaluate: modal.Function


# the artifact travels through the machine that runs autolab, in memory, on its way from
# training to the evaluation: a trial may not send more
MAX_ARTIFACT_BYTES = 2 * 1024**3
BAD_ARTIFACT = "bad_artifact"     # evaluate_trial's code for an artifact it cannot unpack


@dataclass(frozen=True)
class TrainRun:
    trained: Trained
    artifact: bytes     # tar of AUTOLAB_OUT
    seconds: float      # the container's time in this function, GPU held throughout
    bad_output: str = ""    # why AUTOLAB_OUT cannot go to the evaluation, the trial's fault


@dataclass(frozen=True)
class EvalRun:
    code: int | str
    result: str | None  # the text of result.json, judged by the caller
    log_tail: str
    eval_s: float
    seconds: float


@dataclass(frozen=True)
class Prepared:
    sha256: str         # the prepared data's; "" when the prepare command failed
    code: int | str = 0
    log_tail: str = ""  # the failed command's, for the error that names it main's


def prepare_data(evaluator: bytes, command: str, key: str, root: str = DATA) -> Prepared:
    """Run main's prepare command once per evaluator version. A command that fails is
    answered, not raised: it is main's failure for the caller to report, not Modal's."""
    root_dir = Path(root)
    marker = root_dir / "sha256" / key      # written last, so a half-prepared key is redone
    if marker.exists():
        return Prepared(marker.read_text())
    with tempfile.TemporaryDirectory() as tmp:
        work, cache = Path(tmp), Path(tmp) / "cache"
        unpack(evaluator, work / "evaluator")
        (cache / "train").mkdir(parents=True)
        (cache / "heldout").mkdir()
        if command:
            log = work / "prepare.log"
            code = run_command(command, work / "evaluator", clean_env({"AUTOLAB_CACHE":
                               str(cache)}), log, time.monotonic() + PREPARE_S)
            if code != 0:
                return Prepared("", code, tail(log))
        digest = tree_sha256(cache)
        for split in ("train", "heldout"):
            shutil.rmtree(root_dir / split / key, ignore_errors=True)
            shutil.copytree(cache / split, root_dir / split / key)
        marker.parent.mkdir(parents=True, exist_ok=True)
        marker.write_text(digest)
    if not modal.is_local():
        VOLUME.commit()     # the train containers start right after; they must see it
    return Prepared(digest)


def train_trial(tree: bytes, command: str, trial_id: str, seed: int, budget_s: float,
                deadline_s: float, key: str, root: str = DATA,
                lab_env: dict[str, str] | None = None) -> TrainRun:
    """Train one trial; `root` holds only the train split (the Volume's train/ sub-path)."""
    started = time.monotonic()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        unpack(tree, work / "tree")
        out, log = work / "out", work / "train.log"
        out.mkdir()
        env = train_env(trial_id, seed, budget_s, Path(root) / key, out, lab_env)
        code = run_command(command, work / "tree", env, log, started + deadline_s)
        trained = Trained.collect(code, out, log, time.monotonic() - started)
        bad = unsendable(out)
        try:
            artifact = b"" if bad else pack(out)
        except (OSError, tarfile.TarError) as exc:     # what the checks above did not foresee
            bad, artifact = f"{type(exc).__name__}: {exc}", b""
    return TrainRun(trained, artifact, time.monotonic() - started, bad)


def unsendable(out: Path) -> str:
    """Why the trial's output cannot travel to the evaluation (a link leaving it, a file
    that is not one or cannot be read, too many bytes); "" when it can."""
    total = 0
    for path in sorted(out.rglob("*")):
        name = path.relative_to(out).as_posix()
        if path.is_symlink():
            target = os.readlink(path)
            inside = (path.parent / target).resolve().is_relative_to(out.resolve())
            if os.path.isabs(target) or not inside:
                return f"{name} is a link to {target}, outside AUTOLAB_OUT"
        elif path.is_dir():
            continue
        elif not path.is_file():
            return f"{name} is not a regular file"
        elif not os.access(path, os.R_OK):
            return f"{name} cannot be read"
        else:
            total += path.stat().st_size
            if total > MAX_ARTIFACT_BYTES:
                return (f"AUTOLAB_OUT holds more than {MAX_ARTIFACT_BYTES:,} bytes, the most "
                        "an artifact may be")
    return ""


def evaluate_trial(evaluator: bytes, artifact: bytes, command: str, seed: int,
                   deadline_s: float, key: str, root: str = DATA,
                   lab_env: dict[str, str] | None = None) -> EvalRun:
    """Score one artifact with main's evaluator; `root` holds only the held-out split."""
    started = time.monotonic()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        unpack(evaluator, work / "evaluator")
        try:
            unpack(artifact, work / "artifact")
        except (OSError, tarfile.TarError) as exc:     # made by the trial: its own failure
            return EvalRun(BAD_ARTIFACT, None, f"{type(exc).__name__}: {exc}"[:300], 0.0,
                           time.monotonic() - started)
        result, log = work / "result.json", work / "eval.log"
        env = eval_env(work / "artifact", Path(root) / key, seed, result, lab_env)
        t0 = time.monotonic()
        code = run_command(command, work / "evaluator", env, log, t0 + deadline_s)
        eval_s = time.monotonic() - t0
        text = result.read_text(errors="replace") if result.exists() else None
        return EvalRun(code, text, tail(log), eval_s, time.monotonic() - started)


def check_version(version: str) -> None:
    """An older modal fails deep inside `build` with a TypeError; say what to install instead."""
    found = tuple(int(p) for p in re.findall(r"\d+", version)[:2])
    if found < MODAL_FLOOR:
        floor = ".".join(map(str, MODAL_FLOOR))
        raise UserError(f"the modal runner needs modal>={floor}, but modal {version} is "
                        f"installed; run `pip install 'modal>={floor},<2'`")


def build(config: Config, parallel: int = 1, settings: ModalSettings | None = None) -> ModalApp:
    """The App for this lab; builds objects only, so it needs no network or token."""
    check_version(modal.__version__)
    spec = Spec.of(config, parallel, settings)
    image = modal.Image.debian_slim(python_version=spec.python)
    if spec.pip:
        image = image.pip_install(*spec.pip)
    image = image.add_local_python_source("autolab")    # contract.py runs in the container
    app = modal.App(APP_NAME, image=image)
    sized: dict[str, Any] = dict(cpu=(spec.cpu, spec.cpu),
                                 memory=(spec.memory_mib, spec.memory_mib),
                                 startup_timeout=STARTUP_S)
    closed: dict[str, Any] = dict(
        serialized=True, gpu=spec.gpu, timeout=spec.timeout_s, secrets=[], block_network=True,
        restrict_modal_access=True, single_use_containers=True, max_containers=spec.parallel,
        **sized)
    prepare = app.function(serialized=True, timeout=PREPARE_S, volumes={DATA: VOLUME},
                           **sized)(prepare_data)
    train = app.function(volumes={DATA: VOLUME.with_mount_options(
        read_only=True, sub_path="train")}, **closed)(train_trial)
    evaluate = app.function(volumes={DATA: VOLUME.with_mount_options(
        read_only=True, sub_path="heldout")}, **closed)(evaluate_trial)
    return ModalApp(spec, app, prepare, train, evaluate)
