"""One home per concept, checked on the package's source: the git refs autolab keeps are named
only in refs.py; the report and the CLI reach no forge's module, the loop only the Forge
contract."""

from __future__ import annotations

import ast
import re
from pathlib import Path

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
