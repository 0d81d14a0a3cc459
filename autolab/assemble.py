"""A `Loop` with its parts: the one place the loop's collaborators are put together.

`loop.py` names only the stages; the prune learner (pruner.py) and the reports
(report.py) it is handed here, so the loop imports neither.
"""

from __future__ import annotations

from autolab.agents.base import Agent
from autolab.config import Lab
from autolab.forges.base import Forge
from autolab.ledger import Ledger
from autolab.loop import Loop
from autolab.progress import Progress
from autolab.pruner import Pruner
from autolab.report import Reporter
from autolab.runners.base import Runner


def make_loop(lab: Lab, forge: Forge, runner: Runner, agent: Agent, ledger: Ledger,
              progress: Progress) -> Loop:
    return Loop(lab, forge, runner, agent, ledger, progress,
                pruner=Pruner(lab.config, ledger, forge.scores, progress.note),
                reporter=Reporter(lab, ledger))
