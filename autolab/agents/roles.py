"""Specialist roles and the planner that spreads parallel slots across them.

Each role owns one surface of the training script. The planner favours roles
whose recent trials were kept, but a role left out for two rounds goes first,
so none is starved by an early lucky streak.

Its place in the whole: ARCHITECTURE.md, "Contracts".
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from autolab.records import LedgerRow, Status


@dataclass(frozen=True)
class Role:
    name: str
    focus: str
    keywords: tuple[str, ...]


BUILT_IN = {r.name: r for r in (
    Role("architecture", "the model itself: depth, width, heads, attention, normalisation, "
         "embeddings, activations, residual structure, weight tying",
         ("layer", "head", "embd", "embedding", "attention", "rotary", "rope", "norm", "mlp",
          "width", "depth", "gelu", "relu", "swiglu", "activation", "residual", "tie",
          "architecture", "transformer")),
    Role("optimizer", "the optimiser: its kind, learning rate, betas, epsilon, weight decay "
         "and gradient clipping",
         ("optimizer", "optimiser", "adam", "adamw", "sgd", "muon", "lion", "momentum", "beta",
          "learning rate", "lr", "clip", "weight decay", "epsilon")),
    Role("schedule", "how the training budget is spent over time: warmup, decay shape, "
         "minimum learning rate, batch-size ramps, when to stop",
         ("schedule", "warmup", "cosine", "decay", "linear", "anneal", "ramp", "cooldown",
          "step", "budget")),
    Role("data", "what the model sees: sequence length, batch size, sampling of windows, "
         "tokenisation of the bytes, curriculum",
         ("data", "batch", "seq", "sequence", "context", "sampling", "window", "token",
          "curriculum", "shuffle")),
    Role("regularization", "what keeps the model from overfitting: dropout, weight decay "
         "targets, label smoothing, stochastic depth, averaging of weights",
         ("dropout", "regulari", "smoothing", "overfit", "ema", "averag", "stochastic depth",
          "noise")),
    Role("efficiency", "throughput inside the fixed time budget: mixed precision, fused or "
         "compiled kernels, memory layout, fewer wasted steps, so more tokens are seen",
         ("speed", "fast", "throughput", "compile", "precision", "bf16", "fp16", "amp",
          "fused", "flash", "memory", "efficien", "kernel")),
)}
DEFAULT_ROLES = tuple(BUILT_IN)
ROUNDS_BEFORE_DUE = 2   # a role absent this many rounds of all roles is picked first


def role(name: str) -> Role:
    """A configured role; one outside the built-ins is its own focus and keyword."""
    return BUILT_IN.get(name) or Role(name, name.replace("_", " "), (name.lower(),))


def best_fit(idea: str, roles: tuple[str, ...]) -> str:
    """The role whose keywords the idea names most often; the first role on a tie."""
    text = idea.lower()

    def hits(name: str) -> int:
        return sum(len(re.findall(r"\b" + re.escape(k), text)) for k in role(name).keywords)
    return max(roles, key=lambda name: (hits(name), -roles.index(name)))


def plan(roles: tuple[str, ...], history: tuple[LedgerRow, ...], slots: int) -> list[str]:
    """One role per slot: shares weighted by recent keeps, overdue roles first."""
    ours = [r for r in history if r.role in roles]
    window = ours[-4 * len(roles):]
    runs = {name: sum(r.role == name for r in window) for name in roles}
    weight = {name: 1 + 2 * sum(r.role == name and r.status == Status.KEEP for r in window)
              for name in roles}
    last = {name: max((i for i, r in enumerate(ours) if r.role == name), default=-1)
            for name in roles}
    picks: list[str] = []
    for _ in range(slots):
        now = len(ours) + len(picks)
        due = [n for n in roles if now - last[n] > ROUNDS_BEFORE_DUE * len(roles)]
        pool = due or list(roles)
        name = min(pool, key=lambda n: ((runs[n] + 1) / weight[n], last[n], roles.index(n)))
        picks.append(name)
        runs[name] += 1
        last[name] = now
    return picks
