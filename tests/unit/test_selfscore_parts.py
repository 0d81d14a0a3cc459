"""The parts of a self-scoring lab: the summary a train log ends with, how a run is judged
from it, the keys that declare it, and the dependencies a remote image gets by default."""

from __future__ import annotations

import pytest
from conftest import git

from autolab import config as config_mod
from autolab.config import parse
from autolab.errors import ConfigError
from autolab.runners.contract import Trained, judge_log, judge_train, read_summary

WHERE = "/labs/toy/pyproject.toml"
SELF_SCORING = {"objective": "lowest val_bpb", "metric": "val_bpb", "direction": "minimize",
                "train_command": "python train.py", "editable": ["train.py"],
                "frozen": ["pyproject.toml"], "metric_from": "train_log"}
# the end of an autoresearch run's output, as its train.py prints it
AUTORESEARCH = """\
step 00953 (100.0%) | loss: 2.912345 | lrm: 0.00 | dt: 312ms | tok/sec: 1,680,321 | mfu: 39.8%
---
val_bpb:          0.997900
training_seconds: 300.1
total_seconds:    325.9
peak_vram_mb:     45060.2
mfu_percent:      39.80
total_tokens_M:   499.6
num_steps:        953
num_params_M:     50.3
depth:            8
"""


def log_of(tmp_path, text: str):
    log = tmp_path / "train.log"
    log.write_text(text)
    return log


def test_the_summary_is_read_from_the_logs_end_the_last_value_winning(tmp_path):
    early = "val_bpb: 9.0\n" + "noise " * 20000 + "\n"     # pushed out of the read window
    summary = read_summary(log_of(tmp_path, early + "val_bpb: 3.5\n" + AUTORESEARCH))
    assert summary["val_bpb"] == 0.9979 and summary["peak_vram_mb"] == 45060.2
    assert summary["num_steps"] == 953 and "step" not in summary and "loss" not in summary
    assert read_summary(tmp_path / "missing.log") == {}


def test_a_self_scoring_run_is_judged_from_its_summary(tmp_path):
    out = tmp_path / "out"      # AUTOLAB_OUT, left empty: the script saves no model
    out.mkdir()

    def trained(text: str) -> Trained:
        return Trained.collect(0, out, log_of(tmp_path, text), 12.34)

    ok = judge_log(trained(AUTORESEARCH), "val_bpb", ("peak_vram_mb", "absent"))
    assert (ok.status, ok.reason) == ("ok", "")
    assert ok.metrics == {"val_bpb": 0.9979, "peak_vram_mb": 45060.2, "train_seconds": 12.34}
    missing = judge_log(trained("loss: 2.0\n"), "val_bpb", ())
    assert missing.status == "no_artifact" and "`val_bpb: <number>`" in missing.reason
    assert judge_log(trained("val_bpb: nan\n"), "val_bpb", ()).status == "diverged"
    # it saves no model: only a lab scored by an evaluator needs an artifact
    assert judge_train(trained(AUTORESEARCH), 60, needs_artifact=False) is None
    assert judge_train(trained(AUTORESEARCH), 60).status == "no_artifact"


def test_a_self_scoring_table_needs_no_evaluate_command():
    config = parse(dict(SELF_SCORING), WHERE)
    assert config.metric_from == "train_log" and config.evaluate_command == ""
    assert parse({**SELF_SCORING, "evaluate_command": ""}, WHERE).evaluate_command == ""
    default = {**SELF_SCORING, "evaluate_command": "python -m evaluator"}
    del default["metric_from"]
    assert parse(default, WHERE).metric_from == "evaluator"


@pytest.mark.parametrize("changes, words", [
    ({"metric_from": "stdout"}, "`metric_from` must be one of 'evaluator', 'train_log'"),
    ({"evaluate_command": "python -m evaluator"}, "`evaluate_command` is never run"),
    ({"inputs": ["../data.bin"]}, "`inputs` entry '../data.bin' must be a path inside"),
    ({"inputs": "input.txt"}, "`inputs` must be a list of strings"),
])
def test_a_wrong_key_is_one_line_naming_it(changes, words):
    with pytest.raises(ConfigError) as caught:
        parse({**SELF_SCORING, **changes}, WHERE)
    assert words in str(caught.value) and str(caught.value).startswith(WHERE)
    assert "\n" not in str(caught.value)


def lab_with(tmp_path, runner: str = "", requirements: str | None = None):
    root = tmp_path / "lab"
    root.mkdir()
    git(root, "init", "-q")
    (root / "pyproject.toml").write_text(
        '[project]\nname = "x"\ndependencies = ["numpy>=1.26", "torch"]\n\n[tool.autolab]\n'
        'objective = "o"\nmetric = "m"\ndirection = "minimize"\n'
        'train_command = "python train.py"\nmetric_from = "train_log"\n'
        'editable = ["train.py"]\nfrozen = []\n' + runner)
    if requirements is not None:
        (root / "requirements.txt").write_text(requirements)
    return root


def test_remote_runners_install_the_projects_own_dependencies(tmp_path):
    root = lab_with(tmp_path, requirements="# for the GPU\n\ntorch\ntqdm>=4  # bars\n")
    assert config_mod.load(root).config.runner.pip == ("numpy>=1.26", "torch", "tqdm>=4")


def test_runner_pip_overrides_the_projects_dependencies(tmp_path):
    root = lab_with(tmp_path, runner='\n[tool.autolab.runner]\npip = []\n', requirements="x\n")
    assert config_mod.load(root).config.runner.pip == ()


def test_a_pip_option_in_requirements_is_one_line_naming_it(tmp_path):
    root = lab_with(tmp_path, requirements="numpy\n-r more.txt\n")
    with pytest.raises(ConfigError) as caught:
        config_mod.load(root)
    assert str(caught.value).startswith(f"{root / 'requirements.txt'}:2: pip option '-r more")
