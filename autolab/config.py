"""The lab's `[tool.autolab]` table, read once and validated.

Every mistake is reported as one line naming the key and the file, so a
researcher fixes it without reading a traceback.

Its place in the whole: ARCHITECTURE.md, "The edges".
"""

from __future__ import annotations

import dataclasses
import os
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from autolab.errors import ConfigError, LabError

PYPROJECT = "pyproject.toml"
# what fixes a command's thread count in the common numeric libraries; AUTOLAB_THREADS is
# for a script that sets its own (torch.set_num_threads overrides OMP_NUM_THREADS)
THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS",
                    "AUTOLAB_THREADS")
ENV_ITEM = re.compile(r"[A-Za-z_][A-Za-z0-9_]*=.*", re.S)
SANDBOXES = ("auto", "bwrap", "none")   # autolab/sandbox.py


@dataclass(frozen=True)
class RunnerConfig:
    kind: str = "local"
    parallel: int = 1
    gpu: str = ""
    pip: tuple[str, ...] = ()       # remote runners install these for the train command
    usd_per_gpu_hour: float = 0.0   # 0: the runner's own price table for `gpu`
    sandbox: str = "auto"           # local runner: auto | bwrap | none (autolab/sandbox.py)
    network: bool = False           # local runner: may trial code reach the network?
    # modal runner: each container's CPU cores and memory, as request and limit, so the
    # bill is known; 0: the runner's defaults. Prices 0: its table (autolab/runners/modal.py)
    cpu: float = 0.0
    memory_mib: int = 0
    usd_per_cpu_core_hour: float = 0.0
    usd_per_gib_hour: float = 0.0
    # train and evaluate run with this many threads (0: the libraries' own choice), so that a
    # budget buys the same work on a busy machine as on a quiet one; README, "The lab contract"
    threads: int = 0
    env: tuple[str, ...] = ()       # "NAME=value" for the train and evaluate commands

    def command_env(self) -> dict[str, str]:
        """The variables this table adds to the train and evaluate commands' environment."""
        env = dict(item.split("=", 1) for item in self.env)
        if self.threads:
            env.update({name: str(self.threads) for name in THREAD_VARIABLES})
        return env


@dataclass(frozen=True)
class AgentConfig:
    kind: str = "sweep"
    model: str = ""
    roles: tuple[str, ...] = ()
    # USD per million tokens for `model`; 0: the agent's table (autolab/agents/claude.py)
    usd_per_mtok_input: float = 0.0
    usd_per_mtok_output: float = 0.0


@dataclass(frozen=True)
class BudgetConfig:
    max_trials: int = 0
    max_gpu_hours: float = 0.0
    max_usd: float = 0.0


@dataclass(frozen=True)
class Config:
    objective: str
    metric: str
    direction: str
    train_command: str
    evaluate_command: str
    editable: tuple[str, ...]
    frozen: tuple[str, ...]
    prepare_command: str = ""
    secondary: tuple[str, ...] = ()
    budget_seconds: float = 60.0
    timeout_seconds: float = 240.0
    baseline_seeds: int = 5
    confirm_seeds: int = 3
    z_screen: float = 1.0               # the first seed's gain, in σ, that earns confirm seeds
    min_delta: float = 0.0
    max_artifact_bytes: int = 16_000_000
    max_file_bytes: int = 1_000_000
    hold_suspicious: bool = False
    prune: bool = True                  # stop clearly losing trials early (autolab/prune.py)
    prune_warmup: float = 0.25          # fraction of the budget before any pruning
    prune_min_trials: int = 8           # completed trials that must show loss predicts metric
    prune_audit_every: int = 4          # every n-th trial runs unpruned to check the rule; 0 never
    prune_max_false: float = 0.1        # audited false-prune rate above which pruning turns off
    constraints: tuple[str, ...] = ()
    runner: RunnerConfig = field(default_factory=RunnerConfig)
    agent: AgentConfig = field(default_factory=AgentConfig)
    budget: BudgetConfig = field(default_factory=BudgetConfig)

    def better(self, a: float, b: float) -> float:
        """How much `a` improves on `b` in the metric's direction (positive is better)."""
        return b - a if self.direction == "minimize" else a - b


REQUIRED = ("objective", "metric", "direction", "train_command", "evaluate_command",
            "editable", "frozen")
_SECTIONS = {"runner": RunnerConfig, "agent": AgentConfig, "budget": BudgetConfig}


def _coerce(value, default, key: str, where: str):
    """Check one value against the type of its default; tuples hold strings."""
    expected = type(default)
    if isinstance(default, tuple):
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ConfigError(f"{where}: `{key}` must be a list of strings, got {value!r}")
        return tuple(value)
    if expected is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    # bool is an int to Python, but `parallel = true` is a mistake worth naming
    if isinstance(value, bool) != (expected is bool) or not isinstance(value, expected):
        raise ConfigError(f"{where}: `{key}` must be {expected.__name__}, got {value!r}")
    return value


def _build(cls, table: dict, prefix: str, where: str):
    fields = {f.name: f for f in dataclasses.fields(cls)}
    values = {}
    for key, value in table.items():
        name = f"{prefix}{key}"
        if key in _SECTIONS and cls is Config:
            if not isinstance(value, dict):
                raise ConfigError(f"{where}: `{name}` must be a table [tool.autolab.{key}]")
            values[key] = _build(_SECTIONS[key], value, f"{name}.", where)
            continue
        if key not in fields:
            known = ", ".join(sorted(fields))
            raise ConfigError(f"{where}: unknown key `{name}` (known keys: {known})")
        f = fields[key]
        default = f.default if f.default is not dataclasses.MISSING else (
            () if key in ("editable", "frozen") else "")
        values[key] = _coerce(value, default, name, where)
    return cls(**values)


def parse(table: dict, where: str) -> Config:
    for key in REQUIRED:
        if key not in table:
            raise ConfigError(f"{where}: missing key `{key}` in [tool.autolab] "
                              f"(run `autolab init` to write a complete table)")
    config = _build(Config, table, "", where)
    if config.direction not in ("minimize", "maximize"):
        raise ConfigError(f"{where}: `direction` must be \"minimize\" or \"maximize\", "
                          f"got {config.direction!r}")
    if not config.editable:
        raise ConfigError(f"{where}: `editable` is empty; list the paths a trial may change")
    for key in ("budget_seconds", "timeout_seconds"):
        if getattr(config, key) <= 0:
            raise ConfigError(f"{where}: `{key}` must be positive")
    if config.timeout_seconds < config.budget_seconds:
        raise ConfigError(f"{where}: `timeout_seconds` ({config.timeout_seconds}) is below "
                          f"`budget_seconds` ({config.budget_seconds})")
    if config.baseline_seeds < 2 or config.confirm_seeds < 0:
        raise ConfigError(f"{where}: `baseline_seeds` must be >= 2 (one seed has no noise "
                          f"band) and `confirm_seeds` >= 0")
    if config.z_screen < 0 or config.prune_min_trials < 3 or config.prune_audit_every < 0:
        raise ConfigError(f"{where}: `z_screen` must be >= 0, `prune_min_trials` >= 3 (a rank "
                          f"correlation needs them) and `prune_audit_every` >= 0")
    for key in ("prune_warmup", "prune_max_false"):
        if not 0 <= getattr(config, key) <= 1:
            raise ConfigError(f"{where}: `{key}` must be between 0 and 1")
    if config.runner.parallel < 1:
        raise ConfigError(f"{where}: `runner.parallel` must be >= 1")
    if config.runner.threads < 0:
        raise ConfigError(f"{where}: `runner.threads` must be >= 0 (0: the libraries' own "
                          f"choice), got {config.runner.threads}")
    for item in config.runner.env:
        name = item.split("=", 1)[0]
        if not ENV_ITEM.fullmatch(item) or name.startswith("AUTOLAB_") \
                or name in THREAD_VARIABLES:
            raise ConfigError(f"{where}: `runner.env` entry {item!r} must be NAME=value, with "
                              f"NAME neither AUTOLAB_* nor a thread count (set "
                              f"`runner.threads` for those)")
    if config.runner.sandbox not in SANDBOXES:
        raise ConfigError(f"{where}: `runner.sandbox` must be one of "
                          f"{', '.join(map(repr, SANDBOXES))}, got {config.runner.sandbox!r}")
    if (config.agent.usd_per_mtok_input > 0) != (config.agent.usd_per_mtok_output > 0):
        raise ConfigError(f"{where}: set both `agent.usd_per_mtok_input` and "
                          "`agent.usd_per_mtok_output`, or neither")
    return config


@dataclass(frozen=True)
class Lab:
    """A lab: its git repository, its config, and the state directory autolab owns."""

    root: Path
    config: Config
    home: Path

    @property
    def where(self) -> str:
        return str(self.root / PYPROJECT)


def home_for(root: Path) -> Path:
    env = os.environ.get("AUTOLAB_HOME")
    return Path(env).resolve() if env else root / ".autolab"


def find_root(start: Path) -> Path:
    start = start.resolve()
    for candidate in (start, *start.parents):
        if (candidate / ".git").exists():
            return candidate
    raise LabError(f"{start}: not inside a git repository (run `git init` first, "
                   f"then `autolab init`)")


def load(start: Path | str = ".") -> Lab:
    root = find_root(Path(start))
    path = root / PYPROJECT
    if not path.exists():
        raise LabError(f"{path}: no pyproject.toml; run `autolab init` to create the lab config")
    try:
        data = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML ({exc}); fix the syntax") from None
    table = data.get("tool", {}).get("autolab")
    if table is None:
        raise ConfigError(f"{path}: no [tool.autolab] table; run `autolab init` to add one")
    return Lab(root=root, config=parse(table, str(path)), home=home_for(root))
