"""FROZEN: scores one training run; trials may not edit this file.

    python -m evaluator [--artifact DIR] [--heldout DIR] [--out RESULT.json]

Defaults come from AUTOLAB_ARTIFACT, AUTOLAB_HELDOUT and AUTOLAB_RESULT (and
AUTOLAB_SEED, which the score does not depend on). Run from the dir that holds
the frozen files: its pyproject.toml may set [tool.autolab].max_artifact_bytes.

Writes {"status": "ok" | "gate_failed" | "no_artifact", "metrics": {...},
"reason": "..."} and exits 0 whenever it wrote a result; val_bpb is computed here
from the exported model's logits, and whatever the training run printed or wrote
as a score is ignored.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import tempfile
import time
import warnings
from pathlib import Path

warnings.filterwarnings("ignore", message="Failed to initialize NumPy")

import torch  # noqa: E402  (after the warning filter, which must come first)

from evaluator import gates, score  # noqa: E402

MODEL_FILE = "model.pt2"
META_INFO = ("peak_mem_mb", "tokens_per_s")  # copied from meta.json, for information only


def meta_info(artifact: Path) -> dict:
    try:
        meta = json.loads((artifact / "meta.json").read_text())
    except (OSError, ValueError):
        return {}
    if not isinstance(meta, dict):
        return {}
    return {key: float(meta[key]) for key in META_INFO
            if isinstance(meta.get(key), (int, float)) and math.isfinite(meta[key])}


def evaluate(artifact: Path, heldout: Path, project_dir: Path) -> dict:
    start = time.perf_counter()
    metrics = {"artifact_bytes": gates.artifact_bytes(artifact)} if artifact.is_dir() else {}
    model_path = artifact / MODEL_FILE
    if not model_path.is_file():
        return {"status": "no_artifact", "metrics": metrics,
                "reason": f"no {MODEL_FILE} in {artifact}"}
    metrics.update(meta_info(artifact))

    def failed(reason: str) -> dict:
        metrics["eval_seconds"] = round(time.perf_counter() - start, 3)
        return {"status": "gate_failed", "metrics": metrics, "reason": reason}

    reason = gates.size_gate(metrics["artifact_bytes"], gates.max_artifact_bytes(project_dir))
    if reason:
        return failed(reason)
    torch.manual_seed(0)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    data = torch.frombuffer(bytearray((heldout / "heldout.bin").read_bytes()), dtype=torch.uint8)
    try:
        model = score.load(model_path, device)
        metrics["params"] = model.params
        rows = score.windows(data, model.seq_len)
        bpb, logits = score.bits_per_byte(model, rows)
        reason = gates.finite_gate(logits) or gates.causality_gate(model, rows)
    except score.ModelError as exc:
        return failed(str(exc))
    if reason:
        return failed(reason)
    metrics["val_bpb"] = bpb
    metrics["eval_seconds"] = round(time.perf_counter() - start, 3)
    return {"status": "ok", "metrics": metrics, "reason": ""}


def write_json(path: Path, result: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile("w", dir=path.parent, delete=False, suffix=".tmp") as fh:
        json.dump(result, fh, indent=2)
        fh.write("\n")
    os.replace(fh.name, path)


def main(argv: list[str] | None = None) -> int:
    env = os.environ.get
    parser = argparse.ArgumentParser(prog="python -m evaluator", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--artifact", default=env("AUTOLAB_ARTIFACT"),
                        help="the training run's out dir (default: $AUTOLAB_ARTIFACT)")
    parser.add_argument("--heldout", default=env("AUTOLAB_HELDOUT"),
                        help="the held-out data dir (default: $AUTOLAB_HELDOUT)")
    parser.add_argument("--out", default=env("AUTOLAB_RESULT"),
                        help="where to write the result JSON (default: $AUTOLAB_RESULT)")
    args = parser.parse_args(argv)
    missing = [flag for flag in ("artifact", "heldout", "out") if not getattr(args, flag)]
    if missing:
        print(f"error: missing {', '.join('--' + m for m in missing)} "
              "(or AUTOLAB_ARTIFACT / AUTOLAB_HELDOUT / AUTOLAB_RESULT)", file=sys.stderr)
        return 2
    heldout = Path(args.heldout)
    if not (heldout / "heldout.bin").is_file():
        print(f"error: no heldout.bin in {heldout}; run `python -m evaluator.data` first",
              file=sys.stderr)
        return 2
    result = evaluate(Path(args.artifact), heldout, Path.cwd())
    write_json(Path(args.out), result)
    shown = ", ".join(f"{k}: {v:.4g}" if isinstance(v, float) else f"{k}: {v}"
                      for k, v in result["metrics"].items())
    print(f"{result['status']}: {result['reason'] or shown}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
