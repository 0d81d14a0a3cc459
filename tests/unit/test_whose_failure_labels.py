"""Whose failure a finished command is: the contract's labels, shared by every runner."""

from __future__ import annotations

import signal

import pytest

from autolab.errors import BaselineError, MainError
from autolab.runners.contract import Trained, judge_train, mains_failure, stopped_by


def trained(code) -> Trained:
    return Trained(code, "step 10\nstep 11", (), 1, 3.0)


@pytest.mark.parametrize("code, name", [
    (-signal.SIGTERM, "SIGTERM"), (128 + signal.SIGTERM, "SIGTERM"),
    (-signal.SIGHUP, "SIGHUP"), (128 + signal.SIGINT, "SIGINT"),
    (-signal.SIGSEGV, ""), (1, ""), (0, ""), ("timeout", ""), (-signal.SIGKILL, ""),
])
def test_only_a_stop_from_outside_is_named(code, name):
    assert stopped_by(code) == name


def test_training_stopped_from_outside_is_the_runners_loss_not_the_ideas():
    ending = judge_train(trained(-signal.SIGTERM), 60)
    assert ending is not None and ending.status == "infra_error"
    assert "stopped from outside by SIGTERM" in ending.reason
    # a crash of its own (a segfault, an exception) and the OOM killer stay the trial's
    assert judge_train(trained(-signal.SIGSEGV), 60).status == "crash"
    assert judge_train(trained(1), 60).status == "crash"
    assert judge_train(trained(-signal.SIGKILL), 60).status == "oom"


def test_mains_failure_is_plain_lines_naming_the_command():
    log = 'Traceback (most recent call last):\n  File "<string>", line 1\n' \
          "ModuleNotFoundError: No module named 'corpus_tools'"
    error = mains_failure("prepare_command", "python -m evaluator.data", 1, log)
    assert isinstance(error, MainError) and isinstance(error, BaselineError)
    text = str(error)
    assert text.startswith("main's prepare_command failed (ModuleNotFoundError: No module "
                           "named 'corpus_tools')")
    assert "\n  command: python -m evaluator.data\n  exited 1; the last lines of its log:\n" \
           "    Traceback (most recent call last):\n" in text
    assert str(mains_failure("prepare_command", "x", "timeout", "")).endswith(
        "passed its time limit; the last lines of its log:\n    (no output)")
