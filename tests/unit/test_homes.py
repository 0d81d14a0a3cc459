"""One home per concept, checked on the package's source: the git refs autolab keeps are named
only in refs.py; the report and the CLI reach no forge's module, the loop only the Forge
contract; the loop holds the stages and is handed the prune learner and the reports."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from conftest import git, make_lab

from autolab import config
from autolab.forges.local import LocalForge

PACKAGE = Path(__file__).resolve().parents[2] / "autolab"
REF = re.compile(r"refs/(heads/)?autolab")


def strings_in_code(tree: ast.AST) -> list[str]:
    """String constants outside docstrings (the help texts and docs may name a ref)."""
    docstrings = {id(node.body[0].value) for node in ast.walk(tree)
                  if isinstance(node, (ast.Module, ast.FunctionDef, ast.ClassDef))
                  and node.body and isinstance(node.body[0], ast.Expr)}
    return [node.value for node in ast.walk(tree) if isinstance(node, ast.Constant)
            and isinstance(node.value, str) and id(node) not in docstrings]


def imported_modules(tree: ast.AST) -> set[str]:
    found = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import)
             for alias in node.names}
    return found | {node.module or "" for node in ast.walk(tree)
                    if isinstance(node, ast.ImportFrom)}


def test_the_refs_autolab_keeps_are_spelled_only_in_refs_py():
    spelled = {path.relative_to(PACKAGE).as_posix(): [s for s in strings_in_code(
        ast.parse(path.read_text())) if REF.search(s)] for path in PACKAGE.rglob("*.py")}
    assert spelled.pop("refs.py"), "refs.py names the refs"
    # a CLI help text may point a person at a ref: it is prose, not the layout
    spelled["cli.py"] = [s for s in spelled["cli.py"] if " " not in s]
    assert {path: found for path, found in spelled.items() if found} == {}


def test_the_report_and_the_cli_import_no_forge_and_the_loop_only_its_contract():
    allowed = {"report.py": set(), "cli.py": set(), "loop.py": {"autolab.forges.base"}}
    for name, may in allowed.items():
        reached = {m for m in imported_modules(ast.parse((PACKAGE / name).read_text()))
                   if m.startswith("autolab.forges")} - may
        assert not reached, f"{name} imports {sorted(reached)}"


def test_the_loop_imports_no_prune_learner_no_report_and_no_ref_layout():
    tree = ast.parse((PACKAGE / "loop.py").read_text())
    reached = imported_modules(tree) & {"autolab.pruner", "autolab.report", "autolab.refs"}
    assert not reached, f"loop.py imports {sorted(reached)}"
    # `from autolab import report` names the module as an alias, not as node.module
    names = {alias.name for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)
             and node.module == "autolab" for alias in node.names}
    assert not names & {"pruner", "prune", "report", "refs"}, names
    # the rule a job carries is a record the loop passes on; learning it is pruner.py's
    from_prune = {alias.name for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)
                  and node.module == "autolab.prune" for alias in node.names}
    assert from_prune <= {"PruneRule"}, from_prune


def test_the_forge_hands_out_ids_above_the_ledger_and_every_trial_ref(tmp_path):
    root = make_lab(tmp_path / "lab", init=False)
    forge = LocalForge(config.load(root))
    assert forge.reserve(0) == "t0001"
    assert forge.reserve(41) == "t0042"            # the ledger's highest row is t0041
    main = git(root, "rev-parse", "main")
    git(root, "update-ref", "refs/heads/autolab/t0007", main)       # an open trial's branch
    git(root, "update-ref", "refs/autolab/trials/t0050", main)      # a decided trial's code
    git(root, "update-ref", "refs/heads/autolab/ledger", main)      # no trial id
    assert forge.reserve(3) == "t0051"
    assert forge.reserve(60) == "t0061"
