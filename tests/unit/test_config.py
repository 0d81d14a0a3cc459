"""[tool.autolab] validation: every mistake names the key and the file."""

from __future__ import annotations

import pytest
from conftest import git

from autolab import config as config_mod
from autolab.config import Config, parse
from autolab.errors import ConfigError, LabError, UserError

WHERE = "/labs/toy/pyproject.toml"

VALID = {
    "objective": "lowest score",
    "metric": "score",
    "direction": "minimize",
    "train_command": "python train/train.py",
    "evaluate_command": "python -m evaluator",
    "editable": ["train/**"],
    "frozen": ["evaluator/**", "pyproject.toml"],
    "budget_seconds": 5,
    "timeout_seconds": 30,
}


def table(**changes):
    out = {**VALID, **changes}
    return {k: v for k, v in out.items() if v is not None}


def test_valid_table_loads_with_types_and_defaults():
    config = parse(table(secondary=["params"], runner={"parallel": 4, "kind": "local"},
                         agent={"roles": ["a", "b"]}, budget={"max_usd": 3}), WHERE)
    assert isinstance(config, Config)
    assert config.editable == ("train/**",)
    assert config.secondary == ("params",)
    assert config.budget_seconds == 5.0 and isinstance(config.budget_seconds, float)
    assert config.runner.parallel == 4
    assert config.agent.roles == ("a", "b")
    assert config.budget.max_usd == 3.0
    assert config.baseline_seeds == 5 and config.confirm_seeds == 3 and config.z_screen == 1.0
    assert config.prune_min_trials == 8 and config.prune_audit_every == 4
    assert config.better(1.0, 2.0) == 1.0


def test_better_follows_direction():
    assert parse(table(direction="maximize"), WHERE).better(3.0, 2.0) == 1.0
    assert parse(table(direction="minimize"), WHERE).better(3.0, 2.0) == -1.0


@pytest.mark.parametrize("changes, key", [
    ({"metric": None}, "metric"),
    ({"editable": None}, "editable"),
    ({"learning_rate": 0.1}, "learning_rate"),
    ({"runner": {"gpus": 2}}, "runner.gpus"),
    ({"baseline_seeds": "3"}, "baseline_seeds"),
    ({"runner": {"parallel": True}}, "runner.parallel"),
    ({"hold_suspicious": 1}, "hold_suspicious"),
    ({"editable": "train/**"}, "editable"),
    ({"editable": ["train/**", 3]}, "editable"),
    ({"budget_seconds": "60"}, "budget_seconds"),
    ({"direction": "down"}, "direction"),
    ({"timeout_seconds": 2}, "timeout_seconds"),
    ({"budget_seconds": 0}, "budget_seconds"),
    ({"editable": []}, "editable"),
    ({"runner": "local"}, "runner"),
    ({"baseline_seeds": 0}, "baseline_seeds"),
    ({"runner": {"parallel": 0}}, "runner.parallel"),
    ({"max_seeds": 3}, "max_seeds"),
    ({"max_compute_ratio": -1.0}, "max_compute_ratio"),
    ({"metric_min": 2.0, "metric_max": 1.5}, "metric_min"),
    ({"metric_max": "1.5"}, "metric_max"),
])
def test_bad_table_names_key_and_file(changes, key):
    with pytest.raises(ConfigError) as info:
        parse(table(**changes), WHERE)
    message = str(info.value)
    assert f"`{key}`" in message
    assert WHERE in message
    assert "\n" not in message


def test_metric_bounds_default_to_unbounded_and_take_integers():
    assert parse(table(), WHERE).metric_max == float("inf")
    bounded = parse(table(metric_min=0, metric_max=1), WHERE)
    assert (bounded.metric_min, bounded.metric_max) == (0.0, 1.0)


def test_integer_accepted_for_float_but_not_bool_for_int():
    assert parse(table(min_delta=0), WHERE).min_delta == 0.0
    with pytest.raises(ConfigError, match="must be int"):
        parse(table(confirm_seeds=True), WHERE)
    with pytest.raises(ConfigError, match="must be float"):
        parse(table(min_delta=True), WHERE)


def write_lab(root, pyproject: str):
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    (root / "pyproject.toml").write_text(pyproject)
    return root


def test_load_finds_root_from_a_subdirectory(tmp_path):
    body = "\n".join(f"{k} = {v!r}".replace("'", '"') for k, v in VALID.items())
    root = write_lab(tmp_path / "lab", "[tool.autolab]\n" + body + "\n")
    (root / "train").mkdir()
    lab = config_mod.load(root / "train")
    assert lab.root == root.resolve()
    assert lab.config.metric == "score"
    assert lab.home == root.resolve() / ".autolab"
    assert lab.where == str(root.resolve() / "pyproject.toml")


def test_autolab_home_overrides_state_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("AUTOLAB_HOME", str(tmp_path / "state"))
    assert config_mod.home_for(tmp_path) == (tmp_path / "state").resolve()


def test_malformed_toml_is_a_config_error(tmp_path):
    root = write_lab(tmp_path / "lab", "[tool.autolab\nmetric = 'x'\n")
    with pytest.raises(ConfigError) as info:
        config_mod.load(root)
    assert str(root / "pyproject.toml") in str(info.value)
    assert "TOML" in str(info.value)


def test_missing_table_is_a_config_error(tmp_path):
    root = write_lab(tmp_path / "lab", "[project]\nname = 'x'\n")
    with pytest.raises(ConfigError, match=r"no \[tool\.autolab\] table") as info:
        config_mod.load(root)
    assert str(root / "pyproject.toml") in str(info.value)


def test_missing_pyproject_and_missing_git_are_lab_errors(tmp_path):
    root = tmp_path / "lab"
    root.mkdir()
    git(root, "init", "-q")
    with pytest.raises(LabError, match="no pyproject.toml"):
        config_mod.load(root)
    with pytest.raises(LabError, match="not inside a git repository"):
        config_mod.find_root(tmp_path)


def test_config_and_lab_errors_exit_2():
    assert issubclass(ConfigError, UserError) and issubclass(LabError, UserError)
    assert ConfigError.exit_code == 2 and LabError.exit_code == 2


def test_runner_threads_and_env_reach_the_commands_environment():
    runner = parse(table(runner={"threads": 1, "env": ["OMP_WAIT_POLICY=PASSIVE", "A=b=c"]}),
                   WHERE).runner
    assert runner.command_env() == {"OMP_WAIT_POLICY": "PASSIVE", "A": "b=c",
                                    "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
                                    "OPENBLAS_NUM_THREADS": "1", "AUTOLAB_THREADS": "1"}
    assert parse(table(), WHERE).runner.command_env() == {}


@pytest.mark.parametrize("runner, key", [
    ({"threads": -1}, "`runner.threads` must be >= 0"),
    ({"threads": 1.5}, "`runner.threads` must be int"),
    ({"env": ["NO_EQUALS"]}, "`runner.env` entry 'NO_EQUALS' must be NAME=value"),
    ({"env": ["AUTOLAB_SEED=3"]}, "`runner.env` entry 'AUTOLAB_SEED=3'"),
    ({"env": ["OMP_NUM_THREADS=4"]}, "set `runner.threads` for those"),
    ({"env": "A=b"}, "`runner.env` must be a list of strings"),
])
def test_bad_runner_threads_or_env_is_one_line(runner, key):
    with pytest.raises(ConfigError) as err:
        parse(table(runner=runner), WHERE)
    assert key in str(err.value) and WHERE in str(err.value) and "\n" not in str(err.value)
