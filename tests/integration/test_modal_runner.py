"""The modal runner end to end, with Modal itself stood in for only at its boundary.

The three functions run for real through `.local()` on a toy lab. What stands in
for Modal is `Cloud`: `.spawn()` returns a call handle that answers `.get(timeout=0)`
like a FunctionCall (builtin TimeoutError until done), each function sees only the
directory its Volume sub-path would mount, and the App's `run()` contacts nothing.
"""

from __future__ import annotations

import dataclasses
import io
import json
import tarfile
from contextlib import nullcontext
from pathlib import Path

import modal.exception
import pytest
from click.testing import CliRunner
from conftest import git, make_lab
from rich.console import Console

from autolab import config
from autolab.agents.sweep import SweepAgent
from autolab.assemble import make_loop
from autolab.cli import cli
from autolab.errors import InfraError, MainError
from autolab.forges.local import LocalForge
from autolab.gitops import Repo
from autolab.integrity import manifest_at, watched
from autolab.ledger import Ledger
from autolab.progress import Progress
from autolab.records import Job
from autolab.runners import modal_app
from autolab.runners.contract import BudgetExhausted
from autolab.runners.local import LocalRunner
from autolab.runners.modal_runner import ModalRunner
from autolab.spend import Spend

# .local() warns that Volumes are not mounted; `Cloud` mounts its stand-in directories
pytestmark = pytest.mark.filterwarnings("ignore:The .* function is executing locally")

HELDOUT_TEXT = "held-out words no trial may read"
PREPARE = ("import os, pathlib\ncache = pathlib.Path(os.environ['AUTOLAB_CACHE'])\n"
           "(cache / 'train' / 'train.txt').write_text('train words')\n"
           f"(cache / 'heldout' / 'heldout.txt').write_text({HELDOUT_TEXT!r})\n")
SPY = '''\
import json, os
out = os.environ["AUTOLAB_OUT"]
mount = os.path.dirname(os.environ["AUTOLAB_DATA"])
seen = [os.path.join(d, f) for d, _, fs in os.walk(mount) for f in fs]
json.dump({"env": dict(os.environ), "seen": seen}, open(os.path.join(out, "spy.json"), "w"))
json.dump({"value": 1.0}, open(os.path.join(out, "model.json"), "w"))
'''


class Call:
    """A spawned call: running for `polls` polls, then its output (or its exception)."""

    def __init__(self, run, polls: int):
        self.run, self.polls = run, polls

    def get(self, timeout=None):
        if self.polls > 0:
            self.polls -= 1
            raise TimeoutError()
        return self.run()


class Function:
    def __init__(self, real, mount: Path, cloud: Cloud):
        self.real, self.mount, self.cloud = real, mount, cloud

    def call(self, args, kwargs):
        output = self.real.local(*args, **kwargs, root=str(self.mount))
        return dataclasses.replace(output, seconds=self.cloud.seconds or output.seconds)

    def spawn(self, *args, **kwargs):   # as Modal's own: positional and keyword arguments
        self.cloud.spawned.append(self.real)
        return Call(lambda: self.call(args, kwargs), self.cloud.polls)

    def remote(self, *args):    # only prepare_data is called this way
        return self.real.local(*args, root=str(self.mount))


class Cloud:
    """The Modal boundary: the real App's functions, run locally on a stand-in Volume."""

    def __init__(self, lab: config.Lab, volume: Path, polls: int = 0, seconds: float = 0.0):
        self.real = modal_app.build(lab.config)
        self.spawned: list = []
        self.polls, self.seconds = polls, seconds   # a fake clock: container seconds per call
        self.app = dataclasses.replace(
            self.real, app=type("App", (), {"run": staticmethod(nullcontext)})(),
            prepare=Function(self.real.prepare, volume, self),
            train=Function(self.real.train, volume / "train", self),
            evaluate=Function(self.real.evaluate, volume / "heldout", self))


class FlakyApp:
    """The App as `modal.App.run()` gives it when Modal cannot be reached: its first `fails`
    starts raise what the client raises after its connection deadline."""

    def __init__(self, fails: int):
        self.fails, self.starts = fails, 0

    def run(self):
        return self

    def __enter__(self):
        self.starts += 1
        if self.starts <= self.fails:
            raise modal.exception.ConnectionError("Deadline exceeded: could not connect to "
                                                  "api.modal.com")
        return self

    def __exit__(self, *exc):
        return None


def spy_lab(root: Path, **table) -> config.Lab:
    """A toy lab whose prepare writes both splits, with extra [tool.autolab] keys."""
    make_lab(root)
    (root / "evaluator" / "data.py").write_text(PREPARE)
    path = root / "pyproject.toml"
    text = path.read_text().replace("[tool.autolab]\n", "[tool.autolab]\nprepare_command = "
                                    "\"python -m evaluator.data\"\n")
    for section, values in table.items():
        text += f"\n[tool.autolab.{section}]\n" + "".join(
            f"{k} = {json.dumps(v)}\n" for k, v in values.items())
    path.write_text(text)
    git(root, "add", "-A")
    git(root, "commit", "-qm", "prepare both splits")
    return config.load(root)


def job_at(lab: config.Lab, commit: str, trial_id: str = "t0001", seed: int = 0) -> Job:
    repo = Repo(lab.root)
    main = repo.rev("main")
    return Job(trial_id, commit, manifest_at(repo, commit, watched(lab.config)), main, seed)


def test_local_train_and_evaluate_give_a_valid_result(tmp_path):
    lab = spy_lab(tmp_path / "lab")
    cloud = Cloud(lab, tmp_path / "volume")
    runner = ModalRunner(lab, app=cloud.app)
    main = Repo(lab.root).rev("main")
    [(_handle, result)] = runner.wait([runner.submit(job_at(lab, main))])
    assert result.status == "ok", (result.reason, result.log_tail)
    assert isinstance(result.metrics["score"], float) and result.metrics["params"] == 7
    assert [p["step"] for p in result.curve] == [0, 1, 2, 3, 4]
    assert result.runner == "modal" and len(result.evaluator_sha256) == 64
    assert len(result.data_sha256) == 64 and result.train_s > 0
    assert cloud.spawned == [cloud.real.train, cloud.real.evaluate]


def test_training_env_has_no_secret_and_no_held_out_path(tmp_path, monkeypatch):
    monkeypatch.setenv("GITHUB_TOKEN", "ghp_s3cr3t")
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-s3cr3t")
    monkeypatch.setenv("MODAL_TOKEN_SECRET", "as-s3cr3t")
    lab = spy_lab(tmp_path / "lab")
    cloud = Cloud(lab, tmp_path / "volume")
    runner = ModalRunner(lab, app=cloud.app)
    tree, _ = runner.trial_tree(job_at(lab, Repo(lab.root).rev("main")))
    spy_tree = io.BytesIO()
    with tarfile.open(fileobj=io.BytesIO(tree)) as src, \
            tarfile.open(fileobj=spy_tree, mode="w") as dst:
        for member in src.getmembers():
            data = SPY.encode() if member.name == "train/train.py" else \
                (src.extractfile(member).read() if member.isfile() else None)
            if data is not None:
                member.size = len(data)
            dst.addfile(member, io.BytesIO(data) if data is not None else None)
    _, _, key, _ = runner.evaluator(Repo(lab.root).rev("main"))
    assert HELDOUT_TEXT in (tmp_path / "volume" / "heldout" / key / "heldout.txt").read_text()

    run = cloud.app.train.call((spy_tree.getvalue(), lab.config.train_command, "t1", 0, 5.0,
                                30.0, key), {"lab_env": {"OMP_NUM_THREADS": "1"}})
    assert run.trained.code == 0, run.trained.log_tail
    with tarfile.open(fileobj=io.BytesIO(run.artifact)) as tar:
        spy = json.load(tar.extractfile("spy.json"))
    env = spy["env"]
    assert not {"GITHUB_TOKEN", "ANTHROPIC_API_KEY", "MODAL_TOKEN_SECRET"} & env.keys()
    assert not [v for v in env.values() if "s3cr3t" in v]
    assert not [k for k, v in env.items() if "heldout" in v.lower()], env
    assert "AUTOLAB_HELDOUT" not in env and env["AUTOLAB_DATA"].endswith(f"train/{key}")
    assert env["OMP_NUM_THREADS"] == "1"     # the runner table's threads reach the container
    assert [Path(p).name for p in spy["seen"]] == ["train.txt"]


# fake prices: $1 per container-second of GPU and $1 of CPU and memory (1 core, 1 GiB)
DEAR = {"gpu": "H100", "usd_per_gpu_hour": 3600, "cpu": 1.0, "memory_mib": 1024,
        "usd_per_cpu_core_hour": 1800, "usd_per_gib_hour": 1800}


def test_budget_stops_submitting_before_the_cap(tmp_path):
    # each job may bill 2 stages and one preempted attempt x (300 s start-up + 90 s
    # timeout) = 1170 s at $2 a second; the first also holds the data preparation at its
    # worst, 300 + 3600 CPU-only seconds at $1
    lab = spy_lab(tmp_path / "lab", runner=DEAR, budget={"max_usd": 9000})
    cloud = Cloud(lab, tmp_path / "volume", polls=1, seconds=20.0)
    runner = ModalRunner(lab, app=cloud.app)
    assert runner.worst_s == 1170 and runner.usd(runner.worst_s) == 2340
    assert runner.prepare_usd() == pytest.approx(3900)
    main = Repo(lab.root).rev("main")
    first, second = (runner.submit(job_at(lab, main, seed=k)) for k in (0, 1))
    assert sorted(runner.spend.reserved.values()) == pytest.approx([2340, 2340 + 3900])
    assert runner.prepare_usd() == 0                # prepared: no trial holds it again
    with pytest.raises(BudgetExhausted, match="max_usd=9000"):
        runner.submit(job_at(lab, main, seed=2))    # $6240 + $2340 held, $2340 more
    assert cloud.spawned == [cloud.real.train, cloud.real.train]
    done = []
    while len(done) < 2:
        done += [result for _handle, result in runner.wait([first, second], timeout=0)]
    assert {r.status for r in done} == {"ok"}
    # train + evaluate, 20 s each by the fake clock (no start-up left over), at $1 a second
    # of GPU; CPU and memory also bill the first job's data preparation
    assert all(r.metrics["gpu_usd"] == 40.0 and r.metrics["gpu_seconds"] == 40.0
               and r.metrics["startup_seconds"] == 0 for r in done)
    assert sorted(r.metrics["cpu_usd"] for r in done)[0] == 40.0
    assert runner.spent_s == 80 and not runner.reserved and not runner.spend.reserved
    assert runner.spend.compute_usd == pytest.approx(sum(
        r.metrics["gpu_usd"] + r.metrics["cpu_usd"] for r in done))
    third = runner.submit(job_at(lab, main, seed=2))   # ~$160 spent + $2340 fits under $9000
    assert runner.wait([third])[0][1].status == "ok"


def test_start_up_is_billed_as_the_time_past_the_functions_own(tmp_path):
    lab = spy_lab(tmp_path / "lab", runner=DEAR)
    cloud = Cloud(lab, tmp_path / "volume", seconds=0.001)   # the functions "take" 1 ms
    runner = ModalRunner(lab, app=cloud.app)
    [(_handle, result)] = runner.wait([runner.submit(job_at(lab, Repo(lab.root).rev("main")))])
    startup = result.metrics["startup_seconds"]
    # the real run of each stage inside .get() is, to the runner, time past the 1 ms
    assert 0 < startup <= result.wall_s and result.metrics["gpu_seconds"] == \
        pytest.approx(startup + 0.002, abs=0.1)
    assert result.metrics["gpu_usd"] == pytest.approx(startup + 0.002, abs=0.1)


def test_loop_stops_starting_trials_at_the_cap(tmp_path):
    lab = spy_lab(tmp_path / "lab", runner={"gpu": "H100", "usd_per_gpu_hour": 3600},
                  budget={"max_usd": 5000})
    # each job: $400 of GPU, the 3 baseline seeds' included
    cloud = Cloud(lab, tmp_path / "volume", seconds=200.0)
    runner = ModalRunner(lab, app=cloud.app)
    out = io.StringIO()
    loop = make_loop(lab, LocalForge(lab), runner, SweepAgent(), Ledger(Repo(lab.root), lab.home),
                     Progress(Console(file=out, width=300), lab.config.metric))
    loop.run(trials=10, parallel=1)
    text = out.getvalue()
    assert "budget: 3 more job(s) could pass max_usd=5000" in text, text
    assert runner.spend.spent <= 5000
    # it stopped because a whole trial (1 + confirm_seeds jobs) no longer fit, not sooner
    assert runner.spend.spent + 3 * runner.usd(runner.worst_s) > 5000
    trials = [r for r in loop.ledger.rows() if r.trial_id.startswith("t")]
    assert 1 <= len(trials) < 10 and not runner.reserved and not runner.spend.reserved
    baseline = [r for r in loop.ledger.rows() if r.trial_id.startswith("baseline")]
    assert all(r.gpu_usd == 400 and r.cost_usd == r.gpu_usd + r.cpu_usd for r in baseline)
    # a trial whose confirming seeds the cap cut short is held for a person, never a crash
    assert {r.status for r in trials} <= {"keep", "discard", "held"}


class CostlyTrialsRunner(LocalRunner):
    """A local runner with a budget of `cap` units that estimates 1 unit a job; a baseline
    seed costs 1, a trial's seed 3 (a change that made training dearer)."""

    def __init__(self, lab, cap: int):
        super().__init__(lab)
        self.cap, self.spent = cap, 0

    def submit(self, job):
        self.spent += 1 if job.trial_id.startswith("baseline") else 3
        return super().submit(job)

    def out_of_budget(self, jobs: int = 1) -> str:
        return "" if self.spent + jobs <= self.cap else \
            f"budget: {jobs} more job(s) could pass the cap"


def test_a_promising_trial_the_budget_cannot_confirm_is_held_for_a_person(tmp_path):
    lab = config.load(make_lab(tmp_path / "lab"))
    # the baseline's 3 seeds, then room for one trial as estimated: 1 + confirm_seeds jobs
    runner = CostlyTrialsRunner(lab, cap=3 + 1 + lab.config.confirm_seeds)
    out = io.StringIO()
    loop = make_loop(lab, LocalForge(lab), runner, SweepAgent(), Ledger(Repo(lab.root), lab.home),
                     Progress(Console(file=out, width=300), lab.config.metric))
    loop.run(trials=3, parallel=1, idea="LR=0.01")   # the toy lab's LR is far from its best
    text = out.getvalue()
    [trial] = [r for r in loop.ledger.rows() if r.trial_id.startswith("t")]
    # its first seed passed the screen, then cost
    # 3 units: the seeds that would confirm it no longer fit
    assert "passes the screen bar" in text and trial.n_seeds == 1, text
    assert trial.status == "held", (trial.status, trial.reason)
    assert "could pass the cap" in trial.reason and "/rerun" in trial.reason, trial.reason
    assert [t.trial_id for t in loop.forge.open_trials()] == ["t0001"]   # its PR waits
    assert "finishing the trials in flight" in text, text




def test_one_counter_stops_the_run_when_agent_and_runner_together_reach_the_cap(tmp_path):
    from test_claude import USAGE, ScriptedAPI, answer, cost

    prices = {"gpu": "H100", "usd_per_gpu_hour": 0.9, "usd_per_cpu_core_hour": 0.001,
              "usd_per_gib_hour": 0.001}
    per_s = (0.9 + 4 * 0.001 + 16 * 0.001) / 3600      # the default 4 cores and 16 GiB
    worst = 1170 * per_s
    # above the data preparation at its worst (3,900 s of CPU and memory, $0.0217), below
    # what one more Claude call may cost at its worst (8,192 tokens out at $15 a million)
    margin = 0.05
    lab = spy_lab(tmp_path / "lab", runner=prices, budget={"max_usd": 3 * worst + margin})
    cloud = Cloud(lab, tmp_path / "volume", seconds=10.0)    # each job: 20 s, $0.005
    ledger = Ledger(Repo(lab.root), lab.home)
    make_loop(lab, LocalForge(lab), ModalRunner(lab, app=cloud.app), SweepAgent(), ledger,
              Progress(Console(file=io.StringIO()))).ensure_baseline(1)    # an earlier run's
    out = io.StringIO()
    progress = Progress(Console(file=out, width=400), lab.config.metric)
    spend = Spend(lab.config.budget.max_usd, say=progress.note)     # as cli.build_loop makes
    api = ScriptedAPI(answer(), answer(hypothesis="never asked"))
    runner = ModalRunner(lab, app=cloud.app, spend=spend)
    assert runner.prepare_usd() == pytest.approx(3900 * 20 * 0.001 / 3600)
    make_loop(lab, LocalForge(lab), runner, api.agent(spend), ledger, progress).run(3, 1)
    assert runner.usd(runner.worst_s) == pytest.approx(worst)
    assert spend.agent_usd == pytest.approx(cost(USAGE)) and len(api.requests) == 1
    # the first trial fit with the preparation held; the second not, with the agent's call
    assert margin < spend.agent_call_usd < 0.2
    assert spend.spent + 3 * worst + spend.agent_call_usd > spend.cap
    text = " ".join(out.getvalue().split())
    assert "budget: 3 more job(s) could pass max_usd=" in text
    assert f" + ${spend.agent_call_usd:.2f} for the data preparation and the agent's next " \
        "call" in text
    assert f"agent ${spend.agent_usd:.4f} (tokens) + runner ${spend.compute_usd:.4f}" in text
    [row] = [r for r in ledger.rows() if r.trial_id.startswith("t")]
    assert row.agent_usd == pytest.approx(spend.agent_usd)
    # the ledger's parts are rounded to the millionth of a dollar
    assert row.gpu_usd + row.cpu_usd == pytest.approx(spend.compute_usd, abs=1e-5)
    assert row.cost_usd == pytest.approx(spend.spent, abs=1e-5)


def test_dry_run_builds_and_prints_without_an_account(tmp_path, monkeypatch):
    for name in ("MODAL_TOKEN_ID", "MODAL_TOKEN_SECRET"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("MODAL_CONFIG_PATH", str(tmp_path / "no.modal.toml"))
    lab = spy_lab(tmp_path / "lab", runner={"gpu": "A100-80GB", "pip": ["torch>=2.4"]},
                  budget={"max_usd": 25})
    result = CliRunner().invoke(cli, ["run", "--runner", "modal", "--dry-run", "-p", "4",
                                      "--lab", str(lab.root)])
    assert result.exit_code == 0, result.output
    out = result.output
    assert "pip: torch>=2.4" in out and "gpu A100-80GB, 4 CPU cores, 16384 MiB memory, " \
        "hard timeout 90 s" in out
    assert "network blocked, no secrets" in out and "at most 4 at once" in out
    assert "trial     train/train.py" in out and "evaluator evaluator/__main__.py" in out
    assert "evaluator train/train.py" not in out      # the evaluator tree is frozen files only
    # 1170 s at $2.50 + 4 x $0.04716 + 16 x $0.007992 an hour; 3900 s of the CPU part
    assert "each job at most 3 x (300 s start-up + 90 s: two stages and one preempted " \
        "attempt) = 1170 s = $0.92, and the data preparation once at most $0.34" in out
    assert "max_usd=25" in out
    assert not (lab.home / "work").exists() and not Ledger(Repo(lab.root), lab.home).rows()
    local = CliRunner().invoke(cli, ["run", "--dry-run", "--lab", str(lab.root)])
    assert local.exit_code == 2 and "remote runner" in local.output


def test_a_failed_start_is_tried_again_on_the_next_job(tmp_path):
    lab = spy_lab(tmp_path / "lab")
    cloud = Cloud(lab, tmp_path / "volume")
    app = FlakyApp(fails=1)
    runner = ModalRunner(lab, app=dataclasses.replace(cloud.app, app=app))
    main = Repo(lab.root).rev("main")
    [(_handle, failed)] = runner.wait([runner.submit(job_at(lab, main, seed=0))])
    assert failed.status == "infra_error" and "ConnectionError" in failed.reason
    assert "next submit starts the App again" in failed.reason and not runner.reserved
    [(_handle, result)] = runner.wait([runner.submit(job_at(lab, main, seed=1))])
    assert result.status == "ok", result.reason
    assert app.starts == 2 and cloud.spawned == [cloud.real.train, cloud.real.evaluate]


def test_an_unreachable_modal_stops_the_run_and_its_trial_resumes(tmp_path):
    lab = spy_lab(tmp_path / "lab")
    cloud = Cloud(lab, tmp_path / "volume")
    ledger = Ledger(Repo(lab.root), lab.home)

    def loop(app, out):
        runner = ModalRunner(lab, app=dataclasses.replace(cloud.app, app=app))
        return make_loop(lab, LocalForge(lab), runner, SweepAgent(), ledger,
                         Progress(Console(file=out, width=300), lab.config.metric))

    loop(FlakyApp(fails=0), io.StringIO()).ensure_baseline(1)
    out, down = io.StringIO(), FlakyApp(fails=2)
    with pytest.raises(InfraError, match="did not take a job 2 times in a row"):
        loop(down, out).run(trials=3, parallel=1)
    assert "t0001: could not start the job on Modal (ConnectionError" in out.getvalue()
    assert down.starts == 2 and not [r for r in ledger.rows() if r.trial_id.startswith("t")]
    assert [t.trial_id for t in LocalForge(lab).open_trials()] == ["t0001"]
    out = io.StringIO()
    loop(FlakyApp(fails=0), out).run(trials=1, parallel=1)
    assert "resuming t0001" in out.getvalue()
    [row] = [r for r in ledger.rows() if r.trial_id.startswith("t")]
    assert row.trial_id == "t0001" and row.status in ("keep", "discard"), row.reason


def test_an_unreachable_modal_at_the_baseline_records_no_seed(tmp_path):
    lab = spy_lab(tmp_path / "lab")
    cloud = Cloud(lab, tmp_path / "volume")
    ledger = Ledger(Repo(lab.root), lab.home)

    def loop(app):
        runner = ModalRunner(lab, app=dataclasses.replace(cloud.app, app=app))
        return make_loop(lab, LocalForge(lab), runner, SweepAgent(), ledger,
                         Progress(Console(file=io.StringIO()), lab.config.metric))

    with pytest.raises(InfraError, match="2 times in a row"):
        loop(FlakyApp(fails=2)).ensure_baseline(1)
    assert not ledger.rows()    # a recorded infra_error seed would never be run again
    loop(FlakyApp(fails=0)).ensure_baseline(1)
    assert [r.status for r in ledger.rows()] == ["baseline"] * lab.config.baseline_seeds


class Clock:
    """Modal's time as the runner sees it: moved on only by the stand-in calls."""

    def __init__(self):
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class TimedCall(Call):
    """A call that takes `wall` seconds of the clock: polls while they pass, then answers."""

    def __init__(self, run, clock: Clock, wall: float, polls: int = 0):
        super().__init__(run, polls)
        self.clock, self.wall, self.cancelled = clock, wall, False

    def get(self, timeout=None):
        if self.polls > 0:
            self.polls -= 1
            self.clock.now += self.wall
            raise TimeoutError()
        self.clock.now += self.wall
        return self.run()

    def cancel(self):
        self.cancelled = True


def timed(cloud: Cloud, clock: Clock, walls: list[float], polls: int = 0) -> list[TimedCall]:
    """Make each stage's spawn take the next of `walls` seconds of `clock`."""
    calls: list[TimedCall] = []
    for function in (cloud.app.train, cloud.app.evaluate):
        def spawn(*args, function=function, **kwargs):
            cloud.spawned.append(function.real)
            calls.append(TimedCall(lambda: function.call(args, kwargs), clock, walls.pop(0),
                                   polls))
            return calls[-1]
        function.spawn = spawn
    return calls


def test_a_preempted_attempt_is_billed_and_was_held_for(tmp_path):
    lab = spy_lab(tmp_path / "lab", runner=DEAR)       # $1 a second of GPU, $1 of the rest
    cloud, clock = Cloud(lab, tmp_path / "volume", seconds=20.0), Clock()
    runner = ModalRunner(lab, app=cloud.app, clock=clock)
    # training: 20 s of its own after 10 s of start-up and a 500 s attempt Modal lost and
    # restarted; evaluation: 20 s of its own after 5 s of start-up
    timed(cloud, clock, [10 + 500 + 20, 5 + 20])
    pending = runner.submit(job_at(lab, Repo(lab.root).rev("main")))
    assert runner.reserved[id(pending)] == 3 * (300 + 90)      # two stages and one restart
    [(_handle, result)] = runner.wait([pending])
    assert result.status == "ok", result.reason
    # every second Modal billed: the run, up to 300 s of start-up, and the lost attempt
    assert result.metrics["gpu_seconds"] == 530 + 25
    assert result.metrics["startup_seconds"] == 300 + 5
    assert result.metrics["preempted_seconds"] == 530 - 20 - 300
    assert result.metrics["gpu_usd"] == pytest.approx(555)
    assert result.metrics["cpu_usd"] >= 555            # the same seconds, and the data's
    assert runner.spend.compute_usd == pytest.approx(result.metrics["gpu_usd"]
                                                     + result.metrics["cpu_usd"])
    assert not runner.reserved and not runner.spend.reserved


def test_an_input_restarted_past_what_it_holds_is_cancelled_at_the_hold(tmp_path):
    lab = spy_lab(tmp_path / "lab", runner=DEAR)
    cloud, clock = Cloud(lab, tmp_path / "volume", seconds=20.0), Clock()
    runner = ModalRunner(lab, app=cloud.app, clock=clock)
    calls = timed(cloud, clock, [1200.0, 25.0], polls=1)   # still running after 1200 s
    [(_handle, result)] = runner.wait([runner.submit(job_at(lab, Repo(lab.root).rev("main")))])
    assert result.status == "infra_error" and "past the 1170 container-seconds" in result.reason
    assert calls[0].cancelled and cloud.spawned == [cloud.real.train]
    assert result.metrics["gpu_seconds"] == 1170 == result.metrics["gpu_usd"]


LINKS_OUT = '''\
import json, os
out = os.environ["AUTOLAB_OUT"]
json.dump({"value": 1.0}, open(os.path.join(out, "model.json"), "w"))
os.symlink("/etc/passwd", os.path.join(out, "weights.bin"))
'''


def test_a_trial_that_links_out_of_its_output_crashes_and_is_not_evaluated(tmp_path):
    lab = spy_lab(tmp_path / "lab")
    (lab.root / "train" / "train.py").write_text(LINKS_OUT)
    git(lab.root, "checkout", "-qb", "trial")
    git(lab.root, "commit", "-qam", "link out")
    cloud = Cloud(lab, tmp_path / "volume")
    runner = ModalRunner(lab, app=cloud.app)
    commit = git(lab.root, "rev-parse", "HEAD")
    [(_handle, result)] = runner.wait([runner.submit(job_at(lab, commit))])
    # the trial's own failure: `crash`, which the loop never retries (only infra_error)
    assert result.status == "crash", result.reason
    assert result.reason == ("the trial's output cannot go to the evaluation: weights.bin is "
                             "a link to /etc/passwd, outside AUTOLAB_OUT")
    assert cloud.spawned == [cloud.real.train]          # no evaluation of it


def test_the_run_says_when_the_app_starts_and_the_data_is_prepared(tmp_path):
    lab = spy_lab(tmp_path / "lab", runner={"gpu": "RTX-PRO-6000", "pip": ["numpy"]})
    said: list[str] = []
    runner = ModalRunner(lab, app=Cloud(lab, tmp_path / "volume").app,
                         spend=Spend(say=said.append))
    main = Repo(lab.root).rev("main")
    runner.wait([runner.submit(job_at(lab, main, seed=0))])
    runner.wait([runner.submit(job_at(lab, main, seed=1))])
    starts = ["`runner.gpu` = 'RTX-PRO-6000' is not in the GPU price table",   # said once
              "starting the Modal App (image: python", "Modal App started in ",
              "preparing the data on Modal for evaluator ", "data ready in "]
    assert len(said) == len(starts) and all(s in line for s, line in zip(starts, said,
                                                                          strict=True)), said
    assert "pip: numpy); building the image the first time can take minutes" in said[1]


@pytest.mark.parametrize("prepare, tries", [
    ("import yaml_is_not_installed_here", 1),      # an import error fails the same way again
    ("import sys; sys.exit('the download answered 503')", 2),   # may pass a second time
])
def test_a_failing_prepare_command_on_modal_is_mains_failure_not_the_runners(tmp_path, prepare,
                                                                          tries):
    lab = spy_lab(tmp_path / "lab")
    tries_file = tmp_path / "tries"    # inside this test's own directory, by absolute path
    (lab.root / "evaluator" / "data.py").write_text(
        f"with open({str(tries_file)!r}, 'a') as f:\n    f.write('x')\n{prepare}\n")
    git(lab.root, "commit", "-qam", "a prepare command that fails")
    volume = tmp_path / "volume"
    runner = ModalRunner(lab, app=Cloud(lab, volume).app)
    main = Repo(lab.root).rev("main")
    with pytest.raises(MainError) as raised:
        runner.submit(job_at(lab, main, seed=0))
    message = str(raised.value)
    assert "main's prepare_command failed" in message and "python -m evaluator.data" in message
    assert "it is main's, not a trial's" in message and "\\n" not in message
    # the second seed is refused at once: the same evaluator version is not prepared again
    with pytest.raises(MainError):
        runner.submit(job_at(lab, main, seed=1))
    assert tries_file.read_text() == "x" * tries
