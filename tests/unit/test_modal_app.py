"""The Modal App is built offline: no token, no network, and the shape the design asks for."""

from __future__ import annotations

import dataclasses
import os
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
from autolab.runners.contract import pack
from autolab.runners.modal_runner import DEAREST_GPU, failure, gpu_kind, gpu_price, unpriced_note


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
            # each Function's tag: the name the App registered it under (App.registered_functions
            # is deprecated for removal in modal 1.7)
            "print(sorted(f._tag_ for f in (app.prepare, app.train, app.evaluate)))\n")
    proc = subprocess.run([sys.executable, "-W", "error::DeprecationWarning", "-c", code],
                          capture_output=True,
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


@pytest.mark.parametrize("gpu, kind, count, usd", [
    ("H100", "H100", 1, 3.95),
    ("H100!", "H100!", 1, 3.95),        # an H100 Modal may not upgrade: an H100's price
    ("h100:2", "H100", 2, 7.9),
    ("A100-80GB:4", "A100-80GB", 4, 10.0),
    ("RTX-PRO-6000", "RTX-PRO-6000", 1, DEAREST_GPU),   # not in the table: the dearest
    ("B200:8", "B200", 8, 50.0),
])
def test_gpu_strings_are_read_as_modal_reads_them(no_modal_account, lab, gpu, kind, count, usd):
    cfg = config.load(lab)
    runner = with_runner(cfg.config, gpu=gpu).runner
    assert gpu_kind(runner, cfg.where) == (kind, count)
    assert gpu_price(runner, cfg.where) == (count, pytest.approx(usd))
    # and the App builds with it, the string handed to modal as written
    built = modal_app.build(with_runner(cfg.config, gpu=gpu))
    assert built.train._spec_.gpus == gpu
    note = unpriced_note(runner, cfg.where)
    assert bool(note) == (usd == DEAREST_GPU)
    if note:
        assert f"{gpu!r} is not in the GPU price table" in note and "usd_per_gpu_hour" in note


@pytest.mark.parametrize("gpu, says", [
    ("H100:two", "not a GPU string modal accepts (Invalid GPU count: two"),
    ("H100:0", "asks for 0 GPUs"),
])
def test_a_gpu_string_modal_refuses_is_one_clear_line(lab, gpu, says):
    cfg = config.load(lab)
    with pytest.raises(ConfigError, match=re.escape(says)) as caught:
        gpu_price(with_runner(cfg.config, gpu=gpu).runner, cfg.where)
    assert "\n" not in str(caught.value) and "runner.gpu" in str(caught.value)


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


def output_with(tmp_path, make) -> Path:
    out = tmp_path / "out"
    out.mkdir()
    (out / "model.json").write_text("{}")
    make(out)
    return out


@pytest.mark.parametrize("make, says", [
    (lambda out: (out / "w").symlink_to("/etc/passwd"), "w is a link to /etc/passwd, outside"),
    (lambda out: (out / "w").symlink_to("../../secret"), "w is a link to ../../secret, outside"),
    (lambda out: os.mkfifo(out / "pipe"), "pipe is not a regular file"),
    (lambda out: (out / "big.bin").write_bytes(b"x" * 4096), "more than 1,024 bytes"),
])
def test_output_that_cannot_travel_says_why(tmp_path, monkeypatch, make, says):
    monkeypatch.setattr(modal_app, "MAX_ARTIFACT_BYTES", 1024)   # a small limit to reach
    assert says in modal_app.unsendable(output_with(tmp_path, make))


def test_output_that_can_travel_passes(tmp_path):
    out = output_with(tmp_path, lambda out: (out / "alias.json").symlink_to("model.json"))
    assert modal_app.unsendable(out) == ""


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads any file")
def test_an_unreadable_output_file_says_so(tmp_path):
    out = output_with(tmp_path, lambda out: (out / "w.bin").write_bytes(b"x"))
    (out / "w.bin").chmod(0)
    assert modal_app.unsendable(out) == "w.bin cannot be read"


def test_an_artifact_that_cannot_be_unpacked_is_the_trials_own(tmp_path):
    import io
    import tarfile

    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        link = tarfile.TarInfo("weights.bin")
        link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
        tar.addfile(link)
    run = modal_app.evaluate_trial(pack(tmp_path), buffer.getvalue(), "true", 0,
                                   30.0, "k", root=str(tmp_path))
    assert run.code == modal_app.BAD_ARTIFACT and run.result is None
    assert "weights.bin" in run.log_tail and "\n" not in run.log_tail
