"""Change the inference defaults stored in a finished weights file; its tensors are copied unchanged.

    python training/set_inference.py vidrestore/weights/default.safetensors --refine 0.2
    python training/set_inference.py IN.safetensors --out OUT.safetensors --window 16 --window-overlap 4

Without `--out` the file is rewritten in place (atomically: a temporary file, then a rename).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from training.export_checkpoint import add_inference_args, inference_values, set_inference  # noqa: E402
from vidrestore import weights_io as W  # noqa: E402
from vidrestore.errors import VidrestoreError  # noqa: E402


def rewrite(path: str | Path, out: str | Path | None = None, **values) -> Path:
    """Copy weights file `path` to `out` (default: over itself) with inference defaults `values` (set_inference's)."""
    state, cfg, meta = W.load(W.resolve(path))
    set_inference(cfg, **values)
    extra = {k: v for k, v in meta.items() if k not in ("format", "config", "trained")}
    return W.save(out or W.resolve(path), state, cfg, trained=meta.get("trained") == "true", **extra)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("weights", type=Path)
    p.add_argument("--out", type=Path, help="write here instead of rewriting WEIGHTS")
    add_inference_args(p)  # unset: as the file has it
    a = p.parse_args(argv)
    try:
        print(rewrite(a.weights, a.out, **inference_values(a)))
    except VidrestoreError as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
