"""Every built-in forge, runner and agent satisfies its contract and the registry's load check.

A contract is the Protocol in runners/base.py, agents/base.py or forges/base.py; the
registry builds each plugin by the `from_lab` it declares there. These tests hold the
built-ins to exactly what a third-party plugin is held to.
"""

from __future__ import annotations

import inspect

import pytest
from conftest import make_lab
from fakegithub import FakeGitHub, clone_of_bare

from autolab import config, registry
from autolab.agents.base import Agent
from autolab.agents.claude import ClaudeAgent
from autolab.agents.scripted import ScriptedAgent
from autolab.agents.sweep import SweepAgent
from autolab.forges.base import Forge
from autolab.forges.github import GitHubForge
from autolab.forges.local import LocalForge
from autolab.runners.base import Runner
from autolab.runners.local import LocalRunner
from autolab.runners.modal_runner import ModalRunner

PROTOCOLS = {"runner": Runner, "agent": Agent, "forge": Forge}
BUILT_INS = [("runner", "local", LocalRunner), ("runner", "modal", ModalRunner),
             ("agent", "sweep", SweepAgent), ("agent", "claude", ClaudeAgent),
             ("agent", "scripted", ScriptedAgent),
             ("forge", "local", LocalForge), ("forge", "github", GitHubForge)]
TESTS_ONLY = {("agent", "scripted")}    # not an entry point: tests hand it to the loop
IDS = [f"{kind}-{name}" for kind, name, _ in BUILT_INS]


def declared(protocol) -> set[str]:
    """The members a Protocol class declares: its annotations and its own methods."""
    methods = {k for k, v in vars(protocol).items()
               if inspect.isfunction(v) or isinstance(v, classmethod)}
    return {m for m in set(protocol.__annotations__) | methods if not m.startswith("_")}


def parameters(function) -> list[inspect.Parameter]:
    return [p for name, p in inspect.signature(function).parameters.items()
            if name not in ("self", "cls")]


def accepts(implementation, declared) -> str:
    """Why `implementation` cannot be called as `declared` is, or ""."""
    given = parameters(implementation)
    wanted = parameters(declared)
    names = [p.name for p in given[:len(wanted)]]
    if names != [p.name for p in wanted]:
        return f"takes {names}, the contract {[p.name for p in wanted]}"
    extra = [p.name for p in given[len(wanted):] if p.default is inspect.Parameter.empty
             and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
    return f"also requires {extra}" if extra else ""


@pytest.mark.parametrize("kind, name, cls", BUILT_INS, ids=IDS)
def test_a_built_in_passes_the_registrys_load_check(kind, name, cls):
    assert registry.check(kind, cls) == ""
    assert cls.name == name
    if (kind, name) not in TESTS_ONLY:      # found by entry point, as a plugin is
        assert registry.load(kind, name) is cls


@pytest.mark.parametrize("kind, name, cls", BUILT_INS, ids=IDS)
def test_a_built_in_takes_every_method_as_its_contract_declares_it(kind, name, cls):
    methods, attributes = registry.MEMBERS[kind]
    protocol = PROTOCOLS[kind]
    for method in methods:
        assert accepts(getattr(cls, method), getattr(protocol, method)) == "", (name, method)
    assert set(methods) | set(attributes) == declared(protocol)
    if kind == "runner":
        assert isinstance(cls.prunes, bool)
    if kind == "agent":
        assert isinstance(cls.free_text, bool) and isinstance(cls.exhausted, str)


def test_the_members_the_registry_checks_are_every_member_of_each_contract():
    for kind, protocol in PROTOCOLS.items():
        methods, attributes = registry.MEMBERS[kind]
        assert set(methods) | set(attributes) == declared(protocol), kind
        assert set(methods) == {m for m in declared(protocol) if callable(getattr(protocol, m, 0))}


def test_only_the_local_runner_prunes():
    assert (LocalRunner.prunes, ModalRunner.prunes) == (True, False)


@pytest.fixture
def built_lab(tmp_path, monkeypatch):
    """A lab with a GitHub origin served by the fake, a key for Claude, settings for Modal."""
    clone, origin = clone_of_bare(make_lab(tmp_path / "seed"), tmp_path)
    with open(clone / "pyproject.toml", "a") as f:
        f.write('\n[tool.autolab.runner.modal]\ngpu = "L4"\npip = ["numpy"]\n'
                '\n[tool.autolab.agent.claude]\nmodel = "claude-haiku-4-5"\nroles = ["tuner"]\n')
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-test")     # the client is made, never called
    monkeypatch.setenv("GITHUB_TOKEN", "t")
    monkeypatch.setenv("GITHUB_REPOSITORY", "lab-owner/lab")
    with FakeGitHub(origin) as fake:
        monkeypatch.setenv("AUTOLAB_GITHUB_API", fake.url)
        yield config.load(clone)


def test_each_built_in_is_built_by_its_declared_constructor(built_lab):
    made = []
    for kind, name, cls in BUILT_INS:
        if (kind, name) in TESTS_ONLY:
            made.append(cls.from_lab(built_lab, None, spend=None))
            continue
        if kind == "runner":
            built = registry.runner(name, built_lab, 2)
        elif kind == "agent":
            built = registry.agent(name, built_lab)
        else:
            built = registry.forge(name, built_lab)
        assert type(built) is cls, name
        made.append(built)
    local, modal, _, claude, scripted, _, github = made
    assert (modal.settings.gpu, modal.settings.pip, modal.modal.spec.gpu) == \
        ("L4", ("numpy",), "L4")
    assert (claude.settings.model, claude.settings.roles) == ("claude-haiku-4-5", ("tuner",))
    assert scripted.remaining == [] and github.main_sha()
    local.close()
    modal.close()
