"""The default lab end to end: real data prep, real (tiny) training, the real evaluator.

Every command runs as a subprocess with the environment of the README's lab contract,
from copies of train/ and evaluator/ in temp dirs, on a generated corpus.
"""

from __future__ import annotations

import ast
import json
import math
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from lab_corpus import write_corpus

REPO = Path(__file__).resolve().parents[2]
# Small enough to train for a couple of seconds on two CPU cores.
TINY = {"N_LAYER": "2", "N_EMBD": "64", "N_HEAD": "4", "SEQ_LEN": "64", "BATCH_SIZE": "16"}


def run(cmd: list[str], cwd: Path, **env: str) -> subprocess.CompletedProcess:
    proc = subprocess.run(cmd, check=False, cwd=cwd, env={**os.environ, **env}, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, f"{cmd} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}"
    return proc


def frozen_dir(path: Path, max_artifact_bytes: int | None = None) -> Path:
    """A main checkout's frozen files: evaluator/ and, optionally, a pyproject with a cap."""
    shutil.copytree(REPO / "evaluator", path / "evaluator")
    if max_artifact_bytes is not None:
        (path / "pyproject.toml").write_text(
            f"[tool.autolab]\nmax_artifact_bytes = {max_artifact_bytes}\n")
    return path


def trial_dir(path: Path, edit=None, **constants: str) -> Path:
    """A trial's tree: train/ with hyperparameter lines rewritten as a sweep agent would."""
    shutil.copytree(REPO / "train", path / "train")
    script = path / "train" / "train.py"
    text = script.read_text()
    for name, value in {**TINY, **constants}.items():
        text, n = re.subn(rf"^{name} = .*$", f"{name} = {value}", text, count=1, flags=re.MULTILINE)
        assert n == 1, name
    script.write_text(edit(text) if edit else text)
    return path


@pytest.fixture(scope="module")
def lab(tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("lab")
    corpus = write_corpus(root / "corpus.txt")
    frozen = frozen_dir(root / "main")
    cache = root / "cache"
    run([sys.executable, "-m", "evaluator.data"], frozen,
        AUTOLAB_CACHE=str(cache), AUTOLAB_CORPUS=str(corpus))
    return {"root": root, "frozen": frozen, "cache": cache, "corpus": corpus}


def train(lab: dict, trial: Path, out: Path, budget: float = 1, seed: int = 0):
    return run([sys.executable, "train/train.py"], trial, AUTOLAB_TRIAL_ID="t",
               AUTOLAB_SEED=str(seed), AUTOLAB_BUDGET_S=str(budget),
               AUTOLAB_DATA=str(lab["cache"] / "train"), AUTOLAB_OUT=str(out))


def evaluate(lab: dict, artifact: Path, frozen: Path | None = None) -> dict:
    result = artifact.parent / f"{artifact.name}-result.json"
    run([sys.executable, "-m", "evaluator"], frozen or lab["frozen"],
        AUTOLAB_ARTIFACT=str(artifact), AUTOLAB_HELDOUT=str(lab["cache"] / "heldout"),
        AUTOLAB_SEED="0", AUTOLAB_RESULT=str(result))
    return json.loads(result.read_text())


@pytest.fixture(scope="module")
def baseline(lab) -> dict:
    out = lab["root"] / "out-baseline"
    proc = train(lab, trial_dir(lab["root"] / "trial-baseline"), out, budget=3)
    return {"out": out, "stdout": proc.stdout, "result": evaluate(lab, out)}


def test_prepare_writes_splits_and_is_idempotent(lab):
    record = json.loads((lab["cache"] / "data.json").read_text())
    train = (lab["cache"] / "train" / "train.bin").read_bytes()
    heldout = (lab["cache"] / "heldout" / "heldout.bin").read_bytes()
    assert train + heldout == lab["corpus"].read_bytes()
    assert (record["train_bytes"], record["heldout_bytes"]) == (len(train), len(heldout))
    assert 0.85 < len(train) / (len(train) + len(heldout)) < 0.95
    run([sys.executable, "-m", "evaluator.data", "--cache", str(lab["cache"]),
         "--corpus", str(lab["corpus"])], lab["frozen"])
    assert json.loads((lab["cache"] / "data.json").read_text()) == record


def test_hyperparameters_are_one_literal_a_line():
    tree = ast.parse((REPO / "train" / "train.py").read_text())
    constants = [node for node in tree.body if isinstance(node, ast.Assign)
                 and isinstance(node.targets[0], ast.Name) and node.targets[0].id.isupper()]
    assert {"N_LAYER", "N_EMBD", "LEARNING_RATE", "BATCH_SIZE", "SEQ_LEN"} <= {
        node.targets[0].id for node in constants}
    for node in constants:
        assert isinstance(node.value, ast.Constant), node.targets[0].id
        assert isinstance(node.value.value, (bool, int, float)), node.targets[0].id


def test_train_then_evaluate_gives_a_finite_val_bpb(baseline):
    result, out = baseline["result"], baseline["out"]
    assert result["status"] == "ok", result
    metrics = result["metrics"]
    assert math.isfinite(metrics["val_bpb"]) and 0 < metrics["val_bpb"] < 8.5
    assert metrics["params"] > 0 and metrics["artifact_bytes"] > 0 and metrics["eval_seconds"] > 0
    curve = [json.loads(line) for line in (out / "curve.jsonl").read_text().splitlines()]
    assert curve and {"step", "elapsed_s", "train_loss"} <= set(curve[0])
    meta = json.loads((out / "meta.json").read_text())
    assert meta["seq_len"] == int(TINY["SEQ_LEN"])
    assert metrics["tokens_per_s"] == meta["tokens_per_s"]
    assert "---" in baseline["stdout"].splitlines()


def test_lookahead_attention_fails_the_causality_gate(lab):
    trial = trial_dir(lab["root"] / "trial-lookahead",
                      edit=lambda text: text.replace("is_causal=True", "is_causal=False"))
    out = lab["root"] / "out-lookahead"
    train(lab, trial, out)
    result = evaluate(lab, out)
    assert result["status"] == "gate_failed"
    assert result["reason"].startswith("causality")
    assert "val_bpb" not in result["metrics"]


def test_a_score_printed_or_written_by_training_is_ignored(lab, baseline):
    def fake(text: str) -> str:
        return text + (
            "\nprint('val_bpb: 0.001')\n"
            "for _name in ('result.json', 'metrics.json'):\n"
            "    (Path(os.environ['AUTOLAB_OUT']) / _name).write_text(\n"
            "        json.dumps({'status': 'ok', 'metrics': {'val_bpb': 0.001}, 'reason': ''}))\n")
    out = lab["root"] / "out-fake"
    proc = train(lab, trial_dir(lab["root"] / "trial-fake", edit=fake), out)
    assert "val_bpb: 0.001" in proc.stdout
    result = evaluate(lab, out)
    assert result["status"] == "ok"
    assert result["metrics"]["val_bpb"] > 1.0
    assert json.loads((out / "result.json").read_text())["metrics"]["val_bpb"] == 0.001


def test_artifact_over_the_cap_fails(lab, baseline, tmp_path):
    size = baseline["result"]["metrics"]["artifact_bytes"]
    capped = frozen_dir(tmp_path / "main", max_artifact_bytes=size - 1)
    result = evaluate(lab, baseline["out"], frozen=capped)
    assert result["status"] == "gate_failed" and "cap" in result["reason"]

    padded = tmp_path / "out-padded"
    shutil.copytree(baseline["out"], padded)
    with open(padded / "extra.bin", "wb") as fh:
        fh.truncate(16_000_001)  # sparse: costs no disk, counts at full size
    result = evaluate(lab, padded)
    assert result["status"] == "gate_failed" and "16000000" in result["reason"]


def test_a_run_that_writes_no_model_is_no_artifact(lab, tmp_path):
    trial = tmp_path / "trial"
    (trial / "train").mkdir(parents=True)
    (trial / "train" / "train.py").write_text(
        "import json, os, pathlib\n"
        "out = pathlib.Path(os.environ['AUTOLAB_OUT'])\n"
        "out.mkdir(parents=True, exist_ok=True)\n"
        "(out / 'curve.jsonl').write_text(json.dumps({'step': 1, 'elapsed_s': 0.1, "
        "'train_loss': 5.0}) + '\\n')\n")
    out = tmp_path / "out"
    train(lab, trial, out)
    result = evaluate(lab, out)
    assert result["status"] == "no_artifact"
    assert "model.pt2" in result["reason"]


def pin_to_first_cpu():
    os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})


def test_the_budget_is_cpu_time_so_a_busy_core_does_not_take_steps_away(lab, tmp_path):
    """With AUTOLAB_THREADS=1 and a busy loop on the same core, training gets about half the
    core: a CPU-time budget stretches the wall time instead of spending the budget on waiting."""
    trial, out = trial_dir(tmp_path / "trial"), tmp_path / "out"
    burner = subprocess.Popen([sys.executable, "-c", "while True: pass"],
                              preexec_fn=pin_to_first_cpu)
    try:
        proc = subprocess.run(
            [sys.executable, "train/train.py"], cwd=trial, capture_output=True, text=True,
            timeout=300, preexec_fn=pin_to_first_cpu,
            env={**os.environ, "AUTOLAB_THREADS": "1", "AUTOLAB_SEED": "0",
                 "AUTOLAB_BUDGET_S": "2", "AUTOLAB_DATA": str(lab["cache"] / "train"),
                 "AUTOLAB_OUT": str(out)})
    finally:
        burner.kill()
        burner.wait()
    assert proc.returncode == 0, proc.stderr
    meta = json.loads((out / "meta.json").read_text())
    assert meta["threads"] == 1
    assert meta["train_seconds"] >= 2.0            # the whole budget, counted in CPU seconds
    assert meta["wall_seconds"] > 1.5 * meta["train_seconds"], meta
