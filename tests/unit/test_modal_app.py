"""The Modal App is built offline: no token, no network, and the shape the design asks for."""

from __future__ import annotations

import dataclasses
import re
import subprocess
import sys
from pathlib import Path

import modal.exception
import pytest
from conftest import make_lab

from autolab import config
from autolab.errors import ConfigError, UserError
from autolab.runners import modal_app
from autolab.runners.modal import failure, gpu_price


@pytest.fixture
def no_modal_account(monkeypatch, tmp_path):
    for name in ("MODAL_TOKEN_ID", "MODAL_TOKEN_SECRET"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("MODAL_CONFIG_PATH", str(tmp_path / "no.modal.toml"))


def with_runner(cfg, **changes):
    return dataclasses.replace(cfg, runner=dataclasses.replace(cfg.runner, **changes))


def test_import_needs_no_token_or_network(no_modal_account, tmp_path):
    # a fresh interpreter, so nothing cached by other tests hides a network call at import
    code = ("import socket\n"
            "def refuse(*a, **k): raise OSError('network used at import')\n"
            "socket.socket.connect = refuse\n"
            "from autolab import config\n"
            "from autolab.runners import modal_app\n"
            f"app = modal_app.build(config.load({str(make_lab(tmp_path / 'lab'))!r}).config)\n"
            "print(sorted(app.app.registered_functions))\n")
    proc = subprocess.run([sys.executable, "-W", "ignore", "-c", code], capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "['evaluate_trial', 'prepare_data', 'train_trial']" in proc.stdout


def test_training_is_closed_and_sees_only_the_train_split(no_modal_account, lab):
    cfg = with_runner(config.load(lab).config, gpu="H100", pip=("torch>=2.4",))
    built = modal_app.build(cfg, parallel=3)
    assert built.spec.gpu == "H100" and built.spec.pip == ("torch>=2.4",)
    assert built.spec.timeout_s == int(cfg.timeout_seconds) + modal_app.SETUP_S
    train, evaluate = built.train._spec_, built.evaluate._spec_
    assert train.gpus == "H100" and evaluate.gpus == "H100"
    assert train.secrets == [] and evaluate.secrets == []
    mounts = {name: spec.volumes[modal_app.DATA]._mount_options
              for name, spec in (("train", train), ("evaluate", evaluate))}
    assert (mounts["train"].sub_path, mounts["train"].read_only) == ("train", True)
    assert (mounts["evaluate"].sub_path, mounts["evaluate"].read_only) == ("heldout", True)
    assert built.prepare._spec_.gpus is None    # data preparation needs no GPU
    # request = limit, so what Modal bills for CPU and memory is known before the job
    for spec in (train, evaluate, built.prepare._spec_):
        assert spec.cpu == (modal_app.CPU_CORES,) * 2
        assert spec.memory == (modal_app.MEMORY_MIB,) * 2
    sized = modal_app.build(with_runner(cfg, cpu=2.0, memory_mib=4096))
    assert (sized.train._spec_.cpu, sized.train._spec_.memory) == ((2.0, 2.0), (4096, 4096))


def test_price_table_and_override(lab):
    cfg = config.load(lab)
    assert gpu_price(with_runner(cfg.config, gpu="H100:2").runner, cfg.where) == (2, 7.9)
    assert gpu_price(with_runner(cfg.config, gpu="h100", usd_per_gpu_hour=1.5).runner,
                     cfg.where) == (1, 1.5)
    assert gpu_price(cfg.config.runner, cfg.where) == (0, 0.0)
    with pytest.raises(ConfigError, match="usd_per_gpu_hour"):
        gpu_price(with_runner(cfg.config, gpu="TPU-v9").runner, cfg.where)


def test_runner_keys_are_read_from_the_config(tmp_path):
    root = make_lab(tmp_path / "lab")
    path = root / "pyproject.toml"
    path.write_text(path.read_text() + '\n[tool.autolab.runner]\nkind = "modal"\ngpu = "L4"\n'
                    'pip = ["numpy"]\nusd_per_gpu_hour = 1\n')
    runner = config.load(root).config.runner
    assert (runner.kind, runner.gpu, runner.pip, runner.usd_per_gpu_hour) == \
        ("modal", "L4", ("numpy",), 1.0)


@pytest.mark.parametrize("exc, status", [
    (modal.exception.FunctionTimeoutError("Function timed out after 300s"), "timeout"),
    (modal.exception.InternalFailure("input lost: worker preempted"), "infra_error"),
    (modal.exception.RemoteError("container was OOM-killed"), "oom"),
    (modal.exception.ConnectionError("could not reach api.modal.com"), "infra_error"),
    (RuntimeError("prepare_command exited 1"), "infra_error"),
])
def test_modal_failures_get_the_design_labels(exc, status):
    label, reason = failure(exc)
    assert label == status and type(exc).__name__ in reason and "\n" not in reason


def test_the_declared_modal_floor_is_the_one_the_app_needs():
    # modal 1.4.1 has no Volume.with_mount_options and 1.2 no single_use_containers (checked
    # against their wheels); build() refuses them in one line instead of a TypeError inside
    text = (Path(__file__).parents[2] / "pyproject.toml").read_text()
    floor = ".".join(map(str, modal_app.MODAL_FLOOR))
    assert re.findall(r'"modal([^"]*)"', text) == [f">={floor},<2"] * 2     # modal and dev
    with pytest.raises(UserError, match=rf"needs modal>={floor}, but modal 1\.4\.1 is "):
        modal_app.check_version("1.4.1")
    modal_app.check_version(f"{floor}.0")
    modal_app.check_version(modal.__version__)


def test_the_readme_worked_example_is_what_the_runner_computes(lab):
    from autolab.runners.modal import Rate

    cfg = with_runner(config.load(lab).config, gpu="H100")
    spec = modal_app.Spec.of(dataclasses.replace(cfg, timeout_seconds=240), 1)
    rate = Rate.of(cfg.runner, spec, "x")
    assert rate.gpu + rate.cpu == pytest.approx(4.2665, abs=1e-4)
    gpu, cpu = rate.usd((65 + 20) + (10 + 20))
    assert (round(gpu, 4), round(cpu, 4), round(gpu + cpu, 4)) == (0.1262, 0.0101, 0.1363)
    worst = 2 * (modal_app.STARTUP_S + spec.timeout_s)
    assert worst == 1200 and round(sum(rate.usd(worst)), 2) == 1.42
    readme = (Path(__file__).parents[2] / "README.md").read_text()
    assert "$0.1262 of GPU\nplus $0.0101 of CPU and memory, $0.1363 in all" in readme
