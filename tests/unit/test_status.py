"""Status is the one vocabulary: its families are defined on the enum, and the package spells
no family of its own."""

from __future__ import annotations

import ast
from pathlib import Path

from autolab import charts
from autolab.records import FAILURES, Status

PACKAGE = Path(__file__).resolve().parents[2] / "autolab"
# where status labels are text by contract: the evaluator's result.json, which the runner reads
BOUNDARY = {"records.py", "runners/contract.py"}


def test_the_families_say_whose_a_failure_is():
    assert Status.INFRA_ERROR.is_failure() and not Status.INFRA_ERROR.blames_idea()
    assert Status.INTEGRITY_MISMATCH.is_failure() and not Status.INTEGRITY_MISMATCH.blames_idea()
    assert Status.GATE_FAILED.blames_idea() and not Status.GATE_FAILED.broke_training()
    assert all(s.blames_idea() for s in Status.where(Status.broke_training))
    assert {s.value for s in FAILURES} == {"crash", "timeout", "oom", "diverged", "no_artifact",
                                           "gate_failed", "integrity_mismatch", "eval_error",
                                           "infra_error"}


def test_the_families_never_mix_a_verdict_with_a_failure_or_a_refusal():
    for s in Status:
        kinds = [s.ran_to_verdict(), s.is_failure(), s.is_refusal()]
        assert sum(kinds) <= 1, s
    assert set(Status.where(Status.judged_on_metric)) <= set(Status.where(Status.ran_to_verdict))
    assert Status.PRUNED.can_rerun() and not Status.KEEP.can_rerun()
    assert Status.DISCARD.is_dead_end() and not Status.HELD.is_dead_end()


def test_a_family_of_a_label_only_an_imported_file_used_is_empty():
    # ledger rows keep an imported file's own labels: families are looked up, never Status(label)
    assert "skipped" not in Status.where(Status.is_failure)
    assert "crash" in Status.where(Status.is_failure)


def test_every_status_a_row_ends_with_has_a_colour():
    assert {s for s in Status if s not in charts.COLOURS} == {Status.OK, Status.PROMISING}


def status_collections(tree: ast.AST) -> list[tuple[int, str]]:
    """Tuples, lists and sets of two or more status labels or members: a family spelled out."""
    labels, names = {s.value for s in Status}, {s.name for s in Status}

    def is_status(node: ast.expr) -> bool:
        if isinstance(node, ast.Constant):
            return node.value in labels
        return (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
                and node.value.id == "Status" and node.attr in names)

    return [(node.lineno, ast.unparse(node)) for node in ast.walk(tree)
            if isinstance(node, ast.Tuple | ast.List | ast.Set) and len(node.elts) >= 2
            and all(is_status(e) for e in node.elts)]


def status_literals(tree: ast.AST) -> list[tuple[int, str]]:
    """Status labels written as text where a status is meant: compared with something named
    `...status`, or passed as `status=`."""
    labels = {s.value for s in Status}

    def named_status(node: ast.expr) -> bool:
        name = node.id if isinstance(node, ast.Name) else getattr(node, "attr", "")
        return name.endswith("status")

    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Compare) and any(map(named_status, [node.left,
                                                                      *node.comparators])):
            texts = [c for side in [node.left, *node.comparators] for c in ast.walk(side)
                     if isinstance(c, ast.Constant) and c.value in labels]
            found += [(node.lineno, ast.unparse(node))] if texts else []
        if isinstance(node, ast.keyword) and node.arg == "status" \
                and isinstance(node.value, ast.Constant) and node.value.value in labels:
            found.append((node.value.lineno, ast.unparse(node)))
    return found


def package_findings(scan) -> dict[str, str]:
    return {f"{path.relative_to(PACKAGE)}:{line}": text
            for path in sorted(PACKAGE.rglob("*.py"))
            if path.relative_to(PACKAGE).as_posix() not in BOUNDARY
            for line, text in scan(ast.parse(path.read_text()))}


def test_no_module_writes_a_status_as_text():
    assert package_findings(status_literals) == {}, "use the Status member"


def test_no_module_spells_a_family_of_its_own():
    assert package_findings(status_collections) == {}, \
        "define the family on Status in records.py and look it up there"


def test_the_checks_find_what_they_look_for():
    tree = ast.parse('DONE = ("keep", "discard")\nif s in (Status.CRASH, Status.OOM): pass\n'
                     'if row.status == "held": pass\nRow(status="crash")\n'
                     'if command == "keep": pass\n')
    assert [line for line, _ in status_collections(tree)] == [1, 2]
    assert [line for line, _ in status_literals(tree)] == [3, 4]
