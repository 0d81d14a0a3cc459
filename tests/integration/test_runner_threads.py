"""`[tool.autolab.runner] threads` and `env` reach the train and evaluate commands, through
the real CLI and the local runner's sandbox."""

from __future__ import annotations

import json

from conftest import autolab, git, make_lab

from autolab.gitops import Repo
from autolab.ledger import Ledger
from autolab.records import BASELINE

SEEN = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "AUTOLAB_THREADS", "OMP_WAIT_POLICY")


def test_threads_and_env_reach_train_and_evaluate(tmp_path):
    lab = make_lab(tmp_path / "lab")
    train = lab / "train" / "train.py"
    train.write_text(train.read_text().replace(
        'json.dump({"value": value + noise}, f)',
        f'json.dump({{"value": value + noise, "env": {{k: os.environ.get(k, "") for k in '
        f'{SEEN!r}}}}}, f)'))
    evaluator = lab / "evaluator" / "__main__.py"
    evaluator.write_text(evaluator.read_text().replace(
        'value = json.load(f)["value"]', 'model = json.load(f)\nvalue = model["value"]').replace(
        '"params": 7', '"params": 7, "train_env": model["env"], '
        f'"eval_env": {{k: os.environ.get(k, "") for k in {SEEN!r}}}'))
    config = lab / "pyproject.toml"
    config.write_text(config.read_text() + '\n[tool.autolab.runner]\nthreads = 1\n'
                      'env = ["OMP_WAIT_POLICY=PASSIVE"]\n')
    git(lab, "commit", "-q", "-am", "one thread, passive waits")
    autolab(lab, "baseline")
    seeds = [r for r in Ledger(Repo(lab), lab / ".autolab").rows() if r.status == BASELINE]
    assert len(seeds) == 3
    expected = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "AUTOLAB_THREADS": "1",
                "OMP_WAIT_POLICY": "PASSIVE"}
    for row in seeds:
        secondary = json.loads(row.secondary)
        assert secondary["train_env"] == expected and secondary["eval_env"] == expected
