"""A user's mistake ends the CLI with exit code 2 and one clear line, never a traceback."""

from __future__ import annotations

import re
import sys

import pytest
from click.testing import CliRunner
from conftest import autolab, make_lab

from autolab.cli import cli, main

GOOD = 'baseline_seeds = 3'


@pytest.fixture
def bare_lab(tmp_path):
    """A toy lab whose config each test breaks in its own way (no `autolab init` needed)."""
    return make_lab(tmp_path / "lab", init=False)


def break_config(root, old: str, new: str) -> str:
    path = root / "pyproject.toml"
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new))
    return str(path)


def run_main(monkeypatch, capsys, root, *args) -> tuple[int, str]:
    """The console entry point `autolab.cli:main`, in process."""
    monkeypatch.chdir(root)
    monkeypatch.setattr(sys, "argv", ["autolab", *args])
    with pytest.raises(SystemExit) as info:
        main()
    captured = capsys.readouterr()
    return info.value.code, captured.out + captured.err


CASES = [
    (GOOD, 'baseline_seeds = "3"', "baseline_seeds"),
    (GOOD, GOOD + "\n[tool.autolab.runner]\nparallel = true", "runner.parallel"),
    (GOOD, GOOD + "\nlearning_rate = 0.1", "learning_rate"),
    ('direction = "minimize"', 'direction = "sideways"', "direction"),
    ('metric = "score"\n', "", "metric"),
    ("timeout_seconds = 30", "timeout_seconds = 1", "timeout_seconds"),
]


@pytest.mark.parametrize("old, new, key", CASES)
def test_config_error_is_one_line_exit_2(bare_lab, monkeypatch, capsys, old, new, key):
    where = break_config(bare_lab, old, new)
    code, out = run_main(monkeypatch, capsys, bare_lab, "status")
    assert code == 2
    lines = out.strip().splitlines()
    assert len(lines) == 1, out
    assert f"`{key}`" in lines[0]
    assert where in lines[0]
    assert "Traceback" not in out


def test_malformed_toml_is_one_line_exit_2(bare_lab, monkeypatch, capsys):
    where = break_config(bare_lab, "[tool.autolab]", "[tool.autolab")
    code, out = run_main(monkeypatch, capsys, bare_lab, "status")
    assert code == 2
    assert len(out.strip().splitlines()) == 1
    assert where in out and "TOML" in out


def test_not_a_git_repository_exit_2(tmp_path, monkeypatch, capsys):
    code, out = run_main(monkeypatch, capsys, tmp_path, "status")
    assert code == 2
    assert "not inside a git repository" in out
    assert len(out.strip().splitlines()) == 1


def test_message_keeps_square_brackets(bare_lab, monkeypatch, capsys):
    break_config(bare_lab, '[tool.autolab]', '[tool.other]')
    code, out = run_main(monkeypatch, capsys, bare_lab, "status")
    assert code == 2
    assert "[tool.autolab]" in out


def test_missing_key_message_names_the_table(bare_lab, monkeypatch, capsys):
    break_config(bare_lab, 'metric = "score"\n', "")
    code, out = run_main(monkeypatch, capsys, bare_lab, "status")
    assert code == 2
    assert "missing key `metric` in [tool.autolab]" in out


def test_real_console_entry_point_exit_2(bare_lab):
    where = break_config(bare_lab, GOOD, 'baseline_seeds = "3"')
    proc = autolab(bare_lab, "status", check=False)
    assert proc.returncode == 2
    out = (proc.stdout + proc.stderr).strip()
    assert len(out.splitlines()) == 1
    assert "`baseline_seeds`" in out and where in out
    assert "Traceback" not in out


def test_cli_group_exits_2_on_config_error(bare_lab):
    break_config(bare_lab, GOOD, 'baseline_seeds = "3"')
    result = CliRunner().invoke(cli, ["status", "--lab", str(bare_lab)])
    assert result.exit_code == 2
    assert "`baseline_seeds`" in result.output


def test_bad_option_is_a_usage_error_exit_2(bare_lab):
    result = CliRunner().invoke(cli, ["run", "--trials", "0", "--lab", str(bare_lab)])
    assert result.exit_code == 2
    assert re.search(r"--trials", result.output)


def test_help_lists_commands():
    result = CliRunner().invoke(cli, ["--help"])
    assert result.exit_code == 0
    for name in ("run", "baseline", "try", "status", "reproduce", "init"):
        assert re.search(rf"^\s+{name}\b", result.output, re.M), name
