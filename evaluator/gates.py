"""FROZEN: the checks a model must pass before its score counts; each returns a reason or None."""

from __future__ import annotations

import os
import tomllib
from pathlib import Path

import torch

from evaluator.score import Model

DEFAULT_MAX_ARTIFACT_BYTES = 16_000_000
# Positions t at which the future (t+1 onward) is perturbed, as fractions of seq_len.
CAUSAL_PROBES = (0.0, 0.25, 0.5, 0.9)
CAUSAL_TOLERANCE = 1e-4  # relative to the largest logit; leaks are orders larger


def max_artifact_bytes(project_dir: Path) -> int:
    """`[tool.autolab].max_artifact_bytes` from `project_dir`/pyproject.toml, or the default."""
    path = project_dir / "pyproject.toml"
    if not path.exists():
        return DEFAULT_MAX_ARTIFACT_BYTES
    with open(path, "rb") as fh:
        table = tomllib.load(fh).get("tool", {}).get("autolab", {})
    return int(table.get("max_artifact_bytes", DEFAULT_MAX_ARTIFACT_BYTES))


def artifact_bytes(artifact: Path) -> int:
    """Total size of every file under the artifact dir; links count as themselves."""
    total = 0
    for root, _dirs, files in os.walk(artifact):
        total += sum(os.lstat(os.path.join(root, name)).st_size for name in files)
    return total


def size_gate(size: int, cap: int) -> str | None:
    if size > cap:
        return (f"artifact is {size} bytes, over the cap of {cap} "
                "([tool.autolab].max_artifact_bytes)")
    return None


def finite_gate(logits: torch.Tensor) -> str | None:
    bad = (~torch.isfinite(logits)).sum().item()
    if bad:
        return f"model produced {bad} non-finite logits on held-out windows"
    return None


def causality_gate(model: Model, rows: torch.Tensor) -> str | None:
    """Changing bytes after position t must leave the logits at positions <= t unchanged.

    Row 0 is probed; every other row of the same batch is replaced outright, so a
    model that mixes information across the batch fails too.
    """
    ids = rows[: max(2, model.batch or 2), :-1].clone()
    if ids.shape[0] < 2:
        ids = torch.cat([ids, ids.flip(1)])
    gen = torch.Generator().manual_seed(0)
    base = model(ids)
    scale = max(1.0, base.abs().max().item())
    seq_len = ids.shape[1]
    for frac in CAUSAL_PROBES:
        t = min(seq_len - 2, int(frac * seq_len))
        changed = ids.clone()
        # Adding 1..255 mod 256 changes every perturbed byte.
        changed[0, t + 1:] = (changed[0, t + 1:] + torch.randint(
            1, 256, (seq_len - t - 1,), generator=gen)) % 256
        changed[1:] = torch.randint(0, 256, changed[1:].shape, generator=gen)
        diff = (model(changed)[0, : t + 1] - base[0, : t + 1]).abs().max().item()
        if diff > CAUSAL_TOLERANCE * scale:
            return (f"causality: changing bytes after position {t} (or other rows of the batch) "
                    f"changed the logits at positions <= {t} by {diff:.3g}")
    return None
