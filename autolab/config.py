"""The lab's `[tool.autolab]` table, read once and validated.

Every mistake is reported as one line naming the key and the file, so a
researcher fixes it without reading a traceback.

Its place in the whole: ARCHITECTURE.md, "The edges".
"""

from __future__ import annotations

import dataclasses
import math
import os
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

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
    # bill is known; 0: the runner's defaults. Prices 0: its table (runners/modal_runner.py)
    cpu: float = 0.0
    memory_mib: int = 0
    usd_per_cpu_core_hour: float = 0.0
    usd_per_gib_hour: float = 0.0
    # train and evaluate run with this many threads (0: the libraries' own choice), so that a
    # budget buys the same work on a busy machine as on a quiet one; README, "The lab contract"
    threads: int = 0
    env: tuple[str, ...] = ()       # "NAME=value" for the train and evaluate commands

    # each runner's own sub-table, [tool.autolab.runner.<name>], as written; the runner's
    # `Settings` validates it when it is loaded (registry.py). gpu .. usd_per_gib_hour above
    # are the deprecated flat spelling of [tool.autolab.runner.modal] (MOVED)
    plugins: dict[str, dict] = field(default_factory=dict, hash=False)

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
    # [tool.autolab.agent.<name>]; model .. usd_per_mtok_output above are the deprecated
    # flat spelling of [tool.autolab.agent.claude] (MOVED)
    plugins: dict[str, dict] = field(default_factory=dict, hash=False)


@dataclass(frozen=True)
class ForgeConfig:
    """[tool.autolab.forge]: only the forges' own sub-tables, [tool.autolab.forge.<name>]."""

    plugins: dict[str, dict] = field(default_factory=dict, hash=False)


@dataclass(frozen=True)
class BudgetConfig:
    max_trials: int = 0
    max_gpu_hours: float = 0.0
    max_usd: float = 0.0


@dataclass(frozen=True)
class Bound:
    """Where one parameter may go (`[tool.autolab.params.bounds]`): a range, or a list."""

    name: str                       # a parameter's name, or "path:name"
    low: float | None = None
    high: float | None = None
    choices: tuple = ()             # numbers, booleans or strings; empty: the range holds


@dataclass(frozen=True)
class ParamsConfig:
    """What discovery may not guess (autolab/params.py): which settings, and their range."""

    include: tuple[str, ...] = ()   # only these, each of which must be found; empty: all found
    exclude: tuple[str, ...] = ()
    bounds: tuple[Bound, ...] = ()


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
    max_seeds: int = 16                 # most seeds of one commit (a trial, or the best)
    metric_min: float = -math.inf       # the metric's declared bounds: a bar beyond one
    metric_max: float = math.inf        # cannot be reached, and `run` and `status` say so
    max_compute_ratio: float = 0.0      # >0: a trial above it is over_compute, not kept
    max_artifact_bytes: int = 16_000_000
    max_file_bytes: int = 1_000_000
    hold_suspicious: bool = False
    prune: bool = True                  # stop clearly losing trials early (autolab/prune.py)
    prune_warmup: float = 0.25          # fraction of the budget before any pruning
    prune_min_trials: int = 8           # completed trials that must show loss predicts metric
    prune_audit_every: int = 4          # every n-th trial runs unpruned to check the rule; 0 never
    prune_max_false: float = 0.1        # audited false-prune rate above which pruning turns off
    constraints: tuple[str, ...] = ()
    branch: str = "main"                # the branch trials start from and winners merge into
    # "train_log": the train command scores itself and prints `metric: value` (a weaker
    # trust level: training sees the data it scores on); "evaluator": main's evaluator scores
    metric_from: str = "evaluator"
    inputs: tuple[str, ...] = ()        # git-ignored files prepare (and self-scoring training) get
    runner: RunnerConfig = field(default_factory=RunnerConfig)
    agent: AgentConfig = field(default_factory=AgentConfig)
    budget: BudgetConfig = field(default_factory=BudgetConfig)
    params: ParamsConfig = field(default_factory=ParamsConfig)
    forge: ForgeConfig = field(default_factory=ForgeConfig)
    notes: tuple[str, ...] = ()         # deprecations a run says once (flat plugin keys)

    @property
    def minimize(self) -> bool:
        """Lower is better (`direction = "minimize"`)."""
        return self.direction == "minimize"

    def better(self, a: float, b: float) -> float:
        """How much `a` improves on `b` in the metric's direction (positive is better)."""
        return b - a if self.minimize else a - b


REQUIRED = ("objective", "metric", "direction", "train_command", "evaluate_command",
            "editable", "frozen")
_SECTIONS = {"runner": RunnerConfig, "agent": AgentConfig, "budget": BudgetConfig,
             "forge": ForgeConfig}
# flat keys of [tool.autolab.runner] and [tool.autolab.agent] that now belong to a built-in's
# own sub-table: still read, with a note, so labs written before the sub-tables keep working
MOVED = {"runner": ("modal", ("gpu", "pip", "usd_per_gpu_hour", "cpu", "memory_mib",
                              "usd_per_cpu_core_hour", "usd_per_gib_hour")),
         "agent": ("claude", ("model", "roles", "usd_per_mtok_input", "usd_per_mtok_output"))}
METRIC_FROM = ("evaluator", "train_log")
NOT_KEYS = {"plugins", "notes"}     # fields autolab fills in, never written in the file


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
    values: dict[str, Any] = {}
    for key, value in table.items():
        name = f"{prefix}{key}"
        if key == "params" and cls is Config:
            values[key] = _params(value, where)
            continue
        if key in _SECTIONS and cls is Config:
            if not isinstance(value, dict):
                raise ConfigError(f"{where}: `{name}` must be a table [tool.autolab.{key}]")
            values[key] = _build(_SECTIONS[key], value, f"{name}.", where)
            continue
        if isinstance(value, dict) and "plugins" in fields and key not in fields:
            values.setdefault("plugins", {})[key] = value   # a plugin's own sub-table
            continue
        if key not in fields or key in NOT_KEYS:
            known = ", ".join(sorted(set(fields) - NOT_KEYS))
            raise ConfigError(f"{where}: unknown key `{name}` (known keys: {known})")
        f = fields[key]
        default = f.default if f.default is not dataclasses.MISSING else (
            () if key in ("editable", "frozen") else "")
        values[key] = _coerce(value, default, name, where)
    return cls(**values)


def _params(table, where: str) -> ParamsConfig:
    """[tool.autolab.params]: `include` and `exclude` lists, and a `bounds` table of
    name = { min = .., max = .. } or name = { choices = [..] }."""
    if not isinstance(table, dict):
        raise ConfigError(f"{where}: `params` must be a table [tool.autolab.params]")
    built = _build(ParamsConfig, {k: v for k, v in table.items() if k != "bounds"}, "params.",
                   where)
    bounds = table.get("bounds", {})
    if not isinstance(bounds, dict):
        raise ConfigError(f"{where}: `params.bounds` must be a table [tool.autolab.params.bounds]")
    out = []
    for name, spec in bounds.items():
        key = f"params.bounds.{name}"
        shape = ("{ min = 0.001, max = 0.1 } or { choices = [2, 4, 8] } (quote a dotted "
                 "name: \"model.lr\" = ...)")
        if not isinstance(spec, dict) or not spec or set(spec) - {"min", "max", "choices"}:
            raise ConfigError(f"{where}: `{key}` must be {shape}, got {spec!r}")
        if "choices" in spec and spec.keys() & {"min", "max"}:
            raise ConfigError(f"{where}: `{key}` gives `choices` and `min`/`max`; keep one")
        choices = spec.get("choices", [])
        if "choices" in spec and (not isinstance(choices, list) or len(choices) < 2 or not all(
                isinstance(c, (bool, int, float, str)) for c in choices)):
            raise ConfigError(f"{where}: `{key}.choices` must list two or more numbers, "
                              f"booleans or strings, got {choices!r}")
        low, high = spec.get("min"), spec.get("max")
        for edge, value in (("min", low), ("max", high)):
            if value is not None and (isinstance(value, bool)
                                      or not isinstance(value, (int, float))):
                raise ConfigError(f"{where}: `{key}.{edge}` must be a number, got {value!r}")
        if low is not None and high is not None and low > high:
            raise ConfigError(f"{where}: `{key}` has min {low} above max {high}")
        out.append(Bound(name, low, high, tuple(choices)))
    return dataclasses.replace(built, bounds=tuple(out))


def _moved(table: dict, where: str) -> tuple[str, ...]:
    """One note per flat key that moved to a built-in's sub-table; both spellings at once
    would leave it unclear which one counts, so that is an error."""
    notes = []
    for section, (plugin, keys) in MOVED.items():
        flat = table.get(section) or {}
        own = flat.get(plugin)
        own = own if isinstance(own, dict) else {}
        for key in keys:
            if key in flat and key in own:
                raise ConfigError(f"{where}: `{section}.{key}` is set twice, flat and in "
                                  f"[tool.autolab.{section}.{plugin}]; keep the second")
            if key in flat:
                notes.append(f"{where}: `{section}.{key}` is deprecated; move it into "
                             f"[tool.autolab.{section}.{plugin}] as `{key}`")
    return tuple(notes)


def plugin_settings(config: Config, kind: str, name: str, settings: type, where: str):
    """The `settings` dataclass of plugin `name` from [tool.autolab.<kind>.<name>], with the
    deprecated flat keys (MOVED) of a built-in where the sub-table does not set them."""
    section = getattr(config, kind)
    table = section.plugins.get(name, {})
    built = build_settings(settings, table, f"tool.autolab.{kind}.{name}", where)
    plugin, keys = MOVED.get(kind, ("", ()))
    if name != plugin:
        return built
    # the flat fields hold the same defaults as the sub-table's, so unset ones change nothing
    return dataclasses.replace(built, **{k: getattr(section, k) for k in keys if k not in table})


def build_settings(settings: type, table: dict, title: str, where: str):
    """A plugin's frozen `Settings` dataclass from its sub-table: each key one of its fields,
    of its default's type; the plugin's own check (`__post_init__`) says ValueError."""
    fields = {f.name: f for f in dataclasses.fields(settings)}
    values = {}
    for key, value in table.items():
        if key not in fields:
            known = ", ".join(sorted(fields)) or "none"
            raise ConfigError(f"{where}: unknown key `{key}` in [{title}] (its keys: {known})")
        f = fields[key]
        default = f.default if f.default_factory is dataclasses.MISSING else f.default_factory()
        values[key] = _coerce(value, default, f"{title}.{key}", where)
    try:
        return settings(**values)
    except ValueError as exc:
        raise ConfigError(f"{where}: [{title}]: {exc}") from None


def parse(table: dict, where: str) -> Config:
    metric_from = table.get("metric_from", "evaluator")
    if metric_from not in METRIC_FROM:     # before the required keys, which it decides
        raise ConfigError(f"{where}: `metric_from` must be one of "
                          f"{', '.join(map(repr, METRIC_FROM))}, got {metric_from!r}")
    if metric_from == "train_log":   # nothing to evaluate: training scores itself
        table = {"evaluate_command": "", **table}
    for key in REQUIRED:
        if key not in table:
            raise ConfigError(f"{where}: missing key `{key}` in [tool.autolab] "
                              f"(run `autolab init` to write a complete table)")
    config = _build(Config, table, "", where)
    config = dataclasses.replace(config, notes=_moved(table, where))
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
    if config.max_seeds < 1 + config.confirm_seeds or config.max_compute_ratio < 0:
        raise ConfigError(f"{where}: `max_seeds` must be >= 1 + `confirm_seeds` and "
                          f"`max_compute_ratio` >= 0 (0: no limit)")
    if not config.metric_min < config.metric_max:
        raise ConfigError(f"{where}: `metric_min` ({config.metric_min}) must be below "
                          f"`metric_max` ({config.metric_max})")
    if config.z_screen < 0 or config.prune_min_trials < 3 or config.prune_audit_every < 0:
        raise ConfigError(f"{where}: `z_screen` must be >= 0, `prune_min_trials` >= 3 (a rank "
                          f"correlation needs them) and `prune_audit_every` >= 0")
    for key in ("prune_warmup", "prune_max_false"):
        if not 0 <= getattr(config, key) <= 1:
            raise ConfigError(f"{where}: `{key}` must be between 0 and 1")
    if not config.branch.strip():
        raise ConfigError(f"{where}: `branch` is empty; name the branch winners merge into, "
                          f"e.g. branch = \"main\"")
    if config.metric_from == "train_log" and config.evaluate_command:
        raise ConfigError(f"{where}: `evaluate_command` is never run when metric_from = "
                          f"\"train_log\" (the train log holds the metric); remove it")
    for pattern in config.inputs:
        if pattern.startswith("/") or ".." in Path(pattern).parts:
            raise ConfigError(f"{where}: `inputs` entry {pattern!r} must be a path inside "
                              f"the lab, relative to its root")
    if config.runner.parallel < 1:
        raise ConfigError(f"{where}: `runner.parallel` must be >= 1")
    if config.runner.threads < 0:
        raise ConfigError(f"{where}: `runner.threads` must be >= 0 (0: the libraries' own "
                          f"choice), got {config.runner.threads}")
    for item in config.runner.env:
        name = item.split("=", 1)[0]
        if (not ENV_ITEM.fullmatch(item) or name.startswith("AUTOLAB_")
                or name in THREAD_VARIABLES):
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
    config = parse(table, str(path))
    runner = table.get("runner") or {}
    if "pip" not in runner and "pip" not in (runner.get("modal") or {}):   # the project's own
        config = dataclasses.replace(config, runner=dataclasses.replace(
            config.runner, pip=project_requirements(root, data, str(path))))
    return Lab(root=root, config=config, home=home_for(root))


def project_requirements(root: Path, data: dict, where: str) -> tuple[str, ...]:
    """`[project].dependencies` and requirements.txt: what a remote runner installs when
    `runner.pip` is not set."""
    wanted = data.get("project", {}).get("dependencies") or []
    if not isinstance(wanted, list) or not all(isinstance(w, str) for w in wanted):
        raise ConfigError(f"{where}: `[project].dependencies` must be a list of strings")
    wanted = list(wanted)
    listed = root / "requirements.txt"
    lines = listed.read_text().splitlines() if listed.is_file() else []
    for number, line in enumerate(lines, 1):
        requirement = line.split(" #")[0].strip()
        if requirement.startswith("-"):
            raise ConfigError(f"{listed}:{number}: pip option {requirement!r} cannot go into a "
                              f"remote image; list the packages in `runner.pip` under "
                              f"[tool.autolab.runner] instead")
        if requirement and not requirement.startswith("#"):
            wanted.append(requirement)
    return tuple(dict.fromkeys(wanted))
