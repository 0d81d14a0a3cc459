"""Third-party plugins: found by a real entry point, given their own settings sub-table,
and refused at load, in one line, when they are not what their group promises.

The plugin is a tiny installed distribution written into a temporary site directory: a
package and its `.dist-info` (METADATA, entry_points.txt), which is all
`importlib.metadata.entry_points` reads, in this process (sys.path) and in the CLI's
(PYTHONPATH).
"""

from __future__ import annotations

import os
import sys
import textwrap
from pathlib import Path

import pytest
from conftest import autolab, make_lab

from autolab import cli, config, registry
from autolab.errors import ConfigError, UserError

TOY = textwrap.dedent('''
    """A runner that trains here and says where a cluster queue would take the job."""
    from dataclasses import dataclass

    from autolab.runners.local import LocalRunner


    @dataclass(frozen=True)
    class QueueSettings:
        queue: str = "default"
        nodes: int = 1
        modules: tuple[str, ...] = ()


    class QueueRunner(LocalRunner):
        name = "queue"
        Settings = QueueSettings

        @classmethod
        def from_lab(cls, lab, settings, parallel, spend):
            runner = cls(lab, parallel=parallel)
            runner.settings = settings
            return runner

        def describe(self, job):
            return (f"queue {self.settings.queue!r} on {self.settings.nodes} node(s), "
                    f"modules {list(self.settings.modules)}: commit {job.commit_sha[:10]}")


    class NoWait:
        """Submits, but cannot say when a job ends: not a runner."""

        name = "nowait"
        prunes = False
        Settings = None

        @classmethod
        def from_lab(cls, lab, settings, parallel, spend):
            return cls()

        def submit(self, job):
            return job


    @dataclass
    class LooseSettings:
        queue: str = "default"


    class LooseRunner(QueueRunner):
        name = "loose"
        Settings = LooseSettings


    not_a_class = QueueRunner.describe
''')
ENTRY_POINTS = """\
[autolab.runners]
queue = autolab_toy:QueueRunner
nowait = autolab_toy:NoWait
loose = autolab_toy:LooseRunner
function = autolab_toy:not_a_class
"""


@pytest.fixture
def site(tmp_path, monkeypatch) -> Path:
    """The toy distribution, installed into a directory on sys.path."""
    site = tmp_path / "site"
    (site / "autolab_toy").mkdir(parents=True)
    (site / "autolab_toy" / "__init__.py").write_text(TOY)
    info = site / "autolab_toy-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: autolab-toy\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(ENTRY_POINTS)
    monkeypatch.syspath_prepend(str(site))
    yield site
    sys.modules.pop("autolab_toy", None)


def lab_with(tmp_path: Path, toml: str) -> Path:
    root = make_lab(tmp_path / "lab")
    with open(root / "pyproject.toml", "a") as f:
        f.write(toml)
    return root


def cli_env(site: Path) -> dict:
    return {"PYTHONPATH": os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")])}


QUEUE = '\n[tool.autolab.runner.queue]\nqueue = "gpu-long"\nnodes = 2\nmodules = ["cuda/12"]\n'


def test_a_plugin_runner_gets_its_own_sub_table(site, tmp_path):
    lab = config.load(lab_with(tmp_path, QUEUE))
    assert "queue" in registry.available("runner")
    runner = registry.runner("queue", lab, 1)
    try:
        assert type(runner).__module__ == "autolab_toy"
        assert (runner.settings.queue, runner.settings.nodes, runner.settings.modules) == \
            ("gpu-long", 2, ("cuda/12",))
    finally:
        runner.close()


def test_a_plugin_without_its_sub_table_gets_its_defaults(site, tmp_path):
    runner = registry.runner("queue", config.load(make_lab(tmp_path / "lab")), 1)
    runner.close()
    assert (runner.settings.queue, runner.settings.nodes) == ("default", 1)


def test_the_cli_runs_a_plugin_with_its_settings(site, tmp_path):
    root = lab_with(tmp_path, QUEUE)
    out = autolab(root, "run", "--runner", "queue", "--dry-run", env=cli_env(site)).stdout
    assert "queue 'gpu-long' on 2 node(s), modules ['cuda/12']: commit " in out


@pytest.mark.parametrize("name, toml, says", [
    ("queue", '\n[tool.autolab.runner.queue]\npartition = "a100"\n',
     "unknown key `partition` in [tool.autolab.runner.queue] (its keys: modules, nodes, "
     "queue)"),
    ("queue", '\n[tool.autolab.runner.queue]\nnodes = "two"\n',
     "`tool.autolab.runner.queue.nodes` must be int, got 'two'"),
    ("queue", '\n[tool.autolab.runner.queu]\nnodes = 2\n',
     "[tool.autolab.runner.queu] names no installed runner; installed: "),
    ("local", '\n[tool.autolab.runner.local]\nnodes = 2\n',
     "the runner 'local' takes no settings; remove [tool.autolab.runner.local]"),
])
def test_a_wrong_sub_table_is_one_line_naming_key_table_and_file(site, tmp_path, name, toml,
                                                                    says):
    root = lab_with(tmp_path, toml)
    with pytest.raises(ConfigError) as caught:
        registry.runner(name, config.load(root), 1)
    said = str(caught.value)
    assert says in said and str(root / "pyproject.toml") in said and "\n" not in said


def test_a_wrong_sub_table_through_the_cli_exits_2(site, tmp_path):
    root = lab_with(tmp_path, '\n[tool.autolab.runner.queue]\npartition = "a100"\n')
    proc = autolab(root, "run", "--runner", "queue", "--dry-run", check=False,
                   env=cli_env(site))
    assert proc.returncode == 2, proc.stderr
    (line,) = proc.stderr.strip().splitlines()
    assert "unknown key `partition` in [tool.autolab.runner.queue]" in line


@pytest.mark.parametrize("name, lacks", [
    ("nowait", "missing wait, close, confinement, out_of_budget, describe"),
    ("loose", "its Settings is not a frozen dataclass"),
    ("function", "it is a function, not a class"),
])
def test_a_malformed_plugin_fails_at_load_in_one_line_through_the_cli(site, tmp_path, name,
                                                                         lacks):
    root = make_lab(tmp_path / "lab")
    proc = autolab(root, "run", "--runner", name, "--dry-run", check=False, env=cli_env(site))
    assert proc.returncode == 2, proc.stderr
    (line,) = proc.stderr.strip().splitlines()
    assert f"plugin {name} = 'autolab_toy:" in line and "group autolab.runners" in line
    assert f"is not a runner: {lacks}" in line, line
    with pytest.raises(UserError, match=lacks):        # the same check, in process
        registry.load("runner", name)


def test_the_modal_runners_flat_keys_still_count_with_a_note(tmp_path):
    root = lab_with(tmp_path, '\n[tool.autolab.runner]\ngpu = "L4"\nusd_per_gpu_hour = 1\n')
    lab = config.load(root)
    settings = config.plugin_settings(lab.config, "runner", "modal",
                                      registry.load("runner", "modal").Settings, lab.where)
    assert (settings.gpu, settings.usd_per_gpu_hour) == ("L4", 1.0)
    assert lab.config.notes == (
        f"{lab.where}: `runner.gpu` is deprecated; move it into [tool.autolab.runner.modal] "
        "as `gpu`",
        f"{lab.where}: `runner.usd_per_gpu_hour` is deprecated; move it into "
        "[tool.autolab.runner.modal] as `usd_per_gpu_hour`")


def test_the_sub_table_and_the_flat_key_at_once_is_one_line(tmp_path):
    root = lab_with(tmp_path, '\n[tool.autolab.runner]\ngpu = "L4"\n'
                              '[tool.autolab.runner.modal]\ngpu = "H100"\n')
    with pytest.raises(ConfigError, match=r"`runner.gpu` is set twice, flat and in "
                                          r"\[tool.autolab.runner.modal\]; keep the second"):
        config.load(root)


def test_the_modal_sub_table_takes_the_projects_dependencies_unless_it_sets_pip(tmp_path):
    root = lab_with(tmp_path, '\n[tool.autolab.runner.modal]\ngpu = "L4"\n')
    (root / "requirements.txt").write_text("numpy\n")
    lab = config.load(root)
    runner = registry.load("runner", "modal")
    settings = config.plugin_settings(lab.config, "runner", "modal", runner.Settings, lab.where)
    assert (settings.gpu, settings.pip) == ("L4", ("numpy",)) and not lab.config.notes
    with open(root / "pyproject.toml", "a") as f:
        f.write('pip = ["torch"]\n')
    lab = config.load(root)
    assert config.plugin_settings(lab.config, "runner", "modal", runner.Settings,
                                  lab.where).pip == ("torch",)


def test_claudes_own_check_speaks_for_its_sub_table(tmp_path, monkeypatch):
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-test")
    root = lab_with(tmp_path, "\n[tool.autolab.agent.claude]\nusd_per_mtok_input = 1.0\n")
    with pytest.raises(ConfigError) as caught:
        registry.agent("claude", config.load(root))
    assert str(caught.value) == (
        f"{root / 'pyproject.toml'}: [tool.autolab.agent.claude]: set both "
        "`usd_per_mtok_input` and `usd_per_mtok_output`, or neither")


def test_a_run_says_each_moved_key_once_and_whether_its_runner_prunes(tmp_path, capsys):
    root = lab_with(tmp_path, '\n[tool.autolab.agent]\nmodel = "claude-haiku-4-5"\n')
    lab = config.load(root)
    for runner in ("local", "modal"):
        cli.build_loop(lab, "local", runner, "sweep", 1).runner.close()
    said = " ".join(capsys.readouterr().out.split())   # rich wraps long lines
    assert said.count("`agent.model` is deprecated; move it into [tool.autolab.agent.claude] "
                      "as `model`") == 2                  # once in each run
    assert said.count("pruning: the modal runner runs every trial to its end") == 1
    assert "pruning: the local runner" not in said


@pytest.mark.parametrize("top, toml, key", [
    ("notes = []\n", "", "notes"),
    ("", "[tool.autolab.runner]\nplugins = {}\n", "runner.plugins"),
    ("", '[tool.autolab.forge]\ntoken = "x"\n', "forge.token"),
])
def test_what_autolab_fills_in_is_no_key_of_the_file(tmp_path, top, toml, key):
    root = make_lab(tmp_path / "lab")
    path = root / "pyproject.toml"
    path.write_text(path.read_text().replace("[tool.autolab]\n", "[tool.autolab]\n" + top, 1)
                    + "\n" + toml)
    with pytest.raises(ConfigError, match=f"unknown key `{key}`"):
        config.load(root)
