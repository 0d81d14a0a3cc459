"""Forges, runners and agents by name, all through entry points (ARCHITECTURE.md, "Plugins").

The built-ins are declared in autolab's own pyproject.toml under the groups
`autolab.forges`, `autolab.runners` and `autolab.agents`, exactly as a third-party
package declares its own, so there is one way in: install a package that names
`slurm = "mypkg.runner:SlurmRunner"` in `autolab.runners` and `--runner slurm`
works. Loading is lazy, so a lab that never names `github` never imports PyGithub.
The run's one spend counter is handed to the parts whose constructor takes `spend`.
"""

from __future__ import annotations

import inspect
from importlib.metadata import EntryPoint, entry_points

from autolab.config import Lab
from autolab.errors import UserError
from autolab.spend import Spend

GROUPS = {"forge": "autolab.forges", "runner": "autolab.runners", "agent": "autolab.agents"}


def available(kind: str) -> dict[str, EntryPoint]:
    return {ep.name: ep for ep in entry_points(group=GROUPS[kind])}


def _load(kind: str, name: str):
    found = available(kind)
    if name not in found:
        known = ", ".join(sorted(found)) or "none (reinstall autolab: `pip install -e .`)"
        raise UserError(f"unknown {kind} {name!r}; choose one of: {known}")
    try:
        return found[name].load()
    except ImportError as exc:
        raise UserError(f"the {kind} {name!r} needs an extra package ({exc.name}); install "
                        f"it with `pip install 'autolab[{name}]'`") from None


def _shared(cls, spend: Spend | None) -> dict:
    """The run's spend counter, for the parts that spend money (their `spend` parameter)."""
    takes = "spend" in inspect.signature(cls).parameters
    return {"spend": spend} if spend is not None and takes else {}


def forge(name: str, lab: Lab):
    return _load("forge", name)(lab)


def runner(name: str, lab: Lab, parallel: int, spend: Spend | None = None):
    cls = _load("runner", name)
    return cls(lab, parallel=parallel, **_shared(cls, spend))


def agent(name: str, lab: Lab, spend: Spend | None = None):
    cls = _load("agent", name)
    return cls(**_shared(cls, spend))
