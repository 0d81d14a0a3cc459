"""The offline agent: a schedule of steps on each setting, steered by what the lineage showed.

It steps the settings `autolab.params` finds in the editable files (constants,
argparse and keyword defaults, config files) and proposes changes to them. No
key, no network: the control that any smarter agent has to beat. A "constant"
below is any such setting. A tuple of numbers is scaled as one (bounds=(-5, 5)
goes to (-10, 10) and (-2, 2)); a setting with `choices` steps to its
neighbours in the list, then further; a string without choices is left alone;
a `min`/`max` bound is never crossed.

Step schedule. Each constant has a fixed list of values, nearest first, in
rings: ring 0 is ×2 and ÷2 (and ±1 for ints from 2 to 8, a flip for a bool,
0.1 and 0.01 for a float zero); later rings step by ×4, ×√2, ×8, ×2^¼ and ×16
each way, so the agent widens and refines its search once the first steps are
tried. A fraction in (0.5, 1) (a momentum, a decay) steps in 1 - v instead:
0.99 goes to 0.995 or 0.98, never to 1.98. Ints stay ints, rounded to a
multiple of a power of two that divides them (128 goes to 192 and 96, not 181
and 91). Every value is new and keeps its side of zero: an int that is at
least 1 stays at least 1, a fraction near 1 stays in (0, 1), a zero only moves
up, and a float zero (a switch that is off) only to small values.

Pairs. A single change that was kept, or discarded with a gain within the
lab's noise (the baseline's seed σ, or `min_delta` where larger) of the best,
is a near miss. Two of the twelve closest near misses, on different constants,
are combined into one proposal that makes both changes: two changes that each
came close alone may clear the bar together. A near miss is re-based on the
current parent: when the constant still holds the old value the same change is
made; when a kept change is already in it, the same step is taken once more.
Pairs are learned from single changes only, and their own admission key (the
diff's) tells a pair already tried on the parent.

Crash regions. A single change whose trial failed by its own doing (crash,
oom, timeout, diverged, ..., not an infrastructure failure) marks a region
never proposed again, on any parent: the crashed value and every value beyond
it in the same direction (LR 0.08 diverged from 0.04, so nothing at or above
0.08), or the value itself for a bool. An int that crashed at v after working
at u is read as a divisibility failure instead when v breaks a divisibility
that u held with another int constant of the same file (N_HEAD 3 does not
divide N_EMBD 128 while 4 did): then v and the values that break it again,
judged against the partner's current value, are skipped; the rest stay open
(N_HEAD 8 and 2 do, 6 does not). Where v both fails to divide a partner and
fails to be a multiple of another, the first reading is kept: a count must
divide a size.

Ranking. Candidates are ordered by how much their direction helped the metric
before (kept trials count up, losses and failures down), then by ring (pairs
sit at ring 1, the more promising pair first), ties broken by a shuffle seeded
by the parent so a rerun proposes the same. Parallel slots go to different
constants first, then to the next best changes. A change already tried on the
same parent (its admission keys are in `Context.tried`) is never proposed, nor is
undoing a kept change while its value holds (N_LAYER back to 2 after 2 → 1 won).

Its place in the whole: ARCHITECTURE.md, "Contracts".
"""

from __future__ import annotations

import ast
import functools
import itertools
import math
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TypeGuard

from autolab import admit, params, scores
from autolab.agents.base import BaseAgent, Context, unified_diff
from autolab.errors import UserError
from autolab.params import Param
from autolab.records import FAILURES, LedgerRow, Proposal, Status

# the step factors of rings 1 and on; ring 0 is moves()
FACTORS = (4.0, 2 ** 0.5, 8.0, 2 ** 0.25, 16.0)
PAIR_RING = 1
NEAR_MISSES = 12        # the closest single changes that are paired; keeps pairs O(12²)
CAUSED = Status.where(Status.blames_idea)   # a failure that says something of the value
JUDGED = Status.where(Status.judged_on_metric)

Value = params.Value


@dataclass(frozen=True)
class Change:
    param: Param
    value: Value

    @property
    def where(self) -> tuple[str, str]:
        return self.param.path, self.param.name


@dataclass(frozen=True)
class Candidate:
    changes: tuple[Change, ...]     # one, or two on different constants (a pair)
    score: float                    # what the lineage says of its direction
    ring: int                       # how far down the step schedule
    gains: tuple[float, ...] = ()   # a pair's: each change's gain alone

    @property
    def wheres(self) -> set[tuple[str, str]]:
        return {ch.where for ch in self.changes}


@dataclass(frozen=True)
class Region:
    """Values of one constant that crashed: at and beyond `value` ("up"/"down"), or it alone."""

    path: str
    name: str
    value: Value
    side: str                       # "up", "down" or "exact"

    def covers(self, change: Change) -> bool:
        if change.where != (self.path, self.name):
            return False
        v, mine = change.value, self.value
        if _number(v) and _number(mine) and self.side != "exact":
            return v >= mine if self.side == "up" else v <= mine
        return v == mine and type(v) is type(mine)


@dataclass(frozen=True)
class Divides:
    """A divisibility `name` crashed for breaking: it must divide `partner` or be a multiple."""

    path: str
    name: str
    partner: str
    name_divides: bool

    def holds(self, ints: Mapping[str, Value]) -> bool:
        a, b = ints.get(self.name), ints.get(self.partner)
        if not (_number(a) and _number(b)) or not a or not b:
            return True   # the partner is gone from the file: nothing left to break
        return b % a == 0 if self.name_divides else a % b == 0


@dataclass(frozen=True)
class Crashes:
    """What the failed single changes of the history rule out, on every parent."""

    regions: tuple[Region, ...] = ()
    divides: tuple[Divides, ...] = ()

    def allow(self, changes: tuple[Change, ...], ints: dict[str, dict[str, int]]) -> bool:
        """Whether the changes, made together on files holding `ints`, stay out of them."""
        if any(r.covers(ch) for r in self.regions for ch in changes):
            return False
        for rule in self.divides:
            if any(ch.where == (rule.path, rule.name) for ch in changes):
                after: dict[str, Value] = {**ints.get(rule.path, {}),
                         **{ch.param.name: ch.value for ch in changes
                            if ch.param.path == rule.path}}
                if not rule.holds(after):
                    return False
        return True


def moves(c: Param) -> list[Value]:
    """Ring 0 of the schedule: the first steps tried on a constant."""
    v = c.value
    if isinstance(v, tuple):
        return [_tuple(v, 2.0), _tuple(v, 0.5)]
    if isinstance(v, str):
        return []
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
        return [_num(1 - (1 - v) / 2), _num(1 - (1 - v) * 2)]
    return [_num(v * 2), _num(v / 2)]


def steps(c: Param) -> list[tuple[int, Value]]:
    """The whole schedule as (ring, value), nearest first, each valid value once."""
    if c.choices:
        return _choice_steps(c)
    rings = [moves(c)] + [_scaled(c.value, f) for f in FACTORS]
    out: dict[Value, int] = {}
    for ring, values in enumerate(rings):
        for w in values:
            if valid(c.value, w) and _within(c, w):
                out.setdefault(w, ring)
    return [(ring, w) for w, ring in out.items()]


def _choice_steps(c: Param) -> list[tuple[int, Value]]:
    """A listed setting's other choices, its neighbours in the list first."""
    choices = list(dict.fromkeys(c.choices))
    here = choices.index(c.value) if c.value in choices else None
    ranked = [(abs(i - here) - 1 if here is not None else 0, w) for i, w in enumerate(choices)
              if w != c.value]
    return sorted(ranked, key=lambda t: t[0])


def _within(c: Param, w: Value) -> bool:
    """Inside the `min`/`max` bound of [tool.autolab.params], every number of a tuple too."""
    numbers = w if isinstance(w, tuple) else (w,) if _number(w) else ()
    return all((c.low is None or x >= c.low) and (c.high is None or x <= c.high)
               for x in numbers)


def _tuple(v: tuple, f: float) -> tuple:
    """A tuple of numbers scaled as one: ints stay ints, zeros stay zero."""
    return tuple(round(x * f) if isinstance(x, int) else _num(x * f) for x in v)


def _num(x: float) -> float:
    return float(f"{x:.6g}")


def _scaled(v: Value, f: float) -> list[Value]:
    """One step by factor f each way, on the scale moves() steps by 2."""
    if isinstance(v, tuple):
        return [_tuple(v, f), _tuple(v, 1 / f)]
    if isinstance(v, (bool, str)):
        return []
    if isinstance(v, int):
        base = v or 1   # from zero the steps go 1, 2 (ring 0), then 4, 8, 16
        return [_snap(base * f, base), _snap(base / f, base)]
    if v == 0.0:
        return [_num(0.1 / f)]   # zero is usually "off": only small values are sensible
    if 0.5 < v < 1.0:
        return [_num(1 - (1 - v) / f), _num(1 - (1 - v) * f)]
    return [_num(v * f), _num(v / f)]


def _snap(x: float, v: int) -> int:
    """x rounded to a multiple of the largest power of two dividing v, at most a quarter of
    x: a width of 128 steps to 192 and 96, not 181 and 91, and keeps dividing by the head
    counts it divided before."""
    grain = abs(v) & -abs(v)
    while grain > 1 and 4 * grain > abs(x):
        grain //= 2
    return grain * round(x / grain)


def valid(v: Value, w: Value) -> bool:
    """A new value of the same type on the same side of zero (inside (0, 1) for a fraction
    near 1): a size never reaches 0 or goes negative, a momentum never passes 1."""
    if type(w) is not type(v) or w == v:
        return False
    if isinstance(v, tuple) and isinstance(w, tuple):   # each number on its side of zero
        return len(w) == len(v) and all(x == y == 0 or (x != 0 and valid(x, y))
                                        for x, y in zip(v, w, strict=True))
    if not (_number(v) and _number(w)):   # a bool or a string: any other value
        return True
    if not math.isfinite(w) or (w < 0 if v >= 0 else w >= 0) or (v >= 0 and w == 0):
        return False
    return not (isinstance(v, float) and 0.5 < v < 1.0 and w >= 1.0)


def diff_of(files: dict[str, str], changes: tuple[Change, ...]) -> str:
    """One diff making every change, file by file in path order (git apply takes them joined)."""
    out = []
    for path in sorted({ch.param.path for ch in changes}):
        new = params.rewrite(files[path], [(ch.param, ch.value) for ch in changes
                                           if ch.param.path == path])
        out.append(unified_diff(path, files[path], new))
    return "".join(out)


def _direction(old, new) -> str:
    if isinstance(old, tuple) and isinstance(new, tuple):
        return "up" if max(map(abs, new)) > max(map(abs, old)) else "down"
    if not (_number(old) and _number(new)):
        return "flip" if isinstance(old, bool) else f"to {new!r}"
    return "up" if new > old else "down"


def changed(diff: str, found: list[Param], files: dict[str, str]):
    """(path, name, old, new) when the diff sets exactly one of the settings found now, else
    None. The one changed line is matched by the text around the setting's literal, so a
    setting moved since, or changed by another keep, is still recognised."""
    lines = diff.splitlines()
    removed = [ln[1:] for ln in lines if ln.startswith("-") and not ln.startswith("---")]
    added = [ln[1:] for ln in lines if ln.startswith("+") and not ln.startswith("+++")]
    paths = [ln[6:] for ln in lines if ln.startswith("+++ b/")]
    if len(removed) != 1 or len(added) != 1 or len(paths) != 1:
        return None
    hits = []
    for p in found:
        if p.path != paths[0] or p.start >= p.end:
            continue
        before, after = _around(p, files[p.path])
        values = []
        for line in (removed[0], added[0]):
            if (len(line) <= len(before) + len(after) or not line.startswith(before)
                    or not line.endswith(after)):
                break
            try:
                values.append(p.read(line[len(before):len(line) - len(after)]))
            except ValueError:
                break
        if len(values) == 2 and values[0] != values[1]:
            hits.append((p.path, p.name, *values))
    # an UPPER_CASE line the sweep wrote before settings had positions
    return hits[0] if len(hits) == 1 else None if hits else admit.single_assignment(diff)


def _around(p: Param, text: str) -> tuple[str, str]:
    """The text of the setting's line before and after its literal."""
    line_start = text.rfind("\n", 0, p.start) + 1
    line_end = text.find("\n", p.end)
    return text[line_start:p.start], text[p.end:line_end if line_end >= 0 else len(text)]


def _number(v) -> TypeGuard[int | float]:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


class SweepAgent(BaseAgent):
    name = "sweep"

    def propose(self, context: Context) -> list[Proposal]:
        if context.idea:
            return [self.assignment(context, context.idea)]
        discovery = params.discover(context.config, context.files)
        found = list(discovery.params)
        self.exhausted = ("" if any(steps(c) for c in found)
                          else f"the sweep agent stops: {discovery.describe()}")
        single = _reader(found, context.files)
        ints = _ints(found)
        crashes = _crashes(context.history, ints, single)
        candidates = (self._singles(context, found, crashes, ints, single)
                      + self._pairs(context, found, crashes, ints, single))
        rng = random.Random(context.parent_sha)
        rng.shuffle(candidates)   # ties broken differently on every parent, reproducibly
        candidates.sort(key=lambda t: (-t.score, t.ring, -sum(t.gains)))

        def fresh(cand: Candidate) -> bool:
            # a setting admission cannot read as NAME=value is known tried by its diff alone
            return len(cand.changes) > 1 or not admit.keys(
                context.parent_sha, diff_of(context.files, cand.changes)) & context.tried

        picked = _pick(candidates, context.slots, fresh)
        if found and not picked and not self.exhausted:
            names = ", ".join(c.name for c in found)
            self.exhausted = (f"the sweep agent has no untried step left on this parent for "
                              f"the settings it found ({names}); stopping early")
        return [self._proposal(context, cand) for cand in picked]

    def assignment(self, context: Context, idea: str) -> Proposal:
        """`NAME=value` from a person: applied as given."""
        name, sep, raw = idea.partition("=")
        name = name.strip()
        found = params.discover(context.config, context.files).params
        hits = [c for c in found if c.name == name] or [c for c in found if name in c.names()]
        if not sep or len(hits) != 1:
            names = ", ".join(c.name for c in found) or "none found"
            raise UserError(f"try {idea!r}: the sweep agent takes NAME=value for one of the "
                            f"editable settings ({names})")
        try:
            value = ast.literal_eval(raw.strip())
        except (ValueError, SyntaxError):
            raise UserError(f"try {idea!r}: {raw.strip()!r} is not a Python literal "
                            f"(write e.g. {name}=0.006 or {name}=True)") from None
        candidate = Candidate((Change(hits[0], value),), 0.0, 0)
        return self._proposal(context, candidate, source="human")

    def _singles(self, context: Context, found: list[Param], crashes: Crashes,
                 ints: dict[str, dict[str, int]], single: Reader) -> list[Candidate]:
        learned = self._learned(context, single)
        undoing = _undoing(context.history, single)
        out = []
        for c in found:
            for ring, value in steps(c):
                change = (Change(c, value),)
                if (admit.value_key(context.parent_sha, c.path, c.name, value) in context.tried
                        or (c.path, c.name, c.value, value) in undoing
                        or not crashes.allow(change, ints)):
                    continue
                score = learned.get((c.name, _direction(c.value, value)), 0.0)
                out.append(Candidate(change, score, ring))
        return out

    @staticmethod
    def _pairs(context: Context, found: list[Param], crashes: Crashes,
               ints: dict[str, dict[str, int]], single: Reader) -> list[Candidate]:
        out = []
        near = _near_misses(context, found, single)
        for (gain_a, a), (gain_b, b) in itertools.combinations(near, 2):
            if a.where == b.where:
                continue
            ordered = sorted([(gain_a, a), (gain_b, b)],
                             key=lambda t: (t[1].param.path, t[1].param.start))
            changes = tuple(ch for _g, ch in ordered)
            if not crashes.allow(changes, ints):
                continue
            if admit.keys(context.parent_sha, diff_of(context.files, changes)) & context.tried:
                continue
            out.append(Candidate(changes, 0.0, PAIR_RING, tuple(g for g, _ch in ordered)))
        return out

    def _proposal(self, context: Context, cand: Candidate, source: str = "sweep") -> Proposal:
        parts = " and ".join(f"{ch.param.name} from {ch.param.value!r} to {ch.value!r} "
                             f"in {ch.param.path}" for ch in cand.changes)
        return Proposal(
            role="sweep", hypothesis=f"Set {parts}.",
            rationale=_why(cand, context.config.metric), expected_delta=0.0,
            diff=diff_of(context.files, cand.changes),
            parent_sha=context.parent_sha, parent_trial=context.parent_trial, source=source)

    @staticmethod
    def _learned(context: Context, single: Reader) -> dict[tuple[str, str], float]:
        """How much each (constant, direction) helped so far: + for gains, - for losses."""
        config = context.config
        score: dict[tuple[str, str], float] = {}
        for row in context.history:
            change = single(row.diff)
            if not change:
                continue
            _path, name, old, new = change
            key = (name, _direction(old, new))
            if row.status in FAILURES:
                step = -1.0
            elif row.status == Status.PRUNED:  # stopped for losing: as bad as a worse discard
                step = -0.5
            elif row.delta_vs_best is None:
                continue
            else:
                gain = config.better(row.delta_vs_best, 0.0)
                step = 1.0 if gain > 0 and row.status == Status.KEEP else -0.5 if gain < 0 else 0.0
            score[key] = score.get(key, 0.0) + step
        return score


Reader = Callable[[str], tuple | None]


def _reader(found: list[Param], files: dict[str, str]) -> Reader:
    """`changed` against this parent's settings, each diff read once."""
    return functools.lru_cache(maxsize=None)(lambda diff: changed(diff, found, files))


def _why(cand: Candidate, metric: str) -> str:
    if len(cand.changes) > 1:
        alone = ", ".join(f"{ch.param.name} {g:+.3g}"
                          for ch, g in zip(cand.changes, cand.gains, strict=True))
        return (f"each change came close to the best alone (gain in {metric}: {alone}); "
                f"together they may clear the bar")
    if cand.score > 0:
        return f"changes in this direction improved {metric} before (score {cand.score:+.3g})"
    if cand.score < 0:
        return "other directions are exhausted"
    if cand.ring:
        return "a wider or finer step: the nearer ones are tried on this parent or taken"
    return "not explored yet on this parent"


def _undoing(history: tuple[LedgerRow, ...], single: Reader) -> set[tuple[str, str, Value, Value]]:
    """(path, name, kept value, value it replaced) of every kept single change: its keep
    showed the old value worse, so stepping back to it is no experiment."""
    out = set()
    for row in history:
        if row.status == Status.KEEP and (change := single(row.diff)):
            path, name, old, new = change
            out.add((path, name, new, old))
    return out


def _pick(candidates: list[Candidate], slots: int,
          fresh: Callable[[Candidate], bool]) -> list[Candidate]:
    """Best first, one per constant while that lasts; the slots left go to the next best.
    Only `fresh` ones, asked lazily: it costs a diff."""
    picked: list[Candidate] = []
    later: list[Candidate] = []
    taken: set[tuple[str, str]] = set()
    for cand in candidates:
        if len(picked) == slots:
            return picked
        if cand.wheres & taken:
            later.append(cand)
        elif fresh(cand):
            picked.append(cand)
            taken |= cand.wheres
    return picked + [cand for cand in later if fresh(cand)][:slots - len(picked)]


def _ints(found: list[Param]) -> dict[str, dict[str, int]]:
    """path -> NAME -> value of the int constants (not bools): what divisibility is read on."""
    out: dict[str, dict[str, int]] = {}
    for c in found:
        if isinstance(c.value, int) and not isinstance(c.value, bool):
            out.setdefault(c.path, {})[c.name] = c.value
    return out


def _crashes(history: tuple[LedgerRow, ...], ints: dict[str, dict[str, int]],
             single: Reader) -> Crashes:
    """The regions single changes crashed in, on any parent (see the module docstring)."""
    regions, divides = [], []
    for row in history:
        change = single(row.diff) if row.status in CAUSED else None
        if not change:
            continue
        path, name, old, new = change
        if _number(old) and _number(new) and old != new:
            found = _divisibility(path, name, old, new, ints.get(path, {}))
            divides += found
            side = "exact" if found else "up" if new > old else "down"
            regions.append(Region(path, name, new, side))
        elif type(old) is type(new):   # a flipped bool, a string, a scaled tuple: it alone
            regions.append(Region(path, name, new, "exact"))
    return Crashes(tuple(regions), tuple(dict.fromkeys(divides)))


def _divisibility(path: str, name: str, old, new, ints: dict[str, int]) -> list[Divides]:
    """The divisibilities with another int of the file that `old` kept and `new` broke."""
    if not (isinstance(old, int) and isinstance(new, int)) or min(old, new) < 1:
        return []
    partners = [(partner, p) for partner, p in ints.items() if partner != name and p >= 2]
    divides = [Divides(path, name, partner, name_divides=True) for partner, p in partners
               if p % old == 0 and p % new]
    # a count that must divide a size (heads into a width) is the likelier reading: a
    # multiple of another constant is only learned when no such count fits
    return divides or [Divides(path, name, partner, name_divides=False)
                       for partner, p in partners if old % p == 0 and new % p]


def _near_misses(context: Context, found: list[Param],
                 single: Reader) -> list[tuple[float, Change]]:
    """(gain, change) of the single changes that came close, re-based on this parent,
    closest first; at most NEAR_MISSES."""
    config = context.config
    tolerance = max(config.min_delta, scores.noise_sigma(list(context.scores)) or 0.0)
    by_where = {(c.path, c.name): c for c in found}
    best: dict[Change, float] = {}
    for row in context.history:
        change = single(row.diff)
        if not change or row.status not in JUDGED or row.delta_vs_best is None:
            continue
        gain = config.better(row.delta_vs_best, 0.0)
        path, name, old, new = change
        c = by_where.get((path, name))
        if c is None or (row.status == Status.DISCARD and gain < -tolerance):
            continue
        value = _rebase(c, old, new, kept=row.status == Status.KEEP)
        if value is not None:
            ch = Change(c, value)
            best[ch] = max(gain, best.get(ch, gain))
    ranked = sorted(best.items(), key=lambda t: -t[1])[:NEAR_MISSES]
    return [(gain, ch) for ch, gain in ranked]


def _rebase(c: Param, old, new, kept: bool):
    """The near miss old -> new as a change of `c` now, or None where it no longer fits."""
    if type(old) is not type(c.value) or type(new) is not type(c.value):
        return None
    if c.value == old:
        return new if valid(c.value, new) else None
    if not (_number(old) and _number(new)):
        return None
    if not (kept and c.value == new and _number(new)) or old == 0:
        return None
    # the kept step is in the parent already: take it once more
    if isinstance(new, float) and 0.5 < old < 1.0 and 0.5 < new < 1.0:
        again = _num(1 - (1 - new) ** 2 / (1 - old))
    else:
        again = new * new / old
        again = round(again) if isinstance(new, int) else _num(again)
    return again if valid(c.value, again) else None
