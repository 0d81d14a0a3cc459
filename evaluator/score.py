"""FROZEN: loads an exported model and scores it in bits per byte on held-out windows."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

VOCAB = 256
# Every model is scored on about this many held-out bytes, in windows of its own
# seq_len spread evenly over the held-out split; the positions depend only on
# seq_len and the split, never on the seed.
EVAL_TOKENS = 32768
DEFAULT_BATCH = 16  # rows a forward pass when the exported batch dim is dynamic


class ModelError(Exception):
    """The exported model cannot be used as a byte-level LM; the reason is one line."""


@dataclass(frozen=True)
class Model:
    """An exported program as the evaluator sees it: a callable with fixed input geometry."""

    module: torch.nn.Module
    seq_len: int
    batch: int | None  # None: the batch dim is dynamic
    params: int
    device: torch.device

    def __call__(self, ids: torch.Tensor) -> torch.Tensor:
        """Logits for `ids` [n, seq_len], fed in batches the program accepts."""
        step = self.batch or DEFAULT_BATCH
        outs = []
        for lo in range(0, ids.shape[0], step):
            chunk = ids[lo:lo + step]
            rows = chunk.shape[0]
            if self.batch is not None and rows < self.batch:
                chunk = torch.cat([chunk, chunk[-1:].expand(self.batch - rows, -1)])
            try:
                with torch.no_grad():
                    out = self.module(chunk.to(self.device))
            except Exception as exc:  # the program is the trial's; any failure is its own
                raise ModelError(f"the model failed on input {tuple(chunk.shape)}: "
                                 f"{type(exc).__name__}: {one_line(exc)}") from exc
            if isinstance(out, (tuple, list)) and len(out) == 1:
                out = out[0]
            if not isinstance(out, torch.Tensor) or out.dim() != 3 \
                    or tuple(out.shape[:2]) != tuple(chunk.shape) or out.shape[2] != VOCAB:
                shape = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
                raise ModelError(f"model output is {shape}, expected logits "
                                 f"[batch, {self.seq_len}, {VOCAB}]")
            outs.append(out[:rows].float().cpu())
        return torch.cat(outs)


def one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text[:300]


def load(path, device: torch.device) -> Model:
    try:
        program = torch.export.load(str(path))
    except Exception as exc:
        raise ModelError(f"{path.name} is not a loadable torch.export program: "
                         f"{type(exc).__name__}: {one_line(exc)}") from exc
    inputs = [spec for spec in program.graph_signature.input_specs
              if spec.kind == torch.export.graph_signature.InputKind.USER_INPUT]
    if len(inputs) != 1:
        raise ModelError(f"model takes {len(inputs)} inputs, expected one tensor of token ids")
    node = next(n for n in program.graph.nodes if n.op == "placeholder"
                and n.name == inputs[0].arg.name)
    value = node.meta.get("val")
    if not isinstance(value, torch.Tensor) or value.dim() != 2 or value.dtype != torch.long:
        raise ModelError("model input must be int64 token ids [batch, seq_len]")
    batch, seq_len = value.shape
    if not isinstance(seq_len, int):
        raise ModelError("model seq_len must be static; export with a fixed sequence length")
    # Tied weights appear under several names; count each storage once.
    tensors = [*program.state_dict.values(), *program.constants.values()]
    unique = {(t.untyped_storage().data_ptr(), t.storage_offset(), tuple(t.shape)): t
              for t in tensors if isinstance(t, torch.Tensor)}
    params = sum(t.numel() for t in unique.values())
    if device.type != "cpu":
        program = torch.export.passes.move_to_device_pass(program, device)
    return Model(module=program.module(), seq_len=seq_len,
                 batch=batch if isinstance(batch, int) else None, params=params, device=device)


def windows(heldout: torch.Tensor, seq_len: int) -> torch.Tensor:
    """[n, seq_len + 1] byte windows at fixed, evenly spread positions of the held-out split."""
    span = seq_len + 1
    fit = len(heldout) // span
    if fit == 0:
        raise ModelError(f"model seq_len {seq_len} is longer than the held-out split "
                         f"({len(heldout)} bytes)")
    count = min(fit, math.ceil(EVAL_TOKENS / seq_len))
    stride = (len(heldout) - span) // max(1, count - 1) if count > 1 else 0
    return torch.stack([heldout[i * stride:i * stride + span] for i in range(count)]).long()


def bits_per_byte(model: Model, rows: torch.Tensor) -> tuple[float, torch.Tensor]:
    """Mean cross-entropy over every predicted byte, in bits; also the logits."""
    logits = model(rows[:, :-1])
    nats = F.cross_entropy(logits.reshape(-1, VOCAB), rows[:, 1:].reshape(-1))
    return nats.item() / math.log(2), logits
