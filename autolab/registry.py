"""Forges, runners and agents by name, all through entry points (ARCHITECTURE.md, "Plugins").

The built-ins are declared in autolab's own pyproject.toml under the groups
`autolab.forges`, `autolab.runners` and `autolab.agents`, exactly as a third-party
package declares its own, so there is one way in: install a package that names
`slurm = "mypkg.runner:SlurmRunner"` in `autolab.runners` and `--runner slurm`
works. Loading is lazy, so a lab that never names `github` never imports PyGithub.

What is loaded is checked before it is used (`check`): a class with every member its
contract declares (runners/base.py, agents/base.py, forges/base.py), and a frozen
`Settings` dataclass or none. Each plugin is built by its declared constructor,
`from_lab`, with its settings from `[tool.autolab.<kind>.<name>]` and the run's one spend
counter.
"""

from __future__ import annotations

import dataclasses
from importlib.metadata import EntryPoint, entry_points

from autolab.agents.base import AGENT_MEMBERS
from autolab.config import Lab, plugin_settings
from autolab.errors import ConfigError, UserError
from autolab.forges.base import FORGE_MEMBERS
from autolab.runners.base import RUNNER_MEMBERS
from autolab.spend import Spend

GROUPS = {"forge": "autolab.forges", "runner": "autolab.runners", "agent": "autolab.agents"}
# per kind: (the methods its contract declares, the class attributes it declares)
MEMBERS = {"forge": FORGE_MEMBERS, "runner": RUNNER_MEMBERS, "agent": AGENT_MEMBERS}


def available(kind: str) -> dict[str, EntryPoint]:
    return {ep.name: ep for ep in entry_points(group=GROUPS[kind])}


def load(kind: str, name: str) -> type:
    """The class entry point `name` of `kind` names, checked against its contract."""
    found = available(kind)
    if name not in found:
        known = ", ".join(sorted(found)) or "none (reinstall autolab: `pip install -e .`)"
        raise UserError(f"unknown {kind} {name!r}; choose one of: {known}")
    try:
        loaded = found[name].load()
    except ImportError as exc:
        raise UserError(f"the {kind} {name!r} needs an extra package ({exc.name}); install "
                        f"it with `pip install 'autolab[{name}]'`") from None
    if problem := check(kind, loaded):
        entry = found[name]
        raise UserError(f"plugin {entry.name} = {entry.value!r} in entry point group "
                        f"{entry.group} is not a {kind}: {problem}; fix or uninstall it")
    return loaded


def check(kind: str, loaded: object) -> str:
    """What `loaded` lacks to be a `kind` plugin, in a few words; "" when nothing."""
    if not isinstance(loaded, type):
        return f"it is a {type(loaded).__name__}, not a class"
    methods, attributes = MEMBERS[kind]
    missing = [m for m in methods if not callable(getattr(loaded, m, None))]
    missing += [a for a in attributes if not hasattr(loaded, a)]
    if missing:
        return f"missing {', '.join(missing)}"
    settings = loaded.Settings        # type: ignore[attr-defined]
    if settings is None:
        return ""
    if not (isinstance(settings, type) and dataclasses.is_dataclass(settings)
            and settings.__dataclass_params__.frozen):     # type: ignore[attr-defined]
        return "its Settings is not a frozen dataclass"
    required = [f.name for f in dataclasses.fields(settings)
                if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING]
    if required:    # a lab may leave the sub-table out: every setting needs a default
        return f"its Settings field(s) {', '.join(required)} have no default"
    return ""


def settings(kind: str, name: str, cls: type, lab: Lab):
    """Plugin `name`'s settings from [tool.autolab.<kind>.<name>]; None when it takes none.
    A sub-table naming no installed plugin of the kind is a typo, said here."""
    tables = getattr(lab.config, kind).plugins
    if stray := sorted(set(tables) - set(available(kind))):
        raise ConfigError(f"{lab.where}: [tool.autolab.{kind}.{stray[0]}] names no installed "
                          f"{kind}; installed: {', '.join(sorted(available(kind)))}")
    if cls.Settings is None:        # type: ignore[attr-defined]
        if name in tables:
            raise ConfigError(f"{lab.where}: the {kind} {name!r} takes no settings; remove "
                              f"[tool.autolab.{kind}.{name}]")
        return None
    return plugin_settings(lab.config, kind, name, cls.Settings,  # type: ignore[attr-defined]
                           lab.where)


def forge(name: str, lab: Lab):
    cls = load("forge", name)
    return cls.from_lab(lab, settings("forge", name, cls, lab))     # type: ignore[attr-defined]


def runner(name: str, lab: Lab, parallel: int, spend: Spend | None = None):
    cls = load("runner", name)
    return cls.from_lab(lab, settings("runner", name, cls, lab),   # type: ignore[attr-defined]
                        parallel=parallel, spend=spend)


def agent(name: str, lab: Lab, spend: Spend | None = None):
    cls = load("agent", name)
    return cls.from_lab(lab, settings("agent", name, cls, lab),    # type: ignore[attr-defined]
                        spend=spend)
