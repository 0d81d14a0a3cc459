"""Built-in forges, runners and agents, chosen by name like any plugin would be.

Adding one (slurm, openai, ...) is one module and one line here; imports are
lazy so a lab that never names `github` never needs PyGithub installed.
"""

from __future__ import annotations

import inspect
from importlib import import_module

from autolab.config import Lab
from autolab.errors import UserError
from autolab.spend import Spend

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


def _shared(cls, spend: Spend | None) -> dict:
    """The run's spend counter, for the parts that spend money (their `spend` parameter)."""
    takes = "spend" in inspect.signature(cls).parameters
    return {"spend": spend} if spend is not None and takes else {}


def runner(name: str, lab: Lab, parallel: int, spend: Spend | None = None):
    cls = _load(RUNNERS, "runner", name)
    return cls(lab, parallel=parallel, **_shared(cls, spend))


def agent(name: str, lab: Lab, spend: Spend | None = None):
    cls = _load(AGENTS, "agent", name)
    return cls(**_shared(cls, spend))
