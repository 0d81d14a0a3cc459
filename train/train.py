"""MUTABLE: the training script autolab's agents edit -- a small byte-level GPT.

Env: AUTOLAB_BUDGET_S (training seconds: on the CPU, this process's CPU seconds per torch
thread, so another process on the machine slows the clock along with the training instead
of taking steps away; on a GPU, wall clock), AUTOLAB_THREADS (torch's thread count, when the
runner fixes it), AUTOLAB_SEED, AUTOLAB_DATA (dir holding train.bin), AUTOLAB_OUT (empty dir
for artifacts). Writes to
$AUTOLAB_OUT: model.pt2 (torch.export, int64 ids [batch, SEQ_LEN] -> logits
[batch, SEQ_LEN, 256]), curve.jsonl and meta.json. The evaluator scores model.pt2
on held-out text itself; nothing this script prints counts as a score.
"""

import json
import math
import os
import random
import resource
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

# Hyperparameters: edit these directly (one `NAME = literal` a line).
N_LAYER = 2
N_HEAD = 4
N_EMBD = 128
SEQ_LEN = 64
BATCH_SIZE = 16
LEARNING_RATE = 3e-3
MIN_LR_FRAC = 0.1
WARMUP_FRAC = 0.05
COSINE_DECAY = True
WEIGHT_DECAY = 0.1
BETA1 = 0.9
BETA2 = 0.99
GRAD_CLIP = 1.0
DROPOUT = 0.0
TIE_WEIGHTS = True

VOCAB = 256  # autolab: fixed (bytes; the evaluator expects exactly this many logits)
CURVE_EVERY_S = 0.5  # autolab: fixed (how often a curve.jsonl line is written)


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.ln1 = nn.LayerNorm(N_EMBD)
        self.qkv = nn.Linear(N_EMBD, 3 * N_EMBD)
        self.proj = nn.Linear(N_EMBD, N_EMBD)
        self.ln2 = nn.LayerNorm(N_EMBD)
        self.mlp = nn.Sequential(nn.Linear(N_EMBD, 4 * N_EMBD), nn.GELU(),
                                 nn.Linear(4 * N_EMBD, N_EMBD), nn.Dropout(DROPOUT))

    def forward(self, x):
        b, t, c = x.shape
        q, k, v = self.qkv(self.ln1(x)).split(N_EMBD, dim=2)
        q, k, v = (z.view(b, t, N_HEAD, c // N_HEAD).transpose(1, 2) for z in (q, k, v))
        dropout = DROPOUT if self.training else 0.0
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True, dropout_p=dropout)
        x = x + self.proj(y.transpose(1, 2).reshape(b, t, c))
        return x + self.mlp(self.ln2(x))


class GPT(nn.Module):
    def __init__(self):
        super().__init__()
        self.tok = nn.Embedding(VOCAB, N_EMBD)
        self.pos = nn.Embedding(SEQ_LEN, N_EMBD)
        self.drop = nn.Dropout(DROPOUT)
        self.blocks = nn.ModuleList(Block() for _ in range(N_LAYER))
        self.ln_f = nn.LayerNorm(N_EMBD)
        self.head = nn.Linear(N_EMBD, VOCAB, bias=False)
        if TIE_WEIGHTS:
            self.head.weight = self.tok.weight
        self.apply(self._init)

    @staticmethod
    def _init(module):
        if isinstance(module, (nn.Linear, nn.Embedding)):
            nn.init.normal_(module.weight, std=0.02)
        if isinstance(module, nn.Linear) and module.bias is not None:
            nn.init.zeros_(module.bias)

    def forward(self, idx):
        pos = torch.arange(idx.shape[1], device=idx.device)
        x = self.drop(self.tok(idx) + self.pos(pos))
        for block in self.blocks:
            x = block(x)
        return self.head(self.ln_f(x))


def lr_at(frac):
    """Learning rate at `frac` of the time budget: linear warmup, then cosine (or flat)."""
    if frac < WARMUP_FRAC:
        return LEARNING_RATE * (frac + 1e-3) / WARMUP_FRAC
    if not COSINE_DECAY:
        return LEARNING_RATE
    progress = min(1.0, (frac - WARMUP_FRAC) / max(1e-9, 1.0 - WARMUP_FRAC))
    cosine = 0.5 * (1 + math.cos(math.pi * progress))
    return LEARNING_RATE * (MIN_LR_FRAC + (1 - MIN_LR_FRAC) * cosine)


def make_optimizer(model):
    decay = [p for p in model.parameters() if p.dim() >= 2]
    no_decay = [p for p in model.parameters() if p.dim() < 2]
    groups = [{"params": decay, "weight_decay": WEIGHT_DECAY},
              {"params": no_decay, "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=LEARNING_RATE, betas=(BETA1, BETA2))


def peak_mem_mb(device):
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated() / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def budget_clock(device):
    """Seconds of the budget spent so far, from the call on (see the module docstring)."""
    if device.type != "cpu":
        start = time.perf_counter()
        return lambda: time.perf_counter() - start
    threads, start = torch.get_num_threads(), time.process_time()
    return lambda: (time.process_time() - start) / threads


def train(model, batch, budget_s, curve, clock):
    """Train until the budget is spent or the loss is not finite; returns (steps, seconds, loss)."""
    optimizer = make_optimizer(model)
    step, loss_value, last_logged = 0, float("nan"), -math.inf
    elapsed = 0.0
    while elapsed < budget_s:
        for group in optimizer.param_groups:
            group["lr"] = lr_at(elapsed / budget_s)
        x, y = batch()
        loss = F.cross_entropy(model(x).reshape(-1, VOCAB), y.reshape(-1))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if GRAD_CLIP > 0:
            nn.utils.clip_grad_norm_(model.parameters(), GRAD_CLIP)
        optimizer.step()
        step += 1
        loss_value = loss.item()
        elapsed = clock()
        finite = math.isfinite(loss_value)
        if step == 1 or elapsed - last_logged >= CURVE_EVERY_S or elapsed >= budget_s or not finite:
            row = {"step": step, "elapsed_s": round(elapsed, 3), "train_loss": loss_value}
            curve.write(json.dumps(row) + "\n")  # NaN/Infinity stay readable by json.loads
            curve.flush()
            last_logged = elapsed
        if not finite:
            break
    return step, elapsed, loss_value


def main():
    budget_s = float(os.environ.get("AUTOLAB_BUDGET_S", "60"))
    seed = int(os.environ.get("AUTOLAB_SEED", "0"))
    data_dir = Path(os.environ.get("AUTOLAB_DATA", "data/train"))
    out_dir = Path(os.environ.get("AUTOLAB_OUT", "out"))
    out_dir.mkdir(parents=True, exist_ok=True)

    random.seed(seed)
    torch.manual_seed(seed)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.type == "cpu":
        torch.set_num_threads(int(os.environ.get("AUTOLAB_THREADS") or os.cpu_count() or 1))
    data = torch.frombuffer(bytearray((data_dir / "train.bin").read_bytes()), dtype=torch.uint8)
    gen = torch.Generator().manual_seed(seed)

    def batch():
        starts = torch.randint(len(data) - SEQ_LEN - 1, (BATCH_SIZE,), generator=gen)
        rows = torch.stack([data[s:s + SEQ_LEN + 1] for s in starts.tolist()]).long()
        return rows[:, :-1].to(device), rows[:, 1:].to(device)

    model = GPT().to(device)
    params = sum(p.numel() for p in model.parameters())
    started = time.perf_counter()
    with open(out_dir / "curve.jsonl", "w") as curve:
        step, elapsed, loss_value = train(model, batch, budget_s, curve, budget_clock(device))
    wall_s = time.perf_counter() - started

    tokens_seen = step * BATCH_SIZE * SEQ_LEN
    tokens_per_s = tokens_seen / max(wall_s, 1e-9)
    # Export a CPU copy with a dynamic batch dim, so the evaluator runs it anywhere.
    model.eval().cpu()
    example = torch.zeros(2, SEQ_LEN, dtype=torch.long)
    batch_dim = torch.export.Dim("batch", min=1, max=4096)
    program = torch.export.export(model, (example,), dynamic_shapes={"idx": {0: batch_dim}})
    torch.export.save(program, out_dir / "model.pt2")
    meta = {"params": params, "steps": step, "tokens_seen": tokens_seen,
            "tokens_per_s": round(tokens_per_s, 1), "train_seconds": round(elapsed, 3),
            "wall_seconds": round(wall_s, 3), "threads": torch.get_num_threads(),
            "seq_len": SEQ_LEN, "device": device.type, "peak_mem_mb": round(peak_mem_mb(device), 1),
            "final_train_loss": loss_value}
    (out_dir / "meta.json").write_text(json.dumps(meta, indent=2) + "\n")
    print("---")
    for key, value in meta.items():
        print(f"{key}: {value}")


if __name__ == "__main__":
    main()
