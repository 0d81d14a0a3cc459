"""Built-in forges, runners and agents, chosen by name like any plugin would be.

Adding one (slurm, openai, ...) is one module and one line here; imports are
lazy so a lab that never names `github` never needs PyGithub installed.
"""

from __future__ import annotations

from importlib import import_module

from autolab.config import Lab
from autolab.errors import UserError

FORGES = {"local": "autolab.forges.local:LocalForge",
          "github": "autolab.forges.github:GitHubForge"}
RUNNERS = {"local": "autolab.runners.local:LocalRunner",
           "modal": "autolab.runners.modal:ModalRunner"}
AGENTS = {"sweep": "autolab.agents.sweep:SweepAgent",
          "claude": "autolab.agents.claude:ClaudeAgent"}


def _load(table: dict[str, str], kind: str, name: str):
    if name not in table:
        raise UserError(f"unknown {kind} {name!r}; choose one of: {', '.join(sorted(table))}")
    module, _, attr = table[name].partition(":")
    try:
        return getattr(import_module(module), attr)
    except ImportError as exc:
        raise UserError(f"the {kind} {name!r} needs an extra package ({exc.name}); install "
                        f"it with `pip install 'autolab[{name}]'`") from None


def forge(name: str, lab: Lab):
    return _load(FORGES, "forge", name)(lab)


def runner(name: str, lab: Lab, parallel: int):
    return _load(RUNNERS, "runner", name)(lab, parallel=parallel)


def agent(name: str, lab: Lab):
    return _load(AGENTS, "agent", name)()
