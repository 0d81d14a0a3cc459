"""The offline agent: one constant at a time, steered by what the lineage showed.

It reads the UPPER_CASE numeric and boolean constants of the editable Python
files, proposes single-value mutations, prefers the directions that improved
the metric before and avoids those that hurt, and never proposes a value that
was already tried on the same parent. No key, no network: the control that any
smarter agent has to beat.
"""

from __future__ import annotations

import ast
import random
from dataclasses import dataclass

from autolab import admit
from autolab.agents.base import Context, unified_diff
from autolab.errors import UserError
from autolab.records import FAILURES, Proposal

FIXED = "autolab: fixed"


@dataclass(frozen=True)
class Constant:
    path: str
    name: str
    value: bool | int | float
    line: int            # 0-based line index of the assignment


def constants(path: str, text: str) -> list[Constant]:
    """UPPER_CASE literals, one statement a line; `# autolab: fixed` on the line opts out."""
    try:
        tree = ast.parse(text)
    except SyntaxError:
        return []
    found = []
    lines = [node.lineno for node in tree.body]
    for node in tree.body:
        if (isinstance(node, ast.Assign) and len(node.targets) == 1
                and isinstance(node.targets[0], ast.Name) and node.targets[0].id.isupper()
                and isinstance(node.value, ast.Constant)
                and isinstance(node.value.value, (bool, int, float))
                and node.lineno == node.end_lineno and lines.count(node.lineno) == 1
                and FIXED not in text.splitlines()[node.lineno - 1]):
            found.append(Constant(path, node.targets[0].id, node.value.value, node.lineno - 1))
    return found


def all_constants(files: dict[str, str]) -> list[Constant]:
    return [c for path, text in sorted(files.items()) if path.endswith(".py")
            for c in constants(path, text)]


def moves(c: Constant) -> list[bool | int | float]:
    v = c.value
    if isinstance(v, bool):
        return [not v]
    if isinstance(v, int):
        out = [v * 2, v // 2] if v >= 2 else [v + 1, 2 * v + 2] if v >= 0 else [v * 2, v // 2]
        if 2 <= v <= 8:
            out += [v + 1, v - 1]
        return [m for m in dict.fromkeys(out) if m != v]
    if v == 0.0:
        return [0.1, 0.01]
    if 0.5 < v < 1.0:
        # a fraction near 1 (a momentum, a decay) moves in 1 - v: 0.99 goes to 0.995 or
        # 0.98, never to 1.98
        return [float(f"{1 - (1 - v) / 2:.6g}"), float(f"{1 - (1 - v) * 2:.6g}")]
    return [float(f"{v * 2:.6g}"), float(f"{v / 2:.6g}")]


def rewrite(text: str, c: Constant, value) -> str:
    lines = text.splitlines(keepends=True)
    old = lines[c.line]
    head, _, rest = old.partition("=")
    comment = rest[rest.index("#"):].rstrip("\n") if "#" in rest else ""
    new = f"{head.rstrip()} = {value!r}" + (f"  {comment}" if comment else "")
    lines[c.line] = new + ("\n" if old.endswith("\n") else "")
    return "".join(lines)


def _direction(old, new) -> str:
    return "flip" if isinstance(old, bool) else ("up" if new > old else "down")


class SweepAgent:
    name = "sweep"

    def propose(self, context: Context) -> list[Proposal]:
        if context.idea:
            return [self.assignment(context, context.idea)]
        config = context.config
        learned = self._learned(context)
        candidates = []
        for c in all_constants(context.files):
            for value in moves(c):
                key = admit.value_key(context.parent_sha, c.path, c.name, value)
                if key in context.tried:
                    continue
                score = learned.get((c.name, _direction(c.value, value)), 0.0)
                candidates.append((score, c, value))
        rng = random.Random(context.parent_sha)
        rng.shuffle(candidates)   # ties broken differently on every parent, reproducibly
        candidates.sort(key=lambda t: -t[0])
        picked, names = [], set()
        for score, c, value in candidates:
            if c.name in names:
                continue  # parallel slots spread over different constants
            names.add(c.name)
            picked.append(self._proposal(context, c, value, score, config.metric))
            if len(picked) == context.slots:
                break
        return picked

    def assignment(self, context: Context, idea: str) -> Proposal:
        """`NAME=value` from a person: applied as given."""
        name, sep, raw = idea.partition("=")
        name = name.strip()
        found = {c.name: c for c in all_constants(context.files)}
        if not sep or name not in found:
            names = ", ".join(sorted(found)) or "none found"
            raise UserError(f"try {idea!r}: the sweep agent takes NAME=value for one of the "
                            f"editable constants ({names})")
        try:
            value = ast.literal_eval(raw.strip())
        except (ValueError, SyntaxError):
            raise UserError(f"try {idea!r}: {raw.strip()!r} is not a Python literal "
                            f"(write e.g. {name}=0.006 or {name}=True)") from None
        return self._proposal(context, found[name], value, 0.0, context.config.metric,
                              source="human")

    def _proposal(self, context: Context, c: Constant, value, score: float, metric: str,
                  source: str = "sweep") -> Proposal:
        text = context.files[c.path]
        why = (f"changes in this direction improved {metric} before (score {score:+.3g})"
               if score > 0 else "not explored yet on this parent" if score == 0
               else "other directions are exhausted")
        return Proposal(
            role="sweep", hypothesis=f"Set {c.name} from {c.value!r} to {value!r} in {c.path}.",
            rationale=why, expected_delta=0.0,
            diff=unified_diff(c.path, text, rewrite(text, c, value)),
            parent_sha=context.parent_sha, parent_trial=context.parent_trial, source=source)

    @staticmethod
    def _learned(context: Context) -> dict[tuple[str, str], float]:
        """How much each (constant, direction) helped so far: + for gains, - for losses."""
        config = context.config
        score: dict[tuple[str, str], float] = {}
        for row in context.history:
            change = admit.single_assignment(row.diff)
            if not change:
                continue
            _path, name, old, new = change
            key = (name, _direction(old, new))
            if row.status in FAILURES:
                step = -1.0
            elif row.status == "pruned":  # stopped for losing: as bad as a worse discard
                step = -0.5
            elif row.delta_vs_best is None:
                continue
            else:
                gain = config.better(row.delta_vs_best, 0.0)
                step = 1.0 if gain > 0 and row.status == "keep" else -0.5 if gain < 0 else 0.0
            score[key] = score.get(key, 0.0) + step
        return score
