"""The idea backlog and `autolab idea`."""

from __future__ import annotations

import pytest
from click.testing import CliRunner
from rich.console import Console

from autolab import config
from autolab.agents.sweep import SweepAgent
from autolab.assemble import make_loop
from autolab.backlog import Backlog
from autolab.cli import cli
from autolab.errors import UserError
from autolab.forges.local import LocalForge
from autolab.gitops import Repo
from autolab.ledger import Ledger
from autolab.progress import Progress
from autolab.records import LedgerRow
from autolab.runners.local import LocalRunner


def test_ideas_are_open_then_tried_then_kept(tmp_path):
    backlog = Backlog(tmp_path)
    first = backlog.add("  try rotary\n embeddings ")
    second = backlog.add("LR=0.01")
    assert (first.id, first.text, second.id) == (1, "try rotary embeddings", 2)
    backlog.link("idea:2", "t0003")
    backlog.link("claude", "t0004")                  # not from the backlog: nothing to link
    rows = [LedgerRow(trial_id="t0003", status="keep")]
    assert [(i.id, i.trial_id, s) for i, s in backlog.listing(rows)] == [
        (1, "", "open"), (2, "t0003", "kept")]
    backlog.link("idea:1", "t0005")
    states = [s for _, s in backlog.listing(rows + [LedgerRow(trial_id="t0005",
                                                               status="crash")])]
    assert states == ["tried (crash)", "kept"]
    assert [s for _, s in backlog.listing([])] == ["tried (running)", "tried (running)"]


def test_next_open_skips_prose_for_an_agent_that_edits_constants(tmp_path):
    backlog = Backlog(tmp_path)
    assert backlog.next_open(free_text=True) is None
    backlog.add("try rotary embeddings")
    backlog.add("WIDTH = 8")
    assert backlog.next_open(free_text=True).text == "try rotary embeddings"
    assert backlog.next_open(free_text=False).text == "WIDTH = 8"
    backlog.link("idea:2", "t0001")
    assert backlog.next_open(free_text=False) is None
    backlog.add("model.n_layer=6")   # any setting the sweep finds, by its name
    assert backlog.next_open(free_text=False).text == "model.n_layer=6"


def test_an_empty_idea_is_refused(tmp_path):
    with pytest.raises(UserError, match="the idea is empty"):
        Backlog(tmp_path).add(" \n")


def test_the_idea_command_queues_and_lists(lab, monkeypatch):
    monkeypatch.chdir(lab)
    runner = CliRunner()
    assert "no ideas queued" in runner.invoke(cli, ["idea", "list"]).output
    added = runner.invoke(cli, ["idea", "try [bold]rotary[/bold] embeddings"])
    assert added.exit_code == 0 and "idea 1 queued" in added.output
    listed = runner.invoke(cli, ["idea", "list"], terminal_width=200)
    assert "open" in listed.output and "try [bold]rotary[/bold] embeddings" in listed.output
    assert Backlog(lab / ".autolab").ideas()[0].text == "try [bold]rotary[/bold] embeddings"


def test_the_sweep_draws_only_name_value_ideas_and_refuses_unknown_names(lab):
    home = lab / ".autolab"
    backlog = Backlog(home)
    for text in ("try rotary embeddings", "NOPE=3", "WIDTH=8"):
        backlog.add(text)
    loaded = config.load(lab)
    loop = make_loop(loaded, LocalForge(loaded), LocalRunner(loaded, parallel=1), SweepAgent(),
                     Ledger(Repo(lab), home), Progress(Console(quiet=True), "score"))
    try:
        loop.run(2, 1)
    finally:
        loop.runner.close()
    rows = {r.trial_id: r for r in loop.ledger.rows()}
    assert rows["t0001"].status == "rejected" and rows["t0001"].source == "idea:2"
    assert "NOPE" in rows["t0001"].rationale
    assert rows["t0002"].source == "idea:3" and "WIDTH = 8" in rows["t0002"].diff
    assert [(i.text, i.trial_id) for i in backlog.ideas()] == [
        ("try rotary embeddings", ""), ("NOPE=3", "t0001"), ("WIDTH=8", "t0002")]
