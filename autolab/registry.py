"""Forges, runners and agents by name, all through entry points (ARCHITECTURE.md, "Plugins").

The built-ins are declared in autolab's own pyproject.toml under the groups
`autolab.forges`, `autolab.runners` and `autolab.agents`, exactly as a third-party
package declares its own, so there is one way in: install a package that names
`slurm = "mypkg.runner:SlurmRunner"` in `autolab.runners` and `--runner slurm`
works. Loading is lazy, so a lab that never names `github` never imports PyGithub.
"""

from __future__ import annotations

from importlib.metadata import EntryPoint, entry_points

from autolab.config import Lab
from autolab.errors import UserError

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


def forge(name: str, lab: Lab):
    return _load("forge", name)(lab)


def runner(name: str, lab: Lab, parallel: int):
    return _load("runner", name)(lab, parallel=parallel)


def agent(name: str, lab: Lab):
    return _load("agent", name)()
