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

from training.export_checkpoint import set_inference  # noqa: E402
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
    p.add_argument("--inference-steps", type=int, help="DiT sampling steps")
    p.add_argument("--window", type=int, help="frames per temporal window")
    p.add_argument("--window-overlap", type=int, help="overlap of the temporal windows")
    p.add_argument("--refine", type=float, help="guided refinement strength (0 = off)")
    p.add_argument("--refine-kernel", type=int, help="guided refinement box size (odd)")
    p.add_argument("--refine-passes", type=int, choices=(1, 2), help="guided refinement passes")
    a = p.parse_args(argv)
    try:
        print(rewrite(a.weights, a.out, steps=a.inference_steps, window=a.window, window_overlap=a.window_overlap,
                      refine=a.refine, refine_kernel=a.refine_kernel, refine_passes=a.refine_passes))
    except VidrestoreError as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
